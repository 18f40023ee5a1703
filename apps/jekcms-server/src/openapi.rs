//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.
//! `jekcms openapi` prints it; CI checks that `openapi/openapi.json` equals it.
//!
//! The paths come from the route lists of [`crate::routes`] (the same lists that register the
//! handlers, see its module doc), merged by the first modifier, `RouteList`; the shapes the
//! annotations name live in the leaf module [`crate::schemas`]. The other modifiers add what
//! is true of every operation: security schemes, the shared failure responses, the response
//! headers.

use crate::routes;
use crate::schemas::ErrorBody;
use jekcms_envelope::{ErrorCode, ErrorEntry};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Adds the paths (and the schemas they name) of the route lists: v2 and the probes, then
/// v1. Runs first, so that every other modifier sees every operation.
struct RouteList;

impl Modify for RouteList {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(routes::RouteDoc::openapi());
        openapi.merge(routes::v1::V1RouteDoc::openapi());
    }
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
        components.add_security_scheme(
            "pull_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "X-API-Key",
                    "The pull API only: the site's pk_ key, from POST /api/v2/sites/{id}/rotate-keys",
                ),
            )),
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
            for op in operations(item) {
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
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let mut used = std::collections::BTreeSet::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let prefix = if path.starts_with("/api/v1/") {
                "V1"
            } else {
                ""
            };
            for op in operations(item) {
                for status in common_statuses(path, op) {
                    let Some(common) = COMMON_ERRORS.iter().find(|c| c.status == status) else {
                        continue;
                    };
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            let name = format!("{prefix}{}", common.name);
                            used.insert((prefix, common.status));
                            RefOr::Ref(Ref::from_response_name(name))
                        });
                }
            }
        }
        // Only the shared responses some operation refers to: an unused component is noise
        // a linter rightly reports.
        let components = openapi.components.get_or_insert_with(Default::default);
        for (prefix, status) in used {
            let common = COMMON_ERRORS
                .iter()
                .find(|c| c.status == status)
                .expect("a status of COMMON_ERRORS");
            let body = if prefix.is_empty() {
                "ErrorBody"
            } else {
                "V1ErrorBody"
            };
            let mut response = ResponseBuilder::new()
                .description(common.description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(body)))
                        .build(),
                )
                .build();
            let header = match status {
                401 if prefix.is_empty() => Some("WWW-Authenticate"),
                429 => Some("Retry-After"),
                _ => None,
            };
            if let Some(name) = header {
                response.headers.insert(name.to_owned(), header_ref(name));
            }
            components
                .responses
                .insert(format!("{prefix}{}", common.name), response.into());
        }
    }
}

/// The operations of a path item, whatever their method.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// A reference to a header of [`RESPONSE_HEADERS`].
fn header_ref(name: &str) -> utoipa::openapi::RefOr<utoipa::openapi::header::Header> {
    utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::new(format!(
        "#/components/headers/{name}"
    )))
}

/// Operations without a credential say so with `security: []`: an operation with no
/// `security` at all cannot be told apart from one whose requirement was forgotten.
struct PublicOperations;

impl Modify for PublicOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                op.security.get_or_insert_with(Vec::new);
            }
        }
    }
}

/// One response header the server writes, declared once under `components/headers`.
struct ResponseHeader {
    name: &'static str,
    integer: bool,
    description: &'static str,
}

/// The headers [`ResponseHeaders`] declares: the request id on every response, the quota
/// headers of `jekcms_ratelimit::Decisions::headers`, `Retry-After` on `429`,
/// `WWW-Authenticate` on `401`, and v1's deprecation headers.
const RESPONSE_HEADERS: [ResponseHeader; 11] = [
    ResponseHeader {
        name: "X-Request-Id",
        integer: false,
        description: "The request id, equal to `meta.request_id`: the client's own `X-Request-Id` when it sent an acceptable one (1–64 of `[A-Za-z0-9._:-]`), else a new one",
    },
    ResponseHeader {
        name: "X-RateLimit-Limit",
        integer: true,
        description: "Requests allowed per window by the quota this request was counted against, or of the two (the credential's and the site's) the one closest to running out (absent when no quota applies)",
    },
    ResponseHeader {
        name: "X-RateLimit-Remaining",
        integer: true,
        description: "Requests left in the current window",
    },
    ResponseHeader {
        name: "X-RateLimit-Reset",
        integer: true,
        description: "Unix time (seconds) at which the quota is full again",
    },
    ResponseHeader {
        name: "RateLimit-Policy",
        integer: false,
        description: "Every quota that applies, as a structured field list: `\"<tier>\";q=<requests>;w=<window seconds>` (tiers `key`, `user`, `ip`, and `site` when the site's plan sets a quota), e.g. `\"key\";q=60;w=60, \"site\";q=100;w=3600`",
    },
    ResponseHeader {
        name: "RateLimit",
        integer: false,
        description: "The state of the quota closest to running out, as a structured field: `\"<tier>\";r=<remaining>;t=<seconds until full>`",
    },
    ResponseHeader {
        name: "Retry-After",
        integer: true,
        description: "Seconds until a retry can succeed",
    },
    ResponseHeader {
        name: "WWW-Authenticate",
        integer: false,
        description: "`Bearer`, or `Bearer error=\"invalid_token\"` when a token was presented and refused",
    },
    ResponseHeader {
        name: "Deprecation",
        integer: false,
        description: "v1 only: when v1 was deprecated (RFC 9745), `@<unix time>`",
    },
    ResponseHeader {
        name: "Sunset",
        integer: false,
        description: "v1 only: after this HTTP date v1 is removed (RFC 8594)",
    },
    ResponseHeader {
        name: "Link",
        integer: false,
        description: "v1 only: `<v2 path>; rel=\"successor-version\"`",
    },
];

/// The quota headers: on every response of an operation counted against a quota (behind a
/// credential, and the per-IP throttled auth endpoints), while its tier is on.
const QUOTA_HEADERS: [&str; 5] = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
];

/// Declares [`RESPONSE_HEADERS`] and references them from the responses that carry them:
/// `X-Request-Id` on every response; the quota headers on every response of the operations
/// counted against a quota, and on the shared failures (which such operations answer);
/// `WWW-Authenticate` on every v2 `401`, `Retry-After` on every `429`; v1's deprecation headers
/// on every v1 response. Runs after [`CommonErrors`].
struct ResponseHeaders;

impl Modify for ResponseHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{Object, Type};
        let add = |response: &mut RefOr<utoipa::openapi::Response>, names: &[&str]| {
            if let RefOr::T(response) = response {
                for name in names {
                    response
                        .headers
                        .entry((*name).to_owned())
                        .or_insert_with(|| header_ref(name));
                }
            }
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let v1 = path.starts_with("/api/v1/");
            for op in operations(item) {
                let counted = op.security.as_ref().is_some_and(|s| !s.is_empty())
                    || path.starts_with("/api/v2/auth/");
                for (status, response) in op.responses.responses.iter_mut() {
                    add(response, &["X-Request-Id"]);
                    match status.as_str() {
                        // v1's failures carry no challenge.
                        "401" if !v1 => add(response, &["WWW-Authenticate"]),
                        "429" => add(response, &["Retry-After"]),
                        _ => {}
                    }
                    if counted {
                        add(response, &QUOTA_HEADERS);
                    }
                    if v1 {
                        add(response, &["Deprecation", "Sunset", "Link"]);
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in components.responses.iter_mut() {
            add(response, &["X-Request-Id"]);
            add(response, &QUOTA_HEADERS);
            if name.starts_with("V1") {
                add(response, &["Deprecation", "Sunset", "Link"]);
            }
        }
        for header in &RESPONSE_HEADERS {
            let schema = Object::with_type(if header.integer {
                Type::Integer
            } else {
                Type::String
            });
            components.headers.insert(
                header.name.to_owned(),
                HeaderBuilder::new()
                    .schema(Some(schema))
                    .description(Some(header.description))
                    .build()
                    .into(),
            );
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
    servers((url = "/", description = "The server that serves this document (`GET /api/v2/openapi.json`)")),
    components(schemas(ErrorCode, ErrorEntry, ErrorBody)),
    modifiers(&RouteList, &Security, &V1Deprecated, &PublicOperations, &CommonErrors, &ResponseHeaders),
    tags(
        (name = "auth", description = "Token pair and the caller"),
        (name = "posts", description = "Posts"),
        (name = "media", description = "Uploaded files"),
        (name = "users", description = "Users of your site and their roles"),
        (name = "api-keys", description = "API keys: created once with their secret, listed without"),
        (name = "site", description = "Your site: plan, license, quotas, CORS origins, pull key"),
        (name = "activity", description = "The activity log: every write, who made it and from which request"),
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
