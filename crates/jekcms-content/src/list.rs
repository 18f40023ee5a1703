//! The post list (API.md §3, §4): its sorts and filters, on top of the paging every list
//! shares ([`crate::page`]).
//!
//! A [`PostListQuery`] is read from the request's parameters by its [`Listing`] impl, which
//! reports every bad parameter by name. Its [`binding`](Listing::binding) is the canonical
//! form of sort and filters that a cursor is sealed to, so a cursor cannot be reused under
//! another query.

use crate::FieldError;
use crate::page::{Bound, Key, Keys, Listing, Params, parse_include_total};
use crate::post::{Post, PostStatus, title_key};
use chrono::{DateTime, Utc};

/// Column a list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    /// Creation time.
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Publication time; posts without one come last in both directions.
    PublishedAt,
    /// Case-folded title.
    Title,
}

/// A sort: a field and a direction. Ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostSort {
    /// The column.
    pub field: SortField,
    /// Largest first.
    pub descending: bool,
}

impl Default for PostSort {
    fn default() -> Self {
        Self {
            field: SortField::CreatedAt,
            descending: true,
        }
    }
}

impl PostSort {
    /// Every accepted value of `?sort=`.
    pub const ACCEPTED: [&'static str; 8] = [
        "-created_at",
        "created_at",
        "-updated_at",
        "updated_at",
        "-published_at",
        "published_at",
        "title",
        "-title",
    ];

    /// Parses `?sort=`.
    pub fn parse(s: &str) -> Option<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let field = match name {
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            "published_at" => SortField::PublishedAt,
            "title" => SortField::Title,
            _ => return None,
        };
        Some(Self { field, descending })
    }

    /// The canonical name, e.g. `-created_at`.
    pub fn name(self) -> String {
        let field = match self.field {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::PublishedAt => "published_at",
            SortField::Title => "title",
        };
        if self.descending {
            format!("-{field}")
        } else {
            field.to_owned()
        }
    }

    /// The bound right after `post` under this sort.
    pub fn bound_after(self, post: &Post) -> Bound {
        let key = match self.field {
            SortField::CreatedAt => Key::Time(post.created_at),
            SortField::UpdatedAt => Key::Time(post.updated_at),
            SortField::PublishedAt => post.published_at.map_or(Key::Null, Key::Time),
            SortField::Title => Key::Text(title_key(&post.title)),
        };
        Bound { key, id: post.id }
    }

    /// The shape of this sort's keys.
    pub fn keys(self) -> Keys {
        match self.field {
            SortField::CreatedAt | SortField::UpdatedAt => Keys::Time,
            SortField::PublishedAt => Keys::OptionalTime,
            SortField::Title => Keys::Text,
        }
    }
}

/// Filters of the post list; all given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilter {
    /// Only this status.
    pub status: Option<PostStatus>,
    /// Only posts carrying at least one of these tags (sorted, without repeats; empty: no
    /// tag filter).
    pub tags: Vec<String>,
    /// Only the post with this slug.
    pub slug: Option<String>,
    /// Only this author's posts.
    pub author_id: Option<i64>,
    /// Only posts changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Case-insensitive literal substring of the title (already case-folded).
    pub q: Option<String>,
    /// Only posts published at or before this time (with `status` published: the posts
    /// visible at that time; the pull API's filter, never a management parameter).
    pub visible_at: Option<DateTime<Utc>>,
}

/// What the post list adds to a page request: order, filters, and whether to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostListQuery {
    /// Order.
    pub sort: PostSort,
    /// Filters.
    pub filter: PostFilter,
    /// Whether to count all matching rows too.
    pub include_total: bool,
    /// Whether the rows may come without their body (`body: None`): for a list that does
    /// not send bodies (the pull list unless `fields` names `body`), so that a store need
    /// not read or transfer them. Not a parameter of the management list.
    pub omit_body: bool,
}

impl Listing for PostListQuery {
    type Item = Post;

    const PARAMS: &'static [&'static str] = &[
        "sort",
        "status",
        "tag",
        "slug",
        "author_id",
        "updated_since",
        "q",
        "include",
    ];

    const REPEATABLE: &'static [&'static str] = &["tag"];

    fn from_params(p: &Params<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut q = PostListQuery::default();
        match parse_include_total(p.get("include")) {
            Ok(b) => q.include_total = b,
            Err(e) => errors.push(e),
        }
        if let Some(s) = p.get("sort") {
            match PostSort::parse(s) {
                Some(sort) => q.sort = sort,
                None => errors.push(FieldError::new(
                    "sort",
                    format!("sort must be one of {}", PostSort::ACCEPTED.join(", ")),
                )),
            }
        }
        if let Some(s) = p.get("status") {
            match PostStatus::parse(s) {
                Some(st) => q.filter.status = Some(st),
                None => errors.push(FieldError::new(
                    "status",
                    "status must be one of draft, published, archived",
                )),
            }
        }
        for t in p.get_all("tag") {
            let n = t.chars().count();
            if n == 0 || n > crate::post::MAX_TAG_CHARS {
                errors.push(FieldError::new("tag", "tag must be 1–50 characters"));
            } else if !q.filter.tags.iter().any(|have| have == t) {
                q.filter.tags.push(t.to_owned());
            }
        }
        if q.filter.tags.len() > crate::post::MAX_TAGS {
            errors.push(FieldError::new(
                "tag",
                format!("at most {} tag values", crate::post::MAX_TAGS),
            ));
        }
        q.filter.tags.sort_unstable();
        if let Some(s) = p.get("slug") {
            if jekcms_slug::is_valid(s) {
                q.filter.slug = Some(s.to_owned());
            } else {
                errors.push(FieldError::new(
                    "slug",
                    "slug must be lowercase letters and digits in groups joined by single hyphens, at most 200 characters",
                ));
            }
        }
        if let Some(a) = p.get("author_id") {
            match a.parse::<i64>() {
                Ok(id) if id > 0 => q.filter.author_id = Some(id),
                _ => errors.push(FieldError::new(
                    "author_id",
                    "author_id must be a positive integer",
                )),
            }
        }
        if let Some(s) = p.get("updated_since") {
            match crate::timestamp::parse(s) {
                Some(t) => q.filter.updated_since = Some(t),
                None => errors.push(FieldError::new(
                    "updated_since",
                    "updated_since must be an RFC 3339 time in years 0000–9999 UTC, e.g. 2026-11-23T10:00:00Z",
                )),
            }
        }
        if let Some(s) = p.get("q") {
            if s.is_empty() || s.chars().count() > crate::post::MAX_TITLE_CHARS {
                errors.push(FieldError::new("q", "q must be 1–300 characters"));
            } else {
                q.filter.q = Some(title_key(s));
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// Each part is length-prefixed so that no two different queries share a binding. The
    /// tags are joined by NUL, which no tag holds; the slug is a part only when given, so
    /// that cursors made before these filters existed still open.
    fn binding(&self) -> Vec<u8> {
        let f = &self.filter;
        let mut parts: Vec<String> = vec![
            self.sort.name(),
            f.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            f.tags.join("\0"),
            f.author_id.map(|a| a.to_string()).unwrap_or_default(),
            f.updated_since
                .map(|t| t.timestamp_micros().to_string())
                .unwrap_or_default(),
            f.q.clone().unwrap_or_default(),
        ];
        if let Some(slug) = &f.slug {
            parts.push(format!("slug:{slug}"));
        }
        let mut out = b"posts/v1".to_vec();
        for part in parts {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    fn keys(&self) -> Keys {
        self.sort.keys()
    }

    fn bound_after(&self, post: &Post) -> Bound {
        self.sort.bound_after(post)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{ListRequest, Window};
    use jekcms_cursor::CursorCodec;

    fn parse(pairs: &[(&str, &str)]) -> Result<PostListQuery, Vec<FieldError>> {
        PostListQuery::from_params(&Params::parse(
            pairs.iter().copied(),
            PostListQuery::PARAMS,
        )?)
    }

    #[test]
    fn defaults() {
        let q = parse(&[]).unwrap();
        assert_eq!(q.sort.name(), "-created_at");
        assert!(!q.include_total);
        assert_eq!(q.filter, PostFilter::default());
    }

    #[test]
    fn every_sort_round_trips() {
        for s in PostSort::ACCEPTED {
            assert_eq!(PostSort::parse(s).unwrap().name(), s);
        }
        assert!(PostSort::parse("-id").is_none());
    }

    #[test]
    fn bad_parameters_are_named() {
        let codec = CursorCodec::new(&[1; 32]);
        let pairs = [
            ("limit", "0"),
            ("sort", "nope"),
            ("status", "x"),
            ("author_id", "-1"),
            ("updated_since", "x"),
            ("include", "everything"),
            ("cursor", "not-checked-while-others-are-bad"),
        ];
        let errs = ListRequest::<PostListQuery>::parse(pairs, &codec, 1)
            .err()
            .unwrap();
        let mut fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "author_id",
                "include",
                "limit",
                "sort",
                "status",
                "updated_since"
            ]
        );
        let errs = parse(&[("colour", "red"), ("q", "a"), ("q", "b")]).unwrap_err();
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn updated_since_stays_within_years_0000_to_9999() {
        for outside in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"] {
            let errs = parse(&[("updated_since", outside)]).unwrap_err();
            assert_eq!(errs[0].field, "updated_since", "{outside}");
        }
        let q = parse(&[("updated_since", "0000-01-01T00:00:00Z")]).unwrap();
        assert!(q.filter.updated_since.is_some());
    }

    #[test]
    fn bindings_differ_by_sort_and_filter_not_limit() {
        let b = |pairs: &[(&str, &str)]| parse(pairs).unwrap().binding();
        assert_eq!(b(&[]), b(&[("include", "total")]));
        assert_ne!(b(&[]), b(&[("sort", "created_at")]));
        assert_ne!(b(&[("tag", "ab")]), b(&[("q", "ab")]));
        assert_ne!(b(&[("tag", "a")]), b(&[("tag", "b")]));
        let codec = CursorCodec::new(&[1; 32]);
        let limit = |l: &'static str| {
            ListRequest::<PostListQuery>::parse([("limit", l)], &codec, 1)
                .unwrap()
                .window
        };
        assert_eq!(limit("5"), Window::first(5));
        assert_eq!(limit("50"), Window::first(50));
    }

    #[test]
    fn a_cursor_of_one_sort_is_refused_by_another() {
        let codec = CursorCodec::new(&[1; 32]);
        let post = |id: i64, title: &str| Post {
            id,
            site_id: 1,
            author_id: 1,
            title: title.into(),
            slug: format!("p{id}"),
            excerpt: None,
            body: None,
            status: PostStatus::Draft,
            tags: Vec::new(),
            published_at: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            version: 1,
        };
        // A page of one post under `title` leaves a cursor after it...
        let req =
            ListRequest::<PostListQuery>::parse([("sort", "title"), ("limit", "1")], &codec, 1)
                .unwrap();
        let page = req.page(crate::page::Rows::new(vec![
            post(2, "Beta"),
            post(1, "Alpha"),
        ]));
        let cursor = page.next_cursor.unwrap();
        // ...which that sort opens to a typed bound, and any other sort refuses.
        let again = ListRequest::<PostListQuery>::parse(
            [("sort", "title"), ("cursor", cursor.as_str())],
            &codec,
            1,
        )
        .unwrap();
        assert_eq!(
            again.window.after,
            Some(Bound {
                key: Key::Text("beta".into()),
                id: 2
            })
        );
        let errs = ListRequest::<PostListQuery>::parse(
            [("sort", "-title"), ("cursor", cursor.as_str())],
            &codec,
            1,
        )
        .err()
        .unwrap();
        assert_eq!(errs[0].field, "cursor");
    }

    #[test]
    fn q_is_case_folded() {
        let q = parse(&[("q", "RuSt")]).unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("rust"));
    }
}
