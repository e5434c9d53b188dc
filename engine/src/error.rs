//! Typed errors of the engine.
use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the spatial core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store file is held by another process (DuckDB allows one writer process per file).
    #[error(
        "the store {path} is in use by another process ({detail}); stop that process (e.g. `onemap serve`) or use another --db"
    )]
    Locked {
        /// Store path.
        path: PathBuf,
        /// What DuckDB said.
        detail: String,
    },
    /// The store file exists but is not an onemap store, or is damaged.
    #[error("cannot open store {path}: {detail}")]
    Open {
        /// Store path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The store was written by a newer onemap.
    #[error(
        "store format version {found} is newer than this onemap supports ({supported}); upgrade onemap"
    )]
    FormatVersion {
        /// Version in the file.
        found: i64,
        /// Version this build understands.
        supported: i64,
    },
    /// A layer name that the catalog does not have.
    #[error("no layer named '{0}' (see `onemap layers`)")]
    UnknownLayer(String),
    /// An analysis result would replace a layer that is not one.
    #[error("layer '{0}' exists and is not an analysis result: choose another output layer")]
    NotAResult(String),
    /// A layer name that cannot be used.
    #[error("invalid layer name '{name}': {reason}")]
    InvalidLayerName {
        /// The name.
        name: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An unknown layer kind.
    #[error("unknown layer kind '{0}' (expected one of: {kinds})", kinds = crate::model::LayerKind::NAMES.join(", "))]
    UnknownKind(String),
    /// A schema that cannot be stored (duplicate or reserved field names).
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// A feature whose properties do not fit the layer schema.
    #[error("feature {index}: field '{field}': {reason}")]
    InvalidFeature {
        /// 0-based index of the feature in the write.
        index: usize,
        /// Field name.
        field: String,
        /// Why the value was rejected.
        reason: String,
    },
    /// A geometry that cannot be stored or measured.
    #[error("feature {index}: invalid geometry: {reason}")]
    InvalidGeometry {
        /// 0-based feature index.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A filter expression that cannot be parsed or applied.
    #[error("invalid filter: {0}")]
    Filter(String),
    /// A query that cannot run as asked.
    #[error("invalid query: {0}")]
    Query(String),
    /// A rules file that cannot be used (syntax, unknown keys, bad values).
    #[error("invalid rules ({source_name}): {message}")]
    Rules {
        /// File name or other description of where the rules came from.
        source_name: String,
        /// What is wrong, naming the rule and key.
        message: String,
    },
    /// An analysis that cannot run as asked (bad input geometry, missing layer or field).
    #[error("analysis: {0}")]
    Analysis(String),
    /// The caller may not read a layer or field.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The caller may read the layer but not do this to it (write, run this analysis...).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The work was stopped: its time limit passed or its client went away.
    #[error("stopped: {0}")]
    Cancelled(String),
    /// A permission policy that cannot be used (syntax, unknown keys, bad principals).
    #[error("invalid access policy ({source_name}): {message}")]
    Policy {
        /// File name or other description of where the policy came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Accounts and keys: an unknown or disabled user, a weak password, a bad key...
    #[error("{0}")]
    Account(String),
    /// The access audit cannot be written (the read that needs it is refused) or does not verify.
    #[error("audit: {0}")]
    Audit(String),
    /// An unknown or unsupported coordinate reference system.
    #[error("unsupported CRS '{0}'")]
    UnsupportedCrs(String),
    /// A coordinate that cannot be transformed.
    #[error("coordinate transform failed: {0}")]
    Transform(String),
    /// A row in the store that cannot be decoded (corruption or a bug).
    #[error("store data error in layer '{layer}': {detail}")]
    Corrupt {
        /// Layer name.
        layer: String,
        /// What could not be decoded.
        detail: String,
    },
    /// The feature source given to a write failed; nothing was written.
    #[error("{0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// DuckDB failed.
    #[error("store error: {0}")]
    Db(#[from] duckdb::Error),
}

impl Error {
    /// True when the error was caused by the caller's input rather than by the store.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Db(_) | Error::Corrupt { .. } | Error::Cancelled(_) | Error::Audit(_)
        )
    }
}
