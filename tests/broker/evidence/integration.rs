//! The integrator: its queue read by key whatever the planner prefers,
//! submissions stored while it cannot run and their leaves made later
//! without anyone asking, a log that verifies clean while the broker
//! appends, and replicas appending to one log.

use ponte::audit::checkpoint::Checkpoint;
use ponte::audit::merkle;
use ponte::audit::verify;
use ponte::audit::{self as audit_mod, AuditEvent};
use ponte::storage::Engine;

use super::{verify_log, ORIGIN};
use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    the_integrator_reads_its_queue_by_key_however_the_planner_leans,
    a_submissions_acceptance_becomes_a_leaf_without_anyone_asking,
    a_submission_is_stored_while_the_log_cannot_be_integrated_and_its_leaf_comes_later,
    the_log_verifies_clean_while_the_broker_keeps_appending_and_checkpointing,
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
