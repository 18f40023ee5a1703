//! The shapes the API sends and takes (API.md §2.2, §3, §4, §5).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Publication state of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    /// Not visible to readers; the default.
    #[default]
    Draft,
    /// Live.
    Published,
    /// Withdrawn but kept.
    Archived,
}

impl PostStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }
}

/// A post as the server returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Unique id.
    pub id: i64,
    /// The site it belongs to.
    pub site_id: i64,
    /// The user who created it.
    pub author_id: i64,
    /// Trimmed title, 1–300 characters.
    pub title: String,
    /// Unique within the site.
    pub slug: String,
    /// Short summary.
    pub excerpt: Option<String>,
    /// Content.
    pub body: Option<String>,
    /// Publication state.
    pub status: PostStatus,
    /// Distinct tags, in the order given.
    pub tags: Vec<String>,
    /// When it was (first) published.
    pub published_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A post to create. Only `title` is required; absent fields are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NewPost {
    /// Required, 1–300 characters after trimming.
    pub title: String,
    /// Made by the server from the title when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// At most 1,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    /// At most 1,000,000 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `draft` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PostStatus>,
    /// At most 20 distinct tags of 1–50 characters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Defaults to now when created as `published`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// [`bulk_create`](crate::Posts::bulk_create) only: the user of the site to create the
    /// post as (the caller when absent); a single create refuses the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<i64>,
}

impl NewPost {
    /// A draft with this title and nothing else.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// Sets the slug.
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: PostStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// A JSON merge patch of a post (RFC 7396): `None` leaves a field unchanged; for the
/// nullable fields, `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PostPatch {
    /// New title (the slug does not follow it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// New excerpt, or `Some(None)` to clear it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<Option<String>>,
    /// New body, or `Some(None)` to clear it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Option<String>>,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PostStatus>,
    /// New tags, or `Some(None)` to clear them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Option<Vec<String>>>,
    /// New publication time, or `Some(None)` to clear it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Option<DateTime<Utc>>>,
}

/// The order of a post list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PostSort {
    /// Newest first (the server's default).
    #[default]
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// Most recently changed first.
    UpdatedDesc,
    /// Least recently changed first.
    UpdatedAsc,
    /// Most recently published first; unpublished last.
    PublishedDesc,
    /// Earliest published first; unpublished last.
    PublishedAsc,
    /// By title, A to Z, case-insensitively.
    TitleAsc,
    /// By title, Z to A.
    TitleDesc,
}

impl PostSort {
    /// The `sort` parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CreatedDesc => "-created_at",
            Self::CreatedAsc => "created_at",
            Self::UpdatedDesc => "-updated_at",
            Self::UpdatedAsc => "updated_at",
            Self::PublishedDesc => "-published_at",
            Self::PublishedAsc => "published_at",
            Self::TitleAsc => "title",
            Self::TitleDesc => "-title",
        }
    }
}

/// Filters, order and page size of a post list. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostFilter {
    /// Only posts in this state.
    pub status: Option<PostStatus>,
    /// Only posts with this tag.
    pub tag: Option<String>,
    /// Only posts with any of these tags (together with [`PostFilter::tag`]; at most 20 in
    /// all).
    pub any_tags: Vec<String>,
    /// Only the post with this slug.
    pub slug: Option<String>,
    /// Only posts by this user.
    pub author_id: Option<i64>,
    /// Only posts changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only posts whose title contains this text, case-insensitively.
    pub q: Option<String>,
    /// The order; the server's default is newest first.
    pub sort: Option<PostSort>,
    /// Page size, 1–100 (server default 20; a stream asks for 100).
    pub limit: Option<u32>,
    /// Ask for `total`, the count of all matching posts.
    pub include_total: bool,
}

impl PostFilter {
    /// Only posts in this state.
    pub fn status(mut self, status: PostStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only posts with this tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Also posts with this tag: the list holds posts with any of the tags given by
    /// [`PostFilter::tag`] and this method.
    pub fn any_tag(mut self, tag: impl Into<String>) -> Self {
        self.any_tags.push(tag.into());
        self
    }

    /// Only the post with this slug (a list of at most one post: what a front end asks
    /// for a post's page).
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Only posts by this user.
    pub fn author(mut self, author_id: i64) -> Self {
        self.author_id = Some(author_id);
        self
    }

    /// Only posts changed at or after this time.
    pub fn updated_since(mut self, since: DateTime<Utc>) -> Self {
        self.updated_since = Some(since);
        self
    }

    /// Only posts whose title contains this text.
    pub fn search(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }

    /// The order.
    pub fn sort(mut self, sort: PostSort) -> Self {
        self.sort = Some(sort);
        self
    }

    /// The page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Ask for the total count.
    pub fn include_total(mut self) -> Self {
        self.include_total = true;
        self
    }

    /// The query parameters, `cursor` included when given.
    pub(crate) fn to_query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(t) = &self.tag {
            q.push(("tag", t.clone()));
        }
        for t in &self.any_tags {
            q.push(("tag", t.clone()));
        }
        if let Some(s) = &self.slug {
            q.push(("slug", s.clone()));
        }
        if let Some(a) = self.author_id {
            q.push(("author_id", a.to_string()));
        }
        if let Some(t) = self.updated_since {
            q.push((
                "updated_since",
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        if let Some(text) = &self.q {
            q.push(("q", text.clone()));
        }
        if let Some(s) = self.sort {
            q.push(("sort", s.as_str().to_owned()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if self.include_total {
            q.push(("include", "total".to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// A visible post as the pull API returns it (API.md §9).
///
/// Every field is optional because a list asked with [`PullQuery::fields`] has exactly the
/// fields named there. By default a list item has every field but `body`; a post fetched
/// by slug has every field. `excerpt` and `body` are also `None` when the post has none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullPost {
    /// Unique id.
    pub id: Option<i64>,
    /// Unique within the site: the post's address on the website.
    pub slug: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Short summary.
    pub excerpt: Option<String>,
    /// When it was published (always in the past: scheduled posts are not visible).
    pub published_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Its tags.
    pub tags: Option<Vec<String>>,
    /// Content (by slug, or in a list that asked for [`PullField::Body`]).
    pub body: Option<String>,
}

/// The order of a pull list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PullSort {
    /// Most recently published first (the server's default).
    #[default]
    PublishedDesc,
    /// Earliest published first.
    PublishedAsc,
    /// Most recently changed first.
    UpdatedDesc,
    /// Least recently changed first.
    UpdatedAsc,
    /// By title, A to Z, case-insensitively.
    TitleAsc,
    /// By title, Z to A.
    TitleDesc,
}

impl PullSort {
    /// The `sort` parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PublishedDesc => "-published_at",
            Self::PublishedAsc => "published_at",
            Self::UpdatedDesc => "-updated_at",
            Self::UpdatedAsc => "updated_at",
            Self::TitleAsc => "title",
            Self::TitleDesc => "-title",
        }
    }
}

/// A field of a [`PullPost`], for [`PullQuery::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullField {
    /// `id`.
    Id,
    /// `slug`.
    Slug,
    /// `title`.
    Title,
    /// `excerpt`.
    Excerpt,
    /// `published_at`.
    PublishedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `tags`.
    Tags,
    /// `body`: not in a list unless asked for.
    Body,
}

impl PullField {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Slug => "slug",
            Self::Title => "title",
            Self::Excerpt => "excerpt",
            Self::PublishedAt => "published_at",
            Self::UpdatedAt => "updated_at",
            Self::Tags => "tags",
            Self::Body => "body",
        }
    }
}

/// Filters, fields, order and page size of a pull list. Every field is optional: the
/// default is the site's visible posts, newest first, 20 a page, every field but `body`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullQuery {
    /// Only posts with any of these tags (at most 20).
    pub tags: Vec<String>,
    /// Only posts whose title contains this text, case-insensitively.
    pub q: Option<String>,
    /// Only posts changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// The order; the server's default is newest published first.
    pub sort: Option<PullSort>,
    /// The fields of each post; empty for the server's default (all but `body`).
    pub fields: Vec<PullField>,
    /// Page size, 1–100 (server default 20; a stream asks for 100).
    pub limit: Option<u32>,
    /// Ask for `total`, the count of all matching posts.
    pub include_total: bool,
}

impl PullQuery {
    /// Only posts with this tag; call it again for posts with any of several tags.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Only posts whose title contains this text.
    pub fn search(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }

    /// Only posts changed at or after this time (what a static-site build asks for since
    /// its last run).
    pub fn updated_since(mut self, since: DateTime<Utc>) -> Self {
        self.updated_since = Some(since);
        self
    }

    /// The order.
    pub fn sort(mut self, sort: PullSort) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Exactly these fields of each post (e.g. `[Slug, Title]` for a sitemap, or with
    /// [`PullField::Body`] to render whole posts from the list).
    pub fn fields(mut self, fields: impl IntoIterator<Item = PullField>) -> Self {
        self.fields = fields.into_iter().collect();
        self
    }

    /// The page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Ask for the total count.
    pub fn include_total(mut self) -> Self {
        self.include_total = true;
        self
    }

    /// The query parameters, `cursor` included when given.
    pub(crate) fn to_query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for t in &self.tags {
            q.push(("tag", t.clone()));
        }
        if let Some(text) = &self.q {
            q.push(("q", text.clone()));
        }
        if let Some(t) = self.updated_since {
            q.push((
                "updated_since",
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        if let Some(s) = self.sort {
            q.push(("sort", s.as_str().to_owned()));
        }
        if !self.fields.is_empty() {
            let names: Vec<&str> = self.fields.iter().map(|f| f.as_str()).collect();
            q.push(("fields", names.join(",")));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if self.include_total {
            q.push(("include", "total".to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// A stored medium (an uploaded file) as the server returns it (API.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Unique id.
    pub id: i64,
    /// The user who uploaded it.
    pub author_id: i64,
    /// The uploader's file name, cleaned by the server of directories, control characters
    /// and quotes (`upload.<ext>` when nothing was left).
    pub filename: String,
    /// The type the server sniffed from the bytes (the uploader's claim is not trusted),
    /// e.g. `image/png`.
    pub mime_type: String,
    /// Size of the file in bytes.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Pixel width, for images whose header gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixel height, for images whose header gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Text alternative.
    pub alt_text: Option<String>,
    /// Where the bytes are served, relative to the base URL:
    /// `/api/v2/media/{id}/content` (fetch them with [`MediaLibrary::content`](crate::MediaLibrary::content)).
    pub url: String,
    /// Where the bytes are served to anyone, with no credential, relative to the base URL:
    /// `/m/{token}/{filename}`, for `<img src>` on a website; fixed for the medium's life.
    /// Empty from a server older than public URLs.
    #[serde(default)]
    pub public_url: String,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Last change of the record (its alt text).
    pub updated_at: DateTime<Utc>,
}

/// A medium's bytes, from [`MediaLibrary::content`](crate::MediaLibrary::content).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaContent {
    /// The file, exactly as stored.
    pub bytes: Vec<u8>,
    /// The response's `Content-Type`: the sniffed type, as in [`Media::mime_type`].
    pub content_type: Option<String>,
}

/// Filter and page size of a media list, newest first. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaFilter {
    /// Only media whose type starts with this: a whole type (`image/png`) or a prefix
    /// (`image/`).
    pub mime_type: Option<String>,
    /// Page size, 1–100 (server default 20; a stream asks for 100).
    pub limit: Option<u32>,
    /// Ask for `total`, the count of all matching media.
    pub include_total: bool,
}

impl MediaFilter {
    /// Only media whose type is or starts with `prefix`, e.g. `image/`.
    pub fn mime_type(mut self, prefix: impl Into<String>) -> Self {
        self.mime_type = Some(prefix.into());
        self
    }

    /// The page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Ask for the total count.
    pub fn include_total(mut self) -> Self {
        self.include_total = true;
        self
    }

    /// The query parameters, `cursor` included when given.
    pub(crate) fn to_query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(m) = &self.mime_type {
            q.push(("mime_type", m.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if self.include_total {
            q.push(("include", "total".to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// One page of a cursor list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page, in list order.
    pub items: Vec<T>,
    /// Pass to `after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The count of all rows under the same filters, when asked for.
    pub total: Option<u64>,
    /// `meta.request_id` of the response.
    pub request_id: String,
}

/// `GET /api/v2/me`: who the client is signed in as.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Me {
    /// The key's user.
    pub user: User,
    /// The user's site.
    pub site: Site,
    /// How this session was made.
    pub credential: Credential,
    /// The session's quota, when one applies.
    pub rate_limit: Option<RateLimit>,
}

/// A user, as `me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// `viewer`, `author`, `editor`, `admin` or `owner`.
    pub role: String,
}

/// A site, as `me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Site {
    /// Id.
    pub id: i64,
    /// URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// The credential behind the session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Credential {
    /// `api` (from a key) or `password` (from a login).
    pub family: String,
    /// The public key id, for `api`.
    pub key_id: Option<String>,
    /// The session.
    pub session_id: i64,
}

/// A quota's state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Unix seconds when the quota is back in full.
    pub reset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_are_not_sent_and_null_clears() {
        assert_eq!(
            serde_json::to_value(NewPost::new("Hi")).unwrap(),
            json!({"title": "Hi"})
        );
        let patch = PostPatch {
            title: Some("New".into()),
            excerpt: Some(None),
            ..PostPatch::default()
        };
        assert_eq!(
            serde_json::to_value(patch).unwrap(),
            json!({"title": "New", "excerpt": null})
        );
    }

    #[test]
    fn times_are_sent_as_utc_rfc3339() {
        let since = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+02:00")
            .unwrap()
            .with_timezone(&Utc);
        let q = PostFilter::default()
            .author(3)
            .updated_since(since)
            .to_query(None);
        assert_eq!(
            q,
            vec![
                ("author_id", "3".to_owned()),
                ("updated_since", "2026-11-23T08:00:00Z".to_owned()),
            ]
        );
    }

    #[test]
    fn media_filters_become_query_parameters() {
        assert_eq!(MediaFilter::default().to_query(None), vec![]);
        let f = MediaFilter::default()
            .mime_type("image/")
            .limit(10)
            .include_total();
        assert_eq!(
            f.to_query(Some("c")),
            vec![
                ("mime_type", "image/".to_owned()),
                ("limit", "10".to_owned()),
                ("include", "total".to_owned()),
                ("cursor", "c".to_owned()),
            ]
        );
    }

    #[test]
    fn media_reads_the_server_shape() {
        let pdf: Media = serde_json::from_value(json!({
            "id": 7, "author_id": 1, "filename": "a.pdf", "mime_type": "application/pdf",
            "size_bytes": 12, "sha256": "ab", "alt_text": null,
            "url": "/api/v2/media/7/content",
            "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z"
        }))
        .unwrap();
        assert_eq!((pdf.width, pdf.height, pdf.alt_text), (None, None, None));
        assert_eq!(pdf.public_url, "");
    }

    #[test]
    fn pull_queries_become_query_parameters() {
        assert_eq!(PullQuery::default().to_query(None), vec![]);
        let since = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = PullQuery::default()
            .tag("a")
            .tag("b")
            .search("rust")
            .updated_since(since)
            .sort(PullSort::TitleDesc)
            .fields([PullField::Slug, PullField::PublishedAt, PullField::Body])
            .limit(5)
            .include_total();
        assert_eq!(
            q.to_query(Some("c")),
            vec![
                ("tag", "a".to_owned()),
                ("tag", "b".to_owned()),
                ("q", "rust".to_owned()),
                ("updated_since", "2026-12-04T10:00:00Z".to_owned()),
                ("sort", "-title".to_owned()),
                ("fields", "slug,published_at,body".to_owned()),
                ("limit", "5".to_owned()),
                ("include", "total".to_owned()),
                ("cursor", "c".to_owned()),
            ]
        );
    }

    #[test]
    fn pull_posts_read_only_the_fields_sent() {
        let p: PullPost = serde_json::from_value(json!({"slug": "a", "body": null})).unwrap();
        assert_eq!(p.slug.as_deref(), Some("a"));
        assert_eq!((p.id, p.title, p.body, p.tags), (None, None, None, None));
    }

    #[test]
    fn filters_become_query_parameters() {
        let f = PostFilter::default()
            .status(PostStatus::Published)
            .sort(PostSort::TitleAsc)
            .limit(5)
            .include_total();
        assert_eq!(
            f.to_query(Some("abc")),
            vec![
                ("status", "published".to_owned()),
                ("sort", "title".to_owned()),
                ("limit", "5".to_owned()),
                ("include", "total".to_owned()),
                ("cursor", "abc".to_owned()),
            ]
        );
    }
}
