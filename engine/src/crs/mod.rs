//! Coordinate reference systems and transforms (pure Rust, via proj4rs).
//!
//! Features are stored in longitude/latitude on CGCS2000 (EPSG:4490), which onemap treats as equal to
//! WGS84 (EPSG:4326) — PROJ does the same (a null transformation; the two differ by centimetres).
//! Coordinates are always handled in easting/northing (x = longitude) order, whatever axis order the
//! EPSG registry declares.
use std::fmt;

use geo::{Geometry, MapCoords};
use proj4rs::proj::Proj;

use crate::error::Error;

/// CGCS2000 ellipsoid (GRS80) semi-major axis in metres.
pub const CGCS2000_A: f64 = 6_378_137.0;
/// CGCS2000 ellipsoid (GRS80) flattening.
pub const CGCS2000_F: f64 = 1.0 / 298.257_222_101;

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
            _ => Err(Error::UnsupportedCrs(format!("EPSG:{code}"))),
        }
    }

    /// Parse `EPSG:4547`, `4547`, `urn:ogc:def:crs:EPSG::4547`,
    /// `http://www.opengis.net/def/crs/EPSG/0/4547` or `CRS84` / `OGC:CRS84`.
    pub fn parse(s: &str) -> Result<Crs, Error> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        if upper == "CRS84" || upper.ends_with("OGC:CRS84") || upper.ends_with("/OGC/1.3/CRS84") {
            return Ok(Crs::WGS84);
        }
        let code = upper
            .strip_prefix("EPSG:")
            .or_else(|| upper.strip_prefix("URN:OGC:DEF:CRS:EPSG::"))
            .or_else(|| upper.rsplit_once("/EPSG/0/").map(|(_, c)| c))
            .unwrap_or(&upper);
        let code: u32 = code
            .parse()
            .map_err(|_| Error::UnsupportedCrs(t.to_string()))?;
        Crs::from_epsg(code)
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

    /// The EPSG code.
    pub fn epsg(&self) -> u32 {
        match self {
            Crs::LonLat { epsg } | Crs::GaussKruger { epsg, .. } => *epsg,
            Crs::WebMercator => 3857,
        }
    }

    /// True for longitude/latitude systems.
    pub fn is_geographic(&self) -> bool {
        matches!(self, Crs::LonLat { .. })
    }

    /// The PROJ string describing this CRS.
    pub fn proj_string(&self) -> String {
        match self {
            Crs::LonLat { .. } => "+proj=longlat +ellps=GRS80 +no_defs".to_string(),
            Crs::WebMercator => "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +no_defs".to_string(),
            Crs::GaussKruger {
                central_meridian,
                false_easting,
                ..
            } => format!(
                "+proj=tmerc +lat_0=0 +lon_0={central_meridian} +k=1 +x_0={false_easting} +y_0=0 +ellps=GRS80 +units=m +no_defs"
            ),
        }
    }

    fn proj(&self) -> Result<Proj, Error> {
        Proj::from_proj_string(&self.proj_string())
            .map_err(|e| Error::Transform(format!("{self}: {e}")))
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EPSG:{}", self.epsg())
    }
}

/// A transform between two CRSs, in easting/northing (lon/lat) order.
pub struct Transform {
    src: Proj,
    dst: Proj,
    src_geo: bool,
    dst_geo: bool,
    identity: bool,
}

impl Transform {
    /// A transform from `src` to `dst`.
    pub fn new(src: &Crs, dst: &Crs) -> Result<Transform, Error> {
        Ok(Transform {
            src: src.proj()?,
            dst: dst.proj()?,
            src_geo: src.is_geographic(),
            dst_geo: dst.is_geographic(),
            // CGCS2000 and WGS84 lon/lat are one system at onemap's precision (PROJ: noop).
            identity: src.is_geographic() && dst.is_geographic() || src == dst,
        })
    }

    /// From lon/lat (CGCS2000) to `dst`.
    pub fn from_lonlat(dst: &Crs) -> Result<Transform, Error> {
        Transform::new(&Crs::CGCS2000, dst)
    }

    /// From `src` to lon/lat (CGCS2000).
    pub fn to_lonlat(src: &Crs) -> Result<Transform, Error> {
        Transform::new(src, &Crs::CGCS2000)
    }

    /// Transform one coordinate.
    pub fn apply(&self, x: f64, y: f64) -> Result<(f64, f64), Error> {
        if self.identity {
            return Ok((x, y));
        }
        if !x.is_finite() || !y.is_finite() {
            return Err(Error::Transform(format!(
                "non-finite coordinate ({x}, {y})"
            )));
        }
        let mut p = if self.src_geo {
            (x.to_radians(), y.to_radians(), 0.0)
        } else {
            (x, y, 0.0)
        };
        proj4rs::transform::transform(&self.src, &self.dst, &mut p)
            .map_err(|e| Error::Transform(format!("({x}, {y}): {e}")))?;
        let out = if self.dst_geo {
            (p.0.to_degrees(), p.1.to_degrees())
        } else {
            (p.0, p.1)
        };
        if out.0.is_finite() && out.1.is_finite() {
            Ok(out)
        } else {
            Err(Error::Transform(format!("({x}, {y}) has no image")))
        }
    }

    /// Transform every coordinate of a geometry.
    pub fn geometry(&self, g: &Geometry<f64>) -> Result<Geometry<f64>, Error> {
        if self.identity {
            return Ok(g.clone());
        }
        g.try_map_coords(|c| {
            self.apply(c.x, c.y)
                .map(|(x, y)| geo::coord! { x: x, y: y })
        })
    }
}

#[cfg(test)]
mod tests;
