//! [`Client`] and its builder, and the authenticated request loop.

use crate::auth::{self, Auth, Secret};
use crate::error::Error;
use crate::transport::{Call, Policy, Presenting, Raw, Step, Transport};
use jekcms_envelope::ErrorCode;
use reqwest::StatusCode;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// An async client of the JekCMS API v2, signed in with one API key.
///
/// Cheap to clone (clones share the connection pool and the token pair) and safe to use
/// from many tasks at once. It keeps the access token fresh by itself: it renews the token
/// a margin (60 s by default) before it expires, once for all concurrent calls, and when
/// the server still answers `401 AUTH_EXPIRED` it renews and retries that call once.
///
/// Calls that the server refused for being over quota (`429 RATE_LIMITED`) are retried
/// after `Retry-After` seconds. Calls that are safe to repeat — `GET`s, `POST`s that
/// carry an `Idempotency-Key` and alt-text changes — are also retried, with jittered
/// exponential backoff, after a connection error or a `500`/`502`/`503`/`504`; media
/// uploads never are. Both bounds are set on [`ClientBuilder`].
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
            .field("base_url", &self.inner.transport.base)
            .field("api_key", &self.inner.auth.api_key)
            .field("api_secret", &self.inner.auth.api_secret)
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

    /// Calls `hook` with the wait each time the client is about to wait out a `429`'s
    /// `Retry-After` (a progress display can say why it stalls).
    pub fn on_rate_limit_wait(mut self, hook: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.policy.on_rate_limit_wait = Some(crate::transport::WaitHook(Arc::new(hook)));
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
        let transport = transport(&self.base_url, self.policy, self.timeout, self.user_agent)?;
        let auth = Arc::new(Auth {
            transport: transport.clone(),
            api_key: self.api_key,
            api_secret: self.api_secret,
            tokens: Mutex::new(None),
            renewals: AtomicU64::new(0),
        });
        auth::access_token(&auth).await?;
        let client = Client {
            inner: Arc::new(Inner { transport, auth }),
        };
        Ok(client)
    }
}

/// The transport to the server at `base_url` (checked and trimmed), with these settings.
pub(crate) fn transport(
    base_url: &str,
    policy: Policy,
    timeout: Duration,
    user_agent: String,
) -> Result<Transport, Error> {
    let base = normalise_base(base_url)?;
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(user_agent)
        .build()
        .map_err(Error::Transport)?;
    Ok(Transport {
        http,
        base: base.into(),
        policy: Arc::new(policy),
    })
}

/// The default `User-Agent`.
pub(crate) const USER_AGENT: &str = concat!("jekcms-client/", env!("CARGO_PKG_VERSION"));

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
    // The API's own prefix is accepted too: people copy it from the docs.
    let base = parsed.as_str().trim_end_matches('/');
    Ok(base.strip_suffix("/api/v2").unwrap_or(base).to_owned())
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
            user_agent: USER_AGENT.to_owned(),
        }
    }

    /// How many times this client has renewed its access token since it connected (by
    /// refresh, or by exchanging the key again when the refresh token was refused). For
    /// metrics and tests.
    pub fn token_renewals(&self) -> u64 {
        self.inner.auth.renewals.load(Ordering::Relaxed)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.transport.base
    }
}

/// The shared state behind every clone of a [`Client`].
#[derive(Debug)]
pub(crate) struct Inner {
    transport: Transport,
    auth: Arc<Auth>,
}

impl Inner {
    /// Sends `call` with the bearer token, renewing and retrying as [`Client`] says.
    pub(crate) async fn send(&self, call: &Call) -> Result<Raw, Error> {
        let mut budget = self.transport.budget();
        let mut renewed = false;
        loop {
            let (token, generation) = auth::access_token(&self.auth).await?;
            let outcome = self
                .transport
                .send_once(call, Presenting::Bearer(&token))
                .await;
            if let Ok(raw) = &outcome
                && raw.status == StatusCode::UNAUTHORIZED
            {
                let err = raw.failure();
                if err.code() == Some(ErrorCode::AuthExpired) && !renewed {
                    renewed = true;
                    tracing::debug!(path = %call.path, "access token expired; renewing and retrying");
                    auth::renew_after(&self.auth, generation).await?;
                    continue;
                }
                return Err(err);
            }
            match self.transport.next_step(call, outcome, &mut budget) {
                Step::Return(result) => return result,
                Step::Wait(wait) => tokio::time::sleep(wait).await,
            }
        }
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
        shareable::<crate::MediaLibrary>();
        shareable::<crate::ListMedia>();
        shareable::<crate::PullClient>();
        shareable::<crate::ListPullPosts>();
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
        assert_eq!(
            normalise_base("http://127.0.0.1:8080/api/v2/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_base("https://example.com/cms/api/v2").unwrap(),
            "https://example.com/cms"
        );
        assert!(normalise_base("ftp://example.com").is_err());
        assert!(normalise_base("example.com").is_err());
        assert!(normalise_base("http://example.com/?a=b").is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_says_what_to_check() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let err = Client::builder(format!("http://127.0.0.1:{port}/api/v2"), "api_x", "sk_y")
            .max_retries(0)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("connection refused — is the server running at http://127.0.0.1:{port}?")
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let b = Client::builder("http://x", "api_public", "sk_very_secret");
        let shown = format!("{b:?}");
        assert!(!shown.contains("sk_very_secret"), "{shown}");
        assert!(shown.contains("api_public"));
    }
}
