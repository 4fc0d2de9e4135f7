//! Typed settings: built-in defaults, then `ponte.toml`, then `PONTE__…`
//! environment variables (`PONTE__DATABASE__URL` sets `database.url`).
//! Secrets are never values here, only paths to files (see [`crate::secret`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Everything the broker and the administrative commands are configured by.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the development PKI, keys, the SQLite database and local objects live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub objects: ObjectSettings,
    pub documents: DocumentSettings,
    pub notices: NoticeSettings,
    pub audit: AuditSettings,
    pub policy: PolicySettings,
    pub log: LogSettings,
}

/// The HTTPS listener and its certificates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Create the development PKI and demo parties on first start when the
    /// data directory has none. Turn off in production.
    pub bootstrap_dev_pki: bool,
    /// CA that issues party client certificates (default `DATA_DIR/ca.crt`).
    pub client_ca: Option<PathBuf>,
    /// Server certificate chain (default `DATA_DIR/broker/tls.crt`).
    pub tls_cert: Option<PathBuf>,
    /// Server private key, a secret file (default `DATA_DIR/broker/tls.key`).
    pub tls_key_file: Option<PathBuf>,
    /// Broker Ed25519 signing JWK, a secret file (default `DATA_DIR/broker/sign.jwk`).
    pub signing_key_file: Option<PathBuf>,
    /// Key-encryption key of the at-rest layer, a secret file (default `DATA_DIR/broker/kek.key`).
    pub kek_file: Option<PathBuf>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Refusals of unidentified requests (no registered certificate, or a
    /// consent-code route) recorded one by one per address and window;
    /// beyond that they are answered 429 and counted in one event.
    pub unidentified_refusals_per_window: u32,
    /// The length of that window.
    pub refusal_window_secs: u64,
}

/// Metadata database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; default `sqlite://DATA_DIR/ponte.db`.
    pub url: Option<String>,
    /// File holding the database password, kept out of the URL.
    pub password_file: Option<PathBuf>,
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout_secs: u64,
}

/// Which object store holds document envelopes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ObjectBackend {
    Local,
    S3,
}

/// Object storage: a local directory or an S3-compatible bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectSettings {
    pub backend: ObjectBackend,
    /// Directory for the local backend (default `DATA_DIR/objects`).
    pub local_dir: Option<PathBuf>,
    pub s3: S3Settings,
}

/// An S3-compatible bucket (AWS, MinIO, Ceph, Garage).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), as most self-hosted stores need.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    /// File holding the secret access key.
    pub secret_access_key_file: Option<PathBuf>,
    /// Per-request timeout, so an unreachable store answers quickly.
    pub timeout_secs: u64,
    /// An envelope of 1 MiB up to one part streams into S3 while it
    /// arrives, in one PUT; if its sender pauses this long, the broker
    /// gives that PUT up (S3 stores nothing of it) and writes the object in
    /// one piece once it has all of it. 0: always write it in one piece at
    /// the end.
    pub stream_stall_secs: u64,
}

/// Limits and housekeeping of the document exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DocumentSettings {
    /// Largest envelope accepted, in bytes; larger ones get 413 before the body is read.
    pub max_envelope_bytes: u64,
    /// Most recipient entries an envelope may carry.
    pub max_recipients: usize,
    /// Uploads that did not become documents are deleted after this long.
    pub orphan_grace_secs: u64,
    /// How often the sweep of such uploads (and of closed cases whose
    /// retention has passed) runs.
    pub sweep_interval_secs: u64,
    /// Days a document is kept after it was received, once its case is closed.
    pub retention_days: u32,
    /// The same per document type (`family_assessment = 3650`), overriding the default.
    pub retention_days_by_type: std::collections::HashMap<crate::documents::DocumentType, u32>,
}

impl DocumentSettings {
    pub fn retention(&self) -> crate::documents::erasure::Retention {
        crate::documents::erasure::Retention {
            default_days: self.retention_days,
            by_type: self.retention_days_by_type.clone(),
        }
    }
}

/// Pushing notices to the parties' webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoticeSettings {
    /// How often the outbox looks for deliveries that are due.
    pub delivery_interval_ms: u64,
    /// How long one push may take before it counts as failed.
    pub webhook_timeout_secs: u64,
    /// The wait after the first failed push; it doubles with each failure…
    pub retry_base_ms: u64,
    /// …up to this. A notice is never given up on.
    pub retry_max_ms: u64,
    /// Deliveries pushed at once by one replica.
    pub batch: u32,
}

impl NoticeSettings {
    pub fn delivery(&self) -> crate::notices::delivery::Policy {
        crate::notices::delivery::Policy {
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs.max(1)),
            retry_base_ms: self.retry_base_ms.max(1) as i64,
            retry_max_ms: self.retry_max_ms.max(self.retry_base_ms).max(1) as i64,
            batch: self.batch.max(1),
        }
    }
}

/// The tamper-evident audit log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The log's permanent name, the first line of every checkpoint
    /// (e.g. `ponte.lavoro.gov.it/audit`).
    pub origin: String,
    /// How often queued events become leaves.
    pub integrate_interval_ms: u64,
    /// How often a checkpoint is signed when the tree grew.
    pub checkpoint_interval_secs: u64,
}

/// Cedar policies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Folder with `schema.cedarschema` and `*.cedar` policies.
    pub dir: PathBuf,
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (structured, one object a line) or `text`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `ponte=debug,info`.
    pub level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("ponte-data"),
            server: ServerSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
                bootstrap_dev_pki: true,
                client_ca: None,
                tls_cert: None,
                tls_key_file: None,
                signing_key_file: None,
                kek_file: None,
                shutdown_grace_secs: 30,
                unidentified_refusals_per_window: 30,
                refusal_window_secs: 60,
            },
            database: DatabaseSettings {
                url: None,
                password_file: None,
                max_connections: 10,
                acquire_timeout_secs: 3,
            },
            objects: ObjectSettings {
                backend: ObjectBackend::Local,
                local_dir: None,
                s3: S3Settings {
                    endpoint: None,
                    bucket: "ponte".into(),
                    region: "us-east-1".into(),
                    path_style: true,
                    access_key_id: None,
                    secret_access_key_file: None,
                    timeout_secs: 10,
                    stream_stall_secs: 10,
                },
            },
            documents: DocumentSettings {
                max_envelope_bytes: 4 * 1024 * 1024 * 1024,
                max_recipients: 32,
                orphan_grace_secs: 3600,
                sweep_interval_secs: 300,
                retention_days: 3650,
                retention_days_by_type: Default::default(),
            },
            notices: NoticeSettings {
                delivery_interval_ms: 1000,
                webhook_timeout_secs: 10,
                retry_base_ms: 2000,
                retry_max_ms: 3_600_000,
                batch: 32,
            },
            audit: AuditSettings {
                origin: "ponte.local/audit".into(),
                integrate_interval_ms: 200,
                checkpoint_interval_secs: 60,
            },
            policy: PolicySettings {
                dir: PathBuf::from("policies"),
            },
            log: LogSettings {
                format: "json".into(),
                level: "info".into(),
            },
        }
    }
}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads defaults, then the TOML file (if it exists; an explicitly named
    /// file must exist), then `PONTE__…` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )))
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("ponte.toml")),
        }
        figment = figment.merge(Env::prefixed("PONTE__").split("__"));
        figment.extract().map_err(|e| ConfigError(describe(e)))
    }

    /// Settings with every path rooted at `data_dir` (for tests and `init`).
    pub fn for_data_dir(data_dir: &Path) -> Settings {
        Settings {
            data_dir: data_dir.to_owned(),
            ..Settings::default()
        }
    }

    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ponte.db").display()
            )
        })
    }
    pub fn client_ca(&self) -> PathBuf {
        self.path_or(&self.server.client_ca, "ca.crt")
    }
    pub fn tls_cert(&self) -> PathBuf {
        self.path_or(&self.server.tls_cert, "broker/tls.crt")
    }
    pub fn tls_key_file(&self) -> PathBuf {
        self.path_or(&self.server.tls_key_file, "broker/tls.key")
    }
    pub fn signing_key_file(&self) -> PathBuf {
        self.path_or(&self.server.signing_key_file, "broker/sign.jwk")
    }
    pub fn kek_file(&self) -> PathBuf {
        self.path_or(&self.server.kek_file, "broker/kek.key")
    }
    pub fn local_objects_dir(&self) -> PathBuf {
        self.path_or(&self.objects.local_dir, "objects")
    }

    fn path_or(&self, configured: &Option<PathBuf>, default: &str) -> PathBuf {
        configured
            .clone()
            .unwrap_or_else(|| self.data_dir.join(default))
    }

    /// The effective configuration as TOML, with secrets redacted: the
    /// database URL loses any password, secret files are shown as paths only.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = Some(redact_url(&self.database_url()));
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Removes any password from a connection URL.
pub fn redact_url(raw: &str) -> String {
    match url_password_span(raw) {
        Some((start, end)) => format!("{}REDACTED{}", &raw[..start], &raw[end..]),
        None => raw.to_owned(),
    }
}

/// Byte range of the password in `scheme://user:password@host…`, if any.
fn url_password_span(raw: &str) -> Option<(usize, usize)> {
    let authority_start = raw.find("://")? + 3;
    let rest = &raw[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some((authority_start + colon + 1, authority_start + at))
}

/// Figment's message already names the key (`for key "default.server.listen"`);
/// drop the profile prefix so the operator sees `server.listen`.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("key `{key}`: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment's Jail closures return its own large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_embedded_on_localhost() {
        let s = Settings::default();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(s.database_url(), "sqlite://ponte-data/ponte.db?mode=rwc");
        assert_eq!(s.local_objects_dir(), PathBuf::from("ponte-data/objects"));
        assert_eq!(s.objects.backend, ObjectBackend::Local);
    }

    #[test]
    fn a_malformed_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "[server]\nlisten = \"not an address\"\n")?;
            let err = Settings::load(Some(Path::new("p.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("server.listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_production_template_in_deploy_loads_as_written() {
        // In a jail: other tests set PONTE__ variables in their own.
        figment::Jail::expect_with(|_| {
            let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ponte.toml");
            let s = Settings::load(Some(&template)).unwrap();
            assert!(!s.server.bootstrap_dev_pki);
            assert_eq!(s.objects.backend, ObjectBackend::S3);
            assert!(s.database_url().starts_with("postgres://"));
            assert!(s.database.password_file.is_some());
            assert!(s.objects.s3.secret_access_key_file.is_some());
            assert_eq!(s.policy.dir, PathBuf::from("/etc/ponte/policies"));
            assert_eq!(s.kek_file(), PathBuf::from("/etc/ponte/secrets/kek.key"));
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "[database]\nulr = \"sqlite://x\"\n")?;
            let err = Settings::load(Some(Path::new("p.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("ulr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "p.toml",
                "[objects]\nbackend = \"s3\"\n[objects.s3]\nbucket = \"a\"\n",
            )?;
            jail.set_env("PONTE__OBJECTS__S3__BUCKET", "b");
            let s = Settings::load(Some(Path::new("p.toml"))).unwrap();
            assert_eq!(s.objects.backend, ObjectBackend::S3);
            assert_eq!(s.objects.s3.bucket, "b");
            Ok(())
        });
    }

    #[test]
    fn the_shown_configuration_hides_the_database_password() {
        assert_eq!(
            redact_url("postgres://ponte:s3cret@db:5432/ponte"),
            "postgres://ponte:REDACTED@db:5432/ponte"
        );
        assert_eq!(redact_url("postgres://db/ponte"), "postgres://db/ponte");
        let mut s = Settings::default();
        s.database.url = Some("postgres://u:pw@h/d".into());
        let shown = s.redacted_toml();
        assert!(
            !shown.contains("pw@") && shown.contains("REDACTED"),
            "{shown}"
        );
    }
}
