//! [`Client`], its builder, and the request loop: bearer, renewal, retries.

use crate::auth::{Secret, TokenResponse, Tokens};
use crate::error::{ApiFailure, Error};
use jekcms_envelope::{Envelope, ErrorCode, Meta};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// An async client of the JekCMS API v2, signed in with one API key.
///
/// Cheap to clone (clones share the connection pool and the token pair) and safe to use
/// from many tasks at once. It keeps the access token fresh by itself: it renews the token
/// a margin (60 s by default) before it expires, once for all concurrent calls, and when
/// the server still answers `401 AUTH_EXPIRED` it renews and retries that call once.
///
/// Calls that the server refused for being over quota (`429 RATE_LIMITED`) are retried
/// after `Retry-After` seconds. Calls that are safe to repeat — `GET`s and `POST`s that
/// carry an `Idempotency-Key` — are also retried, with jittered exponential backoff, after
/// a connection error or a `500`/`502`/`503`/`504`. Both bounds are set on
/// [`ClientBuilder`].
///
/// ```no_run
/// use futures_util::TryStreamExt;
/// use jekcms_client::{Client, NewPost, PostFilter, PostStatus};
///
/// # async fn run() -> Result<(), jekcms_client::Error> {
/// let client = Client::connect("https://cms.example.com", "api_…", "sk_…").await?;
///
/// let post = client.posts().create(NewPost::new("Hello")).await?;
/// println!("created post {} with slug {}", post.id, post.slug);
///
/// // One page of the list…
/// let filter = PostFilter::default().status(PostStatus::Draft);
/// let page = client.posts().list(filter.clone()).await?;
/// println!("{} drafts on the first page", page.items.len());
///
/// // …or every post, page after page.
/// let all: Vec<_> = client.posts().list(filter).stream().try_collect().await?;
/// println!("{} drafts in all", all.len());
///
/// // An import that is safe to run again: it never creates a post twice.
/// let report = client
///     .posts()
///     .bulk_create((1..=250).map(|i| NewPost::new(format!("Imported {i}"))))
///     .await?;
/// println!("{} created, {} failed", report.created, report.failed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("api_key", &self.inner.api_key)
            .field("api_secret", &self.inner.api_secret)
            .field("tokens", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; made by [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: String,
    api_secret: Secret,
    policy: Policy,
    timeout: Duration,
    user_agent: String,
}

/// Retry and renewal settings.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    refresh_margin: Duration,
    max_retries: u32,
    max_rate_limit_retries: u32,
    max_retry_after: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
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
        }
    }
}

impl ClientBuilder {
    /// Renew the access token this long before it expires (default 60 s). When a token's
    /// whole lifetime is not longer than this, it is renewed at half its lifetime.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.policy.refresh_margin = margin;
        self
    }

    /// How many times a call that is safe to repeat is retried after a connection error or
    /// a 5xx (default 3; 0 disables).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.policy.max_retries = retries;
        self
    }

    /// How many times a call is retried after `429 RATE_LIMITED` (default 5; 0 disables).
    pub fn max_rate_limit_retries(mut self, retries: u32) -> Self {
        self.policy.max_rate_limit_retries = retries;
        self
    }

    /// The longest `Retry-After` the client waits out (default 60 s); a longer one is
    /// returned to the caller as the `RATE_LIMITED` error.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.policy.max_retry_after = wait;
        self
    }

    /// The first backoff delay and the cap of the exponential backoff between retries
    /// (defaults 250 ms and 10 s). Each delay is drawn at random from its upper half.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.policy.backoff_base = base;
        self.policy.backoff_max = max.max(base);
        self
    }

    /// The timeout of one HTTP attempt, connection included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `jekcms-client/VERSION`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client and exchanges the API key for a token pair, so that a wrong base
    /// URL or a bad key fails here rather than on the first call.
    pub async fn connect(self) -> Result<Client, Error> {
        let base = normalise_base(&self.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(Error::Transport)?;
        let client = Client {
            inner: Arc::new(Inner {
                http,
                base,
                api_key: self.api_key,
                api_secret: self.api_secret,
                policy: self.policy,
                tokens: Mutex::new(None),
                renewals: AtomicU64::new(0),
            }),
        };
        client.inner.access_token().await?;
        Ok(client)
    }
}

fn normalise_base(url: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidBaseUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

impl Client {
    /// Connects with the default settings: see [`ClientBuilder::connect`].
    pub async fn connect(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        api_secret: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::builder(base_url, api_key, api_secret).connect().await
    }

    /// A builder for a client of the server at `base_url` (e.g. `https://cms.example.com`;
    /// the `/api/v2/…` paths are appended), signing in with an `api_…` key and its `sk_…`
    /// secret.
    pub fn builder(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        api_secret: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: api_key.into(),
            api_secret: Secret::new(api_secret.into()),
            policy: Policy::default(),
            timeout: Duration::from_secs(30),
            user_agent: concat!("jekcms-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// How many times this client has renewed its access token since it connected (by
    /// refresh, or by exchanging the key again when the refresh token was refused). For
    /// metrics and tests.
    pub fn token_renewals(&self) -> u64 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }
}

/// The shared state behind every clone of a [`Client`].
pub(crate) struct Inner {
    http: reqwest::Client,
    base: String,
    api_key: String,
    api_secret: Secret,
    policy: Policy,
    /// `None` only before the first exchange. Held across a renewal: that is what makes
    /// a renewal single-flight.
    tokens: Mutex<Option<Tokens>>,
    renewals: AtomicU64,
}

/// One request, kept so that it can be sent again.
pub(crate) struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
    /// Whether sending it twice has the effect of sending it once.
    repeatable: bool,
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
        self.body = Some(body);
        self
    }

    /// Sends `Idempotency-Key: key`, which makes the call safe to repeat.
    pub(crate) fn idempotency_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self.repeatable = true;
        self
    }

    fn repeatable(mut self, repeatable: bool) -> Self {
        self.repeatable = repeatable;
        self
    }
}

/// A response as received.
pub(crate) struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn request_id(&self) -> Option<String> {
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

    /// The error a non-2xx response stands for.
    fn failure(&self) -> Error {
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
struct Budget {
    retries: u32,
    rate_limit_retries: u32,
    attempts: u32,
}

enum Step {
    Return(Result<Raw, Error>),
    Wait(Duration),
}

impl Inner {
    /// Sends `call` with the bearer token, renewing and retrying as the type docs say.
    pub(crate) async fn send(&self, call: &Call) -> Result<Raw, Error> {
        let mut budget = self.budget();
        let mut renewed = false;
        loop {
            let (token, generation) = self.access_token().await?;
            let outcome = self.send_once(call, Some(&token)).await;
            if let Ok(raw) = &outcome
                && raw.status == StatusCode::UNAUTHORIZED
            {
                let err = raw.failure();
                if err.code() == Some(ErrorCode::AuthExpired) && !renewed {
                    renewed = true;
                    tracing::debug!(path = %call.path, "access token expired; renewing and retrying");
                    self.renew_after(generation).await?;
                    continue;
                }
                return Err(err);
            }
            match self.next_step(call, outcome, &mut budget) {
                Step::Return(result) => return result,
                Step::Wait(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Sends `call` without a bearer token (the auth endpoints).
    async fn send_unauthenticated(&self, call: &Call) -> Result<Raw, Error> {
        let mut budget = self.budget();
        loop {
            let outcome = self.send_once(call, None).await;
            match self.next_step(call, outcome, &mut budget) {
                Step::Return(result) => return result,
                Step::Wait(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    fn budget(&self) -> Budget {
        Budget {
            retries: self.policy.max_retries,
            rate_limit_retries: self.policy.max_rate_limit_retries,
            attempts: 0,
        }
    }

    async fn send_once(&self, call: &Call, bearer: Option<&Secret>) -> Result<Raw, reqwest::Error> {
        let url = format!("{}{}", self.base, call.path);
        let mut req = self.http.request(call.method.clone(), url);
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose());
        }
        if let Some(key) = &call.idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
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
    fn next_step(
        &self,
        call: &Call,
        outcome: Result<Raw, reqwest::Error>,
        budget: &mut Budget,
    ) -> Step {
        budget.attempts += 1;
        let raw = match outcome {
            Ok(raw) if raw.status.is_success() => return Step::Return(Ok(raw)),
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

    /// The current access token and its generation, renewed first when due.
    async fn access_token(&self) -> Result<(Secret, u64), Error> {
        let mut tokens = self.tokens.lock().await;
        if let Some(t) = tokens.as_ref()
            && !t.is_due(Instant::now())
        {
            return Ok((t.access.clone(), t.generation));
        }
        let fresh = self.renew(tokens.as_ref()).await?;
        let out = (fresh.access.clone(), fresh.generation);
        *tokens = Some(fresh);
        Ok(out)
    }

    /// Renews unless someone renewed since the caller saw generation `seen`.
    async fn renew_after(&self, seen: u64) -> Result<(), Error> {
        let mut tokens = self.tokens.lock().await;
        if tokens.as_ref().is_some_and(|t| t.generation != seen) {
            return Ok(());
        }
        let fresh = self.renew(tokens.as_ref()).await?;
        *tokens = Some(fresh);
        Ok(())
    }

    /// A new pair: by refresh when there is a refresh token, else (or when the refresh is
    /// refused or fails) by exchanging the API key again.
    async fn renew(&self, current: Option<&Tokens>) -> Result<Tokens, Error> {
        let generation = current.map_or(0, |t| t.generation) + 1;
        let margin = self.policy.refresh_margin;
        if let Some(current) = current {
            #[derive(Serialize)]
            struct Refresh<'a> {
                refresh_token: &'a str,
            }
            // Never resent after a transport error: the server may have rotated the token,
            // and presenting a used refresh token revokes the whole session.
            let call = Call::new(Method::POST, "/api/v2/auth/refresh")
                .json(&Refresh {
                    refresh_token: current.refresh.expose(),
                })
                .repeatable(false);
            let sent_at = Instant::now();
            match self.token_call(&call).await {
                Ok(pair) => {
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    return Ok(Tokens::from_response(pair, sent_at, margin, generation));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "refresh failed; exchanging the API key again")
                }
            }
        }
        #[derive(Serialize)]
        struct Exchange<'a> {
            api_key: &'a str,
            api_secret: &'a str,
        }
        // Safe to resend: a lost exchange only leaves an unused session behind.
        let call = Call::new(Method::POST, "/api/v2/auth/token")
            .json(&Exchange {
                api_key: &self.api_key,
                api_secret: self.api_secret.expose(),
            })
            .repeatable(true);
        let sent_at = Instant::now();
        let pair = self.token_call(&call).await?;
        if current.is_some() {
            self.renewals.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Tokens::from_response(pair, sent_at, margin, generation))
    }

    async fn token_call(&self, call: &Call) -> Result<TokenResponse, Error> {
        Ok(self.send_unauthenticated(call).await?.decode()?.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Client>();
        shareable::<crate::Posts>();
        shareable::<crate::ListPosts>();
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(
            normalise_base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_base("https://example.com/cms/").unwrap(),
            "https://example.com/cms"
        );
        assert!(normalise_base("ftp://example.com").is_err());
        assert!(normalise_base("example.com").is_err());
        assert!(normalise_base("http://example.com/?a=b").is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let b = Client::builder("http://x", "api_public", "sk_very_secret");
        let shown = format!("{b:?}");
        assert!(!shown.contains("sk_very_secret"), "{shown}");
        assert!(shown.contains("api_public"));
    }

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
