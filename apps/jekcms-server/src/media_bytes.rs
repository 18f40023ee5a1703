//! Serving a medium's bytes: the one implementation behind `GET /api/v2/media/{id}/content`
//! (for the site's users) and the public URL `GET /m/{token}/{filename}` (for anyone).
//!
//! Both answer with the same headers: the sniffed `Content-Type`, `Content-Disposition:
//! inline` with the stored file name, `X-Content-Type-Options: nosniff`, a
//! `Content-Security-Policy` that lets nothing in the file run, `ETag` = the quoted SHA-256
//! of the bytes (the same on every instance and after a restore, unlike a tag made from the
//! file's inode and mtime), `Last-Modified` = the upload time, `Accept-Ranges: bytes`.
//! Conditional requests (RFC 9110 §13): `If-Match` (412), `If-None-Match` or else
//! `If-Modified-Since` (304), `If-Range`; then a single `Range` (206; a range outside the
//! file is 416 with `Content-Range: bytes */LEN`). A malformed `Range` never gets here: the
//! request context drops it ([`crate::routes::media::range_is_well_formed`]).
//!
//! The only difference between the two is [`Caching`]: the public URL is immutable for a
//! year in any cache, while `/content` is left to the request context's `private, no-cache`.

use crate::errors::AppError;
use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, EntityTag, HeaderValue, HttpDate,
    IfMatch, IfModifiedSince, IfNoneMatch, IfRange,
};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use jekcms_content::ContentError;
use jekcms_content::media::Media;
use jekcms_envelope::ErrorCode;
use jekcms_media_store::MediaStore;
use std::time::SystemTime;

/// Who may cache the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Whatever the request context decides (`private, no-cache` for a credentialed
    /// request): `/api/v2/media/{id}/content`.
    Private,
    /// `public, max-age=31536000, immutable`: the public URL, whose bytes never change (a
    /// medium's file is never replaced, and a deleted medium's token is never reused).
    Immutable,
}

/// `Cache-Control` of [`Caching::Immutable`].
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a request for `media`'s bytes, kept in `store`. Everything but the bytes comes
/// from the record (length, ETag, date), so a `304` or `412` touches no storage and a body is
/// one read of exactly the bytes sent (a ranged `GetObject` on S3).
pub async fn serve(
    req: &HttpRequest,
    store: &dyn MediaStore,
    media: &Media,
    caching: Caching,
) -> Result<HttpResponse, AppError> {
    let len = u64::try_from(media.size_bytes).unwrap_or(0);

    let etag = EntityTag::new_strong(media.sha256.clone());
    let modified = HttpDate::from(SystemTime::from(media.created_at));
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.to_string()))
        .insert_header((header::LAST_MODIFIED, modified.to_string()));
    if caching == Caching::Immutable {
        res.insert_header((header::CACHE_CONTROL, IMMUTABLE));
    }

    match precondition(req, &etag, media.created_at) {
        Precondition::Failed => {
            return Err(AppError::new(
                ErrorCode::PreconditionFailed,
                "If-Match does not match the file's ETag",
            ));
        }
        Precondition::NotModified => {
            return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
        }
        Precondition::Send => {}
    }

    let mime: actix_web::mime::Mime = media
        .mime_type
        .parse()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    let disposition = ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: filename_params(&media.filename),
    };
    res.insert_header((header::CONTENT_TYPE, mime.to_string()))
        .insert_header((header::CONTENT_DISPOSITION, disposition.to_string()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ));

    let (offset, length) = match requested_range(req, &etag, media.created_at) {
        None => (0, len),
        Some(range) => match actix_files::HttpRange::parse(range, len)
            .ok()
            .and_then(|ranges| ranges.first().copied())
        {
            Some(r) => {
                res.status(StatusCode::PARTIAL_CONTENT).insert_header((
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{len}", r.start, r.start + r.length - 1),
                ));
                (r.start, r.length)
            }
            None => {
                let mut refused = actix_web::ResponseError::error_response(&AppError::new(
                    ErrorCode::RangeNotSatisfiable,
                    "the requested range is outside the file; Content-Range gives its length",
                ));
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    refused.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(refused);
            }
        },
    };
    let body = match store
        .read(&media.storage_key, offset..offset + length)
        .await
    {
        Ok(body) => body,
        Err(jekcms_media_store::Error::NotFound) => {
            tracing::error!(media_id = media.id, "a medium's file is missing");
            return Err(ContentError::NotFound.into());
        }
        Err(e) => return Err(AppError::internal(&e)),
    };
    Ok(res.body(SizedStream::new(length, body)))
}

/// `filename` for `Content-Disposition`: as it is when ASCII; otherwise an ASCII stand-in
/// (`_` for each other character) and the real name as `filename*` (RFC 6266 §4.3), so that
/// the header stays visible ASCII.
fn filename_params(filename: &str) -> Vec<DispositionParam> {
    if filename.is_ascii() {
        return vec![DispositionParam::Filename(filename.to_owned())];
    }
    let fallback = filename
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    vec![
        DispositionParam::Filename(fallback),
        DispositionParam::FilenameExt(header::ExtendedValue {
            charset: header::Charset::Ext("UTF-8".to_owned()),
            language_tag: None,
            value: filename.as_bytes().to_vec(),
        }),
    ]
}

/// What the conditional headers decide.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// `If-Match` names other tags: 412.
    Failed,
    /// The client's copy is current: 304.
    NotModified,
    /// Send the bytes.
    Send,
}

/// RFC 9110 §13.2.2's order: `If-Match`, then `If-None-Match` (weak comparison) or, only
/// without it, `If-Modified-Since` (to the second).
fn precondition(
    req: &HttpRequest,
    etag: &EntityTag,
    created: chrono::DateTime<chrono::Utc>,
) -> Precondition {
    if let Some(IfMatch::Items(tags)) = req.get_header::<IfMatch>()
        && !tags.iter().any(|t| t.strong_eq(etag))
    {
        return Precondition::Failed;
    }
    match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => return Precondition::NotModified,
        Some(IfNoneMatch::Items(tags)) => {
            return if tags.iter().any(|t| t.weak_eq(etag)) {
                Precondition::NotModified
            } else {
                Precondition::Send
            };
        }
        None if req.headers().contains_key(header::IF_NONE_MATCH) => return Precondition::Send,
        None => {}
    }
    if let Some(IfModifiedSince(since)) = req.get_header::<IfModifiedSince>()
        && created.timestamp() <= seconds(since)
    {
        return Precondition::NotModified;
    }
    Precondition::Send
}

/// The `Range` to honour: none when `If-Range` names another version (RFC 9110 §13.1.5:
/// then the whole file is sent).
fn requested_range<'a>(
    req: &'a HttpRequest,
    etag: &EntityTag,
    created: chrono::DateTime<chrono::Utc>,
) -> Option<&'a str> {
    let range = req.headers().get(header::RANGE)?.to_str().ok()?;
    let current = match req.get_header::<IfRange>() {
        None => !req.headers().contains_key(header::IF_RANGE),
        Some(IfRange::EntityTag(tag)) => tag.strong_eq(etag),
        Some(IfRange::Date(date)) => created.timestamp() == seconds(date),
    };
    current.then_some(range)
}

fn seconds(date: HttpDate) -> i64 {
    SystemTime::from(date)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn etag() -> EntityTag {
        EntityTag::new_strong("abc".into())
    }

    fn created() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn decide(headers: &[(&str, &str)]) -> Precondition {
        let mut req = TestRequest::get();
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        precondition(&req.to_http_request(), &etag(), created())
    }

    #[test]
    fn conditional_headers_in_rfc_order() {
        let date_at = |secs: i64| {
            HttpDate::from(SystemTime::from(
                chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            ))
            .to_string()
        };
        assert_eq!(decide(&[]), Precondition::Send);
        assert_eq!(
            decide(&[("if-none-match", "\"abc\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            decide(&[("if-none-match", "\"x\", W/\"abc\"")]),
            Precondition::NotModified
        );
        assert_eq!(decide(&[("if-none-match", "*")]), Precondition::NotModified);
        assert_eq!(decide(&[("if-none-match", "\"x\"")]), Precondition::Send);
        assert_eq!(decide(&[("if-match", "\"abc\"")]), Precondition::Send);
        assert_eq!(decide(&[("if-match", "*")]), Precondition::Send);
        assert_eq!(decide(&[("if-match", "\"x\"")]), Precondition::Failed);
        assert_eq!(decide(&[("if-match", "W/\"abc\"")]), Precondition::Failed);
        let later = date_at(1_700_000_001);
        let earlier = date_at(1_699_999_999);
        assert_eq!(
            decide(&[("if-modified-since", later.as_str())]),
            Precondition::NotModified
        );
        assert_eq!(
            decide(&[("if-modified-since", earlier.as_str())]),
            Precondition::Send
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            decide(&[
                ("if-none-match", "\"x\""),
                ("if-modified-since", later.as_str())
            ]),
            Precondition::Send
        );
    }

    #[test]
    fn if_range_keeps_the_range_only_for_this_version() {
        let range = |if_range: Option<&str>| {
            let mut req = TestRequest::get().insert_header(("range", "bytes=0-1"));
            if let Some(v) = if_range {
                req = req.insert_header(("if-range", v));
            }
            let req = req.to_http_request();
            requested_range(&req, &etag(), created()).map(str::to_owned)
        };
        assert_eq!(range(None).as_deref(), Some("bytes=0-1"));
        assert_eq!(range(Some("\"abc\"")).as_deref(), Some("bytes=0-1"));
        assert_eq!(range(Some("\"old\"")), None);
        assert_eq!(range(Some("W/\"abc\"")), None);
        let exact = HttpDate::from(SystemTime::from(created())).to_string();
        assert_eq!(range(Some(&exact)).as_deref(), Some("bytes=0-1"));
        assert_eq!(range(Some("garbage")), None);
    }
}
