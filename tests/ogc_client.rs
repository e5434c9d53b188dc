//! A real OGC client against the running server: OWSLib's `OGCAPIFeatures` (Debian
//! python3-owslib, `tests/ogc/owslib_check.py`) lists the collections, reads each collection's
//! items in a bbox page by page to the end, and validates every items response against the OGC API
//! – Features core FeatureCollection schema (python3-jsonschema). The features it gets are the
//! ones a direct store query (`onemap query --bbox`) returns.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{onemap, serve};

const PYTHON: &str = "/usr/bin/python3";

fn owslib_installed() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import owslib.ogcapi.features, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    common::require(
        "python3-owslib and python3-jsonschema",
        ok,
        "scripts/setup.sh test installs them",
    )
}

#[test]
fn owslib_reads_every_collection_to_the_end() {
    if !owslib_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    let server = serve(&db);
    let base = server.base.clone();

    let bbox = "113.725,34.390,113.750,34.405";
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ogc");
    let out = Command::new(PYTHON)
        .arg(here.join("owslib_check.py"))
        .args([&base, bbox])
        .arg(here.join("featureCollectionGeoJSON.schema.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "owslib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r["conformance"]
            .to_string()
            .contains("ogcapi-features-1/1.0/conf/core")
    );
    let collections = r["collections"].as_object().unwrap();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(collections.len(), layers.as_array().unwrap().len());
    let mut paged = false;
    for (name, c) in collections {
        assert_eq!(c["errors"], serde_json::json!([]), "{name}: schema errors");
        let got: Vec<i64> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let unique: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{name}: a feature came twice across pages"
        );
        let direct = onemap(
            &db,
            &[
                "query", name, "--bbox", bbox, "--limit", "100000", "--format", "geojson",
            ],
        )
        .ok();
        let want: BTreeSet<i64> = direct.feature_ints(&["id"]).into_iter().collect();
        assert_eq!(
            unique, want,
            "{name}: OWSLib's features differ from the store's"
        );
        assert_eq!(
            c["numberMatched"].as_u64().unwrap() as usize,
            want.len(),
            "{name}"
        );
        paged |= c["pages"].as_u64().unwrap() > 2;
    }
    assert!(paged, "some collection needs several pages");
}
