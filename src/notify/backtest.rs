//! `webcare backtest`: replays stored mentions through the current routing rules, as if each
//! had just arrived, and counts the alerts every rule would have raised per day. It only reads:
//! nothing is routed, queued or sent, so rules can be tried on real history before they go live.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::Notifier;
use crate::store::{Backend, MentionOrder, MentionQuery, StoreError};

/// Alerts one rule would have raised on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDay {
    /// Alerts: one per mention and team.
    pub alerts: usize,
    /// Emails: one per alert and recipient.
    pub emails: usize,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Default)]
pub struct Backtest {
    /// Mentions replayed.
    pub mentions: usize,
    /// Mentions that would have raised no alert.
    pub silent: usize,
    /// Per local day, rule and team.
    pub days: BTreeMap<(NaiveDate, String, String), RuleDay>,
}

/// Replays every mention posted at or after `since` (unix seconds). Days are local days in `tz`.
pub fn replay(
    store: &dyn Backend,
    notifier: &Notifier,
    since: i64,
    tz: Tz,
) -> Result<Backtest, StoreError> {
    replay_with_progress(store, notifier, since, tz, |_| {})
}

/// Like [`replay`], calling `progress` with the number of mentions replayed after each batch.
pub fn replay_with_progress(
    store: &dyn Backend,
    notifier: &Notifier,
    since: i64,
    tz: Tz,
    progress: impl Fn(u64),
) -> Result<Backtest, StoreError> {
    let mut out = Backtest::default();
    let mut after = 0;
    loop {
        let batch = store.mentions(
            &MentionQuery::new()
                .since(since)
                .after_id(after)
                .order(MentionOrder::Stored)
                .limit(1000),
        )?;
        let Some(last) = batch.last() else {
            return Ok(out);
        };
        after = last.id;
        progress(out.mentions as u64 + batch.len() as u64);
        for m in &batch {
            out.mentions += 1;
            let (subject, _) = notifier.subject(m);
            let decision = notifier.router().decide(&subject);
            let alerts = decision.alerts();
            if alerts.is_empty() {
                out.silent += 1;
                continue;
            }
            let day = DateTime::from_timestamp(m.created_at(), 0)
                .map(|t| t.with_timezone(&tz).date_naive())
                .unwrap_or_default();
            for (team, matched) in alerts {
                let recipients = notifier.router().team(team).map_or(0, |t| t.emails.len());
                let e = out
                    .days
                    .entry((day, matched.rule.clone(), team.to_string()))
                    .or_default();
                e.alerts += 1;
                e.emails += recipients;
            }
        }
    }
}

impl Backtest {
    /// Prints the table: one line per day, rule and team, then the totals per rule.
    pub fn print(&self, out: &mut impl Write, since: DateTime<Utc>, tz: Tz) -> std::io::Result<()> {
        writeln!(
            out,
            "replayed {} mentions posted since {} through the current rules; nothing was sent or written",
            self.mentions,
            since.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        )?;
        if self.days.is_empty() {
            writeln!(out, "no rule would have sent an alert")?;
            return Ok(());
        }
        let width = self
            .days
            .keys()
            .map(|(_, r, _)| r.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            out,
            "{:<10}  {:<width$}  {:<12} {:>6} {:>6}",
            "DAY", "RULE", "TEAM", "ALERTS", "EMAILS"
        )?;
        let mut totals: BTreeMap<(&str, &str), RuleDay> = BTreeMap::new();
        for ((day, rule, team), n) in &self.days {
            writeln!(
                out,
                "{day}  {rule:<width$}  {team:<12} {:>6} {:>6}",
                n.alerts, n.emails
            )?;
            let t = totals.entry((rule, team)).or_default();
            t.alerts += n.alerts;
            t.emails += n.emails;
        }
        writeln!(out, "total:")?;
        for ((rule, team), n) in &totals {
            writeln!(
                out,
                "{:<10}  {rule:<width$}  {team:<12} {:>6} {:>6}",
                "", n.alerts, n.emails
            )?;
        }
        writeln!(out, "{} mentions would have raised no alert", self.silent)?;
        Ok(())
    }
}
