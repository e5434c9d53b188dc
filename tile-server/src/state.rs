//! What every handler shares: the engine, the tile cache, metrics and settings.
use std::sync::Arc;

use onemap_engine::Engine;
use onemap_engine::analytics::Rules;
use onemap_engine::tiling::TileOptions;

use crate::analysis::Jobs;
use crate::cache::TileCache;
use crate::error::ApiError;
use crate::http::serve::Connections;
use crate::http::{Auth, AuthConfig, ConnConfig, RateConfig, RateLimits};
use crate::metrics::Metrics;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Base URL written into TileJSON and styles (e.g. `https://map.xinzheng.gov.cn/onemap`).
    /// Without it, `http://` plus the request's `Host` header.
    pub public_url: Option<String>,
    /// Tile encoding settings.
    pub tiles: TileOptions,
    /// Tile cache bound in bytes (raw + gzip + brotli).
    pub cache_bytes: usize,
    /// `max-age` in seconds for tile URLs that carry the current version token (`?v=`).
    pub immutable_max_age: u32,
    /// Analysis rules (`None`: the built-in rules/default.toml).
    pub rules: Option<Arc<Rules>>,
    /// Longest a query may take before the client gets a 503 `timeout`.
    pub query_timeout: std::time::Duration,
    /// Longest an analysis job may run before it is stopped.
    pub job_timeout: std::time::Duration,
    /// How callers authenticate.
    pub auth: AuthConfig,
    /// Per-principal rate limits.
    pub rates: RateConfig,
    /// Connection caps and timeouts.
    pub connections: ConnConfig,
    /// Take the access policy from the store (`onemap acl`); false when a policy file given to
    /// `serve` is the policy.
    pub policy_from_store: bool,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            public_url: None,
            tiles: TileOptions::default(),
            cache_bytes: 256 << 20,
            immutable_max_age: 86_400,
            rules: None,
            query_timeout: std::time::Duration::from_secs(30),
            job_timeout: std::time::Duration::from_secs(3600),
            auth: AuthConfig::default(),
            rates: RateConfig::default(),
            connections: ConnConfig::default(),
            policy_from_store: true,
        }
    }
}

/// Shared by all handlers.
pub struct Inner {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Finished tiles.
    pub cache: TileCache<ApiError>,
    /// Counters.
    pub metrics: Metrics,
    /// Settings.
    pub config: ServerConfig,
    /// Tiles rendered at once: one per core. More only adds memory and contention (a z12 tile of
    /// a dense city holds tens of thousands of shapes while it is made).
    pub renders: Arc<tokio::sync::Semaphore>,
    /// Permits `renders` was made with.
    pub cores: usize,
    /// Analysis rules (`None` only if the built-in rules failed to parse: analysis answers 500).
    pub rules: Option<Arc<Rules>>,
    /// Analysis jobs.
    pub jobs: Jobs,
    /// Authentication: settings, sessions, accounts and keys, the JWKS.
    pub auth: Arc<Auth>,
    /// Rate limiters.
    pub limits: RateLimits,
    /// Open connections.
    pub conns: Arc<Connections>,
}

/// The axum state.
pub type AppState = Arc<Inner>;

/// Build the state: accounts, keys and the access policy are read from the store (a policy
/// stored with `onemap acl` replaces the engine's). Fails on authentication settings that cannot
/// work (an unreadable JWKS CA file, a non-https JWKS URL).
pub fn state(engine: Arc<Engine>, config: ServerConfig) -> Result<AppState, String> {
    let rules = config
        .rules
        .clone()
        .or_else(|| match Rules::default_rules() {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::error!(error = %e, "built-in rules do not parse");
                None
            }
        });
    let auth = Arc::new(Auth::new(config.auth.clone())?);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let st = Arc::new(Inner {
        rules,
        jobs: Jobs::new(),
        engine,
        cache: TileCache::new(config.cache_bytes),
        metrics: Metrics::default(),
        limits: RateLimits::new(&config.rates),
        conns: Arc::new(Connections::default()),
        auth,
        config,
        renders: Arc::new(tokio::sync::Semaphore::new(cores)),
        cores,
    });
    if let Err(e) = reload_access(&st) {
        return Err(format!("reading accounts, keys and the access policy: {e}"));
    }
    Ok(st)
}

/// Re-read accounts, keys and the stored access policy (at start, and when the store changes).
pub fn reload_access(st: &AppState) -> Result<(), onemap_engine::Error> {
    let store = st.engine.store();
    st.auth.load_directory(store.users()?, store.keys()?);
    if st.config.policy_from_store
        && let Some(p) = store.policy()?
    {
        st.engine.set_policy(p.policy);
    }
    Ok(())
}
