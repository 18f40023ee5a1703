//! Error codes (API.md §1) and the failure value the app renders.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every machine-readable error code of API v2, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 401: the access token's lifetime is over; refresh and retry.
    AuthExpired,
    /// 401: no credential, malformed, unknown, revoked, or the wrong family.
    AuthInvalid,
    /// 403: valid credential whose role may not do this.
    Forbidden,
    /// 402: the site's license does not include API access.
    LicenseRequired,
    /// 404: no such resource, or not visible to this credential.
    NotFound,
    /// 409: a unique value is taken.
    Conflict,
    /// 412: `If-Match` does not match the current ETag.
    PreconditionFailed,
    /// 413: body or upload over its limit.
    PayloadTooLarge,
    /// 415: unsupported content type.
    UnsupportedMediaType,
    /// 422: a field or parameter is invalid.
    ValidationFailed,
    /// 400: the body is not parseable.
    MalformedRequest,
    /// 405: wrong method on a known path.
    MethodNotAllowed,
    /// 429: over quota.
    RateLimited,
    /// 500: a bug or a fault; the message reveals no internals.
    InternalError,
    /// 503: the database is unreachable.
    Unavailable,
    /// 507: the server has no room left to store the upload.
    InsufficientStorage,
    /// 416: a media `Range` outside the file (sent with `Content-Range: bytes */LEN`).
    RangeNotSatisfiable,
}

impl ErrorCode {
    /// All codes, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 17] = [
        Self::AuthExpired,
        Self::AuthInvalid,
        Self::Forbidden,
        Self::LicenseRequired,
        Self::NotFound,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::ValidationFailed,
        Self::MalformedRequest,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::InternalError,
        Self::Unavailable,
        Self::InsufficientStorage,
        Self::RangeNotSatisfiable,
    ];

    /// The HTTP status this code is sent with.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::AuthExpired | Self::AuthInvalid => 401,
            Self::Forbidden => 403,
            Self::LicenseRequired => 402,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationFailed => 422,
            Self::MalformedRequest => 400,
            Self::MethodNotAllowed => 405,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::Unavailable => 503,
            Self::InsufficientStorage => 507,
            Self::RangeNotSatisfiable => 416,
        }
    }

    /// The code as it appears on the wire, e.g. `"NOT_FOUND"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthExpired => "AUTH_EXPIRED",
            Self::AuthInvalid => "AUTH_INVALID",
            Self::Forbidden => "FORBIDDEN",
            Self::LicenseRequired => "LICENSE_REQUIRED",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::MalformedRequest => "MALFORMED_REQUEST",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::Unavailable => "UNAVAILABLE",
            Self::InsufficientStorage => "INSUFFICIENT_STORAGE",
            Self::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEntry {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable text; never contains internals.
    pub message: String,
    /// The field or parameter at fault, where exactly one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorEntry {
    /// An entry with no field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// An entry naming the field at fault.
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// Most entries in one `errors` array: the rest are summed up in one last entry, so that a
/// body of thousands of bad fields cannot make an answer many times its own size.
pub const MAX_ERROR_ENTRIES: usize = 20;

/// Longest `field` sent back, in characters: a field name comes from the request (an unknown
/// key) and may be as long as the body.
pub const MAX_FIELD_CHARS: usize = 100;

/// `entries` as they may be sent: at most [`MAX_ERROR_ENTRIES`], then one entry
/// `and N more errors` (the first entry's code, no field); every `field` cut to
/// [`MAX_FIELD_CHARS`] characters, `…` marking the cut.
pub fn capped_entries(mut entries: Vec<ErrorEntry>) -> Vec<ErrorEntry> {
    if entries.len() > MAX_ERROR_ENTRIES {
        let more = entries.len() - MAX_ERROR_ENTRIES;
        entries.truncate(MAX_ERROR_ENTRIES);
        let code = entries[0].code;
        entries.push(ErrorEntry::new(code, format!("and {more} more errors")));
    }
    for entry in &mut entries {
        if let Some(field) = &mut entry.field
            && let Some((cut, _)) = field.char_indices().nth(MAX_FIELD_CHARS)
        {
            field.truncate(cut);
            field.push('…');
        }
    }
    entries
}

/// A failed request: an HTTP status and the entries of the `errors` array.
///
/// The status is that of the first entry's code; all entries of one failure share it in
/// practice (e.g. several `VALIDATION_FAILED` fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    errors: Vec<ErrorEntry>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// A failure with one entry and no field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::from_entries(vec![ErrorEntry::new(code, message)])
    }

    /// A failure with one entry naming a field.
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::from_entries(vec![ErrorEntry::field(code, field, message)])
    }

    /// A `VALIDATION_FAILED` failure for one field or parameter.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::ValidationFailed, field, message)
    }

    /// A failure with several entries, capped by [`capped_entries`].
    ///
    /// # Panics
    /// If `errors` is empty: a failure always says what failed.
    pub fn from_entries(errors: Vec<ErrorEntry>) -> Self {
        assert!(!errors.is_empty(), "an ApiError needs at least one entry");
        Self {
            errors: capped_entries(errors),
            retry_after: None,
        }
    }

    /// The generic 500 failure; the cause belongs in the log, not here.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "internal server error")
    }

    /// Sets the `Retry-After` seconds sent with this failure.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The code of the first entry, which decides the status.
    pub fn code(&self) -> ErrorCode {
        self.errors[0].code
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    /// The entries of the `errors` array.
    pub fn errors(&self) -> &[ErrorEntry] {
        &self.errors
    }

    /// `Retry-After` seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = &self.errors[0];
        write!(f, "{}: {}", first.code, first.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn statuses_match_the_contract_table() {
        let expected = [
            401, 401, 403, 402, 404, 409, 412, 413, 415, 422, 400, 405, 429, 500, 503, 507, 416,
        ];
        let got: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.http_status()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn error_lists_are_capped_and_fields_cut() {
        let many: Vec<ErrorEntry> = (0..5000)
            .map(|i| {
                ErrorEntry::field(
                    ErrorCode::ValidationFailed,
                    format!("k{i}"),
                    "unknown field",
                )
            })
            .collect();
        let e = ApiError::from_entries(many);
        assert_eq!(e.errors().len(), MAX_ERROR_ENTRIES + 1);
        assert_eq!(e.errors()[19].field.as_deref(), Some("k19"));
        let last = &e.errors()[MAX_ERROR_ENTRIES];
        assert_eq!(last.message, "and 4980 more errors");
        assert_eq!(
            (last.code, last.field.as_ref()),
            (ErrorCode::ValidationFailed, None)
        );

        let e = ApiError::validation("é".repeat(5000), "unknown field");
        let field = e.errors()[0].field.as_deref().unwrap();
        assert_eq!(field.chars().count(), MAX_FIELD_CHARS + 1);
        assert!(field.ends_with('…'));
        let exact = ApiError::validation("x".repeat(MAX_FIELD_CHARS), "m");
        assert_eq!(
            exact.errors()[0].field.as_deref().unwrap().len(),
            MAX_FIELD_CHARS
        );
        assert_eq!(capped_entries(vec![]).len(), 0);
    }

    #[test]
    fn internal_error_says_nothing_specific() {
        let e = ApiError::internal();
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.errors()[0].message, "internal server error");
    }
}
