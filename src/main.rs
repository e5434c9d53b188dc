//! `onemap`: the command line. Parses arguments and calls into the crates; the crates do the work.
#![forbid(unsafe_code)]

mod admin;
mod check;
mod commands;
mod config;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A panic is a bug; say so in one line instead of a trace (RUST_BACKTRACE=1 still shows it).
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            // A decoder failing on a damaged file becomes that import's error, with this message.
            if onemap_importers::formats::channel::on_decoder_thread() {
                tracing::debug!("decoder panic: {info}");
                return;
            }
            eprintln!("onemap: internal error: {info} (please report this)");
        }));
    }
    let cli = match config::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // clap's first line says what is wrong; keep the one-line contract (exit 1).
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("onemap: error: {first} (see `onemap --help`)");
            return ExitCode::from(1);
        }
    };
    init_tracing(cli.verbose, cli.quiet, cli.log_format);
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: the outermost context, then the causes.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("onemap: error: {}", one_line(&msg));
            ExitCode::from(1)
        }
    }
}

/// An error message on one line: multi-line messages (a TOML parse error draws the offending
/// line with a caret under it) keep their words, not their drawing.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l
                    .split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn init_tracing(verbose: u8, quiet: bool, format: config::LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONEMAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        config::LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        config::LogFormat::Json => fmt.json().with_ansi(false).init(),
    }
}
