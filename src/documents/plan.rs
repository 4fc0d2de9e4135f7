//! Recipient plans: which parties of a case may receive a document of a
//! given type, for a given purpose, about given subjects, now.

use super::{DocumentError, DocumentType};
use crate::cases::CaseFacts;
use crate::consent::{ConsentFacts, Purpose, SubjectConsents};
use crate::jose::{Jwk, KeyUse};
use crate::parties::{self, KeyStatus, Party};
use crate::policy::{Action, PolicyEngine, Resource};
use crate::storage::Db;

/// A party entitled to receive a document now, with the keys to encrypt to.
#[derive(Debug, Clone)]
pub struct PlannedRecipient {
    pub party: Party,
    pub keys: Vec<Jwk>,
}

/// Which parties of the case may receive a document of this type for this
/// purpose about these subjects, each with its active encryption keys
/// (never retired ones). For a consent-based purpose each party needs the
/// consent of every subject.
pub async fn plan(
    db: &Db,
    engine: &PolicyEngine,
    case: &CaseFacts,
    document_type: DocumentType,
    purpose: Purpose,
    consents: &SubjectConsents,
    now: &str,
) -> Result<Vec<PlannedRecipient>, DocumentError> {
    let members: Vec<_> = parties::with_keys(db, &case.members)
        .await?
        .into_iter()
        .filter(|(party, _)| party.is_active())
        .collect();
    let requests: Vec<(&Party, serde_json::Value)> = members
        .iter()
        .map(|(party, _)| {
            let facts = consents.facts(purpose, document_type, Some(party), now);
            (party, receive_context(document_type, purpose, &facts))
        })
        .collect();
    let decisions =
        engine.decide_each(&requests, Action::ReceiveDocument, &Resource::Case(case))?;
    let mut planned = Vec::new();
    for ((party, keys), decision) in members.into_iter().zip(decisions) {
        if !decision.allowed {
            continue;
        }
        let keys: Vec<Jwk> = keys
            .into_iter()
            .filter(|k| k.key_use == KeyUse::Encrypt && k.status == KeyStatus::Active)
            .map(|k| k.jwk)
            .collect();
        if !keys.is_empty() {
            planned.push(PlannedRecipient { party, keys });
        }
    }
    Ok(planned)
}

/// The context of a `ReceiveDocument` (or `SubmitDocument`) decision.
pub fn receive_context(
    document_type: DocumentType,
    purpose: Purpose,
    facts: &ConsentFacts,
) -> serde_json::Value {
    let mut context =
        serde_json::json!({ "document_type": document_type.as_str(), "purpose": purpose.as_str() });
    merge(&mut context, facts.context());
    context
}

/// Adds the members of `extra` (an object) to `context` (an object).
pub fn merge(context: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (context.as_object_mut(), extra) {
        into.extend(from);
    }
}
