//! The opt-out list: authors who asked not to be contacted, per platform. Routing flags their
//! mentions in alerts, the web inbox and `webcare optout` edit the list, and the praise wall
//! leaves them out.

use rusqlite::params;
use serde::Serialize;

use super::row::row_struct;
use super::{Store, StoreError};

row_struct! {
    /// An author who asked not to be contacted.
    #[derive(Debug, Clone, Serialize)]
    pub struct OptOut {
        /// Platform (source kind), e.g. `x`.
        pub platform: String,
        /// Handle, lower case, without `@`.
        pub handle: String,
        /// When it was added (unix seconds).
        pub added_at: i64,
        /// Who added it.
        pub added_by: Option<String>,
    }
}

impl OptOut {
    /// `handle` on `platform`, put on the list by `by` at `at` (unix seconds).
    pub fn new(platform: &str, handle: &str, by: &str, at: i64) -> OptOut {
        let (platform, handle) = optout_key(platform, handle);
        OptOut {
            platform,
            handle,
            added_at: at,
            added_by: Some(by.to_string()),
        }
    }
}

/// How opt-out handles are compared: case-insensitive, `@` optional.
pub fn optout_key(platform: &str, handle: &str) -> (String, String) {
    (
        platform.trim().to_lowercase(),
        handle.trim().trim_start_matches('@').to_lowercase(),
    )
}

/// Authors who asked not to be contacted or alerted on.
pub trait OptOutStore {
    /// Adds an author to the opt-out list (platform and handle compared as [`optout_key`]
    /// says); false when they were on it already.
    fn add_optout(&self, entry: &OptOut) -> Result<bool, StoreError>;

    /// Removes an author from the opt-out list; false when they were not on it.
    fn remove_optout(&self, platform: &str, handle: &str) -> Result<bool, StoreError>;

    /// The opt-out list, by platform and handle.
    fn optouts(&self) -> Result<Vec<OptOut>, StoreError>;
}

impl OptOutStore for Store {
    fn add_optout(&self, entry: &OptOut) -> Result<bool, StoreError> {
        let (p, h) = optout_key(&entry.platform, &entry.handle);
        self.conn
            .execute(
                "INSERT INTO optouts (platform, handle, added_at, added_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![p, h, entry.added_at, entry.added_by],
            )
            .map(|n| n > 0)
            .map_err(self.err())
    }

    fn remove_optout(&self, platform: &str, handle: &str) -> Result<bool, StoreError> {
        let (p, h) = optout_key(platform, handle);
        self.conn
            .execute(
                "DELETE FROM optouts WHERE platform = ?1 AND handle = ?2",
                params![p, h],
            )
            .map(|n| n > 0)
            .map_err(self.err())
    }

    fn optouts(&self) -> Result<Vec<OptOut>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {} FROM optouts ORDER BY platform, handle",
                OptOut::COLUMNS
            ),
            [],
            OptOut::from_row,
        )
    }
}
