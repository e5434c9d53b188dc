//! GCJ-02 (the "Mars" offset used by Amap/Tencent maps) and BD-09 (Baidu's second offset on top).
//!
//! Neither is an EPSG system: GCJ-02 is WGS84 plus a published, obfuscating offset of a few hundred
//! metres, defined only inside China (outside it the offset is zero). The forward direction is a
//! closed formula on the Krasovsky ellipsoid; the inverse is found by fixed-point iteration, which
//! converges to far below a millimetre in a handful of steps.
use std::f64::consts::PI;

const A: f64 = 6_378_245.0;
// Krasovsky e² as the published algorithm writes it (0.00669342162296594323), to f64 precision.
const EE: f64 = 0.006_693_421_622_965_943;
const X_PI: f64 = PI * 3000.0 / 180.0;

/// True outside the rectangle where GCJ-02 applies an offset.
pub fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn shift_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn shift_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 → GCJ-02.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let dlat = shift_lat(lon - 105.0, lat - 35.0);
    let dlon = shift_lon(lon - 105.0, lat - 35.0);
    let rad = lat.to_radians();
    let magic = 1.0 - EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = dlat * 180.0 / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let dlon = dlon * 180.0 / (A / sqrt_magic * rad.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// Invert a forward offset by fixed-point iteration: find `w` with `forward(w) = target`.
fn invert(target: (f64, f64), forward: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let mut w = target;
    for _ in 0..30 {
        let f = forward(w.0, w.1);
        let (ex, ey) = (f.0 - target.0, f.1 - target.1);
        w = (w.0 - ex, w.1 - ey);
        // 1e-10 degrees is about 0.01 mm.
        if ex.abs() < 1e-10 && ey.abs() < 1e-10 {
            break;
        }
    }
    w
}

/// GCJ-02 → WGS84 (iterative inverse).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    invert((lon, lat), wgs84_to_gcj02)
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.000_02 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000_003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02 (iterative inverse of [`gcj02_to_bd09`]).
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    invert((lon, lat), gcj02_to_bd09)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geographiclib_rs::{Geodesic, InverseGeodesic};

    fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
        Geodesic::wgs84().inverse(a.1, a.0, b.1, b.0)
    }

    #[test]
    fn offsets_are_hundreds_of_metres_in_china_and_zero_outside() {
        let xinzheng = (113.74, 34.40);
        let g = wgs84_to_gcj02(xinzheng.0, xinzheng.1);
        let d = metres(xinzheng, g);
        assert!(
            (100.0..1000.0).contains(&d),
            "GCJ-02 offset at Xinzheng: {d} m"
        );
        let b = gcj02_to_bd09(g.0, g.1);
        let d2 = metres(g, b);
        assert!((500.0..1500.0).contains(&d2), "BD-09 offset: {d2} m");
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn inverses_round_trip_far_below_half_a_metre() {
        for (lon, lat) in [
            (113.74, 34.40),
            (116.3913, 39.9062),
            (121.47, 31.23),
            (87.6, 43.8),
            (110.0, 18.3),
        ] {
            let g = wgs84_to_gcj02(lon, lat);
            assert!(metres((lon, lat), gcj02_to_wgs84(g.0, g.1)) < 1e-3);
            let b = gcj02_to_bd09(g.0, g.1);
            assert!(metres(g, bd09_to_gcj02(b.0, b.1)) < 1e-3);
        }
    }
}
