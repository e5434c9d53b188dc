//! Full PROJ (a build with the `proj` feature): files in EPSG systems onemap does not model
//! import, query and export end to end through PROJ. `scripts/test.sh` runs this with
//! `--features proj`; the engine's unit tests check PROJ against proj4rs and the check values.
#![cfg(feature = "proj")]

mod common;

use common::onemap;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// 113.74°E 34.40°N in WGS 84 / UTM zone 50N (PROJ 9.6; the engine's test finds proj4rs's UTM
/// within 1 mm of PROJ on a grid over Henan).
const UTM_E: f64 = 200_305.589_134;
const UTM_N: f64 = 3_811_328.620_932;

fn first_vertex(v: &serde_json::Value) -> (f64, f64) {
    let c = &v["features"][0]["geometry"]["coordinates"][0][0];
    (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
}

#[test]
fn a_utm_layer_imports_queries_and_exports_through_proj() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.duckdb");
    let file = dir.path().join("utm.geojson");
    let ring = [
        (UTM_E, UTM_N),
        (UTM_E + 100.0, UTM_N),
        (UTM_E + 100.0, UTM_N + 100.0),
        (UTM_E, UTM_N + 100.0),
        (UTM_E, UTM_N),
    ];
    let coords: Vec<String> = ring.iter().map(|(x, y)| format!("[{x},{y}]")).collect();
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32650"}}}},
            "features":[{{"type":"Feature","properties":{{"name":"样方"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}]}}"#,
            coords.join(",")
        ),
    )
    .unwrap();
    onemap(&db, &["import", s(&file), "--layer", "utm"]).ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers[0]["source_crs"], "EPSG:32650");
    let q = onemap(&db, &["query", "utm", "--format", "geojson"])
        .ok()
        .json();
    let (lon, lat) = first_vertex(&q);
    assert!(
        (lon - 113.74).abs() < 1e-8 && (lat - 34.40).abs() < 1e-8,
        "{lon} {lat}"
    );
    assert_eq!(q["features"][0]["properties"]["name"], "样方");

    // Export in the same system: PROJ's WKT in the GeoPackage, coordinates back to within 1 mm.
    let out = dir.path().join("utm.gpkg");
    onemap(&db, &["export", "utm", s(&out), "--srs", "EPSG:32650"]).ok();
    let conn = rusqlite::Connection::open(&out).unwrap();
    let definition: String = conn
        .query_row(
            "SELECT definition FROM gpkg_spatial_ref_sys WHERE srs_id = 32650",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(definition.contains("UTM zone 50N"), "{definition}");
    drop(conn);
    onemap(&db, &["import", s(&out), "--layer", "utm2"]).ok();
    let q2 = onemap(&db, &["query", "utm2", "--format", "geojson"])
        .ok()
        .json();
    let (lon2, lat2) = first_vertex(&q2);
    assert!((lon2 - lon).abs() < 1e-8 && (lat2 - lat).abs() < 1e-8);

    // Systems PROJ knows but that are not map coordinates, or that it does not know, are refused.
    onemap(
        &db,
        &["import", s(&file), "--layer", "x", "--srs", "EPSG:4978"],
    )
    .user_error("not a 2D geographic or projected system");
    // PROJ prints its own diagnostic ("proj_create: crs not found") before onemap's line; its
    // logger is reachable only through unsafe FFI, which onemap does not use.
    let unknown = onemap(
        &db,
        &["import", s(&file), "--layer", "x", "--srs", "EPSG:999999"],
    );
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    let last = unknown.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("onemap: error:") && last.contains("EPSG:999999: PROJ does not know it"),
        "{}",
        unknown.stderr
    );
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(
        layers.as_array().unwrap().len(),
        2,
        "nothing written by the refusals"
    );
}
