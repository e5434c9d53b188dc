//! Our tiles against PostGIS `ST_AsMVT(ST_AsMVTGeom(...))` for the same z/x/y: the same features
//! (ids), the same attributes, and vertices within one tile unit. Both tiles are read with the
//! spec-written decoder in `support/mvt.rs`. At z14+ (the detail zooms) onemap does no
//! simplification beyond snapping to the unit grid, as PostGIS does.
mod support;

use std::collections::BTreeMap;

use geo::{Coord, Distance, Euclidean, Geometry, LineString, MultiLineString, Point};
use geozero::ToWkt;
use onemap_engine::model::{Field, FieldType, LayerKind, NewLayer, Schema, Value};
use onemap_engine::synth::{self, ORIGIN};
use onemap_engine::tiling::{self, LayerTiling, SourceLayer, TileId, TileOptions};
use onemap_engine::{Engine, Feature, Store};
use support::mvt;

fn hex_decode(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// On the buffered tile's edge (buffer 64 of extent 4096).
fn on_clip_edge(&(x, y): &(i64, i64)) -> bool {
    x == -64 || x == 4160 || y == -64 || y == 4160
}

/// The outline of a decoded feature (rings or lines; points as zero-length lines).
fn outline(f: &mvt::Feature) -> MultiLineString<f64> {
    MultiLineString::new(
        mvt::parts(&f.geometry)
            .into_iter()
            .map(|p| {
                let mut c: Vec<Coord<f64>> = p
                    .iter()
                    .map(|&(x, y)| Coord {
                        x: x as f64,
                        y: y as f64,
                    })
                    .collect();
                if c.len() == 1 {
                    c.push(c[0]);
                }
                LineString::new(c)
            })
            .collect(),
    )
}

/// The farthest any vertex of `a` inside the buffered tile lies from the outline of `b`.
fn vertex_gap(a: &mvt::Feature, b: &mvt::Feature) -> f64 {
    let ob = outline(b);
    mvt::parts(&a.geometry)
        .into_iter()
        .flatten()
        .filter(|v| !on_clip_edge(v))
        .map(|v| Euclidean.distance(&Point::new(v.0 as f64, v.1 as f64), &ob))
        .fold(0.0, f64::max)
}

/// The source geometry's outline in this tile's units, projected by the test's own formula.
fn exact_outline(g: &Geometry<f64>, tile: TileId) -> MultiLineString<f64> {
    let n = f64::from(1u32 << tile.z);
    let project = |c: &Coord<f64>| {
        let r = c.y.to_radians();
        Coord {
            x: ((c.x + 180.0) / 360.0 * n - f64::from(tile.x)) * 4096.0,
            y: ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n
                - f64::from(tile.y))
                * 4096.0,
        }
    };
    let lines: Vec<LineString<f64>> = match g {
        Geometry::Polygon(p) => std::iter::once(p.exterior())
            .chain(p.interiors())
            .cloned()
            .collect(),
        Geometry::LineString(l) => vec![l.clone()],
        other => panic!("unexpected geometry {other:?}"),
    };
    MultiLineString::new(
        lines
            .iter()
            .map(|l| LineString::new(l.0.iter().map(project).collect()))
            .collect(),
    )
}

/// Vertices of ours on the clip edge are where the true outline crosses it (within rounding), or
/// corners of the clip box.
fn clip_edge_gap(ours: &mvt::Feature, source: &Geometry<f64>, tile: TileId) -> f64 {
    let exact = exact_outline(source, tile);
    mvt::parts(&ours.geometry)
        .into_iter()
        .flatten()
        .filter(on_clip_edge)
        .filter(|&(x, y)| !((x == -64 || x == 4160) && (y == -64 || y == 4160)))
        .map(|v| Euclidean.distance(&Point::new(v.0 as f64, v.1 as f64), &exact))
        .fold(0.0, f64::max)
}

fn num(v: &mvt::Val) -> Option<f64> {
    match v {
        mvt::Val::Int(i) | mvt::Val::Sint(i) => Some(*i as f64),
        mvt::Val::Uint(u) => Some(*u as f64),
        mvt::Val::Double(d) => Some(*d),
        mvt::Val::Float(f) => Some(f64::from(*f)),
        _ => None,
    }
}

fn pipes() -> Vec<Feature> {
    let o = ORIGIN;
    (0..6)
        .map(|k| {
            let k = f64::from(k);
            let ls = LineString::new(vec![
                Coord {
                    x: o.0 - 0.002,
                    y: o.1 + 0.001 + 0.004 * k,
                },
                Coord {
                    x: o.0 + 0.011,
                    y: o.1 + 0.0073 + 0.003 * k,
                },
                Coord {
                    x: o.0 + 0.027,
                    y: o.1 + 0.0021 + 0.0041 * k,
                },
            ]);
            Feature::new(
                Geometry::LineString(ls),
                vec![Value::Text(format!("RQ{k}")), Value::Float(100.0 + k)],
            )
        })
        .collect()
}

#[test]
fn tiles_agree_with_st_asmvt() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let parcels: Vec<Feature> = synth::parcels(2_500, 7).collect();
    let lines = pipes();

    let mut load = String::from(
        "CREATE TABLE p (fid bigint primary key, parcel_id text, floors bigint, registered_area float8, geom geometry(Polygon, 4326));\nCOPY p FROM stdin;\n",
    );
    for (i, f) in parcels.iter().enumerate() {
        let floors = match &f.properties[3] {
            Value::Int(n) => n.to_string(),
            _ => "\\N".into(),
        };
        let (Value::Text(id), Value::Float(area)) = (&f.properties[0], &f.properties[4]) else {
            panic!("synthetic parcel properties");
        };
        load.push_str(&format!(
            "{}\t{id}\t{floors}\t{area}\tSRID=4326;{}\n",
            i + 1,
            f.geometry.to_wkt().unwrap()
        ));
    }
    load.push_str("\\.\nCREATE TABLE l (fid bigint primary key, code text, dn float8, geom geometry(LineString, 4326));\nCOPY l FROM stdin;\n");
    for (i, f) in lines.iter().enumerate() {
        let (Value::Text(c), Value::Float(d)) = (&f.properties[0], &f.properties[1]) else {
            panic!("pipe properties");
        };
        load.push_str(&format!(
            "{}\t{c}\t{d}\tSRID=4326;{}\n",
            i + 1,
            f.geometry.to_wkt().unwrap()
        ));
    }
    load.push_str(
        "\\.\nCREATE INDEX ON p USING gist (geom);\nCREATE INDEX ON l USING gist (geom);\n",
    );
    pg.sql(&load);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("m.duckdb")).unwrap();
    let parcel_schema = Schema::new(vec![
        Field::new("parcel_id", FieldType::Text),
        Field::new("floors", FieldType::Int),
        Field::new("registered_area", FieldType::Float),
    ])
    .unwrap();
    let slim: Vec<Feature> = parcels
        .iter()
        .map(|f| {
            Feature::new(
                f.geometry.clone(),
                vec![
                    f.properties[0].clone(),
                    f.properties[3].clone(),
                    f.properties[4].clone(),
                ],
            )
        })
        .collect();
    for (name, schema, feats) in [
        ("p", parcel_schema, slim),
        (
            "l",
            Schema::new(vec![
                Field::new("code", FieldType::Text),
                Field::new("dn", FieldType::Float),
            ])
            .unwrap(),
            lines.clone(),
        ),
    ] {
        store
            .write_layer(
                NewLayer {
                    name: name.into(),
                    kind: LayerKind::Generic,
                    schema,
                    source_crs: "EPSG:4490".into(),
                    source: "mvt oracle".into(),
                },
                feats.into_iter().map(Ok::<_, std::io::Error>),
                |_| {},
            )
            .unwrap();
    }
    let engine = Engine::open(store).unwrap();
    let bounds = engine.layer("p").unwrap().meta.bounds.unwrap();
    let mut tiles_checked = 0;
    let mut features_checked = 0;
    let mut slivers_total = 0;
    let (mut max_inner, mut max_edge) = (0.0f64, 0.0f64);
    for z in [14u32, 15, 16] {
        let n = f64::from(1u32 << z);
        let tx = |lon: f64| ((lon + 180.0) / 360.0 * n).floor() as u64;
        let ty = |lat: f64| {
            let r = lat.to_radians();
            ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u64
        };
        for x in tx(bounds.min().x)..=tx(bounds.max().x) {
            for y in ty(bounds.max().y)..=ty(bounds.min().y) {
                let tile = TileId::new(z, x, y).unwrap();
                for table in ["p", "l"] {
                    let cols = if table == "p" {
                        "fid, parcel_id, floors, registered_area"
                    } else {
                        "fid, code, dn"
                    };
                    let sources: Vec<&Geometry<f64>> = if table == "p" {
                        parcels.iter().map(|f| &f.geometry).collect()
                    } else {
                        lines.iter().map(|f| &f.geometry).collect()
                    };
                    let c = compare_tile(&pg, &engine, table, cols, tile, &sources);
                    features_checked += c.features;
                    slivers_total += c.slivers;
                    max_inner = max_inner.max(c.max_inner);
                    max_edge = max_edge.max(c.max_edge);
                }
                tiles_checked += 1;
            }
        }
    }
    eprintln!(
        "{tiles_checked} tiles, {features_checked} features agree with ST_AsMVT ({slivers_total} buffer slivers kept by one side only; largest vertex gap {max_inner:.2} units inside, {max_edge:.2} on the clip edge)"
    );
    assert!(
        tiles_checked >= 20 && features_checked > 3_000,
        "{tiles_checked} tiles, {features_checked} features"
    );
}

/// What one tile comparison saw.
#[derive(Default)]
struct Compared {
    features: usize,
    slivers: usize,
    max_inner: f64,
    max_edge: f64,
}

/// Compare onemap's tile of `table` with `ST_AsMVT` of the PostGIS table of the same name (columns
/// `cols`, `fid` first): the same ids (but for buffer slivers), vertices within one unit inside the
/// buffer and within one unit of the exact outline on its edge, MVT 2.1 winding, equal attributes.
/// `sources[fid - 1]` is the feature's lon/lat geometry.
fn compare_tile(
    pg: &support::Postgis,
    engine: &Engine,
    table: &str,
    cols: &str,
    tile: TileId,
    sources: &[&Geometry<f64>],
) -> Compared {
    let (z, x, y) = (tile.z, tile.x, tile.y);
    let opts = TileOptions {
        max_bytes: usize::MAX,
        ..TileOptions::default()
    };
    let layer = engine.layer(table).unwrap();
    let visible = vec![true; layer.meta.schema.len()];
    let tiling = LayerTiling {
        detail_zoom: 0,
        low_zoom_fields: vec![],
    };
    let ours = tiling::render(
        &[SourceLayer {
            layer: &layer,
            visible: &visible,
            tiling: &tiling,
        }],
        tile,
        &opts,
    )
    .unwrap();
    let hex = pg.sql(&format!(
        "SELECT encode(ST_AsMVT(q, '{table}', 4096, 'geom', 'fid'), 'hex') FROM (
           SELECT {cols}, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope({z}, {x}, {y}), 4096, 64, true) AS geom
           FROM {table}
           WHERE geom && ST_Transform(ST_TileEnvelope({z}, {x}, {y}, margin => 64.0 / 4096), 4326)
         ) q WHERE geom IS NOT NULL;"
    ));
    let theirs = mvt::decode(&hex_decode(&hex));
    let ours = mvt::decode(&ours.bytes);
    let index = |ls: &[mvt::Layer]| -> BTreeMap<u64, (mvt::Feature, Vec<(String, mvt::Val)>)> {
        ls.iter()
            .flat_map(|l| {
                l.features
                    .iter()
                    .map(move |f| (f.id.unwrap(), (f.clone(), l.properties(f))))
            })
            .collect()
    };
    let (a, b) = (index(&ours), index(&theirs));
    let mut c = Compared::default();
    // A feature only one side keeps must be a sliver in the buffer, outside the tile proper:
    // PostGIS snaps before clipping and can keep a corner sliver that exact clipping rounds away
    // (or the reverse).
    let invisible_sliver = |f: &mvt::Feature| {
        let parts = mvt::parts(&f.geometry);
        let outside = parts
            .iter()
            .flatten()
            .all(|&(x, y)| x <= 0 || y <= 0 || x >= 4096 || y >= 4096);
        let small = parts.iter().map(|r| mvt::area2(r).abs()).sum::<i64>() <= 32;
        outside && small
    };
    for (k, (f, _)) in a
        .iter()
        .filter(|(k, _)| !b.contains_key(k))
        .chain(b.iter().filter(|(k, _)| !a.contains_key(k)))
    {
        assert!(
            invisible_sliver(f),
            "{table}/{k} in tile {tile} is in one tile only: {:?}",
            mvt::parts(&f.geometry)
        );
        c.slivers += 1;
    }
    for (id, (fa, pa)) in &a {
        let Some((fb, pb)) = b.get(id) else { continue };
        assert_eq!(fa.kind, fb.kind, "geometry type of {table}/{id} in {tile}");
        // Inside the buffer: within one unit of PostGIS's outline. On the clip edge PostGIS snaps
        // to the grid before clipping, onemap clips the exact edge and then snaps, so where an edge
        // crosses the buffer line at a shallow angle the two crossings can be tens of units apart;
        // there ours must lie within one unit of the true outline (projected by this test) instead.
        let d = vertex_gap(fa, fb).max(vertex_gap(fb, fa));
        let de = clip_edge_gap(fa, sources[*id as usize - 1], tile);
        c.max_inner = c.max_inner.max(d);
        c.max_edge = c.max_edge.max(de);
        assert!(
            d <= 1.0 && de <= 1.0,
            "{table}/{id} in {tile}: vertices differ by {d} units (clip edge {de}):\n ours   {:?}\n theirs {:?}",
            mvt::parts(&fa.geometry),
            mvt::parts(&fb.geometry)
        );
        if fa.kind == 3 {
            for ring in mvt::parts(&fa.geometry) {
                assert_ne!(mvt::area2(&ring), 0);
            }
            assert!(
                mvt::area2(&mvt::parts(&fa.geometry)[0]) > 0,
                "exterior ring winding"
            );
        }
        let pb: BTreeMap<_, _> = pb.iter().cloned().collect();
        assert_eq!(
            pa.len(),
            pb.len(),
            "attributes of {table}/{id}: {pa:?} vs {pb:?}"
        );
        for (k, v) in pa {
            let w = &pb[k];
            match (num(v), num(w)) {
                (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{k}: {x} vs {y}"),
                _ => assert_eq!(v, w, "{table}/{id} attribute {k}"),
            }
        }
        c.features += 1;
    }
    c
}

fn tiles_over(b: geo::Rect<f64>, z: u32) -> Vec<TileId> {
    let n = f64::from(1u32 << z);
    let tx = |lon: f64| ((lon + 180.0) / 360.0 * n).floor() as u64;
    let ty = |lat: f64| {
        let r = lat.to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u64
    };
    let mut out = Vec::new();
    for x in tx(b.min().x)..=tx(b.max().x) {
        for y in ty(b.max().y)..=ty(b.min().y) {
            out.push(TileId::new(z, x, y).unwrap());
        }
    }
    out
}

/// The Xinzheng sample set's GeoJSON layers (land use: shared block edges; heritage: rings with
/// holes, far-apart sites) through the same comparison.
#[test]
fn sample_set_tiles_agree_with_st_asmvt() {
    let Some(pg) = support::Postgis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sample.duckdb")).unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data");
    let mut checked = 0;
    let mut all_sources: Vec<(String, Vec<Geometry<f64>>, String)> = Vec::new();
    for (table, file) in [
        ("landuse", "xinzheng_landuse.geojson"),
        ("heritage", "xinzheng_heritage.geojson"),
    ] {
        let text = std::fs::read_to_string(sample.join(file)).unwrap();
        let fc: geojson::FeatureCollection = text.parse().unwrap();
        let keys: Vec<String> = fc.features[0]
            .properties
            .as_ref()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        // Types from the values: integers, else numbers, else text.
        let ty = |k: &str| {
            let vals: Vec<&serde_json::Value> = fc
                .features
                .iter()
                .filter_map(|f| f.properties.as_ref()?.get(k))
                .collect();
            if vals.iter().all(|v| v.is_i64()) {
                FieldType::Int
            } else if vals.iter().all(|v| v.is_number()) {
                FieldType::Float
            } else {
                FieldType::Text
            }
        };
        let fields: Vec<Field> = keys.iter().map(|k| Field::new(k.clone(), ty(k))).collect();
        let mut geoms = Vec::new();
        let mut feats = Vec::new();
        let mut copy = format!(
            "CREATE TABLE {table} (fid bigint primary key, {}, geom geometry(Geometry, 4326));\nCOPY {table} FROM stdin;\n",
            fields
                .iter()
                .map(|f| format!(
                    "\"{}\" {}",
                    f.name,
                    match f.ty {
                        FieldType::Int => "bigint",
                        FieldType::Float => "float8",
                        _ => "text",
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (i, f) in fc.features.iter().enumerate() {
            let g: Geometry<f64> = f
                .geometry
                .as_ref()
                .unwrap()
                .value
                .clone()
                .try_into()
                .unwrap();
            let props = f.properties.as_ref().unwrap();
            let values: Vec<Value> = fields
                .iter()
                .map(|fd| match (&props[&fd.name], fd.ty) {
                    (serde_json::Value::Null, _) => Value::Null,
                    (v, FieldType::Int) => Value::Int(v.as_i64().unwrap()),
                    (v, FieldType::Float) => Value::Float(v.as_f64().unwrap()),
                    (serde_json::Value::String(s), _) => Value::Text(s.clone()),
                    (v, _) => Value::Text(v.to_string()),
                })
                .collect();
            let row: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Value::Null => "\\N".to_string(),
                    Value::Text(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            copy.push_str(&format!(
                "{}\t{}\tSRID=4326;{}\n",
                i + 1,
                row.join("\t"),
                g.to_wkt().unwrap()
            ));
            feats.push(Feature::new(g.clone(), values));
            geoms.push(g);
        }
        copy.push_str("\\.\n");
        pg.sql(&copy);
        store
            .write_layer(
                NewLayer {
                    name: table.into(),
                    kind: LayerKind::Generic,
                    schema: Schema::new(fields.clone()).unwrap(),
                    source_crs: "EPSG:4326".into(),
                    source: file.into(),
                },
                feats.into_iter().map(Ok::<_, std::io::Error>),
                |_| {},
            )
            .unwrap();
        let cols = std::iter::once("fid".to_string())
            .chain(fields.iter().map(|f| format!("\"{}\"", f.name)))
            .collect::<Vec<_>>()
            .join(", ");
        all_sources.push((table.to_string(), geoms, cols));
    }
    let engine = Engine::open(store).unwrap();
    for (table, geoms, cols) in &all_sources {
        let refs: Vec<&Geometry<f64>> = geoms.iter().collect();
        let bounds = engine.layer(table).unwrap().meta.bounds.unwrap();
        for z in [13u32, 14, 15] {
            for tile in tiles_over(bounds, z) {
                checked += compare_tile(&pg, &engine, table, cols, tile, &refs).features;
            }
        }
    }
    eprintln!("{checked} sample-set features agree with ST_AsMVT");
    assert!(checked > 300, "{checked}");
}
