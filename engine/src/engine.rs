//! The engine: a store plus its layers loaded and indexed in memory, and the access policy every
//! read goes through.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use geo::Point;

use crate::access::{AccessPolicy, AllowAll, Caller};
use crate::error::{Error, Result};
use crate::index::LoadedLayer;
use crate::model::{Feature, LayerMeta, NewLayer};
use crate::query::{self, BoundFilter, Filter, LayerHits, Query};
use crate::store::{Store, WriteReport};

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
    policy: Arc<dyn AccessPolicy>,
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
    /// An engine over a store that loads layers on first use. Everything is visible ([`AllowAll`]).
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            layers: RwLock::new(HashMap::new()),
            catalog: RwLock::new((0, None)),
            policy: Arc::new(AllowAll),
            loading: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Use another access policy.
    pub fn with_policy(mut self, policy: Arc<dyn AccessPolicy>) -> Engine {
        self.policy = policy;
        self
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

    /// The access policy.
    pub fn policy(&self) -> &dyn AccessPolicy {
        self.policy.as_ref()
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

    /// A layer the caller may read.
    pub fn layer_for(&self, caller: &Caller, name: &str) -> Result<Arc<LoadedLayer>> {
        let layer = self.layer(name)?;
        if !self.policy.can_read_layer(caller, &layer.meta) {
            // Same message as a missing layer would be a leak-free choice, but operators need to
            // know why; the caller only learns that the name exists.
            return Err(Error::AccessDenied(format!("layer '{name}'")));
        }
        Ok(layer)
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
        Ok(self
            .catalog()?
            .iter()
            .filter(|m| self.policy.can_read_layer(caller, m))
            .cloned()
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

    /// Write a new version of a layer (see [`Store::write_layer`]); the next read loads it.
    pub fn write_layer<I, E>(
        &self,
        layer: NewLayer,
        features: I,
        progress: impl FnMut(u64),
    ) -> Result<WriteReport>
    where
        I: IntoIterator<Item = std::result::Result<Feature, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let name = layer.name.clone();
        let report = self.store.write_layer(layer, features, progress)?;
        self.forget(&name)?;
        Ok(report)
    }

    /// Drop a layer.
    pub fn drop_layer(&self, name: &str) -> Result<LayerMeta> {
        let meta = self.store.drop_layer(name)?;
        self.forget(name)?;
        Ok(meta)
    }

    /// Per schema field of `meta`: may the caller see it?
    pub fn visible_fields(&self, caller: &Caller, meta: &LayerMeta) -> Vec<bool> {
        meta.schema
            .fields()
            .iter()
            .map(|f| self.policy.can_read_field(caller, meta, &f.name))
            .collect()
    }

    fn bind(
        &self,
        caller: &Caller,
        layer: &LoadedLayer,
        filter: Option<&Filter>,
    ) -> Result<Option<BoundFilter>> {
        let Some(f) = filter else { return Ok(None) };
        for name in f.fields() {
            // A hidden field is refused with the same words as a missing one: the answer must
            // not tell the caller that it exists.
            let readable =
                layer.meta.schema.field(name).is_some_and(|field| {
                    self.policy.can_read_field(caller, &layer.meta, &field.name)
                });
            if !readable {
                let visible: Vec<&str> = layer
                    .meta
                    .schema
                    .fields()
                    .iter()
                    .filter(|fd| self.policy.can_read_field(caller, &layer.meta, &fd.name))
                    .map(|fd| fd.name.as_str())
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
        let visible = self.visible_fields(caller, &layer.meta);
        Ok(LayerHits {
            layer,
            hits,
            matched,
            visible,
        })
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
        let visible = self.visible_fields(caller, &layer.meta);
        Ok(LayerHits {
            layer,
            matched: hits.len(),
            hits,
            visible,
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
        let region = query::overlay::region_polygons(region)
            .ok_or_else(|| Error::Query("the region must be a polygon or multipolygon".into()))?;
        let layer = self.layer_for(caller, layer)?;
        let bound = self.bind(caller, &layer, filter)?;
        let pieces = query::overlay::intersections(&layer, &region, bound.as_ref())?;
        let visible = self.visible_fields(caller, &layer.meta);
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
        let (hits, pieces) = self.overlay(caller, layer, region, None)?;
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
        Ok(query::overlay::totals_by(&hits.layer, &pieces, field))
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
            let visible = self.visible_fields(caller, &layer.meta);
            out.push(LayerHits {
                layer,
                matched: hits.len(),
                hits,
                visible,
            });
        }
        Ok(out)
    }
}
