//! Analytics on hand-built layers with known answers, under the shipped rules
//! (rules/default.toml): a red line half on basic farmland, a building 0.5 m from a medium-pressure
//! gas main, zoning and indicators, parcels taken (with owners redacted by role), violation
//! classes at the tolerance edges, the land-use check's pieces, and the audit trail.

use geo::{Geometry, LineString, polygon};
use geographiclib_rs::{DirectGeodesic, Geodesic, PolygonArea, Winding};
use onemap_engine::analytics::approval::{self, ApprovalInput, ApprovalReport, Proposal};
use onemap_engine::analytics::violations::{self, PatchClass};
use onemap_engine::analytics::{Rules, Site, Status, landuse};
use onemap_engine::crs::Crs;
use onemap_engine::geometry::AreaMethod;
use onemap_engine::model::{Feature, Field, FieldType, LayerKind, NewLayer, Schema, Value};
use onemap_engine::store::RunRecord;
use onemap_engine::{Caller, Engine, Policy, Store};

fn grs80() -> Geodesic {
    Geodesic::new(6_378_137.0, 1.0 / 298.257_222_101)
}

/// Geodesic area of a lon/lat ring by GeographicLib directly (the expected value).
fn area_of(ring: &[(f64, f64)]) -> f64 {
    let g = grs80();
    let mut pa = PolygonArea::new(&g, Winding::CounterClockwise);
    for (lon, lat) in ring {
        pa.add_point(*lat, *lon);
    }
    pa.compute(true).1.abs()
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Geometry<f64> {
    Geometry::Polygon(
        polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)],
    )
}

fn text(v: &str) -> Value {
    Value::Text(v.into())
}

fn write(
    engine: &Engine,
    name: &str,
    kind: LayerKind,
    fields: &[(&str, FieldType)],
    rows: Vec<(Geometry<f64>, Vec<Value>)>,
) {
    let schema = Schema::new(fields.iter().map(|(n, t)| Field::new(*n, *t)).collect()).unwrap();
    engine
        .write_layer(
            &Caller::operator(),
            "import",
            NewLayer {
                name: name.into(),
                kind,
                schema,
                source_crs: "EPSG:4490".into(),
                source: "test".into(),
            },
            rows.into_iter()
                .map(|(g, p)| Ok::<_, std::io::Error>(Feature::new(g, p))),
            |_| {},
        )
        .unwrap();
}

/// A store with the layers the shipped rules name.
fn city() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("a.duckdb")).unwrap();
    let engine = Engine::new(store).with_policy(Policy::city_default());
    let t = FieldType::Text;
    write(
        &engine,
        "control_lines",
        LayerKind::ControlLine,
        &[("line_type", t), ("name", t), ("code", t)],
        vec![
            (
                rect(113.0, 34.0, 113.01, 34.01),
                vec![text("永久基本农田"), text("测试农田"), text("JBNT-T")],
            ),
            (
                rect(112.99, 33.99, 113.03, 34.02),
                vec![text("城镇开发边界"), text("测试边界"), text("KFBJ-T")],
            ),
        ],
    );
    write(
        &engine,
        "heritage",
        LayerKind::Heritage,
        &[("zone_type", t), ("site_name", t), ("protection_level", t)],
        vec![(
            rect(113.05, 34.0, 113.06, 34.01),
            vec![text("保护范围"), text("测试遗址"), text("省级")],
        )],
    );
    let f = FieldType::Float;
    write(
        &engine,
        "planning",
        LayerKind::Planning,
        &[
            ("zone_id", t),
            ("land_use_code", t),
            ("far_max", f),
            ("density_max", f),
            ("height_max_m", f),
            ("green_min", f),
        ],
        vec![
            (
                rect(113.0, 33.99, 113.02, 34.005),
                vec![
                    text("Z1"),
                    text("0901"),
                    Value::Float(2.0),
                    Value::Float(0.4),
                    Value::Float(50.0),
                    Value::Float(0.3),
                ],
            ),
            (
                rect(113.0, 34.005, 113.02, 34.02),
                vec![
                    text("Z2"),
                    text("0701"),
                    Value::Float(2.5),
                    Value::Float(0.3),
                    Value::Float(60.0),
                    Value::Float(0.3),
                ],
            ),
        ],
    );
    (dir, engine)
}

fn check(
    engine: &Engine,
    caller: &Caller,
    site: &Geometry<f64>,
    proposal: Proposal,
) -> ApprovalReport {
    let rules = Rules::default_rules().unwrap();
    let site = Site::new(site, false, &AreaMethod::Geodesic).unwrap();
    approval::check(
        &ApprovalInput {
            engine,
            caller,
            rules: &rules,
            proposal: &proposal,
            method: AreaMethod::Geodesic,
        },
        &site,
    )
    .unwrap()
}

fn rule<'a>(r: &'a ApprovalReport, id: &str) -> &'a approval::RuleResult {
    r.results.iter().find(|x| x.id == id).unwrap()
}

#[test]
fn red_line_half_on_basic_farmland() {
    let (_d, engine) = city();
    let site = rect(113.005, 34.002, 113.015, 34.004);
    let r = check(&engine, &Caller::operator(), &site, Proposal::default());
    let farm = rule(&r, "basic_farmland");
    assert_eq!(farm.status, Status::Fail);
    let expected = area_of(&[
        (113.005, 34.002),
        (113.01, 34.002),
        (113.01, 34.004),
        (113.005, 34.004),
    ]);
    let site_area = area_of(&[
        (113.005, 34.002),
        (113.015, 34.002),
        (113.015, 34.004),
        (113.005, 34.004),
    ]);
    let got = farm.measured.area_m2.unwrap();
    assert!(
        (got - expected).abs() / expected < 1e-7,
        "{got} vs {expected}"
    );
    assert!((r.site.area_m2 - site_area).abs() / site_area < 1e-7);
    let share = farm.measured.share.unwrap();
    assert!(
        (share - expected / site_area).abs() < 1e-7 && (share - 0.5).abs() < 1e-4,
        "{share}"
    );
    assert_eq!(farm.features.len(), 1);
    assert_eq!(farm.features[0].attributes["code"], "JBNT-T");
    // The rest passes or is not asked: inside the boundary, no heritage, no pipelines layer.
    assert_eq!(rule(&r, "development_boundary").status, Status::Pass);
    assert_eq!(rule(&r, "heritage_protection").status, Status::Pass);
    assert_eq!(rule(&r, "pipeline_clearance").status, Status::Skipped);
    assert_eq!(
        rule(&r, "zoning").status,
        Status::NotGiven,
        "no proposed use given"
    );
    assert_eq!(r.conclusion, Status::Fail);
    // Planar Gauss–Krüger (CGCS2000 3° zone CM 114°E) on request: within 0.1% of the geodesic
    // figure so close to the central meridian.
    let planar = AreaMethod::Planar(Crs::parse("EPSG:4547").unwrap());
    let rules = Rules::default_rules().unwrap();
    let s = Site::new(&site, false, &planar).unwrap();
    let p = approval::check(
        &ApprovalInput {
            engine: &engine,
            caller: &Caller::operator(),
            rules: &rules,
            proposal: &Proposal::default(),
            method: planar,
        },
        &s,
    )
    .unwrap();
    let pa = rule(&p, "basic_farmland").measured.area_m2.unwrap();
    assert!(
        (pa - expected).abs() / expected < 1e-3 && pa != expected,
        "{pa} vs {expected}"
    );
    assert!(p.area_method.starts_with("planar"));
}

#[test]
fn building_half_a_metre_from_a_medium_pressure_gas_main() {
    let (_d, engine) = city();
    let g = grs80();
    let (lat, line_lon) = (34.004, 113.008);
    // The building's east edge is 0.5 m west of the gas main (a meridian).
    let (_, east): (f64, f64) = g.direct(lat, line_lon, 270.0, 0.5);
    let (west, north) = (east - 0.0004, lat + 0.0003);
    let building = rect(west, lat, east, north);
    // A power cable 0.8 m west of the west edge (clearance 0.6 m: fine), a DN300 water main 2 m
    // north of the north edge (clearance 3.0 m: too close).
    let (_, power_lon): (f64, f64) = g.direct(lat, west, 270.0, 0.8);
    let (water_lat, _): (f64, f64) = g.direct(north, west, 0.0, 2.0);
    let line = |c: Vec<(f64, f64)>| Geometry::LineString(LineString::from(c));
    let t = FieldType::Text;
    write(
        &engine,
        "pipelines",
        LayerKind::Pipeline,
        &[
            ("pipe_id", t),
            ("pipe_kind", t),
            ("diameter_mm", FieldType::Float),
            ("pressure", t),
        ],
        vec![
            (
                line(vec![(line_lon, 34.003), (line_lon, 34.006)]),
                vec![text("RQ1"), text("RQ"), Value::Float(200.0), text("中压B")],
            ),
            (
                line(vec![(power_lon, 34.003), (power_lon, 34.006)]),
                vec![text("DL1"), text("DL"), Value::Null, text("10kV")],
            ),
            (
                line(vec![(west - 0.0005, water_lat), (east + 0.0005, water_lat)]),
                vec![text("JS1"), text("JS"), Value::Float(300.0), Value::Null],
            ),
        ],
    );
    let r = check(&engine, &Caller::operator(), &building, Proposal::default());
    let c = rule(&r, "pipeline_clearance");
    assert_eq!(c.status, Status::Fail);
    let by_id = |id: &str| c.features.iter().find(|f| f.attributes["pipe_id"] == id);
    let gas = by_id("RQ1").expect("the gas main is too close");
    let d = gas.measured.distance_m.unwrap();
    assert!((d - 0.5).abs() < 0.001, "distance {d}");
    assert_eq!(gas.measured.required_m, Some(1.0));
    let water = by_id("JS1").expect("the DN300 water main is too close");
    assert!((water.measured.distance_m.unwrap() - 2.0).abs() < 0.005);
    assert_eq!(water.measured.required_m, Some(3.0));
    assert!(by_id("DL1").is_none(), "0.8 m from a power cable is enough");
    assert!((c.measured.distance_m.unwrap() - 0.5).abs() < 0.001);
    assert!(c.message.contains("0.50"), "{}", c.message);
}

#[test]
fn zoning_and_indicators_against_the_plan() {
    let (_d, engine) = city();
    // Straddles zones Z1 (0901, FAR ≤ 2.0) and Z2 (0701, FAR ≤ 2.5) at lat 34.005.
    let site = rect(113.011, 34.004, 113.013, 34.006);
    let proposal = Proposal {
        use_code: Some("0701".into()),
        far: Some(2.2),
        green_ratio: Some(0.35),
        ..Proposal::default()
    };
    let r = check(&engine, &Caller::operator(), &site, proposal);
    let z = rule(&r, "zoning");
    assert_eq!(z.status, Status::Fail);
    let z1 = area_of(&[
        (113.011, 34.004),
        (113.013, 34.004),
        (113.013, 34.005),
        (113.011, 34.005),
    ]);
    let bad = z.measured.area_m2.unwrap();
    assert!((bad - z1).abs() / z1 < 1e-7, "{bad} vs {z1}");
    assert_eq!(z.features.len(), 1);
    assert_eq!(z.features[0].attributes["zone_id"], "Z1");
    let i = rule(&r, "indicators");
    assert_eq!(i.status, Status::Fail);
    assert_eq!(i.features.len(), 1, "only Z1's FAR limit is exceeded");
    assert!(i.message.contains("容积率 2.2 > 上限 2"), "{}", i.message);
    // A conforming use within the limits passes both where only Z2 is touched.
    let r = check(
        &engine,
        &Caller::operator(),
        &rect(113.011, 34.006, 113.013, 34.008),
        Proposal {
            use_code: Some("0701".into()),
            far: Some(2.2),
            ..Proposal::default()
        },
    );
    assert_eq!(rule(&r, "zoning").status, Status::Pass);
    assert_eq!(rule(&r, "indicators").status, Status::Pass);
    // Density and height over Z2's limits (0.3, 60 m) fail, naming both; within them, pass.
    let over = check(
        &engine,
        &Caller::operator(),
        &rect(113.011, 34.006, 113.013, 34.008),
        Proposal {
            use_code: Some("0701".into()),
            density: Some(0.45),
            height_m: Some(80.0),
            ..Proposal::default()
        },
    );
    let i = rule(&over, "indicators");
    assert_eq!(i.status, Status::Fail);
    assert!(
        i.message.contains("建筑密度 0.45 > 上限 0.3")
            && i.message.contains("建筑高度 80 > 上限 60"),
        "{}",
        i.message
    );
    let within = check(
        &engine,
        &Caller::operator(),
        &rect(113.011, 34.006, 113.013, 34.008),
        Proposal {
            use_code: Some("0701".into()),
            density: Some(0.25),
            height_m: Some(54.0),
            ..Proposal::default()
        },
    );
    assert_eq!(rule(&within, "indicators").status, Status::Pass);
}

#[test]
fn a_construction_control_zone_needs_review() {
    let (_d, engine) = city();
    // The heritage layer again, with a construction control zone east of the protection range.
    let t = FieldType::Text;
    write(
        &engine,
        "heritage",
        LayerKind::Heritage,
        &[("zone_type", t), ("site_name", t), ("protection_level", t)],
        vec![
            (
                rect(113.05, 34.0, 113.06, 34.01),
                vec![text("保护范围"), text("测试遗址"), text("省级")],
            ),
            (
                rect(113.06, 34.0, 113.07, 34.01),
                vec![text("建设控制地带"), text("测试遗址"), text("省级")],
            ),
        ],
    );
    let r = check(
        &engine,
        &Caller::operator(),
        &rect(113.062, 34.002, 113.064, 34.004),
        Proposal::default(),
    );
    let c = rule(&r, "heritage_control");
    assert_eq!(c.status, Status::Review, "{}", c.message);
    assert!(c.message.contains("新郑市文物局"), "{}", c.message);
    assert_eq!(rule(&r, "heritage_protection").status, Status::Pass);
}

#[test]
fn outside_the_development_boundary() {
    let (_d, engine) = city();
    // Boundary east edge at 113.03: a third of the site is outside.
    let site = rect(113.025, 34.012, 113.04, 34.013);
    let r = check(&engine, &Caller::operator(), &site, Proposal::default());
    let b = rule(&r, "development_boundary");
    assert_eq!(b.status, Status::Fail);
    let outside = area_of(&[
        (113.03, 34.012),
        (113.04, 34.012),
        (113.04, 34.013),
        (113.03, 34.013),
    ]);
    let got = b.measured.area_m2.unwrap();
    assert!(
        (got - outside).abs() / outside < 1e-7,
        "{got} vs {outside} {:?}",
        b.features[0].geometry
    );
}

#[test]
fn parcels_taken_with_owners_only_for_registration() {
    let (_d, engine) = city();
    let t = FieldType::Text;
    write(
        &engine,
        "cadastral",
        LayerKind::Cadastral,
        &[("parcel_id", t), ("owner", t)],
        vec![
            (
                rect(113.001, 34.011, 113.002, 34.012),
                vec![text("P1"), text("张三")],
            ),
            (
                rect(113.002, 34.011, 113.003, 34.012),
                vec![text("P2"), text("李四")],
            ),
            (
                rect(113.004, 34.011, 113.005, 34.012),
                vec![text("P3"), text("王五")],
            ),
        ],
    );
    let site = rect(113.0015, 34.011, 113.0025, 34.012);
    let public = check(&engine, &Caller::anonymous(), &site, Proposal::default());
    assert_eq!(public.parcels.len(), 2);
    for p in &public.parcels {
        assert!(
            !p.attributes.contains_key("owner"),
            "owner leaked: {:?}",
            p.attributes
        );
        let whole = area_of(&[
            (113.001, 34.011),
            (113.002, 34.011),
            (113.002, 34.012),
            (113.001, 34.012),
        ]);
        assert!(
            (p.share_of_parcel - 0.5).abs() < 1e-3,
            "{}",
            p.share_of_parcel
        );
        assert!((p.parcel_area_m2 - whole).abs() / whole < 1e-2);
    }
    let total = public.parcels_taken_m2;
    assert!(
        (total - public.site.area_m2).abs() / total < 1e-7,
        "the site lies on P1 and P2 only"
    );
    let html = onemap_engine::analytics::report::approval_html(&public);
    assert!(!html.contains("张三") && html.contains("P1"));
    let registrar = check(
        &engine,
        &Caller::new("li", ["registration"]),
        &site,
        Proposal::default(),
    );
    assert_eq!(registrar.parcels[0].attributes["owner"], "张三");
}

#[test]
fn a_missing_layer_skips_its_rule_and_the_report_cannot_pass() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Store::open(dir.path().join("e.duckdb")).unwrap());
    let r = check(
        &engine,
        &Caller::operator(),
        &rect(113.0, 34.0, 113.001, 34.001),
        Proposal::default(),
    );
    assert!(
        r.results.iter().all(|x| x.status == Status::Skipped),
        "{:?}",
        r.results
    );
    assert!(rule(&r, "basic_farmland").message.contains("control_lines"));
    assert_eq!(r.conclusion, Status::Skipped);
}

fn patch_fields() -> Vec<(&'static str, FieldType)> {
    vec![
        ("JCBH", FieldType::Text),
        ("XZQDM", FieldType::Text),
        ("land_class_after", FieldType::Text),
    ]
}

#[test]
fn violation_classes_at_the_edges_of_the_tolerance() {
    let (_d, engine) = city();
    let t = FieldType::Text;
    // One approval: 113.020–113.022 × 34.012–34.014 (inside the boundary, off the farmland).
    write(
        &engine,
        "approvals",
        LayerKind::Approval,
        &[("permit_no", t)],
        vec![(rect(113.020, 34.012, 113.022, 34.014), vec![text("许可1")])],
    );
    write(
        &engine,
        "landuse",
        LayerKind::Landuse,
        &[("DLBM", t)],
        vec![(rect(113.0, 34.0, 113.01, 34.01), vec![text("0103")])],
    );
    let p = |id: &str, after: &str, g| (g, vec![text(id), text("410184001"), text(after)]);
    write(
        &engine,
        "change_patches",
        LayerKind::ChangePatch,
        &patch_fields(),
        vec![
            // 4.8% outside the approval (under the 5% share tolerance).
            p("A", "0701", rect(113.0200, 34.0125, 113.0221, 34.0135)),
            // 1/3 outside.
            p("B", "0701", rect(113.0210, 34.0125, 113.0225, 34.0135)),
            // On basic farmland, construction.
            p("C", "1001", rect(113.002, 34.002, 113.003, 34.003)),
            // No approval, construction.
            p("D", "0701", rect(113.024, 34.012, 113.025, 34.013)),
            // No approval, farmland to orchard.
            p("E", "0201", rect(113.024, 34.015, 113.025, 34.016)),
            // In the heritage protection range, no approval.
            p("F", "0901", rect(113.052, 34.002, 113.053, 34.003)),
        ],
    );
    let rules = Rules::default_rules().unwrap();
    let r = violations::detect(
        &engine,
        &Caller::operator(),
        &rules,
        None,
        &AreaMethod::Geodesic,
        &|_| {},
    )
    .unwrap();
    let class = |id: &str| r.patches.iter().find(|x| x.id == id).unwrap();
    assert_eq!(
        class("A").class,
        PatchClass::Legal,
        "{:?}",
        class("A").reasons
    );
    assert_eq!(class("A").permits, vec!["许可1".to_string()]);
    let b = class("B");
    assert_eq!(b.class, PatchClass::Suspected);
    assert!(b.reasons[0].contains("超出批准红线"), "{:?}", b.reasons);
    let third = area_of(&[
        (113.022, 34.0125),
        (113.0225, 34.0125),
        (113.0225, 34.0135),
        (113.022, 34.0135),
    ]);
    assert!(
        (b.outside_approval_m2 - third).abs() / third < 1e-6,
        "{} vs {third}",
        b.outside_approval_m2
    );
    let c = class("C");
    assert_eq!(c.class, PatchClass::Suspected);
    assert!(c.reasons[0].contains("永久基本农田"));
    let farm = area_of(&[
        (113.002, 34.002),
        (113.003, 34.002),
        (113.003, 34.003),
        (113.002, 34.003),
    ]);
    assert!((c.zones_m2["basic_farmland"] - farm).abs() / farm < 1e-7);
    assert!((c.measures_m2["farmland_m2"] - farm).abs() / farm < 1e-7);
    assert_eq!(class("D").class, PatchClass::Suspected);
    assert!(class("D").reasons[0].contains("未批先建"));
    assert_eq!(class("E").class, PatchClass::Check);
    assert_eq!(class("F").class, PatchClass::Suspected);
    assert!(class("F").reasons[0].contains("文物保护范围"));
    assert_eq!(r.totals["疑似违法"].count, 4);
    assert_eq!(r.by_admin["410184001"]["合法"].count, 1);
    // The result layer round-trips through the store.
    let (meta, features) = violations::result_layer(&r, "patches_result", &rules).unwrap();
    engine
        .write_layer(
            &Caller::operator(),
            "import",
            meta,
            features.into_iter().map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
    let l = engine.layer("patches_result").unwrap();
    assert_eq!(l.len(), 6);
    assert_eq!(l.meta.kind, LayerKind::ChangePatch);
    assert_eq!(l.meta.kind.style_field(&l.meta.schema), Some("status"));
}

#[test]
fn land_use_pieces_cover_each_feature_once() {
    let (_d, engine) = city();
    // Half in Z1 (0901), half in Z2 (0701), and a strip east of every zone (113.02–113.021).
    write(
        &engine,
        "landuse",
        LayerKind::Landuse,
        &[("DLBM", FieldType::Text), ("ZLDWMC", FieldType::Text)],
        vec![(
            rect(113.019, 34.004, 113.021, 34.006),
            vec![text("0701"), text("新建路街道")],
        )],
    );
    let rules = Rules::default_rules().unwrap();
    let r = landuse::check(
        &engine,
        &Caller::operator(),
        &rules,
        &AreaMethod::Geodesic,
        &|_| {},
    )
    .unwrap();
    assert_eq!(r.pieces.len(), 3, "{:?}", r.pieces);
    let whole = area_of(&[
        (113.019, 34.004),
        (113.021, 34.004),
        (113.021, 34.006),
        (113.019, 34.006),
    ]);
    assert!((r.total.total_m2() - whole).abs() / whole < 1e-6);
    let z2 = area_of(&[
        (113.019, 34.005),
        (113.02, 34.005),
        (113.02, 34.006),
        (113.019, 34.006),
    ]);
    assert!(
        (r.total.conforming_m2 - z2).abs() / z2 < 1e-7,
        "{} vs {z2} {:?}",
        r.total.conforming_m2,
        r.pieces
    );
    let unplanned = area_of(&[
        (113.02, 34.004),
        (113.021, 34.004),
        (113.021, 34.006),
        (113.02, 34.006),
    ]);
    assert!((r.total.unplanned_m2 - unplanned).abs() / unplanned < 1e-6);
    assert!(r.by_admin.contains_key("新建路街道"));
    let (meta, _) = landuse::result_layer(&r, "landuse_check").unwrap();
    assert_eq!(meta.kind.style_field(&meta.schema), Some("conformance"));
}

#[test]
fn runs_are_recorded_and_read_back() {
    let (_d, engine) = city();
    let r = check(
        &engine,
        &Caller::new("wang", ["planning"]),
        &rect(113.005, 34.002, 113.015, 34.004),
        Proposal::default(),
    );
    let id = engine
        .store()
        .record_run(&RunRecord {
            kind: "approval".into(),
            caller: Some("wang".into()),
            input_hash: r.input_hash.clone(),
            rules_version: r.rules_version.clone(),
            rules_digest: r.rules_digest.clone(),
            layer_versions: r.layer_versions.clone(),
            conclusion: r.conclusion.as_str().into(),
            result: serde_json::to_value(&r).unwrap(),
        })
        .unwrap();
    let back = engine.store().runs(Some(id), 1).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].record.input_hash, r.input_hash);
    assert_eq!(back[0].record.layer_versions["control_lines"], 1);
    assert_eq!(back[0].record.result["conclusion"], "fail");
    // The same input hashes the same; another proposal does not.
    let again = check(
        &engine,
        &Caller::operator(),
        &rect(113.005, 34.002, 113.015, 34.004),
        Proposal::default(),
    );
    assert_eq!(again.input_hash, r.input_hash);
    let other = check(
        &engine,
        &Caller::operator(),
        &rect(113.005, 34.002, 113.015, 34.004),
        Proposal {
            far: Some(1.0),
            ..Proposal::default()
        },
    );
    assert_ne!(other.input_hash, r.input_hash);
}

#[test]
fn an_indicator_the_plan_lacks_is_skipped_not_passed() {
    let (_d, engine) = city();
    let text = Rules::DEFAULT_TEXT.replace(
        "green_field = \"green_min\"",
        "green_field = \"green_minimum\"",
    );
    let rules = Rules::parse(&text, "edited").unwrap();
    let site = Site::new(
        &rect(113.011, 34.006, 113.013, 34.008),
        false,
        &AreaMethod::Geodesic,
    )
    .unwrap();
    let proposal = Proposal {
        far: Some(1.0),
        green_ratio: Some(0.4),
        ..Proposal::default()
    };
    let r = approval::check(
        &ApprovalInput {
            engine: &engine,
            caller: &Caller::operator(),
            rules: &rules,
            proposal: &proposal,
            method: AreaMethod::Geodesic,
        },
        &site,
    )
    .unwrap();
    let i = rule(&r, "indicators");
    assert_eq!(i.status, Status::Skipped, "{}", i.message);
    assert!(i.message.contains("green_minimum"), "{}", i.message);
    assert_ne!(r.conclusion, Status::Pass);
}

#[test]
fn rule_ids_cannot_clash_with_result_columns() {
    let text = Rules::DEFAULT_TEXT.replacen("id = \"farmland_m2\"", "id = \"status\"", 1);
    let e = Rules::parse(&text, "edited").unwrap_err().to_string();
    assert!(e.contains("'status'") && e.contains("clashes"), "{e}");
}
