//! PASETO v4.local access tokens.
//!
//! A token is self-contained and encrypted: it names the session, the user and the site and
//! carries its expiry. It is *not* sufficient on its own — the app checks the session on
//! every request so that revocation takes effect at once — but it saves parsing anything
//! else and lets a forged or expired token be refused without a database round trip.

use crate::AuthError;
use crate::credential::CredentialFamily;
use chrono::{DateTime, Utc};
use pasetors::claims::{Claims, ClaimsValidationRules};
use pasetors::errors::{ClaimValidationError, Error as PasetoError};
use pasetors::keys::SymmetricKey;
use pasetors::token::UntrustedToken;
use pasetors::version4::V4;
use pasetors::{Local, local};
use ring::hkdf;
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

/// Mints and verifies access tokens with a key derived from the deployment secret.
pub struct AccessTokens {
    key: SymmetricKey<V4>,
    ttl: Duration,
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
        Self { key, ttl }
    }

    /// The lifetime of newly issued tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for a session.
    pub fn issue(&self, session_id: i64, user_id: i64, site_id: i64) -> String {
        let mut claims = Claims::new_expires_in(&self.ttl).expect("ttl fits a timestamp");
        claims
            .add_additional("sid", session_id)
            .expect("sid is not reserved");
        claims
            .add_additional("uid", user_id)
            .expect("uid is not reserved");
        claims
            .add_additional("site", site_id)
            .expect("site is not reserved");
        local::encrypt(&self.key, &claims, None, Some(IMPLICIT_ASSERTION))
            .expect("encrypting well-formed claims succeeds")
    }

    /// Verifies a presented token: authenticity first, then expiry.
    ///
    /// A token under another key is `Invalid` even if it is also expired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        if !token.starts_with(CredentialFamily::Access.prefix()) {
            return Err(wrong_family(token));
        }
        let untrusted = UntrustedToken::<Local, V4>::try_from(token)
            .map_err(|_| AuthError::invalid("the access token is malformed"))?;
        let rules = ClaimsValidationRules::new();
        let trusted = local::decrypt(
            &self.key,
            &untrusted,
            &rules,
            None,
            Some(IMPLICIT_ASSERTION),
        )
        .map_err(|e| match e {
            PasetoError::ClaimValidation(ClaimValidationError::Exp) => AuthError::Expired,
            _ => AuthError::invalid("the access token is invalid"),
        })?;
        let claims = trusted
            .payload_claims()
            .ok_or_else(|| AuthError::invalid("the access token is invalid"))?;
        let int = |name: &str| claims.get_claim(name).and_then(|v| v.as_i64());
        let expires_at = claims
            .get_claim("exp")
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        match (int("sid"), int("uid"), int("site"), expires_at) {
            (Some(session_id), Some(user_id), Some(site_id), Some(expires_at)) => {
                Ok(AccessClaims {
                    session_id,
                    user_id,
                    site_id,
                    expires_at,
                })
            }
            _ => Err(AuthError::invalid("the access token is invalid")),
        }
    }
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
