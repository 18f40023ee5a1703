//! [`Decisions`]: every quota one request is counted against (its credential's, its site's),
//! and the headers that describe them together.

use crate::{Decision, Quota, ceil_secs};

/// Most quotas one request is counted against.
const MAX: usize = 4;

/// The decisions of one request, in the order they were made, and every quota that applies
/// (a quota not counted because an earlier one refused still applies and is listed).
///
/// `RateLimit-Policy` lists every quota; `RateLimit` and `X-RateLimit-*` describe the one
/// closest to running out ([`Decisions::binding`]), and `Retry-After` its wait when refused.
///
/// ```
/// use jekcms_ratelimit::{Decisions, Limiter, Quota, SiteApi};
///
/// let limiter = Limiter::new(
///     Quota::parse("60/min").unwrap(),
///     Quota::parse("60/min").unwrap(),
///     Quota::parse("10/min").unwrap(),
/// );
/// let mut all = Decisions::default();
/// all.push(limiter.check_api_key(7, false));
/// all.push(limiter.check_site(3, SiteApi::Management, Quota::parse("2/hour").unwrap()));
/// assert!(all.allowed());
/// let h = all.headers(1_800_000_000);
/// let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
/// assert_eq!(get("ratelimit-policy"), Some("\"key\";q=60;w=60, \"site\";q=2;w=3600"));
/// // The site's quota has 1 left, the key's 59: the headers describe the site's.
/// assert_eq!(get("x-ratelimit-remaining"), Some("1"));
/// assert_eq!(get("ratelimit"), Some("\"site\";r=1;t=1800"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decisions {
    decisions: [Option<Decision>; MAX],
    policies: [Option<(&'static str, Quota)>; MAX],
}

impl Decisions {
    /// Adds a decision (and its quota to the policies).
    pub fn push(&mut self, decision: Decision) {
        if let Some(slot) = self.decisions.iter_mut().find(|d| d.is_none()) {
            *slot = Some(decision);
        }
        self.applies(decision.policy, decision.quota);
    }

    /// Records that the quota `policy` applies although it was not counted (an earlier
    /// quota refused the request).
    pub fn applies(&mut self, policy: &'static str, quota: Quota) {
        if self.policies.iter().flatten().any(|(p, _)| *p == policy) {
            return;
        }
        if let Some(slot) = self.policies.iter_mut().find(|p| p.is_none()) {
            *slot = Some((policy, quota));
        }
    }

    /// The decisions made, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().flatten()
    }

    /// Whether no decision was made.
    pub fn is_empty(&self) -> bool {
        self.decisions[0].is_none()
    }

    /// Whether every decision let the request through.
    pub fn allowed(&self) -> bool {
        self.iter().all(|d| d.allowed)
    }

    /// The decision closest to running out: a refusal (the longest wait), else the fewest
    /// requests left (the longest time to be full again on a tie).
    pub fn binding(&self) -> Option<Decision> {
        self.iter().copied().min_by(|a, b| {
            (a.allowed, a.remaining, std::cmp::Reverse(a.reset_after))
                .cmp(&(b.allowed, b.remaining, std::cmp::Reverse(b.reset_after)))
                .then_with(|| b.retry_after.cmp(&a.retry_after))
        })
    }

    /// The headers: those of [`Decisions::binding`] ([`Decision::headers`]), with
    /// `RateLimit-Policy` listing every quota that applies. Empty when no decision was made.
    pub fn headers(&self, now_unix: u64) -> Vec<(&'static str, String)> {
        let Some(binding) = self.binding() else {
            return Vec::new();
        };
        let policy = self
            .policies
            .iter()
            .flatten()
            .map(|(name, q)| format!("\"{name}\";q={};w={}", q.requests, ceil_secs(q.period)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut headers = binding.headers(now_unix);
        for (name, value) in &mut headers {
            if *name == "ratelimit-policy" {
                value.clone_from(&policy);
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limiter, SiteApi};
    use governor::clock::FakeRelativeClock;
    use std::collections::HashMap;

    fn limiter(clock: &FakeRelativeClock) -> Limiter<FakeRelativeClock> {
        Limiter::with_clock(
            Quota::parse("3/min").unwrap(),
            Quota::parse("5/min").unwrap(),
            Quota::parse("2/s").unwrap(),
            clock.clone(),
        )
    }

    #[test]
    fn the_quota_closest_to_running_out_is_described() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let site = Quota::parse("10/hour").unwrap();
        let now = 1_800_000_000;
        let mut all = Decisions::default();
        all.push(l.check_api_key(1, false));
        all.push(l.check_site(9, SiteApi::Management, site));
        let h: HashMap<_, _> = all.headers(now).into_iter().collect();
        assert_eq!(
            h["ratelimit-policy"],
            "\"key\";q=3;w=60, \"site\";q=10;w=3600"
        );
        // The key has 2 of 3 left, the site 9 of 10: the key is closer.
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(h["ratelimit"], "\"key\";r=2;t=20");
        // Another key of the site spends the site's quota down to 1.
        for _ in 0..8 {
            assert!(l.check_site(9, SiteApi::Management, site).allowed);
        }
        let mut all = Decisions::default();
        all.push(l.check_api_key(2, false));
        all.push(l.check_site(9, SiteApi::Management, site));
        assert!(all.allowed());
        let h: HashMap<_, _> = all.headers(now).into_iter().collect();
        assert_eq!(h["x-ratelimit-limit"], "10");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert!(!h.contains_key("retry-after"));
        // The next is refused by the site: 429 material with the site's wait.
        let mut all = Decisions::default();
        all.push(l.check_api_key(2, false));
        all.push(l.check_site(9, SiteApi::Management, site));
        assert!(!all.allowed());
        let h: HashMap<_, _> = all.headers(now).into_iter().collect();
        assert_eq!(h["retry-after"], "360");
        assert_eq!(h["ratelimit"], "\"site\";r=0;t=3600");
        assert_eq!(all.binding().unwrap().policy, "site");
    }

    #[test]
    fn a_quota_not_counted_is_still_listed() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        let mut all = Decisions::default();
        for _ in 0..4 {
            all = Decisions::default();
            all.push(l.check_api_key(1, false));
        }
        assert!(!all.allowed());
        all.applies("site", Quota::parse("100/hour").unwrap());
        all.applies("site", Quota::parse("100/hour").unwrap());
        let h: HashMap<_, _> = all.headers(0).into_iter().collect();
        assert_eq!(
            h["ratelimit-policy"],
            "\"key\";q=3;w=60, \"site\";q=100;w=3600"
        );
        assert_eq!(h["retry-after"], "20");
        assert!(Decisions::default().headers(0).is_empty());
        assert!(Decisions::default().is_empty() && !all.is_empty());
    }
}
