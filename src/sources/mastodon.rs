//! Mastodon and other Fediverse servers that speak the Mastodon API: public hashtag timelines
//! (`/api/v1/timelines/tag/:tag`, no token on most servers), full-text status search
//! (`/api/v2/search?type=statuses`, needs a user token) and, with `mentions = true`, every post
//! that @mentions the token's account from any server (`/api/v1/notifications?types[]=mention`:
//! one token sees mentions from the whole Fediverse). Tags and search read one server;
//! configure several sources to watch several servers.
//!
//! Each hashtag, the search and the mentions are a *stream* with their own cursor: hashtags and
//! mentions read forward with `min_id` (the server's `Link: rel="prev"`), the search reads
//! newest first back to the last id seen. Boosts are unwrapped to the post they share.

use crate::sources::checks::Check;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, LINK};
use serde::{Deserialize, Serialize};

use super::http::{Client, Fetched, parse_rate_limit_reset};
use super::own_reply::own_name;
use super::text::html_to_text;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

/// Stop paging when the server's request budget falls to this many.
const LOW_REMAINING: i64 = 5;

/// Keys of a `mastodon` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonSettings {
    /// The server to read, e.g. `https://mastodon.social`.
    pub base_url: String,
    /// Full-text search words; needs a token and finds only posts that opted in to search.
    pub query: Option<String>,
    /// Hashtags whose public timelines to read, without `#`.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Read every post that @mentions the token's account (the brand's), from any server;
    /// needs a token with `read:notifications`.
    #[serde(default)]
    pub mentions: bool,
    /// Statuses per request (Mastodon allows up to 40).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Requests per stream per poll before the rest is left for the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// The brand's own accounts (`name@server`, or `name` for one on this server): their
    /// posts are no mentions, and their replies mark the post they answer as answered.
    #[serde(default)]
    pub own_accounts: Vec<String>,
}

fn default_limit() -> u32 {
    40
}
fn default_max_pages() -> u32 {
    5
}

/// Per-stream positions, keyed `tag:NAME` or `search`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MastodonCursor {
    #[serde(default)]
    streams: BTreeMap<String, StreamCursor>,
    /// Account ids of the brand's own accounts on this server, looked up once by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    account_ids: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StreamCursor {
    /// Everything up to and including this id has been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_id: Option<String>,
    /// Search only: an unfinished window, read down from this id on the next poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_id: Option<String>,
    /// Search only: the newest id of the unfinished window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SearchResults {
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
}

/// A timeline entry: where it sits (for paging) and the status JSON as the server sent it.
#[derive(Debug)]
struct Item {
    id: String,
    created_at: DateTime<Utc>,
    raw: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Position {
    id: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    created_at: DateTime<Utc>,
    uri: Option<String>,
    url: Option<String>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    spoiler_text: String,
    language: Option<String>,
    in_reply_to_id: Option<String>,
    replies_count: Option<i64>,
    reblogs_count: Option<i64>,
    favourites_count: Option<i64>,
    account: Account,
}

#[derive(Debug, Deserialize)]
struct Account {
    acct: String,
    #[serde(default)]
    display_name: String,
    followers_count: Option<i64>,
}

/// A Mastodon server's hashtag timelines and status search.
pub struct MastodonSource {
    name: String,
    settings: MastodonSettings,
    token: Option<Secret>,
    host: String,
    client: Client,
}

/// What a request told us about the server's rate-limit budget.
#[derive(Debug, Default)]
struct Budget {
    wait: Option<Duration>,
}

impl Budget {
    fn note(&mut self, headers: &HeaderMap) {
        let remaining =
            header(headers, "x-ratelimit-remaining").and_then(|v| v.parse::<i64>().ok());
        if remaining.is_some_and(|r| r <= LOW_REMAINING) {
            let reset = header(headers, "x-ratelimit-reset")
                .and_then(|v| parse_rate_limit_reset(v, Utc::now()))
                .unwrap_or(Duration::from_secs(300));
            self.wait = Some(self.wait.map_or(reset, |w| w.max(reset)));
        }
    }
    fn exhausted(&self) -> bool {
        self.wait.is_some()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl SourceKind for MastodonSource {
    const KIND: &'static str = "mastodon";
    /// The access token, needed for search and mentions: `token_env` or `token_file`.
    const SECRETS: &'static [&'static str] = &["token"];
    type Settings = MastodonSettings;
    type Checked = Option<Secret>;

    fn check(s: &MastodonSettings, cx: &mut Check<'_>) -> Option<Option<Secret>> {
        match url::Url::parse(&s.base_url) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {}
            Ok(_) => cx.problem(
                "base_url",
                format!(
                    "\"{}\" is not a server address; use e.g. https://mastodon.social",
                    s.base_url
                ),
            ),
            Err(e) => cx.problem("base_url", format!("\"{}\" is not a URL: {e}", s.base_url)),
        }
        let query = s.query.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if query.is_none() && s.hashtags.is_empty() && !s.mentions {
            let path = cx.path;
            cx.errors().push(
                path,
                "set query = \"…\" (needs a token), hashtags = [\"…\"] and/or mentions = true (needs a token)",
            );
        }
        cx.hashtags("hashtags", &s.hashtags);
        let token = cx.secret("token", query.is_some() || s.mentions);
        cx.in_range("limit", s.limit, 1..=40, "use");
        cx.at_least_one("max_pages", s.max_pages);
        Some(token)
    }

    fn build(
        settings: MastodonSettings,
        token: Option<Secret>,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<MastodonSource> {
        let host = url::Url::parse(&settings.base_url)?
            .host_str()
            .unwrap_or_default()
            .to_string();
        Ok(MastodonSource {
            name: source.name.clone(),
            settings,
            token,
            host,
            client,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "base_url": base, "hashtags": ["fjordlink"], "query": "fjordlink",
            "token_file": secret_file
        })
    }
}

impl MastodonSource {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Fetched, SourceError> {
        let mut req = self.client.request(reqwest::Method::GET, url).query(query);
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {}", t.expose()));
        }
        let resp = self.client.send(req).await?;
        match resp.status {
            200..=299 => Ok(resp),
            401 | 403 if self.token.is_some() => Err(SourceError::Auth(format!(
                "mastodon: token rejected ({}); check credentials token_env/token_file of source {}",
                resp.status, self.name
            ))),
            401 | 403 => Err(SourceError::Auth(format!(
                "mastodon: {} requires a token ({}); set token_env or token_file on source {}",
                self.host, resp.status, self.name
            ))),
            _ => Err(resp.unexpected_status()),
        }
    }

    /// Reads a timeline (a hashtag's, or the mention notifications) forward from
    /// `state.min_id`, oldest pages first; `fixed` are the parameters every request carries.
    async fn poll_forward(
        &self,
        url: &str,
        fixed: &[(&str, String)],
        state: Option<&StreamCursor>,
        cutoff: DateTime<Utc>,
        out: &mut Vec<Item>,
        budget: &mut Budget,
    ) -> Result<(StreamCursor, bool), SourceError> {
        let Some(mut min_id) = state.and_then(|s| s.min_id.clone()) else {
            let newest = self
                .scan_back(url, fixed, (None, None), cutoff, out, budget)
                .await?;
            return Ok((
                StreamCursor {
                    min_id: newest.0,
                    ..Default::default()
                },
                false,
            ));
        };
        let limit = self.settings.limit.to_string();
        for _ in 0..self.settings.max_pages {
            if budget.exhausted() {
                return Ok((cursor_at(min_id), false));
            }
            let mut query = fixed.to_vec();
            query.push(("limit", limit.clone()));
            query.push(("min_id", min_id.clone()));
            let resp = self.get(url, &query).await?;
            budget.note(&resp.headers);
            let page = statuses(&resp, resp.json::<Vec<serde_json::Value>>()?);
            let Some(newest) = page
                .iter()
                .map(|s| s.id.clone())
                .max_by(|a, b| id_cmp(a, b))
            else {
                return Ok((cursor_at(min_id), false));
            };
            // The server's own pointer to the next newer page, if it gave one.
            let next = link_param(&resp.headers, "prev", "min_id").unwrap_or(newest);
            let full = page.len() >= self.settings.limit as usize;
            out.extend(page);
            if id_cmp(&next, &min_id) != Ordering::Greater {
                return Ok((cursor_at(min_id), false));
            }
            min_id = next;
            if !full {
                return Ok((cursor_at(min_id), false));
            }
        }
        Ok((cursor_at(min_id), true))
    }

    /// Reads the status search newest first, down to the last id read.
    async fn poll_search(
        &self,
        query: &str,
        state: Option<&StreamCursor>,
        cutoff: DateTime<Utc>,
        out: &mut Vec<Item>,
        budget: &mut Budget,
    ) -> Result<(StreamCursor, bool), SourceError> {
        let url = self.endpoint("/api/v2/search");
        let fixed = [
            ("q", query.to_string()),
            ("type", "statuses".to_string()),
            ("resolve", "false".to_string()),
        ];
        let Some(floor) = state.and_then(|s| s.min_id.clone()) else {
            let (newest, _) = self
                .scan_back(&url, &fixed, (None, None), cutoff, out, budget)
                .await?;
            return Ok((
                StreamCursor {
                    min_id: newest,
                    ..Default::default()
                },
                false,
            ));
        };
        let upper = state.and_then(|s| s.max_id.clone());
        let pending = state.and_then(|s| s.newest.clone());
        let (newest, finished) = self
            .scan_back(&url, &fixed, (Some(&floor), upper), cutoff, out, budget)
            .await?;
        let newest = max_id(max_id(pending, newest), Some(floor.clone()));
        Ok(match finished {
            Finished::Yes => (cursor_at(newest.unwrap_or(floor)), false),
            Finished::No(oldest) => (
                StreamCursor {
                    min_id: Some(floor),
                    max_id: Some(oldest),
                    newest,
                },
                !budget.exhausted(),
            ),
        })
    }

    /// Pages newest first with `max_id` from `upper`, stopping at `floor` (exclusive), at
    /// `cutoff` when there is no floor, at an empty page or after `max_pages`. Returns the newest id seen.
    async fn scan_back(
        &self,
        url: &str,
        fixed: &[(&str, String)],
        (floor, mut upper): (Option<&str>, Option<String>),
        cutoff: DateTime<Utc>,
        out: &mut Vec<Item>,
        budget: &mut Budget,
    ) -> Result<(Option<String>, Finished), SourceError> {
        let mut newest: Option<String> = None;
        for _ in 0..self.settings.max_pages {
            if budget.exhausted() {
                break;
            }
            let mut query = fixed.to_vec();
            query.push(("limit", self.settings.limit.to_string()));
            if let Some(f) = floor {
                query.push(("min_id", f.to_string()));
            }
            if let Some(u) = &upper {
                query.push(("max_id", u.clone()));
            }
            let resp = self.get(url, &query).await?;
            budget.note(&resp.headers);
            let body = if url.ends_with("/api/v2/search") {
                resp.json::<SearchResults>()?.statuses
            } else {
                resp.json::<Vec<serde_json::Value>>()?
            };
            let mut page = statuses(&resp, body);
            if let Some(f) = floor {
                page.retain(|s| id_cmp(&s.id, f) == Ordering::Greater);
            }
            let Some(oldest) = page
                .iter()
                .map(|s| s.id.clone())
                .min_by(|a, b| id_cmp(a, b))
            else {
                return Ok((newest, Finished::Yes));
            };
            newest = max_id(
                newest,
                page.iter()
                    .map(|s| s.id.clone())
                    .max_by(|a, b| id_cmp(a, b)),
            );
            let reached_cutoff = floor.is_none() && page.iter().any(|s| s.created_at < cutoff);
            let full = page.len() >= self.settings.limit as usize;
            let next = link_param(&resp.headers, "next", "max_id").unwrap_or(oldest.clone());
            out.extend(
                page.into_iter()
                    .filter(|s| floor.is_some() || s.created_at >= cutoff),
            );
            if reached_cutoff || !full {
                return Ok((newest, Finished::Yes));
            }
            upper = Some(next);
        }
        Ok((
            newest,
            match upper {
                Some(u) => Finished::No(u),
                None => Finished::Yes,
            },
        ))
    }
}

#[derive(Debug)]
enum Finished {
    Yes,
    /// Not yet; continue below this id.
    No(String),
}

fn cursor_at(min_id: String) -> StreamCursor {
    StreamCursor {
        min_id: Some(min_id),
        ..Default::default()
    }
}

/// Mastodon ids are numeric strings that sort by time; other servers use sortable strings.
fn id_cmp(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

fn max_id(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if id_cmp(&a, &b) == Ordering::Less {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Reads each entry's id and time, keeping its JSON; entries without them are skipped rather
/// than failing the poll.
fn statuses(resp: &Fetched, items: Vec<serde_json::Value>) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    for raw in items {
        match serde_json::from_value::<Position>(raw.clone()) {
            Ok(p) => out.push(Item {
                id: p.id,
                created_at: p.created_at,
                raw,
            }),
            Err(e) => {
                tracing::debug!(url = %resp.url, error = %e, "skipping a status without id or time")
            }
        }
    }
    out
}

/// A parameter of the URL a `Link` header gives for `rel`.
fn link_param(headers: &HeaderMap, rel: &str, param: &str) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_rel = params.split(';').any(|p| {
            let p = p.trim();
            p == format!("rel=\"{rel}\"") || p == format!("rel={rel}")
        });
        if !is_rel {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let u = url::Url::parse(target).ok()?;
        u.query_pairs()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.into_owned())
    })
}

#[async_trait]
impl Source for MastodonSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let before: MastodonCursor = ctx.stored_cursor();
        let mut run = Run {
            before: &before,
            cutoff: Utc::now()
                - chrono::Duration::from_std(ctx.backfill).unwrap_or(chrono::Duration::days(1)),
            next: MastodonCursor::default(),
            budget: Budget::default(),
            more: false,
        };
        let mut found = Vec::new();
        for tag in &self.settings.hashtags {
            let tag = tag.trim_start_matches('#').to_lowercase();
            let url = self.endpoint(&format!("/api/v1/timelines/tag/{tag}"));
            self.follow(&mut run, format!("tag:{tag}"), &url, &[], &mut found)
                .await?;
        }
        if let Some(q) = self
            .settings
            .query
            .as_deref()
            .filter(|q| !q.trim().is_empty())
        {
            let state = run.before.streams.get("search");
            let read = self
                .poll_search(q, state, run.cutoff, &mut found, &mut run.budget)
                .await?;
            run.reached("search".into(), read);
        }
        if self.settings.mentions {
            let url = self.endpoint("/api/v1/notifications");
            let mut notes = Vec::new();
            let only = [("types[]", "mention".to_string())];
            self.follow(&mut run, "mentions".into(), &url, &only, &mut notes)
                .await?;
            // A notification pages by its own id; the mention is the status it carries.
            found.extend(notes.into_iter().filter_map(|n| {
                let status = n.raw.get("status").filter(|s| s.is_object())?.clone();
                Some(Item { raw: status, ..n })
            }));
        }
        // The brand's own posts on this server, where its replies are whatever words they use.
        for name in self.local_own_accounts() {
            let id = match run.before.account_ids.get(&name) {
                Some(id) => id.clone(),
                None => match self.lookup_account(&name).await? {
                    Some(id) => id,
                    None => continue,
                },
            };
            run.next.account_ids.insert(name.clone(), id.clone());
            let url = self.endpoint(&format!("/api/v1/accounts/{id}/statuses"));
            let own = [("exclude_reblogs", "true".to_string())];
            self.follow(&mut run, format!("own:{name}"), &url, &own, &mut found)
                .await?;
        }
        let Run {
            mut next,
            mut budget,
            more,
            ..
        } = run;
        // Streams without a position yet keep none, so the next poll backfills them again.
        next.streams.retain(|_, s| s.min_id.is_some());
        let (found, own_replies) = self.split_own(found, &mut budget).await;
        let mut seen = HashSet::new();
        let mentions = found
            .into_iter()
            .filter_map(|s| self.to_mention(s))
            .filter(|m| seen.insert(m.external_id.clone()))
            .collect();
        Ok(Batch {
            mentions,
            own_replies,
            cursor: Some(serde_json::to_string(&next).unwrap_or_default()),
            next_poll_in: budget.wait,
            more: more && !budget.exhausted(),
            unread: None,
        })
    }
}

/// One poll's way through its streams: where each stood before the poll and where it got to,
/// the server's request budget, and whether any stream has more than this poll read.
struct Run<'a> {
    before: &'a MastodonCursor,
    cutoff: DateTime<Utc>,
    next: MastodonCursor,
    budget: Budget,
    more: bool,
}

impl Run<'_> {
    /// Notes where stream `key` got to, as `poll_forward` or `poll_search` returned it.
    fn reached(&mut self, key: String, (state, unfinished): (StreamCursor, bool)) {
        self.more |= unfinished;
        self.next.streams.insert(key, state);
    }
}

impl MastodonSource {
    /// Reads the stream `key` at `url` (with the `fixed` parameters) forward from where the
    /// last poll left it, into `out`.
    async fn follow(
        &self,
        run: &mut Run<'_>,
        key: String,
        url: &str,
        fixed: &[(&str, String)],
        out: &mut Vec<Item>,
    ) -> Result<(), SourceError> {
        let state = run.before.streams.get(&key);
        let read = self
            .poll_forward(url, fixed, state, run.cutoff, out, &mut run.budget)
            .await?;
        run.reached(key, read);
        Ok(())
    }

    /// The names of `own_accounts` that live on the server read (`name`, or `name@HOST`).
    fn local_own_accounts(&self) -> Vec<String> {
        self.settings
            .own_accounts
            .iter()
            .map(|a| a.trim().trim_start_matches('@'))
            .filter_map(|a| match a.split_once('@') {
                None => Some(a.to_string()),
                Some((name, host)) if host.eq_ignore_ascii_case(&self.host) => {
                    Some(name.to_string())
                }
                Some(_) => None,
            })
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// The id of account `name` on this server (`/api/v1/accounts/lookup`); `None`, with a
    /// warning, when the server does not know it.
    async fn lookup_account(&self, name: &str) -> Result<Option<String>, SourceError> {
        let url = self.endpoint("/api/v1/accounts/lookup");
        match self.get(&url, &[("acct", name.to_string())]).await {
            Ok(resp) => Ok(resp
                .json::<serde_json::Value>()?
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_string)),
            Err(SourceError::Status { status: 404, .. }) => {
                tracing::warn!(source = %self.name, account = %name, "mastodon: own account not found on this server; check own_accounts");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The configured own account `acct` (as a status gives it: `name` on this server,
    /// `name@server` elsewhere) is, if any.
    fn own_account(&self, acct: &str) -> Option<String> {
        let own = &self.settings.own_accounts;
        own_name(acct, own).or_else(|| {
            if acct.contains('@') {
                None
            } else {
                own_name(&format!("{acct}@{}", self.host), own)
            }
        })
    }

    /// Takes the posts of `own_accounts` out of `found`; those that reply to a post become
    /// [`OwnReply`]s naming the answered post by its `uri` (the mention's external id). A
    /// reply carries only the server-local id of its parent: the `uri` comes from this poll's
    /// posts, else from `GET /api/v1/statuses/:id` (one request per reply, within the budget).
    async fn split_own(&self, found: Vec<Item>, budget: &mut Budget) -> (Vec<Item>, Vec<OwnReply>) {
        if self.settings.own_accounts.is_empty() {
            return (found, Vec::new());
        }
        let field = |raw: &serde_json::Value, k: &str| {
            raw.get(k).and_then(|v| v.as_str()).map(str::to_string)
        };
        let uris: HashMap<String, String> = found
            .iter()
            .filter_map(|i| Some((field(&i.raw, "id")?, field(&i.raw, "uri")?)))
            .collect();
        let mut kept = Vec::with_capacity(found.len());
        let mut replies = Vec::new();
        for item in found {
            // A boost by the brand shares someone else's post: that post is still theirs.
            let boost = item.raw.get("reblog").is_some_and(|r| r.is_object());
            let own = Some(&item.raw)
                .filter(|_| !boost)
                .and_then(|r| r.pointer("/account/acct"))
                .and_then(|a| a.as_str())
                .and_then(|a| self.own_account(a));
            let Some(account) = own else {
                kept.push(item);
                continue;
            };
            let Some(parent_id) = field(&item.raw, "in_reply_to_id") else {
                continue;
            };
            let parent = match uris.get(&parent_id) {
                Some(uri) => Some(uri.clone()),
                None if !budget.exhausted() => {
                    let url = self.endpoint(&format!("/api/v1/statuses/{parent_id}"));
                    match self.get(&url, &[]).await {
                        Ok(resp) => {
                            budget.note(&resp.headers);
                            resp.json::<serde_json::Value>()
                                .ok()
                                .and_then(|v| field(&v, "uri"))
                        }
                        Err(e) => {
                            // A deleted or hidden parent: nothing to mark.
                            tracing::debug!(source = %self.name, error = %e, "mastodon: cannot read the post a brand reply answers");
                            None
                        }
                    }
                }
                None => None,
            };
            if let Some(parent) = parent {
                replies.push(OwnReply {
                    parent,
                    account,
                    at: item.created_at,
                });
            }
        }
        (kept, replies)
    }

    /// Normalises a status (the shared post, for a boost); `None` for posts with nothing to read.
    fn to_mention(&self, item: Item) -> Option<Mention> {
        let inner = match item.raw.get("reblog") {
            Some(r) if r.is_object() => r.clone(),
            _ => item.raw,
        };
        let s: Status = serde_json::from_value(inner.clone()).ok()?;
        let mut text = html_to_text(&s.content);
        let spoiler = s.spoiler_text.trim();
        if !spoiler.is_empty() {
            text = if text.is_empty() {
                spoiler.to_string()
            } else {
                format!("{spoiler}\n{text}")
            };
        }
        if text.is_empty() {
            return None;
        }
        let acct = if s.account.acct.contains('@') {
            s.account.acct.clone()
        } else {
            format!("{}@{}", s.account.acct, self.host)
        };
        let mut raw = inner;
        if let Some(obj) = raw.as_object_mut() {
            // Per-viewer flags say nothing about the post.
            for k in [
                "favourited",
                "reblogged",
                "muted",
                "bookmarked",
                "pinned",
                "filtered",
            ] {
                obj.remove(k);
            }
        }
        Some(Mention {
            external_id: s
                .uri
                .clone()
                .unwrap_or_else(|| format!("{}/{}", self.host, s.id)),
            url: s.url.or(s.uri),
            author_handle: Some(acct),
            author_name: Some(s.account.display_name.trim().to_string()).filter(|n| !n.is_empty()),
            author_reach: s.account.followers_count,
            lang: s.language.filter(|l| !l.is_empty()),
            text,
            created_at: s.created_at,
            in_reply_to: s.in_reply_to_id,
            engagement: Engagement {
                likes: s.favourites_count,
                replies: s.replies_count,
                reposts: s.reblogs_count,
            },
            raw,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{self, json};
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TAG1: &str = include_str!("../../fixtures/mastodon/tag-page1.json");
    const TAG2: &str = include_str!("../../fixtures/mastodon/tag-page2.json");
    const NEWER: &str = include_str!("../../fixtures/mastodon/tag-newer.json");
    const SEARCH1: &str = include_str!("../../fixtures/mastodon/search-page1.json");
    const SEARCH2: &str = include_str!("../../fixtures/mastodon/search-page2.json");

    /// The hashtag timeline the tests follow.
    const TAG: &str = "/api/v1/timelines/tag/fjordlink";

    const S1: &str = "117659035238400001";
    const S2: &str = "117676258099200002";
    const S3: &str = "117676494028800003";
    const BOOST: &str = "117676769280000004";
    const S5: &str = "117676965888000005";
    const S6: &str = "117677201817600006";
    const S7: &str = "117677205749760009";

    fn config(settings: serde_json::Value) -> SourceConfig {
        testing::source_config("mastodon-social", "mastodon", settings)
    }

    fn source(settings: serde_json::Value) -> MastodonSource {
        testing::built(&config(settings))
    }

    /// A backfill window that starts between S1 (three days before the others) and S2.
    fn ctx(cursor: Option<&str>) -> PollContext {
        let s2_time = DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z").unwrap();
        let back = (Utc::now() - s2_time.with_timezone(&Utc)).to_std().unwrap();
        PollContext {
            cursor: cursor.map(str::to_string),
            backfill: back + Duration::from_secs(7200),
        }
    }

    fn token_file(value: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, format!("{value}\n")).unwrap();
        let s = p.display().to_string();
        (dir, s)
    }

    /// A source with `settings` that reads its token `value` from a file; the file lives as
    /// long as the returned directory.
    fn with_token(value: &str, settings: serde_json::Value) -> (tempfile::TempDir, MastodonSource) {
        let (dir, file) = token_file(value);
        let settings = testing::with_settings(settings, serde_json::json!({"token_file": file}));
        (dir, source(settings))
    }

    /// A mock for a GET of `p`.
    fn get(p: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path(p))
    }

    /// A `200` reply with `body` and a Link header pointing at the hashtag timeline on `base`
    /// with the query `next` as the next page and `prev` as the previous one.
    fn linked(body: &str, base: &str, next: &str, prev: &str) -> ResponseTemplate {
        json(body).insert_header(
            "Link",
            format!("<{base}{TAG}?{next}>; rel=\"next\", <{base}{TAG}?{prev}>; rel=\"prev\""),
        )
    }

    /// The two search pages, each expected once: SEARCH1 for `first` asking without max_id,
    /// SEARCH2 for `second` asking below S5.
    fn search_pages(first: wiremock::MockBuilder, second: wiremock::MockBuilder) -> [Mock; 2] {
        [
            first
                .and(query_param_is_missing("max_id"))
                .respond_with(json(SEARCH1))
                .expect(1),
            second
                .and(query_param("max_id", S5))
                .respond_with(json(SEARCH2))
                .expect(1),
        ]
    }

    fn ids(batch: &Batch) -> Vec<String> {
        batch
            .mentions
            .iter()
            .map(|m| m.external_id.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn mentions_from_every_server_come_from_the_notifications() {
        let server = testing::serving([
            get("/api/v1/notifications")
                .and(header("authorization", "Bearer brand-token"))
                .and(query_param("types[]", "mention"))
                .and(query_param_is_missing("min_id"))
                .respond_with(testing::fixture_reply(
                    "mastodon",
                    200,
                    "notifications-mentions.json",
                ))
                .expect(1),
            get("/api/v1/notifications")
                .and(query_param("types[]", "mention"))
                .and(query_param("min_id", "88213407"))
                .respond_with(json("[]"))
                .expect(1),
        ])
        .await;
        let (_dir, src) = with_token(
            "brand-token",
            serde_json::json!({"base_url": server.uri(), "mentions": true}),
        );
        let batch = src.poll(&ctx(None)).await.unwrap();
        let external: Vec<&str> = batch
            .mentions
            .iter()
            .map(|m| m.external_id.as_str())
            .collect();
        assert_eq!(
            external,
            [
                "https://fosstodon.org/users/mette/statuses/113561900112233001",
                "https://mastodon.nl/users/joost/statuses/113561800000000077"
            ]
        );
        let mette = &batch.mentions[0];
        assert_eq!(mette.author_handle.as_deref(), Some("mette@fosstodon.org"));
        assert_eq!(mette.lang.as_deref(), Some("da"));
        assert!(
            mette.text.contains("routeren blinker rødt"),
            "{}",
            mette.text
        );
        assert_eq!(
            batch.mentions[1].in_reply_to.as_deref(),
            Some("117677290000000001")
        );
        let cursor = batch.cursor.unwrap();
        let c: MastodonCursor = serde_json::from_str(&cursor).unwrap();
        assert_eq!(c.streams["mentions"].min_id.as_deref(), Some("88213407"));
        let again = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert!(again.mentions.is_empty());
    }

    #[test]
    fn mentions_need_a_token() {
        assert_eq!(
            testing::problem_keys(&config(
                serde_json::json!({"base_url": "https://mastodon.social", "mentions": true})
            )),
            ["token_env"]
        );
    }

    #[tokio::test]
    async fn first_poll_backfills_the_hashtag_timeline_newest_first() {
        let server = MockServer::start().await;
        let base = server.uri();
        testing::mount_all(
            &server,
            [
                get(TAG)
                    .and(query_param_is_missing("max_id"))
                    .and(query_param_is_missing("min_id"))
                    .and(query_param("limit", "3"))
                    .respond_with(linked(
                        TAG1,
                        &base,
                        &format!("limit=3&max_id={S3}"),
                        &format!("limit=3&min_id={S5}"),
                    ))
                    .expect(1),
                get(TAG)
                    .and(query_param("max_id", S3))
                    .respond_with(json(TAG2))
                    .expect(1),
            ],
        )
        .await;
        let src =
            source(serde_json::json!({"base_url": base, "hashtags": ["#Fjordlink"], "limit": 3}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        // The boost is unwrapped to Amy's post; S3 repeats on page 2; the media-only post has no
        // text; S1 is older than the backfill window.
        assert_eq!(ids(&batch), [S5, "117676729958400011", S3, S2]);
        assert!(!batch.more);
        let requests = server.received_requests().await.unwrap();
        assert!(
            requests
                .iter()
                .all(|r| !r.headers.contains_key("authorization"))
        );
        let cursor: MastodonCursor =
            serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor.streams["tag:fjordlink"].min_id.as_deref(), Some(S5));
        assert!(!ids(&batch).contains(&S1.to_string()));
        assert!(!ids(&batch).contains(&BOOST.to_string()));
    }

    #[tokio::test]
    async fn statuses_become_mentions_with_text_links_and_reach() {
        let server = testing::serving([Mock::given(method("GET")).respond_with(json(TAG1))]).await;
        let src = source(
            serde_json::json!({"base_url": server.uri(), "hashtags": ["fjordlink"], "limit": 40}),
        );
        let batch = src.poll(&ctx(None)).await.unwrap();
        let m = &batch.mentions[0];
        assert_eq!(
            m.text,
            "@fjordlink al de hele ochtend geen internet in Utrecht 😡 #fjordlink https://status.fjordlink.nl/storingen/2026-11-25\n<script>alert(1)</script> Wanneer is dit opgelost?"
        );
        let host = url::Url::parse(&server.uri())
            .unwrap()
            .host_str()
            .unwrap()
            .to_string();
        assert_eq!(
            m.author_handle.as_deref(),
            Some(format!("pieter@{host}").as_str())
        );
        assert_eq!(m.author_name.as_deref(), Some("Pieter 🚲"));
        assert_eq!(m.author_reach, Some(1843));
        assert_eq!(m.lang.as_deref(), Some("nl"));
        assert_eq!(
            m.url.as_deref(),
            Some(format!("https://social.example/@pieter/{S5}").as_str())
        );
        assert_eq!(
            m.engagement,
            Engagement {
                likes: Some(7),
                replies: Some(2),
                reposts: Some(1)
            }
        );
        let boosted = &batch.mentions[1];
        assert_eq!(boosted.author_handle.as_deref(), Some("amy@hachyderm.io"));
        assert_eq!(
            boosted.text,
            "Heads up: #Fjordlink mobile data is down in Aarhus too."
        );
        assert!(boosted.raw.get("reblog").is_some_and(|r| r.is_null()));
        let cw = &batch.mentions[2];
        assert_eq!(cw.lang, None);
        assert!(
            cw.text
                .starts_with("kundeservice-rant\nFjordlink har lovet mig"),
            "{}",
            cw.text
        );
        assert_eq!(cw.author_name.as_deref(), Some("Kirsten Holm"));
    }

    #[tokio::test]
    async fn incremental_poll_reads_forward_from_min_id_until_an_empty_page() {
        let server = MockServer::start().await;
        let base = server.uri();
        testing::mount_all(
            &server,
            [
                get(TAG)
                    .and(query_param("min_id", S5))
                    .and(query_param("limit", "2"))
                    .respond_with(linked(
                        NEWER,
                        &base,
                        &format!("max_id={S6}"),
                        &format!("min_id={S7}"),
                    ))
                    .expect(1),
                get(TAG)
                    .and(query_param("min_id", S7))
                    .respond_with(json("[]"))
                    .expect(1),
            ],
        )
        .await;
        let src =
            source(serde_json::json!({"base_url": base, "hashtags": ["fjordlink"], "limit": 2}));
        let cursor = format!(r#"{{"streams":{{"tag:fjordlink":{{"min_id":"{S5}"}}}}}}"#);
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert_eq!(ids(&batch), [S7, S6]);
        assert_eq!(batch.mentions[0].in_reply_to.as_deref(), Some(S5));
        assert!(!batch.more);
        let next: MastodonCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.streams["tag:fjordlink"].min_id.as_deref(), Some(S7));
    }

    #[tokio::test]
    async fn a_full_page_at_the_page_limit_asks_for_another_poll() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(query_param("min_id", S5))
            .respond_with(json(NEWER))
            .expect(1)])
        .await;
        let src = source(
            serde_json::json!({"base_url": server.uri(), "hashtags": ["fjordlink"], "limit": 2, "max_pages": 1}),
        );
        let cursor = format!(r#"{{"streams":{{"tag:fjordlink":{{"min_id":"{S5}"}}}}}}"#);
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert!(batch.more);
        let next: MastodonCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.streams["tag:fjordlink"].min_id.as_deref(), Some(S7));
    }

    #[tokio::test]
    async fn search_sends_the_token_and_pages_back_to_the_last_id_read() {
        let server = testing::serving(search_pages(
            get("/api/v2/search")
                .and(header("authorization", "Bearer tok-123"))
                .and(query_param("q", "fjordlink"))
                .and(query_param("type", "statuses"))
                .and(query_param("min_id", S2)),
            get("/api/v2/search").and(query_param("min_id", S2)),
        ))
        .await;
        let (_dir, src) = with_token(
            "tok-123",
            serde_json::json!({"base_url": server.uri(), "query": "fjordlink", "limit": 3}),
        );
        let cursor = format!(r#"{{"streams":{{"search":{{"min_id":"{S2}"}}}}}}"#);
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert_eq!(ids(&batch), [S7, S6, S5, S3]);
        let next: MastodonCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.streams["search"], cursor_at(S7.to_string()));
    }

    #[tokio::test]
    async fn an_unfinished_search_window_resumes_below_the_oldest_id_read() {
        let server =
            testing::serving(search_pages(get("/api/v2/search"), get("/api/v2/search"))).await;
        let (_dir, src) = with_token(
            "tok-123",
            serde_json::json!({"base_url": server.uri(), "query": "fjordlink", "limit": 3, "max_pages": 1}),
        );
        let cursor = format!(r#"{{"streams":{{"search":{{"min_id":"{S2}"}}}}}}"#);
        let first = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert!(first.more);
        assert_eq!(ids(&first), [S7, S6, S5]);
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert_eq!(ids(&second), [S3]);
        assert!(!second.more);
        let next: MastodonCursor = serde_json::from_str(second.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.streams["search"], cursor_at(S7.to_string()));
    }

    #[tokio::test]
    async fn a_low_request_budget_waits_for_the_reset() {
        let reset = (Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(
                json(NEWER)
                    .insert_header("X-RateLimit-Limit", "300")
                    .insert_header("X-RateLimit-Remaining", "3")
                    .insert_header("X-RateLimit-Reset", reset.as_str()),
            )
            .expect(1)])
        .await;
        let src = source(
            serde_json::json!({"base_url": server.uri(), "hashtags": ["fjordlink", "glasvezel"], "limit": 2}),
        );
        let cursor = format!(r#"{{"streams":{{"tag:fjordlink":{{"min_id":"{S5}"}}}}}}"#);
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert_eq!(batch.mentions.len(), 2);
        assert!(!batch.more);
        let wait = batch.next_poll_in.unwrap();
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn too_many_requests_waits_until_the_reset_header() {
        let reset = (Utc::now() + chrono::Duration::seconds(240)).to_rfc3339();
        let server = testing::answering(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", reset.as_str())
                .set_body_string(r#"{"error":"Too many requests"}"#),
        )
        .await;
        let src = source(serde_json::json!({"base_url": server.uri(), "hashtags": ["fjordlink"]}));
        match src.poll(&ctx(None)).await.unwrap_err() {
            SourceError::RateLimited {
                retry_after: Some(d),
            } => {
                assert!(
                    d > Duration::from_secs(230) && d <= Duration::from_secs(240),
                    "{d:?}"
                )
            }
            other => panic!("expected RateLimited with a delay, got {other}"),
        }
    }

    #[tokio::test]
    async fn a_rejected_token_is_an_auth_error_naming_the_key() {
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_string(r#"{"error":"The access token is invalid"}"#),
            )
            .expect(1)])
        .await;
        let (_dir, src) = with_token(
            "revoked",
            serde_json::json!({"base_url": server.uri(), "query": "fjordlink"}),
        );
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(matches!(err, SourceError::Auth(_)));
        assert_eq!(
            err.to_string(),
            "mastodon: token rejected (401); check credentials token_env/token_file of source mastodon-social"
        );
        assert!(!err.to_string().contains("revoked"));
    }

    #[tokio::test]
    async fn server_error_fails_the_poll() {
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "60"))])
        .await;
        let src = source(serde_json::json!({"base_url": server.uri(), "hashtags": ["fjordlink"]}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(err, SourceError::Status { status: 503, .. }),
            "{err}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn link_headers_give_the_paging_ids() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            "<https://m.example/api/v1/timelines/tag/x?max_id=10>; rel=\"next\", <https://m.example/api/v1/timelines/tag/x?min_id=20>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(link_param(&h, "next", "max_id").as_deref(), Some("10"));
        assert_eq!(link_param(&h, "prev", "min_id").as_deref(), Some("20"));
        assert_eq!(link_param(&h, "last", "min_id"), None);
    }

    #[test]
    fn ids_compare_as_numbers() {
        assert_eq!(id_cmp("99", "100"), Ordering::Less);
        assert_eq!(
            id_cmp("117677205749760009", "117677201817600006"),
            Ordering::Greater
        );
    }

    #[test]
    fn search_without_a_token_is_a_config_error() {
        let cfg = config(
            serde_json::json!({"base_url": "mastodon.social", "query": "fjordlink", "hashtags": ["fjord link"], "limit": 80}),
        );
        assert_eq!(
            testing::problem_keys(&cfg),
            ["base_url", "hashtags", "token_env", "limit"]
        );
    }
}
