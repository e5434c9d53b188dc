//! CSV with a WKT geometry column or lon/lat columns (named with `--geometry-column` /
//! `--lon-column` + `--lat-column`, or detected from common names). Text is UTF-8 (a BOM is
//! skipped) unless `--encoding` says otherwise (Chinese spreadsheets often save GBK); bytes that
//! are not valid in it are an error naming the row and column. Cells are typed like GeoJSON
//! values: integers, decimals, booleans, ISO dates, else text — except that codes with leading
//! zeros (`0701`) and long digit strings (IDs) stay text.
use std::path::{Path, PathBuf};

use geozero::ToGeo;
use onemap_engine::model::Value;

use super::channel::ChannelStream;
use super::text::{TextEncoding, encoding_for_label};
use super::{Geometries, RawFeature};
use crate::error::ImportError;

/// Where a row's geometry is.
#[derive(Debug, Clone)]
enum GeometryColumns {
    Wkt(usize),
    LonLat(usize, usize),
}

/// An opened CSV file.
#[derive(Debug, Clone)]
pub struct CsvSource {
    path: PathBuf,
    encoding: TextEncoding,
    delimiter: u8,
    headers: Vec<String>,
    geometry: GeometryColumns,
}

/// Options for CSV.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// `--encoding`.
    pub encoding: Option<String>,
    /// `--geometry-column`: a WKT column.
    pub geometry_column: Option<String>,
    /// `--lon-column`.
    pub lon_column: Option<String>,
    /// `--lat-column`.
    pub lat_column: Option<String>,
}

const WKT_NAMES: [&str; 7] = [
    "wkt", "geometry", "geom", "the_geom", "shape", "几何", "geom_wkt",
];
const LON_NAMES: [&str; 6] = ["lon", "lng", "longitude", "x", "经度", "long"];
const LAT_NAMES: [&str; 4] = ["lat", "latitude", "y", "纬度"];

fn malformed(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A cell's typed value.
pub fn value_from_text(s: &str) -> Value {
    let t = s.trim();
    if t.is_empty() {
        return Value::Null;
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !leading_zero
        && digits.len() <= 15
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = t.parse::<i64>()
    {
        return Value::Int(i);
    }
    if !leading_zero
        && t.bytes().any(|b| b == b'.' || b == b'e' || b == b'E')
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && let Ok(x) = t.parse::<f64>()
        && x.is_finite()
    {
        return Value::Float(x);
    }
    match t.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::Text(t.to_string()),
    }
}

fn find(headers: &[String], wanted: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(wanted.trim()))
}

impl CsvSource {
    /// Open a CSV file and work out its encoding, delimiter and geometry columns.
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<CsvSource, ImportError> {
        let encoding = match &opts.encoding {
            Some(l) => TextEncoding {
                encoding: encoding_for_label(l).ok_or_else(|| {
                    malformed(path, format!("unknown --encoding '{l}' (try GBK, UTF-8)"))
                })?,
                source: "--encoding",
            },
            None => TextEncoding::DEFAULT,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut first = Vec::new();
        {
            use std::io::BufRead;
            let f = std::fs::File::open(path).map_err(|source| ImportError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            std::io::BufReader::new(f)
                .read_until(b'\n', &mut first)
                .map_err(|source| ImportError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        if first.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed(path, "file is empty (no header row)"));
        }
        let first = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&first);
        let delimiter = if ext == "tsv"
            || first.iter().filter(|&&b| b == b'\t').count()
                > first.iter().filter(|&&b| b == b',').count()
        {
            b'\t'
        } else {
            b','
        };
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .from_reader(first);
        let mut rec = csv::ByteRecord::new();
        rdr.read_byte_record(&mut rec)
            .map_err(|e| malformed(path, format!("header row: {e}")))?;
        let mut headers = Vec::with_capacity(rec.len());
        for (k, h) in rec.iter().enumerate() {
            let t = encoding.decode(h).ok_or_else(|| {
                malformed(
                    path,
                    format!(
                        "header column {k} is not valid {} text; pass --encoding (GBK?)",
                        encoding.name()
                    ),
                )
            })?;
            let name = t.trim().to_string();
            if headers
                .iter()
                .any(|h: &String| h.eq_ignore_ascii_case(&name))
            {
                return Err(malformed(
                    path,
                    format!("column '{name}' appears twice in the header"),
                ));
            }
            headers.push(name);
        }
        let geometry = match (&opts.geometry_column, &opts.lon_column, &opts.lat_column) {
            (Some(g), _, _) => GeometryColumns::Wkt(find(&headers, g).ok_or_else(|| {
                malformed(
                    path,
                    format!("no column '{g}' (columns: {})", headers.join(", ")),
                )
            })?),
            (None, Some(x), Some(y)) => GeometryColumns::LonLat(
                find(&headers, x).ok_or_else(|| {
                    malformed(
                        path,
                        format!("no column '{x}' (columns: {})", headers.join(", ")),
                    )
                })?,
                find(&headers, y).ok_or_else(|| {
                    malformed(
                        path,
                        format!("no column '{y}' (columns: {})", headers.join(", ")),
                    )
                })?,
            ),
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(malformed(path, "--lon-column and --lat-column go together"));
            }
            (None, None, None) => {
                if let Some(i) = WKT_NAMES.iter().find_map(|n| find(&headers, n)) {
                    GeometryColumns::Wkt(i)
                } else if let (Some(x), Some(y)) = (
                    LON_NAMES.iter().find_map(|n| find(&headers, n)),
                    LAT_NAMES.iter().find_map(|n| find(&headers, n)),
                ) {
                    GeometryColumns::LonLat(x, y)
                } else {
                    return Err(malformed(
                        path,
                        format!(
                            "no geometry column found (columns: {}); name one with --geometry-column (WKT) or --lon-column/--lat-column",
                            headers.join(", ")
                        ),
                    ));
                }
            }
        };
        Ok(CsvSource {
            path: path.to_path_buf(),
            encoding,
            delimiter,
            headers,
            geometry,
        })
    }

    /// The text encoding used.
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// Stream the rows as features (row 0 is the first row after the header).
    pub fn stream(&self) -> Result<ChannelStream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// Stream the rows, decoding geometries or not.
    pub fn stream_with(&self, geometries: Geometries) -> Result<ChannelStream, ImportError> {
        let me = self.clone();
        ChannelStream::spawn("CSV reader", &self.path, move |tx| {
            let file = match std::fs::File::open(&me.path) {
                Ok(f) => f,
                Err(source) => {
                    let _ = tx.send(Err(ImportError::Io {
                        path: me.path.clone(),
                        source,
                    }));
                    return;
                }
            };
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(me.delimiter)
                .has_headers(true)
                .flexible(false)
                .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
            let mut rec = csv::ByteRecord::new();
            let mut index = 0usize;
            loop {
                match rdr.read_byte_record(&mut rec) {
                    Ok(false) => return,
                    Ok(true) => {}
                    Err(e) => {
                        let _ = tx.send(Err(malformed(&me.path, format!("row {index}: {e}"))));
                        return;
                    }
                }
                let f = me.row(index, &rec, geometries);
                let stop = f.is_err();
                if tx.send(f).is_err() || stop {
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

    fn row(
        &self,
        index: usize,
        rec: &csv::ByteRecord,
        geometries: Geometries,
    ) -> Result<RawFeature, ImportError> {
        let cell = |k: usize| -> Result<String, ImportError> {
            let bytes = rec.get(k).unwrap_or_default();
            self.encoding
                .decode(bytes)
                .map(|c| c.into_owned())
                .ok_or_else(|| ImportError::Property {
                    path: self.path.clone(),
                    index,
                    field: self.headers[k].clone(),
                    reason: format!(
                        "bytes that are not valid {} text; pass --encoding with the right one (GBK?)",
                        self.encoding.name()
                    ),
                })
        };
        let feature_err = |reason: String| ImportError::Feature {
            path: self.path.clone(),
            index,
            reason,
        };
        let (geometry, skip): (Option<geo::Geometry<f64>>, Vec<usize>) = match self.geometry {
            GeometryColumns::Wkt(k) if geometries == Geometries::Skip => (None, vec![k]),
            GeometryColumns::LonLat(x, y) if geometries == Geometries::Skip => (None, vec![x, y]),
            GeometryColumns::Wkt(k) => {
                let text = cell(k)?;
                if text.trim().is_empty() {
                    (None, vec![k])
                } else {
                    use onemap_engine::geometry::nesting;
                    nesting::check_wkt(&text, nesting::MAX_DEPTH)
                        .map_err(|e| feature_err(format!("column '{}': {e}", self.headers[k])))?;
                    let g = geozero::wkt::Wkt(text.as_str()).to_geo().map_err(|e| {
                        feature_err(format!("column '{}': invalid WKT: {e}", self.headers[k]))
                    })?;
                    (Some(g), vec![k])
                }
            }
            GeometryColumns::LonLat(x, y) => {
                let num = |k: usize| -> Result<f64, ImportError> {
                    let t = cell(k)?;
                    t.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            feature_err(format!(
                                "column '{}': '{}' is not a number",
                                self.headers[k],
                                t.trim()
                            ))
                        })
                };
                (
                    Some(geo::Geometry::Point(geo::Point::new(num(x)?, num(y)?))),
                    vec![x, y],
                )
            }
        };
        let mut properties = Vec::with_capacity(self.headers.len());
        for k in 0..self.headers.len() {
            if skip.contains(&k) {
                continue;
            }
            properties.push((self.headers[k].clone(), value_from_text(&cell(k)?)));
        }
        Ok(RawFeature {
            index,
            geometry,
            properties,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_like_gis_analysts_expect() {
        assert_eq!(value_from_text("42"), Value::Int(42));
        assert_eq!(value_from_text("-7"), Value::Int(-7));
        assert_eq!(value_from_text("2.5"), Value::Float(2.5));
        assert_eq!(value_from_text("0.25"), Value::Float(0.25));
        assert_eq!(
            value_from_text("0701"),
            Value::Text("0701".into()),
            "land-use codes keep their zero"
        );
        assert_eq!(value_from_text("0"), Value::Int(0));
        assert_eq!(
            value_from_text("410184202405001"),
            Value::Int(410_184_202_405_001)
        );
        assert_eq!(
            value_from_text("4101842024050011"),
            Value::Text("4101842024050011".into()),
            "16-digit ids stay text"
        );
        assert_eq!(value_from_text("TRUE"), Value::Bool(true));
        assert_eq!(value_from_text(""), Value::Null);
        assert_eq!(
            value_from_text("新规许字〔2023〕001号"),
            Value::Text("新规许字〔2023〕001号".into())
        );
        assert_eq!(value_from_text("1e3"), Value::Float(1000.0));
        assert_eq!(value_from_text("inf"), Value::Text("inf".into()));
    }
}
