//! Keeping the write-ahead log small. SQLite only moves the WAL back into the database when
//! nothing reads an old snapshot, so a busy daemon's WAL can grow for as long as it runs, and on
//! a full disk that growth is what stops recovery. The daemon checkpoints every
//! [`CHECKPOINT_EVERY`], and `journal_size_limit` ([`JOURNAL_SIZE_LIMIT`]) makes SQLite cut the
//! file back once a checkpoint has emptied it.

use std::time::Duration;

use super::{Store, StoreError, Writer};
use crate::shutdown::Shutdown;

/// How often the daemon checkpoints the WAL.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5 * 60);

/// Bytes of WAL file SQLite keeps after a checkpoint resets the log (`journal_size_limit`).
pub const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// What one checkpoint did, from `PRAGMA wal_checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// True when a reader held an old snapshot and the log could not be emptied this time.
    pub busy: bool,
    /// Pages in the log before the checkpoint.
    pub log_pages: i64,
    /// Pages moved into the database.
    pub checkpointed: i64,
}

impl Store {
    /// Moves the WAL into the database and truncates the log file when no reader holds an old
    /// snapshot. Safe at any time: it never loses a committed transaction.
    pub fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok(Checkpoint {
                    busy: r.get::<_, i64>(0)? != 0,
                    log_pages: r.get(1)?,
                    checkpointed: r.get(2)?,
                })
            })
            .map_err(self.err())
    }

    /// Sets `journal_size_limit`, so the WAL file shrinks after each checkpoint that empties it.
    pub(super) fn limit_journal(&self) -> Result<(), StoreError> {
        self.conn
            .query_row(
                &format!("PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}"),
                [],
                |_| Ok(()),
            )
            .map_err(self.err())
    }
}

/// The daemon's checkpoint stage: every [`CHECKPOINT_EVERY`] until `shutdown`, and once more
/// on the way out so a stopped daemon leaves a small WAL behind.
pub async fn run_checkpoints(writer: Writer, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            _ = shutdown.wait() => break,
        }
        match writer.run(|s| s.checkpoint()).await {
            Ok(c) if c.busy => tracing::debug!(
                pages = c.log_pages,
                "WAL checkpoint waits for a reader; trying again later"
            ),
            Ok(c) => tracing::debug!(pages = c.checkpointed, "WAL checkpointed"),
            Err(e) => tracing::warn!(error = %e, "cannot checkpoint the WAL; trying again later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_empties_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path).unwrap();
        let limit: i64 = store
            .conn
            .query_row("PRAGMA journal_size_limit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(limit, JOURNAL_SIZE_LIMIT);
        store
            .conn
            .execute_batch(
                "CREATE TABLE filler (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT randomblob(1000) FROM n;",
            )
            .unwrap();
        let wal = dir.path().join("w.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 1_000_000);
        let c = store.checkpoint().unwrap();
        // SQLite's auto-checkpoint may already have copied the pages back; the file stays big
        // until a truncating checkpoint.
        assert!(!c.busy, "{c:?}");
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }
}
