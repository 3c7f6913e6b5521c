//! The notifier's SQL: the routing decision and its alerts written in one transaction, and the
//! outbox the sender works through (the mentions waiting to be routed are a
//! [`super::MentionQuery`]). An
//! outbox row is one alert to one recipient (an email address or a team's webhook); its state
//! goes `pending` → `sent`, → `dead` when retrying is pointless or has gone on for too long, or
//! → `held` when the recipient's hourly cap was reached (a cap summary row says how many), or
//! → `superseded` when its mention was answered before it went out.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::row::row_struct;
use super::{Store, StoreError};

/// Alerts to one recipient held back by the hourly cap, and the summary that counts them.
#[derive(Debug, Clone)]
pub struct CapHold {
    /// The outbox rows held back.
    pub ids: Vec<i64>,
    /// Whom they were for, and whom the summary goes to.
    pub recipient: String,
    /// The team of the first held alert, which the summary is filed under.
    pub team: String,
    /// When the summary is due: the end of the cap hour (unix seconds).
    pub until: i64,
    /// The summary's Message-ID, one per recipient and cap hour, so a retry reuses it.
    pub message_id: String,
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

row_struct! {
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
}

row_struct! {
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
}

/// The columns of [`OutboxEntry`], by its field names.
const ENTRY_COLUMNS: &str =
    "id, mention_id, team, rule, recipient, message_id, subject, body_text AS text,
    body_html AS html, urgent, state, created_at, not_before, next_attempt_at, attempts,
    last_error, sent_at, reply, channel, kind, payload, batch_id, summary_id, retried_at";

/// Queues `alerts` as outbox rows of `kind` inside `tx`, about mention `mention_id` when they
/// are about one. Returns how many were new (a Message-ID already queued is left alone).
pub(super) fn queue(
    tx: &Transaction<'_>,
    mention_id: Option<i64>,
    kind: &str,
    alerts: &[NewAlert],
    now: i64,
) -> rusqlite::Result<usize> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
            body_html, urgent, created_at, not_before, next_attempt_at, channel, payload, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14)
         ON CONFLICT (message_id) DO NOTHING",
    )?;
    let mut queued = 0;
    for a in alerts {
        queued += insert.execute(params![
            mention_id,
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
            kind,
        ])?;
    }
    Ok(queued)
}

/// Routing decisions and the mail outbox: what is due, what was sent, what failed.
pub trait OutboxStore {
    /// Records routing decisions, queues their alerts and rewrites the waiting alerts of earlier
    /// mentions that gained duplicates, all in one transaction. A mention that was routed
    /// meanwhile is skipped whole, so a decision is never applied twice. Returns the number of
    /// alerts queued.
    fn record_routing(
        &mut self,
        records: &[RoutingRecord],
        updates: &[AlertUpdate],
        now: i64,
    ) -> Result<usize, StoreError>;

    /// Pending alerts that may go out at `now`, urgent first, then oldest first. `ignore_backoff`
    /// also returns alerts waiting for a retry (for `webcare once`, which is itself the retry).
    fn due_alerts(
        &self,
        now: i64,
        ignore_backoff: bool,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// When the next pending alert is due (unix seconds), if any is pending. A non-urgent email
    /// not yet in a batch also waits for `batch_window` seconds after it was queued.
    fn next_alert_due(&self, batch_window: i64) -> Result<Option<i64>, StoreError>;

    /// Alerts (not summaries) sent to `recipient` at or after `since`, and the earliest send.
    fn alerts_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError>;

    /// Drops the waiting alerts whose mention was answered since they were queued (the brand's
    /// own reply seen by a later poll, or staff marking it answered): they become `superseded`,
    /// with who answered and when as their last error, and are never sent. A batch fixed before
    /// an attempt is left whole: the server may have accepted it already, and its retry must
    /// carry the same alerts under the same Message-ID. Returns how many rows were dropped.
    fn supersede_answered(&mut self) -> Result<usize, StoreError>;

    /// Fixes the rows `ids` as one batch (named by its first row) before the first attempt, so
    /// every retry sends the same message with the same Message-ID.
    fn assign_batch(&mut self, ids: &[i64]) -> Result<i64, StoreError>;

    /// The server accepted the message carrying rows `ids`: all of them are marked sent in one
    /// transaction and never sent again.
    fn record_sent(&mut self, ids: &[i64], reply: &str, now: i64) -> Result<(), StoreError>;

    /// Puts alerts back in the queue, due now: row `id` (dead or pending), or with `None` every
    /// dead letter. Their retry period starts again. Returns how many rows changed.
    fn retry_outbox(&mut self, id: Option<i64>, now: i64) -> Result<usize, StoreError>;

    /// Records why mail is paused or held, or (`None`) that it flows again.
    fn set_mail_health(&self, health: Option<&MailHealth>) -> Result<(), StoreError>;

    /// Why mail is paused or held, if it is.
    fn mail_health(&self) -> Result<Option<MailHealth>, StoreError>;

    /// An attempt at the message carrying rows `ids` failed: retry at `retry_at`, or give up
    /// (`None`: dead letter).
    fn record_send_failure(
        &mut self,
        ids: &[i64],
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError>;

    /// The recipient reached the hourly cap: rows `ids` are held back (state `held`, kept for
    /// `webcare outbox --state held`) and counted by one cap summary per recipient and cap
    /// period, created here when missing and due at `until`. One transaction. Returns the
    /// summary's row id.
    fn hold_for_cap(&mut self, hold: &CapHold, now: i64) -> Result<i64, StoreError>;

    /// The alerts a cap summary counts, oldest first.
    fn held_by(&self, summary_id: i64) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Outbox rows, newest first, optionally only those in `state`.
    fn outbox_entries(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Number of outbox rows per state: (pending, sent, dead).
    fn outbox_counts(&self) -> Result<(i64, i64, i64), StoreError>;

    /// Number of alerts held back by hourly caps.
    fn held_count(&self) -> Result<i64, StoreError>;

    /// Number of alerts not sent because their mention was answered first.
    fn superseded_count(&self) -> Result<i64, StoreError>;
}

impl OutboxStore for Store {
    fn record_routing(
        &mut self,
        records: &[RoutingRecord],
        updates: &[AlertUpdate],
        now: i64,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
        let mut queued = 0;
        {
            let mut mark = tx
                .prepare_cached(
                    "UPDATE mentions SET routed_at = ?2, route = ?3, duplicate_of = ?4
                     WHERE id = ?1 AND routed_at IS NULL",
                )
                ?;
            let mut rewrite = tx
                .prepare_cached(
                    "UPDATE outbox SET subject = ?2, body_text = ?3, body_html = ?4, payload = ?5
                     WHERE message_id = ?1 AND state = 'pending' AND attempts = 0 AND batch_id IS NULL",
                )
                ?;
            for r in records {
                if mark
                    .execute(params![r.mention_id, now, r.route, r.duplicate_of])
                    ?
                    == 0
                {
                    continue;
                }
                queued += queue(tx, Some(r.mention_id), "alert", &r.alerts, now)?;
            }
            for u in updates {
                for a in &u.alerts {
                    rewrite
                        .execute(params![a.message_id, a.subject, a.text, a.html, a.payload])
                        ?;
                }
            }
        }
            Ok(queued)
        })
    }

    fn due_alerts(
        &self,
        now: i64,
        ignore_backoff: bool,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox
                 WHERE state = 'pending' AND not_before <= ?1 AND (?2 OR next_attempt_at <= ?1)
                 ORDER BY urgent DESC, id LIMIT ?3"
            ),
            params![now, ignore_backoff, limit as i64],
            OutboxEntry::from_row,
        )
    }

    fn next_alert_due(&self, batch_window: i64) -> Result<Option<i64>, StoreError> {
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

    fn alerts_sent_since(
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

    fn supersede_answered(&mut self) -> Result<usize, StoreError> {
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

    fn assign_batch(&mut self, ids: &[i64]) -> Result<i64, StoreError> {
        let batch = ids.iter().copied().min().unwrap_or_default();
        self.write(|tx| {
            {
                let mut st = tx.prepare_cached("UPDATE outbox SET batch_id = ?2 WHERE id = ?1")?;
                for id in ids {
                    st.execute(params![id, batch])?;
                }
            }
            Ok(batch)
        })
    }

    fn record_sent(&mut self, ids: &[i64], reply: &str, now: i64) -> Result<(), StoreError> {
        self.update_rows(
            ids,
            "UPDATE outbox SET state = 'sent', sent_at = ?2, reply = ?3, attempts = attempts + 1,
                last_error = NULL WHERE id = ?1",
            params![0, now, reply],
        )
    }

    fn retry_outbox(&mut self, id: Option<i64>, now: i64) -> Result<usize, StoreError> {
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

    fn set_mail_health(&self, health: Option<&MailHealth>) -> Result<(), StoreError> {
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

    fn mail_health(&self) -> Result<Option<MailHealth>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM mail_health WHERE id = 1",
                    MailHealth::COLUMNS
                ),
                [],
                MailHealth::from_row,
            )
            .optional()
            .map_err(self.err())
    }

    fn record_send_failure(
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

    fn hold_for_cap(&mut self, hold: &CapHold, now: i64) -> Result<i64, StoreError> {
        let CapHold {
            ids,
            recipient,
            team,
            until,
            message_id,
        } = hold;
        self.write(|tx| {
        tx.execute(
            "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
                body_html, urgent, created_at, not_before, next_attempt_at, channel, kind)
             VALUES (NULL, ?1, 'hourly cap', ?2, ?3, '', '', '', 0, ?4, ?5, ?5, 'email', 'cap_summary')
             ON CONFLICT (message_id) DO NOTHING",
            params![team, recipient, message_id, now, until],
        )
        ?;
        let summary: i64 = tx
            .query_row(
                "SELECT id FROM outbox WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            ?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'held', summary_id = ?2,
                        last_error = 'hourly cap reached; counted in cap summary #' || ?2
                     WHERE id = ?1 AND state = 'pending'",
                )
                ?;
            for id in ids {
                st.execute(params![id, summary])?;
            }
        }
                Ok(summary)
        })
    }

    fn held_by(&self, summary_id: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_all(
            &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE summary_id = ?1 ORDER BY id"),
            [summary_id],
            OutboxEntry::from_row,
        )
    }

    fn outbox_entries(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_all(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
            ), params![state, limit as i64], OutboxEntry::from_row)
    }

    fn outbox_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'sent'),
                        count(*) FILTER (WHERE state = 'dead') FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())
    }

    fn held_count(&self) -> Result<i64, StoreError> {
        self.state_count("held")
    }

    fn superseded_count(&self) -> Result<i64, StoreError> {
        self.state_count("superseded")
    }
}

impl Store {
    /// Runs `sql` (whose `?1` is the row id) once per row in `ids`, in one transaction; the other
    /// parameters come from `rest` (its first value is a placeholder for the id).
    fn update_rows(
        &mut self,
        ids: &[i64],
        sql: &str,
        rest: &[&dyn rusqlite::ToSql],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            {
                let mut st = tx.prepare_cached(sql)?;
                for id in ids {
                    let mut args: Vec<&dyn rusqlite::ToSql> = vec![id];
                    args.extend_from_slice(&rest[1..]);
                    st.execute(args.as_slice())?;
                }
            }
            Ok(())
        })
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
}
