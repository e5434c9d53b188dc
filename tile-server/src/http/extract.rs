//! Reading requests: query strings (strict percent-decoding, UTF-8), numbers in ranges, JSON
//! bodies and the geometries in them (bounded, checked, validated). Every malformed input is a
//! JSON 4xx naming what is wrong; nothing here panics on what a client sends.
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value as Json, json};

use crate::error::ApiError;

pub(crate) fn percent_decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            // Two hex digits exactly (from_str_radix alone would take "%+1").
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                let v = u8::from_str_radix(hex, 16).map_err(|_| {
                    ApiError::bad_request("bad_query", format!("bad percent-encoding in '{s}'"))
                })?;
                out.push(v);
                i += 2;
            }
            b'%' => {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("bad percent-encoding in '{s}'"),
                ));
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::bad_request("bad_query", format!("'{s}' is not UTF-8")))
}

/// Query parameters in order, decoded.
pub(crate) fn params(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// A query parameter's value.
pub(crate) fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(crate) fn parse_usize(name: &str, v: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    let n: i128 = v.trim().parse().map_err(|_| {
        ApiError::bad_request("bad_parameter", format!("{name}={v}: not an integer"))
            .with_details(json!({ "parameter": name }))
    })?;
    if n < min as i128 || n > max as i128 {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("{name}={v}: must be between {min} and {max}"),
        )
        .with_details(json!({ "parameter": name, "min": min, "max": max })));
    }
    Ok(n as usize)
}

/// A required number parameter within `lo..=hi`.
pub(crate) fn number_param(
    p: &[(String, String)],
    k: &str,
    lo: f64,
    hi: f64,
) -> Result<f64, ApiError> {
    let v = param(p, k).ok_or_else(|| {
        ApiError::bad_request("bad_parameter", format!("{k} is required"))
            .with_details(json!({ "parameter": k }))
    })?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && (lo..=hi).contains(x))
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_parameter",
                format!("{k}={v}: a number between {lo} and {hi}"),
            )
            .with_details(json!({ "parameter": k }))
        })
}

pub(crate) fn path_err(e: PathRejection) -> ApiError {
    ApiError::bad_request("bad_path", format!("cannot read the path: {e}"))
}

/// Requests that write (jobs, recorded checks) must say `Content-Type: application/json`: a
/// cross-site form or `text/plain` request cannot, so a browser cannot be made to send one
/// without a CORS preflight.
pub(crate) fn json_body_required(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ))
    }
}

pub(crate) fn body_json(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("cannot read the request body: {e} (at most 2 MiB)"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("bad_json", format!("the body is not JSON: {e}")))
}

/// Most vertices a geometry in a request may have.
pub const MAX_VERTICES: usize = 100_000;

/// A geometry from a JSON body: a GeoJSON Geometry, Feature or FeatureCollection (its geometries
/// together), lon/lat, checked (finite, in range, at most [`MAX_VERTICES`]).
pub(crate) fn body_geometry(v: &Json) -> Result<geo::Geometry<f64>, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad_geometry", m);
    let gj: geojson::GeoJson = serde_json::from_value(v.clone())
        .map_err(|e| bad(format!("\"geometry\" is not GeoJSON: {e}")))?;
    let values: Vec<geojson::GeometryValue> = match gj {
        geojson::GeoJson::Geometry(g) => vec![g.value],
        geojson::GeoJson::Feature(f) => f.geometry.into_iter().map(|g| g.value).collect(),
        geojson::GeoJson::FeatureCollection(fc) => fc
            .features
            .into_iter()
            .filter_map(|f| f.geometry.map(|g| g.value))
            .collect(),
    };
    let mut parts = Vec::with_capacity(values.len());
    for v in &values {
        parts.push(onemap_importers::formats::geojson::to_geo(v).map_err(bad)?);
    }
    let polygonal = |g: &geo::Geometry<f64>| {
        matches!(
            g,
            geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)
        )
    };
    if parts.len() > 1 && parts.iter().any(polygonal) && !parts.iter().all(polygonal) {
        return Err(bad(
            "a collection mixing polygons with points or lines: send one kind".into(),
        ));
    }
    let g = match parts.len() {
        0 => return Err(bad("no geometry given".into())),
        1 => parts.remove(0),
        _ => geo::Geometry::GeometryCollection(geo::GeometryCollection(parts)),
    };
    let n = geo::CoordsIter::coords_count(&g);
    if n > MAX_VERTICES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_vertices",
            format!("the geometry has {n} vertices; at most {MAX_VERTICES}"),
        )
        .with_details(json!({ "max": MAX_VERTICES })));
    }
    if let Some(reason) = onemap_engine::geometry::check_lonlat(&g) {
        return Err(bad(format!("{reason} (coordinates are lon/lat, CRS84)")));
    }
    Ok(g)
}

pub(crate) fn layer_list(v: &Json) -> Result<Option<Vec<String>>, ApiError> {
    match v {
        Json::Null => Ok(None),
        Json::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request("bad_parameter", "\"layers\" must be a list of names")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            "\"layers\" must be a list of names",
        )),
    }
}

/// An optional true/false member of a request body (absent is false).
pub(crate) fn flag(v: &Json, name: &str) -> Result<bool, ApiError> {
    match v {
        Json::Null => Ok(false),
        Json::Bool(b) => Ok(*b),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            format!("\"{name}\" must be true or false"),
        )),
    }
}

/// A request geometry checked for OGC validity: a self-crossing or otherwise invalid polygon is
/// refused with the reason — or, when the request says `"repair": true`, repaired as
/// `import --on-invalid repair` does (an exact overlay of its rings). Overlays of invalid
/// polygons give wrong areas; and judging validity is itself bounded (O(n log n), see
/// `onemap_engine::geometry::invalid_reason`) and cancellable.
pub(crate) fn validated(
    g: geo::Geometry<f64>,
    repair: &Json,
) -> Result<geo::Geometry<f64>, ApiError> {
    let repair = flag(repair, "repair")?;
    let fix = |part: geo::Geometry<f64>| -> Result<geo::Geometry<f64>, ApiError> {
        let Some(reason) = onemap_engine::geometry::invalid_reason(&part) else {
            return Ok(part);
        };
        onemap_engine::context::checkpoint()?;
        if !repair {
            return Err(ApiError::bad_request(
                "bad_geometry",
                format!("the geometry is not valid: {reason}; fix it, or send \"repair\": true to have it repaired"),
            )
            .with_details(json!({ "reason": reason })));
        }
        onemap_engine::geometry::repair_polygonal(&part).ok_or_else(|| {
            ApiError::bad_request(
                "bad_geometry",
                format!("the geometry is not valid ({reason}) and cannot be repaired"),
            )
        })
    };
    match g {
        geo::Geometry::GeometryCollection(gc) => Ok(geo::Geometry::GeometryCollection(
            geo::GeometryCollection(gc.0.into_iter().map(fix).collect::<Result<_, _>>()?),
        )),
        other => fix(other),
    }
}
