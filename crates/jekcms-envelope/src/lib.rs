//! The JekCMS v2 response envelope, its machine-readable error codes, and the field-error
//! vocabulary of request bodies.
//!
//! Every `/api/v2` response body is `{"success", "data", "meta", "errors"}` (API.md §1).
//! This crate owns that shape ([`Envelope`], [`Meta`], [`PageMeta`]), the closed list of
//! error codes with their HTTP statuses ([`ErrorCode`]), and [`ApiError`], the value every
//! failure is turned into before it is written out. [`fields`] holds [`FieldError`], the one
//! "this field is wrong" value of every crate, and [`fields::Fields`], the one reader of JSON
//! request bodies that reports them.
//!
//! It depends on serde and serde_json only (utoipa behind the `openapi` feature) and must not
//! depend on a web framework, a database or any other JekCMS crate: a client of the API can
//! use it to parse responses.
//!
//! ```
//! use jekcms_envelope::{ApiError, Envelope, ErrorCode, Meta};
//!
//! let ok = Envelope::ok(vec!["a", "b"], Meta::new("req-1"));
//! assert_eq!(
//!     serde_json::to_string(&ok).unwrap(),
//!     r#"{"success":true,"data":["a","b"],"meta":{"request_id":"req-1"},"errors":[]}"#
//! );
//!
//! let err = ApiError::validation("title", "title is required");
//! assert_eq!((err.code(), err.http_status()), (ErrorCode::ValidationFailed, 422));
//! let failed = Envelope::failure(err.errors().to_vec(), Meta::new("req-2"));
//! assert_eq!(
//!     serde_json::to_string(&failed).unwrap(),
//!     r#"{"success":false,"data":null,"meta":{"request_id":"req-2"},"#.to_owned()
//!         + r#""errors":[{"code":"VALIDATION_FAILED","message":"title is required","field":"title"}]}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

mod error;
pub mod fields;
pub use error::{
    ApiError, ErrorCode, ErrorEntry, MAX_ERROR_ENTRIES, MAX_FIELD_CHARS, capped_entries,
};
pub use fields::FieldError;

/// The body of every `/api/v2` response.
///
/// `data` is `null` on failure; `errors` is empty on success.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope<T> {
    /// `true` for 2xx responses.
    pub success: bool,
    /// The resource, a list, or `null` on failure.
    pub data: Option<T>,
    /// Request id and, for lists, pagination.
    pub meta: Meta,
    /// Empty on success; one entry per problem on failure.
    pub errors: Vec<ErrorEntry>,
}

impl<T> Envelope<T> {
    /// A successful envelope around `data`.
    pub fn ok(data: T, meta: Meta) -> Self {
        Self {
            success: true,
            data: Some(data),
            meta,
            errors: Vec::new(),
        }
    }
}

impl Envelope<()> {
    /// A failed envelope: `data` is `null` and `errors` lists what went wrong.
    pub fn failure(errors: Vec<ErrorEntry>, meta: Meta) -> Self {
        Self {
            success: false,
            data: None,
            meta,
            errors,
        }
    }
}

/// The `meta` object: always carries the request id; lists add pagination.
///
/// Its OpenAPI schema is written by hand (module `openapi`): derived, the flattened `Option`
/// became `allOf[oneOf[PageMeta, null], …]`, which no object satisfies without pagination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Equal to the response's `X-Request-Id` header.
    pub request_id: String,
    /// Pagination of a list response.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageMeta>,
}

impl Meta {
    /// Meta for a single-resource response.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            page: None,
        }
    }

    /// Meta for a list response.
    pub fn with_page(mut self, page: PageMeta) -> Self {
        self.page = Some(page);
        self
    }
}

#[cfg(feature = "openapi")]
mod openapi {
    use super::Meta;

    /// The wire shape of [`Meta`] for the schema: `request_id` always, the pagination
    /// members of a list optional.
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct MetaShape {
        /// Equal to the response's `X-Request-Id` header.
        request_id: String,
        /// Lists only: pass as `?cursor=` to get the next page; `null` on the last page.
        #[serde(default)]
        next_cursor: Option<String>,
        /// Lists only: whether another page follows.
        #[serde(default)]
        has_more: bool,
        /// Lists only: the page size used.
        #[serde(default)]
        limit: u32,
        /// Lists only: count of all rows under the same filters; only with `?include=total`.
        #[serde(default)]
        total: Option<u64>,
    }

    impl utoipa::PartialSchema for Meta {
        fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
            let mut schema = <MetaShape as utoipa::PartialSchema>::schema();
            if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(o)) =
                &mut schema
            {
                o.description = Some(
                    "The `meta` object: always carries the request id; lists add pagination."
                        .into(),
                );
            }
            schema
        }
    }

    impl utoipa::ToSchema for Meta {}
}

/// Cursor pagination state of a list (API.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageMeta {
    /// Pass as `?cursor=` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The page size used.
    pub limit: u32,
    /// Count of all rows under the same filters; only with `?include=total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_envelope_has_all_four_members() {
        let env = Envelope::ok(json!({"id": 1}), Meta::new("req-1"));
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v,
            json!({"success": true, "data": {"id": 1}, "meta": {"request_id": "req-1"}, "errors": []})
        );
    }

    #[test]
    fn list_meta_is_flattened_and_total_only_when_asked() {
        let meta = Meta::new("r").with_page(PageMeta {
            next_cursor: None,
            has_more: false,
            limit: 20,
            total: None,
        });
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            v,
            json!({"request_id": "r", "next_cursor": null, "has_more": false, "limit": 20})
        );
        let with_total = Meta::new("r").with_page(PageMeta {
            next_cursor: Some("abc".into()),
            has_more: true,
            limit: 5,
            total: Some(7),
        });
        assert_eq!(serde_json::to_value(&with_total).unwrap()["total"], 7);
    }

    #[test]
    fn failure_envelope_has_null_data_and_entries() {
        let err = ApiError::new(ErrorCode::NotFound, "post 9 not found");
        let env = Envelope::failure(err.errors().to_vec(), Meta::new("x"));
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(v["success"], false);
        assert_eq!(v["data"], serde_json::Value::Null);
        assert_eq!(v["errors"][0]["code"], "NOT_FOUND");
        assert!(v["errors"][0].get("field").is_none());
    }

    #[test]
    fn envelope_round_trips_for_clients() {
        let text = r#"{"success":false,"data":null,"meta":{"request_id":"q"},"errors":[{"code":"VALIDATION_FAILED","message":"m","field":"title"}]}"#;
        let env: Envelope<serde_json::Value> = serde_json::from_str(text).unwrap();
        assert_eq!(env.errors[0].code, ErrorCode::ValidationFailed);
        assert_eq!(env.errors[0].field.as_deref(), Some("title"));
    }
}
