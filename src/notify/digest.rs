//! The digest: once a day (or week), at a local time, the period's picture for the comms
//! manager: volume per source and label against the previous days, net sentiment, the
//! best-reached complaints and whether they were answered, the complaint themes that rose, the
//! praise worth passing on, the period's spikes and the sources that failed. Rendered as text
//! and phone-friendly HTML (every piece of mention text escaped) and queued through the outbox,
//! with a `digests` row in the same transaction, so each recipient list gets one per period.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::chart::{DayNet, DayVolume};
use super::fnv64;
use super::mail::ActionLink;
use super::outbox::Sender;
use super::route::TeamConfig;
use super::stopwords::StopWords;
use crate::config::{ConfigErrors, load::Config};
use crate::shutdown::Shutdown;
use crate::store::{
    DigestMention, DigestRecord, FailedSource, FirstResponse, NewAlert, SpikeEpisode, Store,
    StoreError, VolumeRow, Writer,
};
use crate::web::links::LinkSigner;

/// A mention reads as positive (or negative) beyond this sentiment, whatever its label.
pub const SENTIMENT_CUE: f64 = 0.25;
/// A digest queued this long after its scheduled time is marked late.
pub const LATE_AFTER: Duration = Duration::minutes(15);

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Every day, about the day before.
    #[default]
    Daily,
    /// Once a week on `weekday`, about the seven days before.
    Weekly,
}

impl Period {
    fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
        }
    }
    fn days(self) -> i64 {
        match self {
            Period::Daily => 1,
            Period::Weekly => 7,
        }
    }
}

/// `[digest]` as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Local time it is sent, `"HH:MM"`.
    #[serde(default = "default_time")]
    pub time: String,
    /// IANA time zone of `time` and of the days it reports on.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// `daily` or `weekly`.
    #[serde(default)]
    pub period: Period,
    /// For weekly digests: the day it is sent (about the seven days before).
    #[serde(default)]
    pub weekday: Option<String>,
    /// Addresses that get the digest together (one recipient list).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Teams from `[[teams]]` that get it, each as its own recipient list.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Days before the period that trends compare with.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// How many complaints, stories and themes to show.
    #[serde(default = "default_top")]
    pub top: usize,
}

fn default_time() -> String {
    "07:30".into()
}
fn default_tz() -> String {
    "UTC".into()
}
fn default_lookback() -> u32 {
    7
}
fn default_top() -> usize {
    5
}

/// One recipient list: its name (the key of the once-per-period record) and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientList {
    /// `recipients`, or `team:NAME`.
    pub name: String,
    /// Addresses.
    pub emails: Vec<String>,
}

/// `[digest]`, validated.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// Local send time.
    pub time: NaiveTime,
    /// Time zone.
    pub tz: Tz,
    /// Daily or weekly.
    pub period: Period,
    /// Send day of a weekly digest.
    pub weekday: Weekday,
    /// Who gets it.
    pub lists: Vec<RecipientList>,
    /// Days the trends compare with.
    pub lookback_days: u32,
    /// Items per list.
    pub top: usize,
    /// First-response targets of the teams that have one: (team, seconds).
    pub slas: Vec<(String, i64)>,
}

impl Default for DigestSettings {
    fn default() -> Self {
        DigestSettings {
            time: NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default(),
            tz: Tz::UTC,
            period: Period::Daily,
            weekday: Weekday::Mon,
            lists: Vec::new(),
            lookback_days: 7,
            top: 5,
            slas: Vec::new(),
        }
    }
}

impl DigestConfig {
    /// Checks the settings against the configured `teams`, recording problems under `digest.*`.
    pub fn validate(
        &self,
        teams: &[TeamConfig],
        errors: &mut ConfigErrors,
    ) -> Option<DigestSettings> {
        let mut ok = true;
        let time = NaiveTime::parse_from_str(self.time.trim(), "%H:%M").ok();
        if time.is_none() {
            errors.push(
                "digest.time",
                format!("\"{}\" is not a time of day; use e.g. \"07:30\"", self.time),
            );
            ok = false;
        }
        let tz = self.time_zone.parse::<Tz>().ok();
        if tz.is_none() {
            errors.push(
                "digest.time_zone",
                format!(
                    "unknown time zone \"{}\"; use an IANA name such as \"Europe/Amsterdam\"",
                    self.time_zone
                ),
            );
            ok = false;
        }
        let weekday = match (&self.weekday, self.period) {
            (Some(w), _) => match w.parse::<Weekday>() {
                Ok(d) => d,
                Err(_) => {
                    errors.push(
                        "digest.weekday",
                        format!("\"{w}\" is not a day of the week; use e.g. \"monday\""),
                    );
                    ok = false;
                    Weekday::Mon
                }
            },
            (None, Period::Weekly) => {
                errors.push(
                    "digest.weekday",
                    "period = \"weekly\" needs weekday = \"monday\" (or another day)",
                );
                ok = false;
                Weekday::Mon
            }
            (None, Period::Daily) => Weekday::Mon,
        };
        if self.lookback_days == 0 || self.lookback_days > 90 {
            errors.push("digest.lookback_days", "must be between 1 and 90");
            ok = false;
        }
        if self.top == 0 || self.top > 50 {
            errors.push("digest.top", "must be between 1 and 50");
            ok = false;
        }
        let mut lists = Vec::new();
        for (i, e) in self.recipients.iter().enumerate() {
            if e.parse::<lettre::Address>().is_err() {
                errors.push(
                    format!("digest.recipients[{i}]"),
                    format!("\"{e}\" is not an email address"),
                );
                ok = false;
            }
        }
        if !self.recipients.is_empty() {
            lists.push(RecipientList {
                name: "recipients".into(),
                emails: self.recipients.clone(),
            });
        }
        for (i, t) in self.teams.iter().enumerate() {
            match teams.iter().find(|x| &x.name == t) {
                Some(team) => lists.push(RecipientList {
                    name: format!("team:{t}"),
                    emails: team.emails.clone(),
                }),
                None => {
                    errors.push(
                        format!("digest.teams[{i}]"),
                        format!("no team is named \"{t}\" in [[teams]]"),
                    );
                    ok = false;
                }
            }
        }
        if lists.is_empty() {
            errors.push(
                "digest.recipients",
                "nobody gets the digest: set recipients = [\"comms@example.com\"] or teams = [\"comms\"]",
            );
            ok = false;
        }
        ok.then(|| DigestSettings {
            time: time.unwrap_or_default(),
            tz: tz.unwrap_or(Tz::UTC),
            period: self.period,
            weekday,
            lists,
            lookback_days: self.lookback_days,
            top: self.top,
            slas: teams
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.sla?.0.as_secs() as i64)))
                .collect(),
        })
    }
}

/// The instant a local date and time happen in `tz`. DST-safe: a time that happens twice (the
/// clocks go back) is taken at its first occurrence; a time that does not exist (the clocks go
/// forward over it) is moved to the first local minute after the gap.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let mut naive = date.and_time(time);
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => naive += Duration::minutes(1),
        }
    }
    naive.and_utc()
}

/// A run of whole local days: what one digest reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First local day.
    pub first_day: NaiveDate,
    /// Number of days.
    pub days: i64,
    /// Start of the first day.
    pub start: DateTime<Utc>,
    /// Start of the day after the last.
    pub end: DateTime<Utc>,
}

impl DigestSettings {
    fn sends_on(&self, d: NaiveDate) -> bool {
        self.period == Period::Daily || d.weekday() == self.weekday
    }

    /// When the digest of local date `d` is due.
    pub fn due_on(&self, d: NaiveDate) -> DateTime<Utc> {
        local_instant(self.tz, d, self.time)
    }

    /// The local days starting at `first_day`.
    pub fn span(&self, first_day: NaiveDate, days: i64) -> Span {
        let midnight = NaiveTime::MIN;
        Span {
            first_day,
            days,
            start: local_instant(self.tz, first_day, midnight),
            end: local_instant(self.tz, first_day + Duration::days(days), midnight),
        }
    }

    /// The period a digest sent on local date `d` reports on: the day (or seven days) before.
    pub fn period_sent_on(&self, d: NaiveDate) -> Span {
        let days = self.period.days();
        self.span(d - Duration::days(days), days)
    }

    /// The period that contains local date `d` (for `webcare digest --date`).
    pub fn period_containing(&self, d: NaiveDate) -> Span {
        let mut send = d + Duration::days(1);
        while !self.sends_on(send) {
            send += Duration::days(1);
        }
        self.period_sent_on(send)
    }

    /// The latest scheduled send at or before `now`, with its local date.
    pub fn last_due(&self, now: DateTime<Utc>) -> (DateTime<Utc>, NaiveDate) {
        let mut d = now.with_timezone(&self.tz).date_naive() + Duration::days(1);
        loop {
            if self.sends_on(d) && self.due_on(d) <= now {
                return (self.due_on(d), d);
            }
            d -= Duration::days(1);
        }
    }

    /// The first scheduled send after `now`.
    pub fn next_due(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut d = now.with_timezone(&self.tz).date_naive() - Duration::days(1);
        loop {
            if self.sends_on(d) && self.due_on(d) > now {
                return self.due_on(d);
            }
            d += Duration::days(1);
        }
    }
}

/// Count now against the average of the days before, scaled to the period's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// What it is about (a source or a label).
    pub name: String,
    /// In the period.
    pub count: i64,
    /// Average per period over the lookback days.
    pub average: f64,
}

/// Net sentiment: share of positive minus share of negative mentions, in points (−100…100),
/// spam left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetSentiment {
    /// Positive mentions.
    pub positive: i64,
    /// Negative mentions.
    pub negative: i64,
    /// All non-spam mentions.
    pub total: i64,
}

impl NetSentiment {
    /// The score, or `None` without mentions.
    pub fn score(&self) -> Option<f64> {
        (self.total > 0).then(|| 100.0 * (self.positive - self.negative) as f64 / self.total as f64)
    }
}

/// A complaint term or two-word phrase and how often complaints used it.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The term or phrase.
    pub term: String,
    /// Complaints in the period that use it.
    pub count: i64,
    /// Complaints per period that used it over the lookback days.
    pub expected: f64,
}

/// Everything a digest shows, computed from the store.
#[derive(Debug, Clone)]
pub struct Digest {
    /// Daily or weekly.
    pub period: Period,
    /// The days it covers.
    pub span: Span,
    /// Time zone of the days.
    pub tz: Tz,
    /// Days the trends compare with.
    pub lookback_days: u32,
    /// All mentions in the period, spam included.
    pub total: Trend,
    /// Per label (spam counted apart, as `spam`).
    pub by_label: Vec<Trend>,
    /// Per source.
    pub by_source: Vec<Trend>,
    /// Net sentiment in the period.
    pub net: NetSentiment,
    /// Net sentiment over the lookback days.
    pub net_before: NetSentiment,
    /// Best-reached complaints.
    pub complaints: Vec<DigestMention>,
    /// Complaint themes that rose most.
    pub themes: Vec<Theme>,
    /// Best-reached praise.
    pub stories: Vec<DigestMention>,
    /// Spikes that started in the period.
    pub spikes: Vec<SpikeEpisode>,
    /// Sources with failed polls in the period.
    pub failed: Vec<FailedSource>,
    /// When it is late: when it was due.
    pub late_since: Option<DateTime<Utc>>,
    /// Mentions per local day by label: the period and the days before it.
    pub volume_days: Vec<DayVolume>,
    /// Net sentiment per local day over the last [`NET_DAYS`] days of the period.
    pub net_days: Vec<DayNet>,
    /// First-response targets met and missed, per team that has one and had mentions.
    pub sla: Vec<SlaOutcome>,
    /// First-response times of the mentions answered in the period, per team and platform.
    pub responses: Vec<ResponseTimes>,
    /// The web inbox's one-click links per mention id (none without `[web]`).
    pub actions: HashMap<i64, Vec<ActionLink>>,
}

/// How many days the net sentiment chart shows.
pub const NET_DAYS: i64 = 30;

/// One team's first-response target in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaOutcome {
    /// Team name.
    pub team: String,
    /// The target, in seconds.
    pub target: i64,
    /// Complaints and questions answered within it.
    pub met: i64,
    /// Answered late, or still unanswered past it.
    pub missed: i64,
}

/// First-response times of one team on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTimes {
    /// Team name (empty: not routed to a team).
    pub team: String,
    /// Source kind.
    pub kind: String,
    /// Mentions answered.
    pub answered: usize,
    /// Median seconds (the mean of the middle two for an even count).
    pub median: i64,
    /// 90th percentile seconds (nearest rank).
    pub p90: i64,
}

/// Groups first-response times per team and platform, in team then platform order.
pub fn response_times(rows: &[FirstResponse]) -> Vec<ResponseTimes> {
    let mut groups: BTreeMap<(&str, &str), Vec<i64>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.team.as_str(), r.kind.as_str()))
            .or_default()
            .push(r.seconds);
    }
    groups
        .into_iter()
        .map(|((team, kind), mut secs)| {
            secs.sort_unstable();
            let n = secs.len();
            let median = if n % 2 == 1 {
                secs[n / 2]
            } else {
                (secs[n / 2 - 1] + secs[n / 2]) / 2
            };
            // Nearest rank: the smallest value with at least 90 % of the values at or below it.
            let p90 = secs[(n * 9).div_ceil(10).max(1) - 1];
            ResponseTimes {
                team: team.to_string(),
                kind: kind.to_string(),
                answered: n,
                median,
                p90,
            }
        })
        .collect()
}

/// Mentions per day by label for the volume chart (the period and at least as many days
/// before it, or the lookback days), and net sentiment per day over the last [`NET_DAYS`].
fn daily_series(
    store: &Store,
    s: &DigestSettings,
    span: Span,
) -> Result<(Vec<DayVolume>, Vec<DayNet>), StoreError> {
    let volume_days = (span.days + i64::from(s.lookback_days)).max(2 * span.days);
    let all = volume_days.max(NET_DAYS);
    let first = span.first_day + Duration::days(span.days - all);
    let mut volume = Vec::new();
    let mut net = Vec::new();
    for i in 0..all {
        let d = s.span(first + Duration::days(i), 1);
        let mut v = DayVolume {
            day: d.first_day,
            in_period: d.start >= span.start,
            complaints: 0,
            questions: 0,
            praise: 0,
            other: 0,
        };
        let mut n = NetSentiment {
            positive: 0,
            negative: 0,
            total: 0,
        };
        for r in store.volume(d.start.timestamp(), d.end.timestamp(), SENTIMENT_CUE)? {
            if r.spam {
                continue;
            }
            match r.label.as_str() {
                "complaint" => v.complaints += r.count,
                "question" => v.questions += r.count,
                "praise" => v.praise += r.count,
                _ => v.other += r.count,
            }
            n.positive += r.positive;
            n.negative += r.negative;
            n.total += r.count;
        }
        if i >= all - volume_days {
            volume.push(v);
        }
        if i >= all - NET_DAYS {
            net.push(DayNet {
                day: d.first_day,
                score: n.score(),
            });
        }
    }
    Ok((volume, net))
}

/// Reads and works out the digest for `span`. `brand_words` (the watch names) are left out of
/// the themes: every complaint names the brand.
pub fn compute(
    store: &Store,
    s: &DigestSettings,
    span: Span,
    brand_words: &[String],
) -> Result<Digest, StoreError> {
    let before = s.span(
        span.first_day - Duration::days(i64::from(s.lookback_days)),
        i64::from(s.lookback_days),
    );
    let scale = span.days as f64 / f64::from(s.lookback_days);
    let now_rows = store.volume(span.start.timestamp(), span.end.timestamp(), SENTIMENT_CUE)?;
    let before_rows = store.volume(
        before.start.timestamp(),
        before.end.timestamp(),
        SENTIMENT_CUE,
    )?;

    let Volumes {
        total,
        by_label,
        by_source,
        net,
        net_before,
    } = volumes(&now_rows, &before_rows, scale);
    let (a, b) = (span.start.timestamp(), span.end.timestamp());
    let (volume_days, net_days) = daily_series(store, s, span)?;
    let sla = sla_outcomes(store, s, a, b)?;
    let themes = rising_themes(
        &store.complaint_texts(a, b)?,
        &store.complaint_texts(before.start.timestamp(), before.end.timestamp())?,
        scale,
        brand_words,
        s.top,
    );
    Ok(Digest {
        period: s.period,
        span,
        tz: s.tz,
        lookback_days: s.lookback_days,
        total,
        by_label,
        by_source,
        net,
        net_before,
        complaints: store.top_by_reach(a, b, "complaint", s.top)?,
        themes,
        stories: store.top_by_reach(a, b, "praise", s.top)?,
        spikes: store.spikes_started(a, b)?,
        failed: store.failed_sources(a, b)?,
        late_since: None,
        volume_days,
        net_days,
        sla,
        responses: response_times(&store.first_responses(a, b)?),
        actions: HashMap::new(),
    })
}

/// Mention counts of the period against the days before (scaled to the period's length), per
/// label and source, and the net sentiment of both.
struct Volumes {
    total: Trend,
    by_label: Vec<Trend>,
    by_source: Vec<Trend>,
    net: NetSentiment,
    net_before: NetSentiment,
}

/// Adds up the period's and the previous days' volume rows; spam counts under its own label and
/// never in the sentiment.
fn volumes(now_rows: &[VolumeRow], before_rows: &[VolumeRow], scale: f64) -> Volumes {
    let mut labels: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut sources: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut net = NetSentiment {
        positive: 0,
        negative: 0,
        total: 0,
    };
    let mut net_before = net;
    for (rows, slot, net) in [(now_rows, 0, &mut net), (before_rows, 1, &mut net_before)] {
        for r in rows {
            let label = if r.spam {
                "spam".to_string()
            } else {
                r.label.clone()
            };
            let l = labels.entry(label).or_default();
            let src = sources.entry(r.source.clone()).or_default();
            if slot == 0 {
                l.0 += r.count;
                src.0 += r.count;
            } else {
                l.1 += r.count;
                src.1 += r.count;
            }
            if !r.spam {
                net.total += r.count;
                net.positive += r.positive;
                net.negative += r.negative;
            }
        }
    }
    let trend = |(name, (now, before)): (String, (i64, i64))| Trend {
        name,
        count: now,
        average: before as f64 * scale,
    };
    let order = [
        "complaint",
        "question",
        "praise",
        "neutral",
        "unclassified",
        "spam",
    ];
    let mut by_label: Vec<Trend> = labels.into_iter().map(trend).collect();
    by_label.sort_by_key(|t| {
        order
            .iter()
            .position(|o| *o == t.name)
            .unwrap_or(order.len())
    });
    let mut by_source: Vec<Trend> = sources.into_iter().map(trend).collect();
    by_source.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    let total = Trend {
        name: "all".into(),
        count: by_source.iter().map(|t| t.count).sum(),
        average: by_source.iter().map(|t| t.average).sum(),
    };

    Volumes {
        total,
        by_label,
        by_source,
        net,
        net_before,
    }
}

/// Targets met and missed in the period per team with a target; teams with no answerable
/// mention are left out.
fn sla_outcomes(
    store: &Store,
    s: &DigestSettings,
    a: i64,
    b: i64,
) -> Result<Vec<SlaOutcome>, StoreError> {
    let now = Utc::now().timestamp();
    let mut sla = Vec::new();
    for (team, target) in &s.slas {
        let (met, missed) = store.sla_outcomes(team, *target, a, b, now)?;
        if met + missed > 0 {
            sla.push(SlaOutcome {
                team: team.clone(),
                target: *target,
                met,
                missed,
            });
        }
    }
    Ok(sla)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Terms and two-word phrases per complaint (each counted once per complaint).
fn complaint_terms(text: &str, stop: &StopWords, brand: &HashSet<String>) -> HashSet<String> {
    let ws = words(text);
    let content = |w: &str| {
        w.chars().count() >= 3
            && !stop.contains(w)
            && !brand.contains(w)
            && !w.chars().all(|c| c.is_ascii_digit())
    };
    let mut out = HashSet::new();
    for (i, w) in ws.iter().enumerate() {
        if content(w) {
            out.insert(w.clone());
        }
        if let Some(next) = ws.get(i + 1)
            && content(next)
            && (content(w) || stop.is_negation(w))
        {
            out.insert(format!("{w} {next}"));
        }
    }
    out
}

/// The terms and phrases whose share of complaints rose most against `before` (scaled by
/// `scale` to the period's length). Needs at least two complaints per theme; a single word is
/// left out when a phrase with it is listed as often.
pub fn rising_themes(
    now: &[String],
    before: &[String],
    scale: f64,
    brand_words: &[String],
    top: usize,
) -> Vec<Theme> {
    let stop = StopWords::bundled();
    let brand: HashSet<String> = brand_words.iter().flat_map(|b| words(b)).collect();
    let count = |texts: &[String]| {
        let mut m: HashMap<String, i64> = HashMap::new();
        for t in texts {
            for term in complaint_terms(t, stop, &brand) {
                *m.entry(term).or_default() += 1;
            }
        }
        m
    };
    let (n, b) = (count(now), count(before));
    let mut themes: Vec<Theme> = n
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .map(|(term, c)| Theme {
            expected: b.get(&term).copied().unwrap_or(0) as f64 * scale,
            term,
            count: c,
        })
        .filter(|t| t.count as f64 - t.expected >= 1.0)
        .collect();
    themes.sort_by(|x, y| {
        let rise = |t: &Theme| t.count as f64 - t.expected;
        rise(y)
            .total_cmp(&rise(x))
            .then(y.term.contains(' ').cmp(&x.term.contains(' ')))
            .then(x.term.cmp(&y.term))
    });
    let mut out: Vec<Theme> = Vec::new();
    for t in themes {
        let covered = !t.term.contains(' ')
            && out
                .iter()
                .any(|p| p.term.split(' ').any(|w| w == t.term) && p.count >= t.count);
        if !covered {
            out.push(t);
        }
        if out.len() == top {
            break;
        }
    }
    out
}

/// One decimal, never "-0.0" (a tiny negative rounds to zero).
fn one_decimal(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    format!("{:.1}", if r == 0.0 { 0.0 } else { r })
}

/// A duration for people: "45 s", "12 min", "2 h 05 min", "3 d 4 h".
pub fn duration_words(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One row of a count table.
struct TrendRow {
    name: String,
    count: i64,
    average: String,
    trend: String,
}

/// A count table (by label, by source).
struct TrendTable {
    what: &'static str,
    rows: Vec<TrendRow>,
}

/// A chart as the page shows it.
struct ChartView {
    src: String,
    alt: String,
    caption: String,
}

/// A first-response line.
struct ResponseRow {
    team: String,
    platform: String,
    answered: usize,
    median: String,
    p90: String,
}

/// A complaint or story as the page shows it.
struct ItemView {
    id: i64,
    who: String,
    answered: Option<String>,
    text: String,
    url: Option<String>,
    no_link: String,
    platform: String,
    actions: Vec<ActionLink>,
}

#[derive(Template)]
#[template(path = "mail/digest.html")]
struct DigestPage {
    subject: String,
    kind: &'static str,
    title: String,
    tz: &'static str,
    late: Option<String>,
    total: i64,
    avg_label: String,
    total_avg: String,
    total_trend: String,
    volume_chart: Option<ChartView>,
    tables: Vec<TrendTable>,
    net_line: String,
    net_chart: Option<ChartView>,
    sla: Vec<String>,
    responses: Vec<ResponseRow>,
    complaints_heading: &'static str,
    complaints: Vec<ItemView>,
    themes: Vec<String>,
    stories_heading: &'static str,
    stories: Vec<ItemView>,
    spikes: Vec<String>,
    failed: Vec<String>,
    has_actions: bool,
}

/// Only web links become clickable.
fn web_link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        (l.starts_with("https://") || l.starts_with("http://")) && !u.contains(['\r', '\n'])
    })
}

fn cut(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `+35 %`, `−20 %`, `±0 %`, `new` (nothing before) or `–` (nothing at all).
pub fn trend_text(count: i64, average: f64) -> String {
    if average <= 0.0 {
        return if count == 0 {
            "–".into()
        } else {
            "new".into()
        };
    }
    let pct = ((count as f64 - average) / average * 100.0).round() as i64;
    match pct {
        0 => "±0 %".into(),
        p if p > 0 => format!("+{p} %"),
        p => format!("−{} %", -p),
    }
}

fn signed(v: f64) -> String {
    let r = v.round() as i64;
    match r {
        0 => "0".into(),
        r if r > 0 => format!("+{r}"),
        r => format!("−{}", -r),
    }
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl Digest {
    /// `Thursday 19 November 2026`, or `16–22 November 2026` for a week.
    pub fn title(&self) -> String {
        let first = self.span.first_day;
        let last = first + Duration::days(self.span.days - 1);
        match self.period {
            Period::Daily => first.format("%A %-d %B %Y").to_string(),
            Period::Weekly if first.month() == last.month() => {
                format!("{}–{}", first.format("%-d"), last.format("%-d %B %Y"))
            }
            Period::Weekly => format!("{} – {}", first.format("%-d %B"), last.format("%-d %B %Y")),
        }
    }

    /// The subject line; says "late" when sent after its time.
    pub fn subject(&self) -> String {
        let kind = match self.period {
            Period::Daily => "Daily digest",
            Period::Weekly => "Weekly digest",
        };
        let net = self
            .net
            .score()
            .map(|s| format!(", net sentiment {}", signed(s)))
            .unwrap_or_default();
        let late = if self.late_since.is_some() {
            " (late)"
        } else {
            ""
        };
        let mentions = match self.total.count {
            1 => "1 mention".to_string(),
            n => format!("{n} mentions"),
        };
        // Plain ASCII where it costs nothing, so the subject stays readable unencoded.
        let subject = format!("[webcare] {kind} {}: {mentions}{net}{late}", self.title())
            .replace(['−', '–'], "-");
        super::mail::header_safe(&subject, 160)
    }

    fn local(&self, t: i64) -> String {
        DateTime::<Utc>::from_timestamp(t, 0)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%a %-d %b %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// Who wrote it: the name, and the handle only on platforms that have handles (never
    /// "@Tom Richards" for a blog author), then the reach when it is known and the platform.
    fn author(m: &DigestMention) -> String {
        let name = m.author_name.as_deref().map(super::mail::strip_bidi);
        let raw = m.author_handle.as_deref().map(super::mail::strip_bidi);
        let handle = raw.as_deref().map(str::trim).and_then(|h| {
            let h = h.trim_start_matches('@');
            if h.is_empty() || h.contains(char::is_whitespace) {
                return None;
            }
            match m.kind.as_str() {
                "x" | "mastodon" | "bluesky" | "instagram" | "threads" => Some(format!("@{h}")),
                "reddit" => Some(format!("u/{}", h.trim_start_matches("u/"))),
                "hackernews" => Some(h.to_string()),
                _ => None,
            }
        });
        let who = match (name, handle, raw) {
            (Some(n), Some(h), _) if h.trim_start_matches(['@', 'u', '/']) != n => {
                format!("{n} ({h})")
            }
            (Some(n), _, _) => n,
            (None, Some(h), _) => h,
            // A platform without handles stores the author's name there (RSS, reviews).
            (None, None, Some(r)) if !r.trim().is_empty() => r.trim().to_string(),
            _ => "unknown author".into(),
        };
        let mut parts = vec![cut(&who, 80)];
        if let Some(r) = m.author_reach {
            parts.push(match r {
                1 => "1 follower".to_string(),
                r => format!("{} followers", thousands(r)),
            });
        }
        parts.push(format!(
            "{} ({})",
            super::card::platform_name(&m.kind),
            m.source
        ));
        parts.join(" · ")
    }

    /// Whether any of `items` has a known reach, so "by reach" is true.
    fn any_reach(items: &[DigestMention]) -> bool {
        items.iter().any(|m| m.author_reach.is_some())
    }

    fn complaints_heading(&self) -> &'static str {
        if Self::any_reach(&self.complaints) {
            "Top complaints by reach"
        } else {
            "Complaints"
        }
    }

    fn stories_heading(&self) -> &'static str {
        if Self::any_reach(&self.stories) {
            "Good stories to share, by reach"
        } else {
            "Good stories to share"
        }
    }

    fn sla_lines(&self) -> Vec<String> {
        self.sla
            .iter()
            .map(|o| {
                let all = o.met + o.missed;
                format!(
                    "{}: {} of {} answered within {} ({} %), {} missed",
                    o.team,
                    o.met,
                    all,
                    duration_words(o.target),
                    (100.0 * o.met as f64 / all as f64).round() as i64,
                    o.missed
                )
            })
            .collect()
    }

    fn response_rows(&self) -> Vec<ResponseRow> {
        self.responses
            .iter()
            .map(|r| ResponseRow {
                team: if r.team.is_empty() {
                    "no team".into()
                } else {
                    r.team.clone()
                },
                platform: super::card::platform_name(&r.kind),
                answered: r.answered,
                median: duration_words(r.median),
                p90: duration_words(r.p90),
            })
            .collect()
    }

    fn theme_lines(&self) -> Vec<String> {
        self.themes
            .iter()
            .map(|th| {
                format!(
                    "“{}” in {} complaints (usually {})",
                    th.term,
                    th.count,
                    one_decimal(th.expected)
                )
            })
            .collect()
    }

    fn actions_of(&self, id: i64) -> Vec<ActionLink> {
        self.actions
            .get(&id)
            .map(|a| {
                a.iter()
                    .filter(|l| web_link(Some(&l.url)).is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds the web inbox's signed one-click links ("Mark answered", "Claim") to every listed
    /// complaint, valid from `now`. They only open the mention page; nothing changes there
    /// until someone confirms.
    pub fn add_links(&mut self, signer: &crate::web::links::LinkSigner, now: i64) {
        for m in &self.complaints {
            let links = [("answered", "Mark answered"), ("claim", "Claim")]
                .into_iter()
                .map(|(action, label)| ActionLink {
                    label: label.into(),
                    url: signer.link(m.id, action, now),
                })
                .collect();
            self.actions.insert(m.id, links);
        }
    }
    fn answered(&self, m: &DigestMention) -> String {
        match (m.answered_at, &m.answered_by) {
            (Some(t), Some(by)) => {
                format!("answered (marked by {}, {})", cut(by, 40), self.local(t))
            }
            (Some(t), None) => format!("answered (marked {})", self.local(t)),
            _ => "not marked answered".into(),
        }
    }

    fn snippet(m: &DigestMention) -> String {
        let t = match &m.title {
            Some(t) if !m.text.starts_with(t.as_str()) => format!("{t}: {}", m.text),
            _ => m.text.clone(),
        };
        cut(&super::mail::strip_bidi(&t), 280)
    }

    fn net_line(&self) -> String {
        let Some(score) = self.net.score() else {
            return "no mentions to score".into();
        };
        let mut s = format!(
            "{} ({} positive, {} negative of {} mentions without spam)",
            signed(score),
            self.net.positive,
            self.net.negative,
            self.net.total
        );
        match self.net_before.score() {
            Some(b) => s.push_str(&format!(
                "; previous {} days {}, {} points",
                self.lookback_days,
                signed(b),
                signed(score - b)
            )),
            None => s.push_str(&format!(
                "; no mentions in the previous {} days",
                self.lookback_days
            )),
        }
        s
    }

    fn late_line(&self) -> Option<String> {
        self.late_since.map(|t| {
            format!(
                "Late: this digest was due {} and is sent after webcare was not running then.",
                t.with_timezone(&self.tz).format("%a %-d %b %H:%M %Z")
            )
        })
    }

    fn avg_label(&self) -> String {
        match self.period {
            Period::Daily => format!("avg of previous {} days", self.lookback_days),
            Period::Weekly => format!("weekly avg of previous {} days", self.lookback_days),
        }
    }

    /// The plain-text version.
    /// The plain-text version.
    pub fn render_text(&self) -> String {
        let mut t = String::new();
        t.push_str(&format!(
            "webcare {} digest · {} ({})\n",
            self.period.as_str(),
            self.title(),
            self.tz.name()
        ));
        if let Some(l) = self.late_line() {
            t.push_str(&format!("{l}\n"));
        }
        t.push_str(&format!(
            "\nVOLUME\n  {} mentions, {}: {} ({})\n",
            self.total.count,
            self.avg_label(),
            one_decimal(self.total.average),
            trend_text(self.total.count, self.total.average)
        ));
        for (what, rows) in [("label", &self.by_label), ("source", &self.by_source)] {
            t.push_str(&format!("  by {what}:\n"));
            for r in rows.iter() {
                t.push_str(&format!(
                    "    {:<24} {:>6}  avg {:>7}  {}\n",
                    cut(&r.name, 24),
                    r.count,
                    one_decimal(r.average),
                    trend_text(r.count, r.average)
                ));
            }
        }
        t.push_str(&format!("\nNET SENTIMENT\n  {}\n", self.net_line()));
        let sla = self.sla_lines();
        if !sla.is_empty() {
            t.push_str("\nFIRST-RESPONSE TARGETS\n");
            for l in sla {
                t.push_str(&format!("  {l}\n"));
            }
        }
        let responses = self.response_rows();
        if !responses.is_empty() {
            t.push_str("\nFIRST-RESPONSE TIMES (median, 90th percentile)\n");
            for r in responses {
                t.push_str(&format!(
                    "  {} · {}: {} answered, median {}, 90 % within {}\n",
                    r.team, r.platform, r.answered, r.median, r.p90
                ));
            }
        }
        t.push_str(&format!("\n{}\n", self.complaints_heading().to_uppercase()));
        if self.complaints.is_empty() {
            t.push_str("  none\n");
        }
        for (i, m) in self.complaints.iter().enumerate() {
            t.push_str(&format!(
                "  {}. #{} · {} · {}\n     \"{}\"\n",
                i + 1,
                m.id,
                Self::author(m),
                self.answered(m),
                Self::snippet(m)
            ));
            if let Some(u) = &m.url {
                t.push_str(&format!("     {}\n", cut(u, 300)));
            }
            for a in self.actions_of(m.id) {
                t.push_str(&format!("     {}: {}\n", a.label, a.url));
            }
        }
        t.push_str("\nRECURRING COMPLAINT THEMES\n");
        if self.themes.is_empty() {
            t.push_str("  nothing rose\n");
        }
        for l in self.theme_lines() {
            t.push_str(&format!("  {l}\n"));
        }
        t.push_str(&format!("\n{}\n", self.stories_heading().to_uppercase()));
        if self.stories.is_empty() {
            t.push_str("  none this time\n");
        }
        for (i, m) in self.stories.iter().enumerate() {
            t.push_str(&format!(
                "  {}. #{} · {}\n     \"{}\"\n",
                i + 1,
                m.id,
                Self::author(m),
                Self::snippet(m)
            ));
            if let Some(u) = &m.url {
                t.push_str(&format!("     {}\n", cut(u, 300)));
            }
        }
        t.push_str("\nSPIKES\n");
        if self.spikes.is_empty() {
            t.push_str("  none\n");
        }
        for s in &self.spikes {
            t.push_str(&format!("  {} · {}\n", self.local(s.started_at), s.summary));
        }
        t.push_str("\nSOURCES THAT FAILED\n");
        if self.failed.is_empty() {
            t.push_str("  none\n");
        }
        for f in &self.failed {
            t.push_str(&format!("  {}\n", Self::failed_line(f)));
        }
        t.push_str(
            "\nMark a complaint answered with `webcare answered ID` (ID is the number after #)",
        );
        if self.actions.is_empty() {
            t.push_str(".\n");
        } else {
            t.push_str(
                ", or follow its link to the web inbox (nothing changes until you confirm).\n",
            );
        }
        t
    }

    fn failed_line(f: &FailedSource) -> String {
        let now = if f.failing_now > 0 {
            format!("still failing ({} in a row)", f.failing_now)
        } else {
            "working again".into()
        };
        format!(
            "{}: {} of {} polls failed; {now}; last error: {}",
            f.source,
            f.failures,
            f.failures + f.successes,
            cut(&f.last_error, 200)
        )
    }

    fn item(&self, m: &DigestMention, answered: bool) -> ItemView {
        ItemView {
            id: m.id,
            who: Self::author(m),
            answered: answered.then(|| self.answered(m)),
            text: Self::snippet(m),
            url: web_link(m.url.as_deref()).map(str::to_string),
            no_link: match &m.url {
                Some(u) => format!("{} (not a web address)", cut(u, 300)),
                None => "no link".into(),
            },
            platform: super::card::platform_name(&m.kind),
            actions: self.actions_of(m.id),
        }
    }

    /// The charts as PNG data: URIs (the mail turns them into `cid:` parts). A chart that
    /// cannot be drawn is left out and logged; the digest goes out without it.
    fn charts(&self) -> (Option<ChartView>, Option<ChartView>) {
        let view = |png: Result<Option<Vec<u8>>, super::chart::ChartError>,
                    alt: String,
                    caption: String| match png {
            Ok(p) => p.map(|p| ChartView {
                src: format!("data:image/png;base64,{}", B64.encode(p)),
                alt,
                caption,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "the digest goes out without a chart");
                None
            }
        };
        let days = self.volume_days.len();
        let volume = view(
            super::chart::volume_png(&self.volume_days),
            format!("Mentions per day by label over {days} days"),
            format!(
                "Mentions per day by label (spam left out): the shaded days are this {}, the others the {} days before.",
                match self.period {
                    Period::Daily => "day",
                    Period::Weekly => "week",
                },
                days as i64 - self.span.days
            ),
        );
        let net = view(
            super::chart::sentiment_png(&self.net_days),
            format!("Net sentiment per day over the last {NET_DAYS} days"),
            format!(
                "Net sentiment per day over the last {NET_DAYS} days (positive minus negative share, in points); gaps are days without mentions."
            ),
        );
        (volume, net)
    }

    /// The HTML version from `templates/mail/digest.html`: one column at most 600 px wide,
    /// table layout with inline styles, charts as PNG data: URIs; askama escapes every value.
    pub fn render_html(&self) -> String {
        let table = |what: &'static str, rows: &[Trend]| TrendTable {
            what,
            rows: rows
                .iter()
                .map(|r| TrendRow {
                    name: r.name.clone(),
                    count: r.count,
                    average: one_decimal(r.average),
                    trend: trend_text(r.count, r.average),
                })
                .collect(),
        };
        let (volume_chart, net_chart) = self.charts();
        let page = DigestPage {
            subject: self.subject(),
            kind: match self.period {
                Period::Daily => "Daily",
                Period::Weekly => "Weekly",
            },
            title: self.title(),
            tz: self.tz.name(),
            late: self.late_line(),
            total: self.total.count,
            avg_label: self.avg_label(),
            total_avg: one_decimal(self.total.average),
            total_trend: trend_text(self.total.count, self.total.average),
            volume_chart,
            tables: vec![
                table("label", &self.by_label),
                table("source", &self.by_source),
            ],
            net_line: self.net_line(),
            net_chart,
            sla: self.sla_lines(),
            responses: self.response_rows(),
            complaints_heading: self.complaints_heading(),
            complaints: self.complaints.iter().map(|m| self.item(m, true)).collect(),
            themes: self.theme_lines(),
            stories_heading: self.stories_heading(),
            stories: self.stories.iter().map(|m| self.item(m, false)).collect(),
            spikes: self
                .spikes
                .iter()
                .map(|s| format!("{} · {}", self.local(s.started_at), s.summary))
                .collect(),
            failed: self.failed.iter().map(Self::failed_line).collect(),
            has_actions: !self.actions.is_empty(),
        };
        // Rendering fails only on a formatter error, which String writing never returns.
        page.render().unwrap_or_default()
    }

    /// The digest as outbox rows for `list`: one email per address, with a Message-ID that is
    /// the same for the same list and period (different per `resend`, for `--force`).
    pub fn record(&self, list: &RecipientList, domain: &str, resend: Option<i64>) -> DigestRecord {
        let (subject, text, html) = (self.subject(), self.render_text(), self.render_html());
        let start = self.span.start.timestamp();
        let alerts = list
            .emails
            .iter()
            .map(|to| NewAlert {
                channel: "email",
                payload: None,
                team: list.name.clone(),
                rule: format!("{} digest", self.period.as_str()),
                recipient: to.clone(),
                message_id: format!(
                    "<webcare.digest.{start}.{:016x}{}@{domain}>",
                    fnv64(&format!("{}\n{}", list.name, to.to_lowercase())),
                    resend.map(|r| format!(".r{r}")).unwrap_or_default()
                ),
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
                urgent: false,
                not_before: 0,
            })
            .collect();
        DigestRecord {
            list: list.name.clone(),
            period_start: start,
            period_end: self.span.end.timestamp(),
            period: self.period.as_str().into(),
            late: self.late_since.is_some(),
            alerts,
        }
    }
}

/// What [`queue_due`] did for one recipient list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The list.
    pub list: String,
    /// Emails queued.
    pub emails: usize,
    /// Marked late.
    pub late: bool,
}

/// Queues the latest scheduled digest for every list that has not had it, as of `now`. A digest
/// whose time passed while webcare was not running is sent now and marked late; one whose time
/// came before this database saw its first poll is skipped (a fresh install does not mail
/// yesterday's emptiness). Only the latest period is caught up; older ones can be sent by hand.
pub fn queue_due(
    store: &mut Store,
    s: &DigestSettings,
    brand_words: &[String],
    domain: &str,
    links: Option<&LinkSigner>,
    now: DateTime<Utc>,
) -> Result<Vec<Queued>, StoreError> {
    let (due, send_date) = s.last_due(now);
    let span = s.period_sent_on(send_date);
    let mut out = Vec::new();
    let pending: Vec<&RecipientList> = s
        .lists
        .iter()
        .map(|l| Ok((l, store.digest_sent(&l.name, span.start.timestamp())?)))
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter()
        .filter(|(_, sent)| sent.is_none())
        .map(|(l, _)| l)
        .collect();
    if pending.is_empty() {
        return Ok(out);
    }
    match store.first_activity()? {
        Some(first) if first < due.timestamp() => {}
        _ => return Ok(out),
    }
    let mut digest = compute(store, s, span, brand_words)?;
    if let Some(l) = links {
        digest.add_links(l, now.timestamp());
    }
    if now - due > LATE_AFTER {
        digest.late_since = Some(due);
    }
    for list in pending {
        let record = digest.record(list, domain, None);
        if store.record_digest(&record, false, now.timestamp())? {
            out.push(Queued {
                list: list.name.clone(),
                emails: record.alerts.len(),
                late: record.late,
            });
        }
    }
    Ok(out)
}

/// Everything the digest needs to be queued: the settings, the watch names (left out of the
/// themes) and the domain of the Message-IDs.
#[derive(Debug, Clone)]
pub struct DigestJob {
    /// `[digest]`.
    pub settings: DigestSettings,
    /// Watch names.
    pub brand_words: Vec<String>,
    /// Domain of `[mail] from`.
    pub domain: String,
    /// Signs the web inbox's one-click links beside each complaint (with `[web]`).
    pub links: Option<LinkSigner>,
}

impl DigestJob {
    /// The digest job of `config`, when it has both `[digest]` and `[mail]`.
    pub fn from_config(config: &Config) -> Option<DigestJob> {
        let settings = config.notify.digest.clone()?;
        let mail = config.notify.mail.as_ref()?;
        Some(DigestJob {
            settings,
            brand_words: config.watches.iter().map(|w| w.name.clone()).collect(),
            domain: mail.from.email.domain().to_string(),
            links: LinkSigner::for_config(config),
        })
    }

    /// Queues what is due as of `now` (see [`queue_due`]) and logs it.
    pub fn queue_due(
        &self,
        store: &mut Store,
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>, StoreError> {
        let queued = queue_due(
            store,
            &self.settings,
            &self.brand_words,
            &self.domain,
            self.links.as_ref(),
            now,
        )?;
        for q in &queued {
            tracing::info!(list = %q.list, emails = q.emails, late = q.late, "digest queued");
        }
        Ok(queued)
    }
}

/// The daemon's digest task: queues a digest missed while webcare was down, then sleeps until
/// each next scheduled time (re-checking at least hourly, so a changed clock or a suspended
/// machine cannot make it miss one) and queues it, until shutdown.
pub async fn run_digests(
    job: Arc<DigestJob>,
    writer: Writer,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    loop {
        let j = job.clone();
        let wait = match writer.run(move |s| j.queue_due(s, Utc::now())).await {
            Ok(queued) => {
                if !queued.is_empty() {
                    wake.notify_one();
                }
                (job.settings.next_due(Utc::now()) - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .clamp(
                        std::time::Duration::from_secs(1),
                        std::time::Duration::from_secs(3600),
                    )
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot queue the digest; will retry in a minute");
                std::time::Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => break,
        }
    }
}

/// Starts the digest task in the daemon when `[digest]` is configured. `sender_wake` wakes the
/// running outbox sender; without one (no `[[teams]]`, so no alert sender), a sender for the
/// digest is started here.
pub fn spawn(
    config: &Config,
    writer: &Writer,
    sender_wake: Option<Arc<Notify>>,
    shutdown: &Shutdown,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let Some(job) = DigestJob::from_config(config) else {
        return Ok(Vec::new());
    };
    let mut tasks = Vec::new();
    let wake = match sender_wake {
        Some(w) => w,
        None => {
            let mail = config
                .notify
                .mail
                .clone()
                .context("[digest] needs [mail]")?;
            let sender = Sender::new(writer.clone(), mail, &[]).context("cannot set up mail")?;
            let wake = Arc::new(Notify::new());
            tasks.push(tokio::spawn(sender.run(wake.clone(), shutdown.clone())));
            wake
        }
    };
    tracing::info!(
        next = %job.settings.next_due(Utc::now()).with_timezone(&job.settings.tz),
        "digest scheduled"
    );
    tasks.push(tokio::spawn(run_digests(
        Arc::new(job),
        writer.clone(),
        wake,
        shutdown.clone(),
    )));
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amsterdam(time: &str) -> DigestSettings {
        DigestSettings {
            time: NaiveTime::parse_from_str(time, "%H:%M").unwrap(),
            tz: "Europe/Amsterdam".parse().unwrap(),
            ..Default::default()
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_local_time_in_the_spring_gap_moves_to_the_end_of_the_gap() {
        // 29 March 2026: Amsterdam jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        let s = amsterdam("02:30");
        assert_eq!(s.due_on(day("2026-03-29")), utc("2026-03-29T01:00:00Z"));
        assert_eq!(s.due_on(day("2026-03-30")), utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn a_local_time_that_happens_twice_in_autumn_is_taken_the_first_time() {
        // 25 October 2026: 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
        let s = amsterdam("02:30");
        assert_eq!(s.due_on(day("2026-10-25")), utc("2026-10-25T00:30:00Z"));
        // After the first 02:30 the next send is the next day, not the second 02:30.
        assert_eq!(
            s.next_due(utc("2026-10-25T00:31:00Z")),
            utc("2026-10-26T01:30:00Z")
        );
        assert_eq!(
            s.last_due(utc("2026-10-25T01:45:00Z")),
            (utc("2026-10-25T00:30:00Z"), day("2026-10-25"))
        );
    }

    #[test]
    fn the_day_before_a_dst_change_is_23_or_25_hours_long() {
        let s = amsterdam("07:30");
        let spring = s.period_sent_on(day("2026-03-30"));
        assert_eq!(spring.first_day, day("2026-03-29"));
        assert_eq!((spring.end - spring.start).num_hours(), 23);
        let autumn = s.period_sent_on(day("2026-10-26"));
        assert_eq!((autumn.end - autumn.start).num_hours(), 25);
        assert_eq!(autumn.start, utc("2026-10-24T22:00:00Z"));
    }

    #[test]
    fn the_next_send_is_today_before_the_time_and_tomorrow_after_it() {
        let s = amsterdam("07:30");
        // 06:00 CET on 20 November is 05:00Z: today at 07:30 CET.
        assert_eq!(
            s.next_due(utc("2026-11-20T05:00:00Z")),
            utc("2026-11-20T06:30:00Z")
        );
        assert_eq!(
            s.next_due(utc("2026-11-20T06:30:00Z")),
            utc("2026-11-21T06:30:00Z")
        );
        // Late in the UTC evening it is already the next day in Amsterdam.
        let (due, d) = s.last_due(utc("2026-11-20T23:30:00Z"));
        assert_eq!((due, d), (utc("2026-11-20T06:30:00Z"), day("2026-11-20")));
        assert_eq!(s.period_sent_on(d).first_day, day("2026-11-19"));
    }

    #[test]
    fn weekly_digests_go_out_on_their_weekday_about_the_seven_days_before() {
        let s = DigestSettings {
            period: Period::Weekly,
            weekday: Weekday::Mon,
            ..amsterdam("08:00")
        };
        // Wednesday 25 November 2026: the next one is Monday 30 November.
        assert_eq!(
            s.next_due(utc("2026-11-25T12:00:00Z")),
            utc("2026-11-30T07:00:00Z")
        );
        let (_, sent) = s.last_due(utc("2026-11-25T12:00:00Z"));
        assert_eq!(sent, day("2026-11-23"));
        let p = s.period_sent_on(sent);
        assert_eq!((p.first_day, p.days), (day("2026-11-16"), 7));
        // --date: the week that contains the day.
        assert_eq!(s.period_containing(day("2026-11-20")), p);
        assert_eq!(s.period_containing(day("2026-11-22")), p);
        assert_eq!(
            s.period_containing(day("2026-11-23")).first_day,
            day("2026-11-23")
        );
    }

    #[test]
    fn a_zone_whose_midnight_is_skipped_starts_the_day_when_the_clock_resumes() {
        // America/Santiago moved from 00:00 to 01:00 on 6 September 2026 (spring, south).
        let s = DigestSettings {
            tz: "America/Santiago".parse().unwrap(),
            ..Default::default()
        };
        let span = s.span(day("2026-09-06"), 1);
        assert_eq!(
            span.start.with_timezone(&s.tz).format("%H:%M").to_string(),
            "01:00"
        );
        assert_eq!((span.end - span.start).num_hours(), 23);
    }

    #[test]
    fn themes_are_the_terms_and_phrases_that_rose_not_the_brand_or_stop_words() {
        let now: Vec<String> = [
            "Fjordlink: weer geen internet in Utrecht sinds vanochtend",
            "Geen internet hier, storing bij Fjordlink",
            "geen internet en de helpdesk neemt niet op",
            "Fjordlink factuur klopt niet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let before: Vec<String> = (0..7)
            .map(|_| "Fjordlink factuur te hoog".to_string())
            .collect();
        let themes = rising_themes(&now, &before, 1.0 / 7.0, &["Fjordlink".into()], 5);
        assert_eq!(themes[0].term, "geen internet", "{themes:?}");
        assert_eq!(themes[0].count, 3);
        // "internet" alone is covered by the phrase; the brand and "de"/"bij" never show.
        assert!(
            themes
                .iter()
                .all(|t| t.term != "internet" && !t.term.contains("fjordlink"))
        );
        // The bill: 1 complaint now against 1 a day before: no rise.
        assert!(themes.iter().all(|t| t.term != "factuur"), "{themes:?}");
    }

    #[test]
    fn first_response_times_are_median_and_nearest_rank_90th_percentile() {
        let row = |team: &str, kind: &str, seconds| FirstResponse {
            team: team.into(),
            kind: kind.into(),
            seconds,
        };
        let rows: Vec<FirstResponse> = [600, 1200, 1800, 7200]
            .into_iter()
            .map(|s| row("webcare", "x", s))
            .chain((1..=10).map(|i| row("webcare", "rss", i * 60)))
            .chain([row("", "rss", 30)])
            .collect();
        let r = response_times(&rows);
        assert_eq!(
            r.iter()
                .map(|r| (
                    r.team.as_str(),
                    r.kind.as_str(),
                    r.answered,
                    r.median,
                    r.p90
                ))
                .collect::<Vec<_>>(),
            [
                ("", "rss", 1, 30, 30),
                ("webcare", "rss", 10, 330, 540),
                ("webcare", "x", 4, 1500, 7200),
            ]
        );
        assert_eq!(duration_words(1500), "25 min");
        assert_eq!(duration_words(7200), "2 h 00 min");
        assert_eq!(duration_words(90_000), "1 d 1 h");
    }

    #[test]
    fn handles_show_only_where_the_platform_has_them() {
        let m = |kind: &str, name: Option<&str>, handle: Option<&str>, reach| DigestMention {
            kind: kind.into(),
            source: "s".into(),
            author_name: name.map(str::to_string),
            author_handle: handle.map(str::to_string),
            author_reach: reach,
            ..Default::default()
        };
        let who = |d: DigestMention| Digest::author(&d);
        assert_eq!(
            who(m("x", Some("Tom Richards"), Some("tomr"), Some(4200))),
            "Tom Richards (@tomr) · 4,200 followers · X (s)"
        );
        assert_eq!(
            who(m("reddit", None, Some("anna"), None)),
            "u/anna · Reddit (s)"
        );
        assert_eq!(
            who(m("rss", None, Some("Tom Richards"), None)),
            "Tom Richards · RSS feed (s)"
        );
        assert_eq!(
            who(m("rss", Some("Tom"), Some("tom@example.com"), None)),
            "Tom · RSS feed (s)"
        );
        assert_eq!(
            who(m("mastodon", Some("bob"), Some("@bob"), None)),
            "bob · Mastodon (s)"
        );
        assert_eq!(
            who(m("app_store", None, None, None)),
            "unknown author · App Store (s)"
        );
    }

    #[test]
    fn no_number_reads_minus_zero() {
        assert_eq!(one_decimal(-0.0), "0.0");
        assert_eq!(one_decimal(-0.04), "0.0");
        assert_eq!(one_decimal(-0.05), "-0.1");
        assert_eq!(one_decimal(2.0 / 7.0), "0.3");
    }

    #[test]
    fn trends_read_naturally() {
        assert_eq!(trend_text(15, 10.0), "+50 %");
        assert_eq!(trend_text(5, 10.0), "−50 %");
        assert_eq!(trend_text(10, 10.0), "±0 %");
        assert_eq!(trend_text(3, 0.0), "new");
        assert_eq!(trend_text(0, 0.0), "–");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
