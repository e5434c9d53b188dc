//! Who is asking, and what they may do. Every read and write in the engine takes a [`Caller`];
//! the [`Policy`] decides which layers the caller sees (a layer it may not read is, to it, a
//! layer that does not exist), which fields it sees (personal fields closed by default, see
//! [`fields`]), what it may write and which analyses it may run. The [`Engine`](crate::Engine)
//! is the one place that asks the policy.
pub mod credentials;
pub mod fields;
pub mod policy;

use std::collections::BTreeSet;

pub use policy::{FieldView, Grant, Policy, RuleTarget};

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Nobody: no credentials.
    #[default]
    Anonymous,
    /// A person logged in with a password (a session cookie).
    Session,
    /// Another system with an API key.
    ApiKey,
    /// A bearer token (OIDC/JWT) from the configured issuer.
    Token,
    /// A trusted gateway's identity headers.
    Gateway,
    /// The local operator: the command line on its own store.
    Operator,
}

impl Via {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Anonymous => "anonymous",
            Via::Session => "session",
            Via::ApiKey => "api_key",
            Via::Token => "token",
            Via::Gateway => "gateway",
            Via::Operator => "operator",
        }
    }
}

/// The identity behind a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Caller {
    /// User or system id; `None` for anonymous callers.
    pub id: Option<String>,
    /// Roles such as `registration` (不动产登记) or `planning`.
    pub roles: BTreeSet<String>,
    /// The caller's department (部门), for ownership and `dept:` grants.
    pub department: Option<String>,
    /// How the identity was established.
    pub via: Via,
}

impl Caller {
    /// An anonymous caller with no roles.
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    /// An anonymous caller with the roles the server gives anonymous callers.
    pub fn anonymous_with(roles: impl IntoIterator<Item = impl Into<String>>) -> Caller {
        Caller {
            roles: roles.into_iter().map(Into::into).collect(),
            ..Caller::default()
        }
    }

    /// A caller with an id and roles, authenticated by a trusted gateway (tests and in-process
    /// callers; the HTTP server sets [`Caller::via`] from how it authenticated).
    pub fn new(
        id: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Caller {
        Caller {
            id: Some(id.into()),
            roles: roles.into_iter().map(Into::into).collect(),
            department: None,
            via: Via::Gateway,
        }
    }

    /// The same caller in a department.
    pub fn with_department(mut self, department: impl Into<String>) -> Caller {
        self.department = Some(department.into());
        self
    }

    /// The same caller authenticated another way.
    pub fn via(mut self, via: Via) -> Caller {
        self.via = via;
        self
    }

    /// The local operator (the command line on its own store): may do everything. Audit records
    /// name the operating-system user.
    pub fn operator() -> Caller {
        let who = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "operator".into());
        Caller {
            id: Some(format!("operator:{who}")),
            roles: ["*".to_string()].into(),
            department: None,
            via: Via::Operator,
        }
    }

    /// True for the local operator.
    pub fn is_operator(&self) -> bool {
        self.via == Via::Operator
    }

    /// True when the caller proved an identity.
    pub fn is_authenticated(&self) -> bool {
        self.id.is_some() && self.via != Via::Anonymous
    }

    /// True when the caller holds `role` (the operator holds every role).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role) || self.is_operator()
    }

    /// What a layer this caller creates records as its owner: the department, else `user:ID`
    /// for a signed-in person without one (`key:NAME` for an API key); `None` for anonymous
    /// callers and the operator (whose layers are the administrators').
    pub fn owner_name(&self) -> Option<String> {
        if self.is_operator() || !self.is_authenticated() {
            return None;
        }
        // A department named like a user or key owner would own that one's layers.
        let department = self
            .department
            .as_ref()
            .filter(|d| !d.starts_with("user:") && !d.starts_with("key:"));
        match (department, &self.id) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(id)) if self.via == Via::ApiKey => Some(format!("key:{id}")),
            (None, Some(id)) => Some(format!("user:{id}")),
            (None, None) => None,
        }
    }

    /// The name audit records and rate limits use: `session:li`, `api_key:规划审批系统`,
    /// `anonymous`.
    pub fn principal(&self) -> String {
        match &self.id {
            Some(id) if self.via != Via::Anonymous => format!("{}:{id}", self.via.as_str()),
            _ => "anonymous".into(),
        }
    }
}
