//! Document commands: the party signs and encrypts locally; the broker only
//! ever sees the manifest and the ciphertext.

use std::path::Path;

use anyhow::{bail, Context};

use super::{client, print_json, DocCommand};
use crate::cases::CaseId;
use crate::client::Client;
use crate::config::Settings;
use crate::consent::Purpose;
use crate::documents::party::{self, Draft};
use crate::documents::receipt::{jwks_keys, Receipt};
use crate::documents::store::DocumentView;
use crate::documents::{DocumentId, SubjectId};
use crate::init::PartyFiles;
use crate::jose::{Jwk, KeyUse};
use crate::secret;

/// A one-line progress report on standard error, shown only on a terminal.
struct Progress {
    label: &'static str,
    shown: bool,
    last: std::time::Instant,
}

impl Progress {
    fn new(label: &'static str) -> Progress {
        Progress {
            label,
            shown: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            last: std::time::Instant::now(),
        }
    }

    fn update(&mut self, done: u64, total: Option<u64>) {
        if !self.shown || (self.last.elapsed().as_millis() < 200 && Some(done) != total) {
            return;
        }
        self.last = std::time::Instant::now();
        let mib = |b: u64| b as f64 / 1_048_576.0;
        match total {
            Some(total) if total > 0 => eprint!(
                "\r{} {:.1} / {:.1} MiB ({:.0}%)   ",
                self.label,
                mib(done),
                mib(total),
                done as f64 * 100.0 / total as f64
            ),
            _ => eprint!("\r{} {:.1} MiB   ", self.label, mib(done)),
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// The envelope as a request body in 1 MiB pieces, reporting progress.
fn body_with_progress(envelope: Vec<u8>) -> reqwest::Body {
    let total = envelope.len() as u64;
    let envelope = bytes::Bytes::from(envelope);
    let mut progress = Progress::new("sending");
    let pieces: Vec<bytes::Bytes> = (0..envelope.len())
        .step_by(1 << 20)
        .map(|start| envelope.slice(start..(start + (1 << 20)).min(envelope.len())))
        .collect();
    let mut sent = 0u64;
    let stream = futures::stream::iter(pieces.into_iter().map(move |piece| {
        sent += piece.len() as u64;
        progress.update(sent, Some(total));
        if sent == total {
            progress.finish();
        }
        Ok::<_, std::io::Error>(piece)
    }));
    reqwest::Body::wrap_stream(stream)
}

/// The party's private keys of one use: the current one, then retired ones.
fn own_keys(settings: &Settings, party: &str, key_use: KeyUse) -> anyhow::Result<Vec<Jwk>> {
    let files = PartyFiles::new(&settings.data_dir, party);
    let current = match key_use {
        KeyUse::Sign => files.sign_jwk(),
        KeyUse::Encrypt => files.enc_jwk(),
    };
    let mut keys = vec![
        Jwk::parse(&secret::read_string(&current, "run `ponte init`")?)
            .with_context(|| current.display().to_string())?,
    ];
    if let Ok(entries) = std::fs::read_dir(files.dir.join("retired")) {
        for entry in entries.flatten() {
            if let Ok(text) = secret::read_string(&entry.path(), "") {
                if let Ok(key) = Jwk::parse(&text) {
                    if key.key_use == key_use {
                        keys.push(key);
                    }
                }
            }
        }
    }
    Ok(keys)
}

/// A party's public signing keys (active and retired) from the directory.
async fn author_keys(client: &Client, party: &str) -> anyhow::Result<Vec<Jwk>> {
    let jwks: serde_json::Value = client
        .get(&format!("/v1/parties/{party}/jwks.json"))
        .await?;
    Ok(jwks_keys(&jwks)
        .into_iter()
        .filter(|k| k.key_use == KeyUse::Sign)
        .collect())
}

pub async fn doc(settings: &Settings, command: DocCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DocCommand::Submit {
            client: args,
            case,
            document_type,
            purpose,
            subjects,
            supersedes,
            agreement,
            media_type,
            id,
            receipt_out,
            file,
        } => {
            let client = client(settings, &args)?;
            let draft = Draft {
                document_id: match id {
                    Some(id) => DocumentId::parse(&id)?,
                    None => DocumentId::generate(),
                },
                case: CaseId::parse(&case)?,
                document_type: document_type.parse()?,
                purpose: purpose.parse::<Purpose>()?,
                subjects: subjects
                    .iter()
                    .map(|s| SubjectId::parse(s))
                    .collect::<Result<_, _>>()?,
                supersedes: supersedes.map(|s| DocumentId::parse(&s)).transpose()?,
                media_type,
            };
            let subject_ids: Vec<&str> = subjects.iter().map(String::as_str).collect();
            let plan = client
                .plan(&case, &document_type, &purpose, &subject_ids)
                .await?;
            let keys: Vec<Jwk> = plan
                .recipients
                .iter()
                .flat_map(|p| p.keys.iter())
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .collect();
            if keys.is_empty() {
                bail!("nobody may receive a {document_type} for {purpose} on {case} now");
            }
            let document = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let signing = own_keys(settings, &args.as_party, KeyUse::Sign)?.remove(0);
            let prepared = party::prepare(&document, &draft, &signing, &keys)?;
            let (status, answer) = client
                .submit_with_agreement(
                    &case,
                    &prepared.manifest_token,
                    body_with_progress(prepared.envelope),
                    agreement.as_deref(),
                )
                .await?;
            let receipt_path = receipt_out.unwrap_or_else(|| {
                let mut name = file.clone().into_os_string();
                name.push(".receipt.jws");
                name.into()
            });
            std::fs::write(&receipt_path, format!("{}\n", answer.receipt))
                .with_context(|| receipt_path.display().to_string())?;
            if json {
                return print_json(&answer);
            }
            let how = if status == 201 {
                "submitted"
            } else {
                "already submitted (same bytes); original receipt"
            };
            println!("{} {how}", answer.document.id);
            match answer.leaf_index {
                Some(leaf) => {
                    println!("  evidence: leaf {leaf} of the audit log (ponte audit proof RECEIPT)")
                }
                None => println!(
                    "  evidence: its acceptance joins the audit log within moments (ponte audit proof RECEIPT)"
                ),
            }
            println!(
                "  to {}",
                plan.recipients
                    .iter()
                    .map(|p| p.party.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("  receipt saved to {}", receipt_path.display());
            Ok(())
        }
        DocCommand::Fetch {
            client: args,
            purpose,
            document,
            output,
            envelope,
        } => {
            let client = client(settings, &args)?;
            let mut progress = Progress::new("receiving");
            let fetched = client
                .envelope_with_progress(&document, &purpose, |done, total| {
                    progress.update(done, total)
                })
                .await?;
            progress.finish();
            if let Some(path) = &envelope {
                std::fs::write(path, &fetched.envelope)
                    .with_context(|| path.display().to_string())?;
            }
            let author = manifest_author(&client, &fetched.receipt).await?;
            let author_keys = author_keys(&client, &author).await?;
            let my_keys = own_keys(settings, &args.as_party, KeyUse::Encrypt)?;
            let opened = party::open(
                &fetched.envelope,
                &fetched.manifest,
                &author,
                &author_keys,
                &my_keys,
            )?;
            if opened.manifest.document_id.as_str() != document {
                bail!(
                    "the broker answered another document ({})",
                    opened.manifest.document_id
                );
            }
            std::fs::write(&output, &opened.plaintext)
                .with_context(|| output.display().to_string())?;
            if json {
                return print_json(&serde_json::json!({
                    "document": document,
                    "author": author,
                    "media_type": opened.media_type,
                    "bytes": opened.plaintext.len(),
                    "as_submitted": opened.as_submitted,
                    "manifest": opened.manifest,
                }));
            }
            println!(
                "{document}: {} bytes ({}) signed by {author}, written to {}",
                opened.plaintext.len(),
                opened.media_type.as_deref().unwrap_or("unknown type"),
                output.display()
            );
            Ok(())
        }
        DocCommand::Share {
            client: args,
            document,
            party,
            purpose,
            read_purpose,
        } => {
            let client = client(settings, &args)?;
            let read_purpose = read_purpose.unwrap_or_else(|| purpose.clone());
            let fetched = client.envelope(&document, &read_purpose).await?;
            let jwks: serde_json::Value = client
                .get(&format!("/v1/parties/{party}/jwks.json"))
                .await?;
            let targets: Vec<Jwk> = jwks_keys(&jwks)
                .into_iter()
                .filter(|k| k.key_use == KeyUse::Encrypt)
                .collect();
            if targets.is_empty() {
                bail!("{party} has no active encryption key");
            }
            let mine = own_keys(settings, &args.as_party, KeyUse::Encrypt)?;
            let mut answers = Vec::new();
            for target in &targets {
                let entry = party::share_entry(&fetched.envelope, &mine, target)?;
                answers.push(client.share(&document, &party, &purpose, &entry).await?);
            }
            if json {
                return print_json(&answers);
            }
            for answer in answers {
                println!(
                    "{} shared with {} (key {})",
                    answer.document, answer.party, answer.kid
                );
            }
            Ok(())
        }
        DocCommand::List { client: args, case } => {
            let docs: Vec<DocumentView> = client(settings, &args)?
                .get(&format!("/v1/cases/{case}/documents"))
                .await?;
            if json {
                return print_json(&docs);
            }
            for d in docs {
                let current = if d.current { "" } else { "  (superseded)" };
                println!(
                    "{}  {:<18} by {:<18} {} {:>10} bytes  {}{current}",
                    d.id,
                    d.document_type.as_str(),
                    d.author.as_str(),
                    d.received_at,
                    d.size,
                    d.purpose
                );
            }
            Ok(())
        }
    }
}

/// The submitter named by the broker's receipt, checked against the broker's keys.
async fn manifest_author(client: &Client, receipt: &str) -> anyhow::Result<String> {
    let jwks: serde_json::Value = client.get("/.well-known/jwks.json").await?;
    let receipt = Receipt::verify(receipt, &jwks_keys(&jwks))
        .context("the broker's receipt does not verify")?;
    Ok(receipt.submitter)
}

pub async fn verify_receipt(
    settings: &Settings,
    path: &Path,
    jwks: Option<&Path>,
    broker: &str,
    json: bool,
) -> anyhow::Result<()> {
    let token = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let jwks: serde_json::Value = match jwks {
        Some(file) => serde_json::from_slice(
            &std::fs::read(file).with_context(|| file.display().to_string())?,
        )?,
        None => {
            Client::anonymous(&settings.data_dir, broker)?
                .get("/.well-known/jwks.json")
                .await?
        }
    };
    let receipt = Receipt::verify(token.trim(), &jwks_keys(&jwks))
        .context("receipt does not verify against the broker's keys")?;
    if json {
        return print_json(&receipt);
    }
    println!(
        "valid receipt: {} on {} submitted by {} at {} (envelope sha256 {}, {} bytes)",
        receipt.document_id,
        receipt.case,
        receipt.submitter,
        receipt.received_at,
        receipt.envelope_sha256,
        receipt.size
    );
    Ok(())
}
