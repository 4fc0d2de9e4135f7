//! Consent routes: data subjects, consent records and their changes, the
//! withdrawal by the person's one-time code, and legal holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::documents::purpose_of;
use super::error::ApiError;
use super::ApiJson;
use super::Path;
use crate::app::AppState;
use crate::cases::{self, CaseError, CaseFacts, CaseId};
use crate::consent::{
    self, Change, ConsentChange, ConsentError, ConsentId, ConsentRecipient, ConsentRecord,
    ConsentState, DataSubject, GivenBy, NewConsent, Notice, Relation,
};
use crate::documents::erasure::{self, LegalHold};
use crate::documents::{DocumentId, DocumentType, SubjectId};
use crate::parties::{self, PartyError, PartyId};
use crate::policy::actions::{
    AddSubject, ChangeConsent, LiftLegalHold, ListConsents, ListSubjects, ReadConsent,
    RecordConsent, SetLegalHold, WithdrawConsentWithCode,
};
use crate::policy::{self, RequestMeta, Resource};

/// Body of `POST /v1/cases/{case}/subjects`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSubjectRequest {
    /// A pseudonymous id, `subj-…`; never a name.
    #[schemars(schema_with = "super::openapi::fields::subject")]
    pub id: String,
    /// child, mother, father, sibling, other_relative, other.
    #[schemars(schema_with = "super::openapi::fields::relation")]
    pub relation: String,
    /// The party representing the subject (the guardian for the child).
    #[serde(default)]
    pub representative: Option<String>,
}

/// Body of `POST /v1/cases/{case}/consents`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsentRequest {
    #[schemars(schema_with = "super::openapi::fields::subject")]
    pub subject: String,
    /// `given` or `refused`.
    pub state: String,
    /// `subject` or `representative`.
    pub given_by: String,
    /// Consent-based purposes only.
    pub purposes: Vec<String>,
    /// `role:<role>` or `party:<party id>`.
    pub recipients: Vec<String>,
    pub document_types: Vec<String>,
    /// RFC 3339; default now.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// RFC 3339, in the future.
    #[serde(default)]
    pub valid_until: Option<String>,
    pub notice_version: String,
    /// BCP 47 tag of the notice's language.
    pub notice_language: String,
    /// The consent-form document (submitted through the exchange) that is the evidence.
    pub evidence: String,
}

/// A consent as recorded, with its receipt and (once) its code.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordedConsent {
    pub consent: ConsentRecord,
    /// The broker-signed consent receipt for the person (compact JWS).
    pub receipt: String,
    /// The one-time withdrawal code to hand to the person, shown only now;
    /// the broker keeps only its hash. Absent for a refusal.
    pub code: Option<String>,
}

/// A consent with its state now and its whole history.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsentDetail {
    pub consent: ConsentRecord,
    /// The state at this moment (`expired` once the validity ended).
    pub state_now: ConsentState,
    pub history: Vec<ConsentChange>,
}

/// Body of `POST /v1/consents/{consent}/state`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeConsentRequest {
    /// `withdrawn` (the collector, on the person's behalf), `revoked` or `invalidated` (a court).
    #[schemars(schema_with = "super::openapi::fields::consent_change")]
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Body of `POST /v1/consents/{consent}/withdraw`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// The one-time code the person received at collection.
    pub code: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer to a consent change.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangedConsent {
    pub consent: ConsentRecord,
    /// The broker-signed consent receipt of this change.
    pub receipt: String,
    /// The withdrawal notices sent to earlier recipients.
    pub notices: Vec<String>,
}

/// Body of `PUT /v1/cases/{case}/hold`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why the case's documents must outlive their retention (at most 500 characters).
    #[schemars(schema_with = "super::openapi::fields::hold_reason")]
    pub reason: String,
}

async fn case_facts(state: &AppState, raw: &str) -> Result<CaseFacts, ApiError> {
    let id = CaseId::parse(raw)?;
    Ok(cases::facts(&state.db, &id)
        .await?
        .ok_or(CaseError::NotFound(id))?)
}

fn list<T: std::str::FromStr>(raw: &[String]) -> Result<Vec<T>, ApiError>
where
    ApiError: From<T::Err>,
{
    raw.iter().map(|r| Ok(r.parse::<T>()?)).collect()
}

pub async fn add_subject(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    ApiJson(body): ApiJson<AddSubjectRequest>,
) -> Result<(StatusCode, Json<DataSubject>), ApiError> {
    let id = SubjectId::parse(&body.id)?;
    let relation: Relation = body.relation.parse()?;
    let representative = match &body.representative {
        Some(raw) => {
            let id = PartyId::parse(raw)?;
            Some(
                parties::find(&state.db, &id)
                    .await?
                    .ok_or_else(|| ApiError::invalid("unknown_party", PartyError::NotFound(id)))?,
            )
        }
        None => None,
    };
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<AddSubject>(
            &state,
            Resource::Case(&facts),
            json!({ "relation": relation.as_str() }),
        )
        .await?;
    let subject = consent::add_subject(
        &state.db,
        &proof,
        &facts.id,
        &id,
        relation,
        representative.as_ref(),
        &state.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(subject)))
}

pub async fn subjects(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<Json<Vec<DataSubject>>, ApiError> {
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<ListSubjects>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(consent::subjects(&state.db, &proof, &facts.id).await?))
}

pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    ApiJson(body): ApiJson<RecordConsentRequest>,
) -> Result<(StatusCode, Json<RecordedConsent>), ApiError> {
    let purposes = body
        .purposes
        .iter()
        .map(|p| purpose_of(p))
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewConsent {
        subject: SubjectId::parse(&body.subject)?,
        state: body.state.parse()?,
        given_by: body.given_by.parse::<GivenBy>()?,
        purposes,
        recipients: list::<ConsentRecipient>(&body.recipients)?,
        document_types: list::<DocumentType>(&body.document_types)?,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        notice: Notice {
            version: body.notice_version,
            language: body.notice_language,
        },
        evidence: DocumentId::parse(&body.evidence)?,
    };
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<RecordConsent>(
            &state,
            Resource::Case(&facts),
            json!({ "state": new.state.as_str() }),
        )
        .await?;
    let recorded = consent::record(
        &state.db,
        &state.vault.broker_key,
        &proof,
        &facts.id,
        new,
        &state.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(RecordedConsent {
            consent: recorded.record,
            receipt: recorded.change.receipt,
            code: recorded.code,
        }),
    ))
}

pub async fn list_for_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<Json<Vec<ConsentRecord>>, ApiError> {
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<ListConsents>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(
        consent::list_for_case(&state.db, &proof, &facts.id).await?,
    ))
}

async fn consent_and_case(
    state: &AppState,
    raw: &str,
) -> Result<(ConsentRecord, CaseFacts), ApiError> {
    let id = ConsentId::parse(raw)?;
    let record = consent::find(&state.db, &id)
        .await?
        .ok_or(ConsentError::NotFound(id))?;
    let case = cases::facts(&state.db, &record.case)
        .await?
        .ok_or_else(|| CaseError::NotFound(record.case.clone()))?;
    Ok((record, case))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<ConsentDetail>, ApiError> {
    let (record, case) = consent_and_case(&state, &raw).await?;
    caller
        .authorize::<ReadConsent>(
            &state,
            Resource::Consent {
                record: &record,
                case: &case,
            },
            json!({}),
        )
        .await?;
    let history = consent::history(&state.db, &record.id).await?;
    Ok(Json(ConsentDetail {
        state_now: record.state_at(&state.now()),
        consent: record,
        history,
    }))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ChangeConsentRequest>,
) -> Result<Json<ChangedConsent>, ApiError> {
    let to: ConsentState = body.state.parse()?;
    let (record, case) = consent_and_case(&state, &raw).await?;
    let proof = caller
        .authorize::<ChangeConsent>(
            &state,
            Resource::Consent {
                record: &record,
                case: &case,
            },
            json!({ "new_state": to.as_str() }),
        )
        .await?;
    let changed = consent::change(
        &state.db,
        &state.vault.broker_key,
        &proof,
        &record,
        Change {
            to,
            reason: body.reason,
        },
        &state.now(),
    )
    .await?;
    Ok(Json(ChangedConsent {
        consent: changed.record,
        receipt: changed.change.receipt,
        notices: changed.notices,
    }))
}

/// The person withdraws with the code: no certificate, the code is the
/// credential. Wrong codes are counted and, past the limit, not even
/// compared; each attempt is a policy decision in the audit log.
pub async fn withdraw_with_code(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<WithdrawRequest>,
) -> Result<Json<ChangedConsent>, ApiError> {
    let (record, case) = consent_and_case(&state, &raw).await?;
    let code_valid = consent::check_code(
        &state.db,
        &record.id,
        &body.code,
        state.clock.now().unix_timestamp(),
    )
    .await?;
    let at = state.now();
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let meta = RequestMeta {
        request_id,
        at: &at,
    };
    let proof = policy::authorize_anonymous::<WithdrawConsentWithCode>(
        &state.policy.current(),
        &state.db,
        meta,
        Resource::Consent {
            record: &record,
            case: &case,
        },
        json!({ "code_valid": code_valid }),
    )
    .await
    .map_err(|e| match e {
        policy::PolicyError::DeniedAnonymous { .. } => ConsentError::WrongCode.into(),
        other => ApiError::from(other),
    })?;
    let changed = consent::withdraw_with_code(
        &state.db,
        &state.vault.broker_key,
        &proof,
        &record,
        body.reason,
        &at,
    )
    .await?;
    Ok(Json(ChangedConsent {
        consent: changed.record,
        receipt: changed.change.receipt,
        notices: changed.notices,
    }))
}

pub async fn set_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    ApiJson(body): ApiJson<HoldRequest>,
) -> Result<Json<LegalHold>, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid(
            "invalid_hold_reason",
            "a legal hold needs a reason of at most 500 characters",
        ));
    }
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<SetLegalHold>(&state, Resource::Case(&facts), json!({}))
        .await?;
    Ok(Json(
        erasure::set_hold(&state.db, &proof, &facts.id, reason, &state.now()).await?,
    ))
}

pub async fn lift_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> Result<StatusCode, ApiError> {
    let facts = case_facts(&state, &case).await?;
    let proof = caller
        .authorize::<LiftLegalHold>(&state, Resource::Case(&facts), json!({}))
        .await?;
    if erasure::lift_hold(&state.db, &proof, &facts.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            code: "no_legal_hold",
            detail: format!("case {} has no legal hold", facts.id),
        })
    }
}
