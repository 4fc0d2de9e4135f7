//! The `ponte` binary as a newcomer and an operator use it.

mod admin;
mod parties;
mod serve;

use std::path::Path;
use std::process::Output;

use tokio::process::Command;

use crate::common;

pub fn ponte(data_dir: &Path) -> Command {
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

pub async fn run(command: &mut Command) -> Output {
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

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
