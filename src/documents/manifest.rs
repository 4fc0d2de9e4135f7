//! The manifest: the author's compact JWS over what a document is, about
//! whom, for which purpose, to which recipient keys, and the SHA-256 of the
//! envelope bytes.

use serde::{Deserialize, Serialize};

use super::{DocumentError, DocumentId, DocumentType, SubjectId};
use crate::cases::CaseId;
use crate::consent::Purpose;
use crate::jose::jws::{self, KeyResolver};
use crate::jose::{JoseError, Jwk};

/// The `typ` of a manifest JWS.
pub const MANIFEST_TYP: &str = "ponte-manifest+jws";

/// What the author states about a submission (version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, 1.
    pub v: u32,
    pub document_id: DocumentId,
    pub case: CaseId,
    pub document_type: DocumentType,
    /// The purpose of collection.
    pub purpose: Purpose,
    /// Pseudonymous ids of the people the document is about.
    pub subjects: Vec<SubjectId>,
    /// The key ids the envelope is encrypted to, exactly the recipient plan.
    pub recipients: Vec<String>,
    /// Lowercase hex SHA-256 of the envelope bytes as sent.
    pub envelope_sha256: String,
    /// The document this one replaces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<DocumentId>,
    /// When the author signed, RFC 3339.
    pub iat: String,
}

impl Manifest {
    /// Signs the manifest with the author's private signing key.
    pub fn sign(&self, key: &Jwk) -> Result<String, JoseError> {
        let payload = serde_json::to_vec(self).map_err(|e| JoseError::Malformed(e.to_string()))?;
        jws::sign_compact(&payload, key, &[("typ", MANIFEST_TYP)])
    }

    /// The data subjects a manifest names, read before its signature is
    /// checked, so that what is on record about them can be read while it
    /// is. Only what the verified manifest also says may be used.
    pub fn unverified_subjects(token: &str) -> Option<Vec<SubjectId>> {
        #[derive(Deserialize)]
        struct Subjects {
            subjects: Vec<SubjectId>,
        }
        let payload = token.split('.').nth(1)?;
        let bytes = crate::jose::b64_decode(payload).ok()?;
        serde_json::from_slice::<Subjects>(&bytes)
            .ok()
            .map(|s| s.subjects)
    }

    /// Verifies a manifest against the author's signing keys and checks its
    /// contents; returns it with the key id that signed.
    pub fn verify(
        token: &str,
        author: &str,
        keys: &(impl KeyResolver + ?Sized),
    ) -> Result<(Manifest, String), DocumentError> {
        let verified = jws::verify_compact(token, keys)
            .map_err(|e| DocumentError::ManifestSignature(author.to_owned(), e))?;
        if verified.header.get("typ").and_then(|t| t.as_str()) != Some(MANIFEST_TYP) {
            return Err(DocumentError::Manifest(format!(
                "typ must be {MANIFEST_TYP}"
            )));
        }
        let manifest: Manifest = serde_json::from_slice(&verified.payload)
            .map_err(|e| DocumentError::Manifest(e.to_string()))?;
        manifest.check()?;
        Ok((manifest, verified.kid))
    }

    fn check(&self) -> Result<(), DocumentError> {
        let bad = |m: &str| Err(DocumentError::Manifest(m.to_owned()));
        if self.v != 1 {
            return bad("unsupported manifest version");
        }
        if self.envelope_sha256.len() != 64
            || !self
                .envelope_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return bad("envelope_sha256 must be 64 lowercase hex digits");
        }
        if self.recipients.is_empty() {
            return bad("no recipient");
        }
        let mut seen = std::collections::HashSet::new();
        if !self.recipients.iter().all(|kid| seen.insert(kid)) {
            return bad("a recipient key appears twice");
        }
        if time::OffsetDateTime::parse(&self.iat, &time::format_description::well_known::Rfc3339)
            .is_err()
        {
            return bad("iat must be an RFC 3339 time");
        }
        if self.supersedes.as_ref() == Some(&self.document_id) {
            return bad("a document cannot supersede itself");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            v: 1,
            document_id: DocumentId::generate(),
            case: CaseId::generate().unwrap(),
            document_type: DocumentType::FamilyAssessment,
            purpose: Purpose::BestInterestAssessment,
            subjects: vec![SubjectId::parse("subj-child").unwrap()],
            recipients: vec!["k1".into()],
            envelope_sha256: "0".repeat(64),
            supersedes: None,
            iat: "2026-11-22T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_manifest_verifies_with_its_authors_key_only() {
        let author = Jwk::generate_ed25519().unwrap();
        let token = manifest().sign(&author).unwrap();
        let (back, kid) = Manifest::verify(&token, "iom-tirana", &vec![author.public()]).unwrap();
        assert_eq!(back, manifest_with_id(&back));
        assert_eq!(kid, author.kid);
        let other = Jwk::generate_ed25519().unwrap();
        assert!(matches!(
            Manifest::verify(&token, "iom-tirana", &vec![other.public()]),
            Err(DocumentError::ManifestSignature(
                _,
                JoseError::UnknownKey(_)
            ))
        ));
    }

    fn manifest_with_id(m: &Manifest) -> Manifest {
        Manifest {
            document_id: m.document_id.clone(),
            case: m.case.clone(),
            ..manifest()
        }
    }

    #[test]
    fn bad_contents_are_refused() {
        let author = Jwk::generate_ed25519().unwrap();
        let keys = vec![author.public()];
        for broken in [
            Manifest {
                envelope_sha256: "XYZ".into(),
                ..manifest()
            },
            Manifest {
                recipients: vec![],
                ..manifest()
            },
            Manifest {
                recipients: vec!["a".into(), "a".into()],
                ..manifest()
            },
            Manifest { v: 2, ..manifest() },
            Manifest {
                iat: "yesterday".into(),
                ..manifest()
            },
        ] {
            let token = broken.sign(&author).unwrap();
            assert!(
                matches!(
                    Manifest::verify(&token, "p", &keys),
                    Err(DocumentError::Manifest(_))
                ),
                "{broken:?}"
            );
        }
    }
}
