//! Consent and the process: who may change a consent, the person's code,
//! the case's steps by role, dossiers and webhooks.

use ponte::cases::CaseState;
use ponte::parties::{PartyId, PartyStatus, Role};
use ponte::policy::{Action, Resource};
use serde_json::json;

use super::{case, engine, party};

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
