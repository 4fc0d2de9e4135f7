//! `ponte audit`: verify the whole log (operator, offline against the
//! database), keep a witness copy of the checkpoints, check one receipt's
//! inclusion, and report who read what about a person.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;

use super::{client, print_json, ClientArgs};
use crate::audit::access::AccessReport;
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle;
use crate::audit::verify;
use crate::client::Client;
use crate::config::Settings;
use crate::documents::receipt::{jwks_keys, Receipt};
use crate::http::audit::{ConsistencyProof, DocumentEvidence};
use crate::jose::Jwk;
use crate::storage::Db;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole log offline, against the configured database: every
    /// leaf, every checkpoint signature, every consistency.
    Verify {
        /// The broker's JWKS (default: the public half of the configured
        /// signing key).
        #[arg(long)]
        jwks: Option<PathBuf>,
    },
    /// The broker's newest signed checkpoint.
    Checkpoint {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Fetch and check the inclusion proof of a document's receipt.
    Proof {
        #[command(flatten)]
        client: ClientArgs,
        /// The receipt file (compact JWS) `ponte doc submit` saved.
        receipt: PathBuf,
    },
    /// Keep a copy of the broker's checkpoints and check each new one
    /// extends the last (a rewritten history shows as inconsistency).
    Witness {
        #[command(flatten)]
        client: ClientArgs,
        /// Where the last checkpoint seen is kept (default:
        /// DATA_DIR/witness/PARTY.checkpoint).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Who read what about a data subject, when, why, and with what outcome.
    Subject {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
        subject: String,
    },
}

pub async fn run(settings: &Settings, command: AuditCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { jwks } => verify_log(settings, jwks.as_deref(), json).await,
        AuditCommand::Checkpoint { client: args } => {
            let client = client(settings, &args)?;
            print!("{}", text(&client, "/v1/audit/checkpoint").await?);
            Ok(())
        }
        AuditCommand::Proof {
            client: args,
            receipt,
        } => proof(settings, &args, &receipt, json).await,
        AuditCommand::Witness {
            client: args,
            state,
        } => {
            let state = state.unwrap_or_else(|| {
                settings
                    .data_dir
                    .join("witness")
                    .join(format!("{}.checkpoint", args.as_party))
            });
            witness(settings, &args, &state, json).await
        }
        AuditCommand::Subject {
            client: args,
            case,
            subject,
        } => {
            let report: AccessReport = client(settings, &args)?
                .get(&format!("/v1/cases/{case}/subjects/{subject}/accesses"))
                .await?;
            if json {
                return print_json(&report);
            }
            print_report(&report);
            Ok(())
        }
    }
}

async fn text(client: &Client, path: &str) -> anyhow::Result<String> {
    let response = client.http().get(client.url(path)).send().await?;
    if !response.status().is_success() {
        return Err(crate::client::decode::<serde_json::Value>(response)
            .await
            .unwrap_err()
            .into());
    }
    Ok(response.text().await?)
}

/// The Ed25519 public keys of a JWKS.
fn ed25519_keys(jwks: &serde_json::Value) -> Vec<Vec<u8>> {
    jwks_keys(jwks)
        .iter()
        .filter(|k| k.crv == "Ed25519")
        .filter_map(|k| k.public_bytes().ok())
        .collect()
}

async fn broker_jwks(settings: &Settings, client: &Client) -> anyhow::Result<serde_json::Value> {
    let _ = settings;
    Ok(client.get("/.well-known/jwks.json").await?)
}

async fn verify_log(settings: &Settings, jwks: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let keys = match jwks {
        Some(path) => ed25519_keys(&serde_json::from_slice(
            &std::fs::read(path).with_context(|| path.display().to_string())?,
        )?),
        None => {
            let text = crate::secret::read_string(
                &settings.signing_key_file(),
                "set server.signing_key_file or pass --jwks",
            )?;
            vec![Jwk::parse(&text)?.public_bytes()?]
        }
    };
    let db = Db::open(settings).await?;
    let report = verify::verify(&db, &settings.audit.origin, &keys).await?;
    if json {
        let findings: Vec<_> = report
            .findings
            .iter()
            .map(|f| serde_json::json!({ "ok": f.ok, "finding": f.what }))
            .collect();
        print_json(&serde_json::json!({
            "valid": report.ok(), "leaves": report.leaves, "checkpoints": report.checkpoints, "findings": findings,
        }))?;
    } else {
        for f in &report.findings {
            println!("{} {}", if f.ok { "ok  " } else { "FAIL" }, f.what);
        }
        println!(
            "{} leaves, {} checkpoints",
            report.leaves, report.checkpoints
        );
    }
    if report.ok() {
        Ok(())
    } else {
        bail!("the audit log does NOT verify")
    }
}

async fn proof(
    settings: &Settings,
    args: &ClientArgs,
    path: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let client = client(settings, args)?;
    let jwks = broker_jwks(settings, &client).await?;
    let token = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let receipt = Receipt::verify(token.trim(), &jwks_keys(&jwks))
        .context("the receipt is not the broker's")?;
    let evidence: DocumentEvidence = client
        .get(&format!("/v1/documents/{}/evidence", receipt.document_id))
        .await?;
    let (checkpoint, _) = Checkpoint::parse_unverified(&evidence.checkpoint)?;
    let checkpoint = ed25519_keys(&jwks)
        .iter()
        .find_map(|k| Checkpoint::verify(&evidence.checkpoint, &checkpoint.origin, k).ok())
        .context("the checkpoint is not signed by the broker")?;
    let accepted = evidence
        .events
        .iter()
        .find(|e| e.action == "DocumentAccepted")
        .context("the log has no acceptance of this document")?;
    let leaf: serde_json::Value = serde_json::from_str(&accepted.leaf)?;
    let detail = &leaf["detail"];
    if leaf["resource"] != format!("document:{}", receipt.document_id)
        || detail["envelope_sha256"] != receipt.envelope_sha256
        || detail["manifest_sha256"] != receipt.manifest_sha256
    {
        bail!("the logged acceptance does not state what the receipt states");
    }
    let inclusion = accepted
        .inclusion
        .as_ref()
        .context("the acceptance is not in the log yet; retry in a moment")?;
    let path: Vec<merkle::Hash> = inclusion
        .proof
        .iter()
        .map(|h| merkle::parse_hex(h).context("a proof hash is not hex"))
        .collect::<anyhow::Result<_>>()?;
    let leaf_hash = merkle::leaf_hash(accepted.leaf.as_bytes());
    if inclusion.tree_size != checkpoint.size
        || !merkle::verify_inclusion(
            &leaf_hash,
            inclusion.leaf_index,
            checkpoint.size,
            &path,
            &checkpoint.root,
        )
    {
        bail!("the inclusion proof does NOT verify against the signed checkpoint");
    }
    if json {
        return print_json(&serde_json::json!({
            "document": receipt.document_id, "leaf_index": inclusion.leaf_index,
            "tree_size": checkpoint.size, "origin": checkpoint.origin, "valid": true,
        }));
    }
    println!(
        "ok   receipt of {} is signed by the broker",
        receipt.document_id
    );
    println!(
        "ok   its acceptance is leaf {} of {}, stating the receipt's hashes",
        inclusion.leaf_index, checkpoint.origin
    );
    println!(
        "ok   the leaf is included in the signed checkpoint of {} leaves ({} hashes)",
        checkpoint.size,
        path.len()
    );
    Ok(())
}

async fn witness(
    settings: &Settings,
    args: &ClientArgs,
    state: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let client = client(settings, args)?;
    let jwks = broker_jwks(settings, &client).await?;
    let keys = ed25519_keys(&jwks);
    // A fresh checkpoint: the broker integrates and signs what is new.
    let response = client
        .http()
        .post(client.url("/v1/audit/checkpoint"))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(crate::client::decode::<serde_json::Value>(response)
            .await
            .unwrap_err()
            .into());
    }
    let note = response.text().await?;
    let (unverified, _) = Checkpoint::parse_unverified(&note)?;
    let new = keys
        .iter()
        .find_map(|k| Checkpoint::verify(&note, &unverified.origin, k).ok())
        .context("the checkpoint is not signed by the broker")?;
    let mut verdict = format!("first checkpoint kept: {} leaves", new.size);
    if let Ok(old_note) = std::fs::read_to_string(state) {
        let old = keys
            .iter()
            .find_map(|k| Checkpoint::verify(&old_note, &new.origin, k).ok())
            .context("the kept checkpoint no longer verifies")?;
        if new.size < old.size {
            bail!(
                "INCONSISTENT: the log shrank from {} to {} leaves (a rewritten history)",
                old.size,
                new.size
            );
        }
        let proof: ConsistencyProof = client
            .get(&format!(
                "/v1/audit/consistency?from={}&to={}",
                old.size, new.size
            ))
            .await?;
        let hashes: Vec<merkle::Hash> = proof
            .proof
            .iter()
            .filter_map(|h| merkle::parse_hex(h))
            .collect();
        if !merkle::verify_consistency(old.size, new.size, &hashes, &old.root, &new.root) {
            bail!(
                "INCONSISTENT: the checkpoint of {} leaves does not extend the one of {} kept in {} (a forked or rewritten history)",
                new.size,
                old.size,
                state.display()
            );
        }
        verdict = format!(
            "consistent: {} leaves extend the {} seen before",
            new.size, old.size
        );
    }
    if let Some(dir) = state.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(state, &note)?;
    if json {
        return print_json(
            &serde_json::json!({ "size": new.size, "origin": new.origin, "verdict": verdict }),
        );
    }
    println!("{verdict} ({})", new.origin);
    Ok(())
}

fn print_report(report: &AccessReport) {
    println!(
        "Who read what about {} on case {} ({} documents)",
        report.subject,
        report.case,
        report.documents.len()
    );
    if report.accesses.is_empty() {
        println!("  nothing yet");
    }
    for a in &report.accesses {
        let what = match (a.action.as_str(), a.decision.as_str()) {
            ("DocumentAccepted", _) => "submitted",
            ("ReadDocument", "allow") => "read",
            ("ReadDocument", _) => "was REFUSED reading",
            ("ShareDocument", "allow") => "shared",
            ("ShareDocument", _) => "was REFUSED sharing",
            ("DossierRetrieved", _) => "received in a court dossier",
            _ => "touched",
        };
        println!(
            "  {}  {:<24} {} {} ({}) for {} [{}]{}{}",
            a.at,
            a.who.trim_start_matches("party:"),
            what,
            a.document,
            a.document_type,
            a.purpose.as_deref().unwrap_or("-"),
            a.basis.as_deref().unwrap_or("-"),
            a.consent_state
                .as_deref()
                .map(|s| format!(", consent {s}"))
                .unwrap_or_default(),
            a.leaf_index
                .map(|i| format!(", leaf {i}"))
                .unwrap_or_default(),
        );
    }
}
