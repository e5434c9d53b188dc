//! The engine: a store plus its layers loaded and indexed in memory, and the access policy every
//! read goes through.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use geo::Point;

use crate::access::Via;
use crate::access::{Caller, FieldView, Policy};
use crate::error::{Error, Result};
use crate::index::LoadedLayer;
use crate::model::{Feature, LayerMeta, NewLayer};
use crate::query::{self, BoundFilter, Filter, LayerHits, Query};
use crate::store::{
    AuditEvent, AuditQuery, AuditRecord, RunRecord, Store, StoredRun, WriteExtras, WriteReport,
};

/// Most personal-read records waiting for the audit writer; past it such reads are refused
/// (a read that cannot be recorded is not served).
const MAX_QUEUED_AUDIT: usize = 100_000;

/// Records of personal reads on their way to the store.
#[derive(Debug, Default)]
struct AuditQueue {
    /// Queued (a writer thread runs) or written at once.
    queued: std::sync::atomic::AtomicBool,
    events: std::sync::Mutex<Vec<AuditEvent>>,
}

#[derive(Default)]
struct Slot {
    /// Bumped by every write or drop through this engine, so a load that started before the write
    /// does not put a stale version into the cache.
    generation: u64,
    layer: Option<Arc<LoadedLayer>>,
}

/// A loaded layer with a bound filter and the caller's field view (see [`Engine::bound_layer`]).
#[derive(Debug, Clone)]
pub struct BoundLayer {
    /// The layer version read.
    pub layer: Arc<LoadedLayer>,
    /// The filter, bound to its schema.
    pub filter: Option<BoundFilter>,
    /// Per schema field: may the caller see it?
    pub visible: Vec<bool>,
}

impl BoundLayer {
    /// True when feature `i` passes the filter.
    pub fn passes(&self, i: u32) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.matches_feature(self.layer.properties(i), self.layer.geometry(i)))
    }

    /// Index of a field the caller may see.
    pub fn visible_field(&self, name: &str) -> Option<usize> {
        self.layer
            .meta
            .schema
            .index_of(name)
            .filter(|&k| self.visible.get(k).copied().unwrap_or(false))
    }
}

/// The store, the loaded layers and the access policy.
pub struct Engine {
    store: Store,
    layers: RwLock<HashMap<String, Slot>>,
    /// The catalog, read once and dropped by every write or drop through this engine (the only
    /// writer: DuckDB gives one process the file).
    catalog: RwLock<(u64, Option<Arc<Vec<LayerMeta>>>)>,
    policy: RwLock<Arc<Policy>>,
    audit: AuditQueue,
    /// One load at a time per layer name: concurrent first readers wait for it instead of each
    /// loading their own copy (a big layer is hundreds of MB in memory).
    loading: std::sync::Mutex<HashMap<String, Arc<std::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Engine {
    /// An engine over a store that loads layers on first use, with the built-in city policy
    /// ([`Policy::city_default`]); the operator ([`Caller::operator`]) may do everything.
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            layers: RwLock::new(HashMap::new()),
            catalog: RwLock::new((0, None)),
            policy: RwLock::new(Arc::new(Policy::city_default())),
            audit: AuditQueue::default(),
            loading: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Use another access policy.
    pub fn with_policy(self, policy: Policy) -> Engine {
        self.set_policy(policy);
        self
    }

    /// Replace the access policy (a policy change in the store, a reloaded policy file).
    pub fn set_policy(&self, policy: Policy) {
        let mut p = self.policy.write().unwrap_or_else(|e| e.into_inner());
        *p = Arc::new(policy);
    }

    /// The policy the store holds (`onemap acl`), or the built-in one when it holds none.
    pub fn stored_policy(&self) -> Result<Policy> {
        Ok(self
            .store
            .policy()?
            .map(|p| p.policy)
            .unwrap_or_else(Policy::city_default))
    }

    /// Open a store and load and index every layer now (a server does this at start).
    pub fn open(store: Store) -> Result<Engine> {
        let engine = Engine::new(store);
        engine.load_all()?;
        Ok(engine)
    }

    /// Load and index every layer of the catalog.
    pub fn load_all(&self) -> Result<()> {
        for meta in self.store.layers()? {
            self.layer(&meta.name)?;
        }
        Ok(())
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The access policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn slots(&self) -> Result<std::sync::RwLockReadGuard<'_, HashMap<String, Slot>>> {
        self.layers
            .read()
            .map_err(|_| Error::Query("layer cache poisoned by an earlier panic".into()))
    }

    fn slots_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<String, Slot>>> {
        self.layers
            .write()
            .map_err(|_| Error::Query("layer cache poisoned by an earlier panic".into()))
    }

    /// The current version of a layer, loaded and indexed (no access check: internal use and
    /// administration; callers' reads go through [`Engine::layer_for`]).
    pub fn layer(&self, name: &str) -> Result<Arc<LoadedLayer>> {
        if let Some(l) = self.layer_if_loaded(name) {
            return Ok(l);
        }
        // Unknown names never reach the per-name tables below: a client asking for a million
        // made-up names must not grow the server's memory.
        if !self.catalog()?.iter().any(|m| m.name == name) {
            return Err(Error::UnknownLayer(name.to_string()));
        }
        let gate = {
            let mut loading = self
                .loading
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            loading.entry(name.to_string()).or_default().clone()
        };
        let _one_at_a_time = gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = {
            let slots = self.slots()?;
            match slots.get(name) {
                Some(Slot { layer: Some(l), .. }) => return Ok(l.clone()),
                Some(s) => s.generation,
                None => 0,
            }
        };
        // In a detached store another process may replace the layer between the catalog read
        // and the scan (its old table is gone): read the catalog again, once.
        let mut attempt = 0;
        let loaded = loop {
            let meta = self.store.layer(name)?;
            match LoadedLayer::load(&self.store, &meta) {
                Ok(l) => break Arc::new(l),
                Err(Error::Query(m)) if attempt == 0 && m.contains("read the catalog again") => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let mut slots = self.slots_mut()?;
        let slot = slots.entry(name.to_string()).or_default();
        if slot.generation == generation {
            slot.layer = Some(loaded.clone());
        }
        Ok(loaded)
    }

    /// The layer if it is already loaded (never touches the store: safe on an async thread).
    pub fn layer_if_loaded(&self, name: &str) -> Option<Arc<LoadedLayer>> {
        self.slots().ok()?.get(name)?.layer.clone()
    }

    /// A layer the caller may read. A layer it may not read is answered exactly like a missing
    /// one: the caller cannot tell that it exists.
    pub fn layer_for(&self, caller: &Caller, name: &str) -> Result<Arc<LoadedLayer>> {
        let visible = self
            .catalog()?
            .iter()
            .find(|m| m.name == name)
            .is_some_and(|m| self.policy().can_read_layer(caller, m));
        if !visible {
            return Err(Error::UnknownLayer(name.to_string()));
        }
        let layer = self.layer(name)?;
        // The version loaded may be newer than the catalog entry just read: ask again.
        if !self.policy().can_read_layer(caller, &layer.meta) {
            return Err(Error::UnknownLayer(name.to_string()));
        }
        Ok(layer)
    }

    /// [`Engine::layer_for`] for an async thread: the layer when it is loaded already, `None`
    /// when it must be loaded first (then call [`Engine::layer_for`] on a blocking thread). Reads
    /// the store only when the catalog is not cached.
    pub fn loaded_layer_for(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<Arc<LoadedLayer>>> {
        let policy = self.policy();
        let unknown = || Error::UnknownLayer(name.to_string());
        if !self
            .catalog()?
            .iter()
            .any(|m| m.name == name && policy.can_read_layer(caller, m))
        {
            return Err(unknown());
        }
        match self.layer_if_loaded(name) {
            Some(l) if policy.can_read_layer(caller, &l.meta) => Ok(Some(l)),
            Some(_) => Err(unknown()),
            None => Ok(None),
        }
    }

    /// The catalog (all layers, by name), cached.
    pub fn catalog(&self) -> Result<Arc<Vec<LayerMeta>>> {
        let poisoned = || Error::Query("catalog cache poisoned by an earlier panic".into());
        let generation = {
            let c = self.catalog.read().map_err(|_| poisoned())?;
            if let Some(list) = &c.1 {
                return Ok(list.clone());
            }
            c.0
        };
        let fresh = Arc::new(self.store.layers()?);
        let mut c = self.catalog.write().map_err(|_| poisoned())?;
        // A write or drop that happened while we read keeps the cache empty: ours may be stale.
        if c.0 == generation {
            c.1 = Some(fresh.clone());
        }
        Ok(fresh)
    }

    /// The catalog entries of the layers the caller may read.
    pub fn layers_for(&self, caller: &Caller) -> Result<Vec<LayerMeta>> {
        let policy = self.policy();
        Ok(self
            .catalog()?
            .iter()
            .filter(|m| policy.can_read_layer(caller, m))
            .cloned()
            .collect())
    }

    /// The catalog entries of the layers the caller may read, each with only the fields the
    /// caller may see: what a catalog listing shows (hidden field names are not shown).
    pub fn catalog_for(&self, caller: &Caller) -> Result<Vec<LayerMeta>> {
        Ok(self
            .layers_for(caller)?
            .into_iter()
            .map(|m| {
                let view = self.field_view(caller, &m);
                m.with_fields(&view.visible)
            })
            .collect())
    }

    /// Re-read the catalog (another process may have imported or dropped layers) and forget every
    /// loaded layer whose version changed or that is gone; the next read loads the new version.
    /// Returns the names of layers that are new, changed or gone.
    pub fn refresh(&self) -> Result<Vec<String>> {
        let fresh = self.store.layers()?;
        let mut changed = Vec::new();
        {
            let mut slots = self.slots_mut()?;
            for (name, slot) in slots.iter_mut() {
                let now = fresh.iter().find(|m| &m.name == name);
                let stale = match (&slot.layer, now) {
                    (Some(l), Some(m)) => l.meta.table != m.table,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if stale {
                    slot.layer = None;
                    changed.push(name.clone());
                }
                // Also for slots still loading: a load that read the old catalog entry must not
                // install its old version after this refresh.
                if stale || slot.layer.is_none() {
                    slot.generation += 1;
                }
            }
        }
        if let Ok(mut c) = self.catalog.write() {
            if let Some(old) = &c.1 {
                for m in &fresh {
                    if !old.iter().any(|o| o.name == m.name) && !changed.contains(&m.name) {
                        changed.push(m.name.clone());
                    }
                }
                for o in old.iter() {
                    if !fresh.iter().any(|m| m.name == o.name) && !changed.contains(&o.name) {
                        changed.push(o.name.clone());
                    }
                }
            }
            c.0 += 1;
            c.1 = Some(Arc::new(fresh));
        }
        Ok(changed)
    }

    fn forget(&self, name: &str) -> Result<()> {
        if let Ok(mut c) = self.catalog.write() {
            c.0 += 1;
            c.1 = None;
        }
        let mut slots = self.slots_mut()?;
        let slot = slots.entry(name.to_string()).or_default();
        slot.generation += 1;
        slot.layer = None;
        Ok(())
    }

    /// May the caller write (create or replace) the layer `name` of `kind`? A layer it may not
    /// read is answered like a missing one.
    pub fn authorize_write(
        &self,
        caller: &Caller,
        name: &str,
        kind: crate::model::LayerKind,
    ) -> Result<()> {
        self.authorized_version(caller, name, kind).map(|_| ())
    }

    /// [`Engine::authorize_write`], returning the version authorized against (its table; `None`
    /// for a new layer) for the writer to check under its lock.
    fn authorized_version(
        &self,
        caller: &Caller,
        name: &str,
        kind: crate::model::LayerKind,
    ) -> Result<Option<String>> {
        let policy = self.policy();
        let current = self.store.layer(name);
        match current {
            Ok(meta) => {
                if !policy.can_read_layer(caller, &meta) {
                    // As for a missing layer: without the create permission, the same refusal.
                    // A caller who may create learns only that the name is taken (one namespace).
                    if !policy.can_create_layer(caller, name, kind) {
                        return Err(Self::needs_create(&policy, name));
                    }
                    return Err(Error::Forbidden(format!(
                        "creating layer '{name}': the name is taken; choose another"
                    )));
                }
                if !policy.can_write_layer(caller, &meta) {
                    return Err(Error::Forbidden(format!(
                        "writing layer '{name}' (owned by {}; see `onemap acl show`)",
                        policy.owner_of(&meta).unwrap_or("the administrators")
                    )));
                }
                Ok(Some(meta.table))
            }
            Err(Error::UnknownLayer(_)) => {
                if policy.can_create_layer(caller, name, kind) {
                    Ok(None)
                } else {
                    Err(Self::needs_create(&policy, name))
                }
            }
            Err(e) => Err(e),
        }
    }

    fn needs_create(policy: &Policy, name: &str) -> Error {
        Error::Forbidden(format!(
            "creating layer '{name}' needs the create permission ({}; see `onemap acl show`)",
            policy.defaults.create.join(", ")
        ))
    }

    /// Write an analysis result layer derived from `sources` (the layers the analysis read), as
    /// [`Engine::write_layer`] does — only over a missing layer or an earlier result (never over
    /// data), and only when everyone who could read the result may read every source: a result
    /// must not republish a restricted layer's contents more widely.
    pub fn write_result_layer<'a, I, E>(
        &self,
        caller: &Caller,
        sources: impl IntoIterator<Item = &'a str>,
        layer: NewLayer,
        features: I,
        progress: impl FnMut(u64),
    ) -> Result<WriteReport>
    where
        I: IntoIterator<Item = std::result::Result<Feature, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Ok(meta) = self.store.layer(&layer.name)
            && !meta.source.starts_with(crate::analytics::RESULT_SOURCE)
        {
            // Hidden from the caller: answered as write_layer answers it.
            self.authorize_write(caller, &layer.name, layer.kind)?;
            return Err(Error::NotAResult(layer.name));
        }
        if !caller.is_operator() {
            let policy = self.policy();
            let owner = match self.store.layer(&layer.name) {
                Ok(meta) => policy.owner_of(&meta).map(str::to_string),
                Err(_) => caller.owner_name(),
            };
            for source in sources {
                let Ok(meta) = self.store.layer(source) else {
                    continue;
                };
                if !policy.readers_within(&layer.name, layer.kind, owner.as_deref(), &meta) {
                    return Err(Error::Forbidden(format!(
                        "publishing layer '{}': callers who may not read '{source}' could read it; give '{}' a read rule no wider than '{source}'s (`onemap acl`), or run without an output layer",
                        layer.name, layer.name
                    )));
                }
            }
        }
        self.write_layer(caller, "write_result", layer, features, progress)
    }

    /// Record an analysis run by `caller` (who must be allowed to run it), with who ran it and
    /// as whom, so that [`Engine::run_for`] can decide who may read the record back.
    pub fn record_run(&self, caller: &Caller, mut run: RunRecord) -> Result<i64> {
        self.authorize_analysis(caller, &run.kind)?;
        run.caller = caller.id.clone();
        let runner = serde_json::json!({
            "id": caller.id,
            "via": caller.via.as_str(),
            "roles": caller.roles,
            "department": caller.department,
        });
        match run.result.as_object_mut() {
            Some(o) => {
                o.insert("runner".into(), runner);
            }
            None => run.result = serde_json::json!({ "result": run.result, "runner": runner }),
        }
        self.store.record_run(&run)
    }

    /// A recorded run, if `caller` may read it: the operator; or the one who ran it (same id,
    /// same way of signing in) or an auditor, who — under the policy now in force — may read
    /// every layer the run read and sees at least every field its runner saw then (the record
    /// holds what its runner could see: anyone seeing less would read more than the policy gives
    /// them). `None` for a missing run and for one the caller may not read alike.
    pub fn run_for(&self, caller: &Caller, id: i64) -> Result<Option<StoredRun>> {
        let Some(run) = self.store.runs(Some(id), 1)?.pop() else {
            return Ok(None);
        };
        if caller.is_operator() {
            return Ok(Some(run));
        }
        let runner = runner_of(&run.record);
        let policy = self.policy();
        let same = runner.id.is_some() && runner.principal() == caller.principal();
        if !same && !policy.can_audit(caller) {
            return Ok(None);
        }
        for name in run.record.layer_versions.keys() {
            let Ok(meta) = self.store.layer(name) else {
                // Dropped since: what it held cannot be judged now.
                return Ok(None);
            };
            if !policy.can_read_layer(caller, &meta) {
                return Ok(None);
            }
            let (mine, theirs) = (
                policy.field_view(caller, &meta).visible,
                policy.field_view(&runner, &meta).visible,
            );
            if theirs.iter().zip(&mine).any(|(t, m)| *t && !*m) {
                return Ok(None);
            }
        }
        Ok(Some(run))
    }

    /// Access audit records, for a caller the policy lets read the audit; the reading is itself
    /// recorded.
    pub fn audit_records(&self, caller: &Caller, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        if !self.policy().can_audit(caller) {
            return Err(Error::Forbidden(
                "reading the access audit needs the audit role".into(),
            ));
        }
        let records = self.store.audit(query)?;
        self.record(self.event(caller, "audit_read").count(records.len() as u64))?;
        Ok(records)
    }

    /// Write a new version of a layer (see [`Store::write_layer`]) as `caller`: checked against
    /// the policy, recorded in the access audit in the same transaction, owned by the caller's
    /// department when it creates the layer. `action` names the write in the audit (`import`,
    /// `write_result`...). The next read loads the new version.
    pub fn write_layer<I, E>(
        &self,
        caller: &Caller,
        action: &str,
        layer: NewLayer,
        features: I,
        progress: impl FnMut(u64),
    ) -> Result<WriteReport>
    where
        I: IntoIterator<Item = std::result::Result<Feature, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let replaces = self.authorized_version(caller, &layer.name, layer.kind)?;
        let name = layer.name.clone();
        let audit = self
            .event(caller, action)
            .layer(&name)
            .detail(serde_json::json!({ "kind": layer.kind, "source": layer.source }));
        let report = self.store.write_layer_with(
            layer,
            features,
            progress,
            WriteExtras {
                owner: caller.owner_name(),
                audit: Some(audit),
                // The operator may write whatever is there by then; others only what they were
                // authorized to write.
                replaces: (!caller.is_operator()).then_some(replaces),
            },
        )?;
        self.forget(&name)?;
        Ok(report)
    }

    /// Drop a layer as `caller` (checked and audited).
    pub fn drop_layer(&self, caller: &Caller, name: &str) -> Result<LayerMeta> {
        let meta = self.store.layer(name)?;
        let policy = self.policy();
        if !policy.can_read_layer(caller, &meta) {
            return Err(Error::UnknownLayer(name.to_string()));
        }
        if !policy.can_write_layer(caller, &meta) {
            return Err(Error::Forbidden(format!("dropping layer '{name}'")));
        }
        let audit = self
            .event(caller, "drop")
            .layer(name)
            .count(meta.feature_count)
            .detail(serde_json::json!({ "version": meta.version }));
        let meta = self.store.drop_layer_with(name, Some(&audit))?;
        self.forget(name)?;
        Ok(meta)
    }

    /// May the caller run `analysis` (`approval`, `violations`, `landuse`)?
    pub fn authorize_analysis(&self, caller: &Caller, analysis: &str) -> Result<()> {
        if self.policy().can_run(caller, analysis) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("running the {analysis} analysis")))
        }
    }

    /// Which fields of `meta` the caller sees, and which are personal.
    pub fn field_view(&self, caller: &Caller, meta: &LayerMeta) -> FieldView {
        self.policy().field_view(caller, meta)
    }

    /// Per schema field of `meta`: may the caller see it?
    pub fn visible_fields(&self, caller: &Caller, meta: &LayerMeta) -> Vec<bool> {
        self.field_view(caller, meta).visible
    }

    /// An audit event by `caller`, with the route and query of the work it serves.
    pub fn event(&self, caller: &Caller, action: &str) -> AuditEvent {
        let mut e = AuditEvent::new(caller, action);
        if let Some(ctx) = crate::context::current() {
            e.route = ctx.route.clone();
            if let Some(q) = &ctx.query {
                e.detail = serde_json::json!({ "query": q });
            }
        }
        e
    }

    /// Record that `caller` was shown `count` features of `layer` with personal fields (when its
    /// view shows any; the operator's reads of its own store are not recorded). Fails when the
    /// record cannot be kept: the read must then not be answered.
    pub fn note_read(
        &self,
        caller: &Caller,
        meta: &LayerMeta,
        view: &FieldView,
        count: usize,
    ) -> Result<()> {
        if count == 0 || caller.is_operator() || !view.shows_personal() {
            return Ok(());
        }
        let personal: Vec<&str> = meta
            .schema
            .fields()
            .iter()
            .zip(view.visible.iter().zip(&view.personal))
            .filter(|(_, (v, p))| **v && **p)
            .map(|(f, _)| f.name.as_str())
            .collect();
        let mut e = self
            .event(caller, "read_personal")
            .layer(&meta.name)
            .count(count as u64);
        if let Some(o) = e.detail.as_object_mut() {
            o.insert("fields".into(), serde_json::json!(personal));
        } else {
            e.detail = serde_json::json!({ "fields": personal });
        }
        self.record(e)
    }

    /// Record an audit event: at once, or through the writer thread when one runs.
    pub fn record(&self, e: AuditEvent) -> Result<()> {
        if !self.audit.queued.load(std::sync::atomic::Ordering::Acquire) {
            return self.store.append_audit(std::slice::from_ref(&e));
        }
        let mut q = self.audit.events.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_QUEUED_AUDIT {
            return Err(Error::Audit(
                "the access audit cannot be written (store busy?); reads of personal data are refused until it can".into(),
            ));
        }
        q.push(e);
        Ok(())
    }

    /// Write queued audit records (a server calls this from its writer thread and at shutdown).
    /// Records that cannot be written stay queued for the next call.
    pub fn flush_audit(&self) -> Result<usize> {
        let batch: Vec<AuditEvent> = {
            let mut q = self.audit.events.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *q)
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match self.store.append_audit(&batch) {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut q = self.audit.events.lock().unwrap_or_else(|p| p.into_inner());
                let newer = std::mem::replace(&mut *q, batch);
                q.extend(newer);
                Err(e)
            }
        }
    }

    /// Queue personal-read records and write them from a thread every `every` (a server: reads
    /// do not wait for the store). The thread ends when the engine is dropped.
    pub fn start_audit_writer(self: &Arc<Self>, every: std::time::Duration) {
        self.audit
            .queued
            .store(true, std::sync::atomic::Ordering::Release);
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("onemap audit writer".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(engine) = weak.upgrade() else { break };
                    if let Err(e) = engine.flush_audit() {
                        tracing::warn!(error = %e, "audit records not written yet; retrying");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the audit writer; audit records are written at once");
            self.audit
                .queued
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }

    fn bind(
        &self,
        caller: &Caller,
        layer: &LoadedLayer,
        filter: Option<&Filter>,
    ) -> Result<Option<BoundFilter>> {
        let Some(f) = filter else { return Ok(None) };
        let view = self.field_view(caller, &layer.meta);
        let readable_field = |name: &str| {
            layer
                .meta
                .schema
                .index_of(name)
                .is_some_and(|k| view.visible.get(k).copied().unwrap_or(false))
        };
        for name in f.fields() {
            // A hidden field is refused with the same words as a missing one: the answer must
            // not tell the caller that it exists.
            if !readable_field(name) {
                let visible: Vec<&str> = layer
                    .meta
                    .schema
                    .fields()
                    .iter()
                    .zip(&view.visible)
                    .filter(|(_, v)| **v)
                    .map(|(fd, _)| fd.name.as_str())
                    .collect();
                return Err(Error::Filter(format!(
                    "unknown field '{name}' (fields: {})",
                    if visible.is_empty() {
                        "none".to_string()
                    } else {
                        visible.join(", ")
                    }
                )));
            }
        }
        Ok(Some(f.bind(&layer.meta.schema)?))
    }

    /// A layer the caller may read, its filter bound to the schema (fields the caller may not see
    /// are refused like missing ones) and the caller's field view: what analytics start from.
    pub fn bound_layer(
        &self,
        caller: &Caller,
        layer: &str,
        filter: Option<&Filter>,
    ) -> Result<BoundLayer> {
        let layer = self.layer_for(caller, layer)?;
        let filter = self.bind(caller, &layer, filter)?;
        let visible = self.visible_fields(caller, &layer.meta);
        Ok(BoundLayer {
            layer,
            filter,
            visible,
        })
    }

    /// Run a query on one layer.
    pub fn query(&self, caller: &Caller, layer: &str, q: &Query) -> Result<LayerHits> {
        let layer = self.layer_for(caller, layer)?;
        let bound = self.bind(caller, &layer, q.filter.as_ref())?;
        let (hits, matched) = query::run(&layer, q, bound.as_ref())?;
        let view = self.field_view(caller, &layer.meta);
        self.note_read(caller, &layer.meta, &view, hits.len())?;
        Ok(LayerHits {
            layer,
            hits,
            matched,
            visible: view.visible,
        })
    }

    /// One feature by id (`None` when the layer has no such feature).
    pub fn feature(&self, caller: &Caller, layer: &str, fid: i64) -> Result<Option<LayerHits>> {
        let layer = self.layer_for(caller, layer)?;
        let Some(index) = layer.index_of_fid(fid) else {
            return Ok(None);
        };
        let view = self.field_view(caller, &layer.meta);
        self.note_read(caller, &layer.meta, &view, 1)?;
        Ok(Some(LayerHits {
            matched: 1,
            hits: vec![crate::query::Hit {
                index,
                fid,
                distance_m: None,
            }],
            layer,
            visible: view.visible,
        }))
    }

    /// The `k` features of a layer nearest to a point (metres on the ellipsoid).
    pub fn nearest(
        &self,
        caller: &Caller,
        layer: &str,
        point: Point<f64>,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<LayerHits> {
        let layer = self.layer_for(caller, layer)?;
        let bound = self.bind(caller, &layer, filter)?;
        let hits = query::nearest(&layer, point, k, bound.as_ref())?;
        let view = self.field_view(caller, &layer.meta);
        self.note_read(caller, &layer.meta, &view, hits.len())?;
        Ok(LayerHits {
            layer,
            matched: hits.len(),
            hits,
            visible: view.visible,
        })
    }

    /// The features of a layer with a part inside `region` (polygonal), with those parts measured
    /// on the ellipsoid. Hits come in fid order, one per piece.
    pub fn overlay(
        &self,
        caller: &Caller,
        layer: &str,
        region: &geo::Geometry<f64>,
        filter: Option<&Filter>,
    ) -> Result<(LayerHits, Vec<query::overlay::Piece>)> {
        let (hits, pieces, view) = self.overlay_unrecorded(caller, layer, region, filter)?;
        self.note_read(caller, &hits.layer.meta, &view, hits.hits.len())?;
        Ok((hits, pieces))
    }

    fn overlay_unrecorded(
        &self,
        caller: &Caller,
        layer: &str,
        region: &geo::Geometry<f64>,
        filter: Option<&Filter>,
    ) -> Result<(LayerHits, Vec<query::overlay::Piece>, FieldView)> {
        let region = query::overlay::region_polygons(region)
            .ok_or_else(|| Error::Query("the region must be a polygon or multipolygon".into()))?;
        let layer = self.layer_for(caller, layer)?;
        let bound = self.bind(caller, &layer, filter)?;
        let pieces = query::overlay::intersections(&layer, &region, bound.as_ref())?;
        let view = self.field_view(caller, &layer.meta);
        let visible = view.visible.clone();
        let hits = pieces
            .iter()
            .map(|p| crate::query::Hit {
                index: p.index,
                fid: p.fid,
                distance_m: None,
            })
            .collect::<Vec<_>>();
        Ok((
            LayerHits {
                layer,
                matched: hits.len(),
                hits,
                visible,
            },
            pieces,
            view,
        ))
    }

    /// Area, length and count of a layer inside `region`, by the values of `group_by` (a field
    /// the caller may see), or all together.
    pub fn stats(
        &self,
        caller: &Caller,
        layer: &str,
        region: &geo::Geometry<f64>,
        group_by: Option<&str>,
    ) -> Result<std::collections::BTreeMap<String, query::overlay::ClassTotal>> {
        let (hits, pieces, view) = self.overlay_unrecorded(caller, layer, region, None)?;
        let field = match group_by {
            None => None,
            Some(name) => {
                let k = hits
                    .layer
                    .meta
                    .schema
                    .index_of(name)
                    .filter(|&k| hits.visible.get(k).copied().unwrap_or(false))
                    .ok_or_else(|| {
                        Error::Filter(format!(
                            "unknown field '{name}' (fields: {})",
                            hits.fields()
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                Some(k)
            }
        };
        let totals = query::overlay::totals_by(&hits.layer, &pieces, field);
        // Grouping by a personal field shows its values.
        if let Some(k) = field
            && view.personal.get(k).copied().unwrap_or(false)
        {
            let only = FieldView {
                visible: (0..view.visible.len()).map(|i| i == k).collect(),
                personal: view.personal.clone(),
            };
            self.note_read(caller, &hits.layer.meta, &only, totals.len())?;
        }
        Ok(totals)
    }

    /// Everything at a point across layers (all the caller may read when `layers` is `None`), one
    /// entry per layer that has hits, in catalog order.
    pub fn identify(
        &self,
        caller: &Caller,
        point: Point<f64>,
        layers: Option<&[String]>,
        tolerance_m: f64,
    ) -> Result<Vec<LayerHits>> {
        let names: Vec<String> = match layers {
            Some(l) => l.to_vec(),
            None => self
                .layers_for(caller)?
                .into_iter()
                .map(|m| m.name)
                .collect(),
        };
        let mut out = Vec::new();
        for name in names {
            let layer = self.layer_for(caller, &name)?;
            let hits = query::identify_layer(&layer, point, tolerance_m, None)?;
            if hits.is_empty() {
                continue;
            }
            let view = self.field_view(caller, &layer.meta);
            self.note_read(caller, &layer.meta, &view, hits.len())?;
            out.push(LayerHits {
                layer,
                matched: hits.len(),
                hits,
                visible: view.visible,
            });
        }
        Ok(out)
    }
}

/// Who ran a recorded run, from what [`Engine::record_run`] kept (older records: the id and
/// roles; records without either: the operator, who ran them from the command line).
fn runner_of(run: &RunRecord) -> Caller {
    let r = &run.result["runner"];
    let via = match r["via"].as_str() {
        Some("session") => Via::Session,
        Some("api_key") => Via::ApiKey,
        Some("token") => Via::Token,
        Some("gateway") => Via::Gateway,
        Some("anonymous") => Via::Anonymous,
        Some(_) => Via::Operator,
        None if run.caller.is_none() && run.result.get("caller_roles").is_none() => Via::Operator,
        None => Via::Gateway,
    };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let roles = if r.is_object() {
        strings(&r["roles"])
    } else {
        strings(&run.result["caller_roles"])
    };
    Caller {
        id: r["id"].as_str().map(str::to_string).or(run.caller.clone()),
        roles: roles.into_iter().collect(),
        department: r["department"].as_str().map(str::to_string),
        via,
    }
}
