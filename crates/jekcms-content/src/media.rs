//! Media: uploaded files, their accepted types, and how they are listed.
//!
//! The type of an upload is sniffed from its first bytes (the `infer` crate); the client's
//! claimed type and file name extension are never trusted. Only images, PDF, audio and video
//! are accepted — SVG and HTML are refused because a browser would run their scripts.

use crate::page::{Bound, Key, Keys, Listing, Params, parse_include_total};
use crate::{ContentError, FieldError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Longest stored file name, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Longest alt text, in characters.
pub const MAX_ALT_TEXT_CHARS: usize = 1_000;
/// Widest or tallest image accepted, in pixels.
pub const MAX_IMAGE_SIDE: u64 = 50_000;
/// Most pixels in an image accepted (250 megapixels): a few hundred bytes of header can
/// claim an image whose decoding would take gigabytes in whatever displays or resizes it.
pub const MAX_IMAGE_PIXELS: u64 = 250_000_000;

/// A stored medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Media {
    /// Unique id.
    pub id: i64,
    /// The site it belongs to.
    #[serde(skip)]
    pub site_id: i64,
    /// The uploader.
    pub author_id: i64,
    /// The client's file name, cleaned of paths and control characters.
    pub filename: String,
    /// Sniffed from the bytes.
    pub mime_type: String,
    /// Size of the file.
    pub size_bytes: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Pixel width, for images whose header gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    /// Pixel height, for images whose header gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// Text alternative.
    pub alt_text: Option<String>,
    /// Where the bytes are served to the site's users (with a credential).
    pub url: String,
    /// Where the bytes are served to anyone, with no credential: `/m/{token}/{filename}`, the
    /// token an unguessable capability (at least 128 random bits), the file name
    /// percent-encoded as one path segment. Fixed for the medium's life; for `<img src>`.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "/m/7Rk2pQx9LmZa4VbN0cYt3W/lighthouse%20at%20dusk.jpg")
    )]
    pub public_url: String,
    /// Upload time.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change of the record.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Key of the stored file, relative to the media directory.
    #[serde(skip)]
    pub storage_key: String,
}

impl Media {
    /// The URL path of a medium's bytes for the site's users.
    pub fn content_url(id: i64) -> String {
        format!("/api/v2/media/{id}/content")
    }

    /// The public URL path of a medium's bytes: `/m/{token}/{filename}`, the file name
    /// percent-encoded as one path segment (everything but `A–Z a–z 0–9 - . _ ~`).
    pub fn public_url(token: &str, filename: &str) -> String {
        format!(
            "/m/{token}/{}",
            percent_encoding::utf8_percent_encode(filename, PATH_SEGMENT)
        )
    }
}

/// What [`Media::public_url`] encodes: all but RFC 3986's unreserved characters, so the
/// file name stays one path segment (`/`, `?`, `#`, `%` and spaces are encoded).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `token` can be a public-URL token: 16 to 64 ASCII letters and digits (tokens
/// are 22 base62 characters; media recorded before public URLs existed got 32 or 64 hex
/// digits). Anything else is answered 404 without asking the database.
pub fn is_public_token(token: &str) -> bool {
    (16..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A medium to record, after its bytes are safely stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    /// Cleaned file name.
    pub filename: String,
    /// Sniffed type.
    pub mime_type: String,
    /// Size of the file.
    pub size_bytes: i64,
    /// Hex SHA-256.
    pub sha256: String,
    /// Image width.
    pub width: Option<i32>,
    /// Image height.
    pub height: Option<i32>,
    /// Text alternative.
    pub alt_text: Option<String>,
    /// Key of the stored file.
    pub storage_key: String,
}

/// What sniffing found out about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// The real content type.
    pub mime_type: &'static str,
    /// Its usual extension.
    pub extension: &'static str,
    /// Pixel dimensions for images.
    pub dimensions: Option<(i32, i32)>,
}

/// Finds the real type of an upload from its first bytes; refuses anything that is not an
/// image, PDF, audio or video.
pub fn sniff(head: &[u8]) -> Result<Sniffed, ContentError> {
    let kind = infer::get(head).ok_or_else(|| {
        ContentError::UnsupportedMediaType(
            "the file type could not be recognised; upload an image, PDF, audio or video file"
                .into(),
        )
    })?;
    let accepted = matches!(
        kind.matcher_type(),
        infer::MatcherType::Image | infer::MatcherType::Audio | infer::MatcherType::Video
    ) || kind.mime_type() == "application/pdf";
    if !accepted {
        return Err(ContentError::UnsupportedMediaType(format!(
            "files of type {} are not accepted; upload an image, PDF, audio or video file",
            kind.mime_type()
        )));
    }
    let dimensions = if kind.matcher_type() == infer::MatcherType::Image {
        match imagesize::blob_size(head) {
            Ok(size) => {
                let (w, h) = (size.width as u64, size.height as u64);
                if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE || w * h > MAX_IMAGE_PIXELS {
                    return Err(ContentError::field(
                        "file",
                        format!(
                            "the image is {w}×{h} pixels; at most {MAX_IMAGE_SIDE} on a side and {MAX_IMAGE_PIXELS} in all"
                        ),
                    ));
                }
                i32::try_from(w).ok().zip(i32::try_from(h).ok())
            }
            // A header this reader does not know: stored without dimensions.
            Err(_) => None,
        }
    } else {
        None
    };
    Ok(Sniffed {
        mime_type: kind.mime_type(),
        extension: kind.extension(),
        dimensions,
    })
}

/// Cleans a client-supplied file name: the last path component; control characters,
/// Unicode format characters (bidi overrides such as U+202E, which make `gpj.exe` display
/// as `exe.jpg`; zero-width characters) and quotes removed; the extension replaced by the
/// sniffed type's `extension` (a PNG named `x.html` becomes `x.png`); at most 255
/// characters. Falls back to `upload.<ext>`.
pub fn clean_filename(raw: Option<&str>, extension: &str) -> String {
    let base = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c) && *c != '"')
        .collect();
    // No leading dot (a hidden file) or space, however they are interleaved.
    let cleaned = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    // The extension is the last dot's suffix when it looks like one (letters and digits,
    // with a letter: `1.5` in `Release 1.5` is a version, not an extension).
    let stem = match cleaned.rsplit_once('.') {
        Some((stem, ext))
            if !stem.trim().is_empty()
                && (1..=10).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_alphabetic()) =>
        {
            stem.trim_end()
        }
        _ => cleaned,
    };
    if stem.is_empty() {
        return format!("upload.{extension}");
    }
    let room = MAX_FILENAME_CHARS - 1 - extension.chars().count();
    let stem: String = stem.chars().take(room).collect();
    format!("{}.{extension}", stem.trim_end())
}

/// Unicode format characters (general category Cf) and the line and paragraph separators:
/// invisible, and some (bidi controls) reorder how the rest of a name is shown.
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Validates alt text: at most 1,000 characters, no NUL (PostgreSQL cannot store one, so
/// it would be text that one store keeps and the other refuses).
pub fn check_alt_text(alt: &str) -> Result<(), FieldError> {
    if alt.chars().count() > MAX_ALT_TEXT_CHARS {
        return Err(FieldError::new(
            "alt_text",
            format!("alt_text must be at most {MAX_ALT_TEXT_CHARS} characters"),
        ));
    }
    if alt.contains('\0') {
        return Err(FieldError::new("alt_text", "alt_text must not contain NUL"));
    }
    Ok(())
}

/// What the media list adds to a page request (newest first): a type filter, and whether
/// to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaListQuery {
    /// Only types starting with this, e.g. `image/`.
    pub mime_prefix: Option<String>,
    /// Whether to count all matching rows too.
    pub include_total: bool,
}

impl Listing for MediaListQuery {
    type Item = Media;

    const PARAMS: &'static [&'static str] = &["mime_type", "include"];

    fn from_params(p: &Params<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut q = Self::default();
        match parse_include_total(p.get("include")) {
            Ok(b) => q.include_total = b,
            Err(e) => errors.push(e),
        }
        if let Some(value) = p.get("mime_type") {
            if value.is_empty()
                || value.len() > 100
                || !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/.+-".contains(&b))
            {
                errors.push(FieldError::new(
                    "mime_type",
                    "mime_type must be a type or prefix such as image/ or image/png",
                ));
            } else {
                q.mime_prefix = Some(value.to_ascii_lowercase());
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    fn binding(&self) -> Vec<u8> {
        let mut out = b"media/v1".to_vec();
        let prefix = self.mime_prefix.as_deref().unwrap_or_default();
        out.extend_from_slice(&(prefix.len() as u32).to_be_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out
    }

    fn keys(&self) -> Keys {
        Keys::Time
    }

    /// Newest first by creation time, then id.
    fn bound_after(&self, media: &Media) -> Bound {
        Bound {
            key: Key::Time(media.created_at),
            id: media.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0,
        0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0x72, 0xB6, 0x0D, 0x24,
    ];

    #[test]
    fn png_is_sniffed_with_dimensions() {
        let s = sniff(PNG_1X1).unwrap();
        assert_eq!(s.mime_type, "image/png");
        assert_eq!(s.dimensions, Some((3, 2)));
    }

    #[test]
    fn pdf_is_accepted_and_text_is_not() {
        assert_eq!(
            sniff(b"%PDF-1.7\n...").unwrap().mime_type,
            "application/pdf"
        );
        assert!(matches!(
            sniff(b"<html><script>alert(1)</script></html>"),
            Err(ContentError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            sniff(b"PK\x03\x04zipfile"),
            Err(ContentError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn filenames_are_cleaned() {
        assert_eq!(
            clean_filename(Some("../../etc/passwd"), "png"),
            "passwd.png"
        );
        assert_eq!(clean_filename(Some("C:\\x\\a\"b.png"), "png"), "ab.png");
        assert_eq!(clean_filename(Some(".."), "png"), "upload.png");
        assert_eq!(clean_filename(Some(".png"), "png"), "png.png");
        assert_eq!(clean_filename(None, "pdf"), "upload.pdf");
        assert_eq!(clean_filename(Some("a\0b.png"), "png"), "ab.png");
        assert_eq!(clean_filename(Some(". . x .png"), "png"), "x.png");
        assert_eq!(clean_filename(Some(" . .png"), "png"), "png.png");
    }

    #[test]
    fn filenames_take_the_sniffed_extension() {
        assert_eq!(clean_filename(Some("evil.html"), "png"), "evil.png");
        assert_eq!(clean_filename(Some("photo.JPEG"), "jpg"), "photo.jpg");
        assert_eq!(clean_filename(Some("notes"), "pdf"), "notes.pdf");
        assert_eq!(
            clean_filename(Some("Release 1.5"), "pdf"),
            "Release 1.5.pdf"
        );
        assert_eq!(clean_filename(Some("a.tar.gz"), "png"), "a.tar.png");
        let long = format!("{}.png", "x".repeat(400));
        let cleaned = clean_filename(Some(&long), "png");
        assert_eq!(cleaned.chars().count(), MAX_FILENAME_CHARS);
        assert!(cleaned.ends_with("x.png"));
    }

    #[test]
    fn filenames_lose_format_characters() {
        // U+202E RIGHT-TO-LEFT OVERRIDE would show `invoice\u{202E}gpj.exe` as `invoiceexe.jpg`.
        assert_eq!(
            clean_filename(Some("invoice\u{202E}gpj.exe"), "pdf"),
            "invoicegpj.pdf"
        );
        assert_eq!(
            clean_filename(Some("a\u{200B}b\u{2066}c\u{FEFF}\u{E0041}.png"), "png"),
            "abc.png"
        );
        assert_eq!(
            clean_filename(Some("\u{202E}\u{200F}"), "png"),
            "upload.png"
        );
        assert_eq!(
            clean_filename(Some("café ünïcödé.png"), "png"),
            "café ünïcödé.png"
        );
    }

    #[test]
    fn public_urls_keep_the_file_name_one_segment() {
        assert_eq!(Media::public_url("Ab12", "a.png"), "/m/Ab12/a.png");
        assert_eq!(
            Media::public_url("t", "café ünï #1?%/x~_-.pdf"),
            "/m/t/caf%C3%A9%20%C3%BCn%C3%AF%20%231%3F%25%2Fx~_-.pdf"
        );
        assert!(is_public_token("7Rk2pQx9LmZa4VbN0cYt3W"));
        assert!(is_public_token(&"a".repeat(64)));
        assert!(!is_public_token(&"a".repeat(65)));
        assert!(!is_public_token("short"));
        assert!(!is_public_token("7Rk2pQx9LmZa4VbN0cYt3-"));
    }

    #[test]
    fn alt_text_without_nul() {
        assert!(check_alt_text("A cat\non a mat").is_ok());
        assert_eq!(check_alt_text("a\0b").unwrap_err().field, "alt_text");
    }

    /// A PNG header claiming `w`×`h` pixels.
    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut bytes = PNG_1X1.to_vec();
        bytes[16..20].copy_from_slice(&w.to_be_bytes());
        bytes[20..24].copy_from_slice(&h.to_be_bytes());
        bytes
    }

    #[test]
    fn image_dimensions_are_capped() {
        assert_eq!(
            sniff(&png(50_000, 5_000)).unwrap().dimensions,
            Some((50_000, 5_000))
        );
        assert_eq!(
            sniff(&png(15_000, 15_000)).unwrap().dimensions,
            Some((15_000, 15_000))
        );
        for (w, h) in [
            (50_001, 1),
            (1, 50_001),
            (20_000, 20_000),
            (u32::MAX, u32::MAX),
        ] {
            match sniff(&png(w, h)) {
                Err(ContentError::Validation(errs)) => assert_eq!(errs[0].field, "file"),
                other => panic!("{w}×{h}: {other:?}"),
            }
        }
    }

    #[test]
    fn media_params() {
        let codec = jekcms_cursor::CursorCodec::new(&[1; 32]);
        let parse = |pairs: &[(&'static str, &'static str)]| {
            crate::page::ListRequest::<MediaListQuery>::parse(pairs.iter().copied(), &codec, 1)
        };
        let r = parse(&[("mime_type", "Image/"), ("limit", "5")]).unwrap();
        assert_eq!(r.query.mime_prefix.as_deref(), Some("image/"));
        assert_eq!(r.window.limit, 5);
        let errs = parse(&[("mime_type", "%"), ("include", "all")])
            .err()
            .unwrap();
        assert_eq!(errs.len(), 2);
        let errs = parse(&[("mime_type", "image/"), ("x", "1")]).err().unwrap();
        assert_eq!(errs[0].field, "x");
        // The filter is part of what a cursor is sealed to.
        let b = |m: Option<&str>| {
            MediaListQuery {
                mime_prefix: m.map(str::to_owned),
                include_total: false,
            }
            .binding()
        };
        assert_ne!(b(None), b(Some("image/")));
        assert_ne!(b(Some("image/")), b(Some("image/png")));
    }
}
