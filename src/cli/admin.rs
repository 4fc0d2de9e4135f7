//! Server and administrative commands: they act on the configured database
//! and data directory directly (the operator's authority), never over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use super::{print_json, PartyCommand};
use crate::app::{self, App};
use crate::clock::{rfc3339, Clock, SystemClock};
use crate::config::Settings;
use crate::http::directory::{KeyView, PartyDetail, PartyView};
use crate::init::{self, PartyFiles};
use crate::jose::{Jwk, KeyUse};
use crate::parties::{self, parse_display_name, PartyId, Registration, Role};
use crate::pki::{self, DevCa};
use crate::policy::PolicyEngine;
use crate::secret;
use crate::storage::Db;

pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = App::build(settings, Arc::new(SystemClock)).await?;
    let _pid = super::governance::PidFile::create(&super::governance::pid_file(settings))?;
    app.run(app::shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

pub async fn init(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let db = Db::open(settings).await?;
    let report = init::run(settings, &db, &now()).await?;
    if json {
        return print_json(&serde_json::json!({
            "data_dir": settings.data_dir,
            "created": report.created,
            "registered": report.registered,
        }));
    }
    if report.changed_anything() {
        println!(
            "Development PKI and demo parties in {} (for development only):",
            settings.data_dir.display()
        );
        for path in &report.created {
            println!("  created    {}", path.display());
        }
        for party in &report.registered {
            println!("  registered {party}");
        }
    } else {
        println!(
            "{} is complete; nothing was changed.",
            settings.data_dir.display()
        );
    }
    Ok(())
}

pub fn config_check(settings: &Settings) -> anyhow::Result<()> {
    print!("{}", settings.redacted_toml());
    Ok(())
}

pub fn policy_check(dir: &Path, json: bool) -> anyhow::Result<()> {
    let engine =
        PolicyEngine::load(dir).with_context(|| format!("policies in {}", dir.display()))?;
    if json {
        print_json(&serde_json::json!({ "valid": true, "version": engine.version() }))
    } else {
        println!(
            "{}: valid against the schema (policy set {})",
            dir.display(),
            engine.version()
        );
        Ok(())
    }
}

pub async fn party(settings: &Settings, command: PartyCommand, json: bool) -> anyhow::Result<()> {
    let db = Db::open(settings).await?;
    match command {
        PartyCommand::Add {
            id,
            role,
            name,
            cert,
            sign_jwk,
            enc_jwk,
        } => {
            let id = PartyId::parse(&id)?;
            let role: Role = role.parse()?;
            let name = parse_display_name(&name)?;
            let registration = match (cert, sign_jwk, enc_jwk) {
                (Some(cert), Some(sign), Some(enc)) => {
                    let certs = pki::read_certs(&cert)?;
                    let keys = vec![
                        public_key(&sign, KeyUse::Sign)?,
                        public_key(&enc, KeyUse::Encrypt)?,
                    ];
                    Registration {
                        id: id.clone(),
                        role,
                        display_name: name,
                        certificates: certs
                            .first()
                            .map(|c| vec![pki::fingerprint(c)])
                            .unwrap_or_default(),
                        keys,
                    }
                }
                _ => {
                    if parties::find(&db, &id).await?.is_some() {
                        bail!("party {id} already exists");
                    }
                    let ca = DevCa::load(&settings.data_dir)?;
                    let files = PartyFiles::new(&settings.data_dir, id.as_str());
                    init::ensure_party_files(&ca, &files, &id)?;
                    init::registration_from_files(&files, id.clone(), role, name)?
                }
            };
            parties::unchecked_register(&db, &registration, &now()).await?;
            show(&db, &id, json).await
        }
        PartyCommand::List => {
            let all = parties::list(&db).await?;
            if json {
                return print_json(&all.iter().map(PartyView::from).collect::<Vec<_>>());
            }
            for p in all {
                println!(
                    "{:<24} {:<18} {:<9} {}",
                    p.id,
                    p.role,
                    p.status.as_str(),
                    p.display_name
                );
            }
            Ok(())
        }
        PartyCommand::Show { id } => show(&db, &PartyId::parse(&id)?, json).await,
        PartyCommand::Disable { id } => {
            let id = PartyId::parse(&id)?;
            parties::unchecked_disable(&db, &id, &now()).await?;
            show(&db, &id, json).await
        }
        PartyCommand::RotateKeys {
            id,
            sign_jwk,
            enc_jwk,
        } => {
            let id = PartyId::parse(&id)?;
            match (sign_jwk, enc_jwk) {
                (Some(sign), Some(enc)) => {
                    let keys = [
                        public_key(&sign, KeyUse::Sign)?,
                        public_key(&enc, KeyUse::Encrypt)?,
                    ];
                    parties::unchecked_rotate_keys(&db, &id, &keys, &now()).await?;
                }
                _ => rotate_local_keys(&db, settings, &id).await?,
            }
            show(&db, &id, json).await
        }
    }
}

/// Generates new keys into the party's folder: written aside first, the
/// database records the rotation, then the files take their places and the
/// old private keys move to `retired/` (so old envelopes stay readable).
async fn rotate_local_keys(db: &Db, settings: &Settings, id: &PartyId) -> anyhow::Result<()> {
    let files = PartyFiles::new(&settings.data_dir, id.as_str());
    if !files.sign_jwk().exists() {
        bail!(
            "no local keys for {id} in {}; pass the new public keys with --sign-jwk and --enc-jwk",
            files.dir.display()
        );
    }
    let new = [Jwk::generate_ed25519()?, Jwk::generate_x25519()?];
    let staged: Vec<(PathBuf, PathBuf, &Jwk)> = vec![
        (files.sign_jwk(), files.dir.join("sign.jwk.new"), &new[0]),
        (files.enc_jwk(), files.dir.join("enc.jwk.new"), &new[1]),
    ];
    for (_, aside, key) in &staged {
        let _ = std::fs::remove_file(aside);
        secret::create(aside, key.to_json().as_bytes())?;
    }
    let public: Vec<Jwk> = new.iter().map(Jwk::public).collect();
    parties::unchecked_rotate_keys(db, id, &public, &now()).await?;
    let retired = files.dir.join("retired");
    std::fs::create_dir_all(&retired)?;
    for (current, aside, _) in &staged {
        if let Ok(old) = Jwk::parse(&secret::read_string(current, "")?) {
            let name = format!("{}-{}.jwk", old.key_use.as_str(), old.kid);
            std::fs::rename(current, retired.join(name))?;
        }
        std::fs::rename(aside, current)?;
    }
    Ok(())
}

fn public_key(path: &Path, expected: KeyUse) -> anyhow::Result<Jwk> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let jwk = Jwk::parse_public(&text).with_context(|| path.display().to_string())?;
    if jwk.key_use != expected {
        bail!(
            "{}: expected a key with use {:?}",
            path.display(),
            expected.as_str()
        );
    }
    Ok(jwk)
}

async fn show(db: &Db, id: &PartyId, json: bool) -> anyhow::Result<()> {
    let party = parties::find(db, id)
        .await?
        .ok_or_else(|| parties::PartyError::NotFound(id.clone()))?;
    let keys = parties::keys(db, id).await?;
    let detail = PartyDetail {
        party: PartyView::from(&party),
        keys: keys.into_iter().map(KeyView::from).collect(),
    };
    if json {
        return print_json(&detail);
    }
    println!(
        "{} ({}, {}): {}",
        party.id,
        party.role,
        party.status.as_str(),
        party.display_name
    );
    for key in detail.keys {
        let status = serde_json::to_value(key.status)?;
        println!(
            "  {} {:<3} {:<7} since {}",
            key.kid,
            key.key_use,
            status.as_str().unwrap_or_default(),
            key.created_at
        );
    }
    Ok(())
}

fn now() -> String {
    rfc3339(SystemClock.now())
}
