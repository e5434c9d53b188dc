//! Trust, against the real binary on 127.0.0.1 over real HTTP: who may claim an identity
//! (gateway headers, API keys, accounts with lock-out and CSRF), what each caller sees on every
//! read path (personal fields by the policy, whatever their names; hidden layers answered like
//! missing ones), the access audit and its hash chain, and hostile input — deep nesting, zip
//! bombs, a recursive GeoPackage, a self-crossing star, half-sent request heads — each answered
//! with a clear 4xx/503 while the server keeps serving others.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{get, http, onemap, onemap_env, post_json, serve_with};
use serde_json::{Value, json};

const GATEWAY_SECRET: &str = "gateway-secret-for-tests-0123";

/// Parcels with personal fields under names a deny-list would miss, approvals with an applicant,
/// an open layer with a phone number, and a layer the policy hides from anonymous callers.
fn city(dir: &Path) -> PathBuf {
    let db = dir.join("city.duckdb");
    let cell = |i: usize, j: usize, size: f64| {
        let (x, y) = (113.70 + i as f64 * size, 34.38 + j as f64 * size);
        json!({ "type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]] })
    };
    let mut parcels = Vec::new();
    for i in 0..5 {
        for j in 0..4 {
            let n = i * 4 + j;
            parcels.push(json!({
                "type": "Feature",
                "geometry": cell(i, j, 0.002),
                "properties": {
                    "parcel_id": format!("410184{n:06}"),
                    "权利人姓名": format!("张{n}"),
                    "SFZH": format!("41018419800101{n:04}"),
                    "QLRZJHM": format!("ID{n:06}"),
                    "业主": format!("业主{n}"),
                    "owner ": format!("Owner {n}"),
                    "land_use_code": "0701",
                }
            }));
        }
    }
    let write = |name: &str, features: Vec<Value>| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            json!({ "type": "FeatureCollection", "features": features }).to_string(),
        )
        .unwrap();
        p
    };
    let p = write("parcels.geojson", parcels);
    let permits = write(
        "permits.geojson",
        vec![json!({
            "type": "Feature",
            "geometry": cell(1, 1, 0.003),
            "properties": { "permit_no": "新规许字〔2024〕009号", "approved_use": "0701", "applicant": "某置业有限公司" }
        })],
    );
    let plan = write(
        "plan.geojson",
        (0..4)
            .map(|i| {
                json!({
                    "type": "Feature",
                    "geometry": cell(i, 0, 0.004),
                    "properties": { "land_use_code": "0701", "zone_id": format!("Z{i}"), "联系电话": "13800000000" }
                })
            })
            .collect(),
    );
    let secret = write(
        "secret.geojson",
        vec![
            json!({ "type": "Feature", "geometry": cell(0, 0, 0.01), "properties": { "name": "保密设施" } }),
        ],
    );
    for (file, layer, kind) in [
        (&p, "parcels", "cadastral"),
        (&permits, "permits", "approval"),
        (&plan, "plan", "planning"),
        (&secret, "secret", "generic"),
    ] {
        onemap(
            &db,
            &[
                "import",
                file.to_str().unwrap(),
                "--layer",
                layer,
                "--kind",
                kind,
            ],
        )
        .ok();
    }
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        r#"
[defaults]
read = ["*"]
write = ["admin"]
create = ["admin", "analysis"]

[[layer]]
name = "secret"
read = ["dept:保密办"]

[[layer]]
kind = "cadastral"
[layer.fields]
registration = ["*"]

[[layer]]
kind = "approval"
[layer.fields]
approval = ["*"]
"#,
    )
    .unwrap();
    onemap(&db, &["acl", "load", policy.to_str().unwrap()]).ok();
    db
}

fn gateway_args() -> Vec<&'static str> {
    vec!["--gateway-trusted", "127.0.0.1"]
}

fn as_gateway<'a>(user: &'a str, roles: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("X-Onemap-User", user),
        ("X-Onemap-Roles", roles),
        ("X-Onemap-Gateway-Secret", GATEWAY_SECRET),
    ]
}

fn env_secret() -> Vec<(&'static str, &'static str)> {
    vec![("ONEMAP_GATEWAY_SECRET", GATEWAY_SECRET)]
}

const PERSONAL: [&str; 5] = ["权利人姓名", "SFZH", "QLRZJHM", "业主", "owner "];

fn property_names(feature: &Value) -> Vec<String> {
    feature["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn identity_headers_are_believed_only_from_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    // Without a configured gateway, identity headers are refused outright.
    let plain = serve_with(&db, &[], &[]);
    let r = get(
        &plain.base,
        "/collections/parcels/items",
        &[("X-Onemap-User", "li"), ("X-Onemap-Roles", "registration")],
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("gateway"), "{}", r.text());
    drop(plain);

    let s = serve_with(&db, &gateway_args(), &env_secret());
    let path = "/collections/parcels/items?limit=3";
    // Right address, no secret or a wrong one: refused.
    for headers in [
        vec![("X-Onemap-User", "li"), ("X-Onemap-Roles", "registration")],
        vec![
            ("X-Onemap-User", "li"),
            ("X-Onemap-Roles", "registration"),
            ("X-Onemap-Gateway-Secret", "guess"),
        ],
    ] {
        assert_eq!(get(&s.base, path, &headers).status, 401);
    }
    // A repeated header is refused (the client's first copy must not win); so is the wildcard.
    let mut twice = as_gateway("li", "planning");
    twice.push(("X-Onemap-Roles", "registration"));
    let r = get(&s.base, path, &twice);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("more than once"), "{}", r.text());
    assert_eq!(get(&s.base, path, &as_gateway("li", "*")).status, 400);
    // With the secret, the gateway's word holds; a UTF-8 name stays itself.
    let r = get(&s.base, path, &as_gateway("李明", "registration"));
    assert_eq!(r.status, 200, "{}", r.text());
    let f = &r.json()["features"][0];
    for p in PERSONAL {
        assert!(
            property_names(f).contains(&p.to_string()),
            "{p} missing: {f}"
        );
    }
    let me = get(&s.base, "/auth/me", &as_gateway("李明", "registration")).json();
    assert_eq!(me["user"], "李明");
    assert_eq!(me["via"], "gateway");
    drop(s);

    // The gateway's own address is the only one believed.
    let elsewhere = serve_with(&db, &["--gateway-trusted", "10.9.8.7"], &env_secret());
    assert_eq!(
        get(&elsewhere.base, path, &as_gateway("li", "registration")).status,
        401
    );
}

#[test]
fn api_keys_are_shown_once_and_revocations_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let created = onemap(
        &db,
        &[
            "keys",
            "create",
            "--name",
            "规划审批系统",
            "--roles",
            "registration",
        ],
    )
    .ok();
    let key = created.stdout.trim().to_string();
    assert!(key.starts_with("omk_"), "{key}");
    let listed = onemap(&db, &["keys", "list", "--format", "json"]).ok();
    assert!(
        !listed.stdout.contains(&key[13..]),
        "the secret is never listed"
    );
    let s = serve_with(&db, &[], &[]);
    let bearer = format!("Bearer {key}");
    let r = get(
        &s.base,
        "/collections/parcels/items?limit=1",
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(property_names(&r.json()["features"][0]).contains(&"SFZH".to_string()));
    // A made-up key of the right shape, and a malformed one.
    let forged = format!("Bearer {}{}", &key[..key.len() - 4], "0000");
    for h in [forged.as_str(), "Bearer omk_nothing", "Basic bGk6cHc="] {
        assert_eq!(
            get(&s.base, "/layers", &[("Authorization", h)]).status,
            401,
            "{h}"
        );
    }
    // Revoked in another shell: refused within a watcher tick or two.
    onemap(&db, &["keys", "revoke", "规划审批系统"]).ok();
    let t = Instant::now();
    loop {
        let r = get(&s.base, "/layers", &[("Authorization", &bearer)]);
        if r.status == 401 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the revoked key still works"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // An expired key.
    let expired = onemap(
        &db,
        &[
            "keys",
            "create",
            "--name",
            "旧系统",
            "--roles",
            "planning",
            "--expires-days",
            "0",
        ],
    )
    .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let bearer = format!("Bearer {}", expired.stdout.trim());
    assert_eq!(
        get(&s.base, "/layers", &[("Authorization", &bearer)]).status,
        401
    );
}

/// The demo's printed first password.
fn demo(dir: &Path) -> (PathBuf, String) {
    let db = dir.join("demo.duckdb");
    let r = onemap(&db, &["demo", "--no-serve"]).ok();
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("first login"))
        .unwrap_or_else(|| panic!("no first login in {}", r.stderr));
    let pw = line
        .split("password '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_string();
    (db, pw)
}

fn cookie_of(r: &common::Resp) -> String {
    let c = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {}", r.text()));
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(c.contains(part), "{c}");
    }
    c.split(';').next().unwrap().to_string()
}

#[test]
fn logins_lock_out_and_writes_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let (db, admin_pw) = demo(dir.path());
    onemap_env(
        &db,
        &[
            "users",
            "add",
            "王芳",
            "--roles",
            "planning",
            "--department",
            "规划局",
        ],
        &[("ONEMAP_PASSWORD", "planning-office-2024")],
    )
    .ok();
    // A short password is refused with the reason.
    onemap_env(
        &db,
        &["users", "add", "weak", "--roles", "planning"],
        &[("ONEMAP_PASSWORD", "short")],
    )
    .user_error("at least 10");
    let s = serve_with(&db, &[], &[]);
    let login = |user: &str, pw: &str| {
        post_json(
            &s.base,
            "/auth/login",
            &[],
            &json!({ "user": user, "password": pw }).to_string(),
        )
    };
    // Wrong password, unknown user: the same answer.
    let a = login("王芳", "wrong-password-1");
    let b = login("nobody", "wrong-password-1");
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(a.json()["message"], b.json()["message"]);
    for _ in 0..4 {
        assert_eq!(login("王芳", "wrong-password-1").status, 401);
    }
    // Five failures in a row: locked, even with the right password.
    assert_eq!(login("王芳", "planning-office-2024").status, 401);
    let listed = onemap(&db, &["users", "list", "--format", "json"])
        .ok()
        .json();
    let wang = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "王芳")
        .unwrap();
    assert!(wang["locked_until"].is_string(), "{wang}");
    // The attempt while locked was refused unread: it neither counted nor extended the lock.
    assert_eq!(wang["failed_logins"], 5);
    // The admin unlocks by setting a password; then the login works.
    onemap_env(
        &db,
        &["users", "passwd", "王芳"],
        &[("ONEMAP_PASSWORD", "planning-office-2025")],
    )
    .ok();
    let ok = login("王芳", "planning-office-2025");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = cookie_of(&ok);
    let csrf = ok.json()["csrf"].as_str().unwrap().to_string();
    let me = get(&s.base, "/auth/me", &[("Cookie", &cookie)]).json();
    assert_eq!(
        (me["user"].as_str(), me["via"].as_str()),
        (Some("王芳"), Some("session"))
    );
    assert_eq!(me["csrf"], csrf.as_str());
    // A write with the cookie but without the token is refused; with it, it runs.
    let site = json!({ "geometry": { "type": "Polygon", "coordinates": [[[113.735, 34.395], [113.737, 34.395], [113.737, 34.397], [113.735, 34.397], [113.735, 34.395]]] } }).to_string();
    let r = post_json(&s.base, "/analysis/approval", &[("Cookie", &cookie)], &site);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["code"], "csrf");
    let r = post_json(
        &s.base,
        "/analysis/approval",
        &[("Cookie", &cookie), ("X-CSRF-Token", "forged")],
        &site,
    );
    assert_eq!(r.status, 403);
    let r = post_json(
        &s.base,
        "/analysis/approval",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        &site,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Logout ends the session: the cookie is worth nothing after it.
    let out = http(
        &s.base,
        "POST",
        "/auth/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        None,
    );
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let me = get(&s.base, "/auth/me", &[("Cookie", &cookie)]).json();
    assert_eq!(me["authenticated"], false);
    // The demo's admin logs in with the printed password; disabling ends its sessions.
    let ok = login("admin", &admin_pw);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = cookie_of(&ok);
    assert_eq!(
        get(&s.base, "/auth/me", &[("Cookie", &cookie)]).json()["user"],
        "admin"
    );
    onemap(&db, &["users", "disable", "admin"]).ok();
    let t = Instant::now();
    while get(&s.base, "/auth/me", &[("Cookie", &cookie)]).json()["authenticated"] == true {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the disabled user's session lives on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(login("admin", &admin_pw).status, 401);
    // Every failed login is in the audit.
    let failed = onemap(
        &db,
        &[
            "audit",
            "--action",
            "login_failed",
            "--limit",
            "100",
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    assert!(failed.as_array().unwrap().len() >= 7, "{failed}");
}

/// The MVT bytes of a tile hold the keys of every property written into it.
fn tile_has(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let r = lat.to_radians();
    (
        ((lon + 180.0) / 360.0 * n) as u32,
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32,
    )
}

#[test]
fn personal_fields_follow_the_policy_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let s = serve_with(&db, &gateway_args(), &env_secret());
    let anon: Vec<(&str, &str)> = vec![];
    let registrar = as_gateway("li", "registration");
    let planner = as_gateway("wang", "planning");
    let (x, y) = tile_of(113.701, 34.381, 16);
    let tile = format!("/tiles/parcels/16/{x}/{y}.mvt");
    for (who, headers, sees) in [
        ("anonymous", &anon, false),
        ("planner", &planner, false),
        ("registrar", &registrar, true),
    ] {
        let check = |what: &str, names: &[String]| {
            for p in PERSONAL {
                assert_eq!(
                    names.contains(&p.to_string()),
                    sees,
                    "{who}: {what}: field {p:?} in {names:?}"
                );
            }
            assert!(
                names.contains(&"parcel_id".to_string()),
                "{who}: {what}: {names:?}"
            );
        };
        // OGC API items, one item, queryables.
        let items = get(&s.base, "/collections/parcels/items?limit=2", headers).json();
        check("items", &property_names(&items["features"][0]));
        let item = get(&s.base, "/collections/parcels/items/1", headers).json();
        check("item", &property_names(&item));
        let q = get(&s.base, "/collections/parcels/queryables", headers).json();
        check(
            "queryables",
            &q["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
        );
        // The catalog and TileJSON name only visible fields.
        let layers = get(&s.base, "/layers", headers).json();
        let parcels = layers["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "parcels")
            .unwrap();
        let schema: Vec<String> = parcels["schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        check("/layers", &schema);
        let tj = get(&s.base, "/tiles/parcels.json", headers).json();
        check(
            "TileJSON",
            &tj["vector_layers"][0]["fields"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
        );
        // Tiles at the detail zoom: personal keys only for the registrar.
        let t = get(&s.base, &tile, headers);
        assert_eq!(t.status, 200, "{who}: tile");
        for p in ["SFZH", "QLRZJHM", "权利人姓名"] {
            assert_eq!(tile_has(&t.body, p), sees, "{who}: tile key {p}");
        }
        // Identify, nearest, intersects.
        let idf = get(
            &s.base,
            "/query/identify?lon=113.7005&lat=34.3805&layers=parcels",
            headers,
        )
        .json();
        check(
            "identify",
            &property_names(&idf["layers"][0]["features"][0]),
        );
        let near = get(
            &s.base,
            "/query/nearest?lon=113.7005&lat=34.3805&layer=parcels",
            headers,
        )
        .json();
        check("nearest", &property_names(&near["features"][0]));
        let inter = post_json(
            &s.base,
            "/query/intersects",
            headers,
            &json!({ "geometry": { "type": "Point", "coordinates": [113.7005, 34.3805] }, "layers": ["parcels"] }).to_string(),
        )
        .json();
        check(
            "intersects",
            &property_names(&inter["layers"][0]["features"][0]),
        );
        // Filters and statistics on a personal field: refused like an unknown field.
        let f = get(
            &s.base,
            "/collections/parcels/items?filter=SFZH%20LIKE%20%27410%25%27",
            headers,
        );
        assert_eq!(f.status == 200, sees, "{who}: filter on SFZH: {}", f.text());
        let st = post_json(
            &s.base,
            "/query/stats",
            headers,
            &json!({ "geometry": { "type": "Polygon", "coordinates": [[[113.699, 34.379], [113.712, 34.379], [113.712, 34.389], [113.699, 34.389], [113.699, 34.379]]] }, "layer": "parcels", "group_by": "业主" }).to_string(),
        );
        assert_eq!(
            st.status == 200,
            sees,
            "{who}: stats by 业主: {}",
            st.text()
        );
        // The approval report's parcels taken.
        let rep = post_json(
            &s.base,
            "/analysis/approval",
            headers,
            &json!({ "geometry": { "type": "Polygon", "coordinates": [[[113.7001, 34.3801], [113.7039, 34.3801], [113.7039, 34.3839], [113.7001, 34.3839], [113.7001, 34.3801]]] } }).to_string(),
        );
        assert_eq!(rep.status, 200, "{who}: {}", rep.text());
        let taken = &rep.json()["parcels"];
        assert!(taken.as_array().is_some_and(|a| !a.is_empty()), "{taken}");
        let attrs: Vec<String> = taken[0]["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        check("approval parcels", &attrs);
    }
    // An approval's applicant is not public; the open layer's phone number is not either.
    let permit = get(&s.base, "/collections/permits/items", &[]).json();
    assert!(!property_names(&permit["features"][0]).contains(&"applicant".to_string()));
    assert!(property_names(&permit["features"][0]).contains(&"permit_no".to_string()));
    let plan = get(&s.base, "/collections/plan/items?limit=1", &[]).json();
    assert!(!property_names(&plan["features"][0]).contains(&"联系电话".to_string()));
    let approver = get(
        &s.base,
        "/collections/permits/items",
        &as_gateway("zhao", "approval"),
    )
    .json();
    assert!(property_names(&approver["features"][0]).contains(&"applicant".to_string()));
    // The registrar's reads are in the access audit with route, layer and count; anonymous
    // reads of public fields are not. The auditor reads it over HTTP (the server writes queued
    // records every 200 ms); others may not.
    let auditor = as_gateway("sun", "audit");
    assert_eq!(
        get(&s.base, "/admin/audit", &registrar).status,
        403,
        "the audit is for the audit role"
    );
    let t = Instant::now();
    let records = loop {
        let r = get(
            &s.base,
            "/admin/audit?action=read_personal&limit=1000",
            &auditor,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let doc = r.json();
        if doc["records"].as_array().is_some_and(|a| a.len() >= 10) {
            break doc["records"].clone();
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no audit records: {doc}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let recs = records.as_array().unwrap();
    assert!(recs.iter().all(|r| r["actor"] != "anonymous"), "{records}");
    let routes: Vec<&str> = recs
        .iter()
        .filter(|r| r["actor"] == "gateway:li")
        .filter_map(|r| r["route"].as_str())
        .collect();
    for route in [
        "GET /collections/{id}/items",
        "GET /collections/{id}/items/{fid}",
        "GET /tiles/{layers}/{z}/{x}/{y}",
        "GET /query/identify",
        "GET /query/nearest",
        "POST /query/intersects",
        "POST /query/stats",
        "POST /analysis/approval",
    ] {
        assert!(routes.contains(&route), "{route} not audited: {routes:?}");
    }
    let items = recs
        .iter()
        .find(|r| r["route"] == "GET /collections/{id}/items" && r["actor"] == "gateway:li")
        .unwrap();
    assert_eq!(items["layer"], "parcels");
    assert_eq!(items["count"], 2);
    assert!(
        items["detail"]["query"]
            .as_str()
            .unwrap()
            .contains("limit=2")
    );
    // Exports are private to their owner.
    let out = dir.path().join("city.pmtiles");
    onemap(
        &db,
        &[
            "tiles",
            "export",
            out.to_str().unwrap(),
            "--layers",
            "parcels",
            "--minzoom",
            "14",
            "--maxzoom",
            "16",
        ],
    )
    .ok();
    assert!(std::fs::metadata(&out).unwrap().len() > 100);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o077,
        0,
        "exports are written owner-only"
    );
}

#[test]
fn hidden_layers_are_answered_like_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let s = serve_with(&db, &gateway_args(), &env_secret());
    // "secret" is hidden from anonymous callers; "nosuch" does not exist (same length).
    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("GET", "/collections/{L}".into(), None),
        ("GET", "/collections/{L}/items".into(), None),
        ("GET", "/collections/{L}/items/1".into(), None),
        ("GET", "/collections/{L}/queryables".into(), None),
        ("GET", "/tiles/{L}.json".into(), None),
        ("GET", "/tiles/{L}/14/13470/6505.mvt".into(), None),
        ("GET", "/styles/{L}.json".into(), None),
        ("GET", "/query/nearest?lon=113.7&lat=34.38&layer={L}".into(), None),
        ("GET", "/query/identify?lon=113.7&lat=34.38&layers={L}".into(), None),
        (
            "POST",
            "/query/intersects".into(),
            Some(r#"{"geometry":{"type":"Point","coordinates":[113.7,34.38]},"layers":["{L}"]}"#.into()),
        ),
        (
            "POST",
            "/query/stats".into(),
            Some(r#"{"geometry":{"type":"Polygon","coordinates":[[[113.69,34.37],[113.72,34.37],[113.72,34.4],[113.69,34.37]]]},"layer":"{L}"}"#.into()),
        ),
        (
            "POST",
            "/analysis/approval".into(),
            Some(r#"{"feature":{"layer":"{L}","id":1}}"#.into()),
        ),
    ];
    for (method, path, body) in &cases {
        let ask = |name: &str| {
            let p = path.replace("{L}", name);
            let b = body.as_ref().map(|b| b.replace("{L}", name));
            let mut h = vec![];
            if b.is_some() {
                h.push(("Content-Type", "application/json"));
            }
            let r = http(&s.base, method, &p, &h, b.as_deref().map(str::as_bytes));
            (r.status, r.text().replace(name, "L"))
        };
        let hidden = ask("secret");
        let missing = ask("nosuch");
        assert_eq!(hidden, missing, "{method} {path}");
        assert!(hidden.0 == 404, "{method} {path}: {hidden:?}");
    }
    // Writing under its name is refused exactly as writing under a missing name is (a caller
    // who may not create layers; one who may learns only that the name is taken).
    let write = |name: &str, who: &[(&str, &str)]| {
        let mut h = who.to_vec();
        h.push(("Content-Type", "application/json"));
        let body = json!({ "output_layer": name }).to_string();
        let r = http(
            &s.base,
            "POST",
            "/analysis/landuse",
            &h,
            Some(body.as_bytes()),
        );
        (r.status, r.text().replace(name, "L"))
    };
    let (hidden, missing) = (write("secret", &[]), write("nosuch", &[]));
    assert_eq!(hidden, missing);
    assert_eq!(hidden.0, 403, "{hidden:?}");
    let analyst = as_gateway("wu", "analysis");
    let taken = write("secret", &analyst);
    assert_eq!(taken.0, 403, "{taken:?}");
    assert!(taken.1.contains("the name is taken"), "{taken:?}");
    assert!(!taken.1.contains("cannot see"), "{taken:?}");
    // Not listed either, and the department that may read it does.
    let layers = get(&s.base, "/layers", &[]).text();
    assert!(!layers.contains("secret"));
    let mut dept = as_gateway("qian", "");
    dept.push(("X-Onemap-Department", "保密办"));
    assert_eq!(get(&s.base, "/collections/secret/items", &dept).status, 200);
}

#[test]
fn the_audit_chain_detects_an_edited_or_removed_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    // Imports, a policy change and key changes made records.
    onemap(
        &db,
        &["keys", "create", "--name", "测试", "--roles", "planning"],
    )
    .ok();
    let ok = onemap(&db, &["audit", "--verify"]).ok();
    assert!(ok.stdout.contains("audit chain intact"), "{}", ok.stdout);
    let all = onemap(&db, &["audit", "--limit", "1000", "--format", "json"])
        .ok()
        .json();
    let n = all.as_array().unwrap().len();
    assert!(n >= 6, "imports, policy and key: {all}");
    for a in ["import", "policy", "key"] {
        assert!(
            all.as_array().unwrap().iter().any(|r| r["action"] == a),
            "{a}"
        );
    }
    // Export to CSV and XLSX.
    let csv = dir.path().join("audit.csv");
    onemap(
        &db,
        &[
            "audit",
            "--export",
            csv.to_str().unwrap(),
            "--limit",
            "1000",
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("prev_hash") && text.lines().count() > n);
    // Edit one record's actor with DuckDB directly: the chain breaks at that record.
    {
        let conn = duckdb::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE onemap_audit SET actor = 'someone else' WHERE seq = 2",
            [],
        )
        .unwrap();
    }
    let bad = onemap(&db, &["audit", "--verify"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("record 2: its contents do not match"),
        "{}",
        bad.stderr
    );
    // Put it back and delete another: the gap is named.
    {
        let conn = duckdb::Connection::open(&db).unwrap();
        let actor: String = conn
            .query_row("SELECT actor FROM onemap_audit WHERE seq = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        conn.execute("UPDATE onemap_audit SET actor = ? WHERE seq = 2", [actor])
            .unwrap();
        conn.execute("DELETE FROM onemap_audit WHERE seq = 3", [])
            .unwrap();
    }
    let bad = onemap(&db, &["audit", "--verify"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("record 4"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("missing") || bad.stderr.contains("does not follow"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_network_address_needs_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let r = common::command()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "0.0.0.0:0", "--auth", "off"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    // Told to, it serves and says so in its log.
    let s = serve_with(&db, &["--auth", "off", "--allow-anonymous-network"], &[]);
    assert_eq!(get(&s.base, "/health", &[]).status, 200);
}

#[test]
fn html_pages_carry_a_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let s = serve_with(&db, &[], &[]);
    let r = get(&s.base, "/collections?f=html", &[]);
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let j = get(&s.base, "/layers", &[]);
    assert_eq!(j.header("x-content-type-options"), Some("nosniff"));
}

/// A field the policy closes is not named anywhere: not as the TileJSON's style or low-zoom
/// field, not as the default grouping of `/query/stats`.
#[test]
fn a_closed_style_field_is_not_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let policy = dir.path().join("closed.toml");
    std::fs::write(
        &policy,
        r#"
[defaults]
read = ["*"]

[[layer]]
name = "plan"
public = ["zone_id"]
[layer.fields]
planning = ["*"]
"#,
    )
    .unwrap();
    onemap(&db, &["acl", "load", policy.to_str().unwrap()]).ok();
    let s = serve_with(&db, &gateway_args(), &env_secret());
    let tj = get(&s.base, "/tiles/plan.json", &[]).json();
    let layer = &tj["vector_layers"][0];
    assert!(layer["fields"].get("zone_id").is_some(), "{layer}");
    assert!(layer["fields"].get("land_use_code").is_none(), "{layer}");
    assert_eq!(layer["onemap"]["style_field"], Value::Null, "{layer}");
    assert!(!tj.to_string().contains("land_use_code"), "{tj}");
    let body = json!({ "geometry": { "type": "Polygon", "coordinates": [[[113.69, 34.37], [113.72, 34.37], [113.72, 34.4], [113.69, 34.37]]] }, "layer": "plan" });
    let r = post_json(&s.base, "/query/stats", &[], &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("land_use_code"), "{}", r.text());
    assert!(
        !r.text().contains("0701"),
        "grouped by the closed field: {}",
        r.text()
    );
    // Whoever may see it gets it back.
    let planner = as_gateway("wu", "planning");
    let open = get(&s.base, "/tiles/plan.json", &planner).json();
    assert_eq!(
        open["vector_layers"][0]["onemap"]["style_field"],
        "land_use_code"
    );
    let r = post_json(&s.base, "/query/stats", &planner, &body.to_string());
    assert_eq!(r.json()["group_by"], "land_use_code", "{}", r.text());
}

/// Behind a trusted reverse proxy the client's address comes from X-Forwarded-For (read from
/// the right): per-address limits go by client, not by proxy. From anyone else the header is
/// ignored.
#[test]
fn per_address_limits_see_through_a_trusted_proxy_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = city(dir.path());
    let login_from = |base: &str, forwarded: &str| {
        post_json(
            base,
            "/auth/login",
            &[("X-Forwarded-For", forwarded)],
            &json!({ "user": "nobody", "password": "wrong-password-1" }).to_string(),
        )
        .status
    };
    // Ten logins a minute per address (the default).
    let behind = serve_with(&db, &["--trusted-proxies", "127.0.0.1"], &[]);
    for _ in 0..10 {
        assert_eq!(login_from(&behind.base, "203.0.113.9, 10.0.0.1"), 401);
    }
    assert_eq!(login_from(&behind.base, "10.0.0.1"), 429, "the same client");
    // A client that writes its own X-Forwarded-For does not escape: the proxy appends the
    // address it saw, and that is what counts.
    assert_eq!(login_from(&behind.base, "10.0.0.77, 10.0.0.1"), 429);
    assert_eq!(login_from(&behind.base, "10.0.0.2"), 401, "another client");
    // Without the setting the header means nothing: every request is 127.0.0.1's.
    let direct = serve_with(&db, &[], &[]);
    for _ in 0..10 {
        assert_eq!(login_from(&direct.base, "10.0.0.1"), 401);
    }
    assert_eq!(login_from(&direct.base, "10.0.0.2"), 429);
}
