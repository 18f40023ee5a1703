//! Users of a site (API.md §2.3): thin handlers over `jekcms_accounts::service`.

use crate::errors::AppError;
use crate::extract::{Caller, JsonBody, query_pairs};
use crate::paging::{ById, list_request};
use crate::respond;
use crate::schemas::{ErrorBody, UserEnvelope, UserList, envelopes};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use jekcms_accounts::model::{User, UserPatch, UserRequest};
use jekcms_accounts::service;
use jekcms_content::page::{Params, Rows};
use serde::Serialize;
use utoipa::ToSchema;

/// A user's role, lowest first (documentation: `jekcms_auth::Role` by its wire names).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role, rename_all = "lowercase", description = "A user's role, lowest first.")]
#[allow(dead_code)]
pub enum RoleName {
    /// Reads.
    Viewer,
    /// Writes their own posts.
    Author,
    /// Writes and publishes every post.
    Editor,
    /// Also manages users and keys.
    Admin,
    /// Also manages admins and owners.
    Owner,
}

/// `POST /users` body (documentation; parsing reports every bad field).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "role": "editor",
    "password": "a long passphrase"
})))]
#[allow(dead_code)]
pub struct CreateUserBody {
    /// Display name, 1–100 characters after trimming, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: String,
    /// Email; unique within your site (409 `CONFLICT`, field `email`); stored trimmed and in
    /// lower case.
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]{1,64}@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: String,
    /// Below your own role (owners may create owners).
    role: RoleName,
    /// 12–256 characters; without one the user cannot log in (API keys only).
    #[schema(
        nullable = false,
        min_length = 12,
        max_length = 256,
        pattern = r"^[^\x00]*$"
    )]
    password: Option<String>,
}

/// `PATCH /users/{id}` body: absent fields are unchanged; none may be `null`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "Grace B. Hopper", "role": "admin"})))]
#[allow(dead_code)]
pub struct UpdateUserBody {
    /// Display name, with the rules of a new user's.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: Option<String>,
    /// Email, with the rules of a new user's.
    #[schema(
        nullable = false,
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]{1,64}@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.\x00-\x1f\x7f-\x9f][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: Option<String>,
    /// New role; a demotion ends the user's sessions at once.
    #[schema(nullable = false)]
    role: Option<RoleName>,
    /// New password (12–256 characters); ends the user's sessions at once.
    #[schema(
        nullable = false,
        min_length = 12,
        max_length = 256,
        pattern = r"^[^\x00]*$"
    )]
    password: Option<String>,
    /// Your password now: required to change your own password or email, which only a
    /// password session (`/auth/login`) may do, never a session from an API key.
    #[schema(nullable = false, pattern = r"^[^\x00]*$")]
    current_password: Option<String>,
}

/// Lists the users of your site.
///
/// In id order; admins and owners.
#[utoipa::path(tag = "users", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("cursor" = Option<String>, Query, description = "`meta.next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserList, headers(("ETag" = String, description = "The page's tag, for If-None-Match"))),
    (status = 304, description = "Not modified: the If-None-Match tag is current", headers(("ETag" = String, description = "The page's tag"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Your role may not manage users", body = ErrorBody),
        (status = 422, description = "A bad limit or cursor", body = ErrorBody),
    ))]
#[get("/api/v2/users")]
pub async fn list_users(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let list = list_request::<ById<User>>(&req, &caller, &state.cursors)?;
    let (after, fetch) = (list.window.after_id(), list.window.fetch());
    let rows = service::list_users(&state.store, &caller.actor(), after, fetch).await?;
    Ok(respond::page(list.page(Rows::new(rows))))
}

/// Creates a user.
///
/// In your site, with a role below your own; `201` with `Location`.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = CreateUserBody, responses(
    (status = 201, description = "The user", body = UserEnvelope, headers(("Location" = String, description = "/api/v2/users/{id}"))),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Your role may not grant this role", body = ErrorBody),
    (status = 409, description = "The email is taken", body = ErrorBody),
    (status = 422, description = "Invalid fields", body = ErrorBody),
))]
#[post("/api/v2/users")]
pub async fn create_user(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let request = UserRequest::parse(&body.0)?;
    let user = service::create_user(&state.store, &caller.actor(), request).await?;
    Ok(respond::created(format!("/api/v2/users/{}", user.id), user))
}

/// Gets one user.
///
/// Yourself, or anyone of your site for admins and owners.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = i64, Path, description = "User id")), responses(
    (status = 200, description = "The user", body = UserEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Your role may not read other users", body = ErrorBody),
    (status = 404, description = "No such user in your site", body = ErrorBody),
))]
#[get("/api/v2/users/{id}")]
pub async fn get_user(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user = service::get_user(&state.store, &caller.actor(), id.into_inner()).await?;
    Ok(respond::ok(user))
}

/// Changes a user.
///
/// Anyone may change their own name, and from a password session their own email and password,
/// confirmed by `current_password`; roles change only between roles you manage, and the last
/// owner stays an owner. A demotion or a password change ends the user's sessions (key
/// sessions included) on their next request.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = UpdateUserBody, params(("id" = i64, Path, description = "User id")), responses(
    (status = 200, description = "The user", body = UserEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Your role may not make this change, or an API key's session changes its own password or email", body = ErrorBody),
    (status = 404, description = "No such user in your site", body = ErrorBody),
    (status = 409, description = "The email is taken, or this is the site's last owner", body = ErrorBody),
    (status = 422, description = "Invalid fields, or a missing or wrong current_password", body = ErrorBody),
))]
#[patch("/api/v2/users/{id}")]
pub async fn update_user(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let patch = UserPatch::parse(&body.0)?;
    let user = service::update_user(
        &state.store,
        &caller.actor(),
        caller.0.family,
        id.into_inner(),
        patch,
    )
    .await?;
    Ok(respond::ok(user))
}

/// Result of a user deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDeleted {
    /// The deleted user.
    pub id: i64,
    /// Always true.
    pub deleted: bool,
    /// Who now authors the user's posts and media.
    pub reassigned_to: i64,
}

envelopes! {
    /// A success envelope around the outcome of a user's deletion.
    UserDeletedEnvelope(UserDeleted);
}

/// Deletes a user.
///
/// Their keys and sessions go too (effective on the next request). Their posts and media pass
/// to `reassign_to`, or to you. The last owner cannot be deleted.
#[utoipa::path(tag = "users", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "User id"),
        ("reassign_to" = Option<i64>, Query, description = "Who receives the user's posts and media (default: you)"),
    ),
    responses(
        (status = 200, description = "Deleted", body = UserDeletedEnvelope),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Your role may not delete this user", body = ErrorBody),
        (status = 404, description = "No such user in your site", body = ErrorBody),
        (status = 409, description = "The site's last owner", body = ErrorBody),
        (status = 422, description = "A bad reassign_to", body = ErrorBody),
    ))]
#[delete("/api/v2/users/{id}")]
pub async fn delete_user(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let pairs = query_pairs(&req)?;
    let params = Params::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["reassign_to"],
    )
    .map_err(AppError::fields)?;
    let reassign_to =
        match params.get("reassign_to") {
            None => None,
            Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
                AppError::validation("reassign_to", "reassign_to must be a user id")
            })?),
        };
    let actor = caller.actor();
    let id = id.into_inner();
    service::delete_user(&state.store, &caller.writer(), id, reassign_to).await?;
    Ok(respond::ok(UserDeleted {
        id,
        deleted: true,
        reassigned_to: reassign_to.unwrap_or(actor.user_id),
    }))
}
