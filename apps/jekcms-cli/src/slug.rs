//! Slugs made on the client, so that every imported post has one before it is sent and a
//! second run finds the first run's posts by slug (`409 CONFLICT`). The rules are the
//! server's (`^[a-z0-9]+(-[a-z0-9]+)*$`, at most 200 bytes); the CLI keeps its own copy
//! because it may not depend on server crates.

use percent_encoding::percent_decode_str;

/// Longest accepted slug.
pub const MAX_SLUG_LEN: usize = 200;

/// Whether `s` is a valid slug.
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SLUG_LEN
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// A slug made from `text`: ASCII letters and digits kept (lower-cased), common Latin
/// accents folded, everything else a separator. `None` when nothing usable is left (a
/// title in another script).
pub fn from_text(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len().min(MAX_SLUG_LEN));
    let mut pending_dash = false;
    for c in text.chars().flat_map(fold) {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    truncate(&mut out, MAX_SLUG_LEN);
    (!out.is_empty()).then_some(out)
}

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

/// `base` with a numeric suffix (`base-2`, `base-3`, …), cut so the result stays valid.
pub fn with_suffix(base: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    let mut head = base.to_owned();
    truncate(&mut head, MAX_SLUG_LEN - suffix.len());
    head.push_str(&suffix);
    head
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        s.truncate(max);
    }
    while s.ends_with('-') {
        s.pop();
    }
}

/// 64-bit FNV-1a: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Folds common accented Latin letters to ASCII so `"Café Über"` becomes `"cafe-uber"`.
fn fold(c: char) -> impl Iterator<Item = char> {
    let s: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        _ => "",
    };
    let single = if s.is_empty() { Some(c) } else { None };
    s.chars().chain(single)
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
