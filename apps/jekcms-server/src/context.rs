//! Per-request context: the request id (echoed or made), a task-local so that any error
//! rendered while serving the request carries it, panic capture, and the access log.
//!
//! Each request runs in a task of its own (see `call`).
//!
//! The access log records method, path (never the query string: it may hold `?token=`),
//! route template, status, time and request id — no header, no body.

use crate::errors::{AppError, envelope_error, fallback_error};
use actix_web::HttpMessage;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::InternalError;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RANGE};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Ready, ready};
use jekcms_envelope::{ApiError, ErrorCode};
use jekcms_ratelimit::{Decision, Decisions};
use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

/// The request-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: RequestScope;
}

struct RequestScope {
    id: String,
    presented_token: Cell<bool>,
    rate_limits: Cell<Decisions>,
    writes: Cell<bool>,
}

/// Records that this request writes (posts, media, the site or its keys: what the pull API
/// answers from). With a pull lease (`JEKCMS_PULL_LEASE_MS`), its answer then waits for
/// the lease after the write has committed, so that no instance still trusts what it read
/// before the write once the writer has been told it is done (`pull_cache`).
pub fn mark_write() {
    let _ = CURRENT.try_with(|s| s.writes.set(true));
}

/// The current request's id (empty outside a request).
pub fn request_id() -> String {
    CURRENT.try_with(|s| s.id.clone()).unwrap_or_default()
}

/// Records that the request presented a token (for `WWW-Authenticate: error=…`).
pub fn mark_token_presented() {
    let _ = CURRENT.try_with(|s| s.presented_token.set(true));
}

/// Whether the current request presented a token.
pub fn presented_token() -> bool {
    CURRENT
        .try_with(|s| s.presented_token.get())
        .unwrap_or(false)
}

/// Records a quota decision of this request (one per quota counted: the credential's, the
/// site's); their headers go on the response, whatever the response is
/// ([`Decisions::headers`]).
pub fn set_rate_limit(decision: Decision) {
    let _ = CURRENT.try_with(|s| {
        let mut all = s.rate_limits.get();
        all.push(decision);
        s.rate_limits.set(all);
    });
}

/// Records that a quota applies to this request although it was not counted (an earlier
/// quota refused it), so that `RateLimit-Policy` still lists it.
pub fn rate_limit_applies(policy: &'static str, quota: jekcms_ratelimit::Quota) {
    let _ = CURRENT.try_with(|s| {
        let mut all = s.rate_limits.get();
        all.applies(policy, quota);
        s.rate_limits.set(all);
    });
}

/// The quota decisions of this request, in the order they were made (empty outside one).
pub fn rate_limits() -> Decisions {
    CURRENT
        .try_with(|s| s.rate_limits.get())
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, for absolute times in headers and bodies.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn set_rate_limit_headers(headers: &mut actix_web::http::header::HeaderMap) {
    for (name, value) in rate_limits().headers(unix_now()) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// Accepts a client request id of 1–64 characters from `[A-Za-z0-9._:-]`.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 12];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness is available");
    hex::encode(bytes)
}

/// Middleware factory; wrap it outermost.
pub struct RequestContext {
    /// How long a writing request's answer waits after the handler is done
    /// (`Config::pull_lease`; zero: not at all).
    pub pull_lease: std::time::Duration,
}

impl<S, B> Transform<S, ServiceRequest> for RequestContext
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = RequestContextMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestContextMiddleware {
            service: std::rc::Rc::new(service),
            pull_lease: self.pull_lease,
        }))
    }
}

/// The middleware itself.
pub struct RequestContextMiddleware<S> {
    service: std::rc::Rc<S>,
    pull_lease: std::time::Duration,
}

impl<S, B> Service<ServiceRequest> for RequestContextMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable(v))
            .map_or_else(new_request_id, str::to_owned);
        let method = req.method().clone();
        let path = loggable_path(req.path());
        let credentialed = carries_credential(&req);
        // HEAD is served by the GET route: actix-http sends the GET answer's status and
        // headers (Content-Length included) and leaves the body out for a HEAD request.
        if method == Method::HEAD {
            req.head_mut().method = Method::GET;
            req.extensions_mut().insert(HeadRequest);
        }
        // A Range that does not parse is ignored (RFC 9110 §14.2), not refused.
        if req
            .headers()
            .get(RANGE)
            .is_some_and(|v| !crate::routes::media::range_is_well_formed(v.as_bytes()))
        {
            req.headers_mut().remove(RANGE);
        }
        let service = self.service.clone();
        let scope = RequestScope {
            id: id.clone(),
            presented_token: Cell::new(false),
            rate_limits: Cell::new(Decisions::default()),
            writes: Cell::new(false),
        };
        let pull_lease = self.pull_lease;
        let task = CURRENT.scope(scope, async move {
            let outcome = AssertUnwindSafe(service.call(req)).catch_unwind().await;
            // Whatever it did has committed or rolled back by now: a write is answered
            // only once every instance's lease on what it read before has run out.
            if !pull_lease.is_zero() && CURRENT.with(|s| s.writes.get()) {
                tokio::time::sleep(pull_lease).await;
            }
            // A request cannot be kept aside (routing needs it unshared), so failures are
            // answered as a ready-made response inside an error, which actix sends as is.
            let failure = match outcome {
                Ok(Ok(res)) => {
                    let mut res = ensure_envelope(res.map_into_boxed_body());
                    set_request_id(res.headers_mut(), &id);
                    set_rate_limit_headers(res.headers_mut());
                    set_cache_control(res.headers_mut(), credentialed);
                    // The template is rebuilt from the route map (a String each time): only
                    // when the access log or the metrics will use it.
                    let route = (crate::metrics::recording()
                        || tracing::enabled!(target: "jekcms::access", tracing::Level::INFO))
                    .then(|| res.request().match_pattern())
                    .flatten();
                    log_access(&id, &method, &path, route.as_deref(), res.status(), started);
                    crate::metrics::record_request(
                        route.as_deref(),
                        &method,
                        res.status(),
                        started,
                    );
                    return Ok(res);
                }
                Ok(Err(err)) => match err.as_error::<AppError>() {
                    Some(app) => app.error_response(),
                    None => fallback_response(err.as_response_error().status_code()),
                },
                Err(_panic) => {
                    tracing::error!(request_id = %id, %method, %path, "handler panicked");
                    envelope_error(&ApiError::internal())
                }
            };
            let mut res = failure;
            set_request_id(res.headers_mut(), &id);
            set_rate_limit_headers(res.headers_mut());
            set_cache_control(res.headers_mut(), credentialed);
            log_access(&id, &method, &path, None, res.status(), started);
            crate::metrics::record_request(None, &method, res.status(), started);
            Err(InternalError::from_response("request failed", res).into())
        });
        // The request runs as its own task: if the client goes away, the connection's
        // future is dropped but the request still finishes, so no database call is ever
        // cancelled half-way (diesel-async's SQLite wrapper cannot be cancelled on a
        // single-threaded worker) and no write is left half-observed.
        Box::pin(async move {
            actix_web::rt::spawn(task).await.unwrap_or_else(|_| {
                Err(InternalError::from_response(
                    "request task failed",
                    envelope_error(&ApiError::internal()),
                )
                .into())
            })
        })
    }
}

/// The path as the access log records it: a public media URL's token is a capability (it
/// opens the file to whoever holds it), so it is left out like any other credential.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/m/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, filename)) => format!("/m/…/{filename}"),
            None => "/m/…".to_owned(),
        },
        None => path.to_owned(),
    }
}

/// Marks a request that arrived as `HEAD` and is routed as `GET`.
#[derive(Debug, Clone, Copy)]
pub struct HeadRequest;

/// The method the client sent (`HEAD` is routed as `GET`; see [`HeadRequest`]).
pub fn client_method(req: &actix_web::HttpRequest) -> Method {
    if req.extensions().contains::<HeadRequest>() {
        Method::HEAD
    } else {
        req.method().clone()
    }
}

/// Whether the request presents a credential: a bearer or other `Authorization`, the v1
/// key headers, or `?token=`.
fn carries_credential(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(AUTHORIZATION)
        || headers.contains_key("x-api-key")
        || headers.contains_key("x-api-secret")
        || req
            .query_string()
            .split('&')
            .any(|pair| pair == "token" || pair.starts_with("token="))
}

/// An answer to a request with a credential is for that caller only: shared caches must not
/// keep it, and the caller's own cache revalidates (API.md §9: management responses are
/// `private, no-cache`). Responses that set their own, such as `no-store` on the ones that
/// carry credentials, keep it.
fn set_cache_control(headers: &mut actix_web::http::header::HeaderMap, credentialed: bool) {
    if credentialed && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
}

fn set_request_id(headers: &mut actix_web::http::header::HeaderMap, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, v);
    }
}

/// One access-log event. `route` is the matched route's template (`/api/v2/posts/{id}`), the
/// same for every id, so that logs group by endpoint; `-` when no route matched.
fn log_access(
    id: &str,
    method: &actix_web::http::Method,
    path: &str,
    route: Option<&str>,
    status: StatusCode,
    started: Instant,
) {
    tracing::info!(
        target: "jekcms::access",
        request_id = %id,
        %method,
        %path,
        route = route.unwrap_or("-"),
        status = status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
}

/// An error response that is not already JSON (a framework default, e.g. 413 from a payload
/// limit) is replaced by the envelope for its status, so nothing text/plain escapes. Raw
/// media bytes are 2xx/3xx and so untouched. The status stays what it was.
fn ensure_envelope(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, fallback_response(status))
}

/// The envelope for a bare status. A status with a code of its own gets that code; any other
/// client error keeps its status with `MALFORMED_REQUEST` (never a 500: the request was at
/// fault, not the server).
fn fallback_response(status: StatusCode) -> actix_web::HttpResponse {
    let err = fallback_error(status);
    let mut res = envelope_error(&err);
    if status.is_client_error() && err.code() == ErrorCode::MalformedRequest {
        *res.status_mut() = status;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_media_tokens_stay_out_of_the_log() {
        assert_eq!(loggable_path("/m/AbC123/cat.png"), "/m/…/cat.png");
        assert_eq!(loggable_path("/m/AbC123"), "/m/…");
        assert_eq!(
            loggable_path("/api/v2/media/1/content"),
            "/api/v2/media/1/content"
        );
    }

    #[test]
    fn bare_client_errors_keep_their_status() {
        for status in [400u16, 404, 405, 406, 408, 411, 414, 416, 417, 431, 451] {
            let status = StatusCode::from_u16(status).unwrap();
            let res = fallback_response(status);
            assert_eq!(res.status(), status);
        }
        assert_eq!(
            fallback_error(StatusCode::RANGE_NOT_SATISFIABLE).code(),
            ErrorCode::RangeNotSatisfiable
        );
        assert_eq!(
            fallback_response(StatusCode::BAD_GATEWAY).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn request_ids() {
        assert!(acceptable("abc-123_x.y:z"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("a b"));
        assert!(!acceptable("<script>"));
        assert_eq!(new_request_id().len(), 24);
    }
}
