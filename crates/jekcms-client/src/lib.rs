//! An async, typed client for the JekCMS API v2, for any tokio program.
//!
//! This crate owns the client side of the contract in `API.md`: signing in with an API key
//! and keeping the access token fresh (single-flight refresh, retry once on
//! `AUTH_EXPIRED`), waiting out `429 RATE_LIMITED`, retrying calls that are safe to repeat,
//! the typed posts endpoints with cursor lists as pages or as a [`Stream`](futures_core::Stream),
//! bulk imports that are safe to run twice, and media: multipart uploads (never resent once
//! they may have reached the server), lists, alt text and the stored bytes. Start with
//! [`Client`].
//!
//! A website's back end, which reads the site's published posts with its `pk_` pull key
//! rather than managing them, uses [`PullClient`] instead: the pull API's list (pages or a
//! stream), a post by slug, and the revalidation of every answer it keeps by `ETag`.
//!
//! ```no_run
//! use jekcms_client::{PullClient, PullQuery};
//!
//! # async fn run() -> Result<(), jekcms_client::Error> {
//! let site = PullClient::new("https://cms.example.com", "pk_…")?;
//! let latest = site.posts(PullQuery::default().limit(5)).await?;
//! let post = site.post("hello-world").await?;
//! println!("{} recent posts; {:?}", latest.items.len(), post.title);
//! # Ok(())
//! # }
//! ```
//!
//! It speaks HTTP through reqwest with rustls (no OpenSSL) and reuses the envelope types of
//! `jekcms-envelope`; it must not depend on the server, the store or any web framework, so
//! that a program using it pulls in none of them. Tokens and secrets never appear in its
//! `Debug` output or its logs.

mod activity;
mod auth;
mod bulk;
mod client;
mod error;
mod etags;
mod list;
mod media;
mod posts;
mod pull;
mod transport;
mod types;

pub use activity::{ActivityFilter, Event, EventActor, EventSubject, ListActivity};
pub use bulk::{BULK_CHUNK, BulkItem, BulkReport};
pub use client::{Client, ClientBuilder};
pub use error::{ApiFailure, Error};
pub use jekcms_envelope::{ErrorCode, ErrorEntry};
pub use media::{ListMedia, MediaLibrary};
pub use posts::{ListPosts, Posts};
pub use pull::{ListPullPosts, PullClient, PullClientBuilder};
pub use types::{
    Credential, Me, Media, MediaContent, MediaFilter, NewPost, Page, Post, PostFilter, PostPatch,
    PostSort, PostStatus, PullField, PullPost, PullQuery, PullSort, RateLimit, Site, User,
};
