//! Media in exports and imports.
//!
//! `export --with-media DIR` writes every medium of the site to `DIR`: its record, as the
//! API returns it, as one line of `DIR/media.jsonl` (oldest first), and its bytes as
//! `DIR/files/{id}-{filename}`. A file already there with the record's SHA-256 is not
//! downloaded again, so a repeated export only fetches what is new.
//!
//! An import uploads media from such a directory (`import --media DIR`) or a WordPress
//! export's attachments (fetched from their `wp:attachment_url`), then rewrites the posts'
//! bodies to point at the new media's public URLs. A medium whose SHA-256 the site already
//! has is not uploaded again but reused, so re-running an import creates no duplicate
//! media (and, since the rewritten bodies are then the same, no duplicate posts either).
//!
//! What is rewritten: an exported medium's public URL (`/m/{token}/{filename}`) and its
//! management URL (`/api/v2/media/{id}/content`), each relative or absolute (with any
//! `http(s)://host` before it); a WordPress attachment's URL as written in the export, and
//! the URLs of the copies WordPress made of it (`photo-300x200.jpg`, `photo-scaled.jpg`,
//! also in `srcset`), which all become the one medium, the original. A relative URL becomes
//! the new medium's relative public URL; an absolute one the new public URL on the
//! importing server's base URL.

use crate::error::CliError;
use aho_corasick::{AhoCorasick, MatchKind};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use jekcms_client::{Client, Media, MediaFilter};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The file of media records in an export's media directory.
pub const MEDIA_LIST: &str = "media.jsonl";
/// The directory of media bytes in an export's media directory.
pub const FILES_DIR: &str = "files";
/// Downloads or uploads in flight at once.
const MEDIA_CONCURRENCY: usize = 4;

/// Lowercase hex SHA-256 of `bytes`, as the server reports it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Where an exported medium's bytes are, relative to the media directory:
/// `files/{id}-{filename}`, the file name reduced to characters safe in any file system.
pub fn file_path(medium: &Media) -> PathBuf {
    let safe: String = medium
        .filename
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    Path::new(FILES_DIR).join(format!("{}-{safe}", medium.id))
}

/// What `export --with-media` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaExportSummary {
    /// Media in the directory.
    pub media: u64,
    /// Of those, files downloaded by this run (the others were there with the right bytes).
    pub downloaded: u64,
    /// Bytes of all the media.
    pub bytes: u64,
}

/// Writes every medium of the site to `dir` (see the module documentation).
pub async fn export(client: &Client, dir: &Path) -> Result<MediaExportSummary, CliError> {
    let files = dir.join(FILES_DIR);
    std::fs::create_dir_all(&files).map_err(|e| CliError::io(&files, e))?;
    let mut media: Vec<Media> = client
        .media()
        .list(MediaFilter::default())
        .stream()
        .try_collect()
        .await?;
    media.sort_by_key(|m| m.id);

    let downloads = futures_util::stream::iter(media.iter().cloned())
        .map(|medium| {
            let client = client.clone();
            let path = dir.join(file_path(&medium));
            async move {
                if let Ok(bytes) = tokio::fs::read(&path).await
                    && sha256_hex(&bytes) == medium.sha256
                {
                    return Ok(false);
                }
                let content = client.media().content(medium.id).await?;
                if sha256_hex(&content.bytes) != medium.sha256 {
                    return Err(CliError::Input(format!(
                        "medium {} ({}): the bytes served do not match its SHA-256",
                        medium.id, medium.filename
                    )));
                }
                tokio::fs::write(&path, &content.bytes)
                    .await
                    .map_err(|e| CliError::io(&path, e))?;
                Ok::<bool, CliError>(true)
            }
        })
        .buffer_unordered(MEDIA_CONCURRENCY);
    let downloaded = downloads
        .try_fold(0u64, |n, fetched| async move { Ok(n + u64::from(fetched)) })
        .await?;

    let list = dir.join(MEDIA_LIST);
    let file = std::fs::File::create(&list).map_err(|e| CliError::io(&list, e))?;
    let mut w = BufWriter::new(file);
    for medium in &media {
        let mut line = serde_json::to_vec(medium).expect("media serialize");
        line.push(b'\n');
        w.write_all(&line).map_err(|e| CliError::io(&list, e))?;
    }
    w.flush().map_err(|e| CliError::io(&list, e))?;
    Ok(MediaExportSummary {
        media: media.len() as u64,
        downloaded,
        bytes: media.iter().map(|m| m.size_bytes).sum(),
    })
}

/// A medium to bring into the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSource {
    /// What the report calls it: `media.jsonl line 3`, `attachment 16`.
    pub label: String,
    /// The file name to upload it under.
    pub filename: String,
    /// Its alt text.
    pub alt_text: Option<String>,
    /// Where its bytes are.
    pub origin: Origin,
    /// The URLs that stand for it in the posts' bodies.
    pub old_urls: Vec<OldUrl>,
}

/// A URL that stands for a medium in the posts' bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldUrl {
    /// The URL as the bodies have it.
    pub url: String,
    /// Whether WordPress's resized copies of it stand for it too: for
    /// `…/photo.jpg` (or `…/photo-scaled.jpg`, the attachment WordPress made of a large
    /// upload), `…/photo-300x200.jpg`, `…/photo-scaled.jpg` and `…/photo-scaled-300x200.jpg`.
    pub resized_copies: bool,
}

impl OldUrl {
    /// This URL only.
    pub fn exact(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            resized_copies: false,
        }
    }

    /// A WordPress attachment's URL, with its resized copies.
    pub fn with_resized_copies(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            resized_copies: true,
        }
    }
}

/// Where a [`MediaSource`]'s bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file of an exported media directory, with the SHA-256 its record gives.
    File {
        /// The file.
        path: PathBuf,
        /// The expected SHA-256.
        sha256: String,
    },
    /// A URL to fetch (a WordPress attachment).
    Url(String),
}

/// Reads an exported media directory: one [`MediaSource`] per line of `media.jsonl`.
pub fn read_media_dir(dir: &Path) -> Result<Vec<MediaSource>, CliError> {
    let list = dir.join(MEDIA_LIST);
    let file = std::fs::File::open(&list).map_err(|e| CliError::io(&list, e))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CliError::io(&list, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let medium: Media = serde_json::from_str(&line).map_err(|e| {
            CliError::Input(format!(
                "{} line {}: not a medium as `export --with-media` writes it ({e})",
                list.display(),
                n + 1
            ))
        })?;
        let mut old_urls = vec![OldUrl::exact(format!(
            "/api/v2/media/{}/content",
            medium.id
        ))];
        if !medium.public_url.is_empty() {
            old_urls.push(OldUrl::exact(medium.public_url.clone()));
        }
        out.push(MediaSource {
            label: format!("{MEDIA_LIST} line {}", n + 1),
            filename: medium.filename.clone(),
            alt_text: medium.alt_text.clone(),
            origin: Origin::File {
                path: dir.join(file_path(&medium)),
                sha256: medium.sha256.clone(),
            },
            old_urls,
        });
    }
    Ok(out)
}

/// The file name of a URL: its last path segment, percent-decoded (`upload` when empty).
pub fn url_filename(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let name = percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .into_owned();
    if name.trim().is_empty() {
        "upload".to_owned()
    } else {
        name
    }
}

/// What bringing media in did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaSummary {
    /// Media in the input.
    pub read: usize,
    /// Uploaded by this run.
    pub uploaded: usize,
    /// Already in the site (the same SHA-256): reused, not uploaded again.
    pub already_there: usize,
    /// Not brought in (see the report): their URLs in bodies are left as they were.
    pub failed: usize,
    /// Posts whose body had a media URL rewritten.
    pub bodies_rewritten: usize,
}

/// A medium that could not be brought in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaFailure {
    /// Which medium ([`MediaSource::label`]).
    pub medium: String,
    /// Its file name.
    pub filename: String,
    /// Why, in plain words.
    pub error: String,
}

/// The media brought in, and how their old URLs map to the new ones.
#[derive(Debug, Default)]
pub struct MediaImport {
    /// The counts.
    pub summary: MediaSummary,
    /// One entry per medium not brought in, in input order.
    pub failures: Vec<MediaFailure>,
    /// Rewrites the bodies.
    pub rewriter: Rewriter,
}

/// Fetches a URL's bytes (for WordPress attachments).
async fn fetch_url(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let response = http.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            "connection refused or host unreachable".to_owned()
        } else if e.is_timeout() {
            "timed out".to_owned()
        } else {
            format!("could not be fetched ({e})")
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("answered HTTP {status}"));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("cut short ({e})"))?;
    Ok(bytes.to_vec())
}

/// Reads (or fetches) a source's bytes and checks them; returns them with their SHA-256.
async fn load(http: &reqwest::Client, origin: &Origin) -> Result<(Vec<u8>, String), String> {
    match origin {
        Origin::File { path, sha256 } => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let sha = sha256_hex(&bytes);
            if &sha != sha256 {
                return Err(format!(
                    "{} does not hold the bytes its record names (SHA-256 differs)",
                    path.display()
                ));
            }
            Ok((bytes, sha))
        }
        Origin::Url(url) => {
            let bytes = fetch_url(http, url)
                .await
                .map_err(|why| format!("{url}: {why}"))?;
            let sha = sha256_hex(&bytes);
            Ok((bytes, sha))
        }
    }
}

/// The medium of some bytes: ready for media the site had, else the upload of the first
/// source with those bytes, which later sources with the same bytes wait for too.
type Pending = Shared<BoxFuture<'static, Result<Media, String>>>;

/// A source's medium to wait for, and whether this source is the one uploaded; or why it
/// could not be had.
type Matched = Result<(Pending, bool), String>;

/// Brings `sources` into the site: each medium whose SHA-256 the site has is reused, the
/// others are uploaded, a few at a time (only those few are held in memory); returns what
/// happened and the [`Rewriter`] for the bodies. Of several sources with the same bytes
/// the first, in input order, is uploaded (its file name and alt text are kept) and the
/// others reuse it. An error that no later upload could escape (the key, the role, the
/// quota, an unreachable server) is returned as an `Err`. `bar` advances by one as each
/// medium is settled (uploaded, found in the site, or failed).
pub async fn import(
    client: &Client,
    sources: Vec<MediaSource>,
    bar: &ProgressBar,
) -> Result<MediaImport, CliError> {
    let mut out = MediaImport::default();
    out.summary.read = sources.len();
    if sources.is_empty() {
        return Ok(out);
    }
    let existing: Vec<Media> = client
        .media()
        .list(MediaFilter::default())
        .stream()
        .try_collect()
        .await?;
    let mut by_sha: HashMap<String, Pending> = existing
        .into_iter()
        .map(|m| {
            (
                m.sha256.clone(),
                futures_util::future::ready(Ok(m)).boxed().shared(),
            )
        })
        .collect();
    let http = reqwest::Client::builder()
        .user_agent(concat!("jekcms-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| CliError::Input(format!("no HTTP client for attachments: {e}")))?;
    let fatal: Arc<Mutex<Option<jekcms_client::Error>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(MEDIA_CONCURRENCY));

    // Loads run a few ahead; each loaded medium is matched in input order, and an upload
    // is started when a slot is free.
    let mut loads = futures_util::stream::iter(sources)
        .map(|source| {
            let http = http.clone();
            async move {
                let loaded = load(&http, &source.origin).await;
                (source, loaded)
            }
        })
        .buffered(MEDIA_CONCURRENCY);
    let mut outcomes: Vec<(MediaSource, Matched)> = Vec::new();
    while let Some((source, loaded)) = loads.next().await {
        if fatal.lock().expect("not poisoned").is_some() {
            outcomes.push((source, Err("not sent: the import stopped".to_owned())));
            bar.inc(1);
            continue;
        }
        let (bytes, sha) = match loaded {
            Ok(loaded) => loaded,
            Err(why) => {
                outcomes.push((source, Err(why)));
                bar.inc(1);
                continue;
            }
        };
        if let Some(pending) = by_sha.get(&sha) {
            outcomes.push((source, Ok((pending.clone(), false))));
            bar.inc(1);
            continue;
        }
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (client, fatal, bar) = (client.clone(), fatal.clone(), bar.clone());
        let (filename, alt_text) = (source.filename.clone(), source.alt_text.clone());
        let upload = tokio::spawn(async move {
            let _slot = permit;
            let result = client
                .media()
                .upload_bytes(filename, bytes, alt_text.as_deref())
                .await;
            bar.inc(1);
            result.map_err(|e| {
                let why = e.to_string();
                if crate::import::is_fatal(&e) {
                    fatal.lock().expect("not poisoned").get_or_insert(e);
                }
                why
            })
        });
        let pending: Pending = async move {
            upload
                .await
                .unwrap_or_else(|e| Err(format!("the upload failed: {e}")))
        }
        .boxed()
        .shared();
        by_sha.insert(sha, pending.clone());
        outcomes.push((source, Ok((pending, true))));
    }

    let mut rewrites = Vec::new();
    for (source, outcome) in outcomes {
        let result = match outcome {
            Ok((pending, uploaded)) => pending.await.map(|medium| (medium, uploaded)),
            Err(why) => Err(why),
        };
        match result {
            Ok((medium, uploaded)) => {
                if uploaded {
                    out.summary.uploaded += 1;
                } else {
                    out.summary.already_there += 1;
                }
                for old in source.old_urls {
                    rewrites.push((old, medium.public_url.clone()));
                }
            }
            Err(error) => {
                out.summary.failed += 1;
                out.failures.push(MediaFailure {
                    medium: source.label,
                    filename: source.filename,
                    error,
                });
            }
        }
    }
    if let Some(e) = fatal.lock().expect("not poisoned").take() {
        return Err(e.into());
    }
    out.rewriter = Rewriter::new(rewrites, client.base_url().to_owned());
    Ok(out)
}

/// Rewrites old media URLs in bodies to new ones, in one pass over each body.
#[derive(Debug, Default)]
pub struct Rewriter {
    matcher: Option<AhoCorasick>,
    /// Per pattern: its new URL, and for a WordPress attachment the extension that ends
    /// its URL and those of its resized copies (the pattern is then the URL without it).
    targets: Vec<(String, Option<String>)>,
    base_url: String,
}

impl Rewriter {
    /// A rewriter of each `old` URL to its `new` public URL (relative, `/m/…`), made
    /// absolute on `base_url` where the old one was absolute.
    pub fn new(pairs: Vec<(OldUrl, String)>, base_url: String) -> Self {
        let rules: Vec<(String, String, Option<String>)> = pairs
            .into_iter()
            .filter(|(old, new)| !old.url.is_empty() && !new.is_empty())
            .map(|(old, new)| match resized_stem(&old) {
                Some((stem, ext)) => (stem.to_owned(), new, Some(ext.to_owned())),
                None => (old.url, new, None),
            })
            .collect();
        if rules.is_empty() {
            return Self::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(rules.iter().map(|(pattern, _, _)| pattern.as_str()))
            .expect("media URLs make a valid automaton");
        Self {
            matcher: Some(matcher),
            targets: rules.into_iter().map(|(_, new, ext)| (new, ext)).collect(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Whether there is nothing to rewrite.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `body` with the old URLs replaced, or `None` when it has none.
    pub fn rewrite(&self, body: &str) -> Option<String> {
        let matcher = self.matcher.as_ref()?;
        let mut out = String::new();
        let mut copied = 0;
        for m in matcher.find_iter(body) {
            if m.start() < copied {
                // Inside the resized copy's suffix just rewritten.
                continue;
            }
            let (new, ext) = &self.targets[m.pattern().as_usize()];
            let end = match ext {
                None => m.end(),
                Some(ext) => match resized_suffix(&body[m.end()..], ext) {
                    Some(len) => m.end() + len,
                    // `photo` in `photography.jpg`: another file.
                    None => continue,
                },
            };
            let old = &body[m.start()..end];
            let (start, absolute) = if old.starts_with('/') {
                match origin_before(&body[copied..m.start()]) {
                    Some(len) => (m.start() - len, true),
                    None => (m.start(), false),
                }
            } else {
                (m.start(), true)
            };
            out.push_str(&body[copied..start]);
            if absolute && new.starts_with('/') {
                out.push_str(&self.base_url);
            }
            out.push_str(new);
            copied = end;
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&body[copied..]);
        Some(out)
    }
}

/// A WordPress attachment's URL split for its resized copies: the URL up to its file name's
/// extension, without the `-scaled` WordPress adds to a large upload's (the original and
/// every copy start so), and the extension (`.jpg`). `None` for an exact URL, or a file
/// name without an extension.
fn resized_stem(old: &OldUrl) -> Option<(&str, &str)> {
    if !old.resized_copies {
        return None;
    }
    let path_end = old.url.find(['?', '#']).unwrap_or(old.url.len());
    let path = &old.url[..path_end];
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let dot = name_start + path[name_start..].rfind('.')?;
    let (stem, ext) = (&path[..dot], &path[dot..]);
    if dot == name_start || ext.len() < 2 || path_end != old.url.len() {
        return None;
    }
    Some((stem.strip_suffix("-scaled").unwrap_or(stem), ext))
}

/// The length of what makes a URL that starts with an attachment's stem one of its copies:
/// `[-scaled][-WIDTHxHEIGHT]EXT`, the URL ending there (not `…-300x200.jpg.webp`).
fn resized_suffix(rest: &str, ext: &str) -> Option<usize> {
    let mut at = 0;
    if rest.starts_with("-scaled") {
        at += "-scaled".len();
    }
    if let Some(len) = dimensions(&rest[at..]) {
        at += len;
    }
    let end = at + ext.len();
    let ends_url = |next: Option<u8>| {
        next.is_none_or(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
    };
    (rest[at..].starts_with(ext) && ends_url(rest.as_bytes().get(end).copied())).then_some(end)
}

/// The length of a `-300x200` that `text` starts with.
fn dimensions(text: &str) -> Option<usize> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let rest = text.strip_prefix('-')?;
    let width = digits(rest);
    let after = rest[width..].strip_prefix('x')?;
    let height = digits(after);
    (width > 0 && height > 0).then_some(1 + width + 1 + height)
}

/// The length of the `http://host:port` or `https://host` that `text` ends with, if any.
fn origin_before(text: &str) -> Option<usize> {
    let host_len = text
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        .count();
    if host_len == 0 {
        return None;
    }
    let before_host = &text[..text.len() - host_len];
    for scheme in ["https://", "http://"] {
        if before_host.ends_with(scheme) {
            return Some(host_len + scheme.len());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> Rewriter {
        Rewriter::new(
            vec![
                (OldUrl::exact("/m/old1/cat.png"), "/m/new1/cat.png".into()),
                (
                    OldUrl::exact("/api/v2/media/1/content"),
                    "/m/new1/cat.png".into(),
                ),
                (
                    OldUrl::exact("https://wp.example/wp-content/uploads/dog.jpg"),
                    "/m/new2/dog.jpg".into(),
                ),
            ],
            "http://cms.example:8080/".into(),
        )
    }

    #[test]
    fn wordpress_resized_copies_become_the_original() {
        let up = "https://wp.example/wp-content/uploads/2024/01";
        let r = Rewriter::new(
            vec![
                (
                    OldUrl::with_resized_copies(format!("{up}/photo.jpg")),
                    "/m/p/photo.jpg".into(),
                ),
                (
                    OldUrl::with_resized_copies(format!("{up}/big-scaled.png")),
                    "/m/b/big-scaled.png".into(),
                ),
                (
                    OldUrl::with_resized_copies(format!("{up}/photo-2.jpg")),
                    "/m/q/photo-2.jpg".into(),
                ),
            ],
            "http://cms.example".into(),
        );
        let new_p = "http://cms.example/m/p/photo.jpg";
        let new_b = "http://cms.example/m/b/big-scaled.png";
        let new_q = "http://cms.example/m/q/photo-2.jpg";
        for (old, new) in [
            ("photo.jpg", new_p),
            ("photo-300x200.jpg", new_p),
            ("photo-1024x683.jpg", new_p),
            ("photo-scaled.jpg", new_p),
            ("photo-scaled-150x150.jpg", new_p),
            ("big.png", new_b),
            ("big-scaled.png", new_b),
            ("big-150x150.png", new_b),
            ("photo-2.jpg", new_q),
            ("photo-2-300x200.jpg", new_q),
        ] {
            assert_eq!(
                r.rewrite(&format!("<img src=\"{up}/{old}\">")),
                Some(format!("<img src=\"{new}\">")),
                "{old}"
            );
        }
        // srcset: every candidate, the descriptors kept.
        assert_eq!(
            r.rewrite(&format!(
                r#"srcset="{up}/photo-300x200.jpg 300w, {up}/photo-1024x683.jpg 1024w, {up}/photo.jpg 1600w""#
            ))
            .as_deref(),
            Some(
                format!(r#"srcset="{new_p} 300w, {new_p} 1024w, {new_p} 1600w""#).as_str()
            )
        );
        // Other files that start alike are left alone.
        for other in [
            "photography.jpg",
            "photo-300x200.png",
            "photo-300.jpg",
            "photo.jpg.webp",
            "photo-300x200.jpeg",
        ] {
            assert_eq!(r.rewrite(&format!("{up}/{other}")), None, "{other}");
        }
    }

    #[test]
    fn old_urls_become_new_ones_keeping_their_form() {
        let r = rewriter();
        assert_eq!(
            r.rewrite(r#"<img src="/m/old1/cat.png"> <a href='http://old.example:8080/api/v2/media/1/content'>"#)
                .as_deref(),
            Some(r#"<img src="/m/new1/cat.png"> <a href='http://cms.example:8080/m/new1/cat.png'>"#)
        );
        assert_eq!(
            r.rewrite("![d](https://wp.example/wp-content/uploads/dog.jpg)")
                .as_deref(),
            Some("![d](http://cms.example:8080/m/new2/dog.jpg)")
        );
        assert_eq!(r.rewrite("/api/v2/media/12/content and /m/old2/x"), None);
        assert_eq!(Rewriter::default().rewrite("/m/old1/cat.png"), None);
    }

    #[test]
    fn origins_are_found_only_when_they_are_there() {
        assert_eq!(origin_before("src=\"https://a.example"), Some(17));
        assert_eq!(origin_before("see http://[::1]:80"), Some(15));
        assert_eq!(origin_before("src=\""), None);
        assert_eq!(origin_before("ftp://x"), None);
    }

    #[test]
    fn file_names_are_safe_and_stable() {
        let m = |filename: &str| Media {
            id: 7,
            author_id: 1,
            filename: filename.into(),
            mime_type: "image/png".into(),
            size_bytes: 1,
            sha256: String::new(),
            width: None,
            height: None,
            alt_text: None,
            url: String::new(),
            public_url: String::new(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(file_path(&m("cat.png")), Path::new("files/7-cat.png"));
        assert_eq!(file_path(&m("../a b.png")), Path::new("files/7-_a_b.png"));
        assert_eq!(url_filename("http://x/up/caf%C3%A9.png?ver=2"), "café.png");
        assert_eq!(url_filename("http://x/"), "upload");
    }
}
