//! Durability: an upload that never completes, that is swept in flight,
//! whose object cannot be written, or that a stop cuts off leaves no
//! document and nothing after the sweep; on S3, envelopes stream in as
//! they arrive.

use ponte::documents::exchange;
use ponte::documents::party;
use serde_json::Value;

use super::{streamed_submission, submission_sent_in_pieces, ASSESSMENT};
use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    an_upload_that_never_completes_is_invisible_and_swept,
    an_upload_swept_while_in_flight_never_becomes_a_document,
    a_submission_whose_object_cannot_be_written_leaves_no_document,
    an_upload_cut_off_by_a_stop_of_the_broker_leaves_nothing_after_the_sweep,
);

async fn an_upload_that_never_completes_is_invisible_and_swept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &vec![b'z'; 3_000_000],
        )
        .await;
    let (in_flight, tx) = streamed_submission(&app, &case, &prepared);
    tx.send(Ok(bytes::Bytes::copy_from_slice(
        &prepared.envelope[..1_500_000],
    )))
    .await
    .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    // The client goes away mid-upload.
    in_flight.abort();
    drop(tx);
    let doc = prepared.manifest.document_id.to_string();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("document_not_found"))
    );

    // Whatever the broker could not clean up at once, the sweep removes after the grace period.
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    exchange::sweep(&app.db, &app.state_objects(), later)
        .await
        .unwrap();
    assert_eq!(app.pending_uploads().await, 0);
    assert!(
        app.local_objects()
            .iter()
            .all(|p| !p.to_string_lossy().contains(&doc)),
        "{:?}",
        app.local_objects()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_round_trips_through_s3() {
    let app = TestApp::spawn_on_s3(|_| {}).await;
    let case = app.case_with_mission().await;
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 253) as u8).collect();
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &big,
        )
        .await;
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(
        status,
        201,
        "a multipart upload of {} bytes",
        prepared.envelope.len()
    );
    let opened = app
        .open(
            "ministry-labour",
            &answer.document.id.to_string(),
            "case_oversight",
        )
        .await
        .unwrap();
    assert!(opened.plaintext == big);
    assert!(
        app.local_objects().is_empty(),
        "nothing went to the local directory"
    );
}

/// On S3, an envelope of 1 MiB up to one part goes into the bucket in one PUT
/// while it still arrives. A mission whose link pauses longer than the
/// stall limit gets its document stored all the same (the broker gives the
/// PUT up and writes the object in one piece once it has all of it); one
/// that stops, or sends bytes that do not match its manifest, leaves
/// nothing in the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_an_envelope_streams_in_as_it_arrives_and_a_paused_sender_still_gets_it_stored() {
    let app = TestApp::spawn_on_s3(|settings| settings.objects.s3.stream_stall_secs = 1).await;
    let case = app.case_with_mission().await;
    let streaming_puts = || async {
        let text = app.metrics().await;
        let count = |outcome: &str| -> u64 {
            let prefix = format!("ponte_s3_streaming_puts_total{{outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
                .parse()
                .unwrap()
        };
        (count("stored"), count("given_way"))
    };
    // An envelope of about 2 MB: over the size that streams.
    let document: Vec<u8> = (0..1_100_000u32).map(|i| (i % 251) as u8).collect();
    let prepare = || {
        app.prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &document,
        )
    };
    let objects_of = |prepared: &party::Prepared| {
        let prefix = format!("envelopes/{case}/{}", prepared.manifest.document_id);
        async move { common::s3_keys(&prefix).await }
    };

    // Sent whole: it streams in.
    let (stored_before, given_way_before) = streaming_puts().await;
    let sent = prepare().await;
    let (status, _) = app.submit("iom-tirana", &case, &sent).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before),
        "the envelope streamed into the bucket"
    );

    // A pause twice the stall limit in the middle of the body.
    let paused = prepare().await;
    let (in_flight, tx) =
        submission_sent_in_pieces(&app, &case, &paused, Some(paused.envelope.len()));
    let (head, tail) = paused.envelope.split_at(paused.envelope.len() / 2);
    tx.send(Ok(bytes::Bytes::copy_from_slice(head)))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    tx.send(Ok(bytes::Bytes::copy_from_slice(tail)))
        .await
        .unwrap();
    drop(tx);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before + 1),
        "the PUT gave way to one written at the end"
    );
    let opened = app
        .open(
            "ministry-labour",
            &paused.manifest.document_id.to_string(),
            "case_oversight",
        )
        .await
        .unwrap();
    assert!(
        opened.plaintext == document,
        "the paused document reads back whole"
    );
    assert_eq!(objects_of(&paused).await.len(), 1);

    // A sender that stops half-way.
    let stopped = prepare().await;
    let (in_flight, tx) =
        submission_sent_in_pieces(&app, &case, &stopped, Some(stopped.envelope.len()));
    tx.send(Ok(bytes::Bytes::copy_from_slice(
        &stopped.envelope[..stopped.envelope.len() / 2],
    )))
    .await
    .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    drop(tx);
    assert!(
        in_flight.await.unwrap().is_err(),
        "the request was cut short"
    );

    // One flipped byte: refused, and its object never came to exist.
    let mut flipped = prepare().await;
    let at = flipped.envelope.len() / 2;
    flipped.envelope[at] = if flipped.envelope[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let err = app.submit("iom-tirana", &case, &flipped).await.unwrap_err();
    assert_eq!(err.code(), Some("envelope_hash_mismatch"));

    for (what, prepared) in [("stopped", &stopped), ("flipped", &flipped)] {
        let doc = prepared.manifest.document_id.to_string();
        let err = app
            .client("ministry-labour")
            .envelope(&doc, "case_oversight")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(404), "{what}");
    }
    // What a broker cut off with its client leaves, the sweep removes.
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    exchange::sweep(&app.db, &app.state_objects(), later)
        .await
        .unwrap();
    assert_eq!(app.pending_uploads().await, 0);
    for (what, prepared) in [("stopped", &stopped), ("flipped", &flipped)] {
        assert_eq!(objects_of(prepared).await, Vec::<String>::new(), "{what}");
    }
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before + 1),
        "neither the stopped nor the refused upload was completed"
    );
}

async fn an_upload_swept_while_in_flight_never_becomes_a_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &vec![b'q'; 2_000_000],
        )
        .await;
    let (in_flight, tx) = streamed_submission(&app, &case, &prepared);
    let (head, tail) = prepared.envelope.split_at(1_000_000);
    tx.send(Ok(bytes::Bytes::copy_from_slice(head)))
        .await
        .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    // A sweep that takes the slow upload for abandoned…
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    assert_eq!(
        exchange::sweep(&app.db, &app.state_objects(), later)
            .await
            .unwrap(),
        1
    );
    // …then the rest arrives: the broker must not commit a document without its object.
    tx.send(Ok(bytes::Bytes::copy_from_slice(tail)))
        .await
        .unwrap();
    drop(tx);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upload_incomplete");
    let doc = prepared.manifest.document_id.to_string();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

/// An object store that fails just as a submission's object is written
/// (the database meanwhile writing its metadata, on PostgreSQL) leaves no
/// document: the mission is told the store is unavailable, nothing is
/// listed or on record as accepted, and once the store is back the same
/// submission is stored as new.
async fn a_submission_whose_object_cannot_be_written_leaves_no_document(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    let endpoint = common::required_env("PONTE_TEST_S3_ENDPOINT");
    let proxy = common::Proxy::start(common::host_port(&endpoint)).await;
    let dir_path = dir.path().to_owned();
    common::use_s3(&mut settings, &dir_path, &format!("http://{}", proxy.addr));
    let app = TestApp::spawn_with(dir, settings).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;

    proxy.cut();
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(503), Some("unavailable")));
    let listed: Vec<Value> = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    let doc = prepared.manifest.document_id.to_string();
    assert!(listed.iter().all(|d| d["id"] != doc.as_str()), "{listed:?}");
    let acceptances = app.acceptances(&prepared.manifest.document_id).await;
    assert_eq!(acceptances, 0);

    proxy.restore();
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    assert!(answer.stored_now);
    let opened = app
        .open("comune-torino", &doc, "best_interest_assessment")
        .await
        .unwrap();
    assert_eq!(opened.plaintext, ASSESSMENT);
}

/// A broker stopped in the middle of a multipart upload to its local
/// directory leaves the upload's pending record and the staging files of
/// the parts written so far; the sweep removes them all, and nothing else.
async fn an_upload_cut_off_by_a_stop_of_the_broker_leaves_nothing_after_the_sweep(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let key = format!(
        "envelopes/case-{}/doc-{}/{}",
        common::random_hex(4),
        common::random_hex(4),
        common::random_hex(12)
    );
    sqlx::query("insert into pending_upload (object_key, started_epoch) values ($1, $2)")
        .bind(&key)
        .bind(0i64)
        .execute(app.db.pool())
        .await
        .unwrap();
    let file = app.data_dir().join("objects").join(&key);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let staged: Vec<std::path::PathBuf> = (1..=2)
        .map(|n| std::path::PathBuf::from(format!("{}#{n}", file.display())))
        .collect();
    for path in &staged {
        std::fs::write(path, b"sealed part").unwrap();
    }
    let neighbour = std::path::PathBuf::from(format!("{}7#1", file.display()));
    std::fs::write(&neighbour, b"another upload's part").unwrap();

    let swept = exchange::sweep(
        &app.db,
        &app.state_objects(),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(app.pending_uploads().await, 0);
    assert!(staged.iter().all(|p| !p.exists()), "{staged:?}");
    assert!(neighbour.exists(), "only this upload's staging files go");
}
