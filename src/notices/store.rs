//! Notice queries: the inbox (paged, newest first), reading and
//! acknowledging, a case's notices, and the parties' webhooks.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{InboxNotice, Notice, NoticeError, NoticeKind};
use crate::audit::{self, AuditEvent};
use crate::cases::CaseId;
use crate::ids;
use crate::jose::Jwk;
use crate::parties::PartyId;
use crate::policy::actions::{
    AcknowledgeNotice, ListCaseNotices, ListNotices, ReadNotice, RemoveWebhook, SetWebhook,
};
use crate::policy::Authorized;
use crate::storage::Db;

/// Signs a notice of `kind` for `party` and writes it, inside the caller's
/// transaction so the notice exists exactly when its cause does.
pub async fn issue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    broker_key: &Jwk,
    party: &PartyId,
    case: Option<&CaseId>,
    kind: NoticeKind,
    body: serde_json::Value,
    now: &str,
) -> Result<String, NoticeError> {
    let id = ids::random("ntc-").ok_or(NoticeError::Random)?;
    let body = match body {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let token = Notice {
        v: 1,
        notice: id.clone(),
        kind,
        case: case.cloned(),
        recipient: party.clone(),
        at: now.to_owned(),
        body,
    }
    .sign(broker_key)
    .map_err(|e| NoticeError::Sign(e.to_string()))?;
    insert(tx, &id, party, case, kind, &token, now).await?;
    Ok(id)
}

/// Writes a signed notice and, when the party registered a webhook, its
/// delivery in the outbox (due at once).
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    party: &PartyId,
    case: Option<&CaseId>,
    kind: NoticeKind,
    token: &str,
    now: &str,
) -> Result<(), NoticeError> {
    sqlx::query(
        "insert into notice (id, party_id, case_id, kind, notice, created_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(party.as_str())
    .bind(case.map(CaseId::as_str))
    .bind(kind.as_str())
    .bind(token)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "insert into notice_delivery (notice_id, url, attempts, next_at_ms)
         select $1, url, 0, 0 from party_webhook where party_id = $2",
    )
    .bind(id)
    .bind(party.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const SELECT: &str =
    "select n.id, n.kind, n.case_id, n.party_id, n.notice, n.created_at, n.read_at,
     n.acknowledged_at, d.delivered_at
     from notice n left join notice_delivery d on d.notice_id = n.id";

fn row(row: &AnyRow) -> Result<InboxNotice, NoticeError> {
    let corrupt = |e: &dyn std::fmt::Display| NoticeError::Corrupt(e.to_string());
    Ok(InboxNotice {
        id: row.try_get("id")?,
        kind: row.try_get::<String, _>("kind")?.parse()?,
        case: row
            .try_get::<Option<String>, _>("case_id")?
            .map(|c| CaseId::parse(&c))
            .transpose()
            .map_err(|e| corrupt(&e))?,
        party: PartyId::parse(&row.try_get::<String, _>("party_id")?).map_err(|e| corrupt(&e))?,
        notice: row.try_get("notice")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

/// One page of an inbox, newest first; `next` fetches the page after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InboxPage {
    pub notices: Vec<InboxNotice>,
    /// The cursor of the next (older) page; absent on the last page.
    pub next: Option<String>,
}

/// The largest page an inbox returns.
pub const MAX_PAGE: u32 = 200;

fn cursor_of(notice: &InboxNotice) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{}", notice.created_at, notice.id))
}

fn parse_cursor(raw: &str) -> Result<(String, String), NoticeError> {
    let invalid = || NoticeError::InvalidCursor(raw.to_owned());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    if !ids::is_random("ntc-", id) {
        return Err(invalid());
    }
    Ok((at.to_owned(), id.to_owned()))
}

/// A page of the caller's inbox, newest first, optionally of one kind.
pub async fn inbox(
    db: &Db,
    proof: &Authorized<ListNotices>,
    kind: Option<NoticeKind>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<InboxPage, NoticeError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (at, id) = match cursor {
        Some(raw) => parse_cursor(raw)?,
        // Later than any RFC 3339 time: the first page.
        None => ("~".to_owned(), String::new()),
    };
    let mut notices = sqlx::query(&format!(
        "{SELECT} where n.party_id = $1 and ($2 = '' or n.kind = $2)
         and (n.created_at < $3 or (n.created_at = $3 and n.id < $4))
         order by n.created_at desc, n.id desc limit $5"
    ))
    .bind(proof.principal().as_str())
    .bind(kind.map(NoticeKind::as_str).unwrap_or(""))
    .bind(&at)
    .bind(if cursor.is_some() { id.as_str() } else { "~" })
    .bind(i64::from(limit) + 1)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(row)
    .collect::<Result<Vec<_>, _>>()?;
    let next = if notices.len() > limit as usize {
        notices.truncate(limit as usize);
        notices.last().map(cursor_of)
    } else {
        None
    };
    Ok(InboxPage { notices, next })
}

async fn own(db: &Db, party: &PartyId, id: &str) -> Result<InboxNotice, NoticeError> {
    sqlx::query(&format!("{SELECT} where n.id = $1 and n.party_id = $2"))
        .bind(id)
        .bind(party.as_str())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(row)
        .transpose()?
        .ok_or_else(|| NoticeError::NotFound(id.to_owned()))
}

/// One notice of the caller's inbox; the first reading is recorded.
pub async fn read(
    db: &Db,
    proof: &Authorized<ReadNotice>,
    id: &str,
    now: &str,
) -> Result<InboxNotice, NoticeError> {
    own(db, proof.principal(), id).await?;
    sqlx::query(
        "update notice set read_at = $1 where id = $2 and party_id = $3 and read_at is null",
    )
    .bind(now)
    .bind(id)
    .bind(proof.principal().as_str())
    .execute(db.pool())
    .await?;
    own(db, proof.principal(), id).await
}

/// The caller acknowledges a notice (for a withdrawal: it deleted what the
/// notice lists). The first acknowledgement is evidence; repeating it
/// changes nothing.
pub async fn acknowledge(
    db: &Db,
    proof: &Authorized<AcknowledgeNotice>,
    id: &str,
    now: &str,
) -> Result<InboxNotice, NoticeError> {
    let notice = own(db, proof.principal(), id).await?;
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "update notice set acknowledged_at = $1, read_at = coalesce(read_at, $1)
         where id = $2 and party_id = $3 and acknowledged_at is null",
    )
    .bind(now)
    .bind(id)
    .bind(proof.principal().as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        let event = AuditEvent::evidence(
            proof.principal(),
            "NoticeAcknowledged",
            &format!("notice:{id}"),
            now,
        )
        .detail(serde_json::json!({ "kind": notice.kind, "case": notice.case }));
        audit::append(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    own(db, proof.principal(), id).await
}

/// Every notice of a case, the outstanding ones (not acknowledged) first.
pub async fn for_case(
    db: &Db,
    _proof: &Authorized<ListCaseNotices>,
    case: &CaseId,
) -> Result<Vec<InboxNotice>, NoticeError> {
    let mut notices: Vec<InboxNotice> = sqlx::query(&format!(
        "{SELECT} where n.case_id = $1 order by n.created_at, n.id"
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

/// A party's webhook: where its notices are pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Webhook {
    pub party: PartyId,
    pub url: String,
    pub set_at: String,
}

/// Registers (or replaces) the caller's webhook. Notices issued from now
/// on are pushed there; those already in the outbox keep their address.
pub async fn set_webhook(
    db: &Db,
    proof: &Authorized<SetWebhook>,
    url: &str,
    now: &str,
) -> Result<Webhook, NoticeError> {
    let url = super::delivery::check_url(url)?;
    sqlx::query(
        "insert into party_webhook (party_id, url, set_at) values ($1, $2, $3)
         on conflict (party_id) do update set url = $2, set_at = $3",
    )
    .bind(proof.principal().as_str())
    .bind(&url)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(Webhook {
        party: proof.principal().clone(),
        url,
        set_at: now.to_owned(),
    })
}

/// Removes the caller's webhook: its notices stay in the inbox only.
pub async fn remove_webhook(db: &Db, proof: &Authorized<RemoveWebhook>) -> Result<(), NoticeError> {
    let done = sqlx::query("delete from party_webhook where party_id = $1")
        .bind(proof.principal().as_str())
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(NoticeError::NoWebhook);
    }
    Ok(())
}

/// A party's webhook, if it registered one.
pub async fn webhook(db: &Db, party: &PartyId) -> Result<Option<Webhook>, NoticeError> {
    let row = sqlx::query("select url, set_at from party_webhook where party_id = $1")
        .bind(party.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(Webhook {
            party: party.clone(),
            url: r.try_get("url")?,
            set_at: r.try_get("set_at")?,
        })
    })
    .transpose()
}
