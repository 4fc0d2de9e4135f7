//! `serve` on a fresh data directory, stopped by SIGTERM, and the case
//! commands a party runs against it.

use serde_json::Value;
use tokio::process::Command;

use super::{ponte, run, stdout};
use crate::common::{self, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_commands_open_list_and_attach_as_a_party() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = |command: &mut Command| {
        command.arg("--broker").arg(app.url());
    };
    let mut open = ponte(app.data_dir());
    open.args(["case", "open", "--as", "comune-torino", "--country", "AL"]);
    client(&mut open);
    let case = stdout(&run(&mut open).await).trim().to_owned();
    assert!(case.starts_with("case-"), "{case}");

    let mut attach = ponte(app.data_dir());
    attach.args([
        "case",
        "attach",
        &case,
        "--party",
        "iom-rome",
        "--as",
        "ministry-labour",
    ]);
    client(&mut attach);
    run(&mut attach).await;

    let mut list = ponte(app.data_dir());
    list.args(["--json", "case", "list", "--as", "iom-rome"]);
    client(&mut list);
    let listed: Value = serde_json::from_slice(&run(&mut list).await.stdout).unwrap();
    assert_eq!(listed[0]["id"], case.as_str());

    let mut me = ponte(app.data_dir());
    me.args(["me", "--as", "iom-tirana", "--json"]);
    client(&mut me);
    let me: Value = serde_json::from_slice(&run(&mut me).await.stdout).unwrap();
    assert_eq!(me["id"], "iom-tirana");

    let mut refused = ponte(app.data_dir());
    refused.args([
        "case",
        "attach",
        &case,
        "--party",
        "iom-tirana",
        "--as",
        "comune-torino",
    ]);
    client(&mut refused);
    let output = refused.output().await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("403 forbidden"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_a_fresh_data_directory_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut serve = ponte(dir.path());
    serve
        .arg("serve")
        .env("PONTE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = serve.spawn().unwrap();
    let broker = format!("https://127.0.0.1:{port}");
    common::eventually("the broker starts", || async {
        dir.path().join("ca.crt").exists()
            && ponte::client::Client::anonymous(dir.path(), &broker)
                .unwrap()
                .get::<Value>("/readyz")
                .await
                .is_ok()
    })
    .await;
    let me: Value = ponte::client::Client::for_party(dir.path(), "iom-tirana", &broker)
        .unwrap()
        .get("/v1/me")
        .await
        .unwrap();
    assert_eq!(me["id"], "iom-tirana");

    // An invalid policy folder is reported and never sent to the broker.
    let broken = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::manifest_dir().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, broken.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        broken.path().join("broken.cedar"),
        "@id(\"typo\") permit (principal, action == Ponte::Action::\"ReadDocumnet\", resource);",
    )
    .unwrap();
    let rejected = ponte(dir.path())
        .args(["policy", "reload"])
        .env("PONTE__POLICY__DIR", broken.path())
        .output()
        .await
        .unwrap();
    assert!(!rejected.status.success());
    assert!(String::from_utf8_lossy(&rejected.stderr).contains("ReadDocumnet"));
    let reloaded = run(ponte(dir.path()).args(["policy", "reload"])).await;
    assert!(
        stdout(&reloaded).contains("asked to reload"),
        "{}",
        stdout(&reloaded)
    );
    assert!(dir.path().join("ponte.pid").exists());
    let db = format!("sqlite://{}", dir.path().join("ponte.db").display());
    common::eventually("the broker reloads its policies", || async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db).await.unwrap();
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_event where action = 'ReloadPolicies' and decision = 'done'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
            == 1
    })
    .await;

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let output = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("policies reloaded"), "{logs}");
    assert!(
        !dir.path().join("ponte.pid").exists(),
        "the pid file goes with the broker"
    );
    assert!(
        logs.contains("DEVELOPMENT PKI"),
        "the first start says the PKI is for development: {logs}"
    );
    let line = logs
        .lines()
        .find(|l| l.contains("/v1/me"))
        .expect("a request log line");
    let line: Value = serde_json::from_str(line).expect("logs are JSON");
    assert_eq!(line["span"]["request_id"].as_str().unwrap().len(), 32);
}
