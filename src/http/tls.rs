//! Serving HTTPS with rustls (ring): client certificates are verified
//! against the party CA when presented and handed to the routes; handshake
//! failures are logged with their reason; SIGTERM stops accepting and lets
//! in-flight requests finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::metrics::Metrics;
use crate::config::Settings;
use crate::pki::{self, PkiError};
use crate::secret::{self, SecretError};

/// The client certificate a connection presented (verified against the CA).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub CertificateDer<'static>);

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Config(String),
}

/// The ring crypto provider, the only one in Ponte's tree.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (needed by clients
/// built without a bundled provider). Safe to call more than once.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Server TLS: the broker certificate, and client certificates verified
/// against the party CA. A connection without a certificate is accepted so
/// the public operational routes work; party routes refuse it.
pub fn server_config(settings: &Settings) -> Result<Arc<ServerConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in pki::read_certs(&settings.client_ca())? {
        roots
            .add(ca)
            .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let chain = pki::read_certs(&settings.tls_cert())?;
    let key_path = settings.tls_key_file();
    let key = private_key(&secret::read(
        &key_path,
        "set server.tls_key_file or run `ponte init`",
    )?)
    .map_err(|e| TlsError::Config(format!("{}: {e}", key_path.display())))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The first private key of a PEM file.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("not PEM: {e}"))?
        .ok_or_else(|| "no private key found".to_owned())
}

/// Accepts connections until `shutdown` resolves, then waits up to `grace`
/// for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out at once rather than wait for more to send (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(peer = %peer, error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let router = router.clone();
        let metrics = metrics.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    metrics.tls_handshake_failed();
                    tracing::warn!(peer = %peer, reason = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    metrics.tls_handshake_failed();
                    tracing::warn!(peer = %peer, reason = "timed out", "TLS handshake failed");
                    return;
                }
            };
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|der| PeerCertificate(der.clone().into_owned()));
            let address = super::throttle::PeerAddr(peer.ip());
            let service = router.map_request(
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    if let Some(cert) = &certificate {
                        request.extensions_mut().insert(cert.clone());
                    }
                    request.extensions_mut().insert(address);
                    request
                },
            );
            let mut builder = Builder::new(TokioExecutor::new());
            // Large envelopes stream at memory speed only with flow-control windows
            // well above the HTTP/2 default of 64 KiB; these bound what a peer
            // may have in flight (per stream, per connection).
            builder
                .http2()
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(8 << 20)
                .max_frame_size(1 << 20);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(service),
            );
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down: no new connections, waiting for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "in-flight requests did not finish in time"
        );
    }
}
