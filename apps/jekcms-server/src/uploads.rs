//! Uploads: the form of `POST /api/v2/media` ([`UploadBody`], an extractor that reads
//! nothing until the handler has checked the caller's role), and writing the uploaded bytes
//! to the media store (`jekcms_media_store`: the local directory or a bucket): the first
//! `SNIFF_BYTES` (256 KiB) are held to sniff the type (which names the object), then everything is
//! streamed to an object writer while being hashed and measured. The object appears only
//! when complete, so a failed or refused upload leaves nothing behind.

use actix_multipart::{Field, Multipart};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest};
use futures_util::{Stream, StreamExt};
use jekcms_content::media::{self, NewMedia, check_alt_text};
use jekcms_content::{ContentError, FieldError};
use jekcms_media_store::{MediaStore, ObjectWriter};
use ring::digest;
use std::path::Path;

/// Bytes kept in memory for sniffing the type and reading image dimensions.
const SNIFF_BYTES: usize = 256 * 1024;

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Over the size limit.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// The content was refused.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The client's stream broke off.
    #[error("the upload was interrupted")]
    Interrupted,
    /// The file system is full (or the quota is reached).
    #[error("no space left for the upload: {0}")]
    NoSpace(std::io::Error),
    /// The media store failed.
    #[error("storage error: {0}")]
    Storage(jekcms_media_store::Error),
    /// The body is not `multipart/form-data`.
    #[error("the upload is not multipart/form-data")]
    NotMultipart,
    /// The multipart body does not parse.
    #[error("the multipart body is malformed")]
    Malformed,
    /// A form field is missing, unknown, repeated or invalid.
    #[error("{}: {}", .0.field, .0.message)]
    Field(FieldError),
}

impl UploadError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Field(FieldError::new(field, message))
    }
}

impl From<jekcms_media_store::Error> for UploadError {
    /// A full disk or an exhausted quota (`ENOSPC`, `EDQUOT`) is the client's to hear about
    /// (507, try later or elsewhere); any other failure is ours (500).
    fn from(e: jekcms_media_store::Error) -> Self {
        match e {
            jekcms_media_store::Error::NoSpace(io) => Self::NoSpace(io),
            other => Self::Storage(other),
        }
    }
}

impl From<std::io::Error> for UploadError {
    fn from(e: std::io::Error) -> Self {
        jekcms_media_store::Error::from(e).into()
    }
}

/// Longest `alt_text` form field read, in bytes (the alt-text rules then apply).
const MAX_ALT_TEXT_BYTES: usize = 8 * 1024;

/// Where an upload is stored and how large it may be.
#[derive(Clone, Copy)]
pub struct UploadTarget<'a> {
    /// The media store.
    pub media: &'a dyn MediaStore,
    /// The uploader's site: objects are named `<site_id>/…`.
    pub site_id: i64,
    /// Largest file accepted (`JEKCMS_MAX_UPLOAD_BYTES`).
    pub max_bytes: u64,
}

/// The body of an upload, not read yet: `multipart/form-data` with one `file` field and
/// optionally `alt_text`. Extracting it reads nothing, so a handler checks the caller's
/// role first and only then [receives](UploadBody::receive) the body. Its reads go through
/// the body deadline like any other.
pub struct UploadBody {
    /// `None` when the request is not `multipart/form-data`.
    form: Option<Multipart>,
}

impl FromRequest for UploadBody {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form =
            is_multipart(req.headers()).then(|| Multipart::new(req.headers(), payload.take()));
        std::future::ready(Ok(Self { form }))
    }
}

impl UploadBody {
    /// Reads the form: streams the file into the site's directory and returns the record to
    /// insert, with its `alt_text`. Refused: not multipart (`NotMultipart`), a body that
    /// does not parse (`Malformed`, or `Interrupted` inside the file), a file over the limit
    /// or of a type not accepted, and a missing, repeated or unknown field or a bad alt
    /// text (`Field`). A refused upload leaves no file behind.
    pub async fn receive(self, target: UploadTarget<'_>) -> Result<NewMedia, UploadError> {
        let Some(mut form) = self.form else {
            return Err(UploadError::NotMultipart);
        };
        let mut stored: Option<NewMedia> = None;
        let mut alt_text = None;
        let read = async {
            while let Some(field) = form.next().await {
                let mut field = field.map_err(|_| UploadError::Malformed)?;
                let name = field.name().unwrap_or_default().to_owned();
                match FormField::named(&name, stored.is_some())? {
                    FormField::File => stored = Some(store_field(&mut field, target).await?),
                    FormField::AltText => alt_text = Some(read_alt_text(&mut field).await?),
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = read {
            if let Some(new) = &stored {
                remove(target.media, &new.storage_key).await;
            }
            return Err(e);
        }
        let mut new =
            stored.ok_or_else(|| UploadError::field("file", "a file field is required"))?;
        new.alt_text = alt_text;
        Ok(new)
    }
}

/// Whether a request's `Content-Type` is `multipart/form-data`.
fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// A field of the upload form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormField {
    File,
    AltText,
}

impl FormField {
    /// The field called `name`, given whether the form had its file already: one `file`,
    /// any `alt_text` (the last counts), nothing else.
    fn named(name: &str, have_file: bool) -> Result<Self, UploadError> {
        match name {
            "file" if !have_file => Ok(Self::File),
            "file" => Err(UploadError::field("file", "send exactly one file")),
            "alt_text" => Ok(Self::AltText),
            other => Err(UploadError::field(
                other,
                "unknown form field; send file and optionally alt_text",
            )),
        }
    }
}

/// Streams the `file` field to the site's directory.
async fn store_field(field: &mut Field, target: UploadTarget<'_>) -> Result<NewMedia, UploadError> {
    let filename = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .map(str::to_owned);
    let chunks = field.map(|c| c.map_err(|_| ()));
    store_upload(
        target.media,
        target.site_id,
        filename.as_deref(),
        target.max_bytes,
        Box::pin(chunks),
    )
    .await
}

/// Reads the `alt_text` field.
async fn read_alt_text(field: &mut Field) -> Result<String, UploadError> {
    let mut text = AltText::default();
    while let Some(chunk) = field.next().await {
        text.push(&chunk.map_err(|_| UploadError::Malformed)?)?;
    }
    text.finish()
}

/// The bytes of an `alt_text` field as they arrive.
#[derive(Debug, Default)]
struct AltText(Vec<u8>);

impl AltText {
    /// Adds a chunk; refused past [`MAX_ALT_TEXT_BYTES`], before the rest is read.
    fn push(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.0.extend_from_slice(chunk);
        if self.0.len() > MAX_ALT_TEXT_BYTES {
            return Err(UploadError::field("alt_text", "alt_text is too long"));
        }
        Ok(())
    }

    /// The text, if UTF-8 and within the alt-text rules.
    fn finish(self) -> Result<String, UploadError> {
        let text = String::from_utf8(self.0)
            .map_err(|_| UploadError::field("alt_text", "alt_text must be UTF-8 text"))?;
        check_alt_text(&text).map_err(UploadError::Field)?;
        Ok(text)
    }
}

/// Stores one uploaded file as the object `<site_id>/<random>.<ext>`, returning the record
/// to insert. The type is sniffed from the first `SNIFF_BYTES` (256 KiB) (or the whole file when
/// smaller) before anything is written; a refused type is reported only once the body is
/// read, so that an oversized file is still `TooLarge` whatever its type.
pub async fn store_upload(
    media: &dyn MediaStore,
    site_id: i64,
    client_filename: Option<&str>,
    max_bytes: u64,
    mut chunks: impl Stream<Item = Result<actix_web::web::Bytes, ()>> + Unpin,
) -> Result<NewMedia, UploadError> {
    let name = random_name();
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut head: Vec<u8> = Vec::new();
    // Chunks received before the type is known (at most SNIFF_BYTES and one chunk).
    let mut held: Vec<actix_web::web::Bytes> = Vec::new();
    let mut writer: Option<(Box<dyn ObjectWriter>, media::Sniffed, String)> = None;
    let mut refused: Option<ContentError> = None;
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|()| UploadError::Interrupted)?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(UploadError::TooLarge(max_bytes));
        }
        if refused.is_some() {
            continue;
        }
        hasher.update(&chunk);
        if let Some((w, _, _)) = writer.as_mut() {
            w.write(chunk).await?;
            continue;
        }
        let take = (SNIFF_BYTES - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
        held.push(chunk);
        if head.len() >= SNIFF_BYTES {
            match media::sniff(&head) {
                Ok(sniffed) => {
                    writer = Some(open_writer(media, site_id, &name, sniffed, &mut held).await?)
                }
                Err(e) => {
                    refused = Some(e);
                    held.clear();
                }
            }
        }
    }
    if let Some(e) = refused {
        return Err(e.into());
    }
    let (writer, sniffed, key) = match writer {
        Some(open) => open,
        None => open_writer(media, site_id, &name, media::sniff(&head)?, &mut held).await?,
    };
    writer.finish().await?;
    Ok(NewMedia {
        filename: media::clean_filename(client_filename, sniffed.extension),
        mime_type: sniffed.mime_type.to_owned(),
        size_bytes: size as i64,
        sha256: hex::encode(hasher.finish().as_ref()),
        width: sniffed.dimensions.map(|d| d.0),
        height: sniffed.dimensions.map(|d| d.1),
        alt_text: None,
        storage_key: key,
    })
}

/// Opens the object of a sniffed upload and writes the chunks held so far.
async fn open_writer(
    media: &dyn MediaStore,
    site_id: i64,
    name: &str,
    sniffed: media::Sniffed,
    held: &mut Vec<actix_web::web::Bytes>,
) -> Result<(Box<dyn ObjectWriter>, media::Sniffed, String), UploadError> {
    let key = format!("{site_id}/{name}.{}", sniffed.extension);
    let mut writer = media.create(&key).await?;
    for chunk in held.drain(..) {
        writer.write(chunk).await?;
    }
    Ok((writer, sniffed, key))
}

/// How long a partial file must have gone unwritten before the start-up sweep removes it.
/// A live upload writes its file with every chunk; the grace keeps the sweep of one
/// instance off the uploads of another sharing the directory.
pub const STALE_PART_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes the partial files (`<site>/.<name>.part`) that an upload killed mid-way left
/// behind (a crash or `kill -9` runs no destructor), if not written for `older_than`.
/// Returns how many were removed; failures are logged, never fatal.
pub fn sweep_partial_files(media_dir: &Path, older_than: std::time::Duration) -> usize {
    let Ok(sites) = std::fs::read_dir(media_dir) else {
        return 0;
    };
    let mut removed = 0;
    for site in sites.flatten() {
        if !site.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(site.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.ends_with(".part")) {
                continue;
            }
            let stale = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= older_than));
            if !stale {
                continue;
            }
            match std::fs::remove_file(file.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, file = %name, "could not remove a partial upload")
                }
            }
        }
    }
    removed
}

/// Where a stored file lives in the local media directory. Storage keys are made by
/// [`store_upload`], never by clients.
pub fn path_of(media_dir: &Path, storage_key: &str) -> std::path::PathBuf {
    media_dir.join(storage_key)
}

/// Removes a stored object; one already gone is fine, a failure is logged (the orphan
/// sweeper removes it later).
pub async fn remove(media: &dyn MediaStore, storage_key: &str) {
    if let Err(e) = media.delete(storage_key).await {
        tracing::warn!(error = %e, storage_key, "could not remove a deleted medium's file");
    }
}

fn random_name() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .expect("system randomness is available");
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::AppError;
    use jekcms_envelope::ErrorCode;

    /// A 3×2 PNG header: enough for sniffing and dimensions.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0,
        0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0x72, 0xB6, 0x0D, 0x24,
    ];

    #[test]
    fn only_multipart_form_data_is_an_upload() {
        let headers = |value: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = value {
                h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            }
            h
        };
        for yes in [
            "multipart/form-data; boundary=x",
            "Multipart/Form-Data; boundary=x",
            "multipart/form-data",
        ] {
            assert!(is_multipart(&headers(Some(yes))), "{yes}");
        }
        for no in [
            Some("application/json"),
            Some("multipart/mixed; boundary=x"),
            Some("image/png"),
            Some(" multipart/form-data"),
            None,
        ] {
            assert!(!is_multipart(&headers(no)), "{no:?}");
        }
    }

    fn field_of(e: UploadError) -> (String, String) {
        match e {
            UploadError::Field(f) => (f.field, f.message),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn the_form_has_one_file_any_alt_text_and_nothing_else() {
        assert_eq!(FormField::named("file", false).unwrap(), FormField::File);
        assert_eq!(
            FormField::named("alt_text", false).unwrap(),
            FormField::AltText
        );
        assert_eq!(
            FormField::named("alt_text", true).unwrap(),
            FormField::AltText
        );
        let (field, message) = field_of(FormField::named("file", true).unwrap_err());
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("file", "send exactly one file")
        );
        for unknown in ["colour", "File", ""] {
            let (field, message) = field_of(FormField::named(unknown, false).unwrap_err());
            assert_eq!(field, unknown);
            assert!(message.starts_with("unknown form field"), "{message}");
        }
    }

    #[test]
    fn alt_text_is_bounded_utf8_within_the_rules() {
        let mut text = AltText::default();
        text.push("Une ".as_bytes()).unwrap();
        text.push("phrase é".as_bytes()).unwrap();
        assert_eq!(text.finish().unwrap(), "Une phrase é");
        // Refused at the chunk that crosses the limit, before the rest is read.
        let mut text = AltText::default();
        text.push(&[b'a'; MAX_ALT_TEXT_BYTES]).unwrap();
        let (field, message) = field_of(text.push(b"a").unwrap_err());
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("alt_text", "alt_text is too long")
        );
        // A UTF-8 character split across chunks is whole again at the end.
        let mut text = AltText::default();
        let e = "é".as_bytes();
        text.push(&e[..1]).unwrap();
        text.push(&e[1..]).unwrap();
        assert_eq!(text.finish().unwrap(), "é");
        let mut text = AltText::default();
        text.push(b"caf\xe9").unwrap();
        assert_eq!(
            field_of(text.finish().unwrap_err()).1,
            "alt_text must be UTF-8 text"
        );
        // Within the byte bound but over the character rule, or with a NUL.
        let mut text = AltText::default();
        text.push("a".repeat(1_001).as_bytes()).unwrap();
        assert!(field_of(text.finish().unwrap_err()).1.contains("at most"));
        let mut text = AltText::default();
        text.push(b"a\0b").unwrap();
        assert!(field_of(text.finish().unwrap_err()).1.contains("NUL"));
    }

    #[test]
    fn upload_errors_map_to_contract_codes() {
        let cases: Vec<(UploadError, ErrorCode, &str)> = vec![
            (
                UploadError::NotMultipart,
                ErrorCode::UnsupportedMediaType,
                "upload with Content-Type: multipart/form-data and a file field",
            ),
            (
                UploadError::Malformed,
                ErrorCode::MalformedRequest,
                "the multipart body is malformed",
            ),
            (
                UploadError::Interrupted,
                ErrorCode::MalformedRequest,
                "the upload was interrupted",
            ),
            (
                UploadError::TooLarge(10),
                ErrorCode::PayloadTooLarge,
                "the file is larger than the limit of 10 bytes",
            ),
            (
                UploadError::field("file", "a file field is required"),
                ErrorCode::ValidationFailed,
                "a file field is required",
            ),
        ];
        for (e, code, message) in cases {
            let e = AppError::from(e);
            assert_eq!(e.0.code(), code);
            assert_eq!(e.0.errors()[0].message, message);
        }
        let e = AppError::from(UploadError::field("alt_text", "x"));
        assert_eq!(e.0.http_status(), 422);
        assert_eq!(e.0.errors()[0].field.as_deref(), Some("alt_text"));
    }

    /// A multipart body of `(name, filename, bytes)` parts.
    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, filename, data) in parts {
            body.extend_from_slice(b"--XBoundary\r\n");
            let disposition = match filename {
                Some(f) => format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n"
                ),
                None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
            };
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XBoundary--\r\n");
        body
    }

    /// Receives `body` sent as `content_type` into a fresh media directory; returns the
    /// outcome and how many files the directory then holds.
    async fn receive(
        content_type: &str,
        body: Vec<u8>,
        max_bytes: u64,
    ) -> (Result<NewMedia, UploadError>, usize) {
        let dir = std::env::temp_dir().join(format!("jekcms-uploads-{}", random_name()));
        let (req, mut payload) = actix_web::test::TestRequest::post()
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload(body)
            .to_http_parts();
        let upload = UploadBody::from_request(&req, &mut payload).await.unwrap();
        let local = jekcms_media_store::LocalDir::new(&dir);
        let target = UploadTarget {
            media: &local,
            site_id: 7,
            max_bytes,
        };
        let outcome = upload.receive(target).await;
        let files = std::fs::read_dir(dir.join("7")).map_or(0, |d| d.count());
        let _ = std::fs::remove_dir_all(&dir);
        (outcome, files)
    }

    const FORM: &str = "multipart/form-data; boundary=XBoundary";

    #[actix_web::test]
    async fn a_file_and_its_alt_text_are_stored_as_one_record() {
        let body = form(&[
            ("alt_text", None, b"first"),
            ("file", Some("a.png"), PNG),
            ("alt_text", None, b"A tiny image"),
        ]);
        let (outcome, files) = receive(FORM, body, 1024).await;
        let new = outcome.unwrap();
        assert_eq!(files, 1);
        assert_eq!(new.mime_type, "image/png");
        assert_eq!(new.filename, "a.png");
        assert_eq!((new.width, new.height), (Some(3), Some(2)));
        assert_eq!(new.size_bytes, PNG.len() as i64);
        // The last alt_text counts.
        assert_eq!(new.alt_text.as_deref(), Some("A tiny image"));
        assert!(new.storage_key.starts_with("7/") && new.storage_key.ends_with(".png"));
    }

    #[actix_web::test]
    async fn refused_forms_leave_no_file_behind() {
        let refused: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "file",
                form(&[("file", Some("a.png"), PNG), ("file", Some("b.png"), PNG)]),
                "send exactly one file",
            ),
            (
                "colour",
                form(&[("file", Some("a.png"), PNG), ("colour", None, b"red")]),
                "unknown form field; send file and optionally alt_text",
            ),
            (
                "alt_text",
                form(&[("file", Some("a.png"), PNG), ("alt_text", None, b"\0")]),
                "alt_text must not contain NUL",
            ),
            (
                "file",
                form(&[("alt_text", None, b"no file")]),
                "a file field is required",
            ),
        ];
        for (field, body, message) in refused {
            let (outcome, files) = receive(FORM, body, 1024).await;
            let (f, m) = field_of(outcome.unwrap_err());
            assert_eq!((f.as_str(), m.as_str()), (field, message));
            assert_eq!(files, 0, "{message}");
        }
        let (outcome, files) = receive(FORM, form(&[("file", Some("a.png"), PNG)]), 10).await;
        assert!(
            matches!(outcome, Err(UploadError::TooLarge(10))),
            "{outcome:?}"
        );
        assert_eq!(files, 0);
        let (outcome, files) =
            receive(FORM, form(&[("file", Some("a.txt"), b"plain text")]), 1024).await;
        assert!(
            matches!(outcome, Err(UploadError::Content(_))),
            "{outcome:?}"
        );
        assert_eq!(files, 0);
    }

    #[actix_web::test]
    async fn a_body_that_is_not_a_form_is_refused_before_anything_is_written() {
        let (outcome, files) = receive("image/png", PNG.to_vec(), 1024).await;
        assert!(
            matches!(outcome, Err(UploadError::NotMultipart)),
            "{outcome:?}"
        );
        assert_eq!(files, 0);
        let (outcome, _) = receive(FORM, b"no boundary anywhere".to_vec(), 1024).await;
        assert!(
            matches!(outcome, Err(UploadError::Malformed)),
            "{outcome:?}"
        );
        let (outcome, _) = receive(
            "multipart/form-data",
            form(&[("file", Some("a.png"), PNG)]),
            1024,
        )
        .await;
        assert!(
            matches!(outcome, Err(UploadError::Malformed)),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_full_disk_or_quota_is_no_space_and_other_failures_are_io() {
        // ENOSPC and EDQUOT as the kernel reports them.
        for errno in [28, 122] {
            let e = UploadError::from(std::io::Error::from_raw_os_error(errno));
            assert!(matches!(e, UploadError::NoSpace(_)), "errno {errno}: {e:?}");
        }
        let e = UploadError::from(std::io::Error::from_raw_os_error(13));
        assert!(matches!(e, UploadError::Storage(_)), "{e:?}");
    }

    #[test]
    fn writing_to_a_full_device_is_no_space() {
        // /dev/full refuses every write with ENOSPC, as a full file system does.
        let mut full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full exists on Linux");
        let e = std::io::Write::write_all(&mut full, b"bytes")
            .and_then(|()| std::io::Write::flush(&mut full))
            .expect_err("/dev/full refuses writes");
        assert!(matches!(UploadError::from(e), UploadError::NoSpace(_)));
    }
}
