//! Reading a layer version back, feature by feature, in feature-id order.
use geo::{Geometry, Rect};

use super::{Store, codec};
use crate::error::{Error, Result};
use crate::geometry::from_wkb;
use crate::model::{LayerMeta, Value};

/// A feature as stored: id, geometry, bounding box and typed properties in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeature {
    /// Feature id, 1-based in write order, stable within a version.
    pub fid: i64,
    /// Lon/lat geometry.
    pub geometry: Geometry<f64>,
    /// Bounding box (from the stored bbox columns).
    pub bbox: Rect<f64>,
    /// Property values in schema order.
    pub properties: Vec<Value>,
}

impl Store {
    /// Visit every feature of a layer version in fid order. The catalog entry must be current (from
    /// [`Store::layer`]); a version replaced in the meantime is still read from the reader's snapshot
    /// when the read started before the replacement committed.
    pub fn scan_layer(
        &self,
        meta: &LayerMeta,
        mut visit: impl FnMut(StoredFeature) -> Result<()>,
    ) -> Result<()> {
        let conn = self.connection()?;
        let mut sql =
            String::from("SELECT _om_fid, _om_geom, _om_minx, _om_miny, _om_maxx, _om_maxy");
        for f in meta.schema.fields() {
            sql.push_str(", ");
            sql.push_str(&codec::ident(&f.name));
        }
        sql.push_str(&format!(
            " FROM {} ORDER BY _om_fid",
            codec::ident(&meta.table)
        ));
        let mut stmt = conn.prepare(&sql).map_err(|e| missing_table(meta, e))?;
        let mut rows = stmt.query([])?;
        let fields = meta.schema.fields();
        let corrupt = |detail: String| Error::Corrupt {
            layer: meta.name.clone(),
            detail,
        };
        while let Some(r) = rows.next()? {
            let fid: i64 = r.get(0)?;
            let wkb: Vec<u8> = r.get(1)?;
            let geometry =
                from_wkb(&wkb).map_err(|e| corrupt(format!("feature {fid}: geometry: {e}")))?;
            let bbox = Rect::new(
                geo::coord! { x: r.get::<_, f64>(2)?, y: r.get::<_, f64>(3)? },
                geo::coord! { x: r.get::<_, f64>(4)?, y: r.get::<_, f64>(5)? },
            );
            let mut properties = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let v: duckdb::types::Value = r.get(6 + i)?;
                properties.push(
                    codec::from_db(v, f.ty)
                        .map_err(|e| corrupt(format!("feature {fid}: field '{}': {e}", f.name)))?,
                );
            }
            visit(StoredFeature {
                fid,
                geometry,
                bbox,
                properties,
            })?;
        }
        Ok(())
    }

    /// Every feature of a layer version, in fid order.
    pub fn read_layer(&self, meta: &LayerMeta) -> Result<Vec<StoredFeature>> {
        // The count comes from the file: a hint, capped so a damaged catalog cannot ask for terabytes.
        let mut out = Vec::with_capacity(
            usize::try_from(meta.feature_count)
                .unwrap_or(0)
                .min(1 << 20),
        );
        self.scan_layer(meta, |f| {
            out.push(f);
            Ok(())
        })?;
        Ok(out)
    }
}

fn missing_table(meta: &LayerMeta, e: duckdb::Error) -> Error {
    let msg = e.to_string();
    if msg.contains("does not exist") {
        // The catalog entry was replaced or dropped after the caller read it.
        Error::Query(format!(
            "layer '{}' version {} is no longer current; read the catalog again",
            meta.name, meta.version
        ))
    } else {
        Error::Db(e)
    }
}
