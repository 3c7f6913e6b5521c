//! Posts announced by a platform's webhook, kept until a poll of their source fetched them
//! (see `sources/announced.rs`). The web listener writes them; the scheduler reads them before
//! a poll and forgets them after the poll's commit, so a kill at any point fetches them again
//! and the mentions' unique external ids keep them stored once.

use rusqlite::params;

use super::{Store, StoreError};
use crate::sources::announced::Announcement;

/// Most announcements handed to one poll; the rest wait for the next.
pub const PER_POLL: usize = 50;

/// Webhook deliveries that announce new posts (Meta's page webhooks), kept until a poll reads them.
pub trait AnnouncedStore {
    /// Keeps announcements `(source, media_id, comment_id)` received at `now`; one already
    /// waiting is not added twice (Meta retries a delivery it thinks failed). Returns how many
    /// were new.
    fn announce(
        &mut self,
        items: &[(String, String, Option<String>)],
        now: i64,
    ) -> Result<usize, StoreError>;

    /// The oldest `PER_POLL` announcements waiting for `source`.
    fn announced(&self, source: &str) -> Result<Vec<Announcement>, StoreError>;

    /// Forgets announcements `ids`: their poll has been committed.
    fn forget_announced(&mut self, ids: &[i64]) -> Result<(), StoreError>;
}

impl AnnouncedStore for Store {
    fn announce(
        &mut self,
        items: &[(String, String, Option<String>)],
        now: i64,
    ) -> Result<usize, StoreError> {
        // One statement, so a delivery is kept whole or not at all (Meta then delivers again).
        let rows = serde_json::to_string(items).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO announced_mentions (source, media_id, comment_id, received_at)
                 SELECT j.value ->> 0, j.value ->> 1, coalesce(j.value ->> 2, ''), ?2
                 FROM json_each(?1) j WHERE true ON CONFLICT DO NOTHING",
                params![rows, now],
            )
            .map_err(self.err())
    }

    fn announced(&self, source: &str) -> Result<Vec<Announcement>, StoreError> {
        self.query_all(
            "SELECT id, source, media_id, comment_id FROM announced_mentions
                 WHERE source = ?1 ORDER BY id LIMIT ?2",
            params![source, PER_POLL as i64],
            |r| {
                let comment: String = r.get(3)?;
                Ok(Announcement {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    media_id: r.get(2)?,
                    comment_id: (!comment.is_empty()).then_some(comment),
                })
            },
        )
    }

    fn forget_announced(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = serde_json::to_string(ids).unwrap_or_default();
        self.conn
            .execute(
                "DELETE FROM announced_mentions WHERE id IN (SELECT value FROM json_each(?1))",
                [ids],
            )
            .map_err(self.err())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::AnnouncedStore;
    use crate::store::testing;

    #[test]
    fn announcements_are_kept_once_handed_out_oldest_first_and_forgotten() {
        let (_dir, mut s) = testing::temp_store();
        let caption = ("ig".to_string(), "1790".to_string(), None);
        let comment = (
            "ig".to_string(),
            "1790".to_string(),
            Some("1801".to_string()),
        );
        let other = ("fb".to_string(), "9".to_string(), None);
        assert_eq!(
            s.announce(&[caption.clone(), comment.clone(), other], 10)
                .unwrap(),
            3
        );
        // Meta delivers again: nothing new.
        assert_eq!(s.announce(&[caption, comment], 20).unwrap(), 0);
        let waiting = s.announced("ig").unwrap();
        assert_eq!(waiting.len(), 2);
        assert_eq!(waiting[0].comment_id, None);
        assert_eq!(waiting[1].comment_id.as_deref(), Some("1801"));
        s.forget_announced(&[waiting[0].id]).unwrap();
        assert_eq!(s.announced("ig").unwrap(), waiting[1..]);
        assert_eq!(s.announced("fb").unwrap().len(), 1);
    }
}
