//! File formats, one module each. Every reader yields features in file order with their 0-based
//! index, geometry in the file's CRS and properties as (name, value) pairs.
pub mod geojson;

use onemap_engine::model::Value;

/// One feature as read from a file, before reprojection and schema binding.
#[derive(Debug, Clone)]
pub struct RawFeature {
    /// 0-based position in the file.
    pub index: usize,
    /// Geometry in the file's CRS (`None` when the feature has none).
    pub geometry: Option<geo::Geometry<f64>>,
    /// Properties in file order.
    pub properties: Vec<(String, Value)>,
}
