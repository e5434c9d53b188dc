//! Hot paths of the engine on 100,000 synthetic parcels (see benches/README.md).
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use geo::{Geometry, Point, polygon};
use onemap_benches::build_store;
use onemap_engine::synth::{ORIGIN, STEP};
use onemap_engine::{Caller, Engine, Query, Store, synth};

const N: usize = 100_000;

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.duckdb");

    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.bench_function("write 100k parcels (one transaction)", |b| {
        b.iter_with_setup(
            || {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(path.with_extension("duckdb.wal"));
            },
            |_| black_box(build_store(&path, N)),
        )
    });
    drop(build_store(&path, N));
    g.bench_function("open + load + R-tree build, 100k parcels", |b| {
        b.iter(|| {
            let engine = Engine::open(Store::open_read_only(&path).expect("open")).expect("load");
            black_box(engine.layer("parcels").expect("layer").len())
        })
    });
    g.finish();

    let engine = Engine::open(Store::open_read_only(&path).expect("open")).expect("load");
    let caller = Caller::operator();

    let mut g = c.benchmark_group("query 100k parcels");
    for (label, size) in [("200 m box", 0.002), ("1 km box", 0.01)] {
        let q = Query::bbox(
            ORIGIN.0 + 0.05,
            ORIGIN.1 + 0.05,
            ORIGIN.0 + 0.05 + size,
            ORIGIN.1 + 0.05 + size,
        );
        g.bench_with_input(BenchmarkId::new("bbox", label), &q, |b, q| {
            b.iter(|| black_box(engine.query(&caller, "parcels", q).expect("query").matched))
        });
    }
    let site: Geometry<f64> = polygon![
        (x: ORIGIN.0 + 0.060, y: ORIGIN.1 + 0.060), (x: ORIGIN.0 + 0.068, y: ORIGIN.1 + 0.061),
        (x: ORIGIN.0 + 0.070, y: ORIGIN.1 + 0.069), (x: ORIGIN.0 + 0.061, y: ORIGIN.1 + 0.070),
        (x: ORIGIN.0 + 0.060, y: ORIGIN.1 + 0.060)
    ]
    .into();
    let q = Query::intersects(site.clone());
    g.bench_function("intersects ~0.7 km² polygon", |b| {
        b.iter(|| black_box(engine.query(&caller, "parcels", &q).expect("query").matched))
    });
    let q = Query::dwithin(site, 50.0);
    g.bench_function("within 50 m of the polygon", |b| {
        b.iter(|| black_box(engine.query(&caller, "parcels", &q).expect("query").matched))
    });
    let p = Point::new(ORIGIN.0 + 0.0712, ORIGIN.1 + 0.0345);
    for k in [1usize, 10] {
        g.bench_with_input(BenchmarkId::new("nearest", k), &k, |b, &k| {
            b.iter(|| {
                black_box(
                    engine
                        .nearest(&caller, "parcels", p, k, None)
                        .expect("nearest")
                        .hits
                        .len(),
                )
            })
        });
    }
    let cols = synth::columns(N);
    let at = Point::new(
        ORIGIN.0 + (cols as f64 / 2.0 + 0.5) * STEP,
        ORIGIN.1 + 100.5 * STEP,
    );
    g.bench_function("identify at a point", |b| {
        b.iter(|| {
            black_box(
                engine
                    .identify(&caller, at, None, 0.0)
                    .expect("identify")
                    .len(),
            )
        })
    });
    g.finish();
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
