//! The digest's and the spike detector's SQL: counts per source and label over a period, the
//! complaints and praise worth naming, failed polls, spike episodes, the `digests` ledger that
//! makes a period's digest go out once, and the `answered` flag staff set on mentions. Writes
//! that queue mail put their outbox rows in the same transaction as the record that decides
//! them, exactly like routing does.

use rusqlite::{OptionalExtension, Transaction, params};

use super::outbox::{MENTION_COLUMNS, routing_mention};
use super::{NewAlert, RoutingMention, Store, StoreError};

/// Mentions of one source with one label in a period, with how many read as positive and as
/// negative.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRow {
    /// Source name.
    pub source: String,
    /// Label, or `unclassified`.
    pub label: String,
    /// The classifier marked these as spam.
    pub spam: bool,
    /// How many.
    pub count: i64,
    /// Praise, or another non-complaint label with sentiment at or above the threshold.
    pub positive: i64,
    /// Complaints, or another non-praise label with sentiment at or below minus the threshold.
    pub negative: i64,
}

/// A mention as the digest and spike alerts show it.
#[derive(Debug, Clone, Default)]
pub struct DigestMention {
    /// Database id.
    pub id: i64,
    /// Source name.
    pub source: String,
    /// The source's kind (`x`, `rss`, …): whether the platform has handles.
    pub kind: String,
    /// Link.
    pub url: Option<String>,
    /// Author handle.
    pub author_handle: Option<String>,
    /// Author display name.
    pub author_name: Option<String>,
    /// Followers.
    pub author_reach: Option<i64>,
    /// Title, if any.
    pub title: Option<String>,
    /// Text.
    pub text: String,
    /// Posted (unix seconds).
    pub created_at: i64,
    /// Label.
    pub label: Option<String>,
    /// When staff marked it answered (`webcare answered`), unix seconds.
    pub answered_at: Option<i64>,
    /// Who marked it answered.
    pub answered_by: Option<String>,
}

/// A source whose polls failed in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedSource {
    /// Source name.
    pub source: String,
    /// Failed polls in the period.
    pub failures: i64,
    /// Polls in the period that worked.
    pub successes: i64,
    /// The last error in the period.
    pub last_error: String,
    /// Failures in a row now (0: it recovered).
    pub failing_now: i64,
}

/// A spike or drop, as recorded when it was alerted.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeEpisode {
    /// `volume`, `complaints` or `drop`.
    pub kind: String,
    /// `watch` or `source`.
    pub scope: String,
    /// The watch's or source's name.
    pub name: String,
    /// When it was first seen (unix seconds).
    pub started_at: i64,
    /// When it was last seen (unix seconds).
    pub last_seen_at: i64,
    /// The count in the window that set it off.
    pub count: i64,
    /// The baseline it was compared with.
    pub baseline: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// One line for people.
    pub summary: String,
}

/// What [`Store::record_spike`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeOutcome {
    /// A new episode: its alerts were queued.
    New,
    /// The same episode as one seen within the cooldown: extended, nothing queued.
    Ongoing,
}

/// A digest about to be queued: which list, which period, and its outbox rows.
#[derive(Debug, Clone)]
pub struct DigestRecord {
    /// The recipient list's name (`recipients` or `team:NAME`).
    pub list: String,
    /// Period start (unix seconds, inclusive).
    pub period_start: i64,
    /// Period end (unix seconds, exclusive).
    pub period_end: i64,
    /// `daily` or `weekly`.
    pub period: String,
    /// Sent after its scheduled time.
    pub late: bool,
    /// One email per recipient.
    pub alerts: Vec<NewAlert>,
}

/// What is known about a digest already queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSent {
    /// When it was queued (unix seconds).
    pub queued_at: i64,
    /// Whether it was late.
    pub late: bool,
    /// How many times it was queued (more than one only with `--force`).
    pub sends: i64,
}

/// Counts of non-backfill, non-spam mentions in a window: total and complaints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCount {
    /// All mentions.
    pub total: i64,
    /// Complaints among them.
    pub complaints: i64,
}

const DIGEST_COLUMNS: &str =
    "id, source, url, author_handle, author_name, author_reach, title, text,
    created_at, label, answered_at, answered_by, kind";

/// How long one answered mention waited for its first response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstResponse {
    /// The team its route named (empty when it was not routed to a team).
    pub team: String,
    /// The source's kind (the platform).
    pub kind: String,
    /// Seconds from the post to the answer.
    pub seconds: i64,
}

fn digest_mention(r: &rusqlite::Row<'_>) -> rusqlite::Result<DigestMention> {
    Ok(DigestMention {
        id: r.get(0)?,
        source: r.get(1)?,
        url: r.get(2)?,
        author_handle: r.get(3)?,
        author_name: r.get(4)?,
        author_reach: r.get(5)?,
        title: r.get(6)?,
        text: r.get(7)?,
        created_at: r.get(8)?,
        label: r.get(9)?,
        answered_at: r.get(10)?,
        answered_by: r.get(11)?,
        kind: r.get(12)?,
    })
}

/// Queues `alerts` as outbox rows of `kind` inside `tx`. Returns how many were new.
fn queue(
    tx: &Transaction<'_>,
    kind: &str,
    alerts: &[NewAlert],
    now: i64,
) -> rusqlite::Result<usize> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
            body_html, urgent, created_at, not_before, next_attempt_at, kind)
         VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
         ON CONFLICT (message_id) DO NOTHING",
    )?;
    let mut queued = 0;
    for a in alerts {
        queued += insert.execute(params![
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
            kind,
        ])?;
    }
    Ok(queued)
}

impl Store {
    /// Mentions posted in `[start, end)` per source, label and spam flag. A mention counts as
    /// positive or negative by its label, or by a sentiment beyond `±threshold`.
    pub fn volume(
        &self,
        start: i64,
        end: i64,
        threshold: f64,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT source, coalesce(label, 'unclassified'), coalesce(spam, 0), count(*),
                    sum(label = 'praise' OR (coalesce(label, '') <> 'complaint' AND sentiment >= ?3)),
                    sum(label = 'complaint' OR (coalesce(label, '') <> 'praise' AND sentiment <= -?3))
                 FROM mentions WHERE created_at >= ?1 AND created_at < ?2
                 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end, threshold], |r| {
                Ok(VolumeRow {
                    source: r.get(0)?,
                    label: r.get(1)?,
                    spam: r.get(2)?,
                    count: r.get(3)?,
                    positive: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                    negative: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Non-spam mentions labelled `label` posted in `[start, end)`, the best-reached first
    /// (unknown reach last, then oldest first).
    pub fn top_by_reach(
        &self,
        start: i64,
        end: i64,
        label: &str,
        limit: usize,
    ) -> Result<Vec<DigestMention>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DIGEST_COLUMNS} FROM mentions
                 WHERE created_at >= ?1 AND created_at < ?2 AND label = ?3 AND coalesce(spam, 0) = 0
                 ORDER BY author_reach IS NULL, author_reach DESC, created_at, id LIMIT ?4"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end, label, limit as i64], digest_mention)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// First-response times of the non-spam mentions answered in `[start, end)`: answer time
    /// minus post time, once per team the mention was routed to. An answer stamped before the
    /// post (a skewed clock) counts as zero.
    pub fn first_responses(&self, start: i64, end: i64) -> Result<Vec<FirstResponse>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT m.id, coalesce(json_extract(r.value, '$.team'), ''), m.kind,
                        max(m.answered_at - m.created_at, 0)
                 FROM mentions m LEFT JOIN json_each(m.route) r
                 WHERE m.answered_at >= ?1 AND m.answered_at < ?2 AND coalesce(m.spam, 0) = 0
                 ORDER BY 2, 3, 4",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end], |r| {
                Ok(FirstResponse {
                    team: r.get(1)?,
                    kind: r.get(2)?,
                    seconds: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// When the newest stored non-spam mention was posted (unix seconds), if there is one.
    pub fn latest_post(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(created_at) FROM mentions WHERE coalesce(spam, 0) = 0",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Title and text of every non-spam complaint posted in `[start, end)`.
    pub fn complaint_texts(&self, start: i64, end: i64) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT coalesce(title || ' ', '') || text FROM mentions
                 WHERE created_at >= ?1 AND created_at < ?2 AND label = 'complaint' AND coalesce(spam, 0) = 0",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end], |r| r.get(0))
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Sources with failed polls in `[start, end)`, with the last error and whether they are
    /// failing still.
    pub fn failed_sources(&self, start: i64, end: i64) -> Result<Vec<FailedSource>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.source, sum(p.outcome = 'error'), sum(p.outcome <> 'error'),
                    (SELECT error FROM poll_log e WHERE e.source = p.source AND e.outcome = 'error'
                        AND e.started_at >= ?1 AND e.started_at < ?2 ORDER BY e.started_at DESC, e.id DESC LIMIT 1),
                    coalesce((SELECT consecutive_failures FROM source_state s WHERE s.source = p.source), 0)
                 FROM poll_log p WHERE p.started_at >= ?1 AND p.started_at < ?2
                 GROUP BY p.source HAVING sum(p.outcome = 'error') > 0 ORDER BY p.source",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end], |r| {
                Ok(FailedSource {
                    source: r.get(0)?,
                    failures: r.get(1)?,
                    successes: r.get(2)?,
                    last_error: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    failing_now: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Spike episodes that started in `[start, end)`, oldest first.
    pub fn spikes_started(&self, start: i64, end: i64) -> Result<Vec<SpikeEpisode>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT kind, scope, name, started_at, last_seen_at, count, baseline, threshold, summary
                 FROM spike_episodes WHERE started_at >= ?1 AND started_at < ?2 ORDER BY started_at, id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![start, end], |r| {
                Ok(SpikeEpisode {
                    kind: r.get(0)?,
                    scope: r.get(1)?,
                    name: r.get(2)?,
                    started_at: r.get(3)?,
                    last_seen_at: r.get(4)?,
                    count: r.get(5)?,
                    baseline: r.get(6)?,
                    threshold: r.get(7)?,
                    summary: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The earliest poll or stored mention: when this database started watching.
    pub fn first_activity(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(t) FROM (SELECT min(started_at) AS t FROM poll_log
                                     UNION ALL SELECT min(fetched_at) FROM mentions)",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// The digest queued for `list` and the period starting at `period_start`, if any.
    pub fn digest_sent(
        &self,
        list: &str,
        period_start: i64,
    ) -> Result<Option<DigestSent>, StoreError> {
        self.conn
            .query_row(
                "SELECT queued_at, late, sends FROM digests WHERE list = ?1 AND period_start = ?2",
                params![list, period_start],
                |r| {
                    Ok(DigestSent {
                        queued_at: r.get(0)?,
                        late: r.get(1)?,
                        sends: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Records a digest and queues its emails in one transaction. Without `force`, a period
    /// already recorded for the list is left alone and nothing is queued (returns `false`); with
    /// it, the emails are queued again (their Message-IDs must then differ from the first ones).
    pub fn record_digest(
        &mut self,
        d: &DigestRecord,
        force: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let recipients = d
            .alerts
            .iter()
            .map(|a| a.recipient.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let inserted = tx
            .execute(
                "INSERT INTO digests (list, period_start, period_end, period, recipients, queued_at, late)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (list, period_start) DO NOTHING",
                params![d.list, d.period_start, d.period_end, d.period, recipients, now, d.late],
            )
            .map_err(e)?;
        if inserted == 0 {
            if !force {
                return Ok(false);
            }
            tx.execute(
                "UPDATE digests SET sends = sends + 1, queued_at = ?3, recipients = ?4
                 WHERE list = ?1 AND period_start = ?2",
                params![d.list, d.period_start, now, recipients],
            )
            .map_err(e)?;
        }
        queue(&tx, "digest", &d.alerts, now).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(true)
    }

    /// Non-backfill, non-spam mentions that matched `watch`, stored in `[start, end)`.
    pub fn watch_window(
        &self,
        watch: &str,
        start: i64,
        end: i64,
    ) -> Result<WindowCount, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(m.label = 'complaint'), 0)
                 FROM mentions m JOIN mention_watches w ON w.mention_id = m.id AND w.watch = ?1
                 WHERE m.fetched_at >= ?2 AND m.fetched_at < ?3
                   AND m.backfill = 0 AND coalesce(m.spam, 0) = 0",
            )
            .and_then(|mut st| {
                st.query_row(params![watch, start, end], |r| {
                    Ok(WindowCount {
                        total: r.get(0)?,
                        complaints: r.get(1)?,
                    })
                })
            })
            .map_err(self.err())
    }

    /// Non-backfill, non-spam mentions from `source`, stored in `[start, end)`.
    pub fn source_window(
        &self,
        source: &str,
        start: i64,
        end: i64,
    ) -> Result<WindowCount, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(label = 'complaint'), 0) FROM mentions
                 WHERE fetched_at >= ?2 AND fetched_at < ?3 AND source = ?1
                   AND backfill = 0 AND coalesce(spam, 0) = 0",
            )
            .and_then(|mut st| {
                st.query_row(params![source, start, end], |r| {
                    Ok(WindowCount {
                        total: r.get(0)?,
                        complaints: r.get(1)?,
                    })
                })
            })
            .map_err(self.err())
    }

    /// When the first mention of `watch` (scope `watch`) or from `source` (scope `source`) was
    /// stored: how much history the baseline has.
    pub fn first_stored(&self, scope: &str, name: &str) -> Result<Option<i64>, StoreError> {
        // Mention ids grow with fetch time, so a watch's first mention is its smallest id; for a
        // source the daily counters say from which day on to look.
        let sql = if scope == "watch" {
            "SELECT fetched_at FROM mentions
             WHERE id = (SELECT min(mention_id) FROM mention_watches WHERE watch = ?1)"
        } else {
            "SELECT fetched_at FROM mentions
             WHERE fetched_at >= coalesce((SELECT min(day) FROM daily_counts
                                           WHERE scope = 'source' AND name = ?1), 0)
               AND source = ?1
             ORDER BY fetched_at LIMIT 1"
        };
        self.conn
            .query_row(sql, [name], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// The mentions behind a spike: those of the watch or source stored in `[start, end)`, the
    /// best-reached first. With `complaints_only`, complaints only.
    pub fn window_mentions(
        &self,
        scope: &str,
        name: &str,
        start: i64,
        end: i64,
        complaints_only: bool,
    ) -> Result<Vec<DigestMention>, StoreError> {
        let filter = if scope == "watch" {
            "fetched_at >= ?2 AND fetched_at < ?3 AND id IN (SELECT mention_id FROM mention_watches WHERE watch = ?1)"
        } else {
            "fetched_at >= ?2 AND fetched_at < ?3 AND source = ?1"
        };
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DIGEST_COLUMNS} FROM mentions WHERE {filter}
                   AND backfill = 0 AND coalesce(spam, 0) = 0 AND (NOT ?4 OR label = 'complaint')
                 ORDER BY author_reach IS NULL, author_reach DESC, id LIMIT 500"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![name, start, end, complaints_only], digest_mention)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Records a spike and queues its alerts in one transaction, unless the same kind of spike
    /// for the same watch or source was seen within `cooldown` seconds: then that episode is
    /// extended and nothing is queued.
    pub fn record_spike(
        &mut self,
        ep: &SpikeEpisode,
        alerts: &[NewAlert],
        cooldown: i64,
    ) -> Result<SpikeOutcome, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let ongoing: Option<i64> = tx
            .query_row(
                "SELECT id FROM spike_episodes WHERE kind = ?1 AND scope = ?2 AND name = ?3
                   AND last_seen_at >= ?4 ORDER BY last_seen_at DESC LIMIT 1",
                params![ep.kind, ep.scope, ep.name, ep.last_seen_at - cooldown],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        let outcome = match ongoing {
            Some(id) => {
                tx.execute(
                    "UPDATE spike_episodes SET last_seen_at = max(last_seen_at, ?2), count = max(count, ?3) WHERE id = ?1",
                    params![id, ep.last_seen_at, ep.count],
                )
                .map_err(e)?;
                SpikeOutcome::Ongoing
            }
            None => {
                tx.execute(
                    "INSERT INTO spike_episodes (kind, scope, name, started_at, last_seen_at, count, baseline, threshold, summary)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        ep.kind,
                        ep.scope,
                        ep.name,
                        ep.started_at,
                        ep.last_seen_at,
                        ep.count,
                        ep.baseline,
                        ep.threshold,
                        ep.summary
                    ],
                )
                .map_err(e)?;
                queue(&tx, "spike", alerts, ep.started_at).map_err(e)?;
                SpikeOutcome::New
            }
        };
        tx.commit().map_err(e)?;
        Ok(outcome)
    }

    /// Marks mention `id` answered by `by` at `now`, or clears the mark (`answered = false`).
    pub fn mark_answered(
        &self,
        id: i64,
        answered: bool,
        by: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE mentions SET answered_at = CASE WHEN ?2 THEN ?4 END,
                    answered_by = CASE WHEN ?2 THEN ?3 END WHERE id = ?1",
                params![id, answered, by, now],
            )
            .map_err(self.err())?;
        if changed == 0 {
            return Err(StoreError::NoSuchMention(id));
        }
        Ok(())
    }

    /// Stored mentions posted at or after `since` with an id above `after`, in id order, as
    /// routing sees them (for `webcare backtest`).
    pub fn mentions_posted_since(
        &self,
        since: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RoutingMention>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MENTION_COLUMNS} FROM mentions WHERE created_at >= ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![since, after, limit as i64], routing_mention)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }
}
