//! Fuzzing what arrives over HTTP: tile addresses, query strings, JSON bodies with geometries,
//! identity headers (bolero; see `engine/tests/fuzz.rs`).
use bolero::check;
use onemap_tile_server::fuzzing;

#[test]
fn fuzz_tile_path() {
    check!()
        .with_type::<(String, String, String)>()
        .for_each(|(z, x, y)| fuzzing::tile_path(z, x, y));
}

#[test]
fn fuzz_query_string() {
    check!()
        .with_type::<String>()
        .for_each(|q| fuzzing::query(q));
}

#[test]
fn fuzz_json_body() {
    check!().for_each(|d: &[u8]| fuzzing::body(d));
}

#[test]
fn fuzz_identity_headers() {
    check!()
        .with_type::<Vec<(u8, Vec<u8>)>>()
        .for_each(|pairs| {
            const NAMES: [&str; 8] = [
                "x-onemap-user",
                "x-onemap-roles",
                "x-onemap-department",
                "x-onemap-gateway-secret",
                "authorization",
                "cookie",
                "x-csrf-token",
                "accept",
            ];
            let pairs: Vec<(String, Vec<u8>)> = pairs
                .iter()
                .map(|(k, v)| (NAMES[usize::from(*k) % NAMES.len()].to_string(), v.clone()))
                .collect();
            fuzzing::headers(&pairs);
        });
}
