//! The digest's SQL: counts per source and label over a period, first-response times, failed
//! polls, and the `digests` ledger that makes a period's digest go out once. Recording a digest
//! puts its outbox rows in the same transaction as the ledger entry, exactly like routing does.
//! The mentions a digest names are read with a [`super::MentionQuery`].

use rusqlite::{OptionalExtension, params};

use super::outbox::queue;
use super::row::row_struct;
use super::{NewAlert, Store, StoreError};

row_struct! {
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
}

row_struct! {
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

row_struct! {
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
}

row_struct! {
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
}

row_struct! {
    /// How many non-spam reviews of one source gave one star rating in a period.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RatingCount {
        /// Source name.
        pub source: String,
        /// The source's kind (the platform).
        pub kind: String,
        /// Stars, 1 to 5.
        pub rating: i64,
        /// Reviews with that rating.
        pub count: i64,
    }
}

/// What the daily digest reads (volumes, first responses, failed sources) and the ledger of
/// digests sent, so a digest goes out once per period.
pub trait DigestLogStore {
    /// Mentions posted in `[start, end)` per source, label and spam flag. A mention counts as
    /// positive or negative by its label, or by a sentiment beyond `±threshold`.
    fn volume(&self, start: i64, end: i64, threshold: f64) -> Result<Vec<VolumeRow>, StoreError>;

    /// First-response times of the non-spam mentions answered in `[start, end)`: answer time
    /// minus post time, once per team the mention was routed to. An answer stamped before the
    /// post (a skewed clock) counts as zero.
    fn first_responses(&self, start: i64, end: i64) -> Result<Vec<FirstResponse>, StoreError>;

    /// Non-spam reviews posted in `[start, end)` per source and star rating (1 to 5).
    fn ratings(&self, start: i64, end: i64) -> Result<Vec<RatingCount>, StoreError>;

    /// When the newest stored non-spam mention was posted (unix seconds), if there is one.
    fn latest_post(&self) -> Result<Option<i64>, StoreError>;

    /// Title and text of every non-spam complaint posted in `[start, end)`.
    fn complaint_texts(&self, start: i64, end: i64) -> Result<Vec<String>, StoreError>;

    /// Sources with failed polls in `[start, end)`, with the last error and whether they are
    /// failing still.
    fn failed_sources(&self, start: i64, end: i64) -> Result<Vec<FailedSource>, StoreError>;

    /// The earliest poll or stored mention: when this database started watching.
    fn first_activity(&self) -> Result<Option<i64>, StoreError>;

    /// The digest queued for `list` and the period starting at `period_start`, if any.
    fn digest_sent(&self, list: &str, period_start: i64) -> Result<Option<DigestSent>, StoreError>;

    /// Records a digest and queues its emails in one transaction. Without `force`, a period
    /// already recorded for the list is left alone and nothing is queued (returns `false`); with
    /// it, the emails are queued again (their Message-IDs must then differ from the first ones).
    fn record_digest(
        &mut self,
        d: &DigestRecord,
        force: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
}

impl DigestLogStore for Store {
    fn volume(&self, start: i64, end: i64, threshold: f64) -> Result<Vec<VolumeRow>, StoreError> {
        self.query_all(
            "SELECT source, coalesce(label, 'unclassified') AS label, coalesce(spam, 0) AS spam,
                    count(*) AS count,
                    coalesce(sum(label = 'praise'
                        OR (coalesce(label, '') <> 'complaint' AND sentiment >= ?3)), 0) AS positive,
                    coalesce(sum(label = 'complaint'
                        OR (coalesce(label, '') <> 'praise' AND sentiment <= -?3)), 0) AS negative
             FROM mentions WHERE created_at >= ?1 AND created_at < ?2
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            params![start, end, threshold],
            VolumeRow::from_row,
        )
    }

    fn first_responses(&self, start: i64, end: i64) -> Result<Vec<FirstResponse>, StoreError> {
        self.query_all(
            "SELECT DISTINCT m.id, coalesce(json_extract(r.value, '$.team'), '') AS team,
                    m.kind AS kind, max(m.answered_at - m.created_at, 0) AS seconds
             FROM mentions m LEFT JOIN json_each(m.route) r
             WHERE m.answered_at >= ?1 AND m.answered_at < ?2 AND coalesce(m.spam, 0) = 0
             ORDER BY 2, 3, 4",
            params![start, end],
            FirstResponse::from_row,
        )
    }

    fn ratings(&self, start: i64, end: i64) -> Result<Vec<RatingCount>, StoreError> {
        self.query_all(
            "SELECT source, kind, rating, count(*) AS count FROM mentions
             WHERE created_at >= ?1 AND created_at < ?2 AND rating BETWEEN 1 AND 5
               AND coalesce(spam, 0) = 0
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            params![start, end],
            RatingCount::from_row,
        )
    }

    fn latest_post(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(created_at) FROM mentions WHERE coalesce(spam, 0) = 0",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn complaint_texts(&self, start: i64, end: i64) -> Result<Vec<String>, StoreError> {
        self.query_all("SELECT coalesce(title || ' ', '') || text FROM mentions
                 WHERE created_at >= ?1 AND created_at < ?2 AND label = 'complaint' AND coalesce(spam, 0) = 0", params![start, end], |r| r.get(0))
    }

    fn failed_sources(&self, start: i64, end: i64) -> Result<Vec<FailedSource>, StoreError> {
        self.query_all(
            "SELECT p.source AS source, sum(p.outcome = 'error') AS failures,
                    sum(p.outcome <> 'error') AS successes,
                    coalesce((SELECT error FROM poll_log e WHERE e.source = p.source
                        AND e.outcome = 'error' AND e.started_at >= ?1 AND e.started_at < ?2
                        ORDER BY e.started_at DESC, e.id DESC LIMIT 1), '') AS last_error,
                    coalesce((SELECT consecutive_failures FROM source_state s
                        WHERE s.source = p.source), 0) AS failing_now
             FROM poll_log p WHERE p.started_at >= ?1 AND p.started_at < ?2
             GROUP BY p.source HAVING sum(p.outcome = 'error') > 0 ORDER BY p.source",
            params![start, end],
            FailedSource::from_row,
        )
    }

    fn first_activity(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(t) FROM (SELECT min(started_at) AS t FROM poll_log
                                     UNION ALL SELECT min(fetched_at) FROM mentions)",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn digest_sent(&self, list: &str, period_start: i64) -> Result<Option<DigestSent>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM digests WHERE list = ?1 AND period_start = ?2",
                    DigestSent::COLUMNS
                ),
                params![list, period_start],
                DigestSent::from_row,
            )
            .optional()
            .map_err(self.err())
    }

    fn record_digest(
        &mut self,
        d: &DigestRecord,
        force: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
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
            ?;
        if inserted == 0 {
            if !force {
                return Ok(false);
            }
            tx.execute(
                "UPDATE digests SET sends = sends + 1, queued_at = ?3, recipients = ?4
                 WHERE list = ?1 AND period_start = ?2",
                params![d.list, d.period_start, now, recipients],
            )
            ?;
        }
        queue(tx, None, "digest", &d.alerts, now)?;
            Ok(true)
        })
    }
}
