//! Spatial analytics on the loaded layers: approval overlays (合规性审查), land-use checks (现状与规划
//! 符合性) and violation detection (卫片执法), driven by a rules file.
//!
//! * [`rules`]: the TOML rules file, validated on load.
//! * [`approval`]: one proposed red line against every rule → a report with measured quantities.
//! * [`landuse`]: current land use against the plan, piece by piece → a new layer and tables.
//! * [`violations`]: change patches against approvals, forbidden zones and the plan → a new layer.
//! * [`report`]: GeoJSON of conflicts and a printable Chinese HTML report with an SVG map.
//! * [`table`]: CSV and XLSX writers for the tabular outputs.
//!
//! Geometry is exact: polygon overlay with geo's boolean operations, areas on the CGCS2000
//! ellipsoid (or planar Gauss–Krüger on request), distances in a local metric frame (mm at city
//! scale). Pieces smaller than the rules' `sliver_m2` are slivers and ignored.
/// How an analysis result layer's `source` starts (violations and land-use results): such a
/// layer may be replaced by another result; any other layer may not.
pub const RESULT_SOURCE: &str = "onemap check ";

pub mod approval;
pub mod landuse;
pub mod report;
pub mod rules;
pub mod table;
pub mod violations;

use geo::{BooleanOps, Geometry, MultiPolygon};
use serde::Serialize;

use crate::engine::BoundLayer;
use crate::error::{Error, Result};
use crate::geometry::{
    AreaMethod, Measure, area_m2, check_lonlat, invalid_reason, repair_polygonal,
};
use crate::index::LoadedLayer;
use crate::model::LayerKind;
use crate::query::overlay::{Piece, polygons_of, region_polygons};

pub use rules::Rules;

/// The outcome of a rule (ordered from best to worst, so the overall result is the maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not checked because the proposal does not give what the rule compares (a use code,
    /// indicators): does not hold up the conclusion.
    NotGiven,
    /// No conflict.
    Pass,
    /// Not checked (a layer or an input is missing); the report cannot pass.
    Skipped,
    /// Needs another authority's sign-off.
    Review,
    /// A conflict.
    Fail,
}

impl Status {
    /// The Chinese label used in reports.
    pub fn zh(self) -> &'static str {
        match self {
            Status::NotGiven => "未提供",
            Status::Pass => "通过",
            Status::Skipped => "未检查",
            Status::Review => "需会审",
            Status::Fail => "不通过",
        }
    }

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotGiven => "not_given",
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::Review => "review",
            Status::Fail => "fail",
        }
    }
}

/// m² per 亩.
pub const M2_PER_MU: f64 = 10_000.0 / 15.0;

/// A proposed site (red line): valid polygons in lon/lat and their area.
#[derive(Debug, Clone)]
pub struct Site {
    /// The red line.
    pub polygons: MultiPolygon<f64>,
    /// Its area in m² by the report's method.
    pub area_m2: f64,
}

impl Site {
    /// A site from a lon/lat geometry (polygon, multipolygon or a collection of them). An invalid
    /// polygon is an error with the reason unless `repair` is set, in which case it is rebuilt as
    /// the importers do.
    pub fn new(geometry: &Geometry<f64>, repair: bool, method: &AreaMethod) -> Result<Site> {
        if let Some(reason) = check_lonlat(geometry) {
            return Err(Error::Analysis(format!("the red line: {reason}")));
        }
        let polygons = region_polygons(geometry).ok_or_else(|| {
            Error::Analysis("the red line must be a polygon or multipolygon".into())
        })?;
        let g = Geometry::MultiPolygon(polygons);
        let g = match invalid_reason(&g) {
            None => g,
            Some(reason) if !repair => {
                return Err(Error::Analysis(format!(
                    "the red line is not a valid polygon: {reason} (repair it, or ask for --repair)"
                )));
            }
            Some(reason) => repair_polygonal(&g).ok_or_else(|| {
                Error::Analysis(format!(
                    "the red line is not a valid polygon and cannot be repaired: {reason}"
                ))
            })?,
        };
        let polygons = region_polygons(&g)
            .ok_or_else(|| Error::Analysis("the red line has no area".into()))?;
        let area_m2 = area_m2(&Geometry::MultiPolygon(polygons.clone()), *method)?;
        if area_m2 <= 0.0 {
            return Err(Error::Analysis("the red line has no area".into()));
        }
        Ok(Site { polygons, area_m2 })
    }
}

/// Area of a lon/lat geometry by `method`, reusing a geodesic figure already computed.
fn area_by(method: &AreaMethod, g: &Geometry<f64>, geodesic: f64) -> Result<f64> {
    match method {
        AreaMethod::Geodesic => Ok(geodesic),
        m => area_m2(g, *m),
    }
}

/// The union of the original polygons of `pieces`' features (each overlay rounds its output to
/// its own integer grid, so results are computed from the originals in one more operation, never
/// chained from earlier pieces: chained outputs leave µm slivers whose long geodesic edges bend
/// areas by m²).
fn cover_of(layer: &LoadedLayer, pieces: &[&Piece]) -> MultiPolygon<f64> {
    let polys: Vec<geo::Polygon<f64>> = pieces
        .iter()
        .filter_map(|p| polygons_of(layer.geometry(p.index)))
        .flat_map(|m| m.0)
        .collect();
    match polys.len() {
        0 => MultiPolygon::new(Vec::new()),
        1 => MultiPolygon::new(polys),
        _ => geo::unary_union(&polys),
    }
}

/// Area of `region` covered by the features of `pieces` (overlaps counted once), by `method`.
fn covered_area(
    layer: &LoadedLayer,
    region: &MultiPolygon<f64>,
    pieces: &[&Piece],
    method: &AreaMethod,
) -> Result<f64> {
    match pieces {
        [] => Ok(0.0),
        [one] => area_by(method, &one.geometry, one.area_m2),
        many => {
            let inter = Geometry::MultiPolygon(region.intersection(&cover_of(layer, many)));
            area_by(method, &inter, inter.geodesic_area_m2())
        }
    }
}

/// The part of `region` outside every feature of `pieces`.
fn uncovered(
    layer: &LoadedLayer,
    region: &MultiPolygon<f64>,
    pieces: &[&Piece],
) -> MultiPolygon<f64> {
    if pieces.is_empty() {
        return region.clone();
    }
    region.difference(&cover_of(layer, pieces))
}

/// SHA-256 (hex) of a JSON value's text: the input hash recorded with a run.
pub fn digest_json(v: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    crate::hex(&Sha256::digest(v.to_string().as_bytes()))
}

/// A lon/lat geometry as a GeoJSON geometry object.
pub fn geometry_json(g: &Geometry<f64>) -> serde_json::Value {
    serde_json::to_value(geojson::Geometry::new(geojson::GeometryValue::from(g)))
        .unwrap_or(serde_json::Value::Null)
}

/// The land-use code field of a planning or land-use layer: `explicit` if given (it must exist and
/// be visible), else the kind's code field.
fn code_field(layer: &BoundLayer, explicit: Option<&str>) -> Result<usize> {
    let meta = &layer.layer.meta;
    let name = match explicit {
        Some(n) => n.to_string(),
        None => {
            let kind = match meta.kind {
                LayerKind::Planning | LayerKind::Landuse => meta.kind,
                _ => LayerKind::Planning,
            };
            kind.style_field(&meta.schema)
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::Analysis(format!(
                        "layer '{}' has no land-use code field (one of {}); name it with code_field",
                        meta.name,
                        kind.style_field_candidates().join(", ")
                    ))
                })?
        }
    };
    layer
        .visible_field(&name)
        .ok_or_else(|| Error::Analysis(format!("layer '{}' has no field '{name}'", meta.name)))
}

/// The visible key attributes of feature `i`: the kind's styling field and the named extras.
fn key_attributes(
    layer: &BoundLayer,
    i: u32,
    extra: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    let meta = &layer.layer.meta;
    let props = layer.layer.properties(i);
    let mut out = serde_json::Map::new();
    let mut names: Vec<&str> = Vec::new();
    if let Some(f) = meta.kind.style_field(&meta.schema) {
        names.push(f);
    }
    for (req, _) in meta.kind.required_fields() {
        if let Some(f) = meta.schema.field(req) {
            names.push(f.name.as_str());
        }
    }
    names.extend(extra.iter().map(String::as_str));
    for n in names {
        if let Some(k) = layer.visible_field(n) {
            let name = meta.schema.fields()[k].name.clone();
            out.entry(name).or_insert_with(|| props[k].to_json());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn site_rejects_invalid_and_repairs_on_request() {
        let bowtie = Geometry::Polygon(polygon![
            (x: 113.0, y: 34.0), (x: 113.01, y: 34.01), (x: 113.01, y: 34.0), (x: 113.0, y: 34.01), (x: 113.0, y: 34.0)
        ]);
        let e = Site::new(&bowtie, false, &AreaMethod::Geodesic)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid polygon"), "{e}");
        let s = Site::new(&bowtie, true, &AreaMethod::Geodesic).unwrap();
        assert_eq!(s.polygons.0.len(), 2);
        assert!(s.area_m2 > 0.0);
        let line = Geometry::LineString(geo::LineString::from(vec![(113.0, 34.0), (113.1, 34.0)]));
        assert!(Site::new(&line, true, &AreaMethod::Geodesic).is_err());
        let far = Geometry::Polygon(
            polygon![(x: 500.0, y: 34.0), (x: 501.0, y: 34.0), (x: 501.0, y: 35.0)],
        );
        assert!(
            Site::new(&far, false, &AreaMethod::Geodesic)
                .unwrap_err()
                .to_string()
                .contains("longitude")
        );
    }
}
