//! Picking up layers that another process imported or dropped while the server runs.
//!
//! The server opens its store detached (it holds the file only while loading a layer), so
//! `onemap import` from a shell can write to the same file. The watcher looks at the file's size
//! and modification time (and its write-ahead log's) every interval; when they change it re-reads
//! the catalog, forgets the layers whose version changed and loads them again. Tile cache keys
//! name layer versions, so the next tile request sees the new data.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::state::AppState;

type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

/// Check for changes every `every` until the runtime stops.
pub fn spawn(st: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    let db = st.engine.store().path().to_path_buf();
    let paths = vec![db.clone(), wal_path(&db)];
    tokio::spawn(async move {
        let mut last = stamp(&paths);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = stamp(&paths);
            if now == last {
                continue;
            }
            let engine = st.engine.clone();
            let st2 = st.clone();
            let result = tokio::task::spawn_blocking(move || {
                // Accounts, keys and the policy live in the store too: a revoked key or a
                // changed grant takes effect here.
                crate::state::reload_access(&st2)?;
                let changed = engine.refresh()?;
                for name in &changed {
                    // Gone layers fail to load: that is expected, they are simply not served.
                    if let Err(e) = engine.layer(name) {
                        tracing::debug!(layer = %name, error = %e, "layer not loadable after refresh");
                    }
                }
                Ok::<_, onemap_engine::Error>(changed)
            })
            .await;
            match result {
                Ok(Ok(changed)) => {
                    last = now;
                    if !changed.is_empty() {
                        tracing::info!(layers = ?changed, "store changed: layers reloaded");
                    }
                }
                // Most likely an import holds the file right now: try again next tick.
                Ok(Err(e)) => tracing::debug!(error = %e, "store refresh postponed"),
                Err(e) => tracing::error!(error = %e, "store refresh task failed"),
            }
        }
    })
}
