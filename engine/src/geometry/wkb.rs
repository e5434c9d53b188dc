//! Geometry ↔ WKB (the store's geometry column), via geozero.
use geo::Geometry;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};

/// Encode as ISO WKB, 2D.
pub fn to_wkb(g: &Geometry<f64>) -> Result<Vec<u8>, String> {
    g.to_wkb(CoordDimensions::xy()).map_err(|e| e.to_string())
}

/// Decode WKB.
pub fn from_wkb(bytes: &[u8]) -> Result<Geometry<f64>, String> {
    super::nesting::check_wkb(bytes, super::nesting::MAX_DEPTH)?;
    Wkb(bytes).to_geo().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn round_trip() {
        let g: Geometry<f64> = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 0.2, y: 0.1), (x: 0.8, y: 0.1), (x: 0.8, y: 0.7), (x: 0.2, y: 0.1)]],
        )
        .into();
        assert_eq!(from_wkb(&to_wkb(&g).unwrap()).unwrap(), g);
        assert!(from_wkb(&[1, 2, 3]).is_err());
    }
}
