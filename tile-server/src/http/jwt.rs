//! Bearer tokens (OIDC access tokens / JWT) from the city's identity provider, verified against
//! the issuer's JWKS: RS256, ES256 and EdDSA; `iss`, `aud`, `exp` and `nbf` checked; the key
//! chosen by `kid` and its algorithm taken from the key, never from the token. The key set comes
//! from a file or an https URL, is cached, refreshed on a schedule and — at most every 30
//! seconds — when a token names a key it does not have (the provider rotated its keys).
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use onemap_engine::{Caller, Via};
use serde_json::Value as Json;

/// Where the issuer's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JSON file (a JWK set).
    File(PathBuf),
    /// An https URL, with an extra CA certificate (PEM) to trust for it.
    Url {
        /// `https://...`.
        url: String,
        /// A CA (PEM) for a provider with a private certificate authority.
        ca: Option<PathBuf>,
    },
}

/// Token settings (`[auth.jwt]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud` (one of the token's audiences).
    pub audience: String,
    /// The key set.
    pub jwks: JwksSource,
    /// How often to re-read the key set.
    pub refresh: Duration,
    /// The claim naming the user (`sub`, `preferred_username`...).
    pub user_claim: String,
    /// The claim holding roles: a list or a space/comma separated string; dotted for nested
    /// claims (`realm_access.roles`).
    pub roles_claim: String,
    /// The claim naming the department, if any.
    pub department_claim: Option<String>,
    /// Clock skew allowed on `exp` / `nbf`, seconds.
    pub leeway_s: u64,
}

/// Most bytes of a key set read from a URL or file.
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// Least time between two fetches caused by unknown `kid`s.
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// The key set, cached.
#[derive(Debug)]
pub struct Jwks {
    config: JwtConfig,
    cache: RwLock<Option<(Arc<JwkSet>, Instant)>>,
    last_fetch: Mutex<Option<Instant>>,
    agent: Option<ureq::Agent>,
}

impl Jwks {
    /// Set up (reads a CA file if given; the keys are fetched on first use).
    pub fn new(config: JwtConfig) -> Result<Jwks, String> {
        let agent = match &config.jwks {
            JwksSource::File(_) => None,
            JwksSource::Url { url, ca } => {
                if !url.starts_with("https://") {
                    return Err(format!("JWKS URL {url}: only https:// is accepted"));
                }
                let mut tls = ureq::tls::TlsConfig::builder();
                if let Some(ca) = ca {
                    let pem =
                        std::fs::read(ca).map_err(|e| format!("JWKS CA {}: {e}", ca.display()))?;
                    let cert = ureq::tls::Certificate::from_pem(&pem)
                        .map_err(|e| format!("JWKS CA {}: {e}", ca.display()))?
                        .to_owned();
                    tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])));
                }
                Some(
                    ureq::Agent::config_builder()
                        .tls_config(tls.build())
                        .timeout_global(Some(Duration::from_secs(10)))
                        .https_only(true)
                        .build()
                        .into(),
                )
            }
        };
        Ok(Jwks {
            config,
            cache: RwLock::new(None),
            last_fetch: Mutex::new(None),
            agent,
        })
    }

    /// The settings.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The cached set, if fresh.
    pub fn fresh(&self) -> Option<Arc<JwkSet>> {
        let c = self.cache.read().unwrap_or_else(|p| p.into_inner());
        c.as_ref()
            .filter(|(_, at)| at.elapsed() < self.config.refresh)
            .map(|(k, _)| k.clone())
    }

    /// The cached set, however old.
    pub fn any(&self) -> Option<Arc<JwkSet>> {
        let c = self.cache.read().unwrap_or_else(|p| p.into_inner());
        c.as_ref().map(|(k, _)| k.clone())
    }

    /// May a fetch run now (not within 30 s of the last one)? Claims the slot when it may.
    pub fn may_fetch(&self) -> bool {
        let mut last = self.last_fetch.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Read the key set now (blocking IO: call from a blocking thread).
    pub fn fetch(&self) -> Result<Arc<JwkSet>, String> {
        let bytes = match (&self.config.jwks, &self.agent) {
            (JwksSource::File(p), _) => {
                use std::io::Read;
                let mut b = Vec::new();
                std::fs::File::open(p)
                    .and_then(|f| f.take(MAX_JWKS_BYTES).read_to_end(&mut b))
                    .map_err(|e| format!("JWKS file {}: {e}", p.display()))?;
                b
            }
            (JwksSource::Url { url, .. }, Some(agent)) => agent
                .get(url)
                .header("accept", "application/json")
                .call()
                .map_err(|e| format!("JWKS {url}: {e}"))?
                .into_body()
                .into_with_config()
                .limit(MAX_JWKS_BYTES)
                .read_to_vec()
                .map_err(|e| format!("JWKS {url}: {e}"))?,
            (JwksSource::Url { url, .. }, None) => return Err(format!("JWKS {url}: no client")),
        };
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the JWKS is not a key set: {e}"))?;
        let set = Arc::new(set);
        let mut c = self.cache.write().unwrap_or_else(|p| p.into_inner());
        *c = Some((set.clone(), Instant::now()));
        Ok(set)
    }
}

/// Why a token was refused (said to the client in a 401).
pub type Refusal = String;

/// The `kid` a token names (before verification: only to pick the key).
pub fn kid_of(token: &str) -> Result<Option<String>, Refusal> {
    decode_header(token)
        .map(|h| h.kid)
        .map_err(|e| format!("not a JWT: {e}"))
}

/// The algorithm a key may verify, from the key itself.
fn alg_for(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_key = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        Some(ka) => (Algorithm::try_from(ka).ok() == Some(by_key)).then_some(by_key),
        None => Some(by_key),
    }
}

fn claim<'a>(claims: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

/// Verify a token against a key set and turn its claims into a caller.
pub fn verify(token: &str, keys: &JwkSet, cfg: &JwtConfig) -> Result<Caller, Refusal> {
    let header = decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| "the token names no key (kid)".to_string())?;
    let jwk = keys
        .find(kid)
        .ok_or_else(|| format!("the token's key '{kid}' is not in the issuer's key set"))?;
    let alg = alg_for(jwk)
        .ok_or_else(|| format!("key '{kid}' is not an RS256, ES256 or EdDSA signing key"))?;
    if header.alg != alg {
        return Err(format!(
            "the token says {:?} but key '{kid}' is for {alg:?}",
            header.alg
        ));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key '{kid}': {e}"))?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[&cfg.issuer]);
    v.set_audience(&[&cfg.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v.validate_nbf = true;
    v.leeway = cfg.leeway_s;
    let data = decode::<Json>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::ExpiredSignature => "the token has expired".to_string(),
            K::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
            K::InvalidAudience => "the token is for another audience".to_string(),
            K::InvalidIssuer => "the token is from another issuer".to_string(),
            K::InvalidSignature => "the token's signature does not verify".to_string(),
            K::MissingRequiredClaim(c) => format!("the token has no '{c}' claim"),
            _ => format!("the token does not verify: {e}"),
        }
    })?;
    let claims = data.claims;
    let user = claim(&claims, &cfg.user_claim)
        .and_then(Json::as_str)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "the token has no '{}' claim naming the user",
                cfg.user_claim
            )
        })?;
    let roles: Vec<String> = match claim(&claims, &cfg.roles_claim) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        Some(Json::String(s)) => s
            .split([' ', ','])
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        Some(_) => {
            return Err(format!(
                "the '{}' claim is not a list of roles",
                cfg.roles_claim
            ));
        }
    };
    if roles.iter().any(|r| r.contains('*')) {
        return Err("the token claims a wildcard role; roles are names".into());
    }
    let department = cfg
        .department_claim
        .as_deref()
        .and_then(|c| claim(&claims, c))
        .and_then(Json::as_str)
        .map(str::to_string);
    let mut caller = Caller::new(user, roles).via(Via::Token);
    caller.department = department;
    Ok(caller)
}
