//! A source's poll state: its cursor, when it last polled and failed, how many failures in a
//! row, when it polls next and how close it is to its daily cap. The scheduler reads it on
//! start and `webcare sources` shows it; a successful poll updates it in `commit.rs`, together
//! with the poll's mentions.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::row::row_struct;
use super::{Store, StoreError, day_start};

row_struct! {
    /// A source's stored poll state, for the scheduler and `webcare sources`.
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct SourceState {
        /// Source name.
        pub source: String,
        /// Source kind.
        pub kind: String,
        /// Opaque cursor the source gave last.
        #[serde(skip)]
        pub cursor: Option<String>,
        /// Last poll attempt (unix seconds).
        pub last_poll_at: Option<i64>,
        /// Last successful poll (unix seconds).
        pub last_success_at: Option<i64>,
        /// The last error, until a poll succeeds.
        pub last_error: Option<String>,
        /// When the last error happened (unix seconds).
        pub last_error_at: Option<i64>,
        /// Failures since the last success.
        pub consecutive_failures: i64,
        /// When the next poll is due (unix seconds).
        pub next_poll_at: Option<i64>,
        /// Mentions stored from this source, ever.
        pub items_stored: i64,
        /// Mentions stored today (UTC).
        pub stored_today: i64,
        /// A note when a daily cap is near or reached.
        pub cap_note: Option<String>,
    }
}

impl SourceState {
    /// The state `webcare sources` and the sources page show for this source, `enabled` or
    /// not in the config: `disabled`, `new` before its first poll, `failing` from a failed
    /// poll until one succeeds, else `ok`.
    pub fn state_name(&self, enabled: bool) -> &'static str {
        if !enabled {
            "disabled"
        } else if self.last_poll_at.is_none() {
            "new"
        } else if self.consecutive_failures > 0 {
            "failing"
        } else {
            "ok"
        }
    }
}

/// A poll that failed, as the scheduler reports it.
#[derive(Debug, Clone)]
pub struct FailedPoll {
    /// The source's configured name.
    pub source: String,
    /// Its kind, e.g. `rss`.
    pub kind: String,
    /// What went wrong, as logged (never with a secret in it).
    pub error: String,
    /// When the poll began.
    pub started_at: DateTime<Utc>,
    /// When the source is due again, after its back-off.
    pub next_poll_at: DateTime<Utc>,
}

/// Each source's cursor, schedule and last outcome.
pub trait SourceStateStore {
    /// Records a failed poll: the cursor stays where it was.
    fn record_failure(&mut self, failure: &FailedPoll) -> Result<i64, StoreError>;

    /// The stored state of one source, if it was ever polled.
    fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError>;

    /// The stored state of every source ever polled.
    fn source_states(&self) -> Result<Vec<SourceState>, StoreError>;
}

impl SourceStateStore for Store {
    fn record_failure(&mut self, failure: &FailedPoll) -> Result<i64, StoreError> {
        let FailedPoll {
            source,
            kind,
            error,
            started_at,
            next_poll_at,
        } = failure;
        let now = Utc::now();
        self.write(|tx| {
        tx.execute(
            "INSERT INTO source_state (source, kind, last_poll_at, last_error, last_error_at, consecutive_failures, next_poll_at)
             VALUES (?1, ?2, ?3, ?4, ?3, 1, ?5)
             ON CONFLICT (source) DO UPDATE SET kind = excluded.kind, last_poll_at = excluded.last_poll_at,
                last_error = excluded.last_error, last_error_at = excluded.last_error_at,
                consecutive_failures = source_state.consecutive_failures + 1, next_poll_at = excluded.next_poll_at",
            params![source, kind, now.timestamp(), error, next_poll_at.timestamp()],
        )
        ?;
        tx.execute(
            "INSERT INTO poll_log (source, started_at, duration_ms, outcome, error) VALUES (?1, ?2, ?3, 'error', ?4)",
            params![source, started_at.timestamp(), (now - *started_at).num_milliseconds().max(0), error],
        )
        ?;
        let failures: i64 = tx
            .query_row(
                "SELECT consecutive_failures FROM source_state WHERE source = ?1",
                [source],
                |r| r.get(0),
            )
            ?;
            Ok(failures)
        })
    }

    fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError> {
        Ok(self.source_states_where(Some(source))?.into_iter().next())
    }

    fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        self.source_states_where(None)
    }
}

impl Store {
    fn source_states_where(&self, source: Option<&str>) -> Result<Vec<SourceState>, StoreError> {
        let today = day_start(Utc::now());
        self.query_all(
            "SELECT s.*, coalesce((SELECT stored FROM daily_counts d
                        WHERE d.day = ?2 AND d.scope = 'source' AND d.name = s.source), 0)
                    AS stored_today
             FROM source_state s WHERE ?1 IS NULL OR s.source = ?1 ORDER BY s.source",
            params![source, today],
            SourceState::from_row,
        )
    }
}
