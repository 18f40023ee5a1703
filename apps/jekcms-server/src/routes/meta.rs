//! Health, readiness and the API description.

use crate::respond;
use crate::schemas::{ErrorBody, envelopes};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Liveness probe.
///
/// No auth; plain `200 ok` while the process is up.
#[utoipa::path(tag = "meta", responses((status = 200, description = "The process is up", body = String)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// How long `/readyz` waits for the database: shorter than the database timeouts, so that
/// a probe gets its answer while a hung database is still being waited for.
pub const READINESS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness probe.
///
/// No auth; `200 ready` when the database answers, else `503` (also when it does not answer
/// within 2 s).
#[utoipa::path(tag = "meta", responses(
    (status = 200, description = "The database answers", body = String),
    (status = 503, description = "The database is unreachable or does not answer within 2 s", body = String),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // The check runs as its own task, which the deadline abandons rather than cancels:
    // a SQLite call is never cut short mid-flight.
    let store = state.store.clone();
    let check = tokio::spawn(async move { store.ping().await });
    let failure = match tokio::time::timeout(READINESS_DEADLINE, check).await {
        Ok(Ok(Ok(()))) => {
            return HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body("ready");
        }
        Ok(Ok(Err(e))) => e.to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", READINESS_DEADLINE.as_secs_f32()),
    };
    tracing::warn!(error = %failure, "readiness check failed");
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("database unavailable")
}

/// What `GET /api/v2` describes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiIndex {
    /// Product name.
    pub name: &'static str,
    /// API version.
    pub version: &'static str,
    /// Server version.
    pub server_version: &'static str,
    /// Where the machine-readable spec is.
    pub openapi_url: &'static str,
    /// Where the human-readable docs are.
    pub docs_url: &'static str,
    /// Related endpoints.
    pub links: ApiLinks,
}

envelopes! {
    /// A success envelope around the API description.
    ApiIndexEnvelope(ApiIndex);
}

/// Entry points.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiLinks {
    /// Token exchange.
    pub token: &'static str,
    /// Sign-in with email and password.
    pub login: &'static str,
    /// Posts collection.
    pub posts: &'static str,
    /// Bulk import of posts.
    pub bulk_posts: &'static str,
    /// Media collection.
    pub media: &'static str,
    /// The caller.
    pub me: &'static str,
    /// Users of the site.
    pub users: &'static str,
    /// API keys.
    pub api_keys: &'static str,
}

/// Describes the API.
///
/// Authenticated: the call a client makes to test its token.
#[utoipa::path(tag = "meta", security(("bearer" = [])), responses(
    (status = 200, description = "The API description", body = ApiIndexEnvelope),
    (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
))]
#[get("/api/v2")]
pub async fn api_index(_caller: crate::extract::Caller) -> HttpResponse {
    respond::ok(ApiIndex {
        name: "JekCMS",
        version: "v2",
        server_version: env!("CARGO_PKG_VERSION"),
        openapi_url: "/api/v2/openapi.json",
        docs_url: "/docs/",
        links: ApiLinks {
            token: "/api/v2/auth/token",
            login: "/api/v2/auth/login",
            posts: "/api/v2/posts",
            bulk_posts: "/api/v2/bulk/posts",
            media: "/api/v2/media",
            me: "/api/v2/me",
            users: "/api/v2/users",
            api_keys: "/api/v2/api-keys",
        },
    })
}
