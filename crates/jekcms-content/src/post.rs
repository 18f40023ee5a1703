//! Posts: the stored shape, the create and merge-patch inputs, and their validation.

use crate::{FieldError, slug};
use chrono::{DateTime, Utc};
use jekcms_envelope::fields::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest excerpt, in characters.
pub const MAX_EXCERPT_CHARS: usize = 1_000;
/// Largest body, in bytes.
pub const MAX_BODY_BYTES: usize = 1_000_000;
/// Most tags on one post.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// Publication state of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    /// Not visible to readers of the site; the default.
    #[default]
    Draft,
    /// Live.
    Published,
    /// Withdrawn but kept.
    Archived,
}

impl PostStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }

    /// Whether a post with this status and publication time is visible at `now` — on the
    /// pull API, and in the sense of `post.published`: published, and its time reached.
    pub fn is_visible_at(self, published_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        self == Self::Published && published_at.is_some_and(|t| t <= now)
    }
}

/// A post as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(examples(Post::example)))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub body: Option<Body>,
    /// Publication state.
    pub status: PostStatus,
    /// Distinct tags, in the order given.
    pub tags: Vec<String>,
    /// When it was (first) published.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub published_at: Option<DateTime<Utc>>,
    /// Creation time.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; the ETag is derived from it.
    #[serde(skip)]
    pub version: i64,
}

impl Post {
    /// The post of the API documentation's examples (the OpenAPI document shows it alone,
    /// inside an envelope and in a page).
    #[cfg(feature = "openapi")]
    pub fn example() -> Value {
        serde_json::json!({
            "id": 42,
            "site_id": 1,
            "author_id": 7,
            "title": "Hello, world",
            "slug": "hello-world",
            "excerpt": "The first post.",
            "body": "Welcome to the site.",
            "status": "published",
            "tags": ["news", "welcome"],
            "published_at": "2026-11-23T10:00:00Z",
            "created_at": "2026-11-23T09:58:12.123456Z",
            "updated_at": "2026-11-23T10:00:00Z"
        })
    }

    /// A strong ETag for this version of the post.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// A post's body, held as the JSON string literal it is stored as and sent as.
///
/// A page of 20 posts carries ~30 KB of bodies; escaping them into JSON on every read was
/// the largest single cost of a list request. Stores keep this literal next to the text,
/// written in the write's transaction, and a read copies it into the response: serializing
/// a `Body` with `serde_json` writes the literal as it is. (Other serializers see
/// `serde_json`'s raw-value wrapper, not a string: serialize posts with `serde_json`.)
#[derive(Clone)]
pub struct Body(Box<serde_json::value::RawValue>);

impl Body {
    /// The body of `text`, escaped once.
    pub fn new(text: &str) -> Self {
        // A `&str` always serializes, into a valid literal that `to_raw_value` takes as is.
        Self(serde_json::value::to_raw_value(text).expect("a string serializes to JSON"))
    }

    /// A body from its stored literal, checked to be one JSON string (the check is a fast
    /// scan, far cheaper than escaping the text again).
    pub fn from_json(literal: String) -> Result<Self, serde_json::Error> {
        if !literal.starts_with('"') {
            return Err(<serde_json::Error as serde::de::Error>::custom(
                "a stored body is not a JSON string",
            ));
        }
        serde_json::value::RawValue::from_string(literal).map(Self)
    }

    /// The JSON string literal, quotes included.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The JSON string literal, quotes included, as an owned string (no copy).
    pub fn into_json(self) -> String {
        Box::<str>::from(self.0).into_string()
    }

    /// The text, unescaped.
    pub fn text(&self) -> String {
        serde_json::from_str(self.0.get()).expect("a Body holds a JSON string")
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl PartialEq for Body {
    /// Equal texts: the same literal, or two spellings of one text (a literal written by a
    /// store's own JSON function may escape differently from `serde_json`).
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json() || self.text() == other.text()
    }
}

impl Eq for Body {}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|text| Self::new(&text))
    }
}

/// The case-folded title that the `title` sort and the `q` filter use, so that both are
/// case-insensitive in the same way on every store.
pub fn title_key(title: &str) -> String {
    title.to_lowercase()
}

/// A validated post to create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(examples(json!({
    "title": "Hello, world",
    "slug": "hello-world",
    "excerpt": "The first post.",
    "body": "Welcome to the site.",
    "status": "published",
    "tags": ["news", "welcome"],
    "published_at": "2026-11-23T10:00:00Z"
}))))]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// Required, 1–300 characters after trimming, with something besides spaces and no
    /// control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
        )
    )]
    pub title: String,
    /// Lowercase letters and digits in groups joined by single hyphens, at most 200
    /// characters, unique within the site. Made from the title when absent.
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            max_length = 200,
            pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"
        )
    )]
    pub slug: Option<String>,
    /// At most 1,000 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 1000, pattern = r"^[^\x00]*$")
    )]
    pub excerpt: Option<String>,
    /// At most 1,000,000 bytes of UTF-8.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub body: Option<String>,
    /// Defaults to `draft`.
    #[serde(default)]
    pub status: PostStatus,
    /// At most 20 distinct tags of 1–50 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::tags))]
    pub tags: Vec<String>,
    /// Defaults to now when created as `published`.
    pub published_at: Option<DateTime<Utc>>,
}

/// A JSON merge patch (RFC 7396) of a post: `None` leaves a field unchanged; for nullable
/// fields `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(examples(json!({
    "title": "Hello again",
    "status": "archived",
    "excerpt": null
}))))]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    /// New title, with the rules of a new post's.
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            min_length = 1,
            max_length = 300,
            pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
        )
    )]
    pub title: Option<String>,
    /// New slug, with the rules of a new post's; cannot be cleared.
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            max_length = 200,
            pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"
        )
    )]
    pub slug: Option<String>,
    /// New excerpt (at most 1,000 characters), or `null` to clear.
    #[cfg_attr(
        feature = "openapi",
        schema(nullable, max_length = 1000, pattern = r"^[^\x00]*$")
    )]
    pub excerpt: Option<Option<String>>,
    /// New body (at most 1,000,000 bytes), or `null` to clear.
    #[cfg_attr(feature = "openapi", schema(nullable, pattern = r"^[^\x00]*$"))]
    pub body: Option<Option<String>>,
    /// New status.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub status: Option<PostStatus>,
    /// New tags (`null` clears).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::tags_or_null))]
    pub tags: Option<Option<Vec<String>>>,
    /// New publication time, or `null` to clear.
    #[cfg_attr(feature = "openapi", schema(nullable))]
    pub published_at: Option<Option<DateTime<Utc>>>,
}

impl PostPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

const POST_FIELDS: [&str; 7] = [
    "title",
    "slug",
    "excerpt",
    "body",
    "status",
    "tags",
    "published_at",
];

/// Reads and validates a create body. `prefix` is put before field names in errors (e.g.
/// `posts[3].`) so bulk callers can reuse it. Every bad field is reported, not just the first.
pub fn parse_new(value: Value, prefix: &str) -> Result<NewPost, Vec<FieldError>> {
    let mut f = Fields::at(prefix, value, &POST_FIELDS)?;
    let title = match f.take("title") {
        None | Some(Value::Null) => {
            f.fail("title", "title is required");
            String::new()
        }
        Some(v) => title(&mut f, v),
    };
    let slug = f.take("slug").and_then(|v| slug(&mut f, v));
    let excerpt = f.take("excerpt").and_then(|v| excerpt(&mut f, v));
    let body = f.take("body").and_then(|v| body(&mut f, v));
    let status = f
        .take("status")
        .map(|v| status(&mut f, v))
        .unwrap_or_default();
    let tags = f.take("tags").map(|v| tags(&mut f, v)).unwrap_or_default();
    let published_at = f
        .take("published_at")
        .and_then(|v| time(&mut f, "published_at", v));
    f.finish(NewPost {
        title,
        slug,
        excerpt,
        body,
        status,
        tags,
        published_at,
    })
}

/// Reads and validates a merge-patch body.
pub fn parse_patch(value: Value) -> Result<PostPatch, Vec<FieldError>> {
    let mut f = Fields::new(value, &POST_FIELDS)?;
    let mut patch = PostPatch::default();
    if let Some(v) = f.take("title") {
        patch.title = Some(title(&mut f, v));
    }
    if let Some(v) = f.take("slug") {
        match v {
            Value::Null => f.fail("slug", "slug cannot be cleared"),
            v => patch.slug = slug(&mut f, v),
        }
    }
    if let Some(v) = f.take("excerpt") {
        patch.excerpt = Some(excerpt(&mut f, v));
    }
    if let Some(v) = f.take("body") {
        patch.body = Some(body(&mut f, v));
    }
    if let Some(v) = f.take("status") {
        patch.status = Some(status(&mut f, v));
    }
    if let Some(v) = f.take("tags") {
        patch.tags = Some(if v.is_null() {
            None
        } else {
            Some(tags(&mut f, v))
        });
    }
    if let Some(v) = f.take("published_at") {
        patch.published_at = Some(time(&mut f, "published_at", v));
    }
    f.finish(patch)
}

// The rules of each member. Strings are read by `Fields::as_string`, which refuses NUL in
// every one: PostgreSQL cannot store it and SQLite would, so a post must not hold what one
// store keeps and the other refuses.

fn title(f: &mut Fields, v: Value) -> String {
    let Some(s) = f.as_string("title", v) else {
        return String::new();
    };
    let trimmed = s.trim();
    let n = trimmed.chars().count();
    if n == 0 {
        f.fail("title", "title must not be empty");
    } else if n > MAX_TITLE_CHARS {
        f.fail(
            "title",
            format!("title must be at most {MAX_TITLE_CHARS} characters"),
        );
    } else if trimmed.chars().any(char::is_control) {
        f.fail("title", "title must not contain control characters");
    }
    trimmed.to_owned()
}

fn slug(f: &mut Fields, v: Value) -> Option<String> {
    let s = f.as_string("slug", v)?;
    if !slug::is_valid(&s) {
        f.fail(
            "slug",
            "slug must be lowercase letters and digits separated by single hyphens, at most 200 characters",
        );
    }
    Some(s)
}

fn excerpt(f: &mut Fields, v: Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let s = f.as_string("excerpt", v)?;
    if s.chars().count() > MAX_EXCERPT_CHARS {
        f.fail(
            "excerpt",
            format!("excerpt must be at most {MAX_EXCERPT_CHARS} characters"),
        );
    }
    Some(s)
}

fn body(f: &mut Fields, v: Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let s = f.as_string("body", v)?;
    if s.len() > MAX_BODY_BYTES {
        f.fail(
            "body",
            format!("body must be at most {MAX_BODY_BYTES} bytes"),
        );
    }
    Some(s)
}

fn status(f: &mut Fields, v: Value) -> PostStatus {
    match v.as_str().and_then(PostStatus::parse) {
        Some(s) => s,
        None => {
            f.fail("status", "status must be one of draft, published, archived");
            PostStatus::Draft
        }
    }
}

fn tags(f: &mut Fields, v: Value) -> Vec<String> {
    let Value::Array(items) = v else {
        f.fail("tags", "tags must be an array of strings");
        return Vec::new();
    };
    let mut tags: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(tag) = item else {
            f.fail("tags", "tags must be an array of strings");
            return Vec::new();
        };
        let n = tag.chars().count();
        if n == 0 || n > MAX_TAG_CHARS || tag.trim() != tag || tag.chars().any(char::is_control) {
            f.fail(
                "tags",
                format!(
                    "each tag must be 1–{MAX_TAG_CHARS} characters without surrounding spaces or control characters"
                ),
            );
            return Vec::new();
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        f.fail("tags", format!("at most {MAX_TAGS} distinct tags"));
    }
    tags
}

fn time(f: &mut Fields, field: &str, v: Value) -> Option<DateTime<Utc>> {
    if v.is_null() {
        return None;
    }
    let s = f.as_string(field, v)?;
    let t = crate::timestamp::parse(&s).map(crate::truncate_to_micros);
    if t.is_none() {
        f.fail(
            field,
            format!(
                "{field} must be an RFC 3339 time in years 0000–9999 UTC, e.g. 2026-11-23T10:00:00Z"
            ),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn minimal_create() {
        let p = parse_new(json!({"title": "  Hello  "}), "").unwrap();
        assert_eq!(p.title, "Hello");
        assert_eq!(p.status, PostStatus::Draft);
        assert!(p.tags.is_empty() && p.slug.is_none());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errs = parse_new(
            json!({"title": "", "slug": "Bad Slug", "status": "live", "tags": ["a", ""], "published_at": "yesterday", "color": "red"}),
            "",
        )
        .unwrap_err();
        let mut got = fields(&errs);
        got.sort();
        assert_eq!(
            got,
            ["color", "published_at", "slug", "status", "tags", "title"]
        );
    }

    #[test]
    fn prefix_names_bulk_items() {
        let errs = parse_new(json!({"title": 5}), "posts[3].").unwrap_err();
        assert_eq!(fields(&errs), ["posts[3].title"]);
        let errs = parse_new(json!([1]), "posts[0].").unwrap_err();
        assert_eq!(fields(&errs), ["posts[0]"]);
    }

    #[test]
    fn limits() {
        assert!(parse_new(json!({"title": "x".repeat(300)}), "").is_ok());
        assert!(parse_new(json!({"title": "x".repeat(301)}), "").is_err());
        assert!(
            parse_new(
                json!({"title": "t", "body": "x".repeat(MAX_BODY_BYTES)}),
                ""
            )
            .is_ok()
        );
        let errs = parse_new(
            json!({"title": "t", "body": "x".repeat(MAX_BODY_BYTES + 1)}),
            "",
        )
        .unwrap_err();
        assert_eq!(fields(&errs), ["body"]);
        let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(parse_new(json!({"title": "t", "tags": tags}), "").is_err());
        let p = parse_new(json!({"title": "t", "tags": ["a", "a", "b"]}), "").unwrap();
        assert_eq!(p.tags, ["a", "b"]);
    }

    #[test]
    fn patch_distinguishes_absent_and_null() {
        let p = parse_patch(json!({"excerpt": null, "body": "b"})).unwrap();
        assert_eq!(p.excerpt, Some(None));
        assert_eq!(p.body, Some(Some("b".into())));
        assert_eq!(p.title, None);
        assert!(parse_patch(json!({})).unwrap().is_empty());
        let errs = parse_patch(json!({"title": null, "slug": null, "id": 3})).unwrap_err();
        let mut got = fields(&errs);
        got.sort();
        assert_eq!(got, ["id", "slug", "title"]);
    }

    #[test]
    fn nul_is_refused_in_every_string_field() {
        for field in ["title", "slug", "excerpt", "body", "published_at"] {
            let mut body = json!({"title": "t"});
            body[field] = json!("a\u{0}b");
            let errs = parse_new(body.clone(), "posts[2].").unwrap_err();
            assert_eq!(fields(&errs), [format!("posts[2].{field}")], "{field}");
            let errs = parse_patch(body).unwrap_err();
            assert_eq!(fields(&errs), [field], "{field}");
        }
        let errs = parse_new(json!({"title": "t", "tags": ["a\u{0}"]}), "").unwrap_err();
        assert_eq!(fields(&errs), ["tags"]);
        assert!(parse_new(json!({"title": "t", "body": "tabs\tand\nlines"}), "").is_ok());
    }

    /// A body is sent as the JSON of its text, whatever the text holds, and reads back as
    /// that text; a literal spelled differently (a store's own quoting) is the same body.
    #[test]
    fn a_body_is_sent_as_the_json_of_its_text() {
        for text in [
            "",
            "plain",
            "q\"b\\s/",
            "\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "ü 😀 \u{2028}",
        ] {
            let body = Body::new(text);
            assert_eq!(body.text(), text);
            assert_eq!(body.json(), serde_json::to_string(text).unwrap());
            #[derive(Serialize)]
            struct Holder<'a> {
                body: &'a Body,
                text: &'a str,
            }
            let sent = serde_json::to_value(Holder { body: &body, text }).unwrap();
            assert_eq!(sent["body"], sent["text"], "{text:?}");
            let back: Body = serde_json::from_value(json!(text)).unwrap();
            assert_eq!(back, body);
            assert_eq!(Body::from_json(body.clone().into_json()).unwrap(), body);
        }
        let other_spelling = Body::from_json(r#""\u0041\/""#.to_owned()).unwrap();
        assert_eq!(other_spelling, Body::new("A/"));
        assert_eq!(other_spelling.text(), "A/");
        for bad in ["", "1", "null", "\"open", "\"a\" x", "[\"a\"]", "\"\\x\""] {
            assert!(Body::from_json(bad.to_owned()).is_err(), "{bad:?}");
        }
        // Whitespace around the literal is not kept: a response never carries it.
        assert_eq!(
            Body::from_json("\"a\" ".to_owned()).unwrap().json(),
            "\"a\""
        );
    }

    #[test]
    fn times_outside_years_0000_to_9999_are_refused() {
        for outside in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+00:30"] {
            let errs = parse_new(json!({"title": "t", "published_at": outside}), "").unwrap_err();
            assert_eq!(fields(&errs), ["published_at"], "{outside}");
            let errs = parse_patch(json!({"published_at": outside})).unwrap_err();
            assert_eq!(fields(&errs), ["published_at"], "{outside}");
        }
        for edge in ["9999-12-31T23:59:59.999999Z", "0000-01-01T00:00:00Z"] {
            assert!(parse_new(json!({"title": "t", "published_at": edge}), "").is_ok());
        }
    }

    #[test]
    fn times_are_normalised_to_utc() {
        let p = parse_new(
            json!({"title": "t", "published_at": "2026-01-01T12:00:00+02:00"}),
            "",
        )
        .unwrap();
        assert_eq!(
            p.published_at.unwrap().to_rfc3339(),
            "2026-01-01T10:00:00+00:00"
        );
    }
}
