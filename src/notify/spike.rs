//! Spike and drop alerts. Every few minutes, per watch (and per source for drops), the mentions
//! stored in the last window are compared with the same window on each of the previous days:
//! a count above mean + k·stddev (and at least a minimum) is a spike, a jump in the share of
//! complaints is a complaint storm, and nothing at all where there usually is plenty is a drop
//! (a broken source or an expired token, most of the time). Each episode alerts every team
//! once, urgently, through the outbox; while it lasts (and for a cooldown after) it stays quiet.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::Notify;

use super::digest::rising_themes;
use super::route::Team;
pub use super::spike_settings::SpikeConfig;
use crate::classify::Label;
use crate::shutdown::Shutdown;
use crate::store::{
    Backend, MentionOrder, MentionQuery, NewAlert, Readers, SpikeEpisode, SpikeOutcome, StoreError,
    StoredMention, WindowCount, Writer,
};
use crate::text::{fnv1a, one_line};

/// The same window on the days before: mean and standard deviation of the counts, over the
/// days that have history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Days with history.
    pub days: u32,
    /// Mean count.
    pub mean: f64,
    /// Standard deviation of the counts.
    pub stddev: f64,
    /// Mean complaint count.
    pub complaints_mean: f64,
    /// Complaints' share of all mentions over those days (0 without mentions).
    pub complaint_share: f64,
}

impl Baseline {
    /// From one count per earlier day.
    pub fn of(counts: &[WindowCount]) -> Baseline {
        let n = counts.len().max(1) as f64;
        let mean = counts.iter().map(|c| c.total as f64).sum::<f64>() / n;
        let var = counts
            .iter()
            .map(|c| (c.total as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let total: i64 = counts.iter().map(|c| c.total).sum();
        let complaints: i64 = counts.iter().map(|c| c.complaints).sum();
        Baseline {
            days: counts.len() as u32,
            mean,
            stddev: var.sqrt(),
            complaints_mean: complaints as f64 / n,
            complaint_share: if total > 0 {
                complaints as f64 / total as f64
            } else {
                0.0
            },
        }
    }
}

/// What one window shows against its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// More mentions than usual.
    Volume,
    /// A larger share of complaints than usual.
    Complaints,
    /// None where there are usually many.
    Drop,
}

impl Finding {
    fn kind(self) -> &'static str {
        match self {
            Finding::Volume => "volume",
            Finding::Complaints => "complaints",
            Finding::Drop => "drop",
        }
    }
}

/// Judges a window's count against its baseline. Returns every finding that holds, the
/// complaint storm first.
pub fn judge(now: WindowCount, b: &Baseline, cfg: &SpikeConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let share = if now.total > 0 {
        now.complaints as f64 / now.total as f64
    } else {
        0.0
    };
    if now.complaints >= cfg.min_count && share - b.complaint_share >= cfg.complaint_share_rise {
        out.push(Finding::Complaints);
    }
    if now.total >= cfg.min_count && now.total as f64 > b.mean + cfg.sensitivity * b.stddev {
        out.push(Finding::Volume);
    }
    if now.total == 0 && b.mean >= cfg.busy_min {
        out.push(Finding::Drop);
    }
    out
}

/// What the checker needs besides the store.
#[derive(Debug, Clone)]
pub struct SpikeContext {
    /// The settings.
    pub cfg: SpikeConfig,
    /// Watch names.
    pub watches: Vec<String>,
    /// Enabled source names (drops only).
    pub sources: Vec<String>,
    /// `(team, address)` for every address of every team, each address once.
    pub recipients: Vec<(String, String)>,
    /// Time zone for times in the alert.
    pub tz: Tz,
    /// Domain of the Message-IDs.
    pub domain: String,
}

impl SpikeContext {
    /// The spike checker of `config`, alerting every team of `notifier`; `None` when turned off.
    pub fn from_config(
        config: &crate::config::load::Config,
        notifier: &super::Notifier,
    ) -> Option<SpikeContext> {
        let cfg = config.notify.spikes.clone();
        if !cfg.enabled {
            return None;
        }
        Some(SpikeContext::new(
            cfg,
            config.watches.iter().map(|w| w.name.clone()).collect(),
            config
                .sources
                .iter()
                .filter(|s| s.enabled)
                .map(|s| s.name.clone())
                .collect(),
            notifier.router().teams(),
            notifier.mail().from.email.domain().to_string(),
        ))
    }

    /// A context alerting every address of `teams`.
    pub fn new(
        cfg: SpikeConfig,
        watches: Vec<String>,
        sources: Vec<String>,
        teams: &[Team],
        domain: String,
    ) -> SpikeContext {
        let mut recipients: Vec<(String, String)> = Vec::new();
        for t in teams {
            for e in &t.emails {
                if !recipients.iter().any(|(_, x)| x.eq_ignore_ascii_case(e)) {
                    recipients.push((t.name.clone(), e.clone()));
                }
            }
        }
        SpikeContext {
            cfg,
            watches,
            sources,
            recipients,
            tz: teams.first().map(|t| t.tz).unwrap_or(Tz::UTC),
            domain,
        }
    }
}

struct Found<'a> {
    finding: Finding,
    scope: &'a str,
    name: &'a str,
    now: WindowCount,
    base: Baseline,
    mentions: Vec<StoredMention>,
    terms: Vec<String>,
}

impl Found<'_> {
    fn window_text(&self, cfg: &SpikeConfig) -> String {
        humantime::format_duration(cfg.window.0).to_string()
    }

    fn summary(&self, cfg: &SpikeConfig) -> String {
        let w = self.window_text(cfg);
        let what = if self.scope == "watch" {
            format!("about {}", self.name)
        } else {
            format!("from source {}", self.name)
        };
        match self.finding {
            Finding::Volume => format!(
                "{} mentions {what} in {w}, usually {:.1} (threshold {:.1})",
                self.now.total,
                self.base.mean,
                self.threshold(cfg)
            ),
            Finding::Complaints => format!(
                "complaint storm: {} of {} mentions {what} in {w} are complaints ({:.0} %), usually {:.0} %",
                self.now.complaints,
                self.now.total,
                100.0 * self.now.complaints as f64 / self.now.total.max(1) as f64,
                100.0 * self.base.complaint_share
            ),
            Finding::Drop => format!(
                "no mentions {what} in {w}, usually {:.1}: is a source broken or a token expired?",
                self.base.mean
            ),
        }
    }

    fn threshold(&self, cfg: &SpikeConfig) -> f64 {
        match self.finding {
            Finding::Volume => (self.base.mean + cfg.sensitivity * self.base.stddev)
                .max(cfg.min_count as f64 - 1.0),
            Finding::Complaints => self.base.complaint_share + cfg.complaint_share_rise,
            Finding::Drop => cfg.busy_min,
        }
    }

    fn render(&self, ctx: &SpikeContext, now: DateTime<Utc>) -> (String, String, String) {
        let cfg = &ctx.cfg;
        let summary = self.summary(cfg);
        let subject = super::mail::header_safe(&format!("[webcare] URGENT {summary}"), 160);
        let at = now.with_timezone(&ctx.tz).format("%a %-d %b %H:%M %Z");
        let baseline = format!(
            "the same {} window of the day on the previous {} days: mean {:.1}, standard deviation {:.1}, complaints {:.0} %; alert above {:.1} (at least {})",
            self.window_text(cfg),
            self.base.days,
            self.base.mean,
            self.base.stddev,
            100.0 * self.base.complaint_share,
            (self.base.mean + cfg.sensitivity * self.base.stddev).max(cfg.min_count as f64 - 1.0),
            cfg.min_count
        );
        let mut cards = Vec::new();
        for m in self.mentions.iter().take(3) {
            let who = m
                .mention
                .author_handle
                .as_deref()
                .or(m.mention.author_name.as_deref())
                .unwrap_or("unknown author");
            cards.push(SpikeMentionCard {
                who: one_line(who, 60),
                reach: m
                    .mention
                    .author_reach
                    .map(|r| format!("{r} followers"))
                    .unwrap_or_else(|| "reach unknown".into()),
                source: m.source.clone(),
                text: one_line(&m.mention.text, 280),
                url: super::mail::safe_link(m.mention.url.as_deref()).map(str::to_owned),
                link_text: m.mention.url.as_deref().map(|u| one_line(u, 300)),
            });
        }
        let cooldown = humantime::format_duration(cfg.cooldown.0).to_string();
        let page = SpikePage {
            summary: &summary,
            at: &at.to_string(),
            baseline: &baseline,
            terms: &self.terms.join(", "),
            drop: self.finding == Finding::Drop,
            mentions: cards,
            cooldown: &cooldown,
        };
        // Rendering fails only on a formatter error, which String writing never returns.
        let text = SpikeText { page: &page }.render().unwrap_or_default();
        (subject, text, page.render().unwrap_or_default())
    }
}

/// A spike alert's HTML part; askama escapes every field.
#[derive(askama::Template)]
#[template(path = "mail/spike.html")]
struct SpikePage<'a> {
    summary: &'a str,
    at: &'a str,
    baseline: &'a str,
    terms: &'a str,
    drop: bool,
    mentions: Vec<SpikeMentionCard>,
    cooldown: &'a str,
}

text_part!(SpikeText over SpikePage<'a>, "mail/spike.txt");

/// One of the most-reached mentions in a spike alert.
struct SpikeMentionCard {
    who: String,
    reach: String,
    source: String,
    text: String,
    /// The link the HTML part makes clickable: only http(s), never one with a line break.
    url: Option<String>,
    /// The link as the text part prints it, whatever its scheme.
    link_text: Option<String>,
}

/// Looks at every watch (spikes, storms, drops) and every source (drops) as of `now`, records
/// new episodes and queues their alerts. Returns the episodes that raised an alert.
pub fn check(
    store: &mut dyn Backend,
    ctx: &SpikeContext,
    now: DateTime<Utc>,
) -> Result<Vec<SpikeEpisode>, StoreError> {
    let found = find(store, ctx, now)?;
    record(store, ctx, found)
}

/// A spike, storm or drop seen in one check, with the alerts it raises if it starts an episode.
#[derive(Debug)]
pub struct SpikeFinding {
    episode: SpikeEpisode,
    alerts: Vec<NewAlert>,
    kind: &'static str,
}

/// The reading half of [`check`]: every finding as of `now`, with its episode and alerts
/// rendered, without writing anything (the daemon runs it on a reader connection).
pub fn find(
    store: &dyn Backend,
    ctx: &SpikeContext,
    now: DateTime<Utc>,
) -> Result<Vec<SpikeFinding>, StoreError> {
    let cfg = &ctx.cfg;
    let win = cfg.window.0.as_secs() as i64;
    // Windows end just after `now`, so a mention stored in this very second counts.
    let t = now.timestamp() + 1;
    let mut out = Vec::new();
    let subjects = ctx
        .watches
        .iter()
        .map(|w| ("watch", w.as_str()))
        .chain(ctx.sources.iter().map(|s| ("source", s.as_str())));
    for (scope, name) in subjects {
        let Some((current, base)) = window_and_baseline(store, cfg, scope, name, t)? else {
            continue;
        };
        let findings: Vec<Finding> = judge(current, &base, cfg)
            .into_iter()
            // Sources are watched for drops only; their spikes show up in their watches.
            .filter(|f| scope == "watch" || *f == Finding::Drop)
            .collect();
        for (i, finding) in findings.into_iter().enumerate() {
            let (mentions, terms) =
                mentions_and_terms(store, ctx, finding, scope, name, (t - win, t))?;
            let found = Found {
                finding,
                scope,
                name,
                now: current,
                base,
                mentions,
                terms,
            };
            // A storm is usually a volume spike too: only the first finding alerts; the others are
            // recorded, so they stay quiet for the rest of the episode.
            let alerts = if i == 0 {
                found.alerts(ctx, now)
            } else {
                Vec::new()
            };
            out.push(SpikeFinding {
                episode: found.episode(cfg, now),
                alerts,
                kind: finding.kind(),
            });
        }
    }
    Ok(out)
}

/// The writing half of [`check`]: records each finding's episode and queues its alerts when it
/// starts a new one (each in its own transaction, which decides that against the cooldown).
/// Returns the episodes that raised an alert.
pub fn record(
    store: &mut dyn Backend,
    ctx: &SpikeContext,
    found: Vec<SpikeFinding>,
) -> Result<Vec<SpikeEpisode>, StoreError> {
    let cooldown = ctx.cfg.cooldown.0.as_secs() as i64;
    let mut alerted = Vec::new();
    for f in found {
        let outcome = store.record_spike(&f.episode, &f.alerts, cooldown)?;
        if outcome == SpikeOutcome::New && !f.alerts.is_empty() {
            let ep = &f.episode;
            tracing::warn!(scope = ep.scope.as_str(), name = ep.name.as_str(), kind = f.kind, summary = %ep.summary, "spike alert queued");
            alerted.push(f.episode);
        }
    }
    Ok(alerted)
}

/// The count of `scope`/`name` in the window that ends at `t`, and its baseline: the same
/// window on each of the `baseline_days` before, back to its first stored mention. `None` while
/// it is warming up or has no earlier day to compare with.
fn window_and_baseline(
    store: &dyn Backend,
    cfg: &SpikeConfig,
    scope: &str,
    name: &str,
    t: i64,
) -> Result<Option<(WindowCount, Baseline)>, StoreError> {
    let win = cfg.window.0.as_secs() as i64;
    let Some(first) = store.first_stored(scope, name)? else {
        return Ok(None);
    };
    if first > t - cfg.warm_up.0.as_secs() as i64 {
        return Ok(None);
    }
    let count = |a: i64, b: i64| {
        if scope == "watch" {
            store.watch_window(name, a, b)
        } else {
            store.source_window(name, a, b)
        }
    };
    let current = count(t - win, t)?;
    let mut before = Vec::new();
    for d in 1..=i64::from(cfg.baseline_days) {
        let (a, b) = (t - d * 86_400 - win, t - d * 86_400);
        if a < first {
            break;
        }
        before.push(count(a, b)?);
    }
    if before.is_empty() {
        return Ok(None);
    }
    Ok(Some((current, Baseline::of(&before))))
}

/// The mentions behind a finding in `window` (none for a drop; only complaints for a storm),
/// and the terms rising among them.
fn mentions_and_terms(
    store: &dyn Backend,
    ctx: &SpikeContext,
    finding: Finding,
    scope: &str,
    name: &str,
    (start, end): (i64, i64),
) -> Result<(Vec<StoredMention>, Vec<String>), StoreError> {
    let mentions = if finding == Finding::Drop {
        Vec::new()
    } else {
        let q = MentionQuery::new()
            .stored(start, end)
            .no_backfill()
            .no_spam()
            .order(MentionOrder::ReachThenStored)
            .limit(500);
        let q = if scope == "watch" {
            q.watch(name)
        } else {
            q.source(name)
        };
        let q = if finding == Finding::Complaints {
            q.label(Label::Complaint)
        } else {
            q
        };
        store.mentions(&q)?
    };
    let texts: Vec<String> = mentions.iter().map(|m| m.mention.text.clone()).collect();
    let terms = rising_themes(&texts, &[], 1.0, &ctx.watches, 5)
        .into_iter()
        .map(|th| format!("{} ({})", th.term, th.count))
        .collect();
    Ok((mentions, terms))
}

impl Found<'_> {
    /// The episode this finding starts (or continues) at `now`.
    fn episode(&self, cfg: &SpikeConfig, now: DateTime<Utc>) -> SpikeEpisode {
        let complaints_only = self.finding == Finding::Complaints;
        SpikeEpisode {
            kind: self.finding.kind().into(),
            scope: self.scope.into(),
            name: self.name.into(),
            started_at: now.timestamp(),
            last_seen_at: now.timestamp(),
            count: if complaints_only {
                self.now.complaints
            } else {
                self.now.total
            },
            baseline: if complaints_only {
                self.base.complaint_share
            } else {
                self.base.mean
            },
            threshold: self.threshold(cfg),
            summary: self.summary(cfg),
        }
    }

    /// One urgent email per recipient, with Message-IDs that a retry repeats.
    fn alerts(&self, ctx: &SpikeContext, now: DateTime<Utc>) -> Vec<NewAlert> {
        let (subject, text, html) = self.render(ctx, now);
        let kind = self.finding.kind();
        let key = fnv1a(format!("{kind}\n{}\n{}", self.scope, self.name));
        ctx.recipients
            .iter()
            .map(|(team, to)| NewAlert {
                channel: "email",
                payload: None,
                team: team.clone(),
                rule: format!("spike alert ({kind})"),
                recipient: to.clone(),
                message_id: format!(
                    "<webcare.spike.{key:016x}.{}.{:016x}@{}>",
                    now.timestamp(),
                    fnv1a(to.to_lowercase()),
                    ctx.domain
                ),
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
                urgent: true,
                not_before: now.timestamp(),
            })
            .collect()
    }
}

/// The daemon's spike task: checks every `check_every`, waking the sender when it queued
/// alerts, until shutdown.
pub async fn run_spikes(
    ctx: Arc<SpikeContext>,
    readers: Readers,
    writer: Writer,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    loop {
        match check_apart(&ctx, &readers, &writer).await {
            Ok(found) if !found.is_empty() => wake.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot check for spikes; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.cfg.check_every.0) => {}
            _ = shutdown.wait() => break,
        }
    }
}

/// [`check`] with its reads on a reader connection, so the writer is held only while a
/// finding is recorded (and not at all when there is none).
async fn check_apart(
    ctx: &Arc<SpikeContext>,
    readers: &Readers,
    writer: &Writer,
) -> Result<Vec<SpikeEpisode>, StoreError> {
    let c = ctx.clone();
    let found = readers.read(move |s| find(s, &c, Utc::now())).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let c = ctx.clone();
    writer.run(move |s| record(s, &c, found)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(total: i64, complaints: i64) -> WindowCount {
        WindowCount { total, complaints }
    }

    #[test]
    fn a_burst_well_above_the_usual_hour_is_a_spike() {
        let cfg = SpikeConfig::default();
        let base = Baseline::of(&[
            w(4, 1),
            w(6, 1),
            w(5, 1),
            w(5, 2),
            w(4, 0),
            w(6, 1),
            w(5, 1),
        ]);
        assert_eq!(judge(w(30, 3), &base, &cfg), [Finding::Volume]);
        assert!(judge(w(7, 1), &base, &cfg).is_empty());
    }

    #[test]
    fn nothing_below_the_minimum_count_even_from_zero() {
        let cfg = SpikeConfig::default();
        let base = Baseline::of(&[w(0, 0); 7]);
        assert!(judge(w(9, 9), &base, &cfg).is_empty());
        assert_eq!(
            judge(w(10, 10), &base, &cfg),
            [Finding::Complaints, Finding::Volume]
        );
    }

    #[test]
    fn a_complaint_storm_is_a_rise_in_their_share_at_the_usual_volume() {
        let cfg = SpikeConfig::default();
        let base = Baseline::of(&[w(40, 4); 7]);
        assert_eq!(judge(w(40, 20), &base, &cfg), [Finding::Complaints]);
        assert!(judge(w(40, 10), &base, &cfg).is_empty());
    }

    #[test]
    fn silence_where_there_is_usually_plenty_is_a_drop() {
        let cfg = SpikeConfig::default();
        assert_eq!(
            judge(w(0, 0), &Baseline::of(&[w(12, 1); 7]), &cfg),
            [Finding::Drop]
        );
        assert!(judge(w(0, 0), &Baseline::of(&[w(2, 0); 7]), &cfg).is_empty());
    }
}
