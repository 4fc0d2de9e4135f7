//! Plans and submissions: who may receive a document, a signed and
//! encrypted assessment submitted and opened by each recipient (on either
//! curve), the broker holding only ciphertext, and retries stored once.

use ponte::audit::{self, Outcome};
use ponte::clock::rfc3339;
use ponte::documents::receipt::{jwks_keys, Receipt};
use ponte::jose::KeyUse;
use serde_json::Value;

use super::{assessed_case, rotate_held_keys, ASSESSMENT};
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    the_plan_names_the_entitled_parties_and_their_active_keys,
    a_mission_submits_an_assessment_and_each_recipient_opens_it,
    parties_whose_keys_are_on_p256_sign_seal_and_open_like_the_others,
    the_broker_stores_only_ciphertext_under_its_own_seal,
    retries_sent_at_once_store_the_document_once,
    retrying_a_submission_returns_the_original_receipt_and_stores_nothing_twice,
);

async fn the_plan_names_the_entitled_parties_and_their_active_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let mut parties: Vec<&str> = plan.recipients.iter().map(|p| p.party.as_str()).collect();
    parties.sort();
    assert_eq!(
        parties,
        ["comune-torino", "iom-rome", "iom-tirana", "ministry-labour"]
    );
    assert!(plan
        .recipients
        .iter()
        .all(|p| p.keys.len() == 1 && p.keys[0]["use"] == "enc"));
    assert_eq!(serde_json::to_value(plan.basis).unwrap(), "consent");

    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "child_hearing",
            "judicial_decision",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let parties: Vec<&str> = plan.recipients.iter().map(|p| p.party.as_str()).collect();
    assert_eq!(parties, ["ministry-labour"], "no unnecessary communication: a hearing goes to the court and guardian only, once attached");

    let err = app
        .client("iom-dakar")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));
    let err = app
        .client("iom-tirana")
        .plan(&case, "family_assessment", "marketing", &["subj-child-1"])
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(400), Some("unknown_purpose"))
    );
    let err = app
        .client("iom-tirana")
        .plan(&case, "love_letter", "family_tracing", &["subj-child-1"])
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_document_type"))
    );
}

async fn a_mission_submits_an_assessment_and_each_recipient_opens_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);

    let jwks: Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    let receipt = Receipt::verify(&answer.receipt, &jwks_keys(&jwks)).unwrap();
    assert_eq!(receipt.document_id, prepared.manifest.document_id);
    assert_eq!(receipt.submitter, "iom-tirana");
    assert_eq!(receipt.envelope_sha256, prepared.manifest.envelope_sha256);
    assert_eq!(receipt.size, prepared.envelope.len() as u64);

    let doc = answer.document.id.to_string();
    for reader in ["ministry-labour", "iom-rome", "comune-torino", "iom-tirana"] {
        let opened = app
            .open(reader, &doc, "best_interest_assessment")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, ASSESSMENT, "{reader}");
        assert!(opened.as_submitted);
    }
    let err = app
        .client("iom-dakar")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));

    let (_, read) = audit::recent(&app.db, 20)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, e)| e.action == "ReadDocument" && e.principal == "party:comune-torino")
        .unwrap();
    assert_eq!(read.outcome, Outcome::Allow);
    assert_eq!(read.resource, format!("document:{doc}"));
    assert_eq!(
        read.detail["context"]["purpose"],
        "best_interest_assessment"
    );
    assert_eq!(read.policy_ids, ["recipient-reads-document"]);

    let listed: Vec<Value> = app
        .client("comune-torino")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["document_type"], "family_assessment");
    assert_eq!(listed[0]["author"], "iom-tirana");
    assert!(listed[0].get("content").is_none());
    let listed: Vec<Value> = app
        .client("iom-dakar")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap_or_default();
    assert!(listed.is_empty());
}

/// The profile's other curve end to end: a mission that signs with ES256
/// (P-256) and a ministry that decrypts with a P-256 key, beside parties on
/// Ed25519 and X25519, through plan, submission, receipt and retrieval.
async fn parties_whose_keys_are_on_p256_sign_seal_and_open_like_the_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let at = rfc3339(time::OffsetDateTime::now_utc());
    for (party, keys) in [
        (
            "iom-tirana",
            [
                ponte::jose::Jwk::generate_p256(KeyUse::Sign).unwrap(),
                ponte::jose::Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
            ],
        ),
        (
            "ministry-labour",
            [
                ponte::jose::Jwk::generate_ed25519().unwrap(),
                ponte::jose::Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
            ],
        ),
    ] {
        rotate_held_keys(&app, party, &keys, &at).await;
    }
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let curves: Vec<&str> = plan
        .recipients
        .iter()
        .flat_map(|p| p.keys.iter())
        .filter_map(|k| k["crv"].as_str())
        .collect();
    assert!(
        curves.contains(&"P-256") && curves.contains(&"X25519"),
        "{curves:?}"
    );
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let header: Value = serde_json::from_slice(
        &ponte::jose::b64_decode(prepared.manifest_token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    let doc = answer.document.id.to_string();
    for reader in ["ministry-labour", "iom-tirana", "iom-rome", "comune-torino"] {
        let opened = app
            .open(reader, &doc, "best_interest_assessment")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, ASSESSMENT, "{reader}");
    }
}

async fn the_broker_stores_only_ciphertext_under_its_own_seal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _) = assessed_case(&app).await;
    let objects = app.envelope_objects().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let raw = std::fs::read(&objects[0]).unwrap();
    assert_eq!(&raw[..5], b"PNTE\x01", "the broker's versioned seal");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("Elbasan") && !text.contains("protected") && !text.contains("recipients")
    );
}

async fn retrying_a_submission_returns_the_original_receipt_and_stores_nothing_twice(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let (first_status, first) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    let (again_status, again) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first.receipt, again.receipt);
    assert!(!again.stored_now);
    assert_eq!(app.envelope_objects().await.len(), 1);

    // Same id, other bytes: refused.
    let mut other = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"other",
        )
        .await;
    let mut manifest = other.manifest.clone();
    manifest.document_id = prepared.manifest.document_id.clone();
    other.manifest_token = manifest
        .sign(&app.private_key("iom-tirana", KeyUse::Sign))
        .unwrap();
    let err = app.submit("iom-tirana", &case, &other).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("document_id_conflict"))
    );
    assert_eq!(app.envelope_objects().await.len(), 1);
    assert_eq!(app.pending_uploads().await, 0, "no upload is left pending");
}

/// A mission on a bad link may send the same submission again before the
/// first is answered: whichever commits first stores it, every other
/// answer carries the same receipt, and nothing is kept twice (no object,
/// no pending upload, no second acceptance on record).
async fn retries_sent_at_once_store_the_document_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let answers =
        futures::future::join_all((0..4).map(|_| app.submit("iom-tirana", &case, &prepared))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    let stored: Vec<_> = answers.iter().filter(|(_, a)| a.stored_now).collect();
    assert_eq!(stored.len(), 1, "stored by exactly one of them");
    assert_eq!(stored[0].0, 201);
    for (status, answer) in &answers {
        assert!(answer.stored_now || *status == 200);
        assert_eq!(answer.receipt, stored[0].1.receipt, "the one receipt");
    }
    assert_eq!(app.envelope_objects().await.len(), 1);
    assert_eq!(app.pending_uploads().await, 0, "no upload is left pending");
    let acceptances = app.acceptances(&prepared.manifest.document_id).await;
    assert_eq!(acceptances, 1);
}
