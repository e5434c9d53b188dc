//! `gen-city`: the comparison harness's generated city. Writes the same synthetic parcels
//! (`onemap_engine::synth`, fixed seed) into an onemap store and into a TSV that PostgreSQL's
//! COPY loads (fid, parcel_id, rights_type, floors, registered_area, WKT in EPSG:4326).
//!
//! With `--geojsonl PATH` it also writes the parcels as newline-delimited GeoJSON (the import
//! comparison converts that into Shapefile, FlatGeobuf and GeoJSON with ogr2ogr).
//!
//! With `--analytics DIR` it adds the analytics layers (`onemap_benches::city`) to the store and
//! writes each as `DIR/<layer>.tsv`.
//!
//!   gen-city --parcels 200000 --store city.duckdb --tsv city.tsv [--geojsonl city.geojsonl] [--analytics DIR]
use std::io::Write;

use geozero::{ToJson, ToWkt};
use onemap_benches::{SEED, build_store};
use onemap_engine::{Value, synth};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--parcels")
        .unwrap_or_else(|| "200000".into())
        .parse()?;
    let store = arg(&args, "--store").ok_or("--store PATH is required")?;
    let tsv = arg(&args, "--tsv").ok_or("--tsv PATH is required")?;
    let started = std::time::Instant::now();
    drop(build_store(std::path::Path::new(&store), n));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tsv)?);
    for (i, f) in synth::parcels(n, SEED).enumerate() {
        let text = |v: &Value| match v {
            Value::Null => "\\N".to_string(),
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            other => format!("{other:?}"),
        };
        let p = &f.properties;
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\tSRID=4326;{}",
            i + 1,
            text(&p[0]),
            text(&p[1]),
            text(&p[3]),
            text(&p[4]),
            f.geometry.to_wkt()?
        )?;
    }
    out.flush()?;
    if let Some(dir) = arg(&args, "--analytics") {
        onemap_benches::city::write(std::path::Path::new(&store), n, std::path::Path::new(&dir))?;
    }
    if let Some(path) = arg(&args, "--geojsonl") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for f in synth::parcels(n, SEED) {
            let p = &f.properties;
            let props = serde_json::json!({
                "parcel_id": p[0].to_json(),
                "rights_type": p[1].to_json(),
                "floors": p[3].to_json(),
                "registered_area": p[4].to_json(),
            });
            writeln!(
                out,
                "{{\"type\":\"Feature\",\"properties\":{},\"geometry\":{}}}",
                props,
                f.geometry.to_json()?
            )?;
        }
        out.flush()?;
    }
    eprintln!(
        "gen-city: {n} parcels into {store} and {tsv} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
