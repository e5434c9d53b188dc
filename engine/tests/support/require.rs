//! What a test needs from outside Rust (PostgreSQL, npm packages, Chromium, python3-owslib,
//! gdal-bin) is installed by `scripts/setup.sh test`. When it is missing the test **fails**,
//! naming what is missing — unless `ONEMAP_TEST_ALLOW_MISSING` names it (a comma-separated list,
//! or `all`), an escape for a developer's machine that CI never sets. A test skipped that way
//! writes a line to the file named by `ONEMAP_SKIP_LOG` (set by `scripts/test.sh`), which
//! `.ci/run` fails on. `ONEMAP_TEST_HIDE` (same form) makes a present dependency count as
//! missing: `scripts/check-missing-deps.sh` uses it to show that each test fails without it.

/// `true` when the dependency is there; `false` (the caller returns) only when the developer
/// allowed it to be missing; otherwise a panic saying what to install.
pub fn require(what: &str, present: bool, install: &str) -> bool {
    let listed = |var: &str| {
        std::env::var(var)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .any(|a| a == "all" || (!a.is_empty() && what.contains(a)))
    };
    if present && !listed("ONEMAP_TEST_HIDE") {
        return true;
    }
    let allowed = listed("ONEMAP_TEST_ALLOW_MISSING");
    assert!(
        allowed,
        "{what} is missing: {install} (or set ONEMAP_TEST_ALLOW_MISSING to skip on purpose)"
    );
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    eprintln!("SKIPPED: {test}: {what} is missing (ONEMAP_TEST_ALLOW_MISSING)");
    if let Ok(log) = std::env::var("ONEMAP_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}: {what}");
        }
    }
    false
}
