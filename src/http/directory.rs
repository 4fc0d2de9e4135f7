//! The party directory: who am I, the parties and their public keys.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::Path;
use crate::app::AppState;
use crate::consent::{self, PurposeInfo};
use crate::jose::Jwk;
use crate::parties::{self, KeyStatus, Party, PartyId, PartyKey, PartyStatus, Role};
use crate::policy::actions::{ListParties, ListPurposes, ReadMe, ReadParty};
use crate::policy::Resource;

/// A party as the directory shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartyView {
    pub id: String,
    pub role: Role,
    pub display_name: String,
    pub status: PartyStatus,
}

impl From<&Party> for PartyView {
    fn from(p: &Party) -> Self {
        PartyView {
            id: p.id.to_string(),
            role: p.role,
            display_name: p.display_name.clone(),
            status: p.status,
        }
    }
}

/// One key of a party, with its history.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyView {
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub status: KeyStatus,
    pub created_at: String,
    pub retired_at: Option<String>,
    /// The public JWK.
    pub jwk: serde_json::Value,
}

impl From<PartyKey> for KeyView {
    fn from(k: PartyKey) -> Self {
        KeyView {
            jwk: jwk_value(&k.jwk),
            kid: k.kid,
            key_use: k.key_use.as_str().to_owned(),
            status: k.status,
            created_at: k.created_at,
            retired_at: k.retired_at,
        }
    }
}

/// A party with every key it has had.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartyDetail {
    #[serde(flatten)]
    pub party: PartyView,
    pub keys: Vec<KeyView>,
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Jwks {
    pub keys: Vec<serde_json::Value>,
}

pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PartyView>, ApiError> {
    caller
        .authorize::<ReadMe>(
            &state,
            Resource::Party(&caller.party),
            serde_json::json!({}),
        )
        .await?;
    Ok(Json(PartyView::from(&caller.party)))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PartyView>>, ApiError> {
    caller
        .authorize::<ListParties>(&state, Resource::Broker, serde_json::json!({}))
        .await?;
    let all = parties::list(&state.db).await?;
    Ok(Json(all.iter().map(PartyView::from).collect()))
}

async fn authorized_party(state: &AppState, caller: &Caller, raw: &str) -> Result<Party, ApiError> {
    let id = PartyId::parse(raw)?;
    let party = parties::find(&state.db, &id)
        .await?
        .ok_or(parties::PartyError::NotFound(id))?;
    caller
        .authorize::<ReadParty>(state, Resource::Party(&party), serde_json::json!({}))
        .await?;
    Ok(party)
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<PartyDetail>, ApiError> {
    let party = authorized_party(&state, &caller, &raw).await?;
    let keys = parties::keys(&state.db, &party.id).await?;
    Ok(Json(PartyDetail {
        party: PartyView::from(&party),
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

pub async fn jwks(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Jwks>, ApiError> {
    let party = authorized_party(&state, &caller, &raw).await?;
    let keys = parties::keys(&state.db, &party.id).await?;
    Ok(Json(Jwks {
        keys: keys
            .iter()
            .filter(|k| k.is_published())
            .map(|k| jwk_value(&k.jwk))
            .collect(),
    }))
}

fn jwk_value(jwk: &Jwk) -> serde_json::Value {
    serde_json::to_value(jwk.public()).unwrap_or_default()
}

pub async fn purposes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PurposeInfo>>, ApiError> {
    caller
        .authorize::<ListPurposes>(&state, Resource::Broker, serde_json::json!({}))
        .await?;
    Ok(Json(consent::registry()))
}
