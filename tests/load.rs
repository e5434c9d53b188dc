//! A bounded load test on loopback: one principal hammering the server far past its rate limit
//! (with tiles nobody has asked for, so that what it is allowed to do costs real rendering) does
//! not move another principal's tile latency: p99 with the abuser stays within 2× of p99
//! without it, on the demo store. The figures are printed for the closing note.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{get, onemap, serve_with};

fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let r = lat.to_radians();
    (
        ((lon + 180.0) / 360.0 * n) as u32,
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32,
    )
}

fn p99(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len()) - 1]
}

#[test]
fn one_abusive_principal_does_not_move_another_principals_tile_p99() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    onemap(&db, &["demo", "--no-serve"]).ok();
    let key = |name: &str| {
        format!(
            "Bearer {}",
            onemap(
                &db,
                &["keys", "create", "--name", name, "--roles", "planning"]
            )
            .ok()
            .stdout
            .trim()
        )
    };
    let (abuser, planner) = (key("abuser"), key("planner"));
    let s = serve_with(&db, &["--rate-per-second", "20", "--burst", "40"], &[]);
    let layers = get(&s.base, "/layers", &[]).json();
    let names: Vec<String> = layers["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    let all = names.join(",");
    let b = &layers["layers"][0]["bounds"];
    let (w, s_, e, n) = (
        b[0].as_f64().unwrap(),
        b[1].as_f64().unwrap(),
        b[2].as_f64().unwrap(),
        b[3].as_f64().unwrap(),
    );
    // The planner's view: 40 tiles at z17, asked for once beforehand (a planner pans over tiles
    // the cache holds).
    let (x0, y0) = tile_of(w, n, 17);
    let (x1, y1) = tile_of(e, s_, 17);
    let mut mine = Vec::new();
    for x in x0..=x1 {
        for y in y0..=y1 {
            mine.push(format!("/tiles/{all}/17/{x}/{y}.mvt"));
        }
    }
    mine.truncate(40);
    assert!(mine.len() >= 10, "{} tiles", mine.len());
    for t in &mine {
        let r = get(&s.base, t, &[("Authorization", &planner)]);
        assert!(matches!(r.status, 200 | 204), "{t}: {}", r.status);
    }
    // The planner at 10 tiles a second (under its limit), 200 tiles.
    let measure = |label: &str| {
        let mut ms = Vec::new();
        let started = Instant::now();
        for i in 0..200 {
            let due = started + Duration::from_millis(100 * i as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let t = Instant::now();
            let r = get(
                &s.base,
                &mine[i % mine.len()],
                &[("Authorization", &planner)],
            );
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(
                matches!(r.status, 200 | 204),
                "{label}: the planner got {}",
                r.status
            );
        }
        ms
    };
    let quiet = measure("alone");
    // The abuser: two connections' worth of requests as fast as they go, for tiles at z18 that
    // nobody has asked for.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ax0, ay0) = tile_of(w, n, 18);
    let (ax1, ay1) = tile_of(e, s_, 18);
    let abusers: Vec<_> = (0..2)
        .map(|k| {
            let (stop, sent, refused) = (stop.clone(), sent.clone(), refused.clone());
            let (base, auth, all) = (s.base.clone(), abuser.clone(), all.clone());
            std::thread::spawn(move || {
                let mut i = k as u32;
                while !stop.load(Ordering::Relaxed) {
                    let x = ax0 + i % (ax1 - ax0 + 1);
                    let y = ay0 + (i / (ax1 - ax0 + 1)) % (ay1 - ay0 + 1);
                    let r = get(
                        &base,
                        &format!("/tiles/{all}/18/{x}/{y}.mvt"),
                        &[("Authorization", &auth)],
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.status == 429 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 2;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let loud = measure("with the abuser");
    stop.store(true, Ordering::Relaxed);
    for a in abusers {
        a.join().unwrap();
    }
    let (q, l) = (p99(quiet), p99(loud));
    let (sent, refused) = (
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "planner tile p99: {q:.2} ms alone, {l:.2} ms beside the abuser ({:.2}×); the abuser sent {sent} requests in ~20 s, {refused} refused with 429",
        l / q
    );
    assert!(
        refused > sent / 2,
        "the abuser was not limited: {refused} of {sent}"
    );
    assert!(
        l <= 2.0 * q,
        "p99 {l:.2} ms beside the abuser vs {q:.2} ms alone"
    );
}
