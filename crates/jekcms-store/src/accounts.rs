//! Sites, users, API keys and deployment settings.

use crate::schema::{api_keys, media, posts, sessions, settings, sites, users};
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, UniqueKey, naive, utc, with_conn, with_write_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_accounts::model::{NewApiKey, NewUser, UserChange};
use jekcms_accounts::repo::{AccountStore, KeyScope, LoginRecord};
use jekcms_accounts::{AccountError, ApiKey, Site, User};
use jekcms_auth::Role;
use std::future::Future;

/// SQLite's default page cache (`PRAGMA cache_size = -2000`), in KiB.
const DEFAULT_CACHE_KIB: u32 = 2_000;
/// The SQLite writer's page cache during a bulk load, in KiB (see `Store::before_bulk_load`).
const BULK_LOAD_CACHE_KIB: u32 = 256 * 1024;

/// Attempts of a registration whose site slug was taken by a concurrent one.
const SITE_SLUG_ATTEMPTS: usize = 5;

/// A site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    /// Id.
    pub id: i64,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: i64,
    /// Site.
    pub site_id: i64,
    /// Unique email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role within the site.
    pub role: Role,
}

#[derive(Queryable)]
struct UserRow {
    id: i64,
    site_id: i64,
    email: String,
    name: String,
    role: String,
}

impl UserRow {
    fn into_record(self) -> Result<UserRecord, StoreError> {
        let role = self
            .role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("user {} has an unknown role", self.id)))?;
        Ok(UserRecord {
            id: self.id,
            site_id: self.site_id,
            email: self.email,
            name: self.name,
            role,
        })
    }
}

impl Store {
    /// The value of a deployment setting, if it has one.
    pub fn setting(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        let name = name.to_owned();
        crate::boxed::<Result<Option<String>, StoreError>>(async move {
            let name: &str = &name;
            Ok(with_conn!(self, conn => {
                settings::table
                    .filter(settings::name.eq(name))
                    .select(settings::value)
                    .limit_literal(1)
                    .get_result::<String>(conn)
                    .await
                    .optional()?
            }))
        })
    }

    /// Removes a deployment setting (no-op if it has none).
    pub fn delete_setting(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let name = name.to_owned();
        crate::boxed::<Result<(), StoreError>>(async move {
            let name: &str = &name;
            with_write_conn!(self, conn => {
                diesel::delete(settings::table.filter(settings::name.eq(name)))
                    .execute(conn)
                    .await?;
            });
            Ok(())
        })
    }

    /// The site with this slug, created (named `name`) if missing.
    pub fn ensure_site(
        &self,
        slug: &str,
        name: &str,
    ) -> impl Future<Output = Result<SiteRecord, StoreError>> + Send {
        let slug = slug.to_owned();
        let name = name.to_owned();
        crate::boxed::<Result<SiteRecord, StoreError>>(async move {
            let slug: &str = &slug;
            let name: &str = &name;
            let now = naive(jekcms_auth::now());
            with_write_conn!(self, conn => {
                diesel::insert_into(sites::table)
                    .values((
                        sites::slug.eq(slug),
                        sites::name.eq(name),
                        sites::plan.eq("free"),
                        sites::api_access.eq(true),
                        sites::created_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                let (id, slug, name) = sites::table
                    .filter(sites::slug.eq(slug))
                    .select((sites::id, sites::slug, sites::name))
                    .limit_literal(1).get_result::<(i64, String, String)>(conn)
                    .await?;
                Ok(SiteRecord { id, slug, name })
            })
        })
    }

    /// The user of `site_id` with this email, created with `role` if missing.
    pub fn ensure_user(
        &self,
        site_id: i64,
        email: &str,
        name: &str,
        role: Role,
    ) -> impl Future<Output = Result<UserRecord, StoreError>> + Send {
        let email = email.to_owned();
        let name = name.to_owned();
        crate::boxed::<Result<UserRecord, StoreError>>(async move {
            let email: &str = &email;
            let name: &str = &name;
            let now = naive(jekcms_auth::now());
            let user = with_write_conn!(self, conn => {
                diesel::insert_into(users::table)
                    .values((
                        users::site_id.eq(site_id),
                        users::email.eq(email),
                        users::name.eq(name),
                        users::role.eq(role.as_str()),
                        users::created_at.eq(now),
                        users::updated_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::email.eq(email))
                    .select((users::id, users::site_id, users::email, users::name, users::role))
                    .limit_literal(1).get_result::<UserRow>(conn)
                    .await?
            })
            .into_record()?;
            Ok(user)
        })
    }

    /// The user of `site_id` with this email, if any.
    pub fn find_user(
        &self,
        site_id: i64,
        email: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send {
        let email = email.to_owned();
        crate::boxed::<Result<Option<UserRecord>, StoreError>>(async move {
            let email: &str = &email;
            let row = with_conn!(self, conn => {
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::email.eq(email))
                    .select((users::id, users::site_id, users::email, users::name, users::role))
                    .limit_literal(1)
                    .get_result::<UserRow>(conn)
                    .await
                    .optional()?
            });
            row.map(UserRow::into_record).transpose()
        })
    }

    /// Grants or withdraws the site's API access (its license); without it every
    /// authenticated `/api/v2` request is refused with `LICENSE_REQUIRED`.
    pub fn set_site_api_access(
        &self,
        site_id: i64,
        api_access: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            let n = with_write_conn!(self, conn => {
                diesel::update(sites::table.filter(sites::id.eq(site_id)))
                    .set(sites::api_access.eq(api_access))
                    .execute(conn)
                    .await?
            });
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    /// Number of posts in a site.
    pub fn count_posts(
        &self,
        site_id: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        crate::boxed::<Result<u64, StoreError>>(async move {
            let n: i64 = with_conn!(self, conn => {
                posts::table
                    .filter(posts::site_id.eq(site_id))
                    .count()
                    .get_result(conn)
                    .await?
            });
            Ok(n as u64)
        })
    }

    /// Before a bulk load (`jekcms seed`): on SQLite, a page cache for the writer large
    /// enough to hold the indexes being filled (256 MiB at most, taken only as pages are
    /// touched). With SQLite's default 2 MiB, every batch of random inserts into the slug
    /// and title indexes spilled and re-read the same pages: 100,000 posts took 30 s, most
    /// of it in `pwrite`/`pread` system calls. [`Store::after_bulk_load`] restores it.
    pub fn before_bulk_load(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            self.set_sqlite_writer_cache(BULK_LOAD_CACHE_KIB).await
        })
    }

    /// After a bulk load (`jekcms seed`): on PostgreSQL, `VACUUM (ANALYZE)` of the content
    /// tables, so the planner has statistics and the visibility map lets counts use
    /// index-only scans — what autovacuum would arrange a minute later, done before anyone
    /// measures. On SQLite, the writer's page cache goes back to the default (see
    /// [`Store::before_bulk_load`]).
    pub fn after_bulk_load(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            if let crate::Db::Pg(pool) = &self.db {
                let mut conn = pool.get().await.map_err(StoreError::pool)?;
                diesel_async::RunQueryDsl::execute(
                    diesel::sql_query("VACUUM (ANALYZE) posts, post_tags"),
                    &mut *conn,
                )
                .await?;
            }
            self.set_sqlite_writer_cache(DEFAULT_CACHE_KIB).await
        })
    }

    /// `PRAGMA cache_size` of the SQLite writer (the pool's only connection); no-op on
    /// PostgreSQL.
    async fn set_sqlite_writer_cache(&self, kib: u32) -> Result<(), StoreError> {
        if let crate::Db::Sqlite { write, .. } = &self.db {
            let mut conn = write.get().await.map_err(StoreError::pool)?;
            // A negative size is in KiB; `kib` is one of our constants, not user text.
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(format!("PRAGMA cache_size = -{kib}")),
                &mut *conn,
            )
            .await?;
        }
        Ok(())
    }

    /// Number of owners of a site.
    pub fn count_owners(
        &self,
        site_id: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        crate::boxed::<Result<u64, StoreError>>(async move {
            let n: i64 = with_conn!(self, conn => {
                users::table
                    .filter(users::site_id.eq(site_id))
                    .filter(users::role.eq(Role::Owner.as_str()))
                    .count()
                    .get_result(conn)
                    .await?
            });
            Ok(n as u64)
        })
    }

    /// Changes a user's role (takes effect on the user's next request).
    pub fn set_user_role(
        &self,
        site_id: i64,
        user_id: i64,
        role: Role,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            let now = naive(jekcms_auth::now());
            let n = with_write_conn!(self, conn => {
                diesel::update(users::table.filter(users::site_id.eq(site_id)).filter(users::id.eq(user_id)))
                    .set((users::role.eq(role.as_str()), users::updated_at.eq(now)))
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

type UserTuple = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

/// The columns of [`UserTuple`].
macro_rules! user_columns {
    () => {
        (
            users::id,
            users::site_id,
            users::email,
            users::name,
            users::role,
            users::password_hash,
            users::created_at,
            users::updated_at,
        )
    };
}

/// Inserts a [`NewUser`] into a site; evaluates to the new row as a [`UserTuple`].
macro_rules! insert_user {
    ($conn:expr, $site_id:expr, $user:expr, $now:expr) => {{
        let user: &NewUser = $user;
        diesel::insert_into(users::table)
            .values((
                users::site_id.eq($site_id),
                users::email.eq(&user.email),
                users::name.eq(&user.name),
                users::role.eq(user.role.as_str()),
                users::password_hash.eq(&user.password_hash),
                users::created_at.eq($now),
                users::updated_at.eq($now),
            ))
            .returning(user_columns!())
            .get_result::<UserTuple>($conn)
            .await
    }};
}

fn user_from(row: UserTuple) -> Result<(User, Option<String>), StoreError> {
    let (id, site_id, email, name, role, password_hash, created_at, updated_at) = row;
    let role = role
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("user {id} has an unknown role")))?;
    Ok((
        User {
            id,
            site_id,
            name,
            email,
            role,
            has_password: password_hash.is_some(),
            created_at: utc(created_at),
            updated_at: utc(updated_at),
        },
        password_hash,
    ))
}

type KeyTuple = (
    i64,
    String,
    String,
    String,
    i64,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

macro_rules! key_columns {
    () => {
        (
            api_keys::id,
            api_keys::public_id,
            api_keys::name,
            api_keys::family,
            api_keys::user_id,
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::expires_at,
            api_keys::revoked_at,
        )
    };
}

fn key_from(row: KeyTuple) -> ApiKey {
    let (id, key_id, name, family, user_id, created_at, last_used_at, expires_at, revoked_at) = row;
    ApiKey {
        id,
        key_id,
        name,
        family,
        user_id,
        created_at: utc(created_at),
        last_used_at: last_used_at.map(utc),
        expires_at: expires_at.map(utc),
        revoked_at: revoked_at.map(utc),
    }
}

/// Inside a write transaction: serialises changes to one site's users (PostgreSQL takes
/// the site row's lock; SQLite's writer is exclusive already), then refuses with
/// `LastOwner` if `user_id` is the site's only owner.
macro_rules! keep_an_owner {
    ($conn:expr, $site_id:expr, $user_id:expr) => {{
        diesel::update(sites::table.filter(sites::id.eq($site_id)))
            .set(sites::id.eq(sites::id))
            .execute($conn)
            .await?;
        let owners: Vec<i64> = users::table
            .filter(users::site_id.eq($site_id))
            .filter(users::role.eq(Role::Owner.as_str()))
            .select(users::id)
            .limit_literal(2)
            .load($conn)
            .await?;
        if owners == [$user_id] {
            return Err(StoreError::LastOwner);
        }
    }};
}

impl AccountStore for Store {
    fn register(
        &self,
        site_name: &str,
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
                            sites::plan.eq("free"),
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
        site_id: i64,
        user_id: i64,
        heir_id: i64,
    ) -> impl Future<Output = Result<(), AccountError>> + Send {
        crate::boxed::<Result<(), AccountError>>(async move {
            let now = naive(jekcms_auth::now());
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
                diesel::update(posts::table.filter(posts::site_id.eq(site_id)).filter(posts::author_id.eq(user_id)))
                    .set((
                        posts::author_id.eq(heir_id),
                        posts::updated_at.eq(now),
                        posts::version.eq(posts::version + 1),
                    ))
                    .execute(conn)
                    .await?;
                diesel::update(media::table.filter(media::site_id.eq(site_id)).filter(media::author_id.eq(user_id)))
                    .set((media::author_id.eq(heir_id), media::updated_at.eq(now)))
                    .execute(conn)
                    .await?;
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
    use crate::{Db, Store, StoreError, UniqueKey, with_write_conn};
    use diesel::sql_types::{BigInt, Bool};
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct CacheSize {
        #[diesel(sql_type = BigInt)]
        cache_size: i64,
    }

    #[derive(diesel::QueryableByName)]
    struct Maintained {
        #[diesel(sql_type = Bool)]
        vacuumed_and_analyzed: bool,
    }

    /// `PRAGMA cache_size` of the SQLite writer (negative: KiB).
    async fn writer_cache_size(store: &Store) -> i64 {
        let Db::Sqlite { write, .. } = &store.db else {
            panic!("a SQLite store");
        };
        let mut conn = write.get().await.expect("writer");
        diesel::sql_query("PRAGMA cache_size")
            .get_result::<CacheSize>(&mut *conn)
            .await
            .expect("pragma")
            .cache_size
    }

    /// A role no version of JekCMS writes is a corrupt row, not a configuration problem.
    #[test]
    fn an_unknown_stored_role_is_a_corrupt_row() {
        let now = chrono::Utc::now().naive_utc();
        let row = (
            7,
            1,
            "a@example.com".to_owned(),
            "A".to_owned(),
            "emperor".to_owned(),
            None,
            now,
            now,
        );
        match super::user_from(row) {
            Err(StoreError::Corrupt(m)) => assert_eq!(m, "user 7 has an unknown role"),
            other => panic!("{other:?}"),
        }
    }

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
        let (site, owner) = store.register("Blog", user("a@example.com")).await.unwrap();

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
                        sites::plan.eq("free"),
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
                .map(|email| store.register("Race", user(email))),
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

    #[tokio::test]
    async fn a_bulk_load_widens_the_sqlite_writer_cache_and_then_restores_it() {
        let db = TestDatabase::sqlite();
        let store = Store::connect(db.url(), Default::default())
            .await
            .expect("connect");
        assert_eq!(writer_cache_size(&store).await, -2_000);
        store.before_bulk_load().await.expect("before");
        assert_eq!(writer_cache_size(&store).await, -262_144);
        store.after_bulk_load().await.expect("after");
        assert_eq!(writer_cache_size(&store).await, -2_000);
    }

    #[tokio::test]
    async fn a_bulk_load_on_postgres_ends_with_vacuum_and_analyze() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default())
            .await
            .expect("connect");
        let Db::Pg(pool) = &store.db else {
            panic!("a PostgreSQL store");
        };
        let maintained = async || {
            let mut conn = pool.get().await.expect("connection");
            diesel::sql_query(
                "SELECT coalesce(bool_and(last_vacuum IS NOT NULL AND last_analyze IS NOT NULL), \
                 false) AS vacuumed_and_analyzed FROM pg_stat_user_tables \
                 WHERE relname IN ('posts', 'post_tags')",
            )
            .get_result::<Maintained>(&mut *conn)
            .await
            .expect("statistics")
            .vacuumed_and_analyzed
        };
        assert!(
            !maintained().await,
            "a new database has never been vacuumed"
        );
        store.before_bulk_load().await.expect("before");
        store.after_bulk_load().await.expect("after");
        // The statistics are published asynchronously; give them a moment.
        let mut seen = false;
        for _ in 0..50 {
            if maintained().await {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(seen, "posts and post_tags were vacuumed and analyzed");
    }
}
