//! `onemap check approval|landuse|violations` and `onemap runs`: run the engine's analytics, write
//! the outputs asked for, record the run, and say in the exit code whether conflicts were found.
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use onemap_engine::analytics::approval::{self, ApprovalInput, Proposal};
use onemap_engine::analytics::landuse::{self, LanduseReport};
use onemap_engine::analytics::violations::{self, PatchClass, ViolationReport};
use onemap_engine::analytics::{Rules, Site, Status, digest_json, report, table};
use onemap_engine::crs::Crs;
use onemap_engine::geometry::AreaMethod;
use onemap_engine::store::RunRecord;
use onemap_engine::{Caller, Engine, Store};
use onemap_importers::read_geometry_file;

use crate::config::{
    ApprovalArgs, CheckCommand, CheckCommon, LanduseArgs, ListFormat, RunsArgs, ViolationArgs,
};

/// Conflicts found.
const CONFLICTS: u8 = 2;

/// Run a check against the store; exit 0 when nothing is wrong, 2 when conflicts were found.
pub fn run(store: Store, cmd: CheckCommand, quiet: bool) -> Result<ExitCode> {
    let engine = Engine::new(store);
    match cmd {
        CheckCommand::Approval(a) => approval_check(&engine, a),
        CheckCommand::Landuse(a) => landuse_check(&engine, a, quiet),
        CheckCommand::Violations(a) => violation_check(&engine, a, quiet),
    }
}

/// The rules: `--rules FILE` or the built-in ones.
pub fn load_rules(path: Option<&Path>) -> Result<Rules> {
    match path {
        None => Ok(Rules::default_rules()?),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read rules file {}", p.display()))?;
            Ok(Rules::parse(&text, &p.display().to_string())?)
        }
    }
}

fn method(common: &CheckCommon) -> Result<AreaMethod> {
    match &common.planar {
        None => Ok(AreaMethod::Geodesic),
        Some(s) => {
            let crs = Crs::parse(s).with_context(|| format!("--planar {s}"))?;
            if crs.is_geographic() {
                bail!("--planar {s}: a projected CRS in metres is needed (e.g. EPSG:4547)");
            }
            Ok(AreaMethod::Planar(crs))
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Write an analysis result layer, derived from the layers `sources` names, through the engine's
/// atomic write.
fn write_result_layer(
    engine: &Engine,
    sources: &std::collections::BTreeMap<String, i64>,
    (layer, features): (onemap_engine::NewLayer, Vec<onemap_engine::Feature>),
) -> Result<()> {
    let name = layer.name.clone();
    engine
        .write_result_layer(
            &Caller::operator(),
            sources.keys().map(String::as_str),
            layer,
            features.into_iter().map(Ok::<_, std::convert::Infallible>),
            |_| {},
        )
        .with_context(|| format!("writing layer '{name}'"))?;
    Ok(())
}

/// The tables (first sheet as CSV, all as XLSX) and the full result as JSON, where asked.
fn write_outputs(
    sheets: &[table::Sheet],
    csv: Option<&Path>,
    xlsx: Option<&Path>,
    json: Option<&Path>,
    result: &impl serde::Serialize,
) -> Result<()> {
    if let (Some(p), Some(first)) = (csv, sheets.first()) {
        table::write_csv(first, p)?;
    }
    if let Some(p) = xlsx {
        table::write_xlsx(sheets, p)?;
    }
    if let Some(p) = json {
        write_json(p, result)?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_file(path, &text)
}

fn bar(quiet: bool, len: u64, what: &str) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(b)
}

fn record(engine: &Engine, common: &CheckCommon, r: RunRecord) -> Result<Option<i64>> {
    if common.no_record {
        return Ok(None);
    }
    Ok(Some(
        engine
            .record_run(&Caller::operator(), r)
            .context("recording the run")?,
    ))
}

fn site_geometry(engine: &Engine, a: &ApprovalArgs) -> Result<geo::Geometry<f64>> {
    if let Some(f) = &a.feature {
        let (layer, fid) = f
            .rsplit_once(':')
            .with_context(|| format!("--feature '{f}': expected LAYER:FID"))?;
        let fid: i64 = fid
            .parse()
            .with_context(|| format!("--feature '{f}': '{fid}' is not a feature id"))?;
        return Ok(approval::feature_geometry(
            engine,
            &Caller::operator(),
            layer,
            fid,
        )?);
    }
    let Some(path) = &a.site else {
        bail!("give the red line with --site FILE or --feature LAYER:FID");
    };
    Ok(read_geometry_file(path, a.srs.as_deref())?)
}

fn approval_check(engine: &Engine, a: ApprovalArgs) -> Result<ExitCode> {
    let rules = load_rules(a.common.rules.as_deref())?;
    let method = method(&a.common)?;
    let g = site_geometry(engine, &a)?;
    let site = Site::new(&g, a.repair, &method)?;
    let proposal = Proposal {
        name: a.name.clone(),
        use_code: a.use_code.clone(),
        far: a.far,
        density: a.density,
        height_m: a.height,
        green_ratio: a.green,
    };
    let caller = Caller::operator();
    let mut r = approval::check(
        &ApprovalInput {
            engine,
            caller: &caller,
            rules: &rules,
            proposal: &proposal,
            method,
        },
        &site,
    )?;
    r.run_id = record(
        engine,
        &a.common,
        RunRecord {
            kind: "approval".into(),
            caller: caller.id.clone(),
            input_hash: r.input_hash.clone(),
            rules_version: r.rules_version.clone(),
            rules_digest: r.rules_digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: r.conclusion.as_str().into(),
            result: serde_json::to_value(&r)?,
        },
    )?;
    if let Some(p) = &a.common.json {
        write_json(p, &r)?;
    }
    if let Some(p) = &a.geojson {
        write_json(p, &report::conflicts_geojson(&r))?;
    }
    if let Some(p) = &a.html {
        write_file(p, &report::approval_html(&r))?;
    }
    match a.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        ListFormat::Table => {
            let mut t = Table::new();
            t.set_header([
                "rule",
                "result",
                "area m²",
                "share",
                "distance m",
                "message",
            ]);
            for x in &r.results {
                t.add_row([
                    format!("{} {}", x.id, x.name),
                    format!("{} {}", x.status.as_str(), x.status.zh()),
                    x.measured
                        .area_m2
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or_default(),
                    x.measured
                        .share
                        .map(|v| format!("{:.2}%", v * 100.0))
                        .unwrap_or_default(),
                    x.measured
                        .distance_m
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or_default(),
                    x.message.clone(),
                ]);
            }
            println!("{t}");
            println!(
                "site {:.2} m² ({:.2} 亩); {} parcels taken, {:.2} m²; conclusion: {} {}{}",
                r.site.area_m2,
                r.site.area_mu,
                r.parcels.len(),
                r.parcels_taken_m2,
                r.conclusion.as_str(),
                r.conclusion_zh,
                r.run_id.map(|i| format!(" (run {i})")).unwrap_or_default()
            );
        }
    }
    Ok(if r.conclusion == Status::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CONFLICTS)
    })
}

fn landuse_check(engine: &Engine, a: LanduseArgs, quiet: bool) -> Result<ExitCode> {
    let rules = load_rules(a.common.rules.as_deref())?;
    let method = method(&a.common)?;
    let caller = Caller::operator();
    let total = rules
        .landuse
        .as_ref()
        .and_then(|l| engine.layer(&l.current).ok())
        .map_or(0, |l| l.len() as u64);
    let pb = bar(quiet, total, "features");
    let r: LanduseReport = landuse::check(engine, &caller, &rules, &method, &|n| {
        if let Some(b) = &pb {
            b.set_position(n);
        }
    })?;
    if let Some(b) = pb {
        b.finish_and_clear();
    }
    if !a.no_layer {
        write_result_layer(
            engine,
            &r.layer_versions,
            landuse::result_layer(&r, &a.output_layer)?,
        )?;
    }
    write_outputs(
        &table::landuse_sheets(&r),
        a.csv.as_deref(),
        a.xlsx.as_deref(),
        a.common.json.as_deref(),
        &r,
    )?;
    let conclusion = if r.total.conflicting_m2 > 0.0 {
        "conflicts"
    } else {
        "pass"
    };
    let run = record(
        engine,
        &a.common,
        RunRecord {
            kind: "landuse".into(),
            caller: caller.id.clone(),
            input_hash: digest_json(&serde_json::json!({ "layers": r.layer_versions })),
            rules_version: rules.version.clone(),
            rules_digest: rules.digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: conclusion.into(),
            result: serde_json::json!({ "total": r.total, "by_class": r.by_class, "by_admin": r.by_admin, "pieces": r.pieces.len() }),
        },
    )?;
    let mut t = Table::new();
    t.set_header(["现状地类", "符合规划 m²", "不符合规划 m²", "无规划 m²"]);
    for (k, v) in r.by_class.iter().chain([(&"合计".to_string(), &r.total)]) {
        t.add_row([
            k.clone(),
            format!("{:.2}", v.conforming_m2),
            format!("{:.2}", v.conflicting_m2),
            format!("{:.2}", v.unplanned_m2),
        ]);
    }
    println!("{t}");
    if !quiet {
        eprintln!(
            "{} pieces{}{}",
            r.pieces.len(),
            if a.no_layer {
                String::new()
            } else {
                format!("; layer '{}' written", a.output_layer)
            },
            run.map(|i| format!("; run {i}")).unwrap_or_default()
        );
    }
    Ok(if r.total.conflicting_m2 > 0.0 {
        ExitCode::from(CONFLICTS)
    } else {
        ExitCode::SUCCESS
    })
}

fn violation_check(engine: &Engine, a: ViolationArgs, quiet: bool) -> Result<ExitCode> {
    let rules = load_rules(a.common.rules.as_deref())?;
    let method = method(&a.common)?;
    let caller = Caller::operator();
    let patches = a
        .patches
        .clone()
        .or_else(|| rules.violations.as_ref().map(|v| v.patches.clone()))
        .unwrap_or_else(|| "change_patches".into());
    let total = engine.layer(&patches).map_or(0, |l| l.len() as u64);
    let pb = bar(quiet, total, "patches");
    let r: ViolationReport =
        violations::detect(engine, &caller, &rules, Some(&patches), &method, &|n| {
            if let Some(b) = &pb {
                b.set_position(n);
            }
        })?;
    if let Some(b) = pb {
        b.finish_and_clear();
    }
    let out_name = a
        .output_layer
        .clone()
        .unwrap_or_else(|| format!("{patches}_result"));
    if !a.no_layer {
        write_result_layer(
            engine,
            &r.layer_versions,
            violations::result_layer(&r, &out_name, &rules)?,
        )?;
    }
    write_outputs(
        &table::violation_sheets(&r),
        a.csv.as_deref(),
        a.xlsx.as_deref(),
        a.common.json.as_deref(),
        &r,
    )?;
    let suspected = r.count(PatchClass::Suspected);
    let run = record(
        engine,
        &a.common,
        RunRecord {
            kind: "violations".into(),
            caller: caller.id.clone(),
            input_hash: digest_json(
                &serde_json::json!({ "patches": patches, "layers": r.layer_versions }),
            ),
            rules_version: rules.version.clone(),
            rules_digest: rules.digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: format!("{suspected} suspected"),
            result: serde_json::json!({ "totals": r.totals, "by_admin": r.by_admin, "skipped": r.skipped, "patches": r.patches }),
        },
    )?;
    let mut t = Table::new();
    t.set_header(["监测编号", "判定", "面积 m²", "原因"]);
    for p in &r.patches {
        t.add_row([
            p.id.clone(),
            p.class.zh().to_string(),
            format!("{:.2}", p.area_m2),
            p.reasons.join("；"),
        ]);
    }
    println!("{t}");
    for s in &r.skipped {
        eprintln!("onemap: warning: not applied: {s}");
    }
    if !quiet {
        eprintln!(
            "{} patches: {} 疑似违法, {} 待核查, {} 合法{}{}",
            r.patches.len(),
            suspected,
            r.count(PatchClass::Check),
            r.count(PatchClass::Legal),
            if a.no_layer {
                String::new()
            } else {
                format!("; layer '{out_name}' written")
            },
            run.map(|i| format!("; run {i}")).unwrap_or_default()
        );
    }
    Ok(if suspected > 0 {
        ExitCode::from(CONFLICTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// `onemap runs`.
pub fn runs(store: &Store, a: RunsArgs) -> Result<()> {
    let runs = store.runs(a.id, a.limit.max(1))?;
    if a.id.is_some() && runs.is_empty() {
        bail!("no recorded run {}", a.id.unwrap_or_default());
    }
    if a.id.is_some() || a.format.format == ListFormat::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.set_header(["id", "kind", "at", "caller", "conclusion", "rules", "input"]);
    for r in &runs {
        t.add_row([
            r.id.to_string(),
            r.record.kind.clone(),
            r.at.clone(),
            r.record.caller.clone().unwrap_or_default(),
            r.record.conclusion.clone(),
            r.record.rules_version.clone(),
            r.record.input_hash.chars().take(12).collect(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `onemap demo`: run violation detection and the land-use check with the built-in rules once, as
/// layers `change_patches_result` and `landuse_check`, unless they are there already.
pub fn demo_results(engine: &Engine, quiet: bool) -> Result<()> {
    let present: Vec<String> = engine
        .store()
        .layers()?
        .into_iter()
        .map(|m| m.name)
        .collect();
    let rules = Rules::default_rules()?;
    let caller = Caller::operator();
    let method = AreaMethod::Geodesic;
    let write = |sources: &std::collections::BTreeMap<String, i64>,
                 result: (onemap_engine::NewLayer, Vec<onemap_engine::Feature>)|
     -> Result<()> {
        let name = result.0.name.clone();
        write_result_layer(engine, sources, result)?;
        if !quiet {
            eprintln!("onemap demo: analysis layer '{name}' written");
        }
        Ok(())
    };
    if !present.iter().any(|n| n == "change_patches_result") {
        let r = violations::detect(engine, &caller, &rules, None, &method, &|_| {})?;
        write(
            &r.layer_versions,
            violations::result_layer(&r, "change_patches_result", &rules)?,
        )?;
        engine.record_run(&caller, RunRecord {
            kind: "violations".into(),
            caller: caller.id.clone(),
            input_hash: digest_json(&serde_json::json!({ "patches": r.patches_layer, "layers": r.layer_versions })),
            rules_version: rules.version.clone(),
            rules_digest: rules.digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: format!("{} suspected", r.count(PatchClass::Suspected)),
            result: serde_json::json!({ "totals": r.totals, "by_admin": r.by_admin, "layer": "change_patches_result" }),
        })?;
    }
    if !present.iter().any(|n| n == "landuse_check") {
        let r = landuse::check(engine, &caller, &rules, &method, &|_| {})?;
        write(
            &r.layer_versions,
            landuse::result_layer(&r, "landuse_check")?,
        )?;
        engine.record_run(&caller, RunRecord {
            kind: "landuse".into(),
            caller: caller.id.clone(),
            input_hash: digest_json(&serde_json::json!({ "layers": r.layer_versions })),
            rules_version: rules.version.clone(),
            rules_digest: rules.digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: if r.total.conflicting_m2 > 0.0 { "conflicts".into() } else { "pass".into() },
            result: serde_json::json!({ "total": r.total, "by_class": r.by_class, "layer": "landuse_check" }),
        })?;
    }
    Ok(())
}
