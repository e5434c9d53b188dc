//! Writing responses: JSON with a media type, and the headers every response carries —
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and for HTML a Content Security Policy
//! that allows only the server's own scripts, styles and workers and no framing
//! (`frame-ancestors 'none'`, plus `X-Frame-Options` for older browsers).
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

/// A JSON document with its media type.
pub fn json_response(status: StatusCode, media: &'static str, body: &Json) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    r
}

/// A table as a download, `NAME.csv` (the first sheet) or `NAME.xlsx` (every sheet); `xlsx`
/// picks the format. Building an XLSX takes a while: call it on a blocking thread.
pub fn table_download(
    sheets: &[onemap_engine::analytics::table::Sheet],
    xlsx: bool,
    name: &str,
) -> Result<Response, crate::error::ApiError> {
    use onemap_engine::analytics::table;
    let (bytes, media, ext) = if xlsx {
        (
            table::xlsx_bytes(sheets)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        )
    } else {
        (
            sheets
                .first()
                .map(table::csv_bytes)
                .transpose()?
                .unwrap_or_default(),
            "text/csv; charset=utf-8",
            "csv",
        )
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// The policy for HTML pages: the web client loads only its own files; MapLibre needs `blob:`
/// workers and `data:` images; the analysis reports inline their styles and SVG.
pub const CSP: &str = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; \
     child-src blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The middleware adding the security headers.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}
