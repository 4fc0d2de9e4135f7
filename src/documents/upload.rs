//! A submission's bytes on their way into the object store: scanned,
//! hashed and sealed as they arrive, and completed beside the writes that
//! make them a document.

use std::fmt::Display;
use std::future::Future;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::exchange::Vault;
use super::scan::{Scanned, Scanner};
use super::store;
use super::DocumentError;
use crate::storage::objects::Upload;
use crate::storage::sealed::{self, Sealer};
use crate::storage::Engine;

/// Streams the body through the scanner, the hash and the seal into a new
/// object, and answers the upload still to be completed if `accept` takes
/// the envelope received (its scan and its SHA-256); otherwise the upload
/// is abandoned. `length` is the envelope's length as its sender declared
/// it, if it did.
pub(super) async fn receive<S, E>(
    vault: &Vault,
    object_key: &str,
    case_key: &[u8; 32],
    length: Option<u64>,
    body: &mut S,
    accept: impl FnOnce(&Scanned, &str) -> Result<(), DocumentError>,
) -> Result<(Upload, Scanned, String), DocumentError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut upload = vault
        .objects
        .start_upload(object_key, length.map(sealed::sealed_len))
        .await?;
    let received = feed(vault, &mut upload, case_key, body)
        .await
        .and_then(|(scanned, sha256)| {
            accept(&scanned, &sha256)?;
            Ok((scanned, sha256))
        });
    match received {
        Ok((scanned, sha256)) => Ok((upload, scanned, sha256)),
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

/// Completes the object and writes, without committing, what makes it a
/// document (`stage`). On PostgreSQL the writes, each a round trip to the
/// database, go on while the object store completes the object, and the
/// caller commits them only once the object is durable; their connection
/// waits on the store meanwhile, so this is done only while the database
/// allows it ([`Db::hold_while_waiting`](crate::storage::Db::hold_while_waiting)). Otherwise, and always on
/// SQLite, the writes follow the object: there a writing transaction holds
/// the database's one write lock, which must not wait on the object store.
pub(super) async fn complete(
    vault: &Vault,
    object: Upload,
    stage: impl Future<Output = Result<Option<store::Staged>, DocumentError>>,
) -> Result<Option<store::Staged>, DocumentError> {
    let holding = match vault.db.engine() {
        Engine::Postgres => vault.db.hold_while_waiting(),
        Engine::Sqlite => None,
    };
    if holding.is_some() {
        let (completed, staged) = tokio::join!(object.finish(), stage);
        // An object that failed to complete drops the staged writes.
        completed?;
        staged
    } else {
        object.finish().await?;
        stage.await
    }
}

/// Bytes of sealed output gathered before they are handed to the upload;
/// an upload that streams takes every sealed chunk as it is made.
const FLUSH_BYTES: usize = 1024 * 1024;

async fn feed<S, E>(
    vault: &Vault,
    upload: &mut Upload,
    case_key: &[u8; 32],
    body: &mut S,
) -> Result<(Scanned, String), DocumentError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let flush = if upload.streams() {
        sealed::CHUNK
    } else {
        FLUSH_BYTES
    };
    // What one flush holds; each goes to the upload as it is, uncopied.
    let capacity = sealed::sealed_len(flush as u64) as usize;
    let mut sealer = Sealer::new(case_key)?;
    let mut sealed = Vec::with_capacity(capacity);
    sealed.extend_from_slice(sealer.header());
    let mut scanner = Scanner::new();
    let mut hasher = Hasher::start();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| DocumentError::Incomplete(e.to_string()))?;
        if scanner.size() + chunk.len() as u64 > vault.limits.max_envelope_bytes {
            return Err(DocumentError::TooLarge(vault.limits.max_envelope_bytes));
        }
        hasher.update(chunk.clone()).await;
        scanner
            .push(&chunk)
            .map_err(DocumentError::EnvelopeSyntax)?;
        sealer.push(&chunk, &mut sealed)?;
        if sealed.len() >= flush {
            let full = std::mem::replace(&mut sealed, Vec::with_capacity(capacity));
            upload.write(Bytes::from(full)).await?;
        }
    }
    sealer.finish(&mut sealed)?;
    upload.write(Bytes::from(sealed)).await?;
    let scanned = scanner.finish().map_err(DocumentError::EnvelopeSyntax)?;
    Ok((scanned, hasher.finish().await))
}

/// The envelope's SHA-256, computed on a task of its own so that it runs
/// beside the scanning and sealing (it costs more than both together).
/// Pieces are handed over in batches of [`HASH_BATCH`] bytes.
struct Hasher {
    batch: Vec<Bytes>,
    batched: usize,
    pieces: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    digest: tokio::task::JoinHandle<String>,
}

/// Bytes handed to the hashing task at a time.
const HASH_BATCH: usize = 256 * 1024;

impl Hasher {
    fn start() -> Hasher {
        let (pieces, mut received) = tokio::sync::mpsc::channel::<Vec<Bytes>>(4);
        let digest = tokio::spawn(async move {
            let mut context = ring::digest::Context::new(&ring::digest::SHA256);
            while let Some(batch) = received.recv().await {
                for piece in batch {
                    context.update(&piece);
                }
            }
            crate::pki::hex(context.finish().as_ref())
        });
        Hasher {
            batch: Vec::new(),
            batched: 0,
            pieces,
            digest,
        }
    }

    async fn update(&mut self, piece: Bytes) {
        self.batched += piece.len();
        self.batch.push(piece);
        if self.batched >= HASH_BATCH {
            self.hand_over().await;
        }
    }

    async fn hand_over(&mut self) {
        self.batched = 0;
        // The task ends only when the sender is dropped.
        let _ = self.pieces.send(std::mem::take(&mut self.batch)).await;
    }

    /// The hex digest of everything handed over.
    async fn finish(mut self) -> String {
        self.hand_over().await;
        drop(self.pieces);
        match self.digest.await {
            Ok(digest) => digest,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: no digest matches, nothing is stored.
            Err(_) => String::new(),
        }
    }
}

/// Removes an object that did not become a document, and its pending record.
pub(super) async fn discard(vault: &Vault, object_key: &str) {
    match vault.objects.delete_upload(object_key).await {
        Ok(()) => {
            if let Err(e) = store::forget_upload(&vault.db, object_key).await {
                tracing::warn!(error = %e, object_key, "pending upload left for the sweep");
            }
        }
        Err(e) => tracing::warn!(error = %e, object_key, "object left for the sweep"),
    }
}
