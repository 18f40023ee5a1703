//! Media (API.md §5): multipart upload, list, get, alt-text patch, delete, and the bytes
//! (`/content`, and the public URL `/m/{token}/{filename}`; both served by
//! [`crate::media_bytes`]).

use crate::conditional;
use crate::errors::AppError;
use crate::extract::{Caller, JsonPayload, typed};
use crate::media_bytes::{self, Caching};
use crate::paging::list_request;
use crate::respond;
use crate::routes::posts::{Deleted, DeletedEnvelope, IncludeParam};
use crate::schemas::{Binary, ErrorBody, MediaEnvelope, MediaList};
use crate::state::AppState;
use crate::uploads::{self, UploadBody, UploadTarget};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use jekcms_content::media::{MediaListQuery, check_alt_text};
use jekcms_content::service;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Multipart form of an upload (documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file; its type is sniffed from its bytes.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
    /// Text alternative, at most 1,000 characters.
    #[schema(nullable = false, max_length = 1000, pattern = r"^[^\x00]*$")]
    alt_text: Option<String>,
}

/// Query parameters of the media list (documentation).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListMediaParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    cursor: Option<String>,
    /// Type or prefix, e.g. `image/`.
    #[param(pattern = r"^[A-Za-z0-9/.+-]{1,100}$")]
    mime_type: Option<String>,
    /// `total` adds `meta.total`.
    #[param(inline)]
    include: Option<IncludeParam>,
}

/// Body of a media patch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"alt_text": "A lighthouse at dusk"})))]
pub struct MediaPatch {
    /// New alt text (at most 1,000 characters), or `null` to clear. Required: the patch
    /// has no other field.
    #[schema(required = true, max_length = 1000, pattern = r"^[^\x00]*$")]
    pub alt_text: Option<String>,
}

/// Uploads a file.
///
/// `multipart/form-data` with the fields `file` and, optionally, `alt_text`. The type is
/// sniffed from the bytes; `201` with `Location`.
#[utoipa::path(tag = "media", security(("bearer" = [])), request_body(content = UploadForm, content_type = "multipart/form-data"), responses(
    (status = 201, description = "Stored", body = MediaEnvelope, headers(("Location" = String, description = "`/api/v2/media/{id}`"))),
    (status = 403, description = "Your role may not upload", body = ErrorBody),
    (status = 413, description = "Over JEKCMS_MAX_UPLOAD_BYTES", body = ErrorBody),
    (status = 415, description = "Not an image, PDF, audio or video file, or not multipart", body = ErrorBody),
    (status = 422, description = "No file, or bad fields", body = ErrorBody),
    (status = 507, description = "The media store is full; nothing was stored", body = ErrorBody),
))]
#[post("/api/v2/media")]
pub async fn upload_media(
    caller: Caller,
    state: web::Data<AppState>,
    body: UploadBody,
) -> Result<HttpResponse, AppError> {
    let actor = caller.actor();
    service::may_upload(&actor)?;
    let new = body
        .receive(UploadTarget {
            media: &*state.media,
            site_id: actor.site_id,
            max_bytes: state.config.max_upload_bytes,
        })
        .await?;
    let key = new.storage_key.clone();
    match service::create_media(&state.store, &caller.writer(), new).await {
        Ok(media) => Ok(respond::created(
            format!("/api/v2/media/{}", media.id),
            media,
        )),
        Err(e) => {
            uploads::remove(&*state.media, &key).await;
            Err(e.into())
        }
    }
}

/// Lists media, newest first.
///
/// Cursor pagination like `GET /api/v2/posts`.
#[utoipa::path(tag = "media", params(ListMediaParams), security(("bearer" = [])), responses(
    (status = 200, description = "A page of media", body = MediaList, headers(("ETag" = String, description = "The page's tag, for If-None-Match"))),
    (status = 304, description = "Not modified: the If-None-Match tag is current", headers(("ETag" = String, description = "The page's tag"))),
    (status = 422, description = "A bad limit, cursor or filter", body = ErrorBody),
))]
#[get("/api/v2/media")]
pub async fn list_media(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let list = list_request::<MediaListQuery>(&req, &caller, &state.cursors)?;
    // The version the session lookup read with the caller, before the list query: a write
    // committed in between makes the tag older than the rows, never newer.
    let etag = conditional::list_etag(&req, caller.0.site_content_version);
    if conditional::not_modified(&req, &etag) {
        return Ok(conditional::not_modified_response(&etag));
    }
    let rows =
        service::list_media(&state.store, &caller.actor(), &list.query, &list.window).await?;
    Ok(conditional::with_etag(
        respond::page_tagged(list.page(rows)),
        &etag,
    ))
}

/// Gets one medium's record.
#[utoipa::path(tag = "media", security(("bearer" = [])), params(("id" = i64, Path, description = "Media id")), responses(
    (status = 200, description = "The medium", body = MediaEnvelope),
    (status = 404, description = "No such medium in your site", body = ErrorBody),
))]
#[get("/api/v2/media/{id}")]
pub async fn get_media(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let media = service::get_media(&state.store, &caller.actor(), id.into_inner()).await?;
    Ok(respond::ok(media))
}

/// Changes a medium's alt text.
#[utoipa::path(tag = "media", security(("bearer" = [])), params(("id" = i64, Path, description = "Media id")), request_body = MediaPatch, responses(
    (status = 200, description = "The changed medium", body = MediaEnvelope),
    (status = 404, description = "No such medium in your site", body = ErrorBody),
    (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
))]
#[patch("/api/v2/media/{id}")]
pub async fn update_media(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    service::may_write(&caller.actor())?;
    let patch: MediaPatch = typed(body.read().await?, &["alt_text"])?;
    if let Some(alt) = &patch.alt_text {
        check_alt_text(alt).map_err(|e| AppError::fields(vec![e]))?;
    }
    let media = service::update_media_alt_text(
        &state.store,
        &caller.writer(),
        id.into_inner(),
        patch.alt_text,
    )
    .await?;
    Ok(respond::ok(media))
}

/// Deletes a medium and its file.
#[utoipa::path(tag = "media", security(("bearer" = [])), params(("id" = i64, Path, description = "Media id")), responses(
    (status = 200, description = "Deleted", body = DeletedEnvelope),
    (status = 403, description = "Your role may not delete this medium", body = ErrorBody),
    (status = 404, description = "No such medium in your site", body = ErrorBody),
))]
#[delete("/api/v2/media/{id}")]
pub async fn delete_media(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let media = service::delete_media(&state.store, &caller.writer(), id.into_inner()).await?;
    uploads::remove(&*state.media, &media.storage_key).await;
    Ok(respond::ok(Deleted {
        id: media.id,
        deleted: true,
    }))
}

/// Downloads a medium's file.
///
/// The bytes with their sniffed `Content-Type`. Supports `Range` (`206`, `416`) and
/// conditional GETs (`If-None-Match`, `If-Modified-Since`: `304`). The ETag is the quoted
/// SHA-256 of the bytes, as on the medium's `public_url`.
#[utoipa::path(tag = "media", security(("bearer" = [])), params(
    ("id" = i64, Path, description = "Media id"),
    ("Range" = Option<String>, Header, nullable = false, description = "`bytes=first-last`, `bytes=first-` or `bytes=-suffix`: `206` with that part; a malformed value is ignored"),
    ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETags from an earlier answer: `304` if the file still has one of them"),
    ("If-Modified-Since" = Option<String>, Header, nullable = false, description = "An HTTP date: `304` if the file has not changed since"),
), responses(
    (status = 200, description = "The bytes, with the type sniffed at upload", content(
        (Binary = "image/*"), (Binary = "audio/*"), (Binary = "video/*"), (Binary = "application/pdf"),
    ), headers(
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
        ("Last-Modified" = String, description = "When the file was uploaded"),
        ("Accept-Ranges" = String, description = "`bytes`"),
        ("Content-Disposition" = String, description = "`inline` with the uploaded filename"),
    )),
    (status = 206, description = "The part of the file the Range asked for", content(
        (Binary = "image/*"), (Binary = "audio/*"), (Binary = "video/*"), (Binary = "application/pdf"),
    ), headers(
        ("Content-Range" = String, description = "`bytes first-last/length`"),
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
    )),
    (status = 304, description = "Unchanged since the ETag in If-None-Match or the date in If-Modified-Since", headers(
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
    )),
    (status = 404, description = "No such medium in your site", body = ErrorBody),
    (status = 412, description = "PRECONDITION_FAILED: If-Match names another ETag", body = ErrorBody),
    (status = 416, description = "RANGE_NOT_SATISFIABLE: the Range is outside the file", body = ErrorBody, headers(
        ("Content-Range" = String, description = "`bytes */length`"),
    )),
))]
#[get("/api/v2/media/{id}/content")]
pub async fn media_content(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let media = service::get_media(&state.store, &caller.actor(), id.into_inner()).await?;
    media_bytes::serve(&req, &*state.media, &media, Caching::Private).await
}

/// Serves a medium's public URL, with no credential.
///
/// `public_url` of a medium: the bytes for anyone who has the URL, e.g. in an `<img src>`;
/// outside `/api/v2` and outside the envelope. The same headers, `Range` and conditional
/// GETs as the medium's `url`, plus `Cache-Control: public, max-age=31536000, immutable`:
/// the bytes at a public URL never change. An unknown token, a file name other than the
/// medium's own, and a deleted medium are `404`.
#[utoipa::path(tag = "media", params(
    ("token" = String, Path, pattern = r"^[A-Za-z0-9]{16,64}$", description = "The medium's capability token, from its `public_url`"),
    ("filename" = String, Path, description = "The medium's `filename`, percent-encoded, exactly as in its `public_url`"),
    ("Range" = Option<String>, Header, nullable = false, description = "`bytes=first-last`, `bytes=first-` or `bytes=-suffix`: `206` with that part; a malformed value is ignored"),
    ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETags from an earlier answer: `304` if the file still has one of them"),
    ("If-Modified-Since" = Option<String>, Header, nullable = false, description = "An HTTP date: `304` if the file has not changed since"),
), responses(
    (status = 200, description = "The bytes, with the type sniffed at upload", content(
        (Binary = "image/*"), (Binary = "audio/*"), (Binary = "video/*"), (Binary = "application/pdf"),
    ), headers(
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
        ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
        ("Last-Modified" = String, description = "When the file was uploaded"),
        ("Accept-Ranges" = String, description = "`bytes`"),
        ("Content-Disposition" = String, description = "`inline` with the medium's filename"),
    )),
    (status = 206, description = "The part of the file the Range asked for", content(
        (Binary = "image/*"), (Binary = "audio/*"), (Binary = "video/*"), (Binary = "application/pdf"),
    ), headers(
        ("Content-Range" = String, description = "`bytes first-last/length`"),
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
        ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
    )),
    (status = 304, description = "Unchanged since the ETag in If-None-Match or the date in If-Modified-Since", headers(
        ("ETag" = String, description = "The quoted SHA-256 of the bytes"),
        ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
    )),
    (status = 404, description = "No medium has this token, the file name is not the medium's, or the medium was deleted", body = ErrorBody),
    (status = 412, description = "PRECONDITION_FAILED: If-Match names another ETag", body = ErrorBody),
    (status = 416, description = "RANGE_NOT_SATISFIABLE: the Range is outside the file", body = ErrorBody, headers(
        ("Content-Range" = String, description = "`bytes */length`"),
    )),
))]
#[get("/m/{token}/{filename}")]
pub async fn public_media(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (token, filename) = path.into_inner();
    let media = service::get_public_media(&state.store, &token, &filename).await?;
    media_bytes::serve(&req, &*state.media, &media, Caching::Immutable).await
}

/// Whether a `Range` value is a well-formed `bytes` range set (RFC 9110 §14.1.2), as
/// actix-files reads it: `bytes=` then comma-separated `first-last`, `first-` or `-suffix`
/// with `first <= last`. Anything else is ignored rather than refused (the request-context
/// middleware drops it), so only a well-formed range that misses the file is a 416.
pub fn range_is_well_formed(value: &[u8]) -> bool {
    fn number(s: &str) -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let Some(set) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| &value[6..])
    else {
        return false;
    };
    let mut ranges = 0;
    for spec in set.split(',') {
        let spec = spec.trim_matches([' ', '\t']);
        if spec.is_empty() {
            continue;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return false;
        };
        let (first, last) = (
            first.trim_matches([' ', '\t']),
            last.trim_matches([' ', '\t']),
        );
        let ok = match (first.is_empty(), last.is_empty()) {
            (true, _) => number(last).is_some(),
            (false, true) => number(first).is_some(),
            (false, false) => matches!((number(first), number(last)), (Some(a), Some(b)) if a <= b),
        };
        if !ok {
            return false;
        }
        ranges += 1;
    }
    ranges > 0
}

#[cfg(test)]
mod tests {
    use super::range_is_well_formed;

    #[test]
    fn ranges_that_parse_and_ranges_that_do_not() {
        for ok in [
            "bytes=0-0",
            "bytes=0-",
            "bytes=-5",
            "BYTES=1-2, 4-",
            "bytes=5-4000000000",
            "bytes=99999999-",
            "bytes= 0-1 ,",
        ] {
            assert!(range_is_well_formed(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "bytes=",
            "bytes=,",
            "bytes=5-4",
            "bytes=a-b",
            "bytes=-",
            "bytes=--1",
            "bytes=1-2-3",
            "bytes=99999999999999999999-",
            "items=0-1",
            "bytes",
            "bytes=0-1;x",
        ] {
            assert!(!range_is_well_formed(bad.as_bytes()), "{bad}");
        }
        assert!(!range_is_well_formed(b"bytes=0-\xff"));
    }
}
