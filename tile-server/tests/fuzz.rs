//! Fuzzing what arrives over HTTP: tile addresses, query strings, JSON bodies with geometries,
//! identity headers (bolero; see `engine/tests/fuzz.rs`).
use bolero::check;
use onemap_tile_server::fuzzing;

use onemap_engine::fuzzing::{finish, tick};

#[test]
fn fuzz_tile_path() {
    check!()
        .with_type::<(String, String, String)>()
        .for_each(|(z, x, y)| {
            tick();
            fuzzing::tile_path(z, x, y)
        });
    finish("fuzz_tile_path");
}

#[test]
fn fuzz_query_string() {
    check!().with_type::<String>().for_each(|q| {
        tick();
        fuzzing::query(q)
    });
    finish("fuzz_query_string");
}

#[test]
fn fuzz_json_body() {
    check!().for_each(|d: &[u8]| {
        tick();
        fuzzing::body(d)
    });
    finish("fuzz_json_body");
}

#[test]
fn fuzz_identity_headers() {
    check!()
        .with_type::<Vec<(u8, Vec<u8>)>>()
        .for_each(|pairs| {
            tick();
            const NAMES: [&str; 9] = [
                "x-onemap-user",
                "x-onemap-roles",
                "x-onemap-department",
                "x-onemap-gateway-secret",
                "authorization",
                "cookie",
                "x-csrf-token",
                "accept",
                "x-forwarded-for",
            ];
            let pairs: Vec<(String, Vec<u8>)> = pairs
                .iter()
                .map(|(k, v)| (NAMES[usize::from(*k) % NAMES.len()].to_string(), v.clone()))
                .collect();
            fuzzing::headers(&pairs);
        });
    finish("fuzz_identity_headers");
}
