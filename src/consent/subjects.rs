//! The data subjects of a case: the children and family members its
//! documents and consents are about, known only by pseudonymous ids.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{ConsentError, DataSubject, Relation};
use crate::cases::CaseId;
use crate::documents::SubjectId;
use crate::parties::{Party, PartyId};
use crate::policy::actions::{AddSubject, ListSubjects};
use crate::policy::Authorized;
use crate::storage::Db;

/// Adds a data subject to a case.
pub async fn add_subject(
    db: &Db,
    proof: &Authorized<AddSubject>,
    case: &CaseId,
    id: &SubjectId,
    relation: Relation,
    representative: Option<&Party>,
    at: &str,
) -> Result<DataSubject, ConsentError> {
    let done = sqlx::query(
        "insert into data_subject (case_id, id, relation, representative, added_by, added_at)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
    )
    .bind(case.as_str())
    .bind(id.as_str())
    .bind(relation.as_str())
    .bind(representative.map(|p| p.id.as_str()))
    .bind(proof.principal().as_str())
    .bind(at)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(ConsentError::SubjectExists(
            id.as_str().into(),
            case.clone(),
        ));
    }
    Ok(DataSubject {
        id: id.clone(),
        case: case.clone(),
        relation,
        representative: representative.map(|p| p.id.clone()),
        added_by: proof.principal().clone(),
        added_at: at.to_owned(),
    })
}

const SUBJECT_COLUMNS: &str = "case_id, id, relation, representative, added_by, added_at";

fn subject_row(row: &AnyRow) -> Result<DataSubject, ConsentError> {
    let corrupt = |e: &dyn std::fmt::Display| ConsentError::Corrupt(e.to_string());
    Ok(DataSubject {
        id: SubjectId::parse(&row.try_get::<String, _>("id")?).map_err(|e| corrupt(&e))?,
        case: CaseId::parse(&row.try_get::<String, _>("case_id")?)?,
        relation: row.try_get::<String, _>("relation")?.parse()?,
        representative: row
            .try_get::<Option<String>, _>("representative")?
            .map(|p| PartyId::parse(&p))
            .transpose()?,
        added_by: PartyId::parse(&row.try_get::<String, _>("added_by")?)?,
        added_at: row.try_get("added_at")?,
    })
}

/// The data subjects of a case.
pub async fn subjects(
    db: &Db,
    _proof: &Authorized<ListSubjects>,
    case: &CaseId,
) -> Result<Vec<DataSubject>, ConsentError> {
    sqlx::query(&format!(
        "select {SUBJECT_COLUMNS} from data_subject where case_id = $1 order by added_at, id"
    ))
    .bind(case.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(subject_row)
    .collect()
}

/// One data subject, for checks before a decision.
pub async fn unchecked_find_subject(
    db: &Db,
    case: &CaseId,
    id: &SubjectId,
) -> Result<Option<DataSubject>, ConsentError> {
    sqlx::query(&format!(
        "select {SUBJECT_COLUMNS} from data_subject where case_id = $1 and id = $2"
    ))
    .bind(case.as_str())
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(subject_row)
    .transpose()
}
