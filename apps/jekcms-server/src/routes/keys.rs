//! API-key management (API.md §2.3): thin handlers over `jekcms_accounts::service`.

use crate::errors::AppError;
use crate::extract::{Caller, JsonBody};
use crate::paging::{ById, list_request};
use crate::respond;
use crate::schemas::{ApiKeyEnvelope, ApiKeyList, CreatedKeyEnvelope, ErrorBody};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use jekcms_accounts::model::{ApiKey, KeyRequest};
use jekcms_accounts::service;
use jekcms_content::page::Rows;
use utoipa::ToSchema;

/// A key family (documentation: `jekcms_accounts::KeyFamily` by its wire names).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = KeyFamily, rename_all = "lowercase", description = "A key family.")]
#[allow(dead_code)]
pub enum FamilyName {
    /// An `api_` id and `sk_` secret for `/auth/token`.
    Api,
    /// One `mcp_` token for `/mcp`.
    Mcp,
}

/// `POST /api-keys` body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "name": "CI deploys",
    "family": "api",
    "expires_at": "2027-06-01T00:00:00Z"
})))]
#[allow(dead_code)]
pub struct CreateKeyBody {
    /// A label, 1–100 characters after trimming, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: String,
    /// The user the key acts as (default: you); must hold a role you manage.
    user_id: Option<i64>,
    /// `api` (default: an `api_` id and `sk_` secret for `/auth/token`) or `mcp` (one
    /// `mcp_` token for `/mcp`).
    #[schema(nullable = false)]
    family: Option<FamilyName>,
    /// RFC 3339 time in the future after which the key is refused.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// Creates an API key.
///
/// Admins and owners; for yourself or a user whose role you manage. The secret is in this
/// response only and is stored as a hash.
#[utoipa::path(tag = "api-keys", security(("bearer" = [])), request_body = CreateKeyBody, responses(
    (status = 201, description = "The key with its secret, shown once", body = CreatedKeyEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Your role may not manage keys for this user", body = ErrorBody),
    (status = 422, description = "Invalid fields", body = ErrorBody),
))]
#[post("/api/v2/api-keys")]
pub async fn create_key(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let request = KeyRequest::parse(&body.0, jekcms_auth::now())?;
    let key = service::create_key(&state.store, &caller.actor(), request).await?;
    Ok(respond::no_store(respond::with_status(
        StatusCode::CREATED,
        key,
    )))
}

/// Lists the API keys you may see.
///
/// Your own, and those of users whose role you manage, in id order. Never secrets.
#[utoipa::path(tag = "api-keys", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("cursor" = Option<String>, Query, description = "`meta.next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyList, headers(("ETag" = String, description = "The page's tag, for If-None-Match"))),
    (status = 304, description = "Not modified: the If-None-Match tag is current", headers(("ETag" = String, description = "The page's tag"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "A bad limit or cursor", body = ErrorBody),
    ))]
#[get("/api/v2/api-keys")]
pub async fn list_keys(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let list = list_request::<ById<ApiKey>>(&req, &caller, &state.cursors)?;
    let (after, fetch) = (list.window.after_id(), list.window.fetch());
    let rows = service::list_keys(&state.store, &caller.actor(), after, fetch).await?;
    Ok(respond::page(list.page(Rows::new(rows))))
}

/// Revokes an API key.
///
/// Sessions and access tokens made from it are refused from the next request on, on every
/// instance. A second revoke is `404`.
#[utoipa::path(tag = "api-keys", security(("bearer" = [])), params(("id" = i64, Path, description = "Key id")), responses(
    (status = 200, description = "The revoked key", body = ApiKeyEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Your role may not manage this key", body = ErrorBody),
    (status = 404, description = "No such live key in your site", body = ErrorBody),
))]
#[delete("/api/v2/api-keys/{id}")]
pub async fn revoke_key(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let key = service::revoke_key(&state.store, &caller.actor(), id.into_inner()).await?;
    Ok(respond::ok(key))
}
