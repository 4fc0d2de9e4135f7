//! Withdrawal notices: when a consent ends, every party that received a
//! document under it gets a broker-signed notice in its inbox, reads it,
//! deletes what it received and acknowledges. The ministry sees which
//! acknowledgements are outstanding.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::receipt::WithdrawalNotice;
use super::{ConsentError, ConsentId, ConsentRecord};
use crate::cases::CaseId;
use crate::documents::DocumentId;
use crate::ids;
use crate::jose::Jwk;
use crate::parties::PartyId;
use crate::policy::actions::{AcknowledgeNotice, ListCaseNotices, ListNotices, ReadNotice};
use crate::policy::Authorized;
use crate::storage::Db;

/// A notice in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InboxNotice {
    pub id: String,
    pub consent: ConsentId,
    pub case: CaseId,
    pub party: PartyId,
    /// The broker-signed notice (compact JWS, [`WithdrawalNotice`]).
    pub notice: String,
    pub created_at: String,
    pub read_at: Option<String>,
    pub acknowledged_at: Option<String>,
}

/// Writes the notices a consent change owes, inside its transaction: one
/// per party that received documents under the consent, listing them.
pub(super) async fn issue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    broker_key: &Jwk,
    consent: &ConsentRecord,
    now: &str,
) -> Result<Vec<String>, ConsentError> {
    let rows = sqlx::query(
        "select party_id, document_id from consent_use where consent_id = $1
         order by party_id, document_id",
    )
    .bind(consent.id.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let mut received: Vec<(PartyId, Vec<DocumentId>)> = Vec::new();
    for row in &rows {
        let party = PartyId::parse(&row.try_get::<String, _>("party_id")?)?;
        let document = DocumentId::parse(&row.try_get::<String, _>("document_id")?)
            .map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        match received.last_mut() {
            Some((last, docs)) if *last == party => docs.push(document),
            _ => received.push((party, vec![document])),
        }
    }
    let mut ids = Vec::new();
    for (party, documents) in received {
        let id = ids::random("ntc-").ok_or(ConsentError::Random)?;
        let notice = WithdrawalNotice {
            v: 1,
            notice: id.clone(),
            consent: consent.id.clone(),
            case: consent.case.clone(),
            subject: consent.subject.clone(),
            state: consent.state,
            purposes: consent.purposes.clone(),
            recipient: party.clone(),
            documents,
            instruction: "delete".into(),
            at: now.to_owned(),
        }
        .sign(broker_key)
        .map_err(|e| ConsentError::Sign(e.to_string()))?;
        sqlx::query(
            "insert into withdrawal_notice (id, consent_id, case_id, party_id, notice, created_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(consent.id.as_str())
        .bind(consent.case.as_str())
        .bind(party.as_str())
        .bind(&notice)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

const COLUMNS: &str =
    "id, consent_id, case_id, party_id, notice, created_at, read_at, acknowledged_at";

fn row(row: &AnyRow) -> Result<InboxNotice, ConsentError> {
    Ok(InboxNotice {
        id: row.try_get("id")?,
        consent: ConsentId::parse(&row.try_get::<String, _>("consent_id")?)?,
        case: CaseId::parse(&row.try_get::<String, _>("case_id")?)?,
        party: PartyId::parse(&row.try_get::<String, _>("party_id")?)?,
        notice: row.try_get("notice")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
    })
}

/// The caller's inbox, newest first.
pub async fn inbox(
    db: &Db,
    proof: &Authorized<ListNotices>,
) -> Result<Vec<InboxNotice>, ConsentError> {
    sqlx::query(&format!(
        "select {COLUMNS} from withdrawal_notice where party_id = $1 order by created_at desc, id"
    ))
    .bind(proof.principal().as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(row)
    .collect()
}

async fn own(db: &Db, party: &PartyId, id: &str) -> Result<InboxNotice, ConsentError> {
    sqlx::query(&format!(
        "select {COLUMNS} from withdrawal_notice where id = $1 and party_id = $2"
    ))
    .bind(id)
    .bind(party.as_str())
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(row)
    .transpose()?
    .ok_or_else(|| ConsentError::NoticeNotFound(id.to_owned()))
}

/// One notice of the caller's inbox; the first reading is recorded.
pub async fn read(
    db: &Db,
    proof: &Authorized<ReadNotice>,
    id: &str,
    now: &str,
) -> Result<InboxNotice, ConsentError> {
    own(db, proof.principal(), id).await?;
    sqlx::query(
        "update withdrawal_notice set read_at = $1 where id = $2 and party_id = $3 and read_at is null",
    )
    .bind(now)
    .bind(id)
    .bind(proof.principal().as_str())
    .execute(db.pool())
    .await?;
    own(db, proof.principal(), id).await
}

/// The caller states it deleted what the notice lists.
pub async fn acknowledge(
    db: &Db,
    proof: &Authorized<AcknowledgeNotice>,
    id: &str,
    now: &str,
) -> Result<InboxNotice, ConsentError> {
    own(db, proof.principal(), id).await?;
    sqlx::query(
        "update withdrawal_notice set acknowledged_at = $1, read_at = coalesce(read_at, $1)
         where id = $2 and party_id = $3 and acknowledged_at is null",
    )
    .bind(now)
    .bind(id)
    .bind(proof.principal().as_str())
    .execute(db.pool())
    .await?;
    own(db, proof.principal(), id).await
}

/// Every notice of a case, the outstanding ones (not acknowledged) first.
pub async fn for_case(
    db: &Db,
    _proof: &Authorized<ListCaseNotices>,
    case: &CaseId,
) -> Result<Vec<InboxNotice>, ConsentError> {
    let mut notices: Vec<InboxNotice> = sqlx::query(&format!(
        "select {COLUMNS} from withdrawal_notice where case_id = $1 order by created_at, id"
    ))
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(row)
    .collect::<Result<_, _>>()?;
    notices.sort_by_key(|n| n.acknowledged_at.is_some());
    Ok(notices)
}
