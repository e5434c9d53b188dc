//! A real server on 127.0.0.1 over a real store.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::{Engine, Store, synth};

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status: u16 = buf[9..12].parse().unwrap();
    let body = buf.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

#[test]
fn health_layers_and_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.duckdb")).unwrap();
    store
        .write_layer(
            NewLayer {
                name: "parcels".into(),
                kind: LayerKind::Cadastral,
                schema: synth::parcel_schema(),
                source_crs: "EPSG:4490".into(),
                source: "t".into(),
            },
            synth::parcels(10, 1).map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
    let engine = Arc::new(Engine::new(store));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(onemap_tile_server::serve(
        engine,
        "127.0.0.1:0".parse().unwrap(),
        move |a| tx.send(a).unwrap(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = rx.recv().unwrap();
    assert_eq!(
        get(addr, "/health"),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, body) = get(addr, "/layers");
    assert_eq!(status, 200);
    assert_eq!(body["layers"][0]["name"], "parcels");
    assert_eq!(body["layers"][0]["feature_count"], 10);
    let (status, body) = get(addr, "/no/such/thing");
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].is_string());
    stop_tx.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}
