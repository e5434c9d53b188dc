//! `onemap export`: a layer written back out as GeoJSON, FlatGeobuf, GeoPackage or CSV (WKT), in lon/lat or
//! another supported CRS. The files read back through the importers with the same features,
//! attributes and CRS (tested as round trips).
use std::io::{BufWriter, Write};
use std::path::Path;

use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
use geozero::{ColumnValue, PropertyProcessor, ToWkt};
use onemap_engine::crs::{Crs, Transform};
use onemap_engine::index::LoadedLayer;
use onemap_engine::model::{FieldType, Value};

use crate::error::ImportError;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A GeoJSON FeatureCollection (with the legacy `crs` member when not lon/lat).
    GeoJson,
    /// FlatGeobuf with a spatial index and the CRS in the header.
    FlatGeobuf,
    /// CSV: the fields, then a WKT column. Spreadsheet-safe: text (headers included) that a
    /// spreadsheet would run as a formula gets a leading `'`
    /// ([`onemap_engine::analytics::table::neutralise`]); `raw` writes text exactly as stored,
    /// for programs that read the file back.
    Csv {
        /// Text exactly as stored.
        raw: bool,
    },
    /// GeoPackage 1.3: one feature table with the layer's name, its CRS in gpkg_spatial_ref_sys.
    GeoPackage,
}

/// OGC WKT1 for the CRSs onemap exports to (a GeoPackage's `gpkg_spatial_ref_sys.definition`).
fn wkt_of(epsg: u32) -> String {
    const CGCS2000: &str = "GEOGCS[\"China Geodetic Coordinate System 2000\",DATUM[\"China_2000\",SPHEROID[\"CGCS2000\",6378137,298.257222101,AUTHORITY[\"EPSG\",\"1024\"]],AUTHORITY[\"EPSG\",\"1043\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4490\"]]";
    const WGS84: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]]";
    match epsg {
        4490 => CGCS2000.into(),
        4326 => WGS84.into(),
        3857 => format!(
            "PROJCS[\"WGS 84 / Pseudo-Mercator\",{WGS84},PROJECTION[\"Mercator_1SP\"],PARAMETER[\"central_meridian\",0],PARAMETER[\"scale_factor\",1],PARAMETER[\"false_easting\",0],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],EXTENSION[\"PROJ4\",\"+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs\"],AUTHORITY[\"EPSG\",\"3857\"]]"
        ),
        // CGCS2000 3° Gauss–Krüger: 4513–4533 zones 25–45 with the zone in the easting,
        // 4534–4554 CM 75°E–135°E without it.
        4513..=4554 => {
            let (cm, fe, name) = if epsg <= 4533 {
                let zone = epsg - 4513 + 25;
                (
                    zone * 3,
                    f64::from(zone) * 1e6 + 500_000.0,
                    format!("CGCS2000 / 3-degree Gauss-Kruger zone {zone}"),
                )
            } else {
                let cm = 75 + (epsg - 4534) * 3;
                (
                    cm,
                    500_000.0,
                    format!("CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"),
                )
            };
            format!(
                "PROJCS[\"{name}\",{CGCS2000},PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",{cm}],PARAMETER[\"scale_factor\",1],PARAMETER[\"false_easting\",{fe}],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AUTHORITY[\"EPSG\",\"{epsg}\"]]"
            )
        }
        // Systems only PROJ knows (a `proj` build): PROJ's own WKT.
        _ => Crs::from_epsg(epsg)
            .ok()
            .and_then(|c| c.proj_wkt())
            .unwrap_or_else(|| "undefined".into()),
    }
}

/// A geometry as GeoPackage binary: the `GP` header (version 0, little-endian, XY envelope, the
/// srs_id) and ISO WKB.
fn gpkg_geometry(g: &geo::Geometry<f64>, srs_id: i32) -> Result<Vec<u8>, String> {
    use geo::BoundingRect;
    let wkb = onemap_engine::geometry::to_wkb(g)?;
    let mut out = Vec::with_capacity(wkb.len() + 40);
    out.extend_from_slice(b"GP");
    out.push(0);
    match g.bounding_rect() {
        Some(r) => {
            out.push(0b0000_0011); // envelope [minx, maxx, miny, maxy], little-endian
            out.extend_from_slice(&srs_id.to_le_bytes());
            for v in [r.min().x, r.max().x, r.min().y, r.max().y] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        None => {
            out.push(0b0001_0001); // empty, no envelope, little-endian
            out.extend_from_slice(&srs_id.to_le_bytes());
        }
    }
    out.extend_from_slice(&wkb);
    Ok(out)
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Write the layer as a GeoPackage at `path` (a new file).
fn write_gpkg(
    layer: &LoadedLayer,
    path: &Path,
    epsg: u32,
    geometry: &dyn Fn(u32) -> Result<geo::Geometry<f64>, ImportError>,
) -> Result<(), ImportError> {
    let db = |e: rusqlite::Error| out_err(path, format!("GeoPackage: {e}"));
    let mut conn = rusqlite::Connection::open(path).map_err(db)?;
    let srs_id = epsg as i32;
    let table = &layer.meta.name;
    let fields = layer.meta.schema.fields();
    conn.execute_batch(
        "PRAGMA application_id = 1196444487; PRAGMA user_version = 10300;
         CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
           organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
           description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
           min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
           CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
           srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
         INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL);
         INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL);",
    )
    .map_err(db)?;
    let tx = conn.transaction().map_err(db)?;
    tx.execute(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, NULL)",
        rusqlite::params![format!("EPSG:{epsg}"), srs_id, srs_id, wkt_of(epsg)],
    )
    .map_err(db)?;
    if epsg != 4326 {
        tx.execute(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, ?, NULL)",
            [wkt_of(4326)],
        )
        .map_err(db)?;
    }
    let columns: Vec<String> = fields
        .iter()
        .map(|f| {
            let ty = match f.ty {
                FieldType::Bool => "BOOLEAN",
                FieldType::Int => "INTEGER",
                FieldType::Float => "REAL",
                FieldType::Text => "TEXT",
                FieldType::Date => "DATE",
            };
            format!(", {} {ty}", quote(&f.name))
        })
        .collect();
    tx.execute_batch(&format!(
        "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom GEOMETRY{})",
        quote(table),
        columns.concat()
    ))
    .map_err(db)?;
    let mut bounds: Option<geo::Rect<f64>> = None;
    {
        let placeholders = std::iter::repeat_n("?", fields.len() + 2)
            .collect::<Vec<_>>()
            .join(", ");
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {} VALUES ({placeholders})",
                quote(table)
            ))
            .map_err(db)?;
        for i in 0..layer.len() as u32 {
            let g = geometry(i)?;
            if let Some(r) = geo::BoundingRect::bounding_rect(&g) {
                bounds = Some(match bounds {
                    None => r,
                    Some(b) => geo::Rect::new(
                        geo::coord! { x: b.min().x.min(r.min().x), y: b.min().y.min(r.min().y) },
                        geo::coord! { x: b.max().x.max(r.max().x), y: b.max().y.max(r.max().y) },
                    ),
                });
            }
            let blob = gpkg_geometry(&g, srs_id)
                .map_err(|e| out_err(path, format!("feature {i}: {e}")))?;
            let mut values: Vec<rusqlite::types::Value> = vec![
                rusqlite::types::Value::Integer(layer.fid(i)),
                rusqlite::types::Value::Blob(blob),
            ];
            for v in layer.properties(i) {
                values.push(match v {
                    Value::Null => rusqlite::types::Value::Null,
                    Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
                    Value::Int(x) => rusqlite::types::Value::Integer(*x),
                    Value::Float(x) => rusqlite::types::Value::Real(*x),
                    Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
                    Value::Date(d) => {
                        rusqlite::types::Value::Text(d.format("%Y-%m-%d").to_string())
                    }
                });
            }
            insert
                .execute(rusqlite::params_from_iter(values))
                .map_err(db)?;
        }
    }
    let b = bounds.map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]);
    tx.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?)",
        rusqlite::params![table, table, b.map(|b| b[0]), b.map(|b| b[1]), b.map(|b| b[2]), b.map(|b| b[3]), srs_id],
    )
    .map_err(db)?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', ?, 0, 0)",
        rusqlite::params![table, srs_id],
    )
    .map_err(db)?;
    tx.commit().map_err(db)
}

fn io(path: &Path, source: std::io::Error) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn out_err(path: &Path, reason: impl std::fmt::Display) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Write `layer` to `path` in `format`, reprojected to `srs` (default lon/lat CGCS2000). The file
/// is written under a temporary name and renamed when complete. Returns the feature count.
pub fn export_layer(
    layer: &LoadedLayer,
    path: &Path,
    format: ExportFormat,
    srs: Option<&str>,
) -> Result<u64, ImportError> {
    let crs = match srs {
        None => Crs::CGCS2000,
        Some(s) => Crs::parse(s).map_err(|e| ImportError::Crs {
            path: path.to_path_buf(),
            reason: format!("--srs: {e}"),
        })?,
    };
    let epsg = crs.epsg().ok_or_else(|| ImportError::Crs {
        path: path.to_path_buf(),
        reason: format!("cannot export to {crs}: files need an EPSG system"),
    })?;
    let transform = if crs.is_storage_lonlat() {
        None
    } else {
        Some(Transform::from_lonlat(&crs).map_err(|e| ImportError::Crs {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?)
    };
    let geometry = |i: u32| -> Result<geo::Geometry<f64>, ImportError> {
        let g = layer.geometry(i);
        match &transform {
            None => Ok(g.clone()),
            Some(t) => t
                .geometry(g)
                .map_err(|e| out_err(path, format!("feature {i}: {e}"))),
        }
    };
    let staged = staging_file(path).map_err(|e| io(path, e))?;
    let tmp = staged.path().to_path_buf();
    let result = (|| -> Result<u64, ImportError> {
        if format == ExportFormat::GeoPackage {
            write_gpkg(layer, &tmp, epsg, &geometry)?;
            return Ok(layer.len() as u64);
        }
        let file = staged.reopen().map_err(|e| io(path, e))?;
        let mut w = BufWriter::new(file);
        let fields = layer.meta.schema.fields();
        let n = layer.len() as u32;
        match format {
            ExportFormat::GeoJson => {
                write!(
                    w,
                    "{{\"type\":\"FeatureCollection\",\"name\":{}",
                    serde_json::Value::from(layer.meta.name.as_str())
                )
                .map_err(|e| io(path, e))?;
                if transform.is_some() || epsg != 4490 {
                    write!(w, ",\"crs\":{{\"type\":\"name\",\"properties\":{{\"name\":\"urn:ogc:def:crs:EPSG::{epsg}\"}}}}")
                        .map_err(|e| io(path, e))?;
                }
                w.write_all(b",\"features\":[\n").map_err(|e| io(path, e))?;
                for i in 0..n {
                    let mut props = serde_json::Map::new();
                    for (f, v) in fields.iter().zip(layer.properties(i)) {
                        props.insert(f.name.clone(), v.to_json());
                    }
                    let g = geojson::Geometry::new(geojson::GeometryValue::from(&geometry(i)?));
                    let feature = serde_json::json!({
                        "type": "Feature",
                        "id": layer.fid(i),
                        "properties": props,
                        "geometry": g,
                    });
                    if i > 0 {
                        w.write_all(b",\n").map_err(|e| io(path, e))?;
                    }
                    serde_json::to_writer(&mut w, &feature).map_err(|e| out_err(path, e))?;
                }
                w.write_all(b"\n]}\n").map_err(|e| io(path, e))?;
            }
            ExportFormat::Csv { raw } => {
                let text = |s: &str| -> String {
                    if raw {
                        s.to_string()
                    } else {
                        onemap_engine::analytics::table::neutralise(s).into_owned()
                    }
                };
                let mut csv = csv::Writer::from_writer(&mut w);
                let mut header: Vec<String> = fields.iter().map(|f| text(&f.name)).collect();
                header.push("WKT".into());
                csv.write_record(&header).map_err(|e| out_err(path, e))?;
                for i in 0..n {
                    let mut row: Vec<String> = layer
                        .properties(i)
                        .iter()
                        .map(|v| match v {
                            Value::Null => String::new(),
                            Value::Text(s) => text(s),
                            other => other.to_string(),
                        })
                        .collect();
                    row.push(geometry(i)?.to_wkt().map_err(|e| out_err(path, e))?);
                    csv.write_record(&row).map_err(|e| out_err(path, e))?;
                }
                csv.flush().map_err(|e| io(path, e))?;
            }
            ExportFormat::GeoPackage => {
                return Err(out_err(
                    path,
                    "internal: GeoPackage is written by write_gpkg",
                ));
            }
            ExportFormat::FlatGeobuf => {
                let mut fgb = FgbWriter::create_with_options(
                    &layer.meta.name,
                    GeometryType::Unknown,
                    FgbWriterOptions {
                        write_index: true,
                        detect_type: true,
                        promote_to_multi: false,
                        crs: FgbCrs {
                            code: epsg as i32,
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .map_err(|e| out_err(path, e))?;
                for f in fields {
                    let ty = match f.ty {
                        FieldType::Bool => ColumnType::Bool,
                        FieldType::Int => ColumnType::Long,
                        FieldType::Float => ColumnType::Double,
                        FieldType::Text => ColumnType::String,
                        FieldType::Date => ColumnType::DateTime,
                    };
                    fgb.add_column(&f.name, ty, |_, c| c.nullable = true);
                }
                for i in 0..n {
                    let g = geometry(i)?;
                    let props = layer.properties(i);
                    let mut failed = None;
                    fgb.add_feature_geom(g, |feat| {
                        for (k, (f, v)) in fields.iter().zip(props).enumerate() {
                            let text;
                            let cv = match v {
                                Value::Null => continue,
                                Value::Bool(b) => ColumnValue::Bool(*b),
                                Value::Int(x) => ColumnValue::Long(*x),
                                Value::Float(x) => ColumnValue::Double(*x),
                                Value::Text(s) => ColumnValue::String(s),
                                Value::Date(d) => {
                                    text = d.format("%Y-%m-%d").to_string();
                                    ColumnValue::DateTime(&text)
                                }
                            };
                            if let Err(e) = feat.property(k, &f.name, &cv) {
                                failed = Some(e.to_string());
                            }
                        }
                    })
                    .map_err(|e| out_err(path, format!("feature {i}: {e}")))?;
                    if let Some(e) = failed {
                        return Err(out_err(path, format!("feature {i}: {e}")));
                    }
                }
                fgb.write(&mut w).map_err(|e| out_err(path, e))?;
            }
        }
        w.flush().map_err(|e| io(path, e))?;
        Ok(u64::from(n))
    })();
    // On an error the staged file is removed when dropped.
    let n = result?;
    staged.persist(path).map_err(|e| io(path, e.error))?;
    Ok(n)
}

/// Where an export is written before it is complete: a new file beside `out` (same file
/// system, so the final rename is atomic) created exclusively with owner-only permissions, so no
/// planted link is followed and nobody else reads a half-written export of personal data. An
/// `out` that is a symbolic link is refused: the export would replace the link, not write where
/// it points, and either is a surprise. `persist(out)` renames it into place.
pub fn staging_file(out: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(
            "is a symbolic link; onemap does not write exports through links",
        ));
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
}
