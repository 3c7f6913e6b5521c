//! Sources: the platforms webcare reads public mentions from.
//!
//! Every platform implements [`Source`] in one file of this folder and registers itself in
//! [`build`]. The scheduler calls [`Source::poll`] with the cursor it stored last time and gets back
//! normalised [`Mention`]s plus the cursor to store with them, in the same transaction.

pub mod announced;
pub mod app_store;
pub mod bluesky;
#[cfg(test)]
mod conformance;
pub mod facebook_page;
pub mod feed;
pub mod google_business;
pub(crate) mod google_oauth;
pub mod google_play;
pub mod hackernews;
pub mod http;
pub mod instagram;
pub mod mastodon;
pub(crate) mod newest_first;
pub mod own_reply;
pub mod reddit;
pub mod rss;
#[cfg(test)]
pub(crate) mod testing;
pub mod text;
pub mod threads;
pub mod trustpilot;
pub mod x;
pub mod youtube;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigErrors, SourceConfig};

pub use own_reply::OwnReply;

/// One public post or comment, normalised from any platform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// Platform-stable id; unique per source.
    pub external_id: String,
    /// A link a person can open to read and answer the mention.
    pub url: Option<String>,
    /// The author's handle on the platform (without a leading `@`).
    pub author_handle: Option<String>,
    /// The author's display name.
    pub author_name: Option<String>,
    /// Followers, subscribers or karma: how many people the author reaches.
    pub author_reach: Option<i64>,
    /// Language as the platform reports it (ISO 639-1), if it does.
    pub lang: Option<String>,
    /// Headline of a story or video, when the platform has one apart from the text.
    pub title: Option<String>,
    /// The text as plain text (HTML already turned into text).
    pub text: String,
    /// When the author posted it.
    pub created_at: DateTime<Utc>,
    /// External id or URL of the post this one answers, for thread context.
    pub in_reply_to: Option<String>,
    /// Likes, replies, reposts, score: whatever the platform counts.
    pub engagement: Engagement,
    /// A review's star rating, 1 (worst) to 5, from review sites and app stores; `None` for
    /// posts and comments, which have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// The platform's own payload for this item; the store keeps it bounded.
    pub raw: serde_json::Value,
}

/// Engagement counts a platform reports for a mention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    /// Likes, favourites, upvotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likes: Option<i64>,
    /// Replies or comments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<i64>,
    /// Reposts, boosts, retweets, shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reposts: Option<i64>,
}

/// What one poll of a source produced.
#[derive(Debug, Default)]
pub struct Batch {
    /// The items read, newest or oldest first; the store ignores ones it already has.
    pub mentions: Vec<Mention>,
    /// The cursor to store with these mentions. `None` keeps the previous cursor.
    pub cursor: Option<String>,
    /// When the source wants to be polled next (rate-limit budget, platform hints), if it cares.
    pub next_poll_in: Option<Duration>,
    /// True when the source has more pages waiting and wants to be polled again soon.
    pub more: bool,
    /// Replies by the brand's own accounts seen in this poll; the store marks the posts they
    /// answer as answered (see [`own_reply`]). The replies themselves are not in `mentions`.
    pub own_replies: Vec<OwnReply>,
}

/// Everything a source gets from the scheduler for one poll.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// The cursor stored after the last successful poll; `None` on first start.
    pub cursor: Option<String>,
    /// How far back to read on first start.
    pub backfill: Duration,
}

/// Why a poll failed. The scheduler logs it, backs off and keeps the cursor where it was.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The platform said to slow down (429, quota). Poll again no sooner than `retry_after`.
    #[error("rate limited{}", .retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// The server answered with an HTTP error status.
    #[error("HTTP {status} from {url}{}", .retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    Status {
        status: u16,
        url: String,
        retry_after: Option<Duration>,
    },
    /// Credentials were refused or a login is missing; a person must fix them, so the
    /// scheduler waits its longest backoff rather than retrying soon.
    #[error("{0}")]
    Auth(String),
    /// The server did not answer in time.
    #[error("timed out after {}s waiting for {url}", .after.as_secs())]
    Timeout { url: String, after: Duration },
    /// The response was larger than the configured cap.
    #[error("response from {url} is larger than the {limit} byte limit")]
    TooLarge { url: String, limit: usize },
    /// Network trouble: refused connection, DNS, reset.
    #[error("cannot reach {url}: {message}")]
    Network { url: String, message: String },
    /// The body could not be understood.
    #[error("cannot parse response from {url}: {message}")]
    Parse { url: String, message: String },
}

impl SourceError {
    /// The delay the platform asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::RateLimited { retry_after } | SourceError::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// A platform webcare can poll. One implementation per file in `src/sources/`.
#[async_trait]
pub trait Source: Send + Sync {
    /// Fetch what is new since `ctx.cursor`. Must not store anything itself.
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError>;

    /// Like [`Source::poll`], and also fetches `announced`: posts a platform's webhook named by
    /// id (see [`announced`]), which the source can read only by that id. The scheduler forgets
    /// them once this poll is committed, so a source fetches every one, skips those the
    /// platform no longer serves, or fails the poll to have them all again next time. Sources
    /// without webhooks get none and need not implement it.
    async fn poll_announced(
        &self,
        ctx: &PollContext,
        _announced: &[announced::Announcement],
    ) -> Result<Batch, SourceError> {
        self.poll(ctx).await
    }

    /// Lines `check-config` prints under the source: what it reads, what it needs, what it
    /// will spend of a platform quota. Empty when there is nothing beyond the config to say.
    fn describe(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The source kinds this build knows, for config validation and `--help`.
pub const KINDS: &[&str] = &[
    "rss",
    "hackernews",
    "mastodon",
    "bluesky",
    "x",
    "youtube",
    "facebook_page",
    "reddit",
    "instagram",
    "app_store",
    "trustpilot",
    "google_play",
    "google_business",
    "threads",
];

/// Checks the kind-specific keys of a source config, recording every problem in `errors`.
/// `path` is the config path of the source, e.g. `sources[2]`.
pub fn validate(source: &SourceConfig, path: &str, errors: &mut ConfigErrors) {
    match source.kind.as_str() {
        "rss" => rss::RssSource::validate(source, path, errors),
        "hackernews" => hackernews::HackerNewsSource::validate(source, path, errors),
        "mastodon" => mastodon::MastodonSource::validate(source, path, errors),
        "bluesky" => bluesky::BlueskySource::validate(source, path, errors),
        "x" => x::XSource::validate(source, path, errors),
        "youtube" => youtube::YoutubeSource::validate(source, path, errors),
        "facebook_page" => facebook_page::FacebookPageSource::validate(source, path, errors),
        "reddit" => reddit::RedditSource::validate(source, path, errors),
        "instagram" => instagram::InstagramSource::validate(source, path, errors),
        "app_store" => app_store::AppStoreSource::validate(source, path, errors),
        "trustpilot" => trustpilot::TrustpilotSource::validate(source, path, errors),
        "google_play" => google_play::GooglePlaySource::validate(source, path, errors),
        "google_business" => google_business::GoogleBusinessSource::validate(source, path, errors),
        "threads" => threads::ThreadsSource::validate(source, path, errors),
        other => errors.push(
            format!("{path}.kind"),
            format!(
                "unknown source kind \"{other}\"; known kinds: {}",
                KINDS.join(", ")
            ),
        ),
    }
}

/// Builds the source a validated config describes.
pub fn build(source: &SourceConfig, client: &http::Client) -> anyhow::Result<Box<dyn Source>> {
    match source.kind.as_str() {
        "rss" => Ok(Box::new(rss::RssSource::new(source, client.clone())?)),
        "hackernews" => Ok(Box::new(hackernews::HackerNewsSource::new(
            source,
            client.clone(),
        )?)),
        "mastodon" => Ok(Box::new(mastodon::MastodonSource::new(
            source,
            client.clone(),
        )?)),
        "bluesky" => Ok(Box::new(bluesky::BlueskySource::new(
            source,
            client.clone(),
        )?)),
        "x" => Ok(Box::new(x::XSource::new(source, client.clone())?)),
        "youtube" => Ok(Box::new(youtube::YoutubeSource::new(
            source,
            client.clone(),
        )?)),
        "facebook_page" => Ok(Box::new(facebook_page::FacebookPageSource::new(
            source,
            client.clone(),
        )?)),
        "instagram" => Ok(Box::new(instagram::InstagramSource::new(
            source,
            client.clone(),
        )?)),
        "reddit" => Ok(Box::new(reddit::RedditSource::new(source, client.clone())?)),
        "app_store" => Ok(Box::new(app_store::AppStoreSource::new(
            source,
            client.clone(),
        )?)),
        "trustpilot" => Ok(Box::new(trustpilot::TrustpilotSource::new(
            source,
            client.clone(),
        )?)),
        "google_play" => Ok(Box::new(google_play::GooglePlaySource::new(
            source,
            client.clone(),
        )?)),
        "google_business" => Ok(Box::new(google_business::GoogleBusinessSource::new(
            source,
            client.clone(),
        )?)),
        "threads" => Ok(Box::new(threads::ThreadsSource::new(
            source,
            client.clone(),
        )?)),
        other => anyhow::bail!("unknown source kind \"{other}\""),
    }
}

/// What `check-config` says about a source beyond its config: how it logs in, what it will
/// spend of a platform quota. Builds the source without polling it; a source that cannot be
/// built says why instead.
pub fn describe(source: &SourceConfig, user_agent: &str) -> Vec<String> {
    let built = http::Client::new(user_agent).and_then(|client| build(source, &client));
    match built {
        Ok(s) => s.describe(),
        Err(e) => vec![format!("cannot be built: {e}")],
    }
}

/// What a source has spent of a paid or metered platform budget, from its stored cursor, for
/// `webcare sources` (e.g. posts read on X and what they cost). `None` for free platforms.
pub fn usage_note(source: &SourceConfig, cursor: Option<&str>) -> Option<String> {
    match source.kind.as_str() {
        "x" => x::usage_note(&source.settings, cursor?),
        "threads" => threads::usage_note(&source.settings, cursor?),
        _ => None,
    }
}
