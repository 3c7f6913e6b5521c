//! Routing: which team hears about a mention. Teams and ordered rules come from the config; a
//! rule's conditions are all ANDed, the first rule that matches decides (unless it says
//! `continue`), and a built-in default sends complaints and questions to the first team. Every
//! decision carries the reasons, so `webcare route` can show them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};

use super::webhook::{Webhook, WebhookConfig};
use crate::classify::Label;
use crate::config::ConfigErrors;
use crate::query::{Doc, Query};

/// `[[teams]]`: people who receive alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Name used by rules (`team = "webcare"`) and in alerts.
    pub name: String,
    /// Recipients; every one gets their own copy of each alert.
    #[serde(default)]
    pub emails: Vec<String>,
    /// IANA time zone for quiet hours, e.g. `Europe/Amsterdam`.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// `"22:00-07:00"`: non-urgent alerts wait until the end of this span.
    pub quiet_hours: Option<String>,
    /// At most this many alerts per recipient per hour; the rest wait for the next hour.
    pub max_alerts_per_hour: Option<u32>,
    /// Also post every alert to this webhook (Slack, Teams or generic JSON).
    pub webhook: Option<WebhookConfig>,
    /// First-response target for its complaints and questions (see `notify::sla`).
    pub sla: Option<crate::config::DurationValue>,
    /// Who hears when a mention misses the target; the team's own `emails` when empty.
    #[serde(default)]
    pub escalate_to: Vec<String>,
}

fn default_tz() -> String {
    "UTC".into()
}

/// What a matching rule does with the mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Send an alert to the rule's team.
    #[default]
    Alert,
    /// No alert; the mention shows up in the digest only.
    Digest,
    /// Neither alert nor digest.
    Drop,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Digest => "digest only",
            Action::Drop => "drop",
        }
    }
}

/// `[[routes]]`: one rule. Conditions left out match everything.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Shown in alerts and by `webcare route`; defaults to `routes[N]`.
    pub name: Option<String>,
    /// Any of these labels: complaint, question, praise, neutral.
    #[serde(default, deserialize_with = "one_or_many")]
    pub label: Vec<String>,
    /// `urgent` or `normal`.
    pub urgency: Option<String>,
    /// Sentiment at or above this (−1 … 1).
    pub sentiment_min: Option<f64>,
    /// Sentiment at or below this (−1 … 1).
    pub sentiment_max: Option<f64>,
    /// Any of these languages.
    #[serde(default, deserialize_with = "one_or_many")]
    pub language: Vec<String>,
    /// Any of these source names.
    #[serde(default, deserialize_with = "one_or_many")]
    pub source: Vec<String>,
    /// Any of these watch names.
    #[serde(default, deserialize_with = "one_or_many")]
    pub watch: Vec<String>,
    /// Any of these topics from `[topics]`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub topic: Vec<String>,
    /// A review's star rating at least this (1 … 5); posts and comments have none and do not
    /// match.
    pub stars_min: Option<u8>,
    /// A review's star rating at most this (1 … 5), e.g. 2 for the reviews an app team answers.
    pub stars_max: Option<u8>,
    /// Author reach (followers) at least this.
    pub min_reach: Option<i64>,
    /// Any of these author handles (case-insensitive, `@` optional).
    #[serde(default, deserialize_with = "one_or_many")]
    pub author: Vec<String>,
    /// Also match mentions the classifier marked as spam.
    #[serde(default)]
    pub include_spam: bool,
    /// Also match mentions read on a source's first poll (history, not news).
    #[serde(default)]
    pub include_backfill: bool,
    /// alert (default), digest, drop.
    #[serde(default)]
    pub action: Action,
    /// The team to alert; required for `action = "alert"`.
    pub team: Option<String>,
    /// Keep looking at the rules after this one.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A team, validated.
#[derive(Debug, Clone)]
pub struct Team {
    /// Its name.
    pub name: String,
    /// Its recipients.
    pub emails: Vec<String>,
    /// Its time zone.
    pub tz: Tz,
    /// Quiet hours as local `[start, end)`; may wrap midnight.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    /// Hourly cap per recipient.
    pub max_alerts_per_hour: Option<u32>,
    /// Optional webhook channel.
    pub webhook: Option<Webhook>,
}

impl Team {
    /// When a non-urgent alert created at `now` may go out: `now`, or the end of the quiet
    /// hours it falls in. DST-safe: the end is found in local time and mapped back, taking the
    /// earliest instant when the local time is ambiguous and the next valid one in a gap.
    pub fn release_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some((start, end)) = self.quiet else {
            return now;
        };
        let local = now.with_timezone(&self.tz);
        let t = local.time();
        let quiet = if start <= end {
            t >= start && t < end
        } else {
            t >= start || t < end
        };
        if !quiet {
            return now;
        }
        let mut day = local.date_naive();
        if start > end && t >= start {
            day = day.succ_opt().unwrap_or(day);
        }
        let mut naive = day.and_time(end);
        for _ in 0..4 {
            if let Some(dt) = self.tz.from_local_datetime(&naive).earliest() {
                return dt.with_timezone(&Utc);
            }
            naive += chrono::Duration::minutes(30);
        }
        now
    }
}

/// What is known about a mention when routing it.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// Title and text.
    pub text: String,
    /// Source name.
    pub source: String,
    /// Watches it matched.
    pub watches: Vec<String>,
    /// Language.
    pub lang: Option<String>,
    /// Author handle.
    pub author: Option<String>,
    /// Link.
    pub url: Option<String>,
    /// Followers.
    pub reach: Option<i64>,
    /// Classifier label (or staff's correction).
    pub label: Label,
    /// Sentiment in [-1, 1].
    pub sentiment: f64,
    /// Classifier urgency.
    pub urgent: bool,
    /// Classifier spam flag.
    pub spam: bool,
    /// Read on a source's first poll.
    pub backfill: bool,
    /// A review's star rating (1 to 5); `None` for posts and comments.
    pub rating: Option<u8>,
}

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    /// The rule's name.
    pub rule: String,
    /// What it does.
    pub action: Action,
    /// The team, for alerts.
    pub team: Option<String>,
    /// Why it matched, condition by condition.
    pub why: Vec<String>,
}

/// How one rule judged a mention, for `webcare route`.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The rule's name.
    pub rule: String,
    /// `Ok(reasons)` when it matched, `Err(the first condition that failed)` otherwise.
    pub outcome: Result<Vec<String>, String>,
}

/// A routing decision: the rules that matched, in order, and how every rule judged.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The rules that apply (usually one).
    pub matched: Vec<Matched>,
    /// Every rule looked at, in order; rules after the deciding one are not listed.
    pub trace: Vec<Verdict>,
}

impl Decision {
    /// The teams to alert, without repeats, in rule order, with the rule that chose each.
    pub fn alerts(&self) -> Vec<(&str, &Matched)> {
        let mut out: Vec<(&str, &Matched)> = Vec::new();
        if self.matched.iter().any(|m| m.action == Action::Drop) {
            return out;
        }
        for m in &self.matched {
            if let (Action::Alert, Some(t)) = (m.action, m.team.as_deref())
                && !out.iter().any(|(x, _)| *x == t)
            {
                out.push((t, m));
            }
        }
        out
    }

    /// One line per rule looked at, for people.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for v in &self.trace {
            match &v.outcome {
                Ok(why) => {
                    let m = self.matched.iter().find(|m| m.rule == v.rule);
                    let what = m
                        .map(|m| match (&m.action, &m.team) {
                            (Action::Alert, Some(t)) => format!("alert team {t}"),
                            (a, _) => a.as_str().to_string(),
                        })
                        .unwrap_or_default();
                    s.push_str(&format!("MATCH  {}: {what}\n", v.rule));
                    for w in why {
                        s.push_str(&format!("         {w}\n"));
                    }
                }
                Err(why) => s.push_str(&format!("no     {}: {why}\n", v.rule)),
            }
        }
        if self.matched.is_empty() {
            s.push_str("=> no rule matched: no alert\n");
        } else if self.alerts().is_empty() {
            s.push_str("=> no alert\n");
        } else {
            let teams: Vec<&str> = self.alerts().iter().map(|(t, _)| *t).collect();
            s.push_str(&format!("=> alert {}\n", teams.join(", ")));
        }
        s
    }
}

struct Route {
    name: String,
    cfg: RouteConfig,
    topics: Vec<(String, Query)>,
}

/// Teams, topics and rules, compiled once.
pub struct Router {
    teams: Vec<Team>,
    routes: Vec<Route>,
}

/// Name of the built-in rule that applies when no configured rule matched.
pub const DEFAULT_RULE: &str = "default (complaints and questions to the first team)";

const LABELS: &[&str] = &["complaint", "question", "praise", "neutral"];

/// Turns a topic's keyword list into a query: single words (optionally ending in `*`) as they
/// are, anything longer as a quoted phrase.
fn topic_query(terms: &[String]) -> Result<Query, String> {
    let parts: Vec<String> = terms
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let word = t.trim_end_matches('*');
            if !word.is_empty() && word.chars().all(char::is_alphanumeric) {
                t.to_string()
            } else {
                format!("\"{}\"", t.replace('"', ""))
            }
        })
        .collect();
    if parts.is_empty() {
        return Err("a topic needs at least one keyword".into());
    }
    Query::parse(&parts.join(" OR ")).map_err(|e| e.to_string())
}

fn parse_quiet(s: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
    let b = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
    (a != b).then_some((a, b))
}

/// The names a rule may refer to, for checking its references.
struct Known<'a> {
    teams: &'a [TeamConfig],
    topics: &'a BTreeMap<String, Query>,
    watches: &'a [String],
    sources: &'a [String],
}

/// Checks and compiles `teams[i]`; `teams` is the whole list, for names defined twice.
fn compile_team(i: usize, t: &TeamConfig, teams: &[TeamConfig], errors: &mut ConfigErrors) -> Team {
    let path = format!("teams[{i}]");
    if t.name.trim().is_empty() {
        errors.push(format!("{path}.name"), "must not be empty");
    }
    if teams[..i].iter().any(|o| o.name == t.name) {
        errors.push(
            format!("{path}.name"),
            format!("team \"{}\" is defined twice", t.name),
        );
    }
    if t.emails.is_empty() && t.webhook.is_none() {
        errors.push(
            format!("{path}.emails"),
            "list at least one address, or give the team a webhook",
        );
    }
    let webhook = t
        .webhook
        .as_ref()
        .and_then(|w| w.validate(&format!("{path}.webhook"), errors));
    for (j, e) in t.emails.iter().enumerate() {
        if e.parse::<lettre::Address>().is_err() {
            errors.push(
                format!("{path}.emails[{j}]"),
                format!("\"{e}\" is not an email address"),
            );
        }
    }
    let (tz, quiet) = team_hours(&path, t, errors);
    if t.max_alerts_per_hour == Some(0) {
        errors.push(
            format!("{path}.max_alerts_per_hour"),
            "must be at least 1; leave it out for no cap",
        );
    }
    Team {
        name: t.name.clone(),
        emails: t.emails.clone(),
        tz,
        quiet,
        max_alerts_per_hour: t.max_alerts_per_hour,
        webhook,
    }
}

/// A team's time zone and quiet hours; UTC and none where they do not parse.
fn team_hours(
    path: &str,
    t: &TeamConfig,
    errors: &mut ConfigErrors,
) -> (Tz, Option<(NaiveTime, NaiveTime)>) {
    let tz = match t.time_zone.parse::<Tz>() {
        Ok(tz) => tz,
        Err(_) => {
            errors.push(
                format!("{path}.time_zone"),
                format!(
                    "unknown time zone \"{}\"; use an IANA name such as \"Europe/Amsterdam\"",
                    t.time_zone
                ),
            );
            Tz::UTC
        }
    };
    let quiet = match &t.quiet_hours {
        None => None,
        Some(q) => {
            let parsed = parse_quiet(q);
            if parsed.is_none() {
                errors.push(
                    format!("{path}.quiet_hours"),
                    format!("\"{q}\" is not a time span; use e.g. \"22:00-07:00\""),
                );
            }
            parsed
        }
    };
    (tz, quiet)
}

/// Checks and compiles `routes[i]`.
fn compile_route(i: usize, r: &RouteConfig, known: &Known, errors: &mut ConfigErrors) -> Route {
    let path = format!("routes[{i}]");
    check_route_verdicts(&path, r, errors);
    check_route_references(&path, r, known, errors);
    let topics = route_topics(&path, r, known, errors);
    check_route_team(&path, r, known, errors);
    Route {
        name: r.name.clone().unwrap_or(path),
        cfg: r.clone(),
        topics,
    }
}

/// The compiled topics a rule names; each unknown one is an error.
fn route_topics(
    path: &str,
    r: &RouteConfig,
    known: &Known,
    errors: &mut ConfigErrors,
) -> Vec<(String, Query)> {
    let mut topics = Vec::new();
    for t in &r.topic {
        match known.topics.get(t) {
            Some(q) => topics.push((t.clone(), q.clone())),
            None => errors.push(
                format!("{path}.topic"),
                format!("no topic \"{t}\" in [topics]"),
            ),
        }
    }
    topics
}

/// The verdicts a rule matches on must be ones the classifier gives.
fn check_route_verdicts(path: &str, r: &RouteConfig, errors: &mut ConfigErrors) {
    for l in &r.label {
        if !LABELS.contains(&l.as_str()) {
            errors.push(
                format!("{path}.label"),
                format!("unknown label \"{l}\"; known labels: {}", LABELS.join(", ")),
            );
        }
    }
    if let Some(u) = &r.urgency
        && u != "urgent"
        && u != "normal"
    {
        errors.push(
            format!("{path}.urgency"),
            format!("\"{u}\" is not an urgency; use \"urgent\" or \"normal\""),
        );
    }
    for (key, v) in [
        ("sentiment_min", r.sentiment_min),
        ("sentiment_max", r.sentiment_max),
    ] {
        if v.is_some_and(|v| !(-1.0..=1.0).contains(&v)) {
            errors.push(
                format!("{path}.{key}"),
                "must be between -1 and 1".to_string(),
            );
        }
    }
    for (key, v) in [("stars_min", r.stars_min), ("stars_max", r.stars_max)] {
        if v.is_some_and(|v| !(1..=5).contains(&v)) {
            errors.push(format!("{path}.{key}"), "must be 1 to 5 (stars)");
        }
    }
    if let (Some(lo), Some(hi)) = (r.stars_min, r.stars_max)
        && lo > hi
    {
        errors.push(
            format!("{path}.stars_min"),
            format!("{lo} is above stars_max {hi}: no review could match"),
        );
    }
}

/// The watches and sources a rule names must exist.
fn check_route_references(path: &str, r: &RouteConfig, known: &Known, errors: &mut ConfigErrors) {
    for w in &r.watch {
        if !known.watches.contains(w) {
            errors.push(
                format!("{path}.watch"),
                format!("no watch is named \"{w}\""),
            );
        }
    }
    for s in &r.source {
        if !known.sources.contains(s) {
            errors.push(
                format!("{path}.source"),
                format!("no source is named \"{s}\""),
            );
        }
    }
}

/// An alert rule needs a team, and the team it names must exist.
fn check_route_team(path: &str, r: &RouteConfig, known: &Known, errors: &mut ConfigErrors) {
    match (&r.action, &r.team) {
        (Action::Alert, None) => errors.push(
            format!("{path}.team"),
            "an alert rule needs a team; or set action = \"digest\" or \"drop\"",
        ),
        (_, Some(t)) if !known.teams.iter().any(|x| &x.name == t) => errors.push(
            format!("{path}.team"),
            format!("no team is named \"{t}\" in [[teams]]"),
        ),
        _ => {}
    }
}

impl Router {
    /// Validates and compiles teams, topics and rules, recording problems with their key path.
    /// `watches` and `sources` are the configured names, for checking references.
    pub fn compile(
        teams: &[TeamConfig],
        routes: &[RouteConfig],
        topics: &BTreeMap<String, Vec<String>>,
        watches: &[String],
        sources: &[String],
        errors: &mut ConfigErrors,
    ) -> Router {
        let compiled_teams = teams
            .iter()
            .enumerate()
            .map(|(i, t)| compile_team(i, t, teams, errors))
            .collect();
        let mut compiled_topics = BTreeMap::new();
        for (name, terms) in topics {
            match topic_query(terms) {
                Ok(q) => {
                    compiled_topics.insert(name.clone(), q);
                }
                Err(e) => errors.push(format!("topics.{name}"), e),
            }
        }
        let known = Known {
            teams,
            topics: &compiled_topics,
            watches,
            sources,
        };
        let mut compiled: Vec<Route> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| compile_route(i, r, &known, errors))
            .collect();
        if let Some(first) = teams.first() {
            compiled.push(Route {
                name: DEFAULT_RULE.into(),
                cfg: RouteConfig {
                    label: vec!["complaint".into(), "question".into()],
                    team: Some(first.name.clone()),
                    ..Default::default()
                },
                topics: Vec::new(),
            });
        }
        Router {
            teams: compiled_teams,
            routes: compiled,
        }
    }

    /// The teams, in config order.
    pub fn teams(&self) -> &[Team] {
        &self.teams
    }

    /// A team by name.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }

    /// Decides what happens to `s`. The default rule is looked at only when no configured
    /// rule matched.
    pub fn decide(&self, s: &Subject) -> Decision {
        let doc = Doc::new(
            &s.text,
            s.author.as_deref(),
            s.url.as_deref(),
            s.lang.as_deref(),
        );
        let mut d = Decision::default();
        for r in &self.routes {
            if r.name == DEFAULT_RULE && !d.matched.is_empty() {
                break;
            }
            let outcome = judge(r, s, &doc);
            let stop = outcome.is_ok() && !r.cfg.continue_;
            if let Ok(why) = &outcome {
                d.matched.push(Matched {
                    rule: r.name.clone(),
                    action: r.cfg.action,
                    team: r.cfg.team.clone(),
                    why: why.clone(),
                });
            }
            d.trace.push(Verdict {
                rule: r.name.clone(),
                outcome,
            });
            if stop {
                break;
            }
        }
        d
    }
}

fn judge(r: &Route, s: &Subject, doc: &Doc) -> Result<Vec<String>, String> {
    let c = &r.cfg;
    if s.spam && !c.include_spam {
        return Err("marked as spam (set include_spam = true to match it)".into());
    }
    if s.backfill && !c.include_backfill {
        return Err(
            "read on the source's first poll (backfill; set include_backfill = true to match it)"
                .into(),
        );
    }
    let mut why = Vec::new();
    judge_verdict(c, s, &mut why)?;
    judge_place(r, s, doc, &mut why)?;
    judge_author(c, s, &mut why)?;
    if why.is_empty() {
        why.push("the rule has no conditions".into());
    }
    Ok(why)
}

/// What the classifier (or staff) and the reviewer said: label, urgency, sentiment, stars.
fn judge_verdict(c: &RouteConfig, s: &Subject, why: &mut Vec<String>) -> Result<(), String> {
    if !c.label.is_empty() {
        if !c.label.iter().any(|l| l == s.label.as_str()) {
            return Err(format!(
                "label is {}, rule wants {}",
                s.label,
                c.label.join(" or ")
            ));
        }
        why.push(format!("label is {}", s.label));
    }
    if let Some(u) = &c.urgency {
        let is = if s.urgent { "urgent" } else { "normal" };
        if u != is {
            return Err(format!("urgency is {is}, rule wants {u}"));
        }
        why.push(format!("urgency is {is}"));
    }
    if let Some(min) = c.sentiment_min {
        if s.sentiment < min {
            return Err(format!("sentiment {:+.2} is below {min:+.2}", s.sentiment));
        }
        why.push(format!("sentiment {:+.2} ≥ {min:+.2}", s.sentiment));
    }
    if let Some(max) = c.sentiment_max {
        if s.sentiment > max {
            return Err(format!("sentiment {:+.2} is above {max:+.2}", s.sentiment));
        }
        why.push(format!("sentiment {:+.2} ≤ {max:+.2}", s.sentiment));
    }
    if c.stars_min.is_some() || c.stars_max.is_some() {
        let (lo, hi) = (c.stars_min.unwrap_or(1), c.stars_max.unwrap_or(5));
        let want = if lo == hi {
            stars_words(lo)
        } else {
            format!("{lo} to {hi} stars")
        };
        match s.rating {
            Some(n) if (lo..=hi).contains(&n) => why.push(format!("rated {}", stars_words(n))),
            Some(n) => return Err(format!("rated {}, rule wants {want}", stars_words(n))),
            None => return Err(format!("no star rating (not a review), rule wants {want}")),
        }
    }
    Ok(())
}

fn stars_words(n: u8) -> String {
    if n == 1 {
        "1 star".into()
    } else {
        format!("{n} stars")
    }
}

/// Where it was found and what it is about: language, source, watch, topics.
fn judge_place(r: &Route, s: &Subject, doc: &Doc, why: &mut Vec<String>) -> Result<(), String> {
    let c = &r.cfg;
    if !c.language.is_empty() {
        let lang = s.lang.as_deref().unwrap_or("unknown");
        let primary = lang.split(['-', '_']).next().unwrap_or(lang);
        if !c.language.iter().any(|l| l.eq_ignore_ascii_case(primary)) {
            return Err(format!(
                "language is {lang}, rule wants {}",
                c.language.join(" or ")
            ));
        }
        why.push(format!("language is {lang}"));
    }
    if !c.source.is_empty() {
        if !c.source.contains(&s.source) {
            return Err(format!(
                "source is {}, rule wants {}",
                s.source,
                c.source.join(" or ")
            ));
        }
        why.push(format!("source is {}", s.source));
    }
    if !c.watch.is_empty() {
        let Some(w) = c.watch.iter().find(|w| s.watches.contains(w)) else {
            return Err(format!(
                "matched watch {}, rule wants {}",
                if s.watches.is_empty() {
                    "none".to_string()
                } else {
                    s.watches.join(", ")
                },
                c.watch.join(" or ")
            ));
        };
        why.push(format!("matched watch {w}"));
    }
    if !r.topics.is_empty() {
        let Some((t, _)) = r.topics.iter().find(|(_, q)| q.matches(doc)) else {
            return Err(format!(
                "no keyword of topic {}",
                r.topics
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        };
        why.push(format!("mentions topic {t}"));
    }
    Ok(())
}

/// Who wrote it: reach and handle.
fn judge_author(c: &RouteConfig, s: &Subject, why: &mut Vec<String>) -> Result<(), String> {
    if let Some(min) = c.min_reach {
        match s.reach {
            Some(n) if n >= min => why.push(format!("author reach {n} ≥ {min}")),
            Some(n) => return Err(format!("author reach {n} is below {min}")),
            None => return Err(format!("author reach unknown, rule wants ≥ {min}")),
        }
    }
    if !c.author.is_empty() {
        let norm = |a: &str| a.trim_start_matches('@').to_lowercase();
        let me = s.author.as_deref().map(norm).unwrap_or_default();
        if !c.author.iter().any(|a| norm(a) == me) {
            return Err(format!(
                "author is {}, rule wants {}",
                s.author.as_deref().unwrap_or("unknown"),
                c.author.join(" or ")
            ));
        }
        why.push(format!("author is {me}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(name: &str) -> TeamConfig {
        TeamConfig {
            name: name.into(),
            emails: vec![format!("{name}@example.com")],
            time_zone: "Europe/Amsterdam".into(),
            quiet_hours: Some("22:00-07:00".into()),
            max_alerts_per_hour: None,
            webhook: None,
            sla: None,
            escalate_to: Vec::new(),
        }
    }

    fn router(routes: Vec<RouteConfig>) -> Router {
        let mut errors = ConfigErrors::default();
        let topics = BTreeMap::from([(
            "pricing".to_string(),
            vec!["prijs*".to_string(), "too expensive".to_string()],
        )]);
        let r = Router::compile(
            &[team("webcare"), team("sales")],
            &routes,
            &topics,
            &["Fjordlink".into()],
            &["forum".into()],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors}");
        r
    }

    fn complaint(text: &str) -> Subject {
        Subject {
            text: text.into(),
            source: "forum".into(),
            watches: vec!["Fjordlink".into()],
            lang: Some("nl".into()),
            label: Label::Complaint,
            sentiment: -0.6,
            ..Default::default()
        }
    }

    #[test]
    fn complaints_and_questions_go_to_the_first_team_by_default() {
        let r = router(vec![]);
        let d = r.decide(&complaint("Fjordlink storing"));
        assert_eq!(d.alerts()[0].0, "webcare");
        assert_eq!(d.matched[0].rule, DEFAULT_RULE);
        let mut praise = complaint("top service");
        praise.label = Label::Praise;
        assert!(r.decide(&praise).alerts().is_empty());
    }

    #[test]
    fn spam_and_backfill_raise_no_alert_unless_a_rule_says_so() {
        let r = router(vec![]);
        let mut s = complaint("Fjordlink storing");
        s.spam = true;
        let d = r.decide(&s);
        assert!(d.alerts().is_empty());
        assert!(d.explain().contains("spam"), "{}", d.explain());
        let mut s = complaint("Fjordlink storing");
        s.backfill = true;
        assert!(r.decide(&s).alerts().is_empty());
        let r = router(vec![RouteConfig {
            include_backfill: true,
            label: vec!["complaint".into()],
            team: Some("sales".into()),
            ..Default::default()
        }]);
        assert_eq!(r.decide(&s).alerts()[0].0, "sales");
    }

    #[test]
    fn the_first_matching_rule_wins_unless_it_continues() {
        let pricing = RouteConfig {
            name: Some("pricing".into()),
            topic: vec!["pricing".into()],
            team: Some("sales".into()),
            ..Default::default()
        };
        let r = router(vec![pricing.clone()]);
        let d = r.decide(&complaint("De prijsverhoging van Fjordlink"));
        assert_eq!(
            d.alerts().iter().map(|a| a.0).collect::<Vec<_>>(),
            ["sales"]
        );
        assert!(d.matched[0].why.contains(&"mentions topic pricing".into()));

        let r = router(vec![RouteConfig {
            continue_: true,
            ..pricing
        }]);
        let d = r.decide(&complaint("Fjordlink is too expensive"));
        // A continuing rule lets later rules add to it; the default applies only when none did.
        assert_eq!(
            d.alerts().iter().map(|a| a.0).collect::<Vec<_>>(),
            ["sales"]
        );
        let r = router(vec![
            RouteConfig {
                continue_: true,
                topic: vec!["pricing".into()],
                team: Some("sales".into()),
                ..Default::default()
            },
            RouteConfig {
                label: vec!["complaint".into()],
                team: Some("webcare".into()),
                ..Default::default()
            },
        ]);
        let d = r.decide(&complaint("Fjordlink is too expensive"));
        assert_eq!(
            d.alerts().iter().map(|a| a.0).collect::<Vec<_>>(),
            ["sales", "webcare"]
        );
    }

    #[test]
    fn a_drop_rule_silences_the_mention_and_says_why_others_did_not_match() {
        let r = router(vec![
            RouteConfig {
                name: Some("big accounts".into()),
                min_reach: Some(10_000),
                team: Some("sales".into()),
                ..Default::default()
            },
            RouteConfig {
                name: Some("ignore danish".into()),
                language: vec!["da".into()],
                action: Action::Drop,
                ..Default::default()
            },
        ]);
        let mut s = complaint("Fjordlink nedbrud");
        s.lang = Some("da".into());
        s.reach = Some(120);
        let d = r.decide(&s);
        assert!(d.alerts().is_empty());
        let text = d.explain();
        assert!(
            text.contains("no     big accounts: author reach 120 is below 10000"),
            "{text}"
        );
        assert!(text.contains("MATCH  ignore danish: drop"), "{text}");
    }

    #[test]
    fn low_star_reviews_go_to_the_app_team_and_posts_never_match_a_star_rule() {
        let r = router(vec![RouteConfig {
            name: Some("bad reviews".into()),
            stars_max: Some(2),
            team: Some("sales".into()),
            ..Default::default()
        }]);
        let mut review = complaint("Inloggen lukt niet meer");
        review.rating = Some(1);
        let d = r.decide(&review);
        assert_eq!(
            d.alerts().iter().map(|a| a.0).collect::<Vec<_>>(),
            ["sales"]
        );
        assert!(d.explain().contains("rated 1 star"), "{}", d.explain());
        review.rating = Some(3);
        let text = r.decide(&review).explain();
        assert!(
            text.contains("no     bad reviews: rated 3 stars, rule wants 1 to 2 stars"),
            "{text}"
        );
        let text = r.decide(&complaint("Inloggen lukt niet meer")).explain();
        assert!(
            text.contains("no star rating (not a review), rule wants 1 to 2 stars"),
            "{text}"
        );
    }

    #[test]
    fn star_conditions_outside_one_to_five_or_crossed_are_config_errors() {
        let route = |lo, hi| RouteConfig {
            stars_min: lo,
            stars_max: hi,
            team: Some("sales".into()),
            ..Default::default()
        };
        let said = |r: RouteConfig| {
            let mut errors = ConfigErrors::default();
            check_route_verdicts("routes[0]", &r, &mut errors);
            if errors.is_empty() {
                String::new()
            } else {
                errors.to_string()
            }
        };
        assert!(said(route(Some(0), None)).contains("routes[0].stars_min: must be 1 to 5"));
        assert!(said(route(None, Some(6))).contains("routes[0].stars_max: must be 1 to 5"));
        assert!(
            said(route(Some(4), Some(2)))
                .contains("routes[0].stars_min: 4 is above stars_max 2: no review could match")
        );
        assert!(said(route(Some(5), Some(5))).is_empty());
    }

    #[test]
    fn sentiment_urgency_and_author_conditions() {
        let r = router(vec![RouteConfig {
            urgency: Some("urgent".into()),
            sentiment_max: Some(-0.5),
            author: vec!["@Journalist".into()],
            team: Some("sales".into()),
            ..Default::default()
        }]);
        let mut s = complaint("Fjordlink down again");
        s.author = Some("journalist".into());
        s.urgent = true;
        assert_eq!(r.decide(&s).alerts()[0].0, "sales");
        s.sentiment = -0.2;
        assert_eq!(r.decide(&s).alerts()[0].0, "webcare");
    }

    #[test]
    fn bad_rules_are_reported_with_their_key_path() {
        let mut errors = ConfigErrors::default();
        Router::compile(
            &[TeamConfig {
                time_zone: "Mars/Olympus".into(),
                quiet_hours: Some("late".into()),
                emails: vec!["not an address".into()],
                ..team("webcare")
            }],
            &[RouteConfig {
                label: vec!["angry".into()],
                topic: vec!["nope".into()],
                team: Some("ghosts".into()),
                ..Default::default()
            }],
            &BTreeMap::new(),
            &[],
            &[],
            &mut errors,
        );
        let text = errors.to_string();
        for key in [
            "teams[0].time_zone",
            "teams[0].quiet_hours",
            "teams[0].emails[0]",
            "routes[0].label",
            "routes[0].topic",
            "routes[0].team",
        ] {
            assert!(text.contains(key), "{key} missing in {text}");
        }
    }

    #[test]
    fn quiet_hours_hold_alerts_until_local_morning_across_dst() {
        let mut errors = ConfigErrors::default();
        let r = Router::compile(
            &[team("webcare")],
            &[],
            &BTreeMap::new(),
            &[],
            &[],
            &mut errors,
        );
        let t = &r.teams()[0];
        // 23:30 in Amsterdam on the night clocks go back (CEST → CET): release at 07:00 CET.
        let now = DateTime::parse_from_rfc3339("2026-10-24T21:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(t.release_at(now).to_rfc3339(), "2026-10-25T06:00:00+00:00");
        // 03:00 local in summer: release at 07:00 CEST the same day.
        let now = DateTime::parse_from_rfc3339("2026-07-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(t.release_at(now).to_rfc3339(), "2026-07-01T05:00:00+00:00");
        // Daytime: at once.
        let now = DateTime::parse_from_rfc3339("2026-07-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(t.release_at(now), now);
    }
}
