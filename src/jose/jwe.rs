//! JWE (RFC 7516) in general JSON serialization: ECDH-ES+A256KW key
//! agreement over X25519 or P-256 per recipient, A256GCM content encryption.

use aes_kw::KekAes256;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::kdf::concat_kdf;
use super::{b64, b64_member, check_common, decode_header, JoseError, Jwk, KeyUse};

/// The only key management algorithm of the profile.
pub const ALG: &str = "ECDH-ES+A256KW";
/// The only content encryption algorithm of the profile.
pub const ENC: &str = "A256GCM";

/// Top-level members of the flattened JSON serialization only. Ponte adds
/// recipients to envelopes, which needs the general form.
const FLATTENED_ONLY: [&str; 2] = ["header", "encrypted_key"];

/// A JWE in general JSON serialization. Members it does not know are
/// ignored, as RFC 7516 section 7.2.1 requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwe {
    pub protected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprotected: Option<Map<String, Value>>,
    pub recipients: Vec<Recipient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
    pub iv: String,
    pub ciphertext: String,
    pub tag: String,
}

/// One recipient entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Map<String, Value>>,
    pub encrypted_key: String,
}

impl Recipient {
    /// The key id this entry is encrypted to.
    pub fn kid(&self) -> Option<&str> {
        self.header.as_ref()?.get("kid")?.as_str()
    }
}

impl Jwe {
    /// Parses the general JSON serialization (the flattened one is refused:
    /// Ponte adds recipients to envelopes, which needs the general form).
    pub fn parse(text: &[u8]) -> Result<Jwe, JoseError> {
        match super::strict_json(text) {
            Ok(Value::Object(members)) => Jwe::from_members(members),
            Ok(_) => Err(JoseError::Malformed(
                "not a general JSON JWE: not a JSON object".into(),
            )),
            Err(e) => Err(JoseError::Malformed(format!("not a general JSON JWE: {e}"))),
        }
    }

    /// Builds a JWE from its top-level members.
    ///
    /// Without `recipients`, a flattened-only member names the refused
    /// form. Beside `recipients`, a top-level `encrypted_key` that repeats
    /// an entry's (go-jose writes its first entry's there) says nothing
    /// new and is ignored; one that matches no entry, or a top-level
    /// `header`, would belong to no entry, and is refused as ambiguous.
    pub fn from_members(mut members: Map<String, Value>) -> Result<Jwe, JoseError> {
        if !members.contains_key("recipients") {
            if let Some(name) = FLATTENED_ONLY.iter().find(|n| members.contains_key(**n)) {
                return Err(JoseError::Malformed(format!(
                    "{name:?} belongs to the flattened JSON serialization; the general one (with `recipients`) is required"
                )));
            }
        }
        if members.contains_key("header") {
            return Err(JoseError::Malformed(
                "a top-level \"header\" beside `recipients` belongs to no recipient entry".into(),
            ));
        }
        let stray_key = members.remove("encrypted_key");
        let jwe: Jwe = serde_json::from_value(Value::Object(members))
            .map_err(|e| JoseError::Malformed(format!("not a general JSON JWE: {e}")))?;
        if let Some(key) = stray_key {
            if !jwe
                .recipients
                .iter()
                .any(|r| key.as_str() == Some(r.encrypted_key.as_str()))
            {
                return Err(JoseError::Malformed(
                    "a top-level \"encrypted_key\" beside `recipients` matches no recipient entry"
                        .into(),
                ));
            }
        }
        Ok(jwe)
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and JSON maps always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks everything but the ciphertext against the profile and returns
    /// the recipient key ids, in order.
    pub fn validate(&self, max_recipients: usize) -> Result<Vec<String>, JoseError> {
        let protected = decode_header(&self.protected)?;
        check_common(&protected)?;
        if let Some(unprotected) = &self.unprotected {
            check_common(unprotected)?;
        }
        if self.recipients.is_empty() {
            return Err(JoseError::Malformed("no recipient".into()));
        }
        if self.recipients.len() > max_recipients {
            return Err(JoseError::TooManyRecipients(
                self.recipients.len(),
                max_recipients,
            ));
        }
        let mut kids = Vec::with_capacity(self.recipients.len());
        for recipient in &self.recipients {
            let header = self.merged_header(&protected, recipient)?;
            match header.get("enc").and_then(Value::as_str) {
                Some(ENC) => {}
                Some(other) => return Err(JoseError::UnsupportedAlg(other.into())),
                None => return Err(JoseError::Malformed("enc missing".into())),
            }
            match header.get("alg").and_then(Value::as_str) {
                Some(ALG) => {}
                Some("none") => return Err(JoseError::NoneAlg),
                Some(other) => return Err(JoseError::UnsupportedAlg(other.into())),
                None => return Err(JoseError::Malformed("alg missing".into())),
            }
            let kid = header
                .get("kid")
                .and_then(Value::as_str)
                .ok_or_else(|| JoseError::Malformed("every recipient needs a kid".into()))?;
            if kids.iter().any(|k| k == kid) {
                return Err(JoseError::DuplicateRecipient(kid.into()));
            }
            epk_bytes(&header)?;
            if b64_member("encrypted_key", &recipient.encrypted_key)?.len() != 40 {
                return Err(JoseError::Malformed(
                    "encrypted_key must wrap a 256-bit key".into(),
                ));
            }
            kids.push(kid.to_owned());
        }
        if b64_member("iv", &self.iv)?.len() != 12 {
            return Err(JoseError::Malformed("iv must be 96 bits".into()));
        }
        if b64_member("tag", &self.tag)?.len() != 16 {
            return Err(JoseError::Malformed("tag must be 128 bits".into()));
        }
        if let Some(aad) = &self.aad {
            b64_member("aad", aad)?;
        }
        Ok(kids)
    }

    /// Protected, shared unprotected and per-recipient headers, which must be disjoint.
    fn merged_header(
        &self,
        protected: &Map<String, Value>,
        recipient: &Recipient,
    ) -> Result<Map<String, Value>, JoseError> {
        let mut merged = protected.clone();
        for part in [self.unprotected.as_ref(), recipient.header.as_ref()]
            .into_iter()
            .flatten()
        {
            check_common(part)?;
            for (name, value) in part {
                if merged.insert(name.clone(), value.clone()).is_some() {
                    return Err(JoseError::Malformed(format!(
                        "header parameter {name:?} appears twice"
                    )));
                }
            }
        }
        Ok(merged)
    }

    /// The key id of each recipient entry, wherever its header says it: in
    /// the entry, or, for an envelope with one recipient, in the shared or
    /// protected header (as RFC 7520 5.4 and some libraries write it).
    pub fn recipient_kids(&self) -> Vec<Option<String>> {
        let protected = decode_header(&self.protected).unwrap_or_default();
        let shared = |name: &str| {
            self.unprotected
                .as_ref()
                .and_then(|h| h.get(name))
                .or_else(|| protected.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        self.recipients
            .iter()
            .map(|r| r.kid().map(str::to_owned).or_else(|| shared("kid")))
            .collect()
    }

    /// Unwraps the content key with the recipient's private key.
    pub fn content_key(&self, key: &Jwk) -> Result<[u8; 32], JoseError> {
        let protected = decode_header(&self.protected)?;
        let recipient = self
            .recipient_kids()
            .into_iter()
            .position(|kid| kid.as_deref() == Some(key.kid.as_str()))
            .map(|i| &self.recipients[i])
            .ok_or_else(|| JoseError::NotARecipient(key.kid.clone()))?;
        let header = self.merged_header(&protected, recipient)?;
        let z = static_agreement(key, &epk_bytes(&header)?)?;
        let kek = derive_kek(&z, &header)?;
        let wrapped = b64_member("encrypted_key", &recipient.encrypted_key)?;
        let mut cek = [0u8; 32];
        KekAes256::from(kek)
            .unwrap(&wrapped, &mut cek)
            .map_err(|_| JoseError::Decrypt)?;
        Ok(cek)
    }

    /// Decrypts with the recipient's private key.
    pub fn decrypt(&self, key: &Jwk) -> Result<Vec<u8>, JoseError> {
        self.validate(usize::MAX)?;
        let cek = self.content_key(key)?;
        self.open_content(&cek)
    }

    /// The content layer: A256GCM under the content key, the protected
    /// header (and `aad`) authenticated.
    fn open_content(&self, cek: &[u8; 32]) -> Result<Vec<u8>, JoseError> {
        let mut in_out = b64_member("ciphertext", &self.ciphertext)?;
        in_out.extend(b64_member("tag", &self.tag)?);
        let iv: [u8; 12] = b64_member("iv", &self.iv)?
            .try_into()
            .map_err(|_| JoseError::Decrypt)?;
        let gcm = LessSafeKey::new(
            UnboundKey::new(&aead::AES_256_GCM, cek).map_err(|_| JoseError::Decrypt)?,
        );
        let plaintext = gcm
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(self.aad_input()),
                &mut in_out,
            )
            .map_err(|_| JoseError::Decrypt)?;
        Ok(plaintext.to_vec())
    }

    /// A new recipient entry for `recipient`, made by a holder who can
    /// unwrap the content key; ciphertext and protected header are untouched.
    pub fn wrap_for(&self, holder: &Jwk, recipient: &Jwk) -> Result<Recipient, JoseError> {
        let cek = self.content_key(holder)?;
        // What the envelope says for every recipient (its protected and
        // shared headers) holds for the new entry too: `apu` and `apv` go
        // into its key derivation, and nothing is repeated, since header
        // parameters must be disjoint (`alg` there, as some libraries write
        // it, is left out of the entry).
        let mut shared = decode_header(&self.protected)?;
        if let Some(unprotected) = &self.unprotected {
            shared.extend(unprotected.clone());
        }
        if let Some(name) = ["epk", "kid"].into_iter().find(|n| shared.contains_key(*n)) {
            return Err(JoseError::Malformed(format!(
                "the envelope's {name} is shared by all its recipients, so none can be added"
            )));
        }
        let mut entry = wrap_key(&cek, recipient, &shared)?;
        if shared.get("alg").and_then(Value::as_str) == Some(ALG) {
            if let Some(header) = entry.header.as_mut() {
                header.remove("alg");
            }
        }
        Ok(entry)
    }

    /// The additional authenticated data of A256GCM (RFC 7516 section 5.1 step 14).
    fn aad_input(&self) -> Vec<u8> {
        match &self.aad {
            Some(aad) => format!("{}.{aad}", self.protected).into_bytes(),
            None => self.protected.clone().into_bytes(),
        }
    }
}

/// Encrypts `plaintext` to each recipient key (public JWKs for encryption).
/// `cty` names the content type of the plaintext (e.g. `JWT` for a nested JWS).
pub fn encrypt(plaintext: &[u8], recipients: &[Jwk], cty: Option<&str>) -> Result<Jwe, JoseError> {
    let rng = SystemRandom::new();
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 12];
    rng.fill(&mut cek).map_err(|_| JoseError::Decrypt)?;
    rng.fill(&mut iv).map_err(|_| JoseError::Decrypt)?;
    let mut header = Map::new();
    header.insert("enc".into(), Value::String(ENC.into()));
    if let Some(cty) = cty {
        header.insert("cty".into(), Value::String(cty.into()));
    }
    let protected = b64(Value::Object(header.clone()).to_string().as_bytes());
    let entries = recipients
        .iter()
        .map(|r| wrap_key(&cek, r, &header))
        .collect::<Result<Vec<_>, _>>()?;
    let (ciphertext, tag) = seal_content(&cek, iv, &protected, plaintext)?;
    Ok(Jwe {
        protected,
        unprotected: None,
        recipients: entries,
        aad: None,
        iv: b64(&iv),
        ciphertext: b64(&ciphertext),
        tag: b64(&tag),
    })
}

/// The content layer: A256GCM under the content key with the encoded
/// protected header as additional authenticated data (RFC 7516 section 5.1
/// steps 14–15); the ciphertext and the tag.
fn seal_content(
    cek: &[u8; 32],
    iv: [u8; 12],
    protected: &str,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), JoseError> {
    let gcm =
        LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, cek).map_err(|_| JoseError::Decrypt)?);
    let mut in_out = plaintext.to_vec();
    let tag = gcm
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(protected.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| JoseError::Decrypt)?;
    Ok((in_out, tag.as_ref().to_vec()))
}

/// A recipient entry wrapping `cek` for `recipient` with a fresh ephemeral
/// key; `shared` is what the envelope's protected and shared headers say
/// for every recipient (its `apu` and `apv` enter the key derivation).
fn wrap_key(
    cek: &[u8; 32],
    recipient: &Jwk,
    shared: &Map<String, Value>,
) -> Result<Recipient, JoseError> {
    if recipient.key_use != KeyUse::Encrypt {
        return Err(JoseError::UnsupportedAlg(format!(
            "{} is not an encryption key",
            recipient.kid
        )));
    }
    let algorithm = match recipient.crv.as_str() {
        "X25519" => &agreement::X25519,
        "P-256" => &agreement::ECDH_P256,
        other => return Err(JoseError::UnsupportedAlg(format!("curve {other}"))),
    };
    let rng = SystemRandom::new();
    let ephemeral =
        EphemeralPrivateKey::generate(algorithm, &rng).map_err(|_| JoseError::Decrypt)?;
    let public = ephemeral
        .compute_public_key()
        .map_err(|_| JoseError::Decrypt)?;
    let epk = match recipient.crv.as_str() {
        "X25519" => serde_json::json!({ "kty": "OKP", "crv": "X25519", "x": b64(public.as_ref()) }),
        _ => {
            let point = public.as_ref();
            serde_json::json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
        }
    };
    let peer = UnparsedPublicKey::new(algorithm, recipient.public_bytes()?);
    let kek = agreement::agree_ephemeral(ephemeral, &peer, |z| derive_kek(z, shared)).map_err(
        |_| JoseError::Malformed(format!("recipient key {} is not usable", recipient.kid)),
    )??;
    let mut wrapped = [0u8; 40];
    KekAes256::from(kek)
        .wrap(cek, &mut wrapped)
        .map_err(|_| JoseError::Decrypt)?;
    let mut header = Map::new();
    header.insert("alg".into(), Value::String(ALG.into()));
    header.insert("kid".into(), Value::String(recipient.kid.clone()));
    header.insert("epk".into(), epk);
    Ok(Recipient {
        header: Some(header),
        encrypted_key: b64(&wrapped),
    })
}

/// The ephemeral public key of a recipient header, validated: X25519 (32
/// bytes) or an uncompressed P-256 point on the curve.
fn epk_bytes(header: &Map<String, Value>) -> Result<(String, Vec<u8>), JoseError> {
    let epk = header
        .get("epk")
        .and_then(Value::as_object)
        .ok_or_else(|| JoseError::Malformed("epk missing".into()))?;
    let field = |name: &str| epk.get(name).and_then(Value::as_str);
    if epk.contains_key("d") {
        return Err(JoseError::Malformed("epk carries a private key".into()));
    }
    match (field("kty"), field("crv")) {
        (Some("OKP"), Some("X25519")) => {
            let x = b64_member("epk.x", field("x").unwrap_or_default())?;
            if x.len() != 32 {
                return Err(JoseError::Malformed("epk.x must be 32 bytes".into()));
            }
            Ok(("X25519".into(), x))
        }
        (Some("EC"), Some("P-256")) => {
            let mut point = vec![4u8];
            point.extend(b64_member("epk.x", field("x").unwrap_or_default())?);
            point.extend(b64_member("epk.y", field("y").unwrap_or_default())?);
            p256::PublicKey::from_sec1_bytes(&point)
                .map_err(|_| JoseError::Malformed("epk is not a point on P-256".into()))?;
            Ok(("P-256".into(), point))
        }
        (kty, crv) => Err(JoseError::UnsupportedAlg(format!(
            "epk {} {}",
            kty.unwrap_or("?"),
            crv.unwrap_or("?")
        ))),
    }
}

/// Static-ephemeral agreement as the recipient.
fn static_agreement(key: &Jwk, (crv, epk): &(String, Vec<u8>)) -> Result<Vec<u8>, JoseError> {
    if *crv != key.crv || key.key_use != KeyUse::Encrypt {
        return Err(JoseError::Decrypt);
    }
    let d = key.private_bytes()?;
    match crv.as_str() {
        "X25519" => {
            let peer: [u8; 32] = epk.as_slice().try_into().map_err(|_| JoseError::Decrypt)?;
            let shared = x25519_dalek::StaticSecret::from(d)
                .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
            if !shared.was_contributory() {
                return Err(JoseError::Malformed("epk is a low-order point".into()));
            }
            Ok(shared.as_bytes().to_vec())
        }
        _ => {
            let secret = p256::SecretKey::from_slice(&d).map_err(|_| JoseError::Decrypt)?;
            let peer = p256::PublicKey::from_sec1_bytes(epk).map_err(|_| JoseError::Decrypt)?;
            let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
            Ok(shared.raw_secret_bytes().to_vec())
        }
    }
}

fn derive_kek(z: &[u8], header: &Map<String, Value>) -> Result<[u8; 32], JoseError> {
    let info = |name: &str| -> Result<Vec<u8>, JoseError> {
        match header.get(name).and_then(Value::as_str) {
            Some(text) => b64_member(name, text),
            None => Ok(Vec::new()),
        }
    };
    concat_kdf(z, ALG, &info("apu")?, &info("apv")?, 256)
        .try_into()
        .map_err(|_| JoseError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64_decode;

    /// RFC 7520's published vectors (see `testdata/rfc7520.json`).
    fn rfc7520(section: &str) -> Value {
        let all: Value = serde_json::from_str(include_str!("testdata/rfc7520.json")).unwrap();
        all[section].clone()
    }

    fn rfc7520_envelope(section: &str) -> Jwe {
        Jwe::parse(rfc7520(section)["json"].to_string().as_bytes()).unwrap()
    }

    #[test]
    fn members_nobody_defined_are_ignored_and_the_flattened_form_is_refused_by_name() {
        // RFC 7516 7.2.1: members an implementation does not understand
        // MUST be ignored, at the top level and in recipient entries.
        let key = Jwk::generate_x25519().unwrap();
        let envelope = encrypt(b"report", &[key.public()], None).unwrap();
        let mut value: Value = serde_json::from_str(&envelope.to_json()).unwrap();
        value["x-sender-note"] = "sent from the Tirana office".into();
        value["recipients"][0]["x-index"] = 1.into();
        let extended = Jwe::parse(value.to_string().as_bytes()).unwrap();
        assert_eq!(extended.validate(4).unwrap(), vec![key.kid.clone()]);
        assert_eq!(extended.decrypt(&key).unwrap(), b"report");
        // The flattened form: the one entry's members at the top level.
        let mut flattened: Value = serde_json::from_str(&envelope.to_json()).unwrap();
        let entry = flattened["recipients"][0].take();
        let object = flattened.as_object_mut().unwrap();
        object.remove("recipients");
        object.insert("header".into(), entry["header"].clone());
        object.insert("encrypted_key".into(), entry["encrypted_key"].clone());
        let refused = Jwe::parse(flattened.to_string().as_bytes()).unwrap_err();
        assert!(refused.to_string().contains("flattened"), "{refused}");
    }

    #[test]
    fn a_top_level_copy_of_an_entrys_key_is_ignored_and_anything_else_beside_recipients_refused() {
        // go-jose writes its first entry's encrypted_key at the top level
        // of the general form too.
        let keys = [
            Jwk::generate_x25519().unwrap(),
            Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
        ];
        let public: Vec<Jwk> = keys.iter().map(Jwk::public).collect();
        let envelope = encrypt(b"report", &public, None).unwrap();
        let mut value: Value = serde_json::from_str(&envelope.to_json()).unwrap();
        value["encrypted_key"] = value["recipients"][0]["encrypted_key"].clone();
        let parsed = Jwe::parse(value.to_string().as_bytes()).unwrap();
        assert_eq!(parsed, envelope);
        for key in &keys {
            assert_eq!(parsed.decrypt(key).unwrap(), b"report");
        }
        // A key for no entry, or a header for no entry: which recipient
        // they belong to is anyone's guess.
        value["encrypted_key"] = b64(&[7u8; 40]).into();
        let refused = Jwe::parse(value.to_string().as_bytes()).unwrap_err();
        assert!(
            refused.to_string().contains("matches no recipient entry"),
            "{refused}"
        );
        value.as_object_mut().unwrap().remove("encrypted_key");
        value["header"] = serde_json::json!({"alg": ALG});
        let refused = Jwe::parse(value.to_string().as_bytes()).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("belongs to no recipient entry"),
            "{refused}"
        );
    }

    #[test]
    fn rfc7520_5_2_a256gcm_content_layer_in_both_directions() {
        // Section 5.2 wraps its content key with RSA-OAEP, which the profile
        // refuses, but its content layer is exactly the profile's A256GCM.
        let vector = rfc7520("5.2");
        let envelope = rfc7520_envelope("5.2");
        let cek: [u8; 32] = b64_decode(vector["cek"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = vector["plaintext"].as_str().unwrap().as_bytes();
        assert_eq!(envelope.open_content(&cek).unwrap(), plaintext);
        let iv: [u8; 12] = b64_decode(&envelope.iv).unwrap().try_into().unwrap();
        let (ciphertext, tag) = seal_content(&cek, iv, &envelope.protected, plaintext).unwrap();
        assert_eq!(b64(&ciphertext), envelope.ciphertext);
        assert_eq!(b64(&tag), envelope.tag);
        // One changed byte of the authenticated header and nothing opens.
        let mut tampered = envelope.clone();
        tampered.protected.replace_range(0..1, "f");
        assert!(matches!(
            tampered.open_content(&cek),
            Err(JoseError::Decrypt)
        ));
        assert!(matches!(
            envelope.validate(16),
            Err(JoseError::UnsupportedAlg(alg)) if alg == "RSA-OAEP"
        ));
    }

    #[test]
    fn rfc7520_envelopes_outside_the_profile_are_parsed_and_refused_naming_why() {
        // General JSON as the cookbook writes it (shared unprotected header,
        // per-recipient headers, keys in the protected header) parses; each
        // is refused for the one thing the profile does not take.
        for (section, refused) in [
            // ECDH-ES+A128KW over P-384 with A128GCM: the content encryption
            // is checked first.
            ("5.4", JoseError::UnsupportedAlg("A128GCM".into())),
            ("5.9", JoseError::Zip),
            ("5.13", JoseError::UnsupportedAlg("A128CBC-HS256".into())),
        ] {
            let envelope = rfc7520_envelope(section);
            let got = envelope.validate(16).unwrap_err();
            assert_eq!(got.to_string(), refused.to_string(), "section {section}");
            assert_eq!(got.code(), refused.code(), "section {section}");
        }
        assert_eq!(rfc7520_envelope("5.13").recipients.len(), 3);
    }

    #[test]
    fn rfc3394_aes256_key_wrap_vector() {
        // RFC 3394 section 4.6: 256 bits of key data with a 256-bit KEK.
        let kek: [u8; 32] = core::array::from_fn(|i| i as u8);
        let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let mut out = [0u8; 40];
        KekAes256::from(kek).wrap(&data, &mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
        );
    }

    #[test]
    fn rfc7748_x25519_vector_through_the_static_recipient_path() {
        // RFC 7748 section 6.1 (also the keys of RFC 8037 A.6).
        let bob_private = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let alice_public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob = Jwk {
            kty: "OKP".into(),
            crv: "X25519".into(),
            x: b64(&hex(
                "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
            )),
            y: None,
            d: Some(b64(&bob_private)),
            key_use: KeyUse::Encrypt,
            alg: ALG.into(),
            kid: String::new(),
        };
        let z = static_agreement(&bob, &("X25519".into(), alice_public)).unwrap();
        assert_eq!(
            z,
            hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn encrypts_to_x25519_and_p256_recipients_and_each_decrypts() {
        let a = Jwk::generate_x25519().unwrap();
        let b = Jwk::generate_p256(KeyUse::Encrypt).unwrap();
        let jwe = encrypt(
            b"a family assessment",
            &[a.public(), b.public()],
            Some("JWT"),
        )
        .unwrap();
        assert_eq!(jwe.validate(8).unwrap(), vec![a.kid.clone(), b.kid.clone()]);
        let reparsed = Jwe::parse(jwe.to_json().as_bytes()).unwrap();
        assert_eq!(reparsed.decrypt(&a).unwrap(), b"a family assessment");
        assert_eq!(reparsed.decrypt(&b).unwrap(), b"a family assessment");
        let outsider = Jwk::generate_x25519().unwrap();
        assert_eq!(
            reparsed.decrypt(&outsider).unwrap_err(),
            JoseError::NotARecipient(outsider.kid.clone())
        );
    }

    #[test]
    fn a_share_adds_a_recipient_without_touching_the_ciphertext() {
        let holder = Jwk::generate_x25519().unwrap();
        let court = Jwk::generate_p256(KeyUse::Encrypt).unwrap();
        let mut jwe = encrypt(b"dossier", &[holder.public()], None).unwrap();
        let before = jwe.clone();
        jwe.recipients
            .push(jwe.wrap_for(&holder, &court.public()).unwrap());
        assert_eq!(
            (&jwe.protected, &jwe.ciphertext, &jwe.iv, &jwe.tag),
            (
                &before.protected,
                &before.ciphertext,
                &before.iv,
                &before.tag
            )
        );
        assert_eq!(jwe.decrypt(&court).unwrap(), b"dossier");
    }

    #[test]
    fn tampering_and_profile_violations_are_refused() {
        let key = Jwk::generate_x25519().unwrap();
        let jwe = encrypt(b"x", &[key.public()], None).unwrap();

        let mut flipped = jwe.clone();
        let mut ct = b64_decode(&flipped.ciphertext).unwrap();
        ct[0] ^= 1;
        flipped.ciphertext = b64(&ct);
        assert_eq!(flipped.decrypt(&key).unwrap_err(), JoseError::Decrypt);

        let with_header = |header: Value| Jwe {
            protected: b64(header.to_string().as_bytes()),
            ..jwe.clone()
        };
        let cases = [
            (
                serde_json::json!({"enc": "A128CBC-HS256"}),
                JoseError::UnsupportedAlg("A128CBC-HS256".into()),
            ),
            (
                serde_json::json!({"enc": ENC, "zip": "DEF"}),
                JoseError::Zip,
            ),
            (
                serde_json::json!({"enc": ENC, "crit": ["x"]}),
                JoseError::Crit("[\"x\"]".into()),
            ),
            (
                serde_json::json!({"enc": ENC, "jku": "https://evil"}),
                JoseError::EmbeddedKey("jku".into()),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                with_header(header.clone()).validate(8).unwrap_err(),
                expected,
                "{header}"
            );
        }
        let mut doubled = jwe.clone();
        doubled.recipients.push(doubled.recipients[0].clone());
        assert_eq!(
            doubled.validate(8).unwrap_err(),
            JoseError::DuplicateRecipient(key.kid.clone())
        );
        let many = Jwe {
            recipients: vec![jwe.recipients[0].clone(); 3],
            ..jwe.clone()
        };
        assert_eq!(
            many.validate(2).unwrap_err(),
            JoseError::TooManyRecipients(3, 2)
        );
        let mut rsa = jwe.clone();
        rsa.recipients[0]
            .header
            .as_mut()
            .unwrap()
            .insert("alg".into(), "RSA1_5".into());
        assert_eq!(
            rsa.validate(8).unwrap_err(),
            JoseError::UnsupportedAlg("RSA1_5".into())
        );
        assert!(Jwe::parse(
            br#"{"protected":"e30","encrypted_key":"x","iv":"","ciphertext":"","tag":""}"#
        )
        .is_err());
    }
}
