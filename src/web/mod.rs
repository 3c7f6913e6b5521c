//! The team's web inbox, served by the daemon on its own listener (`[web]`): sign-in
//! ([`auth`]), the inbox, mention pages and the actions taken on them, the praise wall and the
//! sources page ([`pages`]), the signed one-click links that alerts carry ([`links`]), and
//! the receiver of Meta's Instagram `mentions` webhook ([`meta_hook`]).
//! Pages are rendered on the server from askama templates under `templates/web/`; every action
//! is a plain form POST, so all of it works with JavaScript off.

pub mod auth;
pub mod links;
pub mod meta_hook;
pub mod pages;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{ConfigErrors, DurationValue, Secret, load::Config, parse_at, resolve_secret};

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
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    behind_tls_proxy: bool,
    #[serde(default)]
    trusted_header: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    link_ttl: Option<DurationValue>,
    #[serde(default)]
    session_ttl: Option<DurationValue>,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
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
        raw.secret_env.as_deref(),
        raw.secret_file.as_deref(),
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
        if !auth::valid_user_name(name) {
            errors.push(
                &key,
                "a user name is letters, digits, '.', '_', '-' or '@' (at most 64)",
            );
        }
        if let Err(why) = auth::check_hash(hash) {
            errors.push(
                &key,
                format!("{why}; `webcare user add {name}` prints a line with a valid hash"),
            );
        } else if let Some(listen) = remote
            && auth::verify_password(hash, name)
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
fn web_secret(env: Option<&str>, file: Option<&str>, errors: &mut ConfigErrors) -> Option<Secret> {
    let secret = resolve_secret("web", "secret", env, file, false, errors);
    if secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
        errors.push(
            "web.secret_file",
            "the key must be at least 32 characters; e.g. `head -c 32 /dev/urandom | base64`",
        );
    }
    secret
}

/// A running web inbox.
pub struct WebServer {
    addr: SocketAddr,
    /// What `[web] listen` said when this socket was bound.
    listen: SocketAddr,
    /// A second handle on the bound socket: a reload serves it anew without closing it, so
    /// connections that arrive meanwhile wait in the backlog instead of being refused.
    socket: std::net::TcpListener,
    limiter: Arc<auth::LoginLimiter>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl WebServer {
    /// Binds `[web] listen` and starts serving, or returns `None` when there is no `[web]`.
    pub async fn start(config: &Config) -> anyhow::Result<Option<WebServer>> {
        let Some(web) = &config.web else {
            return Ok(None);
        };
        let key = auth::load_key(config)?;
        let listener = tokio::net::TcpListener::bind(web.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on web.listen {} ({e}); choose a free port in web.listen",
                    web.listen
                )
            })?;
        let socket = listener.into_std()?;
        let server = WebServer::serve(config, key, socket, web.listen, Arc::default())?;
        tracing::info!(address = %server.addr, url = %web.base_url, "web inbox listening");
        Ok(Some(server))
    }

    fn serve(
        config: &Config,
        key: auth::Key,
        socket: std::net::TcpListener,
        listen: SocketAddr,
        limiter: Arc<auth::LoginLimiter>,
    ) -> anyhow::Result<WebServer> {
        let web = config
            .web
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no [web] section"))?;
        let addr = socket.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(socket.try_clone()?)?;
        let state = Arc::new(pages::WebState::new(config, web, key, limiter.clone()));
        let app = pages::router(state)
            .merge(meta_hook::router(config))
            .into_make_service_with_connect_info::<SocketAddr>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "web inbox failed");
            }
        });
        Ok(WebServer {
            addr,
            listen,
            socket,
            limiter,
            stop,
            task,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests and waits for the ones in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }

    /// Applies a reloaded configuration: users, links, teams and sources change in place on
    /// the same socket; a new `listen` is bound before the old one closes, and a section added
    /// or removed starts or stops the inbox. When the new settings cannot be served, the
    /// running inbox stays as it was and the reason is logged.
    pub async fn reload(running: Option<WebServer>, config: &Config) -> Option<WebServer> {
        let Some(web) = &config.web else {
            if let Some(old) = running {
                old.stop().await;
                tracing::info!("web inbox stopped: [web] was removed from the configuration");
            }
            return None;
        };
        let Some(old) = running else {
            return match WebServer::start(config).await {
                Ok(started) => started,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the web inbox cannot start");
                    None
                }
            };
        };
        let key = match auth::load_key(config) {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "web inbox not reloaded; it keeps its settings");
                return Some(old);
            }
        };
        let socket = if web.listen == old.listen {
            old.socket.try_clone()
        } else {
            std::net::TcpListener::bind(web.listen).and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(s)
            })
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "cannot listen on web.listen {}; the web inbox stays on {}",
                    web.listen,
                    old.addr
                );
                return Some(old);
            }
        };
        let limiter = old.limiter.clone();
        old.stop().await;
        match WebServer::serve(config, key, socket, web.listen, limiter) {
            Ok(server) => {
                tracing::info!(address = %server.addr, url = %web.base_url, "web inbox reloaded");
                Some(server)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the web inbox stopped and cannot restart");
                None
            }
        }
    }
}

/// `webcare user add NAME`: asks for a password (twice, without echo, on a terminal; else the
/// first line of stdin) and prints the line to add under `[web.users]`.
pub fn user_command(action: &crate::cli::UserAction) -> anyhow::Result<i32> {
    use std::io::{BufRead, IsTerminal, Write};
    let crate::cli::UserAction::Add { name } = action;
    if !auth::valid_user_name(name) {
        anyhow::bail!("user name {name:?}: use letters, digits, '.', '_', '-' or '@' (at most 64)");
    }
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing printed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < 4 {
        anyhow::bail!("the password is too short (at least 4 characters); nothing printed");
    }
    let hash = auth::hash_password(&password)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# add under [web.users] in the config:")?;
    writeln!(out, "{name} = \"{hash}\"")?;
    Ok(0)
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
        auth::hash_password("demo").unwrap()
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
}
