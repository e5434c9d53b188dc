//! Outputs of an approval check for people and maps: a GeoJSON FeatureCollection of the site, the
//! conflicts and the parcels taken, and a printable Chinese HTML report with an SVG map.
use geo::{CoordsIter, Geometry};
use serde_json::{Value as Json, json};

use super::approval::ApprovalReport;
use super::{M2_PER_MU, Status, geometry_json};

/// The site, every feature of a rule that did not pass, and the parcels taken, as GeoJSON.
/// Properties: `role` (site / conflict / parcel), `rule`, `status`, measured quantities and the
/// feature's key attributes.
pub fn conflicts_geojson(r: &ApprovalReport) -> Json {
    let mut features = vec![json!({
        "type": "Feature",
        "geometry": geometry_json(&r.site.geometry),
        "properties": {
            "role": "site",
            "name": r.proposal.name,
            "area_m2": r.site.area_m2,
            "conclusion": r.conclusion,
        }
    })];
    for rule in r.results.iter().filter(|x| x.status > Status::Skipped) {
        for f in &rule.features {
            let mut props = serde_json::Map::new();
            props.insert("role".into(), json!("conflict"));
            props.insert("rule".into(), json!(rule.id));
            props.insert("rule_name".into(), json!(rule.name));
            props.insert("layer".into(), json!(rule.layer));
            props.insert("fid".into(), json!(f.fid));
            props.insert("status".into(), json!(f.status));
            if let Ok(Json::Object(m)) = serde_json::to_value(&f.measured) {
                props.extend(m);
            }
            if let Some(n) = &f.note {
                props.insert("note".into(), json!(n));
            }
            for (k, v) in &f.attributes {
                props.entry(k.clone()).or_insert_with(|| v.clone());
            }
            features.push(json!({
                "type": "Feature",
                "geometry": geometry_json(&f.geometry),
                "properties": props,
            }));
        }
    }
    for p in &r.parcels {
        let mut props = serde_json::Map::new();
        props.insert("role".into(), json!("parcel"));
        props.insert("layer".into(), json!(p.layer));
        props.insert("fid".into(), json!(p.fid));
        props.insert("taken_m2".into(), json!(p.taken_m2));
        props.insert("share_of_parcel".into(), json!(p.share_of_parcel));
        for (k, v) in &p.attributes {
            props.entry(k.clone()).or_insert_with(|| v.clone());
        }
        features.push(json!({
            "type": "Feature",
            "geometry": geometry_json(&p.geometry),
            "properties": props,
        }));
    }
    json!({ "type": "FeatureCollection", "features": features })
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn status_colour(s: Status) -> &'static str {
    match s {
        Status::NotGiven => "#888888",
        Status::Pass => "#2e9e44",
        Status::Skipped => "#888888",
        Status::Review => "#e67e22",
        Status::Fail => "#e3001b",
    }
}

/// An SVG map of the site (red line), the parcels taken (thin brown) and the conflicts (filled by
/// status), in a local equirectangular frame scaled to `width`.
pub fn site_svg(r: &ApprovalReport, width: f64) -> String {
    let [minx, miny, maxx, maxy] = r.site.bbox;
    let lat = (miny + maxy) / 2.0;
    let kx = lat.to_radians().cos();
    let (w0, h0) = (((maxx - minx) * kx).max(1e-9), (maxy - miny).max(1e-9));
    let pad = 0.15;
    let (vx, vy) = (minx * kx - w0 * pad, maxy + h0 * pad);
    let (vw, vh) = (w0 * (1.0 + 2.0 * pad), h0 * (1.0 + 2.0 * pad));
    let scale = width / vw;
    let height = (vh * scale).max(80.0);
    let pt = |x: f64, y: f64| ((x * kx - vx) * scale, (vy - y) * scale);
    let path = |g: &Geometry<f64>| -> String {
        let mut d = String::new();
        let mut ring = |coords: &mut dyn Iterator<Item = geo::Coord<f64>>, close: bool| {
            for (n, c) in coords.enumerate() {
                let (x, y) = pt(c.x, c.y);
                d.push_str(&format!("{}{x:.1},{y:.1} ", if n == 0 { "M" } else { "L" }));
            }
            if close {
                d.push('Z');
            }
        };
        match g {
            Geometry::Polygon(p) => {
                for l in std::iter::once(p.exterior()).chain(p.interiors()) {
                    ring(&mut l.coords().copied(), true);
                }
            }
            Geometry::MultiPolygon(mp) => {
                for p in &mp.0 {
                    for l in std::iter::once(p.exterior()).chain(p.interiors()) {
                        ring(&mut l.coords().copied(), true);
                    }
                }
            }
            Geometry::LineString(l) => ring(&mut l.coords().copied(), false),
            Geometry::MultiLineString(ml) => {
                for l in &ml.0 {
                    ring(&mut l.coords().copied(), false);
                }
            }
            other => {
                for c in other.coords_iter() {
                    let (x, y) = pt(c.x, c.y);
                    d.push_str(&format!("M{:.1},{y:.1} L{:.1},{y:.1} ", x - 2.0, x + 2.0));
                }
            }
        }
        d
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"用地位置示意图\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fbfbf8\"/>"
    );
    for p in &r.parcels {
        s.push_str(&format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"#8a5a00\" stroke-width=\"0.8\"/>",
            path(&p.geometry)
        ));
    }
    for rule in &r.results {
        for f in &rule.features {
            let c = status_colour(f.status);
            let line = matches!(
                f.geometry,
                Geometry::LineString(_) | Geometry::MultiLineString(_)
            );
            s.push_str(&format!(
                "<path d=\"{}\" fill=\"{}\" fill-opacity=\"0.45\" stroke=\"{c}\" stroke-width=\"{}\"><title>{}</title></path>",
                path(&f.geometry),
                if line { "none" } else { c },
                if line { 2.5 } else { 1.0 },
                esc(&rule.name)
            ));
        }
    }
    s.push_str(&format!(
        "<path d=\"{}\" fill=\"none\" stroke=\"#e3001b\" stroke-width=\"2.5\" stroke-dasharray=\"8 4\"/>",
        path(&r.site.geometry)
    ));
    s.push_str("</svg>");
    s
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map(|x| format!("{x:.2}{unit}")).unwrap_or_default()
}

/// A printable report in Chinese: conclusion, site, proposal, per-rule table, features involved,
/// parcels taken, an SVG map and the audit facts (input hash, rules version, layer versions).
pub fn approval_html(r: &ApprovalReport) -> String {
    let mut h = String::new();
    let title = r
        .proposal
        .name
        .as_deref()
        .map(|n| format!("{}（{}）", esc(n), "合规性审查报告"))
        .unwrap_or_else(|| "建设项目合规性审查报告".into());
    h.push_str(&format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;width:100%;margin:0.8em 0}}td,th{{border:1px solid #bbb;padding:4px 6px;font-size:13px;text-align:left}}\
         th{{background:#f0f0f0}}.s{{font-weight:bold}}.pass{{color:#2e9e44}}.fail{{color:#e3001b}}.review{{color:#e67e22}}.skipped{{color:#888}}\
         .verdict{{font-size:1.4em;padding:0.5em;border:2px solid;display:inline-block}}@media print{{body{{margin:1cm}}}}\
         </style></head><body><h1>{title}</h1>"
    ));
    h.push_str(&format!(
        "<p class=\"verdict {}\">审查结论：{}</p>",
        r.conclusion.as_str(),
        esc(&r.conclusion_zh)
    ));
    h.push_str("<h2>一、用地概况</h2><table>");
    h.push_str(&format!(
        "<tr><th>用地面积</th><td>{:.2} m²（{:.2} 亩，{:.4} 公顷）</td></tr>",
        r.site.area_m2, r.site.area_mu, r.site.area_ha
    ));
    h.push_str(&format!(
        "<tr><th>范围</th><td>{:.6}, {:.6} — {:.6}, {:.6}（CGCS2000 经纬度）</td></tr>",
        r.site.bbox[0], r.site.bbox[1], r.site.bbox[2], r.site.bbox[3]
    ));
    let p = &r.proposal;
    h.push_str(&format!(
        "<tr><th>拟建用途</th><td>{}</td></tr><tr><th>容积率 / 建筑密度 / 高度 / 绿地率</th><td>{} / {} / {} / {}</td></tr>",
        esc(p.use_code.as_deref().unwrap_or("未提供")),
        fmt_opt(p.far, ""),
        fmt_opt(p.density, ""),
        fmt_opt(p.height_m, " m"),
        fmt_opt(p.green_ratio, "")
    ));
    h.push_str(&format!(
        "<tr><th>面积算法</th><td>{}</td></tr></table>",
        if r.area_method == "geodesic" {
            "CGCS2000 椭球面积".to_string()
        } else {
            esc(&r.area_method)
        }
    ));
    h.push_str(&site_svg(r, 640.0));
    h.push_str("<h2>二、审查结果</h2><table><tr><th>规则</th><th>结果</th><th>说明</th><th>面积 m²</th><th>占比</th><th>距离 m</th><th>依据</th></tr>");
    for x in &r.results {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"s {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&x.name),
            x.status.as_str(),
            x.status.zh(),
            esc(&x.message),
            fmt_opt(x.measured.area_m2, ""),
            x.measured.share.map(|s| format!("{:.2}%", s * 100.0)).unwrap_or_default(),
            fmt_opt(x.measured.distance_m, ""),
            esc(x.basis.as_deref().unwrap_or(""))
        ));
    }
    h.push_str("</table><h2>三、涉及要素</h2><table><tr><th>规则</th><th>图层 / 要素</th><th>属性</th><th>面积 m²</th><th>距离 m</th><th>说明</th></tr>");
    for x in &r.results {
        for f in &x.features {
            let attrs: Vec<String> = f
                .attributes
                .iter()
                .map(|(k, v)| format!("{}={}", esc(k), esc(v.to_string().trim_matches('"'))))
                .collect();
            h.push_str(&format!(
                "<tr><td>{}</td><td>{} #{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.name),
                esc(&x.layer),
                f.fid,
                attrs.join("；"),
                fmt_opt(f.measured.area_m2, ""),
                fmt_opt(f.measured.distance_m, ""),
                esc(f.note.as_deref().unwrap_or(""))
            ));
        }
    }
    h.push_str(&format!(
        "</table><h2>四、涉及宗地（征收）</h2><p>共 {} 宗，占用面积 {:.2} m²（{:.2} 亩）</p><table><tr><th>图层 #要素</th><th>属性</th><th>宗地面积 m²</th><th>占用 m²</th><th>占宗地比例</th></tr>",
        r.parcels.len(),
        r.parcels_taken_m2,
        r.parcels_taken_m2 / M2_PER_MU
    ));
    for p in &r.parcels {
        let attrs: Vec<String> = p
            .attributes
            .iter()
            .map(|(k, v)| format!("{}={}", esc(k), esc(v.to_string().trim_matches('"'))))
            .collect();
        h.push_str(&format!(
            "<tr><td>{} #{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}%</td></tr>",
            esc(&p.layer),
            p.fid,
            attrs.join("；"),
            p.parcel_area_m2,
            p.taken_m2,
            p.share_of_parcel * 100.0
        ));
    }
    h.push_str("</table><h2>五、审查记录（全过程留痕）</h2><table>");
    let versions: Vec<String> = r
        .layer_versions
        .iter()
        .map(|(k, v)| format!("{} v{v}", esc(k)))
        .collect();
    for (k, v) in [
        ("审查时间", esc(&r.generated_at)),
        (
            "记录编号",
            r.run_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "未记录".into()),
        ),
        (
            "规则",
            format!("{} {}", esc(&r.rules_name), esc(&r.rules_version)),
        ),
        ("规则摘要 (SHA-256)", esc(&r.rules_digest)),
        ("输入摘要 (SHA-256)", esc(&r.input_hash)),
        ("图层版本", versions.join("，")),
        ("审查人", esc(r.caller.as_deref().unwrap_or("匿名"))),
    ] {
        h.push_str(&format!("<tr><th>{k}</th><td>{v}</td></tr>"));
    }
    h.push_str("</table></body></html>\n");
    h
}
