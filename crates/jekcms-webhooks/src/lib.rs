//! JekCMS webhooks (API.md §10): what a site's webhook endpoints may be, and how a delivery
//! is made, following [Standard Webhooks](https://www.standardwebhooks.com/).
//!
//! - [`events`]: an endpoint's selection of event types (`*` or a list).
//! - [`target`]: the URL policy against server-side request forgery (`https` only, no
//!   loopback, private, link-local or otherwise non-public address), checked at creation
//!   and again, address by address, when a delivery connects ([`sender`]).
//! - [`signing`]: `webhook-id`, `webhook-timestamp` and `webhook-signature` (HMAC-SHA256
//!   with every `whsec_` secret still valid).
//! - [`retry`]: the retry schedule with jitter, and when a delivery gives up.
//! - [`message`]: the JSON body, and the receiver's response as it is kept.
//! - [`model`]: endpoints and deliveries as the API shows them, and the request bodies.
//! - [`service`]: the operations with their permission checks, over [`WebhookRepository`].
//! - [`sender`]: one HTTP attempt with a 10-second deadline, no redirects, no proxies.
//!
//! This crate knows neither the web framework nor the database: `jekcms-store` implements
//! [`WebhookRepository`], and the server runs the delivery worker and the handlers.
//!
//! ```
//! use jekcms_webhooks::signing::SigningKeys;
//!
//! let keys = SigningKeys::from_secrets(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
//! let signature = keys.sign("msg_1", 1_700_000_000, br#"{"type":"ping"}"#);
//! assert!(signature.starts_with("v1,"));
//! ```

pub mod events;
pub mod message;
pub mod model;
pub mod repo;
pub mod retry;
pub mod sender;
pub mod service;
pub mod signing;
pub mod target;

pub use jekcms_envelope::FieldError;
pub use model::{Delivery, DeliveryStatus, Webhook};
pub use repo::WebhookRepository;

/// What can go wrong with a webhook operation.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The input broke one or more rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such endpoint or delivery in the caller's site.
    #[error("not found")]
    NotFound,
    /// The caller's role may not manage webhooks.
    #[error("{0}")]
    Forbidden(String),
    /// The storage backend is unreachable.
    #[error("storage unavailable")]
    Unavailable,
    /// Anything else: a bug or an infrastructure fault. The source is for logs only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl WebhookError {
    /// A validation error for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Wraps an internal fault.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<jekcms_auth::policy::Denied> for WebhookError {
    fn from(d: jekcms_auth::policy::Denied) -> Self {
        Self::Forbidden(d.0)
    }
}
