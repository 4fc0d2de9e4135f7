//! The family-tracing workflow: which state follows which, and which
//! document a step needs. Who may take a step is policy (`TransitionCase`
//! in `policies/workflow.cedar`); what a step needs is a rule of the process
//! and lives here. Every step is evidence, and the case's other members are
//! told (the municipality gets the return notice when a return is scheduled).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{CaseError, CaseFacts, CaseId, CaseState};
use crate::audit::{self, AuditEvent};
use crate::documents::{DocumentId, DocumentType};
use crate::ids;
use crate::jose::Jwk;
use crate::notices::{self, NoticeKind};
use crate::parties::{PartyId, Role};
use crate::policy::actions::{ReadCase, TransitionCase};
use crate::policy::Authorized;
use crate::storage::Db;

/// One step of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: CaseState,
    pub to: CaseState,
    /// A current document of this type must be on the case.
    pub needs: Option<DocumentType>,
}

const fn step(from: CaseState, to: CaseState, needs: Option<DocumentType>) -> Step {
    Step { from, to, needs }
}

/// The process, from the request to the close of the case.
pub const STEPS: &[Step] = {
    use CaseState as S;
    use DocumentType as D;
    &[
        step(S::Requested, S::Entrusted, Some(D::TracingRequest)),
        step(S::Entrusted, S::Tracing, Some(D::Assignment)),
        step(S::Tracing, S::Assessed, Some(D::FamilyAssessment)),
        step(S::Assessed, S::UnderJudicialReview, None),
        step(
            S::UnderJudicialReview,
            S::DecidedStay,
            Some(D::CourtDecision),
        ),
        step(
            S::UnderJudicialReview,
            S::DecidedReturn,
            Some(D::CourtDecision),
        ),
        step(S::DecidedStay, S::Closed, None),
        step(S::DecidedReturn, S::ReturnScheduled, Some(D::ReturnNotice)),
        step(S::ReturnScheduled, S::Returned, None),
        step(S::Returned, S::Reintegration, Some(D::ReintegrationPlan)),
        step(S::Reintegration, S::Closed, None),
    ]
};

/// The states a case in `state` may move to.
pub fn next_states(state: CaseState) -> Vec<CaseState> {
    STEPS
        .iter()
        .filter(|s| s.from == state)
        .map(|s| s.to)
        .collect()
}

/// A step taken: evidence of who moved the case, when, on which document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Transition {
    pub id: String,
    pub case: CaseId,
    pub from: CaseState,
    pub to: CaseState,
    pub actor: PartyId,
    /// The document the step needed.
    pub document: Option<DocumentId>,
    pub at: String,
}

/// Checks that `to` follows the case's state; the answer names the step.
pub fn check(case: &CaseFacts, to: CaseState) -> Result<Step, CaseError> {
    STEPS
        .iter()
        .find(|s| s.from == case.state && s.to == to)
        .copied()
        .ok_or_else(|| CaseError::InvalidTransition {
            from: case.state,
            to,
            allowed: next_states(case.state),
        })
}

/// Moves the case one step, for a party the policy allowed to take it.
/// The step, its evidence and the notices commit together; a concurrent
/// step on the same case makes this one fail rather than both apply.
pub async fn transition(
    db: &Db,
    broker_key: &Jwk,
    proof: &Authorized<TransitionCase>,
    case: &CaseFacts,
    to: CaseState,
    document: Option<&DocumentId>,
    now: &str,
) -> Result<Transition, CaseError> {
    let step = check(case, to)?;
    let document = match step.needs {
        Some(kind) => Some(required_document(db, &case.id, kind, document).await?),
        None => None,
    };
    let transition = Transition {
        id: ids::random("trn-").ok_or(CaseError::Random)?,
        case: case.id.clone(),
        from: case.state,
        to,
        actor: proof.principal().clone(),
        document,
        at: now.to_owned(),
    };
    let mut tx = db.begin().await?;
    let moved = sqlx::query("update tracing_case set state = $1 where id = $2 and state = $3")
        .bind(to.as_str())
        .bind(case.id.as_str())
        .bind(case.state.as_str())
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() != 1 {
        return Err(CaseError::Moved(case.id.clone()));
    }
    sqlx::query(
        "insert into case_transition (id, case_id, from_state, to_state, actor, document_id, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&transition.id)
    .bind(case.id.as_str())
    .bind(case.state.as_str())
    .bind(to.as_str())
    .bind(transition.actor.as_str())
    .bind(transition.document.as_ref().map(DocumentId::as_str))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let body = serde_json::json!({
        "transition": transition.id,
        "from": transition.from,
        "to": transition.to,
        "document": transition.document,
        "by": transition.actor,
    });
    audit::append(
        &mut *tx,
        &AuditEvent::evidence(
            &transition.actor,
            "CaseTransition",
            &format!("case:{}", case.id),
            now,
        )
        .detail(body.clone()),
    )
    .await?;
    for (party, role) in members(&mut tx, &case.id).await? {
        if party == transition.actor {
            continue;
        }
        let kind = if to == CaseState::ReturnScheduled && role == Role::Municipality {
            NoticeKind::ReturnNotice
        } else {
            NoticeKind::StateChange
        };
        notices::issue(
            &mut tx,
            broker_key,
            &party,
            Some(&case.id),
            kind,
            body.clone(),
            now,
        )
        .await
        .map_err(|e| CaseError::Notice(e.to_string()))?;
    }
    tx.commit().await?;
    Ok(transition)
}

async fn members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: &CaseId,
) -> Result<Vec<(PartyId, Role)>, CaseError> {
    sqlx::query("select party_id, role from case_member where case_id = $1 order by party_id")
        .bind(case.as_str())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                PartyId::parse(&r.try_get::<String, _>("party_id")?)?,
                r.try_get::<String, _>("role")?.parse()?,
            ))
        })
        .collect()
}

/// The document a step needs: the one named, if it is a current, readable
/// document of that type on the case, or else the newest such document.
async fn required_document(
    db: &Db,
    case: &CaseId,
    kind: DocumentType,
    named: Option<&DocumentId>,
) -> Result<DocumentId, CaseError> {
    let found: Option<String> = sqlx::query_scalar(
        "select id from document
         where case_id = $1 and document_type = $2 and is_current = 1 and object_key is not null
         and ($3 = '' or id = $3)
         order by received_at desc, id desc limit 1",
    )
    .bind(case.as_str())
    .bind(kind.as_str())
    .bind(named.map(DocumentId::as_str).unwrap_or(""))
    .fetch_optional(db.pool())
    .await?;
    match found {
        Some(id) => DocumentId::parse(&id).map_err(|e| CaseError::Corrupt(e.to_string())),
        None => Err(CaseError::DocumentRequired {
            kind,
            named: named.cloned(),
        }),
    }
}

/// The steps a case took, oldest first.
pub async fn history(
    db: &Db,
    _proof: &Authorized<ReadCase>,
    case: &CaseId,
) -> Result<Vec<Transition>, CaseError> {
    let rows = sqlx::query(
        "select id, from_state, to_state, actor, document_id, at from case_transition
         where case_id = $1 order by at, id",
    )
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Transition {
                id: r.try_get("id")?,
                case: case.clone(),
                from: CaseState::parse(&r.try_get::<String, _>("from_state")?)?,
                to: CaseState::parse(&r.try_get::<String, _>("to_state")?)?,
                actor: PartyId::parse(&r.try_get::<String, _>("actor")?)?,
                document: r
                    .try_get::<Option<String>, _>("document_id")?
                    .map(|d| DocumentId::parse(&d))
                    .transpose()
                    .map_err(|e| CaseError::Corrupt(e.to_string()))?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_but_closed_leads_somewhere_and_closed_is_reached() {
        for state in CaseState::ALL {
            let next = next_states(state);
            assert_eq!(next.is_empty(), state == CaseState::Closed, "{state:?}");
        }
        let mut state = CaseState::Requested;
        let mut path = vec![state];
        while state != CaseState::Closed {
            // Follow the return path where the process forks.
            let next = next_states(state);
            state = *next.last().unwrap();
            path.push(state);
        }
        assert_eq!(path.len(), 10, "{path:?}");
    }

    #[test]
    fn the_documents_the_issue_names_gate_their_steps() {
        let needs = |from, to| {
            STEPS
                .iter()
                .find(|s| s.from == from && s.to == to)
                .unwrap()
                .needs
        };
        use CaseState as S;
        assert_eq!(
            needs(S::Tracing, S::Assessed),
            Some(DocumentType::FamilyAssessment)
        );
        assert_eq!(
            needs(S::UnderJudicialReview, S::DecidedReturn),
            Some(DocumentType::CourtDecision)
        );
        assert_eq!(
            needs(S::UnderJudicialReview, S::DecidedStay),
            Some(DocumentType::CourtDecision)
        );
        assert_eq!(
            needs(S::DecidedReturn, S::ReturnScheduled),
            Some(DocumentType::ReturnNotice)
        );
    }
}
