//! The web client end to end in a real browser: `onemap serve` on the Xinzheng sample set, Debian's
//! Chromium driven by playwright-core (`tile-server/web/test/e2e.mjs`). Loads the map until idle,
//! toggles a layer, clicks a parcel and reads the popup, searches the parcel id, draws a red line
//! over basic farmland and reads the failing rule, switches to English, reviews violations, logs
//! in with the demo's printed first password (owners appear) and out (they do not), saves
//! screenshots; no console errors. The page load time is reported, not asserted.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{onemap, serve};

fn ready() -> Option<PathBuf> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tile-server/web");
    let have = web.join("node_modules/playwright-core").is_dir()
        && Path::new("/usr/bin/chromium").is_file()
        && onemap_tile_server::web::built();
    common::require(
        "playwright-core, Debian chromium and the built web client",
        have,
        "scripts/setup.sh test installs and builds them",
    )
    .then_some(web)
}

#[test]
fn planner_workflow_in_chromium() {
    let Some(web) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let demo = onemap(&db, &["demo", "--no-serve"]).ok();
    // The first login the demo prints.
    let password = demo
        .stderr
        .split("password '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no first password in {}", demo.stderr))
        .to_string();
    // A parcel to click and search: the first one, at its centroid.
    let parcel = onemap(
        &db,
        &["query", "cadastral", "--limit", "1", "--format", "geojson"],
    )
    .ok()
    .json();
    let f = &parcel["features"][0];
    let id = f["properties"]["parcel_id"].as_str().unwrap().to_string();
    let coords = &f["geometry"]["coordinates"];
    let ring = if f["geometry"]["type"] == "MultiPolygon" {
        &coords[0][0]
    } else {
        &coords[0]
    };
    let ring = ring.as_array().unwrap();
    let n = (ring.len() - 1) as f64;
    let (lon, lat) = ring[..ring.len() - 1].iter().fold((0.0, 0.0), |(x, y), p| {
        (
            x + p[0].as_f64().unwrap() / n,
            y + p[1].as_f64().unwrap() / n,
        )
    });
    // Inside 西部基本农田保护片区 (sample-data/generate.py: the three western block columns).
    let (farm_lon, farm_lat) = (113.7264, 34.3990);
    let server = serve(&db);
    let base = server.base.clone();
    let shots = std::env::var_os("ONEMAP_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    // A red-line file for the upload: inside the development boundary, beside the farmland.
    let upload = dir.path().join("redline.geojson");
    std::fs::write(
        &upload,
        format!(
            r#"{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[[{a},{b}],[{c},{b}],[{c},{d}],[{a},{d}],[{a},{b}]]]}}}}"#,
            a = farm_lon - 0.0006,
            b = farm_lat - 0.0006,
            c = farm_lon + 0.0006,
            d = farm_lat + 0.0006
        ),
    )
    .unwrap();
    let out = Command::new("node")
        .env("ONEMAP_E2E_UPLOAD", &upload)
        .env("ONEMAP_E2E_USER", "admin")
        .env("ONEMAP_E2E_PASSWORD", &password)
        .arg(web.join("test/e2e.mjs"))
        .arg(&base)
        .arg(&shots)
        .arg(&id)
        .args([
            lon.to_string(),
            lat.to_string(),
            farm_lon.to_string(),
            farm_lat.to_string(),
        ])
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    eprintln!("web client: page load to idle map {} ms", facts["load_ms"]);
    assert_eq!(facts["title"], "新郑市国土空间“一张图”");
    let depts: Vec<&str> = facts["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for d in ["规划", "国土", "城建", "管线", "不动产", "文物", "执法"] {
        assert!(depts.contains(&d), "department {d} missing: {depts:?}");
    }
    // The legend lists land-use classes; the opacity slider scales the fill.
    assert!(
        facts["legend_items"].as_u64().unwrap() >= 5,
        "{}",
        facts["legend_text"]
    );
    assert!(
        facts["legend_text"].as_str().unwrap().contains("01 耕地"),
        "{}",
        facts["legend_text"]
    );
    let (before, after) = (
        facts["opacity_before"].as_f64().unwrap(),
        facts["opacity_after"].as_f64().unwrap(),
    );
    assert!((after - 0.3 * before).abs() < 1e-9, "{before} → {after}");
    // The status bar's Gauss–Krüger figures are the engine's (checked against cs2cs) for the
    // lon/lat it shows, to the centimetres it prints.
    let text = facts["coords_text"].as_str().unwrap();
    let nums: Vec<f64> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter_map(|t| t.parse().ok())
        .collect();
    let (clon, clat) = (nums[0], nums[1]);
    let (x_north, y_east) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    let gk = onemap_engine::crs::Transform::from_lonlat(
        &onemap_engine::crs::Crs::from_epsg(4547).unwrap(),
    )
    .unwrap()
    .apply(clon, clat)
    .unwrap();
    assert!(
        (gk.0 - y_east).abs() < 0.2 && (gk.1 - x_north).abs() < 0.2,
        "{text}: engine E {} N {}",
        gk.0,
        gk.1
    );
    assert!(text.contains("38 ") || text.contains("(114°E)"), "{text}");
    // The measured distance: the client's sphere within 0.5% of the ellipsoid.
    let pts = facts["measure_points"].as_array().unwrap();
    let line = geo::Geometry::LineString(geo::LineString::from(
        pts.iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect::<Vec<_>>(),
    ));
    let want = onemap_engine::geometry::Measure::geodesic_length_m(&line);
    let shown: f64 = facts["measure_text"]
        .as_str()
        .unwrap()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no distance in {}", facts["measure_text"]));
    assert!(
        (shown - want).abs() / want < 0.005,
        "shown {shown} m, ellipsoid {want} m"
    );
    // The uploaded red line went through the check.
    assert!(
        facts["upload_conclusion"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{}",
        facts["upload_conclusion"]
    );
    // The admin-unit filter left only that unit's rows.
    let unit = facts["admin_filter"].as_str().unwrap();
    let rows = facts["admin_rows"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r == unit),
        "{unit}: {rows:?}"
    );
    assert_eq!(facts["landuse_hidden"], "none");
    assert_eq!(facts["landuse_shown"], "visible");
    let popup = facts["popup"].as_str().unwrap();
    assert!(popup.contains(&id) && popup.contains("宗地代码"), "{popup}");
    assert!(
        !popup.contains("权利人"),
        "owners stay hidden from anonymous callers: {popup}"
    );
    assert!(
        facts["search"].to_string().contains(&id),
        "{}",
        facts["search"]
    );
    assert_eq!(
        facts["basic_farmland"], "fail",
        "{}",
        facts["basic_farmland_text"]
    );
    assert!(
        facts["conclusion"].as_str().unwrap().contains("不通过"),
        "{}",
        facts["conclusion"]
    );
    assert_eq!(facts["english_title"], "Xinzheng One Map");
    assert!(
        facts["english_rule"]
            .as_str()
            .unwrap()
            .contains("Permanent basic farmland")
    );
    // Logged in as the demo's admin (registration role): owners in the popup; logged out: gone.
    assert!(
        facts["login_error"].as_str().unwrap().len() > 3,
        "{}",
        facts["login_error"]
    );
    assert_eq!(facts["who_logged_in"], "admin");
    // The page is in English by then: the owner field shows under its own name.
    let shows_owner = |p: &serde_json::Value| {
        let p = p.as_str().unwrap();
        p.contains("\nowner\t") || p.contains("权利人")
    };
    assert!(
        shows_owner(&facts["popup_logged_in"]),
        "{}",
        facts["popup_logged_in"]
    );
    assert_ne!(facts["who_logged_out"], "admin");
    assert!(
        !shows_owner(&facts["popup_logged_out"]),
        "{}",
        facts["popup_logged_out"]
    );
    let made = common::expected();
    assert_eq!(facts["violation_rows"], made["features"]["change_patches"]);
    assert_eq!(
        facts["suspected_rows"],
        made["patches_by_expected"]["疑似违法"]
    );
    assert_eq!(
        facts["console_errors"].as_array().unwrap().len(),
        0,
        "console errors: {}",
        facts["console_errors"]
    );
    // Swagger UI drew one block per operation of the server's OpenAPI document.
    let api = common::get(&base, "/api", &[]).json();
    let operations: usize = api["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert!(operations >= 20, "{operations} operations in /api");
    assert_eq!(facts["api_doc_operations"], operations);
    assert!(
        facts["api_doc_title"].as_str().unwrap().contains("onemap"),
        "{}",
        facts["api_doc_title"]
    );
    assert_eq!(
        facts["app_errors"].as_array().unwrap().len(),
        0,
        "{}",
        facts["app_errors"]
    );
    for s in [
        "01-loaded",
        "03-identify",
        "05-approval",
        "07-violations",
        "08-tablet",
        "09-api-doc",
    ] {
        let p = shots.join(format!("{s}.png"));
        assert!(
            std::fs::metadata(&p)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "screenshot {}",
            p.display()
        );
    }
}
