//! The brand's own replies: marks mentions answered when a source saw one of the brand's
//! accounts reply to them, inside the poll's transaction.
//!
//! A reply can arrive before the post it answers (a thread read newest first, a parent that
//! only a later page or another listing brings), so every reply is first kept in
//! `own_replies`, keyed by the post it answers, and applied to whichever stored mention has that
//! external id, now or when it arrives. An answer already recorded, by staff or an earlier
//! reply, is never overwritten. Replies whose post never arrives (no watch matched it) are
//! forgotten [`PENDING_DAYS`] after webcare first saw them (not after they were written: a
//! backfill reads old replies whose posts arrive in the same run).

use rusqlite::{Transaction, params};

use crate::sources::OwnReply;

/// How long a reply waits for the post it answers, from when it was first seen.
pub const PENDING_DAYS: i64 = 30;

/// Keeps `replies` (seen by `source`) and marks every mention of `source` they answer as
/// answered, earliest reply first. Also applies replies kept by earlier polls to mentions
/// stored since. Returns the ids of the mentions it marked.
pub(super) fn apply(
    tx: &Transaction<'_>,
    source: &str,
    replies: &[OwnReply],
    stored_any: bool,
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut keep = tx.prepare_cached(
        "INSERT INTO own_replies (source, parent, account, replied_at, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, parent) DO UPDATE SET
            account = CASE WHEN excluded.replied_at < own_replies.replied_at
                THEN excluded.account ELSE own_replies.account END,
            replied_at = min(own_replies.replied_at, excluded.replied_at)",
    )?;
    for r in replies {
        keep.execute(params![source, r.parent, r.account, r.at.timestamp(), now])?;
    }
    if replies.is_empty() && !stored_any {
        // Nothing new on either side: no reply can have found its post.
        return Ok(Vec::new());
    }
    // One statement for both orders: replies of this poll to stored mentions, and replies
    // kept earlier whose post this poll stored.
    let mut mark = tx.prepare_cached(
        "UPDATE mentions SET answered_at = r.replied_at, answered_by = r.account
         FROM own_replies r
         WHERE r.source = ?1 AND mentions.source = r.source AND mentions.external_id = r.parent
           AND mentions.answered_at IS NULL
         RETURNING mentions.id, mentions.answered_by, mentions.answered_at",
    )?;
    let marked: Vec<(i64, String, i64)> = mark
        .query_map(params![source], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    // The inbox shows who did what to a mention; the brand account is who answered.
    let mut log = tx.prepare_cached(
        "INSERT INTO mention_actions (mention_id, action, detail, done_by, done_at)
         VALUES (?1, 'answered', 'reply by the brand''s own account', ?2, ?3)",
    )?;
    for (id, account, at) in &marked {
        log.execute(params![id, account, at])?;
    }
    // A reply whose post is stored has done its work (or found an earlier answer there).
    tx.prepare_cached(
        "DELETE FROM own_replies WHERE source = ?1 AND (seen_at < ?2 OR EXISTS (
            SELECT 1 FROM mentions m WHERE m.source = ?1 AND m.external_id = own_replies.parent))",
    )?
    .execute(params![source, now - PENDING_DAYS * 86_400])?;
    Ok(marked.into_iter().map(|(id, ..)| id).collect())
}

#[cfg(test)]
mod tests {
    use crate::store::MentionStore;
    use crate::store::PollStore;
    use crate::store::testing;
    use std::collections::HashMap;

    use chrono::{Duration, Utc};

    use crate::sources::{Mention, OwnReply};
    use crate::store::{NewMention, PollCommit, PollSummary, Store};

    /// Commits mentions `ids` and `replies` as one poll of source `feed`.
    fn poll(s: &mut Store, ids: &[&str], replies: Vec<OwnReply>) -> PollSummary {
        let caps = HashMap::new();
        s.commit_poll(PollCommit {
            kind: "x",
            watch_caps: &caps,
            own_replies: replies,
            ..PollCommit::news(
                "feed",
                ids.iter()
                    .map(|id| NewMention {
                        mention: Mention {
                            external_id: id.to_string(),
                            text: format!("fjordlink {id}"),
                            created_at: Utc::now() - Duration::hours(2),
                            ..Default::default()
                        },
                        watches: vec!["w".into()],
                        verdict: None,
                    })
                    .collect(),
            )
        })
        .unwrap()
    }

    fn reply(parent: &str, account: &str, minutes_ago: i64) -> OwnReply {
        OwnReply {
            parent: parent.into(),
            account: account.into(),
            at: Utc::now() - Duration::minutes(minutes_ago),
        }
    }

    /// `(external_id, answered_at, answered_by)` of every mention, by external id.
    fn answered(s: &Store) -> Vec<(String, Option<i64>, Option<String>)> {
        s.connection()
            .prepare("SELECT external_id, answered_at, answered_by FROM mentions ORDER BY 1")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_reply_marks_its_post_answered_in_either_order_and_never_twice() {
        let (_dir, mut s) = testing::temp_store();
        let early = reply("a", "FjordlinkCare", 50);
        // The reply to `a` comes with it; the reply to `b` comes before `b` itself.
        let first = poll(
            &mut s,
            &["a"],
            vec![early.clone(), reply("b", "Fjordlink", 40)],
        );
        assert_eq!(first.answered, 1);
        let second = poll(&mut s, &["b", "c"], vec![]);
        assert_eq!(second.answered, 1);
        // A later reply to `a` does not move its first answer.
        assert_eq!(
            poll(&mut s, &[], vec![reply("a", "Fjordlink", 5)]).answered,
            0
        );
        let rows = answered(&s);
        let at = |m: i64| Some((Utc::now() - Duration::minutes(m)).timestamp());
        assert_eq!(rows[0].0, "a");
        assert_eq!(rows[0].1, Some(early.at.timestamp()));
        assert_eq!(rows[0].2.as_deref(), Some("FjordlinkCare"));
        assert_eq!(rows[1].2.as_deref(), Some("Fjordlink"));
        assert!(rows[1].1.unwrap().abs_diff(at(40).unwrap()) <= 1);
        assert_eq!((rows[2].1, rows[2].2.as_deref()), (None, None));
        // Applied replies are not kept.
        let kept: i64 = testing::scalar(&s, "SELECT count(*) FROM own_replies");
        assert_eq!(kept, 0);
        let actions: i64 = testing::scalar(
            &s,
            "SELECT count(*) FROM mention_actions WHERE action = 'answered'",
        );
        assert_eq!(actions, 2);
    }

    #[test]
    fn a_staff_answer_is_not_overwritten_and_old_orphans_are_dropped() {
        let (_dir, mut s) = testing::temp_store();
        poll(&mut s, &["a"], vec![]);
        let id: i64 = testing::scalar(&s, "SELECT id FROM mentions");
        s.mark_answered(id, true, "anna", 1_000).unwrap();
        // A reply written long ago still waits: it was only seen now.
        let orphan = OwnReply {
            parent: "gone".into(),
            account: "Fjordlink".into(),
            at: Utc::now() - Duration::days(400),
        };
        let summary = poll(&mut s, &[], vec![reply("a", "Fjordlink", 1), orphan]);
        assert_eq!(summary.answered, 0);
        assert_eq!(answered(&s)[0].1, Some(1_000));
        assert_eq!(answered(&s)[0].2.as_deref(), Some("anna"));
        let kept = |s: &Store| -> i64 {
            s.connection()
                .query_row("SELECT count(*) FROM own_replies", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(kept(&s), 1);
        // Seen more than PENDING_DAYS ago, its post never came: forgotten by the next poll.
        let long_ago = (Utc::now() - Duration::days(super::PENDING_DAYS + 1)).timestamp();
        s.connection()
            .execute("UPDATE own_replies SET seen_at = ?1", [long_ago])
            .unwrap();
        poll(&mut s, &["b"], vec![]);
        assert_eq!(kept(&s), 0);
    }
}
