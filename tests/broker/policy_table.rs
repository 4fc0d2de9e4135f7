//! Policy decisions as tables: every role × action × case membership (and,
//! for attachments, every attachee role) against the policies in `policies/`.

use ponte::cases::{CaseFacts, CaseId, CaseState, Country};
use ponte::parties::{Party, PartyId, PartyStatus, Role};
use ponte::policy::{Action, PolicyEngine, Resource};
use serde_json::json;

use crate::common;

fn engine() -> PolicyEngine {
    PolicyEngine::load(&common::manifest_dir().join("policies")).unwrap()
}

fn party(id: &str, role: Role, status: PartyStatus) -> Party {
    Party {
        id: PartyId::parse(id).unwrap(),
        role,
        display_name: id.into(),
        status,
        created_at: "2026-11-22T00:00:00.000Z".into(),
    }
}

fn case(members: &[&Party]) -> CaseFacts {
    CaseFacts {
        id: CaseId::parse("case-aaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
        country: Country::parse("AL").unwrap(),
        state: CaseState::Requested,
        opened_by: PartyId::parse("comune-torino").unwrap(),
        members: members.iter().map(|p| p.id.clone()).collect(),
    }
}

/// Who may attach whom (attacher role, attachee role), when the attacher is on the case.
const ATTACH_ALLOWED: [(Role, Role); 4] = [
    (Role::Ministry, Role::IomCoordination),
    (Role::Ministry, Role::Court),
    (Role::Ministry, Role::Guardian),
    (Role::IomCoordination, Role::IomMission),
];

#[test]
fn attach_party_decision_table() {
    let engine = engine();
    for attacher_role in Role::ALL {
        for attachee_role in Role::ALL {
            for attacher_on_case in [true, false] {
                for attachee_active in [true, false] {
                    let attacher = party("attacher", attacher_role, PartyStatus::Active);
                    let facts = if attacher_on_case {
                        case(&[&attacher])
                    } else {
                        case(&[])
                    };
                    let context = json!({
                        "attachee": { "__entity": { "type": "Ponte::Party", "id": "attachee" } },
                        "attachee_role": attachee_role.as_str(),
                        "attachee_active": attachee_active,
                    });
                    let decision = engine
                        .decide(
                            &attacher,
                            Action::AttachParty,
                            &Resource::Case(&facts),
                            context,
                        )
                        .unwrap();
                    let expected = attacher_on_case
                        && attachee_active
                        && ATTACH_ALLOWED.contains(&(attacher_role, attachee_role));
                    assert_eq!(
                        decision.allowed, expected,
                        "{attacher_role} (on case: {attacher_on_case}) attaching {attachee_role} (active: {attachee_active}): {decision:?}"
                    );
                    assert!(decision.errors.is_empty(), "{decision:?}");
                }
            }
        }
    }
}

#[test]
fn case_and_directory_decision_table() {
    let engine = engine();
    // (action, allowed roles; None = every role), for an active party on the case.
    let table: [(Action, Option<&[Role]>); 5] = [
        (Action::ReadMe, None),
        (Action::ListParties, None),
        (Action::ListCases, None),
        (Action::OpenCase, Some(&[Role::Municipality])),
        (Action::ReadCase, None),
    ];
    for (action, allowed) in table {
        for role in Role::ALL {
            for on_case in [true, false] {
                for status in [PartyStatus::Active, PartyStatus::Disabled] {
                    let principal = party("someone", role, status);
                    let facts = if on_case {
                        case(&[&principal])
                    } else {
                        case(&[])
                    };
                    let (resource, context) = match action {
                        Action::ReadMe => (Resource::Party(&principal), json!({})),
                        Action::OpenCase => (Resource::Broker, json!({ "country": "AL" })),
                        Action::ReadCase => (Resource::Case(&facts), json!({})),
                        _ => (Resource::Broker, json!({})),
                    };
                    let decision = engine
                        .decide(&principal, action, &resource, context)
                        .unwrap();
                    let role_ok = allowed.is_none_or(|roles| roles.contains(&role));
                    let membership_ok = action != Action::ReadCase || on_case;
                    let expected = status == PartyStatus::Active && role_ok && membership_ok;
                    assert_eq!(
                        decision.allowed, expected,
                        "{role} {action} on_case={on_case} {status:?}: {decision:?}"
                    );
                    if status == PartyStatus::Disabled {
                        assert_eq!(decision.policy_ids, ["disabled-party-is-refused"]);
                    }
                }
            }
        }
    }
}

#[test]
fn a_party_cannot_read_another_party_as_itself() {
    let engine = engine();
    let me = party("iom-tirana", Role::IomMission, PartyStatus::Active);
    let other = party("iom-dakar", Role::IomMission, PartyStatus::Active);
    let decision = engine
        .decide(&me, Action::ReadMe, &Resource::Party(&other), json!({}))
        .unwrap();
    assert!(!decision.allowed);
}

/// Document types each role may author (when on the case).
const AUTHORS: [(Role, &[&str]); 6] = [
    (
        Role::Municipality,
        &["tracing_request", "social_report", "correction"],
    ),
    (
        Role::Ministry,
        &["assignment", "return_notice", "correction"],
    ),
    (Role::IomCoordination, &["assignment", "correction"]),
    (
        Role::IomMission,
        &[
            "consent_form",
            "family_assessment",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::Court,
        &["child_hearing", "court_decision", "correction"],
    ),
    (Role::Guardian, &["correction"]),
];

/// Document types each role may receive (when on the case).
const RECEIVERS: [(Role, &[&str]); 6] = [
    (
        Role::Ministry,
        &[
            "tracing_request",
            "assignment",
            "consent_form",
            "family_assessment",
            "social_report",
            "child_hearing",
            "court_decision",
            "return_notice",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::Municipality,
        &[
            "tracing_request",
            "family_assessment",
            "social_report",
            "court_decision",
            "return_notice",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::IomCoordination,
        &[
            "tracing_request",
            "assignment",
            "consent_form",
            "family_assessment",
            "social_report",
            "court_decision",
            "return_notice",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::IomMission,
        &[
            "assignment",
            "consent_form",
            "family_assessment",
            "social_report",
            "return_notice",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::Court,
        &[
            "family_assessment",
            "social_report",
            "child_hearing",
            "court_decision",
            "reintegration_plan",
            "correction",
        ],
    ),
    (
        Role::Guardian,
        &[
            "family_assessment",
            "social_report",
            "child_hearing",
            "court_decision",
            "return_notice",
            "reintegration_plan",
            "correction",
        ],
    ),
];

#[test]
fn submit_and_receive_decision_table() {
    use ponte::consent::Purpose;
    use ponte::documents::DocumentType;
    let engine = engine();
    for (action, table) in [
        (Action::SubmitDocument, &AUTHORS),
        (Action::ReceiveDocument, &RECEIVERS),
    ] {
        for role in Role::ALL {
            let allowed_types = table
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, t)| *t)
                .unwrap();
            for document_type in DocumentType::ALL {
                for purpose in Purpose::ALL {
                    for on_case in [true, false] {
                        let principal = party("someone", role, PartyStatus::Active);
                        let facts = if on_case {
                            case(&[&principal])
                        } else {
                            case(&[])
                        };
                        let context = json!({ "document_type": document_type.as_str(), "purpose": purpose.as_str() });
                        let decision = engine
                            .decide(&principal, action, &Resource::Case(&facts), context)
                            .unwrap();
                        let expected = on_case
                            && purpose != Purpose::Statistics
                            && allowed_types.contains(&document_type.as_str());
                        assert_eq!(
                            decision.allowed, expected,
                            "{role} {action} {document_type} for {purpose} (on case: {on_case}): {decision:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn read_and_share_decision_table() {
    use ponte::consent::Purpose;
    use ponte::policy::DocumentFacts;
    let engine = engine();
    for role in Role::ALL {
        for purpose in Purpose::ALL {
            for on_case in [true, false] {
                for is_recipient in [true, false] {
                    for entitled in [true, false] {
                        let principal = party("someone", role, PartyStatus::Active);
                        let facts = DocumentFacts {
                            id: "doc-aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
                            case: if on_case {
                                case(&[&principal])
                            } else {
                                case(&[])
                            },
                            document_type: "family_assessment".into(),
                            purpose: "best_interest_assessment".into(),
                            author: "iom-tirana".into(),
                        };
                        let read = engine
                            .decide(
                                &principal,
                                Action::ReadDocument,
                                &Resource::Document(&facts),
                                json!({ "purpose": purpose.as_str(), "is_recipient": is_recipient }),
                            )
                            .unwrap();
                        let readable = on_case && is_recipient && purpose != Purpose::Statistics;
                        assert_eq!(read.allowed, readable, "{role} reads for {purpose}, on case {on_case}, recipient {is_recipient}");
                        let share = engine
                            .decide(
                                &principal,
                                Action::ShareDocument,
                                &Resource::Document(&facts),
                                json!({
                                    "purpose": purpose.as_str(),
                                    "is_recipient": is_recipient,
                                    "new_recipient": { "__entity": { "type": "Ponte::Party", "id": "tm-roma" } },
                                    "new_recipient_entitled": entitled,
                                }),
                            )
                            .unwrap();
                        assert_eq!(
                            share.allowed,
                            readable && entitled,
                            "{role} shares for {purpose}"
                        );
                    }
                }
            }
        }
    }
}
