//! `ponte audit verify`: the whole log checked from the database alone —
//! every leaf recomputed from its event, the tree rebuilt, every checkpoint
//! signature and root, and the consistency of the stored tree between
//! checkpoints. Any modified, removed, inserted or reordered leaf is
//! reported by index.

use std::collections::HashMap;

use sqlx::Row;

use super::checkpoint::{self, Checkpoint};
use super::log::{self, event_of, leaf_bytes, EVENT_COLUMNS};
use super::merkle::{self, Hash, MemoryTree};
use crate::storage::{Db, DbError};

/// One finding: a check that passed, or what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub what: String,
}

/// What the verification found.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub leaves: u64,
    pub checkpoints: usize,
    pub findings: Vec<Finding>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    /// The problems only.
    pub fn problems(&self) -> Vec<&str> {
        self.findings
            .iter()
            .filter(|f| !f.ok)
            .map(|f| f.what.as_str())
            .collect()
    }

    fn pass(&mut self, what: String) {
        self.findings.push(Finding { ok: true, what });
    }

    fn fail(&mut self, what: String) {
        self.findings.push(Finding { ok: false, what });
    }
}

const PAGE: i64 = 20_000;

/// Verifies the log in `db` against the broker's Ed25519 public keys.
pub async fn verify(
    db: &Db,
    origin: &str,
    broker_keys: &[Vec<u8>],
) -> Result<Verification, DbError> {
    let mut report = Verification::default();
    let mut content: Vec<Hash> = Vec::new();
    let mut stored: Vec<Hash> = Vec::new();
    let mut seqs: Vec<Option<i64>> = Vec::new();
    let mut tree = MemoryTree::new();
    let mut after: i64 = -1;
    // One snapshot throughout: a broker that integrates or checkpoints
    // meanwhile must not look like a log that changed under the check.
    let mut snapshot = db.begin_snapshot().await?;
    loop {
        let rows = sqlx::query(&format!(
            "select l.leaf_index, l.event_seq, l.leaf_hash, e.seq as present, {EVENT_COLUMNS}
             from audit_leaf l left join audit_event e on e.seq = l.event_seq
             where l.leaf_index > $1 order by l.leaf_index limit $2"
        ))
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *snapshot)
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let index: i64 = row.try_get("leaf_index")?;
            while (content.len() as i64) < index {
                // Indexes missing between two stored leaves: removed.
                report.fail(format!(
                    "leaf {} was removed (no such leaf in the log)",
                    content.len()
                ));
                content.push([0u8; 32]);
                stored.push([0u8; 32]);
                seqs.push(None);
                tree.push([0u8; 32]);
            }
            let stored_hash = merkle::parse_hex(&row.try_get::<String, _>("leaf_hash")?)
                .ok_or_else(|| DbError::Corrupt(format!("leaf {index} has no valid hash")))?;
            let seq: i64 = row.try_get("event_seq")?;
            let present: Option<i64> = row.try_get("present")?;
            let hash = if present.is_some() {
                let (seq, event) = event_of(row)?;
                merkle::leaf_hash(&leaf_bytes(seq, &event))
            } else {
                report.fail(format!("leaf {index}: its event (seq {seq}) was removed"));
                stored_hash
            };
            content.push(hash);
            stored.push(stored_hash);
            seqs.push(Some(seq));
            tree.push(hash);
            after = index;
        }
    }
    report.leaves = content.len() as u64;

    // Leaves whose event no longer hashes to what was integrated.
    let by_stored: HashMap<Hash, usize> = stored.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let mut reordered = std::collections::HashSet::new();
    for (i, (c, s)) in content.iter().zip(&stored).enumerate() {
        if c == s || seqs[i].is_none() {
            continue;
        }
        match by_stored.get(c) {
            Some(j) if *j != i => {
                let pair = (i.min(*j), i.max(*j));
                if reordered.insert(pair) {
                    report.fail(format!(
                        "leaves {} and {} were reordered (each holds the other's event)",
                        pair.0, pair.1
                    ));
                }
            }
            _ => report.fail(format!(
                "leaf {i} (event seq {}) was modified: its event no longer hashes to the leaf",
                seqs[i].unwrap_or_default()
            )),
        }
    }

    // Leaves that no longer hash to the parent stored when they were
    // integrated: moved (reordered) or rewritten together with their hash.
    let mut after_node: i64 = 1 << 48;
    loop {
        let rows = sqlx::query(
            "select id, hash from audit_node where id >= $1 and id < $2 order by id limit $3",
        )
        .bind(after_node)
        .bind(2i64 << 48)
        .bind(PAGE)
        .fetch_all(&mut *snapshot)
        .await?;
        let Some(last) = rows.last() else { break };
        after_node = last.try_get::<i64, _>("id")? + 1;
        for row in &rows {
            let j = (row.try_get::<i64, _>("id")? - (1 << 48)) as usize;
            let parent = merkle::parse_hex(&row.try_get::<String, _>("hash")?);
            let (left, right) = (2 * j, 2 * j + 1);
            if right >= content.len() {
                continue;
            }
            let unchanged = content[left] == stored[left] && content[right] == stored[right];
            if unchanged && parent != Some(merkle::node_hash(&content[left], &content[right])) {
                report.fail(format!(
                    "leaves {left} and {right} no longer hash to the parent stored for them: reordered or rewritten"
                ));
            }
        }
    }

    // Events that are in no leaf and not queued for one.
    let strays: Vec<i64> = sqlx::query_scalar(
        "select e.seq from audit_event e
         where not exists (select 1 from audit_leaf l where l.event_seq = e.seq)
           and not exists (select 1 from audit_pending p where p.seq = e.seq)
         order by e.seq",
    )
    .fetch_all(&mut *snapshot)
    .await?;
    for seq in strays {
        report.fail(format!(
            "event seq {seq} was inserted behind the log's back (in no leaf, not queued)"
        ));
    }

    let head = log::head(&mut *snapshot).await?;
    if head.size != report.leaves {
        report.fail(format!(
            "the head says {} leaves, the log holds {}",
            head.size, report.leaves
        ));
    } else if tree.root(head.size) != Some(head.root) {
        report.fail(format!(
            "the head's root does not match the {} leaves",
            head.size
        ));
    } else {
        report.pass(format!(
            "{} leaves recomputed from their events; the head's root matches",
            head.size
        ));
    }

    let checkpoints = checkpoint::all(&mut *snapshot).await?;
    snapshot.rollback().await?;
    report.checkpoints = checkpoints.len();
    let mut previous: Option<Checkpoint> = None;
    for published in &checkpoints {
        let signed = broker_keys
            .iter()
            .find_map(|key| Checkpoint::verify(&published.note, origin, key).ok());
        let Some(signed) = signed else {
            report.fail(format!(
                "the checkpoint at size {} is not signed by the broker for {origin}",
                published.size
            ));
            continue;
        };
        match tree.root(signed.size) {
            Some(root) if root == signed.root => report.pass(format!(
                "checkpoint at size {} ({}) is signed and matches the leaves",
                signed.size, published.at
            )),
            Some(_) => {
                let first = (0..signed.size as usize).find(|i| content[*i] != stored[*i]);
                report.fail(format!(
                    "the checkpoint at size {} does not match the leaves{}",
                    signed.size,
                    first
                        .map(|i| format!(" (first changed leaf: {i})"))
                        .unwrap_or_default()
                ));
            }
            None => report.fail(format!(
                "the checkpoint at size {} covers leaves that are no longer in the log",
                signed.size
            )),
        }
        if let Some(old) = &previous {
            if signed.size <= report.leaves {
                let proof = log::consistency_proof(db, old.size, signed.size).await?;
                if merkle::verify_consistency(
                    old.size,
                    signed.size,
                    &proof,
                    &old.root,
                    &signed.root,
                ) {
                    report.pass(format!(
                        "the stored tree is consistent from size {} to {}",
                        old.size, signed.size
                    ));
                } else {
                    report.fail(format!(
                        "the stored tree is not consistent between the checkpoints at sizes {} and {}",
                        old.size, signed.size
                    ));
                }
            }
        }
        previous = Some(signed);
    }
    Ok(report)
}
