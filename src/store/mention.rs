//! The stored mention: one [`StoredMention`] (what the source gave, the classifier's
//! [`Verdict`] and what happened to it since, its [`Handling`]), read by column name in one
//! place, and [`MentionQuery`], the one way every stage asks for stored mentions: the
//! `mentions` command, the router, the digest, the spike detector, backtests and the web inbox.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Serialize, Serializer};

use super::{Store, StoreError};
use crate::classify::{Label, Urgency};
use crate::sources::Mention;

/// A mention as stored: what the source gave, what the classifier decided and what happened
/// to it since.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoredMention {
    /// Database id, used by other commands (`label`, `route`).
    pub id: i64,
    /// Source name.
    pub source: String,
    /// Source kind (the platform), e.g. `x`, `rss`; opt-outs are per platform.
    pub kind: String,
    /// The mention as the source gave it; its raw payload is not read back (`Value::Null`).
    #[serde(flatten)]
    pub mention: Mention,
    /// When webcare stored it (unix seconds; RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339_json")]
    pub fetched_at: i64,
    /// Watches it matched.
    pub watches: Vec<String>,
    /// True when it came in with a source's first poll.
    pub backfill: bool,
    /// What the classifier (or staff) decided about it.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// What happened to it after it was stored.
    #[serde(flatten)]
    pub handling: Handling,
}

/// The verdict on a stored mention. Every part is `None` until the classifier ran; a staff
/// correction sets the label alone, and staff may flag spam on any mention.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// The label.
    pub label: Option<Label>,
    /// Sentiment in [-1, 1].
    pub sentiment: Option<f64>,
    /// Urgency.
    pub urgency: Option<Urgency>,
    /// Spam flag.
    pub spam: Option<bool>,
    /// Polarity, urgency reasons, detected language and the cues behind the label, as stored.
    #[serde(rename = "verdict")]
    pub reasons: Option<serde_json::Value>,
}

impl Verdict {
    /// True when the mention was found urgent.
    pub fn is_urgent(&self) -> bool {
        self.urgency == Some(Urgency::Urgent)
    }

    /// True when the mention was flagged spam.
    pub fn is_spam(&self) -> bool {
        self.spam == Some(true)
    }

    /// The label's word, or `unclassified`.
    pub fn label_word(&self) -> &'static str {
        self.label.map_or("unclassified", Label::as_str)
    }
}

/// What happened to a stored mention: routed, folded into an earlier alert, claimed, answered,
/// relabelled.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Handling {
    /// `classifier`, or `staff` after a correction.
    pub label_source: Option<String>,
    /// Who answered it (the brand's own account, or staff who marked it), if anyone did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// When it was answered (unix seconds; RFC 3339 in JSON).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_json_opt"
    )]
    pub answered_at: Option<i64>,
    /// When it was routed (unix seconds), if it was.
    #[serde(skip)]
    pub routed_at: Option<i64>,
    /// The earlier alerted mention this one repeats, once routed.
    #[serde(skip)]
    pub duplicate_of: Option<i64>,
    /// The teams its routing decision named.
    #[serde(skip)]
    pub teams: Vec<String>,
    /// Who claimed it in the web inbox.
    #[serde(skip)]
    pub claimed_by: Option<String>,
    /// When the comms team pinned it to the praise wall (unix seconds), if they did.
    #[serde(skip)]
    pub pinned_at: Option<i64>,
}

impl StoredMention {
    /// True when a staff correction set its label.
    pub fn label_corrected(&self) -> bool {
        self.handling.label_source.as_deref() == Some("staff")
    }

    /// When it was posted (unix seconds).
    pub fn created_at(&self) -> i64 {
        self.mention.created_at.timestamp()
    }

    /// When it was posted, as RFC 3339.
    pub fn created_rfc3339(&self) -> String {
        rfc3339(self.created_at())
    }

    /// Title and text as one string, the title first unless the text already starts with it.
    pub fn full_text(&self, between: &str) -> String {
        let m = &self.mention;
        match &m.title {
            Some(t) if !m.text.starts_with(t.as_str()) => format!("{t}{between}{}", m.text),
            _ => m.text.clone(),
        }
    }

    /// Reads a row selected with [`COLUMNS`], by column name.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMention> {
        let watches: String = r.get("watches")?;
        let route: Option<String> = r.get("route")?;
        let created_at: i64 = r.get("created_at")?;
        Ok(StoredMention {
            id: r.get("id")?,
            source: r.get("source")?,
            kind: r.get("kind")?,
            mention: Mention {
                external_id: r.get("external_id")?,
                url: r.get("url")?,
                author_handle: r.get("author_handle")?,
                author_name: r.get("author_name")?,
                author_reach: r.get("author_reach")?,
                lang: r.get("lang")?,
                title: r.get("title")?,
                text: r.get("text")?,
                created_at: DateTime::from_timestamp(created_at, 0).unwrap_or_default(),
                in_reply_to: r.get("in_reply_to")?,
                engagement: r
                    .get::<_, Option<String>>("engagement")?
                    .and_then(|e| serde_json::from_str(&e).ok())
                    .unwrap_or_default(),
                rating: r
                    .get::<_, Option<i64>>("rating")?
                    .and_then(|r| u8::try_from(r).ok()),
                raw: serde_json::Value::Null,
            },
            fetched_at: r.get("fetched_at")?,
            watches: watches
                .split(',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect(),
            backfill: r.get("backfill")?,
            verdict: Verdict {
                label: parsed(r, "label")?,
                sentiment: r.get("sentiment")?,
                urgency: parsed(r, "urgency")?,
                spam: r.get("spam")?,
                reasons: r
                    .get::<_, Option<String>>("reasons")?
                    .and_then(|v| serde_json::from_str(&v).ok()),
            },
            handling: Handling {
                label_source: r.get("label_source")?,
                answered_by: r.get("answered_by")?,
                answered_at: r.get("answered_at")?,
                routed_at: r.get("routed_at")?,
                duplicate_of: r.get("duplicate_of")?,
                teams: route_teams(route.as_deref()),
                claimed_by: r.get("claimed_by")?,
                pinned_at: r.get("pinned_at")?,
            },
        })
    }
}

/// The clause that keeps the mentions of the watch bound to its `?N`, read as `plan` says.
fn watch_clause(plan: WatchPlan) -> String {
    match plan {
        WatchPlan::Probe => format!(" AND {}", has_watch("m.watches", "?N")),
        WatchPlan::Ranges => format!(
            " AND m.id IN (SELECT x.id FROM daily_counts d
                          JOIN mentions x INDEXED BY mentions_watch_ids
                            ON x.id BETWEEN d.first_id AND d.last_id
                          WHERE d.scope = 'watch' AND d.name = ?N AND {})",
            has_watch("x.watches", "?N")
        ),
        WatchPlan::Whole => format!(
            " AND m.id IN (SELECT id FROM mentions INDEXED BY mentions_watch_ids
                          WHERE {})",
            has_watch("watches", "?N")
        ),
    }
}

/// SQL that is true when the comma-separated watch names in `column` (a mention's `watches`,
/// as the commit writes them) include the name bound as `name`, as a whole name.
pub(super) fn has_watch(column: &str, name: &str) -> String {
    format!("instr(',' || {column} || ',', ',' || {name} || ',') > 0")
}

/// Reads the text column `name` as a `T`; a word webcare never writes is a conversion error.
fn parsed<T>(r: &rusqlite::Row<'_>, name: &str) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let Some(word) = r.get::<_, Option<String>>(name)? else {
        return Ok(None);
    };
    word.parse().map(Some).map_err(|e| {
        let column = r.as_ref().column_index(name).unwrap_or_default();
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The columns [`StoredMention::from_row`] reads, of the mentions table under the alias `m`.
/// Named with AS: SQLite leaves the name of an unaliased column unspecified.
const COLUMNS: &str = "m.id AS id, m.source AS source, m.kind AS kind,
    m.external_id AS external_id, m.url AS url, m.author_handle AS author_handle,
    m.author_name AS author_name, m.author_reach AS author_reach, m.lang AS lang,
    m.title AS title, m.text AS text, m.in_reply_to AS in_reply_to, m.created_at AS created_at,
    m.engagement AS engagement,
    m.fetched_at AS fetched_at, m.watches AS watches, m.backfill AS backfill, m.label AS label,
    m.sentiment AS sentiment, m.urgency AS urgency, m.spam AS spam,
    m.label_source AS label_source, m.reasons AS reasons, m.rating AS rating,
    m.answered_by AS answered_by, m.answered_at AS answered_at, m.routed_at AS routed_at,
    m.duplicate_of AS duplicate_of, m.route AS route, m.claimed_by AS claimed_by,
    m.pinned_at AS pinned_at";

/// Unix seconds as RFC 3339 (UTC, whole seconds); empty for a time chrono cannot show.
pub fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn rfc3339_json<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ts))
}

fn rfc3339_json_opt<S: Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => rfc3339_json(ts, s),
        None => s.serialize_none(),
    }
}

/// The teams in a stored routing decision (a JSON list of matched rules).
fn route_teams(route: Option<&str>) -> Vec<String> {
    let Some(v) = route.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()) else {
        return Vec::new();
    };
    let mut teams: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["team"].as_str().map(str::to_string))
        .collect();
    teams.dedup();
    teams
}

/// The inbox's three views.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum InboxStatus {
    /// Unanswered complaints and questions that are not spam.
    #[default]
    Open,
    /// Mentions someone marked answered.
    Answered,
    /// Everything.
    All,
}

/// An open mention: unanswered, a complaint or a question, not spam.
const OPEN: &str =
    "m.answered_at IS NULL AND m.label IN ('complaint', 'question') AND coalesce(m.spam, 0) = 0";

/// On the praise wall: pinned, or praise that is not spam from an author who did not opt out.
const WALL: &str = " AND (m.pinned_at IS NOT NULL OR (
    m.label = 'praise' AND coalesce(m.spam, 0) = 0
    AND NOT EXISTS (SELECT 1 FROM optouts o WHERE o.platform = lower(m.kind)
        AND o.handle = lower(ltrim(coalesce(m.author_handle, ''), '@')))))";

/// The order [`MentionQuery`] returns mentions in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum MentionOrder {
    /// Newest post first (`webcare mentions`).
    #[default]
    Newest,
    /// Oldest post first (a thread).
    Oldest,
    /// In the order they were stored (routing, backtests).
    Stored,
    /// The best-reached first, unknown reach last, then oldest post first (the digest).
    Reach,
    /// The best-reached first, unknown reach last, then in the order they were stored (spikes).
    ReachThenStored,
    /// The inbox's order: open ones first, urgent first among them, the longest waiting first;
    /// the rest newest first.
    Inbox,
    /// The praise wall's order: pinned first, the latest pinned first; then newest post first.
    Wall,
}

/// What the per-day counters say of one watch. They are never lowered (retention and
/// erasure leave them), so these are upper bounds, good for choosing a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WatchCounts {
    /// Mentions ever stored with the watch.
    pub matched: f64,
    /// Mentions ever stored.
    pub stored: f64,
    /// Ids within the ranges of the days that stored the watch.
    pub span: f64,
}

/// How a watch filter finds the watch's mentions; see [`MentionQuery::watch_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WatchPlan {
    /// Each mention's own watches column, in the order shown.
    Probe,
    /// The watch index in the id ranges of the days that stored the watch.
    Ranges,
    /// The whole watch index.
    Whole,
}

/// A range of star ratings from 1 to 5, written `4` or `1-2` (the inbox's and `webcare
/// mentions --stars`' filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StarRange {
    /// Fewest stars.
    pub lo: u8,
    /// Most stars.
    pub hi: u8,
}

impl FromStr for StarRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        match (lo.trim().parse::<u8>(), hi.trim().parse::<u8>()) {
            (Ok(lo), Ok(hi)) if 1 <= lo && lo <= hi && hi <= 5 => Ok(StarRange { lo, hi }),
            _ => Err(format!(
                "\"{s}\" is not a number of stars from 1 to 5, such as 4 or 1-2"
            )),
        }
    }
}

/// Which stored mentions to read, in what order and how many; every condition narrows the
/// list. Built with chained calls, run with [`MentionStore::mentions`]:
/// `MentionQuery::new().source("x").label(Label::Complaint).since(t).limit(20)`.
#[derive(Debug, Default, Clone)]
pub struct MentionQuery {
    ids: Option<Vec<i64>>,
    watch: Option<String>,
    source: Option<String>,
    source_or_kind: Option<String>,
    label: Option<Label>,
    lang: Option<String>,
    team: Option<String>,
    stars_min: Option<i64>,
    stars_max: Option<i64>,
    posted_from: Option<i64>,
    posted_before: Option<i64>,
    stored_from: Option<i64>,
    stored_before: Option<i64>,
    after_id: Option<i64>,
    duplicate_of: Option<i64>,
    alerted_since: Option<i64>,
    thread_of: Option<i64>,
    not_escalated_to: Option<String>,
    status: Option<InboxStatus>,
    unrouted: bool,
    no_spam: bool,
    no_backfill: bool,
    unstripped: bool,
    wall: bool,
    search: Option<String>,
    order: MentionOrder,
    limit: Option<usize>,
    offset: usize,
}

impl MentionQuery {
    /// Every stored mention, newest first.
    pub fn new() -> MentionQuery {
        MentionQuery::default()
    }

    /// Only the mentions with these ids.
    pub fn ids(mut self, ids: &[i64]) -> Self {
        self.ids = Some(ids.to_vec());
        self
    }

    /// Only mentions that matched this watch.
    pub fn watch(mut self, watch: impl Into<String>) -> Self {
        self.watch = Some(watch.into());
        self
    }

    /// Only mentions from this source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Only mentions from this source (its name) or platform (its kind).
    pub fn source_or_kind(mut self, name: impl Into<String>) -> Self {
        self.source_or_kind = Some(name.into());
        self
    }

    /// Only mentions with this label.
    pub fn label(mut self, label: Label) -> Self {
        self.label = Some(label);
        self
    }

    /// Only mentions in this language.
    pub fn lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    /// Only reviews whose star rating is in `stars`; posts and comments have none.
    pub fn stars(mut self, stars: StarRange) -> Self {
        self.stars_min = Some(i64::from(stars.lo));
        self.stars_max = Some(i64::from(stars.hi));
        self
    }

    /// Only mentions routed to this team.
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Only mentions posted at or after `t` (unix seconds).
    pub fn since(mut self, t: i64) -> Self {
        self.posted_from = Some(t);
        self
    }

    /// Only mentions posted before `t` (unix seconds).
    pub fn until(mut self, t: i64) -> Self {
        self.posted_before = Some(t);
        self
    }

    /// Only mentions posted in `[start, end)` (unix seconds).
    pub fn posted(self, start: i64, end: i64) -> Self {
        self.since(start).until(end)
    }

    /// Only mentions stored in `[start, end)` (unix seconds).
    pub fn stored(mut self, start: i64, end: i64) -> Self {
        self.stored_from = Some(start);
        self.stored_before = Some(end);
        self
    }

    /// Only mentions stored after the one with id `id`.
    pub fn after_id(mut self, id: i64) -> Self {
        self.after_id = Some(id);
        self
    }

    /// Only the mentions recorded as repeats of mention `id`.
    pub fn duplicates_of(mut self, id: i64) -> Self {
        self.duplicate_of = Some(id);
        self
    }

    /// Only mentions that raised alerts of their own (not as a repeat) queued at or after
    /// `t`: the ones a new mention may repeat.
    pub fn alerted_since(mut self, t: i64) -> Self {
        self.alerted_since = Some(t);
        self
    }

    /// Only the mentions in the same thread as mention `id` on its source: what it replies
    /// to, and the replies to it or to the same post; `id` itself is left out.
    pub fn thread_of(mut self, id: i64) -> Self {
        self.thread_of = Some(id);
        self
    }

    /// Leaves out mentions already escalated to `team` for a missed first-response target.
    pub fn not_escalated_to(mut self, team: impl Into<String>) -> Self {
        self.not_escalated_to = Some(team.into());
        self
    }

    /// Only what the praise wall shows: mentions the comms team pinned, and praise that is
    /// not spam from authors who did not opt out; never one whose text retention removed.
    pub fn wall(mut self) -> Self {
        self.wall = true;
        self.unstripped = true;
        self
    }

    /// Only mentions in this inbox view.
    pub fn status(mut self, status: InboxStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only open mentions: unanswered complaints and questions that are not spam.
    pub fn open(self) -> Self {
        self.status(InboxStatus::Open)
    }

    /// Only mentions not routed yet.
    pub fn unrouted(mut self) -> Self {
        self.unrouted = true;
        self
    }

    /// Leaves out mentions flagged spam.
    pub fn no_spam(mut self) -> Self {
        self.no_spam = true;
        self
    }

    /// Leaves out mentions read on a source's first poll.
    pub fn no_backfill(mut self) -> Self {
        self.no_backfill = true;
        self
    }

    /// Leaves out mentions whose text retention removed.
    pub fn unstripped(mut self) -> Self {
        self.unstripped = true;
        self
    }

    /// Only mentions whose title or text match this full-text query (words are ANDed and
    /// matched as written; FTS5 syntax passes through).
    pub fn search(mut self, query: impl Into<String>) -> Self {
        self.search = Some(query.into());
        self
    }

    /// The order to return them in.
    pub fn order(mut self, order: MentionOrder) -> Self {
        self.order = order;
        self
    }

    /// At most this many (at least one).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.max(1));
        self
    }

    /// Skips this many first (paging).
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// How a watch filter should find the watch's mentions, given what the daily counters
    /// say of the watch. A mention's watches are a column of its row, also kept beside its
    /// id in a narrow index (`mentions_watch_ids`), so there are three ways, each priced in
    /// index entries read: test the column of each mention in the order shown (about six
    /// entries' worth per mention, and it stops once a page is full, after about
    /// `wanted / share` mentions); read the index in the id ranges of the days that counted
    /// the watch (`span` ids, a few for a rare watch); or read the whole index (`stored`).
    pub(super) fn watch_plan(&self, counts: WatchCounts) -> WatchPlan {
        let WatchCounts {
            matched,
            stored,
            span,
        } = counts;
        // Without counters (a database filled by hand) nothing can be said of the ranges,
        // and probing is exact.
        if stored <= 0.0 {
            return WatchPlan::Probe;
        }
        let share = matched / stored;
        let probed = match self.limit {
            Some(limit) if share > 0.0 => ((limit + self.offset) as f64 / share).min(stored),
            _ => stored,
        };
        let probe = probed * 6.0;
        if probe <= span.min(stored) {
            WatchPlan::Probe
        } else if span <= stored {
            WatchPlan::Ranges
        } else {
            WatchPlan::Whole
        }
    }

    /// The statement and its values, numbered in order; a watch filter read as `plan` says.
    pub(super) fn sql(&self, plan: WatchPlan) -> (String, Vec<Box<dyn rusqlite::ToSql>>) {
        let mut sql = format!("SELECT {COLUMNS} FROM mentions m WHERE 1 = 1");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: Box<dyn rusqlite::ToSql>| {
            args.push(v);
            sql.push_str(&clause.replace("?N", &format!("?{}", args.len())));
        };
        if let Some(ids) = &self.ids {
            // One JSON list instead of one variable per id: any number of ids fits.
            let list = serde_json::to_string(ids).unwrap_or_default();
            arg(
                &mut sql,
                " AND m.id IN (SELECT value FROM json_each(?N))",
                Box::new(list),
            );
        }
        if let Some(w) = &self.watch {
            arg(&mut sql, &watch_clause(plan), Box::new(w.clone()));
        }
        if let Some(s) = &self.source {
            arg(&mut sql, " AND m.source = ?N", Box::new(s.clone()));
        }
        if let Some(s) = &self.source_or_kind {
            arg(
                &mut sql,
                " AND (m.source = ?N OR m.kind = ?N)",
                Box::new(s.clone()),
            );
        }
        if let Some(l) = self.label {
            arg(&mut sql, " AND m.label = ?N", Box::new(l.as_str()));
        }
        if let Some(l) = &self.lang {
            arg(&mut sql, " AND m.lang = ?N", Box::new(l.clone()));
        }
        if let Some(t) = &self.team {
            arg(
                &mut sql,
                " AND m.route IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(m.route) WHERE json_extract(value, '$.team') = ?N)",
                Box::new(t.clone()),
            );
        }
        if let Some(t) = &self.not_escalated_to {
            arg(
                &mut sql,
                " AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.mention_id = m.id AND e.team = ?N)",
                Box::new(t.clone()),
            );
        }
        for (value, clause) in [
            (self.posted_from, " AND m.created_at >= ?N"),
            (self.posted_before, " AND m.created_at < ?N"),
            (self.stored_from, " AND m.fetched_at >= ?N"),
            (self.stored_before, " AND m.fetched_at < ?N"),
            (self.after_id, " AND m.id > ?N"),
            (self.stars_min, " AND m.rating >= ?N"),
            (self.stars_max, " AND m.rating <= ?N"),
            (self.duplicate_of, " AND m.duplicate_of = ?N"),
            (
                self.alerted_since,
                " AND m.id IN (SELECT mention_id FROM outbox WHERE created_at >= ?N AND kind = 'alert')
                  AND m.duplicate_of IS NULL",
            ),
            (
                self.thread_of,
                " AND m.id IN (SELECT t.id FROM mentions x JOIN mentions t
                    ON t.source = x.source AND t.id != x.id AND (
                        t.external_id = x.in_reply_to OR t.in_reply_to = x.external_id
                        OR (x.in_reply_to IS NOT NULL AND t.in_reply_to = x.in_reply_to))
                    WHERE x.id = ?N)",
            ),
        ] {
            if let Some(v) = value {
                arg(&mut sql, clause, Box::new(v));
            }
        }
        match self.status {
            Some(InboxStatus::Open) => sql.push_str(&format!(" AND {OPEN}")),
            Some(InboxStatus::Answered) => sql.push_str(" AND m.answered_at IS NOT NULL"),
            Some(InboxStatus::All) | None => {}
        }
        for (on, clause) in [
            (self.unrouted, " AND m.routed_at IS NULL"),
            (self.no_spam, " AND coalesce(m.spam, 0) = 0"),
            (self.no_backfill, " AND m.backfill = 0"),
            (self.unstripped, " AND m.stripped = 0"),
            (self.wall, WALL),
        ] {
            if on {
                sql.push_str(clause);
            }
        }
        if let Some(q) = &self.search {
            arg(
                &mut sql,
                " AND m.id IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?N)",
                Box::new(fts_query(q)),
            );
        }
        sql.push_str(&self.order_by());
        if self.limit.is_some() || self.offset > 0 {
            let limit = self.limit.map_or(-1, |l| l as i64);
            arg(&mut sql, " LIMIT ?N", Box::new(limit));
            arg(&mut sql, " OFFSET ?N", Box::new(self.offset as i64));
        }
        (sql, args)
    }

    fn order_by(&self) -> String {
        match self.order {
            MentionOrder::Newest => " ORDER BY m.created_at DESC, m.id DESC".into(),
            MentionOrder::Oldest => " ORDER BY m.created_at, m.id".into(),
            MentionOrder::Stored => " ORDER BY m.id".into(),
            MentionOrder::Reach => {
                " ORDER BY m.author_reach IS NULL, m.author_reach DESC, m.created_at, m.id".into()
            }
            MentionOrder::ReachThenStored => {
                " ORDER BY m.author_reach IS NULL, m.author_reach DESC, m.id".into()
            }
            // Exactly the terms of the `mentions_open` index, so a page is read from the index
            // in order instead of sorting every open mention.
            MentionOrder::Inbox if self.status == Some(InboxStatus::Open) => {
                " ORDER BY (m.urgency = 'urgent') DESC, m.created_at, m.id".into()
            }
            MentionOrder::Wall => {
                " ORDER BY m.pinned_at IS NOT NULL DESC, m.pinned_at DESC, m.created_at DESC, m.id DESC"
                    .into()
            }
            MentionOrder::Inbox => format!(
                " ORDER BY ({OPEN}) DESC, (m.urgency = 'urgent' AND {OPEN}) DESC,
                    CASE WHEN {OPEN} THEN m.created_at ELSE -m.created_at END, m.id DESC"
            ),
        }
    }
}

/// Words are ANDed and matched as written; FTS5 syntax (quotes, AND/OR/NOT, `*`) passes through.
fn fts_query(q: &str) -> String {
    let advanced = q.contains('"')
        || q.contains('*')
        || q.split_whitespace()
            .any(|w| matches!(w, "AND" | "OR" | "NOT"));
    if advanced {
        return q.to_string();
    }
    q.split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stored mentions: read through a [`MentionQuery`], corrected by a person, marked answered.
pub trait MentionStore {
    /// The stored mentions `q` asks for.
    fn mentions(&self, q: &MentionQuery) -> Result<Vec<StoredMention>, StoreError>;

    /// One stored mention by id, whatever happened to it.
    fn mention(&self, id: i64) -> Result<Option<StoredMention>, StoreError>;

    /// Number of stored mentions from `source`.
    fn count_mentions(&self, source: Option<&str>) -> Result<i64, StoreError>;

    /// Looks up the id of a stored mention by its platform id.
    fn mention_id(&self, source: &str, external_id: &str) -> Result<Option<i64>, StoreError>;

    /// Sets a staff label on mention `id`, returning the label it had. The correction is kept
    /// in `label_corrections` with who made it.
    fn correct_label(
        &mut self,
        id: i64,
        label: &str,
        by: &str,
    ) -> Result<Option<String>, StoreError>;

    /// The latest staff label of every corrected mention as `(lang, label, text)`, oldest first.
    fn corrections(&self) -> Result<Vec<(String, String, String)>, StoreError>;

    /// Up to `limit` mentions in `lang` the classifier labelled that staff left as they were,
    /// as `(lang, label, text)`: among the newest `20 × limit + 1000` stored, stored before the
    /// newest correction (so staff could have seen them), not spam, not a copy, not erased.
    /// Those staff acted on (answered, claimed, pinned) come first, then the newest. Empty
    /// when nothing was corrected.
    fn confirmed(
        &self,
        lang: &str,
        limit: usize,
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// Marks mention `id` answered by `by` at `now`, or clears the mark (`answered = false`).
    fn mark_answered(&self, id: i64, answered: bool, by: &str, now: i64) -> Result<(), StoreError>;
}

impl MentionStore for Store {
    fn mentions(&self, q: &MentionQuery) -> Result<Vec<StoredMention>, StoreError> {
        let plan = match &q.watch {
            Some(watch) => q.watch_plan(self.watch_counts(watch)?),
            None => WatchPlan::Probe,
        };
        let (sql, args) = q.sql(plan);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                StoredMention::from_row,
            )
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.search_error(q.search.as_deref(), source))
    }

    fn mention(&self, id: i64) -> Result<Option<StoredMention>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM mentions m WHERE m.id = ?1"),
                [id],
                StoredMention::from_row,
            )
            .optional()
            .map_err(self.err())
    }

    fn count_mentions(&self, source: Option<&str>) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM mentions WHERE ?1 IS NULL OR source = ?1",
                [source],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn mention_id(&self, source: &str, external_id: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM mentions WHERE source = ?1 AND external_id = ?2",
                params![source, external_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    fn correct_label(
        &mut self,
        id: i64,
        label: &str,
        by: &str,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let previous: Option<Option<String>> = tx
            .query_row("SELECT label FROM mentions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e)?;
        let Some(previous) = previous else {
            return Err(StoreError::NoSuchMention(id));
        };
        tx.execute(
            "UPDATE mentions SET label = ?2, label_source = 'staff' WHERE id = ?1",
            params![id, label],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO label_corrections (mention_id, label, previous_label, corrected_by, corrected_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, label, previous, by, Utc::now().timestamp()],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(previous)
    }

    fn corrections(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.query_all(
            "SELECT coalesce(m.lang, json_extract(m.reasons, '$.lang'), ''), m.label, m.text
                 FROM mentions m WHERE m.label_source = 'staff' AND m.stripped = 0 ORDER BY m.id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn confirmed(
        &self,
        lang: &str,
        limit: usize,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        // A window of the newest ids, read through the primary key, keeps this a short read
        // on a database of millions of mentions (a whole scan took a second at a million).
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_all(
            "SELECT ?3, m.label, m.text
                 FROM mentions m
                 WHERE m.id > (SELECT max(id) FROM mentions) - ?2
                   AND coalesce(m.lang, json_extract(m.reasons, '$.lang'), '') = ?3
                   AND m.label_source = 'classifier' AND m.label IS NOT NULL
                   AND m.stripped = 0 AND m.duplicate_of IS NULL AND coalesce(m.spam, 0) = 0
                   AND m.fetched_at <= (SELECT max(corrected_at) FROM label_corrections)
                 ORDER BY (m.answered_at IS NOT NULL OR m.claimed_at IS NOT NULL
                           OR m.pinned_at IS NOT NULL) DESC, m.id DESC
                 LIMIT ?1",
            params![limit, limit.saturating_mul(20).saturating_add(1000), lang],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn mark_answered(&self, id: i64, answered: bool, by: &str, now: i64) -> Result<(), StoreError> {
        self.update_mention(
            id,
            "UPDATE mentions SET answered_at = CASE WHEN ?2 THEN ?4 END,
                answered_by = CASE WHEN ?2 THEN ?3 END WHERE id = ?1",
            params![id, answered, by, now],
        )
    }
}

impl Store {
    /// What the per-day counters say of `watch`: see [`WatchCounts`].
    pub(super) fn watch_counts(&self, watch: &str) -> Result<WatchCounts, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT coalesce(sum(stored) FILTER (WHERE scope = 'watch' AND name = ?1), 0),
                        coalesce(sum(stored) FILTER (WHERE scope = 'source'), 0),
                        coalesce(sum(last_id - first_id + 1)
                                 FILTER (WHERE scope = 'watch' AND name = ?1), 0)
                 FROM daily_counts",
            )
            .and_then(|mut st| {
                st.query_row([watch], |r| {
                    Ok(WatchCounts {
                        matched: r.get(0)?,
                        stored: r.get(1)?,
                        span: r.get(2)?,
                    })
                })
            })
            .map_err(self.err())
    }

    /// A failed read of a query built around a full-text `query`: the search's fault when SQLite
    /// names the search, the database's otherwise.
    fn search_error(&self, query: Option<&str>, source: rusqlite::Error) -> StoreError {
        match (query, source) {
            // The rest of the statement is fixed, so a plain SQL error with a search in it is
            // the search's ("unterminated string", "fts5: syntax error").
            (Some(query), rusqlite::Error::SqliteFailure(e, Some(msg)))
                if msg.contains("fts5") || e.extended_code == 1 =>
            {
                StoreError::BadQuery {
                    query: query.to_string(),
                    message: msg,
                }
            }
            (_, other) => StoreError::Database {
                path: self.path.display().to_string(),
                source: super::DatabaseError(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    /// A mention the classifier labelled `label`, stored `ago` seconds before now.
    fn labelled(s: &Store, id: i64, label: &str, ago: i64) {
        let at = Utc::now().timestamp() - ago;
        s.conn
            .execute(
                "INSERT INTO mentions (id, source, kind, external_id, lang, text, created_at,
                     fetched_at, watches, label, label_source, spam)
                 VALUES (?1, 'forum', 'rss', ?1, 'en', 'post ' || ?1, ?2, ?2, '[]', ?3,
                     'classifier', 0)",
                params![id, at, label],
            )
            .unwrap();
    }

    #[test]
    fn confirmed_mentions_are_those_staff_could_see_and_left_acted_on_ones_first() {
        let (_dir, mut s) = temp_store();
        assert!(
            s.confirmed("en", 10).unwrap().is_empty(),
            "nothing corrected"
        );
        for id in 1..=6 {
            labelled(&s, id, "neutral", 600 - id);
        }
        s.correct_label(1, "complaint", "sanne").unwrap();
        s.mark_answered(2, true, "sanne", Utc::now().timestamp())
            .unwrap();
        let exec = |sql: &str| s.conn.execute(sql, []).unwrap();
        exec("UPDATE mentions SET spam = 1 WHERE id = 3");
        exec("UPDATE mentions SET duplicate_of = 4 WHERE id = 5");
        // Stored after the newest correction: staff have not had it in front of them yet.
        labelled(&s, 7, "praise", -600);
        let texts = |v: Vec<(String, String, String)>| -> Vec<String> {
            v.into_iter().map(|(_, _, t)| t).collect()
        };
        assert_eq!(
            texts(s.confirmed("en", 10).unwrap()),
            ["post 2", "post 6", "post 4"],
            "the answered one first, then the newest; not the corrected one, spam or a copy"
        );
        assert_eq!(texts(s.confirmed("en", 2).unwrap()), ["post 2", "post 6"]);
        // A language staff corrected nothing in is not asked for; one asked for gets its own.
        exec("UPDATE mentions SET lang = 'da' WHERE id = 6");
        assert_eq!(texts(s.confirmed("da", 10).unwrap()), ["post 6"]);
        exec("UPDATE mentions SET lang = 'en' WHERE id = 6");

        // Only the newest 20 × limit + 1000 ids are looked at.
        labelled(&s, 2000, "question", 500);
        assert_eq!(texts(s.confirmed("en", 10).unwrap()), ["post 2000"]);
        assert_eq!(s.confirmed("en", 50).unwrap().len(), 4);
    }
}
