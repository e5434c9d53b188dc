//! A throwaway PostgreSQL + PostGIS cluster on 127.0.0.1 for oracle tests.
#![allow(dead_code)]
pub mod mvt;
mod require;

pub use require::require;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Postgis {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn bindir() -> Option<PathBuf> {
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("initdb").is_file() {
            return Some(p);
        }
    }
    None
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgis {
    /// Start a cluster. PostgreSQL missing is a failure (see [`require`]), or `None` when the
    /// developer allowed it.
    pub fn start() -> Option<Postgis> {
        let bin = bindir();
        if !require(
            "PostgreSQL 15 + PostGIS",
            bin.is_some(),
            "scripts/setup.sh test installs postgresql-15-postgis-3",
        ) {
            return None;
        }
        let bin = bin?;
        let dir = tempfile::Builder::new()
            .prefix("onemap-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if as_postgres {
            // initdb refuses to run as root.
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown",
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgis {
            _dir: dir,
            data,
            bin,
            port,
            as_postgres,
        };
        pg.cmd(
            "initdb",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            pg.data.parent().unwrap().display()
        );
        pg.cmd(
            "pg_ctl",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-l",
                pg.data.parent().unwrap().join("log").to_str().unwrap(),
                "start",
            ],
        );
        pg.sql("CREATE EXTENSION postgis;");
        Some(pg)
    }

    fn cmd(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        c.args(args);
        run(&mut c, tool);
    }

    /// Run SQL through psql; returns unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        let mut child = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-At",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for Postgis {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data.to_str().unwrap_or_default().to_string();
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = c.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}
