//! One instance per database: `webcare run` and `webcare once` hold an exclusive advisory lock
//! on `<database>.lock` for as long as they poll and send. Two of them on one database would each
//! route and mail the same alerts. The kernel releases the lock when the process dies, however it
//! dies, so a `kill -9` never leaves a stale lock behind; the pid written into the file is only
//! there to name the holder in the refusal. Read commands and single writes (`label`, `forget`,
//! …) do not take the lock: SQLite's own locking keeps them safe beside the daemon.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the instance lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another webcare (pid {pid}) is already polling and sending with database {db}; stop it first, or give this one its own [store] path (lock file {lock})"
    )]
    Held {
        /// The holder's pid as it wrote it, or "unknown".
        pid: String,
        /// The database.
        db: String,
        /// The lock file.
        lock: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Held for the lifetime of a daemon or a `once`; dropping it (or the process dying) releases
/// the lock.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

/// The lock file of the database at `db`: the same path with `.lock` appended.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl InstanceLock {
    /// Takes the lock of the database at `db` without waiting, and writes this process's pid
    /// into it. Fails with [`LockError::Held`], naming the holder's pid, when another process
    /// has it.
    pub fn acquire(db: &Path) -> Result<InstanceLock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Never truncate on open: the file may be the running holder's, and its pid is what
        // the refusal shows.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text
                    .lines()
                    .next()
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or("unknown")
                    .to_string();
                return Err(LockError::Held {
                    pid,
                    db: db.display().to_string(),
                    lock: path.display().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(InstanceLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces what follows the pid line with `text`, for commands that read the file while
    /// the lock is held (`webcare sources`). Written in place, never appended: kept small, it
    /// stays within the space the file already has, so it still works on a full disk.
    pub fn publish(&self, text: &str) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let body = format!("{}\n{text}", std::process::id());
        self.file.write_all_at(body.as_bytes(), 0)?;
        self.file.set_len(body.len() as u64)
    }
}

/// What a running instance published after the pid line of its lock file, or `None` when no
/// process holds the lock of the database at `db` (what a dead one left is not read).
pub fn read_published(db: &Path) -> Option<String> {
    let mut file = File::open(lock_path(db)).ok()?;
    match file.try_lock_shared() {
        // Nobody holds it: a leftover from a process that has ended.
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text).ok()?;
            text.split_once('\n').map(|(_, rest)| rest.to_string())
        }
        Err(TryLockError::Error(_)) => None,
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes it explicit.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let first = InstanceLock::acquire(&db).unwrap();
        assert_eq!(first.path(), dir.path().join("w.db.lock"));
        let refused = InstanceLock::acquire(&db).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("w.db"), "{message}");
        drop(first);
        InstanceLock::acquire(&db).unwrap();
    }

    #[test]
    fn what_the_holder_publishes_is_read_only_while_it_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let lock = InstanceLock::acquire(&db).unwrap();
        lock.publish("{\"a\":1} and more than before").unwrap();
        lock.publish("{\"a\":2}").unwrap();
        assert_eq!(read_published(&db).as_deref(), Some("{\"a\":2}"));
        drop(lock);
        assert_eq!(read_published(&db), None);
    }
}
