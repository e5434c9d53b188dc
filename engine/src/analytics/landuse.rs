//! Land-use check (现状用地与规划符合性): every current land-use feature cut by the planning zones;
//! each piece 符合规划 when its current code is admitted by the planned code, else 不符合规划; the
//! part of a feature no zone covers is 无规划.
use std::collections::BTreeMap;

use geo::{BoundingRect, Geometry, MultiPolygon};
use rayon::prelude::*;
use serde::Serialize;

use super::rules::{Check, Rules};
use super::{area_by, code_field, uncovered};
use crate::access::Caller;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::geometry::{AreaMethod, Measure};
use crate::model::{Feature, Field, FieldType, LayerKind, NewLayer, Schema, Value};
use crate::query::overlay::{intersections, region_polygons};

/// 符合规划 / 不符合规划 / 无规划.
pub const CONFORMS: &str = "符合规划";
/// Planned for another use.
pub const CONFLICTS: &str = "不符合规划";
/// Outside every planning zone.
pub const UNPLANNED: &str = "无规划";

/// One piece: a current feature inside one planning zone (or outside all of them).
#[derive(Debug, Clone, Serialize)]
pub struct LandusePiece {
    /// Feature id in the current land use layer.
    pub current_fid: i64,
    /// Current land-use code.
    pub current_code: String,
    /// Feature id of the planning zone (`None` for 无规划).
    pub zone_fid: Option<i64>,
    /// Planned code.
    pub planned_code: String,
    /// Admin unit.
    pub admin: String,
    /// 符合规划 / 不符合规划 / 无规划.
    pub conformance: &'static str,
    /// Area in m².
    pub area_m2: f64,
    /// The piece.
    #[serde(skip)]
    pub geometry: Geometry<f64>,
}

/// Areas of one group by conformance.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    /// 符合规划 m².
    pub conforming_m2: f64,
    /// 不符合规划 m².
    pub conflicting_m2: f64,
    /// 无规划 m².
    pub unplanned_m2: f64,
}

impl Totals {
    fn add(&mut self, p: &LandusePiece) {
        match p.conformance {
            CONFORMS => self.conforming_m2 += p.area_m2,
            CONFLICTS => self.conflicting_m2 += p.area_m2,
            _ => self.unplanned_m2 += p.area_m2,
        }
    }

    /// All three.
    pub fn total_m2(&self) -> f64 {
        self.conforming_m2 + self.conflicting_m2 + self.unplanned_m2
    }
}

/// The result of a land-use check.
#[derive(Debug, Clone, Serialize)]
pub struct LanduseReport {
    /// Layer versions read.
    pub layer_versions: BTreeMap<String, i64>,
    /// Rules version.
    pub rules_version: String,
    /// `geodesic` or the planar CRS.
    pub area_method: String,
    /// Every piece, by current fid then zone fid.
    pub pieces: Vec<LandusePiece>,
    /// Totals by current land-use code.
    pub by_class: BTreeMap<String, Totals>,
    /// Totals by admin unit.
    pub by_admin: BTreeMap<String, Totals>,
    /// Over everything.
    pub total: Totals,
}

/// Run the land-use check configured in the rules' `[landuse_check]`.
pub fn check(
    engine: &Engine,
    caller: &Caller,
    rules: &Rules,
    method: &AreaMethod,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LanduseReport> {
    engine.authorize_analysis(caller, "landuse")?;
    let cfg = rules
        .landuse
        .as_ref()
        .ok_or_else(|| Error::Analysis("the rules file has no [landuse_check] section".into()))?;
    let current = engine.bound_layer(caller, &cfg.current, None)?;
    let planning = engine.bound_layer(caller, &cfg.planning, None)?;
    let cur_k = code_field(&current, cfg.current_code_field.as_deref())?;
    let zoning_field = rules.zoning().and_then(|r| match &r.check {
        Check::Zoning { code_field: f, .. } if r.layer == cfg.planning => f.clone(),
        _ => None,
    });
    let plan_k = code_field(
        &planning,
        cfg.planning_code_field
            .as_deref()
            .or(zoning_field.as_deref()),
    )?;
    let admin_k = match &cfg.admin_field {
        Some(n) => Some(current.visible_field(n).ok_or_else(|| {
            Error::Analysis(format!(
                "layer '{}' has no field '{n}' (landuse_check.admin_field)",
                cfg.current
            ))
        })?),
        None => None,
    };
    if current.layer.meta.kind != LayerKind::Landuse {
        tracing::warn!(layer = %cfg.current, kind = %current.layer.meta.kind, "land-use check on a layer that is not of kind landuse");
    }
    let sliver = rules.sliver_m2;
    let done = std::sync::atomic::AtomicU64::new(0);
    // The rayon workers run under this request's context: cancelled work stops at a feature.
    let work = crate::context::current();
    let per_feature: Vec<Result<Vec<LandusePiece>>> = (0..current.layer.len() as u32)
        .into_par_iter()
        .map(|i| {
            crate::context::run_in_opt(work.clone(), || {
                crate::context::checkpoint()?;
                let g = current.layer.geometry(i);
                let props = current.layer.properties(i);
                let mut out = Vec::new();
                let Some(region) = region_polygons(g) else {
                    progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                    return Ok(out);
                };
                let code = props[cur_k].to_string();
                let admin = admin_k.map(|k| props[k].to_string()).unwrap_or_default();
                let pieces = intersections(&planning.layer, &region, None)?;
                for p in &pieces {
                    let area = area_by(method, &p.geometry, p.area_m2)?;
                    if area <= sliver {
                        continue;
                    }
                    let planned = planning.layer.properties(p.index)[plan_k].to_string();
                    out.push(LandusePiece {
                        current_fid: current.layer.fid(i),
                        current_code: code.clone(),
                        zone_fid: Some(p.fid),
                        conformance: if rules.compatibility.conforms(&planned, &code) {
                            CONFORMS
                        } else {
                            CONFLICTS
                        },
                        planned_code: planned,
                        admin: admin.clone(),
                        area_m2: area,
                        geometry: p.geometry.clone(),
                    });
                }
                let refs: Vec<&crate::query::overlay::Piece> = pieces.iter().collect();
                let rest: MultiPolygon<f64> = uncovered(&planning.layer, &region, &refs);
                if rest.bounding_rect().is_some() {
                    let rg = Geometry::MultiPolygon(rest);
                    let area = area_by(method, &rg, rg.geodesic_area_m2())?;
                    if area > sliver {
                        out.push(LandusePiece {
                            current_fid: current.layer.fid(i),
                            current_code: code,
                            zone_fid: None,
                            planned_code: String::new(),
                            admin,
                            conformance: UNPLANNED,
                            area_m2: area,
                            geometry: rg,
                        });
                    }
                }
                progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                Ok(out)
            })
        })
        .collect();
    let mut pieces = Vec::new();
    for r in per_feature {
        pieces.extend(r?);
    }
    pieces.sort_by_key(|p| (p.current_fid, p.zone_fid.unwrap_or(i64::MAX)));
    let mut by_class: BTreeMap<String, Totals> = BTreeMap::new();
    let mut by_admin: BTreeMap<String, Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for p in &pieces {
        by_class.entry(p.current_code.clone()).or_default().add(p);
        by_admin.entry(p.admin.clone()).or_default().add(p);
        total.add(p);
    }
    let mut layer_versions = BTreeMap::new();
    layer_versions.insert(cfg.current.clone(), current.layer.meta.version);
    layer_versions.insert(cfg.planning.clone(), planning.layer.meta.version);
    Ok(LanduseReport {
        layer_versions,
        rules_version: rules.version.clone(),
        area_method: match method {
            AreaMethod::Geodesic => "geodesic".into(),
            AreaMethod::Planar(c) => format!("planar {c}"),
        },
        pieces,
        by_class,
        by_admin,
        total,
    })
}

/// The pieces as a new layer (kind `generic`, styled by `conformance`).
pub fn result_layer(report: &LanduseReport, name: &str) -> Result<(NewLayer, Vec<Feature>)> {
    let schema = Schema::new(vec![
        Field::new("conformance", FieldType::Text),
        Field::new("current_code", FieldType::Text),
        Field::new("planned_code", FieldType::Text),
        Field::new("admin", FieldType::Text),
        Field::new("area_m2", FieldType::Float),
        Field::new("current_fid", FieldType::Int),
        Field::new("zone_fid", FieldType::Int),
    ])?;
    let features = report
        .pieces
        .iter()
        .map(|p| {
            Feature::new(
                p.geometry.clone(),
                vec![
                    Value::Text(p.conformance.into()),
                    Value::Text(p.current_code.clone()),
                    Value::Text(p.planned_code.clone()),
                    Value::Text(p.admin.clone()),
                    Value::Float(p.area_m2),
                    Value::Int(p.current_fid),
                    p.zone_fid.map_or(Value::Null, Value::Int),
                ],
            )
        })
        .collect();
    Ok((
        NewLayer {
            name: name.to_string(),
            kind: LayerKind::Generic,
            schema,
            source_crs: "EPSG:4490".into(),
            source: format!(
                "{}landuse ({} vs plan, rules {})",
                super::RESULT_SOURCE,
                report
                    .layer_versions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                report.rules_version
            ),
        },
        features,
    ))
}
