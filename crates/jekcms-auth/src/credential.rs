//! Credential strings: families, generation, checksums and hashing.
//!
//! Every secret is `<prefix><30 random base62 chars><6 base62 chars of CRC32>`, 178 bits of
//! randomness from the OS CSPRNG. The checksum (as in GitHub's token format) lets a secret
//! scanner recognise a leaked key and lets the server refuse a mistyped one without a
//! database lookup. Only a SHA-256 hash of a secret is stored: the secrets are random and
//! long, so a slow password hash would add latency without adding safety.

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 30;
const CHECKSUM_CHARS: usize = 6;

/// The kinds of credential string JekCMS hands out, told apart by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialFamily {
    /// `api_…`: public id of an API key, exchanged with its secret for a token pair.
    ApiKey,
    /// `sk_…`: the secret half of an API key.
    ApiSecret,
    /// `rf_…`: a refresh token.
    Refresh,
    /// `mcp_…`: a token for the MCP endpoint.
    Mcp,
    /// `pk_…`: a site's pull key for the public pull API.
    Pull,
    /// `v4.local.…`: a PASETO access token.
    Access,
}

impl CredentialFamily {
    /// Every family.
    pub const ALL: [CredentialFamily; 6] = [
        Self::ApiKey,
        Self::ApiSecret,
        Self::Refresh,
        Self::Mcp,
        Self::Pull,
        Self::Access,
    ];

    /// The string prefix of this family.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::ApiKey => "api_",
            Self::ApiSecret => "sk_",
            Self::Refresh => "rf_",
            Self::Mcp => "mcp_",
            Self::Pull => "pk_",
            Self::Access => "v4.local.",
        }
    }

    /// The family a presented string claims to be, by prefix alone.
    pub fn detect(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| s.starts_with(f.prefix()))
    }

    /// Where this family is accepted; used in the message of a wrong-family refusal.
    pub const fn belongs(self) -> &'static str {
        match self {
            Self::ApiKey | Self::ApiSecret => {
                "api_ keys and sk_ secrets are exchanged for a token pair at POST /api/v2/auth/token (or sent as X-API-Key/X-API-Secret to /api/v1); they are not bearer tokens"
            }
            Self::Refresh => {
                "rf_ refresh tokens are only accepted by POST /api/v2/auth/refresh and /api/v2/auth/revoke, not as bearer tokens"
            }
            Self::Mcp => "mcp_ tokens authenticate the MCP endpoint at /mcp, not the REST API",
            Self::Pull => {
                "pk_ pull keys authenticate the pull API at /api/v2/pull as X-API-Key, not the REST API"
            }
            Self::Access => {
                "access tokens (v4.local.) are sent as Authorization: Bearer to /api/v2"
            }
        }
    }

    /// Generates a fresh random credential of this family with its checksum.
    ///
    /// # Panics
    /// For [`CredentialFamily::Access`], which is minted by [`crate::AccessTokens`].
    pub fn generate(self) -> String {
        assert!(
            self != Self::Access,
            "access tokens are minted by AccessTokens"
        );
        let mut out = String::with_capacity(self.prefix().len() + RANDOM_CHARS + CHECKSUM_CHARS);
        out.push_str(self.prefix());
        out.push_str(&random_base62(RANDOM_CHARS));
        let checksum = checksum_chars(&out);
        out.push_str(&checksum);
        out
    }

    /// Whether `s` has this family's prefix, the right length, base62 characters and a
    /// matching checksum. Cheap; no lookup.
    pub fn is_well_formed(self, s: &str) -> bool {
        if self == Self::Access {
            return s.starts_with(self.prefix());
        }
        let Some(rest) = s.strip_prefix(self.prefix()) else {
            return false;
        };
        if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return false;
        }
        let (body, check) = s.split_at(s.len() - CHECKSUM_CHARS);
        checksum_chars(body) == check
    }
}

/// `n` characters drawn uniformly from the 62 of base62, from the OS CSPRNG.
pub fn random_base62(n: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill(&mut buf).expect("system randomness is available");
        // Rejection sampling keeps every character uniform: 248 = 4 * 62.
        for &b in buf.iter().filter(|&&b| b < 248).take(n - out.len()) {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    out
}

fn checksum_chars(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut chars = [b'0'; CHECKSUM_CHARS];
    for slot in chars.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(chars.to_vec()).expect("alphabet is ASCII")
}

/// SHA-256 of a secret, the only form in which secrets are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    /// Hashes a presented or newly made secret.
    pub fn of(secret: &str) -> Self {
        let d = digest::digest(&digest::SHA256, secret.as_bytes());
        Self(d.as_ref().try_into().expect("SHA-256 is 32 bytes"))
    }

    /// Reads a stored hash; `None` if it is not 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        Self::of(secret).0.ct_eq(&self.0).into()
    }

    /// The raw bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_credentials_are_well_formed_and_distinct() {
        for family in CredentialFamily::ALL {
            if family == CredentialFamily::Access {
                continue;
            }
            let a = family.generate();
            let b = family.generate();
            assert_ne!(a, b);
            assert!(family.is_well_formed(&a), "{a}");
            assert_eq!(CredentialFamily::detect(&a), Some(family));
            for other in CredentialFamily::ALL {
                if other != family {
                    assert!(!other.is_well_formed(&a));
                }
            }
        }
    }

    #[test]
    fn a_typo_breaks_the_checksum() {
        let key = CredentialFamily::ApiKey.generate();
        let mut chars: Vec<char> = key.chars().collect();
        let i = 10;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!CredentialFamily::ApiKey.is_well_formed(&typo));
    }

    #[test]
    fn hashes_compare_only_to_their_secret() {
        let secret = CredentialFamily::ApiSecret.generate();
        let hash = SecretHash::of(&secret);
        assert!(hash.matches(&secret));
        assert!(!hash.matches(&CredentialFamily::ApiSecret.generate()));
        assert_eq!(SecretHash::from_slice(hash.as_bytes()), Some(hash.clone()));
        assert_eq!(format!("{hash:?}"), "SecretHash(..)");
    }

    proptest! {
        #[test]
        fn prop_any_single_char_change_is_detected(pos in 4usize..40, c in "[0-9A-Za-z]") {
            let key = CredentialFamily::ApiKey.generate();
            let mut chars: Vec<char> = key.chars().collect();
            let new = c.chars().next().unwrap();
            prop_assume!(chars[pos] != new);
            chars[pos] = new;
            let changed: String = chars.into_iter().collect();
            prop_assert!(!CredentialFamily::ApiKey.is_well_formed(&changed));
        }

        #[test]
        fn prop_arbitrary_strings_never_panic(s in ".{0,60}") {
            for f in CredentialFamily::ALL {
                let _ = f.is_well_formed(&s);
            }
            let _ = CredentialFamily::detect(&s);
        }
    }
}
