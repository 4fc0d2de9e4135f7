//! Case queries. Changes take an [`Authorized`] proof from `policy`.

use sqlx::Row;

use super::{Case, CaseError, CaseFacts, CaseId, CaseState, CaseSummary, Country, Member};
use crate::parties::{Party, PartyId, PartyStatus, Role};
use crate::policy::actions::{AttachParty, ListCases, OpenCase, ReadCase};
use crate::policy::Authorized;
use crate::storage::Db;

/// Opens a case for the authorized municipality, addressed to `ministry`
/// (both become members). Returns the new case.
pub async fn open(
    db: &Db,
    proof: &Authorized<OpenCase>,
    opener_role: Role,
    country: &Country,
    ministry: &Party,
    at: &str,
) -> Result<Case, CaseError> {
    if ministry.role != Role::Ministry || ministry.status != PartyStatus::Active {
        return Err(CaseError::NoMinistry(format!(
            "{} is not an active ministry",
            ministry.id
        )));
    }
    let id = CaseId::generate()?;
    let opener = proof.principal();
    let mut tx = db.begin().await?;
    sqlx::query("insert into tracing_case (id, country, state, opened_by, opened_at) values ($1, $2, $3, $4, $5)")
        .bind(id.as_str())
        .bind(country.as_str())
        .bind(CaseState::Requested.as_str())
        .bind(opener.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
    for (party, role) in [(opener, opener_role), (&ministry.id, Role::Ministry)] {
        insert_member(&mut tx, &id, party, role, opener, at).await?;
    }
    tx.commit().await?;
    show_unchecked(db, &id).await
}

async fn insert_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: &CaseId,
    party: &PartyId,
    role: Role,
    by: &PartyId,
    at: &str,
) -> Result<bool, CaseError> {
    let done = sqlx::query(
        "insert into case_member (case_id, party_id, role, attached_by, attached_at)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(case.as_str())
    .bind(party.as_str())
    .bind(role.as_str())
    .bind(by.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What the policy needs to decide about a case; `None` if it does not exist.
pub async fn facts(db: &Db, id: &CaseId) -> Result<Option<CaseFacts>, CaseError> {
    // One query (a row per member, or one row for a case without members):
    // this runs on every request about a case.
    let rows = sqlx::query(
        "select c.country, c.state, c.opened_by, m.party_id
         from tracing_case c left join case_member m on m.case_id = c.id
         where c.id = $1 order by m.party_id",
    )
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let members = rows
        .iter()
        .filter_map(|r| r.try_get::<Option<String>, _>("party_id").transpose())
        .map(|party| Ok(PartyId::parse(&party?)?))
        .collect::<Result<Vec<_>, CaseError>>()?;
    Ok(Some(CaseFacts {
        id: id.clone(),
        country: Country::parse(&row.try_get::<String, _>("country")?)?,
        state: CaseState::parse(&row.try_get::<String, _>("state")?)?,
        opened_by: PartyId::parse(&row.try_get::<String, _>("opened_by")?)?,
        members,
    }))
}

/// A case with its members, for a party allowed to read it.
pub async fn show(db: &Db, _proof: &Authorized<ReadCase>, id: &CaseId) -> Result<Case, CaseError> {
    show_unchecked(db, id).await
}

async fn show_unchecked(db: &Db, id: &CaseId) -> Result<Case, CaseError> {
    let row =
        sqlx::query("select country, state, opened_by, opened_at from tracing_case where id = $1")
            .bind(id.as_str())
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| CaseError::NotFound(id.clone()))?;
    let members = sqlx::query(
        "select party_id, role, attached_by, attached_at from case_member
         where case_id = $1 order by attached_at, party_id",
    )
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(Member {
            party: PartyId::parse(&r.try_get::<String, _>("party_id")?)?,
            role: r.try_get::<String, _>("role")?.parse()?,
            attached_by: PartyId::parse(&r.try_get::<String, _>("attached_by")?)?,
            attached_at: r.try_get("attached_at")?,
        })
    })
    .collect::<Result<Vec<_>, CaseError>>()?;
    Ok(Case {
        id: id.clone(),
        country: Country::parse(&row.try_get::<String, _>("country")?)?,
        state: CaseState::parse(&row.try_get::<String, _>("state")?)?,
        opened_by: PartyId::parse(&row.try_get::<String, _>("opened_by")?)?,
        opened_at: row.try_get("opened_at")?,
        members,
    })
}

/// The cases the authorized party is on, newest first.
pub async fn list_for(
    db: &Db,
    proof: &Authorized<ListCases>,
) -> Result<Vec<CaseSummary>, CaseError> {
    let rows = sqlx::query(
        "select c.id, c.country, c.state, c.opened_at, m.role
         from tracing_case c join case_member m on m.case_id = c.id
         where m.party_id = $1 order by c.opened_at desc, c.id",
    )
    .bind(proof.principal().as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CaseSummary {
                id: CaseId::parse(&r.try_get::<String, _>("id")?)?,
                country: Country::parse(&r.try_get::<String, _>("country")?)?,
                state: CaseState::parse(&r.try_get::<String, _>("state")?)?,
                opened_at: r.try_get("opened_at")?,
                my_role: r.try_get::<String, _>("role")?.parse()?,
            })
        })
        .collect()
}

/// Attaches a party to a case in its registered role.
pub async fn attach(
    db: &Db,
    proof: &Authorized<AttachParty>,
    case: &CaseId,
    party: &Party,
    at: &str,
) -> Result<Member, CaseError> {
    let mut tx = db.begin().await?;
    if !insert_member(&mut tx, case, &party.id, party.role, proof.principal(), at).await? {
        return Err(CaseError::AlreadyAttached(party.id.clone(), case.clone()));
    }
    tx.commit().await?;
    Ok(Member {
        party: party.id.clone(),
        role: party.role,
        attached_by: proof.principal().clone(),
        attached_at: at.to_owned(),
    })
}
