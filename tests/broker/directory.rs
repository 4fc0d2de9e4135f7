//! The party directory and the broker's keys.

use ponte::clock::rfc3339;
use ponte::jose::Jwk;
use ponte::parties::{self, PartyId};

use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    the_directory_lists_every_party_with_its_role,
    a_partys_public_keys_are_published_without_private_parts,
    rotated_keys_stay_listed_for_verification_but_not_for_encryption,
    the_broker_publishes_its_signing_key,
    the_purposes_registry_names_each_lawful_basis,
);

async fn the_directory_lists_every_party_with_its_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parties: Vec<serde_json::Value> = app
        .client("comune-torino")
        .get("/v1/parties")
        .await
        .unwrap();
    let ids: Vec<(&str, &str)> = parties
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    for expected in [
        ("ministry-labour", "ministry"),
        ("iom-rome", "iom_coordination"),
        ("iom-tirana", "iom_mission"),
        ("iom-dakar", "iom_mission"),
        ("tm-roma", "court"),
        ("comune-torino", "municipality"),
        ("guardian-torino-1", "guardian"),
    ] {
        assert!(ids.contains(&expected), "{expected:?} missing from {ids:?}");
    }
}

async fn a_partys_public_keys_are_published_without_private_parts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jwks: serde_json::Value = app
        .client("tm-roma")
        .get("/v1/parties/iom-tirana/jwks.json")
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let local_sign = Jwk::parse(
        &std::fs::read_to_string(app.data_dir().join("parties/iom-tirana/sign.jwk")).unwrap(),
    )
    .unwrap();
    assert!(keys.iter().any(|k| k["kid"] == local_sign.kid.as_str()
        && k["use"] == "sig"
        && k["crv"] == "Ed25519"));
    assert!(keys
        .iter()
        .any(|k| k["use"] == "enc" && k["crv"] == "X25519"));
    assert!(keys.iter().all(|k| k.get("d").is_none()), "{jwks}");

    let err = app
        .client("tm-roma")
        .get::<serde_json::Value>("/v1/parties/nobody-here")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("party_not_found"))
    );
    let err = app
        .client("tm-roma")
        .get::<serde_json::Value>("/v1/parties/Not_An_Id")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_party_id"))
    );
}

async fn rotated_keys_stay_listed_for_verification_but_not_for_encryption(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = PartyId::parse("iom-tirana").unwrap();
    let before = parties::keys(&app.db, &id).await.unwrap();
    let old_sig = before
        .iter()
        .find(|k| k.key_use == ponte::jose::KeyUse::Sign)
        .unwrap()
        .kid
        .clone();
    let old_enc = before
        .iter()
        .find(|k| k.key_use == ponte::jose::KeyUse::Encrypt)
        .unwrap()
        .kid
        .clone();
    let new = [
        Jwk::generate_ed25519().unwrap().public(),
        Jwk::generate_x25519().unwrap().public(),
    ];
    parties::unchecked_rotate_keys(
        &app.db,
        &id,
        &new,
        &rfc3339(time::OffsetDateTime::now_utc()),
    )
    .await
    .unwrap();

    let jwks: serde_json::Value = app
        .client("tm-roma")
        .get("/v1/parties/iom-tirana/jwks.json")
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_sig.as_str()),
        "retired signing key stays verifiable"
    );
    assert!(
        !kids.contains(&old_enc.as_str()),
        "retired encryption key is never offered"
    );
    assert!(kids.contains(&new[0].kid.as_str()) && kids.contains(&new[1].kid.as_str()));

    let detail: serde_json::Value = app
        .client("tm-roma")
        .get("/v1/parties/iom-tirana")
        .await
        .unwrap();
    let status_of = |kid: &str| {
        detail["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&old_enc), "retired");
    assert_eq!(status_of(&old_sig), "retired");
    assert_eq!(status_of(&new[1].kid), "active");
}

async fn the_broker_publishes_its_signing_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none());
    let local =
        Jwk::parse(&std::fs::read_to_string(app.data_dir().join("broker/sign.jwk")).unwrap())
            .unwrap();
    assert_eq!(key["kid"], local.kid.as_str());
}

async fn the_purposes_registry_names_each_lawful_basis(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let purposes: Vec<serde_json::Value> = app
        .client("guardian-torino-1")
        .get("/v1/purposes")
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = purposes
        .iter()
        .map(|p| (p["purpose"].as_str().unwrap(), p["basis"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("family_tracing", "consent"),
            ("best_interest_assessment", "consent"),
            ("judicial_decision", "legal_obligation"),
            ("return_and_reintegration", "consent"),
            ("case_oversight", "public_task"),
            ("statistics", "public_task"),
        ]
    );
}
