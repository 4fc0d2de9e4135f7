//! Party client commands: they talk to a broker over mTLS as `--as PARTY`.

use super::{client, print_json, CaseCommand, ClientArgs};
use crate::cases::{Case, CaseSummary, Member};
use crate::config::Settings;
use crate::http::cases::Workflow;
use crate::http::directory::PartyView;

pub async fn me(settings: &Settings, args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    let me: PartyView = client(settings, args)?.get("/v1/me").await?;
    if json {
        return print_json(&me);
    }
    println!("{} ({}): {}", me.id, me.role, me.display_name);
    Ok(())
}

pub async fn directory(settings: &Settings, args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    let parties: Vec<PartyView> = client(settings, args)?.get("/v1/parties").await?;
    if json {
        return print_json(&parties);
    }
    for p in parties {
        println!("{:<24} {:<18} {}", p.id, p.role, p.display_name);
    }
    Ok(())
}

pub async fn case(settings: &Settings, command: CaseCommand, json: bool) -> anyhow::Result<()> {
    match command {
        CaseCommand::Open {
            client: args,
            country,
            ministry,
        } => {
            let body = serde_json::json!({ "country": country, "ministry": ministry });
            let case: Case = client(settings, &args)?.post("/v1/cases", &body).await?;
            if json {
                return print_json(&case);
            }
            println!("{}", case.id);
            Ok(())
        }
        CaseCommand::List { client: args } => {
            let cases: Vec<CaseSummary> = client(settings, &args)?.get("/v1/cases").await?;
            if json {
                return print_json(&cases);
            }
            for c in cases {
                println!(
                    "{}  {}  {:<22} {:<18} opened {}",
                    c.id,
                    c.country.as_str(),
                    c.state.as_str(),
                    c.my_role,
                    c.opened_at
                );
            }
            Ok(())
        }
        CaseCommand::Show { case, client: args } => {
            let case: Case = client(settings, &args)?
                .get(&format!("/v1/cases/{case}"))
                .await?;
            if json {
                return print_json(&case);
            }
            println!(
                "{}  country {}  state {}  opened by {} at {}",
                case.id,
                case.country.as_str(),
                case.state.as_str(),
                case.opened_by,
                case.opened_at
            );
            for m in case.members {
                println!(
                    "  {:<24} {:<18} attached by {} at {}",
                    m.party, m.role, m.attached_by, m.attached_at
                );
            }
            Ok(())
        }
        CaseCommand::Attach {
            case,
            party,
            client: args,
        } => {
            let body = serde_json::json!({ "party": party });
            let member: Member = client(settings, &args)?
                .post(&format!("/v1/cases/{case}/members"), &body)
                .await?;
            if json {
                return print_json(&member);
            }
            println!("{} attached to {case} as {}", member.party, member.role);
            Ok(())
        }
        CaseCommand::Move {
            case,
            to,
            document,
            client: args,
        } => {
            let step = client(settings, &args)?
                .transition(&case, &to, document.as_deref())
                .await?;
            if json {
                return print_json(&step);
            }
            println!(
                "{case}: {} -> {} by {} at {}{} ({})",
                step.from,
                step.to,
                step.actor,
                step.at,
                step.document
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default(),
                step.id
            );
            Ok(())
        }
        CaseCommand::History { case, client: args } => {
            let workflow: Workflow = client(settings, &args)?
                .get(&format!("/v1/cases/{case}/transitions"))
                .await?;
            if json {
                return print_json(&workflow);
            }
            for t in &workflow.transitions {
                println!(
                    "{}  {:<22} -> {:<22} by {:<18} {}",
                    t.at,
                    t.from.as_str(),
                    t.to.as_str(),
                    t.actor,
                    t.document.as_ref().map(|d| d.as_str()).unwrap_or("")
                );
            }
            let next: Vec<&str> = workflow.next.iter().map(|s| s.as_str()).collect();
            println!(
                "now {}; next: {}",
                workflow.state.as_str(),
                if next.is_empty() {
                    "nothing (closed)".to_owned()
                } else {
                    next.join(" | ")
                }
            );
            Ok(())
        }
        CaseCommand::Erase { case, request } => {
            super::governance::erase(settings, &case, request, json).await
        }
    }
}
