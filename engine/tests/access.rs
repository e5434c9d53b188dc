//! A caller's identity flows through queries: hidden layers, redacted fields, no filtering on them.

use geo::Point;
use onemap_engine::model::{LayerKind, NewLayer};
use onemap_engine::synth::{self, ORIGIN, STEP};
use onemap_engine::{Caller, Engine, Error, Filter, Policy, Query, Store};

fn engine(policy: Policy) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("a.duckdb")).unwrap();
    let layer = |name: &str, kind| NewLayer {
        name: name.into(),
        kind,
        schema: synth::parcel_schema(),
        source_crs: "EPSG:4490".into(),
        source: "t".into(),
    };
    store
        .write_layer(
            layer("parcels", LayerKind::Cadastral),
            synth::parcels(100, 1).map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
    store
        .write_layer(
            layer("plan", LayerKind::Planning),
            synth::parcels(100, 2).map(Ok::<_, std::io::Error>),
            |_| {},
        )
        .unwrap();
    (dir, Engine::new(store).with_policy(policy))
}

#[test]
fn owners_are_redacted_without_the_registration_role() {
    let (_d, engine) = engine(Policy::city_default());
    let public = Caller::anonymous();
    let registrar = Caller::new("li", ["registration"]);
    let q = Query::all().page(0, 3);

    let seen = engine.query(&public, "parcels", &q).unwrap();
    let names: Vec<_> = seen.fields().iter().map(|f| f.name.clone()).collect();
    assert!(!names.contains(&"owner".to_string()), "{names:?}");
    assert!(names.contains(&"parcel_id".to_string()));
    for h in &seen.hits {
        assert!(seen.properties(h).iter().all(|(f, _)| f.name != "owner"));
    }
    // Filtering on a hidden field would leak it.
    let err = engine
        .query(
            &public,
            "parcels",
            &Query::all().filter(Filter::parse("owner LIKE '张%'").unwrap()),
        )
        .unwrap_err();
    // Refused with the words an unknown field gets: the caller cannot tell that it exists.
    assert!(matches!(err, Error::Filter(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("unknown field 'owner'"), "{msg}");
    assert!(!msg.contains("owner,") && !msg.contains(", owner"), "{msg}");
    // Nor may an error message list it.
    let err = engine
        .query(
            &public,
            "parcels",
            &Query::all().filter(Filter::parse("nosuch = 1").unwrap()),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field 'nosuch'") && err.contains("parcel_id"),
        "{err}"
    );
    assert!(!err.contains("owner"), "{err}");
    // The registrar sees and filters owners.
    let full = engine.query(&registrar, "parcels", &q).unwrap();
    assert!(full.fields().iter().any(|f| f.name == "owner"));
    assert!(
        engine
            .query(
                &registrar,
                "parcels",
                &Query::all().filter(Filter::parse("owner LIKE '张%'").unwrap())
            )
            .is_ok()
    );
    // The city policy hides owners whatever the layer's kind (a cadastre imported as another
    // kind stays private)...
    assert!(
        !engine
            .query(&public, "plan", &q)
            .unwrap()
            .fields()
            .iter()
            .any(|f| f.name == "owner")
    );
    // ...while a grant written for one kind applies to that kind only.
    let store_path = engine.store().path().to_path_buf();
    drop(engine);
    let by_kind = Engine::new(Store::open(&store_path).unwrap()).with_policy(
        Policy::from_toml(
            "[[layer]]\nkind = \"planning\"\n[layer.fields]\n\"*\" = [\"owner\"]",
            "test",
        )
        .unwrap(),
    );
    assert!(
        by_kind
            .query(&public, "plan", &q)
            .unwrap()
            .fields()
            .iter()
            .any(|f| f.name == "owner")
    );
    assert!(
        !by_kind
            .query(&public, "parcels", &q)
            .unwrap()
            .fields()
            .iter()
            .any(|f| f.name == "owner")
    );
    let engine = Engine::new(Store::open(&store_path).unwrap()).with_policy(Policy::city_default());
    // Identify goes through the same policy.
    let p = Point::new(ORIGIN.0 + 0.5 * STEP, ORIGIN.1 + 0.5 * STEP);
    for r in engine.identify(&public, p, None, 0.0).unwrap() {
        if r.layer.meta.kind == LayerKind::Cadastral {
            assert!(r.fields().iter().all(|f| f.name != "owner"));
        }
    }
}

#[test]
fn layers_can_require_a_role() {
    let (_d, engine) = engine(
        Policy::from_toml(
            "[[layer]]\nkind = \"cadastral\"\nread = [\"registration\"]",
            "test",
        )
        .unwrap(),
    );
    let public = Caller::anonymous();
    let names: Vec<_> = engine
        .layers_for(&public)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec!["plan"]);
    // A layer the caller may not read is a layer that does not exist, in the same words.
    let hidden = engine.query(&public, "parcels", &Query::all()).unwrap_err();
    let missing = engine.query(&public, "nosuch", &Query::all()).unwrap_err();
    assert!(matches!(hidden, Error::UnknownLayer(_)), "{hidden}");
    assert_eq!(
        hidden.to_string().replace("parcels", "X"),
        missing.to_string().replace("nosuch", "X")
    );
    let p = Point::new(ORIGIN.0 + 0.5 * STEP, ORIGIN.1 + 0.5 * STEP);
    let hits = engine.identify(&public, p, None, 0.0).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].layer.meta.name, "plan");
    assert_eq!(engine.layers_for(&Caller::operator()).unwrap().len(), 2);
}

/// An analysis result must not reach callers its sources keep out; a recorded run is read back
/// only by its runner, or by an auditor who sees at least what the runner saw.
#[test]
fn results_and_runs_stay_within_what_their_sources_allow() {
    let policy = Policy::from_toml(
        r#"
[defaults]
read = ["*"]
write = ["admin"]
create = ["admin", "analysis"]

[[layer]]
name = "plan"
read = ["dept:规划局", "audit"]

[[layer]]
kind = "cadastral"
[layer.fields]
"dept:规划局" = ["owner"]
"#,
        "test",
    )
    .unwrap();
    let (_d, engine) = engine(policy);
    let planner = Caller::new("wu", ["analysis"]).with_department("规划局");
    let out = |name: &str| NewLayer {
        name: name.into(),
        kind: LayerKind::ChangePatch,
        schema: synth::parcel_schema(),
        source_crs: "EPSG:4490".into(),
        source: "onemap check".into(),
    };
    let features = || synth::parcels(3, 9).map(Ok::<_, std::io::Error>);
    // Derived from "plan" (read: 规划局 and auditors), written under the defaults (everyone):
    // refused, and nothing is written.
    let err = engine
        .write_result_layer(&planner, ["plan"], out("plan_result"), features(), |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    assert!(
        err.to_string().contains("callers who may not read 'plan'"),
        "{err}"
    );
    assert!(engine.store().layer("plan_result").is_err());
    // From open layers only: written.
    engine
        .write_result_layer(
            &planner,
            ["parcels"],
            out("open_result"),
            features(),
            |_| {},
        )
        .unwrap();
    // With a read rule as narrow as the source's (its owner is the planner's department): written.
    let mut narrowed = engine.policy().as_ref().clone();
    narrowed
        .layers
        .push(onemap_engine::access::policy::LayerRule {
            name: Some("plan_result".into()),
            read: Some(vec!["audit".into()]),
            ..Default::default()
        });
    let engine = engine.with_policy(narrowed);
    engine
        .write_result_layer(&planner, ["plan"], out("plan_result"), features(), |_| {})
        .unwrap();

    // A run by the planner, who sees the parcels' owners through the department grant.
    let run = onemap_engine::store::RunRecord {
        kind: "approval".into(),
        caller: None,
        input_hash: "h".into(),
        rules_version: "1".into(),
        rules_digest: "d".into(),
        layer_versions: [("parcels".to_string(), 1)].into(),
        conclusion: "pass".into(),
        result: serde_json::json!({ "report": { "owner": "张三" } }),
    };
    let id = engine.record_run(&planner, run).unwrap();
    let reads = |c: &Caller| engine.run_for(c, id).unwrap().is_some();
    assert!(reads(&planner), "the runner reads it back");
    assert!(reads(&Caller::operator()));
    // Same id, signed in another way: another principal.
    assert!(!reads(
        &Caller::new("wu", ["analysis"])
            .with_department("规划局")
            .via(onemap_engine::Via::ApiKey)
    ));
    // An auditor who does not see the owners would read them in the record: not found.
    assert!(!reads(&Caller::new("sun", ["audit"])));
    // Seeing what the runner saw is not enough without the audit role...
    assert!(!reads(
        &Caller::new("qian", ["analysis"]).with_department("规划局")
    ));
    // ...and enough with it.
    assert!(reads(
        &Caller::new("zhou", ["audit"]).with_department("规划局")
    ));
    // The runner, moved to another department, no longer sees the owners: nor the record.
    assert!(!reads(&Caller::new("wu", ["analysis"])));
    assert!(engine.run_for(&planner, id + 100).unwrap().is_none());
}

/// `user:ID` is a person and `key:NAME` an API key: a key named like a user is not that user,
/// and a department named like an owner does not own that owner's layers.
#[test]
fn a_key_named_like_a_user_is_not_that_user() {
    let policy = Policy::from_toml(
        r#"
[[layer]]
name = "plan"
read = ["user:li", "key:规划审批系统"]
"#,
        "test",
    )
    .unwrap();
    let (_d, engine) = engine(policy);
    let reads = |c: &Caller| engine.layer_for(c, "plan").is_ok();
    assert!(reads(
        &Caller::new("li", Vec::<String>::new()).via(onemap_engine::Via::Session)
    ));
    assert!(!reads(
        &Caller::new("li", Vec::<String>::new()).via(onemap_engine::Via::ApiKey)
    ));
    assert!(reads(
        &Caller::new("规划审批系统", Vec::<String>::new()).via(onemap_engine::Via::ApiKey)
    ));
    assert!(!reads(&Caller::new("规划审批系统", Vec::<String>::new())));
    // Owners.
    let key = Caller::new("li", Vec::<String>::new()).via(onemap_engine::Via::ApiKey);
    assert_eq!(key.owner_name().as_deref(), Some("key:li"));
    let odd = Caller::new("wu", Vec::<String>::new()).with_department("user:li");
    assert_eq!(odd.owner_name().as_deref(), Some("user:wu"));
}
