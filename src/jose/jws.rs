//! JWS (RFC 7515) with EdDSA (RFC 8037) and ES256, compact and JSON
//! serializations. Verification keys come only from the caller's resolver
//! (the party directory), chosen by `kid`.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::{b64, b64_member, check_common, decode_header, JoseError, Jwk, KeyUse};

/// Finds the public key a `kid` names, if the signer may use it.
pub trait KeyResolver {
    fn resolve(&self, kid: &str) -> Option<Jwk>;
}

impl KeyResolver for [Jwk] {
    fn resolve(&self, kid: &str) -> Option<Jwk> {
        self.iter().find(|k| k.kid == kid).cloned()
    }
}

impl KeyResolver for Vec<Jwk> {
    fn resolve(&self, kid: &str) -> Option<Jwk> {
        self.as_slice().resolve(kid)
    }
}

/// A JWS whose signature verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    /// The key that signed.
    pub kid: String,
}

/// Signs `payload` with a private signing key, as a compact JWS whose
/// protected header holds `alg`, `kid` and the `extra` members (e.g. `cty`).
pub fn sign_compact(
    payload: &[u8],
    key: &Jwk,
    extra: &[(&str, &str)],
) -> Result<String, JoseError> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::String(key.alg.clone()));
    header.insert("kid".into(), Value::String(key.kid.clone()));
    for (name, value) in extra {
        header.insert((*name).into(), Value::String((*value).into()));
    }
    let signing_input = format!(
        "{}.{}",
        b64(Value::Object(header).to_string().as_bytes()),
        b64(payload)
    );
    let signature = sign(key, signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

fn sign(key: &Jwk, input: &[u8]) -> Result<Vec<u8>, JoseError> {
    if key.key_use != KeyUse::Sign {
        return Err(JoseError::UnsupportedAlg(format!(
            "{} is not a signing key",
            key.kid
        )));
    }
    match key.alg.as_str() {
        "EdDSA" => Ok(key.ed25519_pair()?.sign(input).as_ref().to_vec()),
        "ES256" => {
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_private_key_and_public_key(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.private_bytes()?,
                &key.public_bytes()?,
                &rng,
            )
            .map_err(|_| JoseError::Malformed("ES256 key".into()))?;
            Ok(pair
                .sign(&rng, input)
                .map_err(|_| JoseError::Malformed("ES256 signing failed".into()))?
                .as_ref()
                .to_vec())
        }
        other => Err(JoseError::UnsupportedAlg(other.into())),
    }
}

/// Verifies a compact JWS.
pub fn verify_compact(
    token: &str,
    keys: &(impl KeyResolver + ?Sized),
) -> Result<Verified, JoseError> {
    let mut parts = token.trim().split('.');
    let (Some(protected), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed("a compact JWS has three parts".into()));
    };
    verify_parts(protected, None, payload, signature, keys)
}

/// Verifies a JWS in JSON serialization (general or flattened). Every
/// signature present must verify; the first one's header and key are returned.
pub fn verify_json(text: &str, keys: &(impl KeyResolver + ?Sized)) -> Result<Verified, JoseError> {
    let value = super::strict_json(text.as_bytes()).map_err(JoseError::Malformed)?;
    let object = value
        .as_object()
        .ok_or_else(|| JoseError::Malformed("not a JSON object".into()))?;
    let payload = object
        .get("payload")
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::Malformed("payload missing".into()))?;
    let signatures: Vec<&Map<String, Value>> = match object.get("signatures") {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_object).collect(),
        Some(_) => return Err(JoseError::Malformed("signatures is not an array".into())),
        None => vec![object],
    };
    if signatures.is_empty() {
        return Err(JoseError::Malformed("no signature".into()));
    }
    let mut first = None;
    for entry in signatures {
        let protected = entry
            .get("protected")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let signature = entry
            .get("signature")
            .and_then(Value::as_str)
            .ok_or_else(|| JoseError::Malformed("signature missing".into()))?;
        let unprotected = match entry.get("header") {
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(JoseError::Malformed("header is not an object".into())),
            None => None,
        };
        let verified = verify_parts(protected, unprotected, payload, signature, keys)?;
        first.get_or_insert(verified);
    }
    first.ok_or_else(|| JoseError::Malformed("no signature".into()))
}

fn verify_parts(
    protected: &str,
    unprotected: Option<&Map<String, Value>>,
    payload: &str,
    signature: &str,
    keys: &(impl KeyResolver + ?Sized),
) -> Result<Verified, JoseError> {
    if protected.is_empty() {
        return Err(JoseError::Malformed(
            "the protected header is required".into(),
        ));
    }
    let mut header = decode_header(protected)?;
    check_common(&header)?;
    if let Some(unprotected) = unprotected {
        check_common(unprotected)?;
        for (name, value) in unprotected {
            if header.insert(name.clone(), value.clone()).is_some() {
                return Err(JoseError::Malformed(format!(
                    "header parameter {name:?} is both protected and not"
                )));
            }
        }
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("none") => return Err(JoseError::NoneAlg),
        Some(alg @ ("EdDSA" | "ES256")) => alg.to_owned(),
        Some(other) => return Err(JoseError::UnsupportedAlg(other.to_owned())),
        None => return Err(JoseError::Malformed("alg missing".into())),
    };
    if unprotected.is_some_and(|h| h.contains_key("alg")) {
        return Err(JoseError::Malformed(
            "alg must be integrity protected".into(),
        ));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            JoseError::Malformed(
                "kid missing: Ponte needs to know which registered key signed".into(),
            )
        })?
        .to_owned();
    let key = keys
        .resolve(&kid)
        .ok_or_else(|| JoseError::UnknownKey(kid.clone()))?;
    if key.key_use != KeyUse::Sign || key.alg != alg {
        return Err(JoseError::UnknownKey(kid));
    }
    let signature = b64_member("signature", signature)?;
    let algorithm: &dyn signature::VerificationAlgorithm = match alg.as_str() {
        "EdDSA" => &signature::ED25519,
        _ => &signature::ECDSA_P256_SHA256_FIXED,
    };
    let input = format!("{protected}.{payload}");
    UnparsedPublicKey::new(algorithm, key.public_bytes()?)
        .verify(input.as_bytes(), &signature)
        .map_err(|_| JoseError::BadSignature)?;
    Ok(Verified {
        header,
        payload: b64_member("payload", payload)?,
        kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc8037_key() -> Jwk {
        Jwk::parse(
            r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
                "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "use":"sig","alg":"EdDSA","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}"#,
        )
        .unwrap()
    }

    #[test]
    fn rfc8037_a4_ed25519_signature_vector() {
        // RFC 8037 A.4 signs {"alg":"EdDSA"} without a kid; Ed25519 is
        // deterministic, so our signer must produce the published signature.
        let key = rfc8037_key();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            b64(&sign(&key, input.as_bytes()).unwrap()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        // Our verifier insists on a kid, so the published token is refused for that reason only.
        let token = format!("{input}.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
        let err = verify_compact(&token, &vec![key.public()]).unwrap_err();
        assert!(
            matches!(err, JoseError::Malformed(ref m) if m.contains("kid")),
            "{err}"
        );
    }

    #[test]
    fn rfc7520_signatures_outside_the_profile_are_refused_naming_the_algorithm() {
        // RFC 7520 4.3 (ES512 over P-521, next to the profile's ES256) and
        // 4.4 (HS256), compact and general JSON: refused for the algorithm,
        // before any key is looked up.
        let all: Value = serde_json::from_str(include_str!("testdata/rfc7520.json")).unwrap();
        let keys = vec![Jwk::generate_p256(KeyUse::Sign).unwrap().public()];
        for (section, alg) in [("4.3", "ES512"), ("4.4", "HS256")] {
            let token = all[section]["compact"].as_str().unwrap();
            let parts: Vec<&str> = token.split('.').collect();
            let general = serde_json::json!({
                "payload": parts[1],
                "signatures": [{ "protected": parts[0], "signature": parts[2] }],
            })
            .to_string();
            for refused in [
                verify_compact(token, &keys).unwrap_err(),
                verify_json(&general, &keys).unwrap_err(),
            ] {
                assert!(
                    matches!(&refused, JoseError::UnsupportedAlg(a) if a == alg),
                    "section {section}: {refused}"
                );
                assert_eq!(refused.code(), "unsupported_algorithm");
            }
        }
    }

    #[test]
    fn compact_and_json_round_trip_for_both_algorithms() {
        for key in [
            Jwk::generate_ed25519().unwrap(),
            Jwk::generate_p256(KeyUse::Sign).unwrap(),
        ] {
            let token =
                sign_compact(b"the assessment", &key, &[("cty", "application/pdf")]).unwrap();
            let verified = verify_compact(&token, &vec![key.public()]).unwrap();
            assert_eq!(verified.payload, b"the assessment");
            assert_eq!(verified.header["cty"], "application/pdf");
            let mut parts = token.split('.');
            let (p, pl, s) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let flattened =
                serde_json::json!({ "protected": p, "payload": pl, "signature": s }).to_string();
            verify_json(&flattened, &vec![key.public()]).unwrap();
            let general = serde_json::json!({ "payload": pl, "signatures": [{ "protected": p, "signature": s }] }).to_string();
            verify_json(&general, &vec![key.public()]).unwrap();
        }
    }

    #[test]
    fn refusals_of_the_profile() {
        let key = Jwk::generate_ed25519().unwrap();
        let keys = vec![key.public()];
        let forge = |header: Value| {
            let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(b"x"));
            format!("{input}.{}", b64(&sign(&key, input.as_bytes()).unwrap()))
        };
        let kid = key.kid.as_str();
        let cases = [
            (
                serde_json::json!({"alg": "none", "kid": kid}),
                JoseError::NoneAlg,
            ),
            (
                serde_json::json!({"alg": "HS256", "kid": kid}),
                JoseError::UnsupportedAlg("HS256".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": kid, "crit": ["exp"]}),
                JoseError::Crit("[\"exp\"]".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": kid, "jwk": key.public()}),
                JoseError::EmbeddedKey("jwk".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": kid, "jku": "https://evil"}),
                JoseError::EmbeddedKey("jku".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": kid, "x5u": "https://evil"}),
                JoseError::EmbeddedKey("x5u".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": kid, "x5c": ["MIIB"]}),
                JoseError::EmbeddedKey("x5c".into()),
            ),
            (
                serde_json::json!({"alg": "EdDSA", "kid": "someone-else"}),
                JoseError::UnknownKey("someone-else".into()),
            ),
            (
                serde_json::json!({"alg": "ES256", "kid": kid}),
                JoseError::UnknownKey(kid.into()),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                verify_compact(&forge(header.clone()), &keys).unwrap_err(),
                expected,
                "{header}"
            );
        }
        // A parameter twice: refused, whichever copy a library would take.
        let twice = format!(r#"{{"alg":"EdDSA","kid":"{kid}","kid":"someone-else"}}"#);
        let input = format!("{}.{}", b64(twice.as_bytes()), b64(b"x"));
        let token = format!("{input}.{}", b64(&sign(&key, input.as_bytes()).unwrap()));
        assert!(
            matches!(verify_compact(&token, &keys), Err(JoseError::Malformed(m)) if m.contains("\"kid\" appears twice"))
        );
        // Parameters that bring no key are ignored: a type, a certificate
        // thumbprint some libraries add beside the kid, a private name.
        let hinted = serde_json::json!({
            "alg": "EdDSA", "kid": kid, "typ": "JOSE", "x5t": "c2hhMQ", "x5t#S256": "c2hhMjU2",
            "x-office": "Tirana",
        });
        assert_eq!(verify_compact(&forge(hinted), &keys).unwrap().payload, b"x");
        let big = serde_json::json!({"alg": "EdDSA", "kid": kid, "pad": "x".repeat(10_000)});
        assert_eq!(
            verify_compact(&forge(big), &keys).unwrap_err(),
            JoseError::HeaderTooLarge
        );
        let mut token = sign_compact(b"x", &key, &[]).unwrap();
        token.replace_range(token.len() - 3.., "AAA");
        assert!(matches!(
            verify_compact(&token, &keys),
            Err(JoseError::BadSignature | JoseError::Malformed(_))
        ));
    }
}
