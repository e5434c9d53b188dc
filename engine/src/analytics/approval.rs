//! Approval overlay (合规性审查): a proposed red line checked against every rule, with measured
//! quantities, the features involved and the cadastral parcels taken.
use std::collections::BTreeMap;

use geo::{BoundingRect, Centroid, Geometry};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::rules::{Check, ClearanceTable, IndicatorFields, Rule, Rules};
use super::{
    M2_PER_MU, Site, Status, area_by, code_field, covered_area, geometry_json, key_attributes,
    uncovered,
};
use crate::access::Caller;
use crate::engine::{BoundLayer, Engine};
use crate::error::{Error, Result};
use crate::geometry::{AreaMethod, Measure, MetricFrame, expand_rect_by_metres};
use crate::model::LayerKind;
use crate::query::overlay::{Piece, intersections};

/// What is proposed on the site (any part may be missing; rules that need it are skipped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Project name.
    #[serde(default)]
    pub name: Option<String>,
    /// Proposed land-use code (用地用海分类, e.g. `0701`).
    #[serde(default, rename = "use")]
    pub use_code: Option<String>,
    /// 容积率.
    #[serde(default)]
    pub far: Option<f64>,
    /// 建筑密度 (0–1).
    #[serde(default)]
    pub density: Option<f64>,
    /// 建筑高度 (m).
    #[serde(default)]
    pub height_m: Option<f64>,
    /// 绿地率 (0–1).
    #[serde(default)]
    pub green_ratio: Option<f64>,
}

impl Proposal {
    /// Reject values that cannot be indicators (negative, not finite, ratios above 1).
    pub fn validate(&self) -> Result<()> {
        let checks = [
            ("far", self.far, f64::INFINITY),
            ("density", self.density, 1.0),
            ("height_m", self.height_m, f64::INFINITY),
            ("green_ratio", self.green_ratio, 1.0),
        ];
        for (name, v, max) in checks {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0 && v <= max)
            {
                return Err(Error::Analysis(format!(
                    "proposal '{name}' must be a number from 0 to {max}, not {v}"
                )));
            }
        }
        if let Some(u) = &self.use_code
            && (u.is_empty() || !u.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(Error::Analysis(format!(
                "proposal 'use' must be a land-use code such as 0701, not '{u}'"
            )));
        }
        Ok(())
    }
}

/// Quantities a rule measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measured {
    /// Area in m² (intersection, outside part or non-conforming part).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    /// That area as a share of the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Smallest distance in m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// Clearance required at that distance in m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_m: Option<f64>,
    /// Length in m (line features inside the site).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_m: Option<f64>,
}

/// A feature a rule found.
#[derive(Debug, Clone, Serialize)]
pub struct Involved {
    /// Feature id in its layer.
    pub fid: i64,
    /// Outcome for this feature.
    pub status: Status,
    /// Key attributes the caller may see.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Measurements for this feature.
    #[serde(flatten)]
    pub measured: Measured,
    /// What is wrong, in Chinese.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The geometry involved: the intersection with the site, the part outside, or the pipeline.
    #[serde(serialize_with = "ser_geometry")]
    pub geometry: Geometry<f64>,
}

fn ser_geometry<S: serde::Serializer>(
    g: &Geometry<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    geometry_json(g).serialize(s)
}

/// The result of one rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// Rule id.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    /// Rule kind.
    pub kind: &'static str,
    /// Layer read.
    pub layer: String,
    /// Version of that layer read (none when skipped before reading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_version: Option<i64>,
    /// Outcome.
    pub status: Status,
    /// One sentence in Chinese.
    pub message: String,
    /// Legal basis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// Authority whose sign-off is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Quantities.
    pub measured: Measured,
    /// Features involved.
    pub features: Vec<Involved>,
}

/// A cadastral parcel the site takes (for 征收).
#[derive(Debug, Clone, Serialize)]
pub struct ParcelTaken {
    /// Layer.
    pub layer: String,
    /// Feature id.
    pub fid: i64,
    /// Attributes the caller may see (owners only with the right role).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Area of the whole parcel in m².
    pub parcel_area_m2: f64,
    /// Area taken in m².
    pub taken_m2: f64,
    /// Share of the parcel taken.
    pub share_of_parcel: f64,
    /// The part taken.
    #[serde(serialize_with = "ser_geometry")]
    pub geometry: Geometry<f64>,
}

/// Size and position of the site.
#[derive(Debug, Clone, Serialize)]
pub struct SiteSummary {
    /// Area in m².
    pub area_m2: f64,
    /// Area in 亩.
    pub area_mu: f64,
    /// Area in hectares.
    pub area_ha: f64,
    /// Lon/lat bounds.
    pub bbox: [f64; 4],
    /// Lon/lat centroid.
    pub centroid: [f64; 2],
    /// The red line.
    #[serde(serialize_with = "ser_geometry")]
    pub geometry: Geometry<f64>,
}

/// The approval report.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalReport {
    /// Rules title.
    pub rules_name: String,
    /// Rules version label.
    pub rules_version: String,
    /// SHA-256 of the rules file.
    pub rules_digest: String,
    /// SHA-256 of the input (red line and proposal).
    pub input_hash: String,
    /// Every layer read and its version.
    pub layer_versions: BTreeMap<String, i64>,
    /// When the check ran (UTC, RFC 3339).
    pub generated_at: String,
    /// `geodesic` (CGCS2000 ellipsoid) or the planar CRS used.
    pub area_method: String,
    /// Who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The site.
    pub site: SiteSummary,
    /// The proposal.
    pub proposal: Proposal,
    /// Overall result: the worst rule status.
    pub conclusion: Status,
    /// Overall result in Chinese.
    pub conclusion_zh: String,
    /// Per rule.
    pub results: Vec<RuleResult>,
    /// Parcels taken.
    pub parcels: Vec<ParcelTaken>,
    /// Total area of parcels taken in m².
    pub parcels_taken_m2: f64,
    /// Id of the audit record, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

/// Everything one check needs.
pub struct ApprovalInput<'a> {
    /// Engine with the layers.
    pub engine: &'a Engine,
    /// Who asks (layer and field permissions apply to every read).
    pub caller: &'a Caller,
    /// Rules.
    pub rules: &'a Rules,
    /// The proposal.
    pub proposal: &'a Proposal,
    /// Area method.
    pub method: AreaMethod,
}

/// SHA-256 over the red line (GeoJSON) and the proposal (JSON).
pub fn input_hash(site: &Geometry<f64>, proposal: &Proposal) -> String {
    let mut h = Sha256::new();
    h.update(geometry_json(site).to_string().as_bytes());
    h.update(b"\n");
    h.update(
        serde_json::to_string(proposal)
            .unwrap_or_default()
            .as_bytes(),
    );
    crate::hex(&h.finalize())
}

fn method_name(m: &AreaMethod) -> String {
    match m {
        AreaMethod::Geodesic => "geodesic".into(),
        AreaMethod::Planar(crs) => format!("planar {crs}"),
    }
}

/// Run every rule against a site.
pub fn check(input: &ApprovalInput<'_>, site: &Site) -> Result<ApprovalReport> {
    input.engine.authorize_analysis(input.caller, "approval")?;
    input.proposal.validate()?;
    let site_geom = Geometry::MultiPolygon(site.polygons.clone());
    let mut versions = BTreeMap::new();
    let mut results = Vec::new();
    for rule in &input.rules.rules {
        let r = run_rule(input, rule, site, &mut versions)?;
        results.push(r);
    }
    let (parcels, parcels_taken_m2) = parcels_taken(input, site, &mut versions)?;
    let conclusion = results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Pass);
    let conclusion_zh = match conclusion {
        Status::NotGiven | Status::Pass => "通过：未发现冲突".to_string(),
        Status::Skipped => "未完成：部分规则未能检查".to_string(),
        Status::Review => "需会审：须经相关部门同意".to_string(),
        Status::Fail => format!(
            "不通过：{} 项规则冲突",
            results.iter().filter(|r| r.status == Status::Fail).count()
        ),
    };
    let bbox = site
        .polygons
        .bounding_rect()
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
        .unwrap_or([0.0; 4]);
    let centroid = site
        .polygons
        .centroid()
        .map(|p| [p.x(), p.y()])
        .unwrap_or([0.0; 2]);
    Ok(ApprovalReport {
        rules_name: input.rules.name.clone(),
        rules_version: input.rules.version.clone(),
        rules_digest: input.rules.digest.clone(),
        input_hash: input_hash(&site_geom, input.proposal),
        layer_versions: versions,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        area_method: method_name(&input.method),
        caller: input.caller.id.clone(),
        site: SiteSummary {
            area_m2: site.area_m2,
            area_mu: site.area_m2 / M2_PER_MU,
            area_ha: site.area_m2 / 10_000.0,
            bbox,
            centroid,
            geometry: site_geom,
        },
        proposal: input.proposal.clone(),
        conclusion,
        conclusion_zh,
        results,
        parcels,
        parcels_taken_m2,
        run_id: None,
    })
}

fn skipped(rule: &Rule, message: String) -> RuleResult {
    RuleResult {
        id: rule.id.clone(),
        name: rule.name.clone(),
        name_en: rule.name_en.clone(),
        kind: rule.check.kind_name(),
        layer: rule.layer.clone(),
        layer_version: None,
        status: Status::Skipped,
        message,
        basis: rule.basis.clone(),
        authority: rule.authority.clone(),
        measured: Measured::default(),
        features: Vec::new(),
    }
}

/// Open a rule's layer for the caller; a missing or unreadable layer or a filter that does not fit
/// it skips the rule (the report says why) rather than failing the whole check.
pub(super) fn open_layer(
    engine: &Engine,
    caller: &Caller,
    layer: &str,
    filter: Option<&crate::query::Filter>,
) -> std::result::Result<BoundLayer, String> {
    match engine.bound_layer(caller, layer, filter) {
        Ok(b) => Ok(b),
        // A layer the caller may not read is, to it, a layer that does not exist.
        Err(Error::UnknownLayer(_) | Error::AccessDenied(_)) => {
            Err(format!("图层 '{layer}' 不存在"))
        }
        Err(Error::Filter(m)) => Err(format!("图层 '{layer}' 的过滤条件无法使用：{m}")),
        Err(e) => {
            tracing::warn!(layer, error = %e, "analysis: layer not readable");
            Err(format!("无法读取图层 '{layer}'（详见服务器日志）"))
        }
    }
}

fn run_rule(
    input: &ApprovalInput<'_>,
    rule: &Rule,
    site: &Site,
    versions: &mut BTreeMap<String, i64>,
) -> Result<RuleResult> {
    let layer = match open_layer(
        input.engine,
        input.caller,
        &rule.layer,
        rule.filter.as_ref(),
    ) {
        Ok(l) => l,
        Err(m) => return Ok(skipped(rule, m)),
    };
    versions.insert(layer.layer.meta.name.clone(), layer.layer.meta.version);
    let mut result = skipped(rule, String::new());
    result.layer_version = Some(layer.layer.meta.version);
    let sliver = input.rules.sliver_m2;
    match &rule.check {
        Check::Forbid | Check::Review => {
            let fail = if rule.check == Check::Forbid {
                Status::Fail
            } else {
                Status::Review
            };
            let pieces = kept_pieces(&layer, site, sliver, &input.method)?;
            let refs: Vec<&Piece> = pieces.iter().map(|(p, _)| p).collect();
            let area = covered_area(&layer.layer, &site.polygons, &refs, &input.method)?;
            let length: f64 = pieces.iter().map(|(p, _)| p.length_m).sum();
            result.measured = Measured {
                area_m2: Some(area),
                share: Some(area / site.area_m2),
                length_m: (length > 0.0).then_some(length),
                ..Measured::default()
            };
            result.features = pieces
                .into_iter()
                .map(|(p, a)| Involved {
                    fid: p.fid,
                    status: fail,
                    attributes: key_attributes(&layer, p.index, &rule.show),
                    measured: Measured {
                        area_m2: Some(a),
                        share: Some(a / site.area_m2),
                        length_m: (p.length_m > 0.0).then_some(p.length_m),
                        ..Measured::default()
                    },
                    note: None,
                    geometry: p.geometry,
                })
                .collect();
            if result.features.is_empty() {
                result.status = Status::Pass;
                result.message = format!("未涉及{}", rule.name);
            } else {
                result.status = fail;
                let what = if fail == Status::Fail {
                    "占用"
                } else {
                    "位于"
                };
                result.message = format!(
                    "{what}{} {:.2} m²（占用地 {:.2}%）{}",
                    rule.name,
                    area,
                    area / site.area_m2 * 100.0,
                    rule.authority
                        .as_ref()
                        .map(|a| format!("，须经{a}同意"))
                        .unwrap_or_default()
                );
            }
        }
        Check::Within => {
            let pieces = kept_pieces(&layer, site, 0.0, &input.method)?;
            let refs: Vec<&Piece> = pieces.iter().map(|(p, _)| p).collect();
            let outside = uncovered(&layer.layer, &site.polygons, &refs);
            let og = Geometry::MultiPolygon(outside);
            let out_area = area_by(&input.method, &og, og.geodesic_area_m2())?;
            result.measured = Measured {
                area_m2: Some(out_area),
                share: Some(out_area / site.area_m2),
                ..Measured::default()
            };
            if out_area > sliver {
                result.status = Status::Fail;
                result.message = format!(
                    "{:.2} m²（{:.2}%）位于{}之外",
                    out_area,
                    out_area / site.area_m2 * 100.0,
                    rule.name
                );
                result.features.push(Involved {
                    fid: -1,
                    status: Status::Fail,
                    attributes: serde_json::Map::new(),
                    measured: result.measured.clone(),
                    note: Some(format!("{}之外的部分", rule.name)),
                    geometry: og,
                });
            } else {
                result.status = Status::Pass;
                result.message = format!("全部位于{}之内", rule.name);
            }
        }
        Check::Clearance(table) => clearance(&mut result, &layer, rule, table, site)?,
        Check::Zoning {
            code_field: field,
            max_nonconforming_share,
        } => {
            let Some(proposed) = input.proposal.use_code.as_deref() else {
                result.status = Status::NotGiven;
                result.message = "未提供拟建用地性质（use），未检查".into();
                return Ok(result);
            };
            let k = match code_field(&layer, field.as_deref()) {
                Ok(k) => k,
                Err(e) => {
                    result.message = e.to_string();
                    return Ok(result);
                }
            };
            let pieces = kept_pieces(&layer, site, sliver, &input.method)?;
            let mut bad_area = 0.0;
            let mut covered = 0.0;
            for (p, a) in pieces {
                covered += a;
                let planned = layer.layer.properties(p.index)[k].to_string();
                if input.rules.compatibility.conforms(&planned, proposed) {
                    continue;
                }
                bad_area += a;
                result.features.push(Involved {
                    fid: p.fid,
                    status: Status::Fail,
                    attributes: key_attributes(&layer, p.index, &rule.show),
                    measured: Measured {
                        area_m2: Some(a),
                        share: Some(a / site.area_m2),
                        ..Measured::default()
                    },
                    note: Some(format!("规划用地 {planned}，拟建 {proposed}，不相符")),
                    geometry: p.geometry,
                });
            }
            let share = bad_area / site.area_m2;
            result.measured = Measured {
                area_m2: Some(bad_area),
                share: Some(share),
                ..Measured::default()
            };
            let uncovered = (site.area_m2 - covered).max(0.0);
            if bad_area > sliver && share > *max_nonconforming_share {
                result.status = Status::Fail;
                result.message = format!(
                    "{:.2} m²（{:.2}%）的规划用地性质与拟建用途 {proposed} 不符",
                    bad_area,
                    share * 100.0
                );
            } else if uncovered > sliver.max(site.area_m2 * 1e-6) {
                result.status = Status::Review;
                result.message = format!("{uncovered:.2} m² 不在规划范围内，无法判定");
            } else {
                result.status = Status::Pass;
                result.features.clear();
                result.message = format!("拟建用途 {proposed} 符合规划用地性质");
            }
        }
        Check::Indicators(fields) => indicators(input, &mut result, &layer, rule, fields, site)?,
    }
    Ok(result)
}

/// Pieces of a layer's (filtered) features inside the site with their area by the report's
/// method, slivers (polygon pieces under `sliver` m²) left out.
fn kept_pieces(
    layer: &BoundLayer,
    site: &Site,
    sliver: f64,
    method: &AreaMethod,
) -> Result<Vec<(Piece, f64)>> {
    let pieces = intersections(&layer.layer, &site.polygons, layer.filter.as_ref())?;
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        let a = area_by(method, &p.geometry, p.area_m2)?;
        let polygonal = p.area_m2 > 0.0;
        if polygonal && a <= sliver {
            continue;
        }
        out.push((p, a));
    }
    Ok(out)
}

fn clearance(
    result: &mut RuleResult,
    layer: &BoundLayer,
    rule: &Rule,
    table: &ClearanceTable,
    site: &Site,
) -> Result<()> {
    let meta = &layer.layer.meta;
    let kind_name = table.kind_field.clone().or_else(|| {
        LayerKind::Pipeline
            .style_field(&meta.schema)
            .map(str::to_string)
    });
    let Some(kind_k) = kind_name.as_deref().and_then(|n| layer.visible_field(n)) else {
        result.message = format!("图层 '{}' 没有管线类别字段，未检查", meta.name);
        return Ok(());
    };
    let diameter_k = layer.visible_field(&table.diameter_field);
    let pressure_k = layer.visible_field(&table.pressure_field);
    let laying_k = layer.visible_field(&table.laying_field);
    let site_geom = Geometry::MultiPolygon(site.polygons.clone());
    let frame = MetricFrame::around(&site_geom)?;
    let projected = frame.project(&site_geom)?;
    let Some(bounds) = site.polygons.bounding_rect() else {
        return Ok(());
    };
    let search = expand_rect_by_metres(bounds, table.max_metres());
    let mut candidates: Vec<u32> = layer.layer.bbox_candidates(&search).collect();
    candidates.sort_unstable();
    let mut worst: Option<(f64, f64)> = None;
    let mut unknown = Vec::new();
    for i in candidates {
        if !layer.passes(i) {
            continue;
        }
        let props = layer.layer.properties(i);
        let kind = props[kind_k].to_string();
        let diameter = diameter_k.and_then(|k| props[k].as_f64());
        let pressure = pressure_k.and_then(|k| props[k].as_str());
        let laying = laying_k.and_then(|k| props[k].as_str());
        let g = layer.layer.geometry(i);
        let distance = frame.distance_to(&projected, g)?;
        let pipe = super::rules::Pipe {
            kind: &kind,
            diameter_mm: diameter,
            pressure,
            laying,
        };
        let Some(row) = table.lookup(&pipe) else {
            if distance <= table.max_metres() {
                unknown.push(format!("{} ({kind})", layer.layer.fid(i)));
            }
            continue;
        };
        if distance >= row.metres {
            continue;
        }
        if worst.is_none_or(|(d, _)| distance < d) {
            worst = Some((distance, row.metres));
        }
        result.features.push(Involved {
            fid: layer.layer.fid(i),
            status: Status::Fail,
            attributes: key_attributes(layer, i, &rule.show),
            measured: Measured {
                distance_m: Some(distance),
                required_m: Some(row.metres),
                ..Measured::default()
            },
            note: Some(format!(
                "距离 {distance:.2} m，小于{} {:.1} m",
                row.note.as_deref().unwrap_or(&kind),
                row.metres
            )),
            geometry: g.clone(),
        });
    }
    if let Some((d, req)) = worst {
        result.status = Status::Fail;
        result.measured = Measured {
            distance_m: Some(d),
            required_m: Some(req),
            ..Measured::default()
        };
        result.message = format!(
            "{} 条管线间距不足，最近 {d:.2} m（要求 {req:.1} m）",
            result.features.len()
        );
    } else if !unknown.is_empty() {
        result.status = Status::Review;
        result.message = format!("管线 {} 类别无间距标准，需人工核查", unknown.join("、"));
    } else {
        result.status = Status::Pass;
        result.message = "管线安全间距满足要求".into();
    }
    Ok(())
}

fn indicators(
    input: &ApprovalInput<'_>,
    result: &mut RuleResult,
    layer: &BoundLayer,
    rule: &Rule,
    fields: &IndicatorFields,
    site: &Site,
) -> Result<()> {
    let p = input.proposal;
    // (label, proposed, limit field, proposed must be <= limit)
    let wanted = [
        ("容积率", p.far, &fields.far, true),
        ("建筑密度", p.density, &fields.density, true),
        ("建筑高度", p.height_m, &fields.height, true),
        ("绿地率", p.green_ratio, &fields.green, false),
    ];
    // A proposed indicator whose limit field the rules name but the layer lacks (or hides from
    // the caller) cannot be checked: the rule is skipped, not passed.
    let missing: Vec<String> = wanted
        .iter()
        .filter_map(|(label, v, f, _)| {
            let f = f.as_deref()?;
            (v.is_some() && layer.visible_field(f).is_none()).then(|| format!("{label}（{f}）"))
        })
        .collect();
    if !missing.is_empty() {
        result.status = Status::Skipped;
        result.message = format!(
            "图层 '{}' 缺少指标字段：{}，未检查",
            layer.layer.meta.name,
            missing.join("、")
        );
        return Ok(());
    }
    let checks: Vec<(&str, f64, usize, bool)> = wanted
        .into_iter()
        .filter_map(|(label, v, f, upper)| {
            let k = layer.visible_field(f.as_deref()?)?;
            Some((label, v?, k, upper))
        })
        .collect();
    if checks.is_empty() {
        result.status = Status::NotGiven;
        result.message =
            "未提供可检查的规划指标（far、density、height_m、green_ratio），未检查".into();
        return Ok(());
    }
    let pieces = kept_pieces(layer, site, input.rules.sliver_m2, &input.method)?;
    let mut zones = 0;
    for (piece, a) in pieces {
        zones += 1;
        let props = layer.layer.properties(piece.index);
        let mut notes = Vec::new();
        for (label, proposed, k, upper) in &checks {
            let Some(limit) = props[*k].as_f64() else {
                continue;
            };
            let bad = if *upper {
                *proposed > limit
            } else {
                *proposed < limit
            };
            if bad {
                let op = if *upper { ">" } else { "<" };
                let word = if *upper { "上限" } else { "下限" };
                notes.push(format!("{label} {proposed} {op} {word} {limit}"));
            }
        }
        if notes.is_empty() {
            continue;
        }
        result.features.push(Involved {
            fid: piece.fid,
            status: Status::Fail,
            attributes: key_attributes(layer, piece.index, &rule.show),
            measured: Measured {
                area_m2: Some(a),
                share: Some(a / site.area_m2),
                ..Measured::default()
            },
            note: Some(notes.join("；")),
            geometry: piece.geometry,
        });
    }
    if zones == 0 {
        result.status = Status::Review;
        result.message = "用地不在任何规划单元内，指标无法核对".into();
    } else if result.features.is_empty() {
        result.status = Status::Pass;
        result.message = format!("指标符合 {zones} 个规划单元的控制要求");
    } else {
        result.status = Status::Fail;
        result.message = result
            .features
            .iter()
            .filter_map(|f| f.note.clone())
            .collect::<Vec<_>>()
            .join("；");
    }
    Ok(())
}

/// Every readable cadastral layer's parcels inside the site.
fn parcels_taken(
    input: &ApprovalInput<'_>,
    site: &Site,
    versions: &mut BTreeMap<String, i64>,
) -> Result<(Vec<ParcelTaken>, f64)> {
    let mut out = Vec::new();
    let mut total = 0.0;
    for meta in input.engine.layers_for(input.caller)? {
        if meta.kind != LayerKind::Cadastral {
            continue;
        }
        // A layer the caller may not read is not theirs to see; any other failure must not
        // shorten the list of parcels taken without a word.
        let layer = match input.engine.bound_layer(input.caller, &meta.name, None) {
            Ok(l) => l,
            Err(Error::UnknownLayer(_) | Error::AccessDenied(_)) => continue,
            Err(e) => return Err(e),
        };
        versions.insert(meta.name.clone(), layer.layer.meta.version);
        let pieces = kept_pieces(&layer, site, input.rules.sliver_m2, &input.method)?;
        // The report shows these parcels with the fields the caller may see: personal ones are
        // recorded in the access audit.
        let view = input.engine.field_view(input.caller, &layer.layer.meta);
        input
            .engine
            .note_read(input.caller, &layer.layer.meta, &view, pieces.len())?;
        for (p, a) in pieces {
            let whole = layer.layer.geometry(p.index);
            let parcel_area = area_by(&input.method, whole, whole.geodesic_area_m2())?;
            let mut attributes = serde_json::Map::new();
            for (k, f) in layer.layer.meta.schema.fields().iter().enumerate() {
                if layer.visible[k] {
                    attributes.insert(f.name.clone(), layer.layer.properties(p.index)[k].to_json());
                }
            }
            total += a;
            out.push(ParcelTaken {
                layer: meta.name.clone(),
                fid: p.fid,
                attributes,
                parcel_area_m2: parcel_area,
                taken_m2: a,
                share_of_parcel: if parcel_area > 0.0 {
                    a / parcel_area
                } else {
                    0.0
                },
                geometry: p.geometry,
            });
        }
    }
    Ok((out, total))
}

/// The geometry of an existing feature (a red line already in a layer, e.g. an approval).
pub fn feature_geometry(
    engine: &Engine,
    caller: &Caller,
    layer: &str,
    fid: i64,
) -> Result<Geometry<f64>> {
    let l = engine.layer_for(caller, layer)?;
    let i = l
        .index_of_fid(fid)
        .ok_or_else(|| Error::Analysis(format!("layer '{layer}' has no feature {fid}")))?;
    Ok(l.geometry(i).clone())
}
