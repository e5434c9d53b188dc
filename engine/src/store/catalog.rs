//! The `onemap_catalog` table: one row per layer.
use duckdb::{Connection, params};
use geo::Rect;

use crate::error::{Error, Result};
use crate::model::{GeometryType, LayerKind, LayerMeta, Schema};

const COLUMNS: &str = "name, kind, version, table_name, schema_json, source_crs, source, \
                       geometry_type, feature_count, minx, miny, maxx, maxy, updated_at, owner";

fn row_to_meta(r: &duckdb::Row<'_>) -> duckdb::Result<Result<LayerMeta>> {
    let name: String = r.get(0)?;
    let kind: String = r.get(1)?;
    let schema_json: String = r.get(4)?;
    let bounds = match (
        r.get::<_, Option<f64>>(9)?,
        r.get::<_, Option<f64>>(10)?,
        r.get::<_, Option<f64>>(11)?,
        r.get::<_, Option<f64>>(12)?,
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => Some(Rect::new(
            geo::coord! {x: a, y: b},
            geo::coord! {x: c, y: d},
        )),
        _ => None,
    };
    let corrupt = |detail: String| Error::Corrupt {
        layer: name.clone(),
        detail,
    };
    let kind: LayerKind = match kind.parse() {
        Ok(k) => k,
        Err(_) => return Ok(Err(corrupt(format!("unknown kind '{kind}'")))),
    };
    let schema: Schema = match serde_json::from_str(&schema_json) {
        Ok(s) => s,
        Err(e) => return Ok(Err(corrupt(format!("schema: {e}")))),
    };
    let geometry_type: String = r.get(7)?;
    let count: i64 = r.get(8)?;
    Ok(Ok(LayerMeta {
        kind,
        version: r.get(2)?,
        table: r.get(3)?,
        schema,
        source_crs: r.get(5)?,
        source: r.get(6)?,
        geometry_type: GeometryType::parse(&geometry_type),
        feature_count: u64::try_from(count).unwrap_or(0),
        bounds,
        updated_at: r.get(13)?,
        owner: r.get(14)?,
        name,
    }))
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<LayerMeta>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM onemap_catalog ORDER BY name"
    ))?;
    let rows = stmt.query_map([], row_to_meta)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

pub(crate) fn get(conn: &Connection, name: &str) -> Result<Option<LayerMeta>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM onemap_catalog WHERE name = ?"
    ))?;
    let mut rows = stmt.query_map([name], row_to_meta)?;
    match rows.next() {
        Some(r) => Ok(Some(r??)),
        None => Ok(None),
    }
}

pub(crate) fn delete(conn: &Connection, name: &str) -> Result<()> {
    conn.execute("DELETE FROM onemap_catalog WHERE name = ?", [name])?;
    Ok(())
}

pub(crate) fn insert(conn: &Connection, m: &LayerMeta) -> Result<()> {
    let schema_json = serde_json::to_string(&m.schema).map_err(|e| Error::Corrupt {
        layer: m.name.clone(),
        detail: e.to_string(),
    })?;
    let (minx, miny, maxx, maxy) = match m.bounds {
        Some(r) => (
            Some(r.min().x),
            Some(r.min().y),
            Some(r.max().x),
            Some(r.max().y),
        ),
        None => (None, None, None, None),
    };
    conn.execute(
        &format!("INSERT INTO onemap_catalog ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        params![
            m.name,
            m.kind.as_str(),
            m.version,
            m.table,
            schema_json,
            m.source_crs,
            m.source,
            m.geometry_type.as_str(),
            i64::try_from(m.feature_count).unwrap_or(i64::MAX),
            minx,
            miny,
            maxx,
            maxy,
            m.updated_at,
            m.owner
        ],
    )?;
    Ok(())
}
