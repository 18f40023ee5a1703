//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.
//! `jekcms openapi` prints it; CI checks that `openapi/openapi.json` equals it.

use crate::routes;
use jekcms_envelope::{ErrorCode, ErrorEntry, Meta, PageMeta};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A success envelope around one `T` (documentation shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    /// Always true.
    pub success: bool,
    /// The resource.
    pub data: T,
    /// Request id.
    pub meta: Meta,
    /// Always empty.
    pub errors: Vec<ErrorEntry>,
}

/// A success envelope around a page of `T` (documentation shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListOf<T> {
    /// Always true.
    pub success: bool,
    /// The rows.
    pub data: Vec<T>,
    /// Request id and pagination.
    pub meta: ListMeta,
    /// Always empty.
    pub errors: Vec<ErrorEntry>,
}

/// `meta` of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    /// Equal to `X-Request-Id`.
    pub request_id: String,
    /// Pagination.
    #[serde(flatten)]
    pub page: PageMeta,
}

/// A failure envelope: `data` is null and `errors` says why.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// Always null.
    pub data: Option<()>,
    /// Request id.
    pub meta: Meta,
    /// One entry per problem.
    pub errors: Vec<ErrorEntry>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("PASETO v4.local")
                    .description(Some(
                        "Access token from POST /api/v2/auth/token. `?token=` is accepted on GET as a fallback.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Marks every `/api/v1` operation `deprecated: true` and describes v1's key-pair headers.
struct V1Deprecated;

impl Modify for V1Deprecated {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::Deprecated;
        use utoipa::openapi::security::{ApiKey, ApiKeyValue};
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.deprecated = Some(Deprecated::True);
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "v1_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "v1 only: the api_ key id",
            ))),
        );
        components.add_security_scheme(
            "v1_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Secret",
                "v1 only: the sk_ secret (never logged)",
            ))),
        );
    }
}

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "JekCMS API",
        version = "2.0.0",
        description = "Headless CMS API. Every response under /api/v2 is the envelope {success, data, meta, errors}; see the ErrorCode schema for machine-readable codes.",
    ),
    paths(
        routes::meta::healthz,
        routes::meta::readyz,
        routes::meta::api_index,
        routes::auth::token,
        routes::auth::refresh,
        routes::auth::revoke,
        routes::auth::login,
        routes::auth::register,
        routes::auth::me,
        routes::posts::list_posts,
        routes::posts::get_post,
        routes::posts::create_post,
        routes::posts::update_post,
        routes::posts::delete_post,
        routes::bulk::bulk_create_posts,
        routes::media::upload_media,
        routes::media::list_media,
        routes::media::get_media,
        routes::media::update_media,
        routes::media::delete_media,
        routes::media::media_content,
        routes::users::list_users,
        routes::users::create_user,
        routes::users::get_user,
        routes::users::update_user,
        routes::users::delete_user,
        routes::keys::create_key,
        routes::keys::list_keys,
        routes::keys::revoke_key,
        routes::v1::list_posts,
        routes::v1::create_post,
        routes::v1::update_post,
        routes::v1::delete_post,
        routes::v1::list_media,
    ),
    components(schemas(ErrorCode, ErrorEntry, ErrorBody)),
    modifiers(&Security, &V1Deprecated),
    tags(
        (name = "auth", description = "Token pair and the caller"),
        (name = "posts", description = "Posts"),
        (name = "media", description = "Uploaded files"),
        (name = "users", description = "Users of your site and their roles"),
        (name = "api-keys", description = "API keys: created once with their secret, listed without"),
        (name = "meta", description = "Health and description"),
        (name = "v1", description = "Legacy v1 API: deprecated, removed after the Sunset date; see docs/migrating-v1-to-v2.md"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document_json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}
