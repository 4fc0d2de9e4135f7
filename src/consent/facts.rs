//! The consent facts a decision uses: for the subjects a document concerns,
//! whether each has a given, valid consent for this purpose, document type
//! and recipient. Loaded from the database for every decision, so a
//! withdrawal decides the very next request on every replica.

use serde::Serialize;
use serde_json::json;

use super::{store, ConsentError, ConsentId, ConsentRecord, ConsentState, LawfulBasis, Purpose};
use crate::cases::CaseId;
use crate::documents::{DocumentType, SubjectId};
use crate::parties::Party;
use crate::storage::Db;

/// The consent records of some subjects of a case, newest first.
#[derive(Debug, Clone)]
pub struct SubjectConsents {
    subjects: Vec<SubjectId>,
    records: Vec<ConsentRecord>,
}

/// How one subject stands for one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SubjectConsent {
    pub subject: SubjectId,
    /// `given` when a consent covers the move; otherwise the state of the
    /// newest consent whose scope would have covered it, or `none`.
    pub state: String,
    pub consent: Option<ConsentId>,
    /// When that consent last changed.
    pub changed_at: Option<String>,
}

/// The consent facts of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ConsentFacts {
    pub purpose: Purpose,
    pub basis: LawfulBasis,
    pub subjects: Vec<SubjectConsent>,
}

impl SubjectConsents {
    /// Loads the consents of `subjects` on `case`.
    pub async fn load(
        db: &Db,
        case: &CaseId,
        subjects: &[SubjectId],
    ) -> Result<SubjectConsents, ConsentError> {
        let records = if subjects.is_empty() {
            Vec::new()
        } else {
            store::for_subjects(db, case, subjects).await?
        };
        Ok(SubjectConsents {
            subjects: subjects.to_vec(),
            records,
        })
    }

    /// The facts for moving a document of `document_type` for `purpose` to
    /// `recipient` (to anyone, for the author's own write, when `None`).
    pub fn facts(
        &self,
        purpose: Purpose,
        document_type: DocumentType,
        recipient: Option<&Party>,
        now: &str,
    ) -> ConsentFacts {
        let subjects = self
            .subjects
            .iter()
            .map(|subject| {
                let own = || self.records.iter().filter(|r| &r.subject == subject);
                let standing = |r: &ConsentRecord, state: ConsentState| SubjectConsent {
                    subject: subject.clone(),
                    state: state.as_str().to_owned(),
                    consent: Some(r.id.clone()),
                    changed_at: Some(r.changed_at.clone()),
                };
                if let Some(r) = own().find(|r| r.covers(purpose, document_type, recipient, now)) {
                    return standing(r, ConsentState::Given);
                }
                match own().find(|r| r.scope_matches(purpose, document_type, recipient)) {
                    // Given but not yet valid counts as no consent.
                    Some(r) if r.state_at(now) == ConsentState::Given => SubjectConsent {
                        subject: subject.clone(),
                        state: "not_yet_valid".into(),
                        consent: Some(r.id.clone()),
                        changed_at: Some(r.changed_at.clone()),
                    },
                    Some(r) => standing(r, r.state_at(now)),
                    None => SubjectConsent {
                        subject: subject.clone(),
                        state: "none".into(),
                        consent: None,
                        changed_at: None,
                    },
                }
            })
            .collect();
        ConsentFacts {
            purpose,
            basis: purpose.basis(),
            subjects,
        }
    }
}

impl ConsentFacts {
    /// Whether consent is what the purpose rests on.
    pub fn required(&self) -> bool {
        self.basis == LawfulBasis::Consent
    }

    /// Whether every subject has a covering consent. A document that names
    /// no subject has nobody's consent.
    pub fn valid(&self) -> bool {
        !self.subjects.is_empty() && self.subjects.iter().all(|s| s.state == "given")
    }

    /// One word for the policy and the audit: `not_required` when the basis
    /// is not consent, `given` when valid, else the first lacking subject's
    /// state (`withdrawn`, `revoked`, `expired`, `refused`, `invalidated`,
    /// `not_yet_valid`, `none`).
    pub fn state(&self) -> &str {
        if !self.required() {
            return "not_required";
        }
        if self.subjects.is_empty() {
            return "none";
        }
        self.subjects
            .iter()
            .find(|s| s.state != "given")
            .map_or("given", |s| s.state.as_str())
    }

    /// The consents that let the move happen (for the record of who received what).
    pub fn used(&self) -> Vec<ConsentId> {
        if !self.required() {
            return Vec::new();
        }
        self.subjects
            .iter()
            .filter(|s| s.state == "given")
            .filter_map(|s| s.consent.clone())
            .collect()
    }

    /// The subjects without a covering consent.
    pub fn lacking(&self) -> Vec<&SubjectConsent> {
        self.subjects
            .iter()
            .filter(|s| s.state != "given")
            .collect()
    }

    /// The Cedar context members: `basis`, `consent_valid`, `consent_state`.
    pub fn context(&self) -> serde_json::Value {
        json!({
            "basis": serde_json::to_value(self.basis).unwrap_or_default(),
            "consent_valid": self.valid(),
            "consent_state": self.state(),
        })
    }

    /// Words a data-protection officer reads.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "purpose {} rests on {}",
            self.purpose,
            match self.basis {
                LawfulBasis::Consent => "the consent of every data subject concerned",
                LawfulBasis::LegalObligation => "a legal obligation: no consent is needed",
                LawfulBasis::PublicTask => "a task in the public interest: no consent is needed",
            }
        )];
        if self.subjects.is_empty() {
            lines.push("the document names no data subject".into());
        }
        for s in &self.subjects {
            lines.push(match (&s.consent, s.state.as_str()) {
                (Some(id), "given") => {
                    format!("{}: consent {id} is given and covers this", s.subject)
                }
                (Some(id), state) => format!(
                    "{}: consent {id} is {state} (since {})",
                    s.subject,
                    s.changed_at.as_deref().unwrap_or("?")
                ),
                (None, _) => format!(
                    "{}: no consent covers this purpose, document type and recipient",
                    s.subject
                ),
            });
        }
        lines
    }
}
