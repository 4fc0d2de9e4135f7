//! Notice routes: each party's inbox (paged), reading and acknowledging, a
//! case's notices for the ministry, and the party's webhook.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::cases::existing;
use super::error::ApiError;
use super::ApiJson;
use super::Path;
use super::Query;
use crate::app::AppState;
use crate::notices::{self, InboxNotice, InboxPage, NoticeKind, Webhook};
use crate::policy::actions::{
    AcknowledgeNotice, ListCaseNotices, ListNotices, ReadNotice, ReadWebhook, RemoveWebhook,
    SetWebhook,
};
use crate::policy::Resource;

/// Body of `PUT /v1/me/webhook`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where notices are pushed: `https://…` (or `http://` to a loopback address).
    #[schemars(schema_with = "super::openapi::fields::webhook_url")]
    pub url: String,
}

/// Inbox page size when none is asked for.
const DEFAULT_PAGE: u32 = 50;

pub async fn inbox(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<InboxPage>, ApiError> {
    let kind = query
        .get("kind")
        .map(|k| {
            k.parse::<NoticeKind>().map_err(|_| {
                ApiError::invalid(
                    "unknown_notice_kind",
                    format!(
                        "{k:?} is not a notice kind; expected one of: {}",
                        NoticeKind::ALL.map(NoticeKind::as_str).join(", ")
                    ),
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=notices::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_limit",
                    format!("limit must be a number from 1 to {}", notices::MAX_PAGE),
                )
            })?,
    };
    let proof = caller
        .authorize::<ListNotices>(&state, Resource::Broker, json!({}))
        .await?;
    Ok(Json(
        notices::inbox(
            &state.db,
            &proof,
            kind,
            limit,
            query.get("cursor").map(String::as_str),
        )
        .await?,
    ))
}

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InboxNotice>, ApiError> {
    let proof = caller
        .authorize::<ReadNotice>(&state, Resource::Broker, json!({}))
        .await?;
    Ok(Json(
        notices::read(&state.db, &proof, &id, &state.now()).await?,
    ))
}

pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InboxNotice>, ApiError> {
    let proof = caller
        .authorize::<AcknowledgeNotice>(&state, Resource::Broker, json!({}))
        .await?;
    Ok(Json(
        notices::acknowledge(&state.db, &proof, &id, &state.now()).await?,
    ))
}

pub async fn for_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<Json<Vec<InboxNotice>>, ApiError> {
    let facts = existing(&state, &case).await?;
    let proof = caller
        .authorize::<ListCaseNotices>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(notices::for_case(&state.db, &proof, &facts.id).await?))
}

pub async fn webhook(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Webhook>, ApiError> {
    caller
        .authorize::<ReadWebhook>(&state, Resource::Party(&caller.party), json!({}))
        .await?;
    notices::webhook(&state.db, &caller.party.id)
        .await?
        .map(Json)
        .ok_or_else(|| notices::NoticeError::NoWebhook.into())
}

pub async fn set_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<Json<Webhook>, ApiError> {
    notices::delivery::check_url(&body.url)?;
    let proof = caller
        .authorize::<SetWebhook>(&state, Resource::Party(&caller.party), json!({}))
        .await?;
    Ok(Json(
        notices::set_webhook(&state.db, &proof, &body.url, &state.now()).await?,
    ))
}

pub async fn remove_webhook(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let proof = caller
        .authorize::<RemoveWebhook>(&state, Resource::Party(&caller.party), json!({}))
        .await?;
    notices::remove_webhook(&state.db, &proof).await?;
    Ok(StatusCode::NO_CONTENT)
}
