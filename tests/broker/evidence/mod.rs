//! The tamper-evident log: every event a leaf, signed checkpoints, proofs
//! that verify, tampering reported by index, replicas appending to one
//! database, witnesses that notice a rewritten history, and who read what
//! about a person. Every test runs on SQLite and PostgreSQL.

mod accesses;
mod integration;
mod proofs;

use std::process::Output;

use ponte::audit::checkpoint::Checkpoint;
use ponte::audit::verify::{self, Verification};
use ponte::documents::receipt::jwks_keys;
use tokio::process::Command;

use crate::common::{self, TestApp};

pub const ORIGIN: &str = "ponte.local/audit";

pub async fn broker_key(app: &TestApp) -> Vec<u8> {
    let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    jwks_keys(&jwks)[0].public_bytes().unwrap()
}

pub async fn checkpoint(app: &TestApp, party: &str) -> (String, Checkpoint) {
    let client = app.client(party);
    let note = client
        .http()
        .post(client.url("/v1/audit/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed =
        Checkpoint::verify(&note, ORIGIN, &broker_key(app).await).expect("signed by the broker");
    (note, signed)
}

pub async fn verify_log(app: &TestApp) -> Verification {
    verify::verify(&app.db, ORIGIN, &[broker_key(app).await])
        .await
        .unwrap()
}

/// A case with a submitted, read and shared assessment.
pub async fn busy_case(app: &TestApp) -> (String, ponte::http::documents::SubmitAnswer) {
    let case = app.case_with_mission().await;
    let answer = app
        .submit_new(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"the Vlore grandparents",
        )
        .await;
    app.open(
        "ministry-labour",
        answer.document.id.as_str(),
        "case_oversight",
    )
    .await
    .unwrap();
    (case, answer)
}

pub fn cli(app: &TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ponte"));
    command
        .arg("--data-dir")
        .arg(app.data_dir())
        .env(
            "PONTE__POLICY__DIR",
            common::manifest_dir().join("policies"),
        )
        .env("PONTE_BROKER", app.url())
        .kill_on_drop(true);
    match &app.settings.database.url {
        Some(url) => command.env("PONTE__DATABASE__URL", url),
        None => command.env_remove("PONTE__DATABASE__URL"),
    };
    command
}

pub async fn output(command: &mut Command) -> Output {
    command.output().await.unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
