//! The accept loop: HTTP/1.1 through hyper with a header-read timeout (a client that sends half
//! a request head is dropped when it passes; it also closes idle keep-alive connections), body
//! read timeouts, and caps on open connections in all and per client address. A connection over
//! a cap gets an immediate `503` with a JSON body and is closed, instead of queueing unseen in
//! the kernel while the slots are held. `axum::serve` sets no timer, so none of this would hold
//! with it.
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tower::{Service as _, ServiceBuilder};
use tower_http::timeout::{RequestBodyDeadlineLayer, RequestBodyTimeoutLayer};

/// Connection settings (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one address at most.
    pub max_connections_per_ip: usize,
    /// Time to send a request head (and to start the next on a kept-alive connection).
    pub header_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// Longest time to send a whole request body.
    pub body_timeout: Duration,
}

impl Default for ConnConfig {
    fn default() -> ConnConfig {
        ConnConfig {
            max_connections: 2048,
            max_connections_per_ip: 256,
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Open connections, in all and by address.
#[derive(Debug, Default)]
pub struct Connections {
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.lock().values().sum()
    }

    fn admit(self: &Arc<Self>, ip: IpAddr, c: &ConnConfig) -> Option<Slot> {
        let mut m = self.lock();
        let total: usize = m.values().sum();
        let mine = m.get(&ip).copied().unwrap_or(0);
        if total >= c.max_connections || mine >= c.max_connections_per_ip {
            return None;
        }
        *m.entry(ip).or_default() += 1;
        Some(Slot {
            conns: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; frees its slot when dropped. The map holds only addresses with open
/// connections, so it is bounded by the connection cap.
struct Slot {
    conns: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.conns.lock();
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Refusals written at once (see [`serve`]).
const MAX_REFUSING: usize = 256;

async fn refuse(mut tcp: TcpStream) {
    let body = r#"{"code":"too_many_connections","message":"too many open connections; retry in a few seconds","details":null}"#;
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Best effort, bounded: a client that does not read is not waited for.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(resp.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// Serve `app` on `listener` until `shutdown` resolves; connections then get 10 s to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ConnConfig,
    conns: Arc<Connections>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_headers(100)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    // Refusals being written (each holds its socket up to 2 s): past this many, a refused
    // connection is closed without an answer.
    let refusing = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING));
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = conns.admit(peer.ip(), &config) else {
            tracing::warn!(peer = %peer, "connection refused: too many open connections");
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(tcp).await;
                    drop(permit);
                });
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let svc = match make.call(peer).await {
            Ok(s) => s,
            Err(never) => match never {},
        };
        let svc = ServiceBuilder::new()
            .layer(RequestBodyTimeoutLayer::new(config.body_idle_timeout))
            .layer(RequestBodyDeadlineLayer::new(config.body_timeout))
            .service(svc);
        let conn =
            graceful.watch(http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(svc)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open 10 s after shutdown began; closing them");
        }
    }
    Ok(())
}
