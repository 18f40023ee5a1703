//! [`PullClient`]: the pull API (API.md §9) for a website's back end, with a site's `pk_`
//! key, and the revalidation of what it fetched before (`If-None-Match` → `304`).

use crate::auth::Secret;
use crate::client::{USER_AGENT, transport};
use crate::error::Error;
use crate::etags::{EtagCache, Kept};
use crate::list::{MAX_LIMIT, Query, into_page, walk_with};
use crate::transport::{Call, Policy, Presenting, Raw, Transport, WaitHook};
use crate::types::{Page, PullPost, PullQuery};
use futures_core::Stream;
use jekcms_envelope::ErrorCode;
use reqwest::header::{ETAG, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The list endpoint.
const PATH: &str = "/api/v2/pull/posts";

/// A client of the pull API: a site's visible posts, for a website's back end or its
/// server-side rendering, with the site's `pk_` key (`X-API-Key`).
///
/// Cheap to clone (clones share the connection pool and the kept responses) and safe to
/// use from many tasks at once. It retries like [`Client`](crate::Client): it waits out
/// `429 RATE_LIMITED` for `Retry-After` seconds, and retries after a connection error or a
/// `500`/`502`/`503`/`504` with jittered exponential backoff.
///
/// It keeps the last answer to each URL with its `ETag` (at most 128 answers and 16 MiB by
/// default; the least recently used goes first) and asks again with `If-None-Match`: when
/// the server answers `304 Not Modified`, it returns the kept answer, which costs the server
/// no query and the network no body. It always asks: a post changed on the server is seen
/// by the next call. [`PullClient::revalidations`] counts the answers served that way.
///
/// A post that is not visible (draft, archived, scheduled, deleted) is
/// [`ErrorCode::NotFound`](crate::ErrorCode::NotFound), as everywhere in this crate; a key
/// that is unknown or rotated out is [`ErrorCode::AuthInvalid`](crate::ErrorCode::AuthInvalid).
/// The key never appears in `Debug` output or logs.
///
/// ```no_run
/// use futures_util::TryStreamExt;
/// use jekcms_client::{ErrorCode, PullClient, PullField, PullQuery};
///
/// # async fn run() -> Result<(), jekcms_client::Error> {
/// let site = PullClient::new("https://cms.example.com", "pk_…")?;
///
/// // The home page: the ten newest posts tagged "news".
/// let page = site.posts(PullQuery::default().tag("news").limit(10)).await?;
/// for post in &page.items {
///     println!("{:?}: {:?}", post.slug, post.title);
/// }
///
/// // A post's page, or a 404 page.
/// match site.post("hello-world").await {
///     Ok(post) => println!("{}", post.body.unwrap_or_default()),
///     Err(e) if e.code() == Some(ErrorCode::NotFound) => println!("no such post"),
///     Err(e) => return Err(e),
/// }
///
/// // A sitemap: every visible post's slug, page after page.
/// let slugs: Vec<_> = site
///     .posts(PullQuery::default().fields([PullField::Slug, PullField::UpdatedAt]))
///     .stream()
///     .try_collect()
///     .await?;
/// println!("{} posts in the sitemap", slugs.len());
///
/// // Asked again, an unchanged page is revalidated (304) rather than sent again.
/// let again = site.posts(PullQuery::default().tag("news").limit(10)).await?;
/// assert_eq!(again.items, page.items);
/// println!("{} answers revalidated", site.revalidations());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PullClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    key: Secret,
    kept: Mutex<EtagCache>,
    revalidations: AtomicU64,
}

impl fmt::Debug for PullClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullClient")
            .field("base_url", &self.inner.transport.base)
            .field("key", &self.inner.key)
            .field("kept_responses", &self.kept().len())
            .field("revalidations", &self.revalidations())
            .finish_non_exhaustive()
    }
}

/// Configures a [`PullClient`]; made by [`PullClient::builder`].
#[derive(Debug, Clone)]
pub struct PullClientBuilder {
    base_url: String,
    key: Secret,
    policy: Policy,
    timeout: Duration,
    user_agent: String,
    max_kept: usize,
    max_kept_bytes: usize,
}

impl PullClientBuilder {
    /// How many answers are kept for revalidation, and how many bytes of them in all
    /// (defaults 128 and 16 MiB; 0 entries keeps none and sends no `If-None-Match`). An
    /// answer larger than `max_bytes` is not kept.
    pub fn keep_responses(mut self, max_entries: usize, max_bytes: usize) -> Self {
        self.max_kept = max_entries;
        self.max_kept_bytes = max_bytes;
        self
    }

    /// How many times a call is retried after a connection error or a 5xx (default 3; 0
    /// disables).
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
    /// returned to the caller as the `RATE_LIMITED` error. A page renderer may want a
    /// short one.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.policy.max_retry_after = wait;
        self
    }

    /// Calls `hook` with the wait each time the client is about to wait out a `429`'s
    /// `Retry-After`.
    pub fn on_rate_limit_wait(mut self, hook: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.policy.on_rate_limit_wait = Some(WaitHook(Arc::new(hook)));
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

    /// Builds the client. Nothing is sent: a wrong key shows on the first call, as
    /// `AUTH_INVALID`. Fails only for a base URL that is not `http(s)` or a key that
    /// cannot be sent in a header.
    pub fn build(self) -> Result<PullClient, Error> {
        if HeaderValue::from_str(self.key.expose()).is_err() {
            return Err(Error::InvalidPullKey);
        }
        let transport = transport(&self.base_url, self.policy, self.timeout, self.user_agent)?;
        Ok(PullClient {
            inner: Arc::new(Inner {
                transport,
                key: self.key,
                kept: Mutex::new(EtagCache::new(self.max_kept, self.max_kept_bytes)),
                revalidations: AtomicU64::new(0),
            }),
        })
    }
}

impl PullClient {
    /// A client with the default settings: see [`PullClientBuilder::build`].
    pub fn new(base_url: impl Into<String>, key: impl Into<String>) -> Result<Self, Error> {
        Self::builder(base_url, key).build()
    }

    /// A builder for a client of the server at `base_url` (e.g. `https://cms.example.com`;
    /// the `/api/v2/pull/…` paths are appended) with the site's `pk_…` key.
    pub fn builder(base_url: impl Into<String>, key: impl Into<String>) -> PullClientBuilder {
        PullClientBuilder {
            base_url: base_url.into(),
            key: Secret::new(key.into()),
            policy: Policy::default(),
            timeout: Duration::from_secs(30),
            user_agent: USER_AGENT.to_owned(),
            max_kept: 128,
            max_kept_bytes: 16 << 20,
        }
    }

    /// `GET /api/v2/pull/posts`: `.await` it for the first page, call
    /// [`ListPullPosts::after`] for a later one, or [`ListPullPosts::stream`] for every
    /// visible post.
    pub fn posts(&self, query: PullQuery) -> ListPullPosts {
        ListPullPosts {
            client: self.clone(),
            query,
            cursor: None,
        }
    }

    /// `GET /api/v2/pull/posts/{slug}`: one visible post, with every field (its body
    /// included). Anything not visible is [`ErrorCode::NotFound`](crate::ErrorCode::NotFound).
    pub async fn post(&self, slug: &str) -> Result<PullPost, Error> {
        let mut url = reqwest::Url::parse("http://host").expect("a valid URL");
        url.path_segments_mut()
            .expect("an http URL has a path")
            .extend(["api", "v2", "pull", "posts", slug]);
        self.get(url.path(), Vec::new()).await.map(|d| d.data)
    }

    /// How many answers this client (and its clones) returned from its kept copy because
    /// the server answered `304 Not Modified`. For metrics and tests.
    pub fn revalidations(&self) -> u64 {
        self.inner.revalidations.load(Ordering::Relaxed)
    }

    /// Forgets every kept answer: the next call of each URL gets a whole answer.
    pub fn forget_kept_responses(&self) {
        self.kept().clear();
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.transport.base
    }

    fn kept(&self) -> MutexGuard<'_, EtagCache> {
        // The map is consistent after every statement: a panic elsewhere cannot break it.
        self.inner.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET path?query` with the key, revalidating a kept answer.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Query,
    ) -> Result<crate::transport::Decoded<T>, Error> {
        let transport = &self.inner.transport;
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", transport.base), &query)
            .map_err(|e| Error::InvalidBaseUrl {
                url: transport.base.to_string(),
                reason: e.to_string(),
            })?;
        let key = url.as_str();
        let kept = self.kept().get(key);
        let call = Call::new(Method::GET, path)
            .query(query)
            .if_none_match(kept.as_ref().map(|k| k.etag.clone()));
        let raw = match transport
            .send(&call, Presenting::PullKey(&self.inner.key))
            .await
        {
            Ok(raw) => raw,
            Err(e) => {
                // What is gone (a post unpublished or deleted) is not kept any longer.
                if e.code() == Some(ErrorCode::NotFound) {
                    self.kept().remove(key);
                }
                return Err(e);
            }
        };
        if raw.status == StatusCode::NOT_MODIFIED {
            let Some(kept) = kept else {
                return Err(Error::UnexpectedResponse {
                    status: 304,
                    request_id: raw.request_id(),
                    detail: "304 Not Modified to a request without If-None-Match".into(),
                });
            };
            self.inner.revalidations.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(path, "not modified; answering from the kept copy");
            // The kept envelope carries the first answer's request id; this one's is the
            // id to quote.
            let request_id = raw.request_id();
            let mut decoded = Raw::kept(raw, kept.body.to_vec()).decode::<T>()?;
            if let Some(id) = request_id {
                decoded.meta.request_id = id;
            }
            return Ok(decoded);
        }
        // Kept only once it has been read: an answer that cannot be read is not served
        // again from the copy.
        let etag = raw.header(ETAG.as_str()).map(str::to_owned);
        let body: Option<Arc<[u8]>> = etag.as_ref().map(|_| raw.body().into());
        let decoded = raw.decode();
        match (etag, body, &decoded) {
            (Some(etag), Some(body), Ok(_)) => {
                self.kept().insert(key.to_owned(), Kept { etag, body })
            }
            _ => self.kept().remove(key),
        }
        decoded
    }
}

/// A pull list request; made by [`PullClient::posts`].
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until awaited or streamed"]
pub struct ListPullPosts {
    client: PullClient,
    query: PullQuery,
    cursor: Option<String>,
}

impl ListPullPosts {
    /// The page after the one that returned `cursor` as its `next_cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Fetches the page.
    pub async fn page(self) -> Result<Page<PullPost>, Error> {
        let query = self.query.to_query(self.cursor.as_deref());
        Ok(into_page(self.client.get(PATH, query).await?))
    }

    /// Every visible post of the list from here on, following `next_cursor` page by page
    /// (100 a page unless the query sets a limit). The stream ends after the first error.
    pub fn stream(self) -> impl Stream<Item = Result<PullPost, Error>> + Send + 'static {
        let mut query = self.query;
        query.limit.get_or_insert(MAX_LIMIT);
        let client = self.client;
        walk_with(
            move |cursor| {
                let client = client.clone();
                let query = query.to_query(cursor);
                async move { Ok(into_page(client.get(PATH, query).await?)) }
            },
            self.cursor,
        )
    }
}

impl IntoFuture for ListPullPosts {
    type Output = Result<Page<PullPost>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.page())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let client = PullClient::new("http://127.0.0.1:1/", "pk_very_secret").unwrap();
        let shown = format!(
            "{client:?} {:?}",
            PullClient::builder("http://x", "pk_very_secret")
        );
        assert!(!shown.contains("pk_very_secret"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:1"), "{shown}");
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_refused() {
        let err = PullClient::new("http://x", "pk_a\nb").unwrap_err();
        assert!(matches!(err, Error::InvalidPullKey), "{err:?}");
        assert!(!err.to_string().contains("pk_a"));
        assert!(matches!(
            PullClient::new("ftp://x", "pk_a").unwrap_err(),
            Error::InvalidBaseUrl { .. }
        ));
    }
}
