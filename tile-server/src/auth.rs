//! Logging in and out of the web client: `POST /auth/login` (user and password → a session
//! cookie and a CSRF token), `POST /auth/logout`, `GET /auth/me` (who the server thinks the
//! caller is). Failed logins are counted per account (a run of them locks it for a while) and
//! per address (a rate limit), and recorded in the access audit; a wrong password, an unknown
//! user and a locked or disabled account get the same answer.
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onemap_engine::access::credentials;
use onemap_engine::store::AuditEvent;
use onemap_engine::{Caller, Via};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::http::extract::json_body_required;
use crate::http::identity::Identity;
use crate::http::limits::too_many;
use crate::http::sessions::{self, COOKIE};
use crate::http::{Who, json_response};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

fn refused(st: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "login_failed",
        format!(
            "wrong user name or password, or the account is locked or disabled ({} failures in a row lock it for {} minutes)",
            st.config.auth.lockout_after,
            st.config.auth.lockout_for.as_secs() / 60
        ),
    )
}

/// `POST /auth/login` with `{"user", "password"}`.
#[utoipa::path(post, path = "/auth/login", tag = "Authentication",
    request_body(content = serde_json::Value, description = "{\"user\": name, \"password\": password}", content_type = "application/json"),
    responses((status = 200, description = "Logged in: a session cookie (HttpOnly, SameSite=Strict) and {user, roles, department, csrf}; send csrf as X-CSRF-Token with every write"),
        (status = 401, description = "Wrong user or password, or the account is locked or disabled", body = crate::error::ErrorBody),
        (status = 404, description = "This server has no accounts", body = crate::error::ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = crate::error::ErrorBody)))]
pub async fn login_route(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if !st.config.auth.accounts {
        return Err(ApiError::not_found(
            "this server has no accounts (see its [auth] settings)",
        ));
    }
    let peer = req.extensions().get::<Identity>().and_then(|i| i.peer);
    if let Err(wait) = st.limits.check_login(peer) {
        return Ok(too_many(wait, "too many login attempts from this address"));
    }
    json_body_required(req.headers())?;
    let body = axum::body::to_bytes(req.into_body(), 16 * 1024)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "a login is a user name and a password",
            )
        })?;
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("expected {{\"user\", \"password\"}}: {e}"),
        )
    })?;
    let user_name = login.user.trim().to_string();
    if user_name.is_empty() || user_name.len() > 256 || login.password.len() > 1024 {
        return Err(refused(&st));
    }
    // argon2 costs ~19 MiB and tens of ms: a few at a time. The permit moves into the work, so
    // a client that leaves does not free it while the hash still runs.
    let hashing = st
        .auth
        .hashing
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal(format!("login queue closed: {e}")))?;
    let st2 = st.clone();
    let name = user_name.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<Option<_>, ApiError> {
        let _held = hashing;
        let store = st2.engine.store();
        let user = store.user(&name)?;
        let now = chrono::Utc::now();
        let usable = user.as_ref().filter(|u| {
            !u.disabled
                && !u
                    .locked_until
                    .as_deref()
                    .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > now))
        });
        // The same work whether or not the user exists.
        let hash = usable
            .map(|u| u.password_hash.as_str())
            .unwrap_or(credentials::decoy_hash());
        let ok = credentials::verify_password(&login.password, hash) && usable.is_some();
        let who = Caller::new(name.clone(), Vec::<String>::new()).via(Via::Session);
        if !ok {
            let event = AuditEvent::new(&who, "login_failed")
                .route("POST /auth/login")
                .detail(json!({ "user": name, "known": user.is_some() }));
            let (failures, locked) = store.login_failed(
                &name,
                st2.config.auth.lockout_after,
                st2.config.auth.lockout_for,
                &event,
            )?;
            if locked.is_some() {
                tracing::warn!(user = %name, failures, "account locked after failed logins");
            }
            return Ok(None);
        }
        let Some(u) = user else { return Ok(None) };
        store.login_succeeded(
            &name,
            &AuditEvent::new(&who, "login").route("POST /auth/login"),
        )?;
        Ok(Some(u))
    })
    .await??;
    let Some(user) = outcome else {
        return Err(refused(&st));
    };
    st.auth.remember_user(user.clone());
    let (token, csrf) = st.auth.sessions.start(&user.name, &user.updated_at);
    let mut r = json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "user": user.name,
            "roles": user.roles,
            "department": user.department,
            "csrf": csrf,
        }),
    );
    let cookie = sessions::set_cookie(
        &token,
        st.config.auth.secure_cookies,
        st.config.auth.session_max,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `POST /auth/logout`: ends the session (with the session's CSRF token, as every write).
#[utoipa::path(post, path = "/auth/logout", tag = "Authentication",
    responses((status = 200, description = "Logged out; the cookie is cleared"),
        (status = 403, description = "No X-CSRF-Token", body = crate::error::ErrorBody)))]
pub async fn logout_route(State(st): State<AppState>, req: Request) -> Response {
    let token = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| sessions::cookie_value(c, COOKIE))
        .map(str::to_string);
    if let Some(t) = &token {
        st.auth.sessions.end(t);
    }
    let mut r = json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "logged_out": token.is_some() }),
    );
    if let Ok(v) = HeaderValue::from_str(&sessions::clear_cookie(st.config.auth.secure_cookies)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /auth/me`: the caller as the server sees it, and how one may log in.
#[utoipa::path(get, path = "/auth/me", tag = "Authentication",
    responses((status = 200, description = "{authenticated, user, roles, department, via, csrf (a session's), accounts, anonymous}")))]
pub async fn me_route(State(st): State<AppState>, who: Who, req: Request) -> Response {
    let csrf = req
        .extensions()
        .get::<Identity>()
        .and_then(|i| i.csrf.clone());
    let c = &who.caller;
    let mut r = json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "authenticated": c.is_authenticated(),
            "user": c.id,
            "roles": c.roles,
            "department": c.department,
            "via": c.via,
            "csrf": csrf,
            "accounts": st.config.auth.accounts,
            "anonymous": st.config.auth.anonymous.is_some(),
        }),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.into_response()
}
