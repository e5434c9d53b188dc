//! The embedded store: one DuckDB file holding a catalog and one table per layer version.
//!
//! Layout of the file:
//! * `onemap_meta(key, value)`: the store format version.
//! * `onemap_catalog`: one row per layer (kind, version, schema as JSON, CRS, bounds, count, table).
//! * `onemap_layer_<n>`: one table per layer version: `_om_fid`, `_om_geom` (WKB), `_om_minx`,
//!   `_om_miny`, `_om_maxx`, `_om_maxy`, then one typed column per schema field under its own name.
//!
//! Writing a layer creates the next version's table, fills it, points the catalog at it and drops
//! the old table, all in one DuckDB transaction: a failure, a Ctrl-C or a SIGKILL before the commit
//! leaves the previous version exactly as it was. Every operation runs on its own connection cloned
//! from the database, so readers see a consistent snapshot and are never blocked by a writer (DuckDB
//! MVCC); writers are serialised among themselves.
mod catalog;
mod codec;
mod reader;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use duckdb::{AccessMode, Config, Connection};

use crate::error::{Error, Result};
use crate::model::LayerMeta;

pub use reader::StoredFeature;
pub use writer::WriteReport;

/// Store format understood by this build.
pub const FORMAT_VERSION: i64 = 1;

/// The default store path, used when neither `--db` nor `ONEMAP_DB` is given.
pub const DEFAULT_PATH: &str = "onemap.duckdb";

/// Prefix of the tables that hold layer versions.
pub(crate) const TABLE_PREFIX: &str = "onemap_layer_";

/// An open store.
pub struct Store {
    path: PathBuf,
    /// Only used to clone per-operation connections (held for microseconds).
    base: Mutex<Connection>,
    /// Serialises writers; readers never take it.
    write_lock: Mutex<()>,
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) a store for reading and writing.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(Error::Open {
                path: path.clone(),
                detail: format!("directory {} does not exist", parent.display()),
            });
        }
        let conn = Connection::open(&path).map_err(|e| open_error(&path, e))?;
        let store = Store {
            path,
            base: Mutex::new(conn),
            write_lock: Mutex::new(()),
            read_only: false,
        };
        store.init()?;
        Ok(store)
    }

    /// Open an existing store read-only (several processes may do so at once).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::Open {
                path,
                detail: "no such store file; import a layer first (`onemap import`)".into(),
            });
        }
        let config = Config::default()
            .access_mode(AccessMode::ReadOnly)
            .map_err(|e| open_error(&path, e))?;
        let conn = Connection::open_with_flags(&path, config).map_err(|e| open_error(&path, e))?;
        let store = Store {
            path,
            base: Mutex::new(conn),
            write_lock: Mutex::new(()),
            read_only: true,
        };
        store.check_format()?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the same database (its own transaction context).
    pub(crate) fn connection(&self) -> Result<Connection> {
        let base = self.base.lock().map_err(|_| Error::Open {
            path: self.path.clone(),
            detail: "store connection poisoned by an earlier panic".into(),
        })?;
        Ok(base.try_clone()?)
    }

    fn init(&self) -> Result<()> {
        let conn = self.connection()?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS onemap_meta (key VARCHAR NOT NULL, value VARCHAR NOT NULL);
             CREATE SEQUENCE IF NOT EXISTS onemap_table_seq START 1;
             CREATE TABLE IF NOT EXISTS onemap_catalog (
                 name VARCHAR NOT NULL,
                 kind VARCHAR NOT NULL,
                 version BIGINT NOT NULL,
                 table_name VARCHAR NOT NULL,
                 schema_json VARCHAR NOT NULL,
                 source_crs VARCHAR NOT NULL,
                 source VARCHAR NOT NULL,
                 geometry_type VARCHAR NOT NULL,
                 feature_count BIGINT NOT NULL,
                 minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE,
                 updated_at VARCHAR NOT NULL
             );",
        )
        .map_err(|e| open_error(&self.path, e))?;
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM onemap_meta WHERE key = 'format_version'",
            [],
            |r| r.get(0),
        )?;
        if n == 0 {
            conn.execute(
                "INSERT INTO onemap_meta VALUES ('format_version', ?)",
                [FORMAT_VERSION.to_string()],
            )?;
        }
        self.check_format()?;
        self.drop_orphans(&conn)
    }

    fn check_format(&self) -> Result<()> {
        let conn = self.connection()?;
        let v: Option<String> = conn
            .query_row(
                "SELECT value FROM onemap_meta WHERE key = 'format_version'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| Error::Open {
                path: self.path.clone(),
                detail: format!("not an onemap store ({e})"),
            })?;
        let found: i64 = v.as_deref().unwrap_or("0").parse().unwrap_or(0);
        if found > FORMAT_VERSION {
            return Err(Error::FormatVersion {
                found,
                supported: FORMAT_VERSION,
            });
        }
        Ok(())
    }

    /// Tables left by a write that never reached the catalog cannot exist with single-transaction
    /// writes, but a store touched by other tools might have them: drop them so they do not leak.
    fn drop_orphans(&self, conn: &Connection) -> Result<()> {
        let mut stmt = conn.prepare(
            "SELECT table_name FROM duckdb_tables()
             WHERE starts_with(table_name, ?)
               AND table_name NOT IN (SELECT table_name FROM onemap_catalog)",
        )?;
        let orphans: Vec<String> = stmt
            .query_map([TABLE_PREFIX], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for t in orphans {
            tracing::warn!(table = %t, "dropping orphan layer table");
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", codec::ident(&t)))?;
        }
        Ok(())
    }

    /// All layers, sorted by name.
    pub fn layers(&self) -> Result<Vec<LayerMeta>> {
        catalog::list(&self.connection()?)
    }

    /// One layer's catalog entry.
    pub fn layer(&self, name: &str) -> Result<LayerMeta> {
        catalog::get(&self.connection()?, name)?
            .ok_or_else(|| Error::UnknownLayer(name.to_string()))
    }

    /// Remove a layer and its data. Errors if it does not exist.
    pub fn drop_layer(&self, name: &str) -> Result<LayerMeta> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let meta = catalog::get(&tx, name)?.ok_or_else(|| Error::UnknownLayer(name.to_string()))?;
        catalog::delete(&tx, name)?;
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}",
            codec::ident(&meta.table)
        ))?;
        tx.commit()?;
        Ok(meta)
    }

    fn ensure_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::Open {
                path: self.path.clone(),
                detail: "store was opened read-only".into(),
            });
        }
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::Query("an earlier write panicked; reopen the store".into())
}

fn open_error(path: &Path, e: duckdb::Error) -> Error {
    let msg = e.to_string();
    if msg.contains("Could not set lock") || msg.contains("Conflicting lock") {
        Error::Locked {
            path: path.to_path_buf(),
            detail: msg.lines().next().unwrap_or_default().to_string(),
        }
    } else {
        Error::Open {
            path: path.to_path_buf(),
            detail: msg,
        }
    }
}
