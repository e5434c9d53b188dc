//! Writing prepared shapes as MVT 2.1 protobuf with the `mvt` crate.
use mvt::{GeomData, GeomEncoder, GeomType};

use super::shape::{Pt, TileShape};
use crate::error::{Error, Result};
use crate::model::Value;

fn mvt_err(e: mvt::Error) -> Error {
    Error::Query(format!("tile encoding failed: {e}"))
}

/// Join line parts that continue one another: MVT needs a MoveTo per part, and a part starting
/// where the previous one ended would otherwise be written without one.
fn joined_lines(lines: &[Vec<Pt>]) -> Vec<Vec<Pt>> {
    let mut out: Vec<Vec<Pt>> = Vec::with_capacity(lines.len());
    for l in lines {
        match out.last_mut() {
            Some(prev) if prev.last() == l.first() => prev.extend_from_slice(&l[1..]),
            _ => out.push(l.clone()),
        }
    }
    out
}

/// The geometry commands of a shape.
pub fn geom_data(shape: &TileShape) -> Result<GeomData> {
    match shape {
        TileShape::Points(points) => {
            let mut e = GeomEncoder::<i32>::new(GeomType::Point);
            for &(x, y) in points {
                e.add_point(x, y).map_err(mvt_err)?;
            }
            e.encode().map_err(mvt_err)
        }
        TileShape::Lines(lines) => {
            let mut e = GeomEncoder::<i32>::new(GeomType::Linestring);
            for line in joined_lines(lines) {
                for &(x, y) in &line {
                    e.add_point(x, y).map_err(mvt_err)?;
                }
                e.complete_geom().map_err(mvt_err)?;
            }
            e.encode().map_err(mvt_err)
        }
        TileShape::Polygons(polys) => {
            let mut e = GeomEncoder::<i32>::new(GeomType::Polygon);
            let mut cursor: Option<Pt> = None;
            for ring in polys.iter().flatten() {
                // A ring starting at the cursor would lose its MoveTo: start one vertex later.
                let start = usize::from(cursor == ring.first().copied());
                let n = ring.len();
                for k in 0..n {
                    let (x, y) = ring[(start + k) % n];
                    e.add_point(x, y).map_err(mvt_err)?;
                }
                cursor = Some(ring[(start + n - 1) % n]);
                e.complete_geom().map_err(mvt_err)?;
            }
            e.encode().map_err(mvt_err)
        }
    }
}

/// One feature to write.
pub struct OutFeature<'a> {
    /// Feature id (none for coalesced features).
    pub id: Option<u64>,
    /// Geometry.
    pub shape: &'a TileShape,
    /// Attributes (nulls are left out).
    pub tags: Vec<(&'a str, &'a Value)>,
}

/// Encode one layer; `None` when it has no features.
pub fn layer(
    tile: &mvt::Tile,
    name: &str,
    features: &[OutFeature<'_>],
) -> Result<Option<mvt::Layer>> {
    if features.is_empty() {
        return Ok(None);
    }
    let mut layer = tile.create_layer(name);
    for f in features {
        let mut feature = layer.into_feature(geom_data(f.shape)?);
        if let Some(id) = f.id {
            feature.set_id(id);
        }
        for (key, value) in &f.tags {
            match value {
                Value::Null => {}
                Value::Bool(b) => feature.add_tag_bool(key, *b),
                Value::Int(i) => feature.add_tag_sint(key, *i),
                Value::Float(x) => feature.add_tag_double(key, *x),
                Value::Text(s) => feature.add_tag_string(key, s),
                Value::Date(d) => feature.add_tag_string(key, &d.format("%Y-%m-%d").to_string()),
            }
        }
        layer = feature.into_layer();
    }
    Ok(Some(layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(shape: &TileShape) -> Vec<u32> {
        // GeomData keeps its integers private; read them back through a one-feature tile.
        let tile = mvt::Tile::new(4096);
        let l = layer(
            &tile,
            "t",
            &[OutFeature {
                id: None,
                shape,
                tags: vec![],
            }],
        )
        .unwrap()
        .unwrap();
        let mut t = mvt::Tile::new(4096);
        t.add_layer(l).unwrap();
        let bytes = t.to_bytes().unwrap();
        decode_first_geometry(&bytes)
    }

    /// A minimal protobuf walk to the first feature's packed geometry (tile.layers[0].features[0]
    /// .geometry): enough for known-answer checks without trusting the encoder's own types.
    fn decode_first_geometry(b: &[u8]) -> Vec<u32> {
        fn varint(b: &[u8], i: &mut usize) -> u64 {
            let (mut v, mut s) = (0u64, 0);
            loop {
                let x = b[*i];
                *i += 1;
                v |= u64::from(x & 0x7f) << s;
                if x < 0x80 {
                    return v;
                }
                s += 7;
            }
        }
        fn field(b: &[u8], want: u64) -> &[u8] {
            let mut i = 0;
            while i < b.len() {
                let key = varint(b, &mut i);
                let (num, wt) = (key >> 3, key & 7);
                match wt {
                    0 => {
                        varint(b, &mut i);
                    }
                    2 => {
                        let len = varint(b, &mut i) as usize;
                        if num == want {
                            return &b[i..i + len];
                        }
                        i += len;
                    }
                    1 => i += 8,
                    5 => i += 4,
                    _ => panic!("wire type {wt}"),
                }
            }
            panic!("field {want} not found")
        }
        let layer = field(b, 3);
        let feature = field(layer, 2);
        let geom = field(feature, 4);
        let mut i = 0;
        let mut out = Vec::new();
        while i < geom.len() {
            out.push(varint(geom, &mut i) as u32);
        }
        out
    }

    #[test]
    fn spec_example_point() {
        // MVT 2.1 spec, 4.3.5.1: a point at (25, 17) is [9, 50, 34].
        assert_eq!(
            commands(&TileShape::Points(vec![(25, 17)])),
            vec![9, 50, 34]
        );
    }

    #[test]
    fn spec_example_multipoint() {
        // 4.3.5.2: (5,7) and (3,2) is [17, 10, 14, 3, 9].
        assert_eq!(
            commands(&TileShape::Points(vec![(5, 7), (3, 2)])),
            vec![17, 10, 14, 3, 9]
        );
    }

    #[test]
    fn spec_example_linestring() {
        // 4.3.5.3: (2,2) (2,10) (10,10) is [9, 4, 4, 18, 0, 16, 16, 0].
        assert_eq!(
            commands(&TileShape::Lines(vec![vec![(2, 2), (2, 10), (10, 10)]])),
            vec![9, 4, 4, 18, 0, 16, 16, 0]
        );
    }

    #[test]
    fn spec_example_multilinestring() {
        // 4.3.5.4: [9 4 4 18 0 16 16 0 9 17 17 10 4 8].
        assert_eq!(
            commands(&TileShape::Lines(vec![
                vec![(2, 2), (2, 10), (10, 10)],
                vec![(1, 1), (3, 5)]
            ])),
            vec![9, 4, 4, 18, 0, 16, 16, 0, 9, 17, 17, 10, 4, 8]
        );
    }

    #[test]
    fn spec_example_polygon() {
        // 4.3.5.5: (3,6) (8,12) (20,34) is [9, 6, 12, 18, 10, 12, 24, 44, 15].
        assert_eq!(
            commands(&TileShape::Polygons(vec![vec![vec![
                (3, 6),
                (8, 12),
                (20, 34)
            ]]])),
            vec![9, 6, 12, 18, 10, 12, 24, 44, 15]
        );
    }

    #[test]
    fn spec_example_multipolygon() {
        // 4.3.5.6: two polygons, the second with a hole.
        let shape = TileShape::Polygons(vec![
            vec![vec![(0, 0), (10, 0), (10, 10), (0, 10)]],
            vec![
                vec![(11, 11), (20, 11), (20, 20), (11, 20)],
                vec![(13, 13), (13, 17), (17, 17), (17, 13)],
            ],
        ]);
        assert_eq!(
            commands(&shape),
            vec![
                9, 0, 0, 26, 20, 0, 0, 20, 19, 0, 15, 9, 22, 2, 26, 18, 0, 0, 18, 17, 0, 15, 9, 4,
                13, 26, 0, 8, 8, 0, 0, 7, 15
            ]
        );
    }

    #[test]
    fn ring_starting_at_the_cursor_keeps_its_move_to() {
        // The hole starts where the exterior ended (0,10): it must still begin with MoveTo (9).
        let shape = TileShape::Polygons(vec![vec![
            vec![(0, 0), (20, 0), (20, 20), (0, 10)],
            vec![(0, 10), (5, 5), (5, 12)],
        ]]);
        let c = commands(&shape);
        let mut ids = Vec::new();
        let mut i = 0;
        while i < c.len() {
            let (id, count) = (c[i] & 7, c[i] >> 3);
            ids.push(id);
            i += 1 + if id == 7 { 0 } else { 2 * count as usize };
        }
        assert_eq!(ids, vec![1, 2, 7, 1, 2, 7], "{c:?}");
    }
}
