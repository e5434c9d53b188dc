//! The analytics layers of the generated city, laid over the synthetic parcel grid: control lines
//! (development boundary, basic farmland blocks, an ecological strip), heritage sites with their
//! control zones, pipelines along grid lines, planning zones, approvals and change patches. Same
//! `(parcels, seed)`, same layers; each also goes to a TSV that PostgreSQL's COPY loads (fid, the
//! text columns, EWKT in EPSG:4326).
use std::io::Write;
use std::path::Path;

use geo::{Geometry, LineString, Polygon};
use geozero::ToWkt;
use onemap_engine::model::{Feature, Field, FieldType, LayerKind, NewLayer, Schema, Value};
use onemap_engine::synth::{ORIGIN, STEP, columns};
use onemap_engine::{Engine, Store};

/// Change patches in the violation benchmark.
pub const PATCHES: usize = 10_000;
/// Approvals (permit red lines).
pub const APPROVALS: usize = 5_000;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A number in [0, 1) from a hash of `k` and `salt`.
fn unit(k: u64, salt: u64) -> f64 {
    (mix(k ^ mix(salt)) >> 11) as f64 / (1u64 << 53) as f64
}

/// The city's extent in lon/lat: (min lon, min lat, width, height).
pub fn extent(parcels: usize) -> (f64, f64, f64, f64) {
    let cols = columns(parcels);
    let rows = (parcels as u64).div_ceil(cols);
    (ORIGIN.0, ORIGIN.1, cols as f64 * STEP, rows as f64 * STEP)
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )
}

/// A layer: name, kind, (field, type) list and features.
pub struct CityLayer {
    /// Layer name (the rules' names).
    pub name: &'static str,
    /// Kind.
    pub kind: LayerKind,
    /// Fields.
    pub fields: Vec<(&'static str, FieldType)>,
    /// Features.
    pub features: Vec<Feature>,
}

fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// Every analytics layer for a city of `parcels` parcels.
pub fn layers(parcels: usize) -> Vec<CityLayer> {
    let (x0, y0, w, h) = extent(parcels);
    let at = |fx: f64, fy: f64| (x0 + fx * w, y0 + fy * h);
    let frect = |a: f64, b: f64, c: f64, d: f64| {
        let (p, q) = (at(a, b), at(c, d));
        rect(p.0, p.1, q.0, q.1)
    };
    let mut control = vec![Feature::new(
        Geometry::Polygon(frect(0.1, 0.1, 0.9, 0.9)),
        vec![t("城镇开发边界"), t("开发边界"), t("KFBJ-01")],
    )];
    for k in 0..16u64 {
        let (gx, gy) = ((k % 4) as f64 * 0.25, (k / 4) as f64 * 0.25);
        let (fx, fy) = (gx + 0.02 + 0.1 * unit(k, 1), gy + 0.02 + 0.1 * unit(k, 2));
        control.push(Feature::new(
            Geometry::Polygon(frect(fx, fy, fx + 0.08, fy + 0.08)),
            vec![
                t("永久基本农田"),
                t(format!("基本农田{k}")),
                t(format!("JBNT-{k:02}")),
            ],
        ));
    }
    control.push(Feature::new(
        Geometry::Polygon(frect(0.0, 0.45, 1.0, 0.47)),
        vec![t("生态保护红线"), t("生态廊道"), t("STHX-01")],
    ));
    let mut heritage = Vec::new();
    for k in 0..8u64 {
        let (fx, fy) = (0.1 + 0.8 * unit(k, 3), 0.1 + 0.8 * unit(k, 4));
        let inner = frect(fx - 0.015, fy - 0.015, fx + 0.015, fy + 0.015);
        let outer = frect(fx - 0.03, fy - 0.03, fx + 0.03, fy + 0.03);
        let name = format!("遗址{k}");
        heritage.push(Feature::new(
            Geometry::Polygon(inner.clone()),
            vec![t("保护范围"), t(name.clone()), t("省级")],
        ));
        let hole = LineString::from(inner.exterior().0.iter().rev().copied().collect::<Vec<_>>());
        heritage.push(Feature::new(
            Geometry::Polygon(Polygon::new(outer.exterior().clone(), vec![hole])),
            vec![t("建设控制地带"), t(name), t("省级")],
        ));
    }
    let kinds = [
        ("JS", Some(300.0), None),
        ("PS", Some(800.0), None),
        ("RQ", Some(200.0), Some("中压B")),
        ("RL", Some(400.0), None),
        ("DL", None, Some("10kV")),
        ("TX", None, None),
    ];
    let mut pipes = Vec::new();
    let cols = columns(parcels);
    let rows = (parcels as u64).div_ceil(cols);
    let mut n = 0u64;
    let mut pipe = |line: Vec<(f64, f64)>, n: &mut u64| {
        let (code, d, p) = kinds[(*n % kinds.len() as u64) as usize];
        *n += 1;
        pipes.push(Feature::new(
            Geometry::LineString(LineString::from(line)),
            vec![
                t(format!("GX{n:06}")),
                t(code),
                d.map_or(Value::Null, Value::Float),
                p.map_or(Value::Null, t),
            ],
        ));
    };
    // Pipes run between nodes 25 grid steps (~1.2 km) apart with a vertex every step, as surveyed
    // pipelines do: one 50 km straight segment would be a different line to PostGIS geography (a
    // great circle, 28 m off at its middle) than to planar lon/lat.
    for j in (12..rows).step_by(25) {
        let y = y0 + j as f64 * STEP + STEP * 0.02;
        for a in (0..cols).step_by(25) {
            pipe(
                (a..=(a + 25).min(cols))
                    .map(|i| (x0 + i as f64 * STEP, y))
                    .collect(),
                &mut n,
            );
        }
    }
    for i in (12..cols).step_by(25) {
        let x = x0 + i as f64 * STEP + STEP * 0.02;
        for b in (0..rows).step_by(25) {
            pipe(
                (b..=(b + 25).min(rows))
                    .map(|j| (x, y0 + j as f64 * STEP))
                    .collect(),
                &mut n,
            );
        }
    }
    let codes = [
        ("0701", 2.5, 0.3, 60.0, 0.3),
        ("0901", 3.0, 0.4, 80.0, 0.2),
        ("0801", 1.5, 0.35, 40.0, 0.35),
        ("1001", 1.2, 0.5, 30.0, 0.15),
        ("1401", 0.1, 0.05, 10.0, 0.7),
        ("0804", 1.2, 0.3, 30.0, 0.35),
    ];
    let mut planning = Vec::new();
    for zj in 0..rows.div_ceil(10) {
        for zi in 0..cols.div_ceil(10) {
            let k = zj * 1000 + zi;
            let (code, far, dens, ht, green) = codes[(mix(k) % codes.len() as u64) as usize];
            let (a, b) = (x0 + zi as f64 * 10.0 * STEP, y0 + zj as f64 * 10.0 * STEP);
            planning.push(Feature::new(
                Geometry::Polygon(rect(a, b, a + 10.0 * STEP, b + 10.0 * STEP)),
                vec![
                    t(format!("Z{zi:03}-{zj:03}")),
                    t(code),
                    Value::Float(far),
                    Value::Float(dens),
                    Value::Float(ht),
                    Value::Float(green),
                ],
            ));
        }
    }
    let mut approvals = Vec::new();
    let mut boxes = Vec::new();
    for k in 0..APPROVALS as u64 {
        let (fx, fy) = (0.12 + 0.76 * unit(k, 5), 0.12 + 0.76 * unit(k, 6));
        let (a, b) = at(fx, fy);
        let bx = (a, b, a + 2.0 * STEP, b + 2.0 * STEP);
        boxes.push(bx);
        let code = codes[(mix(k ^ 77) % codes.len() as u64) as usize].0;
        approvals.push(Feature::new(
            Geometry::Polygon(rect(bx.0, bx.1, bx.2, bx.3)),
            vec![t(format!("新规许字〔2025〕{k:05}号")), t(code)],
        ));
    }
    let towns = 12u64;
    let mut patches = Vec::new();
    for k in 0..PATCHES as u64 {
        let r = unit(k, 7);
        let side = STEP * (0.4 + 0.8 * unit(k, 8));
        let (a, b) = if r < 0.4 {
            // Inside an approval.
            let bx = boxes[(mix(k) % boxes.len() as u64) as usize];
            (bx.0 + 0.1 * STEP, bx.1 + 0.1 * STEP)
        } else if r < 0.5 {
            // Across an approval's east edge.
            let bx = boxes[(mix(k) % boxes.len() as u64) as usize];
            (bx.2 - side * 0.5, bx.1 + 0.5 * STEP)
        } else {
            at(0.02 + 0.96 * unit(k, 9), 0.02 + 0.96 * unit(k, 10))
        };
        let after = ["0701", "1001", "0901", "0103", "0201"][(mix(k ^ 99) % 5) as usize];
        let town = ((a - x0) / w * towns as f64)
            .floor()
            .clamp(0.0, (towns - 1) as f64) as u64;
        patches.push(Feature::new(
            Geometry::Polygon(rect(a, b, a + side, b + side)),
            vec![
                t(format!("4101842025{k:06}")),
                t(format!("410184{:03}", town + 1)),
                t(after),
            ],
        ));
    }
    let tx = FieldType::Text;
    let fl = FieldType::Float;
    vec![
        CityLayer {
            name: "control_lines",
            kind: LayerKind::ControlLine,
            fields: vec![("line_type", tx), ("name", tx), ("code", tx)],
            features: control,
        },
        CityLayer {
            name: "heritage",
            kind: LayerKind::Heritage,
            fields: vec![
                ("zone_type", tx),
                ("site_name", tx),
                ("protection_level", tx),
            ],
            features: heritage,
        },
        CityLayer {
            name: "pipelines",
            kind: LayerKind::Pipeline,
            fields: vec![
                ("pipe_id", tx),
                ("pipe_kind", tx),
                ("diameter_mm", fl),
                ("pressure", tx),
            ],
            features: pipes,
        },
        CityLayer {
            name: "planning",
            kind: LayerKind::Planning,
            fields: vec![
                ("zone_id", tx),
                ("land_use_code", tx),
                ("far_max", fl),
                ("density_max", fl),
                ("height_max_m", fl),
                ("green_min", fl),
            ],
            features: planning,
        },
        CityLayer {
            name: "approvals",
            kind: LayerKind::Approval,
            fields: vec![("permit_no", tx), ("approved_use", tx)],
            features: approvals,
        },
        CityLayer {
            name: "change_patches",
            kind: LayerKind::ChangePatch,
            fields: vec![("JCBH", tx), ("XZQDM", tx), ("land_class_after", tx)],
            features: patches,
        },
    ]
}

/// Write the analytics layers into the store (the parcels layer is named `cadastral` by the
/// rules: `parcels` stays as the tile benches' name, and is read as a cadastral layer) and each
/// as `<dir>/<name>.tsv`.
pub fn write(store: &Path, parcels: usize, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Store::open(store)?);
    std::fs::create_dir_all(dir)?;
    for l in layers(parcels) {
        let schema = Schema::new(l.fields.iter().map(|(n, ty)| Field::new(*n, *ty)).collect())?;
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{}.tsv", l.name)))?);
        for (i, f) in l.features.iter().enumerate() {
            write!(out, "{}", i + 1)?;
            for v in &f.properties {
                match v {
                    Value::Null => write!(out, "\t\\N")?,
                    other => write!(out, "\t{other}")?,
                }
            }
            writeln!(out, "\tSRID=4326;{}", f.geometry.to_wkt()?)?;
        }
        out.flush()?;
        engine.write_layer(
            &onemap_engine::Caller::operator(),
            "import",
            NewLayer {
                name: l.name.into(),
                kind: l.kind,
                schema,
                source_crs: "EPSG:4490".into(),
                source: "gen-city".into(),
            },
            l.features.into_iter().map(Ok::<_, std::io::Error>),
            |_| {},
        )?;
    }
    Ok(())
}

/// The `k`-th benchmark site: a 1 km² square (1000 m × 1000 m at the city's latitude) inside the
/// development boundary.
pub fn site(parcels: usize, k: u64) -> Polygon<f64> {
    let (x0, y0, w, h) = extent(parcels);
    let lat = (y0 + h / 2.0).to_radians();
    let dlon = 1000.0 / (111_320.0 * lat.cos());
    let dlat: f64 = 1000.0 / 110_950.0;
    let (fx, fy) = (0.12 + 0.7 * unit(k, 11), 0.12 + 0.7 * unit(k, 12));
    let (a, b) = (x0 + fx * w, y0 + fy * h);
    rect(a, b, a + dlon.min(w * 0.5), b + dlat.min(h * 0.5))
}
