//! One HTTP attempt and the retry policy between attempts.

use crate::auth::Secret;
use crate::error::{ApiFailure, Error};
use jekcms_envelope::{Envelope, Meta};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use std::sync::Arc;
use std::time::Duration;

/// Retry and renewal settings.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) refresh_margin: Duration,
    pub(crate) max_retries: u32,
    pub(crate) max_rate_limit_retries: u32,
    pub(crate) max_retry_after: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) on_rate_limit_wait: Option<WaitHook>,
}

/// Called with the wait before the client waits out a `429`'s `Retry-After`.
#[derive(Clone)]
pub(crate) struct WaitHook(pub(crate) Arc<dyn Fn(Duration) + Send + Sync>);

impl std::fmt::Debug for WaitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WaitHook")
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(60),
            max_retries: 3,
            max_rate_limit_retries: 5,
            max_retry_after: Duration::from_secs(60),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            on_rate_limit_wait: None,
        }
    }
}

/// One request, kept so that it can be sent again.
pub(crate) struct Call {
    method: Method,
    pub(crate) path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Body>,
    idempotency_key: Option<String>,
    /// `If-None-Match`: the tag of the copy the caller keeps; a `304` is then an answer.
    if_none_match: Option<String>,
    /// Whether sending it twice has the effect of sending it once.
    repeatable: bool,
}

/// The credential an attempt presents.
#[derive(Clone, Copy)]
pub(crate) enum Presenting<'a> {
    /// None (the auth endpoints).
    Nothing,
    /// `Authorization: Bearer …` (the management API).
    Bearer(&'a Secret),
    /// `X-API-Key: pk_…` (the pull API).
    PullKey(&'a Secret),
}

impl Call {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        let repeatable = method == Method::GET;
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            if_none_match: None,
            repeatable,
        }
    }

    pub(crate) fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }

    pub(crate) fn json(self, body: &impl Serialize) -> Self {
        let bytes = serde_json::to_vec(body).expect("request bodies are plain data");
        self.raw_json(bytes)
    }

    pub(crate) fn raw_json(mut self, body: Vec<u8>) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    /// A `multipart/form-data` upload. Never repeated after it was sent: the server may
    /// have stored the file although the answer was lost. (A `429` and a `401
    /// AUTH_EXPIRED` are still retried: the server refuses those before reading the body.)
    pub(crate) fn multipart(mut self, upload: Upload) -> Self {
        self.body = Some(Body::Multipart(upload));
        self.repeatable = false;
        self
    }

    /// Sends `Idempotency-Key: key`, which makes the call safe to repeat.
    pub(crate) fn idempotency_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self.repeatable = true;
        self
    }

    /// Sends `If-None-Match: etag`; a `304` then counts as an answer, not a failure.
    pub(crate) fn if_none_match(mut self, etag: Option<String>) -> Self {
        self.if_none_match = etag;
        self
    }

    pub(crate) fn repeatable(mut self, repeatable: bool) -> Self {
        self.repeatable = repeatable;
        self
    }
}

/// What a call sends; kept whole so that every attempt sends the same bytes.
enum Body {
    Json(Vec<u8>),
    Multipart(Upload),
}

/// The parts of a media upload (API.md §5).
pub(crate) struct Upload {
    pub(crate) filename: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) alt_text: Option<String>,
}

impl Upload {
    /// A fresh form for one attempt (a form is consumed by sending it).
    fn form(&self) -> reqwest::multipart::Form {
        let file = reqwest::multipart::Part::bytes(self.bytes.clone())
            .file_name(self.filename.clone())
            .mime_str("application/octet-stream")
            .expect("a valid MIME type");
        let form = reqwest::multipart::Form::new().part("file", file);
        match &self.alt_text {
            Some(alt) => form.text("alt_text", alt.clone()),
            None => form,
        }
    }
}

/// A response as received.
pub(crate) struct Raw {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        self.header("x-request-id").map(str::to_owned)
    }

    fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    fn unexpected(&self, detail: String) -> Error {
        Error::UnexpectedResponse {
            status: self.status.as_u16(),
            request_id: self.request_id(),
            detail,
        }
    }

    /// The body as received.
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// A `200` carrying `body` (a copy kept from an earlier answer) with the headers of
    /// `answer` (the `304` that said the copy is current).
    pub(crate) fn kept(answer: Raw, body: Vec<u8>) -> Self {
        Self {
            status: StatusCode::OK,
            headers: answer.headers,
            body,
        }
    }

    /// The body as received and its `Content-Type`, for a response that is not an
    /// envelope (a medium's bytes).
    pub(crate) fn into_content(self) -> (Vec<u8>, Option<String>) {
        let content_type = self.header(CONTENT_TYPE.as_str()).map(str::to_owned);
        (self.body, content_type)
    }

    /// The error a non-2xx response stands for.
    pub(crate) fn failure(&self) -> Error {
        let env: Envelope<IgnoredAny> = match serde_json::from_slice(&self.body) {
            Ok(env) => env,
            Err(e) => return self.unexpected(format!("not an error envelope: {e}")),
        };
        let Some(first) = env.errors.first().cloned() else {
            return self.unexpected("an error status with no entry in errors".into());
        };
        Error::Api(Box::new(ApiFailure {
            status: self.status.as_u16(),
            code: first.code,
            message: first.message,
            field: first.field,
            request_id: env.meta.request_id,
            errors: env.errors,
            retry_after: self.retry_after(),
        }))
    }

    /// `data` and `meta` of a 2xx response.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<Decoded<T>, Error> {
        let env: Envelope<T> = serde_json::from_slice(&self.body)
            .map_err(|e| self.unexpected(format!("cannot read the response: {e}")))?;
        let replayed = self.header("idempotent-replayed") == Some("true");
        let data = env
            .data
            .ok_or_else(|| self.unexpected("a success with null data".into()))?;
        Ok(Decoded {
            data,
            meta: env.meta,
            replayed,
        })
    }
}

/// A decoded success.
pub(crate) struct Decoded<T> {
    pub(crate) data: T,
    pub(crate) meta: Meta,
    /// The server replayed an earlier response to the same `Idempotency-Key`.
    pub(crate) replayed: bool,
}

/// What is left of a call's retry allowance.
pub(crate) struct Budget {
    retries: u32,
    rate_limit_retries: u32,
    attempts: u32,
}

pub(crate) enum Step {
    Return(Result<Raw, Error>),
    Wait(Duration),
}

/// The HTTP client, the base URL and the policy: what every attempt needs.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Arc<str>,
    pub(crate) policy: Arc<Policy>,
}

impl Transport {
    /// Sends `call` without a bearer token (the auth endpoints).
    pub(crate) async fn send_unauthenticated(&self, call: &Call) -> Result<Raw, Error> {
        self.send(call, Presenting::Nothing).await
    }

    /// Sends `call` presenting `credential`, retrying as the policy says. (A bearer token
    /// that may need renewing goes through the management client's own loop.)
    pub(crate) async fn send(&self, call: &Call, credential: Presenting<'_>) -> Result<Raw, Error> {
        let mut budget = self.budget();
        loop {
            let outcome = self.send_once(call, credential).await;
            match self.next_step(call, outcome, &mut budget) {
                Step::Return(result) => return result,
                Step::Wait(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    pub(crate) fn budget(&self) -> Budget {
        Budget {
            retries: self.policy.max_retries,
            rate_limit_retries: self.policy.max_rate_limit_retries,
            attempts: 0,
        }
    }

    pub(crate) async fn send_once(
        &self,
        call: &Call,
        credential: Presenting<'_>,
    ) -> Result<Raw, reqwest::Error> {
        let url = format!("{}{}", self.base, call.path);
        let mut req = self.http.request(call.method.clone(), url);
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        match credential {
            Presenting::Nothing => {}
            Presenting::Bearer(token) => req = req.bearer_auth(token.expose()),
            Presenting::PullKey(key) => {
                // Checked to be a valid header value when the client was built.
                if let Ok(mut value) = HeaderValue::from_str(key.expose()) {
                    value.set_sensitive(true);
                    req = req.header("X-API-Key", value);
                }
            }
        }
        if let Some(etag) = &call.if_none_match {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(key) = &call.idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        match &call.body {
            Some(Body::Json(body)) => {
                req = req
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            Some(Body::Multipart(upload)) => req = req.multipart(upload.form()),
            None => {}
        }
        let res = req.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await?.to_vec();
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    /// Decides, after one attempt, whether to return or to wait and try again.
    pub(crate) fn next_step(
        &self,
        call: &Call,
        outcome: Result<Raw, reqwest::Error>,
        budget: &mut Budget,
    ) -> Step {
        budget.attempts += 1;
        let raw = match outcome {
            Ok(raw) if raw.status.is_success() => return Step::Return(Ok(raw)),
            Ok(raw) if raw.status == StatusCode::NOT_MODIFIED && call.if_none_match.is_some() => {
                return Step::Return(Ok(raw));
            }
            Ok(raw) => raw,
            Err(e) => {
                if call.repeatable && budget.retries > 0 {
                    budget.retries -= 1;
                    let wait = self.backoff(budget.attempts);
                    tracing::debug!(path = %call.path, error = %e, ?wait, "transport error; retrying");
                    return Step::Wait(wait);
                }
                return Step::Return(Err(Error::Transport(e)));
            }
        };
        let status = raw.status.as_u16();
        if status == 429 && budget.rate_limit_retries > 0 {
            let wait = Duration::from_secs(raw.retry_after().unwrap_or(1).max(1));
            if wait <= self.policy.max_retry_after {
                budget.rate_limit_retries -= 1;
                tracing::debug!(path = %call.path, ?wait, "rate limited; waiting Retry-After");
                if let Some(hook) = &self.policy.on_rate_limit_wait {
                    (hook.0)(wait);
                }
                return Step::Wait(wait);
            }
        }
        let err = raw.failure();
        // A repeat of a keyed request may find the first one still running: the server
        // answers 409 without a field then, and the answer will be ready shortly.
        let still_running = status == 409
            && call.idempotency_key.is_some()
            && budget.attempts > 1
            && err.field().is_none();
        let transient = matches!(status, 500 | 502 | 503 | 504) || still_running;
        if transient && call.repeatable && budget.retries > 0 {
            budget.retries -= 1;
            let hinted = Duration::from_secs(raw.retry_after().unwrap_or(0));
            let wait = self
                .backoff(budget.attempts)
                .max(hinted.min(self.policy.max_retry_after));
            tracing::debug!(path = %call.path, status, ?wait, "transient failure; retrying");
            return Step::Wait(wait);
        }
        Step::Return(Err(err))
    }

    /// Exponential backoff for the `attempt`-th retry, drawn from the upper half.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.policy.backoff_max);
        let half = exp / 2;
        let jitter_ms = fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jekcms_envelope::ErrorCode;

    #[test]
    fn failures_are_read_from_the_envelope() {
        let raw = Raw {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            headers: HeaderMap::new(),
            body: br#"{"success":false,"data":null,"meta":{"request_id":"r1"},"errors":[{"code":"VALIDATION_FAILED","message":"bad","field":"slug"}]}"#.to_vec(),
        };
        let e = raw.failure();
        assert_eq!(e.code(), Some(ErrorCode::ValidationFailed));
        assert_eq!(e.field(), Some("slug"));
        assert_eq!(e.request_id(), Some("r1"));

        let html = Raw {
            status: StatusCode::BAD_GATEWAY,
            headers: HeaderMap::new(),
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(matches!(
            html.failure(),
            Error::UnexpectedResponse { status: 502, .. }
        ));
    }
}
