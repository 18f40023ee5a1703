//! Secrets the server must read back (a site's webhook signing secret), kept sealed with a
//! key derived from the deployment secret: a copy of the database alone does not reveal them.
//!
//! ChaCha20-Poly1305 from `ring` with a random 96-bit nonce per seal; the key is derived with
//! HKDF-SHA256 (info `jekcms/sealed/v1`), so it is never the key that seals tokens or cursors.
//! The additional data binds a sealed value to what it is for (e.g. `webhook-secret/7` for
//! site 7), so a value copied to another row does not open.
//!
//! ```
//! use jekcms_auth::sealed::SecretBox;
//!
//! let secrets = SecretBox::new(&[7u8; 32]);
//! let sealed = secrets.seal(b"whsec_abc", b"webhook-secret/1");
//! assert_eq!(secrets.open(&sealed, b"webhook-secret/1").as_deref(), Some(&b"whsec_abc"[..]));
//! assert!(secrets.open(&sealed, b"webhook-secret/2").is_none(), "bound to its use");
//! assert!(SecretBox::new(&[8u8; 32]).open(&sealed, b"webhook-secret/1").is_none());
//! ```

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// Seals and opens small secrets with a key derived from the deployment secret.
pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox { .. }")
    }
}

struct KeyLen;
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        CHACHA20_POLY1305.key_len()
    }
}

impl SecretBox {
    /// A box keyed from the deployment `secret`.
    pub fn new(secret: &[u8; 32]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"jekcms").extract(secret);
        let info: &[&[u8]] = &[b"jekcms/sealed/v1"];
        let mut key_bytes = [0u8; 32];
        prk.expand(info, KeyLen)
            .and_then(|okm| okm.fill(&mut key_bytes))
            .expect("HKDF can fill a 32-byte key");
        Self {
            key: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).expect("32-byte ChaCha20 key"),
            ),
            rng: SystemRandom::new(),
        }
    }

    /// `plaintext` sealed for `purpose`: the nonce, the ciphertext and the tag.
    pub fn seal(&self, plaintext: &[u8], purpose: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("system randomness is available");
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose),
                &mut body,
            )
            .expect("sealing a short secret cannot fail");
        out.extend_from_slice(&body);
        out
    }

    /// The plaintext of `sealed`, or `None` if it was sealed under another key or purpose,
    /// or altered.
    pub fn open(&self, sealed: &[u8], purpose: &[u8]) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn altered_or_truncated_values_do_not_open() {
        let b = SecretBox::new(&[1u8; 32]);
        let sealed = b.seal(b"secret", b"p");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(b.open(&bad, b"p").is_none(), "byte {i} flipped");
        }
        assert!(b.open(&sealed[..sealed.len() - 1], b"p").is_none());
        assert!(b.open(&[], b"p").is_none());
        assert_ne!(b.seal(b"secret", b"p"), sealed, "a fresh nonce every time");
    }
}
