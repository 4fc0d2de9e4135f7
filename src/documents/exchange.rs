//! The exchange: recipient plans, submissions streamed to the object store
//! under the broker's seal, retrievals streamed back, shares, and the sweep
//! of uploads that never became documents.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use super::correction::Agreement;
use super::receipt::Receipt;
use super::scan::{Scanned, Scanner};
use super::store::{self, DocumentRecord, RecipientRecord};
use super::{sha256_hex, DocumentError, DocumentType, Manifest};
use crate::audit::{AuditEvent, Outcome as AuditOutcome};
use crate::cases::CaseFacts;
use crate::clock::rfc3339;
use crate::consent::{ConsentFacts, Purpose, SubjectConsents};
use crate::jose::jwe::{Jwe, Recipient};
use crate::jose::{Jwk, KeyUse};
use crate::parties::{self, KeyStatus, Party};
use crate::policy::actions::{ShareDocument, SubmitDocument};
use crate::policy::{Action, Allowed, Authorized, PolicyEngine, Resource};
use crate::storage::objects::Upload;
use crate::storage::sealed::{self, Kek, SealError, Sealer};
use crate::storage::{Db, Engine, Objects};

/// Limits on what a party may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_envelope_bytes: u64,
    pub max_recipients: usize,
}

/// What the exchange works with: metadata, objects, the keys of the seal
/// and of receipts.
#[derive(Debug, Clone)]
pub struct Vault {
    pub db: Db,
    pub objects: Objects,
    pub kek: Kek,
    pub broker_key: Arc<Jwk>,
    pub limits: Limits,
}

/// A party entitled to receive a document now, with the keys to encrypt to.
#[derive(Debug, Clone)]
pub struct PlannedRecipient {
    pub party: Party,
    pub keys: Vec<Jwk>,
}

/// Which parties of the case may receive a document of this type for this
/// purpose about these subjects, each with its active encryption keys
/// (never retired ones). For a consent-based purpose each party needs the
/// consent of every subject.
pub async fn plan(
    db: &Db,
    engine: &PolicyEngine,
    case: &CaseFacts,
    document_type: DocumentType,
    purpose: Purpose,
    consents: &SubjectConsents,
    now: &str,
) -> Result<Vec<PlannedRecipient>, DocumentError> {
    let members: Vec<_> = parties::with_keys(db, &case.members)
        .await?
        .into_iter()
        .filter(|(party, _)| party.is_active())
        .collect();
    let requests: Vec<(&Party, serde_json::Value)> = members
        .iter()
        .map(|(party, _)| {
            let facts = consents.facts(purpose, document_type, Some(party), now);
            (party, receive_context(document_type, purpose, &facts))
        })
        .collect();
    let decisions =
        engine.decide_each(&requests, Action::ReceiveDocument, &Resource::Case(case))?;
    let mut planned = Vec::new();
    for ((party, keys), decision) in members.into_iter().zip(decisions) {
        if !decision.allowed {
            continue;
        }
        let keys: Vec<Jwk> = keys
            .into_iter()
            .filter(|k| k.key_use == KeyUse::Encrypt && k.status == KeyStatus::Active)
            .map(|k| k.jwk)
            .collect();
        if !keys.is_empty() {
            planned.push(PlannedRecipient { party, keys });
        }
    }
    Ok(planned)
}

/// The context of a `ReceiveDocument` (or `SubmitDocument`) decision.
pub fn receive_context(
    document_type: DocumentType,
    purpose: Purpose,
    facts: &ConsentFacts,
) -> serde_json::Value {
    let mut context =
        serde_json::json!({ "document_type": document_type.as_str(), "purpose": purpose.as_str() });
    merge(&mut context, facts.context());
    context
}

/// Adds the members of `extra` (an object) to `context` (an object).
pub fn merge(context: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (context.as_object_mut(), extra) {
        into.extend(from);
    }
}

/// A verified manifest with the plan it must match.
#[derive(Debug, Clone)]
pub struct Submission {
    pub manifest_token: String,
    pub manifest: Manifest,
    pub author_kid: String,
    pub plan: Vec<PlannedRecipient>,
    /// For a correction: the agreement of the person concerned, checked.
    pub agreement: Option<Agreement>,
}

/// What became of a submission.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// Stored now. Its acceptance is in the audit log's queue and becomes a
    /// leaf with the next integration.
    Accepted(DocumentRecord),
    /// The same document was stored before: its original receipt, nothing stored twice.
    Repeated(DocumentRecord),
}

/// An upload about to start: the decision that allowed it and the object
/// it writes, on record in one commit (see [`begin_upload`]).
pub struct Started {
    proof: Authorized<SubmitDocument>,
    object_key: String,
}

/// Records the decision that allowed a submission and the upload about to
/// start, in one commit, so the sweep knows of the object before it
/// exists. The handler does this while the plan and what is on record are
/// read; a submission that stops before its upload [`forget`]s it.
pub async fn begin_upload(
    vault: &Vault,
    decision: Allowed<SubmitDocument>,
    manifest: &Manifest,
    now: OffsetDateTime,
) -> Result<Started, DocumentError> {
    let object_key = format!(
        "envelopes/{}/{}/{}",
        manifest.case,
        manifest.document_id,
        random_hex()
    );
    let (proof, ()) = decision
        .record_with(async |evidence| {
            store::begin_upload(&vault.db, evidence, &object_key, now.unix_timestamp()).await
        })
        .await?;
    Ok(Started { proof, object_key })
}

/// Drops the record of an upload that never started (its decision stays
/// on record). If this fails, the sweep drops it.
pub async fn forget(vault: &Vault, started: &Started) {
    if let Err(e) = store::forget_upload(&vault.db, &started.object_key).await {
        tracing::warn!(error = %e, object_key = %started.object_key, "pending upload left for the sweep");
    }
}

/// Streams a submission into the object store and makes it exist once the
/// object and its metadata are durable. Anything that fails leaves nothing
/// visible; the object is removed at once, or by the sweep if the broker
/// stops first. `started` is the upload [`begin_upload`] put on record with
/// the decision that allowed it; `on_record` is what [`on_record`] read for
/// it. `length` is the envelope's length as its sender declared it
/// (Content-Length), if it did; the object store can then take the envelope
/// while it arrives.
pub async fn submit<S, E>(
    vault: &Vault,
    started: Started,
    submission: Submission,
    on_record: Result<OnRecord, DocumentError>,
    length: Option<u64>,
    mut body: S,
    now: OffsetDateTime,
) -> Result<Submitted, DocumentError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let manifest = &submission.manifest;
    let manifest_sha256 = sha256_hex(submission.manifest_token.as_bytes());
    let at = rfc3339(now);
    let (planned, case_key) = match on_record.and_then(|found| check(&submission, found)) {
        Ok(Checked::New { planned, case_key }) => (planned, case_key),
        Ok(Checked::Repeated(existing)) => {
            forget(vault, &started).await;
            return repeated(vault, *existing, &manifest_sha256, &mut body).await;
        }
        Err(e) => {
            forget(vault, &started).await;
            return Err(e);
        }
    };
    let Started { proof, object_key } = started;

    let received = receive(
        vault,
        &object_key,
        &case_key,
        length,
        &mut body,
        |scanned, sha256| {
            if sha256 != manifest.envelope_sha256 {
                return Err(DocumentError::HashMismatch {
                    expected: manifest.envelope_sha256.clone(),
                    actual: sha256.to_owned(),
                });
            }
            let kids = scanned
                .head
                .validate(vault.limits.max_recipients)
                .map_err(DocumentError::Envelope)?;
            let mut sorted_kids = kids.clone();
            sorted_kids.sort();
            let mut stated = manifest.recipients.clone();
            stated.sort();
            if sorted_kids != stated {
                return Err(DocumentError::RecipientsDiffer);
            }
            Ok(())
        },
    )
    .await;
    let (object, scanned, envelope_sha256) = match received {
        Ok(received) => received,
        Err(e) => {
            discard(vault, &object_key).await;
            return Err(e);
        }
    };

    let receipt = Receipt {
        v: 1,
        document_id: manifest.document_id.clone(),
        case: manifest.case.clone(),
        submitter: proof.principal().to_string(),
        manifest_sha256: manifest_sha256.clone(),
        envelope_sha256: envelope_sha256.clone(),
        size: scanned.size,
        received_at: at.clone(),
    };
    let receipt_token = receipt
        .sign(&vault.broker_key)
        .map_err(DocumentError::Envelope)?;
    let record = DocumentRecord {
        id: manifest.document_id.clone(),
        case: manifest.case.clone(),
        document_type: manifest.document_type,
        purpose: manifest.purpose,
        author: proof.principal().clone(),
        author_kid: submission.author_kid.clone(),
        subjects: manifest.subjects.clone(),
        manifest: submission.manifest_token.clone(),
        manifest_sha256,
        envelope_sha256,
        envelope_head: scanned.head_json.clone(),
        recipients_end: scanned.recipients_end,
        size: scanned.size,
        object_key: Some(object_key.clone()),
        supersedes: manifest.supersedes.clone(),
        is_current: true,
        receipt: receipt_token,
        received_at: at.clone(),
    };
    let recipients: Vec<RecipientRecord> = manifest
        .recipients
        .iter()
        .filter_map(|kid| planned.get(kid.as_str()).map(|party| (kid, party)))
        .map(|(kid, party)| RecipientRecord {
            kid: kid.clone(),
            party: party.id.clone(),
            added_by: proof.principal().clone(),
            added_at: at.clone(),
            share_entry: None,
        })
        .collect();
    let evidence = evidence(
        &record,
        proof.principal().as_str(),
        "DocumentAccepted",
        &at,
        serde_json::json!({
            "manifest_sha256": record.manifest_sha256,
            "envelope_sha256": record.envelope_sha256,
            "size": record.size,
            "purpose": record.purpose,
            "basis": record.purpose.basis(),
            "recipients": recipients.iter().map(|r| r.party.as_str()).collect::<Vec<_>>(),
            "supersedes": record.supersedes,
            "agreement": submission.agreement.as_ref().map(|a| a.through.as_str()),
        }),
    );
    let correction = submission
        .agreement
        .as_ref()
        .map(|a| (a, vault.broker_key.as_ref()));
    let staged = store::stage(&vault.db, &record, &recipients, &evidence, correction);
    match complete(vault, object, staged).await {
        // A commit that fails may still have taken: the object stays, and
        // the sweep removes it only if its upload is still pending.
        Ok(Some(staged)) => staged.commit().await.map(|()| Submitted::Accepted(record)),
        Ok(None) => {
            // A concurrent retry of the same document committed first.
            discard(vault, &object_key).await;
            let existing = store::find(&vault.db, &record.id)
                .await?
                .ok_or(DocumentError::IdConflict(record.id.clone()))?;
            if existing.manifest_sha256 == record.manifest_sha256
                && existing.envelope_sha256 == record.envelope_sha256
            {
                Ok(Submitted::Repeated(existing))
            } else {
                Err(DocumentError::IdConflict(record.id))
            }
        }
        Err(e) => {
            discard(vault, &object_key).await;
            Err(e)
        }
    }
}

/// What the checks before the upload found.
enum Checked<'a> {
    /// A new document: who receives it (by key id) and the key of its case.
    New {
        planned: HashMap<&'a str, &'a Party>,
        case_key: [u8; 32],
    },
    /// A document of this id exists already.
    Repeated(Box<DocumentRecord>),
}

/// What is on record that a submission is checked against: the document
/// of its id if there is one, the document it supersedes, and its case's
/// key (made for a case's first document, so read once the policy allowed
/// the submission). The handler reads it while the plan is worked out.
pub struct OnRecord {
    existing: Option<DocumentRecord>,
    superseded: Option<DocumentRecord>,
    case_key: Result<[u8; 32], DocumentError>,
}

/// Reads what a submission is checked against, all at once.
pub async fn on_record(
    vault: &Vault,
    manifest: &Manifest,
    now: OffsetDateTime,
) -> Result<OnRecord, DocumentError> {
    let at = rfc3339(now);
    let superseded = async {
        match &manifest.supersedes {
            Some(old) => store::find(&vault.db, old).await,
            None => Ok(None),
        }
    };
    let (existing, superseded, case_key) = tokio::join!(
        store::find(&vault.db, &manifest.document_id),
        superseded,
        sealed::case_key(&vault.db, &vault.kek, manifest.case.as_str(), &at)
    );
    Ok(OnRecord {
        existing: existing?,
        superseded: superseded?,
        case_key: case_key.map_err(erased),
    })
}

/// Checks a submission against what is on record and against its plan
/// before a byte of it is read.
fn check(submission: &Submission, on_record: OnRecord) -> Result<Checked<'_>, DocumentError> {
    let manifest = &submission.manifest;
    if let Some(existing) = on_record.existing {
        return Ok(Checked::Repeated(Box::new(existing)));
    }
    let planned: HashMap<&str, &Party> = submission
        .plan
        .iter()
        .flat_map(|p| p.keys.iter().map(move |k| (k.kid.as_str(), &p.party)))
        .collect();
    if let Some(extra) = manifest
        .recipients
        .iter()
        .find(|kid| !planned.contains_key(kid.as_str()))
    {
        return Err(DocumentError::RecipientNotInPlan(extra.clone()));
    }
    if let Some(missing) = planned
        .keys()
        .find(|kid| !manifest.recipients.iter().any(|r| r == *kid))
    {
        return Err(DocumentError::RecipientMissing((*missing).to_owned()));
    }
    if let Some(old) = &manifest.supersedes {
        match on_record.superseded {
            Some(doc) if doc.case == manifest.case && doc.is_current => {}
            Some(_) => {
                return Err(DocumentError::Supersede(
                    old.clone(),
                    "it is not a current document of this case".into(),
                ))
            }
            None => {
                return Err(DocumentError::Supersede(
                    old.clone(),
                    "it does not exist".into(),
                ))
            }
        }
    }
    Ok(Checked::New {
        planned,
        case_key: on_record.case_key?,
    })
}

/// A retry: the same manifest and the same bytes give back the original.
async fn repeated<S, E>(
    vault: &Vault,
    existing: DocumentRecord,
    manifest_sha256: &str,
    body: &mut S,
) -> Result<Submitted, DocumentError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    if existing.manifest_sha256 != manifest_sha256 {
        return Err(DocumentError::IdConflict(existing.id));
    }
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| DocumentError::Incomplete(e.to_string()))?;
        size += chunk.len() as u64;
        if size > vault.limits.max_envelope_bytes {
            return Err(DocumentError::TooLarge(vault.limits.max_envelope_bytes));
        }
        hasher.update(&chunk);
    }
    if crate::pki::hex(hasher.finish().as_ref()) == existing.envelope_sha256 {
        Ok(Submitted::Repeated(existing))
    } else {
        Err(DocumentError::IdConflict(existing.id))
    }
}

/// Streams the body through the scanner, the hash and the seal into a new
/// object, and answers the upload still to be completed if `accept` takes
/// the envelope received (its scan and its SHA-256); otherwise the upload
/// is abandoned. `length` is the envelope's length as its sender declared
/// it, if it did.
async fn receive<S, E>(
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
/// allows it ([`Db::hold_while_waiting`]). Otherwise, and always on
/// SQLite, the writes follow the object: there a writing transaction holds
/// the database's one write lock, which must not wait on the object store.
async fn complete(
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
async fn discard(vault: &Vault, object_key: &str) {
    match vault.objects.delete_upload(object_key).await {
        Ok(()) => {
            if let Err(e) = store::forget_upload(&vault.db, object_key).await {
                tracing::warn!(error = %e, object_key, "pending upload left for the sweep");
            }
        }
        Err(e) => tracing::warn!(error = %e, object_key, "object left for the sweep"),
    }
}

pub(super) fn erased(e: SealError) -> DocumentError {
    match e {
        SealError::Erased(_) => DocumentError::Erased,
        other => DocumentError::Seal(other),
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 12];
    let _ = SystemRandom::new().fill(&mut bytes);
    crate::pki::hex(&bytes)
}

/// An evidence event about a document.
pub fn evidence(
    doc: &DocumentRecord,
    principal: &str,
    action: &str,
    at: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: at.to_owned(),
        request_id: None,
        principal: format!("party:{principal}"),
        action: action.to_owned(),
        resource: format!("document:{}", doc.id),
        outcome: AuditOutcome::Done,
        policy_ids: Vec::new(),
        policy_set: String::new(),
        detail,
    }
}

/// Adds a recipient entry, made by a holder, for a party entitled to the
/// document now. Only the entry is accepted, so the protected header and
/// the ciphertext cannot change; the entry itself is checked against the
/// profile and the new party's active keys.
pub async fn share(
    vault: &Vault,
    proof: &Authorized<ShareDocument>,
    doc: &DocumentRecord,
    party: &Party,
    entry: Recipient,
    now: OffsetDateTime,
) -> Result<RecipientRecord, DocumentError> {
    let kid = entry
        .kid()
        .ok_or_else(|| {
            DocumentError::Envelope(crate::jose::JoseError::Malformed(
                "the entry needs a kid".into(),
            ))
        })?
        .to_owned();
    let active = parties::keys(&vault.db, &party.id).await?;
    if !active
        .iter()
        .any(|k| k.kid == kid && k.key_use == KeyUse::Encrypt && k.status == KeyStatus::Active)
    {
        return Err(DocumentError::RecipientNotInPlan(kid));
    }
    let mut head: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&doc.envelope_head)
            .map_err(|e| DocumentError::EnvelopeSyntax(e.to_string()))?;
    head.insert(
        "ciphertext".into(),
        serde_json::Value::String(String::new()),
    );
    let mut jwe =
        Jwe::from_members(head).map_err(|e| DocumentError::EnvelopeSyntax(e.to_string()))?;
    jwe.recipients = vec![entry.clone()];
    jwe.validate(1).map_err(DocumentError::Envelope)?;
    let at = rfc3339(now);
    let record = RecipientRecord {
        kid: kid.clone(),
        party: party.id.clone(),
        added_by: proof.principal().clone(),
        added_at: at.clone(),
        share_entry: Some(
            serde_json::to_string(&entry)
                .map_err(|e| DocumentError::EnvelopeSyntax(e.to_string()))?,
        ),
    };
    let evidence = evidence(
        doc,
        proof.principal().as_str(),
        "DocumentShared",
        &at,
        serde_json::json!({
            "recipient": party.id.as_str(),
            "kid": kid,
        }),
    );
    if !store::add_share(&vault.db, &doc.id, &record, &evidence).await? {
        return Err(DocumentError::AlreadyRecipient(party.id.to_string(), kid));
    }
    Ok(record)
}

/// Deletes the objects of uploads started before `before` that never became
/// documents. Safe on several replicas at once (deleting twice is harmless).
pub async fn sweep(
    db: &Db,
    objects: &Objects,
    before: OffsetDateTime,
) -> Result<usize, DocumentError> {
    let stale = store::stale_uploads(db, before.unix_timestamp()).await?;
    let mut swept = 0;
    for key in stale {
        objects.delete_upload(&key).await?;
        store::forget_upload(db, &key).await?;
        swept += 1;
    }
    Ok(swept)
}
