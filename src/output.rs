//! Printing: tables for people, GeoJSON / JSON for programs. Data goes to stdout, messages to stderr.
use std::collections::HashSet;
use std::io::Write;

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use onemap_engine::geometry::Measure;
use onemap_engine::index::LoadedLayer;
use onemap_engine::model::{GeometryType, LayerMeta, Value};
use onemap_engine::query::LayerHits;
use serde_json::json;

use crate::config::{FeatureFormat, ListFormat};

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match writeln!(out, "{s}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn bounds(m: &LayerMeta) -> String {
    m.bounds.map_or_else(
        || "-".to_string(),
        |r| {
            format!(
                "{:.6},{:.6},{:.6},{:.6}",
                r.min().x,
                r.min().y,
                r.max().x,
                r.max().y
            )
        },
    )
}

/// `onemap layers`.
pub fn layers(list: &[LayerMeta], format: ListFormat) -> Result<()> {
    match format {
        ListFormat::Json => print(&serde_json::to_string_pretty(list)?),
        ListFormat::Table => {
            if list.is_empty() {
                eprintln!(
                    "no layers yet; add one with `onemap import FILE --layer NAME --kind KIND`"
                );
                return Ok(());
            }
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header([
                "layer",
                "kind",
                "geometry",
                "features",
                "version",
                "bounds (lon/lat)",
                "source CRS",
            ]);
            for m in list {
                t.add_row([
                    m.name.clone(),
                    m.kind.to_string(),
                    m.geometry_type.to_string(),
                    m.feature_count.to_string(),
                    m.version.to_string(),
                    bounds(m),
                    m.source_crs.clone(),
                ]);
            }
            print(&t.to_string())
        }
    }
}

struct FieldStats {
    non_null: usize,
    distinct: usize,
    min: Option<Value>,
    max: Option<Value>,
}

fn field_stats(layer: &LoadedLayer, i: usize) -> FieldStats {
    let mut non_null = 0;
    let mut seen: HashSet<String> = HashSet::new();
    let (mut min, mut max): (Option<Value>, Option<Value>) = (None, None);
    for idx in 0..layer.len() as u32 {
        let v = &layer.properties(idx)[i];
        if v.is_null() {
            continue;
        }
        non_null += 1;
        if seen.len() <= 10_000 {
            seen.insert(v.to_string());
        }
        if min
            .as_ref()
            .is_none_or(|m| v.compare(m) == Some(std::cmp::Ordering::Less))
        {
            min = Some(v.clone());
        }
        if max
            .as_ref()
            .is_none_or(|m| v.compare(m) == Some(std::cmp::Ordering::Greater))
        {
            max = Some(v.clone());
        }
    }
    FieldStats {
        non_null,
        distinct: seen.len(),
        min,
        max,
    }
}

/// `onemap info LAYER`.
pub fn info(layer: &LoadedLayer, format: ListFormat) -> Result<()> {
    let m = &layer.meta;
    let (area, length): (f64, f64) = (0..layer.len() as u32)
        .map(|i| {
            let g = layer.geometry(i);
            (g.geodesic_area_m2(), g.geodesic_length_m())
        })
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let stats: Vec<FieldStats> = (0..m.schema.len()).map(|i| field_stats(layer, i)).collect();
    match format {
        ListFormat::Json => {
            let fields: Vec<_> = m
                .schema
                .fields()
                .iter()
                .zip(&stats)
                .map(|(f, s)| {
                    json!({
                        "name": f.name, "type": f.ty.as_str(), "non_null": s.non_null,
                        "distinct": s.distinct,
                        "min": s.min.as_ref().map(Value::to_json), "max": s.max.as_ref().map(Value::to_json),
                    })
                })
                .collect();
            print(&serde_json::to_string_pretty(&json!({
                "layer": m,
                "total_area_m2": (m.geometry_type == GeometryType::Polygon).then_some(area),
                "total_length_m": (m.geometry_type == GeometryType::Line).then_some(length),
                "fields": fields,
            }))?)
        }
        ListFormat::Table => {
            let mut head = Table::new();
            head.load_preset(UTF8_FULL_CONDENSED);
            let mut rows: Vec<(&str, String)> = vec![
                ("layer", m.name.clone()),
                ("kind", m.kind.to_string()),
                ("version", m.version.to_string()),
                ("updated", m.updated_at.clone()),
                ("source", m.source.clone()),
                ("source CRS", m.source_crs.clone()),
                ("stored as", "EPSG:4490 lon/lat (CGCS2000)".into()),
                ("geometry", m.geometry_type.to_string()),
                ("features", m.feature_count.to_string()),
                ("bounds", bounds(m)),
            ];
            if m.geometry_type == GeometryType::Polygon {
                rows.push((
                    "total area",
                    format!("{area:.1} m² ({:.4} ha)", area / 10_000.0),
                ));
            }
            if m.geometry_type == GeometryType::Line {
                rows.push(("total length", format!("{length:.1} m")));
            }
            for (k, v) in rows {
                head.add_row(vec![k.to_string(), v]);
            }
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(["field", "type", "non-null", "distinct", "min", "max"]);
            for (f, s) in m.schema.fields().iter().zip(&stats) {
                let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
                t.add_row([
                    f.name.clone(),
                    f.ty.to_string(),
                    s.non_null.to_string(),
                    if s.distinct > 10_000 {
                        ">10000".into()
                    } else {
                        s.distinct.to_string()
                    },
                    show(&s.min),
                    show(&s.max),
                ]);
            }
            print(&format!("{head}\n{t}"))
        }
    }
}

fn table(hits: &LayerHits) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["fid".to_string()];
    header.extend(hits.fields().iter().map(|f| f.name.clone()));
    let with_distance = hits.hits.iter().any(|h| h.distance_m.is_some());
    if with_distance {
        header.push("distance (m)".into());
    }
    t.set_header(header);
    for h in &hits.hits {
        let mut row = vec![h.fid.to_string()];
        row.extend(hits.properties(h).iter().map(|(_, v)| v.to_string()));
        if let Some(d) = h.distance_m {
            row.push(format!("{d:.2}"));
        }
        t.add_row(row);
    }
    t
}

/// Features of one layer.
pub fn features(hits: &LayerHits, format: FeatureFormat) -> Result<()> {
    match format {
        FeatureFormat::Geojson => {
            let features: Vec<_> = hits.hits.iter().map(|h| hits.feature_json(h)).collect();
            print(&serde_json::to_string(&json!({
                "type": "FeatureCollection",
                "numberMatched": hits.matched,
                "numberReturned": hits.hits.len(),
                "features": features,
            }))?)
        }
        FeatureFormat::Table => {
            eprintln!("{} of {} matching features", hits.hits.len(), hits.matched);
            print(&table(hits).to_string())
        }
    }
}

/// `onemap identify`.
pub fn identify(results: &[LayerHits], format: FeatureFormat) -> Result<()> {
    match format {
        FeatureFormat::Geojson => {
            let mut features = Vec::new();
            for r in results {
                for h in &r.hits {
                    let mut f = r.feature_json(h);
                    f["properties"]["_layer"] = json!(r.layer.meta.name);
                    features.push(f);
                }
            }
            print(&serde_json::to_string(
                &json!({"type": "FeatureCollection", "features": features}),
            )?)
        }
        FeatureFormat::Table => {
            if results.is_empty() {
                eprintln!("nothing here");
            }
            for r in results {
                print(&format!(
                    "{} ({}):\n{}",
                    r.layer.meta.name,
                    r.layer.meta.kind,
                    table(r)
                ))?;
            }
            Ok(())
        }
    }
}
