//! Bluesky: post search (`app.bsky.feed.searchPosts`, newest first), logged in with an app
//! password through the account's PDS / entryway (`createSession`, refreshed with
//! `refreshSession` when it expires). Bluesky's public AppView has refused anonymous search
//! since early 2025 (403 with an HTML page), so a login is required unless `base_url` names a
//! server that still allows it; a 403 then reads as "login required", not as a passing outage.
//!
//! The cursor is the `sortAt` time of the newest post read plus the posts at exactly that
//! time (the API's `since` is inclusive). A poll that runs out of pages keeps the API's page
//! cursor so the next poll finishes the window.

use crate::sources::checks::Check;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::{Deserialize, Serialize};

use super::http::{Client, Fetched, parse_rate_limit_reset};
use super::own_reply::own_name;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

const PUBLIC_APPVIEW: &str = "https://public.api.bsky.app";
const ENTRYWAY: &str = "https://bsky.social";
/// Stop paging when the request budget falls to this many.
const LOW_REMAINING: i64 = 5;

/// Keys of a `bluesky` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskySettings {
    /// Search words (Lucene-like syntax: phrases in quotes, `-word` to exclude).
    pub query: String,
    /// API host. Default: the public AppView without credentials, `https://bsky.social` with.
    pub base_url: Option<String>,
    /// Handle, DID or e-mail of the account that logs in; leave out to search anonymously.
    pub identifier: Option<String>,
    /// Only posts in this language (ISO 639-1).
    pub lang: Option<String>,
    /// Only posts that @mention this account (handle or DID), e.g. the brand's own handle.
    pub mentions: Option<String>,
    /// Posts per request, 1 to 100.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Requests per poll before the rest is left for the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// The brand's own handles (or DIDs): their posts are no mentions, and their replies mark
    /// the post they answer as answered.
    #[serde(default)]
    pub own_accounts: Vec<String>,
    /// Also read the logged-in account's notifications (`listNotifications`, reasons reply,
    /// mention and quote): replies under the brand's posts, @mentions and quote posts, which
    /// need not contain the search words. Log in as the brand's account for this.
    #[serde(default)]
    pub notifications: bool,
}

fn default_limit() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    5
}

/// What the source remembers between polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BskyCursor {
    /// Read posts whose `sortAt` is at or after this time.
    since: DateTime<Utc>,
    /// Posts at exactly `since` that were read already.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
    /// An unfinished window: the API's page cursor and the newest post read so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<Resume>,
    /// Notifications indexed at or before this time were read (with `notifications`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes_since: Option<DateTime<Utc>>,
    /// Per own account: its posts indexed at or before this time were read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    own_since: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Resume {
    page: String,
    newest: DateTime<Utc>,
    #[serde(default)]
    newest_uris: Vec<String>,
}

/// Notification reasons that carry a post someone wrote to or about the account.
const NOTE_REASONS: [&str; 3] = ["reply", "mention", "quote"];

#[derive(Debug, Deserialize)]
struct AuthorFeed {
    #[serde(default)]
    feed: Vec<serde_json::Value>,
    cursor: Option<String>,
}

/// How one page read by [`BlueskySource::read_down_to`] ended.
struct PageEnd {
    /// The listing's cursor for the next page, if it gave one.
    cursor: Option<String>,
    /// True when the page held no items at all.
    empty: bool,
    /// True when the page reached items at or before the floor, so it is the last.
    reached: bool,
}

#[derive(Debug, Deserialize)]
struct NotificationList {
    #[serde(default)]
    notifications: Vec<serde_json::Value>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    uri: String,
    reason: String,
    indexed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    #[serde(default)]
    posts: Vec<serde_json::Value>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostView {
    uri: String,
    author: Author,
    record: Record,
    indexed_at: Option<DateTime<Utc>>,
    like_count: Option<i64>,
    repost_count: Option<i64>,
    reply_count: Option<i64>,
    quote_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Author {
    did: String,
    handle: String,
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    text: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    langs: Vec<String>,
    reply: Option<ReplyRef>,
    #[serde(default)]
    facets: Vec<Facet>,
}

#[derive(Debug, Deserialize)]
struct ReplyRef {
    parent: StrongRef,
}

#[derive(Debug, Deserialize)]
struct StrongRef {
    uri: String,
}

#[derive(Debug, Deserialize)]
struct Facet {
    index: ByteSlice,
    #[serde(default)]
    features: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByteSlice {
    byte_start: usize,
    byte_end: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    access_jwt: String,
    refresh_jwt: String,
}

#[derive(Debug, Deserialize)]
struct XrpcError {
    #[serde(default)]
    error: String,
}

/// A session JWT; never printed.
struct Jwt(String);

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jwt(***)")
    }
}

#[derive(Debug)]
struct Session {
    access: Jwt,
    refresh: Jwt,
}

/// A Bluesky login: the account and its app password.
pub struct Credentials {
    identifier: String,
    password: Secret,
}

/// A Bluesky post search.
pub struct BlueskySource {
    name: String,
    settings: BlueskySettings,
    base_url: String,
    credentials: Option<Credentials>,
    session: tokio::sync::Mutex<Option<Session>>,
    client: Client,
}

impl SourceKind for BlueskySource {
    const KIND: &'static str = "bluesky";
    /// The account's app password: `password_env` or `password_file`.
    const SECRETS: &'static [&'static str] = &["password"];
    type Settings = BlueskySettings;
    type Checked = Option<Credentials>;

    fn check(s: &BlueskySettings, cx: &mut Check<'_>) -> Option<Option<Credentials>> {
        cx.not_blank("query", &s.query, "it is what Bluesky is searched for");
        if let Some(u) = &s.base_url {
            match url::Url::parse(u) {
                Ok(p) if (p.scheme() == "https" || p.scheme() == "http") && p.host().is_some() => {}
                _ => cx.problem(
                    "base_url",
                    format!("\"{u}\" is not a server address; use e.g. https://bsky.social"),
                ),
            }
        }
        let credentials = check_login(s, cx);
        if s.notifications && s.identifier.is_none() {
            cx.problem("notifications", "notifications are the logged-in account's: set identifier (the brand's handle) and an app password",
            );
        }
        if let Some(m) = &s.mentions {
            let m = m.trim().trim_start_matches('@');
            if m.is_empty() || m.contains(char::is_whitespace) {
                cx.problem(
                    "mentions",
                    format!("\"{m}\" is not a handle or DID; use e.g. \"fjordlink.nl\""),
                );
            }
        }
        cx.in_range("limit", s.limit, 1..=100, "use");
        cx.at_least_one("max_pages", s.max_pages);
        Some(credentials)
    }

    fn build(
        settings: BlueskySettings,
        credentials: Option<Credentials>,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<BlueskySource> {
        let base_url = settings
            .base_url
            .clone()
            .unwrap_or_else(|| {
                if credentials.is_some() {
                    ENTRYWAY
                } else {
                    PUBLIC_APPVIEW
                }
                .to_string()
            })
            .trim_end_matches('/')
            .to_string();
        Ok(BlueskySource {
            name: source.name.clone(),
            settings,
            base_url,
            credentials,
            session: tokio::sync::Mutex::new(None),
            client,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "query": "fjordlink", "base_url": base,
            "identifier": "webcare.fjordlink.nl", "password_file": secret_file
        })
    }
}

/// Checks the login keys: an identifier needs an app password and the other way round, and
/// search on Bluesky's own servers needs both. Returns the login when one is configured.
fn check_login(s: &BlueskySettings, cx: &mut Check<'_>) -> Option<Credentials> {
    match &s.identifier {
        Some(id) if id.trim().is_empty() => {
            cx.problem("identifier", "must not be empty");
            None
        }
        Some(id) => cx.secret("password", true).map(|password| Credentials {
            identifier: id.trim().to_string(),
            password,
        }),
        None if cx.secret_is_set("password") => {
            cx.problem("identifier", "an app password needs the account it belongs to: set identifier = \"handle.bsky.social\"",
            );
            None
        }
        // Only a server the operator names may still allow anonymous search.
        None if s.base_url.is_none() => {
            cx.problem("identifier", "Bluesky search requires a login since 2025: set identifier = \"handle.bsky.social\" \
                 and password_env or password_file with an app password \
                 (Settings → Privacy and security → App passwords)",
            );
            None
        }
        None => None,
    }
}

impl BlueskySource {
    /// The error for a 403: the server wants a (different) login for search. It is a
    /// configuration problem a person must fix, never a passing outage to retry soon.
    /// Reads the logged-in account's reply, mention and quote notifications newest first,
    /// down to `floor` (the newest one read before). Returns how far the next poll may skip:
    /// the newest notification read when the window was read to the end, else `floor` again
    /// (the next poll reads the window anew; the store drops what it has).
    async fn read_notifications(
        &self,
        floor: DateTime<Utc>,
        uris: &mut HashSet<String>,
        mentions: &mut Vec<Mention>,
        own_replies: &mut Vec<OwnReply>,
    ) -> Result<(DateTime<Utc>, Option<Duration>), SourceError> {
        let mut params = vec![("limit", self.settings.limit.to_string())];
        for reason in NOTE_REASONS {
            params.push(("reasons", reason.to_string()));
        }
        let method = "app.bsky.notification.listNotifications";
        self.read_down_to(method, params, floor, |list: NotificationList, newest| {
            let mut reached = false;
            for raw in &list.notifications {
                let Ok(n) = serde_json::from_value::<Notification>(raw.clone()) else {
                    continue;
                };
                if n.indexed_at <= floor {
                    reached = true;
                    break;
                }
                *newest = (*newest).max(n.indexed_at);
                // Older servers ignore `reasons`: likes, reposts and follows are no posts.
                if !NOTE_REASONS.contains(&n.reason.as_str()) || !uris.insert(n.uri.clone()) {
                    continue;
                }
                let post = serde_json::json!({
                    "uri": n.uri,
                    "author": raw.get("author"),
                    "record": raw.get("record"),
                    "indexedAt": raw.get("indexedAt"),
                });
                let Ok(view) = serde_json::from_value::<PostView>(post) else {
                    continue;
                };
                if let Some(r) = self.own_reply(&view) {
                    own_replies.extend(r);
                } else if let Some(m) = to_mention(view, raw) {
                    mentions.push(m);
                }
            }
            PageEnd {
                cursor: list.cursor,
                empty: list.notifications.is_empty(),
                reached,
            }
        })
        .await
    }

    /// Reads the posts and replies of own account `actor` (`getAuthorFeed`, newest first) down
    /// to `floor`: its replies answer posts whatever words they use. Returns how far the next
    /// poll may skip, as [`Self::read_notifications`] does.
    async fn read_own_posts(
        &self,
        actor: &str,
        floor: DateTime<Utc>,
        own_replies: &mut Vec<OwnReply>,
    ) -> Result<(DateTime<Utc>, Option<Duration>), SourceError> {
        let params = vec![
            ("actor", actor.to_string()),
            ("filter", "posts_with_replies".to_string()),
            ("limit", self.settings.limit.to_string()),
        ];
        let method = "app.bsky.feed.getAuthorFeed";
        self.read_down_to(method, params, floor, |feed: AuthorFeed, newest| {
            let mut reached = false;
            for item in &feed.feed {
                // A repost shows someone else's post in the brand's feed.
                if item.get("reason").is_some_and(|r| r.is_object()) {
                    continue;
                }
                let Some(Ok(post)) = item
                    .get("post")
                    .map(|p| serde_json::from_value::<PostView>(p.clone()))
                else {
                    continue;
                };
                let at = post.indexed_at.unwrap_or(post.record.created_at);
                if at <= floor {
                    // Pinned posts come first whatever their age; the rest is newest first.
                    reached = true;
                    continue;
                }
                *newest = (*newest).max(at);
                if let Some(Some(r)) = self.own_reply(&post) {
                    own_replies.push(r);
                }
            }
            PageEnd {
                cursor: feed.cursor,
                empty: feed.feed.is_empty(),
                reached,
            }
        })
        .await
    }

    /// Reads the listing `method` answers for `params` newest first, page by page, handing each
    /// page to `read_page` with the newest time read so far, until a page reaches `floor` or
    /// is the last, `max_pages` runs out, or the rate budget runs low. Returns how far the next
    /// poll may skip: the newest time read when the listing was read down to `floor` or to its
    /// end, else `floor` again (the next poll reads the window anew; the store drops what it
    /// has), and how long to wait when the budget is low.
    async fn read_down_to<P: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<(&'static str, String)>,
        floor: DateTime<Utc>,
        mut read_page: impl FnMut(P, &mut DateTime<Utc>) -> PageEnd,
    ) -> Result<(DateTime<Utc>, Option<Duration>), SourceError> {
        let mut page: Option<String> = None;
        let mut newest = floor;
        let mut wait = None;
        for _ in 0..self.settings.max_pages {
            let mut params = params.clone();
            if let Some(p) = &page {
                params.push(("cursor", p.clone()));
            }
            let resp = self.xrpc_get(method, &params).await?;
            wait = budget_wait(&resp.headers);
            let end = read_page(resp.json()?, &mut newest);
            page = end.cursor.filter(|c| !c.is_empty());
            if end.reached || page.is_none() || end.empty {
                return Ok((newest, wait));
            }
            if wait.is_some() {
                break;
            }
        }
        Ok((floor, wait))
    }

    /// For a post by one of `own_accounts`: `Some` with the reply it is (none for a post that
    /// answers nobody). `None` for everyone else's posts.
    fn own_reply(&self, post: &PostView) -> Option<Option<OwnReply>> {
        let own = &self.settings.own_accounts;
        let account =
            own_name(&post.author.handle, own).or_else(|| own_name(&post.author.did, own))?;
        Some(post.record.reply.as_ref().map(|r| OwnReply {
            parent: r.parent.uri.clone(),
            account,
            at: post.record.created_at,
        }))
    }

    /// What `check-config` says about `notifications`: they are the logged-in account's, so
    /// they bring the brand's replies and @mentions only when the login is the brand's own
    /// account. Said without logging in (`check-config` stays offline); a refused login is
    /// reported by the first poll.
    fn describe_notifications(&self) -> Vec<String> {
        let Some(c) = &self.credentials else {
            // Validation refuses notifications without a login.
            return Vec::new();
        };
        let account = c.identifier.trim_start_matches('@');
        if !self.settings.notifications {
            return vec![format!(
                "notifications off: replies under the brand's posts are read only when they contain the search words; \
                 notifications = true reads them all (the login, {account}, must then be the brand's own account)"
            )];
        }
        let mut lines = vec![format!(
            "reads the notifications of {account} (replies under its posts, @mentions, quotes): \
             needs this login to be the brand's own account, with an app password (no other scope)"
        )];
        if own_name(account, &self.settings.own_accounts).is_none() {
            lines.push(format!(
                "note: {account} is not in own_accounts; if it is the brand's account, list it there so its replies mark mentions answered, \
                 and if it is not, its notifications are not the brand's"
            ));
        }
        lines
    }

    fn login_required(&self, status: u16) -> SourceError {
        let fix = if self.credentials.is_some() {
            "check that identifier and the app password belong to an active account, or that base_url is the account's PDS"
        } else {
            "set identifier and password_env or password_file (an app password)"
        };
        SourceError::Auth(format!(
            "bluesky: login required: {} refused the search ({status}); {fix} on source {}",
            self.base_url, self.name
        ))
    }

    fn rejected(&self) -> SourceError {
        SourceError::Auth(format!(
            "bluesky: token rejected (401); check credentials password_env/password_file of source {}",
            self.name
        ))
    }

    async fn create_session(&self, c: &Credentials) -> Result<Session, SourceError> {
        let url = format!("{}/xrpc/com.atproto.server.createSession", self.base_url);
        let req = self.client.request(reqwest::Method::POST, &url).json(
            &serde_json::json!({"identifier": c.identifier, "password": c.password.expose()}),
        );
        let resp = self.client.send(req).await?;
        match resp.status {
            200..=299 => {
                let s: SessionResponse = resp.json()?;
                Ok(Session {
                    access: Jwt(s.access_jwt),
                    refresh: Jwt(s.refresh_jwt),
                })
            }
            400 | 401 | 403 => Err(SourceError::Auth(format!(
                "bluesky: login as {} refused ({}{}); check identifier and credentials password_env/password_file of source {}",
                c.identifier,
                resp.status,
                xrpc_error(&resp)
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default(),
                self.name
            ))),
            _ => Err(resp.unexpected_status()),
        }
    }

    async fn refresh_session(&self, s: &Session) -> Result<Session, SourceError> {
        let url = format!("{}/xrpc/com.atproto.server.refreshSession", self.base_url);
        let req = self
            .client
            .request(reqwest::Method::POST, &url)
            .header(AUTHORIZATION, format!("Bearer {}", s.refresh.0));
        let resp = self.client.send(req).await?;
        if !(200..=299).contains(&resp.status) {
            return Err(self.rejected());
        }
        let r: SessionResponse = resp.json()?;
        Ok(Session {
            access: Jwt(r.access_jwt),
            refresh: Jwt(r.refresh_jwt),
        })
    }

    async fn send_search(
        &self,
        method: &str,
        params: &[(&str, String)],
        token: Option<&Jwt>,
    ) -> Result<Fetched, SourceError> {
        let url = format!("{}/xrpc/{method}", self.base_url);
        let mut req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(params);
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {}", t.0));
        }
        self.client.send(req).await
    }

    /// One search request, logging in first and refreshing an expired session once.
    async fn search(&self, params: &[(&str, String)]) -> Result<Fetched, SourceError> {
        self.xrpc_get("app.bsky.feed.searchPosts", params).await
    }

    /// One XRPC query, logging in first and refreshing an expired session once.
    async fn xrpc_get(
        &self,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<Fetched, SourceError> {
        let Some(creds) = &self.credentials else {
            let resp = self.send_search(method, params, None).await?;
            if token_refused(&resp) || resp.status == 403 {
                return Err(self.login_required(resp.status));
            }
            return ok_or_status(resp);
        };
        let mut session = self.session.lock().await;
        if session.is_none() {
            *session = Some(self.create_session(creds).await?);
        }
        let Some(current) = session.as_ref() else {
            return Err(self.rejected());
        };
        let resp = self
            .send_search(method, params, Some(&current.access))
            .await?;
        if resp.status == 403 {
            return Err(self.login_required(resp.status));
        }
        if !token_refused(&resp) {
            return ok_or_status(resp);
        }
        // Access tokens live minutes; refresh once, or log in again when the refresh token
        // has expired too.
        let renewed = match self.refresh_session(current).await {
            Ok(s) => s,
            Err(SourceError::Auth(_)) => self.create_session(creds).await?,
            Err(e) => return Err(e),
        };
        let resp = self
            .send_search(method, params, Some(&renewed.access))
            .await?;
        if token_refused(&resp) {
            *session = None;
            return Err(self.rejected());
        }
        *session = Some(renewed);
        ok_or_status(resp)
    }
}

/// True when the server refused the token: 401, or 400 with `ExpiredToken` / `InvalidToken`.
fn token_refused(resp: &Fetched) -> bool {
    match resp.status {
        401 => true,
        400 => matches!(
            xrpc_error(resp).as_deref(),
            Some("ExpiredToken" | "InvalidToken")
        ),
        _ => false,
    }
}

fn xrpc_error(resp: &Fetched) -> Option<String> {
    serde_json::from_slice::<XrpcError>(&resp.body)
        .ok()
        .map(|e| e.error)
        .filter(|e| !e.is_empty())
}

fn ok_or_status(resp: Fetched) -> Result<Fetched, SourceError> {
    match resp.status {
        200..=299 => Ok(resp),
        _ => Err(resp.unexpected_status()),
    }
}

/// How long to wait when the `RateLimit-*` headers say the budget is nearly spent.
fn budget_wait(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let remaining = get("ratelimit-remaining")?.trim().parse::<i64>().ok()?;
    if remaining > LOW_REMAINING {
        return None;
    }
    Some(
        get("ratelimit-reset")
            .and_then(|v| parse_rate_limit_reset(v, Utc::now()))
            .unwrap_or(Duration::from_secs(300)),
    )
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[async_trait]
impl Source for BlueskySource {
    fn describe(&self) -> Vec<String> {
        let mut lines = vec![match &self.credentials {
            Some(c) => format!("searches as {} via {}", c.identifier, self.base_url),
            None => format!(
                "searches anonymously via {}; Bluesky's own AppView refuses this (login required since 2025)",
                self.base_url
            ),
        }];
        if let Some(m) = &self.settings.mentions {
            lines.push(format!(
                "only posts that mention @{}",
                m.trim_start_matches('@')
            ));
        }
        lines.extend(self.describe_notifications());
        lines
    }

    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let cursor = ctx
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<BskyCursor>(c).ok())
            .unwrap_or_else(|| BskyCursor {
                since: Utc::now()
                    - chrono::Duration::from_std(ctx.backfill).unwrap_or(chrono::Duration::days(1)),
                seen: Vec::new(),
                resume: None,
                notes_since: None,
                own_since: BTreeMap::new(),
            });
        let mut run = self.search_run(&cursor).await?;
        let notes_since = if self.settings.notifications {
            let floor = cursor.notes_since.unwrap_or(cursor.since);
            let (read_to, w) = self
                .read_notifications(
                    floor,
                    &mut run.uris,
                    &mut run.mentions,
                    &mut run.own_replies,
                )
                .await?;
            run.wait = run.wait.or(w);
            Some(read_to)
        } else {
            None
        };
        let next = next_search_cursor(&cursor, &mut run);
        let (own_since, w) = self
            .read_all_own_posts(&cursor, &mut run.own_replies)
            .await?;
        run.wait = run.wait.or(w);
        let next = BskyCursor {
            notes_since,
            own_since,
            ..next
        };
        Ok(Batch {
            mentions: run.mentions,
            own_replies: run.own_replies,
            cursor: Some(serde_json::to_string(&next).unwrap_or_default()),
            next_poll_in: run.wait,
            more: !run.finished && run.wait.is_none(),
            unread: None,
        })
    }
}

/// What one poll's search found, and where it stopped.
struct SearchRun {
    /// The results page to continue from.
    page: Option<String>,
    /// The newest `sortAt` read in this window, and the posts at exactly that time.
    newest: Option<DateTime<Utc>>,
    newest_uris: Vec<String>,
    /// Every post this poll took, so notifications do not bring one twice.
    uris: HashSet<String>,
    mentions: Vec<Mention>,
    own_replies: Vec<OwnReply>,
    /// The search reached its last page.
    finished: bool,
    /// How long the rate-limit budget asks to wait.
    wait: Option<Duration>,
}

impl BlueskySource {
    /// Reads search pages from where `cursor` stopped, up to `max_pages` or until the rate
    /// limit budget runs low.
    async fn search_run(&self, cursor: &BskyCursor) -> Result<SearchRun, SourceError> {
        let seen: HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
        let mut run = SearchRun {
            page: cursor.resume.as_ref().map(|r| r.page.clone()),
            newest: cursor.resume.as_ref().map(|r| r.newest),
            newest_uris: cursor
                .resume
                .as_ref()
                .map(|r| r.newest_uris.clone())
                .unwrap_or_default(),
            uris: HashSet::new(),
            mentions: Vec::new(),
            own_replies: Vec::new(),
            finished: false,
            wait: None,
        };
        for _ in 0..self.settings.max_pages {
            let resp = self
                .search(&self.search_params(cursor.since, run.page.as_deref()))
                .await?;
            run.wait = budget_wait(&resp.headers);
            let result: SearchResult = resp.json()?;
            for raw in &result.posts {
                self.take_result(raw, cursor.since, &seen, &mut run);
            }
            run.page = result.cursor.filter(|c| !c.is_empty());
            if result.posts.is_empty() || run.page.is_none() {
                run.finished = true;
                break;
            }
            if run.wait.is_some() {
                break;
            }
        }
        Ok(run)
    }

    /// The `searchPosts` parameters for the page after `page` of the window from `since`.
    fn search_params(&self, since: DateTime<Utc>, page: Option<&str>) -> Vec<(&str, String)> {
        let mut params = vec![
            ("q", self.settings.query.clone()),
            ("sort", "latest".to_string()),
            ("limit", self.settings.limit.to_string()),
            ("since", rfc3339(since)),
        ];
        if let Some(l) = &self.settings.lang {
            params.push(("lang", l.clone()));
        }
        if let Some(m) = &self.settings.mentions {
            params.push(("mentions", m.trim().trim_start_matches('@').to_string()));
        }
        if let Some(p) = page {
            params.push(("cursor", p.to_string()));
        }
        params
    }

    /// Takes one search result into `run`: notes how new it is, and keeps it as a mention,
    /// or as the brand's reply, unless it was read before.
    fn take_result(
        &self,
        raw: &serde_json::Value,
        since: DateTime<Utc>,
        seen: &HashSet<&str>,
        run: &mut SearchRun,
    ) {
        let Ok(post) = serde_json::from_value::<PostView>(raw.clone()) else {
            return;
        };
        let sort_at = match post.indexed_at {
            Some(i) if i < post.record.created_at => i,
            _ => post.record.created_at,
        };
        if sort_at < since {
            return;
        }
        match run.newest {
            Some(n) if n > sort_at => {}
            Some(n) if n == sort_at => {
                if !run.newest_uris.contains(&post.uri) {
                    run.newest_uris.push(post.uri.clone());
                }
            }
            _ => {
                run.newest = Some(sort_at);
                run.newest_uris = vec![post.uri.clone()];
            }
        }
        if seen.contains(post.uri.as_str()) || !run.uris.insert(post.uri.clone()) {
            return;
        }
        // The brand's reply answers its parent, whose uri is the mention's id.
        if let Some(r) = self.own_reply(&post) {
            run.own_replies.extend(r);
            return;
        }
        if let Some(m) = to_mention(post, raw) {
            run.mentions.push(m);
        }
    }

    /// Reads every own account's posts from where `cursor` stopped, for the brand's replies.
    /// Returns how far each account was read and how long the budget asks to wait.
    async fn read_all_own_posts(
        &self,
        cursor: &BskyCursor,
        own_replies: &mut Vec<OwnReply>,
    ) -> Result<(BTreeMap<String, DateTime<Utc>>, Option<Duration>), SourceError> {
        let mut own_since = BTreeMap::new();
        let mut wait = None;
        for actor in &self.settings.own_accounts {
            let actor = actor.trim().trim_start_matches('@').to_string();
            if actor.is_empty() {
                continue;
            }
            let floor = cursor
                .own_since
                .get(&actor)
                .copied()
                .unwrap_or(cursor.since);
            let (read_to, w) = self.read_own_posts(&actor, floor, own_replies).await?;
            wait = wait.or(w);
            own_since.insert(actor, read_to);
        }
        Ok((own_since, wait))
    }
}

/// The search part of the next cursor: resume an unfinished window where `run` stopped, or
/// close the window at the newest post read (remembering the posts at exactly that time).
/// Marks `run` finished when the window closes.
fn next_search_cursor(cursor: &BskyCursor, run: &mut SearchRun) -> BskyCursor {
    let fresh = |since, seen| BskyCursor {
        since,
        seen,
        resume: None,
        notes_since: None,
        own_since: BTreeMap::new(),
    };
    if let (false, Some(p)) = (run.finished, &run.page) {
        return BskyCursor {
            resume: run.newest.map(|n| Resume {
                page: p.clone(),
                newest: n,
                newest_uris: run.newest_uris.clone(),
            }),
            ..fresh(cursor.since, cursor.seen.clone())
        };
    }
    run.finished = true;
    match run.newest {
        None => BskyCursor {
            resume: None,
            ..cursor.clone()
        },
        Some(n) if n == cursor.since => {
            let mut all = cursor.seen.clone();
            for u in &run.newest_uris {
                if !all.contains(u) {
                    all.push(u.clone());
                }
            }
            fresh(n, all)
        }
        Some(n) => fresh(n, run.newest_uris.clone()),
    }
}

/// Normalises a post view; `None` for posts without text (images only).
fn to_mention(post: PostView, raw: &serde_json::Value) -> Option<Mention> {
    let text = expand_links(&post.record.text, &post.record.facets);
    let text = text.trim().to_string();
    if text.is_empty() {
        return None;
    }
    let rkey = post.uri.rsplit('/').next().unwrap_or_default();
    // A handle that no longer resolves is reported as handle.invalid; the DID still links.
    let profile = if post.author.handle == "handle.invalid" {
        post.author.did.clone()
    } else {
        post.author.handle.clone()
    };
    Some(Mention {
        url: Some(format!("https://bsky.app/profile/{profile}/post/{rkey}")),
        external_id: post.uri,
        author_handle: Some(profile),
        author_name: post
            .author
            .display_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        lang: post
            .record
            .langs
            .first()
            .map(|l| l.split('-').next().unwrap_or(l).to_ascii_lowercase()),
        text,
        created_at: post.record.created_at,
        in_reply_to: post.record.reply.map(|r| r.parent.uri),
        engagement: Engagement {
            likes: post.like_count,
            replies: post.reply_count,
            reposts: match (post.repost_count, post.quote_count) {
                (None, None) => None,
                (r, q) => Some(r.unwrap_or(0) + q.unwrap_or(0)),
            },
        },
        raw: raw.clone(),
        ..Default::default()
    })
}

/// Bluesky shortens link text in posts (`example.com/some/pa...`) and keeps the full address
/// in a link facet; put the full address back so staff can follow it.
fn expand_links(text: &str, facets: &[Facet]) -> String {
    let mut links: Vec<(usize, usize, &str)> = facets
        .iter()
        .filter_map(|f| {
            let uri = f.features.iter().find_map(|feat| {
                (feat.get("$type")?.as_str()? == "app.bsky.richtext.facet#link")
                    .then(|| feat.get("uri")?.as_str())
                    .flatten()
            })?;
            Some((f.index.byte_start, f.index.byte_end, uri))
        })
        .filter(|(s, e, _)| {
            s < e && *e <= text.len() && text.is_char_boundary(*s) && text.is_char_boundary(*e)
        })
        .collect();
    links.sort_by_key(|(s, _, _)| std::cmp::Reverse(*s));
    let mut out = text.to_string();
    let mut last_start = usize::MAX;
    for (start, end, uri) in links {
        if end > last_start {
            continue; // overlapping facets: keep the text as it is
        }
        last_start = start;
        let label = &text[start..end];
        let bare = |s: &str| {
            s.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches("...")
                .trim_end_matches('…')
                .to_string()
        };
        let replacement = if bare(uri).starts_with(&bare(label)) {
            uri.to_string()
        } else {
            format!("{label} ({uri})")
        };
        out.replace_range(start..end, &replacement);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, ctx, json};
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PAGE1: &str = include_str!("../../fixtures/bluesky/search-page1.json");
    const PAGE2: &str = include_str!("../../fixtures/bluesky/search-page2.json");
    const NEWER: &str = include_str!("../../fixtures/bluesky/search-newer.json");
    const CREATE: &str = include_str!("../../fixtures/bluesky/create-session.json");
    const REFRESH: &str = include_str!("../../fixtures/bluesky/refresh-session.json");
    const EXPIRED: &str = include_str!("../../fixtures/bluesky/error-expired-token.json");

    const ACCESS1: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access-one.sig";
    const ACCESS2: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access-two.sig";
    const REFRESH1: &str = "eyJ0eXAiOiJyZWZyZXNoK2p3dCIsImFsZyI6IkVTMjU2SyJ9.refresh-one.sig";

    const P5: &str = "at://did:plc:4sq2yvfmxo6ts7hyqwlv5ccj/app.bsky.feed.post/3mb4xk2vjws2c";
    const P6: &str = "at://did:plc:l3rnaw2cc4fl6yk7pqmbx4h2/app.bsky.feed.post/3mb52f4xyzc2a";

    fn config(settings: serde_json::Value) -> SourceConfig {
        testing::source_config("bsky", "bluesky", settings)
    }

    fn source(settings: serde_json::Value) -> BlueskySource {
        testing::built(&config(settings))
    }

    fn password_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bsky-app-password");
        // The app password the fake's table (`fixtures/bluesky/routes.toml`) accepts.
        std::fs::write(&p, "e2e-app-password\n").unwrap();
        let s = p.display().to_string();
        (dir, s)
    }

    fn logged_in(base: &str, file: &str) -> BlueskySource {
        source(serde_json::json!({
            "query": "fjordlink", "base_url": base, "limit": 3,
            "identifier": "webcare.fjordlink.nl", "password_file": file
        }))
    }

    /// An anonymous source searching `server` for fjordlink three posts a page.
    fn in_threes(server: &MockServer) -> BlueskySource {
        source(serde_json::json!({"query": "fjordlink", "base_url": server.uri(), "limit": 3}))
    }

    fn rkeys(b: &Batch) -> Vec<&str> {
        b.mentions
            .iter()
            .map(|m| m.external_id.rsplit('/').next().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn first_anonymous_poll_pages_through_the_backfill_window() {
        let server = testing::serving([
            Mock::given(method("GET"))
                .and(path("/xrpc/app.bsky.feed.searchPosts"))
                .and(query_param("q", "fjordlink"))
                .and(query_param("sort", "latest"))
                .and(query_param("limit", "3"))
                .and(query_param_is_missing("cursor"))
                .respond_with(json(PAGE1))
                .expect(1),
            Mock::given(method("GET"))
                .and(path("/xrpc/app.bsky.feed.searchPosts"))
                .and(query_param("cursor", "3"))
                .respond_with(json(PAGE2))
                .expect(1),
        ])
        .await;
        let src = in_threes(&server);
        let batch = src.poll(&ctx(None)).await.unwrap();
        // The image-only post has no text; the third post repeats on page 2.
        assert_eq!(
            rkeys(&batch),
            [
                "3mb4xk2vjws2c",
                "3mb4tq7ahcs2y",
                "3mb4pa3kqjc2d",
                "3mb4kz6mgw22f"
            ]
        );
        assert!(!batch.more);
        let requests = server.received_requests().await.unwrap();
        assert!(
            requests
                .iter()
                .all(|r| !r.headers.contains_key("authorization"))
        );
        let since = requests[0]
            .url
            .query_pairs()
            .find(|(k, _)| k == "since")
            .map(|(_, v)| DateTime::parse_from_rfc3339(&v).unwrap())
            .unwrap();
        let expected = Utc::now() - chrono::Duration::days(3650);
        assert!((since.timestamp() - expected.timestamp()).abs() < 60);
        let c: BskyCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(rfc3339(c.since), "2026-11-25T12:00:00.123Z");
        assert_eq!(c.seen, [P5]);
        assert_eq!(c.resume, None);
    }

    #[tokio::test]
    async fn posts_become_mentions_with_permalinks_and_full_links() {
        let server = testing::serving([
            Mock::given(method("GET")).respond_with(json(PAGE2)),
            Mock::given(method("GET"))
                .and(query_param_is_missing("cursor"))
                .respond_with(json(PAGE1))
                .with_priority(1),
        ])
        .await;
        let src = in_threes(&server);
        let batch = src.poll(&ctx(None)).await.unwrap();
        let m = &batch.mentions[0];
        assert_eq!(
            m.text,
            "Al 3 uur geen internet 😡 @fjordlink.nl wanneer is dit opgelost? https://status.fjordlink.nl/storingen/2026-11-25"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://bsky.app/profile/sanne.bsky.social/post/3mb4xk2vjws2c")
        );
        assert_eq!(m.author_name.as_deref(), Some("Sanne de Vries"));
        assert_eq!(m.lang.as_deref(), Some("nl"));
        assert_eq!(
            m.engagement,
            Engagement {
                likes: Some(9),
                replies: Some(1),
                reposts: Some(2)
            }
        );
        // Plain text stays as written, markup included: it is not HTML.
        assert!(
            batch.mentions[1]
                .text
                .contains("<script>alert('x')</script>")
        );
        let anon = &batch.mentions[2];
        assert_eq!(
            anon.url.as_deref(),
            Some("https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3mb4pa3kqjc2d")
        );
        assert_eq!(anon.author_name, None);
        assert_eq!(anon.lang, None);
        let reply = &batch.mentions[3];
        assert_eq!(
            reply.in_reply_to.as_deref(),
            Some("at://did:plc:4sq2yvfmxo6ts7hyqwlv5ccj/app.bsky.feed.post/3mb4a2b3c4d5e")
        );
        assert!(reply.text.starts_with("Fjordlinkの光ファイバー"));
    }

    #[tokio::test]
    async fn incremental_poll_skips_the_post_already_read_at_the_cursor() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(query_param("since", "2026-11-25T12:00:00.123Z"))
            .respond_with(json(NEWER))
            .expect(1)])
        .await;
        let src = source(serde_json::json!({"query": "fjordlink", "base_url": server.uri()}));
        let cursor = format!(r#"{{"since":"2026-11-25T12:00:00.123Z","seen":["{P5}"]}}"#);
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert_eq!(rkeys(&batch), ["3mb52f4xyzc2a"]);
        let c: BskyCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(rfc3339(c.since), "2026-11-25T13:00:00.123Z");
        assert_eq!(c.seen, [P6]);
    }

    #[tokio::test]
    async fn an_unfinished_window_resumes_from_the_page_cursor() {
        let server = testing::serving([
            Mock::given(method("GET"))
                .and(query_param_is_missing("cursor"))
                .respond_with(json(PAGE1))
                .expect(1),
            Mock::given(method("GET"))
                .and(query_param("cursor", "3"))
                .and(query_param("since", "2026-11-20T00:00:00.000Z"))
                .respond_with(json(PAGE2))
                .expect(1),
        ])
        .await;
        let src = source(
            serde_json::json!({"query": "fjordlink", "base_url": server.uri(), "limit": 3, "max_pages": 1}),
        );
        let first = src
            .poll(&ctx(Some(r#"{"since":"2026-11-20T00:00:00Z"}"#)))
            .await
            .unwrap();
        assert!(first.more);
        assert_eq!(first.mentions.len(), 3);
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert!(!second.more);
        assert_eq!(rkeys(&second), ["3mb4pa3kqjc2d", "3mb4kz6mgw22f"]);
        let c: BskyCursor = serde_json::from_str(second.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(rfc3339(c.since), "2026-11-25T12:00:00.123Z");
        assert_eq!(c.resume, None);
    }

    /// A mock for a POST to the XRPC method `nsid`.
    fn post(nsid: &str) -> wiremock::MockBuilder {
        Mock::given(method("POST")).and(path(format!("/xrpc/{nsid}")))
    }

    /// A mock for a GET that carries `token` as its bearer.
    fn get_as(token: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(header("authorization", format!("Bearer {token}").as_str()))
    }

    /// A server with `mocks` mounted and a source that logs in to it with the app password
    /// file; the server and file live as long as the returned values.
    async fn logged_in_to(
        mocks: impl IntoIterator<Item = Mock>,
    ) -> (MockServer, tempfile::TempDir, BlueskySource) {
        let server = testing::serving(mocks).await;
        let (dir, file) = password_file();
        let src = logged_in(&server.uri(), &file);
        (server, dir, src)
    }

    #[tokio::test]
    async fn app_password_login_sends_the_access_token() {
        // The end-to-end fake: a session for the app password, searches for its token only.
        let server = fake::start("bluesky").await;
        let (_dir, file) = password_file();
        let src = logged_in(&server.uri(), &file);
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert!(!batch.mentions.is_empty());
        // The session is kept between polls.
        src.poll(&ctx(None)).await.unwrap();
        let requests = server.received_requests().await.unwrap();
        let logins = requests
            .iter()
            .filter(|r| r.url.path().ends_with("createSession"));
        assert_eq!(logins.count(), 1);
    }

    #[tokio::test]
    async fn an_expired_session_is_refreshed_once() {
        let (_server, _dir, src) = logged_in_to([
            post("com.atproto.server.createSession")
                .respond_with(json(CREATE))
                .expect(1),
            get_as(ACCESS1)
                .respond_with(testing::json_status(400, EXPIRED))
                .expect(1),
            post("com.atproto.server.refreshSession")
                .and(header(
                    "authorization",
                    format!("Bearer {REFRESH1}").as_str(),
                ))
                .respond_with(json(REFRESH))
                .expect(1),
            get_as(ACCESS2).respond_with(json(NEWER)).expect(1),
        ])
        .await;
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(batch.mentions.len(), 2);
    }

    #[tokio::test]
    async fn a_token_refused_after_refresh_is_an_auth_error() {
        let (_server, _dir, src) = logged_in_to([
            post("com.atproto.server.createSession").respond_with(json(CREATE)),
            post("com.atproto.server.refreshSession")
                .respond_with(json(REFRESH))
                .expect(1),
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(401).set_body_string(
                    r#"{"error":"AuthenticationRequired","message":"Invalid token"}"#,
                ))
                .expect(2),
        ])
        .await;
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "bluesky: token rejected (401); check credentials password_env/password_file of source bsky"
        );
    }

    #[tokio::test]
    async fn a_wrong_app_password_names_the_account_and_key() {
        let (_server, _dir, src) = logged_in_to([post("com.atproto.server.createSession")
            .respond_with(ResponseTemplate::new(401).set_body_string(
                r#"{"error":"AuthenticationRequired","message":"Invalid identifier or password"}"#,
            ))])
        .await;
        let err = src.poll(&ctx(None)).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SourceError::Auth(_)));
        assert!(
            msg.contains("webcare.fjordlink.nl") && msg.contains("password_env/password_file"),
            "{msg}"
        );
        assert!(!msg.contains("abcd-efgh"), "{msg}");
    }

    #[tokio::test]
    async fn rate_limit_headers_set_the_next_poll_and_429_the_retry() {
        let reset = (Utc::now().timestamp() + 90).to_string();
        let server = testing::serving([Mock::given(method("GET"))
            .and(query_param_is_missing("cursor"))
            .respond_with(
                json(PAGE1)
                    .insert_header("RateLimit-Limit", "3000")
                    .insert_header("RateLimit-Remaining", "2")
                    .insert_header("RateLimit-Reset", reset.as_str())
                    .insert_header("RateLimit-Policy", "3000;w=300"),
            )
            .expect(1)])
        .await;
        let src = in_threes(&server);
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert!(!batch.more);
        let wait = batch.next_poll_in.unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        // The window was not finished: the next poll resumes at page 2.
        let c: BskyCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.resume.unwrap().page, "3");

        let limited = testing::answering(
            ResponseTemplate::new(429)
                .insert_header("RateLimit-Remaining", "0")
                .insert_header("RateLimit-Reset", reset.as_str())
                .set_body_string(
                    r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#,
                ),
        )
        .await;
        let src = source(serde_json::json!({"query": "fjordlink", "base_url": limited.uri()}));
        match src.poll(&ctx(None)).await.unwrap_err() {
            SourceError::RateLimited {
                retry_after: Some(d),
            } => {
                assert!(
                    d > Duration::from_secs(80) && d <= Duration::from_secs(90),
                    "{d:?}"
                )
            }
            other => panic!("expected RateLimited with a delay, got {other}"),
        }
    }

    const FORBIDDEN: &str = include_str!("../../fixtures/bluesky/search-forbidden.html");

    fn forbidden() -> ResponseTemplate {
        ResponseTemplate::new(403).set_body_raw(FORBIDDEN.as_bytes().to_vec(), "text/html")
    }

    #[tokio::test]
    async fn an_anonymous_search_refused_with_an_html_403_says_login_required() {
        let server = MockServer::start().await;
        fake::mount(&server, "bluesky", "forbidden").await;
        let src = source(serde_json::json!({"query": "fjordlink", "base_url": server.uri()}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        let SourceError::Auth(message) = &err else {
            panic!("expected an auth error, got {err:?}");
        };
        assert!(message.contains("login required"), "{message}");
        assert!(message.contains("source bsky"), "{message}");
        assert!(message.contains("password_env"), "{message}");
    }

    #[tokio::test]
    async fn a_logged_in_search_refused_with_403_is_an_auth_error_not_an_outage() {
        let (_server, _dir, src) = logged_in_to([
            post("com.atproto.server.createSession").respond_with(json(CREATE)),
            Mock::given(method("GET"))
                .and(path("/xrpc/app.bsky.feed.searchPosts"))
                .respond_with(forbidden())
                .expect(1),
        ])
        .await;
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("login required") && m.contains("(403)")),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), None);
    }

    #[tokio::test]
    async fn the_mentions_filter_is_sent_without_its_at_sign() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(path("/xrpc/app.bsky.feed.searchPosts"))
            .and(query_param("mentions", "fjordlink.nl"))
            .respond_with(json(NEWER))
            .expect(1)])
        .await;
        let src = source(serde_json::json!({
            "query": "fjordlink", "base_url": server.uri(), "mentions": "@fjordlink.nl"
        }));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(batch.mentions.len(), 2);
        assert!(
            src.describe()
                .iter()
                .any(|l| l == "only posts that mention @fjordlink.nl"),
            "{:?}",
            src.describe()
        );
    }

    #[test]
    fn search_without_a_login_is_refused_unless_base_url_names_another_server() {
        let mut errors = crate::config::ConfigErrors::default();
        BlueskySource::validate(
            &config(serde_json::json!({"query": "fjordlink"})),
            "sources[0]",
            &mut errors,
        );
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].0, "sources[0].identifier");
        assert!(
            errors.problems[0].1.contains("requires a login"),
            "{errors}"
        );
        let elsewhere =
            serde_json::json!({"query": "fjordlink", "base_url": "https://appview.example.org"});
        assert!(testing::problem_keys(&config(elsewhere)).is_empty());
    }

    #[test]
    fn default_host_depends_on_credentials() {
        let (_dir, file) = password_file();
        // Without a login only a server the operator names may be searched: the public
        // AppView refuses anonymous search, so the source is not built at all.
        let anonymous = BlueskySource::from_config(
            &config(serde_json::json!({"query": "x"})),
            Client::new("webcare-test").unwrap(),
        );
        let Err(e) = anonymous else {
            panic!("an anonymous source on the default host was built")
        };
        assert!(e.to_string().contains("requires a login"), "{e}");
        let s = source(
            serde_json::json!({"query": "x", "identifier": "a.bsky.social", "password_file": file}),
        );
        assert_eq!(s.base_url, ENTRYWAY);
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg = config(serde_json::json!({"query": "", "password_env": "BSKY_PW", "limit": 0}));
        assert_eq!(
            testing::problem_keys(&cfg),
            ["query", "identifier", "limit"]
        );
    }

    #[test]
    fn shortened_link_text_is_replaced_by_the_full_address() {
        let facets: Vec<Facet> = serde_json::from_value(serde_json::json!([
            {"index": {"byteStart": 4, "byteEnd": 25}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://fjordlink.dk/drift/aarhus"}]},
            {"index": {"byteStart": 29, "byteEnd": 32}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/x"}]}
        ]))
        .unwrap();
        assert_eq!(
            expand_links("Se: fjordlink.dk/drift... og her", &facets),
            "Se: https://fjordlink.dk/drift/aarhus og her (https://example.org/x)"
        );
    }
}
