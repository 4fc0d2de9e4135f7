//! The broker's own layer at rest, under the parties' JWE: every stored
//! object is sealed with its case's key (AES-256-GCM), and case keys are
//! wrapped by the broker's key-encryption key. Destroying a case key makes
//! every object of the case unreadable, wherever copies went
//! (crypto-shredding).
//!
//! Sealed object format, version 1 (streaming AEAD, bounded memory):
//! `"PNTE" | 0x01 | prefix (7 bytes)` then chunks of at most 64 KiB of
//! plaintext, each AES-256-GCM sealed (16-byte tag) with nonce
//! `prefix | chunk counter (u32 BE) | last-chunk flag (1 byte)` and the
//! 12-byte header as associated data. Only the final chunk carries the
//! flag, so truncation and reordering are detected.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;

use super::{Db, DbError};
use crate::jose::{b64, b64_decode};
use crate::secret::{self, SecretError};

const MAGIC: &[u8; 4] = b"PNTE";
const VERSION: u8 = 1;
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const HEADER: usize = 12;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed object is corrupt or was tampered with")]
    Corrupt,
    #[error("sealed object has an unknown format version")]
    Version,
    #[error("the key of case {0} was destroyed")]
    Erased(String),
    #[error("no secure random numbers available")]
    Random,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("key-encryption key file {0}: {1}")]
    Kek(String, String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn gcm(key: &[u8; 32]) -> LessSafeKey {
    // AES-256 accepts any 32-byte key.
    LessSafeKey::new(
        UnboundKey::new(&aead::AES_256_GCM, key)
            .unwrap_or_else(|_| unreachable!("32-byte AES key")),
    )
}

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The length of `plain` bytes once sealed: the header, the bytes, and a
/// tag per chunk (at least one, the final chunk, even when empty).
pub fn sealed_len(plain: u64) -> u64 {
    let chunks = plain.div_ceil(CHUNK as u64).max(1);
    HEADER as u64 + plain + chunks * TAG as u64
}

/// Seals a stream of plaintext into the sealed format.
pub struct Sealer {
    key: LessSafeKey,
    header: [u8; HEADER],
    prefix: [u8; 7],
    counter: u32,
    pending: Vec<u8>,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Result<Sealer, SealError> {
        let mut prefix = [0u8; 7];
        SystemRandom::new()
            .fill(&mut prefix)
            .map_err(|_| SealError::Random)?;
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5..].copy_from_slice(&prefix);
        Ok(Sealer {
            key: gcm(key),
            header,
            prefix,
            counter: 0,
            pending: Vec::with_capacity(CHUNK + TAG),
        })
    }

    /// The format header, written before the first chunk.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Seals every full chunk that is certainly not the last one. `out`
    /// grows once, by exactly what is sealed.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        // Full chunks with more behind them: all but the last byte's chunk.
        let sealing = (self.pending.len() + data.len()).saturating_sub(1) / CHUNK;
        out.reserve(sealing * (CHUNK + TAG));
        while !data.is_empty() {
            let room = CHUNK - self.pending.len();
            if room == 0 {
                // A full chunk with more data behind it is not the last one.
                self.seal_pending(false, out)?;
                continue;
            }
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals what remains as the final chunk.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), SealError> {
        self.seal_pending(true, out)
    }

    fn seal_pending(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), SealError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(&self.prefix, self.counter, last),
                Aad::from(self.header),
                &mut self.pending,
            )
            .map_err(|_| SealError::Corrupt)?;
        out.extend_from_slice(&self.pending);
        out.extend_from_slice(tag.as_ref());
        self.pending.clear();
        self.counter = self.counter.checked_add(1).ok_or(SealError::Corrupt)?;
        Ok(())
    }
}

/// Opens a stream in the sealed format.
pub struct Opener {
    key: LessSafeKey,
    header: Option<[u8; HEADER]>,
    counter: u32,
    pending: Vec<u8>,
}

impl Opener {
    pub fn new(key: &[u8; 32]) -> Opener {
        Opener {
            key: gcm(key),
            header: None,
            counter: 0,
            pending: Vec::with_capacity(2 * (CHUNK + TAG)),
        }
    }

    /// Opens every chunk that is certainly not the last one. Each byte is
    /// copied once, into `out`, and opened there; only a chunk split
    /// between two calls waits in `pending`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        if self.header.is_none() {
            let take = (HEADER - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < HEADER {
                return Ok(());
            }
            let header: [u8; HEADER] = self.pending[..]
                .try_into()
                .map_err(|_| SealError::Corrupt)?;
            if &header[..4] != MAGIC {
                return Err(SealError::Corrupt);
            }
            if header[4] != VERSION {
                return Err(SealError::Version);
            }
            self.header = Some(header);
            self.pending.clear();
        }
        // At most this much is appended (sealed, before the tags go).
        out.reserve(self.pending.len() + data.len());
        while !data.is_empty() {
            if self.pending.len() == CHUNK + TAG {
                // A whole chunk with more data behind it is not the last one.
                let start = out.len();
                out.extend_from_slice(&self.pending);
                self.pending.clear();
                self.open_tail(out, start, false)?;
            } else if self.pending.is_empty() && data.len() > CHUNK + TAG {
                let start = out.len();
                out.extend_from_slice(&data[..CHUNK + TAG]);
                data = &data[CHUNK + TAG..];
                self.open_tail(out, start, false)?;
            } else {
                let take = (CHUNK + TAG - self.pending.len()).min(data.len());
                self.pending.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
        }
        Ok(())
    }

    /// Opens the final chunk; fails if the stream was truncated.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), SealError> {
        if self.header.is_none() || self.pending.len() < TAG {
            return Err(SealError::Corrupt);
        }
        let start = out.len();
        out.extend_from_slice(&self.pending);
        self.open_tail(out, start, true)
    }

    /// Opens the sealed chunk that `out` holds from `start` on, in place.
    fn open_tail(&mut self, out: &mut Vec<u8>, start: usize, last: bool) -> Result<(), SealError> {
        let header = self.header.ok_or(SealError::Corrupt)?;
        let prefix: [u8; 7] = header[5..].try_into().map_err(|_| SealError::Corrupt)?;
        let opened = self.key.open_in_place(
            nonce(&prefix, self.counter, last),
            Aad::from(header),
            &mut out[start..],
        );
        match opened {
            Ok(plain) => {
                let end = start + plain.len();
                out.truncate(end);
                self.counter = self.counter.checked_add(1).ok_or(SealError::Corrupt)?;
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(SealError::Corrupt)
            }
        }
    }
}

/// The broker's key-encryption key, which wraps every case key.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(…)")
    }
}

impl Kek {
    /// A new random key, as text for its file.
    pub fn generate_text() -> Result<String, SealError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Random)?;
        Ok(format!("ponte-kek-v1:{}\n", b64(&key)))
    }

    /// Reads the key file (a secret file).
    pub fn load(path: &std::path::Path) -> Result<Kek, SealError> {
        let text = secret::read_string(path, "set server.kek_file or run `ponte init`")?;
        let bad = |m: &str| SealError::Kek(path.display().to_string(), m.to_owned());
        let encoded = text
            .strip_prefix("ponte-kek-v1:")
            .ok_or_else(|| bad("unknown format"))?;
        let key = b64_decode(encoded.trim()).map_err(|_| bad("not base64url"))?;
        Ok(Kek(key
            .try_into()
            .map_err(|_| bad("must hold 32 bytes"))?))
    }

    fn wrap(&self, case: &str, key: &[u8; 32]) -> Result<String, SealError> {
        let mut iv = [0u8; 12];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| SealError::Random)?;
        let mut data = key.to_vec();
        let aad = format!("ponte-case-key:v1:{case}");
        let tag = gcm(&self.0)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut out = iv.to_vec();
        out.extend(data);
        out.extend_from_slice(tag.as_ref());
        Ok(format!("v1:{}", b64(&out)))
    }

    fn unwrap(&self, case: &str, wrapped: &str) -> Result<[u8; 32], SealError> {
        let bytes = wrapped
            .strip_prefix("v1:")
            .and_then(|b| b64_decode(b).ok())
            .ok_or(SealError::Corrupt)?;
        if bytes.len() != 12 + 32 + TAG {
            return Err(SealError::Corrupt);
        }
        let (iv, rest) = bytes.split_at(12);
        let mut data = rest.to_vec();
        let aad = format!("ponte-case-key:v1:{case}");
        let iv: [u8; 12] = iv.try_into().map_err(|_| SealError::Corrupt)?;
        let plain = gcm(&self.0)
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Corrupt)?;
        plain.try_into().map_err(|_| SealError::Corrupt)
    }
}

/// The key of a case, created on first use. Fails with [`SealError::Erased`]
/// once the key was destroyed.
pub async fn case_key(db: &Db, kek: &Kek, case: &str, at: &str) -> Result<[u8; 32], SealError> {
    if let Some(key) = existing_case_key(db, kek, case).await? {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| SealError::Random)?;
    sqlx::query("insert into case_key (case_id, wrapped, created_at) values ($1, $2, $3) on conflict do nothing")
        .bind(case)
        .bind(kek.wrap(case, &key)?)
        .bind(at)
        .execute(db.pool())
        .await
        .map_err(DbError::from)?;
    // Another replica may have created it first: the stored one wins.
    existing_case_key(db, kek, case)
        .await?
        .ok_or(SealError::Corrupt)
}

/// The key of a case if it exists; an error if it was destroyed.
pub async fn existing_case_key(
    db: &Db,
    kek: &Kek,
    case: &str,
) -> Result<Option<[u8; 32]>, SealError> {
    let row = sqlx::query("select wrapped, destroyed_at from case_key where case_id = $1")
        .bind(case)
        .fetch_optional(db.pool())
        .await
        .map_err(DbError::from)?;
    let Some(row) = row else { return Ok(None) };
    let destroyed: Option<String> = row.try_get("destroyed_at").map_err(DbError::from)?;
    if destroyed.is_some() {
        return Err(SealError::Erased(case.to_owned()));
    }
    let wrapped: String = row.try_get("wrapped").map_err(DbError::from)?;
    kek.unwrap(case, &wrapped).map(Some)
}

/// Destroys a case key: every sealed object of the case becomes unreadable.
/// Callers are the erasure procedures, which decide whether it is lawful.
pub async fn unchecked_destroy_case_key(db: &Db, case: &str, at: &str) -> Result<(), SealError> {
    sqlx::query(
        "insert into case_key (case_id, wrapped, created_at, destroyed_at) values ($1, '', $2, $2)
         on conflict (case_id) do update set wrapped = '', destroyed_at = $2",
    )
    .bind(case)
    .bind(at)
    .execute(db.pool())
    .await
    .map_err(DbError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &[u8; 32], data: &[u8], step: usize) -> Vec<u8> {
        let mut sealer = Sealer::new(key).unwrap();
        let mut out = sealer.header().to_vec();
        for piece in data.chunks(step.max(1)) {
            sealer.push(piece, &mut out).unwrap();
        }
        sealer.finish(&mut out).unwrap();
        out
    }

    fn open_all(key: &[u8; 32], sealed: &[u8], step: usize) -> Result<Vec<u8>, SealError> {
        let mut opener = Opener::new(key);
        let mut out = Vec::new();
        for piece in sealed.chunks(step.max(1)) {
            opener.push(piece, &mut out)?;
        }
        opener.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_chunk_boundary() {
        let key = [7u8; 32];
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for step in [1000, CHUNK, 7 * CHUNK] {
                let sealed = seal_all(&key, &data, step);
                assert_eq!(
                    sealed.len() as u64,
                    sealed_len(len as u64),
                    "the length a streaming PUT declares, len {len}"
                );
                // Read back in pieces smaller than a chunk, exactly one
                // sealed chunk, just over one, and many chunks at once.
                for read in [1, 999, CHUNK + TAG, CHUNK + TAG + 1, 1 << 20] {
                    assert_eq!(
                        open_all(&key, &sealed, read).unwrap(),
                        data,
                        "len {len} step {step} read {read}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncation_tampering_and_a_wrong_key_are_detected() {
        let key = [7u8; 32];
        let data = vec![1u8; 2 * CHUNK + 10];
        let sealed = seal_all(&key, &data, CHUNK);
        let truncated = &sealed[..HEADER + CHUNK + TAG];
        for read in [5000, 1 << 20] {
            assert!(
                open_all(&key, truncated, read).is_err(),
                "a stream cut at a chunk boundary"
            );
            let mut flipped = sealed.clone();
            flipped[HEADER + 3] ^= 1;
            assert!(open_all(&key, &flipped, read).is_err());
            let mut last = sealed.clone();
            let end = last.len() - 1;
            last[end] ^= 1;
            assert!(open_all(&key, &last, read).is_err(), "the last tag");
            assert!(open_all(&[8u8; 32], &sealed, read).is_err());
        }
        let mut future = sealed.clone();
        future[4] = 2;
        assert!(matches!(
            open_all(&key, &future, 5000),
            Err(SealError::Version)
        ));
    }

    #[test]
    fn case_keys_wrap_per_case() {
        let kek = Kek([3u8; 32]);
        let key = [9u8; 32];
        let wrapped = kek.wrap("case-a", &key).unwrap();
        assert_eq!(kek.unwrap("case-a", &wrapped).unwrap(), key);
        assert!(
            kek.unwrap("case-b", &wrapped).is_err(),
            "a wrapped key is bound to its case"
        );
    }
}
