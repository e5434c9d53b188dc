//! The data model: layers, their kinds and typed schemas, features and values.
mod feature;
mod kind;
mod layer;
mod schema;
mod value;

pub use feature::Feature;
pub use kind::LayerKind;
pub use layer::{GeometryType, LayerMeta, NewLayer, validate_layer_name};
pub use schema::{Field, FieldType, RESERVED_PREFIX, Schema};
pub use value::Value;
