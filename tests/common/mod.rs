//! Running the built `onemap` binary in tests.
#![allow(dead_code)]
// tests/analytics.rs also loads engine/tests/support (with this file) for its PostGIS cluster.
#[allow(clippy::duplicate_mod)]
#[path = "../../engine/tests/support/require.rs"]
mod require_mod;
#[allow(unused_imports)]
pub use require_mod::require;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_onemap"))
}

/// What sample-data/generate.py says it made (sample-data/expected.json): counts per layer,
/// land use by class, change patches by the verdict they were made to get.
pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(sample("expected.json")).expect("sample-data/expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// Features the generator made for a sample layer.
pub fn expected_count(layer: &str) -> u64 {
    expected()["features"][layer]
        .as_u64()
        .unwrap_or_else(|| panic!("expected.json has no count for {layer}"))
}

pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// `features[*].<path>` of a FeatureCollection on stdout, as integers (e.g. `&["id"]`).
    pub fn feature_ints(&self, path: &[&str]) -> Vec<i64> {
        let j = self.json();
        j["features"]
            .as_array()
            .unwrap_or_else(|| panic!("no features array: {}", self.stdout))
            .iter()
            .map(|f| {
                let v = path.iter().fold(f, |v, k| &v[*k]);
                v.as_i64()
                    .unwrap_or_else(|| panic!("{path:?} is not an integer in {f}"))
            })
            .collect()
    }

    /// Exit 0 or panic with the output.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Exit 1 with one clear line on stderr, no panic, nothing on stdout.
    pub fn user_error(self, must_contain: &str) -> Run {
        assert_eq!(
            self.code, 1,
            "expected exit 1; stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one line expected on stderr, got: {}",
            self.stderr
        );
        assert!(lines[0].starts_with("onemap: error: "), "{}", lines[0]);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(
            lines[0].contains(must_contain),
            "'{must_contain}' not in: {}",
            lines[0]
        );
        self
    }
}

/// A command for the binary with no ONEMAP_* variable of the test's own environment (a stray
/// ONEMAP_RULES or ONEMAP_LOCK_WAIT must not change what a test sees).
pub fn command() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ONEMAP_") {
            c.env_remove(k);
        }
    }
    // What a user sees: without RUST_BACKTRACE a panic is one line (a developer's shell may set it).
    c.env_remove("RUST_BACKTRACE");
    c
}

pub fn onemap(db: &Path, args: &[&str]) -> Run {
    onemap_env(db, args, &[])
}

/// `onemap --db DB ARGS` with extra environment variables.
pub fn onemap_env(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = command()
        .arg("--db")
        .arg(db)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run onemap");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `onemap import sample-data/xinzheng_landuse.geojson --layer landuse --kind landuse`.
pub fn import_sample(db: &Path) -> Run {
    let file = sample("xinzheng_landuse.geojson");
    onemap(
        db,
        &[
            "import",
            file.to_str().unwrap_or_default(),
            "--layer",
            "landuse",
            "--kind",
            "landuse",
        ],
    )
}

/// `onemap serve` on 127.0.0.1 (a free port) over `db`, killed on drop.
pub struct Server {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `onemap serve` and read its address from the first line it prints.
pub fn serve(db: &Path) -> Server {
    serve_with(db, &[], &[])
}

/// `onemap serve --bind 127.0.0.1:0 ARGS` with extra environment variables.
pub fn serve_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    use std::io::{BufRead, BufReader};
    let mut child = command()
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start onemap serve");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("read the server's first line");
    let start = line
        .find("http://")
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let rest = &line[start..];
    let base = rest[..rest.find("/ ").expect("address ends with '/ '")].to_string();
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    Server { child, base }
}

/// An HTTP response read off a socket.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..line_end]).unwrap_or("0").trim(),
            16,
        )
        .unwrap_or(0);
        b = &b[line_end + 2..];
        if size == 0 || b.len() < size {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
}

/// One HTTP/1.1 request on its own connection (`base` is `http://host:port`). Raw bytes on a
/// socket, so a test can send exactly what a hostile client would (repeated headers, odd bytes).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .expect("timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    if let Some(b) = body {
        req.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
    s.write_all(&req).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap_or_default()[9..12]
        .parse()
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw = &buf[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
    Resp {
        status,
        body: if chunked { dechunk(raw) } else { raw.to_vec() },
        headers,
    }
}

pub fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    http(base, "GET", path, headers, None)
}

pub fn post_json(base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut h = headers.to_vec();
    h.push(("Content-Type", "application/json"));
    http(base, "POST", path, &h, Some(body.as_bytes()))
}
