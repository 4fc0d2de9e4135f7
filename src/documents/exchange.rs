//! The exchange: submissions checked against their plan and what is on
//! record, streamed to the object store under the broker's seal (see
//! `upload`), and made documents; and the sweep of uploads that never
//! became documents. Plans, retrievals and shares have modules of their
//! own.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use super::correction::Agreement;
use super::plan::PlannedRecipient;
use super::receipt::Receipt;
use super::store::{self, DocumentRecord, RecipientRecord};
use super::upload::{complete, discard, receive};
use super::{sha256_hex, DocumentError, Manifest};
use crate::audit::{AuditEvent, Outcome as AuditOutcome};
use crate::clock::rfc3339;
use crate::jose::Jwk;
use crate::parties::Party;
use crate::policy::actions::SubmitDocument;
use crate::policy::{Allowed, Authorized};
use crate::storage::sealed::{self, Kek, SealError};
use crate::storage::{Db, Objects};

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
