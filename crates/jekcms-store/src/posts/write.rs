//! Writes of posts: one create, a batch (bulk), an operator import, updates and deletes.

use super::{ImportPost, NewPostRow, PostRow};
use crate::activity::{
    ContentVersionBump, NewEventRows, RecordEvents, RecordEventsPg, bump_and_record_sqlite,
};
use crate::idempotency::record_response;
use crate::schema::{post_tags, posts};
use crate::sql::KeepPreparedExt;
use crate::{Store, StoreError, UniqueKey, naive, with_write_txn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::activity::{EventType, NewEvent, Writer, visibility_event};
use jekcms_content::bulk::{BulkPost, SlugPlan};
use jekcms_content::idempotency::Record;
use jekcms_content::post::{Body, NewPost, Post, PostPatch, PostStatus, title_key};
use jekcms_content::{ContentError, slug};
use std::collections::{HashMap, HashSet};
use std::future::Future;

/// Whether no post of the site has this slug (a point lookup on the unique index).
macro_rules! slug_is_free {
    ($conn:expr, $site_id:expr, $slug:expr) => {
        posts::table
            .filter(posts::site_id.eq($site_id))
            .filter(posts::slug.eq($slug))
            .select(posts::id)
            .load::<i64>($conn)
            .await?
            .is_empty()
    };
}

/// How many slugs of the site start with `base-`: where numbering a taken slug's suffix
/// starts (a hint; point lookups decide). Counted as the index range `base-` ≤ slug <
/// `base.` ('.' follows '-'): slugs are compared bytewise on both stores (SQLite's binary
/// collation; `COLLATE "C"` on PostgreSQL, migration `2026-11-30-000006`), which makes the
/// range exact and lets it use the `(site_id, slug)` index. (`LIKE 'base-%'` could not use
/// the index on either store: a scan of the whole site per taken slug.)
macro_rules! suffixed_count {
    ($conn:expr, $site_id:expr, $base:expr) => {{
        let base: &str = $base;
        posts::table
            .filter(posts::site_id.eq($site_id))
            .filter(posts::slug.ge(format!("{base}-")))
            .filter(posts::slug.lt(format!("{base}.")))
            .count()
            .get_result::<i64>($conn)
            .await?
    }};
}

/// The end of a write to a post, on a connection inside its write transaction.
trait FinishPostWrite {
    /// Inserts post `post_id`'s new `tags` (at most 20; the old ones already deleted), then
    /// [`RecordEvents::record_write`] — as one round trip on PostgreSQL (the statements
    /// pipelined) and one hop to the writer thread on SQLite.
    fn finish_post_write(
        &mut self,
        post_id: i64,
        tags: &[String],
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl FinishPostWrite for diesel_async::AsyncPgConnection {
    async fn finish_post_write(
        &mut self,
        post_id: i64,
        tags: &[String],
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        if tags.is_empty() {
            return RecordEvents::record_write(self, writer, at, events).await;
        }
        let site_id = writer.site_id();
        // Sent together, answered together; PostgreSQL runs them in the order sent, in
        // the transaction. Each has a static query id: prepared once per connection (on
        // its first use diesel-async prepares them one after another, still in order).
        let mut shared: &diesel_async::AsyncPgConnection = self;
        let tagged = InsertTagsPg {
            post_id,
            site_id,
            tags,
        }
        .execute(&mut shared);
        let bumped = ContentVersionBump { site_id }.execute(&mut shared);
        if events.is_empty() {
            futures_util::future::try_join(tagged, bumped).await?;
        } else {
            let recorded = RecordEventsPg::new(writer, at, events).execute(&mut shared);
            futures_util::future::try_join3(tagged, bumped, recorded).await?;
        }
        Ok(())
    }
}

/// `INSERT INTO post_tags … SELECT $1, $2, unnest($3)`: a post's tags as one array, so the
/// statement has one shape and stays prepared (a multi-row `VALUES` list is a new statement
/// for each tag count, which diesel prepares afresh on every call).
struct InsertTagsPg<'a> {
    post_id: i64,
    site_id: i64,
    tags: &'a [String],
}

impl diesel::query_builder::QueryId for InsertTagsPg<'_> {
    type QueryId = InsertTagsPg<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertTagsPg<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Text};
        out.push_sql("INSERT INTO post_tags (post_id, site_id, tag) SELECT ");
        out.push_bind_param::<BigInt, _>(&self.post_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.site_id)?;
        out.push_sql(", unnest(");
        out.push_bind_param::<Array<Text>, _>(self.tags)?;
        out.push_sql(")");
        Ok(())
    }
}

impl FinishPostWrite for crate::SqliteWrite {
    /// Everything in one hop to the writer thread.
    async fn finish_post_write(
        &mut self,
        post_id: i64,
        tags: &[String],
        writer: &Writer,
        at: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let tags = tags.to_vec();
        let rows = NewEventRows::of(writer, at, events);
        let site_id = writer.site_id();
        self.spawn_blocking(move |c| {
            for tag in &tags {
                let row = (
                    post_tags::post_id.eq(post_id),
                    post_tags::site_id.eq(site_id),
                    post_tags::tag.eq(tag.as_str()),
                );
                diesel::RunQueryDsl::execute(diesel::insert_into(post_tags::table).values(row), c)?;
            }
            bump_and_record_sqlite(c, site_id, rows)
        })
        .await
        .map_err(StoreError::from)
    }
}

/// Inserts rows of posts and their tags on a connection inside a transaction, the fastest
/// way each backend allows; returns the new ids in row order.
trait InsertBatch {
    fn insert_batch(
        &mut self,
        site_id: i64,
        rows: Vec<NewPostRow>,
        tags: Vec<Vec<String>>,
    ) -> impl std::future::Future<Output = Result<Vec<i64>, StoreError>> + Send;
}

/// PostgreSQL's batch insert: the posts from one array per column (`unnest`) and their
/// tags from two more, in one statement that returns `(id, slug)` of each post. Its text
/// does not depend on the batch's size, so it is prepared once per connection; a
/// multi-row `VALUES` list with a placeholder per column of every row would be parsed and
/// planned on every call.
struct InsertPostsPg {
    site_ids: Vec<i64>,
    author_ids: Vec<i64>,
    titles: Vec<String>,
    title_keys: Vec<String>,
    slugs: Vec<String>,
    excerpts: Vec<Option<String>>,
    bodies: Vec<Option<String>>,
    body_jsons: Vec<Option<String>>,
    statuses: Vec<&'static str>,
    tags_json: Vec<String>,
    published_ats: Vec<Option<chrono::NaiveDateTime>>,
    created_ats: Vec<chrono::NaiveDateTime>,
    updated_ats: Vec<chrono::NaiveDateTime>,
    versions: Vec<i64>,
    announced: Vec<bool>,
    /// One entry per tag row: the post's slug (unique in the batch) and the tag.
    tag_slugs: Vec<String>,
    tag_values: Vec<String>,
}

impl InsertPostsPg {
    fn new(rows: Vec<NewPostRow>, tags: Vec<Vec<String>>) -> Self {
        let n = rows.len();
        let mut q = Self {
            site_ids: Vec::with_capacity(n),
            author_ids: Vec::with_capacity(n),
            titles: Vec::with_capacity(n),
            title_keys: Vec::with_capacity(n),
            slugs: Vec::with_capacity(n),
            excerpts: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            body_jsons: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            tags_json: Vec::with_capacity(n),
            published_ats: Vec::with_capacity(n),
            created_ats: Vec::with_capacity(n),
            updated_ats: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            announced: Vec::with_capacity(n),
            tag_slugs: Vec::new(),
            tag_values: Vec::new(),
        };
        for (row, post_tags) in rows.into_iter().zip(tags) {
            for tag in post_tags {
                q.tag_slugs.push(row.slug.clone());
                q.tag_values.push(tag);
            }
            q.site_ids.push(row.site_id);
            q.author_ids.push(row.author_id);
            q.titles.push(row.title);
            q.title_keys.push(row.title_key);
            q.slugs.push(row.slug);
            q.excerpts.push(row.excerpt);
            q.bodies.push(row.body);
            q.body_jsons.push(row.body_json);
            q.statuses.push(row.status);
            q.tags_json.push(row.tags);
            q.published_ats.push(row.published_at);
            q.created_ats.push(row.created_at);
            q.updated_ats.push(row.updated_at);
            q.versions.push(row.version);
            q.announced.push(row.publish_announced);
        }
        q
    }
}

impl diesel::query_builder::Query for InsertPostsPg {
    type SqlType = (diesel::sql_types::BigInt, diesel::sql_types::Text);
}

impl diesel::query_builder::QueryId for InsertPostsPg {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertPostsPg {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
        out.push_sql(
            "WITH p AS (INSERT INTO posts (site_id, author_id, title, title_key, slug, \
             excerpt, body, status, tags, published_at, created_at, updated_at, version, \
             publish_announced, body_json) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.site_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.author_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.titles)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.title_keys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.slugs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.excerpts)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.bodies)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.tags_json)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.published_ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.created_ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.updated_ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.versions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.announced)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.body_jsons)?;
        out.push_sql(
            ") RETURNING id, site_id, slug), \
             t AS (INSERT INTO post_tags (post_id, site_id, tag) \
             SELECT p.id, p.site_id, u.tag FROM p JOIN unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.tag_slugs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.tag_values)?;
        out.push_sql(") AS u(slug, tag) ON u.slug = p.slug) SELECT id, slug FROM p");
        Ok(())
    }
}

impl InsertBatch for diesel_async::AsyncPgConnection {
    /// One round trip for the posts and their tags ([`InsertPostsPg`]).
    async fn insert_batch(
        &mut self,
        _site_id: i64,
        rows: Vec<NewPostRow>,
        tags: Vec<Vec<String>>,
    ) -> Result<Vec<i64>, StoreError> {
        let order: Vec<String> = rows.iter().map(|r| r.slug.clone()).collect();
        let inserted: Vec<(i64, String)> = InsertPostsPg::new(rows, tags)
            .load::<(i64, String)>(self)
            .await?;
        // The order of a CTE's rows is not promised; match them back by their unique slug.
        let by_slug: HashMap<String, i64> =
            inserted.into_iter().map(|(id, slug)| (slug, id)).collect();
        Ok(order.iter().map(|slug| by_slug[slug.as_str()]).collect())
    }
}

impl InsertBatch for crate::SqliteWrite {
    /// One prepared insert per row, all in one hop to the blocking thread (SQLite has no
    /// network round trip to save, and diesel cannot send SQLite batches asynchronously).
    async fn insert_batch(
        &mut self,
        site_id: i64,
        rows: Vec<NewPostRow>,
        tags: Vec<Vec<String>>,
    ) -> Result<Vec<i64>, StoreError> {
        self.spawn_blocking(move |c| {
            use diesel::RunQueryDsl as Sync;
            let mut ids = Vec::with_capacity(rows.len());
            for (row, post_tags) in rows.iter().zip(&tags) {
                let insert = diesel::insert_into(posts::table)
                    .values(row)
                    .returning(posts::id);
                let id: i64 = Sync::get_result(insert, c)?;
                for tag in post_tags {
                    let tag_row = (
                        post_tags::post_id.eq(id),
                        post_tags::site_id.eq(site_id),
                        post_tags::tag.eq(tag),
                    );
                    Sync::execute(diesel::insert_into(post_tags::table).values(tag_row), c)?;
                }
                ids.push(id);
            }
            Ok(ids)
        })
        .await
        .map_err(StoreError::from)
    }
}

/// Serialises slug allocation within a site: inside a write transaction, the caller holds
/// the site's slugs until it commits, so that a slug found free is still free when inserted.
trait SiteSlugLock {
    fn lock_site_slugs(
        &mut self,
        site_id: i64,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;

    /// [`lock_site_slugs`](SiteSlugLock::lock_site_slugs), then whether `slug` is free in
    /// the site (under the lock): on PostgreSQL the two statements go in one round trip.
    fn lock_site_slugs_and_probe(
        &mut self,
        site_id: i64,
        slug: &str,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send;
}

/// `SELECT pg_advisory_xact_lock(class, site)` (see the PostgreSQL `SiteSlugLock`).
macro_rules! slug_lock {
    ($site_id:expr) => {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(SLUG_LOCK_CLASS)
            .bind::<diesel::sql_types::Integer, _>(($site_id & 0x7FFF_FFFF) as i32)
            .keep_prepared()
    };
}

/// `SET LOCAL plan_cache_mode = force_generic_plan`: the slug lookups of this transaction
/// (`site_id = $1 AND slug = …`) are planned without the site's id. PostgreSQL's statistics
/// know only the sites that existed at the last `ANALYZE`; for a site created since, a
/// custom plan expects one row for `site_id = $1`, picks any index that starts with
/// `site_id`, and filters the slugs, so every probe read the whole site: 0.03 ms for an
/// empty one, 7 ms at 10,000 posts, and autovacuum re-analyses only after a tenth of the
/// table has changed. The generic plan looks slugs up in the `(site_id, slug)` unique index.
macro_rules! generic_plans {
    () => {
        diesel::sql_query("SET LOCAL plan_cache_mode = force_generic_plan").keep_prepared()
    };
}

/// The first key of the per-site slug lock (`"JEKS"` in ASCII), in PostgreSQL's two-`int`
/// advisory key space, which does not overlap the one-`bigint` space of the migration lock.
const SLUG_LOCK_CLASS: i32 = 0x4A45_4B53;

impl SiteSlugLock for diesel_async::AsyncPgConnection {
    /// A transaction-scoped advisory lock on (class, site): concurrent creates in one site
    /// queue here for the few milliseconds of their allocation and insert, instead of all
    /// choosing the same free slug and all but one failing on the unique index. Sites whose
    /// ids agree in their low 31 bits share a lock, which only costs a little waiting.
    /// Sent in one round trip with the transaction's planning setting ([`generic_plans`]).
    async fn lock_site_slugs(&mut self, site_id: i64) -> Result<(), StoreError> {
        let mut shared: &diesel_async::AsyncPgConnection = self;
        let generic = generic_plans!().execute(&mut shared);
        let locked = slug_lock!(site_id).execute(&mut shared);
        futures_util::future::try_join(generic, locked).await?;
        Ok(())
    }

    /// The probe is sent right behind the lock; PostgreSQL runs it once the lock is held.
    async fn lock_site_slugs_and_probe(
        &mut self,
        site_id: i64,
        slug: &str,
    ) -> Result<bool, StoreError> {
        let mut shared: &diesel_async::AsyncPgConnection = self;
        let generic = generic_plans!().execute(&mut shared);
        let locked = slug_lock!(site_id).execute(&mut shared);
        let taken = posts::table
            .filter(posts::site_id.eq(site_id))
            .filter(posts::slug.eq(slug))
            .select(posts::id)
            .load::<i64>(&mut shared);
        let (_, _, taken) = futures_util::future::try_join3(generic, locked, taken).await?;
        Ok(taken.is_empty())
    }
}

impl SiteSlugLock for crate::SqliteWrite {
    /// Nothing to do: every SQLite write transaction starts with `BEGIN IMMEDIATE` on the
    /// single writer connection, so allocations never overlap.
    async fn lock_site_slugs(&mut self, _site_id: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn lock_site_slugs_and_probe(
        &mut self,
        site_id: i64,
        slug: &str,
    ) -> Result<bool, StoreError> {
        let conn = self;
        Ok(slug_is_free!(conn, site_id, slug))
    }
}

/// Attempts of a create whose generated slug lost a race anyway (to a slug changed by an
/// update, which does not take the lock): each attempt allocates again from fresh reads.
const SLUG_ATTEMPTS: usize = 5;

impl Store {
    /// Inserts many posts in one transaction; all or nothing. A slug already taken in the
    /// site fails the whole import with `Unique`. Returns the new ids in input order.
    ///
    /// PostgreSQL gets multi-row `INSERT … RETURNING`; SQLite, which diesel cannot batch
    /// asynchronously, gets one prepared insert per row, all on one blocking thread inside
    /// one `BEGIN IMMEDIATE` transaction (each costs microseconds: no network hop).
    pub fn import_posts(
        &self,
        site_id: i64,
        author_id: i64,
        batch: &[ImportPost],
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send {
        // The rows are built here, before the future: it then owns them and need not copy
        // the batch.
        let rows = batch
            .iter()
            .map(|p| NewPostRow::new(site_id, author_id, &p.slug, p))
            .collect::<Result<Vec<_>, _>>();
        let tags: Vec<Vec<String>> = batch.iter().map(|p| p.tags.clone()).collect();
        crate::boxed::<Result<Vec<i64>, StoreError>>(async move {
            let rows = rows?;
            with_write_txn!(self, Vec<i64>, conn => {
                SiteSlugLock::lock_site_slugs(conn, site_id).await?;
                let ids = InsertBatch::insert_batch(conn, site_id, rows, tags).await?;
                // The operator's import records no events: only the bump.
                RecordEvents::record_write(conn, &Writer::system(site_id), jekcms_content::now(), &[]).await?;
                Ok(ids)
            })
        })
    }
}

pub(super) fn create_posts<'a>(
    store: &'a Store,
    by: &'a Writer,
    batch: Vec<BulkPost>,
    atomic: bool,
    record: Option<Record<'a, [Option<i64>]>>,
) -> impl Future<Output = Result<Vec<Option<i64>>, ContentError>> + Send + 'a {
    let (site_id, writer_id) = (by.site_id(), by.user_id());
    // Each post's author: the one its item names (a user of the site, as the service
    // checked), else the writer.
    let authors: Vec<i64> = batch
        .iter()
        .map(|b| b.author_id.unwrap_or(writer_id))
        .collect();
    let batch: Vec<NewPost> = batch.into_iter().map(|b| b.post).collect();
    crate::boxed::<Result<Vec<Option<i64>>, ContentError>>(async move {
        let now = jekcms_content::now();
        // Every slug the batch would like, looked up in the site with one query.
        let wanted = SlugPlan::wanted(&batch);
        let imports: Vec<ImportPost> = batch
            .iter()
            .map(|p| ImportPost {
                slug: String::new(),
                title: p.title.clone(),
                excerpt: p.excerpt.clone(),
                body: p.body.clone(),
                status: p.status,
                tags: p.tags.clone(),
                published_at: match (p.status, p.published_at) {
                    (_, Some(t)) => Some(t),
                    (PostStatus::Published, None) => Some(now),
                    _ => None,
                },
                created_at: now,
                updated_at: now,
            })
            .collect();
        // A unique violation here means a slug was taken by a write that does not take
        // the site's slug lock (an update); the next attempt sees it and steps around it,
        // or reports the item whose given slug it was.
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let outcome = with_write_txn!(store, Result<Vec<Option<i64>>, Vec<jekcms_content::FieldError>>, conn => {
                SiteSlugLock::lock_site_slugs(conn, site_id).await?;
                let taken: HashSet<String> = posts::table
                    .filter(posts::site_id.eq(site_id))
                    .filter(posts::slug.eq_any(&wanted))
                    .select(posts::slug)
                    .load::<String>(conn)
                    .await?
                    .into_iter()
                    .collect();
                // The plan decides; the store answers its questions in a fixed number of
                // queries however many titles collide (see `jekcms_content::bulk::slugs`):
                // this lookup, one of the suffixed candidates, and for the few of those
                // the site has, a count of the suffixed slugs and point lookups.
                let mut plan = SlugPlan::new(&batch, &taken);
                if atomic && plan.refused().next().is_some() {
                    return Ok(Err(plan.conflicts()));
                }
                let candidates = plan.unchecked();
                let clashes: HashSet<String> = if candidates.is_empty() {
                    HashSet::new()
                } else {
                    posts::table
                        .filter(posts::site_id.eq(site_id))
                        .filter(posts::slug.eq_any(&candidates))
                        .select(posts::slug)
                        .load::<String>(conn)
                        .await?
                        .into_iter()
                        .collect()
                };
                for i in plan.clashing(&clashes) {
                    let suffixed: i64 = suffixed_count!(conn, site_id, plan.base(i));
                    let mut search = plan.search(i, suffixed);
                    let found = loop {
                        let candidate = search.next_candidate(&plan);
                        if slug_is_free!(conn, site_id, candidate.clone()) {
                            break candidate;
                        }
                    };
                    plan.choose(i, found);
                }
                let slugs = plan.into_slugs();
                let mut rows = Vec::with_capacity(batch.len());
                let mut row_tags = Vec::with_capacity(batch.len());
                for (((slug, post), tags), &author_id) in slugs.iter().zip(&imports).zip(batch.iter().map(|p| &p.tags)).zip(&authors) {
                    if let Some(slug) = slug {
                        rows.push(NewPostRow::new(site_id, author_id, slug, post)?);
                        row_tags.push(tags.clone());
                    }
                }
                let visible: Vec<bool> = rows.iter().map(|r| r.publish_announced).collect();
                let ids = InsertBatch::insert_batch(conn, site_id, rows, row_tags).await?;
                if !ids.is_empty() {
                    let mut events = Vec::with_capacity(ids.len() * 2);
                    for (&id, &visible) in ids.iter().zip(&visible) {
                        events.push(NewEvent::new(EventType::PostCreated, id));
                        if visible {
                            events.push(NewEvent::new(EventType::PostPublished, id));
                        }
                    }
                    RecordEvents::record_write(conn, by, now, &events).await?;
                }
                let mut ids = ids.into_iter();
                let ids: Vec<Option<i64>> = slugs
                    .iter()
                    .map(|s| s.as_ref().and_then(|_| ids.next()))
                    .collect();
                record_response!(conn, record, &ids[..]);
                Ok(Ok(ids))
            });
            match outcome {
                Err(StoreError::Unique(UniqueKey::PostSlug)) if attempts < SLUG_ATTEMPTS => {
                    continue;
                }
                other => break other,
            }
        };
        match outcome {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(conflicts)) => Err(ContentError::Conflicts(conflicts)),
            Err(StoreError::Unique(UniqueKey::PostSlug)) => Err(ContentError::Conflict {
                field: "slug".into(),
            }),
            Err(e) => Err(e.into()),
        }
    })
}

pub(super) fn create_post<'a>(
    store: &'a Store,
    by: &'a Writer,
    new: NewPost,
    record: Option<Record<'a, Post>>,
) -> impl Future<Output = Result<Post, ContentError>> + Send + 'a {
    let (site_id, author_id) = (by.site_id(), by.user_id());
    crate::boxed::<Result<Post, ContentError>>(async move {
        let now = jekcms_content::now();
        let published_at = match (new.status, new.published_at) {
            (_, Some(t)) => Some(t),
            (PostStatus::Published, None) => Some(now),
            _ => None,
        };
        let base_slug = new.slug.clone();
        let generated_base = slug::from_title(&new.title);
        let post = ImportPost {
            slug: String::new(),
            title: new.title,
            excerpt: new.excerpt,
            body: new.body,
            status: new.status,
            tags: new.tags,
            published_at,
            created_at: now,
            updated_at: now,
        };
        // A generated slug can lose a race to a concurrent insert; try again a few times.
        for _attempt in 0..SLUG_ATTEMPTS {
            let result = with_write_txn!(store, Post, conn => {
                    let slug = match &base_slug {
                        Some(s) => {
                            SiteSlugLock::lock_site_slugs(conn, site_id).await?;
                            s.clone()
                        }
                        None => {
                            // Point lookups on the (site_id, slug) unique index, so the
                            // cost does not grow with the number of posts sharing a title.
                            if SiteSlugLock::lock_site_slugs_and_probe(conn, site_id, &generated_base).await? {
                                generated_base.clone()
                            } else {
                                // Start after the suffixed slugs already there (see
                                // `suffixed_count!`), then step until one is free.
                                let suffixed: i64 =
                                    suffixed_count!(conn, site_id, &generated_base);
                                let mut n = u32::try_from(suffixed).unwrap_or(u32::MAX - 2) + 2;
                                loop {
                                    let candidate = slug::with_suffix(&generated_base, n);
                                    if slug_is_free!(conn, site_id, candidate.clone()) {
                                        break candidate;
                                    }
                                    n += 1;
                                }
                            }
                        }
                    };
                    let new_row = NewPostRow::new(site_id, author_id, &slug, &post)?;
                    let visible = new_row.publish_announced;
                    let row = diesel::insert_into(posts::table)
                        .values(new_row)
                        .returning(PostRow::as_returning())
                        .get_result::<PostRow>(conn)
                        .await?;
                    let created = NewEvent::new(EventType::PostCreated, row.id);
                    let published = NewEvent::new(EventType::PostPublished, row.id);
                    let events: &[NewEvent] =
                        if visible { &[created, published] } else { &[created] };
                    FinishPostWrite::finish_post_write(conn, row.id, &post.tags, by, now, events)
                        .await?;
                    let created = row.into_post()?;
                    record_response!(conn, record, &created);
                    Ok(created)
            });
            match result {
                Ok(created) => return Ok(created),
                Err(StoreError::Unique(UniqueKey::PostSlug)) if base_slug.is_none() => continue,
                Err(StoreError::Unique(UniqueKey::PostSlug)) => {
                    return Err(ContentError::Conflict {
                        field: "slug".into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentError::Conflict {
            field: "slug".into(),
        })
    })
}

pub(super) fn update_post(
    store: &Store,
    by: Writer,
    id: i64,
    patch: PostPatch,
    expected_version: Option<i64>,
) -> impl Future<Output = Result<Post, ContentError>> + Send {
    let site_id = by.site_id();
    crate::boxed::<Result<Post, ContentError>>(async move {
        // Optimistic concurrency: read, compute, write only if the version (and the
        // announced visibility, which the scheduler flips without a new version) is
        // unchanged. A concurrent change causes a re-read, which answers 412 to If-Match
        // only if the version moved.
        for _attempt in 0..5 {
            let (current, announced) = super::read::get_post_announced(store, site_id, id).await?;
            if expected_version.is_some_and(|v| v != current.version) {
                return Err(ContentError::PreconditionFailed);
            }
            if patch.is_empty() {
                return Ok(current);
            }
            let next = apply_patch(&current, &patch);
            let tags_changed = next.tags != current.tags;
            let tags_json = serde_json::to_string(&next.tags)
                .map_err(|e| StoreError::Encode(format!("tags as JSON: {e}")))?;
            let title_k = title_key(&next.title);
            // The body's text and literal are written only when the patch sets them (the
            // literal is the one `apply_patch` made); the row's stay as they are otherwise.
            let body_columns = patch.body.as_ref().map(|text| {
                (
                    posts::body.eq(text.as_deref()),
                    posts::body_json.eq(next.body.as_ref().map(Body::json)),
                )
            });
            let visible = next
                .status
                .is_visible_at(next.published_at, next.updated_at);
            let mut events = vec![NewEvent::new(EventType::PostUpdated, id)];
            events.extend(visibility_event(announced, visible).map(|t| NewEvent::new(t, id)));
            let result = with_write_txn!(store, Option<PostRow>, conn => {
                    let row = diesel::update(
                        posts::table
                            .filter(posts::site_id.eq(site_id))
                            .filter(posts::id.eq(id))
                            .filter(posts::version.eq(current.version))
                            .filter(posts::publish_announced.eq(announced)),
                    )
                    .set((
                        posts::title.eq(&next.title),
                        posts::title_key.eq(&title_k),
                        posts::slug.eq(&next.slug),
                        posts::excerpt.eq(&next.excerpt),
                        body_columns,
                        posts::status.eq(next.status.as_str()),
                        posts::tags.eq(&tags_json),
                        posts::published_at.eq(next.published_at.map(naive)),
                        posts::updated_at.eq(naive(next.updated_at)),
                        posts::version.eq(current.version + 1),
                        posts::publish_announced.eq(visible),
                    ))
                    .returning(PostRow::as_returning())
                    .keep_prepared()
                    .get_result::<PostRow>(conn)
                    .await
                    .optional()?;
                    if row.is_some() {
                        let tags: &[String] = if tags_changed {
                            diesel::delete(post_tags::table.filter(post_tags::post_id.eq(id)))
                                .execute(conn)
                                .await?;
                            &next.tags
                        } else {
                            &[]
                        };
                        FinishPostWrite::finish_post_write(conn, id, tags, &by, next.updated_at, &events)
                            .await?;
                    }
                    Ok(row)
            });
            match result {
                Ok(Some(row)) => return Ok(row.into_post()?),
                Ok(None) => continue,
                Err(StoreError::Unique(UniqueKey::PostSlug)) => {
                    return Err(ContentError::Conflict {
                        field: "slug".into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Contention("the post kept changing during the update".into()).into())
    })
}

pub(super) fn delete_post(
    store: &Store,
    by: Writer,
    id: i64,
) -> impl Future<Output = Result<(), ContentError>> + Send {
    let site_id = by.site_id();
    crate::boxed::<Result<(), ContentError>>(async move {
        let n = with_write_txn!(store, usize, conn => {
            let n = diesel::delete(posts::table.filter(posts::site_id.eq(site_id)).filter(posts::id.eq(id)))
                .execute(conn)
                .await?;
            if n > 0 {
                let deleted = [NewEvent::new(EventType::PostDeleted, id)];
                RecordEvents::record_write(conn, &by, jekcms_content::now(), &deleted).await?;
            }
            Ok(n)
        })?;
        if n == 0 {
            return Err(ContentError::NotFound);
        }
        Ok(())
    })
}

/// The post after applying `patch` (not yet stored).
fn apply_patch(current: &Post, patch: &PostPatch) -> Post {
    let mut next = current.clone();
    if let Some(t) = &patch.title {
        next.title = t.clone();
    }
    if let Some(s) = &patch.slug {
        next.slug = s.clone();
    }
    if let Some(e) = &patch.excerpt {
        next.excerpt = e.clone();
    }
    if let Some(b) = &patch.body {
        next.body = b.as_deref().map(Body::new);
    }
    if let Some(t) = &patch.tags {
        next.tags = t.clone().unwrap_or_default();
    }
    if let Some(s) = patch.status {
        next.status = s;
    }
    let now = jekcms_content::now();
    match patch.published_at {
        Some(t) => next.published_at = t,
        None if next.status == PostStatus::Published && next.published_at.is_none() => {
            next.published_at = Some(now);
        }
        None => {}
    }
    next.updated_at = now;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::testing::TestDatabase;
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        text: String,
    }

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        plan_cache_mode: String,
    }

    /// A site created after the last `ANALYZE` is one PostgreSQL's statistics do not know.
    /// Under the slug lock its slugs are still looked up in the `(site_id, slug)` index, not
    /// found by reading every post of the site (which a custom plan does: it expects one
    /// row for the unknown site). The setting ends with the transaction.
    #[tokio::test]
    async fn slugs_of_a_site_unknown_to_the_statistics_are_looked_up_in_the_index_postgres() {
        let Some(db) = TestDatabase::new(Backend::Postgres).await else {
            return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
        };
        // Runs the migrations.
        drop(Store::connect(db.url(), Default::default()).await.unwrap());
        let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
        let posts_of = |site: i64| {
            format!(
                "INSERT INTO posts (site_id, author_id, title, title_key, slug, status, tags, \
                 created_at, updated_at, version) \
                 SELECT {site}, {site}, 'p' || g, 'p' || g, 'post-' || g, 'draft', '[]', \
                 now(), now(), 1 FROM generate_series(1, 3000) g;"
            )
        };
        conn.batch_execute(&format!(
            "INSERT INTO sites (id, slug, name, created_at) VALUES (1, 'known', 'K', now()), (2, 'new', 'N', now());
             INSERT INTO users (id, site_id, email, name, role, created_at, updated_at) VALUES
               (1, 1, 'a@example.com', 'A', 'owner', now(), now()), (2, 2, 'b@example.com', 'B', 'owner', now(), now());
             {} ANALYZE posts; {}",
            posts_of(1),
            posts_of(2)
        ))
        .await
        .unwrap();
        conn.transaction::<_, StoreError, _>(async |c| {
            c.lock_site_slugs(2).await?;
            let mode: Setting = diesel::sql_query("SHOW plan_cache_mode")
                .get_result(c)
                .await?;
            assert_eq!(mode.plan_cache_mode, "force_generic_plan");
            c.batch_execute(
                "PREPARE probe(bigint, text[]) AS \
                     SELECT slug FROM posts WHERE site_id = $1 AND slug = ANY($2)",
            )
            .await?;
            let plan: Vec<Line> = diesel::sql_query("EXPLAIN EXECUTE probe(2, '{post-1,post-2}')")
                .load(c)
                .await?;
            let plan: Vec<String> = plan.into_iter().map(|l| l.text).collect();
            assert!(
                plan.iter()
                    .any(|l| l.contains("Index Cond") && l.contains("slug = ANY")),
                "{plan:#?}"
            );
            Ok(())
        })
        .await
        .unwrap();
        let mode: Setting = diesel::sql_query("SHOW plan_cache_mode")
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode.plan_cache_mode, "auto");
        // A single create's lock and probe set it as well.
        conn.transaction::<_, StoreError, _>(async |c| {
            assert!(!c.lock_site_slugs_and_probe(2, "post-1").await?, "taken");
            let mode: Setting = diesel::sql_query("SHOW plan_cache_mode")
                .get_result(c)
                .await?;
            assert_eq!(mode.plan_cache_mode, "force_generic_plan");
            Ok(())
        })
        .await
        .unwrap();
    }
}
