//! Operational routes: liveness, readiness, metrics, the broker's keys, the
//! API description, and the answer to unknown paths.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;

use super::error::ApiError;
use crate::app::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Readiness answer: each dependency's state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub objects: &'static str,
}

pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let database = tokio::time::timeout(PROBE_TIMEOUT, state.db.ping()).await;
    match database {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::Unavailable("database", e.to_string())),
        Err(_) => return Err(ApiError::Unavailable("database", "probe timed out".into())),
    }
    match tokio::time::timeout(PROBE_TIMEOUT, state.objects.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::Unavailable("object store", e.to_string())),
        Err(_) => {
            return Err(ApiError::Unavailable(
                "object store",
                "probe timed out".into(),
            ))
        }
    }
    Ok(Json(Readiness {
        status: "ready",
        database: "ok",
        objects: "ok",
    }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.vault.objects.streaming_counts()),
    )
}

pub async fn broker_keys(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.broker_jwks.as_ref().clone())
}

pub async fn openapi(
    Extension(document): Extension<Arc<serde_json::Value>>,
) -> Json<serde_json::Value> {
    Json(document.as_ref().clone())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::Other {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        detail: "this route does not take that method; see /v1/openapi.json".into(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "no_such_route",
        detail: "no such route; see /v1/openapi.json".into(),
    }
}
