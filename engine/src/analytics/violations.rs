//! Violation detection (卫片执法): every change patch against approvals (permit red lines), the
//! forbidding and review rules, the plan and the configured measures.
//!
//! A patch is
//! * 疑似违法 when it lies in a forbidden zone (any `forbid` rule, beyond the sliver area), or it
//!   is partly covered by approvals but more than the tolerance lies outside them (超出批准红线),
//!   or nothing approves it and its new land class is construction land (未批先建);
//! * 合法 when approvals cover it: the part outside every approval is at most `tolerance_m2` or at
//!   most `tolerance_share` of the patch (either tolerance suffices: a fixed one for small
//!   digitising offsets, a proportional one for large patches);
//! * 待核查 otherwise (no approval and not construction land, or no land class: maybe a false
//!   change, left for a field check).
use std::collections::BTreeMap;

use geo::{Geometry, MultiPolygon};
use rayon::prelude::*;
use serde::Serialize;

use super::approval::open_layer;
use super::rules::{Check, Rules, ViolationConfig};
use super::{M2_PER_MU, area_by, code_field, covered_area};
use crate::access::Caller;
use crate::engine::{BoundLayer, Engine};
use crate::error::{Error, Result};
use crate::geometry::{AreaMethod, Measure};
use crate::model::{Feature, Field, FieldType, LayerKind, NewLayer, Schema, Value};
use crate::query::overlay::{intersections, region_polygons};

/// 合法 / 疑似违法 / 待核查.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PatchClass {
    /// Covered by an approval.
    #[serde(rename = "合法")]
    Legal,
    /// Needs a field check.
    #[serde(rename = "待核查")]
    Check,
    /// Suspected violation.
    #[serde(rename = "疑似违法")]
    Suspected,
}

impl PatchClass {
    /// The Chinese label.
    pub fn zh(self) -> &'static str {
        match self {
            PatchClass::Legal => "合法",
            PatchClass::Check => "待核查",
            PatchClass::Suspected => "疑似违法",
        }
    }

    /// All classes, in report order.
    pub const ALL: [PatchClass; 3] = [PatchClass::Suspected, PatchClass::Check, PatchClass::Legal];
}

/// The verdict on one patch.
#[derive(Debug, Clone, Serialize)]
pub struct PatchResult {
    /// Feature id in the patch layer.
    pub fid: i64,
    /// Patch id (监测编号), or the fid.
    pub id: String,
    /// Admin unit.
    pub admin: String,
    /// Verdict.
    pub class: PatchClass,
    /// Why, in Chinese.
    pub reasons: Vec<String>,
    /// Patch area in m².
    pub area_m2: f64,
    /// Area covered by approvals in m².
    pub approved_m2: f64,
    /// Area outside every approval in m².
    pub outside_approval_m2: f64,
    /// Permits that cover part of it.
    pub permits: Vec<String>,
    /// Area inside each forbid / review rule's zones, by rule id.
    pub zones_m2: BTreeMap<String, f64>,
    /// Each configured measure, by id.
    pub measures_m2: BTreeMap<String, f64>,
    /// 符合规划 / 不符合规划 / 无规划 / 未知 (no land class after).
    pub plan: String,
    /// Area whose planned use does not admit the new land class, m².
    pub plan_nonconforming_m2: f64,
    /// The patch.
    #[serde(skip)]
    pub geometry: Geometry<f64>,
}

/// Counts and areas of one class in one admin unit.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClassSummary {
    /// Patches.
    pub count: usize,
    /// Their area in m².
    pub area_m2: f64,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct ViolationReport {
    /// Patch layer and version.
    pub patches_layer: String,
    /// Layer versions read.
    pub layer_versions: BTreeMap<String, i64>,
    /// Rules version.
    pub rules_version: String,
    /// Rules digest.
    pub rules_digest: String,
    /// `geodesic` or the planar CRS.
    pub area_method: String,
    /// Rules that could not be applied, and why.
    pub skipped: Vec<String>,
    /// Per patch, in fid order.
    pub patches: Vec<PatchResult>,
    /// Per admin unit, per class.
    pub by_admin: BTreeMap<String, BTreeMap<String, ClassSummary>>,
    /// Per class over everything.
    pub totals: BTreeMap<String, ClassSummary>,
}

impl ViolationReport {
    /// Number of patches in a class.
    pub fn count(&self, class: PatchClass) -> usize {
        self.patches.iter().filter(|p| p.class == class).count()
    }
}

struct ZoneRule {
    id: String,
    name: String,
    forbid: bool,
    layer: BoundLayer,
}

/// Run violation detection on a patch layer (`None`: the rules' default). `progress` is called
/// with the number of patches done so far (from worker threads).
pub fn detect(
    engine: &Engine,
    caller: &Caller,
    rules: &Rules,
    patches: Option<&str>,
    method: &AreaMethod,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ViolationReport> {
    engine.authorize_analysis(caller, "violations")?;
    let cfg: &ViolationConfig = rules
        .violations
        .as_ref()
        .ok_or_else(|| Error::Analysis("the rules file has no [violations] section".into()))?;
    let patch_name = patches.unwrap_or(&cfg.patches);
    let patch_layer = engine.bound_layer(caller, patch_name, None)?;
    let mut versions = BTreeMap::new();
    versions.insert(patch_name.to_string(), patch_layer.layer.meta.version);
    let approvals = engine
        .bound_layer(caller, &cfg.approvals, cfg.approvals_filter.as_ref())
        .map_err(|e| Error::Analysis(format!("approvals layer '{}': {e}", cfg.approvals)))?;
    versions.insert(cfg.approvals.clone(), approvals.layer.meta.version);
    let permit_k = LayerKind::Approval
        .required_fields()
        .iter()
        .find_map(|(f, _)| approvals.visible_field(f));

    let mut skipped = Vec::new();
    let mut zones = Vec::new();
    for rule in &rules.rules {
        let forbid = match rule.check {
            Check::Forbid => true,
            Check::Review => false,
            _ => continue,
        };
        match open_layer(engine, caller, &rule.layer, rule.filter.as_ref()) {
            Ok(layer) => {
                versions.insert(rule.layer.clone(), layer.layer.meta.version);
                zones.push(ZoneRule {
                    id: rule.id.clone(),
                    name: rule.name.clone(),
                    forbid,
                    layer,
                });
            }
            Err(m) => skipped.push(format!("{}：{m}", rule.id)),
        }
    }
    let mut measures = Vec::new();
    for m in &cfg.measures {
        match open_layer(engine, caller, &m.layer, m.filter.as_ref()) {
            Ok(layer) => {
                versions.insert(m.layer.clone(), layer.layer.meta.version);
                measures.push((m.id.clone(), layer));
            }
            Err(e) => skipped.push(format!("{}：{e}", m.id)),
        }
    }
    let plan = match rules.zoning() {
        Some(rule) => match open_layer(engine, caller, &rule.layer, rule.filter.as_ref()) {
            Ok(layer) => {
                let field = match &rule.check {
                    Check::Zoning { code_field: f, .. } => f.clone(),
                    _ => None,
                };
                match code_field(&layer, field.as_deref()) {
                    Ok(k) => {
                        versions.insert(rule.layer.clone(), layer.layer.meta.version);
                        Some((layer, k))
                    }
                    Err(e) => {
                        skipped.push(format!("{}：{e}", rule.id));
                        None
                    }
                }
            }
            Err(m) => {
                skipped.push(format!("{}：{m}", rule.id));
                None
            }
        },
        None => None,
    };

    let meta = &patch_layer.layer.meta;
    let field_k =
        |name: &Option<String>| name.as_deref().and_then(|n| patch_layer.visible_field(n));
    let id_k = field_k(&cfg.id_field);
    let admin_k = field_k(&cfg.admin_field);
    let after_k = field_k(&cfg.class_after_field).or_else(|| {
        LayerKind::ChangePatch
            .recommended_fields()
            .iter()
            .find(|(f, _)| *f == "land_class_after")
            .and_then(|(f, _)| patch_layer.visible_field(f))
    });
    for (what, name, k) in [
        ("id_field", &cfg.id_field, id_k),
        ("admin_field", &cfg.admin_field, admin_k),
        ("class_after_field", &cfg.class_after_field, after_k),
    ] {
        if let Some(n) = name
            && k.is_none()
        {
            skipped.push(format!(
                "violations.{what}：图层 '{}' 没有字段 '{n}'",
                meta.name
            ));
        }
    }

    let done = std::sync::atomic::AtomicU64::new(0);
    let ctx = Ctx {
        cfg,
        rules,
        method,
        approvals: &approvals,
        permit_k,
        zones: &zones,
        measures: &measures,
        plan: plan.as_ref(),
    };
    // The rayon workers run under this request's context: cancelled work stops at a patch.
    let work = crate::context::current();
    let results: Vec<Result<PatchResult>> = (0..patch_layer.layer.len() as u32)
        .into_par_iter()
        .map(|i| {
            crate::context::run_in_opt(work.clone(), crate::context::checkpoint)?;
            let props = patch_layer.layer.properties(i);
            let text = |k: Option<usize>| k.map(|k| props[k].to_string()).unwrap_or_default();
            let fid = patch_layer.layer.fid(i);
            let id = id_k
                .map(|k| props[k].to_string())
                .unwrap_or_else(|| fid.to_string());
            let r = crate::context::run_in_opt(work.clone(), || {
                ctx.judge(
                    fid,
                    id,
                    text(admin_k),
                    text(after_k),
                    patch_layer.layer.geometry(i),
                )
            });
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n);
            r
        })
        .collect();
    let mut patches: Vec<PatchResult> = results.into_iter().collect::<Result<_>>()?;
    patches.sort_by_key(|p| p.fid);

    let mut by_admin: BTreeMap<String, BTreeMap<String, ClassSummary>> = BTreeMap::new();
    let mut totals: BTreeMap<String, ClassSummary> = BTreeMap::new();
    for p in &patches {
        for t in [
            by_admin
                .entry(p.admin.clone())
                .or_default()
                .entry(p.class.zh().to_string())
                .or_default(),
            totals.entry(p.class.zh().to_string()).or_default(),
        ] {
            t.count += 1;
            t.area_m2 += p.area_m2;
        }
    }
    Ok(ViolationReport {
        patches_layer: patch_name.to_string(),
        layer_versions: versions,
        rules_version: rules.version.clone(),
        rules_digest: rules.digest.clone(),
        area_method: match method {
            AreaMethod::Geodesic => "geodesic".into(),
            AreaMethod::Planar(c) => format!("planar {c}"),
        },
        skipped,
        patches,
        by_admin,
        totals,
    })
}

struct Ctx<'a> {
    cfg: &'a ViolationConfig,
    rules: &'a Rules,
    method: &'a AreaMethod,
    approvals: &'a BoundLayer,
    permit_k: Option<usize>,
    zones: &'a [ZoneRule],
    measures: &'a [(String, BoundLayer)],
    plan: Option<&'a (BoundLayer, usize)>,
}

impl Ctx<'_> {
    /// Union area of a layer's (filtered) features inside the patch, and the pieces' indices.
    fn inside(&self, layer: &BoundLayer, patch: &MultiPolygon<f64>) -> Result<(f64, Vec<u32>)> {
        let pieces = intersections(&layer.layer, patch, layer.filter.as_ref())?;
        let refs: Vec<&crate::query::overlay::Piece> = pieces.iter().collect();
        let area = covered_area(&layer.layer, patch, &refs, self.method)?;
        Ok((area, pieces.iter().map(|p| p.index).collect()))
    }

    fn judge(
        &self,
        fid: i64,
        id: String,
        admin: String,
        after: String,
        g: &Geometry<f64>,
    ) -> Result<PatchResult> {
        let sliver = self.rules.sliver_m2;
        let mut r = PatchResult {
            fid,
            id,
            admin,
            class: PatchClass::Check,
            reasons: Vec::new(),
            area_m2: 0.0,
            approved_m2: 0.0,
            outside_approval_m2: 0.0,
            permits: Vec::new(),
            zones_m2: BTreeMap::new(),
            measures_m2: BTreeMap::new(),
            plan: String::new(),
            plan_nonconforming_m2: 0.0,
            geometry: g.clone(),
        };
        let Some(patch) = region_polygons(g) else {
            r.reasons.push("图斑不是面要素，无法分析".into());
            return Ok(r);
        };
        r.area_m2 = area_by(self.method, g, g.geodesic_area_m2())?;
        if r.area_m2 <= 0.0 {
            r.reasons.push("图斑面积为零".into());
            return Ok(r);
        }
        let (approved, hits) = self.inside(self.approvals, &patch)?;
        r.approved_m2 = approved.min(r.area_m2);
        r.outside_approval_m2 = (r.area_m2 - r.approved_m2).max(0.0);
        if let Some(k) = self.permit_k {
            r.permits = hits
                .iter()
                .map(|&i| self.approvals.layer.properties(i)[k].to_string())
                .collect();
        }
        let mut forbidden = Vec::new();
        let mut review = Vec::new();
        for z in self.zones {
            let (a, _) = self.inside(&z.layer, &patch)?;
            r.zones_m2.insert(z.id.clone(), a);
            if a > sliver {
                let text = format!("{} {:.2} m²（{:.2} 亩）", z.name, a, a / M2_PER_MU);
                if z.forbid {
                    forbidden.push(format!("占用{text}"));
                } else {
                    review.push(format!("位于{text}"));
                }
            }
        }
        for (mid, layer) in self.measures {
            let (a, _) = self.inside(layer, &patch)?;
            r.measures_m2.insert(mid.clone(), a);
        }
        r.plan = match self.plan {
            None => "未检查".into(),
            Some(_) if after.is_empty() => "未知".into(),
            Some((layer, k)) => {
                let pieces = intersections(&layer.layer, &patch, layer.filter.as_ref())?;
                let mut covered = 0.0;
                for p in &pieces {
                    let a = area_by(self.method, &p.geometry, p.area_m2)?;
                    covered += a;
                    let planned = layer.layer.properties(p.index)[*k].to_string();
                    if !self.rules.compatibility.conforms(&planned, &after) {
                        r.plan_nonconforming_m2 += a;
                    }
                }
                if covered <= sliver {
                    "无规划".into()
                } else if r.plan_nonconforming_m2 > sliver {
                    "不符合规划".into()
                } else {
                    "符合规划".into()
                }
            }
        };
        let outside_share = r.outside_approval_m2 / r.area_m2;
        let covered = r.approved_m2 > sliver
            && (r.outside_approval_m2 <= self.cfg.tolerance_m2
                || outside_share <= self.cfg.tolerance_share);
        let construction = !after.is_empty()
            && self
                .cfg
                .construction_prefixes
                .iter()
                .any(|p| after.starts_with(p.as_str()));
        if !forbidden.is_empty() {
            r.class = PatchClass::Suspected;
            r.reasons.extend(forbidden);
            if r.approved_m2 <= sliver {
                r.reasons.push("无审批".into());
            }
        } else if covered {
            r.class = PatchClass::Legal;
            r.reasons
                .push(format!("在批准红线内（{}）", r.permits.join("、")));
        } else if r.approved_m2 > sliver {
            r.class = PatchClass::Suspected;
            r.reasons.push(format!(
                "超出批准红线 {:.2} m²（{:.1}%）",
                r.outside_approval_m2,
                outside_share * 100.0
            ));
        } else if construction {
            r.class = PatchClass::Suspected;
            r.reasons.push(format!("未批先建（变化后地类 {after}）"));
        } else {
            r.class = PatchClass::Check;
            r.reasons.push(if after.is_empty() {
                "无审批，缺少变化后地类，需实地核查".to_string()
            } else {
                format!("无审批，变化后地类 {after} 非建设用地，可能为伪变化，需实地核查")
            });
        }
        r.reasons.extend(review);
        if r.plan == "不符合规划" {
            r.reasons
                .push(format!("不符合规划 {:.2} m²", r.plan_nonconforming_m2));
        }
        Ok(r)
    }
}

/// The result as a new layer: the patch geometries with the verdict, reasons and areas (kind
/// `change_patch`, styled by `status`).
pub fn result_layer(
    report: &ViolationReport,
    name: &str,
    rules: &Rules,
) -> Result<(NewLayer, Vec<Feature>)> {
    let zone_ids: Vec<String> = rules
        .rules
        .iter()
        .filter(|r| matches!(r.check, Check::Forbid | Check::Review))
        .map(|r| r.id.clone())
        .collect();
    let measure_ids: Vec<String> = rules
        .violations
        .as_ref()
        .map(|v| v.measures.iter().map(|m| m.id.clone()).collect())
        .unwrap_or_default();
    let mut fields = vec![
        Field::new("JCBH", FieldType::Text),
        Field::new("XZQDM", FieldType::Text),
        Field::new("status", FieldType::Text),
        Field::new("reasons", FieldType::Text),
        Field::new("area_m2", FieldType::Float),
        Field::new("approved_m2", FieldType::Float),
        Field::new("outside_approval_m2", FieldType::Float),
        Field::new("permits", FieldType::Text),
        Field::new("plan", FieldType::Text),
        Field::new("plan_nonconforming_m2", FieldType::Float),
        Field::new("source_fid", FieldType::Int),
    ];
    for z in &zone_ids {
        fields.push(Field::new(format!("{z}_m2"), FieldType::Float));
    }
    for m in &measure_ids {
        fields.push(Field::new(m.clone(), FieldType::Float));
    }
    let schema = Schema::new(fields)?;
    let features = report
        .patches
        .iter()
        .map(|p| {
            let mut v = vec![
                Value::Text(p.id.clone()),
                Value::Text(p.admin.clone()),
                Value::Text(p.class.zh().into()),
                Value::Text(p.reasons.join("；")),
                Value::Float(p.area_m2),
                Value::Float(p.approved_m2),
                Value::Float(p.outside_approval_m2),
                Value::Text(p.permits.join("、")),
                Value::Text(p.plan.clone()),
                Value::Float(p.plan_nonconforming_m2),
                Value::Int(p.fid),
            ];
            for z in &zone_ids {
                v.push(p.zones_m2.get(z).map_or(Value::Null, |a| Value::Float(*a)));
            }
            for m in &measure_ids {
                v.push(
                    p.measures_m2
                        .get(m)
                        .map_or(Value::Null, |a| Value::Float(*a)),
                );
            }
            Feature::new(p.geometry.clone(), v)
        })
        .collect();
    Ok((
        NewLayer {
            name: name.to_string(),
            kind: LayerKind::ChangePatch,
            schema,
            source_crs: "EPSG:4490".into(),
            source: format!(
                "{}violations on '{}' (rules {})",
                super::RESULT_SOURCE,
                report.patches_layer,
                report.rules_version
            ),
        },
        features,
    ))
}
