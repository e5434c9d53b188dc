//! Who is asking. Every read in the engine takes a [`Caller`]; an [`AccessPolicy`] decides which
//! layers the caller sees and which fields are redacted (cadastral owners are personal data).
use std::collections::{BTreeSet, HashMap};

use crate::model::{LayerKind, LayerMeta};

/// The identity behind a request: a user id (if authenticated) and roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// User or system id; `None` for anonymous callers.
    pub id: Option<String>,
    /// Roles such as `registration` (不动产登记) or `planning`.
    pub roles: BTreeSet<String>,
}

impl Caller {
    /// An anonymous caller with no roles.
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    /// A caller with an id and roles.
    pub fn new(
        id: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Caller {
        Caller {
            id: Some(id.into()),
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }

    /// The local operator (the CLI user on their own store): every role.
    pub fn operator() -> Caller {
        Caller::new("operator", ["*"])
    }

    /// True when the caller holds `role` (or the wildcard role `*`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role) || self.roles.contains("*")
    }
}

/// Decides what a caller may read.
pub trait AccessPolicy: Send + Sync + std::fmt::Debug {
    /// May the caller read this layer at all?
    fn can_read_layer(&self, caller: &Caller, layer: &LayerMeta) -> bool;
    /// May the caller see this field of this layer? Hidden fields are left out of results and may
    /// not be filtered on (a filter would leak them).
    fn can_read_field(&self, caller: &Caller, layer: &LayerMeta, field: &str) -> bool;
}

/// Everything is visible to everyone (a single-user desktop store).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl AccessPolicy for AllowAll {
    fn can_read_layer(&self, _: &Caller, _: &LayerMeta) -> bool {
        true
    }
    fn can_read_field(&self, _: &Caller, _: &LayerMeta, _: &str) -> bool {
        true
    }
}

/// Role rules: a layer kind (or a layer name) may require a role, and a field of a kind may require
/// a role. [`RoleRules::city_default`] hides cadastral owners from callers without `registration`.
#[derive(Debug, Clone, Default)]
pub struct RoleRules {
    kind_roles: HashMap<LayerKind, String>,
    layer_roles: HashMap<String, String>,
    /// (kind or any kind, field name lowercased, role).
    field_roles: Vec<(Option<LayerKind>, String, String)>,
}

impl RoleRules {
    /// No restrictions yet.
    pub fn new() -> RoleRules {
        RoleRules::default()
    }

    /// Owner, identity-document and phone fields need the `registration` role, in every layer
    /// whatever its kind (personal data does not become public because a file was imported as
    /// `generic`): the common English names and the 不动产登记 field names and codes.
    pub fn city_default() -> RoleRules {
        let mut r = RoleRules::new();
        for f in [
            "owner",
            "owner_name",
            "权利人",
            "权利人名称",
            "QLR",
            "QLRMC",
            "id_number",
            "证件号",
            "证件号码",
            "身份证号",
            "ZJH",
            "ZJHM",
            "phone",
            "电话",
            "联系电话",
            "DH",
            "LXDH",
        ] {
            r = r.any_kind_field_requires(f, "registration");
        }
        r
    }

    /// Field `field` (compared ignoring case) of every layer needs `role`.
    pub fn any_kind_field_requires(mut self, field: &str, role: &str) -> RoleRules {
        self.field_roles
            .push((None, field.to_lowercase(), role.to_string()));
        self
    }

    /// Layers of `kind` need `role`.
    pub fn kind_requires(mut self, kind: LayerKind, role: &str) -> RoleRules {
        self.kind_roles.insert(kind, role.to_string());
        self
    }

    /// The layer named `name` needs `role`.
    pub fn layer_requires(mut self, name: &str, role: &str) -> RoleRules {
        self.layer_roles.insert(name.to_string(), role.to_string());
        self
    }

    /// Field `field` (compared ignoring case) of layers of `kind` needs `role`.
    pub fn field_requires(mut self, kind: LayerKind, field: &str, role: &str) -> RoleRules {
        self.field_roles
            .push((Some(kind), field.to_lowercase(), role.to_string()));
        self
    }
}

impl AccessPolicy for RoleRules {
    fn can_read_layer(&self, caller: &Caller, layer: &LayerMeta) -> bool {
        let kind_ok = self
            .kind_roles
            .get(&layer.kind)
            .is_none_or(|r| caller.has_role(r));
        let name_ok = self
            .layer_roles
            .get(&layer.name)
            .is_none_or(|r| caller.has_role(r));
        kind_ok && name_ok
    }

    fn can_read_field(&self, caller: &Caller, layer: &LayerMeta, field: &str) -> bool {
        let lower = field.to_lowercase();
        self.field_roles
            .iter()
            .filter(|(k, f, _)| k.is_none_or(|k| k == layer.kind) && *f == lower)
            .all(|(_, _, role)| caller.has_role(role))
    }
}
