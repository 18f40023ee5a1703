//! The token pair: kept behind one lock so that a renewal is single-flight.

use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A credential or token. Its `Debug` never shows the value, so that no log line or panic
/// message can carry it.
#[derive(Clone)]
pub(crate) struct Secret(Arc<str>);

impl Secret {
    pub(crate) fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `data` of `POST /auth/token` and `POST /auth/refresh`.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: i64,
}

/// The current pair and when to renew it.
#[derive(Debug)]
pub(crate) struct Tokens {
    pub(crate) access: Secret,
    pub(crate) refresh: Secret,
    /// When the access token is due for renewal (its expiry less the margin).
    pub(crate) renew_at: Instant,
    /// Bumped on every renewal; lets a caller that saw `AUTH_EXPIRED` with generation `g`
    /// renew only if nobody has renewed since.
    pub(crate) generation: u64,
}

impl Tokens {
    /// The pair from `response`, received at `received_at`.
    ///
    /// The access token is renewed `margin` before it expires; when its whole lifetime is
    /// not longer than the margin, at half its lifetime instead (renewing on every call
    /// would only burn the auth quota).
    pub(crate) fn from_response(
        response: TokenResponse,
        received_at: Instant,
        margin: Duration,
        generation: u64,
    ) -> Self {
        let lifetime = Duration::from_secs(response.expires_in.max(0).unsigned_abs());
        let renew_after = if lifetime > margin {
            lifetime - margin
        } else {
            lifetime / 2
        };
        Self {
            access: Secret::new(response.access_token),
            refresh: Secret::new(response.refresh_token),
            renew_at: received_at + renew_after,
            generation,
        }
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        now >= self.renew_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(expires_in: i64) -> TokenResponse {
        TokenResponse {
            access_token: "v4.local.secret".into(),
            refresh_token: "rf_secret".into(),
            expires_in,
        }
    }

    #[test]
    fn renews_the_margin_before_expiry() {
        let now = Instant::now();
        let t = Tokens::from_response(response(900), now, Duration::from_secs(60), 1);
        assert_eq!(t.renew_at, now + Duration::from_secs(840));
        assert!(!t.is_due(now + Duration::from_secs(839)));
        assert!(t.is_due(now + Duration::from_secs(840)));
    }

    #[test]
    fn a_lifetime_shorter_than_the_margin_renews_at_half() {
        let now = Instant::now();
        let t = Tokens::from_response(response(30), now, Duration::from_secs(60), 1);
        assert_eq!(t.renew_at, now + Duration::from_secs(15));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let t = Tokens::from_response(response(900), Instant::now(), Duration::ZERO, 1);
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
