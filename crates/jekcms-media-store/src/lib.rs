//! Where media bytes live: one [`MediaStore`] interface with two implementations, a local
//! directory ([`LocalDir`], `JEKCMS_MEDIA_DIR`) and S3-compatible object storage ([`S3`],
//! `JEKCMS_MEDIA_STORE=s3://bucket/prefix`).
//!
//! A medium's bytes are an *object* named by its storage key (`<site_id>/<name>.<ext>`, made by
//! the server, never by a client). Objects are written once through an [`ObjectWriter`],
//! which makes them visible only when [finished](ObjectWriter::finish): a local file is
//! written under a hidden `.part` name and renamed, an S3 object is a multipart upload
//! completed at the end. A writer that is aborted or dropped leaves no object. Reads stream a
//! byte range; nothing here holds a whole file in memory.
//!
//! The records live in the database, which this crate knows nothing of: the server's
//! orphan sweeper [lists](MediaStore::list) objects and removes those older than a guard that
//! no record names (what a crash between "object written" and "row inserted" leaves).
//!
//! ```
//! # async fn demo() -> Result<(), jekcms_media_store::Error> {
//! use futures_util::TryStreamExt;
//! use jekcms_media_store::{LocalDir, MediaStore};
//! let dir = std::env::temp_dir().join("jekcms-media-store-doc");
//! let store = LocalDir::new(&dir);
//! let mut writer = store.create("1/abc.png").await?;
//! writer.write(bytes::Bytes::from_static(b"hello")).await?;
//! writer.finish().await?;
//! let part: Vec<bytes::Bytes> = store.read("1/abc.png", 1..4).await?.try_collect().await?;
//! assert_eq!(part.concat(), b"ell");
//! store.delete("1/abc.png").await?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

mod local;
mod s3;

pub use local::LocalDir;
pub use s3::{Addressing, PART_BYTES, S3, S3Settings};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use std::ops::Range;

/// Why a media store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No object under that key.
    #[error("no such object")]
    NotFound,
    /// The file system is full, or the quota is reached.
    #[error("no space left: {0}")]
    NoSpace(std::io::Error),
    /// The local file system failed.
    #[error("file system: {0}")]
    Io(std::io::Error),
    /// The object store failed (unreachable, refused, …).
    #[error("object store: {0}")]
    ObjectStore(object_store::Error),
    /// The configuration does not describe a usable store.
    #[error("{0}")]
    Config(String),
}

impl From<std::io::Error> for Error {
    /// `ENOSPC` and `EDQUOT` are [`Error::NoSpace`], a missing file [`Error::NotFound`].
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Self::NoSpace(e),
            _ => Self::Io(e),
        }
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::ObjectStore(other),
        }
    }
}

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its storage key (relative to the store's root or prefix). Objects not written yet
    /// (a local `.part` file) are listed too, under their hidden name.
    pub key: String,
    /// When it was last written.
    pub last_modified: DateTime<Utc>,
    /// Its size in bytes.
    pub size: u64,
}

/// Where media bytes are kept. Object-safe: the server holds an `Arc<dyn MediaStore>`.
pub trait MediaStore: Send + Sync + std::fmt::Debug {
    /// What the store is, for log lines and start-up errors: the directory, or the bucket,
    /// prefix and endpoint (never a credential).
    fn describe(&self) -> String;

    /// Checks at start-up that the store can be used (the directory created, the bucket
    /// reachable with these credentials).
    fn check(&self) -> BoxFuture<'_, Result<(), Error>>;

    /// Starts writing the object `key`; it exists only once the writer is finished.
    fn create<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, Error>>;

    /// Streams the bytes `range` of object `key` (a range past its end ends the stream with
    /// an error rather than a short body). [`Error::NotFound`] before any byte when it is
    /// missing.
    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ByteStream, Error>>;

    /// Removes object `key`; one already gone is fine.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// Every object in the store, in no particular order.
    fn list(&self) -> BoxStream<'_, Result<StoredObject, Error>>;
}

/// An object being written. Dropping it unfinished removes what was written.
pub trait ObjectWriter: Send {
    /// Appends a chunk.
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), Error>>;

    /// Makes the object visible under its key, complete.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;

    /// Gives up: nothing is left under the key.
    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;
}

/// What `JEKCMS_MEDIA_STORE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket` or `s3://bucket/prefix/path`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            "expected s3://bucket/prefix (or unset for the local JEKCMS_MEDIA_DIR)".to_owned()
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(format!(
                "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, '-' and '.')"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(format!("{prefix:?} is not a usable key prefix"));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations_parse_and_print_back() {
        let l = S3Location::parse("s3://media-bucket/jekcms/prod/").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("media-bucket", "jekcms/prod")
        );
        assert_eq!(l.to_string(), "s3://media-bucket/jekcms/prod");
        let l = S3Location::parse("s3://media").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("media", ""));
        assert_eq!(l.to_string(), "s3://media");
        for bad in [
            "media",
            "http://media/x",
            "s3://",
            "s3://ab",
            "s3://Upper",
            "s3://-media",
            "s3://media/../x",
            "s3://media/a//b",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn io_errors_keep_their_meaning() {
        assert!(matches!(
            Error::from(std::io::Error::from_raw_os_error(2)),
            Error::NotFound
        ));
        assert!(matches!(
            Error::from(std::io::Error::from_raw_os_error(28)),
            Error::NoSpace(_)
        ));
        assert!(matches!(
            Error::from(std::io::Error::from_raw_os_error(13)),
            Error::Io(_)
        ));
    }
}
