//! The broker's signed statements about consent: the consent receipt the
//! person gets at every change (in the spirit of the Kantara consent
//! receipt), and the withdrawal notice each earlier recipient gets. Both are
//! compact JWS anyone can check offline against the broker's JWKS.

use serde::{Deserialize, Serialize};

use super::{ConsentId, ConsentRecipient, ConsentRecord, ConsentState, GivenBy, Notice, Purpose};
use crate::cases::CaseId;
use crate::documents::{DocumentId, DocumentType, SubjectId};
use crate::jose::jws::{self, KeyResolver};
use crate::jose::{JoseError, Jwk};
use crate::parties::PartyId;

/// The `typ` of a consent receipt JWS.
pub const CONSENT_RECEIPT_TYP: &str = "ponte-consent-receipt+jws";
/// The `typ` of a withdrawal notice JWS.
pub const WITHDRAWAL_NOTICE_TYP: &str = "ponte-withdrawal-notice+jws";

/// What a consent receipt states (version 1): the record after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentReceipt {
    pub v: u32,
    pub consent: ConsentId,
    pub version: i64,
    pub case: CaseId,
    pub subject: SubjectId,
    pub state: ConsentState,
    pub given_by: GivenBy,
    pub collector: PartyId,
    pub purposes: Vec<Purpose>,
    pub recipients: Vec<ConsentRecipient>,
    pub document_types: Vec<DocumentType>,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub notice: Notice,
    pub evidence: DocumentId,
    /// `party:<id>`, or `subject` for the person with the consent code.
    pub changed_by: String,
    pub on_behalf: bool,
    pub at: String,
}

impl ConsentReceipt {
    pub fn of(record: &ConsentRecord, changed_by: &str, on_behalf: bool) -> ConsentReceipt {
        ConsentReceipt {
            v: 1,
            consent: record.id.clone(),
            version: record.version,
            case: record.case.clone(),
            subject: record.subject.clone(),
            state: record.state,
            given_by: record.given_by,
            collector: record.collector.clone(),
            purposes: record.purposes.clone(),
            recipients: record.recipients.clone(),
            document_types: record.document_types.clone(),
            valid_from: record.valid_from.clone(),
            valid_until: record.valid_until.clone(),
            notice: record.notice.clone(),
            evidence: record.evidence.clone(),
            changed_by: changed_by.to_owned(),
            on_behalf,
            at: record.changed_at.clone(),
        }
    }

    pub fn sign(&self, broker_key: &Jwk) -> Result<String, JoseError> {
        sign(self, broker_key, CONSENT_RECEIPT_TYP)
    }

    pub fn verify(
        token: &str,
        broker_keys: &(impl KeyResolver + ?Sized),
    ) -> Result<ConsentReceipt, JoseError> {
        verify(token, broker_keys, CONSENT_RECEIPT_TYP)
    }
}

/// What a withdrawal notice states (version 1): a consent ended, and the
/// recipient must delete what it received under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalNotice {
    pub v: u32,
    pub notice: String,
    pub consent: ConsentId,
    pub case: CaseId,
    pub subject: SubjectId,
    /// `withdrawn`, `revoked` or `invalidated`.
    pub state: ConsentState,
    pub purposes: Vec<Purpose>,
    pub recipient: PartyId,
    /// The documents the recipient received under the consent.
    pub documents: Vec<DocumentId>,
    /// What the recipient must do: `delete`, then acknowledge.
    pub instruction: String,
    pub at: String,
}

impl WithdrawalNotice {
    pub fn sign(&self, broker_key: &Jwk) -> Result<String, JoseError> {
        sign(self, broker_key, WITHDRAWAL_NOTICE_TYP)
    }

    pub fn verify(
        token: &str,
        broker_keys: &(impl KeyResolver + ?Sized),
    ) -> Result<WithdrawalNotice, JoseError> {
        verify(token, broker_keys, WITHDRAWAL_NOTICE_TYP)
    }
}

fn sign(payload: &impl Serialize, key: &Jwk, typ: &str) -> Result<String, JoseError> {
    let bytes = serde_json::to_vec(payload).map_err(|e| JoseError::Malformed(e.to_string()))?;
    jws::sign_compact(&bytes, key, &[("typ", typ)])
}

fn verify<T: serde::de::DeserializeOwned>(
    token: &str,
    keys: &(impl KeyResolver + ?Sized),
    typ: &str,
) -> Result<T, JoseError> {
    let verified = jws::verify_compact(token, keys)?;
    if verified.header.get("typ").and_then(|t| t.as_str()) != Some(typ) {
        return Err(JoseError::Malformed(format!("typ must be {typ}")));
    }
    serde_json::from_slice(&verified.payload).map_err(|e| JoseError::Malformed(e.to_string()))
}
