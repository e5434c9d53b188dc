//! Command-line arguments and configuration: flags, then environment, then an optional TOML file.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// onemap — one map (一张图) for a city: import, store, query and serve spatial layers.
#[derive(Debug, Parser)]
#[command(name = "onemap", version, about, long_about = None)]
pub struct Cli {
    /// The store file [default: onemap.duckdb, or `db` in the config file].
    #[arg(long, global = true, env = "ONEMAP_DB")]
    pub db: Option<PathBuf>,
    /// A TOML config file (keys: db).
    #[arg(long, global = true, env = "ONEMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v info, -vv debug); ONEMAP_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Seconds to wait for another process (an import, a server's read) to release the store.
    #[arg(long, global = true, env = "ONEMAP_LOCK_WAIT", default_value_t = 10.0)]
    pub lock_wait: f64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a file into a layer (replaces the layer's current version atomically).
    Import(ImportArgs),
    /// List the layers in the store.
    Layers(FormatArgs),
    /// Show a layer's schema, CRS and statistics.
    Info {
        /// Layer name.
        layer: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Query one layer by location and attributes.
    Query(QueryArgs),
    /// Everything at a point, across layers.
    Identify(IdentifyArgs),
    /// Serve the store over HTTP: vector tiles, TileJSON, styles, the catalog, metrics.
    Serve(ServeArgs),
    /// Import the Xinzheng sample set into the store (if not there yet) and serve it.
    Demo(DemoArgs),
    /// Pre-rendered tiles.
    #[command(subcommand)]
    Tiles(TilesCommand),
    /// Write a layer to a file (GeoJSON, FlatGeobuf or CSV with WKT), optionally reprojected.
    Export(ExportArgs),
    /// Delete a layer.
    Drop {
        /// Layer name.
        layer: String,
    },
    /// Spatial analytics: approval overlay, land-use check, violation detection
    /// (exit 0: no conflict, 2: conflicts found, 1: error).
    #[command(subcommand)]
    Check(CheckCommand),
    /// The audit trail: recorded analysis runs, newest first.
    Runs(RunsArgs),
}

/// `onemap check ...`.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check a proposed red line against every rule (合规性审查).
    Approval(ApprovalArgs),
    /// Current land use against the plan (现状与规划符合性), written as a new layer.
    Landuse(LanduseArgs),
    /// Change patches against approvals, forbidden zones and the plan (卫片执法), as a new layer.
    Violations(ViolationArgs),
}

/// Options every check takes.
#[derive(Debug, Args)]
pub struct CheckCommon {
    /// Rules file (TOML) [default: the built-in rules/default.toml].
    #[arg(long, env = "ONEMAP_RULES")]
    pub rules: Option<PathBuf>,
    /// Areas planar in this Gauss–Krüger CRS (e.g. EPSG:4547) instead of on the CGCS2000 ellipsoid.
    #[arg(long, value_name = "CRS")]
    pub planar: Option<String>,
    /// Do not record the run in the store's audit trail.
    #[arg(long)]
    pub no_record: bool,
    /// Write the full result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `onemap check approval`.
#[derive(Debug, Args)]
pub struct ApprovalArgs {
    /// The red line: a file any importer reads (GeoJSON, Shapefile/.zip, GeoPackage, FlatGeobuf, CSV).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "feature",
        required_unless_present = "feature"
    )]
    pub site: Option<PathBuf>,
    /// CRS of --site when the file does not say.
    #[arg(long)]
    pub srs: Option<String>,
    /// The red line of an existing feature, as LAYER:FID (e.g. approvals:3).
    #[arg(long, value_name = "LAYER:FID")]
    pub feature: Option<String>,
    /// Repair an invalid red line (as `import --on-invalid repair`) instead of refusing it.
    #[arg(long)]
    pub repair: bool,
    /// Project name.
    #[arg(long)]
    pub name: Option<String>,
    /// Proposed land-use code (用地用海分类, e.g. 0701).
    #[arg(long = "use", value_name = "CODE")]
    pub use_code: Option<String>,
    /// Proposed floor-area ratio (容积率).
    #[arg(long)]
    pub far: Option<f64>,
    /// Proposed building density (建筑密度, 0–1).
    #[arg(long)]
    pub density: Option<f64>,
    /// Proposed building height in metres.
    #[arg(long)]
    pub height: Option<f64>,
    /// Proposed green ratio (绿地率, 0–1).
    #[arg(long)]
    pub green: Option<f64>,
    /// Write the conflicts (and the site and parcels taken) as GeoJSON to this file.
    #[arg(long, value_name = "FILE")]
    pub geojson: Option<PathBuf>,
    /// Write the printable Chinese report (HTML with an SVG map) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    #[command(flatten)]
    pub common: CheckCommon,
}

/// `onemap check landuse`.
#[derive(Debug, Args)]
pub struct LanduseArgs {
    /// Name of the result layer.
    #[arg(long, default_value = "landuse_check")]
    pub output_layer: String,
    /// Do not write the result layer.
    #[arg(long)]
    pub no_layer: bool,
    /// Write the pieces as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write pieces and totals (by class, by admin unit) as XLSX.
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
    #[command(flatten)]
    pub common: CheckCommon,
}

/// `onemap check violations`.
#[derive(Debug, Args)]
pub struct ViolationArgs {
    /// The change-patch layer [default: the rules' violations.patches].
    #[arg(long)]
    pub patches: Option<String>,
    /// Name of the result layer [default: PATCHES_result].
    #[arg(long)]
    pub output_layer: Option<String>,
    /// Do not write the result layer.
    #[arg(long)]
    pub no_layer: bool,
    /// Write the verdicts as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write verdicts and the summary by admin unit as XLSX.
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
    #[command(flatten)]
    pub common: CheckCommon,
}

/// `onemap runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Show one run in full (JSON).
    #[arg(long)]
    pub id: Option<i64>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// `onemap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ONEMAP_BIND")]
    pub bind: std::net::SocketAddr,
    /// Public base URL written into TileJSON and styles [default: http:// + the request's Host].
    #[arg(long, env = "ONEMAP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Tile cache size in MiB (raw + gzip + brotli bytes).
    #[arg(long, default_value_t = 256, env = "ONEMAP_CACHE_MB")]
    pub cache_mb: usize,
    /// Hard cap on one tile's uncompressed size in KiB (see docs/ARCHITECTURE.md for the policy).
    #[arg(long, default_value_t = 500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tile_kb: usize,
    /// How often to look for layers imported by another process, in milliseconds (0: never).
    #[arg(long, default_value_t = 1000)]
    pub watch_ms: u64,
    /// Longest a query or analysis request may run before the client gets a 503 `timeout`.
    #[arg(long, default_value_t = 30.0, env = "ONEMAP_QUERY_TIMEOUT")]
    pub query_timeout_s: f64,
    /// Analysis rules for /analysis (TOML) [default: the built-in rules/default.toml].
    #[arg(long, env = "ONEMAP_RULES")]
    pub rules: Option<PathBuf>,
}

/// Layer export formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LayerFormat {
    /// GeoJSON FeatureCollection.
    Geojson,
    /// FlatGeobuf (with a spatial index).
    Fgb,
    /// CSV with a WKT column.
    Csv,
    /// GeoPackage (one feature table).
    Gpkg,
}

/// `onemap export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Layer name.
    pub layer: String,
    /// Output file.
    pub out: PathBuf,
    /// Format [default: from the output's extension].
    #[arg(long, value_enum)]
    pub format: Option<LayerFormat>,
    /// Reproject to this CRS (EPSG:4547, EPSG:3857, ...) [default: CGCS2000 lon/lat].
    #[arg(long)]
    pub srs: Option<String>,
}

/// `onemap tiles ...`.
#[derive(Debug, Subcommand)]
pub enum TilesCommand {
    /// Write a tile pyramid to one archive (PMTiles v3 or MBTiles), rendered exactly as `serve` renders.
    Export(TilesExportArgs),
}

/// Archive formats of `onemap tiles export`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// PMTiles v3 (one file, served by HTTP range requests, by Martin or by a CDN).
    Pmtiles,
    /// MBTiles 1.3 (SQLite; gzip-compressed MVT, TMS rows).
    Mbtiles,
}

/// `onemap tiles export`.
#[derive(Debug, Args)]
pub struct TilesExportArgs {
    /// Output file.
    pub out: PathBuf,
    /// Archive format [default: from the output's extension, else pmtiles].
    #[arg(long, value_enum)]
    pub format: Option<ArchiveFormat>,
    /// Layers (comma-separated) [default: every layer].
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<String>>,
    /// Shallowest zoom.
    #[arg(long, default_value_t = 10)]
    pub minzoom: u8,
    /// Deepest zoom.
    #[arg(long, default_value_t = 16)]
    pub maxzoom: u8,
    /// Hard cap on one tile's uncompressed size in KiB (as `serve --max-tile-kb`).
    #[arg(long, default_value_t = 500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tile_kb: usize,
}

/// `onemap demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Import only; do not serve.
    #[arg(long)]
    pub no_serve: bool,
    /// The sample set (a folder with manifest.toml) [default: ./sample-data, else the one this
    /// binary was built from].
    #[arg(long, env = "ONEMAP_SAMPLE_DIR")]
    pub sample_dir: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `onemap import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import: GeoJSON (.geojson, .json, newline-delimited .geojsonl/.ndjson),
    /// Shapefile (.shp with .dbf/.shx/.prj/.cpg), GeoPackage (.gpkg), FlatGeobuf (.fgb), CSV (.csv/.tsv with a WKT
    /// column or lon/lat columns).
    pub file: PathBuf,
    /// Layer name (letters incl. Chinese, digits, _ - .).
    #[arg(long)]
    pub layer: String,
    /// Layer kind: planning, landuse, pipeline, cadastral, heritage, approval, control_line,
    /// change_patch, generic [default: the profile's, else generic].
    #[arg(long)]
    pub kind: Option<String>,
    /// The file's CRS when it does not say or says wrong: EPSG:4547, EPSG:2383 (Xi'an 1980),
    /// EPSG:2435 (Beijing 1954), GCJ02, BD09, ...
    #[arg(long)]
    pub srs: Option<String>,
    /// For Xi'an 1980 / Beijing 1954 data: the 7 Helmert parameters to WGS84,
    /// dx,dy,dz,rx,ry,rz,ds (m, arc-seconds, ppm; PROJ's +towgs84).
    #[arg(long, value_name = "DX,DY,DZ,RX,RY,RZ,DS", allow_hyphen_values = true)]
    pub towgs84: Option<String>,
    /// Features with invalid geometry: fail (import nothing, list them), skip (leave them out) or
    /// repair (make them valid, list them).
    #[arg(long, value_enum, default_value = "fail")]
    pub on_invalid: OnInvalidArg,
    /// Attribute text encoding when the file does not say (Shapefile: after .cpg and the DBF
    /// language driver; CSV: instead of UTF-8): GBK, GB18030, UTF-8, ...
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV: the column holding WKT geometry [default: detected: WKT, geometry, geom, shape...].
    #[arg(long)]
    pub geometry_column: Option<String>,
    /// CSV: the longitude column [default: detected: lon, lng, longitude, x, 经度].
    #[arg(long)]
    pub lon_column: Option<String>,
    /// CSV: the latitude column [default: detected: lat, latitude, y, 纬度].
    #[arg(long)]
    pub lat_column: Option<String>,
    /// Read, check and reproject everything; write nothing (exit 0 when the import would succeed).
    #[arg(long)]
    pub dry_run: bool,
    /// GeoPackage: the feature table to import when the file has several.
    #[arg(long, conflicts_with = "all_layers")]
    pub source_layer: Option<String>,
    /// Import every layer of a multi-layer file (a GeoPackage's feature tables; any OGR layers in a
    /// `gdal` build), each as layer LAYER_<table>. All are checked before any is written.
    #[arg(long)]
    pub all_layers: bool,
    /// A saved import profile (TOML: kind, srs, towgs84, encoding, geometry_column, lon_column,
    /// lat_column, source_layer, [map]); options given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// After a successful import (or --dry-run), save the settings used as a profile.
    #[arg(long, value_name = "FILE")]
    pub save_profile: Option<PathBuf>,
    /// Rename a column on the way in: FIELD=COLUMN (repeatable), e.g. registered_area_m2=registered.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
}

/// `--on-invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnInvalidArg {
    /// Import nothing and list the invalid features.
    Fail,
    /// Leave them out and list them.
    Skip,
    /// Make them valid (an exact polygon overlay, like ST_MakeValid) and list them.
    Repair,
}

/// Output formats for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
}

/// `--format` for listings.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// Output formats for features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeatureFormat {
    /// A GeoJSON FeatureCollection.
    Geojson,
    /// A table of properties (no geometry).
    Table,
}

/// `onemap query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Layer name.
    pub layer: String,
    /// Features intersecting minlon,minlat,maxlon,maxlat.
    #[arg(long, value_name = "MINX,MINY,MAXX,MAXY", allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Features at lon,lat (or nearest to it with --nearest, or within --within metres of it).
    #[arg(long, value_name = "LON,LAT", allow_hyphen_values = true)]
    pub point: Option<String>,
    /// Features intersecting the geometry in a GeoJSON file.
    #[arg(long, value_name = "FILE")]
    pub intersects: Option<PathBuf>,
    /// With --point or --intersects: features within this many metres instead.
    #[arg(long, value_name = "METRES", allow_negative_numbers = true)]
    pub within: Option<f64>,
    /// With --point: the K nearest features, by distance in metres.
    #[arg(long, value_name = "K")]
    pub nearest: Option<usize>,
    /// Attribute filter, e.g. "DLBM = '0101' AND area > 500".
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// At most this many features.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Skip this many features (results are ordered by feature id).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "geojson")]
    pub format: FeatureFormat,
}

/// `onemap identify`.
#[derive(Debug, Args)]
pub struct IdentifyArgs {
    /// The point, lon,lat.
    #[arg(long, value_name = "LON,LAT", allow_hyphen_values = true)]
    pub point: String,
    /// Only these layers (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<String>>,
    /// Also hit lines and points within this many metres.
    #[arg(long, default_value_t = 0.0)]
    pub tolerance: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: FeatureFormat,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
}

impl Cli {
    /// The store path: `--db`, else `ONEMAP_DB` (both via clap), else the config file's `db`, else
    /// `onemap.duckdb`.
    pub fn db_path(&self) -> Result<PathBuf> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        let config = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("onemap.toml")).filter(|p| p.is_file()),
        };
        if let Some(path) = config {
            let cfg = read_config(&path)?;
            if let Some(db) = cfg.db {
                // Relative paths in the config are relative to the config file.
                let base = path.parent().unwrap_or(Path::new("."));
                return Ok(base.join(db));
            }
        }
        Ok(PathBuf::from(onemap_engine::store::DEFAULT_PATH))
    }
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}
