//! Changes of a consent after it was recorded: withdrawn by the person
//! (with their code, or by the collector on their behalf), revoked or
//! invalidated by a court. Each is one transaction with its history entry
//! and the withdrawal notices it owes.

use super::store::{find, history_entry, insert_change};
use super::{notices, ConsentChange, ConsentError, ConsentRecord, ConsentState};
use crate::jose::Jwk;
use crate::policy::actions::{ChangeConsent, WithdrawConsentWithCode};
use crate::policy::{Authorized, AuthorizedAnonymous};
use crate::storage::Db;

/// A change a party makes to a consent.
#[derive(Debug, Clone)]
pub struct Change {
    pub to: ConsentState,
    pub reason: Option<String>,
}

/// What a change returns: the record after it, its history entry, and the
/// ids of the withdrawal notices it sent.
#[derive(Debug, Clone)]
pub struct Changed {
    pub record: ConsentRecord,
    pub change: ConsentChange,
    pub notices: Vec<String>,
}

/// Whether a party in `role` may move a consent to `to` is the policy's
/// to decide; whether the record can move there at all is decided here.
fn transition(record: &ConsentRecord, to: ConsentState, now: &str) -> Result<(), ConsentError> {
    let from = record.state_at(now);
    let allowed = match to {
        ConsentState::Withdrawn | ConsentState::Revoked => from == ConsentState::Given,
        ConsentState::Invalidated => matches!(from, ConsentState::Given | ConsentState::Refused),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ConsentError::Transition {
            id: record.id.clone(),
            state: from,
            to,
        })
    }
}

/// Changes a consent on a party's authority: the collector withdrawing on
/// the person's behalf, a court revoking or invalidating it.
pub async fn change(
    db: &Db,
    broker_key: &Jwk,
    proof: &Authorized<ChangeConsent>,
    record: &ConsentRecord,
    change: Change,
    now: &str,
) -> Result<Changed, ConsentError> {
    let on_behalf = change.to == ConsentState::Withdrawn;
    apply(
        db,
        broker_key,
        record,
        change,
        &format!("party:{}", proof.principal()),
        on_behalf,
        now,
    )
    .await
}

/// Withdraws a consent for the person who holds its code.
pub async fn withdraw_with_code(
    db: &Db,
    broker_key: &Jwk,
    _proof: &AuthorizedAnonymous<WithdrawConsentWithCode>,
    record: &ConsentRecord,
    reason: Option<String>,
    now: &str,
) -> Result<Changed, ConsentError> {
    let change = Change {
        to: ConsentState::Withdrawn,
        reason,
    };
    apply(db, broker_key, record, change, "subject", false, now).await
}

async fn apply(
    db: &Db,
    broker_key: &Jwk,
    record: &ConsentRecord,
    change: Change,
    changed_by: &str,
    on_behalf: bool,
    now: &str,
) -> Result<Changed, ConsentError> {
    transition(record, change.to, now)?;
    let mut next = record.clone();
    next.state = change.to;
    next.version += 1;
    next.changed_at = now.to_owned();
    let entry = history_entry(broker_key, &next, changed_by, on_behalf, change.reason)?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "update consent set state = $1, version = $2, changed_at = $3, code_sha256 = null
         where id = $4 and version = $5",
    )
    .bind(next.state.as_str())
    .bind(next.version)
    .bind(&next.changed_at)
    .bind(next.id.as_str())
    .bind(record.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        // Another change committed first; the caller sees the state it made.
        let current = find(db, &record.id)
            .await?
            .ok_or_else(|| ConsentError::NotFound(record.id.clone()))?;
        return Err(ConsentError::Transition {
            id: record.id.clone(),
            state: current.state_at(now),
            to: change.to,
        });
    }
    insert_change(&mut tx, &next.id, &entry).await?;
    let notices = notices::issue(&mut tx, broker_key, &next, now).await?;
    tx.commit().await?;
    Ok(Changed {
        record: next,
        change: entry,
        notices,
    })
}
