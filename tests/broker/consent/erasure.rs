//! What consent holds back and what erasure leaves: a document without
//! consent reaches nobody who needs it, legal holds, erasure by
//! crypto-shredding and by retention, and a withdrawal that decides the
//! next read on another replica.

use ponte::http::consent::ChangedConsent;
use serde_json::{json, Value};

use super::{assessed_case, detail, problem, ASSESSMENT};
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    a_document_without_consent_reaches_nobody_it_needs_consent_for,
    a_held_case_is_not_erased_and_an_erased_case_is_unreadable,
    closed_cases_are_erased_once_their_retention_has_passed,
);

async fn a_document_without_consent_reaches_nobody_it_needs_consent_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission_without_consent().await;
    app.add_subject(&case, "subj-child-1", "child").await;
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
    assert!(plan.recipients.is_empty(), "no consent, no recipient");
    // Encrypted to the municipality anyway: refused before the plan is compared.
    let draft = ponte::documents::party::Draft {
        document_id: ponte::documents::DocumentId::generate(),
        case: ponte::cases::CaseId::parse(&case).unwrap(),
        document_type: "family_assessment".parse().unwrap(),
        purpose: "best_interest_assessment".parse().unwrap(),
        subjects: vec![ponte::documents::SubjectId::parse("subj-child-1").unwrap()],
        supersedes: None,
        media_type: "text/plain".into(),
    };
    let municipality = app
        .private_key("comune-torino", ponte::jose::KeyUse::Encrypt)
        .public();
    let signing = app.private_key("iom-tirana", ponte::jose::KeyUse::Sign);
    let prepared =
        ponte::documents::party::prepare(ASSESSMENT, &draft, &signing, &[municipality]).unwrap();
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("consent_missing")));
    assert!(detail(&err).contains("subj-child-1"), "{}", detail(&err));

    // Consent for the municipality only: the plan follows it.
    app.record_consent(
        &case,
        "subj-child-1",
        &["best_interest_assessment"],
        &["role:municipality"],
    )
    .await;
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
    let parties: Vec<&str> = plan.recipients.iter().map(|p| p.party.as_str()).collect();
    assert_eq!(parties, ["comune-torino"]);
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "family_tracing",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    assert!(plan.recipients.is_empty(), "consent is per purpose");
}

async fn a_held_case_is_not_erased_and_an_erased_case_is_unreadable(backend: Backend) {
    use ponte::documents::erasure::{self, Ground};
    let app = TestApp::spawn(backend).await;
    let (case, doc, consent, code) = assessed_case(&app).await;
    let case_id = ponte::cases::CaseId::parse(&case).unwrap();
    let retention = app.settings.documents.retention();
    let now = time::OffsetDateTime::now_utc();
    let refusal = |ground| {
        let (db, case_id, retention) = (app.db.clone(), case_id.clone(), retention.clone());
        async move {
            erasure::refusal(
                &db,
                &case_id,
                ponte::cases::CaseState::Requested,
                ground,
                &retention,
                now,
            )
            .await
            .unwrap()
            .map(|r| r.to_string())
        }
    };
    assert!(refusal(Ground::RetentionPassed)
        .await
        .unwrap()
        .contains("not closed"));
    assert!(
        refusal(Ground::Request).await.unwrap().contains(&consent),
        "the consent is still given"
    );

    let _: ChangedConsent = app
        .anonymous()
        .post(
            &format!("/v1/consents/{consent}/withdraw"),
            &json!({ "code": code }),
        )
        .await
        .unwrap();
    let _: Value = app
        .client("tm-roma")
        .put_json(
            &format!("/v1/cases/{case}/hold"),
            &json!({ "reason": "appeal pending" }),
        )
        .await
        .unwrap();
    assert!(refusal(Ground::Request)
        .await
        .unwrap()
        .contains("appeal pending"));
    let err = app
        .client("comune-torino")
        .put_json::<Value>(
            &format!("/v1/cases/{case}/hold"),
            &json!({ "reason": "mine" }),
        )
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("forbidden")));
    let lifted = app
        .client("tm-roma")
        .http()
        .delete(app.client("tm-roma").url(&format!("/v1/cases/{case}/hold")))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    assert_eq!(refusal(Ground::Request).await, None);

    let erased = erasure::unchecked_erase(
        &app.db,
        &app.state.objects,
        &case_id,
        Ground::Request,
        "operator",
        &ponte::clock::rfc3339(now),
    )
    .await
    .unwrap();
    assert_eq!(erased.documents, 2, "the consent form and the assessment");
    let err = app
        .client("tm-roma")
        .envelope(&doc, "judicial_decision")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(410), Some("content_erased")));
    let listed: Vec<Value> = app
        .client("tm-roma")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .all(|d| d["envelope_sha256"].as_str().is_some_and(|h| h.len() == 64)),
        "metadata keeps hashes"
    );
    let manifests: Vec<String> =
        sqlx::query_scalar("select manifest from document where case_id = $1")
            .bind(&case)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert!(
        manifests.iter().all(String::is_empty),
        "no subject ids remain in the manifests"
    );
    assert!(refusal(Ground::Request)
        .await
        .unwrap()
        .contains("already erased"));
}

/// Two replicas on one PostgreSQL database and one data directory: a
/// withdrawal made through one decides the very next read on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_on_one_replica_decides_the_next_read_on_another() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let (_, doc, consent, code) = assessed_case(&first).await;
    let mut settings = first.settings.clone();
    settings.data_dir = first.data_dir().to_owned();
    let second = TestApp::spawn_with(tempfile::tempdir().unwrap(), settings).await;
    let on_second =
        ponte::client::Client::for_party(first.data_dir(), "comune-torino", &second.url()).unwrap();
    on_second
        .envelope(&doc, "best_interest_assessment")
        .await
        .expect("the second replica serves the document while consent holds");
    let _: ChangedConsent = first
        .anonymous()
        .post(
            &format!("/v1/consents/{consent}/withdraw"),
            &json!({ "code": code }),
        )
        .await
        .unwrap();
    let err = on_second
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("consent_withdrawn")));
}

async fn closed_cases_are_erased_once_their_retention_has_passed(backend: Backend) {
    use ponte::documents::erasure;
    let app = TestApp::spawn(backend).await;
    let (case, doc, _, _) = assessed_case(&app).await;
    let mut retention = app.settings.documents.retention();
    retention
        .by_type
        .insert(ponte::documents::DocumentType::FamilyAssessment, 30);
    retention.default_days = 1;
    let objects = app.state.objects.clone();
    let now = time::OffsetDateTime::now_utc();
    let swept = erasure::sweep(
        &app.db,
        &objects,
        &retention,
        now + time::Duration::days(40),
    )
    .await
    .unwrap();
    assert!(swept.is_empty(), "an open case is never erased by time");
    sqlx::query("update tracing_case set state = 'closed' where id = $1")
        .bind(&case)
        .execute(app.db.pool())
        .await
        .unwrap();
    let swept = erasure::sweep(
        &app.db,
        &objects,
        &retention,
        now + time::Duration::days(10),
    )
    .await
    .unwrap();
    assert!(swept.is_empty(), "the assessment is kept 30 days");
    let _: Value = app
        .client("ministry-labour")
        .put_json(
            &format!("/v1/cases/{case}/hold"),
            &json!({ "reason": "inquiry" }),
        )
        .await
        .unwrap();
    let swept = erasure::sweep(
        &app.db,
        &objects,
        &retention,
        now + time::Duration::days(31),
    )
    .await
    .unwrap();
    assert!(swept.is_empty(), "a legal hold stops it");
    sqlx::query("delete from legal_hold")
        .execute(app.db.pool())
        .await
        .unwrap();
    let swept = erasure::sweep(
        &app.db,
        &objects,
        &retention,
        now + time::Duration::days(31),
    )
    .await
    .unwrap();
    assert_eq!(swept.len(), 1);
    assert!(
        app.local_objects()
            .iter()
            .all(|p| !p.to_string_lossy().contains(&case)),
        "the case's objects are deleted"
    );
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(410), Some("content_erased")));
    let erased: i64 =
        sqlx::query_scalar("select count(*) from audit_event where action = 'CaseErased'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(erased, 1, "the erasure is evidence");
}
