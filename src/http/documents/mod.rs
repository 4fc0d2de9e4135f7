//! Document routes: recipient plans, submissions, listings, retrievals and
//! shares. Bodies stream; nothing here reads a document.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Identity};
use super::error::ApiError;
use super::ApiJson;
use super::Path;
use super::Query;
use crate::app::AppState;
use crate::audit::{self, AuditEvent, Outcome};
use crate::cases::{self, CaseError, CaseFacts, CaseId};
use crate::consent::{self, LawfulBasis, Purpose, SubjectConsents};
use crate::documents::retrieve;
use crate::documents::store::{self, DocumentRecord, DocumentView, RecipientRecord};
use crate::documents::{plan, share, DocumentError, DocumentId, DocumentType, SubjectId};
use crate::jose::jwe::Recipient;
use crate::parties::{self, PartyError, PartyId, Role};
use crate::policy::actions::{ListDocuments, ReadDocument, ReadRecipientPlan, ShareDocument};
use crate::policy::{Action, DocumentFacts, Resource};
use crate::storage::DbError;

mod submission;

pub use submission::submit;

/// The request header carrying the manifest (a compact JWS).
pub const MANIFEST_HEADER: &str = "ponte-manifest";
/// Response headers of a retrieval.
pub const RECEIPT_HEADER: &str = "ponte-receipt";
pub const ENVELOPE_SHA256_HEADER: &str = "ponte-envelope-sha256";

/// Who may receive a document now, and the keys to encrypt to.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecipientPlan {
    pub case: CaseId,
    pub document_type: DocumentType,
    pub purpose: Purpose,
    pub basis: LawfulBasis,
    pub recipients: Vec<PlannedParty>,
}

/// One entitled party with its active encryption keys (public JWKs).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedParty {
    pub party: PartyId,
    pub role: Role,
    pub keys: Vec<serde_json::Value>,
}

/// The answer to a submission.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubmitAnswer {
    /// The broker-signed receipt (compact JWS).
    pub receipt: String,
    pub document: DocumentView,
    /// False when this was a retry of a document already stored.
    pub stored_now: bool,
    /// The acceptance's leaf in the audit log, when it is one already: a
    /// retry's. A new document's acceptance is queued in its commit and
    /// becomes a leaf with the broker's next integration, within moments;
    /// `GET /v1/documents/{document}/evidence` (and `ponte audit proof`)
    /// integrates first and gives it with its inclusion proof.
    pub leaf_index: Option<u64>,
}

/// Body of `POST /v1/documents/{document}/recipients`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The party that becomes a recipient.
    #[schemars(schema_with = "super::openapi::fields::party")]
    pub party: String,
    /// The purpose of the share.
    #[schemars(schema_with = "super::openapi::fields::purpose")]
    pub purpose: String,
    /// The new recipient entry (`header` with `alg`, `kid`, `epk`; `encrypted_key`).
    #[schemars(schema_with = "super::openapi::fields::recipient_entry")]
    pub entry: Recipient,
}

/// The answer to a share.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShareAnswer {
    pub document: DocumentId,
    pub party: PartyId,
    pub kid: String,
}

fn query_value<'a>(
    query: &'a HashMap<String, String>,
    name: &'static str,
) -> Result<&'a str, ApiError> {
    query
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::BadRequest {
            code: "missing_parameter",
            detail: format!("the query parameter `{name}` is required"),
        })
}

/// A purpose of the registry; anything else is a 400 listing the valid ones.
pub fn purpose_of(raw: &str) -> Result<Purpose, ApiError> {
    raw.parse()
        .map_err(|e: consent::UnknownPurpose| ApiError::BadRequest {
            code: "unknown_purpose",
            detail: e.to_string(),
        })
}

async fn case_facts(state: &AppState, raw: &str) -> Result<CaseFacts, ApiError> {
    let id = CaseId::parse(raw)?;
    Ok(cases::facts(&state.db, &id)
        .await?
        .ok_or(CaseError::NotFound(id))?)
}

pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<RecipientPlan>, ApiError> {
    let document_type: DocumentType = query_value(&query, "document_type")?.parse()?;
    let purpose = purpose_of(query_value(&query, "purpose")?)?;
    let subjects = query
        .get("subjects")
        .map(|list| {
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(SubjectId::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let facts = case_facts(&state, &case).await?;
    let context = json!({ "document_type": document_type.as_str(), "purpose": purpose.as_str() });
    caller
        .authorize::<ReadRecipientPlan>(&state, Resource::Case(&facts), context)
        .await?;
    let consents = SubjectConsents::load(&state.db, &facts.id, &subjects).await?;
    let planned = plan::plan(
        &state.db,
        &state.policy.current(),
        &facts,
        document_type,
        purpose,
        &consents,
        &state.now(),
    )
    .await?;
    Ok(Json(RecipientPlan {
        case: facts.id.clone(),
        document_type,
        purpose,
        basis: purpose.basis(),
        recipients: planned
            .into_iter()
            .map(|p| PlannedParty {
                party: p.party.id,
                role: p.party.role,
                keys: p
                    .keys
                    .iter()
                    .map(|k| serde_json::to_value(k.public()).unwrap_or_default())
                    .collect(),
            })
            .collect(),
    }))
}

/// How a document named in a request path goes on record: by its id if
/// the id is well formed.
fn document_resource(raw: &str) -> String {
    DocumentId::parse(raw)
        .map(|id| format!("document:{id}"))
        .unwrap_or_else(|_| "document:(malformed id)".into())
}

/// Audits a submission that did not become a document, with the stable
/// code it was answered with.
async fn reject(state: &AppState, caller: &Caller, resource: String, error: &ApiError) {
    record_refusal(state, caller, "DocumentRejected", resource, error).await;
}

/// Audits a read or share refused for what it asked (a client error), with
/// the stable code it was answered with. (Refusals by the policy are on
/// record as its decisions; callers do not pass those here.)
async fn refused(
    state: &AppState,
    caller: &Caller,
    action: &str,
    resource: String,
    error: &ApiError,
) {
    if error.status().is_client_error() {
        record_refusal(state, caller, action, resource, error).await;
    }
}

async fn record_refusal(
    state: &AppState,
    caller: &Caller,
    action: &str,
    resource: String,
    error: &ApiError,
) {
    let rejected = AuditEvent {
        at: state.now(),
        request_id: caller.request_id.clone(),
        principal: format!("party:{}", caller.party.id),
        action: action.into(),
        resource,
        outcome: Outcome::Deny,
        policy_ids: Vec::new(),
        policy_set: state.policy.current().version().to_owned(),
        detail: json!({ "code": error.code() }),
    };
    if let Err(e) = audit::append(state.db.pool(), &rejected).await {
        tracing::warn!(error = %e, action, "could not record a refused request");
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<Json<Vec<DocumentView>>, ApiError> {
    let facts = case_facts(&state, &case).await?;
    caller
        .authorize::<ListDocuments>(&state, Resource::Case(&facts), json!({}))
        .await?;
    let docs = store::list_visible(&state.db, &facts.id, &caller.party.id).await?;
    Ok(Json(docs.iter().map(DocumentView::from).collect()))
}

async fn document(
    state: &AppState,
    raw: &str,
) -> Result<(DocumentRecord, DocumentFacts), ApiError> {
    let doc = find_document(state, raw).await?;
    let facts = document_facts(state, &doc).await?;
    Ok((doc, facts))
}

async fn find_document(state: &AppState, raw: &str) -> Result<DocumentRecord, ApiError> {
    let id = DocumentId::parse(raw)?;
    Ok(store::find(&state.db, &id)
        .await?
        .ok_or(DocumentError::NotFound(id))?)
}

/// What the policy sees of a document.
async fn document_facts(state: &AppState, doc: &DocumentRecord) -> Result<DocumentFacts, ApiError> {
    let case = cases::facts(&state.db, &doc.case)
        .await?
        .ok_or_else(|| CaseError::NotFound(doc.case.clone()))?;
    Ok(DocumentFacts {
        id: doc.id.to_string(),
        case,
        document_type: doc.document_type.as_str().to_owned(),
        purpose: doc.purpose.as_str().to_owned(),
        author: doc.author.to_string(),
    })
}

async fn is_recipient(
    state: &AppState,
    doc: &DocumentRecord,
    party: &PartyId,
) -> Result<bool, ApiError> {
    Ok(store::recipients(&state.db, &doc.id)
        .await?
        .iter()
        .any(|r| &r.party == party))
}

/// What the policy sees of a read beyond the document: its case, its
/// recipients, the consents of its data subjects.
async fn read_facts(
    state: &AppState,
    doc: &DocumentRecord,
) -> Result<(DocumentFacts, Vec<RecipientRecord>, SubjectConsents), ApiError> {
    let (facts, recipients, consents) = tokio::join!(
        document_facts(state, doc),
        store::recipients(&state.db, &doc.id),
        SubjectConsents::load(&state.db, &doc.case, &doc.subjects)
    );
    Ok((facts?, recipients?, consents?))
}

pub async fn envelope(
    State(state): State<AppState>,
    identity: Identity,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let read = async {
        let purpose = purpose_of(query_value(&query, "purpose")?)?;
        let doc = find_document(&state, &raw).await?;
        Ok::<_, ApiError>((purpose, doc))
    };
    // The document is read while the caller is identified; a caller who is
    // not learns nothing of it, not even whether it exists.
    let (caller, read) = tokio::join!(identity.identify(&state), read);
    let caller = caller?;
    let (purpose, doc) = match read {
        Ok(read) => read,
        Err(error) => {
            let resource = document_resource(&raw);
            refused(&state, &caller, "DocumentReadRejected", resource, &error).await;
            return Err(error);
        }
    };
    // The object opens (on S3 the GET goes out) as soon as the document is
    // known, while what the policy needs is read, the policy decides and
    // the read's evidence, the decision with the consents it uses, is
    // committed; no byte leaves before that commit.
    let decided = async {
        let (facts, recipients, consents) = match read_facts(&state, &doc).await {
            Ok(read) => read,
            Err(error) => {
                let resource = document_resource(&raw);
                refused(&state, &caller, "DocumentReadRejected", resource, &error).await;
                return Err(error);
            }
        };
        let recipient = recipients.iter().any(|r| r.party == caller.party.id);
        let now = state.now();
        let consent = consents.facts(purpose, doc.document_type, Some(&caller.party), &now);
        let context = json!({ "purpose": purpose.as_str(), "is_recipient": recipient });
        let allowed = caller
            .decide_move::<ReadDocument>(&state, Resource::Document(&facts), context, &consent)
            .await?;
        let mut evidence = state.db.begin().await.map_err(DbError::from)?;
        let proof = allowed.record_in(&mut evidence).await?;
        consent::record_use(
            &mut evidence,
            &consent.used(),
            &caller.party.id,
            &doc.id,
            &now,
        )
        .await?;
        evidence.commit().await.map_err(DbError::from)?;
        Ok::<_, ApiError>((proof, recipients))
    };
    let (decided, opening) = tokio::join!(decided, retrieve::open(&state.vault, &doc));
    // A refusal answers before any trouble the store had.
    let (proof, recipients) = decided?;
    let opened = opening?.with(&recipients);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jose+json"),
    );
    // Known in advance: clients size their buffers and progress bars by it.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(opened.size()));
    let stream = opened.deliver(&proof);
    for (name, value) in [
        (MANIFEST_HEADER, doc.manifest.as_str()),
        (RECEIPT_HEADER, doc.receipt.as_str()),
        (ENVELOPE_SHA256_HEADER, doc.envelope_sha256.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    Ok((headers, Body::from_stream(stream)).into_response())
}

pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ShareRequest>,
) -> Result<(StatusCode, Json<ShareAnswer>), ApiError> {
    let asked = async {
        let purpose = purpose_of(&body.purpose)?;
        let (doc, facts) = document(&state, &raw).await?;
        let party_id = PartyId::parse(&body.party)?;
        let party = parties::find(&state.db, &party_id)
            .await?
            .ok_or_else(|| ApiError::invalid("unknown_party", PartyError::NotFound(party_id)))?;
        let holder = is_recipient(&state, &doc, &caller.party.id).await?;
        let consent = SubjectConsents::load(&state.db, &doc.case, &doc.subjects)
            .await?
            .facts(purpose, doc.document_type, Some(&party), &state.now());
        let entitled = party.is_active()
            && state
                .policy
                .current()
                .decide(
                    &party,
                    Action::ReceiveDocument,
                    &Resource::Case(&facts.case),
                    plan::receive_context(doc.document_type, purpose, &consent),
                )?
                .allowed;
        Ok::<_, ApiError>((purpose, doc, facts, party, holder, consent, entitled))
    };
    let (purpose, doc, facts, party, holder, consent, entitled) = match asked.await {
        Ok(asked) => asked,
        Err(error) => {
            let resource = document_resource(&raw);
            refused(&state, &caller, "DocumentShareRejected", resource, &error).await;
            return Err(error);
        }
    };
    let context = json!({
        "purpose": purpose.as_str(),
        "is_recipient": holder,
        "new_recipient": { "__entity": { "type": "Ponte::Party", "id": party.id.as_str() } },
        "new_recipient_role": party.role.as_str(),
        "new_recipient_entitled": entitled,
    });
    let proof = caller
        .authorize_move::<ShareDocument>(&state, Resource::Document(&facts), context, &consent)
        .await?;
    let added = match share::share(
        &state.vault,
        &proof,
        &doc,
        &party,
        body.entry,
        state.clock.now(),
    )
    .await
    {
        Ok(added) => added,
        Err(e) => {
            let error = ApiError::from(e);
            let resource = format!("document:{}", doc.id);
            refused(&state, &caller, "DocumentShareRejected", resource, &error).await;
            return Err(error);
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(ShareAnswer {
            document: doc.id,
            party: added.party,
            kid: added.kid,
        }),
    ))
}
