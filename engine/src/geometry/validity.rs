//! OGC validity: why a geometry is invalid, and a repair for polygons.
use geo::{BooleanOps, CoordsIter, Geometry, MultiPolygon, Validation};

/// Why a geometry is invalid (OGC simple-features rules, via geo's `Validation`), or `None`.
pub fn invalid_reason(g: &Geometry<f64>) -> Option<String> {
    g.validation_errors().first().map(|e| e.to_string())
}

/// A valid version of an invalid polygonal geometry, or `None` when there is none. Polygons are
/// rebuilt by an exact overlay of their rings (geo's boolean ops): a bow-tie becomes two
/// triangles, a ring that crosses itself is cut where it crosses, overlapping parts merge. Lines
/// and points cannot be repaired.
pub fn repair_polygonal(g: &Geometry<f64>) -> Option<Geometry<f64>> {
    let mp = match g {
        Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
        Geometry::MultiPolygon(mp) => mp.clone(),
        _ => return None,
    };
    if !mp.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
        return None;
    }
    let fixed = mp.union(&MultiPolygon::new(vec![]));
    if fixed.0.is_empty() {
        return None;
    }
    let out = if fixed.0.len() == 1 {
        Geometry::Polygon(fixed.0[0].clone())
    } else {
        Geometry::MultiPolygon(fixed)
    };
    out.is_valid().then_some(out)
}
