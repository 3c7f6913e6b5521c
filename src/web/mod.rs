//! The team's web inbox, served by the daemon on its own listener (`[web]`): sign-in
//! ([`auth`]), the inbox, mention pages and the actions taken on them, the praise wall and the
//! sources page ([`pages`]), the signed one-click links that alerts carry ([`links`]), and
//! the receiver of Meta's Instagram `mentions` webhook ([`meta_hook`]).
//! Pages are rendered on the server from askama templates under `templates/web/`; every action
//! is a plain form POST, so all of it works with JavaScript off.
//! The `[web]` section is read in [`settings`] (user names and password hashes in [`password`]),
//! apart from the server, so the whole config does not depend on the server that takes it.

pub mod auth;
pub mod links;
pub mod meta_hook;
pub mod pages;
pub mod password;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::load::Config;
pub use settings::{DEFAULT_LISTEN, WebConfig, parse_config};

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
