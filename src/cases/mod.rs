//! Cases: a municipality opens a family-tracing case for a child in its care,
//! addressed to the ministry; parties are attached to it by the party whose
//! role allows it; each party sees only the cases it is on. The broker keeps
//! pseudonymous ids only: no names, no other personal data.

mod countries;
mod store;
pub mod workflow;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids;
use crate::parties::{PartyError, PartyId, Role};
use crate::storage::DbError;

pub use countries::ISO_3166_ALPHA2;
pub use store::{attach, facts, list_for, open, show};

/// A pseudonymous case id: `case-` and 26 base32 characters (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct CaseId(String);

impl CaseId {
    /// A fresh random id that says nothing about the child.
    pub fn generate() -> Result<CaseId, CaseError> {
        ids::random("case-").map(CaseId).ok_or(CaseError::Random)
    }

    pub fn parse(raw: &str) -> Result<CaseId, CaseError> {
        if ids::is_random("case-", raw) {
            Ok(CaseId(raw.to_owned()))
        } else {
            Err(CaseError::InvalidId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CaseId {
    type Error = CaseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        CaseId::parse(&raw)
    }
}

impl From<CaseId> for String {
    fn from(id: CaseId) -> String {
        id.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A country of origin: an ISO 3166-1 alpha-2 code such as `AL` or `SN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

impl Country {
    pub fn parse(raw: &str) -> Result<Country, CaseError> {
        let code = raw.trim().to_ascii_uppercase();
        if countries::ISO_3166_ALPHA2
            .binary_search(&code.as_str())
            .is_ok()
        {
            Ok(Country(code))
        } else {
            Err(CaseError::InvalidCountry(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Country {
    type Error = CaseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Country::parse(&raw)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.0
    }
}

/// Where a case stands in the family-tracing process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Requested,
    Entrusted,
    Tracing,
    Assessed,
    UnderJudicialReview,
    DecidedStay,
    DecidedReturn,
    ReturnScheduled,
    Returned,
    Reintegration,
    Closed,
}

impl CaseState {
    /// Every state, in process order.
    pub const ALL: [CaseState; 11] = [
        CaseState::Requested,
        CaseState::Entrusted,
        CaseState::Tracing,
        CaseState::Assessed,
        CaseState::UnderJudicialReview,
        CaseState::DecidedStay,
        CaseState::DecidedReturn,
        CaseState::ReturnScheduled,
        CaseState::Returned,
        CaseState::Reintegration,
        CaseState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Requested => "requested",
            CaseState::Entrusted => "entrusted",
            CaseState::Tracing => "tracing",
            CaseState::Assessed => "assessed",
            CaseState::UnderJudicialReview => "under_judicial_review",
            CaseState::DecidedStay => "decided_stay",
            CaseState::DecidedReturn => "decided_return",
            CaseState::ReturnScheduled => "return_scheduled",
            CaseState::Returned => "returned",
            CaseState::Reintegration => "reintegration",
            CaseState::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Result<CaseState, CaseError> {
        CaseState::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| CaseError::Corrupt(format!("unknown case state {raw:?}")))
    }
}

/// What the policy sees of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub id: CaseId,
    pub country: Country,
    pub state: CaseState,
    pub opened_by: PartyId,
    pub members: Vec<PartyId>,
}

/// A party attached to a case, in its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Member {
    pub party: PartyId,
    pub role: Role,
    pub attached_by: PartyId,
    pub attached_at: String,
}

/// A case as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Case {
    pub id: CaseId,
    pub country: Country,
    pub state: CaseState,
    pub opened_by: PartyId,
    pub opened_at: String,
    pub members: Vec<Member>,
}

/// A line of a party's case list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseSummary {
    pub id: CaseId,
    pub country: Country,
    pub state: CaseState,
    pub opened_at: String,
    /// The role in which the listing party is on the case.
    pub my_role: Role,
}

/// What can go wrong with cases.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("invalid case id {0:?}")]
    InvalidId(String),
    #[error("{0:?} is not an ISO 3166-1 alpha-2 country code")]
    InvalidCountry(String),
    #[error("case {0} not found")]
    NotFound(CaseId),
    #[error("party {0} is already attached to case {1}")]
    AlreadyAttached(PartyId, CaseId),
    #[error("no ministry can receive the case: {0}")]
    NoMinistry(String),
    #[error(
        "a case cannot go from {from} to {to}; from {from} it can go to: {}",
        list(allowed)
    )]
    InvalidTransition {
        from: CaseState,
        to: CaseState,
        allowed: Vec<CaseState>,
    },
    #[error("this step needs a current {} document on the case{}", kind.as_str(), named.as_ref().map(|d| format!(" ({d} is not one)")).unwrap_or_default())]
    DocumentRequired {
        kind: crate::documents::DocumentType,
        named: Option<crate::documents::DocumentId>,
    },
    #[error("case {0} moved to another state meanwhile; read it and try again")]
    Moved(CaseId),
    #[error("could not issue the notices of a step: {0}")]
    Notice(String),
    #[error("stored case is not readable: {0}")]
    Corrupt(String),
    #[error("no secure random numbers available")]
    Random,
    #[error(transparent)]
    Party(#[from] PartyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn list(states: &[CaseState]) -> String {
    if states.is_empty() {
        return "nowhere (the case is closed)".into();
    }
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<sqlx::Error> for CaseError {
    fn from(e: sqlx::Error) -> Self {
        CaseError::Db(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_random_and_parse_back() {
        let a = CaseId::generate().unwrap();
        let b = CaseId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(CaseId::parse(a.as_str()).unwrap(), a);
        assert!(CaseId::parse("case-1").is_err());
        assert!(CaseId::parse("../etc/passwd").is_err());
    }

    #[test]
    fn countries_are_iso_codes() {
        assert_eq!(Country::parse("al").unwrap().as_str(), "AL");
        Country::parse("SN").unwrap();
        for bad in ["XX", "ALB", "", "A"] {
            assert!(Country::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_round_trip() {
        for s in CaseState::ALL {
            assert_eq!(CaseState::parse(s.as_str()).unwrap(), s);
        }
    }
}
