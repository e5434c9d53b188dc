//! Areas and lengths in metres on the CGCS2000 ellipsoid (geodesic, GeographicLib), or planar in a
//! Gauss–Krüger zone when a caller asks for the figures a surveyor's software prints.
use std::sync::OnceLock;

use geo::{Area, Geometry, LineString, Polygon};
use geographiclib_rs::{Geodesic, InverseGeodesic, PolygonArea, Winding};

use crate::crs::{CGCS2000_A, CGCS2000_F, Crs, Transform};
use crate::error::Error;

fn cgcs2000() -> &'static Geodesic {
    static G: OnceLock<Geodesic> = OnceLock::new();
    G.get_or_init(|| Geodesic::new(CGCS2000_A, CGCS2000_F))
}

/// How an area is measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum AreaMethod {
    /// On the CGCS2000 ellipsoid (like PostGIS `ST_Area(geography)`).
    #[default]
    Geodesic,
    /// Planar, after projecting to a Gauss–Krüger zone (like `ST_Area(ST_Transform(g, 4547))`).
    Planar(Crs),
}

/// Geodesic measurements of lon/lat geometries, in metres and square metres.
pub trait Measure {
    /// Area on the CGCS2000 ellipsoid in m² (0 for points and lines). Holes are subtracted.
    fn geodesic_area_m2(&self) -> f64;
    /// Length on the ellipsoid in m: line length, or ring perimeter for polygons.
    fn geodesic_length_m(&self) -> f64;
}

fn ring_area(ring: &LineString<f64>) -> f64 {
    let coords = &ring.0;
    if coords.len() < 4 {
        return 0.0;
    }
    let mut pa = PolygonArea::new(cgcs2000(), Winding::CounterClockwise);
    // The ring is closed; PolygonArea closes it itself, so skip the repeated last vertex.
    for c in &coords[..coords.len() - 1] {
        pa.add_point(c.y, c.x);
    }
    let (_, area, _) = pa.compute(true);
    area.abs()
}

fn line_length(line: &LineString<f64>) -> f64 {
    line.0
        .windows(2)
        .map(|w| {
            let d: f64 = cgcs2000().inverse(w[0].y, w[0].x, w[1].y, w[1].x);
            d
        })
        .sum()
}

fn polygon_area(p: &Polygon<f64>) -> f64 {
    let outer = ring_area(p.exterior());
    let holes: f64 = p.interiors().iter().map(ring_area).sum();
    (outer - holes).max(0.0)
}

impl Measure for Geometry<f64> {
    fn geodesic_area_m2(&self) -> f64 {
        match self {
            Geometry::Polygon(p) => polygon_area(p),
            // `+ 0.0`: an empty sum of floats is -0.0.
            Geometry::MultiPolygon(mp) => mp.0.iter().map(polygon_area).sum::<f64>() + 0.0,
            Geometry::Rect(r) => polygon_area(&r.to_polygon()),
            Geometry::Triangle(t) => polygon_area(&t.to_polygon()),
            Geometry::GeometryCollection(gc) => {
                gc.0.iter().map(|g| g.geodesic_area_m2()).sum::<f64>() + 0.0
            }
            _ => 0.0,
        }
    }

    fn geodesic_length_m(&self) -> f64 {
        match self {
            Geometry::Line(l) => line_length(&LineString::from(vec![l.start, l.end])),
            Geometry::LineString(l) => line_length(l),
            Geometry::MultiLineString(ml) => ml.0.iter().map(line_length).sum(),
            Geometry::Polygon(p) => {
                line_length(p.exterior()) + p.interiors().iter().map(line_length).sum::<f64>()
            }
            Geometry::MultiPolygon(mp) => {
                mp.0.iter()
                    .map(|p| Geometry::Polygon(p.clone()).geodesic_length_m())
                    .sum()
            }
            Geometry::Rect(r) => Geometry::Polygon(r.to_polygon()).geodesic_length_m(),
            Geometry::Triangle(t) => Geometry::Polygon(t.to_polygon()).geodesic_length_m(),
            Geometry::GeometryCollection(gc) => gc.0.iter().map(|g| g.geodesic_length_m()).sum(),
            Geometry::Point(_) | Geometry::MultiPoint(_) => 0.0,
        }
    }
}

/// Planar area in m² after projecting a lon/lat geometry to `crs` (a projected CRS in metres).
pub fn planar_area_m2(g: &Geometry<f64>, crs: &Crs) -> Result<f64, Error> {
    if crs.is_geographic() {
        return Err(Error::Query(format!(
            "planar area needs a projected CRS in metres, not {crs}"
        )));
    }
    let projected = Transform::from_lonlat(crs)?.geometry(g)?;
    Ok(projected.unsigned_area())
}

/// The area of a geometry by the chosen method.
pub fn area_m2(g: &Geometry<f64>, method: AreaMethod) -> Result<f64, Error> {
    match method {
        AreaMethod::Geodesic => Ok(g.geodesic_area_m2()),
        AreaMethod::Planar(crs) => planar_area_m2(g, &crs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use geo::{line_string, polygon};

    // Known answers from PostGIS 3.3 (ST_Area / ST_Length on geography, spheroid):
    //   SELECT ST_Area('SRID=4326;POLYGON((113.7 34.4,113.71 34.4,113.71 34.41,113.7 34.41,113.7 34.4))'::geography);
    //   -> 1019932.622573  (tests/postgis_oracle.rs also checks live against PostGIS when present)
    #[test]
    fn one_hundredth_degree_square_near_xinzheng() {
        let p: Geometry<f64> = polygon![
            (x: 113.70, y: 34.40), (x: 113.71, y: 34.40), (x: 113.71, y: 34.41),
            (x: 113.70, y: 34.41), (x: 113.70, y: 34.40)
        ]
        .into();
        let a = p.geodesic_area_m2();
        assert_relative_eq!(a, 1_019_932.622_573, max_relative = 1e-6);
        // Winding does not matter.
        let cw: Geometry<f64> = polygon![
            (x: 113.70, y: 34.40), (x: 113.70, y: 34.41), (x: 113.71, y: 34.41),
            (x: 113.71, y: 34.40), (x: 113.70, y: 34.40)
        ]
        .into();
        assert_relative_eq!(cw.geodesic_area_m2(), a, max_relative = 1e-12);
    }

    #[test]
    fn holes_are_subtracted() {
        let with_hole: Geometry<f64> = polygon!(
            exterior: [(x: 113.70, y: 34.40), (x: 113.72, y: 34.40), (x: 113.72, y: 34.42), (x: 113.70, y: 34.42), (x: 113.70, y: 34.40)],
            interiors: [[(x: 113.705, y: 34.405), (x: 113.715, y: 34.405), (x: 113.715, y: 34.415), (x: 113.705, y: 34.415), (x: 113.705, y: 34.405)]],
        )
        .into();
        let outer: Geometry<f64> = polygon![
            (x: 113.70, y: 34.40), (x: 113.72, y: 34.40), (x: 113.72, y: 34.42),
            (x: 113.70, y: 34.42), (x: 113.70, y: 34.40)
        ]
        .into();
        let hole: Geometry<f64> = polygon![
            (x: 113.705, y: 34.405), (x: 113.715, y: 34.405), (x: 113.715, y: 34.415),
            (x: 113.705, y: 34.415), (x: 113.705, y: 34.405)
        ]
        .into();
        assert_relative_eq!(
            with_hole.geodesic_area_m2(),
            outer.geodesic_area_m2() - hole.geodesic_area_m2(),
            max_relative = 1e-12
        );
    }

    #[test]
    fn meridian_arc_length() {
        // 34°N to 35°N along 113°E on GRS80. PROJ `geod +ellps=GRS80 -I`: 110931.460 m;
        // PostGIS ST_Length(geography): 110931.459523 m.
        let l: Geometry<f64> = line_string![(x: 113.0, y: 34.0), (x: 113.0, y: 35.0)].into();
        assert_relative_eq!(l.geodesic_length_m(), 110_931.459_523, max_relative = 1e-8);
    }

    #[test]
    fn planar_gk_area_close_to_geodesic_near_central_meridian() {
        let p: Geometry<f64> = polygon![
            (x: 113.99, y: 34.40), (x: 114.01, y: 34.40), (x: 114.01, y: 34.42),
            (x: 113.99, y: 34.42), (x: 113.99, y: 34.40)
        ]
        .into();
        let planar = planar_area_m2(&p, &Crs::from_epsg(4547).unwrap()).unwrap();
        // PostGIS: ST_Area(ST_Transform(g, 4547)) = 4079491.0813, ST_Area(g::geography) = 4079491.0942.
        assert_relative_eq!(planar, 4_079_491.081_3, max_relative = 1e-8);
        assert_relative_eq!(p.geodesic_area_m2(), 4_079_491.094_2, max_relative = 1e-8);
        assert!(planar_area_m2(&p, &Crs::WGS84).is_err());
        assert_eq!(
            area_m2(&p, AreaMethod::Geodesic).unwrap(),
            p.geodesic_area_m2()
        );
    }
}
