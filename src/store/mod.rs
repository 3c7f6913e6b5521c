//! The SQLite store: the only place that writes SQL. One database file in WAL mode, schema
//! migrations applied at open, and the single writer through which a poll's mentions and its
//! cursor advance commit in one transaction, so a crash between fetch and commit refetches
//! instead of skipping or duplicating.
//!
//! # The seam to another backend
//!
//! The rest of webcare sees the store only as a [`Backend`] (`dyn Backend`), and that
//! interface names nothing of SQLite (`tests/architecture.rs` fails on `rusqlite` or SQL
//! anywhere else in `src/`, and on `Store` outside this module):
//!
//! - [`Backend`]: everything webcare asks of its database, made of one trait per entity, each
//!   declared in the file that implements it for SQLite: [`MentionStore`] (the one
//!   stored-mention model and its [`MentionQuery`]), [`SourceStateStore`], [`PollStore`] (a
//!   poll's commit), [`OutboxStore`] (routing and delivery), [`OptOutStore`],
//!   [`DigestLogStore`], [`SpikeStore`], [`WebStore`] and [`SlaStore`] (inbox, claims,
//!   first-response targets), [`RetentionStore`] (retention and erasure), [`ModelStore`],
//!   [`StatsStore`], [`AnnouncedStore`], [`LeadStore`], [`WalStore`] and [`Maintenance`]. Each
//!   method takes and returns plain webcare types; each write is one transaction, and says what
//!   it does when the database moved on since the caller read (a mention routed or erased
//!   meanwhile is skipped, and so on).
//! - [`open`], [`open_existing`], [`open_reader`]: the one place that picks the backend.
//!   [`Store`], one SQLite connection, is the only implementation.
//! - [`Writer`]: the single writer, shared by the daemon's tasks, one write at a time.
//! - [`Readers`]: read-only connections for the stages that read before they write (routing,
//!   spikes, SLA, digest), so they never wait behind the writer; a read sees one consistent
//!   state, everything committed before it began.
//! - [`StoreError`]: what went wrong, with the engine's own error behind the opaque
//!   [`DatabaseError`]; [`StoreError::is_unwritable`] is the one question callers ask of it.
//!
//! A second backend (PostgreSQL, for many daemons once one machine is outgrown) implements
//! each of those traits with the same transaction boundaries, and `open` picks it by the
//! configured location. What is SQLite's own and would mean something else there: the
//! full-text syntax of [`MentionQuery::search`] (FTS5), the file-level operations
//! (`backup_to`, `quick_check`, the checkpoints of [`WalStore`], `reclaim_space`,
//! `release_memory`, [`InstanceLock`] beside the file), and `open` taking a path rather than
//! a URL; the pool behind [`Writer`] and [`Readers`] opens SQLite connections today.

mod announced;
mod commit;
mod digest_log;
mod health;
mod leads;
mod lock;
mod mention;
mod models;
mod optout;
mod outbox;
mod own_replies;
mod readers;
mod retention;
mod row;
mod schema;
mod signals;
mod source_state;
mod spike;
mod stats;
#[cfg(test)]
pub(crate) mod testing;
pub mod wal;
mod web;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

use crate::classify::{Classification, Classifier};
use crate::sources::{Mention, OwnReply};

pub use commit::{PollPart, PollTail, ReadyPart};
pub use digest_log::{
    DigestRecord, DigestSent, FailedSource, FirstResponse, RatingCount, VolumeRow,
};
pub use health::{
    Integrity, Published, SourceFault, StageFault, StoreHealth, WriteFailure, publish_health,
    read_published_health, watch_store,
};
pub use leads::AlertedText;
pub use lock::{InstanceLock, LockError, lock_path, read_published};
pub use mention::{
    Handling, InboxStatus, MentionOrder, MentionQuery, StarRange, StoredMention, Verdict, rfc3339,
};
pub use models::{KEEP_MODELS, ModelDecision, NewModel, StoredModel};
pub use optout::{OptOut, optout_key};
pub use outbox::{AlertUpdate, CapHold, MailHealth, NewAlert, OutboxEntry, RoutingRecord};
pub use readers::Readers;
pub use retention::{Cutoffs, ForgetReport, PruneReport, Reclaimed, author_key};
pub use signals::text_hash;
pub use source_state::{FailedPoll, SourceState};
pub use spike::{SpikeEpisode, SpikeOutcome, WindowCount};
pub use stats::{AlertStats, MentionCount, OutboxBacklog, PollStats};
pub use web::{EscalationMail, HistoryEntry, MentionAlert, MentionExtras};

pub use announced::AnnouncedStore;
pub use commit::PollStore;
pub use digest_log::DigestLogStore;
pub use leads::LeadStore;
pub use mention::MentionStore;
pub use models::ModelStore;
pub use optout::OptOutStore;
pub use outbox::OutboxStore;
pub use retention::RetentionStore;
pub use source_state::SourceStateStore;
pub use spike::SpikeStore;
pub use stats::StatsStore;
pub use wal::WalStore;
pub use web::{SlaStore, WebStore};

/// Everything webcare asks of its database: one trait per entity, each in the file that keeps
/// that entity for SQLite ([`Store`]). A second backend implements each of them; the daemon's
/// stages, the commands and the web inbox hold a `dyn Backend` and call the methods of every
/// part through it.
pub trait Backend:
    Maintenance
    + AnnouncedStore
    + PollStore
    + DigestLogStore
    + LeadStore
    + MentionStore
    + ModelStore
    + OptOutStore
    + OutboxStore
    + RetentionStore
    + SourceStateStore
    + SpikeStore
    + StatsStore
    + WalStore
    + WebStore
    + SlaStore
    + Send
{
}

impl Backend for Store {}

/// Opens (creating when missing) the database at `path` and brings its schema up to date. The
/// one place that picks the backend: SQLite, the only one there is.
pub fn open(path: &Path) -> Result<Box<dyn Backend>, StoreError> {
    Ok(Box::new(Store::open(path)?))
}

/// Opens an existing database for the read commands; never creates one.
pub fn open_existing(path: &Path) -> Result<Box<dyn Backend>, StoreError> {
    Ok(Box::new(Store::open_existing(path)?))
}

/// Opens an existing database read-only, without migrating it (the daemon owns the schema).
pub fn open_reader(path: &Path) -> Result<Box<dyn Backend>, StoreError> {
    Ok(Box::new(Store::open_reader(path)?))
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database {path}: {source}")]
    Database { path: String, source: DatabaseError },
    /// The database file or its folder could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A read-only command found no database.
    #[error("no database at {0}; run `webcare once` or `webcare run` first")]
    Missing(String),
    /// The file was written by a newer webcare.
    #[error(
        "database {path} has schema version {found}, newer than this webcare knows ({known}); upgrade webcare"
    )]
    TooNew {
        path: String,
        found: i64,
        known: usize,
    },
    /// An integrity check failed.
    #[error("integrity check of {path} failed: {check}")]
    Corrupt { path: String, check: String },
    /// No mention has this id.
    #[error("no mention with id {0}; `webcare mentions` shows ids")]
    NoSuchMention(i64),
    /// A poll streamed in parts stopped before its last part (the work producing them
    /// failed); nothing of it was stored.
    #[error("the mentions of source {0} stopped arriving before the poll's end; nothing stored")]
    PollCut(String),
    /// A full-text query could not be understood.
    #[error("invalid full-text query \"{query}\": {message}")]
    BadQuery { query: String, message: String },
}

/// What the database engine said when an operation failed. Its text is the engine's own
/// message; the engine's error type stays inside the store, so callers (and a second backend)
/// depend on nothing SQLite-specific. [`StoreError::is_unwritable`] answers the one question the
/// rest of webcare asks about it.
#[derive(Debug)]
pub struct DatabaseError(rusqlite::Error);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    // The engine's own cause, so an error chain reads exactly as it did before the wrapping.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// A connection to the webcare database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// One poll's worth of work for [`PollStore::commit_poll`].
#[derive(Debug)]
pub struct PollCommit<'a> {
    /// Source name.
    pub source: &'a str,
    /// Source kind.
    pub kind: &'a str,
    /// Mentions with the watches each matched; unmatched ones were already dropped.
    pub mentions: Vec<NewMention>,
    /// New cursor; `None` keeps the stored one.
    pub cursor: Option<String>,
    /// When the scheduler will poll next.
    pub next_poll_at: DateTime<Utc>,
    /// When the poll started.
    pub started_at: DateTime<Utc>,
    /// Items fetched, including those no watch matched.
    pub fetched: usize,
    /// True for the first poll of a source: its mentions are history, not news to alert on.
    pub backfill: bool,
    /// Daily cap for this source.
    pub source_cap: Option<u64>,
    /// Daily caps per watch.
    pub watch_caps: &'a HashMap<String, u64>,
    /// Raw payloads are cut to this size.
    pub raw_max_bytes: usize,
    /// Revises the new verdicts with the store signals (same text from several authors, fast
    /// thread), see `store/signals.rs`; `None` stores the verdicts as given.
    pub signals: Option<&'a Classifier>,
    /// Replies by the brand's own accounts the poll saw: the mentions they answer are marked
    /// answered (see `store/own_replies.rs`).
    pub own_replies: Vec<OwnReply>,
}

#[cfg(test)]
impl PollCommit<'static> {
    /// A plain poll of `source` (an `rss` source past its first poll, no caps, no signals)
    /// that stores `mentions`, for tests anywhere in the crate.
    pub(crate) fn news(source: &'static str, mentions: Vec<NewMention>) -> PollCommit<'static> {
        static NO_CAPS: std::sync::LazyLock<HashMap<String, u64>> =
            std::sync::LazyLock::new(HashMap::new);
        PollCommit {
            source,
            kind: "rss",
            fetched: mentions.len(),
            mentions,
            cursor: None,
            next_poll_at: Utc::now(),
            started_at: Utc::now(),
            backfill: false,
            source_cap: None,
            watch_caps: &NO_CAPS,
            raw_max_bytes: 1000,
            signals: None,
            own_replies: Vec::new(),
        }
    }
}

/// A mention about to be stored, with what the pipeline decided about it.
#[derive(Debug, Clone)]
pub struct NewMention {
    /// The normalised mention.
    pub mention: Mention,
    /// Names of the watches it matched.
    pub watches: Vec<String>,
    /// The classifier's verdict.
    pub verdict: Option<Classification>,
}

/// What a commit did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollSummary {
    /// Database ids of newly stored mentions.
    pub new_ids: Vec<i64>,
    /// Mentions the store already had.
    pub duplicates: usize,
    /// Mentions dropped because a daily cap was reached.
    pub capped: usize,
    /// Warnings about caps that are near or reached, for the log.
    pub cap_warnings: Vec<String>,
    /// Mentions not stored because their author asked to be forgotten (`webcare forget`).
    pub erased: usize,
    /// Mentions marked answered because the brand's own account replied to them.
    pub answered: usize,
}

fn day_start(now: DateTime<Utc>) -> i64 {
    now.timestamp() - now.timestamp().rem_euclid(86_400)
}

/// The database as a whole: its schema version, backups, a write probe and an integrity check.
/// Every backend has these, though what a backup or an integrity check is differs.
pub trait Maintenance {
    /// The schema version of the open database.
    fn schema_version(&self) -> Result<i64, StoreError>;

    /// Path of the database file.
    fn path(&self) -> &Path;

    /// Copies the database to `dest` with SQLite's online backup, which sees one consistent
    /// state even while the daemon writes, then checks the copy's integrity.
    fn backup_to(&self, dest: &Path) -> Result<(), StoreError>;

    /// Like [`Maintenance::backup_to`], calling `progress(pages_copied, pages_total)` as it goes.
    fn backup_with_progress(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), StoreError>;

    /// Hands the page cache back to the allocator. The daemon calls it when it goes idle after
    /// a poll or a retention pass, so a long-running process stays small between polls.
    fn release_memory(&self);

    /// Rows changed through this connection since it opened, so the writer can tell whether
    /// a piece of work wrote anything.
    fn total_changes(&self) -> u64;

    /// The backend itself, for tests that look under the interface (a pragma's value).
    #[cfg(test)]
    fn as_any(&self) -> &dyn std::any::Any;

    /// Rewrites the schema version with its own value in a write transaction: a real write
    /// (a page goes to the write-ahead log), so it fails exactly when the database cannot be
    /// written (read-only file, full disk, corrupt header, a lock held past the busy timeout).
    fn probe_write(&mut self) -> Result<(), StoreError>;

    /// Runs `PRAGMA quick_check` and returns how long it took, or [`StoreError::Corrupt`]
    /// with the first problems it found.
    fn quick_check(&self) -> Result<std::time::Duration, StoreError>;
}

impl Maintenance for Store {
    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        self.backup_with_progress(dest, &mut |_, _| {})
    }

    fn backup_with_progress(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), StoreError> {
        let err = |source| StoreError::Database {
            path: dest.display().to_string(),
            source: DatabaseError(source),
        };
        {
            let mut copy = Connection::open(dest).map_err(err)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy).map_err(err)?;
            loop {
                let step = backup.step(1024).map_err(err)?;
                let p = backup.progress();
                let total = u64::try_from(p.pagecount).unwrap_or(0);
                let left = u64::try_from(p.remaining).unwrap_or(0);
                progress(total.saturating_sub(left), total);
                match step {
                    rusqlite::backup::StepResult::Done => break,
                    // The daemon holds a lock for a moment: wait a little, as SQLite's own
                    // backup loop does.
                    rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                        std::thread::sleep(std::time::Duration::from_millis(50))
                    }
                    _ => {}
                }
            }
        }
        let copy = Connection::open(dest).map_err(err)?;
        let check: String = copy
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: dest.display().to_string(),
                check,
            });
        }
        Ok(())
    }

    fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }

    #[cfg(test)]
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn release_memory(&self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA shrink_memory") {
            tracing::debug!(error = %e, "cannot release SQLite memory");
        }
    }

    fn probe_write(&mut self) -> Result<(), StoreError> {
        // `write` begins immediate transactions (see `configure`), so the write lock is taken
        // before anything is read.
        self.write(|tx| {
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            tx.pragma_update(None, "user_version", version)
        })
    }

    fn quick_check(&self) -> Result<std::time::Duration, StoreError> {
        let started = std::time::Instant::now();
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check(10)")
            .map_err(self.err())?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        if lines.len() == 1 && lines[0] == "ok" {
            return Ok(started.elapsed());
        }
        Err(StoreError::Corrupt {
            path: self.path.display().to_string(),
            check: lines.join("; "),
        })
    }
}

/// How long a statement waits for another process's lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Store {
    /// Opens (creating when missing) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Database {
            path: path.display().to_string(),
            source: DatabaseError(source),
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database for the read commands; never creates one.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        Self::open(path)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: self.path.display().to_string(),
            source: DatabaseError(source),
        }
    }

    /// Every row `sql` returns for `params`, each turned into a value by `row`; the statement
    /// is cached on the connection, since the reads that use this run again on every poll,
    /// page or mail.
    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare_cached(sql).map_err(self.err())?;
        let rows = st.query_map(params, row).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Runs `sql`, an `UPDATE` of the one mention whose id is `?1`; a mention that is not
    /// there (never stored, or erased meanwhile) is [`StoreError::NoSuchMention`].
    fn update_mention(
        &self,
        id: i64,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), StoreError> {
        let changed = self.conn.execute(sql, params).map_err(self.err())?;
        if changed == 0 {
            return Err(StoreError::NoSuchMention(id));
        }
        Ok(())
    }

    /// Runs `work` in one transaction and commits it; any database error on the way, the
    /// commit's included, comes back naming the file and leaves nothing written.
    fn write<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.transact(|tx| work(tx).map(|done| (done, true)))
    }

    /// [`Store::write`] for work that may find that nothing of it should be kept: `None`
    /// rolls the transaction back.
    fn write_or_discard<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Option<T>>,
    ) -> Result<Option<T>, StoreError> {
        self.transact(|tx| {
            work(tx).map(|done| {
                let keep = done.is_some();
                (done, keep)
            })
        })
    }

    /// One transaction around `work`: committed when `work` answers keep (`true`), rolled
    /// back otherwise or on any error.
    fn transact<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<(T, bool)>,
    ) -> Result<T, StoreError> {
        let path = &self.path;
        let e = |source| StoreError::Database {
            path: path.display().to_string(),
            source: DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let (done, keep) = work(&tx).map_err(e)?;
        if keep {
            tx.commit().map_err(e)?;
        } else {
            tx.rollback().map_err(e)?;
        }
        Ok(done)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        // The busy timeout comes first, so every statement after it (the migrations included)
        // waits for another process's lock instead of failing; the switch to WAL needs more,
        // see `enter_wal`.
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(self.err())?;
        // Every write transaction takes the write lock when it begins. A deferred one that
        // reads first and then writes cannot wait for the lock (SQLite answers "database is
        // locked" at once, since its snapshot may be stale), which made CLI writes fail beside
        // a busy daemon.
        self.conn
            .set_transaction_behavior(TransactionBehavior::Immediate);
        // A new file gets incremental auto-vacuum, so pages freed by retention and erasure can
        // be given back; it can only be chosen before the first table exists.
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(self.err())?;
        if pages == 0 {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
                .map_err(self.err())?;
        }
        // WAL lets readers (CLI, admin) work while the daemon writes; NORMAL sync is durable
        // across process crashes, which is what "kill -9 loses nothing" needs. A 16 MiB page
        // cache (allocated only as used) holds an everyday poll; `commit_poll` raises it for
        // a big one.
        // secure_delete zeroes deleted content, so erased or stripped text does not linger in
        // free pages.
        self.enter_wal()?;
        self.conn
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -{};
                 PRAGMA secure_delete = ON;",
                commit::CACHE_KIB
            ))
            .map_err(self.err())?;
        self.limit_journal()
    }

    /// Switches the file to WAL (a no-op once it is). SQLite answers "database is locked" to
    /// this switch at once, without the busy handler, when another process took the write lock
    /// after this one began reading the file: waiting could deadlock them. Of several commands
    /// opening a new database at once, all but one meet that, so they retry until the lock is
    /// free or the busy timeout has passed.
    fn enter_wal(&self) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                done => return done.map_err(self.err()),
            }
        }
    }

    /// Brings the schema up to date. The version is read again and every missing migration
    /// applied inside one `BEGIN IMMEDIATE` transaction, so of two processes opening a new
    /// database at once, one migrates and the other waits and then finds nothing to do.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.display().to_string();
        let known = schema::MIGRATIONS.len();
        let too_new = |found: i64| StoreError::TooNew {
            path: path.clone(),
            found,
            known,
        };
        // Read outside a write transaction first, so opening an up-to-date database (every
        // CLI command) never waits for the daemon's write lock.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err())?;
        if version as usize > known {
            return Err(too_new(version));
        }
        if version as usize == known {
            return Ok(());
        }
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: DatabaseError(source),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(e)?;
        if version as usize > known {
            return Err(too_new(version));
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(e)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        for v in version as usize + 1..=known {
            tracing::info!(database = %path, version = v, "applied schema migration");
        }
        Ok(())
    }

    /// The raw connection, for the store's own unit tests; nothing outside the store sees the
    /// engine's types.
    #[cfg(test)]
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// What is kept of a verdict besides its label columns: reasons, polarity, urgency reasons and
/// the detected language, as JSON.
pub(crate) fn verdict_json(v: &Classification) -> String {
    #[derive(Serialize)]
    struct Kept<'a> {
        polarity: &'a crate::classify::Polarity,
        lang: &'a str,
        urgency_reasons: &'a [String],
        reasons: &'a [crate::classify::Reason],
    }
    serde_json::to_string(&Kept {
        polarity: &v.polarity,
        lang: &v.lang,
        urgency_reasons: &v.urgency_reasons,
        reasons: &v.reasons,
    })
    .unwrap_or_default()
}

fn cap_note(summary: &mut PollSummary, what: &str, count: u64, cap: u64) -> Option<String> {
    if count >= cap {
        let n =
            format!("{what} reached its daily cap of {cap}; further mentions today are not stored");
        summary.cap_warnings.push(n.clone());
        Some(n)
    } else if count * 10 >= cap * 8 {
        let n = format!("{what} is at {count} of its daily cap of {cap}");
        summary.cap_warnings.push(n.clone());
        Some(n)
    } else {
        None
    }
}

/// Keeps the raw payload useful but bounded: long strings are shortened, and a payload still
/// too large is replaced by a note of its size.
fn bounded_raw(raw: &serde_json::Value, max: usize) -> Option<String> {
    if raw.is_null() || max == 0 {
        return None;
    }
    // `to_string` writes into a byte buffer; `Value`'s `Display` goes through the formatter
    // machinery, which cost about 7 % of the commit stage in `benches/ingest.rs`.
    let full = serde_json::to_string(raw).ok()?;
    if full.len() <= max {
        return Some(full);
    }
    fn shorten(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.len() > 1000 => {
                let mut cut = 1000;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(shorten),
            serde_json::Value::Object(o) => o.values_mut().for_each(shorten),
            _ => {}
        }
    }
    let mut v = raw.clone();
    shorten(&mut v);
    let short = v.to_string();
    if short.len() <= max {
        Some(short)
    } else {
        Some(serde_json::json!({ "truncated": true, "original_bytes": full.len() }).to_string())
    }
}

/// The single writer: one connection shared by every task that writes, used one at a time.
/// It also keeps the [`StoreHealth`]: a write that fails because the database cannot be
/// written marks it failing, and the next write that commits marks it writable again.
#[derive(Clone)]
pub struct Writer {
    store: Arc<Mutex<Box<dyn Backend>>>,
    health: Arc<StoreHealth>,
    path: PathBuf,
}

impl Writer {
    /// Wraps an open store.
    pub fn new(store: Box<dyn Backend>) -> Writer {
        Writer {
            path: store.path().to_path_buf(),
            store: Arc::new(Mutex::new(store)),
            health: Arc::default(),
        }
    }

    /// A new pool of [`Readers`] of the database this writer writes.
    pub fn readers(&self) -> Readers {
        Readers::new(&self.path)
    }

    /// Path of the database file this writer writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer knows about the database's health.
    pub fn health(&self) -> Arc<StoreHealth> {
        self.health.clone()
    }

    /// Runs `f` with the writer connection on a blocking thread, so SQLite never blocks the
    /// async runtime.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        let health = self.health.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let before = guard.total_changes();
            let result = f(guard.as_mut());
            match &result {
                Err(e) => health.write_failed(e),
                Ok(_) if guard.total_changes() != before => health.write_succeeded(),
                Ok(_) => {}
            }
            result
        })
        .await
        .expect("store task panicked")
    }

    /// Writes to the database without changing it, to learn whether it can be written now;
    /// the answer also goes into the health.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let result = self.run(|s| s.probe_write()).await;
        if result.is_ok() {
            self.health.write_succeeded();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::mention::WatchPlan;
    use super::*;
    use crate::sources::Mention;
    use crate::store::testing;

    fn mention(id: &str) -> Mention {
        Mention {
            external_id: id.into(),
            text: format!("Fjordlink post {id}"),
            created_at: Utc::now(),
            ..Default::default()
        }
    }

    #[test]
    fn opening_a_new_file_waits_while_another_process_creates_it() {
        // Another process has just created the file and holds its write lock (as the first of
        // several `webcare` commands started at once does while it migrates): the switch to WAL
        // must wait for it like every other statement, not answer "database is locked".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webcare.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        let store = Store::open(&path);
        release.join().unwrap();
        let store = store.unwrap();
        let mode: String = testing::scalar(&store, "PRAGMA journal_mode");
        assert_eq!(mode, "wal");
    }

    fn commit(
        store: &mut Store,
        ids: &[&str],
        cursor: &str,
        caps: &HashMap<String, u64>,
        cap: Option<u64>,
    ) -> PollSummary {
        store
            .commit_poll(PollCommit {
                cursor: Some(cursor.into()),
                source_cap: cap,
                watch_caps: caps,
                ..PollCommit::news(
                    "feed",
                    ids.iter()
                        .map(|i| NewMention {
                            mention: mention(i),
                            watches: vec!["Fjordlink".to_string()],
                            verdict: None,
                        })
                        .collect(),
                )
            })
            .unwrap()
    }

    #[test]
    fn a_mention_is_stored_once_and_the_cursor_moves_with_it() {
        let (_dir, mut s) = testing::temp_store();
        let none = HashMap::new();
        assert_eq!(
            commit(&mut s, &["a", "b"], "c1", &none, None).new_ids.len(),
            2
        );
        let second = commit(&mut s, &["b", "c"], "c2", &none, None);
        assert_eq!((second.new_ids.len(), second.duplicates), (1, 1));
        assert_eq!(s.count_mentions(Some("feed")).unwrap(), 3);
        assert_eq!(
            s.source_state("feed").unwrap().unwrap().cursor.as_deref(),
            Some("c2")
        );
    }

    #[test]
    fn a_big_poll_is_stored_whole_and_leaves_the_everyday_page_cache() {
        let (_dir, mut s) = testing::temp_store();
        let ids: Vec<String> = (0..commit::BIG_POLL + 10)
            .map(|i| format!("m{i}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let summary = commit(&mut s, &refs, "c1", &HashMap::new(), None);
        assert_eq!(summary.new_ids.len(), ids.len());
        assert_eq!(s.count_mentions(Some("feed")).unwrap(), ids.len() as i64);
        let conn = s.connection();
        let cache: i64 = conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cache, -commit::CACHE_KIB);
        // Migration 16 keeps FTS5's bigger in-memory buffer in the index's own config.
        let hashsize: i64 = conn
            .query_row(
                "SELECT v FROM mentions_fts_config WHERE k = 'hashsize'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hashsize, 8 * 1024 * 1024);
        // A row near the end of the big poll reached the full-text index.
        let found = s
            .mentions(&MentionQuery::new().search("m2005").limit(5))
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn failures_keep_the_cursor_and_count_up() {
        let (_dir, mut s) = testing::temp_store();
        commit(&mut s, &["a"], "c1", &HashMap::new(), None);
        let failure = FailedPoll {
            source: "feed".into(),
            kind: "rss".into(),
            error: "HTTP 500".into(),
            started_at: Utc::now(),
            next_poll_at: Utc::now(),
        };
        assert_eq!(s.record_failure(&failure).unwrap(), 1);
        assert_eq!(s.record_failure(&failure).unwrap(), 2);
        let st = s.source_state("feed").unwrap().unwrap();
        assert_eq!(st.cursor.as_deref(), Some("c1"));
        assert_eq!(st.last_error.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn daily_caps_stop_storing_and_say_so() {
        let (_dir, mut s) = testing::temp_store();
        let caps = HashMap::from([("Fjordlink".to_string(), 3)]);
        let r = commit(&mut s, &["a", "b", "c", "d", "e"], "c1", &caps, None);
        assert_eq!((r.new_ids.len(), r.capped), (3, 2));
        assert!(
            r.cap_warnings[0].contains("reached its daily cap of 3"),
            "{:?}",
            r.cap_warnings
        );
        let r = commit(&mut s, &["f"], "c2", &HashMap::new(), Some(4));
        assert_eq!(r.new_ids.len(), 1);
        assert!(
            s.source_state("feed")
                .unwrap()
                .unwrap()
                .cap_note
                .unwrap()
                .contains("source feed reached")
        );
    }

    #[test]
    fn a_watch_at_its_cap_is_left_off_a_mention_another_watch_still_stores() {
        let (_dir, mut s) = testing::temp_store();
        let caps = HashMap::from([("Outage".to_string(), 1)]);
        let both = |id: &str| NewMention {
            mention: mention(id),
            watches: vec!["Fjordlink".to_string(), "Outage".to_string()],
            verdict: None,
        };
        let r = s
            .commit_poll(PollCommit {
                watch_caps: &caps,
                ..PollCommit::news("feed", vec![both("a"), both("b")])
            })
            .unwrap();
        assert_eq!((r.new_ids.len(), r.capped), (2, 0));
        let watches = |id: i64| s.mention(id).unwrap().unwrap().watches;
        assert_eq!(watches(r.new_ids[0]), ["Fjordlink", "Outage"]);
        assert_eq!(watches(r.new_ids[1]), ["Fjordlink"]);
    }

    /// A store with 400 mentions of `Fjordlink`, every hundredth (from the eighth on) also of
    /// `Fjordbox`, stored by one poll.
    fn rare_and_common_watches() -> (tempfile::TempDir, Store) {
        let (dir, mut s) = testing::temp_store();
        let mentions = (0..400)
            .map(|i| NewMention {
                mention: mention(&format!("m{i}")),
                watches: if i % 100 == 7 {
                    vec!["Fjordlink".into(), "Fjordbox".into()]
                } else {
                    vec!["Fjordlink".into()]
                },
                verdict: None,
            })
            .collect();
        s.commit_poll(PollCommit::news("feed", mentions)).unwrap();
        (dir, s)
    }

    fn ids_of(s: &Store, q: MentionQuery) -> Vec<i64> {
        s.mentions(&q.order(MentionOrder::Stored))
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect()
    }

    /// The ids of `watch`'s mentions, oldest first, found as `plan` says.
    fn ids_read(s: &Store, watch: &str, plan: WatchPlan) -> Vec<i64> {
        let (sql, args) = MentionQuery::new()
            .watch(watch)
            .order(MentionOrder::Stored)
            .sql(plan);
        let mut st = s.connection().prepare(&sql).unwrap();
        st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            r.get::<_, i64>("id")
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn a_rare_watch_and_a_common_one_filter_alike_whichever_way_they_are_found() {
        let (_dir, s) = rare_and_common_watches();
        let ids = |q: MentionQuery| ids_of(&s, q);
        // One in a hundred, spread over the whole poll: its day's id range holds every
        // mention, so a page of 10 would probe them all.
        let rare = MentionQuery::new().watch("Fjordbox").limit(10);
        let counts = s.watch_counts("Fjordbox").unwrap();
        assert_eq!((counts.matched, counts.span), (4.0, 301.0));
        assert_eq!(rare.watch_plan(counts), WatchPlan::Ranges);
        assert_eq!(ids(rare), [8, 108, 208, 308]);
        for plan in [WatchPlan::Probe, WatchPlan::Ranges, WatchPlan::Whole] {
            assert_eq!(
                ids_read(&s, "Fjordbox", plan),
                [8, 108, 208, 308],
                "{plan:?}"
            );
        }
        // Every mention: the first ten probed fill the page.
        let common = MentionQuery::new().watch("Fjordlink").limit(10);
        assert_eq!(
            common.watch_plan(s.watch_counts("Fjordlink").unwrap()),
            WatchPlan::Probe
        );
        assert_eq!(ids(common), (1..=10).collect::<Vec<i64>>());
        assert_eq!(ids(MentionQuery::new().watch("Fjordlink")).len(), 400);
        assert!(ids(MentionQuery::new().watch("Nobody").limit(10)).is_empty());
        assert_eq!(s.first_stored("watch", "Nobody").unwrap(), None);
        assert!(s.first_stored("watch", "Fjordbox").unwrap().is_some());
    }

    #[test]
    fn a_rare_watch_is_read_from_the_id_ranges_of_its_days_and_finds_every_mention() {
        let (_dir, mut s) = rare_and_common_watches();
        // Later polls add the rare watch again, and one of its mentions is erased: the ranges
        // widen to take the new ones in and never hide one that is still stored.
        for i in 0..3 {
            let more = (0..50)
                .map(|j| NewMention {
                    mention: mention(&format!("later{i}-{j}")),
                    watches: if j == 20 {
                        vec!["Fjordbox".into()]
                    } else {
                        vec!["Fjordlink".into()]
                    },
                    verdict: None,
                })
                .collect();
            s.commit_poll(PollCommit::news("feed", more)).unwrap();
        }
        s.connection()
            .execute("DELETE FROM mentions WHERE id = 108", [])
            .unwrap();
        let rare = MentionQuery::new().watch("Fjordbox").limit(50);
        let counts = s.watch_counts("Fjordbox").unwrap();
        assert_eq!(counts.matched, 7.0);
        assert_eq!(rare.watch_plan(counts), WatchPlan::Ranges);
        assert_eq!(ids_of(&s, rare), [8, 208, 308, 421, 471, 521]);
        for plan in [WatchPlan::Probe, WatchPlan::Whole] {
            assert_eq!(
                ids_read(&s, "Fjordbox", plan),
                [8, 208, 308, 421, 471, 521],
                "{plan:?}"
            );
        }
        // All on one day: the day's range runs from the first rare mention to the last.
        assert_eq!(counts.span, 521.0 - 8.0 + 1.0);
    }

    #[test]
    fn full_text_search_ignores_case_and_diacritics() {
        let (_dir, mut s) = testing::temp_store();
        let mut m = mention("x");
        m.text = "Geen internet in het Café, Fjordlink!".into();
        s.commit_poll(PollCommit {
            raw_max_bytes: 100,
            ..PollCommit::news(
                "feed",
                vec![NewMention {
                    mention: m,
                    watches: vec!["Fjordlink".into()],
                    verdict: None,
                }],
            )
        })
        .unwrap();
        let found = |q: &str| s.mentions(&MentionQuery::new().search(q)).unwrap().len();
        assert_eq!(found("cafe internet"), 1);
        assert_eq!(found("tv"), 0);
    }

    #[test]
    fn oversized_raw_payloads_are_bounded() {
        let big = serde_json::json!({ "text": "x".repeat(50_000), "id": "1" });
        let r = bounded_raw(&big, 2000).unwrap();
        assert!(r.len() <= 2000, "{}", r.len());
        assert!(r.contains("\"id\":\"1\""));
    }

    #[test]
    fn a_star_range_is_one_number_or_two_from_one_to_five() {
        let range = |s: &str| s.parse::<StarRange>().map(|r| (r.lo, r.hi));
        assert_eq!(range("4"), Ok((4, 4)));
        assert_eq!(range("1-2"), Ok((1, 2)));
        assert_eq!(range(" 2 - 3 "), Ok((2, 3)));
        for wrong in ["0", "6", "3-1", "1-", "x", ""] {
            assert!(range(wrong).is_err(), "{wrong}");
        }
    }
}
