//! Reddit: post search (`/search`, `sort=new`, optionally inside chosen subreddits) and the
//! comment stream of those subreddits (`/r/a+b/comments`), through the OAuth API with an
//! application-only token (client credentials).
//!
//! Listings come newest first, so each stream keeps the `created_utc` of the newest item read
//! and pages with `after` until it reaches items older than that. A stream that runs out of
//! pages keeps its `after` anchor and finishes the window on the next poll.

use crate::sources::checks::Check;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, USER_AGENT};
use serde::{Deserialize, Serialize};

use super::http::{Client, Fetched, parse_rate_limit_reset};
use super::newest_first::Seen;
use super::{Batch, Engagement, Mention, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

const DEFAULT_BASE_URL: &str = "https://oauth.reddit.com";
const DEFAULT_AUTH_URL: &str = "https://www.reddit.com";
const WEB: &str = "https://www.reddit.com";
/// Stop paging when the request budget falls to this many.
const LOW_REMAINING: f64 = 5.0;

/// Keys of a `reddit` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditSettings {
    /// Search words (Reddit search syntax: `"exact phrase"`, `OR`, `-word`).
    pub query: String,
    /// The app's client id (not secret), from reddit.com/prefs/apps.
    pub client_id: String,
    /// Only search inside these subreddits (names without `r/`); empty searches all of Reddit.
    #[serde(default)]
    pub subreddits: Vec<String>,
    /// Also read every new comment in `subreddits`. Default: true when subreddits are given.
    pub comments: Option<bool>,
    /// Sent as User-Agent; Reddit blocks generic ones. Default names webcare and the client id.
    pub user_agent: Option<String>,
    /// API host.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Host that issues tokens.
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// Items per request, 1 to 100.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Requests per stream per poll before the rest is left for the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_auth_url() -> String {
    DEFAULT_AUTH_URL.to_string()
}
fn default_limit() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    5
}

/// Per-stream positions, keyed `posts` and `comments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct RedditCursor {
    #[serde(default)]
    streams: BTreeMap<String, StreamCursor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StreamCursor {
    /// Read items created at or after this time (epoch seconds).
    since: i64,
    /// Fullnames created exactly at `since` that were read already.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
    /// An unfinished window: continue after this fullname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<Resume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Resume {
    after: String,
    newest: i64,
    #[serde(default)]
    newest_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    after: Option<String>,
    #[serde(default)]
    children: Vec<Thing>,
}

#[derive(Debug, Deserialize)]
struct Thing {
    kind: String,
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Item {
    name: String,
    created_utc: f64,
    author: Option<String>,
    title: Option<String>,
    selftext: Option<String>,
    body: Option<String>,
    url: Option<String>,
    is_self: Option<bool>,
    permalink: Option<String>,
    parent_id: Option<String>,
    score: Option<i64>,
    num_comments: Option<i64>,
    subreddit_subscribers: Option<i64>,
    removed_by_category: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

struct AppToken {
    value: String,
    expires_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stream {
    Posts,
    Comments,
}

impl Stream {
    fn key(self) -> &'static str {
        match self {
            Stream::Posts => "posts",
            Stream::Comments => "comments",
        }
    }
}

/// A Reddit search (and subreddit comment stream).
pub struct RedditSource {
    name: String,
    settings: RedditSettings,
    secret: Secret,
    user_agent: String,
    token: tokio::sync::Mutex<Option<AppToken>>,
    client: Client,
}

fn subreddit_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SourceKind for RedditSource {
    const KIND: &'static str = "reddit";
    /// The app's client secret: `client_secret_env` or `client_secret_file`.
    const SECRETS: &'static [&'static str] = &["client_secret"];
    type Settings = RedditSettings;
    type Checked = Secret;

    fn check(s: &RedditSettings, cx: &mut Check<'_>) -> Option<Secret> {
        cx.not_blank("query", &s.query, "it is what Reddit is searched for");
        cx.not_blank(
            "client_id",
            &s.client_id,
            "create an app at https://www.reddit.com/prefs/apps",
        );
        let secret = cx.secret("client_secret", true);
        for sub in &s.subreddits {
            let name = sub.trim_start_matches("/r/").trim_start_matches("r/");
            if !subreddit_ok(name) {
                cx.problem("subreddits", format!("\"{sub}\" is not a subreddit name"));
            }
        }
        if s.comments == Some(true) && s.subreddits.is_empty() {
            cx.problem(
                "comments",
                "reading comments needs subreddits = [\"…\"]: Reddit has no comment search",
            );
        }
        if let Some(ua) = &s.user_agent
            && ua.trim().len() < 10
        {
            cx.problem("user_agent", "Reddit blocks short generic agents; use e.g. \"linux:webcare-fjordlink:1.0 (by /u/yourname)\"",
            );
        }
        cx.http_urls(&[
            ("base_url", Some(&s.base_url)),
            ("auth_url", Some(&s.auth_url)),
        ]);
        cx.in_range("limit", s.limit, 1..=100, "use");
        cx.at_least_one("max_pages", s.max_pages);
        secret
    }

    fn build(
        settings: RedditSettings,
        secret: Secret,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<RedditSource> {
        let user_agent = settings.user_agent.clone().unwrap_or_else(|| {
            format!(
                "server:webcare.{}:v{} (self-hosted webcare mention monitor)",
                settings.client_id,
                env!("CARGO_PKG_VERSION")
            )
        });
        Ok(RedditSource {
            name: source.name.clone(),
            settings,
            secret,
            user_agent,
            token: tokio::sync::Mutex::new(None),
            client,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "query": "fjordlink", "client_id": "conformance-client",
            "client_secret_file": secret_file, "base_url": base, "auth_url": base
        })
    }
}

impl RedditSource {
    fn rejected(&self) -> SourceError {
        SourceError::Auth(format!(
            "reddit: token rejected (401); check credentials client_id and client_secret_env/client_secret_file of source {}",
            self.name
        ))
    }

    fn subreddits(&self) -> String {
        self.settings
            .subreddits
            .iter()
            .map(|s| s.trim_start_matches("/r/").trim_start_matches("r/"))
            .collect::<Vec<_>>()
            .join("+")
    }

    fn reads_comments(&self) -> bool {
        self.settings
            .comments
            .unwrap_or(!self.settings.subreddits.is_empty())
            && !self.settings.subreddits.is_empty()
    }

    /// Asks for a new application-only token.
    async fn fetch_token(&self) -> Result<AppToken, SourceError> {
        let url = format!(
            "{}/api/v1/access_token",
            self.settings.auth_url.trim_end_matches('/')
        );
        let req = self
            .client
            .request(reqwest::Method::POST, &url)
            .header(USER_AGENT, &self.user_agent)
            .basic_auth(&self.settings.client_id, Some(self.secret.expose()))
            .form(&[("grant_type", "client_credentials")]);
        let resp = self.client.send(req).await?;
        match resp.status {
            200..=299 => {}
            400 | 401 | 403 => {
                return Err(SourceError::Auth(format!(
                    "reddit: client credentials rejected ({}) by {}; check credentials client_id and client_secret_env/client_secret_file of source {}",
                    resp.status, self.settings.auth_url, self.name
                )));
            }
            _ => return Err(resp.unexpected_status()),
        }
        let t: TokenResponse = resp.json()?;
        let Some(value) = t.access_token.filter(|v| !v.is_empty()) else {
            return Err(self.rejected());
        };
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
        Ok(AppToken {
            value,
            // Renew a minute early so a request never goes out with a token about to expire.
            expires_at: Instant::now() + lifetime.saturating_sub(Duration::from_secs(60)),
        })
    }

    async fn send_listing(
        &self,
        path: &str,
        params: &[(&str, String)],
        token: &str,
    ) -> Result<Fetched, SourceError> {
        let url = format!("{}{path}", self.settings.base_url.trim_end_matches('/'));
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(params)
            .header(USER_AGENT, &self.user_agent)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        self.client.send(req).await
    }

    /// One listing request with a valid token; a refused token is renewed once.
    async fn listing(&self, path: &str, params: &[(&str, String)]) -> Result<Fetched, SourceError> {
        let mut token = self.token.lock().await;
        if token
            .as_ref()
            .is_none_or(|t| t.expires_at <= Instant::now())
        {
            *token = Some(self.fetch_token().await?);
        }
        let value = token.as_ref().map(|t| t.value.clone()).unwrap_or_default();
        let mut resp = self.send_listing(path, params, &value).await?;
        if resp.status == 401 {
            *token = Some(self.fetch_token().await?);
            let value = token.as_ref().map(|t| t.value.clone()).unwrap_or_default();
            resp = self.send_listing(path, params, &value).await?;
            if resp.status == 401 {
                *token = None;
                return Err(self.rejected());
            }
        }
        match resp.status {
            200..=299 => Ok(resp),
            _ => Err(resp.unexpected_status()),
        }
    }

    /// Reads one stream newest first down to its cursor.
    async fn poll_stream(
        &self,
        stream: Stream,
        state: Option<&StreamCursor>,
        cutoff: i64,
        mentions: &mut Vec<Mention>,
        wait: &mut Option<Duration>,
    ) -> Result<(StreamCursor, bool), SourceError> {
        let since = state.map_or(cutoff, |s| s.since);
        let seen: HashSet<&str> = state
            .map(|s| s.seen.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let resume = state.and_then(|s| s.resume.clone());
        let mut after = resume.as_ref().map(|r| r.after.clone());
        let mut run = Run::resuming(resume.as_ref());
        let (path, base_params) = self.stream_request(stream);
        let mut finished = false;
        for _ in 0..self.settings.max_pages {
            let mut params = base_params.clone();
            if let Some(a) = &after {
                params.push(("after", a.clone()));
            }
            let resp = self.listing(&path, &params).await?;
            *wait = budget_wait(&resp.headers).or(*wait);
            let listing: Listing = resp.json()?;
            let reached_cursor = run.read_page(&listing, since, &seen, mentions);
            after = listing.data.after.filter(|a| !a.is_empty());
            if reached_cursor || after.is_none() {
                finished = true;
                break;
            }
            if wait.is_some() {
                break;
            }
        }
        let after = if finished { None } else { after };
        let next = run.next_cursor(state, since, after);
        let more = next.resume.is_some() && wait.is_none();
        Ok((next, more))
    }

    /// The listing path and query of `stream`, before paging: a search of all of Reddit or of
    /// the configured subreddits, or their comment stream.
    fn stream_request(&self, stream: Stream) -> (String, Vec<(&'static str, String)>) {
        let subs = self.subreddits();
        let (path, mut params) = match stream {
            Stream::Posts if subs.is_empty() => (
                "/search".to_string(),
                vec![("restrict_sr", "0".to_string())],
            ),
            Stream::Posts => (
                format!("/r/{subs}/search"),
                vec![("restrict_sr", "1".to_string())],
            ),
            Stream::Comments => (format!("/r/{subs}/comments"), Vec::new()),
        };
        if stream == Stream::Posts {
            params.push(("q", self.settings.query.clone()));
            params.push(("sort", "new".to_string()));
            params.push(("type", "link".to_string()));
        }
        params.push(("limit", self.settings.limit.to_string()));
        params.push(("raw_json", "1".to_string()));
        (path, params)
    }
}

/// One run down a stream, over one or more polls: the newest item it has read (where the
/// next run stops) and the ids read in this poll.
struct Run {
    newest: Seen<i64>,
    ids: HashSet<String>,
}

impl Run {
    /// A run going on where `resume` left it, or a new one.
    fn resuming(resume: Option<&Resume>) -> Run {
        let newest = match resume {
            Some(r) => Seen {
                newest: Some(r.newest),
                at_newest: r.newest_ids.clone(),
            },
            None => Seen::default(),
        };
        Run {
            newest,
            ids: HashSet::new(),
        }
    }

    /// Takes the new items of one page into `mentions`; true when the page reached the
    /// cursor (an item older than `since` or one already `seen`), so it is the last.
    fn read_page(
        &mut self,
        listing: &Listing,
        since: i64,
        seen: &HashSet<&str>,
        mentions: &mut Vec<Mention>,
    ) -> bool {
        let mut reached_cursor = listing.data.children.is_empty();
        for thing in &listing.data.children {
            let Ok(item) = serde_json::from_value::<Item>(thing.data.clone()) else {
                continue;
            };
            let created = item.created_utc.floor() as i64;
            if created < since {
                reached_cursor = true;
                continue;
            }
            self.newest.record(created, &item.name);
            if seen.contains(item.name.as_str()) {
                // Everything after an item already read is older; its page is the last.
                reached_cursor = true;
                continue;
            }
            if !self.ids.insert(item.name.clone()) {
                continue;
            }
            if let Some(m) = to_mention(&thing.kind, item, &thing.data) {
                mentions.push(m);
            }
        }
        reached_cursor
    }

    /// The stream's cursor after this poll: going on at `after` when the run was cut short,
    /// otherwise starting the next run at the newest item read.
    fn next_cursor(
        self,
        state: Option<&StreamCursor>,
        since: i64,
        after: Option<String>,
    ) -> StreamCursor {
        let seen = || state.map(|s| s.seen.clone()).unwrap_or_default();
        let Seen {
            newest,
            at_newest: newest_ids,
        } = self.newest;
        match (after, newest) {
            (Some(a), Some(n)) => StreamCursor {
                since,
                seen: seen(),
                resume: Some(Resume {
                    after: a,
                    newest: n,
                    newest_ids,
                }),
            },
            (_, None) => StreamCursor {
                since,
                seen: seen(),
                resume: None,
            },
            (_, Some(n)) if n == since => {
                let mut all = seen();
                for id in newest_ids {
                    if !all.contains(&id) {
                        all.push(id);
                    }
                }
                StreamCursor {
                    since,
                    seen: all,
                    resume: None,
                }
            }
            (_, Some(n)) => StreamCursor {
                since: n,
                seen: newest_ids,
                resume: None,
            },
        }
    }
}

/// How long to wait when `X-Ratelimit-Remaining` says the budget is nearly spent.
fn budget_wait(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let remaining = get("x-ratelimit-remaining")?.trim().parse::<f64>().ok()?;
    if remaining > LOW_REMAINING {
        return None;
    }
    Some(
        get("x-ratelimit-reset")
            .and_then(|v| parse_rate_limit_reset(v, Utc::now()))
            .unwrap_or(Duration::from_secs(600)),
    )
}

fn gone(s: &str) -> bool {
    matches!(s.trim(), "[deleted]" | "[removed]")
}

/// Normalises a post (`t3`) or comment (`t1`); `None` for deleted and removed ones.
fn to_mention(kind: &str, item: Item, raw: &serde_json::Value) -> Option<Mention> {
    let author = item.author.filter(|a| !gone(a))?;
    if item.removed_by_category.is_some() {
        return None;
    }
    let created_at = DateTime::<Utc>::from_timestamp(item.created_utc.floor() as i64, 0)?;
    let url = item.permalink.as_ref().map(|p| format!("{WEB}{p}"));
    let (title, text, in_reply_to, reach) = match kind {
        "t1" => {
            let body = item.body.unwrap_or_default();
            if gone(&body) || body.trim().is_empty() {
                return None;
            }
            (None, body, item.parent_id, None)
        }
        "t3" => {
            let selftext = item.selftext.unwrap_or_default();
            if gone(&selftext) {
                return None;
            }
            let text = if selftext.trim().is_empty() && item.is_self != Some(true) {
                // A link post: its text is where it points.
                item.url.unwrap_or_default()
            } else {
                selftext
            };
            (item.title, text, None, item.subreddit_subscribers)
        }
        _ => return None,
    };
    Some(Mention {
        external_id: item.name,
        url,
        author_handle: Some(author),
        author_reach: reach,
        title: title.filter(|t| !t.trim().is_empty()),
        text: text.trim().to_string(),
        created_at,
        in_reply_to,
        engagement: Engagement {
            likes: item.score,
            replies: item.num_comments.filter(|_| kind == "t3"),
            ..Default::default()
        },
        raw: raw.clone(),
        ..Default::default()
    })
}

#[async_trait]
impl Source for RedditSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let cursor: RedditCursor = ctx.stored_cursor();
        let cutoff = (Utc::now()
            - chrono::Duration::from_std(ctx.backfill).unwrap_or(chrono::Duration::days(1)))
        .timestamp();
        let mut streams = vec![Stream::Posts];
        if self.reads_comments() {
            streams.push(Stream::Comments);
        }
        let mut next = RedditCursor::default();
        let mut mentions = Vec::new();
        let mut wait = None;
        let mut more = false;
        for stream in streams {
            let key = stream.key();
            if wait.is_some() {
                // Out of budget: leave this stream where it was.
                if let Some(s) = cursor.streams.get(key) {
                    next.streams.insert(key.to_string(), s.clone());
                }
                continue;
            }
            let (state, unfinished) = self
                .poll_stream(
                    stream,
                    cursor.streams.get(key),
                    cutoff,
                    &mut mentions,
                    &mut wait,
                )
                .await?;
            more |= unfinished;
            next.streams.insert(key.to_string(), state);
        }
        Ok(Batch {
            mentions,
            cursor: Some(serde_json::to_string(&next).unwrap_or_default()),
            next_poll_in: wait,
            more: more && wait.is_none(),
            ..Batch::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{self, ctx, json};
    use wiremock::matchers::{
        body_string, header, method, path, query_param, query_param_is_missing,
    };
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PAGE1: &str = include_str!("../../fixtures/reddit/search-page1.json");
    const PAGE2: &str = include_str!("../../fixtures/reddit/search-page2.json");
    const NEWER: &str = include_str!("../../fixtures/reddit/search-newer.json");
    const EMPTY: &str = include_str!("../../fixtures/reddit/search-empty.json");
    const COMMENTS: &str = include_str!("../../fixtures/reddit/comments-page1.json");
    const TOKEN: &str = include_str!("../../fixtures/reddit/token.json");
    const TOKEN2: &str = include_str!("../../fixtures/reddit/token-2.json");

    const BEARER1: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0.app-token-one.sig";
    const BEARER2: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0.app-token-two.sig";
    /// base64("fjord-client-id:s3cret-value")
    const BASIC: &str = "Basic ZmpvcmQtY2xpZW50LWlkOnMzY3JldC12YWx1ZQ==";

    fn config(settings: serde_json::Value) -> SourceConfig {
        testing::source_config("reddit", "reddit", settings)
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        secret_file: String,
    }

    fn secret() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reddit_client_secret");
        std::fs::write(&p, "s3cret-value\n").unwrap();
        Fixture {
            secret_file: p.display().to_string(),
            _dir: dir,
        }
    }

    fn source(base: &str, f: &Fixture, extra: serde_json::Value) -> RedditSource {
        let s = testing::with_settings(
            serde_json::json!({
                "query": "fjordlink", "client_id": "fjord-client-id", "client_secret_file": f.secret_file,
                "base_url": base, "auth_url": base, "limit": 3
            }),
            extra,
        );
        testing::built(&config(s))
    }

    /// The token endpoint handing out [`TOKEN`] for the client credentials.
    fn token() -> Mock {
        Mock::given(method("POST"))
            .and(path("/api/v1/access_token"))
            .and(header("authorization", BASIC))
            .and(body_string("grant_type=client_credentials"))
            .respond_with(json(TOKEN))
    }

    /// A server with the token endpoint and `mocks` mounted, and a source with the settings
    /// `extra` reading it; the server and secret file live as long as the returned values.
    async fn polling(
        extra: serde_json::Value,
        mocks: impl IntoIterator<Item = Mock>,
    ) -> (MockServer, Fixture, RedditSource) {
        let server = testing::serving(std::iter::once(token()).chain(mocks)).await;
        let f = secret();
        let src = source(&server.uri(), &f, extra);
        (server, f, src)
    }

    /// A mock for a GET of `p`.
    fn get(p: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path(p))
    }

    /// The 401 Reddit answers a token it no longer accepts with.
    fn unauthorized() -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_string(r#"{"message": "Unauthorized", "error": 401}"#)
    }

    fn names(b: &Batch) -> Vec<&str> {
        b.mentions.iter().map(|m| m.external_id.as_str()).collect()
    }

    #[tokio::test]
    async fn first_poll_gets_a_token_and_pages_through_new_posts() {
        let (_server, _f, src) = polling(
            serde_json::json!({}),
            [
                get("/search")
                    .and(header("authorization", BEARER1))
                    .and(header(
                        "user-agent",
                        "server:webcare.fjord-client-id:v0.1.0 (self-hosted webcare mention monitor)",
                    ))
                    .and(query_param("q", "fjordlink"))
                    .and(query_param("sort", "new"))
                    .and(query_param("type", "link"))
                    .and(query_param("limit", "3"))
                    .and(query_param("raw_json", "1"))
                    .and(query_param_is_missing("after"))
                    .respond_with(json(PAGE1))
                    .expect(1),
                get("/search")
                    .and(query_param("after", "t3_1h2i3zz"))
                    .respond_with(json(PAGE2))
                    .expect(1),
            ],
        )
        .await;
        let batch = src.poll(&ctx(None)).await.unwrap();
        // The removed post (on both pages) is skipped.
        assert_eq!(names(&batch), ["t3_1h2k9xa", "t3_1h2j7qm", "t3_1h2gk1b"]);
        assert!(!batch.more);
        let c: RedditCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.streams["posts"].since, 1795608000);
        assert_eq!(c.streams["posts"].seen, ["t3_1h2k9xa"]);
        assert!(!c.streams.contains_key("comments"));
    }

    #[tokio::test]
    async fn posts_and_comments_become_mentions() {
        let (_server, _f, src) = polling(
            serde_json::json!({"subreddits": ["thenetherlands", "r/Fjordlink"]}),
            [
                get("/r/thenetherlands+Fjordlink/search")
                    .and(query_param("restrict_sr", "1"))
                    .respond_with(json(PAGE2))
                    .expect(1),
                get("/r/thenetherlands+Fjordlink/comments")
                    .and(query_param_is_missing("q"))
                    .respond_with(json(COMMENTS))
                    .expect(1),
            ],
        )
        .await;
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(names(&batch), ["t3_1h2gk1b", "t1_m1x9k2a", "t1_m1x7zzb"]);
        let post = &batch.mentions[0];
        assert_eq!(
            post.title.as_deref(),
            Some("Long write-up: six years of Fjordlink fibre")
        );
        assert!(post.text.len() > 4000);
        assert_eq!(post.author_handle.as_deref(), Some("fibre_fan_88"));
        assert_eq!(post.author_reach, Some(4210));
        assert_eq!(
            post.url.as_deref(),
            Some(
                "https://www.reddit.com/r/Fjordlink/comments/1h2gk1b/long_write-up:_six_years_of_fjordlink_fi/"
            )
        );
        assert_eq!(
            post.engagement,
            Engagement {
                likes: Some(12),
                replies: Some(5),
                reposts: None
            }
        );
        let comment = &batch.mentions[1];
        assert_eq!(
            comment.text,
            "Zelfde hier in Amersfoort. Fjordlink zegt 'we werken eraan' 🙄"
        );
        assert_eq!(comment.in_reply_to.as_deref(), Some("t3_1h2gk1b"));
        assert_eq!(
            comment.url.as_deref(),
            Some("https://www.reddit.com/r/Fjordlink/comments/1h2gk1b/comment/m1x9k2a/")
        );
        assert_eq!(comment.title, None);
        assert!(batch.mentions[2].text.starts_with("Ελληνικά ή 日本語"));
        let c: RedditCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.streams["comments"].since, 1795608900);
    }

    #[tokio::test]
    async fn a_link_post_reads_as_its_link_and_script_text_stays_plain() {
        let (_server, _f, src) = polling(
            serde_json::json!({"max_pages": 1}),
            [Mock::given(method("GET"))
                .respond_with(json(PAGE1).insert_header("X-Ratelimit-Remaining", "500"))],
        )
        .await;
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert!(
            batch.mentions[0]
                .text
                .ends_with("<script>alert('x')</script>")
        );
        assert!(batch.mentions[0].text.contains("internet & geen tv"));
        assert_eq!(
            batch.mentions[1].text,
            "https://www.dr.dk/nyheder/penge/fjordlink-haever-prisen"
        );
        assert_eq!(
            batch.mentions[1].title.as_deref(),
            Some("Fjordlink hæver prisen igen 💸")
        );
    }

    #[tokio::test]
    async fn incremental_poll_stops_at_the_cursor() {
        let (_server, _f, src) = polling(
            serde_json::json!({}),
            [get("/search")
                .and(query_param_is_missing("after"))
                .respond_with(json(NEWER))
                .expect(1)],
        )
        .await;
        // NEWER's `after` would lead further back, but the page already reached the cursor.
        let cursor = r#"{"streams":{"posts":{"since":1795608000,"seen":["t3_1h2k9xa"]}}}"#;
        let batch = src.poll(&ctx(Some(cursor))).await.unwrap();
        assert_eq!(names(&batch), ["t3_1h2m4ve"]);
        let c: RedditCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.streams["posts"].since, 1795611600);
        // An older item ends the window even when it is not at the cursor's instant.
        let (_server2, _f2, src2) = polling(
            serde_json::json!({}),
            [Mock::given(method("GET"))
                .respond_with(json(EMPTY))
                .expect(1)],
        )
        .await;
        let batch = src2.poll(&ctx(batch.cursor.as_deref())).await.unwrap();
        assert!(batch.mentions.is_empty());
        let again: RedditCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[tokio::test]
    async fn an_unfinished_window_resumes_after_the_last_item() {
        let (_server, _f, src) = polling(
            serde_json::json!({"max_pages": 1}),
            [
                Mock::given(method("GET"))
                    .and(query_param_is_missing("after"))
                    .respond_with(json(PAGE1))
                    .expect(1),
                Mock::given(method("GET"))
                    .and(query_param("after", "t3_1h2i3zz"))
                    .respond_with(json(PAGE2))
                    .expect(1),
            ],
        )
        .await;
        let first = src
            .poll(&ctx(Some(r#"{"streams":{"posts":{"since":1795500000}}}"#)))
            .await
            .unwrap();
        assert!(first.more);
        assert_eq!(names(&first), ["t3_1h2k9xa", "t3_1h2j7qm"]);
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert!(!second.more);
        assert_eq!(names(&second), ["t3_1h2gk1b"]);
        let c: RedditCursor = serde_json::from_str(second.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.streams["posts"].since, 1795608000);
        assert_eq!(c.streams["posts"].resume, None);
    }

    #[tokio::test]
    async fn an_expired_token_is_renewed_once() {
        let server = testing::serving([
            Mock::given(method("POST"))
                .and(path("/api/v1/access_token"))
                .respond_with(json(TOKEN))
                .up_to_n_times(1)
                .expect(1),
            Mock::given(method("POST"))
                .and(path("/api/v1/access_token"))
                .respond_with(json(TOKEN2))
                .expect(1),
            Mock::given(method("GET"))
                .and(header("authorization", BEARER1))
                .respond_with(unauthorized())
                .expect(1),
            Mock::given(method("GET"))
                .and(header("authorization", BEARER2))
                .respond_with(json(NEWER))
                .expect(1),
        ])
        .await;
        let f = secret();
        let batch = source(&server.uri(), &f, serde_json::json!({}))
            .poll(&ctx(Some(
                r#"{"streams":{"posts":{"since":1795608000,"seen":["t3_1h2k9xa"]}}}"#,
            )))
            .await
            .unwrap();
        assert_eq!(names(&batch), ["t3_1h2m4ve"]);
    }

    #[tokio::test]
    async fn a_token_refused_twice_is_an_auth_error_naming_the_secret() {
        let (_server, _f, src) = polling(
            serde_json::json!({}),
            [Mock::given(method("GET"))
                .respond_with(unauthorized())
                .expect(2)],
        )
        .await;
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "reddit: token rejected (401); check credentials client_id and client_secret_env/client_secret_file of source reddit"
        );
    }

    #[tokio::test]
    async fn wrong_client_credentials_are_an_auth_error_without_the_secret() {
        let server = MockServer::start().await;
        let f = secret();
        // The end-to-end tests' fake refusing the secret (fixtures/reddit/routes.toml).
        crate::sources::fake::mount(&server, "reddit", "revoked").await;
        let err = source(&server.uri(), &f, serde_json::json!({}))
            .poll(&ctx(None))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SourceError::Auth(_)));
        assert!(
            msg.starts_with("reddit: client credentials rejected (401)"),
            "{msg}"
        );
        assert!(
            msg.contains("client_secret_env/client_secret_file"),
            "{msg}"
        );
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[tokio::test]
    async fn a_spent_budget_waits_for_the_reset_and_429_carries_it() {
        let (_server, _f, src) = polling(
            serde_json::json!({"subreddits": ["Fjordlink"]}),
            [get("/r/Fjordlink/search")
                .respond_with(
                    json(PAGE1)
                        .insert_header("X-Ratelimit-Used", "97")
                        .insert_header("X-Ratelimit-Remaining", "3.0")
                        .insert_header("X-Ratelimit-Reset", "412"),
                )
                .expect(1)],
        )
        .await;
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(batch.next_poll_in, Some(Duration::from_secs(412)));
        assert!(!batch.more);
        let c: RedditCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            c.streams["posts"].resume.as_ref().unwrap().after,
            "t3_1h2i3zz"
        );
        // The comment stream was not read, so it has no position yet.
        assert!(!c.streams.contains_key("comments"));

        let (_limited, _f2, limited_src) = polling(
            serde_json::json!({}),
            [Mock::given(method("GET")).respond_with(
                ResponseTemplate::new(429)
                    .insert_header("X-Ratelimit-Remaining", "0")
                    .insert_header("X-Ratelimit-Reset", "95"),
            )],
        )
        .await;
        match limited_src.poll(&ctx(None)).await.unwrap_err() {
            SourceError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(95)))
            }
            other => panic!("expected RateLimited, got {other}"),
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg = config(serde_json::json!({
            "query": "fjordlink", "client_id": "", "comments": true, "subreddits": [], "user_agent": "bot"
        }));
        assert_eq!(
            testing::problem_keys(&cfg),
            ["client_id", "client_secret_env", "comments", "user_agent"]
        );
    }
}
