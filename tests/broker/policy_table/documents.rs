//! Documents: who may author and receive each type, for which purpose and
//! under which consent; who may read and share; refusals that name their
//! problem.

use ponte::parties::{PartyStatus, Role};
use ponte::policy::{Action, Resource};
use serde_json::json;

use super::{case, engine, party};

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
