//! Quotas shared by several instances through Redis: the same GCRA as in process, run
//! atomically in one round trip by a Lua script that reads the clock of Redis itself, so all
//! instances agree on time.
//!
//! Redis failing must not take the API down: on any error the caller falls back to the
//! in-process limiter, Redis is left alone for a second, and a warning is logged at most
//! once a minute. The connection manager reconnects by itself when Redis is back.

use crate::{Decision, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thread_local::ThreadLocal;

/// GCRA over one key. ARGV: interval (µs per request), burst (requests).
/// Returns {allowed, remaining, reset_after_us, retry_after_us}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local capacity = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - capacity
if allow_at > now then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now + capacity - new_tat) / interval), new_tat - now, 0}
"#;

/// How long Redis is left alone after a failure.
const BACKOFF: Duration = Duration::from_secs(1);

/// A Redis-backed quota store.
pub(crate) struct RedisStore {
    client: redis::Client,
    /// A connection per thread: a Redis connection is driven by a task on the runtime that
    /// opened it, and a command sent from another thread costs two cross-thread wake-ups
    /// (an HTTP worker is a single-threaded runtime of its own).
    conns: ThreadLocal<Mutex<Option<ConnectionManager>>>,
    script: redis::Script,
    prefix: String,
    down_until_ms: AtomicU64,
    last_warning_ms: AtomicU64,
    failing: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RedisStore {
    pub(crate) fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conns: ThreadLocal::new(),
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
            down_until_ms: AtomicU64::new(0),
            last_warning_ms: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// The shared decision for `key`, or `None` when Redis cannot answer right now.
    ///
    /// Boxed: the body of an `async fn` (here the Redis client's connection and script
    /// machinery) is compiled in every crate that awaits it; as `dyn Future` it is compiled
    /// once, here.
    pub(crate) fn check<'a>(
        &'a self,
        key: &'a str,
        quota: Quota,
        policy: &'static str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Decision>> + Send + 'a>> {
        Box::pin(self.check_unboxed(key, quota, policy))
    }

    async fn check_unboxed(
        &self,
        key: &str,
        quota: Quota,
        policy: &'static str,
    ) -> Option<Decision> {
        if now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let mut conn = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                self.failed(&e);
                return None;
            }
        };
        let interval = quota.interval().as_micros().max(1) as i64;
        let result: Result<(i64, i64, i64, i64), _> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(interval)
            .arg(quota.requests.get())
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok((allowed, remaining, reset_us, retry_us)) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis is reachable again; quotas are shared across instances");
                }
                let micros = |v: i64| Duration::from_micros(v.max(0) as u64);
                Some(Decision {
                    allowed: allowed == 1,
                    quota,
                    remaining: remaining.max(0) as u32,
                    reset_after: micros(reset_us),
                    retry_after: (allowed != 1).then(|| micros(retry_us)),
                    policy,
                })
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let slot = self.conns.get_or_default();
        if let Some(c) = slot.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(c);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(200))
            .set_response_timeout(Duration::from_millis(200))
            .set_number_of_retries(1);
        let c = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    fn failed(&self, error: &redis::RedisError) {
        let now = now_ms();
        self.down_until_ms
            .store(now + BACKOFF.as_millis() as u64, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = %error,
                "redis is unreachable; quotas are counted per instance until it returns"
            );
        }
    }
}
