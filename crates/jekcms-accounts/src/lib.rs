//! JekCMS accounts: registration and login with passwords, the users of a site, and their
//! API keys — and the rules for who may manage whom (API.md §2.2, §2.3).
//!
//! - [`model`]: users, sites and keys as the API shows them, and request bodies parsed with
//!   one error per bad field.
//! - [`site`]: a site's settings ([`SiteDetails`]) and the owner's change to them
//!   ([`site::SitePatch`], origins checked as browsers send them).
//! - [`repo`]: [`AccountStore`], the storage this crate needs; `jekcms-store` implements it
//!   for SQLite and PostgreSQL and makes each method one atomic step (the "last owner"
//!   invariant included).
//! - [`service`]: the operations as an [`Actor`](jekcms_auth::Actor) performs them, role checks
//!   first (from [`jekcms_auth::policy`], never ad hoc), then the store.
//!
//! This crate does no I/O of its own and knows nothing of HTTP or SQL. Password hashing
//! (Argon2id, ~15 ms of CPU and 19 MiB) runs on a few dedicated password threads (half the
//! cores), so that it never stalls an async worker nor takes every core.

pub mod model;
pub mod repo;
pub mod service;
pub mod site;

pub use model::{ApiKey, CreatedKey, KeyFamily, Site, User};
pub use repo::AccountStore;
pub use site::SiteDetails;

/// One invalid field of a request body (the one type of every crate, from
/// `jekcms-envelope`).
pub use jekcms_envelope::FieldError;

/// What can go wrong with an account operation.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request broke one or more rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The email and password do not match an account (the same answer for every case).
    #[error(
        "the email or password is incorrect (an email that belongs to several sites also needs the site's slug in site)"
    )]
    BadCredentials,
    /// The credentials are good but the site's license does not include API access.
    #[error("this site's license does not include API access")]
    LicenseRequired,
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such user or key in the caller's site.
    #[error("not found")]
    NotFound,
    /// A unique value is taken (`email`).
    #[error("{field} is already taken")]
    Conflict {
        /// The field whose value collides.
        field: String,
    },
    /// The change would leave the site without an owner.
    #[error("a site must keep at least one owner")]
    LastOwner,
    /// The store is unreachable.
    #[error("storage unavailable")]
    Unavailable,
    /// Anything else; the source is for logs only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AccountError {
    /// A validation error for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Wraps an internal fault.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into())
    }
}

impl From<jekcms_auth::policy::Denied> for AccountError {
    fn from(d: jekcms_auth::policy::Denied) -> Self {
        Self::Forbidden(d.0)
    }
}

impl From<jekcms_auth::session::StoreFailure> for AccountError {
    fn from(e: jekcms_auth::session::StoreFailure) -> Self {
        match e {
            jekcms_auth::session::StoreFailure::Unavailable => Self::Unavailable,
            jekcms_auth::session::StoreFailure::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<jekcms_auth::session::SessionError> for AccountError {
    fn from(e: jekcms_auth::session::SessionError) -> Self {
        match e {
            jekcms_auth::session::SessionError::Auth(_) => Self::BadCredentials,
            jekcms_auth::session::SessionError::LicenseRequired => Self::LicenseRequired,
            jekcms_auth::session::SessionError::Store(s) => s.into(),
        }
    }
}
