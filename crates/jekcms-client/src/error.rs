//! The one error type of the client.

use jekcms_envelope::{ErrorCode, ErrorEntry};
use std::fmt;
use std::path::PathBuf;

/// Everything a call can fail with.
///
/// An [`Error::Api`] is a well-formed failure envelope from the server; the other variants
/// say that no such envelope was received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error envelope (4xx or 5xx).
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// The request could not be sent or the response not read (connection refused, reset,
    /// timed out, TLS failure).
    #[error("{}", transport_message(.0))]
    Transport(#[source] reqwest::Error),
    /// The server answered, but not with the envelope or the `data` this client expects
    /// (a proxy's HTML error page, an unknown error code, a changed shape).
    #[error("unexpected response (HTTP {status}, request id {}): {detail}", request_id.as_deref().unwrap_or("none"))]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// `X-Request-Id` of the response, if it had one.
        request_id: Option<String>,
        /// What did not match.
        detail: String,
    },
    /// The tokio runtime shut down while the client was renewing its token.
    #[error("the tokio runtime shut down during a token renewal")]
    Shutdown,
    /// The base URL given to the builder is not an absolute `http` or `https` URL.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The pull key given to [`PullClient`](crate::PullClient) cannot be sent in a header
    /// (it has a control or non-ASCII character: a copy-and-paste accident). Nothing was
    /// sent.
    #[error("invalid pull key: it must be printable ASCII, as a pk_ key is")]
    InvalidPullKey,
    /// A local file given to upload could not be read (nothing was sent).
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The path as given.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The envelope failure, if the server sent one.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            Self::Api(failure) => Some(failure),
            _ => None,
        }
    }

    /// The code of the first error entry, if the server sent an error envelope.
    pub fn code(&self) -> Option<ErrorCode> {
        self.api().map(|f| f.code)
    }

    /// The field at fault of the first error entry, where the server named one.
    pub fn field(&self) -> Option<&str> {
        self.api().and_then(|f| f.field.as_deref())
    }

    /// The request id of the failed response (`meta.request_id` = `X-Request-Id`); quote it
    /// when reporting a problem.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(f) => Some(&f.request_id),
            Self::UnexpectedResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, if a response was received.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(f) => Some(f.status),
            Self::UnexpectedResponse { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            Self::InvalidBaseUrl { .. }
            | Self::InvalidPullKey
            | Self::Shutdown
            | Self::File { .. } => None,
        }
    }
}

/// A transport failure in plain words: where it was going and what happened, with the
/// likely cause of the common cases (nothing listening, no such host, too slow).
fn transport_message(e: &reqwest::Error) -> String {
    let server = e
        .url()
        .map(|u| {
            let mut origin = u.clone();
            origin.set_path("");
            origin.set_query(None);
            origin.as_str().trim_end_matches('/').to_owned()
        })
        .unwrap_or_else(|| "the server".to_owned());
    // The causes, outermost first (hyper's error, then the OS error it wraps).
    let causes: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(std::error::Error::source(e), |s| s.source()).collect();
    let io_kind = causes
        .iter()
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    if e.is_timeout() {
        return format!("{server} did not answer in time");
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            format!("connection refused — is the server running at {server}?")
        }
        Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof) => {
            format!("{server} closed the connection before answering")
        }
        _ if e.is_connect() => match causes.last() {
            Some(cause) => format!("cannot connect to {server}: {cause}"),
            None => format!("cannot connect to {server}"),
        },
        _ => format!("transport error talking to {server}: {e}"),
    }
}

/// A failure envelope: what `errors[0]` says, every entry, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    /// The code of the first entry.
    pub code: ErrorCode,
    /// The message of the first entry.
    pub message: String,
    /// The field of the first entry, where one field is at fault.
    pub field: Option<String>,
    /// `meta.request_id` of the response.
    pub request_id: String,
    /// Every entry of `errors` (several for a validation failure with several bad fields).
    pub errors: Vec<ErrorEntry>,
    /// `Retry-After` in seconds, when the response carried one.
    pub retry_after: Option<u64>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        write!(f, " [request id {}]", self.request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_the_first_entry() {
        let e = Error::Api(Box::new(ApiFailure {
            status: 422,
            code: ErrorCode::ValidationFailed,
            message: "title is required".into(),
            field: Some("title".into()),
            request_id: "req-1".into(),
            errors: vec![ErrorEntry::field(
                ErrorCode::ValidationFailed,
                "title",
                "title is required",
            )],
            retry_after: None,
        }));
        assert_eq!(e.code(), Some(ErrorCode::ValidationFailed));
        assert_eq!(e.field(), Some("title"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert_eq!(e.status(), Some(422));
        assert_eq!(
            e.to_string(),
            "HTTP 422 VALIDATION_FAILED: title is required (field title) [request id req-1]"
        );
    }
}
