//! Every error the server returns: JSON `{ "code", "message", "details" }` with a fitting status.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The JSON shape of every error (for the OpenAPI document).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_layer`, `bad_parameter`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured facts (the parameter at fault, allowed values...), or null.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An HTTP error.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `unknown_layer`.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Extra structured facts (the parameter at fault, allowed values...).
    pub details: serde_json::Value,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// Attach details.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = details;
        self
    }

    /// 404 for a path that does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400 for a request we cannot make sense of.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Replace the message (the logged one stays as it was).
    pub fn with_message(mut self, message: impl Into<String>) -> ApiError {
        self.message = message.into();
        self
    }

    /// 500: the detail goes to the log, the client gets a generic message (store errors and
    /// panic messages are not for the outside).
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(%message, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl From<onemap_engine::Error> for ApiError {
    fn from(e: onemap_engine::Error) -> ApiError {
        use onemap_engine::Error as E;
        match &e {
            E::UnknownLayer(name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_layer",
                format!("no layer named '{name}'"),
            )
            .with_details(json!({ "layer": name })),
            // The engine answers hidden layers as missing ones; a stray AccessDenied is the same.
            E::AccessDenied(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found"),
            E::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            E::NotAResult(name) => {
                ApiError::new(StatusCode::CONFLICT, "layer_exists", e.to_string())
                    .with_details(json!({ "layer": name }))
            }
            E::Cancelled(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cancelled",
                format!("the work was {e}"),
            ),
            E::Audit(_) => {
                tracing::error!(error = %e, "access audit unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "this read must be recorded in the access audit, which cannot be written right now; retry shortly",
                )
            }
            // An import in another process holds the store for a moment: try again shortly.
            E::Locked { .. } => {
                tracing::info!(error = %e, "store busy");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the store is being written by an import; retry in a few seconds",
                )
                .with_details(json!({ "retry_after_s": 2 }))
            }
            E::Open { .. } | E::FormatVersion { .. } => ApiError::internal(e.to_string())
                .with_message("the store cannot be read; see the server log"),
            e if e.is_user_error() => ApiError::bad_request("bad_request", e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("worker task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            return (self.status, [(axum::http::header::RETRY_AFTER, "2")], body).into_response();
        }
        (self.status, body).into_response()
    }
}
