//! The `onemap` binary end to end on a real store file: import, list, inspect, query, identify,
//! drop, and the errors a GIS analyst will meet.
mod common;

use common::{import_sample, onemap, sample};
use geo::{Area, BoundingRect, Contains, Geometry, Intersects, Point, Rect};
use onemap_engine::geometry::Measure;

fn sample_features() -> Vec<(serde_json::Map<String, serde_json::Value>, Geometry<f64>)> {
    let text = std::fs::read_to_string(sample("xinzheng_landuse.geojson")).unwrap();
    let fc: geojson::FeatureCollection = text.parse().unwrap();
    fc.features
        .into_iter()
        .map(|f| {
            let g = Geometry::<f64>::try_from(&f.geometry.unwrap().value).unwrap();
            (f.properties.unwrap(), g)
        })
        .collect()
}

#[test]
fn import_list_info_query_identify_drop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("city.duckdb");
    let feats = sample_features();

    let r = import_sample(&db).ok();
    assert!(
        r.stderr.contains(&format!(
            "read {n}, written {n}, skipped 0",
            n = feats.len()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("EPSG:4326"), "{}", r.stderr);

    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers.as_array().unwrap().len(), 1);
    let l = &layers[0];
    assert_eq!(l["name"], "landuse");
    assert_eq!(l["kind"], "landuse");
    assert_eq!(l["version"], 1);
    assert_eq!(l["feature_count"], feats.len() as u64);
    assert_eq!(l["geometry_type"], "polygon");
    let b = l["bounds"].as_array().unwrap();
    let want = geo::GeometryCollection(feats.iter().map(|f| f.1.clone()).collect())
        .bounding_rect()
        .unwrap();
    assert_eq!(b[0].as_f64().unwrap(), want.min().x);
    assert_eq!(b[3].as_f64().unwrap(), want.max().y);
    let table = onemap(&db, &["layers"]).ok();
    assert!(table.stdout.contains("landuse") && table.stdout.contains("features"));

    // info: schema with inferred types and the total geodesic area.
    let info = onemap(&db, &["info", "landuse", "--format", "json"])
        .ok()
        .json();
    let fields = info["fields"].as_array().unwrap();
    let ty = |n: &str| {
        fields
            .iter()
            .find(|f| f["name"] == n)
            .map(|f| f["type"].as_str().unwrap().to_string())
    };
    assert_eq!(ty("DLBM").as_deref(), Some("text"));
    assert_eq!(ty("SJNF").as_deref(), Some("int"));
    let total: f64 = feats.iter().map(|f| f.1.geodesic_area_m2()).sum();
    let reported = info["total_area_m2"].as_f64().unwrap();
    assert!(
        (reported - total).abs() < 1e-6 * total,
        "{reported} vs {total}"
    );
    // ~150 m blocks: a sanity bound independent of the geodesic code (planar degrees × metres/degree).
    let rough: f64 = feats.iter().map(|f| f.1.unsigned_area()).sum::<f64>()
        * 111_320.0
        * 34.4_f64.to_radians().cos()
        * 110_900.0;
    assert!(
        (total - rough).abs() / rough < 0.01,
        "{total} vs rough {rough}"
    );
    assert!(
        onemap(&db, &["info", "landuse"])
            .ok()
            .stdout
            .contains("DLBM")
    );

    // bbox query against a scan of the file.
    let (a, bb, c, d) = (113.735, 34.395, 113.745, 34.402);
    let rect = Rect::new(geo::coord! {x: a, y: bb}, geo::coord! {x: c, y: d}).to_polygon();
    let expected = feats.iter().filter(|f| f.1.intersects(&rect)).count();
    let got = onemap(
        &db,
        &["query", "landuse", "--bbox", &format!("{a},{bb},{c},{d}")],
    )
    .ok()
    .json();
    assert_eq!(got["numberMatched"], expected as u64);
    assert_eq!(got["features"].as_array().unwrap().len(), expected);

    // attribute filter, and paging.
    let residential = feats.iter().filter(|f| f.0["DLBM"] == "0701").count();
    let got = onemap(&db, &["query", "landuse", "--where", "DLBM = '0701'"]).ok();
    assert_eq!(got.json()["numberMatched"], residential as u64);
    let page = onemap(
        &db,
        &[
            "query",
            "landuse",
            "--where",
            "DLBM = 0701 AND SJNF = 2023",
            "--limit",
            "5",
            "--offset",
            "5",
        ],
    )
    .ok();
    let all = got.feature_ints(&["id"]);
    assert_eq!(all.len(), residential);
    assert_eq!(page.feature_ints(&["id"]), all[5..10].to_vec());

    // point query and identify: the block containing the point.
    let (props, g) = &feats[123];
    let Geometry::Polygon(poly) = g else { panic!() };
    let c = poly
        .exterior()
        .0
        .iter()
        .take(4)
        .fold((0.0, 0.0), |s, c| (s.0 + c.x / 4.0, s.1 + c.y / 4.0));
    assert!(g.contains(&Point::new(c.0, c.1)));
    let pt = format!("{},{}", c.0, c.1);
    let got = onemap(&db, &["query", "landuse", "--point", &pt])
        .ok()
        .json();
    let f = &got["features"].as_array().unwrap()[0];
    assert_eq!(f["properties"]["BSM"], props["BSM"]);
    let id = onemap(&db, &["identify", "--point", &pt]).ok();
    assert!(
        id.stdout.contains(props["BSM"].as_str().unwrap()),
        "{}",
        id.stdout
    );
    assert!(id.stdout.contains(props["DLMC"].as_str().unwrap()));

    // nearest: ordered by distance, the containing block first at 0 m.
    let near = onemap(&db, &["query", "landuse", "--point", &pt, "--nearest", "3"])
        .ok()
        .json();
    let d: Vec<f64> = near["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["_distance_m"].as_f64().unwrap())
        .collect();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0], 0.0);
    assert!(d[1] >= d[0] && d[2] >= d[1] && d[1] > 1.0, "{d:?}");
    // within 40 m of the point: the block and its neighbours across ~15 m roads.
    let within = onemap(
        &db,
        &[
            "query", "landuse", "--point", &pt, "--within", "200", "--format", "table",
        ],
    )
    .ok();
    assert!(within.stdout.contains("distance (m)"));

    // Re-import: version 2. Then drop.
    import_sample(&db).ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers[0]["version"], 2);
    onemap(&db, &["drop", "landuse"]).ok();
    assert_eq!(
        onemap(&db, &["layers", "--format", "json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn geojson_with_a_gauss_kruger_crs_is_reprojected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.duckdb");
    let file = dir.path().join("gk.geojson");
    std::fs::write(
        &file,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},
           "features":[{"type":"Feature","properties":{"名称":"郑州测站"},"geometry":{"type":"Point","coordinates":[500000,3806000]}},
                       {"type":"Feature","properties":{"名称":"新郑测站"},"geometry":{"type":"Point","coordinates":[468000,3847000]}}]}"#,
    )
    .unwrap();
    let r = onemap(
        &db,
        &["import", file.to_str().unwrap(), "--layer", "stations"],
    )
    .ok();
    assert!(r.stderr.contains("EPSG:4547"), "{}", r.stderr);
    let got = onemap(&db, &["query", "stations"]).ok().json();
    let f = got["features"].as_array().unwrap();
    let c0 = f[0]["geometry"]["coordinates"].as_array().unwrap();
    // Check values from ../shared/domain/crs.md (PostGIS / gdaltransform): 1e-8° ≈ 1 mm.
    assert!((c0[0].as_f64().unwrap() - 114.0).abs() < 1e-8);
    assert!((c0[1].as_f64().unwrap() - 34.381_683_458_1).abs() < 1e-8);
    let c1 = f[1]["geometry"]["coordinates"].as_array().unwrap();
    assert!((c1[0].as_f64().unwrap() - 113.650_518_790_9).abs() < 1e-8);
    assert!((c1[1].as_f64().unwrap() - 34.750_775_590_6).abs() < 1e-8);
    assert_eq!(f[0]["properties"]["名称"], "郑州测站");
    let info = onemap(&db, &["info", "stations", "--format", "json"])
        .ok()
        .json();
    assert_eq!(info["layer"]["source_crs"], "EPSG:4547");
}

#[test]
fn beijing_1954_with_towgs84_and_gcj02_are_reprojected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.duckdb");
    let file = dir.path().join("bj54.geojson");
    std::fs::write(
        &file,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:2435"}},
           "features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[476093.1,3808062.5]}}]}"#,
    )
    .unwrap();
    let lonlat = |r: &common::Run| {
        let j = onemap(&db, &["query", "p"]).ok().json();
        let c = j["features"][0]["geometry"]["coordinates"].clone();
        assert!(r.code == 0);
        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
    };
    // Without parameters: imported with the approximate default, and the analyst is told.
    let r = onemap(&db, &["import", file.to_str().unwrap(), "--layer", "p"]).ok();
    assert!(
        r.stderr.contains("note:") && r.stderr.contains("--towgs84"),
        "{}",
        r.stderr
    );
    let (x, y) = lonlat(&r);
    // cs2cs (PROJ 9.1.1) with EPSG's 3-parameter Beijing 1954 to WGS 84: 113.7405249825, 34.3995539850.
    assert!(
        (x - 113.740_524_982_5).abs() < 1e-8 && (y - 34.399_553_985).abs() < 1e-8,
        "{x} {y}"
    );
    // With the local 7 parameters: no note, cs2cs's answer.
    let r = onemap(
        &db,
        &[
            "import",
            file.to_str().unwrap(),
            "--layer",
            "p",
            "--towgs84",
            "-12.6,-150.9,-80.2,0.5,-0.3,1.4,-3.2",
        ],
    )
    .ok();
    assert!(!r.stderr.contains("note:"), "{}", r.stderr);
    let (x, y) = lonlat(&r);
    assert!(
        (x - 113.741_271_200_6).abs() < 1e-8 && (y - 34.399_589_445_4).abs() < 1e-8,
        "{x} {y}"
    );
    // --towgs84 makes no sense for CGCS2000 data.
    onemap(
        &db,
        &[
            "import",
            file.to_str().unwrap(),
            "--layer",
            "p",
            "--srs",
            "EPSG:4547",
            "--towgs84",
            "1,2,3",
        ],
    )
    .user_error("Beijing 1954");
    // GCJ-02 coordinates (from a web map) come back to the true position.
    let gcj = dir.path().join("gcj.geojson");
    // 113.74E 34.40N in GCJ-02 by an independent implementation (PyPI prcoords 1.0.2 `wgs_gcj`;
    // npm coordtransform and gcoord give the same digits).
    let (gx, gy) = (113.74615034142361, 34.398712470435996);
    std::fs::write(
        &gcj,
        format!(r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Point","coordinates":[{gx},{gy}]}}}}]}}"#),
    )
    .unwrap();
    let r = onemap(
        &db,
        &[
            "import",
            gcj.to_str().unwrap(),
            "--layer",
            "p",
            "--srs",
            "GCJ02",
        ],
    )
    .ok();
    assert!(r.stderr.contains("GCJ-02"), "{}", r.stderr);
    let (x, y) = lonlat(&r);
    assert!(
        (x - 113.74).abs() < 1e-8 && (y - 34.40).abs() < 1e-8,
        "{x} {y}"
    );
}

#[test]
fn invalid_geometries_fail_or_are_skipped_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.duckdb");
    let file = dir.path().join("bowtie.geojson");
    let square = r#"{"type":"Feature","properties":{"n":0},"geometry":{"type":"Polygon","coordinates":[[[113.70,34.40],[113.71,34.40],[113.71,34.41],[113.70,34.41],[113.70,34.40]]]}}"#;
    let bowtie = r#"{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.70,34.40],[113.71,34.41],[113.71,34.40],[113.70,34.41],[113.70,34.40]]]}}"#;
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"FeatureCollection","features":[{square},{bowtie},{square},{bowtie}]}}"#
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let r =
        onemap(&db, &["import", f, "--layer", "v"]).user_error("2 invalid geometries: feature 1: ");
    assert!(r.stderr.contains("also features 3"), "{}", r.stderr);
    let r = onemap(&db, &["import", f, "--layer", "v", "--on-invalid", "skip"]).ok();
    assert!(
        r.stderr.contains("skipped feature 1:") && r.stderr.contains("skipped feature 3:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("written 2, skipped 2"), "{}", r.stderr);
    let got = onemap(&db, &["query", "v"]).ok();
    assert_eq!(got.feature_ints(&["properties", "n"]), vec![0, 0]);

    // After skipped features, a later error still names the feature's index in the file.
    let mixed = dir.path().join("mixed.geojson");
    let projected = r#"{"type":"Feature","properties":{"n":2},"geometry":{"type":"Point","coordinates":[476093.1,3808062.5]}}"#;
    std::fs::write(
        &mixed,
        format!(r#"{{"type":"FeatureCollection","features":[{bowtie},{projected}]}}"#),
    )
    .unwrap();
    onemap(
        &db,
        &[
            "import",
            mixed.to_str().unwrap(),
            "--layer",
            "v",
            "--on-invalid",
            "skip",
        ],
    )
    .user_error("feature 1's coordinates (x 476093..476093, y 3808062..3808062) are not lon/lat");
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.duckdb");
    let good = sample("xinzheng_landuse.geojson");
    let good_s = good.to_str().unwrap();
    import_sample(&db).ok();

    // A file cut off in the middle of a feature.
    let text = std::fs::read_to_string(&good).unwrap();
    let truncated = dir.path().join("truncated.geojson");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    onemap(
        &db,
        &[
            "import",
            truncated.to_str().unwrap(),
            "--layer",
            "landuse",
            "--kind",
            "landuse",
        ],
    )
    .user_error("truncated.geojson");
    // Not JSON at all.
    let junk = dir.path().join("junk.geojson");
    std::fs::write(&junk, "this is not json").unwrap();
    onemap(
        &db,
        &["import", junk.to_str().unwrap(), "--layer", "landuse"],
    )
    .user_error("junk.geojson");
    // Empty file.
    let empty = dir.path().join("empty.geojson");
    std::fs::write(&empty, "").unwrap();
    onemap(
        &db,
        &["import", empty.to_str().unwrap(), "--layer", "landuse"],
    )
    .user_error("empty");
    // A feature with projected coordinates but no CRS: names the feature.
    let proj = dir.path().join("noprj.geojson");
    std::fs::write(&proj, r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[113.7,34.4]}},
        {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[476093.1,3808062.5]}}]}"#).unwrap();
    onemap(
        &db,
        &["import", proj.to_str().unwrap(), "--layer", "landuse"],
    )
    .user_error("feature 1");
    // A feature without geometry.
    let nogeom = dir.path().join("nogeom.geojson");
    std::fs::write(
        &nogeom,
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"a":1},"geometry":null}]}"#,
    )
    .unwrap();
    onemap(
        &db,
        &["import", nogeom.to_str().unwrap(), "--layer", "landuse"],
    )
    .user_error("feature 0: feature has no geometry");
    // An unknown CRS.
    let badcrs = dir.path().join("badcrs.geojson");
    std::fs::write(&badcrs, r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:99999"}},"features":[]}"#).unwrap();
    onemap(
        &db,
        &["import", badcrs.to_str().unwrap(), "--layer", "landuse"],
    )
    .user_error("EPSG:99999");
    onemap(
        &db,
        &["import", good_s, "--layer", "landuse", "--srs", "EPSG:12"],
    )
    .user_error("--srs");
    // Unknown kind, bad layer name, missing file, unsupported format.
    onemap(&db, &["import", good_s, "--layer", "x", "--kind", "roads"])
        .user_error("unknown layer kind 'roads'");
    onemap(&db, &["import", good_s, "--layer", "a/b"]).user_error("invalid layer name");
    onemap(&db, &["import", "/no/such/file.geojson", "--layer", "x"])
        .user_error("/no/such/file.geojson");
    let shp = dir.path().join("x.shp");
    std::fs::write(&shp, b"\0\0").unwrap();
    onemap(&db, &["import", shp.to_str().unwrap(), "--layer", "x"])
        .user_error("no .dbf beside the .shp");
    let gpkg = dir.path().join("x.dxf");
    std::fs::write(&gpkg, b"0\nSECTION\n").unwrap();
    onemap(&db, &["import", gpkg.to_str().unwrap(), "--layer", "x"])
        .user_error("unsupported format 'dxf'");

    // Queries.
    onemap(&db, &["query", "nope"]).user_error("no layer named 'nope'");
    onemap(&db, &["query", "landuse", "--bbox", "1,2,3"]).user_error("--bbox");
    onemap(&db, &["query", "landuse", "--bbox", "114,35,113,34"]).user_error("min > max");
    onemap(&db, &["query", "landuse", "--point", "500000,3806000"])
        .user_error("longitude,latitude");
    onemap(&db, &["query", "landuse", "--where", "DLBM = "]).user_error("expected a value");
    onemap(&db, &["query", "landuse", "--where", "colour = 'red'"])
        .user_error("unknown field 'colour'");
    onemap(&db, &["query", "landuse", "--where", "SJNF > 'abc'"]).user_error("not an integer");
    onemap(&db, &["query", "landuse", "--nearest", "3"]).user_error("--nearest needs --point");
    onemap(
        &db,
        &[
            "query",
            "landuse",
            "--point",
            "113.7,34.4",
            "--within",
            "-5",
        ],
    )
    .user_error("distance");
    onemap(&db, &["drop", "nope"]).user_error("no layer named 'nope'");
    onemap(&dir.path().join("missing.duckdb"), &["layers"]).user_error("no such store");
    onemap(
        &dir.path().join("missing.duckdb"),
        &["serve", "--bind", "127.0.0.1:0"],
    )
    .user_error("no store at");
    assert!(
        !dir.path().join("missing.duckdb").exists(),
        "serve must not create an empty store"
    );
    let notdb = dir.path().join("notdb.duckdb");
    std::fs::write(&notdb, "hello").unwrap();
    onemap(&notdb, &["layers"]).user_error("notdb.duckdb");

    // After all that, the layer is exactly as first imported.
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers[0]["version"], 1);
    assert_eq!(
        layers[0]["feature_count"],
        common::expected_count("landuse")
    );
    assert_eq!(
        onemap(&db, &["query", "landuse"]).ok().json()["numberMatched"],
        common::expected_count("landuse")
    );
}

#[test]
fn config_file_and_env_choose_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("onemap.toml");
    std::fs::write(&cfg, "db = \"from-config.duckdb\"\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "import",
            sample("xinzheng_landuse.geojson").to_str().unwrap(),
            "--layer",
            "l",
        ])
        .env_remove("ONEMAP_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("from-config.duckdb").is_file());
    // The environment beats the config file; a flag beats both.
    let env_db = dir.path().join("from-env.duckdb");
    let out = std::process::Command::new(common::bin())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "import",
            sample("xinzheng_landuse.geojson").to_str().unwrap(),
            "--layer",
            "l",
        ])
        .env("ONEMAP_DB", &env_db)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(env_db.is_file());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "dbb = 1\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["--config", bad.to_str().unwrap(), "layers"])
        .env_remove("ONEMAP_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

/// Completion scripts and man pages come from the command-line definition; `bash` completes a
/// subcommand with the script, `man` renders every command's page; `--log-format json` writes
/// one JSON object per log line.
#[test]
fn completions_man_pages_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.duckdb");
    // bash: the script defines the completion, and `onemap im<TAB>` becomes `import`.
    let script = dir.path().join("onemap.bash");
    let run = onemap(&db, &["completions", "bash"]).ok();
    std::fs::write(&script, &run.stdout).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(onemap im); COMP_CWORD=1; _onemap onemap im onemap; echo ${{COMPREPLY[@]}}",
            script.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "import");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = onemap(&db, &["completions", shell]).ok();
        assert!(
            run.stdout.contains("import") && run.stdout.contains("--on-invalid"),
            "{shell}"
        );
    }
    onemap(&db, &["completions", "tcsh"]).user_error("tcsh");

    // man: a page per command, rendered by man(1).
    let pages = dir.path().join("man");
    onemap(&db, &["man", "--dir", pages.to_str().unwrap()]).ok();
    for page in [
        "onemap.1",
        "onemap-import.1",
        "onemap-serve.1",
        "onemap-users-add.1",
        "onemap-check-approval.1",
    ] {
        let out = std::process::Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(pages.join(page))
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("SYNOPSIS"),
            "{page}: {text}"
        );
    }
    let top = onemap(&db, &["man"]).ok();
    assert!(top.stdout.starts_with(".ie") && top.stdout.contains("onemap\\-import(1)"));

    // JSON logs: every log line is an object with a level and a message.
    let file = dir.path().join("p.geojson");
    std::fs::write(
        &file,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[113.7,34.4]}}]}"#,
    )
    .unwrap();
    let run = onemap(
        &db,
        &[
            "--log-format",
            "json",
            "-v",
            "import",
            file.to_str().unwrap(),
            "--layer",
            "p",
        ],
    )
    .ok();
    let logs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"] == "layer written"),
        "{}",
        run.stderr
    );
}
