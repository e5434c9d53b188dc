//! `onemap import`: file → schema → lon/lat features → one atomic layer write.
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use onemap_engine::Engine;
use onemap_engine::crs::{Crs, Transform};
use onemap_engine::model::{Feature, LayerKind, LayerMeta, NewLayer, Value};

use crate::error::ImportError;
use crate::formats::channel::batch_channel;
use crate::formats::geojson::GeoJsonFile;
use crate::formats::{RawFeature, ReadOptions, Source};
use crate::infer::SchemaInference;

/// What to do with a feature whose geometry is invalid (self-intersecting ring, hole outside its
/// shell, too few points, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnInvalid {
    /// Import nothing and list the invalid features.
    #[default]
    Fail,
    /// Leave them out and list them in the report.
    Skip,
    /// Make them valid (polygons: self-intersections resolved by an exact polygon overlay, as
    /// PostGIS's ST_MakeValid does), list them in the report; those that cannot be made valid
    /// fail the import.
    Repair,
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Target layer name.
    pub layer: String,
    /// Layer kind.
    pub kind: LayerKind,
    /// Override the file's CRS (e.g. `EPSG:4547`, `GCJ02`).
    pub srs: Option<String>,
    /// Helmert parameters to WGS84 for Xi'an 1980 / Beijing 1954 data (`dx,dy,dz[,rx,ry,rz,ds]`).
    pub towgs84: Option<String>,
    /// Invalid geometries: fail (default) or skip.
    pub on_invalid: OnInvalid,
    /// Format options (encoding, CSV geometry columns).
    pub read: ReadOptions,
    /// Field mapping: (layer field, file column) pairs; the column is renamed on the way in.
    pub map: Vec<(String, String)>,
    /// Read, check and reproject everything, write nothing.
    pub dry_run: bool,
}

impl ImportOptions {
    /// Options for a layer with every other setting at its default.
    pub fn new(layer: impl Into<String>, kind: LayerKind) -> ImportOptions {
        ImportOptions {
            layer: layer.into(),
            kind,
            srs: None,
            towgs84: None,
            on_invalid: OnInvalid::Fail,
            read: ReadOptions::default(),
            map: Vec::new(),
            dry_run: false,
        }
    }
}

/// Parse `dst=SRC` field mappings.
pub fn parse_map(items: &[String]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|m| {
            let (d, s) = m
                .split_once('=')
                .ok_or_else(|| format!("--map '{m}' must be FIELD=COLUMN"))?;
            let (d, s) = (d.trim(), s.trim());
            if d.is_empty() || s.is_empty() {
                return Err(format!("--map '{m}' must be FIELD=COLUMN"));
            }
            Ok((d.to_string(), s.to_string()))
        })
        .collect()
}

fn apply_map(map: &[(String, String)], props: &mut [(String, Value)]) {
    for (dst, src) in map {
        if let Some(p) = props.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(src)) {
            p.0 = dst.clone();
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The new layer version.
    pub meta: LayerMeta,
    /// Features read from the file.
    pub read: u64,
    /// Features written.
    pub written: u64,
    /// The CRS the file was read in.
    pub source_crs: String,
    /// The version replaced, if any.
    pub replaced_version: Option<i64>,
    /// Wall time.
    pub elapsed: Duration,
    /// Things the analyst should know (e.g. an approximate datum shift).
    pub notes: Vec<String>,
    /// Features left out (`--on-invalid skip`): index in the file and reason.
    pub skipped: Vec<(usize, String)>,
    /// Features made valid (`--on-invalid repair`): index in the file and what was wrong.
    pub repaired: Vec<(usize, String)>,
    /// The file format.
    pub format: &'static str,
    /// The attribute encoding and where it came from (`GBK (.cpg)`), for formats that have one.
    pub encoding: Option<String>,
    /// Nothing was written (`--dry-run`); `meta` describes what would have been (version 0).
    pub dry_run: bool,
}

impl ImportReport {
    /// Features per second.
    pub fn rate(&self) -> f64 {
        self.written as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A GeoJSON file (for geometry inputs such as `--intersects FILE`); other formats are refused.
fn open_geojson(path: &Path) -> Result<GeoJsonFile, ImportError> {
    match Source::open(path, &ReadOptions::default())? {
        Source::GeoJson(g) => Ok(g),
        other => Err(ImportError::Malformed {
            path: path.to_path_buf(),
            reason: format!("a geometry input must be GeoJSON, not {}", other.format()),
        }),
    }
}

fn resolve_crs(
    path: &Path,
    declared: Option<&str>,
    srs: Option<&str>,
    towgs84: Option<&str>,
) -> Result<Crs, ImportError> {
    let crs_err = |reason: String| ImportError::Crs {
        path: path.to_path_buf(),
        reason,
    };
    let crs = match (srs, declared) {
        (Some(s), _) => Crs::parse(s).map_err(|e| crs_err(format!("--srs: {e}"))),
        (None, Some(d)) if d.contains('[') => Crs::from_wkt(d).map_err(|e| {
            crs_err(format!("the file's CRS is not one onemap supports ({e}); reproject it or pass --srs"))
        }),
        (None, Some(d)) => Crs::parse(d).map_err(|e| {
            crs_err(format!("the file declares CRS '{d}', which onemap does not support ({e}); reproject it or pass --srs"))
        }),
        (None, None) => Ok(Crs::WGS84),
    }?;
    match towgs84 {
        None => Ok(crs),
        Some(t) => Crs::parse_towgs84(t)
            .and_then(|p| crs.with_towgs84(p))
            .map_err(|e| crs_err(e.to_string())),
    }
}

/// Import a file into a layer, replacing the layer's current version atomically.
///
/// The file is read twice: once to infer the schema (and find every syntax error before anything is
/// written), once to stream the features into the store. A bad feature anywhere aborts the whole
/// import and leaves the previous version of the layer untouched.
pub fn import_file(
    engine: &Engine,
    caller: &onemap_engine::Caller,
    path: &Path,
    opts: &ImportOptions,
    progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    // Refused before the file is read: a caller who may not write the layer learns it at once.
    engine
        .authorize_write(caller, &opts.layer, opts.kind)
        .map_err(|e| from_engine(path, e))?;
    run_import(Some((engine, caller)), path, opts, progress)
}

/// Everything [`import_file`] does except the write (`--dry-run`): no store needed.
pub fn check_file(
    path: &Path,
    opts: &ImportOptions,
    progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let opts = ImportOptions {
        dry_run: true,
        ..opts.clone()
    };
    run_import(None, path, &opts, progress)
}

fn run_import(
    engine: Option<(&Engine, &onemap_engine::Caller)>,
    path: &Path,
    opts: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let start = Instant::now();
    let file = Source::open(path, &opts.read)?;
    let engine_err = |source: onemap_engine::Error| ImportError::Engine {
        path: path.to_path_buf(),
        source,
    };
    onemap_engine::model::validate_layer_name(&opts.layer).map_err(engine_err)?;

    // Pass 1: the schema, from the properties alone. Coordinates are decoded only when the CRS must
    // be told from them (no CRS in the file's metadata or flags, and not GeoJSON, which RFC 7946
    // fixes to lon/lat). A file whose header types every column (Shapefile, FlatGeobuf) needs no
    // pass 1 at all when its CRS is known.
    let header_crs = file.declared_crs();
    let sniff = header_crs.is_none() && opts.srs.is_none() && !file.lonlat_by_definition();
    let mut inference = SchemaInference::new();
    let mut seen_columns: std::collections::HashSet<String> = std::collections::HashSet::new();
    let header_schema = if sniff { None } else { file.declared_schema()? };
    let mut stream = match &header_schema {
        Some(fields) => {
            for (name, ty) in fields {
                seen_columns.insert(name.to_lowercase());
                let mut p = [(name.clone(), Value::Null)];
                apply_map(&opts.map, &mut p);
                inference.declare(&p[0].0, *ty);
            }
            None
        }
        None if sniff => Some(file.stream()?),
        None => Some(file.stream_properties()?),
    };
    let mut extent: Option<geo::Rect<f64>> = None;
    // Features whose coordinates can be lon/lat, and the first that cannot.
    let mut lonlat_features = 0usize;
    let mut first_projected: Option<usize> = None;
    for f in stream.iter_mut().flatten() {
        let mut f = f?;
        if !opts.map.is_empty() && seen_columns.len() < 10_000 {
            for (k, _) in &f.properties {
                seen_columns.insert(k.to_lowercase());
            }
        }
        apply_map(&opts.map, &mut f.properties);
        if let Some(b) = f
            .geometry
            .as_ref()
            .and_then(geo::BoundingRect::bounding_rect)
        {
            if is_lonlat(&b) {
                lonlat_features += 1;
            } else if first_projected.is_none() {
                first_projected = Some(f.index);
            }
            extent = Some(match extent {
                None => b,
                Some(e) => geo::Rect::new(
                    geo::coord! { x: e.min().x.min(b.min().x), y: e.min().y.min(b.min().y) },
                    geo::coord! { x: e.max().x.max(b.max().x), y: e.max().y.max(b.max().y) },
                ),
            });
        }
        for (k, v) in &f.properties {
            inference.observe(k, v);
        }
    }
    for (dst, src) in &opts.map {
        if !seen_columns.contains(&src.to_lowercase()) {
            let mut cols: Vec<&String> = seen_columns.iter().collect();
            cols.sort();
            return Err(ImportError::Malformed {
                path: path.to_path_buf(),
                reason: format!(
                    "--map {dst}={src}: the file has no column '{src}' (columns: {})",
                    cols.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let schema = inference.finish().map_err(engine_err)?;
    tracing::info!(
        elapsed_ms = start.elapsed().as_millis() as u64,
        geometries = sniff,
        from_header = header_schema.is_some(),
        "schema pass done"
    );
    let mut notes = Vec::new();
    // The fields this kind needs, under their own name or a usual alias, reported before anything
    // is written.
    let has = |(name, aliases): &(&str, &[&str])| {
        std::iter::once(*name)
            .chain(aliases.iter().copied())
            .any(|n| schema.field(n).is_some())
    };
    let missing: Vec<String> = opts
        .kind
        .required_fields()
        .iter()
        .filter(|r| !has(r))
        .map(|(n, a)| format!("{n} (or {})", a.join(", ")))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "a {} layer needs {}; the file's columns are {}: rename one with --map FIELD=COLUMN",
                opts.kind,
                missing.join(" and "),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let absent: Vec<&str> = opts
        .kind
        .recommended_fields()
        .iter()
        .filter(|r| !has(r))
        .map(|(n, _)| *n)
        .collect();
    if !absent.is_empty() {
        notes.push(format!(
            "no {} column (the analytics use {}); --map FIELD=COLUMN names one",
            absent.join(", "),
            if absent.len() == 1 { "it" } else { "them" }
        ));
    }
    let declared = stream
        .as_ref()
        .and_then(|s| s.declared_crs())
        .map(str::to_string)
        .or(header_crs);
    drop(stream);
    if declared.is_none() && opts.srs.is_none() {
        // No CRS anywhere: lon/lat is assumed only when the coordinates can be lon/lat.
        // When some features are lon/lat and others are not, the per-feature check in pass 2
        // names the bad ones; when none is, the file is in a projected CRS nobody named.
        if let (Some(e), Some(first), 0) = (extent, first_projected, lonlat_features) {
            return Err(ImportError::Crs {
                path: path.to_path_buf(),
                reason: format!(
                    "the file does not say its CRS{} and its coordinates (x {:.0}..{:.0}, y {:.0}..{:.0}, from feature {first} on) are not lon/lat: pass --srs (e.g. EPSG:4547)",
                    if matches!(file, Source::Shapefile(_)) {
                        " (no .prj)"
                    } else {
                        ""
                    },
                    e.min().x,
                    e.max().x,
                    e.min().y,
                    e.max().y
                ),
            });
        }
        if extent.is_some() && !file.lonlat_by_definition() {
            {
                notes.push(
                    "the file does not say its CRS; its coordinates look like lon/lat, read as EPSG:4326 (pass --srs if not)".to_string(),
                );
            }
        }
    }
    let crs = resolve_crs(
        path,
        declared.as_deref(),
        opts.srs.as_deref(),
        opts.towgs84.as_deref(),
    )?;

    // Pass 2: decode (reader thread) → check, repair, reproject (checking thread) → write (here).
    let transform = if crs.is_storage_lonlat() {
        None
    } else {
        Some(Transform::to_lonlat(&crs).map_err(|e| ImportError::Crs {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?)
    };
    let check = FeatureCheck {
        path: path.to_path_buf(),
        fields: schema.fields().iter().map(|f| f.name.clone()).collect(),
        map: opts.map.clone(),
        transform,
        on_invalid: opts.on_invalid,
        lonlat_assumed: declared.is_none() && opts.srs.is_none(),
    };
    let mut features = CheckedFeatures::spawn(check, file.stream()?, path)?;
    let layer = NewLayer {
        name: opts.layer.clone(),
        kind: opts.kind,
        schema,
        source_crs: crs.to_string(),
        source: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let report = match engine {
        Some((engine, caller)) if !opts.dry_run => engine
            .write_layer(caller, "import", layer, features.by_ref(), &mut progress)
            .map_err(|e| from_engine(path, e))?,
        _ => dry_run(layer, features.by_ref(), &mut progress)?,
    };
    let PassStats {
        read,
        invalid,
        repaired,
        clamped,
        clamped_most,
    } = features.stats()?;
    notes.extend(file.notes());
    if !clamped.is_empty() {
        notes.push(clamped_note(&clamped, clamped_most));
    }
    if crs.is_approximate() {
        notes.push(format!(
            "{crs} was shifted to CGCS2000 with a default datum shift good only to metres; pass the local 7 parameters with --towgs84"
        ));
    }
    Ok(ImportReport {
        notes,
        format: file.format(),
        encoding: file
            .encoding()
            .map(|e| format!("{} (from {})", e.name(), e.source)),
        skipped: invalid,
        repaired,
        written: report.meta.feature_count,
        meta: report.meta,
        read,
        source_crs: crs.to_string(),
        replaced_version: report.replaced_version,
        elapsed: start.elapsed(),
        dry_run: opts.dry_run || engine.is_none(),
    })
}

/// Everything a write does short of writing: every feature converted and checked, the layer's
/// would-be catalog entry (version 0, no table).
fn dry_run(
    layer: NewLayer,
    features: impl Iterator<Item = Result<Feature, ImportError>>,
    progress: &mut impl FnMut(u64),
) -> Result<onemap_engine::store::WriteReport, ImportError> {
    use onemap_engine::model::GeometryType;
    let mut count = 0u64;
    let mut geometry_type = GeometryType::Empty;
    let mut bounds: Option<geo::Rect<f64>> = None;
    for f in features {
        let f = f?;
        geometry_type = geometry_type.merge(GeometryType::of(&f.geometry));
        if let Some(b) = geo::BoundingRect::bounding_rect(&f.geometry) {
            bounds = Some(match bounds {
                None => b,
                Some(e) => geo::Rect::new(
                    geo::coord! { x: e.min().x.min(b.min().x), y: e.min().y.min(b.min().y) },
                    geo::coord! { x: e.max().x.max(b.max().x), y: e.max().y.max(b.max().y) },
                ),
            });
        }
        count += 1;
        if count.is_multiple_of(10_000) {
            progress(count);
        }
    }
    progress(count);
    Ok(onemap_engine::store::WriteReport {
        meta: LayerMeta {
            name: layer.name,
            kind: layer.kind,
            version: 0,
            schema: layer.schema,
            source_crs: layer.source_crs,
            source: layer.source,
            geometry_type,
            feature_count: count,
            bounds,
            updated_at: String::new(),
            owner: None,
            table: String::new(),
        },
        replaced_version: None,
        elapsed: std::time::Duration::ZERO,
    })
}

/// Whether a bounding box is lon/lat, allowing rounding noise at the edges of the range.
fn is_lonlat(b: &geo::Rect<f64>) -> bool {
    let (x, y) = (
        180.0 + onemap_engine::geometry::LONLAT_NOISE,
        90.0 + onemap_engine::geometry::LONLAT_NOISE,
    );
    b.min().x >= -x && b.max().x <= x && b.min().y >= -y && b.max().y <= y
}

/// The report's note on clamped coordinates: how many features, which, and how far.
fn clamped_note(features: &[usize], most: f64) -> String {
    let listed: Vec<String> = features.iter().take(20).map(|i| i.to_string()).collect();
    let more = if features.len() > 20 { ", ..." } else { "" };
    format!(
        "{} feature(s) had coordinates up to {most:.1e}° beyond ±180°/±90° (rounding noise), clamped onto the range: feature {}{more}",
        features.len(),
        listed.join(", ")
    )
}

/// What the checking thread does to each feature of pass 2.
struct FeatureCheck {
    path: PathBuf,
    /// The layer's fields, in schema order.
    fields: Vec<String>,
    map: Vec<(String, String)>,
    transform: Option<Transform>,
    on_invalid: OnInvalid,
    /// The file names no CRS (GeoJSON without a `crs` member): each feature must be lon/lat.
    lonlat_assumed: bool,
}

/// What pass 2 saw.
#[derive(Debug, Default)]
struct PassStats {
    read: u64,
    /// Invalid features (index, reason): left out (`skip`) or failing the import.
    invalid: Vec<(usize, String)>,
    /// Features made valid (index, what was wrong).
    repaired: Vec<(usize, String)>,
    /// Features with coordinates clamped onto ±180°/±90° (rounding noise), and the largest move.
    clamped: Vec<usize>,
    clamped_most: f64,
}

impl FeatureCheck {
    /// The feature to write, `None` when it is left out (invalid), or an error that stops the
    /// import.
    fn feature(
        &self,
        raw: RawFeature,
        stats: &mut PassStats,
    ) -> Result<Option<Feature>, ImportError> {
        let RawFeature {
            index,
            geometry,
            mut properties,
        } = raw;
        let feature_err = |reason: String| ImportError::Feature {
            path: self.path.clone(),
            index,
            reason,
        };
        let mut geometry = geometry.ok_or_else(|| feature_err("feature has no geometry".into()))?;
        if let Some(reason) = invalid_reason(&geometry) {
            let fixed = (self.on_invalid == OnInvalid::Repair)
                .then(|| repair(&geometry))
                .flatten();
            match fixed {
                Some(g) => {
                    stats.repaired.push((index, reason));
                    geometry = g;
                }
                None => {
                    stats.invalid.push((index, reason));
                    return Ok(None);
                }
            }
        }
        // The import fails at the end: the rest is only read for the list of invalid features.
        if !stats.invalid.is_empty() && self.on_invalid != OnInvalid::Skip {
            return Ok(None);
        }
        if self.lonlat_assumed
            && let Some(b) = geo::BoundingRect::bounding_rect(&geometry)
            && !is_lonlat(&b)
        {
            return Err(ImportError::Crs {
                path: self.path.clone(),
                reason: format!(
                    "the file does not say its CRS and feature {index}'s coordinates (x {:.0}..{:.0}, y {:.0}..{:.0}) are not lon/lat: pass --srs (e.g. EPSG:4547)",
                    b.min().x,
                    b.max().x,
                    b.min().y,
                    b.max().y
                ),
            });
        }
        apply_map(&self.map, &mut properties);
        let mut geometry = match &self.transform {
            None => geometry,
            Some(t) => t
                .geometry(&geometry)
                .map_err(|e| feature_err(e.to_string()))?,
        };
        let values = self
            .fields
            .iter()
            .map(|name| {
                properties
                    .iter_mut()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| std::mem::replace(v, Value::Null))
                    .unwrap_or(Value::Null)
            })
            .collect();
        // Rounding noise just beyond ±180°/±90° is clamped and counted, not refused.
        let moved = onemap_engine::geometry::clamp_lonlat_noise(&mut geometry);
        if moved > 0.0 {
            stats.clamped.push(index);
            stats.clamped_most = stats.clamped_most.max(moved);
        }
        // Checked here, with the file's feature index (the store counts only what it receives).
        if let Some(reason) = onemap_engine::geometry::check_lonlat(&geometry) {
            return Err(feature_err(format!("invalid geometry: {reason}")));
        }
        Ok(Some(Feature::new(geometry, values)))
    }

    /// After the last feature: the import fails when invalid features were found and not skipped.
    fn finish(&self, stats: &PassStats) -> Result<(), ImportError> {
        if stats.invalid.is_empty() || self.on_invalid == OnInvalid::Skip {
            return Ok(());
        }
        Err(ImportError::InvalidGeometries {
            path: self.path.clone(),
            count: stats.invalid.len(),
            first: format!("feature {}: {}", stats.invalid[0].0, stats.invalid[0].1),
            rest: stats
                .invalid
                .iter()
                .skip(1)
                .take(20)
                .map(|(i, _)| i.to_string())
                .collect(),
        })
    }
}

type Checked = Result<Feature, ImportError>;

/// Pass 2's features, checked and reprojected on their own thread while the caller writes.
struct CheckedFeatures {
    rx: Option<Receiver<Vec<Checked>>>,
    pending: std::vec::IntoIter<Checked>,
    worker: Option<JoinHandle<PassStats>>,
    stats: Option<PassStats>,
    path: PathBuf,
    failed: bool,
}

impl CheckedFeatures {
    fn spawn(
        check: FeatureCheck,
        stream: crate::formats::Stream,
        path: &Path,
    ) -> Result<CheckedFeatures, ImportError> {
        let (mut tx, rx) = batch_channel::<Checked>();
        let worker = crate::formats::channel::spawn_worker("import check", move || {
            let mut stats = PassStats::default();
            for item in stream {
                let checked = item.and_then(|raw| {
                    stats.read += 1;
                    check.feature(raw, &mut stats)
                });
                let sent = match checked {
                    Ok(None) => Ok(()),
                    Ok(Some(f)) => tx.send(Ok(f)),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return stats;
                    }
                };
                if sent.is_err() {
                    return stats;
                }
            }
            if let Err(e) = check.finish(&stats) {
                let _ = tx.send(Err(e));
            }
            stats
        })
        .map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(CheckedFeatures {
            rx: Some(rx),
            pending: Vec::new().into_iter(),
            worker: Some(worker),
            stats: None,
            path: path.to_path_buf(),
            failed: false,
        })
    }

    /// What the pass saw; call after the features are consumed.
    fn stats(&mut self) -> Result<PassStats, ImportError> {
        self.join();
        self.stats.take().ok_or_else(|| ImportError::Malformed {
            path: self.path.clone(),
            reason: "internal error: the checking thread failed".into(),
        })
    }

    fn join(&mut self) {
        drop(self.rx.take());
        if let Some(h) = self.worker.take() {
            match h.join() {
                Ok(s) => self.stats = Some(s),
                Err(_) => self.failed = true,
            }
        }
    }
}

impl Iterator for CheckedFeatures {
    type Item = Checked;

    fn next(&mut self) -> Option<Checked> {
        loop {
            if let Some(item) = self.pending.next() {
                return Some(item);
            }
            match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(batch)) => self.pending = batch.into_iter(),
                Some(Err(_)) => {
                    // The checking thread is done — or crashed, which must not pass for the end
                    // of the file (a silently truncated layer).
                    self.join();
                    if self.failed {
                        return Some(Err(ImportError::Malformed {
                            path: self.path.clone(),
                            reason: "internal error: the checking thread failed".into(),
                        }));
                    }
                    return None;
                }
                None => return None,
            }
        }
    }
}

impl Drop for CheckedFeatures {
    fn drop(&mut self) {
        self.join();
    }
}

fn repair(g: &geo::Geometry<f64>) -> Option<geo::Geometry<f64>> {
    onemap_engine::geometry::repair_polygonal(g)
}

fn invalid_reason(g: &geo::Geometry<f64>) -> Option<String> {
    onemap_engine::geometry::invalid_reason(g)
}

fn from_engine(path: &Path, e: onemap_engine::Error) -> ImportError {
    use onemap_engine::Error as E;
    match e {
        E::Source(b) => match b.downcast::<ImportError>() {
            Ok(ie) => *ie,
            Err(other) => ImportError::Malformed {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        },
        E::InvalidGeometry { index, reason } => ImportError::Feature {
            path: path.to_path_buf(),
            index,
            reason: format!("invalid geometry: {reason}"),
        },
        E::InvalidFeature {
            index,
            field,
            reason,
        } => ImportError::Property {
            path: path.to_path_buf(),
            index,
            field,
            reason,
        },
        source => ImportError::Engine {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Read every geometry of a small file as one lon/lat geometry: used for `--intersects FILE` and
/// analysis inputs (a red line). GeoJSON may be a bare Geometry, a Feature or a FeatureCollection;
/// every other format `onemap import` reads (Shapefile or zipped Shapefile, GeoPackage,
/// FlatGeobuf, CSV) is streamed and its CRS taken from the file or `srs`.
pub fn read_geometry_file(
    path: &Path,
    srs: Option<&str>,
) -> Result<geo::Geometry<f64>, ImportError> {
    read_geometry_file_with(path, srs, &crate::formats::InputLimits::default())
}

/// [`read_geometry_file`] with bounds on what the file may unpack to (an upload from the
/// network gets [`InputLimits::upload`](crate::formats::InputLimits::upload)).
pub fn read_geometry_file_with(
    path: &Path,
    srs: Option<&str>,
    limits: &crate::formats::InputLimits,
) -> Result<geo::Geometry<f64>, ImportError> {
    let is_geojson = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "geojson" | "json"));
    if !is_geojson {
        return read_any_geometry(path, srs, limits);
    }
    open_geojson(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let gj: geojson::GeoJson = text.parse().map_err(|e| ImportError::Malformed {
        path: path.to_path_buf(),
        reason: format!("invalid GeoJSON: {e}"),
    })?;
    let declared = match &gj {
        geojson::GeoJson::FeatureCollection(fc) => fc
            .foreign_members
            .as_ref()
            .and_then(|m| m.get("crs"))
            .and_then(|c| c.pointer("/properties/name"))
            .and_then(|n| n.as_str())
            .map(str::to_string),
        _ => None,
    };
    let crs = resolve_crs(path, declared.as_deref(), srs, None)?;
    let gj_geoms: Vec<geojson::GeometryValue> = match &gj {
        geojson::GeoJson::Geometry(g) => vec![g.value.clone()],
        geojson::GeoJson::Feature(f) => f.geometry.iter().map(|g| g.value.clone()).collect(),
        geojson::GeoJson::FeatureCollection(fc) => fc
            .features
            .iter()
            .filter_map(|f| f.geometry.as_ref().map(|g| g.value.clone()))
            .collect(),
    };
    let malformed = |reason: String| ImportError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut parts = Vec::with_capacity(gj_geoms.len());
    for v in &gj_geoms {
        parts.push(
            crate::formats::geojson::to_geo(v).map_err(|e| malformed(format!("geometry: {e}")))?,
        );
    }
    geometries_to_lonlat(
        path,
        parts,
        &crs,
        "is the file in lon/lat? declare its CRS in a \"crs\" member",
    )
}

/// Cap on the features of an analysis input file (a red line is a handful of polygons).
const MAX_INPUT_FEATURES: usize = 100_000;

fn read_any_geometry(
    path: &Path,
    srs: Option<&str>,
    limits: &crate::formats::InputLimits,
) -> Result<geo::Geometry<f64>, ImportError> {
    let opts = crate::formats::ReadOptions {
        limits: *limits,
        ..Default::default()
    };
    let source = Source::open(path, &opts)?;
    let malformed = |reason: String| ImportError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut parts = Vec::new();
    for f in source.stream()? {
        onemap_engine::context::checkpoint().map_err(|e| malformed(e.to_string()))?;
        let f = f?;
        if let Some(g) = f.geometry {
            parts.push(g);
        }
        if parts.len() > MAX_INPUT_FEATURES {
            return Err(malformed(format!(
                "more than {MAX_INPUT_FEATURES} features: not an analysis input"
            )));
        }
    }
    let crs = resolve_crs(path, source.declared_crs().as_deref(), srs, None)?;
    geometries_to_lonlat(path, parts, &crs, "is the CRS right? pass --srs")
}

/// The geometries of an input file as one lon/lat geometry (a collection when several),
/// reprojected from `crs` and checked to be in lon/lat range (`hint` ends the error when not).
fn geometries_to_lonlat(
    path: &Path,
    mut parts: Vec<geo::Geometry<f64>>,
    crs: &Crs,
    hint: &str,
) -> Result<geo::Geometry<f64>, ImportError> {
    let malformed = |reason: String| ImportError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let g = match parts.len() {
        0 => return Err(malformed("no geometry in the file".into())),
        1 => parts.remove(0),
        _ => geo::Geometry::GeometryCollection(geo::GeometryCollection(parts)),
    };
    let g = if crs.is_storage_lonlat() {
        g
    } else {
        Transform::to_lonlat(crs)
            .and_then(|t| t.geometry(&g))
            .map_err(|e| ImportError::Crs {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
    };
    if let Some(reason) = onemap_engine::geometry::check_lonlat(&g) {
        return Err(malformed(format!("{reason} ({hint})")));
    }
    Ok(g)
}
