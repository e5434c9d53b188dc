//! Executing queries on a [`LoadedLayer`]: R-tree candidates first, then the exact predicate, then
//! the attribute filter, then a stable order and the page.
use std::collections::HashMap;
use std::sync::Arc;

use geo::{BoundingRect, Geometry, Intersects, Point, Rect};

use super::{BoundFilter, Hit, Query, Spatial};
use crate::error::{Error, Result};
use crate::geometry::{MetricFrame, expand_rect_by_metres};
use crate::index::LoadedLayer;
use crate::model::{Field, Value};

/// The hits of a query on one layer, with the fields the caller may see.
#[derive(Debug, Clone)]
pub struct LayerHits {
    /// The layer version the query ran on.
    pub layer: Arc<LoadedLayer>,
    /// The page of hits, in result order.
    pub hits: Vec<Hit>,
    /// How many features matched before paging.
    pub matched: usize,
    /// Per schema field: may the caller see it?
    pub visible: Vec<bool>,
}

impl LayerHits {
    /// The visible properties of a hit, as (field, value) pairs in schema order.
    pub fn properties(&self, hit: &Hit) -> Vec<(&Field, &Value)> {
        self.layer
            .meta
            .schema
            .fields()
            .iter()
            .zip(self.layer.properties(hit.index))
            .zip(&self.visible)
            .filter(|(_, v)| **v)
            .map(|(fv, _)| fv)
            .collect()
    }

    /// The geometry of a hit.
    pub fn geometry(&self, hit: &Hit) -> &Geometry<f64> {
        self.layer.geometry(hit.index)
    }

    /// A hit as a GeoJSON Feature: `id` is the feature id, properties are the visible fields
    /// (plus `_distance_m` for nearest results).
    pub fn feature_json(&self, hit: &Hit) -> serde_json::Value {
        let mut props = serde_json::Map::new();
        for (f, v) in self.properties(hit) {
            props.insert(f.name.clone(), v.to_json());
        }
        if let Some(d) = hit.distance_m {
            props.insert("_distance_m".into(), serde_json::json!(d));
        }
        let geometry = geojson::Geometry::new(geojson::GeometryValue::from(self.geometry(hit)));
        serde_json::json!({
            "type": "Feature",
            "id": hit.fid,
            "geometry": geometry,
            "properties": props,
        })
    }

    /// The visible fields, in schema order.
    pub fn fields(&self) -> Vec<&Field> {
        self.layer
            .meta
            .schema
            .fields()
            .iter()
            .zip(&self.visible)
            .filter(|(_, v)| **v)
            .map(|(f, _)| f)
            .collect()
    }
}

fn check_distance(metres: f64) -> Result<()> {
    if !(metres.is_finite() && metres >= 0.0) {
        return Err(Error::Query(format!(
            "distance must be a finite number of metres >= 0, got {metres}"
        )));
    }
    Ok(())
}

fn hit(layer: &LoadedLayer, index: u32, distance_m: Option<f64>) -> Hit {
    Hit {
        index,
        fid: layer.fid(index),
        distance_m,
    }
}

/// Every feature matching `query` (spatial predicate and `filter`), ordered by fid and paged.
pub fn run(
    layer: &LoadedLayer,
    query: &Query,
    filter: Option<&BoundFilter>,
) -> Result<(Vec<Hit>, usize)> {
    // Cancelled work (a deadline, a client gone) stops scanning; the error comes at the end.
    let stopped = std::cell::Cell::new(false);
    let go = |i: u32| {
        if i.is_multiple_of(1024) && !stopped.get() && crate::context::cancelled() {
            stopped.set(true);
        }
        !stopped.get()
    };
    let keep = |i: u32| {
        go(i) && filter.is_none_or(|f| f.matches_feature(layer.properties(i), layer.geometry(i)))
    };
    let done = |r: (Vec<Hit>, usize)| -> Result<(Vec<Hit>, usize)> {
        if stopped.get() {
            crate::context::checkpoint()?;
        }
        Ok(r)
    };
    // A filter whose every match must meet a spatial literal (CQL2 `S_INTERSECTS(...) AND ...`)
    // narrows the scan to the R-tree's candidates.
    if query.spatial.is_none()
        && let Some(probe) = filter.and_then(|f| f.required_probes().into_iter().next())
    {
        let mut hits: Vec<Hit> = layer
            .bbox_candidates(&probe.search_rect())
            .filter(|&i| keep(i))
            .map(|i| hit(layer, i, None))
            .collect();
        hits.sort_unstable_by_key(|h| h.fid);
        let matched = hits.len();
        let page = hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit.unwrap_or(usize::MAX))
            .collect();
        return done((page, matched));
    }
    if query.spatial.is_none() {
        // Features are stored in fid order: count the matches and keep only the page, without
        // collecting or sorting the whole layer (a paged listing of a million parcels).
        let (offset, limit) = (query.offset, query.limit.unwrap_or(usize::MAX));
        if filter.is_none() {
            let end = offset.saturating_add(limit).min(layer.len());
            let page = (offset.min(end)..end)
                .map(|i| hit(layer, i as u32, None))
                .collect();
            return Ok((page, layer.len()));
        }
        let mut matched = 0usize;
        let mut page = Vec::with_capacity(limit.min(10_000));
        for i in 0..layer.len() as u32 {
            if !keep(i) {
                continue;
            }
            if matched >= offset && page.len() < limit {
                page.push(hit(layer, i, None));
            }
            matched += 1;
        }
        return done((page, matched));
    }
    let mut hits: Vec<Hit> = match &query.spatial {
        None => Vec::new(),
        Some(Spatial::Bbox(r)) => {
            let poly = r.to_polygon();
            layer
                .bbox_candidates(r)
                .filter(|&i| {
                    if !go(i) {
                        return false;
                    }
                    // A feature whose bbox lies inside the query box surely intersects it.
                    let b = layer.bbox(i);
                    let inside = b.min().x >= r.min().x
                        && b.min().y >= r.min().y
                        && b.max().x <= r.max().x
                        && b.max().y <= r.max().y;
                    (inside || layer.geometry(i).intersects(&poly)) && keep(i)
                })
                .map(|i| hit(layer, i, None))
                .collect()
        }
        Some(Spatial::Intersects(g)) => {
            let r = g
                .bounding_rect()
                .ok_or_else(|| Error::Query("intersects: empty geometry".into()))?;
            layer
                .bbox_candidates(&r)
                .filter(|&i| go(i) && layer.geometry(i).intersects(g) && keep(i))
                .map(|i| hit(layer, i, None))
                .collect()
        }
        Some(Spatial::DWithin { geometry, metres }) => {
            check_distance(*metres)?;
            let r = geometry
                .bounding_rect()
                .ok_or_else(|| Error::Query("within-distance: empty geometry".into()))?;
            let frame = MetricFrame::around(geometry)?;
            let projected = frame.project(geometry)?;
            let mut out = Vec::new();
            for i in layer.bbox_candidates(&expand_rect_by_metres(r, *metres)) {
                if !keep(i) {
                    if stopped.get() {
                        break;
                    }
                    continue;
                }
                // Touching or overlapping features are at 0 m: no projection needed.
                let d = if layer.geometry(i).intersects(geometry) {
                    0.0
                } else {
                    frame.distance_to(&projected, layer.geometry(i))?
                };
                if d <= *metres {
                    out.push(hit(layer, i, Some(d)));
                }
            }
            out
        }
    };
    hits.sort_unstable_by_key(|h| h.fid);
    let matched = hits.len();
    let page: Vec<Hit> = hits
        .into_iter()
        .skip(query.offset)
        .take(query.limit.unwrap_or(usize::MAX))
        .collect();
    done((page, matched))
}

/// The `k` features nearest to a lon/lat point that pass `filter`, by geodesic distance, ties by fid.
///
/// The R-tree is searched in growing rings: candidates within `r` metres are measured exactly, and
/// the search stops once `k` of them lie within `r` (no feature outside the ring can be nearer), or
/// once the ring covers the whole layer.
pub fn nearest(
    layer: &LoadedLayer,
    point: Point<f64>,
    k: usize,
    filter: Option<&BoundFilter>,
) -> Result<Vec<Hit>> {
    if k == 0 || layer.is_empty() {
        return Ok(Vec::new());
    }
    let frame = MetricFrame::new(point.x(), point.y())?;
    let origin: Geometry<f64> = point.into();
    let projected = frame.project(&origin)?;
    let here = Rect::new(point.0, point.0);
    let bounds = layer.meta.bounds.unwrap_or(here);
    let mut measured: HashMap<u32, Option<f64>> = HashMap::new();
    let mut radius = 50.0_f64;
    loop {
        let ring = expand_rect_by_metres(here, radius);
        let covers_all = ring.min().x <= bounds.min().x
            && ring.min().y <= bounds.min().y
            && ring.max().x >= bounds.max().x
            && ring.max().y >= bounds.max().y;
        for i in layer.bbox_candidates(&ring) {
            if let std::collections::hash_map::Entry::Vacant(e) = measured.entry(i) {
                let passes = filter
                    .is_none_or(|f| f.matches_feature(layer.properties(i), layer.geometry(i)));
                let d = if passes {
                    Some(frame.distance_to(&projected, layer.geometry(i))?)
                } else {
                    None
                };
                e.insert(d);
            }
        }
        let within = measured
            .values()
            .filter(|d| d.is_some_and(|d| d <= radius))
            .count();
        if within >= k || covers_all {
            break;
        }
        radius *= 4.0;
    }
    let mut hits: Vec<Hit> = measured
        .into_iter()
        .filter_map(|(i, d)| d.map(|d| hit(layer, i, Some(d))))
        .collect();
    hits.sort_by(|a, b| {
        a.distance_m
            .partial_cmp(&b.distance_m)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.fid.cmp(&b.fid))
    });
    hits.truncate(k);
    Ok(hits)
}

/// Features of one layer at a point: polygons containing it, and anything within `tolerance_m`
/// metres (lines and points need a tolerance to be hit at all). Ordered by fid.
pub fn identify_layer(
    layer: &LoadedLayer,
    point: Point<f64>,
    tolerance_m: f64,
    filter: Option<&BoundFilter>,
) -> Result<Vec<Hit>> {
    check_distance(tolerance_m)?;
    let q = if tolerance_m > 0.0 {
        Query {
            spatial: Some(Spatial::DWithin {
                geometry: point.into(),
                metres: tolerance_m,
            }),
            ..Query::default()
        }
    } else {
        Query {
            spatial: Some(Spatial::Intersects(point.into())),
            ..Query::default()
        }
    };
    Ok(run(layer, &q, filter)?.0)
}
