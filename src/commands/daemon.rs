//! `run` and `once`: the daemon with all its stages, its reload on SIGHUP, and the single pass
//! a timer can run instead.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use super::EXIT_TEMPFAIL;
use crate::classify::Classifier;
use crate::config::load::Config;
use crate::notify::outbox::{DeliveryReport, Sender};
use crate::notify::{self, Notifier};
use crate::privacy;
use crate::scheduler::{self, Pipeline};
use crate::shutdown::Shutdown;
use crate::store::{self, InstanceLock, LockError, Readers, Writer};
use crate::supervisor::Stages;
use crate::watch::Watches;

/// Tells systemd (when started with Type=notify) what the daemon is doing; a no-op otherwise.
fn notify_systemd(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

fn pipeline(config: &Config) -> anyhow::Result<Pipeline> {
    let store = store::open(&config.store.path)?;
    let mut pipeline = Pipeline::new(
        Writer::new(store),
        compile_watches(config)?,
        config.store.raw_max_bytes,
    );
    pipeline.max_text_chars = config.store.max_text_chars;
    Ok(pipeline)
}

/// The watches of `config`, with the classifier its `[classifier]` section describes and the
/// model it names (or else the one in use in the database, or else the bundled one).
pub(super) fn compile_watches(config: &Config) -> anyhow::Result<Watches> {
    let model = crate::classify::retrain::configured_model(config)?;
    compile_watches_with(config, model)
}

/// The watches of `config` with `model` on top of the lexicons.
fn compile_watches_with(
    config: &Config,
    model: Option<Arc<crate::classify::Model>>,
) -> anyhow::Result<Watches> {
    let mut classifier = Classifier::from_config(&crate::config::ClassifierConfig {
        model: None,
        ..config.classifier.clone()
    })?;
    if let Some(m) = model {
        classifier = classifier.with_model(m);
    }
    let watches = Watches::compile(&config.watches, classifier)
        .map_err(|(w, e)| anyhow::anyhow!("watch {w}: {e}"))?;
    Ok(watches)
}

/// Takes the database's instance lock for `run` and `once`, so two of them never route and
/// send the same alerts. Another instance holding it is a temporary failure (exit 75).
fn lock_instance(config: &Config) -> Result<InstanceLock, i32> {
    InstanceLock::acquire(&config.store.path).map_err(|e| {
        eprintln!("error: {e}");
        match e {
            LockError::Held { .. } => EXIT_TEMPFAIL,
            LockError::Io { .. } => 1,
        }
    })
}

/// The signals the daemon answers: SIGTERM and SIGINT stop it, SIGHUP reloads the config.
struct Signals {
    /// Stops the daemon on SIGTERM or SIGINT.
    stopper: tokio::task::JoinHandle<()>,
    /// SIGHUP, received in the daemon's main loop.
    hangup: tokio::signal::unix::Signal,
}

/// Installs the signal handlers. Called before any stage runs: a handler registered inside a
/// spawned task could come after an early SIGTERM or SIGHUP, which would then kill the process
/// outright.
fn install_signals(trigger: crate::shutdown::ShutdownTrigger) -> anyhow::Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let stopper = tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = term.recv() => tracing::info!("SIGTERM received; stopping"),
        }
        trigger.stop();
    });
    Ok(Signals { stopper, hangup })
}

/// Tells systemd the daemon is ready and, with WatchdogSec= set, keeps telling it the runtime
/// still ticks (systemd restarts a daemon that stops).
fn announce_ready(sources: usize, watches: usize) -> Option<tokio::task::JoinHandle<()>> {
    let status = format!("polling {sources} sources for {watches} watches");
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    sd_notify::watchdog_enabled().map(|interval| {
        let every = interval / 2;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                notify_systemd(&[sd_notify::NotifyState::Watchdog]);
            }
        })
    })
}

/// Starts the web inbox when `[web]` is configured, and prints where to sign in: the demo's
/// newcomer reads it on the terminal, not in the log.
async fn start_web(config: &Config) -> anyhow::Result<Option<crate::web::WebServer>> {
    let web = crate::web::WebServer::start(config).await?;
    if let Some(web) = &web {
        println!(
            "web inbox: {} (listening on {})",
            config
                .web
                .as_ref()
                .map(|w| w.base_url.as_str())
                .unwrap_or_default(),
            web.addr()
        );
    }
    Ok(web)
}

/// The stages that keep the database: retention (when it removes anything), the file watch,
/// health publishing and WAL checkpoints.
fn spawn_store_stages(
    config: &Config,
    readers: &Readers,
    writer: &Writer,
    lock: Arc<InstanceLock>,
    stages: &mut Stages,
) {
    let shutdown = stages.shutdown().clone();
    if !config.retention.keeps_everything() {
        let (r, w, retention) = (readers.clone(), writer.clone(), config.retention);
        let s = shutdown.clone();
        stages.spawn("retention", move || {
            privacy::run_retention(r.clone(), w.clone(), retention, s.clone())
        });
    }
    let (w, db, s) = (writer.clone(), config.store.path.clone(), shutdown.clone());
    stages.spawn("store-watch", move || {
        crate::store::watch_store(w.clone(), db.clone(), s.clone())
    });
    let (health, s) = (writer.health(), shutdown.clone());
    stages.spawn("health-publish", move || {
        crate::store::publish_health(lock.clone(), health.clone(), s.clone())
    });
    let w = writer.clone();
    stages.spawn("wal-checkpoint", move || {
        crate::store::wal::run_checkpoints(w.clone(), shutdown.clone())
    });
}

/// The notifier's stages when `[[teams]]` are configured (router, sender, spikes, SLA
/// escalations), then the digest's. Returns the channel the scheduler announces newly stored
/// mentions on, or `None` without teams.
fn spawn_notify_stages(
    config: &Config,
    readers: &Readers,
    writer: &Writer,
    stages: &mut Stages,
) -> anyhow::Result<Option<tokio::sync::mpsc::UnboundedSender<Vec<i64>>>> {
    let mut sender_wake = None;
    let on_stored = match Notifier::new(config) {
        Some(notifier) => {
            let notifier = Arc::new(notifier);
            let sender = Sender::new(
                writer.clone(),
                notifier.mail().clone(),
                notifier.router().teams(),
            )
            .context("cannot set up mail")?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let wake = Arc::new(tokio::sync::Notify::new());
            spawn_alert_jobs(config, &notifier, readers, writer, &wake, stages);
            let shutdown = stages.shutdown().clone();
            let (r, w, rx, up, s) = (
                readers.clone(),
                writer.clone(),
                Arc::new(tokio::sync::Mutex::new(rx)),
                wake.clone(),
                shutdown.clone(),
            );
            stages.spawn("router", move || {
                notify::run_router(
                    notifier.clone(),
                    r.clone(),
                    w.clone(),
                    rx.clone(),
                    up.clone(),
                    s.clone(),
                )
            });
            let (sender, up) = (Arc::new(sender), wake.clone());
            stages.spawn("sender", move || {
                sender.clone().run(up.clone(), shutdown.clone())
            });
            sender_wake = Some(wake);
            Some(tx)
        }
        None => None,
    };
    notify::digest::spawn(config, readers, writer, sender_wake, stages)?;
    Ok(on_stored)
}

/// The spike and SLA escalation jobs, when configured; both wake the sender when they queue mail.
fn spawn_alert_jobs(
    config: &Config,
    notifier: &Notifier,
    readers: &Readers,
    writer: &Writer,
    wake: &Arc<tokio::sync::Notify>,
    stages: &mut Stages,
) {
    let shutdown = stages.shutdown().clone();
    if let Some(ctx) = notify::spike::SpikeContext::from_config(config, notifier) {
        let (ctx, r, w, up, s) = (
            Arc::new(ctx),
            readers.clone(),
            writer.clone(),
            wake.clone(),
            shutdown.clone(),
        );
        stages.spawn("spikes", move || {
            notify::spike::run_spikes(ctx.clone(), r.clone(), w.clone(), up.clone(), s.clone())
        });
    }
    if let Some(job) = notify::sla::SlaJob::from_config(config) {
        let (job, r, w, up) = (Arc::new(job), readers.clone(), writer.clone(), wake.clone());
        stages.spawn("sla", move || {
            notify::sla::run_escalations(
                job.clone(),
                r.clone(),
                w.clone(),
                up.clone(),
                shutdown.clone(),
            )
        });
    }
}

/// Changes of the database's model in use, as the retraining stage announces them.
type ModelChanges = tokio::sync::mpsc::UnboundedReceiver<crate::classify::retrain::ModelChange>;

/// Starts retraining when the config names no model file: the database's model in use then
/// changes when the daemon retrains or staff roll back, and the changes arrive on the returned
/// channel. A model file named in the config stays in use instead (the channel stays quiet).
fn spawn_retraining(config: &Config, writer: &Writer, stages: &mut Stages) -> ModelChanges {
    let (model_tx, model_changes) = tokio::sync::mpsc::unbounded_channel();
    if config.classifier.model.is_none() {
        let (cfg, w, s) = (
            config.classifier.clone(),
            writer.clone(),
            stages.shutdown().clone(),
        );
        stages.spawn("retrain", move || {
            let (cfg, w, tx, s) = (cfg.clone(), w.clone(), model_tx.clone(), s.clone());
            async move {
                // Read at each (re)start: a restarted stage goes on from the model in use now.
                let in_use = w.run(|s| s.active_model_id()).await.ok().flatten();
                crate::classify::retrain::run_retraining(cfg, w, in_use, tx, s).await
            }
        });
    }
    model_changes
}

pub(super) async fn daemon(config: Config) -> anyhow::Result<i32> {
    let lock = match lock_instance(&config) {
        Ok(lock) => Arc::new(lock),
        Err(code) => return Ok(code),
    };
    let pipeline = pipeline(&config)?;
    // A database that cannot be written keeps /readyz at "not ready" until a write succeeds.
    if let Err(e) = pipeline.writer.probe().await {
        tracing::error!(error = %e, "the database cannot be written; /readyz says not ready until it can");
    }
    let handles = scheduler::build_sources(&config)?;
    let (trigger, shutdown) = Shutdown::new();
    let admin =
        crate::admin::AdminServer::start(&config, pipeline.metrics.clone(), shutdown.clone())
            .await?;
    let mut web = start_web(&config).await?;
    tracing::info!(
        config = %config.file.display(), database = %config.store.path.display(),
        sources = handles.len(), watches = config.watches.len(),
        classifier = %crate::classify::retrain::in_use_words(&config), "webcare started"
    );
    let mut signals = install_signals(trigger)?;
    let watchdog = announce_ready(handles.len(), config.watches.len());
    let writer = pipeline.writer.clone();
    // The stages that read before they write (routing, spikes, SLA, digest) read here, so the
    // writer is held only for their writes; the database exists by now (the writer made it).
    let readers = pipeline.readers.clone();
    let mut stages = Stages::new(writer.health(), shutdown.clone());
    spawn_store_stages(&config, &readers, &writer, lock, &mut stages);
    let on_stored = spawn_notify_stages(&config, &readers, &writer, &mut stages)?;
    let mut model_changes = spawn_retraining(&config, &writer, &mut stages);
    let mut sources = scheduler::Scheduler::new(pipeline, on_stored);
    for h in handles {
        sources.start(h);
    }
    if let Some(admin) = &admin {
        admin.set_ready();
    }
    let mut stopping = shutdown.clone();
    let mut running = config;
    loop {
        tokio::select! {
            _ = signals.hangup.recv() => reload(&mut running, &mut sources, admin.as_ref(), &mut web).await,
            Some(change) = model_changes.recv(), if running.classifier.model.is_none() => {
                let id = change.as_ref().map(|(id, _)| *id);
                let model = match change {
                    Some((_, m)) => Some(m),
                    None => crate::classify::retrain::default_model(&running.classifier),
                };
                let bundled = model.is_some();
                match compile_watches_with(&running, model) {
                    Ok(w) => {
                        sources.pipeline().set_watches(w);
                        match id {
                            Some(id) => tracing::info!(model = id, "new mentions are classified with this model"),
                            None if bundled => tracing::info!("no model in use: new mentions are classified with the bundled model"),
                            None => tracing::info!("new mentions are classified with the lexicons alone"),
                        }
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot put the new model in use"),
                }
            }
            _ = stopping.wait() => break,
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    sources.stop_all().await;
    stages.join().await;
    if let Some(web) = web {
        web.stop().await;
    }
    // Last to stop, so /readyz says "stopping" until the other stages are done.
    if let Some(admin) = admin {
        admin.stop().await;
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    signals.stopper.abort();
    tracing::info!("webcare stopped");
    Ok(0)
}

/// Re-reads the config file on SIGHUP. A config with errors is refused and the running one
/// stays; otherwise new watches apply to the next poll, and only sources that were added,
/// removed or changed are started or stopped.
async fn reload(
    running: &mut Config,
    sources: &mut scheduler::Scheduler,
    admin: Option<&crate::admin::AdminServer>,
    web: &mut Option<crate::web::WebServer>,
) {
    notify_systemd(&[sd_notify::NotifyState::Reloading]);
    tracing::info!(config = %running.file.display(), "SIGHUP received; reloading the configuration");
    match Config::load(&running.file) {
        Err(errors) => {
            tracing::error!("reload refused, the running configuration stays: {errors}");
        }
        Ok(new) => match (compile_watches(&new), scheduler::build_sources(&new)) {
            (Ok(watches), Ok(handles)) => {
                if new.store.path != running.store.path {
                    tracing::warn!(
                        "store.path changed to {}; the daemon keeps {} until it is restarted",
                        new.store.path.display(),
                        running.store.path.display()
                    );
                }
                sources.pipeline().set_watches(watches);
                let applied = sources.apply(handles).await;
                if let Some(admin) = admin {
                    admin.reconfigure(&new);
                }
                *web = crate::web::WebServer::reload(web.take(), &new).await;
                tracing::info!(
                    added = ?applied.added, removed = ?applied.removed, changed = ?applied.changed,
                    unchanged = applied.unchanged.len(), watches = new.watches.len(),
                    "configuration reloaded; alert routing and mail settings take effect at the next restart"
                );
                *running = new;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "reload refused, the running configuration stays");
            }
        },
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}

/// `label` and `n` for the summary `once` prints, or nothing when `n` is zero: counts that are
/// rarely anything else stay out of the line until they matter.
fn unless_zero(label: &str, n: usize) -> String {
    if n > 0 {
        format!("{label}{n}")
    } else {
        String::new()
    }
}

pub(super) async fn once(config: Config) -> anyhow::Result<i32> {
    let _lock = match lock_instance(&config) {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let pipeline = pipeline(&config)?;
    let handles = scheduler::build_sources(&config)?;
    let (_trigger, shutdown) = Shutdown::new();
    let polling =
        crate::progress::Progress::spinner(&format!("polling {} sources", handles.len()), "");
    let reports = scheduler::poll_all_once(handles, &pipeline, &shutdown).await;
    polling.finish();
    let alerts = notify_once(&config, &pipeline.writer, &shutdown).await?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for r in &reports {
        match &r.error {
            None => writeln!(
                out,
                "{:<20} fetched {:>4}  stored {:>4}  already stored {:>4}  no watch {:>4}{}",
                r.source,
                r.fetched,
                r.stored,
                r.duplicates,
                r.unmatched,
                unless_zero("  over daily cap ", r.capped)
            )?,
            Some(e) => {
                failed += 1;
                writeln!(out, "{:<20} FAILED: {e}", r.source)?;
            }
        }
    }
    if let Some((_, _, notes)) = &alerts {
        for n in notes {
            writeln!(out, "{n}")?;
        }
    }
    if let Some((queued, r, _)) = &alerts {
        writeln!(
            out,
            "alerts: queued {queued}, sent {}, waiting to retry {}, failed for good {}, held by hourly cap {}{}",
            r.sent,
            r.retrying,
            r.dead,
            r.held,
            unless_zero(", not sent as answered meanwhile ", r.superseded)
        )?;
        if let Some(cause) = &r.paused {
            writeln!(
                out,
                "mail paused: {cause}; {} more waiting in the outbox",
                r.waiting
            )?;
        }
        // Anything not delivered (retrying, paused, or given up for good) is worth a look: a
        // timer running `once` sees 75 and can alert the operator.
        if r.retrying > 0 || r.dead > 0 || r.waiting > 0 || r.paused.is_some() {
            failed += 1;
        }
    }
    Ok(if failed > 0 { EXIT_TEMPFAIL } else { 0 })
}

/// `once`'s notifier pass: routes what is unrouted, checks for spikes, queues a due digest, and
/// tries every pending alert now. Also returns one line per spike alert and digest queued.
async fn notify_once(
    config: &Config,
    writer: &Writer,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<(usize, DeliveryReport, Vec<String>)>> {
    let notifier = Notifier::new(config).map(Arc::new);
    let digest = notify::digest::DigestJob::from_config(config);
    let Some(mail) = config
        .notify
        .mail
        .clone()
        .filter(|_| notifier.is_some() || digest.is_some())
    else {
        return Ok(None);
    };
    let mut queued = 0;
    let mut notes = Vec::new();
    if let Some(notifier) = &notifier {
        let n = notifier.clone();
        queued = writer
            .run(move |s| n.route_pending(s, None, Utc::now()))
            .await?;
        if let Some(ctx) = notify::spike::SpikeContext::from_config(config, notifier) {
            let found = writer
                .run(move |s| notify::spike::check(s, &ctx, Utc::now()))
                .await?;
            notes.extend(found.iter().map(|e| format!("spike alert: {}", e.summary)));
        }
    }
    if let Some(job) = digest {
        let done = writer.run(move |s| job.queue_due(s, Utc::now())).await?;
        notes.extend(done.iter().map(|q| {
            format!(
                "digest: queued for {} ({} emails){}",
                q.list,
                q.emails,
                if q.late { ", late" } else { "" }
            )
        }));
    }
    let teams = notifier
        .as_ref()
        .map(|n| n.router().teams().to_vec())
        .unwrap_or_default();
    let sender = Sender::new(writer.clone(), mail, &teams).context("cannot set up mail")?;
    let report = match sender.deliver_due(true, shutdown).await {
        Ok(report) => report,
        Err(e) if sender.unrecorded() > 0 => {
            // An alert went out but the database refused to mark it sent; this process is
            // the only one that knows, so it tries for a while before giving up.
            let held = sender.unrecorded();
            sender
                .record_held_within(std::time::Duration::from_secs(30))
                .await
                .with_context(|| {
                    format!(
                        "{held} message(s) went out but could not be marked sent ({e}); the next `once` or `run` sends them again"
                    )
                })?;
            return Err(e).context("the outbox pass stopped after a failed database write");
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some((queued, report, notes)))
}
