//! What the digest says: the period's volume against the days before, net sentiment, the
//! best-reached complaints, the complaint themes that rose, SLA outcomes and response times,
//! computed from the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::classify::Label;
use crate::notify::chart::{DayNet, DayVolume};
use crate::notify::mail::ActionLink;
use crate::notify::stopwords::StopWords;
use crate::store::{
    Backend, FailedSource, FirstResponse, MentionOrder, MentionQuery, RatingCount, SpikeEpisode,
    StoreError, StoredMention, VolumeRow,
};

use super::schedule::*;

/// A mention reads as positive (or negative) beyond this sentiment, whatever its label.
pub const SENTIMENT_CUE: f64 = 0.25;

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
    pub complaints: Vec<StoredMention>,
    /// Complaint themes that rose most.
    pub themes: Vec<Theme>,
    /// Best-reached praise.
    pub stories: Vec<StoredMention>,
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
    /// Star ratings per review source: the period against the lookback days.
    pub ratings: Vec<Ratings>,
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

/// How many reviews gave each number of stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stars {
    /// Reviews with 1, 2, 3, 4 and 5 stars.
    pub counts: [i64; 5],
}

impl Stars {
    /// Reviews counted.
    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// The mean number of stars, or `None` without reviews.
    pub fn average(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| {
            let stars: i64 = (1..).zip(self.counts).map(|(s, n)| s * n).sum();
            stars as f64 / total as f64
        })
    }
}

/// One review source's star ratings in the period and over the lookback days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ratings {
    /// Source name.
    pub source: String,
    /// The source's kind (the platform).
    pub kind: String,
    /// In the period.
    pub now: Stars,
    /// Over the lookback days.
    pub before: Stars,
}

/// Star ratings per source, in source order, from the period's counts and the lookback's.
pub fn ratings(now_rows: &[RatingCount], before_rows: &[RatingCount]) -> Vec<Ratings> {
    let mut by_source: BTreeMap<(&str, &str), Ratings> = BTreeMap::new();
    for (rows, is_now) in [(now_rows, true), (before_rows, false)] {
        for r in rows {
            let Some(i) = usize::try_from(r.rating - 1).ok().filter(|i| *i < 5) else {
                continue;
            };
            let entry = by_source
                .entry((r.source.as_str(), r.kind.as_str()))
                .or_insert_with(|| Ratings {
                    source: r.source.clone(),
                    kind: r.kind.clone(),
                    now: Stars::default(),
                    before: Stars::default(),
                });
            let stars = if is_now {
                &mut entry.now
            } else {
                &mut entry.before
            };
            stars.counts[i] += r.count;
        }
    }
    by_source.into_values().collect()
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
pub(super) fn daily_series(
    store: &dyn Backend,
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
    store: &dyn Backend,
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
        complaints: top_by_reach(store, (a, b), Label::Complaint, s.top)?,
        themes,
        stories: top_by_reach(store, (a, b), Label::Praise, s.top)?,
        spikes: store.spikes_started(a, b)?,
        failed: store.failed_sources(a, b)?,
        late_since: None,
        volume_days,
        net_days,
        sla,
        responses: response_times(&store.first_responses(a, b)?),
        ratings: ratings(
            &store.ratings(a, b)?,
            &store.ratings(before.start.timestamp(), before.end.timestamp())?,
        ),
        actions: HashMap::new(),
    })
}

/// Mention counts of the period against the days before (scaled to the period's length), per
/// label and source, and the net sentiment of both.
pub(super) struct Volumes {
    total: Trend,
    by_label: Vec<Trend>,
    by_source: Vec<Trend>,
    net: NetSentiment,
    net_before: NetSentiment,
}

/// Non-spam mentions labelled `label` posted in `[start, end)`, the best-reached first.
fn top_by_reach(
    store: &dyn Backend,
    (start, end): (i64, i64),
    label: Label,
    limit: usize,
) -> Result<Vec<StoredMention>, StoreError> {
    store.mentions(
        &MentionQuery::new()
            .posted(start, end)
            .label(label)
            .no_spam()
            .order(MentionOrder::Reach)
            .limit(limit),
    )
}

/// Adds up the period's and the previous days' volume rows; spam counts under its own label and
/// never in the sentiment.
pub(super) fn volumes(now_rows: &[VolumeRow], before_rows: &[VolumeRow], scale: f64) -> Volumes {
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
pub(super) fn sla_outcomes(
    store: &dyn Backend,
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

pub(super) use crate::text::reader_words as words;

/// Terms and two-word phrases per complaint (each counted once per complaint).
pub(super) fn complaint_terms(
    text: &str,
    stop: &StopWords,
    brand: &HashSet<String>,
) -> HashSet<String> {
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
