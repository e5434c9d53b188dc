//! Real third-party files, imported with default options as a new user would: Natural Earth's
//! countries and cities as geopandas 0.14.4's wheel ships them (fetched from PyPI by
//! `scripts/setup.sh test`, never committed). Counts, extents and CRS are checked against GDAL
//! (`ogrinfo`), every country's area on the CGCS2000 ellipsoid against PROJ's (pyproj's `Geod`,
//! `tests/corpus/areas.py`) over the features as GDAL reads them. (SpatiaLite's
//! `ST_Area(geometry, 1)` was tried first: it differs from PROJ by 0.45% for equatorial countries.)
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::onemap;
use onemap_engine::geometry::Measure;

/// geopandas' datasets folder, unpacked by the test setup.
fn datasets() -> Option<PathBuf> {
    let root = std::env::var_os("ONEMAP_CORPUS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/onemap/corpus")))
        .unwrap_or_default();
    let dir = root.join("geopandas/geopandas/datasets");
    let present = dir
        .join("naturalearth_lowres/naturalearth_lowres.shp")
        .is_file()
        && Command::new("ogrinfo").arg("--version").output().is_ok()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import pyproj"])
            .output()
            .is_ok_and(|o| o.status.success());
    common::require(
        "the third-party corpus (Natural Earth from the geopandas 0.14.4 wheel), ogrinfo and python3-pyproj",
        present,
        "scripts/setup.sh test fetches geopandas 0.14.4's wheel from PyPI and installs gdal-bin and python3-pyproj",
    )
    .then_some(dir)
}

/// `ogrinfo -so`'s feature count and extent of a file's only layer.
fn ogr_summary(file: &std::path::Path) -> (u64, [f64; 4]) {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let extent = text
        .lines()
        .find_map(|l| l.strip_prefix("Extent: "))
        .unwrap();
    let nums: Vec<f64> = extent
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter_map(|t| t.parse().ok())
        .collect();
    (count, [nums[0], nums[1], nums[2], nums[3]])
}

#[test]
fn natural_earth_imports_with_default_options() {
    let Some(data) = datasets() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.duckdb");
    let countries = data.join("naturalearth_lowres/naturalearth_lowres.shp");
    let cities = data.join("naturalearth_cities/naturalearth_cities.shp");

    // Countries: Fiji and Russia reach longitude 180.00000000000006, which is clamped and said.
    let run = onemap(
        &db,
        &[
            "import",
            countries.to_str().unwrap(),
            "--layer",
            "countries",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains("clamped onto the range"),
        "{}",
        run.stderr
    );
    onemap(
        &db,
        &["import", cities.to_str().unwrap(), "--layer", "cities"],
    )
    .ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    for (layer, file) in [("countries", &countries), ("cities", &cities)] {
        let (count, extent) = ogr_summary(file);
        let l = layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == layer)
            .unwrap();
        assert_eq!(l["feature_count"].as_u64().unwrap(), count, "{layer}");
        assert!(
            l["source_crs"].as_str().unwrap().contains("4326"),
            "{layer}: {l}"
        );
        let b: Vec<f64> = l["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // ogrinfo prints six decimals.
        for (got, want) in b.iter().zip(extent) {
            assert!(
                (got - want).abs() < 1e-6,
                "{layer}: bounds {b:?} vs {extent:?}"
            );
        }
    }

    // Every country's area on the CGCS2000 ellipsoid, against PROJ's (pyproj's Geod) over the
    // file as GDAL reads it.
    let gdal = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON", "/vsistdout/"])
        .arg(&countries)
        .output()
        .unwrap();
    assert!(
        gdal.status.success(),
        "{}",
        String::from_utf8_lossy(&gdal.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/areas.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg("name")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = std::thread::spawn(move || stdin.write_all(&gdal.stdout));
    let out = child.wait_with_output().unwrap();
    feed.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: BTreeMap<String, f64> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = onemap(
        &db,
        &[
            "query",
            "countries",
            "--limit",
            "1000",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    let fc: geojson::FeatureCollection = serde_json::from_value(ours).unwrap();
    assert_eq!(fc.features.len(), want.len());
    let mut diffs: Vec<(f64, String)> = Vec::new();
    for f in &fc.features {
        let name = f.properties.as_ref().unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();
        let g: geo::Geometry<f64> = f.geometry.clone().unwrap().try_into().unwrap();
        let area = g.geodesic_area_m2();
        let theirs = want[&name];
        diffs.push((
            (area - theirs).abs() / theirs,
            format!("{name}: {area:.0} vs {theirs:.0}"),
        ));
    }
    diffs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let worst = diffs[0].clone();
    eprintln!(
        "Natural Earth: worst relative area difference against PROJ {:.2e} ({})",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-9, "{worst:?}");
}
