//! GeoPackage (OGC 12-128): one feature table per import (`--source-layer` picks it when the file
//! has several), its CRS from `gpkg_spatial_ref_sys` (EPSG code, else the WKT definition), the
//! geometry from GeoPackage binary (header + WKB, read by geozero). Read on a thread, row by row.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use onemap_engine::model::Value;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::channel::ChannelStream;
use super::curves::Adjusted;
use super::{Geometries, RawFeature};
use crate::error::ImportError;

/// An opened GeoPackage feature table.
#[derive(Debug, Clone)]
pub struct GpkgSource {
    path: PathBuf,
    table: String,
    geometry_column: String,
    columns: Vec<String>,
    crs: Option<String>,
    /// The integer primary key (feature id), for a stable order.
    pk: Option<String>,
    /// Geometries linearised or flattened in the last pass.
    adjusted: Arc<Adjusted>,
}

fn malformed(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn connect(path: &Path) -> Result<Connection, ImportError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| malformed(path, format!("cannot open as SQLite/GeoPackage: {e}")))?;
    // A GeoPackage is a database: its "tables" may be views that never end (a recursive CTE in
    // `gpkg_contents`). SQLite calls this every few thousand steps; once the work is cancelled
    // (its deadline passed, its client went away) the statement stops with "interrupted".
    conn.progress_handler(10_000, Some(onemap_engine::context::cancelled));
    Ok(conn)
}

/// The feature tables of a GeoPackage, by name.
pub fn feature_tables(path: &Path) -> Result<Vec<String>, ImportError> {
    let conn = connect(path)?;
    let not_gpkg = |e: rusqlite::Error| malformed(path, format!("not a GeoPackage ({e})"));
    let mut stmt = conn
        .prepare(
            "SELECT c.table_name FROM gpkg_contents c \
             JOIN gpkg_geometry_columns g ON g.table_name = c.table_name \
             WHERE c.data_type = 'features' ORDER BY c.table_name",
        )
        .map_err(not_gpkg)?;
    stmt.query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(not_gpkg)
}

impl GpkgSource {
    /// Open the GeoPackage and pick its feature table.
    pub fn open(path: &Path, source_layer: Option<&str>) -> Result<GpkgSource, ImportError> {
        let conn = connect(path)?;
        let not_gpkg = |e: rusqlite::Error| malformed(path, format!("not a GeoPackage ({e})"));
        let mut stmt = conn
            .prepare(
                "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
                 JOIN gpkg_geometry_columns g ON g.table_name = c.table_name \
                 WHERE c.data_type = 'features' ORDER BY c.table_name",
            )
            .map_err(not_gpkg)?;
        let tables: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(not_gpkg)?;
        let names = || {
            tables
                .iter()
                .map(|t| t.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (table, geometry_column, srs_id) = match source_layer {
            Some(want) => tables
                .iter()
                .find(|t| t.0.eq_ignore_ascii_case(want))
                .cloned()
                .ok_or_else(|| {
                    malformed(
                        path,
                        format!("no feature table '{want}' (tables: {})", names()),
                    )
                })?,
            None => match tables.len() {
                0 => return Err(malformed(path, "the GeoPackage has no feature tables")),
                1 => tables[0].clone(),
                n => {
                    return Err(malformed(
                        path,
                        format!(
                            "the GeoPackage has {n} feature tables ({}): pass --source-layer NAME",
                            names()
                        ),
                    ));
                }
            },
        };
        let crs = conn
            .query_row(
                "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
                [srs_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)),
            )
            .ok()
            .and_then(|(org, id, def)| {
                if org.eq_ignore_ascii_case("EPSG") && id > 0 {
                    Some(format!("EPSG:{id}"))
                } else if def.trim().is_empty() || def.trim().eq_ignore_ascii_case("undefined") {
                    None
                } else {
                    Some(def)
                }
            });
        let mut info = conn
            .prepare(&format!("PRAGMA table_info({})", ident(&table)))
            .map_err(not_gpkg)?;
        let all: Vec<(String, String, i64)> = info
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(not_gpkg)?;
        let pk = all
            .iter()
            .find(|(_, ty, pk)| *pk > 0 && ty.eq_ignore_ascii_case("INTEGER"))
            .map(|(n, _, _)| n.clone());
        let columns: Vec<String> = all
            .into_iter()
            // The integer primary key is the GeoPackage's feature id, not an attribute.
            .filter(|(name, ty, pk)| {
                !(name.eq_ignore_ascii_case(&geometry_column)
                    || (*pk > 0 && ty.eq_ignore_ascii_case("INTEGER")))
            })
            .map(|(name, _, _)| name)
            .collect();
        Ok(GpkgSource {
            path: path.to_path_buf(),
            table,
            geometry_column,
            columns,
            crs,
            pk,
            adjusted: Arc::new(Adjusted::default()),
        })
    }

    /// The table read.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The CRS of the geometry column (`EPSG:n` or WKT).
    pub fn declared_crs(&self) -> Option<&str> {
        self.crs.as_deref()
    }

    /// Stream the rows in feature-id order.
    pub fn stream(&self) -> Result<ChannelStream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// Notes on the geometries the last decoding pass changed (curves, Z/M).
    pub fn adjusted(&self) -> Vec<String> {
        self.adjusted.notes()
    }

    /// Stream the rows, decoding geometries or not.
    pub fn stream_with(&self, geometries: Geometries) -> Result<ChannelStream, ImportError> {
        if geometries == Geometries::Read {
            self.adjusted.reset();
        }
        let me = self.clone();
        ChannelStream::spawn("GeoPackage reader", &self.path, move |tx| {
            let result = (|| -> Result<(), ImportError> {
                let conn = connect(&me.path)?;
                let geometry_column = match geometries {
                    Geometries::Read => ident(&me.geometry_column),
                    Geometries::Skip => "NULL".to_string(),
                };
                let cols: Vec<String> = std::iter::once(geometry_column)
                    .chain(me.columns.iter().map(|c| ident(c)))
                    .collect();
                // In feature-id order when the table has one (views and WITHOUT ROWID tables
                // have no rowid).
                let order = me
                    .pk
                    .as_deref()
                    .map(|p| format!(" ORDER BY {}", ident(p)))
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT {} FROM {}{order}",
                    cols.join(", "),
                    ident(&me.table)
                );
                let mut stmt = conn
                    .prepare(&sql)
                    .map_err(|e| malformed(&me.path, format!("table '{}': {e}", me.table)))?;
                let mut rows = stmt
                    .query([])
                    .map_err(|e| malformed(&me.path, format!("table '{}': {e}", me.table)))?;
                let mut index = 0usize;
                loop {
                    let row = match rows.next() {
                        Ok(Some(r)) => r,
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(malformed(&me.path, format!("feature {index}: {e}"))),
                    };
                    let feature_err = |reason: String| ImportError::Feature {
                        path: me.path.clone(),
                        index,
                        reason,
                    };
                    let geometry = match row.get_ref(0) {
                        Ok(ValueRef::Blob(b)) => {
                            let d = super::curves::gpkg_to_geo(b)
                                .map_err(|e| feature_err(format!("geometry: {e}")))?;
                            Some(
                                me.adjusted
                                    .record(d)
                                    .ok_or_else(|| feature_err("empty geometry blob".into()))?,
                            )
                        }
                        Ok(ValueRef::Null) => None,
                        Ok(_) => {
                            return Err(feature_err(
                                "the geometry column does not hold GeoPackage binary".into(),
                            ));
                        }
                        Err(e) => return Err(feature_err(e.to_string())),
                    };
                    let mut properties = Vec::with_capacity(me.columns.len());
                    for (k, name) in me.columns.iter().enumerate() {
                        let v = match row.get_ref(k + 1).map_err(|e| feature_err(e.to_string()))? {
                            ValueRef::Null | ValueRef::Blob(_) => Value::Null,
                            ValueRef::Integer(i) => Value::Int(i),
                            ValueRef::Real(x) => Value::Float(x),
                            ValueRef::Text(t) => match std::str::from_utf8(t) {
                                Ok(s) => Value::Text(s.to_string()),
                                Err(_) => {
                                    return Err(ImportError::Property {
                                        path: me.path.clone(),
                                        index,
                                        field: name.clone(),
                                        reason: "text that is not UTF-8 (GeoPackage text must be)"
                                            .into(),
                                    });
                                }
                            },
                        };
                        properties.push((name.clone(), v));
                    }
                    let f = RawFeature {
                        index,
                        geometry,
                        properties,
                    };
                    if tx.send(Ok(f)).is_err() {
                        return Ok(());
                    }
                    index += 1;
                }
            })();
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
