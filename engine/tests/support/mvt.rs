//! A small MVT decoder for tests, written from the 2.1 spec and independent of the encoder: a
//! protobuf walk to layers, features, tags and geometry commands, and the commands to rings.
#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Float(f32),
    Double(f64),
    Int(i64),
    Uint(u64),
    Sint(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Default)]
pub struct Feature {
    pub id: Option<u64>,
    pub tags: Vec<u32>,
    pub kind: u32,
    pub geometry: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub version: u32,
    pub name: String,
    pub extent: u32,
    pub keys: Vec<String>,
    pub values: Vec<Val>,
    pub features: Vec<Feature>,
}

impl Layer {
    pub fn properties(&self, f: &Feature) -> Vec<(String, Val)> {
        f.tags
            .chunks(2)
            .map(|kv| {
                (
                    self.keys[kv[0] as usize].clone(),
                    self.values[kv[1] as usize].clone(),
                )
            })
            .collect()
    }
}

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

/// (field number, wire type, varint value or bytes) for each field of a message.
fn fields(b: &[u8]) -> Vec<(u64, u64, u64, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        let (num, wt) = (key >> 3, key & 7);
        match wt {
            0 => {
                let v = varint(b, &mut i);
                out.push((num, wt, v, &b[0..0]));
            }
            1 => {
                out.push((num, wt, 0, &b[i..i + 8]));
                i += 8;
            }
            2 => {
                let len = varint(b, &mut i) as usize;
                out.push((num, wt, 0, &b[i..i + len]));
                i += len;
            }
            5 => {
                out.push((num, wt, 0, &b[i..i + 4]));
                i += 4;
            }
            _ => panic!("unexpected wire type {wt}"),
        }
    }
    out
}

fn packed(b: &[u8]) -> Vec<u32> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        out.push(varint(b, &mut i) as u32);
    }
    out
}

fn value(b: &[u8]) -> Val {
    let (num, _, v, bytes) = fields(b)[0];
    match num {
        1 => Val::Str(String::from_utf8(bytes.to_vec()).unwrap()),
        2 => Val::Float(f32::from_le_bytes(bytes.try_into().unwrap())),
        3 => Val::Double(f64::from_le_bytes(bytes.try_into().unwrap())),
        4 => Val::Int(v as i64),
        5 => Val::Uint(v),
        6 => Val::Sint(((v >> 1) as i64) ^ -((v & 1) as i64)),
        7 => Val::Bool(v != 0),
        n => panic!("value field {n}"),
    }
}

pub fn decode(tile: &[u8]) -> Vec<Layer> {
    let mut layers = Vec::new();
    for (num, _, _, lb) in fields(tile) {
        assert_eq!(num, 3, "a tile holds only layers");
        let mut l = Layer {
            version: 1,
            extent: 4096,
            ..Default::default()
        };
        for (n, _, v, b) in fields(lb) {
            match n {
                15 => l.version = v as u32,
                1 => l.name = String::from_utf8(b.to_vec()).unwrap(),
                2 => {
                    let mut f = Feature::default();
                    for (fnum, _, fv, fb) in fields(b) {
                        match fnum {
                            1 => f.id = Some(fv),
                            2 => f.tags = packed(fb),
                            3 => f.kind = fv as u32,
                            4 => f.geometry = packed(fb),
                            x => panic!("feature field {x}"),
                        }
                    }
                    l.features.push(f);
                }
                3 => l.keys.push(String::from_utf8(b.to_vec()).unwrap()),
                4 => l.values.push(value(b)),
                5 => l.extent = v as u32,
                x => panic!("layer field {x}"),
            }
        }
        layers.push(l);
    }
    layers
}

/// Geometry commands to parts (points: one part with all points; lines: one part per line;
/// polygons: one part per ring, closed by repeating the first point).
pub fn parts(geometry: &[u32]) -> Vec<Vec<(i64, i64)>> {
    let zz = |p: u32| ((p >> 1) as i64) ^ -((p & 1) as i64);
    let (mut x, mut y) = (0i64, 0i64);
    let mut out: Vec<Vec<(i64, i64)>> = Vec::new();
    let mut i = 0;
    while i < geometry.len() {
        let (id, count) = (geometry[i] & 7, geometry[i] >> 3);
        i += 1;
        match id {
            1 | 2 => {
                for _ in 0..count {
                    x += zz(geometry[i]);
                    y += zz(geometry[i + 1]);
                    i += 2;
                    if id == 1 {
                        out.push(vec![(x, y)]);
                    } else {
                        out.last_mut().expect("LineTo after MoveTo").push((x, y));
                    }
                }
            }
            7 => {
                let ring = out.last_mut().expect("ClosePath after MoveTo");
                let first = ring[0];
                ring.push(first);
            }
            c => panic!("command {c}"),
        }
    }
    out
}

/// Twice the signed area of a closed ring (positive = MVT exterior in y-down units).
pub fn area2(ring: &[(i64, i64)]) -> i64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}
