//! Documentation shapes that the handlers' `#[utoipa::path]` annotations and [`crate::openapi`]
//! both name: the failure envelope [`ErrorBody`], [`ListMeta`], [`Binary`], the named success
//! envelopes around the domain crates' types, and the `envelopes!` / `lists!` macros that
//! declare them.
//!
//! A leaf: it imports neither `routes` nor `openapi`. `routes` imports it; `openapi` imports
//! `routes` (for the route list) and it. An envelope around a type that a route module owns
//! (`TokenResponse`, `BulkResult`, …) is declared with these macros in that module, beside
//! its data.
//!
//! Each envelope is one component schema that every operation answering it references, so
//! that a client generator makes one `PostEnvelope` type where `inline(Data<Post>)` made one
//! per operation. These structs are never built: the server sends `jekcms_envelope::Envelope`.

use jekcms_envelope::{ErrorEntry, Meta, PageMeta};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares named success envelopes (documentation shapes) around one resource each.
macro_rules! envelopes {
    ($($(#[$doc:meta])* $name:ident($data:ty);)*) => {$(
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        $(#[$doc])*
        pub struct $name {
            /// Always true.
            pub success: bool,
            /// The resource.
            pub data: $data,
            /// Request id.
            pub meta: jekcms_envelope::Meta,
            /// Always empty.
            pub errors: Vec<jekcms_envelope::ErrorEntry>,
        }
    )*};
}
pub(crate) use envelopes;

/// Declares named success envelopes around a page of rows (documentation shapes).
macro_rules! lists {
    ($($(#[$doc:meta])* $name:ident($row:ty);)*) => {$(
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        $(#[$doc])*
        pub struct $name {
            /// Always true.
            pub success: bool,
            /// The rows.
            pub data: Vec<$row>,
            /// Request id and pagination.
            pub meta: $crate::schemas::ListMeta,
            /// Always empty.
            pub errors: Vec<jekcms_envelope::ErrorEntry>,
        }
    )*};
}
pub(crate) use lists;

envelopes! {
    /// A success envelope around one post.
    #[schema(examples(json!({
        "success": true,
        "data": jekcms_content::post::Post::example(),
        "meta": {"request_id": "5f0c2a9e41d7b3c86a1e0f47"},
        "errors": []
    })))]
    PostEnvelope(jekcms_content::post::Post);
    /// A success envelope around one medium's record.
    MediaEnvelope(jekcms_content::media::Media);
    /// A success envelope around one user.
    UserEnvelope(jekcms_accounts::User);
    /// A success envelope around one API key (never its secret).
    ApiKeyEnvelope(jekcms_accounts::ApiKey);
    /// A success envelope around a new API key with its secret, shown this once.
    CreatedKeyEnvelope(jekcms_accounts::CreatedKey);
}

lists! {
    /// A success envelope around a page of posts.
    #[schema(examples(json!({
        "success": true,
        "data": [jekcms_content::post::Post::example()],
        "meta": {
            "request_id": "5f0c2a9e41d7b3c86a1e0f47",
            "limit": 1,
            "has_more": true,
            "next_cursor": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w"
        },
        "errors": []
    })))]
    PostList(jekcms_content::post::Post);
    /// A success envelope around a page of media.
    MediaList(jekcms_content::media::Media);
    /// A success envelope around a page of users.
    UserList(jekcms_accounts::User);
    /// A success envelope around a page of API keys (never their secrets).
    ApiKeyList(jekcms_accounts::ApiKey);
    /// A success envelope around a page of the activity log.
    ActivityList(jekcms_content::activity::Event);
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
#[schema(examples(json!({
    "success": false,
    "data": null,
    "meta": {"request_id": "5f0c2a9e41d7b3c86a1e0f47"},
    "errors": [
        {"code": "VALIDATION_FAILED", "field": "title", "message": "title must not be empty"},
        {"code": "VALIDATION_FAILED", "field": "slug", "message": "slug must be lowercase letters and digits separated by single hyphens, at most 200 characters"}
    ]
})))]
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
