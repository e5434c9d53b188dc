//! The web client for planners, embedded at build time (`build.rs` includes `web/dist`): `/` for
//! browsers, its files under `/app/`.
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// An embedded file.
pub fn asset(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// True when the web client was built into this binary.
pub fn built() -> bool {
    asset("index.html").is_some()
}

fn media_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

fn respond(name: &str, bytes: &'static [u8], cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type(name)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>onemap</title></head>\
<body><h1>onemap 一张图</h1><p>此版本未内置网页客户端。The web client is not built into this binary: \
run <code>scripts/demo.sh</code> (or <code>npm ci &amp;&amp; npm run build</code> in tile-server/web, then rebuild).</p>\
<p>API: <a href=\"?f=html\">OGC API – Features</a>, <a href=\"api\">OpenAPI</a>, <a href=\"layers\">layers</a>.</p></body></html>";

/// The client's page (or a page saying how to build it).
pub fn index() -> Response {
    match asset("index.html") {
        Some(b) => respond("index.html", b, "no-cache"),
        None => {
            let mut r = (StatusCode::OK, NOT_BUILT).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    }
}

/// `GET /app/{file}`.
pub async fn asset_route(Path(file): Path<String>) -> Result<Response, ApiError> {
    let b = asset(&file)
        .ok_or_else(|| ApiError::not_found(format!("no file '{file}' in the web client")))?;
    Ok(respond(&file, b, "public, max-age=300"))
}
