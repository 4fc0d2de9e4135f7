//! Audit log append throughput, and whether it stays flat as the tree
//! grows. Run it (release build) with
//!
//!     scripts/with-services cargo bench --bench audit
//!
//! At each tree size (10^3, 10^4, 10^5, 10^6 leaves) it measures two paths,
//! each window appending and integrating a number of events small against
//! the tree (a fifth, at most 20 000; a twentieth, at most 2 000):
//! - batched: events inserted 500 per statement, then integrated;
//! - per request: 8 concurrent writers, one event per transaction (what
//!   the broker does for each decision), integrated as they come.
//!
//! Medians of three windows, on SQLite (a file in a temporary directory) and,
//! under scripts/with-services, PostgreSQL. Under `cargo test` it runs as a
//! quick smoke test (10^3 leaves, small windows).

use std::time::Instant;

use ponte::audit::{self, log, AuditEvent};
use ponte::config::Settings;
use ponte::storage::Db;

fn event(n: u64) -> AuditEvent {
    AuditEvent::evidence(
        &ponte::parties::PartyId::parse("comune-torino").unwrap(),
        "ReadDocument",
        &format!("document:doc-bench{n:022}"),
        "2026-11-23T08:00:00.000Z",
    )
    .detail(serde_json::json!({
        "context": { "purpose": "best_interest_assessment", "basis": "consent", "consent_state": "given", "is_recipient": true }
    }))
}

async fn grow_to(db: &Db, target: u64, next: &mut u64) {
    let now = "2026-11-23T08:00:00.000Z";
    while log::head(db.pool()).await.unwrap().size < target {
        let size = log::head(db.pool()).await.unwrap().size;
        let n = (target - size).min(5_000);
        let batch: Vec<AuditEvent> = (0..n).map(|i| event(*next + i)).collect();
        *next += n;
        let mut tx = db.begin().await.unwrap();
        for chunk in batch.chunks(500) {
            audit::append_many(&mut *tx, chunk).await.unwrap();
        }
        tx.commit().await.unwrap();
        log::integrate_all(db, now).await.unwrap();
    }
}

/// Events per second, appending `window` events 500 per statement and integrating them.
async fn batched(db: &Db, window: u64, next: &mut u64) -> f64 {
    let started = Instant::now();
    let events: Vec<AuditEvent> = (0..window).map(|i| event(*next + i)).collect();
    *next += window;
    for chunk in events.chunks(500) {
        audit::append_many(db.pool(), chunk).await.unwrap();
        log::integrate(db, 5_000, "2026-11-23T08:00:00.000Z")
            .await
            .unwrap();
    }
    log::integrate_all(db, "2026-11-23T08:00:00.000Z")
        .await
        .unwrap();
    window as f64 / started.elapsed().as_secs_f64()
}

/// Events per second with 8 writers, one event per transaction, and an
/// integrator running alongside.
async fn per_request(db: &Db, window: u64, next: &mut u64) -> f64 {
    let started = Instant::now();
    let writers = 8u64;
    let base = *next;
    *next += window;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let integrator = {
        let (db, done) = (db.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                log::integrate(&db, 5_000, "2026-11-23T08:00:00.000Z")
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..window).step_by(writers as usize) {
                audit::append(db.pool(), &event(base + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    integrator.await.unwrap();
    log::integrate_all(db, "2026-11-23T08:00:00.000Z")
        .await
        .unwrap();
    window as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn run(name: &str, db: Db, sizes: &[u64], smoke: bool) {
    println!("{name}:");
    println!(
        "  {:>9}  {:>8}  {:>16}  {:>8}  {:>20}",
        "leaves", "window", "batched (ev/s)", "window", "per request (ev/s)"
    );
    let mut next = 0u64;
    let mut first: Option<(f64, f64)> = None;
    for &size in sizes {
        grow_to(&db, size, &mut next).await;
        // Windows small against the tree, so each row measures its size.
        let (bw, rw) = if smoke {
            (500, 100)
        } else {
            (
                (size / 5).clamp(1_000, 20_000),
                (size / 20).clamp(250, 2_000),
            )
        };
        let start = log::head(db.pool()).await.unwrap().size;
        let mut b = Vec::new();
        let mut r = Vec::new();
        for _ in 0..3 {
            b.push(batched(&db, bw, &mut next).await);
            r.push(per_request(&db, rw, &mut next).await);
        }
        let (b, r) = (median(b), median(r));
        let (b0, r0) = *first.get_or_insert((b, r));
        println!(
            "  {:>9}  {:>8}  {:>9.0} ({:>4.2}x)  {:>8}  {:>12.0} ({:>4.2}x)",
            start,
            bw,
            b,
            b / b0,
            rw,
            r,
            r / r0
        );
    }
}

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let sizes: &[u64] = if smoke {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    println!(
        "Ponte audit log append benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_data_dir(dir.path());
    let db = Db::open(&settings).await.unwrap();
    run("SQLite (WAL)", db, sizes, smoke).await;
    if let Ok(url) = std::env::var("PONTE_TEST_POSTGRES_URL") {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let name = format!("ponte_bench_{}", std::process::id());
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let mut settings = Settings::for_data_dir(dir.path());
        settings.database.url = Some(url.replace("/postgres", &format!("/{name}")));
        let db = Db::open(&settings).await.unwrap();
        run("PostgreSQL", db, sizes, smoke).await;
    }
}
