//! The tamper-evident log: every event a leaf, signed checkpoints, proofs
//! that verify, tampering reported by index, replicas appending to one
//! database, witnesses that notice a rewritten history, and who read what
//! about a person. Every test runs on SQLite and PostgreSQL.

use std::process::Output;

use ponte::audit::checkpoint::Checkpoint;
use ponte::audit::merkle;
use ponte::audit::verify::{self, Verification};
use ponte::audit::{self as audit_mod, AuditEvent};
use ponte::documents::receipt::jwks_keys;
use ponte::http::audit::{ConsistencyProof, DocumentEvidence, InclusionProof};
use ponte::storage::Engine;
use tokio::process::Command;

use crate::common::{self, Backend, TestApp};
use crate::on_both_databases;

const ORIGIN: &str = "ponte.local/audit";

async fn broker_key(app: &TestApp) -> Vec<u8> {
    let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    jwks_keys(&jwks)[0].public_bytes().unwrap()
}

async fn checkpoint(app: &TestApp, party: &str) -> (String, Checkpoint) {
    let client = app.client(party);
    let note = client
        .http()
        .post(client.url("/v1/audit/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed =
        Checkpoint::verify(&note, ORIGIN, &broker_key(app).await).expect("signed by the broker");
    (note, signed)
}

async fn verify_log(app: &TestApp) -> Verification {
    verify::verify(&app.db, ORIGIN, &[broker_key(app).await])
        .await
        .unwrap()
}

/// A case with a submitted, read and shared assessment.
async fn busy_case(app: &TestApp) -> (String, ponte::http::documents::SubmitAnswer) {
    let case = app.case_with_mission().await;
    let answer = app
        .submit_new(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"the Vlore grandparents",
        )
        .await;
    app.open(
        "ministry-labour",
        answer.document.id.as_str(),
        "case_oversight",
    )
    .await
    .unwrap();
    (case, answer)
}

fn cli(app: &TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ponte"));
    command
        .arg("--data-dir")
        .arg(app.data_dir())
        .env(
            "PONTE__POLICY__DIR",
            common::manifest_dir().join("policies"),
        )
        .env("PONTE_BROKER", app.url())
        .kill_on_drop(true);
    match &app.settings.database.url {
        Some(url) => command.env("PONTE__DATABASE__URL", url),
        None => command.env_remove("PONTE__DATABASE__URL"),
    };
    command
}

async fn output(command: &mut Command) -> Output {
    command.output().await.unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn every_event_is_a_leaf_with_proofs_that_verify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, answer) = busy_case(&app).await;
    let (_, first) = checkpoint(&app, "iom-dakar").await;
    let _ = &case;
    assert!(
        first.size >= 10,
        "every decision and change is a leaf ({})",
        first.size
    );
    let events: i64 = sqlx::query_scalar("select count(*) from audit_event")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(first.size as i64, events, "nothing is left out");

    let client = app.client("iom-dakar");
    for index in [0, first.size / 2, first.size - 1] {
        let proof: InclusionProof = client
            .get(&format!(
                "/v1/audit/inclusion?index={index}&size={}",
                first.size
            ))
            .await
            .unwrap();
        let leaf: String =
            sqlx::query_scalar("select leaf_hash from audit_leaf where leaf_index = $1")
                .bind(index as i64)
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        let path: Vec<merkle::Hash> = proof
            .proof
            .iter()
            .map(|h| merkle::parse_hex(h).unwrap())
            .collect();
        assert!(merkle::verify_inclusion(
            &merkle::parse_hex(&leaf).unwrap(),
            index,
            first.size,
            &path,
            &first.root
        ));
    }

    app.submit_new(
        "comune-torino",
        &case,
        "social_report",
        "best_interest_assessment",
        b"report",
    )
    .await;
    let (_, second) = checkpoint(&app, "tm-roma").await;
    assert!(second.size > first.size);
    let proof: ConsistencyProof = client
        .get(&format!(
            "/v1/audit/consistency?from={}&to={}",
            first.size, second.size
        ))
        .await
        .unwrap();
    let path: Vec<merkle::Hash> = proof
        .proof
        .iter()
        .map(|h| merkle::parse_hex(h).unwrap())
        .collect();
    assert!(merkle::verify_consistency(
        first.size,
        second.size,
        &path,
        &first.root,
        &second.root
    ));
    let err = client
        .get::<ConsistencyProof>(&format!(
            "/v1/audit/consistency?from=1&to={}",
            second.size + 100
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_tree_size"))
    );

    // The author's receipt leads to its leaf; a stranger may not see it.
    let evidence: DocumentEvidence = app
        .client("iom-tirana")
        .get(&format!("/v1/documents/{}/evidence", answer.document.id))
        .await
        .unwrap();
    let accepted = evidence
        .events
        .iter()
        .find(|e| e.action == "DocumentAccepted")
        .unwrap();
    assert!(
        accepted.leaf.contains(&answer.document.envelope_sha256),
        "the leaf states the hash"
    );
    assert!(
        !accepted.leaf.contains("Vlore grandparents"),
        "no content in the leaf"
    );
    let err = app
        .client("iom-dakar")
        .get::<DocumentEvidence>(&format!("/v1/documents/{}/evidence", answer.document.id))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    let receipt = app.data_dir().join("assessment.receipt.jws");
    std::fs::write(&receipt, &answer.receipt).unwrap();
    let out = output(
        cli(&app)
            .args(["audit", "proof", "--as", "iom-tirana"])
            .arg(&receipt),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("included in the signed checkpoint"),
        "{}",
        text(&out)
    );

    let report = verify_log(&app).await;
    assert!(report.ok(), "{:?}", report.problems());
    let out = output(cli(&app).args(["audit", "verify"])).await;
    assert!(out.status.success(), "{}", text(&out));
}

#[derive(Debug, Clone, Copy)]
enum Tamper {
    Modify,
    Remove,
    Insert,
    Reorder,
}

async fn unprotect(app: &TestApp, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &[
            "drop trigger audit_event_no_update",
            "drop trigger audit_event_no_delete",
            "drop trigger audit_event_pending",
            "drop trigger audit_leaf_no_update",
            "drop trigger audit_leaf_no_delete",
        ],
        Backend::Postgres => &[
            "alter table audit_event disable trigger user",
            "alter table audit_leaf disable trigger user",
        ],
    };
    for sql in statements {
        sqlx::query(sql).execute(app.db.pool()).await.unwrap();
    }
}

async fn tamper(app: &TestApp, backend: Backend, how: Tamper) -> Verification {
    busy_case(app).await;
    checkpoint(app, "ministry-labour").await;
    assert!(verify_log(app).await.ok(), "the untouched log verifies");
    unprotect(app, backend).await;
    let seq_of = |index: i64| async move {
        sqlx::query_scalar::<_, i64>("select event_seq from audit_leaf where leaf_index = $1")
            .bind(index)
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let three = seq_of(3).await;
    let statements: Vec<String> = match how {
        Tamper::Modify => vec![format!("update audit_event set detail = '{{\"forged\":true}}' where seq = {three}")],
        Tamper::Remove => vec![
            "delete from audit_leaf where leaf_index = 3".into(),
            format!("delete from audit_event where seq = {three}"),
        ],
        Tamper::Insert => vec![
            "insert into audit_event (at, principal, action, resource, decision, policy_ids, policy_set, detail)
             values ('2026-01-01T00:00:00.000Z', 'party:tm-roma', 'ReadDocument', 'broker', 'allow', '[]', '', '{}')"
                .into(),
        ],
        Tamper::Reorder => vec![
            "update audit_leaf set leaf_index = -1 where leaf_index = 3".into(),
            "update audit_leaf set leaf_index = 3 where leaf_index = 4".into(),
            "update audit_leaf set leaf_index = 4 where leaf_index = -1".into(),
        ],
    };
    for sql in statements {
        sqlx::query(&sql).execute(app.db.pool()).await.unwrap();
    }
    verify_log(app).await
}

async fn tampering_with_the_stored_log_is_reported_by_index(backend: Backend) {
    for (how, expected) in [
        (Tamper::Modify, "leaf 3 (event seq"),
        (Tamper::Remove, "leaf 3 was removed"),
        (Tamper::Insert, "inserted behind the log's back"),
        (Tamper::Reorder, "reordered"),
    ] {
        let app = TestApp::spawn(backend).await;
        let report = tamper(&app, backend, how).await;
        assert!(!report.ok(), "{how:?} went unnoticed");
        let problems = report.problems();
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{how:?}: expected {expected:?} in {problems:?}"
        );
        if !matches!(how, Tamper::Insert) {
            assert!(
                problems.iter().any(|p| p.contains("checkpoint at size")),
                "{how:?}: the signed checkpoint no longer matches: {problems:?}"
            );
        }
        let out = output(cli(&app).args(["audit", "verify"])).await;
        assert!(
            !out.status.success(),
            "ponte audit verify must fail on {how:?}"
        );
        assert!(text(&out).contains(expected), "{}", text(&out));
    }
}

async fn a_witness_notices_a_rewritten_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    busy_case(&app).await;
    let state = app.data_dir().join("witness.checkpoint");
    let witness = |app: &TestApp| {
        let mut command = cli(app);
        command
            .args(["audit", "witness", "--as", "ministry-labour", "--state"])
            .arg(&state);
        command
    };
    let out = output(&mut witness(&app)).await;
    assert!(
        out.status.success() && text(&out).contains("first checkpoint kept"),
        "{}",
        text(&out)
    );
    app.submit_new(
        "comune-torino",
        &app.case_with_mission().await,
        "tracing_request",
        "family_tracing",
        b"r",
    )
    .await;
    let out = output(&mut witness(&app)).await;
    assert!(
        out.status.success() && text(&out).contains("consistent"),
        "{}",
        text(&out)
    );

    // An operator with the broker's key rewrites leaf 2 and its subtrees and
    // signs a new checkpoint over the rewritten tree.
    unprotect(&app, backend).await;
    match backend {
        Backend::Sqlite => {
            for t in ["audit_node_no_update", "audit_node_no_delete"] {
                sqlx::query(&format!("drop trigger {t}"))
                    .execute(app.db.pool())
                    .await
                    .unwrap();
            }
        }
        Backend::Postgres => {
            sqlx::query("alter table audit_node disable trigger user")
                .execute(app.db.pool())
                .await
                .unwrap();
        }
    }
    let forged = merkle::hex(&merkle::leaf_hash(b"a different history"));
    sqlx::query("update audit_leaf set leaf_hash = $1 where leaf_index = 2")
        .bind(&forged)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query("delete from audit_node")
        .execute(app.db.pool())
        .await
        .unwrap();
    let leaves: Vec<String> =
        sqlx::query_scalar("select leaf_hash from audit_leaf order by leaf_index")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let mut tree = merkle::MemoryTree::new();
    for (index, leaf) in leaves.iter().enumerate() {
        let hashes: Vec<merkle::Hash> = vec![merkle::parse_hex(leaf).unwrap()];
        for (level, at, hash) in merkle::completed_nodes(&tree, index as u64, &hashes).unwrap() {
            sqlx::query("insert into audit_node (id, hash) values ($1, $2)")
                .bind(((u64::from(level) << 48) | at) as i64)
                .bind(merkle::hex(&hash))
                .execute(app.db.pool())
                .await
                .unwrap();
        }
        tree.push(hashes[0]);
    }
    app.submit_new(
        "comune-torino",
        &app.case_with_mission().await,
        "tracing_request",
        "family_tracing",
        b"r",
    )
    .await;
    // The new head is computed over the rewritten nodes.
    let out = output(&mut witness(&app)).await;
    assert!(
        !out.status.success(),
        "the witness must refuse: {}",
        text(&out)
    );
    assert!(text(&out).contains("INCONSISTENT"), "{}", text(&out));
}

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

on_both_databases!(
    unidentified_callers_past_their_allowance_get_429_and_are_counted,
    every_event_is_a_leaf_with_proofs_that_verify,
    tampering_with_the_stored_log_is_reported_by_index,
    a_witness_notices_a_rewritten_history,
    who_read_my_data_lists_every_access_with_purpose_basis_and_outcome,
    every_refused_request_is_on_record_once_with_its_code,
    the_log_verifies_clean_while_the_broker_keeps_appending_and_checkpointing,
    a_submission_is_stored_while_the_log_cannot_be_integrated_and_its_leaf_comes_later,
    a_submissions_acceptance_becomes_a_leaf_without_anyone_asking,
    the_integrator_reads_its_queue_by_key_however_the_planner_leans,
);

/// The integrator fetches each queued event by its key. A plan that walks
/// the event table instead (PostgreSQL's merge join, chosen on a queue's
/// stale statistics) makes every integration slower as the log grows: 15 ms
/// at 10^5 events, 186 ms at 10^6. On PostgreSQL the planner is leaned
/// away from nested loops, the one plan that reads by key, and must still
/// read by key.
async fn the_integrator_reads_its_queue_by_key_however_the_planner_leans(backend: Backend) {
    use sqlx::Row;
    let app = TestApp::spawn(backend).await;
    let engine = app.db.engine();
    let statement = audit_mod::log::queue_statement(engine).replace("$1", "500");
    let mut tx = app.db.begin().await.unwrap();
    let plan: Vec<String> = match engine {
        Engine::Postgres => {
            sqlx::query("set local enable_nestloop = off")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(&format!("explain {statement}"))
                .fetch_all(&mut *tx)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect()
        }
        Engine::Sqlite => sqlx::query(&format!("explain query plan {statement}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect(),
    };
    tx.rollback().await.unwrap();
    let plan = plan.join("\n");
    match engine {
        Engine::Postgres => {
            assert!(
                plan.contains("Index Scan using audit_event_pkey on audit_event"),
                "{plan}"
            );
            assert!(!plan.contains("Seq Scan on audit_event"), "{plan}");
            assert!(!plan.contains("Merge Join"), "{plan}");
        }
        Engine::Sqlite => {
            assert!(
                plan.contains("SEARCH e USING INTEGER PRIMARY KEY"),
                "{plan}"
            );
            assert!(!plan.contains("SCAN e"), "{plan}");
        }
    }
}

/// The audit log failing to integrate does not fail a submission: the
/// document is stored with its evidence queued in the same commit, and the
/// evidence becomes a leaf once the log integrates again.
async fn a_submission_is_stored_while_the_log_cannot_be_integrated_and_its_leaf_comes_later(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    // A head whose root is not a hash stops every integrator (the
    // broker's own ticker too), and so keeps the head where it is.
    sqlx::query("update audit_head set root = 'x' || root where id = 1")
        .execute(app.db.pool())
        .await
        .unwrap();
    let answer = app
        .submit_new(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"the Vlore grandparents",
        )
        .await;
    assert!(answer.stored_now);
    assert_eq!(answer.leaf_index, None, "no leaf while the log is stuck");
    let opened = app
        .open(
            "ministry-labour",
            answer.document.id.as_str(),
            "case_oversight",
        )
        .await
        .unwrap();
    assert_eq!(opened.plaintext, b"the Vlore grandparents");
    let acceptance = format!("document:{}", answer.document.id);
    let queued: i64 = sqlx::query_scalar(
        "select count(*) from audit_pending p join audit_event e on e.seq = p.seq
         where e.action = 'DocumentAccepted' and e.resource = $1",
    )
    .bind(&acceptance)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(queued, 1, "the acceptance waits in the queue");

    sqlx::query("update audit_head set root = substr(root, 2) where id = 1")
        .execute(app.db.pool())
        .await
        .unwrap();
    ponte::audit::log::integrate_all(&app.db, "2026-11-23T00:00:00Z")
        .await
        .unwrap();
    let leaves: i64 = sqlx::query_scalar(
        "select count(*) from audit_leaf l join audit_event e on e.seq = l.event_seq
         where e.action = 'DocumentAccepted' and e.resource = $1",
    )
    .bind(&acceptance)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(leaves, 1, "the acceptance became a leaf");
    let verification = verify_log(&app).await;
    assert!(verification.ok(), "{:?}", verification.problems());
}

/// A new submission is answered before its acceptance is a leaf (the
/// receipt is the submitter's evidence at once); the broker's own
/// integrator makes it one within moments, with nobody asking for evidence
/// or a checkpoint, and a retry's answer then names the leaf.
async fn a_submissions_acceptance_becomes_a_leaf_without_anyone_asking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"the Vlore grandparents",
        )
        .await;
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    let acceptance = format!("document:{}", answer.document.id);
    let leaf = || async {
        sqlx::query_scalar::<_, i64>(
            "select l.leaf_index from audit_leaf l join audit_event e on e.seq = l.event_seq
             where e.action = 'DocumentAccepted' and e.resource = $1",
        )
        .bind(&acceptance)
        .fetch_optional(app.db.pool())
        .await
        .unwrap()
    };
    // The integrator runs every 200 ms; a loaded machine gets 30 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let index = loop {
        if let Some(index) = leaf().await {
            break index;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the acceptance never became a leaf"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (status, retried) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(retried.receipt, answer.receipt);
    assert_eq!(
        retried.leaf_index,
        Some(index as u64),
        "a retry names the leaf"
    );
    let verification = verify_log(&app).await;
    assert!(verification.ok(), "{:?}", verification.problems());
}

/// `ponte audit verify` runs against a live broker: events appended,
/// integrated and checkpointed while it reads must not look like a log
/// that was changed (it reads one snapshot of the database).
async fn the_log_verifies_clean_while_the_broker_keeps_appending_and_checkpointing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let key = ponte::jose::Jwk::parse(
        &std::fs::read_to_string(app.data_dir().join("broker/sign.jwk")).unwrap(),
    )
    .unwrap();
    let db = app.db.clone();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = written.clone();
    let (done, mut stop) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut n = 0;
        while stop.try_recv().is_err() {
            let at = "2026-11-23T00:00:00.000Z";
            let event = AuditEvent::operator("LiveTest", "operator:test", at)
                .detail(serde_json::json!({ "n": n }));
            audit_mod::append(db.pool(), &event).await.unwrap();
            audit_mod::log::integrate(&db, 64, at).await.unwrap();
            if n % 5 == 0 {
                ponte::audit::checkpoint::publish(&db, &key, ORIGIN, at)
                    .await
                    .unwrap();
            }
            n += 1;
            counter.store(n, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // Verify over and over until the log has grown by a good many events
    // while it was being verified.
    let mut rounds = 0;
    while rounds < 10 || written.load(std::sync::atomic::Ordering::Relaxed) < 30 {
        let verified = verify_log(&app).await;
        assert!(verified.ok(), "round {rounds}: {:?}", verified.problems());
        rounds += 1;
        assert!(rounds < 10_000, "the writer made no progress");
    }
    done.send(()).unwrap();
    writer.await.unwrap();
}

/// Two replicas on one PostgreSQL append and integrate at once: every event
/// gets exactly one leaf, the indexes have no gaps, and both replicas'
/// checkpoints belong to one history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_append_to_one_log_without_gaps_or_forks() {
    let app = TestApp::spawn(Backend::Postgres).await;
    ponte::http::tls::install_default_provider();
    let second = ponte::app::App::build(
        &app.settings,
        std::sync::Arc::new(ponte::clock::SystemClock),
    )
    .await
    .unwrap();
    let other = second.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(second.run(async {
        let _ = stopped.await;
    }));
    let mut writers = Vec::new();
    for (replica, db) in [(0, app.db.clone()), (1, other.db.clone())] {
        for writer in 0..4 {
            let db = db.clone();
            writers.push(tokio::spawn(async move {
                for n in 0..150 {
                    let event = AuditEvent::operator(
                        "ReplicaTest",
                        &format!("replica:{replica}"),
                        "2026-11-23T00:00:00.000Z",
                    )
                    .detail(serde_json::json!({ "writer": writer, "n": n }));
                    audit_mod::append(db.pool(), &event).await.unwrap();
                    if n % 25 == 0 {
                        audit_mod::log::integrate(&db, 64, "2026-11-23T00:00:00.000Z")
                            .await
                            .unwrap();
                    }
                }
            }));
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    common::eventually("every event is integrated", || async {
        sqlx::query_scalar::<_, i64>("select count(*) from audit_pending")
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            == 0
    })
    .await;
    let (events, leaves, distinct, max): (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from audit_event), (select count(*) from audit_leaf),
                (select count(distinct event_seq) from audit_leaf), (select coalesce(max(leaf_index), -1) from audit_leaf)",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(events, leaves, "every event has a leaf");
    assert_eq!(distinct, leaves, "no event has two");
    assert_eq!(max + 1, leaves, "no gaps in the indexes");
    let key = ponte::jose::Jwk::parse(
        &std::fs::read_to_string(app.data_dir().join("broker/sign.jwk")).unwrap(),
    )
    .unwrap();
    let a = ponte::audit::checkpoint::publish(&app.db, &key, ORIGIN, "2026-11-23T00:00:01.000Z")
        .await
        .unwrap();
    for n in 0..10 {
        let event = AuditEvent::operator("ReplicaTest", "replica:1", "2026-11-23T00:00:02.000Z")
            .detail(serde_json::json!({ "late": n }));
        audit_mod::append(other.db.pool(), &event).await.unwrap();
    }
    let b = ponte::audit::checkpoint::publish(&other.db, &key, ORIGIN, "2026-11-23T00:00:03.000Z")
        .await
        .unwrap();
    let public = key.public_bytes().unwrap();
    let (a, b) = (
        Checkpoint::verify(&a.note, ORIGIN, &public).unwrap(),
        Checkpoint::verify(&b.note, ORIGIN, &public).unwrap(),
    );
    let proof = audit_mod::log::consistency_proof(&app.db, a.size, b.size)
        .await
        .unwrap();
    assert!(
        merkle::verify_consistency(a.size, b.size, &proof, &a.root, &b.root),
        "one history, no fork"
    );
    let report = verify::verify(&app.db, ORIGIN, &[public]).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems());
    let _ = stop.send(());
    server.await.unwrap();
}
