//! `onemap serve`: settings from flags, then the environment, then the config file's `[serve]`,
//! `[auth]` and `[limits]`, then the defaults — resolved into the server's configuration, checked
//! (a non-loopback address needs authentication), and served.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use onemap_engine::tiling::TileOptions;
use onemap_engine::{Engine, Policy, Store};
use onemap_tile_server::ServerConfig;
use onemap_tile_server::http::{
    AuthConfig, ConnConfig, GatewayConfig, JwksSource, JwtConfig, RateConfig,
};

use crate::config::{AnonymousSetting, AuthSwitch, FileConfig, ServeArgs};

fn seconds(what: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{what} must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(v.min(30.0 * 86_400.0)))
}

/// A whole number of minutes or hours from the config file: `default` when absent, between 1
/// and `max` (a week or a year is a typo, not a setting; and no overflow).
fn units(what: &str, v: Option<u64>, default: u64, max: u64, unit: u64) -> Result<Duration> {
    let v = v.unwrap_or(default);
    if v == 0 || v > max {
        bail!("{what} must be between 1 and {max}");
    }
    Ok(Duration::from_secs(v * unit))
}

/// The server configuration from flags, environment and file.
pub fn config(
    args: &ServeArgs,
    file: &(FileConfig, PathBuf),
) -> Result<(ServerConfig, Option<PathBuf>)> {
    let (cfg, base) = file;
    let rel = |p: &Path| base.join(p);
    let s = &cfg.serve;
    let a = &cfg.auth;
    let l = &cfg.limits;
    let public_url = args.public_url.clone().or_else(|| s.public_url.clone());
    let auth_on = args.auth.or(a.mode).unwrap_or(AuthSwitch::On) == AuthSwitch::On;
    let anonymous = if args.no_anonymous {
        None
    } else if let Some(r) = &args.anonymous_roles {
        Some(
            r.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        )
    } else {
        match &a.anonymous {
            None | Some(AnonymousSetting::Allowed(true)) => Some(Vec::new()),
            Some(AnonymousSetting::Allowed(false)) => None,
            Some(AnonymousSetting::Roles(r)) => Some(r.clone()),
        }
    };
    if anonymous
        .as_ref()
        .is_some_and(|r: &Vec<String>| r.iter().any(|x| x.contains('*')))
    {
        bail!("anonymous callers cannot have the wildcard role");
    }
    let jwt = match (&args.jwt_issuer, &args.jwt_audience, &args.jwks, &a.jwt) {
        (Some(iss), Some(aud), Some(jwks), _) => {
            Some(jwt_config(iss, aud, jwks, args.jwks_ca.clone(), base))
        }
        (None, None, None, Some(j)) => Some(JwtConfig {
            refresh: units(
                "[auth.jwt] refresh_minutes",
                j.refresh_minutes,
                10,
                1440,
                60,
            )?,
            user_claim: j.user_claim.clone().unwrap_or_else(|| "sub".into()),
            roles_claim: j.roles_claim.clone().unwrap_or_else(|| "roles".into()),
            department_claim: j.department_claim.clone(),
            leeway_s: j.leeway_s.unwrap_or(30),
            ..jwt_config(
                &j.issuer,
                &j.audience,
                &j.jwks,
                args.jwks_ca
                    .clone()
                    .or_else(|| j.jwks_ca.as_deref().map(rel)),
                base,
            )
        }),
        (None, None, None, None) => None,
        _ => bail!("--jwt-issuer, --jwt-audience and --jwks go together"),
    };
    // Gateway mode: the trusted addresses from the flag or [auth.gateway]; the secret from the
    // environment or the config file, never a flag (a flag shows in every `ps` listing).
    let trusted = args
        .gateway_trusted
        .clone()
        .or_else(|| a.gateway.as_ref().map(|g| g.trusted.clone()));
    let gateway = match trusted {
        None => None,
        Some(trusted) => {
            let g = a.gateway.as_ref();
            let secret = match (
                std::env::var("ONEMAP_GATEWAY_SECRET").ok(),
                g.and_then(|g| g.secret.clone()),
                g.and_then(|g| g.secret_file.as_ref()),
            ) {
                (Some(s), _, _) | (None, Some(s), _) => s,
                (None, None, Some(f)) => std::fs::read_to_string(rel(f))
                    .with_context(|| {
                        format!("cannot read the gateway secret file {}", f.display())
                    })?
                    .trim()
                    .to_string(),
                (None, None, None) => bail!(
                    "gateway mode needs the shared secret: ONEMAP_GATEWAY_SECRET, or secret_file in [auth.gateway]"
                ),
            };
            Some(GatewayConfig { trusted, secret })
        }
    };
    if gateway
        .as_ref()
        .is_some_and(|g| g.secret.chars().count() < 16)
    {
        bail!("the gateway secret must be at least 16 characters");
    }
    let auth = AuthConfig {
        accounts: auth_on && a.accounts.unwrap_or(true),
        api_keys: auth_on && a.api_keys.unwrap_or(true),
        jwt: jwt.filter(|_| auth_on),
        gateway: gateway.filter(|_| auth_on),
        anonymous,
        session_idle: units(
            "[auth] session_idle_minutes",
            a.session_idle_minutes,
            30,
            7 * 24 * 60,
            60,
        )?,
        session_max: units(
            "[auth] session_max_hours",
            a.session_max_hours,
            12,
            366 * 24,
            3600,
        )?,
        secure_cookies: args.secure_cookies
            || a.secure_cookies.unwrap_or(false)
            || public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        trusted_proxies: args
            .trusted_proxies
            .clone()
            .or_else(|| s.trusted_proxies.clone())
            .unwrap_or_default(),
        lockout_after: a.lockout_after.unwrap_or(5).max(1),
        lockout_for: units(
            "[auth] lockout_minutes",
            a.lockout_minutes,
            15,
            7 * 24 * 60,
            60,
        )?,
    };
    let d = RateConfig::default();
    let rates = RateConfig {
        per_principal: args
            .rate_per_second
            .or(l.rate_per_second)
            .unwrap_or(d.per_principal),
        burst: args.burst.or(l.burst).unwrap_or(d.burst),
        anonymous_per_ip: args
            .anonymous_rate_per_second
            .or(l.anonymous_rate_per_second)
            .unwrap_or(d.anonymous_per_ip),
        anonymous_burst: l.anonymous_burst.unwrap_or(d.anonymous_burst),
        logins_per_minute: l.logins_per_minute.unwrap_or(d.logins_per_minute),
    };
    let c = ConnConfig::default();
    let connections = ConnConfig {
        max_connections: args
            .max_connections
            .or(l.max_connections)
            .unwrap_or(c.max_connections)
            .max(1),
        max_connections_per_ip: args
            .max_connections_per_ip
            .or(l.max_connections_per_ip)
            .unwrap_or(c.max_connections_per_ip)
            .max(1),
        header_timeout: match args.header_timeout_s.or(l.header_timeout_s) {
            Some(t) => seconds("the header timeout", t)?,
            None => c.header_timeout,
        },
        body_timeout: match l.body_timeout_s {
            Some(t) => seconds("the body timeout", t)?,
            None => c.body_timeout,
        },
        body_idle_timeout: c.body_idle_timeout,
    };
    let max_tile_kb = args.max_tile_kb.or(s.max_tile_kb).unwrap_or(500).max(1);
    let rules = args.rules.clone().or_else(|| s.rules.as_deref().map(rel));
    let policy = args.policy.clone().or_else(|| s.policy.as_deref().map(rel));
    let config = ServerConfig {
        public_url,
        tiles: TileOptions {
            max_bytes: max_tile_kb.saturating_mul(1024),
            ..TileOptions::default()
        },
        cache_bytes: args
            .cache_mb
            .or(s.cache_mb)
            .unwrap_or(256)
            .saturating_mul(1 << 20),
        query_timeout: seconds(
            "--query-timeout-s",
            args.query_timeout_s.or(s.query_timeout_s).unwrap_or(30.0),
        )?,
        job_timeout: seconds(
            "--job-timeout-s",
            args.job_timeout_s.or(s.job_timeout_s).unwrap_or(3600.0),
        )?,
        rules: Some(Arc::new(crate::check::load_rules(rules.as_deref())?)),
        auth,
        rates,
        connections,
        policy_from_store: policy.is_none(),
        ..ServerConfig::default()
    };
    Ok((config, policy))
}

fn jwt_config(
    issuer: &str,
    audience: &str,
    jwks: &str,
    ca: Option<PathBuf>,
    base: &Path,
) -> JwtConfig {
    let source = if jwks.starts_with("https://") || jwks.starts_with("http://") {
        JwksSource::Url {
            url: jwks.to_string(),
            ca,
        }
    } else {
        JwksSource::File(base.join(jwks))
    };
    JwtConfig {
        issuer: issuer.to_string(),
        audience: audience.to_string(),
        jwks: source,
        refresh: Duration::from_secs(600),
        user_claim: "sub".into(),
        roles_claim: "roles".into(),
        department_claim: None,
        leeway_s: 30,
    }
}

/// `onemap serve` (and the end of `onemap demo`).
pub fn run(
    db: &Path,
    args: ServeArgs,
    file: &(FileConfig, PathBuf),
    lock_wait: Duration,
) -> Result<()> {
    if !db.is_file() {
        bail!(
            "no store at {}; import a layer first (`onemap import`), run `onemap demo`, or pass the right --db",
            db.display()
        );
    }
    let (config, policy_file) = config(&args, file)?;
    let bind = args
        .bind
        .or(file.0.serve.bind)
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let allow_network =
        args.allow_anonymous_network || file.0.serve.allow_anonymous_network.unwrap_or(false);
    if config.auth.is_off() && !bind.ip().is_loopback() {
        if !allow_network {
            bail!(
                "authentication is off: refusing to serve {bind}, which is not a loopback address (anyone on the network would be anonymous); turn authentication on ([auth] in the config file, --auth on), bind 127.0.0.1, or pass --allow-anonymous-network"
            );
        }
        tracing::warn!(%bind, "authentication is off and the server listens on the network (--allow-anonymous-network): every caller is anonymous");
        eprintln!(
            "onemap: warning: authentication is off and {bind} is reachable from the network; every caller is anonymous"
        );
    }
    // Detached: the file is held only while a layer loads or an analysis run is recorded, so
    // `onemap import` in another shell can write to it; the watcher then reloads what changed.
    let store = Store::open_with(
        db,
        onemap_engine::store::OpenOptions {
            read_only: false,
            detached: true,
            lock_wait,
        },
    )?;
    let policy = match &policy_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the policy file {}", p.display()))?;
            Policy::from_toml(&text, &p.display().to_string())?
        }
        None => store
            .policy()?
            .map(|p| p.policy)
            .unwrap_or_else(Policy::city_default),
    };
    let engine = Arc::new(Engine::open(store)?.with_policy(policy));
    let modes = describe(&config.auth);
    let st = onemap_tile_server::state::state(engine, config)
        .map_err(anyhow::Error::msg)
        .context("cannot start the server")?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        if args.watch_ms > 0 {
            onemap_tile_server::watch::spawn(st.clone(), Duration::from_millis(args.watch_ms));
        }
        onemap_tile_server::serve_with(
            st,
            bind,
            |addr| {
                eprintln!(
                    "onemap serving {} at http://{addr}/ (style: http://{addr}/styles/onemap.json, layers: http://{addr}/layers; {modes}; Ctrl-C stops)",
                    db.display()
                )
            },
            crate::commands::shutdown_signal(),
        )
        .await
        .with_context(|| format!("cannot serve on {bind}"))
    })
}

/// One phrase on how callers authenticate, for the start-up line.
fn describe(a: &AuthConfig) -> String {
    if a.is_off() {
        return "authentication off: every caller anonymous".into();
    }
    let mut ways = Vec::new();
    if a.accounts {
        ways.push("accounts");
    }
    if a.api_keys {
        ways.push("API keys");
    }
    if a.jwt.is_some() {
        ways.push("OIDC tokens");
    }
    if a.gateway.is_some() {
        ways.push("gateway");
    }
    let anon = match &a.anonymous {
        None => "no anonymous access".to_string(),
        Some(r) if r.is_empty() => "anonymous read of public data".to_string(),
        Some(r) => format!("anonymous callers with roles {}", r.join(",")),
    };
    format!("sign-in: {}; {anon}", ways.join(", "))
}
