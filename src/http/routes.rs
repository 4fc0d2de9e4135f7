//! The route table: every route of the broker, with the one [`Action`] it
//! maps to, who may call it, its handler and its documentation. The route
//! test, the OpenAPI document and the router are all made from this list.

use axum::http::Method;
use axum::routing::{delete, get, post, put, MethodRouter};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::{audit, cases, consent, directory, documents, dossiers, notices, ops};
use crate::app::AppState;
use crate::policy::Action;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Operational routes for load balancers, scrapers and key discovery:
    /// no client certificate, not authorized per request (their actions are
    /// in the schema, permitted to `Anonymous`) and not audited, so probes do
    /// not flood the evidence log.
    Public,
    /// Party routes: mTLS identity, one Cedar decision, audited.
    Party,
    /// The person holding a one-time consent code: no certificate; the code
    /// is the credential, checked (rate-limited, constant-time) and then
    /// decided by the policy as `Anonymous`, audited.
    ConsentCode,
}

/// Makes the JSON Schema of a body for the API description.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    Json(SchemaFn),
    Text(&'static str),
    /// A streamed body of this media type (e.g. a JWE).
    Stream(&'static str),
}

/// One route: what it does, for whom, and its documentation.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// Path in axum and OpenAPI syntax (`/v1/cases/{id}`).
    pub path: &'static str,
    pub action: Action,
    pub access: Access,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    /// Media type of the request body.
    pub request_media: &'static str,
    /// Query parameters, all required.
    pub query: &'static [&'static str],
    /// Query parameters that may be left out.
    pub optional_query: &'static [&'static str],
    /// Request headers, all required.
    pub headers: &'static [&'static str],
    pub status: u16,
    pub response: Body,
}

impl RouteSpec {
    fn query(mut self, names: &'static [&'static str]) -> RouteSpec {
        self.query = names;
        self
    }

    fn optional_query(mut self, names: &'static [&'static str]) -> RouteSpec {
        self.optional_query = names;
        self
    }

    fn header(mut self, names: &'static [&'static str]) -> RouteSpec {
        self.headers = names;
        self
    }

    fn request_media(mut self, media: &'static str) -> RouteSpec {
        self.request_media = media;
        self
    }
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

#[allow(clippy::too_many_arguments)]
fn spec(
    method: Method,
    path: &'static str,
    action: Action,
    access: Access,
    operation_id: &'static str,
    summary: &'static str,
    request: Option<SchemaFn>,
    status: u16,
    response: Body,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        action,
        access,
        operation_id,
        summary,
        request,
        request_media: "application/json",
        query: &[],
        optional_query: &[],
        headers: &[],
        status,
        response,
    }
}

/// Every route of the broker with its handler. The route test, the OpenAPI
/// document and the router are all made from this one list.
pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::{ConsentCode, Party, Public};
    use Method as M;
    vec![
        (
            spec(
                M::GET,
                "/healthz",
                Action::Health,
                Public,
                "health",
                "Liveness: the process answers.",
                None,
                200,
                Body::Json(schema::<ops::Health>),
            ),
            get(ops::health),
        ),
        (
            spec(
                M::GET,
                "/readyz",
                Action::Ready,
                Public,
                "ready",
                "Readiness: the database and the object store answer.",
                None,
                200,
                Body::Json(schema::<ops::Readiness>),
            ),
            get(ops::ready),
        ),
        (
            spec(
                M::GET,
                "/metrics",
                Action::Metrics,
                Public,
                "metrics",
                "Prometheus metrics by action and status.",
                None,
                200,
                Body::Text("text/plain; version=0.0.4"),
            ),
            get(ops::metrics),
        ),
        (
            spec(
                M::GET,
                "/.well-known/jwks.json",
                Action::ReadBrokerKeys,
                Public,
                "brokerKeys",
                "The broker's public signing keys (JWKS).",
                None,
                200,
                Body::Json(schema::<directory::Jwks>),
            ),
            get(ops::broker_keys),
        ),
        (
            spec(
                M::GET,
                "/v1/openapi.json",
                Action::ReadApiDescription,
                Public,
                "openApi",
                "This OpenAPI 3.1 document.",
                None,
                200,
                Body::Json(schema::<serde_json::Value>),
            ),
            get(ops::openapi),
        ),
        (
            spec(
                M::GET,
                "/v1/me",
                Action::ReadMe,
                Party,
                "me",
                "The party authenticated by the client certificate.",
                None,
                200,
                Body::Json(schema::<directory::PartyView>),
            ),
            get(directory::me),
        ),
        (
            spec(
                M::GET,
                "/v1/parties",
                Action::ListParties,
                Party,
                "listParties",
                "The party directory.",
                None,
                200,
                Body::Json(schema::<Vec<directory::PartyView>>),
            ),
            get(directory::list),
        ),
        (
            spec(
                M::GET,
                "/v1/parties/{party}",
                Action::ReadParty,
                Party,
                "readParty",
                "A party with every key it has had, active and retired.",
                None,
                200,
                Body::Json(schema::<directory::PartyDetail>),
            ),
            get(directory::show),
        ),
        (
            spec(
                M::GET,
                "/v1/parties/{party}/jwks.json",
                Action::ReadParty,
                Party,
                "readPartyJwks",
                "A party's published keys: signing keys (also retired) and active encryption keys.",
                None,
                200,
                Body::Json(schema::<directory::Jwks>),
            ),
            get(directory::jwks),
        ),
        (
            spec(
                M::GET,
                "/v1/purposes",
                Action::ListPurposes,
                Party,
                "listPurposes",
                "The closed registry of purposes, each with its lawful basis.",
                None,
                200,
                Body::Json(schema::<Vec<crate::consent::PurposeInfo>>),
            ),
            get(directory::purposes),
        ),
        (
            spec(
                M::POST,
                "/v1/cases",
                Action::OpenCase,
                Party,
                "openCase",
                "Open a family-tracing case addressed to the ministry.",
                Some(schema::<cases::OpenCaseRequest>),
                201,
                Body::Json(schema::<crate::cases::Case>),
            ),
            post(cases::open),
        ),
        (
            spec(
                M::GET,
                "/v1/cases",
                Action::ListCases,
                Party,
                "listCases",
                "The cases the caller is on.",
                None,
                200,
                Body::Json(schema::<Vec<crate::cases::CaseSummary>>),
            ),
            get(cases::list),
        ),
        (
            spec(
                M::GET,
                "/v1/cases/{case}",
                Action::ReadCase,
                Party,
                "readCase",
                "A case and its members.",
                None,
                200,
                Body::Json(schema::<crate::cases::Case>),
            ),
            get(cases::show),
        ),
        (
            spec(
                M::POST,
                "/v1/cases/{case}/members",
                Action::AttachParty,
                Party,
                "attachParty",
                "Attach a party to a case in its registered role.",
                Some(schema::<cases::AttachRequest>),
                201,
                Body::Json(schema::<crate::cases::Member>),
            ),
            post(cases::attach),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/plan", Action::ReadRecipientPlan, Party, "recipientPlan", "Which party keys may receive a document of this type for this purpose now.", None, 200, Body::Json(schema::<documents::RecipientPlan>))
                .query(&["document_type", "purpose"])
                .optional_query(&["subjects"]),
            get(documents::plan),
        ),
        (
            spec(M::POST, "/v1/cases/{case}/documents", Action::SubmitDocument, Party, "submitDocument", "Submit a document: the envelope (general JSON JWE) as the body, the manifest (compact JWS) in a header. Retrying the same document returns the original receipt.", Some(schema::<serde_json::Value>), 201, Body::Json(schema::<documents::SubmitAnswer>))
                .request_media("application/jose+json")
                .header(&["Ponte-Manifest"]),
            post(documents::submit),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/documents", Action::ListDocuments, Party, "listDocuments", "The documents of a case the caller authored or receives (what they are, never what they say).", None, 200, Body::Json(schema::<Vec<crate::documents::store::DocumentView>>)),
            get(documents::list),
        ),
        (
            spec(M::GET, "/v1/documents/{document}/envelope", Action::ReadDocument, Party, "readEnvelope", "The envelope (a standard general JSON JWE) for a recipient, naming the purpose; the manifest, receipt and envelope hash come as headers.", None, 200, Body::Stream("application/jose+json"))
                .query(&["purpose"]),
            get(documents::envelope),
        ),
        (
            spec(M::POST, "/v1/documents/{document}/recipients", Action::ShareDocument, Party, "shareDocument", "Add a recipient entry, made by a holder, for a party entitled to the document now.", Some(schema::<documents::ShareRequest>), 201, Body::Json(schema::<documents::ShareAnswer>)),
            post(documents::share),
        ),
        (
            spec(M::POST, "/v1/cases/{case}/subjects", Action::AddSubject, Party, "addSubject", "Add a data subject (a pseudonymous id, its relation to the child, its representative) to a case.", Some(schema::<consent::AddSubjectRequest>), 201, Body::Json(schema::<crate::consent::DataSubject>)),
            post(consent::add_subject),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/subjects", Action::ListSubjects, Party, "listSubjects", "The data subjects of a case.", None, 200, Body::Json(schema::<Vec<crate::consent::DataSubject>>)),
            get(consent::subjects),
        ),
        (
            spec(M::POST, "/v1/cases/{case}/consents", Action::RecordConsent, Party, "recordConsent", "Record a consent (ISO/IEC TS 27560) collected from a data subject or their representative; answers the signed consent receipt and, once, the one-time withdrawal code.", Some(schema::<consent::RecordConsentRequest>), 201, Body::Json(schema::<consent::RecordedConsent>)),
            post(consent::record),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/consents", Action::ListConsents, Party, "listConsents", "The consent records of a case.", None, 200, Body::Json(schema::<Vec<crate::consent::ConsentRecord>>)),
            get(consent::list_for_case),
        ),
        (
            spec(M::GET, "/v1/consents/{consent}", Action::ReadConsent, Party, "readConsent", "A consent record, its state now and its whole history with receipts.", None, 200, Body::Json(schema::<consent::ConsentDetail>)),
            get(consent::show),
        ),
        (
            spec(M::POST, "/v1/consents/{consent}/state", Action::ChangeConsent, Party, "changeConsent", "Withdraw a consent on the person's behalf (its collector), or revoke or invalidate it (a court). Earlier recipients get a signed withdrawal notice.", Some(schema::<consent::ChangeConsentRequest>), 200, Body::Json(schema::<consent::ChangedConsent>)),
            post(consent::change),
        ),
        (
            spec(M::POST, "/v1/consents/{consent}/withdraw", Action::WithdrawConsentWithCode, ConsentCode, "withdrawConsent", "The person withdraws their consent with the one-time code, from any client. Earlier recipients get a signed withdrawal notice.", Some(schema::<consent::WithdrawRequest>), 200, Body::Json(schema::<consent::ChangedConsent>)),
            post(consent::withdraw_with_code),
        ),
        (
            spec(M::GET, "/v1/notices", Action::ListNotices, Party, "listNotices", "The caller's inbox, newest first, a page at a time (`limit`, `cursor`, optional `kind`): withdrawals, return notices, state changes, share requests, corrections.", None, 200, Body::Json(schema::<crate::notices::InboxPage>))
                .optional_query(&["limit", "cursor", "kind"]),
            get(notices::inbox),
        ),
        (
            spec(M::GET, "/v1/notices/{notice}", Action::ReadNotice, Party, "readNotice", "One notice of the caller's inbox (the first reading is recorded).", None, 200, Body::Json(schema::<crate::notices::InboxNotice>)),
            get(notices::read),
        ),
        (
            spec(M::POST, "/v1/notices/{notice}/ack", Action::AcknowledgeNotice, Party, "acknowledgeNotice", "Acknowledge a notice (for a withdrawal: what it lists was deleted). The acknowledgement is evidence.", None, 200, Body::Json(schema::<crate::notices::InboxNotice>)),
            post(notices::acknowledge),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/notices", Action::ListCaseNotices, Party, "listCaseNotices", "Every notice of a case, outstanding acknowledgements first (the ministry).", None, 200, Body::Json(schema::<Vec<crate::notices::InboxNotice>>)),
            get(notices::for_case),
        ),
        (
            spec(M::GET, "/v1/me/webhook", Action::ReadWebhook, Party, "readWebhook", "Where the caller's notices are pushed.", None, 200, Body::Json(schema::<crate::notices::Webhook>)),
            get(notices::webhook),
        ),
        (
            spec(M::PUT, "/v1/me/webhook", Action::SetWebhook, Party, "setWebhook", "Push the caller's notices, broker-signed, to this URL (retried with backoff until delivered).", Some(schema::<notices::WebhookRequest>), 200, Body::Json(schema::<crate::notices::Webhook>)),
            put(notices::set_webhook),
        ),
        (
            spec(M::DELETE, "/v1/me/webhook", Action::RemoveWebhook, Party, "removeWebhook", "Stop pushing the caller's notices; the inbox keeps them.", None, 204, Body::Text("")),
            delete(notices::remove_webhook),
        ),
        (
            spec(M::POST, "/v1/cases/{case}/transitions", Action::TransitionCase, Party, "transitionCase", "Move a case one step through the process; a step out of order is refused (409) naming the states it can go to.", Some(schema::<cases::TransitionRequest>), 201, Body::Json(schema::<crate::cases::workflow::Transition>)),
            post(cases::transition),
        ),
        (
            spec(M::GET, "/v1/audit/checkpoint", Action::ReadCheckpoint, Party, "readCheckpoint", "The newest signed checkpoint of the audit log (C2SP signed note: origin, tree size, root); `?size=N` for an earlier one.", None, 200, Body::Text("text/plain; charset=utf-8"))
                .optional_query(&["size"]),
            get(audit::read_checkpoint),
        ),
        (
            spec(M::POST, "/v1/audit/checkpoint", Action::PublishCheckpoint, Party, "publishCheckpoint", "Integrate what is queued and sign a checkpoint now (if the tree grew).", None, 200, Body::Text("text/plain; charset=utf-8")),
            post(audit::publish_checkpoint),
        ),
        (
            spec(M::GET, "/v1/audit/inclusion", Action::ReadAuditProof, Party, "inclusionProof", "The RFC 6962 inclusion proof of leaf `index` in the tree of `size` leaves (hashes only).", None, 200, Body::Json(schema::<audit::InclusionProof>))
                .query(&["index", "size"]),
            get(audit::inclusion),
        ),
        (
            spec(M::GET, "/v1/audit/consistency", Action::ReadAuditProof, Party, "consistencyProof", "The RFC 6962 consistency proof between two tree sizes (hashes only).", None, 200, Body::Json(schema::<audit::ConsistencyProof>))
                .query(&["from", "to"]),
            get(audit::consistency),
        ),
        (
            spec(M::GET, "/v1/documents/{document}/evidence", Action::ReadDocumentEvidence, Party, "documentEvidence", "The document's events as leaves of the audit log, each with its inclusion proof against a fresh signed checkpoint (its author and recipients).", None, 200, Body::Json(schema::<audit::DocumentEvidence>)),
            get(audit::document_evidence),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/subjects/{subject}/accesses", Action::ReadSubjectAccesses, Party, "subjectAccesses", "Who read what about a data subject: every decision on the documents about them, with purpose, basis, outcome and leaf index (the ministry and the guardian on the case).", None, 200, Body::Json(schema::<crate::audit::access::AccessReport>)),
            get(audit::subject_accesses),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/dossier", Action::ReadDossier, Party, "readDossier", "The decision dossier of the court's case: one ustar archive with the broker-signed manifest (every document the court is entitled to, with receipts and the basis it was collected on) and the envelopes. Documents awaiting share are listed and the ministry is asked to share them.", None, 200, Body::Stream("application/x-tar")),
            get(dossiers::download),
        ),
        (
            spec(M::GET, "/v1/cases/{case}/transitions", Action::ReadCase, Party, "caseWorkflow", "A case's steps so far, with their actors and documents, and the states it can go to next.", None, 200, Body::Json(schema::<cases::Workflow>)),
            get(cases::transitions),
        ),
        (
            spec(M::PUT, "/v1/cases/{case}/hold", Action::SetLegalHold, Party, "setLegalHold", "Put a case under a legal hold: nothing of it is erased until the hold is lifted.", Some(schema::<consent::HoldRequest>), 200, Body::Json(schema::<crate::documents::erasure::LegalHold>)),
            put(consent::set_hold),
        ),
        (
            spec(M::DELETE, "/v1/cases/{case}/hold", Action::LiftLegalHold, Party, "liftLegalHold", "Lift a case's legal hold.", None, 204, Body::Text("")),
            delete(consent::lift_hold),
        ),
    ]
}

/// The route specifications alone.
pub fn route_specs() -> Vec<RouteSpec> {
    routes().into_iter().map(|(spec, _)| spec).collect()
}
