//! Queries against loaded layers: spatial predicates, attribute filters, paging with a stable order.
mod cql2;
mod exec;
mod filter;
pub mod overlay;

use geo::{Geometry, Rect};

pub use exec::{LayerHits, identify_layer, nearest, run};
pub use filter::{
    BoundFilter, CmpOp, Filter, GEOMETRY_PROPERTY, MAX_FILTER_BYTES, SpatialOp, SpatialProbe,
};

/// A spatial predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Spatial {
    /// Geometry intersects the lon/lat rectangle (OGC API `bbox` semantics).
    Bbox(Rect<f64>),
    /// Geometry intersects this lon/lat geometry (exact, like `ST_Intersects`).
    Intersects(Geometry<f64>),
    /// Geometry lies within `metres` of this geometry (like `ST_DWithin` on geography).
    DWithin {
        /// Reference geometry (lon/lat).
        geometry: Geometry<f64>,
        /// Distance in metres.
        metres: f64,
    },
}

/// A query on one layer. Results are ordered by feature id (nearest: by distance, then id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Spatial predicate, if any.
    pub spatial: Option<Spatial>,
    /// Attribute filter, if any.
    pub filter: Option<Filter>,
    /// At most this many features (after `offset`).
    pub limit: Option<usize>,
    /// Skip this many matching features.
    pub offset: usize,
}

impl Query {
    /// Every feature.
    pub fn all() -> Query {
        Query::default()
    }

    /// Features intersecting a lon/lat rectangle.
    pub fn bbox(minx: f64, miny: f64, maxx: f64, maxy: f64) -> Query {
        Query {
            spatial: Some(Spatial::Bbox(Rect::new(
                geo::coord! { x: minx, y: miny },
                geo::coord! { x: maxx, y: maxy },
            ))),
            ..Query::default()
        }
    }

    /// Features intersecting a geometry.
    pub fn intersects(g: Geometry<f64>) -> Query {
        Query {
            spatial: Some(Spatial::Intersects(g)),
            ..Query::default()
        }
    }

    /// Features within `metres` of a geometry.
    pub fn dwithin(g: Geometry<f64>, metres: f64) -> Query {
        Query {
            spatial: Some(Spatial::DWithin {
                geometry: g,
                metres,
            }),
            ..Query::default()
        }
    }

    /// Add (AND) an attribute filter.
    pub fn filter(mut self, f: Filter) -> Query {
        self.filter = Some(match self.filter.take() {
            None => f,
            Some(Filter::And(mut v)) => {
                v.push(f);
                Filter::And(v)
            }
            Some(g) => Filter::And(vec![g, f]),
        });
        self
    }

    /// Page: skip `offset`, return at most `limit`.
    pub fn page(mut self, offset: usize, limit: usize) -> Query {
        self.offset = offset;
        self.limit = Some(limit);
        self
    }
}

/// One matching feature: its position in the loaded layer and, for distance queries, the distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position in the loaded layer (see [`crate::index::LoadedLayer`]).
    pub index: u32,
    /// Feature id.
    pub fid: i64,
    /// Distance in metres (nearest and within-distance queries).
    pub distance_m: Option<f64>,
}
