//! Committing a poll: its mentions and their full-text rows, the daily counts the
//! caps read, the store signals, the brand's own replies, and the source's cursor and poll
//! log, all in one transaction, so a crash anywhere before the commit stores none of it and
//! the next poll fetches the same items again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{
    NewMention, PollCommit, PollSummary, Store, StoreError, bounded_raw, cap_note, day_start,
    own_replies, retention, signals, verdict_json,
};
use crate::classify::{Classification, Urgency};
use crate::parallel::{MENTIONS_TO_SPLIT, in_parts};

/// A poll's mentions, cursor and counters, committed as one transaction.
pub trait PollStore {
    /// Stores a poll's mentions, advances its cursor and records the poll, all in one
    /// transaction. Mentions the store already has are counted and ignored.
    fn commit_poll(&mut self, p: PollCommit<'_>) -> Result<PollSummary, StoreError>;

    /// [`PollStore::commit_poll`] for a poll whose mentions arrive in parts while it commits
    /// (`p.mentions` is not read): a producer on another core matches and prepares the next
    /// part while this writer stores the one before. Each stored part goes to `give_back`, so
    /// the producer can free it: memory freed on the thread that allocated it costs the writer
    /// nothing, where freeing it here cost the writer a third of its time (glibc locks the
    /// other thread's arena for every free). Everything still goes into one transaction;
    /// should `parts` stop before [`PollPart::End`] (the producer failed), nothing is stored
    /// and the error says so.
    fn commit_poll_parts(
        &mut self,
        p: PollCommit<'_>,
        parts: &mut dyn Iterator<Item = PollPart>,
        give_back: &mut dyn FnMut(ReadyPart),
    ) -> Result<PollSummary, StoreError>;
}

impl PollStore for Store {
    fn commit_poll(&mut self, mut p: PollCommit<'_>) -> Result<PollSummary, StoreError> {
        let mentions = std::mem::take(&mut p.mentions);
        let big = mentions.len() >= BIG_POLL;
        let parts = [
            PollPart::Mentions(ReadyPart::unprepared(mentions)),
            PollPart::End(PollTail::default()),
        ];
        self.commit_in_parts(p, big, parts, &mut drop)
    }

    fn commit_poll_parts(
        &mut self,
        p: PollCommit<'_>,
        parts: &mut dyn Iterator<Item = PollPart>,
        give_back: &mut dyn FnMut(ReadyPart),
    ) -> Result<PollSummary, StoreError> {
        self.commit_in_parts(p, true, parts, give_back)
    }
}

impl Store {
    fn commit_in_parts(
        &mut self,
        p: PollCommit<'_>,
        big: bool,
        parts: impl IntoIterator<Item = PollPart>,
        give_back: &mut dyn FnMut(ReadyPart),
    ) -> Result<PollSummary, StoreError> {
        let erased = self.erased_authors(p.kind)?;
        // A big poll (a backfill, a feed of thousands of entries) dirties more pages than the
        // everyday 16 MiB cache holds, and SQLite then spills them to the WAL mid-transaction
        // and reads them back. For such a poll the cache may grow to 256 MiB (allocated only
        // as used, and handed back by `release_memory` once the daemon is idle again).
        if big {
            self.set_cache_kib(BIG_POLL_CACHE_KIB);
        }
        let source = p.source.to_string();
        let result =
            self.write_or_discard(|tx| commit_in(tx, p, parts, give_back, &erased, Utc::now()));
        if big {
            self.set_cache_kib(CACHE_KIB);
        }
        match result {
            Ok(Some(summary)) => Ok(summary),
            Ok(None) => Err(StoreError::PollCut(source)),
            Err(e) => Err(e),
        }
    }

    /// Sets the writer's page cache limit. A failure only costs speed, so it is logged.
    fn set_cache_kib(&self, kib: i64) {
        if let Err(e) = self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))
        {
            tracing::debug!(error = %e, "cannot change the SQLite page cache size");
        }
    }
}

/// Mentions in one poll from which its commit gets the larger page cache.
pub(super) const BIG_POLL: usize = 2_000;
/// The page cache of a big poll's commit, in KiB.
const BIG_POLL_CACHE_KIB: i64 = 256 * 1024;
/// The writer's everyday page cache, in KiB (as `configure` sets it).
pub(super) const CACHE_KIB: i64 = 16 * 1024;

/// One piece of a poll streamed into [`PollStore::commit_poll_parts`].
pub enum PollPart {
    /// The next mentions, in the poll's order.
    Mentions(ReadyPart),
    /// All parts were sent: the commit may end.
    End(PollTail),
}

/// What only the end of a poll read part by part knows, added to its [`PollCommit`].
#[derive(Debug, Default)]
pub struct PollTail {
    /// Mentions the source handed over in the parts (added to `fetched`).
    pub fetched: usize,
    /// Replies by the brand's own accounts found among them (added to `own_replies`).
    pub own_replies: Vec<crate::sources::OwnReply>,
}

/// Matched mentions with the column values that take work to build but no database (text
/// hashes, JSON of the raw payload, engagement and verdict), made by [`ReadyPart::new`] on
/// any thread so the writer spends its time writing.
pub struct ReadyPart {
    mentions: Vec<NewMention>,
    /// Text hashes, by position; empty until prepared.
    hashes: Vec<Option<i64>>,
    /// Column values, by position; empty until prepared.
    values: Vec<Option<RowValues>>,
}

impl ReadyPart {
    /// Prepares `mentions` on the calling thread; raw payloads are cut to `raw_max_bytes`.
    pub fn new(mut mentions: Vec<NewMention>, raw_max_bytes: usize) -> ReadyPart {
        let hashes = mentions
            .iter()
            .map(|n| signals::text_hash(&n.mention.text))
            .collect();
        let values = mentions
            .iter_mut()
            .map(|n| Some(RowValues::of(n, raw_max_bytes)))
            .collect();
        ReadyPart {
            mentions,
            hashes,
            values,
        }
    }

    /// Mentions the commit prepares itself, only those it will store.
    fn unprepared(mentions: Vec<NewMention>) -> ReadyPart {
        ReadyPart {
            mentions,
            hashes: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// Everything [`PollStore::commit_poll`] writes, inside its transaction; `None` when `parts`
/// ended before [`PollPart::End`].
fn commit_in(
    tx: &Transaction<'_>,
    mut p: PollCommit<'_>,
    parts: impl IntoIterator<Item = PollPart>,
    give_back: &mut dyn FnMut(ReadyPart),
    erased: &std::collections::HashSet<String>,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<PollSummary>> {
    let now_s = now.timestamp();
    let today = day_start(now);
    let mut summary = PollSummary::default();
    let mut tally = DailyTally::load(tx, &p, today)?;
    let mut inserted = Inserted {
        rows: Vec::new(),
        totals: HashMap::new(),
    };
    let mut ended = false;
    // A source's first poll (often its biggest: a feed's whole history) has nothing stored
    // to look up.
    let fresh = !tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM mentions WHERE source = ?1)")?
        .query_row([p.source], |r| r.get::<_, bool>(0))?;
    for part in parts {
        match part {
            PollPart::Mentions(part) => {
                let first_new = summary.new_ids.len();
                let spent = commit_part(
                    tx,
                    &p,
                    part,
                    fresh,
                    erased,
                    &mut tally,
                    &mut summary,
                    &mut inserted,
                    now_s,
                )?;
                give_back(spent);
                // Each part's rows enter the full-text index as soon as they are stored, so the
                // index's work overlaps the producer's next part.
                index_text(tx, summary.new_ids.get(first_new).copied())?;
            }
            PollPart::End(tail) => {
                p.fetched += tail.fetched;
                p.own_replies.extend(tail.own_replies);
                ended = true;
                break;
            }
        }
    }
    if !ended {
        return Ok(None);
    }
    // Before the signals: a relabel there moves a count the trigger expects to find.
    add_totals(tx, p.source, &inserted.totals)?;
    if let Some(c) = p.signals {
        signals::apply(tx, c, p.source, &inserted.rows, now_s)?;
    }
    summary.answered = own_replies::apply(
        tx,
        p.source,
        &p.own_replies,
        !summary.new_ids.is_empty(),
        now_s,
    )?
    .len();
    let note = tally.notes(&p, &mut summary);
    tally.record(tx, today, p.source, &summary.new_ids)?;
    record_success(tx, &p, &summary, note, now)?;
    Ok(Some(summary))
}

/// Stores one part of a poll: what erasures, earlier polls and caps let through, with the
/// same-text signal settled among the part's own repeats first. Hands the part back, spent,
/// for its producer to free.
#[allow(clippy::too_many_arguments)]
fn commit_part(
    tx: &Transaction<'_>,
    p: &PollCommit<'_>,
    part: ReadyPart,
    fresh: bool,
    erased: &std::collections::HashSet<String>,
    tally: &mut DailyTally,
    summary: &mut PollSummary,
    inserted: &mut Inserted,
    now_s: i64,
) -> rusqlite::Result<ReadyPart> {
    let ReadyPart {
        mut mentions,
        mut hashes,
        mut values,
    } = part;
    if hashes.len() != mentions.len() {
        hashes = in_parts(mentions.iter().collect(), MENTIONS_TO_SPLIT, |part| {
            part.into_iter()
                .map(|n| signals::text_hash(&n.mention.text))
                .collect()
        });
    }
    let erased_rows: Vec<bool> = mentions
        .iter()
        .map(|n| {
            retention::was_erased(
                erased,
                p.kind,
                n.mention.author_handle.as_deref(),
                n.mention.author_name.as_deref(),
            )
        })
        .collect();
    let stored_before = if fresh {
        // Only the poll's own earlier parts can hold one of these ids; the insert finds
        // those and counts them as duplicates.
        vec![false; mentions.len()]
    } else {
        stored_already(tx, p.source, &mentions)?
    };
    let mut revised = Vec::new();
    if let Some(c) = p.signals
        && !tally.capped()
    {
        let skip: Vec<bool> = erased_rows
            .iter()
            .zip(&stored_before)
            .map(|(erased, stored)| *erased || *stored)
            .collect();
        revised = signals::settle_repeats(tx, c, &mut mentions, &hashes, &skip)?;
    }
    if values.len() == mentions.len() {
        // Prepared before the repeats were settled: a revised verdict is written out again.
        for i in revised {
            if let (Some(Some(v)), Some(verdict)) = (values.get_mut(i), &mentions[i].verdict) {
                v.verdict = Some(verdict_json(verdict));
            }
        }
    } else {
        // After the repeats are settled: that may change a verdict. Only the rows the commit
        // will store are prepared.
        let raw_max = p.raw_max_bytes;
        values = in_parts(
            mentions
                .iter_mut()
                .zip(erased_rows.iter().zip(&stored_before))
                .collect(),
            MENTIONS_TO_SPLIT,
            |part| {
                part.into_iter()
                    .map(|(n, (erased, stored))| {
                        (!erased && !stored).then(|| RowValues::of(n, raw_max))
                    })
                    .collect()
            },
        );
    }
    let rows = RowFlags {
        hashes: &hashes,
        erased: &erased_rows,
        stored_before: &stored_before,
    };
    insert_mentions(
        tx,
        p,
        &mut mentions,
        &values,
        rows,
        tally,
        summary,
        inserted,
        now_s,
    )?;
    Ok(ReadyPart {
        mentions,
        hashes,
        values,
    })
}

/// Today's stored counts for the source and the capped watches, and what this poll adds.
/// Daily volumes come from a small counter table, so caps cost one lookup per poll instead of
/// a count over the day's mentions.
struct DailyTally {
    source_cap: Option<u64>,
    source_count: u64,
    watch_counts: HashMap<String, u64>,
    watch_added: HashMap<String, Added>,
}

/// What a poll stored under one name: how many, and the smallest and largest id.
#[derive(Debug, Clone, Copy)]
struct Added {
    n: i64,
    first: i64,
    last: i64,
}

impl Added {
    fn one(id: i64) -> Added {
        Added {
            n: 1,
            first: id,
            last: id,
        }
    }

    fn add(&mut self, id: i64) {
        self.n += 1;
        self.first = self.first.min(id);
        self.last = self.last.max(id);
    }
}

impl DailyTally {
    fn load(tx: &Transaction<'_>, p: &PollCommit<'_>, today: i64) -> rusqlite::Result<Self> {
        let stored_today = |scope: &str, name: &str| -> rusqlite::Result<u64> {
            tx.query_row(
                "SELECT stored FROM daily_counts WHERE day = ?1 AND scope = ?2 AND name = ?3",
                params![today, scope, name],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0) as u64)
        };
        let mut watch_counts = HashMap::new();
        for w in p.watch_caps.keys() {
            watch_counts.insert(w.clone(), stored_today("watch", w)?);
        }
        Ok(DailyTally {
            source_cap: p.source_cap,
            source_count: stored_today("source", p.source)?,
            watch_counts,
            watch_added: HashMap::new(),
        })
    }

    /// True when a daily cap applies to this poll.
    fn capped(&self) -> bool {
        self.source_cap.is_some() || !self.watch_counts.is_empty()
    }

    /// True when the caps refuse a mention; otherwise `watches` is cut to those still under
    /// their cap.
    fn refuse(&self, caps: &HashMap<String, u64>, watches: &mut Vec<String>) -> bool {
        if self.source_cap.is_some_and(|cap| self.source_count >= cap) {
            return true;
        }
        watches.retain(|w| match caps.get(w) {
            Some(cap) => self.watch_counts.get(w).copied().unwrap_or(0) < *cap,
            None => true,
        });
        watches.is_empty()
    }

    /// Counts one stored mention, stored as `id`.
    fn add(&mut self, watches: &[String], id: i64) {
        for w in watches {
            if let Some(c) = self.watch_counts.get_mut(w) {
                *c += 1;
            }
            // Looked up before it is copied: a poll's mentions share a few watches.
            match self.watch_added.get_mut(w) {
                Some(a) => a.add(id),
                None => {
                    self.watch_added.insert(w.clone(), Added::one(id));
                }
            }
        }
        self.source_count += 1;
    }

    /// Notes for caps that are near or reached, for the source's state; warnings go to
    /// `summary`.
    fn notes(&self, p: &PollCommit<'_>, summary: &mut PollSummary) -> Option<String> {
        let mut note = None;
        if let Some(cap) = p.source_cap {
            note = cap_note(
                summary,
                &format!("source {}", p.source),
                self.source_count,
                cap,
            );
        }
        for (w, cap) in p.watch_caps {
            let n = self.watch_counts.get(w).copied().unwrap_or(0);
            if let Some(n) = cap_note(summary, &format!("watch {w}"), n, *cap) {
                note = Some(note.map(|o| format!("{o}; {n}")).unwrap_or(n));
            }
        }
        note
    }

    /// Adds what this poll stored (`new_ids`) to the day's counters, widening their id
    /// ranges to take in the new ids.
    fn record(
        &self,
        tx: &Transaction<'_>,
        today: i64,
        source: &str,
        new_ids: &[i64],
    ) -> rusqlite::Result<()> {
        let mut count = tx.prepare_cached(
            "INSERT INTO daily_counts (day, scope, name, stored, first_id, last_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (day, scope, name) DO UPDATE SET stored = stored + excluded.stored,
                first_id = min(coalesce(first_id, excluded.first_id), excluded.first_id),
                last_id = max(coalesce(last_id, excluded.last_id), excluded.last_id)",
        )?;
        if let (Some(first), Some(last)) = (new_ids.iter().min(), new_ids.iter().max()) {
            let n = new_ids.len() as i64;
            count.execute(params![today, "source", source, n, first, last])?;
        }
        for (w, a) in &self.watch_added {
            count.execute(params![today, "watch", w, a.n, a.first, a.last])?;
        }
        Ok(())
    }
}

/// Which of the poll's mentions an earlier poll already stored, in one statement: a feed
/// repeats most of its entries on every poll, and looking each one up, or building its row
/// only to have the insert find the key taken, cost more than storing the new ones.
fn stored_already(
    tx: &Transaction<'_>,
    source: &str,
    mentions: &[NewMention],
) -> rusqlite::Result<Vec<bool>> {
    let mut out = vec![false; mentions.len()];
    if mentions.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = mentions
        .iter()
        .map(|n| n.mention.external_id.as_str())
        .collect();
    let ids = serde_json::to_string(&ids)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let mut found = tx.prepare_cached(
        "SELECT key FROM json_each(?2)
         WHERE EXISTS (SELECT 1 FROM mentions WHERE source = ?1 AND external_id = json_each.value)",
    )?;
    let rows = found.query_map(params![source, ids], |r| r.get::<_, i64>(0))?;
    for i in rows {
        if let Some(slot) = usize::try_from(i?).ok().and_then(|i| out.get_mut(i)) {
            *slot = true;
        }
    }
    Ok(out)
}

/// Adds the poll's new mentions to the full-text index in one statement. Row ids only grow,
/// so every row from `first` on was stored by this commit; one `INSERT … SELECT` spares a
/// statement run per mention.
fn index_text(tx: &Transaction<'_>, first: Option<i64>) -> rusqlite::Result<()> {
    if let Some(first) = first {
        tx.prepare_cached(
            "INSERT INTO mentions_fts (rowid, title, text)
             SELECT id, title, text FROM mentions WHERE id >= ?1",
        )?
        .execute([first])?;
    }
    Ok(())
}

/// The column values of a mention's row that take work to build but no database, made for
/// the whole poll on all cores before the inserts, so the one writer spends its time writing.
struct RowValues {
    engagement: Option<String>,
    raw: Option<String>,
    verdict: Option<String>,
    /// The watches column, as matched (a daily cap may still cut the list).
    watches: String,
}

impl RowValues {
    /// The values of `n`'s row. Its raw payload is written out and then freed here, on
    /// the core that wrote it: freeing the JSON trees of a big poll took about 3 % of the
    /// writer's instructions.
    fn of(n: &mut NewMention, raw_max_bytes: usize) -> RowValues {
        let raw = bounded_raw(&n.mention.raw, raw_max_bytes);
        n.mention.raw = serde_json::Value::Null;
        RowValues {
            engagement: serde_json::to_string(&n.mention.engagement)
                .ok()
                .filter(|s| s != "{}"),
            raw,
            verdict: n.verdict.as_ref().map(verdict_json),
            watches: n.watches.join(","),
        }
    }
}

/// What the commit knows about each mention before inserting it, by position.
#[derive(Clone, Copy)]
struct RowFlags<'a> {
    /// Text hashes for the store signals.
    hashes: &'a [Option<i64>],
    /// The author asked to be forgotten.
    erased: &'a [bool],
    /// An earlier poll stored this id.
    stored_before: &'a [bool],
}

/// What [`insert_mentions`] stored, for the steps after it.
struct Inserted {
    /// The new rows, for the store signals.
    rows: Vec<signals::NewRow>,
    /// Stored mentions per label and language ("" for none), for `mention_totals`.
    totals: HashMap<Option<&'static str>, HashMap<String, i64>>,
}

/// Inserts the mentions the caps and erasures let through, with their watches, given the
/// column values of those rows. A mention the store already has is counted in
/// `summary.duplicates`.
#[allow(clippy::too_many_arguments)]
fn insert_mentions(
    tx: &Transaction<'_>,
    p: &PollCommit<'_>,
    mentions: &mut [NewMention],
    values: &[Option<RowValues>],
    flags: RowFlags<'_>,
    tally: &mut DailyTally,
    summary: &mut PollSummary,
    out: &mut Inserted,
    now_s: i64,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO mentions (source, kind, external_id, url, author_handle, author_name,
            author_reach, lang, title, text, in_reply_to, engagement, created_at, fetched_at,
            watches, backfill, raw, label, sentiment, urgency, spam, reasons, classified_at,
            label_source, text_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?23, CASE WHEN ?18 IS NULL THEN NULL ELSE 'classifier' END,
            ?24)
         ON CONFLICT (source, external_id) DO NOTHING",
    )?;
    // Values the same for every row are bound once: a statement keeps its bindings from one
    // run to the next, and binding is about a tenth of the writer's time.
    insert.raw_bind_parameter(1, p.source)?;
    insert.raw_bind_parameter(2, p.kind)?;
    insert.raw_bind_parameter(14, now_s)?;
    insert.raw_bind_parameter(16, p.backfill)?;
    for (
        i,
        (
            NewMention {
                mention: m,
                watches,
                verdict,
            },
            values,
        ),
    ) in mentions.iter_mut().zip(values).enumerate()
    {
        if flags.erased[i] {
            summary.erased += 1;
            continue;
        }
        // Before the caps: they count only new mentions.
        if flags.stored_before[i] {
            summary.duplicates += 1;
            continue;
        }
        if tally.capped() && tally.refuse(p.watch_caps, watches) {
            summary.capped += 1;
            continue;
        }
        let Some(values) = values else { continue };
        let hash = flags.hashes[i];
        let cut;
        let watches_column = if tally.capped() {
            cut = watches.join(",");
            &cut
        } else {
            &values.watches
        };
        let changed = insert_row(
            &mut insert,
            m,
            verdict.as_ref(),
            values,
            watches_column,
            now_s,
            hash,
        )?;
        if changed == 0 {
            summary.duplicates += 1;
            continue;
        }
        let id = tx.last_insert_rowid();
        if let Some(stars) = m.rating {
            // Only reviews carry a rating; set apart so the insert above stays as it is.
            tx.prepare_cached("UPDATE mentions SET rating = ?1 WHERE id = ?2")?
                .execute(params![stars, id])?;
        }
        out.count(verdict.as_ref(), m.lang.as_deref());
        tally.add(watches, id);
        summary.new_ids.push(id);
        out.rows.push(signals::NewRow::of(id, m, hash));
    }
    Ok(())
}

/// Runs the mention insert for one row, whose statement has the poll's own values (source,
/// kind, fetch time, backfill) bound already; the number of rows it changed (0: already stored).
#[allow(clippy::too_many_arguments)]
#[inline]
fn insert_row(
    insert: &mut rusqlite::CachedStatement<'_>,
    m: &crate::sources::Mention,
    verdict: Option<&Classification>,
    values: &RowValues,
    watches_column: &str,
    now_s: i64,
    hash: Option<i64>,
) -> rusqlite::Result<usize> {
    insert.raw_bind_parameter(3, &m.external_id)?;
    insert.raw_bind_parameter(4, &m.url)?;
    insert.raw_bind_parameter(5, &m.author_handle)?;
    insert.raw_bind_parameter(6, &m.author_name)?;
    insert.raw_bind_parameter(7, m.author_reach)?;
    insert.raw_bind_parameter(8, &m.lang)?;
    insert.raw_bind_parameter(9, &m.title)?;
    insert.raw_bind_parameter(10, &m.text)?;
    insert.raw_bind_parameter(11, &m.in_reply_to)?;
    insert.raw_bind_parameter(12, &values.engagement)?;
    insert.raw_bind_parameter(13, m.created_at.timestamp())?;
    insert.raw_bind_parameter(15, watches_column)?;
    insert.raw_bind_parameter(17, &values.raw)?;
    insert.raw_bind_parameter(18, verdict.map(|v| v.label.as_str()))?;
    insert.raw_bind_parameter(19, verdict.map(|v| v.sentiment as f64))?;
    insert.raw_bind_parameter(
        20,
        verdict.map(|v| {
            if v.urgency == Urgency::Urgent {
                "urgent"
            } else {
                "normal"
            }
        }),
    )?;
    insert.raw_bind_parameter(21, verdict.map(|v| v.spam))?;
    insert.raw_bind_parameter(22, &values.verdict)?;
    insert.raw_bind_parameter(23, verdict.map(|_| now_s))?;
    insert.raw_bind_parameter(24, hash)?;
    insert.raw_execute()
}

impl Inserted {
    /// Counts a stored mention in the per-label, per-language totals.
    #[inline]
    fn count(&mut self, verdict: Option<&Classification>, lang: Option<&str>) {
        let per_lang = self
            .totals
            .entry(verdict.map(|v| v.label.as_str()))
            .or_default();
        // Looked up before it is copied: most rows share a few languages.
        let lang = lang.unwrap_or("");
        match per_lang.get_mut(lang) {
            Some(n) => *n += 1,
            None => {
                per_lang.insert(lang.to_string(), 1);
            }
        }
    }
}

/// Adds the poll's stored mentions to the running totals the metrics endpoint reads.
fn add_totals(
    tx: &Transaction<'_>,
    source: &str,
    totals: &HashMap<Option<&'static str>, HashMap<String, i64>>,
) -> rusqlite::Result<()> {
    let mut add_total = tx.prepare_cached(
        "INSERT INTO mention_totals VALUES (?1, coalesce(?2, ''), coalesce(?3, ''), ?4)
         ON CONFLICT DO UPDATE SET n = n + excluded.n",
    )?;
    for (label, per_lang) in totals {
        for (lang, n) in per_lang {
            add_total.execute(params![source, label, lang, n])?;
        }
    }
    Ok(())
}

/// Advances the source's cursor, clears its error and logs the poll.
fn record_success(
    tx: &Transaction<'_>,
    p: &PollCommit<'_>,
    summary: &PollSummary,
    note: Option<String>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let now_s = now.timestamp();
    let stored = summary.new_ids.len() as i64;
    tx.execute(
        "INSERT INTO source_state (source, kind, cursor, last_poll_at, last_success_at, last_error,
            last_error_at, consecutive_failures, next_poll_at, items_stored, cap_note)
         VALUES (?1, ?2, ?3, ?4, ?4, NULL, NULL, 0, ?5, ?6, ?7)
         ON CONFLICT (source) DO UPDATE SET kind = excluded.kind,
            cursor = coalesce(excluded.cursor, source_state.cursor),
            last_poll_at = excluded.last_poll_at, last_success_at = excluded.last_success_at,
            last_error = NULL, consecutive_failures = 0, next_poll_at = excluded.next_poll_at,
            items_stored = source_state.items_stored + excluded.items_stored,
            cap_note = excluded.cap_note",
        params![
            p.source,
            p.kind,
            p.cursor,
            now_s,
            p.next_poll_at.timestamp(),
            stored,
            note
        ],
    )?;
    tx.execute(
        "INSERT INTO poll_log (source, started_at, duration_ms, outcome, fetched, stored, skipped)
         VALUES (?1, ?2, ?3, 'ok', ?4, ?5, ?6)",
        params![
            p.source,
            p.started_at.timestamp(),
            (now - p.started_at).num_milliseconds().max(0),
            p.fetched as i64,
            stored,
            (summary.duplicates + summary.capped + summary.erased) as i64
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Mention;
    use crate::store::MentionStore;
    use crate::store::SourceStateStore;
    use crate::store::testing;

    fn part(ids: std::ops::Range<u32>) -> ReadyPart {
        let mentions = ids
            .map(|i| NewMention {
                mention: Mention {
                    external_id: i.to_string(),
                    text: format!("Fjordlink post {i}"),
                    created_at: Utc::now(),
                    ..Default::default()
                },
                watches: vec!["Fjordlink".to_string()],
                verdict: None,
            })
            .collect();
        ReadyPart::new(mentions, 1024)
    }

    fn poll(cursor: &str) -> PollCommit<'static> {
        PollCommit {
            cursor: Some(cursor.into()),
            ..PollCommit::news("feed", Vec::new())
        }
    }

    #[test]
    fn a_poll_whose_parts_stop_before_their_end_stores_nothing_and_keeps_the_cursor() {
        let (_dir, mut s) = testing::temp_store();
        s.commit_poll(PollCommit {
            mentions: part(0..1).mentions,
            ..poll("a")
        })
        .unwrap();

        let mut returned = 0;
        let cut = s.commit_poll_parts(
            poll("b"),
            &mut [
                PollPart::Mentions(part(1..3)),
                PollPart::Mentions(part(3..5)),
            ]
            .into_iter(),
            &mut |_| returned += 1,
        );
        let err = cut.unwrap_err();
        assert!(
            matches!(err, StoreError::PollCut(ref source) if source == "feed"),
            "{err}"
        );
        assert!(err.to_string().contains("nothing stored"), "{err}");
        assert_eq!(
            s.source_state("feed").unwrap().unwrap().cursor.as_deref(),
            Some("a")
        );

        returned = 0;
        let whole = s
            .commit_poll_parts(
                poll("b"),
                &mut [
                    PollPart::Mentions(part(1..3)),
                    PollPart::Mentions(part(3..5)),
                    PollPart::End(PollTail::default()),
                ]
                .into_iter(),
                &mut |_| returned += 1,
            )
            .unwrap();
        assert_eq!(whole.new_ids.len(), 4, "the cut poll left nothing behind");
        assert_eq!(whole.duplicates, 0);
        assert_eq!(returned, 2, "every stored part goes back to its producer");
        assert_eq!(
            s.source_state("feed").unwrap().unwrap().cursor.as_deref(),
            Some("b")
        );
    }

    #[test]
    fn an_id_repeated_in_a_later_part_is_a_duplicate_and_every_part_is_searchable() {
        let (_dir, mut s) = testing::temp_store();
        let summary = s
            .commit_poll_parts(
                poll("c"),
                &mut [
                    PollPart::Mentions(part(0..3)),
                    PollPart::Mentions(part(2..6)),
                    PollPart::End(PollTail::default()),
                ]
                .into_iter(),
                &mut drop,
            )
            .unwrap();
        assert_eq!(summary.new_ids.len(), 6);
        assert_eq!(summary.duplicates, 1);
        for i in [0, 5] {
            let found = s
                .mentions(&crate::store::MentionQuery::new().search(format!("\"post {i}\"")))
                .unwrap();
            assert_eq!(found.len(), 1, "post {i}");
        }
    }
}
