//! Fuzzing the engine's parsers with bolero: random bytes, structure-aware inputs (WKT and CQL2
//! built from a grammar, with nesting), and the saved corpus under `tests/__fuzz__/<target>/`
//! (inputs that once failed live in `crashes/` and are replayed by every run). A plain
//! `cargo test` runs each target for about a second; `scripts/fuzz.sh --minutes N` for longer.
use arbitrary::Arbitrary;
use bolero::check;
use onemap_engine::fuzzing;

use onemap_engine::fuzzing::{finish, tick};

/// A structured input built from the fuzzer's bytes with `arbitrary`. Not bolero's
/// `gen_arbitrary`: under bolero 0.13's random driver it yielded no value for these types, so the
/// targets ran empty (the input count `finish` checks caught it). Capped at 4 KiB so the nesting
/// it builds stays within a test thread's stack.
fn structured<T: for<'a> Arbitrary<'a>>(d: &[u8]) -> Option<T> {
    T::arbitrary(&mut arbitrary::Unstructured::new(&d[..d.len().min(4096)])).ok()
}

#[test]
fn fuzz_wkt_bytes() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::wkt(d)
    });
    finish("fuzz_wkt_bytes");
}

/// A WKT geometry from a small grammar, so random inputs reach the parser's inner states.
#[derive(Debug, Arbitrary)]
enum Wkt {
    Point(f64, f64),
    Line(Vec<(f64, f64)>),
    Polygon(Vec<Vec<(f64, f64)>>),
    Multi(Vec<Wkt>),
    Collection(Vec<Wkt>),
    Nested(u16),
    Empty,
}

fn render(w: &Wkt, out: &mut String, depth: usize) {
    let pts = |v: &[(f64, f64)]| {
        v.iter()
            .map(|(x, y)| format!("{x} {y}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    if depth > 40 {
        out.push_str("POINT EMPTY");
        return;
    }
    match w {
        Wkt::Point(x, y) => out.push_str(&format!("POINT({x} {y})")),
        Wkt::Line(v) => out.push_str(&format!("LINESTRING({})", pts(v))),
        Wkt::Polygon(rings) => out.push_str(&format!(
            "POLYGON({})",
            rings
                .iter()
                .map(|r| format!("({})", pts(r)))
                .collect::<Vec<_>>()
                .join(",")
        )),
        Wkt::Multi(parts) | Wkt::Collection(parts) => {
            out.push_str(if matches!(w, Wkt::Multi(_)) {
                "MULTIPOLYGON("
            } else {
                "GEOMETRYCOLLECTION("
            });
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(p, out, depth + 1);
            }
            out.push(')');
        }
        Wkt::Nested(n) => {
            let n = usize::from(*n);
            out.push_str(&"GEOMETRYCOLLECTION(".repeat(n));
            out.push_str("POINT(1 2)");
            out.push_str(&")".repeat(n));
        }
        Wkt::Empty => out.push_str("GEOMETRYCOLLECTION EMPTY"),
    }
}

#[test]
fn fuzz_wkt_grammar() {
    check!().for_each(|d: &[u8]| {
        let Some(w) = structured::<Wkt>(d) else {
            return;
        };
        tick();
        let mut s = String::new();
        render(&w, &mut s, 0);
        fuzzing::wkt(s.as_bytes());
    });
    finish("fuzz_wkt_grammar");
}

#[test]
fn fuzz_wkb() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::wkb(d)
    });
    finish("fuzz_wkb");
}

#[test]
fn fuzz_cql2_text() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::cql2_text(d)
    });
    finish("fuzz_cql2_text");
}

/// CQL2 text from pieces of its grammar.
#[derive(Debug, Arbitrary)]
enum Cql {
    Cmp(u8, u8, i32),
    Like(u8, String),
    In(u8, Vec<i16>),
    Between(u8, f32, f32),
    Null(u8, bool),
    Not(Box<Cql>),
    And(Box<Cql>, Box<Cql>),
    Or(Box<Cql>, Box<Cql>),
    Paren(u16, Box<Cql>),
    Spatial(u8, Wkt),
}

fn cql(c: &Cql, depth: usize) -> String {
    const FIELDS: [&str; 4] = ["DLBM", "area", "\"权利人\"", "zone_id"];
    let f = |k: &u8| FIELDS[usize::from(*k) % FIELDS.len()];
    if depth > 30 {
        return "DLBM = '0101'".into();
    }
    match c {
        Cql::Cmp(k, op, v) => format!(
            "{} {} {v}",
            f(k),
            ["=", "<>", "<", "<=", ">", ">="][usize::from(*op) % 6]
        ),
        Cql::Like(k, s) => format!("{} LIKE '{}'", f(k), s.replace('\'', "''")),
        Cql::In(k, v) => format!(
            "{} IN ({})",
            f(k),
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Cql::Between(k, a, b) => format!("{} BETWEEN {a} AND {b}", f(k)),
        Cql::Null(k, not) => format!("{} IS {}NULL", f(k), if *not { "NOT " } else { "" }),
        Cql::Not(x) => format!("NOT {}", cql(x, depth + 1)),
        Cql::And(a, b) => format!("{} AND {}", cql(a, depth + 1), cql(b, depth + 1)),
        Cql::Or(a, b) => format!("{} OR {}", cql(a, depth + 1), cql(b, depth + 1)),
        Cql::Paren(n, x) => {
            let n = usize::from(*n) % 400;
            format!("{}{}{}", "(".repeat(n), cql(x, depth + 1), ")".repeat(n))
        }
        Cql::Spatial(k, w) => {
            let mut s = String::new();
            render(w, &mut s, 0);
            format!(
                "{}(geometry, {s})",
                ["S_INTERSECTS", "S_WITHIN", "S_DWITHIN"][usize::from(*k) % 3]
            )
        }
    }
}

#[test]
fn fuzz_cql2_grammar() {
    check!().for_each(|d: &[u8]| {
        let Some(c) = structured::<Cql>(d) else {
            return;
        };
        tick();
        fuzzing::cql2_text(cql(&c, 0).as_bytes())
    });
    finish("fuzz_cql2_grammar");
}

#[test]
fn fuzz_cql2_json() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::cql2_json(d)
    });
    finish("fuzz_cql2_json");
}

#[test]
fn fuzz_tile_address() {
    check!()
        .with_type::<(u32, u64, u64)>()
        .for_each(|(z, x, y)| {
            tick();
            fuzzing::tile_address(*z, *x, *y)
        });
    finish("fuzz_tile_address");
}

#[test]
fn fuzz_polygon_validity() {
    check!().for_each(|d: &[u8]| {
        let Some(pts) = structured::<Vec<(i8, i8)>>(d) else {
            return;
        };
        tick();
        let coords: Vec<(f64, f64)> = pts
            .iter()
            .take(200)
            .map(|(x, y)| (113.7 + f64::from(*x) * 1e-4, 34.4 + f64::from(*y) * 1e-4))
            .collect();
        fuzzing::polygon(&coords);
    });
    finish("fuzz_polygon_validity");
}

#[test]
fn fuzz_policy() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::policy(d)
    });
    finish("fuzz_policy");
}
