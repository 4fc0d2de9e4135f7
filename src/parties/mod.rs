//! The party registry: who each party is (id, role, display name), which
//! client certificates prove it, and its public signing and encryption keys.
//! Retired keys stay listed so old signatures stay verifiable, but are never
//! offered for new encryption.

mod store;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::jose::{Jwk, JwkError, KeyUse};
use crate::storage::DbError;

pub use store::{
    find, find_by_fingerprint, keys, list, unchecked_disable, unchecked_register,
    unchecked_rotate_keys, with_keys, Registration,
};

/// A party's stable identifier, e.g. `iom-tirana`: lowercase letters, digits
/// and hyphens, starting with a letter, at most 64 characters.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct PartyId(String);

impl PartyId {
    pub fn parse(raw: &str) -> Result<PartyId, PartyError> {
        let ok = (2..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(PartyId(raw.to_owned()))
        } else {
            Err(PartyError::InvalidId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PartyId {
    type Error = PartyError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        PartyId::parse(&raw)
    }
}

impl From<PartyId> for String {
    fn from(id: PartyId) -> String {
        id.0
    }
}

impl FromStr for PartyId {
    type Err = PartyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartyId::parse(s)
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A party's role in the family-tracing process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Municipality,
    Ministry,
    IomCoordination,
    IomMission,
    Court,
    Guardian,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Municipality,
        Role::Ministry,
        Role::IomCoordination,
        Role::IomMission,
        Role::Court,
        Role::Guardian,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Municipality => "municipality",
            Role::Ministry => "ministry",
            Role::IomCoordination => "iom_coordination",
            Role::IomMission => "iom_mission",
            Role::Court => "court",
            Role::Guardian => "guardian",
        }
    }
}

impl FromStr for Role {
    type Err = PartyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PartyError::InvalidRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a party may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyStatus {
    Active,
    Disabled,
}

impl PartyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyStatus::Active => "active",
            PartyStatus::Disabled => "disabled",
        }
    }
}

/// A registered party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub id: PartyId,
    pub role: Role,
    pub display_name: String,
    pub status: PartyStatus,
    pub created_at: String,
}

impl Party {
    pub fn is_active(&self) -> bool {
        self.status == PartyStatus::Active
    }
}

/// Whether a key may be used for new signatures and encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Retired,
}

/// One public key of a party, with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyKey {
    pub kid: String,
    pub key_use: KeyUse,
    pub status: KeyStatus,
    pub created_at: String,
    pub retired_at: Option<String>,
    pub jwk: Jwk,
}

impl PartyKey {
    /// Listed in the party's JWKS: every signing key (old signatures stay
    /// verifiable) and only active encryption keys (never offered once retired).
    pub fn is_published(&self) -> bool {
        self.key_use == KeyUse::Sign || self.status == KeyStatus::Active
    }
}

/// What can go wrong in the party registry.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    #[error(
        "invalid party id {0:?}: use lowercase letters, digits and hyphens, starting with a letter"
    )]
    InvalidId(String),
    #[error("unknown role {0:?}; roles are municipality, ministry, iom_coordination, iom_mission, court, guardian")]
    InvalidRole(String),
    #[error("display name must be 1 to 200 characters")]
    InvalidName,
    #[error("party {0} not found")]
    NotFound(PartyId),
    #[error("party {0} already exists")]
    AlreadyExists(PartyId),
    #[error("certificate is already registered to party {0}")]
    CertificateTaken(PartyId),
    #[error(transparent)]
    Key(#[from] JwkError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for PartyError {
    fn from(e: sqlx::Error) -> Self {
        PartyError::Db(e.into())
    }
}

/// Checks a display name: the name of an institution, never of a person.
pub fn parse_display_name(raw: &str) -> Result<String, PartyError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(PartyError::InvalidName);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_ids_are_slugs() {
        for ok in ["iom-tirana", "tm-roma", "guardian-torino-1", "ab"] {
            PartyId::parse(ok).unwrap();
        }
        for bad in [
            "",
            "a",
            "IOM",
            "1abc",
            "iom_tirana",
            "iom-",
            "iom tirana",
            &"a".repeat(65),
        ] {
            assert!(PartyId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert!("judge".parse::<Role>().is_err());
    }
}
