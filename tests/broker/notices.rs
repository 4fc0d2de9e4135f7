//! Notices pushed to webhooks from the durable outbox, and agreed
//! corrections that reach every earlier recipient. Every test runs on
//! SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use ponte::client::ClientError;
use ponte::documents::receipt::jwks_keys;
use ponte::notices::{InboxPage, Notice, NoticeKind};
use serde_json::json;

use crate::common::{eventually, settings, Backend, TestApp};
use crate::on_both_databases;

fn problem(err: &ClientError) -> (Option<u16>, Option<&str>) {
    (err.status(), err.code())
}

/// A party's webhook endpoint: answers 500 to the first `failures` pushes,
/// then 200, and keeps what it was sent. `/slow` never answers in time.
#[derive(Clone, Default)]
struct Receiver {
    failures: Arc<AtomicUsize>,
    pushes: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start(failures: usize) -> (Receiver, String) {
        let receiver = Receiver {
            failures: Arc::new(AtomicUsize::new(failures)),
            ..Receiver::default()
        };
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
            let id = headers
                .get("ponte-notice-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            r.pushes.lock().unwrap().push((id, body));
            let left = r.failures.load(Ordering::SeqCst);
            if left > 0 {
                r.failures.store(left - 1, Ordering::SeqCst);
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            StatusCode::NO_CONTENT
        }
        async fn slow() -> StatusCode {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        }
        let router = Router::new()
            .route("/hook", post(hook))
            .route("/slow", post(slow))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, url)
    }

    /// The distinct notice ids received, and how many pushes in all.
    fn received(&self) -> (HashSet<String>, usize) {
        let pushes = self.pushes.lock().unwrap();
        (
            pushes.iter().map(|(id, _)| id.clone()).collect(),
            pushes.len(),
        )
    }
}

async fn spawn_fast_outbox(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), backend).await;
    settings.notices.delivery_interval_ms = 100;
    settings.notices.retry_base_ms = 200;
    settings.notices.retry_max_ms = 1_000;
    settings.notices.webhook_timeout_secs = 1;
    TestApp::spawn_with(dir, settings).await
}

async fn delivered(app: &TestApp, party: &str) -> Vec<Option<String>> {
    let page: InboxPage = app.client(party).get("/v1/notices").await.unwrap();
    page.notices.into_iter().map(|n| n.delivered_at).collect()
}

async fn notices_are_pushed_signed_retried_and_never_lost(backend: Backend) {
    let app = spawn_fast_outbox(backend).await;
    let (receiver, url) = Receiver::start(2).await;
    let err = app
        .client("comune-torino")
        .put_json::<serde_json::Value>(
            "/v1/me/webhook",
            &json!({ "url": "http://intake.example.org/hook" }),
        )
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(422), Some("invalid_webhook_url")));
    let _: serde_json::Value = app
        .client("comune-torino")
        .put_json("/v1/me/webhook", &json!({ "url": format!("{url}/hook") }))
        .await
        .unwrap();
    let _: serde_json::Value = app
        .client("iom-rome")
        .put_json("/v1/me/webhook", &json!({ "url": format!("{url}/slow") }))
        .await
        .unwrap();

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

    // Two 500s, then delivered; the slow endpoint of another party holds nothing up.
    eventually(
        "the state change reaches the municipality's webhook",
        || async {
            delivered(&app, "comune-torino")
                .await
                .iter()
                .all(Option::is_some)
        },
    )
    .await;
    let (ids, pushes) = receiver.received();
    assert_eq!(
        ids.len(),
        1,
        "one notice, recognised by its id however often it came"
    );
    assert_eq!(pushes, 3, "two failed pushes and one that was taken");
    let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    let body = receiver.pushes.lock().unwrap()[2].1.clone();
    let notice =
        Notice::verify(&body, &jwks_keys(&jwks)).expect("pushed notices are broker-signed");
    assert_eq!(notice.kind, NoticeKind::StateChange);
    assert_eq!(notice.field("to"), Some("entrusted"));
    assert!(ids.contains(&notice.notice));
    assert_eq!(
        delivered(&app, "iom-rome").await,
        [None],
        "the slow endpoint has not taken it"
    );
    let failed: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'NoticeDeliveryFailed'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(failed >= 3, "every failed push is evidence ({failed})");

    // The endpoint goes down, the broker restarts, the notice still arrives.
    receiver.failures.store(usize::MAX, Ordering::SeqCst);
    app.submit_new(
        "iom-rome",
        &case,
        "assignment",
        "family_tracing",
        b"assignment",
    )
    .await;
    app.transition("iom-rome", &case, "tracing").await.unwrap();
    eventually("a push of the second notice fails", || async {
        receiver.received().0.len() == 2
    })
    .await;
    let app = app.restart().await;
    receiver.failures.store(0, Ordering::SeqCst);
    eventually("the second notice arrives after the restart", || async {
        delivered(&app, "comune-torino")
            .await
            .iter()
            .all(Option::is_some)
    })
    .await;
    let taken: i64 =
        sqlx::query_scalar("select count(*) from audit_event where action = 'NoticeDelivered'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(taken, 2, "each delivery is evidence, once");
}

async fn a_correction_carries_the_persons_agreement_and_reaches_earlier_recipients(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission_without_consent().await;
    app.add_subject(&case, "subj-child-1", "child").await;
    let consent = app
        .record_consent(
            &case,
            "subj-child-1",
            &crate::common::ALL_CONSENT_PURPOSES,
            &crate::common::ALL_ROLES,
        )
        .await;
    let code = consent.code.clone().unwrap();
    let consent_id = consent.consent.id.to_string();
    let report = app
        .submit_new(
            "comune-torino",
            &case,
            "social_report",
            "best_interest_assessment",
            b"report, with a wrong date",
        )
        .await;
    let corrected = report.document.id.clone();
    let documents = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from document")
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let before = documents().await;

    let correction = |supersedes: Option<&str>| {
        let (app, case) = (&app, case.clone());
        let supersedes = supersedes.map(str::to_owned);
        async move {
            let text: &[u8] = b"report, date corrected";
            match supersedes {
                Some(old) => {
                    app.prepare_correction("comune-torino", &case, &old, text)
                        .await
                }
                None => {
                    app.prepare(
                        "comune-torino",
                        &case,
                        "correction",
                        "best_interest_assessment",
                        text,
                    )
                    .await
                }
            }
        }
    };
    let send = |prepared: ponte::documents::party::Prepared, agreement: Option<String>| {
        let client = app.client("comune-torino");
        let case = case.clone();
        async move {
            client
                .submit_with_agreement(
                    &case,
                    &prepared.manifest_token,
                    prepared.envelope,
                    agreement.as_deref(),
                )
                .await
        }
    };

    let err = send(
        correction(None).await,
        Some("through=mission; subject=subj-child-1".into()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(422), Some("correction_supersedes_nothing"))
    );
    let err = send(correction(Some(corrected.as_str())).await, None)
        .await
        .unwrap_err();
    assert_eq!(problem(&err), (Some(422), Some("agreement_missing")));
    let err = send(
        correction(Some(corrected.as_str())).await,
        Some("through=mission; subject=subj-child-1".into()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        problem(&err),
        (Some(403), Some("agreement_refused")),
        "only a mission attests through the mission"
    );
    let err = send(
        correction(Some(corrected.as_str())).await,
        Some(format!(
            "through=consent_code; subject=subj-child-1; consent={consent_id}; code=AAAA-BBBB"
        )),
    )
    .await
    .unwrap_err();
    assert_eq!(problem(&err), (Some(403), Some("consent_code_invalid")));
    let err = send(
        correction(Some(corrected.as_str())).await,
        Some(format!(
            "through=consent_code; subject=subj-other; consent={consent_id}; code={code}"
        )),
    )
    .await
    .unwrap_err();
    assert_eq!(problem(&err), (Some(422), Some("invalid_agreement")));
    assert_eq!(
        documents().await,
        before,
        "nothing of a refused correction is stored"
    );

    let (status, answer) = send(
        correction(Some(corrected.as_str())).await,
        Some(format!(
            "through=consent_code; subject=subj-child-1; consent={consent_id}; code={code}"
        )),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    assert_eq!(answer.document.supersedes.as_ref(), Some(&corrected));
    let listed: Vec<ponte::documents::store::DocumentView> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    let old = listed.iter().find(|d| d.id == corrected).unwrap();
    assert!(!old.current, "the corrected document is superseded");
    let through: String =
        sqlx::query_scalar("select given_through from correction_agreement where document_id = $1")
            .bind(answer.document.id.as_str())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(through, "consent_code");

    for party in ["ministry-labour", "iom-rome", "iom-tirana"] {
        let page: InboxPage = app
            .client(party)
            .get(&format!(
                "/v1/notices?kind={}",
                NoticeKind::Correction.as_str()
            ))
            .await
            .unwrap();
        assert_eq!(
            page.notices.len(),
            1,
            "{party} received the report and is told of its correction"
        );
        let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
        let notice = Notice::verify(&page.notices[0].notice, &jwks_keys(&jwks)).unwrap();
        assert_eq!(notice.field("corrected"), Some(corrected.as_str()));
        assert_eq!(notice.field("document"), Some(answer.document.id.as_str()));
        assert_eq!(notice.field("agreement"), Some("consent_code"));
    }
    let own: InboxPage = app
        .client("comune-torino")
        .get("/v1/notices?kind=correction")
        .await
        .unwrap();
    assert!(
        own.notices.is_empty(),
        "the author is not told of its own correction"
    );

    // The mission attests an agreement given through it.
    let prepared = app
        .prepare_correction(
            "iom-tirana",
            &case,
            answer.document.id.as_str(),
            b"agreed with the family in Tirana",
        )
        .await;
    let (status, _) = app
        .client("iom-tirana")
        .submit_with_agreement(
            &case,
            &prepared.manifest_token,
            prepared.envelope,
            Some("through=mission; subject=subj-child-1"),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
}

on_both_databases!(
    notices_are_pushed_signed_retried_and_never_lost,
    a_correction_carries_the_persons_agreement_and_reaches_earlier_recipients,
);
