//! Repository traits: what a store must provide for content. `jekcms-store` implements them
//! for SQLite and PostgreSQL; tests and embedders may implement them for anything else.
//!
//! Every method takes the caller's `site_id` (a write: the [`Writer`], whose site it is) and
//! must never touch another site's rows. Every write records its events
//! ([`crate::activity`]) in its own transaction.

use crate::ContentError;
use crate::activity::{ActivityQuery, Event, Writer};
use crate::bulk::BulkPost;
use crate::idempotency::Record;
use crate::list::PostListQuery;
use crate::media::{Media, MediaListQuery, NewMedia};
use crate::page::{OffsetList, OffsetPage, Rows, Window};
use crate::post::{NewPost, Post, PostPatch};
use std::future::Future;

/// Storage of posts.
pub trait PostRepository: Send + Sync {
    /// The site's posts under `query`, in its order, starting after `window.after`: at most
    /// `window.fetch()` of them (one more than the page, which [`Window::cut`] cuts off),
    /// and their count under the filters when `query.include_total`.
    fn list_posts(
        &self,
        site_id: i64,
        query: &PostListQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Post>, ContentError>> + Send;

    /// One legacy (v1) offset page of the site's posts, newest first, with the count of all
    /// of them: `OFFSET`/`LIMIT` plus `COUNT(*)`, whose cost grows with the depth.
    fn list_posts_offset(
        &self,
        site_id: i64,
        page: OffsetPage,
    ) -> impl Future<Output = Result<OffsetList<Post>, ContentError>> + Send;

    /// One post by id.
    fn get_post(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send;

    /// Creates a post. Without a slug, one is made from the title and suffixed (`-2`, `-3`,
    /// …) until unique; a given slug that is taken is a `Conflict`. With `record`, the
    /// response it renders from the new post is stored in the same transaction (see
    /// [`crate::idempotency`]).
    fn create_post<'a>(
        &'a self,
        by: &'a Writer,
        post: NewPost,
        record: Option<Record<'a, Post>>,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send + 'a;

    /// Which of `ids` are users of the site.
    fn site_user_ids(
        &self,
        site_id: i64,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<std::collections::HashSet<i64>, ContentError>> + Send;

    /// Creates many posts in one transaction with multi-row inserts, each authored by its
    /// `author_id` (checked by the caller to be a user of the site) or else by the writer.
    /// A given slug that is taken in the site, or by an earlier post of the
    /// batch, is refused for that post (`None` in its place); generated slugs are made
    /// unique across the site and the batch. Returns one entry per input, in input order:
    /// the new id, or `None`. With `atomic`, one refused slug means nothing is created.
    /// Any other failure rolls the whole batch back. With `record`, the response it renders
    /// from the returned entries is stored in the same transaction.
    fn create_posts<'a>(
        &'a self,
        by: &'a Writer,
        posts: Vec<BulkPost>,
        atomic: bool,
        record: Option<Record<'a, [Option<i64>]>>,
    ) -> impl Future<Output = Result<Vec<Option<i64>>, ContentError>> + Send + 'a;

    /// Applies a merge patch. With `expected_version`, fails with `PreconditionFailed` if
    /// the post has changed since.
    fn update_post(
        &self,
        by: &Writer,
        id: i64,
        patch: PostPatch,
        expected_version: Option<i64>,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send;

    /// Deletes a post; `NotFound` if it does not exist (any more).
    fn delete_post(
        &self,
        by: &Writer,
        id: i64,
    ) -> impl Future<Output = Result<(), ContentError>> + Send;
}

/// Storage of media records (the bytes live elsewhere, under `storage_key`).
pub trait MediaRepository: Send + Sync {
    /// Records an uploaded medium.
    fn create_media(
        &self,
        by: &Writer,
        media: NewMedia,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send;

    /// The site's media under `query`, newest first, starting after `window.after`: at most
    /// `window.fetch()` of them, and their count when `query.include_total`.
    fn list_media(
        &self,
        site_id: i64,
        query: &MediaListQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Media>, ContentError>> + Send;

    /// One legacy (v1) offset page of the site's media, newest first.
    fn list_media_offset(
        &self,
        site_id: i64,
        page: OffsetPage,
    ) -> impl Future<Output = Result<OffsetList<Media>, ContentError>> + Send;

    /// One medium by id.
    fn get_media(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send;

    /// One medium by the token of its public URL, whatever its site.
    ///
    /// The one repository call without a `site_id`: a public URL is read with no
    /// credential, so there is no caller's site to scope it to. The token itself is the
    /// capability (at least 128 random bits, unique across all sites), so knowing it is the
    /// permission to read that one medium's bytes, and nothing else.
    fn get_media_by_public_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send;

    /// Changes the alt text (`None` clears it).
    fn update_media_alt_text(
        &self,
        by: &Writer,
        id: i64,
        alt_text: Option<String>,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send;

    /// Deletes the record and returns it, so the caller can remove the bytes.
    fn delete_media(
        &self,
        by: &Writer,
        id: i64,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send;
}

/// Reading the activity log (its events are written by the writes themselves).
pub trait ActivityRepository: Send + Sync {
    /// The site's events under `query`, newest first, after `window.after`: at most
    /// `window.fetch()` of them.
    fn list_activity(
        &self,
        site_id: i64,
        query: &ActivityQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Event>, ContentError>> + Send;
}
