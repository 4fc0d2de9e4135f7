//! The `ponte` binary as a newcomer and an operator use it.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

use crate::common::{self, Backend, TestApp};

fn ponte(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ponte"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env(
            "PONTE__POLICY__DIR",
            common::manifest_dir().join("policies"),
        )
        .env_remove("PONTE__DATABASE__URL")
        .kill_on_drop(true);
    command
}

async fn run(command: &mut Command) -> Output {
    let output = command.output().await.unwrap();
    assert!(
        output.status.success(),
        "{:?} failed:\n{}\n{}",
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn init_creates_the_documented_layout_and_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    run(ponte(dir.path()).arg("init")).await;
    let mut expected = vec![
        "ca.crt".to_owned(),
        "broker/tls.crt".into(),
        "broker/tls.key".into(),
        "broker/sign.jwk".into(),
        "broker/kek.key".into(),
    ];
    for party in [
        "ministry-labour",
        "iom-rome",
        "iom-tirana",
        "iom-dakar",
        "tm-roma",
        "comune-torino",
        "guardian-torino-1",
    ] {
        for file in ["tls.crt", "tls.key", "sign.jwk", "enc.jwk"] {
            expected.push(format!("parties/{party}/{file}"));
        }
    }
    let before: Vec<Vec<u8>> = expected
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap_or_else(|_| panic!("{f} missing")))
        .collect();
    let again = run(ponte(dir.path()).arg("init")).await;
    assert!(
        stdout(&again).contains("nothing was changed"),
        "{}",
        stdout(&again)
    );
    for (file, old) in expected.iter().zip(before) {
        assert_eq!(
            std::fs::read(dir.path().join(file)).unwrap(),
            old,
            "{file} was rewritten"
        );
    }
}

#[tokio::test]
async fn party_commands_add_list_disable_and_rotate_keys() {
    let dir = tempfile::tempdir().unwrap();
    run(ponte(dir.path()).arg("init")).await;
    let added = run(ponte(dir.path()).args([
        "--json",
        "party",
        "add",
        "iom-pristina",
        "--role",
        "iom_mission",
        "--name",
        "IOM Pristina",
    ]))
    .await;
    let added: Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(added["id"], "iom-pristina");
    assert_eq!(added["keys"].as_array().unwrap().len(), 2);
    assert!(dir.path().join("parties/iom-pristina/tls.key").exists());

    let list = stdout(&run(ponte(dir.path()).args(["party", "list"])).await);
    assert!(
        list.contains("iom-pristina") && list.contains("iom_mission"),
        "{list}"
    );

    let rotated =
        run(ponte(dir.path()).args(["--json", "party", "rotate-keys", "iom-pristina"])).await;
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let statuses: Vec<&str> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "active").count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == "retired").count(), 2);
    let retired = std::fs::read_dir(dir.path().join("parties/iom-pristina/retired"))
        .unwrap()
        .count();
    assert_eq!(retired, 2, "old private keys are kept, not overwritten");

    let disabled =
        run(ponte(dir.path()).args(["--json", "party", "disable", "iom-pristina"])).await;
    let disabled: Value = serde_json::from_slice(&disabled.stdout).unwrap();
    assert_eq!(disabled["status"], "disabled");

    let bad = ponte(dir.path())
        .args(["party", "add", "x y", "--role", "court", "--name", "X"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid party id"));
}

#[tokio::test]
async fn config_check_shows_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(ponte(dir.path())
        .args(["config", "check"])
        .env(
            "PONTE__DATABASE__URL",
            "postgres://ponte:hunter2@db.internal/ponte",
        )
        .env("PONTE__OBJECTS__BACKEND", "s3"))
    .await;
    let text = stdout(&output);
    assert!(
        text.contains("postgres://ponte:REDACTED@db.internal/ponte"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
    assert!(text.contains("backend = \"s3\""), "{text}");

    let bad = ponte(dir.path())
        .args(["config", "check"])
        .env("PONTE__SERVER__LISTEN", "nowhere")
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("server.listen"),
        "the message names the key: {err}"
    );
}

#[tokio::test]
async fn policy_check_validates_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run(ponte(dir.path())
        .args(["policy", "check"])
        .arg(common::manifest_dir().join("policies")))
    .await;
    assert!(stdout(&ok).contains("valid"));
    std::fs::copy(
        common::manifest_dir().join("policies/schema.cedarschema"),
        dir.path().join("schema.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.cedar"),
        "permit (principal, action == Ponte::Action::\"Nope\", resource);",
    )
    .unwrap();
    let bad = ponte(dir.path())
        .args(["policy", "check"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("@id"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_commands_submit_fetch_share_list_and_verify_the_receipt() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let case = app.case_with_mission().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("assessment.txt");
    std::fs::write(&file, "Famiglia rintracciata a Elbasan.").unwrap();
    let as_party = |party: &str, args: &[&str]| {
        let mut command = ponte(app.data_dir());
        command
            .args(args)
            .args(["--as", party, "--broker", &app.url()]);
        command
    };

    let submitted = run(&mut as_party(
        "iom-tirana",
        &[
            "doc",
            "submit",
            "--case",
            &case,
            "--type",
            "family_assessment",
            "--purpose",
            "best_interest_assessment",
            "--subject",
            "subj-child-1",
            "--media-type",
            "text/plain",
            file.to_str().unwrap(),
        ],
    ))
    .await;
    let doc = stdout(&submitted)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(doc.starts_with("doc-"), "{}", stdout(&submitted));
    let receipt = work.path().join("assessment.txt.receipt.jws");
    assert!(receipt.exists());

    let verified = run(ponte(app.data_dir()).args([
        "receipt",
        "verify",
        receipt.to_str().unwrap(),
        "--broker",
        &app.url(),
    ]))
    .await;
    assert!(stdout(&verified).contains(&doc));
    // Offline, with a saved JWKS.
    let jwks: Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    let jwks_file = work.path().join("broker.jwks");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    run(ponte(app.data_dir()).args([
        "receipt",
        "verify",
        receipt.to_str().unwrap(),
        "--jwks",
        jwks_file.to_str().unwrap(),
        "--broker",
        "https://127.0.0.1:9",
    ]))
    .await;
    let forged = work.path().join("forged.jws");
    let text = std::fs::read_to_string(&receipt).unwrap();
    std::fs::write(&forged, text.replacen('.', ".e", 1)).unwrap();
    let bad = ponte(app.data_dir())
        .args([
            "receipt",
            "verify",
            forged.to_str().unwrap(),
            "--jwks",
            jwks_file.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());

    let out = work.path().join("read.txt");
    let envelope = work.path().join("envelope.json");
    run(&mut as_party(
        "comune-torino",
        &[
            "doc",
            "fetch",
            "--purpose",
            "best_interest_assessment",
            &doc,
            "-o",
            out.to_str().unwrap(),
            "--envelope",
            envelope.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    let jwe: Value = serde_json::from_slice(&std::fs::read(&envelope).unwrap()).unwrap();
    assert!(jwe["recipients"].is_array() && jwe["ciphertext"].is_string());

    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    run(&mut as_party(
        "iom-tirana",
        &[
            "doc",
            "share",
            &doc,
            "--party",
            "tm-roma",
            "--purpose",
            "judicial_decision",
            "--read-purpose",
            "best_interest_assessment",
        ],
    ))
    .await;
    let court_copy = work.path().join("court.txt");
    run(&mut as_party(
        "tm-roma",
        &[
            "doc",
            "fetch",
            "--purpose",
            "judicial_decision",
            &doc,
            "-o",
            court_copy.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(
        std::fs::read(&court_copy).unwrap(),
        std::fs::read(&file).unwrap()
    );

    let listed = run(&mut as_party(
        "tm-roma",
        &["--json", "doc", "list", "--case", &case],
    ))
    .await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], doc.as_str());

    let refused = as_party(
        "iom-dakar",
        &[
            "doc",
            "fetch",
            "--purpose",
            "family_tracing",
            &doc,
            "-o",
            "/dev/null",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
}

#[tokio::test]
async fn consent_commands_withdraw_by_code_and_policy_explain_says_why() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let case = app.case_with_mission_without_consent().await;
    let as_party = |party: &str, args: &[&str]| {
        let mut command = ponte(app.data_dir());
        command
            .args(args)
            .args(["--as", party, "--broker", &app.url()]);
        command
    };
    run(&mut as_party(
        "iom-tirana",
        &[
            "subject",
            "add",
            "--case",
            &case,
            "--id",
            "subj-child-1",
            "--relation",
            "child",
        ],
    ))
    .await;
    let form = app
        .prepare(
            "iom-tirana",
            &case,
            "consent_form",
            "family_tracing",
            b"signed form",
        )
        .await;
    let (_, form) = app.submit("iom-tirana", &case, &form).await.unwrap();
    let recorded = run(ponte(app.data_dir()).args([
        "--json",
        "consent",
        "record",
        "--as",
        "iom-tirana",
        "--broker",
        &app.url(),
        "--case",
        &case,
        "--subject",
        "subj-child-1",
        "--given-by",
        "representative",
        "--purpose",
        "best_interest_assessment",
        "--recipient",
        "role:municipality",
        "--type",
        "family_assessment",
        "--notice-version",
        "2026-1",
        "--notice-language",
        "sq",
        "--evidence",
        form.document.id.as_str(),
    ]))
    .await;
    let recorded: Value = serde_json::from_str(&stdout(&recorded)).unwrap();
    let consent = recorded["consent"]["id"].as_str().unwrap().to_owned();
    let code = recorded["code"].as_str().unwrap().to_owned();
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"assessment",
        )
        .await;
    let (_, doc) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    let doc = doc.document.id.to_string();
    app.open("comune-torino", &doc, "best_interest_assessment")
        .await
        .unwrap();

    let explain = |purpose: &'static str| {
        let mut command = ponte(app.data_dir());
        command.args([
            "policy",
            "explain",
            "--as",
            "comune-torino",
            "--document",
            &doc,
            "--purpose",
            purpose,
        ]);
        command
    };
    let allowed = stdout(&run(&mut explain("best_interest_assessment")).await);
    assert!(allowed.starts_with("ALLOWED"), "{allowed}");
    assert!(
        allowed.contains(&format!("consent {consent} is given")),
        "{allowed}"
    );
    assert!(allowed.contains("recipient-reads-document"), "{allowed}");

    let withdrawn = stdout(
        &run(ponte(app.data_dir()).args([
            "consent",
            "withdraw",
            &consent,
            "--code",
            &code,
            "--broker",
            &app.url(),
        ]))
        .await,
    );
    assert!(
        withdrawn.contains("withdrawn; 1 withdrawal notice"),
        "{withdrawn}"
    );

    let denied = stdout(&run(&mut explain("best_interest_assessment")).await);
    assert!(denied.starts_with("DENIED"), "{denied}");
    assert!(
        denied.contains(&format!("consent {consent} is withdrawn")),
        "{denied}"
    );
    assert!(
        denied.contains("consent-based-purpose-needs-consent-to-read"),
        "{denied}"
    );
    let notices = stdout(&run(&mut as_party("comune-torino", &["notices", "list"])).await);
    assert!(
        notices.contains(&consent) && notices.contains("unread"),
        "{notices}"
    );

    // Erasure: refused while the case is open, done on request once nothing else holds it.
    let refused = ponte(app.data_dir())
        .args(["case", "erase", &case])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not closed"));
    let erased =
        stdout(&run(ponte(app.data_dir()).args(["case", "erase", &case, "--request"])).await);
    assert!(erased.contains("content key destroyed"), "{erased}");
    let err = app
        .client("comune-torino")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(403),
        "consent is checked before content: {err}"
    );
}
