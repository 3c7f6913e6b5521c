//! Reader connections for the daemon's stages. The writer (see [`super::Writer`]) is one
//! connection used by one task at a time, so a stage that only reads would otherwise wait for
//! every poll commit and routing transaction ahead of it. In WAL mode a reader never waits for
//! the writer: each read here runs on a read-only connection of its own, in one read
//! transaction, and sees everything committed before it began.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Backend, DatabaseError, Store, StoreError};

/// Idle connections kept for the next read; more readers at once open more, and those are
/// closed when they finish.
const KEEP_IDLE: usize = 4;

/// A small pool of read-only connections to the database. Cheap to clone; clones share the
/// pool.
#[derive(Clone)]
pub struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Store>>>,
}

impl Readers {
    /// Readers of the database at `path`. Nothing is opened until the first read, and the
    /// database must exist by then (the daemon's writer creates it).
    pub fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_path_buf(),
            idle: Arc::default(),
        }
    }

    /// Runs `f` on a reader connection, on a blocking thread so SQLite never blocks the async
    /// runtime. `f` sees one consistent state of the database: everything committed before the
    /// read began, nothing committed while it runs. A stage that writes and then reads again
    /// therefore sees its own write once the writer's `run` for it has returned.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&dyn Backend) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.read_blocking(f))
            .await
            .expect("store reader task panicked")
    }

    /// [`Readers::read`] on the calling thread, for code that already runs off the runtime.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.lock().pop();
        let store = match taken {
            Some(store) => store,
            None => open(&self.path)?,
        };
        let result = in_snapshot(&store, f);
        // A connection that failed may be the cause (a database replaced under it): the next
        // read opens a fresh one instead.
        if result.is_ok() {
            let mut idle = self.lock();
            if idle.len() < KEEP_IDLE {
                idle.push(store);
            }
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Store>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens one reader: read-only at the file level, and `query_only` on top, so even a statement
/// that would write (a pragma, a temp table) is refused on it.
fn open(path: &Path) -> Result<Store, StoreError> {
    let store = Store::open_reader(path)?;
    store
        .conn
        .execute_batch("PRAGMA query_only = ON;")
        .map_err(store.err())?;
    Ok(store)
}

/// Runs `f` inside one read transaction, so its several queries see the same snapshot.
fn in_snapshot<T>(
    store: &Store,
    f: impl FnOnce(&dyn Backend) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    store
        .conn
        .execute_batch("BEGIN DEFERRED")
        .map_err(store.err())?;
    let result = f(store);
    // Ending a read transaction cannot lose anything; if even that fails, the connection is
    // not put back (see `read_blocking`), which also ends the transaction.
    match store.conn.execute_batch("COMMIT") {
        Ok(()) => result,
        Err(e) => result.and(Err(StoreError::Database {
            path: store.path.display().to_string(),
            source: DatabaseError(e),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OptOut, OptOutStore};

    #[tokio::test]
    async fn a_read_completes_while_another_connection_holds_a_write_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let writer = Store::open(&db).unwrap();
        writer
            .add_optout(&OptOut::new("x", "@jan", "staff", 1))
            .unwrap();
        // Another connection (another process, or the writer in the middle of a long commit)
        // takes the write lock and keeps its transaction open.
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .execute_batch(
                "BEGIN IMMEDIATE;
                 INSERT INTO optouts (platform, handle, added_at, added_by)
                 VALUES ('x', 'piet', 2, 'staff');",
            )
            .unwrap();
        let readers = Readers::new(&db);
        let started = std::time::Instant::now();
        let seen = readers.read(|s| s.optouts()).await.unwrap();
        // A reader in WAL mode never waits for the lock: far below its 2 s busy timeout.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let handles: Vec<&str> = seen.iter().map(|o| o.handle.as_str()).collect();
        assert_eq!(handles, ["jan"], "only what was committed");
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(readers.read(|s| s.optouts()).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_reader_refuses_to_write_and_sees_what_the_writer_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let writer = Store::open(&db).unwrap();
        let readers = Readers::new(&db);
        assert_eq!(readers.read(|s| s.count_mentions(None)).await.unwrap(), 0);
        writer
            .add_optout(&OptOut::new("x", "@jan", "staff", 1))
            .unwrap();
        let optouts = readers.read(|s| s.optouts()).await.unwrap();
        assert_eq!(optouts.len(), 1);
        let refused = readers
            .read(|s| s.add_optout(&OptOut::new("x", "@piet", "staff", 1)))
            .await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(writer.optouts().unwrap().len(), 1);
    }
}
