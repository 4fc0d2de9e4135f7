//! Who read what about a person, with purpose, basis and outcome; every
//! refused request on record once, with its code; unidentified callers
//! past their allowance answered 429 and counted.

use ponte::audit::{self as audit_mod, AuditEvent};

use super::{cli, output, text, verify_log};
use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    who_read_my_data_lists_every_access_with_purpose_basis_and_outcome,
    every_refused_request_is_on_record_once_with_its_code,
    unidentified_callers_past_their_allowance_get_429_and_are_counted,
);

async fn who_read_my_data_lists_every_access_with_purpose_basis_and_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission_without_consent().await;
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    app.attach(&case, "guardian-torino-1", "ministry-labour")
        .await
        .unwrap();
    app.add_subject(&case, "subj-child-1", "child").await;
    let consent = app
        .record_consent(
            &case,
            "subj-child-1",
            &["best_interest_assessment"],
            &["role:municipality", "role:court", "role:ministry"],
        )
        .await;
    let doc = app
        .submit_new(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"assessment",
        )
        .await
        .document
        .id
        .to_string();
    app.open("comune-torino", &doc, "best_interest_assessment")
        .await
        .unwrap();
    let _: serde_json::Value = app
        .anonymous()
        .post(
            &format!("/v1/consents/{}/withdraw", consent.consent.id),
            &serde_json::json!({ "code": consent.code.unwrap() }),
        )
        .await
        .unwrap();
    let err = app
        .client("comune-torino")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("consent_withdrawn"));
    app.open("tm-roma", &doc, "judicial_decision")
        .await
        .unwrap();

    let report: ponte::audit::access::AccessReport = app
        .client("guardian-torino-1")
        .get(&format!("/v1/cases/{case}/subjects/subj-child-1/accesses"))
        .await
        .unwrap();
    let reads: Vec<(&str, &str, Option<&str>, &str)> = report
        .accesses
        .iter()
        .filter(|a| a.action == "ReadDocument" && a.document.as_str() == doc)
        .map(|a| {
            (
                a.who.as_str(),
                a.decision.as_str(),
                a.basis.as_deref(),
                a.purpose.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        reads,
        [
            (
                "party:comune-torino",
                "allow",
                Some("consent"),
                "best_interest_assessment"
            ),
            (
                "party:comune-torino",
                "deny",
                Some("consent"),
                "best_interest_assessment"
            ),
            (
                "party:tm-roma",
                "allow",
                Some("legal_obligation"),
                "judicial_decision"
            ),
        ]
    );
    assert!(
        report.accesses.iter().all(|a| a.leaf_index.is_some()),
        "each access is a leaf"
    );
    let err = app
        .client("comune-torino")
        .get::<ponte::audit::access::AccessReport>(&format!(
            "/v1/cases/{case}/subjects/subj-child-1/accesses"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    let out = output(cli(&app).args([
        "audit",
        "subject",
        "--as",
        "ministry-labour",
        "--case",
        &case,
        "subj-child-1",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("was REFUSED reading"), "{}", text(&out));
    assert!(text(&out).contains("[legal_obligation]"), "{}", text(&out));
}

/// Every refused request is on record exactly once, whoever refused it: the
/// policy (its decision), authentication, or the broker for what was asked
/// (`RequestRefused`, naming the route's action and the answer's code).
async fn every_refused_request_is_on_record_once_with_its_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let (municipality, ministry, stranger) = (
        app.client("comune-torino"),
        app.client("ministry-labour"),
        app.client("iom-dakar"),
    );
    let json = |client: &ponte::client::Client, method: reqwest::Method, path: &str, body: &str| {
        client
            .http()
            .request(method, client.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let cases = [
        (
            json(&municipality, reqwest::Method::POST, "/v1/cases", "{"),
            (
                "RequestRefused",
                "party:comune-torino",
                "broker",
                "invalid_json",
            ),
        ),
        (
            json(
                &municipality,
                reqwest::Method::POST,
                "/v1/cases",
                r#"{"country": 42}"#,
            ),
            (
                "RequestRefused",
                "party:comune-torino",
                "broker",
                "invalid_body",
            ),
        ),
        (
            json(
                &municipality,
                reqwest::Method::POST,
                "/v1/cases",
                &format!(r#"{{"country": "{}"}}"#, "A".repeat(3 << 20)),
            ),
            (
                "RequestRefused",
                "party:comune-torino",
                "broker",
                "payload_too_large",
            ),
        ),
        (
            json(
                &stranger,
                reqwest::Method::GET,
                "/v1/notices/no-such-notice",
                "",
            ),
            (
                "RequestRefused",
                "party:iom-dakar",
                "notice:no-such-notice",
                "notice_not_found",
            ),
        ),
        (
            json(
                &stranger,
                reqwest::Method::GET,
                "/v1/notices/Mario%20Rossi",
                "",
            ),
            (
                "RequestRefused",
                "party:iom-dakar",
                "notice:(malformed id)",
                "notice_not_found",
            ),
        ),
        (
            json(
                &ministry,
                reqwest::Method::POST,
                &format!("/v1/cases/{case}/transitions"),
                r#"{"to": "closed"}"#,
            ),
            (
                "RequestRefused",
                "party:ministry-labour",
                &*format!("case:{case}"),
                "invalid_transition",
            ),
        ),
        (
            // The policy refuses: its decision is the record.
            json(
                &stranger,
                reqwest::Method::GET,
                &format!("/v1/cases/{case}"),
                "",
            ),
            ("ReadCase", "party:iom-dakar", &*format!("case:{case}"), ""),
        ),
        (
            // Authentication refuses: its refusal is the record.
            json(&app.anonymous(), reqwest::Method::GET, "/v1/me", ""),
            ("ReadMe", "anonymous", "broker", ""),
        ),
    ];
    let mut answered = Vec::new();
    for (request, expected) in cases {
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_client_error(),
            "{expected:?}: {}",
            response.status()
        );
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        answered.push((id, expected));
    }
    let events = audit_mod::recent(&app.db, 500).await.unwrap();
    for (id, (action, principal, resource, code)) in answered {
        let on_record: Vec<&AuditEvent> = events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| {
                e.request_id.as_deref() == Some(&id) && e.outcome == audit_mod::Outcome::Deny
            })
            .collect();
        assert_eq!(on_record.len(), 1, "{action} {resource}: {on_record:?}");
        let event = on_record[0];
        assert_eq!(
            (
                event.action.as_str(),
                event.principal.as_str(),
                event.resource.as_str()
            ),
            (action, principal, resource)
        );
        if action == "RequestRefused" {
            assert_eq!(event.detail["code"], code, "{event:?}");
        }
    }
    let verified = verify_log(&app).await;
    assert!(
        verified.ok(),
        "the refusals are leaves like any event: {:?}",
        verified.problems()
    );
}

/// Anyone who reaches the port can be refused, and each refusal is a
/// durable record. Past an allowance per address and window, callers nobody
/// identified are answered 429 with `Retry-After`, and one event counts
/// them when the window ends; a registered party's refusals are all
/// recorded one by one.
async fn unidentified_callers_past_their_allowance_get_429_and_are_counted(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    settings.server.unidentified_refusals_per_window = 3;
    settings.server.refusal_window_secs = 2;
    let app = TestApp::spawn_with(dir, settings).await;
    let case = app.open_case("AL").await;
    let anonymous = app.anonymous();
    let ask = || async {
        anonymous
            .http()
            .get(anonymous.url("/v1/cases"))
            .send()
            .await
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = ask().await;
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 429 {
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&wait), "{wait}");
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "too_many_refusals");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
    // A registered party is identified and accountable: never throttled.
    let stranger = app.client("iom-dakar");
    for _ in 0..5 {
        let refused = stranger
            .get::<serde_json::Value>(&format!("/v1/cases/{case}"))
            .await
            .unwrap_err();
        assert_ne!(refused.status(), Some(429));
    }
    // When the window ends, one event counts the five answered 429.
    let mut summary = None;
    for _ in 0..100 {
        let events = audit_mod::recent(&app.db, 500).await.unwrap();
        if let Some((_, event)) = events.iter().find(|(_, e)| e.action == "RefusalsThrottled") {
            summary = Some((event.clone(), events));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (summary, events) = summary.expect("the throttled refusals are counted on record");
    assert_eq!(summary.principal, "anonymous");
    assert_eq!(summary.outcome, audit_mod::Outcome::Deny);
    assert_eq!(summary.detail["refused"], 5);
    assert_eq!(summary.detail["window_secs"], 2);
    let one_by_one = |principal: &str| {
        events
            .iter()
            .filter(|(_, e)| {
                e.principal == principal
                    && e.outcome == audit_mod::Outcome::Deny
                    && e.action != "RefusalsThrottled"
            })
            .count()
    };
    assert_eq!(one_by_one("anonymous"), 3);
    assert_eq!(one_by_one("party:iom-dakar"), 5);
    // A new window, a new allowance.
    assert_eq!(ask().await.status(), 401);
}
