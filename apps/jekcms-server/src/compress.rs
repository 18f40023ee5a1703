//! gzip for responses the app holds whole: the body is compressed in one go and sent with a
//! `Content-Length`, so head and body leave in one write.
//!
//! actix's `Compress` middleware streamed every body through its encoder instead: chunked
//! transfer encoding, and any body over 1 KiB compressed on a blocking thread while the head
//! was already written. The body then followed as a second small write, which Nagle's
//! algorithm held until the client acknowledged the first — and clients delay that ACK by
//! ~40 ms. (`TCP_NODELAY` is set too, see `server.rs`, but one write is cheaper still.)
//!
//! Only textual types are compressed (media bytes are streamed, and mostly compressed
//! already), only from [`MIN_BYTES`] up, at [`LEVEL`]; `docs/performance.md` has the
//! measurements behind both.

use actix_web::HttpMessage;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    AcceptEncoding, CONTENT_ENCODING, CONTENT_TYPE, ContentEncoding, Encoding, HeaderMap,
    HeaderValue, Preference, Quality, VARY,
};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use std::io::Write;

/// Bodies smaller than this are sent as they are: they fit in one packet either way, and
/// compressing them costs more time than the bytes saved.
pub const MIN_BYTES: usize = 1024;

/// zlib's fastest level: a list page shrinks about as much as at the default level 6, in a
/// fraction of the time.
pub const LEVEL: u32 = 1;

/// Bodies from this size up are compressed on the blocking pool rather than on the worker
/// (the Swagger UI bundle, a list page of 100 long posts), so one response does not stall
/// the worker's other connections for milliseconds.
const INLINE_MAX_BYTES: usize = 256 * 1024;

/// The middleware: wrap it (`middleware::from_fn(compress::gzip_responses)`) inside
/// `RequestContext`.
pub async fn gzip_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let accepts = accepts_gzip(req.get_header::<AcceptEncoding>().as_ref());
    let response = next.call(req).await?;
    Ok(compress(response.map_into_boxed_body(), accepts).await)
}

/// Whether `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) with a non-zero q, or else a
/// `*` with a non-zero q. A header that does not parse allows nothing. actix parses the
/// header; the rule is ours because its `negotiate` never picks a coding for `*` alone.
pub fn accepts_gzip(accept: Option<&AcceptEncoding>) -> bool {
    let Some(accept) = accept else { return false };
    let quality_of = |wanted: &dyn Fn(&Preference<Encoding>) -> bool| {
        accept
            .iter()
            .filter(|item| wanted(&item.item))
            .map(|item| item.quality)
            .max()
    };
    let gzip = quality_of(&|p| match p {
        Preference::Specific(Encoding::Known(ContentEncoding::Gzip)) => true,
        Preference::Specific(Encoding::Unknown(name)) => name.eq_ignore_ascii_case("x-gzip"),
        _ => false,
    });
    let any = quality_of(&|p| matches!(p, Preference::Any));
    gzip.or(any).is_some_and(|q| q > Quality::ZERO)
}

/// Text that compresses: JSON, `text/*`, JavaScript, XML, SVG.
fn compressible(headers: &HeaderMap) -> bool {
    let Some(mime) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = mime.split(';').next().unwrap_or_default().trim();
    let starts_with = |prefix: &str| {
        mime.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let ends_with = |suffix: &str| {
        mime.len() >= suffix.len()
            && mime
                .get(mime.len() - suffix.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    starts_with("text/")
        || ends_with("+json")
        || ends_with("+xml")
        || [
            "application/json",
            "application/javascript",
            "application/xml",
        ]
        .iter()
        .any(|known| mime.eq_ignore_ascii_case(known))
}

async fn compress(mut res: ServiceResponse<BoxBody>, accepts: bool) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        )
        || res.headers().contains_key(CONTENT_ENCODING)
        || !compressible(res.headers())
    {
        return res;
    }
    match res.response().body().size() {
        BodySize::Sized(n) if n >= MIN_BYTES as u64 => {}
        _ => return res,
    }
    // Whether this response is compressed depends on the request's Accept-Encoding, whatever
    // this request sent: caches must know.
    res.headers_mut()
        .append(VARY, HeaderValue::from_static("accept-encoding"));
    if !accepts {
        return res;
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let plain = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => return ServiceResponse::new(req, res.set_body(body)),
    };
    let gzipped = if plain.len() < INLINE_MAX_BYTES {
        Some(gzip(&plain))
    } else {
        let bytes = plain.clone();
        actix_web::rt::task::spawn_blocking(move || gzip(&bytes))
            .await
            .ok()
    };
    let body = match gzipped {
        // Incompressible after all (already packed text): the original is smaller.
        Some(gzipped) if gzipped.len() < plain.len() => {
            res.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gzipped
        }
        _ => plain,
    };
    ServiceResponse::new(req, res.set_body(BoxBody::new(body)))
}

fn gzip(plain: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4 + 64),
        flate2::Compression::new(LEVEL),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(plain);
    Bytes::from(encoder.finish().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{ACCEPT_ENCODING, HeaderName};

    fn with(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn parsed(values: &[&str]) -> Option<AcceptEncoding> {
        let mut req = actix_web::test::TestRequest::default();
        for v in values {
            req = req.append_header((ACCEPT_ENCODING, *v));
        }
        req.to_http_request().get_header::<AcceptEncoding>()
    }

    #[test]
    fn accept_encoding() {
        for yes in [
            &["gzip"][..],
            &["gzip, deflate"],
            &["br;q=1.0, gzip;q=0.8, *;q=0.1"],
            &["deflate", "GZIP"],
            &["x-gzip"],
            &["*"],
            &["identity, *;q=0.5"],
        ] {
            assert!(accepts_gzip(parsed(yes).as_ref()), "{yes:?}");
        }
        for no in [
            &[][..],
            &["identity"],
            &["br, deflate"],
            &["gzip;q=0"],
            &["gzip;q=0.000, *"],
            &["*;q=0"],
            &["gzip;q=nope"],
            &["gzipped"],
        ] {
            assert!(!accepts_gzip(parsed(no).as_ref()), "{no:?}");
        }
    }

    #[test]
    fn only_text_is_compressible() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "text/html",
            "application/javascript",
            "image/svg+xml",
        ] {
            assert!(compressible(&with(CONTENT_TYPE, &[yes])), "{yes}");
        }
        for no in [
            "image/png",
            "application/pdf",
            "video/mp4",
            "application/octet-stream",
        ] {
            assert!(!compressible(&with(CONTENT_TYPE, &[no])), "{no}");
        }
        assert!(!compressible(&HeaderMap::new()));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let plain = b"{\"title\":\"hello\"}".repeat(200);
        let packed = gzip(&plain);
        assert!(packed.len() < plain.len() / 10);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
    }
}
