//! Object storage through object_store: a local directory by default, an
//! S3-compatible bucket by configuration. Correctness never relies on S3
//! conditional writes (see DESIGN): each upload writes a fresh key and the
//! database decides what exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use tokio_util::task::AbortOnDropHandle;

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
        self.streaming.as_ref().map(|s| StreamingCounts {
            stored: s.stored.load(Ordering::Relaxed),
            given_way: s.given_way.load(Ordering::Relaxed),
        })
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
    /// [`LOCAL_READ`] bytes per blocking call (object_store's own stream
    /// reads 8 KiB per call, a thread hand-off every 8 KiB).
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

/// Removes the staging files object_store writes beside `file` during a
/// multipart upload: `<name>#<number>`.
fn remove_staging_files(file: &std::path::Path) -> std::io::Result<()> {
    let (Some(folder), Some(name)) = (file.parent(), file.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}#", name.to_string_lossy());
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let entry_name = entry.file_name();
        let entry_name = entry_name.to_string_lossy();
        let staged = entry_name
            .strip_prefix(&prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if staged {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Size of each read from the local directory: one chunk of it is in
/// memory per retrieval.
pub const LOCAL_READ: u64 = 1024 * 1024;

/// Streams `range` of a local file in [`LOCAL_READ`] pieces, each read on
/// the blocking pool. The next piece is read while the current one is
/// consumed (opened from the seal and sent), so disk and network overlap;
/// at most two pieces are in memory and no thread waits on a slow reader.
fn read_file(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, ObjectError>> {
    let mut reader = FileReader {
        file: Arc::new(file),
        path: Arc::new(path),
        at: range.start,
        end: range.end,
        next: None,
    };
    reader.read_ahead();
    futures::stream::unfold(reader, |mut reader| async move {
        let next = reader.next.take()?;
        let piece = match next.await {
            Ok(Ok(piece)) => piece,
            Ok(Err(e)) => {
                let e = ObjectError::Unavailable(object_store::Error::Generic {
                    store: "local",
                    source: format!("{}: {e}", reader.path.display()).into(),
                });
                return Some((Err(e), reader));
            }
            Err(e) => {
                let e = ObjectError::Unavailable(object_store::Error::JoinError { source: e });
                return Some((Err(e), reader));
            }
        };
        reader.read_ahead();
        Some((Ok(Bytes::from(piece)), reader))
    })
    .boxed()
}

/// A local file being read piece by piece, one piece ahead.
struct FileReader {
    file: Arc<std::fs::File>,
    path: Arc<std::path::PathBuf>,
    /// Where the next read starts.
    at: u64,
    end: u64,
    /// The read under way, if any bytes remain.
    next: Option<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
}

impl FileReader {
    fn read_ahead(&mut self) {
        if self.at >= self.end {
            return;
        }
        let length = (self.end - self.at).min(LOCAL_READ) as usize;
        let (file, at) = (self.file.clone(), self.at);
        self.at += length as u64;
        self.next = Some(tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek};
            // Pieces are read one after another, so the file's own position
            // serves; read_to_end fills the buffer without zeroing it first.
            let mut buffer = Vec::with_capacity(length);
            (&*file).seek(std::io::SeekFrom::Start(at))?;
            (&*file).take(length as u64).read_to_end(&mut buffer)?;
            if buffer.len() < length {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(buffer)
        }));
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

/// What makes a new local object durable: the file, and every folder from
/// its own up to the store's root, since the upload may have created any of
/// them (or another upload may have, without having flushed it yet).
struct LocalFlush {
    root: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl LocalFlush {
    /// Flushes them all at once: the syncs share the file system's journal
    /// commits, so this takes about as long as one.
    async fn run(self) -> Result<(), ObjectError> {
        let paths = std::iter::once(self.file.as_path()).chain(
            self.file
                .ancestors()
                .skip(1)
                .take_while(|folder| folder.starts_with(&self.root)),
        );
        let syncs = paths.map(|path| {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
        });
        for synced in futures::future::join_all(syncs).await {
            synced
                .map_err(|e| local_error(std::io::Error::other(e)))?
                .map_err(local_error)?;
        }
        Ok(())
    }
}

fn local_error(e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    })
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
                let completed = put.complete().await;
                let counter = match &completed {
                    Ok(()) => &put.counts.stored,
                    Err(_) => &put.counts.given_way,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Err(reason) = completed {
                    // Not an error: the bytes are all here, and S3 stored
                    // nothing of a PUT that did not complete.
                    tracing::info!(%reason, object = %self.path, "the streaming PUT gave way; writing the object in one piece");
                    let pieces = std::mem::take(&mut put.pieces);
                    drop(put);
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

/// Streaming PUTs to S3: an object of [`STREAM_FROM`] up to a part goes
/// out in one PUT while it is still being written, so the store receives an envelope
/// while the broker does, instead of after. object_store writes only
/// bodies it holds whole, so this one request is made here: addressed as
/// the store addresses the object, signed (SigV4, unsigned payload, as the
/// store's own requests) with the store's own credentials. Its length is
/// declared up front, so S3 stores nothing of a PUT cut short.
///
/// Every byte is also kept (as in a one-piece PUT, at most a part), and
/// the latest piece is held back until [`Upload::finish`], so the object
/// cannot exist before. If the sender pauses longer than the stall limit
/// (field links do; S3 drops a request idle for 20 s), or the PUT fails,
/// the stream gives way and the object is written in one piece at the end.
#[derive(Debug)]
pub struct Streaming {
    s3: Arc<AmazonS3>,
    http: reqwest::Client,
    region: String,
    /// The longest pause in the body before the PUT is given up.
    stall: Duration,
    /// How long S3 may take to answer once the body is sent.
    answer: Duration,
    /// Streaming PUTs that stored their object, and that gave way.
    stored: AtomicU64,
    given_way: AtomicU64,
}

/// How streaming PUTs ended since the broker started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamingCounts {
    /// Objects stored by a PUT that streamed them in as they arrived.
    pub stored: u64,
    /// PUTs given up (a sender that paused, a store that failed), whose
    /// objects were written in one piece at the end.
    pub given_way: u64,
}

impl Streaming {
    fn new(
        s3: Arc<AmazonS3>,
        settings: &crate::config::S3Settings,
    ) -> Result<Streaming, ObjectConfigError> {
        let http = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(Duration::from_secs(settings.timeout_secs.min(5)))
            .build()
            .map_err(|e| ObjectConfigError::S3(e.to_string()))?;
        Ok(Streaming {
            s3,
            http,
            region: settings.region.clone(),
            stall: Duration::from_secs(settings.stream_stall_secs),
            answer: Duration::from_secs(settings.timeout_secs),
            stored: AtomicU64::new(0),
            given_way: AtomicU64::new(0),
        })
    }

    async fn start(self: &Arc<Self>, path: &ObjectPath, size: u64) -> StreamingPut {
        let (sender, pieces) = tokio::sync::mpsc::unbounded_channel();
        let request =
            AbortOnDropHandle::new(tokio::spawn(self.clone().put(path.clone(), size, pieces)));
        StreamingPut {
            pieces: Vec::new(),
            written: 0,
            size,
            held: None,
            sender: Some(sender),
            request,
            answer: self.answer,
            counts: self.clone(),
        }
    }

    /// The PUT itself; its body is what arrives on `pieces`.
    async fn put(
        self: Arc<Self>,
        path: ObjectPath,
        size: u64,
        pieces: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    ) -> Result<(), String> {
        use object_store::signer::Signer;
        // The store's own address for the object (a presigned URL, less its
        // query-string signature).
        let mut url = self
            .s3
            .signed_url(http::Method::PUT, &path, Duration::from_secs(60))
            .await
            .map_err(|e| e.to_string())?;
        url.set_query(None);
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| e.to_string())?;
        let mut signed = http::Request::builder()
            .method(http::Method::PUT)
            .uri(url.as_str())
            .body(object_store::client::HttpRequestBody::empty())
            .map_err(|e| e.to_string())?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .with_sign_payload(false)
            .try_authorize(&mut signed, None)
            .map_err(|e| e.to_string())?;
        let stall = self.stall;
        let body = futures::stream::unfold(Some(pieces), move |pieces| async move {
            let mut pieces = pieces?;
            match tokio::time::timeout(stall, pieces.recv()).await {
                Ok(Some(piece)) => Some((Ok(piece), Some(pieces))),
                // Every piece went out (or the upload was abandoned, short of
                // the declared length).
                Ok(None) => None,
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the sender paused",
                    )),
                    None,
                )),
            }
        });
        let response = self
            .http
            .put(url)
            .headers(signed.headers().clone())
            .header(http::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("S3 answered {}", response.status()))
        }
    }
}

/// A streaming PUT under way.
struct StreamingPut {
    /// Everything written, for a one-piece PUT if the stream gives way.
    pieces: Vec<Bytes>,
    written: u64,
    /// The length the PUT declared.
    size: u64,
    /// The latest piece, sent only by [`StreamingPut::complete`].
    held: Option<Bytes>,
    /// None once the stream has given way.
    sender: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    /// The task making the PUT; it ends with its upload.
    request: AbortOnDropHandle<Result<(), String>>,
    answer: Duration,
    /// Where its outcome is counted.
    counts: Arc<Streaming>,
}

impl StreamingPut {
    /// Keeps the piece and sends the one before it. Never waits on S3: the
    /// pieces in flight are the ones kept anyway.
    fn write(&mut self, piece: Bytes) {
        self.written += piece.len() as u64;
        self.pieces.push(piece.clone());
        if self.written > self.size {
            self.give_way();
            return;
        }
        if let (Some(earlier), Some(sender)) = (self.held.replace(piece), &self.sender) {
            // A PUT that already ended shows in `complete`.
            let _ = sender.send(earlier);
        }
    }

    /// Cuts the PUT off short of its length: S3 stores nothing of it.
    fn give_way(&mut self) {
        self.sender = None;
        self.request.abort();
    }

    /// Sends the last piece and waits for S3's answer.
    async fn complete(&mut self) -> Result<(), String> {
        if self.written != self.size {
            self.give_way();
            return Err(format!(
                "{} bytes were written of the {} the PUT declared",
                self.written, self.size
            ));
        }
        let sender = self.sender.take().ok_or("the upload outgrew its length")?;
        if let Some(last) = self.held.take() {
            if sender.send(last).is_err() {
                drop(sender);
                return Err(self.ended().await);
            }
        }
        drop(sender);
        match tokio::time::timeout(self.answer, &mut self.request).await {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                self.request.abort();
                Err("S3 did not answer in time".into())
            }
        }
    }

    /// Why a PUT that stopped taking pieces ended.
    async fn ended(&mut self) -> String {
        match tokio::time::timeout(self.answer, &mut self.request).await {
            Ok(Ok(Err(reason))) => reason,
            Ok(Ok(Ok(()))) => "S3 answered before the body was complete".into(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the PUT stopped taking its body".into(),
        }
    }
}
