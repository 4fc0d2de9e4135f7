//! Party client commands: they talk to a broker over mTLS as `--as PARTY`.

use super::{client, print_json, CaseCommand, ClientArgs};
use crate::cases::{Case, CaseSummary, Member};
use crate::config::Settings;
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
        CaseCommand::Erase { case, request } => {
            super::governance::erase(settings, &case, request, json).await
        }
    }
}
