//! Fuzzing the importers as `/analysis/redline` reaches them: uploads in every format, made by
//! mutating real files (the sample set's Shapefile, GeoPackage, FlatGeobuf, CSV and GeoJSON) with
//! bit flips, overwritten bytes and integers, and cuts — so random inputs get past the magic
//! numbers into the readers — plus plain random bytes. Failing inputs are kept under
//! `tests/__fuzz__/<target>/crashes/` and replayed by every run.
use arbitrary::Arbitrary;
use bolero::check;
use onemap_importers::fuzzing;

use onemap_engine::fuzzing::{finish, tick};

/// A structured input built from the fuzzer's bytes with `arbitrary`. Not bolero's
/// `gen_arbitrary`: under bolero 0.13's random driver it yielded no value for these types, so the
/// targets ran empty (the input count `finish` checks caught it). Capped at 4 KiB so the nesting
/// it builds stays within a test thread's stack.
fn structured<T: for<'a> Arbitrary<'a>>(d: &[u8]) -> Option<T> {
    T::arbitrary(&mut arbitrary::Unstructured::new(&d[..d.len().min(4096)])).ok()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sample-data")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("sample-data/{name}: {e}"))
}

#[derive(Debug, Arbitrary)]
enum Mutation {
    Flip { at: u32, bit: u8 },
    Set { at: u32, value: u8 },
    SetU32 { at: u32, value: u32 },
    SetF64 { at: u32, value: f64 },
    Cut(u32),
    Insert { at: u32, bytes: Vec<u8> },
}

fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts.iter().take(16) {
        if b.is_empty() {
            break;
        }
        let at = |i: &u32| *i as usize % b.len();
        match m {
            Mutation::Flip { at: i, bit } => {
                let i = at(i);
                b[i] ^= 1 << (bit % 8);
            }
            Mutation::Set { at: i, value } => {
                let i = at(i);
                b[i] = *value;
            }
            Mutation::SetU32 { at: i, value } => {
                let i = at(i);
                let end = (i + 4).min(b.len());
                b[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
            }
            Mutation::SetF64 { at: i, value } => {
                let i = at(i);
                let end = (i + 8).min(b.len());
                b[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
            }
            Mutation::Cut(n) => {
                let n = at(n);
                b.truncate(n);
            }
            Mutation::Insert { at: i, bytes } => {
                let i = at(i);
                b.splice(i..i, bytes.iter().take(64).copied());
            }
        }
    }
    b
}

fn mutated(ext: &'static str, seed: &'static str) {
    let base = sample(seed);
    check!().for_each(|d: &[u8]| {
        let Some(muts) = structured::<Vec<Mutation>>(d) else {
            return;
        };
        tick();
        fuzzing::upload(ext, &mutate(base.clone(), &muts))
    });
}

#[test]
fn fuzz_upload_geopackage() {
    mutated("gpkg", "xinzheng_planning.gpkg");
    finish("fuzz_upload_geopackage");
}

#[test]
fn fuzz_upload_flatgeobuf() {
    mutated("fgb", "xinzheng_pipelines.fgb");
    finish("fuzz_upload_flatgeobuf");
}

#[test]
fn fuzz_upload_csv() {
    mutated("csv", "xinzheng_approvals.csv");
    finish("fuzz_upload_csv");
}

#[test]
fn fuzz_upload_geojson() {
    mutated("geojson", "xinzheng_heritage.geojson");
    finish("fuzz_upload_geojson");
}

#[test]
fn fuzz_upload_random_bytes() {
    check!().for_each(|d: &[u8]| {
        tick();
        for ext in ["geojson", "csv", "zip", "gpkg", "fgb"] {
            fuzzing::upload(ext, d);
        }
    });
    finish("fuzz_upload_random_bytes");
}

#[test]
fn fuzz_upload_shapefile() {
    let (shp, shx, dbf) = (
        sample("xinzheng_cadastral.shp"),
        sample("xinzheng_cadastral.shx"),
        sample("xinzheng_cadastral.dbf"),
    );
    check!().for_each(|d: &[u8]| {
        let Some((which, muts)) = structured::<(u8, Vec<Mutation>)>(d) else {
            return;
        };
        tick();
        let (mut a, mut b, mut c) = (shp.clone(), shx.clone(), dbf.clone());
        match which % 3 {
            0 => a = mutate(a, &muts),
            1 => b = mutate(b, &muts),
            _ => c = mutate(c, &muts),
        }
        fuzzing::shapefile(&a, &b, &c);
    });
    finish("fuzz_upload_shapefile");
}

#[test]
fn fuzz_upload_zip() {
    // A zipped Shapefile, the zip's bytes mutated.
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(&mut zipped);
        for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
            let bytes = sample(&format!("xinzheng_cadastral.{ext}"));
            z.start_file(
                format!("a.{ext}"),
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            z.write_all(&bytes).unwrap();
        }
        z.finish().unwrap();
    }
    let base = zipped.into_inner();
    check!().for_each(|d: &[u8]| {
        let Some(muts) = structured::<Vec<Mutation>>(d) else {
            return;
        };
        tick();
        fuzzing::upload("zip", &mutate(base.clone(), &muts))
    });
    finish("fuzz_upload_zip");
}
