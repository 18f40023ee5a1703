//! Posts (API.md §3): thin handlers over `jekcms_content::service`.

use crate::conditional;
use crate::errors::AppError;
use crate::extract::{Caller, JsonPayload, ReadCaller};
use crate::idempotent::{self, Done};
use crate::paging::{list_request, list_request_in};
use crate::respond;
use crate::schemas::{ErrorBody, PostEnvelope, PostList, envelopes};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use jekcms_content::idempotency::Record;
use jekcms_content::list::PostListQuery;
use jekcms_content::post::{self as post_rules, Post};
use jekcms_content::service;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Query parameters of the post list (documentation; parsing is `PostListQuery`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListPostsParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    cursor: Option<String>,
    /// Sort order (default `-created_at`, newest first).
    #[param(inline)]
    sort: Option<PostSortParam>,
    /// Only posts in this status.
    #[param(inline)]
    status: Option<post_rules::PostStatus>,
    /// Only posts with this tag; repeat it (`?tag=a&tag=b`, at most 20) for posts with any
    /// of them.
    #[param(schema_with = jekcms_content::schema::tag_filter, explode = true, style = Form)]
    tag: Option<Vec<String>>,
    /// Only the post with this slug (a list of at most one post).
    #[param(max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    slug: Option<String>,
    /// Only posts by this author.
    #[param(minimum = 1)]
    author_id: Option<i64>,
    /// Only posts changed at or after this RFC 3339 time.
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Case-insensitive literal substring of the title.
    #[param(min_length = 1, max_length = 300)]
    q: Option<String>,
    /// `total` adds `meta.total`.
    #[param(inline)]
    include: Option<IncludeParam>,
}

/// Sort orders of the post list.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum PostSortParam {
    /// Newest first.
    #[serde(rename = "-created_at")]
    CreatedDesc,
    /// Oldest first.
    #[serde(rename = "created_at")]
    CreatedAsc,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    /// Least recently changed first.
    #[serde(rename = "updated_at")]
    UpdatedAsc,
    /// Most recently published first.
    #[serde(rename = "-published_at")]
    PublishedDesc,
    /// Earliest published first.
    #[serde(rename = "published_at")]
    PublishedAsc,
    /// By title, A to Z.
    #[serde(rename = "title")]
    TitleAsc,
    /// By title, Z to A.
    #[serde(rename = "-title")]
    TitleDesc,
}

/// What a list adds besides its rows.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum IncludeParam {
    /// Adds `meta.total`.
    #[serde(rename = "total")]
    Total,
}

/// Lists posts.
///
/// Newest first by default, with cursor pagination: pass `meta.next_cursor` as `cursor` for
/// the next page.
#[utoipa::path(tag = "posts", params(ListPostsParams), security(("bearer" = [])), responses(
    (status = 200, description = "A page of posts", body = PostList, headers(("ETag" = String, description = "The page's tag, for If-None-Match"))),
    (status = 304, description = "Not modified: the If-None-Match tag is current", headers(("ETag" = String, description = "The page's tag"))),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 422, description = "A bad limit, cursor, sort or filter", body = ErrorBody),
))]
#[get("/api/v2/posts")]
pub async fn list_posts(
    caller: ReadCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    // A revalidation is answered from the session's content version alone, without the
    // list query: the session is checked first.
    if req.headers().contains_key(header::IF_NONE_MATCH) {
        let caller = caller.check().await?;
        let list = list_request::<PostListQuery>(&req, &caller, &state.cursors)?;
        let etag = conditional::list_etag(&req, caller.0.site_content_version);
        if conditional::not_modified(&req, &etag) {
            return Ok(conditional::not_modified_response(&etag));
        }
        let rows =
            service::list_posts(&state.store, &caller.actor(), &list.query, &list.window).await?;
        return Ok(conditional::with_etag(
            respond::page_tagged(list.page(rows)),
            &etag,
        ));
    }
    let (req_, codec) = (&req, &state.cursors);
    let (caller, (list, rows)) = caller
        .read(async |actor| {
            let list = list_request_in::<PostListQuery>(req_, actor.site_id, codec)?;
            let rows = service::list_posts(&state.store, &actor, &list.query, &list.window).await?;
            Ok((list, rows))
        })
        .await?;
    // The version the session check read with the caller, before the list query (the two
    // run in that order, pipelined or not): a write committed in between makes the tag older
    // than the rows, never newer.
    let etag = conditional::list_etag(&req, caller.0.site_content_version);
    Ok(conditional::with_etag(
        respond::page_tagged(list.page(rows)),
        &etag,
    ))
}

/// Gets one post.
///
/// Sends an `ETag`; `If-None-Match` with it answers `304`.
#[utoipa::path(tag = "posts", security(("bearer" = [])), params(
    ("id" = i64, Path, description = "Post id"),
    ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETags from an earlier answer (or `*`): `304` if the post still has one of them"),
), responses(
    (status = 200, description = "The post", body = PostEnvelope, headers(("ETag" = String, description = "The post's version tag"))),
    (status = 304, description = "Unchanged since the ETag in If-None-Match", headers(("ETag" = String, description = "The post's version tag"))),
    (status = 404, description = "No such post in your site", body = ErrorBody),
))]
#[get("/api/v2/posts/{id}")]
pub async fn get_post(
    caller: ReadCaller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (_, post) = caller
        .read(async |actor| Ok(service::get_post(&state.store, &actor, id).await?))
        .await?;
    // `If-None-Match` is answered by conditional.rs from this ETag.
    Ok(conditional::with_etag(respond::ok(&post), &post.etag()))
}

/// Creates a post.
///
/// `201` with `Location`. With `Idempotency-Key`, a retry with the same key and body replays
/// the first response (`Idempotent-Replayed: true`) and creates nothing.
#[utoipa::path(tag = "posts", security(("bearer" = [])), request_body = post_rules::NewPost,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[ -~]+$", description = "1–255 printable ASCII characters; a retry with the same key and body within 24 hours replays the first response")),
    responses(
    (status = 201, description = "Created, or the first response to this Idempotency-Key replayed", body = PostEnvelope, headers(
        ("Location" = String, description = "`/api/v2/posts/{id}`"),
        ("ETag" = String, description = "The new post's version tag (not on a replay)"),
        ("Idempotent-Replayed" = String, description = "`true` when this replays the first response to the Idempotency-Key"),
    )),
    (status = 403, description = "Your role may not create posts", body = ErrorBody),
    (status = 409, description = "The slug is taken, or a request with this Idempotency-Key is in progress", body = ErrorBody),
    (status = 422, description = "Invalid or unknown fields, a bad Idempotency-Key, or the key reused with another body", body = ErrorBody),
))]
#[post("/api/v2/posts")]
pub async fn create_post(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    service::may_write(&caller.actor())?;
    idempotent::check_key(&req)?;
    let raw = body.read().await?;
    let new = post_rules::parse_new(raw.clone(), "").map_err(AppError::fields)?;
    let (store, writer) = (&state.store, caller.writer());
    let work = async move |record: Option<Record<'_, Post>>| {
        Ok(service::create_post(store, &writer, new, record).await?)
    };
    idempotent::respond(&req, &caller, &state, &raw, post_location, created, work).await
}

/// The response to a created post.
fn created(post: &Post) -> Result<Done, AppError> {
    Ok(Done {
        status: StatusCode::CREATED,
        location: Some(format!("/api/v2/posts/{}", post.id)),
        etag: Some(post.etag()),
        data: serde_json::to_value(post).map_err(|e| AppError::internal(&e))?,
    })
}

/// `Location` of a created post, from its JSON.
fn post_location(data: &Value) -> Option<String> {
    data.get("id")
        .and_then(Value::as_i64)
        .map(|id| format!("/api/v2/posts/{id}"))
}

/// Changes a post.
///
/// A JSON merge patch: the fields sent are changed, the others kept. `If-Match` with the
/// post's `ETag` makes it conditional (`412` when the post changed meanwhile).
#[utoipa::path(tag = "posts", security(("bearer" = [])), params(
    ("id" = i64, Path, description = "Post id"),
    ("If-Match" = Option<String>, Header, nullable = false, description = "The post's ETag (or `*`): change it only if it is still that version, else `412`"),
), request_body = post_rules::PostPatch, responses(
    (status = 200, description = "The changed post", body = PostEnvelope, headers(("ETag" = String, description = "The post's new version tag"))),
    (status = 403, description = "Your role may not change this post", body = ErrorBody),
    (status = 404, description = "No such post in your site", body = ErrorBody),
    (status = 409, description = "The slug is taken", body = ErrorBody),
    (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
    (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
))]
#[patch("/api/v2/posts/{id}")]
pub async fn update_post(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    service::may_write(&caller.actor())?;
    let patch = post_rules::parse_patch(body.read().await?).map_err(AppError::fields)?;
    let if_match = req
        .headers()
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or("\"\""));
    let post = service::update_post(
        &state.store,
        &caller.writer(),
        id.into_inner(),
        patch,
        if_match,
    )
    .await?;
    Ok(conditional::with_etag(respond::ok(&post), &post.etag()))
}

/// Result of a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// The deleted id.
    pub id: i64,
    /// Always true.
    pub deleted: bool,
}

envelopes! {
    /// A success envelope around the outcome of a delete.
    DeletedEnvelope(Deleted);
}

/// Deletes a post.
///
/// A second delete is `404`.
#[utoipa::path(tag = "posts", security(("bearer" = [])), params(("id" = i64, Path, description = "Post id")), responses(
    (status = 200, description = "Deleted", body = DeletedEnvelope),
    (status = 403, description = "Your role may not delete this post", body = ErrorBody),
    (status = 404, description = "No such post in your site", body = ErrorBody),
))]
#[delete("/api/v2/posts/{id}")]
pub async fn delete_post(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    service::delete_post(&state.store, &caller.writer(), id).await?;
    Ok(respond::ok(Deleted { id, deleted: true }))
}
