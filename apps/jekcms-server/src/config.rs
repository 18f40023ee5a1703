//! Configuration from `JEKCMS_*` environment variables (API.md §0), optionally supplied by a
//! `jekcms.toml` in the working directory with the same keys; the environment wins. A bad
//! value stops start-up with one line naming the variable; nothing is half-started.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use jekcms_auth::Plan;
pub use jekcms_ratelimit::{Quota, SiteQuotas};

/// Everything the server reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `JEKCMS_DATABASE_URL`
    pub database_url: String,
    /// `JEKCMS_BIND`
    pub bind: SocketAddr,
    /// `JEKCMS_ACCESS_TOKEN_TTL`
    pub access_token_ttl: Duration,
    /// `JEKCMS_REFRESH_TOKEN_TTL`
    pub refresh_token_ttl: Duration,
    /// `JEKCMS_REFRESH_REUSE_GRACE`
    pub refresh_reuse_grace: Duration,
    /// `JEKCMS_RATE_LIMIT_STANDARD` (`None`: `off`)
    pub rate_limit_standard: Option<Quota>,
    /// `JEKCMS_RATE_LIMIT_ADMIN` (`None`: `off`)
    pub rate_limit_admin: Option<Quota>,
    /// `JEKCMS_RATE_LIMIT_AUTH` (`None`: `off`)
    pub rate_limit_auth: Option<Quota>,
    /// `JEKCMS_PLAN_STARTER`, `_PRO`, `_AGENCY`, `_UNLIMITED`: each plan's per-site quotas.
    pub plans: PlanQuotas,
    /// `JEKCMS_DEFAULT_PLAN`: the plan of new sites.
    pub default_plan: Plan,
    /// `JEKCMS_SECRET_KEY`; required with PostgreSQL. When absent on SQLite, the key is
    /// generated once and kept in [`Config::secret_key_file`], never in the database.
    pub secret_key: Option<[u8; 32]>,
    /// `JEKCMS_SECRET_KEY_FILE`: where SQLite keeps its generated key (default: the database
    /// file's path plus `.key`).
    pub secret_key_file: Option<PathBuf>,
    /// `JEKCMS_MEDIA_DIR`: where media bytes live unless `media_store` names a bucket.
    pub media_dir: PathBuf,
    /// `JEKCMS_MEDIA_STORE=s3://bucket/prefix` with the `AWS_*` variables and
    /// `JEKCMS_S3_ADDRESSING`: media in S3-compatible object storage (`None`: `media_dir`).
    pub media_store: Option<jekcms_media_store::S3Settings>,
    /// `JEKCMS_MAX_UPLOAD_BYTES`
    pub max_upload_bytes: u64,
    /// `JEKCMS_V1_ENABLED`
    pub v1_enabled: bool,
    /// `JEKCMS_OPEN_REGISTRATION`
    pub open_registration: bool,
    /// `JEKCMS_REDIS_URL`
    pub redis_url: Option<String>,
    /// `JEKCMS_REDIS_PREFIX`: prefix of every key written to Redis.
    pub redis_prefix: String,
    /// `JEKCMS_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// `JEKCMS_LOG`
    pub log: String,
    /// `JEKCMS_LOG_FORMAT`: `text` (default) or `json`, one JSON object per line.
    pub log_format: LogFormat,
    /// `JEKCMS_IDEMPOTENCY_LEASE`: how long an `Idempotency-Key` claim without a response
    /// holds off retries before one may take it over (its request died).
    pub idempotency_lease: Duration,
    /// `JEKCMS_DB_CONNECT_TIMEOUT`, `JEKCMS_DB_ACQUIRE_TIMEOUT`, `JEKCMS_DB_STATEMENT_TIMEOUT`,
    /// `JEKCMS_DB_STARTUP_TIMEOUT`: the bounds on waiting for the database.
    pub db_timeouts: DbTimeouts,
    /// `JEKCMS_SHUTDOWN_TIMEOUT`: after SIGTERM, how long requests in flight may run on.
    pub shutdown_timeout: Duration,
    /// `JEKCMS_BODY_TIMEOUT`: the longest wait for the next bytes of a request body.
    pub body_timeout: Duration,
    /// `JEKCMS_BODY_MIN_RATE`: bytes per second a request body must average (0: no minimum).
    pub body_min_rate: u64,
    /// `JEKCMS_KEEP_ALIVE`: how long an idle keep-alive connection is kept open.
    pub keep_alive: Duration,
    /// `JEKCMS_MAX_CONNECTIONS`: connections held open at once, over all workers.
    pub max_connections: usize,
    /// `JEKCMS_METRICS`: `GET /metrics` on the API address (off by default).
    pub metrics: bool,
    /// `JEKCMS_METRICS_BIND`: serve `GET /metrics` on this address instead, and only there.
    pub metrics_bind: Option<SocketAddr>,
    /// `JEKCMS_ACTIVITY_RETENTION_DAYS`: how long the activity log keeps an event.
    pub activity_retention: Duration,
    /// `JEKCMS_PULL_MAX_AGE`: how long browsers and CDNs may keep a pull response.
    pub pull_max_age: Duration,
    /// `JEKCMS_PULL_CACHE_BYTES`: the in-process pull page cache's bound (0: off).
    pub pull_cache_bytes: u64,
    /// `JEKCMS_PULL_LEASE_MS`: how long an instance trusts a pull key's site as it read it,
    /// and how long every write waits after its commit before it is answered (0: off; the
    /// same on every instance and for the operator's CLI).
    pub pull_lease: Duration,
    /// `JEKCMS_CORS_ORIGINS`: origins allowed to call all of `/api/v2` from a browser.
    pub cors_origins: crate::cors::CorsOrigins,
    /// `JEKCMS_WEBHOOK_ALLOW_INSECURE`: webhook URLs may be `http://` (development, tests).
    pub webhook_allow_insecure: bool,
    /// `JEKCMS_WEBHOOK_ALLOW_PRIVATE`: webhook URLs may reach loopback, private and other
    /// non-public addresses (development, tests).
    pub webhook_allow_private: bool,
    /// `JEKCMS_WEBHOOK_CONCURRENCY`: deliveries in flight at once from this instance (0: this
    /// instance delivers none).
    pub webhook_concurrency: usize,
    /// `JEKCMS_WEBHOOK_LEASE`: how long a claimed delivery is this instance's; if it dies
    /// mid-attempt, another instance (or itself restarted) retries after this. Longer than
    /// the 10-second attempt deadline.
    pub webhook_lease: Duration,
    /// `JEKCMS_WORKERS`: worker threads (default: one per available core). A container
    /// limited to fewer cores than its host shows wants it set.
    pub workers: Option<usize>,
}

/// The per-site quotas of each plan (API.md §8), Blogree's numbers unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanQuotas {
    /// `starter`: 100 and 500 an hour.
    pub starter: SiteQuotas,
    /// `pro`: 1,000 and 5,000 an hour.
    pub pro: SiteQuotas,
    /// `agency`: 10,000 and 50,000 an hour.
    pub agency: SiteQuotas,
    /// `unlimited`: none.
    pub unlimited: SiteQuotas,
}

impl PlanQuotas {
    /// The quotas of `plan`.
    pub const fn get(&self, plan: Plan) -> SiteQuotas {
        match plan {
            Plan::Starter => self.starter,
            Plan::Pro => self.pro,
            Plan::Agency => self.agency,
            Plan::Unlimited => self.unlimited,
        }
    }

    /// The variable that configures `plan`, and its default value.
    pub const fn variable(plan: Plan) -> (&'static str, &'static str) {
        match plan {
            Plan::Starter => ("JEKCMS_PLAN_STARTER", "100/hour,500/hour"),
            Plan::Pro => ("JEKCMS_PLAN_PRO", "1000/hour,5000/hour"),
            Plan::Agency => ("JEKCMS_PLAN_AGENCY", "10000/hour,50000/hour"),
            Plan::Unlimited => ("JEKCMS_PLAN_UNLIMITED", "none,none"),
        }
    }
}

/// How long the server waits for the database before answering 503 (or, at start-up,
/// giving up); see [`jekcms_store::StoreOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    /// Opening a PostgreSQL connection.
    pub connect: Duration,
    /// Waiting for a free pooled connection.
    pub acquire: Duration,
    /// One PostgreSQL statement.
    pub statement: Duration,
    /// Retrying an unreachable PostgreSQL server at start-up.
    pub startup: Duration,
}

impl Config {
    /// Where webhooks may point (`JEKCMS_WEBHOOK_ALLOW_INSECURE`, `_PRIVATE`).
    pub fn webhook_policy(&self) -> jekcms_webhooks::target::TargetPolicy {
        jekcms_webhooks::target::TargetPolicy {
            allow_insecure: self.webhook_allow_insecure,
            allow_private: self.webhook_allow_private,
        }
    }

    /// The store settings this configuration asks for.
    pub fn store_options(&self) -> jekcms_store::StoreOptions {
        jekcms_store::StoreOptions {
            acquire_timeout: self.db_timeouts.acquire,
            connect_timeout: self.db_timeouts.connect,
            statement_timeout: self.db_timeouts.statement,
            startup_timeout: self.db_timeouts.startup,
            ..Default::default()
        }
    }
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// Every variable the server reads; the keys a `jekcms.toml` may set.
pub const VARIABLES: &[&str] = &[
    "JEKCMS_DATABASE_URL",
    "JEKCMS_BIND",
    "JEKCMS_ACCESS_TOKEN_TTL",
    "JEKCMS_REFRESH_TOKEN_TTL",
    "JEKCMS_REFRESH_REUSE_GRACE",
    "JEKCMS_RATE_LIMIT_STANDARD",
    "JEKCMS_RATE_LIMIT_ADMIN",
    "JEKCMS_RATE_LIMIT_AUTH",
    "JEKCMS_PLAN_STARTER",
    "JEKCMS_PLAN_PRO",
    "JEKCMS_PLAN_AGENCY",
    "JEKCMS_PLAN_UNLIMITED",
    "JEKCMS_DEFAULT_PLAN",
    "JEKCMS_SECRET_KEY",
    "JEKCMS_SECRET_KEY_FILE",
    "JEKCMS_MEDIA_DIR",
    "JEKCMS_MEDIA_STORE",
    "JEKCMS_S3_ADDRESSING",
    "JEKCMS_MAX_UPLOAD_BYTES",
    "JEKCMS_V1_ENABLED",
    "JEKCMS_OPEN_REGISTRATION",
    "JEKCMS_REDIS_URL",
    "JEKCMS_REDIS_PREFIX",
    "JEKCMS_TRUSTED_PROXIES",
    "JEKCMS_LOG",
    "JEKCMS_LOG_FORMAT",
    "JEKCMS_IDEMPOTENCY_LEASE",
    "JEKCMS_DB_CONNECT_TIMEOUT",
    "JEKCMS_DB_ACQUIRE_TIMEOUT",
    "JEKCMS_DB_STATEMENT_TIMEOUT",
    "JEKCMS_DB_STARTUP_TIMEOUT",
    "JEKCMS_SHUTDOWN_TIMEOUT",
    "JEKCMS_BODY_TIMEOUT",
    "JEKCMS_BODY_MIN_RATE",
    "JEKCMS_KEEP_ALIVE",
    "JEKCMS_MAX_CONNECTIONS",
    "JEKCMS_METRICS",
    "JEKCMS_METRICS_BIND",
    "JEKCMS_PULL_MAX_AGE",
    "JEKCMS_PULL_CACHE_BYTES",
    "JEKCMS_PULL_LEASE_MS",
    "JEKCMS_CORS_ORIGINS",
    "JEKCMS_WORKERS",
];

/// How log lines are written (`JEKCMS_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level, for log pipelines.
    Json,
}

/// The optional configuration file, read from the working directory.
pub const CONFIG_FILE: &str = "jekcms.toml";

impl Config {
    /// Reads `jekcms.toml` (if present) and the process environment, which wins.
    pub fn from_env() -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(CONFIG_FILE) {
            Ok(text) => parse_file(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => {
                return Err(ConfigError {
                    var: CONFIG_FILE,
                    message: format!("cannot read it: {e}"),
                });
            }
        };
        Self::from_lookup(|k| std::env::var(k).ok().or_else(|| file.get(k).cloned()))
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let val = |var: &'static str| get(var).filter(|v| !v.is_empty());
        let err = |var: &'static str, message: &str| ConfigError {
            var,
            message: message.to_owned(),
        };
        let secs = |var: &'static str,
                    default: u64,
                    range: std::ops::RangeInclusive<u64>|
         -> Result<Duration, ConfigError> {
            match val(var) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if range.contains(&n) => Ok(Duration::from_secs(n)),
                    _ => Err(err(
                        var,
                        &format!(
                            "expected a whole number of seconds from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )),
                },
            }
        };
        let quota = |var: &'static str, default: &str| -> Result<Option<Quota>, ConfigError> {
            let raw = val(var).unwrap_or_else(|| default.to_owned());
            Quota::parse_setting(&raw).map_err(|e| err(var, &format!("{e}, or off")))
        };
        let plan_quotas = |plan: Plan| -> Result<SiteQuotas, ConfigError> {
            let (var, default) = PlanQuotas::variable(plan);
            let raw = val(var).unwrap_or_else(|| default.to_owned());
            SiteQuotas::parse(&raw).map_err(|e| err(var, &e.to_string()))
        };
        let flag = |var: &'static str, default: bool| -> Result<bool, ConfigError> {
            match val(var).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => Ok(default),
                Some("true" | "1" | "yes" | "on") => Ok(true),
                Some("false" | "0" | "no" | "off") => Ok(false),
                Some(_) => Err(err(var, "expected true or false")),
            }
        };

        let database_url =
            val("JEKCMS_DATABASE_URL").unwrap_or_else(|| "sqlite://jekcms.db".into());
        jekcms_store::parse_url(&database_url).map_err(|_| {
            err(
                "JEKCMS_DATABASE_URL",
                "expected sqlite://PATH, sqlite::memory: or postgres://…",
            )
        })?;
        let bind = val("JEKCMS_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| err("JEKCMS_BIND", "expected HOST:PORT, e.g. 127.0.0.1:8080"))?;
        let secret_key = match val("JEKCMS_SECRET_KEY") {
            None => None,
            Some(hex_key) => {
                Some(parse_secret_key(&hex_key).map_err(|m| err("JEKCMS_SECRET_KEY", &m))?)
            }
        };
        let max_upload_bytes = match val("JEKCMS_MAX_UPLOAD_BYTES") {
            None => 26_214_400,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    err(
                        "JEKCMS_MAX_UPLOAD_BYTES",
                        "expected a positive number of bytes",
                    )
                })?,
        };
        let media_store = match val("JEKCMS_MEDIA_STORE") {
            None => None,
            Some(url) => {
                let location = jekcms_media_store::S3Location::parse(url.trim())
                    .map_err(|m| err("JEKCMS_MEDIA_STORE", &m))?;
                Some(
                    jekcms_media_store::S3Settings::from_lookup(location, &get)
                        .map_err(|(var, m)| err(var, &m))?,
                )
            }
        };
        let redis_url = match val("JEKCMS_REDIS_URL") {
            None => None,
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => Some(u),
            Some(_) => return Err(err("JEKCMS_REDIS_URL", "expected redis://HOST:PORT")),
        };
        let trusted_proxies = match val("JEKCMS_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|p| p.trim().parse::<IpAddr>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    err(
                        "JEKCMS_TRUSTED_PROXIES",
                        "expected a comma-separated list of IP addresses",
                    )
                })?,
        };
        let count = |var: &'static str, default: u64, min: u64| -> Result<u64, ConfigError> {
            match val(var) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| err(var, &format!("expected a whole number ≥ {min}"))),
            }
        };
        let access_token_ttl = secs("JEKCMS_ACCESS_TOKEN_TTL", 900, 1..=MAX_ACCESS_TOKEN_TTL)?;
        let refresh_token_ttl = secs(
            "JEKCMS_REFRESH_TOKEN_TTL",
            2_592_000,
            1..=MAX_REFRESH_TOKEN_TTL,
        )?;
        let metrics_bind = match val("JEKCMS_METRICS_BIND") {
            None => None,
            Some(v) => Some(v.trim().parse::<SocketAddr>().map_err(|_| {
                err(
                    "JEKCMS_METRICS_BIND",
                    "expected HOST:PORT, e.g. 127.0.0.1:9090",
                )
            })?),
        };
        if metrics_bind.is_some_and(|m| m == bind && m.port() != 0) {
            return Err(err(
                "JEKCMS_METRICS_BIND",
                "must differ from JEKCMS_BIND (the metrics address is separate)",
            ));
        }
        // A separate metrics address turns metrics on; explicitly off as well is a mistake.
        let metrics = flag("JEKCMS_METRICS", metrics_bind.is_some())?;
        if metrics_bind.is_some() && !metrics {
            return Err(err(
                "JEKCMS_METRICS_BIND",
                "set while JEKCMS_METRICS is false; unset one of them",
            ));
        }
        let log = val("JEKCMS_LOG").unwrap_or_else(|| "info".into());
        log_filter(&log).map_err(|m| err("JEKCMS_LOG", &m))?;
        let log_format = match val("JEKCMS_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(err("JEKCMS_LOG_FORMAT", "expected text or json")),
        };
        let plans = PlanQuotas {
            starter: plan_quotas(Plan::Starter)?,
            pro: plan_quotas(Plan::Pro)?,
            agency: plan_quotas(Plan::Agency)?,
            unlimited: plan_quotas(Plan::Unlimited)?,
        };
        let default_plan = match val("JEKCMS_DEFAULT_PLAN") {
            None => Plan::default(),
            Some(p) => p
                .trim()
                .parse()
                .map_err(|e: jekcms_auth::plan::UnknownPlan| {
                    err("JEKCMS_DEFAULT_PLAN", &e.to_string())
                })?,
        };
        Ok(Self {
            database_url,
            bind,
            access_token_ttl,
            refresh_token_ttl,
            refresh_reuse_grace: secs("JEKCMS_REFRESH_REUSE_GRACE", 10, 0..=MAX_REUSE_GRACE)?,
            rate_limit_standard: quota("JEKCMS_RATE_LIMIT_STANDARD", "60/min")?,
            rate_limit_admin: quota("JEKCMS_RATE_LIMIT_ADMIN", "300/min")?,
            rate_limit_auth: quota("JEKCMS_RATE_LIMIT_AUTH", "10/min")?,
            plans,
            default_plan,
            secret_key,
            secret_key_file: val("JEKCMS_SECRET_KEY_FILE").map(PathBuf::from),
            media_dir: val("JEKCMS_MEDIA_DIR")
                .unwrap_or_else(|| "./media".into())
                .into(),
            media_store,
            max_upload_bytes,
            v1_enabled: flag("JEKCMS_V1_ENABLED", true)?,
            open_registration: flag("JEKCMS_OPEN_REGISTRATION", false)?,
            redis_url,
            redis_prefix: val("JEKCMS_REDIS_PREFIX").unwrap_or_else(|| "jekcms:".into()),
            trusted_proxies,
            log,
            log_format,
            idempotency_lease: secs(
                "JEKCMS_IDEMPOTENCY_LEASE",
                jekcms_content::idempotency::DEFAULT_LEASE.as_secs(),
                1..=86_400,
            )?,
            activity_retention: Duration::from_secs(
                count("JEKCMS_ACTIVITY_RETENTION_DAYS", 90, 1)?.min(36_500) * 86_400,
            ),
            pull_max_age: secs("JEKCMS_PULL_MAX_AGE", 60, 0..=31_536_000)?,
            pull_cache_bytes: count("JEKCMS_PULL_CACHE_BYTES", 64 * 1024 * 1024, 0)?,
            pull_lease: match count("JEKCMS_PULL_LEASE_MS", 0, 0)? {
                ms @ 0..=MAX_PULL_LEASE_MS => Duration::from_millis(ms),
                _ => {
                    return Err(err(
                        "JEKCMS_PULL_LEASE_MS",
                        &format!(
                            "expected a whole number of milliseconds from 0 to {MAX_PULL_LEASE_MS}"
                        ),
                    ));
                }
            },
            cors_origins: crate::cors::CorsOrigins::parse(
                &val("JEKCMS_CORS_ORIGINS").unwrap_or_default(),
            )
            .map_err(|m| err("JEKCMS_CORS_ORIGINS", &m))?,
            webhook_allow_insecure: flag("JEKCMS_WEBHOOK_ALLOW_INSECURE", false)?,
            webhook_allow_private: flag("JEKCMS_WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_concurrency: usize::try_from(count("JEKCMS_WEBHOOK_CONCURRENCY", 64, 0)?)
                .unwrap_or(usize::MAX)
                .min(4096),
            webhook_lease: secs("JEKCMS_WEBHOOK_LEASE", 30, 11..=3600)?,
            workers: match val("JEKCMS_WORKERS") {
                None => None,
                Some(_) => Some(
                    usize::try_from(count("JEKCMS_WORKERS", 0, 1)?)
                        .unwrap_or(usize::MAX)
                        .min(1024),
                ),
            },
            db_timeouts: DbTimeouts {
                connect: secs("JEKCMS_DB_CONNECT_TIMEOUT", 5, 1..=86_400)?,
                acquire: secs("JEKCMS_DB_ACQUIRE_TIMEOUT", 5, 1..=86_400)?,
                statement: secs("JEKCMS_DB_STATEMENT_TIMEOUT", 5, 1..=86_400)?,
                startup: secs("JEKCMS_DB_STARTUP_TIMEOUT", 30, 0..=86_400)?,
            },
            shutdown_timeout: secs("JEKCMS_SHUTDOWN_TIMEOUT", 30, 0..=86_400)?,
            body_timeout: secs("JEKCMS_BODY_TIMEOUT", 20, 1..=86_400)?,
            body_min_rate: count("JEKCMS_BODY_MIN_RATE", 1024, 0)?,
            keep_alive: secs("JEKCMS_KEEP_ALIVE", 5, 0..=86_400)?,
            max_connections: usize::try_from(count("JEKCMS_MAX_CONNECTIONS", 25_000, 1)?)
                .unwrap_or(usize::MAX),
            metrics,
            metrics_bind,
        })
    }
}

/// Longest `JEKCMS_ACCESS_TOKEN_TTL`: a day. Access tokens are not checked against a
/// revocation list by clients, so they stay short; the bound also keeps expiry times
/// representable (a huge TTL used to start the server and then fail every exchange).
pub const MAX_ACCESS_TOKEN_TTL: u64 = 86_400;
/// Longest `JEKCMS_REFRESH_TOKEN_TTL`: 366 days.
pub const MAX_REFRESH_TOKEN_TTL: u64 = 366 * 86_400;
/// Longest `JEKCMS_REFRESH_REUSE_GRACE`: an hour.
pub const MAX_REUSE_GRACE: u64 = 3_600;

/// The longest pull lease, in milliseconds: every write waits this long before its answer.
pub const MAX_PULL_LEASE_MS: u64 = 1_000;

/// Reads `JEKCMS_LOG`: comma-separated directives, each a level (`trace`, `debug`, `info`,
/// `warn`, `error`, `off`) for everything or `target=level`, e.g. `warn,jekcms=debug`.
///
/// Stricter than tracing-subscriber's `Targets`, which takes a bare word such as `verbose`
/// or `json` as a target name: with no default level left, that filter logs nothing at all.
pub fn log_filter(spec: &str) -> Result<tracing_subscriber::filter::Targets, String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    let bad = || {
        "expected a level (trace, debug, info, warn, error, off) and target=level directives, \
         e.g. warn,jekcms=debug"
            .to_owned()
    };
    for directive in spec.split(',') {
        let well_formed = match directive.split_once('=') {
            None => is_level(directive),
            Some((target, level)) => {
                let target = target.trim();
                !target.is_empty()
                    && target
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b))
                    && is_level(level)
            }
        };
        if !well_formed {
            return Err(bad());
        }
    }
    spec.parse().map_err(|_| bad())
}

/// How to make a key, for the messages that ask for one.
pub const MAKE_A_KEY: &str = "make one with `openssl rand -hex 32`";

/// Reads a secret key: 64 hex characters, not all zero (a placeholder, not a secret).
pub fn parse_secret_key(hex_key: &str) -> Result<[u8; 32], String> {
    let key = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("expected 64 hex characters (32 bytes); {MAKE_A_KEY}"))?;
    if key == [0; 32] {
        return Err(format!(
            "an all-zero key seals nothing anyone could not forge; {MAKE_A_KEY}"
        ));
    }
    Ok(key)
}

/// Reads a `jekcms.toml`: a flat table whose keys are the variable names (`JEKCMS_BIND`) or
/// the same in lower case without the prefix (`bind`); values are strings, integers or
/// booleans. An unknown key is an error, so a typo is not silently ignored.
pub fn parse_file(text: &str) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let bad = |message: String| ConfigError {
        var: CONFIG_FILE,
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("not valid TOML: {}", e.message())))?;
    let mut values = std::collections::HashMap::new();
    for (key, value) in table {
        let var = if key.starts_with("JEKCMS_") {
            key.clone()
        } else {
            format!("JEKCMS_{}", key.to_ascii_uppercase())
        };
        if !VARIABLES.contains(&var.as_str()) {
            return Err(bad(format!("unknown key {key}")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(bad(format!(
                    "{key} must be a string, an integer or a boolean"
                )));
            }
        };
        values.insert(var, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = with(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://jekcms.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(c.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(
            c.rate_limit_standard,
            Quota::new(60, Duration::from_secs(60))
        );
        assert_eq!(c.rate_limit_admin, Quota::new(300, Duration::from_secs(60)));
        assert_eq!(c.rate_limit_auth, Quota::new(10, Duration::from_secs(60)));
        assert!(c.trusted_proxies.is_empty());
        let off = with(&[("JEKCMS_RATE_LIMIT_AUTH", "off")]).unwrap();
        assert_eq!(off.rate_limit_auth, None);
        assert_eq!(c.max_upload_bytes, 26_214_400);
        assert!(c.v1_enabled && !c.open_registration && c.secret_key.is_none());
        assert_eq!(c.idempotency_lease, Duration::from_secs(30));
        let store = c.store_options();
        assert_eq!(
            (
                store.connect_timeout,
                store.acquire_timeout,
                store.statement_timeout,
                store.startup_timeout
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_secs(30)
            )
        );
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.body_timeout, Duration::from_secs(20));
        assert_eq!(c.body_min_rate, 1024);
        assert_eq!(c.keep_alive, Duration::from_secs(5));
        assert_eq!(c.max_connections, 25_000);
    }

    #[test]
    fn the_file_supplies_the_same_keys() {
        let values = parse_file(
            "JEKCMS_BIND = \"127.0.0.1:9090\"\nmax_upload_bytes = 1024\nv1_enabled = false\n",
        )
        .unwrap();
        let c = Config::from_lookup(|k| values.get(k).cloned()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:9090");
        assert_eq!(c.max_upload_bytes, 1024);
        assert!(!c.v1_enabled);
        for bad in ["bnid = \"x\"", "bind = [1]", "not toml ="] {
            let e = parse_file(bad).unwrap_err();
            assert_eq!(e.var, CONFIG_FILE, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let all_zero = "0".repeat(64);
        for (var, value) in [
            ("JEKCMS_DATABASE_URL", "mysql://x"),
            ("JEKCMS_BIND", "nowhere"),
            ("JEKCMS_RATE_LIMIT_STANDARD", "abc/min"),
            ("JEKCMS_RATE_LIMIT_AUTH", "10/fortnight"),
            ("JEKCMS_SECRET_KEY", "abcd"),
            ("JEKCMS_SECRET_KEY", all_zero.as_str()),
            ("JEKCMS_ACCESS_TOKEN_TTL", "soon"),
            ("JEKCMS_V1_ENABLED", "maybe"),
            ("JEKCMS_MAX_UPLOAD_BYTES", "0"),
            ("JEKCMS_REDIS_URL", "localhost"),
            ("JEKCMS_TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
            ("JEKCMS_DB_STATEMENT_TIMEOUT", "0"),
            ("JEKCMS_DB_CONNECT_TIMEOUT", "2s"),
            ("JEKCMS_SHUTDOWN_TIMEOUT", "-1"),
            ("JEKCMS_BODY_TIMEOUT", "0"),
            ("JEKCMS_BODY_MIN_RATE", "fast"),
            ("JEKCMS_KEEP_ALIVE", "5s"),
            ("JEKCMS_WEBHOOK_ALLOW_PRIVATE", "sometimes"),
            ("JEKCMS_WEBHOOK_LEASE", "10"),
            ("JEKCMS_WEBHOOK_CONCURRENCY", "-1"),
            ("JEKCMS_MAX_CONNECTIONS", "0"),
            ("JEKCMS_ACCESS_TOKEN_TTL", "86401"),
            ("JEKCMS_ACCESS_TOKEN_TTL", "18446744073709551615"),
            ("JEKCMS_REFRESH_TOKEN_TTL", "9223372036854775807"),
            ("JEKCMS_REFRESH_TOKEN_TTL", "31622401"),
            ("JEKCMS_REFRESH_REUSE_GRACE", "3601"),
            ("JEKCMS_LOG", "verbose"),
            ("JEKCMS_LOG", "json"),
            ("JEKCMS_LOG", "info,jekcms"),
            ("JEKCMS_LOG", "jekcms=loud"),
            ("JEKCMS_LOG_FORMAT", "yaml"),
            ("JEKCMS_LOG", "info,"),
            ("JEKCMS_METRICS", "sometimes"),
            ("JEKCMS_METRICS_BIND", "9090"),
            ("JEKCMS_METRICS_BIND", "127.0.0.1:8080"),
            ("JEKCMS_PLAN_STARTER", "100/hour"),
            ("JEKCMS_PLAN_PRO", "1000/day,none"),
            ("JEKCMS_PLAN_AGENCY", "0/hour,1/hour"),
            ("JEKCMS_PLAN_UNLIMITED", "off,off"),
            ("JEKCMS_DEFAULT_PLAN", "free"),
            ("JEKCMS_DEFAULT_PLAN", "Starter"),
            ("JEKCMS_WORKERS", "0"),
            ("JEKCMS_WORKERS", "two"),
            ("JEKCMS_CORS_ORIGINS", "https://a.example/"),
            ("JEKCMS_CORS_ORIGINS", "*, https://a.example"),
            ("JEKCMS_PULL_MAX_AGE", "1m"),
            ("JEKCMS_PULL_CACHE_BYTES", "-1"),
            ("JEKCMS_PULL_LEASE_MS", "1001"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(var));
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn plans_have_blogrees_numbers_unless_configured() {
        let hour = |n| Quota::new(n, Duration::from_secs(3600));
        let c = with(&[]).unwrap();
        assert_eq!(c.default_plan, Plan::Unlimited);
        let table = [
            (Plan::Starter, hour(100), hour(500)),
            (Plan::Pro, hour(1000), hour(5000)),
            (Plan::Agency, hour(10_000), hour(50_000)),
            (Plan::Unlimited, None, None),
        ];
        for (plan, management, pull) in table {
            assert_eq!(c.plans.get(plan), SiteQuotas { management, pull }, "{plan}");
        }
        let c = with(&[
            ("JEKCMS_PLAN_STARTER", "10/min,none"),
            ("JEKCMS_PLAN_UNLIMITED", "none,100000/s"),
            ("JEKCMS_DEFAULT_PLAN", "starter"),
        ])
        .unwrap();
        assert_eq!(c.default_plan, Plan::Starter);
        assert_eq!(
            c.plans.starter,
            SiteQuotas {
                management: Quota::new(10, Duration::from_secs(60)),
                pull: None
            }
        );
        assert_eq!(
            c.plans.unlimited.pull,
            Quota::new(100_000, Duration::from_secs(1))
        );
        assert_eq!(
            c.plans.pro.management,
            hour(1000),
            "the others keep their defaults"
        );
        let file = parse_file("plan_pro = \"5/s,6/s\"\ndefault_plan = \"pro\"\n").unwrap();
        let c = Config::from_lookup(|k| file.get(k).cloned()).unwrap();
        assert_eq!(
            (c.default_plan, c.plans.pro.pull),
            (Plan::Pro, Quota::new(6, Duration::from_secs(1)))
        );
    }

    #[test]
    fn metrics_are_off_unless_asked_for() {
        let c = with(&[]).unwrap();
        assert!(!c.metrics && c.metrics_bind.is_none());
        assert!(with(&[("JEKCMS_METRICS", "true")]).unwrap().metrics);
        // A separate address turns them on, served there only.
        let apart = with(&[("JEKCMS_METRICS_BIND", "127.0.0.1:9090")]).unwrap();
        assert!(apart.metrics);
        assert_eq!(apart.metrics_bind, Some("127.0.0.1:9090".parse().unwrap()));
        let both = [
            ("JEKCMS_METRICS_BIND", "127.0.0.1:9090"),
            ("JEKCMS_METRICS", "false"),
        ];
        assert_eq!(with(&both).unwrap_err().var, "JEKCMS_METRICS_BIND");
    }

    #[test]
    fn bounds_and_filters_that_are_accepted() {
        let c = with(&[
            ("JEKCMS_ACCESS_TOKEN_TTL", "86400"),
            ("JEKCMS_REFRESH_TOKEN_TTL", "31622400"),
            ("JEKCMS_REFRESH_REUSE_GRACE", "0"),
        ])
        .unwrap();
        assert_eq!(
            c.access_token_ttl,
            Duration::from_secs(MAX_ACCESS_TOKEN_TTL)
        );
        assert_eq!(
            c.refresh_token_ttl,
            Duration::from_secs(MAX_REFRESH_TOKEN_TTL)
        );
        // The largest lifetimes still make representable expiry times.
        let now = chrono::Utc::now();
        let access = chrono::Duration::from_std(c.access_token_ttl).unwrap();
        let refresh = chrono::Duration::from_std(c.refresh_token_ttl).unwrap();
        assert!(now.checked_add_signed(access).is_some());
        assert!(now.checked_add_signed(refresh).is_some());
        for spec in [
            "info",
            "WARN",
            "off",
            "warn,jekcms=debug",
            "jekcms_store::posts=trace",
        ] {
            assert!(with(&[("JEKCMS_LOG", spec)]).is_ok(), "{spec}");
        }
    }
}
