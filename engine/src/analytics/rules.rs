//! The rules file (TOML): which layers a proposal or a change patch is checked against and how.
//!
//! Every rule names its layer and an optional filter in the `--where` syntax. Kinds:
//! `forbid` (must not intersect), `review` (needs another authority's sign-off), `within` (must lie
//! inside), `clearance` (minimum distance to pipelines by kind, diameter and pressure), `zoning`
//! (proposed use against the plan's code) and `indicators` (FAR, density, height, green ratio
//! against the planning zone's limits). The file is validated as a whole when loaded: unknown keys,
//! wrong types, duplicate ids, bad filters and keys that do not belong to a rule's kind are errors
//! naming the rule.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::query::Filter;

/// The rules onemap ships with (Xinzheng), also in the repository as `rules/default.toml`.
pub const DEFAULT_RULES: &str = include_str!("../../../rules/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: String,
    name: Option<String>,
    sliver_m2: Option<f64>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    compatibility: BTreeMap<String, Vec<String>>,
    violations: Option<ViolationSpec>,
    landuse_check: Option<LanduseSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    kind: String,
    name: String,
    name_en: Option<String>,
    layer: String,
    filter: Option<String>,
    basis: Option<String>,
    authority: Option<String>,
    /// Fields shown for the features involved (besides the kind's styling field).
    show: Option<Vec<String>>,
    // clearance
    kind_field: Option<String>,
    diameter_field: Option<String>,
    pressure_field: Option<String>,
    laying_field: Option<String>,
    clearances: Option<Vec<ClearanceRow>>,
    // zoning
    code_field: Option<String>,
    max_nonconforming_share: Option<f64>,
    // indicators
    far_field: Option<String>,
    density_field: Option<String>,
    height_field: Option<String>,
    green_field: Option<String>,
}

/// One row of a clearance table: the minimum distance from a building to a pipeline of `kind`
/// (CJJ 61 code prefix) when its diameter and pressure match.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClearanceRow {
    /// Pipeline kind code (JS, PS, RQ, RL, DL, TX …), matched against the start of the kind field.
    pub kind: String,
    /// Minimum clearance in metres.
    pub metres: f64,
    /// Applies when the diameter (mm) is at most this.
    pub max_diameter_mm: Option<f64>,
    /// Applies when the diameter (mm) is more than this.
    pub min_diameter_mm: Option<f64>,
    /// Applies when the pressure field is one of these (case-insensitive).
    pub pressure: Option<Vec<String>>,
    /// Applies when the laying-method field is one of these (case-insensitive): 直埋, 管道...
    pub laying: Option<Vec<String>>,
    /// Where the figure comes from.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViolationSpec {
    patches: Option<String>,
    id_field: Option<String>,
    admin_field: Option<String>,
    class_after_field: Option<String>,
    approvals: String,
    approvals_filter: Option<String>,
    tolerance_m2: Option<f64>,
    tolerance_share: Option<f64>,
    construction_prefixes: Option<Vec<String>>,
    #[serde(default, rename = "measure")]
    measures: Vec<MeasureSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureSpec {
    id: String,
    name: String,
    layer: String,
    filter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LanduseSpec {
    current: String,
    current_code_field: Option<String>,
    planning: String,
    planning_code_field: Option<String>,
    admin_field: Option<String>,
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The site must not intersect the layer's features.
    Forbid,
    /// Intersecting the layer's features needs the named authority's sign-off.
    Review,
    /// The site must lie inside the union of the layer's features.
    Within,
    /// Minimum distances to pipelines.
    Clearance(ClearanceTable),
    /// Proposed use against the planned land-use code.
    Zoning {
        /// Field with the planned code (`None`: the layer kind's code field).
        code_field: Option<String>,
        /// Largest share of the site that may be planned for an incompatible use.
        max_nonconforming_share: f64,
    },
    /// Proposed indicators against the planning zone's limits.
    Indicators(IndicatorFields),
}

impl Check {
    /// The kind's name as written in the rules file.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Check::Forbid => "forbid",
            Check::Review => "review",
            Check::Within => "within",
            Check::Clearance(_) => "clearance",
            Check::Zoning { .. } => "zoning",
            Check::Indicators(_) => "indicators",
        }
    }
}

/// A clearance table and the pipeline fields it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearanceTable {
    /// Field with the pipeline kind code (`None`: the pipeline kind's styling field).
    pub kind_field: Option<String>,
    /// Field with the diameter in mm.
    pub diameter_field: String,
    /// Field with the pressure class.
    pub pressure_field: String,
    /// Field with the laying method (直埋 / 管道).
    pub laying_field: String,
    /// Rows, first match wins.
    pub rows: Vec<ClearanceRow>,
}

impl ClearanceTable {
    /// The largest clearance in the table (how far to look for pipelines).
    pub fn max_metres(&self) -> f64 {
        self.rows.iter().map(|r| r.metres).fold(0.0, f64::max)
    }

    /// The row that applies to a pipeline, if any.
    pub fn lookup(&self, pipe: &Pipe<'_>) -> Option<&ClearanceRow> {
        let kind = pipe.kind.trim().to_ascii_uppercase();
        let one_of = |list: &Option<Vec<String>>, v: Option<&str>| {
            list.as_ref().is_none_or(|list| {
                v.is_some_and(|v| list.iter().any(|q| q.eq_ignore_ascii_case(v.trim())))
            })
        };
        self.rows.iter().find(|r| {
            kind.starts_with(&r.kind.to_ascii_uppercase())
                && r.max_diameter_mm
                    .is_none_or(|m| pipe.diameter_mm.is_some_and(|d| d <= m))
                && r.min_diameter_mm
                    .is_none_or(|m| pipe.diameter_mm.is_some_and(|d| d > m))
                && one_of(&r.pressure, pipe.pressure)
                && one_of(&r.laying, pipe.laying)
        })
    }
}

/// What a clearance row is matched on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pipe<'a> {
    /// Kind code (JS, RQ...).
    pub kind: &'a str,
    /// Diameter in mm.
    pub diameter_mm: Option<f64>,
    /// Pressure class.
    pub pressure: Option<&'a str>,
    /// Laying method.
    pub laying: Option<&'a str>,
}

impl<'a> Pipe<'a> {
    /// A pipe of a kind, nothing else known.
    pub fn of(kind: &'a str) -> Pipe<'a> {
        Pipe {
            kind,
            ..Pipe::default()
        }
    }
}

/// Planning-zone limit fields an `indicators` rule reads (missing ones are not checked).
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorFields {
    /// 容积率上限.
    pub far: Option<String>,
    /// 建筑密度上限.
    pub density: Option<String>,
    /// 建筑限高 (m).
    pub height: Option<String>,
    /// 绿地率下限.
    pub green: Option<String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// Chinese name (shown in reports).
    pub name: String,
    /// English name.
    pub name_en: Option<String>,
    /// Layer checked.
    pub layer: String,
    /// Filter on that layer.
    pub filter: Option<Filter>,
    /// The filter as written.
    pub filter_text: Option<String>,
    /// Legal basis (shown in reports).
    pub basis: Option<String>,
    /// Authority whose sign-off a `review` needs.
    pub authority: Option<String>,
    /// Extra fields shown for involved features.
    pub show: Vec<String>,
    /// What is checked.
    pub check: Check,
}

/// A measured overlay for violation detection (e.g. area on farmland).
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Id (column name in outputs).
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// Layer.
    pub layer: String,
    /// Filter on the layer.
    pub filter: Option<Filter>,
}

/// How change patches are judged.
#[derive(Debug, Clone)]
pub struct ViolationConfig {
    /// Default patch layer.
    pub patches: String,
    /// Patch id field (`None`: the fid).
    pub id_field: Option<String>,
    /// Admin unit field for the summary.
    pub admin_field: Option<String>,
    /// Land class after the change (plan conformance and 未批先建 need it).
    pub class_after_field: Option<String>,
    /// Approval (permit red line) layer.
    pub approvals: String,
    /// Filter on approvals.
    pub approvals_filter: Option<Filter>,
    /// Area of a patch outside every approval that is still tolerated (m²).
    pub tolerance_m2: f64,
    /// Share of a patch outside every approval that is still tolerated.
    pub tolerance_share: f64,
    /// Land-use code prefixes that count as construction (建设用地).
    pub construction_prefixes: Vec<String>,
    /// Extra areas measured per patch.
    pub measures: Vec<Measurement>,
}

/// How the land-use check reads its layers.
#[derive(Debug, Clone)]
pub struct LanduseConfig {
    /// Current land use layer.
    pub current: String,
    /// Its code field (`None`: the kind's code field).
    pub current_code_field: Option<String>,
    /// Planning layer.
    pub planning: String,
    /// Its code field.
    pub planning_code_field: Option<String>,
    /// Admin unit field of the current land use layer.
    pub admin_field: Option<String>,
}

/// Which land-use codes may stand where the plan says another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compatibility {
    table: BTreeMap<String, Vec<String>>,
}

impl Compatibility {
    /// True when `actual` conforms to `planned`: the same code, a subclass of the planned class
    /// (`0701` under `07`), or listed for the planned code (or its parent class) in the table.
    pub fn conforms(&self, planned: &str, actual: &str) -> bool {
        let (p, a) = (planned.trim(), actual.trim());
        if p.is_empty() || a.is_empty() {
            return false;
        }
        if a.starts_with(p) {
            return true;
        }
        self.table.iter().any(|(k, allowed)| {
            p.starts_with(k.as_str()) && allowed.iter().any(|x| a.starts_with(x.as_str()))
        })
    }
}

/// A validated rules file.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Version label recorded with every run.
    pub version: String,
    /// Title.
    pub name: String,
    /// SHA-256 of the file text (recorded with every run).
    pub digest: String,
    /// Intersections smaller than this are slivers and ignored (m²).
    pub sliver_m2: f64,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// Land-use compatibility.
    pub compatibility: Compatibility,
    /// Violation detection settings.
    pub violations: Option<ViolationConfig>,
    /// Land-use check settings.
    pub landuse: Option<LanduseConfig>,
}

const KINDS: [&str; 6] = [
    "forbid",
    "review",
    "within",
    "clearance",
    "zoning",
    "indicators",
];

fn parse_filter(
    where_: &str,
    text: &Option<String>,
) -> std::result::Result<Option<Filter>, String> {
    match text {
        None => Ok(None),
        Some(t) => Filter::parse(t)
            .map(Some)
            .map_err(|e| format!("{where_}: filter \"{t}\": {e}")),
    }
}

fn finite_non_negative(where_: &str, key: &str, v: f64) -> std::result::Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{where_}: '{key}' must be a number ≥ 0, not {v}"))
    }
}

impl Rules {
    /// The text of the rules onemap ships with (`rules/default.toml`).
    pub const DEFAULT_TEXT: &'static str = DEFAULT_RULES;

    /// The rules onemap ships with.
    pub fn default_rules() -> Result<Rules> {
        Rules::parse(DEFAULT_RULES, "built-in rules/default.toml")
    }

    /// Parse and validate a rules file; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Rules> {
        let err = |message: String| Error::Rules {
            source_name: source_name.to_string(),
            message,
        };
        let file: RulesFile =
            toml::from_str(text).map_err(|e| err(e.to_string().trim().replace('\n', " ")))?;
        Rules::compile(file, text).map_err(err)
    }

    fn compile(file: RulesFile, text: &str) -> std::result::Result<Rules, String> {
        if file.version.trim().is_empty() {
            return Err("'version' must not be empty (it is recorded with every run)".into());
        }
        let sliver_m2 =
            finite_non_negative("top level", "sliver_m2", file.sliver_m2.unwrap_or(1.0))?;
        let mut ids = BTreeSet::new();
        let mut rules = Vec::new();
        for (n, spec) in file.rules.into_iter().enumerate() {
            let where_ = format!("rule {} ('{}')", n + 1, spec.id);
            if spec.id.trim().is_empty() {
                return Err(format!("rule {}: 'id' must not be empty", n + 1));
            }
            if !ids.insert(spec.id.clone()) {
                return Err(format!("{where_}: duplicate id"));
            }
            if spec.layer.trim().is_empty() {
                return Err(format!("{where_}: 'layer' must not be empty"));
            }
            rules.push(compile_rule(&where_, spec)?);
        }
        for (planned, allowed) in &file.compatibility {
            if planned.is_empty() || !planned.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "compatibility: key '{planned}' is not a land-use code"
                ));
            }
            if let Some(bad) = allowed
                .iter()
                .find(|c| c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric()))
            {
                return Err(format!(
                    "compatibility.{planned}: '{bad}' is not a land-use code"
                ));
            }
        }
        let violations = file.violations.map(compile_violations).transpose()?;
        // The violation result layer's columns: fixed ones, `<rule id>_m2` per forbid/review
        // rule, one per measure; names are unique ignoring case.
        if let Some(v) = &violations {
            let mut taken: BTreeSet<String> = [
                "jcbh",
                "xzqdm",
                "status",
                "reasons",
                "area_m2",
                "approved_m2",
                "outside_approval_m2",
                "permits",
                "plan",
                "plan_nonconforming_m2",
                "source_fid",
            ]
            .map(String::from)
            .into();
            let cols = rules
                .iter()
                .filter(|r| matches!(r.check, Check::Forbid | Check::Review))
                .map(|r| (format!("rule '{}'", r.id), format!("{}_m2", r.id)))
                .chain(
                    v.measures
                        .iter()
                        .map(|m| (format!("violations.measure '{}'", m.id), m.id.clone())),
                );
            for (what, col) in cols {
                if !taken.insert(col.to_lowercase()) {
                    return Err(format!(
                        "{what}: its output column '{col}' clashes with another column of the violation result layer"
                    ));
                }
            }
        }
        let landuse = file.landuse_check.map(|l| LanduseConfig {
            current: l.current,
            current_code_field: l.current_code_field,
            planning: l.planning,
            planning_code_field: l.planning_code_field,
            admin_field: l.admin_field,
        });
        let digest = crate::hex(&Sha256::digest(text.as_bytes()));
        Ok(Rules {
            version: file.version,
            name: file.name.unwrap_or_else(|| "合规性审查规则".into()),
            digest,
            sliver_m2,
            rules,
            compatibility: Compatibility {
                table: file.compatibility,
            },
            violations,
            landuse,
        })
    }

    /// The first `zoning` rule, if any (violation detection and the land-use check reuse it).
    pub fn zoning(&self) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| matches!(r.check, Check::Zoning { .. }))
    }

    /// Every layer a rule, measure or check names.
    pub fn layers(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.rules.iter().map(|r| r.layer.clone()).collect();
        if let Some(v) = &self.violations {
            out.insert(v.approvals.clone());
            out.extend(v.measures.iter().map(|m| m.layer.clone()));
        }
        if let Some(l) = &self.landuse {
            out.insert(l.current.clone());
            out.insert(l.planning.clone());
        }
        out
    }
}

fn compile_rule(where_: &str, spec: RuleSpec) -> std::result::Result<Rule, String> {
    let kind = spec.kind.trim().to_ascii_lowercase();
    if !KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "{where_}: unknown kind '{}' (expected one of: {})",
            spec.kind,
            KINDS.join(", ")
        ));
    }
    // Keys that belong to another kind are a mistake worth reporting, not ignoring.
    let foreign: Vec<&str> = [
        ("kind_field", spec.kind_field.is_some(), "clearance"),
        ("diameter_field", spec.diameter_field.is_some(), "clearance"),
        ("pressure_field", spec.pressure_field.is_some(), "clearance"),
        ("laying_field", spec.laying_field.is_some(), "clearance"),
        ("clearances", spec.clearances.is_some(), "clearance"),
        ("code_field", spec.code_field.is_some(), "zoning"),
        (
            "max_nonconforming_share",
            spec.max_nonconforming_share.is_some(),
            "zoning",
        ),
        ("far_field", spec.far_field.is_some(), "indicators"),
        ("density_field", spec.density_field.is_some(), "indicators"),
        ("height_field", spec.height_field.is_some(), "indicators"),
        ("green_field", spec.green_field.is_some(), "indicators"),
        ("authority", spec.authority.is_some(), "review"),
    ]
    .into_iter()
    .filter(|(_, set, owner)| *set && *owner != kind)
    .map(|(k, _, _)| k)
    .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "{where_}: key(s) {} do not apply to kind '{kind}'",
            foreign.join(", ")
        ));
    }
    let check = match kind.as_str() {
        "forbid" => Check::Forbid,
        "review" => Check::Review,
        "within" => Check::Within,
        "clearance" => {
            let rows = spec
                .clearances
                .ok_or_else(|| format!("{where_}: a clearance rule needs a 'clearances' table"))?;
            if rows.is_empty() {
                return Err(format!("{where_}: 'clearances' is empty"));
            }
            for (k, r) in rows.iter().enumerate() {
                let w = format!("{where_}: clearances[{}] ({})", k + 1, r.kind);
                if r.kind.trim().is_empty() {
                    return Err(format!("{w}: 'kind' must not be empty"));
                }
                finite_non_negative(&w, "metres", r.metres)?;
                if let Some(d) = r.max_diameter_mm {
                    finite_non_negative(&w, "max_diameter_mm", d)?;
                }
                if let Some(d) = r.min_diameter_mm {
                    finite_non_negative(&w, "min_diameter_mm", d)?;
                }
            }
            Check::Clearance(ClearanceTable {
                kind_field: spec.kind_field,
                diameter_field: spec.diameter_field.unwrap_or_else(|| "diameter_mm".into()),
                pressure_field: spec.pressure_field.unwrap_or_else(|| "pressure".into()),
                laying_field: spec.laying_field.unwrap_or_else(|| "laying".into()),
                rows,
            })
        }
        "zoning" => {
            let share = spec.max_nonconforming_share.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "{where_}: 'max_nonconforming_share' must be between 0 and 1, not {share}"
                ));
            }
            Check::Zoning {
                code_field: spec.code_field,
                max_nonconforming_share: share,
            }
        }
        _ => {
            let f = IndicatorFields {
                far: spec.far_field,
                density: spec.density_field,
                height: spec.height_field,
                green: spec.green_field,
            };
            if f.far.is_none() && f.density.is_none() && f.height.is_none() && f.green.is_none() {
                return Err(format!(
                    "{where_}: an indicators rule needs at least one of far_field, density_field, height_field, green_field"
                ));
            }
            Check::Indicators(f)
        }
    };
    let filter = parse_filter(where_, &spec.filter)?;
    Ok(Rule {
        id: spec.id,
        name: spec.name,
        name_en: spec.name_en,
        layer: spec.layer,
        filter,
        filter_text: spec.filter,
        basis: spec.basis,
        authority: spec.authority,
        show: spec.show.unwrap_or_default(),
        check,
    })
}

fn compile_violations(v: ViolationSpec) -> std::result::Result<ViolationConfig, String> {
    let w = "violations";
    let tolerance_m2 = finite_non_negative(w, "tolerance_m2", v.tolerance_m2.unwrap_or(10.0))?;
    let tolerance_share = v.tolerance_share.unwrap_or(0.05);
    if !(0.0..=1.0).contains(&tolerance_share) {
        return Err(format!(
            "violations: 'tolerance_share' must be between 0 and 1, not {tolerance_share}"
        ));
    }
    let mut ids = BTreeSet::new();
    let mut measures = Vec::new();
    for (n, m) in v.measures.into_iter().enumerate() {
        let where_ = format!("violations.measure {} ('{}')", n + 1, m.id);
        if m.id.is_empty() || !m.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{where_}: 'id' must be letters, digits and _ (it names a column)"
            ));
        }
        if !ids.insert(m.id.clone()) {
            return Err(format!("{where_}: duplicate id"));
        }
        measures.push(Measurement {
            filter: parse_filter(&where_, &m.filter)?,
            id: m.id,
            name: m.name,
            layer: m.layer,
        });
    }
    Ok(ViolationConfig {
        patches: v.patches.unwrap_or_else(|| "change_patches".into()),
        id_field: v.id_field,
        admin_field: v.admin_field,
        class_after_field: v.class_after_field,
        approvals_filter: parse_filter("violations", &v.approvals_filter)?,
        approvals: v.approvals,
        tolerance_m2,
        tolerance_share,
        construction_prefixes: v.construction_prefixes.unwrap_or_else(|| {
            ["07", "08", "09", "10", "11", "12", "13", "15"]
                .map(String::from)
                .to_vec()
        }),
        measures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_load() {
        let r = Rules::default_rules().unwrap();
        assert!(r.rules.iter().any(|r| r.check == Check::Forbid));
        assert!(r.zoning().is_some());
        assert!(r.violations.is_some() && r.landuse.is_some());
        assert_eq!(r.digest.len(), 64);
    }

    fn parse_err(text: &str) -> String {
        Rules::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_rule_and_key() {
        let base = "version = \"1\"\n";
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"forbidd\"\nname = \"x\"\nlayer = \"l\"\n"
        ));
        assert!(
            e.contains("rule 1 ('a')") && e.contains("unknown kind 'forbidd'"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"forbid\"\nname = \"x\"\nlayer = \"l\"\nfilter = \"x = \"\n"
        ));
        assert!(e.contains("rule 1 ('a')") && e.contains("filter"), "{e}");
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"forbid\"\nname = \"x\"\nlayer = \"l\"\nfar_field = \"f\"\n"
        ));
        assert!(e.contains("far_field") && e.contains("do not apply"), "{e}");
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"forbid\"\nname = \"x\"\nlayer = \"l\"\nlayr = \"l\"\n"
        ));
        assert!(
            e.contains("unknown field `layr`") && e.contains("t.toml"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"clearance\"\nname = \"x\"\nlayer = \"l\"\n[[rule.clearances]]\nkind = \"RQ\"\nmetres = -1.0\n"
        ));
        assert!(
            e.contains("clearances[1] (RQ)") && e.contains("metres"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{base}[[rule]]\nid = \"a\"\nkind = \"review\"\nname = \"x\"\nlayer = \"l\"\n[[rule]]\nid = \"a\"\nkind = \"review\"\nname = \"y\"\nlayer = \"l\"\n"
        ));
        assert!(e.contains("rule 2 ('a'): duplicate id"), "{e}");
        let e = parse_err("version = \"\"\n");
        assert!(e.contains("version"), "{e}");
        let e = parse_err("version = \"1\"\nsliver_m2 = -2.0\n");
        assert!(e.contains("sliver_m2"), "{e}");
    }

    /// The clearance table of the shipped default rules.
    fn default_clearances() -> ClearanceTable {
        let r = Rules::default_rules().unwrap();
        r.rules
            .into_iter()
            .find_map(|r| match r.check {
                Check::Clearance(t) => Some(t),
                _ => None,
            })
            .expect("default rules have a clearance rule")
    }

    #[test]
    fn clearance_lookup_by_kind_diameter_and_pressure() {
        let t = default_clearances();
        let m = |kind, d, p, l| {
            t.lookup(&Pipe {
                kind,
                diameter_mm: d,
                pressure: p,
                laying: l,
            })
            .map(|r| r.metres)
        };
        assert_eq!(m("dl", None, None, None), Some(0.6));
        assert_eq!(m("GY", None, None, None), None);
        // Unknown pressure or laying: the strictest figure of the kind.
        assert_eq!(m("RQ", Some(200.0), None, None), Some(13.5));
        assert_eq!(m("TX", None, None, None), Some(1.5));
        assert_eq!(m("TX", None, None, Some("直埋")), Some(1.0));
        assert_eq!(t.max_metres(), 13.5);
    }

    /// The shipped clearance table against the figures of `rules/pipeline-clearances.csv`
    /// (a copy of the domain notes' table, from CJJ 61 / GB 50289 / GB 50028; the test reads the
    /// figures from the CSV text, not from the rules).
    #[test]
    fn clearances_agree_with_the_standards_table() {
        let t = default_clearances();
        let csv = include_str!("../../../rules/pipeline-clearances.csv");
        let mut checked = 0;
        for line in csv.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            let (code, figures) = (cols[0], cols[3].trim());
            if figures.is_empty() {
                // No figure in the standard: no row, so the check asks for review.
                assert!(t.lookup(&Pipe::of(code)).is_none(), "{code}");
                continue;
            }
            for part in figures.split(" / ") {
                let (metres, cond) = part.split_once(' ').unwrap_or((part, ""));
                let metres: f64 = metres.parse().unwrap();
                let cond = cond.trim().trim_start_matches('(').trim_end_matches(')');
                let mut pipe = Pipe::of(code);
                match cond {
                    "" => {}
                    c if c.starts_with("d<=") => {
                        pipe.diameter_mm = Some(c[3..].parse::<f64>().unwrap());
                    }
                    c if c.starts_with("d>") => {
                        pipe.diameter_mm = Some(c[2..].parse::<f64>().unwrap() + 1.0);
                    }
                    "buried" | "direct-buried" => pipe.laying = Some("直埋"),
                    "duct" => pipe.laying = Some("管道"),
                    pressure => pipe.pressure = Some(pressure),
                }
                let row = t
                    .lookup(&pipe)
                    .unwrap_or_else(|| panic!("{code} {cond}: no row"));
                assert_eq!(row.metres, metres, "{code} {cond}: {row:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 12, "every figure of the table");
    }

    #[test]
    fn compatibility_by_class_and_table() {
        let c = Compatibility {
            table: BTreeMap::from([("07".to_string(), vec!["1401".to_string()])]),
        };
        assert!(c.conforms("0701", "0701"));
        assert!(c.conforms("07", "0703"));
        assert!(!c.conforms("0701", "07"));
        assert!(c.conforms("0701", "1401"));
        assert!(!c.conforms("0901", "1401"));
        assert!(!c.conforms("0701", ""));
    }
}
