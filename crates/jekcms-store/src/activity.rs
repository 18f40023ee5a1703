//! The activity log: events recorded inside every write's transaction ([`RecordEvents`]),
//! with one `webhook_fanout` row naming them when the site has an enabled webhook (the
//! delivery worker turns it into deliveries: `Store::fan_out_webhook_events`); the activity
//! list; the scheduler's claim of posts whose publication time has come; and the retention
//! job.
//!
//! Recording is one statement on PostgreSQL (a data-modifying CTE, prepared once per
//! connection) and one hop to the writer thread on SQLite, so a write pays a small, fixed
//! cost for its events however many there are, and with webhooks one small row more.

use crate::schema::{events, webhook_fanout, webhooks};
use crate::stored_time::StoredTime;
use crate::{Store, StoreError, naive, utc, with_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use jekcms_content::activity::{
    ActivityQuery, ActorFamily, Event, EventActor, EventType, NewEvent, Subject, SubjectKind,
    Writer,
};
use jekcms_content::page::{Rows, Window};
use jekcms_content::{ActivityRepository, ContentError};
use std::future::Future;

/// Records `events` of a write made by `writer` at `at`, on a connection inside the
/// write's transaction, and (when the site has an enabled webhook) a `webhook_fanout` row
/// naming them, from which the delivery worker makes the deliveries.
pub(crate) trait RecordEvents {
    fn record_events(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends a write to the content of the writer's site: bumps the site's content version
    /// (which every cache and list ETag is keyed by) and records the write's `events`. Both
    /// go in one round trip (PostgreSQL pipelines the two statements) or one hop to the
    /// writer thread (SQLite), so the activity log costs a write no extra wait.
    fn record_write(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// `UPDATE sites SET content_version = content_version + 1 WHERE id = $1`, written out with
/// a static query id: diesel's own `UPDATE` is prepared afresh on every call (on PostgreSQL
/// a Parse round trip before its own), and this one runs in every write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContentVersionBump {
    pub(crate) site_id: i64,
}

impl QueryId for ContentVersionBump {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for ContentVersionBump
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE sites SET content_version = content_version + 1 WHERE id = ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.site_id)?;
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for ContentVersionBump {}

/// Who, as stored: the writer's columns (`None` user for the server itself).
#[derive(Debug, Clone)]
struct StoredActor {
    site_id: i64,
    user_id: Option<i64>,
    family: &'static str,
    key_id: Option<String>,
    request_id: Option<String>,
}

impl StoredActor {
    fn of(writer: &Writer) -> Self {
        Self {
            site_id: writer.site_id(),
            user_id: (writer.family != ActorFamily::System).then_some(writer.user_id()),
            family: writer.family.as_str(),
            key_id: writer.key_id.clone(),
            request_id: writer.request_id.clone(),
        }
    }
}

/// The PostgreSQL statement: the events from three parallel arrays, and (if the site has an
/// enabled webhook) one `webhook_fanout` row naming them for the delivery worker, in one
/// round trip. A static query id keeps it prepared.
pub(crate) struct RecordEventsPg {
    actor: StoredActor,
    at: NaiveDateTime,
    types: Vec<&'static str>,
    kinds: Vec<&'static str>,
    subjects: Vec<i64>,
}

impl QueryId for RecordEventsPg {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for RecordEventsPg {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH ev AS (INSERT INTO events (site_id, type, actor_user_id, actor_family, \
             actor_key_id, subject_kind, subject_id, request_id, occurred_at) SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&self.actor.site_id)?;
        out.push_sql(", u.t, ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.actor.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.actor.family)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.actor.key_id)?;
        out.push_sql(", u.k, u.s, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.actor.request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.types)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.subjects)?;
        out.push_sql(
            ") AS u(t, k, s) RETURNING id) \
             INSERT INTO webhook_fanout (site_id, event_ids, created_at) \
             SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&self.actor.site_id)?;
        out.push_sql(", (SELECT json_agg(id ORDER BY id)::text FROM ev), ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.site_id = ");
        out.push_bind_param::<BigInt, _>(&self.actor.site_id)?;
        out.push_sql(" AND w.enabled)");
        Ok(())
    }
}

impl RecordEvents for diesel_async::AsyncPgConnection {
    async fn record_events(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        RecordEventsPg::new(writer, at, events)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn record_write(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let bump = ContentVersionBump {
            site_id: writer.site_id(),
        };
        if events.is_empty() {
            bump.execute(self).await?;
            return Ok(());
        }
        // Both statements are sent before either answer is awaited (diesel_async pipelines
        // futures polled together on one connection); PostgreSQL still runs them in order,
        // inside the transaction.
        let mut shared: &diesel_async::AsyncPgConnection = self;
        let bumped = bump.execute(&mut shared);
        let recorded = RecordEventsPg::new(writer, at, events).execute(&mut shared);
        futures_util::future::try_join(bumped, recorded).await?;
        Ok(())
    }
}

impl RecordEventsPg {
    pub(crate) fn new(writer: &Writer, at: DateTime<Utc>, events: &[NewEvent]) -> Self {
        Self {
            actor: StoredActor::of(writer),
            at: naive(at),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            kinds: events
                .iter()
                .map(|e| e.event_type.subject_kind().as_str())
                .collect(),
            subjects: events.iter().map(|e| e.subject_id).collect(),
        }
    }
}

/// SQLite's statements for a write's events, one per event type: the type and subject
/// kind, the writer's columns and the time are bound once, and the subjects of several
/// events of the type are one JSON array of integers read with `json_each`
/// (`INSERT … SELECT … FROM json_each(?)`): one statement of one shape for any number of
/// events, so it stays prepared (a bulk call's 200 events were 200 single-row inserts). One
/// event of a type, what most writes record, is a plain `INSERT … VALUES`. No statement has
/// `RETURNING`, which made SQLite buffer the rows in a temporary table (more than doubling an
/// insert's cost), and no row's columns are read out of JSON; the ids a fan-out row needs
/// follow from each insert's last ([`NewEventRows::record`]).
#[derive(Debug, Clone)]
pub(crate) struct NewEventRows {
    actor: StoredActor,
    at: NaiveDateTime,
    /// The events by type, in the order each type first occurs.
    groups: Vec<EventGroup>,
}

/// The events of one type in a write.
#[derive(Debug, Clone)]
struct EventGroup {
    event_type: &'static str,
    kind: &'static str,
    /// Their subjects, in order.
    subjects: Vec<i64>,
}

/// One group's insert; `MANY`: `json_each` over its subjects (`subjects_json`, their JSON
/// array), else `VALUES` for its one.
struct GroupInsert<'a, const MANY: bool> {
    rows: &'a NewEventRows,
    group: &'a EventGroup,
    subjects_json: String,
}

impl<const MANY: bool> QueryId for GroupInsert<'_, MANY> {
    type QueryId = GroupInsert<'static, MANY>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const MANY: bool> diesel::query_builder::Query for GroupInsert<'_, MANY> {
    type SqlType = BigInt;
}

impl<const MANY: bool, Conn> diesel::RunQueryDsl<Conn> for GroupInsert<'_, MANY> {}

impl<const MANY: bool> QueryFragment<diesel::sqlite::Sqlite> for GroupInsert<'_, MANY> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        let (rows, group) = (self.rows, self.group);
        out.push_sql(
            "INSERT INTO events (site_id, type, actor_user_id, actor_family, actor_key_id, \
             subject_kind, subject_id, request_id, occurred_at) ",
        );
        out.push_sql(if MANY { "SELECT " } else { "VALUES (" });
        out.push_bind_param::<BigInt, _>(&rows.actor.site_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&group.event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&rows.actor.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&rows.actor.family)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&rows.actor.key_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&group.kind)?;
        out.push_sql(", ");
        if MANY {
            out.push_sql("e.value");
        } else {
            out.push_bind_param::<BigInt, _>(&group.subjects[0])?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&rows.actor.request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&rows.at)?;
        if MANY {
            out.push_sql(" FROM json_each(");
            out.push_bind_param::<Text, _>(&self.subjects_json)?;
            out.push_sql(") AS e");
        } else {
            out.push_sql(")");
        }
        Ok(())
    }
}

diesel::define_sql_function! {
    /// SQLite's id of the last row inserted on this connection.
    fn last_insert_rowid() -> BigInt;
}

impl NewEventRows {
    /// The events of `events` written by `writer` at `at`; `None` when there are none.
    pub(crate) fn of(writer: &Writer, at: DateTime<Utc>, events: &[NewEvent]) -> Option<Self> {
        if events.is_empty() {
            return None;
        }
        let mut groups: Vec<EventGroup> = Vec::new();
        for e in events {
            let event_type = e.event_type.as_str();
            match groups.iter_mut().find(|g| g.event_type == event_type) {
                Some(group) => group.subjects.push(e.subject_id),
                None => groups.push(EventGroup {
                    event_type,
                    kind: e.event_type.subject_kind().as_str(),
                    subjects: vec![e.subject_id],
                }),
            }
        }
        Some(Self {
            actor: StoredActor::of(writer),
            at: naive(at),
            groups,
        })
    }
}

/// On SQLite's writer thread, the end of every write: the site's content-version bump, then
/// its events (if any, [`NewEventRows::record`]).
pub(crate) fn bump_and_record_sqlite(
    c: &mut diesel::SqliteConnection,
    site_id: i64,
    events: Option<NewEventRows>,
) -> QueryResult<()> {
    diesel::RunQueryDsl::execute(ContentVersionBump { site_id }, c)?;
    events.map_or(Ok(()), |events| events.record(c))
}

impl NewEventRows {
    /// On the writer thread: inserts the events and, if the site has an enabled webhook, one
    /// `webhook_fanout` row naming them, which the delivery worker fans out into deliveries
    /// ([`Store::fan_out_webhook_events`]).
    pub(crate) fn record(self, c: &mut diesel::SqliteConnection) -> QueryResult<()> {
        use diesel::RunQueryDsl as Sync;
        let (site_id, at) = (self.actor.site_id, self.at);
        let hooked: bool = Sync::get_result(
            diesel::select(diesel::dsl::exists(
                webhooks::table
                    .filter(webhooks::site_id.eq(site_id))
                    .filter(webhooks::enabled.eq(true)),
            )),
            c,
        )?;
        let mut ids: Vec<i64> = Vec::new();
        for group in &self.groups {
            let (rows, subjects_json) = (&self, String::new());
            let inserted = if group.subjects.len() == 1 {
                Sync::execute(
                    GroupInsert::<false> {
                        rows,
                        group,
                        subjects_json,
                    },
                    c,
                )?
            } else {
                // Integers: serialising them cannot fail.
                let subjects_json = serde_json::to_string(&group.subjects).unwrap_or_default();
                Sync::execute(
                    GroupInsert::<true> {
                        rows,
                        group,
                        subjects_json,
                    },
                    c,
                )?
            };
            if hooked && inserted > 0 {
                // The ids of the rows one INSERT made follow each other and end at the
                // last: on SQLite's single writer an `AUTOINCREMENT` key gives each new row
                // one more than the largest id the table ever had (and fails rather than
                // reuse one).
                let last: i64 = Sync::get_result(diesel::select(last_insert_rowid()), c)?;
                ids.extend(last - (inserted as i64 - 1)..=last);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        Sync::execute(
            diesel::insert_into(webhook_fanout::table).values((
                webhook_fanout::site_id.eq(site_id),
                // Integers: serialising them cannot fail.
                webhook_fanout::event_ids.eq(serde_json::to_string(&ids).unwrap_or_default()),
                webhook_fanout::created_at.eq(at),
            )),
            c,
        )?;
        Ok(())
    }
}

impl RecordEvents for crate::SqliteWrite {
    /// One hop to the writer thread (see [`NewEventRows::record`]).
    async fn record_events(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let Some(rows) = NewEventRows::of(writer, at, events) else {
            return Ok(());
        };
        self.spawn_blocking(move |c| rows.record(c))
            .await
            .map_err(StoreError::from)
    }

    /// The bump and the events in one hop to the writer thread.
    async fn record_write(
        &mut self,
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let rows = NewEventRows::of(writer, at, events);
        let site_id = writer.site_id();
        self.spawn_blocking(move |c| bump_and_record_sqlite(c, site_id, rows))
            .await
            .map_err(StoreError::from)
    }
}

/// A stored event.
type EventRow = (
    i64,
    String,
    Option<i64>,
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    StoredTime,
);

fn event_of(row: EventRow) -> Result<Event, StoreError> {
    let (id, event_type, user_id, family, key_id, kind, subject_id, request_id, at) = row;
    let bad = |what: &str| StoreError::Encode(format!("event {id} has an unknown {what}"));
    Ok(Event {
        id,
        event_type: EventType::parse(&event_type).ok_or_else(|| bad("type"))?,
        actor: EventActor {
            user_id,
            family: ActorFamily::parse(&family).ok_or_else(|| bad("actor family"))?,
            key_id,
        },
        subject: Subject {
            kind: SubjectKind::parse(&kind).ok_or_else(|| bad("subject kind"))?,
            id: subject_id,
        },
        occurred_at: utc(at.0),
        request_id,
    })
}

/// The site's events under `query`, newest first, after `window`.
macro_rules! activity_query {
    ($site_id:expr, $query:expr, $window:expr) => {{
        let mut q = events::table
            .filter(events::site_id.eq($site_id))
            .select((
                events::id,
                events::event_type,
                events::actor_user_id,
                events::actor_family,
                events::actor_key_id,
                events::subject_kind,
                events::subject_id,
                events::request_id,
                events::occurred_at,
            ))
            .order(events::id.desc())
            .limit(i64::from($window.fetch()))
            .into_boxed();
        if let Some(after) = $window.after_id() {
            q = q.filter(events::id.lt(after));
        }
        if !$query.types.is_empty() {
            q = q.filter(events::event_type.eq_any($query.types.iter().map(|t| t.as_str())));
        }
        if let Some(actor) = $query.actor_id {
            q = q.filter(events::actor_user_id.eq(actor));
        }
        if let Some(since) = $query.since {
            q = q.filter(events::occurred_at.ge(naive(since)));
        }
        q
    }};
}

/// How many due scheduled posts one claim takes at most (call again after a full batch).
pub const ANNOUNCE_BATCH: usize = 500;
/// How many old events one retention statement deletes (short transactions).
const PRUNE_BATCH: i64 = 2_000;

impl ActivityRepository for Store {
    fn list_activity(
        &self,
        site_id: i64,
        query: &ActivityQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Event>, ContentError>> + Send {
        let (query, window) = (query.clone(), window.clone());
        crate::boxed::<Result<Rows<Event>, ContentError>>(async move {
            let rows: Vec<EventRow> = with_conn!(self, conn => {
                activity_query!(site_id, query, window)
                    .load::<EventRow>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            let items = rows
                .into_iter()
                .map(event_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Rows::new(items))
        })
    }
}

impl Store {
    /// Announces posts whose publication time has come since they were written: claims up
    /// to a batch of them (flipping `publish_announced`, which no other instance can then
    /// flip again) and records a `post.published` event for each, by `system`, in the same
    /// transaction. Returns how many were announced; call again while it is a full batch.
    pub fn announce_due_publications(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        use crate::schema::posts;
        crate::boxed::<Result<usize, StoreError>>(async move {
            let at = naive(now);
            // Literal conditions, so that both stores use the partial index
            // `posts_unannounced` (`WHERE NOT publish_announced`: a bound `false` would not
            // prove it), seeking on its leading `status` (drafts and archived posts are in
            // it too: test `the_scheduler_seeks_past_drafts_and_archived_posts`).
            let unannounced = diesel::dsl::sql::<diesel::sql_types::Bool>(
                "status = 'published' AND NOT publish_announced",
            );
            with_write_txn!(self, usize, conn => {
                let due: Vec<i64> = posts::table
                    .filter(unannounced.clone())
                    .filter(posts::published_at.le(at))
                    .order(posts::published_at)
                    .limit(ANNOUNCE_BATCH as i64)
                    .select(posts::id)
                    .load(conn)
                    .await?;
                if due.is_empty() {
                    return Ok(0);
                }
                // Re-checked under the row locks: on PostgreSQL a concurrent claim by
                // another instance makes these rows fail the condition once it commits.
                let claimed: Vec<(i64, i64)> = diesel::update(
                    posts::table
                        .filter(posts::id.eq_any(&due))
                        .filter(unannounced.clone())
                        .filter(posts::published_at.le(at)),
                )
                .set(posts::publish_announced.eq(true))
                .returning((posts::id, posts::site_id))
                .get_results(conn)
                .await?;
                let mut by_site: std::collections::BTreeMap<i64, Vec<NewEvent>> =
                    std::collections::BTreeMap::new();
                for (id, site_id) in &claimed {
                    by_site
                        .entry(*site_id)
                        .or_default()
                        .push(NewEvent::new(EventType::PostPublished, *id));
                }
                for (site_id, events) in by_site {
                    let system = Writer::system(site_id);
                    RecordEvents::record_events(conn, &system, now, &events).await?;
                }
                Ok(claimed.len())
            })
        })
    }

    /// Deletes events that occurred before `before` (and their webhook deliveries), and
    /// `ping` deliveries made before then; returns how many events went.
    pub fn prune_activity(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        use crate::schema::webhook_deliveries;
        crate::boxed::<Result<u64, StoreError>>(async move {
            let before = naive(before);
            let mut total = 0u64;
            loop {
                let n = with_write_txn!(self, usize, conn => {
                    // The oldest events by id (the primary key, so no index on the
                    // time is needed), of which those before the cut-off. Ids follow
                    // time; an event stamped a little later than one after it (instances'
                    // clocks differ) stops this run and goes at the next.
                    let oldest: Vec<(i64, StoredTime)> = events::table
                        .order(events::id)
                        .select((events::id, events::occurred_at))
                        .limit(PRUNE_BATCH)
                        .load(conn)
                        .await?;
                    let old: Vec<i64> = oldest
                        .iter()
                        .take_while(|(_, at)| at.0 < before)
                        .map(|(id, _)| *id)
                        .collect();
                    if old.is_empty() {
                        return Ok(0);
                    }
                    diesel::delete(
                        webhook_deliveries::table.filter(webhook_deliveries::event_id.eq_any(&old)),
                    )
                    .execute(conn)
                    .await?;
                    Ok(diesel::delete(events::table.filter(events::id.eq_any(&old)))
                        .execute(conn)
                        .await?)
                })?;
                total += n as u64;
                if (n as i64) < PRUNE_BATCH {
                    break;
                }
            }
            with_write_txn!(self, usize, conn => {
                Ok(diesel::delete(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::event_id.is_null())
                        .filter(webhook_deliveries::created_at.lt(before)),
                )
                .execute(conn)
                .await?)
            })?;
            Ok(total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};

    /// Statements run and statements added to the prepared-statement cache.
    #[derive(Clone, Default)]
    struct Prepares(std::sync::Arc<std::sync::Mutex<(Vec<String>, Vec<String>)>>);

    impl Instrumentation for Prepares {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            let mut seen = self.0.lock().unwrap();
            match event {
                InstrumentationEvent::StartQuery { query, .. } => seen.0.push(query.to_string()),
                InstrumentationEvent::CacheQuery { sql, .. } => seen.1.push(sql.to_owned()),
                _ => {}
            }
        }
    }

    /// The scheduler's query, run every second, seeks to published posts in its index:
    /// drafts and archived posts (never announced, so in the index) are not walked.
    #[tokio::test]
    async fn the_scheduler_seeks_past_drafts_and_archived_posts() {
        let db = TestDatabase::sqlite();
        drop(Store::connect(db.url(), Default::default()).await.unwrap());
        let path = db.url().strip_prefix("sqlite://").unwrap();
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        #[derive(diesel::QueryableByName)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let plan: Vec<Step> = diesel::RunQueryDsl::load(
            diesel::sql_query(
                "EXPLAIN QUERY PLAN SELECT id FROM posts WHERE status = 'published' \
                 AND NOT publish_announced AND published_at <= '2026-01-01 00:00:00' \
                 ORDER BY published_at LIMIT 100",
            ),
            &mut c,
        )
        .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|s| s.detail).collect();
        assert_eq!(
            plan,
            ["SEARCH posts USING INDEX posts_unannounced (status=? AND published_at<?)"],
            "no sort, no scan of other statuses"
        );
    }

    /// A write's events on SQLite, its fan-out row included, run only statements that stay
    /// prepared: the first write caches every statement it runs (a statement diesel will not
    /// cache — a `sql` literal, an `UPDATE` — would be parsed again on every write). The
    /// worker's fan-out then makes one delivery per subscribed webhook, once.
    #[tokio::test]
    async fn every_statement_of_the_sqlite_events_stays_prepared() {
        let db = TestDatabase::sqlite();
        drop(Store::connect(db.url(), Default::default()).await.unwrap());
        let path = db.url().strip_prefix("sqlite://").unwrap();
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute(
            "INSERT INTO sites (id, slug, name, created_at) VALUES (77, 'cached', 'C', '2026-01-01 00:00:00');
             INSERT INTO webhooks (site_id, url, events, enabled, created_at, updated_at)
             VALUES (77, 'https://hooks.example.com/a', '*', TRUE, '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
                    (77, 'https://hooks.example.com/b', 'post.deleted', TRUE, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .unwrap();
        let prepares = Prepares::default();
        c.set_instrumentation(prepares.clone());
        let now = jekcms_content::now();
        let events = [
            NewEvent::new(EventType::PostCreated, 1),
            NewEvent::new(EventType::PostDeleted, 2),
            NewEvent::new(EventType::PostCreated, 4),
        ];
        let rows = NewEventRows::of(&Writer::system(77), now, &events).unwrap();
        rows.record(&mut c).unwrap();
        let (run, cached) = prepares.0.lock().unwrap().clone();
        // whether the site has a webhook; the two `post.created` (json_each) and the last id;
        // the `post.deleted` (VALUES) and the last id; the fan-out row
        assert_eq!(run.len(), 6, "{run:#?}");
        assert_eq!(cached.len(), 5, "each statement cached: {cached:#?}");
        // The rows are the events, with the writer's columns.
        let stored: Vec<(String, String, i64, String)> = diesel::RunQueryDsl::load(
            events::table.order(events::id).select((
                events::event_type,
                events::subject_kind,
                events::subject_id,
                events::actor_family,
            )),
            &mut c,
        )
        .unwrap();
        let expected = [
            ("post.created", "post", 1, "system"),
            ("post.created", "post", 4, "system"),
            ("post.deleted", "post", 2, "system"),
        ]
        .map(|(t, k, s, f)| (t.to_owned(), k.to_owned(), s, f.to_owned()));
        assert_eq!(stored, expected);
        // No delivery yet: one fan-out row names the three events.
        let count = |c: &mut diesel::SqliteConnection, sql: &str| -> i64 {
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = BigInt)]
                n: i64,
            }
            diesel::RunQueryDsl::get_result::<N>(diesel::sql_query(sql), c)
                .unwrap()
                .n
        };
        assert_eq!(
            count(&mut c, "SELECT COUNT(*) AS n FROM webhook_deliveries"),
            0
        );
        let ids: Vec<i64> =
            diesel::RunQueryDsl::load(events::table.order(events::id).select(events::id), &mut c)
                .unwrap();
        let named: Vec<String> = diesel::RunQueryDsl::load(
            crate::schema::webhook_fanout::table.select(crate::schema::webhook_fanout::event_ids),
            &mut c,
        )
        .unwrap();
        assert_eq!(named, [serde_json::to_string(&ids).unwrap()]);
        // The worker's fan-out matches the subscriptions: the three events for `*`, one for
        // the other; once.
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        assert_eq!(store.fan_out_webhook_events(now).await.unwrap(), 4);
        assert_eq!(store.fan_out_webhook_events(now).await.unwrap(), 0);
        assert_eq!(
            count(&mut c, "SELECT COUNT(*) AS n FROM webhook_deliveries"),
            4
        );
        assert_eq!(count(&mut c, "SELECT COUNT(*) AS n FROM webhook_fanout"), 0);
        assert_eq!(
            count(
                &mut c,
                "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE type = 'post.deleted'"
            ),
            2
        );
        // A site without a webhook: its events, and no fan-out row.
        c.batch_execute(
            "INSERT INTO sites (id, slug, name, created_at) VALUES (78, 'quiet', 'Q', '2026-01-01 00:00:00')",
        )
        .unwrap();
        let rows = NewEventRows::of(&Writer::system(78), now, &events).unwrap();
        rows.record(&mut c).unwrap();
        assert_eq!(
            count(
                &mut c,
                "SELECT COUNT(*) AS n FROM events WHERE site_id = 78"
            ),
            3
        );
        assert_eq!(count(&mut c, "SELECT COUNT(*) AS n FROM webhook_fanout"), 0);

        // One event (a plain VALUES insert) to the hooked site: its fan-out row names it,
        // after the quiet site's took the ids before it. Every statement was cached already.
        let one = [NewEvent::new(EventType::PostUpdated, 3)];
        for newly_cached in [0, 0] {
            c.batch_execute("DELETE FROM webhook_fanout").unwrap();
            let prepares = Prepares::default();
            c.set_instrumentation(prepares.clone());
            NewEventRows::of(&Writer::system(77), now, &one)
                .unwrap()
                .record(&mut c)
                .unwrap();
            let (run, cached) = prepares.0.lock().unwrap().clone();
            assert_eq!(
                (run.len(), cached.len()),
                (4, newly_cached),
                "{run:#?} {cached:#?}"
            );
        }
        let last: i64 = diesel::RunQueryDsl::get_result(
            events::table.select(diesel::dsl::max(events::id)),
            &mut c,
        )
        .map(|id: Option<i64>| id.unwrap())
        .unwrap();
        let stored: (String, i64, String) = diesel::RunQueryDsl::get_result(
            events::table.filter(events::id.eq(last)).select((
                events::event_type,
                events::site_id,
                events::actor_family,
            )),
            &mut c,
        )
        .unwrap();
        assert_eq!(stored, ("post.updated".to_owned(), 77, "system".to_owned()));
        let named: Vec<String> = diesel::RunQueryDsl::load(
            crate::schema::webhook_fanout::table.select(crate::schema::webhook_fanout::event_ids),
            &mut c,
        )
        .unwrap();
        assert_eq!(named, [format!("[{last}]")]);
    }
}
