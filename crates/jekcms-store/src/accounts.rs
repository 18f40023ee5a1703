//! Sites, users, API keys and deployment settings.

use crate::schema::{api_keys, posts, settings, sites, users};
use crate::{Store, StoreError, naive, with_conn, with_write_conn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_auth::{Role, SecretHash};

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

/// A newly created API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Row id.
    pub id: i64,
    /// Public id (`api_…` or `mcp_…`).
    pub public_id: String,
    /// `api` or `mcp`.
    pub family: String,
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
            .map_err(|_| StoreError::Config(format!("user {} has an unknown role", self.id)))?;
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
    /// Returns the value of a deployment setting, storing `make()` first if it has none.
    /// Safe when several instances start at once: the first writer wins, all read its value.
    pub async fn setting_or_insert(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let candidate = make();
        with_write_conn!(self, conn => {
            diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(&candidate)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            Ok(settings::table
                .filter(settings::name.eq(name))
                .select(settings::value)
                .first::<String>(conn)
                .await?)
        })
    }

    /// The site with this slug, created (named `name`) if missing.
    pub async fn ensure_site(&self, slug: &str, name: &str) -> Result<SiteRecord, StoreError> {
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
                .first::<(i64, String, String)>(conn)
                .await?;
            Ok(SiteRecord { id, slug, name })
        })
    }

    /// The user with this email, created in `site_id` with `role` if missing. A user of
    /// another site is a `Config` error: one email belongs to one site.
    pub async fn ensure_user(
        &self,
        site_id: i64,
        email: &str,
        name: &str,
        role: Role,
    ) -> Result<UserRecord, StoreError> {
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
                .filter(users::email.eq(email))
                .select((users::id, users::site_id, users::email, users::name, users::role))
                .first::<UserRow>(conn)
                .await?
        })
        .into_record()?;
        if user.site_id != site_id {
            return Err(StoreError::Config(format!(
                "{email} already belongs to another site"
            )));
        }
        Ok(user)
    }

    /// Stores a new key for a user; only the secret's hash is kept.
    pub async fn create_api_key(
        &self,
        user: &UserRecord,
        family: &str,
        name: &str,
        public_id: &str,
        secret_hash: &SecretHash,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiKeyInfo, StoreError> {
        let now = naive(jekcms_auth::now());
        let expires_at: Option<NaiveDateTime> = expires_at.map(naive);
        with_write_conn!(self, conn => {
            let id = diesel::insert_into(api_keys::table)
                .values((
                    api_keys::site_id.eq(user.site_id),
                    api_keys::user_id.eq(user.id),
                    api_keys::public_id.eq(public_id),
                    api_keys::family.eq(family),
                    api_keys::secret_hash.eq(secret_hash.as_bytes()),
                    api_keys::name.eq(name),
                    api_keys::created_at.eq(now),
                    api_keys::expires_at.eq(expires_at),
                ))
                .returning(api_keys::id)
                .get_result::<i64>(conn)
                .await?;
            Ok(ApiKeyInfo {
                id,
                public_id: public_id.to_owned(),
                family: family.to_owned(),
            })
        })
    }

    /// Grants or withdraws the site's API access (its license); without it every
    /// authenticated `/api/v2` request is refused with `LICENSE_REQUIRED`.
    pub async fn set_site_api_access(
        &self,
        site_id: i64,
        api_access: bool,
    ) -> Result<(), StoreError> {
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
    }

    /// Number of posts in a site.
    pub async fn count_posts(&self, site_id: i64) -> Result<u64, StoreError> {
        let n: i64 = with_conn!(self, conn => {
            posts::table
                .filter(posts::site_id.eq(site_id))
                .count()
                .get_result(conn)
                .await?
        });
        Ok(n as u64)
    }

    /// Revokes a key: sessions started from it stop working on their next request.
    pub async fn revoke_api_key(&self, site_id: i64, key_id: i64) -> Result<(), StoreError> {
        let now = naive(jekcms_auth::now());
        let n = with_write_conn!(self, conn => {
            diesel::update(
                api_keys::table
                    .filter(api_keys::site_id.eq(site_id))
                    .filter(api_keys::id.eq(key_id))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)
            .await?
        });
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Changes a user's role (takes effect on the user's next request).
    pub async fn set_user_role(
        &self,
        site_id: i64,
        user_id: i64,
        role: Role,
    ) -> Result<(), StoreError> {
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
    }
}
