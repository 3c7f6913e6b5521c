//! Read-only numbers for the admin endpoints: poll counts and latencies from the poll log,
//! stored mentions per source, label and language, the outbox by state, and the size of the
//! database files. Each admin request opens its own read connection, so it never waits for the
//! writer (WAL) and never changes the database.

use super::Maintenance;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::row::row_struct;
use super::{Store, StoreError, schema};

/// Polls of one source, from the poll log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollStats {
    /// Source name.
    pub source: String,
    /// Poll attempts recorded.
    pub polls: i64,
    /// Attempts that failed.
    pub errors: i64,
    /// Sum of all attempts' durations, in milliseconds.
    pub duration_ms_sum: i64,
    /// For each bound asked for, the attempts that took at most that many milliseconds.
    pub at_most: Vec<i64>,
}

row_struct! {
    /// Stored mentions sharing a source, label and language.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MentionCount {
        /// Source name.
        pub source: String,
        /// Label, or `None` while unclassified.
        pub label: Option<String>,
        /// Language, or `None` when neither platform nor classifier knew.
        pub lang: Option<String>,
        /// Mentions stored.
        pub count: i64,
    }
}

row_struct! {
    /// The outbox in numbers.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct AlertStats {
        /// Alerts ever written to the outbox (still in it).
        pub queued: i64,
        /// Alerts waiting to be sent.
        pub pending: i64,
        /// Alerts the mail server accepted.
        pub sent: i64,
        /// Delivery attempts that failed (each retried later or given up).
        pub failed_attempts: i64,
        /// Alerts given up on (dead letters).
        pub dead: i64,
    }
}

row_struct! {
    /// What is stuck in the outbox, for `/healthz`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct OutboxBacklog {
        /// Pending alerts that have been due since before the cut-off.
        pub overdue: i64,
        /// When the oldest of them became due (unix seconds).
        pub oldest_due: Option<i64>,
        /// Alerts given up on whose last attempt came after the dead-letter cut-off.
        pub recent_dead: i64,
    }
}

/// Counts for the status commands and the metrics endpoint.
pub trait StatsStore {
    /// Poll attempts per source, with how many took at most each of `bounds_ms`.
    fn poll_stats(&self, bounds_ms: &[i64]) -> Result<Vec<PollStats>, StoreError>;

    /// Stored mentions per source, label and language, from the running totals the database
    /// keeps (migration 8), so the cost does not grow with the table.
    fn mention_counts(&self) -> Result<Vec<MentionCount>, StoreError>;

    /// The outbox by state, and its failed delivery attempts.
    fn alert_stats(&self) -> Result<AlertStats, StoreError>;

    /// Pending alerts due since before `due_before`, and dead letters last tried at or after
    /// `dead_since` (both unix seconds).
    fn outbox_backlog(&self, due_before: i64, dead_since: i64)
    -> Result<OutboxBacklog, StoreError>;

    /// When `source` started failing: its first failed poll after its last success (unix
    /// seconds), or `None` when its latest poll succeeded or it never failed.
    fn failing_since(&self, source: &str) -> Result<Option<i64>, StoreError>;

    /// Digest runs recorded, when the database has a `digest_runs` table.
    fn digest_runs(&self) -> Result<Option<i64>, StoreError>;

    /// Bytes on disk of the database file and its write-ahead log.
    fn database_size(&self) -> Result<u64, StoreError>;
}

impl Store {
    /// Opens an existing database read-only, without migrating it: the daemon owns the schema.
    /// Fails when the file is missing or written by a newer webcare.
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let err = |source| StoreError::Database {
            path: path.display().to_string(),
            source: super::DatabaseError(source),
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(err)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        let version = store.schema_version()?;
        if version as usize > schema::MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                known: schema::MIGRATIONS.len(),
            });
        }
        Ok(store)
    }
}

impl StatsStore for Store {
    fn poll_stats(&self, bounds_ms: &[i64]) -> Result<Vec<PollStats>, StoreError> {
        // One pass over the poll log: a count per histogram bound, computed in SQL so the
        // rows never leave SQLite. The bounds are numbers we own, not input.
        let buckets: String = bounds_ms
            .iter()
            .map(|b| format!(", sum(duration_ms <= {b})"))
            .collect();
        let sql = format!(
            "SELECT source, count(*), coalesce(sum(outcome = 'error'), 0), coalesce(sum(duration_ms), 0){buckets}
             FROM poll_log GROUP BY source ORDER BY source"
        );
        self.query_all(&sql, [], |r| {
            let mut at_most = Vec::with_capacity(bounds_ms.len());
            for i in 0..bounds_ms.len() {
                at_most.push(r.get::<_, Option<i64>>(4 + i)?.unwrap_or(0));
            }
            Ok(PollStats {
                source: r.get(0)?,
                polls: r.get(1)?,
                errors: r.get(2)?,
                duration_ms_sum: r.get(3)?,
                at_most,
            })
        })
    }

    fn mention_counts(&self) -> Result<Vec<MentionCount>, StoreError> {
        self.query_all(
            "SELECT source, nullif(label, '') AS label, nullif(lang, '') AS lang, n AS count
             FROM mention_totals WHERE n > 0 ORDER BY source, label, lang",
            [],
            MentionCount::from_row,
        )
    }

    fn alert_stats(&self) -> Result<AlertStats, StoreError> {
        // `attempts` counts every try, the successful one included.
        self.conn
            .query_row(
                "SELECT count(*) AS queued, count(*) FILTER (WHERE state = 'pending') AS pending,
                        count(*) FILTER (WHERE state = 'sent') AS sent,
                        coalesce(sum(attempts - (state = 'sent')), 0) AS failed_attempts,
                        count(*) FILTER (WHERE state = 'dead') AS dead
                 FROM outbox",
                [],
                AlertStats::from_row,
            )
            .map_err(self.err())
    }

    fn outbox_backlog(
        &self,
        due_before: i64,
        dead_since: i64,
    ) -> Result<OutboxBacklog, StoreError> {
        // A dead letter keeps the next_attempt_at of the attempt that killed it, which is when
        // that attempt became due: close enough to "when it died" for a health check.
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE state = 'pending' AND not_before < ?1) AS overdue,
                        min(not_before) FILTER (WHERE state = 'pending' AND not_before < ?1)
                            AS oldest_due,
                        count(*) FILTER (WHERE state = 'dead' AND next_attempt_at >= ?2)
                            AS recent_dead
                 FROM outbox WHERE state IN ('pending', 'dead')",
                params![due_before, dead_since],
                OutboxBacklog::from_row,
            )
            .map_err(self.err())
    }

    fn failing_since(&self, source: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(p.started_at) FROM source_state s JOIN poll_log p ON p.source = s.source
                 WHERE s.source = ?1 AND s.consecutive_failures > 0 AND p.outcome = 'error'
                   AND p.started_at >= coalesce(s.last_success_at, 0)",
                [source],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn digest_runs(&self) -> Result<Option<i64>, StoreError> {
        let exists = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digest_runs'",
                [],
                |_| Ok(()),
            )
            .optional()
            .map_err(self.err())?
            .is_some();
        if !exists {
            return Ok(None);
        }
        self.conn
            .query_row("SELECT count(*) FROM digest_runs", [], |r| r.get(0))
            .map(Some)
            .map_err(self.err())
    }

    fn database_size(&self) -> Result<u64, StoreError> {
        let io = |source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let main = std::fs::metadata(&self.path).map_err(io)?.len();
        let mut wal_path = self.path.clone().into_os_string();
        wal_path.push("-wal");
        let wal = match std::fs::metadata(&wal_path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io(e)),
        };
        Ok(main + wal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MentionStore;
    use crate::store::PollStore;
    use crate::store::RetentionStore;
    use crate::store::testing;

    /// What the metrics gauge must say: a count over the mentions table itself.
    fn counted(s: &Store) -> Vec<MentionCount> {
        let mut st = s
            .conn
            .prepare(
                "SELECT source, label, lang, count(*) AS count FROM mentions
                 GROUP BY source, label, lang ORDER BY source, label, lang",
            )
            .unwrap();
        st.query_map([], MentionCount::from_row)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn mention_totals_follow_storing_relabelling_and_erasing() {
        use crate::classify::{Classifier, Input};
        use crate::sources::Mention;
        use crate::store::{NewMention, PollCommit};
        use chrono::Utc;

        let (_d, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        let posts = [
            ("a", Some("nl"), "Al drie dagen geen internet, belachelijk!"),
            ("b", Some("en"), "Thanks, the technician was great"),
            ("c", None, "Fjordlink"),
            ("d", Some("da"), "Hvordan opsiger jeg mit abonnement?"),
        ];
        for source in ["forum", "reviews"] {
            let mentions = posts
                .iter()
                .map(|(author, lang, text)| NewMention {
                    mention: Mention {
                        external_id: format!("{source}-{author}"),
                        author_handle: Some(author.to_string()),
                        lang: lang.map(str::to_string),
                        text: text.to_string(),
                        created_at: Utc::now(),
                        ..Default::default()
                    },
                    watches: vec!["Fjordlink".into()],
                    // One mention stays unclassified.
                    verdict: (*author != "c").then(|| c.classify(&Input::new(text))),
                })
                .collect();
            s.commit_poll(PollCommit {
                raw_max_bytes: 0,
                ..PollCommit::news(source, mentions)
            })
            .unwrap();
        }
        assert_eq!(s.mention_counts().unwrap(), counted(&s));
        assert!(
            s.mention_counts()
                .unwrap()
                .iter()
                .any(|m| m.label.is_none() && m.lang.is_none() && m.count == 1),
            "unclassified mentions without a language are counted too"
        );

        let id = s.mention_id("forum", "forum-b").unwrap().unwrap();
        s.correct_label(id, "complaint", "sanne").unwrap();
        assert_eq!(s.mention_counts().unwrap(), counted(&s));

        // A campaign: the same praise from three authors turns every copy into spam (label
        // neutral), the ones stored in earlier polls included.
        let praise = "Fjordlink is simply the best provider in the whole country";
        for author in ["x", "y", "z"] {
            s.commit_poll(PollCommit {
                raw_max_bytes: 0,
                signals: Some(&c),
                ..PollCommit::news(
                    "forum",
                    vec![NewMention {
                        mention: Mention {
                            external_id: format!("campaign-{author}"),
                            author_handle: Some(author.to_string()),
                            text: praise.to_string(),
                            created_at: Utc::now(),
                            ..Default::default()
                        },
                        watches: vec!["Fjordlink".into()],
                        verdict: Some(c.classify(&Input::new(praise))),
                    }],
                )
            })
            .unwrap();
        }
        let spam: i64 = s
            .conn
            .query_row("SELECT count(*) FROM mentions WHERE spam = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(spam, 3, "the campaign was relabelled");
        assert_eq!(s.mention_counts().unwrap(), counted(&s));

        s.forget_author("rss", "a", false).unwrap();
        assert_eq!(s.mention_counts().unwrap(), counted(&s));
        assert_eq!(
            s.mention_counts()
                .unwrap()
                .iter()
                .map(|m| m.count)
                .sum::<i64>(),
            9
        );
    }

    #[test]
    fn an_upgraded_database_starts_its_totals_from_the_mentions_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        // A database as migration 7 left it, built from the first seven migrations (so a new
        // migration never needs this test edited), with mentions in it.
        let old = Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..7] {
            old.execute_batch(sql).unwrap();
        }
        old.execute_batch(
            "INSERT INTO mentions (source, kind, external_id, text, created_at, fetched_at, watches, label, lang)
             VALUES ('a', 'rss', '1', 't', 1, 1, '[]', 'praise', 'nl'),
                    ('a', 'rss', '2', 't', 1, 1, '[]', 'praise', 'nl'),
                    ('b', 'rss', '3', 't', 1, 1, '[]', NULL, NULL);
             PRAGMA user_version = 7;",
        )
        .unwrap();
        drop(old);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
        assert_eq!(s.mention_counts().unwrap(), counted(&s));
        assert_eq!(s.mention_counts().unwrap()[0].count, 2);
    }

    #[test]
    fn poll_stats_count_errors_and_bucket_durations() {
        let (_d, s) = testing::temp_store();
        s.conn
            .execute_batch(
                "INSERT INTO poll_log (source, started_at, duration_ms, outcome) VALUES
                   ('a', 1, 50, 'ok'), ('a', 2, 700, 'error'), ('a', 3, 3000, 'ok'), ('b', 1, 10, 'ok');",
            )
            .unwrap();
        let stats = s.poll_stats(&[100, 1000]).unwrap();
        assert_eq!(
            stats[0],
            PollStats {
                source: "a".into(),
                polls: 3,
                errors: 1,
                duration_ms_sum: 3750,
                at_most: vec![1, 2],
            }
        );
        assert_eq!(stats[1].source, "b");
        assert_eq!(stats[1].errors, 0);
    }

    #[test]
    fn failing_since_is_the_first_failure_after_the_last_success() {
        let (_d, s) = testing::temp_store();
        s.conn
            .execute_batch(
                "INSERT INTO source_state (source, kind, last_success_at, consecutive_failures) VALUES
                   ('a', 'rss', 100, 2), ('ok', 'rss', 100, 0);
                 INSERT INTO poll_log (source, started_at, duration_ms, outcome) VALUES
                   ('a', 50, 1, 'error'), ('a', 99, 1, 'ok'), ('a', 160, 1, 'error'), ('a', 220, 1, 'error'),
                   ('ok', 40, 1, 'error');",
            )
            .unwrap();
        assert_eq!(s.failing_since("a").unwrap(), Some(160));
        assert_eq!(s.failing_since("ok").unwrap(), None);
        assert_eq!(s.failing_since("never-polled").unwrap(), None);
    }

    #[test]
    fn outbox_backlog_ignores_alerts_held_until_later() {
        let (_d, s) = testing::temp_store();
        let row = |state: &str, not_before: i64, next: i64, attempts: i64| {
            s.conn
                .execute(
                    "INSERT INTO outbox (team, rule, recipient, message_id, subject, body_text, body_html,
                        state, created_at, not_before, next_attempt_at, attempts)
                     VALUES ('t', 'r', 'a@example.com', ?1, 's', 'b', 'b', ?2, 0, ?3, ?4, ?5)",
                    params![format!("{state}{not_before}{next}"), state, not_before, next, attempts],
                )
                .unwrap();
        };
        row("pending", 100, 100, 2); // due long ago, still failing
        row("pending", 5000, 5000, 0); // held for quiet hours
        row("dead", 100, 100, 1); // died long ago
        row("dead", 100, 4000, 3); // died recently
        row("sent", 100, 100, 1);
        let b = s.outbox_backlog(1000, 3000).unwrap();
        assert_eq!(
            b,
            OutboxBacklog {
                overdue: 1,
                oldest_due: Some(100),
                recent_dead: 1,
            }
        );
        let a = s.alert_stats().unwrap();
        assert_eq!(
            a,
            AlertStats {
                queued: 5,
                pending: 2,
                sent: 1,
                failed_attempts: 2 + 1 + 3,
                dead: 2,
            }
        );
    }

    #[test]
    fn a_reader_sees_the_writers_commits_and_cannot_write() {
        let (dir, s) = testing::temp_store();
        s.conn
            .execute_batch("INSERT INTO poll_log (source, started_at, duration_ms, outcome) VALUES ('a', 1, 5, 'ok');")
            .unwrap();
        let r = Store::open_reader(&dir.path().join("w.db")).unwrap();
        assert_eq!(r.poll_stats(&[]).unwrap()[0].polls, 1);
        assert!(r.conn.execute_batch("DELETE FROM poll_log").is_err());
        assert!(r.database_size().unwrap() > 0);
        assert_eq!(r.digest_runs().unwrap(), None);
        assert!(matches!(
            Store::open_reader(&dir.path().join("missing.db")),
            Err(StoreError::Missing(_))
        ));
    }
}
