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
mod accounts;
mod audit;
mod catalog;
mod codec;
mod reader;
mod runs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use duckdb::{AccessMode, Config, Connection};

use crate::error::{Error, Result};
use crate::model::LayerMeta;

pub use accounts::{KeyRecord, StoredPolicy, UserRecord, timestamp};
pub use audit::{AuditEvent, AuditQuery, AuditRecord, AuditVerification, GENESIS};
pub use reader::StoredFeature;
pub use runs::{RunRecord, StoredRun};
pub use writer::{WriteExtras, WriteReport};

/// Store format understood by this build.
pub const FORMAT_VERSION: i64 = 1;

/// The default store path, used when neither `--db` nor `ONEMAP_DB` is given.
pub const DEFAULT_PATH: &str = "onemap.duckdb";

/// Prefix of the tables that hold layer versions.
pub(crate) const TABLE_PREFIX: &str = "onemap_layer_";

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading only (several processes may read at once).
    pub read_only: bool,
    /// Hold the file only while an operation runs, instead of from open to drop. A server that
    /// keeps its layers in memory opens detached, so `onemap import` in another process can
    /// write between its reads (DuckDB lets one process hold a file for writing).
    pub detached: bool,
    /// How long to wait for another process to release the file before giving up.
    pub lock_wait: Duration,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            read_only: false,
            detached: false,
            lock_wait: Duration::ZERO,
        }
    }
}

/// The database handle: held for the store's life, or (detached) opened on first use and closed
/// when the last operation using it ends.
#[derive(Default)]
struct Handle {
    conn: Option<Connection>,
    users: usize,
}

/// A connection for one operation. In detached mode, the last lease to end closes the file.
pub(crate) struct Lease<'a> {
    conn: Option<Connection>,
    store: &'a Store,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Present from creation until drop.
        self.conn
            .as_ref()
            .expect("lease connection present until drop")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("lease connection present until drop")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        drop(self.conn.take());
        if !self.store.options.detached {
            return;
        }
        let mut h = self
            .store
            .handle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        h.users = h.users.saturating_sub(1);
        if h.users == 0 {
            // Closing the last connection closes the database and releases the file lock.
            h.conn = None;
        }
    }
}

/// An open store.
pub struct Store {
    path: PathBuf,
    /// The database; per-operation connections are cloned from it (held for microseconds).
    handle: Mutex<Handle>,
    /// Serialises writers; readers never take it.
    write_lock: Mutex<()>,
    options: OpenOptions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) a store for reading and writing.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, OpenOptions::default())
    }

    /// Open an existing store read-only (several processes may do so at once).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(
            path,
            OpenOptions {
                read_only: true,
                ..OpenOptions::default()
            },
        )
    }

    /// Open with explicit options. A read-only or detached store must already exist.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if options.read_only || options.detached {
            if !path.is_file() {
                return Err(Error::Open {
                    path,
                    detail: "no such store file; import a layer first (`onemap import`)".into(),
                });
            }
        } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(Error::Open {
                path: path.clone(),
                detail: format!("directory {} does not exist", parent.display()),
            });
        }
        let store = Store {
            path,
            handle: Mutex::new(Handle::default()),
            write_lock: Mutex::new(()),
            options,
        };
        if options.read_only {
            store.check_format()?;
        } else {
            store.init()?;
        }
        Ok(store)
    }

    fn open_database(&self) -> Result<Connection> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let opened = if self.options.read_only {
                Config::default()
                    .access_mode(AccessMode::ReadOnly)
                    .and_then(|c| Connection::open_with_flags(&self.path, c))
            } else {
                Connection::open(&self.path)
            };
            match opened.map_err(|e| open_error(&self.path, e)) {
                // Wait the whole time asked for: the last pause is cut to what is left.
                Err(Error::Locked { .. }) if started.elapsed() < self.options.lock_wait => {
                    let left = self.options.lock_wait.saturating_sub(started.elapsed());
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// The options the store was opened with.
    pub fn options(&self) -> OpenOptions {
        self.options
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the same database (its own transaction context).
    pub(crate) fn connection(&self) -> Result<Lease<'_>> {
        let mut h = self.handle.lock().map_err(|_| Error::Open {
            path: self.path.clone(),
            detail: "store connection poisoned by an earlier panic".into(),
        })?;
        let base = match h.conn.take() {
            Some(c) => c,
            None => self.open_database()?,
        };
        let conn = match base.try_clone() {
            Ok(c) => c,
            Err(e) => {
                // Nobody uses the database: close it rather than keep the file locked.
                if !(self.options.detached && h.users == 0) {
                    h.conn = Some(base);
                }
                return Err(e.into());
            }
        };
        h.conn = Some(base);
        if self.options.detached {
            h.users += 1;
        }
        Ok(Lease {
            conn: Some(conn),
            store: self,
        })
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
        conn.execute_batch(runs::CREATE)
            .map_err(|e| open_error(&self.path, e))?;
        conn.execute_batch(audit::CREATE)
            .map_err(|e| open_error(&self.path, e))?;
        conn.execute_batch(accounts::CREATE)
            .map_err(|e| open_error(&self.path, e))?;
        // Stores written before layers had owners.
        conn.execute_batch("ALTER TABLE onemap_catalog ADD COLUMN IF NOT EXISTS owner VARCHAR")
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
        catalog::list(&*self.connection()?)
    }

    /// One layer's catalog entry.
    pub fn layer(&self, name: &str) -> Result<LayerMeta> {
        catalog::get(&*self.connection()?, name)?
            .ok_or_else(|| Error::UnknownLayer(name.to_string()))
    }

    /// Remove a layer and its data. Errors if it does not exist.
    pub fn drop_layer(&self, name: &str) -> Result<LayerMeta> {
        self.drop_layer_with(name, None)
    }

    /// Remove a layer, recording `audit` in the same transaction.
    pub fn drop_layer_with(&self, name: &str, audit: Option<&AuditEvent>) -> Result<LayerMeta> {
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
        if let Some(a) = audit {
            audit::append_in(&tx, std::slice::from_ref(a))?;
        }
        tx.commit()?;
        Ok(meta)
    }

    fn ensure_writable(&self) -> Result<()> {
        if self.options.read_only {
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
