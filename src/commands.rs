//! One function per subcommand: open the store, call the engine or an importer, print.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use geo::{Geometry, Point};
use indicatif::{ProgressBar, ProgressStyle};
use onemap_engine::store::OpenOptions;
use onemap_engine::tiling::TileOptions;
use onemap_engine::{Caller, Engine, Filter, LayerKind, Policy, Query, Store};
use onemap_importers::{ImportOptions, OnInvalid, import_file, read_geometry_file};

use crate::config::{
    ArchiveFormat, Cli, Command, DemoArgs, ExportArgs, IdentifyArgs, ImportArgs, LayerFormat,
    OnInvalidArg, QueryArgs, TilesCommand, TilesExportArgs,
};
use crate::output;

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    // Generated from the command-line definition; no store, no config file.
    match &cli.command {
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails (a closed pipe).
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "onemap", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .context("writing the completion script")?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { dir } => {
            man_pages(dir.as_deref())?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let file = cli.file_config()?;
    let db = cli.db_path(&file);
    if !(cli.lock_wait.is_finite() && cli.lock_wait >= 0.0) {
        bail!("--lock-wait must be a non-negative number of seconds");
    }
    let _ = LOCK_WAIT.set(Duration::from_secs_f64(cli.lock_wait.min(86_400.0)));
    match cli.command {
        Command::Import(args) => import(&db, args, cli.quiet),
        Command::Layers(f) => {
            let store = open_read(&db)?;
            output::layers(&store.layers()?, f.format)
        }
        Command::Info { layer, format } => {
            let engine = Engine::new(open_read(&db)?);
            let l = engine.layer_for(&Caller::operator(), &layer)?;
            output::info(&l, format.format)
        }
        Command::Query(args) => query(&db, args),
        Command::Identify(args) => identify(&db, args),
        Command::Serve(args) => crate::serve::run(&db, args, &file, lock_wait()),
        Command::Demo(args) => demo(&db, args, &file, cli.quiet),
        Command::Tiles(TilesCommand::Export(args)) => tiles_export(&db, args, cli.quiet),
        Command::Export(args) => export_layer(&db, args, cli.quiet),
        Command::Check(cmd) => {
            if !db.is_file() {
                bail!(
                    "no store at {}: import layers first (`onemap import` or `onemap demo --no-serve`)",
                    db.display()
                );
            }
            return crate::check::run(open_write(&db)?, cmd, cli.quiet);
        }
        Command::Runs(args) => crate::check::runs(&open_read(&db)?, args),
        Command::Users(cmd) => crate::admin::users(&open_write(&db)?, cmd, cli.quiet),
        Command::Keys(cmd) => crate::admin::keys(&open_write(&db)?, cmd, cli.quiet),
        Command::Acl(cmd) => crate::admin::acl(&open_write(&db)?, cmd, cli.quiet),
        Command::Audit(args) => return crate::admin::audit(&open_read(&db)?, args, cli.quiet),
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
        Command::Drop { layer } => {
            let engine = Engine::new(open_write(&db)?);
            let meta = engine.drop_layer(&Caller::operator(), &layer)?;
            if !cli.quiet {
                eprintln!(
                    "dropped layer '{}' (version {}, {} features)",
                    meta.name, meta.version, meta.feature_count
                );
            }
            Ok(())
        }
    }?;
    Ok(ExitCode::SUCCESS)
}

/// `onemap man`: the top page on standard output, or every command's page into a folder.
fn man_pages(dir: Option<&std::path::Path>) -> Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("writing the man page"),
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))
        }
    }
}

/// `--lock-wait`, set once by [`run`].
static LOCK_WAIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

fn lock_wait() -> Duration {
    LOCK_WAIT.get().copied().unwrap_or_default()
}

fn store_options(read_only: bool, detached: bool) -> OpenOptions {
    OpenOptions {
        read_only,
        detached,
        lock_wait: lock_wait(),
    }
}

fn open_read(db: &std::path::Path) -> Result<Store> {
    Ok(Store::open_with(db, store_options(true, false))?)
}

fn open_write(db: &std::path::Path) -> Result<Store> {
    Ok(Store::open_with(db, store_options(false, false))?)
}

fn import(db: &std::path::Path, args: ImportArgs, quiet: bool) -> Result<()> {
    if args.all_layers {
        return import_all_layers(db, &args, quiet);
    }
    if args.dry_run {
        // No store is opened (or created) for a dry run.
        return import_with(None, &args, quiet);
    }
    let engine = Engine::new(open_write(db)?);
    import_into(&engine, &args, quiet)
}

fn import_into(engine: &Engine, args: &ImportArgs, quiet: bool) -> Result<()> {
    import_with(Some(engine), args, quiet)
}

/// `--all-layers`: each layer of the file as `<layer>_<name>`; every one is checked (a dry run)
/// before the first is written, so a bad table stops the run with nothing written.
fn import_all_layers(db: &std::path::Path, args: &ImportArgs, quiet: bool) -> Result<()> {
    let names = onemap_importers::formats::layer_names(&args.file)?;
    if names.is_empty() {
        bail!("{}: no layers to import", args.file.display());
    }
    let per_layer = |name: &str, dry_run: bool| ImportArgs {
        layer: format!("{}_{name}", args.layer),
        source_layer: Some(name.to_string()),
        all_layers: false,
        dry_run,
        file: args.file.clone(),
        kind: args.kind.clone(),
        srs: args.srs.clone(),
        towgs84: args.towgs84.clone(),
        on_invalid: args.on_invalid,
        encoding: args.encoding.clone(),
        geometry_column: args.geometry_column.clone(),
        lon_column: args.lon_column.clone(),
        lat_column: args.lat_column.clone(),
        map: args.map.clone(),
        profile: args.profile.clone(),
        save_profile: None,
    };
    for n in &names {
        import_with(None, &per_layer(n, true), true)
            .with_context(|| format!("layer '{n}' (nothing imported)"))?;
    }
    if args.dry_run {
        if !quiet {
            eprintln!(
                "{}: {} layers checked: {}",
                args.file.display(),
                names.len(),
                names.join(", ")
            );
        }
        return Ok(());
    }
    let engine = Engine::new(open_write(db)?);
    for n in &names {
        import_into(&engine, &per_layer(n, false), quiet)
            .with_context(|| format!("layer '{n}'"))?;
    }
    Ok(())
}

/// An import profile: the settings a department's files need, saved once and reused.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ImportProfile {
    kind: Option<String>,
    srs: Option<String>,
    towgs84: Option<String>,
    encoding: Option<String>,
    geometry_column: Option<String>,
    lon_column: Option<String>,
    lat_column: Option<String>,
    source_layer: Option<String>,
    #[serde(default)]
    map: std::collections::BTreeMap<String, String>,
}

/// The profile (if any) under the command line's options.
fn effective_import(args: &ImportArgs) -> Result<ImportProfile> {
    let mut p = match &args.profile {
        None => ImportProfile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read profile {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("profile {}", path.display()))?
        }
    };
    let over = |a: &Option<String>, b: &mut Option<String>| {
        if a.is_some() {
            b.clone_from(a);
        }
    };
    over(&args.kind, &mut p.kind);
    over(&args.srs, &mut p.srs);
    over(&args.towgs84, &mut p.towgs84);
    over(&args.encoding, &mut p.encoding);
    over(&args.geometry_column, &mut p.geometry_column);
    over(&args.lon_column, &mut p.lon_column);
    over(&args.lat_column, &mut p.lat_column);
    over(&args.source_layer, &mut p.source_layer);
    for (field, column) in
        onemap_importers::import::parse_map(&args.map).map_err(anyhow::Error::msg)?
    {
        p.map.insert(field, column);
    }
    Ok(p)
}

fn import_with(engine: Option<&Engine>, args: &ImportArgs, quiet: bool) -> Result<()> {
    let profile = effective_import(args)?;
    let kind: LayerKind = profile.kind.as_deref().unwrap_or("generic").parse()?;
    let bar = progress_bar(quiet);
    let opts = ImportOptions {
        layer: args.layer.clone(),
        kind,
        srs: profile.srs.clone(),
        towgs84: profile.towgs84.clone(),
        on_invalid: match args.on_invalid {
            OnInvalidArg::Fail => OnInvalid::Fail,
            OnInvalidArg::Skip => OnInvalid::Skip,
            OnInvalidArg::Repair => OnInvalid::Repair,
        },
        read: onemap_importers::formats::ReadOptions {
            encoding: profile.encoding.clone(),
            geometry_column: profile.geometry_column.clone(),
            lon_column: profile.lon_column.clone(),
            lat_column: profile.lat_column.clone(),
            source_layer: profile.source_layer.clone(),
            ..Default::default()
        },
        map: profile
            .map
            .iter()
            .map(|(f, c)| (f.clone(), c.clone()))
            .collect(),
        dry_run: args.dry_run,
    };
    // Not a terminal: a plain line at the first report, then at most every 2 s.
    let mut last_line: Option<std::time::Instant> = None;
    let verb = if args.dry_run { "checked" } else { "written" };
    let on_progress = |n| match &bar {
        Some(b) => b.set_position(n),
        None if !quiet && last_line.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) => {
            eprintln!("{}: {n} features {verb}", args.file.display());
            last_line = Some(std::time::Instant::now());
        }
        None => {}
    };
    let report = match engine {
        Some(e) => import_file(e, &Caller::operator(), &args.file, &opts, on_progress),
        None => onemap_importers::check_file(&args.file, &opts, on_progress),
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    if let Some(path) = &args.save_profile {
        let saved = ImportProfile {
            kind: Some(kind.to_string()),
            ..profile
        };
        let text = toml::to_string_pretty(&saved).context("profile")?;
        std::fs::write(
            path,
            format!(
                "# onemap import profile, saved from {}\n{text}",
                args.file.display()
            ),
        )
        .with_context(|| format!("cannot write profile {}", path.display()))?;
        if !quiet {
            eprintln!("saved the import settings to {}", path.display());
        }
    }
    for note in &report.notes {
        eprintln!("onemap: note: {note}");
    }
    for (index, reason) in report.skipped.iter().take(50) {
        eprintln!("onemap: skipped feature {index}: {reason}");
    }
    for (index, reason) in report.repaired.iter().take(50) {
        eprintln!("onemap: repaired feature {index}: {reason}");
    }
    if report.dry_run {
        if !quiet {
            eprintln!(
                "dry run: {} ({}) would become layer '{}' ({}): read {}, would write {}, skipped {}, source CRS {}{}; nothing written",
                args.file.display(),
                report.format,
                report.meta.name,
                report.meta.kind,
                report.read,
                report.written,
                report.skipped.len(),
                report.source_crs,
                report
                    .encoding
                    .as_ref()
                    .map(|e| format!(", encoding {e}"))
                    .unwrap_or_default(),
            );
        }
        return Ok(());
    }
    if !quiet {
        let replaced = match report.replaced_version {
            Some(v) => format!(", replacing version {v}"),
            None => String::new(),
        };
        let encoding = match &report.encoding {
            Some(e) => format!(", encoding {e}"),
            None => String::new(),
        };
        eprintln!(
            "imported {} ({}) → layer '{}' ({}) version {}{replaced}: read {}, written {}, skipped {}, repaired {}, source CRS {}{encoding}, {:.2} s, {:.0} features/s",
            args.file.display(),
            report.format,
            report.meta.name,
            report.meta.kind,
            report.meta.version,
            report.read,
            report.written,
            report.skipped.len(),
            report.repaired.len(),
            report.source_crs,
            report.elapsed.as_secs_f64(),
            report.rate()
        );
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} features written ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn parse_numbers(s: &str, n: usize, what: &str) -> Result<Vec<f64>> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{what} '{s}' must be {n} comma-separated numbers"))?;
    if v.len() != n || v.iter().any(|x| !x.is_finite()) {
        bail!("{what} '{s}' must be {n} comma-separated finite numbers");
    }
    Ok(v)
}

fn parse_point(s: &str) -> Result<Point<f64>> {
    let v = parse_numbers(s, 2, "--point")?;
    if !(-180.0..=180.0).contains(&v[0]) || !(-90.0..=90.0).contains(&v[1]) {
        bail!("--point '{s}' is not a longitude,latitude pair");
    }
    Ok(Point::new(v[0], v[1]))
}

fn query(db: &std::path::Path, a: QueryArgs) -> Result<()> {
    let engine = Engine::new(open_read(db)?);
    let caller = Caller::operator();
    let filter = a.filter.as_deref().map(Filter::parse).transpose()?;
    let spatial_args = [a.bbox.is_some(), a.point.is_some(), a.intersects.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if spatial_args > 1 {
        bail!("use only one of --bbox, --point and --intersects");
    }
    if let Some(k) = a.nearest {
        let Some(p) = &a.point else {
            bail!("--nearest needs --point");
        };
        let hits = engine.nearest(&caller, &a.layer, parse_point(p)?, k, filter.as_ref())?;
        return output::features(&hits, a.format);
    }
    let reference: Option<Geometry<f64>> = match (&a.point, &a.intersects) {
        (Some(p), _) => Some(parse_point(p)?.into()),
        (_, Some(file)) => Some(read_geometry_file(file, None)?),
        _ => None,
    };
    let mut q = match (&a.bbox, reference, a.within) {
        (Some(b), _, None) => {
            let v = parse_numbers(b, 4, "--bbox")?;
            if v[0] > v[2] || v[1] > v[3] {
                bail!("--bbox '{b}' has min > max (expected minlon,minlat,maxlon,maxlat)");
            }
            Query::bbox(v[0], v[1], v[2], v[3])
        }
        (Some(_), _, Some(_)) => bail!("--within goes with --point or --intersects, not --bbox"),
        (None, Some(g), Some(m)) => Query::dwithin(g, m),
        (None, Some(g), None) => Query::intersects(g),
        (None, None, Some(_)) => bail!("--within needs --point or --intersects"),
        (None, None, None) => Query::all(),
    };
    if let Some(f) = filter {
        q = q.filter(f);
    }
    q.offset = a.offset;
    q.limit = a.limit;
    let hits = engine.query(&caller, &a.layer, &q)?;
    output::features(&hits, a.format)
}

fn identify(db: &std::path::Path, a: IdentifyArgs) -> Result<()> {
    let engine = Engine::new(open_read(db)?);
    let p = parse_point(&a.point)?;
    let results = engine.identify(&Caller::operator(), p, a.layers.as_deref(), a.tolerance)?;
    output::identify(&results, a.format)
}

fn export_layer(db: &std::path::Path, args: ExportArgs, quiet: bool) -> Result<()> {
    use onemap_importers::export::ExportFormat as F;
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let format = match (args.format, ext.as_str()) {
        (Some(LayerFormat::Geojson), _) | (None, "geojson" | "json") => F::GeoJson,
        (Some(LayerFormat::Fgb), _) | (None, "fgb") => F::FlatGeobuf,
        (Some(LayerFormat::Csv), _) | (None, "csv") => F::Csv { raw: args.csv_raw },
        (Some(LayerFormat::Gpkg), _) | (None, "gpkg") => F::GeoPackage,
        (None, other) => bail!(
            "cannot tell the format from '.{other}': use .geojson, .fgb, .gpkg or .csv, or pass --format"
        ),
    };
    if args.csv_raw && !matches!(format, F::Csv { .. }) {
        bail!("--csv-raw applies to CSV output only");
    }
    let engine = Engine::new(open_read(db)?);
    let layer = engine.layer_for(&Caller::operator(), &args.layer)?;
    let n = onemap_importers::export::export_layer(&layer, &args.out, format, args.srs.as_deref())?;
    if !quiet {
        eprintln!(
            "exported layer '{}' ({n} features) to {}{}",
            args.layer,
            args.out.display(),
            args.srs
                .as_ref()
                .map(|s| format!(" in {s}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn tiles_export(db: &std::path::Path, args: TilesExportArgs, quiet: bool) -> Result<()> {
    use onemap_tile_server::export::ArchiveFormat as Fmt;
    let by_ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mbtiles"));
    let format = match args.format {
        Some(ArchiveFormat::Mbtiles) => Fmt::Mbtiles,
        Some(ArchiveFormat::Pmtiles) => Fmt::Pmtiles,
        None if by_ext => Fmt::Mbtiles,
        None => Fmt::Pmtiles,
    };
    // Exports leave the building: rendered for an anonymous caller under the store's policy.
    let store = open_read(db)?;
    let policy = store
        .policy()?
        .map(|p| p.policy)
        .unwrap_or_else(Policy::city_default);
    let engine = Engine::open(store)?.with_policy(policy);
    let layers = match args.layers {
        Some(l) => l,
        None => engine
            .store()
            .layers()?
            .into_iter()
            .map(|m| m.name)
            .collect(),
    };
    let opts = onemap_tile_server::export::ExportOptions {
        layers,
        min_zoom: args.minzoom,
        max_zoom: args.maxzoom,
        tiles: TileOptions {
            max_bytes: args.max_tile_kb.saturating_mul(1024),
            ..TileOptions::default()
        },
    };
    let bar = if quiet || !std::io::stderr().is_terminal() {
        None
    } else {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} tiles ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    };
    let started = std::time::Instant::now();
    let report =
        onemap_tile_server::export::export(&engine, &args.out, format, &opts, |done, total| {
            if let Some(b) = &bar {
                b.set_length(total);
                b.set_position(done);
            }
        });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report.with_context(|| format!("tiles export to {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "wrote {}: {} tiles with features of {} looked at, z{}–z{}, {:.1} MB of tiles, {:.1} MB archive, {:.1} s",
            args.out.display(),
            report.tiles_written,
            report.tiles_considered,
            args.minzoom,
            args.maxzoom,
            report.raw_bytes as f64 / 1e6,
            report.file_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// One layer of the sample set, as `sample-data/manifest.toml` lists it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleLayer {
    name: String,
    file: std::path::PathBuf,
    kind: String,
    srs: Option<String>,
    #[serde(default)]
    map: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleManifest {
    layer: Vec<SampleLayer>,
}

fn sample_dir(given: Option<&std::path::Path>) -> Result<std::path::PathBuf> {
    if let Some(d) = given {
        return Ok(d.to_path_buf());
    }
    let here = std::path::PathBuf::from("sample-data");
    if here.join("manifest.toml").is_file() {
        return Ok(here);
    }
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    if built.join("manifest.toml").is_file() {
        return Ok(built);
    }
    bail!("cannot find the sample set (sample-data/manifest.toml); pass --sample-dir")
}

fn demo(
    db: &std::path::Path,
    args: DemoArgs,
    file: &(crate::config::FileConfig, std::path::PathBuf),
    quiet: bool,
) -> Result<()> {
    let dir = sample_dir(args.sample_dir.as_deref())?;
    let manifest_path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest: SampleManifest =
        toml::from_str(&text).with_context(|| format!("{}", manifest_path.display()))?;
    {
        let engine = Engine::new(open_write(db)?);
        let present: Vec<String> = engine
            .store()
            .layers()?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let missing: Vec<&SampleLayer> = manifest
            .layer
            .iter()
            .filter(|l| !present.contains(&l.name))
            .collect();
        if missing.is_empty() && !quiet {
            eprintln!("onemap demo: {} already holds the sample set", db.display());
        }
        for l in missing {
            let args = ImportArgs {
                file: dir.join(&l.file),
                layer: l.name.clone(),
                kind: Some(l.kind.clone()),
                srs: l.srs.clone(),
                towgs84: None,
                on_invalid: OnInvalidArg::Fail,
                encoding: None,
                geometry_column: None,
                lon_column: None,
                lat_column: None,
                source_layer: None,
                all_layers: false,
                map: l.map.clone(),
                dry_run: false,
                profile: None,
                save_profile: None,
            };
            import_into(&engine, &args, quiet)
                .with_context(|| format!("sample layer '{}'", l.name))?;
        }
        // The analytics' result layers, so the map shows them (each run is recorded).
        crate::check::demo_results(&engine, quiet)?;
        // A first account to log in with, its password shown once.
        if let Some(pw) = crate::admin::first_admin(engine.store())? {
            eprintln!(
                "onemap demo: first login: user 'admin', password '{pw}' (shown only now; `onemap users passwd admin` changes it)"
            );
        }
    } // the writer closes the file before the server opens it
    if args.no_serve {
        return Ok(());
    }
    crate::serve::run(db, args.serve, file, lock_wait())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("onemap: shutting down");
}
