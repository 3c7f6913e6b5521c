//! The notifier's SQL: mentions waiting to be routed, the routing decision and its alerts
//! written in one transaction, the outbox the sender works through, and the opt-out list. An
//! outbox row is one alert to one recipient (an email address or a team's webhook); its state
//! goes `pending` → `sent`, → `dead` when retrying is pointless or has gone on for too long, or
//! → `held` when the recipient's hourly cap was reached (a cap summary row says how many), or
//! → `superseded` when its mention was answered before it went out.

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
    /// Source kind (platform), e.g. `x`, `rss`; opt-outs are per platform.
    pub kind: String,
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
    /// The earlier alerted mention this one repeats, once routed.
    pub duplicate_of: Option<i64>,
    /// When it was answered (by the brand's own account or marked by staff), unix seconds.
    pub answered_at: Option<i64>,
    /// Who answered it.
    pub answered_by: Option<String>,
}

/// One alert to queue: one email to one recipient, or one post to a team's webhook.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// `email` or `webhook`.
    pub channel: &'static str,
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
    /// The request body, for webhooks.
    pub payload: Option<String>,
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
    /// The earlier alerted mention this one repeats; it raises no alert of its own.
    pub duplicate_of: Option<i64>,
}

/// New content for the alerts of an earlier mention that gained duplicates: rows still waiting
/// for their first attempt are rewritten (same Message-ID), rows already tried are left alone.
#[derive(Debug, Clone)]
pub struct AlertUpdate {
    /// The rows' Message-IDs and their new content.
    pub alerts: Vec<NewAlert>,
}

/// An author who asked not to be contacted.
#[derive(Debug, Clone, Serialize)]
pub struct OptOut {
    /// Platform (source kind), e.g. `x`.
    pub platform: String,
    /// Handle, lower case, without `@`.
    pub handle: String,
    /// When it was added (unix seconds).
    pub added_at: i64,
    /// Who added it.
    pub added_by: Option<String>,
}

/// How opt-out handles are compared: case-insensitive, `@` optional.
pub fn optout_key(platform: &str, handle: &str) -> (String, String) {
    (
        platform.trim().to_lowercase(),
        handle.trim().trim_start_matches('@').to_lowercase(),
    )
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
    /// `email` or `webhook`.
    pub channel: String,
    /// `alert`, or `cap_summary` (how many alerts the hourly cap held back).
    pub kind: String,
    /// Webhook request body.
    #[serde(skip)]
    pub payload: Option<String>,
    /// The batch this email went out in (the id of its first row), fixed before the first attempt.
    pub batch_id: Option<i64>,
    /// For a held alert: the cap summary that counts it.
    pub summary_id: Option<i64>,
    /// When `webcare outbox retry` last put it back (unix seconds).
    pub retried_at: Option<i64>,
}

/// Why mail is not going out right now, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailHealth {
    /// What went wrong, naming the server and the setting to check.
    pub cause: String,
    /// Since when (unix seconds).
    pub since: i64,
    /// The next attempt (unix seconds).
    pub paused_until: i64,
}

const ENTRY_COLUMNS: &str =
    "id, mention_id, team, rule, recipient, message_id, subject, body_text, body_html,
    urgent, state, created_at, not_before, next_attempt_at, attempts, last_error, sent_at, reply,
    channel, kind, payload, batch_id, summary_id, retried_at";

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
        channel: r.get(18)?,
        kind: r.get(19)?,
        payload: r.get(20)?,
        batch_id: r.get(21)?,
        summary_id: r.get(22)?,
        retried_at: r.get(23)?,
    })
}

pub(super) const MENTION_COLUMNS: &str = "id, source, url, author_handle, author_name, author_reach, lang, title, text,
    in_reply_to, created_at, watches, backfill, label, sentiment, urgency, spam, reasons, routed_at, fetched_at,
    kind, duplicate_of, answered_at, answered_by";

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
        kind: r.get(20)?,
        duplicate_of: r.get(21)?,
        answered_at: r.get(22)?,
        answered_by: r.get(23)?,
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

    /// Records routing decisions, queues their alerts and rewrites the waiting alerts of earlier
    /// mentions that gained duplicates, all in one transaction. A mention that was routed
    /// meanwhile is skipped whole, so a decision is never applied twice. Returns the number of
    /// alerts queued.
    pub fn record_routing(
        &mut self,
        records: &[RoutingRecord],
        updates: &[AlertUpdate],
        now: i64,
    ) -> Result<usize, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut queued = 0;
        {
            let mut mark = tx
                .prepare_cached(
                    "UPDATE mentions SET routed_at = ?2, route = ?3, duplicate_of = ?4
                     WHERE id = ?1 AND routed_at IS NULL",
                )
                .map_err(e)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
                        body_html, urgent, created_at, not_before, next_attempt_at, channel, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13)
                     ON CONFLICT (message_id) DO NOTHING",
                )
                .map_err(e)?;
            let mut rewrite = tx
                .prepare_cached(
                    "UPDATE outbox SET subject = ?2, body_text = ?3, body_html = ?4, payload = ?5
                     WHERE message_id = ?1 AND state = 'pending' AND attempts = 0 AND batch_id IS NULL",
                )
                .map_err(e)?;
            for r in records {
                if mark
                    .execute(params![r.mention_id, now, r.route, r.duplicate_of])
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
                            a.channel,
                            a.payload,
                        ])
                        .map_err(e)?;
                }
            }
            for u in updates {
                for a in &u.alerts {
                    rewrite
                        .execute(params![a.message_id, a.subject, a.text, a.html, a.payload])
                        .map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)?;
        Ok(queued)
    }

    /// Mentions routed at or after `since` that raised alerts themselves (not as a duplicate):
    /// the ones a new mention may repeat.
    pub fn recent_alerted_mentions(&self, since: i64) -> Result<Vec<RoutingMention>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MENTION_COLUMNS} FROM mentions WHERE id IN
                    (SELECT mention_id FROM outbox WHERE created_at >= ?1 AND kind = 'alert')
                 AND duplicate_of IS NULL ORDER BY id"
            ))
            .map_err(self.err())?;
        let rows = st.query_map([since], routing_mention).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The mentions recorded as duplicates of `id`, oldest first.
    pub fn duplicates_of(&self, id: i64) -> Result<Vec<RoutingMention>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MENTION_COLUMNS} FROM mentions WHERE duplicate_of = ?1 ORDER BY id"
            ))
            .map_err(self.err())?;
        let rows = st.query_map([id], routing_mention).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Pending alerts that may go out at `now`, urgent first, then oldest first. `ignore_backoff`
    /// also returns alerts waiting for a retry (for `webcare once`, which is itself the retry).
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

    /// When the next pending alert is due (unix seconds), if any is pending. A non-urgent email
    /// not yet in a batch also waits for `batch_window` seconds after it was queued.
    pub fn next_alert_due(&self, batch_window: i64) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(max(not_before, next_attempt_at,
                        CASE WHEN channel = 'email' AND kind = 'alert' AND NOT urgent AND batch_id IS NULL
                             THEN created_at + ?1 ELSE 0 END))
                 FROM outbox WHERE state = 'pending'",
                [batch_window],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Alerts (not summaries) sent to `recipient` at or after `since`, and the earliest send.
    pub fn alerts_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), min(sent_at) FROM outbox
                 WHERE recipient = ?1 AND sent_at >= ?2 AND kind = 'alert'",
                params![recipient, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())
    }

    /// Drops the waiting alerts whose mention was answered since they were queued (the brand's
    /// own reply seen by a later poll, or staff marking it answered): they become `superseded`,
    /// with who answered and when as their last error, and are never sent. A batch fixed before
    /// an attempt is left whole: the server may have accepted it already, and its retry must
    /// carry the same alerts under the same Message-ID. Returns how many rows were dropped.
    pub fn supersede_answered(&mut self) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = 'superseded',
                    last_error = 'not sent: the mention was answered by ' || m.answered_by
                        || ' at ' || strftime('%Y-%m-%dT%H:%M:%SZ', m.answered_at, 'unixepoch')
                 FROM mentions m
                 WHERE outbox.state = 'pending' AND outbox.kind = 'alert' AND outbox.batch_id IS NULL
                   AND m.id = outbox.mention_id AND m.answered_at IS NOT NULL",
            )
            .and_then(|mut st| st.execute([]))
            .map_err(self.err())
    }

    /// Fixes the rows `ids` as one batch (named by its first row) before the first attempt, so
    /// every retry sends the same message with the same Message-ID.
    pub fn assign_batch(&mut self, ids: &[i64]) -> Result<i64, StoreError> {
        let batch = ids.iter().copied().min().unwrap_or_default();
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx
                .prepare_cached("UPDATE outbox SET batch_id = ?2 WHERE id = ?1")
                .map_err(e)?;
            for id in ids {
                st.execute(params![id, batch]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch)
    }

    /// The server accepted the message carrying rows `ids`: all of them are marked sent in one
    /// transaction and never sent again.
    pub fn record_sent(&mut self, ids: &[i64], reply: &str, now: i64) -> Result<(), StoreError> {
        self.update_rows(
            ids,
            "UPDATE outbox SET state = 'sent', sent_at = ?2, reply = ?3, attempts = attempts + 1,
                last_error = NULL WHERE id = ?1",
            params![0, now, reply],
        )
    }

    /// Puts alerts back in the queue, due now: row `id` (dead or pending), or with `None` every
    /// dead letter. Their retry period starts again. Returns how many rows changed.
    pub fn retry_outbox(&mut self, id: Option<i64>, now: i64) -> Result<usize, StoreError> {
        let n = match id {
            Some(id) => self.conn.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, retried_at = ?2
                 WHERE id = ?1 AND state IN ('dead', 'pending')",
                params![id, now],
            ),
            None => self.conn.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, retried_at = ?1
                 WHERE state = 'dead'",
                params![now],
            ),
        }
        .map_err(self.err())?;
        Ok(n)
    }

    /// Records why mail is paused or held, or (`None`) that it flows again.
    pub fn set_mail_health(&self, health: Option<&MailHealth>) -> Result<(), StoreError> {
        match health {
            Some(h) => self.conn.execute(
                "INSERT INTO mail_health (id, cause, since, paused_until) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET cause = ?1, paused_until = ?3",
                params![h.cause, h.since, h.paused_until],
            ),
            None => self.conn.execute("DELETE FROM mail_health", []),
        }
        .map(|_| ())
        .map_err(self.err())
    }

    /// Why mail is paused or held, if it is.
    pub fn mail_health(&self) -> Result<Option<MailHealth>, StoreError> {
        self.conn
            .query_row(
                "SELECT cause, since, paused_until FROM mail_health WHERE id = 1",
                [],
                |r| {
                    Ok(MailHealth {
                        cause: r.get(0)?,
                        since: r.get(1)?,
                        paused_until: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// An attempt at the message carrying rows `ids` failed: retry at `retry_at`, or give up
    /// (`None`: dead letter).
    pub fn record_send_failure(
        &mut self,
        ids: &[i64],
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.update_rows(
            ids,
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                state = CASE WHEN ?3 IS NULL THEN 'dead' ELSE 'pending' END,
                next_attempt_at = coalesce(?3, next_attempt_at)
             WHERE id = ?1",
            params![0, error, retry_at],
        )
    }

    /// Runs `sql` (whose `?1` is the row id) once per row in `ids`, in one transaction; the other
    /// parameters come from `rest` (its first value is a placeholder for the id).
    fn update_rows(
        &mut self,
        ids: &[i64],
        sql: &str,
        rest: &[&dyn rusqlite::ToSql],
    ) -> Result<(), StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx.prepare_cached(sql).map_err(e)?;
            for id in ids {
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![id];
                args.extend_from_slice(&rest[1..]);
                st.execute(args.as_slice()).map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// The recipient reached the hourly cap: rows `ids` are held back (state `held`, kept for
    /// `webcare outbox --state held`) and counted by one cap summary per recipient and cap
    /// period, created here when missing and due at `until`. One transaction. Returns the
    /// summary's row id.
    pub fn hold_for_cap(
        &mut self,
        ids: &[i64],
        recipient: &str,
        team: &str,
        until: i64,
        message_id: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(
            "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
                body_html, urgent, created_at, not_before, next_attempt_at, channel, kind)
             VALUES (NULL, ?1, 'hourly cap', ?2, ?3, '', '', '', 0, ?4, ?5, ?5, 'email', 'cap_summary')
             ON CONFLICT (message_id) DO NOTHING",
            params![team, recipient, message_id, now, until],
        )
        .map_err(e)?;
        let summary: i64 = tx
            .query_row(
                "SELECT id FROM outbox WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .map_err(e)?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'held', summary_id = ?2,
                        last_error = 'hourly cap reached; counted in cap summary #' || ?2
                     WHERE id = ?1 AND state = 'pending'",
                )
                .map_err(e)?;
            for id in ids {
                st.execute(params![id, summary]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(summary)
    }

    /// The alerts a cap summary counts, oldest first.
    pub fn held_by(&self, summary_id: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox WHERE summary_id = ?1 ORDER BY id"
            ))
            .map_err(self.err())?;
        let rows = st.query_map([summary_id], entry).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
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

    /// Number of alerts held back by hourly caps.
    pub fn held_count(&self) -> Result<i64, StoreError> {
        self.state_count("held")
    }

    /// Number of alerts not sent because their mention was answered first.
    pub fn superseded_count(&self) -> Result<i64, StoreError> {
        self.state_count("superseded")
    }

    /// Number of outbox rows in `state`.
    fn state_count(&self, state: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE state = ?1",
                [state],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Adds an author to the opt-out list; false when they were on it already.
    pub fn add_optout(
        &self,
        platform: &str,
        handle: &str,
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (p, h) = optout_key(platform, handle);
        self.conn
            .execute(
                "INSERT INTO optouts (platform, handle, added_at, added_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![p, h, now, by],
            )
            .map(|n| n > 0)
            .map_err(self.err())
    }

    /// Removes an author from the opt-out list; false when they were not on it.
    pub fn remove_optout(&self, platform: &str, handle: &str) -> Result<bool, StoreError> {
        let (p, h) = optout_key(platform, handle);
        self.conn
            .execute(
                "DELETE FROM optouts WHERE platform = ?1 AND handle = ?2",
                params![p, h],
            )
            .map(|n| n > 0)
            .map_err(self.err())
    }

    /// The opt-out list, by platform and handle.
    pub fn optouts(&self) -> Result<Vec<OptOut>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT platform, handle, added_at, added_by FROM optouts ORDER BY platform, handle")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(OptOut {
                    platform: r.get(0)?,
                    handle: r.get(1)?,
                    added_at: r.get(2)?,
                    added_by: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }
}
