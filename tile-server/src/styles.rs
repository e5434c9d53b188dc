//! MapLibre GL styles, one per layer kind, made from the colour tables in `styles/`:
//! land use and planning by 用地用海 code (2023 classification, colours of the 市级国土空间总体规划
//! 制图规范), pipelines by CJJ 61-2017 kind code, heritage zones, control lines (三区三线), change
//! patches by status, approvals and cadastral parcels.
//!
//! `GET /styles/{layer}.json` styles one layer; `GET /styles/onemap.json` every layer the caller may
//! read, over one composite source. Each style layer carries `metadata."onemap:legend"` (label and
//! colour pairs) for a legend.
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use onemap_engine::model::GeometryType;
use onemap_engine::{LayerKind, LayerMeta};
use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::http::Who;
use crate::state::AppState;
use crate::tiles::{self, encode_segment};

const LANDUSE_CSV: &str = include_str!("../../styles/landuse-2023.csv");
const PIPELINES_CSV: &str = include_str!("../../styles/pipelines.csv");
const THEMES_JSON: &str = include_str!("../../styles/themes.json");

/// The composite style's name.
pub const ALL: &str = "onemap";

fn hex(rgb: &str) -> Option<String> {
    let parts: Vec<u8> = rgb
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    (parts.len() == 3).then(|| format!("#{:02x}{:02x}{:02x}", parts[0], parts[1], parts[2]))
}

/// (code, name, colour) rows of a `code,name,rgb` table; a row without a colour inherits the
/// colour of the code it extends (`0701` from `07`).
fn table(csv: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in csv.lines().skip(1) {
        let mut f = line.splitn(3, ',');
        let (Some(code), Some(name), Some(rgb)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let colour = hex(rgb).or_else(|| {
            out.iter()
                .filter(|(c, _, _)| code.starts_with(c.as_str()) && c.len() < code.len())
                .max_by_key(|(c, _, _)| c.len())
                .map(|(_, _, col)| col.clone())
        });
        if let Some(colour) = colour {
            out.push((code.to_string(), name.to_string(), colour));
        }
    }
    out
}

fn themes() -> Json {
    serde_json::from_str(THEMES_JSON).unwrap_or(Json::Null)
}

fn theme_colour(themes: &Json, key: &str, fallback: &str) -> String {
    themes[key].as_str().unwrap_or(fallback).to_string()
}

fn code_expr(field: &str) -> Json {
    json!(["to-string", ["get", field]])
}

/// Colour by land-use code: the 4-character class if listed, else its 2-character parent.
fn landuse_colour(field: &str, unknown: &str) -> (Json, Vec<Json>) {
    let rows = table(LANDUSE_CSV);
    let mut level2 = vec![json!("match"), json!(["slice", code_expr(field), 0, 4])];
    let mut level1 = vec![json!("match"), json!(["slice", code_expr(field), 0, 2])];
    let mut legend = Vec::new();
    for (code, name, colour) in &rows {
        match code.len() {
            4 => {
                level2.push(json!(code));
                level2.push(json!(colour));
            }
            2 => {
                level1.push(json!(code));
                level1.push(json!(colour));
                legend.push(json!({ "label": format!("{code} {name}"), "color": colour }));
            }
            _ => {}
        }
    }
    level1.push(json!(unknown));
    level2.push(Json::Array(level1));
    (Json::Array(level2), legend)
}

fn match_colour(field: &str, table: &[(String, String)], fallback: &str) -> (Json, Vec<Json>) {
    let mut m = vec![json!("match"), json!(["to-string", ["get", field]])];
    let mut legend = Vec::new();
    for (label, colour) in table {
        m.push(json!(label));
        m.push(json!(colour));
        legend.push(json!({ "label": label, "color": colour }));
    }
    m.push(json!(fallback));
    legend.push(json!({ "label": "其他 other", "color": fallback }));
    (Json::Array(m), legend)
}

fn theme_table(themes: &Json, kind: &str) -> (Vec<(String, String)>, String) {
    let mut rows = Vec::new();
    let mut fallback = "#888888".to_string();
    if let Some(o) = themes[kind].as_object() {
        for (k, v) in o {
            let c = v.as_str().unwrap_or("#888888").to_string();
            if k == "default" {
                fallback = c;
            } else {
                rows.push((k.clone(), c));
            }
        }
    }
    (rows, fallback)
}

/// Colour expression and legend for a layer.
fn colour_of(meta: &LayerMeta, themes: &Json) -> (Json, Vec<Json>) {
    let field = meta.kind.style_field(&meta.schema).map(str::to_string);
    let unknown = theme_colour(themes, "unknown_land_use", "#c8c8c8");
    match (meta.kind, field) {
        (LayerKind::Planning | LayerKind::Landuse, Some(f)) => landuse_colour(&f, &unknown),
        (LayerKind::Pipeline, Some(f)) => {
            let rows: Vec<(String, String)> = table(PIPELINES_CSV)
                .into_iter()
                .map(|(c, _, col)| (c, col))
                .collect();
            let mut m = vec![
                json!("match"),
                json!(["upcase", ["slice", code_expr(&f), 0, 2]]),
            ];
            let mut legend = Vec::new();
            for ((code, colour), (_, name, _)) in rows.iter().zip(table(PIPELINES_CSV)) {
                m.push(json!(code));
                m.push(json!(colour));
                legend.push(json!({ "label": format!("{code} {name}"), "color": colour }));
            }
            m.push(json!("#666666"));
            (Json::Array(m), legend)
        }
        (k @ (LayerKind::Heritage | LayerKind::ControlLine | LayerKind::ChangePatch), Some(f)) => {
            let (rows, fallback) = theme_table(themes, k.as_str());
            match_colour(&f, &rows, &fallback)
        }
        (LayerKind::Generic, Some(f)) => {
            let (rows, fallback) = theme_table(themes, "conformance");
            match_colour(&f, &rows, &fallback)
        }
        (k, _) => {
            let c = match k {
                LayerKind::Approval => theme_colour(themes, "approval", "#d4145a"),
                LayerKind::Cadastral => theme_colour(themes, "cadastral", "#8a5a00"),
                LayerKind::Heritage | LayerKind::ControlLine | LayerKind::ChangePatch => {
                    theme_table(themes, k.as_str()).1
                }
                _ => theme_colour(themes, "generic", "#3c6e9f"),
            };
            let legend = vec![json!({ "label": meta.name, "color": c })];
            (json!(c), legend)
        }
    }
}

/// The style layers for one source layer.
pub fn style_layers(meta: &LayerMeta, source: &str) -> Vec<Json> {
    let themes = themes();
    let (colour, legend) = colour_of(meta, &themes);
    let name = &meta.name;
    let meta_json =
        json!({ "onemap:layer": name, "onemap:kind": meta.kind, "onemap:legend": legend });
    let (fill_opacity, line_colour, dashed) = match meta.kind {
        LayerKind::Planning | LayerKind::Landuse => (0.75, json!("#5c5c5c"), false),
        LayerKind::Cadastral => (0.08, colour.clone(), false),
        LayerKind::Heritage => (0.3, colour.clone(), true),
        LayerKind::Approval => (0.1, colour.clone(), true),
        LayerKind::ControlLine => (0.2, colour.clone(), false),
        LayerKind::ChangePatch => (0.45, colour.clone(), false),
        LayerKind::Pipeline | LayerKind::Generic => (0.4, colour.clone(), false),
    };
    let gt = meta.geometry_type;
    let wants = |g: GeometryType| gt == g || gt == GeometryType::Mixed;
    let mut layers = Vec::new();
    if wants(GeometryType::Polygon) {
        layers.push(json!({
            "id": format!("{name}-fill"),
            "type": "fill",
            "source": source,
            "source-layer": name,
            "filter": ["==", ["geometry-type"], "Polygon"],
            "metadata": meta_json,
            "paint": { "fill-color": colour, "fill-opacity": fill_opacity },
        }));
        let mut outline = json!({
            "id": format!("{name}-outline"),
            "type": "line",
            "source": source,
            "source-layer": name,
            "filter": ["==", ["geometry-type"], "Polygon"],
            "metadata": meta_json,
            "paint": {
                "line-color": line_colour,
                "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.3, 16, 1.5],
            },
        });
        if matches!(
            meta.kind,
            LayerKind::Planning | LayerKind::Landuse | LayerKind::Cadastral
        ) {
            outline["minzoom"] = json!(13);
        }
        if dashed {
            outline["paint"]["line-dasharray"] = json!([3, 2]);
            outline["paint"]["line-width"] = json!(2);
        }
        layers.push(outline);
    }
    if wants(GeometryType::Line) {
        let mut line = json!({
            "id": format!("{name}-line"),
            "type": "line",
            "source": source,
            "source-layer": name,
            "filter": ["==", ["geometry-type"], "LineString"],
            "metadata": meta_json,
            "layout": { "line-cap": "round", "line-join": "round" },
            "paint": {
                "line-color": colour,
                "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.8, 16, 3],
            },
        });
        if dashed {
            line["paint"]["line-dasharray"] = json!([3, 2]);
        }
        layers.push(line);
    }
    if wants(GeometryType::Point) {
        layers.push(json!({
            "id": format!("{name}-circle"),
            "type": "circle",
            "source": source,
            "source-layer": name,
            "filter": ["==", ["geometry-type"], "Point"],
            "metadata": meta_json,
            "paint": {
                "circle-color": colour,
                "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 2, 16, 6],
                "circle-stroke-color": "#ffffff",
                "circle-stroke-width": 1,
            },
        }));
    }
    layers
}

/// Drawing order: areas first, then lines, then points; within that, by kind.
fn draw_rank(meta: &LayerMeta) -> (u8, u8) {
    let kind_rank = match meta.kind {
        LayerKind::Planning => 0,
        LayerKind::Landuse => 1,
        LayerKind::Cadastral => 2,
        LayerKind::ControlLine => 3,
        LayerKind::Heritage => 4,
        LayerKind::Approval => 5,
        LayerKind::ChangePatch => 6,
        LayerKind::Generic => 7,
        LayerKind::Pipeline => 8,
    };
    let geom_rank = match meta.geometry_type {
        GeometryType::Polygon | GeometryType::Mixed | GeometryType::Empty => 0,
        GeometryType::Line => 1,
        GeometryType::Point => 2,
    };
    (geom_rank, kind_rank)
}

/// A complete style over `metas` (drawn in a sensible order), with one vector source at
/// `tilejson_url`.
pub fn style(name: &str, metas: &[LayerMeta], tilejson_url: &str) -> Json {
    let mut ordered: Vec<&LayerMeta> = metas.iter().collect();
    ordered.sort_by_key(|m| draw_rank(m));
    let mut layers = vec![json!({
        "id": "background",
        "type": "background",
        "paint": { "background-color": "#f4f1ea" },
    })];
    for m in &ordered {
        layers.extend(style_layers(m, "onemap"));
    }
    let bounds = tiles::union_bounds(metas);
    let mut doc = json!({
        "version": 8,
        "name": name,
        "sources": { "onemap": { "type": "vector", "url": tilejson_url } },
        "layers": layers,
        "metadata": { "onemap:layers": ordered.iter().map(|m| &m.name).collect::<Vec<_>>() },
    });
    if let Some(b) = bounds {
        let span = (b[2] - b[0]).max(b[3] - b[1]).max(1e-9);
        doc["center"] = json!([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]);
        doc["zoom"] = json!(((360.0 / span).log2().floor() + 1.0).clamp(0.0, 18.0));
    }
    doc
}

/// `GET /styles/{name}.json`: a layer's style, or `onemap.json` for every readable layer.
#[utoipa::path(get, path = "/styles/{name}.json", tag = "Tiles",
    params(("name" = String, Path, description = "A layer name, or onemap for every readable layer")),
    responses((status = 200, description = "MapLibre GL style"), (status = 404, description = "Unknown layer", body = crate::error::ErrorBody)))]
pub async fn style_route(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(file) = path.map_err(|e| ApiError::bad_request("bad_path", e.to_string()))?;
    let Some(name) = file.strip_suffix(".json") else {
        return Err(ApiError::not_found(format!(
            "no such style '{file}': styles are at /styles/{{layer}}.json and /styles/{ALL}.json"
        )));
    };
    let caller = who.caller.clone();
    let base = tiles::base_url(&st, &headers);
    // Styles see only the fields the caller may see.
    let metas: Vec<LayerMeta> = if name == ALL {
        let engine = st.engine.clone();
        let c = caller.clone();
        tokio::task::spawn_blocking(move || engine.catalog_for(&c)).await??
    } else {
        let names = vec![name.to_string()];
        let r = tiles::resolve(&st, &caller, &names).await?;
        r.layers
            .iter()
            .zip(&r.visible)
            .map(|(l, v)| l.meta.clone().with_fields(v))
            .collect()
    };
    let spec: Vec<&str> = metas.iter().map(|m| m.name.as_str()).collect();
    if spec.is_empty() {
        return Err(ApiError::not_found(
            "no layers to style: import a layer first",
        ));
    }
    let url = format!("{base}/tiles/{}.json", encode_segment(&spec.join(",")));
    let doc = style(name, &metas, &url);
    Ok(([(header::CACHE_CONTROL, "no-cache")], axum::Json(doc)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_tables_inherit_parent_colours() {
        let rows = table(LANDUSE_CSV);
        let find = |c: &str| rows.iter().find(|r| r.0 == c).map(|r| r.2.clone());
        assert_eq!(find("07"), Some("#ffff2d".into()));
        assert_eq!(find("0703"), Some("#ffd380".into()));
        // 0702 has no colour of its own: it takes 07's.
        assert_eq!(find("0702"), Some("#ffff2d".into()));
        assert_eq!(find("23"), None, "no colour anywhere: not listed");
        let pipes = table(PIPELINES_CSV);
        assert_eq!(
            pipes.iter().find(|r| r.0 == "RQ").map(|r| r.2.as_str()),
            Some("#ff00ff")
        );
    }
}
