//! The pull API for websites (API.md §9) and the rotation of a site's pull key.
//!
//! Pull responses come from [`PullCache`](crate::pull_cache::PullCache) when it holds the
//! page for the site's current content version; otherwise the page is made, kept and sent.
//! Either way they carry a weak `ETag` (a hash of the page), answer `If-None-Match` with
//! `304`, and may be kept by browsers and CDNs for `JEKCMS_PULL_MAX_AGE` seconds.

use crate::context;
use crate::errors::AppError;
use crate::extract::{Caller, JsonPayload, query_pairs};
use crate::pull_auth::{PullCaller, PullKey};
use crate::pull_cache::{CachedPage, PageKey, REQUEST_ID_MARK, split_at_request_id};
use crate::respond;
use crate::schemas::ErrorBody;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use jekcms_auth::CredentialFamily;
use jekcms_content::page::{ListRequest, Page, Params};
use jekcms_content::post::Post;
use jekcms_content::pull::{self, PullFields, PullItem, PullListQuery};
use jekcms_envelope::{Envelope, Meta, PageMeta};
use serde::Serialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Query parameters of the pull list (documentation; parsing is `PullListQuery`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PullPostsParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    cursor: Option<String>,
    /// Sort order (default `-published_at`, newest first).
    #[param(inline)]
    sort: Option<PullSortParam>,
    /// Only posts with this tag; repeat it (`?tag=a&tag=b`, at most 20) for posts with any
    /// of them.
    #[param(schema_with = jekcms_content::schema::tag_filter, explode = true, style = Form)]
    tag: Option<Vec<String>>,
    /// Only posts changed at or after this RFC 3339 time.
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Case-insensitive literal substring of the title.
    #[param(min_length = 1, max_length = 300)]
    q: Option<String>,
    /// `total` adds `meta.total`.
    #[param(inline)]
    include: Option<super::posts::IncludeParam>,
    /// Comma-separated fields of each item, from `id`, `slug`, `title`, `excerpt`,
    /// `published_at`, `updated_at`, `tags` and `body` (default: all but `body`).
    #[param(
        pattern = r"^(id|slug|title|excerpt|published_at|updated_at|tags|body)(,(id|slug|title|excerpt|published_at|updated_at|tags|body))*$",
        example = "slug,title,published_at"
    )]
    fields: Option<String>,
}

/// Sort orders of the pull list.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum PullSortParam {
    /// Most recently published first.
    #[serde(rename = "-published_at")]
    PublishedDesc,
    /// Earliest published first.
    #[serde(rename = "published_at")]
    PublishedAsc,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    /// Least recently changed first.
    #[serde(rename = "updated_at")]
    UpdatedAsc,
    /// By title, A to Z.
    #[serde(rename = "title")]
    TitleAsc,
    /// By title, Z to A.
    #[serde(rename = "-title")]
    TitleDesc,
}

/// A visible post as the pull API writes it: exactly the fields asked for (`?fields=`);
/// by default all but `body`. A post fetched by slug has every field.
#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(json!({
    "id": 42,
    "slug": "hello-world",
    "title": "Hello, world",
    "excerpt": "The first post.",
    "published_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:05:00Z",
    "tags": ["news"]
})))]
#[allow(dead_code)]
pub struct PullPost {
    /// Unique id.
    id: Option<i64>,
    /// Unique within the site.
    slug: Option<String>,
    /// The title.
    title: Option<String>,
    /// Short summary.
    #[schema(nullable)]
    excerpt: Option<String>,
    /// When it was published (always in the past).
    #[schema(format = DateTime)]
    published_at: Option<String>,
    /// Last change.
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    /// Its tags.
    tags: Option<Vec<String>>,
    /// The content (by slug, or when `fields` names it).
    #[schema(nullable)]
    body: Option<String>,
}

crate::schemas::lists! {
    /// A success envelope around a page of the pull list.
    PullPostList(PullPost);
}

crate::schemas::envelopes! {
    /// A success envelope around one visible post, with its body.
    PullPostEnvelope(PullPost);
    /// A success envelope around a new pull key and webhook secret, shown this once.
    RotatedKeysEnvelope(RotatedKeysData);
}

/// Lists the site's visible posts.
///
/// Published posts whose `published_at` has come, newest first by default; a post
/// scheduled for later appears by itself at that moment. Authenticated by the site's pull
/// key (`X-API-Key: pk_…`) and counted against the site's pull quota.
#[utoipa::path(tag = "pull", params(PullPostsParams), security(("pull_key" = [])), responses(
    (status = 200, description = "A page of visible posts", body = PullPostList, headers(("ETag" = String, description = "The page's tag, for If-None-Match"), ("Cache-Control" = String, description = "public, with JEKCMS_PULL_MAX_AGE"))),
    (status = 304, description = "Not modified: the `If-None-Match` tag is current", headers(("ETag" = String, description = "The page's tag"))),
    (status = 401, description = "No pull key, or not a current one", body = ErrorBody),
    (status = 422, description = "A bad limit, cursor, sort, filter or field name", body = ErrorBody),
))]
#[get("/api/v2/pull/posts")]
pub async fn pull_posts(
    key: PullKey,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    // A key accepted here before names its site. If the cache holds no page for this
    // request at the site's last known version, the page is most likely to be read: on
    // PostgreSQL its query then carries the key's check (one round trip, not two). The
    // check runs first, so the page is never newer than the version it is kept under.
    // Under a pull lease the key is not checked at all (`authenticate` reads nothing).
    let known = key.known(&state);
    let leased = known
        .as_ref()
        .is_some_and(|k| state.pull_cache.lease_holds(k, jekcms_content::now()));
    let probe = known
        .as_ref()
        .map(|k| page_key(k.site.site_id, k.site.content_version, &req));
    let (caller, key, read) = match probe {
        Some(probe)
            if !leased
                && state.store.backend() == jekcms_store::Backend::Postgres
                && !state.pull_cache.holds(&probe) =>
        {
            let site_id = probe.site_id;
            let (caller, page) = key
                .read_with(&state, &req, async |now| {
                    read_list(&state, &req, site_id, now).await
                })
                .await?;
            let key = page_key(caller.site.site_id, caller.site.content_version, &req);
            // A key's site never changes; were it to, the page read is not this site's.
            let page = (caller.site.site_id == site_id).then_some(page);
            (caller, key, page)
        }
        probe => {
            let caller = key.authenticate(&state, &req, known).await?;
            // The version the cache was probed at is most often still the site's.
            let key = match probe {
                Some(k)
                    if (k.site_id, k.content_version)
                        == (caller.site.site_id, caller.site.content_version) =>
                {
                    k
                }
                _ => page_key(caller.site.site_id, caller.site.content_version, &req),
            };
            (caller, key, None)
        }
    };
    let (page, fields) = match read {
        Some(read) => read,
        None => {
            if let Some(page) = state.pull_cache.get(&key, caller.now) {
                return Ok(send(&req, &state, &page));
            }
            read_list(&state, &req, caller.site.site_id, caller.now).await?
        }
    };
    let meta = Meta::new(REQUEST_ID_MARK.to_owned()).with_page(PageMeta {
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
        limit: page.limit,
        total: page.total,
    });
    let items: Vec<PullItem<'_>> = page
        .items
        .iter()
        .map(|post| PullItem { post, fields })
        .collect();
    let page = keep(&state, key, &caller, &Envelope::ok(items, meta))?;
    Ok(send(&req, &state, &page))
}

/// The site's page of visible posts at `now` that the request asks for, and its fields.
async fn read_list(
    state: &AppState,
    req: &HttpRequest,
    site_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Page<Post>, PullFields), AppError> {
    let pairs = query_pairs(req)?;
    let list = ListRequest::<PullListQuery>::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &state.cursors,
        site_id,
    )
    .map_err(AppError::fields)?;
    let rows = pull::visible_posts(&state.store, site_id, &list.query, &list.window, now).await?;
    let fields = list.query.fields;
    Ok((list.page(rows), fields))
}

/// Gets one visible post by slug, with its body.
///
/// A draft, archived, scheduled or deleted post, and another site's, is 404.
#[utoipa::path(tag = "pull", security(("pull_key" = [])),
    params(("slug" = String, Path, description = "The post's slug", max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")),
    responses(
        (status = 200, description = "The post", body = PullPostEnvelope, headers(("ETag" = String, description = "The post's tag, for If-None-Match"), ("Cache-Control" = String, description = "public, with JEKCMS_PULL_MAX_AGE"))),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current", headers(("ETag" = String, description = "The page's tag"))),
        (status = 401, description = "No pull key, or not a current one", body = ErrorBody),
        (status = 404, description = "No visible post with this slug", body = ErrorBody),
    ))]
#[get("/api/v2/pull/posts/{slug}")]
pub async fn pull_post(
    caller: PullCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let key = page_key(caller.site.site_id, caller.site.content_version, &req);
    if let Some(page) = state.pull_cache.get(&key, caller.now) {
        return Ok(send(&req, &state, &page));
    }
    let pairs = query_pairs(&req)?;
    Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[])
        .map_err(AppError::fields)?;
    let post = pull::visible_post(&state.store, caller.site.site_id, &slug, caller.now).await?;
    let item = PullItem {
        post: &post,
        fields: PullFields::ALL,
    };
    let page = keep(
        &state,
        key,
        &caller,
        &Envelope::ok(item, Meta::new(REQUEST_ID_MARK.to_owned())),
    )?;
    Ok(send(&req, &state, &page))
}

/// Where the page for this request to a site at a content version is kept.
fn page_key(site_id: i64, content_version: i64, req: &HttpRequest) -> PageKey {
    let uri = req.uri();
    PageKey {
        site_id,
        content_version,
        request: uri
            .path_and_query()
            .map_or_else(|| uri.path(), |pq| pq.as_str())
            .into(),
    }
}

/// Serializes `envelope` (whose request id is [`REQUEST_ID_MARK`]) into a page and keeps it.
fn keep<T: Serialize>(
    state: &AppState,
    key: PageKey,
    caller: &PullCaller,
    envelope: &Envelope<T>,
) -> Result<Arc<CachedPage>, AppError> {
    let body = serde_json::to_vec(envelope).map_err(|e| AppError::internal(&e))?;
    let (head, tail) = split_at_request_id(body).ok_or_else(|| {
        AppError::internal(&std::io::Error::other("the request id mark is missing"))
    })?;
    let page = Arc::new(CachedPage::new(head, tail, caller.site.next_scheduled));
    state.pull_cache.insert(key, page.clone());
    Ok(page)
}

/// `page` as this request's answer: `304` when `If-None-Match` names it.
fn send(req: &HttpRequest, state: &AppState, page: &CachedPage) -> HttpResponse {
    // Answered here, before conditional.rs would: a 304 needs no body, gzipped or not.
    let not_modified = crate::conditional::not_modified(req, &page.etag);
    let request_id = context::request_id();
    let gzip = !not_modified
        && crate::compress::accepts_gzip(req.get_header::<header::AcceptEncoding>().as_ref());
    let mut res = if not_modified {
        HttpResponse::NotModified().finish()
    } else if let Some(body) = gzip.then(|| page.gzip_body(&request_id)).flatten() {
        // Compressed once per page, not once per request (compress.rs leaves it alone).
        HttpResponse::Ok()
            .content_type(header::ContentType::json())
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .insert_header((header::VARY, "accept-encoding"))
            .body(body)
    } else {
        HttpResponse::Ok()
            .content_type(header::ContentType::json())
            .body(page.body(&request_id))
    };
    res = crate::conditional::with_etag(res, &page.etag);
    let headers = res.headers_mut();
    let max_age = state.config.pull_max_age.as_secs();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "public, max-age={max_age}, stale-while-revalidate={max_age}"
    )) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    // A shared cache must keep one copy per key (two sites' front ends may call through
    // one CDN) and per origin (the CORS headers differ); compression adds Accept-Encoding.
    headers.append(header::VARY, HeaderValue::from_static("X-API-Key, Origin"));
    res
}

/// `POST /sites/{id}/rotate-keys` body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"overlap_seconds": 3600})))]
#[allow(dead_code)]
pub struct RotateKeysBody {
    /// How long the previous key and webhook secret keep working, 0–86400 seconds
    /// (default 0: the previous key is refused from the next request on).
    #[schema(minimum = 0, maximum = 86400, nullable = false)]
    overlap_seconds: Option<i64>,
}

/// The new pull key and webhook secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(json!({
    "site_id": 1,
    "new_api_key": "pk_4fP9kQ2mZ7xW1cV8bN3aL6sD0gH5jT",
    "new_webhook_secret": "whsec_Vb7Qm2Xk9Lp4Zr8Tn1Wc6Hd3Fs5Gj0Ya",
    "rotated_at": "2026-12-04T10:00:00Z",
    "previous_valid_until": "2026-12-04T11:00:00Z"
})))]
pub struct RotatedKeysData {
    /// Your site.
    site_id: i64,
    /// The new `pk_` pull key, for `X-API-Key` on `/api/v2/pull/*`.
    new_api_key: String,
    /// The new `whsec_` secret that signs the site's webhook deliveries.
    new_webhook_secret: String,
    /// When the rotation happened.
    #[schema(format = DateTime)]
    rotated_at: String,
    /// Until when the previous key and secret keep working; `null` with no overlap.
    #[schema(format = DateTime, nullable)]
    previous_valid_until: Option<String>,
}

/// Rotates the site's pull key and webhook secret.
///
/// Owners only, for their own site (any other id is 404). The new key and secret are in
/// this response only; the key is stored as a hash. With `overlap_seconds`, the previous
/// pair keeps working that long, so front ends can be redeployed without a gap.
#[utoipa::path(tag = "sites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Your site's id", minimum = 1)),
    request_body(content = RotateKeysBody, description = "The overlap; `{}` (or no body at all) for none"),
    responses(
        (status = 200, description = "The new key and secret, shown once", body = RotatedKeysEnvelope),
        (status = 403, description = "Only owners manage the site's keys", body = ErrorBody),
        (status = 404, description = "Not your site", body = ErrorBody),
    ))]
#[post("/api/v2/sites/{id}/rotate-keys")]
pub async fn rotate_keys(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    let actor = caller.actor();
    let site_id = id
        .parse::<i64>()
        .map_err(|_| jekcms_content::ContentError::NotFound)?;
    pull::may_rotate(&actor, site_id)?;
    let overlap = pull::parse_rotation(body.read_optional().await?)?;
    let key = CredentialFamily::Pull.generate();
    let secret = format!("whsec_{}", jekcms_auth::credential::random_base62(32));
    let sealed = state.secrets.seal(
        secret.as_bytes(),
        pull::webhook_secret_purpose(site_id).as_bytes(),
    );
    let rotated = pull::rotate_pull_key(
        &state.store,
        &caller.writer(),
        site_id,
        jekcms_auth::SecretHash::of(&key).as_bytes(),
        &sealed,
        overlap,
    )
    .await?;
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(respond::no_store(respond::ok(RotatedKeysData {
        site_id,
        new_api_key: key,
        new_webhook_secret: secret,
        rotated_at: time(rotated.rotated_at),
        previous_valid_until: rotated.previous_valid_until.map(time),
    })))
}
