//! Shares: a holder adds a recipient entry for a party that became
//! entitled to a document after it was stored.

use time::OffsetDateTime;

use super::exchange::{evidence, Vault};
use super::store::{self, DocumentRecord, RecipientRecord};
use super::DocumentError;
use crate::clock::rfc3339;
use crate::jose::jwe::{Jwe, Recipient};
use crate::jose::KeyUse;
use crate::parties::{self, KeyStatus, Party};
use crate::policy::actions::ShareDocument;
use crate::policy::Authorized;

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
