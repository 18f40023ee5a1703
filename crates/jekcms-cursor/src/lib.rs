//! Opaque, sealed keyset-pagination cursors (API.md §4).
//!
//! A [`Cursor`] names the last row of a page: its sort key and id. [`CursorCodec::seal`]
//! encrypts and authenticates it (ChaCha20-Poly1305 from `ring`, key derived with HKDF from
//! the deployment secret) and binds it to the list's sort and filters, passed as the
//! *binding* bytes. [`CursorCodec::open`] refuses anything changed, truncated, forged, sealed
//! under another key, or made for another binding — so clients can neither read nor build
//! cursors, and a cursor cannot be replayed against a different query.
//!
//! This crate knows nothing of HTTP, SQL or posts: it encodes values, nothing more.
//!
//! From any program holding the deployment secret:
//!
//! ```
//! use jekcms_cursor::{Cursor, CursorCodec, CursorError, SortKey};
//!
//! let codec = CursorCodec::new(&[7u8; 32]);
//! let last_row = Cursor { key: SortKey::Text("hello".into()), id: 42 };
//! let token = codec.seal(&last_row, b"sort=title");
//! assert_eq!(codec.open(&token, b"sort=title"), Ok(last_row));
//! // Presented with another query, or under another secret, the cursor is refused.
//! assert_eq!(codec.open(&token, b"sort=-title"), Err(CursorError::Unsealed));
//! let other = CursorCodec::new(&[8u8; 32]);
//! assert_eq!(other.open(&token, b"sort=title"), Err(CursorError::Unsealed));
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// Longest cursor string [`CursorCodec::open`] will look at; longer input is refused unread.
pub const MAX_CURSOR_LEN: usize = 2048;

const VERSION: u8 = 1;
const TAG_NULL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_TEXT: u8 = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a cursor was refused. Every variant means "not a cursor this server made for this
/// query"; the distinction exists for logs and tests only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not URL-safe base64, or longer than [`MAX_CURSOR_LEN`].
    #[error("cursor is not valid base64 of an acceptable length")]
    Encoding,
    /// Authentication failed: altered, truncated, forged, or bound to another query.
    #[error("cursor was altered or belongs to another query")]
    Unsealed,
    /// Authentic but of an unknown version or shape (e.g. an older server's format).
    #[error("cursor payload is not understood")]
    Payload,
}

/// The sort-key value of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// The row has no value for the sort column (e.g. an unpublished post).
    Null,
    /// An integer key; timestamps are carried as microseconds since the Unix epoch.
    Int(i64),
    /// A text key (e.g. a title).
    Text(String),
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Sort-key value of the last row returned.
    pub key: SortKey,
    /// Id of the last row returned; breaks ties in the sort key.
    pub id: i64,
}

/// Seals and opens cursors with a key derived from the deployment secret.
pub struct CursorCodec {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { .. }")
    }
}

struct KeyLen;
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        CHACHA20_POLY1305.key_len()
    }
}

impl CursorCodec {
    /// A codec whose key is derived from `secret` (HKDF-SHA256, info `jekcms/cursor/v1`), so
    /// the same deployment secret can also key other primitives without reuse.
    pub fn new(secret: &[u8; 32]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"jekcms").extract(secret);
        let info: &[&[u8]] = &[b"jekcms/cursor/v1"];
        let okm = prk
            .expand(info, KeyLen)
            .expect("HKDF output length is valid for ChaCha20-Poly1305");
        let mut key_bytes = [0u8; 32];
        okm.fill(&mut key_bytes)
            .expect("HKDF fill of a 32-byte key succeeds");
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).expect("32-byte ChaCha20 key"),
        );
        Self {
            key,
            rng: SystemRandom::new(),
        }
    }

    /// Seals `cursor` for the query described by `binding` (its sort and filters in a
    /// canonical form), returning URL-safe base64 without padding.
    pub fn seal(&self, cursor: &Cursor, binding: &[u8]) -> String {
        let mut buf = Vec::with_capacity(NONCE_LEN + 32 + TAG_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce_bytes)
            .expect("system randomness is available");
        buf.extend_from_slice(&nonce_bytes);
        encode_payload(cursor, &mut buf);
        let (head, payload) = buf.split_at_mut(NONCE_LEN);
        let _ = head;
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(binding),
                payload,
            )
            .expect("sealing a short payload cannot fail");
        buf.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(&buf)
    }

    /// Opens a cursor made by [`seal`](Self::seal) with the same key and `binding`.
    pub fn open(&self, token: &str, binding: &[u8]) -> Result<Cursor, CursorError> {
        if token.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Encoding);
        }
        let mut raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| CursorError::Encoding)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CursorError::Unsealed);
        }
        let (nonce_bytes, sealed) = raw.split_at_mut(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| CursorError::Unsealed)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(binding), sealed)
            .map_err(|_| CursorError::Unsealed)?;
        decode_payload(plain)
    }
}

fn encode_payload(cursor: &Cursor, out: &mut Vec<u8>) {
    out.push(VERSION);
    match &cursor.key {
        SortKey::Null => out.push(TAG_NULL),
        SortKey::Int(v) => {
            out.push(TAG_INT);
            out.extend_from_slice(&v.to_be_bytes());
        }
        SortKey::Text(s) => {
            out.push(TAG_TEXT);
            let len = u32::try_from(s.len()).expect("sort keys are far below 4 GiB");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out.extend_from_slice(&cursor.id.to_be_bytes());
}

fn decode_payload(bytes: &[u8]) -> Result<Cursor, CursorError> {
    let mut r = Reader(bytes);
    if r.take(1)?[0] != VERSION {
        return Err(CursorError::Payload);
    }
    let key = match r.take(1)?[0] {
        TAG_NULL => SortKey::Null,
        TAG_INT => SortKey::Int(i64::from_be_bytes(r.array()?)),
        TAG_TEXT => {
            let len = u32::from_be_bytes(r.array()?) as usize;
            let text = std::str::from_utf8(r.take(len)?).map_err(|_| CursorError::Payload)?;
            SortKey::Text(text.to_owned())
        }
        _ => return Err(CursorError::Payload),
    };
    let id = i64::from_be_bytes(r.array()?);
    if !r.0.is_empty() {
        return Err(CursorError::Payload);
    }
    Ok(Cursor { key, id })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CursorError> {
        if self.0.len() < n {
            return Err(CursorError::Payload);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CursorError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> CursorCodec {
        CursorCodec::new(&[7u8; 32])
    }

    fn any_key() -> impl Strategy<Value = SortKey> {
        prop_oneof![
            Just(SortKey::Null),
            any::<i64>().prop_map(SortKey::Int),
            ".{0,300}".prop_map(SortKey::Text),
        ]
    }

    #[test]
    fn round_trip_simple() {
        let c = Cursor {
            key: SortKey::Int(1_700_000_000_000_000),
            id: 42,
        };
        let sealed = codec().seal(&c, b"sort=-created_at");
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(codec().open(&sealed, b"sort=-created_at"), Ok(c));
    }

    #[test]
    fn other_binding_is_refused() {
        let c = Cursor {
            key: SortKey::Null,
            id: 1,
        };
        let sealed = codec().seal(&c, b"sort=title");
        assert_eq!(
            codec().open(&sealed, b"sort=-title"),
            Err(CursorError::Unsealed)
        );
    }

    #[test]
    fn other_secret_is_refused() {
        let c = Cursor {
            key: SortKey::Int(5),
            id: 1,
        };
        let sealed = CursorCodec::new(&[1u8; 32]).seal(&c, b"");
        assert_eq!(codec().open(&sealed, b""), Err(CursorError::Unsealed));
    }

    #[test]
    fn garbage_and_oversize_are_refused() {
        assert_eq!(codec().open("!!!", b""), Err(CursorError::Encoding));
        assert_eq!(codec().open("", b""), Err(CursorError::Unsealed));
        let long = "A".repeat(MAX_CURSOR_LEN + 1);
        assert_eq!(codec().open(&long, b""), Err(CursorError::Encoding));
    }

    #[test]
    fn seals_are_not_deterministic() {
        let c = Cursor {
            key: SortKey::Int(5),
            id: 1,
        };
        assert_ne!(codec().seal(&c, b""), codec().seal(&c, b""));
    }

    proptest! {
        #[test]
        fn prop_round_trip(key in any_key(), id in any::<i64>(), binding in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = Cursor { key, id };
            let codec = codec();
            let sealed = codec.seal(&c, &binding);
            prop_assert_eq!(codec.open(&sealed, &binding), Ok(c));
        }

        #[test]
        fn prop_any_flipped_byte_is_refused(key in any_key(), id in any::<i64>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let codec = codec();
            let sealed = codec.seal(&Cursor { key, id }, b"b");
            let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            let i = pos.index(raw.len());
            raw[i] ^= 1 << bit;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            prop_assert!(codec.open(&tampered, b"b").is_err());
        }

        #[test]
        fn prop_any_truncation_is_refused(key in any_key(), id in any::<i64>(), cut in any::<prop::sample::Index>()) {
            let codec = codec();
            let sealed = codec.seal(&Cursor { key, id }, b"b");
            let n = cut.index(sealed.len());
            prop_assert!(codec.open(&sealed[..n], b"b").is_err());
        }

        #[test]
        fn prop_any_string_never_panics(s in ".{0,200}") {
            let _ = codec().open(&s, b"");
        }
    }
}
