//! The tile cache: finished tiles (raw, gzip and brotli bytes, compressed once when the tile is
//! made) bounded in bytes with least-recently-used eviction, and one computation per missing tile
//! however many requests ask for it at once.
//!
//! Keys carry the store tables of the layers in the tile (a new table per import), so a
//! re-imported layer gets fresh keys at once and its old tiles simply age out.
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// A finished tile in every encoding we serve.
#[derive(Debug)]
pub struct CachedTile {
    /// Uncompressed MVT (empty for a tile without features).
    pub raw: Vec<u8>,
    /// gzip of `raw` (empty when `raw` is).
    pub gzip: Vec<u8>,
    /// brotli of `raw` (empty when `raw` is).
    pub brotli: Vec<u8>,
    /// Strong validator, quoted.
    pub etag: String,
    /// Source features per layer in the tile (what an access-audit record counts).
    pub counts: Vec<usize>,
}

impl CachedTile {
    fn cost(&self) -> usize {
        self.raw.len() + self.gzip.len() + self.brotli.len() + 128
    }
}

type Flight<E> = Arc<OnceCell<Result<Arc<CachedTile>, E>>>;

struct Lru {
    map: HashMap<String, (Arc<CachedTile>, u64)>,
    order: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

/// Bytes-bounded LRU cache with single-flight fill.
pub struct TileCache<E: Clone> {
    capacity: usize,
    lru: Mutex<Lru>,
    inflight: Mutex<HashMap<String, Flight<E>>>,
    /// Requests answered from the cache.
    pub hits: AtomicU64,
    /// Requests that computed (or waited for) a tile.
    pub misses: AtomicU64,
}

impl<E: Clone> TileCache<E> {
    /// A cache holding at most `capacity` bytes (0 disables caching, not single-flight).
    pub fn new(capacity: usize) -> TileCache<E> {
        TileCache {
            capacity,
            lru: Mutex::new(Lru {
                map: HashMap::new(),
                order: BTreeMap::new(),
                bytes: 0,
                tick: 0,
            }),
            inflight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lru.lock().map(|l| l.bytes).unwrap_or(0)
    }

    /// Tiles held now.
    pub fn len(&self) -> usize {
        self.lru.lock().map(|l| l.map.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, key: &str) -> Option<Arc<CachedTile>> {
        let mut lru = self.lru.lock().ok()?;
        lru.tick += 1;
        let tick = lru.tick;
        let (tile, old) = {
            let entry = lru.map.get_mut(key)?;
            let old = entry.1;
            entry.1 = tick;
            (entry.0.clone(), old)
        };
        lru.order.remove(&old);
        lru.order.insert(tick, key.to_string());
        Some(tile)
    }

    fn insert(&self, key: &str, tile: Arc<CachedTile>) {
        let cost = tile.cost();
        if cost > self.capacity {
            return;
        }
        let Ok(mut lru) = self.lru.lock() else { return };
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((old, t)) = lru.map.insert(key.to_string(), (tile, tick)) {
            lru.bytes -= old.cost();
            lru.order.remove(&t);
        }
        lru.order.insert(tick, key.to_string());
        lru.bytes += cost;
        while lru.bytes > self.capacity {
            let Some((_, k)) = lru.order.pop_first() else {
                break;
            };
            if let Some((old, _)) = lru.map.remove(&k) {
                lru.bytes -= old.cost();
            }
        }
    }

    /// The tile for `key`: from the cache, or from `make` (run once however many callers wait).
    /// Returns the tile and whether it came from the cache.
    pub async fn get_or_make<F, Fut>(
        &self,
        key: &str,
        make: F,
    ) -> Result<(Arc<CachedTile>, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedTile, E>>,
    {
        if let Some(t) = self.lookup(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((t, true));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let cell: Flight<E> = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            inflight.entry(key.to_string()).or_default().clone()
        };
        // Removes the in-flight entry however this request ends, cancellation included.
        let _guard = InflightGuard {
            cache: self,
            key,
            cell: &cell,
        };
        let result = cell
            .get_or_init(|| async {
                let made = make().await.map(Arc::new);
                if let Ok(t) = &made {
                    self.insert(key, t.clone());
                }
                made
            })
            .await
            .clone();
        result.map(|t| (t, false))
    }
}

struct InflightGuard<'a, E: Clone> {
    cache: &'a TileCache<E>,
    key: &'a str,
    cell: &'a Flight<E>,
}

impl<E: Clone> Drop for InflightGuard<'_, E> {
    fn drop(&mut self) {
        // Only the finished cell leaves; a cancelled one stays for the next request to fill,
        // unless nobody else holds it.
        let done = self.cell.initialized();
        let mut inflight = self
            .cache
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ours = inflight
            .get(self.key)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell));
        // Two references: the map's and ours. More means other requests still wait on it.
        if ours && (done || Arc::strong_count(self.cell) <= 2) {
            inflight.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn tile(n: usize) -> CachedTile {
        CachedTile {
            raw: vec![0; n],
            gzip: vec![],
            brotli: vec![],
            etag: String::new(),
            counts: vec![],
        }
    }

    #[tokio::test]
    async fn evicts_least_recently_used_within_the_byte_bound() {
        let cache: TileCache<String> = TileCache::new(3 * (100 + 128));
        for k in ["a", "b", "c"] {
            cache
                .get_or_make(k, || async { Ok(tile(100)) })
                .await
                .unwrap();
        }
        // Touch "a" so "b" is the oldest, then add "d".
        assert!(
            cache
                .get_or_make("a", || async { Ok(tile(100)) })
                .await
                .unwrap()
                .1
        );
        cache
            .get_or_make("d", || async { Ok(tile(100)) })
            .await
            .unwrap();
        assert_eq!(cache.len(), 3);
        assert!(cache.bytes() <= 3 * 228);
        assert!(
            cache
                .get_or_make("a", || async { Ok(tile(1)) })
                .await
                .unwrap()
                .1
        );
        assert!(
            !cache
                .get_or_make("b", || async { Ok(tile(1)) })
                .await
                .unwrap()
                .1,
            "b was evicted"
        );
    }

    #[tokio::test]
    async fn one_computation_for_concurrent_requests() {
        let cache: Arc<TileCache<String>> = Arc::new(TileCache::new(1 << 20));
        let made = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, made) = (cache.clone(), made.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_make("k", || async move {
                        made.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, String>(tile(10))
                    })
                    .await
                    .map(|(t, _)| t.raw.len())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(10));
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache: TileCache<String> = TileCache::new(1 << 20);
        let r = cache
            .get_or_make("k", || async { Err("boom".to_string()) })
            .await;
        assert_eq!(r.err(), Some("boom".to_string()));
        let (t, hit) = cache
            .get_or_make("k", || async { Ok(tile(5)) })
            .await
            .unwrap();
        assert_eq!((t.raw.len(), hit), (5, false));
    }

    #[tokio::test]
    async fn oversized_tiles_are_served_but_not_kept() {
        let cache: TileCache<String> = TileCache::new(200);
        let (t, _) = cache
            .get_or_make("big", || async { Ok(tile(1000)) })
            .await
            .unwrap();
        assert_eq!(t.raw.len(), 1000);
        assert!(cache.is_empty());
    }
}
