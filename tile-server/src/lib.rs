//! onemap's HTTP server (axum): the layer catalog, vector tiles with TileJSON, MapLibre styles,
//! health and Prometheus metrics. Every error is JSON of one shape (see [`error::ApiError`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod analysis;
pub mod auth;
pub mod cache;
pub mod compress;
pub mod error;
pub mod export;
pub mod features;
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod state;
pub mod styles;
pub mod tiles;
pub mod watch;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use onemap_engine::Engine;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

pub use error::ApiError;
pub use http::Who;
pub use state::{AppState, ServerConfig};

#[utoipa::path(get, path = "/health", tag = "Service", responses((status = 200, description = "The server runs")))]
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/layers", tag = "Service", responses((status = 200, description = "The catalog: layers the caller may read, with TileJSON and style URLs")))]
async fn layers(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = st.engine.clone();
    let caller = who.caller;
    // Only the fields the caller may see are listed: hidden field names are not shown either.
    let list = tokio::task::spawn_blocking(move || engine.catalog_for(&caller)).await??;
    let base = tiles::base_url(&st, &headers);
    let mut out = Vec::with_capacity(list.len());
    for meta in list {
        let mut v = serde_json::to_value(&meta)
            .map_err(|e| ApiError::internal(format!("catalog entry: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            let seg = tiles::encode_segment(&meta.name);
            o.insert("tilejson".into(), json!(format!("{base}/tiles/{seg}.json")));
            o.insert("style".into(), json!(format!("{base}/styles/{seg}.json")));
        }
        out.push(v);
    }
    Ok(Json(json!({ "layers": out })))
}

#[utoipa::path(get, path = "/metrics", tag = "Service", responses((status = 200, description = "Prometheus text metrics", content_type = "text/plain")))]
async fn metrics_route(State(st): State<AppState>) -> Response {
    st.metrics
        .connections
        .store(st.conns.open() as u64, std::sync::atomic::Ordering::Relaxed);
    st.metrics.work.store(
        st.cores.saturating_sub(st.renders.available_permits()) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    let text = st.metrics.render(tiles::cache_figures(&st));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "onemap",
        description = "One map (一张图): OGC API – Features, spatial queries, vector tiles and styles over a city's layers. Every error is JSON {code, message, details}. Callers authenticate with a session cookie (POST /auth/login), an API key or OIDC token (Authorization: Bearer), or a configured gateway's identity headers; see docs/SECURITY.md."
    ),
    paths(
        health,
        layers,
        metrics_route,
        api,
        features::landing,
        features::conformance,
        features::collections,
        features::collection,
        features::items,
        features::item,
        features::queryables,
        features::identify,
        features::nearest,
        features::intersects,
        features::stats,
        analysis::approval_route,
        analysis::violations_route,
        analysis::landuse_route,
        analysis::run_route,
        analysis::redline_route,
        analysis::job_route,
        analysis::job_cancel_route,
        auth::login_route,
        auth::logout_route,
        auth::me_route,
        admin::audit_route,
        tiles::tile,
        tiles::tilejson_route,
        styles::style_route,
    ),
    components(schemas(error::ErrorBody))
)]
pub struct ApiDoc;

/// The media type of the OpenAPI document at `/api` (the landing page's `service-desc`).
pub const OPENAPI_MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.1";

#[utoipa::path(get, path = "/api", tag = "Service", responses((status = 200, description = "This OpenAPI document")))]
async fn api() -> Response {
    let doc = <ApiDoc as utoipa::OpenApi>::openapi();
    match doc.to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENAPI_MEDIA_TYPE)], text).into_response(),
        Err(e) => ApiError::internal(format!("OpenAPI document: {e}")).into_response(),
    }
}

async fn fallback() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .record(&route, resp.status().as_u16(), started.elapsed());
    resp
}

/// The HTTP routes over an engine with default settings (authentication off, anonymous
/// callers without roles).
pub fn router(engine: Arc<Engine>) -> Result<Router, String> {
    Ok(router_with(state::state(engine, ServerConfig::default())?))
}

/// The HTTP routes over prepared state, with the shared plumbing: security headers, then the
/// caller's identity, then its rate limit, then the route.
pub fn router_with(st: AppState) -> Router {
    // Any origin may read with its own credentials, but a page on another site cannot send
    // cookies (SameSite=Strict, no credentials in CORS) or identity headers (not allowed).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::ACCEPT,
            header::ACCEPT_ENCODING,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG, header::CONTENT_ENCODING]);
    Router::new()
        .route("/", get(features::landing))
        .route("/conformance", get(features::conformance))
        .route("/collections", get(features::collections))
        .route("/collections/{id}", get(features::collection))
        .route("/collections/{id}/items", get(features::items))
        .route("/collections/{id}/items/{fid}", get(features::item))
        .route("/collections/{id}/queryables", get(features::queryables))
        .route("/query/identify", get(features::identify))
        .route("/query/nearest", get(features::nearest))
        .route(
            "/query/intersects",
            axum::routing::post(features::intersects),
        )
        .route("/query/stats", axum::routing::post(features::stats))
        .route(
            "/analysis/approval",
            axum::routing::post(analysis::approval_route),
        )
        .route(
            "/analysis/violations",
            axum::routing::post(analysis::violations_route),
        )
        .route(
            "/analysis/landuse",
            axum::routing::post(analysis::landuse_route),
        )
        .route("/analysis/runs/{id}", get(analysis::run_route))
        .route(
            "/analysis/redline",
            axum::routing::post(analysis::redline_route),
        )
        .route(
            "/jobs/{id}",
            get(analysis::job_route).delete(analysis::job_cancel_route),
        )
        .route("/jobs/{id}/{file}", get(analysis::job_file_route))
        .route("/auth/login", axum::routing::post(auth::login_route))
        .route("/auth/logout", axum::routing::post(auth::logout_route))
        .route("/auth/me", get(auth::me_route))
        .route("/admin/audit", get(admin::audit_route))
        .route("/app/{file}", get(web::asset_route))
        .route("/api", get(api))
        .route("/health", get(health))
        .route("/layers", get(layers))
        .route("/metrics", get(metrics_route))
        .route("/tiles/{file}", get(tiles::tilejson_route))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .route("/styles/{file}", get(styles::style_route))
        .route_layer(middleware::from_fn_with_state(st.clone(), track))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            st.clone(),
            http::limits::rate_limit,
        ))
        .layer(middleware::from_fn_with_state(
            st.clone(),
            http::identity::identify,
        ))
        .layer(cors)
        .layer(middleware::from_fn(http::respond::security_headers))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(st)
}

/// Serve until `shutdown` resolves, with default settings. `on_bound` gets the bound address
/// first (useful with port 0).
pub async fn serve(
    engine: Arc<Engine>,
    bind: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let st = state::state(engine, ServerConfig::default()).map_err(std::io::Error::other)?;
    serve_with(st, bind, on_bound, shutdown).await
}

/// Serve prepared state until `shutdown` resolves: the accept loop with its caps and timeouts,
/// the audit writer, and the rate limiters' housekeeping. Queued audit records are written
/// before it returns.
pub async fn serve_with(
    st: AppState,
    bind: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    on_bound(listener.local_addr()?);
    st.engine
        .start_audit_writer(std::time::Duration::from_millis(200));
    let housekeeping = {
        let st = st.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tick.tick().await;
                st.limits.housekeeping();
            }
        })
    };
    let served = http::serve::serve(
        listener,
        router_with(st.clone()),
        st.config.connections.clone(),
        st.conns.clone(),
        shutdown,
    )
    .await;
    housekeeping.abort();
    let engine = st.engine.clone();
    match tokio::task::spawn_blocking(move || engine.flush_audit()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "audit records could not be written at shutdown"),
        Err(e) => tracing::error!(error = %e, "audit flush failed"),
    }
    served
}
