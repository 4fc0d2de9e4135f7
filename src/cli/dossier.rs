//! `ponte dossier`: a court downloads the decision dossier of its case;
//! anyone holding the broker's public keys verifies an archive offline.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{client, print_json, ClientArgs};
use crate::config::Settings;
use crate::documents::receipt::jwks_keys;
use crate::dossiers::verify;

#[derive(Debug, Subcommand)]
pub enum DossierCommand {
    /// Download the decision dossier of a case (a court on the case).
    Fetch {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
        /// Where to write the archive (default: dossier-CASE.tar).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Check a dossier archive offline: the broker's signatures, every
    /// receipt, every author's manifest and every envelope's hash.
    Verify {
        file: PathBuf,
        /// The broker's JWKS (saved from /.well-known/jwks.json); without
        /// it the keys are fetched from --broker.
        #[arg(long)]
        jwks: Option<PathBuf>,
        #[arg(long, env = "PONTE_BROKER", default_value = crate::client::DEFAULT_BROKER)]
        broker: String,
    },
}

pub async fn run(settings: &Settings, command: DossierCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DossierCommand::Fetch {
            client: args,
            case,
            out,
        } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("dossier-{case}.tar")));
            let id = client(settings, &args)?.dossier(&case, &out).await?;
            if json {
                return print_json(&serde_json::json!({ "dossier": id, "file": out }));
            }
            println!("dossier {id} of {case} saved to {}", out.display());
            Ok(())
        }
        DossierCommand::Verify { file, jwks, broker } => {
            let jwks: serde_json::Value = match jwks {
                Some(path) => serde_json::from_slice(
                    &std::fs::read(&path).with_context(|| path.display().to_string())?,
                )
                .with_context(|| format!("{} is not a JWKS", path.display()))?,
                None => {
                    crate::client::Client::anonymous(&settings.data_dir, &broker)?
                        .get("/.well-known/jwks.json")
                        .await?
                }
            };
            let keys = jwks_keys(&jwks);
            let archive = std::fs::File::open(&file).with_context(|| file.display().to_string())?;
            let report = verify::verify(std::io::BufReader::new(archive), &keys)
                .with_context(|| format!("{} is not a readable dossier archive", file.display()))?;
            if json {
                let checks: Vec<_> = report
                    .checks
                    .iter()
                    .map(|c| serde_json::json!({ "ok": c.ok, "check": c.what }))
                    .collect();
                print_json(&serde_json::json!({ "valid": report.ok(), "checks": checks }))?;
            } else {
                for c in &report.checks {
                    println!("{} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
                }
                if let Some(m) = &report.manifest {
                    for a in &m.awaiting_share {
                        println!(
                            "note {} ({}) awaits a share by {}",
                            a.id,
                            a.document_type.as_str(),
                            a.requested_from
                                .iter()
                                .map(|p| p.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
            }
            if report.ok() {
                if !json {
                    println!("the dossier is intact");
                }
                Ok(())
            } else {
                anyhow::bail!("the dossier does NOT verify")
            }
        }
    }
}
