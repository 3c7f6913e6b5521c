//! The admin HTTP server that `webcare run` starts for the operator's monitoring: `/healthz`
//! (ok, or degraded with one reason per line), `/readyz` (migrations done, the database
//! writable and the scheduler running)
//! and `/metrics` (Prometheus text format 0.0.4, rendered by [`crate::metrics`]). It owns its
//! `[admin]` config section; what it reports is read from the database with a fresh read-only
//! connection per request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::config::load::Config;
use crate::metrics::{Metrics, render_metrics};
use crate::shutdown::Shutdown;
use crate::store::{self, Backend, StoreError};

mod connections;
pub mod settings;
pub use connections::Limits;
pub use settings::{AdminConfig, parse_config};

/// How far back a dead letter keeps `/healthz` degraded.
pub const DEAD_LETTER_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What every request handler needs.
struct AdminState {
    db: PathBuf,
    checks: RwLock<Checks>,
    metrics: Arc<Metrics>,
    ready: AtomicBool,
    shutdown: Shutdown,
}

/// What a reload may change: the sources to watch and the health thresholds.
#[derive(Clone)]
struct Checks {
    sources: Vec<String>,
    config: AdminConfig,
}

impl Checks {
    fn of(config: &Config) -> Checks {
        Checks {
            sources: config
                .sources
                .iter()
                .filter(|s| s.enabled)
                .map(|s| s.name.clone())
                .collect(),
            config: config.admin.clone(),
        }
    }
}

impl AdminState {
    fn checks(&self) -> Checks {
        self.checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A running admin server. Mark it ready once the scheduler runs; stop it last, so `/readyz`
/// answers 503 for as long as the daemon is stopping.
pub struct AdminServer {
    addr: SocketAddr,
    state: Arc<AdminState>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Binds `[admin] listen` and starts serving, or returns `None` when the admin server is
    /// disabled. Fails, naming the key, when the address cannot be bound.
    pub async fn start(
        config: &Config,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Option<AdminServer>> {
        let admin = &config.admin;
        if !admin.enabled {
            return Ok(None);
        }
        let listener = connections::bind(admin.listen).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on admin.listen {} ({e}); choose a free port in admin.listen, or set admin.enabled = false",
                    admin.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AdminState {
            db: config.store.path.clone(),
            checks: RwLock::new(Checks::of(config)),
            metrics,
            ready: AtomicBool::new(false),
            shutdown,
        });
        let app = axum::Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_endpoint))
            .with_state(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(connections::serve(listener, app, admin.limits, stopped));
        tracing::info!(address = %addr, "admin endpoints listening: /healthz /readyz /metrics");
        Ok(Some(AdminServer {
            addr,
            state,
            stop,
            task,
        }))
    }

    /// The address actually bound (differs from the config when it asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on `/readyz` answers 200, until the daemon starts stopping.
    pub fn set_ready(&self) {
        self.state.ready.store(true, Ordering::Relaxed);
    }

    /// Takes the sources and health thresholds of a reloaded config. The address stays until
    /// the next restart.
    pub fn reconfigure(&self, config: &Config) {
        let running = self.state.checks().config;
        if (config.admin.listen, config.admin.enabled) != (running.listen, running.enabled) {
            tracing::warn!(
                "admin.listen or admin.enabled changed; the admin server keeps {} until the next restart",
                self.addr
            );
        }
        *self.state.checks.write().unwrap_or_else(|p| p.into_inner()) = Checks::of(config);
    }

    /// Stops accepting requests and waits for the ones in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    if state.shutdown.is_stopping() {
        text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into())
    } else if let Some(f) = state.metrics.store().write_failure() {
        // A daemon that cannot write stores nothing and records nothing: not ready, whatever
        // else runs.
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database cannot be written: {}\n",
                one_line(&f.error)
            ),
        )
    } else if state.ready.load(Ordering::Relaxed) {
        text(StatusCode::OK, "ready\n".into())
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n".into())
    }
}

async fn healthz(State(state): State<Arc<AdminState>>, RawQuery(query): RawQuery) -> Response {
    let json = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|pair| pair == "format=json"));
    let s = state.clone();
    let reasons = tokio::task::spawn_blocking(move || {
        let checks = s.checks();
        // What the writer knows first: when writes fail, the database cannot say so itself.
        let mut reasons: Vec<String> = s
            .metrics
            .store()
            .reasons()
            .iter()
            .map(|r| one_line(r))
            .collect();
        reasons.extend(health_reasons(
            &s.db,
            &checks.sources,
            &checks.config,
            Utc::now(),
        ));
        reasons
    })
    .await
    .unwrap_or_else(|e| vec![format!("health check failed: {e}")]);
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if reasons.is_empty() { "ok" } else { "degraded" };
    if json {
        let body = serde_json::json!({ "status": word, "reasons": reasons }).to_string();
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let mut body = format!("{word}\n");
    for r in &reasons {
        body.push_str(r);
        body.push('\n');
    }
    text(status, body)
}

async fn metrics_endpoint(State(state): State<Arc<AdminState>>) -> Response {
    let s = state.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let store = store::open_reader(&s.db)?;
        render_metrics(&*store, &s.metrics, &s.checks().sources, Utc::now())
    })
    .await;
    match rendered {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read metrics from the database");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("database: {e}\n"),
            )
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("metrics: {e}\n")),
    }
}

/// Everything wrong right now, one line each; empty when healthy. A database that cannot be
/// read is itself a reason.
pub fn health_reasons(
    db: &std::path::Path,
    sources: &[String],
    config: &AdminConfig,
    now: DateTime<Utc>,
) -> Vec<String> {
    match store::open_reader(db).and_then(|store| check(&*store, sources, config, now)) {
        Ok(reasons) => reasons,
        Err(e) => vec![format!("database: {}", one_line(&e.to_string()))],
    }
}

fn check(
    store: &dyn Backend,
    sources: &[String],
    config: &AdminConfig,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut reasons = Vec::new();
    let now_s = now.timestamp();
    let failing_after = config.source_failing_after.as_secs() as i64;
    for state in store.source_states()? {
        if state.consecutive_failures == 0 || !sources.contains(&state.source) {
            continue;
        }
        let Some(since) = store.failing_since(&state.source)? else {
            continue;
        };
        let for_s = now_s - since;
        if for_s >= failing_after {
            reasons.push(format!(
                "source {:?} has been failing for {} ({} in a row); last error: {}",
                state.source,
                humantime::format_duration(Duration::from_secs(for_s.max(0) as u64)),
                plural(state.consecutive_failures, "failed poll"),
                one_line(state.last_error.as_deref().unwrap_or("unknown")),
            ));
        }
    }
    let backlog = store.outbox_backlog(
        now_s - config.outbox_backlog_after.as_secs() as i64,
        now_s - DEAD_LETTER_WINDOW.as_secs() as i64,
    )?;
    if backlog.overdue > 0 {
        let oldest = backlog
            .oldest_due
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        reasons.push(format!(
            "outbox: {} due for longer than {}, the oldest since {oldest}; see `webcare outbox --state pending`",
            plural(backlog.overdue, "alert"),
            humantime::format_duration(config.outbox_backlog_after),
        ));
    }
    if let Some(h) = store.mail_health()? {
        let at = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        reasons.push(format!(
            "mail: {} (since {}; next try at {}; `webcare once` tries at once)",
            one_line(&h.cause),
            at(h.since),
            at(h.paused_until)
        ));
    }
    if backlog.recent_dead > 0 {
        reasons.push(format!(
            "outbox: {} given up in the last 24h; see `webcare outbox --state dead`",
            plural(backlog.recent_dead, "alert")
        ));
    }
    Ok(reasons)
}

fn plural(n: i64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Control characters (a multi-line error from a server) would split a reason over lines.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_is_ready_only_between_start_and_stop() {
        let (trigger, shutdown) = Shutdown::new();
        let state = Arc::new(AdminState {
            db: PathBuf::from("unused.db"),
            checks: RwLock::new(Checks {
                sources: Vec::new(),
                config: AdminConfig::default(),
            }),
            metrics: Arc::default(),
            ready: AtomicBool::new(false),
            shutdown,
        });
        let status = |s: &Arc<AdminState>| {
            let s = s.clone();
            async move { readyz(State(s)).await.status() }
        };
        assert_eq!(status(&state).await, StatusCode::SERVICE_UNAVAILABLE);
        state.ready.store(true, Ordering::Relaxed);
        assert_eq!(status(&state).await, StatusCode::OK);
        trigger.stop();
        assert_eq!(status(&state).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn an_unreadable_database_makes_health_degraded() {
        let dir = tempfile::tempdir().unwrap();
        let reasons = health_reasons(
            &dir.path().join("gone.db"),
            &[],
            &AdminConfig::default(),
            Utc::now(),
        );
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].starts_with("database: no database at "),
            "{reasons:?}"
        );
    }

    /// Stores a mention and queues one alert for it through the store's API, as routing at
    /// `due` would; a `dead` alert is then given up for good, as after its last failed attempt.
    fn queue_alert(store: &mut dyn Backend, id: &str, dead: bool, due: i64) {
        use crate::store::{NewAlert, NewMention, PollCommit, RoutingRecord};
        let summary = store
            .commit_poll(PollCommit::news(
                "feed",
                vec![NewMention {
                    mention: crate::sources::Mention {
                        external_id: id.into(),
                        text: format!("post {id}"),
                        created_at: Utc::now(),
                        ..Default::default()
                    },
                    watches: vec!["w".into()],
                    verdict: None,
                }],
            ))
            .unwrap();
        let message_id = format!("<{id}@example.com>");
        let alert = NewAlert {
            channel: "email",
            team: "t".into(),
            rule: "r".into(),
            recipient: "a@example.com".into(),
            message_id: message_id.clone(),
            subject: "s".into(),
            text: "b".into(),
            html: "b".into(),
            urgent: false,
            not_before: due,
            payload: None,
        };
        let record = RoutingRecord {
            mention_id: summary.new_ids[0],
            route: "[]".into(),
            alerts: vec![alert],
            duplicate_of: None,
        };
        assert_eq!(store.record_routing(&[record], &[], due).unwrap(), 1);
        if dead {
            let row = store
                .due_alerts(Utc::now().timestamp(), true, 10)
                .unwrap()
                .into_iter()
                .find(|e| e.message_id == message_id)
                .unwrap();
            store
                .record_send_failure(&[row.id], "550 no such user", None)
                .unwrap();
        }
    }

    #[test]
    fn overdue_and_dead_alerts_make_health_degraded() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let mut store = store::open(&db).unwrap();
        let now = Utc::now();
        let config = AdminConfig::default();
        assert!(health_reasons(&db, &[], &config, now).is_empty());
        let mut insert = |id: &str, state: &str, due: i64| {
            queue_alert(&mut *store, id, state == "dead", due);
        };
        insert("fresh", "pending", now.timestamp() - 60);
        assert!(health_reasons(&db, &[], &config, now).is_empty());
        insert("old", "pending", now.timestamp() - 3600);
        insert("dead", "dead", now.timestamp() - 7200);
        let reasons = health_reasons(&db, &[], &config, now);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].starts_with("outbox: 1 alert due for longer than 15m"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].starts_with("outbox: 1 alert given up in the last 24h"),
            "{reasons:?}"
        );
    }

    #[test]
    fn reasons_stay_on_one_line() {
        assert_eq!(one_line("bad\r\ngateway"), "bad  gateway");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 301);
    }
}
