//! GCJ-02 and BD-09 against an independent implementation: PyPI's `prcoords` (installed by
//! `scripts/setup.sh test` into ~/.cache/onemap/python), on a grid over China. The forward
//! offsets follow the same published formula, so they must agree to 1e-9°; the inverses are
//! each side's own iteration (prcoords' "bored" exact inverses), which must agree to 1e-7°
//! (1 cm). The CRS module's own tests check only sizes and round trips.
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use onemap_engine::crs::offset;

fn python_deps() -> std::path::PathBuf {
    std::env::var_os("ONEMAP_PYTHON_DEPS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/onemap/python")
        })
}

const SCRIPT: &str = r#"
import json, sys, warnings
warnings.simplefilter("ignore")
import prcoords as p
out = []
for lon, lat in json.load(sys.stdin):
    c = p.Coords(lat, lon)
    r = [p.wgs_gcj(c), p.gcj_wgs_bored(c), p.gcj_bd(c), p.bd_gcj_bored(c)]
    out.append([[x.lon, x.lat] for x in r])
json.dump(out, sys.stdout)
"#;

#[test]
fn gcj02_and_bd09_agree_with_prcoords_on_a_grid_over_china() {
    let deps = python_deps();
    let have = Command::new("python3")
        .args(["-c", "import prcoords"])
        .env("PYTHONPATH", &deps)
        .output()
        .is_ok_and(|o| o.status.success());
    if !support::require(
        "PyPI prcoords",
        have,
        "scripts/setup.sh test installs it into ~/.cache/onemap/python",
    ) {
        return;
    }
    let mut points = Vec::new();
    let mut lon = 75.0;
    while lon <= 134.0 {
        let mut lat = 19.0;
        while lat <= 53.0 {
            points.push((lon, lat));
            lat += 1.7;
        }
        lon += 2.3;
    }
    points.push((113.74, 34.40));
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("PYTHONPATH", &deps)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: Vec<[f64; 2]> = points.iter().map(|&(a, b)| [a, b]).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Vec<[f64; 2]>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), points.len());
    let (mut worst_forward, mut worst_inverse) = (0.0f64, 0.0f64);
    for (&(lon, lat), t) in points.iter().zip(&theirs) {
        let ours = [
            offset::wgs84_to_gcj02(lon, lat),
            offset::gcj02_to_wgs84(lon, lat),
            offset::gcj02_to_bd09(lon, lat),
            offset::bd09_to_gcj02(lon, lat),
        ];
        for (k, (o, t)) in ours.iter().zip(t).enumerate() {
            let d = (o.0 - t[0]).abs().max((o.1 - t[1]).abs());
            let (tolerance, what) = match k {
                0 | 2 => (1e-9, "forward"),
                _ => (1e-7, "inverse"),
            };
            assert!(
                d <= tolerance,
                "{what} #{k} at ({lon}, {lat}): ours {o:?}, prcoords {t:?} ({d:e}°)"
            );
            if k % 2 == 0 {
                worst_forward = worst_forward.max(d);
            } else {
                worst_inverse = worst_inverse.max(d);
            }
        }
        // And the offsets are real: hundreds of metres.
        let g = offset::wgs84_to_gcj02(lon, lat);
        assert!((g.0 - lon).abs() + (g.1 - lat).abs() > 1e-4);
    }
    eprintln!(
        "{} points: forward within {worst_forward:e}°, inverses within {worst_inverse:e}°",
        points.len()
    );
}
