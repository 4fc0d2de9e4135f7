//! The operator's commands on a data directory: `init`, `party`,
//! `config check`, `policy check`.

use serde_json::Value;

use super::{ponte, run, stdout};
use crate::common;

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
