//! GeoJSON (RFC 7946) FeatureCollections, streamed: on a reader thread the document is read in
//! chunks and serde_json parses each feature from the buffer (`collection.rs`); features go in
//! batches through a bounded channel, so memory is bounded by the channel, not the file, and every
//! byte of the document is validated.
//!
//! Newline-delimited GeoJSON (GeoJSONSeq, RFC 8142: one Feature per line, optionally prefixed by the
//! record separator 0x1E) is read line by line; it is recognised by its extension (`.geojsonl`,
//! `.geojsons`, `.ndjson`, `.jsonl`) or by a first line that is a whole Feature.
//!
//! RFC 7946 GeoJSON is WGS84 lon/lat. Files written by older tools may carry the 2008 `crs` member
//! (`{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}}`); it is honoured wherever it
//! appears in the document.
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use super::channel::{BatchSender, batch_channel};
use super::collection::{Part, Stop, read};
use super::curves::{Adjusted, Decoded};
use super::{Geometries, RawFeature};
use crate::error::ImportError;
use crate::infer::json_to_value;

/// A GeoJSON file.
#[derive(Debug, Clone)]
pub struct GeoJsonFile {
    path: PathBuf,
    /// One Feature per line rather than a FeatureCollection.
    sequence: bool,
    /// Geometries flattened (positions with a third number) in the last pass.
    adjusted: Arc<Adjusted>,
}

/// Is this a GeoJSON text sequence? By extension, else by whether the first line is a whole Feature.
fn is_sequence(path: &Path) -> Result<bool, std::io::Error> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if matches!(
        ext.as_str(),
        "geojsonl" | "geojsons" | "ndjson" | "jsonl" | "geojsonseq"
    ) {
        return Ok(true);
    }
    let mut first = String::new();
    BufReader::new(File::open(path)?.take(16 << 20)).read_line(&mut first)?;
    if first.starts_with('\u{1e}') {
        return Ok(true);
    }
    let line = first.trim();
    Ok(serde_json::from_str::<serde_json::Value>(line)
        .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("Feature")))
}

/// A feature read for its properties only: the geometry is checked to be JSON, not decoded.
#[derive(serde::Deserialize)]
struct PropertiesOnly {
    #[serde(default)]
    properties: Option<serde_json::Map<String, serde_json::Value>>,
}

impl PropertiesOnly {
    fn into_msg(self, index: usize) -> Msg {
        Msg::Feature(
            index,
            Box::new(geojson::Feature {
                properties: self.properties,
                ..Default::default()
            }),
        )
    }
}

/// Read a GeoJSON text sequence line by line onto the channel.
fn read_sequence(file: File, tx: &mut BatchSender<Msg>, geometries: Geometries) {
    let mut index = 0usize;
    for (n, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Msg::Error(format!("line {}: {e}", n + 1)));
                return;
            }
        };
        let text = line.trim_start_matches('\u{1e}').trim();
        if text.is_empty() {
            continue;
        }
        let parsed = match geometries {
            Geometries::Read => serde_json::from_str::<geojson::Feature>(text)
                .map(|f| Msg::Feature(index, Box::new(f))),
            Geometries::Skip => {
                serde_json::from_str::<PropertiesOnly>(text).map(|f| f.into_msg(index))
            }
        };
        match parsed {
            Ok(msg) => {
                if tx.send(msg).is_err() {
                    return;
                }
                index += 1;
            }
            Err(e) => {
                let _ = tx.send(Msg::Error(format!("line {} (feature {index}): {e}", n + 1)));
                return;
            }
        }
    }
    let _ = tx.send(Msg::End);
}

impl GeoJsonFile {
    /// Check that a file can be read and is not empty.
    pub fn open(path: &Path) -> Result<GeoJsonFile, ImportError> {
        let meta = std::fs::metadata(path).map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.len() == 0 {
            return Err(ImportError::Malformed {
                path: path.to_path_buf(),
                reason: "file is empty".into(),
            });
        }
        let sequence = is_sequence(path).map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(GeoJsonFile {
            path: path.to_path_buf(),
            sequence,
            adjusted: Arc::new(Adjusted::default()),
        })
    }

    /// Stream the features.
    pub fn stream(&self) -> Result<FeatureStream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// Stream the features, decoding geometries or not.
    pub fn stream_with(&self, geometries: Geometries) -> Result<FeatureStream, ImportError> {
        let file = File::open(&self.path).map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })?;
        let (mut tx, rx) = batch_channel::<Msg>();
        let sequence = self.sequence;
        let reader = super::channel::spawn_worker("geojson-reader", move || {
            if sequence {
                return read_sequence(file, &mut tx, geometries);
            }
            read_collection(file, &mut tx, geometries);
        })
        .map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })?;
        if geometries == Geometries::Read {
            self.adjusted.reset();
        }
        Ok(FeatureStream {
            path: self.path.clone(),
            adjusted: self.adjusted.clone(),
            rx: Some(rx),
            pending: Vec::new().into_iter(),
            reader: Some(reader),
            crs: None,
            done: false,
        })
    }
}

enum Msg {
    Crs(String),
    Feature(usize, Box<geojson::Feature>),
    Error(String),
    End,
}

/// Features of a GeoJSON file in order; [`FeatureStream::declared_crs`] is known once the stream
/// has passed the `crs` member (at the latest when it is exhausted).
pub struct FeatureStream {
    path: PathBuf,
    adjusted: Arc<Adjusted>,
    rx: Option<Receiver<Vec<Msg>>>,
    pending: std::vec::IntoIter<Msg>,
    reader: Option<JoinHandle<()>>,
    crs: Option<String>,
    done: bool,
}

impl fmt::Debug for FeatureStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureStream")
            .field("path", &self.path)
            .finish()
    }
}

impl FeatureStream {
    /// The CRS named by the file's `crs` member, if seen so far.
    pub fn declared_crs(&self) -> Option<&str> {
        self.crs.as_deref()
    }
}

impl Iterator for FeatureStream {
    type Item = Result<RawFeature, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let msg = match self.pending.next() {
                Some(m) => m,
                None => {
                    match self.rx.as_ref()?.recv() {
                        Ok(batch) => self.pending = batch.into_iter(),
                        Err(_) => {
                            self.pending = vec![Msg::Error("reader stopped".into())].into_iter()
                        }
                    }
                    continue;
                }
            };
            match msg {
                Msg::Crs(c) => self.crs = Some(c),
                Msg::Feature(index, f) => {
                    return Some(convert(&self.path, index, *f, &self.adjusted));
                }
                Msg::End => {
                    self.done = true;
                    return None;
                }
                Msg::Error(e) => {
                    self.done = true;
                    return Some(Err(ImportError::Malformed {
                        path: self.path.clone(),
                        reason: format!("invalid GeoJSON: {e}"),
                    }));
                }
            }
        }
    }
}

impl Drop for FeatureStream {
    fn drop(&mut self) {
        // Closing the channel makes the reader's next send fail, which ends its thread.
        drop(self.rx.take());
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

/// Read a FeatureCollection (`collection::read`: serde_json on buffered slices) onto the channel.
fn read_collection(file: File, tx: &mut BatchSender<Msg>, geometries: Geometries) {
    const CANCELLED: &str = "cancelled";
    let res = match geometries {
        Geometries::Read => read::<geojson::Feature>(file, |p| {
            on_part(tx, p, |i, f| Msg::Feature(i, Box::new(f)), CANCELLED)
        }),
        Geometries::Skip => {
            read::<PropertiesOnly>(file, |p| on_part(tx, p, |i, f| f.into_msg(i), CANCELLED))
        }
    };
    match res {
        Ok(()) => {
            let _ = tx.send(Msg::End);
        }
        Err(Stop::Consumer(m)) if m == CANCELLED => {}
        Err(Stop::Consumer(m) | Stop::Invalid(m)) => {
            let _ = tx.send(Msg::Error(m));
        }
    }
}

/// One part of a collection as a message: features as they are, the `type` checked, the `crs`
/// name passed on.
fn on_part<F>(
    tx: &mut BatchSender<Msg>,
    part: Part<F>,
    feature: impl Fn(usize, F) -> Msg,
    cancelled: &str,
) -> Result<(), String> {
    let msg = match part {
        Part::Feature(index, f) => feature(index, f),
        Part::Member(key, Some(v)) if key == "type" => {
            return match v.as_str() {
                Some("FeatureCollection") => Ok(()),
                Some(t) => Err(format!(
                    "expected \"type\": \"FeatureCollection\", found \"{t}\""
                )),
                None => Err("\"type\" is not a string".into()),
            };
        }
        Part::Member(key, Some(v)) if key == "crs" => {
            let name = v
                .pointer("/properties/name")
                .and_then(|n| n.as_str())
                .ok_or("\"crs\" member without properties.name")?;
            Msg::Crs(name.to_string())
        }
        Part::Member(..) => return Ok(()),
    };
    tx.send(msg).map_err(|_| cancelled.to_string())
}

/// The first position with fewer than two numbers, if any (geojson only checks Points, and its
/// conversion indexes `[1]` on every position).
pub(crate) fn short_position(v: &geojson::GeometryValue) -> Option<usize> {
    use geojson::GeometryValue as G;
    let find =
        |ps: &mut dyn Iterator<Item = &geojson::Position>| ps.map(|p| p.len()).find(|n| *n < 2);
    match v {
        G::Point { coordinates } => find(&mut std::iter::once(coordinates)),
        G::MultiPoint { coordinates } | G::LineString { coordinates } => {
            find(&mut coordinates.iter())
        }
        G::MultiLineString { coordinates } | G::Polygon { coordinates } => {
            find(&mut coordinates.iter().flatten())
        }
        G::MultiPolygon { coordinates } => find(&mut coordinates.iter().flatten().flatten()),
        G::GeometryCollection { geometries } => {
            geometries.iter().find_map(|g| short_position(&g.value))
        }
    }
}

/// Whether a position has a third (elevation) number, which the conversion drops.
fn has_z(v: &geojson::GeometryValue) -> bool {
    use geojson::GeometryValue as G;
    let any = |ps: &mut dyn Iterator<Item = &geojson::Position>| {
        ps.map(|p| p.len()).max().is_some_and(|n| n > 2)
    };
    match v {
        G::Point { coordinates } => coordinates.len() > 2,
        G::MultiPoint { coordinates } | G::LineString { coordinates } => {
            any(&mut coordinates.iter())
        }
        G::MultiLineString { coordinates } | G::Polygon { coordinates } => {
            any(&mut coordinates.iter().flatten())
        }
        G::MultiPolygon { coordinates } => any(&mut coordinates.iter().flatten().flatten()),
        G::GeometryCollection { geometries } => geometries.iter().any(|g| has_z(&g.value)),
    }
}

impl GeoJsonFile {
    /// Notes on the geometries the last decoding pass changed (Z dropped).
    pub fn adjusted(&self) -> Vec<String> {
        self.adjusted.notes()
    }
}

/// Convert a GeoJSON geometry to geo, refusing positions with fewer than two numbers.
pub fn to_geo(v: &geojson::GeometryValue) -> Result<geo::Geometry<f64>, String> {
    if let Some(n) = short_position(v) {
        return Err(format!(
            "a position has {n} number(s); at least 2 (longitude, latitude) are needed"
        ));
    }
    geo::Geometry::<f64>::try_from(v).map_err(|e| e.to_string())
}

fn convert(
    path: &Path,
    index: usize,
    f: geojson::Feature,
    adjusted: &Adjusted,
) -> Result<RawFeature, ImportError> {
    let geometry = match &f.geometry {
        None => None,
        Some(g) => {
            let geometry = to_geo(&g.value).map_err(|e| ImportError::Feature {
                path: path.to_path_buf(),
                index,
                reason: format!("geometry: {e}"),
            })?;
            adjusted.record(Decoded {
                geometry: Some(geometry),
                curved: false,
                flattened: has_z(&g.value),
            })
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<Result<RawFeature, ImportError>>, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.geojson");
        std::fs::write(&p, text).unwrap();
        let mut s = GeoJsonFile::open(&p).unwrap().stream().unwrap();
        let v: Vec<_> = s.by_ref().collect();
        (v, s.declared_crs().map(str::to_string))
    }

    #[test]
    fn streams_features_and_finds_crs_anywhere() {
        let (v, crs) = read(
            r#"{"type":"FeatureCollection","bbox":[1,2,3,4],"features":[
                {"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[1,2]}},
                {"type":"Feature","properties":null,"geometry":null}],
               "crs":{"type":"name","properties":{"name":"EPSG:4547"}}}"#,
        );
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|r| r.is_ok()));
        assert_eq!(crs.as_deref(), Some("EPSG:4547"));
    }

    #[test]
    fn reads_newline_delimited_features() {
        let f = |n: i32| {
            format!(
                r#"{{"type":"Feature","properties":{{"n":{n}}},"geometry":{{"type":"Point","coordinates":[113.7,34.4]}}}}"#
            )
        };
        // RFC 8142 record separators, blank lines and CRLF are all fine.
        let (v, _) = read(&format!("\u{1e}{}\r\n\n\u{1e}{}\n{}\n", f(0), f(1), f(2)));
        assert_eq!(v.len(), 3);
        let idx: Vec<usize> = v.iter().map(|r| r.as_ref().unwrap().index).collect();
        assert_eq!(idx, vec![0, 1, 2]);
        let (v, _) = read(&format!("{}\n{{\"type\":\"Feature\",\n", f(0)));
        let err = v.into_iter().find_map(|r| r.err()).unwrap().to_string();
        assert!(err.contains("line 2 (feature 1)"), "{err}");
    }

    #[test]
    fn short_positions_are_errors_not_panics() {
        for geom in [
            r#"{"type":"LineString","coordinates":[[113.7],[113.8,34.4]]}"#,
            r#"{"type":"Polygon","coordinates":[[[113.7,34.4],[],[113.8,34.5],[113.7,34.4]]]}"#,
            r#"{"type":"MultiPoint","coordinates":[[1]]}"#,
            r#"{"type":"GeometryCollection","geometries":[{"type":"MultiPolygon","coordinates":[[[[1,2],[3]]]]}]}"#,
        ] {
            let (v, _) = read(&format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{geom}}}]}}"#
            ));
            let err = v
                .into_iter()
                .find_map(|r| r.err())
                .unwrap_or_else(|| panic!("{geom}"));
            assert!(err.to_string().contains("feature 0"), "{err}");
        }
    }

    #[test]
    fn a_lone_feature_is_one_feature() {
        let (v, _) = read(r#"{"type":"Feature","geometry":null,"properties":{"a":1}}"#);
        assert_eq!(v.len(), 1);
        assert!(v[0].is_ok());
    }

    #[test]
    fn rejects_what_is_not_a_feature_collection() {
        for (text, want) in [
            ("not json", "invalid GeoJSON"),
            (
                r#"{"type":"Point","coordinates":[1,2]}"#,
                "FeatureCollection",
            ),
            (r#"{"type":"FeatureCollection"}"#, "no \"features\""),
            (
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1]}, "properties":{}}]}"#,
                "feature 0",
            ),
            (
                r#"{"type":"FeatureCollection","features":[]} trailing"#,
                "trailing",
            ),
            (
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":null},"#,
                "feature 1",
            ),
        ] {
            let (v, _) = read(text);
            let err = v
                .into_iter()
                .find_map(|r| r.err())
                .unwrap_or_else(|| panic!("no error for {text}"));
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }
}
