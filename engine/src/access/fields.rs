//! Which fields are public and which hold personal data.
//!
//! Two kinds of layers:
//!
//! * **Closed kinds** (cadastral parcels, approvals) hold personal data by nature — owners,
//!   identity numbers, applicants — under whatever names a department's file gives them
//!   (`权利人姓名`, `QLRZJHM`, `业主`, `owner `...). Their kind declares the fields that are public
//!   ([`public_fields`]); every other field is personal, whatever it is called.
//! * **Open kinds** (planning, land use, pipelines...) are public data; a field is personal only
//!   when its name says so ([`looks_personal`]), because files of any kind may carry a contact
//!   person or a phone number.
//!
//! A layer's policy may name more public fields (and so close an open layer). Personal fields
//! are visible only to callers the policy grants them to (see [`super::Policy`]).
use crate::model::LayerKind;

/// Field names compared the way people misspell them: trimmed, lower-case, without spaces,
/// `_`, `-` or full-width spaces.
pub fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '\u{3000}' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The public fields of a closed kind (normalised names, with their usual survey-standard
/// aliases), or `None` for an open kind.
pub fn public_fields(kind: LayerKind) -> Option<&'static [&'static str]> {
    match kind {
        LayerKind::Cadastral => Some(&[
            // 宗地代码 / 不动产单元号
            "parcelid",
            "zddm",
            "bdcdyh",
            "zdh",
            "zdbm",
            "宗地代码",
            "宗地号",
            "不动产单元号",
            // 权利类型 / 权利性质
            "rightstype",
            "rightstyp",
            "qllx",
            "qlxz",
            "权利类型",
            "权利性质",
            // 用途
            "landusecode",
            "landusec",
            "dlbm",
            "ydyhfldm",
            "yt",
            "用途",
            "地类编码",
            // 面积
            "registeredaream2",
            "registeredarea",
            "registered",
            "zdmj",
            "djmj",
            "宗地面积",
            "登记面积",
            // 坐落, floors
            "address",
            "zl",
            "坐落",
            "floors",
            "cs",
            "层数",
        ]),
        LayerKind::Approval => Some(&[
            "permitno",
            "xkzh",
            "xkzbh",
            "pzwh",
            "许可证号",
            "批准文号",
            "approveddate",
            "pzrq",
            "批准日期",
            "approveduse",
            "ydxz",
            "用地性质",
            "projectname",
            "name",
            "xmmc",
            "项目名称",
            "far",
            "rjl",
            "容积率",
            "density",
            "jzmd",
            "建筑密度",
            "heightm",
            "jzxg",
            "建筑限高",
            "greenratio",
            "ldl",
            "绿地率",
            "aream2",
            "mj",
            "面积",
            "status",
            "xzqdm",
        ]),
        _ => None,
    }
}

/// Parts of a field name that mark personal data in an open layer: names of people, identity
/// documents, phone numbers and addresses of people, in English, Chinese and the pinyin
/// abbreviations of the registration standards.
const PERSONAL_MARKS: [&str; 29] = [
    "owner",
    "applicant",
    "person",
    "contact",
    "phone",
    "mobile",
    "email",
    "idcard",
    "idnumber",
    "idno",
    "权利人",
    "所有权人",
    "使用权人",
    "业主",
    "户主",
    "姓名",
    "申请人",
    "申请单位",
    "联系人",
    "法人",
    "身份证",
    "证件",
    "电话",
    "手机",
    "住址",
    "家庭",
    "人员",
    "工作人员",
    "网格员",
];

/// Whole normalised names (pinyin abbreviations too short to look for inside other names).
const PERSONAL_NAMES: [&str; 18] = [
    "qlr", "qlrmc", "qlrzjh", "qlrzjhm", "sfz", "sfzh", "sfzhm", "zjh", "zjhm", "zjlx", "lxdh",
    "dh", "sjh", "lxr", "xm", "yz", "fr", "sqr",
];

/// True when an open layer's field name says it holds personal data.
pub fn looks_personal(name: &str) -> bool {
    let n = normalise(name);
    PERSONAL_NAMES.contains(&n.as_str())
        || n.starts_with("qlr")
        || n.starts_with("sfz")
        || PERSONAL_MARKS.iter().any(|m| n.contains(m))
}

/// Is `field` of a layer of `kind` public? `extra` are public fields the layer's policy adds;
/// when given, they also close an open layer (only they and the kind's are public).
pub fn is_public(kind: LayerKind, field: &str, extra: Option<&[String]>) -> bool {
    let n = normalise(field);
    let listed = extra.is_some_and(|e| e.iter().any(|x| normalise(x) == n));
    match (public_fields(kind), extra) {
        (Some(public), _) => listed || public.contains(&n.as_str()),
        (None, Some(_)) => listed,
        (None, None) => !looks_personal(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadastral_fields_are_personal_whatever_their_names() {
        for name in [
            "owner",
            "owner ",
            " Owner",
            "权利人姓名",
            "SFZH",
            "QLRZJHM",
            "业主",
            "tel",
            "备注",
            "x",
        ] {
            assert!(
                !is_public(LayerKind::Cadastral, name, None),
                "{name:?} must not be public in a cadastral layer"
            );
        }
        for name in [
            "parcel_id",
            "ZDDM",
            "rights_typ",
            "land_use_c",
            "registered",
            "address",
        ] {
            assert!(is_public(LayerKind::Cadastral, name, None), "{name}");
        }
    }

    #[test]
    fn approvals_keep_the_applicant_closed() {
        assert!(!is_public(LayerKind::Approval, "applicant", None));
        assert!(!is_public(LayerKind::Approval, "申请单位", None));
        assert!(is_public(LayerKind::Approval, "permit_no", None));
        assert!(is_public(LayerKind::Approval, "approved_use", None));
    }

    #[test]
    fn open_kinds_hide_only_what_names_mark_as_personal() {
        for name in [
            "联系电话",
            "Contact_Person",
            "负责人姓名",
            "LXDH",
            "sfzh",
            "网格员",
            "owner_name",
        ] {
            assert!(looks_personal(name), "{name}");
            assert!(!is_public(LayerKind::Landuse, name, None), "{name}");
        }
        for name in [
            "DLBM",
            "land_use_code",
            "pipe_kind",
            "zone_id",
            "XZQDM",
            "far_max",
        ] {
            assert!(!looks_personal(name), "{name}");
            assert!(is_public(LayerKind::Planning, name, None), "{name}");
        }
    }

    #[test]
    fn a_policy_list_opens_fields_and_closes_open_layers() {
        let extra = vec!["remark".to_string()];
        assert!(is_public(LayerKind::Cadastral, "Remark", Some(&extra)));
        // An open layer with a list: only the listed fields are public.
        assert!(is_public(LayerKind::Generic, "remark", Some(&extra)));
        assert!(!is_public(LayerKind::Generic, "DLBM", Some(&extra)));
    }
}
