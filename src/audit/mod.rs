//! Audit events: every authorization decision (allow and deny, with the ids
//! of the deciding policies and the policy-set version) and every operator
//! change. Events hold ids, hashes and decisions, never personal data.
//!
//! The events table refuses update and delete on both databases, and every
//! event becomes a leaf of an RFC 6962 Merkle tree ([`log`](crate::audit::log)) whose signed
//! checkpoints ([`checkpoint`](crate::audit::checkpoint)) make any rewrite evident ([`verify`](crate::audit::verify)).

pub mod access;
pub mod checkpoint;
pub mod log;
pub mod merkle;
pub mod verify;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::parties::PartyId;
use crate::storage::{Db, DbError};

/// What became of a request or change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A policy allowed the request.
    Allow,
    /// A policy (or the absence of a permit) refused it.
    Deny,
    /// An operator change, made with database access rather than a policy.
    Done,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Done => "done",
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: String,
    pub request_id: Option<String>,
    /// `party:<id>`, or `operator` for administrative commands.
    pub principal: String,
    pub action: String,
    /// `case:<id>`, `party:<id>`, or `broker`.
    pub resource: String,
    pub outcome: Outcome,
    pub policy_ids: Vec<String>,
    /// Version (hash) of the policy set that decided; empty for operator changes.
    pub policy_set: String,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An operator change.
    pub fn operator(action: &str, resource: &str, at: &str) -> AuditEvent {
        AuditEvent {
            at: at.to_owned(),
            request_id: None,
            principal: "operator".into(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            outcome: Outcome::Done,
            policy_ids: Vec::new(),
            policy_set: String::new(),
            detail: serde_json::Value::Null,
        }
    }

    /// Evidence of something a party did (or the broker did for it) that
    /// no policy decision covers on its own: an acknowledgement, a delivery.
    pub fn evidence(party: &PartyId, action: &str, resource: &str, at: &str) -> AuditEvent {
        AuditEvent {
            principal: format!("party:{party}"),
            ..AuditEvent::operator(action, resource, at)
        }
    }

    /// Evidence of the broker's own doing (a notice pushed).
    pub fn broker(action: &str, resource: &str, at: &str) -> AuditEvent {
        AuditEvent {
            principal: "broker".into(),
            ..AuditEvent::operator(action, resource, at)
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }
}

tokio::task_local! {
    /// Set when a refusal goes on record while serving one request.
    static REFUSAL_RECORDED: Arc<AtomicBool>;
}

/// Runs `work`, the serving of one request, and says whether it put a
/// refusal on record: the HTTP layer records a refused request that nobody
/// recorded, and must not record one twice. Every refusal is written on its
/// own, never in a transaction that could roll back, so a refusal noted here
/// is on record.
pub async fn noting_refusals<F: Future>(work: F) -> (F::Output, bool) {
    let recorded = Arc::new(AtomicBool::new(false));
    let output = REFUSAL_RECORDED.scope(recorded.clone(), work).await;
    (output, recorded.load(Ordering::Relaxed))
}

fn note_refusals(events: &[AuditEvent]) {
    if events.iter().any(|e| e.outcome == Outcome::Deny) {
        // Outside a request's scope (the CLI, background work) there is
        // nobody to tell.
        let _ = REFUSAL_RECORDED.try_with(|recorded| recorded.store(true, Ordering::Relaxed));
    }
}

/// Appends an event, inside the caller's transaction when given one.
pub async fn append<'e, E>(executor: E, event: &AuditEvent) -> Result<(), DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    bind_event(sqlx::query(&event_insert(1)), event)
        .execute(executor)
        .await?;
    note_refusals(std::slice::from_ref(event));
    Ok(())
}

/// The statement that appends one event, returning its `seq`, with its
/// parameters numbered from `$first` (bound by [`bind_event`]). On
/// PostgreSQL it also goes in the `with` clause of a statement that writes
/// what the event is evidence of, so both are one round trip.
pub fn event_insert(first: usize) -> String {
    let values: Vec<String> = (first..first + 9).map(|n| format!("${n}")).collect();
    format!(
        "insert into audit_event ({EVENT_INSERT_COLUMNS}) values ({}) returning seq",
        values.join(", ")
    )
}

/// The columns an appended event fills, in the order [`bind_event`] binds.
const EVENT_INSERT_COLUMNS: &str =
    "at, request_id, principal, action, resource, decision, policy_ids, policy_set, detail";

/// Binds an event's values, in the order of [`event_insert`]'s parameters.
/// A refusal is never bound into a larger statement: it goes on record on
/// its own ([`append`]), so that nothing can roll it back.
pub fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    event: &'q AuditEvent,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&event.at)
        .bind(event.request_id.as_deref())
        .bind(&event.principal)
        .bind(&event.action)
        .bind(&event.resource)
        .bind(event.outcome.as_str())
        .bind(serde_json::to_string(&event.policy_ids).unwrap_or_default())
        .bind(&event.policy_set)
        .bind(event.detail.to_string())
}

/// Appends many events in one statement (inside the caller's transaction
/// when given one): the batch path for bulk evidence and the benchmark.
pub async fn append_many<'e, E>(executor: E, events: &[AuditEvent]) -> Result<(), DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let b = i * 9;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            )
        })
        .collect();
    let sql = format!(
        "insert into audit_event ({EVENT_INSERT_COLUMNS}) values {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for event in events {
        query = bind_event(query, event);
    }
    query.execute(executor).await?;
    note_refusals(events);
    Ok(())
}

/// The newest events, newest first, with their sequence numbers.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<(i64, AuditEvent)>, DbError> {
    let rows = sqlx::query(
        "select seq, at, request_id, principal, action, resource, decision, policy_ids, policy_set, detail
         from audit_event order by seq desc limit $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let outcome = match row.try_get::<String, _>("decision")?.as_str() {
                "allow" => Outcome::Allow,
                "deny" => Outcome::Deny,
                _ => Outcome::Done,
            };
            let json = |col: &str| -> Result<serde_json::Value, sqlx::Error> {
                let text: String = row.try_get(col)?;
                Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
            };
            let event = AuditEvent {
                at: row.try_get("at")?,
                request_id: row.try_get("request_id")?,
                principal: row.try_get("principal")?,
                action: row.try_get("action")?,
                resource: row.try_get("resource")?,
                outcome,
                policy_ids: serde_json::from_value(json("policy_ids")?).unwrap_or_default(),
                policy_set: row.try_get("policy_set")?,
                detail: json("detail")?,
            };
            Ok((row.try_get::<i64, _>("seq")?, event))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}
