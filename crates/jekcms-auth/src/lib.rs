//! JekCMS credentials: what a caller presents, how it is checked, and what it may do.
//!
//! - [`credential`]: the key families (`api_`, `sk_`, `rf_`, `mcp_`, `pk_`), their random
//!   generation with a checksum, SHA-256 hashing for storage and constant-time comparison.
//! - [`access`]: 15-minute PASETO v4.local access tokens ([`AccessTokens`]).
//! - [`password`]: Argon2id password hashing for user accounts.
//! - [`sealed`]: small secrets the server must read back, sealed with the deployment key.
//! - [`policy`]: roles and the one place that decides whether a role may perform an action.
//! - [`plan`]: a site's plan ([`Plan`]), which names its per-site quotas.
//! - [`session`]: the token pair's rules ([`TokenService`]) over a [`SessionStore`].
//!
//! This crate holds no state and does no I/O: storing sessions and keys is the store's job,
//! speaking HTTP is the app's. It must not depend on a web framework or a database.
//!
//! The stateless half, from a plain program: an API key pair and an access token. The refresh
//! token and the session behind the pair need a [`SessionStore`] (`jekcms-store` implements
//! it over SQLite and PostgreSQL), which [`TokenService`] drives.
//!
//! ```
//! use jekcms_auth::{AccessTokens, AuthError, CredentialFamily, SecretHash};
//! use std::time::Duration;
//!
//! // A key pair: the public id, and the secret, which is stored only as its hash.
//! let key_id = CredentialFamily::ApiKey.generate();
//! let secret = CredentialFamily::ApiSecret.generate();
//! assert!(CredentialFamily::ApiKey.is_well_formed(&key_id));
//! assert_eq!(CredentialFamily::detect(&secret), Some(CredentialFamily::ApiSecret));
//! let stored = SecretHash::of(&secret);
//! assert!(stored.matches(&secret) && !stored.matches(&key_id));
//!
//! // A 15-minute access token for session 1 of user 10 on site 3.
//! let tokens = AccessTokens::new(&[7u8; 32], Duration::from_secs(900));
//! let token = tokens.issue(1, 10, 3);
//! let claims = tokens.verify(&token)?;
//! assert_eq!((claims.session_id, claims.user_id, claims.site_id), (1, 10, 3));
//! // Made under another deployment secret, or altered, it is refused.
//! let other = AccessTokens::new(&[8u8; 32], Duration::from_secs(900));
//! assert!(matches!(other.verify(&token), Err(AuthError::Invalid(_))));
//! assert!(tokens.verify(&format!("{token}x")).is_err());
//! # Ok::<(), AuthError>(())
//! ```

pub mod access;
pub mod credential;
pub mod password;
pub mod plan;
pub mod policy;
pub mod sealed;
pub mod session;

pub use access::{AccessClaims, AccessTokens};
pub use credential::{CredentialFamily, SecretHash};
pub use plan::Plan;
pub use policy::{Action, Actor, ActorFamily, Role, Writer};
pub use session::{
    KeyPrincipal, Principal, SessionFamily, SessionStore, TokenPair, TokenPolicy, TokenService,
};

/// Why a presented credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The access token was genuine but its lifetime is over.
    #[error("the access token has expired; refresh it and retry")]
    Expired,
    /// Malformed, forged, unknown, revoked or otherwise unusable.
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    /// An `Invalid` error with a caller-facing message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// Now, to the microsecond (the precision both stores keep).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let t = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}
