//! The encoder against the simple valid cases of npm `@mapbox/mvt-fixtures` (installed by
//! `scripts/setup.sh test` into tile-server/web/node_modules): each fixture's geometry, turned
//! into shapes, must encode to the fixture's command integers exactly.
mod support;

use std::path::PathBuf;

use onemap_engine::tiling::{ShapeFeature, TileShape, encode_shapes};
use support::mvt;

fn fixtures_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tile-server/web/node_modules/@mapbox/mvt-fixtures/fixtures");
    support::require(
        "npm package @mapbox/mvt-fixtures",
        d.is_dir(),
        "scripts/setup.sh test installs the npm packages",
    )
    .then_some(d)
}

fn shape_of(kind: u32, geometry: &[u32]) -> TileShape {
    let parts = mvt::parts(geometry);
    let open = |r: &Vec<(i64, i64)>| -> Vec<(i32, i32)> {
        let mut v: Vec<(i32, i32)> = r.iter().map(|&(x, y)| (x as i32, y as i32)).collect();
        if v.len() > 1 && v.first() == v.last() {
            v.pop();
        }
        v
    };
    match kind {
        1 => TileShape::Points(
            parts
                .iter()
                .flatten()
                .map(|&(x, y)| (x as i32, y as i32))
                .collect(),
        ),
        2 => TileShape::Lines(
            parts
                .iter()
                .map(|p| p.iter().map(|&(x, y)| (x as i32, y as i32)).collect())
                .collect(),
        ),
        3 => {
            // A positive ring starts a polygon, negative rings are its holes.
            let mut polys: Vec<Vec<Vec<(i32, i32)>>> = Vec::new();
            for r in &parts {
                if mvt::area2(r) > 0 || polys.is_empty() {
                    polys.push(vec![open(r)]);
                } else if let Some(last) = polys.last_mut() {
                    last.push(open(r));
                }
            }
            TileShape::Polygons(polys)
        }
        k => panic!("geometry type {k}"),
    }
}

#[test]
fn encoder_reproduces_mvt_fixtures() {
    let Some(dir) = fixtures_dir() else { return };
    // The valid single-geometry fixtures: spec examples (017–022) and clipped squares (053–056).
    let ids = [
        "017", "018", "019", "020", "021", "022", "053", "054", "055", "056",
    ];
    for id in ids {
        let bytes = std::fs::read(dir.join(id).join("tile.mvt")).unwrap();
        let layers = mvt::decode(&bytes);
        let layer = &layers[0];
        let feature = &layer.features[0];
        let shape = shape_of(feature.kind, &feature.geometry);
        let ours = encode_shapes(
            &layer.name,
            layer.extent,
            &[ShapeFeature {
                id: feature.id,
                shape,
                tags: vec![],
            }],
        )
        .unwrap();
        let back = mvt::decode(&ours);
        assert_eq!(back.len(), 1, "fixture {id}");
        assert_eq!(back[0].version, 2, "fixture {id}");
        assert_eq!(back[0].extent, layer.extent, "fixture {id}");
        assert_eq!(back[0].features[0].kind, feature.kind, "fixture {id}");
        assert_eq!(back[0].features[0].id, feature.id, "fixture {id}");
        assert_eq!(
            back[0].features[0].geometry, feature.geometry,
            "fixture {id}: command integers differ"
        );
    }
}
