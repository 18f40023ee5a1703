//! The token pair: kept behind one lock so that a renewal is single-flight, and renewed
//! in a task of its own so that a caller giving up half-way cannot lose a rotated pair.

use crate::error::Error;
use crate::transport::{Call, Transport};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
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

/// The API key and the token pair made from it.
#[derive(Debug)]
pub(crate) struct Auth {
    pub(crate) transport: Transport,
    pub(crate) api_key: String,
    pub(crate) api_secret: Secret,
    /// `None` only before the first exchange. Held across a renewal: that is what makes
    /// a renewal single-flight.
    pub(crate) tokens: Mutex<Option<Tokens>>,
    pub(crate) renewals: AtomicU64,
}

/// When a renewal is wanted.
#[derive(Clone, Copy)]
enum Want {
    /// The token is due (or there is none yet).
    IfDue,
    /// The server said the token of this generation has expired.
    After(u64),
}

/// The current access token and its generation, renewed first when due.
pub(crate) async fn access_token(auth: &Arc<Auth>) -> Result<(Secret, u64), Error> {
    {
        let tokens = auth.tokens.lock().await;
        if let Some(t) = tokens.as_ref()
            && !t.is_due(Instant::now())
        {
            return Ok((t.access.clone(), t.generation));
        }
    }
    renew_detached(auth.clone(), Want::IfDue).await
}

/// Renews unless someone renewed since the caller saw generation `seen`.
pub(crate) async fn renew_after(auth: &Arc<Auth>, seen: u64) -> Result<(), Error> {
    renew_detached(auth.clone(), Want::After(seen))
        .await
        .map(|_| ())
}

/// Runs the renewal in its own task: when the caller is cancelled (a timeout, a `select!`)
/// after the server rotated the refresh token, the new pair is still stored. Presenting the
/// old refresh token again would be taken for theft and revoke the session.
async fn renew_detached(auth: Arc<Auth>, want: Want) -> Result<(Secret, u64), Error> {
    let task = tokio::spawn(async move {
        let mut tokens = auth.tokens.lock().await;
        if let Some(t) = tokens.as_ref() {
            let renewed_meanwhile = match want {
                Want::IfDue => !t.is_due(Instant::now()),
                Want::After(seen) => t.generation != seen,
            };
            if renewed_meanwhile {
                return Ok((t.access.clone(), t.generation));
            }
        }
        let fresh = auth.renew(tokens.as_ref()).await?;
        let out = (fresh.access.clone(), fresh.generation);
        *tokens = Some(fresh);
        Ok(out)
    });
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Shutdown),
    }
}

impl Auth {
    /// A new pair: by refresh when there is a refresh token, else (or when the refresh is
    /// refused or fails) by exchanging the API key again.
    async fn renew(&self, current: Option<&Tokens>) -> Result<Tokens, Error> {
        let generation = current.map_or(0, |t| t.generation) + 1;
        let margin = self.transport.policy.refresh_margin;
        if let Some(current) = current {
            #[derive(Serialize)]
            struct Refresh<'a> {
                refresh_token: &'a str,
            }
            // Never resent after a transport error: the server may have rotated the token,
            // and presenting a used refresh token revokes the whole session.
            let call = Call::new(Method::POST, "/api/v2/auth/refresh")
                .json(&Refresh {
                    refresh_token: current.refresh.expose(),
                })
                .repeatable(false);
            let sent_at = Instant::now();
            match self.token_call(&call).await {
                Ok(pair) => {
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    return Ok(Tokens::from_response(pair, sent_at, margin, generation));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "refresh failed; exchanging the API key again");
                }
            }
        }
        #[derive(Serialize)]
        struct Exchange<'a> {
            api_key: &'a str,
            api_secret: &'a str,
        }
        // Safe to resend: a lost exchange only leaves an unused session behind.
        let call = Call::new(Method::POST, "/api/v2/auth/token")
            .json(&Exchange {
                api_key: &self.api_key,
                api_secret: self.api_secret.expose(),
            })
            .repeatable(true);
        let sent_at = Instant::now();
        let pair = self.token_call(&call).await?;
        if current.is_some() {
            self.renewals.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Tokens::from_response(pair, sent_at, margin, generation))
    }

    async fn token_call(&self, call: &Call) -> Result<TokenResponse, Error> {
        Ok(self
            .transport
            .send_unauthenticated(call)
            .await?
            .decode()?
            .data)
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
