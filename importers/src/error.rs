//! Import errors: each names the file and, where there is one, the feature index and field.
use std::path::PathBuf;

/// What can go wrong reading a file into a layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file's format is not one onemap reads (yet).
    #[error("{path}: unsupported format '{ext}' (supported: {supported})", supported = crate::formats::SUPPORTED)]
    UnsupportedFormat {
        /// File.
        path: PathBuf,
        /// Extension seen.
        ext: String,
    },
    /// The file is not valid in its format.
    #[error("{path}: {reason}")]
    Malformed {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One feature cannot be read.
    #[error("{path}: feature {index}: {reason}")]
    Feature {
        /// File.
        path: PathBuf,
        /// 0-based feature index in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// One property of one feature does not fit the schema.
    #[error("{path}: feature {index}: field '{field}': {reason}")]
    Property {
        /// File.
        path: PathBuf,
        /// 0-based feature index.
        index: usize,
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Features with invalid geometry, under `--on-invalid fail`.
    #[error("{path}: {count} invalid geometr{plural}: {first}{more} (--on-invalid repair imports them made valid, each listed; --on-invalid skip leaves them out)", plural = if *count == 1 { "y" } else { "ies" }, more = if *count > 1 { format!("; also features {}", rest.join(", ")) } else { String::new() })]
    InvalidGeometries {
        /// File.
        path: PathBuf,
        /// How many features are invalid.
        count: usize,
        /// The first one: `feature N: reason`.
        first: String,
        /// Indices of (up to 20 of) the others.
        rest: Vec<String>,
    },
    /// The file's CRS is unknown or unsupported.
    #[error("{path}: {reason}")]
    Crs {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The engine refused the layer (name, schema, geometry, store).
    #[error("{path}: {source}")]
    Engine {
        /// File.
        path: PathBuf,
        /// Engine error.
        source: onemap_engine::Error,
    },
}

impl ImportError {
    /// True when the input (file or options) is at fault rather than the store.
    pub fn is_user_error(&self) -> bool {
        match self {
            ImportError::Engine { source, .. } => source.is_user_error(),
            _ => true,
        }
    }
}
