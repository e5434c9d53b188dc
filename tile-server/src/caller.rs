//! Who is calling. Until authentication lands, the identity comes from the `X-Onemap-User` and
//! `X-Onemap-Roles` headers set by a trusted gateway; without them the caller is anonymous.
use axum::http::HeaderMap;
use onemap_engine::Caller;

/// The caller of a request.
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
