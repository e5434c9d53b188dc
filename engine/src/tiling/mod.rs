//! Mapbox Vector Tiles (MVT 2.1) from loaded layers.
//!
//! The pipeline for one tile and one layer:
//! 1. R-tree candidates in the tile's lon/lat bounds grown by the buffer;
//! 2. features smaller than [`TileOptions::min_feature_units`] in both directions are dropped
//!    (sub-pixel at this zoom);
//! 3. each geometry is projected to tile units, clipped to the buffered tile (geo's boolean ops,
//!    only for features that cross it), snapped to the grid and oriented ([`shape`]);
//! 4. attributes: every field the caller may see at or above the layer's detail zoom; below it only
//!    the layer's styling fields, and features with equal styling values are coalesced into one
//!    multi-geometry without an id (they render identically and cost a fraction of the bytes);
//! 5. encoding with the `mvt` crate.
//!
//! Size cap (as tippecanoe has one): when a tile is over [`TileOptions::max_bytes`], it is made
//! again with coalescing at every zoom, then with a grid doubled up to 16 units, and at last the
//! smallest features are dropped until it fits. What was done is reported in [`RenderedTile`].
pub mod address;
mod encode;
pub mod shape;

use std::collections::HashMap;

use geo::{Coord, Geometry, Rect};

pub use address::{MAX_ZOOM, TileId, TileProjection};
pub use shape::{ShapeParams, TileShape};

use crate::error::Result;
use crate::index::LoadedLayer;
use crate::model::{LayerMeta, Value};

/// Tile-wide settings.
#[derive(Debug, Clone)]
pub struct TileOptions {
    /// Units per tile side (MVT default 4096).
    pub extent: u32,
    /// Buffer around the tile in units, so strokes and labels at the edge are drawn whole.
    pub buffer: u32,
    /// Hard cap on the uncompressed tile size in bytes.
    pub max_bytes: usize,
    /// Lines and polygons whose extent is below this in both directions are dropped (sub-pixel).
    pub min_feature_units: f64,
}

impl Default for TileOptions {
    fn default() -> TileOptions {
        TileOptions {
            extent: 4096,
            buffer: 64,
            max_bytes: 500_000,
            // Half a screen pixel when a 4096-unit tile is drawn at 512 px.
            min_feature_units: 4.0,
        }
    }
}

/// Per-layer tiling choices.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTiling {
    /// From this zoom on, every visible attribute and the feature ids are written.
    pub detail_zoom: u8,
    /// Below `detail_zoom`, only these fields are written (and features coalesced by them).
    pub low_zoom_fields: Vec<String>,
}

impl LayerTiling {
    /// The default for a layer: detail from z14 (cadastral parcels from z15), and the kind's
    /// styling fields below it.
    pub fn for_layer(meta: &LayerMeta) -> LayerTiling {
        let detail_zoom = match meta.kind {
            crate::model::LayerKind::Cadastral => 15,
            _ => 14,
        };
        let low_zoom_fields = meta
            .kind
            .style_field(&meta.schema)
            .map(|f| vec![f.to_string()])
            .unwrap_or_default();
        LayerTiling {
            detail_zoom,
            low_zoom_fields,
        }
    }
}

/// One layer to put into a tile.
#[derive(Debug, Clone, Copy)]
pub struct SourceLayer<'a> {
    /// The loaded layer.
    pub layer: &'a LoadedLayer,
    /// Per schema field: may the caller see it? Hidden fields are never written.
    pub visible: &'a [bool],
    /// Tiling choices.
    pub tiling: &'a LayerTiling,
}

/// What went into one layer of a tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    /// Layer name.
    pub name: String,
    /// MVT features written (after coalescing).
    pub features: usize,
    /// Source features that contributed geometry.
    pub source_features: usize,
    /// Features dropped as sub-pixel.
    pub tiny_dropped: usize,
    /// Whether features were coalesced.
    pub coalesced: bool,
}

/// A finished tile.
#[derive(Debug, Clone)]
pub struct RenderedTile {
    /// The MVT bytes (uncompressed); empty when no layer has a feature here.
    pub bytes: Vec<u8>,
    /// Per layer, in request order.
    pub layers: Vec<LayerReport>,
    /// Snapping grid used, in tile units (1 unless the size cap coarsened it).
    pub grid: i32,
    /// Features dropped by the size cap.
    pub cap_dropped: usize,
}

impl RenderedTile {
    /// True when no layer has a feature in this tile.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

struct Prepared {
    index: u32,
    shape: TileShape,
    /// Pixel-space bbox area, for the size cap's last resort.
    size: f64,
}

fn dimension(g: &Geometry<f64>) -> u8 {
    match g {
        Geometry::Point(_) | Geometry::MultiPoint(_) => 0,
        Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) => 1,
        Geometry::GeometryCollection(gc) => gc.0.iter().map(dimension).max().unwrap_or(0),
        _ => 2,
    }
}

fn prepare(
    src: &SourceLayer<'_>,
    tile: TileId,
    opts: &TileOptions,
    grid: i32,
) -> Result<(Vec<Prepared>, usize)> {
    let buffer = f64::from(opts.buffer);
    let extent = f64::from(opts.extent);
    let projection = TileProjection::new(tile, opts.extent);
    let params = ShapeParams {
        projection,
        clip: Rect::new(
            Coord {
                x: -buffer,
                y: -buffer,
            },
            Coord {
                x: extent + buffer,
                y: extent + buffer,
            },
        ),
        grid,
    };
    let bounds = tile.lonlat_bounds(buffer / extent);
    let mut candidates: Vec<u32> = src.layer.bbox_candidates(&bounds).collect();
    candidates.sort_unstable();
    let mut out = Vec::with_capacity(candidates.len());
    let mut tiny = 0;
    for (n, i) in candidates.into_iter().enumerate() {
        // A tile of a dense layer shapes tens of thousands of features: stop when cancelled.
        if n.is_multiple_of(256) {
            crate::context::checkpoint()?;
        }
        let g = src.layer.geometry(i);
        let b = src.layer.bbox(i);
        let nw = projection.project(Coord {
            x: b.min().x,
            y: b.max().y,
        });
        let se = projection.project(Coord {
            x: b.max().x,
            y: b.min().y,
        });
        let (w, h) = ((se.x - nw.x).abs(), (se.y - nw.y).abs());
        if dimension(g) > 0 && w < opts.min_feature_units && h < opts.min_feature_units {
            tiny += 1;
            continue;
        }
        if let Some(shape) = shape::shape(g, &params) {
            out.push(Prepared {
                index: i,
                shape,
                size: w * h + w + h,
            });
        }
    }
    Ok((out, tiny))
}

fn encode_layer(
    tile: &mvt::Tile,
    src: &SourceLayer<'_>,
    prepared: &[Prepared],
    keep: &dyn Fn(&Prepared) -> bool,
    coalesce: bool,
) -> Result<(Option<mvt::Layer>, usize, usize)> {
    let layer = src.layer;
    let fields = layer.meta.schema.fields();
    let visible = |k: usize| src.visible.get(k).copied().unwrap_or(false);
    let kept_fields: Vec<usize> = if coalesce {
        src.tiling
            .low_zoom_fields
            .iter()
            .filter_map(|n| layer.meta.schema.index_of(n))
            .filter(|&k| visible(k))
            .collect()
    } else {
        (0..fields.len()).filter(|&k| visible(k)).collect()
    };
    let tags_of = |i: u32| -> Vec<(&str, &Value)> {
        let props = layer.properties(i);
        kept_fields
            .iter()
            .filter_map(|&k| Some((fields[k].name.as_str(), props.get(k)?)))
            .filter(|(_, v)| !v.is_null())
            .collect()
    };
    let mut sources = 0;
    if !coalesce {
        let out: Vec<encode::OutFeature<'_>> = prepared
            .iter()
            .filter(|p| keep(p))
            .map(|p| encode::OutFeature {
                id: u64::try_from(layer.fid(p.index)).ok(),
                shape: &p.shape,
                tags: tags_of(p.index),
            })
            .collect();
        let n = out.len();
        return Ok((encode::layer(tile, &layer.meta.name, &out)?, n, n));
    }
    // Coalesce: one feature per (geometry dimension, styling values), in first-seen order.
    let mut groups: Vec<(TileShape, u32)> = Vec::new();
    let mut by_key: HashMap<(u8, String), usize> = HashMap::new();
    for p in prepared.iter().filter(|p| keep(p)) {
        sources += 1;
        let key_values: Vec<serde_json::Value> =
            tags_of(p.index).iter().map(|(_, v)| v.to_json()).collect();
        let key = (
            p.shape.dimension(),
            serde_json::Value::Array(key_values).to_string(),
        );
        match by_key.get(&key) {
            Some(&g) => groups[g].0.absorb(p.shape.clone()),
            None => {
                by_key.insert(key, groups.len());
                groups.push((p.shape.clone(), p.index));
            }
        }
    }
    let out: Vec<encode::OutFeature<'_>> = groups
        .iter()
        .map(|(shape, first)| encode::OutFeature {
            id: None,
            shape,
            tags: tags_of(*first),
        })
        .collect();
    let n = out.len();
    Ok((encode::layer(tile, &layer.meta.name, &out)?, n, sources))
}

fn encode_all(
    sources: &[SourceLayer<'_>],
    prepared: &[(Vec<Prepared>, usize)],
    tile: TileId,
    opts: &TileOptions,
    force_coalesce: bool,
    min_size: Option<f64>,
) -> Result<(Vec<u8>, Vec<LayerReport>, usize)> {
    let mut t = mvt::Tile::new(opts.extent);
    let mut reports = Vec::with_capacity(sources.len());
    let mut dropped = 0;
    for (src, (prep, tiny)) in sources.iter().zip(prepared) {
        let coalesce = force_coalesce || tile.z < src.tiling.detail_zoom;
        let keep = |p: &Prepared| min_size.is_none_or(|m| p.size >= m);
        dropped += prep.iter().filter(|p| !keep(p)).count();
        let (layer, features, source_features) = encode_layer(&t, src, prep, &keep, coalesce)?;
        if let Some(l) = layer {
            t.add_layer(l)
                .map_err(|e| crate::Error::Query(format!("tile encoding failed: {e}")))?;
        }
        reports.push(LayerReport {
            name: src.layer.meta.name.clone(),
            features,
            source_features,
            tiny_dropped: *tiny,
            coalesced: coalesce,
        });
    }
    let bytes = if t.num_layers() == 0 {
        Vec::new()
    } else {
        t.to_bytes()
            .map_err(|e| crate::Error::Query(format!("tile encoding failed: {e}")))?
    };
    Ok((bytes, reports, dropped))
}

/// Render one tile from one or more layers (one MVT layer each, named like the source layer).
pub fn render(
    sources: &[SourceLayer<'_>],
    tile: TileId,
    opts: &TileOptions,
) -> Result<RenderedTile> {
    let mut grid = 1;
    let mut prepared: Vec<(Vec<Prepared>, usize)> = sources
        .iter()
        .map(|s| prepare(s, tile, opts, grid))
        .collect::<Result<_>>()?;
    let (mut bytes, mut layers, _) = encode_all(sources, &prepared, tile, opts, false, None)?;
    if bytes.len() <= opts.max_bytes {
        return Ok(RenderedTile {
            bytes,
            layers,
            grid,
            cap_dropped: 0,
        });
    }
    tracing::debug!(%tile, bytes = bytes.len(), "tile over the size cap: coalescing");
    (bytes, layers, _) = encode_all(sources, &prepared, tile, opts, true, None)?;
    while bytes.len() > opts.max_bytes && grid < 16 {
        grid *= 2;
        tracing::debug!(%tile, bytes = bytes.len(), grid, "tile over the size cap: coarser grid");
        prepared = sources
            .iter()
            .map(|s| prepare(s, tile, opts, grid))
            .collect::<Result<_>>()?;
        (bytes, layers, _) = encode_all(sources, &prepared, tile, opts, true, None)?;
    }
    let mut cap_dropped = 0;
    if bytes.len() > opts.max_bytes {
        // Last resort: keep the largest features. Sizes sorted once; each round keeps a share
        // proportional to how far over the cap the tile is.
        let mut sizes: Vec<f64> = prepared
            .iter()
            .flat_map(|(p, _)| p.iter().map(|q| q.size))
            .collect();
        sizes.sort_by(|a, b| b.total_cmp(a));
        let mut keep_n = sizes.len();
        while bytes.len() > opts.max_bytes && keep_n > 0 {
            let ratio = opts.max_bytes as f64 / bytes.len() as f64 * 0.9;
            keep_n = ((keep_n as f64 * ratio) as usize).min(keep_n - 1);
            let threshold = if keep_n == 0 {
                f64::INFINITY
            } else {
                sizes[keep_n - 1]
            };
            let dropped;
            (bytes, layers, dropped) =
                encode_all(sources, &prepared, tile, opts, true, Some(threshold))?;
            cap_dropped = dropped;
        }
        tracing::debug!(%tile, bytes = bytes.len(), cap_dropped, "tile over the size cap: dropped the smallest features");
    }
    Ok(RenderedTile {
        bytes,
        layers,
        grid,
        cap_dropped,
    })
}

/// A feature given directly in tile units, for [`encode_shapes`].
#[derive(Debug, Clone)]
pub struct ShapeFeature {
    /// Feature id.
    pub id: Option<u64>,
    /// Geometry in tile units, already oriented.
    pub shape: TileShape,
    /// Attributes.
    pub tags: Vec<(String, Value)>,
}

/// Encode ready-made shapes as a one-layer tile (fixtures, tools and tests use this; served tiles
/// come from [`render`]).
pub fn encode_shapes(name: &str, extent: u32, features: &[ShapeFeature]) -> Result<Vec<u8>> {
    let tile = mvt::Tile::new(extent);
    let out: Vec<encode::OutFeature<'_>> = features
        .iter()
        .map(|f| encode::OutFeature {
            id: f.id,
            shape: &f.shape,
            tags: f.tags.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        })
        .collect();
    let mut t = mvt::Tile::new(extent);
    if let Some(l) = encode::layer(&tile, name, &out)? {
        t.add_layer(l)
            .map_err(|e| crate::Error::Query(format!("tile encoding failed: {e}")))?;
    }
    t.to_bytes()
        .map_err(|e| crate::Error::Query(format!("tile encoding failed: {e}")))
}
