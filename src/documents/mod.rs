//! Documents: signed by their author, encrypted to their recipients, stored
//! and served as ciphertext the broker cannot read. A submission is a
//! manifest (the author's compact JWS over what the document is and to whom
//! it goes) and an envelope (a general JSON JWE); the broker checks one
//! against the other, the plan and the policy, and answers with a signed
//! receipt.

pub mod correction;
pub mod erasure;
pub mod exchange;
pub mod manifest;
pub mod party;
pub mod plan;
pub mod receipt;
pub mod retrieve;
pub mod scan;
pub mod share;
pub mod store;
mod upload;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cases::CaseError;
use crate::ids;
use crate::jose::JoseError;
use crate::parties::PartyError;
use crate::storage::objects::ObjectError;
use crate::storage::sealed::SealError;
use crate::storage::DbError;

pub use manifest::Manifest;

/// A document id chosen by its author: `doc-` and 26 base32 characters.
/// Retrying a submission with the same id is safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentId(String);

impl DocumentId {
    /// A fresh random id.
    pub fn generate() -> DocumentId {
        // Without a secure random source nothing in Ponte can work; the
        // system source does not fail on the platforms Ponte supports.
        DocumentId(
            ids::random("doc-").unwrap_or_else(|| unreachable!("the system random source failed")),
        )
    }

    pub fn parse(raw: &str) -> Result<DocumentId, DocumentError> {
        if ids::is_random("doc-", raw) {
            Ok(DocumentId(raw.to_owned()))
        } else {
            Err(DocumentError::InvalidId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DocumentId {
    type Error = DocumentError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        DocumentId::parse(&raw)
    }
}

impl From<DocumentId> for String {
    fn from(id: DocumentId) -> String {
        id.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of document of the family-tracing process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    TracingRequest,
    Assignment,
    ConsentForm,
    FamilyAssessment,
    SocialReport,
    ChildHearing,
    CourtDecision,
    ReturnNotice,
    ReintegrationPlan,
    Correction,
}

impl DocumentType {
    pub const ALL: [DocumentType; 10] = [
        DocumentType::TracingRequest,
        DocumentType::Assignment,
        DocumentType::ConsentForm,
        DocumentType::FamilyAssessment,
        DocumentType::SocialReport,
        DocumentType::ChildHearing,
        DocumentType::CourtDecision,
        DocumentType::ReturnNotice,
        DocumentType::ReintegrationPlan,
        DocumentType::Correction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::TracingRequest => "tracing_request",
            DocumentType::Assignment => "assignment",
            DocumentType::ConsentForm => "consent_form",
            DocumentType::FamilyAssessment => "family_assessment",
            DocumentType::SocialReport => "social_report",
            DocumentType::ChildHearing => "child_hearing",
            DocumentType::CourtDecision => "court_decision",
            DocumentType::ReturnNotice => "return_notice",
            DocumentType::ReintegrationPlan => "reintegration_plan",
            DocumentType::Correction => "correction",
        }
    }
}

impl FromStr for DocumentType {
    type Err = DocumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DocumentError::InvalidType(s.to_owned()))
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pseudonymous data-subject id (`subj-…`, lowercase letters, digits, hyphens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectId(String);

impl SubjectId {
    pub fn parse(raw: &str) -> Result<SubjectId, DocumentError> {
        let ok = raw.len() <= 64
            && raw.strip_prefix("subj-").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if ok {
            Ok(SubjectId(raw.to_owned()))
        } else {
            Err(DocumentError::InvalidSubject(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SubjectId {
    type Error = DocumentError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        SubjectId::parse(&raw)
    }
}

impl From<SubjectId> for String {
    fn from(id: SubjectId) -> String {
        id.0
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong exchanging documents. Every variant maps to a stable code.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("invalid document id {0:?}")]
    InvalidId(String),
    #[error("unknown document type {0:?}")]
    InvalidType(String),
    #[error("invalid data-subject id {0:?} (expected subj-…)")]
    InvalidSubject(String),
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("the manifest was not signed with an active signing key of party {0}: {1}")]
    ManifestSignature(String, JoseError),
    #[error("envelope: {0}")]
    Envelope(JoseError),
    #[error("envelope is not JSON of the expected shape: {0}")]
    EnvelopeSyntax(String),
    #[error("the envelope's SHA-256 is {actual}, the manifest says {expected}")]
    HashMismatch { expected: String, actual: String },
    #[error("recipient key {0} is not in the recipient plan for this document")]
    RecipientNotInPlan(String),
    #[error("recipient key {0} of the plan is missing from the manifest")]
    RecipientMissing(String),
    #[error("the envelope's recipients differ from the manifest's")]
    RecipientsDiffer,
    #[error("document {0} exists with other content; a retry must send the same bytes")]
    IdConflict(DocumentId),
    #[error("document {0} not found")]
    NotFound(DocumentId),
    #[error("document {0} cannot be superseded: {1}")]
    Supersede(DocumentId, String),
    #[error("party {0} already holds a recipient entry for key {1}")]
    AlreadyRecipient(String, String),
    #[error("the envelope is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the upload did not complete: {0}")]
    Incomplete(String),
    #[error("{0}")]
    Agreement(String),
    #[error("{0}")]
    AgreementRefused(String),
    #[error("the content of this case has been erased")]
    Erased,
    #[error(transparent)]
    ErasureRefused(#[from] erasure::ErasureRefused),
    #[error(transparent)]
    Consent(#[from] crate::consent::ConsentError),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Party(#[from] PartyError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for DocumentError {
    fn from(e: sqlx::Error) -> Self {
        DocumentError::Db(e.into())
    }
}

pub use crate::pki::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_types_parse() {
        let id = DocumentId::generate();
        assert_eq!(DocumentId::parse(id.as_str()).unwrap(), id);
        assert!(DocumentId::parse("doc-../../x").is_err());
        for t in DocumentType::ALL {
            assert_eq!(t.as_str().parse::<DocumentType>().unwrap(), t);
        }
        SubjectId::parse("subj-child-1").unwrap();
        assert!(
            SubjectId::parse("Mario Rossi").is_err(),
            "names are never ids"
        );
    }
}
