//! Every other vector format GDAL/OGR opens (DXF, KML, MapInfo TAB/MIF, FileGDB, GML...), behind
//! the `gdal` cargo feature (links the system's libgdal). One OGR layer is read on a reader
//! thread: geometries through WKB, attributes typed from OGR's field types, the layer's spatial
//! reference as `EPSG:n` or WKT.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gdal::Dataset;
use gdal::vector::{FieldValue, LayerAccess};
use onemap_engine::model::Value;

use super::RawFeature;
use super::channel::ChannelStream;
use super::curves::Adjusted;
use crate::error::ImportError;

/// An opened GDAL dataset and the layer to read.
#[derive(Debug, Clone)]
pub struct GdalSource {
    path: PathBuf,
    layer: usize,
    driver: String,
    crs: Option<String>,
    /// Geometries linearised or flattened in the last pass.
    adjusted: Arc<Adjusted>,
}

fn malformed(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn open(path: &Path) -> Result<Dataset, ImportError> {
    // GDAL prints its errors to stderr by default; they come back in the returned error, which
    // is reported once, on one line.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| gdal::config::set_error_handler(|_, _, _| {}));
    Dataset::open(path).map_err(|e| malformed(path, format!("GDAL cannot open it: {e}")))
}

/// The vector layers GDAL finds in a file.
pub fn layer_names(path: &Path) -> Result<Vec<String>, ImportError> {
    Ok(open(path)?.layers().map(|l| l.name()).collect())
}

impl GdalSource {
    /// Open with GDAL and pick the layer: `source_layer`, or the only one.
    pub fn open(path: &Path, source_layer: Option<&str>) -> Result<GdalSource, ImportError> {
        let ds = open(path)?;
        let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
        let layer = match source_layer {
            Some(want) => names.iter().position(|n| n == want).ok_or_else(|| {
                malformed(
                    path,
                    format!("no layer '{want}' (layers: {})", names.join(", ")),
                )
            })?,
            None if names.len() == 1 => 0,
            None if names.is_empty() => {
                return Err(malformed(path, "GDAL finds no vector layer in it"));
            }
            None => {
                return Err(malformed(
                    path,
                    format!(
                        "{} layers ({}): choose one with --source-layer",
                        names.len(),
                        names.join(", ")
                    ),
                ));
            }
        };
        let l = ds
            .layer(layer)
            .map_err(|e| malformed(path, format!("layer {layer}: {e}")))?;
        let crs = l
            .spatial_ref()
            .and_then(|s| match (s.auth_name(), s.auth_code()) {
                (Some(a), Ok(c)) if a.eq_ignore_ascii_case("EPSG") => Some(format!("EPSG:{c}")),
                _ => s.to_wkt().ok(),
            });
        Ok(GdalSource {
            path: path.to_path_buf(),
            layer,
            driver: ds.driver().short_name(),
            crs,
            adjusted: Arc::new(Adjusted::default()),
        })
    }

    /// The GDAL driver's short name (DXF, KML, MapInfo File...).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The layer's CRS (`EPSG:n` or WKT).
    pub fn declared_crs(&self) -> Option<&str> {
        self.crs.as_deref()
    }

    /// Notes on the geometries the last pass changed (curves, Z/M).
    pub fn adjusted(&self) -> Vec<String> {
        self.adjusted.notes()
    }

    /// Stream the layer's features.
    pub fn stream(&self) -> Result<ChannelStream, ImportError> {
        self.adjusted.reset();
        let adjusted = self.adjusted.clone();
        let (path, layer) = (self.path.clone(), self.layer);
        ChannelStream::spawn("GDAL reader", &self.path, move |tx| {
            let ds = match open(&path) {
                Ok(d) => d,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut l = match ds.layer(layer) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(malformed(&path, e.to_string())));
                    return;
                }
            };
            for (index, f) in l.features().enumerate() {
                let geometry = match f.geometry() {
                    None => None,
                    Some(g) => match g.wkb().map_err(|e| e.to_string()).and_then(|b| {
                        // OGR hands over CAD arcs (DXF, FileGDB) as curve types.
                        let d = super::curves::wkb_to_geo(&b).map_err(|e| e.to_string())?;
                        adjusted
                            .record(d)
                            .ok_or_else(|| "empty geometry".to_string())
                    }) {
                        Ok(g) => Some(g),
                        Err(reason) => {
                            let _ = tx.send(Err(ImportError::Feature {
                                path: path.clone(),
                                index,
                                reason: format!("geometry: {reason}"),
                            }));
                            return;
                        }
                    },
                };
                let properties = f
                    .fields()
                    .map(|(name, v)| {
                        let v = match v {
                            None => Value::Null,
                            Some(FieldValue::IntegerValue(i)) => Value::Int(i64::from(i)),
                            Some(FieldValue::Integer64Value(i)) => Value::Int(i),
                            Some(FieldValue::RealValue(x)) => Value::Float(x),
                            Some(FieldValue::StringValue(s)) => Value::Text(s),
                            Some(FieldValue::DateValue(d)) => Value::Date(d),
                            Some(FieldValue::DateTimeValue(t)) => Value::Text(t.to_rfc3339()),
                            Some(FieldValue::IntegerListValue(v)) => Value::Text(format!("{v:?}")),
                            Some(FieldValue::Integer64ListValue(v)) => {
                                Value::Text(format!("{v:?}"))
                            }
                            Some(FieldValue::RealListValue(v)) => Value::Text(format!("{v:?}")),
                            Some(FieldValue::StringListValue(v)) => Value::Text(v.join(",")),
                        };
                        (name, v)
                    })
                    .collect();
                if tx
                    .send(Ok(RawFeature {
                        index,
                        geometry,
                        properties,
                    }))
                    .is_err()
                {
                    return;
                }
            }
        })
        .map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
