//! Operations: health, readiness, metrics, the API description, start-up
//! refusals, and recovery when a dependency goes away and comes back.

use std::os::unix::fs::PermissionsExt;

use ponte::app::App;
use ponte::clock::SystemClock;
use ponte::http::{route_specs, Access};
use ponte::policy::{Action, PolicyEngine};
use serde_json::Value;

use crate::common::{self, host_port, required_env, Backend, Proxy, TestApp};

crate::on_both_databases!(
    the_broker_is_live_and_ready,
    metrics_count_requests_by_action_and_status,
    the_openapi_document_covers_every_route,
    an_unknown_route_method_or_path_value_gets_a_problem_answer,
    an_invalid_policy_set_stops_start_up_with_the_validator_message,
    a_key_file_readable_by_others_stops_start_up_naming_the_file,
    an_unreachable_object_store_fails_readiness_until_it_returns,
    a_request_in_flight_finishes_when_shutdown_begins,
    a_policy_reload_takes_effect_on_the_next_request_and_an_invalid_one_is_rejected,
);

#[test]
fn every_route_maps_to_an_action_of_the_schema_and_every_action_to_a_route() {
    let engine = PolicyEngine::load(&common::manifest_dir().join("policies")).unwrap();
    let specs = route_specs();
    for spec in &specs {
        assert!(
            engine.has_action(spec.action),
            "{} {} → {} is not in the schema",
            spec.method,
            spec.path,
            spec.action
        );
    }
    for &action in Action::ALL {
        assert!(engine.has_action(action), "{action} is not in the schema");
        let routed = specs.iter().any(|s| s.action == action);
        assert!(
            routed != action.is_entitlement(),
            "{action}: a route for every request action, none for entitlements"
        );
    }
    let public: Vec<&str> = specs
        .iter()
        .filter(|s| s.access == Access::Public)
        .map(|s| s.path)
        .collect();
    assert_eq!(
        public,
        [
            "/healthz",
            "/readyz",
            "/metrics",
            "/.well-known/jwks.json",
            "/v1/openapi.json"
        ]
    );
}

async fn the_broker_is_live_and_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health: Value = app.anonymous().get("/healthz").await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = app.anonymous().get("/readyz").await.unwrap();
    assert_eq!(
        ready,
        serde_json::json!({ "status": "ready", "database": "ok", "objects": "ok" })
    );
}

async fn metrics_count_requests_by_action_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.client("iom-tirana")
        .get::<Value>("/v1/me")
        .await
        .unwrap();
    app.client("iom-tirana")
        .get::<Value>("/v1/me")
        .await
        .unwrap();
    let _ = app
        .client("iom-tirana")
        .post::<_, Value>("/v1/cases", &serde_json::json!({"country": "AL"}))
        .await;
    let text = app.metrics().await;
    assert!(
        text.contains("ponte_requests_total{action=\"ReadMe\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("ponte_requests_total{action=\"OpenCase\",status=\"403\"} 1"),
        "{text}"
    );
}

async fn the_openapi_document_covers_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app.anonymous().get("/v1/openapi.json").await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for spec in route_specs() {
        let operation = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            operation["x-ponte-action"],
            spec.action.name(),
            "{} {}",
            spec.method,
            spec.path
        );
        assert!(
            operation["responses"]["default"]["content"]["application/problem+json"].is_object()
        );
    }
    // Every $ref points to a schema in the document.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref to {name}"
        );
    }
}

async fn an_unknown_route_method_or_path_value_gets_a_problem_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client("iom-tirana");
    let err = client.get::<Value>("/v1/nothing-here").await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("no_such_route"))
    );
    let response = client
        .http()
        .delete(client.url("/v1/cases"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "method_not_allowed");
    // A path value that is not UTF-8 once percent-decoded.
    let err = client.get::<Value>("/v1/notices/%FF").await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(400), Some("invalid_path"))
    );
}

async fn an_invalid_policy_set_stops_start_up_with_the_validator_message(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        common::manifest_dir().join("policies/schema.cedarschema"),
        policies.join("schema.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        policies.join("bad.cedar"),
        "@id(\"typo\")\npermit (principal, action == Ponte::Action::\"ReadMe\", resource) when { principal.rol == \"court\" };\n",
    )
    .unwrap();
    settings.policy.dir = policies;
    let err = App::build(&settings, std::sync::Arc::new(SystemClock))
        .await
        .err()
        .expect("start-up refused");
    let message = format!("{err:#}");
    assert!(message.contains("does not validate"), "{message}");
    assert!(
        message.contains("rol"),
        "the validator names the bad attribute: {message}"
    );
}

async fn a_key_file_readable_by_others_stops_start_up_naming_the_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.data_dir().join("broker/tls.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut settings = app.settings.clone();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    let err = App::build(&settings, std::sync::Arc::new(SystemClock))
        .await
        .err()
        .expect("start-up refused");
    let message = format!("{err:#}");
    assert!(
        message.contains(&key.display().to_string())
            && message.contains("readable by group or others"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_answers_503_and_the_broker_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), Backend::Postgres).await;
    let url = settings.database.url.clone().unwrap();
    let real = host_port(&url);
    let proxy = Proxy::start(real).await;
    settings.database.url = Some(url.replace(&real.to_string(), &proxy.addr.to_string()));
    settings.database.acquire_timeout_secs = 1;
    let app = TestApp::spawn_with(dir, settings).await;
    app.client("iom-tirana")
        .get::<Value>("/v1/me")
        .await
        .unwrap();

    proxy.cut();
    let response = app
        .client("iom-tirana")
        .http()
        .get(app.url() + "/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unavailable");
    let ready = app
        .anonymous()
        .http()
        .get(app.url() + "/readyz")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    proxy.restore();
    common::eventually("the broker answers again", || async {
        app.client("iom-tirana")
            .get::<Value>("/v1/me")
            .await
            .is_ok()
    })
    .await;
    let ready: Value = app.anonymous().get("/readyz").await.unwrap();
    assert_eq!(ready["status"], "ready");
}

async fn an_unreachable_object_store_fails_readiness_until_it_returns(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    let endpoint = required_env("PONTE_TEST_S3_ENDPOINT");
    let proxy = Proxy::start(host_port(&endpoint)).await;
    let dir_path = dir.path().to_owned();
    common::use_s3(&mut settings, &dir_path, &format!("http://{}", proxy.addr));
    let app = TestApp::spawn_with(dir, settings).await;
    let ready: Value = app.anonymous().get("/readyz").await.unwrap();
    assert_eq!(ready["objects"], "ok");

    proxy.cut();
    let response = app
        .anonymous()
        .http()
        .get(app.url() + "/readyz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("object store"),
        "{problem}"
    );

    proxy.restore();
    common::eventually("the object store is ready again", || async {
        app.anonymous().get::<Value>("/readyz").await.is_ok()
    })
    .await;
}

async fn a_request_in_flight_finishes_when_shutdown_begins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client("comune-torino");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let request = client
        .http()
        .post(client.url("/v1/cases"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(body));
    let in_flight = tokio::spawn(request.send());
    tx.send(Ok(bytes::Bytes::from_static(b"{\"country\": ")))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let url = app.url();
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    tx.send(Ok(bytes::Bytes::from_static(b"\"AL\"}")))
        .await
        .unwrap();
    drop(tx);

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201);
    stopping.await.unwrap();
    let after = reqwest::Client::builder()
        .build()
        .unwrap()
        .get(url + "/healthz")
        .send()
        .await;
    assert!(after.is_err(), "no new connections after shutdown");
}

async fn a_policy_reload_takes_effect_on_the_next_request_and_an_invalid_one_is_rejected(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for file in ["schema.cedarschema", "foundation.cedar", "documents.cedar"] {
        std::fs::copy(
            common::manifest_dir().join("policies").join(file),
            policies.join(file),
        )
        .unwrap();
    }
    settings.policy.dir = policies.clone();
    let app = TestApp::spawn_with(dir, settings).await;
    let first = app.state.policy.current().version().to_owned();
    app.open_case("AL").await;

    std::fs::write(
        policies.join("broken.cedar"),
        "@id(\"broken\") permit (principal, action, resource) when { principal.nope };",
    )
    .unwrap();
    let err = app.state.reload_policies().await.unwrap_err().to_string();
    assert!(err.contains("does not validate"), "{err}");
    assert_eq!(
        app.state.policy.current().version(),
        first,
        "the old set stays in force"
    );
    app.open_case("AL").await;
    let (_, event) = ponte::audit::recent(&app.db, 5)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, e)| e.action == "ReloadPolicies")
        .unwrap();
    assert_eq!(event.outcome, ponte::audit::Outcome::Deny);

    std::fs::remove_file(policies.join("broken.cedar")).unwrap();
    let foundation = std::fs::read_to_string(policies.join("foundation.cedar")).unwrap();
    let without = foundation.replace(
        "principal in Ponte::Role::\"municipality\",\n    action == Ponte::Action::\"OpenCase\"",
        "principal in Ponte::Role::\"ministry\",\n    action == Ponte::Action::\"OpenCase\"",
    );
    assert_ne!(without, foundation);
    std::fs::write(policies.join("foundation.cedar"), without).unwrap();
    let second = app.state.reload_policies().await.unwrap();
    assert_ne!(second, first);
    let err = app
        .client("comune-torino")
        .post::<_, Value>("/v1/cases", &serde_json::json!({ "country": "AL" }))
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(403),
        "the very next request is decided by the new set"
    );
    let (_, denied) = ponte::audit::recent(&app.db, 1).await.unwrap().remove(0);
    assert_eq!(denied.policy_set, second);
}
