//! What each subcommand does. Errors are reported here, at the edge, with exit codes from
//! sysexits: 78 for bad config, 75 for a temporary failure, 1 otherwise.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use crate::classify::Classifier;
use crate::cli::{Cli, Command, LogFormat, MentionsArgs, OptoutAction, OutboxArgs, RouteArgs};
use crate::config::{Config, EXIT_CONFIG};
use crate::notify::outbox::{DeliveryReport, Sender};
use crate::notify::{self, Notifier};
use crate::privacy;
use crate::scheduler::{self, Pipeline};
use crate::shutdown::Shutdown;
use crate::store::{InstanceLock, LockError, MentionFilter, RoutingMention, Store, Writer};
use crate::watch::Watches;

/// Exit code for a temporary failure (`EX_TEMPFAIL`).
pub const EXIT_TEMPFAIL: i32 = 75;

/// Sets up tracing: level from `RUST_LOG` (default `info`), human or JSON lines on stderr.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if format == LogFormat::Journald {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        match tracing_journald::layer() {
            Ok(journal) => {
                tracing_subscriber::registry()
                    .with(filter)
                    .with(journal.with_syslog_identifier("webcare".into()))
                    .init();
                return;
            }
            Err(e) => {
                init_logging(LogFormat::Human);
                tracing::warn!(error = %e, "no systemd journal to log to; logging to stderr instead");
                return;
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A log line that cannot be written is dropped, never a panic in the logging task.
        .with_writer(crate::logging::BestEffortStderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Journald => unreachable!("handled above"),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init(),
    }
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    // The classifier commands work without a config file.
    let standalone = match &cli.command {
        Command::Classify {
            explain,
            lexicons,
            model,
        } => Some(classify(
            *explain,
            lexicons.as_deref(),
            model.as_deref(),
            cli.config.as_deref(),
        )),
        Command::Eval {
            file,
            lexicons,
            model,
        } => Some(eval(
            file,
            lexicons.as_deref(),
            model.as_deref(),
            cli.config.as_deref(),
        )),
        Command::Train {
            from,
            out,
            lexicons,
        } => Some(train(
            cli.config.as_deref(),
            from,
            out.as_deref(),
            lexicons.as_deref(),
        )),
        Command::User { action } => Some(crate::web::user_command(action)),
        _ => None,
    };
    if let Some(result) = standalone {
        return finish(result);
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Classify { .. }
        | Command::Eval { .. }
        | Command::Train { .. }
        | Command::User { .. } => {
            unreachable!("handled above")
        }
        Command::Label {
            id,
            label,
            by,
            export,
        } => label_command(&config, id, label.as_deref(), &by, export),
        Command::CheckConfig => check_config(&config),
        Command::Run => runtime().and_then(|rt| rt.block_on(daemon(config))),
        Command::Once => runtime().and_then(|rt| rt.block_on(once(config))),
        Command::Mentions(args) => mentions(&config, &args),
        Command::Sources { json } => sources(&config, json),
        Command::Backup { file } => backup(&config, &file),
        Command::Route(args) => route(&config, &args),
        Command::Outbox(args) => outbox(&config, &args),
        Command::Prune { dry_run } => privacy::prune_command(&config, dry_run),
        Command::Forget {
            author,
            dry_run,
            all,
        } => privacy::forget_command(&config, &author, dry_run, all),
        Command::Export { author } => privacy::export_command(&config, &author),
        Command::Digest(args) => {
            runtime().and_then(|rt| rt.block_on(notify::digest::command(&config, &args)))
        }
        Command::Answered { id, undo, by } => {
            notify::digest::answered_command(&config, id, undo, &by)
        }
        Command::Backtest { since } => notify::backtest::command(&config, &since),
        Command::Optout { action } => optout(&config, &action),
        Command::Model { action } => model_command(&config, &action),
    };
    finish(result)
}

fn finish(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn load_classifier(lexicons: Option<&Path>) -> anyhow::Result<Classifier> {
    match lexicons {
        Some(dir) => Ok(Classifier::from_dir(dir)?),
        None => Ok(Classifier::embedded()),
    }
}

/// The lexicons plus a model: the file given, else the one a given config names or has in use
/// in its database. A model that cannot be used is reported and the lexicons decide alone: a
/// damaged file must not stop classification.
fn load_with_model(
    lexicons: Option<&Path>,
    model: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<Classifier> {
    let c = load_classifier(lexicons)?;
    let Some(path) = model else {
        let Some(config) = config else { return Ok(c) };
        let config = Config::load(config)
            .map_err(|errors| anyhow::anyhow!("invalid configuration: {errors}"))?;
        return Ok(match crate::classify::retrain::configured_model(&config)? {
            Some(m) => c.with_model(m),
            None => c,
        });
    };
    match crate::classify::Model::load(path) {
        Ok(m) => Ok(c.with_model(Arc::new(m))),
        Err(e) => {
            eprintln!("error: {e}; classifying with the lexicons alone");
            Ok(c)
        }
    }
}

fn train(
    config: Option<&Path>,
    from: &[PathBuf],
    out: Option<&Path>,
    lexicons: Option<&Path>,
) -> anyhow::Result<i32> {
    if config.is_none() && out.is_none() {
        anyhow::bail!(
            "nowhere to put the model: give --out FILE, or --config FILE to store it in that database"
        );
    }
    let c = load_classifier(lexicons)?;
    let mut examples = Vec::new();
    let mut skipped = 0;
    let mut store = None;
    let mut seen = 0;
    if let Some(path) = config {
        let config = Config::load(path)
            .map_err(|errors| anyhow::anyhow!("invalid configuration: {errors}"))?;
        let s = Store::open_existing(&config.store.path)?;
        // Read before the corrections: one made meanwhile counts as new for the daemon.
        seen = s.last_correction_id()?;
        let corrections = s.corrections()?;
        let before = examples.len();
        skipped += crate::classify::train::corrections_to_examples(&c, corrections, &mut examples);
        eprintln!(
            "{} corrections from {}",
            examples.len() - before,
            config.store.path.display()
        );
        store = Some(s);
    }
    for file in from {
        skipped += crate::classify::train::read_examples(&c, file, &mut examples)?;
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} rows in languages without lexicons (en, nl, da)");
    }
    let model = crate::classify::train::train_and_report(
        &c,
        &examples,
        std::io::stdout().lock(),
        std::io::stderr().is_terminal(),
    )?;
    if let Some(out) = out {
        model.save(out)?;
        println!("model written to {}", out.display());
    }
    if let Some(mut store) = store {
        let (id, decision) =
            crate::classify::retrain::store_model(&mut store, &model, seen, "train")?;
        match decision {
            crate::store::ModelDecision::Activated { previous } => println!(
                "model #{id} stored in {} and in use{}",
                store.path().display(),
                previous
                    .map(|(p, s)| format!(" (instead of #{p}, which scored {s:.3})"))
                    .unwrap_or_default()
            ),
            crate::store::ModelDecision::Refused { needed, active } => println!(
                "model #{id} stored in {} but not in use: it scores {:.3}, below {needed:.3} of {}; `webcare model use {id}` uses it anyway",
                store.path().display(),
                model.info.cv_macro(),
                active
                    .map(|a| format!("model #{a}"))
                    .unwrap_or_else(|| "the lexicons alone".into())
            ),
        }
    }
    Ok(0)
}

fn classify(
    explain: bool,
    lexicons: Option<&Path>,
    model: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<i32> {
    let c = load_with_model(lexicons, model, config)?;
    let stdin = std::io::stdin().lock();
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let skipped = crate::classify::run_classify(&c, stdin, out, explain)?;
    // Every other line was classified; the status still says that some input was not.
    Ok(if skipped > 0 { 1 } else { 0 })
}

fn eval(
    file: &Path,
    lexicons: Option<&Path>,
    model: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<i32> {
    let c = load_with_model(lexicons, model, config)?;
    crate::classify::run_eval(&c, file, std::io::stdout().lock())?;
    Ok(0)
}

fn model_command(config: &Config, action: &crate::cli::ModelAction) -> anyhow::Result<i32> {
    use crate::classify::retrain;
    use crate::cli::ModelAction;
    let out = std::io::stdout().lock();
    match action {
        ModelAction::List => retrain::list_command(config, out),
        ModelAction::Use { id } => retrain::use_command(config, Some(*id), out),
        ModelAction::Off => retrain::use_command(config, None, out),
    }
}

fn label_command(
    config: &Config,
    id: Option<i64>,
    label: Option<&str>,
    by: &str,
    export: bool,
) -> anyhow::Result<i32> {
    let mut store = Store::open_existing(&config.store.path)?;
    let mut out = std::io::stdout().lock();
    if export {
        writeln!(out, "lang\tlabel\ttext")?;
        for (lang, label, text) in store.corrections()? {
            writeln!(
                out,
                "{lang}\t{label}\t{}",
                text.replace(['\t', '\n', '\r'], " ")
            )?;
        }
        return Ok(0);
    }
    let (Some(id), Some(label)) = (id, label) else {
        anyhow::bail!("give a mention id and a label, or --export");
    };
    let label: crate::classify::Label = label.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let previous = store.correct_label(id, label.as_str(), by)?;
    writeln!(
        out,
        "mention #{id}: {} -> {label} (by {by})",
        previous.as_deref().unwrap_or("unclassified")
    )?;
    Ok(0)
}

fn backup(config: &Config, dest: &Path) -> anyhow::Result<i32> {
    if dest.exists() {
        anyhow::bail!("{} already exists; choose a new file name", dest.display());
    }
    let store = Store::open_existing(&config.store.path)?;
    let progress = crate::progress::Progress::bar("backing up", 0, "pages");
    store.backup_with_progress(dest, |done, total| {
        progress.set_total(total);
        progress.set(done);
    })?;
    progress.finish();
    let mentions = Store::open_existing(dest)?.count_mentions(None)?;
    println!(
        "backed up {} to {} ({mentions} mentions, integrity ok)",
        config.store.path.display(),
        dest.display()
    );
    Ok(0)
}

/// Tells systemd (when started with Type=notify) what the daemon is doing; a no-op otherwise.
fn notify_systemd(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("cannot start the async runtime")
}

/// Loads and validates the config, printing every problem and returning exit code 78 on error.
fn load_config(path: Option<&Path>) -> Result<Config, i32> {
    let Some(path) = path else {
        eprintln!(
            "error: no configuration given; pass --config FILE or set WEBCARE_CONFIG (try config/demo.toml)"
        );
        return Err(EXIT_CONFIG);
    };
    Config::load(path).map_err(|errors| {
        eprint!("error: invalid configuration: {errors}");
        EXIT_CONFIG
    })
}

fn check_config(config: &Config) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "configuration {} is valid", config.file.display())?;
    writeln!(out, "database: {}", config.store.path.display())?;
    if config.admin.enabled {
        writeln!(
            out,
            "admin: http://{} (/healthz /readyz /metrics)",
            config.admin.listen
        )?;
    } else {
        writeln!(out, "admin: disabled")?;
    }
    if let Some(web) = &config.web {
        writeln!(
            out,
            "web inbox: {}/ on {} ({} users{})",
            web.base_url,
            web.listen,
            web.users.len(),
            web.trusted_header
                .as_ref()
                .map(|h| format!(", or {h} from {} proxies", web.trusted_proxies.len()))
                .unwrap_or_default()
        )?;
    }
    writeln!(out, "watches ({}):", config.watches.len())?;
    for w in &config.watches {
        let langs = if w.languages.is_empty() {
            "all languages".to_string()
        } else {
            w.languages.join(", ")
        };
        let cap = w
            .daily_cap
            .map(|c| format!(", daily cap {c}"))
            .unwrap_or_default();
        writeln!(out, "  {:<20} {}  [{langs}{cap}]", w.name, w.query)?;
    }
    writeln!(out, "sources ({}):", config.sources.len())?;
    for s in &config.sources {
        let state = if s.enabled { "" } else { " (disabled)" };
        let owned = s
            .watch
            .as_ref()
            .map(|w| format!(", owned channel of {w}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<20} {:<12} every {}{owned}{state}",
            s.name,
            s.kind,
            humantime::format_duration(s.interval)
        )?;
        for line in crate::sources::describe(s, &config.http.user_agent) {
            writeln!(out, "  {:<20} {line}", "")?;
        }
    }
    let teams = &config.notify.teams;
    if teams.is_empty() {
        writeln!(
            out,
            "recipients: none configured (alerts and digests are not sent)"
        )?;
    } else {
        writeln!(out, "teams ({}):", teams.len())?;
        for t in teams {
            writeln!(out, "  {:<20} {}", t.name, t.emails.join(", "))?;
        }
        writeln!(
            out,
            "routes: {} configured, then the default (complaints and questions to {})",
            config.notify.routes.len(),
            teams[0].name
        )?;
    }
    Ok(0)
}

fn pipeline(config: &Config) -> anyhow::Result<Pipeline> {
    let store = Store::open(&config.store.path)?;
    let mut pipeline = Pipeline::new(
        Writer::new(store),
        compile_watches(config)?,
        config.store.raw_max_bytes,
    );
    pipeline.max_text_chars = config.store.max_text_chars;
    Ok(pipeline)
}

/// The watches of `config`, with the classifier its `[classifier]` section describes and the
/// model it names (or else the one in use in the database).
fn compile_watches(config: &Config) -> anyhow::Result<Watches> {
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

async fn daemon(config: Config) -> anyhow::Result<i32> {
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
    let mut web = crate::web::WebServer::start(&config).await?;
    if let Some(web) = &web {
        // Printed, not only logged: the demo's newcomer is told where to sign in.
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
    tracing::info!(
        config = %config.file.display(), database = %config.store.path.display(),
        sources = handles.len(), watches = config.watches.len(), "webcare started"
    );
    // Installed here, before any stage runs: a handler registered inside the spawned task
    // could come after an early SIGTERM or SIGHUP, which would then kill the process outright.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot listen for SIGINT")?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let signals = tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = term.recv() => tracing::info!("SIGTERM received; stopping"),
        }
        trigger.stop();
    });
    let status = format!(
        "polling {} sources for {} watches",
        handles.len(),
        config.watches.len()
    );
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    // With WatchdogSec= set, systemd restarts a daemon whose runtime stops ticking.
    let watchdog = sd_notify::watchdog_enabled().map(|interval| {
        let every = interval / 2;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                notify_systemd(&[sd_notify::NotifyState::Watchdog]);
            }
        })
    });
    let writer = pipeline.writer.clone();
    let mut stages = vec![
        tokio::spawn(privacy::run_retention(
            writer.clone(),
            config.retention,
            shutdown.clone(),
        )),
        tokio::spawn(crate::store::watch_store(
            writer.clone(),
            config.store.path.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(crate::store::publish_health(
            lock.clone(),
            writer.health(),
            shutdown.clone(),
        )),
    ];
    stages.push(tokio::spawn(crate::store::wal::run_checkpoints(
        writer.clone(),
        shutdown.clone(),
    )));
    let mut sender_wake = None;
    let on_stored = match Notifier::new(&config) {
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
            if let Some(ctx) = notify::spike::SpikeContext::from_config(&config, &notifier) {
                stages.push(tokio::spawn(notify::spike::run_spikes(
                    Arc::new(ctx),
                    writer.clone(),
                    wake.clone(),
                    shutdown.clone(),
                )));
            }
            if let Some(job) = notify::sla::SlaJob::from_config(&config) {
                stages.push(tokio::spawn(notify::sla::run_escalations(
                    Arc::new(job),
                    writer.clone(),
                    wake.clone(),
                    shutdown.clone(),
                )));
            }
            stages.push(tokio::spawn(notify::run_router(
                notifier,
                writer.clone(),
                rx,
                wake.clone(),
                shutdown.clone(),
            )));
            stages.push(tokio::spawn(sender.run(wake.clone(), shutdown.clone())));
            sender_wake = Some(wake);
            Some(tx)
        }
        None => None,
    };
    stages.extend(notify::digest::spawn(
        &config,
        &writer,
        sender_wake,
        &shutdown,
    )?);
    // The database's model in use changes when the daemon retrains or staff roll back; a
    // model file named in the config stays in use instead.
    let (model_tx, mut model_changes) = tokio::sync::mpsc::unbounded_channel();
    if config.classifier.model.is_none() {
        let in_use = writer.run(|s| s.active_model_id()).await.ok().flatten();
        stages.push(tokio::spawn(crate::classify::retrain::run_retraining(
            config.classifier.clone(),
            writer.clone(),
            in_use,
            model_tx,
            shutdown.clone(),
        )));
    } else {
        drop(model_tx);
    }
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
            _ = hangup.recv() => reload(&mut running, &mut sources, admin.as_ref(), &mut web).await,
            Some(change) = model_changes.recv(), if running.classifier.model.is_none() => {
                let id = change.as_ref().map(|(id, _)| *id);
                match compile_watches_with(&running, change.map(|(_, m)| m)) {
                    Ok(w) => {
                        sources.pipeline().set_watches(w);
                        match id {
                            Some(id) => tracing::info!(model = id, "new mentions are classified with this model"),
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
    for stage in stages {
        let _ = stage.await;
    }
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
    signals.abort();
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

async fn once(config: Config) -> anyhow::Result<i32> {
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
                if r.capped > 0 {
                    format!("  over daily cap {}", r.capped)
                } else {
                    String::new()
                }
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
            "alerts: queued {queued}, sent {}, waiting to retry {}, failed for good {}, held by hourly cap {}",
            r.sent, r.retrying, r.dead, r.held
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

fn route(config: &Config, args: &RouteArgs) -> anyhow::Result<i32> {
    let Some(notifier) = Notifier::new(config) else {
        eprintln!(
            "error: no [[teams]] configured in {}, so nothing is routed; add a team and [mail]",
            config.file.display()
        );
        return Ok(EXIT_CONFIG);
    };
    let m = match (args.id, &args.text) {
        (Some(id), _) => {
            let store = Store::open_existing(&config.store.path)?;
            match store.routing_mention(id)? {
                Some(m) => m,
                None => anyhow::bail!("no mention with id {id}; `webcare mentions` shows ids"),
            }
        }
        (None, Some(text)) => {
            let watches = compile_watches(config)?;
            let mention = crate::sources::Mention {
                text: text.clone(),
                lang: args.lang.clone(),
                author_reach: args.reach,
                ..Default::default()
            };
            let source = args.source.clone().unwrap_or_else(|| "(text)".into());
            let owned = config
                .sources
                .iter()
                .find(|s| s.name == source)
                .and_then(|s| s.watch.clone());
            let matched = watches.matching(&mention, owned.as_deref());
            let v = watches.classify(&mention, &matched);
            RoutingMention {
                source,
                lang: args.lang.clone(),
                author_reach: args.reach,
                text: text.clone(),
                watches: matched,
                label: Some(v.label.as_str().to_string()),
                sentiment: Some(f64::from(v.sentiment)),
                urgency: Some(
                    if v.urgency == crate::classify::Urgency::Urgent {
                        "urgent"
                    } else {
                        "normal"
                    }
                    .to_string(),
                ),
                spam: Some(v.spam),
                reasons: Some(
                    serde_json::json!({ "urgency_reasons": v.urgency_reasons, "reasons": v.reasons })
                        .to_string(),
                ),
                fetched_at: Utc::now().timestamp(),
                ..Default::default()
            }
        }
        (None, None) => anyhow::bail!("give a mention id or --text"),
    };
    let optouts: notify::OptOuts = match Store::open_existing(&config.store.path) {
        Ok(s) => s
            .optouts()?
            .into_iter()
            .map(|o| (o.platform, o.handle))
            .collect(),
        Err(_) => Default::default(),
    };
    let (subject, reasons) = notifier.subject(&m);
    let (decision, record) = notifier.plan(&m, &optouts, Utc::now());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}{} · sentiment {:+.2} · {}{}{} · source {} · watches {}",
        if m.id > 0 {
            format!("mention #{} · ", m.id)
        } else {
            String::new()
        },
        subject.label,
        subject.sentiment,
        if subject.urgent { "urgent" } else { "normal" },
        if subject.spam { " · spam" } else { "" },
        if subject.backfill { " · backfill" } else { "" },
        subject.source,
        if subject.watches.is_empty() {
            "none".to_string()
        } else {
            subject.watches.join(", ")
        },
    )?;
    for r in &reasons {
        writeln!(out, "  {r}")?;
    }
    write!(out, "{}", decision.explain())?;
    for a in &record.alerts {
        writeln!(out, "   to {} ({}): {}", a.recipient, a.team, a.subject)?;
    }
    if let Some(lead) = m.duplicate_of {
        writeln!(
            out,
            "(a repeat of mention #{lead}: counted and linked in its alert, no alert of its own)"
        )?;
    }
    if let Some(t) = m.routed_at {
        writeln!(
            out,
            "(this mention was routed {}; nothing is sent again)",
            ago(Some(t), Utc::now().timestamp())
        )?;
    }
    Ok(0)
}

fn outbox(config: &Config, args: &OutboxArgs) -> anyhow::Result<i32> {
    let mut store = Store::open_existing(&config.store.path)?;
    if let Some(crate::cli::OutboxAction::Retry { id, .. }) = &args.action {
        let n = store.retry_outbox(*id, Utc::now().timestamp())?;
        return match (id, n) {
            (Some(id), 0) => {
                eprintln!(
                    "error: no dead or pending alert #{id} in the outbox; `webcare outbox --state dead` lists them"
                );
                Ok(1)
            }
            _ => {
                println!(
                    "{n} alert{} back in the queue, due now; the daemon sends {} within a minute, or run `webcare once`",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                );
                Ok(0)
            }
        };
    }
    // One more than asked, to know whether the list stopped at the limit.
    let mut entries = store.outbox_entries(args.state.as_deref(), args.limit.saturating_add(1))?;
    let truncated = entries.len() > args.limit;
    entries.truncate(args.limit);
    let mut out = std::io::stdout().lock();
    if args.json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        if truncated {
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "truncated": true,
                    "limit": args.limit,
                    "note": "more rows exist; raise --limit or filter with --state",
                })
            )?;
        }
        return Ok(0);
    }
    let now = Utc::now().timestamp();
    let (pending, sent, dead) = store.outbox_counts()?;
    let held = store.held_count()?;
    writeln!(
        out,
        "{pending} pending, {sent} sent, {dead} dead{}",
        if held > 0 {
            format!(", {held} held by hourly cap")
        } else {
            String::new()
        }
    )?;
    for e in &entries {
        let when = match e.state.as_str() {
            "sent" => format!("sent {}", ago(e.sent_at, now)),
            "pending" if e.attempts > 0 => format!(
                "attempt {} {}",
                e.attempts + 1,
                ago(Some(e.next_attempt_at.max(e.not_before)), now)
            ),
            "pending" => format!("due {}", ago(Some(e.not_before), now)),
            "held" => "not sent (hourly cap)".to_string(),
            _ => format!("after {} attempts", e.attempts),
        };
        writeln!(
            out,
            "#{:<5} {:<7} {:<24} {:<28} mention #{} · {}",
            e.id,
            e.state,
            when,
            e.recipient,
            e.mention_id.map(|i| i.to_string()).unwrap_or("-".into()),
            shorten(&e.subject, 80)
        )?;
        if let Some(err) = &e.last_error
            && e.state != "sent"
        {
            writeln!(out, "        {}", shorten(err, 160))?;
        }
    }
    Ok(0)
}

fn optout(config: &Config, action: &OptoutAction) -> anyhow::Result<i32> {
    let store = Store::open(&config.store.path)?;
    let split = |author: &str| -> anyhow::Result<(String, String)> {
        match author.split_once(':') {
            Some((p, h))
                if !p.trim().is_empty() && !h.trim().trim_start_matches('@').is_empty() =>
            {
                Ok(crate::store::optout_key(p, h))
            }
            _ => anyhow::bail!(
                "{author:?}: write PLATFORM:HANDLE, e.g. x:@klant123 or mastodon:klant@social.example (the platform is the source kind)"
            ),
        }
    };
    let mut out = std::io::stdout().lock();
    match action {
        OptoutAction::Add { author, by } => {
            let (p, h) = split(author)?;
            if store.add_optout(&p, &h, by, Utc::now().timestamp())? {
                writeln!(out, "{p}:{h} added: their alerts now say DO NOT CONTACT")?;
            } else {
                writeln!(out, "{p}:{h} was already on the list")?;
            }
        }
        OptoutAction::Remove { author } => {
            let (p, h) = split(author)?;
            if store.remove_optout(&p, &h)? {
                writeln!(out, "{p}:{h} removed")?;
            } else {
                writeln!(out, "{p}:{h} was not on the list")?;
                return Ok(1);
            }
        }
        OptoutAction::List => {
            let list = store.optouts()?;
            let now = Utc::now().timestamp();
            for o in &list {
                writeln!(
                    out,
                    "{}:{}  added {}{}",
                    o.platform,
                    o.handle,
                    ago(Some(o.added_at), now),
                    o.added_by
                        .as_deref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default()
                )?;
            }
            writeln!(
                out,
                "{} author{} on the opt-out list",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(0)
}

/// Parses `--since`: a duration back from now (`7d`, `12h`) or a date / RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> anyhow::Result<i64> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.timestamp() - d.as_secs() as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default());
    }
    anyhow::bail!("--since {s:?}: use a duration such as 7d or 12h, or a date such as 2026-11-20")
}

fn mentions(config: &Config, args: &MentionsArgs) -> anyhow::Result<i32> {
    let store = Store::open_existing(&config.store.path)?;
    let filter = MentionFilter {
        watch: args.watch.clone(),
        source: args.source.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_since(s, Utc::now()))
            .transpose()?,
        label: args.label.clone(),
        query: args.query.clone(),
        limit: args.limit,
    };
    let found = store.mentions(&filter)?;
    let mut out = std::io::stdout().lock();
    for m in &found {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(m)?)?;
            continue;
        }
        let author = match (&m.author_handle, m.author_reach) {
            (Some(h), Some(r)) => format!("{h} ({r})"),
            (Some(h), None) => h.clone(),
            _ => "unknown author".into(),
        };
        let mut label = m.label.clone().unwrap_or_else(|| "unclassified".into());
        if m.label_source.as_deref() == Some("staff") {
            label.push_str(" (corrected)");
        }
        if m.urgency.as_deref() == Some("urgent") {
            label.push_str(" URGENT");
        }
        if m.spam == Some(true) {
            label.push_str(" spam");
        }
        writeln!(
            out,
            "#{} {} {} {} [{}] {}{}",
            m.id,
            &m.created_at[..16.min(m.created_at.len())].replace('T', " "),
            m.source,
            author,
            m.watches.join(", "),
            label,
            m.lang
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default()
        )?;
        let text = m
            .title
            .as_ref()
            .map(|t| format!("{t}: {}", m.text))
            .unwrap_or_else(|| m.text.clone());
        let text = crate::notify::mail::strip_bidi(&text);
        writeln!(out, "    {}", shorten(&text.replace('\n', " "), 200))?;
        if let Some(u) = &m.url {
            writeln!(out, "    {u}")?;
        }
        if let Some(why) = m.verdict.as_ref().and_then(explain_verdict) {
            writeln!(out, "    why: {}", shorten(&why, 300))?;
        }
    }
    if !args.json {
        writeln!(
            out,
            "{} mention{}",
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        )?;
    }
    Ok(0)
}

/// The classifier's reasons as one line: `complaint "al drie dagen" (duration), ...`.
fn explain_verdict(v: &serde_json::Value) -> Option<String> {
    let mut parts: Vec<String> = v["urgency_reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(|r| format!("urgent: {r}")))
        .collect();
    parts.dedup();
    for r in v["reasons"].as_array().into_iter().flatten() {
        let (kind, cue, text) = (r["kind"].as_str()?, r["cue"].as_str()?, r["text"].as_str()?);
        let part = if text.is_empty() {
            format!("{kind} ({cue})")
        } else {
            format!("{kind} \"{text}\" ({cue})")
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn ago(ts: Option<i64>, now: i64) -> String {
    match ts {
        None => "never".into(),
        Some(t) if t <= now => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs((now - t) as u64))
        ),
        Some(t) => format!(
            "in {}",
            humantime::format_duration(std::time::Duration::from_secs((t - now) as u64))
        ),
    }
}

fn sources(config: &Config, json: bool) -> anyhow::Result<i32> {
    let db: PathBuf = config.store.path.clone();
    let states = if db.exists() {
        Store::open_existing(&db)?.source_states()?
    } else {
        Vec::new()
    };
    // A running daemon publishes what the database could not record (full disk, read-only).
    let live = crate::store::read_published_health(&db).unwrap_or_default();
    let now = Utc::now().timestamp();
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "{:<20} {:<12} {:<9} {:<16} {:<16} {:>7} {:>7}  LAST ERROR",
            "SOURCE", "KIND", "STATE", "LAST SUCCESS", "NEXT POLL", "TODAY", "TOTAL"
        )?;
    }
    for s in &config.sources {
        let st = states
            .iter()
            .find(|x| x.source == s.name)
            .cloned()
            .unwrap_or_default();
        let mut st = st;
        let unrecorded = live.failing.get(&s.name);
        if let Some(e) = unrecorded {
            st.last_error = Some(format!("not recorded in the database: {e}"));
            st.last_error_at = Some(now);
            st.consecutive_failures = st.consecutive_failures.max(1);
        }
        let state = if !s.enabled {
            "disabled"
        } else if unrecorded.is_some() {
            "failing"
        } else if st.last_poll_at.is_none() {
            "new"
        } else if st.consecutive_failures > 0 {
            "failing"
        } else {
            "ok"
        };
        if json {
            let mut v = serde_json::to_value(&st)?;
            v["source"] = s.name.clone().into();
            v["kind"] = s.kind.clone().into();
            v["state"] = state.into();
            v["interval_s"] = s.interval.as_secs().into();
            if let Some(u) = crate::sources::usage_note(s, st.cursor.as_deref()) {
                v["usage"] = u.into();
            }
            writeln!(out, "{v}")?;
            continue;
        }
        let err = st
            .last_error
            .as_ref()
            .map(|e| {
                format!(
                    "{} ({} failures, {})",
                    shorten(e, 80),
                    st.consecutive_failures,
                    ago(st.last_error_at, now)
                )
            })
            .unwrap_or_default();
        let cap = st
            .cap_note
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let cap = match crate::sources::usage_note(s, st.cursor.as_deref()) {
            Some(u) => format!("{cap} [{u}]"),
            None => cap,
        };
        writeln!(
            out,
            "{:<20} {:<12} {:<9} {:<16} {:<16} {:>7} {:>7}  {err}{cap}",
            s.name,
            s.kind,
            state,
            ago(st.last_success_at, now),
            if s.enabled {
                ago(st.next_poll_at, now)
            } else {
                "-".into()
            },
            st.stored_today,
            st.items_stored
        )?;
    }
    if let Some(f) = &live.write_failure
        && !json
    {
        writeln!(out, "database: {f}")?;
    }
    Ok(0)
}
