//! Every event a leaf with inclusion and consistency proofs that verify;
//! tampering with the stored log reported by index; a witness that
//! notices a rewritten history.

use ponte::audit::merkle;
use ponte::audit::verify::Verification;
use ponte::http::audit::{ConsistencyProof, DocumentEvidence, InclusionProof};

use super::{busy_case, checkpoint, cli, output, text, verify_log};
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    every_event_is_a_leaf_with_proofs_that_verify,
    tampering_with_the_stored_log_is_reported_by_index,
    a_witness_notices_a_rewritten_history,
);

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
