//! Embeds the web client (tile-server/web/dist, made by `npm run build`) into the binary, so the
//! server needs no files at run time. Without a built client the binary still builds (only Rust is
//! needed for `cargo run`); `/` then explains how to build the client.
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=web/dist");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = PathBuf::from(manifest).join("web").join("dist");
    let mut code = String::from(
        "/// The built web client: (file name, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    if dist.join("index.html").is_file() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dist)
            .expect("read web/dist")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.ends_with(".map") {
                continue;
            }
            // Relative to the crate, not this checkout's absolute path: a target directory shared by
            // two checkouts (a clean clone in CI, the working copy) must not embed the other's files.
            let _ = writeln!(
                code,
                "    ({name:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/web/dist/{name}\"))),"
            );
        }
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_assets.rs");
    std::fs::write(out, code).expect("write web_assets.rs");
}
