//! [`AccountStore`]: what a store must provide for accounts. Every method taking a
//! `site_id` must never read or change another site's rows.

use crate::AccountError;
use crate::model::{ApiKey, NewApiKey, NewUser, Site, User, UserChange};
use crate::site::{SiteDetails, SitePatch};
use chrono::{DateTime, Utc};
use jekcms_auth::{Plan, Role};
use std::future::Future;

/// A user with their stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The user.
    pub user: User,
    /// Argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
    /// Whether the user's site's license includes API access.
    pub site_api_access: bool,
}

/// Which keys a listing shows.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    /// Keys of this user, always.
    pub own_user_id: i64,
    /// And keys of users holding one of these roles.
    pub roles: &'a [Role],
}

/// Storage of sites, users and keys. Each method is one atomic step.
pub trait AccountStore: Send + Sync {
    /// Creates a site named `site_name` (slug made from the name, suffixed until unique and
    /// never one of [`RESERVED_SITE_SLUGS`](crate::model::RESERVED_SITE_SLUGS)) with
    /// `owner` as its first user, on `plan`.
    fn register(
        &self,
        site_name: &str,
        plan: Plan,
        owner: NewUser,
    ) -> impl Future<Output = Result<(Site, User), AccountError>> + Send;

    /// The site with this id.
    fn site(&self, site_id: i64) -> impl Future<Output = Result<Site, AccountError>> + Send;

    /// The site with this id, its origins and its active pull key (the newest without an
    /// end of validity), or `NotFound`.
    fn site_details(
        &self,
        site_id: i64,
    ) -> impl Future<Output = Result<SiteDetails, AccountError>> + Send;

    /// Applies an owner's change to the site: the name, and the set of origins replaced as
    /// a whole, in one transaction. Returns the site as it now is.
    fn update_site(
        &self,
        site_id: i64,
        patch: SitePatch,
    ) -> impl Future<Output = Result<SiteDetails, AccountError>> + Send;

    /// Users with this (normalised) email, with their password hashes, in id order and at
    /// most two: of the site with slug `site_slug`, or of any site when it is `None`.
    fn login_records(
        &self,
        email: &str,
        site_slug: Option<&str>,
    ) -> impl Future<Output = Result<Vec<LoginRecord>, AccountError>> + Send;

    /// Users of a site in id order, after `after`, at most `limit`.
    fn list_users(
        &self,
        site_id: i64,
        after: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<User>, AccountError>> + Send;

    /// One user of the site, or `NotFound`.
    fn get_user(
        &self,
        site_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<User, AccountError>> + Send;

    /// The Argon2id PHC string of a user of the site (`None`: the user has no password), or
    /// `NotFound`.
    fn password_hash(
        &self,
        site_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<Option<String>, AccountError>> + Send;

    /// Creates a user. An email taken in the same site is `Conflict { field: "email" }`.
    fn create_user(
        &self,
        site_id: i64,
        user: NewUser,
    ) -> impl Future<Output = Result<User, AccountError>> + Send;

    /// Applies a change. Demoting the site's last owner is `LastOwner`, checked atomically
    /// with the change (two admins demoting the last two owners at once cannot both win).
    fn update_user(
        &self,
        site_id: i64,
        user_id: i64,
        change: UserChange,
    ) -> impl Future<Output = Result<User, AccountError>> + Send;

    /// Deletes a user of the writer's site, their keys and sessions; their posts and media
    /// pass to `heir_id` (a user of the same site), each recorded as updated by `by`.
    /// Deleting the last owner is `LastOwner`.
    fn delete_user(
        &self,
        by: &jekcms_auth::Writer,
        user_id: i64,
        heir_id: i64,
    ) -> impl Future<Output = Result<(), AccountError>> + Send;

    /// How many owners the site has.
    fn owner_count(&self, site_id: i64) -> impl Future<Output = Result<u64, AccountError>> + Send;

    /// Stores a key; only the secret's hash is kept.
    fn create_key(
        &self,
        site_id: i64,
        key: NewApiKey,
    ) -> impl Future<Output = Result<ApiKey, AccountError>> + Send;

    /// Keys of the site in id order within `scope`, after `after`, at most `limit`.
    fn list_keys(
        &self,
        site_id: i64,
        scope: KeyScope<'_>,
        after: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ApiKey>, AccountError>> + Send;

    /// One key of the site with its user's role, or `NotFound`.
    fn get_key(
        &self,
        site_id: i64,
        key_id: i64,
    ) -> impl Future<Output = Result<(ApiKey, Role), AccountError>> + Send;

    /// Revokes a key (its sessions end on their next request). Already revoked: `NotFound`.
    fn revoke_key(
        &self,
        site_id: i64,
        key_id: i64,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AccountError>> + Send;
}
