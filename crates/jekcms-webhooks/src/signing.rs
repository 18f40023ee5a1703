//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64 part of a `whsec_` secret.
//! While a rotation overlaps, the site has two valid secrets and the header carries one
//! signature per secret, separated by a space, so a receiver holding either verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// The prefix of a webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The `webhook-id` of delivery `delivery_id`: the same for every attempt and redelivery,
/// so that receivers can de-duplicate by it.
pub fn message_id(delivery_id: i64) -> String {
    format!("msg_{delivery_id}")
}

/// A malformed secret (not `whsec_` followed by base64).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret must be whsec_ followed by base64")]
pub struct BadSecret;

/// The keys a message is signed with: one per valid secret. The key bytes are never
/// printed (no `Debug` of them). The default has none.
#[derive(Default)]
pub struct SigningKeys(Vec<hmac::Key>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} keys)", self.0.len())
    }
}

impl SigningKeys {
    /// Keys from `whsec_…` secrets, newest first.
    pub fn from_secrets<S: AsRef<str>>(
        secrets: impl IntoIterator<Item = S>,
    ) -> Result<Self, BadSecret> {
        secrets
            .into_iter()
            .map(|secret| {
                let encoded = secret
                    .as_ref()
                    .strip_prefix(SECRET_PREFIX)
                    .ok_or(BadSecret)?;
                let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
                Ok(hmac::Key::new(hmac::HMAC_SHA256, &key))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// How many keys sign.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no key (the site has no webhook secret yet).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `webhook-signature` value for a message: `v1,<sig>` per key, space-separated.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let prefix = format!("{message_id}.{timestamp}.");
        self.0
            .iter()
            .map(|key| {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(prefix.as_bytes());
                ctx.update(body);
                format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked with the `standardwebhooks` crate, an independent implementation.
    #[test]
    fn signatures_verify_with_the_reference_implementation() {
        let (old, new) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_Vb7Qm2Xk9Lp4Zr8Tn1Wc6Hd3Fs5Gj0Ya",
        );
        let keys = SigningKeys::from_secrets([new, old]).unwrap();
        let body = br#"{"type":"ping","timestamp":"2026-12-04T10:00:00Z","data":{}}"#;
        let ts = chrono::Utc::now().timestamp();
        let signature = keys.sign("msg_7", ts, body);
        assert_eq!(signature.split(' ').count(), 2);
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_7".parse().unwrap());
        headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        for secret in [old, new] {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(body, &headers)
                .unwrap();
        }
        let other =
            standardwebhooks::Webhook::new("whsec_QWxsIHRoZSBvdGhlciBrZXlzIGZhaWw=").unwrap();
        assert!(other.verify(body, &headers).is_err());
        assert!(
            standardwebhooks::Webhook::new(old)
                .unwrap()
                .verify(b"{}", &headers)
                .is_err()
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(SigningKeys::from_secrets(["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).is_err());
        assert!(SigningKeys::from_secrets(["whsec_not base64!"]).is_err());
        assert!(
            SigningKeys::from_secrets(Vec::<String>::new())
                .unwrap()
                .is_empty()
        );
    }
}
