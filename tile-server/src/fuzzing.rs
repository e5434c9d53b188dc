//! Fuzz targets for what arrives over HTTP before any route logic: tile addresses, query strings,
//! JSON bodies and their geometries, identity headers. Driven by `tile-server/tests/fuzz.rs`.
#![doc(hidden)]

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::http::{Auth, AuthConfig, GatewayConfig};

/// A tile address as the three path segments.
pub fn tile_path(z: &str, x: &str, y_ext: &str) {
    if let Ok(t) = crate::tiles::parse_address(z, x, y_ext) {
        assert!(u64::from(t.x) < (1u64 << t.z) && u64::from(t.y) < (1u64 << t.z));
    }
    let _ = crate::tiles::layer_names(z);
}

/// A query string.
pub fn query(raw: &str) {
    if let Ok(p) = crate::http::extract::params(Some(raw)) {
        for (k, v) in &p {
            let _ = crate::http::extract::parse_usize(k, v, 0, 10_000);
            let _ = crate::http::extract::number_param(&p, k, -180.0, 180.0);
        }
    }
}

/// A JSON request body with a geometry (the spatial query and analysis routes).
pub fn body(data: &[u8]) {
    let Ok(v) = crate::http::extract::body_json(Ok(axum::body::Bytes::copy_from_slice(data)))
    else {
        return;
    };
    if let Ok(g) = crate::http::extract::body_geometry(&v["geometry"]) {
        let _ = crate::http::extract::validated(g, &v["repair"]);
    }
    let _ = crate::http::extract::layer_list(&v["layers"]);
}

/// Identity headers, against a server with accounts, keys and a gateway on 127.0.0.1.
pub fn headers(pairs: &[(String, Vec<u8>)]) {
    static RT: std::sync::OnceLock<Option<(tokio::runtime::Runtime, Arc<Auth>)>> =
        std::sync::OnceLock::new();
    let Some((rt, auth)) = RT.get_or_init(|| {
        let auth = Auth::new(AuthConfig {
            accounts: true,
            api_keys: true,
            gateway: Some(GatewayConfig {
                trusted: vec![std::net::IpAddr::from([127, 0, 0, 1])],
                secret: "fuzz-gateway-secret-0123".into(),
            }),
            ..AuthConfig::default()
        })
        .ok()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        Some((rt, Arc::new(auth)))
    }) else {
        return;
    };
    let mut h = HeaderMap::new();
    for (k, v) in pairs.iter().take(16) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            h.append(k, v);
        }
    }
    let proxy = std::net::IpAddr::from([127, 0, 0, 1]);
    // The client's address behind the (trusted) gateway: whatever the header says, an address.
    let _ = crate::http::identity::client_address(&auth.config, &h, proxy);
    let peer = Some(proxy);
    if let Ok((caller, _)) = rt.block_on(crate::http::identity::resolve(
        auth,
        &h,
        &Method::POST,
        "/query/stats",
        peer,
    )) {
        // Whatever was sent, nobody becomes the operator or holds the wildcard role.
        assert!(!caller.is_operator(), "{caller:?}");
        assert!(caller.roles.iter().all(|r| !r.contains('*')), "{caller:?}");
    }
}
