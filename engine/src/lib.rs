//! onemap's spatial core.
//!
//! The flow through this crate is the flow of data through onemap:
//!
//! * [`model`]: what a layer is (kind, typed schema, CRS, bounds, version) and what a feature holds.
//! * [`store`]: the embedded DuckDB file — a catalog plus one table per layer version, written atomically.
//! * [`index`]: a layer loaded into memory with an rstar R-tree over its features.
//! * [`query`]: bbox / intersects / within-distance / nearest / identify, with attribute filters and paging.
//! * [`geometry`]: measurements in metres on the CGCS2000 ellipsoid (or planar Gauss–Krüger) and WKB.
//! * [`crs`]: coordinate transforms (pure Rust, proj4rs) between lon/lat, Gauss–Krüger and Web Mercator.
//! * [`tiling`]: Mapbox Vector Tiles from loaded layers (clip, snap, encode, size cap).
//! * [`analytics`]: approval overlays, land-use checks and violation detection driven by a rules file.
//! * [`access`]: who is asking and what they may do: the policy every read and write asks.
//! * [`context`]: cancellation (deadlines, a client gone) and the request served, for long work.
//! * [`engine`]: the store plus the loaded, indexed layers that queries run against.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod analytics;
pub mod context;
pub mod crs;
pub mod engine;
pub mod error;
pub mod fuzzing;
pub mod geometry;
pub mod index;
pub mod model;
pub mod query;
pub mod store;
pub mod synth;
pub mod tiling;

pub use access::{Caller, FieldView, Policy, Via};
pub use engine::Engine;
pub use error::{Error, Result};
pub use model::{Feature, Field, FieldType, LayerKind, LayerMeta, NewLayer, Schema, Value};
pub use query::{Filter, Hit, Query, Spatial};
pub use store::Store;

/// Bytes as lower-case hex (digests, random ids).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
