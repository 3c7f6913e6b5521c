//! Posts a platform announced by webhook instead of listing them: Instagram's `mentions`
//! webhook names the media (caption) or comment that @mentions the brand's account, and that
//! id is the only way to read it. The web listener keeps each announcement in the database
//! (`store/announced.rs`) and the scheduler hands it to the next poll of its source
//! ([`super::Source::poll_announced`]).

/// One announced post, as the webhook named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Row id, for forgetting it once fetched.
    pub id: i64,
    /// The source it belongs to.
    pub source: String,
    /// The media whose caption mentions the account, or that carries the comment.
    pub media_id: String,
    /// The comment that mentions the account; `None` for a caption mention.
    pub comment_id: Option<String>,
}
