//! A site's plan (API.md §8): which per-site quotas its requests draw from. The quotas
//! themselves are configuration (the server's `JEKCMS_PLAN_*`); the plan is read with the
//! session on every request, so an operator's change applies to the next request.

use std::fmt;
use std::str::FromStr;

/// The plan of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Plan {
    /// The smallest quotas.
    Starter,
    /// Ten times the starter's.
    Pro,
    /// A hundred times the starter's.
    Agency,
    /// No per-site quota (the default).
    #[default]
    Unlimited,
}

impl Plan {
    /// Every plan, smallest first.
    pub const ALL: [Plan; 4] = [Self::Starter, Self::Pro, Self::Agency, Self::Unlimited];

    /// The name stored and shown, e.g. `"starter"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starter => "starter",
            Self::Pro => "pro",
            Self::Agency => "agency",
            Self::Unlimited => "unlimited",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown plan name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan must be one of starter, pro, agency, unlimited")]
pub struct UnknownPlan;

impl FromStr for Plan {
    type Err = UnknownPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownPlan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
        }
        assert_eq!(Plan::default(), Plan::Unlimited);
        for bad in ["", "Starter", "free", " pro"] {
            assert_eq!(bad.parse::<Plan>(), Err(UnknownPlan), "{bad}");
        }
    }
}
