//! Deterministic synthetic cadastral data around Xinzheng, for tests and benchmarks.
//!
//! Parcels tile a jittered grid: neighbours share their edges exactly (as real cadastral parcels
//! do), so touching-but-not-overlapping cases are everywhere. The same `(n, seed)` always gives the
//! same features.
use geo::{Geometry, LineString, Polygon};

use crate::model::{Feature, Field, FieldType, Schema, Value};

/// Grid origin (south-west corner), near Xinzheng's centre.
pub const ORIGIN: (f64, f64) = (113.70, 34.36);
/// Grid step in degrees (~46 m east-west, ~55 m north-south at 34.4°N).
pub const STEP: f64 = 0.0005;

const RIGHTS: [&str; 4] = [
    "国有建设用地使用权",
    "集体土地所有权",
    "宅基地使用权",
    "土地承包经营权",
];
const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "刘", "陈", "杨", "郑"];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A value in [-0.5, 0.5) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// The jittered grid vertex (i, j). Jitter stays under 30% of a cell so cells stay simple.
pub fn vertex(i: u64, j: u64, seed: u64) -> (f64, f64) {
    let h = splitmix(seed ^ splitmix(i.wrapping_mul(0x1000_0001) ^ j.wrapping_mul(0x3000_0007)));
    let dx = unit(h) * 0.6 * STEP;
    let dy = unit(splitmix(h)) * 0.6 * STEP;
    (
        ORIGIN.0 + i as f64 * STEP + dx,
        ORIGIN.1 + j as f64 * STEP + dy,
    )
}

/// Columns of the grid for `n` parcels.
pub fn columns(n: usize) -> u64 {
    (n as f64).sqrt().ceil().max(1.0) as u64
}

/// The schema of [`parcels`].
pub fn parcel_schema() -> Schema {
    Schema::new(vec![
        Field::new("parcel_id", FieldType::Text),
        Field::new("rights_type", FieldType::Text),
        Field::new("owner", FieldType::Text),
        Field::new("floors", FieldType::Int),
        Field::new("registered_area", FieldType::Float),
    ])
    .unwrap_or_default()
}

/// Parcel `k` of a grid with `cols` columns.
pub fn parcel(k: u64, cols: u64, seed: u64) -> Feature {
    let (i, j) = (k % cols, k / cols);
    let ring: Vec<(f64, f64)> = vec![
        vertex(i, j, seed),
        vertex(i + 1, j, seed),
        vertex(i + 1, j + 1, seed),
        vertex(i, j + 1, seed),
        vertex(i, j, seed),
    ];
    let h = splitmix(seed ^ k);
    let floors = (h % 12) as i64 + 1;
    let properties = vec![
        Value::Text(format!("410184{:06}", k)),
        Value::Text(RIGHTS[(h >> 8) as usize % RIGHTS.len()].to_string()),
        Value::Text(format!(
            "{}某{}",
            SURNAMES[(h >> 16) as usize % SURNAMES.len()],
            k % 97
        )),
        if h.is_multiple_of(17) {
            Value::Null
        } else {
            Value::Int(floors)
        },
        Value::Float(2000.0 + ((h >> 24) % 800) as f64 / 4.0),
    ];
    Feature::new(
        Geometry::Polygon(Polygon::new(LineString::from(ring), vec![])),
        properties,
    )
}

/// `n` parcels, row by row from the south-west.
pub fn parcels(n: usize, seed: u64) -> impl Iterator<Item = Feature> {
    let cols = columns(n);
    (0..n as u64).map(move |k| parcel(k, cols, seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, BooleanOps};

    #[test]
    fn deterministic_and_tiling() {
        let a: Vec<_> = parcels(100, 7).collect();
        let b: Vec<_> = parcels(100, 7).collect();
        assert_eq!(a, b);
        // Neighbours share an edge and do not overlap.
        let (Geometry::Polygon(p0), Geometry::Polygon(p1)) = (&a[0].geometry, &a[1].geometry)
        else {
            panic!("parcels are polygons")
        };
        assert!(p0.intersection(p1).unsigned_area() < 1e-15);
        assert_eq!(p0.exterior().0[1], p1.exterior().0[0]);
    }
}
