//! Request extractors: the authenticated [`Caller`], JSON bodies, and query pairs — each
//! turning bad input into the envelope's error codes.

use crate::context;
use crate::errors::{AppError, V1Error};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use jekcms_auth::{KeyPrincipal, Principal};
use jekcms_content::service::Actor;
use jekcms_envelope::ErrorCode;
use serde_json::Value;
use std::net::IpAddr;

/// The authenticated caller of a `/api/v2` request, checked against its session.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// The caller as a content actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.0.user_id,
            site_id: self.0.site_id,
            role: self.0.role,
        }
    }

    /// Seals a cursor binding to this caller's site, so cursors never cross sites.
    pub fn binding(&self, inner: &[u8]) -> Vec<u8> {
        let mut b = self.0.site_id.to_be_bytes().to_vec();
        b.extend_from_slice(inner);
        b
    }
}

/// The bearer credential of a request: the `Authorization` header, or `?token=` on GET.
fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        context::mark_token_presented();
        let value = value.to_str().map_err(|_| {
            AppError::new(
                ErrorCode::AuthInvalid,
                "the Authorization header is malformed",
            )
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::AuthInvalid,
                    "use Authorization: Bearer ACCESS_TOKEN",
                )
            })?;
        return Ok(token.to_owned());
    }
    if let Some(token) = query_token(req) {
        context::mark_token_presented();
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(AppError::new(
                ErrorCode::AuthInvalid,
                "?token= is accepted on GET requests only; send Authorization: Bearer",
            ));
        }
        return Ok(token);
    }
    Err(AppError::new(
        ErrorCode::AuthInvalid,
        "authentication required: send Authorization: Bearer ACCESS_TOKEN (get one at POST /api/v2/auth/token)",
    ))
}

fn query_token(req: &HttpRequest) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .0
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let limiter = state.as_ref().map(|s| s.limiter.clone());
        let lookup = async move {
            let state = state
                .ok_or_else(|| AppError::new(ErrorCode::InternalError, "internal server error"))?;
            Ok::<_, AppError>(state.tokens.authenticate(&token?).await?)
        };
        // actix polls a handler's extractors together and drops the rest when one fails
        // (e.g. a malformed body); the session lookup runs as its own task so that drop
        // never cancels a database call mid-flight.
        Box::pin(async move {
            let principal = actix_web::rt::spawn(lookup).await.unwrap_or_else(|_| {
                Err(AppError::new(
                    ErrorCode::InternalError,
                    "internal server error",
                ))
            })?;
            // Counted once the credential is known good, whatever happens next. The quota
            // belongs to the key (shared by all its sessions and its v1 calls) or, for a
            // password session, to the user: more sessions buy no more requests.
            let admin_tier = principal.role.is_admin_tier();
            let decision = match (&limiter, principal.api_key_id) {
                (None, _) => None,
                (Some(limiter), Some(key_id)) => limiter.check_api_key(key_id, admin_tier).await,
                (Some(limiter), None) => limiter.check_user(principal.user_id, admin_tier).await,
            };
            if let Some(decision) = decision {
                context::set_rate_limit(decision);
                if !decision.allowed {
                    return Err(rate_limited(&decision));
                }
            }
            if !principal.site_api_access {
                return Err(AppError::new(
                    ErrorCode::LicenseRequired,
                    "this site's license does not include API access",
                ));
            }
            Ok(Caller(principal))
        })
    }
}

/// The caller of a legacy `/api/v1` request: the `X-API-Key` + `X-API-Secret` pair, checked
/// against the store on every request (no session is opened), counted against the key's
/// quota, errors in v1's shape.
#[derive(Debug, Clone)]
pub struct V1Caller(pub KeyPrincipal);

impl V1Caller {
    /// The caller as a content actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.0.user_id,
            site_id: self.0.site_id,
            role: self.0.role,
        }
    }
}

/// The v1 key pair of a request.
fn v1_key_pair(req: &HttpRequest) -> Result<(String, String), AppError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().map(|s| s.trim().to_owned()))
    };
    match (header("x-api-key"), header("x-api-secret")) {
        (Some(Ok(key)), Some(Ok(secret))) if !key.is_empty() && !secret.is_empty() => {
            Ok((key, secret))
        }
        (None, None) if req.headers().contains_key(header::AUTHORIZATION) => Err(AppError::new(
            ErrorCode::AuthInvalid,
            "the v1 API authenticates with X-API-Key and X-API-Secret; bearer tokens are for /api/v2",
        )),
        _ => Err(AppError::new(
            ErrorCode::AuthInvalid,
            "authentication required: send X-API-Key and X-API-Secret",
        )),
    }
}

impl FromRequest for V1Caller {
    type Error = V1Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let pair = v1_key_pair(req);
        let ip = state
            .as_ref()
            .map(|s| client_ip(req, &s.config.trusted_proxies));
        Box::pin(async move {
            let state = state
                .ok_or_else(|| AppError::new(ErrorCode::InternalError, "internal server error"))?;
            let (key, secret) = pair?;
            let tokens = state.tokens.clone();
            // Its own task, so that a failing sibling extractor never cancels the lookup.
            let checked =
                actix_web::rt::spawn(
                    async move { tokens.authenticate_key_pair(&key, &secret).await },
                )
                .await
                .map_err(|_| AppError::new(ErrorCode::InternalError, "internal server error"))?;
            let principal = match checked {
                Ok(principal) => principal,
                Err(refused) => {
                    // A refused key pair is a guess like a refused /auth/token: it counts
                    // against the client's per-IP auth quota, which then answers 429.
                    if matches!(refused, jekcms_auth::session::SessionError::Auth(_))
                        && let Some(ip) = ip
                        && let Some(decision) = state.limiter.check_ip(ip).await
                    {
                        context::set_rate_limit(decision);
                        if !decision.allowed {
                            return Err(V1Error(rate_limited(&decision).0));
                        }
                    }
                    return Err(refused.into());
                }
            };
            if let Some(decision) = state
                .limiter
                .check_api_key(principal.key_id, principal.role.is_admin_tier())
                .await
            {
                context::set_rate_limit(decision);
                if !decision.allowed {
                    return Err(V1Error(rate_limited(&decision).0));
                }
            }
            if !principal.site_api_access {
                return Err(AppError::new(
                    ErrorCode::LicenseRequired,
                    "this site's license does not include API access",
                )
                .into());
            }
            Ok(V1Caller(principal))
        })
    }
}

/// A JSON body of a v1 request: [`JsonBody`] with its errors in v1's shape.
#[derive(Debug)]
pub struct V1Json(pub Value);

impl FromRequest for V1Json {
    type Error = V1Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let inner = JsonBody::from_request(req, payload);
        Box::pin(async move { inner.await.map(|b| V1Json(b.0)).map_err(V1Error::from) })
    }
}

fn rate_limited(decision: &jekcms_ratelimit::Decision) -> AppError {
    let secs = decision.retry_after_secs().unwrap_or(1);
    AppError(
        jekcms_envelope::ApiError::new(
            ErrorCode::RateLimited,
            format!("rate limit exceeded; retry in {secs} s"),
        )
        .with_retry_after(secs),
    )
}

/// The per-IP quota of the unauthenticated auth endpoints (`/auth/token`, `/auth/refresh`,
/// `/auth/revoke`, `/auth/login`, `/auth/register`): checked before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct AuthThrottle;

impl FromRequest for AuthThrottle {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(async { Ok(AuthThrottle) });
        };
        let ip = client_ip(req, &state.config.trusted_proxies);
        Box::pin(async move {
            match state.limiter.check_ip(ip).await {
                Some(decision) => {
                    context::set_rate_limit(decision);
                    if decision.allowed {
                        Ok(AuthThrottle)
                    } else {
                        Err(rate_limited(&decision))
                    }
                }
                None => Ok(AuthThrottle),
            }
        })
    }
}

/// Passes only when `JEKCMS_OPEN_REGISTRATION` is on; otherwise the route answers 404, as
/// if it did not exist.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationOpen;

impl FromRequest for RegistrationOpen {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let open = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.config.open_registration);
        std::future::ready(if open {
            Ok(RegistrationOpen)
        } else {
            Err(AppError::new(
                ErrorCode::NotFound,
                "registration is closed on this server",
            ))
        })
    }
}

/// The client's IP: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| a.ip());
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Query parameters as `(name, value)` pairs, `token` removed (it is a credential).
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, AppError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| AppError::new(ErrorCode::MalformedRequest, "the query string is malformed"))?
        .0;
    Ok(pairs.into_iter().filter(|(k, _)| k != "token").collect())
}

/// Largest JSON body accepted (a post body may be 1,000,000 bytes, plus JSON escaping).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// A parsed JSON request body: `415` unless the content type is JSON, `413` over
/// [`MAX_JSON_BYTES`], `400` if it does not parse.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest for JsonBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as JSON with Content-Type: application/json",
                ));
            }
            let too_large = || {
                AppError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the request body is larger than {MAX_JSON_BYTES} bytes"),
                )
            };
            if declared_len.is_some_and(|n| n > MAX_JSON_BYTES) {
                return Err(too_large());
            }
            let mut buf =
                web::BytesMut::with_capacity(declared_len.unwrap_or(1024).min(MAX_JSON_BYTES));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    AppError::new(
                        ErrorCode::MalformedRequest,
                        "the request body could not be read",
                    )
                })?;
                if buf.len() + chunk.len() > MAX_JSON_BYTES {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            serde_json::from_slice(&buf).map(JsonBody).map_err(|e| {
                AppError::new(
                    ErrorCode::MalformedRequest,
                    format!(
                        "the body is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })
        })
    }
}

/// Reads a JSON body into `T`: unknown fields and wrong types are 422 with the field named.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value, fields: &[&str]) -> Result<T, AppError> {
    if let Value::Object(map) = &value {
        let mut errors = Vec::new();
        for key in map.keys().filter(|k| !fields.contains(&k.as_str())) {
            errors.push(jekcms_content::FieldError::new(
                key.clone(),
                "unknown field",
            ));
        }
        for field in fields.iter().filter(|f| !map.contains_key(**f)) {
            errors.push(jekcms_content::FieldError::new(
                *field,
                format!("{field} is required"),
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::fields(errors));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        AppError::validation(
            "body",
            format!("the body does not have the expected shape: {e}"),
        )
    })
}
