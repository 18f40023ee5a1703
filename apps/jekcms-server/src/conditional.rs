//! HTTP caching for the management API (API.md §9): `Cache-Control: private, no-cache` on
//! every `/api/v2` response outside the pull API that does not set its own, and `304 Not
//! Modified` for a `GET` whose `If-None-Match` names the answer's `ETag`.
//!
//! Handlers set the `ETag`: lists of posts and media from the site's content version
//! ([`list_etag`], so that a revalidation is answered before the list query runs), other
//! lists from their rows (`respond::page`), a post from its version. This middleware turns
//! a matching `200` into the `304`, so no handler repeats the comparison.

use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use jekcms_content::service::etag_none_match_hits;

/// What management responses may be kept as: by the client only, and revalidated first.
const MANAGEMENT: HeaderValue = HeaderValue::from_static("private, no-cache");

/// The middleware: wrap it (`middleware::from_fn(conditional::conditional_get)`) inside
/// `RequestContext`, outside compression.
pub async fn conditional_get(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path();
    let management = path.starts_with("/api/v2")
        && !path.starts_with("/api/v2/pull/")
        && path != "/api/v2/openapi.json";
    let if_none_match = matches!(*req.method(), Method::GET | Method::HEAD)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let mut res = next.call(req).await?.map_into_boxed_body();
    if management && !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut().insert(header::CACHE_CONTROL, MANAGEMENT);
    }
    let hit = res.status() == StatusCode::OK
        && if_none_match
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .zip(
                res.headers()
                    .get(header::ETAG)
                    .and_then(|v| v.to_str().ok()),
            )
            .is_some_and(|(tags, etag)| etag_none_match_hits(tags, etag));
    if !hit {
        return Ok(res);
    }
    // The same head without the body: its validators, caching and quota headers stay.
    Ok(res.map_body(|head, _| {
        head.status = StatusCode::NOT_MODIFIED;
        head.headers.remove(header::CONTENT_TYPE);
        head.headers.remove(header::CONTENT_LENGTH);
        BoxBody::new(())
    }))
}

/// A weak entity tag: `prefix` and a hash of `parts` (each length-prefixed, so that no two
/// different part lists hash alike). The one way the server makes a tag from content: list
/// pages, their rows, pull pages.
pub fn weak_etag(prefix: &str, parts: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let digest = ctx.finish();
    format!("W/\"{prefix}{}\"", hex::encode(&digest.as_ref()[..12]))
}

/// The entity tag of a post or media list page: the site's content version (bumped by every
/// write to its posts and media) and a hash of the request's path and query. Two requests
/// with the same tag get the same rows, so a revalidation is answered with no list query.
/// Weak: the page's `next_cursor` is sealed afresh each time. The server's version is in it
/// too: another build may write the same rows differently.
pub fn list_etag(req: &HttpRequest, content_version: i64) -> String {
    weak_etag(
        &format!("c{content_version}-"),
        &[
            env!("CARGO_PKG_VERSION").as_bytes(),
            req.path().as_bytes(),
            req.query_string().as_bytes(),
        ],
    )
}

/// Whether `req`'s `If-None-Match` names `etag`.
pub fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| etag_none_match_hits(tags, etag))
}

/// `304` with `etag`, for a handler that knows before doing the work.
pub fn not_modified_response(etag: &str) -> actix_web::HttpResponse {
    with_etag(actix_web::HttpResponse::NotModified().finish(), etag)
}

/// `res` with `etag` as its `ETag`.
pub fn with_etag(mut res: actix_web::HttpResponse, etag: &str) -> actix_web::HttpResponse {
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}
