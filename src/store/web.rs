//! The web inbox's SQL: the inbox list with its filters, one mention with everything around it
//! (thread, alerts, history), the actions staff take from the browser and the history they
//! leave, the praise wall, and the key that signs sessions and one-click links.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, fts_query};

/// Which mentions the inbox lists; every field narrows the list.
#[derive(Debug, Default, Clone)]
pub struct InboxFilter {
    /// `open` (unanswered complaints and questions, not spam: the default), `answered` or `all`.
    pub status: InboxStatus,
    /// Only mentions that matched this watch.
    pub watch: Option<String>,
    /// Only mentions from this source (its name) or platform (its kind).
    pub source: Option<String>,
    /// Only mentions with this label.
    pub label: Option<String>,
    /// Only mentions in this language.
    pub lang: Option<String>,
    /// Only mentions routed to this team.
    pub team: Option<String>,
    /// Only mentions posted at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only mentions posted before this time (unix seconds).
    pub until: Option<i64>,
    /// Full-text query, as `webcare mentions --query` takes it.
    pub query: Option<String>,
    /// Rows to skip (paging).
    pub offset: usize,
    /// Rows per page.
    pub limit: usize,
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

/// One inbox row.
#[derive(Debug, Clone, Serialize)]
pub struct InboxRow {
    /// Mention id.
    pub id: i64,
    /// Source name.
    pub source: String,
    /// Source kind (the platform).
    pub kind: String,
    /// Label, once classified.
    pub label: Option<String>,
    /// `staff` when corrected.
    pub label_source: Option<String>,
    /// `urgent` or `normal`.
    pub urgency: Option<String>,
    /// Spam flag.
    pub spam: bool,
    /// Posted (unix seconds).
    pub created_at: i64,
    /// Author handle.
    pub author_handle: Option<String>,
    /// Author display name.
    pub author_name: Option<String>,
    /// Title, if any.
    pub title: Option<String>,
    /// Text (cut to the first few hundred characters).
    pub text: String,
    /// Language.
    pub lang: Option<String>,
    /// Who claimed it.
    pub claimed_by: Option<String>,
    /// When it was marked answered.
    pub answered_at: Option<i64>,
    /// Who marked it answered.
    pub answered_by: Option<String>,
    /// The teams it was routed to.
    pub teams: Vec<String>,
    /// When webcare found it (unix seconds); first-response targets count from here.
    pub fetched_at: i64,
}

/// Everything the mention page shows beyond the mention itself.
#[derive(Debug, Clone)]
pub struct MentionExtras {
    /// Who claimed it and when.
    pub claimed: Option<(String, i64)>,
    /// Who marked it answered and when.
    pub answered: Option<(String, i64)>,
    /// Pinned to the praise wall since.
    pub pinned_at: Option<i64>,
    /// The routing decision as stored (JSON list of matched rules).
    pub route: Option<String>,
    /// The author is on the do-not-contact list.
    pub opted_out: bool,
}

/// An alert a mention caused.
#[derive(Debug, Clone)]
pub struct MentionAlert {
    /// Team.
    pub team: String,
    /// Rule.
    pub rule: String,
    /// Recipient.
    pub recipient: String,
    /// pending, sent, dead or held.
    pub state: String,
    /// email or webhook.
    pub channel: String,
    /// Queued (unix seconds).
    pub created_at: i64,
    /// Sent (unix seconds).
    pub sent_at: Option<i64>,
}

/// One entry of a mention's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// What was done: claim, unclaim, answered, unanswered, label, optout, spam, notspam, pin,
    /// unpin.
    pub action: String,
    /// What it changed, e.g. `complaint -> praise`.
    pub detail: Option<String>,
    /// Who did it.
    pub by: String,
    /// When (unix seconds).
    pub at: i64,
}

/// A card on the praise wall.
#[derive(Debug, Clone)]
pub struct WallCard {
    /// Mention id.
    pub id: i64,
    /// Source kind.
    pub kind: String,
    /// Source name.
    pub source: String,
    /// Author handle.
    pub author_handle: Option<String>,
    /// Author display name.
    pub author_name: Option<String>,
    /// Title, if any.
    pub title: Option<String>,
    /// Text.
    pub text: String,
    /// Posted (unix seconds).
    pub created_at: i64,
    /// Pinned by the comms team.
    pub pinned: bool,
}

/// Characters of text an inbox row carries; the mention page shows the rest.
const ROW_TEXT: i64 = 400;

const OPEN: &str =
    "m.answered_at IS NULL AND m.label IN ('complaint', 'question') AND coalesce(m.spam, 0) = 0";

impl Store {
    /// The key named `name` that signs sessions and links, created from `fresh` the first time
    /// it is asked for and the same ever after (also across restarts and processes).
    pub fn web_key(&self, name: &str, fresh: &[u8], now: i64) -> Result<Vec<u8>, StoreError> {
        self.conn
            .execute(
                "INSERT INTO web_keys (name, key, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![name, fresh, now],
            )
            .map_err(self.err())?;
        self.conn
            .query_row("SELECT key FROM web_keys WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    /// One page of the inbox: open complaints and questions first, urgent before the rest,
    /// the longest waiting first; then everything else, newest first. Returns one row more
    /// than `limit` when there is a next page.
    pub fn inbox(&self, f: &InboxFilter) -> Result<Vec<InboxRow>, StoreError> {
        let mut sql = format!(
            "SELECT {} FROM mentions m WHERE m.stripped = 0",
            inbox_columns("m")
        );
        let mut args = inbox_filters(f, &mut sql);
        sql.push_str(&inbox_order(f));
        args.push(Box::new((f.limit.max(1) + 1) as i64));
        args.push(Box::new(f.offset as i64));
        sql.push_str(&format!(
            " LIMIT ?{} OFFSET ?{}",
            args.len() - 1,
            args.len()
        ));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                inbox_row,
            )
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| self.search_error(f.query.as_deref(), source))
    }

    /// What the mention page shows besides the stored mention: claim, answer, pin, route and
    /// whether its author is on the do-not-contact list. `None` when no mention has this id.
    pub fn mention_extras(&self, id: i64) -> Result<Option<MentionExtras>, StoreError> {
        self.conn
            .query_row(
                "SELECT m.claimed_by, m.claimed_at, m.answered_by, m.answered_at, m.pinned_at, m.route,
                        EXISTS (SELECT 1 FROM optouts o WHERE o.platform = lower(m.kind)
                                AND o.handle = lower(ltrim(coalesce(m.author_handle, ''), '@')))
                 FROM mentions m WHERE m.id = ?1",
                [id],
                |r| {
                    let claimed_by: Option<String> = r.get(0)?;
                    let claimed_at: Option<i64> = r.get(1)?;
                    let answered_by: Option<String> = r.get(2)?;
                    let answered_at: Option<i64> = r.get(3)?;
                    Ok(MentionExtras {
                        claimed: claimed_by.zip(claimed_at),
                        answered: answered_at
                            .map(|at| (answered_by.unwrap_or_else(|| "staff".into()), at)),
                        pinned_at: r.get(4)?,
                        route: r.get(5)?,
                        opted_out: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// The mentions in the same thread as `id` on its source: what it replies to, and the
    /// replies to it or to the same post, oldest first, at most `limit`.
    pub fn thread_of(&self, id: i64, limit: usize) -> Result<Vec<InboxRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {}
                 FROM mentions m JOIN mentions t ON t.source = m.source AND t.id != m.id AND (
                        t.external_id = m.in_reply_to OR t.in_reply_to = m.external_id
                        OR (m.in_reply_to IS NOT NULL AND t.in_reply_to = m.in_reply_to))
                 WHERE m.id = ?1 ORDER BY t.created_at, t.id LIMIT ?2",
                inbox_columns("t")
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![id, limit as i64], inbox_row)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The alerts mention `id` caused, oldest first.
    pub fn alerts_of(&self, id: i64) -> Result<Vec<MentionAlert>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT team, rule, recipient, state, channel, created_at, sent_at FROM outbox
                 WHERE mention_id = ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([id], |r| {
                Ok(MentionAlert {
                    team: r.get(0)?,
                    rule: r.get(1)?,
                    recipient: r.get(2)?,
                    state: r.get(3)?,
                    channel: r.get(4)?,
                    created_at: r.get(5)?,
                    sent_at: r.get(6)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// What staff did to mention `id`, oldest first.
    pub fn history_of(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT action, detail, done_by, done_at FROM mention_actions
                 WHERE mention_id = ?1 ORDER BY done_at, id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([id], |r| {
                Ok(HistoryEntry {
                    action: r.get(0)?,
                    detail: r.get(1)?,
                    by: r.get(2)?,
                    at: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Appends one entry to mention `id`'s history.
    pub fn record_action(
        &self,
        id: i64,
        action: &str,
        detail: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO mention_actions (mention_id, action, detail, done_by, done_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, action, detail, by, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Claims mention `id` for `by`, or releases the claim (`by` = `None`).
    pub fn set_claim(&self, id: i64, by: Option<&str>, now: i64) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE mentions SET claimed_by = ?2, claimed_at = CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END
                 WHERE id = ?1",
                params![id, by, now],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(StoreError::NoSuchMention(id));
        }
        Ok(())
    }

    /// Marks mention `id` spam by a person's judgement (or not spam), which takes it out of
    /// (or puts it back in) the open inbox.
    pub fn set_spam(&self, id: i64, spam: bool) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE mentions SET spam = ?2 WHERE id = ?1",
                params![id, spam],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(StoreError::NoSuchMention(id));
        }
        Ok(())
    }

    /// Pins mention `id` to the praise wall at `now`, or unpins it.
    pub fn set_pinned(&self, id: i64, pinned: bool, now: i64) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE mentions SET pinned_at = CASE WHEN ?2 THEN ?3 END WHERE id = ?1",
                params![id, pinned, now],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(StoreError::NoSuchMention(id));
        }
        Ok(())
    }

    /// The praise wall: pinned mentions first (latest pin first), then the latest praise that
    /// is not spam and whose author is not on the do-not-contact list, at most `limit`.
    pub fn wall(&self, limit: usize) -> Result<Vec<WallCard>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT m.id, m.kind, m.source, m.author_handle, m.author_name, m.title, m.text,
                        m.created_at, m.pinned_at IS NOT NULL
                 FROM mentions m
                 WHERE m.stripped = 0 AND (m.pinned_at IS NOT NULL OR (
                     m.label = 'praise' AND coalesce(m.spam, 0) = 0
                     AND NOT EXISTS (SELECT 1 FROM optouts o WHERE o.platform = lower(m.kind)
                         AND o.handle = lower(ltrim(coalesce(m.author_handle, ''), '@')))))
                 ORDER BY m.pinned_at IS NOT NULL DESC, m.pinned_at DESC, m.created_at DESC, m.id DESC
                 LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([limit as i64], |r| {
                Ok(WallCard {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    source: r.get(2)?,
                    author_handle: r.get(3)?,
                    author_name: r.get(4)?,
                    title: r.get(5)?,
                    text: r.get(6)?,
                    created_at: r.get(7)?,
                    pinned: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The languages the inbox's language menu offers (those of stored mentions).
    pub fn inbox_languages(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT lang FROM mention_totals WHERE lang != '' AND n > 0 ORDER BY 1",
            )
            .map_err(self.err())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }
}

/// Appends the conditions of `f` to the inbox query `sql` and returns their values, numbered
/// in order.
fn inbox_filters(f: &InboxFilter, sql: &mut String) -> Vec<Box<dyn rusqlite::ToSql>> {
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Box<dyn rusqlite::ToSql>| {
        args.push(v);
        sql.push_str(&clause.replace("?N", &format!("?{}", args.len())));
    };
    match f.status {
        InboxStatus::Open => sql.push_str(&format!(" AND {OPEN}")),
        InboxStatus::Answered => sql.push_str(" AND m.answered_at IS NOT NULL"),
        InboxStatus::All => {}
    }
    if let Some(w) = &f.watch {
        arg(
            sql,
            " AND m.id IN (SELECT mention_id FROM mention_watches WHERE watch = ?N)",
            Box::new(w.clone()),
        );
    }
    if let Some(s) = &f.source {
        arg(
            sql,
            " AND (m.source = ?N OR m.kind = ?N)",
            Box::new(s.clone()),
        );
    }
    if let Some(l) = &f.label {
        arg(sql, " AND m.label = ?N", Box::new(l.clone()));
    }
    if let Some(l) = &f.lang {
        arg(sql, " AND m.lang = ?N", Box::new(l.clone()));
    }
    if let Some(t) = &f.team {
        arg(
            sql,
            " AND m.route IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(m.route) WHERE json_extract(value, '$.team') = ?N)",
            Box::new(t.clone()),
        );
    }
    if let Some(t) = f.since {
        arg(sql, " AND m.created_at >= ?N", Box::new(t));
    }
    if let Some(t) = f.until {
        arg(sql, " AND m.created_at < ?N", Box::new(t));
    }
    if let Some(q) = &f.query {
        arg(
            sql,
            " AND m.id IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?N)",
            Box::new(fts_query(q)),
        );
    }
    args
}

/// The inbox's ORDER BY for `f`'s status.
fn inbox_order(f: &InboxFilter) -> String {
    if f.status == InboxStatus::Open {
        // Exactly the terms of the `mentions_open` index, so a page is read from the index
        // in order instead of sorting every open mention.
        String::from(" ORDER BY (m.urgency = 'urgent') DESC, m.created_at, m.id")
    } else {
        format!(
            " ORDER BY ({OPEN}) DESC, (m.urgency = 'urgent' AND {OPEN}) DESC,
                CASE WHEN {OPEN} THEN m.created_at ELSE -m.created_at END, m.id DESC"
        )
    }
}

/// The columns [`inbox_row`] reads, of the mentions table under `alias`.
fn inbox_columns(alias: &str) -> String {
    // Named with AS: SQLite leaves the name of an unaliased column unspecified.
    [
        "id",
        "source",
        "kind",
        "label",
        "label_source",
        "urgency",
        "author_handle",
        "author_name",
        "title",
        "lang",
        "claimed_by",
        "answered_at",
        "answered_by",
        "route",
        "created_at",
        "fetched_at",
    ]
    .iter()
    .map(|c| format!("{alias}.{c} AS {c}"))
    .chain([
        format!("coalesce({alias}.spam, 0) AS spam"),
        format!("substr({alias}.text, 1, {ROW_TEXT}) AS text"),
    ])
    .collect::<Vec<_>>()
    .join(", ")
}

/// One inbox row, read by column name (see [`inbox_columns`]).
fn inbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxRow> {
    let route: Option<String> = r.get("route")?;
    Ok(InboxRow {
        id: r.get("id")?,
        source: r.get("source")?,
        kind: r.get("kind")?,
        label: r.get("label")?,
        label_source: r.get("label_source")?,
        urgency: r.get("urgency")?,
        spam: r.get("spam")?,
        created_at: r.get("created_at")?,
        author_handle: r.get("author_handle")?,
        author_name: r.get("author_name")?,
        title: r.get("title")?,
        text: r.get("text")?,
        lang: r.get("lang")?,
        claimed_by: r.get("claimed_by")?,
        answered_at: r.get("answered_at")?,
        answered_by: r.get("answered_by")?,
        teams: route_teams(route.as_deref()),
        fetched_at: r.get("fetched_at")?,
    })
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

impl Store {
    /// One stored mention by id, as `webcare mentions` shows it.
    pub fn mention_by_id(&self, id: i64) -> Result<Option<super::StoredMention>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM mentions m WHERE m.id = ?1",
                    super::STORED_MENTION_COLUMNS
                ),
                [id],
                super::StoredMention::from_row,
            )
            .optional()
            .map_err(self.err())
    }
}

/// An open mention past its team's first-response target.
#[derive(Debug, Clone)]
pub struct OverdueMention {
    /// Mention id.
    pub id: i64,
    /// Source name.
    pub source: String,
    /// Label.
    pub label: String,
    /// Author handle or name.
    pub author: Option<String>,
    /// Title, if any.
    pub title: Option<String>,
    /// Text.
    pub text: String,
    /// When webcare found it (unix seconds): the clock starts here.
    pub fetched_at: i64,
}

/// One escalation mail for the outbox.
#[derive(Debug, Clone)]
pub struct EscalationMail {
    /// Recipient address.
    pub recipient: String,
    /// Message-ID, unique per mention, team and recipient.
    pub message_id: String,
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

impl Store {
    /// Open complaints and questions routed to `team`, found between `since` and `due_before`
    /// (so past the target), not answered, not spam and not escalated yet; oldest first.
    pub fn overdue_mentions(
        &self,
        team: &str,
        since: i64,
        due_before: i64,
        limit: usize,
    ) -> Result<Vec<OverdueMention>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT m.id, m.source, m.label, coalesce(m.author_handle, m.author_name), m.title,
                        m.text, m.fetched_at
                 FROM mentions m
                 WHERE m.fetched_at >= ?2 AND m.fetched_at < ?3 AND m.answered_at IS NULL
                   AND m.label IN ('complaint', 'question') AND coalesce(m.spam, 0) = 0
                   AND m.route IS NOT NULL
                   AND EXISTS (SELECT 1 FROM json_each(m.route) WHERE json_extract(value, '$.team') = ?1)
                   AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.mention_id = m.id AND e.team = ?1)
                 ORDER BY m.fetched_at, m.id LIMIT ?4",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![team, since, due_before, limit as i64], |r| {
                Ok(OverdueMention {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    label: r.get(2)?,
                    author: r.get(3)?,
                    title: r.get(4)?,
                    text: r.get(5)?,
                    fetched_at: r.get(6)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Records that mention `id` missed `team`'s target and queues its escalation mails, in
    /// one transaction. False (and nothing queued) when it was escalated before: each mention
    /// is escalated once per team, across restarts.
    pub fn record_escalation(
        &mut self,
        id: i64,
        team: &str,
        due_at: i64,
        mails: &[EscalationMail],
        now: i64,
    ) -> Result<bool, StoreError> {
        let path = self.path.display().to_string();
        let e = |source| StoreError::Database {
            path: path.clone(),
            source: super::DatabaseError(source),
        };
        let tx = self.conn.transaction().map_err(e)?;
        let new = tx
            .execute(
                "INSERT INTO escalations (mention_id, team, due_at, escalated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![id, team, due_at, now],
            )
            .map_err(e)?;
        if new == 0 {
            return Ok(false);
        }
        for m in mails {
            tx.execute(
                "INSERT INTO outbox (mention_id, team, rule, recipient, message_id, subject, body_text,
                    body_html, urgent, state, created_at, not_before, next_attempt_at, kind)
                 VALUES (?1, ?2, 'sla', ?3, ?4, ?5, ?6, ?7, 1, 'pending', ?8, ?8, ?8, 'escalation')
                 ON CONFLICT (message_id) DO NOTHING",
                params![id, team, m.recipient, m.message_id, m.subject, m.text, m.html, now],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(true)
    }

    /// How many of `team`'s complaints and questions found between `start` and `end` met a
    /// first-response target of `sla` seconds, and how many missed it (answered late, or still
    /// open past it at `now`): `(met, missed)`. Those still open within the target count in
    /// neither.
    pub fn sla_outcomes(
        &self,
        team: &str,
        sla: i64,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<(i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE m.answered_at IS NOT NULL AND m.answered_at <= m.fetched_at + ?2),
                        count(*) FILTER (WHERE (m.answered_at IS NOT NULL AND m.answered_at > m.fetched_at + ?2)
                                            OR (m.answered_at IS NULL AND m.fetched_at + ?2 < ?5))
                 FROM mentions m
                 WHERE m.fetched_at >= ?3 AND m.fetched_at < ?4
                   AND m.label IN ('complaint', 'question') AND coalesce(m.spam, 0) = 0
                   AND m.route IS NOT NULL
                   AND EXISTS (SELECT 1 FROM json_each(m.route) WHERE json_extract(value, '$.team') = ?1)",
                params![team, sla, start, end, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = r#"[{"rule":"r","action":"alert","team":"webcare","why":[]}]"#;

    /// A store with mentions `(label, urgency, created, answered, handle)`, routed to webcare.
    fn store(rows: &[(&str, &str, i64, Option<i64>, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        for (i, (label, urgency, created, answered, handle)) in rows.iter().enumerate() {
            store
                .connection()
                .execute(
                    "INSERT INTO mentions (source, kind, external_id, author_handle, text, created_at,
                        fetched_at, watches, label, urgency, answered_at, route)
                     VALUES ('forum', 'rss', ?1, ?2, 'Fjordlink', ?3, ?3, 'W', ?4, ?5, ?6, ?7)",
                    params![i.to_string(), handle, created, label, urgency, answered, ROUTE],
                )
                .unwrap();
        }
        (dir, store)
    }

    fn ids(rows: &[InboxRow]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn the_open_inbox_puts_urgent_first_then_the_longest_waiting() {
        let (_dir, s) = store(&[
            ("complaint", "normal", 300, None, "a"),
            ("question", "urgent", 400, None, "b"),
            ("complaint", "normal", 100, None, "c"),
            ("praise", "normal", 50, None, "d"),
            ("complaint", "urgent", 200, Some(500), "e"),
        ]);
        let f = InboxFilter {
            limit: 50,
            ..InboxFilter::default()
        };
        assert_eq!(ids(&s.inbox(&f).unwrap()), [2, 3, 1]);
        let all = InboxFilter {
            status: InboxStatus::All,
            ..f.clone()
        };
        assert_eq!(ids(&s.inbox(&all).unwrap()), [2, 3, 1, 5, 4]);
        let answered = InboxFilter {
            status: InboxStatus::Answered,
            ..f.clone()
        };
        assert_eq!(ids(&s.inbox(&answered).unwrap()), [5]);
        let team = InboxFilter {
            team: Some("comms".into()),
            ..f.clone()
        };
        assert!(s.inbox(&team).unwrap().is_empty());
        let paged = InboxFilter {
            limit: 1,
            offset: 1,
            ..f
        };
        // One more than asked for says there is a next page.
        assert_eq!(ids(&s.inbox(&paged).unwrap()), [3, 1]);
    }

    #[test]
    fn the_wall_hides_opted_out_authors_unless_pinned() {
        let (_dir, s) = store(&[
            ("praise", "normal", 100, None, "fan"),
            ("praise", "normal", 200, None, "Quiet"),
            ("complaint", "normal", 300, None, "x"),
        ]);
        s.add_optout("rss", "@quiet", "anna", 1).unwrap();
        let wall: Vec<i64> = s.wall(10).unwrap().iter().map(|c| c.id).collect();
        assert_eq!(wall, [1]);
        s.set_pinned(2, true, 500).unwrap();
        s.set_pinned(3, true, 400).unwrap();
        let wall: Vec<(i64, bool)> = s
            .wall(10)
            .unwrap()
            .iter()
            .map(|c| (c.id, c.pinned))
            .collect();
        assert_eq!(wall, [(2, true), (3, true), (1, false)]);
    }

    #[test]
    fn sla_outcomes_count_met_missed_and_still_running() {
        let (_dir, s) = store(&[
            ("complaint", "normal", 1000, Some(1500), "a"),
            ("complaint", "normal", 1000, Some(5000), "b"),
            ("question", "normal", 1000, None, "c"),
            ("question", "normal", 9000, None, "d"),
            ("praise", "normal", 1000, None, "e"),
        ]);
        assert_eq!(
            s.sla_outcomes("webcare", 3600, 0, 10_000, 10_000).unwrap(),
            (1, 2)
        );
        assert_eq!(
            s.sla_outcomes("comms", 3600, 0, 10_000, 10_000).unwrap(),
            (0, 0)
        );
    }

    #[test]
    fn an_escalation_is_recorded_once() {
        let (_dir, mut s) = store(&[("complaint", "normal", 1000, None, "a")]);
        let due = s.overdue_mentions("webcare", 0, 5000, 10).unwrap();
        assert_eq!(due.len(), 1);
        let mail = EscalationMail {
            recipient: "lead@example.com".into(),
            message_id: "<x@example.com>".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        assert!(
            s.record_escalation(1, "webcare", 4600, std::slice::from_ref(&mail), 5000)
                .unwrap()
        );
        assert!(
            !s.record_escalation(1, "webcare", 4600, &[mail], 5001)
                .unwrap()
        );
        assert!(
            s.overdue_mentions("webcare", 0, 6000, 10)
                .unwrap()
                .is_empty()
        );
        let queued: i64 = s
            .connection()
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind = 'escalation'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(queued, 1);
    }

    #[test]
    fn a_broken_search_is_named_as_the_search_in_the_inbox_and_in_mentions() {
        let (_dir, s) = store(&[("complaint", "normal", 100, None, "a")]);
        let search = "\"unterminated";
        let inbox = s.inbox(&InboxFilter {
            query: Some(search.into()),
            limit: 50,
            ..InboxFilter::default()
        });
        let listed = s.mentions(&crate::store::MentionFilter {
            query: Some(search.into()),
            limit: 50,
            ..Default::default()
        });
        for result in [inbox.map(|_| ()), listed.map(|_| ())] {
            match result {
                Err(StoreError::BadQuery { query, .. }) => assert_eq!(query, search),
                other => panic!("expected a bad search, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_mention_reads_the_same_by_id_and_in_the_list() {
        let (_dir, s) = store(&[("complaint", "urgent", 100, None, "a")]);
        let listed = s
            .mentions(&crate::store::MentionFilter {
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        let one = s.mention_by_id(listed[0].id).unwrap().unwrap();
        assert_eq!(format!("{one:?}"), format!("{:?}", listed[0]));
        assert_eq!(one.author_handle.as_deref(), Some("a"));
        assert_eq!(one.urgency.as_deref(), Some("urgent"));
        assert_eq!(one.watches, ["W"]);
        assert_eq!(s.thread_of(one.id, 5).unwrap().len(), 0);
    }
}
