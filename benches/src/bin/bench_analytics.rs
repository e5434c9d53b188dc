//! `bench-analytics`: onemap's side of the analytics comparison. On a store made by
//! `gen-city --analytics DIR`, runs the approval check on 100 one-km² sites (p50/p99 per check)
//! and violation detection over every change patch, and prints JSON: timings and the figures the
//! harness compares with PostGIS (per site: basic farmland m², parcels taken and m², pipelines
//! too close; per patch: the class).
//!
//!   bench-analytics --store city.duckdb --parcels 1000000 [--sites 100]
use std::time::Instant;

use geo::Geometry;
use onemap_benches::city;
use onemap_engine::analytics::approval::{self, ApprovalInput, Proposal};
use onemap_engine::analytics::{Rules, Site, violations};
use onemap_engine::geometry::AreaMethod;
use onemap_engine::store::OpenOptions;
use onemap_engine::{Caller, Engine, Store};
use serde_json::json;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let store = arg(&args, "--store").ok_or("--store PATH is required")?;
    let parcels: usize = arg(&args, "--parcels")
        .ok_or("--parcels N is required")?
        .parse()?;
    let sites: u64 = arg(&args, "--sites")
        .unwrap_or_else(|| "100".into())
        .parse()?;
    let t = Instant::now();
    let engine = Engine::open(Store::open_with(
        &store,
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )?)?;
    let load_s = t.elapsed().as_secs_f64();
    let rules = Rules::default_rules()?;
    let caller = Caller::operator();
    let proposal = Proposal {
        use_code: Some("0701".into()),
        far: Some(2.0),
        ..Proposal::default()
    };
    let input = ApprovalInput {
        engine: &engine,
        caller: &caller,
        rules: &rules,
        proposal: &proposal,
        method: AreaMethod::Geodesic,
    };
    // One warm-up check (first touches of the layers' memory).
    let warm = Site::new(
        &Geometry::Polygon(city::site(parcels, 0)),
        false,
        &AreaMethod::Geodesic,
    )?;
    approval::check(&input, &warm)?;
    let mut times = Vec::new();
    let mut per_site = Vec::new();
    for k in 0..sites {
        let g = Geometry::Polygon(city::site(parcels, k));
        let t = Instant::now();
        let site = Site::new(&g, false, &AreaMethod::Geodesic)?;
        let r = approval::check(&input, &site)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let area = |id: &str| {
            r.results
                .iter()
                .find(|x| x.id == id)
                .and_then(|x| x.measured.area_m2)
                .unwrap_or(0.0)
        };
        let too_close = r
            .results
            .iter()
            .find(|x| x.id == "pipeline_clearance")
            .map_or(0, |x| x.features.len());
        per_site.push(json!({
            "site": k,
            "wkt": geozero::ToWkt::to_wkt(&g)?,
            "basic_farmland_m2": area("basic_farmland"),
            "outside_boundary_m2": area("development_boundary"),
            "parcels": r.parcels.len(),
            "parcels_taken_m2": r.parcels_taken_m2,
            "pipes_too_close": too_close,
            "conclusion": r.conclusion,
        }));
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let t = Instant::now();
    let v = violations::detect(
        &engine,
        &caller,
        &rules,
        None,
        &AreaMethod::Geodesic,
        &|_| {},
    )?;
    let violations_s = t.elapsed().as_secs_f64();
    let classes: Vec<_> = v
        .patches
        .iter()
        .map(|p| json!([p.fid, p.class.zh()]))
        .collect();
    println!(
        "{}",
        json!({
            "load_s": load_s,
            "approval": {
                "sites": sites,
                "p50_ms": pct(&sorted, 0.5),
                "p99_ms": pct(&sorted, 0.99),
                "mean_ms": times.iter().sum::<f64>() / times.len().max(1) as f64,
                "per_site": per_site,
            },
            "violations": {
                "patches": v.patches.len(),
                "seconds": violations_s,
                "totals": v.totals,
                "classes": classes,
            },
        })
    );
    Ok(())
}
