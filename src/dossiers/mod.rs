//! Decision dossiers: what a juvenile court retrieves to decide. One
//! download, a ustar archive a clerk opens with ordinary tools: a
//! broker-signed manifest listing every document of the case the court is
//! entitled to (with its receipt, its author's manifest and the basis it was
//! collected on), then each envelope as the court receives it. A document
//! the court is entitled to but cannot open yet is listed as awaiting share,
//! and the ministry is asked to share it. `ponte dossier verify` checks an
//! archive offline ([`verify`](crate::dossiers::verify)).

pub mod archive;
pub mod tar;
pub mod verify;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::audit::{self, AuditEvent};
use crate::cases::{CaseFacts, CaseId, CaseState};
use crate::consent::{LawfulBasis, Purpose, SubjectConsent, SubjectConsents};
use crate::documents::plan::receive_context;
use crate::documents::store::{self, DocumentRecord};
use crate::documents::{DocumentError, DocumentId, DocumentType};
use crate::ids;
use crate::jose::jws::{self, KeyResolver};
use crate::jose::{JoseError, Jwk};
use crate::notices::{self, NoticeKind};
use crate::parties::{Party, PartyId};
use crate::policy::actions::ReadDossier;
use crate::policy::{Action, Authorized, PolicyEngine, PolicyError, Resource};
use crate::storage::Db;

/// The `typ` of a dossier manifest JWS.
pub const DOSSIER_TYP: &str = "ponte-dossier+jws";

/// The purpose a court holds a dossier for, and its basis.
pub const PURPOSE: Purpose = Purpose::JudicialDecision;

/// What the broker states about a dossier (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DossierManifest {
    pub v: u32,
    pub dossier: String,
    pub case: CaseId,
    pub case_state: CaseState,
    pub court: PartyId,
    /// The purpose the court holds the documents for, and its lawful basis.
    pub purpose: Purpose,
    pub basis: LawfulBasis,
    pub created_at: String,
    /// The documents in the archive, oldest first.
    pub documents: Vec<DossierDocument>,
    /// Documents the court is entitled to but is not yet a recipient of.
    pub awaiting_share: Vec<AwaitingShare>,
}

/// One document in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DossierDocument {
    pub id: DocumentId,
    pub document_type: DocumentType,
    pub author: PartyId,
    pub received_at: String,
    pub current: bool,
    pub supersedes: Option<DocumentId>,
    /// The purpose it was collected for and that purpose's lawful basis.
    pub collected_for: Purpose,
    pub collected_basis: LawfulBasis,
    /// For consent-based collection: each data subject's consent for that
    /// purpose as it stands when the dossier is made.
    pub consents: Vec<SubjectConsent>,
    /// SHA-256 of the envelope as submitted (what the author's manifest and
    /// the receipt state).
    pub envelope_sha256: String,
    pub manifest_sha256: String,
    /// The broker's receipt (compact JWS).
    pub receipt: String,
    /// The envelope in the archive: the submitted bytes with the recipient
    /// entries added by shares inserted at byte `recipients_end`, joined by
    /// commas (so removing `,` + the entries joined by `,` gives back the
    /// submitted bytes).
    pub file: String,
    pub recipients_end: u64,
    pub shared_entries: Vec<String>,
    /// The author's manifest in the archive (compact JWS).
    pub manifest_file: String,
}

impl DossierDocument {
    /// The bytes inserted into the submitted envelope for the shares.
    pub fn splice(&self) -> Vec<u8> {
        if self.shared_entries.is_empty() {
            Vec::new()
        } else {
            format!(",{}", self.shared_entries.join(",")).into_bytes()
        }
    }
}

/// A document the court may see but cannot open yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitingShare {
    pub id: DocumentId,
    pub document_type: DocumentType,
    pub author: PartyId,
    pub received_at: String,
    /// The parties asked to share it (the case's ministry).
    pub requested_from: Vec<PartyId>,
}

impl DossierManifest {
    pub fn sign(&self, broker_key: &Jwk) -> Result<String, JoseError> {
        let bytes = serde_json::to_vec(self).map_err(|e| JoseError::Malformed(e.to_string()))?;
        jws::sign_compact(&bytes, broker_key, &[("typ", DOSSIER_TYP)])
    }

    pub fn verify(
        token: &str,
        broker_keys: &(impl KeyResolver + ?Sized),
    ) -> Result<DossierManifest, JoseError> {
        let verified = jws::verify_compact(token, broker_keys)?;
        if verified.header.get("typ").and_then(|t| t.as_str()) != Some(DOSSIER_TYP) {
            return Err(JoseError::Malformed(format!("typ must be {DOSSIER_TYP}")));
        }
        serde_json::from_slice(&verified.payload).map_err(|e| JoseError::Malformed(e.to_string()))
    }
}

/// A dossier ready to stream: its signed manifest and the documents whose
/// envelopes follow it.
#[derive(Debug, Clone)]
pub struct Dossier {
    pub manifest: DossierManifest,
    pub token: String,
    pub documents: Vec<DocumentRecord>,
}

/// What can go wrong making a dossier.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Consent(String),
    #[error("could not sign the dossier: {0}")]
    Sign(String),
    #[error("no secure random numbers available")]
    Random,
    #[error(transparent)]
    Db(#[from] crate::storage::DbError),
}

impl From<sqlx::Error> for DossierError {
    fn from(e: sqlx::Error) -> Self {
        DossierError::Db(e.into())
    }
}

/// Makes the dossier of `case` for the court that asked: the manifest is
/// signed, the retrieval and the share requests are recorded, and the
/// ministry is asked (once per document) to share what the court awaits.
pub async fn assemble(
    db: &Db,
    engine: &PolicyEngine,
    broker_key: &Jwk,
    proof: &Authorized<ReadDossier>,
    court: &Party,
    case: &CaseFacts,
    now: &str,
) -> Result<Dossier, DossierError> {
    let mut listed = Vec::new();
    let mut included = Vec::new();
    let mut awaiting = Vec::new();
    for doc in store::list_for_case(db, &case.id).await? {
        if doc.object_key.is_none() {
            continue;
        }
        let consents = SubjectConsents::load(db, &case.id, &doc.subjects)
            .await
            .map_err(|e| DossierError::Consent(e.to_string()))?;
        let held = consents.facts(PURPOSE, doc.document_type, Some(court), now);
        let entitled = engine
            .decide(
                court,
                Action::ReceiveDocument,
                &Resource::Case(case),
                receive_context(doc.document_type, PURPOSE, &held),
            )?
            .allowed;
        if !entitled {
            continue;
        }
        let recipients = store::recipients(db, &doc.id).await?;
        if !recipients.iter().any(|r| r.party == court.id) {
            awaiting.push(doc);
            continue;
        }
        let collected = consents.facts(doc.purpose, doc.document_type, None, now);
        listed.push(DossierDocument {
            id: doc.id.clone(),
            document_type: doc.document_type,
            author: doc.author.clone(),
            received_at: doc.received_at.clone(),
            current: doc.is_current,
            supersedes: doc.supersedes.clone(),
            collected_for: doc.purpose,
            collected_basis: doc.purpose.basis(),
            consents: if collected.required() {
                collected.subjects
            } else {
                Vec::new()
            },
            envelope_sha256: doc.envelope_sha256.clone(),
            manifest_sha256: doc.manifest_sha256.clone(),
            receipt: doc.receipt.clone(),
            file: format!("documents/{}.jwe", doc.id),
            recipients_end: doc.recipients_end,
            shared_entries: recipients
                .into_iter()
                .filter_map(|r| r.share_entry)
                .collect(),
            manifest_file: format!("manifests/{}.jws", doc.id),
        });
        included.push(doc);
    }
    let ministries = ministries(db, &case.id).await?;
    let id = ids::random("dos-").ok_or(DossierError::Random)?;
    let manifest = DossierManifest {
        v: 1,
        dossier: id.clone(),
        case: case.id.clone(),
        case_state: case.state,
        court: court.id.clone(),
        purpose: PURPOSE,
        basis: PURPOSE.basis(),
        created_at: now.to_owned(),
        documents: listed,
        awaiting_share: awaiting
            .iter()
            .map(|d| AwaitingShare {
                id: d.id.clone(),
                document_type: d.document_type,
                author: d.author.clone(),
                received_at: d.received_at.clone(),
                requested_from: ministries.clone(),
            })
            .collect(),
    };
    let token = manifest
        .sign(broker_key)
        .map_err(|e| DossierError::Sign(e.to_string()))?;

    let mut tx = db.begin().await?;
    sqlx::query(
        "insert into dossier (id, case_id, court_id, manifest_sha256, documents, awaiting_share, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(case.id.as_str())
    .bind(court.id.as_str())
    .bind(crate::pki::sha256_hex(token.as_bytes()))
    .bind(manifest.documents.len() as i64)
    .bind(manifest.awaiting_share.len() as i64)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for doc in &awaiting {
        let first = sqlx::query(
            "insert into share_request (document_id, party_id, requested_at) values ($1, $2, $3)
             on conflict do nothing",
        )
        .bind(doc.id.as_str())
        .bind(court.id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !first {
            continue;
        }
        let body = serde_json::json!({
            "document": doc.id,
            "document_type": doc.document_type,
            "court": court.id,
            "purpose": PURPOSE,
            "dossier": id,
        });
        for ministry in &ministries {
            notices::issue(
                &mut tx,
                broker_key,
                ministry,
                Some(&case.id),
                NoticeKind::ShareRequest,
                body.clone(),
                now,
            )
            .await
            .map_err(|e| DossierError::Sign(e.to_string()))?;
        }
    }
    let event = AuditEvent::evidence(
        proof.principal(),
        "DossierRetrieved",
        &format!("case:{}", case.id),
        now,
    )
    .detail(serde_json::json!({
        "dossier": id,
        "purpose": PURPOSE,
        "basis": PURPOSE.basis(),
        "documents": manifest.documents.iter().map(|d| &d.id).collect::<Vec<_>>(),
        "awaiting_share": manifest.awaiting_share.iter().map(|d| &d.id).collect::<Vec<_>>(),
        "manifest_sha256": crate::pki::sha256_hex(token.as_bytes()),
    }));
    audit::append(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(Dossier {
        manifest,
        token,
        documents: included,
    })
}

async fn ministries(db: &Db, case: &CaseId) -> Result<Vec<PartyId>, DossierError> {
    sqlx::query("select party_id from case_member where case_id = $1 and role = 'ministry' order by party_id")
        .bind(case.as_str())
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            PartyId::parse(&r.try_get::<String, _>(0)?)
                .map_err(|e| DossierError::Consent(e.to_string()))
        })
        .collect()
}
