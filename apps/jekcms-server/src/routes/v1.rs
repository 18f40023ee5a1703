//! The legacy v1 API (API.md §7): five endpoints in their old shapes, as a thin adapter over
//! the same domain code as v2 (`jekcms_content::service`, the same validation and role
//! checks, the same rows). Only the edges differ: the `X-API-Key` + `X-API-Secret` pair
//! ([`V1Caller`]), offset pages, `{"error": "…"}` failures ([`V1Error`]), and the
//! `Deprecation`, `Sunset` and successor `Link` headers on every response under `/api/v1`.
//! Mounted only while `JEKCMS_V1_ENABLED` is true.

use crate::errors::{AppError, V1Error};
use crate::extract::{JsonPayload, V1Caller, query_pairs};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use jekcms_content::media::Media;
use jekcms_content::page::OffsetPage;
use jekcms_content::post::{self as post_rules, Post};
use jekcms_content::service;
use jekcms_envelope::ErrorCode;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// `Deprecation` (RFC 9745): v1 has been deprecated since 2026-11-23T00:00:00Z, when v2
/// shipped.
pub const DEPRECATION: &str = "@1795392000";
/// `Sunset` (RFC 8594): v1 is removed after this date.
pub const SUNSET: &str = "Tue, 01 Jun 2027 00:00:00 GMT";

/// The v2 successor of a v1 path, for `Link: <…>; rel="successor-version"`.
pub fn successor(path: &str) -> String {
    let rest = path.strip_prefix("/api/v1").unwrap_or_default();
    let id_of = |prefix: &str| {
        rest.strip_prefix(prefix)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .map(|id| format!("/api/v2/posts/{id}"))
    };
    match rest {
        "/posts" | "/posts/create" => "/api/v2/posts".to_owned(),
        "/media/list" => "/api/v2/media".to_owned(),
        _ => id_of("/posts/update/")
            .or_else(|| id_of("/posts/delete/"))
            .unwrap_or_else(|| "/api/v2".to_owned()),
    }
}

route_list! {
    /// The paths of the five v1 handlers (the document before `crate::openapi`'s modifiers).
    pub struct V1RouteDoc;
    /// Registers the five v1 handlers on the `/api/v1` scope.
    fn register;
    [list_posts, create_post, update_post, delete_post, list_media]
}

/// The `/api/v1` scope: the five endpoints, a v1-shaped 404/405 for anything else, and the
/// deprecation headers on every response.
pub fn scope() -> actix_web::Scope<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/api/v1")
        .configure(register)
        .default_service(web::to(fallback))
        .wrap_fn(|req, srv| {
            use actix_web::dev::Service;
            let link = format!("<{}>; rel=\"successor-version\"", successor(req.path()));
            let call = srv.call(req);
            async move {
                let mut res = call.await?;
                let headers = res.headers_mut();
                headers.insert(
                    HeaderName::from_static("deprecation"),
                    HeaderValue::from_static(DEPRECATION),
                );
                headers.insert(
                    HeaderName::from_static("sunset"),
                    HeaderValue::from_static(SUNSET),
                );
                if let Ok(v) = HeaderValue::from_str(&link) {
                    headers.insert(header::LINK, v);
                }
                Ok(res)
            }
        })
}

/// Anything under `/api/v1` that is not an endpoint: `405` with `Allow` on a known path,
/// else `404`, both as `{"error": …}`.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, V1Error> {
    match super::allowed_methods(req.path()) {
        Some(allow) => {
            let mut res = actix_web::ResponseError::error_response(&V1Error::from(AppError::new(
                ErrorCode::MethodNotAllowed,
                format!(
                    "{} is not allowed here; allowed: {allow}",
                    crate::context::client_method(&req)
                ),
            )));
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            Ok(res)
        }
        None => {
            Err(AppError::new(ErrorCode::NotFound, format!("no route for {}", req.path())).into())
        }
    }
}

/// Query parameters of the v1 lists (documentation).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// 1-based page number (default 1).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Rows per page (default 20); above 100 is clamped to 100.
    #[param(minimum = 1)]
    per_page: Option<u32>,
}

fn offset_page(req: &HttpRequest) -> Result<OffsetPage, V1Error> {
    let pairs = query_pairs(req)?;
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(OffsetPage::parse(get("page"), get("per_page")).map_err(AppError::fields)?)
}

fn post_id(raw: &str) -> Result<i64, V1Error> {
    raw.parse()
        .map_err(|_| AppError::new(ErrorCode::NotFound, "resource not found").into())
}

/// A v1 page of posts.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1PostList {
    /// The posts, newest first.
    pub posts: Vec<Post>,
    /// This page (1-based).
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// All posts of the site.
    pub total: u64,
    /// Pages at this `per_page`.
    pub total_pages: u64,
}

/// One post, v1 style.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1Post {
    /// The post.
    pub post: Post,
}

/// A v1 delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1Deleted {
    /// Always true.
    pub deleted: bool,
    /// The deleted id.
    pub id: i64,
}

/// A v1 failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// Lists posts by offset page (v1).
///
/// Newest first. Deprecated: use `GET /api/v2/posts`.
#[utoipa::path(tag = "v1", operation_id = "v1_list_posts", path = "/api/v1/posts", params(PageParams), security(("v1_key" = [], "v1_secret" = [])), responses(
    (status = 200, description = "A page of posts", body = V1PostList),
    (status = 401, description = "Missing or invalid key pair", body = V1ErrorBody),
    (status = 422, description = "A bad page or per_page", body = V1ErrorBody),
))]
#[get("/posts")]
pub async fn list_posts(
    caller: V1Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, V1Error> {
    let page = offset_page(&req)?;
    let list = service::list_posts_offset(&state.store, &caller.actor(), page).await?;
    Ok(HttpResponse::Ok().json(V1PostList {
        total_pages: page.total_pages(list.total),
        posts: list.items,
        page: page.page,
        per_page: page.per_page,
        total: list.total,
    }))
}

/// Creates a post (v1).
///
/// Deprecated: use `POST /api/v2/posts`.
#[utoipa::path(tag = "v1", operation_id = "v1_create_post", path = "/api/v1/posts/create", request_body = post_rules::NewPost, security(("v1_key" = [], "v1_secret" = [])), responses(
    (status = 201, description = "Created", body = V1Post),
    (status = 401, description = "Missing or invalid key pair", body = V1ErrorBody),
    (status = 403, description = "Your role may not create posts", body = V1ErrorBody),
    (status = 409, description = "The slug is taken", body = V1ErrorBody),
    (status = 422, description = "Invalid or unknown fields", body = V1ErrorBody),
))]
#[post("/posts/create")]
pub async fn create_post(
    caller: V1Caller,
    state: web::Data<AppState>,
    body: JsonPayload,
) -> Result<HttpResponse, V1Error> {
    service::may_write(&caller.actor())?;
    let new = post_rules::parse_new(body.read().await?, "").map_err(AppError::fields)?;
    let post = service::create_post(&state.store, &caller.writer(), new, None).await?;
    Ok(HttpResponse::Created().json(V1Post { post }))
}

/// Changes a post (v1).
///
/// Changes the fields sent, leaving the others. Deprecated: use `PATCH /api/v2/posts/{id}`.
#[utoipa::path(tag = "v1", operation_id = "v1_update_post", path = "/api/v1/posts/update/{id}", params(("id" = i64, Path, description = "Post id")), request_body = post_rules::PostPatch, security(("v1_key" = [], "v1_secret" = [])), responses(
    (status = 200, description = "The changed post", body = V1Post),
    (status = 401, description = "Missing or invalid key pair", body = V1ErrorBody),
    (status = 403, description = "Your role may not change this post", body = V1ErrorBody),
    (status = 404, description = "No such post in your site", body = V1ErrorBody),
    (status = 409, description = "The slug is taken", body = V1ErrorBody),
    (status = 422, description = "Invalid or unknown fields", body = V1ErrorBody),
))]
#[post("/posts/update/{id}")]
pub async fn update_post(
    caller: V1Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonPayload,
) -> Result<HttpResponse, V1Error> {
    let id = post_id(&id)?;
    service::may_write(&caller.actor())?;
    let patch = post_rules::parse_patch(body.read().await?).map_err(AppError::fields)?;
    let post = service::update_post(&state.store, &caller.writer(), id, patch, None).await?;
    Ok(HttpResponse::Ok().json(V1Post { post }))
}

/// Deletes a post (v1).
///
/// Deprecated: use `DELETE /api/v2/posts/{id}`.
#[utoipa::path(tag = "v1", operation_id = "v1_delete_post", path = "/api/v1/posts/delete/{id}", params(("id" = i64, Path, description = "Post id")), security(("v1_key" = [], "v1_secret" = [])), responses(
    (status = 200, description = "Deleted", body = V1Deleted),
    (status = 401, description = "Missing or invalid key pair", body = V1ErrorBody),
    (status = 403, description = "Your role may not delete this post", body = V1ErrorBody),
    (status = 404, description = "No such post in your site", body = V1ErrorBody),
))]
#[post("/posts/delete/{id}")]
pub async fn delete_post(
    caller: V1Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, V1Error> {
    let id = post_id(&id)?;
    service::delete_post(&state.store, &caller.writer(), id).await?;
    Ok(HttpResponse::Ok().json(V1Deleted { deleted: true, id }))
}

/// Lists media (v1).
///
/// Newest first, as a bare array. Deprecated: use `GET /api/v2/media`.
#[utoipa::path(tag = "v1", operation_id = "v1_list_media", path = "/api/v1/media/list", params(PageParams), security(("v1_key" = [], "v1_secret" = [])), responses(
    (status = 200, description = "A page of media", body = Vec<Media>),
    (status = 401, description = "Missing or invalid key pair", body = V1ErrorBody),
    (status = 422, description = "A bad page or per_page", body = V1ErrorBody),
))]
#[get("/media/list")]
pub async fn list_media(
    caller: V1Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, V1Error> {
    let page = offset_page(&req)?;
    let list = service::list_media_offset(&state.store, &caller.actor(), page).await?;
    Ok(HttpResponse::Ok().json(list.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors() {
        assert_eq!(successor("/api/v1/posts"), "/api/v2/posts");
        assert_eq!(successor("/api/v1/posts/create"), "/api/v2/posts");
        assert_eq!(successor("/api/v1/posts/update/42"), "/api/v2/posts/42");
        assert_eq!(successor("/api/v1/posts/delete/7"), "/api/v2/posts/7");
        assert_eq!(successor("/api/v1/media/list"), "/api/v2/media");
        assert_eq!(successor("/api/v1/posts/update/x"), "/api/v2");
        assert_eq!(successor("/api/v1/nothing"), "/api/v2");
    }
}
