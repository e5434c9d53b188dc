//! Bounds on how deeply a geometry's text or bytes may nest before any recursive parser sees
//! them. The WKT and WKB readers recurse once per level of `GEOMETRYCOLLECTION(...)`, so a few
//! kilobytes of `GEOMETRYCOLLECTION(` overflow a thread's stack and abort the whole process;
//! these checks walk the input without recursion and refuse it first. Real geometries nest two
//! or three levels; [`MAX_DEPTH`] leaves room for collections of collections.

/// Deepest nesting accepted (levels of brackets in WKT, of sub-geometries in WKB).
pub const MAX_DEPTH: usize = 32;

/// Refuse WKT whose brackets nest deeper than `max` (or do not balance).
pub fn check_wkt(text: &str, max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'(' => {
                depth += 1;
                if depth > max {
                    return Err(format!(
                        "the WKT nests more than {max} levels deep (a geometry nests two or three)"
                    ));
                }
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "the WKT closes a bracket it never opened".to_string())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// How a sub-geometry's body is read: by its own type (`Any`), or as its container dictates
/// whatever its header says (geozero reads every part of a MultiPolygon as a polygon, every part
/// of a MultiLineString as a line string...). The check walks exactly as the reader will, so the
/// counts it proves to fit are the counts the reader allocates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Any,
    Point,
    LineString,
    Polygon,
    /// CurvePolygon or Polygon (a MultiSurface's parts).
    Surface,
    /// LineString, CircularString or CompoundCurve.
    Curve,
    /// LineString or CircularString (a CompoundCurve's parts).
    Segment,
}

/// Refuse ISO/OGC WKB — as geozero's reader parses it: the 2D, Z, M and ZM variants, curves,
/// surfaces and TINs — whose sub-geometries nest deeper than `max`, or whose counts run past its
/// end (a count of 3 billion points in a 20-byte blob made the reader ask for 54 GB and abort the
/// process; found by `fuzz_wkb`). Walks the bytes with an explicit stack; returns the depth found.
pub fn check_wkb(bytes: &[u8], max: usize) -> Result<usize, String> {
    let end_err = || "the WKB ends inside a geometry".to_string();
    let u32_at = |at: usize, little: bool| -> Result<u32, String> {
        let s: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(end_err)?;
        Ok(if little {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    // `n` items of `size` bytes from `at`: where they end, if they fit.
    let fits = |at: usize, n: u32, size: usize| -> Result<usize, String> {
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(size))
            .and_then(|len| at.checked_add(len))
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| "a WKB count runs past the end of the geometry".to_string())
    };
    // Sub-geometries still to read at each level, and how to read them.
    let mut pending: Vec<(u32, Body)> = vec![(1, Body::Any)];
    let mut at = 0usize;
    let mut deepest = 0usize;
    while let Some(top) = pending.last_mut() {
        if top.0 == 0 {
            pending.pop();
            continue;
        }
        top.0 -= 1;
        let body = top.1;
        let depth = pending.len();
        deepest = deepest.max(depth);
        if depth > max {
            return Err(format!(
                "the geometry nests more than {max} levels deep (a geometry nests two or three)"
            ));
        }
        // The header: byte order (geozero takes any non-zero byte as little-endian), type.
        let little = *bytes.get(at).ok_or_else(end_err)? != 0;
        let type_id = u32_at(at + 1, little)?;
        at += 5;
        let (base, dims) = (type_id % 1000, type_id / 1000);
        let point =
            8 * (2 + usize::from(matches!(dims, 1 | 3)) + usize::from(matches!(dims, 2 | 3)));
        let kind = match body {
            Body::Any => base,
            Body::Point => 1,
            Body::LineString => 2,
            Body::Polygon => 3,
            Body::Surface if matches!(base, 3 | 10) => base,
            Body::Curve if matches!(base, 2 | 8 | 9) => base,
            Body::Segment if matches!(base, 2 | 8) => base,
            _ => return Err(format!("WKB type {base} where its container allows none")),
        };
        let count = |at: usize| u32_at(at, little);
        match kind {
            1 => at = fits(at, 1, point)?,
            2 | 8 => {
                let n = count(at)?;
                at = fits(at + 4, n, point)?;
            }
            3 | 17 => {
                let rings = count(at)?;
                at += 4;
                // Every ring is at least its count.
                fits(at, rings, 4)?;
                for _ in 0..rings {
                    let n = count(at)?;
                    at = fits(at + 4, n, point)?;
                }
            }
            4 | 5 | 6 | 7 | 9 | 10 | 11 | 12 | 15 | 16 => {
                let n = count(at)?;
                at += 4;
                // Each part takes at least its 5-byte header (and 4 bytes more).
                fits(at, n, 5)?;
                let parts = match kind {
                    4 => Body::Point,
                    5 => Body::LineString,
                    6 | 15 => Body::Polygon,
                    16 => Body::Polygon,
                    9 => Body::Segment,
                    10 | 11 => Body::Curve,
                    12 => Body::Surface,
                    _ => Body::Any,
                };
                pending.push((n, parts));
            }
            other => return Err(format!("unknown WKB geometry type {other}")),
        }
    }
    Ok(deepest)
}

/// Refuse a GeoPackage geometry blob (the `GP` header, then WKB) that nests too deep.
pub fn check_gpkg(blob: &[u8], max: usize) -> Result<usize, String> {
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return Err("not a GeoPackage geometry (no GP header)".into());
    }
    let envelope = match (blob[3] >> 1) & 0x07 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        other => return Err(format!("bad GeoPackage envelope code {other}")),
    };
    let start = 8 + envelope;
    if blob[3] & 0x10 != 0 && blob.len() <= start {
        // The empty-geometry flag with no WKB after the header.
        return Ok(0);
    }
    check_wkb(blob.get(start..).unwrap_or_default(), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_gc_wkb(levels: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..levels {
            b.push(1);
            b.extend_from_slice(&7u32.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
        }
        b.push(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1.0f64.to_le_bytes());
        b.extend_from_slice(&2.0f64.to_le_bytes());
        b
    }

    #[test]
    fn wkt_nesting_is_bounded_without_recursion() {
        assert!(check_wkt("POLYGON((0 0,1 0,1 1,0 0))", MAX_DEPTH).is_ok());
        assert!(check_wkt("GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(POINT(1 2)))", 3).is_ok());
        let deep = "GEOMETRYCOLLECTION(".repeat(100_000);
        let e = check_wkt(&deep, MAX_DEPTH).unwrap_err();
        assert!(e.contains("32 levels"), "{e}");
        assert!(check_wkt("POINT(1 2))", MAX_DEPTH).is_err());
    }

    #[test]
    fn wkb_nesting_is_bounded_and_agrees_with_the_encoder() {
        let g = geo::Geometry::GeometryCollection(
            geo::wkt!(GEOMETRYCOLLECTION(POINT(1. 2.),LINESTRING(0. 0.,1. 1.),POLYGON((0. 0.,1. 0.,1. 1.,0. 0.)))),
        );
        let wkb = crate::geometry::to_wkb(&g).unwrap();
        assert_eq!(check_wkb(&wkb, MAX_DEPTH), Ok(2));
        let mp: geo::Geometry<f64> =
            geo::wkt!(MULTIPOLYGON(((0. 0.,1. 0.,1. 1.,0. 0.)),((5. 5.,6. 5.,6. 6.,5. 5.)))).into();
        assert_eq!(
            check_wkb(&crate::geometry::to_wkb(&mp).unwrap(), MAX_DEPTH),
            Ok(2)
        );
        assert_eq!(check_wkb(&nested_gc_wkb(10), MAX_DEPTH), Ok(11));
        assert!(
            check_wkb(&nested_gc_wkb(100_000), MAX_DEPTH)
                .unwrap_err()
                .contains("levels deep")
        );
        // Counts that lie about the length, truncation, garbage.
        let mut lying = nested_gc_wkb(1);
        lying[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(check_wkb(&lying, MAX_DEPTH).is_err());
        assert!(check_wkb(&wkb[..wkb.len() - 3], MAX_DEPTH).is_err());
        assert!(check_wkb(&[7, 1, 2], MAX_DEPTH).is_err());
        // A MultiPolygon whose part says "point": geozero reads it as a polygon anyway, its
        // ring count from the point's x (3 billion rings, 54 GB asked for). Checked as read.
        let mut b = vec![1u8];
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&f64::from_bits(0xC000_0000_C000_0000).to_le_bytes());
        b.extend_from_slice(&2.0f64.to_le_bytes());
        assert!(check_wkb(&b, MAX_DEPTH).unwrap_err().contains("runs past"));
        assert!(check_wkb(&[], MAX_DEPTH).is_err());
    }
}
