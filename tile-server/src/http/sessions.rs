//! Login sessions of the web client: a random token in an HttpOnly, SameSite=Strict cookie
//! (Secure behind TLS), an idle and an absolute expiry, and a CSRF token that every write made
//! with the cookie must echo in `X-CSRF-Token`. Sessions live in the server's memory, keyed by
//! the token's SHA-256 (a memory dump does not hand out live cookies), bounded in number; a user
//! who is disabled or whose password changes loses them at the next request.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use onemap_engine::access::credentials;

/// The cookie's name.
pub const COOKIE: &str = "onemap_session";

/// Most sessions held at once; the least recently used goes first beyond it.
const MAX_SESSIONS: usize = 10_000;
/// Most sessions of one user (the oldest goes first).
const MAX_PER_USER: usize = 16;

/// One logged-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// User name.
    pub user: String,
    /// The user's record as of the login (`updated_at`): a later change ends the session.
    pub user_version: String,
    /// CSRF token for writes.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Sessions by token digest.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    absolute: Duration,
}

impl Sessions {
    /// An empty table with these expiries.
    pub fn new(idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            absolute,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a session; returns (cookie token, CSRF token).
    pub fn start(&self, user: &str, user_version: &str) -> (String, String) {
        let token = credentials::new_token();
        let csrf = credentials::new_token();
        let now = Instant::now();
        let mut map = self.lock();
        self.expire(&mut map, now);
        // Bounded per user and in all.
        let mut mine: Vec<(String, Instant)> = map
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(k, s)| (k.clone(), s.created))
            .collect();
        if mine.len() >= MAX_PER_USER {
            mine.sort_by_key(|(_, c)| *c);
            for (k, _) in mine.iter().take(mine.len() + 1 - MAX_PER_USER) {
                map.remove(k);
            }
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            credentials::digest(&token),
            Session {
                user: user.to_string(),
                user_version: user_version.to_string(),
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        (token, csrf)
    }

    fn expire(&self, map: &mut HashMap<String, Session>, now: Instant) {
        map.retain(|_, s| {
            now.duration_since(s.last_seen) < self.idle
                && now.duration_since(s.created) < self.absolute
        });
    }

    /// The live session of a cookie token (its idle clock restarts), or `None`.
    pub fn touch(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let key = credentials::digest(token);
        let mut map = self.lock();
        let alive = map.get(&key).is_some_and(|s| {
            now.duration_since(s.last_seen) < self.idle
                && now.duration_since(s.created) < self.absolute
        });
        if !alive {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// End the session of a cookie token.
    pub fn end(&self, token: &str) {
        self.lock().remove(&credentials::digest(token));
    }

    /// End every session of a user (disabled, password changed).
    pub fn end_user(&self, user: &str) {
        self.lock().retain(|_, s| s.user != user);
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of one cookie in a `Cookie` header (the first of that name).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// A `Set-Cookie` value for a session token.
pub fn set_cookie(token: &str, secure: bool, max_age: Duration) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_end_on_logout() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(60));
        let (t, csrf) = s.start("li", "v1");
        assert_eq!(s.touch(&t).unwrap().csrf, csrf);
        std::thread::sleep(Duration::from_millis(70));
        assert!(s.touch(&t).is_none());
        let (t2, _) = s.start("li", "v1");
        s.end(&t2);
        assert!(s.touch(&t2).is_none());
        assert!(s.touch("made-up").is_none());
    }

    #[test]
    fn sessions_have_an_absolute_end_and_a_per_user_bound() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_millis(40));
        let (t, _) = s.start("li", "v1");
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.touch(&t).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(s.touch(&t).is_none(), "past the absolute expiry");
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        let first = s.start("wang", "v1").0;
        for _ in 0..MAX_PER_USER {
            s.start("wang", "v1");
        }
        assert!(s.touch(&first).is_none());
        assert_eq!(s.len(), MAX_PER_USER);
        s.end_user("wang");
        assert!(s.is_empty());
    }

    #[test]
    fn cookies() {
        assert_eq!(
            cookie_value("a=1; onemap_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", COOKIE), None);
        let c = set_cookie("t", true, Duration::from_secs(600));
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=600",
            "Path=/",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("t", false, Duration::from_secs(1)).contains("Secure"));
    }
}
