//! Withdrawal: the family withdraws and only the court reads on, a code
//! that works once and cannot be guessed, bad consent input refused with
//! a clear problem.

use ponte::client::ClientError;
use ponte::consent::receipt::{ConsentReceipt, WithdrawalNotice};
use ponte::http::consent::{ChangedConsent, ConsentDetail};
use ponte::notices::{InboxNotice, InboxPage};
use serde_json::{json, Value};

use super::{assessed_case, broker_keys, detail, problem, ASSESSMENT};
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    the_family_withdraws_and_only_the_court_reads_on,
    a_consent_code_works_once_and_cannot_be_guessed,
    bad_consent_input_is_refused_with_a_clear_problem,
);

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
