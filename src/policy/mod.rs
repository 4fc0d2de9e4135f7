//! Authorization: Cedar policies from `policies/`, validated against the
//! schema in the same folder (the broker refuses to start otherwise), decide
//! every party request once, before the domain call. Every decision, allow or
//! deny, is audited with the ids of the deciding policies and the version of
//! the policy set. Domain functions that change data take an [`Authorized`](crate::policy::Authorized)
//! proof, which only this module constructs.

pub mod actions;
mod engine;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use actions::{Action, ActionKind};
pub use engine::{Decision, DocumentFacts, PolicyEngine, Resource};

use crate::audit::{self, AuditEvent, Outcome};
use crate::parties::{Party, PartyId};
use crate::storage::{Db, DbError};

/// Proof that a party was allowed action `A`.
#[derive(Debug)]
pub struct Authorized<A: ActionKind> {
    principal: PartyId,
    _action: PhantomData<A>,
}

impl<A: ActionKind> Authorized<A> {
    /// The party that was allowed.
    pub fn principal(&self) -> &PartyId {
        &self.principal
    }
}

/// Proof that an unauthenticated caller was allowed action `A` (a person
/// holding a consent code).
#[derive(Debug)]
pub struct AuthorizedAnonymous<A: ActionKind> {
    _action: PhantomData<A>,
}

/// The policy set in force. A reload replaces it only with a set that
/// validates; otherwise the old set stays and the validator's message is
/// returned. Every decision takes the set current at that moment, so a
/// reload decides the very next request.
#[derive(Debug)]
pub struct Policies {
    dir: PathBuf,
    current: RwLock<Arc<PolicyEngine>>,
}

impl Policies {
    /// Loads and validates the folder (`schema.cedarschema`, `*.cedar`).
    pub fn load(dir: &Path) -> Result<Policies, PolicyError> {
        Ok(Policies {
            dir: dir.to_owned(),
            current: RwLock::new(Arc::new(PolicyEngine::load(dir)?)),
        })
    }

    /// The set deciding now.
    pub fn current(&self) -> Arc<PolicyEngine> {
        // A poisoned lock only means a reload panicked; the set in it is whole.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the folder again; on success the new set is in force.
    pub fn reload(&self) -> Result<Arc<PolicyEngine>, PolicyError> {
        let fresh = Arc::new(PolicyEngine::load(&self.dir)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

/// Why a request was not authorized.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("party {party} is disabled")]
    PartyDisabled { party: PartyId },
    #[error("{action} is not allowed for party {party}")]
    Denied {
        party: PartyId,
        action: Action,
        /// The `@problem` annotations of the forbids that refused.
        problems: Vec<String>,
    },
    #[error("{action} is not allowed")]
    DeniedAnonymous { action: Action },
    #[error("policy files: {0}")]
    Load(String),
    #[error("policy set does not validate against the schema:\n{0}")]
    Invalid(String),
    #[error("authorization request could not be built: {0}")]
    Request(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone)]
pub struct RequestMeta<'a> {
    pub request_id: Option<&'a str>,
    pub at: &'a str,
}

/// Decides whether `principal` may perform `A` on `resource`, audits the
/// decision, and returns the proof the domain call needs.
pub async fn authorize<A: ActionKind>(
    engine: &PolicyEngine,
    db: &Db,
    meta: RequestMeta<'_>,
    principal: &Party,
    resource: Resource<'_>,
    context: serde_json::Value,
) -> Result<Authorized<A>, PolicyError> {
    let allowed = decide::<A>(engine, db, meta, principal, resource, context).await?;
    Ok(allowed.record(db).await?)
}

/// An allowed decision whose evidence is not written yet. It becomes the
/// proof a domain call needs only by being written: on its own
/// ([`Allowed::record`]) or with the first change it allows, in the
/// caller's transaction ([`Allowed::record_in`]) or by a write that commits
/// both at once ([`Allowed::record_with`]), so that the evidence and the
/// change are one durable commit, and neither exists without the other.
#[must_use = "an allowed decision is evidence: record it before it has any effect"]
#[derive(Debug)]
pub struct Allowed<A: ActionKind> {
    event: AuditEvent,
    principal: PartyId,
    _action: PhantomData<A>,
}

impl<A: ActionKind> Allowed<A> {
    /// Writes the decision in its own commit and returns the proof.
    pub async fn record(self, db: &Db) -> Result<Authorized<A>, DbError> {
        audit::append(db.pool(), &self.event).await?;
        Ok(self.proof())
    }

    /// Writes the decision inside the caller's transaction and returns the
    /// proof; the decision is on record once that transaction commits.
    pub async fn record_in(self, tx: &mut sqlx::AnyConnection) -> Result<Authorized<A>, DbError> {
        audit::append(&mut *tx, &self.event).await?;
        Ok(self.proof())
    }

    /// Writes the decision by `write`, which puts the evidence it is given
    /// on record in the same commit as the first change it allows (on
    /// PostgreSQL in the same statement, see [`audit::event_insert`]), or
    /// fails. Answers the proof and what `write` answered.
    pub async fn record_with<T, E>(
        self,
        write: impl AsyncFnOnce(&AuditEvent) -> Result<T, E>,
    ) -> Result<(Authorized<A>, T), E> {
        let written = write(&self.event).await?;
        Ok((self.proof(), written))
    }

    fn proof(self) -> Authorized<A> {
        Authorized {
            principal: self.principal,
            _action: PhantomData,
        }
    }
}

/// Decides whether `principal` may perform `A` on `resource`. A refusal is
/// audited at once and returned as the error; an allowance comes back
/// unrecorded, for the caller to record with the change it makes.
pub async fn decide<A: ActionKind>(
    engine: &PolicyEngine,
    db: &Db,
    meta: RequestMeta<'_>,
    principal: &Party,
    resource: Resource<'_>,
    context: serde_json::Value,
) -> Result<Allowed<A>, PolicyError> {
    let decision = engine.decide(principal, A::ACTION, &resource, context.clone())?;
    let principal_name = format!("party:{}", principal.id);
    let event = decision_event(
        engine,
        &meta,
        &principal_name,
        A::ACTION,
        &resource,
        context,
        &decision,
    );
    if decision.allowed {
        return Ok(Allowed {
            event,
            principal: principal.id.clone(),
            _action: PhantomData,
        });
    }
    audit::append(db.pool(), &event).await?;
    if !principal.is_active() {
        Err(PolicyError::PartyDisabled {
            party: principal.id.clone(),
        })
    } else {
        Err(PolicyError::Denied {
            party: principal.id.clone(),
            action: A::ACTION,
            problems: decision.problems,
        })
    }
}

/// Decides whether an unauthenticated caller may perform `A` (the policy
/// sees it as `Ponte::Anonymous`), audits the decision, and returns the proof.
pub async fn authorize_anonymous<A: ActionKind>(
    engine: &PolicyEngine,
    db: &Db,
    meta: RequestMeta<'_>,
    resource: Resource<'_>,
    context: serde_json::Value,
) -> Result<AuthorizedAnonymous<A>, PolicyError> {
    let decision = engine.decide_anonymous(A::ACTION, &resource, context.clone())?;
    let event = decision_event(
        engine,
        &meta,
        "anonymous",
        A::ACTION,
        &resource,
        context,
        &decision,
    );
    audit::append(db.pool(), &event).await?;
    if decision.allowed {
        Ok(AuthorizedAnonymous {
            _action: PhantomData,
        })
    } else {
        Err(PolicyError::DeniedAnonymous { action: A::ACTION })
    }
}

/// The audit event of a decision, allow or deny.
fn decision_event(
    engine: &PolicyEngine,
    meta: &RequestMeta<'_>,
    principal: &str,
    action: Action,
    resource: &Resource<'_>,
    context: serde_json::Value,
    decision: &Decision,
) -> AuditEvent {
    AuditEvent {
        at: meta.at.to_owned(),
        request_id: meta.request_id.map(str::to_owned),
        principal: principal.to_owned(),
        action: action.name().to_owned(),
        resource: resource.audit_id(),
        outcome: if decision.allowed {
            Outcome::Allow
        } else {
            Outcome::Deny
        },
        policy_ids: decision.policy_ids.clone(),
        policy_set: engine.version().to_owned(),
        detail: if decision.errors.is_empty() {
            serde_json::json!({ "context": context })
        } else {
            serde_json::json!({ "context": context, "errors": decision.errors })
        },
    }
}
