//! Overlay of a region with a layer: the part of each feature inside the region, measured on the
//! ellipsoid (area m² for polygons, length m for lines), and sums by class. Exact polygon overlay
//! (geo's boolean ops); features that only touch the region are not pieces.
use std::collections::BTreeMap;

use geo::{
    BooleanOps, BoundingRect, Contains, Geometry, Intersects, MultiLineString, MultiPolygon,
};

use super::filter::BoundFilter;
use crate::geometry::Measure;
use crate::index::LoadedLayer;
use crate::model::Value;

/// The part of one feature inside the region.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Position of the feature in the layer.
    pub index: u32,
    /// Feature id.
    pub fid: i64,
    /// Area inside the region in m² (polygons).
    pub area_m2: f64,
    /// Length inside the region in m (lines).
    pub length_m: f64,
    /// The intersection itself.
    pub geometry: Geometry<f64>,
}

/// A polygonal geometry as a multipolygon (`None` for points and lines).
pub fn polygons_of(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon::new(vec![p.clone()])),
        Geometry::MultiPolygon(mp) => Some(mp.clone()),
        Geometry::Rect(r) => Some(MultiPolygon::new(vec![r.to_polygon()])),
        Geometry::Triangle(t) => Some(MultiPolygon::new(vec![t.to_polygon()])),
        _ => None,
    }
}

fn lines_of(g: &Geometry<f64>) -> Option<MultiLineString<f64>> {
    match g {
        Geometry::LineString(l) => Some(MultiLineString::new(vec![l.clone()])),
        Geometry::MultiLineString(ml) => Some(ml.clone()),
        Geometry::Line(l) => Some(MultiLineString::new(vec![geo::LineString::new(vec![
            l.start, l.end,
        ])])),
        _ => None,
    }
}

/// The region as polygons, or `None` when it has no area. Parts that overlap are merged (the
/// boolean operations use the even-odd rule, so an overlap would otherwise count as outside).
pub fn region_polygons(region: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    let parts: Vec<geo::Polygon<f64>> = match region {
        Geometry::GeometryCollection(gc) => {
            gc.0.iter()
                .filter_map(polygons_of)
                .flat_map(|m| m.0)
                .collect()
        }
        g => polygons_of(g)?.0,
    };
    match parts.len() {
        0 => None,
        1 => Some(MultiPolygon::new(parts)),
        _ => Some(geo::unary_union(&parts)),
    }
}

/// Most candidate features one overlay looks at (a region the size of the city against a
/// million parcels is a job for the analytics, not a request).
pub const MAX_CANDIDATES: usize = 200_000;

/// Every feature of `layer` (passing `filter`) with a part inside `region`, in fid order.
pub fn intersections(
    layer: &LoadedLayer,
    region: &MultiPolygon<f64>,
    filter: Option<&BoundFilter>,
) -> crate::Result<Vec<Piece>> {
    let Some(bounds) = region.bounding_rect() else {
        return Ok(Vec::new());
    };
    let mut candidates: Vec<u32> = layer.bbox_candidates(&bounds).collect();
    if candidates.len() > MAX_CANDIDATES {
        return Err(crate::Error::Query(format!(
            "the region covers {} features of layer '{}' (at most {MAX_CANDIDATES} per request): use a smaller region",
            candidates.len(),
            layer.meta.name
        )));
    }
    candidates.sort_unstable();
    let mut out = Vec::new();
    for i in candidates {
        crate::context::checkpoint()?;
        let g = layer.geometry(i);
        if !region.intersects(g) {
            continue;
        }
        if let Some(f) = filter
            && !f.matches_feature(layer.properties(i), g)
        {
            continue;
        }
        // Features that only touch the region have nothing inside it and are left out.
        let (geometry, area_m2, length_m) = if let Some(p) = polygons_of(g) {
            let inter = region.intersection(&p);
            let a = Geometry::MultiPolygon(inter.clone()).geodesic_area_m2();
            if a <= 0.0 {
                continue;
            }
            (Geometry::MultiPolygon(inter), a, 0.0)
        } else if let Some(l) = lines_of(g) {
            let inter = region.clip(&l, false);
            let len = Geometry::MultiLineString(inter.clone()).geodesic_length_m();
            if len <= 0.0 {
                continue;
            }
            (Geometry::MultiLineString(inter), 0.0, len)
        } else {
            let inside = match g {
                Geometry::Point(p) => region.contains(p) || region.intersects(p),
                _ => true,
            };
            if !inside {
                continue;
            }
            (g.clone(), 0.0, 0.0)
        };
        out.push(Piece {
            index: i,
            fid: layer.fid(i),
            area_m2,
            length_m,
            geometry,
        });
    }
    Ok(out)
}

/// Sums for one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassTotal {
    /// Features with a part inside.
    pub count: usize,
    /// Area inside in m².
    pub area_m2: f64,
    /// Length inside in m.
    pub length_m: f64,
}

/// Sums of `pieces` by the value of field `k` (`None` groups everything in one class).
pub fn totals_by(
    layer: &LoadedLayer,
    pieces: &[Piece],
    field: Option<usize>,
) -> BTreeMap<String, ClassTotal> {
    let mut out: BTreeMap<String, ClassTotal> = BTreeMap::new();
    for p in pieces {
        let key = match field.and_then(|k| layer.properties(p.index).get(k)) {
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        let t = out.entry(key).or_default();
        t.count += 1;
        t.area_m2 += p.area_m2;
        t.length_m += p.length_m;
    }
    out
}
