//! What the `jekcms` command needs outside the API: settings, a site and user by slug and
//! email, a site's license, counts, a role.

use crate::schema::{posts, settings, sites, users};
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, naive, with_conn, with_write_conn};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_auth::{Plan, Role};
use std::future::Future;

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

    /// The site with this slug, created (named `name`, plan `unlimited`) if missing.
    pub fn ensure_site(
        &self,
        slug: &str,
        name: &str,
    ) -> impl Future<Output = Result<SiteRecord, StoreError>> + Send {
        self.ensure_site_on_plan(slug, name, Plan::Unlimited)
    }

    /// The site with this slug, created (named `name`, on `plan`) if missing; an existing
    /// site keeps its plan.
    pub fn ensure_site_on_plan(
        &self,
        slug: &str,
        name: &str,
        plan: Plan,
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
                        sites::plan.eq(plan.as_str()),
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
