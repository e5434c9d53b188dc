//! Making one vector tile from 200,000 synthetic parcels, per zoom (see benches/README.md).
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use onemap_benches::build_store;
use onemap_engine::synth::{ORIGIN, STEP};
use onemap_engine::tiling::{self, LayerTiling, SourceLayer, TileId, TileOptions};
use onemap_engine::{Engine, Store, synth};

const N: usize = 200_000;

fn tile_at(lon: f64, lat: f64, z: u32) -> TileId {
    let n = f64::from(1u32 << z);
    let r = lat.to_radians();
    let x = ((lon + 180.0) / 360.0 * n) as u64;
    let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u64;
    TileId::new(z, x, y).expect("tile")
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiles.duckdb");
    drop(build_store(&path, N));
    let engine = Engine::open(Store::open_read_only(&path).expect("open")).expect("load");
    let layer = engine.layer("parcels").expect("layer");
    let visible = vec![true; layer.meta.schema.len()];
    let tiling = LayerTiling::for_layer(&layer.meta);
    let sources = [SourceLayer {
        layer: &layer,
        visible: &visible,
        tiling: &tiling,
    }];
    let opts = TileOptions::default();
    // The middle of the parcel grid: every tile up to z12 is full of parcels.
    let cols = synth::columns(N) as f64;
    let (lon, lat) = (
        ORIGIN.0 + cols * STEP / 2.0,
        ORIGIN.1 + (N as f64 / cols) * STEP / 2.0,
    );
    let mut g = c.benchmark_group("tile 200k parcels");
    g.sample_size(10);
    for z in [12u32, 13, 14, 15, 16] {
        let t = tile_at(lon, lat, z);
        let r = tiling::render(&sources, t, &opts).expect("render");
        eprintln!(
            "z{z} {t}: {} bytes, {} MVT features from {} parcels (coalesced: {}), grid {}, cap-dropped {}",
            r.bytes.len(),
            r.layers[0].features,
            r.layers[0].source_features,
            r.layers[0].coalesced,
            r.grid,
            r.cap_dropped
        );
        g.bench_with_input(BenchmarkId::new("render", format!("z{z}")), &t, |b, t| {
            b.iter(|| {
                black_box(
                    tiling::render(&sources, *t, &opts)
                        .expect("render")
                        .bytes
                        .len(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(tiles, benches);
criterion_main!(tiles);
