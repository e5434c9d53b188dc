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
    /// Log lines as text, or as one JSON object each (for the journal or a log collector).
    #[arg(long, global = true, env = "ONEMAP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, message, fields).
    Json,
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
    /// People who log in to the web client (accounts in the store).
    #[command(subcommand)]
    Users(UsersCommand),
    /// API keys of other systems.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The access policy: who may read, write and analyse which layers, and see which fields.
    #[command(subcommand)]
    Acl(AclCommand),
    /// The access audit: reads of personal data, writes, policy, account and key changes, logins.
    Audit(AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --dir write one page per command into a folder.
    Man {
        /// Write onemap.1, onemap-import.1, ... into this folder instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `onemap users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from ONEMAP_PASSWORD or asked for on the terminal.
    Add {
        /// Login name (any UTF-8, e.g. 李明).
        name: String,
        /// Roles, comma-separated (registration, planning, approval, analysis, audit, admin...).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Department (部门): owns the layers it imports; `dept:` grants.
        #[arg(long)]
        department: Option<String>,
    },
    /// Set a user's password (ONEMAP_PASSWORD or the terminal); ends its sessions, unlocks it.
    Passwd {
        /// Login name.
        name: String,
    },
    /// Change a user's roles or department.
    Set {
        /// Login name.
        name: String,
        /// New roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// New department ("" removes it).
        #[arg(long)]
        department: Option<String>,
    },
    /// Disable a user: it cannot log in, its sessions end.
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
    },
    /// List users.
    List(FormatArgs),
}

/// `onemap keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once (only its digest is stored).
    Create {
        /// The system it is for (规划审批系统).
        #[arg(long)]
        name: String,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Department.
        #[arg(long)]
        department: Option<String>,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List keys (never their secrets).
    List(FormatArgs),
    /// Revoke a key by id, or every key of a name.
    Revoke {
        /// Key id (the 8 hex digits after omk_) or name.
        key: String,
    },
}

/// `onemap acl ...`.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Print the policy in force (TOML).
    Show,
    /// Replace the policy with a TOML file (validated first).
    Load {
        /// Policy file.
        file: PathBuf,
    },
    /// Grant: readers, writers, field access, public fields or the owner of a layer or kind.
    Grant(AclChange),
    /// Take a grant back.
    Revoke(AclChange),
    /// What a caller may do with a layer (the decisions the server would make).
    Check {
        /// Layer name.
        layer: String,
        /// User id.
        #[arg(long)]
        user: Option<String>,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Department.
        #[arg(long)]
        department: Option<String>,
    },
}

/// One change to the policy.
#[derive(Debug, Args)]
pub struct AclChange {
    /// A layer name.
    #[arg(long, conflicts_with = "kind", required_unless_present = "kind")]
    pub layer: Option<String>,
    /// Every layer of a kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// A principal that may read: a role, dept:NAME, user:ID, authenticated or *.
    #[arg(long)]
    pub read: Option<String>,
    /// A principal that may write.
    #[arg(long)]
    pub write: Option<String>,
    /// PRINCIPAL=FIELD,FIELD... (or PRINCIPAL=*): personal fields a principal may see.
    #[arg(long, value_name = "PRINCIPAL=FIELDS")]
    pub fields: Option<String>,
    /// FIELD,FIELD...: fields made public.
    #[arg(long, value_delimiter = ',')]
    pub public: Option<Vec<String>>,
    /// The owning department.
    #[arg(long)]
    pub owner: Option<String>,
}

/// `onemap audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Check the hash chain: every record's hash and link (exit 1 when broken).
    #[arg(long)]
    pub verify: bool,
    /// From this UTC time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this UTC time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this actor (session:li, api_key:规划审批系统...).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (read_personal, import, drop, policy, user, key, login_failed...).
    #[arg(long)]
    pub action: Option<String>,
    /// Only this layer.
    #[arg(long)]
    pub layer: Option<String>,
    /// At most this many records (the newest).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Write the records to this file as CSV or XLSX (by its extension) instead of printing.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
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

/// `onemap serve`. Every setting may also come from the config file's `[serve]`, `[auth]` and
/// `[limits]` (flags and environment variables win).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ONEMAP_BIND")]
    pub bind: Option<std::net::SocketAddr>,
    /// Public base URL written into TileJSON and styles [default: http:// + the request's Host].
    #[arg(long, env = "ONEMAP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Tile cache size in MiB (raw + gzip + brotli bytes) [default: 256].
    #[arg(long, env = "ONEMAP_CACHE_MB")]
    pub cache_mb: Option<usize>,
    /// Hard cap on one tile's uncompressed size in KiB (see docs/ARCHITECTURE.md for the policy)
    /// [default: 500].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tile_kb: Option<usize>,
    /// How often to look for layers imported by another process, in milliseconds (0: never).
    #[arg(long, default_value_t = 1000)]
    pub watch_ms: u64,
    /// Longest a query or analysis request may run before the client gets a 503 `timeout`
    /// [default: 30].
    #[arg(long, env = "ONEMAP_QUERY_TIMEOUT")]
    pub query_timeout_s: Option<f64>,
    /// Analysis rules for /analysis (TOML) [default: the built-in rules/default.toml].
    #[arg(long, env = "ONEMAP_RULES")]
    pub rules: Option<PathBuf>,
    /// Longest an analysis job may run before it is stopped, in seconds.
    #[arg(long, env = "ONEMAP_JOB_TIMEOUT")]
    pub job_timeout_s: Option<f64>,
    /// A TOML access policy that is the policy while serving (instead of the store's `onemap acl`).
    #[arg(long, env = "ONEMAP_POLICY")]
    pub policy: Option<PathBuf>,
    /// Authentication: `on` (accounts and API keys, plus [auth.jwt] / [auth.gateway] when
    /// configured) or `off` (every caller anonymous) [default: the config file's, else on].
    #[arg(long, value_enum, env = "ONEMAP_AUTH")]
    pub auth: Option<AuthSwitch>,
    /// Roles anonymous callers get, comma-separated ("" for none) [default: none, read-only].
    #[arg(long, env = "ONEMAP_ANONYMOUS_ROLES", conflicts_with = "no_anonymous")]
    pub anonymous_roles: Option<String>,
    /// Refuse callers without credentials (401), except the login page and /health.
    #[arg(long)]
    pub no_anonymous: bool,
    /// Bind a non-loopback address although authentication is off.
    #[arg(long)]
    pub allow_anonymous_network: bool,
    /// Gateway mode: the proxy addresses (comma-separated) whose identity headers are believed.
    #[arg(long, value_delimiter = ',', env = "ONEMAP_GATEWAY_TRUSTED")]
    pub gateway_trusted: Option<Vec<std::net::IpAddr>>,
    /// Reverse proxies (comma-separated) whose X-Forwarded-For names the client: per-address
    /// limits and anonymous jobs then go by the client's address, not the proxy's.
    #[arg(long, value_delimiter = ',', env = "ONEMAP_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// OIDC/JWT: the tokens' issuer (`iss`).
    #[arg(long, env = "ONEMAP_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// OIDC/JWT: the audience (`aud`) tokens must name.
    #[arg(long, env = "ONEMAP_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// OIDC/JWT: the issuer's key set, an https URL or a file.
    #[arg(long, env = "ONEMAP_JWKS")]
    pub jwks: Option<String>,
    /// A CA certificate (PEM) to trust for the JWKS URL.
    #[arg(long, env = "ONEMAP_JWKS_CA")]
    pub jwks_ca: Option<PathBuf>,
    /// Session cookies are `Secure` (set when onemap is behind TLS) [default: when the public
    /// URL is https].
    #[arg(long)]
    pub secure_cookies: bool,
    /// Requests per second per signed-in principal.
    #[arg(long, env = "ONEMAP_RATE")]
    pub rate_per_second: Option<u32>,
    /// Requests a principal may make at once.
    #[arg(long)]
    pub burst: Option<u32>,
    /// Requests per second per address without credentials.
    #[arg(long)]
    pub anonymous_rate_per_second: Option<u32>,
    /// Open connections at most.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Open connections per client address at most.
    #[arg(long)]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a client has to send a request head.
    #[arg(long)]
    pub header_timeout_s: Option<f64>,
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthSwitch {
    /// Accounts, API keys, and tokens / a gateway when configured.
    On,
    /// Nobody authenticates: every caller is anonymous.
    Off,
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
    /// CSV: write text exactly as stored. By default text starting with = + - @, a tab or a
    /// carriage return gets a leading ' so a spreadsheet shows it instead of running it.
    #[arg(long)]
    pub csv_raw: bool,
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

/// The config file (`--config`, `ONEMAP_CONFIG` or `./onemap.toml`). Flags and environment
/// variables win over it; relative paths in it are relative to the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The store.
    pub db: Option<PathBuf>,
    /// `onemap serve` settings.
    #[serde(default)]
    pub serve: ServeFile,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthFile,
    /// Rate limits, connection caps, timeouts.
    #[serde(default)]
    pub limits: LimitsFile,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// Listen address.
    pub bind: Option<std::net::SocketAddr>,
    /// Public base URL.
    pub public_url: Option<String>,
    /// Tile cache MiB.
    pub cache_mb: Option<usize>,
    /// Tile size cap KiB.
    pub max_tile_kb: Option<usize>,
    /// Query time limit.
    pub query_timeout_s: Option<f64>,
    /// Job time limit.
    pub job_timeout_s: Option<f64>,
    /// Analysis rules file.
    pub rules: Option<PathBuf>,
    /// Access policy file (instead of the store's).
    pub policy: Option<PathBuf>,
    /// Bind a non-loopback address with authentication off.
    pub allow_anonymous_network: Option<bool>,
    /// Reverse proxies whose X-Forwarded-For names the client.
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// `on` or `off`.
    pub mode: Option<AuthSwitch>,
    /// Accounts (login) on [default: true].
    pub accounts: Option<bool>,
    /// API keys on [default: true].
    pub api_keys: Option<bool>,
    /// Roles of anonymous callers, or `false` to refuse them.
    pub anonymous: Option<AnonymousSetting>,
    /// Minutes a session lives without a request.
    pub session_idle_minutes: Option<u64>,
    /// Hours a session lives at most.
    pub session_max_hours: Option<u64>,
    /// Secure cookies.
    pub secure_cookies: Option<bool>,
    /// Failed logins that lock an account.
    pub lockout_after: Option<u32>,
    /// Minutes a locked account stays locked.
    pub lockout_minutes: Option<u64>,
    /// OIDC/JWT bearer tokens.
    pub jwt: Option<JwtFile>,
    /// A trusted gateway.
    pub gateway: Option<GatewayFile>,
}

/// `anonymous = ["public"]` or `anonymous = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AnonymousSetting {
    /// `false`: refused; `true`: allowed without roles.
    Allowed(bool),
    /// Allowed, with these roles.
    Roles(Vec<String>),
}

/// `[auth.jwt]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtFile {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// https URL or file.
    pub jwks: String,
    /// CA (PEM) for the URL.
    pub jwks_ca: Option<PathBuf>,
    /// Minutes between re-reads of the key set [default 10].
    pub refresh_minutes: Option<u64>,
    /// The user claim [default sub].
    pub user_claim: Option<String>,
    /// The roles claim [default roles].
    pub roles_claim: Option<String>,
    /// The department claim.
    pub department_claim: Option<String>,
    /// Clock skew seconds [default 30].
    pub leeway_s: Option<u64>,
}

/// `[auth.gateway]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Proxy addresses.
    pub trusted: Vec<std::net::IpAddr>,
    /// The shared secret (or `secret_file`).
    pub secret: Option<String>,
    /// A file holding the shared secret.
    pub secret_file: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Requests per second per principal.
    pub rate_per_second: Option<u32>,
    /// Burst per principal.
    pub burst: Option<u32>,
    /// Requests per second per anonymous address.
    pub anonymous_rate_per_second: Option<u32>,
    /// Burst per anonymous address.
    pub anonymous_burst: Option<u32>,
    /// Login attempts per minute per address.
    pub logins_per_minute: Option<u32>,
    /// Open connections.
    pub max_connections: Option<usize>,
    /// Open connections per address.
    pub max_connections_per_ip: Option<usize>,
    /// Seconds to send a request head.
    pub header_timeout_s: Option<f64>,
    /// Seconds to send a request body.
    pub body_timeout_s: Option<f64>,
}

impl Cli {
    /// The config file, read (empty when there is none), and the folder its relative paths are
    /// relative to.
    pub fn file_config(&self) -> Result<(FileConfig, PathBuf)> {
        let config = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("onemap.toml")).filter(|p| p.is_file()),
        };
        match config {
            Some(path) => {
                let cfg = read_config(&path)?;
                let base = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf();
                Ok((cfg, base))
            }
            None => Ok((FileConfig::default(), PathBuf::from("."))),
        }
    }

    /// The store path: `--db`, else `ONEMAP_DB` (both via clap), else the config file's `db`, else
    /// `onemap.duckdb`.
    pub fn db_path(&self, file: &(FileConfig, PathBuf)) -> PathBuf {
        if let Some(db) = &self.db {
            return db.clone();
        }
        match &file.0.db {
            // Relative paths in the config are relative to the config file.
            Some(db) => file.1.join(db),
            None => PathBuf::from(onemap_engine::store::DEFAULT_PATH),
        }
    }
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}
