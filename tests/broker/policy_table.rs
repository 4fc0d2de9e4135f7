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
        &[
            "tracing_request",
            "consent_form",
            "social_report",
            "correction",
        ],
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

/// The consent states a decision can see; only `given` is valid.
const CONSENT_STATES: [&str; 8] = [
    "given",
    "withdrawn",
    "revoked",
    "expired",
    "refused",
    "invalidated",
    "not_yet_valid",
    "none",
];

/// Purposes only one role may act (or be shared with) for: no consent is
/// needed, so nobody else may name them.
fn purpose_owner(purpose: ponte::consent::Purpose) -> Option<Role> {
    use ponte::consent::Purpose;
    match purpose {
        Purpose::JudicialDecision => Some(Role::Court),
        Purpose::CaseOversight => Some(Role::Ministry),
        _ => None,
    }
}

/// The consent members of a context, as the broker computes them.
fn consent_context(
    purpose: ponte::consent::Purpose,
    state: &str,
) -> serde_json::Map<String, serde_json::Value> {
    use ponte::consent::LawfulBasis;
    let consent = purpose.basis() == LawfulBasis::Consent;
    let mut map = serde_json::Map::new();
    map.insert(
        "basis".into(),
        serde_json::to_value(purpose.basis()).unwrap(),
    );
    map.insert("consent_valid".into(), json!(state == "given"));
    map.insert(
        "consent_state".into(),
        json!(if consent { state } else { "not_required" }),
    );
    map
}

/// Whether consent lets a document move: not needed for other bases, and
/// consent forms move as the proof of consent.
fn consent_lets_it_move(
    purpose: ponte::consent::Purpose,
    document_type: &str,
    state: &str,
) -> bool {
    purpose.basis() != ponte::consent::LawfulBasis::Consent
        || state == "given"
        || document_type == "consent_form"
}

/// role × action (submit, receive) × document type × purpose × consent
/// state × membership → decision.
#[test]
fn submit_and_receive_decision_table() {
    use ponte::consent::Purpose;
    use ponte::documents::DocumentType;
    let engine = engine();
    let mut rows = 0;
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
                    for state in CONSENT_STATES {
                        for on_case in [true, false] {
                            let principal = party("someone", role, PartyStatus::Active);
                            let facts = if on_case {
                                case(&[&principal])
                            } else {
                                case(&[])
                            };
                            let mut context = consent_context(purpose, state);
                            context.insert("document_type".into(), json!(document_type.as_str()));
                            context.insert("purpose".into(), json!(purpose.as_str()));
                            let decision = engine
                                .decide(&principal, action, &Resource::Case(&facts), context.into())
                                .unwrap();
                            // Receiving follows the document's purpose; acting
                            // for a purpose of another role is refused.
                            let purpose_ok = action == Action::ReceiveDocument
                                || purpose_owner(purpose).is_none_or(|owner| owner == role);
                            let expected = on_case
                                && purpose != Purpose::Statistics
                                && purpose_ok
                                && consent_lets_it_move(purpose, document_type.as_str(), state)
                                && allowed_types.contains(&document_type.as_str());
                            assert_eq!(
                                decision.allowed, expected,
                                "{role} {action} {document_type} for {purpose}, consent {state} (on case: {on_case}): {decision:?}"
                            );
                            assert!(decision.errors.is_empty(), "{decision:?}");
                            rows += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(rows, 2 * 6 * 10 * 6 * 8 * 2, "every combination is decided");
}

/// role × action (read, share) × document type × purpose × consent state ×
/// membership × holding × new recipient's role and entitlement → decision.
#[test]
fn read_and_share_decision_table() {
    use ponte::consent::Purpose;
    use ponte::documents::DocumentType;
    use ponte::policy::DocumentFacts;
    let engine = engine();
    for role in Role::ALL {
        for document_type in DocumentType::ALL {
            for purpose in Purpose::ALL {
                for state in CONSENT_STATES {
                    for on_case in [true, false] {
                        for is_recipient in [true, false] {
                            let principal = party("someone", role, PartyStatus::Active);
                            let facts = DocumentFacts {
                                id: "doc-aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
                                case: if on_case {
                                    case(&[&principal])
                                } else {
                                    case(&[])
                                },
                                document_type: document_type.as_str().into(),
                                purpose: "best_interest_assessment".into(),
                                author: "iom-tirana".into(),
                            };
                            let mut context = consent_context(purpose, state);
                            context.insert("purpose".into(), json!(purpose.as_str()));
                            context.insert("is_recipient".into(), json!(is_recipient));
                            let read = engine
                                .decide(
                                    &principal,
                                    Action::ReadDocument,
                                    &Resource::Document(&facts),
                                    context.clone().into(),
                                )
                                .unwrap();
                            let holder_ok = on_case
                                && is_recipient
                                && purpose != Purpose::Statistics
                                && consent_lets_it_move(purpose, document_type.as_str(), state);
                            let readable =
                                holder_ok && purpose_owner(purpose).is_none_or(|o| o == role);
                            assert_eq!(
                                read.allowed, readable,
                                "{role} reads {document_type} for {purpose}, consent {state}, on case {on_case}, recipient {is_recipient}: {read:?}"
                            );
                            for new_role in Role::ALL {
                                for entitled in [true, false] {
                                    let mut context = context.clone();
                                    context.insert("new_recipient".into(), json!({ "__entity": { "type": "Ponte::Party", "id": "someone-else" } }));
                                    context.insert(
                                        "new_recipient_role".into(),
                                        json!(new_role.as_str()),
                                    );
                                    context
                                        .insert("new_recipient_entitled".into(), json!(entitled));
                                    let share = engine
                                        .decide(
                                            &principal,
                                            Action::ShareDocument,
                                            &Resource::Document(&facts),
                                            context.into(),
                                        )
                                        .unwrap();
                                    let expected = holder_ok
                                        && entitled
                                        && purpose_owner(purpose).is_none_or(|o| o == new_role);
                                    assert_eq!(
                                        share.allowed, expected,
                                        "{role} shares {document_type} for {purpose} with a {new_role} (entitled {entitled}), consent {state}: {share:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A refusal for lack of consent or for another role's purpose names its
/// problem, so the answer can say which consent is missing.
#[test]
fn consent_and_purpose_refusals_name_their_problem() {
    let engine = engine();
    let municipality = party("comune-torino", Role::Municipality, PartyStatus::Active);
    let facts = ponte::policy::DocumentFacts {
        id: "doc-aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        case: case(&[&municipality]),
        document_type: "family_assessment".into(),
        purpose: "best_interest_assessment".into(),
        author: "iom-tirana".into(),
    };
    let read = |purpose: &str, valid: bool, basis: &str| {
        engine
            .decide(
                &municipality,
                Action::ReadDocument,
                &Resource::Document(&facts),
                json!({ "purpose": purpose, "is_recipient": true, "basis": basis,
                        "consent_valid": valid, "consent_state": if valid { "given" } else { "withdrawn" } }),
            )
            .unwrap()
    };
    let withdrawn = read("best_interest_assessment", false, "consent");
    assert!(!withdrawn.allowed);
    assert_eq!(withdrawn.problems, ["consent"]);
    assert_eq!(
        withdrawn.policy_ids,
        ["consent-based-purpose-needs-consent-to-read"]
    );
    let borrowed = read("judicial_decision", false, "legal_obligation");
    assert!(!borrowed.allowed);
    assert_eq!(borrowed.problems, ["purpose"]);
    assert!(read("best_interest_assessment", true, "consent").allowed);
}

/// role × consent change → who may withdraw, revoke, invalidate.
#[test]
fn consent_change_decision_table() {
    use ponte::consent::{ConsentRecord, ConsentState};
    let engine = engine();
    let collector = PartyId::parse("iom-tirana").unwrap();
    for role in Role::ALL {
        for is_collector in [true, false] {
            for on_case in [true, false] {
                for to in [
                    ConsentState::Withdrawn,
                    ConsentState::Revoked,
                    ConsentState::Invalidated,
                    ConsentState::Given,
                ] {
                    let principal = party(
                        if is_collector {
                            "iom-tirana"
                        } else {
                            "someone"
                        },
                        role,
                        PartyStatus::Active,
                    );
                    let facts = if on_case {
                        case(&[&principal])
                    } else {
                        case(&[])
                    };
                    let record: ConsentRecord = serde_json::from_value(json!({
                        "id": "cons-aaaaaaaaaaaaaaaaaaaaaaaaaa", "case": facts.id, "subject": "subj-child-1",
                        "state": "given", "given_by": "representative", "collector": collector,
                        "purposes": ["best_interest_assessment"], "recipients": ["role:municipality"],
                        "document_types": ["family_assessment"], "valid_from": "2026-01-01T00:00:00.000Z",
                        "valid_until": null, "notice": { "version": "1", "language": "sq" },
                        "evidence": "doc-aaaaaaaaaaaaaaaaaaaaaaaaaa", "version": 1,
                        "recorded_at": "2026-01-01T00:00:00.000Z", "changed_at": "2026-01-01T00:00:00.000Z",
                    }))
                    .unwrap();
                    let decision = engine
                        .decide(
                            &principal,
                            Action::ChangeConsent,
                            &Resource::Consent {
                                record: &record,
                                case: &facts,
                            },
                            json!({ "new_state": to.as_str() }),
                        )
                        .unwrap();
                    let expected = on_case
                        && match to {
                            ConsentState::Withdrawn => is_collector,
                            ConsentState::Revoked | ConsentState::Invalidated => {
                                role == Role::Court
                            }
                            _ => false,
                        };
                    assert_eq!(
                        decision.allowed, expected,
                        "{role} (collector {is_collector}, on case {on_case}) sets {to}: {decision:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn only_a_valid_code_lets_the_person_withdraw() {
    let engine = engine();
    let facts = case(&[]);
    let record: ponte::consent::ConsentRecord = serde_json::from_value(json!({
        "id": "cons-aaaaaaaaaaaaaaaaaaaaaaaaaa", "case": facts.id, "subject": "subj-child-1",
        "state": "given", "given_by": "subject", "collector": "iom-tirana",
        "purposes": ["family_tracing"], "recipients": ["role:ministry"],
        "document_types": ["family_assessment"], "valid_from": "2026-01-01T00:00:00.000Z",
        "valid_until": null, "notice": { "version": "1", "language": "sq" },
        "evidence": "doc-aaaaaaaaaaaaaaaaaaaaaaaaaa", "version": 1,
        "recorded_at": "2026-01-01T00:00:00.000Z", "changed_at": "2026-01-01T00:00:00.000Z",
    }))
    .unwrap();
    for valid in [true, false] {
        let decision = engine
            .decide_anonymous(
                Action::WithdrawConsentWithCode,
                &Resource::Consent {
                    record: &record,
                    case: &facts,
                },
                json!({ "code_valid": valid }),
            )
            .unwrap();
        assert_eq!(decision.allowed, valid);
    }
}

/// Which role takes a case to which state (when on the case).
const STEPS_BY_ROLE: [(Role, &[&str]); 4] = [
    (
        Role::Ministry,
        &[
            "entrusted",
            "under_judicial_review",
            "return_scheduled",
            "closed",
        ],
    ),
    (Role::IomCoordination, &["tracing"]),
    (Role::IomMission, &["assessed", "returned", "reintegration"]),
    (
        Role::Court,
        &["under_judicial_review", "decided_stay", "decided_return"],
    ),
];

/// role × target state × membership → may take the step (the workflow
/// itself decides which steps follow which; the policy who takes them).
#[test]
fn transition_decision_table() {
    let engine = engine();
    let mut rows = 0;
    for role in Role::ALL {
        for to in CaseState::ALL {
            for on_case in [true, false] {
                let actor = party("actor", role, PartyStatus::Active);
                let facts = if on_case { case(&[&actor]) } else { case(&[]) };
                let decision = engine
                    .decide(
                        &actor,
                        Action::TransitionCase,
                        &Resource::Case(&facts),
                        json!({ "from": "requested", "to": to.as_str() }),
                    )
                    .unwrap();
                let expected = on_case
                    && STEPS_BY_ROLE
                        .iter()
                        .any(|(r, states)| *r == role && states.contains(&to.as_str()));
                assert_eq!(
                    decision.allowed,
                    expected,
                    "{role} (on case: {on_case}) -> {}: {decision:?}",
                    to.as_str()
                );
                rows += 1;
            }
        }
    }
    assert_eq!(rows, Role::ALL.len() * 11 * 2);
}

/// role × membership → may download the decision dossier; and each party
/// manages its own webhook only.
#[test]
fn dossier_and_webhook_decision_table() {
    let engine = engine();
    for role in Role::ALL {
        for on_case in [true, false] {
            let p = party("someone", role, PartyStatus::Active);
            let facts = if on_case { case(&[&p]) } else { case(&[]) };
            let decision = engine
                .decide(&p, Action::ReadDossier, &Resource::Case(&facts), json!({}))
                .unwrap();
            assert_eq!(
                decision.allowed,
                on_case && role == Role::Court,
                "{role} on case {on_case}"
            );
        }
        let me = party("me", role, PartyStatus::Active);
        let other = party("other", role, PartyStatus::Active);
        for action in [
            Action::ReadWebhook,
            Action::SetWebhook,
            Action::RemoveWebhook,
        ] {
            assert!(
                engine
                    .decide(&me, action, &Resource::Party(&me), json!({}))
                    .unwrap()
                    .allowed
            );
            assert!(
                !engine
                    .decide(&me, action, &Resource::Party(&other), json!({}))
                    .unwrap()
                    .allowed
            );
        }
        let disabled = party("me", role, PartyStatus::Disabled);
        assert!(
            !engine
                .decide(
                    &disabled,
                    Action::SetWebhook,
                    &Resource::Party(&disabled),
                    json!({})
                )
                .unwrap()
                .allowed
        );
    }
}
