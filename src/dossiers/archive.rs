//! The dossier as a ustar stream: a README, the signed manifest, its JSON
//! for reading, each author's manifest, then each envelope, streamed from
//! the object store one at a time (memory stays bounded however large the
//! documents are).

use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use super::tar::{self, END};
use super::{Dossier, DossierError};
use crate::documents::exchange::Vault;
use crate::documents::retrieve::{self, Source};
use crate::policy::actions::ReadDossier;
use crate::policy::Authorized;

/// The folder every file of a dossier sits in.
pub fn folder(dossier: &Dossier) -> String {
    format!("dossier-{}", dossier.manifest.case)
}

/// What the archive's README says.
fn readme(dossier: &Dossier) -> String {
    let m = &dossier.manifest;
    format!(
        "Decision dossier {id}\n\
         Case {case} (state: {state}), for {court}, purpose {purpose} (basis: {basis}), made {at}.\n\n\
         dossier.jws   the broker-signed manifest (compact JWS, typ ponte-dossier+jws): every\n\
         \x20             document of the case the court is entitled to, with hashes and receipts\n\
         dossier.json  the same manifest, readable (the signed one is authoritative)\n\
         manifests/    each document's manifest, signed by its author\n\
         documents/    each document's envelope (a general JSON JWE) as the court receives it;\n\
         \x20             any JOSE library opens it with the court's private key\n\n\
         {count} document(s) included, {awaiting} awaiting share by the ministry.\n\n\
         Check the whole archive offline:  ponte dossier verify FILE.tar --jwks broker-jwks.json\n\
         (the broker's keys: GET /.well-known/jwks.json)\n",
        id = m.dossier,
        case = m.case,
        state = m.case_state.as_str(),
        court = m.court,
        purpose = m.purpose,
        basis = m.basis.as_str(),
        at = m.created_at,
        count = m.documents.len(),
        awaiting = m.awaiting_share.len(),
    )
}

enum Part {
    Bytes(Bytes),
    Envelope(Box<Source>),
}

/// The archive: its length in bytes and the stream of its bytes.
pub async fn stream(
    vault: &Vault,
    proof: &Authorized<ReadDossier>,
    dossier: &Dossier,
    mtime: i64,
) -> Result<(u64, BoxStream<'static, Result<Bytes, std::io::Error>>), DossierError> {
    let folder = folder(dossier);
    let mut parts = Vec::new();
    let mut length = 0u64;
    let mut file =
        |parts: &mut Vec<Part>, name: String, bytes: Vec<u8>| -> Result<(), DossierError> {
            let header = tar::header(&format!("{folder}/{name}"), bytes.len() as u64, mtime)
                .map_err(|e| DossierError::Sign(e.to_string()))?;
            let pad = tar::padding(bytes.len() as u64);
            length += (header.len() + bytes.len() + pad) as u64;
            parts.push(Part::Bytes(Bytes::copy_from_slice(&header)));
            parts.push(Part::Bytes(Bytes::from(bytes)));
            parts.push(Part::Bytes(Bytes::from(vec![0u8; pad])));
            Ok(())
        };
    file(
        &mut parts,
        "README.txt".into(),
        readme(dossier).into_bytes(),
    )?;
    file(
        &mut parts,
        "dossier.jws".into(),
        dossier.token.clone().into_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(&dossier.manifest)
        .map_err(|e| DossierError::Sign(e.to_string()))?;
    file(&mut parts, "dossier.json".into(), json)?;
    for (listed, doc) in dossier.manifest.documents.iter().zip(&dossier.documents) {
        file(
            &mut parts,
            listed.manifest_file.clone(),
            doc.manifest.clone().into_bytes(),
        )?;
    }
    for (listed, doc) in dossier.manifest.documents.iter().zip(&dossier.documents) {
        let source = retrieve::for_dossier(vault, proof, doc).await?;
        let size = source.size();
        let header = tar::header(&format!("{folder}/{}", listed.file), size, mtime)
            .map_err(|e| DossierError::Sign(e.to_string()))?;
        let pad = tar::padding(size);
        length += header.len() as u64 + size + pad as u64;
        parts.push(Part::Bytes(Bytes::copy_from_slice(&header)));
        parts.push(Part::Envelope(Box::new(source)));
        parts.push(Part::Bytes(Bytes::from(vec![0u8; pad])));
    }
    parts.push(Part::Bytes(Bytes::from_static(&END)));
    length += END.len() as u64;
    let body = stream::iter(parts)
        .map(|part| match part {
            Part::Bytes(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
            Part::Envelope(source) => stream::once(async move {
                source
                    .open()
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
            .try_flatten()
            .boxed(),
        })
        .flatten()
        .filter(|piece| {
            let empty = matches!(piece, Ok(bytes) if bytes.is_empty());
            async move { !empty }
        })
        .boxed();
    Ok((length, body))
}
