//! JOSE building blocks. This issue needs keys only: the strict JWS/JWE
//! profile of the document exchange builds on them.

pub mod jwk;

pub use jwk::{Jwk, JwkError, KeyUse};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// base64url without padding, as every JOSE member uses.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}
