//! Retrieval: the stored envelope streamed back out of the broker's seal,
//! with the recipient entries added by shares spliced in.

use std::fmt::Display;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio_util::task::AbortOnDropHandle;

use super::exchange::{erased, Vault};
use super::store::{self, DocumentRecord, RecipientRecord};
use super::DocumentError;
use crate::policy::actions::{ReadDocument, ReadDossier};
use crate::policy::Authorized;
use crate::storage::objects::ObjectError;
use crate::storage::sealed::{self, Opener};
use crate::storage::Objects;

/// The envelope of a document, its object opened (on S3: the GET
/// answered) and not yet read. It is opened as soon as the document's row
/// is read, while the rest of what the policy needs is read and the policy
/// decides, so the store's latency overlaps all of that; it yields nothing
/// until shown the proof that the read was allowed.
pub async fn open(vault: &Vault, doc: &DocumentRecord) -> Result<Opening, DocumentError> {
    let object_key = doc.object_key.as_deref().ok_or(DocumentError::Erased)?;
    // The GET runs on a task of its own, so it goes out at once rather
    // than whenever the task reading the case key (and, in the handler,
    // what the policy needs) is next polled; a retrieval dropped before it
    // answers stops it.
    let get = AbortOnDropHandle::new(tokio::spawn({
        let objects = vault.objects.clone();
        let object_key = object_key.to_owned();
        async move { objects.stream(&object_key).await }
    }));
    let (key, inner) = tokio::join!(
        sealed::existing_case_key(&vault.db, &vault.kek, doc.case.as_str()),
        answer(get)
    );
    let key = key.map_err(erased)?.ok_or(DocumentError::Erased)?;
    Ok(Opening {
        inner: inner?,
        key,
        size: doc.size,
        splice_at: doc.recipients_end,
    })
}

type ObjectStream = BoxStream<'static, Result<Bytes, ObjectError>>;

/// What the GET's task answered.
async fn answer(
    get: AbortOnDropHandle<Result<ObjectStream, ObjectError>>,
) -> Result<ObjectStream, ObjectError> {
    match get.await {
        Ok(answer) => answer,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only the runtime shutting down cancels it.
        Err(e) => Err(ObjectError::Unavailable(object_store::Error::Generic {
            store: "objects",
            source: Box::new(e),
        })),
    }
}

/// An opened object, before the recipient entries added by shares are
/// known.
pub struct Opening {
    inner: ObjectStream,
    key: [u8; 32],
    size: u64,
    splice_at: u64,
}

impl Opening {
    /// The stored bytes opened from the broker's seal, with the entries
    /// added by shares spliced into the `recipients` array: a standard
    /// general JSON JWE. `recipients` are the document's recipient entries
    /// as just read.
    pub fn with(self, recipients: &[RecipientRecord]) -> Opened {
        let splice = splice_of(recipients);
        let size = self.size + splice.as_ref().map_or(0, |s| s.len() as u64);
        let reading = Reading::new(self.inner, &self.key, self.splice_at, splice);
        Opened {
            stream: futures::stream::unfold(reading, Reading::next).boxed(),
            size,
        }
    }
}

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening").finish_non_exhaustive()
    }
}

/// What the shared entries add after the last stored one.
fn splice_of(recipients: &[RecipientRecord]) -> Option<Vec<u8>> {
    let shares: Vec<&str> = recipients
        .iter()
        .filter_map(|r| r.share_entry.as_deref())
        .collect();
    (!shares.is_empty()).then(|| format!(",{}", shares.join(",")).into_bytes())
}

/// An envelope ready to stream, held back until the read is allowed.
pub struct Opened {
    stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
    size: u64,
}

impl Opened {
    /// The number of bytes it will yield.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The envelope's bytes, for a read the policy allowed.
    pub fn deliver(
        self,
        _proof: &Authorized<ReadDocument>,
    ) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        self.stream
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").finish_non_exhaustive()
    }
}

/// The envelope of a document for a court's dossier, opened only when the
/// archive reaches it (so a dossier holds one object stream at a time).
pub async fn for_dossier(
    vault: &Vault,
    _proof: &Authorized<ReadDossier>,
    doc: &DocumentRecord,
) -> Result<Source, DocumentError> {
    source(vault, doc).await
}

/// Everything needed to stream one envelope out, before any byte is read.
pub struct Source {
    objects: Objects,
    object_key: String,
    key: [u8; 32],
    splice_at: u64,
    splice: Option<Vec<u8>>,
    size: u64,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("object_key", &self.object_key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

async fn source(vault: &Vault, doc: &DocumentRecord) -> Result<Source, DocumentError> {
    let recipients = store::recipients(&vault.db, &doc.id).await?;
    source_with(vault, doc, &recipients).await
}

async fn source_with(
    vault: &Vault,
    doc: &DocumentRecord,
    recipients: &[RecipientRecord],
) -> Result<Source, DocumentError> {
    let key = sealed::existing_case_key(&vault.db, &vault.kek, doc.case.as_str())
        .await
        .map_err(erased)?
        .ok_or(DocumentError::Erased)?;
    let object_key = doc.object_key.clone().ok_or(DocumentError::Erased)?;
    let splice = splice_of(recipients);
    Ok(Source {
        objects: vault.objects.clone(),
        object_key,
        key,
        splice_at: doc.recipients_end,
        size: doc.size + splice.as_ref().map_or(0, |s| s.len() as u64),
        splice,
    })
}

impl Source {
    /// The number of bytes the stream yields.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Starts reading the object.
    pub async fn open(
        self,
    ) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, DocumentError> {
        let inner = self.objects.stream(&self.object_key).await?;
        let reading = Reading::new(inner, &self.key, self.splice_at, self.splice);
        Ok(futures::stream::unfold(reading, Reading::next).boxed())
    }
}

struct Reading {
    inner: ObjectStream,
    opener: Option<Opener>,
    position: u64,
    splice_at: u64,
    splice: Option<Vec<u8>>,
}

/// Plaintext gathered before a piece of the response goes out.
const SEND_BYTES: usize = 256 * 1024;

impl Reading {
    fn new(
        inner: ObjectStream,
        key: &[u8; 32],
        splice_at: u64,
        splice: Option<Vec<u8>>,
    ) -> Reading {
        Reading {
            inner,
            opener: Some(Opener::new(key)),
            position: 0,
            splice_at,
            splice,
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Reading)> {
        let mut plain = Vec::with_capacity(SEND_BYTES + sealed::CHUNK);
        while plain.len() < SEND_BYTES {
            let Some(opener) = self.opener.as_mut() else {
                break;
            };
            let start = plain.len();
            let step = match self.inner.next().await {
                Some(Ok(chunk)) => opener.push(&chunk, &mut plain).map_err(io_error),
                Some(Err(e)) => Err(io_error(e)),
                None => match self.opener.take() {
                    Some(opener) => opener.finish(&mut plain).map_err(io_error),
                    None => Ok(()),
                },
            };
            if let Err(e) = step {
                self.opener = None;
                return Some((Err(e), self));
            }
            self.splice_into(&mut plain, start);
        }
        if plain.is_empty() {
            return None;
        }
        Some((Ok(Bytes::from(plain)), self))
    }

    /// Inserts the shared recipient entries when the bytes just opened
    /// (from `start` on) reach the end of the `recipients` array.
    fn splice_into(&mut self, plain: &mut Vec<u8>, start: usize) {
        let first = self.position;
        self.position += (plain.len() - start) as u64;
        if (first..self.position).contains(&self.splice_at) {
            if let Some(splice) = self.splice.take() {
                let at = start + (self.splice_at - first) as usize;
                plain.splice(at..at, splice);
            }
        }
    }
}

fn io_error(e: impl Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
