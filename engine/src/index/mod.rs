//! A layer loaded into memory: geometries, properties and an rstar R-tree over their bounding boxes.
use geo::{Geometry, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::error::Result;
use crate::model::{LayerMeta, Value};
use crate::store::{Store, StoredFeature};

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// One layer version, in memory and indexed. Feature `i` (0-based, in fid order) has id `fids[i]`.
#[derive(Debug)]
pub struct LoadedLayer {
    /// The catalog entry this was loaded from.
    pub meta: LayerMeta,
    fids: Vec<i64>,
    geometries: Vec<Geometry<f64>>,
    bboxes: Vec<Rect<f64>>,
    properties: Vec<Vec<Value>>,
    tree: RTree<Entry>,
}

fn aabb(r: &Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

impl LoadedLayer {
    /// Read a layer version from the store and bulk-load its R-tree.
    pub fn load(store: &Store, meta: &LayerMeta) -> Result<LoadedLayer> {
        let started = std::time::Instant::now();
        // A capacity hint from the file, capped (a damaged catalog must not abort the process).
        let n = usize::try_from(meta.feature_count)
            .unwrap_or(0)
            .min(1 << 22);
        let mut fids = Vec::with_capacity(n);
        let mut geometries = Vec::with_capacity(n);
        let mut bboxes = Vec::with_capacity(n);
        let mut properties = Vec::with_capacity(n);
        store.scan_layer(meta, |f: StoredFeature| {
            fids.push(f.fid);
            geometries.push(f.geometry);
            bboxes.push(f.bbox);
            properties.push(f.properties);
            Ok(())
        })?;
        let layer = LoadedLayer::build(meta.clone(), fids, geometries, bboxes, properties);
        tracing::debug!(layer = %meta.name, features = layer.len(), elapsed = ?started.elapsed(), "layer loaded");
        Ok(layer)
    }

    fn build(
        meta: LayerMeta,
        fids: Vec<i64>,
        geometries: Vec<Geometry<f64>>,
        bboxes: Vec<Rect<f64>>,
        properties: Vec<Vec<Value>>,
    ) -> LoadedLayer {
        let entries: Vec<Entry> = bboxes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i as u32,
                )
            })
            .collect();
        LoadedLayer {
            meta,
            fids,
            geometries,
            bboxes,
            properties,
            tree: RTree::bulk_load(entries),
        }
    }

    /// Build from features already in memory (fids must be ascending).
    pub fn from_features(meta: LayerMeta, features: Vec<StoredFeature>) -> LoadedLayer {
        let n = features.len();
        let (mut fids, mut geometries, mut bboxes, mut properties) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for f in features {
            fids.push(f.fid);
            geometries.push(f.geometry);
            bboxes.push(f.bbox);
            properties.push(f.properties);
        }
        LoadedLayer::build(meta, fids, geometries, bboxes, properties)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.fids.len()
    }

    /// True when the layer has no features.
    pub fn is_empty(&self) -> bool {
        self.fids.is_empty()
    }

    /// Feature id of feature `i`.
    pub fn fid(&self, i: u32) -> i64 {
        self.fids[i as usize]
    }

    /// Geometry of feature `i`.
    pub fn geometry(&self, i: u32) -> &Geometry<f64> {
        &self.geometries[i as usize]
    }

    /// Bounding box of feature `i`.
    pub fn bbox(&self, i: u32) -> Rect<f64> {
        self.bboxes[i as usize]
    }

    /// Properties of feature `i`, in schema order.
    pub fn properties(&self, i: u32) -> &[Value] {
        &self.properties[i as usize]
    }

    /// The position of a feature id, if present.
    pub fn index_of_fid(&self, fid: i64) -> Option<u32> {
        self.fids.binary_search(&fid).ok().map(|i| i as u32)
    }

    /// Features whose bounding box intersects `r` (unordered).
    pub fn bbox_candidates(&self, r: &Rect<f64>) -> impl Iterator<Item = u32> + '_ {
        self.tree
            .locate_in_envelope_intersecting(&aabb(r))
            .map(|e| e.data)
    }
}
