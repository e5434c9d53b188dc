//! `onemap users`, `keys`, `acl` and `audit`: accounts, API keys, the access policy and the
//! access audit, kept in the store. Every change is recorded in the audit in the same
//! transaction, as the operating-system user who ran the command.
use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use onemap_engine::access::{Grant, Policy, RuleTarget, credentials};
use onemap_engine::store::{AuditEvent, AuditQuery, KeyRecord, Store, UserRecord, timestamp};
use onemap_engine::{Caller, LayerKind, Via};
use serde_json::json;

use crate::config::{AclChange, AclCommand, AuditArgs, KeysCommand, ListFormat, UsersCommand};

/// The password for `users add` / `passwd`: ONEMAP_PASSWORD, else asked twice on the terminal,
/// else one line of standard input.
fn read_password(user: &str) -> Result<String> {
    if let Ok(p) = std::env::var("ONEMAP_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(format!("password for {user}: "))
            .context("cannot read the password")?;
        let b = rpassword::prompt_password("again: ").context("cannot read the password")?;
        if a != b {
            bail!("the two passwords differ");
        }
        return Ok(a);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn check_roles(roles: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in roles.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        if r.contains('*') || r.contains(':') || r.contains(',') {
            bail!("role '{r}': roles are plain names (no '*', ':' or ',')");
        }
        if !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

fn event(action: &str, route: &str) -> AuditEvent {
    AuditEvent::new(&Caller::operator(), action).route(route.to_string())
}

/// `onemap users ...`.
pub fn users(store: &Store, cmd: UsersCommand, quiet: bool) -> Result<()> {
    let get = |name: &str| -> Result<UserRecord> {
        store
            .user(name)?
            .with_context(|| format!("no user '{name}' (see `onemap users list`)"))
    };
    match cmd {
        UsersCommand::Add {
            name,
            roles,
            department,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 64 || name.contains(char::is_control) {
                bail!("a user name is 1 to 64 characters without control characters");
            }
            let roles = check_roles(&roles)?;
            let pw = read_password(&name)?;
            credentials::check_password_strength(&pw)?;
            let now = timestamp();
            let u = UserRecord {
                name: name.clone(),
                password_hash: credentials::hash_password(&pw)?,
                roles: roles.clone(),
                department: department.clone(),
                disabled: false,
                failed_logins: 0,
                locked_until: None,
                created_at: now.clone(),
                updated_at: now,
            };
            store.put_user(
                &u,
                true,
                &event("user", "onemap users add").detail(
                    json!({ "user": name, "change": "added", "roles": roles, "department": department }),
                ),
            )?;
            if !quiet {
                eprintln!("added user '{name}' (roles: {})", roles.join(", "));
            }
        }
        UsersCommand::Passwd { name } => {
            let mut u = get(&name)?;
            let pw = read_password(&name)?;
            credentials::check_password_strength(&pw)?;
            u.password_hash = credentials::hash_password(&pw)?;
            u.failed_logins = 0;
            u.locked_until = None;
            u.updated_at = timestamp();
            store.put_user(
                &u,
                false,
                &event("user", "onemap users passwd")
                    .detail(json!({ "user": name, "change": "password" })),
            )?;
            if !quiet {
                eprintln!("password of '{name}' changed; its sessions end");
            }
        }
        UsersCommand::Set {
            name,
            roles,
            department,
        } => {
            let mut u = get(&name)?;
            if let Some(r) = roles {
                u.roles = check_roles(&r)?;
            }
            if let Some(d) = department {
                u.department = Some(d).filter(|d| !d.trim().is_empty());
            }
            u.updated_at = timestamp();
            store.put_user(
                &u,
                false,
                &event("user", "onemap users set").detail(json!({
                    "user": name, "change": "set", "roles": u.roles, "department": u.department
                })),
            )?;
            if !quiet {
                eprintln!("user '{name}': roles {}", u.roles.join(", "));
            }
        }
        UsersCommand::Disable { name } => set_disabled(store, &name, true, quiet)?,
        UsersCommand::Enable { name } => set_disabled(store, &name, false, quiet)?,
        UsersCommand::List(f) => {
            let users = store.users()?;
            match f.format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&users)?),
                ListFormat::Table => {
                    let mut t = comfy_table::Table::new();
                    t.set_header([
                        "user",
                        "roles",
                        "department",
                        "state",
                        "failed logins",
                        "created",
                    ]);
                    for u in &users {
                        let state = if u.disabled {
                            "disabled".to_string()
                        } else if let Some(l) = &u.locked_until {
                            format!("locked until {l}")
                        } else {
                            "active".to_string()
                        };
                        t.add_row([
                            u.name.clone(),
                            u.roles.join(","),
                            u.department.clone().unwrap_or_default(),
                            state,
                            u.failed_logins.to_string(),
                            u.created_at.clone(),
                        ]);
                    }
                    println!("{t}");
                }
            }
        }
    }
    Ok(())
}

fn set_disabled(store: &Store, name: &str, disabled: bool, quiet: bool) -> Result<()> {
    let mut u = store
        .user(name)?
        .with_context(|| format!("no user '{name}' (see `onemap users list`)"))?;
    u.disabled = disabled;
    u.updated_at = timestamp();
    store.put_user(
        &u,
        false,
        &event(
            "user",
            if disabled {
                "onemap users disable"
            } else {
                "onemap users enable"
            },
        )
        .detail(json!({ "user": name, "change": if disabled { "disabled" } else { "enabled" } })),
    )?;
    if !quiet {
        eprintln!(
            "user '{name}' {}",
            if disabled {
                "disabled; its sessions end"
            } else {
                "enabled"
            }
        );
    }
    Ok(())
}

/// `onemap keys ...`.
pub fn keys(store: &Store, cmd: KeysCommand, quiet: bool) -> Result<()> {
    match cmd {
        KeysCommand::Create {
            name,
            roles,
            department,
            expires_days,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 128 {
                bail!("--name: 1 to 128 characters naming the system the key is for");
            }
            let roles = check_roles(&roles)?;
            let (key, id, digest) = credentials::new_api_key();
            if expires_days.is_some_and(|d| d > 36_500) {
                bail!("--expires-days: 0 (expired at once) to 36500 (a hundred years)");
            }
            let expires_at = expires_days.map(|d| {
                (chrono::Utc::now() + chrono::Duration::days(i64::from(d)))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
            let rec = KeyRecord {
                id: id.clone(),
                name: name.clone(),
                secret_hash: digest,
                roles: roles.clone(),
                department,
                created_at: timestamp(),
                created_by: Caller::operator().id,
                expires_at: expires_at.clone(),
                revoked_at: None,
            };
            store.insert_key(
                &rec,
                &event("key", "onemap keys create").detail(json!({
                    "key": id, "name": name, "change": "created", "roles": roles, "expires_at": expires_at
                })),
            )?;
            // The key itself goes to stdout, once; the words to stderr.
            println!("{key}");
            if !quiet {
                eprintln!(
                    "created key {id} for '{name}' (roles: {}{}); it is shown only now: send it as Authorization: Bearer <key>",
                    roles.join(", "),
                    expires_at
                        .map(|e| format!("; expires {e}"))
                        .unwrap_or_default()
                );
            }
        }
        KeysCommand::List(f) => {
            let keys = store.keys()?;
            match f.format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&keys)?),
                ListFormat::Table => {
                    let mut t = comfy_table::Table::new();
                    t.set_header([
                        "id",
                        "name",
                        "roles",
                        "department",
                        "created",
                        "expires",
                        "state",
                    ]);
                    for k in &keys {
                        t.add_row([
                            k.id.clone(),
                            k.name.clone(),
                            k.roles.join(","),
                            k.department.clone().unwrap_or_default(),
                            k.created_at.clone(),
                            k.expires_at.clone().unwrap_or_else(|| "never".into()),
                            k.revoked_at
                                .as_ref()
                                .map(|r| format!("revoked {r}"))
                                .unwrap_or_else(|| "active".into()),
                        ]);
                    }
                    println!("{t}");
                }
            }
        }
        KeysCommand::Revoke { key } => {
            let n = store.revoke_key(
                &key,
                &event("key", "onemap keys revoke")
                    .detail(json!({ "key": key, "change": "revoked" })),
            )?;
            if !quiet {
                eprintln!(
                    "revoked {n} key(s) '{key}'; servers stop accepting them within a second"
                );
            }
        }
    }
    Ok(())
}

fn target(c: &AclChange) -> Result<RuleTarget> {
    match (&c.layer, &c.kind) {
        (Some(l), None) => Ok(RuleTarget::Layer(l.clone())),
        (None, Some(k)) => Ok(RuleTarget::Kind(k.parse::<LayerKind>()?)),
        _ => bail!("give --layer or --kind"),
    }
}

fn changes(c: &AclChange) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    if let Some(p) = &c.read {
        out.push(Grant::Read(p.clone()));
    }
    if let Some(p) = &c.write {
        out.push(Grant::Write(p.clone()));
    }
    if let Some(f) = &c.fields {
        let (p, names) = f.split_once('=').with_context(|| {
            format!("--fields {f}: expected PRINCIPAL=FIELD,FIELD (or PRINCIPAL=*)")
        })?;
        out.push(Grant::Fields(
            p.trim().to_string(),
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        ));
    }
    if let Some(p) = &c.public {
        out.push(Grant::Public(p.clone()));
    }
    if let Some(o) = &c.owner {
        out.push(Grant::Owner(o.clone()));
    }
    if out.is_empty() {
        bail!("nothing to change: give --read, --write, --fields, --public or --owner");
    }
    Ok(out)
}

/// `onemap acl ...`.
pub fn acl(store: &Store, cmd: AclCommand, quiet: bool) -> Result<()> {
    let current = || -> Result<(Policy, i64)> {
        Ok(match store.policy()? {
            Some(p) => (p.policy, p.version),
            None => (Policy::city_default(), 0),
        })
    };
    let who = Caller::operator().id.unwrap_or_default();
    match cmd {
        AclCommand::Show => {
            let (p, v) = current()?;
            println!(
                "# access policy version {v}{}\n{}",
                if v == 0 { " (built in)" } else { "" },
                p.to_toml()?
            );
        }
        AclCommand::Load { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let p = Policy::from_toml(&text, &file.display().to_string())?;
            let v = store.put_policy(
                &p,
                &who,
                &event("policy", "onemap acl load")
                    .detail(json!({ "file": file.display().to_string(), "policy": p })),
            )?;
            if !quiet {
                eprintln!("access policy version {v} loaded from {}", file.display());
            }
        }
        AclCommand::Grant(c) => change_policy(store, &c, true, &who, quiet)?,
        AclCommand::Revoke(c) => change_policy(store, &c, false, &who, quiet)?,
        AclCommand::Check {
            layer,
            user,
            roles,
            department,
        } => {
            let (p, _) = current()?;
            let meta = store.layer(&layer)?;
            let caller = Caller {
                id: user.clone(),
                roles: roles.into_iter().collect(),
                department,
                via: if user.is_some() {
                    Via::Session
                } else {
                    Via::Anonymous
                },
            };
            let view = p.field_view(&caller, &meta);
            let visible: Vec<&str> = meta
                .schema
                .fields()
                .iter()
                .zip(&view.visible)
                .filter(|(_, v)| **v)
                .map(|(f, _)| f.name.as_str())
                .collect();
            let hidden: Vec<&str> = meta
                .schema
                .fields()
                .iter()
                .zip(&view.visible)
                .filter(|(_, v)| !**v)
                .map(|(f, _)| f.name.as_str())
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "layer": layer,
                    "read": p.can_read_layer(&caller, &meta),
                    "write": p.can_write_layer(&caller, &meta),
                    "owner": p.owner_of(&meta),
                    "fields_visible": visible,
                    "fields_hidden": hidden,
                    "analyses": onemap_engine::access::policy::ANALYSES
                        .iter()
                        .filter(|a| p.can_run(&caller, a))
                        .collect::<Vec<_>>(),
                }))?
            );
        }
    }
    Ok(())
}

fn change_policy(store: &Store, c: &AclChange, grant: bool, who: &str, quiet: bool) -> Result<()> {
    let mut p = match store.policy()? {
        Some(p) => p.policy,
        None => Policy::city_default(),
    };
    let t = target(c)?;
    let list = changes(c)?;
    for g in &list {
        if grant {
            p.grant(&t, g)?;
        } else {
            p.revoke(&t, g)?;
        }
    }
    let v = store.put_policy(
        &p,
        who,
        &event(
            "policy",
            if grant {
                "onemap acl grant"
            } else {
                "onemap acl revoke"
            },
        )
        .detail(
            json!({ "target": format!("{t:?}"), "changes": format!("{list:?}"), "grant": grant }),
        ),
    )?;
    if !quiet {
        eprintln!(
            "access policy version {v}: {} {:?} on {t:?}",
            if grant { "granted" } else { "revoked" },
            list
        );
    }
    Ok(())
}

/// `onemap audit`.
pub fn audit(store: &Store, a: AuditArgs, quiet: bool) -> Result<std::process::ExitCode> {
    if a.verify {
        let v = store.verify_audit()?;
        if v.problems.is_empty() {
            println!("audit chain intact: {} records, head {}", v.records, v.head);
            return Ok(std::process::ExitCode::SUCCESS);
        }
        for p in &v.problems {
            eprintln!("onemap: audit: {p}");
        }
        eprintln!(
            "onemap: error: the audit chain is broken in {} place(s) ({} records checked)",
            v.problems.len(),
            v.records
        );
        return Ok(std::process::ExitCode::from(1));
    }
    // The newest `limit`, oldest first: count, then skip.
    let q = AuditQuery {
        since: a.since.clone(),
        until: a.until.clone(),
        actor: a.actor.clone(),
        action: a.action.clone(),
        layer: a.layer.clone(),
        after: None,
        limit: usize::MAX >> 1,
    };
    let mut records = store.audit(&q)?;
    if records.len() > a.limit {
        records.drain(..records.len() - a.limit);
    }
    if let Some(path) = &a.export {
        let sheet = onemap_tile_server::admin::audit_sheet(&records);
        let xlsx = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
        if xlsx {
            onemap_engine::analytics::table::write_xlsx(&[sheet], path)?;
        } else {
            onemap_engine::analytics::table::write_csv(&sheet, path)?;
        }
        if !quiet {
            eprintln!(
                "wrote {} audit records to {}",
                records.len(),
                path.display()
            );
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    match a.format.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        ListFormat::Table => {
            let mut t = comfy_table::Table::new();
            t.set_header([
                "seq", "at", "actor", "action", "layer", "count", "route", "detail",
            ]);
            for r in &records {
                let mut detail = r.event.detail.to_string();
                if detail.chars().count() > 80 {
                    detail = detail.chars().take(77).collect::<String>() + "...";
                }
                t.add_row([
                    r.seq.to_string(),
                    r.at.clone(),
                    r.event.actor.clone(),
                    r.event.action.clone(),
                    r.event.layer.clone().unwrap_or_default(),
                    r.event.count.map(|c| c.to_string()).unwrap_or_default(),
                    r.event.route.clone().unwrap_or_default(),
                    detail,
                ]);
            }
            println!("{t}");
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The demo's first account: `admin` with every office's role and a random password printed
/// once, when the store has no users yet.
pub fn first_admin(store: &Store) -> Result<Option<String>> {
    if !store.users()?.is_empty() {
        return Ok(None);
    }
    let pw = credentials::new_password();
    let now = timestamp();
    let roles: Vec<String> = [
        "admin",
        "registration",
        "planning",
        "approval",
        "analysis",
        "audit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    store.put_user(
        &UserRecord {
            name: "admin".into(),
            password_hash: credentials::hash_password(&pw)?,
            roles: roles.clone(),
            department: None,
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            created_at: now.clone(),
            updated_at: now,
        },
        true,
        &event("user", "onemap demo")
            .detail(json!({ "user": "admin", "change": "added", "roles": roles })),
    )?;
    Ok(Some(pw))
}
