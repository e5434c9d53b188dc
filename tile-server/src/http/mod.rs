//! The plumbing every route shares, so that route files speak only their domain:
//!
//! * [`serve`]: the accept loop (header and body timeouts, connection caps);
//! * [`identity`]: who is asking (gateway headers, API keys, OIDC tokens, session cookies,
//!   anonymous) and the [`Who`] handlers take; [`sessions`] and [`jwt`] behind it;
//! * [`limits`]: per-principal rate limits, and [`blocking`] work under a deadline that stops
//!   when the client goes away;
//! * [`extract`]: query strings, numbers, JSON bodies and request geometries, bounded and checked;
//! * [`respond`]: JSON responses and the security headers on every response.
pub mod extract;
pub mod identity;
pub mod jwt;
pub mod limits;
pub mod respond;
pub mod serve;
pub mod sessions;

pub use identity::{Auth, AuthConfig, GatewayConfig, Who};
pub use jwt::{JwksSource, JwtConfig};
pub use limits::{RateConfig, RateLimits, blocking, work_permit};
pub use respond::{json_response, table_download};
pub use serve::ConnConfig;
