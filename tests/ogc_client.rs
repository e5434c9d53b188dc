//! A real OGC client against the running server: OWSLib's `OGCAPIFeatures` (Debian
//! python3-owslib, `tests/ogc/owslib_check.py`) lists the collections, reads each collection's
//! items in a bbox page by page to the end, and validates every items response against the OGC API
//! – Features core FeatureCollection schema (python3-jsonschema). The features it gets are the
//! ones a direct store query (`onemap query --bbox`) returns.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{get, onemap, serve};

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

fn qgis_installed() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import qgis.core"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .output()
        .is_ok_and(|o| o.status.success());
    common::require(
        "python3-qgis",
        ok,
        "scripts/setup.sh test installs python3-qgis and qgis-providers",
    )
}

/// QGIS, the desktop GIS most analysts here run, adds every collection through its OGC API –
/// Features provider (what its "Add WFS / OGC API – Features layer" dialog does), reads every
/// feature, and draws each collection's vector tiles through its XYZ vector tile provider.
#[test]
fn qgis_adds_every_collection_and_draws_its_tiles() {
    if !qgis_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    let server = serve(&db);
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    let names: Vec<String> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 5, "the demo's layers: {names:?}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ogc/qgis_check.py");
    let out = Command::new(PYTHON)
        .arg(script)
        .arg(&server.base)
        .args(&names)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "qgis ({}): {}\n{}",
        out.status,
        stdout.chars().take(2000).collect::<String>(),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    for name in &names {
        let c = &r["collections"][name];
        assert_eq!(c["valid"], true, "{name}: QGIS could not add it: {c}");
        // The fields an anonymous caller may see, no more (the cadastral owner stays closed).
        let page = get(
            &server.base,
            &format!("/collections/{name}/items?limit=10000"),
            &[],
        )
        .json();
        let open: BTreeSet<String> = page["features"][0]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let fields: Vec<String> = c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            fields.iter().cloned().collect::<BTreeSet<_>>(),
            open,
            "{name}: QGIS's fields"
        );
        // Every feature, each once, with the store's values.
        let direct = onemap(
            &db,
            &["query", name, "--limit", "1000000", "--format", "geojson"],
        )
        .ok()
        .json();
        let row = |props: &serde_json::Value| -> String {
            fields
                .iter()
                .map(|f| match &props[f] {
                    serde_json::Value::Number(n) => format!("{}", n.as_f64().unwrap()),
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut want: Vec<String> = direct["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| row(&f["properties"]))
            .collect();
        let mut got: Vec<String> = c["rows"].as_array().unwrap().iter().map(row).collect();
        assert!(!want.is_empty(), "{name}: the store has features");
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}: the features QGIS read");
        assert_eq!(c["featureCount"].as_u64().unwrap() as usize, want.len());
        assert_eq!(c["tilesValid"], true, "{name}: {c}");
        assert!(
            c["painted"].as_u64().unwrap() > 100,
            "{name}: QGIS drew no tiles: {c}"
        );
    }
}
