//! What the pull API reads: a pull key's site with its content version, and the key's
//! rotation ([`PullRepository`]). Every write to a site's posts or media bumps the content
//! version in its own transaction, through `activity::RecordEvents::record_write`.
//!
//! The content version is what keeps every instance's caches exact: a page cached under
//! version `v` is served only while the site is still at `v`, which one indexed read per
//! request tells, and a write is answered only after its transaction, bump included, has
//! committed.

use crate::activity::RecordEvents;
use crate::schema::{pull_keys, site_cors_origins};
use crate::sql::LimitLiteral;
use crate::stored_time::StoredTime;
use crate::{Store, StoreError, naive, utc, with_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Bool, HasSqlType, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::activity::{EventType, NewEvent, Writer};
use jekcms_content::pull::{PullRepository, PullSite};
use std::future::Future;

/// The pull request's one statement: the key's site (through the unique `key_hash` index)
/// and the site's next scheduled publication (the first entry of
/// `posts_site_status_published` after now).
///
/// Written as a query type of its own, with a static query id, because it runs on every
/// pull request: diesel finds a statement with a static id in its cache by type, while the
/// DSL form (whose `LIMIT` literal has no static id) had its SQL text rebuilt on every call
/// to be looked up by text, which cost more than running it. `diesel::sql_query` is never
/// cached at all.
#[derive(Debug, Clone)]
pub(crate) struct PullSiteQuery {
    key_hash: Vec<u8>,
    now: NaiveDateTime,
}

impl PullSiteQuery {
    pub(crate) fn new(key_hash: &[u8], now: DateTime<Utc>) -> Self {
        Self {
            key_hash: key_hash.to_vec(),
            now: naive(now),
        }
    }
}

impl QueryId for PullSiteQuery {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for PullSiteQuery {
    type SqlType = (
        BigInt,
        Bool,
        Text,
        BigInt,
        Nullable<Timestamp>,
        Nullable<Timestamp>,
    );
}

impl<DB> QueryFragment<DB> for PullSiteQuery
where
    DB: diesel::backend::Backend + HasSqlType<Timestamp> + HasSqlType<Binary>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    Vec<u8>: ToSql<Binary, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "SELECT s.id, s.api_access, s.plan, s.content_version, k.valid_until, \
             (SELECT MIN(p.published_at) FROM posts p WHERE p.site_id = s.id \
             AND p.status = 'published' AND p.published_at > ",
        );
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(") FROM pull_keys k JOIN sites s ON s.id = k.site_id WHERE k.key_hash = ");
        out.push_bind_param::<Binary, _>(&self.key_hash)?;
        out.push_sql(" AND (k.valid_until IS NULL OR k.valid_until > ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(") LIMIT 1");
        Ok(())
    }
}

pub(crate) type PullSiteRow = (
    i64,
    bool,
    String,
    i64,
    Option<StoredTime>,
    Option<StoredTime>,
);

/// The key's site from its row (`None`: no such key, or rotated out).
pub(crate) fn pull_site_of(row: Option<PullSiteRow>) -> Result<Option<PullSite>, StoreError> {
    let Some((id, api_access, plan, content_version, key_valid_until, next_scheduled)) = row else {
        return Ok(None);
    };
    let plan = plan
        .parse()
        .map_err(|_| StoreError::Encode(format!("site {id} has an unknown plan")))?;
    Ok(Some(PullSite {
        site_id: id,
        api_access,
        plan,
        content_version,
        key_valid_until: key_valid_until.map(|t| utc(t.0)),
        next_scheduled: next_scheduled.map(|t| utc(t.0)),
    }))
}

/// The key check on a shared PostgreSQL connection, so that it can be pipelined with the
/// pull list's query (`session_check`).
pub(crate) async fn pull_site_row_pg(
    conn: &diesel_async::AsyncPgConnection,
    query: PullSiteQuery,
) -> QueryResult<Option<PullSiteRow>> {
    let mut shared = conn;
    query
        .get_result::<PullSiteRow>(&mut shared)
        .await
        .optional()
}

/// Prepares the key check's statement on a new PostgreSQL connection, as
/// `sessions::prepare_session_check` does the session check's.
pub(crate) async fn prepare_pull_site_check(
    conn: &mut diesel_async::AsyncPgConnection,
) -> QueryResult<()> {
    pull_site_row_pg(conn, PullSiteQuery::new(&[], jekcms_content::now()))
        .await
        .map(drop)
}

impl PullRepository for Store {
    fn pull_site(
        &self,
        key_hash: &[u8],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PullSite>, ContentError>> + Send {
        let query = PullSiteQuery::new(key_hash, now);
        crate::boxed::<Result<Option<PullSite>, ContentError>>(async move {
            let row: Option<PullSiteRow> = with_conn!(self, conn => {
                query
                    .clone()
                    .get_result::<PullSiteRow>(conn)
                    .await
                    .optional()
                    .map_err(StoreError::from)?
            });
            Ok(pull_site_of(row)?)
        })
    }

    fn rotate_pull_key(
        &self,
        by: &Writer,
        key_hash: &[u8],
        sealed_webhook_secret: &[u8],
        now: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<i64, ContentError>> + Send {
        let (key_hash, secret) = (key_hash.to_vec(), sealed_webhook_secret.to_vec());
        let by = by.clone();
        let site_id = by.site_id();
        crate::boxed::<Result<i64, ContentError>>(async move {
            let at = now;
            let now = naive(now);
            let id = with_write_txn!(self, i64, conn => {
                let mine = pull_keys::site_id.eq(site_id);
                // Keys whose overlap is over, and with no overlap every earlier key.
                match previous_valid_until.map(naive) {
                    None => {
                        diesel::delete(pull_keys::table.filter(mine)).execute(conn).await?;
                    }
                    Some(until) => {
                        diesel::delete(
                            pull_keys::table.filter(mine).filter(pull_keys::valid_until.le(now)),
                        )
                        .execute(conn)
                        .await?;
                        // The previous active key, and any earlier one still overlapping,
                        // end at `until` at the latest.
                        diesel::update(
                            pull_keys::table.filter(mine).filter(
                                pull_keys::valid_until
                                    .is_null()
                                    .or(pull_keys::valid_until.gt(until)),
                            ),
                        )
                        .set(pull_keys::valid_until.eq(until))
                        .execute(conn)
                        .await?;
                    }
                }
                let id: i64 = diesel::insert_into(pull_keys::table)
                    .values((
                        pull_keys::site_id.eq(site_id),
                        pull_keys::key_hash.eq(&key_hash),
                        pull_keys::webhook_secret.eq(&secret),
                        pull_keys::created_at.eq(now),
                    ))
                    .returning(pull_keys::id)
                    .get_result(conn)
                    .await?;
                let rotated = [NewEvent::new(EventType::SiteKeysRotated, site_id)];
                RecordEvents::record_events(conn, &by, at, &rotated).await?;
                Ok(id)
            })?;
            Ok(id)
        })
    }

    fn site_lists_origin(
        &self,
        site_id: Option<i64>,
        origin: &str,
    ) -> impl Future<Output = Result<bool, ContentError>> + Send {
        let origin = origin.to_owned();
        crate::boxed::<Result<bool, ContentError>>(async move {
            // Two fixed statements rather than one boxed query, so both stay prepared.
            let found: Option<i64> = with_conn!(self, conn => {
                match site_id {
                    Some(site_id) => site_cors_origins::table
                        .filter(site_cors_origins::origin.eq(origin))
                        .filter(site_cors_origins::site_id.eq(site_id))
                        .select(site_cors_origins::site_id)
                        .limit_literal(1)
                        .get_result::<i64>(conn)
                        .await,
                    None => site_cors_origins::table
                        .filter(site_cors_origins::origin.eq(origin))
                        .select(site_cors_origins::site_id)
                        .limit_literal(1)
                        .get_result::<i64>(conn)
                        .await,
                }
                .optional()
                .map_err(StoreError::from)?
            });
            Ok(found.is_some())
        })
    }
}
