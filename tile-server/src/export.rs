//! `onemap tiles export`: a pre-rendered pyramid in one PMTiles v3 archive, for a CDN or another
//! tile server when one onemap is not enough. Tiles are made exactly as served (same encoder, same
//! size cap) in parallel, zoom by zoom, and written in tile-id order.
//!
//! Exports are files that leave the building: they are made for an anonymous caller under the
//! server's access policy, so personal fields (cadastral owners) are never in them.
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use onemap_engine::index::LoadedLayer;
use onemap_engine::tiling::{self, LayerTiling, SourceLayer, TileId, TileOptions};
use onemap_engine::{Caller, Engine};

use crate::tiles::field_type_name;
use pmtiles::{PmTilesWriter, TileCoord, TileType};
use rayon::prelude::*;
use serde_json::json;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Layer names, one MVT layer each.
    pub layers: Vec<String>,
    /// Shallowest zoom.
    pub min_zoom: u8,
    /// Deepest zoom.
    pub max_zoom: u8,
    /// Tile settings (as the server's).
    pub tiles: TileOptions,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    /// Tiles looked at (the layers' bounds at every zoom).
    pub tiles_considered: u64,
    /// Tiles with features, written.
    pub tiles_written: u64,
    /// Sum of uncompressed tile sizes.
    pub raw_bytes: u64,
    /// Archive size.
    pub file_bytes: u64,
}

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// The engine failed (unknown layer...).
    #[error(transparent)]
    Engine(#[from] onemap_engine::Error),
    /// Writing the archive failed.
    #[error("cannot write {path}: {detail}")]
    Write {
        /// Output path.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

fn tile_range(b: &geo::Rect<f64>, z: u8) -> (u32, u32, u32, u32) {
    let n = f64::from(1u32 << z);
    let max = (1u32 << z) - 1;
    let tx = |lon: f64| (((lon + 180.0) / 360.0 * n).floor().max(0.0) as u32).min(max);
    let ty = |lat: f64| {
        let (_, y) = tiling::address::lonlat_to_world(0.0, lat);
        ((y * n).floor().max(0.0) as u32).min(max)
    };
    (tx(b.min().x), ty(b.max().y), tx(b.max().x), ty(b.min().y))
}

/// Where rendered tiles go.
trait Sink {
    fn add(&mut self, tile: TileId, mvt: &[u8]) -> Result<(), String>;
    /// Complete the archive (PMTiles writes its directories, MBTiles commits).
    fn finish(self: Box<Self>) -> Result<(), String>;
}

/// Opens the archive once the pyramid's metadata is known.
type Begin<'a> = dyn FnMut(&Pyramid) -> Result<Box<dyn Sink>, String> + 'a;

struct Pyramid {
    metadata: serde_json::Value,
    bounds: geo::Rect<f64>,
}

/// Render every tile of the layers' bounds at every zoom, in parallel per zoom, and hand the
/// non-empty ones to `sink` in tile order (PMTiles tile-id order within a zoom).
fn render_pyramid(
    engine: &Engine,
    opts: &ExportOptions,
    progress: &(impl Fn(u64, u64) + Sync),
    report: &mut ExportReport,
    begin: &mut Begin<'_>,
) -> Result<Box<dyn Sink>, ExportError> {
    if opts.layers.is_empty() {
        return Err(ExportError::Options("no layers to export".into()));
    }
    if opts.min_zoom > opts.max_zoom || opts.max_zoom > tiling::MAX_ZOOM {
        return Err(ExportError::Options(format!(
            "zoom range {}..{} is not within 0..{}",
            opts.min_zoom,
            opts.max_zoom,
            tiling::MAX_ZOOM
        )));
    }
    let caller = Caller::anonymous();
    let layers: Vec<Arc<LoadedLayer>> = opts
        .layers
        .iter()
        .map(|n| engine.layer_for(&caller, n))
        .collect::<Result<_, _>>()?;
    let visible: Vec<Vec<bool>> = layers
        .iter()
        .map(|l| engine.visible_fields(&caller, &l.meta))
        .collect();
    let tilings: Vec<LayerTiling> = layers
        .iter()
        .map(|l| LayerTiling::for_layer(&l.meta))
        .collect();
    let sources: Vec<SourceLayer<'_>> = layers
        .iter()
        .zip(&visible)
        .zip(&tilings)
        .map(|((layer, visible), tiling)| SourceLayer {
            layer,
            visible,
            tiling,
        })
        .collect();
    let Some(bounds) = layers.iter().filter_map(|l| l.meta.bounds).reduce(|a, b| {
        geo::Rect::new(
            geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
            geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
        )
    }) else {
        return Err(ExportError::Options("the layers have no features".into()));
    };
    let zooms: Vec<u8> = (opts.min_zoom..=opts.max_zoom).collect();
    let total: u64 = zooms
        .iter()
        .map(|&z| {
            let (x0, y0, x1, y1) = tile_range(&bounds, z);
            u64::from(x1 - x0 + 1) * u64::from(y1 - y0 + 1)
        })
        .sum();
    report.tiles_considered = total;
    // Each zoom's tile list is held in memory (24 bytes a tile) and rendered in chunks.
    const MAX_TILES: u64 = 1 << 24;
    if total > MAX_TILES {
        return Err(ExportError::Options(format!(
            "the pyramid has {total} tiles (more than {MAX_TILES}): lower --maxzoom or export fewer layers"
        )));
    }
    let vector_layers: Vec<serde_json::Value> = layers
        .iter()
        .zip(&visible)
        .map(|(l, v)| {
            let fields: serde_json::Map<String, serde_json::Value> = l
                .meta
                .schema
                .fields()
                .iter()
                .zip(v)
                .filter(|(_, v)| **v)
                .map(|(f, _)| (f.name.clone(), json!(field_type_name(f.ty))))
                .collect();
            json!({ "id": l.meta.name, "fields": fields, "minzoom": opts.min_zoom, "maxzoom": opts.max_zoom,
                    "description": format!("{} layer '{}' v{}", l.meta.kind, l.meta.name, l.meta.version) })
        })
        .collect();
    let pyramid = Pyramid {
        metadata: json!({
            "name": opts.layers.join(","),
            "format": "pbf",
            "generator": concat!("onemap ", env!("CARGO_PKG_VERSION")),
            "vector_layers": vector_layers,
        }),
        bounds,
    };
    let mut sink = begin(&pyramid).map_err(|detail| ExportError::Write {
        path: String::new(),
        detail,
    })?;
    let done = std::sync::atomic::AtomicU64::new(0);
    for &z in &zooms {
        let (x0, y0, x1, y1) = tile_range(&bounds, z);
        let mut coords: Vec<(u64, TileId)> = Vec::new();
        for x in x0..=x1 {
            for y in y0..=y1 {
                let t = TileId::new(u32::from(z), u64::from(x), u64::from(y))?;
                let id = TileCoord::new(z, x, y)
                    .map(|c| pmtiles::TileId::from(c).value())
                    .unwrap_or(u64::MAX);
                coords.push((id, t));
            }
        }
        coords.sort_unstable_by_key(|(id, _)| *id);
        // Rendered tiles wait in memory only a chunk at a time.
        for chunk in coords.chunks(4096) {
            let rendered: Vec<(TileId, Vec<u8>)> = chunk
                .par_iter()
                .map(|(_, t)| {
                    let r = tiling::render(&sources, *t, &opts.tiles);
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n.is_multiple_of(64) || n == total {
                        progress(n, total);
                    }
                    r.map(|r| (*t, r.bytes))
                })
                .collect::<Result<_, _>>()?;
            for (t, bytes) in rendered {
                if bytes.is_empty() {
                    continue;
                }
                sink.add(t, &bytes).map_err(|detail| ExportError::Write {
                    path: String::new(),
                    detail,
                })?;
                report.tiles_written += 1;
                report.raw_bytes += bytes.len() as u64;
            }
        }
    }
    Ok(sink)
}

struct PmtilesSink(Option<pmtiles::PmTilesStreamWriter<BufWriter<File>>>);

impl Sink for PmtilesSink {
    fn add(&mut self, t: TileId, mvt: &[u8]) -> Result<(), String> {
        let c = TileCoord::new(t.z, t.x, t.y).map_err(|e| e.to_string())?;
        match &mut self.0 {
            Some(w) => w.add_tile(c, mvt).map_err(|e| e.to_string()),
            None => Err("archive already finished".into()),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        match self.0.take() {
            Some(w) => w.finalize().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

/// MBTiles 1.3: SQLite with `metadata` and `tiles` (TMS rows, gzip-compressed MVT).
struct MbtilesSink {
    conn: rusqlite::Connection,
}

impl Sink for MbtilesSink {
    fn add(&mut self, t: TileId, mvt: &[u8]) -> Result<(), String> {
        let gz = crate::compress::gzip(mvt).map_err(|e| e.to_string())?;
        let tms_row = (1u64 << t.z) - 1 - u64::from(t.y);
        self.conn
            .execute(
                "INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)",
                rusqlite::params![i64::from(t.z), i64::from(t.x), tms_row as i64, gz],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        self.conn
            .execute_batch("COMMIT; ANALYZE;")
            .map_err(|e| e.to_string())
    }
}

/// Archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// PMTiles v3.
    Pmtiles,
    /// MBTiles 1.3.
    Mbtiles,
}

/// Export `opts.layers` to an archive at `out`. `progress` gets (done, total) tiles. The archive
/// is written under a temporary name and renamed when complete: a failed export leaves no file.
pub fn export(
    engine: &Engine,
    out: &Path,
    format: ArchiveFormat,
    opts: &ExportOptions,
    progress: impl Fn(u64, u64) + Sync,
) -> Result<ExportReport, ExportError> {
    let write_err = |e: &dyn std::fmt::Display| ExportError::Write {
        path: out.display().to_string(),
        detail: e.to_string(),
    };
    // Beside the output, private, created exclusively (see `staging_file`).
    let staged = onemap_importers::export::staging_file(out).map_err(|e| write_err(&e))?;
    let mut report = ExportReport::default();
    let (min_zoom, max_zoom) = (opts.min_zoom, opts.max_zoom);
    let tmp2 = staged.path().to_path_buf();
    let staged_file = staged.reopen().map_err(|e| write_err(&e))?;
    let mut staged_file = Some(staged_file);
    let mut begin = move |p: &Pyramid| -> Result<Box<dyn Sink>, String> {
        let b = p.bounds;
        let centre = ((b.min().x + b.max().x) / 2.0, (b.min().y + b.max().y) / 2.0);
        let centre_zoom = min_zoom.max(max_zoom.saturating_sub(2));
        match format {
            ArchiveFormat::Pmtiles => {
                let file = staged_file
                    .take()
                    .ok_or_else(|| "the archive was begun twice".to_string())?;
                let w = PmTilesWriter::new(TileType::Mvt)
                    .min_zoom(min_zoom)
                    .max_zoom(max_zoom)
                    .bounds(b.min().x, b.min().y, b.max().x, b.max().y)
                    .center(centre.0, centre.1)
                    .center_zoom(centre_zoom)
                    .metadata(p.metadata.to_string())
                    .create(BufWriter::new(file))
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(PmtilesSink(Some(w))))
            }
            ArchiveFormat::Mbtiles => {
                let conn = rusqlite::Connection::open(&tmp2).map_err(|e| e.to_string())?;
                conn.execute_batch(
                    "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                     CREATE TABLE metadata (name TEXT, value TEXT);
                     CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
                     CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
                     BEGIN;",
                )
                .map_err(|e| e.to_string())?;
                let meta = [
                    (
                        "name",
                        p.metadata["name"].as_str().unwrap_or("onemap").to_string(),
                    ),
                    ("format", "pbf".to_string()),
                    ("type", "overlay".to_string()),
                    ("version", "1.3".to_string()),
                    (
                        "bounds",
                        format!("{},{},{},{}", b.min().x, b.min().y, b.max().x, b.max().y),
                    ),
                    (
                        "center",
                        format!("{},{},{}", centre.0, centre.1, centre_zoom),
                    ),
                    ("minzoom", min_zoom.to_string()),
                    ("maxzoom", max_zoom.to_string()),
                    (
                        "generator",
                        p.metadata["generator"]
                            .as_str()
                            .unwrap_or("onemap")
                            .to_string(),
                    ),
                    (
                        "json",
                        json!({ "vector_layers": p.metadata["vector_layers"] }).to_string(),
                    ),
                ];
                for (k, v) in meta {
                    conn.execute(
                        "INSERT INTO metadata (name, value) VALUES (?, ?)",
                        [k, v.as_str()],
                    )
                    .map_err(|e| e.to_string())?;
                }
                Ok(Box::new(MbtilesSink { conn }))
            }
        }
    };
    let result = render_pyramid(engine, opts, &progress, &mut report, &mut begin)
        .and_then(|sink| sink.finish().map_err(|e| write_err(&e)));
    if let Err(e) = result {
        // The staged file is removed when dropped.
        return Err(match e {
            ExportError::Write { detail, .. } => ExportError::Write {
                path: out.display().to_string(),
                detail,
            },
            other => other,
        });
    }
    staged.persist(out).map_err(|e| write_err(&e.error))?;
    report.file_bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(report)
}
