//! The running broker: what every request shares, and start-up in the order
//! that fails fast (policies, database, bootstrap, keys, TLS, listener).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::audit::{self, AuditEvent, Outcome};
use crate::clock::{rfc3339, SharedClock};
use crate::config::Settings;
use crate::documents::exchange::{self, Limits, Vault};
use crate::http::metrics::Metrics;
use crate::http::{self, tls};
use crate::jose::Jwk;
use crate::policy::{Policies, PolicyError};
use crate::storage::sealed::Kek;
use crate::storage::{Db, Objects};
use crate::{init, secret};

/// State shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub objects: Objects,
    /// The document exchange's stores and keys.
    pub vault: Vault,
    pub policy: Arc<Policies>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    /// The broker's public signing keys as a JWKS document.
    pub broker_jwks: Arc<serde_json::Value>,
    /// The audit log's name in its checkpoints.
    pub log_origin: Arc<str>,
    /// How many refusals of unidentified callers go on record one by one.
    pub refusals: Arc<http::throttle::RefusalThrottle>,
}

impl AppState {
    /// The current time as stored and served.
    pub fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    /// Reloads the policy folder (on SIGHUP). An invalid set is rejected with
    /// the validator's message and the old set stays in force. Either way the
    /// attempt is audited.
    pub async fn reload_policies(&self) -> Result<String, PolicyError> {
        let previous = self.policy.current().version().to_owned();
        let result = self.policy.reload();
        let (outcome, detail) = match &result {
            Ok(fresh) => (
                Outcome::Done,
                serde_json::json!({ "previous": previous, "version": fresh.version() }),
            ),
            Err(e) => (
                Outcome::Deny,
                serde_json::json!({ "kept": previous, "error": e.to_string() }),
            ),
        };
        let mut event =
            AuditEvent::operator("ReloadPolicies", "broker", &self.now()).detail(detail);
        event.outcome = outcome;
        event.policy_set = self.policy.current().version().to_owned();
        audit::append(self.db.pool(), &event).await?;
        match result {
            Ok(fresh) => {
                tracing::info!(previous, version = fresh.version(), "policies reloaded");
                Ok(fresh.version().to_owned())
            }
            Err(e) => {
                tracing::error!(kept = previous, error = %e, "policy reload rejected; the old policy set stays in force");
                Err(e)
            }
        }
    }
}

/// A broker ready to serve on its bound listener.
pub struct App {
    state: AppState,
    tls: Arc<ServerConfig>,
    listener: TcpListener,
    grace: Duration,
    /// How often to sweep orphaned uploads, and how old they must be.
    sweep: (Duration, time::Duration),
    /// How long closed cases keep their documents.
    retention: crate::documents::erasure::Retention,
    /// How often the notice outbox is looked at, and how pushes are timed.
    outbox: (Duration, crate::notices::delivery::Policy),
    /// How often events become leaves, and checkpoints are signed.
    log: (Duration, Duration),
}

impl App {
    /// Starts everything but the accept loop. Refuses to start on a policy
    /// set that does not validate, a secret file others can read, or a
    /// database that cannot be migrated.
    pub async fn build(settings: &Settings, clock: SharedClock) -> anyhow::Result<App> {
        let policy = Policies::load(&settings.policy.dir).with_context(|| {
            format!(
                "cannot load the policies in {}",
                settings.policy.dir.display()
            )
        })?;
        let db = Db::open(settings).await?;
        if settings.server.bootstrap_dev_pki {
            let report = init::run(settings, &db, &rfc3339(clock.now())).await?;
            if report.changed_anything() {
                tracing::warn!(
                    data_dir = %settings.data_dir.display(),
                    created = report.created.len(),
                    registered = ?report.registered.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "created a DEVELOPMENT PKI and demo parties: for development only, never for real data \
                     (set server.bootstrap_dev_pki = false in production)"
                );
            }
        }
        let objects = Objects::open(settings)?;
        let signing = secret::read_string(
            &settings.signing_key_file(),
            "set server.signing_key_file or run `ponte init`",
        )?;
        let signing = Jwk::parse(&signing)
            .with_context(|| format!("{}", settings.signing_key_file().display()))?;
        let broker_jwks = serde_json::json!({ "keys": [signing.public()] });
        let kek = Kek::load(&settings.kek_file())?;
        let vault = Vault {
            db: db.clone(),
            objects: objects.clone(),
            kek,
            broker_key: Arc::new(signing),
            limits: Limits {
                max_envelope_bytes: settings.documents.max_envelope_bytes,
                max_recipients: settings.documents.max_recipients,
            },
        };
        let started =
            crate::audit::AuditEvent::broker("BrokerStarted", "broker", &rfc3339(clock.now()))
                .detail(serde_json::json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "policy_set": policy.current().version(),
                }));
        crate::audit::append(db.pool(), &started).await?;
        let tls = tls::server_config(settings)?;
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        tracing::info!(
            listen = %listener.local_addr()?,
            database = ?db.engine(),
            objects = objects.description(),
            policy_set = policy.current().version(),
            "broker ready"
        );
        Ok(App {
            state: AppState {
                db,
                objects,
                vault,
                policy: Arc::new(policy),
                clock,
                metrics: Arc::new(Metrics::default()),
                broker_jwks: Arc::new(broker_jwks),
                log_origin: Arc::from(settings.audit.origin.as_str()),
                refusals: Arc::new(http::throttle::RefusalThrottle::new(
                    settings.server.unidentified_refusals_per_window,
                    Duration::from_secs(settings.server.refusal_window_secs),
                )),
            },
            tls,
            listener,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            sweep: (
                Duration::from_secs(settings.documents.sweep_interval_secs.max(1)),
                time::Duration::seconds(settings.documents.orphan_grace_secs as i64),
            ),
            retention: settings.documents.retention(),
            outbox: (
                Duration::from_millis(settings.notices.delivery_interval_ms.max(10)),
                settings.notices.delivery(),
            ),
            log: (
                Duration::from_millis(settings.audit.integrate_interval_ms.max(10)),
                Duration::from_secs(settings.audit.checkpoint_interval_secs.max(1)),
            ),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let router = http::router(self.state.clone());
        let sweeper = tokio::spawn(sweep_forever(
            self.retention.clone(),
            self.state.clone(),
            self.sweep.0,
            self.sweep.1,
        ));
        let reloader = tokio::spawn(reload_on_sighup(self.state.clone()));
        let throttled = tokio::spawn(http::throttle::record_forever(self.state.clone()));
        let log = tokio::spawn(keep_the_log(self.state.clone(), self.log.0, self.log.1));
        let outbox = tokio::spawn(deliver_forever(
            self.state.clone(),
            self.outbox.0,
            self.outbox.1,
        ));
        let metrics = self.state.metrics.clone();
        tls::serve(
            self.listener,
            self.tls,
            router,
            metrics,
            shutdown,
            self.grace,
        )
        .await;
        sweeper.abort();
        reloader.abort();
        throttled.abort();
        outbox.abort();
        log.abort();
    }
}

/// Reloads the policies whenever the process receives SIGHUP.
async fn reload_on_sighup(state: AppState) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; policies reload only on restart");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let _ = state.reload_policies().await;
    }
}

/// Turns queued audit events into leaves, often, and signs a checkpoint
/// now and then when the tree grew; on every replica (the head's row lock
/// orders them).
async fn keep_the_log(state: AppState, integrate: Duration, checkpoint: Duration) {
    let mut ticker = tokio::time::interval(integrate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_checkpoint = std::time::Instant::now();
    loop {
        ticker.tick().await;
        if let Err(e) = crate::audit::log::integrate_all(&state.db, &state.now()).await {
            tracing::warn!(error = %e, "integrating the audit log failed; will retry");
            continue;
        }
        if last_checkpoint.elapsed() >= checkpoint {
            last_checkpoint = std::time::Instant::now();
            if let Err(e) = crate::audit::checkpoint::publish(
                &state.db,
                &state.vault.broker_key,
                &state.log_origin,
                &state.now(),
            )
            .await
            {
                tracing::warn!(error = %e, "signing a checkpoint failed; will retry");
            }
        }
    }
}

/// Pushes due notices to the parties' webhooks, on every replica (a claim
/// in the database keeps two replicas from pushing the same one at once).
async fn deliver_forever(
    state: AppState,
    every: Duration,
    policy: crate::notices::delivery::Policy,
) {
    let http = match reqwest::Client::builder()
        .user_agent(concat!("ponte/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; notices stay in the inboxes");
            return;
        }
    };
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = state.clock.now();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        match crate::notices::delivery::deliver_due(
            &state.db,
            &http,
            &policy,
            now_ms,
            &rfc3339(now),
        )
        .await
        {
            Ok(round) if round.delivered + round.failed > 0 => {
                tracing::info!(
                    delivered = round.delivered,
                    failed = round.failed,
                    "pushed notices"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "notice outbox round failed; will retry"),
        }
    }
}

/// Deletes uploads that never became documents, now and then, on every
/// replica. The first round comes one interval after the start, not at it:
/// nothing at a start is older than it was a moment before, and a round at
/// once would race whatever the operator (or a test) does right after.
async fn sweep_forever(
    retention: crate::documents::erasure::Retention,
    state: AppState,
    every: Duration,
    grace: time::Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticker.tick().await;
        match crate::documents::erasure::sweep(
            &state.db,
            &state.objects,
            &retention,
            state.clock.now(),
        )
        .await
        {
            Ok(erased) => {
                for e in erased {
                    tracing::info!(case = %e.case, documents = e.documents, "erased a closed case whose retention passed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "erasure sweep failed; will retry"),
        }
        match exchange::sweep(&state.db, &state.objects, state.clock.now() - grace).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "removed uploads that never became documents"),
            Err(e) => tracing::warn!(error = %e, "sweep of orphaned uploads failed; will retry"),
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
