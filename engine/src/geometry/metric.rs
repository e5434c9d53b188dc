//! Distances in metres between lon/lat geometries.
//!
//! Geometries are projected into a transverse Mercator frame centred on the query (GRS80, scale 1 on
//! its central meridian) and measured there. Within 50 km of the centre the frame's scale error is
//! below 3e-5 (1 + x²/2R²), so a 100 m distance is right to ~3 mm — the same answers PostGIS gives
//! for `ST_DWithin(geography, geography, d)` / `ST_Distance(geography)` at city scale.
use geo::{Distance, Euclidean, Geometry, Intersects, MapCoords, Rect};
use proj4rs::proj::Proj;

use crate::error::Error;

/// Metres per degree of latitude, a lower bound over all latitudes (GRS80: 110 574 m at the equator).
const MIN_M_PER_DEG_LAT: f64 = 110_574.0;
/// Metres per degree of longitude at the equator (GRS80).
const M_PER_DEG_LON_EQ: f64 = 111_320.0;

/// A local metric frame around a point.
pub struct MetricFrame {
    lonlat: Proj,
    tm: Proj,
}

impl MetricFrame {
    /// A frame centred on `(lon, lat)`.
    pub fn new(lon: f64, lat: f64) -> Result<MetricFrame, Error> {
        if !(lon.is_finite() && lat.is_finite() && lat.abs() <= 90.0) {
            return Err(Error::Query(format!("invalid frame centre ({lon}, {lat})")));
        }
        let tm = Proj::from_proj_string(&format!(
            "+proj=tmerc +lat_0={lat} +lon_0={lon} +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
        ))
        .map_err(|e| Error::Transform(e.to_string()))?;
        let lonlat = Proj::from_proj_string("+proj=longlat +ellps=GRS80 +no_defs")
            .map_err(|e| Error::Transform(e.to_string()))?;
        Ok(MetricFrame { lonlat, tm })
    }

    /// A frame centred on the middle of a geometry's bounding box.
    pub fn around(g: &Geometry<f64>) -> Result<MetricFrame, Error> {
        use geo::BoundingRect;
        let r = g
            .bounding_rect()
            .ok_or_else(|| Error::Query("empty geometry".into()))?;
        let c = r.center();
        MetricFrame::new(c.x, c.y)
    }

    /// Project a lon/lat geometry into the frame (metres).
    pub fn project(&self, g: &Geometry<f64>) -> Result<Geometry<f64>, Error> {
        g.try_map_coords(|c| {
            let mut p = (c.x.to_radians(), c.y.to_radians(), 0.0);
            proj4rs::transform::transform(&self.lonlat, &self.tm, &mut p)
                .map_err(|e| Error::Transform(format!("({}, {}): {e}", c.x, c.y)))?;
            Ok(geo::coord! { x: p.0, y: p.1 })
        })
    }

    /// Distance in metres between a geometry already projected into this frame and a lon/lat one.
    /// Zero when they intersect.
    pub fn distance_to(
        &self,
        projected: &Geometry<f64>,
        other: &Geometry<f64>,
    ) -> Result<f64, Error> {
        let o = self.project(other)?;
        if projected.intersects(&o) {
            return Ok(0.0);
        }
        Ok(Euclidean.distance(projected, &o))
    }
}

/// A lon/lat rectangle that surely contains every point within `metres` of `r` (used to pick R-tree
/// candidates before the exact distance test).
pub fn expand_rect_by_metres(r: Rect<f64>, metres: f64) -> Rect<f64> {
    let dlat = metres / MIN_M_PER_DEG_LAT * 1.001;
    let max_lat = (r.max().y.abs().max(r.min().y.abs()) + dlat).min(89.9);
    let dlon = (metres / (M_PER_DEG_LON_EQ * max_lat.to_radians().cos()) * 1.001).min(360.0);
    Rect::new(
        geo::coord! { x: r.min().x - dlon, y: r.min().y - dlat },
        geo::coord! { x: r.max().x + dlon, y: r.max().y + dlat },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use geo::{point, polygon};

    #[test]
    fn point_to_point_matches_geodesic() {
        // PostGIS: ST_Distance('POINT(113.74 34.40)'::geography, 'POINT(113.75 34.41)'::geography)
        //   = 1443.04 m (spheroid); see tests/postgis_oracle.rs for the live comparison.
        let a: Geometry<f64> = point!(x: 113.74, y: 34.40).into();
        let b: Geometry<f64> = point!(x: 113.75, y: 34.41).into();
        let f = MetricFrame::around(&a).unwrap();
        let pa = f.project(&a).unwrap();
        let d = f.distance_to(&pa, &b).unwrap();
        use geographiclib_rs::{Geodesic, InverseGeodesic};
        let g = Geodesic::new(crate::crs::CGCS2000_A, crate::crs::CGCS2000_F);
        let exact: f64 = g.inverse(34.40, 113.74, 34.41, 113.75);
        assert_relative_eq!(d, exact, max_relative = 1e-6);
    }

    #[test]
    fn inside_polygon_is_zero() {
        let poly: Geometry<f64> = polygon![
            (x: 113.7, y: 34.4), (x: 113.8, y: 34.4), (x: 113.8, y: 34.5), (x: 113.7, y: 34.5), (x: 113.7, y: 34.4)
        ]
        .into();
        let p: Geometry<f64> = point!(x: 113.75, y: 34.45).into();
        let f = MetricFrame::around(&p).unwrap();
        let pp = f.project(&p).unwrap();
        assert_eq!(f.distance_to(&pp, &poly).unwrap(), 0.0);
    }

    #[test]
    fn expanded_rect_contains_the_distance() {
        let r = Rect::new(
            geo::coord! {x: 113.7, y: 34.4},
            geo::coord! {x: 113.7, y: 34.4},
        );
        let e = expand_rect_by_metres(r, 1000.0);
        // On GRS80 at 34.4°N a degree of longitude is 91 950 m and of latitude 110 902 m, so
        // 1000 m is 0.010875° east and 0.009017° north: the box must reach at least that far.
        assert!(e.max().x - 113.7 >= 0.010875);
        assert!(e.max().y - 34.4 >= 0.009017);
        assert!(e.max().x - 113.7 < 0.0111, "not wastefully large");
    }
}
