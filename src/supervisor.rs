//! The one supervisor every long-running task of the daemon runs under: the source polling
//! tasks and the stages after them (router, sender, digest, spikes, SLA, retention, retraining,
//! the store's upkeep). A task that panics, or ends while the daemon is not stopping, is logged
//! with its name, shown in `/healthz`, counted in `/metrics` and started again after a backoff.
//! Without it a panic vanished into an unread `JoinHandle`: the stage was gone and the daemon
//! still looked healthy.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::redact::redact_text;
use crate::shutdown::Shutdown;
use crate::store::StoreHealth;

/// The longest wait before an ended task is started again.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);

/// A task that ran this long before it ended starts its restart backoff over.
const RESTART_RESET_AFTER: Duration = Duration::from_secs(600);

/// A restarted stage that keeps running this long counts as up again in `/healthz`. Sources
/// need no such wait: their next stored poll says they work.
pub const STAGE_SETTLED_AFTER: Duration = Duration::from_secs(10);

/// What a supervised task is, for the log, `/healthz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The polling task of the source with this name.
    Source(String),
    /// A daemon stage, such as `router` or `sender`.
    Stage(&'static str),
}

impl Task {
    fn name(&self) -> &str {
        match self {
            Task::Source(name) => name,
            Task::Stage(name) => name,
        }
    }
}

/// Keeps the task that `make` starts alive until `shutdown`: each time it panics (or ends
/// while the daemon is not stopping) it is logged, reported to `health` and started again
/// after a backoff of 1 s doubling up to `max_delay`. Never restarts once `shutdown` fired.
/// A restarted stage counts as up again once it has run for `settled_after`.
pub async fn supervise<F, Fut>(
    task: Task,
    health: Arc<StoreHealth>,
    mut shutdown: Shutdown,
    (max_delay, settled_after): (Duration, Duration),
    mut make: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let outcome = run_once(
            &task,
            &health,
            (restarts > 0).then_some(settled_after),
            tokio::spawn(make()),
        )
        .await;
        if shutdown.is_stopping() {
            break;
        }
        let why = match outcome {
            Ok(()) => "its task ended without being asked to stop".to_string(),
            Err(e) if e.is_panic() => format!("its task panicked: {}", panic_text(e.into_panic())),
            Err(e) => format!("its task was cancelled: {e}"),
        };
        if started.elapsed() >= RESTART_RESET_AFTER {
            restarts = 0;
        }
        restarts = restarts.saturating_add(1);
        let delay = restart_delay(restarts, max_delay);
        let why = redact_text(&why);
        match &task {
            Task::Source(name) => {
                tracing::error!(source = %name, error = %why, restart_in_s = delay.as_secs(), "source stopped polling; restarting it");
                health.source_task_ended(name, &why);
            }
            Task::Stage(name) => {
                tracing::error!(stage = %name, error = %why, restart_in_s = delay.as_secs(), "daemon stage stopped; restarting it");
                health.stage_task_ended(name, &why);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => break,
        }
    }
    tracing::debug!(task = %task.name(), "supervised task stopped");
}

/// Waits for one run of the task. A restarted stage (`settle` is then set) that keeps running
/// that long is reported up again while it goes on running.
async fn run_once(
    task: &Task,
    health: &StoreHealth,
    settle: Option<Duration>,
    mut running: JoinHandle<()>,
) -> Result<(), tokio::task::JoinError> {
    let (Task::Stage(name), Some(settle)) = (task, settle) else {
        return running.await;
    };
    tokio::select! {
        outcome = &mut running => outcome,
        _ = tokio::time::sleep(settle) => {
            health.stage_running(name);
            tracing::info!(stage = %name, "restarted daemon stage keeps running");
            running.await
        }
    }
}

/// The wait before restart number `restarts` (from 1): 1 s, doubling, at most `max`.
fn restart_delay(restarts: u32, max: Duration) -> Duration {
    let doublings = restarts.saturating_sub(1).min(30);
    Duration::from_secs(1u64 << doublings).min(max)
}

/// The message a panic carried, when it is text.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(no message)".to_string(),
        },
    }
}

/// The daemon's stages, each under [`supervise`], and the handles the daemon waits for when it
/// stops.
pub struct Stages {
    /// How long a restarted stage runs before it counts as up again.
    settled_after: Duration,
    health: Arc<StoreHealth>,
    shutdown: Shutdown,
    tasks: Vec<JoinHandle<()>>,
}

impl Stages {
    /// No stages yet; they report to `health` and stop on `shutdown`.
    pub fn new(health: Arc<StoreHealth>, shutdown: Shutdown) -> Stages {
        Stages {
            settled_after: STAGE_SETTLED_AFTER,
            health,
            shutdown,
            tasks: Vec::new(),
        }
    }

    /// The shutdown signal every stage should stop on.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Starts the stage `name`: `make` is called for its first run and again for each restart.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Listed at once, so `/metrics` shows every stage from the start.
        self.health.stage_started(name);
        self.tasks.push(tokio::spawn(supervise(
            Task::Stage(name),
            self.health.clone(),
            self.shutdown.clone(),
            (MAX_RESTART_DELAY, self.settled_after),
            make,
        )));
    }

    /// Waits until every stage has stopped (after the shutdown signal).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Waits (at most 20 s) until `runs` reaches `n`.
    async fn wait_for_runs(runs: &AtomicU32, n: u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while runs.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "never restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts stage `name` on `stages`: its first `panics` runs panic, later ones run until
    /// `shutdown`. Returns the count of runs started.
    fn flaky_stage(
        stages: &mut Stages,
        name: &'static str,
        panics: u32,
        shutdown: &Shutdown,
    ) -> Arc<AtomicU32> {
        let runs = Arc::new(AtomicU32::new(0));
        let (counted, shutdown) = (runs.clone(), shutdown.clone());
        stages.spawn(name, move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            let mut waiting = shutdown.clone();
            async move {
                if run < panics {
                    panic!("{name} went wrong at https://u:hunter2@example.org/hook");
                }
                waiting.wait().await;
            }
        });
        runs
    }

    #[tokio::test]
    async fn a_stage_that_panics_is_restarted_counted_and_shown_in_health() {
        let health = Arc::new(StoreHealth::default());
        let (stop, shutdown) = Shutdown::new();
        let mut stages = Stages::new(health.clone(), shutdown.clone());
        let runs = flaky_stage(&mut stages, "router", 2, &shutdown);
        assert_eq!(health.stages()["router"].restarts, 0);
        wait_for_runs(&runs, 3).await;
        let fault = health.stages()["router"].clone();
        assert_eq!(fault.restarts, 2);
        let why = fault.down.expect("shown as down until it settles");
        assert!(
            why.contains("its task panicked: router went wrong"),
            "{why}"
        );
        assert!(!why.contains("hunter2"), "{why}");
        let reasons = health.reasons().join("\n");
        assert!(
            reasons.contains("stage \"router\" stopped and is being restarted (2 restarts so far)"),
            "{reasons}"
        );
        stop.stop();
        tokio::time::timeout(Duration::from_secs(5), stages.join())
            .await
            .expect("the stages stop when asked");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_restarted_stage_that_keeps_running_is_up_again() {
        let health = Arc::new(StoreHealth::default());
        let (stop, shutdown) = Shutdown::new();
        let mut stages = Stages::new(health.clone(), shutdown.clone());
        stages.settled_after = Duration::from_millis(500);
        let runs = flaky_stage(&mut stages, "sender", 1, &shutdown);
        wait_for_runs(&runs, 2).await;
        assert!(!health.reasons().is_empty());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !health.reasons().is_empty() {
            assert!(Instant::now() < deadline, "{:?}", health.reasons());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(health.stages()["sender"].down, None);
        assert_eq!(health.stages()["sender"].restarts, 1);
        stop.stop();
        stages.join().await;
    }

    #[test]
    fn restarts_wait_one_second_doubling_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        let waits: Vec<u64> = [1, 2, 3, 9, 10, u32::MAX]
            .iter()
            .map(|n| restart_delay(*n, cap).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 256, 300, 300]);
    }

    #[tokio::test]
    async fn shutdown_does_not_restart_a_stage() {
        let health = Arc::new(StoreHealth::default());
        let (stop, shutdown) = Shutdown::new();
        let mut stages = Stages::new(health.clone(), shutdown.clone());
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        stages.spawn("digest", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut waiting = shutdown.clone();
            async move {
                // Ends (even by panicking) only once asked to stop: neither is a fault.
                waiting.wait().await;
                panic!("stopping");
            }
        });
        wait_for_runs(&runs, 1).await;
        stop.stop();
        tokio::time::timeout(Duration::from_secs(5), stages.join())
            .await
            .expect("the stages stop when asked");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let fault = health.stages()["digest"].clone();
        assert_eq!((fault.restarts, fault.down), (0, None));
        assert!(health.reasons().is_empty());
    }
}
