//! Coordinate reference systems and transforms: pure Rust (proj4rs) for the systems onemap models;
//! in a build with the `proj` feature, any other EPSG system through PROJ itself.
//!
//! Features are stored in longitude/latitude on CGCS2000 (EPSG:4490), which onemap treats as equal to
//! WGS84 (EPSG:4326) — PROJ does the same (a null transformation; the two differ by centimetres).
//! Coordinates are always handled in easting/northing (x = longitude) order, whatever axis order the
//! EPSG registry declares.
use std::fmt;

use geo::{Geometry, MapCoords};
use proj4rs::proj::Proj;

use crate::error::Error;

pub mod offset;
#[cfg(feature = "proj")]
mod proj_backend;
mod wkt;

/// CGCS2000 ellipsoid (GRS80) semi-major axis in metres.
pub const CGCS2000_A: f64 = 6_378_137.0;
/// CGCS2000 ellipsoid (GRS80) flattening.
pub const CGCS2000_F: f64 = 1.0 / 298.257_222_101;

/// A datum older than CGCS2000 that Chinese survey data still comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyDatum {
    /// Xi'an 1980 (IAU 1976 ellipsoid, a = 6378140, 1/f = 298.257).
    Xian80,
    /// Beijing 1954 (Krasovsky ellipsoid, a = 6378245, 1/f = 298.3).
    Beijing54,
}

impl LegacyDatum {
    fn ellipsoid(self) -> &'static str {
        match self {
            LegacyDatum::Xian80 => "+a=6378140 +rf=298.257",
            LegacyDatum::Beijing54 => "+ellps=krass",
        }
    }

    /// The shift to WGS84 used when the caller gives none. Beijing 1954: EPSG's 3-parameter
    /// "Beijing 1954 to WGS 84 (1)" (metre-level error). Xi'an 1980 has no published transformation:
    /// only the ellipsoid changes (tens of metres of error). Real work needs the local 7 parameters.
    fn default_towgs84(self) -> [f64; 7] {
        match self {
            LegacyDatum::Xian80 => [0.0; 7],
            LegacyDatum::Beijing54 => [15.8, -154.4, -82.3, 0.0, 0.0, 0.0, 0.0],
        }
    }
}

/// A coordinate reference system onemap knows how to transform.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Crs {
    /// Longitude/latitude in degrees: EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000).
    LonLat {
        /// 4326 or 4490.
        epsg: u32,
    },
    /// Web Mercator (EPSG:3857), metres.
    WebMercator,
    /// CGCS2000 3° Gauss–Krüger (EPSG:4513–4533 with zone prefix, 4534–4554 without), metres.
    GaussKruger {
        /// EPSG code.
        epsg: u32,
        /// Central meridian in degrees east.
        central_meridian: f64,
        /// False easting (500 000 m, plus zone × 1 000 000 m when the zone prefix is used).
        false_easting: f64,
    },
    /// Xi'an 1980 or Beijing 1954, geographic or 3° Gauss–Krüger (EPSG:4610, 2349–2390; 4214,
    /// 2401–2442), with a 7-parameter Helmert shift to WGS84 (position vector, metres and
    /// arc-seconds and ppm as PROJ's `+towgs84`).
    Legacy {
        /// The datum.
        datum: LegacyDatum,
        /// EPSG code.
        epsg: u32,
        /// Central meridian and false easting for Gauss–Krüger; `None` for lon/lat.
        gauss_kruger: Option<(f64, f64)>,
        /// The caller's shift to WGS84; `None` uses the datum's approximate default.
        towgs84: Option<[f64; 7]>,
    },
    /// GCJ-02 lon/lat (Amap, Tencent): WGS84 plus the national offset. Not an EPSG system.
    Gcj02,
    /// BD-09 lon/lat (Baidu): GCJ-02 plus Baidu's offset. Not an EPSG system.
    Bd09,
    /// Any other EPSG system, 2D geographic or projected, transformed by PROJ (only a build with
    /// the `proj` feature makes these).
    Other {
        /// EPSG code.
        epsg: u32,
        /// Longitude/latitude rather than projected.
        geographic: bool,
    },
}

/// An EPSG system onemap does not model: PROJ's, in a `proj` build.
#[cfg(feature = "proj")]
fn other_epsg(code: u32) -> Result<Crs, Error> {
    proj_backend::describe(code).map(|geographic| Crs::Other {
        epsg: code,
        geographic,
    })
}

#[cfg(not(feature = "proj"))]
fn other_epsg(code: u32) -> Result<Crs, Error> {
    Err(Error::UnsupportedCrs(format!("EPSG:{code}")))
}

fn zone_prefixed(code: u32, first: u32) -> (f64, f64) {
    let zone = f64::from(code - first + 25);
    (zone * 3.0, zone * 1_000_000.0 + 500_000.0)
}

fn central(code: u32, first: u32) -> (f64, f64) {
    (75.0 + 3.0 * f64::from(code - first), 500_000.0)
}

impl Crs {
    /// CGCS2000 geographic (EPSG:4490).
    pub const CGCS2000: Crs = Crs::LonLat { epsg: 4490 };
    /// WGS84 geographic (EPSG:4326).
    pub const WGS84: Crs = Crs::LonLat { epsg: 4326 };

    /// The CRS for an EPSG code, if supported.
    pub fn from_epsg(code: u32) -> Result<Crs, Error> {
        match code {
            4326 | 4490 => Ok(Crs::LonLat { epsg: code }),
            3857 | 900913 => Ok(Crs::WebMercator),
            // CGCS2000 / 3-degree Gauss-Kruger zone 25..45 (with zone prefix in the easting).
            4513..=4533 => {
                let zone = f64::from(code - 4513 + 25);
                Ok(Crs::GaussKruger {
                    epsg: code,
                    central_meridian: zone * 3.0,
                    false_easting: zone * 1_000_000.0 + 500_000.0,
                })
            }
            // CGCS2000 / 3-degree Gauss-Kruger CM 75E..135E (no zone prefix).
            4534..=4554 => Ok(Crs::GaussKruger {
                epsg: code,
                central_meridian: 75.0 + 3.0 * f64::from(code - 4534),
                false_easting: 500_000.0,
            }),
            4610 | 2349..=2390 | 4214 | 2401..=2442 => {
                let (datum, gauss_kruger) = match code {
                    4610 => (LegacyDatum::Xian80, None),
                    2349..=2369 => (LegacyDatum::Xian80, Some(zone_prefixed(code, 2349))),
                    2370..=2390 => (LegacyDatum::Xian80, Some(central(code, 2370))),
                    4214 => (LegacyDatum::Beijing54, None),
                    2401..=2421 => (LegacyDatum::Beijing54, Some(zone_prefixed(code, 2401))),
                    _ => (LegacyDatum::Beijing54, Some(central(code, 2422))),
                };
                Ok(Crs::Legacy {
                    datum,
                    epsg: code,
                    gauss_kruger,
                    towgs84: None,
                })
            }
            _ => other_epsg(code),
        }
    }

    /// Use these Helmert parameters (`dx,dy,dz` m, `rx,ry,rz` arc-seconds, `ds` ppm; position vector
    /// convention, as PROJ's `+towgs84`) to reach WGS84. Only Xi'an 1980 and Beijing 1954 take them.
    pub fn with_towgs84(self, params: [f64; 7]) -> Result<Crs, Error> {
        match self {
            Crs::Legacy {
                datum,
                epsg,
                gauss_kruger,
                ..
            } => {
                if params.iter().any(|p| !p.is_finite()) {
                    return Err(Error::UnsupportedCrs(format!(
                        "--towgs84 {params:?} has a non-number"
                    )));
                }
                Ok(Crs::Legacy {
                    datum,
                    epsg,
                    gauss_kruger,
                    towgs84: Some(params),
                })
            }
            other => Err(Error::UnsupportedCrs(format!(
                "{other} is already on CGCS2000/WGS84; --towgs84 applies to Xi'an 1980 and Beijing 1954 only"
            ))),
        }
    }

    /// Parse `dx,dy,dz,rx,ry,rz,ds` (or the first three) for [`Crs::with_towgs84`].
    pub fn parse_towgs84(s: &str) -> Result<[f64; 7], Error> {
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Error::UnsupportedCrs(format!(
                    "--towgs84 '{s}': expected 3 or 7 comma-separated numbers"
                ))
            })?;
        match v.len() {
            3 => Ok([v[0], v[1], v[2], 0.0, 0.0, 0.0, 0.0]),
            7 => Ok([v[0], v[1], v[2], v[3], v[4], v[5], v[6]]),
            n => Err(Error::UnsupportedCrs(format!(
                "--towgs84 '{s}': expected 3 or 7 numbers, got {n}"
            ))),
        }
    }

    /// True when the transform to WGS84 uses a default datum shift that is only good to metres (or
    /// tens of metres): a legacy datum without caller-supplied parameters.
    pub fn is_approximate(&self) -> bool {
        matches!(self, Crs::Legacy { towgs84: None, .. })
    }

    /// Parse `EPSG:4547`, `4547`, `urn:ogc:def:crs:EPSG::4547`,
    /// `http://www.opengis.net/def/crs/EPSG/0/4547` or `CRS84` / `OGC:CRS84`.
    pub fn parse(s: &str) -> Result<Crs, Error> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        match upper.replace(['-', '_', ' '], "").as_str() {
            "GCJ02" => return Ok(Crs::Gcj02),
            "BD09" | "BD09LL" => return Ok(Crs::Bd09),
            _ => {}
        }
        if upper == "CRS84" || upper.ends_with(":CRS84") || upper.ends_with("/CRS84") {
            return Ok(Crs::WGS84);
        }
        // EPSG:4547, urn:ogc:def:crs:EPSG::4547, urn:ogc:def:crs:EPSG:6.6:4547,
        // http://www.opengis.net/def/crs/EPSG/0/4547, or a bare code.
        let code = if upper.starts_with("URN:OGC:DEF:CRS:EPSG:") {
            upper.rsplit(':').next().unwrap_or_default()
        } else {
            upper
                .strip_prefix("EPSG:")
                .or_else(|| upper.rsplit_once("/EPSG/0/").map(|(_, c)| c))
                .unwrap_or(&upper)
        };
        let code: u32 = code
            .parse()
            .map_err(|_| Error::UnsupportedCrs(t.to_string()))?;
        Crs::from_epsg(code)
    }

    /// The CRS a WKT string (a Shapefile's `.prj`, a GeoPackage or FlatGeobuf header) describes:
    /// its EPSG authority, or its datum, projection and parameters. Unknown systems are errors.
    pub fn from_wkt(wkt: &str) -> Result<Crs, Error> {
        wkt::from_wkt(wkt)
    }

    /// The 3° Gauss–Krüger zone (no prefix, EPSG:4534–4554) whose central meridian is nearest `lon`.
    pub fn gauss_kruger_for(lon: f64) -> Result<Crs, Error> {
        let cm = (lon / 3.0).round() * 3.0;
        if !(75.0..=135.0).contains(&cm) {
            return Err(Error::UnsupportedCrs(format!(
                "no CGCS2000 3° Gauss–Krüger zone for longitude {lon}"
            )));
        }
        Crs::from_epsg(4534 + ((cm - 75.0) / 3.0) as u32)
    }

    /// The EPSG code (`None` for GCJ-02 and BD-09).
    pub fn epsg(&self) -> Option<u32> {
        match self {
            Crs::LonLat { epsg }
            | Crs::GaussKruger { epsg, .. }
            | Crs::Legacy { epsg, .. }
            | Crs::Other { epsg, .. } => Some(*epsg),
            Crs::WebMercator => Some(3857),
            Crs::Gcj02 | Crs::Bd09 => None,
        }
    }

    /// True for longitude/latitude systems.
    pub fn is_geographic(&self) -> bool {
        matches!(
            self,
            Crs::LonLat { .. }
                | Crs::Gcj02
                | Crs::Bd09
                | Crs::Legacy {
                    gauss_kruger: None,
                    ..
                }
                | Crs::Other {
                    geographic: true,
                    ..
                }
        )
    }

    /// The WKT 1 that PROJ writes for a system onemap does not model itself (`None` for the others,
    /// whose WKT the exporters write, and without the `proj` feature).
    pub fn proj_wkt(&self) -> Option<String> {
        match self {
            #[cfg(feature = "proj")]
            Crs::Other { epsg, .. } => proj_backend::wkt1(*epsg),
            _ => None,
        }
    }

    /// True when coordinates are CGCS2000/WGS84 lon/lat exactly as stored (no transform needed).
    pub fn is_storage_lonlat(&self) -> bool {
        matches!(self, Crs::LonLat { .. })
    }

    /// The PROJ string describing this CRS (GCJ-02 and BD-09: their WGS84 base; the offsets are
    /// applied outside PROJ; other EPSG systems: `EPSG:n`, which only PROJ itself reads).
    pub fn proj_string(&self) -> String {
        match self {
            Crs::Other { epsg, .. } => format!("EPSG:{epsg}"),
            // towgs84=0 gives PROJ.4-style datum handling a datum to shift legacy data onto.
            Crs::LonLat { .. } | Crs::Gcj02 | Crs::Bd09 => {
                "+proj=longlat +ellps=GRS80 +towgs84=0,0,0 +no_defs".to_string()
            }
            Crs::WebMercator => "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +no_defs".to_string(),
            Crs::GaussKruger {
                central_meridian,
                false_easting,
                ..
            } => format!(
                "+proj=tmerc +lat_0=0 +lon_0={central_meridian} +k=1 +x_0={false_easting} +y_0=0 +ellps=GRS80 +towgs84=0,0,0 +units=m +no_defs"
            ),
            Crs::Legacy {
                datum,
                gauss_kruger,
                towgs84,
                ..
            } => {
                let p = towgs84.unwrap_or_else(|| datum.default_towgs84());
                let shift = format!(
                    "+towgs84={},{},{},{},{},{},{}",
                    p[0], p[1], p[2], p[3], p[4], p[5], p[6]
                );
                match gauss_kruger {
                    None => format!("+proj=longlat {} {shift} +no_defs", datum.ellipsoid()),
                    Some((cm, fe)) => format!(
                        "+proj=tmerc +lat_0=0 +lon_0={cm} +k=1 +x_0={fe} +y_0=0 {} {shift} +units=m +no_defs",
                        datum.ellipsoid()
                    ),
                }
            }
        }
    }

    fn proj(&self) -> Result<Proj, Error> {
        Proj::from_proj_string(&self.proj_string())
            .map_err(|e| Error::Transform(format!("{self}: {e}")))
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Crs::Gcj02 => f.write_str("GCJ-02"),
            Crs::Bd09 => f.write_str("BD-09"),
            Crs::Legacy {
                epsg,
                towgs84: Some(p),
                ..
            } => write!(
                f,
                "EPSG:{epsg} +towgs84={},{},{},{},{},{},{}",
                p[0], p[1], p[2], p[3], p[4], p[5], p[6]
            ),
            other => write!(f, "EPSG:{}", other.epsg().unwrap_or_default()),
        }
    }
}

/// A non-EPSG offset applied before or after the PROJ step.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Offset {
    None,
    Gcj02,
    Bd09,
}

impl Offset {
    fn of(c: &Crs) -> Offset {
        match c {
            Crs::Gcj02 => Offset::Gcj02,
            Crs::Bd09 => Offset::Bd09,
            _ => Offset::None,
        }
    }

    /// From this system's coordinates to WGS84.
    fn remove(self, x: f64, y: f64) -> (f64, f64) {
        match self {
            Offset::None => (x, y),
            Offset::Gcj02 => offset::gcj02_to_wgs84(x, y),
            Offset::Bd09 => {
                let (gx, gy) = offset::bd09_to_gcj02(x, y);
                offset::gcj02_to_wgs84(gx, gy)
            }
        }
    }

    /// From WGS84 to this system's coordinates.
    fn apply(self, x: f64, y: f64) -> (f64, f64) {
        match self {
            Offset::None => (x, y),
            Offset::Gcj02 => offset::wgs84_to_gcj02(x, y),
            Offset::Bd09 => {
                let (gx, gy) = offset::wgs84_to_gcj02(x, y);
                offset::gcj02_to_bd09(gx, gy)
            }
        }
    }
}

/// The library doing a transform's datum and projection step.
enum Engine {
    /// proj4rs, for the systems onemap models.
    Proj4rs {
        src: Box<Proj>,
        dst: Box<Proj>,
        src_geo: bool,
        dst_geo: bool,
    },
    /// PROJ, when one side is a system only PROJ knows.
    #[cfg(feature = "proj")]
    Proj {
        from: String,
        to: String,
        key: String,
    },
}

/// A transform between two CRSs, in easting/northing (lon/lat) order.
pub struct Transform {
    engine: Engine,
    /// No datum or projection step: both sides are WGS84/CGCS2000 lon/lat once offsets are removed.
    identity: bool,
    pre: Offset,
    post: Offset,
}

/// How PROJ names a side of a transform. Stored lon/lat is WGS84 for PROJ: onemap treats CGCS2000
/// as WGS84 (so does PROJ, by a ballpark step), and WGS84 is the hub of `+towgs84` shifts, which
/// PROJ would skip when starting from CGCS2000 (found by the test against PROJ: 25 m off).
#[cfg(feature = "proj")]
fn proj_definition(c: &Crs) -> String {
    match c {
        Crs::LonLat { .. } | Crs::Gcj02 | Crs::Bd09 => "EPSG:4326".to_string(),
        // The caller's (or the default) Helmert shift travels in the PROJ string.
        Crs::Legacy { .. } => format!("{} +type=crs", c.proj_string()),
        other => format!("EPSG:{}", other.epsg().unwrap_or(4326)),
    }
}

impl Transform {
    /// A transform from `src` to `dst`.
    pub fn new(src: &Crs, dst: &Crs) -> Result<Transform, Error> {
        let base = |c: &Crs| matches!(c, Crs::LonLat { .. } | Crs::Gcj02 | Crs::Bd09);
        // CGCS2000 and WGS84 lon/lat are one system at onemap's precision (PROJ: noop).
        let identity = (base(src) && base(dst)) || src == dst;
        let other = |c: &Crs| matches!(c, Crs::Other { .. });
        let engine = if other(src) || other(dst) {
            Transform::proj_engine(src, dst)?
        } else {
            Engine::Proj4rs {
                src: Box::new(src.proj()?),
                dst: Box::new(dst.proj()?),
                src_geo: src.is_geographic(),
                dst_geo: dst.is_geographic(),
            }
        };
        Ok(Transform {
            engine,
            identity,
            pre: Offset::of(src),
            post: Offset::of(dst),
        })
    }

    #[cfg(feature = "proj")]
    fn proj_engine(src: &Crs, dst: &Crs) -> Result<Engine, Error> {
        let (from, to) = (proj_definition(src), proj_definition(dst));
        proj_backend::prepare(&from, &to)?;
        Ok(Engine::Proj {
            key: proj_backend::key(&from, &to),
            from,
            to,
        })
    }

    #[cfg(not(feature = "proj"))]
    fn proj_engine(src: &Crs, dst: &Crs) -> Result<Engine, Error> {
        Err(Error::Transform(format!(
            "{src} → {dst} needs PROJ: a build with the `proj` feature"
        )))
    }

    /// Run `f` with the datum/projection step (degrees in, degrees out for lon/lat sides).
    fn with_step<T>(
        &self,
        f: impl FnOnce(&dyn Fn(f64, f64) -> Result<(f64, f64), Error>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match &self.engine {
            Engine::Proj4rs {
                src,
                dst,
                src_geo,
                dst_geo,
            } => f(&|x, y| {
                let mut p = if *src_geo {
                    (x.to_radians(), y.to_radians(), 0.0)
                } else {
                    (x, y, 0.0)
                };
                proj4rs::transform::transform(src, dst, &mut p)
                    .map_err(|e| Error::Transform(format!("({x}, {y}): {e}")))?;
                Ok(if *dst_geo {
                    (p.0.to_degrees(), p.1.to_degrees())
                } else {
                    (p.0, p.1)
                })
            }),
            #[cfg(feature = "proj")]
            Engine::Proj { from, to, key } => proj_backend::with_transform(key, from, to, |p| {
                f(&|x, y| proj_backend::convert(p, x, y))
            }),
        }
    }

    /// From lon/lat (CGCS2000) to `dst`.
    pub fn from_lonlat(dst: &Crs) -> Result<Transform, Error> {
        Transform::new(&Crs::CGCS2000, dst)
    }

    /// From `src` to lon/lat (CGCS2000).
    pub fn to_lonlat(src: &Crs) -> Result<Transform, Error> {
        Transform::new(src, &Crs::CGCS2000)
    }

    /// One coordinate through the offsets and the step.
    fn one(
        &self,
        step: &dyn Fn(f64, f64) -> Result<(f64, f64), Error>,
        x: f64,
        y: f64,
    ) -> Result<(f64, f64), Error> {
        if !x.is_finite() || !y.is_finite() {
            return Err(Error::Transform(format!(
                "non-finite coordinate ({x}, {y})"
            )));
        }
        if self.identity && self.pre == self.post {
            return Ok((x, y));
        }
        let (x0, y0) = self.pre.remove(x, y);
        if self.identity {
            return Ok(self.post.apply(x0, y0));
        }
        let (x1, y1) = step(x0, y0)?;
        let out = self.post.apply(x1, y1);
        if out.0.is_finite() && out.1.is_finite() {
            Ok(out)
        } else {
            Err(Error::Transform(format!("({x}, {y}) has no image")))
        }
    }

    /// Transform one coordinate.
    pub fn apply(&self, x: f64, y: f64) -> Result<(f64, f64), Error> {
        self.with_step(|step| self.one(step, x, y))
    }

    /// Transform every coordinate of a geometry.
    pub fn geometry(&self, g: &Geometry<f64>) -> Result<Geometry<f64>, Error> {
        if self.identity && self.pre == self.post {
            return Ok(g.clone());
        }
        self.with_step(|step| {
            g.try_map_coords(|c| {
                self.one(step, c.x, c.y)
                    .map(|(x, y)| geo::coord! { x: x, y: y })
            })
        })
    }
}

#[cfg(test)]
mod tests;
