//! The dossier route: a court downloads the decision dossier of its case.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Caller;
use super::cases::existing;
use super::error::ApiError;
use super::Path;
use crate::app::AppState;
use crate::dossiers::{self, archive};
use crate::policy::actions::ReadDossier;
use crate::policy::Resource;

/// Response header naming the dossier id.
pub const DOSSIER_HEADER: &str = "ponte-dossier-id";

pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<Response, ApiError> {
    let facts = existing(&state, &case).await?;
    let proof = caller
        .authorize::<ReadDossier>(&state, Resource::Case(&facts), json!({}))
        .await?;
    let now = state.clock.now();
    let dossier = dossiers::assemble(
        &state.db,
        &state.policy.current(),
        &state.vault.broker_key,
        &proof,
        &caller.party,
        &facts,
        &crate::clock::rfc3339(now),
    )
    .await?;
    let (length, body) =
        archive::stream(&state.vault, &proof, &dossier, now.unix_timestamp()).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.tar\"",
        archive::folder(&dossier)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&dossier.manifest.dossier) {
        headers.insert(DOSSIER_HEADER, value);
    }
    Ok((headers, Body::from_stream(body)).into_response())
}
