//! Parties prove who they are with their client certificates.

use ponte::audit::{self, Outcome};
use ponte::clock::rfc3339;
use ponte::parties::{self, PartyId};
use ponte::pki::DevCa;

use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    a_party_proves_who_it_is_with_its_certificate,
    a_request_without_a_certificate_is_refused_and_audited,
    a_certificate_from_another_ca_is_refused_at_the_handshake,
    a_certificate_not_registered_to_a_party_is_refused,
    a_caller_not_identified_learns_nothing_of_a_document,
    a_disabled_party_is_refused_with_403,
);

async fn a_party_proves_who_it_is_with_its_certificate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let me: serde_json::Value = app.client("iom-tirana").get("/v1/me").await.unwrap();
    assert_eq!(me["id"], "iom-tirana");
    assert_eq!(me["role"], "iom_mission");
    assert_eq!(me["display_name"], "IOM Tirana");
    let me: serde_json::Value = app.client("tm-roma").get("/v1/me").await.unwrap();
    assert_eq!(me["id"], "tm-roma");
    assert_eq!(me["role"], "court");
}

async fn a_request_without_a_certificate_is_refused_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let err = app
        .anonymous()
        .get::<serde_json::Value>("/v1/me")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("client_certificate_required"));
    let events = audit::recent(&app.db, 5).await.unwrap();
    assert!(
        events.iter().any(|(_, e)| e.principal == "anonymous"
            && e.action == "ReadMe"
            && e.outcome == Outcome::Deny),
        "{events:?}"
    );
}

async fn a_certificate_from_another_ca_is_refused_at_the_handshake(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = tempfile::tempdir().unwrap();
    let ca = DevCa::create(other.path()).unwrap();
    let issued = ca.issue_client("iom-tirana").unwrap();
    let chain = ponte::pki::certs_from_pem(issued.cert_pem.as_bytes()).unwrap();
    let key = ponte::http::tls::private_key(issued.key_pem.as_bytes()).unwrap();
    let client = ponte::client::Client::new(
        &app.data_dir().join("ca.crt"),
        Some((chain, key)),
        &app.url(),
    )
    .unwrap();
    let err = client.get::<serde_json::Value>("/v1/me").await.unwrap_err();
    assert!(
        matches!(err, ponte::client::ClientError::Transport(_)),
        "the handshake must fail, got {err}"
    );
}

/// A client with a certificate of the broker's CA that was never
/// registered to a party, and the certificate's fingerprint.
fn unregistered_client(app: &TestApp) -> (ponte::client::Client, String) {
    let ca = DevCa::load(app.data_dir()).unwrap();
    let issued = ca.issue_client("iom-tirana").unwrap();
    let chain = ponte::pki::certs_from_pem(issued.cert_pem.as_bytes()).unwrap();
    let fingerprint = ponte::pki::fingerprint(&chain[0]);
    let key = ponte::http::tls::private_key(issued.key_pem.as_bytes()).unwrap();
    let client = ponte::client::Client::new(
        &app.data_dir().join("ca.crt"),
        Some((chain, key)),
        &app.url(),
    )
    .unwrap();
    (client, fingerprint)
}

async fn a_certificate_not_registered_to_a_party_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Same CA, but never registered in the party registry.
    let (client, fingerprint) = unregistered_client(&app);
    let err = client.get::<serde_json::Value>("/v1/me").await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.code(), Some("certificate_not_registered"));
    let events = audit::recent(&app.db, 5).await.unwrap();
    assert!(events
        .iter()
        .any(|(_, e)| e.principal == format!("certificate:{fingerprint}")
            && e.outcome == Outcome::Deny));
}

/// The broker reads a requested document while it identifies the caller;
/// a caller it cannot identify gets the same answer whether the document
/// exists or not.
async fn a_caller_not_identified_learns_nothing_of_a_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let listed: Vec<serde_json::Value> = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    let existing = listed[0]["id"].as_str().unwrap().to_owned();
    let missing = ponte::documents::DocumentId::generate().to_string();
    let (unregistered, _) = unregistered_client(&app);
    for doc in [&existing, &missing, &"not-an-id".to_owned()] {
        let err = unregistered
            .envelope(doc, "family_tracing")
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(403), Some("certificate_not_registered")),
            "{doc}"
        );
        let err = app
            .anonymous()
            .envelope(doc, "family_tracing")
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(401), Some("client_certificate_required")),
            "{doc}"
        );
    }
}

async fn a_disabled_party_is_refused_with_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = PartyId::parse("iom-dakar").unwrap();
    parties::unchecked_disable(&app.db, &id, &rfc3339(time::OffsetDateTime::now_utc()))
        .await
        .unwrap();
    let err = app
        .client("iom-dakar")
        .get::<serde_json::Value>("/v1/me")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.code(), Some("party_disabled"));
    let (_, event) = audit::recent(&app.db, 1).await.unwrap().remove(0);
    assert_eq!(event.principal, "party:iom-dakar");
    assert_eq!(event.outcome, Outcome::Deny);
    assert_eq!(
        event.policy_ids,
        vec!["disabled-party-is-refused".to_owned()]
    );
    assert!(event.policy_set.starts_with("sha256:"));
}
