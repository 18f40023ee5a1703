//! JekCMS slugs: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most [`MAX_SLUG_LEN`] bytes, and how one
//! is made from a title.
//!
//! The server (as `jekcms_content::slug`) and the `jekcms-cli` importer, which sends every
//! post with its slug already made, use these same functions. This crate has no dependency,
//! so the CLI can use it while reaching no server-side crate (`scripts/check-layers.sh`).
//!
//! ```
//! use jekcms_slug::{from_text, from_title, is_valid, with_suffix};
//!
//! assert_eq!(from_title("Café Über, 2026!"), "cafe-uber-2026");
//! assert_eq!(from_text("日本語"), None);
//! assert_eq!(from_title("日本語"), "post");
//! assert_eq!(with_suffix("hello", 2), "hello-2");
//! assert!(is_valid("hello-2") && !is_valid("Hello_2"));
//! ```

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

/// Makes a slug from a title as [`from_text`] does; never empty: a title with nothing
/// usable gives `"post"`.
pub fn from_title(title: &str) -> String {
    from_text(title).unwrap_or_else(|| "post".to_owned())
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
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(from_title("Hello, World!"), "hello-world");
        assert_eq!(from_title("  Café Über  "), "cafe-uber");
        assert_eq!(from_title("--Rust 2026--"), "rust-2026");
        assert_eq!(from_title("日本語"), "post");
        assert_eq!(from_text("日本語"), None);
        assert_eq!(from_text("  ¿?  "), None);
        assert_eq!(from_title("100% _real_"), "100-real");
        assert_eq!(with_suffix("hello", 2), "hello-2");
    }

    #[test]
    fn validity() {
        assert!(is_valid("a"));
        assert!(is_valid("a-1-b"));
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", "a b", "é"] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(is_valid(&"a".repeat(200)));
        assert!(!is_valid(&"a".repeat(201)));
    }

    proptest! {
        #[test]
        fn prop_generated_slugs_are_valid(title in ".{0,400}") {
            let s = from_title(&title);
            prop_assert!(is_valid(&s), "{s:?}");
        }

        #[test]
        fn prop_suffixed_slugs_are_valid(title in ".{0,400}", n in 2u32..1_000_000) {
            let s = with_suffix(&from_title(&title), n);
            prop_assert!(is_valid(&s), "{s:?}");
        }

        #[test]
        fn prop_valid_slugs_are_fixed_points(s in "[a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,5}") {
            prop_assert!(is_valid(&s));
            prop_assert_eq!(from_title(&s), s);
        }
    }
}
