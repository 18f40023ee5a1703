//! Slugs made on the client, so that every imported post has one before it is sent and a
//! second run finds the first run's posts by slug (`409 CONFLICT`). The rules are the
//! server's own: the `jekcms-slug` crate, which `jekcms-content` uses too and which depends
//! on nothing, so the CLI still reaches no server-side crate. What is the CLI's alone is
//! [`for_post`]: which slug an imported post is sent with.

use percent_encoding::percent_decode_str;

pub use jekcms_slug::{MAX_SLUG_LEN, from_text, is_valid, with_suffix};

/// The slug to send for a post: the source's own slug when valid; else the source slug
/// percent-decoded (WordPress stores non-ASCII slugs as `caf%c3%a9`) and made valid; else
/// one made from the title; else `post-` and a hash of the title. Deterministic, so that
/// a re-run sends the same slug.
pub fn for_post(source_slug: Option<&str>, title: &str) -> String {
    if let Some(raw) = source_slug.map(str::trim).filter(|s| !s.is_empty()) {
        if is_valid(raw) {
            return raw.to_owned();
        }
        let decoded = percent_decode_str(raw).decode_utf8_lossy();
        if let Some(slug) = from_text(&decoded) {
            return slug;
        }
    }
    from_text(title).unwrap_or_else(|| format!("post-{:016x}", fnv1a(title.trim().as_bytes())))
}

/// 64-bit FNV-1a: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_source_slugs_are_kept() {
        assert_eq!(for_post(Some("hello-world"), "Other"), "hello-world");
        assert_eq!(for_post(Some("  x-2 "), "Other"), "x-2");
    }

    #[test]
    fn percent_encoded_slugs_are_decoded_and_folded() {
        assert_eq!(for_post(Some("caf%c3%a9-ouvert"), "T"), "cafe-ouvert");
        assert_eq!(for_post(Some("Hello_World"), "T"), "hello-world");
    }

    #[test]
    fn otherwise_the_title_or_a_stable_hash() {
        assert_eq!(for_post(None, "  Café Über!  "), "cafe-uber");
        assert_eq!(for_post(Some("%d0%bf%d1%80"), "Über"), "uber");
        let a = for_post(None, "Привет");
        assert!(is_valid(&a) && a.starts_with("post-"), "{a}");
        assert_eq!(a, for_post(None, "Привет"));
        assert_ne!(a, for_post(None, "Пока"));
    }

    #[test]
    fn suffixes_keep_the_slug_valid() {
        let long = "a".repeat(MAX_SLUG_LEN);
        let s = with_suffix(&long, 12);
        assert!(is_valid(&s) && s.ends_with("-12"), "{s}");
    }
}
