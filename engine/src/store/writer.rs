//! Atomic, streaming layer writes.
use std::time::Instant;

use duckdb::appender_params_from_iter;
use geo::{BoundingRect, Rect};

use super::{Store, TABLE_PREFIX, catalog, codec};
use crate::error::{Error, Result};
use crate::geometry::{check_lonlat, to_wkb};
use crate::model::{Feature, GeometryType, LayerMeta, NewLayer, validate_layer_name};

/// What a write did.
#[derive(Debug, Clone)]
pub struct WriteReport {
    /// The catalog entry of the new version.
    pub meta: LayerMeta,
    /// The version this write replaced, if any.
    pub replaced_version: Option<i64>,
    /// Wall time of the write.
    pub elapsed: std::time::Duration,
}

impl Store {
    /// Write a new version of a layer from a stream of features, atomically.
    ///
    /// Nothing is visible to readers until the whole stream has been written; then the catalog
    /// switches to the new version and the old one is dropped, in the same transaction. An error from
    /// the stream (or a bad feature, or a crash) leaves the store exactly as before.
    /// `progress` is called with the running feature count every 10 000 features.
    pub fn write_layer<I, E>(
        &self,
        layer: NewLayer,
        features: I,
        mut progress: impl FnMut(u64),
    ) -> Result<WriteReport>
    where
        I: IntoIterator<Item = std::result::Result<Feature, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.ensure_writable()?;
        validate_layer_name(&layer.name)?;
        let start = Instant::now();
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;

        let previous = catalog::get(&tx, &layer.name)?;
        let seq: i64 = tx.query_row("SELECT nextval('onemap_table_seq')", [], |r| r.get(0))?;
        let table = format!("{TABLE_PREFIX}{seq}");
        let mut ddl = format!(
            "CREATE TABLE {} (_om_fid BIGINT NOT NULL, _om_geom BLOB NOT NULL, \
             _om_minx DOUBLE NOT NULL, _om_miny DOUBLE NOT NULL, _om_maxx DOUBLE NOT NULL, _om_maxy DOUBLE NOT NULL",
            codec::ident(&table)
        );
        for f in layer.schema.fields() {
            ddl.push_str(&format!(", {} {}", codec::ident(&f.name), f.ty.sql_type()));
        }
        ddl.push(')');
        tx.execute_batch(&ddl)?;

        let fields = layer.schema.fields().to_vec();
        let mut count: u64 = 0;
        let mut bounds: Option<Rect<f64>> = None;
        let mut gtype = GeometryType::Empty;
        {
            let mut app = tx.appender(&table)?;
            let mut row: Vec<duckdb::types::Value> = Vec::with_capacity(6 + fields.len());
            for (index, item) in features.into_iter().enumerate() {
                let feature = item.map_err(|e| Error::Source(e.into()))?;
                if let Some(reason) = check_lonlat(&feature.geometry) {
                    return Err(Error::InvalidGeometry { index, reason });
                }
                let bbox =
                    feature
                        .geometry
                        .bounding_rect()
                        .ok_or_else(|| Error::InvalidGeometry {
                            index,
                            reason: "geometry is empty".into(),
                        })?;
                if feature.properties.len() != fields.len() {
                    return Err(Error::InvalidFeature {
                        index,
                        field: "*".into(),
                        reason: format!(
                            "{} values for {} fields",
                            feature.properties.len(),
                            fields.len()
                        ),
                    });
                }
                let wkb = to_wkb(&feature.geometry)
                    .map_err(|reason| Error::InvalidGeometry { index, reason })?;
                row.clear();
                count += 1;
                row.push(duckdb::types::Value::BigInt(count as i64));
                row.push(duckdb::types::Value::Blob(wkb));
                row.push(duckdb::types::Value::Double(bbox.min().x));
                row.push(duckdb::types::Value::Double(bbox.min().y));
                row.push(duckdb::types::Value::Double(bbox.max().x));
                row.push(duckdb::types::Value::Double(bbox.max().y));
                for (f, v) in fields.iter().zip(feature.properties) {
                    let v = f.ty.coerce(v).map_err(|reason| Error::InvalidFeature {
                        index,
                        field: f.name.clone(),
                        reason,
                    })?;
                    row.push(codec::to_db(&v));
                }
                app.append_row(appender_params_from_iter(row.drain(..)))?;
                bounds = Some(match bounds {
                    None => bbox,
                    Some(b) => Rect::new(
                        geo::coord! { x: b.min().x.min(bbox.min().x), y: b.min().y.min(bbox.min().y) },
                        geo::coord! { x: b.max().x.max(bbox.max().x), y: b.max().y.max(bbox.max().y) },
                    ),
                });
                gtype = gtype.merge(GeometryType::of(&feature.geometry));
                if count.is_multiple_of(10_000) {
                    progress(count);
                }
            }
            app.flush()?;
        }
        progress(count);

        let meta = LayerMeta {
            name: layer.name.clone(),
            kind: layer.kind,
            version: previous.as_ref().map_or(1, |p| p.version + 1),
            schema: layer.schema,
            source_crs: layer.source_crs,
            source: layer.source,
            geometry_type: gtype,
            feature_count: count,
            bounds,
            updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            table,
        };
        if let Some(p) = &previous {
            catalog::delete(&tx, &p.name)?;
            tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", codec::ident(&p.table)))?;
        }
        catalog::insert(&tx, &meta)?;
        tx.commit()?;
        tracing::info!(layer = %meta.name, version = meta.version, features = count, "layer written");
        Ok(WriteReport {
            meta,
            replaced_version: previous.map(|p| p.version),
            elapsed: start.elapsed(),
        })
    }
}
