//! Hostile input against the real server on 127.0.0.1: each attack gets a clear 4xx/503 and the
//! server keeps serving everyone else — deep nesting in WKT, GeoJSON, CQL2 and WKB; zip bombs;
//! a GeoPackage whose feature table is a view that never ends; a 100,000-vertex self-crossing
//! star; work whose client went away; half-sent request heads; a principal over its rate limit.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{get, http, onemap, post_json, serve_with};
use serde_json::json;

fn demo(dir: &Path) -> PathBuf {
    let db = dir.join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    db
}

fn upload(base: &str, format: &str, bytes: &[u8]) -> common::Resp {
    http(
        base,
        "POST",
        &format!("/analysis/redline?format={format}"),
        &[("Content-Type", "application/octet-stream")],
        Some(bytes),
    )
}

fn alive(base: &str) {
    let t = Instant::now();
    let r = get(base, "/health", &[]);
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "health took {:?}",
        t.elapsed()
    );
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn deep_nesting_is_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &[], &[]);
    // A CSV red line whose WKT nests GEOMETRYCOLLECTION 60,000 deep (it overflowed a reader
    // thread's stack and aborted the whole server).
    let deep = format!(
        "id,WKT\n1,\"{}POINT(113.7 34.4){}\"\n",
        "GEOMETRYCOLLECTION(".repeat(60_000),
        ")".repeat(60_000)
    );
    let r = upload(&s.base, "csv", deep.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("levels deep"), "{}", r.text());
    alive(&s.base);
    // GeoJSON nested in a request body (built as text: a nested value would recurse here too).
    let body = format!(
        "{{\"geometry\":{}{{\"type\":\"Point\",\"coordinates\":[1,2]}}{}}}",
        "{\"type\":\"GeometryCollection\",\"geometries\":[".repeat(5000),
        "]}".repeat(5000)
    );
    let r = post_json(&s.base, "/query/intersects", &[], &body);
    assert_eq!(r.status, 400, "{}", r.text());
    // CQL2 text and JSON filters.
    let text = format!("{}DLBM = '0101'{}", "(".repeat(5_000), ")".repeat(5_000));
    let r = get(
        &s.base,
        &format!(
            "/collections/landuse/items?filter={}",
            text.replace('(', "%28")
                .replace(')', "%29")
                .replace(' ', "%20")
                .replace('\'', "%27")
        ),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let cql = format!(
        "{}{{\"op\":\"=\",\"args\":[{{\"property\":\"DLBM\"}},\"0101\"]}}{}",
        "{\"op\":\"not\",\"args\":[".repeat(500),
        "]}".repeat(500)
    );
    let r = get(
        &s.base,
        &format!(
            "/collections/landuse/items?filter-lang=cql2-json&filter={}",
            cql.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
        ),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // A request head over 64 KiB is refused before anything parses it.
    let r = get(
        &s.base,
        &format!("/collections/landuse/items?filter={}", "%28".repeat(30_000)),
        &[],
    );
    assert!(matches!(r.status, 414 | 431), "{} {}", r.status, r.text());
    // WKB nested deep inside a GeoPackage.
    let gpkg = dir.path().join("deep.gpkg");
    {
        let conn = rusqlite::Connection::open(&gpkg).unwrap();
        conn.execute_batch(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT, organization_coordsys_id INTEGER, definition TEXT, description TEXT);
             INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[\"WGS 84\"]', NULL);
             CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT, description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL, srs_id INTEGER);
             CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT, srs_id INTEGER, z TINYINT, m TINYINT);
             CREATE TABLE t (fid INTEGER PRIMARY KEY, geom BLOB);
             INSERT INTO gpkg_contents (table_name, data_type, srs_id) VALUES ('t', 'features', 4326);
             INSERT INTO gpkg_geometry_columns VALUES ('t', 'geom', 'GEOMETRY', 4326, 0, 0);",
        )
        .unwrap();
        let mut blob = b"GP\x00\x01".to_vec();
        blob.extend_from_slice(&4326i32.to_le_bytes());
        for _ in 0..100_000 {
            blob.push(1);
            blob.extend_from_slice(&7u32.to_le_bytes());
            blob.extend_from_slice(&1u32.to_le_bytes());
        }
        blob.push(1);
        blob.extend_from_slice(&1u32.to_le_bytes());
        blob.extend_from_slice(&113.7f64.to_le_bytes());
        blob.extend_from_slice(&34.4f64.to_le_bytes());
        conn.execute("INSERT INTO t (geom) VALUES (?)", [blob])
            .unwrap();
    }
    let r = upload(&s.base, "gpkg", &std::fs::read(&gpkg).unwrap());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("levels deep"), "{}", r.text());
    alive(&s.base);
}

#[test]
fn zip_bombs_are_stopped_by_what_they_unpack_to() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &[], &[]);
    // A minimal Shapefile beside a .prj that unpacks to 200 MB of spaces (a few hundred KB zipped).
    let shp_dir = dir.path().join("shp");
    std::fs::create_dir(&shp_dir).unwrap();
    let src = common::sample("xinzheng_cadastral.shp");
    let read = |ext: &str| std::fs::read(src.with_extension(ext)).unwrap();
    let (shp, shx, dbf) = (read("shp"), read("shx"), read("dbf"));
    let huge_prj = vec![b' '; 200 << 20];
    let bomb = zip_of(&[
        ("a.shp", &shp),
        ("a.shx", &shx),
        ("a.dbf", &dbf),
        ("a.prj", &huge_prj),
    ]);
    assert!(
        bomb.len() < 2 << 20,
        "the bomb fits in a request: {}",
        bomb.len()
    );
    let r = upload(&s.base, "zip", &bomb);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("a.prj unpacks to more than 64 KiB"),
        "{}",
        r.text()
    );
    // The Shapefile itself unpacking past the upload's 64 MiB.
    let big_dbf = vec![0u8; 100 << 20];
    let bomb = zip_of(&[("a.shp", &shp), ("a.shx", &shx), ("a.dbf", &big_dbf)]);
    let r = upload(&s.base, "zip", &bomb);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("64 MiB"), "{}", r.text());
    // Thousands of entries.
    let names: Vec<String> = (0..2000).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let r = upload(&s.base, "zip", &zip_of(&entries));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("entries"), "{}", r.text());
    alive(&s.base);
}

fn metric(base: &str, name: &str) -> f64 {
    let text = get(base, "/metrics", &[]).text();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn a_geopackage_that_never_ends_is_stopped_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &["--query-timeout-s", "2"], &[]);
    let gpkg = dir.path().join("forever.gpkg");
    {
        let conn = rusqlite::Connection::open(&gpkg).unwrap();
        conn.execute_batch(
            "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT, organization_coordsys_id INTEGER, definition TEXT, description TEXT);
             INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[\"WGS 84\"]', NULL);
             CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT, description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL, srs_id INTEGER);
             CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT, srs_id INTEGER, z TINYINT, m TINYINT);
             CREATE VIEW forever AS WITH RECURSIVE r(fid) AS (SELECT 1 UNION ALL SELECT fid + 1 FROM r) SELECT fid, NULL AS geom FROM r WHERE fid < 0;
             INSERT INTO gpkg_contents (table_name, data_type, srs_id) VALUES ('forever', 'features', 4326);
             INSERT INTO gpkg_geometry_columns VALUES ('forever', 'geom', 'GEOMETRY', 4326, 0, 0);",
        )
        .unwrap();
    }
    let t = Instant::now();
    let r = upload(&s.base, "gpkg", &std::fs::read(&gpkg).unwrap());
    let took = t.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "timeout");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The work stopped and gave its permit back: nothing is left running.
    let t = Instant::now();
    while metric(&s.base, "onemap_work_in_progress") > 0.0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the view is still being read"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    alive(&s.base);
}

/// Six decimals (0.1 m): what fits in a 2 MiB body.
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A star of `n` vertices whose points cross their neighbours.
fn star(n: usize) -> serde_json::Value {
    let pts: Vec<[f64; 2]> = (0..=n)
        .map(|k| {
            let a = (k % n) as f64 * std::f64::consts::TAU * 7.0 / n as f64;
            let r = if k % 2 == 0 { 1.0 } else { 0.4 };
            [
                round6(113.74 + 0.01 * r * a.cos()),
                round6(34.40 + 0.01 * r * a.sin()),
            ]
        })
        .collect();
    json!({ "type": "Polygon", "coordinates": [pts] })
}

#[test]
fn a_self_crossing_star_is_refused_in_moments_and_a_bow_tie_repaired_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &[], &[]);
    let t = Instant::now();
    let r = post_json(
        &s.base,
        "/query/stats",
        &[],
        &json!({ "geometry": star(60_000), "layer": "landuse" }).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("self-intersection"), "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let bow = json!({ "type": "Polygon", "coordinates": [[[113.73, 34.39], [113.75, 34.41], [113.75, 34.39], [113.73, 34.41], [113.73, 34.39]]] });
    let r = post_json(
        &s.base,
        "/query/stats",
        &[],
        &json!({ "geometry": bow, "layer": "landuse" }).to_string(),
    );
    assert_eq!(r.status, 400);
    let r = post_json(
        &s.base,
        "/query/stats",
        &[],
        &json!({ "geometry": bow, "layer": "landuse", "repair": true }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["total"]["area_m2"].as_f64().unwrap() > 0.0);
}

#[test]
fn work_stops_when_its_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &["--query-timeout-s", "300"], &[]);
    // A valid region with 60,000 vertices over the whole demo city: every land-use feature is
    // overlaid with it, seconds of work.
    let n = 60_000usize;
    let ring: Vec<[f64; 2]> = (0..=n)
        .map(|k| {
            let a = (k % n) as f64 * std::f64::consts::TAU / n as f64;
            [
                round6(113.74 + 0.2 * a.cos()),
                round6(34.40 + 0.2 * a.sin()),
            ]
        })
        .collect();
    let body = json!({ "geometry": { "type": "Polygon", "coordinates": [ring] }, "layers": ["landuse", "planning", "cadastral"] }).to_string();
    // Once, to the end, to know how long it takes.
    let t = Instant::now();
    let full = post_json(&s.base, "/query/intersects", &[], &body);
    let whole = t.elapsed();
    assert_eq!(full.status, 200, "{}", full.text());
    assert!(
        whole > Duration::from_millis(1500),
        "the request is not heavy enough: {whole:?}"
    );
    // Again, with the client gone after 300 ms.
    {
        use std::io::Write as _;
        let addr = s.base.trim_start_matches("http://");
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        write!(
            sock,
            "POST /query/intersects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(metric(&s.base, "onemap_work_in_progress") >= 1.0);
    }
    let gone = Instant::now();
    while metric(&s.base, "onemap_work_in_progress") > 0.0 {
        assert!(
            gone.elapsed() < whole / 2,
            "the work went on after its client left ({:?} of {whole:?})",
            gone.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "work stopped {:?} after the client left; the whole request takes {whole:?}",
        gone.elapsed()
    );
    alive(&s.base);
}

#[test]
fn half_sent_request_heads_cannot_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(
        &db,
        &["--header-timeout-s", "2", "--max-connections-per-ip", "40"],
        &[],
    );
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // 120 connections from another loopback address, each sending half a request head.
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..120 {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let mut c = sock.connect(addr).await.unwrap();
            let _ = c
                .write_all(b"GET /layers HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
            held.push(c);
        }
        // Over the per-address cap: an immediate 503 with a JSON body.
        let mut kept = Vec::new();
        for mut c in held {
            let mut buf = vec![0u8; 512];
            match tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                    assert!(text.contains("too_many_connections"), "{text}");
                    refused += 1;
                }
                _ => kept.push(c),
            }
        }
        assert_eq!(kept.len(), 40, "the per-address cap");
        assert_eq!(refused, 80);
        // Everyone else is served meanwhile.
        let base = s.base.clone();
        let t = Instant::now();
        let r = tokio::task::spawn_blocking(move || common::get(&base, "/layers", &[]))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // The half-sent heads are dropped when their time is up.
        let t = Instant::now();
        for mut c in kept {
            let mut buf = Vec::new();
            let r = tokio::time::timeout(Duration::from_secs(6), c.read_to_end(&mut buf)).await;
            assert!(r.is_ok(), "a half-sent head still holds its connection");
        }
        assert!(t.elapsed() < Duration::from_secs(6));
    });
}

#[test]
fn a_principal_over_its_rate_limit_gets_429_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let key = |name: &str| {
        onemap(
            &db,
            &["keys", "create", "--name", name, "--roles", "planning"],
        )
        .ok()
        .stdout
        .trim()
        .to_string()
    };
    let (a, b) = (
        format!("Bearer {}", key("A")),
        format!("Bearer {}", key("B")),
    );
    let s = serve_with(&db, &["--rate-per-second", "5", "--burst", "5"], &[]);
    let statuses: Vec<u16> = (0..20)
        .map(|_| get(&s.base, "/layers", &[("Authorization", &a)]).status)
        .collect();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 10, "{statuses:?}");
    let r = get(&s.base, "/layers", &[("Authorization", &a)]);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["code"], "rate_limited");
    // B has its own bucket.
    for _ in 0..5 {
        assert_eq!(
            get(&s.base, "/layers", &[("Authorization", &b)]).status,
            200
        );
    }
    assert!(metric(&s.base, "onemap_rate_limited_total") >= limited as f64);
}

/// One raw HTTP/1.1 request from the loopback address `from`: (status, body).
fn request_from(
    from: &str,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut c = sock.connect(addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_string())
    })
}

/// Anonymous callers are not one client: one cannot read or cancel another's jobs (ids are
/// random; ownership, and the job limits, go by address).
#[test]
fn anonymous_clients_do_not_share_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let s = serve_with(&db, &[], &[]);
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    let start = |from: &str| {
        let (status, body) = request_from(from, addr, "POST", "/analysis/landuse", "{}");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        (status, j["id"].as_u64(), j)
    };
    // Two jobs from one address, one from another (the limits per owner: unit tests in
    // tile-server/src/analysis.rs).
    let (a1, id1, j) = start("127.0.0.1");
    assert_eq!(a1, 202, "{j}");
    let (a2, id2, j) = start("127.0.0.1");
    assert_eq!(a2, 202, "{j}");
    let (id1, id2) = (id1.unwrap(), id2.unwrap());
    assert!(
        id1.abs_diff(id2) > 1_000,
        "ids are not counted out: {id1}, {id2}"
    );
    let (b1, idb, jb) = start("127.0.0.3");
    assert_eq!(b1, 202, "{jb}");
    // The other address cannot see or cancel them; the owner can.
    for path in [format!("/jobs/{id1}"), format!("/jobs/{id1}/result.csv")] {
        let (status, body) = request_from("127.0.0.3", addr, "GET", &path, "");
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = request_from("127.0.0.3", addr, "DELETE", &format!("/jobs/{id1}"), "");
    assert_eq!(status, 404);
    let (status, body) = request_from("127.0.0.1", addr, "GET", &format!("/jobs/{id1}"), "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = request_from(
        "127.0.0.1",
        addr,
        "GET",
        &format!("/jobs/{}", idb.unwrap()),
        "",
    );
    assert_eq!(status, 404);
}
