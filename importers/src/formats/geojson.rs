//! GeoJSON (RFC 7946) FeatureCollections, read feature by feature so memory stays bounded.
//!
//! RFC 7946 GeoJSON is WGS84 lon/lat. Files written by older tools may carry the 2008 `crs` member
//! (`{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}}`); it is honoured when it
//! appears before the features (as every writer we know puts it).
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::RawFeature;
use crate::error::ImportError;
use crate::infer::json_to_value;

/// A GeoJSON file.
#[derive(Debug, Clone)]
pub struct GeoJsonFile {
    path: PathBuf,
    declared_crs: Option<String>,
}

impl GeoJsonFile {
    /// Open a file and read its declared CRS, if any.
    pub fn open(path: &Path) -> Result<GeoJsonFile, ImportError> {
        let mut head = Vec::with_capacity(64 * 1024);
        File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
            .map_err(|source| ImportError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let text = String::from_utf8_lossy(&head);
        if text.trim().is_empty() {
            return Err(ImportError::Malformed {
                path: path.to_path_buf(),
                reason: "file is empty".into(),
            });
        }
        Ok(GeoJsonFile {
            path: path.to_path_buf(),
            declared_crs: sniff_crs(&text),
        })
    }

    /// The CRS named in the file's `crs` member, if it has one.
    pub fn declared_crs(&self) -> Option<&str> {
        self.declared_crs.as_deref()
    }

    /// Stream the features.
    pub fn features(&self) -> Result<impl Iterator<Item = Result<RawFeature, ImportError>> + use<>, ImportError> {
        let file = File::open(&self.path).map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })?;
        let path = self.path.clone();
        let mut failed = false;
        let iter = geojson::FeatureReader::from_reader(BufReader::with_capacity(1 << 20, file))
            .features()
            .enumerate()
            .map_while(move |(index, item)| {
                if failed {
                    return None;
                }
                Some(match item {
                    Err(e) => {
                        // A syntax error ends the stream: nothing after it can be trusted.
                        failed = true;
                        Err(ImportError::Malformed {
                            path: path.clone(),
                            reason: format!("invalid GeoJSON at feature {index}: {e}"),
                        })
                    }
                    Ok(f) => convert(&path, index, f),
                })
            });
        Ok(iter)
    }
}

fn convert(path: &Path, index: usize, f: geojson::Feature) -> Result<RawFeature, ImportError> {
    let geometry = match &f.geometry {
        None => None,
        Some(g) => Some(geo::Geometry::<f64>::try_from(&g.value).map_err(|e| {
            ImportError::Feature {
                path: path.to_path_buf(),
                index,
                reason: format!("geometry: {e}"),
            }
        })?),
    };
    let properties = f
        .properties
        .iter()
        .flat_map(|m| m.iter())
        .map(|(k, v)| (k.clone(), json_to_value(v)))
        .collect();
    Ok(RawFeature {
        index,
        geometry,
        properties,
    })
}

/// Find `"crs": {... "name": "X" ...}` in the head of a file.
fn sniff_crs(head: &str) -> Option<String> {
    let at = head.find("\"crs\"")?;
    let features_at = head.find("\"features\"").unwrap_or(usize::MAX);
    if at > features_at {
        return None;
    }
    let rest = &head[at..];
    let name_at = rest.find("\"name\"")?;
    let after = rest[name_at + 6..].trim_start().strip_prefix(':')?.trim_start();
    let value = after.strip_prefix('"')?;
    let end = value.find('"')?;
    Some(value[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_named_crs() {
        let head = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},"features":[]}"#;
        assert_eq!(sniff_crs(head).as_deref(), Some("urn:ogc:def:crs:EPSG::4547"));
        let no = r#"{"type":"FeatureCollection","features":[{"properties":{"crs":{"name":"x"}}}]}"#;
        assert_eq!(sniff_crs(no), None);
    }
}
