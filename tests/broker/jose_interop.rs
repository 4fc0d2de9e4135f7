//! Our JOSE profile against independent implementations, in both
//! directions: josekit (on OpenSSL) for every algorithm and curve of the
//! profile, and six more for whole documents as parties seal them:
//! jwcrypto and joserfc (Python), panva/jose and node-jose (Node), go-jose
//! (Go) and latchset's `jose` (C), each on the curves it has.

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

// Six more independent implementations, driven as parties through the
// scripts in tests/interop/, for whole documents as parties exchange them
// (a signed document inside a multi-recipient envelope).

use crate::common::OtherJose;

fn key_file(dir: &std::path::Path, key: &Jwk) -> std::path::PathBuf {
    let path = dir.join(format!("{}.jwk", key.kid));
    std::fs::write(&path, key.to_json()).unwrap();
    path
}

#[test]
fn documents_we_seal_open_with_other_jose_libraries_for_every_recipient() {
    use ponte::documents::party::{self, Draft};
    let dir = tempfile::tempdir().unwrap();
    let recipients = encryption_keys();
    let public: Vec<Jwk> = recipients.iter().map(Jwk::public).collect();
    let document = b"%PDF-1.7 family assessment, signed by the mission".repeat(50);
    for author in signing_keys() {
        let draft = Draft {
            document_id: ponte::documents::DocumentId::generate(),
            case: ponte::cases::CaseId::generate().unwrap(),
            document_type: "family_assessment".parse().unwrap(),
            purpose: "best_interest_assessment".parse().unwrap(),
            subjects: Vec::new(),
            supersedes: None,
            media_type: "application/pdf".into(),
        };
        let prepared = party::prepare(&document, &draft, &author, &public).unwrap();
        let envelope = dir.path().join("envelope.json");
        std::fs::write(&envelope, &prepared.envelope).unwrap();
        let author_file = key_file(dir.path(), &author.public());
        for (library, recipient) in OtherJose::ALL
            .into_iter()
            .filter(|library| library.has_curve(&author.crv))
            .flat_map(|library| recipients.iter().map(move |r| (library, r)))
            .filter(|(library, recipient)| library.has_curve(&recipient.crv))
        {
            let opened: serde_json::Value = serde_json::from_str(&library.run(&[
                "open".as_ref(),
                envelope.as_os_str(),
                key_file(dir.path(), recipient).as_os_str(),
                author_file.as_os_str(),
            ]
                as &[&std::ffi::OsStr]))
            .unwrap();
            assert_eq!(
                opened["media_type"], "application/pdf",
                "{library:?}, {}",
                author.alg
            );
            assert_eq!(
                opened["document_hex"].as_str().unwrap(),
                ponte::pki::hex(&document),
                "{library:?}: author {}, recipient {:?}",
                author.alg,
                recipient.crv
            );
        }
    }
}

#[test]
fn documents_other_jose_libraries_seal_pass_our_profile_and_open_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let recipients = encryption_keys();
    let document = b"social report from the municipality".repeat(40);
    let document_file = dir.path().join("document.bin");
    std::fs::write(&document_file, &document).unwrap();
    for (library, author) in OtherJose::ALL
        .into_iter()
        .flat_map(|library| signing_keys().into_iter().map(move |k| (library, k)))
        .filter(|(library, author)| library.has_curve(&author.crv))
    {
        let recipients: Vec<&Jwk> = recipients
            .iter()
            .filter(|r| library.has_curve(&r.crv))
            .collect();
        // One recipient and all: some libraries write the flattened syntax
        // for one, which their party scripts turn into the general syntax.
        let mut counts = vec![1, recipients.len()];
        counts.dedup();
        for count in counts {
            let mut args: Vec<std::ffi::OsString> = vec![
                "seal".into(),
                document_file.clone().into(),
                "text/plain".into(),
                key_file(dir.path(), &author).into(),
            ];
            for recipient in &recipients[..count] {
                args.push(key_file(dir.path(), &recipient.public()).into());
            }
            let envelope = library.run(&args);
            let jwe = Jwe::parse(envelope.trim().as_bytes()).unwrap();
            let kids = jwe.validate(8).unwrap();
            assert_eq!(kids.len(), count);
            // Each entry's key id, wherever the library put it (go-jose
            // protects a lone recipient's kid).
            assert_eq!(
                jwe.recipient_kids(),
                recipients[..count]
                    .iter()
                    .map(|r| Some(r.kid.clone()))
                    .collect::<Vec<_>>(),
                "{library:?}"
            );
            for recipient in &recipients[..count] {
                let inner = String::from_utf8(jwe.decrypt(recipient).unwrap()).unwrap();
                let verified = jws::verify_compact(&inner, &[author.public()][..]).unwrap();
                assert_eq!(
                    verified.payload, document,
                    "{library:?}: {} / {:?}",
                    author.alg, recipient.crv
                );
                assert_eq!(verified.header["cty"], "text/plain");
            }
        }
    }
}

#[test]
fn envelopes_in_every_header_layout_of_rfc_7516_validate_and_open_with_ours() {
    // `alg` per recipient, in the protected header or in the shared
    // unprotected header, additional authenticated data, and `apu`/`apv`
    // per recipient or in the protected header: a conforming library may
    // write any of them, and the profile takes them all.
    let dir = tempfile::tempdir().unwrap();
    let plaintext = dir.path().join("plaintext.bin");
    std::fs::write(&plaintext, b"a social report").unwrap();
    let recipients = encryption_keys();
    let mut args: Vec<std::ffi::OsString> = vec!["layouts".into(), plaintext.into()];
    for recipient in &recipients {
        args.push(key_file(dir.path(), &recipient.public()).into());
    }
    let layouts: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&OtherJose::NodeJose.run(&args)).unwrap();
    assert_eq!(layouts.len(), 7);
    let court = Jwk::generate_x25519().unwrap();
    for (layout, envelope) in &layouts {
        let mut jwe = Jwe::parse(envelope.to_string().as_bytes()).unwrap();
        let addressed = if layout == "single_recipient_protected" {
            &recipients[..1]
        } else {
            &recipients[..]
        };
        let kids = jwe.validate(8).unwrap();
        assert_eq!(kids.len(), addressed.len(), "{layout}");
        for recipient in addressed {
            assert_eq!(
                jwe.decrypt(recipient).unwrap(),
                b"a social report",
                "{layout} / {:?}",
                recipient.crv
            );
        }
        // A holder shares it with a party entitled later: the envelope
        // stays valid and opens for the new recipient, unless its kid or
        // ephemeral key is in the header every recipient shares, which no
        // entry can override (the refusal says so).
        let shared = jwe.wrap_for(&addressed[0], &court.public());
        if layout == "single_recipient_protected" {
            let refused = shared.unwrap_err();
            assert!(
                refused.to_string().contains("shared by all its recipients"),
                "{refused}"
            );
            continue;
        }
        jwe.recipients.push(shared.unwrap());
        assert_eq!(
            jwe.validate(8).unwrap().len(),
            addressed.len() + 1,
            "{layout}"
        );
        assert_eq!(jwe.decrypt(&court).unwrap(), b"a social report", "{layout}");
    }
}
