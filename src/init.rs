//! Bootstrap of a data directory: the development PKI, the broker's keys and
//! the demo parties, registered in the configured database. Idempotent: it
//! creates what is missing and never overwrites an existing key.
//!
//! Layout (documented in the README):
//! `DIR/ca.crt`, `DIR/ca.key`; `DIR/broker/{tls.crt,tls.key,sign.jwk,kek.key}`;
//! `DIR/parties/<party-id>/{tls.crt,tls.key,sign.jwk,enc.jwk}`.

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::jose::{Jwk, JwkError};
use crate::parties::{self, PartyError, PartyId, Registration, Role};
use crate::pki::{self, DevCa, PkiError};
use crate::secret::{self, SecretError};
use crate::storage::sealed::{Kek, SealError};
use crate::storage::Db;

/// The demo parties of the development set-up: id, role, display name.
pub const DEMO_PARTIES: [(&str, Role, &str); 7] = [
    (
        "ministry-labour",
        Role::Ministry,
        "Ministry of Labour, DG Immigration",
    ),
    ("iom-rome", Role::IomCoordination, "IOM Rome, coordination"),
    ("iom-tirana", Role::IomMission, "IOM Tirana"),
    ("iom-dakar", Role::IomMission, "IOM Dakar"),
    ("tm-roma", Role::Court, "Tribunale per i minorenni di Roma"),
    (
        "comune-torino",
        Role::Municipality,
        "Comune di Torino, servizi sociali",
    ),
    ("guardian-torino-1", Role::Guardian, "Guardian 1, Torino"),
];

/// Why the data directory could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] JwkError),
    #[error(transparent)]
    Party(#[from] PartyError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("{0} exists but {1} does not; restore it or remove both to issue new ones")]
    Incomplete(PathBuf, PathBuf),
    #[error("{0}: {1}")]
    Read(PathBuf, String),
}

/// What an init run did.
#[derive(Debug, Default)]
pub struct InitReport {
    /// Files created by this run.
    pub created: Vec<PathBuf>,
    /// Parties registered in the database by this run.
    pub registered: Vec<PartyId>,
}

impl InitReport {
    pub fn changed_anything(&self) -> bool {
        !self.created.is_empty() || !self.registered.is_empty()
    }
}

/// The credential files of a party in a data directory.
pub struct PartyFiles {
    pub dir: PathBuf,
}

impl PartyFiles {
    pub fn new(data_dir: &Path, party: &str) -> PartyFiles {
        PartyFiles {
            dir: data_dir.join("parties").join(party),
        }
    }
    pub fn tls_cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }
    pub fn tls_key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
    pub fn sign_jwk(&self) -> PathBuf {
        self.dir.join("sign.jwk")
    }
    pub fn enc_jwk(&self) -> PathBuf {
        self.dir.join("enc.jwk")
    }
}

/// Creates whatever is missing of the development set-up and registers the
/// demo parties that the database does not know yet.
pub async fn run(settings: &Settings, db: &Db, at: &str) -> Result<InitReport, InitError> {
    let dir = &settings.data_dir;
    let mut report = InitReport::default();
    let ca = load_or_create_ca(dir, &mut report)?;

    let (cert, key) = (settings.tls_cert(), settings.tls_key_file());
    if ensure_pair(&cert, &key)? {
        let issued = ca.issue_server(&["localhost", "127.0.0.1", "::1"])?;
        secret::create(&key, issued.key_pem.as_bytes())?;
        pki::write_public(&cert, &issued.cert_pem)?;
        report.created.extend([cert, key]);
    }
    let signing = settings.signing_key_file();
    if !signing.exists() {
        secret::create(&signing, Jwk::generate_ed25519()?.to_json().as_bytes())?;
        report.created.push(signing);
    }
    let kek = settings.kek_file();
    if !kek.exists() {
        secret::create(&kek, Kek::generate_text()?.as_bytes())?;
        report.created.push(kek);
    }

    for (id, role, name) in DEMO_PARTIES {
        let id = PartyId::parse(id)?;
        let files = PartyFiles::new(dir, id.as_str());
        report.created.extend(ensure_party_files(&ca, &files, &id)?);
        if parties::find(db, &id).await?.is_none() {
            let registration = registration_from_files(&files, id.clone(), role, name.to_owned())?;
            match parties::unchecked_register(db, &registration, at).await {
                // Another replica registered it first.
                Ok(()) | Err(PartyError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
            report.registered.push(id);
        }
    }
    Ok(report)
}

fn load_or_create_ca(dir: &Path, report: &mut InitReport) -> Result<DevCa, InitError> {
    let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    if ensure_pair(&cert, &key)? {
        let ca = DevCa::create(dir)?;
        report.created.extend([cert, key]);
        Ok(ca)
    } else {
        Ok(DevCa::load(dir)?)
    }
}

/// True when neither file exists (both must be made); an error when only one does.
fn ensure_pair(cert: &Path, key: &Path) -> Result<bool, InitError> {
    match (cert.exists(), key.exists()) {
        (true, true) => Ok(false),
        (false, false) => Ok(true),
        (true, false) => Err(InitError::Incomplete(cert.to_owned(), key.to_owned())),
        (false, true) => Err(InitError::Incomplete(key.to_owned(), cert.to_owned())),
    }
}

/// Issues the certificate and keys a party lacks, with the development CA.
pub fn ensure_party_files(
    ca: &DevCa,
    files: &PartyFiles,
    id: &PartyId,
) -> Result<Vec<PathBuf>, InitError> {
    let mut created = Vec::new();
    if ensure_pair(&files.tls_cert(), &files.tls_key())? {
        let issued = ca.issue_client(id.as_str())?;
        secret::create(&files.tls_key(), issued.key_pem.as_bytes())?;
        pki::write_public(&files.tls_cert(), &issued.cert_pem)?;
        created.extend([files.tls_cert(), files.tls_key()]);
    }
    if !files.sign_jwk().exists() {
        secret::create(
            &files.sign_jwk(),
            Jwk::generate_ed25519()?.to_json().as_bytes(),
        )?;
        created.push(files.sign_jwk());
    }
    if !files.enc_jwk().exists() {
        secret::create(
            &files.enc_jwk(),
            Jwk::generate_x25519()?.to_json().as_bytes(),
        )?;
        created.push(files.enc_jwk());
    }
    Ok(created)
}

/// What to register for a party whose credentials are in `files`.
pub fn registration_from_files(
    files: &PartyFiles,
    id: PartyId,
    role: Role,
    display_name: String,
) -> Result<Registration, InitError> {
    let certificates = pki::read_certs(&files.tls_cert())?
        .first()
        .map(|der| vec![pki::fingerprint(der)])
        .unwrap_or_default();
    let mut keys = Vec::new();
    for path in [files.sign_jwk(), files.enc_jwk()] {
        let text = secret::read_string(&path, "run `ponte init`")?;
        keys.push(
            Jwk::parse(&text)
                .map_err(|e| InitError::Read(path.clone(), e.to_string()))?
                .public(),
        );
    }
    Ok(Registration {
        id,
        role,
        display_name,
        certificates,
        keys,
    })
}
