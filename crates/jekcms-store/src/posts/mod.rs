//! [`PostRepository`] for both backends.
//!
//! Lists are keyset-paginated: every page is one range scan of an index
//! `(site_id, sort key, id)` (see the migrations), bounded by the cursor on one side and
//! `LIMIT` on the other, so its cost does not depend on how deep it is. The keyset condition
//! `key < k OR (key = k AND id < i)` is accompanied by the redundant `key <= k` because
//! neither planner turns an `OR` into an index bound by itself.
//!
//! `read.rs` holds the lists and the read by id, `write.rs` creates (one, a batch, an
//! import), updates and deletes; this file the row types and the [`PostRepository`]
//! implementation, which hands each call to them.

mod read;
mod write;

use crate::schema::posts;
use crate::stored_time::StoredTime;
use crate::{Store, StoreError, naive, utc};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use jekcms_content::activity::Writer;
use jekcms_content::idempotency::Record;
use jekcms_content::list::PostListQuery;
use jekcms_content::page::{OffsetList, OffsetPage, Rows, Window};
use jekcms_content::post::{NewPost, Post, PostPatch, PostStatus, title_key};
use jekcms_content::{ContentError, PostRepository};
use std::future::Future;

/// Columns of a post, in `posts` order.
#[derive(Queryable, Selectable)]
#[diesel(table_name = posts)]
struct PostRow {
    id: i64,
    site_id: i64,
    author_id: i64,
    title: String,
    slug: String,
    excerpt: Option<String>,
    body: Option<String>,
    status: String,
    tags: String,
    published_at: Option<StoredTime>,
    created_at: StoredTime,
    updated_at: StoredTime,
    version: i64,
}

impl PostRow {
    fn into_post(self) -> Result<Post, StoreError> {
        let status = PostStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("post {} has status {:?}", self.id, self.status))
        })?;
        let tags: Vec<String> = serde_json::from_str(&self.tags)
            .map_err(|_| StoreError::Corrupt(format!("post {} has malformed tags", self.id)))?;
        Ok(Post {
            id: self.id,
            site_id: self.site_id,
            author_id: self.author_id,
            title: self.title,
            slug: self.slug,
            excerpt: self.excerpt,
            body: self.body,
            status,
            tags,
            published_at: self.published_at.map(|t| utc(t.0)),
            created_at: utc(self.created_at.0),
            updated_at: utc(self.updated_at.0),
            version: self.version,
        })
    }
}

/// A row to insert; every value decided by the caller. Owned, so it can move to the
/// blocking thread that writes SQLite batches.
#[derive(Insertable, Clone)]
#[diesel(table_name = posts, treat_none_as_default_value = false)]
struct NewPostRow {
    site_id: i64,
    author_id: i64,
    title: String,
    title_key: String,
    slug: String,
    excerpt: Option<String>,
    body: Option<String>,
    status: &'static str,
    tags: String,
    published_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    version: i64,
    /// Visible when written: its `post.published` is recorded with the write; a post
    /// scheduled for later is announced by the scheduler instead.
    publish_announced: bool,
}

impl NewPostRow {
    fn new(site_id: i64, author_id: i64, slug: &str, p: &ImportPost) -> Result<Self, StoreError> {
        Ok(Self {
            site_id,
            author_id,
            title: p.title.clone(),
            title_key: title_key(&p.title),
            slug: slug.to_owned(),
            excerpt: p.excerpt.clone(),
            body: p.body.clone(),
            status: p.status.as_str(),
            tags: serde_json::to_string(&p.tags)
                .map_err(|e| StoreError::Encode(format!("tags as JSON: {e}")))?,
            published_at: p.published_at.map(naive),
            created_at: naive(p.created_at),
            updated_at: naive(p.updated_at),
            version: 1,
            publish_announced: p
                .status
                .is_visible_at(p.published_at, jekcms_content::now()),
        })
    }
}

/// A post whose every value is decided (validated, slug unique, times set): the input of
/// [`Store::import_posts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPost {
    /// Trimmed title.
    pub title: String,
    /// A valid slug, unique within the site and the batch.
    pub slug: String,
    /// Excerpt.
    pub excerpt: Option<String>,
    /// Body.
    pub body: Option<String>,
    /// Status.
    pub status: PostStatus,
    /// Distinct tags.
    pub tags: Vec<String>,
    /// Publication time.
    pub published_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl PostRepository for Store {
    fn list_posts(
        &self,
        site_id: i64,
        query: &PostListQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Post>, ContentError>> + Send {
        read::list_posts(self, site_id, query, window)
    }

    fn list_posts_offset(
        &self,
        site_id: i64,
        page: OffsetPage,
    ) -> impl Future<Output = Result<OffsetList<Post>, ContentError>> + Send {
        read::list_posts_offset(self, site_id, page)
    }

    fn site_user_ids(
        &self,
        site_id: i64,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<std::collections::HashSet<i64>, ContentError>> + Send {
        read::site_user_ids(self, site_id, ids)
    }

    fn create_posts<'a>(
        &'a self,
        by: &'a Writer,
        batch: Vec<jekcms_content::bulk::BulkPost>,
        atomic: bool,
        record: Option<Record<'a, [Option<i64>]>>,
    ) -> impl Future<Output = Result<Vec<Option<i64>>, ContentError>> + Send + 'a {
        write::create_posts(self, by, batch, atomic, record)
    }

    fn get_post(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send {
        read::get_post(self, site_id, id)
    }

    fn create_post<'a>(
        &'a self,
        by: &'a Writer,
        new: NewPost,
        record: Option<Record<'a, Post>>,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send + 'a {
        write::create_post(self, by, new, record)
    }

    fn update_post(
        &self,
        by: &Writer,
        id: i64,
        patch: PostPatch,
        expected_version: Option<i64>,
    ) -> impl Future<Output = Result<Post, ContentError>> + Send {
        write::update_post(self, by.clone(), id, patch, expected_version)
    }

    fn delete_post(
        &self,
        by: &Writer,
        id: i64,
    ) -> impl Future<Output = Result<(), ContentError>> + Send {
        write::delete_post(self, by.clone(), id)
    }
}
