//! Policy decisions as tables: every role × action × case membership (and,
//! for attachments, every attachee role) against the policies in `policies/`.

mod cases_and_directory;
mod consent_and_process;
mod documents;

use ponte::cases::{CaseFacts, CaseId, CaseState, Country};
use ponte::parties::{Party, PartyId, PartyStatus, Role};
use ponte::policy::PolicyEngine;

use crate::common;

pub fn engine() -> PolicyEngine {
    PolicyEngine::load(&common::manifest_dir().join("policies")).unwrap()
}

pub fn party(id: &str, role: Role, status: PartyStatus) -> Party {
    Party {
        id: PartyId::parse(id).unwrap(),
        role,
        display_name: id.into(),
        status,
        created_at: "2026-11-22T00:00:00.000Z".into(),
    }
}

pub fn case(members: &[&Party]) -> CaseFacts {
    CaseFacts {
        id: CaseId::parse("case-aaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
        country: Country::parse("AL").unwrap(),
        state: CaseState::Requested,
        opened_by: PartyId::parse("comune-torino").unwrap(),
        members: members.iter().map(|p| p.id.clone()).collect(),
    }
}
