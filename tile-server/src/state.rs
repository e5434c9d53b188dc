//! What every handler shares: the engine, the tile cache, metrics and settings.
use std::sync::Arc;

use onemap_engine::Engine;
use onemap_engine::analytics::Rules;
use onemap_engine::tiling::TileOptions;

use crate::analysis::Jobs;
use crate::cache::TileCache;
use crate::error::ApiError;
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
    /// Analysis rules (`None` only if the built-in rules failed to parse: analysis answers 500).
    pub rules: Option<Arc<Rules>>,
    /// Analysis jobs.
    pub jobs: Jobs,
}

/// The axum state.
pub type AppState = Arc<Inner>;

/// Build the state.
pub fn state(engine: Arc<Engine>, config: ServerConfig) -> AppState {
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
    Arc::new(Inner {
        rules,
        jobs: Jobs::new(),
        engine,
        cache: TileCache::new(config.cache_bytes),
        metrics: Metrics::default(),
        config,
        renders: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
    })
}
