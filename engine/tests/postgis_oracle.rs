//! Known answers from PostGIS on the same data: ST_Intersects, ST_DWithin(geography),
//! ST_Distance(geography) ordering for nearest, ST_Area(geography) and planar GK area.
mod support;

use std::collections::BTreeSet;

use geo::{Geometry, Point, line_string, point, polygon};
use geozero::ToWkt;
use onemap_engine::crs::Crs;
use onemap_engine::geometry::{Measure, planar_area_m2};
use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::synth::{self, ORIGIN};
use onemap_engine::{Caller, Engine, Query, Store};

const N: usize = 2_500;

fn wkt(g: &Geometry<f64>) -> String {
    g.to_wkt().unwrap()
}

/// `feats` as table `p` (fid, rights_type, geom; GiST-indexed) in PostGIS and as layer `p` in a
/// new onemap store under `dir`.
fn same_parcels_in_both(
    pg: &support::Postgis,
    feats: &[onemap_engine::Feature],
    dir: &std::path::Path,
) -> Engine {
    let mut load = String::from(
        "CREATE TABLE p (fid bigint primary key, rights_type text, geom geometry(Polygon, 4326));\nCOPY p FROM stdin;\n",
    );
    for (i, f) in feats.iter().enumerate() {
        let onemap_engine::Value::Text(r) = &f.properties[1] else {
            panic!("rights type");
        };
        load.push_str(&format!("{}\t{r}\tSRID=4326;{}\n", i + 1, wkt(&f.geometry)));
    }
    load.push_str("\\.\nCREATE INDEX ON p USING gist (geom);\nANALYZE p;\n");
    pg.sql(&load);
    let store = Store::open(dir.join("o.duckdb")).unwrap();
    store
        .write_layer(
            NewLayer {
                name: "p".into(),
                kind: LayerKind::Cadastral,
                schema: synth::parcel_schema(),
                source_crs: "EPSG:4490".into(),
                source: "oracle".into(),
            },
            feats.iter().cloned().map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
    Engine::open(store).unwrap()
}

fn set(s: &str) -> BTreeSet<i64> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn engine_agrees_with_postgis() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let feats: Vec<_> = synth::parcels(N, 99).collect();

    // The same data in PostGIS (GiST-indexed) and in onemap's store.
    let dir = tempfile::tempdir().unwrap();
    let engine = same_parcels_in_both(&pg, &feats, dir.path());
    let caller = Caller::operator();

    let o = ORIGIN;
    let probes: Vec<Geometry<f64>> = vec![
        polygon![(x: o.0 + 0.003, y: o.1 + 0.004), (x: o.0 + 0.011, y: o.1 + 0.006), (x: o.0 + 0.006, y: o.1 + 0.013), (x: o.0 + 0.003, y: o.1 + 0.004)].into(),
        line_string![(x: o.0 - 0.001, y: o.1 + 0.0102), (x: o.0 + 0.03, y: o.1 + 0.0177)].into(),
        point!(x: o.0 + 0.0121, y: o.1 + 0.0093).into(),
        // Outside the grid, ~140 m from its south-east corner.
        point!(x: o.0 + 0.0262, y: o.1 - 0.0008).into(),
    ];

    for q in &probes {
        // ST_Intersects.
        let want = set(&pg.sql(&format!(
            "SELECT fid FROM p WHERE ST_Intersects(geom, 'SRID=4326;{}'::geometry) ORDER BY fid;",
            wkt(q)
        )));
        let got: BTreeSet<i64> = engine
            .query(&caller, "p", &Query::intersects(q.clone()))
            .unwrap()
            .hits
            .iter()
            .map(|h| h.fid)
            .collect();
        assert_eq!(got, want, "ST_Intersects with {}", wkt(q));

        // ST_DWithin on geography (spheroid). A feature within 1 mm of the threshold may fall
        // either side: such borderline cases are reported, never silently accepted.
        for d in [12.5_f64, 80.0, 260.0] {
            let rows = pg.sql(&format!(
                "SELECT fid, ST_Distance(geom::geography, 'SRID=4326;{0}'::geography) FROM p \
                 WHERE ST_DWithin(geom::geography, 'SRID=4326;{0}'::geography, {1} + 0.01) ORDER BY fid;",
                wkt(q), d
            ));
            let mut want = BTreeSet::new();
            let mut borderline = BTreeSet::new();
            for line in rows.lines() {
                let (fid, dist) = line.split_once('|').unwrap();
                let (fid, dist): (i64, f64) = (fid.parse().unwrap(), dist.parse().unwrap());
                if (dist - d).abs() < 1e-3 {
                    borderline.insert(fid);
                } else if dist <= d {
                    want.insert(fid);
                }
            }
            let got: BTreeSet<i64> = engine
                .query(&caller, "p", &Query::dwithin(q.clone(), d))
                .unwrap()
                .hits
                .iter()
                .map(|h| h.fid)
                .filter(|f| !borderline.contains(f))
                .collect();
            assert_eq!(got, want, "ST_DWithin {d} m of {}", wkt(q));
            if d > 200.0 {
                assert!(!want.is_empty(), "every probe has features within {d} m");
            }
        }
    }

    // Nearest: PostGIS ordered by spheroid distance.
    for p in [
        Point::new(o.0 + 0.0077, o.1 + 0.0191),
        Point::new(o.0 - 0.004, o.1 + 0.01),
    ] {
        let rows = pg.sql(&format!(
            "SELECT fid, ST_Distance(geom::geography, 'SRID=4326;POINT({} {})'::geography) AS d FROM p ORDER BY d, fid LIMIT 8;",
            p.x(), p.y()
        ));
        let want: Vec<(i64, f64)> = rows
            .lines()
            .map(|l| {
                let (a, b) = l.split_once('|').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        let got = engine.nearest(&caller, "p", p, 8, None).unwrap();
        for (h, (fid, d)) in got.hits.iter().zip(&want) {
            let ours = h.distance_m.unwrap();
            assert!(
                (ours - d).abs() <= 1e-3 + d * 1e-5,
                "distance {ours} vs PostGIS {d}"
            );
            if h.fid != *fid {
                // Only a tie (within a millimetre) may reorder.
                let theirs_for_ours = want
                    .iter()
                    .find(|w| w.0 == h.fid)
                    .map(|w| w.1)
                    .unwrap_or(f64::MAX);
                assert!(
                    (theirs_for_ours - d).abs() < 1e-3,
                    "nearest order differs: {:?} vs {want:?}",
                    got.hits
                );
            }
        }
    }

    // ST_Area(geography) and ST_Area(ST_Transform(g, 4547)) for every parcel.
    let rows = pg.sql("SELECT fid, ST_Area(geom::geography), ST_Area(ST_Transform(geom, 4547)) FROM p ORDER BY fid;");
    let gk = Crs::from_epsg(4547).unwrap();
    let mut worst = 0.0_f64;
    for line in rows.lines() {
        let v: Vec<&str> = line.split('|').collect();
        let i: usize = v[0].parse().unwrap();
        let (geodesic, planar): (f64, f64) = (v[1].parse().unwrap(), v[2].parse().unwrap());
        let g = &feats[i - 1].geometry;
        let ours = g.geodesic_area_m2();
        worst = worst.max((ours - geodesic).abs() / geodesic);
        let ours_planar = planar_area_m2(g, &gk).unwrap();
        assert!(
            (ours_planar - planar).abs() / planar < 1e-7,
            "planar area of {i}: {ours_planar} vs {planar}"
        );
    }
    assert!(
        worst < 1e-6,
        "worst relative geodesic area difference {worst} (bar: 1e-3)"
    );

    // Lengths on the spheroid.
    let l: Geometry<f64> =
        line_string![(x: 113.70, y: 34.36), (x: 113.78, y: 34.41), (x: 113.80, y: 34.47)].into();
    let want: f64 = pg
        .sql(&format!(
            "SELECT ST_Length('SRID=4326;{}'::geography);",
            wkt(&l)
        ))
        .trim()
        .parse()
        .unwrap();
    assert!((l.geodesic_length_m() - want).abs() / want < 1e-6);
}

/// Statistics of a region (查询统计): area by class inside a polygon, against
/// `ST_Area(ST_Intersection(...)::geography)` grouped the same way.
#[test]
fn region_statistics_agree_with_postgis() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let feats: Vec<_> = synth::parcels(1_600, 5).collect();
    let dir = tempfile::tempdir().unwrap();
    let engine = same_parcels_in_both(&pg, &feats, dir.path());
    let o = ORIGIN;
    // An irregular site crossing many parcels, with a hole.
    let region: Geometry<f64> = geo::Polygon::new(
        line_string![(x: o.0 + 0.002, y: o.1 + 0.003), (x: o.0 + 0.013, y: o.1 + 0.002), (x: o.0 + 0.015, y: o.1 + 0.011), (x: o.0 + 0.006, y: o.1 + 0.014), (x: o.0 + 0.002, y: o.1 + 0.003)],
        vec![line_string![(x: o.0 + 0.007, y: o.1 + 0.006), (x: o.0 + 0.009, y: o.1 + 0.006), (x: o.0 + 0.009, y: o.1 + 0.008), (x: o.0 + 0.007, y: o.1 + 0.008), (x: o.0 + 0.007, y: o.1 + 0.006)]],
    )
    .into();
    let rows = pg.sql(&format!(
        "SELECT rights_type, count(*), sum(ST_Area(ST_Intersection(geom, r)::geography)) \
         FROM p, (SELECT 'SRID=4326;{}'::geometry AS r) q WHERE ST_Intersects(geom, r) AND ST_Area(ST_Intersection(geom, r)) > 0 \
         GROUP BY 1 ORDER BY 1;",
        wkt(&region)
    ));
    let ours = engine
        .stats(&Caller::operator(), "p", &region, Some("rights_type"))
        .unwrap();
    let mut compared = 0;
    for line in rows.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split('|').collect();
        let (class, count, area): (&str, usize, f64) = (
            parts[0],
            parts[1].parse().unwrap(),
            parts[2].parse().unwrap(),
        );
        let t = ours
            .get(class)
            .unwrap_or_else(|| panic!("class {class} missing"));
        assert_eq!(t.count, count, "{class}");
        assert!(
            (t.area_m2 / area - 1.0).abs() < 1e-6,
            "{class}: {} vs PostGIS {area}",
            t.area_m2
        );
        compared += 1;
    }
    assert_eq!(compared, ours.len());
    assert!(compared >= 3);
    let total: f64 = ours.values().map(|t| t.area_m2).sum();
    let want = region.geodesic_area_m2();
    // The pieces add up to the site, up to the difference between a long edge taken as one
    // geodesic and the same edge cut at parcel boundaries along the straight lon/lat line (~4e-6).
    assert!(
        (total / want - 1.0).abs() < 1e-5,
        "the parcels tile the site: {total} vs {want}"
    );
}
