//! The `gdal` feature: formats only GDAL/OGR reads (KML, MapInfo TAB, DXF) import like the native
//! ones. The files are made from the sample set by `ogr2ogr` (Debian gdal-bin) and the imported
//! layers compared with the GeoJSON originals. Built and run by `scripts/test.sh` with
//! `--features gdal` after `scripts/setup.sh test` installed libgdal-dev.
#![cfg(feature = "gdal")]
mod common;

use std::path::Path;
use std::process::Command;

use common::{onemap, sample};

fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("ogr2ogr (gdal-bin)");
    assert!(
        out.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Feature count and total geodesic area of a layer (`onemap info --format json`).
fn figures(db: &Path, layer: &str) -> (u64, f64) {
    let info = onemap(db, &["info", layer, "--format", "json"]).ok().json();
    (
        info["layer"]["feature_count"].as_u64().unwrap(),
        info["total_area_m2"].as_f64().unwrap_or(0.0),
    )
}

#[test]
fn kml_mapinfo_and_dxf_import_through_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.duckdb");
    let heritage = sample("xinzheng_heritage.geojson");
    let landuse = sample("xinzheng_landuse.geojson");
    onemap(
        &db,
        &[
            "import",
            s(&heritage),
            "--layer",
            "h_geojson",
            "--kind",
            "heritage",
        ],
    )
    .ok();
    onemap(
        &db,
        &[
            "import",
            s(&landuse),
            "--layer",
            "lu_geojson",
            "--kind",
            "landuse",
        ],
    )
    .ok();

    // KML (attributes in ExtendedData, EPSG:4326 by definition).
    let kml = dir.path().join("heritage.kml");
    ogr2ogr(&["-f", "KML", s(&kml), s(&heritage)]);
    let run = onemap(
        &db,
        &["import", s(&kml), "--layer", "h_kml", "--kind", "heritage"],
    )
    .ok();
    assert!(run.stderr.contains("GDAL"), "{}", run.stderr);
    let (n, a) = figures(&db, "h_kml");
    let (n0, a0) = figures(&db, "h_geojson");
    assert_eq!(n, n0);
    assert!((a - a0).abs() / a0 < 1e-6, "{a} vs {a0}");
    let names = onemap(
        &db,
        &[
            "query",
            "h_kml",
            "--where",
            "zone_type = '保护范围'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        names["numberMatched"], 3,
        "Chinese attributes survive: {names}"
    );

    // MapInfo TAB in the Gauss–Krüger zone the cadastre uses. MapInfo has no CGCS2000 datum, so
    // the .tab says "WGS84 transverse Mercator": onemap refuses to guess and names the CRS; the
    // analyst passes --srs.
    let tab = dir.path().join("landuse.tab");
    ogr2ogr(&[
        "-f",
        "MapInfo File",
        "-t_srs",
        "EPSG:4547",
        s(&tab),
        s(&landuse),
    ]);
    let import_tab = |extra: &[&str]| {
        let mut args = vec!["import", s(&tab), "--layer", "lu_tab", "--kind", "generic"];
        args.extend_from_slice(extra);
        onemap(&db, &args)
    };
    import_tab(&[]).user_error("transverse Mercator");
    import_tab(&["--srs", "EPSG:4547"]).ok();
    let (n, a) = figures(&db, "lu_tab");
    let (n0, a0) = figures(&db, "lu_geojson");
    assert_eq!(n, n0);
    assert!((a - a0).abs() / a0 < 1e-5, "{a} vs {a0}");

    // DXF (CAD): geometry only, no CRS; lon/lat coordinates are read as EPSG:4326 with a note.
    let dxf = dir.path().join("heritage.dxf");
    ogr2ogr(&["-f", "DXF", s(&dxf), s(&heritage)]);
    let run = onemap(
        &db,
        &["import", s(&dxf), "--layer", "h_dxf", "--kind", "generic"],
    )
    .ok();
    assert!(figures(&db, "h_dxf").0 >= 6, "{}", run.stderr);

    // Clear errors: a damaged file, a layer that is not there.
    let bad = dir.path().join("broken.kml");
    std::fs::write(&bad, "<kml><Document><Placemark><Polygon>").unwrap();
    onemap(
        &db,
        &["import", s(&bad), "--layer", "x", "--kind", "generic"],
    )
    .user_error("broken.kml");
    onemap(
        &db,
        &[
            "import",
            s(&kml),
            "--layer",
            "x",
            "--kind",
            "generic",
            "--source-layer",
            "nosuch",
        ],
    )
    .user_error("no layer 'nosuch'");
    // Nothing half-imported: the failed imports left no layer.
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert!(!layers.to_string().contains("\"name\":\"x\""));
}

#[test]
fn gml_arcs_are_linearised() {
    // GML keeps arcs (gml:Arc): OGR hands them over as CURVEPOLYGON(CIRCULARSTRING(...)) — two
    // half circles of radius 0.001° about (113.74, 34.40).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.duckdb");
    let csv = dir.path().join("c.csv");
    std::fs::write(
        &csv,
        "WKT,name\n\"CURVEPOLYGON(CIRCULARSTRING(113.741 34.4,113.739 34.4,113.741 34.4))\",圆\n",
    )
    .unwrap();
    let gml = dir.path().join("c.gml");
    ogr2ogr(&["-f", "GML", "-a_srs", "EPSG:4326", s(&gml), s(&csv)]);
    let run = onemap(
        &db,
        &["import", s(&gml), "--layer", "c", "--kind", "generic"],
    )
    .ok();
    assert!(
        run.stderr
            .contains("1 curved geometries (arcs) were linearised"),
        "{}",
        run.stderr
    );
    let q = onemap(&db, &["query", "c", "--format", "geojson"])
        .ok()
        .json();
    let ring = q["features"][0]["geometry"]["coordinates"][0]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ring.len(), 129, "two half circles of 64 segments, closed");
    for c in &ring {
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            ((x - 113.74).hypot(y - 34.40) - 0.001).abs() < 1e-9,
            "({x}, {y})"
        );
    }
}
