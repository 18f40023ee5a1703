//! The pull API's domain (API.md §9): what a website's front end may read with its site's
//! `pk_` key, and the key's rotation.
//!
//! A post is *visible* when it is published and its `published_at` is not in the future: a
//! post published with a later date is scheduled and appears by itself at that moment, with
//! no write. [`PullListQuery`] is the pull list's request (its own sorts, filters and
//! `?fields=`); it is answered by the same store query as the management list, with
//! [`PostFilter::visible_at`](crate::list::PostFilter::visible_at) set. [`PullItem`] writes a
//! post with only the fields a front end asked for, never the internal ones.
//!
//! [`PullRepository`] is what a store provides: the site behind a key hash (one indexed
//! read, which also returns the site's content version and next scheduled publication, so a
//! cache can tell whether a page it holds is still exact), and rotation.

use crate::activity::Writer;
use crate::list::{PostListQuery, PostSort, SortField};
use crate::page::{Bound, Keys, Listing, Params, Rows, Window};
use crate::post::{Post, PostStatus};
use crate::repo::PostRepository;
use crate::{ContentError, FieldError};
use chrono::{DateTime, Utc};
use jekcms_auth::policy::{Action, Actor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::future::Future;

/// One field a pull item may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PullField {
    /// `id`
    Id = 1,
    /// `slug`
    Slug = 2,
    /// `title`
    Title = 4,
    /// `excerpt`
    Excerpt = 8,
    /// `published_at`
    PublishedAt = 16,
    /// `updated_at`
    UpdatedAt = 32,
    /// `tags`
    Tags = 64,
    /// `body`
    Body = 128,
}

impl PullField {
    /// Every field, in the order items are written.
    pub const ALL: [PullField; 8] = [
        Self::Id,
        Self::Slug,
        Self::Title,
        Self::Excerpt,
        Self::PublishedAt,
        Self::UpdatedAt,
        Self::Tags,
        Self::Body,
    ];

    /// The field's JSON name.
    pub const fn name(self) -> &'static str {
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

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A set of [`PullField`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PullFields(u8);

impl PullFields {
    /// A list item's fields when `?fields=` is absent: everything but `body`.
    pub const LIST_DEFAULT: Self = Self(0x7f);
    /// Every field: a post fetched by slug.
    pub const ALL: Self = Self(0xff);

    /// Whether `field` is in the set.
    pub fn contains(self, field: PullField) -> bool {
        self.0 & field as u8 != 0
    }

    /// Parses `?fields=`: comma-separated names, at least one; an unknown name is refused
    /// by name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut set = 0u8;
        for name in raw.split(',').map(str::trim) {
            match PullField::from_name(name) {
                Some(f) => set |= f as u8,
                None if name.is_empty() => {
                    return Err(FieldError::new(
                        "fields",
                        format!("fields takes comma-separated names from {}", Self::names()),
                    ));
                }
                None => {
                    return Err(FieldError::new(
                        "fields",
                        format!(
                            "unknown field {name:?}; fields takes names from {}",
                            Self::names()
                        ),
                    ));
                }
            }
        }
        Ok(Self(set))
    }

    fn names() -> String {
        PullField::ALL.map(PullField::name).join(", ")
    }
}

/// A post as the pull API writes it: only the fields asked for.
#[derive(Debug, Clone, Copy)]
pub struct PullItem<'a> {
    /// The post.
    pub post: &'a Post,
    /// Its fields to write.
    pub fields: PullFields,
}

impl Serialize for PullItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Time<'t>(&'t DateTime<Utc>);
        impl Serialize for Time<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                crate::timestamp::serialize(self.0, s)
            }
        }
        let p = self.post;
        let mut map = s.serialize_map(None)?;
        for field in PullField::ALL {
            if !self.fields.contains(field) {
                continue;
            }
            let key = field.name();
            match field {
                PullField::Id => map.serialize_entry(key, &p.id)?,
                PullField::Slug => map.serialize_entry(key, &p.slug)?,
                PullField::Title => map.serialize_entry(key, &p.title)?,
                PullField::Excerpt => map.serialize_entry(key, &p.excerpt)?,
                PullField::PublishedAt => {
                    map.serialize_entry(key, &p.published_at.as_ref().map(Time))?
                }
                PullField::UpdatedAt => map.serialize_entry(key, &Time(&p.updated_at))?,
                PullField::Tags => map.serialize_entry(key, &p.tags)?,
                PullField::Body => map.serialize_entry(key, &p.body)?,
            }
        }
        map.end()
    }
}

/// The sorts of the pull list: no `created_at` (a front end orders by publication).
pub const PULL_SORTS: [&str; 6] = [
    "-published_at",
    "published_at",
    "-updated_at",
    "updated_at",
    "title",
    "-title",
];

/// A pull list request: its sort, filters, `include` and `fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullListQuery {
    /// The management list's query it is answered by, without the visibility filter
    /// (added at a given time by [`PullListQuery::at`]).
    pub query: PostListQuery,
    /// The fields of each item.
    pub fields: PullFields,
}

impl PullListQuery {
    /// The store query for the posts visible at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> PostListQuery {
        let mut q = self.query.clone();
        q.filter.status = Some(PostStatus::Published);
        q.filter.visible_at = Some(now);
        q.omit_body = !self.fields.contains(PullField::Body);
        q
    }
}

impl Listing for PullListQuery {
    type Item = Post;

    const PARAMS: &'static [&'static str] =
        &["sort", "tag", "q", "updated_since", "include", "fields"];
    const REPEATABLE: &'static [&'static str] = &["tag"];

    fn from_params(p: &Params<'_>) -> Result<Self, Vec<FieldError>> {
        // The management list reads the shared parameters; only the names above reach it.
        let mut errors = Vec::new();
        let query = PostListQuery::from_params(p).map_err(|e| {
            errors.extend(e.into_iter().filter(|e| e.field != "sort"));
        });
        let sort = match p.get("sort") {
            None => Some(PostSort {
                field: SortField::PublishedAt,
                descending: true,
            }),
            Some(s) => PostSort::parse(s).filter(|_| PULL_SORTS.contains(&s)),
        };
        if sort.is_none() {
            errors.push(FieldError::new(
                "sort",
                format!("sort must be one of {}", PULL_SORTS.join(", ")),
            ));
        }
        let fields = p
            .get("fields")
            .map_or(Ok(PullFields::LIST_DEFAULT), PullFields::parse)
            .map_err(|e| errors.push(e));
        match (query, sort, fields) {
            (Ok(mut query), Some(sort), Ok(fields)) if errors.is_empty() => {
                query.sort = sort;
                Ok(Self { query, fields })
            }
            _ => Err(errors),
        }
    }

    /// The management list's binding under its own prefix, so that a cursor of one list
    /// never opens in the other. `fields` is not part of it: it does not change the rows.
    fn binding(&self) -> Vec<u8> {
        let mut out = b"pull/v1".to_vec();
        out.extend_from_slice(&self.query.binding());
        out
    }

    fn keys(&self) -> Keys {
        self.query.keys()
    }

    fn bound_after(&self, post: &Post) -> Bound {
        self.query.bound_after(post)
    }
}

/// A page of the site's posts visible at `now` (the store is asked for one more row than
/// the page, as every list does).
pub async fn visible_posts<R: PostRepository>(
    repo: &R,
    site_id: i64,
    query: &PullListQuery,
    window: &Window,
    now: DateTime<Utc>,
) -> Result<Rows<Post>, ContentError> {
    repo.list_posts(site_id, &query.at(now), window).await
}

/// The site's post `slug` if it is visible at `now`; anything else is `NotFound`.
pub async fn visible_post<R: PostRepository>(
    repo: &R,
    site_id: i64,
    slug: &str,
    now: DateTime<Utc>,
) -> Result<Post, ContentError> {
    if !jekcms_slug::is_valid(slug) {
        return Err(ContentError::NotFound);
    }
    let mut query = PostListQuery::default();
    query.filter.slug = Some(slug.to_owned());
    query.filter.status = Some(PostStatus::Published);
    query.filter.visible_at = Some(now);
    let rows = repo.list_posts(site_id, &query, &Window::first(1)).await?;
    rows.items.into_iter().next().ok_or(ContentError::NotFound)
}

/// Whether `actor` may rotate site `site_id`'s keys: an owner of that site (another site's
/// id is `NotFound`, never `Forbidden`).
pub fn may_rotate(actor: &Actor, site_id: i64) -> Result<(), ContentError> {
    if site_id != actor.site_id {
        return Err(ContentError::NotFound);
    }
    actor.require(Action::ManageSite, false)?;
    Ok(())
}

/// What a site's sealed webhook secret is bound to ([`jekcms_auth::sealed`]).
pub fn webhook_secret_purpose(site_id: i64) -> String {
    format!("webhook-secret/{site_id}")
}

/// The site a pull key belongs to, as one request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSite {
    /// The site.
    pub site_id: i64,
    /// Its license: false answers 402.
    pub api_access: bool,
    /// Its plan (the app maps it to the pull quota).
    pub plan: jekcms_auth::Plan,
    /// Bumped by every write to the site's posts or media.
    pub content_version: i64,
    /// Until when the key works (`None`: until a rotation without overlap replaces it).
    pub key_valid_until: Option<DateTime<Utc>>,
    /// The earliest `published_at` after the time asked about among the site's published
    /// posts: the moment the visible set next changes without a write.
    pub next_scheduled: Option<DateTime<Utc>>,
}

/// The answer to a rotation: the new key and secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedKeys {
    /// The new key's row id (`pull_key.key_id` of the site).
    pub key_id: i64,
    /// When the rotation happened.
    pub rotated_at: DateTime<Utc>,
    /// Until when the previous key and secret keep working; `None` with no overlap.
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// Storage of pull keys and the site state the pull API reads.
pub trait PullRepository: Send + Sync {
    /// The site whose pull key hashes to `key_hash` and is valid at `now`, with its
    /// content version and the next scheduled publication after `now`.
    fn pull_site(
        &self,
        key_hash: &[u8],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PullSite>, ContentError>> + Send;

    /// Makes `key_hash` the writer's site's active pull key (with the webhook secret,
    /// sealed) in one transaction, with its `site.keys_rotated` event: the previous active key stays valid until `previous_valid_until`,
    /// or is removed at once when that is `None`; keys whose overlap has ended are removed.
    fn rotate_pull_key(
        &self,
        by: &Writer,
        key_hash: &[u8],
        sealed_webhook_secret: &[u8],
        now: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<i64, ContentError>> + Send;

    /// Whether site `site_id` lists `origin` among its front ends' origins, or with `None`,
    /// whether any site does (a CORS preflight carries no key).
    fn site_lists_origin(
        &self,
        site_id: Option<i64>,
        origin: &str,
    ) -> impl Future<Output = Result<bool, ContentError>> + Send;
}

/// The longest overlap a rotation may ask for: a day.
pub const MAX_OVERLAP_SECONDS: i64 = 86_400;

/// Reads a rotation body: `{"overlap_seconds": 0–86400}`, every field optional (an absent or
/// empty body means no overlap).
pub fn parse_rotation(body: Option<Value>) -> Result<i64, ContentError> {
    let Some(body) = body else { return Ok(0) };
    let mut f = jekcms_envelope::fields::Fields::new(body, &["overlap_seconds"])
        .map_err(ContentError::Validation)?;
    let overlap = f.optional_integer("overlap_seconds").unwrap_or(0);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        f.fail(
            "overlap_seconds",
            format!("overlap_seconds must be 0–{MAX_OVERLAP_SECONDS}"),
        );
    }
    f.finish(overlap).map_err(ContentError::Validation)
}

/// Rotates site `site_id`'s pull key for `actor` (an owner of that site; another site's id
/// is `NotFound`). The caller made the key and the sealed secret; the store keeps the hash.
pub async fn rotate_pull_key<R: PullRepository>(
    repo: &R,
    by: &Writer,
    site_id: i64,
    key_hash: &[u8],
    sealed_webhook_secret: &[u8],
    overlap_seconds: i64,
) -> Result<RotatedKeys, ContentError> {
    may_rotate(&by.actor, site_id)?;
    let now = crate::now();
    let previous_valid_until =
        (overlap_seconds > 0).then(|| now + chrono::Duration::seconds(overlap_seconds));
    let key_id = repo
        .rotate_pull_key(
            by,
            key_hash,
            sealed_webhook_secret,
            now,
            previous_valid_until,
        )
        .await?;
    Ok(RotatedKeys {
        key_id,
        rotated_at: now,
        previous_valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<PullListQuery, Vec<FieldError>> {
        let p = Params::parse_repeating(
            pairs.iter().copied(),
            PullListQuery::PARAMS,
            PullListQuery::REPEATABLE,
        )?;
        PullListQuery::from_params(&p)
    }

    #[test]
    fn defaults_to_newest_published_first_without_body() {
        let q = parse(&[]).unwrap();
        assert_eq!(q.query.sort.name(), "-published_at");
        assert_eq!(q.fields, PullFields::LIST_DEFAULT);
        assert!(!q.fields.contains(PullField::Body));
        let at = crate::now();
        let store_query = q.at(at);
        assert_eq!(store_query.filter.status, Some(PostStatus::Published));
        assert_eq!(store_query.filter.visible_at, Some(at));
    }

    #[test]
    fn refuses_management_only_sorts_and_unknown_fields_by_name() {
        let e = parse(&[("sort", "-created_at")]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "sort");
        assert!(e[0].message.contains("-published_at"));
        let e = parse(&[("fields", "title,author_id")]).unwrap_err();
        assert_eq!(e[0].field, "fields");
        assert!(e[0].message.contains("author_id"));
        for bad in ["", "title,", ",", "TITLE"] {
            assert_eq!(parse(&[("fields", bad)]).unwrap_err()[0].field, "fields");
        }
        let e = parse(&[("sort", "x"), ("include", "all"), ("fields", "nope")]).unwrap_err();
        let mut names: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["fields", "include", "sort"]);
    }

    #[test]
    fn fields_select_exactly_what_is_written() {
        let q = parse(&[("fields", "slug, body,title,slug")]).unwrap();
        let post: Post = serde_json::from_value(serde_json::json!({
            "id": 1, "site_id": 2, "author_id": 3, "title": "T", "slug": "t",
            "excerpt": null, "body": "B", "status": "published", "tags": ["a"],
            "published_at": "2026-01-01T00:00:00Z", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-02T00:00:00Z"
        }))
        .unwrap();
        let v = serde_json::to_value(PullItem {
            post: &post,
            fields: q.fields,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"slug": "t", "title": "T", "body": "B"})
        );
        // Written in a fixed order, without body.
        let text = serde_json::to_string(&PullItem {
            post: &post,
            fields: PullFields::LIST_DEFAULT,
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"id":1,"slug":"t","title":"T","excerpt":null,"published_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","tags":["a"]}"#
        );
    }

    /// The pull list asks the store for bodies only when `fields` names `body`.
    #[test]
    fn bodies_are_read_only_when_sent() {
        let now = Utc::now();
        assert!(parse(&[]).unwrap().at(now).omit_body);
        assert!(
            parse(&[("fields", "slug,title")])
                .unwrap()
                .at(now)
                .omit_body
        );
        assert!(!parse(&[("fields", "slug,body")]).unwrap().at(now).omit_body);
    }

    #[test]
    fn pull_cursors_are_not_management_cursors() {
        let pull = parse(&[]).unwrap();
        let management = PostListQuery {
            sort: pull.query.sort,
            ..Default::default()
        };
        assert_ne!(pull.binding(), management.binding());
        let other_fields = parse(&[("fields", "id")]).unwrap();
        assert_eq!(
            pull.binding(),
            other_fields.binding(),
            "fields do not change rows"
        );
    }

    #[test]
    fn rotation_bodies() {
        assert_eq!(parse_rotation(None).unwrap(), 0);
        let ok = serde_json::json!({"overlap_seconds": 3600});
        assert_eq!(parse_rotation(Some(ok)).unwrap(), 3600);
        for bad in [
            serde_json::json!({"overlap_seconds": -1}),
            serde_json::json!({"overlap_seconds": 86401}),
            serde_json::json!({"overlap_seconds": "60"}),
            serde_json::json!({"overlap": 60}),
        ] {
            assert!(
                matches!(
                    parse_rotation(Some(bad.clone())),
                    Err(ContentError::Validation(_))
                ),
                "{bad}"
            );
        }
    }
}
