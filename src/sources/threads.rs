//! Threads (Meta's Threads API on `graph.threads.net`): public posts found by keyword search
//! (`GET /v1.0/keyword_search`, newest first) and posts that @mention the brand's account
//! (`GET /v1.0/{threads-user-id}/mentions`).
//!
//! Both lists are read from `since` (the start of the last complete run, minus an overlap)
//! following `paging.cursors.after`: Threads gives cursors but no `next` link, so a page
//! shorter than `limit` or without an `after` cursor is the last. A run cut short by
//! `max_pages` keeps its cursors and continues on the next poll. Keyword queries are counted
//! against Meta's rolling 24-hour budget per user, and the source stops searching before
//! reaching it while it keeps reading mentions. Posts by `own_accounts` are not mentions; the
//! replies among them (`replied_to`) mark the post they answer answered.
//!
//! With `replies = true` it also reads the conversations under the brand's own posts of the
//! last `reply_window` (`GET /{user-id}/threads`, then `GET /{post-id}/conversation` of each
//! post that has replies): the customers' replies are mentions, and the brand's replies among
//! them mark the post they answer answered, as comments do on the other owned channels.

use crate::sources::checks::Check;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::graph::{GraphError, GraphRefusal, SLOW_DOWN_FOR};
use super::http::{Client, Fetched};
use super::own_reply::own_name;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::{DurationValue, SourceConfig};
use crate::secret::Secret;

/// Seconds each run reaches back before the previous run's start, for posts indexed late.
const RUN_OVERLAP: i64 = 120;
/// Threads refuses a `since` before this time (2023-07-05, the platform's launch).
const EARLIEST_SINCE: i64 = 1_688_540_400;
/// Meta's keyword search budget: queries per user in a rolling 24 hours, across all apps.
const META_DAILY_QUERIES: u32 = 2200;
/// The fields read for every post, as the Threads media object names them.
const FIELDS: &str =
    "id,text,media_type,permalink,timestamp,username,has_replies,is_quote_post,is_reply,replied_to";

/// Keys of a `threads` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsSettings {
    /// Keyword(s) to search for; no search when absent.
    pub query: Option<String>,
    /// `KEYWORD` (the query is words) or `TAG` (the query is a topic tag).
    #[serde(default = "default_search_mode")]
    pub search_mode: String,
    /// Also read posts that @mention the account the token belongs to.
    #[serde(default = "yes")]
    pub mentions: bool,
    /// The brand's Threads user id, or `me` for the token's own account.
    #[serde(default = "default_user_id")]
    pub user_id: String,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Threads API version.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Posts per page, 1 to 100.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Pages per list per poll before continuing on the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Keyword queries this source may send in a rolling 24 hours (Meta allows 2,200 per user
    /// across all apps).
    #[serde(default = "default_daily_queries")]
    pub daily_queries: u32,
    /// Usernames of the brand's own accounts, whose posts are not mentions.
    #[serde(default)]
    pub own_accounts: Vec<String>,
    /// Also read the replies under the account's own posts (needs `threads_read_replies`).
    #[serde(default)]
    pub replies: bool,
    /// Own posts older than this are no longer checked for replies.
    #[serde(default = "default_reply_window")]
    pub reply_window: DurationValue,
}

fn default_reply_window() -> DurationValue {
    DurationValue(Duration::from_secs(3 * 86_400))
}

fn yes() -> bool {
    true
}
fn default_search_mode() -> String {
    "KEYWORD".into()
}
fn default_user_id() -> String {
    "me".into()
}
fn default_base_url() -> String {
    "https://graph.threads.net".into()
}
fn default_api_version() -> String {
    "v1.0".into()
}
fn default_limit() -> u32 {
    50
}
fn default_max_pages() -> u32 {
    3
}
fn default_daily_queries() -> u32 {
    2000
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct ThreadsCursor {
    /// Unix seconds: posts from this time on are read. Advances when a run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// Start of the current run, minus the overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_started: Option<i64>,
    /// Where an unfinished read of the search results stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    search_after: Option<String>,
    /// Where an unfinished read of the mentions stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mentions_after: Option<String>,
    /// Unix seconds of the keyword queries of the last 24 hours that found something (Meta
    /// counts only those).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queries: Vec<i64>,
}

/// Keyword search and mentions of one Threads account.
pub struct ThreadsSource {
    settings: ThreadsSettings,
    token: Secret,
    client: Client,
}

/// One page of a Threads list.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    cursors: Option<Cursors>,
}

#[derive(Debug, Deserialize)]
struct Cursors {
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Post {
    id: String,
    text: Option<String>,
    media_type: Option<String>,
    permalink: Option<String>,
    timestamp: String,
    username: Option<String>,
    replied_to: Option<Ref>,
}

#[derive(Debug, Deserialize)]
struct Ref {
    id: String,
}

/// Which list a request reads, for paging and error messages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum List {
    Search,
    Mentions,
    /// The account's own posts.
    OwnPosts,
    /// The conversation under one of them.
    Replies,
}

/// The fields read for the brand's own posts: enough to know which have replies.
const OWN_POST_FIELDS: &str = "id,timestamp,media_type,has_replies";

/// How one list read ended.
struct Read {
    /// The `after` cursor to continue from next poll, when `max_pages` cut it short.
    after: Option<String>,
    /// True when the search found something and so counted against the budget.
    counted: bool,
}

impl SourceKind for ThreadsSource {
    const KIND: &'static str = "threads";
    /// The Threads access token: `access_token_env` or `access_token_file`.
    const SECRETS: &'static [&'static str] = &["access_token"];
    type Settings = ThreadsSettings;
    type Checked = Secret;

    fn check(s: &ThreadsSettings, cx: &mut Check<'_>) -> Option<Secret> {
        if s.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            cx.problem("query", "is empty; leave it out to read only mentions");
        }
        if s.query.is_none() && !s.mentions {
            cx.problem(
                "query",
                "nothing to read: set query, or leave mentions = true",
            );
        }
        if !matches!(s.search_mode.as_str(), "KEYWORD" | "TAG") {
            cx.problem(
                "search_mode",
                format!("\"{}\" is not KEYWORD or TAG", s.search_mode),
            );
        }
        if s.user_id != "me"
            && (s.user_id.is_empty() || !s.user_id.bytes().all(|b| b.is_ascii_digit()))
        {
            cx.problem("user_id", format!(
                    "\"{}\" is not a Threads user id; use \"me\" (the token's account) or the numeric id from GET /v1.0/me?fields=id",
                    s.user_id
                ),
            );
        }
        cx.in_range("limit", s.limit, 1..=100, "Threads serves");
        cx.at_least_one("max_pages", s.max_pages);
        if s.query.is_some() {
            cx.in_range(
                "daily_queries",
                s.daily_queries,
                1..=META_DAILY_QUERIES,
                "Meta allows",
            );
        }
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        cx.api_version(&s.api_version, "Threads API version such as \"v1.0\"");
        cx.secret("access_token", true)
    }

    fn build(
        settings: ThreadsSettings,
        token: Secret,
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<ThreadsSource> {
        Ok(ThreadsSource {
            settings,
            token,
            client,
        })
    }

    /// What a `threads` source has spent of its keyword search budget, from its stored cursor,
    /// for `webcare sources`: queries that found posts in the last 24 hours. `None` when the
    /// source does not search.
    fn usage_note(
        settings: &serde_json::Map<String, serde_json::Value>,
        cursor: &str,
    ) -> Option<String> {
        settings.get("query")?;
        let cap = settings
            .get("daily_queries")
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| u64::from(default_daily_queries()));
        let cur: ThreadsCursor = serde_json::from_str(cursor).ok()?;
        let now = Utc::now().timestamp();
        let used = cur.queries.iter().filter(|t| now - **t < 86_400).count();
        Some(format!("{used} of {cap} keyword queries in the last 24 h"))
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "query": "fjordlink", "base_url": base, "access_token_file": secret_file })
    }
}

impl ThreadsSource {
    /// One page of `list` (search, mentions or own posts) from `since`, continuing after
    /// `after`.
    async fn page(&self, list: List, since: i64, after: Option<&str>) -> Result<Page, SourceError> {
        let user = &self.settings.user_id;
        let (endpoint, fields) = match list {
            List::Search => ("keyword_search".to_string(), FIELDS),
            List::Mentions => (format!("{user}/mentions"), FIELDS),
            List::OwnPosts | List::Replies => (format!("{user}/threads"), OWN_POST_FIELDS),
        };
        let mut query = vec![
            ("fields", fields.to_string()),
            ("since", since.max(EARLIEST_SINCE).to_string()),
            ("limit", self.settings.limit.to_string()),
        ];
        if list == List::Search {
            query.push(("q", self.settings.query.clone().unwrap_or_default()));
            query.push(("search_type", "RECENT".into()));
            query.push(("search_mode", self.settings.search_mode.clone()));
        }
        self.fetch(list, &endpoint, query, after).await
    }

    /// One page of the whole conversation under the brand's post `post` (replies at every
    /// depth, oldest first), continuing after `after`.
    async fn conversation_page(
        &self,
        post: &str,
        after: Option<&str>,
    ) -> Result<Page, SourceError> {
        let query = vec![
            ("fields", FIELDS.to_string()),
            ("reverse", "false".to_string()),
            ("limit", self.settings.limit.to_string()),
        ];
        self.fetch(List::Replies, &format!("{post}/conversation"), query, after)
            .await
    }

    /// GETs `/{version}/{endpoint}` with `query` (and `after`), as a page of `list`.
    async fn fetch(
        &self,
        list: List,
        endpoint: &str,
        mut query: Vec<(&str, String)>,
        after: Option<&str>,
    ) -> Result<Page, SourceError> {
        let url = format!(
            "{}/{}/{endpoint}",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.api_version
        );
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        // Threads takes the token as the `access_token` parameter, as its documentation shows;
        // every URL webcare logs or stores has that parameter redacted.
        query.push(("access_token", self.token.expose().to_string()));
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(&query);
        let resp = self.client.send(req).await?;
        if resp.status == 200 {
            return resp.json();
        }
        Err(self.refused(&resp, list))
    }

    /// The error for a refused request, from the Graph-style error body Threads sends.
    fn refused(&self, resp: &Fetched, list: List) -> SourceError {
        let Some(e) = GraphError::from_body(&resp.body) else {
            if resp.status == 401 {
                return SourceError::Auth(
                    "threads: token refused (401); renew the Threads token and update credentials access_token".into(),
                );
            }
            return resp.unexpected_status();
        };
        let message: String = e.message.chars().take(200).collect();
        match e.refusal() {
            GraphRefusal::Throttled => SourceError::RateLimited {
                retry_after: Some(SLOW_DOWN_FOR),
            },
            GraphRefusal::TokenRejected => SourceError::Auth(format!(
                "threads: token rejected (code {}): {message}; renew the long-lived Threads token (it lasts 60 days unless refreshed) and update credentials access_token",
                e.code
            )),
            GraphRefusal::PermissionMissing => SourceError::Auth(format!(
                "threads: permission missing (code {}): {message}; the app needs {} (with advanced access) and the token must be granted it",
                e.code,
                match list {
                    List::Search => "threads_basic and threads_keyword_search",
                    List::Mentions => "threads_basic and threads_manage_mentions",
                    List::OwnPosts | List::Replies => "threads_basic and threads_read_replies",
                }
            )),
            GraphRefusal::Other => SourceError::Status {
                status: resp.status,
                url: format!("{} (Threads error {}: {message})", resp.url, e.code),
                retry_after: None,
            },
        }
    }

    /// Reads `list` from `since` (continuing after `after`), adding new posts to `batch`.
    async fn read(
        &self,
        list: List,
        since: i64,
        mut after: Option<String>,
        batch: &mut Batch,
    ) -> Result<Read, SourceError> {
        let mut counted = false;
        for _ in 0..self.settings.max_pages {
            let page = self.page(list, since, after.as_deref()).await?;
            counted |= !page.data.is_empty();
            after = self.next_after(&page);
            for raw in page.data {
                self.take_post(raw, since, batch);
            }
            if after.is_none() {
                break;
            }
        }
        Ok(Read { after, counted })
    }

    /// Reads the conversations under the account's posts of the last `reply_window` that
    /// have replies, adding replies from `since` on to `batch`: the customers' as mentions,
    /// the brand's as its answers to the post they reply to. A conversation longer than
    /// `max_pages` pages is read up to there; the rest waits for the next poll's new replies.
    async fn read_replies(
        &self,
        since: i64,
        now: i64,
        batch: &mut Batch,
    ) -> Result<(), SourceError> {
        let window = self.settings.reply_window.0.as_secs() as i64;
        let mut posts: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..self.settings.max_pages {
            let page = self
                .page(List::OwnPosts, now - window, after.as_deref())
                .await?;
            after = self.next_after(&page);
            for raw in &page.data {
                if raw["has_replies"].as_bool() == Some(true)
                    && let Some(id) = raw["id"].as_str()
                    && !posts.iter().any(|p| p == id)
                {
                    posts.push(id.to_string());
                }
            }
            if after.is_none() {
                break;
            }
        }
        for post in &posts {
            let mut after: Option<String> = None;
            for _ in 0..self.settings.max_pages {
                let page = self.conversation_page(post, after.as_deref()).await?;
                after = self.next_after(&page);
                for raw in page.data {
                    self.take_post(raw, since, batch);
                }
                if after.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The cursor of the page after `page`: none when `page` was not full or gave none.
    fn next_after(&self, page: &Page) -> Option<String> {
        let full = page.data.len() >= self.settings.limit as usize;
        page.paging
            .as_ref()
            .and_then(|p| p.cursors.as_ref())
            .and_then(|c| c.after.clone())
            .filter(|a| full && !a.is_empty())
    }

    /// Adds a post to `batch`: as a mention, or, for a reply by one of `own_accounts`, as the
    /// brand's reply to the post it answers. Reposts, posts without words, the brand's other
    /// posts and posts before `since` are left out.
    fn take_post(&self, raw: serde_json::Value, since: i64, batch: &mut Batch) {
        match self.post_mention(raw, since) {
            Some(Ok(m)) => batch.mentions.push(m),
            Some(Err(reply)) => batch.own_replies.extend(reply),
            None => {}
        }
    }

    /// A post as a mention, or as `Err` with the brand's reply when one of `own_accounts`
    /// wrote it (none when that post answers nothing).
    fn post_mention(
        &self,
        raw: serde_json::Value,
        since: i64,
    ) -> Option<Result<Mention, Option<OwnReply>>> {
        let p: Post = serde_json::from_value(raw.clone()).ok()?;
        if p.media_type.as_deref() == Some("REPOST_FACADE") {
            return None;
        }
        let created = DateTime::parse_from_str(&p.timestamp, "%Y-%m-%dT%H:%M:%S%z")
            .or_else(|_| DateTime::parse_from_rfc3339(&p.timestamp))
            .ok()?
            .with_timezone(&Utc);
        if created.timestamp() < since {
            return None;
        }
        // A brand reply counts whatever it says (even a bare emoji or image), so this comes
        // before the check for words.
        if let Some(account) = p
            .username
            .as_deref()
            .and_then(|u| own_name(u, &self.settings.own_accounts))
        {
            return Some(Err(p.replied_to.map(|r| OwnReply {
                parent: r.id,
                account,
                at: created,
            })));
        }
        let text = p.text.unwrap_or_default().trim().to_string();
        if text.is_empty() {
            return None;
        }
        Some(Ok(Mention {
            external_id: p.id,
            url: p.permalink,
            author_handle: p.username.clone(),
            text,
            created_at: created,
            in_reply_to: p.replied_to.map(|r| r.id),
            engagement: Engagement::default(),
            raw,
            ..Default::default()
        }))
    }
}

#[async_trait]
impl Source for ThreadsSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now().timestamp();
        let mut cur: ThreadsCursor = ctx.stored_cursor();
        let since = cur.since.unwrap_or_else(|| {
            now - chrono::Duration::from_std(ctx.backfill)
                .unwrap_or_default()
                .num_seconds()
        });
        let run_open = cur.search_after.is_some() || cur.mentions_after.is_some();
        if !run_open {
            cur.run_started = Some(now - RUN_OVERLAP);
        }
        let mut batch = Batch::default();
        let mut unfinished = false;
        let mut search_skipped = false;

        if self.settings.query.is_some() {
            cur.queries.retain(|t| now - t < 86_400);
            let budget = self.settings.daily_queries as usize;
            // A page is a query; keep room for a whole run so no run stops half way.
            if cur.queries.len() + self.settings.max_pages as usize > budget {
                search_skipped = true;
                let oldest = cur.queries.iter().min().copied().unwrap_or(now);
                let wait = Duration::from_secs((oldest + 86_400 - now).max(60) as u64);
                batch.next_poll_in = Some(wait);
                tracing::warn!(
                    queries = cur.queries.len(),
                    budget,
                    wait_s = wait.as_secs(),
                    "threads: keyword search budget for 24 hours is spent; reading mentions only until it frees up"
                );
            } else {
                let after = cur.search_after.take();
                let read = self.read(List::Search, since, after, &mut batch).await?;
                if read.counted {
                    cur.queries.push(now);
                }
                unfinished |= read.after.is_some();
                cur.search_after = read.after;
            }
        }
        if self.settings.mentions {
            let after = cur.mentions_after.take();
            let read = self.read(List::Mentions, since, after, &mut batch).await?;
            unfinished |= read.after.is_some();
            cur.mentions_after = read.after;
        }
        if self.settings.replies {
            self.read_replies(since, now, &mut batch).await?;
        }

        // A run whose search was skipped is not complete: the next one must search from the
        // same `since`, so nothing posted meanwhile is missed.
        if !unfinished && !search_skipped {
            cur.since = cur.run_started.take().or(cur.since);
        } else if cur.since.is_none() {
            cur.since = Some(since);
        }
        batch.more = unfinished;
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }

    fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(q) = &self.settings.query {
            lines.push(format!(
                "searches Threads for {:?} ({}), newest first; at most {} keyword queries in 24 hours (Meta allows {META_DAILY_QUERIES} per user across all apps; queries that find nothing are free)",
                q, self.settings.search_mode, self.settings.daily_queries
            ));
        }
        if self.settings.mentions {
            lines.push(format!(
                "reads posts that @mention Threads account {}",
                self.settings.user_id
            ));
        }
        if self.settings.replies {
            lines.push(format!(
                "reads the replies under its own posts of the last {} (needs threads_read_replies)",
                humantime::format_duration(self.settings.reply_window.0)
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, ctx, ids, json_status};
    use wiremock::{MockServer, ResponseTemplate};

    /// The token the fake's table (`fixtures/threads/routes.toml`) requires.
    const TOKEN: &str = "THAAfakeThreadsLongLivedToken42";

    /// The error a poll of a source with default settings ends in when every request gets
    /// `reply`.
    async fn error_for(reply: ResponseTemplate) -> SourceError {
        let server = testing::answering(reply).await;
        let (src, _token) = source(&server.uri(), serde_json::json!({}));
        src.poll(&ctx(None)).await.unwrap_err()
    }

    fn source(base: &str, extra: serde_json::Value) -> (ThreadsSource, tempfile::NamedTempFile) {
        let file = testing::secret_file(TOKEN);
        let settings = testing::with_settings(
            serde_json::json!({
                "query": "fjordlink", "base_url": base, "limit": 2,
                "own_accounts": ["fjordlink"],
                "access_token_file": file.path().to_str().unwrap()
            }),
            extra,
        );
        let config = testing::source_config("threads", "threads", settings);
        let src = testing::built(&config);
        (src, file)
    }

    #[tokio::test]
    async fn search_and_mentions_become_mentions_following_after_cursors() {
        let server = MockServer::start().await;
        fake::mount(&server, "threads", "main").await;
        let (src, _token) = source(&server.uri(), serde_json::json!({}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            [
                "18063425671234561",
                "18063425671234562",
                "18047781230987655",
                "18091234567800011"
            ]
        );
        let first = &batch.mentions[0];
        assert_eq!(first.author_handle.as_deref(), Some("sanne.bakt.brood"));
        assert_eq!(
            first.url.as_deref(),
            Some("https://www.threads.com/@sanne.bakt.brood/post/DRt4kQ2jFjL")
        );
        assert_eq!(
            first.created_at,
            DateTime::parse_from_rfc3339("2026-11-25T09:12:44Z").unwrap()
        );
        let reply = &batch.mentions[3];
        assert_eq!(reply.in_reply_to.as_deref(), Some("18090000000000001"));
        // The brand's own post is dropped; its reply answers Mette's post.
        assert_eq!(
            batch.own_replies,
            [OwnReply {
                parent: "18047781230987655".into(),
                account: "fjordlink".into(),
                at: DateTime::parse_from_rfc3339("2026-11-24T18:40:05Z")
                    .unwrap()
                    .with_timezone(&Utc),
            }]
        );
        assert!(!batch.more);
        let cursor: ThreadsCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert!(
            cursor
                .since
                .is_some_and(|s| s > Utc::now().timestamp() - 600)
        );
        assert_eq!(cursor.queries.len(), 1, "a search that found posts counts");
        let settings = serde_json::json!({ "query": "fjordlink" });
        assert_eq!(
            ThreadsSource::usage_note(
                settings.as_object().unwrap(),
                batch.cursor.as_deref().unwrap()
            )
            .as_deref(),
            Some("1 of 2000 keyword queries in the last 24 h")
        );
    }

    #[tokio::test]
    async fn a_spent_search_budget_reads_mentions_only_and_keeps_since() {
        let server = MockServer::start().await;
        fake::mount(&server, "threads", "main").await;
        let (src, _token) = source(&server.uri(), serde_json::json!({ "daily_queries": 4 }));
        let now = Utc::now().timestamp();
        let cursor = serde_json::json!({ "since": now - 3600, "queries": [now - 100, now - 50] });
        let batch = src.poll(&ctx(Some(&cursor.to_string()))).await.unwrap();
        // The fixture's mentions are older than `since`: the list is read, nothing is new.
        assert!(batch.mentions.is_empty(), "{:?}", ids(&batch));
        let next: ThreadsCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.since, Some(now - 3600));
        let wait = batch.next_poll_in.unwrap().as_secs();
        assert!((86_000..=86_400).contains(&wait), "{wait}");
        let requests = server.received_requests().await.unwrap();
        let count = |end: &str| {
            requests
                .iter()
                .filter(|r| r.url.path().ends_with(end))
                .count()
        };
        assert_eq!(count("keyword_search"), 0);
        assert_eq!(count("mentions"), 1);
    }

    #[tokio::test]
    async fn an_expired_token_asks_for_a_new_one() {
        let err = error_for(json_status(
            400,
            r#"{"error":{"message":"Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEfGh123"}}"#,
        ))
        .await;
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("code 190") && m.contains("renew the long-lived Threads token")),
            "{err:?}"
        );
        assert!(!err.to_string().contains(TOKEN));
    }

    #[tokio::test]
    async fn a_missing_search_permission_names_it() {
        let err = error_for(json_status(
            403,
            r#"{"error":{"message":"(#10) The user has not granted the threads_keyword_search permission","type":"THApiException","code":10,"fbtrace_id":"AxYz0987"}}"#,
        ))
        .await;
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("threads_keyword_search")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn meta_rate_limit_codes_slow_the_source_down() {
        let err = error_for(json_status(
            400,
            r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"is_transient":true,"fbtrace_id":"Bq1w2e3r"}}"#,
        ))
        .await;
        assert!(
            matches!(err, SourceError::RateLimited { retry_after: Some(d) } if d == SLOW_DOWN_FOR),
            "{err:?}"
        );
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys_of(
                "threads",
                serde_json::json!({
                    "mentions": false, "search_mode": "HASHTAG", "user_id": "@fjordlink", "limit": 0
                })
            ),
            [
                "query",
                "search_mode",
                "user_id",
                "limit",
                "access_token_env"
            ]
        );
    }
}
