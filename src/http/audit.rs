//! Evidence routes: signed checkpoints, inclusion and consistency proofs,
//! a document's leaves with their proofs, and who read what about a person.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::cases::existing;
use super::error::ApiError;
use super::Path;
use super::Query;
use crate::app::AppState;
use crate::audit::access::{self, AccessReport};
use crate::audit::checkpoint::{self, Published};
use crate::audit::log;
use crate::audit::merkle;
use crate::documents::store;
use crate::documents::{DocumentError, DocumentId, SubjectId};
use crate::policy::actions::{
    PublishCheckpoint, ReadAuditProof, ReadCheckpoint, ReadDocumentEvidence, ReadSubjectAccesses,
};
use crate::policy::{DocumentFacts, Resource};

/// An inclusion proof: the hashes that lead from a leaf to a tree's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Hex SHA-256 hashes, leaf to root.
    pub proof: Vec<String>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// One event about a document, as its leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceLeaf {
    pub action: String,
    pub decision: String,
    pub at: String,
    /// The leaf's canonical JSON (what was hashed, with the 0x00 prefix).
    pub leaf: String,
    /// Absent until the event is integrated.
    pub inclusion: Option<InclusionProof>,
}

/// A document's evidence against one signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentEvidence {
    pub document: DocumentId,
    /// The broker-signed checkpoint (C2SP signed note) the proofs lead to.
    pub checkpoint: String,
    pub events: Vec<EvidenceLeaf>,
}

fn number(query: &HashMap<String, String>, name: &'static str) -> Result<u64, ApiError> {
    query
        .get(name)
        .ok_or_else(|| ApiError::BadRequest {
            code: "missing_parameter",
            detail: format!("the query parameter `{name}` is required"),
        })?
        .parse()
        .map_err(|_| {
            ApiError::invalid(
                "invalid_tree_size",
                format!("`{name}` must be a whole number"),
            )
        })
}

async fn fresh(state: &AppState) -> Result<Published, ApiError> {
    Ok(checkpoint::publish(
        &state.db,
        &state.vault.broker_key,
        &state.log_origin,
        &state.now(),
    )
    .await?)
}

fn note(published: Published) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        published.note,
    )
        .into_response()
}

pub async fn read_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller
        .authorize::<ReadCheckpoint>(&state, Resource::Broker, json!({}))
        .await?;
    if query.contains_key("size") {
        let size = number(&query, "size")?;
        return checkpoint::at_size(&state.db, size)
            .await?
            .map(note)
            .ok_or_else(|| ApiError::NotFound {
                code: "checkpoint_not_found",
                detail: format!("no checkpoint was published at tree size {size}"),
            });
    }
    match checkpoint::latest(&state.db).await? {
        Some(latest) => Ok(note(latest)),
        None => Ok(note(fresh(&state).await?)),
    }
}

pub async fn publish_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller
        .authorize::<PublishCheckpoint>(&state, Resource::Broker, json!({}))
        .await?;
    Ok(note(fresh(&state).await?))
}

/// Refuses sizes beyond the integrated tree.
async fn within(state: &AppState, sizes: &[u64]) -> Result<(), ApiError> {
    let head = log::head(state.db.pool()).await?;
    if let Some(size) = sizes.iter().find(|s| **s > head.size) {
        return Err(ApiError::invalid(
            "invalid_tree_size",
            format!("the tree has {} leaves, not {size}", head.size),
        ));
    }
    Ok(())
}

pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<InclusionProof>, ApiError> {
    let (index, size) = (number(&query, "index")?, number(&query, "size")?);
    caller
        .authorize::<ReadAuditProof>(&state, Resource::Broker, json!({}))
        .await?;
    within(&state, &[size]).await?;
    if index >= size {
        return Err(ApiError::invalid(
            "invalid_tree_size",
            "index must be smaller than size",
        ));
    }
    let proof = log::inclusion_proof(&state.db, index, size).await?;
    Ok(Json(InclusionProof {
        leaf_index: index,
        tree_size: size,
        proof: proof.iter().map(merkle::hex).collect(),
    }))
}

pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let (from, to) = (number(&query, "from")?, number(&query, "to")?);
    caller
        .authorize::<ReadAuditProof>(&state, Resource::Broker, json!({}))
        .await?;
    within(&state, &[from, to]).await?;
    if from > to {
        return Err(ApiError::invalid(
            "invalid_tree_size",
            "from must not exceed to",
        ));
    }
    let proof = log::consistency_proof(&state.db, from, to).await?;
    Ok(Json(ConsistencyProof {
        from,
        to,
        proof: proof.iter().map(merkle::hex).collect(),
    }))
}

pub async fn document_evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<DocumentEvidence>, ApiError> {
    let id = DocumentId::parse(&raw)?;
    let doc = store::find(&state.db, &id)
        .await?
        .ok_or_else(|| DocumentError::NotFound(id.clone()))?;
    let case = crate::cases::facts(&state.db, &doc.case)
        .await?
        .ok_or_else(|| crate::cases::CaseError::NotFound(doc.case.clone()))?;
    let facts = DocumentFacts {
        id: doc.id.to_string(),
        case,
        document_type: doc.document_type.as_str().to_owned(),
        purpose: doc.purpose.as_str().to_owned(),
        author: doc.author.to_string(),
    };
    let recipient = store::recipients(&state.db, &doc.id)
        .await?
        .iter()
        .any(|r| r.party == caller.party.id);
    caller
        .authorize::<ReadDocumentEvidence>(
            &state,
            Resource::Document(&facts),
            json!({ "is_recipient": recipient }),
        )
        .await?;
    let published = fresh(&state).await?;
    let mut events = Vec::new();
    for (seq, event, index) in log::events_about(&state.db, &format!("document:{id}")).await? {
        let inclusion = match index.filter(|i| *i < published.size) {
            Some(i) => Some(InclusionProof {
                leaf_index: i,
                tree_size: published.size,
                proof: log::inclusion_proof(&state.db, i, published.size)
                    .await?
                    .iter()
                    .map(merkle::hex)
                    .collect(),
            }),
            None => None,
        };
        events.push(EvidenceLeaf {
            action: event.action.clone(),
            decision: event.outcome.as_str().to_owned(),
            at: event.at.clone(),
            leaf: String::from_utf8_lossy(&log::leaf_bytes(seq, &event)).into_owned(),
            inclusion,
        });
    }
    Ok(Json(DocumentEvidence {
        document: id,
        checkpoint: published.note,
        events,
    }))
}

pub async fn subject_accesses(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, subject)): Path<(String, String)>,
) -> Result<Json<AccessReport>, ApiError> {
    let subject = SubjectId::parse(&subject)?;
    let facts = existing(&state, &case).await?;
    let proof = caller
        .authorize::<ReadSubjectAccesses>(&state, Resource::Case(&facts), json!({}))
        .await?;
    log::integrate_all(&state.db, &state.now()).await?;
    Ok(Json(
        access::for_subject(&state.db, &proof, &facts.id, &subject).await?,
    ))
}
