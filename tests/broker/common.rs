//! The test harness: the real broker on port 0 with a fresh data directory
//! and database, talked to over mTLS with the credentials `ponte init` made.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ponte::app::App;
use ponte::client::{Client, ClientError};
use ponte::clock::SystemClock;
use ponte::config::{ObjectBackend, Settings};
use ponte::storage::Db;
use sqlx::{Connection, Executor};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

/// A JOSE library that is not ours, driven as a party through a script in
/// `tests/interop/` (same commands for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherJose {
    /// jwcrypto (Python, on `cryptography`): `jwcrypto_party.py`.
    Jwcrypto,
    /// panva/jose (Node, on WebCrypto): `jose_party.mjs`.
    NodeJose,
    /// joserfc (Python, on `cryptography`, not jwcrypto): `joserfc_party.py`.
    Joserfc,
    /// go-jose (Go, on the standard library): `gojose/main.go`.
    GoJose,
    /// latchset's `jose` (C, on OpenSSL): `latchset_jose_party.sh`.
    LatchsetJose,
    /// node-jose (Cisco's, Node): `node_jose_party.mjs`.
    CiscoNodeJose,
}

impl OtherJose {
    pub const ALL: [OtherJose; 6] = [
        OtherJose::Jwcrypto,
        OtherJose::NodeJose,
        OtherJose::Joserfc,
        OtherJose::GoJose,
        OtherJose::LatchsetJose,
        OtherJose::CiscoNodeJose,
    ];

    /// Whether the library has the curve (`Ed25519`, `X25519`, `P-256`):
    /// go-jose has no X25519; latchset's `jose` and node-jose have neither
    /// Ed25519 nor X25519. The others have all of the profile's.
    pub fn has_curve(self, crv: &str) -> bool {
        match self {
            OtherJose::GoJose => crv != "X25519",
            OtherJose::LatchsetJose | OtherJose::CiscoNodeJose => crv == "P-256",
            _ => true,
        }
    }

    /// Runs the party with `args`; its standard output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(self, args: &[S]) -> String {
        let interop = manifest_dir().join("tests/interop");
        let (mut command, needs) = match self {
            OtherJose::Jwcrypto => (
                python(interop.join("jwcrypto_party.py")),
                "`pip install jwcrypto`",
            ),
            OtherJose::NodeJose => {
                let mut node = std::process::Command::new("node");
                node.arg(interop.join("jose_party.mjs"));
                (node, "`npm ci` in tests/interop")
            }
            OtherJose::Joserfc => (
                python(interop.join("joserfc_party.py")),
                "`pip install joserfc==1.8.0`",
            ),
            OtherJose::GoJose => {
                // Debian's go-jose source, in GOPATH mode: nothing is
                // fetched, and Go's build cache makes later runs quick.
                let mut go = std::process::Command::new("go");
                go.args(["run", "main.go"])
                    .current_dir(interop.join("gojose"))
                    .env("GO111MODULE", "off")
                    .env("GOPATH", "/usr/share/gocode")
                    .env("GOFLAGS", "");
                (
                    go,
                    "Debian's golang-go and golang-gopkg-square-go-jose.v2-dev",
                )
            }
            OtherJose::LatchsetJose => {
                let mut bash = std::process::Command::new("bash");
                bash.arg(interop.join("latchset_jose_party.sh"));
                (bash, "Debian's jose")
            }
            OtherJose::CiscoNodeJose => {
                let mut node = std::process::Command::new("node");
                node.arg(interop.join("node_jose_party.mjs"));
                (node, "`npm ci` in tests/interop")
            }
        };
        let out = command.args(args).output().unwrap_or_else(|e| {
            panic!("{self:?} party runs ({needs}, which .ci/run installs): {e}")
        });
        assert!(
            out.status.success(),
            "{self:?} party failed (needs {needs}, which .ci/run installs):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn python(script: PathBuf) -> std::process::Command {
    let mut python = std::process::Command::new("python3");
    python.arg(script);
    python
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

    /// Opens a case as comune-torino and returns its id.
    pub async fn open_case(&self, country: &str) -> String {
        let case: serde_json::Value = self
            .client("comune-torino")
            .post("/v1/cases", &serde_json::json!({ "country": country }))
            .await
            .unwrap();
        case["id"].as_str().unwrap().to_owned()
    }

    /// Attaches `party` to `case`, acting as `by`.
    pub async fn attach(
        &self,
        case: &str,
        party: &str,
        by: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.client(by)
            .post(
                &format!("/v1/cases/{case}/members"),
                &serde_json::json!({ "party": party }),
            )
            .await
    }

    /// A case with the ministry, IOM Rome and IOM Tirana on it, and the
    /// child `subj-child-1` consenting (through the guardian) to every
    /// consent-based purpose, recipient role and document type for a year.
    pub async fn case_with_mission(&self) -> String {
        let case = self.case_with_mission_without_consent().await;
        self.add_subject(&case, "subj-child-1", "child").await;
        self.record_consent(&case, "subj-child-1", &ALL_CONSENT_PURPOSES, &ALL_ROLES)
            .await;
        case
    }

    /// A case with the ministry, IOM Rome and IOM Tirana on it, and no data subject yet.
    pub async fn case_with_mission_without_consent(&self) -> String {
        let case = self.open_case("AL").await;
        self.attach(&case, "iom-rome", "ministry-labour")
            .await
            .unwrap();
        self.attach(&case, "iom-tirana", "iom-rome").await.unwrap();
        case
    }

    /// IOM Tirana adds a data subject to the case.
    pub async fn add_subject(&self, case: &str, subject: &str, relation: &str) {
        let _: serde_json::Value = self
            .client("iom-tirana")
            .post(
                &format!("/v1/cases/{case}/subjects"),
                &serde_json::json!({ "id": subject, "relation": relation }),
            )
            .await
            .unwrap();
    }

    /// IOM Tirana submits the signed consent form of `subject` and records
    /// the consent it gives (every document type, valid for a year).
    /// Returns the recorded consent with its receipt and one-time code.
    pub async fn record_consent(
        &self,
        case: &str,
        subject: &str,
        purposes: &[&str],
        recipients: &[&str],
    ) -> ponte::http::consent::RecordedConsent {
        let form = self
            .prepare_about(
                "iom-tirana",
                case,
                "consent_form",
                "family_tracing",
                subject,
                b"consent form, signed",
            )
            .await;
        let (_, answer) = self.submit("iom-tirana", case, &form).await.unwrap();
        let until =
            ponte::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(365));
        self.client("iom-tirana")
            .post(
                &format!("/v1/cases/{case}/consents"),
                &serde_json::json!({
                    "subject": subject,
                    "state": "given",
                    "given_by": "representative",
                    "purposes": purposes,
                    "recipients": recipients,
                    "document_types": ponte::documents::DocumentType::ALL.map(|t| t.as_str()),
                    "valid_until": until,
                    "notice_version": "2026-1",
                    "notice_language": "sq",
                    "evidence": answer.document.id,
                }),
            )
            .await
            .unwrap()
    }

    /// A demo party's private key of one use, from its credential folder.
    pub fn private_key(&self, party: &str, key_use: ponte::jose::KeyUse) -> ponte::jose::Jwk {
        let file = match key_use {
            ponte::jose::KeyUse::Sign => "sign.jwk",
            ponte::jose::KeyUse::Encrypt => "enc.jwk",
        };
        let text = std::fs::read_to_string(self.data_dir().join("parties").join(party).join(file))
            .unwrap();
        ponte::jose::Jwk::parse(&text).unwrap()
    }

    /// Prepares a document about `subj-child-1` as `author` for the current plan.
    pub async fn prepare(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        self.prepare_about(
            author,
            case,
            document_type,
            purpose,
            "subj-child-1",
            document,
        )
        .await
    }

    /// Prepares a document about `subject` as `author` for the current plan.
    pub async fn prepare_about(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        subject: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        let plan = self
            .client(author)
            .plan(case, document_type, purpose, &[subject])
            .await
            .unwrap();
        let keys: Vec<ponte::jose::Jwk> = plan
            .recipients
            .iter()
            .flat_map(|p| p.keys.iter())
            .map(|k| serde_json::from_value(k.clone()).unwrap())
            .collect();
        let draft = ponte::documents::party::Draft {
            document_id: ponte::documents::DocumentId::generate(),
            case: ponte::cases::CaseId::parse(case).unwrap(),
            document_type: document_type.parse().unwrap(),
            purpose: purpose.parse().unwrap(),
            subjects: vec![ponte::documents::SubjectId::parse(subject).unwrap()],
            supersedes: None,
            media_type: "text/plain".into(),
        };
        let signing = self.private_key(author, ponte::jose::KeyUse::Sign);
        ponte::documents::party::prepare(document, &draft, &signing, &keys).unwrap()
    }

    /// Prepares a correction about `subj-child-1` as `author` for the
    /// current plan, its manifest naming the document it supersedes.
    pub async fn prepare_correction(
        &self,
        author: &str,
        case: &str,
        supersedes: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        let mut prepared = self
            .prepare(
                author,
                case,
                "correction",
                "best_interest_assessment",
                document,
            )
            .await;
        prepared.manifest.supersedes =
            Some(ponte::documents::DocumentId::parse(supersedes).unwrap());
        prepared.manifest_token = prepared
            .manifest
            .sign(&self.private_key(author, ponte::jose::KeyUse::Sign))
            .unwrap();
        prepared
    }

    /// Submits a prepared document as `author`.
    pub async fn submit(
        &self,
        author: &str,
        case: &str,
        prepared: &ponte::documents::party::Prepared,
    ) -> Result<(u16, ponte::http::documents::SubmitAnswer), ClientError> {
        self.client(author)
            .submit(case, &prepared.manifest_token, prepared.envelope.clone())
            .await
    }

    /// Fetches and opens a document as `reader`.
    pub async fn open(
        &self,
        reader: &str,
        document: &str,
        purpose: &str,
    ) -> Result<ponte::documents::party::Opened, ClientError> {
        let fetched = self.client(reader).envelope(document, purpose).await?;
        let jwks: serde_json::Value = self.client(reader).get("/.well-known/jwks.json").await?;
        let receipt = ponte::documents::receipt::Receipt::verify(
            &fetched.receipt,
            &ponte::documents::receipt::jwks_keys(&jwks),
        )
        .unwrap();
        let author_jwks: serde_json::Value = self
            .client(reader)
            .get(&format!("/v1/parties/{}/jwks.json", receipt.submitter))
            .await?;
        let author_keys = ponte::documents::receipt::jwks_keys(&author_jwks);
        let mine = vec![self.private_key(reader, ponte::jose::KeyUse::Encrypt)];
        Ok(ponte::documents::party::open(
            &fetched.envelope,
            &fetched.manifest,
            &receipt.submitter,
            &author_keys,
            &mine,
        )
        .unwrap())
    }

    /// Every object key in the local object directory.
    pub fn local_objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir().join("objects"), &mut out);
        out
    }

    /// The local objects of documents other than consent forms (the
    /// consent every case of [`TestApp::case_with_mission`] starts with).
    pub async fn envelope_objects(&self) -> Vec<PathBuf> {
        let forms: Vec<String> =
            sqlx::query_scalar("select id from document where document_type = 'consent_form'")
                .fetch_all(self.db.pool())
                .await
                .unwrap();
        self.local_objects()
            .into_iter()
            .filter(|p| {
                !forms
                    .iter()
                    .any(|f| p.to_string_lossy().contains(f.as_str()))
            })
            .collect()
    }

    /// The broker's object store.
    pub fn state_objects(&self) -> ponte::storage::Objects {
        self.objects.clone()
    }

    /// Uploads not yet committed.
    pub async fn pending_uploads(&self) -> i64 {
        sqlx::query_scalar("select count(*) from pending_upload")
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    /// How many acceptances of `doc` are on record.
    pub async fn acceptances(&self, doc: &ponte::documents::DocumentId) -> i64 {
        sqlx::query_scalar(
            "select count(*) from audit_event where action = 'DocumentAccepted' and resource = $1",
        )
        .bind(format!("document:{doc}"))
        .fetch_one(self.db.pool())
        .await
        .unwrap()
    }

    /// Prepares and submits a document about `subj-child-1` as `author`.
    pub async fn submit_new(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
    ) -> ponte::http::documents::SubmitAnswer {
        let prepared = self
            .prepare(author, case, document_type, purpose, document)
            .await;
        self.submit(author, case, &prepared).await.unwrap().1
    }

    /// Moves `case` to `to`, acting as `by`.
    pub async fn transition(
        &self,
        by: &str,
        case: &str,
        to: &str,
    ) -> Result<ponte::cases::workflow::Transition, ClientError> {
        self.client(by).transition(case, to, None).await
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

/// A TCP proxy that can be cut and restored, to make a dependency unreachable.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, conns) = (up.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            up,
            connections,
            accept,
        }
    }

    /// Refuses new connections and cuts the open ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The host:port of a URL like `postgres://u@127.0.0.1:5432/db` or `http://127.0.0.1:9000`.
pub fn host_port(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    let hostport = authority.rsplit('@').next().unwrap();
    hostport.parse().unwrap()
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
