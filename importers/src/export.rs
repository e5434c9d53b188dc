//! `onemap export`: a layer written back out as GeoJSON, FlatGeobuf or CSV (WKT), in lon/lat or
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
    /// CSV: the fields, then a WKT column.
    Csv,
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
    let tmp = path.with_file_name(format!(
        ".{}.{}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<u64, ImportError> {
        let file = std::fs::File::create(&tmp).map_err(|e| io(path, e))?;
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
            ExportFormat::Csv => {
                let mut csv = csv::Writer::from_writer(&mut w);
                let mut header: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                header.push("WKT".into());
                csv.write_record(&header).map_err(|e| out_err(path, e))?;
                for i in 0..n {
                    let mut row: Vec<String> = layer
                        .properties(i)
                        .iter()
                        .map(|v| match v {
                            Value::Null => String::new(),
                            other => other.to_string(),
                        })
                        .collect();
                    row.push(geometry(i)?.to_wkt().map_err(|e| out_err(path, e))?);
                    csv.write_record(&row).map_err(|e| out_err(path, e))?;
                }
                csv.flush().map_err(|e| io(path, e))?;
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
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
