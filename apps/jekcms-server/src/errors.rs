//! The one place where errors become HTTP: every crate's error enum (and the app's own
//! [`UploadError`]) is mapped to an [`ApiError`] here, as is a bare status a framework layer
//! answered with ([`fallback_error`]); [`AppError`] renders it as an envelope. Handlers and
//! extractors that detect a problem themselves raise its code directly.

use crate::context;
use crate::uploads::UploadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use jekcms_auth::AuthError;
use jekcms_auth::session::{SessionError, StoreFailure};
use jekcms_content::ContentError;
use jekcms_content::bulk::ItemFault;
use jekcms_envelope::{ApiError, Envelope, ErrorCode, ErrorEntry, FieldError, Meta};
use std::fmt;

/// An error on its way to becoming an envelope response.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl AppError {
    /// A failure with one entry.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }

    /// `VALIDATION_FAILED` for one field or parameter.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(ApiError::validation(field, message))
    }

    /// `VALIDATION_FAILED` for several fields.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        Self(ApiError::from_entries(
            errors
                .into_iter()
                .map(|e| ErrorEntry::field(ErrorCode::ValidationFailed, e.field, e.message))
                .collect(),
        ))
    }

    /// `NOT_FOUND`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// `INTERNAL_ERROR`, logging the cause (never sent).
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(cause), "internal error");
        Self(ApiError::internal())
    }
}

impl AppError {
    /// `INSUFFICIENT_STORAGE`: the media store is full. The cause is logged; the client
    /// learns only that nothing was stored.
    pub fn insufficient_storage(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(cause), "media store full");
        Self::new(
            ErrorCode::InsufficientStorage,
            "the media store is full; nothing was stored",
        )
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        envelope_error(&self.0)
    }
}

/// Renders a failure as an envelope with the current request id.
pub fn envelope_error(err: &ApiError) -> HttpResponse {
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        let value = if err.code() == ErrorCode::AuthExpired
            || (err.code() == ErrorCode::AuthInvalid && context::presented_token())
        {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(value)));
    }
    if let Some(secs) = err.retry_after() {
        res.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    let body = Envelope::failure(err.errors().to_vec(), Meta::new(context::request_id()));
    res.json(body)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

impl From<ContentError> for AppError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Validation(fields) => Self::fields(fields),
            ContentError::NotFound => Self::new(ErrorCode::NotFound, "resource not found"),
            ContentError::Conflict { field } => Self(ApiError::field(
                ErrorCode::Conflict,
                field.clone(),
                format!("{field} is already taken"),
            )),
            ContentError::Conflicts(fields) => Self(ApiError::from_entries(
                fields
                    .into_iter()
                    .map(|e| ErrorEntry::field(ErrorCode::Conflict, e.field, e.message))
                    .collect(),
            )),
            ContentError::InProgress(m) => Self::new(ErrorCode::Conflict, m),
            ContentError::PreconditionFailed => Self::new(
                ErrorCode::PreconditionFailed,
                "the resource has changed; fetch it again and retry with the new ETag",
            ),
            ContentError::Forbidden(m) => Self::new(ErrorCode::Forbidden, m),
            ContentError::UnsupportedMediaType(m) => Self::new(ErrorCode::UnsupportedMediaType, m),
            ContentError::Unavailable => unavailable(),
            ContentError::Contended(what) => contended(&what),
            ContentError::Internal(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<jekcms_accounts::AccountError> for AppError {
    fn from(e: jekcms_accounts::AccountError) -> Self {
        use jekcms_accounts::AccountError as E;
        match e {
            E::Validation(fields) => Self::fields(fields),
            E::BadCredentials => Self::new(ErrorCode::AuthInvalid, e.to_string()),
            E::LicenseRequired => Self::new(ErrorCode::LicenseRequired, e.to_string()),
            E::Forbidden(m) => Self::new(ErrorCode::Forbidden, m),
            E::NotFound => Self::new(ErrorCode::NotFound, "resource not found"),
            E::Conflict { field } => Self(ApiError::field(
                ErrorCode::Conflict,
                field.clone(),
                format!("{field} is already taken"),
            )),
            E::LastOwner => Self::new(
                ErrorCode::Conflict,
                "a site must keep at least one owner: make another user owner first",
            ),
            E::Unavailable => unavailable(),
            E::Internal(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<jekcms_webhooks::WebhookError> for AppError {
    fn from(e: jekcms_webhooks::WebhookError) -> Self {
        use jekcms_webhooks::WebhookError as E;
        match e {
            E::Validation(fields) => Self::fields(fields),
            E::NotFound => Self::new(ErrorCode::NotFound, "resource not found"),
            E::Forbidden(m) => Self::new(ErrorCode::Forbidden, m),
            E::Unavailable => unavailable(),
            E::Internal(cause) => Self::internal(cause.as_ref()),
        }
    }
}

/// The `errors` of one failed bulk item, capped as every error list is.
pub fn item_fault_entries(faults: &[ItemFault]) -> Vec<ErrorEntry> {
    jekcms_envelope::capped_entries(faults.iter().map(item_fault_entry).collect())
}

/// The `errors` entry of one failed bulk item.
pub fn item_fault_entry(fault: &ItemFault) -> ErrorEntry {
    match fault {
        ItemFault::Invalid(e) => {
            ErrorEntry::field(ErrorCode::ValidationFailed, &e.field, &e.message)
        }
        ItemFault::Conflict(e) => ErrorEntry::field(ErrorCode::Conflict, &e.field, &e.message),
    }
}

/// An error of the legacy v1 API: the same mapping as v2 (every domain error goes through
/// [`AppError`]), rendered as v1 did, `{"error": "message"}` with the status.
#[derive(Debug)]
pub struct V1Error(pub ApiError);

impl fmt::Display for V1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for V1Error {
    fn from(e: E) -> Self {
        Self(e.into().0)
    }
}

impl V1Error {
    /// The single message v1 reports: the entries' messages, each prefixed by its field
    /// when it names one, joined by `; `.
    pub fn message(&self) -> String {
        self.0
            .errors()
            .iter()
            .map(|e| match &e.field {
                Some(f) if !e.message.starts_with(f.as_str()) => format!("{f}: {}", e.message),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl ResponseError for V1Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.0.retry_after() {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(serde_json::json!({ "error": self.message() }))
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Expired => Self::new(ErrorCode::AuthExpired, e.to_string()),
            AuthError::Invalid(m) => Self::new(ErrorCode::AuthInvalid, m),
        }
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Auth(a) => a.into(),
            SessionError::LicenseRequired => Self::new(ErrorCode::LicenseRequired, e.to_string()),
            SessionError::Store(s) => s.into(),
        }
    }
}

impl From<StoreFailure> for AppError {
    fn from(e: StoreFailure) -> Self {
        match e {
            StoreFailure::Unavailable => unavailable(),
            StoreFailure::Internal(cause) => Self::internal(cause.as_ref()),
        }
    }
}

impl From<jekcms_store::StoreError> for AppError {
    fn from(e: jekcms_store::StoreError) -> Self {
        match e {
            jekcms_store::StoreError::NotFound => {
                Self::new(ErrorCode::NotFound, "resource not found")
            }
            jekcms_store::StoreError::Unavailable(_) => unavailable(),
            jekcms_store::StoreError::Contention(what) => contended(&what),
            other => Self::internal(&other),
        }
    }
}

impl From<UploadError> for AppError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::TooLarge(max) => AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("the file is larger than the limit of {max} bytes"),
            ),
            UploadError::Content(c) => c.into(),
            UploadError::Interrupted => {
                AppError::new(ErrorCode::MalformedRequest, "the upload was interrupted")
            }
            UploadError::NoSpace(io) => AppError::insufficient_storage(&io),
            UploadError::Storage(e) => AppError::internal(&e),
            UploadError::NotMultipart => AppError::new(
                ErrorCode::UnsupportedMediaType,
                "upload with Content-Type: multipart/form-data and a file field",
            ),
            UploadError::Malformed => AppError::new(
                ErrorCode::MalformedRequest,
                "the multipart body is malformed",
            ),
            UploadError::Field(e) => AppError::fields(vec![e]),
        }
    }
}

/// The envelope error for a bare status, one that actix-web or an outer layer answered with
/// (`context.rs` rewrites such responses into envelopes).
pub fn fallback_error(status: StatusCode) -> ApiError {
    let code = match status.as_u16() {
        401 => ErrorCode::AuthInvalid,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        416 => ErrorCode::RangeNotSatisfiable,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::Unavailable,
        // 400 itself, and any client error without a code of its own.
        400..=499 => ErrorCode::MalformedRequest,
        _ => return ApiError::internal(),
    };
    ApiError::new(
        code,
        status.canonical_reason().unwrap_or("error").to_lowercase(),
    )
}

/// Contention is not a fault: 503 as for a database that does not answer in time (API.md:
/// "retry later"); what kept changing goes to the log, not to the client.
fn contended(what: &str) -> AppError {
    tracing::warn!(what, "gave up under contention");
    AppError::new(
        ErrorCode::Unavailable,
        "the resource is being changed by other requests; retry later",
    )
}

fn unavailable() -> AppError {
    tracing::warn!("database unavailable");
    AppError::new(
        ErrorCode::Unavailable,
        "the database is unavailable; retry later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full media store is the operator's problem: the log names the cause, the client
    /// hears only that nothing was stored (no path, no OS error).
    #[test]
    fn a_full_media_store_logs_its_cause_and_tells_the_client_only_507() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let cause = std::io::Error::from_raw_os_error(28); // ENOSPC
        let e = tracing::subscriber::with_default(subscriber, || {
            AppError::insufficient_storage(&cause)
        });
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("ERROR"), "{logged}");
        assert!(logged.contains("media store full"), "{logged}");
        assert!(logged.contains(&cause.to_string()), "{logged}");
        assert_eq!(e.0.http_status(), 507);
        let told = format!("{:?}", e.0.errors());
        assert!(!told.contains(&cause.to_string()), "{told}");
    }

    /// Pins the mapping of every domain error to its code.
    #[test]
    fn domain_errors_map_to_contract_codes() {
        let cases: Vec<(AppError, ErrorCode)> = vec![
            (
                ContentError::field("title", "x").into(),
                ErrorCode::ValidationFailed,
            ),
            (ContentError::NotFound.into(), ErrorCode::NotFound),
            (
                ContentError::Conflict {
                    field: "slug".into(),
                }
                .into(),
                ErrorCode::Conflict,
            ),
            (
                ContentError::PreconditionFailed.into(),
                ErrorCode::PreconditionFailed,
            ),
            (
                ContentError::Forbidden("no".into()).into(),
                ErrorCode::Forbidden,
            ),
            (
                ContentError::UnsupportedMediaType("x".into()).into(),
                ErrorCode::UnsupportedMediaType,
            ),
            (ContentError::Unavailable.into(), ErrorCode::Unavailable),
            (
                ContentError::Contended("post 7 kept changing".into()).into(),
                ErrorCode::Unavailable,
            ),
            (
                jekcms_store::StoreError::Contention("x".into()).into(),
                ErrorCode::Unavailable,
            ),
            (
                jekcms_store::StoreError::Encode("tags as JSON: x".into()).into(),
                ErrorCode::InternalError,
            ),
            (
                jekcms_store::StoreError::Unique(jekcms_store::UniqueKey::KeyId).into(),
                ErrorCode::InternalError,
            ),
            (
                jekcms_accounts::AccountError::Conflict {
                    field: "email".into(),
                }
                .into(),
                ErrorCode::Conflict,
            ),
            (
                ContentError::Conflicts(vec![FieldError::new("posts[0].slug", "x")]).into(),
                ErrorCode::Conflict,
            ),
            (
                ContentError::InProgress("busy".into()).into(),
                ErrorCode::Conflict,
            ),
            (
                ContentError::internal(std::io::Error::other("SELECT secret FROM x")).into(),
                ErrorCode::InternalError,
            ),
            (
                jekcms_webhooks::WebhookError::field("url", "x").into(),
                ErrorCode::ValidationFailed,
            ),
            (
                jekcms_webhooks::WebhookError::NotFound.into(),
                ErrorCode::NotFound,
            ),
            (
                jekcms_webhooks::WebhookError::Forbidden("no".into()).into(),
                ErrorCode::Forbidden,
            ),
            (
                jekcms_webhooks::WebhookError::Unavailable.into(),
                ErrorCode::Unavailable,
            ),
            (AuthError::Expired.into(), ErrorCode::AuthExpired),
            (AuthError::invalid("x").into(), ErrorCode::AuthInvalid),
            (StoreFailure::Unavailable.into(), ErrorCode::Unavailable),
            (
                AppError::insufficient_storage(&std::io::Error::from_raw_os_error(28)),
                ErrorCode::InsufficientStorage,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.0.code(), code);
        }
    }

    #[test]
    fn v1_errors_are_one_message() {
        let e: V1Error = ContentError::Validation(vec![
            FieldError::new("title", "title is required"),
            FieldError::new("slug", "must be lowercase"),
        ])
        .into();
        assert_eq!(e.message(), "title is required; slug: must be lowercase");
        assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: V1Error = ContentError::NotFound.into();
        assert_eq!(e.status_code(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let e: AppError =
            ContentError::internal(std::io::Error::other("SELECT * FROM /etc/passwd")).into();
        assert_eq!(e.0.errors()[0].message, "internal server error");
        let e: AppError = ContentError::Contended("post 7 of site 3 kept changing".into()).into();
        assert_eq!(e.0.http_status(), 503);
        assert!(!e.0.errors()[0].message.contains("post 7"), "{e}");
    }
}
