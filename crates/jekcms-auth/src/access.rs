//! PASETO v4.local access tokens.
//!
//! A token is self-contained and encrypted: it names the session, the user and the site and
//! carries its expiry. It is *not* sufficient on its own — the app checks the session on
//! every request so that revocation takes effect at once — but it saves parsing anything
//! else and lets a forged or expired token be refused without a database round trip.
//!
//! A client sends the same token on every request of its lifetime, so the claims of tokens
//! already opened are kept (a bounded in-process map from the whole token to its claims):
//! the next request with that token skips decrypting and parsing it, a tenth of a list
//! request's instructions. Only tokens that opened under this key enter the map, and a
//! token's claims never change; its expiry is still checked on every use, and revocation is
//! the session check's, as before.

use crate::AuthError;
use crate::credential::CredentialFamily;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pasetors::Local;
use pasetors::keys::SymmetricKey;
use pasetors::token::UntrustedToken;
use pasetors::version4::{LocalToken, V4};
use ring::hkdf;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Bound into every token as PASETO's implicit assertion, so a token minted for another
/// purpose with the same key can never be accepted as an access token.
const IMPLICIT_ASSERTION: &[u8] = b"jekcms/access/v1";

/// What an access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The session the token descends from (from `/auth/token` or login).
    pub session_id: i64,
    /// The user the session acts as.
    pub user_id: i64,
    /// The site the user belongs to.
    pub site_id: i64,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// How many opened tokens are kept: a few hundred bytes each, so a few MB at most.
const OPENED_TOKENS: usize = 16_384;

/// Tokens that opened under this key, with their claims. Keyed by the whole token: a
/// lookup hashes it with a per-process random key, so a forged token cannot be steered
/// into comparing against a kept one.
type Opened = quick_cache::sync::Cache<Box<str>, AccessClaims>;

/// Mints and verifies access tokens with a key derived from the deployment secret. Clones
/// share the opened tokens.
#[derive(Clone)]
pub struct AccessTokens {
    key: SymmetricKey<V4>,
    ttl: Duration,
    opened: Arc<Opened>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

struct KeyLen;
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl AccessTokens {
    /// Derives the token key from `secret` (HKDF-SHA256, info `jekcms/access/v1`); tokens
    /// live for `ttl`.
    pub fn new(secret: &[u8; 32], ttl: Duration) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"jekcms").extract(secret);
        let info: &[&[u8]] = &[b"jekcms/access/v1"];
        let mut bytes = [0u8; 32];
        prk.expand(info, KeyLen)
            .expect("32 bytes is a valid HKDF-SHA256 length")
            .fill(&mut bytes)
            .expect("HKDF fill succeeds");
        let key = SymmetricKey::<V4>::from(&bytes).expect("32-byte v4 key");
        Self {
            key,
            ttl,
            opened: Arc::new(Opened::new(OPENED_TOKENS)),
        }
    }

    /// The lifetime of newly issued tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for a session.
    pub fn issue(&self, session_id: i64, user_id: i64, site_id: i64) -> String {
        let now = Utc::now();
        let ttl = TimeDelta::from_std(self.ttl).expect("ttl fits a timestamp");
        let issued = rfc3339(now);
        let payload = Payload {
            iat: &issued,
            nbf: &issued,
            exp: &rfc3339(now + ttl),
            sid: session_id,
            uid: user_id,
            site: site_id,
        };
        let json = serde_json::to_vec(&payload).expect("the payload serializes");
        LocalToken::encrypt(&self.key, &json, None, Some(IMPLICIT_ASSERTION))
            .expect("encrypting a non-empty payload succeeds")
    }

    /// Verifies a presented token: authenticity first, then the validity window.
    ///
    /// A token under another key is `Invalid` even if it is also expired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        self.verify_at(token, Utc::now())
    }

    fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, AuthError> {
        if let Some(claims) = self.opened.get(token) {
            if now >= claims.expires_at {
                self.opened.remove(token);
                return Err(AuthError::Expired);
            }
            return Ok(claims);
        }
        let claims = self.open_at(token, now)?;
        self.opened.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// Opens a token not seen before: authenticity, then the validity window.
    fn open_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, AuthError> {
        if !token.starts_with(CredentialFamily::Access.prefix()) {
            return Err(wrong_family(token));
        }
        let invalid = || AuthError::invalid("the access token is invalid");
        let untrusted = UntrustedToken::<Local, V4>::try_from(token)
            .map_err(|_| AuthError::invalid("the access token is malformed"))?;
        let trusted = LocalToken::decrypt(&self.key, &untrusted, None, Some(IMPLICIT_ASSERTION))
            .map_err(|_| invalid())?;
        // Only our own key can have produced these bytes, so a payload that does not parse
        // is a bug or a key shared with something else: refused either way.
        let payload: Payload<'_> =
            serde_json::from_str(trusted.payload()).map_err(|_| invalid())?;
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| invalid())
        };
        let (issued_at, not_before, expires_at) =
            (time(payload.iat)?, time(payload.nbf)?, time(payload.exp)?);
        if now >= expires_at {
            return Err(AuthError::Expired);
        }
        // Another instance's clock may run a little ahead of ours.
        if issued_at > now + CLOCK_SKEW || not_before > now + CLOCK_SKEW {
            return Err(AuthError::invalid("the access token is not valid yet"));
        }
        Ok(AccessClaims {
            session_id: payload.sid,
            user_id: payload.uid,
            site_id: payload.site,
            expires_at,
        })
    }
}

/// How far ahead of this server's clock a token's `iat`/`nbf` may be.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(30);

/// The token's JSON payload: PASETO's registered claims (`iat`, `nbf`, `exp` as RFC 3339
/// strings) and ours. Parsed by hand rather than through pasetors' `Claims`, whose `std`
/// feature brings in a regex engine and a map of JSON values for six fields.
#[derive(Serialize, Deserialize)]
struct Payload<'a> {
    iat: &'a str,
    nbf: &'a str,
    exp: &'a str,
    sid: i64,
    uid: i64,
    site: i64,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The refusal for a bearer string that is not an access token, naming where it belongs.
pub fn wrong_family(presented: &str) -> AuthError {
    match CredentialFamily::detect(presented) {
        Some(family) if family != CredentialFamily::Access => AuthError::invalid(family.belongs()),
        _ => AuthError::invalid("the bearer token is not a JekCMS access token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ttl: Duration) -> AccessTokens {
        AccessTokens::new(&[3u8; 32], ttl)
    }

    #[test]
    fn issue_then_verify() {
        let t = tokens(Duration::from_secs(900));
        let token = t.issue(11, 22, 33);
        assert!(token.starts_with("v4.local."));
        let claims = t.verify(&token).unwrap();
        assert_eq!(
            (claims.session_id, claims.user_id, claims.site_id),
            (11, 22, 33)
        );
        let left = claims.expires_at - Utc::now();
        assert!(left.num_seconds() > 890 && left.num_seconds() <= 900);
    }

    /// A token under the test key with a hand-written payload.
    fn forge(payload: &str) -> String {
        let key = &tokens(Duration::from_secs(1)).key;
        LocalToken::encrypt(key, payload.as_bytes(), None, Some(IMPLICIT_ASSERTION)).unwrap()
    }

    #[test]
    fn expiry_is_exact_to_the_millisecond() {
        let t = tokens(Duration::from_secs(900));
        let token = t.issue(1, 2, 3);
        let exp = t.verify(&token).unwrap().expires_at;
        assert!(
            t.verify_at(&token, exp - TimeDelta::milliseconds(1))
                .is_ok()
        );
        assert_eq!(t.verify_at(&token, exp), Err(AuthError::Expired));
    }

    #[test]
    fn not_yet_valid_is_refused_beyond_the_clock_skew() {
        let t = tokens(Duration::from_secs(900));
        let now = Utc::now();
        let at = |d: i64| rfc3339(now + TimeDelta::seconds(d));
        let token = |iat: i64, nbf: i64| {
            forge(&format!(
                r#"{{"iat":"{}","nbf":"{}","exp":"{}","sid":1,"uid":2,"site":3}}"#,
                at(iat),
                at(nbf),
                at(600)
            ))
        };
        assert!(t.verify_at(&token(10, 10), now).is_ok());
        assert!(matches!(
            t.verify_at(&token(0, 120), now),
            Err(AuthError::Invalid(m)) if m.contains("not valid yet")
        ));
        assert!(matches!(
            t.verify_at(&token(120, 0), now),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn payload_missing_a_claim_or_with_a_bad_time_is_invalid() {
        let t = tokens(Duration::from_secs(900));
        let exp = rfc3339(Utc::now() + TimeDelta::seconds(600));
        let iat = rfc3339(Utc::now());
        for payload in [
            format!(r#"{{"iat":"{iat}","nbf":"{iat}","exp":"{exp}","uid":2,"site":3}}"#),
            format!(r#"{{"iat":"{iat}","nbf":"{iat}","sid":1,"uid":2,"site":3}}"#),
            format!(r#"{{"iat":"{iat}","nbf":"{iat}","exp":"tomorrow","sid":1,"uid":2,"site":3}}"#),
            format!(r#"{{"iat":"{iat}","nbf":"{iat}","exp":"{exp}","sid":"1","uid":2,"site":3}}"#),
            "not json".to_owned(),
        ] {
            assert!(
                matches!(t.verify(&forge(&payload)), Err(AuthError::Invalid(_))),
                "{payload}"
            );
        }
    }

    #[test]
    fn expired_is_expired() {
        let t = tokens(Duration::from_secs(1));
        let token = t.issue(1, 2, 3);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(t.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn expired_under_another_key_is_invalid() {
        let other = AccessTokens::new(&[4u8; 32], Duration::from_secs(1));
        let token = other.issue(1, 2, 3);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(matches!(
            tokens(Duration::from_secs(9)).verify(&token),
            Err(AuthError::Invalid(_))
        ));
    }

    /// A token is opened once and its claims kept for the next requests (by every clone);
    /// a kept token still expires on time, a variant of it still has to open, and nothing
    /// that failed to open is kept.
    #[test]
    fn opened_tokens_are_kept_and_still_expire() {
        let t = tokens(Duration::from_secs(900));
        let worker = t.clone();
        let token = t.issue(5, 6, 7);
        let claims = t.verify(&token).unwrap();
        assert_eq!(t.opened.len(), 1);
        assert_eq!(
            worker.verify(&token),
            Ok(claims.clone()),
            "a clone shares them"
        );
        assert_eq!(t.opened.len(), 1);

        let mut bytes = token.clone().into_bytes();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(t.verify(&tampered), Err(AuthError::Invalid(_))));
        assert!(matches!(t.verify("v4.local.x"), Err(AuthError::Invalid(_))));
        assert_eq!(t.opened.len(), 1, "nothing that failed is kept");

        assert_eq!(
            t.verify_at(&token, claims.expires_at),
            Err(AuthError::Expired)
        );
        assert_eq!(t.opened.len(), 0, "an expired token is dropped");
        assert_eq!(
            t.verify_at(&token, claims.expires_at),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn tampered_token_is_invalid() {
        let t = tokens(Duration::from_secs(900));
        let token = t.issue(1, 2, 3);
        let mut bytes = token.into_bytes();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(t.verify(&tampered), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn other_families_are_named() {
        let t = tokens(Duration::from_secs(900));
        let mcp = CredentialFamily::Mcp.generate();
        match t.verify(&mcp) {
            Err(AuthError::Invalid(msg)) => assert!(msg.contains("/mcp"), "{msg}"),
            other => panic!("{other:?}"),
        }
        match t.verify(&CredentialFamily::Refresh.generate()) {
            Err(AuthError::Invalid(msg)) => assert!(msg.contains("/auth/refresh"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(t.verify("garbage"), Err(AuthError::Invalid(_))));
        assert!(matches!(
            t.verify("v4.local.garbage"),
            Err(AuthError::Invalid(_))
        ));
    }
}
