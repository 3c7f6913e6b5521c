//! Who is signed in to the web inbox: argon2 password hashes from the config, the trusted
//! proxy header, signed session cookies, the CSRF token every form carries, and the limit on
//! failed sign-ins. The signing key comes from `[web] secret_file` / `secret_env`, or is
//! generated once and kept in the database; it never appears in logs or pages.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;

use crate::config::load::Config;
use crate::store;

pub use super::password::{HashError, check_hash, hash_password, valid_user_name, verify_password};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "webcare_session";

/// Failed sign-ins from one address within [`LOGIN_WINDOW`] before it has to wait.
pub const LOGIN_ATTEMPTS: u32 = 5;
/// The window failed sign-ins are counted in.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The key that signs sessions, CSRF tokens and one-click links.
#[derive(Clone)]
pub struct Key(hmac::Key);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    /// A key from raw bytes.
    pub fn new(bytes: &[u8]) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The hex HMAC-SHA256 of `message`.
    pub fn sign(&self, message: &str) -> String {
        hex(hmac::sign(&self.0, message.as_bytes()).as_ref())
    }

    /// Whether `signature` (hex) is the HMAC of `message`, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        match unhex(signature) {
            Some(sig) => hmac::verify(&self.0, message.as_bytes(), &sig).is_ok(),
            None => false,
        }
    }
}

/// Loads the signing key: the configured secret, or the one generated into the database the
/// first time (the same for every process that opens that database).
pub fn load_key(config: &Config) -> anyhow::Result<Key> {
    if let Some(secret) = config.web.as_ref().and_then(|w| w.secret.as_ref()) {
        return Ok(Key::new(secret.expose().as_bytes()));
    }
    let mut fresh = [0u8; 32];
    aws_lc_rs::rand::fill(&mut fresh).map_err(|_| anyhow::anyhow!("no random numbers"))?;
    let store = store::open(&config.store.path)?;
    let bytes = store.web_key("web", &fresh, chrono::Utc::now().timestamp())?;
    Ok(Key::new(&bytes))
}

/// A signed-in user, as read from a valid session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's name.
    pub user: String,
    /// When the session ends (unix seconds).
    pub expires: i64,
}

impl Session {
    /// The cookie value: `user.expires.signature`.
    pub fn cookie_value(&self, key: &Key) -> String {
        let sig = key.sign(&format!("session\n{}\n{}", self.user, self.expires));
        format!("{}.{}.{sig}", self.user, self.expires)
    }

    /// Reads a cookie value; `None` when it is forged, malformed or expired.
    pub fn from_cookie(value: &str, key: &Key, now: i64) -> Option<Session> {
        let mut parts = value.rsplitn(3, '.');
        let sig = parts.next()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let user = parts.next()?;
        if !valid_user_name(user) || expires <= now {
            return None;
        }
        key.verify(&format!("session\n{user}\n{expires}"), sig)
            .then(|| Session {
                user: user.to_string(),
                expires,
            })
    }

    /// The CSRF token of this session: bound to the user and the session's end, so a token
    /// from another session (or a guessed one) is refused.
    pub fn csrf_token(&self, key: &Key) -> String {
        key.sign(&format!("csrf\n{}\n{}", self.user, self.expires))
    }

    /// Whether `token` is this session's CSRF token.
    pub fn csrf_ok(&self, key: &Key, token: &str) -> bool {
        key.verify(&format!("csrf\n{}\n{}", self.user, self.expires), token)
    }
}

/// The `Set-Cookie` header for a session (or, with `None`, one that signs out).
pub fn session_cookie(value: Option<&str>, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{SESSION_COOKIE}={v}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            max_age.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    }
}

/// Counts failed sign-ins per address, so passwords cannot be guessed at speed.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// How long `ip` must still wait before trying again, if it is over the limit.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = map.get(&ip)?;
        let until = *since + LOGIN_WINDOW;
        (*count >= LOGIN_ATTEMPTS && until > now).then(|| until - now)
    }

    /// Records a failed sign-in from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget windows that are over, so the map does not grow without end.
        map.retain(|_, (_, since)| *since + LOGIN_WINDOW > now);
        let entry = map.entry(ip).or_insert((0, now));
        entry.0 += 1;
    }

    /// Forgets the failures of `ip` after it signed in.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_is_refused_when_changed_or_expired() {
        let key = Key::new(b"0123456789abcdef0123456789abcdef");
        let s = Session {
            user: "anna.b".into(),
            expires: 1000,
        };
        let v = s.cookie_value(&key);
        assert_eq!(Session::from_cookie(&v, &key, 999), Some(s.clone()));
        assert_eq!(Session::from_cookie(&v, &key, 1000), None);
        let forged = v.replacen("anna.b", "admin", 1);
        assert_eq!(Session::from_cookie(&forged, &key, 999), None);
        let other = Key::new(b"another key another key another k");
        assert_eq!(Session::from_cookie(&v, &other, 999), None);
        assert!(s.csrf_ok(&key, &s.csrf_token(&key)));
        assert!(!s.csrf_ok(&key, "00"));
    }

    #[test]
    fn sign_in_is_blocked_after_too_many_failures() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t = Instant::now();
        for _ in 0..LOGIN_ATTEMPTS {
            assert!(l.wait(ip, t).is_none());
            l.failed(ip, t);
        }
        assert!(l.wait(ip, t).is_some());
        assert!(l.wait(ip, t + LOGIN_WINDOW).is_none());
    }
}
