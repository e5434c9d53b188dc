//! SIGKILL a real `onemap import` in the middle of writing: the previous layer version must be intact
//! and the store usable. While the writer runs, another process gets a clear "in use" error.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{import_sample, onemap};
use geo::Geometry;
use onemap_engine::synth;

fn write_big_geojson(path: &std::path::Path, n: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(w, r#"{{"type":"FeatureCollection","features":["#).unwrap();
    for (k, f) in synth::parcels(n, 5).enumerate() {
        let Geometry::Polygon(p) = &f.geometry else {
            unreachable!()
        };
        let ring: Vec<String> = p
            .exterior()
            .0
            .iter()
            .map(|c| format!("[{},{}]", c.x, c.y))
            .collect();
        if k > 0 {
            w.write_all(b",").unwrap();
        }
        write!(
            w,
            r#"{{"type":"Feature","properties":{{"parcel_id":"{}","DLBM":"0701"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
            f.properties[0],
            ring.join(",")
        )
        .unwrap();
    }
    w.write_all(b"]}\n").unwrap();
}

#[test]
fn sigkill_mid_import_leaves_the_previous_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.duckdb");
    import_sample(&db).ok();
    let before = onemap(&db, &["query", "landuse", "--limit", "1000"])
        .ok()
        .stdout;

    let big = dir.path().join("big.geojson");
    write_big_geojson(&big, 300_000);
    let mut child = Command::new(common::bin())
        .arg("--db")
        .arg(&db)
        .args([
            "import",
            big.to_str().unwrap(),
            "--layer",
            "landuse",
            "--kind",
            "landuse",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the writer reports written features: its transaction is open and filling.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "import ended before reporting progress");
        if line.contains("features written") {
            break;
        }
    }
    // Another process cannot open the store while the writer holds it: a clear message, no hang.
    onemap(&db, &["layers", "--lock-wait", "0"]).user_error("in use by another process");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers.as_array().unwrap().len(), 1);
    assert_eq!(layers[0]["version"], 1);
    assert_eq!(
        layers[0]["feature_count"],
        common::expected_count("landuse")
    );
    assert_eq!(layers[0]["source"], "xinzheng_landuse.geojson");
    let after = onemap(&db, &["query", "landuse", "--limit", "1000"])
        .ok()
        .stdout;
    assert_eq!(
        after, before,
        "every feature and property as before the kill"
    );

    // The store takes the next write normally.
    import_sample(&db).ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers[0]["version"], 2);
}
