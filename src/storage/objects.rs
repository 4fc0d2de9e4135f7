//! Object storage through object_store: a local directory by default, an
//! S3-compatible bucket by configuration. Correctness never relies on S3
//! conditional writes (see DESIGN): each upload writes a fresh key and the
//! database decides what exists.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

use super::local::{local_error, read_file, remove_staging_files, LocalFlush};
use super::streaming::{Streaming, StreamingCounts, StreamingPut};
use crate::config::{ObjectBackend, Settings};
use crate::secret::{self, SecretError};

/// A failed object operation.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("object store unavailable: {0}")]
    Unavailable(#[source] object_store::Error),
}

impl From<object_store::Error> for ObjectError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => ObjectError::NotFound(path),
            other => ObjectError::Unavailable(other),
        }
    }
}

/// Why the object store could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ObjectConfigError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("objects.local_dir {0}: {1}")]
    LocalDir(String, String),
    #[error("objects.s3: {0}")]
    S3(String),
}

/// The object store holding envelopes, with what it is for log lines.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The directory of the local backend, whose writes need an explicit fsync.
    local_dir: Option<std::path::PathBuf>,
    /// On S3, how an object of 1 MiB up to a part streams in while it
    /// arrives.
    streaming: Option<Arc<Streaming>>,
}

/// Key probed by readiness checks; it need not exist.
const PROBE_KEY: &str = "ponte/readiness-probe";

impl Objects {
    /// Builds the configured store. Credentials come from a secret file.
    pub fn open(settings: &Settings) -> Result<Objects, ObjectConfigError> {
        match settings.objects.backend {
            ObjectBackend::Local => {
                let dir = settings.local_objects_dir();
                std::fs::create_dir_all(&dir).map_err(|e| {
                    ObjectConfigError::LocalDir(dir.display().to_string(), e.to_string())
                })?;
                let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                    ObjectConfigError::LocalDir(dir.display().to_string(), e.to_string())
                })?;
                Ok(Objects {
                    store: Arc::new(store),
                    description: format!("local directory {}", dir.display()),
                    local_dir: Some(dir),
                    streaming: None,
                })
            }
            ObjectBackend::S3 => {
                let s3 = &settings.objects.s3;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style)
                    // Every object is sealed with AES-256-GCM, which
                    // authenticates its bytes end to end; a SigV4 payload
                    // hash would be a second pass over each body on the
                    // submission's critical path and add nothing.
                    .with_unsigned_payload(true)
                    .with_retry(RetryConfig {
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(s3.timeout_secs),
                        ..RetryConfig::default()
                    });
                let mut client = ClientOptions::new()
                    .with_timeout(Duration::from_secs(s3.timeout_secs))
                    .with_connect_timeout(Duration::from_secs(s3.timeout_secs.min(5)));
                if let Some(endpoint) = &s3.endpoint {
                    // with_client_options replaces earlier options, so allow_http lives here.
                    client = client.with_allow_http(endpoint.starts_with("http://"));
                    builder = builder.with_endpoint(endpoint);
                }
                builder = builder.with_client_options(client);
                match (&s3.access_key_id, &s3.secret_access_key_file) {
                    (Some(id), Some(file)) => {
                        let secret =
                            secret::read_string(file, "set objects.s3.secret_access_key_file")?;
                        builder = builder
                            .with_access_key_id(id)
                            .with_secret_access_key(secret);
                    }
                    (None, None) => {}
                    _ => {
                        return Err(ObjectConfigError::S3(
                            "access_key_id and secret_access_key_file go together".into(),
                        ))
                    }
                }
                let store = Arc::new(
                    builder
                        .build()
                        .map_err(|e| ObjectConfigError::S3(e.to_string()))?,
                );
                let streaming = if s3.stream_stall_secs == 0 {
                    None
                } else {
                    Some(Arc::new(Streaming::new(store.clone(), s3)?))
                };
                Ok(Objects {
                    store,
                    streaming,
                    description: format!(
                        "S3 bucket {} at {}",
                        s3.bucket,
                        s3.endpoint.as_deref().unwrap_or("AWS")
                    ),
                    local_dir: None,
                })
            }
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// How streaming PUTs ended, on S3 with streaming on.
    pub fn streaming_counts(&self) -> Option<StreamingCounts> {
        self.streaming.as_ref().map(|s| s.counts())
    }

    /// Whether the store answers now: a missing probe object still proves
    /// the store reachable and our credentials accepted.
    pub async fn ping(&self) -> Result<(), ObjectError> {
        match self.store.head(&ObjectPath::from(PROBE_KEY)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ObjectError::Unavailable(e)),
        }
    }

    /// Writes an object in one request.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), ObjectError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, ObjectError> {
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// Starts a streaming upload to a new key, of `size` bytes if that is
    /// known. Up to a part's size ([`PART_SIZE`] on S3, [`LOCAL_PART_SIZE`]
    /// on a local directory) is kept and written with one PUT; beyond that
    /// the upload turns multipart, parts going up as they fill, at most
    /// [`PARTS_IN_FLIGHT`] at a time, so memory stays bounded either way.
    /// On S3, an object of a known size from [`STREAM_FROM`] up to a part
    /// also streams into its one PUT as it is written (see [`Streaming`]).
    /// Whatever the backend, the object exists only once [`Upload::finish`]
    /// returns.
    pub async fn start_upload(&self, key: &str, size: Option<u64>) -> Result<Upload, ObjectError> {
        let local = self.local_dir.as_ref().map(|root| LocalFlush {
            file: root.join(key),
            root: root.clone(),
        });
        let path = ObjectPath::from(key);
        let state = match (&self.streaming, size) {
            (Some(streaming), Some(size)) if (STREAM_FROM..=PART_SIZE as u64).contains(&size) => {
                UploadState::Streaming(streaming.start(&path, size).await)
            }
            _ => UploadState::Small(Vec::new(), 0),
        };
        Ok(Upload {
            store: self.store.clone(),
            path,
            state,
            // A local file has no minimum part and no cost per request: it
            // is written while the body still arrives.
            part_size: if local.is_some() {
                LOCAL_PART_SIZE
            } else {
                PART_SIZE
            },
            local,
        })
    }

    /// Reads an object as a stream of byte chunks. A local file is read
    /// a mebibyte (`local::LOCAL_READ`) per blocking call (object_store's
    /// own stream reads 8 KiB per call, a thread hand-off every 8 KiB).
    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, ObjectError>>, ObjectError> {
        let result = self.store.get(&ObjectPath::from(key)).await?;
        Ok(match result.payload {
            GetResultPayload::File(file, path) => read_file(file, path, result.range),
            GetResultPayload::Stream(stream) => {
                stream.map(|r| r.map_err(ObjectError::from)).boxed()
            }
        })
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes what an upload that never completed may have left: the
    /// object, and on a local directory the staging files (`key#1`, …) of a
    /// multipart upload cut off by a stop of the broker. (On S3, an
    /// unfinished multipart upload is the bucket's lifecycle rule's to
    /// abort; see the README.)
    pub async fn delete_upload(&self, key: &str) -> Result<(), ObjectError> {
        self.delete(key).await?;
        let Some(root) = &self.local_dir else {
            return Ok(());
        };
        let file = root.join(key);
        tokio::task::spawn_blocking(move || remove_staging_files(&file))
            .await
            .map_err(|e| local_error(std::io::Error::other(e)))?
            .map_err(local_error)
    }
}

/// The smallest object that streams into its PUT on S3: anything smaller
/// arrives about at once, so a PUT of it whole loses nothing (and keeps
/// object_store's retries).
pub const STREAM_FROM: u64 = 1024 * 1024;
/// Size of each part of a streaming upload (S3 needs at least 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Size of each part written to a local file.
pub const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts uploaded concurrently.
pub const PARTS_IN_FLIGHT: usize = 2;

/// A streaming upload in progress.
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    state: UploadState,
    part_size: usize,
    /// On a local directory, what to flush once the file is complete.
    local: Option<LocalFlush>,
}

enum UploadState {
    /// Nothing written to the store yet: the pieces, and their length.
    Small(Vec<Bytes>, usize),
    /// Going out in one S3 PUT as it is written.
    Streaming(StreamingPut),
    Large(WriteMultipart),
}

impl Upload {
    /// Appends bytes, waiting while too many parts are in flight.
    pub async fn write(&mut self, data: Bytes) -> Result<(), ObjectError> {
        match &mut self.state {
            UploadState::Streaming(put) => put.write(data),
            UploadState::Small(pieces, length) if *length + data.len() <= self.part_size => {
                *length += data.len();
                pieces.push(data);
            }
            UploadState::Small(pieces, _) => {
                let upload = self.store.put_multipart(&self.path).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
                for piece in std::mem::take(pieces) {
                    writer.put(piece);
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.put(data);
                self.state = UploadState::Large(writer);
            }
            UploadState::Large(writer) => {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.put(data);
            }
        }
        Ok(())
    }

    /// Completes the object, durably: S3 acknowledges only durable writes;
    /// on a local directory the file and its folders up to the store's root
    /// are flushed to disk.
    pub async fn finish(self) -> Result<(), ObjectError> {
        match self.state {
            UploadState::Small(pieces, _) => {
                self.store
                    .put(&self.path, PutPayload::from_iter(pieces))
                    .await?;
            }
            UploadState::Streaming(mut put) => {
                if let Err(reason) = put.complete().await {
                    // Not an error: the bytes are all here, and S3 stored
                    // nothing of a PUT that did not complete.
                    tracing::info!(%reason, object = %self.path, "the streaming PUT gave way; writing the object in one piece");
                    let pieces = put.into_pieces();
                    self.store
                        .put(&self.path, PutPayload::from_iter(pieces))
                        .await?;
                }
            }
            UploadState::Large(writer) => {
                writer.finish().await?;
            }
        }
        match self.local {
            Some(flush) => flush.run().await,
            None => Ok(()),
        }
    }

    /// Whether the bytes written go out to the store at once, so that they
    /// are best written in small pieces (as they arrive).
    pub fn streams(&self) -> bool {
        matches!(self.state, UploadState::Streaming(_))
    }

    /// Abandons the upload (a streaming PUT is cut off short of its
    /// declared length, so S3 stores nothing of it).
    pub async fn abort(self) {
        if let UploadState::Large(writer) = self.state {
            if let Err(e) = writer.abort().await {
                tracing::warn!(error = %e, "could not abort an upload; the sweeper will remove it");
            }
        }
    }
}
