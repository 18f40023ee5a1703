//! Request quotas: one per credential (two tiers) and one per client IP for the
//! unauthenticated auth endpoints (API.md §6), and the header values that describe them.
//!
//! A per-credential quota belongs to the API key (every session opened from it, and its v1
//! calls, draw from one bucket) or, for password sessions, to the user: opening more sessions
//! buys no more requests. IPv6 clients are counted per /64, the block one subscriber usually
//! holds, so rotating addresses within it buys nothing either.
//!
//! [`Limiter`] keeps GCRA state in process with `governor`: a quota of N per period lets N
//! requests through at once and refills one every period/N, so "reset" is the time until the
//! bucket is full again. [`Decision::headers`] turns an outcome into `X-RateLimit-*`,
//! `RateLimit-Policy`/`RateLimit` (draft-ietf-httpapi-ratelimit-headers) and `Retry-After`.
//!
//! [`RateLimiter`] is what the app holds: the in-process [`Limiter`], or with the `redis`
//! feature and a URL, quotas shared by every instance through Redis (falling back to the
//! in-process limiter whenever Redis cannot answer).
//!
//! A site's plan adds per-site quotas ([`SiteQuotas`], [`SiteApi`]): the management API's,
//! counted over every credential of the site, and the pull API's. Their quota comes with each
//! check ([`RateLimiter::check_site`]), as the plan may change between two requests. When
//! several quotas apply to one request, [`Decisions`] gathers them and writes one set of
//! headers.
//!
//! No HTTP framework here: the app asks for a [`Decision`] and writes the headers itself.
//!
//! ```
//! use jekcms_ratelimit::{Limiter, Quota};
//!
//! let limiter = Limiter::new(
//!     Quota::parse("2/min").unwrap(),  // standard tier
//!     Quota::parse("10/min").unwrap(), // admin tier
//!     Quota::parse("5/s").unwrap(),    // per client IP
//! );
//! let first = limiter.check_api_key(7, false);
//! assert!(first.allowed);
//! assert_eq!(first.remaining, 1);
//! assert!(limiter.check_api_key(7, false).allowed);
//! let refused = limiter.check_api_key(7, false);
//! assert!(!refused.allowed);
//! assert_eq!(refused.retry_after_secs(), Some(30));
//! assert!(limiter.check_api_key(8, false).allowed, "another key has its own quota");
//!
//! let headers = refused.headers(1_800_000_000);
//! assert!(headers.contains(&("ratelimit-policy", "\"key\";q=2;w=60".to_owned())));
//! assert!(headers.contains(&("retry-after", "30".to_owned())));
//! ```

mod decisions;
mod site;

pub use decisions::Decisions;
pub use site::{BadSiteQuotas, SiteApi, SiteQuotas};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A quota such as `60/min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests allowed per period (also the burst).
    pub requests: NonZeroU32,
    /// The period.
    pub period: Duration,
}

/// A quota string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected N/s, N/min or N/hour with N ≥ 1")]
pub struct BadQuota;

impl Quota {
    /// `requests` per `period`.
    pub fn new(requests: u32, period: Duration) -> Option<Self> {
        Some(Self {
            requests: NonZeroU32::new(requests)?,
            period: (period > Duration::ZERO).then_some(period)?,
        })
    }

    /// Parses `N/s`, `N/min` or `N/hour` (N ≥ 1).
    pub fn parse(s: &str) -> Result<Self, BadQuota> {
        let (n, unit) = s.trim().split_once('/').ok_or(BadQuota)?;
        let requests: u32 = n.trim().parse().map_err(|_| BadQuota)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(BadQuota),
        };
        Self::new(requests, period).ok_or(BadQuota)
    }

    /// Parses a setting: a quota, or `off` for none (e.g. behind a gateway that limits).
    pub fn parse_setting(s: &str) -> Result<Option<Self>, BadQuota> {
        if s.trim().eq_ignore_ascii_case("off") {
            Ok(None)
        } else {
            Self::parse(s).map(Some)
        }
    }

    fn governor(self) -> governor::Quota {
        governor::Quota::with_period(self.period / self.requests.get())
            .expect("a positive period divided by a positive count is positive")
            .allow_burst(self.requests)
    }

    /// Time for one request's worth of quota to come back.
    pub fn interval(self) -> Duration {
        self.period / self.requests.get()
    }

    /// The period as a word: `second`, `minute`, `hour`, or else `N seconds`.
    pub fn window(self) -> String {
        let whole = self.period.subsec_nanos() == 0;
        match self.period.as_secs() {
            1 if whole => "second".to_owned(),
            60 if whole => "minute".to_owned(),
            3600 if whole => "hour".to_owned(),
            _ => format!("{} seconds", ceil_secs(self.period)),
        }
    }
}

impl std::fmt::Display for Quota {
    /// `N/s`, `N/min`, `N/hour` (the form [`Quota::parse`] reads), or `N/Ns` for another
    /// period.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.window().as_str() {
            "second" => "s".to_owned(),
            "minute" => "min".to_owned(),
            "hour" => "hour".to_owned(),
            _ => format!("{}s", ceil_secs(self.period)),
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// The outcome of one check, with everything the response headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota applied.
    pub quota: Quota,
    /// Requests left right now (0 when refused).
    pub remaining: u32,
    /// Time until the full quota is available again.
    pub reset_after: Duration,
    /// When refused: how long until one request would be let through.
    pub retry_after: Option<Duration>,
    /// Name of the policy in the IETF headers (`key` for an API key, `user` for a user's
    /// password sessions, or `ip`).
    pub policy: &'static str,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Decision {
    /// Whole seconds to wait before retrying (≥ 1), when refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|d| ceil_secs(d).max(1))
    }

    /// Seconds until the quota is full again, rounded up.
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_after)
    }

    /// Header names and values for this decision; `now_unix` is the current Unix time in
    /// seconds (for `X-RateLimit-Reset`, an absolute time).
    pub fn headers(&self, now_unix: u64) -> Vec<(&'static str, String)> {
        let limit = self.quota.requests.get();
        let window = ceil_secs(self.quota.period);
        let reset = self.reset_secs();
        let mut h = vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", (now_unix + reset).to_string()),
            (
                "ratelimit-policy",
                format!("\"{}\";q={limit};w={window}", self.policy),
            ),
            (
                "ratelimit",
                format!("\"{}\";r={};t={reset}", self.policy, self.remaining),
            ),
        ];
        if let Some(secs) = self.retry_after_secs() {
            h.push(("retry-after", secs.to_string()));
        }
        h
    }
}

#[cfg(feature = "redis")]
mod redis_store;

/// The limiter the app uses: in process, or shared through Redis. A tier configured `off`
/// is never counted and gets no headers.
pub struct RateLimiter {
    local: Limiter,
    enabled: [bool; 3],
    #[cfg(feature = "redis")]
    shared: Option<redis_store::RedisStore>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// A Redis URL that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL: {0}")]
pub struct BadRedisUrl(String);

impl RateLimiter {
    /// Quotas counted in this process only; `None` turns a tier off.
    pub fn in_process(standard: Option<Quota>, admin: Option<Quota>, ip: Option<Quota>) -> Self {
        Self {
            local: local_limiter(standard, admin, ip),
            enabled: [standard.is_some(), admin.is_some(), ip.is_some()],
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// Quotas shared through the Redis at `url`, keys starting with `prefix`. Connects
    /// lazily: an unreachable Redis at start-up is tolerated like one that goes away later.
    #[cfg(feature = "redis")]
    pub fn shared(
        standard: Option<Quota>,
        admin: Option<Quota>,
        ip: Option<Quota>,
        url: &str,
        prefix: &str,
    ) -> Result<Self, BadRedisUrl> {
        Ok(Self {
            shared: Some(
                redis_store::RedisStore::new(url, prefix)
                    .map_err(|e| BadRedisUrl(e.to_string()))?,
            ),
            ..Self::in_process(standard, admin, ip)
        })
    }

    /// See [`Limiter::check_user`]; `None` when the tier is off.
    pub async fn check_user(&self, user_id: i64, admin_tier: bool) -> Option<Decision> {
        self.check_holder(Holder::User(user_id), admin_tier).await
    }

    /// See [`Limiter::check_api_key`]; `None` when the tier is off.
    pub async fn check_api_key(&self, key_id: i64, admin_tier: bool) -> Option<Decision> {
        self.check_holder(Holder::ApiKey(key_id), admin_tier).await
    }

    async fn check_holder(&self, holder: Holder, admin_tier: bool) -> Option<Decision> {
        if !self.enabled[usize::from(admin_tier)] {
            return None;
        }
        let (kind, id, policy) = match holder {
            Holder::User(id) => ("user", id, "user"),
            Holder::ApiKey(id) => ("key", id, "key"),
        };
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            let (tier, quota) = if admin_tier {
                ("admin", self.local.quotas[1])
            } else {
                ("standard", self.local.quotas[0])
            };
            if let Some(d) = shared
                .check(&format!("rl:{kind}:{tier}:{id}"), quota, policy)
                .await
            {
                return Some(d);
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = (kind, id);
        Some(self.local.check_holder(holder, admin_tier, policy))
    }

    /// See [`Limiter::check_ip`]; `None` when the IP quota is off.
    pub async fn check_ip(&self, ip: IpAddr) -> Option<Decision> {
        if !self.enabled[2] {
            return None;
        }
        let ip = ip_bucket(ip);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Some(d) = shared
                .check(&format!("rl:ip:{ip}"), self.local.quotas[2], "ip")
                .await
        {
            return Some(d);
        }
        Some(self.local.check_ip(ip))
    }

    /// Counts one request of site `site_id` against its `api` quota `quota` (from the site's
    /// plan); `None` when the plan sets none. In Redis when shared, like the others: the
    /// bucket is the site's, whichever instance or credential the request came through.
    pub async fn check_site(
        &self,
        site_id: i64,
        api: SiteApi,
        quota: Option<Quota>,
    ) -> Option<Decision> {
        let quota = quota?;
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Some(d) = shared
                .check(
                    // The quota is part of the key: a site whose plan changes starts a
                    // fresh bucket, as in process.
                    &format!(
                        "rl:site:{}:{}:{}:{site_id}",
                        api.as_str(),
                        quota.requests,
                        quota.period.as_millis()
                    ),
                    quota,
                    api.policy(),
                )
                .await
        {
            return Some(d);
        }
        Some(self.local.check_site(site_id, api, quota))
    }

    /// See [`Limiter::retain_recent`].
    pub fn retain_recent(&self) {
        self.local.retain_recent();
    }
}

#[cfg(all(test, feature = "redis"))]
mod shared_tests {
    //! Against a real Redis when `JEKCMS_TEST_REDIS_URL` is set (CI sets it); skipped else.
    use super::*;

    fn redis_url() -> Option<String> {
        std::env::var("JEKCMS_TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty())
    }

    fn instance(url: &str, prefix: &str) -> RateLimiter {
        RateLimiter::shared(None, None, None, url, prefix).unwrap()
    }

    #[tokio::test]
    async fn two_instances_share_a_site_quota() {
        let Some(url) = redis_url() else {
            return eprintln!("skipped: JEKCMS_TEST_REDIS_URL is not set");
        };
        let prefix = format!(
            "jekcms-test:ratelimit:{}:{}:",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let (a, b) = (instance(&url, &prefix), instance(&url, &prefix));
        let starter = Quota::parse("100/hour").ok();
        for i in 0..100 {
            let by = if i % 2 == 0 { &a } else { &b };
            let d = by
                .check_site(1, SiteApi::Management, starter)
                .await
                .unwrap();
            assert!(d.allowed, "request {}", i + 1);
        }
        // Had each instance counted alone, both would have 50 left.
        let refused = a.check_site(1, SiteApi::Management, starter).await.unwrap();
        assert!(!refused.allowed, "the 101st, over both instances");
        assert_eq!(refused.policy, "site");
        let retry = refused.retry_after_secs().unwrap();
        assert!((1..=36).contains(&retry), "{retry}");
        assert!(
            !b.check_site(1, SiteApi::Management, starter)
                .await
                .unwrap()
                .allowed
        );
        // Another site, and the pull API, have their own buckets; no quota, no decision.
        assert!(
            b.check_site(2, SiteApi::Management, starter)
                .await
                .unwrap()
                .allowed
        );
        let pull = b.check_site(1, SiteApi::Pull, starter).await.unwrap();
        assert!(pull.allowed && pull.remaining == 99 && pull.policy == "pull");
        assert_eq!(a.check_site(1, SiteApi::Management, None).await, None);
        // On a bigger plan the site starts afresh, as in process.
        let pro = Quota::parse("1000/hour").ok();
        let d = a.check_site(1, SiteApi::Management, pro).await.unwrap();
        assert!(d.allowed && d.remaining == 999);
    }
}

/// The in-process limiter, with a stand-in quota for tiers that are off (never checked).
fn local_limiter(standard: Option<Quota>, admin: Option<Quota>, ip: Option<Quota>) -> Limiter {
    let unused = Quota::new(1, Duration::from_secs(1)).expect("valid quota");
    Limiter::new(
        standard.unwrap_or(unused),
        admin.unwrap_or(unused),
        ip.unwrap_or(unused),
    )
}

/// Who a per-credential quota belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    /// A user, for the sessions they opened with their password.
    User(i64),
    /// An API key: its sessions (v2) and its direct use (v1).
    ApiKey(i64),
}

/// The address a client's IP quota is counted under: IPv4 as is (an IPv4-mapped IPv6
/// address as its IPv4 address), IPv6 by its /64.
pub fn ip_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
        },
    }
}

type Keyed<K, C> =
    governor::RateLimiter<K, DefaultKeyedStateStore<K>, C, StateInformationMiddleware>;

/// The buckets of every site under one quota, keyed by API and site.
type SiteBucket<C> = Arc<Keyed<(SiteApi, i64), C>>;

/// In-process quotas for credentials (standard and admin tiers), client IPs and sites.
pub struct Limiter<C: Clock = DefaultClock> {
    standard: Keyed<Holder, C>,
    admin: Keyed<Holder, C>,
    ip: Keyed<IpAddr, C>,
    quotas: [Quota; 3],
    /// Site buckets, one keyed limiter per distinct quota (a handful: one per plan and API).
    sites: Mutex<HashMap<Quota, SiteBucket<C>>>,
    clock: C,
}

impl<C: Clock> std::fmt::Debug for Limiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

impl Limiter<DefaultClock> {
    /// Quotas for the standard and admin tiers of credentials, and for client IPs.
    pub fn new(standard: Quota, admin: Quota, ip: Quota) -> Self {
        Self::with_clock(standard, admin, ip, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiter<C> {
    /// Like [`Limiter::new`] with a given clock (tests use a fake one).
    pub fn with_clock(standard: Quota, admin: Quota, ip: Quota, clock: C) -> Self {
        Self {
            standard: keyed(standard, &clock),
            admin: keyed(admin, &clock),
            ip: keyed(ip, &clock),
            quotas: [standard, admin, ip],
            sites: Mutex::new(HashMap::new()),
            clock,
        }
    }
}

impl<C: Clock + Clone> Limiter<C> {
    /// Counts one request of site `site_id` against its `api` quota `quota`, over every
    /// credential of the site. A site whose plan changes starts a fresh bucket.
    pub fn check_site(&self, site_id: i64, api: SiteApi, quota: Quota) -> Decision {
        let bucket = self
            .sites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(quota)
            .or_insert_with(|| Arc::new(keyed(quota, &self.clock)))
            .clone();
        decide(&bucket, &(api, site_id), quota, &self.clock, api.policy())
    }
}

impl<C: Clock> Limiter<C> {
    /// Counts one request of a user's password session against its tier's quota. The
    /// quota is the user's, so neither a refresh nor another login resets the count.
    pub fn check_user(&self, user_id: i64, admin_tier: bool) -> Decision {
        self.check_holder(Holder::User(user_id), admin_tier, "user")
    }

    /// Counts one request made with an API key — through any session opened from it (v2)
    /// or with the key pair itself (v1) — against its tier's quota, keyed by the key.
    pub fn check_api_key(&self, key_id: i64, admin_tier: bool) -> Decision {
        self.check_holder(Holder::ApiKey(key_id), admin_tier, "key")
    }

    fn check_holder(&self, holder: Holder, admin_tier: bool, policy: &'static str) -> Decision {
        if admin_tier {
            decide(&self.admin, &holder, self.quotas[1], &self.clock, policy)
        } else {
            decide(&self.standard, &holder, self.quotas[0], &self.clock, policy)
        }
    }

    /// Counts one request of an unauthenticated auth endpoint (or a failed v1 key check)
    /// against the client's [`ip_bucket`].
    pub fn check_ip(&self, ip: IpAddr) -> Decision {
        decide(&self.ip, &ip_bucket(ip), self.quotas[2], &self.clock, "ip")
    }

    /// Forgets keys whose quota is full again; call periodically to bound memory.
    pub fn retain_recent(&self) {
        self.standard.retain_recent();
        self.admin.retain_recent();
        self.ip.retain_recent();
        for bucket in self.site_buckets() {
            bucket.retain_recent();
        }
    }

    /// Number of keys tracked.
    pub fn len(&self) -> usize {
        self.standard.len()
            + self.admin.len()
            + self.ip.len()
            + self.site_buckets().iter().map(|b| b.len()).sum::<usize>()
    }

    fn site_buckets(&self) -> Vec<SiteBucket<C>> {
        self.sites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone, C: Clock + Clone>(q: Quota, clock: &C) -> Keyed<K, C> {
    governor::RateLimiter::<K, DefaultKeyedStateStore<K>, C, StateInformationMiddleware>::new(
        q.governor(),
        DefaultKeyedStateStore::default(),
        clock.clone(),
    )
}

fn decide<K, C>(
    limiter: &Keyed<K, C>,
    key: &K,
    quota: Quota,
    clock: &C,
    policy: &'static str,
) -> Decision
where
    K: std::hash::Hash + Eq + Clone,
    C: Clock,
{
    match limiter.check_key(key) {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            let used = quota.requests.get().saturating_sub(remaining);
            Decision {
                allowed: true,
                quota,
                remaining,
                reset_after: quota.interval() * used,
                retry_after: None,
                policy,
            }
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(clock.now());
            Decision {
                allowed: false,
                quota,
                remaining: 0,
                reset_after: quota.period.max(wait),
                retry_after: Some(wait),
                policy,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(clock: &FakeRelativeClock) -> Limiter<FakeRelativeClock> {
        Limiter::with_clock(
            Quota::parse("3/min").unwrap(),
            Quota::parse("5/min").unwrap(),
            Quota::parse("2/s").unwrap(),
            clock.clone(),
        )
    }

    #[test]
    fn settings_can_turn_a_quota_off() {
        assert_eq!(Quota::parse_setting("off"), Ok(None));
        assert_eq!(Quota::parse_setting("OFF"), Ok(None));
        assert_eq!(
            Quota::parse_setting("2/s"),
            Ok(Quota::new(2, Duration::from_secs(1)))
        );
        assert_eq!(Quota::parse_setting("of"), Err(BadQuota));
    }

    #[test]
    fn parse_quotas() {
        assert_eq!(
            Quota::parse("60/min").unwrap().period,
            Duration::from_secs(60)
        );
        assert_eq!(Quota::parse(" 10 / hour ").unwrap().requests.get(), 10);
        for bad in ["abc/min", "0/min", "-1/min", "5/fortnight", "5", ""] {
            assert_eq!(Quota::parse(bad), Err(BadQuota), "{bad}");
        }
    }

    #[test]
    fn counts_down_then_refuses_at_quota_plus_one() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let remaining: Vec<u32> = (0..3).map(|_| l.check_user(7, false).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check_user(7, false);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_secs(), Some(20));
        // Another user has their own quota.
        assert!(l.check_user(8, false).allowed);
    }

    #[test]
    fn api_keys_and_users_with_one_id_count_apart() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        for _ in 0..3 {
            assert!(l.check_user(7, false).allowed);
        }
        assert!(!l.check_user(7, false).allowed);
        let key = l.check_api_key(7, false);
        assert!(key.allowed);
        assert_eq!(key.remaining, 2);
        assert_eq!(key.policy, "key");
    }

    #[test]
    fn quota_comes_back_over_time() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        for _ in 0..3 {
            l.check_user(1, false);
        }
        assert!(!l.check_user(1, false).allowed);
        clock.advance(Duration::from_secs(20));
        let d = l.check_user(1, false);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        clock.advance(Duration::from_secs(60));
        assert_eq!(l.check_user(1, false).remaining, 2);
    }

    #[test]
    fn tiers_and_ips_are_separate() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let admin: Vec<bool> = (0..6).map(|_| l.check_user(1, true).allowed).collect();
        assert_eq!(admin, [true, true, true, true, true, false]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check_ip(ip).allowed && l.check_ip(ip).allowed);
        assert!(!l.check_ip(ip).allowed);
        assert!(l.check_ip("10.0.0.2".parse().unwrap()).allowed);
    }

    #[test]
    fn ipv6_clients_share_a_quota_per_64() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        assert!(l.check_ip(a).allowed && l.check_ip(b).allowed);
        assert!(!l.check_ip(a).allowed, "the same /64");
        assert!(
            l.check_ip("2001:db8:1:3::1".parse().unwrap()).allowed,
            "another /64"
        );
        // An IPv4-mapped address is its IPv4 address.
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ip_bucket("::ffff:192.0.2.7".parse().unwrap()), v4);
        assert_eq!(ip_bucket(v4), v4);
    }

    #[test]
    fn headers_are_consistent() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let now = 1_800_000_000;
        let first = l.check_user(3, false);
        let h: std::collections::HashMap<_, _> = first.headers(now).into_iter().collect();
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(h["x-ratelimit-remaining"], "2");
        assert_eq!(h["x-ratelimit-reset"], (now + 20).to_string());
        assert_eq!(h["ratelimit-policy"], "\"user\";q=3;w=60");
        assert_eq!(h["ratelimit"], "\"user\";r=2;t=20");
        assert!(!h.contains_key("retry-after"));
        l.check_user(3, false);
        l.check_user(3, false);
        let refused = l.check_user(3, false);
        let h: std::collections::HashMap<_, _> = refused.headers(now).into_iter().collect();
        let retry: u64 = h["retry-after"].parse().unwrap();
        let reset: u64 = h["x-ratelimit-reset"].parse().unwrap();
        assert!(retry >= 1 && retry <= reset - now + 1, "{retry} {reset}");
    }

    #[test]
    fn a_site_quota_counts_per_site_and_api() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let starter = Quota::parse("100/hour").unwrap();
        for i in 0..100u32 {
            let d = l.check_site(1, SiteApi::Management, starter);
            assert!(d.allowed, "request {}", i + 1);
            assert_eq!((d.remaining, d.policy), (99 - i, "site"));
        }
        let refused = l.check_site(1, SiteApi::Management, starter);
        assert!(!refused.allowed, "the 101st");
        assert_eq!(refused.retry_after_secs(), Some(36));
        // Another site, and the same site's pull API, are apart.
        assert!(l.check_site(2, SiteApi::Management, starter).allowed);
        let pull = l.check_site(1, SiteApi::Pull, starter);
        assert!(pull.allowed && pull.remaining == 99 && pull.policy == "pull");
        // On a bigger plan the site starts afresh.
        let pro = Quota::parse("1000/hour").unwrap();
        assert_eq!(l.check_site(1, SiteApi::Management, pro).remaining, 999);
        clock.advance(Duration::from_secs(36));
        assert!(l.check_site(1, SiteApi::Management, starter).allowed);
    }

    #[test]
    fn quotas_print_as_they_parse() {
        for q in ["100/hour", "5/s", "60/min"] {
            assert_eq!(Quota::parse(q).unwrap().to_string(), q);
        }
        assert_eq!(Quota::parse("100/hour").unwrap().window(), "hour");
        assert_eq!(Quota::parse("3/min").unwrap().window(), "minute");
        let odd = Quota::new(7, Duration::from_secs(90)).unwrap();
        assert_eq!(
            (odd.window().as_str(), odd.to_string().as_str()),
            ("90 seconds", "7/90s")
        );
    }

    #[test]
    fn idle_keys_can_be_forgotten() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        l.check_user(1, false);
        l.check_ip("10.0.0.1".parse().unwrap());
        l.check_site(1, SiteApi::Pull, Quota::parse("10/min").unwrap());
        assert_eq!(l.len(), 3);
        clock.advance(Duration::from_secs(3600));
        l.retain_recent();
        assert!(l.is_empty());
    }
}
