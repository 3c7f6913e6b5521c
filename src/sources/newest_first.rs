//! Reading a list a platform serves newest first (review sites and app stores) down to where the
//! last complete read stopped, across polls, without losing what lies beyond `max_pages`.
//!
//! A read that reaches the items it already had is complete, and the newest item it saw becomes
//! the new boundary. A read cut short by the page limit keeps the old boundary and where to go on
//! (a page number or a page token), so the next poll continues down to the boundary instead of
//! jumping to the top and leaving a gap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SourceError;

/// The newest items seen: their time and the ids at exactly that time (several items can share
/// a second, and one arriving in the same second as the last read must still be read). The
/// time is a `DateTime` here; Reddit, which keeps epoch seconds in its cursor, uses `i64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen<T = DateTime<Utc>> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<T>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_newest: Vec<String>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen {
            newest: None,
            at_newest: Vec::new(),
        }
    }
}

impl<T: Copy + Ord> Seen<T> {
    /// True when the item at `at` with `id` is one of the newest seen.
    fn holds(&self, at: T, id: &str) -> bool {
        Some(at) == self.newest && self.at_newest.iter().any(|x| x == id)
    }

    /// Notes an item read at `at` with `id`.
    pub fn record(&mut self, at: T, id: &str) {
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
    /// Starts this poll's read: from where the last poll stopped (or the top of the list) down
    /// to the boundary, or to `backfill_start` on the first read. The caller fetches the pages
    /// [`Read`] asks for and hands their items to it; [`Read::finish`] ends the poll.
    pub fn read<I>(&self, backfill_start: DateTime<Utc>) -> Read<P, I> {
        let (next, seen) = self.resume();
        Read {
            since: self.since(backfill_start),
            boundary: self.done.clone(),
            next,
            seen,
            pages: 0,
            over: false,
            restarted: false,
            items: Vec::new(),
        }
    }

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

/// One poll's read of a newest-first list, page by page, made by [`Walk::read`]: it keeps the
/// items above the boundary, in the order served, and where to go on. The same loop serves every
/// platform, which only fetches pages and says how to date its items:
///
/// ```text
/// let mut read = walk.read(backfill_start);
/// while read.wants_page(max_pages) {
///     let page = fetch(read.next()).await?;
///     read.add(page.items.map(|i| (i.time, i.id, i)), page.next);
/// }
/// let (items, more) = read.finish(&mut walk);
/// ```
pub(crate) struct Read<P, I> {
    since: DateTime<Utc>,
    boundary: Seen,
    next: Option<P>,
    seen: Seen,
    pages: u32,
    /// The read reached the boundary or the end of the list.
    over: bool,
    /// The read started over at the top after a refused position (see [`Read::restart_after`]).
    restarted: bool,
    items: Vec<I>,
}

impl<P: Clone, I> Read<P, I> {
    /// True while another page is to be read: the read is not over and has read fewer than
    /// `max_pages` pages in this poll.
    pub fn wants_page(&self, max_pages: u32) -> bool {
        !self.over && self.pages < max_pages
    }

    /// Where the next page is: `None` for the top of the list.
    pub fn next(&self) -> Option<&P> {
        self.next.as_ref()
    }

    /// True when `e`, the error fetching the next page, is a 400 for a position an earlier poll
    /// stored (a page token the platform no longer takes) and the read has not started over yet:
    /// then the position is dropped, so that the next page is the top of the list again (what
    /// was read before is stored once). The refused page counts as none read.
    pub fn restart_after(&mut self, e: &SourceError) -> bool {
        let refused = matches!(e, SourceError::Status { status: 400, .. });
        if !refused || self.next.is_none() || self.restarted {
            return false;
        }
        self.restarted = true;
        self.next = None;
        true
    }

    /// Takes one page: its items, newest first, each with its time and id, and where the page
    /// after it is (`None` at the end of the list). The first item read before ends the read.
    pub fn add(
        &mut self,
        items: impl IntoIterator<Item = (DateTime<Utc>, String, I)>,
        next: Option<P>,
    ) {
        self.pages += 1;
        for (at, id, item) in items {
            if at < self.since || self.boundary.holds(at, &id) {
                self.next = None;
                self.over = true;
                return;
            }
            self.seen.record(at, &id);
            self.items.push(item);
        }
        self.over = next.is_none();
        self.next = next;
    }

    /// Ends the poll on `walk` (see [`Walk::finish`]); returns the items read and whether pages
    /// are left for the next poll.
    pub fn finish(self, walk: &mut Walk<P>) -> (Vec<I>, bool) {
        let more = self.next.is_some();
        walk.finish(self.next, self.seen);
        (self.items, more)
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
        assert!(walk.done.holds(t("2026-11-20T10:00:00Z"), "a"));
        assert!(!walk.done.holds(t("2026-11-20T10:00:00Z"), "a2"));
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
