//! Prometheus text-format metrics: requests by route and status, a latency histogram by route,
//! tile bytes sent, cache hits and misses. Plain atomics and one mutex-held map: a metrics crate
//! would bring a registry and a global recorder for the dozen series we have.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Tile body bytes sent (after compression).
    pub tile_bytes: AtomicU64,
    /// Tiles sent with a body.
    pub tiles: AtomicU64,
    /// Requests refused by a rate limit.
    pub rate_limited: AtomicU64,
    /// Open connections (set when rendering).
    pub connections: AtomicU64,
    /// CPU permits held by work (tiles, overlays, analyses) right now (set when rendering).
    pub work: AtomicU64,
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Record one finished request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_string()).or_default();
            let s = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += s;
        }
    }

    /// Count a request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text. `cache` is (hits, misses, bytes held, tiles held).
    pub fn render(&self, cache: (u64, u64, usize, usize)) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP onemap_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE onemap_http_requests_total counter");
        if let Ok(r) = self.requests.lock() {
            for ((route, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "onemap_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP onemap_http_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE onemap_http_request_duration_seconds histogram");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                let r = label(route);
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "onemap_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "onemap_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "onemap_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "onemap_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                    h.count
                );
            }
        }
        let (hits, misses, bytes, tiles) = cache;
        for (name, kind, help, v) in [
            (
                "onemap_tile_cache_hits_total",
                "counter",
                "Tile requests answered from the cache.",
                hits as f64,
            ),
            (
                "onemap_tile_cache_misses_total",
                "counter",
                "Tile requests that made (or waited for) a tile.",
                misses as f64,
            ),
            (
                "onemap_tile_cache_bytes",
                "gauge",
                "Bytes held by the tile cache.",
                bytes as f64,
            ),
            (
                "onemap_tile_cache_tiles",
                "gauge",
                "Tiles held by the tile cache.",
                tiles as f64,
            ),
            (
                "onemap_rate_limited_total",
                "counter",
                "Requests refused by a per-principal rate limit (429).",
                self.rate_limited.load(Ordering::Relaxed) as f64,
            ),
            (
                "onemap_open_connections",
                "gauge",
                "HTTP connections open.",
                self.connections.load(Ordering::Relaxed) as f64,
            ),
            (
                "onemap_work_in_progress",
                "gauge",
                "Renders, overlays and analyses running (each holds a CPU permit until it stops).",
                self.work.load(Ordering::Relaxed) as f64,
            ),
            (
                "onemap_tile_bytes_total",
                "counter",
                "Tile body bytes sent.",
                self.tile_bytes.load(Ordering::Relaxed) as f64,
            ),
            (
                "onemap_tiles_total",
                "counter",
                "Tiles sent with a body.",
                self.tiles.load(Ordering::Relaxed) as f64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.record("/tiles", 200, Duration::from_micros(700));
        m.record("/tiles", 200, Duration::from_millis(30));
        m.record("/tiles", 404, Duration::from_millis(2));
        let text = m.render((1, 2, 3, 4));
        assert!(text.contains("onemap_http_requests_total{route=\"/tiles\",status=\"200\"} 2"));
        assert!(text.contains("onemap_http_requests_total{route=\"/tiles\",status=\"404\"} 1"));
        assert!(text.contains(
            "onemap_http_request_duration_seconds_bucket{route=\"/tiles\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "onemap_http_request_duration_seconds_bucket{route=\"/tiles\",le=\"0.0025\"} 2"
        ));
        assert!(text.contains(
            "onemap_http_request_duration_seconds_bucket{route=\"/tiles\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("onemap_tile_cache_misses_total 2"));
    }
}
