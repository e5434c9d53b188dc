//! CQL2-JSON (OGC API – Features Part 3) into a [`Filter`]: the basic subset (comparisons, AND / OR
//! / NOT, LIKE, IN, BETWEEN, IS NULL) plus `s_intersects`, `s_within` and `s_dwithin` (metres) on
//! the `geometry` property with GeoJSON (or `{"bbox": [...]}`) literals. CQL2-text goes through
//! [`Filter::parse`], whose grammar is the same subset. Errors name the JSON path (`args/1/op`).
use geo::{Geometry, Rect};
use serde_json::Value as Json;

use super::filter::{CmpOp, Filter, GEOMETRY_PROPERTY, SpatialOp};
use crate::error::{Error, Result};
use crate::model::Value;

/// Deepest nesting accepted (a request must not overflow the stack).
const MAX_DEPTH: usize = 64;

fn err(path: &str, msg: impl std::fmt::Display) -> Error {
    let at = if path.is_empty() {
        "the filter".to_string()
    } else {
        format!("filter/{path}")
    };
    Error::Filter(format!("CQL2-JSON {at}: {msg}"))
}

fn join(path: &str, k: impl std::fmt::Display) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}/{k}")
    }
}

impl Filter {
    /// Parse a CQL2-JSON filter.
    pub fn from_cql2_json(v: &Json) -> Result<Filter> {
        expr(v, "", 0)
    }
}

fn args<'a>(v: &'a Json, path: &str, n: Option<usize>) -> Result<&'a [Json]> {
    let a = v
        .get("args")
        .and_then(Json::as_array)
        .ok_or_else(|| err(path, "expected \"args\": [...]"))?;
    if let Some(n) = n
        && a.len() != n
    {
        return Err(err(
            &join(path, "args"),
            format!("expected {n} arguments, got {}", a.len()),
        ));
    }
    Ok(a)
}

fn property(v: &Json, path: &str) -> Result<String> {
    v.get("property")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(path, "expected {\"property\": name}"))
}

fn literal(v: &Json, path: &str) -> Result<Value> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        // Numbers keep their text: binding converts them to the field's type, as in CQL2-text.
        Json::Number(n) => Value::Text(n.to_string()),
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(o) => match (o.get("date"), o.get("timestamp")) {
            (Some(Json::String(d)), _) | (_, Some(Json::String(d))) => Value::Text(d.clone()),
            _ => {
                return Err(err(
                    path,
                    "expected a literal (string, number, boolean, null, {\"date\": ...})",
                ));
            }
        },
        Json::Array(_) => return Err(err(path, "expected a single literal, not a list")),
    })
}

fn geometry(v: &Json, path: &str) -> Result<Geometry<f64>> {
    if let Some(b) = v.get("bbox").and_then(Json::as_array) {
        let n: Vec<f64> = b.iter().filter_map(Json::as_f64).collect();
        let [w, s, e, nn] = n[..] else {
            return Err(err(
                &join(path, "bbox"),
                "expected [west, south, east, north]",
            ));
        };
        if w > e || s > nn {
            return Err(err(&join(path, "bbox"), "west > east or south > north"));
        }
        return Ok(Geometry::Rect(Rect::new(
            geo::coord! { x: w, y: s },
            geo::coord! { x: e, y: nn },
        )));
    }
    // geojson's conversion panics on a position with fewer than two numbers: check first.
    fn positions_ok(c: &Json) -> bool {
        match c {
            Json::Array(a) if a.is_empty() => false,
            Json::Array(a) if a.first().is_some_and(Json::is_number) => {
                a.len() >= 2 && a.iter().all(|x| x.as_f64().is_some_and(f64::is_finite))
            }
            Json::Array(a) => a.iter().all(positions_ok),
            _ => false,
        }
    }
    let coords_ok = match v.get("coordinates") {
        Some(c) => positions_ok(c),
        None => v
            .get("geometries")
            .and_then(Json::as_array)
            .is_some_and(|gs| {
                gs.iter()
                    .all(|g| g.get("coordinates").is_some_and(positions_ok))
            }),
    };
    if !coords_ok {
        return Err(err(
            path,
            "expected a GeoJSON geometry whose positions have two numbers",
        ));
    }
    let g: geojson::Geometry = serde_json::from_value(v.clone())
        .map_err(|e| err(path, format!("expected a GeoJSON geometry ({e})")))?;
    Geometry::<f64>::try_from(g.value).map_err(|e| err(path, format!("geometry: {e}")))
}

fn expr(v: &Json, path: &str, depth: usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(err(
            path,
            format!("nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    if let Json::Bool(b) = v {
        // `true` / `false` as a whole filter: everything / nothing.
        return Ok(if *b {
            Filter::And(Vec::new())
        } else {
            Filter::Or(Vec::new())
        });
    }
    let op = v
        .get("op")
        .and_then(Json::as_str)
        .ok_or_else(|| err(path, "expected an object with \"op\" and \"args\""))?;
    let cmp = |o: &str| -> Option<CmpOp> {
        Some(match o {
            "=" => CmpOp::Eq,
            "<>" | "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    };
    let lower = op.to_ascii_lowercase();
    match lower.as_str() {
        "and" | "or" => {
            let a = args(v, path, None)?;
            if a.len() < 2 {
                return Err(err(
                    &join(path, "args"),
                    format!("'{op}' needs at least two arguments"),
                ));
            }
            let parts = a
                .iter()
                .enumerate()
                .map(|(i, x)| expr(x, &join(path, format!("args/{i}")), depth + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok(if lower == "and" {
                Filter::And(parts)
            } else {
                Filter::Or(parts)
            })
        }
        "not" => {
            let a = args(v, path, Some(1))?;
            Ok(Filter::Not(Box::new(expr(
                &a[0],
                &join(path, "args/0"),
                depth + 1,
            )?)))
        }
        "like" => {
            let a = args(v, path, Some(2))?;
            let field = property(&a[0], &join(path, "args/0"))?;
            match literal(&a[1], &join(path, "args/1"))? {
                Value::Text(pattern) => Ok(Filter::Like {
                    field,
                    pattern,
                    negated: false,
                }),
                _ => Err(err(&join(path, "args/1"), "LIKE needs a string pattern")),
            }
        }
        "in" => {
            let a = args(v, path, Some(2))?;
            let field = property(&a[0], &join(path, "args/0"))?;
            let list = a[1]
                .as_array()
                .ok_or_else(|| err(&join(path, "args/1"), "expected a list of literals"))?;
            let values = list
                .iter()
                .enumerate()
                .map(|(i, x)| literal(x, &join(path, format!("args/1/{i}"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(Filter::In {
                field,
                values,
                negated: false,
            })
        }
        "between" => {
            let a = args(v, path, Some(3))?;
            let field = property(&a[0], &join(path, "args/0"))?;
            let lo = literal(&a[1], &join(path, "args/1"))?;
            let hi = literal(&a[2], &join(path, "args/2"))?;
            Ok(Filter::And(vec![
                Filter::Compare {
                    field: field.clone(),
                    op: CmpOp::Ge,
                    value: lo,
                },
                Filter::Compare {
                    field,
                    op: CmpOp::Le,
                    value: hi,
                },
            ]))
        }
        "isnull" => {
            let a = args(v, path, Some(1))?;
            Ok(Filter::IsNull {
                field: property(&a[0], &join(path, "args/0"))?,
                negated: false,
            })
        }
        "s_intersects" | "s_within" | "s_dwithin" => {
            let dwithin = lower == "s_dwithin";
            let a = args(v, path, None)?;
            let want = if dwithin { 3..=4 } else { 2..=2 };
            if !want.contains(&a.len()) {
                return Err(err(
                    &join(path, "args"),
                    format!(
                        "'{op}' takes {} arguments",
                        if dwithin { "3 or 4" } else { "2" }
                    ),
                ));
            }
            let p = property(&a[0], &join(path, "args/0"))?;
            if !p.eq_ignore_ascii_case(GEOMETRY_PROPERTY) {
                return Err(err(
                    &join(path, "args/0"),
                    format!("the geometry property is '{GEOMETRY_PROPERTY}', not '{p}'"),
                ));
            }
            let g = geometry(&a[1], &join(path, "args/1"))?;
            let op = match lower.as_str() {
                "s_intersects" => SpatialOp::Intersects,
                "s_within" => SpatialOp::Within,
                _ => {
                    let d = a[2].as_f64().ok_or_else(|| {
                        err(&join(path, "args/2"), "expected a distance in metres")
                    })?;
                    if let Some(u) = a.get(3) {
                        let ok = u.as_str().is_some_and(|u| {
                            matches!(
                                u.to_ascii_lowercase().as_str(),
                                "m" | "meters" | "metres" | "meter" | "metre"
                            )
                        });
                        if !ok {
                            return Err(err(
                                &join(path, "args/3"),
                                "the only distance unit is metres (\"meters\")",
                            ));
                        }
                    }
                    SpatialOp::DWithin(d)
                }
            };
            Ok(Filter::Spatial { op, geometry: g })
        }
        o => {
            let Some(c) = cmp(o) else {
                return Err(err(
                    &join(path, "op"),
                    format!(
                        "unknown operator '{op}' (and, or, not, =, <>, <, <=, >, >=, like, in, between, isNull, s_intersects, s_within, s_dwithin)"
                    ),
                ));
            };
            let a = args(v, path, Some(2))?;
            // The property may stand on either side.
            let (field, value, c) = match (a[0].get("property"), a[1].get("property")) {
                (Some(_), _) => (
                    property(&a[0], &join(path, "args/0"))?,
                    literal(&a[1], &join(path, "args/1"))?,
                    c,
                ),
                (None, Some(_)) => {
                    let flipped = match c {
                        CmpOp::Lt => CmpOp::Gt,
                        CmpOp::Le => CmpOp::Ge,
                        CmpOp::Gt => CmpOp::Lt,
                        CmpOp::Ge => CmpOp::Le,
                        other => other,
                    };
                    (
                        property(&a[1], &join(path, "args/1"))?,
                        literal(&a[0], &join(path, "args/0"))?,
                        flipped,
                    )
                }
                _ => {
                    return Err(err(
                        &join(path, "args"),
                        "one argument must be {\"property\": name}",
                    ));
                }
            };
            Ok(Filter::Compare {
                field,
                op: c,
                value,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_answers() {
        let f = Filter::from_cql2_json(&json!({"op": "and", "args": [
            {"op": "=", "args": [{"property": "DLBM"}, "0701"]},
            {"op": "<", "args": [100, {"property": "area"}]},
        ]}))
        .unwrap();
        assert_eq!(f, Filter::parse("DLBM = '0701' AND area > 100").unwrap());
        let f = Filter::from_cql2_json(
            &json!({"op": "between", "args": [{"property": "floors"}, 2, 5]}),
        )
        .unwrap();
        assert_eq!(f, Filter::parse("floors BETWEEN 2 AND 5").unwrap());
        let f = Filter::from_cql2_json(
            &json!({"op": "not", "args": [{"op": "isNull", "args": [{"property": "owner"}]}]}),
        )
        .unwrap();
        assert_eq!(f, Filter::parse("NOT owner IS NULL").unwrap());
        let f =
            Filter::from_cql2_json(&json!({"op": "in", "args": [{"property": "k"}, ["JS", "RQ"]]}))
                .unwrap();
        assert_eq!(f, Filter::parse("k IN ('JS', 'RQ')").unwrap());
        let f = Filter::from_cql2_json(&json!({"op": "s_intersects", "args": [{"property": "geometry"},
            {"type": "Polygon", "coordinates": [[[113.7, 34.3], [113.8, 34.3], [113.8, 34.4], [113.7, 34.3]]]}]})).unwrap();
        assert_eq!(
            f,
            Filter::parse(
                "S_INTERSECTS(geometry, POLYGON((113.7 34.3, 113.8 34.3, 113.8 34.4, 113.7 34.3)))"
            )
            .unwrap()
        );
        let f = Filter::from_cql2_json(
            &json!({"op": "s_dwithin", "args": [{"property": "geometry"},
            {"type": "Point", "coordinates": [113.74, 34.4]}, 50, "meters"]}),
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::parse("S_DWITHIN(geometry, POINT(113.74 34.4), 50, meters)").unwrap()
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = |v: Json| Filter::from_cql2_json(&v).unwrap_err().to_string();
        assert!(e(json!({"op": "and", "args": [{"op": "=", "args": [{"property": "a"}, 1]}, {"op": "~", "args": []}]})).contains("filter/args/1/op: unknown operator '~'"));
        assert!(
            e(json!({"op": "like", "args": [{"property": "a"}, 3, 4]}))
                .contains("filter/args: expected 2 arguments")
        );
        assert!(
            e(json!({"op": "s_within", "args": [{"property": "geom"}, {"bbox": [1, 2, 3, 4]}]}))
                .contains("filter/args/0")
        );
        assert!(e(json!({"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon"}]})).contains("filter/args/1"));
        assert!(e(json!([1, 2])).contains("the filter"));
        let mut deep = json!({"op": "=", "args": [{"property": "a"}, 1]});
        for _ in 0..100 {
            deep = json!({"op": "not", "args": [deep]});
        }
        assert!(e(deep).contains("nested"));
    }
}
