use std::fmt;

use geo::Rect;
use serde::{Deserialize, Serialize};

use super::{LayerKind, Schema};
use crate::error::Error;

/// What sort of geometry a layer holds (summarised over its features).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeometryType {
    /// Points and multipoints.
    Point,
    /// Lines and multilines.
    Line,
    /// Polygons and multipolygons.
    Polygon,
    /// A mix, or collections.
    Mixed,
    /// No features yet.
    Empty,
}

impl GeometryType {
    /// The class of one geometry.
    pub fn of(g: &geo::Geometry<f64>) -> GeometryType {
        use geo::Geometry::*;
        match g {
            Point(_) | MultiPoint(_) => GeometryType::Point,
            Line(_) | LineString(_) | MultiLineString(_) => GeometryType::Line,
            Polygon(_) | MultiPolygon(_) | Rect(_) | Triangle(_) => GeometryType::Polygon,
            GeometryCollection(_) => GeometryType::Mixed,
        }
    }

    /// Combine the running summary with one more geometry's class.
    pub fn merge(self, other: GeometryType) -> GeometryType {
        match (self, other) {
            (GeometryType::Empty, o) => o,
            (s, o) if s == o => s,
            _ => GeometryType::Mixed,
        }
    }

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            GeometryType::Point => "point",
            GeometryType::Line => "line",
            GeometryType::Polygon => "polygon",
            GeometryType::Mixed => "mixed",
            GeometryType::Empty => "empty",
        }
    }

    pub(crate) fn parse(s: &str) -> GeometryType {
        match s {
            "point" => GeometryType::Point,
            "line" => GeometryType::Line,
            "polygon" => GeometryType::Polygon,
            "mixed" => GeometryType::Mixed,
            _ => GeometryType::Empty,
        }
    }
}

impl fmt::Display for GeometryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller supplies to create or replace a layer.
#[derive(Debug, Clone)]
pub struct NewLayer {
    /// Layer name (letters incl. CJK, digits, `_`, `-`, `.`).
    pub name: String,
    /// Kind.
    pub kind: LayerKind,
    /// Attribute schema.
    pub schema: Schema,
    /// CRS the source data was in before reprojection to lon/lat, e.g. `EPSG:4547`.
    pub source_crs: String,
    /// Free text: where the data came from (file name, department).
    pub source: String,
}

/// A layer as the catalog records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerMeta {
    /// Layer name.
    pub name: String,
    /// Kind.
    pub kind: LayerKind,
    /// Version, starting at 1, incremented on every write.
    pub version: i64,
    /// Attribute schema.
    pub schema: Schema,
    /// CRS of the source data (features are stored in lon/lat).
    pub source_crs: String,
    /// Where the data came from.
    pub source: String,
    /// Summary of the geometry types.
    pub geometry_type: GeometryType,
    /// Number of features.
    pub feature_count: u64,
    /// Bounds in lon/lat, `None` for an empty layer.
    #[serde(serialize_with = "ser_bounds")]
    pub bounds: Option<Rect<f64>>,
    /// When this version was written (UTC, RFC 3339).
    pub updated_at: String,
    /// The department that produced the layer (who created it), if known: it may write it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The DuckDB table holding this version.
    #[serde(skip)]
    pub table: String,
}

impl LayerMeta {
    /// The same entry with only the fields marked `true` in `keep` (by schema position): what a
    /// caller who may not see the others is shown.
    pub fn with_fields(mut self, keep: &[bool]) -> LayerMeta {
        let fields = self
            .schema
            .fields()
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(f, _)| f.clone())
            .collect();
        // A subset of a valid schema is valid.
        if let Ok(s) = super::Schema::new(fields) {
            self.schema = s;
        }
        self
    }
}

fn ser_bounds<S: serde::Serializer>(b: &Option<Rect<f64>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(r) => [r.min().x, r.min().y, r.max().x, r.max().y].serialize(s),
        None => s.serialize_none(),
    }
}

/// Check a layer name: 1–64 characters, letters (including CJK), digits, `_`, `-` and `.`, not
/// starting with `.` or `-`. Names appear in URLs (`/tiles/{a},{b}/...`), so no `,` `/` or spaces.
pub fn validate_layer_name(name: &str) -> Result<(), Error> {
    let bad = |reason: &str| {
        Err(Error::InvalidLayerName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.chars().count() > 64 {
        return bad("it is longer than 64 characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("it starts with '.' or '-'");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return bad(&format!(
            "character {c:?} is not allowed (use letters, digits, '_', '-', '.')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names() {
        assert!(validate_layer_name("parcels").is_ok());
        assert!(validate_layer_name("地籍_2024").is_ok());
        assert!(validate_layer_name("a,b").is_err());
        assert!(validate_layer_name("a b").is_err());
        assert!(validate_layer_name("../x").is_err());
        assert!(validate_layer_name("").is_err());
    }

    #[test]
    fn geometry_type_merge() {
        let t = GeometryType::Empty
            .merge(GeometryType::Polygon)
            .merge(GeometryType::Polygon);
        assert_eq!(t, GeometryType::Polygon);
        assert_eq!(t.merge(GeometryType::Line), GeometryType::Mixed);
    }
}
