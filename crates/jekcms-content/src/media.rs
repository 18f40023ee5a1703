//! Media: uploaded files, their accepted types, and how they are listed.
//!
//! The type of an upload is sniffed from its first bytes (the `infer` crate); the client's
//! claimed type and file name extension are never trusted. Only images, PDF, audio and video
//! are accepted — SVG and HTML are refused because a browser would run their scripts.

use crate::list::{DEFAULT_LIMIT, parse_include_total, parse_limit};
use crate::{ContentError, FieldError};
use chrono::{DateTime, Utc};
use jekcms_cursor::{Cursor, SortKey};
use serde::Serialize;

/// Longest stored file name, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Longest alt text, in characters.
pub const MAX_ALT_TEXT_CHARS: usize = 1_000;

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
    /// Where the bytes are served.
    pub url: String,
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
    /// The public URL path of a medium's bytes.
    pub fn content_url(id: i64) -> String {
        format!("/api/v2/media/{id}/content")
    }
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
        imagesize::blob_size(head)
            .ok()
            .and_then(|s| Some((i32::try_from(s.width).ok()?, i32::try_from(s.height).ok()?)))
    } else {
        None
    };
    Ok(Sniffed {
        mime_type: kind.mime_type(),
        extension: kind.extension(),
        dimensions,
    })
}

/// Cleans a client-supplied file name: the last path component, control characters and
/// quotes removed, at most 255 characters; falls back to `upload.<ext>`.
pub fn clean_filename(raw: Option<&str>, extension: &str) -> String {
    let base = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(MAX_FILENAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        format!("upload.{extension}")
    } else {
        cleaned
    }
}

/// Validates alt text.
pub fn check_alt_text(alt: &str) -> Result<(), FieldError> {
    if alt.chars().count() > MAX_ALT_TEXT_CHARS {
        return Err(FieldError::new(
            "alt_text",
            format!("alt_text must be at most {MAX_ALT_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A page request for the media list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaListQuery {
    /// Only types starting with this, e.g. `image/`.
    pub mime_prefix: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Start after this position.
    pub after: Option<Cursor>,
    /// Whether to count all matching rows too.
    pub include_total: bool,
}

impl MediaListQuery {
    /// Validates `(name, value)` query pairs: `limit`, `cursor`, `mime_type`, `include`.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        open_cursor: impl FnOnce(&str, &[u8]) -> Option<Cursor>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut q = Self {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let mut cursor = None;
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                errors.push(FieldError::new(name, "parameter given more than once"));
                continue;
            }
            seen.push(name);
            match name {
                "limit" => match parse_limit(Some(value)) {
                    Ok(n) => q.limit = n,
                    Err(e) => errors.push(e),
                },
                "include" => match parse_include_total(Some(value)) {
                    Ok(b) => q.include_total = b,
                    Err(e) => errors.push(e),
                },
                "mime_type" => {
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
                "cursor" => cursor = Some(value),
                _ => errors.push(FieldError::new(name, "unknown query parameter")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(raw) = cursor {
            match open_cursor(raw, &q.binding()) {
                Some(c) if matches!(c.key, SortKey::Int(_)) => q.after = Some(c),
                _ => {
                    return Err(vec![FieldError::new(
                        "cursor",
                        "cursor is invalid, or was made for another filter",
                    )]);
                }
            }
        }
        Ok(q)
    }

    /// The canonical bytes a media cursor is sealed to.
    pub fn binding(&self) -> Vec<u8> {
        let mut out = b"media/v1".to_vec();
        let prefix = self.mime_prefix.as_deref().unwrap_or_default();
        out.extend_from_slice(&(prefix.len() as u32).to_be_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out
    }

    /// The cursor after `media` (newest first by creation time, then id).
    pub fn cursor_after(media: &Media) -> Cursor {
        Cursor {
            key: SortKey::Int(media.created_at.timestamp_micros()),
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
        assert_eq!(clean_filename(Some("../../etc/passwd"), "png"), "passwd");
        assert_eq!(clean_filename(Some("C:\\x\\a\"b.png"), "png"), "ab.png");
        assert_eq!(clean_filename(Some(".."), "png"), "upload.png");
        assert_eq!(clean_filename(None, "pdf"), "upload.pdf");
    }

    #[test]
    fn media_params() {
        let q = MediaListQuery::from_pairs([("mime_type", "image/"), ("limit", "5")], |_, _| None)
            .unwrap();
        assert_eq!(q.mime_prefix.as_deref(), Some("image/"));
        assert_eq!(q.limit, 5);
        let errs =
            MediaListQuery::from_pairs([("mime_type", "%"), ("x", "1")], |_, _| None).unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
