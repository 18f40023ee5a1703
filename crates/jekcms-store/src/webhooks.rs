//! [`WebhookRepository`] for both backends, and what the delivery worker needs: claiming due
//! deliveries ([`Store::claim_webhook_deliveries`]), recording an attempt
//! ([`Store::record_webhook_attempt`]) and a site's sealed webhook secrets
//! ([`Store::webhook_secrets`]).
//!
//! A claim moves a due row's `next_attempt_at` forward by a lease in a short transaction;
//! the attempt runs with no connection held, and its outcome is written afterwards. A
//! worker that dies mid-attempt leaves the row due again when the lease ends. On PostgreSQL
//! concurrent claimers skip each other's locked rows (`FOR UPDATE SKIP LOCKED`); on SQLite
//! the single writer serialises them.

use crate::schema::{events, pull_keys, webhook_deliveries as wd, webhook_fanout, webhooks};
use crate::sql::{KeepPreparedExt, LimitLiteral};
use crate::{Db, Store, StoreError, naive, utc, with_conn, with_write_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_webhooks::events::EventSelection;
use jekcms_webhooks::model::{Delivery, DeliveryStatus, Webhook};
use jekcms_webhooks::repo::{AttemptRecord, DueDelivery, StoredWebhook};
use jekcms_webhooks::{WebhookError, WebhookRepository};
use std::future::Future;

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(_) => Self::Unavailable,
            other => Self::internal(other),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: i64,
    url: String,
    events: String,
    enabled: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
        Webhook {
            id: r.id,
            url: r.url,
            events: jekcms_webhooks::events::EventSelection::from_stored(&r.events).to_list(),
            enabled: r.enabled,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = wd)]
struct DeliveryRow {
    id: i64,
    event_id: Option<i64>,
    event_type: String,
    status: String,
    attempts: i32,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        let status = DeliveryStatus::parse(&r.status).ok_or_else(|| {
            StoreError::Corrupt(format!("delivery {} has status {:?}", r.id, r.status))
        })?;
        Ok(Delivery {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            status,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            next_attempt_at: utc(r.next_attempt_at),
            created_at: utc(r.created_at),
        })
    }
}

impl WebhookRepository for Store {
    fn create_webhook(
        &self,
        site_id: i64,
        webhook: StoredWebhook,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send {
        crate::boxed::<Result<Webhook, WebhookError>>(async move {
            let now = naive(now);
            let row = with_write_conn!(self, conn => {
                diesel::insert_into(webhooks::table)
                    .values((
                        webhooks::site_id.eq(site_id),
                        webhooks::url.eq(&webhook.url),
                        webhooks::events.eq(&webhook.events),
                        webhooks::enabled.eq(webhook.enabled),
                        webhooks::created_at.eq(now),
                        webhooks::updated_at.eq(now),
                    ))
                    .returning(WebhookRow::as_returning())
                    .get_result::<WebhookRow>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(row.into())
        })
    }

    fn list_webhooks(
        &self,
        site_id: i64,
        after_id: Option<i64>,
        fetch: u32,
    ) -> impl Future<Output = Result<Vec<Webhook>, WebhookError>> + Send {
        crate::boxed::<Result<Vec<Webhook>, WebhookError>>(async move {
            let rows: Vec<WebhookRow> = with_conn!(self, conn => {
                webhooks::table
                    .filter(webhooks::site_id.eq(site_id))
                    .filter(webhooks::id.gt(after_id.unwrap_or(0)))
                    .order(webhooks::id.asc())
                    .select(WebhookRow::as_select())
                    .limit_literal(fetch)
                    .load(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(rows.into_iter().map(Webhook::from).collect())
        })
    }

    fn get_webhook(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send {
        crate::boxed::<Result<Webhook, WebhookError>>(async move {
            let row: WebhookRow = with_conn!(self, conn => {
                webhooks::table
                    .filter(webhooks::site_id.eq(site_id))
                    .filter(webhooks::id.eq(id))
                    .select(WebhookRow::as_select())
                    .first(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(row.into())
        })
    }

    fn update_webhook(
        &self,
        site_id: i64,
        id: i64,
        webhook: StoredWebhook,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send {
        crate::boxed::<Result<Webhook, WebhookError>>(async move {
            let now = naive(now);
            let row: WebhookRow = with_write_conn!(self, conn => {
                diesel::update(
                    webhooks::table
                        .filter(webhooks::site_id.eq(site_id))
                        .filter(webhooks::id.eq(id)),
                )
                .set((
                    webhooks::url.eq(&webhook.url),
                    webhooks::events.eq(&webhook.events),
                    webhooks::enabled.eq(webhook.enabled),
                    webhooks::updated_at.eq(now),
                ))
                .returning(WebhookRow::as_returning())
                .get_result(conn)
                .await
                .map_err(StoreError::from)?
            });
            Ok(row.into())
        })
    }

    fn delete_webhook(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<(), WebhookError>> + Send {
        crate::boxed::<Result<(), WebhookError>>(async move {
            let deleted = with_write_conn!(self, conn => {
                diesel::delete(
                    webhooks::table
                        .filter(webhooks::site_id.eq(site_id))
                        .filter(webhooks::id.eq(id)),
                )
                .execute(conn)
                .await
                .map_err(StoreError::from)?
            });
            if deleted == 0 {
                return Err(WebhookError::NotFound);
            }
            Ok(())
        })
    }

    fn queue_ping(
        &self,
        site_id: i64,
        webhook_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Delivery, WebhookError>> + Send {
        crate::boxed::<Result<Delivery, WebhookError>>(async move {
            let now = naive(now);
            let row = with_write_txn!(self, DeliveryRow, conn => {
                // The endpoint must be the caller's site's (404 otherwise).
                webhooks::table
                    .filter(webhooks::site_id.eq(site_id))
                    .filter(webhooks::id.eq(webhook_id))
                    .select(webhooks::id)
                    .first::<i64>(conn)
                    .await?;
                let row = diesel::insert_into(wd::table)
                    .values((
                        wd::site_id.eq(site_id),
                        wd::webhook_id.eq(webhook_id),
                        wd::event_type.eq(jekcms_webhooks::events::PING),
                        wd::status.eq(DeliveryStatus::Pending.as_str()),
                        wd::attempts.eq(0),
                        wd::next_attempt_at.eq(now),
                        wd::created_at.eq(now),
                        wd::updated_at.eq(now),
                    ))
                    .returning(DeliveryRow::as_returning())
                    .get_result::<DeliveryRow>(conn)
                    .await?;
                Ok(row)
            })?;
            Ok(row.try_into()?)
        })
    }

    fn list_deliveries(
        &self,
        site_id: i64,
        webhook_id: i64,
        before_id: Option<i64>,
        fetch: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, WebhookError>> + Send {
        crate::boxed::<Result<Vec<Delivery>, WebhookError>>(async move {
            let rows: Vec<DeliveryRow> = with_conn!(self, conn => {
                wd::table
                    .filter(wd::webhook_id.eq(webhook_id))
                    .filter(wd::site_id.eq(site_id))
                    .filter(wd::id.lt(before_id.unwrap_or(i64::MAX)))
                    .order(wd::id.desc())
                    .select(DeliveryRow::as_select())
                    .limit_literal(fetch)
                    .load(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            rows.into_iter()
                .map(|r| Delivery::try_from(r).map_err(WebhookError::from))
                .collect()
        })
    }

    fn redeliver(
        &self,
        site_id: i64,
        webhook_id: i64,
        delivery_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Delivery, WebhookError>> + Send {
        crate::boxed::<Result<Delivery, WebhookError>>(async move {
            let now = naive(now);
            let row: DeliveryRow = with_write_conn!(self, conn => {
                diesel::update(
                    wd::table
                        .filter(wd::id.eq(delivery_id))
                        .filter(wd::webhook_id.eq(webhook_id))
                        .filter(wd::site_id.eq(site_id)),
                )
                .set((
                    wd::status.eq(DeliveryStatus::Pending.as_str()),
                    wd::attempts.eq(0),
                    wd::next_attempt_at.eq(now),
                    wd::updated_at.eq(now),
                ))
                .returning(DeliveryRow::as_returning())
                .get_result(conn)
                .await
                .map_err(StoreError::from)?
            });
            Ok(row.try_into()?)
        })
    }
}

/// The due rows a claim takes, soonest first, on endpoints that are enabled (a ping goes
/// out even to a disabled one: it tests the URL). Deliveries of a disabled endpoint wait,
/// pending, until it is enabled again.
/// The deliveries due at `$now`: pending, their time come, and of an enabled endpoint (or
/// a ping, which has no event).
macro_rules! pending_due {
    ($now:expr) => {
        wd::table
            .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(wd::next_attempt_at.le($now))
            .filter(
                wd::event_id.is_null().or(wd::webhook_id.eq_any(
                    webhooks::table
                        .filter(webhooks::enabled.eq(true))
                        .select(webhooks::id),
                )),
            )
    };
}

macro_rules! due_rows {
    ($now:expr, $limit:expr) => {
        pending_due!($now)
            .order(wd::next_attempt_at.asc())
            .select(wd::id)
            .limit($limit)
    };
}

type DueRow = (
    i64,
    i64,
    i64,
    String,
    Option<String>,
    i32,
    String,
    Option<String>,
    Option<i64>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

/// `webhook_fanout` rows claimed per transaction of a fan-out pass (a pass runs as many as
/// it takes to empty the table).
const FANOUT_BATCH: i64 = 64;

/// Delivery rows per multi-row `INSERT` (9 parameters each, PostgreSQL's limit is 65,535).
const DELIVERIES_PER_INSERT: usize = 1_000;

/// A pending delivery of an event, as inserted by a fan-out.
#[derive(Insertable)]
#[diesel(table_name = crate::schema::webhook_deliveries)]
struct NewEventDelivery {
    site_id: i64,
    webhook_id: i64,
    /// Always set: only a ping has none, and pings are not fanned out.
    event_id: i64,
    event_type: String,
    status: &'static str,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// One delivery per (event, enabled webhook of its site subscribing to its type), in event
/// order, due at `now`. `events`: (id, site, type); `hooks`: (id, site, selection).
fn deliveries_of(
    events: &[(i64, i64, String)],
    hooks: &[(i64, i64, String)],
    now: NaiveDateTime,
) -> Vec<NewEventDelivery> {
    let hooks: Vec<(i64, i64, EventSelection)> = hooks
        .iter()
        .map(|(id, site, stored)| (*id, *site, EventSelection::from_stored(stored)))
        .collect();
    let mut out = Vec::new();
    for (event_id, site_id, event_type) in events {
        for (webhook_id, _, _) in hooks
            .iter()
            .filter(|(_, site, selection)| site == site_id && selection.includes(event_type))
        {
            out.push(NewEventDelivery {
                site_id: *site_id,
                webhook_id: *webhook_id,
                event_id: *event_id,
                event_type: event_type.clone(),
                status: DeliveryStatus::Pending.as_str(),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
                updated_at: now,
            });
        }
    }
    out
}

/// Inserts `rows` ([`NewEventDelivery`]s) on `$conn`: `CHUNKS`, multi-row `INSERT`s
/// (PostgreSQL); `ROWS`, one prepared single-row `INSERT` each (SQLite, in process, whose
/// diesel multi-row form takes no `Insertable` struct here).
macro_rules! insert_deliveries {
    (CHUNKS, $conn:ident, $rows:expr) => {
        for chunk in $rows.chunks(DELIVERIES_PER_INSERT) {
            diesel::insert_into(wd::table)
                .values(chunk)
                .execute($conn)
                .await?;
        }
    };
    (ROWS, $conn:ident, $rows:expr) => {
        for row in &$rows {
            diesel::insert_into(wd::table)
                .values(row)
                .execute($conn)
                .await?;
        }
    };
}

/// In the caller's transaction on `$conn`: the deliveries of the events named by the
/// `claimed` fan-out rows (`(id, event ids as JSON)`), inserted, and the rows deleted.
/// Evaluates to the number of deliveries made.
macro_rules! fan_out_claimed {
    ($how:ident, $conn:ident, $claimed:expr, $now:expr) => {{
        let claimed: &[(i64, String)] = $claimed;
        let mut ids: Vec<i64> = Vec::new();
        for (id, json) in claimed {
            let some: Vec<i64> = serde_json::from_str(json)
                .map_err(|e| StoreError::Encode(format!("webhook_fanout {id}: event ids: {e}")))?;
            ids.extend(some);
        }
        let made = if ids.is_empty() {
            0
        } else {
            let evs: Vec<(i64, i64, String)> = events::table
                .filter(events::id.eq_any(&ids))
                .order(events::id)
                .select((events::id, events::site_id, events::event_type))
                .load($conn)
                .await?;
            let mut sites: Vec<i64> = evs.iter().map(|e| e.1).collect();
            sites.sort_unstable();
            sites.dedup();
            let hooks: Vec<(i64, i64, String)> = webhooks::table
                .filter(webhooks::site_id.eq_any(&sites))
                .filter(webhooks::enabled.eq(true))
                .order(webhooks::id)
                .select((webhooks::id, webhooks::site_id, webhooks::events))
                .load($conn)
                .await?;
            let rows = deliveries_of(&evs, &hooks, $now);
            insert_deliveries!($how, $conn, rows);
            rows.len()
        };
        let done: Vec<i64> = claimed.iter().map(|(id, _)| *id).collect();
        diesel::delete(webhook_fanout::table.filter(webhook_fanout::id.eq_any(&done)))
            .execute($conn)
            .await?;
        made
    }};
}

impl Store {
    /// Fans the events that writes left in `webhook_fanout` out into pending deliveries,
    /// one per enabled webhook of the event's site that subscribes to its type (as the
    /// webhooks are now), due at `now`; returns how many deliveries were made.
    ///
    /// A write records its events in its own transaction and, when its site has an enabled
    /// webhook, one fan-out row naming them: a write to a site with webhooks costs one small
    /// row more, not a delivery row per event and endpoint. Each row is claimed (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`, so instances share the work; SQLite: the single writer) and
    /// deleted in the transaction that inserts its deliveries, so an event is fanned out
    /// exactly once, and a crash leaves the row for the next pass.
    pub fn fan_out_webhook_events(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send + '_ {
        crate::boxed(async move {
            let now = naive(now);
            let mut total = 0;
            loop {
                // Most passes find nothing: a read says so without a write transaction.
                let any: Vec<i64> = with_conn!(self, conn => {
                    webhook_fanout::table
                        .select(webhook_fanout::id)
                        .limit_literal(1)
                        .load(conn)
                        .await?
                });
                if any.is_empty() {
                    return Ok(total);
                }
                let (claimed, made) = match &self.db {
                    Db::Pg(pool) => {
                        let mut guard = pool.get().await.map_err(StoreError::pool)?;
                        diesel_async::AsyncConnection::transaction::<_, StoreError, _>(
                            &mut *guard,
                            async |conn| {
                                let claimed: Vec<(i64, String)> = webhook_fanout::table
                                    .order(webhook_fanout::id)
                                    .select((webhook_fanout::id, webhook_fanout::event_ids))
                                    .limit(FANOUT_BATCH)
                                    .for_update()
                                    .skip_locked()
                                    .load(conn)
                                    .await?;
                                let made = fan_out_claimed!(CHUNKS, conn, &claimed, now);
                                Ok((claimed.len(), made))
                            },
                        )
                        .await?
                    }
                    Db::Sqlite { write, .. } => {
                        let mut guard = write.get().await.map_err(StoreError::pool)?;
                        guard
                            .immediate_transaction::<_, StoreError, _>(async |conn| {
                                let claimed: Vec<(i64, String)> = webhook_fanout::table
                                    .order(webhook_fanout::id)
                                    .select((webhook_fanout::id, webhook_fanout::event_ids))
                                    .limit(FANOUT_BATCH)
                                    .load(conn)
                                    .await?;
                                let made = fan_out_claimed!(ROWS, conn, &claimed, now);
                                Ok((claimed.len(), made))
                            })
                            .await?
                    }
                };
                total += made;
                // Fewer than a batch: the rest (if any) is another instance's, or new.
                if (claimed as i64) < FANOUT_BATCH {
                    return Ok(total);
                }
            }
        })
    }

    /// Claims up to `limit` deliveries due at `now`: each one's `next_attempt_at` becomes
    /// `lease_until`, so no other worker takes it before then, and a worker that dies
    /// leaves it due again at that time. Short transaction; nothing is held afterwards.
    pub fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DueDelivery>, StoreError>> + Send + '_ {
        crate::boxed(async move {
            let (now, until) = (naive(now), naive(lease_until));
            let limit = i64::from(limit);
            // Most polls find nothing: a read says so without a write transaction (on
            // SQLite, without taking the write lock from the requests).
            let any: Vec<i64> = with_conn!(self, conn => {
                due_rows!(now, 1).load(conn).await?
            });
            if any.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = match &self.db {
                Db::Pg(pool) => {
                    let mut guard = pool.get().await.map_err(StoreError::pool)?;
                    diesel_async::AsyncConnection::transaction::<_, StoreError, _>(
                        &mut *guard,
                        async |conn| {
                            let ids: Vec<i64> = due_rows!(now, limit)
                                .for_update()
                                .skip_locked()
                                .load(conn)
                                .await?;
                            // `= ANY($1)` on PostgreSQL: one shape whatever the count.
                            diesel::update(wd::table.filter(wd::id.eq_any(&ids)))
                                .set((wd::next_attempt_at.eq(until), wd::updated_at.eq(now)))
                                .keep_prepared()
                                .execute(conn)
                                .await?;
                            Ok(ids)
                        },
                    )
                    .await?
                }
                Db::Sqlite { write, .. } => {
                    let mut guard = write.get().await.map_err(StoreError::pool)?;
                    guard
                        .immediate_transaction::<_, StoreError, _>(async |conn| {
                            let ids: Vec<i64> = due_rows!(now, limit).load(conn).await?;
                            diesel::update(wd::table.filter(wd::id.eq_any(&ids)))
                                .set((wd::next_attempt_at.eq(until), wd::updated_at.eq(now)))
                                .execute(conn)
                                .await?;
                            Ok(ids)
                        })
                        .await?
                }
            };
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let rows: Vec<DueRow> = with_conn!(self, conn => {
                wd::table
                    .inner_join(webhooks::table)
                    .left_join(events::table)
                    .filter(wd::id.eq_any(&ids))
                    .select((
                        wd::id,
                        wd::site_id,
                        wd::webhook_id,
                        wd::event_type,
                        wd::payload,
                        wd::attempts,
                        webhooks::url,
                        events::subject_kind.nullable(),
                        events::subject_id.nullable(),
                        events::occurred_at.nullable(),
                        wd::created_at,
                    ))
                    .load(conn)
                    .await?
            });
            Ok(rows
                .into_iter()
                .map(
                    |(
                        id,
                        site_id,
                        webhook_id,
                        event_type,
                        payload,
                        attempts,
                        url,
                        kind,
                        subject_id,
                        occurred,
                        created,
                    )| {
                        DueDelivery {
                            id,
                            site_id,
                            webhook_id,
                            event_type,
                            payload,
                            attempts,
                            url,
                            subject: kind.zip(subject_id),
                            occurred_at: utc(occurred.unwrap_or(created)),
                        }
                    },
                )
                .collect())
        })
    }

    /// Records the outcome of an attempt at delivery `id` (its payload kept from the first
    /// attempt on: a later attempt never replaces it).
    pub fn record_webhook_attempt(
        &self,
        id: i64,
        record: AttemptRecord,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + '_ {
        crate::boxed(async move {
            let now = naive(now);
            with_write_conn!(self, conn => {
                diesel::update(wd::table.filter(wd::id.eq(id)))
                    .set((
                        wd::payload.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("COALESCE(payload, ").bind::<diesel::sql_types::Text, _>(record.payload).sql(")")),
                        wd::attempts.eq(record.attempts),
                        wd::status.eq(record.status.as_str()),
                        wd::last_status_code.eq(record.status_code),
                        wd::last_error.eq(record.error),
                        wd::last_response.eq(record.response),
                        wd::next_attempt_at.eq(naive(record.next_attempt_at)),
                        wd::updated_at.eq(now),
                    ))
                    .keep_prepared()
                    .execute(conn)
                    .await?;
            });
            Ok(())
        })
    }

    /// How many deliveries are due at `now` and not yet claimed, over every site: the
    /// workers' backlog (what `/metrics` reports; the store itself knows no metrics). A
    /// claimed delivery's time is its lease's end, so deliveries being attempted are not
    /// counted, nor retries scheduled later. A count over the partial index of pending
    /// deliveries.
    pub fn webhook_queue_depth(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + '_ {
        crate::boxed(async move {
            let now = naive(now);
            let count: i64 = with_conn!(self, conn => {
                pending_due!(now).count().get_result(conn).await?
            });
            Ok(u64::try_from(count).unwrap_or_default())
        })
    }

    /// The site's webhook secrets still valid at `now` (sealed, as stored), newest first:
    /// the active one and any still in a rotation's overlap.
    pub fn webhook_secrets(
        &self,
        site_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, StoreError>> + Send + '_ {
        crate::boxed(async move {
            let now = naive(now);
            let secrets = with_conn!(self, conn => {
                pull_keys::table
                    .filter(pull_keys::site_id.eq(site_id))
                    .filter(pull_keys::valid_until.is_null().or(pull_keys::valid_until.gt(now)))
                    .order((pull_keys::created_at.desc(), pull_keys::id.desc()))
                    .select(pull_keys::webhook_secret)
                    .load::<Vec<u8>>(conn)
                    .await?
            });
            Ok(secrets)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::deliveries_of;

    #[test]
    fn each_event_goes_to_the_subscribed_webhooks_of_its_own_site_in_order() {
        let now = chrono::NaiveDateTime::default();
        let events = [
            (10, 1, "post.created".to_owned()),
            (11, 1, "post.deleted".to_owned()),
            (12, 2, "post.created".to_owned()),
        ];
        let hooks = [
            (100, 1, "*".to_owned()),
            (101, 1, "post.deleted".to_owned()),
            // Whole names only, not prefixes.
            (102, 1, "post.create,post.update".to_owned()),
            (200, 2, "post.updated".to_owned()),
        ];
        let made: Vec<(i64, i64, i64, String)> = deliveries_of(&events, &hooks, now)
            .into_iter()
            .map(|d| (d.event_id, d.webhook_id, d.site_id, d.event_type))
            .collect();
        assert_eq!(
            made,
            [
                (10, 100, 1, "post.created".to_owned()),
                (11, 100, 1, "post.deleted".to_owned()),
                (11, 101, 1, "post.deleted".to_owned()),
            ]
        );
    }
}
