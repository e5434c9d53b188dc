//! Every CGCS2000 3° Gauss–Krüger system onemap models (EPSG:4513–4554: zones 25–45 with the
//! zone number in the false easting, and central meridians 75°E–135°E) against PROJ's `cs2cs`
//! (Debian proj-bin, installed by `scripts/setup.sh test`), both ways, to a millimetre, at a
//! point near each system's central meridian. The check values in docs/ARCHITECTURE.md cover
//! only 4547 and 4526.
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use onemap_engine::crs::{Crs, Transform};

/// (northing, easting) from cs2cs for lat/lon points (EPSG axis order both sides).
fn cs2cs(code: u32, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut child = Command::new("cs2cs")
        .args(["-d", "6", "EPSG:4490", &format!("EPSG:{code}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for (lon, lat) in points {
        input.push_str(&format!("{lat} {lon}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (v[0], v[1])
        })
        .collect()
}

#[test]
fn every_gauss_kruger_zone_agrees_with_cs2cs() {
    let have = Command::new("cs2cs")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("usage"));
    if !support::require(
        "cs2cs (proj-bin)",
        have,
        "scripts/setup.sh test installs proj-bin",
    ) {
        return;
    }
    let mut checked = 0;
    for code in 4513u32..=4554 {
        let k = if code <= 4533 {
            code - 4513
        } else {
            code - 4534
        };
        let cm = 75.0 + 3.0 * f64::from(k);
        let points: Vec<(f64, f64)> = [(-1.2, 22.5), (0.0, 30.0), (0.7, 41.3), (1.4, 50.0)]
            .iter()
            .map(|(d, lat)| (cm + d, *lat))
            .collect();
        let theirs = cs2cs(code, &points);
        let crs = Crs::from_epsg(code).unwrap();
        let fwd = Transform::from_lonlat(&crs).unwrap();
        let inv = Transform::to_lonlat(&crs).unwrap();
        for ((lon, lat), (n, e)) in points.iter().zip(&theirs) {
            let (x, y) = fwd.apply(*lon, *lat).unwrap();
            assert!(
                (x - e).abs() < 1e-3 && (y - n).abs() < 1e-3,
                "EPSG:{code} ({lon}, {lat}): ours E {x} N {y}, cs2cs E {e} N {n}"
            );
            let (lo, la) = inv.apply(*e, *n).unwrap();
            // 1 mm is about 1e-8 degrees.
            assert!(
                (lo - lon).abs() < 1e-8 && (la - lat).abs() < 1e-8,
                "EPSG:{code} back: {lo} {la}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 42 * 4);
}
