//! What the near-duplicate check reads: the texts of mentions alerted recently, read
//! incrementally by outbox row, so the router keeps its index of earlier alerts up to date with
//! one range scan on the outbox's primary key instead of re-reading the whole window each pass.

use super::row::row_struct;
use super::{Store, StoreError};

row_struct! {
    /// A mention that raised an alert, as the near-duplicate index needs it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AlertedText {
        /// The outbox row that records the alert; the next read starts after it.
        pub outbox_id: i64,
        /// When the alert was queued (epoch seconds).
        pub alerted_at: i64,
        /// The alerted mention.
        pub mention_id: i64,
        /// Its text.
        pub text: String,
    }
}

/// The texts alerted on recently, for the near-duplicate check of a new alert.
pub trait LeadStore {
    /// Alerts queued after outbox row `after` and at or after `since`, for mentions that are
    /// not themselves duplicates, in outbox order; at most `limit` rows.
    fn alerted_texts(
        &self,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AlertedText>, StoreError>;
}

impl LeadStore for Store {
    fn alerted_texts(
        &self,
        after: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AlertedText>, StoreError> {
        self.query_all(
            "SELECT o.id AS outbox_id, o.created_at AS alerted_at, m.id AS mention_id, m.text
             FROM outbox o JOIN mentions m ON m.id = o.mention_id
             WHERE o.id > ?1 AND o.created_at >= ?2 AND o.kind = 'alert' AND m.duplicate_of IS NULL
             ORDER BY o.id LIMIT ?3",
            rusqlite::params![after, since, limit as i64],
            AlertedText::from_row,
        )
    }
}
