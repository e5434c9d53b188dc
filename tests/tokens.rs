//! OIDC/JWT bearer tokens against `onemap serve`: tokens signed with RS256, ES256 and EdDSA keys
//! whose public halves are in the issuer's key set (a file, or an https URL with the provider's
//! own CA), accepted with their roles; expired, not-yet-valid, wrong-audience, wrong-issuer,
//! unknown-key and wrong-algorithm tokens refused with a 401 that says which.
mod common;

use std::sync::Arc;

use common::{get, serve_with};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};

struct Key {
    alg: Algorithm,
    kid: String,
    enc: EncodingKey,
    jwk: Jwk,
}

fn key(alg: Algorithm, kid: &str) -> Key {
    let enc = match alg {
        Algorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            let sk = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
            EncodingKey::from_rsa_der(sk.to_pkcs1_der().unwrap().as_bytes())
        }
        Algorithm::ES256 => {
            use p256::elliptic_curve::Generate as _;
            use p256::pkcs8::EncodePrivateKey as _;
            EncodingKey::from_ec_der(
                p256::SecretKey::generate()
                    .to_pkcs8_der()
                    .unwrap()
                    .as_bytes(),
            )
        }
        Algorithm::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let sk = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
            let enc = EncodingKey::from_ed_der(sk.to_pkcs8_der().unwrap().as_bytes());
            let dec = DecodingKey::from_ed_der(sk.verifying_key().as_bytes());
            let mut jwk = Jwk::from_decoding_key(&dec, Some(alg)).unwrap();
            jwk.common.key_id = Some(kid.into());
            return Key {
                alg,
                kid: kid.into(),
                enc,
                jwk,
            };
        }
        other => panic!("no test key for {other:?}"),
    };
    let mut jwk = Jwk::from_encoding_key(&enc, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    Key {
        alg,
        kid: kid.into(),
        enc,
        jwk,
    }
}

fn sign(k: &Key, claims: &Value) -> String {
    let mut h = Header::new(k.alg);
    h.kid = Some(k.kid.clone());
    encode(&h, claims, &k.enc).unwrap()
}

const ISS: &str = "https://id.xinzheng.test/realms/city";

fn claims(extra: Value) -> Value {
    let now = get_current_timestamp();
    let mut c = json!({
        "iss": ISS, "aud": "onemap", "sub": "u-1001", "preferred_username": "李明",
        "exp": now + 600, "nbf": now - 10, "iat": now,
        "realm_access": { "roles": ["registration", "planning"] }, "department": "不动产登记中心",
    });
    if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    c
}

fn demo(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("demo.duckdb");
    common::onemap(&db, &["demo", "--no-serve"]).ok();
    db
}

fn config(dir: &std::path::Path, jwks: &str, ca: Option<&str>) -> std::path::PathBuf {
    let p = dir.join("onemap.toml");
    std::fs::write(
        &p,
        format!(
            "[auth.jwt]\nissuer = \"{ISS}\"\naudience = \"onemap\"\njwks = \"{jwks}\"\nuser_claim = \"preferred_username\"\nroles_claim = \"realm_access.roles\"\ndepartment_claim = \"department\"\n{}",
            ca.map(|c| format!("jwks_ca = \"{c}\"\n")).unwrap_or_default()
        ),
    )
    .unwrap();
    p
}

#[test]
fn tokens_from_the_issuer_are_verified_against_its_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let keys = [
        key(Algorithm::RS256, "rsa-2024"),
        key(Algorithm::ES256, "ec-2024"),
        key(Algorithm::EdDSA, "ed-2024"),
    ];
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_string(&JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        })
        .unwrap(),
    )
    .unwrap();
    let cfg = config(dir.path(), jwks.to_str().unwrap(), None);
    let s = serve_with(&db, &["--config", cfg.to_str().unwrap()], &[]);
    let ask = |token: &str| {
        let auth = format!("Bearer {token}");
        get(&s.base, "/auth/me", &[("Authorization", &auth)])
    };
    for k in &keys {
        let r = ask(&sign(k, &claims(json!({}))));
        assert_eq!(r.status, 200, "{:?}: {}", k.alg, r.text());
        let me = r.json();
        assert_eq!(me["user"], "李明");
        assert_eq!(me["via"], "token");
        assert_eq!(me["department"], "不动产登记中心");
        assert_eq!(me["roles"], json!(["planning", "registration"]));
        let now = get_current_timestamp();
        for (bad, why) in [
            (json!({ "exp": now - 3600 }), "expired"),
            (json!({ "nbf": now + 3600 }), "not valid yet"),
            (json!({ "aud": "another-system" }), "another audience"),
            (json!({ "iss": "https://evil.test" }), "another issuer"),
            (json!({ "realm_access": { "roles": ["*"] } }), "wildcard"),
        ] {
            let r = ask(&sign(k, &claims(bad.clone())));
            assert_eq!(r.status, 401, "{:?} {bad}", k.alg);
            assert!(r.text().contains(why), "{:?} {bad}: {}", k.alg, r.text());
        }
    }
    // A token without an audience; one signed by a key the issuer never published; one whose
    // header names the RSA key but was signed with the EC key.
    let mut no_aud = claims(json!({}));
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(ask(&sign(&keys[0], &no_aud)).status, 401);
    let stranger = key(Algorithm::ES256, "ec-stranger");
    let r = ask(&sign(&stranger, &claims(json!({}))));
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("not in the issuer's key set"),
        "{}",
        r.text()
    );
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("rsa-2024".into());
    let confused = encode(&h, &claims(json!({})), &keys[1].enc).unwrap();
    let r = ask(&confused);
    assert_eq!(r.status, 401, "{}", r.text());
    // A token with a forged signature.
    let good = sign(&keys[2], &claims(json!({})));
    let mut forged = good[..good.rfind('.').unwrap() + 1].to_string();
    forged.push_str(&"A".repeat(86));
    assert_eq!(ask(&forged).status, 401);
    // The roles carry: the registrar's token reads owners.
    let auth = format!("Bearer {good}");
    let items = get(
        &s.base,
        "/collections/cadastral/items?limit=1",
        &[("Authorization", &auth)],
    )
    .json();
    assert!(
        items["features"][0]["properties"].get("owner").is_some(),
        "{items}"
    );
}

#[test]
fn the_key_set_is_fetched_over_https_with_the_providers_ca() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo(dir.path());
    let k = key(Algorithm::EdDSA, "ed-https");
    let set = JwkSet {
        keys: vec![k.jwk.clone()],
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (port, ca_pem) = rt.block_on(https_jwks(set));
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let url = format!("https://localhost:{port}/.well-known/jwks.json");
    let cfg = config(dir.path(), &url, Some(ca.to_str().unwrap()));
    let s = serve_with(&db, &["--config", cfg.to_str().unwrap()], &[]);
    let auth = format!("Bearer {}", sign(&k, &claims(json!({}))));
    let r = get(&s.base, "/auth/me", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user"], "李明");
    // Without the provider's CA the server cannot read the keys: the token is not believed.
    let cfg2 = dir.path().join("no-ca.toml");
    std::fs::write(
        &cfg2,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("jwks_ca"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    drop(s);
    let s = serve_with(&db, &["--config", cfg2.to_str().unwrap()], &[]);
    let r = get(&s.base, "/auth/me", &[("Authorization", &auth)]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "jwks_unavailable");
    drop(rt);
}

/// A JWKS endpoint over TLS with a self-signed certificate (rcgen), on 127.0.0.1.
async fn https_jwks(set: JwkSet) -> (u16, String) {
    use axum::routing::get;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio_rustls::{TlsAcceptor, rustls};

    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let ca_pem = ck.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let body = serde_json::to_string(&set).unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let b = body.clone();
            async move { ([("content-type", "application/json")], b) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    (port, ca_pem)
}
