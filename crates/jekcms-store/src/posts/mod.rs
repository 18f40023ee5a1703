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
use jekcms_content::post::{Body, NewPost, Post, PostPatch, PostStatus, title_key};
use jekcms_content::{ContentError, PostRepository};
use std::future::Future;

/// Columns of a post, in `posts` order. The body is read as its stored JSON literal
/// (`body_json`), which responses copy as it is; `body`, its text, is for the database's
/// own uses and for backups.
#[derive(Queryable, Selectable)]
#[diesel(table_name = posts)]
struct PostRow {
    id: i64,
    site_id: i64,
    author_id: i64,
    title: String,
    slug: String,
    excerpt: Option<String>,
    #[diesel(column_name = body_json)]
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
        let body =
            self.body.map(Body::from_json).transpose().map_err(|_| {
                StoreError::Corrupt(format!("post {} has a malformed body", self.id))
            })?;
        Ok(Post {
            id: self.id,
            site_id: self.site_id,
            author_id: self.author_id,
            title: self.title,
            slug: self.slug,
            excerpt: self.excerpt,
            body,
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
    /// `body` as a JSON string literal ([`body_json`]).
    body_json: Option<String>,
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
            body_json: p.body.as_deref().map(body_json),
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

/// The stored JSON literal of a body: what [`Body::new`] holds, so that a read gets back
/// the same `Body` a write made.
fn body_json(text: &str) -> String {
    Body::new(text).into_json()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::testing::TestDatabase;
    use jekcms_auth::policy::{Actor, ActorFamily, Role};

    /// Texts whose JSON literal is not the text between quotes: every escape JSON has, the
    /// characters a `<script>` or a line separator make special, and none at all.
    const TEXTS: &[&str] = &[
        "plain words",
        "quote \" backslash \\ slash / \\u0041 not an escape",
        "lines\nand\ttabs\rand\u{8}\u{c}",
        "\u{1}\u{1f} controls \u{7f}",
        "ünïcødé ✓ 😀 \u{2028}\u{2029}",
        "</script><!-- \"x\" -->",
        "",
    ];

    async fn store_with_writer(backend: Backend) -> Option<(TestDatabase, Store, Writer)> {
        let db = TestDatabase::new(backend).await?;
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        for sql in [
            "INSERT INTO sites (id, slug, name, created_at) VALUES (7, 'b', 'B', '2026-01-01 00:00:00')",
            "INSERT INTO users (id, site_id, email, name, role, created_at, updated_at) VALUES (9, 7, 'w@example.com', 'W', 'owner', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        ] {
            store.execute_for_tests(sql).await.unwrap();
        }
        let by = Writer {
            actor: Actor {
                user_id: 9,
                site_id: 7,
                role: Role::Owner,
            },
            family: ActorFamily::Api,
            key_id: None,
            request_id: None,
        };
        Some((db, store, by))
    }

    /// Every row's stored literal unescapes to its text.
    async fn assert_every_literal_is_its_body(store: &Store) {
        let mismatches = store.count_for_tests(literal_mismatches(store)).await;
        assert_eq!(mismatches.unwrap(), 0);
    }

    /// A post of this title and body text, created through the repository.
    async fn create(store: &Store, by: &Writer, title: String, text: &str) -> Post {
        let new = NewPost {
            title,
            body: Some(text.to_owned()),
            ..NewPost::default()
        };
        store.create_post(by, new, None).await.unwrap()
    }

    /// Rows whose stored literal does not unescape to their text (SQL for each backend).
    fn literal_mismatches(store: &Store) -> &'static str {
        match store.backend() {
            Backend::Sqlite => {
                "SELECT count(*) AS n FROM posts \
                 WHERE body IS NOT json_extract(body_json, '$') \
                 OR (body_json IS NOT NULL AND json_type(body_json) IS NOT 'text')"
            }
            Backend::Postgres => {
                "SELECT count(*) AS n FROM posts \
                 WHERE body IS DISTINCT FROM (body_json::json #>> '{}') \
                 OR (body_json IS NOT NULL AND json_typeof(body_json::json) <> 'string')"
            }
        }
    }

    /// Every read, one post or a list, carries what was written, through each way a body
    /// is written (one post, a batch, an import, an update that sets it and one that does
    /// not); the stored literal is always the JSON of the stored text.
    async fn every_read_carries_the_body_written(backend: Backend) {
        let Some((_db, store, by)) = store_with_writer(backend).await else {
            return;
        };
        let mut expected: Vec<(i64, Option<String>)> = Vec::new();
        for (i, text) in TEXTS.iter().enumerate() {
            let post = create(&store, &by, format!("one {i}"), text).await;
            assert_eq!(post.body.as_ref().map(Body::text).as_deref(), Some(*text));
            expected.push((post.id, Some((*text).to_owned())));
        }
        // A long post, whose row holds ~6 KB: on PostgreSQL its literal stays uncompressed.
        let long = "a long body, and it compresses well. ".repeat(80);
        let post = create(&store, &by, "long".into(), &long).await;
        expected.push((post.id, Some(long)));
        let batch = TEXTS
            .iter()
            .enumerate()
            .map(|(i, text)| jekcms_content::bulk::BulkPost {
                post: NewPost {
                    title: format!("batch {i}"),
                    body: (i % 3 != 0).then(|| (*text).to_owned()),
                    ..NewPost::default()
                },
                author_id: None,
            })
            .collect::<Vec<_>>();
        let wanted: Vec<Option<String>> = batch.iter().map(|b| b.post.body.clone()).collect();
        let ids = store.create_posts(&by, batch, true, None).await.unwrap();
        expected.extend(ids.into_iter().map(Option::unwrap).zip(wanted));
        let now = jekcms_content::now();
        let imports = TEXTS
            .iter()
            .enumerate()
            .map(|(i, text)| ImportPost {
                title: format!("import {i}"),
                slug: format!("import-{i}"),
                excerpt: None,
                body: Some((*text).to_owned()),
                status: PostStatus::Published,
                tags: vec![],
                published_at: Some(now),
                created_at: now,
                updated_at: now,
            })
            .collect::<Vec<_>>();
        let ids = store.import_posts(7, 9, &imports).await.unwrap();
        expected.extend(
            ids.into_iter()
                .zip(TEXTS.iter().map(|t| Some((*t).to_owned()))),
        );
        // An update that sets the body, one that clears it, one that leaves it.
        let set = PostPatch {
            body: Some(Some(TEXTS[1].to_owned())),
            ..PostPatch::default()
        };
        let updated = store
            .update_post(&by, expected[0].0, set, None)
            .await
            .unwrap();
        assert_eq!(updated.body, Some(Body::new(TEXTS[1])));
        expected[0].1 = Some(TEXTS[1].to_owned());
        let clear = PostPatch {
            body: Some(None),
            ..PostPatch::default()
        };
        let cleared = store
            .update_post(&by, expected[1].0, clear, None)
            .await
            .unwrap();
        assert_eq!(cleared.body, None);
        expected[1].1 = None;
        let retitle = PostPatch {
            title: Some("retitled".into()),
            ..PostPatch::default()
        };
        let kept = store
            .update_post(&by, expected[2].0, retitle, None)
            .await
            .unwrap();
        assert_eq!(kept.body, Some(Body::new(TEXTS[2])));

        let page = store
            .list_posts(7, &PostListQuery::default(), &Window::first(100))
            .await
            .unwrap();
        assert_eq!(page.items.len(), expected.len());
        // A list that does not send bodies gets the same rows without them.
        let bare = PostListQuery {
            omit_body: true,
            ..PostListQuery::default()
        };
        let bare = store
            .list_posts(7, &bare, &Window::first(100))
            .await
            .unwrap();
        let without_body = |p: &Post| Post {
            body: None,
            ..p.clone()
        };
        let expected_bare: Vec<Post> = page.items.iter().map(without_body).collect();
        assert_eq!(bare.items, expected_bare);
        for (id, text) in &expected {
            let one = store.get_post(7, *id).await.unwrap();
            let listed = page.items.iter().find(|p| p.id == *id).unwrap();
            for post in [&one, listed] {
                assert_eq!(post.body.as_ref().map(Body::text), *text, "post {id}");
                // What a response carries: the same text, as a JSON string.
                let sent = serde_json::to_value(post).unwrap();
                let body = text.clone().map_or(serde_json::Value::Null, Into::into);
                assert_eq!(sent["body"], body, "post {id}");
            }
        }
        assert_every_literal_is_its_body(&store).await;
        if store.backend() == Backend::Postgres {
            let compressed = "SELECT count(*) AS n FROM posts \
                              WHERE pg_column_compression(body_json) IS NOT NULL";
            assert_eq!(store.count_for_tests(compressed).await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn every_read_carries_the_body_written_sqlite() {
        every_read_carries_the_body_written(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn every_read_carries_the_body_written_postgres() {
        every_read_carries_the_body_written(Backend::Postgres).await;
    }

    /// The migration's fill of the literal, for rows written before it, reads back as the
    /// same text (each database's own JSON quoting may spell escapes its own way).
    async fn rows_from_before_the_literal_read_the_same(backend: Backend) {
        let Some((_db, store, by)) = store_with_writer(backend).await else {
            return;
        };
        let mut ids = Vec::new();
        for (i, text) in TEXTS.iter().enumerate() {
            ids.push(create(&store, &by, format!("old {i}"), text).await.id);
        }
        store
            .execute_for_tests("UPDATE posts SET body_json = NULL")
            .await
            .unwrap();
        let migration = match backend {
            Backend::Sqlite => {
                include_str!("../../../../migrations/sqlite/2026-12-06-000016_body_json/up.sql")
            }
            Backend::Postgres => {
                include_str!("../../../../migrations/postgres/2026-12-06-000016_body_json/up.sql")
            }
        };
        let fill = migration
            .lines()
            .find(|l| l.starts_with("UPDATE posts"))
            .expect("the migration fills the column");
        store.execute_for_tests(fill).await.unwrap();
        for (id, text) in ids.iter().zip(TEXTS) {
            let post = store.get_post(7, *id).await.unwrap();
            assert_eq!(post.body.as_ref().map(Body::text).as_deref(), Some(*text));
            assert_eq!(
                post.body,
                Some(Body::new(text)),
                "equal to what a write makes"
            );
        }
        assert_every_literal_is_its_body(&store).await;
    }

    #[tokio::test]
    async fn rows_from_before_the_literal_read_the_same_sqlite() {
        rows_from_before_the_literal_read_the_same(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn rows_from_before_the_literal_read_the_same_postgres() {
        rows_from_before_the_literal_read_the_same(Backend::Postgres).await;
    }
}
