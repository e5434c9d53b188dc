//! Cheap checks every stored geometry passes: finite lon/lat in range, not empty; and the
//! clamping of rounding noise just outside that range.
use geo::{CoordsIter, Geometry, MapCoordsInPlace};

/// How far beyond ±180° / ±90° a coordinate may be and still count as rounding noise (about
/// 1 cm). Natural Earth's countries carry longitude `180.00000000000006`: a reprojection or a
/// decimal round trip away from 180, not a wrong CRS.
pub const LONLAT_NOISE: f64 = 1e-7;

/// Clamps coordinates at most [`LONLAT_NOISE`] beyond the lon/lat range onto it and returns the
/// largest distance moved in degrees (0 when nothing moved). Coordinates further out are left
/// for [`check_lonlat`] to refuse.
pub fn clamp_lonlat_noise(g: &mut Geometry<f64>) -> f64 {
    fn noise(v: f64, limit: f64) -> Option<f64> {
        let excess = v.abs() - limit;
        (excess > 0.0 && excess <= LONLAT_NOISE).then_some(excess)
    }
    fn clamp(v: f64, limit: f64) -> f64 {
        if noise(v, limit).is_some() {
            limit.copysign(v)
        } else {
            v
        }
    }
    let moved = g
        .coords_iter()
        .flat_map(|c| [noise(c.x, 180.0), noise(c.y, 90.0)])
        .flatten()
        .fold(0.0f64, f64::max);
    if moved > 0.0 {
        g.map_coords_in_place(|c| geo::Coord {
            x: clamp(c.x, 180.0),
            y: clamp(c.y, 90.0),
        });
    }
    moved
}

/// Why a lon/lat geometry cannot be stored, or `None` when it can.
pub fn check_lonlat(g: &Geometry<f64>) -> Option<String> {
    let mut n = 0usize;
    for c in g.coords_iter() {
        n += 1;
        if !c.x.is_finite() || !c.y.is_finite() {
            return Some(format!(
                "coordinate {n} is not a finite number ({}, {})",
                c.x, c.y
            ));
        }
        if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
            return Some(format!(
                "coordinate {n} ({}, {}) is outside longitude/latitude range; is the CRS right?",
                c.x, c.y
            ));
        }
    }
    if n == 0 {
        return Some("geometry is empty".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, line_string, point};

    #[test]
    fn rounding_noise_is_clamped_and_nothing_else() {
        // Natural Earth's countries: Fiji and Russia end at this longitude.
        let mut g: Geometry<f64> = line_string![
            (x: 180.00000000000006, y: -16.0),
            (x: -180.00000000000006, y: 90.00000001),
            (x: 113.7, y: 34.4),
        ]
        .into();
        let moved = clamp_lonlat_noise(&mut g);
        assert!(moved > 0.0 && moved <= 1e-8, "{moved}");
        let cs: Vec<_> = g.coords_iter().collect();
        assert_eq!((cs[0].x, cs[0].y), (180.0, -16.0));
        assert_eq!((cs[1].x, cs[1].y), (-180.0, 90.0));
        assert_eq!((cs[2].x, cs[2].y), (113.7, 34.4));
        assert!(check_lonlat(&g).is_none());
        // Inside the range: untouched. Beyond the noise: untouched, and refused.
        let mut inside: Geometry<f64> = point!(x: 180.0, y: -90.0).into();
        assert_eq!(clamp_lonlat_noise(&mut inside), 0.0);
        let mut far: Geometry<f64> = point!(x: 180.001, y: 0.0).into();
        assert_eq!(clamp_lonlat_noise(&mut far), 0.0);
        assert_eq!(far, point!(x: 180.001, y: 0.0).into());
        assert!(check_lonlat(&far).is_some());
        let mut projected: Geometry<f64> = point!(x: 476093.0, y: 3808062.0).into();
        assert_eq!(clamp_lonlat_noise(&mut projected), 0.0);
    }

    #[test]
    fn flags_bad_coordinates() {
        assert!(check_lonlat(&point!(x: 113.7, y: 34.4).into()).is_none());
        assert!(
            check_lonlat(&point!(x: f64::NAN, y: 34.4).into())
                .unwrap()
                .contains("finite")
        );
        assert!(
            check_lonlat(&point!(x: 476093.0, y: 3808062.0).into())
                .unwrap()
                .contains("CRS")
        );
        assert!(
            check_lonlat(&MultiPolygon::<f64>(vec![]).into())
                .unwrap()
                .contains("empty")
        );
    }
}
