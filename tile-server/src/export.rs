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
use onemap_engine::{Caller, Engine, FieldType};
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

fn field_type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Int | FieldType::Float => "Number",
        FieldType::Bool => "Boolean",
        FieldType::Text | FieldType::Date => "String",
    }
}

/// Export `opts.layers` to a PMTiles archive at `out`. `progress` gets (done, total) tiles.
pub fn export_pmtiles(
    engine: &Engine,
    out: &Path,
    opts: &ExportOptions,
    progress: impl Fn(u64, u64) + Sync,
) -> Result<ExportReport, ExportError> {
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
    let write_err = |e: &dyn std::fmt::Display| ExportError::Write {
        path: out.display().to_string(),
        detail: e.to_string(),
    };
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
    let metadata = json!({
        "name": opts.layers.join(","),
        "format": "pbf",
        "generator": concat!("onemap ", env!("CARGO_PKG_VERSION")),
        "vector_layers": vector_layers,
    });
    // Written to a temporary name and renamed when complete: a failed export leaves no half file.
    let tmp = out.with_extension("pmtiles.partial");
    let file = File::create(&tmp).map_err(|e| write_err(&e))?;
    let centre = (
        (bounds.min().x + bounds.max().x) / 2.0,
        (bounds.min().y + bounds.max().y) / 2.0,
    );
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        .min_zoom(opts.min_zoom)
        .max_zoom(opts.max_zoom)
        .bounds(
            bounds.min().x,
            bounds.min().y,
            bounds.max().x,
            bounds.max().y,
        )
        .center(centre.0, centre.1)
        .center_zoom(opts.min_zoom.max(opts.max_zoom.saturating_sub(2)))
        .metadata(metadata.to_string())
        .create(BufWriter::new(file))
        .map_err(|e| write_err(&e))?;
    let done = std::sync::atomic::AtomicU64::new(0);
    let mut report = ExportReport {
        tiles_considered: total,
        ..ExportReport::default()
    };
    let result = (|| -> Result<(), ExportError> {
        for &z in &zooms {
            let (x0, y0, x1, y1) = tile_range(&bounds, z);
            let mut coords: Vec<(u64, TileId)> = Vec::new();
            for x in x0..=x1 {
                for y in y0..=y1 {
                    let t = TileId::new(u32::from(z), u64::from(x), u64::from(y))?;
                    let c = TileCoord::new(z, x, y).map_err(|e| write_err(&e))?;
                    coords.push((pmtiles::TileId::from(c).value(), t));
                }
            }
            coords.sort_unstable_by_key(|(id, _)| *id);
            let rendered: Vec<(TileId, Vec<u8>)> = coords
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
                let c = TileCoord::new(t.z, t.x, t.y).map_err(|e| write_err(&e))?;
                writer.add_tile(c, &bytes).map_err(|e| write_err(&e))?;
                report.tiles_written += 1;
                report.raw_bytes += bytes.len() as u64;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    writer.finalize().map_err(|e| write_err(&e))?;
    std::fs::rename(&tmp, out).map_err(|e| write_err(&e))?;
    report.file_bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(report)
}
