//! CORS for browsers calling the API from another origin (API.md §9).
//!
//! - `JEKCMS_CORS_ORIGINS` (comma-separated origins, or `*`) applies to all of `/api/v2`.
//! - A site's `cors_origins` add origins for that site's pull API responses only. A
//!   preflight carries no key, so a preflight to `/api/v2/pull/*` is allowed for an origin
//!   that the global list or any site lists; the actual response then carries CORS headers
//!   only if the origin is allowed for the key's site ([`PullCaller`] looks that up and
//!   leaves a [`SiteOrigin`] mark on the request).
//! - Public media URLs (`/m/…`) need no credential and are public by design: any origin may
//!   read them (`*`), so that a front end can draw them on a canvas or `fetch` them.
//!
//! No response ever carries `Access-Control-Allow-Credentials`: the API reads no cookies,
//! and `Authorization` and `X-API-Key` need none. A refused origin gets no CORS headers; its
//! preflight to `/api/v2` is a `403 FORBIDDEN` naming the origin.
//!
//! [`PullCaller`]: crate::pull_auth::PullCaller

use crate::errors::AppError;
use crate::state::AppState;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use jekcms_content::pull::PullRepository;
use jekcms_envelope::ErrorCode;

/// The origins of `JEKCMS_CORS_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None (the default): only same-origin callers and non-browser clients.
    #[default]
    None,
    /// These origins, serialised as browsers send them.
    List(Vec<String>),
    /// `*`: every origin.
    Any,
}

impl CorsOrigins {
    /// Reads `JEKCMS_CORS_ORIGINS`: `*`, or origins separated by commas.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::None);
        }
        if raw == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "*" {
                return Err("* stands alone: either * or a list of origins".to_owned());
            }
            let origin = jekcms_accounts::site::check_origin(part)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self::List(origins))
    }

    /// Whether `origin` is allowed everywhere in `/api/v2`.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::None => false,
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// Set by the pull API's caller extractor: the key's site lists the request's origin.
#[derive(Debug, Clone, Copy)]
pub struct SiteOrigin;

/// Headers a cross-origin caller may send.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-API-Key, X-Request-Id";

/// Headers a cross-origin caller may read besides the CORS-safelisted ones.
const EXPOSE_HEADERS: &str = "ETag, Location, X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After";

/// How long a browser may keep a preflight's answer (Chromium keeps at most 2 hours).
const MAX_AGE_SECS: &str = "7200";

/// Where a request falls for CORS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Pull,
    Management,
    PublicMedia,
    Elsewhere,
}

fn area(path: &str) -> Area {
    if path.starts_with("/api/v2/pull/") {
        Area::Pull
    } else if path == "/api/v2" || path.starts_with("/api/v2/") {
        Area::Management
    } else if path.starts_with("/m/") {
        Area::PublicMedia
    } else {
        Area::Elsewhere
    }
}

/// The middleware: wrap it (`middleware::from_fn(cors::cors)`) inside `RequestContext`, so
/// that preflights get a request id and an access-log line like every request.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let area = area(req.path());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(origin), true) = (origin, area != Area::Elsewhere) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let global = &state.config.cors_origins;
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let allowed = match area {
            Area::PublicMedia => true,
            Area::Management => global.allows(&origin),
            // Any site's front end may be asking; which site is known only from the key of
            // the actual request. A store that cannot answer refuses.
            Area::Pull => {
                global.allows(&origin)
                    || state
                        .store
                        .site_lists_origin(None, &origin)
                        .await
                        .unwrap_or(false)
            }
            Area::Elsewhere => false,
        };
        if allowed {
            let any = area == Area::PublicMedia || *global == CorsOrigins::Any;
            return Ok(req.into_response(preflight_answer(&origin, any, area)));
        }
        // Refused here rather than left to routing, whose answer to `OPTIONS` (405) would
        // send the front end's developer looking at the method instead of the origin.
        let why = match area {
            Area::Pull => {
                "neither the deployment's CORS origins nor any site's cors_origins list it"
            }
            _ => "the deployment's CORS origins do not list it",
        };
        let refusal = AppError::new(
            ErrorCode::Forbidden,
            format!("the origin {origin} may not call this API from a browser: {why}"),
        );
        return Ok(req.into_response(refusal.error_response()));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let allowed = match area {
        Area::PublicMedia => true,
        Area::Management => global.allows(&origin),
        Area::Pull => {
            global.allows(&origin) || res.request().extensions().get::<SiteOrigin>().is_some()
        }
        Area::Elsewhere => false,
    };
    let any = area == Area::PublicMedia || *global == CorsOrigins::Any;
    let headers = res.headers_mut();
    if allowed {
        allow_origin(headers, &origin, any);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    if !any {
        add_vary(headers, "Origin");
    }
    Ok(res)
}

fn allow_origin(headers: &mut HeaderMap, origin: &str, any: bool) {
    let value = if any {
        Some(HeaderValue::from_static("*"))
    } else {
        HeaderValue::from_str(origin).ok()
    };
    if let Some(v) = value {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}

fn add_vary(headers: &mut HeaderMap, name: &str) {
    let current = headers
        .get(header::VARY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if current
        .split(',')
        .any(|v| v.trim().eq_ignore_ascii_case(name) || v.trim() == "*")
    {
        return;
    }
    let value = if current.is_empty() {
        name.to_owned()
    } else {
        format!("{current}, {name}")
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::VARY, v);
    }
}

/// `204` for an allowed preflight.
fn preflight_answer(origin: &str, any: bool, area: Area) -> HttpResponse {
    let methods = match area {
        Area::Pull | Area::PublicMedia => "GET, HEAD, OPTIONS",
        _ => "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
    };
    let mut res = HttpResponse::NoContent().finish();
    let headers = res.headers_mut();
    allow_origin(headers, origin, any);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_list() {
        assert_eq!(CorsOrigins::parse("").unwrap(), CorsOrigins::None);
        assert_eq!(CorsOrigins::parse(" * ").unwrap(), CorsOrigins::Any);
        assert_eq!(
            CorsOrigins::parse("https://A.example, http://localhost:3000,https://a.example")
                .unwrap(),
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ])
        );
        for bad in [
            "*, https://a.example",
            "https://a.example/",
            "ftp://a",
            "a.example",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
        let list = CorsOrigins::parse("https://a.example").unwrap();
        assert!(list.allows("https://a.example") && !list.allows("https://b.example"));
    }

    #[test]
    fn areas() {
        assert_eq!(area("/api/v2/pull/posts"), Area::Pull);
        assert_eq!(area("/api/v2/posts"), Area::Management);
        assert_eq!(area("/api/v2"), Area::Management);
        assert_eq!(area("/api/v2x"), Area::Elsewhere);
        assert_eq!(area("/m/t/a.png"), Area::PublicMedia);
        assert_eq!(area("/api/v1/posts"), Area::Elsewhere);
    }
}
