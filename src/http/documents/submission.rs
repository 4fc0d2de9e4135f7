//! Submissions: the headers read and checked, the policy's decision, the
//! plan and what is on record read beside the allowance's record, then the
//! body streamed into the exchange.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::super::auth::Caller;
use super::super::error::ApiError;
use super::super::Path;
use super::{case_facts, reject, SubmitAnswer, MANIFEST_HEADER};
use crate::app::AppState;
use crate::cases::{CaseFacts, CaseId};
use crate::consent::{self, SubjectConsents};
use crate::documents::correction::{self, Agreement, Through, AGREEMENT_HEADER};
use crate::documents::exchange::{self, Submission, Submitted};
use crate::documents::store::{self, DocumentRecord, DocumentView};
use crate::documents::{plan, DocumentError, DocumentType, Manifest};
use crate::jose::KeyUse;
use crate::parties::{self, KeyStatus, Role};
use crate::policy::actions::SubmitDocument;
use crate::policy::Resource;

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let now = state.now();
    let Read {
        token,
        manifest,
        author_kid,
        agreement_header,
        facts,
        consents,
        declared,
    } = match read_submission(&state, &caller, &case, request.headers()).await {
        Ok(read) => read,
        Err(error) => {
            // The path is the caller's own text: only a well-formed id goes on record.
            let resource = CaseId::parse(&case)
                .map(|id| format!("case:{id}"))
                .unwrap_or_else(|_| "case:(malformed id)".into());
            reject(&state, &caller, resource, &error).await;
            return Err(error);
        }
    };
    let own = consents.facts(manifest.purpose, manifest.document_type, None, &now);
    let context = json!({ "document_type": manifest.document_type.as_str(), "purpose": manifest.purpose.as_str() });
    let allowed = caller
        .decide_move::<SubmitDocument>(&state, Resource::Case(&facts), context, &own)
        .await?;
    let ready = async {
        let agreement = agreement(&state, &caller, &manifest, agreement_header).await?;
        let plan = plan::plan(
            &state.db,
            &state.policy.current(),
            &facts,
            manifest.document_type,
            manifest.purpose,
            &consents,
            &now,
        )
        .await?;
        Ok::<_, ApiError>((agreement, plan))
    };
    // Meanwhile, what the submission is checked against is read, and the
    // allowance goes on record with the upload it lets start.
    let received = state.clock.now();
    let (ready, on_record, started) = tokio::join!(
        ready,
        exchange::on_record(&state.vault, &manifest, received),
        exchange::begin_upload(&state.vault, allowed, &manifest, received)
    );
    let started = started?;
    let document_id = manifest.document_id.clone();
    let (agreement, plan) = match ready {
        Ok(ready) => ready,
        Err(error) => {
            exchange::forget(&state.vault, &started).await;
            reject(&state, &caller, format!("document:{document_id}"), &error).await;
            return Err(error);
        }
    };
    let submission = Submission {
        manifest_token: token,
        manifest,
        author_kid,
        plan,
        agreement,
    };
    let body = request.into_body().into_data_stream();
    let submitted = exchange::submit(
        &state.vault,
        started,
        submission,
        on_record,
        declared,
        body,
        received,
    );
    match submitted.await {
        Ok(Submitted::Accepted(doc)) => Ok(answer(StatusCode::CREATED, &doc, true, None)),
        Ok(Submitted::Repeated(doc)) => {
            let leaf = acceptance_leaf(&state, &doc).await;
            Ok(answer(StatusCode::OK, &doc, false, leaf))
        }
        Err(e) => {
            let error = ApiError::from(e);
            reject(&state, &caller, format!("document:{document_id}"), &error).await;
            Err(error)
        }
    }
}

/// A submission's headers, read and checked before the policy decides.
struct Read {
    token: String,
    manifest: Manifest,
    author_kid: String,
    agreement_header: Option<String>,
    facts: CaseFacts,
    consents: SubjectConsents,
    /// The envelope's length as declared (the server holds the body to it).
    declared: Option<u64>,
}

/// Reads a submission's headers: its declared size, the manifest (verified
/// against the caller's own signing keys), the agreement, and the case
/// with the consents of the manifest's data subjects.
async fn read_submission(
    state: &AppState,
    caller: &Caller,
    case: &str,
    headers: &HeaderMap,
) -> Result<Read, ApiError> {
    let limit = state.vault.limits.max_envelope_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(DocumentError::TooLarge(limit).into());
    }
    let token = headers
        .get(MANIFEST_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadRequest {
            code: "manifest_missing",
            detail: format!(
                "the `{MANIFEST_HEADER}` header must carry the manifest (a compact JWS)"
            ),
        })?;
    let agreement_header = headers
        .get(AGREEMENT_HEADER)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::invalid("invalid_agreement", "the agreement header is not text"))?;
    // The case, and the consents of the subjects the manifest names, are
    // read meanwhile; a bad manifest still answers first.
    let named = Manifest::unverified_subjects(&token);
    let early_consents = async {
        match (CaseId::parse(case), &named) {
            (Ok(id), Some(subjects)) => Some(SubjectConsents::load(&state.db, &id, subjects).await),
            _ => None,
        }
    };
    let (keys, facts, early_consents) = tokio::join!(
        parties::keys(&state.db, &caller.party.id),
        case_facts(state, case),
        early_consents
    );
    let signing_keys: Vec<_> = keys?
        .into_iter()
        .filter(|k| k.key_use == KeyUse::Sign && k.status == KeyStatus::Active)
        .map(|k| k.jwk)
        .collect();
    let (manifest, author_kid) = Manifest::verify(&token, caller.party.id.as_str(), &signing_keys)?;
    if manifest.case.as_str() != case {
        return Err(ApiError::invalid(
            "manifest_case_mismatch",
            format!("the manifest is for {}, not {case}", manifest.case),
        ));
    }
    let facts = facts?;
    let consents = match early_consents {
        // Read for the subjects the verified manifest names, of this case.
        Some(read) if named.as_ref() == Some(&manifest.subjects) => read?,
        _ => SubjectConsents::load(&state.db, &facts.id, &manifest.subjects).await?,
    };
    Ok(Read {
        token,
        manifest,
        author_kid,
        agreement_header,
        facts,
        consents,
        declared,
    })
}

/// The agreement a correction must carry, checked: the person concerned
/// (a data subject of the corrected document) agreed through the mission
/// that submits it, or with their own consent code. Other documents carry
/// none.
async fn agreement(
    state: &AppState,
    caller: &Caller,
    manifest: &Manifest,
    header: Option<String>,
) -> Result<Option<Agreement>, ApiError> {
    if manifest.document_type != DocumentType::Correction {
        return match header {
            Some(_) => Err(ApiError::invalid(
                "agreement_without_correction",
                "only a correction carries an agreement",
            )),
            None => Ok(None),
        };
    }
    let corrected = manifest.supersedes.clone().ok_or_else(|| {
        ApiError::invalid(
            "correction_supersedes_nothing",
            "a correction names the document it corrects in the manifest's `supersedes`",
        )
    })?;
    let header = header.ok_or_else(|| {
        ApiError::invalid(
            "agreement_missing",
            format!("a correction carries the agreement of the person concerned in the `{AGREEMENT_HEADER}` header"),
        )
    })?;
    let (agreement, code) = correction::parse_header(&header)?;
    let old = store::find(&state.db, &corrected)
        .await?
        .ok_or(DocumentError::NotFound(corrected.clone()))?;
    if !old.subjects.contains(&agreement.subject) {
        return Err(DocumentError::Agreement(format!(
            "{} is not a person document {corrected} concerns",
            agreement.subject
        ))
        .into());
    }
    match &agreement.through {
        Through::Mission if caller.party.role != Role::IomMission => {
            return Err(DocumentError::AgreementRefused(
                "only the mission that met the person attests an agreement given through it; \
                 the person can agree with their consent code instead"
                    .into(),
            )
            .into())
        }
        Through::Mission => {}
        Through::ConsentCode(consent) => {
            let record = consent::find(&state.db, consent)
                .await?
                .filter(|r| r.case == old.case && r.subject == agreement.subject)
                .ok_or_else(|| {
                    DocumentError::Agreement(format!(
                        "{consent} is not a consent of {} on this case",
                        agreement.subject
                    ))
                })?;
            let code = code.unwrap_or_default();
            let epoch = state.clock.now().unix_timestamp();
            if !consent::check_code(&state.db, &record.id, &code, epoch).await? {
                return Err(consent::ConsentError::WrongCode.into());
            }
        }
    }
    Ok(Some(agreement))
}

/// The leaf index of a repeated document's acceptance: the queue is
/// integrated first, so it is there unless integration fails (then it is
/// left out; the document is stored either way).
async fn acceptance_leaf(state: &AppState, doc: &DocumentRecord) -> Option<u64> {
    if let Err(e) = crate::audit::log::integrate(&state.db, 5_000, &state.now()).await {
        tracing::warn!(error = %e, "could not integrate the audit log now");
        return None;
    }
    let resource = format!("document:{}", doc.id);
    match crate::audit::log::first_leaf_about(&state.db, &resource, "DocumentAccepted").await {
        Ok(leaf) => leaf,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the acceptance's leaf");
            None
        }
    }
}

fn answer(
    status: StatusCode,
    doc: &DocumentRecord,
    stored_now: bool,
    leaf_index: Option<u64>,
) -> Response {
    let body = SubmitAnswer {
        receipt: doc.receipt.clone(),
        document: DocumentView::from(doc),
        stored_now,
        leaf_index,
    };
    (status, Json(body)).into_response()
}
