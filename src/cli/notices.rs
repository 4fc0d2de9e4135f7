//! Party client commands for notices: the inbox, reading and acknowledging,
//! a case's notices (the ministry), and the webhook notices are pushed to.

use clap::Subcommand;
use serde_json::json;

use super::{client, print_json, ClientArgs};
use crate::config::Settings;
use crate::documents::receipt::jwks_keys;
use crate::jose::Jwk;
use crate::notices::{InboxNotice, InboxPage, Notice, NoticeKind, Webhook};

#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only notices of this kind (withdrawal, return_notice, state_change,
    /// share_request, correction).
    #[arg(long)]
    pub kind: Option<String>,
    /// Notices per page.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Every page, not just the newest.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Your inbox, newest first (the same as `ponte inbox`).
    List(InboxArgs),
    /// Read a notice (the reading is recorded).
    Read {
        #[command(flatten)]
        client: ClientArgs,
        notice: String,
    },
    /// Acknowledge a notice (for a withdrawal: you deleted what it lists).
    Ack {
        #[command(flatten)]
        client: ClientArgs,
        notice: String,
    },
    /// Every notice of a case, outstanding acknowledgements first (ministry).
    Case {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
    },
    /// Push your notices to a URL (https, or http to a loopback address).
    Webhook {
        #[command(flatten)]
        client: ClientArgs,
        /// The URL; with none, shows the current one.
        url: Option<String>,
        /// Stop pushing; the inbox keeps every notice.
        #[arg(long, conflicts_with = "url")]
        remove: bool,
    },
}

/// `ponte inbox`: the party's notices, checked against the broker's keys.
pub async fn inbox(settings: &Settings, args: InboxArgs, json: bool) -> anyhow::Result<()> {
    let client = client(settings, &args.client)?;
    let keys = broker_keys(&client).await?;
    let mut notices = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/notices?limit={}", args.limit);
        if let Some(kind) = &args.kind {
            path.push_str(&format!("&kind={kind}"));
        }
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: InboxPage = client.get(&path).await?;
        notices.extend(page.notices);
        match page.next {
            Some(next) if args.all => cursor = Some(next),
            _ => break,
        }
    }
    if json {
        return print_json(&notices);
    }
    if notices.is_empty() {
        println!("no notices for {}", args.client.as_party);
    }
    for n in &notices {
        println!("{}", line(n, &keys));
    }
    Ok(())
}

pub async fn run(settings: &Settings, command: NoticeCommand, json: bool) -> anyhow::Result<()> {
    match command {
        NoticeCommand::List(args) => inbox(settings, args, json).await,
        NoticeCommand::Read {
            client: args,
            notice,
        } => {
            let client = client(settings, &args)?;
            let n: InboxNotice = client.get(&format!("/v1/notices/{notice}")).await?;
            show(&client, &[n], json, true).await
        }
        NoticeCommand::Ack {
            client: args,
            notice,
        } => {
            let client = client(settings, &args)?;
            let n: InboxNotice = client
                .post(&format!("/v1/notices/{notice}/ack"), &json!({}))
                .await?;
            show(&client, &[n], json, false).await
        }
        NoticeCommand::Case { client: args, case } => {
            let client = client(settings, &args)?;
            let list: Vec<InboxNotice> = client.get(&format!("/v1/cases/{case}/notices")).await?;
            show(&client, &list, json, false).await
        }
        NoticeCommand::Webhook {
            client: args,
            url,
            remove,
        } => {
            let client = client(settings, &args)?;
            if remove {
                let response = client
                    .http()
                    .delete(client.url("/v1/me/webhook"))
                    .send()
                    .await?;
                crate::client::decode::<serde_json::Value>(response)
                    .await
                    .or_else(|e| {
                        if e.status() == Some(204) {
                            Ok(serde_json::Value::Null)
                        } else {
                            Err(e)
                        }
                    })?;
                println!("notices of {} are no longer pushed", args.as_party);
                return Ok(());
            }
            let hook: Webhook = match url {
                Some(url) => {
                    client
                        .put_json("/v1/me/webhook", &json!({ "url": url }))
                        .await?
                }
                None => client.get("/v1/me/webhook").await?,
            };
            if json {
                return print_json(&hook);
            }
            println!(
                "notices of {} are pushed to {} (since {})",
                hook.party, hook.url, hook.set_at
            );
            Ok(())
        }
    }
}

async fn show(
    client: &crate::client::Client,
    notices: &[InboxNotice],
    json: bool,
    with_token: bool,
) -> anyhow::Result<()> {
    if json {
        return print_json(&notices);
    }
    let keys = broker_keys(client).await?;
    for n in notices {
        println!("{}", line(n, &keys));
        if with_token {
            println!("signed notice: {}", n.notice);
        }
    }
    Ok(())
}

async fn broker_keys(client: &crate::client::Client) -> anyhow::Result<Vec<Jwk>> {
    let jwks: serde_json::Value = client.get("/.well-known/jwks.json").await?;
    Ok(jwks_keys(&jwks))
}

/// One readable line: when, what, about which case, and where it stands.
fn line(n: &InboxNotice, keys: &[Jwk]) -> String {
    let what = describe(n, keys);
    let status = match (&n.acknowledged_at, &n.read_at) {
        (Some(at), _) => format!("acknowledged {at}"),
        (None, Some(at)) => format!("read {at}"),
        (None, None) => "unread".into(),
    };
    let case = n.case.as_ref().map(|c| c.as_str()).unwrap_or("-");
    format!(
        "{} {} {:<13} {case}: {what} [{status}]",
        n.created_at,
        n.id,
        n.kind.as_str()
    )
}

fn describe(n: &InboxNotice, keys: &[Jwk]) -> String {
    if n.kind == NoticeKind::Withdrawal {
        return match crate::consent::receipt::WithdrawalNotice::verify(&n.notice, keys) {
            Ok(w) => format!(
                "consent {} of {} is {}: delete {}",
                w.consent,
                w.subject,
                w.state,
                w.documents
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!("SIGNATURE NOT VALID: {e}"),
        };
    }
    let notice = match Notice::verify(&n.notice, keys) {
        Ok(notice) => notice,
        Err(e) => return format!("SIGNATURE NOT VALID: {e}"),
    };
    let field = |name: &str| notice.field(name).unwrap_or("?").to_owned();
    match notice.kind {
        NoticeKind::StateChange => format!(
            "case moved {} -> {} by {}",
            field("from"),
            field("to"),
            field("by")
        ),
        NoticeKind::ReturnNotice => format!(
            "return scheduled by {}; the return notice is document {}",
            field("by"),
            field("document")
        ),
        NoticeKind::ShareRequest => format!(
            "share document {} ({}) with {}: the court is entitled to it",
            field("document"),
            field("document_type"),
            field("court")
        ),
        NoticeKind::Correction => format!(
            "document {} was corrected by {} ({}): replace it",
            field("corrected"),
            field("document"),
            field("agreement")
        ),
        NoticeKind::Withdrawal => String::new(),
    }
}
