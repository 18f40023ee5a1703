//! A site's settings: [`SiteDetails`] read and changed for the API (`GET`/`PATCH
//! /api/v2/site`, through [`AccountStore`](jekcms_accounts::AccountStore) in `repo.rs`) and
//! for the operator's `jekcms sites list|create|set`.

use crate::schema::{pull_keys, site_cors_origins, sites};
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, naive, utc, with_conn, with_write_conn, with_write_txn};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_accounts::SiteDetails;
use jekcms_accounts::site::{PullKeySummary, SitePatch};
use jekcms_auth::Plan;
use std::collections::HashMap;
use std::future::Future;

/// `(id, slug, name, plan, api_access, created_at)`.
pub(super) type SiteTuple = (i64, String, String, String, bool, NaiveDateTime);

/// The columns of a [`SiteTuple`].
macro_rules! site_columns {
    () => {
        (
            sites::id,
            sites::slug,
            sites::name,
            sites::plan,
            sites::api_access,
            sites::created_at,
        )
    };
}
pub(super) use site_columns;

/// Reads the site `$site_id` with its origins and active pull key on `$conn`:
/// `Result<SiteDetails, StoreError>` (`NotFound` for no such site).
macro_rules! load_site_details {
    ($conn:expr, $site_id:expr) => {{
        let site_id: i64 = $site_id;
        async {
            let row = sites::table
                .filter(sites::id.eq(site_id))
                .select(site_columns!())
                .limit_literal(1)
                .get_result::<SiteTuple>($conn)
                .await?;
            let origins = site_cors_origins::table
                .filter(site_cors_origins::site_id.eq(site_id))
                .order(site_cors_origins::origin.asc())
                .select(site_cors_origins::origin)
                .load::<String>($conn)
                .await?;
            let key = pull_keys::table
                .filter(pull_keys::site_id.eq(site_id))
                .filter(pull_keys::valid_until.is_null())
                .order(pull_keys::id.desc())
                .select((pull_keys::id, pull_keys::created_at))
                .limit_literal(1)
                .get_result::<(i64, chrono::NaiveDateTime)>($conn)
                .await
                .optional()?;
            details_from(row, origins, key)
        }
        .await
    }};
}
pub(super) use load_site_details;

pub(super) fn details_from(
    row: SiteTuple,
    cors_origins: Vec<String>,
    pull_key: Option<(i64, NaiveDateTime)>,
) -> Result<SiteDetails, StoreError> {
    let (id, slug, name, plan, api_access, created_at) = row;
    let plan = plan
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("site {id} has an unknown plan")))?;
    Ok(SiteDetails {
        id,
        slug,
        name,
        plan,
        api_access,
        cors_origins,
        created_at: utc(created_at),
        pull_key: pull_key.map(|(key_id, created_at)| PullKeySummary {
            key_id,
            created_at: utc(created_at),
        }),
    })
}

/// Applies `$patch` to site `$site_id` on `$conn` (inside a transaction): the name, and the
/// origins replaced as a set. `Result<(), StoreError>`; `NotFound` for no such site.
macro_rules! apply_site_patch {
    ($conn:expr, $site_id:expr, $patch:expr) => {{
        let site_id: i64 = $site_id;
        let patch: &SitePatch = $patch;
        async {
            // Touch the row even without a new name: it proves the site exists and, on
            // PostgreSQL, serialises two concurrent replacements of the origins.
            let name = match &patch.name {
                Some(name) => name.clone(),
                None => {
                    sites::table
                        .filter(sites::id.eq(site_id))
                        .select(sites::name)
                        .limit_literal(1)
                        .get_result::<String>($conn)
                        .await?
                }
            };
            let n = diesel::update(sites::table.filter(sites::id.eq(site_id)))
                .set(sites::name.eq(&name))
                .execute($conn)
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(origins) = &patch.cors_origins {
                diesel::delete(
                    site_cors_origins::table.filter(site_cors_origins::site_id.eq(site_id)),
                )
                .execute($conn)
                .await?;
                for origin in origins {
                    diesel::insert_into(site_cors_origins::table)
                        .values((
                            site_cors_origins::site_id.eq(site_id),
                            site_cors_origins::origin.eq(origin),
                        ))
                        .execute($conn)
                        .await?;
                }
            }
            Ok::<(), StoreError>(())
        }
        .await
    }};
}
pub(super) use apply_site_patch;

/// What `jekcms sites set` changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteSettings {
    /// New plan.
    pub plan: Option<Plan>,
    /// Grant or withdraw API access (the license).
    pub api_access: Option<bool>,
    /// New display name.
    pub name: Option<String>,
}

impl Store {
    /// Every site in id order, with its origins and pull key.
    pub fn list_sites(&self) -> impl Future<Output = Result<Vec<SiteDetails>, StoreError>> + Send {
        crate::boxed::<Result<Vec<SiteDetails>, StoreError>>(async move {
            let (rows, origins, keys) = with_conn!(self, conn => {
                let rows = sites::table
                    .order(sites::id.asc())
                    .select(site_columns!())
                    .load::<SiteTuple>(conn)
                    .await?;
                let origins = site_cors_origins::table
                    .order((site_cors_origins::site_id.asc(), site_cors_origins::origin.asc()))
                    .select((site_cors_origins::site_id, site_cors_origins::origin))
                    .load::<(i64, String)>(conn)
                    .await?;
                let keys = pull_keys::table
                    .filter(pull_keys::valid_until.is_null())
                    .order(pull_keys::id.asc())
                    .select((pull_keys::site_id, pull_keys::id, pull_keys::created_at))
                    .load::<(i64, i64, NaiveDateTime)>(conn)
                    .await?;
                (rows, origins, keys)
            });
            let mut by_site: HashMap<i64, Vec<String>> = HashMap::new();
            for (site_id, origin) in origins {
                by_site.entry(site_id).or_default().push(origin);
            }
            // In id order, so the newest active key of each site is the one kept.
            let newest: HashMap<i64, (i64, NaiveDateTime)> = keys
                .into_iter()
                .map(|(site_id, id, created_at)| (site_id, (id, created_at)))
                .collect();
            rows.into_iter()
                .map(|row| {
                    let id = row.0;
                    details_from(
                        row,
                        by_site.remove(&id).unwrap_or_default(),
                        newest.get(&id).copied(),
                    )
                })
                .collect()
        })
    }

    /// The site with this slug, or `NotFound`.
    pub fn site_by_slug(
        &self,
        slug: &str,
    ) -> impl Future<Output = Result<SiteDetails, StoreError>> + Send {
        let slug = slug.to_owned();
        crate::boxed::<Result<SiteDetails, StoreError>>(async move {
            let slug: &str = &slug;
            Ok(with_conn!(self, conn => {
                let id = sites::table
                    .filter(sites::slug.eq(slug))
                    .select(sites::id)
                    .limit_literal(1)
                    .get_result::<i64>(conn)
                    .await?;
                load_site_details!(conn, id)?
            }))
        })
    }

    /// Creates a site with API access; a slug already taken is `Unique(SiteSlug)`.
    pub fn create_site(
        &self,
        slug: &str,
        name: &str,
        plan: Plan,
    ) -> impl Future<Output = Result<SiteDetails, StoreError>> + Send {
        let slug = slug.to_owned();
        let name = name.to_owned();
        crate::boxed::<Result<SiteDetails, StoreError>>(async move {
            let now = naive(jekcms_auth::now());
            with_write_txn!(self, SiteDetails, conn => {
                let id = diesel::insert_into(sites::table)
                    .values((
                        sites::slug.eq(&slug),
                        sites::name.eq(&name),
                        sites::plan.eq(plan.as_str()),
                        sites::api_access.eq(true),
                        sites::created_at.eq(now),
                    ))
                    .returning(sites::id)
                    .get_result::<i64>(conn)
                    .await?;
                load_site_details!(conn, id)
            })
        })
    }

    /// Changes the site with this slug as the operator asks (`NotFound` for no such site);
    /// the plan and the license apply to the site's next request, on every instance.
    pub fn set_site(
        &self,
        slug: &str,
        settings: SiteSettings,
    ) -> impl Future<Output = Result<SiteDetails, StoreError>> + Send {
        let slug = slug.to_owned();
        crate::boxed::<Result<SiteDetails, StoreError>>(async move {
            with_write_txn!(self, SiteDetails, conn => {
                let id = sites::table
                    .filter(sites::slug.eq(&slug))
                    .select(sites::id)
                    .limit_literal(1)
                    .get_result::<i64>(conn)
                    .await?;
                let patch = SitePatch { name: settings.name.clone(), cors_origins: None };
                apply_site_patch!(conn, id, &patch)?;
                if let Some(plan) = settings.plan {
                    diesel::update(sites::table.filter(sites::id.eq(id)))
                        .set(sites::plan.eq(plan.as_str()))
                        .execute(conn)
                        .await?;
                }
                if let Some(api_access) = settings.api_access {
                    diesel::update(sites::table.filter(sites::id.eq(id)))
                        .set(sites::api_access.eq(api_access))
                        .execute(conn)
                        .await?;
                }
                load_site_details!(conn, id)
            })
        })
    }

    /// Changes a site's plan (by id); `NotFound` for no such site.
    pub fn set_site_plan(
        &self,
        site_id: i64,
        plan: Plan,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            let n = with_write_conn!(self, conn => {
                diesel::update(sites::table.filter(sites::id.eq(site_id)))
                    .set(sites::plan.eq(plan.as_str()))
                    .execute(conn)
                    .await?
            });
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UniqueKey;
    use crate::testing::TestDatabase;
    use jekcms_accounts::AccountStore;

    async fn add_pull_key(store: &Store, site_id: i64, hash: u8, ended: bool) -> i64 {
        let now = naive(jekcms_auth::now());
        let id: Result<i64, StoreError> = async {
            Ok(with_write_conn!(store, conn => {
            diesel::insert_into(pull_keys::table)
                .values((
                    pull_keys::site_id.eq(site_id),
                    pull_keys::key_hash.eq(vec![hash; 32]),
                    pull_keys::webhook_secret.eq(vec![0u8; 32]),
                    pull_keys::created_at.eq(now),
                    pull_keys::valid_until.eq(ended.then_some(now)),
                ))
                .returning(pull_keys::id)
                .get_result::<i64>(conn)
                .await?
            }))
        }
        .await;
        id.unwrap()
    }

    /// The pull key shown is the site's newest one without an end of validity (one kept
    /// valid for an overlap after a rotation has one); none before the first rotation.
    async fn site_settings(store: Store) {
        let a = store.create_site("a", "A", Plan::Starter).await.unwrap();
        let b = store.create_site("b", "B", Plan::Pro).await.unwrap();
        assert_eq!(
            (a.plan, a.api_access, a.pull_key),
            (Plan::Starter, true, None)
        );
        let first = add_pull_key(&store, a.id, 1, false).await;
        let second = add_pull_key(&store, a.id, 2, false).await;
        add_pull_key(&store, a.id, 3, true).await;
        assert!(second > first);
        let shown = store.site_details(a.id).await.unwrap().pull_key.unwrap();
        assert_eq!(shown.key_id, second);
        let listed = store.list_sites().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].pull_key.map(|k| k.key_id), Some(second));
        assert_eq!(listed[1].pull_key, None);
        assert_eq!(store.site_by_slug("a").await.unwrap(), listed[0]);

        // Origins are replaced as a set, per site.
        let patch = |origins: &[&str]| SitePatch {
            name: None,
            cors_origins: Some(origins.iter().map(|o| (*o).to_owned()).collect()),
        };
        store
            .update_site(a.id, patch(&["https://a.example", "https://b.example"]))
            .await
            .unwrap();
        store
            .update_site(b.id, patch(&["https://a.example"]))
            .await
            .unwrap();
        let a_now = store
            .update_site(a.id, patch(&["https://c.example"]))
            .await
            .unwrap();
        assert_eq!(a_now.cors_origins, ["https://c.example"]);
        assert_eq!(a_now.name, "A");
        let listed = store.list_sites().await.unwrap();
        assert_eq!(listed[1].cors_origins, ["https://a.example"]);

        assert!(matches!(
            store.create_site("a", "again", Plan::Pro).await,
            Err(StoreError::Unique(UniqueKey::SiteSlug))
        ));
        assert!(matches!(
            store.set_site("zzz", SiteSettings::default()).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.update_site(999_999, SitePatch::default()).await,
            Err(jekcms_accounts::AccountError::NotFound)
        ));
        let set = store
            .set_site(
                "b",
                SiteSettings {
                    plan: Some(Plan::Agency),
                    api_access: Some(false),
                    name: Some("Bee".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (
                set.plan,
                set.api_access,
                set.name.as_str(),
                set.cors_origins.len()
            ),
            (Plan::Agency, false, "Bee", 1)
        );
    }

    #[tokio::test]
    async fn site_settings_on_sqlite() {
        let db = TestDatabase::sqlite();
        site_settings(Store::connect(db.url(), Default::default()).await.unwrap()).await;
    }

    #[tokio::test]
    async fn site_settings_on_postgres() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        site_settings(Store::connect(db.url(), Default::default()).await.unwrap()).await;
    }
}
