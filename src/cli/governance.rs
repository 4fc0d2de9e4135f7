//! Data-protection administration against the configured database: why a
//! policy decides as it does, reloading the policies of a running broker,
//! and erasing a case.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::json;

use super::print_json;
use crate::cases::{self, CaseId};
use crate::clock::{rfc3339, Clock, SystemClock};
use crate::config::Settings;
use crate::consent::{ConsentFacts, Purpose, SubjectConsents};
use crate::documents::erasure::{self, Ground};
use crate::documents::plan::{merge, receive_context};
use crate::documents::{store, DocumentId};
use crate::parties::{self, PartyId};
use crate::policy::{Action, DocumentFacts, PolicyEngine, Resource};
use crate::storage::{Db, Objects};

/// What `ponte policy explain` shows.
#[derive(Debug, Serialize)]
struct Explanation {
    allowed: bool,
    action: String,
    party: String,
    role: String,
    document: String,
    purpose: Purpose,
    policy_set: String,
    deciding_policies: Vec<DecidingPolicy>,
    consent: ConsentFacts,
    facts: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DecidingPolicy {
    id: String,
    text: String,
}

/// Explains the decision for `party` doing `action` on `document` for
/// `purpose`, with the consent facts as of now, in words a data-protection
/// officer can read.
pub async fn explain(
    settings: &Settings,
    party: &str,
    action: &str,
    document: &str,
    purpose: &str,
    json: bool,
) -> anyhow::Result<()> {
    let engine = PolicyEngine::load(&settings.policy.dir)
        .with_context(|| format!("policies in {}", settings.policy.dir.display()))?;
    let db = Db::open(settings).await?;
    let party_id = PartyId::parse(party)?;
    let party = parties::find(&db, &party_id)
        .await?
        .with_context(|| format!("no party {party_id}"))?;
    let purpose: Purpose = purpose.parse()?;
    let document_id = DocumentId::parse(document)?;
    let doc = store::find(&db, &document_id)
        .await?
        .with_context(|| format!("no document {document_id}"))?;
    let case = cases::facts(&db, &doc.case)
        .await?
        .with_context(|| format!("no case {}", doc.case))?;
    let now = rfc3339(SystemClock.now());
    let consent = SubjectConsents::load(&db, &doc.case, &doc.subjects)
        .await?
        .facts(purpose, doc.document_type, Some(&party), &now);
    let holder = store::recipients(&db, &doc.id)
        .await?
        .iter()
        .any(|r| r.party == party.id);
    let member = case.members.contains(&party.id);
    let document_facts = DocumentFacts {
        id: doc.id.to_string(),
        case: case.clone(),
        document_type: doc.document_type.as_str().to_owned(),
        purpose: doc.purpose.as_str().to_owned(),
        author: doc.author.to_string(),
    };
    let (action, resource, context) = match action {
        "ReadDocument" => {
            let mut context = json!({ "purpose": purpose.as_str(), "is_recipient": holder });
            merge(&mut context, consent.context());
            (
                Action::ReadDocument,
                Resource::Document(&document_facts),
                context,
            )
        }
        "ReceiveDocument" => (
            Action::ReceiveDocument,
            Resource::Case(&case),
            receive_context(doc.document_type, purpose, &consent),
        ),
        other => bail!("explain covers ReadDocument and ReceiveDocument, not {other:?}"),
    };
    let decision = engine.decide(&party, action, &resource, context)?;
    let explanation = Explanation {
        allowed: decision.allowed,
        action: action.name().to_owned(),
        party: party.id.to_string(),
        role: party.role.to_string(),
        document: doc.id.to_string(),
        purpose,
        policy_set: engine.version().to_owned(),
        deciding_policies: decision
            .policy_ids
            .iter()
            .map(|id| DecidingPolicy {
                id: id.clone(),
                text: engine.policy_text(id).unwrap_or_default(),
            })
            .collect(),
        facts: vec![
            format!(
                "document {} is a {} of case {} ({}), written by {} for {}",
                doc.id,
                doc.document_type,
                case.id,
                case.state.as_str(),
                doc.author,
                doc.purpose
            ),
            format!(
                "{} ({}) {} a member of the case and {} a recipient entry of the document",
                party.id,
                party.role,
                if member { "is" } else { "is not" },
                if holder { "holds" } else { "does not hold" }
            ),
            format!(
                "{} is {}",
                party.id,
                if party.is_active() {
                    "active"
                } else {
                    "disabled"
                }
            ),
        ],
        consent,
    };
    if json {
        return print_json(&explanation);
    }
    print_explanation(&explanation);
    Ok(())
}

fn print_explanation(e: &Explanation) {
    println!(
        "{}: {} {} document {} for {}",
        if e.allowed { "ALLOWED" } else { "DENIED" },
        e.party,
        match e.action.as_str() {
            "ReadDocument" => "reading",
            _ => "receiving",
        },
        e.document,
        e.purpose
    );
    println!("(policy set {})", e.policy_set);
    println!("\nFacts");
    for fact in &e.facts {
        println!("  - {fact}");
    }
    println!("\nConsent");
    for line in e.consent.describe() {
        println!("  - {line}");
    }
    println!("\nDeciding policies");
    if e.deciding_policies.is_empty() {
        println!("  none: no policy permits this, so it is refused");
    }
    for p in &e.deciding_policies {
        println!("  {}:", p.id);
        for line in p.text.lines() {
            println!("      {line}");
        }
    }
}

/// Validates the policy folder, then asks the running broker (by its pid
/// file) to reload it. An invalid set is reported here and never sent.
pub fn reload(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let engine = PolicyEngine::load(&settings.policy.dir).with_context(|| {
        format!(
            "policies in {} are not valid; the broker keeps the set in force",
            settings.policy.dir.display()
        )
    })?;
    let pid_file = pid_file(settings);
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("no running broker: cannot read {}", pid_file.display()))?;
    let pid: u32 = pid
        .trim()
        .parse()
        .with_context(|| format!("{} does not hold a process id", pid_file.display()))?;
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("process {pid} did not take the signal; is the broker running?");
    }
    if json {
        return print_json(&json!({ "version": engine.version(), "pid": pid }));
    }
    println!(
        "policy set {} is valid; broker {pid} asked to reload it (its log and audit trail record the result)",
        engine.version()
    );
    Ok(())
}

/// Where `ponte serve` records its process id.
pub fn pid_file(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("ponte.pid")
}

/// Erases a case on the operator's command, with the same checks as the
/// retention sweep (or, with `request`, those of an erasure request).
pub async fn erase(
    settings: &Settings,
    case: &str,
    request: bool,
    json: bool,
) -> anyhow::Result<()> {
    let db = Db::open(settings).await?;
    let objects = Objects::open(settings).context("cannot open the object store")?;
    let case = CaseId::parse(case)?;
    let facts = cases::facts(&db, &case)
        .await?
        .with_context(|| format!("no case {case}"))?;
    let ground = if request {
        Ground::Request
    } else {
        Ground::RetentionPassed
    };
    let now = SystemClock.now();
    if let Some(refused) = erasure::refusal(
        &db,
        &case,
        facts.state,
        ground,
        &settings.documents.retention(),
        now,
    )
    .await?
    {
        bail!("case {case} is not erased: {refused}");
    }
    let erased =
        erasure::unchecked_erase(&db, &objects, &case, ground, "operator", &rfc3339(now)).await?;
    if json {
        return print_json(&erased);
    }
    println!(
        "case {} erased ({}): content key destroyed, {} objects deleted, {} documents now hashes and receipts only",
        erased.case,
        ground.as_str(),
        erased.objects_deleted,
        erased.documents
    );
    Ok(())
}

/// Writes the pid file for `ponte serve`; removed when the guard drops.
pub struct PidFile(std::path::PathBuf);

impl PidFile {
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        std::fs::write(path, std::process::id().to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
