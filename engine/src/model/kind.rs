use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What a layer means to the city: drives styling, required fields and analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Planning zones (控规/国土空间规划), land-use codes and indicators.
    Planning,
    /// Current land use (现状用地).
    Landuse,
    /// Underground pipelines (地下管线).
    Pipeline,
    /// Cadastral parcels (不动产/地籍); owners are personal data.
    Cadastral,
    /// Heritage sites and their protection zones (文物保护).
    Heritage,
    /// Approvals: permit red lines (审批/规划许可).
    Approval,
    /// Control lines (三区三线).
    ControlLine,
    /// Change patches from image comparison (卫片执法图斑).
    ChangePatch,
    /// Anything else.
    Generic,
}

impl LayerKind {
    /// All kinds, in a stable order.
    pub const ALL: [LayerKind; 9] = [
        LayerKind::Planning,
        LayerKind::Landuse,
        LayerKind::Pipeline,
        LayerKind::Cadastral,
        LayerKind::Heritage,
        LayerKind::Approval,
        LayerKind::ControlLine,
        LayerKind::ChangePatch,
        LayerKind::Generic,
    ];
    /// Names accepted on the command line and stored in the catalog.
    pub const NAMES: [&'static str; 9] = [
        "planning",
        "landuse",
        "pipeline",
        "cadastral",
        "heritage",
        "approval",
        "control_line",
        "change_patch",
        "generic",
    ];

    /// Candidate names of the field that styles colour this kind by (first present wins):
    /// canonical onemap names first, then common Chinese survey-standard column names.
    pub fn style_field_candidates(self) -> &'static [&'static str] {
        match self {
            // 用地用海分类 code (YDYHFLDM), or the third-survey DLBM.
            LayerKind::Planning => &["land_use_code", "YDYHFLDM", "YDYHDM", "YDDM", "DLBM"],
            LayerKind::Landuse => &["land_use_code", "DLBM", "YDYHFLDM", "YDYHDM"],
            // CJJ 61 kind codes JS/PS/RQ/RL/DL/TX.
            LayerKind::Pipeline => &["pipe_kind", "GXLX", "GXDM", "kind"],
            LayerKind::Cadastral => &["rights_type", "QLLX"],
            // 保护范围 / 建设控制地带.
            LayerKind::Heritage => &["zone_type", "BHQLX", "QYLX"],
            LayerKind::Approval => &["approved_use", "YDXZ"],
            // 生态保护红线 / 永久基本农田 / 城镇开发边界.
            LayerKind::ControlLine => &["line_type", "KZXLX"],
            LayerKind::ChangePatch => &["status", "land_class_after", "BHHDL"],
            // The land-use check's result layer: 符合规划 / 不符合规划 / 无规划.
            LayerKind::Generic => &["conformance"],
        }
    }

    /// The fields a layer of this kind must have, each with the names it may go by in source
    /// data (checked when importing; `--map FIELD=COLUMN` renames a column to the field).
    pub fn required_fields(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            LayerKind::Planning => &[("land_use_code", &["YDYHFLDM", "YDYHDM", "YDDM", "DLBM"])],
            LayerKind::Landuse => &[("land_use_code", &["DLBM", "YDYHFLDM", "YDYHDM"])],
            LayerKind::Pipeline => &[("pipe_kind", &["GXLX", "GXDM", "kind"])],
            LayerKind::Cadastral => &[("parcel_id", &["ZDDM", "BDCDYH", "ZDH", "ZDBM"])],
            LayerKind::Heritage => &[("zone_type", &["BHQLX", "QYLX"])],
            LayerKind::Approval => &[("permit_no", &["XKZH", "XKZBH", "PZWH"])],
            LayerKind::ControlLine => &[("line_type", &["KZXLX"])],
            LayerKind::ChangePatch => &[("JCBH", &["jcbh", "patch_id"])],
            LayerKind::Generic => &[],
        }
    }

    /// Fields the analytics use when present (a missing one is a note, not an error).
    pub fn recommended_fields(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            LayerKind::Planning => &[
                ("far_max", &["RJL", "RJLSX"]),
                ("density_max", &["JZMD"]),
                ("height_max_m", &["JZXG"]),
            ],
            LayerKind::Pipeline => &[
                ("diameter_mm", &["GJ", "DN"]),
                ("depth_m", &["MS"]),
                ("pressure", &["YL"]),
            ],
            LayerKind::Cadastral => &[
                ("owner", &["QLR", "QLRMC", "权利人"]),
                ("rights_type", &["QLLX"]),
                ("registered_area_m2", &["ZDMJ", "DJMJ"]),
            ],
            LayerKind::Heritage => &[
                ("site_name", &["WWMC", "MC"]),
                ("protection_level", &["BHJB"]),
            ],
            LayerKind::Approval => &[("approved_date", &["PZRQ"]), ("approved_use", &["YDXZ"])],
            LayerKind::ChangePatch => &[
                ("land_class_before", &["QDLBM", "BGQDL"]),
                ("land_class_after", &["HDLBM", "BGHDL"]),
            ],
            LayerKind::Landuse | LayerKind::ControlLine | LayerKind::Generic => &[],
        }
    }

    /// The field of `schema` that styles colour this kind by, if the layer has one.
    pub fn style_field(self, schema: &super::Schema) -> Option<&str> {
        self.style_field_candidates()
            .iter()
            .find_map(|c| schema.field(c).map(|f| f.name.as_str()))
    }

    /// The stable name of this kind.
    pub fn as_str(self) -> &'static str {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(8);
        Self::NAMES[i]
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LayerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::NAMES
            .iter()
            .position(|n| *n == norm)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| Error::UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in LayerKind::ALL {
            assert_eq!(k.as_str().parse::<LayerKind>().unwrap(), k);
        }
        assert_eq!(
            "Control-Line".parse::<LayerKind>().unwrap(),
            LayerKind::ControlLine
        );
        assert!(matches!(
            "roads".parse::<LayerKind>(),
            Err(Error::UnknownKind(_))
        ));
    }
}
