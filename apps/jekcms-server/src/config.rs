//! Configuration from `JEKCMS_*` environment variables (API.md §0), optionally supplied by a
//! `jekcms.toml` in the working directory with the same keys; the environment wins. A bad
//! value stops start-up with one line naming the variable; nothing is half-started.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use jekcms_ratelimit::Quota;

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
    /// `JEKCMS_SECRET_KEY`; required with PostgreSQL. When absent on SQLite, the key is
    /// generated once and kept in [`Config::secret_key_file`], never in the database.
    pub secret_key: Option<[u8; 32]>,
    /// `JEKCMS_SECRET_KEY_FILE`: where SQLite keeps its generated key (default: the database
    /// file's path plus `.key`).
    pub secret_key_file: Option<PathBuf>,
    /// `JEKCMS_MEDIA_DIR`
    pub media_dir: PathBuf,
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
pub const VARIABLES: [&str; 18] = [
    "JEKCMS_DATABASE_URL",
    "JEKCMS_BIND",
    "JEKCMS_ACCESS_TOKEN_TTL",
    "JEKCMS_REFRESH_TOKEN_TTL",
    "JEKCMS_REFRESH_REUSE_GRACE",
    "JEKCMS_RATE_LIMIT_STANDARD",
    "JEKCMS_RATE_LIMIT_ADMIN",
    "JEKCMS_RATE_LIMIT_AUTH",
    "JEKCMS_SECRET_KEY",
    "JEKCMS_SECRET_KEY_FILE",
    "JEKCMS_MEDIA_DIR",
    "JEKCMS_MAX_UPLOAD_BYTES",
    "JEKCMS_V1_ENABLED",
    "JEKCMS_OPEN_REGISTRATION",
    "JEKCMS_REDIS_URL",
    "JEKCMS_REDIS_PREFIX",
    "JEKCMS_TRUSTED_PROXIES",
    "JEKCMS_LOG",
];

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
        let secs = |var: &'static str, default: u64, min: u64| -> Result<Duration, ConfigError> {
            match val(var) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(Duration::from_secs(n)),
                    _ => Err(err(
                        var,
                        &format!("expected a whole number of seconds ≥ {min}"),
                    )),
                },
            }
        };
        let quota = |var: &'static str, default: &str| -> Result<Option<Quota>, ConfigError> {
            let raw = val(var).unwrap_or_else(|| default.to_owned());
            Quota::parse_setting(&raw).map_err(|e| err(var, &format!("{e}, or off")))
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
        let access_token_ttl = secs("JEKCMS_ACCESS_TOKEN_TTL", 900, 1)?;
        let refresh_token_ttl = secs("JEKCMS_REFRESH_TOKEN_TTL", 2_592_000, 1)?;
        Ok(Self {
            database_url,
            bind,
            access_token_ttl,
            refresh_token_ttl,
            refresh_reuse_grace: secs("JEKCMS_REFRESH_REUSE_GRACE", 10, 0)?,
            rate_limit_standard: quota("JEKCMS_RATE_LIMIT_STANDARD", "60/min")?,
            rate_limit_admin: quota("JEKCMS_RATE_LIMIT_ADMIN", "300/min")?,
            rate_limit_auth: quota("JEKCMS_RATE_LIMIT_AUTH", "10/min")?,
            secret_key,
            secret_key_file: val("JEKCMS_SECRET_KEY_FILE").map(PathBuf::from),
            media_dir: val("JEKCMS_MEDIA_DIR")
                .unwrap_or_else(|| "./media".into())
                .into(),
            max_upload_bytes,
            v1_enabled: flag("JEKCMS_V1_ENABLED", true)?,
            open_registration: flag("JEKCMS_OPEN_REGISTRATION", false)?,
            redis_url,
            redis_prefix: val("JEKCMS_REDIS_PREFIX").unwrap_or_else(|| "jekcms:".into()),
            trusted_proxies,
            log: val("JEKCMS_LOG").unwrap_or_else(|| "info".into()),
        })
    }
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
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(var));
        }
    }
}
