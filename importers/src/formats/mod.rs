//! File formats, one module each. Every reader yields features in file order with their 0-based
//! index, geometry in the file's CRS and properties as (name, value) pairs. [`Source::open`] picks
//! the reader by extension.
pub mod channel;
pub mod collection;
pub mod csv;
pub mod curves;
pub mod flatgeobuf;
#[cfg(feature = "gdal")]
pub mod gdal;
pub mod geojson;
pub mod geopackage;
pub mod shapefile;
pub mod text;

use std::path::Path;

use onemap_engine::model::{FieldType, Value};

use crate::error::ImportError;

/// One feature as read from a file, before reprojection and schema binding.
#[derive(Debug, Clone)]
pub struct RawFeature {
    /// 0-based position in the file.
    pub index: usize,
    /// Geometry in the file's CRS (`None` when the feature has none).
    pub geometry: Option<geo::Geometry<f64>>,
    /// Properties in file order.
    pub properties: Vec<(String, Value)>,
}

/// Whether a stream decodes geometries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometries {
    /// Decode them.
    Read,
    /// Leave them undecoded (`RawFeature::geometry` is `None`).
    Skip,
}

/// Reading options that depend on the format.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Text encoding when the file does not say (`GBK`, `UTF-8`...).
    pub encoding: Option<String>,
    /// CSV: the WKT column.
    pub geometry_column: Option<String>,
    /// CSV: the longitude column.
    pub lon_column: Option<String>,
    /// CSV: the latitude column.
    pub lat_column: Option<String>,
    /// GeoPackage: the feature table to read when there are several.
    pub source_layer: Option<String>,
    /// Bounds on what the file may unpack to (zips).
    pub limits: InputLimits,
}

/// Bounds on an input's unpacked size. Files a department hands over get generous ones; an
/// upload from the network gets [`InputLimits::upload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Most bytes all entries of a zip may unpack to together.
    pub max_unzipped_bytes: u64,
    /// Most entries a zip may hold.
    pub max_zip_entries: usize,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits {
            max_unzipped_bytes: 8 << 30,
            max_zip_entries: 10_000,
        }
    }
}

impl InputLimits {
    /// For uploads over HTTP (a red line is a few polygons): 64 MiB unpacked, 64 entries.
    pub fn upload() -> InputLimits {
        InputLimits {
            max_unzipped_bytes: 64 << 20,
            max_zip_entries: 64,
        }
    }
}

/// Most bytes of a side file (`.prj`, `.cpg`) read: real ones are a few hundred bytes.
pub const MAX_SIDE_FILE_BYTES: u64 = 64 << 10;

/// Read a small side file whole, refusing one over [`MAX_SIDE_FILE_BYTES`] without reading it.
pub fn read_side_file(path: &Path) -> Result<String, ImportError> {
    use std::io::Read;
    let io = |e: std::io::Error| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_SIDE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SIDE_FILE_BYTES {
        return Err(ImportError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "the file is over {} KiB; a .prj or .cpg is a few hundred bytes",
                MAX_SIDE_FILE_BYTES >> 10
            ),
        });
    }
    String::from_utf8(bytes).map_err(|_| ImportError::Malformed {
        path: path.to_path_buf(),
        reason: "the file is not UTF-8 text".into(),
    })
}

/// Extensions `onemap import` reads.
pub const SUPPORTED: &str = ".geojson .json .geojsonl .geojsons .ndjson .jsonl (GeoJSON), .shp or .zip (Shapefile), .gpkg (GeoPackage), .fgb (FlatGeobuf), .csv .tsv (WKT or lon/lat columns); DXF, KML, MapInfo and the rest of GDAL's formats in a build with the `gdal` feature";

/// An opened input file.
#[derive(Debug, Clone)]
pub enum Source {
    /// GeoJSON or newline-delimited GeoJSON.
    GeoJson(geojson::GeoJsonFile),
    /// ESRI Shapefile.
    Shapefile(shapefile::ShapefileSource),
    /// FlatGeobuf.
    FlatGeobuf(flatgeobuf::FgbSource),
    /// GeoPackage (one feature table).
    GeoPackage(geopackage::GpkgSource),
    /// CSV.
    Csv(csv::CsvSource),
    /// Anything else GDAL/OGR opens (the `gdal` feature).
    #[cfg(feature = "gdal")]
    Gdal(gdal::GdalSource),
}

/// The features of a [`Source`].
pub enum Stream {
    /// GeoJSON (knows the `crs` member once it has passed it).
    GeoJson(geojson::FeatureStream),
    /// Any reader on a thread.
    Channel(channel::ChannelStream),
}

impl Iterator for Stream {
    type Item = Result<RawFeature, ImportError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Stream::GeoJson(s) => s.next(),
            Stream::Channel(s) => s.next(),
        }
    }
}

impl Stream {
    /// A CRS the data declared while streaming (GeoJSON's `crs` member).
    pub fn declared_crs(&self) -> Option<&str> {
        match self {
            Stream::GeoJson(s) => s.declared_crs(),
            Stream::Channel(_) => None,
        }
    }
}

/// The layers a file holds that `--source-layer` can name: a GeoPackage's feature tables (and, in a
/// `gdal` build, the OGR layers of other formats); a single-layer format has none to choose.
pub fn layer_names(path: &Path) -> Result<Vec<String>, ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "gpkg" => geopackage::feature_tables(path),
        "geojson" | "json" | "geojsonl" | "geojsons" | "geojsonseq" | "ndjson" | "jsonl"
        | "shp" | "zip" | "fgb" | "csv" | "tsv" => Err(ImportError::Malformed {
            path: path.to_path_buf(),
            reason: "this format holds one layer: import it without --all-layers".into(),
        }),
        #[cfg(feature = "gdal")]
        _ => gdal::layer_names(path),
        #[cfg(not(feature = "gdal"))]
        _ => Err(ImportError::UnsupportedFormat {
            path: path.to_path_buf(),
            ext,
        }),
    }
}

impl Source {
    /// Open `path` with the reader its extension names.
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Source, ImportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if !path.exists() {
            return Err(ImportError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        match ext.as_str() {
            "geojson" | "json" | "geojsonl" | "geojsons" | "geojsonseq" | "ndjson" | "jsonl" => {
                geojson::GeoJsonFile::open(path).map(Source::GeoJson)
            }
            "shp" => shapefile::ShapefileSource::open(path, opts.encoding.as_deref())
                .map(Source::Shapefile),
            "zip" => {
                shapefile::ShapefileSource::open_zip(path, opts.encoding.as_deref(), &opts.limits)
                    .map(Source::Shapefile)
            }
            "fgb" => flatgeobuf::FgbSource::open(path).map(Source::FlatGeobuf),
            "gpkg" => geopackage::GpkgSource::open(path, opts.source_layer.as_deref())
                .map(Source::GeoPackage),
            "csv" | "tsv" => csv::CsvSource::open(
                path,
                &csv::CsvOptions {
                    encoding: opts.encoding.clone(),
                    geometry_column: opts.geometry_column.clone(),
                    lon_column: opts.lon_column.clone(),
                    lat_column: opts.lat_column.clone(),
                },
            )
            .map(Source::Csv),
            #[cfg(feature = "gdal")]
            _ => gdal::GdalSource::open(path, opts.source_layer.as_deref()).map(Source::Gdal),
            #[cfg(not(feature = "gdal"))]
            _ => Err(ImportError::UnsupportedFormat {
                path: path.to_path_buf(),
                ext,
            }),
        }
    }

    /// Stream the features.
    pub fn stream(&self) -> Result<Stream, ImportError> {
        self.stream_with(Geometries::Read)
    }

    /// Stream the features' properties only (every geometry `None`, not decoded): the schema pass
    /// of an import, which then costs little more than reading the attributes.
    pub fn stream_properties(&self) -> Result<Stream, ImportError> {
        self.stream_with(Geometries::Skip)
    }

    fn stream_with(&self, g: Geometries) -> Result<Stream, ImportError> {
        Ok(match self {
            Source::GeoJson(s) => Stream::GeoJson(s.stream_with(g)?),
            Source::Shapefile(s) => Stream::Channel(s.stream_with(g)?),
            Source::FlatGeobuf(f) => Stream::Channel(f.stream_with(g)?),
            Source::GeoPackage(s) => Stream::Channel(s.stream_with(g)?),
            Source::Csv(c) => Stream::Channel(c.stream_with(g)?),
            // OGR decodes a feature's geometry with the feature anyway.
            #[cfg(feature = "gdal")]
            Source::Gdal(s) => Stream::Channel(s.stream()?),
        })
    }

    /// The attribute schema the file's header declares, typed as the reader produces values, for
    /// formats whose header types every column (Shapefile's `.dbf`, FlatGeobuf); `None` for the
    /// rest, whose schema is inferred from the values.
    pub fn declared_schema(&self) -> Result<Option<Vec<(String, FieldType)>>, ImportError> {
        match self {
            Source::Shapefile(s) => s.declared_fields().map(Some),
            Source::FlatGeobuf(f) => f.declared_fields().map(Some),
            _ => Ok(None),
        }
    }

    /// The format's name.
    pub fn format(&self) -> &'static str {
        match self {
            Source::GeoJson(_) => "GeoJSON",
            Source::Shapefile(_) => "Shapefile",
            Source::FlatGeobuf(_) => "FlatGeobuf",
            Source::GeoPackage(_) => "GeoPackage",
            Source::Csv(_) => "CSV",
            #[cfg(feature = "gdal")]
            Source::Gdal(_) => "GDAL",
        }
    }

    /// The CRS the file's metadata declares (`.prj` WKT, FlatGeobuf header).
    pub fn declared_crs(&self) -> Option<String> {
        match self {
            Source::Shapefile(s) => s.prj().map(str::to_string),
            Source::FlatGeobuf(f) => f.declared_crs().map(str::to_string),
            Source::GeoPackage(g) => g.declared_crs().map(str::to_string),
            #[cfg(feature = "gdal")]
            Source::Gdal(g) => g.declared_crs().map(str::to_string),
            _ => None,
        }
    }

    /// Whether the format itself fixes the CRS to WGS84 lon/lat when the file says nothing
    /// (RFC 7946 GeoJSON).
    pub fn lonlat_by_definition(&self) -> bool {
        matches!(self, Source::GeoJson(_))
    }

    /// The attribute text encoding and where it came from.
    pub fn encoding(&self) -> Option<text::TextEncoding> {
        match self {
            Source::Shapefile(s) => Some(s.encoding()),
            Source::Csv(c) => Some(c.encoding()),
            _ => None,
        }
    }

    /// Notes after a full read (3D shapes flattened...).
    pub fn notes(&self) -> Vec<String> {
        match self {
            Source::GeoPackage(g) => return g.adjusted(),
            Source::FlatGeobuf(f) => return f.adjusted(),
            Source::GeoJson(g) => return g.adjusted(),
            #[cfg(feature = "gdal")]
            Source::Gdal(g) => return g.adjusted(),
            _ => {}
        }
        match self {
            Source::Shapefile(s) if s.flattened() > 0 => vec![format!(
                "{} shapes with Z/M values were flattened to 2D",
                s.flattened()
            )],
            _ => Vec::new(),
        }
    }
}
