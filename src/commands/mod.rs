//! What each subcommand does, one file per group of subcommands, so no domain module needs
//! to know the command line. Errors are reported here, at the edge, with exit codes from
//! sysexits: 78 for bad config, 75 for a temporary failure, 1 otherwise.

mod alerts;
mod check;
mod classifier;
mod daemon;
mod data;
mod digest;
mod mentions;
mod privacy;
mod sources;

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command, LogFormat};
use crate::config::{EXIT_CONFIG, load::Config};

pub use mentions::parse_since;

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
    if let Command::User { action } = &cli.command {
        // Prints a password hash: needs no config, and must work where it cannot be read.
        return finish(crate::web::user_command(action));
    }
    // The classifier commands work without a config file; one that is given is checked all
    // the same, and a bad one stops them as it stops the others.
    let given = match &cli.config {
        Some(path) => match load_config(Some(path)) {
            Ok(c) => Some(c),
            Err(code) => return code,
        },
        None => None,
    };
    let standalone = match &cli.command {
        Command::Classify {
            explain,
            with,
            watch,
        } => Some(classifier::classify(
            *explain,
            with,
            cli.config.as_deref().zip(given.as_ref()),
            watch.as_deref(),
        )),
        Command::Eval { file, with } => Some(classifier::eval(file, with, given.as_ref())),
        Command::Train {
            from,
            out,
            lexicons,
            no_bundled,
        } => Some(classifier::train(
            given.as_ref(),
            from,
            out.as_deref(),
            lexicons.as_deref(),
            *no_bundled,
        )),
        _ => None,
    };
    if let Some(result) = standalone {
        return finish(result);
    }
    let config = match given {
        Some(c) => c,
        None => match load_config(None) {
            Ok(c) => c,
            Err(code) => return code,
        },
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
        } => classifier::label(&config, id, label.as_deref(), &by, export),
        Command::CheckConfig => check::check_config(&config),
        Command::Run => runtime().and_then(|rt| rt.block_on(daemon::daemon(config))),
        Command::Once => runtime().and_then(|rt| rt.block_on(daemon::once(config))),
        Command::Mentions(args) => mentions::mentions(&config, &args),
        Command::Sources { json } => sources::sources(&config, json),
        Command::Backup { file } => data::backup(&config, &file),
        Command::Route(args) => alerts::route(&config, &args),
        Command::Outbox(args) => alerts::outbox(&config, &args),
        Command::Prune { dry_run } => privacy::prune(&config, dry_run),
        Command::Forget {
            author,
            dry_run,
            all,
        } => privacy::forget(&config, &author, dry_run, all),
        Command::Export { author } => privacy::export(&config, &author),
        Command::Digest(args) => {
            runtime().and_then(|rt| rt.block_on(digest::digest(&config, &args)))
        }
        Command::Answered { id, undo, by } => mentions::answered(&config, id, undo, &by),
        Command::Backtest { since } => alerts::backtest(&config, &since),
        Command::Optout { action } => alerts::optout(&config, &action),
        Command::Model { action } => classifier::model(&config, &action),
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

/// `s` cut to `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// How long ago (or how far ahead) `ts` is from `now`, in words; "never" for none.
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
