//! Streaming PUTs to S3, for objects that fit one PUT: the store receives
//! an envelope while the broker does, instead of after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::path::Path as ObjectPath;
use tokio_util::task::AbortOnDropHandle;

use super::objects::ObjectConfigError;

/// Streaming PUTs to S3: an object of
/// [`STREAM_FROM`](super::objects::STREAM_FROM) up to a part goes out in
/// one PUT while it is still being written, so the store receives an
/// envelope while the broker does, instead of after. object_store writes
/// only bodies it holds whole, so this one request is made here:
/// addressed as the store addresses the object, signed (SigV4, unsigned
/// payload, as the store's own requests) with the store's own credentials.
/// Its length is declared up front, so S3 stores nothing of a PUT cut
/// short.
///
/// Every byte is also kept (as in a one-piece PUT, at most a part), and
/// the latest piece is held back until
/// [`Upload::finish`](super::objects::Upload::finish), so the object
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
    pub(super) fn new(
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

    /// How streaming PUTs ended so far.
    pub fn counts(&self) -> StreamingCounts {
        StreamingCounts {
            stored: self.stored.load(Ordering::Relaxed),
            given_way: self.given_way.load(Ordering::Relaxed),
        }
    }

    pub(super) async fn start(self: &Arc<Self>, path: &ObjectPath, size: u64) -> StreamingPut {
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
pub(super) struct StreamingPut {
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
    pub(super) fn write(&mut self, piece: Bytes) {
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

    /// Sends the last piece, waits for S3's answer and counts how the PUT
    /// ended. If it gave way, [`StreamingPut::into_pieces`] has every byte.
    pub(super) async fn complete(&mut self) -> Result<(), String> {
        let completed = self.send_last().await;
        let counter = match &completed {
            Ok(()) => &self.counts.stored,
            Err(_) => &self.counts.given_way,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        completed
    }

    /// Everything written; the PUT, if still under way, is cut off.
    pub(super) fn into_pieces(self) -> Vec<Bytes> {
        self.pieces
    }

    async fn send_last(&mut self) -> Result<(), String> {
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
