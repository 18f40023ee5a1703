//! [`LocalDir`]: media as files under one directory, `<root>/<site_id>/<name>.<ext>`, the
//! layout JekCMS has always used (so existing directories and backups need nothing).

use crate::{ByteStream, Error, MediaStore, ObjectWriter, StoredObject};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::ops::Range;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes read from a file per chunk of a read stream.
const CHUNK_BYTES: usize = 64 * 1024;

/// Media files under a local directory (`JEKCMS_MEDIA_DIR`).
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// The store rooted at `root` (created by [`MediaStore::check`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where object `key` lives. Keys are made by the server, never by clients.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The hidden name an unfinished object is written under, in the same directory (so the
    /// final rename stays on one file system): `<site>/.<name>.part`.
    fn part_path(&self, key: &str) -> PathBuf {
        let path = self.path_of(key);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.split('.').next().unwrap_or_default();
        path.with_file_name(format!(".{stem}.part"))
    }
}

impl MediaStore for LocalDir {
    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }

    fn check(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { Ok(tokio::fs::create_dir_all(&self.root).await?) })
    }

    fn create<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, Error>> {
        Box::pin(async move {
            let path = self.path_of(key);
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let part = self.part_path(key);
            let file = tokio::fs::File::create(&part).await?;
            Ok(Box::new(LocalWriter {
                file: Some(file),
                part: Some(part),
                path,
            }) as Box<dyn ObjectWriter>)
        })
    }

    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ByteStream, Error>> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(self.path_of(key)).await?;
            if range.start > 0 {
                file.seek(std::io::SeekFrom::Start(range.start)).await?;
            }
            Ok(chunks(file, range.end.saturating_sub(range.start)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path_of(key)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }

    fn list(&self) -> BoxStream<'_, Result<StoredObject, Error>> {
        let root = self.root.clone();
        // Two levels (site directories, then files): read on the blocking pool, a site at a
        // time, so a large directory is never one long stall of the runtime.
        let sites = stream::once(async move {
            let root2 = root.clone();
            let sites = tokio::task::spawn_blocking(move || site_dirs(&root2))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            Ok::<_, Error>((root, sites?))
        });
        sites
            .map(|listed| match listed {
                Ok((root, sites)) => stream::iter(sites)
                    .then(move |site| {
                        let root = root.clone();
                        async move {
                            tokio::task::spawn_blocking(move || files_of(&root, &site))
                                .await
                                .map_err(|e| Error::Io(std::io::Error::other(e)))?
                        }
                    })
                    .flat_map(|files| match files {
                        Ok(files) => stream::iter(files.into_iter().map(Ok)).boxed(),
                        Err(e) => stream::iter([Err(e)]).boxed(),
                    })
                    .boxed(),
                Err(e) => stream::iter([Err(e)]).boxed(),
            })
            .flatten()
            .boxed()
    }
}

/// The site directories under `root` (none when it does not exist yet).
fn site_dirs(root: &Path) -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut sites = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sites.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(sites)
}

/// The files of one site directory, as objects.
fn files_of(root: &Path, site: &str) -> Result<Vec<StoredObject>, Error> {
    let entries = match std::fs::read_dir(root.join(site)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let Ok(modified) = meta.modified() else {
            continue;
        };
        files.push(StoredObject {
            key: format!("{site}/{}", entry.file_name().to_string_lossy()),
            last_modified: modified.into(),
            size: meta.len(),
        });
    }
    Ok(files)
}

/// The next `length` bytes of `file`, in chunks of at most [`CHUNK_BYTES`]. A file that
/// ends early ends the stream with an error (the connection is closed rather than a short
/// body passed off as whole).
fn chunks(file: tokio::fs::File, length: u64) -> ByteStream {
    stream::try_unfold((file, length), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = left.min(CHUNK_BYTES as u64) as usize;
        let mut buf = vec![0; want];
        let got = file.read(&mut buf).await?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than it was",
            ));
        }
        buf.truncate(got);
        Ok(Some((Bytes::from(buf), (file, left - got as u64))))
    })
    .boxed()
}

/// A file being written under its `.part` name; renamed into place by `finish`, removed if
/// dropped or aborted.
struct LocalWriter {
    file: Option<tokio::fs::File>,
    /// `None` once renamed into place.
    part: Option<PathBuf>,
    path: PathBuf,
}

impl ObjectWriter for LocalWriter {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let file = self.file.as_mut().ok_or(Error::NotFound)?;
            Ok(file.write_all(&chunk).await?)
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            let mut file = self.file.take().ok_or(Error::NotFound)?;
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            let part = self.part.clone().ok_or(Error::NotFound)?;
            tokio::fs::rename(&part, &self.path).await?;
            self.part = None;
            Ok(())
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        // Drop removes the part file.
        Box::pin(async move {
            drop(self);
            Ok(())
        })
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if let Some(part) = self.part.take() {
            let _ = std::fs::remove_file(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn scratch() -> LocalDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        LocalDir::new(std::env::temp_dir().join(format!(
            "jekcms-local-dir-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    async fn keys(store: &LocalDir) -> Vec<String> {
        let mut keys: Vec<String> = store.list().map_ok(|o| o.key).try_collect().await.unwrap();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn an_object_is_visible_only_once_finished_and_reads_by_range() {
        let store = scratch();
        store.check().await.unwrap();
        let mut w = store.create("7/abc.png").await.unwrap();
        w.write(Bytes::from_static(b"0123")).await.unwrap();
        w.write(Bytes::from_static(b"456789")).await.unwrap();
        // Unfinished: only the hidden part file exists.
        assert_eq!(keys(&store).await, ["7/.abc.part"]);
        assert!(matches!(
            store.read("7/abc.png", 0..1).await,
            Err(Error::NotFound)
        ));
        w.finish().await.unwrap();
        assert_eq!(keys(&store).await, ["7/abc.png"]);
        let read = |r: Range<u64>| {
            let store = store.clone();
            async move {
                let parts: Vec<Bytes> = store.read("7/abc.png", r).await?.try_collect().await?;
                Ok::<_, Box<dyn std::error::Error>>(parts.concat())
            }
        };
        assert_eq!(read(0..10).await.unwrap(), b"0123456789");
        assert_eq!(read(3..5).await.unwrap(), b"34");
        assert!(
            read(8..12).await.is_err(),
            "past the end is an error, not a short body"
        );
        store.delete("7/abc.png").await.unwrap();
        store.delete("7/abc.png").await.unwrap();
        assert!(keys(&store).await.is_empty());
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[tokio::test]
    async fn an_aborted_or_dropped_writer_leaves_nothing() {
        let store = scratch();
        let mut w = store.create("1/a.pdf").await.unwrap();
        w.write(Bytes::from_static(b"%PDF")).await.unwrap();
        w.abort().await.unwrap();
        let mut w = store.create("1/b.pdf").await.unwrap();
        w.write(Bytes::from_static(b"%PDF")).await.unwrap();
        drop(w);
        assert!(keys(&store).await.is_empty());
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[tokio::test]
    async fn listing_a_missing_directory_is_empty() {
        let store = scratch();
        assert!(keys(&store).await.is_empty());
    }
}
