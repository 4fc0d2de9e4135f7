//! Receipts: the broker's signed statement that it accepted a submission
//! (document, manifest and envelope hashes, submitter, time). Anyone with
//! the broker's JWKS can check one offline (`ponte receipt verify`).

use serde::{Deserialize, Serialize};

use super::DocumentId;
use crate::cases::CaseId;
use crate::jose::jws::{self, KeyResolver};
use crate::jose::{JoseError, Jwk};

/// The `typ` of a receipt JWS.
pub const RECEIPT_TYP: &str = "ponte-receipt+jws";

/// What a receipt states (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub v: u32,
    pub document_id: DocumentId,
    pub case: CaseId,
    /// The party that submitted, authenticated by mTLS and the manifest signature.
    pub submitter: String,
    /// SHA-256 (hex) of the manifest JWS as received.
    pub manifest_sha256: String,
    /// SHA-256 (hex) of the envelope bytes as received.
    pub envelope_sha256: String,
    /// Envelope size in bytes.
    pub size: u64,
    pub received_at: String,
}

impl Receipt {
    /// Signs with the broker's key.
    pub fn sign(&self, broker_key: &Jwk) -> Result<String, JoseError> {
        let payload = serde_json::to_vec(self).map_err(|e| JoseError::Malformed(e.to_string()))?;
        jws::sign_compact(&payload, broker_key, &[("typ", RECEIPT_TYP)])
    }

    /// Verifies a receipt against the broker's public keys.
    pub fn verify(
        token: &str,
        broker_keys: &(impl KeyResolver + ?Sized),
    ) -> Result<Receipt, JoseError> {
        let verified = jws::verify_compact(token, broker_keys)?;
        if verified.header.get("typ").and_then(|t| t.as_str()) != Some(RECEIPT_TYP) {
            return Err(JoseError::Malformed(format!("typ must be {RECEIPT_TYP}")));
        }
        serde_json::from_slice(&verified.payload)
            .map_err(|e| JoseError::Malformed(format!("receipt: {e}")))
    }
}

/// Public keys of a JWKS document.
pub fn jwks_keys(jwks: &serde_json::Value) -> Vec<Jwk> {
    jwks.get("keys")
        .and_then(|k| k.as_array())
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| k.check().is_ok() && k.d.is_none())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_verifies_offline_and_a_forged_one_does_not() {
        let broker = Jwk::generate_ed25519().unwrap();
        let receipt = Receipt {
            v: 1,
            document_id: DocumentId::generate(),
            case: CaseId::generate().unwrap(),
            submitter: "iom-tirana".into(),
            manifest_sha256: "a".repeat(64),
            envelope_sha256: "b".repeat(64),
            size: 10,
            received_at: "2026-11-22T10:00:00.000Z".into(),
        };
        let token = receipt.sign(&broker).unwrap();
        let jwks = serde_json::json!({ "keys": [broker.public()] });
        assert_eq!(Receipt::verify(&token, &jwks_keys(&jwks)).unwrap(), receipt);
        let impostor = Jwk::generate_ed25519().unwrap();
        let forged = Receipt {
            size: 11,
            ..receipt
        }
        .sign(&impostor)
        .unwrap();
        assert!(Receipt::verify(&forged, &jwks_keys(&jwks)).is_err());
    }
}
