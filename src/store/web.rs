//! The web inbox's SQL beyond the mention list (which is a [`super::MentionQuery`]): what the
//! mention page shows around a mention (claim, alerts, history), the actions staff take from
//! the browser and the history they leave, the praise wall, and the key that signs sessions
//! and one-click links.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::row::row_struct;
use super::{Store, StoreError};

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

row_struct! {
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
}

row_struct! {
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
}

/// What the web inbox reads and writes beside the mentions themselves: claims, pins, spam
/// marks, a mention's alerts and history, the praise wall, the inbox's signing key.
pub trait WebStore {
    /// The key named `name` that signs sessions and links, created from `fresh` the first time
    /// it is asked for and the same ever after (also across restarts and processes).
    fn web_key(&self, name: &str, fresh: &[u8], now: i64) -> Result<Vec<u8>, StoreError>;

    /// What the mention page shows besides the stored mention: claim, answer, pin, route and
    /// whether its author is on the do-not-contact list. `None` when no mention has this id.
    fn mention_extras(&self, id: i64) -> Result<Option<MentionExtras>, StoreError>;

    /// The alerts mention `id` caused, oldest first.
    fn alerts_of(&self, id: i64) -> Result<Vec<MentionAlert>, StoreError>;

    /// What staff did to mention `id`, oldest first.
    fn history_of(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Appends `entry` to mention `id`'s history.
    fn record_action(&self, id: i64, entry: &HistoryEntry) -> Result<(), StoreError>;

    /// Claims mention `id` for `by`, or releases the claim (`by` = `None`).
    fn set_claim(&self, id: i64, by: Option<&str>, now: i64) -> Result<(), StoreError>;

    /// Marks mention `id` spam by a person's judgement (or not spam), which takes it out of
    /// (or puts it back in) the open inbox.
    fn set_spam(&self, id: i64, spam: bool) -> Result<(), StoreError>;

    /// Pins mention `id` to the praise wall at `now`, or unpins it.
    fn set_pinned(&self, id: i64, pinned: bool, now: i64) -> Result<(), StoreError>;

    /// The languages the inbox's language menu offers (those of stored mentions).
    fn inbox_languages(&self) -> Result<Vec<String>, StoreError>;
}

impl WebStore for Store {
    fn web_key(&self, name: &str, fresh: &[u8], now: i64) -> Result<Vec<u8>, StoreError> {
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

    fn mention_extras(&self, id: i64) -> Result<Option<MentionExtras>, StoreError> {
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

    fn alerts_of(&self, id: i64) -> Result<Vec<MentionAlert>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {} FROM outbox WHERE mention_id = ?1 ORDER BY id",
                MentionAlert::COLUMNS
            ),
            [id],
            MentionAlert::from_row,
        )
    }

    fn history_of(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        self.query_all(
            "SELECT action, detail, done_by AS by, done_at AS at FROM mention_actions
             WHERE mention_id = ?1 ORDER BY done_at, id",
            [id],
            HistoryEntry::from_row,
        )
    }

    fn record_action(&self, id: i64, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO mention_actions (mention_id, action, detail, done_by, done_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, entry.action, entry.detail, entry.by, entry.at],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn set_claim(&self, id: i64, by: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.update_mention(
            id,
            "UPDATE mentions SET claimed_by = ?2, claimed_at = CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END
             WHERE id = ?1",
            params![id, by, now],
        )
    }

    fn set_spam(&self, id: i64, spam: bool) -> Result<(), StoreError> {
        self.update_mention(
            id,
            "UPDATE mentions SET spam = ?2 WHERE id = ?1",
            params![id, spam],
        )
    }

    fn set_pinned(&self, id: i64, pinned: bool, now: i64) -> Result<(), StoreError> {
        self.update_mention(
            id,
            "UPDATE mentions SET pinned_at = CASE WHEN ?2 THEN ?3 END WHERE id = ?1",
            params![id, pinned, now],
        )
    }

    fn inbox_languages(&self) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT DISTINCT lang FROM mention_totals WHERE lang != '' AND n > 0 ORDER BY 1",
            [],
            |r| r.get(0),
        )
    }
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

/// First-response targets: the mentions past them and the escalations sent.
pub trait SlaStore {
    /// Records that mention `id` missed `team`'s target and queues its escalation mails, in
    /// one transaction. False (and nothing queued) when it was escalated before: each mention
    /// is escalated once per team, across restarts.
    fn record_escalation(
        &mut self,
        id: i64,
        team: &str,
        due_at: i64,
        mails: &[EscalationMail],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// How many of `team`'s complaints and questions found between `start` and `end` met a
    /// first-response target of `sla` seconds, and how many missed it (answered late, or still
    /// open past it at `now`): `(met, missed)`. Those still open within the target count in
    /// neither.
    fn sla_outcomes(
        &self,
        team: &str,
        sla: i64,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<(i64, i64), StoreError>;
}

impl SlaStore for Store {
    fn record_escalation(
        &mut self,
        id: i64,
        team: &str,
        due_at: i64,
        mails: &[EscalationMail],
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
        let new = tx
            .execute(
                "INSERT INTO escalations (mention_id, team, due_at, escalated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![id, team, due_at, now],
            )
            ?;
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
            ?;
        }
            Ok(true)
        })
    }

    fn sla_outcomes(
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
    use crate::store::MentionStore;
    use crate::store::testing;
    use crate::store::{InboxStatus, MentionOrder, MentionQuery, StoredMention};
    use crate::store::{OptOut, OptOutStore};

    const ROUTE: &str = r#"[{"rule":"r","action":"alert","team":"webcare","why":[]}]"#;

    /// A store with mentions `(label, urgency, created, answered, handle)`, routed to webcare.
    fn store(rows: &[(&str, &str, i64, Option<i64>, &str)]) -> (tempfile::TempDir, Store) {
        let (dir, store) = testing::temp_store();
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

    fn ids(rows: &[StoredMention]) -> Vec<i64> {
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
        let inbox = |status| {
            MentionQuery::new()
                .status(status)
                .unstripped()
                .order(MentionOrder::Inbox)
        };
        let open = inbox(InboxStatus::Open);
        assert_eq!(ids(&s.mentions(&open).unwrap()), [2, 3, 1]);
        let all = inbox(InboxStatus::All);
        assert_eq!(ids(&s.mentions(&all).unwrap()), [2, 3, 1, 5, 4]);
        let answered = inbox(InboxStatus::Answered);
        assert_eq!(ids(&s.mentions(&answered).unwrap()), [5]);
        let team = open.clone().team("comms");
        assert!(s.mentions(&team).unwrap().is_empty());
        let paged = open.offset(1).limit(2);
        assert_eq!(ids(&s.mentions(&paged).unwrap()), [3, 1]);
    }

    #[test]
    fn the_wall_hides_opted_out_authors_unless_pinned() {
        let (_dir, s) = store(&[
            ("praise", "normal", 100, None, "fan"),
            ("praise", "normal", 200, None, "Quiet"),
            ("complaint", "normal", 300, None, "x"),
        ]);
        s.add_optout(&OptOut::new("rss", "@quiet", "anna", 1))
            .unwrap();
        let wall = MentionQuery::new().wall().order(MentionOrder::Wall);
        assert_eq!(ids(&s.mentions(&wall).unwrap()), [1]);
        s.set_pinned(2, true, 500).unwrap();
        s.set_pinned(3, true, 400).unwrap();
        let cards: Vec<(i64, bool)> = s
            .mentions(&wall)
            .unwrap()
            .iter()
            .map(|c| (c.id, c.handling.pinned_at.is_some()))
            .collect();
        assert_eq!(cards, [(2, true), (3, true), (1, false)]);
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
        let overdue = |before| {
            MentionQuery::new()
                .team("webcare")
                .stored(0, before)
                .open()
                .not_escalated_to("webcare")
                .order(MentionOrder::Stored)
        };
        assert_eq!(ids(&s.mentions(&overdue(5000)).unwrap()), [1]);
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
        assert!(s.mentions(&overdue(6000)).unwrap().is_empty());
        let queued: i64 =
            testing::scalar(&s, "SELECT count(*) FROM outbox WHERE kind = 'escalation'");
        assert_eq!(queued, 1);
    }

    #[test]
    fn a_broken_search_is_named_as_the_search_in_the_inbox_and_in_mentions() {
        let (_dir, s) = store(&[("complaint", "normal", 100, None, "a")]);
        let search = "\"unterminated";
        let inbox = s.mentions(
            &MentionQuery::new()
                .open()
                .order(MentionOrder::Inbox)
                .search(search),
        );
        let listed = s.mentions(&MentionQuery::new().search(search).limit(50));
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
        let listed = s.mentions(&MentionQuery::new().limit(5)).unwrap();
        let one = s.mention(listed[0].id).unwrap().unwrap();
        assert_eq!(format!("{one:?}"), format!("{:?}", listed[0]));
        assert_eq!(one.mention.author_handle.as_deref(), Some("a"));
        assert!(one.verdict.is_urgent());
        assert_eq!(one.handling.teams, ["webcare"]);
        assert_eq!(one.watches, ["W"]);
        let thread = MentionQuery::new().thread_of(one.id);
        assert_eq!(s.mentions(&thread).unwrap().len(), 0);
    }
}
