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
use jekcms_auth::session::{SessionError, SessionStore, TokenService};
use jekcms_auth::{KeyPrincipal, Principal, SessionFamily};
use jekcms_content::activity::{ActorFamily, Writer};
use jekcms_content::service::Actor;
use jekcms_envelope::ErrorCode;
use jekcms_ratelimit::SiteApi;
use jekcms_store::Store;
use serde_json::Value;
use std::net::IpAddr;

/// The current request's id, for the activity log.
fn current_request_id() -> Option<String> {
    Some(context::request_id()).filter(|id| !id.is_empty())
}

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

    /// The caller as the writer of this request's writes (what the activity log records).
    pub fn writer(&self) -> Writer {
        context::mark_write();
        Writer {
            actor: self.actor(),
            family: match self.0.family {
                SessionFamily::Api => ActorFamily::Api,
                SessionFamily::Password => ActorFamily::Password,
            },
            key_id: self.0.key_public_id.clone(),
            request_id: current_request_id(),
        }
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
        // The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer`, `BEARER`.
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
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
        let lookup_state = state.clone();
        let lookup = async move {
            let state = lookup_state
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
            // The lookup has failed already without it.
            let Some(state) = state else {
                return Err(AppError::new(
                    ErrorCode::InternalError,
                    "internal server error",
                ));
            };
            admit(&state, principal).await
        })
    }
}

/// The caller of a read whose session is checked with the read itself: on PostgreSQL the
/// check rides on the read's first query (one round trip instead of two, see
/// `jekcms_store`'s `session_check`); on SQLite, where the check costs microseconds in
/// process, it runs first, as for [`Caller`]. Extracting it reads nothing: the access token
/// alone is opened, and what it names (user, site) is only used to start the read.
pub struct ReadCaller {
    state: web::Data<AppState>,
    claims: Result<jekcms_auth::AccessClaims, AppError>,
    token: String,
}

impl FromRequest for ReadCaller {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return std::future::ready(Err(AppError::new(
                ErrorCode::InternalError,
                "internal server error",
            )));
        };
        let token = bearer(req);
        std::future::ready(token.map(|token| ReadCaller {
            claims: state.tokens.verify_access(&token).map_err(AppError::from),
            state,
            token,
        }))
    }
}

impl ReadCaller {
    /// Checks the session without a read (as [`Caller`] does).
    pub async fn check(self) -> Result<Caller, AppError> {
        self.claims?;
        let (state, token) = (self.state, self.token);
        let principal = {
            let state = state.clone();
            actix_web::rt::spawn(async move { state.tokens.authenticate(&token).await })
                .await
                .map_err(|_| AppError::new(ErrorCode::InternalError, "internal server error"))??
        };
        admit(&state, principal).await
    }

    /// Runs `read` for the token's user and site and checks the session with it; then the
    /// quotas and the license, as [`Caller`]. A refused request's read is dropped unseen,
    /// and its refusal comes before any error of the read, as if the caller had been
    /// checked first. `read` is given the caller as a viewer, the least a role may do: what
    /// a viewer may read, every role may (`policy`), so the read needs no role to start.
    pub async fn read<T>(
        self,
        read: impl AsyncFnOnce(Actor) -> Result<T, AppError>,
    ) -> Result<(Caller, T), AppError> {
        if self.state.store.backend() != jekcms_store::Backend::Postgres {
            let caller = self.check().await?;
            let out = read(caller.actor()).await?;
            return Ok((caller, out));
        }
        let claims = self.claims?;
        let actor = Actor {
            user_id: claims.user_id,
            site_id: claims.site_id,
            role: jekcms_auth::Role::Viewer,
        };
        let (principal, out) = self
            .state
            .store
            .read_checked(claims.session_id, jekcms_auth::now(), read(actor))
            .await?;
        let principal =
            jekcms_auth::TokenService::<jekcms_store::Store>::accept_session(&claims, principal)?;
        let caller = admit(&self.state, principal).await?;
        Ok((caller, out?))
    }
}

/// The caller of an accepted session, once its credential's quota, its site's license and
/// the site's quota allow the request.
async fn admit(state: &AppState, principal: Principal) -> Result<Caller, AppError> {
    // Counted once the credential is known good, whatever happens next. The quota
    // belongs to the key (shared by all its sessions and its v1 calls) or, for a
    // password session, to the user: more sessions buy no more requests.
    let admin_tier = principal.role.is_admin_tier();
    let decision = match principal.api_key_id {
        Some(key_id) => state.limiter.check_api_key(key_id, admin_tier).await,
        None => {
            state
                .limiter
                .check_user(principal.user_id, admin_tier)
                .await
        }
    };
    credential_then_site(
        state,
        decision,
        principal.site_id,
        principal.site_plan,
        principal.site_api_access,
    )
    .await?;
    Ok(Caller(principal))
}

/// The caller of a legacy `/api/v1` request: the `X-API-Key` + `X-API-Secret` pair, checked
/// against the store on every request (no session is opened), counted against the key's
/// quota, errors in v1's shape.
#[derive(Debug, Clone)]
pub struct V1Caller(pub KeyPrincipal);

impl V1Caller {
    /// The caller as a content actor.
    pub fn actor(&self) -> Actor {
        key_actor(&self.0)
    }

    /// The caller as the writer of this request's writes: an `api_` key.
    pub fn writer(&self) -> Writer {
        key_writer(&self.0, ActorFamily::Api)
    }
}

/// The holder of a key checked on this request (a v1 key pair, an `mcp_` token) as a
/// content actor.
fn key_actor(key: &KeyPrincipal) -> Actor {
    Actor {
        user_id: key.user_id,
        site_id: key.site_id,
        role: key.role,
    }
}

/// The holder of a key checked on this request as the writer of its writes: `family`, the
/// key's public id (never the secret or token), the request id.
fn key_writer(key: &KeyPrincipal, family: ActorFamily) -> Writer {
    context::mark_write();
    Writer {
        actor: key_actor(key),
        family,
        key_id: Some(key.key_public_id.clone()),
        request_id: current_request_id(),
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
            admit_key(&state, &principal).await?;
            Ok(V1Caller(principal))
        })
    }
}

/// The caller of `/mcp`: an `mcp_` token in `Authorization: Bearer` ([`McpBearer`]), checked
/// against the store on every request (no session is opened), then the same checks in the
/// same order as a REST request: the key's quota, the license, the site's management quota.
#[derive(Debug, Clone)]
pub struct McpCaller(pub KeyPrincipal);

impl McpCaller {
    /// The caller as a content actor.
    pub fn actor(&self) -> Actor {
        key_actor(&self.0)
    }

    /// The caller as the writer of this call's writes: family `mcp`, the token's listed id
    /// (`mcpid_…`, never the token).
    pub fn writer(&self) -> Writer {
        key_writer(&self.0, ActorFamily::Mcp)
    }
}

/// The bearer of a `/mcp` request: the `Authorization` header only (an agent's client can
/// always set it, and a token in a URL ends up in logs and histories).
fn mcp_bearer(req: &HttpRequest) -> Result<String, AppError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return bearer(req);
    }
    Err(AppError::new(
        ErrorCode::AuthInvalid,
        "authentication required: send Authorization: Bearer mcp_… (an MCP token, made by `jekcms keys create --family mcp` or POST /api/v2/api-keys with family mcp)",
    ))
}

/// The `mcp_` token of a `/mcp` request, by its hash (taken once, here), not checked yet:
/// [`McpBearer::check`] checks it before the call runs; [`McpBearer::read`] may send the
/// check with a reading call's first query. A request without a well-formed token is
/// refused by the extractor (no database read).
pub struct McpBearer(jekcms_auth::SecretHash);

impl FromRequest for McpBearer {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            mcp_bearer(req)
                .and_then(|token| Ok(McpBearer(TokenService::<Store>::mcp_token_hash(&token)?))),
        )
    }
}

/// `mcp_` tokens this instance has accepted, by their hash, with what the last check read.
/// A token's key, user and site never change, so a known token's reading call can be run
/// for its site before the check comes back ([`McpBearer::read`]); the check itself is made
/// on every call and decides, so revocation still takes effect on the next one.
pub struct KnownMcpTokens(quick_cache::sync::Cache<[u8; 32], KeyPrincipal>);

impl KnownMcpTokens {
    /// Room for this many tokens; the least used are forgotten first (and only cost their
    /// next call the round trip saved).
    pub const CAPACITY: usize = 4096;

    /// An empty map.
    pub fn new() -> Self {
        Self(quick_cache::sync::Cache::new(Self::CAPACITY))
    }
}

impl Default for KnownMcpTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl McpBearer {
    /// Checks the token against the store, then the same checks in the same order as a
    /// REST request: the key's quota, the license, the site's management quota.
    pub async fn check(self, state: &AppState) -> Result<McpCaller, AppError> {
        let found = state
            .store
            .find_key_by_secret(&self.0)
            .await
            .map_err(SessionError::from)?;
        let principal = accepted_mcp_key(state, &self.0, found)?;
        admit_key(state, &principal).await?;
        Ok(McpCaller(principal))
    }

    /// What this instance knows of the token when [`read`](Self::read) may send its check
    /// with the read's first query: on PostgreSQL, the principal of a token it has accepted
    /// before. `None`: check first ([`check`](Self::check)).
    pub fn pipelined(&self, state: &AppState) -> Option<KeyPrincipal> {
        if state.store.backend() != jekcms_store::Backend::Postgres {
            return None;
        }
        state.mcp_tokens.0.get(&self.0.0)
    }

    /// Runs `read` for the token's `known` caller ([`pipelined`](Self::pipelined)) and checks
    /// the token with it, as [`ReadCaller::read`] does a session: the check rides with the
    /// read's first query (one round trip). `read` is given the caller as a viewer, the
    /// least a role may do, and must only read. A refused token's read is dropped unseen, and
    /// its refusal (then the quotas' and the license's) comes before any outcome of the read.
    pub async fn read<T>(
        self,
        state: &AppState,
        known: KeyPrincipal,
        read: impl AsyncFn(&McpCaller) -> T,
    ) -> Result<(McpCaller, T), AppError> {
        let as_viewer = McpCaller(KeyPrincipal {
            role: jekcms_auth::Role::Viewer,
            ..known
        });
        let (found, out) = state
            .store
            .read_key_checked(&self.0, read(&as_viewer))
            .await
            .map_err(SessionError::from)?;
        let principal = accepted_mcp_key(state, &self.0, found)?;
        admit_key(state, &principal).await?;
        let caller = McpCaller(principal);
        if (caller.0.site_id, caller.0.user_id) != (as_viewer.0.site_id, as_viewer.0.user_id) {
            // Not reachable while a key's user and site are fixed; if they ever were not,
            // the read was for the wrong caller: read again for the right one.
            let out = read(&caller).await;
            return Ok((caller, out));
        }
        Ok((caller, out))
    }
}

/// The principal of the key the store `found` for token hash `hash`, if the token is
/// accepted; this instance remembers an accepted token and forgets a refused one.
fn accepted_mcp_key(
    state: &AppState,
    hash: &jekcms_auth::SecretHash,
    found: Option<(
        jekcms_auth::session::StoredKey,
        jekcms_auth::session::KeyHolder,
    )>,
) -> Result<KeyPrincipal, AppError> {
    match TokenService::<Store>::accept_mcp_key(found) {
        Ok(principal) => {
            state.mcp_tokens.0.insert(hash.0, principal.clone());
            Ok(principal)
        }
        Err(refused) => {
            state.mcp_tokens.0.remove(&hash.0);
            Err(refused.into())
        }
    }
}

/// Admits a request of a key checked on the request (a v1 key pair, an `mcp_` token) once
/// its key's quota, its site's license and the site's quota allow it.
async fn admit_key(state: &AppState, principal: &KeyPrincipal) -> Result<(), AppError> {
    let decision = state
        .limiter
        .check_api_key(principal.key_id, principal.role.is_admin_tier())
        .await;
    credential_then_site(
        state,
        decision,
        principal.site_id,
        principal.site_plan,
        principal.site_api_access,
    )
    .await
}

/// After the credential's quota `decision` (already made): the license, then the site's
/// management quota (API.md §8). The first quota used up answers 429; a site quota not
/// counted because the credential's refused is still listed in `RateLimit-Policy`.
async fn credential_then_site(
    state: &AppState,
    decision: Option<jekcms_ratelimit::Decision>,
    site_id: i64,
    plan: jekcms_auth::Plan,
    api_access: bool,
) -> Result<(), AppError> {
    let site_quota = state.site_quotas(plan).management;
    if let Some(decision) = decision {
        context::set_rate_limit(decision);
        if !decision.allowed {
            if let Some(quota) = site_quota {
                context::rate_limit_applies(SiteApi::Management.policy(), quota);
            }
            return Err(rate_limited(&decision));
        }
    }
    if !api_access {
        return Err(AppError::new(
            ErrorCode::LicenseRequired,
            "this site's license does not include API access",
        ));
    }
    check_site_quota(state, site_id, plan, SiteApi::Management).await
}

/// Counts one request of site `site_id`, whose plan is `plan`, against the site's `api`
/// quota (`JEKCMS_PLAN_*`; none on `unlimited` by default): its headers join the request's
/// others, and a used-up quota answers 429 with `Retry-After`. Every instance shares the
/// count when Redis is configured.
pub async fn check_site_quota(
    state: &AppState,
    site_id: i64,
    plan: jekcms_auth::Plan,
    api: SiteApi,
) -> Result<(), AppError> {
    let quota = state.site_quotas(plan).get(api);
    if let Some(decision) = state.limiter.check_site(site_id, api, quota).await {
        context::set_rate_limit(decision);
        if !decision.allowed {
            return Err(rate_limited(&decision));
        }
    }
    Ok(())
}

/// The `429` for a refused `decision` (counted in the metrics by its policy).
fn rate_limited(decision: &jekcms_ratelimit::Decision) -> AppError {
    crate::metrics::rate_limited(decision.policy);
    let secs = decision.retry_after_secs().unwrap_or(1);
    let message = match decision.policy {
        "site" => {
            format!("this site's management API quota is used up (see its plan); retry in {secs} s")
        }
        "pull" => {
            format!("this site's pull API quota is used up (see its plan); retry in {secs} s")
        }
        _ => format!("rate limit exceeded; retry in {secs} s"),
    };
    AppError(jekcms_envelope::ApiError::new(ErrorCode::RateLimited, message).with_retry_after(secs))
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

/// Query parameters as `(name, value)` pairs, `token` removed (it is a credential). A NUL
/// character (`%00`) in a name or value is 422 naming the parameter: PostgreSQL cannot
/// store or compare one, and SQLite ends strings at it.
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, AppError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| AppError::new(ErrorCode::MalformedRequest, "the query string is malformed"))?
        .0;
    let with_nul: Vec<jekcms_content::FieldError> = pairs
        .iter()
        .filter(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| {
            jekcms_content::FieldError::new(k.clone(), "query parameters must not contain NUL")
        })
        .collect();
    if !with_nul.is_empty() {
        return Err(AppError::fields(with_nul));
    }
    Ok(pairs.into_iter().filter(|(k, _)| k != "token").collect())
}

/// Largest JSON body accepted (a post body may be 1,000,000 bytes, plus JSON escaping).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// Most JSON values (objects, arrays, strings, numbers, …) in one body. The largest body any
/// endpoint takes, a bulk import of 100 posts with 20 tags each, holds under 3,000; without a
/// bound, 4 MB of tiny values parse into ~40 MB of tree, and the error lists built from them.
pub const MAX_JSON_VALUES: usize = 20_000;

/// A JSON request body not read yet: a handler that checks the caller's role reads it
/// after the check ([`JsonPayload::read`]), so a caller who may not write never costs a
/// body read or a parse.
pub struct JsonPayload {
    is_json: bool,
    declared_len: Option<usize>,
    payload: Payload,
}

impl FromRequest for JsonPayload {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

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
        std::future::ready(Ok(Self {
            is_json,
            declared_len,
            payload: payload.take(),
        }))
    }
}

impl JsonPayload {
    /// Reads and parses the body: `415` unless the content type is JSON, `413` over
    /// [`MAX_JSON_BYTES`] or [`MAX_JSON_VALUES`], `400` if it does not parse, `422` naming
    /// the field when an object has the same key twice (which of the two would count is
    /// not obvious, and parsers disagree).
    pub async fn read(self) -> Result<Value, AppError> {
        if !self.is_json {
            return Err(not_json());
        }
        parse_json(&self.bytes().await?)
    }

    /// [`JsonPayload::read`] for an endpoint whose body may be left out: an empty body is
    /// `None`, whatever its content type.
    pub async fn read_optional(self) -> Result<Option<Value>, AppError> {
        let is_json = self.is_json;
        let bytes = self.bytes().await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(not_json());
        }
        parse_json(&bytes).map(Some)
    }

    /// The body's bytes, at most [`MAX_JSON_BYTES`] of them.
    async fn bytes(mut self) -> Result<web::BytesMut, AppError> {
        let too_large = || {
            AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {MAX_JSON_BYTES} bytes"),
            )
        };
        if self.declared_len.is_some_and(|n| n > MAX_JSON_BYTES) {
            return Err(too_large());
        }
        let mut buf =
            web::BytesMut::with_capacity(self.declared_len.unwrap_or(1024).min(MAX_JSON_BYTES));
        while let Some(chunk) = self.payload.next().await {
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
        Ok(buf)
    }
}

fn not_json() -> AppError {
    AppError::new(
        ErrorCode::UnsupportedMediaType,
        "send the body as JSON with Content-Type: application/json",
    )
}

/// A parsed JSON request body ([`JsonPayload`] read at once), for handlers with no role to
/// check first.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest for JsonBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonPayload::from_request(req, payload).into_inner();
        Box::pin(async move { body?.read().await.map(JsonBody) })
    }
}

/// Parses a request body as JSON, refusing duplicate keys and more than
/// [`MAX_JSON_VALUES`] values (see [`JsonPayload::read`]).
pub fn parse_json(bytes: &[u8]) -> Result<Value, AppError> {
    use serde::de::DeserializeSeed;
    let mut reader = json_reader::Reader::new(MAX_JSON_VALUES);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = json_reader::ValueSeed(&mut reader)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, reader.refusal) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(json_reader::Refusal::Duplicate(path))) => Err(AppError::validation(
            json_reader::render(&path),
            "this key appears more than once in its object",
        )),
        (Err(_), Some(json_reader::Refusal::TooManyValues)) => Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body holds more than {MAX_JSON_VALUES} JSON values"),
        )),
        (Err(e), None) => Err(AppError::new(
            ErrorCode::MalformedRequest,
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )),
    }
}

/// A `serde_json::Value` builder that counts values and refuses duplicate keys, and on a
/// refusal says where: the path is collected on the way out, so an accepted body costs no
/// path bookkeeping.
mod json_reader {
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::fmt;

    /// One step of a path into the body.
    pub(super) enum Step {
        Key(String),
        Index(usize),
    }

    /// Why parsing stopped.
    pub(super) enum Refusal {
        /// A key repeated in one object; the path to it, innermost step first.
        Duplicate(Vec<Step>),
        TooManyValues,
    }

    pub(super) struct Reader {
        left: usize,
        pub(super) refusal: Option<Refusal>,
    }

    impl Reader {
        pub(super) fn new(max_values: usize) -> Self {
            Self {
                left: max_values,
                refusal: None,
            }
        }

        fn outer(&mut self, step: Step) {
            if let Some(Refusal::Duplicate(path)) = &mut self.refusal {
                path.push(step);
            }
        }
    }

    /// `posts[3].title`, or `body` for the body itself.
    pub(super) fn render(path: &[Step]) -> String {
        let mut out = String::new();
        for step in path.iter().rev() {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            "body".to_owned()
        } else {
            out
        }
    }

    pub(super) struct ValueSeed<'r>(pub(super) &'r mut Reader);

    impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            if self.0.left == 0 {
                self.0.refusal = Some(Refusal::TooManyValues);
                return Err(de::Error::custom("too many values"));
            }
            self.0.left -= 1;
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for ValueSeed<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            loop {
                match seq.next_element_seed(ValueSeed(&mut *self.0)) {
                    Ok(Some(v)) => items.push(v),
                    Ok(None) => return Ok(Value::Array(items)),
                    Err(e) => {
                        self.0.outer(Step::Index(items.len()));
                        return Err(e);
                    }
                }
            }
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut members = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if members.contains_key(&key) {
                    self.0.refusal = Some(Refusal::Duplicate(vec![Step::Key(key)]));
                    return Err(de::Error::custom("duplicate key"));
                }
                match map.next_value_seed(ValueSeed(&mut *self.0)) {
                    Ok(v) => {
                        members.insert(key, v);
                    }
                    Err(e) => {
                        self.0.outer(Step::Key(key));
                        return Err(e);
                    }
                }
            }
            Ok(Value::Object(members))
        }
    }
}

/// Reads a flat JSON body into `T`: unknown fields, missing ones, a string holding NUL and
/// wrong types are 422 with the field named ([`jekcms_envelope::fields::deserialize_flat`]).
pub fn typed<T: serde::de::DeserializeOwned>(value: Value, fields: &[&str]) -> Result<T, AppError> {
    jekcms_envelope::fields::deserialize_flat(value, fields).map_err(AppError::fields)
}
