//! Text encodings of attribute files (DBF, CSV): which one applies, and strict decoding — bytes
//! that are not valid in the chosen encoding are an error naming the record and field, never
//! replacement characters.
use std::borrow::Cow;

/// An encoding and where the choice came from (for the import report).
#[derive(Debug, Clone, Copy)]
pub struct TextEncoding {
    /// The encoding.
    pub encoding: &'static encoding_rs::Encoding,
    /// `.cpg`, `DBF language driver 0x4D`, `--encoding` or `default`.
    pub source: &'static str,
}

impl TextEncoding {
    /// UTF-8, nobody said otherwise.
    pub const DEFAULT: TextEncoding = TextEncoding {
        encoding: encoding_rs::UTF_8,
        source: "default",
    };

    /// The encoding's name as reported (`GBK`, `UTF-8`, ...).
    pub fn name(&self) -> &'static str {
        self.encoding.name()
    }

    /// Decode strictly; `None` when the bytes are not valid in this encoding.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Option<Cow<'a, str>> {
        self.encoding
            .decode_without_bom_handling_and_without_replacement(bytes)
    }
}

/// An encoding from a label: `GBK`, `CP936`, `936`, `GB2312`, `GB18030`, `UTF-8`, `65001`,
/// `ANSI 936`, `windows-1252`... (WHATWG labels plus Windows code page numbers).
pub fn encoding_for_label(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let l = label.trim().trim_start_matches('\u{feff}').trim();
    let l = l
        .strip_prefix("ANSI ")
        .or_else(|| l.strip_prefix("ansi "))
        .unwrap_or(l)
        .trim();
    let lower = l.to_ascii_lowercase();
    let by_number = match lower
        .trim_start_matches("cp")
        .trim_start_matches("windows-")
    {
        "936" => Some("gbk"),
        "54936" => Some("gb18030"),
        "65001" => Some("utf-8"),
        "950" => Some("big5"),
        "932" => Some("shift_jis"),
        "949" => Some("euc-kr"),
        n @ ("1250" | "1251" | "1252" | "1253" | "1254" | "1255" | "1256" | "1257" | "1258") => {
            return encoding_rs::Encoding::for_label(format!("windows-{n}").as_bytes());
        }
        _ => None,
    };
    encoding_rs::Encoding::for_label(by_number.unwrap_or(&lower).as_bytes())
}

/// The encoding a DBF's language driver byte (offset 29) names, for the drivers Chinese data uses
/// and a few common others.
pub fn encoding_for_ldid(ldid: u8) -> Option<&'static encoding_rs::Encoding> {
    match ldid {
        0x4D | 0x7A => Some(encoding_rs::GBK),       // cp936 (PRC GBK)
        0x4F | 0x78 => Some(encoding_rs::BIG5),      // cp950
        0x4E | 0x79 => Some(encoding_rs::EUC_KR),    // cp949
        0x13 | 0x7B => Some(encoding_rs::SHIFT_JIS), // cp932
        // 0x57 is "ANSI": the writer's system code page (GBK on Chinese Windows), so it says
        // nothing; 0x03 is Windows ANSI Latin-1.
        0x03 => Some(encoding_rs::WINDOWS_1252),
        _ => None,
    }
}

/// The dBASE decoder for an encoding. The `dbase` crate decodes with replacement characters (its
/// error type cannot be built outside the crate), so the shapefile reader rejects any U+FFFD in a
/// decoded value: same strictness, checked one step later.
pub fn dbf_encoding(e: &'static encoding_rs::Encoding) -> dbase::encoding::EncodingRs {
    dbase::encoding::EncodingRs::from(e)
}

/// The replacement character a lossy decoder leaves for bytes it could not decode.
pub const REPLACEMENT: char = '\u{FFFD}';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for l in ["GBK", "CP936", "936", "ANSI 936", "gb2312", "GB2312"] {
            assert_eq!(encoding_for_label(l), Some(encoding_rs::GBK), "{l}");
        }
        assert_eq!(encoding_for_label("UTF-8"), Some(encoding_rs::UTF_8));
        assert_eq!(encoding_for_label("65001"), Some(encoding_rs::UTF_8));
        assert_eq!(encoding_for_label("1252"), Some(encoding_rs::WINDOWS_1252));
        assert_eq!(encoding_for_label("GB18030"), Some(encoding_rs::GB18030));
        assert_eq!(encoding_for_label("klingon"), None);
        assert_eq!(encoding_for_ldid(0x4D), Some(encoding_rs::GBK));
        assert_eq!(encoding_for_ldid(0), None);
    }

    #[test]
    fn strict_decoding() {
        let gbk = TextEncoding {
            encoding: encoding_rs::GBK,
            source: "test",
        };
        // 郑州 in GBK.
        assert_eq!(
            gbk.decode(&[0xD6, 0xA3, 0xD6, 0xDD]).as_deref(),
            Some("郑州")
        );
        // A lone lead byte is not GBK.
        assert_eq!(gbk.decode(&[0xD6]), None);
        // GBK bytes are not UTF-8.
        assert_eq!(
            TextEncoding::DEFAULT.decode(&[0xD6, 0xA3, 0xD6, 0xDD]),
            None
        );
    }
}
