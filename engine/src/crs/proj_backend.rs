//! Full PROJ (the `proj` feature): any EPSG system PROJ's database knows, transformed by PROJ
//! itself. The pure-Rust path (proj4rs) keeps the systems onemap models; this one adds the rest.
//!
//! `proj::Proj` is neither `Send` nor `Sync` (it owns a PROJ context), so a [`super::Transform`]
//! holds only the two CRS definitions and each thread builds its own PROJ transformation on first
//! use, kept per thread and per CRS pair.
use std::cell::RefCell;
use std::collections::HashMap;

use proj::Proj;
use proj::wkt::WktVersion;

use crate::error::Error;

thread_local! {
    static TRANSFORMS: RefCell<HashMap<String, Proj>> = RefCell::new(HashMap::new());
}

/// Is EPSG `code` a 2D geographic (`Ok(true)`) or projected (`Ok(false)`) system PROJ can take to
/// CGCS2000 lon/lat?
pub(super) fn describe(code: u32) -> Result<bool, Error> {
    let name = format!("EPSG:{code}");
    let unsupported = |why: String| Error::UnsupportedCrs(format!("{name}: {why}"));
    let crs = Proj::new(&name).map_err(|e| unsupported(format!("PROJ does not know it ({e})")))?;
    let wkt = crs
        .as_wkt(Some(WktVersion::Wkt2_2019), None)
        .map_err(|e| unsupported(e.to_string()))?;
    let geographic = if wkt.starts_with("GEOGCRS[") {
        true
    } else if wkt.starts_with("PROJCRS[") {
        false
    } else {
        let kind: String = wkt.chars().take_while(|c| *c != '[').collect();
        return Err(unsupported(format!(
            "a {kind}, not a 2D geographic or projected system"
        )));
    };
    if geographic && wkt.contains("AXIS[\"ellipsoidal height") {
        return Err(unsupported("a 3D system".into()));
    }
    Proj::new_known_crs(&name, "EPSG:4490", None)
        .map_err(|e| unsupported(format!("no transformation to CGCS2000 ({e})")))?;
    Ok(geographic)
}

/// PROJ's WKT 1 (GDAL flavour) of EPSG `code`, for files that carry one (GeoPackage, .prj).
pub(super) fn wkt1(code: u32) -> Option<String> {
    Proj::new(&format!("EPSG:{code}"))
        .ok()?
        .as_wkt(Some(WktVersion::Wkt1_Gdal), None)
        .ok()
}

/// The key of a CRS pair in the per-thread cache.
pub(super) fn key(from: &str, to: &str) -> String {
    format!("{from}\u{0}{to}")
}

/// Check that PROJ can build the transformation (on this thread; others build theirs lazily).
pub(super) fn prepare(from: &str, to: &str) -> Result<(), Error> {
    with_transform(&key(from, to), from, to, |_| Ok(()))
}

/// Run `f` with this thread's PROJ transformation from `from` to `to` (lon/lat in degrees,
/// easting/northing: PROJ's visualisation order).
pub(super) fn with_transform<T>(
    key: &str,
    from: &str,
    to: &str,
    f: impl FnOnce(&Proj) -> Result<T, Error>,
) -> Result<T, Error> {
    TRANSFORMS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if !cache.contains_key(key) {
            let p = Proj::new_known_crs(from, to, None)
                .map_err(|e| Error::Transform(format!("PROJ: {from} → {to}: {e}")))?;
            cache.insert(key.to_string(), p);
        }
        match cache.get(key) {
            Some(p) => f(p),
            None => Err(Error::Transform(format!("PROJ: {from} → {to}"))),
        }
    })
}

/// Transform one coordinate with a PROJ transformation.
pub(super) fn convert(p: &Proj, x: f64, y: f64) -> Result<(f64, f64), Error> {
    p.convert((x, y))
        .map_err(|e| Error::Transform(format!("({x}, {y}): PROJ: {e}")))
}
