//! What the pull API reads: a pull key's site with its content version, and the key's
//! rotation ([`PullRepository`]); and [`bump_content_version!`], which every write to a
//! site's posts or media runs in its own transaction.
//!
//! The content version is what keeps every instance's caches exact: a page cached under
//! version `v` is served only while the site is still at `v`, which one indexed read per
//! request tells, and a write is answered only after its transaction, bump included, has
//! committed.

use crate::schema::{posts, pull_keys, site_cors_origins, sites};
use crate::{Store, StoreError, naive, utc, with_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::pull::{PullRepository, PullSite};
use std::future::Future;

/// Bumps site `$site_id`'s content version on `$conn` (inside the write's transaction).
macro_rules! bump_content_version {
    ($conn:expr, $site_id:expr) => {
        diesel::update($crate::schema::sites::table.find($site_id))
            .set(
                $crate::schema::sites::content_version
                    .eq($crate::schema::sites::content_version + 1),
            )
            .execute($conn)
            .await?
    };
}
pub(crate) use bump_content_version;

type SiteRow = (i64, bool, String, i64, Option<NaiveDateTime>);

impl PullRepository for Store {
    fn pull_site(
        &self,
        key_hash: &[u8],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PullSite>, ContentError>> + Send {
        let key_hash = key_hash.to_vec();
        crate::boxed::<Result<Option<PullSite>, ContentError>>(async move {
            let now = naive(now);
            let valid = pull_keys::valid_until
                .is_null()
                .or(pull_keys::valid_until.gt(now));
            // One statement: the key's site (through the unique key_hash index) and, through
            // the same key, the site's next scheduled publication (the first entry of
            // posts_site_status_published after now).
            let key_site = pull_keys::table
                .filter(pull_keys::key_hash.eq(key_hash.clone()))
                .filter(valid)
                .select(pull_keys::site_id)
                .single_value();
            let next_scheduled = posts::table
                .filter(posts::site_id.nullable().eq(key_site))
                .filter(posts::status.eq("published"))
                .filter(posts::published_at.gt(now))
                .select(diesel::dsl::min(posts::published_at))
                .single_value();
            let site = pull_keys::table
                .filter(pull_keys::key_hash.eq(key_hash))
                .filter(valid)
                .select(pull_keys::site_id)
                .single_value();
            let row: Option<SiteRow> = with_conn!(self, conn => {
                sites::table
                    .filter(sites::id.nullable().eq(site))
                    .select((
                        sites::id,
                        sites::api_access,
                        sites::plan,
                        sites::content_version,
                        next_scheduled,
                    ))
                    .first::<SiteRow>(conn)
                    .await
                    .optional()
                    .map_err(StoreError::from)?
            });
            let Some((site_id, api_access, plan, content_version, next)) = row else {
                return Ok(None);
            };
            let plan = plan
                .parse()
                .map_err(|_| StoreError::Encode(format!("site {site_id} has an unknown plan")))?;
            Ok(Some(PullSite {
                site_id,
                api_access,
                plan,
                content_version,
                next_scheduled: next.map(utc),
            }))
        })
    }

    fn rotate_pull_key(
        &self,
        site_id: i64,
        key_hash: &[u8],
        sealed_webhook_secret: &[u8],
        now: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<i64, ContentError>> + Send {
        let (key_hash, secret) = (key_hash.to_vec(), sealed_webhook_secret.to_vec());
        crate::boxed::<Result<i64, ContentError>>(async move {
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
            let found = with_conn!(self, conn => {
                let mut q = site_cors_origins::table
                    .filter(site_cors_origins::origin.eq(origin))
                    .select(site_cors_origins::site_id)
                    .into_boxed();
                if let Some(site_id) = site_id {
                    q = q.filter(site_cors_origins::site_id.eq(site_id));
                }
                q.first::<i64>(conn).await.optional().map_err(StoreError::from)?
            });
            Ok(found.is_some())
        })
    }
}
