//! Consent queries: records as stated by the collecting party, their
//! history, the codes that let a person withdraw, and whom a consent let
//! receive what. Every change of a consent is one transaction: the
//! record's new state and version, its history entry with the signed
//! receipt, and the withdrawal notices it owes (see `change`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::receipt::ConsentReceipt;
use super::subjects::unchecked_find_subject;
use super::{
    code, ConsentChange, ConsentError, ConsentId, ConsentRecipient, ConsentRecord, ConsentState,
    GivenBy, LawfulBasis, Notice, Purpose,
};
use crate::cases::CaseId;
use crate::documents::{DocumentId, DocumentType, SubjectId};
use crate::jose::Jwk;
use crate::parties::PartyId;
use crate::policy::actions::{ListConsents, RecordConsent};
use crate::policy::Authorized;
use crate::storage::Db;

/// A consent as the collecting party states it.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub subject: SubjectId,
    pub state: ConsentState,
    pub given_by: GivenBy,
    pub purposes: Vec<Purpose>,
    pub recipients: Vec<ConsentRecipient>,
    pub document_types: Vec<DocumentType>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub notice: Notice,
    pub evidence: DocumentId,
}

impl NewConsent {
    /// Checks what needs no database: the state, the scope and the validity.
    fn check(&self, now: &str) -> Result<(), ConsentError> {
        if !matches!(self.state, ConsentState::Given | ConsentState::Refused) {
            return Err(ConsentError::Invalid(format!(
                "a new consent is given or refused, not {}",
                self.state
            )));
        }
        if let Some(p) = self
            .purposes
            .iter()
            .find(|p| p.basis() != LawfulBasis::Consent)
        {
            return Err(ConsentError::Invalid(format!(
                "purpose {p} rests on {:?}, not on consent",
                p.basis()
            )));
        }
        for (what, empty) in [
            ("purposes", self.purposes.is_empty()),
            ("recipients", self.recipients.is_empty()),
            ("document_types", self.document_types.is_empty()),
        ] {
            if empty {
                return Err(ConsentError::Invalid(format!("{what} must not be empty")));
            }
        }
        let notice_ok =
            |s: &str| !s.is_empty() && s.len() <= 64 && !s.chars().any(char::is_control);
        if !notice_ok(&self.notice.version) || !notice_ok(&self.notice.language) {
            return Err(ConsentError::Invalid(
                "notice version and language must be short, non-empty text".into(),
            ));
        }
        for at in [&self.valid_from, &self.valid_until].into_iter().flatten() {
            crate::clock::parse_rfc3339(at)
                .map_err(|_| ConsentError::Invalid(format!("{at:?} is not an RFC 3339 time")))?;
        }
        if let Some(until) = &self.valid_until {
            let until = normalise(until)?;
            if until.as_str() <= now {
                return Err(ConsentError::ValidityInPast(until));
            }
            if let Some(from) = &self.valid_from {
                if normalise(from)? >= until {
                    return Err(ConsentError::Invalid(
                        "valid_until must be after valid_from".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A time in the stored form (UTC, three fractional digits), so text order is time order.
fn normalise(at: &str) -> Result<String, ConsentError> {
    crate::clock::parse_rfc3339(at)
        .map(crate::clock::rfc3339)
        .map_err(|_| ConsentError::Invalid(format!("{at:?} is not an RFC 3339 time")))
}

/// What a recording returns: the record, its first history entry (with
/// the receipt), and the one-time code when consent was given. The code is
/// shown once and stored only as a hash.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub record: ConsentRecord,
    pub change: ConsentChange,
    pub code: Option<String>,
}

/// Records a consent collected by the authorized party.
pub async fn record(
    db: &Db,
    broker_key: &Jwk,
    proof: &Authorized<RecordConsent>,
    case: &CaseId,
    new: NewConsent,
    now: &str,
) -> Result<Recorded, ConsentError> {
    new.check(now)?;
    if unchecked_find_subject(db, case, &new.subject)
        .await?
        .is_none()
    {
        return Err(ConsentError::SubjectNotFound(
            new.subject.as_str().into(),
            case.clone(),
        ));
    }
    check_evidence(db, case, &new.subject, &new.evidence).await?;
    let code = match new.state {
        ConsentState::Given => Some(code::generate()?),
        _ => None,
    };
    let record = ConsentRecord {
        id: ConsentId::generate()?,
        case: case.clone(),
        subject: new.subject,
        state: new.state,
        given_by: new.given_by,
        collector: proof.principal().clone(),
        purposes: new.purposes,
        recipients: new.recipients,
        document_types: new.document_types,
        valid_from: match new.valid_from {
            Some(from) => normalise(&from)?,
            None => now.to_owned(),
        },
        valid_until: new.valid_until.as_deref().map(normalise).transpose()?,
        notice: new.notice,
        evidence: new.evidence,
        version: 1,
        recorded_at: now.to_owned(),
        changed_at: now.to_owned(),
    };
    let changed_by = format!("party:{}", proof.principal());
    let change = history_entry(broker_key, &record, &changed_by, false, None)?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "insert into consent (id, case_id, subject_id, state, given_by, collector, purposes, recipients,
             document_types, valid_from, valid_until, notice_version, notice_language, evidence,
             code_sha256, version, recorded_at, changed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(record.id.as_str())
    .bind(record.case.as_str())
    .bind(record.subject.as_str())
    .bind(record.state.as_str())
    .bind(record.given_by.as_str())
    .bind(record.collector.as_str())
    .bind(json(&record.purposes))
    .bind(json(&record.recipients))
    .bind(json(&record.document_types))
    .bind(&record.valid_from)
    .bind(record.valid_until.as_deref())
    .bind(&record.notice.version)
    .bind(&record.notice.language)
    .bind(record.evidence.as_str())
    .bind(code.as_deref().map(code::digest))
    .bind(record.version)
    .bind(&record.recorded_at)
    .bind(&record.changed_at)
    .execute(&mut *tx)
    .await?;
    insert_change(&mut tx, &record.id, &change).await?;
    tx.commit().await?;
    Ok(Recorded {
        record,
        change,
        code,
    })
}

/// A stored list, as JSON text.
fn json<T: serde::Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// The evidence must be a consent form of this case that concerns the subject.
async fn check_evidence(
    db: &Db,
    case: &CaseId,
    subject: &SubjectId,
    evidence: &DocumentId,
) -> Result<(), ConsentError> {
    let row = sqlx::query("select case_id, document_type, subjects from document where id = $1")
        .bind(evidence.as_str())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| ConsentError::Evidence(format!("document {evidence} does not exist")))?;
    if row.try_get::<String, _>("case_id")? != case.as_str() {
        return Err(ConsentError::Evidence(format!(
            "document {evidence} belongs to another case"
        )));
    }
    if row.try_get::<String, _>("document_type")? != DocumentType::ConsentForm.as_str() {
        return Err(ConsentError::Evidence(format!(
            "document {evidence} is not a consent_form"
        )));
    }
    let subjects: Vec<SubjectId> =
        serde_json::from_str(&row.try_get::<String, _>("subjects")?).unwrap_or_default();
    if !subjects.contains(subject) {
        return Err(ConsentError::Evidence(format!(
            "consent form {evidence} does not concern {}",
            subject.as_str()
        )));
    }
    Ok(())
}

pub(super) fn history_entry(
    broker_key: &Jwk,
    record: &ConsentRecord,
    changed_by: &str,
    on_behalf: bool,
    reason: Option<String>,
) -> Result<ConsentChange, ConsentError> {
    let receipt = ConsentReceipt::of(record, changed_by, on_behalf)
        .sign(broker_key)
        .map_err(|e| ConsentError::Sign(e.to_string()))?;
    Ok(ConsentChange {
        version: record.version,
        state: record.state,
        changed_by: changed_by.to_owned(),
        on_behalf,
        reason,
        at: record.changed_at.clone(),
        receipt,
    })
}

pub(super) async fn insert_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    consent: &ConsentId,
    change: &ConsentChange,
) -> Result<(), ConsentError> {
    sqlx::query(
        "insert into consent_change (consent_id, version, state, changed_by, on_behalf, reason, at, receipt)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(consent.as_str())
    .bind(change.version)
    .bind(change.state.as_str())
    .bind(&change.changed_by)
    .bind(i64::from(change.on_behalf))
    .bind(change.reason.as_deref())
    .bind(&change.at)
    .bind(&change.receipt)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, case_id, subject_id, state, given_by, collector, purposes, recipients, \
     document_types, valid_from, valid_until, notice_version, notice_language, evidence, version, \
     recorded_at, changed_at";

fn consent_row(row: &AnyRow) -> Result<ConsentRecord, ConsentError> {
    let corrupt = |what: &str| ConsentError::Corrupt(format!("stored {what} is not readable"));
    let text = |name: &str| -> Result<String, ConsentError> { Ok(row.try_get::<String, _>(name)?) };
    Ok(ConsentRecord {
        id: ConsentId::parse(&text("id")?)?,
        case: CaseId::parse(&text("case_id")?)?,
        subject: SubjectId::parse(&text("subject_id")?).map_err(|_| corrupt("subject"))?,
        state: text("state")?.parse()?,
        given_by: text("given_by")?.parse()?,
        collector: PartyId::parse(&text("collector")?)?,
        purposes: serde_json::from_str(&text("purposes")?).map_err(|_| corrupt("purposes"))?,
        recipients: serde_json::from_str(&text("recipients")?)
            .map_err(|_| corrupt("recipients"))?,
        document_types: serde_json::from_str(&text("document_types")?)
            .map_err(|_| corrupt("document types"))?,
        valid_from: text("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        notice: Notice {
            version: text("notice_version")?,
            language: text("notice_language")?,
        },
        evidence: DocumentId::parse(&text("evidence")?).map_err(|_| corrupt("evidence"))?,
        version: row.try_get("version")?,
        recorded_at: text("recorded_at")?,
        changed_at: text("changed_at")?,
    })
}

/// One consent record.
pub async fn find(db: &Db, id: &ConsentId) -> Result<Option<ConsentRecord>, ConsentError> {
    sqlx::query(&format!("select {COLUMNS} from consent where id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(consent_row)
        .transpose()
}

/// Every change of a consent, oldest first.
pub async fn history(db: &Db, id: &ConsentId) -> Result<Vec<ConsentChange>, ConsentError> {
    sqlx::query(
        "select version, state, changed_by, on_behalf, reason, at, receipt from consent_change
         where consent_id = $1 order by version",
    )
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(ConsentChange {
            version: row.try_get("version")?,
            state: row.try_get::<String, _>("state")?.parse()?,
            changed_by: row.try_get("changed_by")?,
            on_behalf: row.try_get::<i64, _>("on_behalf")? == 1,
            reason: row.try_get("reason")?,
            at: row.try_get("at")?,
            receipt: row.try_get("receipt")?,
        })
    })
    .collect()
}

/// The consents of a case, newest first.
pub async fn list_for_case(
    db: &Db,
    _proof: &Authorized<ListConsents>,
    case: &CaseId,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    sqlx::query(&format!(
        "select {COLUMNS} from consent where case_id = $1 order by recorded_at desc, id"
    ))
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(consent_row)
    .collect()
}

/// The consents of some subjects of a case, newest first.
pub(super) async fn for_subjects(
    db: &Db,
    case: &CaseId,
    subjects: &[SubjectId],
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let mut records: Vec<ConsentRecord> = sqlx::query(&format!(
        "select {COLUMNS} from consent where case_id = $1 order by recorded_at desc, id"
    ))
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(consent_row)
    .collect::<Result<_, _>>()?;
    records.retain(|r| subjects.contains(&r.subject));
    Ok(records)
}

/// Checks a consent code, counting wrong ones: past [`code::MAX_FAILURES`]
/// in [`code::WINDOW_SECS`] the code is not even compared.
pub async fn check_code(
    db: &Db,
    id: &ConsentId,
    presented: &str,
    now_epoch: i64,
) -> Result<bool, ConsentError> {
    let since = now_epoch - code::WINDOW_SECS;
    let failures: Vec<i64> = sqlx::query_scalar(
        "select at_epoch from consent_code_failure where consent_id = $1 and at_epoch > $2
         order by at_epoch",
    )
    .bind(id.as_str())
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    if failures.len() as i64 >= code::MAX_FAILURES {
        let oldest = failures.first().copied().unwrap_or(now_epoch);
        let wait = (oldest + code::WINDOW_SECS - now_epoch).max(1) as u64;
        return Err(ConsentError::TooManyAttempts(wait));
    }
    let stored: Option<Option<String>> =
        sqlx::query_scalar("select code_sha256 from consent where id = $1")
            .bind(id.as_str())
            .fetch_optional(db.pool())
            .await?;
    // A consent without a live code still costs a comparison, so timing
    // does not tell a used code from a wrong one.
    let live = stored.flatten();
    let candidate = live.clone().unwrap_or_else(|| "0".repeat(64));
    let ok = code::matches(presented, &candidate) && live.is_some();
    if !ok {
        sqlx::query("insert into consent_code_failure (consent_id, at_epoch) values ($1, $2)")
            .bind(id.as_str())
            .bind(now_epoch)
            .execute(db.pool())
            .await?;
    }
    Ok(ok)
}

/// Records that `party` received `document` under these consents, so a
/// withdrawal knows whom to notify.
pub async fn record_use(
    conn: &mut sqlx::AnyConnection,
    consents: &[ConsentId],
    party: &PartyId,
    document: &DocumentId,
    at: &str,
) -> Result<(), ConsentError> {
    for consent in consents {
        sqlx::query(
            "insert into consent_use (consent_id, party_id, document_id, first_at)
             values ($1, $2, $3, $4) on conflict do nothing",
        )
        .bind(consent.as_str())
        .bind(party.as_str())
        .bind(document.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
