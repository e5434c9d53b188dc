//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt` and `GET /tiles/{layers}.json` (TileJSON 3.0.0).
//!
//! `{layers}` is one layer name or several joined by `,` (one MVT layer each). Empty tiles answer
//! `204 No Content`. Tile URLs in TileJSON carry `?v=<token>` naming the layer versions: such a
//! URL never changes content, so it is sent with a long `max-age`; other tile requests get
//! `no-cache` and revalidate with `ETag` / `If-None-Match`.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onemap_engine::index::LoadedLayer;
use onemap_engine::tiling::{self, LayerTiling, MAX_ZOOM, SourceLayer, TileId};
use onemap_engine::{Caller, FieldType};
use serde_json::json;

use crate::cache::CachedTile;
use crate::compress::{self, Coding};
use crate::error::ApiError;
use crate::http::Who;
use crate::state::AppState;

/// MVT media type (IANA registration by Mapbox).
pub const MVT_MEDIA_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// Most layers one request may combine (the composite style names every layer).
const MAX_LAYERS: usize = 256;

fn stable_hash(parts: impl Iterator<Item = impl Hash>) -> u64 {
    // SipHash with fixed keys: the same on every run and machine.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// Split `a,b,c` into names: non-empty, no duplicates, at most [`MAX_LAYERS`].
pub fn layer_names(spec: &str) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = spec.split(',').map(|s| s.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(ApiError::bad_request(
            "bad_layers",
            format!("empty layer name in '{spec}'"),
        ));
    }
    if names.len() > MAX_LAYERS {
        return Err(ApiError::bad_request(
            "bad_layers",
            format!(
                "at most {MAX_LAYERS} layers per request, got {}",
                names.len()
            ),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(ApiError::bad_request(
                "bad_layers",
                format!("layer '{n}' is named twice"),
            ));
        }
    }
    Ok(names)
}

/// The layers of a request, loaded and checked against the caller's rights, with the fields the
/// caller may see.
pub struct Resolved {
    /// Layers in request order.
    pub layers: Vec<Arc<LoadedLayer>>,
    /// Visible fields per layer.
    pub visible: Vec<Vec<bool>>,
    /// Per layer: does the caller see personal fields of it (its tiles are audited)?
    pub personal: Vec<bool>,
    /// Whether an anonymous caller would see exactly the same (then responses may be shared by
    /// public caches).
    pub public_view: bool,
}

impl Resolved {
    /// Token naming these layer versions and this caller's view of them.
    pub fn token(&self) -> String {
        let h = stable_hash(
            self.layers
                .iter()
                .zip(&self.visible)
                .map(|(l, v)| (l.meta.table.as_str(), v.as_slice())),
        );
        format!("{:012x}", h & 0xffff_ffff_ffff)
    }
}

/// Load (if needed) and check the named layers.
pub async fn resolve(
    st: &AppState,
    caller: &Caller,
    names: &[String],
) -> Result<Resolved, ApiError> {
    let mut layers = Vec::with_capacity(names.len());
    let mut visible = Vec::with_capacity(names.len());
    let mut personal = Vec::with_capacity(names.len());
    let policy = st.engine.policy();
    for name in names {
        // A layer the caller may not read is answered exactly like a missing one.
        let layer = match st.engine.loaded_layer_for(caller, name)? {
            Some(l) => l,
            None => {
                let (engine, c, n) = (st.engine.clone(), caller.clone(), name.clone());
                tokio::task::spawn_blocking(move || engine.layer_for(&c, &n)).await??
            }
        };
        let view = st.engine.field_view(caller, &layer.meta);
        personal.push(view.shows_personal());
        visible.push(view.visible);
        layers.push(layer);
    }
    let anonymous = Caller::anonymous_with(st.config.auth.anonymous.clone().unwrap_or_default());
    let public_view = st.config.auth.anonymous.is_some()
        && layers.iter().zip(&visible).all(|(l, v)| {
            policy.can_read_layer(&anonymous, &l.meta)
                && st.engine.visible_fields(&anonymous, &l.meta) == *v
        });
    Ok(Resolved {
        layers,
        visible,
        personal,
        public_view,
    })
}

fn parse_coord(what: &str, s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "bad_tile_address",
            format!("{what} '{s}' is not a non-negative integer"),
        )
        .with_details(json!({ "parameter": what }))
    })
}

/// Parse `z`, `x` and `y.ext` into a checked tile address.
pub fn parse_address(z: &str, x: &str, y_ext: &str) -> Result<TileId, ApiError> {
    let Some((y, ext)) = y_ext.rsplit_once('.') else {
        return Err(ApiError::bad_request(
            "bad_extension",
            format!("tile '{y_ext}' needs an extension: .mvt or .pbf"),
        ));
    };
    if ext != "mvt" && ext != "pbf" {
        return Err(ApiError::bad_request(
            "bad_extension",
            format!("unsupported tile format '.{ext}': use .mvt or .pbf"),
        )
        .with_details(json!({ "allowed": ["mvt", "pbf"] })));
    }
    let z = parse_coord("z", z)?;
    if z > u64::from(MAX_ZOOM) {
        return Err(ApiError::bad_request(
            "bad_tile_address",
            format!("zoom {z} is beyond the deepest zoom {MAX_ZOOM}"),
        )
        .with_details(json!({ "parameter": "z", "max": MAX_ZOOM })));
    }
    let (x, y) = (parse_coord("x", x)?, parse_coord("y", y)?);
    TileId::new(z as u32, x, y).map_err(|e| {
        ApiError::bad_request(
            "bad_tile_address",
            e.to_string().replace("invalid query: ", ""),
        )
        .with_details(json!({ "max": (1u64 << z) - 1 }))
    })
}

fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request("bad_path", format!("cannot read the path: {e}"))
}

fn query_param(raw: Option<&str>, key: &str) -> Option<String> {
    raw?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| v.to_string())
    })
}

fn make_tile(st: &AppState, resolved: &Resolved, tile: TileId) -> Result<CachedTile, ApiError> {
    let tilings: Vec<LayerTiling> = resolved
        .layers
        .iter()
        .map(|l| LayerTiling::for_layer(&l.meta))
        .collect();
    let sources: Vec<SourceLayer<'_>> = resolved
        .layers
        .iter()
        .zip(&resolved.visible)
        .zip(&tilings)
        .map(|((layer, visible), tiling)| SourceLayer {
            layer,
            visible,
            tiling,
        })
        .collect();
    let rendered = tiling::render(&sources, tile, &st.config.tiles)?;
    let counts = rendered.layers.iter().map(|l| l.source_features).collect();
    if rendered.cap_dropped > 0 || rendered.grid > 1 {
        tracing::info!(%tile, grid = rendered.grid, dropped = rendered.cap_dropped, bytes = rendered.bytes.len(), "tile size cap applied");
    }
    let raw = rendered.bytes;
    let (gzip, brotli) = if raw.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (
            compress::gzip(&raw).map_err(|e| ApiError::internal(format!("gzip: {e}")))?,
            compress::brotli(&raw).map_err(|e| ApiError::internal(format!("brotli: {e}")))?,
        )
    };
    let etag = format!("\"{:016x}\"", stable_hash(std::iter::once(&raw)));
    Ok(CachedTile {
        raw,
        gzip,
        brotli,
        etag,
        counts,
    })
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// `GET /tiles/{layers}/{z}/{x}/{y}.mvt`.
#[utoipa::path(get, path = "/tiles/{layers}/{z}/{x}/{y}.mvt", tag = "Tiles",
    params(("layers" = String, Path, description = "One layer or several joined by commas"),
        ("z" = u8, Path, description = "Zoom 0..=24"), ("x" = u32, Path, description = "Column"), ("y" = u32, Path, description = "Row"),
        ("v" = Option<String>, Query, description = "Version token from TileJSON (long-lived caching)")),
    responses((status = 200, description = "Mapbox Vector Tile (gzip or br by Accept-Encoding)", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 204, description = "No feature in this tile"), (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad address or extension", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown layer", body = crate::error::ErrorBody),
        (status = 503, description = "An import holds the store; retry", body = crate::error::ErrorBody)))]
pub async fn tile(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((spec, z, x, y_ext)) = path.map_err(path_error)?;
    let address = parse_address(&z, &x, &y_ext)?;
    let names = layer_names(&spec)?;
    let caller = who.caller.clone();
    let resolved = Arc::new(resolve(&st, &caller, &names).await?);
    let token = resolved.token();
    let key = format!("{address}|{token}|{}", names.join(","));
    let (cached, _hit) = {
        let st2 = st.clone();
        let resolved = resolved.clone();
        st.cache
            .get_or_make(&key, move || async move {
                // Owned and moved into the render: it is held until the render really stops, also
                // when every waiting client has gone and this future is dropped.
                let permit = st2
                    .renders
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| ApiError::internal(format!("render queue closed: {e}")))?;
                let st3 = st2.clone();
                // A tile may be shared by many waiting requests: it stops at the server's time
                // limit, not when one of its clients goes away.
                let ctx = Arc::new(onemap_engine::context::WorkContext::with_cancel(
                    onemap_engine::context::Cancel::new(Some(
                        std::time::Instant::now() + st2.config.query_timeout,
                    )),
                ));
                tokio::task::spawn_blocking(move || {
                    let _held = permit;
                    onemap_engine::context::run_in(ctx, || make_tile(&st3, &resolved, address))
                })
                .await?
            })
            .await?
    };
    // Tiles that carry personal fields are recorded in the access audit, cached or not.
    if resolved.personal.iter().any(|p| *p) {
        let engine = st.engine.clone();
        let (resolved2, cached2) = (resolved.clone(), cached.clone());
        let ctx = who.context();
        tokio::task::spawn_blocking(move || {
            onemap_engine::context::run_in(ctx, || {
                for (k, layer) in resolved2.layers.iter().enumerate() {
                    let count = cached2.counts.get(k).copied().unwrap_or(0);
                    if resolved2.personal[k] && count > 0 {
                        let view = engine.field_view(&caller, &layer.meta);
                        engine.note_read(&caller, &layer.meta, &view, count)?;
                    }
                }
                Ok::<_, onemap_engine::Error>(())
            })
        })
        .await??;
    }
    // A view with fields an anonymous caller may not see is never stored by shared caches.
    let scope = if resolved.public_view {
        "public"
    } else {
        "private"
    };
    let cache_control = if query_param(query.as_deref(), "v").as_deref() == Some(token.as_str()) {
        format!(
            "{scope}, max-age={}, immutable",
            st.config.immutable_max_age
        )
    } else if resolved.public_view {
        "no-cache".to_string()
    } else {
        "private, no-cache".to_string()
    };
    let coding = compress::negotiate(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    // One entity tag per representation: the gzip body is not the brotli body.
    let etag = match coding {
        Coding::Brotli => cached.etag.replacen('"', "\"br-", 1),
        Coding::Gzip => cached.etag.replacen('"', "\"gz-", 1),
        Coding::Identity => cached.etag.clone(),
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "Accept-Encoding, Authorization, Cookie, X-Onemap-User, X-Onemap-Roles",
        ),
    );
    if etag_matches(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    if cached.raw.is_empty() {
        return Ok((StatusCode::NO_CONTENT, h).into_response());
    }
    let body = match coding {
        Coding::Brotli => cached.brotli.clone(),
        Coding::Gzip => cached.gzip.clone(),
        Coding::Identity => cached.raw.clone(),
    };
    if let Some(enc) = coding.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MVT_MEDIA_TYPE),
    );
    st.metrics
        .tile_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    st.metrics.tiles.fetch_add(1, Ordering::Relaxed);
    Ok((StatusCode::OK, h, body).into_response())
}

/// The base URL for links: the configured public URL, or `http://<Host>`.
pub fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &st.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Percent-encode a path segment (layer names may be Chinese).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A field's type as TileJSON `vector_layers` and MBTiles/PMTiles metadata name it.
pub fn field_type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Int | FieldType::Float => "Number",
        FieldType::Bool => "Boolean",
        FieldType::Text | FieldType::Date => "String",
    }
}

/// The union of the layers' bounds as `[west, south, east, north]` (`None` when all are empty).
pub fn union_bounds<'a>(
    metas: impl IntoIterator<Item = &'a onemap_engine::LayerMeta>,
) -> Option<[f64; 4]> {
    metas
        .into_iter()
        .filter_map(|m| m.bounds)
        .map(|b| [b.min().x, b.min().y, b.max().x, b.max().y])
        .reduce(|o, n| {
            [
                o[0].min(n[0]),
                o[1].min(n[1]),
                o[2].max(n[2]),
                o[3].max(n[3]),
            ]
        })
}

/// Deepest zoom advertised in TileJSON (clients over-zoom beyond it).
pub const TILEJSON_MAX_ZOOM: u8 = 20;

/// The TileJSON 3.0.0 document for resolved layers.
pub fn tilejson(
    st: &AppState,
    headers: &HeaderMap,
    names: &[String],
    r: &Resolved,
) -> serde_json::Value {
    let base = base_url(st, headers);
    let spec = names.join(",");
    let token = r.token();
    let bounds = union_bounds(r.layers.iter().map(|l| &l.meta));
    let mut vector_layers = Vec::new();
    for (layer, visible) in r.layers.iter().zip(&r.visible) {
        let meta = &layer.meta;
        let tiling = LayerTiling::for_layer(meta);
        let fields: serde_json::Map<String, serde_json::Value> = meta
            .schema
            .fields()
            .iter()
            .zip(visible)
            .filter(|(_, v)| **v)
            .map(|(f, _)| (f.name.clone(), json!(field_type_name(f.ty))))
            .collect();
        vector_layers.push(json!({
            "id": meta.name,
            "description": format!("{} layer '{}' v{} ({} features, from {})", meta.kind, meta.name, meta.version, meta.feature_count, meta.source_crs),
            "minzoom": 0,
            "maxzoom": TILEJSON_MAX_ZOOM,
            "fields": fields,
            "onemap": {
                "kind": meta.kind,
                "version": meta.version,
                "geometry_type": meta.geometry_type,
                "feature_count": meta.feature_count,
                "detail_zoom": tiling.detail_zoom,
                "low_zoom_fields": tiling.low_zoom_fields.iter().filter(|f| fields.contains_key(*f)).collect::<Vec<_>>(),
                "style_field": meta.kind.style_field(&meta.schema).filter(|f| fields.contains_key(*f)),
            }
        }));
    }
    let b = bounds.unwrap_or([-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59]);
    // Centre zoom: the deepest at which the bounds still fit in about two 512-px tiles.
    let span = (b[2] - b[0]).max(b[3] - b[1]).max(1e-9);
    let zoom = (360.0 / span).log2().floor().clamp(0.0, 16.0) + 1.0;
    json!({
        "tilejson": "3.0.0",
        "name": spec,
        "description": format!("onemap vector tiles: {spec}"),
        "version": "1.0.0",
        "attribution": "onemap",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt?v={token}", encode_segment(&spec))],
        "minzoom": 0,
        "maxzoom": TILEJSON_MAX_ZOOM,
        "bounds": b,
        "center": [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, zoom.min(f64::from(TILEJSON_MAX_ZOOM))],
        "vector_layers": vector_layers,
    })
}

/// `GET /tiles/{layers}.json`.
#[utoipa::path(get, path = "/tiles/{layers}.json", tag = "Tiles",
    params(("layers" = String, Path, description = "One layer or several joined by commas")),
    responses((status = 200, description = "TileJSON 3.0.0"), (status = 404, description = "Unknown layer", body = crate::error::ErrorBody)))]
pub async fn tilejson_route(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(file) = path.map_err(path_error)?;
    let Some(spec) = file.strip_suffix(".json") else {
        return Err(ApiError::not_found(format!(
            "no such resource '/tiles/{file}': TileJSON is at /tiles/{{layers}}.json, tiles at /tiles/{{layers}}/{{z}}/{{x}}/{{y}}.mvt"
        )));
    };
    let names = layer_names(spec)?;
    let resolved = resolve(&st, &who.caller, &names).await?;
    let doc = tilejson(&st, &headers, &names, &resolved);
    Ok(([(header::CACHE_CONTROL, "no-cache")], axum::Json(doc)).into_response())
}

/// Cache figures for `/metrics`.
pub fn cache_figures(st: &AppState) -> (u64, u64, usize, usize) {
    (
        st.cache.hits.load(Ordering::Relaxed),
        st.cache.misses.load(Ordering::Relaxed),
        st.cache.bytes(),
        st.cache.len(),
    )
}

/// Map of layer name to its TileJSON URL, for `/layers`.
pub fn tilejson_urls(base: &str, names: &[String]) -> HashMap<String, String> {
    names
        .iter()
        .map(|n| {
            (
                n.clone(),
                format!("{base}/tiles/{}.json", encode_segment(n)),
            )
        })
        .collect()
}
