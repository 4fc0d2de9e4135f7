//! The test harness: the real broker on port 0 with a fresh data directory
//! and database, talked to over mTLS with the credentials `ponte init` made.

mod cases;
mod other_jose;
mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ponte::app::App;
use ponte::client::Client;
use ponte::clock::SystemClock;
use ponte::config::{ObjectBackend, Settings};
use ponte::storage::Db;
use sqlx::{Connection, Executor};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use other_jose::OtherJose;
pub use proxy::{host_port, Proxy};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Defines each listed `async fn name(backend: Backend)` as two tests,
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a variable the test command (scripts/test) sets; fails loudly without it.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts PostgreSQL and the S3 server")
    })
}

/// A fresh, empty PostgreSQL database on the test cluster.
pub async fn fresh_postgres_url() -> String {
    let admin = required_env("PONTE_TEST_POSTGRES_URL");
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL cluster answers");
    let name = format!("ponte_{}", random_hex(8));
    conn.execute(format!("create database {name}").as_str())
        .await
        .expect("create a test database");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    format!("{base}/{name}")
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf).unwrap();
    ponte::pki::hex(&buf)
}

/// Settings for a fresh broker: temporary data directory, port 0, the repo's policies.
pub async fn settings(dir: &Path, backend: Backend) -> Settings {
    let mut settings = Settings::for_data_dir(dir);
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.server.shutdown_grace_secs = 5;
    settings.policy.dir = manifest_dir().join("policies");
    if backend == Backend::Postgres {
        settings.database.url = Some(fresh_postgres_url().await);
    }
    settings
}

/// S3 settings for the test server, with the secret written to a 0600 file in `dir`.
pub fn use_s3(settings: &mut Settings, dir: &Path, endpoint: &str) {
    let secret = dir.join("s3-secret");
    if !secret.exists() {
        ponte::secret::create(
            &secret,
            required_env("PONTE_TEST_S3_SECRET_ACCESS_KEY").as_bytes(),
        )
        .unwrap();
    }
    settings.objects.backend = ObjectBackend::S3;
    settings.objects.s3.endpoint = Some(endpoint.to_owned());
    settings.objects.s3.bucket = required_env("PONTE_TEST_S3_BUCKET");
    settings.objects.s3.access_key_id = Some(required_env("PONTE_TEST_S3_ACCESS_KEY_ID"));
    settings.objects.s3.secret_access_key_file = Some(secret);
    settings.objects.s3.timeout_secs = 5;
}

/// The keys under `prefix` in the test server's bucket.
pub async fn s3_keys(prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let bucket = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(required_env("PONTE_TEST_S3_ENDPOINT"))
        .with_bucket_name(required_env("PONTE_TEST_S3_BUCKET"))
        .with_region("us-east-1")
        .with_access_key_id(required_env("PONTE_TEST_S3_ACCESS_KEY_ID"))
        .with_secret_access_key(required_env("PONTE_TEST_S3_SECRET_ACCESS_KEY"))
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .build()
        .unwrap();
    // The whole bucket: moto miscomputes the signature of a listing whose
    // prefix holds a slash.
    let keys: Vec<String> = bucket
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.into_iter().filter(|k| k.starts_with(prefix)).collect()
}

/// The purposes that rest on consent.
pub const ALL_CONSENT_PURPOSES: [&str; 3] = [
    "family_tracing",
    "best_interest_assessment",
    "return_and_reintegration",
];

/// Every role, as consent recipients.
pub const ALL_ROLES: [&str; 6] = [
    "role:municipality",
    "role:ministry",
    "role:iom_coordination",
    "role:iom_mission",
    "role:court",
    "role:guardian",
];

/// A running broker.
pub struct TestApp {
    pub dir: TempDir,
    pub addr: SocketAddr,
    pub settings: Settings,
    pub db: Db,
    objects: ponte::storage::Objects,
    pub state: ponte::app::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path(), backend).await;
        TestApp::spawn_with(dir, settings).await
    }

    /// A broker on SQLite and the test S3 server, its settings adjusted by
    /// `adjust` first.
    pub async fn spawn_on_s3(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings(dir.path(), Backend::Sqlite).await;
        use_s3(
            &mut settings,
            dir.path(),
            &required_env("PONTE_TEST_S3_ENDPOINT"),
        );
        adjust(&mut settings);
        TestApp::spawn_with(dir, settings).await
    }

    /// The broker's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.anonymous()
            .http()
            .get(self.anonymous().url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn spawn_with(dir: TempDir, settings: Settings) -> TestApp {
        ponte::http::tls::install_default_provider();
        let app = App::build(&settings, Arc::new(SystemClock))
            .await
            .expect("broker starts");
        let addr = app.local_addr().unwrap();
        let db = app.state().db.clone();
        let objects = app.state().objects.clone();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        TestApp {
            dir,
            addr,
            settings,
            db,
            objects,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client acting as a demo party.
    pub fn client(&self, party: &str) -> Client {
        Client::for_party(self.data_dir(), party, &self.url()).unwrap()
    }

    /// A client without a certificate.
    pub fn anonymous(&self) -> Client {
        Client::anonymous(self.data_dir(), &self.url()).unwrap()
    }

    /// Stops the broker and starts it again on the same data directory,
    /// database and settings.
    pub async fn restart(mut self) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        TestApp::spawn_with(dir, self.settings.clone()).await
    }

    /// Stops accepting and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Retries `probe` for up to 30 s until it returns true.
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..60 {
        if probe().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("{what} did not happen within 30 s");
}
