//! Per-site quotas (API.md §8): a site's plan gives it one quota for the management API
//! (counted over every credential of the site) and one for the pull API. The quota comes with
//! each check, since it depends on the site's plan, which the operator may change at any time.

use crate::{BadQuota, Quota};

/// Which API a per-site quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteApi {
    /// Every authenticated `/api/v2` request and every v1 request (not `/auth/*`).
    Management,
    /// The read-only pull API of the site's front end.
    Pull,
}

impl SiteApi {
    /// `management` or `pull`: the key in bodies and in Redis keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::Pull => "pull",
        }
    }

    /// The policy name in the IETF headers: `site` (management) or `pull`.
    pub const fn policy(self) -> &'static str {
        match self {
            Self::Management => "site",
            Self::Pull => "pull",
        }
    }
}

/// The per-site quotas of a plan; `None` is no per-site quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SiteQuotas {
    /// The management API's.
    pub management: Option<Quota>,
    /// The pull API's.
    pub pull: Option<Quota>,
}

/// A plan's quotas that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected two quotas, management then pull, e.g. 100/hour,500/hour; each N/s, N/min or N/hour with N ≥ 1, or none"
)]
pub struct BadSiteQuotas;

impl SiteQuotas {
    /// No per-site quota at all.
    pub const NONE: Self = Self {
        management: None,
        pull: None,
    };

    /// The quota of `api`.
    pub const fn get(self, api: SiteApi) -> Option<Quota> {
        match api {
            SiteApi::Management => self.management,
            SiteApi::Pull => self.pull,
        }
    }

    /// Parses `MANAGEMENT,PULL`, each a quota ([`Quota::parse`]) or `none`:
    /// `100/hour,500/hour`, `none,5000/hour`.
    pub fn parse(s: &str) -> Result<Self, BadSiteQuotas> {
        let (management, pull) = s.split_once(',').ok_or(BadSiteQuotas)?;
        let one = |part: &str| -> Result<Option<Quota>, BadQuota> {
            if part.trim().eq_ignore_ascii_case("none") {
                Ok(None)
            } else {
                Quota::parse(part).map(Some)
            }
        };
        Ok(Self {
            management: one(management).map_err(|_| BadSiteQuotas)?,
            pull: one(pull).map_err(|_| BadSiteQuotas)?,
        })
    }
}

impl std::fmt::Display for SiteQuotas {
    /// The form [`SiteQuotas::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let one = |q: Option<Quota>| q.map_or_else(|| "none".to_owned(), |q| q.to_string());
        write!(f, "{},{}", one(self.management), one(self.pull))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parse_plans() {
        let q = SiteQuotas::parse("100/hour,500/hour").unwrap();
        assert_eq!(q.management, Quota::new(100, Duration::from_secs(3600)));
        assert_eq!(
            q.get(SiteApi::Pull),
            Quota::new(500, Duration::from_secs(3600))
        );
        assert_eq!(q.to_string(), "100/hour,500/hour");
        let q = SiteQuotas::parse(" none , 5/s").unwrap();
        assert_eq!(
            (q.management, q.pull),
            (None, Quota::new(5, Duration::from_secs(1)))
        );
        assert_eq!(SiteQuotas::parse("NONE,none"), Ok(SiteQuotas::NONE));
        assert_eq!(
            SiteQuotas::parse("none,none").unwrap().to_string(),
            "none,none"
        );
        for bad in [
            "",
            "100/hour",
            "100/hour,",
            "0/hour,1/hour",
            "1/day,none",
            "off,none",
            "1/s,2/s,3/s",
        ] {
            assert_eq!(SiteQuotas::parse(bad), Err(BadSiteQuotas), "{bad}");
        }
    }
}
