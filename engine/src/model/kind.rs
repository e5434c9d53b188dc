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
