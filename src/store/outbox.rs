//! The notifier's SQL: mentions waiting to be routed, the routing decision and its alerts
//! written in one transaction, and the outbox the sender works through. An outbox row is one
//! email to one recipient; its state goes `pending` → `sent`, or → `dead` when retrying is
//! pointless or has gone on for too long.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, rfc3339};

/// A stored mention with what routing needs.
#[derive(Debug, Clone, Default)]
pub struct RoutingMention {
    /// Database id.
    pub id: i64,
    /// Source name.
    pub source: String,
    /// Link.
    pub url: Option<String>,
    /// Author handle.
    pub author_handle: Option<String>,
    /// Author display name.
    pub author_name: Option<String>,
    /// Followers.
    pub author_reach: Option<i64>,
    /// Language.
    pub lang: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Text.
    pub text: String,
    /// What it replies to.
    pub in_reply_to: Option<String>,
    /// Posted (RFC 3339).
    pub created_at: String,
    /// Watches it matched.
    pub watches: Vec<String>,
    /// Read on the source's first poll.
    pub backfill: bool,
    /// Classifier label, when classified.
    pub label: Option<String>,
    /// Sentiment.
    pub sentiment: Option<f64>,
    /// `urgent` or `normal`.
    pub urgency: Option<String>,
    /// Spam flag.
    pub spam: Option<bool>,
    /// The classifier's reasons as stored (JSON).
    pub reasons: Option<String>,
    /// When it was routed, if it was.
    pub routed_at: Option<i64>,
    /// When it was stored (unix seconds).
    pub fetched_at: i64,
}

/// One alert to queue: one email to one recipient.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The team alerted.
    pub team: String,
    /// The rule that chose the team.
    pub rule: String,
    /// Recipient address.
    pub recipient: String,
    /// Deterministic Message-ID.
    pub message_id: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Urgent alerts skip quiet hours and caps.
    pub urgent: bool,
    /// Not to be sent before this (quiet hours), unix seconds.
    pub not_before: i64,
}

/// A routing decision for one mention.
#[derive(Debug, Clone)]
pub struct RoutingRecord {
    /// The mention.
    pub mention_id: i64,
    /// The matched rules, as JSON, for later inspection.
    pub route: String,
    /// Alerts to queue.
    pub alerts: Vec<NewAlert>,
}

/// An outbox row.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// The mention alerted about.
    pub mention_id: Option<i64>,
    /// Team.
    pub team: String,
    /// Rule.
    pub rule: String,
    /// Recipient.
    pub recipient: String,
    /// Message-ID.
    pub message_id: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    #[serde(skip)]
    pub text: String,
    /// HTML body.
    #[serde(skip)]
    pub html: String,
    /// Urgent.
    pub urgent: bool,
    /// pending, sent or dead.
    pub state: String,
    /// Queued (unix seconds).
    pub created_at: i64,
    /// Held until (quiet hours, cap), unix seconds.
    pub not_before: i64,
    /// Next attempt (backoff), unix seconds.
    pub next_attempt_at: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the server accepted it.
    pub sent_at: Option<i64>,
    /// The server's answer.
    pub reply: Option<String>,
}

const ENTRY_COLUMNS: &str =
    "id, mention_id, team, rule, recipient, message_id, subject, body_text, body_html,
    urgent, state, created_at, not_before, next_attempt_at, attempts, last_error, sent_at, reply";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        mention_id: r.get(1)?,
        team: r.get(2)?,
        rule: r.get(3)?,
        recipient: r.get(4)?,
        message_id: r.get(5)?,
        subject: r.get(6)?,
        text: r.get(7)?,
        html: r.get(8)?,
        urgent: r.get(9)?,
        state: r.get(10)?,
        created_at: r.get(11)?,
        not_before: r.get(12)?,
        next_attempt_at: r.get(13)?,
        attempts: r.get(14)?,
        last_error: r.get(15)?,
        sent_at: r.get(16)?,
        reply: r.get(17)?,
    })
}

pub(super) const MENTION_COLUMNS: &str = "id, source, url, author_handle, author_name, author_reach, lang, title, text,
    in_reply_to, created_at, watches, backfill, label, sentiment, urgency, spam, reasons, routed_at, fetched_at";

pub(super) fn routing_mention(r: &rusqlite::Row<'_>) -> rusqlite::Result<RoutingMention> {
    let watches: String = r.get(11)?;
    Ok(RoutingMention {
        id: r.get(0)?,
        source: r.get(1)?,
        url: r.get(2)?,
        author_handle: r.get(3)?,
        author_name: r.get(4)?,
        author_reach: r.get(5)?,
        lang: r.get(6)?,
        title: r.get(7)?,
        text: r.get(8)?,
        in_reply_to: r.get(9)?,
        created_at: rfc3339(r.get(10)?),
        watches: watches
            .split(',')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
        backfill: r.get(12)?,
        label: r.get(13)?,
        sentiment: r.get(14)?,
        urgency: r.get(15)?,
        spam: r.get(16)?,
        reasons: r.get(17)?,
        routed_at: r.get(18)?,
        fetched_at: r.get(19)?,
    })
}

impl Store {
    /// Mentions not routed yet, oldest first: those in `ids`, or all of them when `ids` is
    /// `None` (after a restart, to pick up what was stored but not routed).
    pub fn unrouted_mentions(
        &self,
        ids: Option<&[i64]>,
        limit: usize,
    ) -> Result<Vec<RoutingMention>, StoreError> {
        match ids {
            Some(ids) => {
                let mut out = Vec::new();
                let mut st = self
                    .conn
                    .prepare_cached(&format!(
                        "SELECT {MENTION_COLUMNS} FROM mentions WHERE id = ?1 AND routed_at IS NULL"
                    ))
                    .map_err(self.err())?;
                for id in ids {
                    if let Some(m) = st
                        .query_row([id], routing_mention)
                        .optional()
                        .map_err(self.err())?
                    {
                        out.push(m);
                    }
                }
                Ok(out)
            }
            None => {
                let mut st = self
                    .conn
                    .prepare_cached(&format!(
                        "SELECT {MENTION_COLUMNS} FROM mentions WHERE routed_at IS NULL ORDER BY id LIMIT ?1"
                    ))
                    .map_err(self.err())?;
                let rows = st
                    .query_map([limit as i64], routing_mention)
                    .map_err(self.err())?;
                rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
            }
        }
    }

    /// One stored mention, routed or not, for `webcare route <id>`.
    pub fn routing_mention(&self, id: i64) -> Result<Option<RoutingMention>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {MENTION_COLUMNS} FROM mentions WHERE id = ?1"),
                [id],
                routing_mention,
            )
            .optional()
            .map_err(self.err())
    }

    /// Records routing decisions and queues their alerts in one transaction. A mention that
    /// was routed meanwhile is skipped whole, so a decision is never applied twice. Returns the
    /// number of alerts queued.
    pub fn record_routing(
        &mut self,
        records: &[RoutingRecord],
        now: i64,
    ) -> Result<usize, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut queued = 0;
        {
            let mut mark = tx
                .prepare_cached(
                    "UPDATE mentions SET routed_at = ?2, route = ?3 WHERE id = ?1 AND routed_at IS NULL",
                )
                .map_err(e)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
                        body_html, urgent, created_at, not_before, next_attempt_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
                     ON CONFLICT (message_id) DO NOTHING",
                )
                .map_err(e)?;
            for r in records {
                if mark
                    .execute(params![r.mention_id, now, r.route])
                    .map_err(e)?
                    == 0
                {
                    continue;
                }
                for a in &r.alerts {
                    queued += insert
                        .execute(params![
                            r.mention_id,
                            a.team,
                            a.rule,
                            a.recipient,
                            a.message_id,
                            a.subject,
                            a.text,
                            a.html,
                            a.urgent,
                            now,
                            a.not_before.max(now),
                        ])
                        .map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)?;
        Ok(queued)
    }

    /// Pending alerts that may go out at `now`, oldest first. `ignore_backoff` also returns
    /// alerts waiting for a retry (for `webcare once`, which is itself the retry).
    pub fn due_alerts(
        &self,
        now: i64,
        ignore_backoff: bool,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox
                 WHERE state = 'pending' AND not_before <= ?1 AND (?2 OR next_attempt_at <= ?1)
                 ORDER BY urgent DESC, id LIMIT ?3"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![now, ignore_backoff, limit as i64], entry)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// When the next pending alert is due (unix seconds), if any is pending.
    pub fn next_alert_due(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(max(not_before, next_attempt_at)) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Alerts sent to `recipient` at or after `since`, and the earliest of them.
    pub fn alerts_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), min(sent_at) FROM outbox WHERE recipient = ?1 AND sent_at >= ?2",
                params![recipient, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())
    }

    /// The server accepted the alert: it is never sent again.
    pub fn record_sent(&self, id: i64, reply: &str, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, reply = ?3, attempts = attempts + 1,
                    last_error = NULL WHERE id = ?1",
                params![id, now, reply],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// An attempt failed: retry at `retry_at`, or give up (`None`: dead letter).
    pub fn record_send_failure(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                    state = CASE WHEN ?3 IS NULL THEN 'dead' ELSE 'pending' END,
                    next_attempt_at = coalesce(?3, next_attempt_at)
                 WHERE id = ?1",
                params![id, error, retry_at],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Holds a pending alert until `until` (hourly cap reached).
    pub fn hold_alert(&self, id: i64, until: i64, why: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET not_before = ?2, last_error = ?3 WHERE id = ?1",
                params![id, until, why],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Outbox rows, newest first, optionally only those in `state`.
    pub fn outbox_entries(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![state, limit as i64], entry)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Number of outbox rows per state: (pending, sent, dead).
    pub fn outbox_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'sent'),
                        count(*) FILTER (WHERE state = 'dead') FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())
    }
}
