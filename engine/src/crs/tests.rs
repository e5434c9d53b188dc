//! Check values from ../shared/domain/crs.md and BUILD.md (PROJ 9 / cs2cs / PostGIS), to 1 mm.
use super::*;
use approx::assert_abs_diff_eq;

#[test]
fn lonlat_to_gk_4547() {
    let t = Transform::from_lonlat(&Crs::from_epsg(4547).unwrap()).unwrap();
    let (e, n) = t.apply(113.74, 34.40).unwrap();
    assert_abs_diff_eq!(e, 476_093.098_982, epsilon = 1e-3);
    assert_abs_diff_eq!(n, 3_808_062.489_848, epsilon = 1e-3);
}

#[test]
fn gk_4547_to_lonlat() {
    let t = Transform::to_lonlat(&Crs::parse("EPSG:4547").unwrap()).unwrap();
    let (lon, lat) = t.apply(500_000.0, 3_806_000.0).unwrap();
    assert_abs_diff_eq!(lon, 114.0, epsilon = 1e-9);
    assert_abs_diff_eq!(lat, 34.381_683_458_1, epsilon = 1e-9);
    let (lon, lat) = t.apply(468_000.0, 3_847_000.0).unwrap();
    // 1e-8 degrees is about 1 mm.
    assert_abs_diff_eq!(lon, 113.650_518_790_9, epsilon = 1e-8);
    assert_abs_diff_eq!(lat, 34.750_775_590_6, epsilon = 1e-8);
}

#[test]
fn lonlat_to_web_mercator() {
    let t = Transform::from_lonlat(&Crs::WebMercator).unwrap();
    let (x, y) = t.apply(113.74, 34.40).unwrap();
    assert_abs_diff_eq!(x, 12_661_478.882_827, epsilon = 1e-3);
    assert_abs_diff_eq!(y, 4_082_639.550_141, epsilon = 1e-3);
}

#[test]
fn zone_prefix_variant_matches_plain_zone() {
    let plain = Transform::from_lonlat(&Crs::from_epsg(4547).unwrap()).unwrap();
    let prefixed = Transform::from_lonlat(&Crs::from_epsg(4526).unwrap()).unwrap();
    let (e1, n1) = plain.apply(113.74, 34.40).unwrap();
    let (e2, n2) = prefixed.apply(113.74, 34.40).unwrap();
    assert_abs_diff_eq!(e2 - e1, 38_000_000.0, epsilon = 1e-6);
    assert_abs_diff_eq!(n2, n1, epsilon = 1e-6);
}

#[test]
fn parse_forms() {
    for s in [
        "EPSG:4547",
        "epsg:4547",
        "4547",
        "urn:ogc:def:crs:EPSG::4547",
        "http://www.opengis.net/def/crs/EPSG/0/4547",
    ] {
        assert_eq!(Crs::parse(s).unwrap().epsg(), Some(4547), "{s}");
    }
    assert_eq!(
        Crs::parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84").unwrap(),
        Crs::WGS84
    );
    // What GDAL and QGIS write into GeoJSON exports.
    assert_eq!(
        Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84").unwrap(),
        Crs::WGS84
    );
    assert_eq!(
        Crs::parse("urn:ogc:def:crs:EPSG:6.6:4547").unwrap().epsg(),
        Some(4547)
    );
    assert!(matches!(
        Crs::parse("EPSG:99999"),
        Err(Error::UnsupportedCrs(_))
    ));
    assert!(matches!(Crs::parse("wgs"), Err(Error::UnsupportedCrs(_))));
}

#[test]
fn gk_zone_for_longitude() {
    assert_eq!(Crs::gauss_kruger_for(113.74).unwrap().epsg(), Some(4547));
    assert_eq!(Crs::gauss_kruger_for(75.2).unwrap().epsg(), Some(4534));
    assert!(Crs::gauss_kruger_for(10.0).is_err());
}

// Legacy datums, checked against PROJ 9.1.1's cs2cs with the same parameters, e.g.
//   echo 476093.1 3808062.5 | cs2cs -f %.10f +proj=tmerc +lat_0=0 +lon_0=114 +k=1 +x_0=500000 +y_0=0
//     +ellps=krass +towgs84=15.8,-154.4,-82.3,0,0,0,0 +units=m +no_defs
//     +to +proj=longlat +ellps=GRS80 +towgs84=0,0,0 +no_defs
#[test]
fn legacy_datums_match_cs2cs() {
    let cases: [(u32, Option<&str>, (f64, f64)); 3] = [
        (
            2383,
            Some("24,-123,-94,0.02,-0.25,-0.13,1.1"),
            (113.740_308_444_5, 34.399_884_196_4),
        ),
        (2435, None, (113.740_524_982_5, 34.399_553_985_0)),
        (
            2435,
            Some("-12.6,-150.9,-80.2,0.5,-0.3,1.4,-3.2"),
            (113.741_271_200_6, 34.399_589_445_4),
        ),
    ];
    for (code, params, (lon, lat)) in cases {
        let mut crs = Crs::from_epsg(code).unwrap();
        assert!(crs.is_approximate(), "no parameters yet");
        if let Some(p) = params {
            crs = crs.with_towgs84(Crs::parse_towgs84(p).unwrap()).unwrap();
        }
        assert_eq!(crs.is_approximate(), params.is_none());
        let (x, y) = Transform::to_lonlat(&crs)
            .unwrap()
            .apply(476_093.1, 3_808_062.5)
            .unwrap();
        assert_abs_diff_eq!(x, lon, epsilon = 1e-8);
        assert_abs_diff_eq!(y, lat, epsilon = 1e-8);
    }
    // And forward: 113.74E 34.40N to Beijing 1954 / GK CM 114E with the default shift.
    let (e, n) = Transform::from_lonlat(&Crs::from_epsg(2435).unwrap())
        .unwrap()
        .apply(113.74, 34.40)
        .unwrap();
    assert_abs_diff_eq!(e, 476_044.955_421, epsilon = 1e-3);
    assert_abs_diff_eq!(n, 3_808_112.099_893, epsilon = 1e-3);
}

#[test]
fn legacy_zone_ranges() {
    let gk = |c: u32| match Crs::from_epsg(c).unwrap() {
        Crs::Legacy { gauss_kruger, .. } => gauss_kruger,
        other => panic!("{other:?}"),
    };
    // From projinfo: lon_0 and x_0 of the first and last code of each range.
    assert_eq!(gk(2349), Some((75.0, 25_500_000.0)));
    assert_eq!(gk(2369), Some((135.0, 45_500_000.0)));
    assert_eq!(gk(2370), Some((75.0, 500_000.0)));
    assert_eq!(gk(2390), Some((135.0, 500_000.0)));
    assert_eq!(gk(2401), Some((75.0, 25_500_000.0)));
    assert_eq!(gk(2442), Some((135.0, 500_000.0)));
    assert_eq!(gk(4610), None);
    assert!(Crs::from_epsg(4214).unwrap().is_geographic());
}

#[test]
fn towgs84_parsing_and_scope() {
    assert_eq!(
        Crs::parse_towgs84("1,2,3").unwrap(),
        [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]
    );
    assert!(Crs::parse_towgs84("1,2").is_err());
    assert!(Crs::parse_towgs84("1,2,x").is_err());
    let e = Crs::from_epsg(4547)
        .unwrap()
        .with_towgs84([0.0; 7])
        .unwrap_err();
    assert!(e.to_string().contains("Xi'an 1980 and Beijing 1954"), "{e}");
}

#[test]
fn gcj02_and_bd09_round_trip_through_transforms() {
    assert_eq!(Crs::parse("GCJ02").unwrap(), Crs::Gcj02);
    assert_eq!(Crs::parse("gcj-02").unwrap(), Crs::Gcj02);
    assert_eq!(Crs::parse("BD09").unwrap(), Crs::Bd09);
    assert_eq!(Crs::Gcj02.to_string(), "GCJ-02");
    assert_eq!(Crs::Gcj02.epsg(), None);
    for crs in [Crs::Gcj02, Crs::Bd09] {
        let fwd = Transform::from_lonlat(&crs).unwrap();
        let inv = Transform::to_lonlat(&crs).unwrap();
        let (x, y) = fwd.apply(113.74, 34.40).unwrap();
        assert!(
            (x - 113.74).abs() > 1e-3 || (y - 34.40).abs() > 1e-3,
            "an offset is applied"
        );
        let (lon, lat) = inv.apply(x, y).unwrap();
        // 1e-8 degrees is about a millimetre; the bar is 0.5 m.
        assert_abs_diff_eq!(lon, 113.74, epsilon = 1e-8);
        assert_abs_diff_eq!(lat, 34.40, epsilon = 1e-8);
    }
    // GCJ-02 to Gauss–Krüger goes through WGS84.
    let t = Transform::new(&Crs::Gcj02, &Crs::from_epsg(4547).unwrap()).unwrap();
    let (gx, gy) = Transform::from_lonlat(&Crs::Gcj02)
        .unwrap()
        .apply(113.74, 34.40)
        .unwrap();
    let (e, n) = t.apply(gx, gy).unwrap();
    assert_abs_diff_eq!(e, 476_093.098_982, epsilon = 1e-3);
    assert_abs_diff_eq!(n, 3_808_062.489_848, epsilon = 1e-3);
}

/// With full PROJ linked (the `proj` feature), PROJ itself is the oracle: every system onemap
/// transforms with proj4rs must agree with PROJ's own transformation to 1 mm, both ways, on a grid
/// over Henan and on each system's central meridian.
#[cfg(feature = "proj")]
mod against_proj {
    use super::*;

    fn proj_transform(from: &str, to: &str) -> proj::Proj {
        proj::Proj::new_known_crs(from, to, None).unwrap()
    }

    /// Lon/lat points over Xinzheng, Henan and the zone edges (±1.5° of 114°E).
    fn grid() -> Vec<(f64, f64)> {
        let mut v = Vec::new();
        for i in 0..=6 {
            for j in 0..=6 {
                v.push((112.5 + 0.5 * f64::from(i), 32.0 + 0.75 * f64::from(j)));
            }
        }
        v.push((113.74, 34.40));
        v
    }

    #[test]
    fn modelled_systems_agree_with_proj_to_1_mm() {
        // (our CRS, how PROJ is told the same system)
        let legacy = |code: u32, towgs84: [f64; 7]| {
            let c = Crs::from_epsg(code).unwrap().with_towgs84(towgs84).unwrap();
            let def = format!("{} +type=crs", c.proj_string());
            (c, def)
        };
        let cases: Vec<(Crs, String)> = vec![
            (Crs::from_epsg(4547).unwrap(), "EPSG:4547".into()),
            (Crs::from_epsg(4526).unwrap(), "EPSG:4526".into()),
            (Crs::from_epsg(4546).unwrap(), "EPSG:4546".into()),
            (Crs::WebMercator, "EPSG:3857".into()),
            // Xi'an 1980 and Beijing 1954 with 7 parameters: PROJ gets the same Helmert shift.
            legacy(2383, [24.0, -123.0, -94.0, 0.02, -0.25, -0.13, 1.1]),
            legacy(2435, [15.8, -154.4, -82.3, 0.1, 0.2, -0.3, 2.0]),
            legacy(4610, [24.0, -123.0, -94.0, 0.02, -0.25, -0.13, 1.1]),
        ];
        for (crs, def) in &cases {
            let ours = Transform::from_lonlat(crs).unwrap();
            let back = Transform::to_lonlat(crs).unwrap();
            // WGS84 as onemap's lon/lat: the hub of +towgs84 (from EPSG:4490 PROJ skips the shift).
            let theirs = proj_transform("EPSG:4326", def);
            let theirs_back = proj_transform(def, "EPSG:4326");
            for (lon, lat) in grid() {
                let (x, y) = ours.apply(lon, lat).unwrap();
                let (px, py) = theirs.convert((lon, lat)).unwrap();
                // Metres for projected systems; for lon/lat, 1e-8° ≈ 1 mm.
                let tol = if crs.is_geographic() { 1e-8 } else { 1e-3 };
                assert!(
                    (x - px).abs() < tol && (y - py).abs() < tol,
                    "{crs} at ({lon}, {lat}): onemap ({x}, {y}), PROJ ({px}, {py})"
                );
                let (l2, b2) = back.apply(px, py).unwrap();
                let (pl, pb) = theirs_back.convert((px, py)).unwrap();
                assert!(
                    (l2 - pl).abs() < 1e-8 && (b2 - pb).abs() < 1e-8,
                    "{crs} inverse at ({px}, {py}): onemap ({l2}, {b2}), PROJ ({pl}, {pb})"
                );
            }
        }
    }

    #[test]
    fn check_values_hold_through_proj_too() {
        let t = proj_transform("EPSG:4547", "EPSG:4490");
        let (lon, lat) = t.convert((500_000.0, 3_806_000.0)).unwrap();
        assert_abs_diff_eq!(lon, 114.0, epsilon = 1e-9);
        assert_abs_diff_eq!(lat, 34.381_683_458_1, epsilon = 1e-9);
        let (lon, lat) = t.convert((468_000.0, 3_847_000.0)).unwrap();
        assert_abs_diff_eq!(lon, 113.650_518_790_9, epsilon = 1e-8);
        assert_abs_diff_eq!(lat, 34.750_775_590_6, epsilon = 1e-8);
    }

    #[test]
    fn other_epsg_systems_go_through_proj() {
        // WGS 84 / UTM zone 50N: not modelled by onemap, known to PROJ.
        let utm = Crs::parse("EPSG:32650").unwrap();
        assert_eq!(
            utm,
            Crs::Other {
                epsg: 32650,
                geographic: false
            }
        );
        assert_eq!(utm.to_string(), "EPSG:32650");
        assert!(utm.proj_wkt().is_some_and(|w| w.contains("UTM zone 50N")));
        // An independent implementation of the same projection: proj4rs with the UTM definition.
        let independent =
            Proj::from_proj_string("+proj=utm +zone=50 +ellps=WGS84 +units=m").unwrap();
        let wgs = Proj::from_proj_string("+proj=longlat +ellps=WGS84").unwrap();
        let t = Transform::from_lonlat(&utm).unwrap();
        let back = Transform::to_lonlat(&utm).unwrap();
        for (lon, lat) in grid() {
            let (x, y) = t.apply(lon, lat).unwrap();
            let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
            proj4rs::transform::transform(&wgs, &independent, &mut p).unwrap();
            assert!(
                (x - p.0).abs() < 1e-3 && (y - p.1).abs() < 1e-3,
                "({lon}, {lat}): PROJ ({x}, {y}), proj4rs ({}, {})",
                p.0,
                p.1
            );
            let (l2, b2) = back.apply(x, y).unwrap();
            assert_abs_diff_eq!(l2, lon, epsilon = 1e-9);
            assert_abs_diff_eq!(b2, lat, epsilon = 1e-9);
        }
        // A geographic one: Tokyo datum lon/lat is geographic, and transforms.
        let tokyo = Crs::parse("EPSG:4301").unwrap();
        assert!(tokyo.is_geographic());
        // Transforms are used from many threads: each builds its own PROJ object.
        let shared = std::sync::Arc::new(Transform::from_lonlat(&utm).unwrap());
        let here = shared.apply(113.74, 34.40).unwrap();
        let there = std::thread::spawn({
            let shared = shared.clone();
            move || shared.apply(113.74, 34.40).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(here, there);
    }

    #[test]
    fn what_proj_cannot_use_is_refused_with_the_reason() {
        let msg = |s: &str| Crs::parse(s).unwrap_err().to_string();
        assert!(
            msg("EPSG:999999").contains("PROJ does not know it"),
            "{}",
            msg("EPSG:999999")
        );
        // Geocentric and 3D systems are not map coordinates.
        assert!(
            msg("EPSG:4978").contains("not a 2D geographic or projected"),
            "{}",
            msg("EPSG:4978")
        );
        assert!(msg("EPSG:4979").contains("3D"), "{}", msg("EPSG:4979"));
    }
}
