//! The permission policy: who may read, write and analyse which layers, and which personal fields
//! each caller sees. One document (TOML for people, stored as JSON in the store), validated as a
//! whole; [`Policy::decide_*`](Policy::can_read_layer) are the only decisions the engine asks.
//!
//! ```toml
//! [defaults]
//! read = ["*"]              # every caller, anonymous included
//! write = ["admin"]         # replace or drop a layer (plus the department that owns it)
//! create = ["admin", "analysis"]
//!
//! [analyses]
//! approval = ["*"]
//! violations = ["authenticated"]
//!
//! [[layer]]
//! kind = "cadastral"        # or name = "cadastral_2024"
//! read = ["authenticated"]
//! owner = "不动产登记中心"    # the producing department: it may write (谁生产、谁负责)
//! public = ["remark"]       # more public fields than the kind declares
//! [layer.fields]
//! registration = ["*"]      # who sees which personal fields
//! "dept:规划局" = ["parcel_id", "owner"]
//! ```
//!
//! Principals: `*` (everyone), `authenticated`, `user:ID` (a person), `key:NAME` (an API key),
//! `dept:NAME`, `role:NAME` or a bare role name.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Caller, fields};
use crate::error::{Error, Result};
use crate::model::{LayerKind, LayerMeta};

/// Analyses a policy may grant.
pub const ANALYSES: [&str; 3] = ["approval", "violations", "landuse"];

/// Who may do what to layers without a rule of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Who may read.
    #[serde(default = "everyone")]
    pub read: Vec<String>,
    /// Who may replace, edit or drop (besides the owning department).
    #[serde(default = "admins")]
    pub write: Vec<String>,
    /// Who may create a new layer.
    #[serde(default = "admins")]
    pub create: Vec<String>,
}

fn everyone() -> Vec<String> {
    vec!["*".into()]
}

fn admins() -> Vec<String> {
    vec!["admin".into()]
}

impl Default for Defaults {
    fn default() -> Defaults {
        Defaults {
            read: everyone(),
            write: admins(),
            create: admins(),
        }
    }
}

/// Rules for one layer (by name) or every layer of a kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRule {
    /// The layer's name (exactly one of `name` and `kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A layer kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LayerKind>,
    /// Who may read (instead of the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Vec<String>>,
    /// Who may write (instead of the defaults; the owning department always may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Vec<String>>,
    /// The department that produces the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// More public fields than the kind declares (closes an open layer to just these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Vec<String>>,
    /// Personal fields by principal: the names it may see (`*`: all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
}

/// The permission policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Layers without rules of their own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Who may run each analysis. Without the table: the built-in grants; with it, an analysis
    /// it does not name is for nobody but the operator.
    #[serde(default = "default_analyses")]
    pub analyses: BTreeMap<String, Vec<String>>,
    /// Per-layer and per-kind rules.
    #[serde(default, rename = "layer", skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerRule>,
}

fn default_analyses() -> BTreeMap<String, Vec<String>> {
    ANALYSES
        .iter()
        .map(|a| (a.to_string(), everyone()))
        .collect()
}

/// The built-in policy (`engine/src/access/default_policy.toml`).
const DEFAULT_POLICY: &str = include_str!("default_policy.toml");

/// What a caller sees of a layer's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldView {
    /// Per schema field: may the caller see it?
    pub visible: Vec<bool>,
    /// Per schema field: does it hold personal data (not public)?
    pub personal: Vec<bool>,
}

impl FieldView {
    /// True when the caller sees at least one personal field: reads must be audited.
    pub fn shows_personal(&self) -> bool {
        self.visible
            .iter()
            .zip(&self.personal)
            .any(|(v, p)| *v && *p)
    }
}

/// How a principal string matches callers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal<'a> {
    Everyone,
    Authenticated,
    User(&'a str),
    Key(&'a str),
    Department(&'a str),
    Role(&'a str),
}

fn principal(s: &str) -> std::result::Result<Principal<'_>, String> {
    let s = s.trim();
    Ok(match s {
        "*" => Principal::Everyone,
        "authenticated" => Principal::Authenticated,
        "" => return Err("an empty principal".into()),
        _ => match s.split_once(':') {
            Some(("user", n)) if !n.is_empty() => Principal::User(n),
            Some(("key", n)) if !n.is_empty() => Principal::Key(n),
            Some(("dept", n)) if !n.is_empty() => Principal::Department(n),
            Some(("role", n)) if !n.is_empty() && n != "*" => Principal::Role(n),
            Some(_) => {
                return Err(format!(
                    "'{s}': expected user:ID, key:NAME, dept:NAME, role:NAME, a role name, 'authenticated' or '*'"
                ));
            }
            None => Principal::Role(s),
        },
    })
}

fn matches(caller: &Caller, principals: &[String]) -> bool {
    principals.iter().any(|p| match principal(p) {
        Ok(Principal::Everyone) => true,
        Ok(Principal::Authenticated) => caller.is_authenticated(),
        // A person (session, token, gateway); `key:NAME` for another system's API key, so a key
        // named like a user is not that user.
        Ok(Principal::User(u)) => {
            caller.is_authenticated()
                && caller.via != super::Via::ApiKey
                && caller.id.as_deref() == Some(u)
        }
        Ok(Principal::Key(k)) => {
            caller.via == super::Via::ApiKey && caller.id.as_deref() == Some(k)
        }
        Ok(Principal::Department(d)) => caller.department.as_deref() == Some(d),
        Ok(Principal::Role(r)) => caller.roles.contains(r),
        // Validated on load; an invalid principal grants nothing.
        Err(_) => false,
    })
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::city_default()
    }
}

impl Policy {
    /// The built-in city policy: every layer readable, personal fields of cadastral parcels for
    /// `registration`, an approval's applicant for `approval` and `planning`, writes for
    /// `admin` and the owning department.
    pub fn city_default() -> Policy {
        // The built-in file is tested to parse (tests below); an error here is a build mistake.
        Policy::from_toml(DEFAULT_POLICY, "built-in policy").unwrap_or_else(|e| {
            tracing::error!(error = %e, "built-in policy does not parse; nothing is readable");
            Policy::deny_all()
        })
    }

    /// Nothing for anybody but the operator.
    pub fn deny_all() -> Policy {
        Policy {
            defaults: Defaults {
                read: Vec::new(),
                write: Vec::new(),
                create: Vec::new(),
            },
            analyses: BTreeMap::new(),
            layers: Vec::new(),
        }
    }

    /// Everything for everyone, personal fields included: a single-user desktop store.
    pub fn open() -> Policy {
        Policy {
            defaults: Defaults {
                read: everyone(),
                write: everyone(),
                create: everyone(),
            },
            analyses: default_analyses(),
            layers: LayerKind::ALL
                .iter()
                .map(|k| LayerRule {
                    kind: Some(*k),
                    fields: [("*".to_string(), vec!["*".to_string()])].into(),
                    ..LayerRule::default()
                })
                .collect(),
        }
    }

    /// Parse and validate a TOML policy. `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Policy> {
        let p: Policy = toml::from_str(text).map_err(|e| Error::Policy {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        p.validate(source_name)?;
        Ok(p)
    }

    /// Parse and validate a JSON policy (as the store keeps it).
    pub fn from_json(text: &str, source_name: &str) -> Result<Policy> {
        let p: Policy = serde_json::from_str(text).map_err(|e| Error::Policy {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        p.validate(source_name)?;
        Ok(p)
    }

    /// As TOML, for people.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Policy {
            source_name: "policy".into(),
            message: e.to_string(),
        })
    }

    /// As JSON, for the store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Check every principal, analysis name and rule.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let err = |message: String| Error::Policy {
            source_name: source_name.to_string(),
            message,
        };
        let check_all = |what: &str, list: &[String]| -> Result<()> {
            for p in list {
                principal(p).map_err(|m| err(format!("{what}: {m}")))?;
            }
            Ok(())
        };
        check_all("defaults.read", &self.defaults.read)?;
        check_all("defaults.write", &self.defaults.write)?;
        check_all("defaults.create", &self.defaults.create)?;
        for (name, who) in &self.analyses {
            if !ANALYSES.contains(&name.as_str()) {
                return Err(err(format!(
                    "analyses.{name}: unknown analysis (expected one of {})",
                    ANALYSES.join(", ")
                )));
            }
            check_all(&format!("analyses.{name}"), who)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.layers.iter().enumerate() {
            let label = match (&r.name, &r.kind) {
                (Some(n), None) => format!("layer '{n}'"),
                (None, Some(k)) => format!("kind '{k}'"),
                _ => {
                    return Err(err(format!(
                        "layer rule {}: give exactly one of name and kind",
                        i + 1
                    )));
                }
            };
            if !seen.insert(label.clone()) {
                return Err(err(format!("{label}: two rules; merge them")));
            }
            if let Some(l) = &r.read {
                check_all(&format!("{label}: read"), l)?;
            }
            if let Some(l) = &r.write {
                check_all(&format!("{label}: write"), l)?;
            }
            if r.owner.as_deref().is_some_and(|o| o.trim().is_empty()) {
                return Err(err(format!("{label}: owner is empty")));
            }
            for (p, names) in &r.fields {
                principal(p).map_err(|m| err(format!("{label}: fields: {m}")))?;
                if names.iter().any(|n| n.trim().is_empty()) {
                    return Err(err(format!("{label}: fields.{p}: an empty field name")));
                }
            }
        }
        Ok(())
    }

    /// The rules that apply to a layer: its own (by name) first, then its kind's.
    fn rules_for<'a>(
        &'a self,
        name: &'a str,
        kind: LayerKind,
    ) -> impl Iterator<Item = &'a LayerRule> {
        let by_name = self
            .layers
            .iter()
            .filter(move |r| r.name.as_deref() == Some(name));
        let by_kind = self.layers.iter().filter(move |r| r.kind == Some(kind));
        by_name.chain(by_kind)
    }

    /// The department that owns a layer: the policy's word, else the catalog's (who created it).
    pub fn owner_of<'a>(&'a self, meta: &'a LayerMeta) -> Option<&'a str> {
        self.rules_for(&meta.name, meta.kind)
            .find_map(|r| r.owner.as_deref())
            .or(meta.owner.as_deref())
    }

    /// Does the caller own the layer: its department produced it, or (a caller without a
    /// department) it did — owners are recorded as the department, else `user:ID`.
    fn owns(&self, caller: &Caller, meta: &LayerMeta) -> bool {
        match self.owner_of(meta) {
            Some(o) => caller.owner_name().is_some_and(|me| me == o),
            None => false,
        }
    }

    /// May the caller read this layer at all? (A layer it may not read is, to the caller, a
    /// layer that does not exist.)
    pub fn can_read_layer(&self, caller: &Caller, meta: &LayerMeta) -> bool {
        if caller.is_operator() || self.owns(caller, meta) {
            return true;
        }
        let read = self
            .rules_for(&meta.name, meta.kind)
            .find_map(|r| r.read.as_deref())
            .unwrap_or(&self.defaults.read);
        matches(caller, read)
    }

    /// May the caller replace, edit or drop this existing layer?
    pub fn can_write_layer(&self, caller: &Caller, meta: &LayerMeta) -> bool {
        if caller.is_operator() || self.owns(caller, meta) {
            return true;
        }
        let write = self
            .rules_for(&meta.name, meta.kind)
            .find_map(|r| r.write.as_deref())
            .unwrap_or(&self.defaults.write);
        matches(caller, write)
    }

    /// May the caller create a new layer named `name` of `kind`? A rule for the name (or kind)
    /// that names an owner or writers decides; otherwise `defaults.create`.
    pub fn can_create_layer(&self, caller: &Caller, name: &str, kind: LayerKind) -> bool {
        if caller.is_operator() {
            return true;
        }
        let rules: Vec<&LayerRule> = self.rules_for(name, kind).collect();
        if let (Some(o), Some(d)) = (
            rules.iter().find_map(|r| r.owner.as_deref()),
            caller.department.as_deref(),
        ) && o == d
        {
            return true;
        }
        match rules.iter().find_map(|r| r.write.as_deref()) {
            Some(w) => matches(caller, w),
            None => matches(caller, &self.defaults.create),
        }
    }

    /// May the caller read the access audit and other callers' analysis runs? (The `audit` role;
    /// the operator.)
    pub fn can_audit(&self, caller: &Caller) -> bool {
        caller.is_operator() || caller.roles.contains("audit")
    }

    /// Who may read a layer, as principals: its read rule, and its owner (`dept:NAME` or
    /// `user:ID`).
    fn readers(&self, name: &str, kind: LayerKind, owner: Option<&str>) -> Vec<String> {
        let mut read: Vec<String> = self
            .rules_for(name, kind)
            .find_map(|r| r.read.clone())
            .unwrap_or_else(|| self.defaults.read.clone());
        if let Some(o) = owner {
            read.push(if o.starts_with("user:") || o.starts_with("key:") {
                o.to_string()
            } else {
                format!("dept:{o}")
            });
        }
        read
    }

    /// Could everyone who may read layer `name` (of `kind`, owned by `owner`) also read
    /// `source`? Judged on the principals (conservatively: a principal is covered when the
    /// source names it too, or lets everyone read; `authenticated` covers `user:` principals).
    /// A derived layer must not reach callers its sources keep out.
    pub fn readers_within(
        &self,
        name: &str,
        kind: LayerKind,
        owner: Option<&str>,
        source: &LayerMeta,
    ) -> bool {
        let theirs = self.readers(&source.name, source.kind, self.owner_of(source));
        let theirs: Vec<Principal<'_>> = theirs.iter().filter_map(|p| principal(p).ok()).collect();
        if theirs.contains(&Principal::Everyone) {
            return true;
        }
        let mine = self.readers(name, kind, owner);
        mine.iter().all(|p| match principal(p) {
            Ok(p @ Principal::User(_)) => {
                theirs.contains(&p) || theirs.contains(&Principal::Authenticated)
            }
            Ok(p) => theirs.contains(&p),
            // An invalid principal grants nothing.
            Err(_) => true,
        })
    }

    /// May the caller run this analysis?
    pub fn can_run(&self, caller: &Caller, analysis: &str) -> bool {
        caller.is_operator()
            || self
                .analyses
                .get(analysis)
                .is_some_and(|who| matches(caller, who))
    }

    /// Which fields of the layer the caller sees, and which of them are personal.
    pub fn field_view(&self, caller: &Caller, meta: &LayerMeta) -> FieldView {
        let rules: Vec<&LayerRule> = self.rules_for(&meta.name, meta.kind).collect();
        let extra = rules.iter().find_map(|r| r.public.as_deref());
        // The personal fields granted to this caller by any rule that applies.
        let mut all = caller.is_operator();
        let mut granted: Vec<String> = Vec::new();
        for r in &rules {
            for (p, names) in &r.fields {
                if matches(caller, std::slice::from_ref(p)) {
                    if names.iter().any(|n| n.trim() == "*") {
                        all = true;
                    }
                    granted.extend(names.iter().map(|n| fields::normalise(n)));
                }
            }
        }
        let mut view = FieldView::default();
        for f in meta.schema.fields() {
            let personal = !fields::is_public(meta.kind, &f.name, extra);
            let visible = !personal || all || granted.contains(&fields::normalise(&f.name));
            view.visible.push(visible);
            view.personal.push(personal);
        }
        view
    }

    /// Add principals to a layer's (or kind's) read or write list, or field grants; creates the
    /// rule when there is none. Used by `onemap acl grant`.
    pub fn grant(&mut self, target: &RuleTarget, change: &Grant) -> Result<()> {
        let rule = self.rule_mut(target);
        match change {
            Grant::Read(p) => add_unique(rule.read.get_or_insert_with(Vec::new), p),
            Grant::Write(p) => add_unique(rule.write.get_or_insert_with(Vec::new), p),
            Grant::Fields(p, names) => {
                let list = rule.fields.entry(p.clone()).or_default();
                for n in names {
                    add_unique(list, n);
                }
            }
            Grant::Public(names) => {
                let list = rule.public.get_or_insert_with(Vec::new);
                for n in names {
                    add_unique(list, n);
                }
            }
            Grant::Owner(o) => rule.owner = Some(o.clone()),
        }
        self.validate("the changed policy")
    }

    /// The opposite of [`Policy::grant`]: take principals (or field names) away.
    pub fn revoke(&mut self, target: &RuleTarget, change: &Grant) -> Result<()> {
        let rule = self.rule_mut(target);
        match change {
            Grant::Read(p) => {
                // Revoking from the defaults' list first copies it, so the rule is explicit.
                let list = rule.read.get_or_insert_with(Vec::new);
                list.retain(|x| x != p);
            }
            Grant::Write(p) => rule.write.get_or_insert_with(Vec::new).retain(|x| x != p),
            Grant::Fields(p, names) => {
                if let Some(list) = rule.fields.get_mut(p) {
                    if names.is_empty() {
                        list.clear();
                    } else {
                        list.retain(|x| !names.contains(x));
                    }
                    if list.is_empty() {
                        rule.fields.remove(p);
                    }
                }
            }
            Grant::Public(names) => {
                if let Some(list) = &mut rule.public {
                    list.retain(|x| !names.contains(x));
                }
            }
            Grant::Owner(_) => rule.owner = None,
        }
        self.validate("the changed policy")
    }

    fn rule_mut(&mut self, target: &RuleTarget) -> &mut LayerRule {
        let pos = self.layers.iter().position(|r| match target {
            RuleTarget::Layer(n) => r.name.as_deref() == Some(n.as_str()),
            RuleTarget::Kind(k) => r.kind == Some(*k),
        });
        let pos = match pos {
            Some(p) => p,
            None => {
                self.layers.push(match target {
                    RuleTarget::Layer(n) => LayerRule {
                        name: Some(n.clone()),
                        ..LayerRule::default()
                    },
                    RuleTarget::Kind(k) => LayerRule {
                        kind: Some(*k),
                        ..LayerRule::default()
                    },
                });
                self.layers.len() - 1
            }
        };
        &mut self.layers[pos]
    }
}

fn add_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// What a grant or revoke applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleTarget {
    /// One layer by name.
    Layer(String),
    /// Every layer of a kind.
    Kind(LayerKind),
}

/// One change to a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A principal that may read.
    Read(String),
    /// A principal that may write.
    Write(String),
    /// A principal and the personal fields it may see (`*`: all; empty on revoke: all).
    Fields(String, Vec<String>),
    /// Fields made public.
    Public(Vec<String>),
    /// The owning department.
    Owner(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, FieldType, GeometryType, Schema};

    fn meta(name: &str, kind: LayerKind, fields: &[&str]) -> LayerMeta {
        LayerMeta {
            name: name.into(),
            kind,
            version: 1,
            schema: Schema::new(
                fields
                    .iter()
                    .map(|f| Field::new(*f, FieldType::Text))
                    .collect(),
            )
            .unwrap(),
            source_crs: "EPSG:4490".into(),
            source: "t".into(),
            geometry_type: GeometryType::Polygon,
            feature_count: 0,
            bounds: None,
            updated_at: String::new(),
            owner: None,
            table: "t".into(),
        }
    }

    fn seen(p: &Policy, c: &Caller, m: &LayerMeta) -> Vec<String> {
        let v = p.field_view(c, m);
        m.schema
            .fields()
            .iter()
            .zip(&v.visible)
            .filter(|(_, v)| **v)
            .map(|(f, _)| f.name.clone())
            .collect()
    }

    #[test]
    fn the_built_in_policy_parses_and_closes_personal_fields() {
        let p = Policy::from_toml(DEFAULT_POLICY, "built-in").unwrap();
        assert_eq!(p, Policy::city_default());
        let m = meta(
            "cadastral",
            LayerKind::Cadastral,
            &[
                "parcel_id",
                "权利人姓名",
                "SFZH",
                "QLRZJHM",
                "业主",
                "owner ",
            ],
        );
        let anon = Caller::anonymous();
        assert!(p.can_read_layer(&anon, &m));
        assert_eq!(seen(&p, &anon, &m), ["parcel_id"]);
        let reg = Caller::new("li", ["registration"]);
        assert_eq!(seen(&p, &reg, &m).len(), 6);
        assert!(p.field_view(&reg, &m).shows_personal());
        assert!(!p.field_view(&anon, &m).shows_personal());
        let approvals = meta(
            "approvals",
            LayerKind::Approval,
            &["permit_no", "applicant"],
        );
        assert_eq!(seen(&p, &anon, &approvals), ["permit_no"]);
        assert_eq!(
            seen(&p, &Caller::new("wang", ["planning"]), &approvals).len(),
            2
        );
    }

    #[test]
    fn principals_roles_departments_and_users() {
        let p = Policy::from_toml(
            r#"
            [defaults]
            read = ["authenticated"]
            [[layer]]
            name = "secret"
            read = ["dept:规划局", "user:zhao", "role:audit"]
            write = ["dept:规划局"]
            "#,
            "t",
        )
        .unwrap();
        let m = meta("secret", LayerKind::Generic, &["a"]);
        let other = meta("other", LayerKind::Generic, &["a"]);
        let anon = Caller::anonymous();
        let planner = Caller::new("wang", Vec::<String>::new()).with_department("规划局");
        assert!(!p.can_read_layer(&anon, &other));
        assert!(p.can_read_layer(&planner, &other));
        assert!(p.can_read_layer(&planner, &m));
        assert!(p.can_write_layer(&planner, &m));
        assert!(p.can_read_layer(&Caller::new("zhao", Vec::<String>::new()), &m));
        assert!(p.can_read_layer(&Caller::new("x", ["audit"]), &m));
        assert!(!p.can_read_layer(&Caller::new("x", ["registration"]), &m));
        assert!(!p.can_write_layer(&Caller::new("zhao", Vec::<String>::new()), &m));
        // A claimed wildcard role is not a wildcard: only the operator is.
        assert!(!p.can_read_layer(&Caller::new("x", ["*"]), &m));
        assert!(p.can_read_layer(&Caller::operator(), &m));
    }

    #[test]
    fn the_producing_department_owns_its_layers() {
        let p = Policy::city_default();
        let mut m = meta("pipes", LayerKind::Pipeline, &["pipe_kind"]);
        m.owner = Some("水务局".into());
        let water = Caller::new("sun", Vec::<String>::new()).with_department("水务局");
        let gas = Caller::new("qian", Vec::<String>::new()).with_department("燃气公司");
        assert!(p.can_write_layer(&water, &m));
        assert!(!p.can_write_layer(&gas, &m));
        assert!(p.can_write_layer(&Caller::new("root", ["admin"]), &m));
    }

    #[test]
    fn errors_name_the_rule_and_principal() {
        for (text, needle) in [
            ("[[layer]]\nread = [\"*\"]", "exactly one of name and kind"),
            (
                "[[layer]]\nname = \"a\"\nread = [\"group:x\"]",
                "layer 'a': read",
            ),
            ("[analyses]\nbuffer = [\"*\"]", "unknown analysis"),
            ("[defaults]\nread = [\"\"]", "empty principal"),
            (
                "[[layer]]\nkind = \"cadastral\"\n[[layer]]\nkind = \"cadastral\"",
                "two rules",
            ),
            ("[layer]\nname = 1", "invalid type"),
            ("colour = 1", "unknown field"),
        ] {
            let e = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.contains("p.toml"), "{e}");
        }
    }

    #[test]
    fn grants_and_revokes_round_trip_through_toml_and_json() {
        let mut p = Policy::city_default();
        let t = RuleTarget::Layer("cadastral".into());
        p.grant(
            &t,
            &Grant::Fields("dept:规划局".into(), vec!["owner".into()]),
        )
        .unwrap();
        p.grant(&t, &Grant::Read("authenticated".into())).unwrap();
        let m = meta(
            "cadastral",
            LayerKind::Cadastral,
            &["parcel_id", "owner", "sfzh"],
        );
        let planner = Caller::new("wang", Vec::<String>::new()).with_department("规划局");
        assert_eq!(seen(&p, &planner, &m), ["parcel_id", "owner"]);
        assert!(!p.can_read_layer(&Caller::anonymous(), &m));
        let back = Policy::from_toml(&p.to_toml().unwrap(), "round trip").unwrap();
        assert_eq!(back, p);
        assert_eq!(Policy::from_json(&p.to_json(), "json").unwrap(), p);
        p.revoke(&t, &Grant::Fields("dept:规划局".into(), vec![]))
            .unwrap();
        assert_eq!(seen(&p, &planner, &m), ["parcel_id"]);
        assert!(p.grant(&t, &Grant::Read("bad:x".into())).is_err());
    }
}
