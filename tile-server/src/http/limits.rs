//! What keeps one client from starving the others: per-principal rate limits (governor's keyed
//! GCRA: a signed-in principal by its name, an anonymous one by its address), and the blocking
//! work every heavy route runs through — off the async threads, under a deadline, cancelled when
//! the client goes away, holding its CPU permit until the work has really stopped.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use onemap_engine::context::{Cancel, WorkContext};
use serde_json::json;

use super::identity::{Identity, Who};
use crate::error::ApiError;
use crate::state::AppState;

/// Rate limits (`[limits]` in the config file).
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    /// Requests per second a signed-in principal may make, sustained.
    pub per_principal: u32,
    /// Requests a signed-in principal may make at once (a map view loads dozens of tiles).
    pub burst: u32,
    /// Requests per second from one address without credentials.
    pub anonymous_per_ip: u32,
    /// Burst of an anonymous address.
    pub anonymous_burst: u32,
    /// Login attempts per minute from one address.
    pub logins_per_minute: u32,
}

impl Default for RateConfig {
    fn default() -> RateConfig {
        RateConfig {
            per_principal: 100,
            burst: 400,
            anonymous_per_ip: 50,
            anonymous_burst: 200,
            logins_per_minute: 10,
        }
    }
}

/// Most keys one limiter tracks; beyond it new keys share one bucket (unknown names never grow
/// the server's memory).
const MAX_KEYS: usize = 100_000;

/// The limiters.
#[derive(Debug)]
pub struct RateLimits {
    principals: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl RateLimits {
    /// Limiters with these quotas.
    pub fn new(c: &RateConfig) -> RateLimits {
        RateLimits {
            principals: RateLimiter::keyed(
                Quota::per_second(nz(c.per_principal)).allow_burst(nz(c.burst)),
            ),
            addresses: RateLimiter::keyed(
                Quota::per_second(nz(c.anonymous_per_ip)).allow_burst(nz(c.anonymous_burst)),
            ),
            logins: RateLimiter::keyed(
                Quota::per_minute(nz(c.logins_per_minute)).allow_burst(nz(c.logins_per_minute)),
            ),
        }
    }

    /// Forget keys whose buckets are full again (run every few seconds).
    pub fn housekeeping(&self) {
        self.principals.retain_recent();
        self.principals.shrink_to_fit();
        self.addresses.retain_recent();
        self.addresses.shrink_to_fit();
        self.logins.retain_recent();
        self.logins.shrink_to_fit();
    }

    /// Keys tracked (for /metrics).
    pub fn tracked(&self) -> usize {
        self.principals.len() + self.addresses.len() + self.logins.len()
    }

    /// May this principal (`Some(name)`) or address make a request now? `Err(wait)` if not.
    pub fn check(&self, principal: Option<&str>, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let r = match (principal, ip) {
            (Some(p), _) => {
                let key = if self.principals.len() < MAX_KEYS {
                    p.to_string()
                } else {
                    "(overflow)".to_string()
                };
                self.principals.check_key(&key)
            }
            (None, Some(ip)) => {
                let key = if self.addresses.len() < MAX_KEYS {
                    ip
                } else {
                    IpAddr::from([0, 0, 0, 0])
                };
                self.addresses.check_key(&key)
            }
            (None, None) => return Ok(()),
        };
        r.map_err(|nu| nu.wait_time_from(now))
    }

    /// May this address try a login now?
    pub fn check_login(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let key = if self.logins.len() < MAX_KEYS {
            ip
        } else {
            IpAddr::from([0, 0, 0, 0])
        };
        let now = DefaultClock::default().now();
        self.logins
            .check_key(&key)
            .map_err(|nu| nu.wait_time_from(now))
    }
}

/// A 429 saying when to come back.
pub fn too_many(wait: Duration, what: &str) -> Response {
    let secs = wait.as_secs().max(1);
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("{what}: slow down and retry in {secs} s"),
    )
    .with_details(json!({ "retry_after_s": secs }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The middleware (after [`identify`](super::identity::identify)): one token per request from
/// the caller's bucket. Health checks are not counted.
pub async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    if let Some(id) = req.extensions().get::<Identity>() {
        let principal = id.caller.is_authenticated().then(|| id.caller.principal());
        if let Err(wait) = st.limits.check(principal.as_deref(), id.peer) {
            st.metrics.rate_limited();
            return too_many(wait, "too many requests from this caller");
        }
    }
    next.run(req).await
}

/// Run a request's work off the async threads under the request's context: it stops (at the
/// engine's checkpoints) when the client goes away or the server's query timeout passes, and the
/// client then gets a JSON 503 `timeout`.
pub async fn blocking<T, E>(
    st: &AppState,
    who: &Who,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let limit = st.config.query_timeout;
    // The work's own token: the deadline, and cancelled with the request.
    let cancel = Cancel::new(Some(std::time::Instant::now() + limit));
    let ctx = Arc::new(WorkContext {
        cancel: cancel.clone(),
        ..(*who.context()).clone()
    });
    let timed_out = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the query took longer than the server's limit of {} ms; narrow it (bbox, filter, smaller region)", limit.as_millis()),
        )
        .with_details(json!({ "timeout_ms": limit.as_millis() as u64 }))
    };
    let task = tokio::task::spawn_blocking(move || onemap_engine::context::run_in(ctx, work));
    // Cancel the work if the request goes away while we wait (this future is dropped then).
    let _stop = onemap_engine::context::CancelOnDrop(cancel.clone(), "the client went away");
    match tokio::time::timeout(limit, task).await {
        Err(_) => {
            cancel.cancel("the time limit passed");
            Err(timed_out())
        }
        Ok(joined) => match joined?.map_err(Into::into) {
            Err(e) if e.code == "cancelled" => Err(timed_out()),
            r => r,
        },
    }
}

/// A permit for CPU-heavy work (overlays, analyses), shared with tile rendering: one per core.
/// Move it into the blocking work so that it is held until the work has stopped.
pub async fn work_permit(st: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    st.renders
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal(format!("work queue closed: {e}")))
}
