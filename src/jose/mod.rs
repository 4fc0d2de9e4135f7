//! Ponte's strict JOSE profile, on ring (RustCrypto only where ring lacks
//! the primitive: static-key X25519/P-256 agreement as a recipient, AES key
//! wrap):
//!
//! - JWS (RFC 7515, 8037): EdDSA (Ed25519) and ES256; compact and JSON.
//! - JWE (RFC 7516, 7518): general JSON, ECDH-ES+A256KW over X25519 and
//!   P-256, A256GCM, one recipient entry per recipient key.
//!
//! Anything else is refused with a [`JoseError`](crate::jose::JoseError): `none`, other algorithms,
//! `zip`, any `crit`, embedded or remote keys (`jwk`, `jku`, `x5u`, `x5c`),
//! unknown keys, duplicate or too many recipients, a member name twice in
//! any JSON object, oversize headers.

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

/// Parses JSON as JOSE objects must be read: a member name that appears
/// twice in any object is refused (RFC 7515 section 5.2 and RFC 7516
/// section 5.2 allow refusing it or taking the last; a party whose library
/// took the first would read another header than the broker checked).
pub fn strict_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    use serde::de::DeserializeSeed;
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = strict::Strict
        .deserialize(&mut reader)
        .map_err(|e| e.to_string())?;
    reader.end().map_err(|e| e.to_string())?;
    Ok(value)
}

mod strict {
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// Deserializes any JSON value, refusing duplicate member names.
    pub struct Strict;

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(Strict)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(v.into())
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(v.into())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Strict)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut members = Map::new();
            while let Some(name) = map.next_key::<String>()? {
                if members.contains_key(&name) {
                    return Err(de::Error::custom(format_args!(
                        "member {name:?} appears twice"
                    )));
                }
                let value = map.next_value_seed(Strict)?;
                members.insert(name, value);
            }
            Ok(Value::Object(members))
        }
    }
}

/// Decodes a base64url JSON header object with the size limit.
pub(crate) fn decode_header(
    encoded: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, JoseError> {
    if encoded.len() > MAX_HEADER_BYTES {
        return Err(JoseError::HeaderTooLarge);
    }
    let bytes = b64_member("protected header", encoded)?;
    match strict_json(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(JoseError::Malformed(
            "protected header is not a JSON object".into(),
        )),
        Err(e) => Err(JoseError::Malformed(format!("protected header: {e}"))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_name_twice_is_refused_at_any_depth() {
        let value = strict_json(br#"{"a":[1,{"b":null,"c":"d"}],"e":{"f":-1.5}}"#).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": [1, {"b": null, "c": "d"}], "e": {"f": -1.5}})
        );
        for text in [
            r#"{"alg":"EdDSA","alg":"none"}"#,
            r#"{"recipients":[{"header":{"kid":"a","kid":"b"}}]}"#,
            r#"{"a":{"b":1},"c":[{"d":1,"d":1}]}"#,
        ] {
            let refused = strict_json(text.as_bytes()).unwrap_err();
            assert!(refused.contains("appears twice"), "{text}: {refused}");
        }
        assert!(strict_json(br#"{"a":1} x"#).is_err(), "trailing bytes");
    }
}
