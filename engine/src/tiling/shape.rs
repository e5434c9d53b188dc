//! A feature's geometry in one tile: projected to tile units, clipped to the buffered tile, snapped
//! to a grid and oriented the way MVT 2.1 wants (exterior rings with positive area in y-down
//! coordinates, holes negative).
//!
//! Snapping is the only simplification. It is deterministic per vertex, so two parcels that share
//! an edge still share it after snapping: no slivers open between neighbours (Douglas–Peucker per
//! polygon would pick different vertices on each side).
use geo::{BooleanOps, Coord, Geometry, LineString, MultiLineString, MultiPolygon, Polygon, Rect};

use super::address::TileProjection;

/// An integer position in tile units.
pub type Pt = (i32, i32);

/// A geometry ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub enum TileShape {
    /// Points (one or many).
    Points(Vec<Pt>),
    /// Line strings, each with at least two distinct points.
    Lines(Vec<Vec<Pt>>),
    /// Polygons: each an exterior ring (positive area) followed by its holes (negative area).
    /// Rings are open (the first point is not repeated).
    Polygons(Vec<Vec<Vec<Pt>>>),
}

impl TileShape {
    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        match self {
            TileShape::Points(p) => p.len(),
            TileShape::Lines(l) => l.iter().map(Vec::len).sum(),
            TileShape::Polygons(p) => p.iter().flatten().map(Vec::len).sum(),
        }
    }

    /// Merge another shape of the same kind into this one (coalescing features).
    pub fn absorb(&mut self, other: TileShape) {
        match (self, other) {
            (TileShape::Points(a), TileShape::Points(b)) => a.extend(b),
            (TileShape::Lines(a), TileShape::Lines(b)) => a.extend(b),
            (TileShape::Polygons(a), TileShape::Polygons(b)) => a.extend(b),
            _ => {}
        }
    }

    /// 0 for points, 1 for lines, 2 for polygons.
    pub fn dimension(&self) -> u8 {
        match self {
            TileShape::Points(_) => 0,
            TileShape::Lines(_) => 1,
            TileShape::Polygons(_) => 2,
        }
    }
}

/// How to cut and snap.
#[derive(Debug, Clone, Copy)]
pub struct ShapeParams {
    /// The projection into this tile.
    pub projection: TileProjection,
    /// The clip rectangle in tile units (the tile plus its buffer).
    pub clip: Rect<f64>,
    /// Snapping grid in tile units (1 = plain rounding).
    pub grid: i32,
}

fn snap(c: Coord<f64>, grid: i32) -> Pt {
    let g = f64::from(grid);
    // Tile coordinates are bounded by the clip rectangle, far inside i32.
    (
        ((c.x / g).round() * g) as i32,
        ((c.y / g).round() * g) as i32,
    )
}

fn project_ls(ls: &LineString<f64>, p: &TileProjection) -> LineString<f64> {
    LineString::new(ls.0.iter().map(|c| p.project(*c)).collect())
}

fn project_polygon(poly: &Polygon<f64>, p: &TileProjection) -> Polygon<f64> {
    Polygon::new(
        project_ls(poly.exterior(), p),
        poly.interiors().iter().map(|r| project_ls(r, p)).collect(),
    )
}

fn inside(r: &Rect<f64>, clip: &Rect<f64>) -> bool {
    r.min().x >= clip.min().x
        && r.min().y >= clip.min().y
        && r.max().x <= clip.max().x
        && r.max().y <= clip.max().y
}

fn bounds_of(coords: impl Iterator<Item = Coord<f64>>) -> Option<Rect<f64>> {
    let mut it = coords;
    let first = it.next()?;
    let (mut a, mut b) = (first, first);
    for c in it {
        a.x = a.x.min(c.x);
        a.y = a.y.min(c.y);
        b.x = b.x.max(c.x);
        b.y = b.y.max(c.y);
    }
    Some(Rect::new(a, b))
}

/// Twice the signed area of an open ring in y-down tile units (positive = MVT exterior).
pub fn ring_area2(ring: &[Pt]) -> i64 {
    let n = ring.len();
    let mut s = 0i64;
    for i in 0..n {
        let (x0, y0) = ring[i];
        let (x1, y1) = ring[(i + 1) % n];
        s += i64::from(x0) * i64::from(y1) - i64::from(x1) * i64::from(y0);
    }
    s
}

/// Snap a ring, drop repeated points and the closing point; `None` when it collapses.
fn snap_ring(ls: &LineString<f64>, grid: i32) -> Option<Vec<Pt>> {
    let mut out: Vec<Pt> = Vec::with_capacity(ls.0.len());
    for c in &ls.0 {
        let p = snap(*c, grid);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    if out.len() < 3 || ring_area2(&out) == 0 {
        return None;
    }
    Some(out)
}

fn snap_line(ls: &LineString<f64>, grid: i32) -> Option<Vec<Pt>> {
    let mut out: Vec<Pt> = Vec::with_capacity(ls.0.len());
    for c in &ls.0 {
        let p = snap(*c, grid);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    (out.len() >= 2).then_some(out)
}

fn oriented(mut ring: Vec<Pt>, exterior: bool) -> Vec<Pt> {
    let positive = ring_area2(&ring) > 0;
    if positive != exterior {
        ring.reverse();
    }
    ring
}

fn polygons_shape(polys: &MultiPolygon<f64>, grid: i32) -> Option<TileShape> {
    let mut out = Vec::new();
    for poly in &polys.0 {
        let Some(ext) = snap_ring(poly.exterior(), grid) else {
            continue;
        };
        let mut rings = vec![oriented(ext, true)];
        for hole in poly.interiors() {
            if let Some(h) = snap_ring(hole, grid) {
                rings.push(oriented(h, false));
            }
        }
        out.push(rings);
    }
    (!out.is_empty()).then_some(TileShape::Polygons(out))
}

fn lines_shape(lines: &MultiLineString<f64>, grid: i32) -> Option<TileShape> {
    let out: Vec<Vec<Pt>> = lines.0.iter().filter_map(|l| snap_line(l, grid)).collect();
    (!out.is_empty()).then_some(TileShape::Lines(out))
}

fn clip_polygons(polys: Vec<Polygon<f64>>, clip: &Rect<f64>) -> MultiPolygon<f64> {
    let mp = MultiPolygon::new(polys);
    let Some(b) = bounds_of(mp.0.iter().flat_map(|p| p.exterior().0.iter().copied())) else {
        return mp;
    };
    if inside(&b, clip) {
        return mp;
    }
    mp.intersection(&MultiPolygon::new(vec![clip.to_polygon()]))
}

fn clip_lines(lines: Vec<LineString<f64>>, clip: &Rect<f64>) -> MultiLineString<f64> {
    let ml = MultiLineString::new(lines);
    let Some(b) = bounds_of(ml.0.iter().flat_map(|l| l.0.iter().copied())) else {
        return ml;
    };
    if inside(&b, clip) {
        return ml;
    }
    clip.to_polygon().clip(&ml, false)
}

fn collect_parts(
    g: &Geometry<f64>,
    points: &mut Vec<Coord<f64>>,
    lines: &mut Vec<LineString<f64>>,
    polys: &mut Vec<Polygon<f64>>,
) {
    match g {
        Geometry::Point(p) => points.push(p.0),
        Geometry::MultiPoint(mp) => points.extend(mp.0.iter().map(|p| p.0)),
        Geometry::Line(l) => lines.push(LineString::new(vec![l.start, l.end])),
        Geometry::LineString(l) => lines.push(l.clone()),
        Geometry::MultiLineString(ml) => lines.extend(ml.0.iter().cloned()),
        Geometry::Polygon(p) => polys.push(p.clone()),
        Geometry::MultiPolygon(mp) => polys.extend(mp.0.iter().cloned()),
        Geometry::Rect(r) => polys.push(r.to_polygon()),
        Geometry::Triangle(t) => polys.push(t.to_polygon()),
        Geometry::GeometryCollection(gc) => {
            for g in &gc.0 {
                collect_parts(g, points, lines, polys);
            }
        }
    }
}

/// The feature's shape in this tile, or `None` when nothing of it is left after clipping and
/// snapping. A geometry collection keeps its highest-dimension parts (MVT features have one type).
pub fn shape(g: &Geometry<f64>, params: &ShapeParams) -> Option<TileShape> {
    let (mut points, mut lines, mut polys) = (Vec::new(), Vec::new(), Vec::new());
    collect_parts(g, &mut points, &mut lines, &mut polys);
    let p = &params.projection;
    if !polys.is_empty() {
        let projected: Vec<Polygon<f64>> = polys.iter().map(|q| project_polygon(q, p)).collect();
        let clipped = clip_polygons(projected, &params.clip);
        return polygons_shape(&clipped, params.grid);
    }
    if !lines.is_empty() {
        let projected: Vec<LineString<f64>> = lines.iter().map(|l| project_ls(l, p)).collect();
        let clipped = clip_lines(projected, &params.clip);
        return lines_shape(&clipped, params.grid);
    }
    let mut pts: Vec<Pt> = Vec::with_capacity(points.len());
    let mut seen = std::collections::HashSet::with_capacity(points.len());
    let c = &params.clip;
    for q in points {
        let t = p.project(q);
        if t.x >= c.min().x && t.x <= c.max().x && t.y >= c.min().y && t.y <= c.max().y {
            let s = snap(t, params.grid);
            if seen.insert(s) {
                pts.push(s);
            }
        }
    }
    (!pts.is_empty()).then_some(TileShape::Points(pts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiling::address::TileId;
    use geo::{line_string, polygon};

    fn params(tile: TileId, buffer: f64, grid: i32) -> ShapeParams {
        ShapeParams {
            projection: TileProjection::new(tile, 4096),
            clip: Rect::new(
                Coord {
                    x: -buffer,
                    y: -buffer,
                },
                Coord {
                    x: 4096.0 + buffer,
                    y: 4096.0 + buffer,
                },
            ),
            grid,
        }
    }

    fn world_tile() -> TileId {
        TileId::new(0, 0, 0).unwrap()
    }

    #[test]
    fn ring_orientation_follows_mvt() {
        // A counter-clockwise (RFC 7946) square around 0,0 at z0: the tile centre is 2048,2048.
        let sq: Geometry<f64> = polygon![
            (x: -10.0, y: -10.0), (x: 10.0, y: -10.0), (x: 10.0, y: 10.0), (x: -10.0, y: 10.0), (x: -10.0, y: -10.0)
        ]
        .into();
        let Some(TileShape::Polygons(p)) = shape(&sq, &params(world_tile(), 0.0, 1)) else {
            panic!("polygon expected");
        };
        assert_eq!(p.len(), 1);
        assert!(ring_area2(&p[0][0]) > 0, "exterior must be positive");
        // 20 degrees of 360 at 4096 units: 227.6 units wide; the ring is open (4 points).
        assert_eq!(p[0][0].len(), 4);
        let xs: Vec<i32> = p[0][0].iter().map(|q| q.0).collect();
        assert_eq!(xs.iter().min(), Some(&(2048 - 114)));
        assert_eq!(xs.iter().max(), Some(&(2048 + 114)));
    }

    #[test]
    fn holes_are_negative() {
        let g: Geometry<f64> = Polygon::new(
            line_string![(x: -20.0, y: -20.0), (x: 20.0, y: -20.0), (x: 20.0, y: 20.0), (x: -20.0, y: 20.0), (x: -20.0, y: -20.0)],
            vec![line_string![(x: -5.0, y: -5.0), (x: 5.0, y: -5.0), (x: 5.0, y: 5.0), (x: -5.0, y: 5.0), (x: -5.0, y: -5.0)]],
        )
        .into();
        let Some(TileShape::Polygons(p)) = shape(&g, &params(world_tile(), 0.0, 1)) else {
            panic!("polygon expected");
        };
        assert!(ring_area2(&p[0][0]) > 0);
        assert!(ring_area2(&p[0][1]) < 0);
    }

    #[test]
    fn polygons_are_clipped_to_the_buffer() {
        // Half of this square lies west of the antimeridian-free world edge at lon -180 (x < 0).
        let g: Geometry<f64> = polygon![
            (x: -179.0, y: -1.0), (x: -170.0, y: -1.0), (x: -170.0, y: 1.0), (x: -179.0, y: 1.0), (x: -179.0, y: -1.0)
        ]
        .into();
        // z1 tile 0/0 is the north-west quarter: the square's southern half is cut at y = 4096+8.
        let t = TileId::new(1, 0, 0).unwrap();
        let Some(TileShape::Polygons(p)) = shape(&g, &params(t, 8.0, 1)) else {
            panic!("polygon expected");
        };
        let ys: Vec<i32> = p[0][0].iter().map(|q| q.1).collect();
        assert_eq!(ys.iter().max(), Some(&(4096 + 8)));
        assert!(ring_area2(&p[0][0]) > 0);
    }

    #[test]
    fn shared_edges_stay_shared_after_snapping() {
        // Two neighbours sharing the edge x = 0.0123 (not on the grid); both must snap it alike.
        let a: Geometry<f64> = polygon![(x: 0.0, y: 0.0), (x: 0.0123, y: 0.0), (x: 0.0123, y: 0.01), (x: 0.0, y: 0.01), (x: 0.0, y: 0.0)].into();
        let b: Geometry<f64> = polygon![(x: 0.0123, y: 0.0), (x: 0.03, y: 0.0), (x: 0.03, y: 0.01), (x: 0.0123, y: 0.01), (x: 0.0123, y: 0.0)].into();
        let t = TileId::new(10, 512, 511).unwrap();
        for grid in [1, 4, 16] {
            let pa = shape(&a, &params(t, 64.0, grid)).unwrap();
            let pb = shape(&b, &params(t, 64.0, grid)).unwrap();
            let (TileShape::Polygons(pa), TileShape::Polygons(pb)) = (pa, pb) else {
                panic!("polygons expected");
            };
            let max_a = pa[0][0].iter().map(|q| q.0).max();
            let min_b = pb[0][0].iter().map(|q| q.0).min();
            assert_eq!(max_a, min_b, "grid {grid}");
        }
    }

    #[test]
    fn collapsed_geometry_disappears() {
        let tiny: Geometry<f64> = polygon![(x: 0.0, y: 0.0), (x: 0.0001, y: 0.0), (x: 0.0001, y: 0.0001), (x: 0.0, y: 0.0)].into();
        assert_eq!(shape(&tiny, &params(world_tile(), 0.0, 1)), None);
        let short: Geometry<f64> = line_string![(x: 0.0, y: 0.0), (x: 0.0001, y: 0.0)].into();
        assert_eq!(shape(&short, &params(world_tile(), 0.0, 1)), None);
    }

    #[test]
    fn lines_and_points_are_clipped() {
        let t = TileId::new(1, 1, 0).unwrap(); // north-east quarter
        let l: Geometry<f64> = line_string![(x: -90.0, y: 10.0), (x: 90.0, y: 10.0)].into();
        let Some(TileShape::Lines(ls)) = shape(&l, &params(t, 0.0, 1)) else {
            panic!("line expected");
        };
        assert_eq!(ls.len(), 1);
        assert_eq!(ls[0][0].0, 0, "cut at the tile's west edge");
        assert_eq!(ls[0][1].0, 2048);
        let pts: Geometry<f64> = geo::MultiPoint::from(vec![(-10.0, 10.0), (10.0, 10.0)]).into();
        let Some(TileShape::Points(p)) = shape(&pts, &params(t, 0.0, 1)) else {
            panic!("points expected");
        };
        assert_eq!(p.len(), 1);
        // lon 10 at z1: (190 / 360) * 8192 - 4096 = 227.6.
        assert_eq!(p[0].0, 228);
    }
}
