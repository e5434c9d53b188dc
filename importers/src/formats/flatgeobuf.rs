//! FlatGeobuf: the header names the CRS (an EPSG code or WKT), features stream in order with typed
//! properties. Read sequentially (the spatial index is skipped) on a reader thread.
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flatgeobuf::{ColumnType, FallibleStreamingIterator, FeatureProperties, FgbReader};
use geozero::{ColumnValue, GeozeroGeometry, PropertyProcessor};
use onemap_engine::model::{FieldType, Value};

use super::channel::ChannelStream;
use super::curves::Adjusted;
use super::{Geometries, RawFeature};
use crate::error::ImportError;

/// An opened FlatGeobuf file.
#[derive(Debug, Clone)]
pub struct FgbSource {
    path: PathBuf,
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

fn open_reader(path: &Path) -> Result<FgbReader<BufReader<File>>, ImportError> {
    let f = File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    FgbReader::open(BufReader::with_capacity(1 << 20, f))
        .map_err(|e| malformed(path, format!("not a FlatGeobuf file: {e}")))
}

impl FgbSource {
    /// Open and read the header.
    pub fn open(path: &Path) -> Result<FgbSource, ImportError> {
        let reader = open_reader(path)?;
        let header = reader.header();
        let crs = header.crs().and_then(|c| {
            if c.code() > 0 {
                Some(format!("{}:{}", c.org().unwrap_or("EPSG"), c.code()))
            } else {
                c.wkt().map(str::to_string)
            }
        });
        Ok(FgbSource {
            path: path.to_path_buf(),
            crs,
            adjusted: Arc::new(Adjusted::default()),
        })
    }

    /// The CRS the header declares (`EPSG:n` or WKT).
    pub fn declared_crs(&self) -> Option<&str> {
        self.crs.as_deref()
    }

    /// Stream the features.
    pub fn stream(&self) -> Result<ChannelStream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// The header's columns, typed as [`Props`] converts their values (dates stay text, as
    /// FlatGeobuf's DateTime strings are read).
    pub fn declared_fields(&self) -> Result<Vec<(String, FieldType)>, ImportError> {
        let reader = open_reader(&self.path)?;
        let Some(columns) = reader.header().columns() else {
            return Ok(Vec::new());
        };
        Ok(columns
            .iter()
            .map(|c| {
                let ty = match c.type_() {
                    ColumnType::Bool => FieldType::Bool,
                    ColumnType::Byte
                    | ColumnType::UByte
                    | ColumnType::Short
                    | ColumnType::UShort
                    | ColumnType::Int
                    | ColumnType::UInt
                    | ColumnType::Long => FieldType::Int,
                    // Values past i64 come as floats.
                    ColumnType::ULong | ColumnType::Float | ColumnType::Double => FieldType::Float,
                    _ => FieldType::Text,
                };
                (c.name().to_string(), ty)
            })
            .collect())
    }

    /// Notes on the geometries the last decoding pass changed (curves, Z/M).
    pub fn adjusted(&self) -> Vec<String> {
        self.adjusted.notes()
    }

    /// Stream the features, decoding geometries or not.
    pub fn stream_with(&self, geometries: Geometries) -> Result<ChannelStream, ImportError> {
        if geometries == Geometries::Read {
            self.adjusted.reset();
        }
        let adjusted = self.adjusted.clone();
        let path = self.path.clone();
        ChannelStream::spawn("FlatGeobuf reader", &self.path, move |tx| {
            let reader = match open_reader(&path) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut iter = match reader.select_all_seq() {
                Ok(i) => i,
                Err(e) => {
                    let _ = tx.send(Err(malformed(&path, e.to_string())));
                    return;
                }
            };
            let mut index = 0usize;
            loop {
                let f = match iter.next() {
                    Ok(Some(f)) => f,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(malformed(
                            &path,
                            format!("feature {index}: {}", super::channel::explain(e)),
                        )));
                        return;
                    }
                };
                let feature_err = |reason: String| ImportError::Feature {
                    path: path.clone(),
                    index,
                    reason,
                };
                let item = (|| {
                    let geometry = match f.geometry() {
                        None => None,
                        Some(_) if geometries == Geometries::Skip => None,
                        Some(_) => {
                            let mut p = super::curves::Linearise::new();
                            f.process_geom(&mut p)
                                .map_err(|e| feature_err(format!("geometry: {e}")))?;
                            Some(
                                adjusted
                                    .record(p.take())
                                    .ok_or_else(|| feature_err("empty geometry".into()))?,
                            )
                        }
                    };
                    let mut props = Props(Vec::new());
                    f.process_properties(&mut props)
                        .map_err(|e| feature_err(format!("properties: {e}")))?;
                    Ok(RawFeature {
                        index,
                        geometry,
                        properties: props.0,
                    })
                })();
                let stop = item.is_err();
                if tx.send(item).is_err() || stop {
                    return;
                }
                index += 1;
            }
        })
        .map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

struct Props(Vec<(String, Value)>);

impl PropertyProcessor for Props {
    fn property(&mut self, _i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        let value = match v {
            ColumnValue::Byte(x) => Value::Int(i64::from(*x)),
            ColumnValue::UByte(x) => Value::Int(i64::from(*x)),
            ColumnValue::Bool(b) => Value::Bool(*b),
            ColumnValue::Short(x) => Value::Int(i64::from(*x)),
            ColumnValue::UShort(x) => Value::Int(i64::from(*x)),
            ColumnValue::Int(x) => Value::Int(i64::from(*x)),
            ColumnValue::UInt(x) => Value::Int(i64::from(*x)),
            ColumnValue::Long(x) => Value::Int(*x),
            ColumnValue::ULong(x) => i64::try_from(*x).map_or(Value::Float(*x as f64), Value::Int),
            ColumnValue::Float(x) => Value::Float(f64::from(*x)),
            ColumnValue::Double(x) => Value::Float(*x),
            ColumnValue::String(s) | ColumnValue::Json(s) | ColumnValue::DateTime(s) => {
                Value::Text((*s).to_string())
            }
            ColumnValue::Binary(_) => Value::Null,
        };
        self.0.push((name.to_string(), value));
        Ok(false)
    }
}
