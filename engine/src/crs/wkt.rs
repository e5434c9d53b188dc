//! Recognising a CRS from WKT: ESRI WKT in a Shapefile's `.prj`, OGC WKT1 in GeoPackage and
//! FlatGeobuf headers. We do not implement WKT in general: we read the top-level `AUTHORITY`, or
//! else the datum, the projection and its parameters, and map them onto the systems onemap knows
//! (CGCS2000 / Xi'an 1980 / Beijing 1954 geographic and 3° Gauss–Krüger, WGS84, Web Mercator).
//! Anything else is an error naming what was found, never a guess.
use super::Crs;
use crate::error::Error;

/// A WKT node: keyword and arguments (quoted strings, numbers or nested nodes).
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Number(f64),
    Tree(String, Vec<Node>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 32 {
            return Err("nested too deeply".into());
        }
        self.ws();
        let start = self.i;
        match self.s.get(self.i) {
            Some(b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err("unterminated string".into()),
                        Some(b'"') if self.s.get(self.i + 1) == Some(&b'"') => {
                            out.push(b'"');
                            self.i += 2;
                        }
                        Some(b'"') => {
                            self.i += 1;
                            break;
                        }
                        Some(c) => {
                            out.push(*c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Node::Text(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' || *c == b'+' || *c == b'.' => {
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || b"+-.eE".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                t.parse()
                    .map(Node::Number)
                    .map_err(|_| format!("bad number '{t}'"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
                {
                    self.i += 1;
                }
                let kw = String::from_utf8_lossy(&self.s[start..self.i]).to_ascii_uppercase();
                self.ws();
                let open = self.s.get(self.i).copied();
                if open != Some(b'[') && open != Some(b'(') {
                    // A bare keyword (an axis direction such as NORTH).
                    return Ok(Node::Text(kw));
                }
                let close = if open == Some(b'[') { b']' } else { b')' };
                self.i += 1;
                let mut args = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&close) {
                        self.i += 1;
                        break;
                    }
                    args.push(self.node(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(c) if *c == close => {}
                        Some(c) => {
                            return Err(format!("unexpected '{}' at {}", *c as char, self.i));
                        }
                        None => return Err("unexpected end".into()),
                    }
                }
                Ok(Node::Tree(kw, args))
            }
            Some(c) if c.is_ascii_graphic() => {
                Err(format!("unexpected '{}' at byte {}", *c as char, self.i))
            }
            Some(c) => Err(format!("unexpected byte {c:#04x} at {}", self.i)),
            None => Err("empty".into()),
        }
    }
}

impl Node {
    fn children<'a, 'k>(&'a self, kw: &'k str) -> impl Iterator<Item = &'a Node> + use<'a, 'k> {
        let args: &[Node] = match self {
            Node::Tree(_, a) => a,
            _ => &[],
        };
        args.iter()
            .filter(move |n| matches!(n, Node::Tree(k, _) if k == kw))
    }

    fn child(&self, kw: &str) -> Option<&Node> {
        self.children(kw).next()
    }

    fn name(&self) -> Option<&str> {
        match self {
            Node::Tree(_, a) => match a.first() {
                Some(Node::Text(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    fn number(&self, i: usize) -> Option<f64> {
        match self {
            Node::Tree(_, a) => match a.get(i) {
                Some(Node::Number(n)) => Some(*n),
                Some(Node::Text(t)) => t.parse().ok(),
                _ => None,
            },
            _ => None,
        }
    }

    /// `AUTHORITY["EPSG","4547"]` (WKT1) or `ID["EPSG",4547]` (WKT2) directly under this node.
    fn epsg(&self) -> Option<u32> {
        let a = self.child("AUTHORITY").or_else(|| self.child("ID"))?;
        if !a.name()?.eq_ignore_ascii_case("EPSG") {
            return None;
        }
        match a {
            Node::Tree(_, args) => match args.get(1) {
                Some(Node::Text(t)) => t.parse().ok(),
                Some(Node::Number(n)) => Some(*n as u32),
                _ => None,
            },
            _ => None,
        }
    }

    fn parameter(&self, names: &[&str]) -> Option<f64> {
        self.children("PARAMETER").find_map(|p| {
            let n = p.name()?.to_ascii_lowercase().replace(' ', "_");
            names.contains(&n.as_str()).then(|| p.number(1)).flatten()
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Datum {
    Cgcs2000,
    Wgs84,
    Xian80,
    Beijing54,
}

fn datum_of(name: &str) -> Option<Datum> {
    let n = name.to_ascii_lowercase().replace([' ', '-', '\''], "_");
    if n.contains("china_2000")
        || n.contains("cgcs2000")
        || n.contains("china_geodetic_coordinate_system_2000")
    {
        Some(Datum::Cgcs2000)
    } else if n.contains("xian_1980") || n.contains("xi_an_1980") || n.contains("xian80") {
        Some(Datum::Xian80)
    } else if n.contains("beijing_1954") || n.contains("beijing54") {
        Some(Datum::Beijing54)
    } else if n.contains("wgs_1984") || n.contains("wgs_84") || n.contains("wgs84") {
        Some(Datum::Wgs84)
    } else {
        None
    }
}

/// The onemap CRS a WKT string describes.
pub fn from_wkt(wkt: &str) -> Result<Crs, Error> {
    // Notepad and some exporters start .prj files with a byte-order mark.
    let wkt = wkt.trim().trim_start_matches('\u{feff}').trim();
    let short: String = wkt.chars().take(120).collect();
    let ellipsis = if wkt.chars().count() > 120 { "…" } else { "" };
    let unsupported = |why: &str| Error::UnsupportedCrs(format!("{why} in WKT {short}{ellipsis}"));
    let root = Parser {
        s: wkt.as_bytes(),
        i: 0,
    }
    .node(0)
    .map_err(|e| unsupported(&format!("unreadable ({e})")))?;
    if let Some(code) = root.epsg() {
        return Crs::from_epsg(code);
    }
    let Node::Tree(kind, _) = &root else {
        return Err(unsupported("no CRS"));
    };
    let geogcs = if kind == "GEOGCS" || kind == "GEOGCRS" {
        Some(&root)
    } else {
        root.child("GEOGCS").or_else(|| root.child("BASEGEOGCRS"))
    };
    let datum_name = geogcs
        .and_then(|g| g.child("DATUM"))
        .and_then(Node::name)
        .or_else(|| geogcs.and_then(Node::name))
        .unwrap_or_default();
    let datum = datum_of(datum_name)
        .or_else(|| root.name().and_then(datum_of))
        .ok_or_else(|| unsupported(&format!("unknown datum '{datum_name}'")))?;
    match kind.as_str() {
        "GEOGCS" | "GEOGCRS" => Crs::from_epsg(match datum {
            Datum::Cgcs2000 => 4490,
            Datum::Wgs84 => 4326,
            Datum::Xian80 => 4610,
            Datum::Beijing54 => 4214,
        }),
        "PROJCS" | "PROJCRS" => {
            let projection = root
                .child("PROJECTION")
                .or_else(|| root.child("CONVERSION").and_then(|c| c.child("METHOD")))
                .and_then(Node::name)
                .unwrap_or_default()
                .to_ascii_lowercase()
                .replace(' ', "_");
            let params = root.child("CONVERSION").unwrap_or(&root);
            if projection.contains("mercator_auxiliary_sphere")
                || projection.contains("pseudo_mercator")
                || root
                    .name()
                    .is_some_and(|n| n.contains("Web_Mercator") || n.contains("Pseudo-Mercator"))
            {
                return Ok(Crs::WebMercator);
            }
            if !(projection.contains("gauss_kruger") || projection.contains("transverse_mercator"))
            {
                return Err(unsupported(&format!(
                    "projection '{projection}' is not Gauss–Krüger"
                )));
            }
            let cm = params
                .parameter(&[
                    "central_meridian",
                    "longitude_of_natural_origin",
                    "longitude_of_origin",
                ])
                .ok_or_else(|| unsupported("no central meridian"))?;
            let fe = params.parameter(&["false_easting"]).unwrap_or(0.0);
            let fn_ = params.parameter(&["false_northing"]).unwrap_or(0.0);
            let k = params
                .parameter(&["scale_factor", "scale_factor_at_natural_origin"])
                .unwrap_or(1.0);
            let lat0 = params
                .parameter(&["latitude_of_origin", "latitude_of_natural_origin"])
                .unwrap_or(0.0);
            if fn_ != 0.0 || (k - 1.0).abs().is_nan() || (k - 1.0).abs() > 1e-12 || lat0 != 0.0 {
                return Err(unsupported(&format!(
                    "a Gauss–Krüger variant (false northing {fn_}, scale {k}, latitude of origin {lat0})"
                )));
            }
            let zone3 = cm / 3.0;
            if zone3.fract() != 0.0 || !(75.0..=135.0).contains(&cm) {
                return Err(unsupported(&format!(
                    "central meridian {cm}° is not on a 3° zone"
                )));
            }
            let zone = zone3 as u32;
            let (no_prefix, prefix) = match datum {
                Datum::Cgcs2000 => (4534, 4513),
                Datum::Xian80 => (2370, 2349),
                Datum::Beijing54 => (2422, 2401),
                Datum::Wgs84 => {
                    return Err(unsupported("a WGS84 transverse Mercator zone"));
                }
            };
            let code = if fe == 500_000.0 {
                no_prefix + (zone - 25)
            } else if fe == f64::from(zone) * 1_000_000.0 + 500_000.0 {
                prefix + (zone - 25)
            } else {
                return Err(unsupported(&format!(
                    "false easting {fe} for central meridian {cm}° (neither 500000 nor 3° zone {zone}'s prefix; 6° zone numbers are not supported)"
                )));
            };
            Crs::from_epsg(code)
        }
        other => Err(unsupported(&format!("a {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What GDAL 3.6 writes into a .prj for EPSG:4547.
    const GDAL_4547: &str = r#"PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;

    #[test]
    fn esri_prj_files() {
        assert_eq!(from_wkt(GDAL_4547).unwrap().epsg(), Some(4547));
        let zone38 = GDAL_4547
            .replace("CM_114E", "Zone_38")
            .replace("500000.0", "38500000.0");
        assert_eq!(from_wkt(&zone38).unwrap().epsg(), Some(4526));
        let xian = r#"PROJCS["Xian_1980_3_Degree_GK_CM_114E",GEOGCS["GCS_Xian_1980",DATUM["D_Xian_1980",SPHEROID["Xian_1980",6378140.0,298.257]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
        assert_eq!(from_wkt(xian).unwrap().epsg(), Some(2383));
        let bj = xian.replace("Xian_1980", "Beijing_1954");
        assert_eq!(from_wkt(&bj).unwrap().epsg(), Some(2435));
        let geo = r#"GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        assert_eq!(from_wkt(geo).unwrap().epsg(), Some(4490));
        let wgs = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        assert_eq!(from_wkt(wgs).unwrap().epsg(), Some(4326));
        let merc = r#"PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Mercator_Auxiliary_Sphere"],PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",0.0],PARAMETER["Standard_Parallel_1",0.0],PARAMETER["Auxiliary_Sphere_Type",0.0],UNIT["Meter",1.0]]"#;
        assert_eq!(from_wkt(merc).unwrap().epsg(), Some(3857));
    }

    #[test]
    fn ogc_wkt_with_authority() {
        let w = r#"PROJCS["CGCS2000 / 3-degree Gauss-Kruger CM 114E",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4490"]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",114],PARAMETER["scale_factor",1],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","4547"]]"#;
        assert_eq!(from_wkt(w).unwrap().epsg(), Some(4547));
        // Without the authority, the parameters say the same.
        let no_auth = w.replace(r#",AUTHORITY["EPSG","4547"]"#, "");
        assert_eq!(from_wkt(&no_auth).unwrap().epsg(), Some(4547));
    }

    #[test]
    fn unknown_systems_are_errors_not_guesses() {
        for bad in [
            "",
            "PROJCS[",
            r#"PROJCS["Lambert",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["Central_Meridian",114.0]]"#,
            r#"GEOGCS["GCS_Tokyo",DATUM["D_Tokyo",SPHEROID["Bessel_1841",6377397.155,299.1528128]]]"#,
            // A 6° zone with its zone number (19) in the easting.
            &GDAL_4547
                .replace("114.0", "111.0")
                .replace("500000.0", "19500000.0"),
            &GDAL_4547.replace("114.0", "112.5"),
            &GDAL_4547.replace("500000.0", "123.0"),
        ] {
            assert!(
                matches!(from_wkt(bad), Err(Error::UnsupportedCrs(_))),
                "{bad}"
            );
        }
    }
}
