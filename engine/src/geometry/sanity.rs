//! Cheap checks every stored geometry passes: finite lon/lat in range, not empty.
use geo::{CoordsIter, Geometry};

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
    use geo::{MultiPolygon, point};

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
