//! The HTTP surface. Each route maps to exactly one [`Action`](crate::policy::Action) of the Cedar
//! schema; party routes authenticate the caller by its client certificate
//! and authorize once before the domain call. This module only routes,
//! extracts, converts and maps errors.

pub mod audit;
mod auth;
pub mod cases;
pub mod consent;
pub mod directory;
pub mod documents;
pub mod dossiers;
pub mod error;
mod extract;
pub mod metrics;
pub mod notices;
mod openapi;
mod ops;
mod refusal;
mod routes;
pub mod throttle;
pub mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use auth::Caller;
pub use error::ApiError;
pub use extract::{ApiJson, Path, Query};
pub use routes::{route_specs, routes, Access, Body, RouteSpec, SchemaFn};

use crate::app::AppState;
use crate::policy::Action;

/// The application router with its middleware.
pub fn router(state: AppState) -> Router {
    let specs = route_specs();
    let document = Arc::new(openapi::document(&specs));
    let mut router = Router::new();
    for (spec, handler) in routes() {
        let track = middleware::from_fn_with_state(
            Tracked {
                action: spec.action,
                access: spec.access,
                state: state.clone(),
            },
            track,
        );
        router = router.route(spec.path, handler.layer(track));
    }
    router
        .method_not_allowed_fallback(ops::method_not_allowed)
        .fallback(ops::not_found)
        .layer(axum::Extension(document))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let id = request
                                .extensions()
                                .get::<RequestId>()
                                .and_then(|id| id.header_value().to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                        })
                        .on_response(|response: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                            tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_millis() as u64, "answered");
                        }),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// What [`track`] knows of its route.
#[derive(Clone)]
struct Tracked {
    action: Action,
    access: Access,
    state: AppState,
}

/// Records the action of the route for the handlers, counts the answer,
/// and puts a refusal on record if nothing on the way did.
async fn track(State(route): State<Tracked>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok();
    let asked = refusal::Asked::of(&parts, params.as_ref());
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(route.action);
    let started = Instant::now();
    let (response, recorded) = crate::audit::noting_refusals(next.run(request)).await;
    refusal::record_if_unrecorded(
        &route.state,
        route.action,
        route.access,
        asked,
        refusal::Answered::of(&response),
        recorded,
    )
    .await;
    route.state.metrics.record(
        route.action.name(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Request ids: 128 random bits, hex.
#[derive(Debug, Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).ok()?;
        axum::http::HeaderValue::from_str(&crate::pki::hex(&bytes))
            .ok()
            .map(RequestId::new)
    }
}
