//! Token pair endpoints (API.md §2.1) and `GET /api/v2/me`.

use crate::errors::AppError;
use crate::extract::{AuthThrottle, Caller, JsonBody, RegistrationOpen, typed};
use crate::respond;
use crate::schemas::{ErrorBody, envelopes};
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use jekcms_accounts::model::{Login, Registration};
use jekcms_accounts::{Site, User, service as accounts};
use jekcms_auth::TokenPair;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/token` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "api_key": "api_2fq8x0Jm4TnC1Lw9",
    "api_secret": "sk_9aQ3vX7mP2kR8sT1wY6zB4nD0fG5hJ"
})))]
pub struct TokenRequest {
    /// `api_…`
    pub api_key: String,
    /// `sk_…`
    pub api_secret: String,
}

/// `POST /auth/refresh` and `/auth/revoke` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"refresh_token": "rf_7Hc2Lq9Wm4Xz1Bv8Nt3Kp6Rs0Dy5Fg"})))]
pub struct RefreshRequest {
    /// `rf_…`
    pub refresh_token: String,
}

/// A token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// PASETO v4.local access token; send as `Authorization: Bearer`.
    pub access_token: String,
    /// `rf_…` refresh token; works once.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Refresh-token lifetime in seconds.
    pub refresh_expires_in: i64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "Bearer",
            expires_in: p.expires_in,
            refresh_expires_in: p.refresh_expires_in,
        }
    }
}

/// Exchanges an API key and secret for a token pair.
#[utoipa::path(tag = "auth", request_body = TokenRequest, responses(
    (status = 200, description = "A new session's token pair", body = TokenResponseEnvelope),
    (status = 401, description = "Unknown, revoked or wrong-family credential", body = ErrorBody),
    (status = 402, description = "The key's site has no API access (LICENSE_REQUIRED)", body = ErrorBody),
    (status = 422, description = "Missing or unknown fields", body = ErrorBody),
    (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
))]
#[post("/api/v2/auth/token")]
pub async fn token(
    _throttle: AuthThrottle,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let req: TokenRequest = typed(body.0, &["api_key", "api_secret"])?;
    let pair = state
        .tokens
        .exchange_api_key(&req.api_key, &req.api_secret)
        .await?;
    Ok(respond::no_store(respond::ok(TokenResponse::from(pair))))
}

/// Rotates a refresh token into a new token pair.
///
/// A refresh token works once; reusing it after the grace window revokes the whole session.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "The next token pair", body = TokenResponseEnvelope),
    (status = 401, description = "Invalid, expired, reused or revoked refresh token", body = ErrorBody),
    (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
))]
#[post("/api/v2/auth/refresh")]
pub async fn refresh(
    _throttle: AuthThrottle,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let req: RefreshRequest = typed(body.0, &["refresh_token"])?;
    let pair = state.tokens.refresh(&req.refresh_token).await?;
    Ok(respond::no_store(respond::ok(TokenResponse::from(pair))))
}

/// `POST /auth/login` body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"email": "ada@example.com", "password": "correct horse battery"})))]
#[allow(dead_code)]
pub struct LoginRequest {
    /// The account's email.
    email: String,
    /// The account's password.
    password: String,
    /// Slug of the site to sign in to. Needed only when the email belongs to users of
    /// several sites; without it such a login fails like a wrong password.
    #[schema(nullable = false)]
    site: Option<String>,
}

/// A token pair and the user it acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The tokens.
    #[serde(flatten)]
    pub tokens: TokenResponse,
    /// The signed-in user.
    pub user: User,
}

/// Signs in with email and password.
///
/// Opens a session of family `password`. A wrong email, a wrong password, and an email that
/// several sites have without `site` all get the same answer after the same work.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "A new session's token pair and the user", body = LoginResponseEnvelope),
    (status = 401, description = "The email or password is incorrect", body = ErrorBody),
    (status = 402, description = "The user's site has no API access (LICENSE_REQUIRED)", body = ErrorBody),
    (status = 422, description = "Missing or unknown fields", body = ErrorBody),
    (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
))]
#[post("/api/v2/auth/login")]
pub async fn login(
    _throttle: AuthThrottle,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let login = Login::parse(&body.0)?;
    let (user, pair) = accounts::login(&state.store, &state.tokens, login).await?;
    Ok(respond::no_store(respond::ok(LoginResponse {
        tokens: pair.into(),
        user,
    })))
}

/// `POST /auth/register` body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "password": "correct horse battery",
    "site_name": "Analytical Engines"
})))]
#[allow(dead_code)]
pub struct RegisterRequest {
    /// Your name: 1–100 characters after trimming, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: String,
    /// Your email (the new site's first user, so never taken); stored trimmed and in lower
    /// case.
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]{1,64}@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: String,
    /// 12–256 characters.
    #[schema(min_length = 12, max_length = 256, pattern = r"^[^\x00]*$")]
    password: String,
    /// The new site's name, with the rules of `name`; its slug is made from it.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    site_name: String,
}

/// A new site, its owner, and their first token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    /// The owner.
    pub user: User,
    /// The site.
    pub site: Site,
    /// The tokens.
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

/// Registers a new site with you as its owner.
///
/// Signs you in too. Off (`404`) unless `JEKCMS_OPEN_REGISTRATION=true`.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "The new owner, site and token pair", body = RegisteredEnvelope, headers(("Location" = String, description = "`/api/v2/users/{id}` of the new owner"))),
    (status = 404, description = "Registration is closed on this server", body = ErrorBody),
    (status = 422, description = "Invalid fields", body = ErrorBody),
    (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
))]
#[post("/api/v2/auth/register")]
pub async fn register(
    _open: RegistrationOpen,
    _throttle: AuthThrottle,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let registration = Registration::parse(&body.0)?;
    let (user, site, pair) = accounts::register(
        &state.store,
        &state.tokens,
        registration,
        state.config.default_plan,
    )
    .await?;
    let location = format!("/api/v2/users/{}", user.id);
    Ok(respond::no_store(respond::created(
        location,
        Registered {
            user,
            site,
            tokens: pair.into(),
        },
    )))
}

/// Result of a logout.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Always true: the answer does not reveal whether the token was known.
    pub revoked: bool,
}

/// Ends the session of a refresh token (logout).
///
/// `200` whether or not the token was known.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "The session is over", body = RevokedEnvelope),
    (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
))]
#[post("/api/v2/auth/revoke")]
pub async fn revoke(
    _throttle: AuthThrottle,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let req: RefreshRequest = typed(body.0, &["refresh_token"])?;
    state.tokens.revoke(&req.refresh_token).await?;
    Ok(respond::ok(Revoked { revoked: true }))
}

/// The caller's user.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: String,
}

/// The caller's site.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeSite {
    /// Id.
    pub id: i64,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// The credential in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeCredential {
    /// `api` (session from a key) or `password` (from login).
    pub family: &'static str,
    /// Public id of the key, for `api` sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The session.
    pub session_id: i64,
}

/// The caller's quota after this request.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeRateLimit {
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Unix time (seconds) when the quota is full again.
    pub reset: u64,
}

/// `GET /me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user.
    pub user: MeUser,
    /// The site.
    pub site: MeSite,
    /// The credential.
    pub credential: MeCredential,
    /// The quota of the credential (the API key, or the user of a password session).
    pub rate_limit: Option<MeRateLimit>,
}

/// Who the token acts as.
///
/// The user, their site, the credential and its rate limit.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, description = "The caller", body = MeEnvelope),
    (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
))]
#[get("/api/v2/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    let p = caller.0;
    let now = crate::context::unix_now();
    let rate_limits = crate::context::rate_limits();
    let rate_limit = rate_limits
        .iter()
        .find(|d| matches!(d.policy, "key" | "user"))
        .map(|d| MeRateLimit {
            limit: d.quota.requests.get(),
            remaining: d.remaining,
            reset: now + d.reset_secs(),
        });
    respond::ok(Me {
        user: MeUser {
            id: p.user_id,
            name: p.user_name,
            email: p.user_email,
            role: p.role.as_str().to_owned(),
        },
        site: MeSite {
            id: p.site_id,
            slug: p.site_slug,
            name: p.site_name,
        },
        credential: MeCredential {
            family: p.family.as_str(),
            key_id: p.key_public_id,
            session_id: p.session_id,
        },
        rate_limit,
    })
}

envelopes! {
    /// A success envelope around a token pair.
    TokenResponseEnvelope(TokenResponse);
    /// A success envelope around a signed-in user and their token pair.
    LoginResponseEnvelope(LoginResponse);
    /// A success envelope around a new site, its owner and their token pair.
    RegisteredEnvelope(Registered);
    /// A success envelope around the outcome of a logout.
    RevokedEnvelope(Revoked);
    /// A success envelope around the caller.
    MeEnvelope(Me);
}
