//! Agreed corrections. A correction supersedes a document of the case and
//! carries the agreement of the person it concerns: given through the IOM
//! mission that met them (the mission submits and attests it), or by the
//! person with their one-time consent code. The agreement is recorded with
//! the correction, and every earlier recipient of the corrected document is
//! told, in the same transaction that makes the correction exist.

use sqlx::Row;

use super::store::DocumentRecord;
use super::{DocumentError, SubjectId};
use crate::consent::ConsentId;
use crate::jose::Jwk;
use crate::notices::{self, NoticeKind};
use crate::parties::PartyId;

/// The request header carrying the agreement of a correction.
pub const AGREEMENT_HEADER: &str = "ponte-agreement";

/// How the person concerned agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Through {
    /// Through the mission, which submits the correction and attests it.
    Mission,
    /// With the person's one-time code for this consent of theirs.
    ConsentCode(ConsentId),
}

impl Through {
    pub fn as_str(&self) -> &'static str {
        match self {
            Through::Mission => "mission",
            Through::ConsentCode(_) => "consent_code",
        }
    }
}

/// The agreement a correction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub subject: SubjectId,
    pub through: Through,
}

/// The `Ponte-Agreement` header: `through=mission; subject=subj-…` or
/// `through=consent_code; subject=subj-…; consent=cons-…; code=…`.
/// Answers the agreement and, for the second form, the code to check.
pub fn parse_header(raw: &str) -> Result<(Agreement, Option<String>), DocumentError> {
    let bad = |why: &str| DocumentError::Agreement(format!("{AGREEMENT_HEADER}: {why}"));
    let mut fields = std::collections::HashMap::new();
    for part in raw.split(';') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("expected key=value pairs separated by `;`"))?;
        if fields.insert(key.trim(), value.trim()).is_some() {
            return Err(bad(&format!("{} is given twice", key.trim())));
        }
    }
    let subject = SubjectId::parse(
        fields
            .remove("subject")
            .ok_or_else(|| bad("subject is missing"))?,
    )?;
    let through = match fields.remove("through") {
        Some("mission") => Through::Mission,
        Some("consent_code") => {
            let consent = fields
                .remove("consent")
                .ok_or_else(|| bad("consent is missing"))?;
            Through::ConsentCode(ConsentId::parse(consent).map_err(|e| bad(&e.to_string()))?)
        }
        _ => return Err(bad("through must be mission or consent_code")),
    };
    let code = fields.remove("code").map(str::to_owned);
    if matches!(through, Through::ConsentCode(_)) && code.is_none() {
        return Err(bad("code is missing"));
    }
    if let Some(extra) = fields.keys().next() {
        return Err(bad(&format!("unknown field {extra}")));
    }
    Ok((Agreement { subject, through }, code))
}

/// Records the agreement of `doc` (a correction of `doc.supersedes`) and
/// tells every earlier recipient of the corrected document, inside the
/// transaction that makes `doc` exist.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    broker_key: &Jwk,
    doc: &DocumentRecord,
    agreement: &Agreement,
) -> Result<(), DocumentError> {
    let corrected = doc
        .supersedes
        .as_ref()
        .ok_or_else(|| DocumentError::Agreement("a correction supersedes a document".into()))?;
    sqlx::query(
        "insert into correction_agreement (document_id, corrected_id, subject_id, given_through, consent_id, attested_by, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(doc.id.as_str())
    .bind(corrected.as_str())
    .bind(agreement.subject.as_str())
    .bind(agreement.through.as_str())
    .bind(match &agreement.through {
        Through::ConsentCode(consent) => Some(consent.as_str()),
        Through::Mission => None,
    })
    .bind(doc.author.as_str())
    .bind(&doc.received_at)
    .execute(&mut **tx)
    .await?;
    let earlier: Vec<String> = sqlx::query(
        "select distinct party_id from document_recipient where document_id = $1 order by party_id",
    )
    .bind(corrected.as_str())
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<Result<_, _>>()?;
    let body = serde_json::json!({
        "document": doc.id,
        "corrected": corrected,
        "document_type": doc.document_type,
        "agreement": agreement.through.as_str(),
        "subject": agreement.subject,
        "by": doc.author,
    });
    for party in earlier {
        let party = PartyId::parse(&party)?;
        if party == doc.author {
            continue;
        }
        notices::issue(
            tx,
            broker_key,
            &party,
            Some(&doc.case),
            NoticeKind::Correction,
            body.clone(),
            &doc.received_at,
        )
        .await
        .map_err(|e| DocumentError::Agreement(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_headers_parse_strictly() {
        let (a, code) = parse_header("through=mission; subject=subj-child-1").unwrap();
        assert_eq!(a.through, Through::Mission);
        assert_eq!(a.subject.as_str(), "subj-child-1");
        assert!(code.is_none());
        for bad in [
            "through=mission",
            "subject=subj-child-1",
            "through=guess; subject=subj-child-1",
            "through=consent_code; subject=subj-child-1; code=abc",
            "through=mission; subject=subj-child-1; subject=subj-x",
            "through=mission; subject=subj-child-1; colour=red",
            "garbage",
        ] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }
}
