//! The spike detector's SQL: counts of a watch's or source's mentions in a window, how much
//! history a baseline has, and the spike episodes, recorded with their alerts in one
//! transaction so one episode alerts once. The mentions behind a spike are read with a
//! [`super::MentionQuery`].

use rusqlite::{OptionalExtension, params};

use super::mention::has_watch;
use super::outbox::queue;
use super::row::row_struct;
use super::{NewAlert, Store, StoreError};

row_struct! {
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
}

/// What [`SpikeStore::record_spike`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeOutcome {
    /// A new episode: its alerts were queued.
    New,
    /// The same episode as one seen within the cooldown: extended, nothing queued.
    Ongoing,
}

/// Counts of non-backfill, non-spam mentions in a window: total and complaints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCount {
    /// All mentions.
    pub total: i64,
    /// Complaints among them.
    pub complaints: i64,
}

/// Volume spikes: the counts a spike check compares and the episodes it has alerted on.
pub trait SpikeStore {
    /// Spike episodes that started in `[start, end)`, oldest first.
    fn spikes_started(&self, start: i64, end: i64) -> Result<Vec<SpikeEpisode>, StoreError>;

    /// Non-backfill, non-spam mentions that matched `watch`, stored in `[start, end)`.
    fn watch_window(&self, watch: &str, start: i64, end: i64) -> Result<WindowCount, StoreError>;

    /// Non-backfill, non-spam mentions from `source`, stored in `[start, end)`.
    fn source_window(&self, source: &str, start: i64, end: i64) -> Result<WindowCount, StoreError>;

    /// When the first mention of `watch` (scope `watch`) or from `source` (scope `source`) was
    /// stored: how much history the baseline has.
    fn first_stored(&self, scope: &str, name: &str) -> Result<Option<i64>, StoreError>;

    /// Records a spike and queues its alerts in one transaction, unless the same kind of spike
    /// for the same watch or source was seen within `cooldown` seconds: then that episode is
    /// extended and nothing is queued.
    fn record_spike(
        &mut self,
        ep: &SpikeEpisode,
        alerts: &[NewAlert],
        cooldown: i64,
    ) -> Result<SpikeOutcome, StoreError>;
}

impl SpikeStore for Store {
    fn spikes_started(&self, start: i64, end: i64) -> Result<Vec<SpikeEpisode>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {} FROM spike_episodes WHERE started_at >= ?1 AND started_at < ?2
                 ORDER BY started_at, id",
                SpikeEpisode::COLUMNS
            ),
            params![start, end],
            SpikeEpisode::from_row,
        )
    }

    fn watch_window(&self, watch: &str, start: i64, end: i64) -> Result<WindowCount, StoreError> {
        self.window_count(
            &format!(
                "SELECT count(*), coalesce(sum(m.label = 'complaint'), 0)
                 FROM mentions m
                 WHERE m.fetched_at >= ?2 AND m.fetched_at < ?3 AND {}
                   AND m.backfill = 0 AND coalesce(m.spam, 0) = 0",
                has_watch("m.watches", "?1")
            ),
            params![watch, start, end],
        )
    }

    fn source_window(&self, source: &str, start: i64, end: i64) -> Result<WindowCount, StoreError> {
        self.window_count(
            "SELECT count(*), coalesce(sum(label = 'complaint'), 0) FROM mentions
             WHERE fetched_at >= ?2 AND fetched_at < ?3 AND source = ?1
               AND backfill = 0 AND coalesce(spam, 0) = 0",
            params![source, start, end],
        )
    }

    fn first_stored(&self, scope: &str, name: &str) -> Result<Option<i64>, StoreError> {
        // Mention ids grow with fetch time, so a watch's first mention is its smallest id
        // with the watch: the watch index, in id order, is read from the smallest id the
        // daily counters ever counted for the watch up to the first still stored. A watch
        // the daily counters never counted has nothing to look for: without that check,
        // every spike run would read the whole index for it. For a source the daily counters
        // say from which day on to look.
        if scope == "watch" && !self.ever_counted(scope, name)? {
            return Ok(None);
        }
        let sql = if scope == "watch" {
            &format!(
                "SELECT fetched_at FROM mentions WHERE id = (
                    SELECT id FROM mentions INDEXED BY mentions_watch_ids
                    WHERE id >= coalesce((SELECT min(first_id) FROM daily_counts
                                          WHERE scope = 'watch' AND name = ?1), 0)
                      AND {}
                    ORDER BY id LIMIT 1)",
                has_watch("watches", "?1")
            )
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

    fn record_spike(
        &mut self,
        ep: &SpikeEpisode,
        alerts: &[NewAlert],
        cooldown: i64,
    ) -> Result<SpikeOutcome, StoreError> {
        self.write(|tx| {
        let ongoing: Option<i64> = tx
            .query_row(
                "SELECT id FROM spike_episodes WHERE kind = ?1 AND scope = ?2 AND name = ?3
                   AND last_seen_at >= ?4 ORDER BY last_seen_at DESC LIMIT 1",
                params![ep.kind, ep.scope, ep.name, ep.last_seen_at - cooldown],
                |r| r.get(0),
            )
            .optional()
            ?;
        let outcome = match ongoing {
            Some(id) => {
                tx.execute(
                    "UPDATE spike_episodes SET last_seen_at = max(last_seen_at, ?2), count = max(count, ?3) WHERE id = ?1",
                    params![id, ep.last_seen_at, ep.count],
                )
                ?;
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
                ?;
                queue(tx, None, "spike", alerts, ep.started_at)?;
                SpikeOutcome::New
            }
        };
            Ok(outcome)
        })
    }
}

impl Store {
    /// The window `sql` counts for `params`: all mentions, then the complaints among them.
    /// The statement is cached: every spike check asks again, for every watch and source.
    fn window_count(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<WindowCount, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.query_row(params, |r| {
                    Ok(WindowCount {
                        total: r.get(0)?,
                        complaints: r.get(1)?,
                    })
                })
            })
            .map_err(self.err())
    }

    /// Whether the daily counters ever counted a mention for `name` in `scope`.
    fn ever_counted(&self, scope: &str, name: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM daily_counts WHERE scope = ?1 AND name = ?2)",
            )
            .and_then(|mut st| st.query_row([scope, name], |r| r.get(0)))
            .map_err(self.err())
    }
}
