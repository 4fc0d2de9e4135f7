//! A typed client of the party API over mTLS, with the credentials of
//! `DATA_DIR/parties/<party>/`. The CLI's party commands and the integration
//! tests both use it.

use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::documents::{
    RecipientPlan, ShareAnswer, SubmitAnswer, ENVELOPE_SHA256_HEADER, MANIFEST_HEADER,
    RECEIPT_HEADER,
};
use crate::http::tls::{private_key, provider};
use crate::init::PartyFiles;
use crate::jose::jwe::Recipient;
use crate::pki;
use crate::secret;

/// The default broker address of the embedded set-up.
pub const DEFAULT_BROKER: &str = "https://127.0.0.1:8443";

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client set-up: {0}")]
    Config(String),
    #[error("cannot reach the broker: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("{status} {code}: {detail}")]
    Problem {
        status: u16,
        code: String,
        detail: String,
        body: serde_json::Value,
    },
}

impl ClientError {
    /// The HTTP status of a refused call.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The stable problem code of a refused call.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// An HTTP client of one broker.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client acting as `party`, with the credentials of the data directory.
    pub fn for_party(data_dir: &Path, party: &str, broker: &str) -> Result<Client, ClientError> {
        let files = PartyFiles::new(data_dir, party);
        if !files.tls_cert().exists() {
            return Err(ClientError::Config(format!(
                "no credentials for party {party:?} in {} (expected {})",
                data_dir.display(),
                files.tls_cert().display()
            )));
        }
        let chain =
            pki::read_certs(&files.tls_cert()).map_err(|e| ClientError::Config(e.to_string()))?;
        let key = secret::read(&files.tls_key(), "run `ponte init`")
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let key = private_key(&key)
            .map_err(|e| ClientError::Config(format!("{}: {e}", files.tls_key().display())))?;
        Client::new(&data_dir.join("ca.crt"), Some((chain, key)), broker)
    }

    /// A client without a client certificate (public routes only).
    pub fn anonymous(data_dir: &Path, broker: &str) -> Result<Client, ClientError> {
        Client::new(&data_dir.join("ca.crt"), None, broker)
    }

    /// A client trusting the CA in `ca_file`, presenting `identity` if given.
    pub fn new(
        ca_file: &Path,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
        broker: &str,
    ) -> Result<Client, ClientError> {
        let mut roots = RootCertStore::empty();
        for ca in pki::read_certs(ca_file).map_err(|e| ClientError::Config(e.to_string()))? {
            roots
                .add(ca)
                .map_err(|e| ClientError::Config(format!("CA certificate: {e}")))?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let mut tls = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Config(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(3600))
            .connect_timeout(std::time::Duration::from_secs(10))
            .tcp_nodelay(true)
            .http2_initial_stream_window_size(4 << 20)
            .http2_initial_connection_window_size(8 << 20)
            .http2_max_frame_size(1 << 20)
            .build()?;
        Ok(Client {
            http,
            base: broker.trim_end_matches('/').to_owned(),
        })
    }

    /// The full URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying HTTP client, for requests the typed helpers do not cover.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(self.http.get(self.url(path)).send().await?).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        decode(self.http.post(self.url(path)).json(body).send().await?).await
    }

    pub async fn put_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        decode(self.http.put(self.url(path)).json(body).send().await?).await
    }
}

/// A retrieved envelope with what the broker says about it.
#[derive(Debug, Clone)]
pub struct FetchedEnvelope {
    pub envelope: Vec<u8>,
    pub manifest: String,
    pub receipt: String,
    pub envelope_sha256: String,
}

impl Client {
    /// The recipient plan for a document of `document_type` for `purpose`.
    pub async fn plan(
        &self,
        case: &str,
        document_type: &str,
        purpose: &str,
        subjects: &[&str],
    ) -> Result<RecipientPlan, ClientError> {
        let url = self.url(&format!("/v1/cases/{case}/plan"));
        let subjects = subjects.join(",");
        let response = self
            .http
            .get(url)
            .query(&[
                ("document_type", document_type),
                ("purpose", purpose),
                ("subjects", subjects.as_str()),
            ])
            .send()
            .await?;
        decode(response).await
    }

    /// Submits a prepared document; the HTTP status tells a first
    /// submission (201) from a retry (200).
    pub async fn submit(
        &self,
        case: &str,
        manifest: &str,
        envelope: impl Into<reqwest::Body>,
    ) -> Result<(u16, SubmitAnswer), ClientError> {
        self.submit_with_agreement(case, manifest, envelope, None)
            .await
    }

    /// Submits a prepared document; a correction carries the agreement of
    /// the person concerned (the `Ponte-Agreement` header).
    pub async fn submit_with_agreement(
        &self,
        case: &str,
        manifest: &str,
        envelope: impl Into<reqwest::Body>,
        agreement: Option<&str>,
    ) -> Result<(u16, SubmitAnswer), ClientError> {
        let mut request = self
            .http
            .post(self.url(&format!("/v1/cases/{case}/documents")))
            .header(MANIFEST_HEADER, manifest)
            .header(reqwest::header::CONTENT_TYPE, "application/jose+json");
        if let Some(agreement) = agreement {
            request = request.header(crate::documents::correction::AGREEMENT_HEADER, agreement);
        }
        let response = request.body(envelope).send().await?;
        let status = response.status().as_u16();
        Ok((status, decode(response).await?))
    }

    /// Retrieves an envelope, naming the purpose.
    pub async fn envelope(
        &self,
        document: &str,
        purpose: &str,
    ) -> Result<FetchedEnvelope, ClientError> {
        self.envelope_with_progress(document, purpose, |_, _| {})
            .await
    }

    /// Retrieves an envelope, reporting (bytes so far, total if known) as it arrives.
    pub async fn envelope_with_progress(
        &self,
        document: &str,
        purpose: &str,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<FetchedEnvelope, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/documents/{document}/envelope")))
            .query(&[("purpose", purpose)])
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(decode::<serde_json::Value>(response).await.unwrap_err());
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (manifest, receipt, envelope_sha256) = (
            header(MANIFEST_HEADER),
            header(RECEIPT_HEADER),
            header(ENVELOPE_SHA256_HEADER),
        );
        let total = response.content_length();
        let mut envelope = Vec::with_capacity(total.unwrap_or(0).min(1 << 30) as usize);
        let mut stream = response.bytes_stream();
        while let Some(piece) = futures::StreamExt::next(&mut stream).await {
            envelope.extend_from_slice(&piece?);
            progress(envelope.len() as u64, total);
        }
        Ok(FetchedEnvelope {
            envelope,
            manifest,
            receipt,
            envelope_sha256,
        })
    }

    /// Moves a case one step (to `to`), on the document named or the newest
    /// one of the type the step needs.
    pub async fn transition(
        &self,
        case: &str,
        to: &str,
        document: Option<&str>,
    ) -> Result<crate::cases::workflow::Transition, ClientError> {
        let body = serde_json::json!({ "to": to, "document": document });
        self.post(&format!("/v1/cases/{case}/transitions"), &body)
            .await
    }

    /// Downloads a case's decision dossier into `out` (a ustar archive),
    /// streaming; answers the dossier id.
    pub async fn dossier(&self, case: &str, out: &Path) -> Result<String, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/cases/{case}/dossier")))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(decode::<serde_json::Value>(response).await.unwrap_err());
        }
        let id = response
            .headers()
            .get(crate::http::dossiers::DOSSIER_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut file = tokio::fs::File::create(out)
            .await
            .map_err(|e| ClientError::Config(format!("{}: {e}", out.display())))?;
        let mut stream = response.bytes_stream();
        while let Some(piece) = futures::StreamExt::next(&mut stream).await {
            tokio::io::AsyncWriteExt::write_all(&mut file, &piece?)
                .await
                .map_err(|e| ClientError::Config(format!("{}: {e}", out.display())))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| ClientError::Config(format!("{}: {e}", out.display())))?;
        Ok(id)
    }

    /// Adds a recipient entry for `party`.
    pub async fn share(
        &self,
        document: &str,
        party: &str,
        purpose: &str,
        entry: &Recipient,
    ) -> Result<ShareAnswer, ClientError> {
        let body = serde_json::json!({ "party": party, "purpose": purpose, "entry": entry });
        self.post(&format!("/v1/documents/{document}/recipients"), &body)
            .await
    }
}

/// The JSON body of a success, or the problem of a failure.
pub async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    let text = |key: &str| {
        body.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Err(ClientError::Problem {
        status: status.as_u16(),
        code: text("code"),
        detail: text("detail"),
        body,
    })
}
