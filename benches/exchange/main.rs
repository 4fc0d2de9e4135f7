//! Exchange benchmark: the real broker (`ponte serve`, a separate process,
//! embedded SQLite and the local object directory) over mTLS, against raw
//! object_store PUT/GET of the same bytes to the same store in the same run.
//!
//!     cargo bench --bench exchange
//!
//! Prints, for 16 KiB and 4 MiB documents, submit and retrieve latency
//! (median, p99) and throughput, the raw baseline, and the ratios; then the
//! broker's peak RSS while a 1 GiB envelope goes in and out.
//! `PONTE_BENCH_QUICK=1` runs fewer iterations and a 256 MiB large envelope
//! (`PONTE_BENCH_LARGE_MIB=N` sets its size in MiB);
//! under `cargo test` it runs as a quick smoke test (a few small documents).
//! `PONTE_BENCH_CLIENTS=N` sets how many clients run at once in the
//! throughput rounds (4 by default).
//!
//! Against S3 instead of the local directory (broker and baseline alike),
//! and with PostgreSQL instead of the embedded SQLite (the production
//! set-up, both together):
//!
//!     scripts/with-services env PONTE_BENCH_S3=1 cargo bench --bench exchange
//!     scripts/with-services env PONTE_BENCH_S3=1 PONTE_BENCH_POSTGRES=1 cargo bench --bench exchange
//!
//! `PONTE_BENCH_STORE_RTT_MS=N` (with `PONTE_BENCH_S3`) puts the S3 server
//! at network distance: broker and baseline alike reach it through a relay
//! that holds every piece of data N/2 ms in each direction, as a store in
//! another machine or data centre would (moto on loopback answers in one
//! or two). The relay models the distance only, not a bandwidth limit.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use ponte::client::Client;
use ponte::documents::party::{self, Draft, Prepared};
use ponte::documents::{DocumentId, SubjectId};
use ponte::jose::{Jwk, KeyUse};

mod large;
mod relay;
mod report;
mod setup;

use report::{percentile, Series};
use setup::{postgres_from_env, rss_mib, s3_from_env, start_broker, Usage};

/// The child's consent, as the mission records it before it submits
/// assessments: the subject, the signed form, the record.
async fn record_consent(mission: &Client, case: &str, signing: &Jwk) {
    let _: serde_json::Value = mission
        .post(
            &format!("/v1/cases/{case}/subjects"),
            &serde_json::json!({ "id": "subj-child-1", "relation": "child" }),
        )
        .await
        .unwrap();
    let plan = mission
        .plan(case, "consent_form", "family_tracing", &["subj-child-1"])
        .await
        .unwrap();
    let keys: Vec<Jwk> = plan
        .recipients
        .iter()
        .flat_map(|p| p.keys.iter())
        .map(|k| serde_json::from_value(k.clone()).unwrap())
        .collect();
    let form = Draft {
        document_id: DocumentId::generate(),
        case: ponte::cases::CaseId::parse(case).unwrap(),
        document_type: "consent_form".parse().unwrap(),
        purpose: "family_tracing".parse().unwrap(),
        subjects: vec![SubjectId::parse("subj-child-1").unwrap()],
        supersedes: None,
        media_type: "application/pdf".into(),
    };
    let form = party::prepare(b"signed consent form", &form, signing, &keys).unwrap();
    let (_, answer) = mission
        .submit(case, &form.manifest_token, form.envelope)
        .await
        .unwrap();
    let _: serde_json::Value = mission
        .post(
            &format!("/v1/cases/{case}/consents"),
            &serde_json::json!({
                "subject": "subj-child-1", "state": "given", "given_by": "representative",
                "purposes": ["best_interest_assessment"], "recipients": ["role:municipality", "role:ministry", "role:iom_coordination", "role:iom_mission"],
                "document_types": ["family_assessment"], "notice_version": "1", "notice_language": "sq",
                "evidence": answer.document.id,
            }),
        )
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    ponte::http::tls::install_default_provider();
    // `cargo bench` passes --bench; under `cargo test` this runs as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = smoke || std::env::var("PONTE_BENCH_QUICK").is_ok();
    let mut s3 = s3_from_env();
    let store_rtt = std::env::var("PONTE_BENCH_STORE_RTT_MS").ok().map(|ms| {
        assert!(
            s3.is_some(),
            "PONTE_BENCH_STORE_RTT_MS needs PONTE_BENCH_S3"
        );
        ms.parse::<f64>()
            .ok()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .expect("PONTE_BENCH_STORE_RTT_MS: a number of milliseconds")
    });
    if let (Some(s3), Some(rtt)) = (s3.as_mut(), store_rtt) {
        let target = s3.endpoint.trim_start_matches("http://").to_owned();
        s3.endpoint = relay::store_at_distance(target, Duration::from_secs_f64(rtt / 2000.0));
    }
    let postgres = postgres_from_env().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), s3.as_ref(), postgres.as_deref());
    let admin = dir.path().to_owned();
    let anonymous = loop {
        if admin.join("ca.crt").exists() {
            if let Ok(client) = Client::anonymous(&admin, &broker.url) {
                if client.get::<serde_json::Value>("/readyz").await.is_ok() {
                    break client;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(anonymous);
    let (_, idle_rss) = rss_mib(broker.child.id());
    let as_party = |p: &str| Client::for_party(&admin, p, &broker.url).unwrap();
    let case: serde_json::Value = as_party("comune-torino")
        .post("/v1/cases", &serde_json::json!({ "country": "AL" }))
        .await
        .unwrap();
    let case = case["id"].as_str().unwrap().to_owned();
    for (party, by) in [("iom-rome", "ministry-labour"), ("iom-tirana", "iom-rome")] {
        let _: serde_json::Value = as_party(by)
            .post(
                &format!("/v1/cases/{case}/members"),
                &serde_json::json!({ "party": party }),
            )
            .await
            .unwrap();
    }
    let mission = as_party("iom-tirana");
    let signing =
        Jwk::parse(&std::fs::read_to_string(admin.join("parties/iom-tirana/sign.jwk")).unwrap())
            .unwrap();
    record_consent(&mission, &case, &signing).await;
    let plan = mission
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let keys: Vec<Jwk> = plan
        .recipients
        .iter()
        .flat_map(|p| p.keys.iter())
        .map(|k| serde_json::from_value(k.clone()).unwrap())
        .collect();
    assert_eq!(signing.key_use, KeyUse::Sign);
    let prepare = |document: &[u8]| -> Prepared {
        let draft = Draft {
            document_id: DocumentId::generate(),
            case: ponte::cases::CaseId::parse(&case).unwrap(),
            document_type: "family_assessment".parse().unwrap(),
            purpose: "best_interest_assessment".parse().unwrap(),
            subjects: vec![SubjectId::parse("subj-child-1").unwrap()],
            supersedes: None,
            media_type: "application/octet-stream".into(),
        };
        party::prepare(document, &draft, &signing, &keys).unwrap()
    };
    let raw: Arc<dyn ObjectStore> = match &s3 {
        None => Arc::new(LocalFileSystem::new_with_prefix(admin.join("objects")).unwrap()),
        Some(s3) => Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(&s3.endpoint)
                .with_bucket_name(&s3.bucket)
                .with_region("us-east-1")
                .with_access_key_id(&s3.key_id)
                .with_secret_access_key(&s3.secret)
                // The broker's own setting (its objects are sealed), so
                // the baseline writes the bytes the way the broker does.
                .with_unsigned_payload(true)
                .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
                .build()
                .unwrap(),
        ),
    };
    let store = match (&s3, store_rtt) {
        (Some(_), Some(rtt)) => format!("S3 (moto) at a {rtt} ms round trip"),
        (Some(_), None) => "S3 (moto)".to_owned(),
        (None, _) => "local object directory".to_owned(),
    };
    let database = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "Ponte exchange benchmark ({store}, {database}, mTLS over loopback; {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // The floor under any request: one mTLS round trip that touches
    // neither the database nor the store.
    let mut floor = Series::new("mTLS round trip (/healthz)");
    for _ in 0..if smoke { 3 } else { 200 } {
        let started = Instant::now();
        let _: serde_json::Value = mission.get("/healthz").await.unwrap();
        floor.add(0, started.elapsed());
    }
    floor.times.sort();
    println!(
        "Transport floor: mTLS round trip median {:.2?}, p99 {:.2?}",
        percentile(&floor.times, 0.5),
        percentile(&floor.times, 0.99)
    );
    let clients = if smoke {
        2
    } else {
        std::env::var("PONTE_BENCH_CLIENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(4)
    };
    let parallel: Vec<Client> = (0..clients).map(|_| as_party("iom-tirana")).collect();
    for (label, size, n) in [
        (
            "16 KiB",
            16 * 1024,
            if smoke {
                3
            } else if quick {
                40
            } else {
                300
            },
        ),
        (
            "4 MiB",
            4 * 1024 * 1024,
            if smoke {
                2
            } else if quick {
                8
            } else {
                40
            },
        ),
    ] {
        let document: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let prepared: Vec<Prepared> = (0..n).map(|_| prepare(&document)).collect();
        let envelope_bytes = prepared[0].envelope.len();
        let (mut submit, mut retrieve) =
            (Series::new("broker submit"), Series::new("broker retrieve"));
        let (mut put, mut durable, mut get) = (
            Series::new("raw object_store PUT"),
            Series::new("raw PUT + fsync (durable)"),
            Series::new("raw object_store GET"),
        );
        let mut ids = Vec::new();
        let before_submits = Usage::of(broker.child.id());
        for p in &prepared {
            let body = Bytes::from(p.envelope.clone());
            let started = Instant::now();
            let (status, answer) = mission
                .submit(&case, &p.manifest_token, body)
                .await
                .unwrap();
            submit.add(p.envelope.len(), started.elapsed());
            assert_eq!(status, 201);
            ids.push(answer.document.id.to_string());

            let key = ObjectPath::from(format!("baseline/{}", p.manifest.document_id));
            let payload = PutPayload::from(Bytes::from(p.envelope.clone()));
            let started = Instant::now();
            raw.put(&key, payload).await.unwrap();
            put.add(p.envelope.len(), started.elapsed());

            if s3.is_none() {
                let key = ObjectPath::from(format!("durable/{}", p.manifest.document_id));
                let payload = PutPayload::from(Bytes::from(p.envelope.clone()));
                let root = admin.join("objects");
                let file = root.join(key.as_ref());
                let started = Instant::now();
                raw.put(&key, payload).await.unwrap();
                // What the broker does: the file and its folders up to the
                // store's root, flushed at once.
                let paths: Vec<_> = file
                    .ancestors()
                    .take_while(|p| p.starts_with(&root))
                    .map(Path::to_owned)
                    .collect();
                futures::future::join_all(paths.into_iter().map(|path| {
                    tokio::task::spawn_blocking(move || {
                        std::fs::File::open(&path).unwrap().sync_all().unwrap()
                    })
                }))
                .await
                .into_iter()
                .for_each(|synced| synced.unwrap());
                durable.add(p.envelope.len(), started.elapsed());
            }
        }
        let submits = Usage::of(broker.child.id()).per(before_submits, n);
        let before_retrievals = Usage::of(broker.child.id());
        for (p, id) in prepared.iter().zip(&ids) {
            let started = Instant::now();
            let fetched = mission
                .envelope(id, "best_interest_assessment")
                .await
                .unwrap();
            retrieve.add(fetched.envelope.len(), started.elapsed());
            assert_eq!(fetched.envelope.len(), p.envelope.len());

            let key = ObjectPath::from(format!("baseline/{}", p.manifest.document_id));
            let started = Instant::now();
            let bytes = raw.get(&key).await.unwrap().bytes().await.unwrap();
            get.add(bytes.len(), started.elapsed());
        }
        let retrievals = Usage::of(broker.child.id()).per(before_retrievals, n);
        println!("{label} documents ({envelope_bytes} bytes of envelope each), one at a time:");
        println!(
            "  broker CPU (user + system) per submit {:.2?}, per retrieve {:.2?}; page faults per submit {}, per retrieve {}; context switches per submit {}, per retrieve {}",
            submits.cpu, retrievals.cpu, submits.faults, retrievals.faults, submits.switches, retrievals.switches
        );
        let (s, r, pu, g) = (
            submit.report(),
            retrieve.report(),
            put.report(),
            get.report(),
        );
        let d = if s3.is_none() { durable.report() } else { 0.0 };
        print!(
            "  ratio submit/PUT {:.2} (target ≥ 0.8)   retrieve/GET {:.2} (target ≥ 0.9)",
            s / pu,
            r / g
        );
        if d > 0.0 {
            print!("   submit/durable PUT {:.2}", s / d);
        }
        println!();

        // Throughput with several clients at once, each on its own
        // connection, against the same number of raw requests at once.
        let batch: Vec<Prepared> = (0..n).map(|_| prepare(&document)).collect();
        let total = (batch.len() * envelope_bytes) as f64 / (1024.0 * 1024.0);
        let shares = |k: usize| batch.iter().skip(k).step_by(clients);
        let started = Instant::now();
        futures::future::join_all(parallel.iter().enumerate().map(|(k, client)| {
            let case = &case;
            let mine: Vec<&Prepared> = shares(k).collect();
            async move {
                for p in mine {
                    let body = Bytes::from(p.envelope.clone());
                    let (status, _) = client.submit(case, &p.manifest_token, body).await.unwrap();
                    assert_eq!(status, 201);
                }
            }
        }))
        .await;
        let broker_in = total / started.elapsed().as_secs_f64();
        let started = Instant::now();
        futures::future::join_all((0..clients).map(|k| {
            let raw = raw.clone();
            let mine: Vec<&Prepared> = shares(k).collect();
            async move {
                for p in mine {
                    let key = ObjectPath::from(format!("parallel/{}", p.manifest.document_id));
                    raw.put(&key, PutPayload::from(Bytes::from(p.envelope.clone())))
                        .await
                        .unwrap();
                }
            }
        }))
        .await;
        let raw_in = total / started.elapsed().as_secs_f64();
        let started = Instant::now();
        futures::future::join_all(parallel.iter().enumerate().map(|(k, client)| {
            let mine: Vec<&Prepared> = shares(k).collect();
            async move {
                for p in mine {
                    let fetched = client
                        .envelope(p.manifest.document_id.as_str(), "best_interest_assessment")
                        .await
                        .unwrap();
                    assert_eq!(fetched.envelope.len(), p.envelope.len());
                }
            }
        }))
        .await;
        let broker_out = total / started.elapsed().as_secs_f64();
        let started = Instant::now();
        futures::future::join_all((0..clients).map(|k| {
            let raw = raw.clone();
            let mine: Vec<&Prepared> = shares(k).collect();
            async move {
                for p in mine {
                    let key = ObjectPath::from(format!("parallel/{}", p.manifest.document_id));
                    raw.get(&key).await.unwrap().bytes().await.unwrap();
                }
            }
        }))
        .await;
        let raw_out = total / started.elapsed().as_secs_f64();
        println!(
            "  {clients} clients at once: submit {broker_in:.1} MiB/s vs PUT {raw_in:.1} MiB/s (ratio {:.2}); retrieve {broker_out:.1} MiB/s vs GET {raw_out:.1} MiB/s (ratio {:.2})",
            broker_in / raw_in,
            broker_out / raw_out
        );
    }

    // One very large envelope, streamed in and out; the broker's memory is what is measured.
    let large: u64 = if let Some(mib) = std::env::var("PONTE_BENCH_LARGE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        mib << 20
    } else if smoke {
        8 << 20
    } else if quick || s3.is_some() {
        256 << 20
    } else {
        1 << 30
    };
    let template = prepare(b"x");
    large::in_and_out(
        &mission,
        &case,
        &signing,
        &template,
        large,
        broker.child.id(),
        idle_rss,
    )
    .await;
}
