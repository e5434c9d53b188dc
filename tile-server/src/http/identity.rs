//! Who is asking: every request passes [`identify`] before any route sees it. In order:
//!
//! 1. **Gateway headers** (`X-Onemap-User`, `-Roles`, `-Department`) are believed only from a
//!    configured proxy address that also sends the shared secret; from anyone else they are a
//!    401, never silently ignored or half-used. A repeated header is a 400, the wildcard role is
//!    refused, names are UTF-8.
//! 2. **`Authorization: Bearer`**: an API key (`omk_...`, checked against the keys in the store)
//!    or an OIDC/JWT token (checked against the issuer's JWKS). A bad one is a 401.
//! 3. **The session cookie** of a person logged in through `/auth/login`; writes made with it
//!    must carry the session's CSRF token.
//! 4. Otherwise the caller is **anonymous**, with the roles the operator gives anonymous callers
//!    — or refused with a 401 when anonymous access is off (the login page, `/health` and the
//!    web client's files stay reachable).
//!
//! The result is a [`Who`]: the caller, the request's cancellation token and what audit records
//! name (route, query).
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use onemap_engine::access::credentials;
use onemap_engine::context::Cancel;
use onemap_engine::store::{KeyRecord, UserRecord};
use onemap_engine::{Caller, Via};

use super::jwt::{Jwks, JwtConfig};
use super::sessions::{COOKIE, Sessions, cookie_value};
use crate::error::ApiError;
use crate::state::AppState;

/// Gateway mode (`[auth.gateway]`): identity headers from a trusted reverse proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The proxy addresses whose headers are believed.
    pub trusted: Vec<IpAddr>,
    /// The secret the proxy sends in `X-Onemap-Gateway-Secret`.
    pub secret: String,
}

/// How callers authenticate (`[auth]` in the config file).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// People log in with accounts from the store (`onemap users`).
    pub accounts: bool,
    /// Other systems use API keys from the store (`onemap keys`).
    pub api_keys: bool,
    /// Bearer tokens from an OIDC issuer.
    pub jwt: Option<JwtConfig>,
    /// Identity headers from a trusted gateway.
    pub gateway: Option<GatewayConfig>,
    /// Roles of anonymous callers; `None`: anonymous callers are refused.
    pub anonymous: Option<Vec<String>>,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after the login, whatever happens.
    pub session_max: Duration,
    /// Cookies are `Secure` (the server is behind TLS).
    pub secure_cookies: bool,
    /// Failed logins in a row that lock an account.
    pub lockout_after: u32,
    /// How long a locked account stays locked.
    pub lockout_for: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (gateways are trusted too).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for AuthConfig {
    /// Authentication off; anonymous callers with no roles.
    fn default() -> AuthConfig {
        AuthConfig {
            accounts: false,
            api_keys: false,
            jwt: None,
            gateway: None,
            anonymous: Some(Vec::new()),
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            lockout_after: 5,
            lockout_for: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// True when no way to authenticate is on: every caller is anonymous.
    pub fn is_off(&self) -> bool {
        !self.accounts && !self.api_keys && self.jwt.is_none() && self.gateway.is_none()
    }
}

/// Accounts and keys as the store holds them, reloaded when the store changes.
#[derive(Debug, Default)]
struct Directory {
    users: HashMap<String, UserRecord>,
    keys: HashMap<String, KeyRecord>,
}

/// The server's authentication state.
#[derive(Debug)]
pub struct Auth {
    /// Settings.
    pub config: AuthConfig,
    /// Login sessions.
    pub sessions: Sessions,
    directory: RwLock<Directory>,
    jwks: Option<Jwks>,
    /// argon2 runs at once (each takes ~19 MiB and tens of ms of a core).
    pub hashing: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    /// Set up from settings (a JWKS CA file is read now).
    pub fn new(config: AuthConfig) -> Result<Auth, String> {
        let jwks = config.jwt.clone().map(Jwks::new).transpose()?;
        Ok(Auth {
            sessions: Sessions::new(config.session_idle, config.session_max),
            config,
            directory: RwLock::new(Directory::default()),
            jwks,
            hashing: Arc::new(tokio::sync::Semaphore::new(2)),
        })
    }

    /// Replace the accounts and keys (from the store); sessions of users who changed end.
    pub fn load_directory(&self, users: Vec<UserRecord>, keys: Vec<KeyRecord>) {
        let users: HashMap<String, UserRecord> =
            users.into_iter().map(|u| (u.name.clone(), u)).collect();
        let keys = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        let mut d = self.directory.write().unwrap_or_else(|p| p.into_inner());
        for (name, old) in &d.users {
            let same = users
                .get(name)
                .is_some_and(|u| u.updated_at == old.updated_at && !u.disabled);
            if !same {
                self.sessions.end_user(name);
            }
        }
        *d = Directory { users, keys };
    }

    /// A user as last loaded.
    pub fn user(&self, name: &str) -> Option<UserRecord> {
        let d = self.directory.read().unwrap_or_else(|p| p.into_inner());
        d.users.get(name).cloned()
    }

    /// Put a user just read from the store into the directory (a login right after the user was
    /// created, before the watcher's next reload).
    pub fn remember_user(&self, user: UserRecord) {
        let mut d = self.directory.write().unwrap_or_else(|p| p.into_inner());
        d.users.insert(user.name.clone(), user);
    }

    /// The JWKS cache, when tokens are on.
    pub fn jwks(&self) -> Option<&Jwks> {
        self.jwks.as_ref()
    }

    fn key(&self, id: &str) -> Option<KeyRecord> {
        let d = self.directory.read().unwrap_or_else(|p| p.into_inner());
        d.keys.get(id).cloned()
    }
}

/// What [`identify`] found, for the routes.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The caller.
    pub caller: Caller,
    /// Cancelled when the client goes away (or the request's time is up).
    pub cancel: Cancel,
    /// The client's address.
    pub peer: Option<IpAddr>,
    /// The session's CSRF token when the caller came with a session cookie.
    pub csrf: Option<String>,
}

/// The caller of a request and its context, as route handlers take it.
#[derive(Debug, Clone)]
pub struct Who {
    /// The caller.
    pub caller: Caller,
    /// The request's cancellation token.
    pub cancel: Cancel,
    /// `GET /collections/{id}/items`, for audit records.
    pub route: String,
    /// The query string, for audit records.
    pub query: Option<String>,
    /// The client's address.
    pub peer: Option<IpAddr>,
}

impl Who {
    /// Whose work this is, for per-client limits and ownership of jobs: the principal of a
    /// caller who proved an identity, else `anonymous@ADDRESS` (anonymous callers are not one
    /// client).
    pub fn client(&self) -> String {
        if self.caller.is_authenticated() {
            return self.caller.principal();
        }
        match self.peer {
            Some(ip) => format!("anonymous@{ip}"),
            None => "anonymous".into(),
        }
    }

    /// The work context of this request's blocking work.
    pub fn context(&self) -> Arc<onemap_engine::context::WorkContext> {
        Arc::new(onemap_engine::context::WorkContext {
            cancel: self.cancel.clone(),
            route: Some(self.route.clone()),
            query: self.query.clone(),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Who, Self::Rejection> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        let (caller, cancel, peer) = match parts.extensions.get::<Identity>() {
            Some(i) => (i.caller.clone(), i.cancel.clone(), i.peer),
            // A router used without the identity layer (in-process use): anonymous.
            None => (Caller::anonymous(), Cancel::never(), None),
        };
        Ok(Who {
            caller,
            cancel,
            peer,
            route: format!("{} {route}", parts.method),
            query: parts.uri.query().map(|q| q.chars().take(2000).collect()),
        })
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The single value of a header, or an error when it is repeated or not UTF-8.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "duplicate_header",
            format!("the {name} header is given more than once"),
        ));
    }
    std::str::from_utf8(first.as_bytes())
        .map(Some)
        .map_err(|_| ApiError::bad_request("bad_header", format!("the {name} header is not UTF-8")))
}

const USER_HEADER: &str = "x-onemap-user";
const ROLES_HEADER: &str = "x-onemap-roles";
const DEPARTMENT_HEADER: &str = "x-onemap-department";
/// The gateway's shared-secret header.
pub const SECRET_HEADER: &str = "x-onemap-gateway-secret";

fn from_gateway(
    headers: &HeaderMap,
    gw: &GatewayConfig,
    peer: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let trusted = peer.is_some_and(|p| gw.trusted.contains(&p));
    let secret = single(headers, SECRET_HEADER)?;
    if !trusted || !secret.is_some_and(|s| credentials::secrets_match(s, &gw.secret)) {
        return Err(unauthorized(
            "identity headers are accepted only from the configured gateway",
        ));
    }
    let user = single(headers, USER_HEADER)?
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| unauthorized("the gateway sent roles without a user"))?;
    let mut roles = BTreeSet::new();
    if let Some(r) = single(headers, ROLES_HEADER)? {
        for role in r.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if role.contains('*') {
                return Err(ApiError::bad_request(
                    "bad_header",
                    "the wildcard role is never accepted over HTTP",
                ));
            }
            roles.insert(role.to_string());
        }
    }
    let department = single(headers, DEPARTMENT_HEADER)?
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    Ok(Caller {
        id: Some(user.to_string()),
        roles,
        department,
        via: Via::Gateway,
    })
}

fn from_key(auth: &Auth, key: &str) -> Result<Caller, ApiError> {
    let refused = || unauthorized("the API key is not valid (unknown, revoked or expired)");
    let (id, secret) = credentials::parse_api_key(key).ok_or_else(refused)?;
    let k = auth.key(id).ok_or_else(refused)?;
    if k.revoked_at.is_some() || !credentials::key_matches(secret, &k.secret_hash) {
        return Err(refused());
    }
    if let Some(exp) = &k.expires_at
        && chrono::DateTime::parse_from_rfc3339(exp)
            .map(|t| t <= chrono::Utc::now())
            .unwrap_or(true)
    {
        return Err(refused());
    }
    Ok(Caller {
        id: Some(k.name.clone()),
        roles: k
            .roles
            .iter()
            .filter(|r| !r.contains('*'))
            .cloned()
            .collect(),
        department: k.department.clone(),
        via: Via::ApiKey,
    })
}

async fn from_token(auth: &Arc<Auth>, token: &str) -> Result<Caller, ApiError> {
    let Some(jwks) = auth.jwks() else {
        return Err(unauthorized(
            "bearer tokens are not accepted by this server (see its [auth] settings)",
        ));
    };
    let kid = super::jwt::kid_of(token).map_err(unauthorized)?;
    let mut keys = jwks.fresh();
    let known = |k: &Option<Arc<jsonwebtoken::jwk::JwkSet>>| {
        k.as_ref()
            .is_some_and(|s| kid.as_deref().is_some_and(|id| s.find(id).is_some()))
    };
    if !known(&keys) && jwks.may_fetch() {
        let a = auth.clone();
        keys = match tokio::task::spawn_blocking(move || a.jwks().map(|j| j.fetch())).await {
            Ok(Some(Ok(k))) => Some(k),
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "cannot read the JWKS");
                jwks.any()
            }
            _ => jwks.any(),
        };
    } else if keys.is_none() {
        keys = jwks.any();
    }
    let keys = keys.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "jwks_unavailable",
            "the identity provider's keys cannot be read right now; retry shortly",
        )
    })?;
    super::jwt::verify(token, &keys, jwks.config()).map_err(unauthorized)
}

/// Routes reachable without an identity even when anonymous access is off.
fn public_path(path: &str) -> bool {
    path == "/" || path == "/health" || path.starts_with("/app/") || path.starts_with("/auth/")
}

/// Resolve the caller of a request (see the module docs).
pub async fn resolve(
    auth: &Arc<Auth>,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    peer: Option<IpAddr>,
) -> Result<(Caller, Option<String>), ApiError> {
    let claims_identity = [USER_HEADER, ROLES_HEADER, DEPARTMENT_HEADER, SECRET_HEADER]
        .iter()
        .any(|h| headers.contains_key(*h));
    if claims_identity {
        return match &auth.config.gateway {
            Some(gw) => from_gateway(headers, gw, peer).map(|c| (c, None)),
            None => Err(unauthorized(
                "identity headers are accepted only from a configured gateway, and none is configured",
            )),
        };
    }
    if let Some(value) = single(headers, header::AUTHORIZATION.as_str())? {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("use Authorization: Bearer <API key or token>"))?;
        if token.starts_with("omk_") {
            if !auth.config.api_keys {
                return Err(unauthorized("API keys are not accepted by this server"));
            }
            return from_key(auth, token).map(|c| (c, None));
        }
        return from_token(auth, token).await.map(|c| (c, None));
    }
    if auth.config.accounts
        && let Some(cookies) = single(headers, header::COOKIE.as_str())?
        && let Some(token) = cookie_value(cookies, COOKIE)
        && let Some(s) = auth.sessions.touch(token)
    {
        match auth.user(&s.user) {
            Some(u) if !u.disabled && u.updated_at == s.user_version => {
                let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
                if writes {
                    let sent = single(headers, "x-csrf-token")?;
                    if !sent.is_some_and(|t| credentials::secrets_match(t, &s.csrf)) {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "csrf",
                            "a write with a session cookie needs the session's X-CSRF-Token header",
                        ));
                    }
                }
                let caller = Caller {
                    id: Some(u.name.clone()),
                    roles: u
                        .roles
                        .iter()
                        .filter(|r| !r.contains('*'))
                        .cloned()
                        .collect(),
                    department: u.department.clone(),
                    via: Via::Session,
                };
                return Ok((caller, Some(s.csrf)));
            }
            _ => auth.sessions.end(token),
        }
    }
    match &auth.config.anonymous {
        Some(roles) => Ok((Caller::anonymous_with(roles.iter().cloned()), None)),
        None if public_path(path) => Ok((Caller::anonymous(), None)),
        None => Err(unauthorized(
            "log in (POST /auth/login), or send an API key or token: this server has no anonymous access",
        )),
    }
}

/// The client's address: the connection's, or — when that is a trusted proxy or gateway — the
/// nearest address in `X-Forwarded-For` that is not one (read from the right: entries further
/// left were written by the client and prove nothing). A header that does not parse leaves the
/// proxy's address.
pub fn client_address(config: &AuthConfig, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let trusted = |ip: &IpAddr| {
        config.trusted_proxies.contains(ip)
            || config
                .gateway
                .as_ref()
                .is_some_and(|g| g.trusted.contains(ip))
    };
    if !trusted(&peer) {
        return peer;
    }
    let mut hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    hops.reverse();
    for hop in hops.into_iter().take(16) {
        let ip = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()));
        match ip {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

/// The middleware: resolve the caller, put an [`Identity`] into the request, and keep the
/// request's cancellation token alive exactly as long as the request.
pub async fn identify(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let tcp_peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let path = req.uri().path().to_string();
    // The gateway is judged by the connection's own address; limits go by the client's.
    let resolved = resolve(&st.auth, req.headers(), req.method(), &path, tcp_peer).await;
    let peer = tcp_peer.map(|p| client_address(&st.auth.config, req.headers(), p));
    let (caller, csrf) = match resolved {
        Ok(c) => c,
        Err(e) => {
            if e.status == StatusCode::UNAUTHORIZED {
                tracing::info!(peer = ?peer, path, reason = %e.message, "request refused: not authenticated");
            }
            return e.into_response();
        }
    };
    let cancel = Cancel::new(None);
    // The request's token is cancelled when the request ends — also when the client goes away
    // and the server drops the request's future.
    let guard = onemap_engine::context::CancelOnDrop(cancel.clone(), "the client went away");
    req.extensions_mut().insert(Identity {
        caller,
        cancel,
        peer,
        csrf,
    });
    let resp = next.run(req).await;
    drop(guard);
    resp
}
