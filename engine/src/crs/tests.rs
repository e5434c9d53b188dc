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
        assert_eq!(Crs::parse(s).unwrap().epsg(), 4547, "{s}");
    }
    assert_eq!(
        Crs::parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84").unwrap(),
        Crs::WGS84
    );
    assert!(matches!(
        Crs::parse("EPSG:99999"),
        Err(Error::UnsupportedCrs(_))
    ));
    assert!(matches!(Crs::parse("wgs"), Err(Error::UnsupportedCrs(_))));
}

#[test]
fn gk_zone_for_longitude() {
    assert_eq!(Crs::gauss_kruger_for(113.74).unwrap().epsg(), 4547);
    assert_eq!(Crs::gauss_kruger_for(75.2).unwrap().epsg(), 4534);
    assert!(Crs::gauss_kruger_for(10.0).is_err());
}
