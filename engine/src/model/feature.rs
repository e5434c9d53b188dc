use geo::Geometry;

use super::Value;

/// A feature on its way into the store: a lon/lat geometry (CGCS2000 ≈ WGS84) and property values in
/// the order of the layer's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Geometry in longitude/latitude degrees (EPSG:4490, treated as EPSG:4326).
    pub geometry: Geometry<f64>,
    /// One value per schema field, in schema order.
    pub properties: Vec<Value>,
}

impl Feature {
    /// A feature.
    pub fn new(geometry: Geometry<f64>, properties: Vec<Value>) -> Self {
        Feature {
            geometry,
            properties,
        }
    }
}
