//! Consent and purpose limitation. Purposes are a closed registry, each with
//! its lawful basis. The data subjects of a case are pseudonymous ids with
//! their relation to the child; their consent records follow ISO/IEC TS
//! 27560 and the W3C DPV states, keep their whole history, and decide with
//! the Cedar policies every move of a document for a consent-based purpose.
//! A withdrawal takes effect on the very next request (nothing is cached)
//! and reaches every party that received a document under the consent as a
//! signed notice in its inbox.

mod change;
pub mod code;
mod facts;
mod notices;
mod purpose;
pub mod receipt;
mod store;
mod subjects;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cases::{CaseError, CaseId};
use crate::documents::{DocumentId, DocumentType, SubjectId};
use crate::ids;
use crate::parties::{Party, PartyError, PartyId, Role};
use crate::storage::DbError;

pub use change::{change, withdraw_with_code, Change, Changed};
pub use facts::{ConsentFacts, SubjectConsent, SubjectConsents};
pub use purpose::{registry, LawfulBasis, Purpose, PurposeInfo, UnknownPurpose};
pub use store::{
    check_code, find, history, list_for_case, record, record_use, NewConsent, Recorded,
};
pub use subjects::{add_subject, subjects, unchecked_find_subject};

/// A consent record id: `cons-` and 26 base32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct ConsentId(String);

impl ConsentId {
    pub fn generate() -> Result<ConsentId, ConsentError> {
        ids::random("cons-")
            .map(ConsentId)
            .ok_or(ConsentError::Random)
    }

    pub fn parse(raw: &str) -> Result<ConsentId, ConsentError> {
        if ids::is_random("cons-", raw) {
            Ok(ConsentId(raw.to_owned()))
        } else {
            Err(ConsentError::InvalidId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConsentId {
    type Error = ConsentError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        ConsentId::parse(&raw)
    }
}

impl From<ConsentId> for String {
    fn from(id: ConsentId) -> String {
        id.0
    }
}

impl fmt::Display for ConsentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? } $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl FromStr for $name {
            type Err = ConsentError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| ConsentError::Invalid(format!(
                        concat!("{:?} is not ", $what, "; expected one of: {}"),
                        s,
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// How a data subject is related to the child of the case.
    Relation {
        Child => "child",
        Mother => "mother",
        Father => "father",
        Sibling => "sibling",
        OtherRelative => "other_relative",
        Other => "other",
    } "a relation"
);

string_enum!(
    /// The state of a consent record (W3C DPV consent states).
    ConsentState {
        Given => "given",
        Refused => "refused",
        Withdrawn => "withdrawn",
        Revoked => "revoked",
        Expired => "expired",
        Invalidated => "invalidated",
    } "a consent state"
);

string_enum!(
    /// Who gave (or refused) the consent.
    GivenBy {
        Subject => "subject",
        Representative => "representative",
    } "who gave the consent"
);

/// A recipient a consent names: every party of a role, or one party.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub enum ConsentRecipient {
    Role(Role),
    Party(PartyId),
}

impl ConsentRecipient {
    /// Whether the consent lets `party` receive.
    pub fn includes(&self, party: &Party) -> bool {
        match self {
            ConsentRecipient::Role(role) => party.role == *role,
            ConsentRecipient::Party(id) => party.id == *id,
        }
    }
}

impl FromStr for ConsentRecipient {
    type Err = ConsentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ConsentError::Invalid(format!(
                "recipient {s:?} must be role:<role> or party:<party id>"
            ))
        };
        match s.split_once(':') {
            Some(("role", role)) => Ok(ConsentRecipient::Role(role.parse().map_err(|_| bad())?)),
            Some(("party", party)) => Ok(ConsentRecipient::Party(
                PartyId::parse(party).map_err(|_| bad())?,
            )),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for ConsentRecipient {
    type Error = ConsentError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl From<ConsentRecipient> for String {
    fn from(r: ConsentRecipient) -> String {
        r.to_string()
    }
}

impl fmt::Display for ConsentRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentRecipient::Role(role) => write!(f, "role:{role}"),
            ConsentRecipient::Party(id) => write!(f, "party:{id}"),
        }
    }
}

/// A data subject of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DataSubject {
    pub id: SubjectId,
    pub case: CaseId,
    pub relation: Relation,
    /// The party that represents the subject (the guardian for the child).
    pub representative: Option<PartyId>,
    pub added_by: PartyId,
    pub added_at: String,
}

/// The notice the person was given when consent was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notice {
    pub version: String,
    /// BCP 47 language tag of the notice as given (`sq`, `it`, `fr`, `ar`…).
    pub language: String,
}

/// A consent record (ISO/IEC TS 27560), as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsentRecord {
    pub id: ConsentId,
    pub case: CaseId,
    pub subject: SubjectId,
    /// The recorded state; [`ConsentRecord::state_at`] also says `expired`.
    pub state: ConsentState,
    pub given_by: GivenBy,
    /// The party that collected the consent.
    pub collector: PartyId,
    pub purposes: Vec<Purpose>,
    pub recipients: Vec<ConsentRecipient>,
    pub document_types: Vec<DocumentType>,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub notice: Notice,
    /// The signed consent form submitted through the exchange.
    pub evidence: DocumentId,
    /// Counts the changes; the first record is version 1.
    pub version: i64,
    pub recorded_at: String,
    pub changed_at: String,
}

impl ConsentRecord {
    /// The state at `now` (RFC 3339 with millisecond precision, so text
    /// order is time order): a given consent past its validity is expired.
    pub fn state_at(&self, now: &str) -> ConsentState {
        match (&self.state, &self.valid_until) {
            (ConsentState::Given, Some(until)) if until.as_str() <= now => ConsentState::Expired,
            (state, _) => *state,
        }
    }

    /// Whether this consent lets `recipient` (any recipient when `None`)
    /// have a document of `document_type` for `purpose` at `now`.
    pub fn covers(
        &self,
        purpose: Purpose,
        document_type: DocumentType,
        recipient: Option<&Party>,
        now: &str,
    ) -> bool {
        self.scope_matches(purpose, document_type, recipient)
            && self.state_at(now) == ConsentState::Given
            && self.valid_from.as_str() <= now
    }

    /// Whether purpose, document type and recipient are within the consent,
    /// whatever its state.
    pub fn scope_matches(
        &self,
        purpose: Purpose,
        document_type: DocumentType,
        recipient: Option<&Party>,
    ) -> bool {
        self.purposes.contains(&purpose)
            && self.document_types.contains(&document_type)
            && recipient.is_none_or(|party| self.recipients.iter().any(|r| r.includes(party)))
    }
}

/// One change in a consent's history, with the broker-signed receipt of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsentChange {
    pub version: i64,
    pub state: ConsentState,
    /// `party:<id>`, or `subject` when the person used the consent code.
    pub changed_by: String,
    /// True when a party recorded the person's own decision for them.
    pub on_behalf: bool,
    pub reason: Option<String>,
    pub at: String,
    /// Broker-signed consent receipt (compact JWS).
    pub receipt: String,
}

/// What can go wrong with subjects and consent. Every variant maps to a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("invalid consent id {0:?}")]
    InvalidId(String),
    #[error("{0}")]
    Invalid(String),
    #[error("data subject {0} is not on case {1}")]
    SubjectNotFound(String, CaseId),
    #[error("data subject {0} is already on case {1}")]
    SubjectExists(String, CaseId),
    #[error("consent {0} not found")]
    NotFound(ConsentId),
    #[error("the validity of a consent cannot end in the past ({0})")]
    ValidityInPast(String),
    #[error("evidence: {0}")]
    Evidence(String),
    #[error("consent {id} is {state}; it cannot become {to}")]
    Transition {
        id: ConsentId,
        state: ConsentState,
        to: ConsentState,
    },
    #[error("the consent code is not valid for this consent")]
    WrongCode,
    #[error("too many wrong consent codes for this consent; retry in {0} seconds")]
    TooManyAttempts(u64),
    #[error("notice {0} not found")]
    NoticeNotFound(String),
    #[error("no secure random numbers available")]
    Random,
    #[error("stored consent is not readable: {0}")]
    Corrupt(String),
    #[error("signing: {0}")]
    Sign(String),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Party(#[from] PartyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for ConsentError {
    fn from(e: sqlx::Error) -> Self {
        ConsentError::Db(e.into())
    }
}

impl From<UnknownPurpose> for ConsentError {
    fn from(e: UnknownPurpose) -> Self {
        ConsentError::Invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parties::PartyStatus;

    fn record(state: ConsentState, until: Option<&str>) -> ConsentRecord {
        ConsentRecord {
            id: ConsentId::generate().unwrap(),
            case: CaseId::parse("case-aaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            subject: SubjectId::parse("subj-child-1").unwrap(),
            state,
            given_by: GivenBy::Representative,
            collector: PartyId::parse("iom-tirana").unwrap(),
            purposes: vec![Purpose::BestInterestAssessment],
            recipients: vec!["role:municipality".parse().unwrap()],
            document_types: vec![DocumentType::FamilyAssessment],
            valid_from: "2026-01-01T00:00:00.000Z".into(),
            valid_until: until.map(str::to_owned),
            notice: Notice {
                version: "1".into(),
                language: "sq".into(),
            },
            evidence: DocumentId::generate(),
            version: 1,
            recorded_at: "2026-01-01T00:00:00.000Z".into(),
            changed_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn party(role: Role) -> Party {
        Party {
            id: PartyId::parse("someone").unwrap(),
            role,
            display_name: "someone".into(),
            status: PartyStatus::Active,
            created_at: String::new(),
        }
    }

    #[test]
    fn a_given_consent_covers_only_its_scope_and_time() {
        let c = record(ConsentState::Given, Some("2027-01-01T00:00:00.000Z"));
        let now = "2026-06-01T00:00:00.000Z";
        let muni = party(Role::Municipality);
        assert!(c.covers(
            Purpose::BestInterestAssessment,
            DocumentType::FamilyAssessment,
            Some(&muni),
            now
        ));
        assert!(!c.covers(
            Purpose::FamilyTracing,
            DocumentType::FamilyAssessment,
            Some(&muni),
            now
        ));
        assert!(!c.covers(
            Purpose::BestInterestAssessment,
            DocumentType::SocialReport,
            Some(&muni),
            now
        ));
        assert!(!c.covers(
            Purpose::BestInterestAssessment,
            DocumentType::FamilyAssessment,
            Some(&party(Role::Court)),
            now
        ));
        assert!(!c.covers(
            Purpose::BestInterestAssessment,
            DocumentType::FamilyAssessment,
            Some(&muni),
            "2025-12-31T23:59:59.999Z"
        ));
        assert_eq!(
            c.state_at("2027-01-01T00:00:00.000Z"),
            ConsentState::Expired
        );
        let withdrawn = record(ConsentState::Withdrawn, None);
        assert!(!withdrawn.covers(
            Purpose::BestInterestAssessment,
            DocumentType::FamilyAssessment,
            Some(&muni),
            now
        ));
    }

    #[test]
    fn recipients_parse_and_print() {
        for raw in ["role:court", "party:comune-torino"] {
            assert_eq!(raw.parse::<ConsentRecipient>().unwrap().to_string(), raw);
        }
        assert!("court".parse::<ConsentRecipient>().is_err());
        assert!("role:pope".parse::<ConsentRecipient>().is_err());
        assert!("mother".parse::<Relation>().is_ok());
        assert!("aunt".parse::<Relation>().is_err());
    }
}
