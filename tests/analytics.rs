//! `onemap check` on the Xinzheng sample set: every deliberately illegal change patch is found and
//! no legal one flagged; areas agree with PostGIS `ST_Area(ST_Intersection(...)::geography)`
//! within 0.1% and classifications with the same rules written as SQL; outputs (layer, CSV, XLSX,
//! GeoJSON, HTML, audit trail) and error exits.
mod common;
#[path = "../engine/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::{onemap, sample};
use onemap_engine::geometry::to_wkb;
use onemap_engine::{Caller, Engine, Query, Store};
use serde_json::Value as Json;

fn demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    (dir, db)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-3 * b.abs().max(1.0);
    assert!((a - b).abs() <= tol, "{what}: onemap {a} vs PostGIS {b}");
}

/// Copy layers of the store into PostGIS tables of the same names: fid, the named text columns,
/// geom (EPSG:4326).
fn to_postgis(pg: &support::Postgis, db: &Path, layers: &[(&str, &[&str])]) {
    let engine = Engine::new(Store::open_read_only(db).unwrap());
    for (name, cols) in layers {
        let hits = engine
            .query(&Caller::operator(), name, &Query::all())
            .unwrap();
        let l = &hits.layer;
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| l.meta.schema.index_of(c).unwrap())
            .collect();
        let mut sql = format!(
            "CREATE TABLE {name} (fid bigint primary key, {} geom geometry);\nCOPY {name} FROM stdin;\n",
            cols.iter()
                .map(|c| format!("\"{c}\" text,"))
                .collect::<String>()
        );
        for h in &hits.hits {
            let props = l.properties(h.index);
            let wkb: String = to_wkb(l.geometry(h.index))
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            sql.push_str(&h.fid.to_string());
            for k in &idx {
                sql.push('\t');
                sql.push_str(&props[*k].to_string());
            }
            sql.push_str(&format!("\t{wkb}\n"));
        }
        sql.push_str("\\.\n");
        // The hex WKB has no SRID: set it.
        sql.push_str(&format!(
            "UPDATE {name} SET geom = ST_SetSRID(geom, 4326);\n"
        ));
        pg.sql(&sql);
    }
}

#[test]
fn sample_patches_are_classified_as_expected() {
    let (dir, db) = demo();
    let json = dir.path().join("v.json");
    let csv = dir.path().join("v.csv");
    let xlsx = dir.path().join("v.xlsx");
    let run = onemap(
        &db,
        &[
            "check",
            "violations",
            "--json",
            s(&json),
            "--csv",
            s(&csv),
            "--xlsx",
            s(&xlsx),
        ],
    );
    assert_eq!(
        run.code, 2,
        "suspected violations exit 2: {}{}",
        run.stdout, run.stderr
    );
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The sample's `expected` column says what each patch is.
    let layer = onemap(&db, &["query", "change_patches", "--format", "geojson"])
        .ok()
        .json();
    let expected: BTreeMap<String, String> = layer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            // JCBH is all digits: the CSV importer types it as an integer.
            let id = &f["properties"]["JCBH"];
            let id = id.as_str().map_or_else(|| id.to_string(), str::to_string);
            (
                id,
                f["properties"]["expected"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let patches = report["patches"].as_array().unwrap();
    assert_eq!(patches.len(), expected.len());
    for p in patches {
        let id = p["id"].as_str().unwrap();
        assert_eq!(
            p["class"],
            expected[id].as_str(),
            "patch {id}: {}",
            p["reasons"]
        );
    }
    assert!(expected.values().any(|v| v == "疑似违法") && expected.values().any(|v| v == "合法"));
    // The result layer is on the map, styled by status.
    let info = onemap(
        &db,
        &["query", "change_patches_result", "--format", "geojson"],
    )
    .ok()
    .json();
    assert_eq!(info["features"].as_array().unwrap().len(), patches.len());
    let styled = onemap(&db, &["info", "change_patches_result", "--format", "json"])
        .ok()
        .json();
    assert_eq!(styled["layer"]["kind"], "change_patch");
    // CSV: BOM, header and one row per patch.
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(text.lines().count(), patches.len() + 1);
    assert!(text.lines().next().unwrap().contains("监测编号"));
    // XLSX: a zip with both sheets.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    let mut wb = String::new();
    zip.by_name("xl/workbook.xml")
        .unwrap()
        .read_to_string(&mut wb)
        .unwrap();
    assert!(
        wb.contains("图斑判定") && wb.contains("按行政区汇总"),
        "{wb}"
    );
    // Recorded.
    let runs = onemap(&db, &["runs", "--format", "json"]).ok().json();
    assert_eq!(runs[0]["kind"], "violations");
    assert_eq!(runs[0]["layer_versions"]["change_patches"], 1);
}

#[test]
fn violations_agree_with_postgis() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let (dir, db) = demo();
    let json = dir.path().join("v.json");
    onemap(
        &db,
        &["check", "violations", "--no-layer", "--json", s(&json)],
    );
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    to_postgis(
        &pg,
        &db,
        &[
            ("change_patches", &["land_class_after"]),
            ("approvals", &[]),
            ("control_lines", &["line_type"]),
            ("heritage", &["zone_type"]),
            ("landuse", &["DLBM"]),
        ],
    );
    // The shipped rules (rules/default.toml) as SQL.
    let out = pg.sql(
        "WITH m AS (
           SELECT p.fid, p.land_class_after AS after, ST_Area(p.geom::geography) AS area,
             COALESCE((SELECT ST_Area(ST_Intersection(p.geom, ST_Union(a.geom))::geography) FROM approvals a WHERE ST_Intersects(a.geom, p.geom)), 0) AS approved,
             COALESCE((SELECT ST_Area(ST_Intersection(p.geom, ST_Union(c.geom))::geography) FROM control_lines c WHERE c.line_type = '永久基本农田' AND ST_Intersects(c.geom, p.geom)), 0) AS farmland,
             COALESCE((SELECT ST_Area(ST_Intersection(p.geom, ST_Union(c.geom))::geography) FROM control_lines c WHERE c.line_type = '生态保护红线' AND ST_Intersects(c.geom, p.geom)), 0) AS eco,
             COALESCE((SELECT ST_Area(ST_Intersection(p.geom, ST_Union(h.geom))::geography) FROM heritage h WHERE h.zone_type = '保护范围' AND ST_Intersects(h.geom, p.geom)), 0) AS heritage,
             COALESCE((SELECT ST_Area(ST_Intersection(p.geom, ST_Union(l.geom))::geography) FROM landuse l WHERE l.\"DLBM\" LIKE '01%' AND ST_Intersects(l.geom, p.geom)), 0) AS cultivated
           FROM change_patches p)
         SELECT fid,
           CASE WHEN farmland > 1 OR eco > 1 OR heritage > 1 THEN '疑似违法'
                WHEN approved > 1 AND (area - approved <= 10 OR (area - approved) / area <= 0.05) THEN '合法'
                WHEN approved > 1 THEN '疑似违法'
                WHEN after ~ '^(06|07|08|09|10|11|12|13|15)' THEN '疑似违法'
                ELSE '待核查' END,
           area, approved, farmland, heritage, cultivated
         FROM m ORDER BY fid;",
    );
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    let patches = report["patches"].as_array().unwrap();
    assert_eq!(rows.len(), patches.len());
    for (row, p) in rows.iter().zip(patches) {
        assert_eq!(row[0], p["fid"].to_string());
        assert_eq!(p["class"], row[1], "patch {}: {}", p["id"], p["reasons"]);
        let f = |k: usize| row[k].parse::<f64>().unwrap();
        let id = p["id"].as_str().unwrap();
        close(p["area_m2"].as_f64().unwrap(), f(2), &format!("{id} area"));
        close(
            p["approved_m2"].as_f64().unwrap(),
            f(3),
            &format!("{id} approved"),
        );
        close(
            p["zones_m2"]["basic_farmland"].as_f64().unwrap(),
            f(4),
            &format!("{id} basic farmland"),
        );
        close(
            p["zones_m2"]["heritage_protection"].as_f64().unwrap(),
            f(5),
            &format!("{id} heritage"),
        );
        close(
            p["measures_m2"]["farmland_m2"].as_f64().unwrap(),
            f(6),
            &format!("{id} cultivated"),
        );
    }
}

#[test]
fn approval_and_landuse_agree_with_postgis() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let (dir, db) = demo();
    to_postgis(
        &pg,
        &db,
        &[
            ("control_lines", &["line_type"]),
            ("heritage", &["zone_type"]),
            ("cadastral", &["parcel_id"]),
            ("landuse", &["DLBM"]),
            ("planning", &["land_use_code"]),
        ],
    );
    // Two sites: one across the western farmland edge and the development boundary, one in the
    // centre over parcels and 黄帝故里's zones.
    let sites = [
        "POLYGON((113.7278 34.398,113.7298 34.398,113.7298 34.3995,113.7278 34.3995,113.7278 34.398))",
        "POLYGON((113.7352 34.3962,113.7381 34.3962,113.7381 34.3990,113.7352 34.3990,113.7352 34.3962))",
    ];
    for (n, wkt) in sites.iter().enumerate() {
        let coords: Vec<Vec<f64>> = wkt
            .trim_start_matches("POLYGON((")
            .trim_end_matches("))")
            .split(',')
            .map(|p| p.split_whitespace().map(|v| v.parse().unwrap()).collect())
            .collect();
        let file = dir.path().join(format!("site{n}.geojson"));
        std::fs::write(
            &file,
            serde_json::json!({"type": "Polygon", "coordinates": [coords]}).to_string(),
        )
        .unwrap();
        let run = onemap(
            &db,
            &[
                "check",
                "approval",
                "--site",
                s(&file),
                "--format",
                "json",
                "--use",
                "0701",
            ],
        );
        assert!(run.code == 0 || run.code == 2, "{}", run.stderr);
        let r = run.json();
        let rule = |id: &str| {
            r["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == id)
                .unwrap()
                .clone()
        };
        let q = |sql: &str| {
            pg.sql(&sql.replace("SITE", &format!("ST_GeomFromText('{wkt}', 4326)")))
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
        };
        close(
            r["site"]["area_m2"].as_f64().unwrap(),
            q("SELECT ST_Area(SITE::geography);"),
            "site area",
        );
        for (id, filter) in [
            ("basic_farmland", "line_type = '永久基本农田'"),
            ("ecological_red_line", "line_type = '生态保护红线'"),
        ] {
            let theirs = q(&format!(
                "SELECT COALESCE(ST_Area(ST_Intersection(SITE, ST_Union(geom))::geography), 0) FROM control_lines WHERE {filter} AND ST_Intersects(geom, SITE);"
            ));
            close(
                rule(id)["measured"]["area_m2"].as_f64().unwrap(),
                theirs,
                &format!("site {n} {id}"),
            );
            assert_eq!(rule(id)["status"] == "fail", theirs > 1.0, "site {n} {id}");
        }
        for (id, zone) in [
            ("heritage_protection", "保护范围"),
            ("heritage_control", "建设控制地带"),
        ] {
            let theirs = q(&format!(
                "SELECT COALESCE(ST_Area(ST_Intersection(SITE, ST_Union(geom))::geography), 0) FROM heritage WHERE zone_type = '{zone}' AND ST_Intersects(geom, SITE);"
            ));
            close(
                rule(id)["measured"]["area_m2"].as_f64().unwrap(),
                theirs,
                &format!("site {n} {id}"),
            );
        }
        let outside = q(
            "SELECT ST_Area(ST_Difference(SITE, (SELECT ST_Union(geom) FROM control_lines WHERE line_type = '城镇开发边界'))::geography);",
        );
        close(
            rule("development_boundary")["measured"]["area_m2"]
                .as_f64()
                .unwrap(),
            outside,
            &format!("site {n} outside the boundary"),
        );
        // Parcels taken, each.
        let theirs: BTreeMap<i64, f64> = pg
            .sql(&format!(
                "SELECT fid, ST_Area(ST_Intersection(geom, ST_GeomFromText('{wkt}', 4326))::geography) FROM cadastral WHERE ST_Intersects(geom, ST_GeomFromText('{wkt}', 4326));"
            ))
            .lines()
            .map(|l| {
                let (a, b) = l.split_once('|').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .filter(|(_, a): &(i64, f64)| *a > 1.0)
            .collect();
        let ours: BTreeMap<i64, f64> = r["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["fid"].as_i64().unwrap(), p["taken_m2"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "site {n} parcels"
        );
        for (fid, a) in &ours {
            close(*a, theirs[fid], &format!("site {n} parcel {fid}"));
        }
        if n == 1 {
            assert!(ours.len() >= 4, "the central site takes parcels: {ours:?}");
        }
        // 查询统计 (`POST /query/stats` runs the same engine call): land use inside the site by class.
        let engine = Engine::new(Store::open_read_only(&db).unwrap());
        let site_geom = geo::Geometry::Polygon(geo::Polygon::new(
            geo::LineString::from(coords.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>()),
            vec![],
        ));
        let stats = engine
            .stats(&Caller::operator(), "landuse", &site_geom, Some("DLBM"))
            .unwrap();
        drop(engine);
        let theirs: BTreeMap<String, f64> = pg
            .sql(&format!(
                "SELECT \"DLBM\", SUM(ST_Area(ST_Intersection(geom, ST_GeomFromText('{wkt}', 4326))::geography)) FROM landuse
                 WHERE ST_Intersects(geom, ST_GeomFromText('{wkt}', 4326)) GROUP BY 1 HAVING SUM(ST_Area(ST_Intersection(geom, ST_GeomFromText('{wkt}', 4326))::geography)) > 0;"
            ))
            .lines()
            .map(|l| {
                let (a, b) = l.split_once('|').unwrap();
                (a.to_string(), b.parse().unwrap())
            })
            .collect();
        assert_eq!(
            stats.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "site {n} land-use classes"
        );
        for (k, t) in &stats {
            close(t.area_m2, theirs[k], &format!("site {n} land use {k}"));
        }
    }

    // Land-use check totals with the shipped compatibility table as SQL.
    let json = dir.path().join("l.json");
    onemap(&db, &["check", "landuse", "--no-layer", "--json", s(&json)]);
    let r: Json = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let out = pg.sql(
        "CREATE TABLE compat (k text, allowed text);
         INSERT INTO compat VALUES ('07','0702'),('07','1401'),('07','1402'),('07','1403'),('07','1207'),
           ('08','1401'),('08','1402'),('08','1403'),('08','1207'),('09','1401'),('09','1402'),('09','1403'),('09','1207'),
           ('10','11'),('10','1402'),('10','1207'),('11','1402'),('11','1207'),('14','1207');
         WITH pieces AS (
           SELECT l.\"DLBM\" AS cur, p.land_use_code AS planned, ST_Area(ST_Intersection(l.geom, p.geom)::geography) AS a
           FROM landuse l JOIN planning p ON ST_Intersects(l.geom, p.geom)),
         kept AS (SELECT * FROM pieces WHERE a > 1)
         SELECT
           COALESCE(SUM(a) FILTER (WHERE starts_with(cur, planned) OR EXISTS (SELECT 1 FROM compat c WHERE starts_with(planned, c.k) AND starts_with(cur, c.allowed))), 0),
           COALESCE(SUM(a) FILTER (WHERE NOT (starts_with(cur, planned) OR EXISTS (SELECT 1 FROM compat c WHERE starts_with(planned, c.k) AND starts_with(cur, c.allowed)))), 0)
         FROM kept;",
    );
    let v: Vec<f64> = out.trim().split('|').map(|x| x.parse().unwrap()).collect();
    close(
        r["total"]["conforming_m2"].as_f64().unwrap(),
        v[0],
        "land use conforming",
    );
    close(
        r["total"]["conflicting_m2"].as_f64().unwrap(),
        v[1],
        "land use conflicting",
    );
    assert!(v[0] > 0.0 && v[1] > 0.0);
}

#[test]
fn approval_outputs_and_errors() {
    let (dir, db) = demo();
    let site = dir.path().join("site.geojson");
    std::fs::write(
        &site,
        r#"{"type":"Polygon","coordinates":[[[113.7278,34.398],[113.7298,34.398],[113.7298,34.3995],[113.7278,34.3995],[113.7278,34.398]]]}"#,
    )
    .unwrap();
    let (html, gj) = (dir.path().join("r.html"), dir.path().join("r.geojson"));
    let run = onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&site),
            "--use",
            "0701",
            "--html",
            s(&html),
            "--geojson",
            s(&gj),
        ],
    );
    assert_eq!(
        run.code, 2,
        "basic farmland: conflicts found: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("basic_farmland") && run.stdout.contains("不通过"),
        "{}",
        run.stdout
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("审查结论") && page.contains("<svg") && page.contains("永久基本农田"));
    let fc: Json = serde_json::from_str(&std::fs::read_to_string(&gj).unwrap()).unwrap();
    let roles: Vec<&str> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles[0], "site");
    assert!(roles.contains(&"conflict"));
    // A red line inside the boundary on conforming land passes (exit 0): an existing approval.
    let ok = onemap(
        &db,
        &[
            "check",
            "approval",
            "--feature",
            "approvals:1",
            "--use",
            "0901",
        ],
    );
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    // The red line of a zipped Shapefile or any importer format works too: the cadastral file.
    let shp = sample("xinzheng_cadastral.shp");
    let any = onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&shp),
            "--format",
            "json",
            "--no-record",
        ],
    );
    assert!(any.code == 0 || any.code == 2, "{}", any.stderr);
    assert!(any.json()["parcels"].as_array().unwrap().len() >= 300);
    // Errors: exit 1 with one line.
    let bad_rules = dir.path().join("bad.toml");
    std::fs::write(&bad_rules, "version = \"1\"\n[[rule]]\nid = \"x\"\nkind = \"forbid\"\nname = \"x\"\nlayer = \"control_lines\"\nfilter = \"line_type = \"\n").unwrap();
    onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&site),
            "--rules",
            s(&bad_rules),
        ],
    )
    .user_error("rule 1 ('x')");
    let bowtie = dir.path().join("bowtie.geojson");
    std::fs::write(&bowtie, r#"{"type":"Polygon","coordinates":[[[113.73,34.39],[113.74,34.40],[113.74,34.39],[113.73,34.40],[113.73,34.39]]]}"#).unwrap();
    onemap(&db, &["check", "approval", "--site", s(&bowtie)]).user_error("not a valid polygon");
    let fixed = onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&bowtie),
            "--repair",
            "--no-record",
        ],
    );
    assert!(fixed.code == 0 || fixed.code == 2, "{}", fixed.stderr);
    onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&dir.path().join("none.geojson")),
        ],
    )
    .user_error("none.geojson");
    onemap(&db, &["check", "approval", "--feature", "approvals:999"]).user_error("no feature 999");
    onemap(&db, &["check", "approval", "--site", s(&site), "--far=-1"]).user_error("far");
    onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            s(&site),
            "--planar",
            "EPSG:4326",
        ],
    )
    .user_error("projected");
    onemap(&db, &["check", "violations", "--patches", "nope"]).user_error("nope");
    onemap(&dir.path().join("missing.duckdb"), &["check", "landuse"]).user_error("no store");
    // Every successful check so far was recorded (the demo's two, then two here); --no-record
    // ones were not.
    let runs = onemap(&db, &["runs", "--format", "json"]).ok().json();
    assert_eq!(runs.as_array().unwrap().len(), 4, "{runs}");
    let one = onemap(&db, &["runs", "--id", &runs[0]["id"].to_string()])
        .ok()
        .json();
    assert_eq!(one[0]["kind"], "approval");
}
