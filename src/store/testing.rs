//! Helpers for the store's own tests: a database in a fresh temporary folder, and one value
//! read back from it.

use super::Store;
use rusqlite::types::FromSql;

/// A store in a new temporary folder; the folder and the database go when the first value
/// drops, so keep it bound for as long as the store is used.
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    (dir, store)
}

/// The first column of the one row `sql` returns: what a test checks landed in a table.
pub(crate) fn scalar<T: FromSql>(store: &Store, sql: &str) -> T {
    store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}
