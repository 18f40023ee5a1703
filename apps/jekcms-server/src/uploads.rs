//! Writing uploaded bytes to the media directory: streamed to a temporary file while being
//! hashed and measured, sniffed, then renamed into place — so a failed or refused upload
//! leaves nothing behind and a stored file is always complete.

use futures_util::Stream;
use jekcms_content::ContentError;
use jekcms_content::media::{self, NewMedia};
use ring::digest;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

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
    /// The file system failed.
    #[error("storage error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for UploadError {
    /// A full disk or an exhausted quota (`ENOSPC`, `EDQUOT`) is the client's to hear about
    /// (507, try later or elsewhere); any other failure is ours (500).
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Self::NoSpace(e),
            _ => Self::Io(e),
        }
    }
}

/// Stores one uploaded file under `media_dir/<site_id>/`, returning the record to insert.
pub async fn store_upload(
    media_dir: &Path,
    site_id: i64,
    client_filename: Option<&str>,
    max_bytes: u64,
    mut chunks: impl Stream<Item = Result<actix_web::web::Bytes, ()>> + Unpin,
) -> Result<NewMedia, UploadError> {
    use futures_util::StreamExt;
    let dir = media_dir.join(site_id.to_string());
    tokio::fs::create_dir_all(&dir).await?;
    let name = random_name();
    let tmp = dir.join(format!(".{name}.part"));
    let mut file = tokio::fs::File::create(&tmp).await?;
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut head: Vec<u8> = Vec::new();
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|()| UploadError::Interrupted)?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(UploadError::TooLarge(max_bytes));
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    drop(file);
    let sniffed = media::sniff(&head)?;
    let final_name = format!("{name}.{}", sniffed.extension);
    tokio::fs::rename(&tmp, dir.join(&final_name)).await?;
    guard.disarm();
    Ok(NewMedia {
        filename: media::clean_filename(client_filename, sniffed.extension),
        mime_type: sniffed.mime_type.to_owned(),
        size_bytes: size as i64,
        sha256: hex::encode(hasher.finish().as_ref()),
        width: sniffed.dimensions.map(|d| d.0),
        height: sniffed.dimensions.map(|d| d.1),
        alt_text: None,
        storage_key: format!("{site_id}/{final_name}"),
    })
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

/// Where a stored file lives. Storage keys are made by [`store_upload`], never by clients.
pub fn path_of(media_dir: &Path, storage_key: &str) -> PathBuf {
    media_dir.join(storage_key)
}

/// Removes a stored file; a file already gone is fine.
pub async fn remove(media_dir: &Path, storage_key: &str) {
    if let Err(e) = tokio::fs::remove_file(path_of(media_dir, storage_key)).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
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

struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_or_quota_is_no_space_and_other_failures_are_io() {
        // ENOSPC and EDQUOT as the kernel reports them.
        for errno in [28, 122] {
            let e = UploadError::from(std::io::Error::from_raw_os_error(errno));
            assert!(matches!(e, UploadError::NoSpace(_)), "errno {errno}: {e:?}");
        }
        let e = UploadError::from(std::io::Error::from_raw_os_error(13));
        assert!(matches!(e, UploadError::Io(_)), "{e:?}");
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
