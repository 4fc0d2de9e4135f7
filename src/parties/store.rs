//! Party registry queries. Changes made by the operator (`ponte party …`)
//! are not decided by a policy: database access is the operator's authority.
//! They are named `unchecked_*` and each is audited in its own transaction.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{KeyStatus, Party, PartyError, PartyId, PartyKey, PartyStatus, Role};
use crate::audit::{self, AuditEvent};
use crate::jose::Jwk;
use crate::storage::Db;

/// What the operator registers for a new party.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: PartyId,
    pub role: Role,
    pub display_name: String,
    /// SHA-256 fingerprints of the party's client certificates.
    pub certificates: Vec<String>,
    /// Public signing and encryption keys.
    pub keys: Vec<Jwk>,
}

const PARTY_COLUMNS: &str = "id, role, display_name, status, created_at";

fn party_from_row(row: &AnyRow) -> Result<Party, PartyError> {
    let status: String = row.try_get("status")?;
    Ok(Party {
        id: PartyId::parse(&row.try_get::<String, _>("id")?)?,
        role: row.try_get::<String, _>("role")?.parse()?,
        display_name: row.try_get("display_name")?,
        status: if status == "active" {
            PartyStatus::Active
        } else {
            PartyStatus::Disabled
        },
        created_at: row.try_get("created_at")?,
    })
}

/// Registers a party with its certificates and public keys.
pub async fn unchecked_register(db: &Db, reg: &Registration, at: &str) -> Result<(), PartyError> {
    let mut tx = db.begin().await?;
    let exists = sqlx::query("select 1 from party where id = $1")
        .bind(reg.id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(PartyError::AlreadyExists(reg.id.clone()));
    }
    sqlx::query(
        "insert into party (id, role, display_name, status, created_at) values ($1, $2, $3, 'active', $4)",
    )
    .bind(reg.id.as_str())
    .bind(reg.role.as_str())
    .bind(&reg.display_name)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    for fingerprint in &reg.certificates {
        let owner = sqlx::query("select party_id from party_certificate where fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = owner {
            return Err(PartyError::CertificateTaken(PartyId::parse(
                &row.try_get::<String, _>(0)?,
            )?));
        }
        sqlx::query(
            "insert into party_certificate (fingerprint, party_id, added_at) values ($1, $2, $3)",
        )
        .bind(fingerprint)
        .bind(reg.id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    for key in &reg.keys {
        insert_key(&mut tx, &reg.id, key, at).await?;
    }
    let event = AuditEvent::operator("RegisterParty", &format!("party:{}", reg.id), at)
        .detail(serde_json::json!({ "role": reg.role, "certificates": reg.certificates, "kids": kids(&reg.keys) }));
    audit::append(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    party: &PartyId,
    key: &Jwk,
    at: &str,
) -> Result<(), PartyError> {
    let public = key.public();
    sqlx::query(
        "insert into party_key (kid, party_id, key_use, jwk, status, created_at) values ($1, $2, $3, $4, 'active', $5)",
    )
    .bind(&public.kid)
    .bind(party.as_str())
    .bind(public.key_use.as_str())
    .bind(serde_json::to_string(&public).unwrap_or_default())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn kids(keys: &[Jwk]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}

/// The party a client certificate is registered to, active or not.
pub async fn find_by_fingerprint(db: &Db, fingerprint: &str) -> Result<Option<Party>, PartyError> {
    let row = sqlx::query(
        "select p.id, p.role, p.display_name, p.status, p.created_at
         from party_certificate c join party p on p.id = c.party_id
         where c.fingerprint = $1",
    )
    .bind(fingerprint)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(party_from_row).transpose()
}

/// One party.
pub async fn find(db: &Db, id: &PartyId) -> Result<Option<Party>, PartyError> {
    let row = sqlx::query(&format!("select {PARTY_COLUMNS} from party where id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(party_from_row).transpose()
}

/// Every party, by id.
pub async fn list(db: &Db) -> Result<Vec<Party>, PartyError> {
    let rows = sqlx::query(&format!("select {PARTY_COLUMNS} from party order by id"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(party_from_row).collect()
}

/// Every key a party ever had, newest first.
pub async fn keys(db: &Db, id: &PartyId) -> Result<Vec<PartyKey>, PartyError> {
    let rows = sqlx::query(&format!(
        "select {KEY_COLUMNS} from party_key k where k.party_id = $1 order by k.created_at desc, k.kid"
    ))
    .bind(id.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(key_from_row).collect()
}

/// Parties with every key each ever had (newest first), in the order of
/// `ids`; ids that name no party are left out. One query, for the
/// recipient plan of a case.
pub async fn with_keys(
    db: &Db,
    ids: &[PartyId],
) -> Result<Vec<(Party, Vec<PartyKey>)>, PartyError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "select p.id, p.role, p.display_name, p.status, p.created_at, {KEY_COLUMNS}
         from party p left join party_key k on k.party_id = p.id
         where p.id in ({})
         order by p.id, k.created_at desc, k.kid",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.as_str());
    }
    let mut found: Vec<(Party, Vec<PartyKey>)> = Vec::new();
    for row in query.fetch_all(db.pool()).await? {
        let party = party_from_row(&row)?;
        if found.last().is_none_or(|(last, _)| last.id != party.id) {
            found.push((party, Vec::new()));
        }
        if row.try_get::<Option<String>, _>("kid")?.is_some() {
            if let Some((_, keys)) = found.last_mut() {
                keys.push(key_from_row(&row)?);
            }
        }
    }
    found.sort_by_key(|(party, _)| ids.iter().position(|id| *id == party.id));
    Ok(found)
}

const KEY_COLUMNS: &str =
    "k.kid, k.key_use, k.jwk, k.status as key_status, k.created_at as key_created_at, k.retired_at";

fn key_from_row(row: &AnyRow) -> Result<PartyKey, PartyError> {
    Ok(PartyKey {
        kid: row.try_get("kid")?,
        key_use: row.try_get::<String, _>("key_use")?.parse()?,
        status: if row.try_get::<String, _>("key_status")? == "active" {
            KeyStatus::Active
        } else {
            KeyStatus::Retired
        },
        created_at: row.try_get("key_created_at")?,
        retired_at: row.try_get("retired_at")?,
        jwk: Jwk::parse_public(&row.try_get::<String, _>("jwk")?)?,
    })
}

/// Disables a party: its certificate is still recognised, every request is refused.
pub async fn unchecked_disable(db: &Db, id: &PartyId, at: &str) -> Result<(), PartyError> {
    let mut tx = db.begin().await?;
    let done = sqlx::query("update party set status = 'disabled', disabled_at = $2 where id = $1")
        .bind(id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(PartyError::NotFound(id.clone()));
    }
    audit::append(
        &mut *tx,
        &AuditEvent::operator("DisableParty", &format!("party:{id}"), at),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces a party's active keys of the uses given by the new keys; the
/// replaced keys are kept as retired.
pub async fn unchecked_rotate_keys(
    db: &Db,
    id: &PartyId,
    new: &[Jwk],
    at: &str,
) -> Result<(), PartyError> {
    let mut tx = db.begin().await?;
    if sqlx::query("select 1 from party where id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .is_none()
    {
        return Err(PartyError::NotFound(id.clone()));
    }
    for key in new {
        sqlx::query(
            "update party_key set status = 'retired', retired_at = $3
             where party_id = $1 and key_use = $2 and status = 'active'",
        )
        .bind(id.as_str())
        .bind(key.key_use.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_key(&mut tx, id, key, at).await?;
    }
    let event = AuditEvent::operator("RotatePartyKeys", &format!("party:{id}"), at)
        .detail(serde_json::json!({ "kids": kids(new) }));
    audit::append(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
