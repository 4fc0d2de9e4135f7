//! X.509 for mTLS: the development CA made by `ponte init`, the certificates
//! it issues, and the fingerprints the party registry maps to parties.
//!
//! The development CA is for development only; production deployments bring
//! their own CA and register party certificates with `ponte party add --cert`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::secret::{self, SecretError};

/// Common name of the development CA; the issuer is rebuilt from it.
const DEV_CA_NAME: &str = "Ponte development CA (not for production)";

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A certificate with its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The development certificate authority of a data directory.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
}

impl DevCa {
    /// Creates `ca.crt` and `ca.key` in `dir`; fails rather than overwrite.
    pub fn create(dir: &Path) -> Result<DevCa, PkiError> {
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert = params.self_signed(&key)?;
        secret::create(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
        write_public(&dir.join("ca.crt"), &cert.pem())?;
        Ok(DevCa {
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads the CA of `dir` to issue more certificates.
    pub fn load(dir: &Path) -> Result<DevCa, PkiError> {
        let path = dir.join("ca.key");
        let pem = secret::read_string(&path, "run `ponte init` to create the development CA")?;
        let key = KeyPair::from_pem(&pem).map_err(|e| PkiError::Read {
            path,
            reason: e.to_string(),
        })?;
        Ok(DevCa {
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// A server certificate for the given DNS names and IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        for name in names {
            params.subject_alt_names.push(match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into()?),
            });
        }
        params.distinguished_name = dn("Ponte broker");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate naming the party (CN and a `urn:ponte:party:` URI).
    pub fn issue_client(&self, party: &str) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = dn(party);
        params.subject_alt_names =
            vec![SanType::URI(format!("urn:ponte:party:{party}").try_into()?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, mut params: CertificateParams) -> Result<Issued, PkiError> {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(2 * 365);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(DEV_CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    params
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Ponte");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Writes a public file (certificate); never overwrites.
pub fn write_public(path: &Path, contents: &str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)
}

/// Every certificate in a PEM file, in order.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let pem = std::fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })?;
    certs_from_pem(&pem).map_err(|reason| PkiError::Read {
        path: path.to_owned(),
        reason,
    })
}

/// Every certificate in PEM text; an input with none is an error.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(certs)
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex: how the party
/// registry recognises a client certificate.
pub fn fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_ca_reloads_and_issues_certificates_that_chain_to_it() {
        let dir = tempfile::tempdir().unwrap();
        DevCa::create(dir.path()).unwrap();
        assert!(
            DevCa::create(dir.path()).is_err(),
            "never overwrites the CA"
        );
        let ca = DevCa::load(dir.path()).unwrap();
        let issued = ca.issue_client("iom-tirana").unwrap();
        let leaf = certs_from_pem(issued.cert_pem.as_bytes())
            .unwrap()
            .remove(0);

        let roots = read_certs(&dir.path().join("ca.crt")).unwrap();
        let mut store = rustls::RootCertStore::empty();
        store.add(roots[0].clone()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(store),
            provider,
        )
        .build()
        .unwrap();
        verifier
            .verify_client_cert(&leaf, &[], rustls::pki_types::UnixTime::now())
            .expect("a certificate from the reloaded CA verifies");
        assert_eq!(fingerprint(&leaf).len(), 64);
    }
}
