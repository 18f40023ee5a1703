//! [`AccountStore`] for both stores: each method one atomic step.

use super::rows::{
    KeyTuple, UserTuple, insert_user, keep_an_owner, key_columns, key_from, user_columns, user_from,
};
use super::sites::{SiteTuple, apply_site_patch, details_from, load_site_details, site_columns};
use crate::schema::{api_keys, media, posts, sessions, sites, users};
use crate::schema::{pull_keys, site_cors_origins};
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, UniqueKey, naive, with_conn, with_write_conn, with_write_txn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_accounts::model::{NewApiKey, NewUser, UserChange};
use jekcms_accounts::repo::{AccountStore, KeyScope, LoginRecord};
use jekcms_accounts::site::SitePatch;
use jekcms_accounts::{AccountError, ApiKey, Site, SiteDetails, User};
use jekcms_auth::{Plan, Role};
use jekcms_content::activity::{EventType, NewEvent};
use std::future::Future;

/// Attempts of a registration whose site slug was taken by a concurrent one.
const SITE_SLUG_ATTEMPTS: usize = 5;

impl AccountStore for Store {
    fn register(
        &self,
        site_name: &str,
        plan: Plan,
        owner: NewUser,
    ) -> impl Future<Output = Result<(Site, User), AccountError>> + Send {
        let site_name = site_name.to_owned();
        crate::boxed::<Result<(Site, User), AccountError>>(async move {
            let site_name: &str = &site_name;
            let now = naive(jekcms_auth::now());
            let base = match jekcms_content::slug::from_title(site_name) {
                s if s.is_empty() => "site".to_owned(),
                s => s,
            };
            // Two registrations of the same site name at once (PostgreSQL) may both find a
            // slug free; the loser's insert breaks `sites (slug)` and it looks again.
            let mut attempts = 0;
            let (site, row) = loop {
                attempts += 1;
                let result = with_write_txn!(self, (Site, UserTuple), conn => {
                    let mut n = 1;
                    let slug = loop {
                        let candidate = if n == 1 { base.clone() } else { jekcms_content::slug::with_suffix(&base, n) };
                        if jekcms_accounts::model::RESERVED_SITE_SLUGS.contains(&candidate.as_str()) {
                            n += 1;
                            continue;
                        }
                        let taken: Vec<i64> = sites::table
                            .filter(sites::slug.eq(&candidate))
                            .select(sites::id)
                            .load(conn)
                            .await?;
                        if taken.is_empty() {
                            break candidate;
                        }
                        n += 1;
                    };
                    let site_id = diesel::insert_into(sites::table)
                        .values((
                            sites::slug.eq(&slug),
                            sites::name.eq(site_name),
                            sites::plan.eq(plan.as_str()),
                            sites::api_access.eq(true),
                            sites::created_at.eq(now),
                        ))
                        .returning(sites::id)
                        .get_result::<i64>(conn)
                        .await?;
                    let row = insert_user!(conn, site_id, &owner, now)?;
                    Ok((Site { id: site_id, slug, name: site_name.to_owned() }, row))
                });
                match result {
                    Err(StoreError::Unique(UniqueKey::SiteSlug))
                        if attempts < SITE_SLUG_ATTEMPTS => {}
                    other => break other?,
                }
            };
            Ok((site, user_from(row)?.0))
        })
    }

    fn site(&self, site_id: i64) -> impl Future<Output = Result<Site, AccountError>> + Send {
        crate::boxed::<Result<Site, AccountError>>(async move {
            let (id, slug, name) = with_conn!(self, conn => {
                sites::table
                    .filter(sites::id.eq(site_id))
                    .select((sites::id, sites::slug, sites::name))
                    .limit_literal(1).get_result::<(i64, String, String)>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(Site { id, slug, name })
        })
    }

    fn site_details(
        &self,
        site_id: i64,
    ) -> impl Future<Output = Result<SiteDetails, AccountError>> + Send {
        crate::boxed::<Result<SiteDetails, AccountError>>(async move {
            Ok(with_conn!(self, conn => load_site_details!(conn, site_id)?))
        })
    }

    fn update_site(
        &self,
        site_id: i64,
        patch: SitePatch,
    ) -> impl Future<Output = Result<SiteDetails, AccountError>> + Send {
        crate::boxed::<Result<SiteDetails, AccountError>>(async move {
            Ok(with_write_txn!(self, SiteDetails, conn => {
                apply_site_patch!(conn, site_id, &patch)?;
                load_site_details!(conn, site_id)
            })?)
        })
    }

    fn login_records(
        &self,
        email: &str,
        site_slug: Option<&str>,
    ) -> impl Future<Output = Result<Vec<LoginRecord>, AccountError>> + Send {
        let email = email.to_owned();
        let site_slug = site_slug.map(str::to_owned);
        crate::boxed::<Result<Vec<LoginRecord>, AccountError>>(async move {
            let email: &str = &email;
            let rows: Vec<(UserTuple, bool)> = with_conn!(self, conn => {
                let query = users::table
                    .inner_join(sites::table.on(sites::id.eq(users::site_id)))
                    .filter(users::email.eq(email))
                    .order(users::id.asc())
                    .select((user_columns!(), sites::api_access));
                // Two are enough to tell "exactly one" from "several".
                match &site_slug {
                    Some(slug) => query
                        .filter(sites::slug.eq(slug))
                        .limit_literal(2)
                        .load::<(UserTuple, bool)>(conn)
                        .await,
                    None => query.limit_literal(2).load::<(UserTuple, bool)>(conn).await,
                }
                .map_err(StoreError::from)?
            });
            rows.into_iter()
                .map(|(row, site_api_access)| {
                    let (user, password_hash) = user_from(row)?;
                    Ok(LoginRecord {
                        user,
                        password_hash,
                        site_api_access,
                    })
                })
                .collect()
        })
    }

    fn list_users(
        &self,
        site_id: i64,
        after: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<User>, AccountError>> + Send {
        crate::boxed::<Result<Vec<User>, AccountError>>(async move {
            let after = after.unwrap_or(0);
            let rows: Vec<UserTuple> = with_conn!(self, conn => {
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::id.gt(after))
                    .order(users::id.asc())
                    .select(user_columns!())
                    .limit_literal(limit)
                    .load::<UserTuple>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            rows.into_iter().map(|r| Ok(user_from(r)?.0)).collect()
        })
    }

    fn get_user(
        &self,
        site_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<User, AccountError>> + Send {
        crate::boxed::<Result<User, AccountError>>(async move {
            let row: UserTuple = with_conn!(self, conn => {
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::id.eq(user_id))
                    .select(user_columns!())
                    .limit_literal(1).get_result::<UserTuple>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(user_from(row)?.0)
        })
    }

    fn password_hash(
        &self,
        site_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<Option<String>, AccountError>> + Send {
        crate::boxed::<Result<Option<String>, AccountError>>(async move {
            Ok(with_conn!(self, conn => {
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::id.eq(user_id))
                    .select(users::password_hash)
                    .limit_literal(1)
                    .get_result::<Option<String>>(conn)
                    .await
                    .map_err(StoreError::from)?
            }))
        })
    }

    fn create_user(
        &self,
        site_id: i64,
        user: NewUser,
    ) -> impl Future<Output = Result<User, AccountError>> + Send {
        crate::boxed::<Result<User, AccountError>>(async move {
            let now = naive(jekcms_auth::now());
            let row: UserTuple = with_write_conn!(self, conn => {
                insert_user!(conn, site_id, &user, now)
                    .map_err(StoreError::from)?
            });
            Ok(user_from(row)?.0)
        })
    }

    fn update_user(
        &self,
        site_id: i64,
        user_id: i64,
        change: UserChange,
    ) -> impl Future<Output = Result<User, AccountError>> + Send {
        crate::boxed::<Result<User, AccountError>>(async move {
            let now = naive(jekcms_auth::now());
            let row = with_write_txn!(self, UserTuple, conn => {
                if change.role.is_some_and(|r| r != Role::Owner) {
                    keep_an_owner!(conn, site_id, user_id);
                }
                let target = users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::id.eq(user_id));
                if change.end_sessions {
                    diesel::update(
                        sessions::table
                            .filter(sessions::user_id.eq(user_id))
                            .filter(sessions::revoked_at.is_null()),
                    )
                    .set(sessions::revoked_at.eq(now))
                    .execute(conn)
                    .await?;
                }
                // One statement: absent fields (`None`) are left out of the SET list.
                Ok(diesel::update(target)
                    .set((
                        change.name.as_ref().map(|v| users::name.eq(v)),
                        change.email.as_ref().map(|v| users::email.eq(v)),
                        change.role.map(|r| users::role.eq(r.as_str())),
                        change.password_hash.as_ref().map(|v| users::password_hash.eq(v)),
                        users::updated_at.eq(now),
                    ))
                    .returning(user_columns!())
                    .get_result::<UserTuple>(conn)
                    .await?)
            })?;
            Ok(user_from(row)?.0)
        })
    }

    fn delete_user(
        &self,
        by: &jekcms_auth::Writer,
        user_id: i64,
        heir_id: i64,
    ) -> impl Future<Output = Result<(), AccountError>> + Send {
        let by = by.clone();
        let site_id = by.site_id();
        crate::boxed::<Result<(), AccountError>>(async move {
            let at = jekcms_auth::now();
            let now = naive(at);
            with_write_txn!(self, (), conn => {
                keep_an_owner!(conn, site_id, user_id);
                let heir: Vec<i64> = users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::id.eq(heir_id))
                    .select(users::id)
                    .load(conn)
                    .await?;
                if heir.is_empty() {
                    return Err(StoreError::NotFound);
                }
                // The content changes hands: a new version, so ETags and `updated_since` syncs
                // see it.
                let posts_moved: Vec<i64> = diesel::update(posts::table.filter(posts::site_id.eq(site_id)).filter(posts::author_id.eq(user_id)))
                    .set((
                        posts::author_id.eq(heir_id),
                        posts::updated_at.eq(now),
                        posts::version.eq(posts::version + 1),
                    ))
                    .returning(posts::id)
                    .get_results(conn)
                    .await?;
                let media_moved: Vec<i64> = diesel::update(media::table.filter(media::site_id.eq(site_id)).filter(media::author_id.eq(user_id)))
                    .set((media::author_id.eq(heir_id), media::updated_at.eq(now)))
                    .returning(media::id)
                    .get_results(conn)
                    .await?;
                // Every post and medium that changed hands is an update.
                let events: Vec<NewEvent> = posts_moved
                    .iter()
                    .map(|&id| NewEvent::new(EventType::PostUpdated, id))
                    .chain(media_moved.iter().map(|&id| NewEvent::new(EventType::MediaUpdated, id)))
                    .collect();
                crate::activity::RecordEvents::record_write(conn, &by, at, &events).await?;
                // Keys, sessions and refresh tokens go with the user (ON DELETE CASCADE).
                let n = diesel::delete(users::table.filter(users::site_id.eq(site_id)).filter(users::id.eq(user_id)))
                    .execute(conn)
                    .await?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })?;
            Ok(())
        })
    }

    fn owner_count(&self, site_id: i64) -> impl Future<Output = Result<u64, AccountError>> + Send {
        crate::boxed::<Result<u64, AccountError>>(
            async move { Ok(self.count_owners(site_id).await?) },
        )
    }

    fn create_key(
        &self,
        site_id: i64,
        key: NewApiKey,
    ) -> impl Future<Output = Result<ApiKey, AccountError>> + Send {
        crate::boxed::<Result<ApiKey, AccountError>>(async move {
            let now = naive(jekcms_auth::now());
            let expires_at = key.expires_at.map(naive);
            let row: KeyTuple = with_write_conn!(self, conn => {
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::site_id.eq(site_id),
                        api_keys::user_id.eq(key.user_id),
                        api_keys::public_id.eq(&key.public_id),
                        api_keys::family.eq(key.family.as_str()),
                        api_keys::secret_hash.eq(key.secret_hash.as_bytes()),
                        api_keys::name.eq(&key.name),
                        api_keys::created_at.eq(now),
                        api_keys::expires_at.eq(expires_at),
                    ))
                    .returning(key_columns!())
                    .get_result::<KeyTuple>(conn)
                    .await
                    // A unique violation here is a colliding random id (`UniqueKey::KeyId`):
                    // not the caller's fault, so an internal error, never a conflict.
                    .map_err(StoreError::from)?
            });
            Ok(key_from(row))
        })
    }

    fn list_keys(
        &self,
        site_id: i64,
        scope: KeyScope<'_>,
        after: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ApiKey>, AccountError>> + Send {
        let after = after.unwrap_or(0);
        let own_user_id = scope.own_user_id;
        let roles: Vec<&'static str> = scope.roles.iter().map(|r| r.as_str()).collect();
        crate::boxed::<Result<Vec<ApiKey>, AccountError>>(async move {
            let rows: Vec<KeyTuple> = with_conn!(self, conn => {
                api_keys::table
                    .inner_join(users::table.on(users::id.eq(api_keys::user_id)))
                    .filter(api_keys::site_id.eq(site_id))
                    .filter(api_keys::id.gt(after))
                    .filter(api_keys::user_id.eq(own_user_id).or(users::role.eq_any(&roles)))
                    .order(api_keys::id.asc())
                    .select(key_columns!())
                    .limit_literal(limit)
                    .load::<KeyTuple>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(rows.into_iter().map(key_from).collect())
        })
    }

    fn get_key(
        &self,
        site_id: i64,
        key_id: i64,
    ) -> impl Future<Output = Result<(ApiKey, Role), AccountError>> + Send {
        crate::boxed::<Result<(ApiKey, Role), AccountError>>(async move {
            let (row, role): (KeyTuple, String) = with_conn!(self, conn => {
                api_keys::table
                    .inner_join(users::table.on(users::id.eq(api_keys::user_id)))
                    .filter(api_keys::site_id.eq(site_id))
                    .filter(api_keys::id.eq(key_id))
                    .select((key_columns!(), users::role))
                    .limit_literal(1).get_result::<(KeyTuple, String)>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            let role = role.parse().map_err(|_| {
                StoreError::Corrupt(format!("the user of key {key_id} has an unknown role"))
            })?;
            Ok((key_from(row), role))
        })
    }

    fn revoke_key(
        &self,
        site_id: i64,
        key_id: i64,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AccountError>> + Send {
        crate::boxed::<Result<(), AccountError>>(async move {
            let at = naive(at);
            let n = with_write_conn!(self, conn => {
                diesel::update(
                    api_keys::table
                        .filter(api_keys::site_id.eq(site_id))
                        .filter(api_keys::id.eq(key_id))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set(api_keys::revoked_at.eq(at))
                .execute(conn)
                .await
                .map_err(StoreError::from)?
            });
            if n == 0 {
                return Err(AccountError::NotFound);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::sites;
    use crate::testing::TestDatabase;
    use crate::{Store, StoreError, UniqueKey, with_write_conn};
    use diesel_async::RunQueryDsl;

    /// Unique violations are told apart by the rule they break, on both stores: an email
    /// taken in the site is a conflict on `email`, as the API says; a colliding generated key
    /// id or site slug is not (before, every one read "email is already taken").
    async fn unique_violations_are_mapped_by_constraint(store: Store) {
        use diesel::ExpressionMethods;
        use jekcms_accounts::model::{KeyFamily, NewApiKey, NewUser, UserChange};
        use jekcms_accounts::{AccountError, AccountStore};
        use jekcms_auth::Role;
        let user = |email: &str| NewUser {
            name: "N".into(),
            email: email.into(),
            role: Role::Editor,
            password_hash: None,
        };
        let (site, owner) = store
            .register("Blog", jekcms_auth::Plan::Unlimited, user("a@example.com"))
            .await
            .unwrap();

        // The email: on create and on update, exactly as before.
        match store.create_user(site.id, user("a@example.com")).await {
            Err(AccountError::Conflict { field }) => assert_eq!(field, "email"),
            other => panic!("{other:?}"),
        }
        let other = store
            .create_user(site.id, user("b@example.com"))
            .await
            .unwrap();
        let change = UserChange {
            email: Some("a@example.com".into()),
            ..Default::default()
        };
        match store.update_user(site.id, other.id, change).await {
            Err(AccountError::Conflict { field }) => assert_eq!(field, "email"),
            other => panic!("{other:?}"),
        }

        // A generated key id that collides: a fault of ours, not the caller's email.
        let key = || NewApiKey {
            user_id: owner.id,
            family: KeyFamily::Api,
            name: "ci".into(),
            public_id: "api_same".into(),
            secret_hash: jekcms_auth::SecretHash([7; 32]),
            expires_at: None,
        };
        store.create_key(site.id, key()).await.unwrap();
        match store.create_key(site.id, key()).await {
            Err(AccountError::Internal(cause)) => {
                assert!(cause.to_string().contains("KeyId"), "{cause}")
            }
            other => panic!("{other:?}"),
        }

        // A site slug taken: the store error names it, and it is no conflict on `email`.
        let now = chrono::Utc::now().naive_utc();
        let taken = async {
            with_write_conn!(store, conn => {
                diesel::insert_into(sites::table)
                    .values((
                        sites::slug.eq(&site.slug),
                        sites::name.eq("Again"),
                        sites::plan.eq("unlimited"),
                        sites::api_access.eq(true),
                        sites::created_at.eq(now),
                    ))
                    .execute(conn)
                    .await
                    .map_err(StoreError::from)
            })
        }
        .await;
        let Err(e) = taken else {
            panic!("a second site with slug {} was stored", site.slug)
        };
        assert_eq!(
            format!("{e:?}"),
            format!("{:?}", StoreError::Unique(UniqueKey::SiteSlug))
        );
        assert!(!matches!(
            AccountError::from(e),
            AccountError::Conflict { .. }
        ));

        // Registrations of one site name at once all succeed, each with its own slug (on
        // PostgreSQL the losers of the race for a slug look again).
        let names: Vec<_> = (0..4).map(|i| format!("r{i}@example.com")).collect();
        let registered = futures_util::future::join_all(
            names
                .iter()
                .map(|email| store.register("Race", jekcms_auth::Plan::Unlimited, user(email))),
        )
        .await;
        let mut slugs: Vec<String> = registered
            .into_iter()
            .map(|r| r.expect("registered").0.slug)
            .collect();
        slugs.sort();
        assert_eq!(slugs, ["race", "race-2", "race-3", "race-4"]);
    }

    #[tokio::test]
    async fn unique_violations_are_mapped_by_constraint_on_sqlite() {
        let db = TestDatabase::sqlite();
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        unique_violations_are_mapped_by_constraint(store).await;
    }

    #[tokio::test]
    async fn unique_violations_are_mapped_by_constraint_on_postgres() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        unique_violations_are_mapped_by_constraint(store).await;
    }
}
