//! Store signals for the classifier: counts only the database can give. When a poll commits,
//! every new mention's normalised text is hashed (`mentions.text_hash`), and within the same
//! transaction the store counts the distinct authors of that text over a day and the replies
//! its thread got in the last hour, then lets the classifier revise the stored verdicts.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use super::NewMention;

use crate::classify::signals::SAME_TEXT;
use crate::classify::{Classification, Classifier, Input, Label, Polarity, Reason, Urgency};

/// Copies of a text count as one campaign when posted within this many seconds of each other.
const DUPLICATE_WINDOW: i64 = 24 * 3600;
/// A thread's pace is measured over this many seconds.
const THREAD_WINDOW: i64 = 3600;
/// Shorter texts ("thanks!", "same here") are often posted by many people in good faith.
const MIN_WORDS: usize = 4;
const MIN_BYTES: usize = 20;

/// The stable 64-bit hash of a text's normalised form (lower case, no accents, words joined by
/// one space; see [`crate::text::normalize`]), or `None` for texts too short to tell a
/// campaign from people agreeing. FNV-1a, so the value never changes between versions or runs.
pub fn text_hash(text: &str) -> Option<i64> {
    let norm = crate::text::normalize(text);
    let mut words = 0;
    let mut bytes = 0;
    let mut h = crate::text::Fnv1a::new();
    for w in norm.split_whitespace() {
        if words > 0 {
            h.write(b" ");
        }
        h.write(w.as_bytes());
        words += 1;
        bytes += w.len();
    }
    (words >= MIN_WORDS && bytes >= MIN_BYTES).then_some(h.finish() as i64)
}

/// A mention stored by this commit, as far as the signals need it.
pub(super) struct NewRow {
    pub id: i64,
    /// For a reply only: what it replies to, and its own external id.
    pub reply: Option<(String, String)>,
    pub created_at: i64,
    pub text_hash: Option<i64>,
}

impl NewRow {
    /// The row just stored as `id` for `m`, whose text hashes to `text_hash`.
    pub(super) fn of(id: i64, m: &crate::sources::Mention, text_hash: Option<i64>) -> NewRow {
        NewRow {
            id,
            // Cloned only for replies: most rows need neither string again.
            reply: m
                .in_reply_to
                .as_ref()
                .map(|parent| (parent.clone(), m.external_id.clone())),
            created_at: m.created_at.timestamp(),
            text_hash,
        }
    }
}

/// Applies the same-text signal to the verdicts of a poll's own repeated texts before they are
/// inserted, so that a campaign arriving in one poll is written once with its final verdict
/// instead of inserted and then rewritten row by row (the rewrite cost more than the insert).
///
/// Only texts that come more than once in `mentions` are looked at; `hashes[i]` is the text
/// hash of `mentions[i]` and `skip[i]` marks rows the commit will not store (erased authors,
/// ids an earlier poll stored).
/// The author count is the one [`apply`] makes after the insert (same rows, same window), so
/// `apply` finds these copies already revised and leaves them; it still revises every copy
/// this pass could not see. Callers with daily caps must not use it: a capped row is not
/// stored, and this pass cannot know which ones will be. Returns the positions of the
/// mentions whose verdict it revised.
pub(super) fn settle_repeats(
    tx: &Transaction<'_>,
    classifier: &Classifier,
    mentions: &mut [NewMention],
    hashes: &[Option<i64>],
    skip: &[bool],
) -> rusqlite::Result<Vec<usize>> {
    // Sorted by text, so repeats sit side by side: nearly every text comes once, and a map of
    // every text's rows cost an allocation each.
    let mut by_text: Vec<(i64, usize)> = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.filter(|_| !skip[i]).map(|h| (h, i)))
        .collect();
    by_text.sort_unstable();
    let mut groups: HashMap<i64, Vec<usize>> = HashMap::new();
    for run in by_text
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        groups.insert(run[0].0, run.iter().map(|&(_, i)| i).collect());
    }
    let mut revised = Vec::new();
    if groups.is_empty() {
        return Ok(revised);
    }
    // Which of the repeated rows the insert will store: the first row of each external id
    // that is not skipped. Counting a row that is not stored would overstate the campaign;
    // `apply` could not take that back.
    let mut stored = vec![false; mentions.len()];
    let mut seen = HashSet::with_capacity(mentions.len());
    for (i, m) in mentions.iter().enumerate() {
        if !skip[i] && seen.insert(m.mention.external_id.as_str()) {
            stored[i] = hashes[i].is_some_and(|h| groups.contains_key(&h));
        }
    }
    let mut authors = tx.prepare_cached(
        "SELECT DISTINCT author_handle FROM mentions
         WHERE text_hash = ?1 AND created_at BETWEEN ?2 AND ?3 AND author_handle IS NOT NULL",
    )?;
    for (hash, rows) in groups {
        let rows: Vec<usize> = rows.into_iter().filter(|&i| stored[i]).collect();
        // The window is the one `apply` uses: around the first new row with this text.
        let Some(&first) = rows.first() else { continue };
        let at = mentions[first].mention.created_at.timestamp();
        let window = (at - DUPLICATE_WINDOW)..=(at + DUPLICATE_WINDOW);
        let mut names = authors
            .query_map(params![hash, window.start(), window.end()], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<Result<HashSet<_>, _>>()?;
        let in_window: Vec<usize> = rows
            .into_iter()
            .filter(|&i| window.contains(&mentions[i].mention.created_at.timestamp()))
            .collect();
        for &i in &in_window {
            if let Some(a) = &mentions[i].mention.author_handle
                && !names.contains(a)
            {
                names.insert(a.clone());
            }
        }
        let n = u32::try_from(names.len()).unwrap_or(u32::MAX);
        if n < classifier.duplicate_authors {
            continue;
        }
        let mut input = Input::new("");
        input.duplicate_authors = Some(n);
        for i in in_window {
            if let Some(v) = mentions[i].verdict.as_mut() {
                classifier.apply_signals(v, &input);
                revised.push(i);
            }
        }
    }
    Ok(revised)
}

/// Counts the signals for the mentions of one commit and writes back every verdict they
/// change: all copies of a campaign (earlier ones too) become spam, and complaints and
/// questions in a fast-growing thread become urgent. Runs after the whole poll is inserted, so
/// the order of mentions within a poll does not matter.
pub(super) fn apply(
    tx: &Transaction<'_>,
    classifier: &Classifier,
    source: &str,
    rows: &[NewRow],
    now: i64,
) -> rusqlite::Result<()> {
    let mut authors = tx.prepare_cached(
        "SELECT count(DISTINCT author_handle) FROM mentions
         WHERE text_hash = ?1 AND created_at BETWEEN ?2 AND ?3",
    )?;
    let mut copies = tx.prepare_cached(
        "SELECT id FROM mentions
         WHERE text_hash = ?1 AND created_at BETWEEN ?2 AND ?3 AND spam = 0
           AND instr(coalesce(reasons, ''), ?4) = 0",
    )?;
    // Copies in the window, up to the threshold, from the index alone: a text with fewer
    // copies than the threshold cannot have that many authors, and that is nearly every text,
    // so the author count (a table read per copy and a sort) runs only for the few others.
    let mut enough = tx.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM mentions
         WHERE text_hash = ?1 AND created_at BETWEEN ?2 AND ?3 LIMIT ?4)",
    )?;
    // Each text once, at its first row (as the poll had it), leaving out those no other
    // mention has.
    let mut texts: Vec<(i64, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.text_hash.map(|h| (h, i)))
        .collect();
    texts.sort_unstable();
    texts.dedup_by_key(|t| t.0);
    let alone = texts_without_copies(tx, classifier, rows)?;
    texts.retain(|(h, _)| !alone.contains(h));
    texts.sort_unstable_by_key(|&(_, i)| i);
    for row in texts.into_iter().map(|(_, i)| &rows[i]) {
        let Some(hash) = row.text_hash else { continue };
        let (from, to) = (
            row.created_at - DUPLICATE_WINDOW,
            row.created_at + DUPLICATE_WINDOW,
        );
        let found: i64 = enough.query_row(
            params![hash, from, to, i64::from(classifier.duplicate_authors)],
            |r| r.get(0),
        )?;
        if found < i64::from(classifier.duplicate_authors) {
            continue;
        }
        let n: i64 = authors.query_row(params![hash, from, to], |r| r.get(0))?;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n < classifier.duplicate_authors {
            continue;
        }
        let ids = copies
            // Copies whose verdict already notes the campaign need no second look; without
            // this, every poll would revise every copy of a long-running protest again.
            .query_map(params![hash, from, to, SAME_TEXT], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for id in ids {
            revise(tx, classifier, id, |input| {
                input.duplicate_authors = Some(n)
            })?;
        }
    }

    let mut replies = tx.prepare_cached(
        "SELECT count(*) FROM mentions
         WHERE source = ?1 AND id != ?2 AND in_reply_to IN (?3, ?4) AND created_at >= ?5",
    )?;
    for row in rows {
        // A reply's thread is what it replies to. A post that replies to nothing starts a
        // thread whose replies arrive after it, so there is nothing to count yet (this saves a
        // query for nearly every mention).
        let Some((parent, external_id)) = &row.reply else {
            continue;
        };
        let n: i64 = replies.query_row(
            params![source, row.id, parent, external_id, now - THREAD_WINDOW],
            |r| r.get(0),
        )?;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n >= classifier.fast_thread {
            revise(tx, classifier, row.id, |input| {
                input.thread_replies_last_hour = Some(n)
            })?;
        }
    }
    Ok(())
}

/// The texts of `rows` that no other mention has: once in this commit and in no earlier row.
/// A campaign needs at least two copies, so these need no count in their window; nearly every
/// text is one of them, and one statement for all of them costs less than a window count for
/// each.
fn texts_without_copies(
    tx: &Transaction<'_>,
    classifier: &Classifier,
    rows: &[NewRow],
) -> rusqlite::Result<HashSet<i64>> {
    let Some(first) = rows.iter().map(|r| r.id).min() else {
        return Ok(HashSet::new());
    };
    if classifier.duplicate_authors < 2 {
        return Ok(HashSet::new());
    }
    let mut all: Vec<i64> = rows.iter().filter_map(|r| r.text_hash).collect();
    all.sort_unstable();
    let once: Vec<i64> = all
        .chunk_by(|a, b| a == b)
        .filter(|run| run.len() == 1)
        .map(|run| run[0])
        .collect();
    let list = serde_json::to_string(&once)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    // Row ids only grow, so every row stored before this commit has a smaller id than the
    // commit's first.
    let mut copied = tx.prepare_cached(
        "SELECT value FROM json_each(?1)
         WHERE EXISTS (SELECT 1 FROM mentions WHERE text_hash = json_each.value AND id < ?2)",
    )?;
    let mut alone: HashSet<i64> = once.into_iter().collect();
    for h in copied.query_map(params![list, first], |r| r.get::<_, i64>(0))? {
        alone.remove(&h?);
    }
    Ok(alone)
}

/// Loads the stored verdict of mention `id`, applies the signals `set` puts on its input and
/// writes the verdict back if it changed. A staff label is never overwritten.
fn revise(
    tx: &Transaction<'_>,
    classifier: &Classifier,
    id: i64,
    set: impl FnOnce(&mut Input<'_>),
) -> rusqlite::Result<()> {
    let stored = tx
        .prepare_cached(
            "SELECT label, sentiment, urgency, spam, reasons, label_source FROM mentions
             WHERE id = ?1 AND label IS NOT NULL",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<f64>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<bool>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .optional()?;
    let Some((label, sentiment, urgency, spam, reasons, label_source)) = stored else {
        return Ok(());
    };
    let mut v = stored_verdict(
        &label,
        sentiment,
        urgency.as_deref(),
        spam,
        reasons.as_deref(),
    );
    // The staff label stands; the signals judge what the classifier said.
    let staff = label_source.as_deref() == Some("staff");
    let mut input = Input::new("");
    set(&mut input);
    if !classifier.apply_signals(&mut v, &input) {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE mentions SET label = CASE WHEN ?2 THEN label ELSE ?3 END, urgency = ?4, spam = ?5,
            reasons = ?6 WHERE id = ?1",
    )?
    .execute(params![
        id,
        staff,
        v.label.as_str(),
        if v.urgency == Urgency::Urgent {
            "urgent"
        } else {
            "normal"
        },
        v.spam,
        super::verdict_json(&v),
    ])?;
    Ok(())
}

/// What `verdict_json` keeps besides the label columns.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct StoredJson {
    polarity: Polarity,
    lang: String,
    urgency_reasons: Vec<String>,
    reasons: Vec<Reason>,
}

/// Rebuilds a verdict from its columns.
fn stored_verdict(
    label: &str,
    sentiment: Option<f64>,
    urgency: Option<&str>,
    spam: Option<bool>,
    reasons: Option<&str>,
) -> Classification {
    let json: StoredJson = reasons
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    Classification {
        label: label.parse().unwrap_or(Label::Neutral),
        sentiment: sentiment.unwrap_or_default() as f32,
        polarity: json.polarity,
        urgency: if urgency == Some("urgent") {
            Urgency::Urgent
        } else {
            Urgency::Normal
        },
        urgency_reasons: json.urgency_reasons,
        spam: spam.unwrap_or(false),
        lang: json.lang,
        reasons: json.reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Mention;
    use crate::store::PollStore;
    use crate::store::testing;
    use crate::store::{NewMention, PollCommit, Store};
    use chrono::Utc;

    /// `(id, author, in_reply_to, text)`
    type Post<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

    fn commit(store: &mut Store, c: &Classifier, posts: &[Post<'_>]) {
        let mentions = posts
            .iter()
            .map(|&(id, author, parent, text)| {
                let m = Mention {
                    external_id: id.into(),
                    author_handle: Some(author.into()),
                    in_reply_to: parent.map(str::to_string),
                    text: text.into(),
                    created_at: Utc::now(),
                    ..Default::default()
                };
                NewMention {
                    verdict: Some(c.classify(&Input::new(text))),
                    mention: m,
                    watches: vec!["Fjordlink".into()],
                }
            })
            .collect();
        store
            .commit_poll(PollCommit {
                raw_max_bytes: 100,
                signals: Some(c),
                ..PollCommit::news("feed", mentions)
            })
            .unwrap();
    }

    /// `(external_id, label, urgency, spam)` of every stored mention, by id.
    fn verdicts(store: &Store) -> Vec<(String, String, String, bool)> {
        let mut st = store
            .connection()
            .prepare("SELECT external_id, label, urgency, spam FROM mentions ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    const GIVEAWAY: &str = "Fjordlink is giving away free routers to everyone who shares this post";

    #[test]
    fn the_third_author_of_a_text_makes_every_copy_spam_even_earlier_ones() {
        let (_dir, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        commit(&mut s, &c, &[("1", "ann", None, GIVEAWAY)]);
        commit(&mut s, &c, &[("2", "bob", None, &GIVEAWAY.to_uppercase())]);
        assert!(verdicts(&s).iter().all(|v| !v.3), "{:?}", verdicts(&s));
        commit(
            &mut s,
            &c,
            &[("3", "cas", None, GIVEAWAY), ("4", "dirk", None, GIVEAWAY)],
        );
        let v = verdicts(&s);
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|v| v.3 && v.1 == "neutral"), "{v:?}");
        let reasons: String =
            testing::scalar(&s, "SELECT reasons FROM mentions WHERE external_id = '1'");
        assert!(
            reasons.contains("same text from several authors"),
            "{reasons}"
        );
    }

    #[test]
    fn a_campaign_inside_one_poll_is_stored_as_spam_with_the_reason_once() {
        let (_dir, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        let posts: Vec<Post<'_>> = [("1", "ann"), ("2", "bob"), ("3", "cas"), ("4", "ann")]
            .iter()
            .map(|&(id, who)| (id, who, None, GIVEAWAY))
            .collect();
        commit(&mut s, &c, &posts);
        let v = verdicts(&s);
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|v| v.3 && v.1 == "neutral"), "{v:?}");
        let mut st = s
            .connection()
            .prepare("SELECT reasons FROM mentions")
            .unwrap();
        for reasons in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            let reasons = reasons.unwrap();
            assert_eq!(
                reasons.matches("same text from several authors").count(),
                1,
                "{reasons}"
            );
        }
    }

    #[test]
    fn a_campaign_in_a_poll_big_enough_to_be_prepared_on_all_cores_is_spam_in_every_row() {
        let (_dir, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        // Above the size from which a commit prepares its rows in parts: the verdicts the
        // rows are written with must be the settled ones.
        let ids: Vec<(String, String)> = (0..2_500)
            .map(|i| (i.to_string(), format!("author{i}")))
            .collect();
        let posts: Vec<Post<'_>> = ids
            .iter()
            .map(|(id, who)| (id.as_str(), who.as_str(), None, GIVEAWAY))
            .collect();
        commit(&mut s, &c, &posts);
        let v = verdicts(&s);
        assert_eq!(v.len(), 2_500);
        assert!(v.iter().all(|v| v.3 && v.1 == "neutral"));
        let once: i64 = testing::scalar(&s, "SELECT count(*) FROM mentions
                 WHERE reasons LIKE '%same text from several authors%'
                   AND reasons NOT LIKE '%same text from several authors%same text from several authors%'");
        assert_eq!(once, 2_500);
    }

    #[test]
    fn rows_a_poll_does_not_store_do_not_count_as_authors() {
        let (_dir, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        commit(
            &mut s,
            &c,
            &[(
                "3",
                "cas",
                None,
                "Fjordlink opened a new shop in the high street today",
            )],
        );
        // Post 3 comes again with the campaign's text (edited at the source): it is already
        // stored, so it is no new copy, and the same post twice in one poll is one copy.
        commit(
            &mut s,
            &c,
            &[
                ("1", "ann", None, GIVEAWAY),
                ("1", "ann", None, GIVEAWAY),
                ("2", "bob", None, GIVEAWAY),
                ("3", "cas", None, GIVEAWAY),
            ],
        );
        let v = verdicts(&s);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v.iter().all(|v| !v.3), "{v:?}");
    }

    #[test]
    fn one_author_repeating_a_text_is_not_a_campaign() {
        let (_dir, mut s) = testing::temp_store();
        let c = Classifier::embedded();
        let posts: Vec<Post<'_>> = ["1", "2", "3", "4"]
            .iter()
            .map(|id| (*id, "ann", None, GIVEAWAY))
            .collect();
        commit(&mut s, &c, &posts);
        assert!(verdicts(&s).iter().all(|v| !v.3), "{:?}", verdicts(&s));
    }

    #[test]
    fn a_complaint_in_a_busy_thread_is_urgent_whatever_order_the_poll_had() {
        let (_dir, mut s) = testing::temp_store();
        let mut c = Classifier::embedded();
        c.fast_thread = 4;
        let complaint = "Mijn Fjordlink internet ligt er al twee dagen uit";
        let mut posts: Vec<Post<'_>> = vec![("c", "ann", Some("root"), complaint)];
        let ids = ["r1", "r2", "r3", "r4"];
        for (i, id) in ids.iter().enumerate() {
            let parent = if i < 2 { "root" } else { "c" };
            posts.push((id, "bob", Some(parent), "Fjordlink hier ook"));
        }
        commit(&mut s, &c, &posts);
        // A complaint in a quiet thread stays normal.
        commit(&mut s, &c, &[("q", "dirk", Some("other"), complaint)]);
        let v = verdicts(&s);
        assert_eq!(v[0].1, "complaint");
        assert_eq!(v[0].2, "urgent", "{v:?}");
        assert_eq!((v[5].1.as_str(), v[5].2.as_str()), ("complaint", "normal"));
    }

    #[test]
    fn text_hash_ignores_case_accents_and_spacing_but_not_words() {
        let a = text_hash("Claim your FREE Fjordcoin airdrop now!");
        assert!(a.is_some());
        assert_eq!(a, text_hash("claim  your free fjordcóin\nairdrop now!"));
        assert_ne!(a, text_hash("Claim your free Fjordcoin airdrop today!"));
    }

    #[test]
    fn short_texts_get_no_hash() {
        assert_eq!(text_hash("Thanks Fjordlink!"), None);
        assert_eq!(text_hash("same here, also down"), None);
    }
}
