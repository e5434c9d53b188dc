//! Geometry helpers: measurement in metres, distances, WKB, and basic sanity checks.
mod measure;
mod metric;
pub mod nesting;
mod sanity;
mod validity;
mod wkb;

pub use measure::{AreaMethod, Measure, area_m2, planar_area_m2};
pub use metric::{MetricFrame, expand_rect_by_metres};
pub use sanity::{LONLAT_NOISE, check_lonlat, clamp_lonlat_noise};
pub use validity::{has_self_intersection, invalid_reason, repair_polygonal};
pub use wkb::{from_wkb, to_wkb};
