//! The JekCMS content model: posts and media, the rules they obey, how they are listed,
//! and the repository traits a store implements.
//!
//! - [`activity`]: the activity log: [`activity::Writer`] (who writes), the event types
//!   every write records in its own transaction, the activity list's filters (API.md §10).
//! - [`post`]: [`Post`], the create and merge-patch inputs, and validation (API.md §3).
//! - [`slug`]: slug rules and generation from titles (the `jekcms-slug` crate, which the CLI
//!   uses too).
//! - [`page`]: the one way every list pages (API.md §4): the page request parsed once, the
//!   cursor opened and sealed under one binding, a typed keyset bound for the store, the
//!   page cutter; and the legacy offset page.
//! - [`list`]: the post list's sorts and filters on top of it.
//! - [`pull`]: the pull API for websites: visible posts, `?fields=`, pull keys' rotation.
//! - [`media`]: [`Media`] records and content-type sniffing from bytes (API.md §5).
//! - [`repo`]: [`PostRepository`] and [`MediaRepository`], implemented by `jekcms-store`.
//! - [`service`]: operations as an [`service::Actor`] performs them, role checks included.
//! - [`bulk`]: the bulk-import body, its slugs ([`bulk::SlugPlan`]) and per-item outcomes
//!   (API.md §3).
//! - [`idempotency`]: `Idempotency-Key` rules and the claim-then-replay protocol over an
//!   [`idempotency::IdempotencyStore`].
//!
//! Everything here is plain data and pure functions: no HTTP, no SQL, no file system. Every
//! repository call takes the caller's site id; no call can reach another site's rows.
//!
//! Validating a post body, as the API does before anything is stored:
//!
//! ```
//! use jekcms_content::{PostStatus, post, slug};
//! use serde_json::json;
//!
//! let new = post::parse_new(json!({"title": "  Café Über  ", "status": "published"}), "")
//!     .unwrap();
//! assert_eq!(new.title, "Café Über");
//! assert_eq!(new.status, PostStatus::Published);
//! assert_eq!(new.slug, None); // the store makes one from the title:
//! assert_eq!(slug::from_title(&new.title), "cafe-uber");
//!
//! // Every bad field is reported, not just the first.
//! let errors = post::parse_new(json!({"title": "", "slug": "Not A Slug", "color": 1}), "")
//!     .unwrap_err();
//! let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
//! assert_eq!(fields, ["color", "title", "slug"]);
//! ```

pub mod activity;
pub mod bulk;
pub mod idempotency;
pub mod list;
pub mod media;
pub mod page;
pub mod post;
pub mod pull;
pub mod repo;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod service;
pub mod timestamp;

/// Slug rules and generation from titles: the `jekcms-slug` crate, shared with the CLI.
pub use jekcms_slug as slug;

pub use list::{PostFilter, PostListQuery, PostSort};
pub use media::{Media, NewMedia};
pub use page::{ListRequest, Listing, Page, Window};
pub use post::{NewPost, Post, PostPatch, PostStatus};
pub use repo::{ActivityRepository, MediaRepository, PostRepository};

/// One invalid field: the field name and what is wrong with it (the one type of every
/// crate, from `jekcms-envelope`).
pub use jekcms_envelope::FieldError;

/// What can go wrong with a content operation.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The input broke one or more rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such resource in the caller's site.
    #[error("not found")]
    NotFound,
    /// A unique value is taken.
    #[error("{field} is already taken")]
    Conflict {
        /// The field whose value collides.
        field: String,
    },
    /// Several unique values are taken (an atomic bulk import), one entry per field.
    #[error("values are already taken")]
    Conflicts(Vec<FieldError>),
    /// Another request with the same `Idempotency-Key` is still running.
    #[error("{0}")]
    InProgress(String),
    /// The resource changed since the version the caller holds (`If-Match`).
    #[error("the resource has changed")]
    PreconditionFailed,
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The upload's type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The storage backend is unreachable.
    #[error("storage unavailable")]
    Unavailable,
    /// The resource kept changing under concurrent writes while this one was being applied
    /// (what, for the log); nothing was changed, and a retry later may succeed.
    #[error("{0}")]
    Contended(String),
    /// Anything else: a bug or an infrastructure fault. The source is for logs only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ContentError {
    /// A validation error for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Wraps an internal fault.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<jekcms_auth::policy::Denied> for ContentError {
    fn from(d: jekcms_auth::policy::Denied) -> Self {
        Self::Forbidden(d.0)
    }
}

/// Now, to the microsecond: both stores keep exactly that, so a value written and read back
/// compares equal and cursors built from it match the rows.
pub use jekcms_auth::now;

/// Drops sub-microsecond precision.
pub fn truncate_to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}
