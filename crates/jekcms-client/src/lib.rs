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
//! It speaks HTTP through reqwest with rustls (no OpenSSL) and reuses the envelope types of
//! `jekcms-envelope`; it must not depend on the server, the store or any web framework, so
//! that a program using it pulls in none of them. Tokens and secrets never appear in its
//! `Debug` output or its logs.

mod auth;
mod bulk;
mod client;
mod error;
mod list;
mod media;
mod posts;
mod transport;
mod types;

pub use bulk::{BULK_CHUNK, BulkItem, BulkReport};
pub use client::{Client, ClientBuilder};
pub use error::{ApiFailure, Error};
pub use jekcms_envelope::{ErrorCode, ErrorEntry};
pub use media::{ListMedia, MediaLibrary};
pub use posts::{ListPosts, Posts};
pub use types::{
    Credential, Me, Media, MediaContent, MediaFilter, NewPost, Page, Post, PostFilter, PostPatch,
    PostSort, PostStatus, RateLimit, Site, User,
};
