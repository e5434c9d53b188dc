//! The audit trail (全过程留痕): one row per analysis run with what went in (input hash, rules
//! version and digest, layer versions), who asked, when, and what came out.
use std::collections::BTreeMap;

use duckdb::params;
use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

pub(super) const CREATE: &str = "CREATE SEQUENCE IF NOT EXISTS onemap_run_seq START 1;
     CREATE TABLE IF NOT EXISTS onemap_runs (
         id BIGINT NOT NULL,
         kind VARCHAR NOT NULL,
         run_at VARCHAR NOT NULL,
         caller VARCHAR,
         input_hash VARCHAR NOT NULL,
         rules_version VARCHAR NOT NULL,
         rules_digest VARCHAR NOT NULL,
         layer_versions VARCHAR NOT NULL,
         conclusion VARCHAR NOT NULL,
         result VARCHAR NOT NULL
     );";

/// One analysis run to record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRecord {
    /// `approval`, `landuse` or `violations`.
    pub kind: String,
    /// Who asked.
    pub caller: Option<String>,
    /// SHA-256 of the input.
    pub input_hash: String,
    /// Rules version label.
    pub rules_version: String,
    /// SHA-256 of the rules file.
    pub rules_digest: String,
    /// Layer versions read.
    pub layer_versions: BTreeMap<String, i64>,
    /// Overall result in a word or two.
    pub conclusion: String,
    /// The full result (JSON).
    pub result: serde_json::Value,
}

/// A recorded run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredRun {
    /// Id (increasing).
    pub id: i64,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// What was recorded.
    #[serde(flatten)]
    pub record: RunRecord,
}

impl Store {
    /// Record a run; returns its id.
    pub fn record_run(&self, r: &RunRecord) -> Result<i64> {
        if self.options.read_only {
            return Err(Error::Analysis(
                "the store is open read-only: cannot record the run".into(),
            ));
        }
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let conn = self.connection()?;
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let id: i64 = conn.query_row(
            "INSERT INTO onemap_runs VALUES (nextval('onemap_run_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            params![
                r.kind,
                at,
                r.caller,
                r.input_hash,
                r.rules_version,
                r.rules_digest,
                serde_json::to_string(&r.layer_versions).unwrap_or_default(),
                r.conclusion,
                r.result.to_string(),
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    /// The most recent runs, newest first (`id`: just that one).
    pub fn runs(&self, id: Option<i64>, limit: usize) -> Result<Vec<StoredRun>> {
        let conn = self.connection()?;
        let exists: i64 = conn.query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'onemap_runs'",
            [],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = conn.prepare(
            "SELECT id, kind, run_at, caller, input_hash, rules_version, rules_digest, layer_versions, conclusion, result
             FROM onemap_runs WHERE (? IS NULL OR id = ?) ORDER BY id DESC LIMIT ?",
        )?;
        let rows = stmt.query_map(params![id, id, limit as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, String>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (
                id,
                kind,
                at,
                caller,
                input_hash,
                rules_version,
                rules_digest,
                versions,
                conclusion,
                result,
            ) = r?;
            let corrupt = |detail: String| Error::Corrupt {
                layer: "onemap_runs".into(),
                detail,
            };
            out.push(StoredRun {
                id,
                at,
                record: RunRecord {
                    kind,
                    caller,
                    input_hash,
                    rules_version,
                    rules_digest,
                    layer_versions: serde_json::from_str(&versions)
                        .map_err(|e| corrupt(format!("run {id}: layer versions: {e}")))?,
                    conclusion,
                    result: serde_json::from_str(&result)
                        .map_err(|e| corrupt(format!("run {id}: result: {e}")))?,
                },
            });
        }
        Ok(out)
    }
}
