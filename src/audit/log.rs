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
use crate::storage::{Db, DbError, Engine};

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

/// The columns of an event (table alias `e`), as a literal for `concat!`.
macro_rules! event_columns {
    () => {
        "e.seq, e.at, e.request_id, e.principal, e.action, e.resource, e.decision, e.policy_ids, e.policy_set, e.detail"
    };
}

/// The columns of an event, for [`event_of`].
pub const EVENT_COLUMNS: &str = event_columns!();

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

/// Fetches stored complete subtrees, a few hundred to a statement.
///
/// The statements are built of integers only (nothing here comes from a
/// request) and differ from call to call, so they go as plain SQL: a
/// prepared statement would cost a round trip more to prepare and push the
/// broker's steady statements out of the connection's cache.
async fn fetch(
    conn: &mut sqlx::AnyConnection,
    wanted: &[(u32, u64)],
) -> Result<HashMap<(u32, u64), Hash>, DbError> {
    let mut out = HashMap::new();
    for chunk in wanted.chunks(500) {
        let list = |leaves: bool| -> String {
            chunk
                .iter()
                .filter(|(l, _)| (*l == 0) == leaves)
                .map(|(l, i)| if leaves { *i as i64 } else { node_id(*l, *i) }.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut parts = Vec::new();
        let leaves = list(true);
        if !leaves.is_empty() {
            parts.push(format!(
                "select leaf_index, leaf_hash from audit_leaf where leaf_index in ({leaves})"
            ));
        }
        let nodes = list(false);
        if !nodes.is_empty() {
            parts.push(format!(
                "select id, hash from audit_node where id in ({nodes})"
            ));
        }
        // A leaf's index is below 2^48; a node's id carries its level above.
        let sql = parts.join(" union all ");
        for row in sqlx::Executor::fetch_all(&mut *conn, sqlx::raw_sql(&sql)).await? {
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

/// A time as an SQL literal, for statements sent as plain SQL: only the
/// characters of an RFC 3339 time pass, so it cannot end the literal.
fn time_literal(now: &str) -> Result<&str, DbError> {
    if !now.is_empty()
        && now
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.+".contains(&b))
    {
        Ok(now)
    } else {
        Err(DbError::Corrupt(format!("{now:?} is not a time")))
    }
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
    Ok(integrated)
}

/// The statement that reads the oldest `$1` events of the queue.
pub fn queue_statement(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => QUEUE_ON_POSTGRES,
        Engine::Sqlite => QUEUE_ON_SQLITE,
    }
}

/// The oldest `$1` events of the queue, on PostgreSQL: each fetched by its
/// key, in a lateral subquery that `offset 0` keeps the planner from
/// merging into a join. As a plain join, the planner picked a merge join at
/// every size measured (its statistics on a queue that churns are seldom
/// right), and that walks `audit_event` from its first row: 15 ms per
/// integration at 10^5 events, 186 ms at 10^6 (`explain analyze`).
const QUEUE_ON_POSTGRES: &str = concat!(
    "select ",
    event_columns!(),
    " from (select seq from audit_pending order by seq limit $1) p
     cross join lateral (select * from audit_event e where e.seq = p.seq offset 0) e
     order by p.seq"
);

/// The same on SQLite, whose planner reads the join by key anyway.
const QUEUE_ON_SQLITE: &str = concat!(
    "select ",
    event_columns!(),
    " from audit_pending p join audit_event e on e.seq = p.seq order by p.seq limit $1"
);

/// [`integrate`]'s work, inside its transaction. The head's row lock is
/// held until that transaction ends.
async fn integrate_on(
    conn: &mut sqlx::AnyConnection,
    batch: i64,
    now: &str,
) -> Result<u64, DbError> {
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
    let engine = if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    let rows = sqlx::query(queue_statement(engine))
        .bind(batch)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut seqs = Vec::with_capacity(rows.len());
    let mut leaves = Vec::with_capacity(rows.len());
    for row in &rows {
        let (seq, event) = event_of(row)?;
        leaves.push(merkle::leaf_hash(&leaf_bytes(seq, &event)));
        seqs.push(seq);
    }
    let size = before.size;
    let new_size = size + leaves.len() as u64;
    // What the new complete subtrees and the new root are made of, read in
    // one go: the new leaves are known, the rest is stored.
    let mut known: HashMap<(u32, u64), Hash> = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| ((0, size + i as u64), *leaf))
        .collect();
    let missing = {
        let wanted = Wanted::default();
        let recording = Recording {
            known: &known,
            wanted: &wanted,
        };
        let _ = merkle::completed_nodes(&recording, size, &leaves);
        let _ = merkle::root(&recording, new_size);
        let mut missing = wanted.0.into_inner();
        missing.sort_unstable();
        missing.dedup();
        missing
    };
    // Asked for, some of them are completed only now: not found, as meant.
    let stored = fetch(conn, &missing).await?;
    let corrupt = || DbError::Corrupt("a node of the audit tree is missing".into());
    let completed = merkle::completed_nodes(&stored, size, &leaves).ok_or_else(corrupt)?;
    known.extend(stored);
    known.extend(completed.iter().map(|(l, i, h)| ((*l, *i), *h)));
    let root = merkle::root(&known, new_size).ok_or_else(corrupt)?;

    // The leaves, the subtrees, the queue and the head in one round trip:
    // integers and hex only, and the time checked to be one.
    let at = time_literal(now)?;
    let mut sql = String::new();
    for (i, chunk) in seqs.chunks(500).enumerate() {
        let first = i * 500;
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(k, seq)| {
                let offset = first + k;
                format!(
                    "({}, {seq}, '{}')",
                    size + offset as u64,
                    merkle::hex(&leaves[offset])
                )
            })
            .collect();
        sql.push_str(&format!(
            "insert into audit_leaf (leaf_index, event_seq, leaf_hash) values {};\n",
            values.join(",")
        ));
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        sql.push_str(&format!(
            "delete from audit_pending where seq in ({});\n",
            list.join(",")
        ));
    }
    for chunk in completed.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(level, index, hash)| {
                format!("({}, '{}')", node_id(*level, *index), merkle::hex(hash))
            })
            .collect();
        sql.push_str(&format!(
            "insert into audit_node (id, hash) values {};\n",
            values.join(",")
        ));
    }
    sql.push_str(&format!(
        "update audit_head set size = {new_size}, root = '{}', updated_at = '{at}' where id = 1",
        merkle::hex(&root)
    ));
    sqlx::Executor::execute(&mut *conn, sqlx::raw_sql(&sql)).await?;
    Ok(seqs.len() as u64)
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

/// The events about `resource` (`document:…`), oldest first, each with
/// its sequence number and, once integrated, its leaf index.
pub async fn events_about(
    db: &Db,
    resource: &str,
) -> Result<Vec<(i64, AuditEvent, Option<u64>)>, DbError> {
    let rows = sqlx::query(&format!(
        "select {EVENT_COLUMNS}, l.leaf_index from audit_event e
         left join audit_leaf l on l.event_seq = e.seq
         where e.resource = $1 order by e.seq"
    ))
    .bind(resource)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let (seq, event) = event_of(row)?;
            let index: Option<i64> = row.try_get("leaf_index")?;
            Ok((seq, event, index.map(|i| i as u64)))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// The leaf index of the first event of `action` about `resource`, if it
/// is integrated.
pub async fn first_leaf_about(
    db: &Db,
    resource: &str,
    action: &str,
) -> Result<Option<u64>, DbError> {
    let index: Option<i64> = sqlx::query_scalar(
        "select l.leaf_index from audit_event e join audit_leaf l on l.event_seq = e.seq
         where e.resource = $1 and e.action = $2 order by e.seq limit 1",
    )
    .bind(resource)
    .bind(action)
    .fetch_optional(db.pool())
    .await?;
    Ok(index.map(|i| i as u64))
}
