//! onemap importers: read a GIS file, work out its schema and CRS, convert its features to lon/lat
//! and hand them to the engine's atomic layer write.
//!
//! Flow: [`formats`] (one module per file format) → [`infer`] (typed schema from the data) →
//! [`import::import_file`] (reprojection, checks, the engine write, the report).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod export;
pub mod formats;
pub mod fuzzing;
pub mod import;
pub mod infer;

pub use error::ImportError;
pub use import::{
    ImportOptions, ImportReport, OnInvalid, check_file, import_file, read_geometry_file,
    read_geometry_file_with,
};
