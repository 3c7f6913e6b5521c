//! When the digest is due: the `[digest]` section (period, local time, time zone, recipient
//! lists) and the periods it covers, DST-safe.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::config::ConfigErrors;
use crate::notify::route::TeamConfig;

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
    /// The word for the period in subjects and records: "daily" or "weekly".
    pub(super) fn as_str(self) -> &'static str {
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

pub(super) fn default_time() -> String {
    "07:30".into()
}
pub(super) fn default_tz() -> String {
    "UTC".into()
}
pub(super) fn default_lookback() -> u32 {
    7
}
pub(super) fn default_top() -> usize {
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
