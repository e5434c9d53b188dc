//! Curved geometries (ISO/OGC CircularString, CompoundCurve, CurvePolygon, MultiCurve,
//! MultiSurface — in GeoPackage and FlatGeobuf files from CAD and survey tools) are linearised on
//! the way in: a geozero processor between a format's reader and geozero's geo-types writer turns
//! every arc into straight segments, as PostGIS's `ST_CurveToLine` does by default (32 segments
//! per quarter circle; the arc's ends are kept exactly). Z and M values are dropped on the way
//! (onemap stores 2D) and counted, so the import can say so.
use std::f64::consts::{FRAC_PI_2, TAU};
use std::sync::atomic::{AtomicUsize, Ordering};

use geozero::error::Result;
use geozero::geo_types::GeoWriter;
use geozero::{CoordDimensions, GeomProcessor};

/// Segments per quarter circle.
pub const SEGMENTS_PER_QUARTER: usize = 32;

/// Where a curve component sits, which decides how its linear form is tagged.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Context {
    /// A CurvePolygon: its curves become rings.
    CurvePolygon,
    /// A MultiCurve: its curves become the lines of a MultiLineString.
    MultiCurve,
    /// A MultiSurface: its (curve) polygons become the polygons of a MultiPolygon.
    MultiSurface,
    /// A CompoundCurve: its components' points are collected into one line.
    Compound,
    /// A CircularString: its points are collected, then linearised.
    Circular,
}

/// A geozero processor that linearises curves and hands everything else to a [`GeoWriter`].
pub struct Linearise {
    inner: GeoWriter,
    stack: Vec<Context>,
    /// Points of the CircularString being read.
    arc: Vec<(f64, f64)>,
    /// Points of the CompoundCurve being built.
    compound: Vec<(f64, f64)>,
    /// Whether any curve was met (for the import's note).
    curved: bool,
    /// Whether any coordinate had Z or M.
    flattened: bool,
}

/// A geometry as read, and what was done to it.
pub struct Decoded {
    /// The geometry (`None` for an empty one).
    pub geometry: Option<geo::Geometry<f64>>,
    /// It had curves, now linearised.
    pub curved: bool,
    /// It had Z or M values, now dropped.
    pub flattened: bool,
}

/// Counts of geometries a reader changed, for the import report's notes.
#[derive(Debug, Default)]
pub struct Adjusted {
    linearised: AtomicUsize,
    flattened: AtomicUsize,
}

impl Adjusted {
    /// Count one decoded geometry; hand back the geometry.
    pub fn record(&self, d: Decoded) -> Option<geo::Geometry<f64>> {
        if d.curved {
            self.linearised.fetch_add(1, Ordering::Relaxed);
        }
        if d.flattened {
            self.flattened.fetch_add(1, Ordering::Relaxed);
        }
        d.geometry
    }

    /// Start counting a new pass.
    pub fn reset(&self) {
        self.linearised.store(0, Ordering::Relaxed);
        self.flattened.store(0, Ordering::Relaxed);
    }

    /// What the analyst should know.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let linearised = self.linearised.load(Ordering::Relaxed);
        if linearised > 0 {
            notes.push(format!(
                "{linearised} curved geometries (arcs) were linearised, {SEGMENTS_PER_QUARTER} segments per quarter circle"
            ));
        }
        let flattened = self.flattened.load(Ordering::Relaxed);
        if flattened > 0 {
            notes.push(format!(
                "{flattened} geometries with Z/M values were flattened to 2D"
            ));
        }
        notes
    }
}

impl Default for Linearise {
    fn default() -> Self {
        Linearise::new()
    }
}

impl Linearise {
    /// A processor writing geo-types geometries.
    pub fn new() -> Linearise {
        Linearise {
            inner: GeoWriter::new(),
            stack: Vec::new(),
            arc: Vec::new(),
            compound: Vec::new(),
            curved: false,
            flattened: false,
        }
    }

    /// The geometry read, and what was done to it.
    pub fn take(&mut self) -> Decoded {
        Decoded {
            curved: std::mem::take(&mut self.curved),
            flattened: std::mem::take(&mut self.flattened),
            geometry: self.inner.take_geometry(),
        }
    }

    fn parent(&self) -> Option<Context> {
        self.stack.last().copied()
    }

    /// A linear member of a polygon or multi-line is untagged; a standalone one is tagged.
    fn member_tagged(&self) -> bool {
        !matches!(
            self.parent(),
            Some(Context::CurvePolygon | Context::MultiCurve)
        )
    }

    fn collecting(&self) -> bool {
        matches!(self.parent(), Some(Context::Compound | Context::Circular))
    }

    fn point(&mut self, x: f64, y: f64) {
        match self.parent() {
            Some(Context::Circular) => self.arc.push((x, y)),
            _ => push_joined(&mut self.compound, (x, y)),
        }
    }

    /// Emit a finished curve as a linestring in its context.
    fn emit_line(&mut self, points: &[(f64, f64)], idx: usize) -> Result<()> {
        let tagged = self.member_tagged();
        self.inner.linestring_begin(tagged, points.len(), idx)?;
        for (i, (x, y)) in points.iter().enumerate() {
            self.inner.xy(*x, *y, i)?;
        }
        self.inner.linestring_end(tagged, idx)
    }
}

/// Append a point, skipping it when it repeats the last one (where compound components join).
fn push_joined(points: &mut Vec<(f64, f64)>, p: (f64, f64)) {
    if points.last() != Some(&p) {
        points.push(p);
    }
}

/// The points of a CircularString (arcs through every three points, sharing ends) as a
/// linestring. A degenerate arc (its three points on a line) stays straight.
pub fn linearise_arcs(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    if points.len() < 3 {
        return points.to_vec();
    }
    let mut i = 0;
    while i + 2 < points.len() {
        let (p0, p1, p2) = (points[i], points[i + 1], points[i + 2]);
        push_joined(&mut out, p0);
        for p in arc(p0, p1, p2) {
            push_joined(&mut out, p);
        }
        push_joined(&mut out, p2);
        i += 2;
    }
    // A trailing point that completes no arc (malformed input): kept as a straight segment.
    for p in &points[i + 1..] {
        push_joined(&mut out, *p);
    }
    out
}

/// Interior points of the arc from `p0` through `p1` to `p2`.
fn arc(p0: (f64, f64), p1: (f64, f64), p2: (f64, f64)) -> Vec<(f64, f64)> {
    // Worked relative to p0: lon/lat arcs of a few metres sit at coordinates near 113, where the
    // circumcentre formula would cancel away most digits.
    let (b, c) = ((p1.0 - p0.0, p1.1 - p0.1), (p2.0 - p0.0, p2.1 - p0.1));
    // A full circle: start = end, the middle point is diametrically opposite.
    let (ux, uy, full) = if p0 == p2 {
        (b.0 / 2.0, b.1 / 2.0, true)
    } else {
        let d = 2.0 * (b.0 * c.1 - b.1 * c.0);
        let scale = b.0.abs().max(b.1.abs()).max(c.0.abs()).max(c.1.abs());
        if d.abs() <= 1e-12 * scale * scale {
            return vec![p1]; // collinear: a straight line through the middle point
        }
        let (sb, sc) = (b.0 * b.0 + b.1 * b.1, c.0 * c.0 + c.1 * c.1);
        ((c.1 * sb - b.1 * sc) / d, (b.0 * sc - c.0 * sb) / d, false)
    };
    let r = ux.hypot(uy);
    if !(r.is_finite() && r > 0.0) {
        return vec![p1];
    }
    let (cx, cy) = (p0.0 + ux, p0.1 + uy);
    let a0 = (-uy).atan2(-ux);
    let a1 = (b.1 - uy).atan2(b.0 - ux);
    let a2 = (c.1 - uy).atan2(c.0 - ux);
    // Counter-clockwise angles from a0; the arc runs the way that passes a1.
    let ccw = |a: f64| (a - a0).rem_euclid(TAU);
    let sweep = if full {
        // A full circle: counter-clockwise (ring orientation is normalised later anyway).
        TAU
    } else if ccw(a1) <= ccw(a2) {
        ccw(a2)
    } else {
        ccw(a2) - TAU
    };
    let step = FRAC_PI_2 / SEGMENTS_PER_QUARTER as f64;
    // A half circle whose ends carry rounding is still 64 segments, not 65.
    let n = ((sweep.abs() / step - 1e-6).ceil() as usize).max(1);
    (1..n)
        .map(|k| {
            let a = a0 + sweep * k as f64 / n as f64;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect()
}

impl GeomProcessor for Linearise {
    /// Every dimension is asked for, to notice Z and M (then dropped: the writer is 2D).
    fn dimensions(&self) -> CoordDimensions {
        CoordDimensions::xyzm()
    }

    fn multi_dim(&self) -> bool {
        true
    }

    fn srid(&mut self, srid: Option<i32>) -> Result<()> {
        self.inner.srid(srid)
    }

    fn xy(&mut self, x: f64, y: f64, idx: usize) -> Result<()> {
        if self.collecting() {
            self.point(x, y);
            Ok(())
        } else {
            self.inner.xy(x, y, idx)
        }
    }

    fn coordinate(
        &mut self,
        x: f64,
        y: f64,
        z: Option<f64>,
        m: Option<f64>,
        _t: Option<f64>,
        _tm: Option<u64>,
        idx: usize,
    ) -> Result<()> {
        self.flattened |= z.is_some() || m.is_some();
        self.xy(x, y, idx)
    }

    fn empty_point(&mut self, idx: usize) -> Result<()> {
        self.inner.empty_point(idx)
    }

    fn point_begin(&mut self, idx: usize) -> Result<()> {
        self.inner.point_begin(idx)
    }

    fn point_end(&mut self, idx: usize) -> Result<()> {
        self.inner.point_end(idx)
    }

    fn multipoint_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.inner.multipoint_begin(size, idx)
    }

    fn multipoint_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multipoint_end(idx)
    }

    fn linestring_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        match self.parent() {
            // A straight component of a compound curve: its points join the compound's.
            Some(Context::Compound) => Ok(()),
            Some(Context::CurvePolygon | Context::MultiCurve) => {
                self.inner.linestring_begin(false, size, idx)
            }
            _ => self.inner.linestring_begin(tagged, size, idx),
        }
    }

    fn linestring_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        match self.parent() {
            Some(Context::Compound) => Ok(()),
            Some(Context::CurvePolygon | Context::MultiCurve) => {
                self.inner.linestring_end(false, idx)
            }
            _ => self.inner.linestring_end(tagged, idx),
        }
    }

    fn multilinestring_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.inner.multilinestring_begin(size, idx)
    }

    fn multilinestring_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multilinestring_end(idx)
    }

    fn polygon_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        let tagged = tagged && self.parent() != Some(Context::MultiSurface);
        self.inner.polygon_begin(tagged, size, idx)
    }

    fn polygon_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        let tagged = tagged && self.parent() != Some(Context::MultiSurface);
        self.inner.polygon_end(tagged, idx)
    }

    fn multipolygon_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.inner.multipolygon_begin(size, idx)
    }

    fn multipolygon_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multipolygon_end(idx)
    }

    fn geometrycollection_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.inner.geometrycollection_begin(size, idx)
    }

    fn geometrycollection_end(&mut self, idx: usize) -> Result<()> {
        self.inner.geometrycollection_end(idx)
    }

    fn circularstring_begin(&mut self, size: usize, _idx: usize) -> Result<()> {
        self.curved = true;
        self.stack.push(Context::Circular);
        self.arc.clear();
        self.arc.reserve(size);
        Ok(())
    }

    fn circularstring_end(&mut self, idx: usize) -> Result<()> {
        self.stack.pop();
        let line = linearise_arcs(&std::mem::take(&mut self.arc));
        if self.parent() == Some(Context::Compound) {
            for p in line {
                push_joined(&mut self.compound, p);
            }
            Ok(())
        } else {
            self.emit_line(&line, idx)
        }
    }

    fn compoundcurve_begin(&mut self, _size: usize, _idx: usize) -> Result<()> {
        self.curved = true;
        self.stack.push(Context::Compound);
        self.compound.clear();
        Ok(())
    }

    fn compoundcurve_end(&mut self, idx: usize) -> Result<()> {
        self.stack.pop();
        let line = std::mem::take(&mut self.compound);
        self.emit_line(&line, idx)
    }

    fn curvepolygon_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.curved = true;
        let tagged = self.parent() != Some(Context::MultiSurface);
        self.inner.polygon_begin(tagged, size, idx)?;
        self.stack.push(Context::CurvePolygon);
        Ok(())
    }

    fn curvepolygon_end(&mut self, idx: usize) -> Result<()> {
        self.stack.pop();
        let tagged = self.parent() != Some(Context::MultiSurface);
        self.inner.polygon_end(tagged, idx)
    }

    fn multicurve_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.curved = true;
        self.stack.push(Context::MultiCurve);
        self.inner.multilinestring_begin(size, idx)
    }

    fn multicurve_end(&mut self, idx: usize) -> Result<()> {
        self.stack.pop();
        self.inner.multilinestring_end(idx)
    }

    fn multisurface_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.curved = true;
        self.stack.push(Context::MultiSurface);
        self.inner.multipolygon_begin(size, idx)
    }

    fn multisurface_end(&mut self, idx: usize) -> Result<()> {
        self.stack.pop();
        self.inner.multipolygon_end(idx)
    }
}

/// A GeoPackage geometry blob as geo-types, curves linearised, Z/M dropped.
pub fn gpkg_to_geo(blob: &[u8]) -> Result<Decoded> {
    use onemap_engine::geometry::nesting;
    nesting::check_gpkg(blob, nesting::MAX_DEPTH)
        .map_err(geozero::error::GeozeroError::Geometry)?;
    let mut p = Linearise::new();
    geozero::wkb::process_gpkg_geom(&mut std::io::Cursor::new(blob), &mut p)?;
    Ok(p.take())
}

/// ISO WKB (what OGR exports) as geo-types, curves linearised, Z/M dropped.
pub fn wkb_to_geo(wkb: &[u8]) -> Result<Decoded> {
    use onemap_engine::geometry::nesting;
    nesting::check_wkb(wkb, nesting::MAX_DEPTH).map_err(geozero::error::GeozeroError::Geometry)?;
    let mut p = Linearise::new();
    geozero::wkb::process_wkb_geom(&mut std::io::Cursor::new(wkb), &mut p)?;
    Ok(p.take())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, Geometry};
    use std::f64::consts::PI;

    /// ISO WKB (little-endian) writers for the test shapes.
    fn header(ty: u32) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&ty.to_le_bytes());
        v
    }

    fn points(ty: u32, pts: &[(f64, f64)]) -> Vec<u8> {
        let mut v = header(ty);
        v.extend_from_slice(&(pts.len() as u32).to_le_bytes());
        for (x, y) in pts {
            v.extend_from_slice(&x.to_le_bytes());
            v.extend_from_slice(&y.to_le_bytes());
        }
        v
    }

    fn parts(ty: u32, parts: &[Vec<u8>]) -> Vec<u8> {
        let mut v = header(ty);
        v.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        for p in parts {
            v.extend_from_slice(p);
        }
        v
    }

    fn read(wkb: &[u8]) -> Geometry<f64> {
        let mut p = Linearise::new();
        geozero::wkb::process_wkb_geom(&mut std::io::Cursor::new(wkb), &mut p).unwrap();
        let d = p.take();
        assert!(d.curved && !d.flattened);
        d.geometry.unwrap()
    }

    const CIRCULAR: u32 = 8;
    const COMPOUND: u32 = 9;
    const CURVEPOLYGON: u32 = 10;
    const MULTICURVE: u32 = 11;
    const MULTISURFACE: u32 = 12;
    const LINESTRING: u32 = 2;

    #[test]
    fn a_full_circle_is_the_inscribed_128_gon() {
        // CURVEPOLYGON(CIRCULARSTRING(10 0, -10 0, 10 0)): radius 10 about the origin.
        let circle = points(CIRCULAR, &[(10.0, 0.0), (-10.0, 0.0), (10.0, 0.0)]);
        let g = read(&parts(CURVEPOLYGON, &[circle]));
        let Geometry::Polygon(p) = g else {
            panic!("not a polygon: {g:?}")
        };
        let n = 4 * SEGMENTS_PER_QUARTER;
        assert_eq!(p.exterior().0.len(), n + 1);
        // Area of a regular n-gon inscribed in a circle of radius r: n/2 r² sin(2π/n).
        let want = n as f64 / 2.0 * 100.0 * (TAU / n as f64).sin();
        assert!(
            (p.unsigned_area() - want).abs() < 1e-9,
            "{}",
            p.unsigned_area()
        );
        assert!((p.unsigned_area() - PI * 100.0).abs() / (PI * 100.0) < 5e-4);
        for c in &p.exterior().0 {
            assert!((c.x.hypot(c.y) - 10.0).abs() < 1e-12);
        }
    }

    #[test]
    fn an_arc_keeps_its_ends_and_passes_its_middle_side() {
        // A half circle from (1,0) over (0,1) to (-1,0): counter-clockwise, the upper half.
        let line = linearise_arcs(&[(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)]);
        assert_eq!(line.first(), Some(&(1.0, 0.0)));
        assert_eq!(line.last(), Some(&(-1.0, 0.0)));
        assert_eq!(line.len(), 2 * SEGMENTS_PER_QUARTER + 1);
        assert!(line.iter().all(|p| p.1 >= -1e-12));
        // The same ends through (0,-1): the lower half, clockwise.
        let lower = linearise_arcs(&[(1.0, 0.0), (0.0, -1.0), (-1.0, 0.0)]);
        assert!(lower.iter().all(|p| p.1 <= 1e-12));
        // Three points on a line stay a straight line.
        assert_eq!(
            linearise_arcs(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]),
            vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]
        );
    }

    #[test]
    fn compound_curves_join_their_parts_once() {
        // COMPOUNDCURVE((0 0, 1 0), CIRCULARSTRING(1 0, 2 1, 3 0), (3 0, 4 0))
        let g = read(&parts(
            COMPOUND,
            &[
                points(LINESTRING, &[(0.0, 0.0), (1.0, 0.0)]),
                points(CIRCULAR, &[(1.0, 0.0), (2.0, 1.0), (3.0, 0.0)]),
                points(LINESTRING, &[(3.0, 0.0), (4.0, 0.0)]),
            ],
        ));
        let Geometry::LineString(l) = g else {
            panic!("not a line: {g:?}")
        };
        let pts: Vec<(f64, f64)> = l.0.iter().map(|c| (c.x, c.y)).collect();
        assert_eq!(pts.first(), Some(&(0.0, 0.0)));
        assert_eq!(pts.last(), Some(&(4.0, 0.0)));
        assert!(pts.windows(2).all(|w| w[0] != w[1]), "no repeated joints");
        assert!(pts.contains(&(2.0, 1.0)) || pts.iter().any(|p| p.1 > 0.99));
    }

    #[test]
    fn multi_curves_and_surfaces_become_multi_lines_and_polygons() {
        let g = read(&parts(
            MULTICURVE,
            &[
                points(LINESTRING, &[(0.0, 0.0), (1.0, 0.0)]),
                points(CIRCULAR, &[(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]),
            ],
        ));
        assert!(
            matches!(&g, Geometry::MultiLineString(m) if m.0.len() == 2),
            "{g:?}"
        );
        // MULTISURFACE(CURVEPOLYGON(COMPOUNDCURVE(CIRCULARSTRING(0 0, 1 1, 2 0), (2 0, 0 0))),
        //              POLYGON((10 10, 11 10, 11 11, 10 10)))
        let half_disc = parts(
            CURVEPOLYGON,
            &[parts(
                COMPOUND,
                &[
                    points(CIRCULAR, &[(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]),
                    points(LINESTRING, &[(2.0, 0.0), (0.0, 0.0)]),
                ],
            )],
        );
        // A plain Polygon's rings carry no header: a count, then the points.
        let mut square = header(3);
        square.extend_from_slice(&1u32.to_le_bytes());
        square.extend_from_slice(
            &points(
                LINESTRING,
                &[(10.0, 10.0), (11.0, 10.0), (11.0, 11.0), (10.0, 10.0)],
            )[5..],
        );
        let g = read(&parts(MULTISURFACE, &[half_disc, square]));
        let Geometry::MultiPolygon(m) = g else {
            panic!("not a multipolygon: {g:?}")
        };
        assert_eq!(m.0.len(), 2);
        // A half disc of radius 1: area π/2 less the 64-gon's shortfall.
        let n = 2 * SEGMENTS_PER_QUARTER;
        let want = n as f64 / 2.0 * (PI / n as f64).sin();
        assert!((m.0[0].unsigned_area() - want).abs() < 1e-12);
        assert!((m.0[1].unsigned_area() - 0.5).abs() < 1e-12);
    }
}
