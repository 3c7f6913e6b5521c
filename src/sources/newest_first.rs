//! Reading a list a platform serves newest first (review sites and app stores) down to where the
//! last complete read stopped, across polls, without losing what lies beyond `max_pages`.
//!
//! A read that reaches the items it already had is complete, and the newest item it saw becomes
//! the new boundary. A read cut short by the page limit keeps the old boundary and where to go on
//! (a page number or a page token), so the next poll continues down to the boundary instead of
//! jumping to the top and leaving a gap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The newest items seen: their time and the ids at exactly that time (several items can share
/// a second, and one arriving in the same second as the last read must still be read).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_newest: Vec<String>,
}

impl Seen {
    /// Notes an item read at `at` with `id`.
    pub fn record(&mut self, at: DateTime<Utc>, id: &str) {
        match self.newest {
            Some(n) if n > at => {}
            Some(n) if n == at => {
                if !self.at_newest.iter().any(|x| x == id) {
                    self.at_newest.push(id.to_string());
                }
            }
            _ => {
                self.newest = Some(at);
                self.at_newest = vec![id.to_string()];
            }
        }
    }
}

/// An unfinished read: where to continue (`P`: a page number or token) and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run<P> {
    pub next: P,
    #[serde(default)]
    pub seen: Seen,
}

/// What a newest-first source remembers between polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Walk<P> {
    /// The boundary: the newest items of the last complete read.
    #[serde(flatten)]
    pub done: Seen,
    /// The read in progress, when the last poll stopped before reaching the boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run<P>>,
}

impl<P> Default for Walk<P> {
    fn default() -> Self {
        Walk {
            done: Seen::default(),
            run: None,
        }
    }
}

impl<P: Clone> Walk<P> {
    /// Items older than this are not read; `backfill_start` on the first read.
    pub fn since(&self, backfill_start: DateTime<Utc>) -> DateTime<Utc> {
        self.done.newest.unwrap_or(backfill_start)
    }

    /// Where to continue, and what the read in progress has seen; `None` starts at the top.
    pub fn resume(&self) -> (Option<P>, Seen) {
        match &self.run {
            Some(r) => (Some(r.next.clone()), r.seen.clone()),
            None => (None, Seen::default()),
        }
    }

    /// True when the item at `at` with `id` was read before (or is older than `since`): the
    /// read has reached the boundary.
    pub fn reached(&self, at: DateTime<Utc>, id: &str, since: DateTime<Utc>) -> bool {
        at < since || (Some(at) == self.done.newest && self.done.at_newest.iter().any(|x| x == id))
    }

    /// Ends a poll: `next` is where to continue when the read stopped at the page limit, `None`
    /// when it reached the boundary or the end of the list.
    pub fn finish(&mut self, next: Option<P>, seen: Seen) {
        match next {
            Some(next) => self.run = Some(Run { next, seen }),
            None => {
                self.run = None;
                let Some(newest) = seen.newest else { return };
                if Some(newest) == self.done.newest {
                    for id in seen.at_newest {
                        if !self.done.at_newest.contains(&id) {
                            self.done.at_newest.push(id);
                        }
                    }
                } else {
                    self.done = seen;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_read_cut_short_keeps_the_boundary_until_it_reaches_it() {
        let mut walk: Walk<u32> = Walk::default();
        walk.finish(None, {
            let mut s = Seen::default();
            s.record(t("2026-11-20T10:00:00Z"), "a");
            s
        });
        let since = walk.since(t("2026-01-01T00:00:00Z"));
        assert_eq!(since, t("2026-11-20T10:00:00Z"));
        // First poll: two new items, then the page limit.
        let (start, mut seen) = walk.resume();
        assert_eq!(start, None);
        seen.record(t("2026-11-25T10:00:00Z"), "c");
        seen.record(t("2026-11-24T10:00:00Z"), "b");
        walk.finish(Some(3), seen);
        assert_eq!(
            walk.since(t("2026-01-01T00:00:00Z")),
            since,
            "boundary kept"
        );
        // Next poll goes on at page 3 and reaches "a".
        let (start, seen) = walk.resume();
        assert_eq!(start, Some(3));
        assert!(walk.reached(t("2026-11-20T10:00:00Z"), "a", since));
        assert!(!walk.reached(t("2026-11-20T10:00:00Z"), "a2", since));
        walk.finish(None, seen);
        assert_eq!(walk.done.newest, Some(t("2026-11-25T10:00:00Z")));
        assert_eq!(walk.done.at_newest, ["c"]);
        assert_eq!(walk.run, None);
    }

    #[test]
    fn an_item_in_the_same_second_as_the_boundary_joins_it() {
        let mut walk: Walk<String> = Walk::default();
        let at = t("2026-11-20T10:00:00Z");
        let mut s = Seen::default();
        s.record(at, "a");
        walk.finish(None, s);
        let mut s = Seen::default();
        s.record(at, "b");
        walk.finish(None, s);
        assert_eq!(walk.done.at_newest, ["a", "b"]);
    }
}
