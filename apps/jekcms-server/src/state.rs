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
    /// Ready-to-send pull pages.
    pub pull_cache: Arc<crate::pull_cache::PullCache>,
    /// Seals the secrets the server reads back (webhook secrets).
    pub secrets: Arc<jekcms_auth::sealed::SecretBox>,
    /// Sends webhook deliveries (one connection pool, the URL policy at connection time).
    pub webhook_sender: jekcms_webhooks::sender::Sender,
    /// Wakes this instance's delivery worker when a delivery is queued here (a ping, a
    /// redelivery), instead of waiting for its next poll.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
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
        std::fs::create_dir_all(&config.media_dir).map_err(|e| {
            StartError(format!(
                "JEKCMS_MEDIA_DIR: cannot create the directory: {e}"
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
        let webhook_sender = jekcms_webhooks::sender::Sender::new(config.webhook_policy())
            .map_err(|e| StartError(format!("cannot set up the webhook client: {e}")))?;
        Ok(Self {
            webhook_sender,
            webhook_wakeup: Arc::new(tokio::sync::Notify::new()),
            tokens: Arc::new(TokenService::new(store.clone(), access, policy)),
            cursors: Arc::new(CursorCodec::new(&secret)),
            secrets: Arc::new(jekcms_auth::sealed::SecretBox::new(&secret)),
            pull_cache: Arc::new(crate::pull_cache::PullCache::new(config.pull_cache_bytes)),
            limiter: Arc::new(limiter),
            store,
            config: Arc::new(config),
        })
    }
}

/// A start-up failure, reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);
