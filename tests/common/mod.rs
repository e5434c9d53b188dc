//! Running the built `onemap` binary in tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_onemap"))
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

pub fn onemap(db: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("ONEMAP_DB")
        .env_remove("ONEMAP_CONFIG")
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
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
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
