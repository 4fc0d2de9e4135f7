//! JSON Web Keys (RFC 7517, RFC 8037 for OKP): the parties' Ed25519 signing
//! and X25519 encryption keys and the broker's Ed25519 key. Key ids are RFC
//! 7638 thumbprints, so a key id names exactly one public key.

use std::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::{b64, b64_decode};

/// What a key is for (the JWK `use` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyUse {
    #[serde(rename = "sig")]
    Sign,
    #[serde(rename = "enc")]
    Encrypt,
}

impl KeyUse {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUse::Sign => "sig",
            KeyUse::Encrypt => "enc",
        }
    }
}

impl std::str::FromStr for KeyUse {
    type Err = JwkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sig" => Ok(KeyUse::Sign),
            "enc" => Ok(KeyUse::Encrypt),
            other => Err(JwkError::Unsupported(format!("key use {other:?}"))),
        }
    }
}

/// A key that cannot be used by Ponte.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwkError {
    #[error("not a JWK: {0}")]
    Malformed(String),
    #[error("unsupported key: {0}")]
    Unsupported(String),
    #[error("a private key was given where only a public key belongs")]
    PrivatePartPresent,
    #[error("no secure random numbers available")]
    Random,
}

/// A JSON Web Key of the profile, public or private: OKP Ed25519 (EdDSA),
/// OKP X25519 and EC P-256 (ECDH-ES+A256KW), EC P-256 (ES256).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub d: Option<String>,
    #[serde(rename = "use")]
    pub key_use: KeyUse,
    pub alg: String,
    pub kid: String,
}

impl fmt::Debug for Jwk {
    // Never print the private part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("crv", &self.crv)
            .field("use", &self.key_use)
            .field("kid", &self.kid)
            .field("private", &self.d.is_some())
            .finish()
    }
}

impl Jwk {
    /// A new Ed25519 signing key (alg EdDSA).
    pub fn generate_ed25519() -> Result<Jwk, JwkError> {
        let seed = random_32()?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| JwkError::Random)?;
        Ok(Jwk::okp(
            "Ed25519",
            pair.public_key().as_ref(),
            Some(&seed),
            KeyUse::Sign,
            "EdDSA",
        ))
    }

    /// A new X25519 key agreement key (alg ECDH-ES+A256KW).
    pub fn generate_x25519() -> Result<Jwk, JwkError> {
        let secret = x25519_dalek::StaticSecret::from(random_32()?);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Jwk::okp(
            "X25519",
            public.as_bytes(),
            Some(secret.as_bytes()),
            KeyUse::Encrypt,
            "ECDH-ES+A256KW",
        ))
    }

    /// A new P-256 key, for ES256 signatures or ECDH-ES+A256KW.
    pub fn generate_p256(key_use: KeyUse) -> Result<Jwk, JwkError> {
        // A random 32-byte string is a valid scalar except with probability ~2^-32.
        let secret = loop {
            if let Ok(secret) = p256::SecretKey::from_slice(&random_32()?) {
                break secret;
            }
        };
        let point = secret.public_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|x| b64(x)), point.y().map(|y| b64(y)));
        let (Some(x), Some(y)) = (x, y) else {
            return Err(JwkError::Malformed("P-256 point".into()));
        };
        let alg = match key_use {
            KeyUse::Sign => "ES256",
            KeyUse::Encrypt => "ECDH-ES+A256KW",
        };
        Ok(Jwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            kid: thumbprint_ec(&x, &y),
            x,
            y: Some(y),
            d: Some(b64(&secret.to_bytes())),
            key_use,
            alg: alg.into(),
        })
    }

    fn okp(crv: &str, public: &[u8], private: Option<&[u8]>, key_use: KeyUse, alg: &str) -> Jwk {
        let x = b64(public);
        Jwk {
            kty: "OKP".into(),
            crv: crv.into(),
            kid: thumbprint("OKP", crv, &x),
            x,
            y: None,
            d: private.map(b64),
            key_use,
            alg: alg.into(),
        }
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        match &self.y {
            Some(y) if self.kty == "EC" => thumbprint_ec(&self.x, y),
            _ => thumbprint(&self.kty, &self.crv, &self.x),
        }
    }

    /// The public key bytes: 32 bytes for OKP, the uncompressed SEC1 point for EC.
    pub fn public_bytes(&self) -> Result<Vec<u8>, JwkError> {
        let x = b64_decode(&self.x).map_err(|e| JwkError::Malformed(format!("x: {e}")))?;
        match self.kty.as_str() {
            "OKP" => Ok(x),
            "EC" => {
                let y = self
                    .y
                    .as_deref()
                    .ok_or_else(|| JwkError::Malformed("EC key without y".into()))?;
                let y = b64_decode(y).map_err(|e| JwkError::Malformed(format!("y: {e}")))?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(JwkError::Malformed(
                        "P-256 coordinates must be 32 bytes".into(),
                    ));
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(point)
            }
            other => Err(JwkError::Unsupported(format!("kty {other}"))),
        }
    }

    /// The private scalar or seed.
    pub fn private_bytes(&self) -> Result<[u8; 32], JwkError> {
        let d = self
            .d
            .as_deref()
            .ok_or_else(|| JwkError::Unsupported("not a private key".into()))?;
        b64_decode(d)
            .map_err(|e| JwkError::Malformed(format!("d: {e}")))?
            .try_into()
            .map_err(|_| JwkError::Malformed("d must be 32 bytes".into()))
    }

    /// Parses a JWK and checks that it is one the profile supports, that its
    /// public point is valid, that its kid is its thumbprint, and that the
    /// private part (if any) matches the public.
    pub fn parse(text: &str) -> Result<Jwk, JwkError> {
        let jwk: Jwk =
            serde_json::from_str(text).map_err(|e| JwkError::Malformed(e.to_string()))?;
        jwk.check()?;
        Ok(jwk)
    }

    /// The checks of [`Jwk::parse`] on a key already deserialized.
    pub fn check(&self) -> Result<(), JwkError> {
        let expected = match (self.kty.as_str(), self.crv.as_str(), self.key_use) {
            ("OKP", "Ed25519", KeyUse::Sign) => "EdDSA",
            ("OKP", "X25519", KeyUse::Encrypt) => "ECDH-ES+A256KW",
            ("EC", "P-256", KeyUse::Sign) => "ES256",
            ("EC", "P-256", KeyUse::Encrypt) => "ECDH-ES+A256KW",
            (kty, crv, key_use) => {
                return Err(JwkError::Unsupported(format!(
                    "{kty} {crv} for use {}",
                    key_use.as_str()
                )))
            }
        };
        if self.alg != expected {
            return Err(JwkError::Unsupported(format!(
                "alg {} for {} {}",
                self.alg,
                self.crv,
                self.key_use.as_str()
            )));
        }
        let public = self.public_bytes()?;
        match self.crv.as_str() {
            "P-256" => {
                p256::PublicKey::from_sec1_bytes(&public)
                    .map_err(|_| JwkError::Malformed("not a point on P-256".into()))?;
            }
            _ if public.len() != 32 => {
                return Err(JwkError::Malformed("x must be 32 bytes".into()))
            }
            _ => {}
        }
        if self.kid != self.thumbprint() {
            return Err(JwkError::Malformed(
                "kid is not the RFC 7638 thumbprint".into(),
            ));
        }
        if self.d.is_some() {
            let d = self.private_bytes()?;
            let derived = match (self.crv.as_str(), self.key_use) {
                ("Ed25519", _) => Ed25519KeyPair::from_seed_unchecked(&d)
                    .map_err(|_| JwkError::Malformed("d".into()))?
                    .public_key()
                    .as_ref()
                    .to_vec(),
                ("X25519", _) => {
                    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(d))
                        .as_bytes()
                        .to_vec()
                }
                _ => p256::SecretKey::from_slice(&d)
                    .map_err(|_| JwkError::Malformed("d is not a P-256 scalar".into()))?
                    .public_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            };
            if derived != public {
                return Err(JwkError::Malformed(
                    "private part does not match the public key".into(),
                ));
            }
        }
        Ok(())
    }

    /// Parses a key that must be public only (a registered party key).
    pub fn parse_public(text: &str) -> Result<Jwk, JwkError> {
        let jwk = Jwk::parse(text)?;
        if jwk.d.is_some() {
            return Err(JwkError::PrivatePartPresent);
        }
        Ok(jwk)
    }

    /// The same key without its private part.
    pub fn public(&self) -> Jwk {
        Jwk {
            d: None,
            ..self.clone()
        }
    }

    /// Serialized JSON (pretty, as written to files).
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The Ed25519 key pair of a private signing key.
    pub fn ed25519_pair(&self) -> Result<Ed25519KeyPair, JwkError> {
        if self.crv != "Ed25519" {
            return Err(JwkError::Unsupported(format!("curve {}", self.crv)));
        }
        Ed25519KeyPair::from_seed_unchecked(&self.private_bytes()?)
            .map_err(|_| JwkError::Malformed("d".into()))
    }
}

/// RFC 7638 thumbprint of an OKP key: SHA-256 over the required members in
/// lexicographic order, base64url.
pub fn thumbprint(kty: &str, crv: &str, x: &str) -> String {
    let canonical = format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}"}}"#);
    b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// RFC 7638 thumbprint of an EC key.
pub fn thumbprint_ec(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

pub(crate) fn random_32() -> Result<[u8; 32], JwkError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JwkError::Random)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_ed25519_thumbprint_vector() {
        // RFC 8037 appendix A.3.
        assert_eq!(
            thumbprint(
                "OKP",
                "Ed25519",
                "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
            ),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc8037_ed25519_private_key_matches_its_public_key() {
        // RFC 8037 appendix A.1 (with use/alg/kid added as Ponte requires).
        let text = r#"{"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "use":"sig","alg":"EdDSA","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}"#;
        let jwk = Jwk::parse(text).unwrap();
        assert!(Jwk::parse_public(text).is_err());
        assert_eq!(jwk.public().d, None);
        // RFC 8032 test 1 signature of the empty message is checked by ring's own tests;
        // here the seed must give back the published public key.
        assert_eq!(
            b64(jwk.ed25519_pair().unwrap().public_key().as_ref()),
            jwk.x
        );
    }

    #[test]
    fn generated_keys_round_trip_and_never_print_the_private_part() {
        for jwk in [
            Jwk::generate_ed25519().unwrap(),
            Jwk::generate_x25519().unwrap(),
        ] {
            let parsed = Jwk::parse(&jwk.to_json()).unwrap();
            assert_eq!(parsed, jwk);
            assert!(!format!("{jwk:?}").contains(jwk.d.as_deref().unwrap()));
            Jwk::parse_public(&jwk.public().to_json()).unwrap();
        }
    }

    #[test]
    fn rfc7638_ec_thumbprint_shape_and_an_off_curve_point_is_refused() {
        // RFC 7518 appendix C, Bob's key (a valid P-256 point).
        let x = "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ";
        let y = "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck";
        let text = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","use":"enc","alg":"ECDH-ES+A256KW","kid":"{}"}}"#,
            thumbprint_ec(x, y)
        );
        Jwk::parse_public(&text).unwrap();
        let off_curve = text.replace("e8lnCO", "e8lnCP");
        let off_curve = off_curve.replace(
            &thumbprint_ec(x, y),
            &thumbprint_ec(x, &y.replace("e8lnCO", "e8lnCP")),
        );
        assert!(Jwk::parse_public(&off_curve).is_err());
    }

    #[test]
    fn a_key_whose_kid_is_not_its_thumbprint_is_refused() {
        let mut jwk = Jwk::generate_x25519().unwrap().public();
        jwk.kid = "chosen-by-me".into();
        assert!(Jwk::parse_public(&jwk.to_json()).is_err());
    }
}
