//! Bad submissions: each refused with its stable code, before its body
//! is read where it can be, and nothing stored.

use ponte::audit::{self, Outcome};
use ponte::documents::party;
use ponte::jose::jwe::Jwe;
use ponte::jose::KeyUse;
use serde_json::Value;

use super::ASSESSMENT;
use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    bad_submissions_are_refused_and_nothing_is_stored,
    an_oversize_envelope_is_refused_before_its_body_is_read,
);

async fn bad_submissions_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let good = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let signing = app.private_key("iom-tirana", KeyUse::Sign);
    let resign = |manifest: &ponte::documents::Manifest| manifest.sign(&signing).unwrap();

    // One flipped byte in the envelope.
    let mut flipped = good.clone();
    let at = flipped.envelope.len() / 2;
    flipped.envelope[at] = if flipped.envelope[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    // The manifest signed with another party's key.
    let mut foreign = good.clone();
    foreign.manifest_token = good
        .manifest
        .sign(&app.private_key("tm-roma", KeyUse::Sign))
        .unwrap();
    // A recipient outside the plan.
    let dakar = app.private_key("iom-dakar", KeyUse::Encrypt).public();
    let mut keys: Vec<ponte::jose::Jwk> = Vec::new();
    for p in app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap()
        .recipients
    {
        keys.extend(
            p.keys
                .iter()
                .map(|k| serde_json::from_value(k.clone()).unwrap()),
        );
    }
    keys.push(dakar.clone());
    let draft = party::Draft {
        document_id: ponte::documents::DocumentId::generate(),
        case: ponte::cases::CaseId::parse(&case).unwrap(),
        document_type: "family_assessment".parse().unwrap(),
        purpose: "best_interest_assessment".parse().unwrap(),
        subjects: vec![ponte::documents::SubjectId::parse("subj-child-1").unwrap()],
        supersedes: None,
        media_type: "text/plain".into(),
    };
    let outside = party::prepare(ASSESSMENT, &draft, &signing, &keys).unwrap();
    // Malformed JSON and bad base64, with manifests that match their bytes.
    let garbage = |bytes: &[u8]| {
        let mut p = good.clone();
        p.envelope = bytes.to_vec();
        let mut m = good.manifest.clone();
        m.envelope_sha256 = ponte::documents::sha256_hex(bytes);
        p.manifest_token = resign(&m);
        p
    };
    let not_json = garbage(b"{\"protected\": ");
    let mut jwe: Value = serde_json::from_slice(&good.envelope).unwrap();
    jwe["ciphertext"] = Value::String("not*base64".into());
    let bad_base64 = garbage(jwe.to_string().as_bytes());
    let mut jwe = Jwe::parse(&good.envelope).unwrap();
    jwe.recipients[0]
        .header
        .as_mut()
        .unwrap()
        .insert("alg".into(), "RSA1_5".into());
    let rsa = garbage(jwe.to_json().as_bytes());
    // A header parameter twice: a library that took the first would read
    // another key id than the broker checked.
    let twice = Jwe::parse(&good.envelope).unwrap().to_json().replacen(
        "\"header\":{",
        "\"header\":{\"kid\":\"someone-else\",",
        1,
    );
    let twice = garbage(twice.as_bytes());

    let cases: Vec<(&str, &party::Prepared, &str, u16, &str)> = vec![
        (
            "flipped byte",
            &flipped,
            case.as_str(),
            422,
            "envelope_hash_mismatch",
        ),
        (
            "foreign signature",
            &foreign,
            case.as_str(),
            422,
            "manifest_key_not_registered",
        ),
        (
            "recipient outside the plan",
            &outside,
            case.as_str(),
            422,
            "recipient_not_in_plan",
        ),
        (
            "malformed JSON",
            &not_json,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
        (
            "bad base64",
            &bad_base64,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
        (
            "unsupported algorithm",
            &rsa,
            case.as_str(),
            422,
            "unsupported_algorithm",
        ),
        (
            "a header parameter twice",
            &twice,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
    ];
    for (what, prepared, case, status, code) in cases {
        let err = app.submit("iom-tirana", case, prepared).await.unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(status), Some(code)),
            "{what}: {err}"
        );
        if what == "a header parameter twice" {
            assert!(
                err.to_string().contains("\"kid\" appears twice"),
                "the error names the parameter: {err}"
            );
        }
        if what == "recipient outside the plan" {
            assert!(
                err.to_string().contains(&dakar.kid),
                "the error names the key: {err}"
            );
        }
    }
    let unknown_case = "case-aaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut elsewhere = good.clone();
    let mut m = good.manifest.clone();
    m.case = ponte::cases::CaseId::parse(unknown_case).unwrap();
    elsewhere.manifest_token = resign(&m);
    let err = app
        .submit("iom-tirana", unknown_case, &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("case_not_found"))
    );
    let response = app
        .client("iom-tirana")
        .http()
        .post(
            app.client("iom-tirana")
                .url(&format!("/v1/cases/{case}/documents")),
        )
        .body(good.envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "no manifest header");

    let listed: Vec<Value> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert!(
        listed.iter().all(|d| d["document_type"] == "consent_form"),
        "nothing partial is stored"
    );
    assert!(app.envelope_objects().await.is_empty());
    assert_eq!(app.pending_uploads().await, 0);
    // Every refusal is on record with its code, whether it came before the
    // policy decided (no manifest, a foreign signature, an unknown case) or
    // after; and every submission the policy allowed is on record too,
    // though six of them stopped before or during their upload.
    let events = audit::recent(&app.db, 200).await.unwrap();
    let count = |action: &str, outcome: Outcome| {
        events
            .iter()
            .filter(|(_, e)| e.action == action && e.outcome == outcome)
            .count()
    };
    let mut codes: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e.action == "DocumentRejected")
        .map(|(_, e)| e.detail["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "case_not_found",
            "envelope_hash_mismatch",
            "malformed_envelope",
            "malformed_envelope",
            "malformed_envelope",
            "manifest_key_not_registered",
            "manifest_missing",
            "recipient_not_in_plan",
            "unsupported_algorithm",
        ]
    );
    assert_eq!(
        count("SubmitDocument", Outcome::Allow),
        count("DocumentAccepted", Outcome::Done) + 6
    );
}

async fn an_oversize_envelope_is_refused_before_its_body_is_read(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    settings.documents.max_envelope_bytes = 2_000;
    let app = TestApp::spawn_with(dir, settings).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &[b'x'; 5_000],
        )
        .await;
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(413), Some("payload_too_large"))
    );
    assert!(app.envelope_objects().await.is_empty());
    assert_eq!(
        app.pending_uploads().await,
        0,
        "refused before any upload began"
    );
}
