//! The `[web]` section: where the inbox listens, who may sign in and with which key. Apart
//! from the server, so the whole config can read it without depending on the server, which
//! itself runs on the whole config.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::password;
use crate::config::{ConfigErrors, DurationValue, parse_at};
use crate::secret::{Secret, SecretRef};

/// `[web]`: where the inbox listens and who may sign in.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address and port; port 0 picks a free one.
    pub listen: SocketAddr,
    /// How people reach the inbox, for links in mails (no trailing slash).
    pub base_url: String,
    /// A reverse proxy in front terminates TLS, so a non-loopback `listen` is allowed.
    pub behind_tls_proxy: bool,
    /// Header a trusted reverse proxy sets to the signed-in user's name.
    pub trusted_header: Option<String>,
    /// Addresses the trusted header is believed from.
    pub trusted_proxies: Vec<IpAddr>,
    /// User name to argon2 password hash (PHC string).
    pub users: BTreeMap<String, String>,
    /// How long a one-click link in a mail stays valid.
    pub link_ttl: Duration,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Key for sessions and links; generated and kept in the database when not configured.
    pub secret: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    listen: Option<String>,
    base_url: Option<String>,
    #[serde(default)]
    behind_tls_proxy: bool,
    trusted_header: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    link_ttl: Option<DurationValue>,
    session_ttl: Option<DurationValue>,
    secret_env: Option<String>,
    secret_file: Option<String>,
}

/// The default `[web] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Reads and checks `[web]` (`None` when absent: no web inbox), recording problems under
/// `web.*`. A listener off the loopback interface needs `behind_tls_proxy = true`, and then
/// no user may have a password equal to their name (the demo's `demo` / `demo`).
pub fn parse_config(value: Option<Value>, errors: &mut ConfigErrors) -> Option<WebConfig> {
    let raw = parse_at::<RawWebConfig>(value?, "web", errors)?;
    let listen = parse_listen(raw.listen.as_deref(), raw.behind_tls_proxy, errors)?;
    let remote = !listen.ip().is_loopback();
    let base_url = parse_base_url(raw.base_url.as_deref(), listen, errors);
    check_users(&raw.users, remote.then_some(listen), errors);
    let (trusted_header, trusted_proxies) =
        parse_trusted_proxy(raw.trusted_header, &raw.trusted_proxies, errors);
    if raw.users.is_empty() && trusted_header.is_none() {
        errors.push(
            "web.users",
            "nobody can sign in: add a user (`webcare user add NAME` prints the line) or set web.trusted_header",
        );
    }
    let secret = web_secret(
        SecretRef::new("secret", raw.secret_env, raw.secret_file),
        errors,
    );
    Some(WebConfig {
        listen,
        base_url,
        behind_tls_proxy: raw.behind_tls_proxy,
        trusted_header,
        trusted_proxies,
        users: raw.users,
        link_ttl: raw
            .link_ttl
            .map_or(Duration::from_secs(7 * 86_400), |d| d.0),
        session_ttl: raw
            .session_ttl
            .map_or(Duration::from_secs(12 * 3600), |d| d.0),
        secret,
    })
}

/// `web.listen` (default [`DEFAULT_LISTEN`]); an address other machines reach needs
/// `behind_tls_proxy`, since the inbox itself speaks plain HTTP.
fn parse_listen(
    listen: Option<&str>,
    behind_tls_proxy: bool,
    errors: &mut ConfigErrors,
) -> Option<SocketAddr> {
    let listen = match listen.map(str::trim) {
        None => DEFAULT_LISTEN.parse().ok()?,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                errors.push(
                    "web.listen",
                    format!("\"{text}\" is not an address and port; use e.g. \"{DEFAULT_LISTEN}\""),
                );
                return None;
            }
        },
    };
    if !listen.ip().is_loopback() && !behind_tls_proxy {
        errors.push(
            "web.listen",
            format!(
                "{listen} is reachable from other machines, and the inbox would send passwords and \
                 session cookies unencrypted; listen on 127.0.0.1 behind a reverse proxy that \
                 terminates TLS, and set web.behind_tls_proxy = true"
            ),
        );
    }
    Some(listen)
}

/// `web.base_url` without a trailing slash, or the listener's own address.
fn parse_base_url(base_url: Option<&str>, listen: SocketAddr, errors: &mut ConfigErrors) -> String {
    match base_url.map(str::trim) {
        None => format!("http://{listen}"),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            u.trim_end_matches('/').to_string()
        }
        Some(u) => {
            errors.push(
                "web.base_url",
                format!("\"{u}\" is not a web address; use e.g. \"https://webcare.example.com\""),
            );
            String::new()
        }
    }
}

/// Every user's name and password hash must be valid; with a listener other machines reach
/// (`remote`), no password may be the user's own name.
fn check_users(
    users: &BTreeMap<String, String>,
    remote: Option<SocketAddr>,
    errors: &mut ConfigErrors,
) {
    for (name, hash) in users {
        let key = format!("web.users.{name}");
        if !password::valid_user_name(name) {
            errors.push(
                &key,
                "a user name is letters, digits, '.', '_', '-' or '@' (at most 64)",
            );
        }
        if let Err(why) = password::check_hash(hash) {
            errors.push(
                &key,
                format!("{why}; `webcare user add {name}` prints a line with a valid hash"),
            );
        } else if let Some(listen) = remote
            && password::verify_password(hash, name)
        {
            errors.push(
                &key,
                format!(
                    "user {name:?} has their name as password (the demo user?) and {listen} is \
                     reachable from other machines; set a real password with `webcare user add {name}`"
                ),
            );
        }
    }
}

/// `web.trusted_header` (blank is none) and the proxies allowed to set it.
fn parse_trusted_proxy(
    header: Option<String>,
    proxies: &[String],
    errors: &mut ConfigErrors,
) -> (Option<String>, Vec<IpAddr>) {
    let mut trusted_proxies = Vec::new();
    for (i, p) in proxies.iter().enumerate() {
        match p.trim().parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => errors.push(
                format!("web.trusted_proxies[{i}]"),
                format!("\"{p}\" is not an IP address"),
            ),
        }
    }
    let trusted_header = header
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    if let Some(h) = &trusted_header {
        if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            errors.push(
                "web.trusted_header",
                format!("\"{h}\" is not a header name"),
            );
        }
        if trusted_proxies.is_empty() {
            errors.push(
                "web.trusted_proxies",
                "web.trusted_header needs the addresses of the proxies that set it, e.g. [\"127.0.0.1\"]",
            );
        }
    }
    (trusted_header, trusted_proxies)
}

/// The key that signs sessions and one-click links: at least 32 characters.
fn web_secret(named: SecretRef, errors: &mut ConfigErrors) -> Option<Secret> {
    let secret = named.resolve("web", false, errors);
    if secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
        errors.push(
            format!("web.{}", named.config_key()),
            "the key must be at least 32 characters; e.g. `head -c 32 /dev/urandom | base64`",
        );
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> (Option<WebConfig>, ConfigErrors) {
        let v: Value = toml::from_str(toml_text).unwrap();
        let mut errors = ConfigErrors::default();
        let c = parse_config(v.get("web").cloned(), &mut errors);
        (c, errors)
    }

    fn demo_hash() -> String {
        password::hash_password("demo").unwrap()
    }

    #[test]
    fn defaults_listen_on_loopback_port_8080() {
        let (c, errors) = parse(&format!("[web.users]\ndemo = \"{}\"\n", demo_hash()));
        assert!(errors.is_empty(), "{errors}");
        let c = c.unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.link_ttl, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn a_remote_listener_needs_a_tls_proxy_and_refuses_the_demo_password() {
        let hash = demo_hash();
        let (_, errors) = parse(&format!(
            "[web]\nlisten = \"0.0.0.0:8080\"\n[web.users]\ndemo = \"{hash}\"\n"
        ));
        let keys: Vec<&str> = errors.problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(keys, ["web.listen", "web.users.demo"], "{errors}");
        assert!(errors.problems[0].1.contains("behind_tls_proxy = true"));
        assert!(errors.problems[1].1.contains("name as password"));
        let (_, errors) = parse(&format!(
            "[web]\nlisten = \"0.0.0.0:8080\"\nbehind_tls_proxy = true\n[web.users]\nanna = \"{hash}\"\n"
        ));
        assert!(errors.is_empty(), "{errors}");
    }

    #[test]
    fn bad_hashes_headers_and_addresses_are_named() {
        let (_, errors) = parse("[web.users]\nanna = \"secret\"\n");
        assert_eq!(errors.problems[0].0, "web.users.anna");
        assert!(errors.problems[0].1.contains("webcare user add anna"));
        let (_, errors) = parse("[web]\ntrusted_header = \"X-Forwarded-User\"\n");
        assert_eq!(errors.problems[0].0, "web.trusted_proxies");
        let (_, errors) = parse("[web]\nlisten = \"localhost\"\n");
        assert_eq!(errors.problems[0].0, "web.listen");
        let (_, errors) = parse("[web]\n");
        assert_eq!(errors.problems[0].0, "web.users");
    }

    #[test]
    fn a_short_signing_key_is_named_by_the_key_that_gave_it() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("web.key");
        std::fs::write(&key, "too-short\n").unwrap();
        let users = format!("[web.users]\nanna = \"{}\"\n", demo_hash());
        let (_, errors) = parse(&format!(
            "[web]\nsecret_file = \"{}\"\n{users}",
            key.display()
        ));
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].0, "web.secret_file");
        assert!(errors.problems[0].1.contains("at least 32"), "{errors}");
        assert!(!errors.to_string().contains("too-short"), "{errors}");

        std::fs::write(&key, "k".repeat(32)).unwrap();
        let (c, errors) = parse(&format!(
            "[web]\nsecret_file = \"{}\"\n{users}",
            key.display()
        ));
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(c.unwrap().secret.unwrap().expose(), "k".repeat(32));

        let (_, errors) = parse(&format!(
            "[web]\nsecret_env = \"WEBCARE_TEST_UNSET_WEB_KEY\"\n{users}"
        ));
        assert_eq!(errors.problems[0].0, "web.secret_env", "{errors}");
    }
}
