//! Who is calling: the party registered to the verified client certificate.
//! A missing or unregistered certificate is refused and the refusal audited.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::throttle::{self, PeerAddr};
use super::tls::PeerCertificate;
use crate::app::AppState;
use crate::audit::{self, AuditEvent, Outcome};
use crate::consent::ConsentFacts;
use crate::parties::{self, Party};
use crate::pki;
use crate::policy::{
    self, Action, ActionKind, Allowed, Authorized, PolicyError, RequestMeta, Resource,
};

/// The authenticated party of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub party: Party,
    pub request_id: Option<String>,
}

impl Caller {
    /// Asks the policy whether the caller may perform `A` on `resource`; the
    /// decision is audited either way.
    pub async fn authorize<A: ActionKind>(
        &self,
        state: &AppState,
        resource: Resource<'_>,
        context: serde_json::Value,
    ) -> Result<Authorized<A>, ApiError> {
        let at = state.now();
        let meta = RequestMeta {
            request_id: self.request_id.as_deref(),
            at: &at,
        };
        Ok(policy::authorize::<A>(
            &state.policy.current(),
            &state.db,
            meta,
            &self.party,
            resource,
            context,
        )
        .await?)
    }
}

impl Caller {
    /// Authorizes a move of a document (submit, read, share): the consent
    /// facts join the context, and a refusal by a consent or purpose rule
    /// says so, naming the consents and their states.
    pub async fn authorize_move<A: ActionKind>(
        &self,
        state: &AppState,
        resource: Resource<'_>,
        context: serde_json::Value,
        consent: &ConsentFacts,
    ) -> Result<Authorized<A>, ApiError> {
        Ok(self
            .decide_move::<A>(state, resource, context, consent)
            .await?
            .record(&state.db)
            .await?)
    }

    /// Decides a move of a document as [`Caller::authorize_move`] does; an
    /// allowance comes back unrecorded, to be recorded with the first change
    /// it allows (a refusal is on record already).
    pub async fn decide_move<A: ActionKind>(
        &self,
        state: &AppState,
        resource: Resource<'_>,
        mut context: serde_json::Value,
        consent: &ConsentFacts,
    ) -> Result<Allowed<A>, ApiError> {
        crate::documents::plan::merge(&mut context, consent.context());
        let at = state.now();
        let meta = RequestMeta {
            request_id: self.request_id.as_deref(),
            at: &at,
        };
        let decided = policy::decide::<A>(
            &state.policy.current(),
            &state.db,
            meta,
            &self.party,
            resource,
            context,
        )
        .await;
        match decided {
            Ok(allowed) => Ok(allowed),
            Err(PolicyError::Denied { problems, .. })
                if problems.iter().any(|p| p == "consent") =>
            {
                Err(consent_refusal(consent))
            }
            Err(PolicyError::Denied { problems, .. })
                if problems.iter().any(|p| p == "purpose") =>
            {
                Err(ApiError::Other {
                    status: axum::http::StatusCode::FORBIDDEN,
                    code: "purpose_not_allowed",
                    detail: format!(
                        "{} is not a purpose a {} may act for (or share for) under the policy",
                        consent.purpose, self.party.role
                    ),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The answer to a move a consent-based purpose does not cover.
pub fn consent_refusal(consent: &ConsentFacts) -> ApiError {
    let code = match consent.state() {
        "withdrawn" => "consent_withdrawn",
        "revoked" => "consent_revoked",
        "expired" => "consent_expired",
        "refused" => "consent_refused",
        "invalidated" => "consent_invalidated",
        _ => "consent_missing",
    };
    ApiError::ConsentLacking {
        code,
        detail: consent.describe().join("; "),
        consents: consent.lacking().into_iter().cloned().collect(),
    }
}

/// A request's client certificate, not yet looked up: a handler that has
/// reads to make that do not depend on who calls makes them while the
/// caller is identified ([`Identity::identify`]), and answers none of what
/// it read before the caller is known. Other handlers take [`Caller`].
#[derive(Debug, Clone)]
pub struct Identity {
    fingerprint: Option<String>,
    request_id: Option<String>,
    action: &'static str,
    address: Option<PeerAddr>,
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Identity {
            fingerprint: parts
                .extensions
                .get::<PeerCertificate>()
                .map(|PeerCertificate(certificate)| pki::fingerprint(certificate)),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            action: parts
                .extensions
                .get::<Action>()
                .map(|a| a.name())
                .unwrap_or("unknown"),
            address: parts.extensions.get::<PeerAddr>().copied(),
        })
    }
}

impl Identity {
    /// The party registered to the certificate. A missing or unregistered
    /// certificate is refused, on record.
    pub async fn identify(self, state: &AppState) -> Result<Caller, ApiError> {
        let Identity {
            fingerprint,
            request_id,
            action,
            address,
        } = self;
        let Some(fingerprint) = fingerprint else {
            throttle::admit(state, address.as_ref())?;
            refuse(
                state,
                &request_id,
                "anonymous",
                action,
                "no client certificate",
            )
            .await?;
            return Err(ApiError::ClientCertificateRequired);
        };
        match parties::find_by_fingerprint(&state.db, &fingerprint).await? {
            Some(party) => Ok(Caller { party, request_id }),
            None => {
                throttle::admit(state, address.as_ref())?;
                let principal = format!("certificate:{fingerprint}");
                refuse(
                    state,
                    &request_id,
                    &principal,
                    action,
                    "certificate not registered to a party",
                )
                .await?;
                Err(ApiError::CertificateNotRegistered)
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Identity::from_request_parts(parts, state)
            .await?
            .identify(state)
            .await
    }
}

/// Audits an authentication refusal (no policy was consulted).
async fn refuse(
    state: &AppState,
    request_id: &Option<String>,
    principal: &str,
    action: &str,
    reason: &str,
) -> Result<(), ApiError> {
    let event = AuditEvent {
        at: state.now(),
        request_id: request_id.clone(),
        principal: principal.to_owned(),
        action: action.to_owned(),
        resource: "broker".into(),
        outcome: Outcome::Deny,
        policy_ids: Vec::new(),
        policy_set: state.policy.current().version().to_owned(),
        detail: serde_json::json!({ "reason": reason }),
    };
    audit::append(state.db.pool(), &event).await?;
    Ok(())
}
