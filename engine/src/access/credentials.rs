//! Secrets: argon2id password hashes, API keys and session tokens.
//!
//! * Passwords are hashed with argon2id (RustCrypto `argon2`, OWASP parameters: 19 MiB, t=2,
//!   p=1) into PHC strings; verification reads the parameters from the string, so stronger ones
//!   later do not break old hashes.
//! * API keys are `omk_<id>_<secret>`: the id (8 hex digits) finds the key, the secret (256
//!   random bits) proves it. Only SHA-256 of the secret is stored: a key that cannot be guessed
//!   needs no slow hash, and a request must not cost an argon2 run.
//! * Session tokens and CSRF tokens are 256 random bits, base64url.
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::hex;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| Error::Account(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Refuse passwords a person at a terminal should be told about: too short, or one character.
pub fn check_password_strength(pw: &str) -> Result<()> {
    let n = pw.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::Account(format!(
            "the password has {n} characters; at least {MIN_PASSWORD_CHARS}"
        )));
    }
    let first = pw.chars().next();
    if pw.chars().all(|c| Some(c) == first) {
        return Err(Error::Account(
            "the password repeats one character; choose another".into(),
        ));
    }
    Ok(())
}

/// An argon2id PHC string for `pw`.
pub fn hash_password(pw: &str) -> Result<String> {
    let salt: [u8; 16] = rand::random();
    hasher()?
        .hash_password_with_salt(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Account(format!("hashing the password: {e}")))
}

/// Does `pw` match the PHC string? (`false` for a malformed string.)
pub fn verify_password(pw: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(pw.as_bytes(), &parsed)
        .is_ok()
}

/// A PHC string that no password matches, verified when a login names an unknown user so that
/// the answer takes as long as for a known one.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random: [u8; 24] = rand::random();
        hash_password(&hex(&random)).unwrap_or_default()
    })
}

/// 32 random bytes as base64url: session and CSRF tokens.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A password for a first login: 18 characters from an alphabet without look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 18] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// SHA-256 of a secret, hex.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two secrets (compared as SHA-256 digests, so lengths do not leak).
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(expected.as_bytes()).as_slice())
        .into()
}

/// A new API key: (the key to show once, its id, the digest to store).
pub fn new_api_key() -> (String, String, String) {
    let id = hex(&rand::random::<[u8; 4]>());
    let secret = hex(&rand::random::<[u8; 32]>());
    let digest = digest(&secret);
    (format!("omk_{id}_{secret}"), id, digest)
}

/// Split a presented API key into (id, secret), or `None` when it is not shaped like one.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("omk_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 8) && hexy(secret, 64)).then_some((id, secret))
}

/// Does a presented secret match a stored digest? (Constant time.)
pub fn key_matches(secret: &str, stored_digest: &str) -> bool {
    digest(secret)
        .as_bytes()
        .ct_eq(stored_digest.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a phc string"));
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(!verify_password("", decoy_hash()));
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        assert!(
            check_password_strength("short")
                .unwrap_err()
                .to_string()
                .contains("at least 10")
        );
        assert!(check_password_strength("aaaaaaaaaaaa").is_err());
        assert!(check_password_strength("新郑一张图平台管理密码").is_ok());
        assert!(check_password_strength(&new_password()).is_ok());
    }

    #[test]
    fn api_keys_parse_and_match_only_their_digest() {
        let (key, id, digest) = new_api_key();
        let (pid, secret) = parse_api_key(&key).unwrap();
        assert_eq!(pid, id);
        assert!(key_matches(secret, &digest));
        let mut wrong = secret.to_string();
        let last = if wrong.ends_with('0') { '1' } else { '0' };
        wrong.pop();
        wrong.push(last);
        assert!(!key_matches(&wrong, &digest));
        for bad in [
            "",
            "omk_",
            "omk_1234_abcd",
            "xyz_12345678_00",
            &key[..key.len() - 1],
        ] {
            assert!(parse_api_key(bad).is_none(), "{bad}");
        }
        assert!(secrets_match("s3cret", "s3cret"));
        assert!(!secrets_match("s3cret", "s3cret "));
        assert_eq!(new_token().len(), 43);
    }
}
