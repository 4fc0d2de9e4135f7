//! Withdrawal notices: when a consent ends, every party that received a
//! document under it gets a broker-signed notice in its inbox (see
//! [`crate::notices`]), reads it, deletes what it received and
//! acknowledges. The ministry sees which acknowledgements are outstanding.

use sqlx::Row;

use super::receipt::WithdrawalNotice;
use super::{ConsentError, ConsentRecord};
use crate::documents::DocumentId;
use crate::ids;
use crate::jose::Jwk;
use crate::notices::{self, NoticeError, NoticeKind};
use crate::parties::PartyId;

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
        notices::insert(
            tx,
            &id,
            &party,
            Some(&consent.case),
            NoticeKind::Withdrawal,
            &notice,
            now,
        )
        .await
        .map_err(|e| match e {
            NoticeError::Db(db) => ConsentError::Db(db),
            other => ConsentError::Corrupt(other.to_string()),
        })?;
        ids.push(id);
    }
    Ok(ids)
}
