//! Fuzz targets: one function per parser or decision a network client can reach, each of which
//! must return (an error is fine) and never panic, overflow its stack or run away, whatever the
//! input. `engine/tests/fuzz.rs` drives them with bolero (random and structure-aware inputs, on
//! stable Rust) and replays the saved corpus; `scripts/fuzz.sh` runs them for minutes each.
#![doc(hidden)]

use std::cell::Cell;

use crate::geometry::{self, nesting};
use crate::query::Filter;

thread_local! {
    static INPUTS: Cell<u64> = const { Cell::new(0) };
}

/// Count one input a fuzz target's body ran.
pub fn tick() {
    INPUTS.with(|n| n.set(n.get() + 1));
}

/// Print how many inputs the target ran (`scripts/fuzz.sh` reports the figure) and fail when it
/// ran none: a generator that never yields a value would otherwise pass while testing nothing.
pub fn finish(target: &str) {
    let n = INPUTS.with(|n| n.replace(0));
    eprintln!("{target}: {n} inputs");
    assert!(
        n > 0,
        "{target} ran no inputs: its generator never produced one"
    );
}

/// WKT as a client sends it in a CSV cell or a CQL2 literal.
pub fn wkt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if nesting::check_wkt(text, nesting::MAX_DEPTH).is_err() {
        return;
    }
    use geozero::ToGeo;
    if let Ok(g) = geozero::wkt::Wkt(text).to_geo() {
        let _ = geometry::invalid_reason(&g);
    }
}

/// WKB as a GeoPackage or GDAL hands it over.
pub fn wkb(data: &[u8]) {
    if let Ok(g) = geometry::from_wkb(data) {
        let _ = geometry::invalid_reason(&g);
        let _ = geometry::to_wkb(&g);
    }
}

/// A CQL2 text filter (and the same text through the `--where` grammar).
pub fn cql2_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Filter::parse(text);
    }
}

/// A CQL2 JSON filter.
pub fn cql2_json(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Filter::from_cql2_json(&v);
    }
}

/// A tile address.
pub fn tile_address(z: u32, x: u64, y: u64) {
    if let Ok(t) = crate::tiling::TileId::new(z, x, y) {
        assert!(
            x < (1u64 << t.z) && y < (1u64 << t.z),
            "accepted {z}/{x}/{y}"
        );
        let b = t.lonlat_bounds(0.0);
        assert!(b.min().x <= b.max().x && b.min().y <= b.max().y);
    }
}

/// A polygon given as coordinate pairs: validity is judged and, when invalid, repaired, in
/// bounded time.
pub fn polygon(coords: &[(f64, f64)]) {
    if coords.len() < 3 {
        return;
    }
    let mut ring: Vec<geo::Coord<f64>> = coords
        .iter()
        .map(|&(x, y)| geo::coord! { x: x, y: y })
        .collect();
    ring.push(ring[0]);
    let g = geo::Geometry::Polygon(geo::Polygon::new(geo::LineString::new(ring), vec![]));
    if geometry::invalid_reason(&g).is_some()
        && let Some(fixed) = geometry::repair_polygonal(&g)
    {
        assert!(
            geometry::invalid_reason(&fixed).is_none(),
            "a repair must be valid"
        );
    }
}

/// An access policy file.
pub fn policy(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(p) = crate::access::Policy::from_toml(text, "fuzz")
    {
        // What it says must survive a round trip.
        let again = crate::access::Policy::from_toml(&p.to_toml().unwrap_or_default(), "again");
        assert!(again.is_ok(), "a valid policy must print as a valid policy");
    }
}
