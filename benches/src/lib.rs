//! Shared set-up for onemap's criterion benches: a store of synthetic Xinzheng parcels.
pub mod city;

use std::path::Path;

use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::{Store, synth};

/// The seed every bench uses, so numbers compare across runs.
pub const SEED: u64 = 2024;

/// Write `n` synthetic parcels as layer `parcels` into a new store at `path`.
pub fn build_store(path: &Path, n: usize) -> Store {
    let store = Store::open(path).expect("open bench store");
    let layer = NewLayer {
        name: "parcels".into(),
        kind: LayerKind::Cadastral,
        schema: synth::parcel_schema(),
        source_crs: "EPSG:4490".into(),
        source: "synth".into(),
    };
    store
        .write_layer(
            layer,
            synth::parcels(n, SEED).map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .expect("write bench layer");
    store
}
