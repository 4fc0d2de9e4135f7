//! Every refused request is on record. The policy records its own
//! refusals, authentication records its refusals, and a refused submission,
//! read or share is recorded with its document; whatever else a party route
//! answers with a 4xx (a malformed body, an unknown notice, a step out of
//! order, too many wrong codes) is recorded here as `RequestRefused`, with
//! the route's action and the stable code it was answered with.

use axum::extract::RawPathParams;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;

use super::throttle::{self, PeerAddr};
use super::tls::PeerCertificate;
use super::Access;
use crate::app::AppState;
use crate::audit::{self, AuditEvent, Outcome};
use crate::parties;
use crate::pki;
use crate::policy::Action;

/// The stable code of a problem answer, for the record of its refusal.
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

/// What the record needs of the request, taken before it is served.
pub(super) struct Asked {
    request_id: Option<String>,
    certificate: Option<PeerCertificate>,
    address: Option<PeerAddr>,
    resource: String,
}

impl Asked {
    pub(super) fn of(parts: &Parts, params: Option<&RawPathParams>) -> Asked {
        Asked {
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            certificate: parts.extensions.get::<PeerCertificate>().cloned(),
            address: parts.extensions.get::<PeerAddr>().copied(),
            resource: params
                .and_then(|params| params.iter().next())
                .map(|(name, value)| resource(name, value))
                .unwrap_or_else(|| "broker".into()),
        }
    }
}

/// `case:<id>` for the first path parameter; what a client sent goes on
/// record only when it is shaped like one of our ids.
fn resource(name: &str, value: &str) -> String {
    let well_formed = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if well_formed {
        format!("{name}:{value}")
    } else {
        format!("{name}:(malformed id)")
    }
}

/// How a request was answered, as its record needs it.
pub(super) struct Answered {
    status: StatusCode,
    code: &'static str,
}

impl Answered {
    pub(super) fn of(response: &Response) -> Answered {
        Answered {
            status: response.status(),
            code: response
                .extensions()
                .get::<ProblemCode>()
                .map_or("unknown", |code| code.0),
        }
    }
}

/// Records the answer if it refused the request and nothing on the way
/// recorded the refusal. Public routes (probes, key discovery) are not
/// audited.
pub(super) async fn record_if_unrecorded(
    state: &AppState,
    action: Action,
    access: Access,
    asked: Asked,
    answered: Answered,
    already_recorded: bool,
) {
    let Answered { status, code } = answered;
    // A throttled refusal is counted in its window's summary.
    if !status.is_client_error()
        || already_recorded
        || access == Access::Public
        || code == throttle::THROTTLED
    {
        return;
    }
    let principal = match (access, &asked.certificate) {
        (Access::Party, Some(PeerCertificate(certificate))) => {
            let fingerprint = pki::fingerprint(certificate);
            match parties::find_by_fingerprint(&state.db, &fingerprint).await {
                Ok(Some(party)) => format!("party:{}", party.id),
                Ok(None) => format!("certificate:{fingerprint}"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not name the party of a refused request");
                    format!("certificate:{fingerprint}")
                }
            }
        }
        _ => "anonymous".into(),
    };
    // Nobody identified: within the address's allowance, or counted only.
    if !principal.starts_with("party:") && throttle::admit(state, asked.address.as_ref()).is_err() {
        return;
    }
    let event = AuditEvent {
        at: state.now(),
        request_id: asked.request_id,
        principal,
        action: "RequestRefused".into(),
        resource: asked.resource,
        outcome: Outcome::Deny,
        policy_ids: Vec::new(),
        policy_set: state.policy.current().version().to_owned(),
        detail: serde_json::json!({
            "action": action.name(),
            "code": code,
            "status": status.as_u16(),
        }),
    };
    if let Err(e) = audit::append(state.db.pool(), &event).await {
        tracing::warn!(error = %e, code, "could not record a refused request");
    }
}

#[cfg(test)]
mod tests {
    use super::resource;

    #[test]
    fn only_id_shaped_path_values_go_on_record() {
        assert_eq!(resource("case", "case-01J9Z"), "case:case-01J9Z");
        assert_eq!(resource("notice", "a b"), "notice:(malformed id)");
        assert_eq!(resource("case", ""), "case:(malformed id)");
        assert_eq!(resource("case", &"x".repeat(65)), "case:(malformed id)");
        assert_eq!(resource("party", "Mario Rossi"), "party:(malformed id)");
    }
}
