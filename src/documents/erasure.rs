//! Erasure: when a closed case's retention has passed, or on an erasure
//! request where no other lawful basis remains, the case's content key is
//! destroyed (crypto-shredding), its objects deleted, and its document
//! metadata cut down to hashes and receipts. A legal hold set by the
//! ministry or a court stops it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;

use super::{DocumentError, DocumentType};
use crate::audit::{self, AuditEvent};
use crate::cases::{CaseId, CaseState};
use crate::consent::{ConsentState, LawfulBasis, Purpose};
use crate::parties::PartyId;
use crate::policy::actions::{LiftLegalHold, SetLegalHold};
use crate::policy::Authorized;
use crate::storage::{sealed, Db, Objects};

/// How long documents are kept after they were received, per type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub default_days: u32,
    pub by_type: HashMap<DocumentType, u32>,
}

impl Retention {
    pub fn days(&self, document_type: DocumentType) -> u32 {
        self.by_type
            .get(&document_type)
            .copied()
            .unwrap_or(self.default_days)
    }
}

/// Why a case is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    /// The case is closed and every document's retention has passed.
    RetentionPassed,
    /// An erasure request, honoured because no other lawful basis remains.
    Request,
}

impl Ground {
    pub fn as_str(self) -> &'static str {
        match self {
            Ground::RetentionPassed => "retention_passed",
            Ground::Request => "request",
        }
    }
}

/// A legal hold on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LegalHold {
    pub case: CaseId,
    pub set_by: PartyId,
    pub reason: String,
    pub set_at: String,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Erased {
    pub case: CaseId,
    pub ground: Ground,
    pub documents: u64,
    pub objects_deleted: u64,
    pub erased_at: String,
}

/// Why a case may not be erased now.
#[derive(Debug, thiserror::Error)]
pub enum ErasureRefused {
    #[error("case {0} is under a legal hold set by {1}: {2}")]
    LegalHold(CaseId, PartyId, String),
    #[error("case {0} was already erased on {1}")]
    AlreadyErased(CaseId, String),
    #[error("case {0} is {1}, not closed")]
    NotClosed(CaseId, &'static str),
    #[error("document {0} ({1}) is kept until {2}")]
    RetentionRunning(String, DocumentType, String),
    #[error("document {0} was collected for {1}, which rests on {2}: that basis remains")]
    OtherBasis(String, Purpose, &'static str),
    #[error("consent {0} of {1} is still given; it must be withdrawn first")]
    ConsentGiven(String, String),
}

/// Sets a legal hold (or replaces its reason).
pub async fn set_hold(
    db: &Db,
    proof: &Authorized<SetLegalHold>,
    case: &CaseId,
    reason: &str,
    at: &str,
) -> Result<LegalHold, DocumentError> {
    sqlx::query(
        "insert into legal_hold (case_id, set_by, reason, set_at) values ($1, $2, $3, $4)
         on conflict (case_id) do update set set_by = $2, reason = $3, set_at = $4",
    )
    .bind(case.as_str())
    .bind(proof.principal().as_str())
    .bind(reason)
    .bind(at)
    .execute(db.pool())
    .await?;
    Ok(LegalHold {
        case: case.clone(),
        set_by: proof.principal().clone(),
        reason: reason.to_owned(),
        set_at: at.to_owned(),
    })
}

/// Lifts a legal hold; true if there was one.
pub async fn lift_hold(
    db: &Db,
    _proof: &Authorized<LiftLegalHold>,
    case: &CaseId,
) -> Result<bool, DocumentError> {
    let done = sqlx::query("delete from legal_hold where case_id = $1")
        .bind(case.as_str())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The legal hold on a case, if any.
pub async fn hold(db: &Db, case: &CaseId) -> Result<Option<LegalHold>, DocumentError> {
    let Some(row) = sqlx::query("select set_by, reason, set_at from legal_hold where case_id = $1")
        .bind(case.as_str())
        .fetch_optional(db.pool())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(LegalHold {
        case: case.clone(),
        set_by: PartyId::parse(&row.try_get::<String, _>("set_by")?)?,
        reason: row.try_get("reason")?,
        set_at: row.try_get("set_at")?,
    }))
}

/// Decides whether the case may be erased now on `ground`; `Ok(None)` when it may.
pub async fn refusal(
    db: &Db,
    case: &CaseId,
    state: CaseState,
    ground: Ground,
    retention: &Retention,
    now: OffsetDateTime,
) -> Result<Option<ErasureRefused>, DocumentError> {
    if let Some(at) =
        sqlx::query_scalar::<_, String>("select erased_at from case_erasure where case_id = $1")
            .bind(case.as_str())
            .fetch_optional(db.pool())
            .await?
    {
        return Ok(Some(ErasureRefused::AlreadyErased(case.clone(), at)));
    }
    if let Some(h) = hold(db, case).await? {
        return Ok(Some(ErasureRefused::LegalHold(
            case.clone(),
            h.set_by,
            h.reason,
        )));
    }
    let documents = sqlx::query(
        "select id, document_type, purpose, received_at from document where case_id = $1 order by received_at",
    )
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?;
    match ground {
        Ground::RetentionPassed => {
            if state != CaseState::Closed {
                return Ok(Some(ErasureRefused::NotClosed(
                    case.clone(),
                    state.as_str(),
                )));
            }
            for row in &documents {
                let document_type: DocumentType =
                    row.try_get::<String, _>("document_type")?.parse()?;
                let received =
                    crate::clock::parse_rfc3339(&row.try_get::<String, _>("received_at")?)
                        .map_err(|e| DocumentError::Manifest(format!("stored time: {e}")))?;
                let until =
                    received + time::Duration::days(i64::from(retention.days(document_type)));
                if until > now {
                    return Ok(Some(ErasureRefused::RetentionRunning(
                        row.try_get("id")?,
                        document_type,
                        crate::clock::rfc3339(until),
                    )));
                }
            }
        }
        Ground::Request => {
            for row in &documents {
                let purpose: Purpose = row
                    .try_get::<String, _>("purpose")?
                    .parse()
                    .map_err(|_| DocumentError::Manifest("stored purpose".into()))?;
                let basis = match purpose.basis() {
                    LawfulBasis::Consent => continue,
                    LawfulBasis::LegalObligation => "a legal obligation",
                    LawfulBasis::PublicTask => "a task in the public interest",
                };
                return Ok(Some(ErasureRefused::OtherBasis(
                    row.try_get("id")?,
                    purpose,
                    basis,
                )));
            }
            let now_text = crate::clock::rfc3339(now);
            let given = sqlx::query(
                "select id, subject_id, valid_until from consent where case_id = $1 and state = $2",
            )
            .bind(case.as_str())
            .bind(ConsentState::Given.as_str())
            .fetch_all(db.pool())
            .await?;
            for row in &given {
                let until: Option<String> = row.try_get("valid_until")?;
                if until.is_none_or(|u| u > now_text) {
                    return Ok(Some(ErasureRefused::ConsentGiven(
                        row.try_get("id")?,
                        row.try_get("subject_id")?,
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// Erases a case's content without checking why: callers check
/// [`refusal`] first (the CLI and the retention sweep do).
pub async fn unchecked_erase(
    db: &Db,
    objects: &Objects,
    case: &CaseId,
    ground: Ground,
    by: &str,
    now: &str,
) -> Result<Erased, DocumentError> {
    // The key goes first: from this instant nothing of the case can be read.
    sealed::unchecked_destroy_case_key(db, case.as_str(), now).await?;
    let keys: Vec<(String, Option<String>)> =
        sqlx::query("select id, object_key from document where case_id = $1")
            .bind(case.as_str())
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("object_key")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let mut deleted = 0;
    for key in keys.iter().filter_map(|(_, key)| key.as_deref()) {
        objects.delete(key).await?;
        deleted += 1;
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "update document set object_key = null, manifest = '', envelope_head = '', subjects = '[]'
         where case_id = $1",
    )
    .bind(case.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update document_recipient set share_entry = null
         where document_id in (select id from document where case_id = $1)",
    )
    .bind(case.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into case_erasure (case_id, reason, erased_by, erased_at, documents) values ($1, $2, $3, $4, $5)",
    )
    .bind(case.as_str())
    .bind(ground.as_str())
    .bind(by)
    .bind(now)
    .bind(keys.len() as i64)
    .execute(&mut *tx)
    .await?;
    let mut event = AuditEvent::operator("CaseErased", &format!("case:{case}"), now).detail(
        serde_json::json!({ "ground": ground.as_str(), "documents": keys.len(), "objects_deleted": deleted }),
    );
    event.principal = by.to_owned();
    audit::append(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(Erased {
        case: case.clone(),
        ground,
        documents: keys.len() as u64,
        objects_deleted: deleted,
        erased_at: now.to_owned(),
    })
}

/// Erases every closed case whose retention has passed and that no hold
/// keeps (run by the broker's housekeeping on every replica; erasing is
/// idempotent up to the final commit, and a case is recorded once).
pub async fn sweep(
    db: &Db,
    objects: &Objects,
    retention: &Retention,
    now: OffsetDateTime,
) -> Result<Vec<Erased>, DocumentError> {
    let closed: Vec<String> = sqlx::query_scalar(
        "select id from tracing_case where state = $1
         and id not in (select case_id from case_erasure)",
    )
    .bind(CaseState::Closed.as_str())
    .fetch_all(db.pool())
    .await?;
    let mut erased = Vec::new();
    for id in closed {
        let case = CaseId::parse(&id)?;
        if refusal(
            db,
            &case,
            CaseState::Closed,
            Ground::RetentionPassed,
            retention,
            now,
        )
        .await?
        .is_none()
        {
            let at = crate::clock::rfc3339(now);
            erased.push(
                unchecked_erase(db, objects, &case, Ground::RetentionPassed, "broker", &at).await?,
            );
        }
    }
    Ok(erased)
}
