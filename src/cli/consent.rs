//! Party client commands for data subjects and consent.

use clap::Subcommand;
use serde_json::{json, Value};

use super::{client, print_json, ClientArgs};
use crate::config::Settings;
use crate::http::consent::{ChangedConsent, ConsentDetail, RecordedConsent};

#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Add a data subject (a pseudonymous id, never a name) to a case.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
        /// `subj-…`
        #[arg(long)]
        id: String,
        /// child, mother, father, sibling, other_relative, other.
        #[arg(long)]
        relation: String,
        /// The party representing the subject (the guardian for the child).
        #[arg(long)]
        representative: Option<String>,
    },
    /// The data subjects of a case.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Record a consent collected from a data subject or their representative.
    Record {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
        #[arg(long)]
        subject: String,
        /// Consent-based purposes (repeatable).
        #[arg(long = "purpose", required = true)]
        purposes: Vec<String>,
        /// `role:<role>` or `party:<id>` (repeatable).
        #[arg(long = "recipient", required = true)]
        recipients: Vec<String>,
        /// Document types (repeatable).
        #[arg(long = "type", required = true)]
        document_types: Vec<String>,
        /// The person refused; no code is issued.
        #[arg(long)]
        refused: bool,
        /// `subject` or `representative`.
        #[arg(long, default_value = "subject")]
        given_by: String,
        #[arg(long)]
        valid_from: Option<String>,
        #[arg(long)]
        valid_until: Option<String>,
        #[arg(long)]
        notice_version: String,
        /// BCP 47 tag of the notice's language (`sq`, `it`…).
        #[arg(long)]
        notice_language: String,
        /// The signed consent-form document.
        #[arg(long)]
        evidence: String,
    },
    /// The consents of a case.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
    },
    /// A consent, its state now and its history.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        consent: String,
    },
    /// Withdraw on the person's behalf (collector), or revoke/invalidate (court).
    Change {
        #[command(flatten)]
        client: ClientArgs,
        consent: String,
        /// withdrawn, revoked or invalidated.
        #[arg(long)]
        state: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// The person withdraws with their one-time code (no party credentials).
    Withdraw {
        consent: String,
        #[arg(long)]
        code: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, env = "PONTE_BROKER", default_value = crate::client::DEFAULT_BROKER)]
        broker: String,
    },
}

pub async fn subject(
    settings: &Settings,
    command: SubjectCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        SubjectCommand::Add {
            client: args,
            case,
            id,
            relation,
            representative,
        } => {
            let body = json!({ "id": id, "relation": relation, "representative": representative });
            let added: Value = client(settings, &args)?
                .post(&format!("/v1/cases/{case}/subjects"), &body)
                .await?;
            if json {
                return print_json(&added);
            }
            println!(
                "{} added to {case} ({})",
                added["id"].as_str().unwrap_or_default(),
                added["relation"].as_str().unwrap_or_default()
            );
        }
        SubjectCommand::List { client: args, case } => {
            let subjects: Vec<Value> = client(settings, &args)?
                .get(&format!("/v1/cases/{case}/subjects"))
                .await?;
            if json {
                return print_json(&subjects);
            }
            for s in subjects {
                println!(
                    "{:<24} {:<15} {}",
                    s["id"].as_str().unwrap_or_default(),
                    s["relation"].as_str().unwrap_or_default(),
                    s["representative"].as_str().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

pub async fn consent(
    settings: &Settings,
    command: ConsentCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        ConsentCommand::Record {
            client: args,
            case,
            subject,
            purposes,
            recipients,
            document_types,
            refused,
            given_by,
            valid_from,
            valid_until,
            notice_version,
            notice_language,
            evidence,
        } => {
            let body = json!({
                "subject": subject,
                "state": if refused { "refused" } else { "given" },
                "given_by": given_by,
                "purposes": purposes,
                "recipients": recipients,
                "document_types": document_types,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "notice_version": notice_version,
                "notice_language": notice_language,
                "evidence": evidence,
            });
            let recorded: RecordedConsent = client(settings, &args)?
                .post(&format!("/v1/cases/{case}/consents"), &body)
                .await?;
            if json {
                return print_json(&recorded);
            }
            println!(
                "consent {} recorded: {}",
                recorded.consent.id, recorded.consent.state
            );
            if let Some(code) = &recorded.code {
                println!("one-time withdrawal code for the person (shown only now): {code}");
            }
            println!("consent receipt: {}", recorded.receipt);
        }
        ConsentCommand::List { client: args, case } => {
            let consents: Vec<Value> = client(settings, &args)?
                .get(&format!("/v1/cases/{case}/consents"))
                .await?;
            if json {
                return print_json(&consents);
            }
            for c in consents {
                println!(
                    "{} {:<20} {:<10} {}",
                    c["id"].as_str().unwrap_or_default(),
                    c["subject"].as_str().unwrap_or_default(),
                    c["state"].as_str().unwrap_or_default(),
                    c["purposes"]
                );
            }
        }
        ConsentCommand::Show {
            client: args,
            consent,
        } => {
            let detail: ConsentDetail = client(settings, &args)?
                .get(&format!("/v1/consents/{consent}"))
                .await?;
            if json {
                return print_json(&detail);
            }
            let c = &detail.consent;
            println!(
                "consent {} of {} on {}: {} now",
                c.id, c.subject, c.case, detail.state_now
            );
            println!(
                "  collected by {}, given by the {}",
                c.collector, c.given_by
            );
            let join = |items: Vec<String>| items.join(", ");
            println!(
                "  purposes       {}",
                join(c.purposes.iter().map(|p| p.to_string()).collect())
            );
            println!(
                "  recipients     {}",
                join(c.recipients.iter().map(|r| r.to_string()).collect())
            );
            println!(
                "  document types {}",
                join(c.document_types.iter().map(|t| t.to_string()).collect())
            );
            println!(
                "  valid from {} until {}",
                c.valid_from,
                c.valid_until.as_deref().unwrap_or("withdrawn")
            );
            println!(
                "  notice {} ({}), evidence {}",
                c.notice.version, c.notice.language, c.evidence
            );
            for change in &detail.history {
                println!(
                    "  v{} {} {} by {}{}",
                    change.version,
                    change.at,
                    change.state,
                    change.changed_by,
                    if change.on_behalf {
                        " on the person's behalf"
                    } else {
                        ""
                    }
                );
            }
        }
        ConsentCommand::Change {
            client: args,
            consent,
            state,
            reason,
        } => {
            let changed: ChangedConsent = client(settings, &args)?
                .post(
                    &format!("/v1/consents/{consent}/state"),
                    &json!({ "state": state, "reason": reason }),
                )
                .await?;
            print_change(&changed, json)?;
        }
        ConsentCommand::Withdraw {
            consent,
            code,
            reason,
            broker,
        } => {
            let changed: ChangedConsent =
                crate::client::Client::anonymous(&settings.data_dir, &broker)?
                    .post(
                        &format!("/v1/consents/{consent}/withdraw"),
                        &json!({ "code": code, "reason": reason }),
                    )
                    .await?;
            print_change(&changed, json)?;
        }
    }
    Ok(())
}

fn print_change(changed: &ChangedConsent, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(changed);
    }
    println!(
        "consent {} is now {}; {} withdrawal notice(s) sent",
        changed.consent.id,
        changed.consent.state,
        changed.notices.len()
    );
    println!("consent receipt: {}", changed.receipt);
    Ok(())
}
