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
    /// The file system failed.
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
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
