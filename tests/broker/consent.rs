//! Consent and purpose limitation end to end: consent records, withdrawal
//! by the person's code, its effect on the very next request, withdrawal
//! notices, legal holds and erasure. Every test runs on SQLite and PostgreSQL.

use ponte::client::ClientError;
use ponte::consent::receipt::{ConsentReceipt, WithdrawalNotice};
use ponte::documents::receipt::jwks_keys;
use ponte::http::consent::{ChangedConsent, ConsentDetail};
use ponte::notices::{InboxNotice, InboxPage};
use serde_json::{json, Value};

use crate::common::{Backend, TestApp};
use crate::on_both_databases;

const ASSESSMENT: &[u8] = b"Family assessment: the mother and two siblings live in Shkoder.";

fn problem(err: &ClientError) -> (Option<u16>, Option<&str>) {
    (err.status(), err.code())
}

fn detail(err: &ClientError) -> String {
    match err {
        ClientError::Problem { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// A case with the court attached, the child's consent to the assessment
/// for the municipality, the court and the ministry, and the assessment.
/// Returns (case, document, consent id, code).
async fn assessed_case(app: &TestApp) -> (String, String, String, String) {
    let case = app.case_with_mission_without_consent().await;
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    app.add_subject(&case, "subj-child-1", "child").await;
    let recorded = app
        .record_consent(
            &case,
            "subj-child-1",
            &["best_interest_assessment"],
            &["role:municipality", "role:court", "role:ministry"],
        )
        .await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let (_, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    (
        case,
        answer.document.id.to_string(),
        recorded.consent.id.to_string(),
        recorded.code.expect("a given consent has a code"),
    )
}

async fn broker_keys(app: &TestApp) -> Vec<ponte::jose::Jwk> {
    let jwks: Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    jwks_keys(&jwks)
}

async fn the_family_withdraws_and_only_the_court_reads_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc, consent, code) = assessed_case(&app).await;

    let opened = app
        .open("comune-torino", &doc, "best_interest_assessment")
        .await
        .unwrap();
    assert_eq!(opened.plaintext, ASSESSMENT);

    let withdrawn: ChangedConsent = app
        .anonymous()
        .post(
            &format!("/v1/consents/{consent}/withdraw"),
            &json!({ "code": code, "reason": "we no longer agree" }),
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.consent.state.as_str(), "withdrawn");
    assert_eq!(
        withdrawn.notices.len(),
        1,
        "the municipality received the assessment"
    );
    let receipt = ConsentReceipt::verify(&withdrawn.receipt, &broker_keys(&app).await).unwrap();
    assert_eq!(
        (receipt.state.as_str(), receipt.changed_by.as_str()),
        ("withdrawn", "subject")
    );

    let err = app
        .client("comune-torino")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("consent_withdrawn")));
    assert!(detail(&err).contains(&consent), "{}", detail(&err));
    let ClientError::Problem { body, .. } = &err else {
        unreachable!()
    };
    assert_eq!(body["consents"][0]["consent"], consent.as_str());
    assert_eq!(body["consents"][0]["state"], "withdrawn");

    let err = app
        .client("comune-torino")
        .envelope(&doc, "judicial_decision")
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("purpose_not_allowed")),
        "a legal-obligation purpose is the court's, not a way around the withdrawal"
    );

    let opened = app
        .open("tm-roma", &doc, "judicial_decision")
        .await
        .unwrap();
    assert_eq!(opened.plaintext, ASSESSMENT);
    let events = ponte::audit::recent(&app.db, 50).await.unwrap();
    let (_, court_read) = events
        .iter()
        .find(|(_, e)| {
            e.action == "ReadDocument"
                && e.principal == "party:tm-roma"
                && e.outcome == ponte::audit::Outcome::Allow
        })
        .expect("the court's read is evidence");
    assert_eq!(court_read.detail["context"]["basis"], "legal_obligation");
    assert_eq!(
        court_read.detail["context"]["consent_state"],
        "not_required"
    );
    let err = app
        .client("tm-roma")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("consent_withdrawn")));

    let inbox = app
        .client("comune-torino")
        .get::<InboxPage>("/v1/notices?kind=withdrawal")
        .await
        .unwrap()
        .notices;
    assert_eq!(inbox.len(), 1);
    let notice = WithdrawalNotice::verify(&inbox[0].notice, &broker_keys(&app).await).unwrap();
    assert_eq!(notice.consent.as_str(), consent);
    assert_eq!(notice.recipient.as_str(), "comune-torino");
    let listed: Vec<String> = notice.documents.iter().map(|d| d.to_string()).collect();
    assert_eq!(listed, [doc.as_str()]);
    assert_eq!(notice.instruction, "delete");
    let court_inbox = app
        .client("tm-roma")
        .get::<InboxPage>("/v1/notices?kind=withdrawal")
        .await
        .unwrap()
        .notices;
    assert!(
        court_inbox.is_empty(),
        "the court received nothing under the consent"
    );

    let outstanding: Vec<InboxNotice> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/notices"))
        .await
        .unwrap();
    assert_eq!(outstanding.len(), 1);
    assert!(outstanding[0].acknowledged_at.is_none());
    let read: InboxNotice = app
        .client("comune-torino")
        .get(&format!("/v1/notices/{}", inbox[0].id))
        .await
        .unwrap();
    assert!(read.read_at.is_some());
    let acked: InboxNotice = app
        .client("comune-torino")
        .post(&format!("/v1/notices/{}/ack", inbox[0].id), &json!({}))
        .await
        .unwrap();
    assert!(acked.acknowledged_at.is_some());
    let after: Vec<InboxNotice> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/notices"))
        .await
        .unwrap();
    assert!(
        after[0].acknowledged_at.is_some(),
        "no acknowledgement outstanding"
    );
    let err = app
        .client("iom-dakar")
        .get::<InboxNotice>(&format!("/v1/notices/{}", inbox[0].id))
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(404), Some("notice_not_found")));

    let detail: ConsentDetail = app
        .client("ministry-labour")
        .get(&format!("/v1/consents/{consent}"))
        .await
        .unwrap();
    let states: Vec<&str> = detail.history.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(states, ["given", "withdrawn"], "the history is kept");
    for change in &detail.history {
        ConsentReceipt::verify(&change.receipt, &broker_keys(&app).await).unwrap();
    }
}

async fn a_consent_code_works_once_and_cannot_be_guessed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, consent, code) = assessed_case(&app).await;
    let withdraw = |code: String| {
        let client = app.anonymous();
        let path = format!("/v1/consents/{consent}/withdraw");
        async move {
            client
                .post::<_, ChangedConsent>(&path, &json!({ "code": code }))
                .await
        }
    };
    for _ in 0..ponte::consent::code::MAX_FAILURES {
        let err = withdraw("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH".into())
            .await
            .unwrap_err();
        assert_eq!(problem(&err), (Some(403), Some("consent_code_invalid")));
    }
    let err = withdraw(code.clone()).await.unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(429), Some("too_many_attempts")),
        "past the limit even the right code waits"
    );
    sqlx::query("delete from consent_code_failure")
        .execute(app.db.pool())
        .await
        .unwrap();
    withdraw(code.to_lowercase()).await.unwrap();
    let err = withdraw(code).await.unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("consent_code_invalid")),
        "a used code is spent"
    );
    let denials: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'WithdrawConsentWithCode' and decision = 'deny'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        denials,
        ponte::consent::code::MAX_FAILURES + 1,
        "every wrong code is audited"
    );
}

async fn bad_consent_input_is_refused_with_a_clear_problem(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let forms: Vec<Value> = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}/consents"))
        .await
        .unwrap();
    let evidence = forms[0]["evidence"].as_str().unwrap().to_owned();
    let body = |overrides: Value| {
        let mut body = json!({
            "subject": "subj-child-1", "state": "given", "given_by": "representative",
            "purposes": ["family_tracing"], "recipients": ["role:ministry"],
            "document_types": ["family_assessment"], "notice_version": "1",
            "notice_language": "sq", "evidence": evidence,
        });
        body.as_object_mut()
            .unwrap()
            .extend(overrides.as_object().unwrap().clone());
        body
    };
    let record = |body: Value| {
        let client = app.client("iom-tirana");
        let path = format!("/v1/cases/{case}/consents");
        async move { client.post::<_, Value>(&path, &body).await.unwrap_err() }
    };
    let err = record(body(json!({ "subject": "subj-nobody" }))).await;
    assert_eq!(problem(&err), (Some(404), Some("subject_not_found")));
    let err = record(body(json!({ "purposes": ["marketing"] }))).await;
    assert_eq!(problem(&err), (Some(400), Some("unknown_purpose")));
    assert!(
        detail(&err).contains("best_interest_assessment"),
        "lists the valid ones"
    );
    let err = record(body(json!({ "valid_until": "2020-01-01T00:00:00Z" }))).await;
    assert_eq!(problem(&err), (Some(422), Some("consent_validity_in_past")));
    let err = record(body(json!({ "purposes": ["judicial_decision"] }))).await;
    assert_eq!(problem(&err), (Some(422), Some("invalid_consent")));
    let err = record(body(
        json!({ "evidence": ponte::documents::DocumentId::generate() }),
    ))
    .await;
    assert_eq!(problem(&err), (Some(422), Some("invalid_consent_evidence")));
    let err = record(body(json!({ "recipients": ["everyone"] }))).await;
    assert_eq!(problem(&err), (Some(422), Some("invalid_consent")));
    let err = app
        .client("ministry-labour")
        .post::<_, Value>(&format!("/v1/cases/{case}/consents"), &body(json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("forbidden")),
        "the ministry does not collect consent"
    );
    let after: Vec<Value> = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}/consents"))
        .await
        .unwrap();
    assert_eq!(after.len(), 1, "nothing partial is stored");

    let consent = forms[0]["id"].as_str().unwrap();
    let err = app
        .client("comune-torino")
        .post::<_, Value>(
            &format!("/v1/consents/{consent}/state"),
            &json!({ "state": "withdrawn" }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("forbidden")),
        "only the collector withdraws on the person's behalf"
    );
    let changed: ChangedConsent = app
        .client("iom-tirana")
        .post(
            &format!("/v1/consents/{consent}/state"),
            &json!({ "state": "withdrawn", "reason": "asked by phone" }),
        )
        .await
        .unwrap();
    assert_eq!(changed.consent.state.as_str(), "withdrawn");
    let receipt = ConsentReceipt::verify(&changed.receipt, &broker_keys(&app).await).unwrap();
    assert!(receipt.on_behalf);
    let err = app
        .client("tm-roma")
        .post::<_, Value>(
            &format!("/v1/consents/{consent}/state"),
            &json!({ "state": "revoked" }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("forbidden")),
        "the court is not on this case"
    );
}

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

on_both_databases!(
    the_family_withdraws_and_only_the_court_reads_on,
    a_consent_code_works_once_and_cannot_be_guessed,
    bad_consent_input_is_refused_with_a_clear_problem,
    a_document_without_consent_reaches_nobody_it_needs_consent_for,
    a_held_case_is_not_erased_and_an_erased_case_is_unreadable,
    closed_cases_are_erased_once_their_retention_has_passed,
);

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
