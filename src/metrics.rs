//! The daemon's metrics: the few in-process counters ([`Metrics`]) that the pipeline stages add
//! to and the database cannot answer, and [`render_metrics`], which reads everything else from
//! the database and writes Prometheus text format 0.0.4 for the admin server's `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{Backend, SourceFault, StoreError, StoreHealth};

/// Upper bounds of the poll latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Counters the database does not keep, shared by the pipeline stages that add to them and
/// the `/metrics` endpoint that reads them. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    classify_nanos: AtomicU64,
    classified: AtomicU64,
    /// The writer's view of the database: write failures and what it could not record.
    store: Arc<StoreHealth>,
}

impl Metrics {
    /// Counters that read the database health the writer keeps.
    pub fn with_store(store: Arc<StoreHealth>) -> Metrics {
        Metrics {
            store,
            ..Metrics::default()
        }
    }

    /// The database health the writer keeps.
    pub fn store(&self) -> &Arc<StoreHealth> {
        &self.store
    }

    /// Adds one classification that took `took`.
    pub fn record_classification(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.classify_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.classified.fetch_add(1, Ordering::Relaxed);
    }

    /// Mentions classified since start, and the time spent on them.
    pub fn classifications(&self) -> (u64, Duration) {
        (
            self.classified.load(Ordering::Relaxed),
            Duration::from_nanos(self.classify_nanos.load(Ordering::Relaxed)),
        )
    }
}

/// Renders every metric in Prometheus text format 0.0.4.
pub fn render_metrics(
    store: &dyn Backend,
    metrics: &Metrics,
    sources: &[String],
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let mut out = Exposition::default();
    let faults = metrics.store().sources();
    write_polls(&mut out, store, &faults)?;
    write_source_states(&mut out, store, sources, &faults)?;
    write_mentions(&mut out, store)?;
    write_alerts(&mut out, store)?;
    write_process(&mut out, store, metrics, now)?;
    write_restarts(&mut out, metrics.store(), sources, &faults);
    Ok(out.text)
}

/// Poll attempts, failures and durations per source, from the poll log plus the failures it could not take.
fn write_polls(
    out: &mut Exposition,
    store: &dyn Backend,
    faults: &HashMap<String, SourceFault>,
) -> Result<(), StoreError> {
    let bounds_ms: Vec<i64> = LATENCY_BUCKETS
        .iter()
        .map(|s| (s * 1000.0) as i64)
        .collect();
    let polls = store.poll_stats(&bounds_ms)?;
    out.family(
        "webcare_polls_total",
        "counter",
        "Poll attempts per source, from the poll log.",
    );
    for p in &polls {
        out.sample(
            "webcare_polls_total",
            &[("source", &p.source)],
            p.polls as f64,
        );
    }
    out.family(
        "webcare_poll_errors_total",
        "counter",
        "Failed poll attempts per source, from the poll log.",
    );
    // Failed polls the poll log could not take (the database refused the write) are counted
    // in memory and added here.
    let unrecorded = |source: &str| faults.get(source).map_or(0, |f| f.unrecorded);
    for p in &polls {
        out.sample(
            "webcare_poll_errors_total",
            &[("source", &p.source)],
            (p.errors as u64 + unrecorded(&p.source)) as f64,
        );
    }
    let mut unlogged: Vec<(&String, u64)> = faults
        .iter()
        .filter(|(name, f)| f.unrecorded > 0 && !polls.iter().any(|p| &p.source == *name))
        .map(|(name, f)| (name, f.unrecorded))
        .collect();
    unlogged.sort();
    for (name, n) in unlogged {
        out.sample("webcare_poll_errors_total", &[("source", name)], n as f64);
    }
    out.family(
        "webcare_poll_duration_seconds",
        "histogram",
        "How long poll attempts took per source, fetch and commit included.",
    );
    for p in &polls {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&p.at_most) {
            let le = bound.to_string();
            out.sample(
                "webcare_poll_duration_seconds_bucket",
                &[("source", &p.source), ("le", &le)],
                *count as f64,
            );
        }
        out.sample(
            "webcare_poll_duration_seconds_bucket",
            &[("source", &p.source), ("le", "+Inf")],
            p.polls as f64,
        );
        out.sample(
            "webcare_poll_duration_seconds_sum",
            &[("source", &p.source)],
            p.duration_ms_sum as f64 / 1000.0,
        );
        out.sample(
            "webcare_poll_duration_seconds_count",
            &[("source", &p.source)],
            p.polls as f64,
        );
    }
    Ok(())
}

/// Whether each configured source is up, its failures in a row and its last success.
fn write_source_states(
    out: &mut Exposition,
    store: &dyn Backend,
    sources: &[String],
    faults: &HashMap<String, SourceFault>,
) -> Result<(), StoreError> {
    let states = store.source_states()?;
    out.family(
        "webcare_source_up",
        "gauge",
        "1 when the source's last poll succeeded, 0 while it fails or before its first success.",
    );
    for name in sources {
        let up = states
            .iter()
            .find(|s| &s.source == name)
            .is_some_and(|s| s.consecutive_failures == 0 && s.last_success_at.is_some())
            && faults.get(name).is_none_or(|f| f.failing.is_none());
        out.sample(
            "webcare_source_up",
            &[("source", name)],
            if up { 1.0 } else { 0.0 },
        );
    }
    out.family(
        "webcare_source_consecutive_failures",
        "gauge",
        "Failed polls since the source's last success.",
    );
    for s in states.iter().filter(|s| sources.contains(&s.source)) {
        out.sample(
            "webcare_source_consecutive_failures",
            &[("source", &s.source)],
            s.consecutive_failures as f64,
        );
    }
    out.family(
        "webcare_source_last_success_timestamp_seconds",
        "gauge",
        "When the source last polled successfully (unix time).",
    );
    for s in states.iter().filter(|s| sources.contains(&s.source)) {
        if let Some(t) = s.last_success_at {
            out.sample(
                "webcare_source_last_success_timestamp_seconds",
                &[("source", &s.source)],
                t as f64,
            );
        }
    }
    Ok(())
}

/// Stored mentions per source, label and language.
fn write_mentions(out: &mut Exposition, store: &dyn Backend) -> Result<(), StoreError> {
    out.family(
        "webcare_mentions_stored",
        "gauge",
        "Mentions in the database per source, label and language.",
    );
    for m in store.mention_counts()? {
        out.sample(
            "webcare_mentions_stored",
            &[
                ("source", &m.source),
                ("label", m.label.as_deref().unwrap_or("unclassified")),
                ("lang", m.lang.as_deref().unwrap_or("unknown")),
            ],
            m.count as f64,
        );
    }
    Ok(())
}

/// The outbox totals and the digests compiled.
fn write_alerts(out: &mut Exposition, store: &dyn Backend) -> Result<(), StoreError> {
    let alerts = store.alert_stats()?;
    for (name, kind, help, value) in [
        (
            "webcare_alerts_queued_total",
            "counter",
            "Alerts written to the outbox.",
            alerts.queued,
        ),
        (
            "webcare_alerts_sent_total",
            "counter",
            "Alerts the mail server accepted.",
            alerts.sent,
        ),
        (
            "webcare_alerts_failed_total",
            "counter",
            "Delivery attempts that failed; each alert is retried or given up.",
            alerts.failed_attempts,
        ),
        (
            "webcare_alerts_dead_total",
            "counter",
            "Alerts given up on (dead letters).",
            alerts.dead,
        ),
        (
            "webcare_alerts_pending",
            "gauge",
            "Alerts waiting in the outbox, held ones included.",
            alerts.pending,
        ),
    ] {
        out.family(name, kind, help);
        out.sample(name, &[], value as f64);
    }

    if let Some(runs) = store.digest_runs()? {
        out.family("webcare_digest_runs_total", "counter", "Digests compiled.");
        out.sample("webcare_digest_runs_total", &[], runs as f64);
    }
    Ok(())
}

/// What this process measured itself: classification counts and time, the database's size, the scrape time.
fn write_process(
    out: &mut Exposition,
    store: &dyn Backend,
    metrics: &Metrics,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (classified, took) = metrics.classifications();
    out.family(
        "webcare_classified_total",
        "counter",
        "Mentions classified since the daemon started.",
    );
    out.sample("webcare_classified_total", &[], classified as f64);
    out.family(
        "webcare_classifier_seconds_total",
        "counter",
        "Time spent classifying mentions since the daemon started.",
    );
    out.sample("webcare_classifier_seconds_total", &[], took.as_secs_f64());

    out.family(
        "webcare_database_size_bytes",
        "gauge",
        "Size of the database file plus its write-ahead log.",
    );
    out.sample(
        "webcare_database_size_bytes",
        &[],
        store.database_size()? as f64,
    );
    out.family(
        "webcare_scrape_timestamp_seconds",
        "gauge",
        "When these numbers were read (unix time).",
    );
    out.sample(
        "webcare_scrape_timestamp_seconds",
        &[],
        now.timestamp() as f64,
    );
    Ok(())
}

/// Restarts of supervised tasks since the daemon started: each daemon stage by name, and each
/// configured source's polling task.
fn write_restarts(
    out: &mut Exposition,
    health: &StoreHealth,
    sources: &[String],
    faults: &HashMap<String, SourceFault>,
) {
    out.family(
        "webcare_task_restarts_total",
        "counter",
        "Times a daemon stage or a source's polling task ended unasked (a panic) and was restarted.",
    );
    let mut stages: Vec<(String, u64)> = health
        .stages()
        .into_iter()
        .map(|(name, f)| (name, f.restarts))
        .collect();
    stages.sort();
    for (name, restarts) in stages {
        out.sample(
            "webcare_task_restarts_total",
            &[("task", &name)],
            restarts as f64,
        );
    }
    for name in sources {
        let restarts = faults.get(name).map_or(0, |f| f.restarts);
        out.sample(
            "webcare_task_restarts_total",
            &[("task", "source"), ("source", name)],
            restarts as f64,
        );
    }
}

/// Builds Prometheus text format: every family's HELP and TYPE before its samples.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }
}

/// Label values escape backslash, double quote and line feed (and nothing else).
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust prints integral floats without a fraction ("3") and others in the shortest
        // form that round-trips, both of which Prometheus parses.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_quotes_backslashes_and_newlines() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut e = Exposition::default();
        e.family("x_total", "counter", "Back\\slash\nnewline.");
        e.sample("x_total", &[("source", "say \"hi\"")], 2.0);
        assert_eq!(
            e.text,
            "# HELP x_total Back\\\\slash\\nnewline.\n# TYPE x_total counter\nx_total{source=\"say \\\"hi\\\"\"} 2\n"
        );
    }

    #[test]
    fn restarts_are_counted_per_stage_and_per_source() {
        let health = StoreHealth::default();
        health.stage_started("router");
        health.stage_started("digest");
        health.stage_task_ended("router", "its task panicked: boom");
        health.stage_task_ended("router", "its task panicked: boom");
        health.source_task_ended("forum", "its task panicked: boom");
        let mut e = Exposition::default();
        let sources = ["forum".to_string(), "rss".to_string()];
        write_restarts(&mut e, &health, &sources, &health.sources());
        for line in [
            "webcare_task_restarts_total{task=\"digest\"} 0",
            "webcare_task_restarts_total{task=\"router\"} 2",
            "webcare_task_restarts_total{task=\"source\",source=\"forum\"} 1",
            "webcare_task_restarts_total{task=\"source\",source=\"rss\"} 0",
        ] {
            assert!(e.text.lines().any(|l| l == line), "{line} in\n{}", e.text);
        }
    }

    #[test]
    fn values_are_written_as_prometheus_numbers() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
