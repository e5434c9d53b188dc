//! Reads a GeoJSON FeatureCollection feature by feature with serde_json working on byte slices:
//! the file is read in chunks into a buffer and each member or feature is parsed from the buffer
//! (serde_json parses a slice about twice as fast as it reads a stream); a value cut by the end of
//! the buffer is parsed again once more bytes are in. Memory is bounded by one chunk plus the
//! largest feature, not by the file.
//!
//! The top level (an object; member names, `:`, `,`; the `features` array's brackets and commas)
//! is walked here; every member and feature is parsed, and so fully validated, by serde_json.
use std::io::Read;

use serde::de::{DeserializeOwned, IgnoredAny};

/// Bytes read at a time (more when one value is larger).
const CHUNK: usize = 4 << 20;

/// A part of the collection.
pub enum Part<F> {
    /// A top-level member other than `features`: its name, and its value for `type` and `crs`
    /// (other members are checked to be JSON and skipped).
    Member(String, Option<serde_json::Value>),
    /// An element of the `features` array and its index.
    Feature(usize, F),
}

/// Why reading stopped.
#[derive(Debug)]
pub enum Stop {
    /// The consumer asked to stop (it went away, or a part was wrong: it said why).
    Consumer(String),
    /// The document is not a well-formed FeatureCollection.
    Invalid(String),
}

struct Buffer<R> {
    input: R,
    /// Bytes to read at a time ([`CHUNK`]; small in tests).
    chunk: usize,
    buf: Vec<u8>,
    pos: usize,
    end_of_input: bool,
}

impl<R: Read> Buffer<R> {
    /// Read more: at least a chunk, and at least as much as is buffered (so a huge value costs
    /// a linear, not quadratic, number of re-parses).
    fn fill(&mut self) -> Result<(), Stop> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let want = self.chunk.max(self.buf.len());
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            match self.input.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.end_of_input = true;
                    break;
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Invalid(format!("read error: {e}"))),
            }
        }
        self.buf.truncate(old + got);
        Ok(())
    }

    /// The next byte that is not whitespace (not consumed).
    fn peek(&mut self) -> Result<Option<u8>, Stop> {
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    self.pos += 1;
                } else {
                    return Ok(Some(b));
                }
            }
            if self.end_of_input {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Parse the value that starts at the next non-whitespace byte. `Ok(None)`: the input ended
    /// inside it.
    ///
    /// A value cut by the end of the buffer fails to parse (or parses short: a number cut in two),
    /// so while input remains, a failure is retried with more bytes; a failure at the same place
    /// again is the document's own.
    fn value<T: DeserializeOwned>(&mut self) -> Result<Option<T>, serde_json::Error> {
        let mut failed_at: Option<(usize, usize)> = None;
        loop {
            let mut values =
                serde_json::Deserializer::from_slice(&self.buf[self.pos..]).into_iter::<T>();
            let more = !self.end_of_input;
            match values.next() {
                Some(Ok(v)) if !(more && self.pos + values.byte_offset() == self.buf.len()) => {
                    self.pos += values.byte_offset();
                    return Ok(Some(v));
                }
                Some(Err(e)) if more && failed_at != Some((e.line(), e.column())) => {
                    failed_at = Some((e.line(), e.column()));
                    if self.fill().is_err() {
                        return Ok(None);
                    }
                }
                Some(Err(e)) if !e.is_eof() => return Err(e),
                _ if more => {
                    if self.fill().is_err() {
                        return Ok(None);
                    }
                }
                _ => return Ok(None),
            }
        }
    }
}

/// Read `input` as a FeatureCollection, calling `part` for each member and feature in order.
pub fn read<F: DeserializeOwned>(
    input: impl Read,
    part: impl FnMut(Part<F>) -> Result<(), String>,
) -> Result<(), Stop> {
    read_in_chunks(input, CHUNK, part)
}

fn read_in_chunks<F: DeserializeOwned>(
    input: impl Read,
    chunk: usize,
    mut part: impl FnMut(Part<F>) -> Result<(), String>,
) -> Result<(), Stop> {
    let invalid = |m: String| Stop::Invalid(m);
    let mut b = Buffer {
        input,
        chunk,
        buf: Vec::new(),
        pos: 0,
        end_of_input: false,
    };
    match b.peek()? {
        Some(b'{') => b.pos += 1,
        None => return Err(invalid("the file holds no JSON".into())),
        Some(_) => {
            return Err(invalid(
                "expected a GeoJSON FeatureCollection object".into(),
            ));
        }
    }
    let unclosed =
        || invalid("the file ends before the FeatureCollection is closed (truncated?)".into());
    let mut index = 0usize;
    let mut saw_features = false;
    let mut first = true;
    loop {
        match b.peek()? {
            Some(b'}') if first => {
                b.pos += 1;
                break;
            }
            Some(b'"') => {}
            Some(_) => return Err(invalid("expected a member name".into())),
            None => return Err(unclosed()),
        }
        let key: String = b
            .value()
            .map_err(|e| invalid(format!("a member name: {e}")))?
            .ok_or_else(unclosed)?;
        match b.peek()? {
            Some(b':') => b.pos += 1,
            _ => return Err(invalid(format!("expected ':' after \"{key}\""))),
        }
        if key == "features" {
            match b.peek()? {
                Some(b'[') => b.pos += 1,
                _ => return Err(invalid("\"features\" is not an array".into())),
            }
            saw_features = true;
            let truncated = |i: usize| {
                invalid(format!(
                    "feature {i}: the file ends inside the features array (truncated?)"
                ))
            };
            let mut first_feature = true;
            loop {
                match b.peek()? {
                    Some(b']') if first_feature => {
                        b.pos += 1;
                        break;
                    }
                    Some(b'{') => {}
                    Some(_) => {
                        return Err(invalid(format!(
                            "feature {index}: expected a Feature object"
                        )));
                    }
                    None => return Err(truncated(index)),
                }
                let f: F = b
                    .value()
                    .map_err(|e| invalid(format!("feature {index}: {e}")))?
                    .ok_or_else(|| truncated(index))?;
                part(Part::Feature(index, f)).map_err(Stop::Consumer)?;
                index += 1;
                first_feature = false;
                match b.peek()? {
                    Some(b',') => b.pos += 1,
                    Some(b']') => {
                        b.pos += 1;
                        break;
                    }
                    None => return Err(truncated(index)),
                    Some(_) => {
                        return Err(invalid(format!(
                            "after feature {}: expected ',' or ']'",
                            index - 1
                        )));
                    }
                }
            }
        } else {
            let value = if key == "type" || key == "crs" {
                Some(
                    b.value::<serde_json::Value>()
                        .map_err(|e| invalid(format!("\"{key}\": {e}")))?
                        .ok_or_else(unclosed)?,
                )
            } else {
                b.value::<IgnoredAny>()
                    .map_err(|e| invalid(format!("\"{key}\": {e}")))?
                    .ok_or_else(unclosed)?;
                None
            };
            part(Part::Member(key, value)).map_err(Stop::Consumer)?;
        }
        first = false;
        match b.peek()? {
            Some(b',') => b.pos += 1,
            Some(b'}') => {
                b.pos += 1;
                break;
            }
            None => return Err(unclosed()),
            Some(_) => return Err(invalid("expected ',' or '}'".into())),
        }
    }
    if b.peek()?.is_some() {
        return Err(invalid(
            "trailing characters after the FeatureCollection".into(),
        ));
    }
    if !saw_features {
        return Err(invalid(
            "no \"features\" array: not a FeatureCollection".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Member(String, Option<serde_json::Value>),
        Feature(usize, serde_json::Value),
    }

    /// Read `text` through a reader that hands out `chunk` bytes at a time.
    fn run(text: &str, chunk: usize) -> Result<Vec<Seen>, String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(self.0.len()).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut seen = Vec::new();
        read_in_chunks::<serde_json::Value>(Trickle(text.as_bytes(), chunk), chunk, |p| {
            seen.push(match p {
                Part::Member(k, v) => Seen::Member(k, v),
                Part::Feature(i, f) => Seen::Feature(i, f),
            });
            Ok(())
        })
        .map_err(|e| match e {
            Stop::Invalid(m) | Stop::Consumer(m) => m,
        })?;
        Ok(seen)
    }

    #[test]
    fn reads_members_and_features_however_the_bytes_arrive() {
        let text = r#" { "type" : "FeatureCollection", "name": "a,}]b\"{",
            "features": [ {"type":"Feature","properties":{"s":"}]\\\"{[","n":12345},"geometry":null} ,
              {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1.25,2]}} ],
            "bbox": [1, 2, 3, 4], "n": 7, "crs": {"type":"name","properties":{"name":"EPSG:4547"}} } "#;
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let want = vec![
            Seen::Member("type".into(), Some(json("\"FeatureCollection\""))),
            Seen::Member("name".into(), None),
            Seen::Feature(
                0,
                json(
                    r#"{"type":"Feature","properties":{"s":"}]\\\"{[","n":12345},"geometry":null}"#,
                ),
            ),
            Seen::Feature(
                1,
                json(
                    r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1.25,2]}}"#,
                ),
            ),
            Seen::Member("bbox".into(), None),
            Seen::Member("n".into(), None),
            Seen::Member(
                "crs".into(),
                Some(json(r#"{"type":"name","properties":{"name":"EPSG:4547"}}"#)),
            ),
        ];
        for chunk in [1, 2, 3, 7, 64, 1 << 16] {
            assert_eq!(run(text, chunk).unwrap(), want, "{chunk} bytes at a time");
        }
    }

    #[test]
    fn a_number_cut_by_the_buffer_is_read_whole() {
        // The reader hands out one byte at a time: "12345" must not be read as "1".
        let seen = run(r#"{"features":[],"n":12345,"type":"FeatureCollection"}"#, 1).unwrap();
        assert_eq!(seen.len(), 2);
        let seen = run(r#"{"features":[{"a":12345}]}"#, 1).unwrap();
        assert_eq!(
            seen,
            vec![Seen::Feature(0, serde_json::json!({"a": 12345}))]
        );
        // "113." alone is not a number: serde says "invalid number", not "end of input".
        let seen = run(r#"{"features":[{"a":113.75}]}"#, 1).unwrap();
        assert_eq!(
            seen,
            vec![Seen::Feature(0, serde_json::json!({"a": 113.75}))]
        );
    }

    #[test]
    fn structure_errors_say_what_and_where() {
        for (text, want) in [
            ("not json", "expected a GeoJSON FeatureCollection object"),
            ("", "holds no JSON"),
            (r#"{"type":"FeatureCollection"}"#, "no \"features\""),
            (r#"{"features": {}}"#, "not an array"),
            (
                r#"{"features": [1]}"#,
                "feature 0: expected a Feature object",
            ),
            (r#"{"features": [{}, {}"#, "feature 2: the file ends inside"),
            (
                r#"{"features": [{"a":1}"#,
                "feature 1: the file ends inside",
            ),
            (r#"{"features": [{"a":"#, "feature 0: the file ends inside"),
            (r#"{"features": [{"a":tru}]}"#, "feature 0: expected ident"),
            (
                r#"{"features": [{} {}]}"#,
                "after feature 0: expected ',' or ']'",
            ),
            (r#"{"features": []} x"#, "trailing characters"),
            (r#"{"features": [] "a": 1}"#, "expected ',' or '}'"),
            (
                r#"{"type" "FeatureCollection"}"#,
                "expected ':' after \"type\"",
            ),
            (r#"{"features": [], 3: 4}"#, "expected a member name"),
            (
                r#"{"features": [], "a": 1"#,
                "ends before the FeatureCollection is closed",
            ),
            (r#"{"a": 1]}"#, "expected ',' or '}'"),
        ] {
            for chunk in [3, 1024] {
                let err = run(text, chunk)
                    .err()
                    .unwrap_or_else(|| panic!("no error: {text}"));
                assert!(err.contains(want), "{text} ({chunk}): {err}");
            }
        }
        assert_eq!(
            run(r#"{"type":"FeatureCollection","features":[]}"#, 8)
                .unwrap()
                .len(),
            1
        );
    }
}
