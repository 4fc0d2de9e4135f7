//! Checkpoints: the tree's size and root, signed by the broker in the C2SP
//! signed-note format (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), so
//! any party can keep copies and prove a rewritten history.
//!
//! ```text
//! <origin>
//! <size>
//! <root, base64>
//!
//! — <origin> <base64(key hash (4 bytes) || Ed25519 signature)>
//! ```

use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};
use sqlx::Row;

use super::log;
use super::merkle::{self, Hash};
use crate::jose::Jwk;
use crate::storage::{Db, DbError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a note is not a valid checkpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("not a signed note: {0}")]
    Format(String),
    #[error("no signature by {0} on the note")]
    NoSignature(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    Origin { expected: String, found: String },
}

/// The 4-byte key hash of an Ed25519 note key: `SHA-256(name || "\n" || 0x01 || key)[:4]`.
pub fn key_hash(name: &str, public_key: &[u8]) -> [u8; 4] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[0x01]);
    ctx.update(public_key);
    let digest = ctx.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(&digest.as_ref()[..4]);
    out
}

impl Checkpoint {
    /// The note text that is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The signed note, with the key named after the origin.
    pub fn sign(&self, key: &Jwk) -> Result<String, NoteError> {
        let pair = key
            .ed25519_pair()
            .map_err(|e| NoteError::Format(format!("the broker key cannot sign: {e}")))?;
        Ok(sign_note(&self.body(), &self.origin, &pair))
    }

    /// Reads a note without checking any signature.
    pub fn parse_unverified(note: &str) -> Result<(Checkpoint, String), NoteError> {
        let (body, _) = note
            .split_once("\n\n")
            .ok_or_else(|| NoteError::Format("no blank line before the signatures".into()))?;
        let body = format!("{body}\n");
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| NoteError::Format("no origin line".into()))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| NoteError::Format("the second line is not a tree size".into()))?;
        let root = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                NoteError::Format("the third line is not a base64 SHA-256 root".into())
            })?;
        Ok((
            Checkpoint {
                origin: origin.to_owned(),
                size,
                root,
            },
            body,
        ))
    }

    /// Checks a note's signature by `origin`'s Ed25519 key `public_key`.
    pub fn verify(note: &str, origin: &str, public_key: &[u8]) -> Result<Checkpoint, NoteError> {
        let (checkpoint, _) = Checkpoint::parse_unverified(note)?;
        if checkpoint.origin != origin {
            return Err(NoteError::Origin {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        verify_note(note, origin, public_key)?;
        Ok(checkpoint)
    }
}

/// Signs `text` (ending in a newline) as a note by key `name`.
pub fn sign_note(text: &str, name: &str, pair: &ring::signature::Ed25519KeyPair) -> String {
    use ring::signature::KeyPair;
    let signature = pair.sign(text.as_bytes());
    let mut blob = key_hash(name, pair.public_key().as_ref()).to_vec();
    blob.extend_from_slice(signature.as_ref());
    format!("{text}\n\u{2014} {name} {}\n", B64.encode(blob))
}

/// Checks that `note` carries a valid signature by key `name`; answers its text.
pub fn verify_note<'a>(note: &'a str, name: &str, public_key: &[u8]) -> Result<&'a str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Format("no blank line before the signatures".into()))?;
    let (text, signatures) = note.split_at(split + 1);
    let want = key_hash(name, public_key);
    let prefix = format!("\u{2014} {name} ");
    for line in signatures.lines().filter(|l| !l.is_empty()) {
        let Some(blob) = line.strip_prefix(&prefix) else {
            continue;
        };
        let blob = B64
            .decode(blob)
            .map_err(|_| NoteError::Format("a signature is not base64".into()))?;
        if blob.len() != 68 || blob[..4] != want {
            continue;
        }
        return UnparsedPublicKey::new(&ED25519, public_key)
            .verify(text.as_bytes(), &blob[4..])
            .map(|_| text)
            .map_err(|_| NoteError::BadSignature(name.to_owned()));
    }
    Err(NoteError::NoSignature(name.to_owned()))
}

/// A checkpoint the broker published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub size: u64,
    pub note: String,
    pub at: String,
}

/// Integrates what is queued and, when the tree grew since the last
/// checkpoint, signs and stores a new one. Answers the latest.
pub async fn publish(db: &Db, key: &Jwk, origin: &str, now: &str) -> Result<Published, DbError> {
    log::integrate_all(db, now).await?;
    let head = log::head(db.pool()).await?;
    if let Some(latest) = latest(db).await? {
        if latest.size >= head.size {
            return Ok(latest);
        }
    }
    let note = Checkpoint {
        origin: origin.to_owned(),
        size: head.size,
        root: head.root,
    }
    .sign(key)
    .map_err(|e| DbError::Corrupt(e.to_string()))?;
    sqlx::query(
        "insert into audit_checkpoint (size, root, note, at) values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(head.size as i64)
    .bind(merkle::hex(&head.root))
    .bind(&note)
    .bind(now)
    .execute(db.pool())
    .await?;
    at_size(db, head.size)
        .await?
        .ok_or_else(|| DbError::Corrupt("a checkpoint just stored is missing".into()))
}

/// The newest checkpoint.
pub async fn latest(db: &Db) -> Result<Option<Published>, DbError> {
    one(
        db,
        "select size, note, at from audit_checkpoint order by size desc limit 1",
        None,
    )
    .await
}

/// The checkpoint of a tree size, if one was published.
pub async fn at_size(db: &Db, size: u64) -> Result<Option<Published>, DbError> {
    one(
        db,
        "select size, note, at from audit_checkpoint where size = $1",
        Some(size as i64),
    )
    .await
}

/// Every checkpoint, oldest first.
pub async fn all<'e, E>(executor: E) -> Result<Vec<Published>, DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query("select size, note, at from audit_checkpoint order by size")
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(published)
        .collect::<Result<_, _>>()
        .map_err(DbError::from)
}

async fn one(db: &Db, sql: &str, size: Option<i64>) -> Result<Option<Published>, DbError> {
    let mut query = sqlx::query(sql);
    if let Some(size) = size {
        query = query.bind(size);
    }
    let row = query.fetch_optional(db.pool()).await?;
    Ok(row.as_ref().map(published).transpose()?)
}

fn published(row: &sqlx::any::AnyRow) -> Result<Published, sqlx::Error> {
    Ok(Published {
        size: row.try_get::<i64, _>("size")? as u64,
        note: row.try_get("note")?,
        at: row.try_get("at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_and_origin_only() {
        let key = Jwk::generate_ed25519().unwrap();
        let checkpoint = Checkpoint {
            origin: "ponte.example/audit".into(),
            size: 45,
            root: merkle::leaf_hash(b"x"),
        };
        let note = checkpoint.sign(&key).unwrap();
        assert!(note.starts_with("ponte.example/audit\n45\n"));
        assert!(note.contains("\n\n\u{2014} ponte.example/audit "));
        assert!(note.ends_with('\n'));
        let public = key.public_bytes().unwrap();
        assert_eq!(
            Checkpoint::verify(&note, "ponte.example/audit", &public).unwrap(),
            checkpoint
        );
        let other = Jwk::generate_ed25519().unwrap().public_bytes().unwrap();
        assert!(Checkpoint::verify(&note, "ponte.example/audit", &other).is_err());
        assert!(Checkpoint::verify(
            &note.replace("\n45\n", "\n46\n"),
            "ponte.example/audit",
            &public
        )
        .is_err());
        assert!(Checkpoint::verify(&note, "elsewhere/log", &public).is_err());
    }

    // golang.org/x/mod/sumdb/note's published example (an independent
    // implementation): its key, text and signature.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIG: &str = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    fn go_key(text: &str, parts: usize) -> Vec<u8> {
        let raw = B64.decode(text.splitn(parts, '+').last().unwrap()).unwrap();
        assert_eq!(raw[0], 1, "Ed25519");
        raw[1..].to_vec()
    }

    #[test]
    fn notes_interoperate_with_the_go_reference_both_ways() {
        let public = go_key(GO_VKEY, 3);
        assert_eq!(
            crate::pki::hex(&key_hash("PeterNeumann", &public)),
            "c74f20a3"
        );
        let note = format!("{GO_TEXT}\n\u{2014} PeterNeumann {GO_SIG}\n");
        assert_eq!(
            verify_note(&note, "PeterNeumann", &public).unwrap(),
            GO_TEXT
        );
        let seed = go_key(GO_SKEY, 5);
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert_eq!(
            sign_note(GO_TEXT, "PeterNeumann", &pair),
            note,
            "Ed25519 is deterministic"
        );
        assert!(verify_note(
            &note.replace("problem,", "problem;"),
            "PeterNeumann",
            &public
        )
        .is_err());
        assert!(verify_note(&note, "PaulNeumann", &public).is_err());
    }
}
