//! Tile addresses (`z/x/y`, XYZ scheme as used by MapLibre) and Web Mercator projection into tile
//! space.
use geo::{Coord, Rect};

use crate::error::{Error, Result};

/// The deepest zoom served. Beyond 24 a tile unit is below a millimetre at the equator.
pub const MAX_ZOOM: u8 = 24;

/// Latitude limit of Web Mercator (the square world).
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A tile address in the XYZ scheme (y grows southwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Zoom, 0..=24.
    pub z: u8,
    /// Column, 0..2^z.
    pub x: u32,
    /// Row, 0..2^z, from the north.
    pub y: u32,
}

impl TileId {
    /// A checked address: `z` at most [`MAX_ZOOM`], `x` and `y` inside `0..2^z`.
    pub fn new(z: u32, x: u64, y: u64) -> Result<TileId> {
        if z > u32::from(MAX_ZOOM) {
            return Err(Error::Query(format!(
                "zoom {z} is beyond the deepest zoom {MAX_ZOOM}"
            )));
        }
        let n = 1u64 << z;
        if x >= n || y >= n {
            return Err(Error::Query(format!(
                "tile {z}/{x}/{y} does not exist: x and y must be in 0..{n} at zoom {z}"
            )));
        }
        Ok(TileId {
            z: z as u8,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Number of tiles along one side at this zoom.
    pub fn tiles_per_side(self) -> f64 {
        (1u64 << self.z) as f64
    }

    /// The tile's bounds in lon/lat, grown by `buffer` (a fraction of the tile side) on each side
    /// and clamped to the Web Mercator world.
    pub fn lonlat_bounds(self, buffer: f64) -> Rect<f64> {
        let n = self.tiles_per_side();
        let x0 = (f64::from(self.x) - buffer) / n;
        let x1 = (f64::from(self.x) + 1.0 + buffer) / n;
        let y0 = (f64::from(self.y) - buffer) / n;
        let y1 = (f64::from(self.y) + 1.0 + buffer) / n;
        let (w, s) = world_to_lonlat(x0.max(0.0), y1.min(1.0));
        let (e, nn) = world_to_lonlat(x1.min(1.0), y0.max(0.0));
        Rect::new(Coord { x: w, y: s }, Coord { x: e, y: nn })
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Lon/lat (degrees) to the unit square of Web Mercator (x east, y south, both 0..1).
pub fn lonlat_to_world(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    (x, y)
}

/// The inverse of [`lonlat_to_world`].
pub fn world_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = x * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y))
        .sinh()
        .atan()
        .to_degrees();
    (lon, lat)
}

/// Projects lon/lat into one tile's integer-ready coordinate space (0..extent, y down).
#[derive(Debug, Clone, Copy)]
pub struct TileProjection {
    scale: f64,
    ox: f64,
    oy: f64,
}

impl TileProjection {
    /// The projection into `tile` with `extent` units per side.
    pub fn new(tile: TileId, extent: u32) -> TileProjection {
        let scale = tile.tiles_per_side() * f64::from(extent);
        TileProjection {
            scale,
            ox: f64::from(tile.x) * f64::from(extent),
            oy: f64::from(tile.y) * f64::from(extent),
        }
    }

    /// Tile coordinates of a lon/lat position (not rounded).
    pub fn project(&self, c: Coord<f64>) -> Coord<f64> {
        let (x, y) = lonlat_to_world(c.x, c.y);
        Coord {
            x: x * self.scale - self.ox,
            y: y * self.scale - self.oy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert!(TileId::new(0, 0, 0).is_ok());
        assert!(TileId::new(24, (1 << 24) - 1, 0).is_ok());
        assert!(TileId::new(25, 0, 0).is_err());
        assert!(TileId::new(3, 8, 0).is_err());
        assert!(TileId::new(3, 0, 8).is_err());
    }

    #[test]
    fn known_tile_of_xinzheng() {
        // 113.74E 34.40N at z14 lies in tile 13368/6522 (x = floor((lon+180)/360*2^14), y from
        // the Mercator formula), checked against an independent Python evaluation of the same formulas.
        let (x, y) = lonlat_to_world(113.74, 34.40);
        let n = f64::from(1u32 << 14);
        assert_eq!(((x * n).floor(), (y * n).floor()), (13368.0, 6522.0));
        // Round trip.
        let (lon, lat) = world_to_lonlat(x, y);
        assert!((lon - 113.74).abs() < 1e-12 && (lat - 34.40).abs() < 1e-12);
    }

    #[test]
    fn world_tile_bounds() {
        let b = TileId::new(0, 0, 0).unwrap().lonlat_bounds(0.0);
        assert!((b.min().x + 180.0).abs() < 1e-9 && (b.max().x - 180.0).abs() < 1e-9);
        assert!((b.max().y - MAX_LAT).abs() < 1e-9 && (b.min().y + MAX_LAT).abs() < 1e-9);
        // z1 tile 1/0 is the north-east quarter.
        let q = TileId::new(1, 1, 0).unwrap().lonlat_bounds(0.0);
        assert!(q.min().x.abs() < 1e-9 && q.min().y.abs() < 1e-9);
    }

    #[test]
    fn projection_puts_tile_corners_at_0_and_extent() {
        let t = TileId::new(14, 13368, 6522).unwrap();
        let p = TileProjection::new(t, 4096);
        let b = t.lonlat_bounds(0.0);
        let nw = p.project(Coord {
            x: b.min().x,
            y: b.max().y,
        });
        let se = p.project(Coord {
            x: b.max().x,
            y: b.min().y,
        });
        assert!(nw.x.abs() < 1e-6 && nw.y.abs() < 1e-6, "{nw:?}");
        assert!(
            (se.x - 4096.0).abs() < 1e-6 && (se.y - 4096.0).abs() < 1e-6,
            "{se:?}"
        );
    }
}
