//! `ponte demo`: one family-tracing case from request to reintegration,
//! run against a broker by the demo parties, printed as a timeline — who
//! did what, under which purpose and basis, with the evidence ids. Every
//! step checks that the broker behaved as described; the first that does
//! not stops the demo with an error (so CI runs it).

mod chapters;
mod ending;
mod parties;

use std::sync::Arc;

use anyhow::{anyhow, ensure, Context};

use crate::app::App;
use crate::client::{Client, DEFAULT_BROKER};
use crate::clock::{rfc3339, SystemClock};
use crate::config::Settings;
use crate::documents::receipt::jwks_keys;
use crate::http::documents::SubmitAnswer;
use crate::init::PartyFiles;
use crate::jose::Jwk;

/// Runs the demo against `broker`, or, when none is given and none answers
/// at the default address, against a broker it starts itself on the
/// configured data directory.
pub async fn run(settings: &Settings, broker: Option<&str>) -> anyhow::Result<()> {
    if let Some(url) = broker {
        return Demo::new(settings, url)?.play().await;
    }
    if answers(settings, DEFAULT_BROKER).await {
        println!("using the broker at {DEFAULT_BROKER}\n");
        return Demo::new(settings, DEFAULT_BROKER)?.play().await;
    }
    let mut own = settings.clone();
    own.server.listen = "127.0.0.1:0".parse().map_err(|e| anyhow!("{e}"))?;
    own.server.bootstrap_dev_pki = true;
    let app = App::build(&own, Arc::new(SystemClock)).await?;
    let url = format!("https://127.0.0.1:{}", app.local_addr()?.port());
    println!(
        "no broker at {DEFAULT_BROKER}; started one at {url} on {}\n",
        own.data_dir.display()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let played = Demo::new(&own, &url)?.play().await;
    let _ = stop.send(());
    let _ = server.await;
    played
}

async fn answers(settings: &Settings, url: &str) -> bool {
    match Client::anonymous(&settings.data_dir, url) {
        Ok(client) => client.get::<serde_json::Value>("/healthz").await.is_ok(),
        Err(_) => false,
    }
}

/// A demo party: its mTLS client and its private keys.
struct Actor {
    id: &'static str,
    client: Client,
    sign: Jwk,
    enc: Jwk,
}

struct Demo {
    comune: Actor,
    ministry: Actor,
    rome: Actor,
    tirana: Actor,
    court: Actor,
    anonymous: Client,
    broker_keys: Vec<Jwk>,
    step: usize,
    dir: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    url: String,
}

const CHILD: &str = "subj-demo-child";

/// What the mission writes, and what every reader must read back.
const ASSESSMENT: &[u8] = b"family assessment: the mother in Durres can care for the child";

impl Demo {
    fn new(settings: &Settings, url: &str) -> anyhow::Result<Demo> {
        let actor = |id: &'static str| -> anyhow::Result<Actor> {
            let files = PartyFiles::new(&settings.data_dir, id);
            let read = |path: std::path::PathBuf| -> anyhow::Result<Jwk> {
                let text = crate::secret::read_string(&path, "run `ponte init`")?;
                Jwk::parse(&text).with_context(|| path.display().to_string())
            };
            Ok(Actor {
                id,
                client: Client::for_party(&settings.data_dir, id, url)?,
                sign: read(files.sign_jwk())?,
                enc: read(files.enc_jwk())?,
            })
        };
        Ok(Demo {
            comune: actor("comune-torino")?,
            ministry: actor("ministry-labour")?,
            rome: actor("iom-rome")?,
            tirana: actor("iom-tirana")?,
            court: actor("tm-roma")?,
            anonymous: Client::anonymous(&settings.data_dir, url)?,
            broker_keys: Vec::new(),
            step: 0,
            dir: settings.data_dir.join("demo"),
            data_dir: settings.data_dir.clone(),
            url: url.to_owned(),
        })
    }

    /// One line of the timeline.
    fn say(&mut self, who: &str, what: &str, purpose: Option<&str>, evidence: &str) {
        self.step += 1;
        let now = rfc3339(time::OffsetDateTime::now_utc());
        let basis = purpose
            .and_then(|p| p.parse::<crate::consent::Purpose>().ok())
            .map(|p| format!("{p} ({})", p.basis().as_str()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>2}  {}  {:<16} {what}\n      purpose: {basis}   evidence: {evidence}",
            self.step,
            &now[11..23],
            who
        );
    }

    async fn play(mut self) -> anyhow::Result<()> {
        let jwks: serde_json::Value = self.anonymous.get("/.well-known/jwks.json").await?;
        self.broker_keys = jwks_keys(&jwks);
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(
            self.dir.join("broker-jwks.json"),
            serde_json::to_vec_pretty(&jwks)?,
        )?;
        println!("Ponte demo: one family-tracing case, request to reintegration\n");

        let (case, consent_id, code) = self.open_case().await?;
        self.entrust_and_assign(&case).await?;
        let (assessment, report) = self.assess(&case).await?;
        self.judicial_review(&case, &assessment, &report).await?;
        self.decide_and_return(&case).await?;
        self.withdraw(&consent_id, &code, &assessment).await?;
        self.evidence(&case, &assessment).await?;

        let history: crate::http::cases::Workflow = self
            .ministry
            .client
            .get(&format!("/v1/cases/{case}/transitions"))
            .await?;
        ensure!(
            history.transitions.len() == 8,
            "eight steps were taken: {}",
            history.transitions.len()
        );
        println!(
            "\nevery step behaved as described; case {case} is now {}",
            history.state.as_str()
        );
        println!(
            "dossiers kept in {dir}; check one offline with\n  ponte dossier verify {dir}/dossier-{case}-2.tar --jwks {dir}/broker-jwks.json",
            dir = self.dir.display()
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Comune,
    Ministry,
    Rome,
    Tirana,
    Court,
}

/// How a submission shows in the timeline: its receipt, and its leaf if it
/// is one already (a retry's; a new acceptance becomes one moments later).
fn receipt_id(answer: &SubmitAnswer) -> String {
    let leaf = answer
        .leaf_index
        .map(|i| format!(", leaf {i}"))
        .unwrap_or_default();
    format!(
        "receipt sha256:{}{leaf}",
        &crate::pki::sha256_hex(answer.receipt.as_bytes())[..16]
    )
}
