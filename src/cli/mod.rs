//! The `ponte` command line: the server, administration against the
//! configured database, and party client commands against a broker.

mod admin;
mod audit;
mod consent;
mod docs;
mod dossier;
mod governance;
mod notices;
mod party_client;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;

/// Ponte: secure document exchange and consent broker for family tracing.
#[derive(Debug, Parser)]
#[command(name = "ponte", version, about)]
pub struct Cli {
    /// Configuration file (default: ./ponte.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: credentials, embedded database, local objects.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker (creates the development PKI on first start).
    Serve,
    /// Create the development PKI, broker keys and demo parties (never overwrites a key).
    Init,
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The party registry (administration, against the configured database).
    #[command(subcommand)]
    Party(PartyCommand),
    /// The purposes of processing and their lawful bases.
    Purposes,
    /// Who am I, as the broker sees the given party.
    Me(ClientArgs),
    /// The party directory as published by the broker.
    Directory(ClientArgs),
    /// Cases (party client).
    #[command(subcommand)]
    Case(CaseCommand),
    /// Documents: submit, fetch, share, list (party client).
    #[command(subcommand)]
    Doc(DocCommand),
    /// Receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Data subjects of a case (party client).
    #[command(subcommand)]
    Subject(consent::SubjectCommand),
    /// Consent records: record, list, show, change; the person's withdrawal by code.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Run one whole case, request to reintegration, and print its
    /// timeline; fails if any step does not behave as described.
    Demo {
        /// A running broker to use (default: the one at the default address
        /// if it answers, or else one started for the demo).
        #[arg(long)]
        broker: Option<String>,
    },
    /// The tamper-evident evidence log: verify, witness, proofs, who read what.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Decision dossiers: a court downloads one; anyone verifies one offline.
    #[command(subcommand)]
    Dossier(dossier::DossierCommand),
    /// Your notices, newest first: return notices, withdrawals, state
    /// changes, share requests, corrections.
    Inbox(notices::InboxArgs),
    /// Notices: read, acknowledge, a case's (ministry), your webhook.
    #[command(subcommand)]
    Notices(notices::NoticeCommand),
}

#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Sign, encrypt to the recipient plan, and submit a file; saves the receipt.
    Submit {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
        /// Document type (e.g. family_assessment).
        #[arg(long = "type")]
        document_type: String,
        /// Purpose of collection (e.g. best_interest_assessment).
        #[arg(long)]
        purpose: String,
        /// Pseudonymous data-subject ids the document is about (repeatable).
        #[arg(long = "subject")]
        subjects: Vec<String>,
        /// The document this one supersedes.
        #[arg(long)]
        supersedes: Option<String>,
        /// For a correction, the agreement of the person concerned:
        /// `through=mission; subject=subj-…` (a mission), or
        /// `through=consent_code; subject=subj-…; consent=cons-…; code=…`.
        #[arg(long)]
        agreement: Option<String>,
        /// Media type of the file.
        #[arg(long, default_value = "application/octet-stream")]
        media_type: String,
        /// Document id (default: a new random id); reuse it to retry safely.
        #[arg(long)]
        id: Option<String>,
        /// Where to save the receipt (default: FILE.receipt.jws).
        #[arg(long)]
        receipt_out: Option<PathBuf>,
        file: PathBuf,
    },
    /// Retrieve, decrypt and verify a document; writes the plaintext.
    Fetch {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        purpose: String,
        document: String,
        /// Where to write the plaintext.
        #[arg(short, long)]
        output: PathBuf,
        /// Also keep the raw envelope (JWE) here.
        #[arg(long)]
        envelope: Option<PathBuf>,
    },
    /// Give a party that became entitled a recipient entry of a document you hold.
    Share {
        #[command(flatten)]
        client: ClientArgs,
        document: String,
        #[arg(long)]
        party: String,
        /// The purpose the new recipient will receive it for.
        #[arg(long)]
        purpose: String,
        /// The purpose for which you read the envelope to make the new
        /// entry (default: the same as --purpose).
        #[arg(long)]
        read_purpose: Option<String>,
    },
    /// The documents of a case you authored or receive.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        case: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt offline against the broker's JWKS.
    Verify {
        /// The receipt file (compact JWS).
        receipt: PathBuf,
        /// The broker's JWKS file (default: fetched from --broker).
        #[arg(long)]
        jwks: Option<PathBuf>,
        #[arg(long, env = "PONTE_BROKER", default_value = crate::client::DEFAULT_BROKER)]
        broker: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy folder against its schema.
    Check {
        /// Folder with schema.cedarschema and *.cedar (default: the configured one).
        dir: Option<PathBuf>,
    },
    /// Why a party may or may not have a document for a purpose: the
    /// decision, the deciding policies and the consent facts used.
    Explain {
        /// The party asking.
        #[arg(long = "as", value_name = "PARTY")]
        party: String,
        /// ReadDocument or ReceiveDocument.
        #[arg(long, default_value = "ReadDocument")]
        action: String,
        #[arg(long)]
        document: String,
        #[arg(long)]
        purpose: String,
    },
    /// Validate the configured policies, then have the running broker
    /// reload them (it keeps the old set if they do not validate).
    Reload,
}

#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// Register a party. Without --cert, credentials are issued by the
    /// development CA into DATA_DIR/parties/ID/.
    Add {
        id: String,
        #[arg(long)]
        role: String,
        /// Display name of the institution.
        #[arg(long)]
        name: String,
        /// The party's client certificate (PEM), issued by the party CA.
        #[arg(long, requires_all = ["sign_jwk", "enc_jwk"])]
        cert: Option<PathBuf>,
        /// The party's public Ed25519 signing JWK.
        #[arg(long)]
        sign_jwk: Option<PathBuf>,
        /// The party's public X25519 encryption JWK.
        #[arg(long)]
        enc_jwk: Option<PathBuf>,
    },
    /// List the registered parties.
    List,
    /// Show a party with its keys.
    Show { id: String },
    /// Disable a party: every request it makes is refused.
    Disable { id: String },
    /// Replace a party's signing and encryption keys; the old ones are kept
    /// as retired. Without --sign-jwk/--enc-jwk, new keys are generated into
    /// DATA_DIR/parties/ID/ (the old private keys move to retired/).
    RotateKeys {
        id: String,
        /// The party's new public Ed25519 signing JWK.
        #[arg(long, requires = "enc_jwk")]
        sign_jwk: Option<PathBuf>,
        /// The party's new public X25519 encryption JWK.
        #[arg(long, requires = "sign_jwk")]
        enc_jwk: Option<PathBuf>,
    },
}

/// How a client command reaches the broker, and as whom.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The party to act as (credentials from DATA_DIR/parties/PARTY/).
    #[arg(long = "as", value_name = "PARTY")]
    pub as_party: String,
    /// Broker URL.
    #[arg(long, env = "PONTE_BROKER", default_value = crate::client::DEFAULT_BROKER)]
    pub broker: String,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Open a case for a child in the municipality's care.
    Open {
        #[command(flatten)]
        client: ClientArgs,
        /// Country of origin, ISO 3166-1 alpha-2.
        #[arg(long)]
        country: String,
        /// The ministry to address (default: the only one registered).
        #[arg(long)]
        ministry: Option<String>,
    },
    /// The cases the party is on.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A case and its members.
    Show {
        case: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Attach a party to a case in its registered role.
    Attach {
        case: String,
        /// The party to attach.
        #[arg(long)]
        party: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move a case one step through the process (e.g. --to entrusted).
    Move {
        case: String,
        /// The state to move to.
        #[arg(long)]
        to: String,
        /// The document the step rests on (default: the newest of the type it needs).
        #[arg(long)]
        document: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A case's steps so far and where it can go next.
    History {
        case: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Erase a case's content now (administration, against the configured
    /// database): only a closed case whose retention has passed, or with
    /// --request one where no lawful basis remains; never under a legal hold.
    Erase {
        case: String,
        /// Honour an erasure request: refused while a consent is given or a
        /// document rests on a legal obligation or a public task.
        #[arg(long)]
        request: bool,
    },
}

impl Cli {
    /// The settings, with `--data-dir` applied last.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            settings.data_dir = dir.clone();
        }
        Ok(settings)
    }

    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let json = self.json;
        match self.command {
            Command::Serve => admin::serve(&settings).await,
            Command::Init => admin::init(&settings, json).await,
            Command::Config(ConfigCommand::Check) => admin::config_check(&settings),
            Command::Policy(PolicyCommand::Check { dir }) => {
                admin::policy_check(&dir.unwrap_or_else(|| settings.policy.dir.clone()), json)
            }
            Command::Policy(PolicyCommand::Explain {
                party,
                action,
                document,
                purpose,
            }) => governance::explain(&settings, &party, &action, &document, &purpose, json).await,
            Command::Policy(PolicyCommand::Reload) => governance::reload(&settings, json),
            Command::Party(command) => admin::party(&settings, command, json).await,
            Command::Purposes => {
                let registry = crate::consent::registry();
                if json {
                    return print_json(&registry);
                }
                for p in registry {
                    let basis = serde_json::to_value(p.basis)?;
                    println!(
                        "{:<26} {:<17} {}",
                        p.purpose.as_str(),
                        basis.as_str().unwrap_or_default(),
                        p.description
                    );
                }
                Ok(())
            }
            Command::Me(client) => party_client::me(&settings, &client, json).await,
            Command::Directory(client) => party_client::directory(&settings, &client, json).await,
            Command::Case(command) => party_client::case(&settings, command, json).await,
            Command::Doc(command) => docs::doc(&settings, command, json).await,
            Command::Subject(command) => consent::subject(&settings, command, json).await,
            Command::Consent(command) => consent::consent(&settings, command, json).await,
            Command::Audit(command) => audit::run(&settings, command, json).await,
            Command::Demo { broker } => crate::demo::run(&settings, broker.as_deref()).await,
            Command::Dossier(command) => dossier::run(&settings, command, json).await,
            Command::Inbox(args) => notices::inbox(&settings, args, json).await,
            Command::Notices(command) => notices::run(&settings, command, json).await,
            Command::Receipt(ReceiptCommand::Verify {
                receipt,
                jwks,
                broker,
            }) => docs::verify_receipt(&settings, &receipt, jwks.as_deref(), &broker, json).await,
        }
    }
}

/// A client of the broker acting as `--as PARTY`.
fn client(settings: &Settings, args: &ClientArgs) -> anyhow::Result<crate::client::Client> {
    Ok(crate::client::Client::for_party(
        &settings.data_dir,
        &args.as_party,
        &args.broker,
    )?)
}

/// Prints a value as pretty JSON.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
