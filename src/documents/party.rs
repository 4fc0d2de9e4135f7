//! The party's side of the exchange, used by the CLI and by any Rust client:
//! sign and encrypt a document to its recipient plan with a manifest; open
//! an envelope, verifying the author's signatures; make a share entry.

use super::{sha256_hex, DocumentError, DocumentId, DocumentType, Manifest, SubjectId};
use crate::cases::CaseId;
use crate::clock::rfc3339;
use crate::consent::Purpose;
use crate::jose::jwe::{self, Jwe, Recipient};
use crate::jose::{jws, JoseError, Jwk};

/// The `cty` of an envelope whose plaintext is a compact JWS.
pub const NESTED_CTY: &str = "JOSE";

/// What the author says about a document it is about to submit.
#[derive(Debug, Clone)]
pub struct Draft {
    pub document_id: DocumentId,
    pub case: CaseId,
    pub document_type: DocumentType,
    pub purpose: Purpose,
    pub subjects: Vec<SubjectId>,
    pub supersedes: Option<DocumentId>,
    /// Media type of the document bytes (e.g. `application/pdf`).
    pub media_type: String,
}

/// A submission ready to send: the manifest and the envelope bytes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Manifest,
    pub manifest_token: String,
    pub envelope: Vec<u8>,
}

/// Signs the document with the author's key (a compact JWS whose `cty` is
/// the media type), encrypts that to every key of the plan, and signs the
/// manifest over the result.
pub fn prepare(
    document: &[u8],
    draft: &Draft,
    author: &Jwk,
    plan_keys: &[Jwk],
) -> Result<Prepared, JoseError> {
    let inner = jws::sign_compact(document, author, &[("cty", &draft.media_type)])?;
    let envelope = jwe::encrypt(inner.as_bytes(), plan_keys, Some(NESTED_CTY))?
        .to_json()
        .into_bytes();
    let manifest = Manifest {
        v: 1,
        document_id: draft.document_id.clone(),
        case: draft.case.clone(),
        document_type: draft.document_type,
        purpose: draft.purpose,
        subjects: draft.subjects.clone(),
        recipients: plan_keys.iter().map(|k| k.kid.clone()).collect(),
        envelope_sha256: sha256_hex(&envelope),
        supersedes: draft.supersedes.clone(),
        iat: rfc3339(time::OffsetDateTime::now_utc()),
    };
    let manifest_token = manifest.sign(author)?;
    Ok(Prepared {
        manifest,
        manifest_token,
        envelope,
    })
}

/// A document opened by a recipient.
#[derive(Debug, Clone)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    pub media_type: Option<String>,
    pub manifest: Manifest,
    /// True when the envelope is byte for byte the one the author sent; false
    /// when shares added recipient entries since (the broker checked that
    /// those left the protected header and ciphertext untouched).
    pub as_submitted: bool,
}

/// Decrypts an envelope with one of the recipient's private keys and checks
/// the author's signatures on the manifest and on the document.
pub fn open(
    envelope: &[u8],
    manifest_token: &str,
    author: &str,
    author_keys: &[Jwk],
    my_keys: &[Jwk],
) -> Result<Opened, DocumentError> {
    let (manifest, _) = Manifest::verify(manifest_token, author, author_keys)?;
    let jwe = Jwe::parse(envelope).map_err(DocumentError::Envelope)?;
    let kids: Vec<String> = jwe.recipient_kids().into_iter().flatten().collect();
    let key = held_key(&kids, my_keys).map_err(DocumentError::Envelope)?;
    let inner = jwe.decrypt(key).map_err(DocumentError::Envelope)?;
    let inner = String::from_utf8(inner).map_err(|_| {
        DocumentError::Envelope(JoseError::Malformed("inner JWS is not text".into()))
    })?;
    // The author's signature in either serialization of RFC 7515: compact
    // (what Ponte's client writes) or JSON (what some libraries nest).
    let verified = if inner.trim_start().starts_with('{') {
        jws::verify_json(&inner, author_keys)
    } else {
        jws::verify_compact(&inner, author_keys)
    }
    .map_err(|e| DocumentError::ManifestSignature(author.to_owned(), e))?;
    let as_submitted = sha256_hex(envelope) == manifest.envelope_sha256;
    if !as_submitted && !manifest.recipients.iter().all(|kid| kids.contains(kid)) {
        return Err(DocumentError::RecipientsDiffer);
    }
    Ok(Opened {
        plaintext: verified.payload,
        media_type: verified
            .header
            .get("cty")
            .and_then(|v| v.as_str())
            .map(media_type_of),
        manifest,
        as_submitted,
    })
}

/// The media type a `cty` names: RFC 7515 4.1.10 lets a producer leave
/// out an `application/` prefix (`pdf` for `application/pdf`), and a
/// recipient must put it back.
fn media_type_of(cty: &str) -> String {
    if cty.contains('/') {
        cty.to_owned()
    } else {
        format!("application/{cty}")
    }
}

/// A recipient entry for `new_key`, made by a holder of the envelope.
pub fn share_entry(
    envelope: &[u8],
    holder_keys: &[Jwk],
    new_key: &Jwk,
) -> Result<Recipient, JoseError> {
    let jwe = Jwe::parse(envelope)?;
    let kids: Vec<String> = jwe.recipient_kids().into_iter().flatten().collect();
    jwe.wrap_for(held_key(&kids, holder_keys)?, new_key)
}

/// The first of `keys` the envelope has an entry for (`kids`).
fn held_key<'k>(kids: &[String], keys: &'k [Jwk]) -> Result<&'k Jwk, JoseError> {
    keys.iter().find(|k| kids.contains(&k.kid)).ok_or_else(|| {
        JoseError::NotARecipient(keys.first().map(|k| k.kid.clone()).unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::KeyUse;

    #[test]
    fn a_media_type_without_its_application_prefix_gets_it_back() {
        assert_eq!(media_type_of("pdf"), "application/pdf");
        assert_eq!(media_type_of("text/plain"), "text/plain");
        assert_eq!(
            media_type_of("application/vnd.oasis.opendocument.text"),
            "application/vnd.oasis.opendocument.text"
        );
    }

    #[test]
    fn a_prepared_document_opens_for_each_recipient_and_after_a_share() {
        let author = Jwk::generate_ed25519().unwrap();
        let mission = Jwk::generate_x25519().unwrap();
        let ministry = Jwk::generate_p256(KeyUse::Encrypt).unwrap();
        let draft = Draft {
            document_id: DocumentId::generate(),
            case: CaseId::generate().unwrap(),
            document_type: DocumentType::FamilyAssessment,
            purpose: Purpose::BestInterestAssessment,
            subjects: vec![SubjectId::parse("subj-child").unwrap()],
            supersedes: None,
            media_type: "text/plain".into(),
        };
        let prepared = prepare(
            b"the family is found",
            &draft,
            &author,
            &[mission.public(), ministry.public()],
        )
        .unwrap();
        for key in [&mission, &ministry] {
            let opened = open(
                &prepared.envelope,
                &prepared.manifest_token,
                "iom-tirana",
                &[author.public()],
                &[(*key).clone()],
            )
            .unwrap();
            assert_eq!(opened.plaintext, b"the family is found");
            assert_eq!(opened.media_type.as_deref(), Some("text/plain"));
            assert!(opened.as_submitted);
        }
        let court = Jwk::generate_x25519().unwrap();
        let entry = share_entry(
            &prepared.envelope,
            std::slice::from_ref(&mission),
            &court.public(),
        )
        .unwrap();
        let mut jwe = Jwe::parse(&prepared.envelope).unwrap();
        jwe.recipients.push(entry);
        let shared = jwe.to_json().into_bytes();
        let opened = open(
            &shared,
            &prepared.manifest_token,
            "iom-tirana",
            &[author.public()],
            &[court],
        )
        .unwrap();
        assert_eq!(opened.plaintext, b"the family is found");
        assert!(!opened.as_submitted);
    }
}
