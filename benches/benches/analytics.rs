//! Analytics hot paths on a generated city of 100,000 parcels plus the analytics layers
//! (`onemap_benches::city`): one approval check of a 1 km² site against every rule, and violation
//! detection over 10,000 change patches (rayon). The 1,000,000-parcel figures with p50/p99 and the
//! PostGIS side come from `benches/compare/run --only analytics` (see benches/README.md).
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use geo::Geometry;
use onemap_benches::{build_store, city};
use onemap_engine::analytics::approval::{self, ApprovalInput, Proposal};
use onemap_engine::analytics::{Rules, Site, violations};
use onemap_engine::geometry::AreaMethod;
use onemap_engine::{Caller, Engine, Store};

const N: usize = 100_000;

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("city.duckdb");
    drop(build_store(&path, N));
    city::write(&path, N, &dir.path().join("tsv")).expect("analytics layers");
    let engine = Engine::open(Store::open_read_only(&path).expect("open")).expect("load");
    let rules = Rules::default_rules().expect("rules");
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
    let mut g = c.benchmark_group("analytics 100k parcels");
    let site = Site::new(
        &Geometry::Polygon(city::site(N, 1)),
        false,
        &AreaMethod::Geodesic,
    )
    .expect("site");
    g.bench_function("approval check, 1 km² site, every rule", |b| {
        b.iter(|| black_box(approval::check(&input, &site).expect("check").parcels.len()))
    });
    g.sample_size(10);
    g.bench_function("violation detection, 10,000 patches", |b| {
        b.iter(|| {
            black_box(
                violations::detect(
                    &engine,
                    &caller,
                    &rules,
                    None,
                    &AreaMethod::Geodesic,
                    &|_| {},
                )
                .expect("detect")
                .patches
                .len(),
            )
        })
    });
    g.finish();
}

criterion_group!(analytics, benches);
criterion_main!(analytics);
