//! The family-tracing process end to end: the case workflow, the notices it
//! sends, the inbox pages, and the demo. Every test runs on SQLite and
//! PostgreSQL.

use ponte::client::ClientError;
use ponte::documents::receipt::jwks_keys;
use ponte::http::cases::Workflow;
use ponte::notices::{InboxPage, Notice, NoticeKind};

use crate::common::{Backend, TestApp};
use crate::on_both_databases;

fn problem(err: &ClientError) -> (Option<u16>, Option<&str>) {
    (err.status(), err.code())
}

fn allowed(err: &ClientError) -> serde_json::Value {
    match err {
        ClientError::Problem { body, .. } => body["allowed"].clone(),
        other => panic!("not a problem: {other}"),
    }
}

async fn inbox(app: &TestApp, party: &str, kind: NoticeKind) -> Vec<Notice> {
    let page: InboxPage = app
        .client(party)
        .get(&format!("/v1/notices?kind={}&limit=200", kind.as_str()))
        .await
        .unwrap();
    let jwks: serde_json::Value = app
        .client(party)
        .get("/.well-known/jwks.json")
        .await
        .unwrap();
    page.notices
        .iter()
        .map(|n| Notice::verify(&n.notice, &jwks_keys(&jwks)).expect("broker-signed"))
        .collect()
}

async fn a_case_moves_step_by_step_by_the_role_each_step_belongs_to(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;

    let err = app
        .transition("ministry-labour", &case, "entrusted")
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(409), Some("transition_needs_document"))
    );
    app.submit_new(
        "comune-torino",
        &case,
        "tracing_request",
        "family_tracing",
        b"request",
    )
    .await;
    let err = app
        .transition("comune-torino", &case, "entrusted")
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("forbidden")),
        "the municipality does not entrust"
    );
    let step = app
        .transition("ministry-labour", &case, "entrusted")
        .await
        .unwrap();
    assert_eq!(
        (step.from.as_str(), step.to.as_str()),
        ("requested", "entrusted")
    );
    assert_eq!(step.actor.as_str(), "ministry-labour");
    assert!(
        step.document.is_some(),
        "the step names the tracing request it rests on"
    );

    let err = app
        .transition("ministry-labour", &case, "closed")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(409), Some("invalid_transition")));
    assert_eq!(allowed(&err), serde_json::json!(["tracing"]));
    let err = app
        .transition("iom-dakar", &case, "tracing")
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(403),
        "a party not on the case learns nothing of its state"
    );
    let err = app
        .transition("iom-dakar", &case, "closed")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    app.submit_new(
        "iom-rome",
        &case,
        "assignment",
        "family_tracing",
        b"assignment",
    )
    .await;
    app.transition("iom-rome", &case, "tracing").await.unwrap();
    app.submit_new(
        "iom-tirana",
        &case,
        "family_assessment",
        "best_interest_assessment",
        b"assessment",
    )
    .await;
    app.transition("iom-tirana", &case, "assessed")
        .await
        .unwrap();
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    app.transition("ministry-labour", &case, "under_judicial_review")
        .await
        .unwrap();
    let err = app
        .transition("tm-roma", &case, "decided_return")
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(409), Some("transition_needs_document"))
    );
    app.submit_new(
        "tm-roma",
        &case,
        "court_decision",
        "judicial_decision",
        b"decision: return",
    )
    .await;
    let err = app
        .transition("ministry-labour", &case, "decided_return")
        .await
        .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("forbidden")),
        "only the court decides"
    );
    app.transition("tm-roma", &case, "decided_return")
        .await
        .unwrap();
    let notice = app
        .submit_new(
            "ministry-labour",
            &case,
            "return_notice",
            "return_and_reintegration",
            b"return notice",
        )
        .await;
    app.transition("ministry-labour", &case, "return_scheduled")
        .await
        .unwrap();

    let returns = inbox(&app, "comune-torino", NoticeKind::ReturnNotice).await;
    assert_eq!(returns.len(), 1, "the municipality gets the return notice");
    assert_eq!(
        returns[0].field("document"),
        Some(notice.document.id.as_str())
    );
    assert_eq!(returns[0].field("to"), Some("return_scheduled"));
    let moves = inbox(&app, "iom-rome", NoticeKind::StateChange).await;
    let seen: Vec<&str> = moves.iter().filter_map(|n| n.field("to")).collect();
    for to in [
        "entrusted",
        "assessed",
        "under_judicial_review",
        "decided_return",
        "return_scheduled",
    ] {
        assert!(seen.contains(&to), "iom-rome is told of {to}: {seen:?}");
    }
    assert!(!seen.contains(&"tracing"), "nobody is told of its own step");

    app.transition("iom-tirana", &case, "returned")
        .await
        .unwrap();
    app.submit_new(
        "iom-tirana",
        &case,
        "reintegration_plan",
        "return_and_reintegration",
        b"plan",
    )
    .await;
    app.transition("iom-tirana", &case, "reintegration")
        .await
        .unwrap();
    app.transition("ministry-labour", &case, "closed")
        .await
        .unwrap();
    let err = app
        .transition("ministry-labour", &case, "requested")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(409), Some("invalid_transition")));
    assert_eq!(allowed(&err), serde_json::json!([]));

    let workflow: Workflow = app
        .client("comune-torino")
        .get(&format!("/v1/cases/{case}/transitions"))
        .await
        .unwrap();
    let path: Vec<&str> = workflow.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        path,
        [
            "entrusted",
            "tracing",
            "assessed",
            "under_judicial_review",
            "decided_return",
            "return_scheduled",
            "returned",
            "reintegration",
            "closed"
        ]
    );
    assert_eq!(workflow.state.as_str(), "closed");
    let evidence: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'CaseTransition' and resource = $1",
    )
    .bind(format!("case:{case}"))
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(evidence, 9, "every step is evidence");
}

async fn the_inbox_pages_newest_first_without_gaps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    app.submit_new(
        "comune-torino",
        &case,
        "tracing_request",
        "family_tracing",
        b"request",
    )
    .await;
    app.transition("ministry-labour", &case, "entrusted")
        .await
        .unwrap();
    app.submit_new(
        "iom-rome",
        &case,
        "assignment",
        "family_tracing",
        b"assignment",
    )
    .await;
    app.transition("iom-rome", &case, "tracing").await.unwrap();
    app.submit_new(
        "iom-tirana",
        &case,
        "family_assessment",
        "best_interest_assessment",
        b"a",
    )
    .await;
    app.transition("iom-tirana", &case, "assessed")
        .await
        .unwrap();

    let client = app.client("comune-torino");
    let all: InboxPage = client.get("/v1/notices?limit=200").await.unwrap();
    assert_eq!(all.notices.len(), 3);
    assert!(all.next.is_none());
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/notices?limit=2&cursor={c}"),
            None => "/v1/notices?limit=2".to_owned(),
        };
        let page: InboxPage = client.get(&path).await.unwrap();
        assert!(page.notices.len() <= 2);
        paged.extend(page.notices);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ids =
        |v: &[ponte::notices::InboxNotice]| v.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&all.notices));
    assert!(
        all.notices
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );

    let err = client
        .get::<InboxPage>("/v1/notices?cursor=bm9wZQ")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(400), Some("invalid_cursor")));
    let err = client
        .get::<InboxPage>("/v1/notices?limit=0")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(422), Some("invalid_limit")));
    let err = client
        .get::<InboxPage>("/v1/notices?kind=gossip")
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(422), Some("unknown_notice_kind")));

    let first = &all.notices[0].id;
    let acked: ponte::notices::InboxNotice = client
        .post(&format!("/v1/notices/{first}/ack"), &serde_json::json!({}))
        .await
        .unwrap();
    assert!(acked.acknowledged_at.is_some() && acked.read_at.is_some());
    let again: ponte::notices::InboxNotice = client
        .post(&format!("/v1/notices/{first}/ack"), &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(
        again.acknowledged_at, acked.acknowledged_at,
        "acknowledging twice changes nothing"
    );
    let evidence: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'NoticeAcknowledged' and resource = $1",
    )
    .bind(format!("notice:{first}"))
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(evidence, 1, "the acknowledgement is evidence, once");
}

async fn the_demo_runs_a_whole_case_and_checks_every_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    ponte::demo::run(&app.settings, Some(&app.url()))
        .await
        .expect("every step of the demo behaves as described");
}

on_both_databases!(
    a_case_moves_step_by_step_by_the_role_each_step_belongs_to,
    the_inbox_pages_newest_first_without_gaps,
    the_demo_runs_a_whole_case_and_checks_every_step,
);
