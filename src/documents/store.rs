//! Document queries. The database decides what exists: a document exists
//! once its row commits, in the same transaction as its recipients, the end
//! of its pending upload and its evidence.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::correction::Agreement;
use super::{DocumentError, DocumentId, DocumentType, SubjectId};
use crate::audit::{self, AuditEvent};
use crate::cases::CaseId;
use crate::consent::Purpose;
use crate::jose::Jwk;
use crate::parties::PartyId;
use crate::storage::{Db, Engine};

/// A stored document, as metadata: never its content.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    pub id: DocumentId,
    pub case: CaseId,
    pub document_type: DocumentType,
    pub purpose: Purpose,
    pub author: PartyId,
    pub author_kid: String,
    pub subjects: Vec<SubjectId>,
    pub manifest: String,
    pub manifest_sha256: String,
    pub envelope_sha256: String,
    /// The envelope without its ciphertext (JSON).
    pub envelope_head: String,
    pub recipients_end: u64,
    pub size: u64,
    /// `None` once the content was erased.
    pub object_key: Option<String>,
    pub supersedes: Option<DocumentId>,
    pub is_current: bool,
    pub receipt: String,
    pub received_at: String,
}

/// One recipient entry of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRecord {
    pub kid: String,
    pub party: PartyId,
    pub added_by: PartyId,
    pub added_at: String,
    /// The JSON recipient entry a share added; `None` for the original entries.
    pub share_entry: Option<String>,
}

/// A document as a listing shows it: what it is, never what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentView {
    pub id: DocumentId,
    pub case: CaseId,
    pub document_type: DocumentType,
    pub purpose: Purpose,
    pub author: PartyId,
    pub received_at: String,
    pub size: u64,
    pub envelope_sha256: String,
    pub supersedes: Option<DocumentId>,
    /// False once a later document superseded it.
    pub current: bool,
    /// The broker-signed receipt.
    pub receipt: String,
}

impl From<&DocumentRecord> for DocumentView {
    fn from(d: &DocumentRecord) -> Self {
        DocumentView {
            id: d.id.clone(),
            case: d.case.clone(),
            document_type: d.document_type,
            purpose: d.purpose,
            author: d.author.clone(),
            received_at: d.received_at.clone(),
            size: d.size,
            envelope_sha256: d.envelope_sha256.clone(),
            supersedes: d.supersedes.clone(),
            current: d.is_current,
            receipt: d.receipt.clone(),
        }
    }
}

const COLUMNS: &str = "id, case_id, document_type, purpose, author, author_kid, subjects, manifest, manifest_sha256, \
     envelope_sha256, envelope_head, recipients_end, size, object_key, supersedes, is_current, receipt, received_at";

fn record(row: &AnyRow) -> Result<DocumentRecord, DocumentError> {
    let text =
        |name: &str| -> Result<String, DocumentError> { Ok(row.try_get::<String, _>(name)?) };
    let corrupt = |what: &str| DocumentError::Manifest(format!("stored {what} is not readable"));
    Ok(DocumentRecord {
        id: DocumentId::parse(&text("id")?)?,
        case: CaseId::parse(&text("case_id")?)?,
        document_type: text("document_type")?.parse()?,
        purpose: text("purpose")?.parse().map_err(|_| corrupt("purpose"))?,
        author: PartyId::parse(&text("author")?)?,
        author_kid: text("author_kid")?,
        subjects: serde_json::from_str(&text("subjects")?).map_err(|_| corrupt("subjects"))?,
        manifest: text("manifest")?,
        manifest_sha256: text("manifest_sha256")?,
        envelope_sha256: text("envelope_sha256")?,
        envelope_head: text("envelope_head")?,
        recipients_end: row.try_get::<i64, _>("recipients_end")? as u64,
        size: row.try_get::<i64, _>("size")? as u64,
        object_key: row.try_get("object_key")?,
        supersedes: row
            .try_get::<Option<String>, _>("supersedes")?
            .map(|s| DocumentId::parse(&s))
            .transpose()?,
        is_current: row.try_get::<i64, _>("is_current")? == 1,
        receipt: text("receipt")?,
        received_at: text("received_at")?,
    })
}

pub async fn find(db: &Db, id: &DocumentId) -> Result<Option<DocumentRecord>, DocumentError> {
    let row = sqlx::query(&format!("select {COLUMNS} from document where id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(record).transpose()
}

/// The documents of a case that `party` authored or receives, oldest first.
pub async fn list_visible(
    db: &Db,
    case: &CaseId,
    party: &PartyId,
) -> Result<Vec<DocumentRecord>, DocumentError> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from document d where d.case_id = $1 and (d.author = $2 or exists
           (select 1 from document_recipient r where r.document_id = d.id and r.party_id = $2))
         order by d.received_at, d.id"
    ))
    .bind(case.as_str())
    .bind(party.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}

/// Every document of a case, oldest first.
pub async fn list_for_case(db: &Db, case: &CaseId) -> Result<Vec<DocumentRecord>, DocumentError> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from document where case_id = $1 order by received_at, id"
    ))
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}

/// Every recipient entry, originals first, then shares in the order made.
pub async fn recipients(db: &Db, id: &DocumentId) -> Result<Vec<RecipientRecord>, DocumentError> {
    let rows = sqlx::query(
        "select kid, party_id, added_by, added_at, share_entry from document_recipient where document_id = $1
         order by case when share_entry is null then 0 else 1 end, added_at, kid",
    )
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RecipientRecord {
                kid: row.try_get("kid")?,
                party: PartyId::parse(&row.try_get::<String, _>("party_id")?)?,
                added_by: PartyId::parse(&row.try_get::<String, _>("added_by")?)?,
                added_at: row.try_get("added_at")?,
                share_entry: row.try_get("share_entry")?,
            })
        })
        .collect()
}

/// Records an upload before its first byte is written, so an interrupted
/// one can be swept, with `evidence` (the decision that allowed it) in the
/// same commit. On PostgreSQL that is one statement, one round trip.
pub async fn begin_upload(
    db: &Db,
    evidence: &AuditEvent,
    object_key: &str,
    epoch: i64,
) -> Result<(), DocumentError> {
    match db.engine() {
        Engine::Postgres => {
            let sql = format!(
                "with evidence as ({}) insert into pending_upload (object_key, started_epoch) values ($10, $11)",
                audit::event_insert(1)
            );
            audit::bind_event(sqlx::query(&sql), evidence)
                .bind(object_key)
                .bind(epoch)
                .execute(db.pool())
                .await?;
        }
        Engine::Sqlite => {
            let mut tx = db.begin().await?;
            audit::append(&mut *tx, evidence).await?;
            sqlx::query("insert into pending_upload (object_key, started_epoch) values ($1, $2)")
                .bind(object_key)
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Forgets a pending upload (after its object was deleted).
pub async fn forget_upload(db: &Db, object_key: &str) -> Result<(), DocumentError> {
    sqlx::query("delete from pending_upload where object_key = $1")
        .bind(object_key)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Uploads started before `epoch` that never became a document.
pub async fn stale_uploads(db: &Db, epoch: i64) -> Result<Vec<String>, DocumentError> {
    let rows = sqlx::query(
        "select object_key from pending_upload where started_epoch <= $1 order by started_epoch",
    )
    .bind(epoch)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?))
        .collect()
}

/// A document written in a transaction that has not committed: nobody
/// sees it until [`Staged::commit`], and it is gone if dropped.
pub struct Staged {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl Staged {
    /// Makes the document exist.
    pub async fn commit(self) -> Result<(), DocumentError> {
        Ok(self.tx.commit().await?)
    }
}

/// Writes what makes a document exist: its row, its recipients, the
/// supersession, the end of its pending upload and its evidence, in one
/// transaction, left open for the caller to commit once the object is
/// durable. Answers `None` (and changes nothing) if a document with this
/// id already exists. The evidence joins the audit log's queue, and becomes
/// a leaf with the next integration (the broker's own, every
/// `integrate_interval_ms`, or the one a request for evidence or a
/// checkpoint runs first).
pub async fn stage(
    db: &Db,
    doc: &DocumentRecord,
    recipients: &[RecipientRecord],
    evidence: &AuditEvent,
    correction: Option<(&Agreement, &Jwk)>,
) -> Result<Option<Staged>, DocumentError> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(&format!(
        "insert into document ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         on conflict do nothing"
    ))
    .bind(doc.id.as_str())
    .bind(doc.case.as_str())
    .bind(doc.document_type.as_str())
    .bind(doc.purpose.as_str())
    .bind(doc.author.as_str())
    .bind(&doc.author_kid)
    .bind(serde_json::to_string(&doc.subjects).unwrap_or_default())
    .bind(&doc.manifest)
    .bind(&doc.manifest_sha256)
    .bind(&doc.envelope_sha256)
    .bind(&doc.envelope_head)
    .bind(doc.recipients_end as i64)
    .bind(doc.size as i64)
    .bind(doc.object_key.as_deref())
    .bind(doc.supersedes.as_ref().map(DocumentId::as_str))
    .bind(i64::from(doc.is_current))
    .bind(&doc.receipt)
    .bind(&doc.received_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    insert_recipients(&mut tx, &doc.id, recipients).await?;
    if let Some(old) = &doc.supersedes {
        let updated = sqlx::query(
            "update document set is_current = 0 where id = $1 and case_id = $2 and is_current = 1",
        )
        .bind(old.as_str())
        .bind(doc.case.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(DocumentError::Supersede(
                old.clone(),
                "it is not a current document of this case".into(),
            ));
        }
    }
    if let Some(key) = &doc.object_key {
        let pending = sqlx::query("delete from pending_upload where object_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if pending.rows_affected() != 1 {
            // The sweep took this upload for abandoned and removed its object.
            return Err(DocumentError::Incomplete(
                "the upload outlived the sweep's grace period".into(),
            ));
        }
    }
    if let Some((agreement, broker_key)) = correction {
        super::correction::record(&mut tx, broker_key, doc, agreement).await?;
    }
    audit::append(&mut *tx, evidence).await?;
    Ok(Some(Staged { tx }))
}

/// Inserts recipient entries in one statement; answers how many were new.
async fn insert_recipients(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    doc: &DocumentId,
    recipients: &[RecipientRecord],
) -> Result<u64, DocumentError> {
    if recipients.is_empty() {
        return Ok(0);
    }
    let rows: Vec<String> = (0..recipients.len())
        .map(|i| {
            let b = i * 6;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            )
        })
        .collect();
    let sql = format!(
        "insert into document_recipient (document_id, kid, party_id, added_by, added_at, share_entry)
         values {} on conflict do nothing",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for r in recipients {
        query = query
            .bind(doc.as_str())
            .bind(&r.kid)
            .bind(r.party.as_str())
            .bind(r.added_by.as_str())
            .bind(&r.added_at)
            .bind(r.share_entry.as_deref());
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Adds a shared recipient entry with its evidence; `false` if the key
/// already had an entry.
pub async fn add_share(
    db: &Db,
    doc: &DocumentId,
    r: &RecipientRecord,
    evidence: &AuditEvent,
) -> Result<bool, DocumentError> {
    let mut tx = db.begin().await?;
    if insert_recipients(&mut tx, doc, std::slice::from_ref(r)).await? != 1 {
        return Ok(false);
    }
    audit::append(&mut *tx, evidence).await?;
    tx.commit().await?;
    Ok(true)
}
