//! What a party does with the client: documents submitted, fetched,
//! shared and listed, receipts verified; consents withdrawn by code, and
//! `policy explain`.

use serde_json::Value;

use super::{ponte, run, stdout};
use crate::common::{Backend, TestApp};

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
