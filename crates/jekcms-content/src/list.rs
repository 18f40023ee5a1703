//! Keyset-paginated lists: sorts, filters, query parameters and pages (API.md §4).
//!
//! A [`ListQuery`] is built from raw query parameters by [`ListQuery::from_params`], which
//! reports every bad parameter by name. Its [`binding`](ListQuery::binding) is the canonical
//! form of sort and filters that a cursor is sealed to, so a cursor cannot be reused under
//! another query. The position itself is a [`jekcms_cursor::Cursor`].

use crate::FieldError;
use crate::post::{Post, PostStatus, title_key};
use chrono::{DateTime, Utc};
use jekcms_cursor::{Cursor, SortKey};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

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

    /// The cursor for the position right after `post` under this sort.
    pub fn cursor_after(self, post: &Post) -> Cursor {
        let key = match self.field {
            SortField::CreatedAt => SortKey::Int(post.created_at.timestamp_micros()),
            SortField::UpdatedAt => SortKey::Int(post.updated_at.timestamp_micros()),
            SortField::PublishedAt => post
                .published_at
                .map_or(SortKey::Null, |t| SortKey::Int(t.timestamp_micros())),
            SortField::Title => SortKey::Text(title_key(&post.title)),
        };
        Cursor { key, id: post.id }
    }

    /// Whether `cursor`'s key has the shape this sort produces.
    pub fn accepts(self, cursor: &Cursor) -> bool {
        matches!(
            (self.field, &cursor.key),
            (SortField::CreatedAt | SortField::UpdatedAt, SortKey::Int(_))
                | (SortField::PublishedAt, SortKey::Int(_) | SortKey::Null)
                | (SortField::Title, SortKey::Text(_))
        )
    }
}

/// Filters of the post list; all given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilter {
    /// Only this status.
    pub status: Option<PostStatus>,
    /// Only posts carrying this tag.
    pub tag: Option<String>,
    /// Only this author's posts.
    pub author_id: Option<i64>,
    /// Only posts changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Case-insensitive literal substring of the title (already case-folded).
    pub q: Option<String>,
}

/// Everything that decides one page of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Order.
    pub sort: PostSort,
    /// Filters.
    pub filter: PostFilter,
    /// Page size, 1–100.
    pub limit: u32,
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
    /// Whether to count all matching rows too.
    pub include_total: bool,
}

/// Raw query parameters of a list request, as strings, before validation.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// `?limit=`
    pub limit: Option<String>,
    /// `?cursor=`
    pub cursor: Option<String>,
    /// `?sort=`
    pub sort: Option<String>,
    /// `?status=`
    pub status: Option<String>,
    /// `?tag=`
    pub tag: Option<String>,
    /// `?author_id=`
    pub author_id: Option<String>,
    /// `?updated_since=`
    pub updated_since: Option<String>,
    /// `?q=`
    pub q: Option<String>,
    /// `?include=`
    pub include: Option<String>,
}

impl ListParams {
    /// Collects parameters from `(name, value)` pairs; an unknown name is an error naming it.
    /// A repeated parameter is an error too: which one would win is not obvious.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut p = Self::default();
        let mut errors = Vec::new();
        for (name, value) in pairs {
            let slot = match name {
                "limit" => &mut p.limit,
                "cursor" => &mut p.cursor,
                "sort" => &mut p.sort,
                "status" => &mut p.status,
                "tag" => &mut p.tag,
                "author_id" => &mut p.author_id,
                "updated_since" => &mut p.updated_since,
                "q" => &mut p.q,
                "include" => &mut p.include,
                _ => {
                    errors.push(FieldError::new(name, "unknown query parameter"));
                    continue;
                }
            };
            if slot.replace(value.to_owned()).is_some() {
                errors.push(FieldError::new(name, "parameter given more than once"));
            }
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }
}

/// Parses `?limit=`: 1–100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, FieldError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Parses `?include=`: only `total` is known.
pub fn parse_include_total(raw: Option<&str>) -> Result<bool, FieldError> {
    match raw {
        None => Ok(false),
        Some("total") => Ok(true),
        Some(_) => Err(FieldError::new("include", "include accepts only total")),
    }
}

impl ListQuery {
    /// Validates raw parameters. The cursor is *not* opened here (that needs the key and the
    /// binding): `open_cursor` is called with the binding of the parsed query.
    pub fn from_params(
        p: &ListParams,
        open_cursor: impl FnOnce(&str, &[u8]) -> Option<Cursor>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut q = ListQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        match parse_limit(p.limit.as_deref()) {
            Ok(n) => q.limit = n,
            Err(e) => errors.push(e),
        }
        match parse_include_total(p.include.as_deref()) {
            Ok(b) => q.include_total = b,
            Err(e) => errors.push(e),
        }
        if let Some(s) = &p.sort {
            match PostSort::parse(s) {
                Some(sort) => q.sort = sort,
                None => errors.push(FieldError::new(
                    "sort",
                    format!("sort must be one of {}", PostSort::ACCEPTED.join(", ")),
                )),
            }
        }
        if let Some(s) = &p.status {
            match PostStatus::parse(s) {
                Some(st) => q.filter.status = Some(st),
                None => errors.push(FieldError::new(
                    "status",
                    "status must be one of draft, published, archived",
                )),
            }
        }
        if let Some(t) = &p.tag {
            let n = t.chars().count();
            if n == 0 || n > crate::post::MAX_TAG_CHARS {
                errors.push(FieldError::new("tag", "tag must be 1–50 characters"));
            } else {
                q.filter.tag = Some(t.clone());
            }
        }
        if let Some(a) = &p.author_id {
            match a.parse::<i64>() {
                Ok(id) if id > 0 => q.filter.author_id = Some(id),
                _ => errors.push(FieldError::new(
                    "author_id",
                    "author_id must be a positive integer",
                )),
            }
        }
        if let Some(s) = &p.updated_since {
            match crate::timestamp::parse(s) {
                Some(t) => q.filter.updated_since = Some(t),
                None => errors.push(FieldError::new(
                    "updated_since",
                    "updated_since must be an RFC 3339 time in years 0000–9999 UTC, e.g. 2026-11-23T10:00:00Z",
                )),
            }
        }
        if let Some(s) = &p.q {
            if s.is_empty() || s.chars().count() > crate::post::MAX_TITLE_CHARS {
                errors.push(FieldError::new("q", "q must be 1–300 characters"));
            } else {
                q.filter.q = Some(title_key(s));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(raw) = &p.cursor {
            match open_cursor(raw, &q.binding()) {
                Some(c) if q.sort.accepts(&c) => q.after = Some(c),
                _ => {
                    return Err(vec![FieldError::new(
                        "cursor",
                        "cursor is invalid, or was made for another sort or filter",
                    )]);
                }
            }
        }
        Ok(q)
    }

    /// The canonical bytes of sort and filters a cursor is sealed to. Each part is length-
    /// prefixed so that no two different queries share a binding. `limit` is left out on
    /// purpose: it may change between pages.
    pub fn binding(&self) -> Vec<u8> {
        let f = &self.filter;
        let parts: [String; 6] = [
            self.sort.name(),
            f.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            f.tag.clone().unwrap_or_default(),
            f.author_id.map(|a| a.to_string()).unwrap_or_default(),
            f.updated_since
                .map(|t| t.timestamp_micros().to_string())
                .unwrap_or_default(),
            f.q.clone().unwrap_or_default(),
        ];
        let mut out = b"posts/v1".to_vec();
        for part in parts {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A legacy (v1) offset page: 1-based `page`, `per_page` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    /// 1-based page number.
    pub page: u32,
    /// Rows per page, 1–100.
    pub per_page: u32,
}

impl OffsetPage {
    /// Rows before this page.
    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// Reads `?page=` (default 1, at least 1) and `?per_page=` (default 20, at least 1;
    /// above 100 is clamped to 100, as v1 always did).
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = match page {
            None => 1,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errors.push(FieldError::new("page", "page must be a positive integer"));
                    1
                }
            },
        };
        let per_page = match per_page {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if n >= 1 => n.min(u64::from(MAX_LIMIT)) as u32,
                _ => {
                    errors.push(FieldError::new(
                        "per_page",
                        "per_page must be a positive integer",
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    /// Pages needed for `total` rows.
    pub fn total_pages(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.per_page))
    }
}

/// One legacy offset page and the count of all rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetList<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// All rows of the list.
    pub total: u64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// Position after the last row, when more rows follow.
    pub next: Option<Cursor>,
    /// Count of all matching rows, when asked for.
    pub total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_pages() {
        let p = OffsetPage::parse(None, None).unwrap();
        assert_eq!((p.page, p.per_page, p.offset()), (1, 20, 0));
        let p = OffsetPage::parse(Some("500"), Some("20")).unwrap();
        assert_eq!(p.offset(), 9_980);
        assert_eq!(OffsetPage::parse(None, Some("1000")).unwrap().per_page, 100);
        assert_eq!(p.total_pages(41), 3);
        assert_eq!(p.total_pages(0), 0);
        for (page, per) in [
            (Some("0"), None),
            (Some("x"), None),
            (None, Some("0")),
            (None, Some("-1")),
        ] {
            assert!(OffsetPage::parse(page, per).is_err());
        }
    }

    fn params(pairs: &[(&str, &str)]) -> ListParams {
        ListParams::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn defaults() {
        let q = ListQuery::from_params(&params(&[]), |_, _| None).unwrap();
        assert_eq!(q.limit, 20);
        assert_eq!(q.sort.name(), "-created_at");
        assert!(!q.include_total);
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
        let p = params(&[
            ("limit", "0"),
            ("sort", "nope"),
            ("status", "x"),
            ("author_id", "-1"),
            ("updated_since", "x"),
            ("include", "everything"),
        ]);
        let errs = ListQuery::from_params(&p, |_, _| None).unwrap_err();
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
        for bad in ["101", "-1", "abc", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
        let errs = ListParams::from_pairs([("colour", "red"), ("q", "a"), ("q", "b")]).unwrap_err();
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn updated_since_stays_within_years_0000_to_9999() {
        for outside in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"] {
            let errs = ListQuery::from_params(&params(&[("updated_since", outside)]), |_, _| None)
                .unwrap_err();
            assert_eq!(errs[0].field, "updated_since", "{outside}");
        }
        let q = ListQuery::from_params(
            &params(&[("updated_since", "0000-01-01T00:00:00Z")]),
            |_, _| None,
        )
        .unwrap();
        assert!(q.filter.updated_since.is_some());
    }

    #[test]
    fn bindings_differ_by_sort_and_filter_not_limit() {
        let b = |pairs: &[(&str, &str)]| {
            ListQuery::from_params(&params(pairs), |_, _| None)
                .unwrap()
                .binding()
        };
        assert_eq!(b(&[("limit", "5")]), b(&[("limit", "50")]));
        assert_ne!(b(&[]), b(&[("sort", "created_at")]));
        assert_ne!(b(&[("tag", "ab")]), b(&[("q", "ab")]));
        assert_ne!(b(&[("tag", "a")]), b(&[("tag", "b")]));
    }

    #[test]
    fn cursor_shape_must_match_sort() {
        let p = params(&[("sort", "title"), ("cursor", "c")]);
        let err = ListQuery::from_params(&p, |_, _| {
            Some(Cursor {
                key: SortKey::Int(1),
                id: 1,
            })
        })
        .unwrap_err();
        assert_eq!(err[0].field, "cursor");
        let ok = ListQuery::from_params(&p, |_, _| {
            Some(Cursor {
                key: SortKey::Text("a".into()),
                id: 1,
            })
        })
        .unwrap();
        assert!(ok.after.is_some());
    }

    #[test]
    fn q_is_case_folded() {
        let q = ListQuery::from_params(&params(&[("q", "RuSt")]), |_, _| None).unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("rust"));
    }
}
