//! The DuckDB store on a real file: typed round trips, versions, atomic replacement, readers
//! during a write.
use std::sync::mpsc;

use chrono::NaiveDate;
use geo::{Geometry, point, polygon};
use onemap_engine::model::{Field, FieldType, LayerKind, NewLayer, Schema, Value};
use onemap_engine::{Caller, Engine, Error, Feature, Store};

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("名称", FieldType::Text),
        Field::new("floors", FieldType::Int),
        Field::new("ratio", FieldType::Float),
        Field::new("legal", FieldType::Bool),
        Field::new("批准日期", FieldType::Date),
        Field::new("quote\"d", FieldType::Text),
    ])
    .unwrap()
}

fn new_layer(name: &str) -> NewLayer {
    NewLayer {
        name: name.into(),
        kind: LayerKind::Approval,
        schema: schema(),
        source_crs: "EPSG:4490".into(),
        source: "test".into(),
    }
}

fn features(n: usize, tag: &str) -> Vec<Feature> {
    (0..n)
        .map(|i| {
            let x = 113.7 + i as f64 * 0.001;
            let g: Geometry<f64> = polygon![
                (x: x, y: 34.4), (x: x + 0.0005, y: 34.4), (x: x + 0.0005, y: 34.4005), (x: x, y: 34.4)
            ]
            .into();
            Feature::new(
                g,
                vec![
                    Value::Text(format!("{tag} 郑州 {i}")),
                    if i % 3 == 0 { Value::Null } else { Value::Int(i as i64) },
                    Value::Float(i as f64 / 3.0),
                    Value::Bool(i % 2 == 0),
                    Value::Date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(i as u64)),
                    Value::Text("x".into()),
                ],
            )
        })
        .collect()
}

fn ok<T>(v: Vec<T>) -> impl Iterator<Item = Result<T, std::io::Error>> {
    v.into_iter().map(Ok)
}

#[test]
fn typed_round_trip_through_a_reopened_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.duckdb");
    let written = features(50, "a");
    {
        let store = Store::open(&path).unwrap();
        let r = store
            .write_layer(new_layer("审批"), ok(written.clone()), |_| {})
            .unwrap();
        assert_eq!(r.meta.version, 1);
        assert_eq!(r.meta.feature_count, 50);
        assert_eq!(r.replaced_version, None);
    }
    let store = Store::open_read_only(&path).unwrap();
    let layers = store.layers().unwrap();
    assert_eq!(layers.len(), 1);
    let meta = &layers[0];
    assert_eq!(meta.name, "审批");
    assert_eq!(meta.kind, LayerKind::Approval);
    assert_eq!(meta.schema, schema());
    let b = meta.bounds.unwrap();
    assert_eq!((b.min().x, b.min().y), (113.7, 34.4));
    assert!((b.max().x - (113.7 + 49.0 * 0.001 + 0.0005)).abs() < 1e-12);
    let back = store.read_layer(meta).unwrap();
    assert_eq!(back.len(), 50);
    for (i, (f, w)) in back.iter().zip(&written).enumerate() {
        assert_eq!(f.fid, i as i64 + 1);
        assert_eq!(f.geometry, w.geometry, "geometry survives WKB exactly");
        assert_eq!(f.properties, w.properties);
    }
    // A read-only store refuses writes.
    assert!(store.drop_layer("审批").is_err());
}

#[test]
fn versions_replace_atomically_and_failures_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.duckdb")).unwrap();
    store
        .write_layer(new_layer("p"), ok(features(10, "v1")), |_| {})
        .unwrap();
    let r2 = store
        .write_layer(new_layer("p"), ok(features(20, "v2")), |_| {})
        .unwrap();
    assert_eq!(r2.meta.version, 2);
    assert_eq!(r2.replaced_version, Some(1));

    // The source fails at feature 15: version 2 stays, untouched.
    let failing = features(30, "v3").into_iter().enumerate().map(|(i, f)| {
        if i == 15 {
            Err(std::io::Error::other("disk read failed at feature 15"))
        } else {
            Ok(f)
        }
    });
    let err = store
        .write_layer(new_layer("p"), failing, |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("feature 15"), "{err}");
    // A value that does not fit its field names the feature and the field.
    let mut bad = features(5, "v3");
    bad[3].properties[1] = Value::Text("three".into());
    let err = store
        .write_layer(new_layer("p"), ok(bad), |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFeature { index: 3, field, .. } if field == "floors"),
        "{err}"
    );
    // An out-of-range coordinate (projected data imported as lon/lat) names the feature.
    let mut bad = features(5, "v3");
    bad[2].geometry = point!(x: 476093.0, y: 3808062.0).into();
    let err = store
        .write_layer(new_layer("p"), ok(bad), |_| {})
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidGeometry { index: 2, .. }),
        "{err}"
    );

    let meta = store.layer("p").unwrap();
    assert_eq!(meta.version, 2);
    assert_eq!(meta.feature_count, 20);
    let back = store.read_layer(&meta).unwrap();
    assert_eq!(back[0].properties[0], Value::Text("v2 郑州 0".into()));
    assert_eq!(store.layers().unwrap().len(), 1);
    // Only the current version's table exists in the file: failed writes left nothing behind.
    let path = store.path().to_path_buf();
    drop(store);
    let conn = duckdb::Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'onemap_layer_')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn bad_names_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.duckdb")).unwrap();
    let mut l = new_layer("a,b");
    assert!(matches!(
        store.write_layer(l.clone(), ok(features(1, "x")), |_| {}),
        Err(Error::InvalidLayerName { .. })
    ));
    l.name = "ok_name".into();
    store.write_layer(l, ok(features(3, "x")), |_| {}).unwrap();
    assert!(matches!(
        store.drop_layer("nope"),
        Err(Error::UnknownLayer(_))
    ));
    let dropped = store.drop_layer("ok_name").unwrap();
    assert_eq!(dropped.feature_count, 3);
    assert!(store.layers().unwrap().is_empty());
    assert!(matches!(
        store.layer("ok_name"),
        Err(Error::UnknownLayer(_))
    ));
}

#[test]
fn not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.duckdb");
    std::fs::write(&path, b"this is not a database, it is a text file").unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    let err = Store::open_read_only(dir.path().join("missing.duckdb")).unwrap_err();
    assert!(err.to_string().contains("no such store"), "{err}");
}

/// A reader on another thread reads the old version to the end while a writer is stopped in the
/// middle of writing the new one; then the writer finishes and the new version is what is read.
#[test]
fn readers_are_not_blocked_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Store::open(dir.path().join("s.duckdb")).unwrap());
    engine
        .write_layer(
            &Caller::operator(),
            "import",
            new_layer("p"),
            ok(features(100, "old")),
            |_| {},
        )
        .unwrap();
    assert_eq!(engine.catalog().unwrap()[0].version, 1);

    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let feats = features(300, "new")
                .into_iter()
                .enumerate()
                .map(move |(i, f)| {
                    if i == 150 {
                        reached_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                    }
                    Ok::<_, std::io::Error>(f)
                });
            engine
                .write_layer(&Caller::operator(), "import", new_layer("p"), feats, |_| {})
                .unwrap()
        });
        reached_rx.recv().unwrap();
        // The writer holds an open transaction with 150 new rows. Readers see version 1, complete.
        let meta = engine.store().layer("p").unwrap();
        assert_eq!(meta.version, 1);
        let old = engine.store().read_layer(&meta).unwrap();
        assert_eq!(old.len(), 100);
        assert_eq!(old[0].properties[0], Value::Text("old 郑州 0".into()));
        let loaded = engine.layer("p").unwrap();
        assert_eq!(loaded.len(), 100);
        go_tx.send(()).unwrap();
        let report = writer.join().unwrap();
        assert_eq!(report.meta.version, 2);
    });
    let now = engine.layer("p").unwrap();
    assert_eq!(now.meta.version, 2);
    assert_eq!(now.len(), 300);
    // The cached catalog was dropped by the write.
    assert_eq!(engine.catalog().unwrap()[0].version, 2);
    let visible = engine
        .layers_for(&onemap_engine::Caller::anonymous())
        .unwrap();
    assert_eq!(visible[0].feature_count, 300);
}

#[test]
fn concurrent_first_reads_share_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("c.duckdb")).unwrap();
    store
        .write_layer(new_layer("big"), ok(features(5_000, "x")), |_| {})
        .unwrap();
    let engine = std::sync::Arc::new(Engine::new(store));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let e = engine.clone();
            std::thread::spawn(move || e.layer("big").unwrap())
        })
        .collect();
    let loaded: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Every reader got the one copy the first reader loaded.
    assert!(loaded.iter().all(|l| std::sync::Arc::ptr_eq(l, &loaded[0])));
    assert_eq!(loaded[0].len(), 5_000);
}

#[test]
fn a_detached_store_lets_another_writer_in_between_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.duckdb");
    Store::open(&path)
        .unwrap()
        .write_layer(new_layer("a"), ok(features(10, "v1")), |_| {})
        .unwrap();
    let reader = Engine::open(
        Store::open_with(
            &path,
            onemap_engine::store::OpenOptions {
                read_only: true,
                detached: true,
                lock_wait: std::time::Duration::from_secs(5),
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(reader.layer("a").unwrap().len(), 10);
    // The reader holds no lock between operations: a writer opens the file, replaces the layer.
    {
        let writer = Store::open(&path).unwrap();
        writer
            .write_layer(new_layer("a"), ok(features(25, "v2")), |_| {})
            .unwrap();
    }
    // Until it refreshes, the reader serves what it loaded; then the new version.
    assert_eq!(reader.layer("a").unwrap().len(), 10);
    assert_eq!(reader.refresh().unwrap(), vec!["a".to_string()]);
    assert_eq!(reader.layer("a").unwrap().len(), 25);
    assert_eq!(reader.layer("a").unwrap().meta.version, 2);
}

/// Lock-out: `lock_after` failures in a row lock the account; attempts while it is locked
/// neither count nor extend the lock; once it has passed, the count starts again.
#[test]
fn a_lock_is_not_extended_by_attempts_and_passing_it_starts_the_count_again() {
    use onemap_engine::store::{AuditEvent, UserRecord};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("u.duckdb")).unwrap();
    let admin = Caller::operator();
    let user = UserRecord {
        name: "李明".into(),
        password_hash: "x".into(),
        roles: vec![],
        department: None,
        disabled: false,
        failed_logins: 0,
        locked_until: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    };
    store
        .put_user(&user, true, &AuditEvent::new(&admin, "user"))
        .unwrap();
    let lock_for = std::time::Duration::from_millis(400);
    let fail = || {
        store
            .login_failed(
                "李明",
                3,
                lock_for,
                &AuditEvent::new(&admin, "login_failed"),
            )
            .unwrap()
    };
    assert_eq!(fail(), (1, None));
    assert_eq!(fail().0, 2);
    let (n, until) = fail();
    assert_eq!(n, 3);
    let until = until.expect("locked after three");
    // While locked: refused attempts change nothing.
    for _ in 0..5 {
        assert_eq!(fail(), (3, Some(until.clone())));
    }
    std::thread::sleep(lock_for + std::time::Duration::from_millis(100));
    // Passed: one more failure is the first of a new count, not a new lock.
    assert_eq!(fail(), (1, None));
    let u = store.user("李明").unwrap().unwrap();
    assert_eq!((u.failed_logins, u.locked_until), (1, None));
}

/// A write is checked again under the write lock: a layer another writer created after this one
/// was authorized (as new) is not silently replaced. And replacing a layer without an owner does
/// not make the replacing department its owner (ownership grants reading, whatever the rules).
#[test]
fn a_write_replaces_only_what_it_was_authorized_to() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Store::open(dir.path().join("w.duckdb")).unwrap());
    let admin = Caller::new("wu", ["admin"]).with_department("规划局");
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        // The first writer holds the store's write lock in the middle of creating "p".
        let first = s.spawn(|| {
            let feats = features(10, "first")
                .into_iter()
                .enumerate()
                .map(move |(i, f)| {
                    if i == 5 {
                        reached_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                    }
                    Ok::<_, std::io::Error>(f)
                });
            engine
                .write_layer(&Caller::operator(), "import", new_layer("p"), feats, |_| {})
                .unwrap()
        });
        reached_rx.recv().unwrap();
        // The second is authorized to create "p" (not there yet), then waits for the lock.
        let second = s.spawn(|| {
            engine.write_layer(
                &admin,
                "import",
                new_layer("p"),
                ok(features(3, "second")),
                |_| {},
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        go_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap().meta.version, 1);
        let err = second.join().unwrap().unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert!(
            err.to_string()
                .contains("written by someone else meanwhile"),
            "{err}"
        );
    });
    let p = engine.store().layer("p").unwrap();
    assert_eq!((p.version, p.feature_count), (1, 10));
    // Authorized now against version 1: replaced, and the owner stays none.
    let r = engine
        .write_layer(
            &admin,
            "import",
            new_layer("p"),
            ok(features(3, "again")),
            |_| {},
        )
        .unwrap();
    assert_eq!((r.meta.version, r.meta.owner), (2, None));
}
