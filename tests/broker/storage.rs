//! Storage on both real engines: objects on the local directory and on S3,
//! migrations when replicas start together, the append-only audit table.

use bytes::Bytes;
use ponte::audit::{self, AuditEvent};
use ponte::config::Settings;
use ponte::storage::objects::ObjectError;
use ponte::storage::{Db, Objects};

use crate::common::{self, required_env, Backend};

crate::on_both_databases!(the_audit_table_refuses_updates_and_deletes);

async fn round_trip(objects: &Objects) {
    let key = format!("test/{}", common::random_hex(8));
    let body = Bytes::from(vec![7u8; 300_000]);
    objects.ping().await.unwrap();
    objects.put(&key, body.clone()).await.unwrap();
    assert_eq!(objects.get(&key).await.unwrap(), body);
    objects.delete(&key).await.unwrap();
    assert!(matches!(
        objects.get(&key).await,
        Err(ObjectError::NotFound(_))
    ));
    objects.delete(&key).await.unwrap();
}

#[tokio::test]
async fn objects_round_trip_on_the_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::open(&Settings::for_data_dir(dir.path())).unwrap();
    round_trip(&objects).await;
    assert!(dir.path().join("objects").is_dir());
}

#[tokio::test]
async fn objects_round_trip_on_s3() {
    ponte::http::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    common::use_s3(
        &mut settings,
        dir.path(),
        &required_env("PONTE_TEST_S3_ENDPOINT"),
    );
    round_trip(&Objects::open(&settings).unwrap()).await;
}

#[tokio::test]
async fn s3_requests_signed_with_a_wrong_secret_are_refused() {
    ponte::http::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    ponte::secret::create(&dir.path().join("s3-secret"), b"not-the-secret").unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    common::use_s3(
        &mut settings,
        dir.path(),
        &required_env("PONTE_TEST_S3_ENDPOINT"),
    );
    let objects = Objects::open(&settings).unwrap();
    assert!(
        objects.ping().await.is_err(),
        "the S3 server checks signatures"
    );
    assert!(objects
        .put("test/forged", Bytes::from_static(b"x"))
        .await
        .is_err());
}

#[tokio::test]
async fn an_s3_secret_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    common::use_s3(&mut settings, dir.path(), "http://127.0.0.1:9");
    let secret = dir.path().join("s3-secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = Objects::open(&settings).unwrap_err().to_string();
    assert!(
        err.contains("s3-secret") && err.contains("chmod 600"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_postgres_once() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(dir.path(), Backend::Postgres).await;
    let opens = (0..4).map(|_| {
        let settings = settings.clone();
        tokio::spawn(async move { Db::open(&settings).await.map(|_| ()) })
    });
    for open in futures::future::join_all(opens).await {
        open.unwrap().expect("every replica starts");
    }
    let db = Db::open(&settings).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let files = std::fs::read_dir(common::manifest_dir().join("migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(applied, files as i64, "each migration applied exactly once");
}

async fn the_audit_table_refuses_updates_and_deletes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(dir.path(), backend).await;
    let db = Db::open(&settings).await.unwrap();
    audit::append(
        db.pool(),
        &AuditEvent::operator("Test", "broker", "2026-11-22T00:00:00.000Z"),
    )
    .await
    .unwrap();
    assert!(sqlx::query("update audit_event set action = 'Forged'")
        .execute(db.pool())
        .await
        .is_err());
    assert!(sqlx::query("delete from audit_event")
        .execute(db.pool())
        .await
        .is_err());
    let events = audit::recent(&db, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.action, "Test");
}

#[tokio::test]
async fn a_large_object_goes_to_the_local_directory_in_parts_and_streams_back_whole() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::open(&Settings::for_data_dir(dir.path())).unwrap();
    // Past several write parts and read pieces, ending mid-piece.
    let body: Vec<u8> = (0..(3 << 20) + 12_345u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let key = format!("test/{}", common::random_hex(8));
    let mut upload = objects
        .start_upload(&key, Some(body.len() as u64))
        .await
        .unwrap();
    for piece in body.chunks(100_000) {
        upload
            .write(bytes::Bytes::copy_from_slice(piece))
            .await
            .unwrap();
    }
    upload.finish().await.unwrap();
    let mut stream = objects.stream(&key).await.unwrap();
    let mut back = Vec::new();
    let mut pieces = 0;
    while let Some(piece) = stream.next().await {
        back.extend_from_slice(&piece.unwrap());
        pieces += 1;
    }
    assert!(
        back == body,
        "the object read back differs from what was written"
    );
    assert!(pieces >= 4, "read in pieces, not at once ({pieces})");
}

#[tokio::test]
async fn the_embedded_database_syncs_a_write_ahead_log_on_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&Settings::for_data_dir(dir.path())).await.unwrap();
    let mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // 2 = FULL: the log is synced before a commit returns.
    let synchronous: i64 = sqlx::query_scalar("pragma synchronous")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(synchronous, 2);
}

#[tokio::test]
async fn a_write_transaction_that_read_first_survives_another_connection_writing_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_data_dir(dir.path());
    let db = Db::open(&settings).await.unwrap();
    let other = Db::open(&settings).await.unwrap();
    let event = AuditEvent::operator("Test", "broker", "2026-11-23T00:00:00.000Z");
    let mut tx = db.begin().await.unwrap();
    let before: i64 = sqlx::query_scalar("select count(*) from audit_event")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let meanwhile = {
        let event = event.clone();
        tokio::spawn(async move { audit::append(other.pool(), &event).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // A deferred transaction in write-ahead-log mode would be refused here
    // ("database is locked") had the other connection committed since the read.
    audit::append(&mut *tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    meanwhile.await.unwrap().unwrap();
    let after: i64 = sqlx::query_scalar("select count(*) from audit_event")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(after, before + 2);
}
