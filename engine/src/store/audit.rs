//! The access audit (全过程留痕 for data): an append-only table of every read that returned
//! personal fields, every write (import, drop, result layer, policy, user and key changes) and
//! every failed login. Each record carries the SHA-256 of the record before it and its own, over
//! the exact stored text, so an edited or deleted record breaks the chain where it was
//! ([`Store::verify_audit`]). Records are appended under the store's write lock in one
//! transaction per batch; the chain head is read inside that transaction, so two processes
//! appending to one file (a server and an import) still make one chain.
use duckdb::{OptionalExt, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Store;
use crate::error::{Error, Result};

pub(super) const CREATE: &str = "CREATE TABLE IF NOT EXISTS onemap_audit (
         seq BIGINT NOT NULL,
         recorded_at VARCHAR NOT NULL,
         actor VARCHAR NOT NULL,
         roles VARCHAR NOT NULL,
         action VARCHAR NOT NULL,
         route VARCHAR,
         layer VARCHAR,
         count BIGINT,
         detail VARCHAR NOT NULL,
         prev_hash VARCHAR NOT NULL,
         hash VARCHAR NOT NULL
     );";

/// The hash the first record chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Who: `session:li`, `api_key:规划审批系统`, `operator:root`, `anonymous`.
    pub actor: String,
    /// The roles the actor held.
    pub roles: Vec<String>,
    /// What: `read_personal`, `import`, `drop`, `write_result`, `policy`, `user`, `key`,
    /// `login`, `login_failed`, `export`.
    pub action: String,
    /// The request (`GET /collections/{id}/items`) or command (`onemap import`).
    pub route: Option<String>,
    /// The layer concerned.
    pub layer: Option<String>,
    /// How many features were read or written.
    pub count: Option<u64>,
    /// Anything else: the query, the change, the reason of a failure.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no route, layer, count or detail.
    pub fn new(caller: &crate::Caller, action: &str) -> AuditEvent {
        AuditEvent {
            actor: caller.principal(),
            roles: caller.roles.iter().cloned().collect(),
            action: action.to_string(),
            route: None,
            layer: None,
            count: None,
            detail: serde_json::Value::Null,
        }
    }

    /// With the layer.
    pub fn layer(mut self, layer: &str) -> AuditEvent {
        self.layer = Some(layer.to_string());
        self
    }

    /// With a count.
    pub fn count(mut self, n: u64) -> AuditEvent {
        self.count = Some(n);
        self
    }

    /// With a route or command.
    pub fn route(mut self, route: impl Into<String>) -> AuditEvent {
        self.route = Some(route.into());
        self
    }

    /// With details.
    pub fn detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (UTC, RFC 3339, milliseconds).
    pub at: String,
    /// What was recorded.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Hash of the record before (the genesis hash for the first).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records at or after this time (RFC 3339, compared as text: use UTC).
    pub since: Option<String>,
    /// Only records before this time.
    pub until: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this layer.
    pub layer: Option<String>,
    /// Only records after this sequence number (paging).
    pub after: Option<i64>,
    /// At most this many (oldest first).
    pub limit: usize,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditVerification {
    /// Records checked.
    pub records: u64,
    /// The last record's hash: note it somewhere else to detect a cut-off tail later.
    pub head: String,
    /// Every break of the chain, first first (empty: intact).
    pub problems: Vec<String>,
}

/// The hash of one record over its stored text: seq, at, actor, roles, action, route, layer,
/// count, detail and the previous hash, every part length-prefixed, so no two records share an
/// input.
fn record_hash(parts: [Option<&str>; 10]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        match part {
            None => h.update(b"-;"),
            Some(p) => {
                h.update(p.len().to_string().as_bytes());
                h.update(b":");
                h.update(p.as_bytes());
                h.update(b";");
            }
        }
    }
    crate::hex(&h.finalize())
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
    String,
    String,
);

const SELECT: &str = "SELECT seq, recorded_at, actor, roles, action, route, layer, count, detail, prev_hash, hash FROM onemap_audit";

fn read_row(r: &duckdb::Row<'_>) -> duckdb::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn to_record(r: Row) -> AuditRecord {
    let (seq, at, actor, roles, action, route, layer, count, detail, prev_hash, hash) = r;
    AuditRecord {
        seq,
        at,
        event: AuditEvent {
            actor,
            roles: serde_json::from_str(&roles).unwrap_or_default(),
            action,
            route,
            layer,
            count: count.and_then(|c| u64::try_from(c).ok()),
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        },
        prev_hash,
        hash,
    }
}

impl Store {
    /// Append events to the chain, in order, in one transaction.
    pub fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        append_in(&tx, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Records matching `q`, oldest first.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!(
            "{SELECT} WHERE (?1 IS NULL OR recorded_at >= ?1) AND (?2 IS NULL OR recorded_at < ?2)
               AND (?3 IS NULL OR actor = ?3) AND (?4 IS NULL OR action = ?4)
               AND (?5 IS NULL OR layer = ?5) AND (?6 IS NULL OR seq > ?6)
             ORDER BY seq LIMIT ?7"
        ))?;
        let rows = stmt.query_map(
            params![
                q.since,
                q.until,
                q.actor,
                q.action,
                q.layer,
                q.after,
                q.limit.min(i64::MAX as usize) as i64
            ],
            read_row,
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(to_record(r?));
        }
        Ok(out)
    }

    /// Recompute the whole chain: every record's hash over its stored text, every link to the
    /// record before, and the sequence without gaps.
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY seq"))?;
        let rows = stmt.query_map([], read_row)?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut problems = Vec::new();
        let mut n = 0u64;
        for r in rows {
            let (seq, at, actor, roles, action, route, layer, count, detail, prev_hash, hash) = r?;
            n += 1;
            if seq != expected_seq {
                problems.push(format!(
                    "record {seq}: expected record {expected_seq} here (records {expected_seq}..{} are missing)",
                    seq - 1
                ));
            }
            if prev_hash != prev {
                problems.push(format!(
                    "record {seq}: does not follow the record before it (a record before it was changed or removed)"
                ));
            }
            let (seq_text, count_text) = (seq.to_string(), count.map(|c| c.to_string()));
            let again = record_hash([
                Some(&seq_text),
                Some(&at),
                Some(&actor),
                Some(&roles),
                Some(&action),
                route.as_deref(),
                layer.as_deref(),
                count_text.as_deref(),
                Some(&detail),
                Some(&prev_hash),
            ]);
            if again != hash {
                problems.push(format!(
                    "record {seq}: its contents do not match its hash (the record was edited)"
                ));
            }
            prev = hash;
            expected_seq = seq + 1;
        }
        Ok(AuditVerification {
            records: n,
            head: prev,
            problems,
        })
    }
}

/// Append inside an open transaction (writes record their audit event atomically with the write).
pub(crate) fn append_in(conn: &duckdb::Connection, events: &[AuditEvent]) -> Result<()> {
    let (mut seq, mut prev): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM onemap_audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let mut stmt =
        conn.prepare("INSERT INTO onemap_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")?;
    for e in events {
        seq += 1;
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let roles =
            serde_json::to_string(&e.roles).map_err(|err| Error::Audit(format!("roles: {err}")))?;
        let detail = e.detail.to_string();
        let count = e.count.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let (seq_text, count_text) = (seq.to_string(), count.map(|c| c.to_string()));
        let hash = record_hash([
            Some(&seq_text),
            Some(&at),
            Some(&e.actor),
            Some(&roles),
            Some(&e.action),
            e.route.as_deref(),
            e.layer.as_deref(),
            count_text.as_deref(),
            Some(&detail),
            Some(&prev),
        ]);
        stmt.execute(params![
            seq, at, e.actor, roles, e.action, e.route, e.layer, count, detail, prev, hash
        ])?;
        prev = hash;
    }
    Ok(())
}
