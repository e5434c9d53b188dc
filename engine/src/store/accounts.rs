//! Accounts, API keys and the access policy, kept in the store beside the layers so that every
//! node reading the store agrees on them. Passwords are argon2id PHC strings and keys SHA-256
//! digests (see [`crate::access::credentials`]); nothing here can recover a secret. Every change
//! is written in one transaction with its audit record.
use duckdb::{OptionalExt, params};
use serde::Serialize;

use super::Store;
use super::audit::{AuditEvent, append_in};
use crate::access::Policy;
use crate::error::{Error, Result};

pub(super) const CREATE: &str = "CREATE TABLE IF NOT EXISTS onemap_users (
         name VARCHAR NOT NULL,
         password_hash VARCHAR NOT NULL,
         roles VARCHAR NOT NULL,
         department VARCHAR,
         disabled BOOLEAN NOT NULL,
         failed_logins BIGINT NOT NULL,
         locked_until VARCHAR,
         created_at VARCHAR NOT NULL,
         updated_at VARCHAR NOT NULL
     );
     CREATE TABLE IF NOT EXISTS onemap_keys (
         id VARCHAR NOT NULL,
         name VARCHAR NOT NULL,
         secret_hash VARCHAR NOT NULL,
         roles VARCHAR NOT NULL,
         department VARCHAR,
         created_at VARCHAR NOT NULL,
         created_by VARCHAR,
         expires_at VARCHAR,
         revoked_at VARCHAR
     );
     CREATE TABLE IF NOT EXISTS onemap_policy (
         version BIGINT NOT NULL,
         written_at VARCHAR NOT NULL,
         written_by VARCHAR NOT NULL,
         policy VARCHAR NOT NULL
     );";

/// A person who logs in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    /// Login name (any UTF-8, e.g. 李明).
    pub name: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Department.
    pub department: Option<String>,
    /// A disabled user cannot log in; its sessions end.
    pub disabled: bool,
    /// Failed logins since the last success.
    pub failed_logins: u32,
    /// Locked out until (UTC, RFC 3339).
    pub locked_until: Option<String>,
    /// Created (UTC, RFC 3339).
    pub created_at: String,
    /// Last changed (password, roles, state): sessions older than this end.
    pub updated_at: String,
}

/// An API key of another system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    /// The key's public id (the part of the key before the secret).
    pub id: String,
    /// The system it is for (规划审批系统).
    pub name: String,
    /// SHA-256 of the secret, hex.
    #[serde(skip)]
    pub secret_hash: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Department.
    pub department: Option<String>,
    /// Created (UTC, RFC 3339).
    pub created_at: String,
    /// By whom.
    pub created_by: Option<String>,
    /// Expires (UTC, RFC 3339).
    pub expires_at: Option<String>,
    /// Revoked (UTC, RFC 3339).
    pub revoked_at: Option<String>,
}

/// A stored policy version.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    /// Version, from 1.
    pub version: i64,
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// The policy.
    pub policy: Policy,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn roles_json(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".into())
}

fn roles_from(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

const USER_COLUMNS: &str = "name, password_hash, roles, department, disabled, failed_logins, locked_until, created_at, updated_at";
const KEY_COLUMNS: &str =
    "id, name, secret_hash, roles, department, created_at, created_by, expires_at, revoked_at";

fn user_row(r: &duckdb::Row<'_>) -> duckdb::Result<UserRecord> {
    Ok(UserRecord {
        name: r.get(0)?,
        password_hash: r.get(1)?,
        roles: roles_from(&r.get::<_, String>(2)?),
        department: r.get(3)?,
        disabled: r.get(4)?,
        failed_logins: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        locked_until: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn key_row(r: &duckdb::Row<'_>) -> duckdb::Result<KeyRecord> {
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        roles: roles_from(&r.get::<_, String>(3)?),
        department: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        expires_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

impl Store {
    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM onemap_users ORDER BY name"
        ))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    /// One user.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM onemap_users WHERE name = ?"
        ))?;
        let mut rows = stmt.query_map([name], user_row)?;
        Ok(rows.next().transpose()?)
    }

    /// Create a user (`create`: must not exist) or replace one (must exist), with its audit
    /// record, in one transaction.
    pub fn put_user(&self, user: &UserRecord, create: bool, audit: &AuditEvent) -> Result<()> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let exists: i64 = tx.query_row(
            "SELECT count(*) FROM onemap_users WHERE name = ?",
            [&user.name],
            |r| r.get(0),
        )?;
        match (create, exists > 0) {
            (true, true) => {
                return Err(Error::Account(format!(
                    "user '{}' exists already (`onemap users passwd` changes a password)",
                    user.name
                )));
            }
            (false, false) => {
                return Err(Error::Account(format!(
                    "no user '{}' (see `onemap users list`)",
                    user.name
                )));
            }
            _ => {}
        }
        tx.execute("DELETE FROM onemap_users WHERE name = ?", [&user.name])?;
        tx.execute(
            &format!("INSERT INTO onemap_users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"),
            params![
                user.name,
                user.password_hash,
                roles_json(&user.roles),
                user.department,
                user.disabled,
                i64::from(user.failed_logins),
                user.locked_until,
                user.created_at,
                user.updated_at,
            ],
        )?;
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    /// Count a failed login for a user (if it exists); lock it for `lock_for` after `lock_after`
    /// failures in a row. Returns the failures so far and the lock's end. Audited.
    pub fn login_failed(
        &self,
        name: &str,
        lock_after: u32,
        lock_for: std::time::Duration,
        audit: &AuditEvent,
    ) -> Result<(u32, Option<String>)> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let failed: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT failed_logins, locked_until FROM onemap_users WHERE name = ?",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let mut outcome = (0, None);
        if let Some((f, until)) = failed {
            let now = chrono::Utc::now();
            let locked_now = until
                .as_deref()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > now));
            if locked_now {
                // Attempts on a locked account are refused unread: they neither count nor extend
                // the lock (else one guess a quarter of an hour would keep anyone locked out).
                outcome = (u32::try_from(f).unwrap_or(u32::MAX), until);
            } else {
                // A lock that has passed starts the count again.
                let before = if until.is_some() { 0 } else { f };
                let n = u32::try_from(before + 1).unwrap_or(u32::MAX);
                let locked = (n >= lock_after).then(|| {
                    chrono::Duration::from_std(lock_for)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d))
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                });
                tx.execute(
                    "UPDATE onemap_users SET failed_logins = ?, locked_until = ? WHERE name = ?",
                    params![i64::from(n), locked, name],
                )?;
                outcome = (n, locked);
            }
        }
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(outcome)
    }

    /// A successful login: the failure count starts again.
    pub fn login_succeeded(&self, name: &str, audit: &AuditEvent) -> Result<()> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE onemap_users SET failed_logins = 0, locked_until = NULL WHERE name = ?",
            [name],
        )?;
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    /// Every API key (revoked and expired ones too), by creation.
    pub fn keys(&self) -> Result<Vec<KeyRecord>> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM onemap_keys ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], key_row)?;
        Ok(rows.collect::<duckdb::Result<_>>()?)
    }

    /// Store a new key, audited.
    pub fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let clash: i64 = tx.query_row(
            "SELECT count(*) FROM onemap_keys WHERE id = ?",
            [&key.id],
            |r| r.get(0),
        )?;
        if clash > 0 {
            return Err(Error::Account(format!(
                "key id {} exists; try again",
                key.id
            )));
        }
        tx.execute(
            &format!("INSERT INTO onemap_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"),
            params![
                key.id,
                key.name,
                key.secret_hash,
                roles_json(&key.roles),
                key.department,
                key.created_at,
                key.created_by,
                key.expires_at,
                key.revoked_at,
            ],
        )?;
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    /// Revoke a key by id or by name (every key of that name), audited. Returns how many.
    pub fn revoke_key(&self, id_or_name: &str, audit: &AuditEvent) -> Result<usize> {
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE onemap_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
            params![now(), id_or_name, id_or_name],
        )?;
        if n == 0 {
            return Err(Error::Account(format!(
                "no active key with id or name '{id_or_name}' (see `onemap keys list`)"
            )));
        }
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(n)
    }

    /// The policy in force: the newest stored version, or `None` when none was ever stored.
    pub fn policy(&self) -> Result<Option<StoredPolicy>> {
        let conn = self.connection()?;
        let row: Option<(i64, String, String, String)> = conn
            .query_row(
                "SELECT version, written_at, written_by, policy FROM onemap_policy ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((version, at, by, text)) => Ok(Some(StoredPolicy {
                version,
                at,
                by,
                policy: Policy::from_json(&text, &format!("stored policy version {version}"))?,
            })),
        }
    }

    /// Store a new policy version (validated), audited; returns the version.
    pub fn put_policy(&self, policy: &Policy, by: &str, audit: &AuditEvent) -> Result<i64> {
        policy.validate("the new policy")?;
        self.ensure_writable()?;
        let _w = self.write_lock.lock().map_err(|_| super::poisoned())?;
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM onemap_policy",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO onemap_policy VALUES (?, ?, ?, ?)",
            params![version, now(), by, policy.to_json()],
        )?;
        append_in(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(version)
    }
}

/// The current time as the store writes it.
pub fn timestamp() -> String {
    now()
}
