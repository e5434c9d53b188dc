//! OGC validity: why a geometry is invalid, and a repair for polygons.
//!
//! The rules are geo's `Validation` rules, with the same wording, but the ring self-intersection
//! test runs on an R-tree of the ring's segments instead of comparing every segment with every
//! other: geo 0.33 compares all pairs, so one 100,000-vertex polygon in a request or a file cost
//! 10¹⁰ segment tests (minutes of CPU per feature — a way to pin a server). Here it costs
//! O(n log n + k), k the pairs of segments whose bounding boxes overlap: n log n for ordinary
//! rings, still quadratic for rings built so that most boxes overlap (long parallel diagonals),
//! which the caller's deadline stops. Multipolygon parts are compared only when their boxes meet. Points,
//! lines and collections of them keep geo's checks, which are linear.
use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::{
    BooleanOps, BoundingRect, CoordsIter, Geometry, Intersects, Line, LineString, MultiPolygon,
    Polygon, Relate, RemoveRepeatedPoints, Validation,
};
use rstar::{AABB, RTree, RTreeObject};

/// A segment of a ring, for the R-tree.
struct Seg {
    i: usize,
    line: Line<f64>,
}

impl RTreeObject for Seg {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(
            [
                self.line.start.x.min(self.line.end.x),
                self.line.start.y.min(self.line.end.y),
            ],
            [
                self.line.start.x.max(self.line.end.x),
                self.line.start.y.max(self.line.end.y),
            ],
        )
    }
}

/// Does the line string cross or touch itself other than where consecutive segments meet? The
/// same predicate as geo's validation (two segments that intersect, unless one's end is the
/// other's start), found through an R-tree.
pub fn has_self_intersection(ring: &LineString<f64>) -> bool {
    let segs: Vec<Seg> = ring
        .lines()
        .enumerate()
        .map(|(i, line)| Seg { i, line })
        .collect();
    if segs.len() < 2 {
        return false;
    }
    let tree = RTree::bulk_load(
        segs.iter()
            .map(|s| Seg {
                i: s.i,
                line: s.line,
            })
            .collect(),
    );
    for s in &segs {
        if crate::context::cancelled() {
            // The caller's checkpoint reports the cancellation; the answer no longer matters.
            return false;
        }
        for other in tree.locate_in_envelope_intersecting(&s.envelope()) {
            if other.i != s.i
                && s.line.intersects(&other.line)
                && s.line.start != other.line.end
                && s.line.end != other.line.start
            {
                return true;
            }
        }
    }
    false
}

fn role(ring: usize) -> String {
    if ring == 0 {
        "exterior ring".into()
    } else {
        format!("interior ring at index {}", ring - 1)
    }
}

/// Why a polygon is invalid, in geo's words.
fn polygon_reason(p: &Polygon<f64>) -> Option<String> {
    if p.exterior().0.is_empty() {
        return None;
    }
    for (k, ring) in std::iter::once(p.exterior())
        .chain(p.interiors().iter())
        .enumerate()
    {
        if ring.0.is_empty() {
            continue;
        }
        if ring.remove_repeated_points().0.len() < 4 {
            return Some(format!("{} must have at least 3 distinct points", role(k)));
        }
        if let Some(i) = ring
            .0
            .iter()
            .position(|c| !(c.x.is_finite() && c.y.is_finite()))
        {
            return Some(format!(
                "{} has a non-finite coordinate at index {i}",
                role(k)
            ));
        }
        if has_self_intersection(ring) {
            return Some(format!("{} has a self-intersection", role(k)));
        }
    }
    let interiors: Vec<&LineString<f64>> =
        p.interiors().iter().filter(|r| !r.0.is_empty()).collect();
    if interiors.is_empty() {
        return None;
    }
    let shell = Polygon::new(p.exterior().clone(), vec![]);
    let prepared = geo::PreparedGeometry::from(&shell);
    let holes: Vec<Polygon<f64>> = interiors
        .iter()
        .map(|r| Polygon::new((*r).clone(), vec![]))
        .collect();
    for (i, hole) in holes.iter().enumerate() {
        let m = prepared.relate(hole);
        if !m.is_contains() {
            return Some(format!(
                "{} is not contained within the polygon's exterior",
                role(i + 1)
            ));
        }
        if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Some(format!(
                "{} and {} intersect on a line",
                role(0),
                role(i + 1)
            ));
        }
    }
    pairwise(&holes, |i, j, m| {
        if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
            Some(format!(
                "{} and {} intersect on an area",
                role(i + 1),
                role(j + 1)
            ))
        } else if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            Some(format!(
                "{} and {} intersect on a line",
                role(i + 1),
                role(j + 1)
            ))
        } else {
            None
        }
    })
}

/// The first problem `judge` finds among pairs of polygons whose boxes meet.
fn pairwise(
    polys: &[Polygon<f64>],
    judge: impl Fn(usize, usize, &geo::relate::IntersectionMatrix) -> Option<String>,
) -> Option<String> {
    struct Boxed {
        i: usize,
        env: AABB<[f64; 2]>,
    }
    impl RTreeObject for Boxed {
        type Envelope = AABB<[f64; 2]>;
        fn envelope(&self) -> Self::Envelope {
            self.env
        }
    }
    let boxed: Vec<Boxed> = polys
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.bounding_rect().map(|r| Boxed {
                i,
                env: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
            })
        })
        .collect();
    let tree = RTree::bulk_load(boxed);
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for a in tree.iter() {
        for b in tree.locate_in_envelope_intersecting(&a.env) {
            if a.i < b.i {
                pairs.push((a.i, b.i));
            }
        }
    }
    pairs.sort_unstable();
    for (i, j) in pairs {
        if crate::context::cancelled() {
            return None;
        }
        let m = polys[i].relate(&polys[j]);
        if let Some(reason) = judge(i, j, &m) {
            return Some(reason);
        }
    }
    None
}

fn multipolygon_reason(mp: &MultiPolygon<f64>) -> Option<String> {
    for (i, p) in mp.0.iter().enumerate() {
        if let Some(r) = polygon_reason(p) {
            return Some(format!("polygon at index {i} is invalid: {r}"));
        }
    }
    pairwise(&mp.0, |i, j, m| {
        if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
            Some(format!("polygons at indices {i} and {j} overlap"))
        } else if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            Some(format!("polygons at indices {i} and {j} touch on a line"))
        } else {
            None
        }
    })
}

/// Why a geometry is invalid (OGC simple-features rules, worded as geo's `Validation`), or
/// `None`.
pub fn invalid_reason(g: &Geometry<f64>) -> Option<String> {
    match g {
        Geometry::Polygon(p) => polygon_reason(p),
        Geometry::MultiPolygon(mp) => multipolygon_reason(mp),
        Geometry::GeometryCollection(gc) => gc.0.iter().enumerate().find_map(|(i, part)| {
            invalid_reason(part).map(|r| format!("geometry at index {i} is invalid: {r}"))
        }),
        Geometry::Rect(r) => polygon_reason(&r.to_polygon()),
        Geometry::Triangle(t) => polygon_reason(&t.to_polygon()),
        other => other.validation_errors().first().map(|e| e.to_string()),
    }
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
    invalid_reason(&out).is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, wkt};

    /// geo's own all-pairs predicate, the known answer for the R-tree version.
    fn quadratic(ring: &LineString<f64>) -> bool {
        for (i, a) in ring.lines().enumerate() {
            for (j, b) in ring.lines().enumerate() {
                if i != j && a.intersects(&b) && a.start != b.end && a.end != b.start {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn agrees_with_the_all_pairs_test_on_random_rings() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut crossing = 0;
        for n in 3..40 {
            for _ in 0..20 {
                let mut pts: Vec<geo::Coord<f64>> = (0..n)
                    .map(|_| coord! { x: rng.random_range(0..8) as f64, y: rng.random_range(0..8) as f64 })
                    .collect();
                pts.push(pts[0]);
                let ring = LineString::new(pts);
                let q = quadratic(&ring);
                crossing += usize::from(q);
                assert_eq!(has_self_intersection(&ring), q, "{ring:?}");
            }
        }
        // Both kinds were met.
        assert!(crossing > 50 && crossing < 740, "{crossing}");
    }

    #[test]
    fn same_verdicts_and_words_as_geo() {
        for g in [
            wkt!(POLYGON((0. 0.,2. 2.,2. 0.,0. 2.,0. 0.))).into(),
            wkt!(POLYGON((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(1. 1.,2. 1.,2. 2.,1. 2.,1. 1.))).into(),
            wkt!(POLYGON((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(5. 5.,15. 5.,15. 15.,5. 15.,5. 5.))).into(),
            wkt!(POLYGON((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(1. 1.,5. 1.,5. 5.,1. 5.,1. 1.),(2. 2.,6. 2.,6. 6.,2. 6.,2. 2.))).into(),
            wkt!(MULTIPOLYGON(((0. 0.,2. 0.,2. 2.,0. 2.,0. 0.)),((1. 1.,3. 1.,3. 3.,1. 3.,1. 1.)))).into(),
            wkt!(MULTIPOLYGON(((0. 0.,2. 0.,2. 2.,0. 2.,0. 0.)),((2. 0.,4. 0.,4. 2.,2. 2.,2. 0.)))).into(),
            wkt!(MULTIPOLYGON(((0. 0.,2. 0.,2. 2.,0. 2.,0. 0.)),((5. 5.,6. 5.,6. 6.,5. 6.,5. 5.)))).into(),
            wkt!(POLYGON((0. 0.,1. 0.,0. 0.))).into(),
            wkt!(LINESTRING(0. 0.,1. 1.)).into(),
        ] {
            let g: Geometry<f64> = g;
            let ours = invalid_reason(&g);
            let geos = g.validation_errors().first().map(|e| e.to_string());
            assert_eq!(ours, geos, "{g:?}");
        }
    }

    #[test]
    fn a_hundred_thousand_vertex_star_is_judged_in_moments() {
        // A star whose points cross: every spike crosses its neighbours.
        let n = 100_000usize;
        let pts: Vec<geo::Coord<f64>> = (0..=n)
            .map(|k| {
                let a = (k % n) as f64 * std::f64::consts::TAU * 7.0 / n as f64;
                let r = if k % 2 == 0 { 1.0 } else { 0.4 };
                coord! { x: 113.7 + 0.01 * r * a.cos(), y: 34.4 + 0.01 * r * a.sin() }
            })
            .collect();
        let star = Geometry::Polygon(Polygon::new(LineString::new(pts), vec![]));
        let t = std::time::Instant::now();
        assert_eq!(
            invalid_reason(&star).as_deref(),
            Some("exterior ring has a self-intersection")
        );
        // A regular 100k-gon is valid, and every segment must be looked at.
        let circle: Vec<geo::Coord<f64>> = (0..=n)
            .map(|k| {
                let a = (k % n) as f64 * std::f64::consts::TAU / n as f64;
                coord! { x: 113.7 + 0.01 * a.cos(), y: 34.4 + 0.01 * a.sin() }
            })
            .collect();
        let circle = Geometry::Polygon(Polygon::new(LineString::new(circle), vec![]));
        assert_eq!(invalid_reason(&circle), None);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }
}
