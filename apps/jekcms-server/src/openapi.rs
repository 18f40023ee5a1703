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

/// Raw file bytes, as `GET /api/v2/media/{id}/content` sends them (documentation shape).
#[derive(Debug)]
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("The file's bytes"))
            .into()
    }
}

impl ToSchema for Binary {}

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

/// The failures an operation can answer whatever its handler does, from how it is reached:
/// `500` anywhere; `503` wherever the database is asked; `401`, `402` and `429` behind a
/// credential; `429` on the per-IP throttled auth endpoints; `400`, `413`, `415` and `422`
/// with a body; `400` for a malformed query string. Each is one shared response under
/// `components/responses` (v1 has its own, in v1's `{"error"}` shape), referenced by every
/// operation that lacks a more specific answer for that status in its annotation.
struct CommonErrors;

/// One shared failure response: status, component name, description.
struct Common {
    status: u16,
    name: &'static str,
    description: &'static str,
}

const COMMON_ERRORS: [Common; 9] = [
    Common {
        status: 400,
        name: "MalformedRequest",
        description: "MALFORMED_REQUEST: the body, the query string or the multipart form cannot be parsed",
    },
    Common {
        status: 401,
        name: "AuthInvalid",
        description: "AUTH_INVALID or AUTH_EXPIRED: no credential, or one that is malformed, unknown, revoked or expired",
    },
    Common {
        status: 402,
        name: "LicenseRequired",
        description: "LICENSE_REQUIRED: the site's license does not include API access",
    },
    Common {
        status: 413,
        name: "PayloadTooLarge",
        description: "PAYLOAD_TOO_LARGE: the body is over its limit",
    },
    Common {
        status: 415,
        name: "UnsupportedMediaType",
        description: "UNSUPPORTED_MEDIA_TYPE: the body is not sent as the declared content type",
    },
    Common {
        status: 422,
        name: "ValidationFailed",
        description: "VALIDATION_FAILED: a field or parameter is invalid or unknown",
    },
    Common {
        status: 429,
        name: "RateLimited",
        description: "RATE_LIMITED: over quota; retry after Retry-After seconds",
    },
    Common {
        status: 500,
        name: "InternalError",
        description: "INTERNAL_ERROR: a fault on the server; the message reveals no internals",
    },
    Common {
        status: 503,
        name: "Unavailable",
        description: "UNAVAILABLE: the database cannot be reached",
    },
];

/// The statuses of [`COMMON_ERRORS`] that `op` at `path` can answer.
fn common_statuses(path: &str, op: &utoipa::openapi::path::Operation) -> Vec<u16> {
    use utoipa::openapi::path::ParameterIn;
    let mut statuses = vec![500];
    if path == "/healthz" {
        return statuses;
    }
    statuses.push(503);
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        statuses.extend([401, 402, 429]);
    }
    if path.starts_with("/api/v2/auth/") {
        statuses.push(429);
    }
    if op.request_body.is_some() {
        statuses.extend([400, 413, 415, 422]);
    }
    let has_query = op.parameters.iter().flatten().any(|p| match p {
        utoipa::openapi::RefOr::T(p) => p.parameter_in == ParameterIn::Query,
        utoipa::openapi::RefOr::Ref(_) => false,
    });
    if has_query {
        statuses.extend([400, 422]);
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{Object, Type};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (prefix, body) in [("", "ErrorBody"), ("V1", "V1ErrorBody")] {
            for common in &COMMON_ERRORS {
                let mut response = ResponseBuilder::new()
                    .description(common.description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(body)))
                            .build(),
                    );
                if common.status == 429 {
                    response = response.header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(Some(Object::with_type(Type::Integer)))
                            .description(Some("Seconds until a retry can succeed"))
                            .build(),
                    );
                }
                components
                    .responses
                    .insert(format!("{prefix}{}", common.name), response.build().into());
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let prefix = if path.starts_with("/api/v1/") {
                "V1"
            } else {
                ""
            };
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
                for status in common_statuses(path, op) {
                    let Some(common) = COMMON_ERRORS.iter().find(|c| c.status == status) else {
                        continue;
                    };
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::from_response_name(format!("{prefix}{}", common.name)))
                        });
                }
            }
        }
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
    modifiers(&Security, &V1Deprecated, &CommonErrors),
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
