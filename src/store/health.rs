//! What the daemon knows about its own database that the database itself may be unable to
//! record: whether writes currently fail (full disk, read-only file, corrupt page, a lock held
//! too long), what the integrity check at start found, and which sources polled but could not
//! store or record their poll. Kept in memory by the single writer and read by `/healthz`,
//! `/readyz` and `/metrics`, so health tells the truth exactly when the database cannot.

use super::Maintenance;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use std::path::PathBuf;

use rusqlite::ErrorCode;

use super::{Store, StoreError, Writer};
use crate::shutdown::Shutdown;

/// The write failure in force: from the first failed write until the next write that commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// When writes started failing (unix seconds).
    pub since: i64,
    /// Failed writes since then.
    pub failures: u64,
    /// The latest error, as SQLite gave it.
    pub error: String,
}

/// What `PRAGMA quick_check` at start found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Integrity {
    /// Not run (yet).
    #[default]
    Unchecked,
    /// Passed, and how long it took.
    Ok(Duration),
    /// Failed: the first problems SQLite reported, or why the check could not run.
    Failed(String),
}

/// A source whose poll outcome the database could not record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFault {
    /// The latest error, while the source is failing; `None` once a poll was stored again.
    pub failing: Option<String>,
    /// Failed polls the poll log never got, since the daemon started (only grows, so
    /// `webcare_poll_errors_total` stays a counter).
    pub unrecorded: u64,
    /// Why the source's polling task last ended (a panic), while it has not stored a poll since
    /// the scheduler restarted it.
    pub task_ended: Option<String>,
    /// Times the scheduler restarted the source's polling task since the daemon started.
    pub restarts: u64,
}

/// A daemon stage (router, sender, digest...) as its supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageFault {
    /// Why the stage's task last ended, while it waits for its restart or has not yet run
    /// long enough since to count as up.
    pub down: Option<String>,
    /// Times the supervisor restarted the stage since the daemon started.
    pub restarts: u64,
}

#[derive(Debug, Default)]
struct State {
    write_failure: Option<WriteFailure>,
    integrity: Integrity,
    sources: HashMap<String, SourceFault>,
    stages: HashMap<String, StageFault>,
}

/// Shared by the writer, the scheduler and the admin server; cheap to update.
#[derive(Debug, Default)]
pub struct StoreHealth {
    state: Mutex<State>,
}

impl StoreError {
    /// True when the error says the database cannot be written now: full, read-only, corrupt,
    /// unreadable or locked for longer than the busy timeout. Errors about the request itself
    /// (no such mention, a bad query) are not.
    pub fn is_unwritable(&self) -> bool {
        let StoreError::Database { source, .. } = self else {
            return matches!(self, StoreError::Io { .. } | StoreError::Corrupt { .. });
        };
        matches!(
            source.0.sqlite_error_code(),
            Some(
                ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::PermissionDenied
                    | ErrorCode::TooBig
            )
        )
    }
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

impl StoreHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a failed write, if `e` says the database cannot be written.
    pub fn write_failed(&self, e: &StoreError) {
        if !e.is_unwritable() {
            return;
        }
        let mut s = self.lock();
        let error = e.to_string();
        match &mut s.write_failure {
            Some(f) => {
                f.failures += 1;
                f.error = error;
            }
            None => {
                tracing::error!(error = %error, "database writes are failing; health reports it until a write succeeds");
                s.write_failure = Some(WriteFailure {
                    since: now_s(),
                    failures: 1,
                    error,
                });
            }
        }
    }

    /// Notes a write that committed: the database is writable again.
    pub fn write_succeeded(&self) {
        if let Some(f) = self.lock().write_failure.take() {
            tracing::info!(failed_writes = f.failures, "database writes work again");
        }
    }

    /// The write failure in force, if any.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.lock().write_failure.clone()
    }

    /// Records what the integrity check found.
    pub fn set_integrity(&self, integrity: Integrity) {
        self.lock().integrity = integrity;
    }

    /// What the integrity check found.
    pub fn integrity(&self) -> Integrity {
        self.lock().integrity.clone()
    }

    /// A poll of `source` failed and the database could not record it.
    pub fn source_unrecorded(&self, source: &str, error: &str) {
        let mut s = self.lock();
        let f = s.sources.entry(source.to_string()).or_default();
        f.failing = Some(error.to_string());
        f.unrecorded += 1;
    }

    /// A poll of `source` could not be stored (it may still be recorded as a failure).
    pub fn source_failed(&self, source: &str, error: &str) {
        let mut s = self.lock();
        s.sources.entry(source.to_string()).or_default().failing = Some(error.to_string());
    }

    /// A poll of `source` was stored.
    pub fn source_stored(&self, source: &str) {
        if let Some(f) = self.lock().sources.get_mut(source) {
            f.failing = None;
            f.task_ended = None;
        }
    }

    /// The polling task of `source` ended (it panicked) and the scheduler restarts it; health
    /// says so until a poll is stored again.
    pub fn source_task_ended(&self, source: &str, why: &str) {
        let mut s = self.lock();
        let f = s.sources.entry(source.to_string()).or_default();
        f.task_ended = Some(why.to_string());
        f.restarts += 1;
    }

    /// Every source with a fault kept in memory.
    pub fn sources(&self) -> HashMap<String, SourceFault> {
        self.lock().sources.clone()
    }

    /// Why the database makes the daemon unhealthy, one line each; empty when it does not.
    pub fn reasons(&self) -> Vec<String> {
        let s = self.lock();
        let mut reasons = Vec::new();
        if let Some(f) = &s.write_failure {
            let since = chrono::DateTime::<chrono::Utc>::from_timestamp(f.since, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            reasons.push(format!(
                "database: writes failing since {since} ({} failed); last error: {}",
                f.failures, f.error
            ));
        }
        if let Integrity::Failed(why) = &s.integrity {
            reasons.push(format!("database: integrity check failed: {why}"));
        }
        let mut names: Vec<&String> = s.sources.keys().collect();
        names.sort();
        for name in names {
            if let Some(e) = &s.sources[name].failing {
                reasons.push(format!(
                    "source {name:?} cannot store its polls; last error: {e}"
                ));
            }
            let f = &s.sources[name];
            if let Some(why) = &f.task_ended {
                reasons.push(format!(
                    "source {name:?} stopped polling and is being restarted ({} restarts so far): {why}",
                    f.restarts
                ));
            }
        }
        let mut stages: Vec<(&String, &StageFault)> = s.stages.iter().collect();
        stages.sort_by_key(|(name, _)| *name);
        for (name, f) in stages {
            if let Some(why) = &f.down {
                reasons.push(format!(
                    "stage {name:?} stopped and is being restarted ({} restarts so far): {why}",
                    f.restarts
                ));
            }
        }
        reasons
    }
}

impl StoreHealth {
    /// The stage `name` runs under its supervisor (listed with no restarts in `/metrics`).
    pub fn stage_started(&self, name: &str) {
        self.lock().stages.entry(name.to_string()).or_default();
    }

    /// The task of stage `name` ended (it panicked) and its supervisor restarts it; health
    /// says so until it runs again for a while.
    pub fn stage_task_ended(&self, name: &str, why: &str) {
        let mut s = self.lock();
        let f = s.stages.entry(name.to_string()).or_default();
        f.down = Some(why.to_string());
        f.restarts += 1;
    }

    /// The restarted stage `name` keeps running: it is up again.
    pub fn stage_running(&self, name: &str) {
        if let Some(f) = self.lock().stages.get_mut(name) {
            f.down = None;
        }
    }

    /// Every supervised stage, with its restarts.
    pub fn stages(&self) -> HashMap<String, StageFault> {
        self.lock().stages.clone()
    }
}

/// How often a daemon whose database cannot be written tries a write again.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The daemon's database watch: runs `PRAGMA quick_check` once at start on a read-only
/// connection of its own (so polling is not held up; the log says how long it took), then,
/// while writes fail, tries a write every few seconds so health and readiness notice at once
/// when the database takes writes again, even when nothing else writes.
pub async fn watch_store(writer: Writer, db: PathBuf, mut shutdown: Shutdown) {
    let health = writer.health();
    let checked =
        tokio::task::spawn_blocking(move || Store::open_reader(&db).and_then(|s| s.quick_check()))
            .await;
    match checked {
        Ok(Ok(took)) => {
            tracing::info!(
                took_ms = took.as_millis() as u64,
                "database integrity check (quick_check) passed"
            );
            health.set_integrity(Integrity::Ok(took));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database integrity check (quick_check) failed; restore a backup (`webcare backup`) or recover the file");
            health.set_integrity(Integrity::Failed(e.to_string()));
        }
        Err(e) => health.set_integrity(Integrity::Failed(format!("check did not finish: {e}"))),
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = shutdown.wait() => break,
        }
        if health.write_failure().is_some() {
            let _ = writer.probe().await;
        }
    }
}

/// What a running daemon tells other commands through its lock file: the health that only it
/// knows, because the database could not record it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The write failure in force, as one line.
    pub write_failure: Option<String>,
    /// The sources whose polls cannot be stored, with the latest error.
    pub failing: std::collections::BTreeMap<String, String>,
}

impl StoreHealth {
    /// The part of the health other commands should see.
    pub fn published(&self) -> Published {
        let s = self.lock();
        Published {
            write_failure: s.write_failure.as_ref().map(|f| {
                format!(
                    "writes failing since {} ({} failed): {}",
                    chrono::DateTime::<chrono::Utc>::from_timestamp(f.since, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    f.failures,
                    f.error
                )
            }),
            failing: s
                .sources
                .iter()
                .filter_map(|(name, f)| {
                    let restarted = || {
                        f.task_ended
                            .as_ref()
                            .map(|why| format!("stopped polling and is being restarted: {why}"))
                    };
                    f.failing
                        .clone()
                        .or_else(restarted)
                        .map(|e| (name.clone(), e))
                })
                .collect(),
        }
    }
}

/// Reads what the daemon running on the database at `db` published, if one runs.
pub fn read_published_health(db: &std::path::Path) -> Option<Published> {
    serde_json::from_str(&super::lock::read_published(db)?).ok()
}

/// Keeps the daemon's [`Published`] health in its lock file, rewritten when it changes, so
/// `webcare sources` shows failures the database could not record.
pub async fn publish_health(
    lock: std::sync::Arc<super::InstanceLock>,
    health: std::sync::Arc<StoreHealth>,
    mut shutdown: Shutdown,
) {
    let mut last = None;
    loop {
        let now = health.published();
        if last.as_ref() != Some(&now) {
            let text = serde_json::to_string(&now).unwrap_or_default();
            match lock.publish(&text) {
                Ok(()) => last = Some(now),
                Err(e) => tracing::debug!(error = %e, "cannot publish health in the lock file"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> StoreError {
        StoreError::Database {
            path: "w.db".into(),
            source: crate::store::DatabaseError(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            )),
        }
    }

    #[test]
    fn a_failed_write_is_reported_until_a_write_succeeds() {
        let h = StoreHealth::default();
        h.write_failed(&StoreError::NoSuchMention(3));
        assert!(h.reasons().is_empty());
        h.write_failed(&full());
        h.write_failed(&full());
        let f = h.write_failure().unwrap();
        assert_eq!(f.failures, 2);
        assert!(
            h.reasons()[0].contains("database or disk is full"),
            "{:?}",
            h.reasons()
        );
        h.write_succeeded();
        assert!(h.reasons().is_empty());
    }

    #[test]
    fn unrecorded_poll_errors_only_grow_and_failing_clears_on_store() {
        let h = StoreHealth::default();
        h.source_unrecorded("feed", "disk full");
        h.source_unrecorded("feed", "disk full");
        assert_eq!(h.reasons().len(), 1);
        h.source_stored("feed");
        let f = &h.sources()["feed"];
        assert_eq!((f.failing.clone(), f.unrecorded), (None, 2));
        assert!(h.reasons().is_empty());
    }
}
