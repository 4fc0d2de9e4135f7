//! Offline verification of a dossier archive: the broker's signature on the
//! manifest, every receipt, every author's manifest against its receipt,
//! every envelope against the hash its author signed (the shares' recipient
//! entries, listed in the signed manifest, taken out again), and nothing
//! missing or extra. Needs only the archive and the broker's public keys.

use std::collections::BTreeMap;
use std::io::Read;

use super::tar::{Reader, TarError};
use super::{DossierDocument, DossierManifest};
use crate::documents::receipt::Receipt;
use crate::jose::{b64_decode, Jwk};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub what: String,
}

/// What the verification found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub manifest: Option<DossierManifest>,
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed (and there was a manifest to check).
    pub fn ok(&self) -> bool {
        self.manifest.is_some() && self.checks.iter().all(|c| c.ok)
    }

    fn pass(&mut self, what: impl Into<String>) {
        self.checks.push(Check {
            ok: true,
            what: what.into(),
        });
    }

    fn fail(&mut self, what: impl Into<String>) {
        self.checks.push(Check {
            ok: false,
            what: what.into(),
        });
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        self.checks.push(Check {
            ok,
            what: what.into(),
        });
    }
}

/// Reads the archive once, front to back, checking as it goes.
pub fn verify(archive: impl Read, broker_keys: &[Jwk]) -> Result<Report, TarError> {
    let mut reader = Reader::new(archive);
    let mut report = Report::default();
    let mut seen_files: BTreeMap<String, bool> = BTreeMap::new();
    let mut json: Option<Vec<u8>> = None;
    while let Some(entry) = reader.next_entry()? {
        let name = match entry.name.split_once('/') {
            Some((_, rest)) => rest.to_owned(),
            None => entry.name.clone(),
        };
        let listed = report
            .manifest
            .as_ref()
            .and_then(|m| {
                m.documents
                    .iter()
                    .find(|d| d.file == name || d.manifest_file == name)
            })
            .cloned();
        match (name.as_str(), listed) {
            ("README.txt", _) => reader.content(&entry, |_| {})?,
            ("dossier.jws", _) => {
                let token = read_all(&mut reader, &entry)?;
                let token = String::from_utf8_lossy(&token).trim().to_owned();
                match DossierManifest::verify(&token, broker_keys) {
                    Ok(manifest) => {
                        report.pass(format!(
                            "dossier {} is signed by the broker (case {}, for {}, {} documents, {} awaiting share)",
                            manifest.dossier,
                            manifest.case,
                            manifest.court,
                            manifest.documents.len(),
                            manifest.awaiting_share.len()
                        ));
                        for doc in &manifest.documents {
                            check_receipt(&mut report, doc, &manifest, broker_keys);
                        }
                        report.manifest = Some(manifest);
                    }
                    Err(e) => {
                        report.fail(format!("dossier.jws is not signed by the broker: {e}"));
                        return Ok(report);
                    }
                }
            }
            ("dossier.json", _) => json = Some(read_all(&mut reader, &entry)?),
            (_, Some(doc)) if name == doc.manifest_file => {
                let token = read_all(&mut reader, &entry)?;
                check_author_manifest(&mut report, &doc, &token);
                seen_files.insert(name, true);
            }
            (_, Some(doc)) => {
                check_envelope(&mut reader, &entry, &mut report, &doc)?;
                seen_files.insert(name, true);
            }
            (_, None) if report.manifest.is_none() => {
                report.fail(format!("{name} comes before the signed manifest"));
                reader.content(&entry, |_| {})?;
            }
            (_, None) => {
                report.fail(format!(
                    "{name} is in the archive but not in the signed manifest (inserted)"
                ));
                reader.content(&entry, |_| {})?;
            }
        }
    }
    let Some(manifest) = report.manifest.clone() else {
        report.fail("the archive has no dossier.jws");
        return Ok(report);
    };
    match json {
        Some(bytes) => report.check(
            serde_json::from_slice::<DossierManifest>(&bytes)
                .ok()
                .as_ref()
                == Some(&manifest),
            "dossier.json says what dossier.jws says",
        ),
        None => report.fail("dossier.json is missing"),
    }
    for doc in &manifest.documents {
        for file in [&doc.file, &doc.manifest_file] {
            if !seen_files.contains_key(file) {
                report.fail(format!(
                    "{file} of document {} is missing (removed)",
                    doc.id
                ));
            }
        }
    }
    Ok(report)
}

fn read_all<R: Read>(
    reader: &mut Reader<R>,
    entry: &super::tar::Entry,
) -> Result<Vec<u8>, TarError> {
    if entry.size > 16 * 1024 * 1024 {
        return Err(TarError::Format(format!(
            "{} is too large for what it should be",
            entry.name
        )));
    }
    let mut bytes = Vec::with_capacity(entry.size as usize);
    reader.content(entry, |piece| bytes.extend_from_slice(piece))?;
    Ok(bytes)
}

fn check_receipt(
    report: &mut Report,
    doc: &DossierDocument,
    manifest: &DossierManifest,
    keys: &[Jwk],
) {
    match Receipt::verify(&doc.receipt, keys) {
        Ok(r) => report.check(
            r.document_id == doc.id
                && r.case == manifest.case
                && r.envelope_sha256 == doc.envelope_sha256
                && r.manifest_sha256 == doc.manifest_sha256,
            format!(
                "the receipt of {} is the broker's and states the listed hashes",
                doc.id
            ),
        ),
        Err(e) => report.fail(format!("the receipt of {} does not verify: {e}", doc.id)),
    }
}

fn check_author_manifest(report: &mut Report, doc: &DossierDocument, token: &[u8]) {
    let hash = crate::pki::sha256_hex(token);
    let payload = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| b64_decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok());
    let states = |field: &str, value: &str| {
        payload
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(|v| v.as_str())
            == Some(value)
    };
    report.check(
        hash == doc.manifest_sha256
            && states("document_id", doc.id.as_str())
            && states("envelope_sha256", &doc.envelope_sha256),
        format!(
            "the author's manifest of {} is the one the receipt names",
            doc.id
        ),
    );
}

/// Hashes the envelope with the shares' entries taken out, checking that
/// what is taken out is exactly what the signed manifest lists.
fn check_envelope<R: Read>(
    reader: &mut Reader<R>,
    entry: &super::tar::Entry,
    report: &mut Report,
    doc: &DossierDocument,
) -> Result<(), TarError> {
    let splice = doc.splice();
    let (start, end) = (doc.recipients_end, doc.recipients_end + splice.len() as u64);
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut removed = Vec::with_capacity(splice.len());
    let mut position = 0u64;
    reader.content(entry, |piece| {
        let piece_end = position + piece.len() as u64;
        let cut_from = start.clamp(position, piece_end) - position;
        let cut_to = end.clamp(position, piece_end) - position;
        hasher.update(&piece[..cut_from as usize]);
        removed.extend_from_slice(&piece[cut_from as usize..cut_to as usize]);
        hasher.update(&piece[cut_to as usize..]);
        position = piece_end;
    })?;
    let hash = crate::pki::hex(hasher.finish().as_ref());
    // What was taken out must be exactly the listed entries (a short file
    // yields fewer bytes), and the rest must be what the author signed.
    report.check(
        removed == splice && hash == doc.envelope_sha256,
        format!(
            "the envelope of {} ({}) is what its author submitted{}",
            doc.id,
            doc.document_type.as_str(),
            if splice.is_empty() {
                String::new()
            } else {
                format!(
                    ", with {} shared recipient entr(ies)",
                    doc.shared_entries.len()
                )
            }
        ),
    );
    Ok(())
}
