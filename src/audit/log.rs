//! The audit log as an RFC 6962 Merkle tree in the database. Appending an
//! event is a plain insert (a trigger queues it); an integrator, on any
//! replica, takes the queue in batches under the head's row lock and gives
//! each event the next leaf index — no gaps, no forks, no index twice —
//! storing leaf hashes and the complete subtrees proofs are made from.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::merkle::{self, Hash, Nodes, Wanted};
use super::{AuditEvent, Outcome};
use crate::storage::{Db, DbError};

/// The version marker of a leaf's canonical form.
pub const LEAF_VERSION: u32 = 1;

/// How `(level, index)` is stored as one key.
const LEVEL_SHIFT: u32 = 48;

fn node_id(level: u32, index: u64) -> i64 {
    ((u64::from(level) << LEVEL_SHIFT) | index) as i64
}

/// The canonical leaf of an event: compact JSON with sorted keys of its
/// sequence number, time, principal, action, resource, decision, deciding
/// policies, policy-set version, request id and detail (ids, hashes,
/// purposes, bases — never personal data).
pub fn leaf_bytes(seq: i64, event: &AuditEvent) -> Vec<u8> {
    // serde_json's map keeps keys sorted, so this is canonical.
    let value = serde_json::json!({
        "v": LEAF_VERSION,
        "seq": seq,
        "at": event.at,
        "request_id": event.request_id,
        "principal": event.principal,
        "action": event.action,
        "resource": event.resource,
        "decision": event.outcome.as_str(),
        "policy_ids": event.policy_ids,
        "policy_set": event.policy_set,
        "detail": event.detail,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The columns of an event, for [`event_of`].
pub const EVENT_COLUMNS: &str =
    "e.seq, e.at, e.request_id, e.principal, e.action, e.resource, e.decision, e.policy_ids, e.policy_set, e.detail";

/// An event row (selected with [`EVENT_COLUMNS`]) and its sequence number.
pub fn event_of(row: &AnyRow) -> Result<(i64, AuditEvent), sqlx::Error> {
    let outcome = match row.try_get::<String, _>("decision")?.as_str() {
        "allow" => Outcome::Allow,
        "deny" => Outcome::Deny,
        _ => Outcome::Done,
    };
    let json = |col: &str| -> Result<serde_json::Value, sqlx::Error> {
        let text: String = row.try_get(col)?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    };
    Ok((
        row.try_get::<i64, _>("seq")?,
        AuditEvent {
            at: row.try_get("at")?,
            request_id: row.try_get("request_id")?,
            principal: row.try_get("principal")?,
            action: row.try_get("action")?,
            resource: row.try_get("resource")?,
            outcome,
            policy_ids: serde_json::from_value(json("policy_ids")?).unwrap_or_default(),
            policy_set: row.try_get("policy_set")?,
            detail: json("detail")?,
        },
    ))
}

/// The tree as far as it is integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: Hash,
}

pub async fn head<'e, E>(executor: E) -> Result<Head, DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("select size, root from audit_head where id = 1")
        .fetch_one(executor)
        .await?;
    Ok(Head {
        size: row.try_get::<i64, _>("size")? as u64,
        root: merkle::parse_hex(&row.try_get::<String, _>("root")?)
            .ok_or_else(|| DbError::Corrupt("the audit head's root is not a hash".into()))?,
    })
}

/// Fetches stored complete subtrees.
async fn fetch(
    conn: &mut sqlx::AnyConnection,
    wanted: &[(u32, u64)],
) -> Result<HashMap<(u32, u64), Hash>, DbError> {
    let mut out = HashMap::new();
    let leaves: Vec<String> = wanted
        .iter()
        .filter(|(l, _)| *l == 0)
        .map(|(_, i)| i.to_string())
        .collect();
    let nodes: Vec<String> = wanted
        .iter()
        .filter(|(l, _)| *l > 0)
        .map(|(l, i)| node_id(*l, *i).to_string())
        .collect();
    for chunk in leaves.chunks(500) {
        // Integers only: nothing here comes from a request.
        let sql = format!(
            "select leaf_index, leaf_hash from audit_leaf where leaf_index in ({})",
            chunk.join(",")
        );
        for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            let index = row.try_get::<i64, _>(0)? as u64;
            out.insert((0, index), parse(&row.try_get::<String, _>(1)?)?);
        }
    }
    for chunk in nodes.chunks(500) {
        let sql = format!(
            "select id, hash from audit_node where id in ({})",
            chunk.join(",")
        );
        for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            let id = row.try_get::<i64, _>(0)? as u64;
            let level = (id >> LEVEL_SHIFT) as u32;
            out.insert(
                (level, id & ((1 << LEVEL_SHIFT) - 1)),
                parse(&row.try_get::<String, _>(1)?)?,
            );
        }
    }
    Ok(out)
}

fn parse(text: &str) -> Result<Hash, DbError> {
    merkle::parse_hex(text)
        .ok_or_else(|| DbError::Corrupt(format!("{text:?} is not a stored hash")))
}

/// Runs `compute` against the stored tree: once to learn which nodes it
/// needs, once with them fetched in a few queries.
async fn with_nodes<T>(
    conn: &mut sqlx::AnyConnection,
    known: &HashMap<(u32, u64), Hash>,
    compute: impl Fn(&dyn Lookup) -> Option<T>,
) -> Result<T, DbError> {
    let wanted = Wanted::default();
    let _ = compute(&Recording {
        known,
        wanted: &wanted,
    });
    let missing: Vec<(u32, u64)> = wanted.0.into_inner();
    let mut nodes = fetch(conn, &missing).await?;
    nodes.extend(known.iter().map(|(k, v)| (*k, *v)));
    compute(&nodes).ok_or_else(|| DbError::Corrupt("a node of the audit tree is missing".into()))
}

/// A node source as a trait object.
pub trait Lookup {
    fn get(&self, level: u32, index: u64) -> Option<Hash>;
}

impl<T: Nodes> Lookup for T {
    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        self.node(level, index)
    }
}

impl Nodes for &dyn Lookup {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        // Through the trait object: `self.get` would pick the blanket
        // `Lookup` impl of `&dyn Lookup` itself and recurse.
        (**self).get(level, index)
    }
}

struct Recording<'a> {
    known: &'a HashMap<(u32, u64), Hash>,
    wanted: &'a Wanted,
}

impl Nodes for Recording<'_> {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        match self.known.get(&(level, index)) {
            Some(h) => Some(*h),
            None => self.wanted.node(level, index),
        }
    }
}

/// Gives the next queued events their leaf indexes, up to `batch` of them,
/// and moves the head, in a transaction of its own. Answers how many were
/// integrated.
pub async fn integrate(db: &Db, batch: i64, now: &str) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    let integrated = integrate_on(&mut tx, batch, now).await?;
    tx.commit().await?;
    Ok(integrated.count())
}

/// The events one integration gave leaves to: `(event seq, leaf index)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrated(pub Vec<(i64, u64)>);

impl Integrated {
    pub fn count(&self) -> u64 {
        self.0.len() as u64
    }

    /// The leaf event `seq` became, if this integration reached it.
    pub fn leaf_of(&self, seq: i64) -> Option<u64> {
        self.0
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, index)| *index)
    }
}

/// [`integrate`] inside the caller's transaction: a submission integrates
/// the queue with its own acceptance, in the same commit, and so knows the
/// leaf it answers with. The head's row lock is held until that commit.
pub async fn integrate_on(
    conn: &mut sqlx::AnyConnection,
    batch: i64,
    now: &str,
) -> Result<Integrated, DbError> {
    // Taking the head's row lock first serialises integrators on every
    // replica (and takes SQLite's write lock).
    let locked = sqlx::query(
        "update audit_head set updated_at = updated_at where id = 1 returning size, root",
    )
    .fetch_one(&mut *conn)
    .await?;
    let before = Head {
        size: locked.try_get::<i64, _>("size")? as u64,
        root: parse(&locked.try_get::<String, _>("root")?)?,
    };
    let rows = sqlx::query(&format!(
        "select {EVENT_COLUMNS} from audit_pending p join audit_event e on e.seq = p.seq
         order by p.seq limit $1"
    ))
    .bind(batch)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Integrated::default());
    }
    let mut seqs = Vec::with_capacity(rows.len());
    let mut leaves = Vec::with_capacity(rows.len());
    for row in &rows {
        let (seq, event) = event_of(row)?;
        leaves.push(merkle::leaf_hash(&leaf_bytes(seq, &event)));
        seqs.push(seq);
    }
    let size = before.size;
    let completed = with_nodes(conn, &HashMap::new(), |nodes| {
        merkle::completed_nodes(&nodes, size, &leaves)
    })
    .await?;
    let positions: Vec<usize> = (0..leaves.len()).collect();
    for chunk in positions.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|&i| {
                format!(
                    "({}, {}, '{}')",
                    size + i as u64,
                    seqs[i],
                    merkle::hex(&leaves[i])
                )
            })
            .collect();
        sqlx::query(&format!(
            "insert into audit_leaf (leaf_index, event_seq, leaf_hash) values {}",
            values.join(",")
        ))
        .execute(&mut *conn)
        .await?;
    }
    for chunk in completed.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(level, index, hash)| {
                format!("({}, '{}')", node_id(*level, *index), merkle::hex(hash))
            })
            .collect();
        sqlx::query(&format!(
            "insert into audit_node (id, hash) values {}",
            values.join(",")
        ))
        .execute(&mut *conn)
        .await?;
    }
    for chunk in seqs.chunks(500) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        sqlx::query(&format!(
            "delete from audit_pending where seq in ({})",
            list.join(",")
        ))
        .execute(&mut *conn)
        .await?;
    }
    let mut known: HashMap<(u32, u64), Hash> =
        completed.iter().map(|(l, i, h)| ((*l, *i), *h)).collect();
    for (i, leaf) in leaves.iter().enumerate() {
        known.insert((0, size + i as u64), *leaf);
    }
    let new_size = size + leaves.len() as u64;
    let root = with_nodes(conn, &known, |nodes| merkle::root(&nodes, new_size)).await?;
    sqlx::query("update audit_head set size = $1, root = $2, updated_at = $3 where id = 1")
        .bind(new_size as i64)
        .bind(merkle::hex(&root))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(Integrated(
        seqs.iter()
            .enumerate()
            .map(|(i, seq)| (*seq, size + i as u64))
            .collect(),
    ))
}

/// Integrates everything queued now.
pub async fn integrate_all(db: &Db, now: &str) -> Result<u64, DbError> {
    let mut total = 0;
    loop {
        let done = integrate(db, 5_000, now).await?;
        total += done;
        if done == 0 {
            return Ok(total);
        }
    }
}

/// The root of the tree of `size` leaves (at most the head's).
pub async fn root_at(db: &Db, size: u64) -> Result<Hash, DbError> {
    let mut conn = db.pool().acquire().await?;
    with_nodes(&mut conn, &HashMap::new(), |nodes| {
        merkle::root(&nodes, size)
    })
    .await
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub async fn inclusion_proof(db: &Db, index: u64, size: u64) -> Result<Vec<Hash>, DbError> {
    let mut conn = db.pool().acquire().await?;
    with_nodes(&mut conn, &HashMap::new(), |nodes| {
        merkle::inclusion_proof(&nodes, index, size)
    })
    .await
}

/// The consistency proof from the tree of `old` leaves to that of `new`.
pub async fn consistency_proof(db: &Db, old: u64, new: u64) -> Result<Vec<Hash>, DbError> {
    let mut conn = db.pool().acquire().await?;
    with_nodes(&mut conn, &HashMap::new(), |nodes| {
        merkle::consistency_proof(&nodes, old, new)
    })
    .await
}

/// The leaf an event became, once integrated: its index and hash.
pub async fn leaf_of(db: &Db, seq: i64) -> Result<Option<(u64, Hash)>, DbError> {
    let row = sqlx::query("select leaf_index, leaf_hash from audit_leaf where event_seq = $1")
        .bind(seq)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>(0)? as u64,
            parse(&r.try_get::<String, _>(1)?)?,
        ))
    })
    .transpose()
}
