//! Case routes: open, list, read, attach a party, move through the workflow.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::ApiJson;
use super::Path;
use crate::app::AppState;
use crate::cases::workflow::{self, Transition};
use crate::cases::{
    self, Case, CaseError, CaseFacts, CaseId, CaseState, CaseSummary, Country, Member,
};
use crate::documents::DocumentId;
use crate::parties::{self, Party, PartyError, PartyId, Role};
use crate::policy::actions::{AttachParty, ListCases, OpenCase, ReadCase, TransitionCase};
use crate::policy::Resource;

/// Body of `POST /v1/cases`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseRequest {
    /// The child's country of origin, ISO 3166-1 alpha-2 (e.g. `AL`).
    #[schemars(schema_with = "super::openapi::fields::country")]
    pub country: String,
    /// The ministry party the case is addressed to; may be omitted when
    /// exactly one ministry is registered.
    #[serde(default)]
    pub ministry: Option<String>,
}

/// Body of `POST /v1/cases/{case}/members`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// The party to attach, in its registered role.
    #[schemars(schema_with = "super::openapi::fields::party")]
    pub party: String,
}

pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<OpenCaseRequest>,
) -> Result<(StatusCode, Json<Case>), ApiError> {
    let country = Country::parse(&body.country)?;
    let ministry = addressed_ministry(&state, body.ministry.as_deref()).await?;
    let proof = caller
        .authorize::<OpenCase>(
            &state,
            Resource::Broker,
            json!({ "country": country.as_str() }),
        )
        .await?;
    let case = cases::open(
        &state.db,
        &proof,
        caller.party.role,
        &country,
        &ministry,
        &state.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(case)))
}

/// The ministry named, or the only active one.
async fn addressed_ministry(state: &AppState, named: Option<&str>) -> Result<Party, ApiError> {
    if let Some(raw) = named {
        let id = PartyId::parse(raw)?;
        return parties::find(&state.db, &id)
            .await?
            .filter(|p| p.role == Role::Ministry && p.is_active())
            .ok_or_else(|| {
                CaseError::NoMinistry(format!("{id} is not an active ministry")).into()
            });
    }
    let mut ministries: Vec<Party> = parties::list(&state.db)
        .await?
        .into_iter()
        .filter(|p| p.role == Role::Ministry && p.is_active())
        .collect();
    match ministries.len() {
        1 => Ok(ministries.remove(0)),
        0 => Err(CaseError::NoMinistry("no active ministry is registered".into()).into()),
        _ => Err(CaseError::NoMinistry(
            "several ministries are registered; name one in `ministry`".into(),
        )
        .into()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<CaseSummary>>, ApiError> {
    let proof = caller
        .authorize::<ListCases>(&state, Resource::Broker, json!({}))
        .await?;
    Ok(Json(cases::list_for(&state.db, &proof).await?))
}

pub(super) async fn existing(state: &AppState, raw: &str) -> Result<CaseFacts, ApiError> {
    let id = CaseId::parse(raw)?;
    Ok(cases::facts(&state.db, &id)
        .await?
        .ok_or(CaseError::NotFound(id))?)
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Case>, ApiError> {
    let facts = existing(&state, &raw).await?;
    let proof = caller
        .authorize::<ReadCase>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(cases::show(&state.db, &proof, &facts.id).await?))
}

pub async fn attach(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<AttachRequest>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let facts = existing(&state, &raw).await?;
    let id = PartyId::parse(&body.party)?;
    let attachee = parties::find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::invalid("unknown_party", PartyError::NotFound(id)))?;
    let context = json!({
        "attachee": { "__entity": { "type": "Ponte::Party", "id": attachee.id.as_str() } },
        "attachee_role": attachee.role.as_str(),
        "attachee_active": attachee.is_active(),
    });
    let proof = caller
        .authorize::<AttachParty>(&state, Resource::Case(&facts), context)
        .await?;
    let member = cases::attach(&state.db, &proof, &facts.id, &attachee, &state.now()).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Body of `POST /v1/cases/{case}/transitions`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The state the case moves to.
    pub to: CaseState,
    /// The document the step rests on (a family assessment, a court
    /// decision, a return notice…); the newest current one when omitted.
    #[serde(default)]
    pub document: Option<String>,
}

/// A case's steps so far and where it can go next.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Workflow {
    pub case: CaseId,
    pub state: CaseState,
    pub next: Vec<CaseState>,
    pub transitions: Vec<Transition>,
}

pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<TransitionRequest>,
) -> Result<(StatusCode, Json<Transition>), ApiError> {
    let facts = existing(&state, &raw).await?;
    let document = body
        .document
        .as_deref()
        .map(DocumentId::parse)
        .transpose()?;
    // A member asking out of order is told the way on (409) before the
    // policy is asked; anyone else learns nothing of the case's state.
    if facts.members.contains(&caller.party.id) {
        workflow::check(&facts, body.to)?;
    }
    let context = json!({ "from": facts.state.as_str(), "to": body.to.as_str() });
    let proof = caller
        .authorize::<TransitionCase>(&state, Resource::Case(&facts), context)
        .await?;
    let step = workflow::transition(
        &state.db,
        &state.vault.broker_key,
        &proof,
        &facts,
        body.to,
        document.as_ref(),
        &state.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(step)))
}

pub async fn transitions(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Workflow>, ApiError> {
    let facts = existing(&state, &raw).await?;
    let proof = caller
        .authorize::<ReadCase>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(Workflow {
        case: facts.id.clone(),
        state: facts.state,
        next: workflow::next_states(facts.state),
        transitions: workflow::history(&state.db, &proof, &facts.id).await?,
    }))
}
