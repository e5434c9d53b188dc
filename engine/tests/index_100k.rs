//! 100,000 parcels through a real DuckDB file: write, reopen, rebuild the R-tree, and check that
//! bbox / intersects / within-distance / nearest / identify answers equal a brute-force scan.
use std::collections::BTreeSet;

use geo::{Geometry, Intersects, Point, Rect, line_string, polygon};
use onemap_engine::geometry::MetricFrame;
use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::synth::{self, ORIGIN, STEP};
use onemap_engine::{Caller, Engine, Filter, Query, Store};

const N: usize = 100_000;
const SEED: u64 = 2024;

fn brute<F: Fn(&Geometry<f64>) -> bool>(feats: &[onemap_engine::Feature], f: F) -> Vec<i64> {
    feats
        .iter()
        .enumerate()
        .filter(|(_, x)| f(&x.geometry))
        .map(|(i, _)| i as i64 + 1)
        .collect()
}

fn fids(h: &onemap_engine::query::LayerHits) -> Vec<i64> {
    h.hits.iter().map(|h| h.fid).collect()
}

#[test]
fn hundred_thousand_parcels_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.duckdb");
    let feats: Vec<_> = synth::parcels(N, SEED).collect();
    {
        let store = Store::open(&path).unwrap();
        let layer = NewLayer {
            name: "parcels".into(),
            kind: LayerKind::Cadastral,
            schema: synth::parcel_schema(),
            source_crs: "EPSG:4490".into(),
            source: "synth".into(),
        };
        let r = store
            .write_layer(
                layer,
                feats.iter().cloned().map(Ok::<_, std::io::Error>),
                |_| {},
            )
            .unwrap();
        assert_eq!(r.meta.feature_count, N as u64);
    }
    // Reopen from the file and rebuild the index.
    let engine = Engine::open(Store::open_read_only(&path).unwrap()).unwrap();
    let layer = engine.layer("parcels").unwrap();
    assert_eq!(layer.len(), N);
    for i in [0u32, 1, 4_999, 99_999] {
        assert_eq!(layer.geometry(i), &feats[i as usize].geometry);
        assert_eq!(layer.properties(i), &feats[i as usize].properties[..]);
    }
    let caller = Caller::operator();
    let cols = synth::columns(N) as f64;
    let extent = cols * STEP;

    // bbox: several boxes, including one straddling the grid edge and one outside it.
    let boxes = [
        (
            ORIGIN.0 + 0.01,
            ORIGIN.1 + 0.01,
            ORIGIN.0 + 0.013,
            ORIGIN.1 + 0.012,
        ),
        (
            ORIGIN.0 - 0.001,
            ORIGIN.1 + 0.05,
            ORIGIN.0 + 0.002,
            ORIGIN.1 + 0.0537,
        ),
        (
            ORIGIN.0 + 0.1,
            ORIGIN.1 + 0.1,
            ORIGIN.0 + 0.1 + 1e-7,
            ORIGIN.1 + 0.1 + 1e-7,
        ),
        (
            ORIGIN.0 + extent + 0.01,
            ORIGIN.1,
            ORIGIN.0 + extent + 0.02,
            ORIGIN.1 + 0.01,
        ),
    ];
    for (a, b, c, d) in boxes {
        let got = engine
            .query(&caller, "parcels", &Query::bbox(a, b, c, d))
            .unwrap();
        let rect = Rect::new(geo::coord! {x: a, y: b}, geo::coord! {x: c, y: d}).to_polygon();
        let want = brute(&feats, |g| g.intersects(&rect));
        assert_eq!(fids(&got), want, "bbox {a},{b},{c},{d}");
        assert_eq!(got.matched, want.len());
    }

    // intersects: a triangle across many parcels, a line, and a point on a shared vertex.
    let tri: Geometry<f64> = polygon![
        (x: ORIGIN.0 + 0.02, y: ORIGIN.1 + 0.02), (x: ORIGIN.0 + 0.035, y: ORIGIN.1 + 0.024),
        (x: ORIGIN.0 + 0.025, y: ORIGIN.1 + 0.04), (x: ORIGIN.0 + 0.02, y: ORIGIN.1 + 0.02)
    ]
    .into();
    let line: Geometry<f64> = line_string![
        (x: ORIGIN.0 + 0.001, y: ORIGIN.1 + 0.1), (x: ORIGIN.0 + 0.09, y: ORIGIN.1 + 0.13)
    ]
    .into();
    let (vx, vy) = synth::vertex(40, 40, SEED);
    let vertex: Geometry<f64> = Point::new(vx, vy).into();
    for g in [&tri, &line, &vertex] {
        let got = engine
            .query(&caller, "parcels", &Query::intersects(g.clone()))
            .unwrap();
        let want = brute(&feats, |x| x.intersects(g));
        assert!(!want.is_empty());
        assert_eq!(fids(&got), want);
    }
    // A shared vertex touches four parcels.
    assert_eq!(
        engine
            .query(&caller, "parcels", &Query::intersects(vertex.clone()))
            .unwrap()
            .hits
            .len(),
        4
    );

    // within a distance (metres on the ellipsoid) of the line.
    let frame = MetricFrame::around(&line).unwrap();
    let projected = frame.project(&line).unwrap();
    let got = engine
        .query(&caller, "parcels", &Query::dwithin(line.clone(), 30.0))
        .unwrap();
    let want = brute(&feats, |x| {
        frame.distance_to(&projected, x).unwrap() <= 30.0
    });
    assert_eq!(fids(&got), want);

    // nearest k, inside and outside the grid.
    let probes = [
        Point::new(ORIGIN.0 + 0.0123, ORIGIN.1 + 0.0456),
        Point::new(ORIGIN.0 - 0.01, ORIGIN.1 - 0.02),
        Point::new(ORIGIN.0 + extent + 0.003, ORIGIN.1 + extent / 2.0),
    ];
    for p in probes {
        let frame = MetricFrame::new(p.x(), p.y()).unwrap();
        let pg = frame.project(&p.into()).unwrap();
        let mut all: Vec<(f64, i64)> = feats
            .iter()
            .enumerate()
            .map(|(i, f)| (frame.distance_to(&pg, &f.geometry).unwrap(), i as i64 + 1))
            .collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for k in [1usize, 5, 20] {
            let got = engine.nearest(&caller, "parcels", p, k, None).unwrap();
            let want: Vec<i64> = all.iter().take(k).map(|x| x.1).collect();
            assert_eq!(fids(&got), want, "nearest {k} to {p:?}");
            for (h, w) in got.hits.iter().zip(&all) {
                assert_eq!(h.distance_m, Some(w.0));
            }
        }
    }

    // identify at points: the parcel containing each point (and only it).
    for k in [0u64, 777, 54_321, 99_998] {
        let c = synth::columns(N);
        let (i, j) = (k % c, k / c);
        let p = Point::new(
            ORIGIN.0 + (i as f64 + 0.5) * STEP,
            ORIGIN.1 + (j as f64 + 0.5) * STEP,
        );
        let got = engine.identify(&caller, p, None, 0.0).unwrap();
        let want = brute(&feats, |g| g.intersects(&p));
        assert_eq!(got.len(), 1);
        assert_eq!(fids(&got[0]), want);
        assert!(want.contains(&(k as i64 + 1)));
    }

    // attribute filter with a spatial one, and paging through the result in a stable order.
    let q = Query::bbox(ORIGIN.0, ORIGIN.1, ORIGIN.0 + 0.02, ORIGIN.1 + 0.02)
        .filter(Filter::parse("rights_type = '宅基地使用权' AND floors >= 6").unwrap());
    let full = engine.query(&caller, "parcels", &q).unwrap();
    let rect = Rect::new(
        geo::coord! {x: ORIGIN.0, y: ORIGIN.1},
        geo::coord! {x: ORIGIN.0 + 0.02, y: ORIGIN.1 + 0.02},
    )
    .to_polygon();
    let want: Vec<i64> = feats
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.geometry.intersects(&rect)
                && f.properties[1].as_str() == Some("宅基地使用权")
                && f.properties[3].as_f64().is_some_and(|x| x >= 6.0)
        })
        .map(|(i, _)| i as i64 + 1)
        .collect();
    assert!(want.len() > 50);
    assert_eq!(fids(&full), want);
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let page = engine
            .query(&caller, "parcels", &q.clone().page(offset, 17))
            .unwrap();
        assert_eq!(page.matched, want.len());
        if page.hits.is_empty() {
            break;
        }
        paged.extend(fids(&page));
        offset += 17;
    }
    assert_eq!(paged, want);
    let distinct: BTreeSet<_> = paged.iter().collect();
    assert_eq!(distinct.len(), paged.len());
}
