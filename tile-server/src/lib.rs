//! onemap's HTTP server (axum). Today: `/health` and the layer catalog at `/layers`, with JSON errors
//! of one stable shape. Vector tiles, TileJSON and styles land with the tile-server issue.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use onemap_engine::{Caller, Engine};
use serde_json::json;

/// An HTTP error: `{ "code": ..., "message": ..., "details": ... }` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// 404 for a path that does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
}

impl From<onemap_engine::Error> for ApiError {
    fn from(e: onemap_engine::Error) -> ApiError {
        use onemap_engine::Error as E;
        let (status, code) = match &e {
            E::UnknownLayer(_) => (StatusCode::NOT_FOUND, "unknown_layer"),
            E::AccessDenied(_) => (StatusCode::FORBIDDEN, "forbidden"),
            e if e.is_user_error() => (StatusCode::BAD_REQUEST, "bad_request"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed");
        }
        ApiError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "code": self.code, "message": self.message, "details": null }));
        (self.status, body).into_response()
    }
}

/// Who is calling. Until authentication lands, the identity comes from the `X-Onemap-User` and
/// `X-Onemap-Roles` headers set by a trusted gateway; without them the caller is anonymous.
pub fn caller_from(headers: &HeaderMap) -> Caller {
    let user = headers.get("x-onemap-user").and_then(|v| v.to_str().ok());
    let roles = headers
        .get("x-onemap-roles")
        .and_then(|v| v.to_str().ok())
        .map(|r| {
            r.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    match user {
        Some(u) => Caller::new(u, roles),
        None => Caller {
            id: None,
            roles: roles.into_iter().collect(),
        },
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn layers(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller_from(&headers);
    let list = tokio::task::spawn_blocking(move || engine.layers_for(&caller))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: e.to_string(),
        })??;
    Ok(Json(json!({ "layers": list })))
}

async fn fallback() -> ApiError {
    ApiError::not_found("no such route")
}

/// The HTTP routes over an engine.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/layers", get(layers))
        .fallback(fallback)
        .with_state(engine)
}

/// Serve until `shutdown` resolves. Returns the bound address through `on_bound` first (useful
/// with port 0).
pub async fn serve(
    engine: Arc<Engine>,
    bind: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}
