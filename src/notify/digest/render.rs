//! How the digest looks: text for the terminal and phone-friendly HTML with inline charts,
//! both from askama templates over one view (the HTML one escapes every piece of mention text),
//! and the outbox records per recipient list.

use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::notify::mail::ActionLink;
use crate::store::{DigestRecord, FailedSource, NewAlert, StoredMention};
use crate::text::fnv1a;

use super::report::*;
use super::schedule::*;

/// One decimal, never "-0.0" (a tiny negative rounds to zero).
pub(super) fn one_decimal(v: f64) -> String {
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
pub(super) struct TrendRow {
    name: String,
    count: i64,
    average: String,
    trend: String,
}

/// A count table (by label, by source).
pub(super) struct TrendTable {
    what: &'static str,
    rows: Vec<TrendRow>,
}

/// A chart as the page shows it.
pub(super) struct ChartView {
    src: String,
    alt: String,
    caption: String,
}

/// A first-response line.
pub(super) struct ResponseRow {
    team: String,
    platform: String,
    answered: usize,
    median: String,
    p90: String,
}

/// A complaint or story as the page shows it.
pub(super) struct ItemView {
    id: i64,
    who: String,
    answered: Option<String>,
    text: String,
    url: Option<String>,
    no_link: String,
    /// The link as the text version prints it, whatever its scheme.
    link_text: Option<String>,
    platform: String,
    actions: Vec<ActionLink>,
}

/// The digest as both versions show it: `templates/mail/digest.html` renders it, and
/// [`DigestText`] renders it again as plain text.
#[derive(Template)]
#[template(path = "mail/digest.html")]
pub(super) struct DigestPage {
    subject: String,
    kind: &'static str,
    period: &'static str,
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
    /// Star ratings per review source, one line each.
    ratings: Vec<String>,
    complaints_heading: &'static str,
    complaints: Vec<ItemView>,
    themes: Vec<String>,
    stories_heading: &'static str,
    stories: Vec<ItemView>,
    spikes: Vec<String>,
    failed: Vec<String>,
    has_actions: bool,
}

text_part!(pub(super) DigestText over DigestPage, "mail/digest.txt");

/// Filters the digest's templates use besides askama's own.
mod filters {
    /// `s` on one line, cut to `max` characters with an ellipsis ([`crate::text::one_line`]).
    #[askama::filter_fn]
    pub fn cut(
        s: impl std::fmt::Display,
        _: &dyn askama::Values,
        max: usize,
    ) -> askama::Result<String> {
        Ok(crate::text::one_line(&s.to_string(), max))
    }
}

/// Only web links become clickable.
pub(super) fn web_link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        (l.starts_with("https://") || l.starts_with("http://")) && !u.contains(['\r', '\n'])
    })
}

pub(super) use crate::text::one_line as cut;

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

pub(super) fn signed(v: f64) -> String {
    let r = v.round() as i64;
    match r {
        0 => "0".into(),
        r if r > 0 => format!("+{r}"),
        r => format!("−{}", -r),
    }
}

/// A change of stars with its sign and one decimal: "+0.4", "−1.6", "0.0".
fn signed_tenths(v: f64) -> String {
    let d = one_decimal(v);
    match d.strip_prefix('-') {
        Some(abs) => format!("−{abs}"),
        None if d == "0.0" => d,
        None => format!("+{d}"),
    }
}

pub(super) fn thousands(n: i64) -> String {
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
        crate::notify::mail::header_safe(&subject, 160)
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
    /// "@Tom Richards" for a blog author), then the reach when it is known, the platform, and
    /// a review's stars.
    pub(super) fn author(m: &StoredMention) -> String {
        let name = m
            .mention
            .author_name
            .as_deref()
            .map(crate::notify::mail::strip_bidi);
        let raw = m
            .mention
            .author_handle
            .as_deref()
            .map(crate::notify::mail::strip_bidi);
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
        if let Some(r) = m.mention.author_reach {
            parts.push(match r {
                1 => "1 follower".to_string(),
                r => format!("{} followers", thousands(r)),
            });
        }
        parts.push(format!(
            "{} ({})",
            crate::notify::card::platform_name(&m.kind),
            m.source
        ));
        parts.extend(m.mention.rating.and_then(crate::notify::card::stars));
        parts.join(" · ")
    }

    /// Whether any of `items` has a known reach, so "by reach" is true.
    fn any_reach(items: &[StoredMention]) -> bool {
        items.iter().any(|m| m.mention.author_reach.is_some())
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
                platform: crate::notify::card::platform_name(&r.kind),
                answered: r.answered,
                median: duration_words(r.median),
                p90: duration_words(r.p90),
            })
            .collect()
    }

    /// One line per review source: reviews and average stars in the period, the lookback's
    /// average and the change, and how many gave each number of stars.
    fn rating_lines(&self) -> Vec<String> {
        self.ratings
            .iter()
            .map(|r| {
                let name = format!(
                    "{} ({})",
                    r.source,
                    crate::notify::card::platform_name(&r.kind)
                );
                let reviews = |n: i64| format!("{n} review{}", if n == 1 { "" } else { "s" });
                let now = match r.now.average() {
                    Some(avg) => format!(
                        "{}, {} of 5 stars on average",
                        reviews(r.now.total()),
                        one_decimal(avg)
                    ),
                    None => "no reviews".into(),
                };
                let before = match (r.before.average(), r.now.average()) {
                    (Some(b), Some(n)) => format!(
                        " (previous {} days: {} over {}, {})",
                        self.lookback_days,
                        one_decimal(b),
                        reviews(r.before.total()),
                        signed_tenths(n - b)
                    ),
                    (Some(b), None) => format!(
                        " (previous {} days: {} over {})",
                        self.lookback_days,
                        one_decimal(b),
                        reviews(r.before.total())
                    ),
                    (None, _) => format!(" (none in the previous {} days)", self.lookback_days),
                };
                let spread: Vec<String> = (1..=5)
                    .zip(r.now.counts)
                    .filter(|(_, n)| *n > 0)
                    .map(|(stars, n)| format!("{stars}★ {n}"))
                    .collect();
                if spread.is_empty() {
                    format!("{name}: {now}{before}")
                } else {
                    format!("{name}: {now}{before}; {}", spread.join(" · "))
                }
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
    fn answered(&self, m: &StoredMention) -> String {
        match (m.handling.answered_at, &m.handling.answered_by) {
            (Some(t), Some(by)) => {
                format!("answered (marked by {}, {})", cut(by, 40), self.local(t))
            }
            (Some(t), None) => format!("answered (marked {})", self.local(t)),
            _ => "not marked answered".into(),
        }
    }

    fn snippet(m: &StoredMention) -> String {
        let t = m.full_text(": ");
        cut(&crate::notify::mail::strip_bidi(&t), 280)
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

    /// The plain-text version: the same view as the HTML one, from `templates/mail/digest.txt`.
    pub fn render_text(&self) -> String {
        let page = self.view(None);
        // Rendering fails only on a formatter error, which String writing never returns.
        DigestText { page: &page }.render().unwrap_or_default()
    }
    /// The plain-text version.
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

    fn item(&self, m: &StoredMention, answered: bool) -> ItemView {
        ItemView {
            id: m.id,
            who: Self::author(m),
            answered: answered.then(|| self.answered(m)),
            text: Self::snippet(m),
            url: web_link(m.mention.url.as_deref()).map(str::to_string),
            no_link: match &m.mention.url {
                Some(u) => format!("{} (not a web address)", cut(u, 300)),
                None => "no link".into(),
            },
            link_text: m.mention.url.as_deref().map(|u| cut(u, 300)),
            platform: crate::notify::card::platform_name(&m.kind),
            actions: self.actions_of(m.id),
        }
    }

    /// The charts as PNG data: URIs (the mail turns them into `cid:` parts). A chart that
    /// cannot be drawn is left out and logged; the digest goes out without it.
    fn charts(&self) -> (Option<ChartView>, Option<ChartView>) {
        let view = |png: Result<Option<Vec<u8>>, crate::notify::chart::ChartError>,
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
            crate::notify::chart::volume_png(&self.volume_days),
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
            crate::notify::chart::sentiment_png(&self.net_days),
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
        let page = self.view(Some(self.charts()));
        // Rendering fails only on a formatter error, which String writing never returns.
        page.render().unwrap_or_default()
    }

    /// What both versions show; `charts` only for the HTML one, which draws them.
    fn view(&self, charts: Option<(Option<ChartView>, Option<ChartView>)>) -> DigestPage {
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
        let (volume_chart, net_chart) = charts.unwrap_or_default();
        DigestPage {
            subject: self.subject(),
            kind: match self.period {
                Period::Daily => "Daily",
                Period::Weekly => "Weekly",
            },
            period: self.period.as_str(),
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
            ratings: self.rating_lines(),
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
        }
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
                    fnv1a(format!("{}\n{}", list.name, to.to_lowercase())),
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
