//! One error type for the HTTP surface: every domain error maps to a status,
//! a stable `code` and an RFC 9457 problem+json body. 5xx bodies say nothing
//! internal; the cause is logged inside the request span.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::cases::CaseError;
use crate::consent::ConsentError;
use crate::documents::erasure::ErasureRefused;
use crate::documents::DocumentError;
use crate::dossiers::DossierError;
use crate::jose::JoseError;
use crate::notices::NoticeError;
use crate::parties::PartyError;
use crate::policy::PolicyError;
use crate::storage::objects::ObjectError;
use crate::storage::DbError;

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("this endpoint requires a TLS client certificate issued to a registered party")]
    ClientCertificateRequired,
    #[error("the client certificate is not registered to any party")]
    CertificateNotRegistered,
    #[error("party {0} is disabled")]
    PartyDisabled(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Other {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    /// A workflow step that cannot be taken now (409): names the states
    /// the case can go to instead.
    #[error("{detail}")]
    Workflow {
        code: &'static str,
        detail: String,
        allowed: Vec<String>,
    },
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        retry_after: u64,
        detail: String,
    },
    /// A consent-based move without the consent it needs: names the
    /// consents and their states.
    #[error("{detail}")]
    ConsentLacking {
        code: &'static str,
        detail: String,
        consents: Vec<crate::consent::SubjectConsent>,
    },
    #[error("{0} is unavailable; retry later")]
    Unavailable(&'static str, String),
    #[error("internal error")]
    Internal(String),
}

/// The RFC 9457 problem document.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `urn:ponte:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable error code.
    pub code: String,
    /// For `consent_*` refusals: each data subject's consent and its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consents: Option<Vec<crate::consent::SubjectConsent>>,
    /// For `invalid_transition`: the states the case can go to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::ClientCertificateRequired => StatusCode::UNAUTHORIZED,
            ApiError::CertificateNotRegistered
            | ApiError::PartyDisabled(_)
            | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Other { status, .. } => *status,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Workflow { .. } => StatusCode::CONFLICT,
            ApiError::ConsentLacking { .. } => StatusCode::FORBIDDEN,
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::ClientCertificateRequired => "client_certificate_required",
            ApiError::CertificateNotRegistered => "certificate_not_registered",
            ApiError::PartyDisabled(_) => "party_disabled",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Invalid { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Other { code, .. }
            | ApiError::ConsentLacking { code, .. }
            | ApiError::Workflow { code, .. } => code,
            ApiError::TooManyRequests { code, .. } => code,
            ApiError::Unavailable(..) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn invalid(code: &'static str, detail: impl ToString) -> ApiError {
        ApiError::Invalid {
            code,
            detail: detail.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("urn:ponte:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            // Display of Internal and Unavailable never carries the cause.
            detail: self.to_string(),
            code: self.code().to_owned(),
            consents: match self {
                ApiError::ConsentLacking { consents, .. } => Some(consents.clone()),
                _ => None,
            },
            allowed: match self {
                ApiError::Workflow { code, allowed, .. } if *code == "invalid_transition" => {
                    Some(allowed.clone())
                }
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(code = self.code(), cause = %cause, "request failed")
            }
            ApiError::Unavailable(what, cause) => {
                tracing::warn!(code = self.code(), component = what, cause = %cause, "dependency unavailable")
            }
            other => tracing::info!(code = other.code(), detail = %other, "request refused"),
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response
            .extensions_mut()
            .insert(super::refusal::ProblemCode(self.code()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(cause) => ApiError::Unavailable("database", cause.to_string()),
            DbError::Other(cause) => ApiError::Internal(cause.to_string()),
            DbError::Corrupt(what) => ApiError::Internal(what),
        }
    }
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::NotFound(key) => ApiError::Internal(format!("object missing: {key}")),
            ObjectError::Unavailable(cause) => {
                ApiError::Unavailable("object store", cause.to_string())
            }
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::PartyDisabled { party } => ApiError::PartyDisabled(party.to_string()),
            denied @ (PolicyError::Denied { .. } | PolicyError::DeniedAnonymous { .. }) => {
                ApiError::Forbidden(denied.to_string())
            }
            PolicyError::Db(db) => db.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<PartyError> for ApiError {
    fn from(e: PartyError) -> Self {
        match e {
            PartyError::InvalidId(_) => ApiError::invalid("invalid_party_id", e),
            PartyError::InvalidRole(_) => ApiError::invalid("invalid_role", e),
            PartyError::InvalidName => ApiError::invalid("invalid_display_name", e),
            PartyError::NotFound(_) => ApiError::NotFound {
                code: "party_not_found",
                detail: e.to_string(),
            },
            PartyError::AlreadyExists(_) | PartyError::CertificateTaken(_) => ApiError::Conflict {
                code: "party_exists",
                detail: e.to_string(),
            },
            PartyError::Db(db) => db.into(),
            PartyError::Key(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::InvalidId(_) => ApiError::invalid("invalid_case_id", e),
            CaseError::InvalidCountry(_) => ApiError::invalid("invalid_country", e),
            CaseError::NotFound(_) => ApiError::NotFound {
                code: "case_not_found",
                detail: e.to_string(),
            },
            CaseError::AlreadyAttached(..) => ApiError::Conflict {
                code: "already_attached",
                detail: e.to_string(),
            },
            CaseError::NoMinistry(_) => ApiError::invalid("no_ministry", e),
            CaseError::InvalidTransition { ref allowed, .. } => ApiError::Workflow {
                code: "invalid_transition",
                detail: e.to_string(),
                allowed: allowed.iter().map(|s| s.as_str().to_owned()).collect(),
            },
            CaseError::DocumentRequired { .. } => ApiError::Workflow {
                code: "transition_needs_document",
                detail: e.to_string(),
                allowed: Vec::new(),
            },
            CaseError::Moved(_) => ApiError::Conflict {
                code: "case_moved",
                detail: e.to_string(),
            },
            CaseError::Notice(_) => ApiError::Internal(e.to_string()),
            CaseError::Party(p) => p.into(),
            CaseError::Db(db) => db.into(),
            CaseError::Corrupt(_) | CaseError::Random => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        let other = |status: StatusCode, code: &'static str, e: &DocumentError| ApiError::Other {
            status,
            code,
            detail: e.to_string(),
        };
        match e {
            DocumentError::Agreement(_) => ApiError::invalid("invalid_agreement", e),
            DocumentError::AgreementRefused(_) => {
                other(StatusCode::FORBIDDEN, "agreement_refused", &e)
            }
            DocumentError::InvalidId(_) => ApiError::invalid("invalid_document_id", e),
            DocumentError::InvalidType(_) => ApiError::invalid("invalid_document_type", e),
            DocumentError::InvalidSubject(_) => ApiError::invalid("invalid_subject", e),
            DocumentError::Manifest(_) => ApiError::invalid("invalid_manifest", e),
            DocumentError::ManifestSignature(_, ref jose) => match jose {
                JoseError::UnknownKey(_) => ApiError::invalid("manifest_key_not_registered", e),
                JoseError::BadSignature => ApiError::invalid("manifest_signature_invalid", e),
                _ => ApiError::invalid("invalid_manifest", e),
            },
            DocumentError::Envelope(ref jose) => {
                let code = jose.code();
                ApiError::invalid(code, e)
            }
            DocumentError::EnvelopeSyntax(_) => ApiError::BadRequest {
                code: "malformed_envelope",
                detail: e.to_string(),
            },
            DocumentError::HashMismatch { .. } => ApiError::invalid("envelope_hash_mismatch", e),
            DocumentError::RecipientNotInPlan(_) => ApiError::invalid("recipient_not_in_plan", e),
            DocumentError::RecipientMissing(_) => ApiError::invalid("recipient_missing", e),
            DocumentError::RecipientsDiffer => ApiError::invalid("envelope_recipients_mismatch", e),
            DocumentError::IdConflict(_) => other(StatusCode::CONFLICT, "document_id_conflict", &e),
            DocumentError::NotFound(_) => other(StatusCode::NOT_FOUND, "document_not_found", &e),
            DocumentError::Supersede(..) => other(StatusCode::CONFLICT, "cannot_supersede", &e),
            DocumentError::AlreadyRecipient(..) => {
                other(StatusCode::CONFLICT, "already_recipient", &e)
            }
            DocumentError::TooLarge(_) => {
                other(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &e)
            }
            DocumentError::Incomplete(_) => ApiError::BadRequest {
                code: "upload_incomplete",
                detail: e.to_string(),
            },
            DocumentError::Erased => other(StatusCode::GONE, "content_erased", &e),
            DocumentError::Case(c) => c.into(),
            DocumentError::Party(p) => p.into(),
            DocumentError::Objects(o) => o.into(),
            DocumentError::Policy(p) => p.into(),
            DocumentError::Db(d) => d.into(),
            DocumentError::Seal(s) => ApiError::Internal(s.to_string()),
            DocumentError::Consent(c) => c.into(),
            DocumentError::ErasureRefused(r) => {
                let code = match r {
                    ErasureRefused::LegalHold(..) => "legal_hold",
                    ErasureRefused::AlreadyErased(..) => "already_erased",
                    ErasureRefused::NotClosed(..) => "case_not_closed",
                    ErasureRefused::RetentionRunning(..) => "retention_running",
                    ErasureRefused::OtherBasis(..) => "other_lawful_basis",
                    ErasureRefused::ConsentGiven(..) => "consent_still_given",
                };
                ApiError::Conflict {
                    code,
                    detail: r.to_string(),
                }
            }
        }
    }
}

impl From<DossierError> for ApiError {
    fn from(e: DossierError) -> Self {
        match e {
            DossierError::Document(d) => d.into(),
            DossierError::Policy(p) => p.into(),
            DossierError::Db(d) => d.into(),
            DossierError::Consent(_) | DossierError::Sign(_) | DossierError::Random => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<NoticeError> for ApiError {
    fn from(e: NoticeError) -> Self {
        match e {
            NoticeError::NotFound(_) => ApiError::NotFound {
                code: "notice_not_found",
                detail: e.to_string(),
            },
            NoticeError::NoWebhook => ApiError::NotFound {
                code: "no_webhook",
                detail: e.to_string(),
            },
            NoticeError::InvalidWebhook(_) => ApiError::invalid("invalid_webhook_url", e),
            NoticeError::InvalidCursor(_) => ApiError::BadRequest {
                code: "invalid_cursor",
                detail: e.to_string(),
            },
            NoticeError::Db(d) => d.into(),
            NoticeError::Corrupt(_) | NoticeError::Sign(_) | NoticeError::Random => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::InvalidId(_) => ApiError::invalid("invalid_consent_id", e),
            ConsentError::Invalid(_) => ApiError::invalid("invalid_consent", e),
            ConsentError::SubjectNotFound(..) => ApiError::NotFound {
                code: "subject_not_found",
                detail: e.to_string(),
            },
            ConsentError::SubjectExists(..) => ApiError::Conflict {
                code: "subject_exists",
                detail: e.to_string(),
            },
            ConsentError::NotFound(_) => ApiError::NotFound {
                code: "consent_not_found",
                detail: e.to_string(),
            },
            ConsentError::NoticeNotFound(_) => ApiError::NotFound {
                code: "notice_not_found",
                detail: e.to_string(),
            },
            ConsentError::ValidityInPast(_) => ApiError::invalid("consent_validity_in_past", e),
            ConsentError::Evidence(_) => ApiError::invalid("invalid_consent_evidence", e),
            ConsentError::Transition { .. } => ApiError::Conflict {
                code: "consent_state_conflict",
                detail: e.to_string(),
            },
            ConsentError::WrongCode => ApiError::Other {
                status: StatusCode::FORBIDDEN,
                code: "consent_code_invalid",
                detail: e.to_string(),
            },
            ConsentError::TooManyAttempts(secs) => ApiError::TooManyRequests {
                code: "too_many_attempts",
                retry_after: secs,
                detail: e.to_string(),
            },
            ConsentError::Case(c) => c.into(),
            ConsentError::Party(p) => p.into(),
            ConsentError::Db(d) => d.into(),
            ConsentError::Random | ConsentError::Corrupt(_) | ConsentError::Sign(_) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_internal() {
        let problem =
            ApiError::Internal("password authentication failed for user ponte".into()).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("password"), "{}", problem.detail);
        let problem =
            ApiError::Unavailable("database", "connection refused 10.0.0.7:5432".into()).problem();
        assert!(!problem.detail.contains("10.0.0.7"), "{}", problem.detail);
        assert_eq!(problem.code, "unavailable");
    }

    #[test]
    fn unavailable_answers_503_with_retry_after() {
        let response = ApiError::Unavailable("database", String::new()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
