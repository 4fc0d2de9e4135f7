//! Cases and the directory: who may attach whom, open and read cases,
//! and read the directory.

use ponte::parties::{PartyStatus, Role};
use ponte::policy::{Action, Resource};
use serde_json::json;

use super::{case, engine, party};

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
