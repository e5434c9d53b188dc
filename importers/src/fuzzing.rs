//! Fuzz targets for the readers a network client reaches through `/analysis/redline`: the bytes
//! of an upload in each format, read with the upload limits. Each must end with a geometry or an
//! error — never a panic, a stack overflow or unbounded memory. Driven by `importers/tests/fuzz.rs`
//! (bolero) and `scripts/fuzz.sh`.
#![doc(hidden)]

use crate::formats::InputLimits;

/// Read `data` as an upload with this extension (`geojson`, `csv`, `zip`, `gpkg`, `fgb`).
pub fn upload(ext: &str, data: &[u8]) {
    let Ok(file) = tempfile::Builder::new()
        .prefix("onemap-fuzz-")
        .suffix(&format!(".{ext}"))
        .tempfile()
    else {
        return;
    };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    let _ = crate::read_geometry_file_with(file.path(), None, &InputLimits::upload());
}

/// A Shapefile from its three parts (the zip path unpacks them to exactly this).
pub fn shapefile(shp: &[u8], shx: &[u8], dbf: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    for (ext, bytes) in [("shp", shp), ("shx", shx), ("dbf", dbf)] {
        if std::fs::write(dir.path().join(format!("a.{ext}")), bytes).is_err() {
            return;
        }
    }
    let _ = crate::read_geometry_file_with(&dir.path().join("a.shp"), None, &InputLimits::upload());
}
