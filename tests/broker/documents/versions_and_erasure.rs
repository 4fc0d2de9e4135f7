//! Versions and crypto-shredding: a correction supersedes and both are
//! kept; a destroyed case key makes the case's documents unreadable.

use ponte::clock::rfc3339;
use serde_json::Value;

use super::assessed_case;
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    a_correction_supersedes_and_both_versions_are_kept,
    destroying_the_case_key_makes_the_case_unreadable,
);

async fn a_correction_supersedes_and_both_versions_are_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc) = assessed_case(&app).await;
    let correction = app
        .prepare_correction("iom-tirana", &case, &doc, b"The mother lives in Durres.")
        .await;
    let agreed = Some("through=mission; subject=subj-child-1");
    let (status, answer) = app
        .client("iom-tirana")
        .submit_with_agreement(
            &case,
            &correction.manifest_token,
            correction.envelope.clone(),
            agreed,
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        answer.document.supersedes.as_ref().map(|d| d.as_str()),
        Some(doc.as_str())
    );
    let listed: Vec<Value> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        3,
        "the consent form, the assessment and its correction"
    );
    let old = listed.iter().find(|d| d["id"] == doc.as_str()).unwrap();
    assert_eq!(old["current"], false);
    assert!(
        app.open("ministry-labour", &doc, "case_oversight")
            .await
            .is_ok(),
        "the superseded version is kept"
    );

    let twice = app
        .prepare_correction("iom-tirana", &case, &doc, b"again")
        .await;
    let err = app
        .client("iom-tirana")
        .submit_with_agreement(&case, &twice.manifest_token, twice.envelope.clone(), agreed)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("cannot_supersede"))
    );
}

async fn destroying_the_case_key_makes_the_case_unreadable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc) = assessed_case(&app).await;
    app.open("ministry-labour", &doc, "case_oversight")
        .await
        .unwrap();
    let sealed_bytes = std::fs::read(&app.envelope_objects().await[0]).unwrap();
    ponte::storage::sealed::unchecked_destroy_case_key(
        &app.db,
        &case,
        &rfc3339(time::OffsetDateTime::now_utc()),
    )
    .await
    .unwrap();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(410), Some("content_erased"))
    );
    // A party that may not read it learns nothing of that: the refusal
    // answers first, though the object was being opened meanwhile.
    let err = app
        .client("iom-dakar")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));
    // The object is still there, but no key in the broker opens it any more.
    let kek = ponte::storage::sealed::Kek::load(&app.data_dir().join("broker/kek.key")).unwrap();
    assert!(
        ponte::storage::sealed::existing_case_key(&app.db, &kek, &case)
            .await
            .is_err()
    );
    let wrapped: String = sqlx::query_scalar("select wrapped from case_key where case_id = $1")
        .bind(&case)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(wrapped, "", "the wrapped key itself is gone");
    assert_eq!(&sealed_bytes[..4], b"PNTE");
    // A new submission on an erased case is refused too.
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"x",
        )
        .await;
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(410));
}
