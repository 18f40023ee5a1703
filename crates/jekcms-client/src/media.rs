//! `client.media()`: uploads, the media list as pages or as a stream, alt text, deletion,
//! and a medium's bytes (API.md §5).

use crate::client::Client;
use crate::error::Error;
use crate::list::{MAX_LIMIT, fetch_page, walk};
use crate::transport::{Call, Upload};
use crate::types::{Media, MediaContent, MediaFilter, Page};
use futures_core::Stream;
use reqwest::Method;
use serde::Serialize;
use std::future::{Future, IntoFuture};
use std::path::Path;
use std::pin::Pin;

/// The list and upload endpoint.
const PATH: &str = "/api/v2/media";

impl Client {
    /// The media library (uploaded files) of the client's site.
    pub fn media(&self) -> MediaLibrary {
        MediaLibrary {
            client: self.clone(),
        }
    }
}

/// The media endpoints; made by [`Client::media`].
///
/// The server sniffs each upload's type from its bytes and accepts only images, PDF,
/// audio and video; anything else is refused with `415 UNSUPPORTED_MEDIA_TYPE`.
///
/// ```no_run
/// use futures_util::TryStreamExt;
/// use jekcms_client::{Client, MediaFilter};
///
/// # async fn run(client: Client) -> Result<(), jekcms_client::Error> {
/// let media = client.media();
/// let photo = media.upload_file("photos/cat.png", Some("A cat asleep")).await?;
/// println!("stored {} as {} ({} bytes)", photo.filename, photo.mime_type, photo.size_bytes);
///
/// let images: Vec<_> = media
///     .list(MediaFilter::default().mime_type("image/"))
///     .stream()
///     .try_collect()
///     .await?;
/// println!("{} images", images.len());
///
/// let content = media.content(photo.id).await?;
/// assert_eq!(content.bytes.len() as u64, photo.size_bytes);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MediaLibrary {
    client: Client,
}

impl MediaLibrary {
    /// `POST /api/v2/media`: uploads `bytes` as `multipart/form-data` (part `file` named
    /// `filename`, and `alt_text` when given) and returns the stored record.
    ///
    /// An upload is not safe to repeat, so it is never resent once it may have reached the
    /// server: a connection error or a 5xx is returned to the caller, who can check the
    /// list (e.g. for the [`Media::sha256`] of the file) before trying again. It is still
    /// retried after `429 RATE_LIMITED` and, with a renewed token, after `401
    /// AUTH_EXPIRED`: the server refuses both before storing anything. The bytes are held
    /// in memory, and the builder's [`timeout`](crate::ClientBuilder::timeout) covers the
    /// whole upload.
    pub async fn upload_bytes(
        &self,
        filename: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
        alt_text: Option<&str>,
    ) -> Result<Media, Error> {
        let upload = Upload {
            filename: filename.into(),
            bytes: bytes.into(),
            alt_text: alt_text.map(str::to_owned),
        };
        let call = Call::new(Method::POST, PATH).multipart(upload);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// Reads the file at `path` (with `tokio::fs`) and uploads it under its file name, as
    /// [`upload_bytes`](Self::upload_bytes) does. A file that cannot be read, or a path
    /// that names no file, is [`Error::File`] and nothing is sent.
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        alt_text: Option<&str>,
    ) -> Result<Media, Error> {
        let path = path.as_ref();
        let file_error = |source| Error::File {
            path: path.to_owned(),
            source,
        };
        let filename = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| {
                file_error(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path names no file",
                ))
            })?;
        let bytes = tokio::fs::read(path).await.map_err(file_error)?;
        self.upload_bytes(filename, bytes, alt_text).await
    }

    /// `GET /api/v2/media/{id}`: a medium's record.
    pub async fn get(&self, id: i64) -> Result<Media, Error> {
        let call = Call::new(Method::GET, format!("{PATH}/{id}"));
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `GET /api/v2/media`, newest first: `.await` it for the first page, call
    /// [`ListMedia::after`] for a later one, or [`ListMedia::stream`] for every medium.
    pub fn list(&self, filter: MediaFilter) -> ListMedia {
        ListMedia {
            client: self.client.clone(),
            filter,
            cursor: None,
        }
    }

    /// `PATCH /api/v2/media/{id}`: sets the alt text, or clears it with `None`; returns the
    /// medium as changed. Retried like a `GET`, since setting the same text twice has the
    /// effect of setting it once.
    pub async fn update_alt_text(&self, id: i64, alt_text: Option<&str>) -> Result<Media, Error> {
        #[derive(Serialize)]
        struct Patch<'a> {
            alt_text: Option<&'a str>,
        }
        let call = Call::new(Method::PATCH, format!("{PATH}/{id}"))
            .json(&Patch { alt_text })
            .repeatable(true);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `DELETE /api/v2/media/{id}`: deletes the record and its file. Not retried after a
    /// lost response: a second delete would report `NOT_FOUND` for a medium that the first
    /// one deleted.
    pub async fn delete(&self, id: i64) -> Result<(), Error> {
        let call = Call::new(Method::DELETE, format!("{PATH}/{id}"));
        let _: serde_json::Value = self.client.inner.send(&call).await?.decode()?.data;
        Ok(())
    }

    /// `GET /api/v2/media/{id}/content`: the file itself. This answer is not an envelope
    /// but the raw bytes with the sniffed `Content-Type`; a failure (e.g. `NOT_FOUND`) is
    /// an envelope and comes back as [`Error::Api`] as usual. The whole file is read into
    /// memory.
    pub async fn content(&self, id: i64) -> Result<MediaContent, Error> {
        let call = Call::new(Method::GET, format!("{PATH}/{id}/content"));
        let (bytes, content_type) = self.client.inner.send(&call).await?.into_content();
        Ok(MediaContent {
            bytes,
            content_type,
        })
    }
}

/// A media list request; made by [`MediaLibrary::list`].
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until awaited or streamed"]
pub struct ListMedia {
    client: Client,
    filter: MediaFilter,
    cursor: Option<String>,
}

impl ListMedia {
    /// The page after the one that returned `cursor` as its `next_cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Fetches the page.
    pub async fn page(self) -> Result<Page<Media>, Error> {
        let query = self.filter.to_query(self.cursor.as_deref());
        fetch_page(&self.client, PATH, query).await
    }

    /// Every medium of the list from here on, following `next_cursor` page by page (100 a
    /// page unless the filter sets a limit). The stream ends after the first error.
    pub fn stream(self) -> impl Stream<Item = Result<Media, Error>> + Send + 'static {
        let mut filter = self.filter;
        filter.limit.get_or_insert(MAX_LIMIT);
        walk(
            self.client,
            PATH,
            move |cursor| filter.to_query(cursor),
            self.cursor,
        )
    }
}

impl IntoFuture for ListMedia {
    type Output = Result<Page<Media>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.page())
    }
}
