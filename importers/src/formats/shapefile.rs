//! ESRI Shapefiles: `.shp` + `.shx` geometry, `.dbf` attributes, `.prj` CRS (ESRI WKT), `.cpg`
//! encoding. Geometry and records are read together by the `shapefile` crate on a reader thread.
//!
//! Attribute encoding, in order: the `.cpg` file, the DBF's language driver byte (0x4D = cp936,
//! GBK), `--encoding`, else UTF-8. Text that is not valid in that encoding is an error naming the
//! record and field (never mojibake).
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dbase::{FieldIterator, FieldValue, ReadableRecord};
use onemap_engine::model::{FieldType, Value};
use shapefile::Shape;

use super::channel::ChannelStream;
use super::text::{REPLACEMENT, TextEncoding, dbf_encoding, encoding_for_label, encoding_for_ldid};
use super::{Geometries, RawFeature};
use crate::error::ImportError;

/// An opened Shapefile.
#[derive(Debug, Clone)]
pub struct ShapefileSource {
    shp: PathBuf,
    dbf: PathBuf,
    prj: Option<String>,
    encoding: TextEncoding,
    decimals: Vec<u8>,
    flattened: Arc<AtomicUsize>,
    /// For a zipped Shapefile: the folder it was unpacked into, kept as long as the source.
    _unzipped: Option<Arc<tempfile::TempDir>>,
}

/// A byte count for a message.
fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", (n >> 10).max(1))
    }
}

fn sibling(path: &Path, ext: &str) -> Option<PathBuf> {
    [ext.to_ascii_lowercase(), ext.to_ascii_uppercase()]
        .into_iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.is_file())
}

fn malformed(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The DBF header facts we need beyond the `dbase` crate: record count, language driver, and each
/// field's decimal count (0 decimals: an integer column).
struct DbfHeader {
    records: u32,
    ldid: u8,
    decimals: Vec<u8>,
}

fn read_dbf_header(dbf: &Path) -> Result<DbfHeader, ImportError> {
    let mut f = File::open(dbf).map_err(|e| io(dbf, e))?;
    let mut head = [0u8; 32];
    f.read_exact(&mut head)
        .map_err(|_| malformed(dbf, "the .dbf is shorter than its 32-byte header"))?;
    let records = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let header_len = usize::from(u16::from_le_bytes([head[8], head[9]]));
    if header_len < 33 {
        return Err(malformed(
            dbf,
            format!("the .dbf header length {header_len} is impossible"),
        ));
    }
    let mut rest = vec![0u8; header_len - 32];
    f.read_exact(&mut rest)
        .map_err(|_| malformed(dbf, "the .dbf ends inside its field descriptors"))?;
    let mut decimals = Vec::new();
    for d in rest.chunks(32) {
        if d[0] == 0x0D || d.len() < 32 {
            break;
        }
        decimals.push(d[17]);
    }
    Ok(DbfHeader {
        records,
        ldid: head[29],
        decimals,
    })
}

/// Shapes in a `.shx` (its length field, in 16-bit words, minus the 100-byte header, over 8-byte
/// records).
fn shx_count(shx: &Path) -> Result<usize, ImportError> {
    let mut f = File::open(shx).map_err(|e| io(shx, e))?;
    let mut head = [0u8; 28];
    f.read_exact(&mut head)
        .map_err(|_| malformed(shx, "the .shx is shorter than its header"))?;
    let words = u32::from_be_bytes([head[24], head[25], head[26], head[27]]) as usize;
    Ok((words * 2).saturating_sub(100) / 8)
}

impl ShapefileSource {
    /// Open `path` (the `.shp`) and its companions.
    pub fn open(path: &Path, encoding_flag: Option<&str>) -> Result<ShapefileSource, ImportError> {
        let dbf = sibling(path, "dbf").ok_or_else(|| {
            malformed(
                path,
                "no .dbf beside the .shp: a Shapefile needs its attribute table",
            )
        })?;
        let header = read_dbf_header(&dbf)?;
        if let Some(shx) = sibling(path, "shx") {
            let shapes = shx_count(&shx)?;
            if shapes != header.records as usize {
                return Err(malformed(
                    path,
                    format!(
                        "{shapes} shapes in the .shx but {} records in the .dbf: the files do not belong together",
                        header.records
                    ),
                ));
            }
        }
        let prj = match sibling(path, "prj") {
            None => None,
            Some(p) => {
                let text = super::read_side_file(&p)?;
                if text.trim().is_empty() {
                    return Err(ImportError::Crs {
                        path: p,
                        reason: "the .prj file is empty: fix it, delete it, or pass --srs".into(),
                    });
                }
                Some(text)
            }
        };
        let encoding = match sibling(path, "cpg") {
            Some(cpg) => {
                let label = super::read_side_file(&cpg)?;
                let e = encoding_for_label(&label).ok_or_else(|| {
                    malformed(
                        &cpg,
                        format!("unknown encoding '{}' in the .cpg", label.trim()),
                    )
                })?;
                TextEncoding {
                    encoding: e,
                    source: ".cpg",
                }
            }
            None => match encoding_for_ldid(header.ldid) {
                Some(e) => TextEncoding {
                    encoding: e,
                    source: "the DBF language driver byte",
                },
                None => match encoding_flag {
                    Some(l) => TextEncoding {
                        encoding: encoding_for_label(l).ok_or_else(|| {
                            malformed(
                                path,
                                format!("unknown --encoding '{l}' (try GBK, UTF-8, GB18030)"),
                            )
                        })?,
                        source: "--encoding",
                    },
                    None => TextEncoding::DEFAULT,
                },
            },
        };
        Ok(ShapefileSource {
            shp: path.to_path_buf(),
            dbf,
            prj,
            encoding,
            decimals: header.decimals,
            flattened: Arc::new(AtomicUsize::new(0)),
            _unzipped: None,
        })
    }

    /// Open the one Shapefile inside a `.zip` (its `.shp` and the `.shx`/`.dbf`/`.prj`/`.cpg`
    /// beside it, unpacked to a temporary folder that lives as long as the source).
    pub fn open_zip(
        path: &Path,
        encoding_flag: Option<&str>,
        limits: &super::InputLimits,
    ) -> Result<ShapefileSource, ImportError> {
        let file = File::open(path).map_err(|e| io(path, e))?;
        let zip_err =
            |e: zip::result::ZipError| malformed(path, format!("cannot read the zip: {e}"));
        let mut za = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
        if za.len() > limits.max_zip_entries {
            return Err(malformed(
                path,
                format!(
                    "the zip holds {} entries; at most {} (a zipped Shapefile holds 3 to 6)",
                    za.len(),
                    limits.max_zip_entries
                ),
            ));
        }
        let mut names = Vec::with_capacity(za.len());
        for i in 0..za.len() {
            let e = za.by_index(i).map_err(zip_err)?;
            names.push(e.name().map_err(zip_err)?.to_string());
        }
        let shps: Vec<&String> = names
            .iter()
            .filter(|n| n.to_ascii_lowercase().ends_with(".shp"))
            .collect();
        let shp = match shps.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(malformed(path, "the zip holds no .shp")),
            many => {
                return Err(malformed(
                    path,
                    format!(
                        "the zip holds {} Shapefiles ({}): unzip it and import one at a time",
                        many.len(),
                        many.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let stem = &shp[..shp.len() - 4];
        let base = Path::new(stem)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "layer".into());
        let tmp = tempfile::Builder::new()
            .prefix("onemap-unzip")
            .tempdir()
            .map_err(|e| io(path, e))?;
        let mut unpacked = 0u64;
        for (i, name) in names.iter().enumerate() {
            let Some(ext) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let ext = ext.to_ascii_lowercase();
            if !["shp", "shx", "dbf", "prj", "cpg"].contains(&ext.as_str()) {
                continue;
            }
            let entry = za.by_index(i).map_err(zip_err)?;
            let out_path = tmp.path().join(format!("{base}.{ext}"));
            let mut out = File::create(&out_path).map_err(|e| io(&out_path, e))?;
            // Side files get a side file's cap; every entry counts against the total (the sizes
            // a zip declares are not trusted: the bytes are counted as they come).
            let room = if matches!(ext.as_str(), "prj" | "cpg") {
                super::MAX_SIDE_FILE_BYTES
            } else {
                limits.max_unzipped_bytes.saturating_sub(unpacked)
            };
            let copied = std::io::copy(&mut entry.take(room + 1), &mut out)
                .map_err(|e| malformed(path, format!("cannot unpack {name}: {e}")))?;
            if copied > room {
                return Err(malformed(
                    path,
                    format!(
                        "{name} unpacks to more than {} (at most {} in all for this input)",
                        human_bytes(room),
                        human_bytes(limits.max_unzipped_bytes)
                    ),
                ));
            }
            unpacked += copied;
        }
        let mut src =
            ShapefileSource::open(&tmp.path().join(format!("{base}.shp")), encoding_flag)?;
        src._unzipped = Some(Arc::new(tmp));
        Ok(src)
    }

    /// The `.prj` WKT, if there is one.
    pub fn prj(&self) -> Option<&str> {
        self.prj.as_deref()
    }

    /// The attribute encoding and where it came from.
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// What to do about text that does not decode, given where the encoding came from.
    fn encoding_advice(&self) -> &'static str {
        match self.encoding.source {
            ".cpg" => "; the .cpg is wrong: correct it (e.g. GBK) or delete it and pass --encoding",
            "--encoding" => "; try another --encoding (GBK, GB18030, UTF-8)",
            "default" => "; pass --encoding (GBK?)",
            _ => {
                "; the DBF's language driver byte is wrong: write a .cpg naming the right encoding"
            }
        }
    }

    /// The `.dbf`, decoded with the chosen encoding.
    fn open_dbf(&self) -> Result<dbase::Reader<std::io::BufReader<std::fs::File>>, ImportError> {
        dbase::ReaderBuilder::new()
            .with_encoding(dbf_encoding(self.encoding.encoding))
            .open(&self.dbf)
            .map_err(|e| malformed(&self.dbf, format!("cannot read the .dbf: {e}")))
    }

    /// The error for field `k`, whose name does not decode in the chosen encoding.
    fn bad_field_name(&self, k: usize) -> ImportError {
        ImportError::Malformed {
            path: self.dbf.clone(),
            reason: format!(
                "field #{k}'s name is not valid {} text (encoding from {}){}",
                self.encoding.name(),
                self.encoding.source,
                self.encoding_advice()
            ),
        }
    }

    /// Shapes with Z or M values flattened to 2D so far.
    pub fn flattened(&self) -> usize {
        self.flattened.load(Ordering::Relaxed)
    }

    /// Stream the features.
    pub fn stream(&self) -> Result<ChannelStream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// Stream the features; without geometries only the `.dbf` is read.
    pub fn stream_with(&self, geometries: Geometries) -> Result<ChannelStream, ImportError> {
        // Counted per pass: the note reports the pass that wrote.
        self.flattened.store(0, Ordering::Relaxed);
        let me = self.clone();
        ChannelStream::spawn("Shapefile reader", &self.shp, move |tx| {
            let shp = me.shp.clone();
            if geometries == Geometries::Skip {
                return me.send_records(tx);
            }
            let shapes = match shapefile::ShapeReader::from_path(&shp) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(malformed(&shp, format!("cannot read the .shp: {e}"))));
                    return;
                }
            };
            let records = match me.open_dbf() {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut reader = shapefile::Reader::new(shapes, records);
            for (index, item) in reader
                .iter_shapes_and_records_as::<Shape, OrderedRecord>()
                .enumerate()
            {
                let feature = match item {
                    Ok((shape, record)) => me.feature(index, shape, record),
                    Err(e) => Err(malformed(
                        &shp,
                        format!("feature {index}: {}", super::channel::explain(e)),
                    )),
                };
                let stop = feature.is_err();
                if tx.send(feature).is_err() || stop {
                    return;
                }
            }
        })
        .map_err(|e| io(&self.shp, e))
    }

    /// The `.dbf` header's fields, typed as [`ShapefileSource::feature`] converts their values
    /// (numeric without decimals: integers up to 15 digits; dates in `D` fields; `C` text stays
    /// text).
    pub fn declared_fields(&self) -> Result<Vec<(String, FieldType)>, ImportError> {
        use dbase::FieldType as D;
        let reader = self.open_dbf()?;
        reader
            .fields()
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let name = f.name().to_string();
                if name.contains(REPLACEMENT) {
                    return Err(self.bad_field_name(k));
                }
                let decimals = self.decimals.get(k).copied().unwrap_or(1);
                let ty = match f.field_type() {
                    D::Numeric if decimals == 0 && f.length() <= 15 => FieldType::Int,
                    D::Integer => FieldType::Int,
                    D::Numeric | D::Float | D::Double | D::Currency => FieldType::Float,
                    D::Logical => FieldType::Bool,
                    D::Date => FieldType::Date,
                    D::Character | D::Memo | D::DateTime => FieldType::Text,
                };
                Ok((name, ty))
            })
            .collect()
    }

    /// The `.dbf` records alone, as features without geometry.
    fn send_records(&self, tx: &mut super::channel::BatchSender) {
        let mut records = match self.open_dbf() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        for (index, item) in records.iter_records_as::<OrderedRecord>().enumerate() {
            let feature = match item {
                Ok(record) => self.feature(index, Shape::NullShape, record),
                Err(e) => Err(malformed(
                    &self.dbf,
                    format!("record {index}: {}", super::channel::explain(e)),
                )),
            };
            let stop = feature.is_err();
            if tx.send(feature).is_err() || stop {
                return;
            }
        }
    }

    fn feature(
        &self,
        index: usize,
        shape: Shape,
        record: OrderedRecord,
    ) -> Result<RawFeature, ImportError> {
        let flat = matches!(
            shape,
            Shape::PointZ(_)
                | Shape::PointM(_)
                | Shape::PolylineZ(_)
                | Shape::PolylineM(_)
                | Shape::PolygonZ(_)
                | Shape::PolygonM(_)
                | Shape::MultipointZ(_)
                | Shape::MultipointM(_)
        );
        let geometry =
            match shape {
                Shape::NullShape => None,
                Shape::Multipatch(_) => {
                    return Err(ImportError::Feature {
                        path: self.shp.clone(),
                        index,
                        reason: "multipatch (3D surface) shapes are not supported".into(),
                    });
                }
                other => Some(geo::Geometry::<f64>::try_from(other).map_err(|e| {
                    ImportError::Feature {
                        path: self.shp.clone(),
                        index,
                        reason: e.to_string(),
                    }
                })?),
            };
        if flat {
            self.flattened.fetch_add(1, Ordering::Relaxed);
        }
        let mut properties = Vec::with_capacity(record.0.len());
        for (k, (name, value)) in record.0.into_iter().enumerate() {
            if name.contains(REPLACEMENT) {
                return Err(self.bad_field_name(k));
            }
            let decimals = self.decimals.get(k).copied().unwrap_or(1);
            let v = match value {
                FieldValue::Character(None)
                | FieldValue::Numeric(None)
                | FieldValue::Logical(None)
                | FieldValue::Date(None)
                | FieldValue::Float(None) => Value::Null,
                FieldValue::Character(Some(s)) | FieldValue::Memo(s) => {
                    if s.contains(REPLACEMENT) {
                        return Err(ImportError::Property {
                            path: self.dbf.clone(),
                            index,
                            field: name,
                            reason: format!(
                                "bytes that are not valid {} text (encoding from {}){}",
                                self.encoding.name(),
                                self.encoding.source,
                                self.encoding_advice()
                            ),
                        });
                    }
                    let t = s.trim();
                    if t.is_empty() {
                        Value::Null
                    } else {
                        Value::Text(t.to_string())
                    }
                }
                FieldValue::Numeric(Some(x)) => {
                    if decimals == 0 && x.fract() == 0.0 && x.abs() < 9.0e15 {
                        Value::Int(x as i64)
                    } else {
                        Value::Float(x)
                    }
                }
                FieldValue::Float(Some(x)) => Value::Float(f64::from(x)),
                FieldValue::Integer(i) => Value::Int(i64::from(i)),
                FieldValue::Currency(x) | FieldValue::Double(x) => Value::Float(x),
                FieldValue::Logical(Some(b)) => Value::Bool(b),
                FieldValue::Date(Some(d)) => {
                    match chrono::NaiveDate::from_ymd_opt(d.year() as i32, d.month(), d.day()) {
                        Some(d) => Value::Date(d),
                        None => Value::Null,
                    }
                }
                FieldValue::DateTime(dt) => Value::Text(format!("{dt:?}")),
            };
            properties.push((name, v));
        }
        Ok(RawFeature {
            index,
            geometry,
            properties,
        })
    }
}

/// A DBF record with its fields in file order.
struct OrderedRecord(Vec<(String, FieldValue)>);

impl ReadableRecord for OrderedRecord {
    fn read_using<S, M>(it: &mut FieldIterator<S, M>) -> Result<Self, dbase::FieldError>
    where
        S: Read + Seek,
        M: Read + Seek,
    {
        let mut out = Vec::new();
        for f in it {
            let f = f?;
            out.push((f.name.to_string(), f.value));
        }
        Ok(OrderedRecord(out))
    }
}
