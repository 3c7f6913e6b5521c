//! Sources: the platforms webcare reads public mentions from.
//!
//! Every platform implements [`Source`] and [`SourceKind`] in one file of this folder and
//! registers itself with one line in [`KINDS`]. The scheduler calls [`Source::poll`] with the cursor it stored last time and gets back
//! normalised [`Mention`]s plus the cursor to store with them, in the same transaction.

pub mod announced;
pub mod app_store;
pub mod bluesky;
pub(crate) mod checks;
pub mod facebook_page;
#[cfg(test)]
pub(crate) mod fake;
pub mod feed;
pub mod google_business;
pub(crate) mod google_oauth;
pub mod google_play;
pub(crate) mod graph;
pub mod hackernews;
pub mod http;
pub mod instagram;
pub mod mastodon;
pub(crate) mod newest_first;
pub mod own_reply;
pub mod reddit;
pub(crate) mod review;
pub mod rss;
#[cfg(test)]
pub(crate) mod testing;
pub mod text;
pub mod threads;
pub mod trustpilot;
pub mod x;
pub mod youtube;

use crate::sources::checks::Check;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{ConfigErrors, SourceConfig, parse_at};
use crate::secret::Secrets;
use http::Client;

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
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
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
    /// The mentions of a big fetched document, still to be read: the commit reads them part
    /// by part while the writer stores the parts before. A source that sets it leaves
    /// `mentions` empty (else the document is read whole before the commit).
    pub unread: Option<Box<dyn Unread>>,
}

/// Mentions a source hands over unread: a fetched document so big that reading it whole before
/// the commit starts would leave the writer idle meanwhile. The commit reads it part by part
/// instead (`scheduler::Matching::commit_unread`), and falls back to [`Unread::read_all`]
/// whenever the streamed read cannot give what the whole read gives.
pub trait Unread: Send + Sync {
    /// Reads the mentions in document order, handing them to `take` about `part` at a time,
    /// until `take` returns false. Returns the own replies seen (as [`Batch::own_replies`]), or
    /// [`Restart`] when the mentions handed over may differ from the whole read's (a read
    /// error, an id that only the whole document can settle, or `take` stopped it): then none
    /// of them may be kept.
    fn stream(
        &self,
        part: usize,
        take: &mut dyn FnMut(Vec<Mention>) -> bool,
    ) -> Result<Vec<OwnReply>, Restart>;

    /// Reads the whole document: the mentions and own replies the source would have put in
    /// its [`Batch`], or the error the poll fails with.
    fn read_all(&self) -> Result<(Vec<Mention>, Vec<OwnReply>), SourceError>;
}

impl std::fmt::Debug for dyn Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unread")
    }
}

/// A streamed read that must be done again whole (see [`Unread::stream`]).
#[derive(Debug)]
pub struct Restart;

/// Everything a source gets from the scheduler for one poll.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// The cursor stored after the last successful poll; `None` on first start.
    pub cursor: Option<String>,
    /// How far back to read on first start.
    pub backfill: Duration,
}

impl PollContext {
    /// The stored cursor read as the source's own cursor type; a first poll, or a cursor an
    /// older or newer version wrote in another shape, starts from `C::default()`.
    pub fn stored_cursor<C: DeserializeOwned + Default>(&self) -> C {
        self.cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }

    /// How far back a first read goes, seen from `now`.
    pub fn backfill_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.backfill).unwrap_or_default()
    }
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

/// A platform webcare can read: its name in `kind = "…"`, its own settings, how they are
/// checked and how a source is built from them. One implementation per file in
/// `src/sources/`, registered by one line in [`KINDS`]; the registry does the rest (taking the
/// secrets out, deserialising the settings with key paths in every error, building).
pub trait SourceKind: Source + Sized + 'static {
    /// The kind's name in the config, e.g. `"trustpilot"`.
    const KIND: &'static str;
    /// The secrets the kind reads, each named in the config by `<key>_env` or `<key>_file`
    /// (see [`SecretRef`](crate::secret::SecretRef)); they are taken out of the settings before
    /// [`Self::Settings`] is read, so that struct holds no secret keys.
    const SECRETS: &'static [&'static str] = &[];
    /// True for review sites and app stores, whose mentions carry a star rating (the web inbox
    /// then offers to filter by stars).
    const RATED: bool = false;
    /// The kind's own keys (the common ones are in [`SourceConfig`]).
    type Settings: DeserializeOwned;
    /// What [`Self::check`] found beyond the settings that [`Self::build`] needs: resolved
    /// secrets, parsed keys. `()` when there is nothing.
    type Checked;

    /// Checks the settings' values and resolves the secrets, recording every problem through
    /// `cx` under the source's path (e.g. `sources[2]`). Returns `None` when something `build`
    /// needs is missing.
    fn check(settings: &Self::Settings, cx: &mut Check<'_>) -> Option<Self::Checked>;

    /// Builds the source from settings [`Self::check`] found no problem in, with a `client`
    /// that already applies the source's `timeout` and `max_body_bytes`.
    fn build(
        settings: Self::Settings,
        checked: Self::Checked,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<Self>;

    /// Checks a source config of this kind, recording every problem in `errors` under `path`
    /// (e.g. `sources[2]`): the secrets are taken out, the rest read as [`Self::Settings`] and
    /// given to [`Self::check`].
    fn validate(source: &SourceConfig, path: &str, errors: &mut ConfigErrors) {
        parse_kind::<Self>(source, path, errors);
    }

    /// Builds a source of this kind from its config, or says every problem that stops it.
    fn from_config(source: &SourceConfig, client: Client) -> anyhow::Result<Self> {
        let mut errors = ConfigErrors::default();
        match parse_kind::<Self>(source, &source.name, &mut errors) {
            Some((settings, checked)) if errors.is_empty() => {
                let client = client.limited(source.timeout, source.max_body_bytes);
                Self::build(settings, checked, source, client)
            }
            _ => anyhow::bail!("{errors}"),
        }
    }

    /// What a source has spent of a paid or metered platform budget, from its stored cursor
    /// (see [`usage_note`]). `None` for free platforms.
    fn usage_note(_settings: &serde_json::Map<String, Value>, _cursor: &str) -> Option<String> {
        None
    }

    /// Settings that point a source of this kind at the test server `base`, with every secret
    /// read from `secret_file`, for the conformance suite in [`testing`].
    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> Value;
}

/// One registered kind: its name and the registry's functions for it, made by `kind`.
pub struct Kind {
    /// The kind's name in the config.
    pub name: &'static str,
    /// Its mentions carry a star rating ([`SourceKind::RATED`]).
    pub rated: bool,
    check: fn(&SourceConfig, &str, &mut ConfigErrors),
    build: fn(&SourceConfig, &Client) -> anyhow::Result<Box<dyn Source>>,
    usage_note: fn(&serde_json::Map<String, Value>, &str) -> Option<String>,
    #[cfg(test)]
    conformance_settings: fn(&str, &str) -> Value,
}

/// The registry entry of kind `K`.
const fn kind<K: SourceKind>() -> Kind {
    Kind {
        name: K::KIND,
        rated: K::RATED,
        check: K::validate,
        build: build_kind::<K>,
        usage_note: K::usage_note,
        #[cfg(test)]
        conformance_settings: K::conformance_settings,
    }
}

/// The source kinds this build knows. Adding a platform adds one line here.
pub const KINDS: &[Kind] = &[
    kind::<rss::RssSource>(),
    kind::<hackernews::HackerNewsSource>(),
    kind::<mastodon::MastodonSource>(),
    kind::<bluesky::BlueskySource>(),
    kind::<x::XSource>(),
    kind::<youtube::YoutubeSource>(),
    kind::<facebook_page::FacebookPageSource>(),
    kind::<reddit::RedditSource>(),
    kind::<instagram::InstagramSource>(),
    kind::<app_store::AppStoreSource>(),
    kind::<trustpilot::TrustpilotSource>(),
    kind::<google_play::GooglePlaySource>(),
    kind::<google_business::GoogleBusinessSource>(),
    kind::<threads::ThreadsSource>(),
];

/// The names of the kinds this build knows, for messages and `--help`.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// True when sources of kind `name` give star ratings (review sites, app stores).
pub fn gives_ratings(name: &str) -> bool {
    find_kind(name).is_some_and(|k| k.rated)
}

/// The registered kind called `name`.
fn find_kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// Takes the secrets out of a source's settings, reads the rest as `K::Settings` and checks
/// them; `None` when the settings cannot be read or `check` found something `build` needs
/// missing (every problem is in `errors`).
fn parse_kind<K: SourceKind>(
    source: &SourceConfig,
    path: &str,
    errors: &mut ConfigErrors,
) -> Option<(K::Settings, K::Checked)> {
    let mut map = source.settings.clone();
    let secrets = Secrets::take(&mut map, path, K::SECRETS, errors);
    let settings = parse_at::<K::Settings>(Value::Object(map), path, errors)?;
    let checked = K::check(&settings, &mut Check::new(path, &secrets, errors))?;
    Some((settings, checked))
}

/// [`SourceKind::from_config`], boxed for the registry.
fn build_kind<K: SourceKind>(
    source: &SourceConfig,
    client: &Client,
) -> anyhow::Result<Box<dyn Source>> {
    Ok(Box::new(K::from_config(source, client.clone())?))
}

/// Checks the kind-specific keys of a source config, recording every problem in `errors`.
/// `path` is the config path of the source, e.g. `sources[2]`.
pub fn validate(source: &SourceConfig, path: &str, errors: &mut ConfigErrors) {
    match find_kind(&source.kind) {
        Some(kind) => (kind.check)(source, path, errors),
        None => errors.push(
            format!("{path}.kind"),
            format!(
                "unknown source kind \"{}\"; known kinds: {}",
                source.kind,
                kind_names().join(", ")
            ),
        ),
    }
}

/// Builds the source a validated config describes.
pub fn build(source: &SourceConfig, client: &Client) -> anyhow::Result<Box<dyn Source>> {
    match find_kind(&source.kind) {
        Some(kind) => (kind.build)(source, client),
        None => anyhow::bail!("unknown source kind \"{}\"", source.kind),
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
    (find_kind(&source.kind)?.usage_note)(&source.settings, cursor?)
}
