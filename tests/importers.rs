//! Importers through the CLI into real stores: every sample format (GeoJSON, Shapefile with a GBK
//! DBF and an EPSG:4547 .prj, FlatGeobuf, CSV with WKT), CRS check values, encodings, field
//! mapping, and broken inputs that must fail clearly and change nothing.
mod common;

use std::path::{Path, PathBuf};

use common::{onemap, sample};

fn copy_shapefile(dir: &Path, stem: &str) -> PathBuf {
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        std::fs::copy(
            sample(&format!("xinzheng_cadastral.{ext}")),
            dir.join(format!("{stem}.{ext}")),
        )
        .unwrap();
    }
    dir.join(format!("{stem}.shp"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_sample_set_imports_in_its_formats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    let by_name = |n: &str| {
        layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == n)
            .unwrap_or_else(|| panic!("no layer {n}"))
            .clone()
    };
    // The eight sample layers and the demo's two analysis results.
    let made = common::expected();
    assert_eq!(
        layers.as_array().unwrap().len(),
        made["features"].as_object().unwrap().len() + 2
    );
    assert_eq!(by_name("change_patches_result")["kind"], "change_patch");
    assert_eq!(by_name("landuse_check")["kind"], "generic");
    let cad = by_name("cadastral");
    assert_eq!(cad["feature_count"], made["features"]["cadastral"]);
    assert_eq!(cad["source_crs"], "EPSG:4547", "from the .prj");
    assert_eq!(cad["source"], "xinzheng_cadastral.shp");
    assert_eq!(by_name("planning")["source"], "xinzheng_planning.gpkg");
    assert_eq!(
        by_name("planning")["feature_count"],
        made["features"]["planning"]
    );
    assert_eq!(
        by_name("pipelines")["feature_count"],
        made["features"]["pipelines"]
    );
    assert_eq!(
        by_name("pipelines")["source_crs"],
        "EPSG:4490",
        "from the FlatGeobuf header"
    );
    assert_eq!(
        by_name("approvals")["feature_count"],
        made["features"]["approvals"]
    );
    assert_eq!(
        by_name("change_patches")["feature_count"],
        made["features"]["change_patches"]
    );
    // Land-use codes in CSV keep their leading zero.
    let patches = onemap(
        &db,
        &[
            "query",
            "change_patches",
            "--where",
            "land_class_before = '0103'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    assert_eq!(patches["numberMatched"], made["patches_before_0103"]);

    // GBK text survives, mapped fields carry the mapped name, and the Gauss–Krüger coordinates came
    // back to lon/lat: each parcel's geodesic area agrees with the area its generator recorded.
    let parcels = onemap(
        &db,
        &[
            "query",
            "cadastral",
            "--limit",
            "1000",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    let features = parcels["features"].as_array().unwrap();
    assert_eq!(features.len() as u64, common::expected_count("cadastral"));
    let info = onemap(&db, &["info", "cadastral", "--format", "json"])
        .ok()
        .json();
    let fields: Vec<&str> = info["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for f in [
        "registered_area_m2",
        "land_use_code",
        "rights_type",
        "owner",
        "parcel_id",
        "address",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert!(features.iter().all(|f| {
        f["properties"]["address"]
            .as_str()
            .unwrap()
            .starts_with("新郑市")
    }));
    assert!(features.iter().any(|f| {
        f["properties"]["owner"]
            .as_str()
            .unwrap()
            .starts_with("张某")
    }));
    assert!(
        features
            .iter()
            .any(|f| f["properties"]["rights_type"] == "国有建设用地使用权")
    );
    let total_registered: f64 = features
        .iter()
        .map(|f| f["properties"]["registered_area_m2"].as_f64().unwrap())
        .sum();
    let total_area = info["total_area_m2"]
        .as_f64()
        .unwrap_or_else(|| panic!("no total area in {info}"));
    assert!(
        (total_area / total_registered - 1.0).abs() < 0.005,
        "geodesic {total_area} vs registered {total_registered}"
    );
}

/// A one-point Shapefile at the EPSG:4547 check value, with a GBK DBF (language driver byte, no
/// .cpg) holding 郑州.
fn check_point_shapefile(dir: &Path) -> PathBuf {
    let path = dir.join("pt.shp");
    let table = dbase::TableWriterBuilder::with_encoding(dbase::encoding::EncodingRs::from(
        encoding_rs::GBK,
    ))
    .add_character_field("name".try_into().unwrap(), 20);
    let mut w = shapefile::Writer::from_path(&path, table).unwrap();
    let mut rec = dbase::Record::default();
    rec.insert(
        "name".into(),
        dbase::FieldValue::Character(Some("郑州".into())),
    );
    w.write_shape_and_record(
        &shapefile::Point::new(476_093.098_982, 3_808_062.489_848),
        &rec,
    )
    .unwrap();
    drop(w);
    std::fs::copy(sample("xinzheng_cadastral.prj"), dir.join("pt.prj")).unwrap();
    path
}

#[test]
fn gauss_kruger_check_value_and_dbf_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.duckdb");
    let shp = check_point_shapefile(dir.path());
    let dbf = dir.path().join("pt.dbf");
    let bytes = std::fs::read(&dbf).unwrap();
    assert!(
        bytes[29] == 0x7A || bytes[29] == 0x4D,
        "the writer marks cp936: {:#x}",
        bytes[29]
    );
    let run = onemap(&db, &["import", s(&shp), "--layer", "pt"]).ok();
    assert!(
        run.stderr
            .contains("GBK (from the DBF language driver byte)"),
        "{}",
        run.stderr
    );
    let out = onemap(&db, &["query", "pt", "--format", "geojson"])
        .ok()
        .json();
    let f = &out["features"][0];
    assert_eq!(f["properties"]["name"], "郑州");
    let c = &f["geometry"]["coordinates"];
    // ../shared/domain/crs.md: EPSG:4547 E476093.098982 N3808062.489848 = 113.74E 34.40N (PROJ).
    assert!((c[0].as_f64().unwrap() - 113.74).abs() < 1e-8, "{c}");
    assert!((c[1].as_f64().unwrap() - 34.40).abs() < 1e-8, "{c}");

    // Without the language driver the DBF is read as UTF-8: GBK bytes are an error naming the
    // record and field, not mojibake; nothing is written.
    let mut unmarked = bytes.clone();
    unmarked[29] = 0;
    std::fs::write(&dbf, &unmarked).unwrap();
    onemap(&db, &["import", s(&shp), "--layer", "pt2"])
        .user_error("feature 0: field 'name': bytes that are not valid UTF-8 text");
    assert_eq!(
        onemap(&db, &["layers", "--format", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // --encoding names it.
    onemap(
        &db,
        &["import", s(&shp), "--layer", "pt2", "--encoding", "GBK"],
    )
    .ok();
    let out = onemap(&db, &["query", "pt2", "--format", "geojson"])
        .ok()
        .json();
    assert_eq!(out["features"][0]["properties"]["name"], "郑州");
    // A .cpg wins over --encoding.
    std::fs::write(dir.path().join("pt.cpg"), "UTF-8").unwrap();
    onemap(
        &db,
        &["import", s(&shp), "--layer", "pt3", "--encoding", "GBK"],
    )
    .user_error("not valid UTF-8 text (encoding from .cpg)");
}

#[test]
fn broken_shapefiles_fail_clearly_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.duckdb");
    let good = copy_shapefile(dir.path(), "good");
    onemap(
        &db,
        &[
            "import",
            s(&good),
            "--layer",
            "parcels",
            "--kind",
            "cadastral",
        ],
    )
    .ok();

    let case = |name: &str, damage: &dyn Fn(&Path), expect: &str| {
        let shp = copy_shapefile(dir.path(), name);
        damage(&shp);
        onemap(
            &db,
            &[
                "import",
                s(&shp),
                "--layer",
                "parcels",
                "--kind",
                "cadastral",
            ],
        )
        .user_error(expect);
    };
    case(
        "truncated",
        &|shp| {
            let b = std::fs::read(shp).unwrap();
            std::fs::write(shp, &b[..b.len() / 2]).unwrap();
        },
        "truncated.shp: feature 159: the file ends in the middle of this feature",
    );
    case(
        "mismatch",
        &|shp| {
            let dbf = shp.with_extension("dbf");
            let mut b = std::fs::read(&dbf).unwrap();
            b[4..8].copy_from_slice(&10u32.to_le_bytes());
            std::fs::write(&dbf, b).unwrap();
        },
        "320 shapes in the .shx but 10 records in the .dbf",
    );
    case(
        "emptyprj",
        &|shp| std::fs::write(shp.with_extension("prj"), "").unwrap(),
        "the .prj file is empty",
    );
    case(
        "lambert",
        &|shp| {
            std::fs::write(
                shp.with_extension("prj"),
                r#"PROJCS["China_Lambert",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["Central_Meridian",105.0]]"#,
            )
            .unwrap()
        },
        "is not Gauss–Krüger",
    );
    case(
        "noprj",
        &|shp| std::fs::remove_file(shp.with_extension("prj")).unwrap(),
        "does not say its CRS (no .prj)",
    );
    case(
        "nodbf",
        &|shp| std::fs::remove_file(shp.with_extension("dbf")).unwrap(),
        "no .dbf beside the .shp",
    );
    case(
        "badcpg",
        &|shp| std::fs::write(shp.with_extension("cpg"), "KLINGON").unwrap(),
        "unknown encoding 'KLINGON'",
    );

    // The layer is as it was.
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers[0]["version"], 1);
    assert_eq!(
        layers[0]["feature_count"],
        common::expected_count("cadastral")
    );
    // --srs rescues the file without a .prj.
    let shp = copy_shapefile(dir.path(), "rescued");
    std::fs::remove_file(shp.with_extension("prj")).unwrap();
    onemap(
        &db,
        &[
            "import",
            s(&shp),
            "--layer",
            "rescued",
            "--srs",
            "EPSG:4547",
        ],
    )
    .ok();
}

#[test]
fn csv_wkt_lonlat_encodings_and_invalid_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.duckdb");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // lon/lat columns, detected by name; a GBK spreadsheet export.
    let (gbk, _, _) = encoding_rs::GBK
        .encode("名称,经度,纬度,编码\n郑州,113.74,34.40,0701\n新郑,113.70,34.39,0901\n");
    let points = write("points.csv", &gbk);
    onemap(&db, &["import", s(&points), "--layer", "pts"])
        .user_error("not valid UTF-8 text; pass --encoding");
    onemap(
        &db,
        &["import", s(&points), "--layer", "pts", "--encoding", "GBK"],
    )
    .ok();
    let out = onemap(&db, &["query", "pts", "--format", "geojson"])
        .ok()
        .json();
    assert_eq!(out["features"][0]["properties"]["名称"], "郑州");
    assert_eq!(out["features"][0]["properties"]["编码"], "0701");
    assert_eq!(out["features"][0]["geometry"]["coordinates"][0], 113.74);

    // A GBK cell in an otherwise UTF-8 file: the row and column are named.
    let mut mixed = b"name,WKT\nok,POINT (113.7 34.4)\n".to_vec();
    mixed.extend_from_slice(&encoding_rs::GBK.encode("郑州").0);
    mixed.extend_from_slice(b",POINT (113.7 34.4)\n");
    let mixed = write("mixed.csv", &mixed);
    onemap(&db, &["import", s(&mixed), "--layer", "m"])
        .user_error("feature 1: field 'name': bytes that are not valid UTF-8");

    // Bad WKT names the row.
    let bad = write(
        "bad.csv",
        b"id,WKT\n1,POINT (113.7 34.4)\n2,\"POLYGON ((113.7 34.4, oops))\"\n",
    );
    onemap(&db, &["import", s(&bad), "--layer", "b"])
        .user_error("feature 1: column 'WKT': invalid WKT");

    // An invalid polygon (a bow-tie) is reported by its row; skip leaves it out.
    let bowtie = write(
        "bowtie.csv",
        b"id,geometry\n1,\"POLYGON ((113.70 34.40, 113.71 34.40, 113.71 34.41, 113.70 34.41, 113.70 34.40))\"\n2,\"POLYGON ((113.72 34.40, 113.73 34.40, 113.73 34.41, 113.72 34.41, 113.72 34.40))\"\n3,\"POLYGON ((113.70 34.40, 113.71 34.41, 113.71 34.40, 113.70 34.41, 113.70 34.40))\"\n",
    );
    // The message names the option that imports everything (repaired), not only the one that
    // drops features.
    let run = onemap(
        &db,
        &["import", s(&bowtie), "--layer", "bt", "--srs", "EPSG:4490"],
    )
    .user_error("feature 2:");
    assert!(
        run.stderr.contains("--on-invalid repair imports them"),
        "{}",
        run.stderr
    );
    let run = onemap(
        &db,
        &[
            "import",
            s(&bowtie),
            "--layer",
            "bt",
            "--srs",
            "EPSG:4490",
            "--on-invalid",
            "skip",
        ],
    )
    .ok();
    assert!(run.stderr.contains("skipped feature 2"), "{}", run.stderr);
    let out = onemap(&db, &["query", "bt", "--format", "geojson"])
        .ok()
        .json();
    let ids: Vec<i64> = out["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);

    // Repair: the bow-tie becomes two triangles (half the square's area), listed by index.
    let run = onemap(
        &db,
        &[
            "import",
            s(&bowtie),
            "--layer",
            "bt2",
            "--srs",
            "EPSG:4490",
            "--on-invalid",
            "repair",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains("repaired feature 2: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("repaired 1"), "{}", run.stderr);
    let out = onemap(
        &db,
        &["query", "bt2", "--where", "id = 3", "--format", "geojson"],
    )
    .ok()
    .json();
    let g = &out["features"][0]["geometry"];
    assert_eq!(g["type"], "MultiPolygon", "{g}");
    assert_eq!(g["coordinates"].as_array().unwrap().len(), 2);
    let info = onemap(&db, &["info", "bt2", "--format", "json"])
        .ok()
        .json();
    let squares = onemap(&db, &["info", "bt", "--format", "json"]).ok().json();
    let (with_bowtie, two_squares) = (
        info["total_area_m2"].as_f64().unwrap(),
        squares["total_area_m2"].as_f64().unwrap(),
    );
    // Two whole squares plus the bow-tie's two triangles (half a square).
    assert!(
        (with_bowtie / two_squares - 1.25).abs() < 1e-3,
        "{with_bowtie} vs {two_squares}"
    );
    // A line with one point cannot be repaired: the import fails and names it.
    let line = write("line.csv", b"id,WKT\n1,\"LINESTRING (113.7 34.4, 113.71 34.41)\"\n2,\"LINESTRING (113.7 34.4, 113.7 34.4)\"\n");
    onemap(
        &db,
        &[
            "import",
            s(&line),
            "--layer",
            "ln",
            "--srs",
            "EPSG:4490",
            "--on-invalid",
            "repair",
        ],
    )
    .user_error("feature 1:");

    // No geometry column.
    let none = write("none.csv", b"a,b\n1,2\n");
    onemap(&db, &["import", s(&none), "--layer", "n"])
        .user_error("no geometry column found (columns: a, b)");
    // Projected coordinates without --srs.
    let gk = write("gk.csv", b"x,y\n476093.098982,3808062.489848\n");
    onemap(&db, &["import", s(&gk), "--layer", "gk"]).user_error("not lon/lat: pass --srs");
    onemap(
        &db,
        &["import", s(&gk), "--layer", "gk", "--srs", "EPSG:4547"],
    )
    .ok();
    let out = onemap(&db, &["query", "gk", "--format", "geojson"])
        .ok()
        .json();
    assert!(
        (out["features"][0]["geometry"]["coordinates"][1]
            .as_f64()
            .unwrap()
            - 34.40)
            .abs()
            < 1e-8
    );
}

#[test]
fn flatgeobuf_and_field_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.duckdb");
    let fgb = sample("xinzheng_pipelines.fgb");
    onemap(
        &db,
        &[
            "import",
            s(&fgb),
            "--layer",
            "p",
            "--kind",
            "pipeline",
            "--map",
            "kind=pipe_kind",
        ],
    )
    .ok();
    let info = onemap(&db, &["info", "p", "--format", "json"]).ok().json();
    let fields: Vec<&str> = info["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"kind") && !fields.contains(&"pipe_kind"),
        "{fields:?}"
    );
    let gas = onemap(
        &db,
        &[
            "query",
            "p",
            "--where",
            "kind = 'RQ'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    assert!(gas["numberMatched"].as_i64().unwrap() >= 5);
    assert_eq!(gas["features"][0]["properties"]["pressure"], "中压B");
    // A mapping from a column the file does not have is reported before anything is written.
    onemap(
        &db,
        &["import", s(&fgb), "--layer", "q", "--map", "kind=nope"],
    )
    .user_error("--map kind=nope: the file has no column 'nope'");
    onemap(&db, &["import", s(&fgb), "--layer", "q", "--map", "kind"])
        .user_error("must be FIELD=COLUMN");
    // A truncated FlatGeobuf.
    let b = std::fs::read(&fgb).unwrap();
    let cut = dir.path().join("cut.fgb");
    std::fs::write(&cut, &b[..b.len() * 2 / 3]).unwrap();
    onemap(&db, &["import", s(&cut), "--layer", "p"])
        .user_error("the file ends in the middle of this feature");
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(layers.as_array().unwrap().len(), 1);
    assert_eq!(layers[0]["version"], 1);
    // A string property whose length claims more bytes than the feature holds: the flatgeobuf
    // crate (6.0.1) panics on its slice; the import fails with one line naming the feature, and
    // nothing is written.
    let value = "中压B".as_bytes();
    let mut prefixed = (value.len() as u32).to_le_bytes().to_vec();
    prefixed.extend_from_slice(value);
    let at = b
        .windows(prefixed.len())
        .position(|w| w == prefixed)
        .expect("the sample has a 中压B pressure");
    let mut damaged = b.clone();
    damaged[at..at + 4].copy_from_slice(&0x7fff_ff00u32.to_le_bytes());
    let bad = dir.path().join("bad-length.fgb");
    std::fs::write(&bad, &damaged).unwrap();
    onemap(&db, &["import", s(&bad), "--layer", "p"])
        .user_error("the FlatGeobuf reader failed on feature");
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(
        (layers.as_array().unwrap().len(), &layers[0]["version"]),
        (1, &serde_json::json!(1))
    );
    // Not a FlatGeobuf at all.
    let fake = dir.path().join("fake.fgb");
    std::fs::write(&fake, b"hello").unwrap();
    onemap(&db, &["import", s(&fake), "--layer", "p"]).user_error("not a FlatGeobuf file");
}

#[test]
fn geopackage_tables_and_crs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.duckdb");
    let gpkg = dir.path().join("plan.gpkg");
    std::fs::copy(sample("xinzheng_planning.gpkg"), &gpkg).unwrap();
    onemap(
        &db,
        &["import", s(&gpkg), "--layer", "plan", "--kind", "planning"],
    )
    .ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(
        layers[0]["feature_count"],
        common::expected_count("planning")
    );
    assert_eq!(
        layers[0]["source_crs"], "EPSG:4490",
        "from gpkg_spatial_ref_sys"
    );
    let q = onemap(
        &db,
        &[
            "query",
            "plan",
            "--where",
            "land_use_code = '0103'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    assert!(q["numberMatched"].as_i64().unwrap() > 0);
    assert!(q["features"][0]["properties"]["far_max"].is_number());

    // A second feature table: the file must say which one.
    {
        let conn = rusqlite::Connection::open(&gpkg).unwrap();
        conn.execute_batch(
            "CREATE TABLE zones_copy AS SELECT * FROM xinzheng_planning WHERE land_use_code = '0103';
             INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
               SELECT 'zones_copy', data_type, 'zones_copy', srs_id FROM gpkg_contents WHERE table_name = 'xinzheng_planning';
             INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m)
               SELECT 'zones_copy', column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns WHERE table_name = 'xinzheng_planning';",
        )
        .unwrap();
    }
    onemap(&db, &["import", s(&gpkg), "--layer", "plan"])
        .user_error("2 feature tables (xinzheng_planning, zones_copy): pass --source-layer");
    onemap(
        &db,
        &[
            "import",
            s(&gpkg),
            "--layer",
            "farm",
            "--source-layer",
            "zones_copy",
        ],
    )
    .ok();
    let farm = onemap(&db, &["query", "farm", "--format", "geojson"])
        .ok()
        .json();
    assert_eq!(farm["numberMatched"], q["numberMatched"]);
    onemap(
        &db,
        &["import", s(&gpkg), "--layer", "x", "--source-layer", "nope"],
    )
    .user_error("no feature table 'nope'");
    // Not a GeoPackage.
    let fake = dir.path().join("fake.gpkg");
    std::fs::write(&fake, b"not sqlite at all").unwrap();
    onemap(&db, &["import", s(&fake), "--layer", "x"]).user_error("fake.gpkg");
    let plain = dir.path().join("plain.gpkg");
    rusqlite::Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE t (a INTEGER);")
        .unwrap();
    onemap(&db, &["import", s(&plain), "--layer", "x"]).user_error("not a GeoPackage");
}

#[test]
fn dry_run_checks_everything_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.duckdb");
    let shp = sample("xinzheng_cadastral.shp");
    let run = onemap(
        &db,
        &[
            "import",
            s(&shp),
            "--layer",
            "c",
            "--kind",
            "cadastral",
            "--dry-run",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains(&format!(
            "would write {}",
            common::expected_count("cadastral")
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing written"), "{}", run.stderr);
    assert!(!db.exists(), "a dry run creates no store");
    // Problems are found as in a real import.
    let broken = copy_shapefile(dir.path(), "broken");
    std::fs::write(broken.with_extension("prj"), "").unwrap();
    onemap(&db, &["import", s(&broken), "--layer", "c", "--dry-run"])
        .user_error("the .prj file is empty");
    assert!(!db.exists());
}

fn zip_of(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        std::io::Write::write_all(&mut w, bytes).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn zipped_shapefiles() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("z.duckdb");
    let part = |ext: &str| std::fs::read(sample(&format!("xinzheng_cadastral.{ext}"))).unwrap();
    let good = dir.path().join("宗地.zip");
    zip_of(
        &good,
        &["shp", "shx", "dbf", "prj", "cpg"].map(|e| {
            (
                match e {
                    "shp" => "宗地/parcels.shp",
                    "shx" => "宗地/parcels.shx",
                    "dbf" => "宗地/parcels.dbf",
                    "prj" => "宗地/parcels.prj",
                    _ => "宗地/parcels.cpg",
                },
                part(e),
            )
        }),
    );
    let run = onemap(
        &db,
        &["import", s(&good), "--layer", "c", "--kind", "cadastral"],
    )
    .ok();
    assert!(
        run.stderr.contains("GBK (from .cpg)") && run.stderr.contains("EPSG:4547"),
        "{}",
        run.stderr
    );
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(
        layers[0]["feature_count"],
        common::expected_count("cadastral")
    );
    let q = onemap(&db, &["query", "c", "--limit", "1", "--format", "geojson"])
        .ok()
        .json();
    assert!(
        q["features"][0]["properties"]["address"]
            .as_str()
            .unwrap()
            .starts_with("新郑市")
    );

    let two = dir.path().join("two.zip");
    zip_of(&two, &[("a.shp", part("shp")), ("b.shp", part("shp"))]);
    onemap(&db, &["import", s(&two), "--layer", "c"]).user_error("2 Shapefiles (a.shp, b.shp)");
    let none = dir.path().join("none.zip");
    zip_of(&none, &[("readme.txt", b"hello".to_vec())]);
    onemap(&db, &["import", s(&none), "--layer", "c"]).user_error("holds no .shp");
    let nodbf = dir.path().join("nodbf.zip");
    zip_of(&nodbf, &[("p.shp", part("shp")), ("p.shx", part("shx"))]);
    onemap(&db, &["import", s(&nodbf), "--layer", "c"]).user_error("no .dbf beside the .shp");
    let broken = dir.path().join("broken.zip");
    std::fs::write(&broken, b"PK\x03\x04 not really").unwrap();
    onemap(&db, &["import", s(&broken), "--layer", "c"]).user_error("cannot read the zip");
    // Nothing above touched the layer.
    assert_eq!(
        onemap(&db, &["layers", "--format", "json"]).ok().json()[0]["version"],
        1
    );
}

#[test]
fn each_kind_names_the_fields_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.duckdb");
    let landuse = sample("xinzheng_landuse.geojson");
    // Land use as a cadastre: no parcel id — reported before anything is written, with the
    // columns there are and how to map one.
    onemap(&db, &["import", s(&landuse), "--layer", "x", "--kind", "cadastral"])
        .user_error("a cadastral layer needs parcel_id (or ZDDM, BDCDYH, ZDH, ZDBM); the file's columns are BSM, DLBM");
    assert!(
        !db.exists()
            || onemap(&db, &["layers", "--format", "json"])
                .ok()
                .json()
                .as_array()
                .unwrap()
                .is_empty()
    );
    // Mapped, it imports, with a note about the fields the analytics would use.
    let run = onemap(
        &db,
        &[
            "import",
            s(&landuse),
            "--layer",
            "x",
            "--kind",
            "cadastral",
            "--map",
            "parcel_id=BSM",
        ],
    )
    .ok();
    assert!(
        run.stderr
            .contains("no owner, rights_type, registered_area_m2 column"),
        "{}",
        run.stderr
    );
    // An alias counts: land use's DLBM is the land-use code.
    onemap(
        &db,
        &["import", s(&landuse), "--layer", "y", "--kind", "landuse"],
    )
    .ok();
    onemap(
        &db,
        &["import", s(&landuse), "--layer", "z", "--kind", "pipeline"],
    )
    .user_error("a pipeline layer needs pipe_kind");
}

#[test]
fn import_profiles_are_saved_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.duckdb");
    let shp = sample("xinzheng_cadastral.shp");
    let profile = dir.path().join("registration.toml");
    onemap(
        &db,
        &[
            "import",
            s(&shp),
            "--layer",
            "c1",
            "--kind",
            "cadastral",
            "--map",
            "registered_area_m2=registered",
            "--map",
            "rights_type=rights_typ",
            "--save-profile",
            s(&profile),
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(
        text.contains("kind = \"cadastral\"")
            && text.contains("registered_area_m2 = \"registered\""),
        "{text}"
    );
    // The next delivery: one flag.
    let run = onemap(
        &db,
        &["import", s(&shp), "--layer", "c2", "--profile", s(&profile)],
    )
    .ok();
    assert!(
        !run.stderr.contains("no "),
        "all fields mapped: {}",
        run.stderr
    );
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    let c2 = layers
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "c2")
        .unwrap();
    assert_eq!(c2["kind"], "cadastral");
    let info = onemap(&db, &["info", "c2", "--format", "json"]).ok().json();
    assert!(
        info["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "registered_area_m2")
    );
    // The command line wins over the profile.
    onemap(
        &db,
        &[
            "import",
            s(&shp),
            "--layer",
            "c3",
            "--profile",
            s(&profile),
            "--kind",
            "generic",
        ],
    )
    .ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    assert_eq!(
        layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "c3")
            .unwrap()["kind"],
        "generic"
    );
    // A bad profile is a clear error.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "kind = \"cadastral\"\ncolour = \"red\"\n").unwrap();
    onemap(
        &db,
        &["import", s(&shp), "--layer", "c4", "--profile", s(&bad)],
    )
    .user_error("unknown field `colour`");
}

#[test]
fn export_round_trips_through_the_importers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.duckdb");
    let shp = sample("xinzheng_cadastral.shp");
    onemap(
        &db,
        &[
            "import",
            s(&shp),
            "--layer",
            "c",
            "--kind",
            "cadastral",
            "--map",
            "registered_area_m2=registered",
            "--map",
            "rights_type=rights_typ",
        ],
    )
    .ok();
    let original = onemap(
        &db,
        &["query", "c", "--limit", "1000", "--format", "geojson"],
    )
    .ok()
    .json();
    // By parcel id (FlatGeobuf's spatial index stores features in Hilbert order): properties and
    // the first vertex of each feature.
    let by_id = |fc: &serde_json::Value| -> Vec<(serde_json::Value, (f64, f64))> {
        let mut v: Vec<(serde_json::Value, (f64, f64))> = fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let mut c = &f["geometry"]["coordinates"];
                while c[0].is_array() {
                    c = &c[0];
                }
                (
                    f["properties"].clone(),
                    (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0["parcel_id"].as_str().cmp(&b.0["parcel_id"].as_str()));
        v
    };
    for (file, srs) in [
        ("c.geojson", None),
        ("c.fgb", None),
        ("c.csv", None),
        ("c-4547.geojson", Some("EPSG:4547")),
        ("c-4547.fgb", Some("EPSG:4547")),
        ("c.gpkg", None),
        ("c-4547.gpkg", Some("EPSG:4547")),
    ] {
        let out = dir.path().join(file);
        let mut args = vec!["export", "c", s(&out)];
        if let Some(srs) = srs {
            args.extend(["--srs", srs]);
        }
        onemap(&db, &args).ok();
        // CSV carries no CRS: say it on the way back in.
        let layer = format!("back{}", file.replace(['.', '-'], "_"));
        let mut back = vec![
            "import",
            s(&out),
            "--layer",
            layer.as_str(),
            "--kind",
            "cadastral",
        ];
        if file.ends_with(".csv") {
            back.extend(["--srs", "EPSG:4490"]);
        }
        let run = onemap(&db, &back).ok();
        if let Some(srs) = srs {
            assert!(run.stderr.contains(srs), "{file}: {}", run.stderr);
        }
        let again = onemap(
            &db,
            &[
                "query",
                layer.as_str(),
                "--limit",
                "1000",
                "--format",
                "geojson",
            ],
        )
        .ok()
        .json();
        assert_eq!(
            again["numberMatched"],
            common::expected_count("cadastral"),
            "{file}"
        );
        // GDAL reads our GeoPackages too (feature count and CRS).
        if file.ends_with(".gpkg") {
            let info = std::process::Command::new("ogrinfo")
                .args(["-so", s(&out), "c"])
                .output();
            let have = info.as_ref().is_ok_and(|i| i.status.success());
            if !common::require(
                "ogrinfo (gdal-bin)",
                have,
                "scripts/setup.sh test installs gdal-bin",
            ) {
                continue;
            }
            let Ok(info) = info else { continue };
            let text = String::from_utf8_lossy(&info.stdout);
            assert!(
                text.contains(&format!(
                    "Feature Count: {}",
                    common::expected_count("cadastral")
                )),
                "{file}: {text}"
            );
            if let Some(srs) = srs {
                let code = srs.trim_start_matches("EPSG:");
                assert!(
                    text.contains(&format!("ID[\"EPSG\",{code}]")),
                    "{file}: {text}"
                );
            }
        }
        let (a, b) = (by_id(&again), by_id(&original));
        for ((pa, va), (pb, vb)) in a.iter().zip(&b) {
            assert_eq!(pa, pb, "{file}: attributes");
            assert!(
                (va.0 - vb.0).abs() < 1e-8 && (va.1 - vb.1).abs() < 1e-8,
                "{file}: {va:?} vs {vb:?}"
            );
        }
    }
    onemap(&db, &["export", "c", s(&dir.path().join("c.kml"))])
        .user_error("cannot tell the format from '.kml'");
    onemap(&db, &["export", "nope", s(&dir.path().join("n.geojson"))])
        .user_error("no layer named 'nope'");
    onemap(
        &db,
        &[
            "export",
            "c",
            s(&dir.path().join("g.geojson")),
            "--srs",
            "GCJ02",
        ],
    )
    .user_error("files need an EPSG system");
}

/// A CSV export is safe to open in a spreadsheet: text a spreadsheet would run as a formula gets
/// a leading `'`, numbers and ordinary text are untouched; `--csv-raw` writes the text as stored.
#[test]
fn csv_export_neutralises_formulas_unless_asked_for_raw_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.duckdb");
    let src = dir.path().join("f.geojson");
    let names = [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+1",
        "-2 号",
        "@SUM(A1)",
        "\tTAB",
        "新郑市",
    ];
    let features: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            serde_json::json!({ "type": "Feature",
                "properties": { "name": n, "n": -(i as i64) },
                "geometry": { "type": "Point", "coordinates": [113.7 + i as f64 * 1e-3, 34.4] } })
        })
        .collect();
    std::fs::write(
        &src,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    onemap(&db, &["import", s(&src), "--layer", "f"]).ok();
    let read = |path: &Path| -> Vec<(String, String)> {
        let mut r = csv::Reader::from_path(path).unwrap();
        let h = r.headers().unwrap().clone();
        let (name, n) = (
            h.iter().position(|c| c == "name").unwrap(),
            h.iter().position(|c| c == "n").unwrap(),
        );
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[name].to_string(), rec[n].to_string())
            })
            .collect()
    };
    let safe = dir.path().join("safe.csv");
    onemap(&db, &["export", "f", s(&safe)]).ok();
    let mut rows = read(&safe);
    rows.sort_by(|a, b| b.1.cmp(&a.1));
    let mut want: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let cell = if i < 5 {
                format!("'{n}")
            } else {
                n.to_string()
            };
            (cell, (-(i as i64)).to_string())
        })
        .collect();
    want.sort_by(|a, b| b.1.cmp(&a.1));
    assert_eq!(rows, want, "numbers stay numbers, formulas become text");
    let raw = dir.path().join("raw.csv");
    onemap(&db, &["export", "f", s(&raw), "--csv-raw"]).ok();
    let mut rows = read(&raw);
    rows.sort_by(|a, b| b.1.cmp(&a.1));
    let mut exact: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), (-(i as i64)).to_string()))
        .collect();
    exact.sort_by(|a, b| b.1.cmp(&a.1));
    assert_eq!(rows, exact);
    onemap(
        &db,
        &["export", "f", s(&dir.path().join("f.fgb")), "--csv-raw"],
    )
    .user_error("--csv-raw applies to CSV output only");
}

/// `--all-layers`: every feature table of a GeoPackage in one run, each as `<layer>_<table>`,
/// all checked before any is written. The GeoPackage is made by ogr2ogr (gdal-bin, installed by
/// `scripts/setup.sh test`).
#[test]
fn every_geopackage_table_in_one_run() {
    let have = std::process::Command::new("ogr2ogr")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require(
        "ogr2ogr (gdal-bin)",
        have,
        "scripts/setup.sh test installs gdal-bin",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("plan.gpkg");
    let ogr = |args: &[&str]| {
        let out = std::process::Command::new("ogr2ogr")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let g = gpkg.to_str().unwrap();
    let heritage = sample("xinzheng_heritage.geojson");
    let control = sample("xinzheng_control_lines.geojson");
    ogr(&[
        "-f",
        "GPKG",
        g,
        heritage.to_str().unwrap(),
        "-nln",
        "heritage_zones",
    ]);
    ogr(&[
        "-update",
        "-f",
        "GPKG",
        g,
        control.to_str().unwrap(),
        "-nln",
        "控制线",
    ]);
    let db = dir.path().join("a.duckdb");
    onemap(
        &db,
        &[
            "import",
            g,
            "--layer",
            "plan",
            "--all-layers",
            "--kind",
            "generic",
        ],
    )
    .ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    let count = |n: &str| {
        layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == n)
            .unwrap_or_else(|| panic!("no layer {n}: {layers}"))["feature_count"]
            .clone()
    };
    assert_eq!(count("plan_heritage_zones"), 6);
    assert_eq!(count("plan_控制线"), 4);
    // A table with an invalid polygon stops the run before anything is written.
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1},"geometry":{"type":"Polygon","coordinates":[[[113.73,34.39],[113.74,34.40],[113.74,34.39],[113.73,34.40],[113.73,34.39]]]}}]}"#).unwrap();
    ogr(&[
        "-update",
        "-f",
        "GPKG",
        g,
        bad.to_str().unwrap(),
        "-nln",
        "zz_bad",
    ]);
    let db2 = dir.path().join("b.duckdb");
    onemap(
        &db2,
        &[
            "import",
            g,
            "--layer",
            "p",
            "--all-layers",
            "--kind",
            "generic",
        ],
    )
    .user_error("zz_bad");
    assert!(
        !db2.exists()
            || onemap(&db2, &["layers", "--format", "json"]).ok().json() == serde_json::json!([])
    );
    // One-layer formats say so.
    onemap(
        &db,
        &[
            "import",
            heritage.to_str().unwrap(),
            "--layer",
            "x",
            "--all-layers",
        ],
    )
    .user_error("one layer");
}

/// A GeoPackage geometry blob: the `GP` header (version 0, little-endian, no envelope) and WKB.
fn gpkg_blob(srs_id: i32, wkb: &[u8]) -> Vec<u8> {
    let mut v = b"GP".to_vec();
    v.push(0);
    v.push(0b0000_0001);
    v.extend_from_slice(&srs_id.to_le_bytes());
    v.extend_from_slice(wkb);
    v
}

#[test]
fn curved_geometries_are_linearised_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.duckdb");
    // A GeoPackage written by onemap's own exporter, then one geometry replaced by a
    // CURVEPOLYGON(CIRCULARSTRING(...)): a circle of 0.001° about (113.74, 34.40), as CAD and
    // survey tools write them.
    let src = dir.path().join("pts.geojson");
    std::fs::write(
        &src,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"圆"},"geometry":{"type":"Polygon","coordinates":[[[113.7,34.4],[113.71,34.4],[113.71,34.41],[113.7,34.4]]]}},
          {"type":"Feature","properties":{"name":"方"},"geometry":{"type":"Polygon","coordinates":[[[113.8,34.4],[113.81,34.4],[113.81,34.41],[113.8,34.4]]]}}]}"#,
    )
    .unwrap();
    onemap(&db, &["import", s(&src), "--layer", "src"]).ok();
    let gpkg = dir.path().join("curves.gpkg");
    onemap(&db, &["export", "src", s(&gpkg)]).ok();
    let (cx, cy, r) = (113.74_f64, 34.40_f64, 0.001_f64);
    let mut wkb = vec![1u8];
    wkb.extend_from_slice(&10u32.to_le_bytes()); // CurvePolygon
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.push(1);
    wkb.extend_from_slice(&8u32.to_le_bytes()); // CircularString
    wkb.extend_from_slice(&3u32.to_le_bytes());
    for (x, y) in [(cx + r, cy), (cx - r, cy), (cx + r, cy)] {
        wkb.extend_from_slice(&x.to_le_bytes());
        wkb.extend_from_slice(&y.to_le_bytes());
    }
    {
        let conn = rusqlite::Connection::open(&gpkg).unwrap();
        let (table, column): (String, String) = conn
            .query_row(
                "SELECT table_name, column_name FROM gpkg_geometry_columns",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let n = conn
            .execute(
                &format!("UPDATE \"{table}\" SET \"{column}\" = ?1 WHERE name = '圆'"),
                [gpkg_blob(4490, &wkb)],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let run = onemap(&db, &["import", s(&gpkg), "--layer", "curves"]).ok();
    assert!(
        run.stderr
            .contains("1 curved geometries (arcs) were linearised, 32 segments per quarter circle"),
        "{}",
        run.stderr
    );
    let q = onemap(
        &db,
        &[
            "query",
            "curves",
            "--where",
            "name = '圆'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    let ring = q["features"][0]["geometry"]["coordinates"][0]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ring.len(), 129, "a 128-gon, closed");
    for c in &ring {
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            ((x - cx).hypot(y - cy) - r).abs() < 1e-12,
            "({x}, {y}) is off the circle"
        );
    }
    // The straight polygon beside it is untouched.
    let q = onemap(
        &db,
        &[
            "query",
            "curves",
            "--where",
            "name = '方'",
            "--format",
            "geojson",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        q["features"][0]["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

/// Shapefile and FlatGeobuf headers type every column: the import takes the schema from them
/// (no schema pass over the records), with the types the records' values have.
#[test]
fn header_typed_formats_keep_their_column_types() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.duckdb");
    let shp = copy_shapefile(dir.path(), "xinzheng_cadastral");
    onemap(
        &db,
        &["import", s(&shp), "--layer", "c", "--kind", "cadastral"],
    )
    .ok();
    let fgb = sample("xinzheng_pipelines.fgb");
    onemap(
        &db,
        &["import", s(&fgb), "--layer", "p", "--kind", "pipeline"],
    )
    .ok();
    let layers = onemap(&db, &["layers", "--format", "json"]).ok().json();
    let types = |name: &str| -> Vec<(String, String)> {
        let l = layers
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap();
        l["schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["type"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let t = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // DBF: C → text, N(24,15) → float.
    assert_eq!(
        types("c"),
        t(&[
            ("parcel_id", "text"),
            ("owner", "text"),
            ("rights_typ", "text"),
            ("land_use_c", "text"),
            ("registered", "float"),
            ("address", "text"),
        ])
    );
    // FlatGeobuf: String → text, Int/Long → int, Double → float.
    assert_eq!(
        types("p"),
        t(&[
            ("pipe_id", "text"),
            ("pipe_kind", "text"),
            ("kind_name", "text"),
            ("diameter_mm", "int"),
            ("depth_m", "float"),
            ("pressure", "text"),
            ("material", "text"),
            ("built_year", "int"),
        ])
    );
    // GBK text decoded from the DBF records, not only the header.
    let q = onemap(&db, &["query", "c", "--limit", "1", "--format", "geojson"])
        .ok()
        .json();
    assert!(
        q["features"][0]["properties"]["address"]
            .as_str()
            .is_some_and(|a| a.contains("新郑"))
    );
}

#[test]
fn z_values_are_dropped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("z.duckdb");
    // GeoJSON positions with an elevation.
    let gj = dir.path().join("z.geojson");
    std::fs::write(
        &gj,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[113.74,34.40,112.5]}},
          {"type":"Feature","properties":{"n":2},"geometry":{"type":"Point","coordinates":[113.75,34.41]}}]}"#,
    )
    .unwrap();
    let run = onemap(&db, &["import", s(&gj), "--layer", "zg"]).ok();
    assert!(
        run.stderr
            .contains("1 geometries with Z/M values were flattened to 2D"),
        "{}",
        run.stderr
    );
    // A GeoPackage PolygonZ (ISO WKB type 1003), written over an exported layer's geometry.
    let src = dir.path().join("sq.geojson");
    std::fs::write(
        &src,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.7,34.4],[113.71,34.4],[113.71,34.41],[113.7,34.4]]]}}]}"#,
    )
    .unwrap();
    onemap(&db, &["import", s(&src), "--layer", "sq"]).ok();
    let gpkg = dir.path().join("z.gpkg");
    onemap(&db, &["export", "sq", s(&gpkg)]).ok();
    let mut wkb = vec![1u8];
    wkb.extend_from_slice(&1003u32.to_le_bytes());
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.extend_from_slice(&4u32.to_le_bytes());
    for (x, y) in [
        (113.7, 34.4),
        (113.71, 34.4),
        (113.71, 34.41),
        (113.7, 34.4),
    ] {
        for v in [x, y, 95.0_f64] {
            wkb.extend_from_slice(&v.to_le_bytes());
        }
    }
    {
        let conn = rusqlite::Connection::open(&gpkg).unwrap();
        let (table, column): (String, String) = conn
            .query_row(
                "SELECT table_name, column_name FROM gpkg_geometry_columns",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        conn.execute(
            &format!("UPDATE \"{table}\" SET \"{column}\" = ?1"),
            [gpkg_blob(4490, &wkb)],
        )
        .unwrap();
    }
    let run = onemap(&db, &["import", s(&gpkg), "--layer", "zp"]).ok();
    assert!(
        run.stderr
            .contains("1 geometries with Z/M values were flattened to 2D"),
        "{}",
        run.stderr
    );
    let q = onemap(&db, &["query", "zp", "--format", "geojson"])
        .ok()
        .json();
    let first = &q["features"][0]["geometry"]["coordinates"][0][0];
    assert_eq!(first.as_array().unwrap().len(), 2, "stored in 2D: {first}");
    // A Shapefile of PointZ and PointM (written with the shapefile crate).
    let shp = dir.path().join("zm.shp");
    {
        let table =
            dbase::TableWriterBuilder::new().add_numeric_field("n".try_into().unwrap(), 5, 0);
        let mut w = shapefile::Writer::from_path(&shp, table).unwrap();
        let mut rec = dbase::Record::default();
        rec.insert("n".into(), dbase::FieldValue::Numeric(Some(1.0)));
        w.write_shape_and_record(&shapefile::PointZ::new(113.74, 34.40, 112.5, 0.0), &rec)
            .unwrap();
        w.write_shape_and_record(&shapefile::PointZ::new(113.75, 34.41, 7.0, 0.0), &rec)
            .unwrap();
    }
    let run = onemap(&db, &["import", s(&shp), "--layer", "zs"]).ok();
    assert!(
        run.stderr
            .contains("2 shapes with Z/M values were flattened to 2D"),
        "{}",
        run.stderr
    );
    let q = onemap(&db, &["query", "zs", "--format", "geojson"])
        .ok()
        .json();
    assert_eq!(
        q["features"][0]["geometry"]["coordinates"],
        serde_json::json!([113.74, 34.4])
    );
    // A FlatGeobuf with Z, written by GDAL from the GeoJSON above.
    let have = std::process::Command::new("ogr2ogr")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require(
        "ogr2ogr (gdal-bin)",
        have,
        "scripts/setup.sh test installs gdal-bin",
    ) {
        return;
    }
    let fgb = dir.path().join("z.fgb");
    let out = std::process::Command::new("ogr2ogr")
        .args([
            "-f",
            "FlatGeobuf",
            "-dim",
            "XYZ",
            "-a_srs",
            "EPSG:4326",
            s(&fgb),
            s(&gj),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = onemap(&db, &["import", s(&fgb), "--layer", "zf"]).ok();
    assert!(
        run.stderr
            .contains("geometries with Z/M values were flattened to 2D"),
        "{}",
        run.stderr
    );
    let q = onemap(&db, &["query", "zf", "--format", "geojson"])
        .ok()
        .json();
    assert_eq!(
        q["features"][0]["geometry"]["coordinates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
