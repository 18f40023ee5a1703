//! Shared application state, built once at start-up.

use crate::config::Config;
use jekcms_auth::{AccessTokens, TokenPolicy, TokenService};
use jekcms_cursor::CursorCodec;
use jekcms_ratelimit::RateLimiter;
use jekcms_store::Store;
use std::sync::Arc;

/// Everything handlers share. Cloned per worker (cheap: all behind `Arc`s and pools).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Token pair rules over the store.
    pub tokens: Arc<TokenService<Store>>,
    /// Cursor sealing.
    pub cursors: Arc<CursorCodec>,
    /// Request quotas.
    pub limiter: Arc<RateLimiter>,
    /// Configuration.
    pub config: Arc<Config>,
    /// Where media bytes live: `JEKCMS_MEDIA_DIR` or the bucket of `JEKCMS_MEDIA_STORE`.
    pub media: Arc<dyn jekcms_media_store::MediaStore>,
    /// Ready-to-send pull pages.
    pub pull_cache: Arc<crate::pull_cache::PullCache>,
    /// Seals the secrets the server reads back (webhook secrets).
    pub secrets: Arc<jekcms_auth::sealed::SecretBox>,
    /// Sends webhook deliveries (one connection pool, the URL policy at connection time).
    pub webhook_sender: jekcms_webhooks::sender::Sender,
    /// Wakes this instance's delivery worker when a delivery is queued here (a ping, a
    /// redelivery), instead of waiting for its next poll.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
    /// The `mcp_` tokens this instance has accepted (what lets a call's check ride with
    /// its read on PostgreSQL).
    pub mcp_tokens: Arc<crate::extract::KnownMcpTokens>,
}

impl AppState {
    /// The per-site quotas of `plan` (`JEKCMS_PLAN_*`): what a site's requests are counted
    /// against with [`RateLimiter::check_site`].
    pub fn site_quotas(&self, plan: jekcms_auth::Plan) -> jekcms_ratelimit::SiteQuotas {
        self.config.plans.get(plan)
    }

    /// Connects to the database (running migrations) and derives the keys.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let store = jekcms_store::Store::connect(&config.database_url, config.store_options())
            .await
            .map_err(|e| StartError(format!("JEKCMS_DATABASE_URL: {e}")))?;
        Self::with_store(config, store).await
    }

    /// Builds the state over an already connected store.
    pub async fn with_store(config: Config, store: Store) -> Result<Self, StartError> {
        if config.metrics {
            crate::metrics::install().map_err(|e| StartError(format!("JEKCMS_METRICS: {e}")))?;
        }
        let secret = crate::secret_key::load(&config, &store).await?;
        let access = AccessTokens::new(&secret, config.access_token_ttl);
        let policy = TokenPolicy {
            refresh_ttl: chrono::Duration::from_std(config.refresh_token_ttl)
                .map_err(|_| StartError("JEKCMS_REFRESH_TOKEN_TTL: too large".into()))?,
            reuse_grace: chrono::Duration::from_std(config.refresh_reuse_grace)
                .map_err(|_| StartError("JEKCMS_REFRESH_REUSE_GRACE: too large".into()))?,
        };
        let (standard, admin, ip) = (
            config.rate_limit_standard,
            config.rate_limit_admin,
            config.rate_limit_auth,
        );
        let limiter = match &config.redis_url {
            None => RateLimiter::in_process(standard, admin, ip),
            Some(url) => RateLimiter::shared(standard, admin, ip, url, &config.redis_prefix)
                .map_err(|e| StartError(format!("JEKCMS_REDIS_URL: {e}")))?,
        };
        let media = open_media_store(&config).await?;
        let webhook_sender = jekcms_webhooks::sender::Sender::new(config.webhook_policy())
            .map_err(|e| StartError(format!("cannot set up the webhook client: {e}")))?;
        Ok(Self {
            webhook_sender,
            webhook_wakeup: Arc::new(tokio::sync::Notify::new()),
            mcp_tokens: Arc::new(crate::extract::KnownMcpTokens::new()),
            tokens: Arc::new(TokenService::new(store.clone(), access, policy)),
            cursors: Arc::new(CursorCodec::new(&secret)),
            secrets: Arc::new(jekcms_auth::sealed::SecretBox::new(&secret)),
            pull_cache: Arc::new(crate::pull_cache::PullCache::new(
                config.pull_cache_bytes,
                config.pull_lease,
            )),
            limiter: Arc::new(limiter),
            media,
            store,
            config: Arc::new(config),
        })
    }
}

impl AppState {
    /// This state for one HTTP worker: the same everything, but database connections of its
    /// own (at most `max_connections`), opened and driven on the worker's thread (see
    /// `Store::for_this_thread`). Falls back to the shared connections if the pool cannot
    /// be made.
    pub fn for_worker(&self, max_connections: usize) -> AppState {
        match self.store.for_this_thread(max_connections) {
            Ok(store) => AppState {
                tokens: Arc::new(self.tokens.with_store(store.clone())),
                store,
                ..self.clone()
            },
            Err(e) => {
                tracing::warn!(error = %e, "this worker shares the start-up connection pool");
                self.clone()
            }
        }
    }
}

/// The media store the configuration names, checked: a local directory that cannot be
/// created, or a bucket that cannot be listed with the credentials given, stops start-up with
/// the variable and the directory or bucket and endpoint (never a credential).
pub async fn open_media_store(
    config: &Config,
) -> Result<Arc<dyn jekcms_media_store::MediaStore>, StartError> {
    use jekcms_media_store::{LocalDir, MediaStore, S3};
    let Some(settings) = &config.media_store else {
        let local = LocalDir::new(&config.media_dir);
        local.check().await.map_err(|e| {
            StartError(format!(
                "JEKCMS_MEDIA_DIR: cannot create the directory {}: {e}",
                config.media_dir.display()
            ))
        })?;
        let swept =
            crate::uploads::sweep_partial_files(&config.media_dir, crate::uploads::STALE_PART_AGE);
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed partial uploads left by an interrupted run"
            );
        }
        return Ok(Arc::new(local));
    };
    let s3 = S3::new(settings).map_err(|e| StartError(format!("JEKCMS_MEDIA_STORE: {e}")))?;
    s3.check().await.map_err(|e| {
        StartError(format!(
            "JEKCMS_MEDIA_STORE: cannot use {} (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID \
             and AWS_SECRET_ACCESS_KEY say where and as whom): {e}",
            s3.describe()
        ))
    })?;
    Ok(Arc::new(s3))
}

/// A start-up failure, reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);
