//! Ponte's strict JOSE profile, on ring (RustCrypto only where ring lacks
//! the primitive: static-key X25519/P-256 agreement as a recipient, AES key
//! wrap):
//!
//! - JWS (RFC 7515, 8037): EdDSA (Ed25519) and ES256; compact and JSON.
//! - JWE (RFC 7516, 7518): general JSON, ECDH-ES+A256KW over X25519 and
//!   P-256, A256GCM, one recipient entry per recipient key.
//!
//! Anything else is refused with a [`JoseError`]: `none`, other algorithms,
//! `zip`, any `crit`, embedded or remote keys (`jwk`, `jku`, `x5u`, `x5c`),
//! unknown keys, duplicate or too many recipients, oversize headers.

pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod kdf;

pub use jwk::{Jwk, JwkError, KeyUse};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Largest protected or unprotected header Ponte reads, in bytes (base64url).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Header parameters that would let a message bring its own key or name
/// where to fetch one. (A certificate thumbprint, `x5t` or `x5t#S256`,
/// only names a key, as `kid` does; some libraries add it, and it is
/// ignored: keys come from the party directory by `kid` alone.)
pub const FORBIDDEN_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Why a JOSE object was refused. Each has a stable code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("malformed JOSE object: {0}")]
    Malformed(String),
    #[error("alg \"none\" is never accepted")]
    NoneAlg,
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlg(String),
    #[error("compressed content (zip) is not accepted")]
    Zip,
    #[error("critical header extensions are not supported: {0}")]
    Crit(String),
    #[error("header parameter {0:?} is not accepted: keys come from the party directory only")]
    EmbeddedKey(String),
    #[error("header too large (over {MAX_HEADER_BYTES} bytes)")]
    HeaderTooLarge,
    #[error("key {0:?} is not registered to the signing party")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("recipient key {0:?} appears more than once")]
    DuplicateRecipient(String),
    #[error("too many recipients ({0}, at most {1})")]
    TooManyRecipients(usize, usize),
    #[error("no recipient entry for key {0:?}")]
    NotARecipient(String),
    #[error("decryption failed")]
    Decrypt,
    #[error(transparent)]
    Key(#[from] JwkError),
}

impl JoseError {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            JoseError::Malformed(_) => "malformed_jose",
            JoseError::NoneAlg | JoseError::UnsupportedAlg(_) => "unsupported_algorithm",
            JoseError::Zip => "compression_not_accepted",
            JoseError::Crit(_) => "unsupported_critical_header",
            JoseError::EmbeddedKey(_) => "embedded_key_not_accepted",
            JoseError::HeaderTooLarge => "header_too_large",
            JoseError::UnknownKey(_) => "key_not_registered",
            JoseError::BadSignature => "bad_signature",
            JoseError::DuplicateRecipient(_) => "duplicate_recipient",
            JoseError::TooManyRecipients(..) => "too_many_recipients",
            JoseError::NotARecipient(_) => "not_a_recipient",
            JoseError::Decrypt => "decryption_failed",
            JoseError::Key(_) => "unsupported_key",
        }
    }
}

/// base64url without padding, as every JOSE member uses.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Decodes a base64url member, naming it in the error.
pub(crate) fn b64_member(name: &str, text: &str) -> Result<Vec<u8>, JoseError> {
    b64_decode(text).map_err(|e| JoseError::Malformed(format!("{name}: not base64url ({e})")))
}

/// Decodes a base64url JSON header object with the size limit.
pub(crate) fn decode_header(
    encoded: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, JoseError> {
    if encoded.len() > MAX_HEADER_BYTES {
        return Err(JoseError::HeaderTooLarge);
    }
    let bytes = b64_member("protected header", encoded)?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(JoseError::Malformed(
            "protected header is not a JSON object".into(),
        )),
    }
}

/// Refuses `crit`, `zip` and embedded keys in any header of a message.
pub(crate) fn check_common(
    header: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), JoseError> {
    if let Some(crit) = header.get("crit") {
        return Err(JoseError::Crit(crit.to_string()));
    }
    if header.contains_key("zip") {
        return Err(JoseError::Zip);
    }
    if let Some(name) = FORBIDDEN_HEADERS
        .iter()
        .find(|name| header.contains_key(**name))
    {
        return Err(JoseError::EmbeddedKey((*name).to_owned()));
    }
    Ok(())
}
