//! A real server on 127.0.0.1 over a real store: tiles, TileJSON, caching headers, compression,
//! identity-dependent attributes, live re-import, CORS, metrics, and a table of bad requests.
#[path = "../../engine/tests/support/mvt.rs"]
mod mvt;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::{Engine, Policy, Store, synth};
use onemap_tile_server::{ServerConfig, state};

struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        b = &b[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// The gateway secret of the test servers.
const GATEWAY_SECRET: &str = "test-gateway-secret-0123456789";

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if headers
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-onemap-"))
    {
        req.push_str(&format!("x-onemap-gateway-secret: {GATEWAY_SECRET}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    // Repeated headers (Vary from two layers) are joined as HTTP allows.
    let mut headers: HashMap<String, String> = HashMap::new();
    for (k, v) in lines.filter_map(|l| l.split_once(':')) {
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        headers
            .entry(k)
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let raw = &buf[split + 4..];
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[])
}

fn write_parcels(engine: &Engine, n: usize, seed: u64) {
    engine
        .write_layer(
            &onemap_engine::Caller::operator(),
            "import",
            NewLayer {
                name: "parcels".into(),
                kind: LayerKind::Cadastral,
                schema: synth::parcel_schema(),
                source_crs: "EPSG:4490".into(),
                source: "t".into(),
            },
            synth::parcels(n, seed).map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
}

struct Running {
    addr: SocketAddr,
    engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    rt: tokio::runtime::Runtime,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = self.rt.block_on(h);
        }
    }
}

fn start() -> Running {
    start_with(|engine| write_parcels(engine, 400, 1))
}

fn start_with(fill: impl FnOnce(&Engine)) -> Running {
    start_cfg(fill, ServerConfig::default())
}

fn start_cfg(fill: impl FnOnce(&Engine), config: ServerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.duckdb")).unwrap();
    let engine = Arc::new(Engine::new(store).with_policy(Policy::city_default()));
    fill(&engine);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Identity headers in these tests come from a gateway on 127.0.0.1 that knows the secret
    // (`request` adds it); tests/security.rs tries everyone else.
    let mut config = config;
    if config.auth.gateway.is_none() {
        config.auth.gateway = Some(onemap_tile_server::http::GatewayConfig {
            trusted: vec!["127.0.0.1".parse().unwrap()],
            secret: GATEWAY_SECRET.into(),
        });
    }
    let st = state::state(engine.clone(), config).unwrap();
    let server = rt.spawn(onemap_tile_server::serve_with(
        st,
        "127.0.0.1:0".parse().unwrap(),
        move |a| tx.send(a).unwrap(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = rx.recv().unwrap();
    Running {
        addr,
        engine,
        stop: Some(stop_tx),
        rt,
        server: Some(server),
        _dir: dir,
    }
}

/// The z15 tile holding the parcel grid's south-west corner area.
fn parcel_tile() -> String {
    let (lon, lat) = (synth::ORIGIN.0 + 0.002, synth::ORIGIN.1 + 0.002);
    let n = f64::from(1u32 << 15);
    let r = lat.to_radians();
    let x = ((lon + 180.0) / 360.0 * n) as u32;
    let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32;
    format!("/tiles/parcels/15/{x}/{y}.mvt")
}

#[test]
fn health_catalog_and_tilejson() {
    let s = start();
    let h = get(s.addr, "/health");
    assert_eq!(
        (h.status, h.json()),
        (200, serde_json::json!({"status": "ok"}))
    );
    let l = get(s.addr, "/layers").json();
    assert_eq!(l["layers"][0]["name"], "parcels");
    assert_eq!(l["layers"][0]["feature_count"], 400);
    assert_eq!(
        l["layers"][0]["tilejson"],
        format!("http://{}/tiles/parcels.json", s.addr)
    );
    // TileJSON lists only the fields the caller may see.
    let anon = get(s.addr, "/tiles/parcels.json").json();
    assert_eq!(anon["tilejson"], "3.0.0");
    let fields = &anon["vector_layers"][0]["fields"];
    assert!(fields.get("owner").is_none() && fields["parcel_id"] == "String");
    let reg = request(
        s.addr,
        "GET",
        "/tiles/parcels.json",
        &[("X-Onemap-User", "u1"), ("X-Onemap-Roles", "registration")],
    )
    .json();
    assert_eq!(reg["vector_layers"][0]["fields"]["owner"], "String");
    assert_ne!(
        anon["tiles"][0], reg["tiles"][0],
        "the version token covers the caller's view"
    );
    let style = get(s.addr, "/styles/parcels.json").json();
    assert_eq!(style["version"], 8);
    assert_eq!(
        style["sources"]["onemap"]["url"],
        format!("http://{}/tiles/parcels.json", s.addr)
    );
}

#[test]
fn tiles_compression_validators_and_identity() {
    let s = start();
    let path = parcel_tile();
    let plain = get(s.addr, &path);
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("application/vnd.mapbox-vector-tile")
    );
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    let vary = plain
        .header("vary")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["accept-encoding", "x-onemap-user", "x-onemap-roles"] {
        assert!(vary.contains(h), "{vary}");
    }
    let layers = mvt::decode(&plain.body);
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].name, "parcels");
    assert!(!layers[0].features.is_empty());
    assert!(
        !layers[0].keys.iter().any(|k| k == "owner"),
        "anonymous tiles carry no owners"
    );
    assert!(layers[0].keys.iter().any(|k| k == "parcel_id"));

    let reg = request(
        s.addr,
        "GET",
        &path,
        &[("X-Onemap-User", "u1"), ("X-Onemap-Roles", "registration")],
    );
    assert!(
        mvt::decode(&reg.body)[0].keys.iter().any(|k| k == "owner"),
        "registration sees owners"
    );

    // gzip and brotli bodies decompress to the identity body.
    let gz = request(s.addr, "GET", &path, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body);
    let br = request(s.addr, "GET", &path, &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut back = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body);
    assert!(br.body.len() < plain.body.len() / 2);

    // Validators: one per representation.
    let etag = plain.header("etag").unwrap().to_string();
    let gz_etag = gz.header("etag").unwrap().to_string();
    assert_ne!(gz_etag, etag);
    assert_ne!(br.header("etag").unwrap(), gz_etag);
    let gz_nm = request(
        s.addr,
        "GET",
        &path,
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_etag)],
    );
    assert_eq!(gz_nm.status, 304);
    // The gzip tag does not validate the identity body.
    assert_eq!(
        request(s.addr, "GET", &path, &[("If-None-Match", &gz_etag)]).status,
        200
    );
    let nm = request(s.addr, "GET", &path, &[("If-None-Match", &etag)]);
    assert_eq!(nm.status, 304);
    assert!(nm.body.is_empty());
    let other = request(
        s.addr,
        "GET",
        &path,
        &[("If-None-Match", "\"something-else\"")],
    );
    assert_eq!(other.status, 200);

    // The versioned URL from TileJSON is immutable; a stale token is not.
    let tj = get(s.addr, "/tiles/parcels.json").json();
    let template = tj["tiles"][0].as_str().unwrap();
    let token = template.split("?v=").nth(1).unwrap().to_string();
    let versioned = format!("{path}?v={token}");
    let v = get(s.addr, &versioned);
    assert!(v.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(
        get(s.addr, &format!("{path}?v=stale")).header("cache-control"),
        Some("no-cache")
    );

    // HEAD has the headers and no body.
    let head = request(s.addr, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // A re-import is served at once: new content, new ETag, new token; no restart.
    write_parcels(&s.engine, 60, 2);
    let after = get(s.addr, &path);
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag").unwrap(), etag);
    let n_before = layers[0].features.len();
    let n_after = mvt::decode(&after.body)[0].features.len();
    assert_ne!(n_before, n_after);
    let tj2 = get(s.addr, "/tiles/parcels.json").json();
    assert_ne!(tj2["tiles"][0], tj["tiles"][0]);
    assert_eq!(
        get(s.addr, &versioned).header("cache-control"),
        Some("no-cache"),
        "old token is stale"
    );

    // Metrics saw it all.
    let m = String::from_utf8(get(s.addr, "/metrics").body).unwrap();
    assert!(
        m.contains(
            "onemap_http_requests_total{route=\"/tiles/{layers}/{z}/{x}/{y}\",status=\"200\"}"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "onemap_http_requests_total{route=\"/tiles/{layers}/{z}/{x}/{y}\",status=\"304\"} 2"
        ),
        "{m}"
    );
    let hits: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("onemap_tile_cache_hits_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(hits >= 5.0, "{m}");
}

#[test]
fn cors_for_other_origins() {
    let s = start();
    let r = request(
        s.addr,
        "GET",
        &parcel_tile(),
        &[("Origin", "http://planning.example")],
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let pre = request(
        s.addr,
        "OPTIONS",
        "/tiles/parcels.json",
        &[
            ("Origin", "http://planning.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(pre.status, 200);
    assert!(
        pre.header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
}

#[test]
fn bad_requests_get_json_errors() {
    let s = start();
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/tiles/parcels/25/0/0.mvt", 400, "bad_tile_address"),
        ("GET", "/tiles/parcels/2/4/0.mvt", 400, "bad_tile_address"),
        ("GET", "/tiles/parcels/2/0/4.mvt", 400, "bad_tile_address"),
        ("GET", "/tiles/parcels/-1/0/0.mvt", 400, "bad_tile_address"),
        ("GET", "/tiles/parcels/x/0/0.mvt", 400, "bad_tile_address"),
        (
            "GET",
            "/tiles/parcels/99999999999999999999/0/0.mvt",
            400,
            "bad_tile_address",
        ),
        ("GET", "/tiles/parcels/1/0/0.png", 400, "bad_extension"),
        ("GET", "/tiles/parcels/1/0/0", 400, "bad_extension"),
        ("GET", "/tiles/nope/1/0/0.mvt", 404, "unknown_layer"),
        ("GET", "/tiles/parcels,nope/1/0/0.mvt", 404, "unknown_layer"),
        ("GET", "/tiles/parcels,parcels/1/0/0.mvt", 400, "bad_layers"),
        ("GET", "/tiles/,/1/0/0.mvt", 400, "bad_layers"),
        ("GET", "/tiles/%FF%FE/1/0/0.mvt", 400, "bad_path"),
        ("GET", "/tiles/nope.json", 404, "unknown_layer"),
        ("GET", "/tiles/parcels.txt", 404, "not_found"),
        ("GET", "/styles/nope.json", 404, "unknown_layer"),
        ("GET", "/styles/parcels", 404, "not_found"),
        ("GET", "/no/such/thing", 404, "not_found"),
        (
            "POST",
            "/tiles/parcels/1/0/0.mvt",
            405,
            "method_not_allowed",
        ),
        ("DELETE", "/layers", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let r = request(s.addr, method, path, &[]);
        assert_eq!(
            r.status,
            *status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        assert_eq!(body["code"], *code, "{method} {path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
        assert!(body.get("details").is_some(), "{path}");
    }
    // The server is still fine.
    assert_eq!(get(s.addr, "/health").status, 200);
}

fn json_get(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let r = get(addr, path);
    (r.status, r.json())
}

#[test]
fn ogc_api_features_core() {
    use onemap_engine::{Caller, Query};
    let s = start();
    let (st, landing) = json_get(s.addr, "/");
    assert_eq!(st, 200);
    assert!(
        landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["rel"] == "data")
    );
    // The API description and its human page, as the landing page's links name them.
    let href = |rel: &str| -> String {
        let l = landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .unwrap_or_else(|| panic!("no {rel} link in {landing}"));
        let h = l["href"].as_str().unwrap();
        format!("/{}", h.splitn(4, '/').nth(3).unwrap())
    };
    let desc = get(s.addr, &href("service-desc"));
    assert_eq!(desc.status, 200);
    assert!(
        desc.header("content-type")
            .unwrap()
            .starts_with("application/vnd.oai.openapi+json")
    );
    let api = desc.json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    assert!(api["paths"]["/collections/{id}/items"]["get"].is_object());
    let doc = get(s.addr, &href("service-doc"));
    assert_eq!(doc.status, 200);
    assert!(doc.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        String::from_utf8_lossy(&doc.body).contains("/api"),
        "the page loads the API description"
    );
    let (_, conf) = json_get(s.addr, "/conformance");
    assert!(
        conf["conformsTo"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().ends_with("/conf/core"))
    );
    let (_, cols) = json_get(s.addr, "/collections");
    assert_eq!(cols["collections"][0]["id"], "parcels");
    assert_eq!(
        cols["collections"][0]["extent"]["spatial"]["bbox"][0]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Paging to the end with next links gives every feature once, in order.
    let mut url = format!("http://{}/collections/parcels/items?limit=37", s.addr);
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut selves: Vec<String> = Vec::new();
    let link = |page: &serde_json::Value, rel: &str| -> Option<String> {
        page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_string())
    };
    loop {
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
        let r = get(s.addr, &path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/geo+json"));
        let page = r.json();
        assert_eq!(page["numberMatched"], 400);
        let feats = page["features"].as_array().unwrap();
        assert_eq!(
            page["numberReturned"].as_u64().unwrap() as usize,
            feats.len()
        );
        for f in feats {
            assert!(
                f["properties"].get("owner").is_none(),
                "anonymous callers never see owners"
            );
            ids.push(f["id"].as_i64().unwrap());
        }
        pages += 1;
        // The first page has no prev link; every other page's prev is the page before.
        match (selves.last(), link(&page, "prev")) {
            (None, None) => {}
            (Some(before), Some(prev)) => assert_eq!(&prev, before, "page {pages}"),
            (b, p) => panic!("page {pages}: prev {p:?}, page before {b:?}"),
        }
        selves.push(link(&page, "self").unwrap());
        match link(&page, "next") {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(pages, 11);
    assert_eq!(ids, (1..=400).collect::<Vec<i64>>());
    // A limit above the maximum is clamped, not refused (/req/core/query-param-limit), and the
    // page's links say the limit used.
    let (st, all) = json_get(s.addr, "/collections/parcels/items?limit=1000000000");
    assert_eq!(st, 200);
    assert_eq!(all["numberReturned"], 400);
    assert!(link(&all, "self").unwrap().contains("limit=10000"), "{all}");

    // bbox and a property filter give what the engine gives.
    let (x, y) = (synth::ORIGIN.0, synth::ORIGIN.1);
    let bbox = [x + 0.001, y + 0.001, x + 0.004, y + 0.003];
    let (_, page) = json_get(
        s.addr,
        &format!(
            "/collections/parcels/items?bbox={},{},{},{}&limit=10000",
            bbox[0], bbox[1], bbox[2], bbox[3]
        ),
    );
    let want: Vec<i64> = s
        .engine
        .query(
            &Caller::anonymous(),
            "parcels",
            &Query::bbox(bbox[0], bbox[1], bbox[2], bbox[3]),
        )
        .unwrap()
        .hits
        .iter()
        .map(|h| h.fid)
        .collect();
    let got: Vec<i64> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let (_, floors) = json_get(s.addr, "/collections/parcels/items?floors=3&limit=10000");
    let n = floors["numberMatched"].as_u64().unwrap();
    assert!(n > 0);
    assert!(
        floors["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["properties"]["floors"] == 3)
    );
    // The registrar sees owners and may filter on them.
    let reg = request(
        s.addr,
        "GET",
        "/collections/parcels/items/1",
        &[("X-Onemap-User", "u"), ("X-Onemap-Roles", "registration")],
    )
    .json();
    assert!(reg["properties"]["owner"].is_string());
    let owner = reg["properties"]["owner"].as_str().unwrap().to_string();
    let enc: String = owner.bytes().map(|b| format!("%{b:02X}")).collect();
    let by_owner = request(
        s.addr,
        "GET",
        &format!("/collections/parcels/items?owner={enc}"),
        &[("X-Onemap-User", "u"), ("X-Onemap-Roles", "registration")],
    )
    .json();
    assert!(by_owner["numberMatched"].as_u64().unwrap() >= 1);

    // One feature.
    let (st, one) = json_get(s.addr, "/collections/parcels/items/5");
    assert_eq!((st, one["id"].as_i64()), (200, Some(5)));
    assert_eq!(one["type"], "Feature");
    // HTML for a browser.
    let html = get(s.addr, "/collections/parcels/items?f=html&limit=3");
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&html.body).contains("<table"));

    // Everything at a point, grouped by layer.
    let (px, py) = (x + 0.5 * synth::STEP, y + 0.5 * synth::STEP);
    let (st, at) = json_get(s.addr, &format!("/query/identify?lon={px}&lat={py}"));
    assert_eq!(st, 200);
    assert_eq!(at["layers"][0]["layer"], "parcels");
    assert_eq!(at["layers"][0]["features"].as_array().unwrap().len(), 1);

    // Bad input: each gets its documented 4xx.
    for (path, status, code) in [
        (
            "/collections/parcels/items?bbox=1,2,3",
            400,
            "bad_parameter",
        ),
        (
            "/collections/parcels/items?bbox=113.8,34.3,113.7,34.4",
            400,
            "bad_parameter",
        ),
        (
            "/collections/parcels/items?bbox=a,b,c,d",
            400,
            "bad_parameter",
        ),
        ("/collections/parcels/items?limit=-1", 400, "bad_parameter"),
        // Percent-encoding is two hex digits, not whatever from_str_radix accepts.
        ("/collections/parcels/items?limit=%+1", 400, "bad_query"),
        ("/collections/parcels/items?limit=0", 400, "bad_parameter"),
        ("/collections/parcels/items?offset=-3", 400, "bad_parameter"),
        ("/collections/parcels/items?owner=x", 400, "bad_parameter"),
        (
            "/collections/parcels/items?no_such_field=1",
            400,
            "bad_parameter",
        ),
        ("/collections/parcels/items?f=xml", 400, "bad_parameter"),
        (
            "/collections/parcels/items?crs=EPSG:32650",
            400,
            "bad_parameter",
        ),
        ("/collections/parcels/items?x=%ZZ", 400, "bad_query"),
        ("/collections/nope", 404, "unknown_collection"),
        ("/collections/nope/items", 404, "unknown_collection"),
        ("/collections/parcels/items/99999", 404, "unknown_feature"),
        ("/collections/parcels/items/abc", 404, "unknown_feature"),
        ("/query/identify?lon=113.7", 400, "bad_parameter"),
        ("/query/identify?lon=113.7&lat=200", 400, "bad_parameter"),
        (
            "/query/identify?lon=113.7&lat=34.4&tolerance=-1",
            400,
            "bad_parameter",
        ),
        (
            "/query/identify?lon=113.7&lat=34.4&layers=nope",
            404,
            "unknown_layer",
        ),
    ] {
        let (st, body) = json_get(s.addr, path);
        assert_eq!(st, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn crs_by_reference_matches_the_check_values() {
    use onemap_engine::{Feature, Schema};
    let s = start();
    s.engine
        .write_layer(
            &onemap_engine::Caller::operator(),
            "import",
            NewLayer {
                name: "pt".into(),
                kind: LayerKind::Generic,
                schema: Schema::new(vec![]).unwrap(),
                source_crs: "EPSG:4490".into(),
                source: "check value".into(),
            },
            [Ok::<_, std::io::Error>(Feature::new(
                geo::Point::new(113.74, 34.40).into(),
                vec![],
            ))],
            |_| {},
        )
        .unwrap();
    let epsg = "http://www.opengis.net/def/crs/EPSG/0/";
    let coords = |crs: &str| {
        let r = get(s.addr, &format!("/collections/pt/items?crs={crs}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let content_crs = r.header("content-crs").unwrap_or_default().to_string();
        let j = r.json();
        let c = &j["features"][0]["geometry"]["coordinates"];
        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap(), content_crs)
    };
    // ../shared/domain/crs.md: 113.74E 34.40N = EPSG:4547 E 476093.098982 N 3808062.489848
    // (northing first in EPSG:4547's axis order) and EPSG:3857 x 12661478.882827 y 4082639.550141.
    let (n, e, h) = coords(&format!("{epsg}4547"));
    assert!(
        (n - 3_808_062.489_848).abs() < 1e-3 && (e - 476_093.098_982).abs() < 1e-3,
        "{n} {e}"
    );
    assert_eq!(h, format!("<{epsg}4547>"));
    let (x, y, _) = coords(&format!("{epsg}3857"));
    assert!(
        (x - 12_661_478.882_827).abs() < 1e-3 && (y - 4_082_639.550_141).abs() < 1e-3,
        "{x} {y}"
    );
    let (lat, lon, _) = coords(&format!("{epsg}4490"));
    assert!((lat - 34.40).abs() < 1e-12 && (lon - 113.74).abs() < 1e-12);
    // EPSG:4326 is latitude first too (its EPSG axis order), unlike CRS84.
    let (lat, lon, h) = coords(&format!("{epsg}4326"));
    assert!((lat - 34.40).abs() < 1e-12 && (lon - 113.74).abs() < 1e-12);
    assert_eq!(h, format!("<{epsg}4326>"));
    let (lon, lat, h) = coords("http://www.opengis.net/def/crs/OGC/1.3/CRS84");
    assert!((lat - 34.40).abs() < 1e-12 && (lon - 113.74).abs() < 1e-12);
    assert_eq!(h, "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>");
    // bbox in EPSG:4547 (northing, easting), around the point and beside it.
    let around = format!("3808000,476000,3808100,476200&bbox-crs={epsg}4547");
    let (_, hit) = json_get(s.addr, &format!("/collections/pt/items?bbox={around}"));
    assert_eq!(hit["numberMatched"], 1);
    let beside = format!("3809000,476000,3809100,476200&bbox-crs={epsg}4547");
    let (_, miss) = json_get(s.addr, &format!("/collections/pt/items?bbox={beside}"));
    assert_eq!(miss["numberMatched"], 0);
    // The collection says what it offers.
    let (_, col) = json_get(s.addr, "/collections/pt");
    assert!(
        col["crs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == &format!("{epsg}4547"))
    );
    assert_eq!(
        col["storageCrs"],
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    );
    for bad in [
        "EPSG:2000",
        "http://www.opengis.net/def/crs/EPSG/0/32650",
        "nonsense",
    ] {
        let (st, body) = json_get(s.addr, &format!("/collections/pt/items?crs={bad}"));
        assert_eq!(
            (st, body["code"].as_str()),
            (400, Some("bad_parameter")),
            "{bad}"
        );
    }
}

/// POST a body the server will refuse before reading it all: the body is written from another
/// thread while this one reads, so the answer is read as it arrives (before the server closes
/// the connection on the unread rest).
fn post_oversized(addr: SocketAddr, path: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let writer = std::thread::spawn(move || {
        // A broken pipe once the server has answered and closed is expected.
        let _ = w.write_all(req.as_bytes());
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.windows(4).any(|w| w == b"\r\n\r\n") => {
                eprintln!("after the answer: {e}");
                break;
            }
            Err(e) => panic!("no answer to an oversized body: {e}"),
        }
    }
    let _ = writer.join();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer to an oversized body");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head[9..12].parse().unwrap();
    let raw = &buf[split + 4..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers: HashMap::new(),
        body,
    }
}

fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    // A server that refuses an oversized body answers and closes before reading it all: the
    // write may then fail with a broken pipe, and the answer is still there to read.
    let _ = write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response to POST {path}"));
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let raw = &buf[split + 4..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers: HashMap::new(),
        body,
    }
}

#[test]
fn spatial_queries_for_other_systems() {
    use onemap_engine::Caller;
    use onemap_engine::geometry::Measure;
    let s = start();
    let (x, y) = (synth::ORIGIN.0, synth::ORIGIN.1);
    let site = serde_json::json!({
        "type": "Polygon",
        "coordinates": [[[x + 0.001, y + 0.001], [x + 0.004, y + 0.001], [x + 0.004, y + 0.003], [x + 0.001, y + 0.003], [x + 0.001, y + 0.001]]],
    });
    // Intersects with areas inside the site.
    let r = post(
        s.addr,
        "/query/intersects",
        &serde_json::json!({ "geometry": site, "layers": ["parcels"] }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let feats = j["layers"][0]["features"].as_array().unwrap();
    assert!(!feats.is_empty());
    let inside: f64 = feats
        .iter()
        .map(|f| f["properties"]["_intersection_area_m2"].as_f64().unwrap())
        .sum();
    let g: geo::Geometry<f64> = geo::Rect::new(
        geo::coord! { x: x + 0.001, y: y + 0.001 },
        geo::coord! { x: x + 0.004, y: y + 0.003 },
    )
    .to_polygon()
    .into();
    let site_area = g.geodesic_area_m2();
    assert!(
        (inside / site_area - 1.0).abs() < 1e-5,
        "{inside} vs {site_area}"
    );
    assert!(feats.iter().all(|f| f["properties"].get("owner").is_none()));
    // Statistics by class, against the engine.
    let st = post(
        s.addr,
        "/query/stats",
        &serde_json::json!({ "geometry": site, "layer": "parcels", "group_by": "rights_type" })
            .to_string(),
    )
    .json();
    let want = s
        .engine
        .stats(&Caller::anonymous(), "parcels", &g, Some("rights_type"))
        .unwrap();
    assert_eq!(st["groups"].as_array().unwrap().len(), want.len());
    for grp in st["groups"].as_array().unwrap() {
        let t = &want[grp["value"].as_str().unwrap()];
        assert_eq!(grp["count"].as_u64().unwrap() as usize, t.count);
        assert!((grp["area_m2"].as_f64().unwrap() - t.area_m2).abs() < 1e-6);
    }
    assert!((st["total"]["area_m2"].as_f64().unwrap() / site_area - 1.0).abs() < 1e-5);
    // By default, by the kind's styling field (rights type for cadastral).
    let st2 = post(
        s.addr,
        "/query/stats",
        &serde_json::json!({ "geometry": site, "layer": "parcels" }).to_string(),
    )
    .json();
    assert_eq!(st2["group_by"], "rights_type");
    // Nearest.
    let (code, near) = json_get(
        s.addr,
        &format!(
            "/query/nearest?lon={}&lat={}&layer=parcels&k=3",
            x - 0.001,
            y - 0.001
        ),
    );
    assert_eq!(code, 200);
    let d: Vec<f64> = near["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["_distance_m"].as_f64().unwrap())
        .collect();
    assert_eq!(d.len(), 3);
    assert!(d.windows(2).all(|w| w[0] <= w[1]));
    // Queryables: visible fields only.
    let (code, qs) = json_get(s.addr, "/collections/parcels/queryables");
    assert_eq!(code, 200);
    assert_eq!(qs["properties"]["floors"]["type"], "integer");
    assert!(qs["properties"].get("owner").is_none());

    // Bad input.
    let huge: Vec<[f64; 2]> = (0..=100_001)
        .map(|i| {
            let a = f64::from(i) / 100_001.0 * std::f64::consts::TAU;
            [x + 0.01 * a.cos(), y + 0.01 * a.sin()]
        })
        .collect();
    let mut ring = huge.clone();
    ring.push(huge[0]);
    let cases: Vec<(String, String, u16, &str)> = vec![
        ("/query/intersects".into(), "not json".into(), 400, "bad_json"),
        ("/query/intersects".into(), r#"{"geometry": {"type": "Polygon"}}"#.into(), 400, "bad_geometry"),
        ("/query/intersects".into(), r#"{"geometry": {"type": "Point", "coordinates": [500000, 3800000]}}"#.into(), 400, "bad_geometry"),
        (
            "/query/intersects".into(),
            serde_json::json!({ "geometry": { "type": "MultiPoint", "coordinates": vec![[113, 34]; 100_001] } }).to_string(),
            413,
            "too_many_vertices",
        ),
        ("/query/intersects".into(), serde_json::json!({ "geometry": site, "layers": ["nope"] }).to_string(), 404, "unknown_layer"),
        ("/query/intersects".into(), serde_json::json!({ "geometry": site, "layers": ["parcels"], "filter": "owner = 'x'" }).to_string(), 400, "bad_request"),
        ("/query/intersects".into(), serde_json::json!({ "geometry": site, "layers": ["parcels", "parcels"] }).to_string(), 400, "bad_parameter"),
        (
            "/query/intersects".into(),
            serde_json::json!({ "geometry": { "type": "FeatureCollection", "features": [
                { "type": "Feature", "properties": {}, "geometry": site },
                { "type": "Feature", "properties": {}, "geometry": { "type": "Point", "coordinates": [x, y] } },
            ] } }).to_string(),
            400,
            "bad_geometry",
        ),
        ("/query/intersects".into(), serde_json::json!({ "geometry": site, "filter": "NOT ".repeat(500) + "floors = 1" }).to_string(), 400, "bad_request"),
        ("/query/stats".into(), serde_json::json!({ "geometry": { "type": "Point", "coordinates": [x, y] }, "layer": "parcels" }).to_string(), 400, "bad_geometry"),
        ("/query/stats".into(), serde_json::json!({ "geometry": site }).to_string(), 400, "bad_parameter"),
        ("/query/stats".into(), serde_json::json!({ "geometry": site, "layer": "parcels", "group_by": "owner" }).to_string(), 400, "bad_request"),
    ];
    for (path, body, status, code) in cases {
        let r = post(s.addr, &path, &body);
        let j = r.json();
        assert_eq!(
            (r.status, j["code"].as_str()),
            (status, Some(code)),
            "{path} {}: {j}",
            &body[..body.len().min(80)]
        );
    }
    // Without a layer list, a filter that does not apply to a layer leaves that layer out (and
    // says nothing about hidden fields).
    let r = post(
        s.addr,
        "/query/intersects",
        &serde_json::json!({ "geometry": site, "filter": "owner = 'x'" }).to_string(),
    );
    assert_eq!(
        (r.status, r.json()["layers"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // A body over 2 MiB is refused with a JSON 413 (the server does not read the rest), and the
    // server stays up.
    let big =
        serde_json::json!({ "geometry": { "type": "Polygon", "coordinates": [ring] } }).to_string();
    assert!(big.len() > 2 << 20);
    let r = post_oversized(s.addr, "/query/intersects", &big);
    assert_eq!(
        (r.status, r.json()["code"].as_str().map(str::to_string)),
        (413, Some("body_too_large".into()))
    );
    assert_eq!(get(s.addr, "/health").status, 200);
    for (path, status) in [
        ("/query/nearest?lon=113.7&lat=34.4", 400),
        ("/query/nearest?lon=113.7&lat=34.4&layer=parcels&k=0", 400),
        (
            "/query/nearest?lon=113.7&lat=34.4&layer=parcels&k=100000",
            400,
        ),
        ("/collections/nope/queryables", 404),
    ] {
        assert_eq!(get(s.addr, path).status, status, "{path}");
    }
    assert_eq!(get(s.addr, "/health").status, 200);
}

#[test]
fn openapi_document_covers_every_route() {
    let s = start();
    let r = get(s.addr, "/api");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/",
        "/conformance",
        "/collections",
        "/collections/{id}",
        "/collections/{id}/items",
        "/collections/{id}/items/{featureId}",
        "/collections/{id}/queryables",
        "/query/identify",
        "/query/nearest",
        "/query/intersects",
        "/query/stats",
        "/tiles/{layers}/{z}/{x}/{y}.mvt",
        "/tiles/{layers}.json",
        "/styles/{name}.json",
        "/layers",
        "/health",
        "/metrics",
        "/api",
        "/analysis/approval",
        "/analysis/violations",
        "/analysis/landuse",
        "/analysis/runs/{id}",
        "/analysis/redline",
        "/jobs/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from /api");
    }
    // The error shape is documented and referenced.
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["code"].is_object());
    let items = &paths["/collections/{id}/items"]["get"]["responses"]["400"];
    assert!(items.to_string().contains("ErrorBody"), "{items}");
}

/// A small city with the layers the shipped rules name.
fn city(engine: &Engine) {
    use geo::{Geometry, polygon};
    use onemap_engine::model::{Feature, Field, FieldType, Schema, Value};
    let rect = |x0: f64, y0: f64, x1: f64, y1: f64| {
        Geometry::Polygon(
            polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)],
        )
    };
    let t = |v: &str| Value::Text(v.into());
    let write = |name: &str, kind, fields: &[&str], rows: Vec<(Geometry<f64>, Vec<Value>)>| {
        engine
            .write_layer(
                &onemap_engine::Caller::operator(),
                "import",
                NewLayer {
                    name: name.into(),
                    kind,
                    schema: Schema::new(
                        fields
                            .iter()
                            .map(|f| Field::new(*f, FieldType::Text))
                            .collect(),
                    )
                    .unwrap(),
                    source_crs: "EPSG:4490".into(),
                    source: "t".into(),
                },
                rows.into_iter()
                    .map(|(g, p)| Ok::<_, std::io::Error>(Feature::new(g, p))),
                |_| {},
            )
            .unwrap();
    };
    write(
        "control_lines",
        LayerKind::ControlLine,
        &["line_type", "name"],
        vec![
            (
                rect(113.0, 34.0, 113.01, 34.01),
                vec![t("永久基本农田"), t("农田")],
            ),
            (
                rect(112.99, 33.99, 113.03, 34.02),
                vec![t("城镇开发边界"), t("边界")],
            ),
        ],
    );
    write(
        "cadastral",
        LayerKind::Cadastral,
        &["parcel_id", "owner"],
        vec![(
            rect(113.004, 34.002, 113.006, 34.004),
            vec![t("P1"), t("张三")],
        )],
    );
    write(
        "approvals",
        LayerKind::Approval,
        &["permit_no"],
        vec![(rect(113.02, 34.012, 113.022, 34.014), vec![t("许可1")])],
    );
    write(
        "change_patches",
        LayerKind::ChangePatch,
        &["JCBH", "XZQDM", "land_class_after"],
        vec![
            (
                rect(113.0205, 34.0125, 113.0215, 34.0135),
                vec![t("A"), t("410184001"), t("0701")],
            ),
            (
                rect(113.002, 34.002, 113.003, 34.003),
                vec![t("B"), t("410184001"), t("1001")],
            ),
        ],
    );
    write(
        "landuse",
        LayerKind::Landuse,
        &["DLBM", "ZLDWMC"],
        vec![(
            rect(113.0, 34.0, 113.01, 34.01),
            vec![t("0103"), t("和庄镇")],
        )],
    );
    write(
        "planning",
        LayerKind::Planning,
        &["land_use_code"],
        vec![(rect(113.0, 34.0, 113.01, 34.005), vec![t("0701")])],
    );
}

fn post_as(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if headers
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-onemap-"))
    {
        req.push_str(&format!("x-onemap-gateway-secret: {GATEWAY_SECRET}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw = &buf[split + 4..];
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

const SITE: &str = r#"{"type":"Polygon","coordinates":[[[113.005,34.002],[113.015,34.002],[113.015,34.004],[113.005,34.004],[113.005,34.002]]]}"#;

#[test]
fn approval_check_over_http() {
    let s = start_with(city);
    let body = format!(r#"{{"geometry": {SITE}, "proposal": {{"use": "0701", "far": 2.0}}}}"#);
    let planner = [("x-onemap-user", "wang"), ("x-onemap-roles", "planning")];
    let r = post_as(s.addr, "/analysis/approval", &body, &planner);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rep = r.json();
    assert_eq!(rep["conclusion"], "fail");
    let farm = rep["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "basic_farmland")
        .unwrap();
    assert_eq!(farm["status"], "fail");
    assert!((farm["measured"]["share"].as_f64().unwrap() - 0.5).abs() < 1e-3);
    // The caller's identity flows into the parcels taken: no owner without `registration`.
    assert_eq!(rep["parcels"][0]["attributes"]["parcel_id"], "P1");
    assert!(
        rep["parcels"][0]["attributes"].get("owner").is_none(),
        "{}",
        rep["parcels"][0]
    );
    let registrar = post_as(
        s.addr,
        "/analysis/approval",
        &body,
        &[("x-onemap-user", "li"), ("x-onemap-roles", "registration")],
    )
    .json();
    assert_eq!(registrar["parcels"][0]["attributes"]["owner"], "张三");
    // Recorded; the record is the caller's.
    let id = rep["run_id"].as_i64().unwrap();
    let (mine, other) = (
        request(s.addr, "GET", &format!("/analysis/runs/{id}"), &planner),
        request(
            s.addr,
            "GET",
            &format!("/analysis/runs/{id}"),
            &[("x-onemap-user", "zhao")],
        ),
    );
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["input_hash"], rep["input_hash"]);
    assert_eq!(other.status, 404);
    let page = request(
        s.addr,
        "GET",
        &format!("/analysis/runs/{id}.html"),
        &planner,
    );
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&page.body).contains("审查结论"));
    // The other formats.
    let html = post_as(s.addr, "/analysis/approval?format=html", &body, &planner);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&html.body).contains("<svg"));
    let gj = post_as(s.addr, "/analysis/approval?format=geojson", &body, &planner);
    assert_eq!(gj.header("content-type"), Some("application/geo+json"));
    assert_eq!(gj.json()["features"][0]["properties"]["role"], "site");
    // An existing feature as the red line.
    let f = post_as(
        s.addr,
        "/analysis/approval",
        r#"{"feature": {"layer": "approvals", "id": 1}, "proposal": {"use": "0701"}}"#,
        &[],
    );
    assert_eq!(f.status, 200, "{}", String::from_utf8_lossy(&f.body));
    // Bad requests: JSON errors naming what is wrong.
    let bowtie = r#"{"type":"Polygon","coordinates":[[[113.0,34.0],[113.01,34.01],[113.01,34.0],[113.0,34.01],[113.0,34.0]]]}"#;
    for (path, body, status, words) in [
        ("/analysis/approval", "not json".to_string(), 400, "JSON"),
        ("/analysis/approval", "{}".to_string(), 400, "geometry"),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {SITE}, "color": 1}}"#),
            400,
            "color",
        ),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {SITE}, "proposal": {{"far": -2}}}}"#),
            400,
            "far",
        ),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {SITE}, "proposal": {{"floors": 3}}}}"#),
            400,
            "floors",
        ),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {SITE}, "planar": "EPSG:4326"}}"#),
            400,
            "projected",
        ),
        (
            "/analysis/approval",
            r#"{"geometry": {"type": "Point", "coordinates": [113, 34]}}"#.to_string(),
            400,
            "polygon",
        ),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {bowtie}}}"#),
            400,
            "not a valid polygon",
        ),
        (
            "/analysis/approval?format=pdf",
            format!(r#"{{"geometry": {SITE}}}"#),
            400,
            "format",
        ),
        (
            "/analysis/approval",
            r#"{"feature": {"layer": "approvals", "id": 99}}"#.to_string(),
            400,
            "no feature 99",
        ),
        (
            "/analysis/approval",
            r#"{"feature": {"layer": "nope", "id": 1}}"#.to_string(),
            404,
            "nope",
        ),
        (
            "/analysis/violations",
            r#"{"patches": "nope"}"#.to_string(),
            404,
            "nope",
        ),
        (
            "/analysis/violations",
            r#"{"output_layer": "x"}"#.to_string(),
            403,
            "analysis",
        ),
        (
            "/analysis/approval",
            format!(r#"{{"geometry": {bowtie}, "repair": "yes"}}"#),
            400,
            "\"repair\" must be true or false",
        ),
        (
            "/analysis/violations",
            r#"{"speed": 1}"#.to_string(),
            400,
            "speed",
        ),
        (
            "/analysis/landuse",
            r#"{"patches": "change_patches"}"#.to_string(),
            400,
            "violations only",
        ),
    ] {
        let r = post_as(s.addr, path, &body, &[]);
        assert_eq!(
            r.status,
            status,
            "{path} {body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let e = r.json();
        assert!(
            e["message"].as_str().unwrap().contains(words),
            "{path} {body}: {e}"
        );
    }
    let repaired = post_as(
        s.addr,
        "/analysis/approval",
        &format!(r#"{{"geometry": {bowtie}, "repair": true}}"#),
        &[],
    );
    assert_eq!(repaired.status, 200);
}

fn wait_job(addr: SocketAddr, loc: &str, who: &[(&str, &str)]) -> serde_json::Value {
    for _ in 0..200 {
        let j = request(addr, "GET", loc, who).json();
        match j["state"].as_str().unwrap() {
            "done" | "failed" => return j,
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    panic!("job {loc} did not finish");
}

#[test]
fn analysis_jobs_report_progress_and_results() {
    let s = start_with(city);
    let analyst = [("x-onemap-user", "zhou"), ("x-onemap-roles", "analysis")];
    let r = post_as(
        s.addr,
        "/analysis/violations",
        r#"{"output_layer": "patches_result"}"#,
        &analyst,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let loc = r.header("location").unwrap().to_string();
    assert_eq!(r.json()["status_url"], loc.as_str());
    let j = wait_job(s.addr, &loc, &analyst);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["progress"]["done"], j["progress"]["total"]);
    assert_eq!(j["progress"]["total"], 2);
    let patches = j["result"]["patches"].as_array().unwrap();
    let class = |id: &str| patches.iter().find(|p| p["id"] == id).unwrap()["class"].clone();
    assert_eq!(class("A"), "合法");
    assert_eq!(class("B"), "疑似违法");
    assert!(j["result"]["run_id"].as_i64().is_some());
    // The result layer is served at once.
    assert_eq!(j["result"]["layer"]["name"], "patches_result");
    let layers = get(s.addr, "/layers").json();
    assert!(layers.to_string().contains("patches_result"), "{layers}");
    // Tables.
    let csv = request(s.addr, "GET", &format!("{loc}/result.csv"), &analyst);
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(String::from_utf8_lossy(&csv.body).lines().count(), 3);
    let xlsx = request(s.addr, "GET", &format!("{loc}/result.xlsx"), &analyst);
    assert_eq!(xlsx.status, 200);
    assert_eq!(&xlsx.body[..2], b"PK");
    assert_eq!(
        request(s.addr, "GET", &format!("{loc}/result.pdf"), &analyst).status,
        404
    );
    // Someone else's job is not there for them.
    assert_eq!(
        request(s.addr, "GET", &loc, &[("x-onemap-user", "wu")]).status,
        404
    );
    assert_eq!(get(s.addr, "/jobs/999").status, 404);
    assert_eq!(get(s.addr, "/jobs/abc").status, 404);
    // The land-use check, anonymously, without a layer.
    let r = post_as(s.addr, "/analysis/landuse", "", &[]);
    assert_eq!(r.status, 202);
    let j = wait_job(s.addr, r.header("location").unwrap(), &[]);
    assert_eq!(j["state"], "done", "{j}");
    let total = &j["result"]["total"];
    assert!(
        total["conflicting_m2"].as_f64().unwrap() > 0.0
            && total["unplanned_m2"].as_f64().unwrap() > 0.0,
        "{total}"
    );
    assert!(j["result"].get("layer").is_none());
}

fn post_bytes(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let raw = &buf[split + 4..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers: HashMap::new(),
        body,
    }
}

#[test]
fn red_line_files_are_read_by_the_importers() {
    let s = start_with(city);
    // A zipped Shapefile (the sample cadastre: GBK attributes, EPSG:4547 in the .prj).
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data");
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zipped);
        for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
            z.start_file(
                format!("xinzheng_cadastral.{ext}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(&std::fs::read(sample.join(format!("xinzheng_cadastral.{ext}"))).unwrap())
                .unwrap();
        }
        z.finish().unwrap();
    }
    let r = post_bytes(s.addr, "/analysis/redline?format=zip", zipped.get_ref());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let g = r.json()["geometry"].clone();
    assert_eq!(g["type"], "GeometryCollection");
    // As many parcels as the sample generator says it made.
    let made: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample.join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(
        g["geometries"].as_array().unwrap().len() as u64,
        made["features"]["cadastral"].as_u64().unwrap()
    );
    // Reprojected from Gauss–Krüger to lon/lat near Xinzheng.
    let mut c = &g["geometries"][0]["coordinates"];
    while c.is_array() {
        c = &c[0];
    }
    let x = c.as_f64().unwrap();
    assert!((113.7..113.8).contains(&x), "{x}");
    // The geometry goes straight on to the approval check.
    let check = post_as(
        s.addr,
        "/analysis/approval",
        &serde_json::json!({ "geometry": g }).to_string(),
        &[],
    );
    assert_eq!(
        check.status,
        200,
        "{}",
        String::from_utf8_lossy(&check.body)
    );
    // GeoJSON works too; bad uploads are JSON 400s that do not show server paths.
    let gj = post_bytes(s.addr, "/analysis/redline?format=geojson", SITE.as_bytes());
    assert_eq!(gj.json()["geometry"]["type"], "Polygon");
    // A GeoPackage (every feature of its table), a FlatGeobuf and a CSV with WKT.
    let gpkg_path = sample.join("xinzheng_planning.gpkg");
    let rows: i64 = {
        let c = rusqlite::Connection::open(&gpkg_path).unwrap();
        let table: String = c
            .query_row(
                "SELECT table_name FROM gpkg_contents WHERE data_type = 'features'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        c.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let r = post_bytes(
        s.addr,
        "/analysis/redline?format=gpkg",
        &std::fs::read(&gpkg_path).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["geometry"]["geometries"].as_array().unwrap().len() as i64,
        rows
    );
    let r = post_bytes(
        s.addr,
        "/analysis/redline?format=fgb",
        &std::fs::read(sample.join("xinzheng_pipelines.fgb")).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["geometry"]["geometries"][0]["type"]
            .as_str()
            .unwrap()
            .contains("LineString")
    );
    let r = post_bytes(
        s.addr,
        "/analysis/redline?format=csv",
        &std::fs::read(sample.join("xinzheng_approvals.csv")).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["geometry"]["type"], "GeometryCollection");
    // A CSV in Gauss–Krüger metres: refused without `srs`, reprojected with it. The first vertex
    // is the PROJ check value E 476093.098982 N 3808062.489848 (EPSG:4547) = 113.74E 34.40N.
    let gk = "id,WKT\n1,\"POLYGON ((476093.098982 3808062.489848, 476193.098982 3808062.489848, 476193.098982 3808162.489848, 476093.098982 3808062.489848))\"\n";
    let r = post_bytes(s.addr, "/analysis/redline?format=csv", gk.as_bytes());
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let r = post_bytes(
        s.addr,
        "/analysis/redline?format=csv&srs=EPSG:4547",
        gk.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let first = &r.json()["geometry"]["coordinates"][0][0];
    assert!(
        (first[0].as_f64().unwrap() - 113.74).abs() < 1e-8
            && (first[1].as_f64().unwrap() - 34.40).abs() < 1e-8,
        "{first}"
    );
    for (path, body, words) in [
        ("/analysis/redline?format=dwg", &b"x"[..], "format"),
        ("/analysis/redline", &b"x"[..], "format"),
        (
            "/analysis/redline?format=zip",
            &b"not a zip"[..],
            "the upload",
        ),
        (
            "/analysis/redline?format=geojson",
            &b"{\"type\": \"Point\""[..],
            "the upload",
        ),
    ] {
        let r = post_bytes(s.addr, path, body);
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let m = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            m.contains(words) && !m.contains("onemap-redline-"),
            "{path}: {m}"
        );
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn cql2_filters_on_items() {
    use onemap_engine::{Caller, Filter, Query};
    let s = start();
    let matched = |q: &str| {
        let (status, doc) = json_get(s.addr, &format!("/collections/parcels/items?limit=5&{q}"));
        assert_eq!(status, 200, "{q}: {doc}");
        doc["numberMatched"].as_u64().unwrap()
    };
    let expect = |f: &str| {
        s.engine
            .query(
                &Caller::anonymous(),
                "parcels",
                &Query::all().filter(Filter::parse(f).unwrap()),
            )
            .unwrap()
            .matched as u64
    };
    // CQL2-text and the same filter as CQL2-JSON.
    let text = "floors >= 5 AND rights_type LIKE '国有%' AND NOT floors IN (7, 9)";
    let n = expect(text);
    assert!(n > 10 && n < 400, "{n}");
    assert_eq!(matched(&format!("filter={}", enc(text))), n);
    let json = r#"{"op":"and","args":[{"op":">=","args":[{"property":"floors"},5]},{"op":"like","args":[{"property":"rights_type"},"国有%"]},{"op":"not","args":[{"op":"in","args":[{"property":"floors"},[7,9]]}]}]}"#;
    assert_eq!(
        matched(&format!("filter-lang=cql2-json&filter={}", enc(json))),
        n
    );
    // S_INTERSECTS with a box equals the bbox parameter; S_DWITHIN in metres equals the engine's
    // within-distance query.
    let (x, y) = (synth::ORIGIN.0 + 0.002, synth::ORIGIN.1 + 0.003);
    let bbox = format!("{},{},{},{}", x, y, x + 0.003, y + 0.002);
    assert_eq!(
        matched(&format!(
            "filter={}",
            enc(&format!("S_INTERSECTS(geometry, BBOX({bbox}))"))
        )),
        matched(&format!("bbox={bbox}"))
    );
    let near = s
        .engine
        .query(
            &Caller::anonymous(),
            "parcels",
            &Query::dwithin(geo::Point::new(x, y).into(), 120.0),
        )
        .unwrap()
        .matched as u64;
    assert!(near > 3);
    assert_eq!(
        matched(&format!(
            "filter={}",
            enc(&format!("S_DWITHIN(geometry, POINT({x} {y}), 120, meters)"))
        )),
        near
    );
    let dj = format!(
        r#"{{"op":"s_dwithin","args":[{{"property":"geometry"}},{{"type":"Point","coordinates":[{x},{y}]}},120,"meters"]}}"#
    );
    assert_eq!(
        matched(&format!("filter-lang=cql2-json&filter={}", enc(&dj))),
        near
    );
    // Spatial and attribute parts together, with equality parameters; the next link keeps them.
    let both = format!(
        "S_WITHIN(geometry, BBOX({})) AND floors > 3",
        "113.69,34.35,113.72,34.38"
    );
    let (_, doc) = json_get(
        s.addr,
        &format!(
            "/collections/parcels/items?limit=5&rights_type={}&filter={}",
            enc("国有建设用地使用权"),
            enc(&both)
        ),
    );
    let want = expect("rights_type = '国有建设用地使用权' AND floors > 3");
    assert_eq!(
        doc["numberMatched"].as_u64().unwrap(),
        want,
        "all parcels lie in the box"
    );
    let next = doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap();
    assert!(
        next["href"].as_str().unwrap().contains("filter=S_WITHIN"),
        "{next}"
    );
    // Conformance says so.
    let (_, conf) = json_get(s.addr, "/conformance");
    assert!(
        conf.to_string().contains("conf/cql2-json")
            && conf.to_string().contains("basic-spatial-functions")
    );
    // Errors: 400s that say where and what.
    for (q, code, words) in [
        ("filter=floors%20%3E%3D", "bad_filter", "at the end"),
        ("filter=floors%20%3D%3D%205", "bad_filter", "at character"),
        (
            "filter=nosuch%20%3D%201",
            "bad_request",
            "unknown field 'nosuch'",
        ),
        (
            "filter=owner%20LIKE%20%27%E5%BC%A0%25%27",
            "bad_request",
            "unknown field 'owner'",
        ),
        (
            "filter=S_INTERSECTS(geom%2C%20POINT(1%202))",
            "bad_filter",
            "geometry property",
        ),
        ("filter-lang=xml&filter=a", "bad_parameter", "filter-lang"),
        (
            "filter-crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F3857&filter=floors%3D1",
            "bad_parameter",
            "CRS84",
        ),
        (
            "filter-lang=cql2-json&filter=%7Bnot%20json",
            "bad_filter",
            "not JSON",
        ),
        (
            "filter-lang=cql2-json&filter=%7B%22op%22%3A%22~%22%2C%22args%22%3A%5B%5D%7D",
            "bad_filter",
            "filter/op",
        ),
    ] {
        let (status, e) = json_get(s.addr, &format!("/collections/parcels/items?{q}"));
        assert_eq!(status, 400, "{q}: {e}");
        assert_eq!(e["code"], code, "{q}: {e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{q}: {e}");
    }
}

#[test]
fn datetime_admin_area_stats_and_query_timeout() {
    use geo::{Geometry, polygon};
    use onemap_engine::model::{Feature, Field, FieldType, Schema, Value};
    let s = start_with(|engine| {
        city(engine);
        let day = |d: &str| Value::Date(chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        let sq = |x: f64| {
            Geometry::Polygon(
                polygon![(x: x, y: 34.0), (x: x + 0.001, y: 34.0), (x: x + 0.001, y: 34.001), (x: x, y: 34.0)],
            )
        };
        engine
            .write_layer(
                &onemap_engine::Caller::operator(),
                "import",
                NewLayer {
                    name: "permits".into(),
                    kind: LayerKind::Approval,
                    schema: Schema::new(vec![
                        Field::new("permit_no", FieldType::Text),
                        Field::new("approved_date", FieldType::Date),
                    ])
                    .unwrap(),
                    source_crs: "EPSG:4490".into(),
                    source: "t".into(),
                },
                [
                    ("A", "2023-03-15"),
                    ("B", "2024-01-20"),
                    ("C", "2024-05-11"),
                    ("D", "2025-02-01"),
                ]
                .into_iter()
                .enumerate()
                .map(|(i, (p, d))| {
                    Ok::<_, std::io::Error>(Feature::new(
                        sq(113.0 + i as f64 * 0.002),
                        vec![Value::Text(p.into()), day(d)],
                    ))
                }),
                |_| {},
            )
            .unwrap();
    });
    let ids = |q: &str| -> Vec<String> {
        let (status, doc) = json_get(s.addr, &format!("/collections/permits/items?{q}"));
        assert_eq!(status, 200, "{q}: {doc}");
        doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["permit_no"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("datetime=2024-01-20"), ["B"]);
    assert_eq!(ids("datetime=2024-01-01/2024-12-31"), ["B", "C"]);
    assert_eq!(ids("datetime=../2024-01-20T00:00:00Z"), ["A", "B"]);
    assert_eq!(ids("datetime=2024-05-11/.."), ["C", "D"]);
    // A date-time counts by its UTC date: 20:00 on the 19th at UTC-8 is the 20th.
    assert_eq!(ids("datetime=2024-01-19T20:00:00-08:00"), ["B"]);
    // A layer without dates has no temporal extent: datetime is ignored there.
    let (status, doc) = json_get(s.addr, "/collections/approvals/items?datetime=2024-01-01");
    assert_eq!((status, doc["numberMatched"].as_u64()), (200, Some(1)));
    for bad in [
        "datetime=yesterday",
        "datetime=2024-05-01/2024-01-01",
        "datetime=..",
        "datetime=2024-13-01",
        "datetime=2024-05-01Tjunk",
    ] {
        let (status, e) = json_get(s.addr, &format!("/collections/permits/items?{bad}"));
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains("datetime"),
            "{bad}: {e}"
        );
    }
    // Statistics for an area of another layer (here the basic farmland) equal the same polygon's.
    let by_area = post(
        s.addr,
        "/query/stats",
        r#"{"layer": "cadastral", "area": {"layer": "control_lines", "field": "line_type", "value": "永久基本农田"}}"#,
    );
    assert_eq!(
        by_area.status,
        200,
        "{}",
        String::from_utf8_lossy(&by_area.body)
    );
    let by_polygon = post(
        s.addr,
        "/query/stats",
        r#"{"layer": "cadastral", "geometry": {"type": "Polygon", "coordinates": [[[113.0, 34.0], [113.01, 34.0], [113.01, 34.01], [113.0, 34.01], [113.0, 34.0]]]}}"#,
    );
    let (a, b) = (by_area.json(), by_polygon.json());
    assert_eq!(a["total"], b["total"]);
    assert_eq!(a["total"]["count"], 1);
    assert_eq!(a["area"]["value"], "永久基本农田");
    for (body, words) in [
        (
            r#"{"layer": "cadastral", "area": {"layer": "control_lines", "field": "line_type", "value": "nothing"}}"#,
            "no feature",
        ),
        (
            r#"{"layer": "cadastral", "area": {"layer": "control_lines"}}"#,
            "needs",
        ),
        (r#"{"layer": "cadastral"}"#, "region"),
    ] {
        let r = post(s.addr, "/query/stats", body);
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.json()["message"].as_str().unwrap().contains(words),
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    drop(s);
    // A server whose queries may take no time at all answers every query with a JSON 503.
    let s = start_cfg(
        city,
        ServerConfig {
            query_timeout: std::time::Duration::ZERO,
            ..ServerConfig::default()
        },
    );
    let (status, e) = json_get(s.addr, "/collections/cadastral/items");
    assert_eq!(status, 503, "{e}");
    assert_eq!(e["code"], "timeout");
    assert_eq!(e["details"]["timeout_ms"], 0);
}

fn post_typed(
    addr: SocketAddr,
    path: &str,
    body: &str,
    content_type: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if headers
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-onemap-"))
    {
        req.push_str(&format!("x-onemap-gateway-secret: {GATEWAY_SECRET}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

#[test]
fn analysis_writes_and_records_are_guarded() {
    let s = start_with(city);
    let analyst = [("x-onemap-user", "zhou"), ("x-onemap-roles", "analysis")];
    // An analyst may not write the cadastre (the policy)...
    let r = post_as(
        s.addr,
        "/analysis/violations",
        r#"{"output_layer": "cadastral"}"#,
        &analyst,
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "forbidden");
    // ...and even an administrator's job may not replace data that is not an analysis result.
    let r = post_as(
        s.addr,
        "/analysis/violations",
        r#"{"output_layer": "cadastral"}"#,
        &[("x-onemap-user", "root"), ("x-onemap-roles", "admin")],
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "layer_exists");
    // Writes need a JSON body: a cross-site form or text/plain request is refused.
    let body = format!(r#"{{"geometry": {SITE}}}"#);
    assert_eq!(
        post_typed(s.addr, "/analysis/approval", &body, "text/plain", &[]),
        415
    );
    assert_eq!(
        post_typed(
            s.addr,
            "/analysis/violations",
            "{}",
            "application/x-www-form-urlencoded",
            &analyst
        ),
        415
    );
    assert_eq!(
        post_typed(
            s.addr,
            "/analysis/approval",
            &body,
            "application/json; charset=utf-8",
            &[]
        ),
        200
    );
    // A registrar's run holds owners: an auditor without `registration` cannot read it.
    let registrar = [("x-onemap-user", "li"), ("x-onemap-roles", "registration")];
    let run = post_as(s.addr, "/analysis/approval", &body, &registrar).json()["run_id"]
        .as_i64()
        .unwrap();
    let get_as =
        |who: &[(&str, &str)]| request(s.addr, "GET", &format!("/analysis/runs/{run}"), who).status;
    assert_eq!(get_as(&registrar), 200);
    assert_eq!(
        get_as(&[("x-onemap-user", "auditor"), ("x-onemap-roles", "audit")]),
        404
    );
    assert_eq!(
        get_as(&[
            ("x-onemap-user", "auditor"),
            ("x-onemap-roles", "audit,registration")
        ]),
        200
    );
    assert_eq!(
        get_as(&[("x-onemap-user", "li")]),
        404,
        "the same name without the role"
    );
    // The printable record carries its number.
    let page = request(
        s.addr,
        "GET",
        &format!("/analysis/runs/{run}.html"),
        &registrar,
    );
    assert!(
        String::from_utf8_lossy(&page.body).contains(&format!("<th>记录编号</th><td>{run}</td>"))
    );
    // A GeoJSON literal with an empty position is a 400, not a dropped connection.
    let bad = enc(
        r#"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"LineString","coordinates":[[113,34],[]]}]}"#,
    );
    let (status, e) = json_get(
        s.addr,
        &format!("/collections/cadastral/items?filter-lang=cql2-json&filter={bad}"),
    );
    assert_eq!(status, 400, "{e}");
}

#[test]
fn intersection_lengths_of_lines_inside_a_polygon() {
    use onemap_engine::model::{Field, FieldType, Schema};
    use onemap_engine::{Feature, Value};
    let s = start_with(|engine| {
        engine
            .write_layer(
                &onemap_engine::Caller::operator(),
                "import",
                NewLayer {
                    name: "lines".into(),
                    kind: LayerKind::Generic,
                    schema: Schema::new(vec![Field::new("name", FieldType::Text)]).unwrap(),
                    source_crs: "EPSG:4490".into(),
                    source: "t".into(),
                },
                [Ok::<_, std::io::Error>(Feature::new(
                    geo::Geometry::LineString(geo::LineString::from(vec![
                        (113.0, 34.0),
                        (113.02, 34.0),
                    ])),
                    vec![Value::Text("main".into())],
                ))],
                |_| {},
            )
            .unwrap();
    });
    // A box from 113.005 to 113.015: the part inside runs between those two points.
    let r = post(
        s.addr,
        "/query/intersects",
        &serde_json::json!({ "geometry": { "type": "Polygon", "coordinates": [[[113.005, 33.99], [113.015, 33.99], [113.015, 34.01], [113.005, 34.01], [113.005, 33.99]]] }, "layers": ["lines"] }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let f = &r.json()["layers"][0]["features"][0];
    let got = f["properties"]["_intersection_length_m"].as_f64().unwrap();
    // GeographicLib's inverse on GRS80 (CGCS2000) between the clip points.
    use geographiclib_rs::{Geodesic, InverseGeodesic};
    let grs80 = Geodesic::new(6_378_137.0, 1.0 / 298.257_222_101);
    let want: f64 = grs80.inverse(34.0, 113.005, 34.0, 113.015);
    assert!((got - want).abs() < 1e-6, "{got} m vs {want} m");
    assert_eq!(f["properties"]["_intersection_area_m2"], 0.0);
}
