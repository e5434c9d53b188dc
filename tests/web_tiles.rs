//! The served map, read by independent clients: `onemap demo --no-serve` fills a store with the
//! Xinzheng sample set, `onemap serve` runs on 127.0.0.1, and `tile-server/web/test/check-server.mjs`
//! (Node: @mapbox/vector-tile, ajv with the TileJSON 3.0.0 schema, gl-style-validate) reads it.
//! The tiles' contents are checked here against `onemap query` on the same store.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{onemap, serve};

fn web_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tile-server/web");
    let have = [
        "@mapbox/vector-tile",
        "ajv",
        "@maplibre/maplibre-gl-style-spec",
        "pmtiles",
    ]
    .iter()
    .all(|p| d.join("node_modules").join(p).is_dir());
    common::require(
        "npm packages (@mapbox/vector-tile, ajv, maplibre style spec, pmtiles) and node",
        have && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok(),
        "scripts/setup.sh test installs them",
    )
    .then_some(d)
}

/// Tile of a lon/lat at zoom z, and a tile's lon/lat bounds grown by `buffer` (fraction of a side).
fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let r = lat.to_radians();
    (
        ((lon + 180.0) / 360.0 * n) as u32,
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32,
    )
}

fn tile_bounds(z: u32, x: u32, y: u32, buffer: f64) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let lon = |t: f64| t / n * 360.0 - 180.0;
    let lat = |t: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * t / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    let (x, y) = (f64::from(x), f64::from(y));
    [
        lon(x - buffer),
        lat(y + 1.0 + buffer),
        lon(x + 1.0 + buffer),
        lat(y - buffer),
    ]
}

fn project(lon: f64, lat: f64, z: u32, x: u32, y: u32) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let r = lat.to_radians();
    (
        ((lon + 180.0) / 360.0 * n - f64::from(x)) * 4096.0,
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n - f64::from(y))
            * 4096.0,
    )
}

fn query_ids(db: &Path, layer: &str, b: [f64; 4]) -> BTreeMap<i64, serde_json::Value> {
    let bbox = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
    let out = onemap(
        db,
        &[
            "query", layer, "--bbox", &bbox, "--limit", "100000", "--format", "geojson",
        ],
    )
    .ok()
    .json();
    out["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_i64().unwrap(), f.clone()))
        .collect()
}

#[test]
fn served_tiles_styles_and_tilejson_read_by_independent_clients() {
    let Some(web) = web_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    let server = serve(&db);

    let (cx, cy) = (113.74, 34.40);
    let (x14, y14) = tile_of(cx, cy, 14);
    let (x12, y12) = tile_of(cx, cy, 12);
    let (x16, y16) = tile_of(cx, cy, 16);
    let t14 = format!("14/{x14}/{y14}");
    let t12 = format!("12/{x12}/{y12}");
    let t16 = format!("16/{x16}/{y16}");
    let empty = "14/0/0".to_string();
    let out = Command::new("node")
        .arg(web.join("test/check-server.mjs"))
        .arg(&server.base)
        .args([&t14, &t12, &t16, &empty])
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Catalog, TileJSON 3.0.0 and styles.
    let names: BTreeSet<&str> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        common::expected()["features"].as_object().unwrap().len() + 2,
        "the sample layers and the two analysis results: {names:?}"
    );
    assert_eq!(
        r["tilejson_errors"],
        serde_json::json!({}),
        "TileJSON schema errors"
    );
    assert_eq!(
        r["style_errors"],
        serde_json::json!({}),
        "gl-style-validate errors"
    );
    assert_eq!(
        r["tilejson"]["composite"]["vector_layers"]
            .as_array()
            .unwrap()
            .len(),
        names.len()
    );
    let tj = &r["tilejson"]["landuse"];
    assert_eq!(tj["vector_layers"][0]["fields"]["DLBM"], "String");
    assert_eq!(tj["vector_layers"][0]["fields"]["SJNF"], "Number");
    let style_layers: Vec<&str> = r["composite_style_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for n in &names {
        assert!(
            style_layers.iter().any(|l| l.starts_with(&format!("{n}-"))),
            "no style layer for {n}"
        );
    }
    // Areas below lines: the pipelines draw after every fill.
    let last_fill = style_layers
        .iter()
        .rposition(|l| l.ends_with("-fill"))
        .unwrap();
    let pipes = style_layers
        .iter()
        .position(|l| *l == "pipelines-line")
        .unwrap();
    assert!(pipes > last_fill);

    // z14: detail zoom of land use — every feature, with ids and all attributes.
    let tile = &r["tiles"][&t14];
    for enc in ["br", "gzip"] {
        assert_eq!(tile[enc]["status"], 200);
        assert_eq!(tile[enc]["content_encoding"], enc);
        assert_eq!(
            tile[enc]["content_type"],
            "application/vnd.mapbox-vector-tile"
        );
        assert!(
            tile[enc]["cache_control"]
                .as_str()
                .unwrap()
                .contains("immutable"),
            "versioned URL from TileJSON"
        );
    }
    assert_eq!(
        tile["same_as_br"], true,
        "gzip and brotli bodies decode alike"
    );
    let landuse = &tile["layers"]["landuse"];
    assert_eq!(landuse["extent"], 4096);
    assert_eq!(landuse["version"], 2);
    let feats = landuse["features"].as_array().unwrap();
    let got: BTreeMap<i64, &serde_json::Value> = feats
        .iter()
        .map(|f| (f["id"].as_i64().unwrap(), f))
        .collect();
    let inner = query_ids(&db, "landuse", tile_bounds(14, x14, y14, 0.0));
    let outer = query_ids(&db, "landuse", tile_bounds(14, x14, y14, 64.0 / 4096.0));
    assert!(!inner.is_empty());
    for id in inner.keys() {
        assert!(
            got.contains_key(id),
            "feature {id} intersects the tile but is missing"
        );
    }
    for (id, f) in &got {
        let src = outer
            .get(id)
            .unwrap_or_else(|| panic!("feature {id} is not near the tile"));
        assert_eq!(f["type"], 3);
        assert_eq!(&f["properties"], &src["properties"], "attributes of {id}");
        for ring in f["geometry"].as_array().unwrap() {
            for p in ring.as_array().unwrap() {
                let (px, py) = (p[0].as_i64().unwrap(), p[1].as_i64().unwrap());
                assert!(
                    (-64..=4160).contains(&px) && (-64..=4160).contains(&py),
                    "{id}: {px},{py} outside the buffer"
                );
            }
        }
        // A block wholly inside the tile: its decoded corners are its projected corners.
        let coords = src["geometry"]["coordinates"][0].as_array().unwrap();
        let projected: Vec<(f64, f64)> = coords
            .iter()
            .map(|c| project(c[0].as_f64().unwrap(), c[1].as_f64().unwrap(), 14, x14, y14))
            .collect();
        if projected
            .iter()
            .all(|&(px, py)| (0.0..=4096.0).contains(&px) && (0.0..=4096.0).contains(&py))
        {
            let ring = &f["geometry"][0];
            for &(px, py) in &projected[..projected.len() - 1] {
                let hit = ring.as_array().unwrap().iter().any(|p| {
                    (p[0].as_f64().unwrap() - px).abs() <= 0.5
                        && (p[1].as_f64().unwrap() - py).abs() <= 0.5
                });
                assert!(hit, "{id}: corner {px:.1},{py:.1} not in {ring}");
            }
        }
    }

    // z12: below the detail zoom — land use coalesced by class, only the class attribute, no ids.
    let low = tile_ref(&r, &t12, "landuse");
    let classes: Vec<&str> = low
        .iter()
        .map(|f| f["properties"]["DLBM"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = classes.iter().copied().collect();
    assert_eq!(classes.len(), unique.len(), "one feature per class");
    for f in &low {
        assert!(f["id"].is_null(), "coalesced features carry no id");
        assert_eq!(f["properties"].as_object().unwrap().len(), 1);
    }
    let all_classes: BTreeSet<String> = query_ids(&db, "landuse", tile_bounds(12, x12, y12, 0.0))
        .values()
        .map(|f| f["properties"]["DLBM"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        unique
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        all_classes
    );

    // z16 cadastral: owners are personal data — an anonymous client never sees them.
    let parcels = tile_ref(&r, &t16, "cadastral");
    assert!(!parcels.is_empty());
    for f in &parcels {
        assert!(f["properties"].get("owner").is_none(), "owner leaked: {f}");
        assert!(f["properties"]["parcel_id"].is_string());
    }
    // Pipelines are lines with their kind code.
    let pipes = tile_ref(&r, &t14, "pipelines");
    assert!(
        pipes
            .iter()
            .all(|f| f["type"] == 2 && f["properties"]["pipe_kind"].is_string())
    );

    // Nothing there: 204.
    assert_eq!(r["tiles"][&empty]["br"]["status"], 204);

    // `onemap tiles export`: the archive, read by the reference PMTiles reader, holds the very
    // tiles the server serves.
    let archive = dir.path().join("xinzheng.pmtiles");
    onemap(&db, &["tiles", "export"]).user_error("required");
    let archive_arg = archive.to_str().unwrap();
    onemap(
        &db,
        &[
            "tiles",
            "export",
            archive_arg,
            "--layers",
            "landuse,pipelines",
            "--minzoom",
            "12",
            "--maxzoom",
            "16",
        ],
    )
    .ok();
    let out = Command::new("node")
        .arg(web.join("test/read-pmtiles.mjs"))
        .arg(&archive)
        .args([&t12, &t14, &t16, &empty])
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["header"]["minZoom"], 12);
    assert_eq!(p["header"]["maxZoom"], 16);
    assert_eq!(p["header"]["tileType"], 1, "MVT");
    assert_eq!(p["header"]["clustered"], true);
    let ids: Vec<&str> = p["metadata"]["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["landuse", "pipelines"]);
    assert!(p["tiles"][&empty].is_null(), "empty tiles are not stored");
    for t in [&t12, &t14, &t16] {
        let hex = p["tiles"][t]
            .as_str()
            .unwrap_or_else(|| panic!("tile {t} missing from the archive"));
        let archived: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let served = raw_get(&server.base, &format!("/tiles/landuse,pipelines/{t}.mvt"));
        assert_eq!(archived, served, "tile {t}: archive and server differ");
    }

    // MBTiles: the same tiles, gzip-compressed, rows in TMS order.
    let mbtiles = dir.path().join("xinzheng.mbtiles");
    onemap(
        &db,
        &[
            "tiles",
            "export",
            mbtiles.to_str().unwrap(),
            "--layers",
            "landuse,pipelines",
            "--minzoom",
            "12",
            "--maxzoom",
            "16",
        ],
    )
    .ok();
    let conn = rusqlite::Connection::open(&mbtiles).unwrap();
    let format: String = conn
        .query_row(
            "SELECT value FROM metadata WHERE name = 'format'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(format, "pbf");
    let json: String = conn
        .query_row("SELECT value FROM metadata WHERE name = 'json'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(json.contains("\"vector_layers\""));
    for t in [&t12, &t14, &t16] {
        let parts: Vec<u32> = t.split('/').map(|p| p.parse().unwrap()).collect();
        let tms_row = (1u32 << parts[0]) - 1 - parts[2];
        let gz: Vec<u8> = conn
            .query_row(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                [parts[0], parts[1], tms_row],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("tile {t} not in the MBTiles: {e}"));
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        assert_eq!(
            raw,
            raw_get(&server.base, &format!("/tiles/landuse,pipelines/{t}.mvt")),
            "MBTiles tile {t}"
        );
    }

    // `onemap import` from another process while the server runs: the server picks the new
    // version up by itself and serves it, no restart.
    let tile_path = format!("/tiles/landuse/{t14}.mvt");
    let before = raw_get(&server.base, &tile_path);
    onemap(
        &db,
        &[
            "import",
            common::sample("xinzheng_planning.gpkg").to_str().unwrap(),
            "--layer",
            "landuse",
            "--kind",
            "landuse",
        ],
    )
    .ok();
    // The watcher looks every second (`--watch-ms 1000`), then reloads: the README says "within
    // about a second"; allowed here: two seconds from the end of the import.
    let imported = std::time::Instant::now();
    loop {
        let now = raw_get(&server.base, &tile_path);
        if now != before {
            break;
        }
        assert!(
            imported.elapsed() < std::time::Duration::from_secs(2),
            "re-import not served within 2 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    eprintln!(
        "re-import served {:?} after the import ended",
        imported.elapsed()
    );
    let catalog = raw_get(&server.base, "/layers");
    let catalog: serde_json::Value = serde_json::from_slice(&catalog).unwrap();
    let landuse = catalog["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "landuse")
        .unwrap();
    assert_eq!(landuse["version"], 2);
    assert_eq!(landuse["feature_count"], common::expected_count("planning"));

    // SIGTERM: a graceful stop with exit status 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// GET without compression; the body bytes.
fn raw_get(base: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    buf[split + 4..].to_vec()
}

fn tile_ref<'a>(r: &'a serde_json::Value, t: &str, layer: &str) -> Vec<&'a serde_json::Value> {
    r["tiles"][t]["layers"][layer]["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no layer {layer} in tile {t}"))
        .iter()
        .collect()
}
