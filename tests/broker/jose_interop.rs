//! Our JOSE profile against an independent implementation (josekit, on
//! OpenSSL), in both directions, for every algorithm and curve of the profile.

use josekit::jwe::{JweHeader, JweHeaderSet, ECDH_ES_A256KW};
use josekit::jws::{EdDSA, JwsHeader, JwsHeaderSet, ES256};
use ponte::jose::jwe::{self, Jwe};
use ponte::jose::jws;
use ponte::jose::{Jwk, KeyUse};

fn oracle_key(jwk: &Jwk) -> josekit::jwk::Jwk {
    josekit::jwk::Jwk::from_bytes(serde_json::to_vec(jwk).unwrap()).unwrap()
}

fn signing_keys() -> Vec<Jwk> {
    vec![
        Jwk::generate_ed25519().unwrap(),
        Jwk::generate_p256(KeyUse::Sign).unwrap(),
    ]
}

fn encryption_keys() -> Vec<Jwk> {
    vec![
        Jwk::generate_x25519().unwrap(),
        Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
    ]
}

#[test]
fn our_signatures_verify_with_josekit() {
    for key in signing_keys() {
        let token =
            jws::sign_compact(b"signed by a mission", &key, &[("cty", "text/plain")]).unwrap();
        let public = oracle_key(&key.public());
        let (payload, header) = match key.alg.as_str() {
            "EdDSA" => josekit::jws::deserialize_compact(
                &token,
                &EdDSA.verifier_from_jwk(&public).unwrap(),
            ),
            _ => josekit::jws::deserialize_compact(
                &token,
                &ES256.verifier_from_jwk(&public).unwrap(),
            ),
        }
        .unwrap();
        assert_eq!(payload, b"signed by a mission", "{}", key.alg);
        assert_eq!(header.key_id(), Some(key.kid.as_str()));
    }
}

#[test]
fn josekit_signatures_verify_with_ours_in_compact_and_json() {
    for key in signing_keys() {
        let private = oracle_key(&key);
        let mut header = JwsHeader::new();
        header.set_key_id(key.kid.clone());
        let mut set = JwsHeaderSet::new();
        set.set_key_id(key.kid.clone(), true);
        let (compact, json) = match key.alg.as_str() {
            "EdDSA" => {
                let signer = EdDSA.signer_from_jwk(&private).unwrap();
                (
                    josekit::jws::serialize_compact(b"from josekit", &header, &signer).unwrap(),
                    josekit::jws::serialize_general_json(b"from josekit", &[(&set, &signer)])
                        .unwrap(),
                )
            }
            _ => {
                let signer = ES256.signer_from_jwk(&private).unwrap();
                (
                    josekit::jws::serialize_compact(b"from josekit", &header, &signer).unwrap(),
                    josekit::jws::serialize_general_json(b"from josekit", &[(&set, &signer)])
                        .unwrap(),
                )
            }
        };
        let keys = vec![key.public()];
        assert_eq!(
            jws::verify_compact(&compact, &keys).unwrap().payload,
            b"from josekit",
            "{}",
            key.alg
        );
        assert_eq!(
            jws::verify_json(&json, &keys).unwrap().payload,
            b"from josekit",
            "{}",
            key.alg
        );
        let other = vec![Jwk::generate_ed25519().unwrap().public()];
        assert!(jws::verify_compact(&compact, &other).is_err());
    }
}

#[test]
fn our_envelopes_decrypt_with_josekit_for_every_recipient() {
    let keys = encryption_keys();
    let public: Vec<Jwk> = keys.iter().map(Jwk::public).collect();
    let envelope = jwe::encrypt(b"family assessment, Tirana", &public, Some("JWT"))
        .unwrap()
        .to_json();
    for key in &keys {
        let decrypter = ECDH_ES_A256KW.decrypter_from_jwk(&oracle_key(key)).unwrap();
        let (plaintext, header) =
            josekit::jwe::deserialize_json_with_selector(&envelope, |header| {
                Ok((header.key_id() == Some(key.kid.as_str()))
                    .then_some(&decrypter as &dyn josekit::jwe::JweDecrypter))
            })
            .unwrap();
        assert_eq!(plaintext, b"family assessment, Tirana", "{}", key.crv);
        assert_eq!(header.content_encryption(), Some("A256GCM"));
    }
}

#[test]
fn josekit_envelopes_validate_and_decrypt_with_ours() {
    let keys = encryption_keys();
    let encrypters: Vec<_> = keys
        .iter()
        .map(|k| {
            ECDH_ES_A256KW
                .encrypter_from_jwk(&oracle_key(&k.public()))
                .unwrap()
        })
        .collect();
    let headers: Vec<JweHeader> = keys
        .iter()
        .map(|k| {
            let mut h = JweHeader::new();
            h.set_key_id(k.kid.clone());
            h
        })
        .collect();
    let mut shared = JweHeaderSet::new();
    shared.set_content_encryption("A256GCM", true);
    let recipients: Vec<(Option<&JweHeader>, &dyn josekit::jwe::JweEncrypter)> = headers
        .iter()
        .zip(&encrypters)
        .map(|(h, e)| (Some(h), e as &dyn josekit::jwe::JweEncrypter))
        .collect();
    let envelope =
        josekit::jwe::serialize_general_json(b"from josekit", Some(&shared), &recipients, None)
            .unwrap();
    let parsed = Jwe::parse(envelope.as_bytes()).unwrap();
    let kids = parsed.validate(16).unwrap();
    assert_eq!(kids, keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>());
    for key in &keys {
        assert_eq!(parsed.decrypt(key).unwrap(), b"from josekit", "{}", key.crv);
    }
}
