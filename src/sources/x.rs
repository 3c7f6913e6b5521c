//! X (formerly Twitter): API v2 recent search for public posts that mention the brand.
//!
//! Reads `GET /2/tweets/search/recent` with an app bearer token, newest first, resuming from the
//! newest post id seen (`since_id`) and paging with `next_token`. Retweets are excluded in the
//! query and skipped if they slip through. Reading is billed per post (pay-per-use), so the
//! cursor counts the posts read each UTC day and calendar month and the source stops at
//! `daily_read_cap` or `monthly_read_cap`; [`SourceKind::usage_note`] turns the count into a
//! cost estimate.
//!
//! Recent search answers 400 to a `since_id` older than its seven-day window; the source then
//! starts again from the oldest time the window allows and logs the stretch it could not read.
//! Links arrive shortened to `t.co`; the `entities` X sends with each post put them back.

use crate::sources::checks::Check;
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::http::{Client, Fetched, rate_limit_reset};
use super::own_reply::own_name;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

const TWEET_FIELDS: &str = "created_at,lang,author_id,conversation_id,public_metrics,referenced_tweets,note_tweet,entities";
/// Milliseconds since the Unix epoch at X's snowflake epoch (2010-11-04T01:42:54.657Z).
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;
const USER_FIELDS: &str = "username,name,public_metrics,verified";
/// Recent search covers the last seven days; the API refuses a `start_time` older than that.
const SEARCH_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600 - 120);

/// Keys of an `x` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XSettings {
    /// Search query in X's operator syntax, e.g. `fjordlink OR @fjordlink lang:nl`.
    pub query: String,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Posts per request, 10 to 100.
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    /// Pages read per poll before handing back and continuing on the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Posts read per calendar month (UTC) before the source pauses until the next month;
    /// 0 means no cap.
    #[serde(default = "default_monthly_read_cap")]
    pub monthly_read_cap: u64,
    /// Posts read per UTC day before the source pauses until the next day; 0 means no cap.
    #[serde(default)]
    pub daily_read_cap: u64,
    /// What X charges per post read, in US dollars, for the cost estimate `webcare sources`
    /// shows. Check the developer console for your plan's price.
    #[serde(default = "default_price_per_post")]
    pub price_per_post_usd: f64,
    /// The brand's own X usernames (without `@`). The search also asks for their replies
    /// (`from:NAME is:reply`), which mark the posts they answer as answered; their posts are
    /// never mentions.
    #[serde(default)]
    pub own_accounts: Vec<String>,
    /// With `own_accounts`: quote posts of their posts are mentions too, found by the quoted
    /// post's address (`is:quote url:"x.com/NAME/status"`), whatever words they use.
    #[serde(default = "yes")]
    pub quotes: bool,
}

fn yes() -> bool {
    true
}

fn default_price_per_post() -> f64 {
    0.005
}

fn default_base_url() -> String {
    "https://api.x.com".into()
}
fn default_max_results() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    5
}
fn default_monthly_read_cap() -> u64 {
    10_000
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct XCursor {
    /// Newest post id of the last completed search run; the next run reads only newer posts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since_id: Option<String>,
    /// Backfill start of a first run that is still paging (before any `since_id` exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    /// Page token of a run that stopped at `max_pages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    /// Newest post id of the unfinished run; becomes `since_id` when the run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_newest_id: Option<String>,
    /// Month (`YYYY-MM`, UTC) that `reads` counts.
    #[serde(default)]
    month: String,
    /// Posts read this month.
    #[serde(default)]
    reads: u64,
    /// Day (`YYYY-MM-DD`, UTC) that `reads_today` counts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    day: String,
    /// Posts read today.
    #[serde(default)]
    reads_today: u64,
}

/// X recent search for one query.
pub struct XSource {
    settings: XSettings,
    token: Secret,
    client: Client,
}

impl SourceKind for XSource {
    const KIND: &'static str = "x";
    /// The app bearer token: `bearer_token_env` or `bearer_token_file`.
    const SECRETS: &'static [&'static str] = &["bearer_token"];
    type Settings = XSettings;
    type Checked = Secret;

    fn check(s: &XSettings, cx: &mut Check<'_>) -> Option<Secret> {
        cx.not_blank("query", &s.query, "");
        cx.in_range("max_results", s.max_results, 10..=100, "X accepts");
        cx.at_least_one("max_pages", s.max_pages);
        if !(s.price_per_post_usd.is_finite() && s.price_per_post_usd >= 0.0) {
            cx.problem(
                "price_per_post_usd",
                "must be a price in dollars, e.g. 0.005",
            );
        }
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        cx.secret("bearer_token", true)
    }

    fn build(
        settings: XSettings,
        token: Secret,
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<XSource> {
        Ok(XSource {
            settings,
            token,
            client,
        })
    }

    /// What the posts read so far cost, for `webcare sources`: today's and this month's counts
    /// from the stored `cursor`, priced with the source's `price_per_post_usd`.
    fn usage_note(
        settings: &serde_json::Map<String, serde_json::Value>,
        cursor: &str,
    ) -> Option<String> {
        let cur: XCursor = serde_json::from_str(cursor).ok()?;
        let price = settings
            .get("price_per_post_usd")
            .and_then(|p| p.as_f64())
            .unwrap_or_else(default_price_per_post);
        let now = Utc::now();
        let month = if cur.month == month_of(now) {
            cur.reads
        } else {
            0
        };
        let today = if cur.day == day_of(now) {
            cur.reads_today
        } else {
            0
        };
        Some(format!(
            "{today} posts read today, {month} this month ≈ ${:.2} at ${price} per post",
            month as f64 * price
        ))
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "query": "fjordlink", "base_url": base, "bearer_token_file": secret_file })
    }
}

impl XSource {
    /// The query sent to X: retweets are excluded unless the operator asked about them.
    fn query(&self) -> String {
        let q = self.settings.query.trim();
        let names: Vec<&str> = self
            .settings
            .own_accounts
            .iter()
            .map(|a| a.trim().trim_start_matches('@'))
            .filter(|a| !a.is_empty())
            .collect();
        let from: Vec<String> = names.iter().map(|a| format!("from:{a}")).collect();
        // The brand's replies come in the same search (and the same read budget): X applies
        // AND (a space) before OR, and the parentheses keep the user's query whole.
        let mut q = if names.is_empty() {
            q.to_string()
        } else {
            format!("({q}) OR (({}) is:reply)", from.join(" OR "))
        };
        if self.settings.quotes && !names.is_empty() {
            // A quote post carries the quoted post's address among its URLs, and `url:`
            // matches the expanded address; X still writes twitter.com in some of them.
            let urls: Vec<String> = names
                .iter()
                .flat_map(|a| {
                    [
                        format!("url:\"x.com/{a}/status\""),
                        format!("url:\"twitter.com/{a}/status\""),
                    ]
                })
                .collect();
            q = format!("{q} OR (is:quote ({}))", urls.join(" OR "));
        }
        if q.contains("is:retweet") {
            q
        } else {
            format!("({q}) -is:retweet")
        }
    }

    /// One search request; `None` when X refuses the cursor's `since_id` as too old.
    async fn search(
        &self,
        cursor: &XCursor,
        max_results: u32,
    ) -> Result<Option<(SearchResponse, Fetched)>, SourceError> {
        let url = format!(
            "{}/2/tweets/search/recent",
            self.settings.base_url.trim_end_matches('/')
        );
        let mut params: Vec<(&str, String)> = vec![
            ("query", self.query()),
            ("max_results", max_results.to_string()),
            ("tweet.fields", TWEET_FIELDS.into()),
            ("expansions", "author_id".into()),
            ("user.fields", USER_FIELDS.into()),
        ];
        if let Some(id) = &cursor.since_id {
            params.push(("since_id", id.clone()));
        } else if let Some(t) = &cursor.start_time {
            params.push(("start_time", t.clone()));
        }
        if let Some(t) = &cursor.next_token {
            params.push(("next_token", t.clone()));
        }
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(&params)
            .bearer_auth(self.token.expose());
        // 429 and 5xx come back as errors; the shared client reads `x-rate-limit-reset`.
        let resp = self.client.send(req).await?;
        match resp.status {
            200 => Ok(Some((resp.json()?, resp))),
            400 if cursor.since_id.is_some() && since_id_refused(&resp) => Ok(None),
            // An app bearer token cannot be refreshed: a person has to issue a new one.
            401 => Err(SourceError::Auth(
                "x: token rejected (401); check credentials bearer_token".into(),
            )),
            403 => Err(SourceError::Auth(format!(
                "x: access refused (403): {}; check that the app's access level includes recent search",
                problem_detail(&resp)
            ))),
            _ => Err(resp.unexpected_status()),
        }
    }
}

/// True when a 400 names `since_id` as the invalid parameter: X refuses ids older than the
/// recent-search window ("'since_id' must be a tweet id created after …").
fn since_id_refused(resp: &Fetched) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return false;
    };
    v.get("errors")
        .and_then(|e| e.as_array())
        .is_some_and(|errors| {
            errors.iter().any(|e| {
                e.pointer("/parameters/since_id").is_some()
                    || e.get("message")
                        .and_then(|m| m.as_str())
                        .is_some_and(|m| m.contains("'since_id'"))
            })
        })
}

/// When the post with snowflake id `id` was created; `None` for ids that are not snowflakes.
fn snowflake_time(id: &str) -> Option<DateTime<Utc>> {
    let n: i64 = id.parse().ok()?;
    DateTime::from_timestamp_millis((n >> 22) + SNOWFLAKE_EPOCH_MS)
}

/// How long until the rate-limit window resets, from `x-rate-limit-reset` (epoch seconds).
fn reset_wait(resp: &Fetched, now: DateTime<Utc>) -> Option<Duration> {
    rate_limit_reset(&resp.headers, now)
}

/// The `detail` of an X problem response, for error messages.
fn problem_detail(resp: &Fetched) -> String {
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| {
            v.get("detail")
                .or_else(|| v.get("title"))
                .and_then(|d| d.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no detail given".into())
}

fn month_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn next_month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(t + chrono::Duration::days(31))
}

#[async_trait]
impl Source for XSource {
    fn describe(&self) -> Vec<String> {
        let s = &self.settings;
        let cap = |n: u64| {
            if n == 0 {
                "no cap".to_string()
            } else {
                n.to_string()
            }
        };
        let mut line = format!(
            "reads at most {} posts a day, {} a month",
            cap(s.daily_read_cap),
            cap(s.monthly_read_cap)
        );
        if s.monthly_read_cap > 0 {
            line.push_str(&format!(
                " (≤ ${:.2} a month at ${} per post)",
                s.monthly_read_cap as f64 * s.price_per_post_usd,
                s.price_per_post_usd
            ));
        }
        vec![line]
    }

    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now();
        let mut cur = XCursor::for_poll(ctx, now);
        let mut batch = Batch::default();
        for page in 1..=self.settings.max_pages {
            let max = match self.read_budget(&cur, now) {
                Budget::Read(max) => max,
                Budget::Wait(wait) => {
                    batch.next_poll_in = Some(wait);
                    batch.more = false;
                    break;
                }
            };
            let (resp, fetched) = self.search_within_window(&mut cur, max).await?;
            let count = resp.meta.result_count.unwrap_or(resp.data.len() as u64);
            cur.reads += count;
            cur.reads_today += count;
            if cur.next_token.is_none() {
                // First page of a run: it holds the newest post.
                cur.run_newest_id = resp.meta.newest_id.clone();
            }
            let (mentions, replies) = normalise(&resp, &self.settings.own_accounts);
            batch.mentions.extend(mentions);
            batch.own_replies.extend(replies);
            let low = fetched
                .header("x-rate-limit-remaining")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_some_and(|r| r <= 1);
            match resp.meta.next_token {
                Some(t) => {
                    cur.next_token = Some(t);
                    if low {
                        batch.next_poll_in = reset_wait(&fetched, Utc::now());
                        break;
                    }
                    batch.more = page == self.settings.max_pages;
                }
                None => {
                    cur.finish_run();
                    if low {
                        batch.next_poll_in = reset_wait(&fetched, Utc::now());
                    }
                    break;
                }
            }
        }
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }
}

/// What the read caps allow for the next page.
enum Budget {
    /// Ask for at most this many posts.
    Read(u32),
    /// A cap is reached: poll again after this long.
    Wait(Duration),
}

impl XCursor {
    /// The stored cursor, with the day's and month's counts reset when a new one began and a
    /// start time within the search window on first start.
    fn for_poll(ctx: &PollContext, now: DateTime<Utc>) -> XCursor {
        let mut cur: XCursor = ctx.stored_cursor();
        if cur.month != month_of(now) {
            cur.month = month_of(now);
            cur.reads = 0;
        }
        if cur.day != day_of(now) {
            cur.day = day_of(now);
            cur.reads_today = 0;
        }
        if cur.since_id.is_none() && cur.start_time.is_none() {
            let back = ctx.backfill.min(SEARCH_WINDOW);
            let start = now - chrono::Duration::from_std(back).unwrap_or_default();
            cur.start_time = Some(start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        cur
    }

    /// A run read to its last page: its newest post is where the next run starts.
    fn finish_run(&mut self) {
        self.next_token = None;
        if let Some(id) = self.run_newest_id.take() {
            self.since_id = Some(id);
            self.start_time = None;
        }
    }
}

impl XSource {
    /// How many posts the next page may ask for under `daily_read_cap` and
    /// `monthly_read_cap`, or how long to wait when one is reached.
    fn read_budget(&self, cur: &XCursor, now: DateTime<Utc>) -> Budget {
        let cap = self.settings.monthly_read_cap;
        let daily = self.settings.daily_read_cap;
        let budget = if cap == 0 {
            u64::MAX
        } else {
            cap.saturating_sub(cur.reads)
        };
        let budget_today = if daily == 0 {
            u64::MAX
        } else {
            daily.saturating_sub(cur.reads_today)
        };
        if budget_today == 0 && budget > 0 {
            let tomorrow = (now + chrono::Duration::days(1))
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(now + chrono::Duration::days(1));
            tracing::warn!(
                reads = cur.reads_today,
                cap = daily,
                "x: daily_read_cap reached; no more reads until 00:00 UTC"
            );
            return Budget::Wait((tomorrow - now).to_std().unwrap_or_default());
        }
        let budget = budget.min(budget_today);
        if budget == 0 {
            tracing::warn!(
                reads = cur.reads,
                cap,
                "x: monthly_read_cap reached; no more reads until next month"
            );
            return Budget::Wait((next_month_start(now) - now).to_std().unwrap_or_default());
        }
        // X bills every post returned, so ask for no more than the budget allows (it
        // accepts no fewer than 10).
        Budget::Read(u64::from(self.settings.max_results).min(budget).max(10) as u32)
    }

    /// One search page from `cur`. When X refuses `since_id` as older than its seven-day
    /// window (a week or more without a successful poll), reads what the window still holds
    /// instead and says what was lost.
    async fn search_within_window(
        &self,
        cur: &mut XCursor,
        max: u32,
    ) -> Result<(SearchResponse, Fetched), SourceError> {
        if let Some(found) = self.search(cur, max).await? {
            return Ok(found);
        }
        let start = Utc::now() - chrono::Duration::from_std(SEARCH_WINDOW).unwrap_or_default();
        let from = cur
            .since_id
            .as_deref()
            .and_then(snowflake_time)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "the last poll".into());
        let to = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        tracing::warn!(
            since_id = cur.since_id.as_deref().unwrap_or_default(),
            "x: since_id is older than the seven days recent search covers; \
             posts from {from} to {to} were not read, starting again at {to}"
        );
        cur.since_id = None;
        cur.next_token = None;
        cur.run_newest_id = None;
        cur.start_time = Some(to);
        self.search(cur, max)
            .await?
            .ok_or_else(|| SourceError::Parse {
                url: self.settings.base_url.clone(),
                message: "X refused since_id on a request without one".into(),
            })
    }
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    #[serde(default)]
    includes: Includes,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    newest_id: Option<String>,
    result_count: Option<u64>,
    next_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct User {
    id: String,
    username: Option<String>,
    name: Option<String>,
    public_metrics: Option<UserMetrics>,
}

#[derive(Debug, Clone, Deserialize)]
struct UserMetrics {
    followers_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Tweet {
    id: String,
    #[serde(default)]
    text: String,
    created_at: Option<DateTime<Utc>>,
    author_id: Option<String>,
    lang: Option<String>,
    public_metrics: Option<TweetMetrics>,
    #[serde(default)]
    referenced_tweets: Vec<Reference>,
    note_tweet: Option<NoteTweet>,
    entities: Option<Entities>,
}

#[derive(Debug, Default, Deserialize)]
struct Entities {
    #[serde(default)]
    urls: Vec<UrlEntity>,
}

/// A link in a post: `url` is the `t.co` address in the text, `expanded_url` where it leads.
#[derive(Debug, Deserialize)]
struct UrlEntity {
    url: String,
    expanded_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TweetMetrics {
    like_count: Option<i64>,
    reply_count: Option<i64>,
    retweet_count: Option<i64>,
    quote_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Debug, Deserialize)]
struct NoteTweet {
    text: String,
    entities: Option<Entities>,
}

/// `text` with each `t.co` link replaced by the address it leads to, so staff see where a
/// post points without following a redirect. Links X did not expand stay as they are.
fn expand_links(text: &str, entities: Option<&Entities>) -> String {
    let mut out = text.to_string();
    for u in entities.map(|e| e.urls.as_slice()).unwrap_or_default() {
        if let Some(full) = u.expanded_url.as_deref().filter(|f| !f.is_empty()) {
            out = out.replace(&u.url, full);
        }
    }
    out
}

/// Turns one search page into mentions, skipping retweets and items that do not parse. Posts
/// by `own_accounts` are no mentions; those that reply to a post are the brand's answers.
fn normalise(resp: &SearchResponse, own_accounts: &[String]) -> (Vec<Mention>, Vec<OwnReply>) {
    let users: HashMap<&str, &User> = resp
        .includes
        .users
        .iter()
        .map(|u| (u.id.as_str(), u))
        .collect();
    let now = Utc::now();
    let mut out = Vec::with_capacity(resp.data.len());
    let mut answers = Vec::new();
    for raw in &resp.data {
        let Ok(t) = serde_json::from_value::<Tweet>(raw.clone()) else {
            tracing::debug!("x: skipping a post that does not parse");
            continue;
        };
        if t.referenced_tweets.iter().any(|r| r.kind == "retweeted") {
            continue;
        }
        let user = t.author_id.as_deref().and_then(|a| users.get(a)).copied();
        let handle = user.and_then(|u| u.username.clone());
        if let Some(account) = handle.as_deref().and_then(|h| own_name(h, own_accounts)) {
            let parent = t.referenced_tweets.iter().find(|r| r.kind == "replied_to");
            if let (Some(parent), Some(at)) = (parent, t.created_at) {
                answers.push(OwnReply {
                    parent: parent.id.clone(),
                    account,
                    at,
                });
            }
            continue;
        }
        let url = match &handle {
            Some(h) => format!("https://x.com/{h}/status/{}", t.id),
            None => format!("https://x.com/i/web/status/{}", t.id),
        };
        // Posts longer than 280 characters come with their full text in `note_tweet`. X
        // escapes &, < and > in post text; the text itself is not HTML.
        let text = match &t.note_tweet {
            Some(n) => expand_links(&n.text, n.entities.as_ref().or(t.entities.as_ref())),
            None => expand_links(&t.text, t.entities.as_ref()),
        };
        let text = html_escape::decode_html_entities(&text).trim().to_string();
        let metrics = t.public_metrics.as_ref();
        out.push(Mention {
            external_id: t.id.clone(),
            url: Some(url),
            author_handle: handle,
            author_name: user.and_then(|u| u.name.clone()),
            author_reach: user
                .and_then(|u| u.public_metrics.as_ref())
                .and_then(|m| m.followers_count),
            // X marks undetermined text as "und" and media-only posts with codes like "zxx".
            lang: t
                .lang
                .filter(|l| l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase())),
            text,
            created_at: t.created_at.unwrap_or(now),
            in_reply_to: t
                .referenced_tweets
                .iter()
                .find(|r| r.kind == "replied_to")
                .map(|r| r.id.clone()),
            engagement: Engagement {
                likes: metrics.and_then(|m| m.like_count),
                replies: metrics.and_then(|m| m.reply_count),
                reposts: metrics.and_then(|m| match (m.retweet_count, m.quote_count) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                }),
            },
            raw: raw.clone(),
            ..Default::default()
        });
    }
    (out, answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, WithSecret, ids};
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PATH: &str = "/2/tweets/search/recent";

    fn fixture(name: &str) -> String {
        testing::fixture("x", name)
    }

    fn json(name: &str) -> ResponseTemplate {
        testing::json(&fixture(name))
    }

    fn setup(base: &str, extra: serde_json::Value) -> WithSecret<XSource> {
        let base = serde_json::json!({ "query": "fjordlink OR @fjordlink", "base_url": base });
        let config = test_config(testing::with_settings(base, extra));
        testing::with_secret(config, "bearer_token", "e2e-token\n")
    }

    fn cursor_of(batch: &Batch) -> XCursor {
        testing::cursor_of(batch)
    }

    fn test_config(settings: serde_json::Value) -> SourceConfig {
        testing::minutely_config("x", settings)
    }

    fn ctx(cursor: Option<&XCursor>) -> PollContext {
        PollContext {
            cursor: cursor.map(|c| serde_json::to_string(c).unwrap()),
            backfill: Duration::from_secs(86400),
        }
    }

    #[tokio::test]
    async fn first_poll_reads_the_backfill_window_and_pages_to_the_end() {
        let server = MockServer::start().await;
        fake::mount(&server, "x", "main").await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let batch = s.source.poll(&ctx(None)).await.unwrap();

        // The retweet (1861800000000000004) is skipped; the duplicate on page 2 is the
        // store's business and arrives twice.
        assert_eq!(
            ids(&batch),
            vec![
                "1861800000000000005",
                "1861800000000000003",
                "1861800000000000002",
                "1861800000000000002",
                "1861800000000000001",
                "1861700000000000009",
            ]
        );
        assert!(!batch.more);
        let c = cursor_of(&batch);
        assert_eq!(c.since_id.as_deref(), Some("1861800000000000005"));
        assert_eq!(c.next_token, None);
        assert_eq!(c.start_time, None);
        assert_eq!(c.reads, 7);

        let first = &batch.mentions[0];
        assert_eq!(first.author_handle.as_deref(), Some("annekevdberg"));
        assert_eq!(first.author_name.as_deref(), Some("Anneke van den Berg"));
        assert_eq!(first.author_reach, Some(312));
        assert_eq!(first.lang.as_deref(), Some("nl"));
        assert_eq!(
            first.url.as_deref(),
            Some("https://x.com/annekevdberg/status/1861800000000000005")
        );
        assert_eq!(first.in_reply_to.as_deref(), Some("1861799000000000000"));
        assert_eq!(first.engagement.likes, Some(3));
        assert_eq!(first.engagement.replies, Some(1));
        assert_eq!(first.engagement.reposts, Some(0));
        assert_eq!(first.created_at.to_rfc3339(), "2026-11-25T08:14:03+00:00");
        // Entities decoded, markup kept as the literal text the person wrote.
        let html = &batch.mentions[1];
        assert!(
            html.text
                .contains("<script>alert('fjordlink')</script> & <b>niet</b> grappig"),
            "{}",
            html.text
        );
        // A long post arrives with its full note text.
        let long = batch
            .mentions
            .iter()
            .find(|m| m.external_id == "1861700000000000009")
            .unwrap();
        assert!(long.text.chars().count() > 280, "{}", long.text);
        assert!(long.text.ends_with("#fjordlink"), "{}", long.text);
        // Missing optional fields: no lang ("und"), no metrics, author not expanded.
        let bare = batch
            .mentions
            .iter()
            .find(|m| m.external_id == "1861800000000000001")
            .unwrap();
        assert_eq!(bare.lang, None);
        assert_eq!(bare.author_handle, None);
        assert_eq!(
            bare.url.as_deref(),
            Some("https://x.com/i/web/status/1861800000000000001")
        );
        assert_eq!(bare.engagement, Engagement::default());

        let req = &server.received_requests().await.unwrap()[0];
        let start = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "start_time")
            .map(|(_, v)| v.into_owned())
            .expect("first poll sends start_time");
        let start = DateTime::parse_from_rfc3339(&start).unwrap();
        let back = Utc::now() - start.with_timezone(&Utc);
        assert!((back.num_seconds() - 86400).abs() < 60, "{back}");
    }

    #[tokio::test]
    async fn incremental_poll_asks_only_for_posts_after_since_id() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(path(PATH))
            .and(query_param("since_id", "1861800000000000005"))
            .and(query_param_is_missing("start_time"))
            .respond_with(json("search-incremental.json"))
            .expect(1)])
        .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let before = XCursor {
            since_id: Some("1861800000000000005".into()),
            month: month_of(Utc::now()),
            reads: 8,
            ..Default::default()
        };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert_eq!(ids(&batch), vec!["1861810000000000001"]);
        let m = &batch.mentions[0];
        assert_eq!(m.lang.as_deref(), Some("da"));
        assert!(m.text.contains("🤬"), "{}", m.text);
        let c = cursor_of(&batch);
        assert_eq!(c.since_id.as_deref(), Some("1861810000000000001"));
        assert_eq!(c.reads, 9);

        // Nothing new: the cursor stays where it was.
        let server2 = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PATH))
            .and(query_param("since_id", "1861810000000000001"))
            .respond_with(json("search-empty.json"))
            .expect(1)
            .mount(&server2)
            .await;
        let s2 = setup(&server2.uri(), serde_json::json!({}));
        let again = s2.source.poll(&ctx(Some(&c))).await.unwrap();
        assert!(again.mentions.is_empty());
        assert_eq!(cursor_of(&again).since_id, c.since_id);
    }

    #[tokio::test]
    async fn paging_stops_at_max_pages_and_resumes_from_next_token() {
        let server = MockServer::start().await;
        fake::mount(&server, "x", "main").await;
        let s = setup(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        let first = s.source.poll(&ctx(None)).await.unwrap();
        assert!(first.more);
        let c = cursor_of(&first);
        // The run is unfinished: no since_id yet, so a crash now re-reads rather than skips.
        assert_eq!(c.since_id, None);
        assert_eq!(
            c.next_token.as_deref(),
            Some("b26v89c19zqg8o3fr5qmh8x6q0ts0dbb2nq8akg7mc8rx")
        );
        assert_eq!(c.run_newest_id.as_deref(), Some("1861800000000000005"));
        let start = c.start_time.clone().unwrap();

        let second = s.source.poll(&ctx(Some(&c))).await.unwrap();
        assert!(!second.more);
        assert_eq!(
            ids(&second),
            vec![
                "1861800000000000002",
                "1861800000000000001",
                "1861700000000000009"
            ]
        );
        let c2 = cursor_of(&second);
        assert_eq!(c2.since_id.as_deref(), Some("1861800000000000005"));
        assert_eq!(c2.next_token, None);
        // The second page was asked for with the run's original start_time.
        let reqs = server.received_requests().await.unwrap();
        assert!(
            reqs[1]
                .url
                .query_pairs()
                .any(|(k, v)| k == "start_time" && v == start)
        );
    }

    #[tokio::test]
    async fn rate_limit_429_waits_until_the_reset_header() {
        let server = MockServer::start().await;
        let reset = Utc::now().timestamp() + 600;
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("x-rate-limit-limit", "450")
                    .insert_header("x-rate-limit-remaining", "0")
                    .insert_header("x-rate-limit-reset", reset.to_string().as_str())
                    .set_body_raw(fixture("error-429.json"), "application/problem+json"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let err = s.source.poll(&ctx(None)).await.unwrap_err();
        let SourceError::RateLimited {
            retry_after: Some(d),
        } = err
        else {
            panic!("expected RateLimited with a delay, got {err:?}");
        };
        assert!((595..=600).contains(&d.as_secs()), "{d:?}");
    }

    #[tokio::test]
    async fn exhausted_rate_window_delays_the_next_poll_until_reset() {
        let server = MockServer::start().await;
        let reset = Utc::now().timestamp() + 300;
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(
                json("search-page1.json")
                    .insert_header("x-rate-limit-remaining", "1")
                    .insert_header("x-rate-limit-reset", reset.to_string().as_str()),
            )
            .expect(1)
            .mount(&server)
            .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let batch = s.source.poll(&ctx(None)).await.unwrap();
        assert_eq!(batch.mentions.len(), 3);
        assert!(!batch.more);
        let wait = batch.next_poll_in.unwrap().as_secs();
        assert!((295..=300).contains(&wait), "{wait}");
        // The next poll continues the run where it stopped.
        assert!(cursor_of(&batch).next_token.is_some());
    }

    #[tokio::test]
    async fn monthly_read_cap_stops_reading_until_next_month() {
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(json("search-page1.json"))
            .expect(0)])
        .await;
        let s = setup(
            &server.uri(),
            serde_json::json!({ "monthly_read_cap": 500 }),
        );
        let now = Utc::now();
        let before = XCursor {
            since_id: Some("1".into()),
            month: month_of(now),
            reads: 500,
            day: day_of(now),
            ..Default::default()
        };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert!(batch.mentions.is_empty());
        let wait = batch.next_poll_in.unwrap();
        let expected = (next_month_start(now) - now).num_seconds();
        assert!((wait.as_secs() as i64 - expected).abs() < 5);
        assert_eq!(cursor_of(&batch), before);
    }

    #[tokio::test]
    async fn read_cap_shrinks_the_request_and_resets_with_the_month() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(query_param("max_results", "30"))
            .respond_with(json("search-incremental.json"))
            .expect(1)])
        .await;
        let s = setup(
            &server.uri(),
            serde_json::json!({ "monthly_read_cap": 530 }),
        );
        let before = XCursor {
            since_id: Some("1".into()),
            month: month_of(Utc::now()),
            reads: 500,
            ..Default::default()
        };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert_eq!(cursor_of(&batch).reads, 501);

        // Last month's count does not hold this month back.
        let server2 = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("max_results", "100"))
            .respond_with(json("search-incremental.json"))
            .expect(1)
            .mount(&server2)
            .await;
        let s2 = setup(
            &server2.uri(),
            serde_json::json!({ "monthly_read_cap": 530 }),
        );
        let old = XCursor {
            since_id: Some("1".into()),
            month: "2000-01".into(),
            reads: 530,
            ..Default::default()
        };
        let batch = s2.source.poll(&ctx(Some(&old))).await.unwrap();
        assert_eq!(cursor_of(&batch).reads, 1);
    }

    #[tokio::test]
    async fn rejected_token_is_an_auth_error_naming_the_secret() {
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_raw(fixture("error-401.json"), "application/problem+json"),
            )
            .expect(1)])
        .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let err = s.source.poll(&ctx(None)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "x: token rejected (401); check credentials bearer_token"
        );
        assert!(!err.to_string().contains("e2e-token"));
    }

    #[tokio::test]
    async fn server_error_fails_the_poll_with_its_status() {
        let server = testing::serving([Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "30"))])
        .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let err = s.source.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(err, SourceError::Status { status: 503, .. }),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn config_problems_are_reported_with_their_keys() {
        let config = test_config(
            serde_json::json!({ "query": " ", "max_results": 500, "base_url": "ftp://x" }),
        );
        assert_eq!(
            testing::problem_keys(&config),
            ["query", "max_results", "base_url", "bearer_token_env"]
        );

        let unknown = test_config(serde_json::json!({ "query": "a", "bearer": "x" }));
        let mut errors = crate::config::ConfigErrors::default();
        XSource::validate(&unknown, "sources[0]", &mut errors);
        assert!(errors.problems[0].1.contains("unknown field"), "{errors}");
    }

    #[tokio::test]
    async fn a_since_id_older_than_the_window_falls_back_to_start_time() {
        let server = MockServer::start().await;
        // The fake's 400 for a since_id past the seven-day window, before its pages.
        fake::mount(&server, "x", "stale-since-id").await;
        fake::mount(&server, "x", "main").await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let old = XCursor {
            since_id: Some("1861800000000000005".into()),
            ..XCursor::default()
        };
        let batch = s.source.poll(&ctx(Some(&old))).await.unwrap();
        // Post ...02 appears on both pages, as in the first-poll test; the store keeps it once.
        assert_eq!(batch.mentions.len(), 6, "{:?}", ids(&batch));
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 3, "the refused request, then two pages");
        let start = reqs[1]
            .url
            .query_pairs()
            .find(|(k, _)| k == "start_time")
            .map(|(_, v)| DateTime::parse_from_rfc3339(&v).unwrap())
            .expect("the fallback asks by start_time");
        let expected = Utc::now() - chrono::Duration::from_std(SEARCH_WINDOW).unwrap();
        assert!((start.timestamp() - expected.timestamp()).abs() < 60);
        assert!(reqs[1].url.query_pairs().all(|(k, _)| k != "since_id"));
        let c = cursor_of(&batch);
        assert_eq!(c.since_id.as_deref(), Some("1861800000000000005"));
        assert_eq!(c.start_time, None);
    }

    #[tokio::test]
    async fn another_400_is_not_mistaken_for_an_old_since_id() {
        let server = testing::serving([
            Mock::given(method("GET"))
                .respond_with(testing::json_status(
                    400,
                    r#"{"errors":[{"parameters":{"query":["((("]},"message":"There were errors processing your request: Unbalanced parentheses"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#,
                ))
                .expect(1),
        ]).await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let old = XCursor {
            since_id: Some("1861800000000000005".into()),
            ..XCursor::default()
        };
        let err = s.source.poll(&ctx(Some(&old))).await.unwrap_err();
        assert!(
            matches!(err, SourceError::Status { status: 400, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn t_co_links_are_expanded_from_the_entities() {
        let server = MockServer::start().await;
        fake::mount(&server, "x", "main").await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let batch = s.source.poll(&ctx(None)).await.unwrap();
        let m = batch
            .mentions
            .iter()
            .find(|m| m.external_id == "1861800000000000003")
            .unwrap();
        assert!(
            m.text
                .ends_with("broken? https://fjordlink.nl/klantenservice/chat?sessie=8812"),
            "{}",
            m.text
        );
        assert!(!m.text.contains("t.co"), "{}", m.text);
    }

    #[tokio::test]
    async fn daily_read_cap_stops_reading_until_midnight_and_counts_are_priced() {
        let server = MockServer::start().await;
        let s = setup(
            &server.uri(),
            serde_json::json!({"daily_read_cap": 200, "price_per_post_usd": 0.01}),
        );
        let now = Utc::now();
        let spent = XCursor {
            since_id: Some("1861800000000000005".into()),
            month: month_of(now),
            reads: 900,
            day: day_of(now),
            reads_today: 200,
            ..XCursor::default()
        };
        let batch = s.source.poll(&ctx(Some(&spent))).await.unwrap();
        assert!(batch.mentions.is_empty());
        assert!(server.received_requests().await.unwrap().is_empty());
        let wait = batch.next_poll_in.unwrap();
        assert!(wait <= Duration::from_secs(86400) && wait > Duration::ZERO);
        let settings = serde_json::json!({"price_per_post_usd": 0.01});
        let note = XSource::usage_note(
            settings.as_object().unwrap(),
            batch.cursor.as_deref().unwrap(),
        )
        .unwrap();
        assert_eq!(
            note,
            "200 posts read today, 900 this month ≈ $9.00 at $0.01 per post"
        );
    }

    #[test]
    fn snowflake_ids_carry_their_creation_time() {
        let t = snowflake_time("1861800000000000005").unwrap();
        assert_eq!(
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "2024-11-27T15:51:25Z"
        );
        assert_eq!(snowflake_time("not-an-id"), None);
    }

    #[test]
    fn month_rollover_handles_december() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(
            next_month_start(t),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }
}
