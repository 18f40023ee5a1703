//! [`S3`]: media as objects in an S3-compatible bucket, `<prefix>/<site_id>/<name>.<ext>`,
//! through the `object_store` crate (its S3 client only, on the workspace's reqwest and
//! rustls).
//!
//! Writes: a file up to [`PART_BYTES`] is buffered and sent as one `PutObject`; a larger one
//! becomes a multipart upload of [`PART_BYTES`] parts, at most one part in flight while the
//! next is received, so an upload holds about two parts in memory whatever its size. The
//! object appears only when the upload is completed; an aborted or dropped writer aborts the
//! multipart upload (a process killed mid-upload leaves invisible parts, which a bucket
//! lifecycle rule `AbortIncompleteMultipartUpload` removes: docs/operations.md).
//! Reads: one ranged `GetObject`, streamed.

use crate::{ByteStream, Error, MediaStore, ObjectWriter, S3Location, StoredObject};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayloadMut, RetryConfig,
    WriteMultipart,
};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The size of a multipart upload's parts (S3's minimum but for the last part is 5 MiB).
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// How requests address the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `https://endpoint/bucket/key`: what most non-AWS servers (MinIO, moto, Ceph, …) need.
    Path,
    /// `https://bucket.endpoint/key`: AWS's own style.
    VirtualHosted,
}

/// Everything needed to reach the bucket, read from the standard `AWS_*` variables.
#[derive(Clone)]
pub struct S3Settings {
    /// Bucket and prefix (`JEKCMS_MEDIA_STORE`).
    pub location: S3Location,
    /// `AWS_ENDPOINT_URL`: a non-AWS server, e.g. `http://127.0.0.1:9000` (`None`: AWS).
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`; default `us-east-1`).
    pub region: String,
    /// `AWS_ACCESS_KEY_ID`
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN`
    pub session_token: Option<String>,
    /// `JEKCMS_S3_ADDRESSING`: `path` or `virtual`; default `path` with `AWS_ENDPOINT_URL`,
    /// `virtual` without.
    pub addressing: Addressing,
}

impl std::fmt::Debug for S3Settings {
    /// Never prints a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("location", &self.location)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "…"))
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The settings for `location` from the variables `get` returns (the environment, or a
    /// map in tests). Errors name the variable.
    pub fn from_lookup(
        location: S3Location,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, (&'static str, String)> {
        let val = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let endpoint = val("AWS_ENDPOINT_URL");
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err((
                "AWS_ENDPOINT_URL",
                format!("{e:?} is not an http:// or https:// URL"),
            ));
        }
        let addressing = match val("JEKCMS_S3_ADDRESSING").as_deref().map(str::trim) {
            None if endpoint.is_some() => Addressing::Path,
            None => Addressing::VirtualHosted,
            Some("path") => Addressing::Path,
            Some("virtual") => Addressing::VirtualHosted,
            Some(other) => {
                return Err((
                    "JEKCMS_S3_ADDRESSING",
                    format!("{other:?}: expected path or virtual"),
                ));
            }
        };
        Ok(Self {
            location,
            endpoint,
            region: val("AWS_REGION")
                .or_else(|| val("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: val("AWS_ACCESS_KEY_ID"),
            secret_access_key: val("AWS_SECRET_ACCESS_KEY"),
            session_token: val("AWS_SESSION_TOKEN"),
            addressing,
        })
    }
}

/// Media in an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3 {
    store: Arc<AmazonS3>,
    location: S3Location,
    endpoint: Option<String>,
}

impl S3 {
    /// A client for the bucket (no request is made: [`MediaStore::check`] does that).
    pub fn new(settings: &S3Settings) -> Result<Self, Error> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.location.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(settings.addressing == Addressing::VirtualHosted)
            // A bounded wait: an unreachable store fails a request in seconds, not the
            // default three minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60))
                    .with_allow_http(
                        settings
                            .endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    ),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        let store = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the S3 client: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            location: settings.location.clone(),
            endpoint: settings.endpoint.clone(),
        })
    }

    fn path_of(&self, key: &str) -> ObjectPath {
        if self.location.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.location.prefix))
        }
    }

    fn prefix(&self) -> Option<ObjectPath> {
        (!self.location.prefix.is_empty()).then(|| ObjectPath::from(self.location.prefix.as_str()))
    }

    /// The storage key of an object path (the path less the prefix).
    fn key_of(&self, path: &ObjectPath) -> String {
        let full = path.as_ref();
        if self.location.prefix.is_empty() {
            return full.to_owned();
        }
        full.strip_prefix(&self.location.prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(full)
            .to_owned()
    }
}

impl MediaStore for S3 {
    fn describe(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{} at {endpoint}", self.location),
            None => format!("{} on AWS", self.location),
        }
    }

    fn check(&self) -> BoxFuture<'_, Result<(), Error>> {
        // One listing under the prefix: the bucket exists and these credentials may read it.
        Box::pin(async move {
            self.store
                .list_with_delimiter(self.prefix().as_ref())
                .await
                .map_err(Error::ObjectStore)?;
            Ok(())
        })
    }

    fn create<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, Error>> {
        Box::pin(async move {
            Ok(Box::new(S3Writer {
                store: self.store.clone(),
                path: self.path_of(key),
                state: Some(WriteState::Buffering(PutPayloadMut::new())),
            }) as Box<dyn ObjectWriter>)
        })
    }

    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ByteStream, Error>> {
        Box::pin(async move {
            let want = range.end.saturating_sub(range.start);
            let options = GetOptions::new().with_range(Some(GetRange::Bounded(range)));
            let got = self.store.get_opts(&self.path_of(key), options).await?;
            let body = got.into_stream().map_err(std::io::Error::other).boxed();
            Ok(exactly(body, want))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match self.store.delete(&self.path_of(key)).await {
                Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(Error::ObjectStore(e)),
            }
        })
    }

    fn list(&self) -> BoxStream<'_, Result<StoredObject, Error>> {
        self.store
            .list(self.prefix().as_ref())
            .map(move |listed| {
                let meta = listed.map_err(Error::ObjectStore)?;
                Ok(StoredObject {
                    key: self.key_of(&meta.location),
                    last_modified: meta.last_modified,
                    size: meta.size,
                })
            })
            .boxed()
    }
}

/// `body`, checked to be exactly `want` bytes: a short object ends the stream with an error
/// rather than a short body passed off as whole.
fn exactly(body: BoxStream<'static, Result<Bytes, std::io::Error>>, want: u64) -> ByteStream {
    futures_util::stream::try_unfold((body, 0u64), move |(mut body, seen)| async move {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                let seen = seen + chunk.len() as u64;
                if seen > want {
                    return Err(std::io::Error::other("the object is longer than the range"));
                }
                Ok(Some((chunk, (body, seen))))
            }
            None if seen < want => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the object is shorter than it was",
            )),
            None => Ok(None),
        }
    })
    .boxed()
}

enum WriteState {
    /// Under [`PART_BYTES`] so far: kept for one `PutObject`.
    Buffering(PutPayloadMut),
    /// Larger: a multipart upload.
    Multipart(WriteMultipart),
}

struct S3Writer {
    store: Arc<AmazonS3>,
    path: ObjectPath,
    /// `None` once finished or aborted.
    state: Option<WriteState>,
}

impl ObjectWriter for S3Writer {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            match self.state.as_mut() {
                Some(WriteState::Buffering(buffer)) => {
                    buffer.push(chunk);
                    if buffer.content_length() >= PART_BYTES {
                        let buffered = std::mem::take(buffer).freeze();
                        let upload = self.store.put_multipart(&self.path).await?;
                        let mut multipart = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                        for part in buffered.iter() {
                            multipart.put(part.clone());
                        }
                        self.state = Some(WriteState::Multipart(multipart));
                    }
                    Ok(())
                }
                Some(WriteState::Multipart(multipart)) => {
                    // At most one part in flight while the next one is received.
                    multipart.wait_for_capacity(1).await?;
                    multipart.put(chunk);
                    Ok(())
                }
                None => Err(Error::NotFound),
            }
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            match self.state.take() {
                Some(WriteState::Buffering(buffer)) => {
                    self.store.put(&self.path, buffer.freeze()).await?;
                    Ok(())
                }
                // `finish` aborts the upload itself when completing it fails.
                Some(WriteState::Multipart(multipart)) => {
                    multipart.finish().await?;
                    Ok(())
                }
                None => Err(Error::NotFound),
            }
        })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            if let Some(WriteState::Multipart(multipart)) = self.state.take() {
                multipart.abort().await?;
            }
            Ok(())
        })
    }
}

impl Drop for S3Writer {
    /// An upload given up without `abort` (its request dropped): abort the multipart upload
    /// in the background, so its parts are not kept.
    fn drop(&mut self) {
        if let Some(WriteState::Multipart(multipart)) = self.state.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = multipart.abort().await {
                    tracing::warn!(error = %e, "could not abort an unfinished multipart upload");
                }
            });
        }
    }
}
