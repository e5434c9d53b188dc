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

/// Read a u32 in the byte order of the WKB's current geometry.
fn u32_at(b: &[u8], at: usize, little: bool) -> Result<u32, String> {
    let s: [u8; 4] = b
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "the WKB ends inside a geometry".to_string())?;
    Ok(if little {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

/// Refuse WKB (ISO, extended or OGC; the 2D/Z/M/ZM variants, curves included) whose
/// sub-geometries nest deeper than `max`, or whose counts run past its end. Walks the bytes with
/// an explicit stack; returns the depth found.
pub fn check_wkb(bytes: &[u8], max: usize) -> Result<usize, String> {
    // Each stack entry: sub-geometries still to read at that level.
    let mut pending: Vec<u64> = vec![1];
    let mut at = 0usize;
    let mut deepest = 0usize;
    while let Some(left) = pending.last_mut() {
        if *left == 0 {
            pending.pop();
            continue;
        }
        *left -= 1;
        let depth = pending.len();
        deepest = deepest.max(depth);
        if depth > max {
            return Err(format!(
                "the geometry nests more than {max} levels deep (a geometry nests two or three)"
            ));
        }
        let order = *bytes
            .get(at)
            .ok_or_else(|| "the WKB ends inside a geometry".to_string())?;
        let little = match order {
            0 => false,
            1 => true,
            other => return Err(format!("bad WKB byte order {other} at byte {at}")),
        };
        let raw = u32_at(bytes, at + 1, little)?;
        at += 5;
        // Extended WKB flags (PostGIS): Z, M, SRID.
        let (ewkb_z, ewkb_m, srid) = (
            raw & 0x8000_0000 != 0,
            raw & 0x4000_0000 != 0,
            raw & 0x2000_0000 != 0,
        );
        if srid {
            at += 4;
        }
        let code = raw & 0x0fff_ffff;
        let (base, iso_dims) = (code % 1000, code / 1000);
        let dims = 2
            + usize::from(ewkb_z || iso_dims == 1 || iso_dims == 3)
            + usize::from(ewkb_m || iso_dims == 2 || iso_dims == 3);
        let point = 8 * dims;
        let count =
            |at: usize| -> Result<u64, String> { Ok(u64::from(u32_at(bytes, at, little)?)) };
        let skip = |at: usize, n: u64, size: usize| -> Result<usize, String> {
            let len = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(size))
                .ok_or_else(|| "a WKB count is too large".to_string())?;
            let end = at
                .checked_add(len)
                .filter(|e| *e <= bytes.len())
                .ok_or_else(|| "the WKB ends inside a geometry".to_string())?;
            Ok(end)
        };
        match base {
            // Point
            1 => at = skip(at, 1, point)?,
            // LineString, CircularString
            2 | 8 => {
                let n = count(at)?;
                at = skip(at + 4, n, point)?;
            }
            // Polygon, Triangle: rings of points
            3 | 17 => {
                let rings = count(at)?;
                at += 4;
                for _ in 0..rings {
                    let n = count(at)?;
                    at = skip(at + 4, n, point)?;
                }
            }
            // Multi*, GeometryCollection, CompoundCurve, CurvePolygon, MultiCurve, MultiSurface,
            // PolyhedralSurface, TIN: a count of whole sub-geometries.
            4..=7 | 9..=12 | 15 | 16 => {
                let n = count(at)?;
                at += 4;
                // Each sub-geometry takes at least 5 bytes: a count beyond that is a lie.
                if n > (bytes.len().saturating_sub(at) / 5 + 1) as u64 {
                    return Err("a WKB count runs past the end of the geometry".into());
                }
                pending.push(n);
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
        assert!(check_wkb(&[], MAX_DEPTH).is_err());
    }
}
