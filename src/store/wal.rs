//! Keeping the write-ahead log small, without making a poll's commit copy it back. SQLite's
//! automatic checkpoint runs inside the commit that crosses its threshold, so a big poll paid
//! for copying the whole log into the database before its commit returned (about 150 ms of a
//! 100,000-entry feed's 1.3 s). The daemon turns that off on its writer and checkpoints on a
//! connection of its own instead ([`Checkpointer`]): a passive checkpoint copies the log back
//! beside the writer, never waiting for it, whenever the log has grown past
//! [`BACKGROUND_AFTER_BYTES`]. Every [`CHECKPOINT_EVERY`] the writer itself runs a truncating
//! checkpoint, and `journal_size_limit` ([`JOURNAL_SIZE_LIMIT`]) makes SQLite cut the file back
//! once a checkpoint has emptied it: SQLite only moves the log back when nothing reads an old
//! snapshot, so without these a busy daemon's log could grow for as long as it runs, and on a
//! full disk that growth is what stops recovery.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::{DatabaseError, Store, StoreError, Writer};
use crate::shutdown::Shutdown;

/// How often the daemon runs a truncating checkpoint on the writer.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5 * 60);

/// How often the daemon looks at the log's size.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Log size past which the background checkpoint runs: SQLite's own automatic threshold
/// (1,000 pages of 4 KiB).
pub const BACKGROUND_AFTER_BYTES: u64 = 4 * 1024 * 1024;

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

fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        busy: r.get::<_, i64>(0)? != 0,
        log_pages: r.get(1)?,
        checkpointed: r.get(2)?,
    })
}

/// The write-ahead log's checkpoints.
pub trait WalStore {
    /// Moves the WAL into the database and truncates the log file when no reader holds an old
    /// snapshot. Safe at any time: it never loses a committed transaction.
    fn checkpoint(&self) -> Result<Checkpoint, StoreError>;

    /// Stops this connection's commits from checkpointing by themselves: a [`Checkpointer`]
    /// does it beside them. Only for a writer whose log something else checkpoints.
    fn leave_checkpoints_to_background(&self) -> Result<(), StoreError>;
}

impl WalStore for Store {
    fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], checkpoint_row)
            .map_err(self.err())
    }

    fn leave_checkpoints_to_background(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(self.err())
    }
}

impl Store {
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

/// A connection that only checkpoints, so copying the log back never holds up the writer:
/// a passive checkpoint takes no lock the writer needs and copies only committed pages.
pub struct Checkpointer {
    conn: Connection,
    path: PathBuf,
    wal: PathBuf,
}

impl Checkpointer {
    /// Opens the existing database at `path` for checkpoints.
    pub fn open(path: &Path) -> Result<Checkpointer, StoreError> {
        let e = |source| StoreError::Database {
            path: path.display().to_string(),
            source: DatabaseError(source),
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(e)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(e)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Checkpointer {
            conn,
            path: path.to_path_buf(),
            wal: wal.into(),
        })
    }

    /// Size of the log file now; 0 when there is none.
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0)
    }

    /// Copies every committed page of the log into the database that no reader still needs,
    /// without waiting for the writer or any reader.
    pub fn passive(&self) -> Result<Checkpoint, StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], checkpoint_row)
            .map_err(|source| StoreError::Database {
                path: self.path.display().to_string(),
                source: DatabaseError(source),
            })
    }
}

/// The daemon's checkpoint stage. It takes the checkpoints over from the writer's commits,
/// runs a passive one on its own connection whenever the log has grown past
/// [`BACKGROUND_AFTER_BYTES`], a truncating one on the writer every [`CHECKPOINT_EVERY`], and
/// a truncating one on the way out so a stopped daemon leaves a small WAL behind. Should its
/// own connection fail to open, the writer keeps checkpointing by itself.
pub async fn run_checkpoints(writer: Writer, mut shutdown: Shutdown) {
    let mut background = match Checkpointer::open(writer.path()) {
        Ok(c) => match writer.run(|s| s.leave_checkpoints_to_background()).await {
            Ok(()) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot move checkpoints off the writer; its commits checkpoint");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot open a checkpoint connection; the writer's commits checkpoint");
            None
        }
    };
    let mut truncated = Instant::now();
    let mut last = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = shutdown.wait() => break,
        }
        if truncated.elapsed() >= CHECKPOINT_EVERY {
            truncated = Instant::now();
            truncate(&writer).await;
        } else if let Some(c) = background.take() {
            background = Some(if c.log_bytes() >= BACKGROUND_AFTER_BYTES {
                // The file keeps its size after the log restarts, so this runs again while
                // there may be nothing new to copy; that costs a look at the WAL index.
                let (c, done) = passive(c).await;
                match done {
                    Ok(d) if Some(d) != last => {
                        tracing::debug!(
                            log = d.log_pages,
                            copied = d.checkpointed,
                            "WAL checkpointed beside the writer"
                        );
                        last = Some(d);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot checkpoint the WAL; trying again later")
                    }
                }
                c
            } else {
                c
            });
        }
    }
    truncate(&writer).await;
}

/// A passive checkpoint on a blocking thread; hands the connection back with its outcome.
async fn passive(c: Checkpointer) -> (Checkpointer, Result<Checkpoint, StoreError>) {
    tokio::task::spawn_blocking(move || {
        let done = c.passive();
        (c, done)
    })
    .await
    .expect("checkpoint task panicked")
}

/// A truncating checkpoint on the writer.
async fn truncate(writer: &Writer) {
    match writer.run(|s| s.checkpoint()).await {
        Ok(c) if c.busy => tracing::debug!(
            pages = c.log_pages,
            "WAL checkpoint waits for a reader; trying again later"
        ),
        Ok(c) => tracing::debug!(pages = c.checkpointed, "WAL checkpointed"),
        Err(e) => tracing::warn!(error = %e, "cannot checkpoint the WAL; trying again later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    /// Creates `table` holding `rows` blobs of 1,000 bytes, in one transaction.
    fn fill(store: &Store, table: &str, rows: u32) {
        store
            .conn
            .execute_batch(&format!(
                "CREATE TABLE {table} (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
                 INSERT INTO {table} SELECT randomblob(1000) FROM n;"
            ))
            .unwrap()
    }

    #[test]
    fn a_writer_that_leaves_checkpoints_to_the_background_keeps_its_log_until_the_checkpointer_copies_it()
     {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path).unwrap();
        store.leave_checkpoints_to_background().unwrap();
        fill(&store, "first", 6000);
        let background = Checkpointer::open(&path).unwrap();
        let after_first = background.log_bytes();
        assert!(after_first > 6_000_000, "{after_first}");

        let db_bytes = || std::fs::metadata(&path).unwrap().len();
        // The commit copied nothing back into the database file by itself.
        assert!(db_bytes() < 1_000_000, "{}", db_bytes());
        let c = background.passive().unwrap();
        assert!(db_bytes() > 6_000_000, "{}", db_bytes());
        assert!(c.log_pages > 1_400, "{c:?}");
        assert_eq!(c.checkpointed, c.log_pages, "{c:?}");
        assert!(!c.busy);

        // The writer's next transaction starts the log over instead of appending to it.
        fill(&store, "second", 6000);
        let after_second = background.log_bytes();
        assert!(
            after_second < after_first * 3 / 2,
            "{after_first} -> {after_second}"
        );
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT (SELECT count(*) FROM first) + (SELECT count(*) FROM second)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 12_000);
    }

    #[tokio::test]
    async fn the_checkpoint_stage_copies_a_big_commit_back_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let writer = Writer::new(Box::new(Store::open(&path).unwrap()));
        let (stop, shutdown) = Shutdown::new();
        let stage = tokio::spawn(run_checkpoints(writer.clone(), shutdown));
        let deadline = Instant::now() + Duration::from_secs(20);
        let autocheckpoint = || {
            writer.run(|s| {
                let s: &Store = s.as_any().downcast_ref().expect("the SQLite store");
                s.conn
                    .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get::<_, i64>(0))
                    .map_err(s.err())
            })
        };
        while autocheckpoint().await.unwrap() != 0 {
            assert!(
                Instant::now() < deadline,
                "the stage never took checkpoints over"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        writer
            .run(|s| {
                fill(
                    s.as_any().downcast_ref().expect("the SQLite store"),
                    "filler",
                    6000,
                );
                Ok(())
            })
            .await
            .unwrap();
        let db_bytes = || std::fs::metadata(&path).unwrap().len();
        assert!(
            db_bytes() < 1_000_000,
            "the commit checkpointed: {}",
            db_bytes()
        );
        while db_bytes() < 6_000_000 {
            assert!(
                Instant::now() < deadline,
                "never checkpointed: {}",
                db_bytes()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        stop.stop();
        stage.await.unwrap();
        // On the way out the log was truncated.
        let wal = dir.path().join("w.db-wal");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    }

    #[test]
    fn a_writer_checkpoints_by_itself_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path).unwrap();
        fill(&store, "filler", 6000);
        // SQLite's automatic checkpoint at the commit copied the log into the database file.
        let db_bytes = std::fs::metadata(&path).unwrap().len();
        assert!(db_bytes > 6_000_000, "{db_bytes}");
    }

    #[test]
    fn a_checkpoint_empties_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path).unwrap();
        let limit: i64 = testing::scalar(&store, "PRAGMA journal_size_limit");
        assert_eq!(limit, JOURNAL_SIZE_LIMIT);
        fill(&store, "filler", 2000);
        let wal = dir.path().join("w.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 1_000_000);
        let c = store.checkpoint().unwrap();
        // SQLite's auto-checkpoint may already have copied the pages back; the file stays big
        // until a truncating checkpoint.
        assert!(!c.busy, "{c:?}");
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }
}
