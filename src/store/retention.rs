//! Retention and data-subject requests: the SQL that clears raw payloads, strips old mentions
//! of their text and author, deletes the oldest, erases one author's data on request and
//! exports it. Every change is made so the removed text leaves the file itself: the writer
//! runs with `secure_delete`, the full-text index with FTS5's `secure-delete`, and freed pages
//! are returned and the WAL truncated afterwards.

use std::collections::HashSet;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Store, StoreError, rfc3339};

/// Ages, as unix-second cutoffs: data older than a cutoff goes. `None` keeps it forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cutoffs {
    /// Raw payloads of mentions older than this are cleared.
    pub raw: Option<i64>,
    /// Mentions older than this lose their text and author.
    pub strip: Option<i64>,
    /// Mentions older than this are deleted.
    pub delete: Option<i64>,
}

/// What a retention pass removed, or would remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Mentions whose raw payload was cleared (and that were not stripped or deleted).
    pub raw_cleared: i64,
    /// Mentions stripped of text, title, author, link, raw payload and reasons.
    pub stripped: i64,
    /// Mentions deleted.
    pub deleted: i64,
    /// Sent or dead alerts whose subject and body were blanked.
    pub alerts_blanked: i64,
    /// Alerts deleted: those past the delete age, those about deleted mentions, and pending
    /// ones whose mention was stripped.
    pub alerts_deleted: i64,
}

impl PruneReport {
    /// True when nothing was (or would be) removed.
    pub fn is_empty(&self) -> bool {
        *self == PruneReport::default()
    }

    /// Adds another batch's counts to these.
    pub fn add(&mut self, o: &PruneReport) {
        self.raw_cleared += o.raw_cleared;
        self.stripped += o.stripped;
        self.deleted += o.deleted;
        self.alerts_blanked += o.alerts_blanked;
        self.alerts_deleted += o.alerts_deleted;
    }
}

/// What erasing an author removed, or would remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    /// The author's mentions (rows, with their full-text index entries).
    pub mentions: i64,
    /// Staff label corrections of those mentions.
    pub label_corrections: i64,
    /// Alerts about those mentions in the outbox (pending, sent or dead).
    pub alerts: i64,
    /// True when the author was already on the list of erased authors.
    pub already_erased: bool,
}

/// What returning free pages and truncating the WAL achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reclaimed {
    /// Pages given back to the file system by the incremental vacuum.
    pub pages_freed: i64,
    /// False when a reader kept the WAL from being truncated; the erased text then stays in
    /// the WAL until the next checkpoint overwrites it.
    pub wal_truncated: bool,
}

/// How an author is compared: trimmed, without a leading `@`, in lower case.
pub fn author_key(handle: &str) -> String {
    handle.trim().trim_start_matches('@').trim().to_lowercase()
}

/// The stored form of an erased author: a hash of kind and key, so the list that keeps the
/// author from being stored again does not hold the handle in plain text. It is a
/// pseudonym, not anonymity: anyone with the handle can compute it.
fn erased_key(kind: &str, key: &str) -> String {
    let h = crate::text::fnv1a(format!("{kind}\n{key}"));
    format!("{h:016x}")
}

/// True when a mention with this handle and name was posted by the author with `key`: the
/// handle matches, or the display name does (feeds give a name and an e-mail address, and
/// staff know the name). A name can belong to several people: see [`RetentionStore::author_people`].
fn is_author(key: &str, handle: Option<&str>, name: Option<&str>) -> bool {
    handle.is_some_and(|h| author_key(h) == key) || name.is_some_and(|n| author_key(n) == key)
}

/// Who a stored mention is by: the handle, else the name, as compared.
fn person(handle: Option<&str>, name: Option<&str>) -> Option<String> {
    handle.or(name).map(author_key)
}

fn due(cutoff: Option<i64>) -> String {
    // Age counts from the earlier of posting and fetching, so a post dated in the future by
    // its platform still ages from when it was stored. The cutoffs are our own numbers.
    match cutoff {
        Some(c) => format!("(created_at < {c} OR fetched_at < {c})"),
        None => "0".to_string(),
    }
}

fn older(cutoff: Option<i64>) -> String {
    match cutoff {
        Some(c) => format!("created_at < {c}"),
        None => "0".to_string(),
    }
}

const NOT_BLANK: &str = "(subject != '' OR body_text != '' OR body_html != '')";

/// Runs the incremental vacuum and truncates the WAL.
fn reclaim(conn: &Connection) -> rusqlite::Result<Reclaimed> {
    let before: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    // The pragma returns a row per page freed; run it to the end.
    let mut st = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(Reclaimed {
        pages_freed: before - after,
        wal_truncated: busy == 0,
    })
}

/// Retention (pruning what is past its keep period) and an author's erasure and export.
pub trait RetentionStore {
    /// Counts what [`RetentionStore::prune_batch`] would remove with these cutoffs; changes nothing.
    fn prune_preview(&self, c: &Cutoffs) -> Result<PruneReport, StoreError>;

    /// Applies retention to at most `limit` mentions per step, in one transaction: deletes
    /// mentions past the delete age, strips those past the strip age of text, title, author,
    /// link, reply target, raw payload, reasons and route (keeping source, times, label,
    /// sentiment, urgency, language and watches, so counts and trends survive), clears raw
    /// payloads past the raw age, and treats their alerts alike. Call it until it returns an
    /// empty report, then [`RetentionStore::reclaim_space`].
    fn prune_batch(&mut self, c: &Cutoffs, limit: usize) -> Result<PruneReport, StoreError>;

    /// Runs [`RetentionStore::prune_batch`] until nothing is left, then reclaims space. For the CLI;
    /// the daemon interleaves batches with polls instead.
    fn prune(&mut self, c: &Cutoffs) -> Result<(PruneReport, Reclaimed), StoreError>;

    /// Returns free pages to the file system (`incremental_vacuum`, for databases created with
    /// `auto_vacuum = INCREMENTAL`) and truncates the WAL, so removed text is neither in unused
    /// pages nor in old WAL frames.
    fn reclaim_space(&self) -> Result<Reclaimed, StoreError>;

    /// Ids of the mentions posted by `handle` on platform `kind` (the source kind), compared
    /// case-insensitively and without a leading `@`; for platforms without handles, the
    /// display name.
    fn author_mentions(&self, kind: &str, handle: &str) -> Result<Vec<i64>, StoreError>;

    /// The distinct people (handles, else names) whose mentions `--author kind:handle`
    /// matches, sorted. More than one means the name is shared, and erasing all of them
    /// needs the operator to say so.
    fn author_people(&self, kind: &str, handle: &str) -> Result<Vec<String>, StoreError>;

    /// Erases everything stored about one author: their mentions (and with them their
    /// full-text entries and label corrections) and every alert about them in
    /// the outbox, and remembers the author (as a hash) so later polls do not store them
    /// again. With `dry_run`, only counts. Mentions by others that quote the author are not
    /// touched.
    fn forget_author(
        &mut self,
        kind: &str,
        handle: &str,
        dry_run: bool,
    ) -> Result<ForgetReport, StoreError>;

    /// Everything stored about one author, for an access request: each of their mentions
    /// with every stored column, its label corrections and the alerts sent about it.
    fn export_author(&self, kind: &str, handle: &str) -> Result<Vec<Value>, StoreError>;
}

impl RetentionStore for Store {
    fn prune_preview(&self, c: &Cutoffs) -> Result<PruneReport, StoreError> {
        let (del, strip, raw) = (due(c.delete), due(c.strip), due(c.raw));
        let count = |sql: String| -> Result<i64, StoreError> {
            self.conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(self.err())
        };
        let gone = format!(
            "mention_id IN (SELECT id FROM mentions WHERE {del} OR (stripped = 0 AND {strip}))"
        );
        let alert_deleted = format!(
            "((state != 'pending' AND {}) OR (state = 'pending' AND {gone})
              OR mention_id IN (SELECT id FROM mentions WHERE {del}))",
            older(c.delete)
        );
        Ok(PruneReport {
            deleted: count(format!("SELECT count(*) FROM mentions WHERE {del}"))?,
            stripped: count(format!(
                "SELECT count(*) FROM mentions WHERE stripped = 0 AND {strip} AND NOT {del}"
            ))?,
            raw_cleared: count(format!(
                "SELECT count(*) FROM mentions WHERE raw IS NOT NULL AND {raw}
                 AND NOT (stripped = 0 AND {strip}) AND NOT {del}"
            ))?,
            alerts_deleted: count(format!("SELECT count(*) FROM outbox WHERE {alert_deleted}"))?,
            alerts_blanked: count(format!(
                "SELECT count(*) FROM outbox WHERE NOT {alert_deleted} AND {NOT_BLANK}
                 AND ({gone} OR (state != 'pending' AND {}))",
                older(c.strip)
            ))?,
        })
    }

    fn prune_batch(&mut self, c: &Cutoffs, limit: usize) -> Result<PruneReport, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let (del, strip, raw) = (due(c.delete), due(c.strip), due(c.raw));
        let tx = self.conn.transaction().map_err(e)?;
        let mut r = PruneReport::default();
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY);
             DELETE FROM temp.prune_ids;",
        )
        .map_err(e)?;
        tx.execute(
            &format!(
                "INSERT INTO temp.prune_ids SELECT id FROM mentions
                 WHERE {del} OR (stripped = 0 AND {strip}) ORDER BY id LIMIT ?1"
            ),
            [limit as i64],
        )
        .map_err(e)?;
        // Alerts first: deleting a mention would cut their link to it.
        r.alerts_deleted += tx
            .execute(
                &format!(
                    "DELETE FROM outbox WHERE (state != 'pending' AND {})
                     OR (state = 'pending' AND mention_id IN (SELECT id FROM temp.prune_ids))
                     OR mention_id IN (SELECT id FROM mentions
                        WHERE id IN (SELECT id FROM temp.prune_ids) AND {del})",
                    older(c.delete)
                ),
                [],
            )
            .map_err(e)? as i64;
        r.alerts_blanked += tx
            .execute(
                &format!(
                    "UPDATE outbox SET subject = '', body_text = '', body_html = ''
                     WHERE {NOT_BLANK} AND (mention_id IN (SELECT id FROM temp.prune_ids)
                        OR (state != 'pending' AND {}))",
                    older(c.strip)
                ),
                [],
            )
            .map_err(e)? as i64;
        r.deleted = tx
            .execute(
                &format!(
                    "DELETE FROM mentions WHERE id IN (SELECT id FROM temp.prune_ids) AND {del}"
                ),
                [],
            )
            .map_err(e)? as i64;
        // The FTS update trigger removes the old title and text from the index.
        r.stripped = tx
            .execute(
                "UPDATE mentions SET text = '', title = NULL, url = NULL, author_handle = NULL,
                    author_name = NULL, author_reach = NULL, in_reply_to = NULL, raw = NULL,
                    lang = coalesce(lang, CASE WHEN json_valid(reasons)
                        THEN json_extract(reasons, '$.lang') END),
                    reasons = NULL, route = NULL, text_hash = NULL, stripped = 1
                 WHERE id IN (SELECT id FROM temp.prune_ids) AND stripped = 0",
                [],
            )
            .map_err(e)? as i64;
        r.raw_cleared = tx
            .execute(
                &format!(
                    "UPDATE mentions SET raw = NULL WHERE id IN
                     (SELECT id FROM mentions WHERE raw IS NOT NULL AND {raw}
                        AND NOT {del} AND NOT (stripped = 0 AND {strip}) ORDER BY id LIMIT ?1)"
                ),
                [limit as i64],
            )
            .map_err(e)? as i64;
        tx.execute("DELETE FROM temp.prune_ids", []).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(r)
    }

    fn prune(&mut self, c: &Cutoffs) -> Result<(PruneReport, Reclaimed), StoreError> {
        let mut total = PruneReport::default();
        loop {
            let r = self.prune_batch(c, 2000)?;
            if r.is_empty() {
                break;
            }
            total.add(&r);
        }
        Ok((total, self.reclaim_space()?))
    }

    fn reclaim_space(&self) -> Result<Reclaimed, StoreError> {
        reclaim(&self.conn).map_err(self.err())
    }

    fn author_mentions(&self, kind: &str, handle: &str) -> Result<Vec<i64>, StoreError> {
        let key = author_key(handle);
        // Folding case in Rust handles non-ASCII names, which SQLite's lower() does not.
        let mut st = self
            .conn
            .prepare(
                "SELECT id, author_handle, author_name FROM mentions WHERE kind = ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([kind], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(self.err())?;
        let mut ids = Vec::new();
        for row in rows {
            let (id, h, n) = row.map_err(self.err())?;
            if is_author(&key, h.as_deref(), n.as_deref()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn author_people(&self, kind: &str, handle: &str) -> Result<Vec<String>, StoreError> {
        let key = author_key(handle);
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT author_handle, author_name FROM mentions WHERE kind = ?1")
            .map_err(self.err())?;
        let rows = st
            .query_map([kind], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })
            .map_err(self.err())?;
        let mut people = std::collections::BTreeSet::new();
        for row in rows {
            let (h, n) = row.map_err(self.err())?;
            if is_author(&key, h.as_deref(), n.as_deref())
                && let Some(p) = person(h.as_deref(), n.as_deref())
            {
                people.insert(p);
            }
        }
        Ok(people.into_iter().collect())
    }

    fn forget_author(
        &mut self,
        kind: &str,
        handle: &str,
        dry_run: bool,
    ) -> Result<ForgetReport, StoreError> {
        let ids = self.author_mentions(kind, handle)?;
        let erased = erased_key(kind, &author_key(handle));
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut r = ForgetReport {
            mentions: ids.len() as i64,
            already_erased: tx
                .query_row(
                    "SELECT count(*) FROM erased_authors WHERE kind = ?1 AND author_key = ?2",
                    params![kind, erased],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(e)?
                > 0,
            ..Default::default()
        };
        {
            let mut corrections = tx
                .prepare("SELECT count(*) FROM label_corrections WHERE mention_id = ?1")
                .map_err(e)?;
            let mut alerts = tx
                .prepare("DELETE FROM outbox WHERE mention_id = ?1")
                .map_err(e)?;
            let mut count_alerts = tx
                .prepare("SELECT count(*) FROM outbox WHERE mention_id = ?1")
                .map_err(e)?;
            let mut mention = tx
                .prepare("DELETE FROM mentions WHERE id = ?1")
                .map_err(e)?;
            for id in &ids {
                r.label_corrections += corrections
                    .query_row([id], |r| r.get::<_, i64>(0))
                    .map_err(e)?;
                if dry_run {
                    r.alerts += count_alerts
                        .query_row([id], |r| r.get::<_, i64>(0))
                        .map_err(e)?;
                    continue;
                }
                r.alerts += alerts.execute([id]).map_err(e)? as i64;
                // Label corrections go by ON DELETE CASCADE, the full-text entry by the
                // delete trigger (with the row's old values).
                mention.execute([id]).map_err(e)?;
            }
        }
        if dry_run {
            drop(tx);
            return Ok(r);
        }
        tx.execute(
            "INSERT OR IGNORE INTO erased_authors (kind, author_key, erased_at) VALUES (?1, ?2, ?3)",
            params![kind, erased, chrono::Utc::now().timestamp()],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(r)
    }

    fn export_author(&self, kind: &str, handle: &str) -> Result<Vec<Value>, StoreError> {
        let ids = self.author_mentions(kind, handle)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut m = self
                .rows_json("SELECT * FROM mentions WHERE id = ?1", id)?
                .pop()
                .unwrap_or_default();
            m.insert(
                "label_corrections".into(),
                Value::Array(
                    self.rows_json(
                        "SELECT * FROM label_corrections WHERE mention_id = ?1 ORDER BY id",
                        id,
                    )?
                    .into_iter()
                    .map(Value::Object)
                    .collect(),
                ),
            );
            m.insert(
                "alerts".into(),
                Value::Array(
                    self.rows_json("SELECT * FROM outbox WHERE mention_id = ?1 ORDER BY id", id)?
                        .into_iter()
                        .map(Value::Object)
                        .collect(),
                ),
            );
            out.push(Value::Object(m));
        }
        Ok(out)
    }
}

impl Store {
    /// The hashed keys of authors erased on platform `kind`, for [`PollStore::commit_poll`].
    pub(super) fn erased_authors(&self, kind: &str) -> Result<HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT author_key FROM erased_authors WHERE kind = ?1")
            .map_err(self.err())?;
        let rows = st.query_map([kind], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Rows of `sql` (one `?1` parameter) as JSON objects with every column: times as RFC
    /// 3339, stored JSON (raw payload, reasons, engagement, route) as JSON.
    fn rows_json(&self, sql: &str, arg: i64) -> Result<Vec<Map<String, Value>>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.err())?;
        let names: Vec<String> = st.column_names().map(str::to_string).collect();
        let mut rows = st.query([arg]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.err())? {
            let mut obj = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i).map_err(self.err())? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) if name.ends_with("_at") || name == "not_before" => {
                        Value::String(rfc3339(n))
                    }
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => f.into(),
                    ValueRef::Text(t) => {
                        let s = String::from_utf8_lossy(t).into_owned();
                        match name.as_str() {
                            "raw" | "reasons" | "engagement" | "route" => {
                                serde_json::from_str(&s).unwrap_or(Value::String(s))
                            }
                            _ => Value::String(s),
                        }
                    }
                    ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
                };
                obj.insert(name.clone(), v);
            }
            out.push(obj);
        }
        Ok(out)
    }
}

/// True when a new mention's author was erased on request; see [`RetentionStore::forget_author`].
pub(super) fn was_erased(
    erased: &HashSet<String>,
    kind: &str,
    handle: Option<&str>,
    name: Option<&str>,
) -> bool {
    if erased.is_empty() {
        return false;
    }
    let key = match handle.or(name) {
        Some(k) => author_key(k),
        None => return false,
    };
    erased.contains(&erased_key(kind, &key))
}
