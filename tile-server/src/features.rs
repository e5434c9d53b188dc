//! OGC API – Features, Part 1 (Core, GeoJSON): `/`, `/conformance`, `/collections`,
//! `/collections/{id}`, `/collections/{id}/items` (bbox, limit, offset, property equality
//! filters, next/prev links) and `/collections/{id}/items/{featureId}`; plus `/query/identify`.
//! Every layer the caller may read is a collection; hidden fields are neither returned nor
//! filterable. Coordinates are CRS84 (lon/lat).
//!
//! Limits (documented in the README): `limit` defaults to 100; above 10000 it is clamped to 10000
//! (OGC API – Features /req/core/query-param-limit forbids an error), below 1 it is a 400;
//! `offset` 0..=10^9. The page returned and its `next` link carry the limit actually used.
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onemap_engine::{Caller, Filter, LayerMeta, Query};
use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::http::extract::{
    body_geometry, body_json, layer_list, number_param, param, params, parse_usize, path_err,
    validated,
};
use crate::http::{Who, blocking, json_response, work_permit};
use crate::state::AppState;
use crate::tiles::{base_url, encode_segment};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 10_000;
/// Largest offset.
pub const MAX_OFFSET: usize = 1_000_000_000;

const GEOJSON: &str = "application/geo+json";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const EPSG_URI: &str = "http://www.opengis.net/def/crs/EPSG/0/";

/// The conformance classes implemented.
pub const CONFORMANCE: [&str; 11] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
];

/// The CRSs offered for output and bbox (Part 2): CRS84, WGS84, CGCS2000, Web Mercator and the
/// CGCS2000 3° Gauss–Krüger zones.
fn offered_crs() -> Vec<String> {
    let mut v = vec![CRS84.to_string()];
    for code in [4326u32, 4490, 3857] {
        v.push(format!("{EPSG_URI}{code}"));
    }
    for code in 4513u32..=4554 {
        v.push(format!("{EPSG_URI}{code}"));
    }
    v
}

/// A requested CRS: the transform from storage lon/lat and whether the CRS's axis order is
/// (northing/latitude, easting/longitude) — EPSG:4326 and 4490 are lat,lon and the Gauss–Krüger
/// systems northing,easting by their EPSG definitions; OGC API – Features Part 2 answers in the
/// CRS's own axis order. CRS84 and 3857 are x,y.
struct OutputCrs {
    uri: String,
    crs: onemap_engine::crs::Crs,
    swap: bool,
}

fn parse_crs(param: &str, v: &str) -> Result<OutputCrs, ApiError> {
    use onemap_engine::crs::Crs;
    let bad = || {
        ApiError::bad_request(
            "bad_parameter",
            format!("{param}={v}: not offered (see the collection's \"crs\" list)"),
        )
        .with_details(json!({ "parameter": param }))
    };
    let t = v.trim().trim_start_matches('[').trim_end_matches(']');
    if t == CRS84 || t.eq_ignore_ascii_case("CRS84") {
        return Ok(OutputCrs {
            uri: CRS84.into(),
            crs: Crs::WGS84,
            swap: false,
        });
    }
    let code: u32 = t
        .strip_prefix(EPSG_URI)
        .or_else(|| t.strip_prefix("EPSG:"))
        .or_else(|| t.strip_prefix("epsg:"))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    if !(matches!(code, 4326 | 4490 | 3857) || (4513..=4554).contains(&code)) {
        return Err(bad());
    }
    let crs = Crs::from_epsg(code).map_err(|_| bad())?;
    Ok(OutputCrs {
        uri: format!("{EPSG_URI}{code}"),
        crs,
        swap: code != 3857,
    })
}

impl OutputCrs {
    fn is_crs84(&self) -> bool {
        self.uri == CRS84
    }

    /// A lon/lat geometry in this CRS and axis order.
    fn geometry(&self, g: &geo::Geometry<f64>) -> Result<geo::Geometry<f64>, ApiError> {
        use geo::MapCoords;
        if self.is_crs84() {
            return Ok(g.clone());
        }
        let out = if self.crs.is_storage_lonlat() {
            g.clone()
        } else {
            onemap_engine::crs::Transform::from_lonlat(&self.crs)
                .and_then(|t| t.geometry(g))
                .map_err(|e| ApiError::internal(format!("transform: {e}")))?
        };
        Ok(if self.swap {
            out.map_coords(|c| geo::coord! { x: c.y, y: c.x })
        } else {
            out
        })
    }

    /// A bbox given in this CRS and axis order, as a lon/lat bbox (edges densified, so the box
    /// covers the requested area after projection).
    fn bbox_to_lonlat(&self, b: [f64; 4]) -> Result<[f64; 4], ApiError> {
        let (x0, y0, x1, y1) = if self.swap {
            (b[1], b[0], b[3], b[2])
        } else {
            (b[0], b[1], b[2], b[3])
        };
        if self.is_crs84() || self.crs.is_storage_lonlat() {
            return Ok([x0, y0, x1, y1]);
        }
        let t = onemap_engine::crs::Transform::to_lonlat(&self.crs)
            .map_err(|e| ApiError::internal(format!("transform: {e}")))?;
        let mut out = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for k in 0..=16 {
            let f = f64::from(k) / 16.0;
            for (x, y) in [
                (x0 + f * (x1 - x0), y0),
                (x0 + f * (x1 - x0), y1),
                (x0, y0 + f * (y1 - y0)),
                (x1, y0 + f * (y1 - y0)),
            ] {
                let (lon, lat) = t.apply(x, y).map_err(|e| {
                    ApiError::bad_request(
                        "bad_parameter",
                        format!("bbox outside the CRS's area: {e}"),
                    )
                })?;
                out = [
                    out[0].min(lon),
                    out[1].min(lat),
                    out[2].max(lon),
                    out[3].max(lat),
                ];
            }
        }
        Ok(out)
    }
}

fn wants_html(params: &[(String, String)], headers: &HeaderMap) -> Result<bool, ApiError> {
    match params
        .iter()
        .find(|(k, _)| k == "f")
        .map(|(_, v)| v.as_str())
    {
        Some("json") | Some("geojson") => Ok(false),
        Some("html") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "bad_parameter",
            format!("f={other}: use f=json or f=html"),
        )
        .with_details(json!({ "parameter": "f", "allowed": ["json", "html"] }))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html") && !a.contains("json"))),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain page: the JSON's links and, for feature collections, a table.
fn html_page(title: &str, doc: &Json) -> Response {
    let mut body = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{0}</title></head><body><h1>{0}</h1>",
        html_escape(title)
    );
    if let Some(links) = doc["links"].as_array() {
        body.push_str("<ul>");
        for l in links {
            let href = l["href"].as_str().unwrap_or_default();
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a> ({})</li>",
                html_escape(href),
                html_escape(
                    l["title"]
                        .as_str()
                        .unwrap_or(l["rel"].as_str().unwrap_or(""))
                ),
                html_escape(l["type"].as_str().unwrap_or(""))
            ));
        }
        body.push_str("</ul>");
    }
    if let Some(cols) = doc["collections"].as_array() {
        body.push_str("<ul>");
        for c in cols {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a>: {}</li>",
                html_escape(&format!(
                    "{}/items?f=html",
                    c["id"].as_str().unwrap_or_default()
                )),
                html_escape(c["id"].as_str().unwrap_or_default()),
                html_escape(c["description"].as_str().unwrap_or_default())
            ));
        }
        body.push_str("</ul>");
    }
    if let Some(features) = doc["features"].as_array() {
        body.push_str("<table border=\"1\"><tr><th>id</th><th>properties</th></tr>");
        for f in features {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                html_escape(&f["id"].to_string()),
                html_escape(&f["properties"].to_string())
            ));
        }
        body.push_str("</table>");
    }
    body.push_str("</body></html>");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn respond(html: bool, title: &str, media: &'static str, doc: Json) -> Result<Response, ApiError> {
    Ok(if html {
        html_page(title, &doc)
    } else {
        json_response(StatusCode::OK, media, &doc)
    })
}

/// `GET /`.
#[utoipa::path(get, path = "/", tag = "OGC API – Features",
    params(("f" = Option<String>, Query, description = "json or html")),
    responses((status = 200, description = "Landing page with links"), (status = 400, description = "Bad parameter", body = crate::error::ErrorBody)))]
pub async fn landing(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    // A browser asking for `/` gets the web client; `?f=html` is the API's HTML landing page.
    if html && p.is_empty() {
        return Ok(crate::web::index());
    }
    let base = base_url(&st, &headers);
    let doc = json!({
        "title": "onemap 一张图",
        "description": "One spatial platform for the city: OGC API – Features, vector tiles and styles.",
        "links": [
            { "rel": "self", "type": "application/json", "title": "this document", "href": format!("{base}/?f=json") },
            { "rel": "alternate", "type": "text/html", "title": "this document as HTML", "href": format!("{base}/?f=html") },
            { "rel": "service-desc", "type": crate::OPENAPI_MEDIA_TYPE, "title": "the API's definition (OpenAPI)", "href": format!("{base}/api") },
            { "rel": "service-doc", "type": "text/html", "title": "the API's documentation (Swagger UI)", "href": format!("{base}/app/api.html") },
            { "rel": "conformance", "type": "application/json", "title": "conformance classes", "href": format!("{base}/conformance") },
            { "rel": "data", "type": "application/json", "title": "collections", "href": format!("{base}/collections") },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": "application/json", "title": "vector tiles: catalog", "href": format!("{base}/layers") },
            { "rel": "stylesheet", "type": "application/json", "title": "map style (MapLibre)", "href": format!("{base}/styles/onemap.json") },
        ],
    });
    respond(html, "onemap", "application/json", doc)
}

/// `GET /conformance`.
#[utoipa::path(get, path = "/conformance", tag = "OGC API – Features",
    responses((status = 200, description = "The conformance classes implemented")))]
pub async fn conformance(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    respond(
        html,
        "conformance",
        "application/json",
        json!({ "conformsTo": CONFORMANCE }),
    )
}

/// `limit`: at least 1; any larger whole number is clamped to [`MAX_LIMIT`] (the standard says
/// a limit above the server's maximum is not an error).
fn page_limit(v: &str) -> Result<usize, ApiError> {
    let t = v.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.bytes().any(|b| b != b'0') {
        return Ok(t.parse::<usize>().map_or(MAX_LIMIT, |n| n.min(MAX_LIMIT)));
    }
    parse_usize("limit", v, 1, MAX_LIMIT)
}

fn collection_json(base: &str, m: &LayerMeta) -> Json {
    let id = encode_segment(&m.name);
    let mut c = json!({
        "id": m.name,
        "title": m.name,
        "description": format!("{} layer, {} features, version {}, from {}", m.kind, m.feature_count, m.version, m.source),
        "itemType": "feature",
        "crs": offered_crs(),
        "storageCrs": CRS84,
        "links": [
            { "rel": "self", "type": "application/json", "href": format!("{base}/collections/{id}") },
            { "rel": "items", "type": GEOJSON, "href": format!("{base}/collections/{id}/items") },
            { "rel": "alternate", "type": "text/html", "href": format!("{base}/collections/{id}?f=html") },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json", "href": format!("{base}/collections/{id}/queryables") },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": "application/json", "href": format!("{base}/tiles/{id}.json") },
        ],
    });
    if let Some(b) = m.bounds {
        c["extent"] = json!({ "spatial": { "bbox": [[b.min().x, b.min().y, b.max().x, b.max().y]], "crs": CRS84 } });
    }
    c
}

async fn readable_layers(st: &AppState, caller: &Caller) -> Result<Vec<LayerMeta>, ApiError> {
    let engine = st.engine.clone();
    let c = caller.clone();
    Ok(tokio::task::spawn_blocking(move || engine.layers_for(&c)).await??)
}

/// `GET /collections`.
#[utoipa::path(get, path = "/collections", tag = "OGC API – Features",
    responses((status = 200, description = "Every layer the caller may read, as a collection")))]
pub async fn collections(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    let base = base_url(&st, &headers);
    let metas = readable_layers(&st, &who.caller.clone()).await?;
    let doc = json!({
        "links": [
            { "rel": "self", "type": "application/json", "href": format!("{base}/collections") },
        ],
        "collections": metas.iter().map(|m| collection_json(&base, m)).collect::<Vec<_>>(),
    });
    respond(html, "collections", "application/json", doc)
}

async fn meta_for(st: &AppState, caller: &Caller, id: &str) -> Result<LayerMeta, ApiError> {
    readable_layers(st, caller)
        .await?
        .into_iter()
        .find(|m| m.name == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_collection",
                format!("no collection '{id}' (see /collections)"),
            )
            .with_details(json!({ "collection": id }))
        })
}

/// `GET /collections/{id}`.
#[utoipa::path(get, path = "/collections/{id}", tag = "OGC API – Features",
    params(("id" = String, Path, description = "Layer name")),
    responses((status = 200, description = "One collection"), (status = 404, description = "Unknown collection", body = crate::error::ErrorBody)))]
pub async fn collection(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path.map_err(path_err)?;
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    let base = base_url(&st, &headers);
    let meta = meta_for(&st, &who.caller.clone(), &id).await?;
    respond(html, &id, "application/json", collection_json(&base, &meta))
}

/// A hit as GeoJSON in the requested CRS.
fn feature_in(
    hits: &onemap_engine::query::LayerHits,
    h: &onemap_engine::Hit,
    crs: &OutputCrs,
) -> Result<Json, ApiError> {
    let mut f = hits.feature_json(h);
    if !crs.is_crs84() {
        let g = crs.geometry(hits.geometry(h))?;
        f["geometry"] =
            serde_json::to_value(geojson::Geometry::new(geojson::GeometryValue::from(&g)))
                .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(f)
}

/// The output CRS named by the request's `crs` parameter (validated).
fn out_crs_uri_of(p: &[(String, String)]) -> Result<OutputCrs, ApiError> {
    match p.iter().find(|(k, _)| k == "crs") {
        Some((_, v)) => parse_crs("crs", v),
        None => parse_crs("crs", CRS84),
    }
}

fn with_content_crs(mut r: Response, crs: &OutputCrs) -> Result<Response, ApiError> {
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs.uri)) {
        r.headers_mut().insert("content-crs", v);
    }
    Ok(r)
}

/// A bbox of four finite numbers in a projected or lat/lon-ordered CRS (no range check).
fn parse_projected_bbox(v: &str) -> Result<[f64; 4], ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request("bad_parameter", format!("bbox={v}: {why}"))
            .with_details(json!({ "parameter": "bbox" }))
    };
    let n: Vec<f64> = v
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("expected four numbers"))?;
    if n.len() != 4 || n.iter().any(|x| !x.is_finite()) {
        return Err(bad("expected four numbers"));
    }
    if n[0] > n[2] || n[1] > n[3] {
        return Err(bad("the minimum is above the maximum"));
    }
    Ok([n[0], n[1], n[2], n[3]])
}

/// `bbox=minx,miny,maxx,maxy` in CRS84.
fn parse_bbox(v: &str) -> Result<[f64; 4], ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request("bad_parameter", format!("bbox={v}: {why}"))
            .with_details(json!({ "parameter": "bbox" }))
    };
    let n: Vec<f64> = v
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("expected four numbers minLon,minLat,maxLon,maxLat"))?;
    if n.len() == 6 {
        return Err(bad("3D bounding boxes are not supported"));
    }
    if n.len() != 4 || n.iter().any(|x| !x.is_finite()) {
        return Err(bad("expected four numbers minLon,minLat,maxLon,maxLat"));
    }
    if n[0] > n[2] || n[1] > n[3] {
        return Err(bad("the minimum is above the maximum"));
    }
    if n[0] < -180.0 || n[2] > 180.0 || n[1] < -90.0 || n[3] > 90.0 {
        return Err(bad("outside lon -180..180, lat -90..90"));
    }
    Ok([n[0], n[1], n[2], n[3]])
}

/// `GET /collections/{id}/items`.
#[utoipa::path(get, path = "/collections/{id}/items", tag = "OGC API – Features",
    params(
        ("id" = String, Path, description = "Layer name"),
        ("bbox" = Option<String>, Query, description = "minx,miny,maxx,maxy (CRS84 unless bbox-crs)"),
        ("bbox-crs" = Option<String>, Query, description = "CRS of bbox (see the collection's crs list)"),
        ("crs" = Option<String>, Query, description = "Output CRS (Part 2)"),
        ("limit" = Option<usize>, Query, description = "Page size, default 100; above 10000 it is clamped to 10000", minimum = 1, maximum = 10000),
        ("offset" = Option<usize>, Query, description = "0..=1000000000"),
        ("filter" = Option<String>, Query, description = "CQL2 filter (Part 3): comparisons, AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL, S_INTERSECTS / S_WITHIN / S_DWITHIN(geometry, <WKT|BBOX(...)>[, metres]) on the queryables"),
        ("filter-lang" = Option<String>, Query, description = "cql2-text (default) or cql2-json"),
        ("filter-crs" = Option<String>, Query, description = "CRS84 only (lon/lat literals)"),
        ("f" = Option<String>, Query, description = "json or html"),
    ),
    responses((status = 200, description = "GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links"),
        (status = 400, description = "Bad parameter (bbox, limit, offset, crs, unknown queryable)", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown collection", body = crate::error::ErrorBody)))]
pub async fn items(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path.map_err(path_err)?;
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    let caller = who.caller.clone();
    let meta = meta_for(&st, &caller, &id).await?;
    let visible = st.engine.visible_fields(&caller, &meta);
    let mut limit = DEFAULT_LIMIT;
    let mut offset = 0;
    let mut bbox = None;
    let mut out_crs = parse_crs("crs", CRS84)?;
    let mut bbox_crs = parse_crs("bbox-crs", CRS84)?;
    let mut clauses = Vec::new();
    let mut cql: Option<String> = None;
    let mut cql_lang = "cql2-text".to_string();
    for (k, v) in &p {
        match k.as_str() {
            "f" => {}
            "filter" => cql = Some(v.clone()),
            "filter-lang" => {
                if !matches!(v.as_str(), "cql2-text" | "cql2-json") {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        format!("filter-lang={v}: expected cql2-text or cql2-json"),
                    )
                    .with_details(json!({ "parameter": "filter-lang", "allowed": ["cql2-text", "cql2-json"] })));
                }
                cql_lang = v.clone();
            }
            // Spatial literals in filters are lon/lat (CRS84), the default.
            "filter-crs" => {
                if !parse_crs("filter-crs", v)?.is_crs84() {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        format!("filter-crs={v}: filters take CRS84 (lon/lat) literals only"),
                    )
                    .with_details(json!({ "parameter": "filter-crs", "allowed": [CRS84] })));
                }
            }
            "datetime" => {
                if let Some(c) = datetime_clause(&meta, &visible, v)? {
                    clauses.push(c);
                }
            }
            "limit" => limit = page_limit(v)?,
            "offset" => offset = parse_usize("offset", v, 0, MAX_OFFSET)?,
            "bbox" => bbox = Some(v.clone()),
            "crs" => out_crs = parse_crs("crs", v)?,
            "bbox-crs" => bbox_crs = parse_crs("bbox-crs", v)?,
            field => {
                let known = meta
                    .schema
                    .fields()
                    .iter()
                    .zip(&visible)
                    .find(|(f, vis)| **vis && f.name == field);
                if known.is_none() {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        format!("unknown parameter or queryable '{field}'"),
                    )
                    .with_details(json!({
                        "parameter": field,
                        "queryables": meta.schema.fields().iter().zip(&visible).filter(|(_, v)| **v).map(|(f, _)| f.name.clone()).collect::<Vec<_>>(),
                    })));
                }
                let name = field.replace('"', "\"\"");
                clauses.push(format!("\"{name}\" = '{}'", v.replace('\'', "''")));
            }
        }
    }
    let bbox = match bbox {
        None => None,
        Some(v) if bbox_crs.is_crs84() => Some(parse_bbox(&v)?),
        Some(v) => {
            let b = bbox_crs.bbox_to_lonlat(parse_projected_bbox(&v)?)?;
            if b.iter().any(|x| !x.is_finite())
                || b[0] < -180.0
                || b[2] > 180.0
                || b[1] < -90.0
                || b[3] > 90.0
            {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("bbox={v}: outside the area of its CRS"),
                )
                .with_details(json!({ "parameter": "bbox" })));
            }
            Some(b)
        }
    };
    let mut query = match bbox {
        Some(b) => Query::bbox(b[0], b[1], b[2], b[3]),
        None => Query::all(),
    };
    let mut filters = Vec::new();
    if !clauses.is_empty() {
        filters.push(Filter::parse(&clauses.join(" AND "))?);
    }
    if let Some(text) = &cql {
        let bad = |m: String| {
            ApiError::bad_request("bad_filter", m)
                .with_details(json!({ "parameter": "filter", "filter-lang": cql_lang }))
        };
        let f = if cql_lang == "cql2-json" {
            if text.len() > onemap_engine::query::MAX_FILTER_BYTES {
                return Err(bad(format!(
                    "the filter is {} bytes long; at most {}",
                    text.len(),
                    onemap_engine::query::MAX_FILTER_BYTES
                )));
            }
            let v: Json = serde_json::from_str(text)
                .map_err(|e| bad(format!("the filter is not JSON: {e}")))?;
            Filter::from_cql2_json(&v).map_err(|e| bad(e.to_string()))?
        } else {
            Filter::parse(text).map_err(|e| bad(e.to_string()))?
        };
        filters.push(f);
    }
    match filters.len() {
        0 => {}
        1 => query = query.filter(filters.remove(0)),
        _ => query = query.filter(Filter::And(filters)),
    }
    query = query.page(offset, limit);
    let engine = st.engine.clone();
    let layer_name = id.clone();
    let c2 = caller.clone();
    let out_crs_uri = out_crs_uri_of(&p)?;
    // The query and the GeoJSON (reprojected when asked) are built off the async threads.
    let (matched, returned, features) = blocking(&st, &who, move || -> Result<_, ApiError> {
        let hits = engine.query(&c2, &layer_name, &query)?;
        let mut features = Vec::with_capacity(hits.hits.len());
        for h in &hits.hits {
            features.push(feature_in(&hits, h, &out_crs)?);
        }
        Ok((hits.matched, hits.hits.len(), features))
    })
    .await?;
    let base = base_url(&st, &headers);
    let seg = encode_segment(&id);
    let page_link = |rel: &str, off: usize| {
        let mut qs: Vec<String> = p
            .iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
            .collect();
        qs.push(format!("limit={limit}"));
        qs.push(format!("offset={off}"));
        json!({ "rel": rel, "type": GEOJSON, "href": format!("{base}/collections/{seg}/items?{}", qs.join("&")) })
    };
    let mut links = vec![page_link("self", offset)];
    if offset + returned < matched {
        links.push(page_link("next", offset + limit));
    }
    if offset > 0 {
        links.push(page_link("prev", offset.saturating_sub(limit)));
    }
    links.push(json!({ "rel": "collection", "type": "application/json", "href": format!("{base}/collections/{seg}") }));
    let doc = json!({
        "type": "FeatureCollection",
        "timeStamp": chrono_now(),
        "numberMatched": matched,
        "numberReturned": returned,
        "links": links,
        "features": features,
    });
    with_content_crs(respond(html, &id, GEOJSON, doc)?, &out_crs_uri)
}

fn chrono_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // RFC 3339 in UTC, seconds precision, without a date library.
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `GET /collections/{id}/items/{featureId}`.
#[utoipa::path(get, path = "/collections/{id}/items/{featureId}", tag = "OGC API – Features",
    params(("id" = String, Path, description = "Layer name"), ("featureId" = i64, Path, description = "Feature id"), ("crs" = Option<String>, Query, description = "Output CRS")),
    responses((status = 200, description = "One GeoJSON Feature"), (status = 404, description = "Unknown collection or feature", body = crate::error::ErrorBody)))]
pub async fn item(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, fid)) = path.map_err(path_err)?;
    let p = params(q.as_deref())?;
    let html = wants_html(&p, &headers)?;
    let out_crs = match p.iter().find(|(k, _)| k == "crs") {
        Some((_, v)) => parse_crs("crs", v)?,
        None => parse_crs("crs", CRS84)?,
    };
    let caller = who.caller.clone();
    meta_for(&st, &caller, &id).await?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_feature",
            format!("no feature '{fid}' in collection '{id}'"),
        )
        .with_details(json!({ "collection": id, "featureId": fid }))
    };
    let fid_n: i64 = fid.parse().map_err(|_| not_found())?;
    let engine = st.engine.clone();
    let name = id.clone();
    let c2 = caller.clone();
    let hits = blocking(&st, &who, move || engine.feature(&c2, &name, fid_n))
        .await?
        .ok_or_else(not_found)?;
    let base = base_url(&st, &headers);
    let seg = encode_segment(&id);
    let mut doc = feature_in(&hits, &hits.hits[0], &out_crs)?;
    doc["links"] = json!([
        { "rel": "self", "type": GEOJSON, "href": format!("{base}/collections/{seg}/items/{fid_n}") },
        { "rel": "collection", "type": "application/json", "href": format!("{base}/collections/{seg}") },
    ]);
    with_content_crs(
        respond(html, &format!("{id} {fid_n}"), GEOJSON, doc)?,
        &out_crs,
    )
}

/// `GET /query/identify?lon=&lat=[&layers=a,b][&tolerance=m]`: everything at a point in every
/// layer the caller may read (or those named), grouped by layer.
#[utoipa::path(get, path = "/query/identify", tag = "Spatial queries",
    params(("lon" = f64, Query, description = "Longitude"), ("lat" = f64, Query, description = "Latitude"),
        ("layers" = Option<String>, Query, description = "Comma-separated layer names (default: all readable)"),
        ("tolerance" = Option<f64>, Query, description = "Metres, 0..=1000")),
    responses((status = 200, description = "Features at the point, grouped by layer"), (status = 400, description = "Bad parameter", body = crate::error::ErrorBody)))]
pub async fn identify(
    State(st): State<AppState>,
    who: Who,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(q.as_deref())?;
    let get = |k: &str| param(&p, k);
    let (lon, lat) = (
        number_param(&p, "lon", -180.0, 180.0)?,
        number_param(&p, "lat", -90.0, 90.0)?,
    );
    let tolerance = match get("tolerance") {
        Some(_) => number_param(&p, "tolerance", 0.0, 1000.0)?,
        None => 0.0,
    };
    let layers: Option<Vec<String>> = get("layers").map(|l| {
        l.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let caller = who.caller.clone();
    let engine = st.engine.clone();
    let results = blocking(&st, &who, move || {
        engine.identify(
            &caller,
            geo::Point::new(lon, lat),
            layers.as_deref(),
            tolerance,
        )
    })
    .await?;
    let doc = json!({
        "point": [lon, lat],
        "tolerance_m": tolerance,
        "layers": results.iter().map(|r| json!({
            "layer": r.layer.meta.name,
            "kind": r.layer.meta.kind,
            "features": r.hits.iter().map(|h| r.feature_json(h)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    Ok(json_response(StatusCode::OK, "application/json", &doc))
}

/// The date of an RFC 3339 instant (`2024-05-01` or `2024-05-01T08:00:00Z`), or `None` for an
/// open end (`..` or empty).
fn datetime_end(v: &str, whole: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
    let v = v.trim();
    if v.is_empty() || v == ".." {
        return Ok(None);
    }
    // A date, or an RFC 3339 date-time taken as its UTC date.
    let parsed = if v.len() > 10 {
        chrono::DateTime::parse_from_rfc3339(v).map(|t| t.naive_utc().date())
    } else {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
    };
    parsed.map(Some).map_err(|_| {
        ApiError::bad_request(
            "bad_parameter",
            format!("datetime={whole}: '{v}' is not an RFC 3339 date or date-time"),
        )
        .with_details(json!({ "parameter": "datetime" }))
    })
}

/// `datetime` (an instant or an interval `a/b`, `../b`, `a/..`) as a filter clause on the layer's
/// first date field the caller may see; layers without one ignore it (they have no temporal
/// extent).
fn datetime_clause(
    meta: &LayerMeta,
    visible: &[bool],
    v: &str,
) -> Result<Option<String>, ApiError> {
    let (start, end) = match v.split_once('/') {
        Some((a, b)) => (datetime_end(a, v)?, datetime_end(b, v)?),
        None => {
            let d = datetime_end(v, v)?;
            if d.is_none() {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("datetime={v}: an instant cannot be open"),
                )
                .with_details(json!({ "parameter": "datetime" })));
            }
            (d, d)
        }
    };
    if let (Some(a), Some(b)) = (start, end)
        && a > b
    {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("datetime={v}: the interval ends before it starts"),
        )
        .with_details(json!({ "parameter": "datetime" })));
    }
    let Some(field) = meta
        .schema
        .fields()
        .iter()
        .zip(visible)
        .find(|(f, vis)| **vis && f.ty == onemap_engine::FieldType::Date)
        .map(|(f, _)| f.name.replace('"', "\"\""))
    else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    if let Some(a) = start {
        parts.push(format!("\"{field}\" >= '{a}'"));
    }
    if let Some(b) = end {
        parts.push(format!("\"{field}\" <= '{b}'"));
    }
    Ok((!parts.is_empty()).then(|| parts.join(" AND ")))
}

/// `POST /query/intersects` with `{"geometry": GeoJSON, "layers": [...], "filter": "..."}`:
/// the features of each layer (all readable ones by default) that intersect the geometry; for a
/// polygonal geometry also the area (m²) or length (m) of each feature inside it.
#[utoipa::path(post, path = "/query/intersects", tag = "Spatial queries",
    request_body(content = serde_json::Value, description = "{\"geometry\": GeoJSON, \"layers\": [..], \"filter\": \"..\"}", content_type = "application/json"),
    responses((status = 200, description = "Intersecting features per layer, with the area/length inside a polygon"),
        (status = 400, description = "Bad JSON or geometry", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 2 MiB or geometry over 100,000 vertices", body = crate::error::ErrorBody)))]
pub async fn intersects(
    State(st): State<AppState>,
    who: Who,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let req = body_json(body)?;
    let g = body_geometry(&req["geometry"])?;
    let layers = layer_list(&req["layers"])?;
    let filter = match &req["filter"] {
        Json::Null => None,
        Json::String(f) => Some(Filter::parse(f)?),
        _ => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "\"filter\" must be a string",
            ));
        }
    };
    let caller = who.caller.clone();
    let engine = st.engine.clone();
    let explicit = layers.is_some();
    if let Some(l) = &layers {
        let mut seen = std::collections::HashSet::new();
        if l.len() > 64 || !l.iter().all(|n| seen.insert(n.clone())) {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "\"layers\" names at most 64 layers, each once",
            ));
        }
    }
    // Overlays are CPU work: as many at once as there are cores, like tile rendering.
    let repair = req["repair"].clone();
    let permit = work_permit(&st).await?;
    let doc = blocking(&st, &who, move || -> Result<Json, ApiError> {
        // The permit lives as long as the work, even past a timeout.
        let _held = permit;
        let g = validated(g, &repair)?;
        let polygonal = onemap_engine::query::overlay::region_polygons(&g).is_some();
        let names: Vec<String> = match layers {
            Some(l) => l,
            None => engine
                .layers_for(&caller)?
                .into_iter()
                .map(|m| m.name)
                .collect(),
        };
        // Without an explicit list, a layer the filter cannot apply to is skipped.
        let skip =
            |e: &onemap_engine::Error| !explicit && matches!(e, onemap_engine::Error::Filter(_));
        let mut out = Vec::new();
        for name in names {
            let entry = if polygonal {
                let (hits, pieces) = match engine.overlay(&caller, &name, &g, filter.as_ref()) {
                    Err(e) if skip(&e) => continue,
                    other => other?,
                };
                let features: Vec<Json> = hits
                    .hits
                    .iter()
                    .zip(&pieces)
                    .map(|(h, p)| {
                        let mut f = hits.feature_json(h);
                        f["properties"]["_intersection_area_m2"] = json!(p.area_m2);
                        f["properties"]["_intersection_length_m"] = json!(p.length_m);
                        f
                    })
                    .collect();
                json!({ "layer": name, "count": features.len(), "features": features })
            } else {
                let mut q = Query::intersects(g.clone());
                if let Some(f) = &filter {
                    q = q.filter(f.clone());
                }
                let hits = match engine.query(&caller, &name, &q) {
                    Err(e) if skip(&e) => continue,
                    other => other?,
                };
                let features: Vec<Json> = hits.hits.iter().map(|h| hits.feature_json(h)).collect();
                json!({ "layer": name, "count": features.len(), "features": features })
            };
            out.push(entry);
        }
        Ok(json!({ "layers": out }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, "application/json", &doc))
}

/// `POST /query/stats` with `{"geometry": polygon, "layer": "landuse", "group_by": "DLBM"}`:
/// count, area (m², on the ellipsoid) and length (m) of the layer inside the polygon by class
/// (by the kind's styling field when `group_by` is absent).
#[utoipa::path(post, path = "/query/stats", tag = "Spatial queries",
    request_body(content = serde_json::Value, description = "{\"geometry\": polygon | \"area\": {\"layer\": \"admin\", \"field\": \"XZQDM\", \"value\": \"410184001\"}, \"layer\": name, \"group_by\": field}", content_type = "application/json"),
    responses((status = 200, description = "Count, area (m²) and length (m) inside the polygon by class"),
        (status = 400, description = "Bad JSON, geometry or field", body = crate::error::ErrorBody),
        (status = 413, description = "Too large", body = crate::error::ErrorBody)))]
pub async fn stats(
    State(st): State<AppState>,
    who: Who,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let req = body_json(body)?;
    let caller = who.caller.clone();
    // The region: a polygon, or an admin area (or any area) of a layer: every feature of
    // `area.layer` whose `area.field` equals `area.value`, together.
    let (g, named_area) = match (&req["geometry"], &req["area"]) {
        (Json::Null, Json::Null) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "give the region as \"geometry\" (a polygon) or \"area\": {\"layer\", \"field\", \"value\"}",
            ));
        }
        (g, Json::Null) => (body_geometry(g)?, None),
        (Json::Null, a) => {
            let (Some(l), Some(f), Some(v)) =
                (a["layer"].as_str(), a["field"].as_str(), a.get("value"))
            else {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    "\"area\" needs \"layer\", \"field\" and \"value\"",
                ));
            };
            let value = match v {
                Json::String(s) => onemap_engine::Value::Text(s.clone()),
                Json::Number(n) => onemap_engine::Value::Text(n.to_string()),
                _ => {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        "\"area.value\" must be a string or a number",
                    ));
                }
            };
            let (engine, c, l2, f2) = (
                st.engine.clone(),
                caller.clone(),
                l.to_string(),
                f.to_string(),
            );
            let parts = blocking(
                &st,
                &who,
                move || -> Result<Vec<geo::Geometry<f64>>, onemap_engine::Error> {
                    let hits =
                        engine.query(&c, &l2, &Query::all().filter(Filter::eq(f2, value)))?;
                    Ok(hits.hits.iter().map(|h| hits.geometry(h).clone()).collect())
                },
            )
            .await?;
            if parts.is_empty() {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("no feature of layer '{l}' has {f} = {v}"),
                ));
            }
            (
                geo::Geometry::GeometryCollection(geo::GeometryCollection(parts)),
                Some(a.clone()),
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "give either \"geometry\" or \"area\", not both",
            ));
        }
    };
    // A given geometry is checked here (bounded by the vertex limit); a named area's union is
    // made in the blocking work below.
    if named_area.is_none() && onemap_engine::query::overlay::region_polygons(&g).is_none() {
        return Err(ApiError::bad_request(
            "bad_geometry",
            "statistics need a polygon or multipolygon",
        ));
    }
    let layer = req["layer"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("bad_parameter", "\"layer\" (a name) is required"))?
        .to_string();
    let group_by = match &req["group_by"] {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "\"group_by\" must be a field name",
            ));
        }
    };
    let engine = st.engine.clone();
    let repair = req["repair"].clone();
    let permit = work_permit(&st).await?;
    let doc = blocking(&st, &who, move || -> Result<Json, ApiError> {
        // The permit lives as long as the work, even past a timeout.
        let _held = permit;
        // A self-crossing polygon gives meaningless areas (and is where overlays get slow).
        let g = if named_area.is_none() {
            validated(g, &repair)?
        } else {
            g
        };
        let meta = engine.layer_for(&caller, &layer)?.meta.clone();
        // Without group_by: by the layer's style field, when the caller may see it.
        let field = group_by.or_else(|| {
            let visible = engine.visible_fields(&caller, &meta);
            let name = meta.kind.style_field(&meta.schema)?;
            let k = meta.schema.index_of(name)?;
            visible.get(k).copied().unwrap_or(false).then(|| name.to_string())
        });
        let totals = engine.stats(&caller, &layer, &g, field.as_deref())?;
        let (mut count, mut area, mut length) = (0usize, 0.0f64, 0.0f64);
        let groups: Vec<Json> = totals
            .iter()
            .map(|(k, t)| {
                count += t.count;
                area += t.area_m2;
                length += t.length_m;
                json!({ "value": k, "count": t.count, "area_m2": t.area_m2, "length_m": t.length_m })
            })
            .collect();
        Ok(json!({
            "layer": layer,
            "group_by": field,
            "groups": groups,
            "total": { "count": count, "area_m2": area, "length_m": length },
            "region_area_m2": onemap_engine::query::overlay::region_polygons(&g)
                .map(|r| onemap_engine::geometry::Measure::geodesic_area_m2(&geo::Geometry::MultiPolygon(r)))
                .unwrap_or(0.0),
            "area": named_area,
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, "application/json", &doc))
}

/// `GET /query/nearest?lon=&lat=&layer=&k=`: the k nearest features (metres on the ellipsoid).
#[utoipa::path(get, path = "/query/nearest", tag = "Spatial queries",
    params(("lon" = f64, Query, description = "Longitude"), ("lat" = f64, Query, description = "Latitude"),
        ("layer" = String, Query, description = "Layer name"), ("k" = Option<usize>, Query, description = "1..=1000, default 1")),
    responses((status = 200, description = "GeoJSON FeatureCollection ordered by distance (_distance_m)"), (status = 400, description = "Bad parameter", body = crate::error::ErrorBody)))]
pub async fn nearest(
    State(st): State<AppState>,
    who: Who,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(q.as_deref())?;
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (lon, lat) = (
        number_param(&p, "lon", -180.0, 180.0)?,
        number_param(&p, "lat", -90.0, 90.0)?,
    );
    let k = match get("k") {
        Some(v) => parse_usize("k", &v, 1, 1000)?,
        None => 1,
    };
    let layer = get("layer").ok_or_else(|| {
        ApiError::bad_request("bad_parameter", "layer is required")
            .with_details(json!({ "parameter": "layer" }))
    })?;
    let caller = who.caller.clone();
    let engine = st.engine.clone();
    let doc = blocking(&st, &who, move || -> Result<Json, onemap_engine::Error> {
        let hits = engine.nearest(&caller, &layer, geo::Point::new(lon, lat), k, None)?;
        Ok(json!({
            "type": "FeatureCollection",
            "features": hits.hits.iter().map(|h| hits.feature_json(h)).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, GEOJSON, &doc))
}

/// `GET /collections/{id}/queryables`: the fields a caller may filter on, as JSON Schema.
#[utoipa::path(get, path = "/collections/{id}/queryables", tag = "OGC API – Features",
    params(("id" = String, Path, description = "Layer name")),
    responses((status = 200, description = "JSON Schema of the fields the caller may filter on"), (status = 404, description = "Unknown collection", body = crate::error::ErrorBody)))]
pub async fn queryables(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path.map_err(path_err)?;
    let caller = who.caller.clone();
    let meta = meta_for(&st, &caller, &id).await?;
    let visible = st.engine.visible_fields(&caller, &meta);
    let base = base_url(&st, &headers);
    let mut props = serde_json::Map::new();
    for (f, v) in meta.schema.fields().iter().zip(&visible) {
        if !*v {
            continue;
        }
        let ty = match f.ty {
            onemap_engine::FieldType::Int => json!({ "type": "integer" }),
            onemap_engine::FieldType::Float => json!({ "type": "number" }),
            onemap_engine::FieldType::Bool => json!({ "type": "boolean" }),
            onemap_engine::FieldType::Text => json!({ "type": "string" }),
            onemap_engine::FieldType::Date => json!({ "type": "string", "format": "date" }),
        };
        props.insert(f.name.clone(), ty);
    }
    props.insert(
        "geometry".into(),
        json!({ "format": "geometry-any", "x-ogc-role": "primary-geometry" }),
    );
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{}/queryables", encode_segment(&id)),
        "type": "object",
        "title": id,
        "properties": props,
        "additionalProperties": false,
    });
    Ok(json_response(
        StatusCode::OK,
        "application/schema+json",
        &doc,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_without_a_library() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn bbox_rules() {
        assert!(parse_bbox("113.7,34.3,113.8,34.4").is_ok());
        for bad in [
            "1,2,3",
            "a,b,c,d",
            "113.8,34.3,113.7,34.4",
            "0,0,0,91",
            "1,2,3,4,5,6",
            "NaN,0,1,1",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_above_the_maximum_are_clamped() {
        assert_eq!(page_limit("1").unwrap(), 1);
        assert_eq!(page_limit(" 250 ").unwrap(), 250);
        assert_eq!(page_limit("10000").unwrap(), MAX_LIMIT);
        assert_eq!(page_limit("10001").unwrap(), MAX_LIMIT);
        assert_eq!(page_limit("1000000000").unwrap(), MAX_LIMIT);
        // Beyond any integer type: still a whole number above the maximum.
        assert_eq!(page_limit(&"9".repeat(60)).unwrap(), MAX_LIMIT);
        for bad in ["0", "000", "-1", "", "1.5", "ten"] {
            assert!(page_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_strings() {
        let p = params(Some("a=1&b=%E9%83%91%E5%B7%9E&c=x+y&d")).unwrap();
        assert_eq!(p[1], ("b".to_string(), "郑州".to_string()));
        assert_eq!(p[2].1, "x y");
        assert_eq!(p[3], ("d".to_string(), String::new()));
        assert!(params(Some("a=%ZZ")).is_err());
        assert!(params(Some("a=%")).is_err());
        assert!(params(Some("a=%FF")).is_err());
    }
}
