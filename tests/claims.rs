//! Claims the README makes about the binary's flags and environment, each shown: `--rules FILE`
//! and `ONEMAP_RULES` change a verdict, `--lock-wait N` waits N seconds (and succeeds when the
//! other writer leaves in time), `--query-timeout-s` turns a long query into a 503 (and 0 is
//! refused), `--cache-mb` bounds the tile cache, `--max-tile-kb` bounds a tile, `GET /` answers
//! a browser with the web client and a JSON client with the landing page.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{get, onemap, onemap_env, post_json, serve_with};

fn demo(dir: &Path) -> PathBuf {
    let db = dir.join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    db
}

/// A red line on basic farmland (the three western block columns of the sample set).
fn farmland_site(dir: &Path) -> PathBuf {
    let site = dir.join("site.geojson");
    std::fs::write(
        &site,
        r#"{"type":"Polygon","coordinates":[[[113.7278,34.398],[113.7298,34.398],[113.7298,34.3995],[113.7278,34.3995],[113.7278,34.398]]]}"#,
    )
    .unwrap();
    site
}

#[test]
fn a_rules_file_from_the_flag_or_the_environment_changes_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let site = farmland_site(dir.path());
    let site = site.to_str().unwrap();
    let built_in = onemap(&db, &["check", "approval", "--site", site, "--no-record"]);
    assert_eq!(built_in.code, 2, "the built-in rules forbid basic farmland");
    // The same rules without the basic-farmland rule (and nothing else that this site breaks).
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml"))
            .unwrap();
    let start = text.find("id = \"basic_farmland\"").unwrap();
    let rule_start = text[..start].rfind("[[rule]]").unwrap();
    let rule_end = rule_start + 8 + text[rule_start + 8..].find("[[rule]]").unwrap();
    let relaxed = format!("{}{}", &text[..rule_start], &text[rule_end..]);
    let file = dir.path().join("relaxed.toml");
    std::fs::write(&file, relaxed).unwrap();
    let f = file.to_str().unwrap();
    let by_flag = onemap(
        &db,
        &[
            "check",
            "approval",
            "--site",
            site,
            "--no-record",
            "--rules",
            f,
            "--format",
            "json",
        ],
    );
    let by_env = onemap_env(
        &db,
        &[
            "check",
            "approval",
            "--site",
            site,
            "--no-record",
            "--format",
            "json",
        ],
        &[("ONEMAP_RULES", f)],
    );
    for run in [&by_flag, &by_env] {
        let report = run.json();
        let ids: Vec<&str> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&"basic_farmland"), "{ids:?}");
        assert!(ids.contains(&"ecological_red_line"), "{ids:?}");
        assert_eq!(report["rules_digest"], by_flag.json()["rules_digest"]);
    }
    assert_ne!(by_flag.json()["rules_digest"], built_in_digest(&db, site));
}

fn built_in_digest(db: &Path, site: &str) -> serde_json::Value {
    onemap(
        db,
        &[
            "check",
            "approval",
            "--site",
            site,
            "--no-record",
            "--format",
            "json",
        ],
    )
    .json()["rules_digest"]
        .clone()
}

#[test]
fn lock_wait_waits_for_the_other_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let file = common::sample("xinzheng_heritage.geojson");
    let args = |wait: &'static str| {
        vec![
            "--lock-wait".to_string(),
            wait.to_string(),
            "import".into(),
            file.to_str().unwrap().to_string(),
            "--layer".into(),
            "again".into(),
            "--kind".into(),
            "heritage".into(),
        ]
    };
    // Another process holds the store for writing (a DuckDB connection here).
    let holder = duckdb::Connection::open(&db).unwrap();
    let t = Instant::now();
    let a = args("2");
    let refused = onemap(&db, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let waited = t.elapsed();
    refused.user_error("in use by another process");
    assert!(
        waited >= Duration::from_millis(1900),
        "gave up after {waited:?}, not 2 s"
    );
    // Released after 1 s: a wait of 10 s succeeds.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        drop(holder);
    });
    let t = Instant::now();
    let a = args("10");
    onemap(&db, &a.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    let waited = t.elapsed();
    release.join().unwrap();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

fn metric(base: &str, name: &str) -> f64 {
    get(base, "/metrics", &[])
        .text()
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn the_query_timeout_and_the_cache_and_tile_bounds_hold_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    // 0 is no timeout: refused.
    let r = common::command()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0", "--query-timeout-s", "0"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("positive number of seconds"));
    let s = serve_with(
        &db,
        &[
            "--query-timeout-s",
            "0.2",
            "--cache-mb",
            "1",
            "--max-tile-kb",
            "4",
        ],
        &[],
    );
    // A long overlay (60,000 vertices against three layers: seconds) meets the 0.2 s limit.
    let n = 60_000usize;
    let ring: Vec<[f64; 2]> = (0..=n)
        .map(|k| {
            let a = (k % n) as f64 * std::f64::consts::TAU / n as f64;
            [
                ((113.74 + 0.2 * a.cos()) * 1e6).round() / 1e6,
                ((34.40 + 0.2 * a.sin()) * 1e6).round() / 1e6,
            ]
        })
        .collect();
    let body = serde_json::json!({ "geometry": { "type": "Polygon", "coordinates": [ring] }, "layers": ["landuse", "planning", "cadastral"] }).to_string();
    let t = Instant::now();
    let r = post_json(&s.base, "/query/intersects", &[], &body);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "timeout");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The tile cache stays within 1 MiB however many tiles are asked for.
    let layers = get(&s.base, "/layers", &[]).json();
    let all: Vec<&str> = layers["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    let all = all.join(",");
    let mut biggest = 0usize;
    for z in 13..=16u32 {
        let n = f64::from(1u32 << z);
        let (x0, y0) = (
            ((113.70 + 180.0) / 360.0 * n) as u32,
            ((1.0
                - (34.42f64.to_radians().tan() + 1.0 / 34.42f64.to_radians().cos()).ln()
                    / std::f64::consts::PI)
                / 2.0
                * n) as u32,
        );
        for dx in 0..4 {
            for dy in 0..4 {
                let t = get(
                    &s.base,
                    &format!("/tiles/{all}/{z}/{}/{}.mvt", x0 + dx, y0 + dy),
                    &[("Accept-Encoding", "identity")],
                );
                assert!(matches!(t.status, 200 | 204), "{}", t.status);
                biggest = biggest.max(t.body.len());
            }
        }
    }
    assert!(biggest > 0);
    // Every tile within --max-tile-kb 4 (uncompressed).
    assert!(biggest <= 4 * 1024, "a tile of {biggest} bytes");
    let held = metric(&s.base, "onemap_tile_cache_bytes");
    assert!(held > 0.0 && held <= (1 << 20) as f64, "{held}");
}

#[test]
fn the_root_answers_browsers_and_json_clients() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &[], &[]);
    let browser = get(
        &s.base,
        "/",
        &[("Accept", "text/html,application/xhtml+xml")],
    );
    assert_eq!(browser.status, 200);
    assert!(browser.text().contains("app/app.js"), "the web client");
    let api = get(&s.base, "/", &[("Accept", "application/json")]);
    assert_eq!(api.json()["title"], "onemap 一张图");
    let html = get(&s.base, "/?f=html", &[("Accept", "text/html")]);
    assert!(html.text().contains("conformance") && !html.text().contains("app/app.js"));
    assert_eq!(
        get(&s.base, "/?f=json", &[]).json()["links"][0]["rel"],
        "self"
    );
    assert_eq!(get(&s.base, "/?f=xml", &[]).status, 400);
}
