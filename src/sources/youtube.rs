//! YouTube Data API v3: new videos that match the query, and new comments on them and on the
//! brand's own channel.
//!
//! `search.list` finds videos published since the last search, at most once per
//! `search_interval`; `commentThreads.list` (1 unit a page, newest first) reads new comments on
//! the videos found and, with `channel_id`, on everything of the brand's channel. Google keeps
//! two buckets: search calls have their own daily allowance (about 100 calls), apart from the
//! 10,000 units the comment listings share. The cursor counts both per Pacific-time day, when
//! Google resets them, and the source stops before either runs out; a search bucket that runs
//! out (even by Google's count) stops only the searching, never the comment reading. The API key travels as a query parameter, so every URL
//! that reaches a log or an error goes through `redact_url` (done by the shared client).

use crate::sources::checks::Check;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use serde::{Deserialize, Serialize};

use super::http::{Client, Fetched};
use super::own_reply::is_own;
use super::text::html_to_text;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::{DurationValue, SourceConfig};
use crate::secret::Secret;

const THREADS_COST: u32 = 1;
/// Search results lag behind uploads; searching a little before the last video seen catches
/// videos indexed late, at no extra quota (the store drops the repeats).
const SEARCH_OVERLAP: chrono::Duration = chrono::Duration::hours(1);

/// Keys of a `youtube` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoutubeSettings {
    /// Search terms for new videos about the brand; optional when `channel_id` is set.
    pub query: Option<String>,
    /// The brand's own channel (`UC…`): every new comment on it is read.
    pub channel_id: Option<String>,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Quota units the comment listings may spend per day (Pacific time); the source stops
    /// before it.
    #[serde(default = "default_daily_quota")]
    pub daily_quota: u32,
    /// `search.list` calls per day (Pacific time), Google's separate search bucket.
    #[serde(default = "default_daily_search_calls")]
    pub daily_search_calls: u32,
    /// Least time between two video searches.
    #[serde(default = "default_search_interval")]
    pub search_interval: DurationValue,
    /// Pages (of 50 videos) read per video search.
    #[serde(default = "default_search_max_pages")]
    pub search_max_pages: u32,
    /// How many of the newest matching videos to keep checking for new comments.
    #[serde(default = "default_track_videos")]
    pub track_videos: usize,
    /// Pages read per listing per poll before continuing on the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Channel ids (`UC…`) or @handles whose comments are the brand's own answers, besides
    /// `channel_id`: their comments are no mentions, and their replies mark the comment they
    /// answer as answered.
    #[serde(default)]
    pub own_accounts: Vec<String>,
}

fn default_base_url() -> String {
    "https://www.googleapis.com".into()
}
fn default_daily_quota() -> u32 {
    10_000
}
fn default_daily_search_calls() -> u32 {
    100
}
/// Hourly searches of at most two pages use at most 48 of the ~100 daily search calls.
fn default_search_interval() -> DurationValue {
    DurationValue(Duration::from_secs(3600))
}
fn default_search_max_pages() -> u32 {
    2
}
fn default_track_videos() -> usize {
    20
}
fn default_max_pages() -> u32 {
    5
}

/// Where reading one newest-first comment listing stands.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Listing {
    /// Comments published at or before this were read by an earlier, completed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen_until: Option<DateTime<Utc>>,
    /// Page token of a run that stopped at `max_pages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page_token: Option<String>,
    /// Newest comment of the unfinished run; becomes `seen_until` when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_newest: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrackedVideo {
    id: String,
    published_at: DateTime<Utc>,
    #[serde(flatten)]
    comments: Listing,
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct YoutubeCursor {
    /// Pacific-time day that `quota_used` counts.
    #[serde(default)]
    quota_day: String,
    #[serde(default)]
    quota_used: u32,
    /// Search calls made on `quota_day` (the separate search bucket).
    #[serde(default)]
    search_calls: u32,
    /// Unix seconds of the last video search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_search_at: Option<i64>,
    /// Newest video publish time seen by a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest_video_at: Option<DateTime<Utc>>,
    /// Matching videos still watched for comments, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    videos: Vec<TrackedVideo>,
    /// Comments on the brand's own channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<Listing>,
}

/// Videos and comments on YouTube.
pub struct YoutubeSource {
    settings: YoutubeSettings,
    interval: Duration,
    key: Secret,
    client: Client,
}

/// Which of Google's two daily allowances a call draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    /// `search.list`: its own allowance of calls per day.
    Search,
    /// Everything else: this many of the project's daily units.
    Units(u32),
}

/// Why a call was not made or failed in a way the poll can work around.
enum Skip {
    /// Not enough quota left today for this call.
    NoQuota,
    /// The video has comments turned off or is gone: stop watching it.
    Unwatch,
}

impl SourceKind for YoutubeSource {
    const KIND: &'static str = "youtube";
    /// The Data API key: `api_key_env` or `api_key_file`.
    const SECRETS: &'static [&'static str] = &["api_key"];
    type Settings = YoutubeSettings;
    type Checked = Secret;

    fn check(s: &YoutubeSettings, cx: &mut Check<'_>) -> Option<Secret> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|q| q.trim().is_empty());
        if blank(&s.query) && blank(&s.channel_id) {
            cx.problem(
                "query",
                "set query (videos about the brand), channel_id (the brand's channel), or both",
            );
        }
        if s.daily_quota == 0 {
            cx.problem(
                "daily_quota",
                "must be at least 1: every page of comments costs a unit",
            );
        }
        if s.daily_search_calls == 0 && !blank(&s.query) {
            cx.problem(
                "daily_search_calls",
                "must be at least 1 when query is set: finding videos needs search calls",
            );
        }
        cx.at_least_one("search_max_pages", s.search_max_pages);
        cx.at_least_one("max_pages", s.max_pages);
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        cx.secret("api_key", true)
    }

    fn build(
        settings: YoutubeSettings,
        key: Secret,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<YoutubeSource> {
        Ok(YoutubeSource {
            settings,
            interval: source.interval,
            key,
            client,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "query": "fjordlink", "base_url": base, "api_key_file": secret_file })
    }
}

impl YoutubeSource {
    /// True when `c` was written by the brand: its channel (`channel_id`) or one of
    /// `own_accounts` (a channel id or @handle).
    fn is_own(&self, c: &Comment) -> bool {
        let own = &self.settings.own_accounts;
        let channel = c
            .snippet
            .author_channel_id
            .as_ref()
            .map(|r| r.value.as_str());
        channel.is_some_and(|id| self.settings.channel_id.as_deref() == Some(id) || is_own(id, own))
            || c.snippet
                .author_display_name
                .as_deref()
                .is_some_and(|n| is_own(n, own))
    }

    /// One API call, with quota bookkeeping and YouTube's error reasons turned into outcomes.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        cur: &mut YoutubeCursor,
        endpoint: &str,
        bucket: Bucket,
        params: &[(&str, String)],
    ) -> Result<Result<T, Skip>, SourceError> {
        let fits = match bucket {
            Bucket::Search => cur.search_calls < self.settings.daily_search_calls,
            Bucket::Units(cost) => cur.quota_used + cost <= self.settings.daily_quota,
        };
        if !fits {
            return Ok(Err(Skip::NoQuota));
        }
        let url = format!(
            "{}/youtube/v3/{endpoint}",
            self.settings.base_url.trim_end_matches('/')
        );
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(params)
            .query(&[("key", self.key.expose())]);
        // Google counts failed calls too.
        match bucket {
            Bucket::Search => cur.search_calls += 1,
            Bucket::Units(cost) => cur.quota_used += cost,
        }
        let resp = self.client.send(req).await?;
        if resp.status == 200 {
            return Ok(Ok(resp.json()?));
        }
        let reasons = error_reasons(&resp);
        let has = |r: &str| reasons.iter().any(|x| x == r);
        if (has("quotaExceeded") || has("dailyLimitExceeded")) && bucket == Bucket::Search {
            // Only the search bucket is empty (another app may share the project): no more
            // searching today, but the comment listings have their own units.
            cur.search_calls = cur.search_calls.max(self.settings.daily_search_calls);
            return Ok(Err(Skip::NoQuota));
        }
        if has("quotaExceeded") || has("dailyLimitExceeded") {
            return Err(SourceError::RateLimited {
                retry_after: Some(until_pacific_midnight(Utc::now())),
            });
        }
        if has("rateLimitExceeded") || has("userRateLimitExceeded") {
            return Err(SourceError::RateLimited {
                retry_after: Some(Duration::from_secs(60)),
            });
        }
        if has("commentsDisabled") || has("videoNotFound") || has("channelNotFound") {
            return Ok(Err(Skip::Unwatch));
        }
        if has("keyInvalid") || has("API_KEY_INVALID") || has("keyExpired") || resp.status == 401 {
            return Err(SourceError::Auth(format!(
                "youtube: API key rejected ({}); check credentials api_key",
                resp.status
            )));
        }
        if resp.status == 403 {
            return Err(SourceError::Auth(format!(
                "youtube: access refused (403 {}); check that the YouTube Data API v3 is enabled for the key's project and that the key may call it",
                reasons.join(", ")
            )));
        }
        Err(resp.unexpected_status())
    }

    /// Searches for videos published since the last search; returns them as mentions and adds
    /// them to the watched videos.
    async fn search_videos(
        &self,
        cur: &mut YoutubeCursor,
        query: &str,
        since: DateTime<Utc>,
        out: &mut Vec<Mention>,
    ) -> Result<bool, SourceError> {
        let mut token: Option<String> = None;
        let mut found: Vec<TrackedVideo> = Vec::new();
        for _ in 0..self.settings.search_max_pages {
            let mut params = vec![
                ("part", "snippet".to_string()),
                ("q", query.to_string()),
                ("type", "video".into()),
                ("order", "date".into()),
                ("maxResults", "50".into()),
                (
                    "publishedAfter",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            ];
            if let Some(t) = &token {
                params.push(("pageToken", t.clone()));
            }
            let page: SearchPage = match self.call(cur, "search", Bucket::Search, &params).await? {
                Ok(p) => p,
                Err(_) => return Ok(false),
            };
            for item in &page.items {
                let Some(m) = video_mention(item) else {
                    continue;
                };
                if !found.iter().any(|v| v.id == m.external_id)
                    && !cur.videos.iter().any(|v| v.id == m.external_id)
                {
                    found.push(TrackedVideo {
                        id: m.external_id.clone(),
                        published_at: m.created_at,
                        comments: Listing::default(),
                    });
                }
                out.push(m);
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if let Some(newest) = found.iter().map(|v| v.published_at).max() {
            cur.newest_video_at = Some(cur.newest_video_at.map_or(newest, |n| n.max(newest)));
        }
        cur.videos.extend(found);
        cur.videos
            .sort_by_key(|v| std::cmp::Reverse(v.published_at));
        cur.videos.truncate(self.settings.track_videos);
        Ok(true)
    }

    /// Reads the new comment threads of one listing (a video or the whole channel), newest
    /// first, down to what an earlier run saw. Returns `Ok(Err(skip))` when the listing could
    /// not be read; `Ok(Ok(more))` says whether pages are left for the next poll.
    async fn read_threads(
        &self,
        cur: &mut YoutubeCursor,
        filter: (&str, &str),
        listing: &mut Listing,
        out: &mut Batch,
    ) -> Result<Result<bool, Skip>, SourceError> {
        for _ in 0..self.settings.max_pages {
            let mut params = vec![
                ("part", "snippet,replies".to_string()),
                (filter.0, filter.1.to_string()),
                ("order", "time".into()),
                ("maxResults", "100".into()),
                ("textFormat", "html".into()),
            ];
            if let Some(t) = &listing.page_token {
                params.push(("pageToken", t.clone()));
            }
            let page: ThreadsPage = match self
                .call(cur, "commentThreads", Bucket::Units(THREADS_COST), &params)
                .await?
            {
                Ok(p) => p,
                Err(skip) => return Ok(Err(skip)),
            };
            let mut reached_seen = false;
            for item in &page.items {
                let Ok(thread) = serde_json::from_value::<Thread>(item.clone()) else {
                    tracing::debug!("youtube: skipping a comment thread that does not parse");
                    continue;
                };
                let top = &thread.snippet.top_level_comment;
                let Some(at) = top.snippet.published_at else {
                    continue;
                };
                if listing.seen_until.is_some_and(|s| at <= s) {
                    reached_seen = true;
                    break;
                }
                if listing.page_token.is_none() && listing.run_newest.is_none() {
                    listing.run_newest = Some(at);
                }
                let (mentions, replies) = thread_mentions(&thread, item, &|c| self.is_own(c));
                out.mentions.extend(mentions);
                out.own_replies.extend(replies);
            }
            match page.next_page_token {
                Some(t) if !reached_seen => listing.page_token = Some(t),
                _ => {
                    listing.page_token = None;
                    if let Some(n) = listing.run_newest.take() {
                        listing.seen_until = Some(listing.seen_until.map_or(n, |s| s.max(n)));
                    }
                    return Ok(Ok(false));
                }
            }
        }
        Ok(Ok(true))
    }
}

/// Time until the next midnight in California, when Google resets API quotas.
fn until_pacific_midnight(now: DateTime<Utc>) -> Duration {
    let today = now.with_timezone(&Los_Angeles).date_naive();
    let next = today
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| Los_Angeles.from_local_datetime(&t).earliest());
    match next {
        Some(t) => (t.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::from_secs(3600)),
        None => Duration::from_secs(3600),
    }
}

fn pacific_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Los_Angeles).date_naive()
}

/// The `reason`s of a Google API error body.
fn error_reasons(resp: &Fetched) -> Vec<String> {
    #[derive(Deserialize)]
    struct Body {
        error: ErrorBody,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        errors: Vec<Reason>,
        #[serde(default)]
        details: Vec<Reason>,
    }
    #[derive(Deserialize)]
    struct Reason {
        #[serde(default)]
        reason: String,
    }
    serde_json::from_slice::<Body>(&resp.body)
        .map(|b| {
            b.error
                .errors
                .into_iter()
                .chain(b.error.details)
                .map(|r| r.reason)
                .collect()
        })
        .unwrap_or_default()
}

/// How a projected daily use compares with its budget, the setting `key`, for `describe`:
/// `within KEY`, or `MORE than KEY: ADVICE` when `projected` exceeds `budget`.
fn budget_verdict(projected: u64, budget: u32, key: &str, advice: &str) -> String {
    if projected > u64::from(budget) {
        format!("MORE than {key}: {advice}")
    } else {
        format!("within {key}")
    }
}

#[async_trait]
impl Source for YoutubeSource {
    fn describe(&self) -> Vec<String> {
        let s = &self.settings;
        let per_day = |every: Duration| 86_400u64.div_ceil(every.as_secs().max(1));
        let mut lines = Vec::new();
        if s.query.as_deref().is_some_and(|q| !q.trim().is_empty()) {
            let searches = per_day(s.search_interval.0.max(self.interval));
            let calls = searches * u64::from(s.search_max_pages);
            let verdict = budget_verdict(
                calls,
                s.daily_search_calls,
                "daily_search_calls",
                "raise search_interval",
            );
            lines.push(format!(
                "projected search calls: up to {calls} a day of {} ({searches} searches of at most {} pages), {verdict}",
                s.daily_search_calls, s.search_max_pages
            ));
        }
        let listings = s.track_videos as u64 + u64::from(s.channel_id.is_some());
        let units = per_day(self.interval) * listings * u64::from(THREADS_COST);
        let verdict = budget_verdict(
            units,
            s.daily_quota,
            "daily_quota",
            "raise interval or lower track_videos",
        );
        lines.push(format!(
            "projected comment units: about {units} a day of {} ({listings} listings a poll, one page each), {verdict}",
            s.daily_quota
        ));
        lines
    }

    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now();
        let mut cur: YoutubeCursor = ctx.stored_cursor();
        let day = pacific_day(now).to_string();
        if cur.quota_day != day {
            cur.quota_day = day;
            cur.quota_used = 0;
            cur.search_calls = 0;
        }
        let backfill_start = ctx.backfill_start(now);
        let mut batch = Batch::default();
        let mut out_of_quota = false;

        if let Some(q) = self
            .settings
            .query
            .as_deref()
            .filter(|q| !q.trim().is_empty())
        {
            let due = cur.last_search_at.is_none_or(|t| {
                now.timestamp() - t >= self.settings.search_interval.0.as_secs() as i64
            });
            if due {
                let since = cur
                    .newest_video_at
                    .map(|t| t - SEARCH_OVERLAP)
                    .unwrap_or(backfill_start);
                if self
                    .search_videos(&mut cur, q, since, &mut batch.mentions)
                    .await?
                {
                    cur.last_search_at = Some(now.timestamp());
                } else {
                    // Comment pages cost one unit each and may still fit; keep reading them.
                    tracing::warn!(
                        calls = cur.search_calls,
                        allowed = self.settings.daily_search_calls,
                        "youtube: the daily search bucket is empty; no video search until the \
                         Pacific-time reset, comments are still read"
                    );
                }
            }
        }

        let mut videos = std::mem::take(&mut cur.videos);
        let mut keep = Vec::with_capacity(videos.len());
        for mut v in videos.drain(..) {
            if out_of_quota {
                keep.push(v);
                continue;
            }
            let id = v.id.clone();
            match self
                .read_threads(&mut cur, ("videoId", &id), &mut v.comments, &mut batch)
                .await?
            {
                Ok(more) => {
                    batch.more |= more;
                    keep.push(v);
                }
                Err(Skip::Unwatch) => {
                    tracing::debug!(video = %id, "youtube: comments disabled or video gone; no longer watched");
                }
                Err(Skip::NoQuota) => {
                    out_of_quota = true;
                    keep.push(v);
                }
            }
        }
        cur.videos = keep;

        if let (Some(channel), false) = (self.settings.channel_id.as_deref(), out_of_quota) {
            let mut listing = cur.channel.take().unwrap_or(Listing {
                // First start: read back `backfill`, not the channel's history.
                seen_until: Some(backfill_start),
                ..Default::default()
            });
            match self
                .read_threads(
                    &mut cur,
                    ("allThreadsRelatedToChannelId", channel),
                    &mut listing,
                    &mut batch,
                )
                .await?
            {
                Ok(more) => batch.more |= more,
                Err(Skip::NoQuota) => out_of_quota = true,
                Err(Skip::Unwatch) => {
                    return Err(SourceError::Auth(format!(
                        "youtube: channel {channel} not found or has comments turned off; check channel_id"
                    )));
                }
            }
            cur.channel = Some(listing);
        }

        if out_of_quota {
            tracing::warn!(
                used = cur.quota_used,
                quota = self.settings.daily_quota,
                "youtube: daily_quota reached; waiting for the Pacific-time reset"
            );
            batch.more = false;
            batch.next_poll_in = Some(until_pacific_midnight(now));
        }
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPage {
    #[serde(default)]
    items: Vec<serde_json::Value>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadsPage {
    #[serde(default)]
    items: Vec<serde_json::Value>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Thread {
    snippet: ThreadSnippet,
    replies: Option<Replies>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadSnippet {
    video_id: Option<String>,
    top_level_comment: Comment,
    total_reply_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Replies {
    #[serde(default)]
    comments: Vec<Comment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    id: String,
    snippet: CommentSnippet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    video_id: Option<String>,
    parent_id: Option<String>,
    #[serde(default)]
    text_display: String,
    author_display_name: Option<String>,
    like_count: Option<i64>,
    published_at: Option<DateTime<Utc>>,
    moderation_status: Option<String>,
    author_channel_id: Option<ChannelRef>,
}

#[derive(Debug, Clone, Deserialize)]
struct ChannelRef {
    value: String,
}

/// A `search.list` item as a mention of the video itself.
fn video_mention(item: &serde_json::Value) -> Option<Mention> {
    let id = item.pointer("/id/videoId")?.as_str()?.to_string();
    let sn = item.get("snippet")?;
    let s = |k: &str| sn.get(k).and_then(|v| v.as_str()).map(str::to_string);
    // Search snippets are HTML-escaped ("Fjordlink &amp; co").
    let title = s("title").map(|t| html_to_text(&t));
    let description = s("description")
        .map(|t| html_to_text(&t))
        .unwrap_or_default();
    let created_at = s("publishedAt")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))?;
    let text = if description.is_empty() {
        title.clone().unwrap_or_default()
    } else {
        description
    };
    Some(Mention {
        url: Some(format!("https://www.youtube.com/watch?v={id}")),
        external_id: id,
        author_handle: s("channelId"),
        author_name: s("channelTitle").map(|t| html_to_text(&t)),
        title,
        text,
        created_at,
        engagement: Engagement::default(),
        raw: item.clone(),
        ..Default::default()
    })
}

/// The top-level comment of a thread and the replies that came with it, and the replies
/// among them by the brand's own channels (`own`), each answering the thread's comment.
fn thread_mentions(
    thread: &Thread,
    raw: &serde_json::Value,
    own: &dyn Fn(&Comment) -> bool,
) -> (Vec<Mention>, Vec<OwnReply>) {
    let video = thread
        .snippet
        .video_id
        .clone()
        .or_else(|| thread.snippet.top_level_comment.snippet.video_id.clone());
    let mut out = Vec::new();
    let mut answers = Vec::new();
    let top = &thread.snippet.top_level_comment;
    let raw_top = raw.pointer("/snippet/topLevelComment").cloned();
    let top_is_own = own(top);
    if !top_is_own && let Some(mut m) = comment_mention(top, video.as_deref(), raw_top) {
        m.engagement.replies = thread.snippet.total_reply_count;
        out.push(m);
    }
    for (i, r) in thread.replies.iter().flat_map(|r| &r.comments).enumerate() {
        if own(r) {
            // YouTube threads are one level deep: a reply answers the thread's comment.
            if let (Some(at), false) = (r.snippet.published_at, top_is_own) {
                answers.push(OwnReply {
                    parent: r
                        .snippet
                        .parent_id
                        .clone()
                        .unwrap_or_else(|| top.id.clone()),
                    account: r
                        .snippet
                        .author_display_name
                        .clone()
                        .map(|n| n.trim_start_matches('@').to_string())
                        .or_else(|| {
                            r.snippet
                                .author_channel_id
                                .as_ref()
                                .map(|c| c.value.clone())
                        })
                        .unwrap_or_default(),
                    at,
                });
            }
            continue;
        }
        let raw_reply = raw.pointer(&format!("/replies/comments/{i}")).cloned();
        out.extend(comment_mention(r, video.as_deref(), raw_reply));
    }
    (out, answers)
}

fn comment_mention(
    c: &Comment,
    video: Option<&str>,
    raw: Option<serde_json::Value>,
) -> Option<Mention> {
    let sn = &c.snippet;
    if sn.moderation_status.as_deref() == Some("rejected") {
        return None;
    }
    let text = html_to_text(&sn.text_display);
    if text.is_empty() {
        return None;
    }
    let name = sn.author_display_name.clone();
    Some(Mention {
        external_id: c.id.clone(),
        url: video.map(|v| format!("https://www.youtube.com/watch?v={v}&lc={}", c.id)),
        // Display names are now the channel's @handle.
        author_handle: name
            .as_deref()
            .map(|n| n.trim_start_matches('@').to_string()),
        author_name: name,
        text,
        created_at: sn.published_at?,
        in_reply_to: sn.parent_id.clone().or_else(|| video.map(str::to_string)),
        engagement: Engagement {
            likes: sn.like_count,
            ..Default::default()
        },
        raw: raw.unwrap_or_default(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, WithSecret, ids};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The key the fake's table (`fixtures/youtube/routes.toml`) requires on every call.
    const KEY: &str = "AIzaE2eKey-do-not-store";
    const CHANNEL: &str = "UCfJ0rdl1nkNLoffici4l0A";

    fn json(status: u16, name: &str) -> ResponseTemplate {
        testing::fixture_reply("youtube", status, name)
    }

    fn setup(base: &str, extra: serde_json::Value) -> WithSecret<YoutubeSource> {
        let base = serde_json::json!({ "base_url": base });
        let config = test_config(testing::with_settings(base, extra));
        testing::with_secret(config, "api_key", KEY)
    }

    #[test]
    fn the_brands_replies_answer_the_thread_and_are_no_mentions() {
        let s = setup(
            "http://127.0.0.1:9",
            serde_json::json!({ "channel_id": CHANNEL, "own_accounts": ["@FjordlinkHelp"] }),
        );
        let comment = |id: &str, parent: Option<&str>, by: &str, channel: &str, at: &str| {
            serde_json::json!({
                "kind": "youtube#comment", "etag": "e", "id": id,
                "snippet": {
                    "channelId": CHANNEL, "videoId": "fJ0rdOwn0Y2",
                    "textDisplay": format!("text of {id} about Fjordlink"),
                    "authorDisplayName": by,
                    "authorChannelUrl": format!("http://www.youtube.com/{by}"),
                    "authorChannelId": { "value": channel },
                    "canRate": true, "viewerRating": "none", "likeCount": 0,
                    "parentId": parent,
                    "publishedAt": at, "updatedAt": at
                }
            })
        };
        let top = "UgzTopfjordlinkthread01";
        let raw = serde_json::json!({
            "kind": "youtube#commentThread", "etag": "t", "id": top,
            "snippet": {
                "channelId": CHANNEL, "videoId": "fJ0rdOwn0Y2",
                "topLevelComment": comment(top, None, "@kim_tv", "UCkimkimkimkimkimkimkim1", "2026-11-25T10:00:00Z"),
                "canReply": true, "totalReplyCount": 3, "isPublic": true
            },
            "replies": { "comments": [
                comment("UgzTop.r1", Some(top), "@Fjordlink", CHANNEL, "2026-11-25T10:45:00Z"),
                comment("UgzTop.r2", Some(top), "@kim_tv", "UCkimkimkimkimkimkimkim1", "2026-11-25T11:00:00Z"),
                comment("UgzTop.r3", Some(top), "@fjordlinkhelp", "UChelphelphelphelphelph1", "2026-11-25T11:30:00Z")
            ]}
        });
        let thread: Thread = serde_json::from_value(raw.clone()).unwrap();
        let (mentions, answers) = thread_mentions(&thread, &raw, &|c| s.source.is_own(c));
        let ids: Vec<&str> = mentions.iter().map(|m| m.external_id.as_str()).collect();
        assert_eq!(ids, [top, "UgzTop.r2"]);
        let answers: Vec<(&str, &str, String)> = answers
            .iter()
            .map(|a| (a.parent.as_str(), a.account.as_str(), a.at.to_rfc3339()))
            .collect();
        assert_eq!(
            answers,
            [
                (top, "Fjordlink", "2026-11-25T10:45:00+00:00".to_string()),
                (
                    top,
                    "fjordlinkhelp",
                    "2026-11-25T11:30:00+00:00".to_string()
                ),
            ]
        );
    }

    fn ctx(cursor: Option<&YoutubeCursor>) -> PollContext {
        testing::ctx_from_fixtures(cursor)
    }

    fn cursor_of(batch: &Batch) -> YoutubeCursor {
        testing::cursor_of(batch)
    }

    fn test_config(settings: serde_json::Value) -> SourceConfig {
        testing::minutely_config("youtube", settings)
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A mock answering every GET of `p` with `reply`.
    fn at_path(p: &str, reply: ResponseTemplate) -> Mock {
        Mock::given(method("GET")).and(path(p)).respond_with(reply)
    }

    /// A mock answering every GET with `reply`.
    fn every_get(reply: ResponseTemplate) -> Mock {
        Mock::given(method("GET")).respond_with(reply)
    }

    /// The error the first poll of a channel source gives when `mock` answers its requests;
    /// what `mock` expects is checked as well.
    async fn channel_poll_error(mock: Mock) -> SourceError {
        let server = testing::serving([mock]).await;
        let s = setup(&server.uri(), serde_json::json!({ "channel_id": CHANNEL }));
        s.source.poll(&ctx(None)).await.unwrap_err()
    }

    /// A source that searches for `fjordlink` and reads the channel (with `extra` settings on
    /// top), on a fake whose search answers `search` exactly `searches` times and whose
    /// comment threads answer with the page of new comments exactly `comment_pages` times.
    async fn searching_source(
        search: ResponseTemplate,
        searches: u64,
        comment_pages: u64,
        extra: serde_json::Value,
    ) -> (MockServer, WithSecret<YoutubeSource>) {
        let server = testing::serving([
            at_path("/youtube/v3/search", search).expect(searches),
            at_path(
                "/youtube/v3/commentThreads",
                json(200, "threads-channel-incremental.json"),
            )
            .expect(comment_pages),
        ])
        .await;
        let settings = serde_json::json!({ "query": "fjordlink", "channel_id": CHANNEL });
        let s = setup(&server.uri(), testing::with_settings(settings, extra));
        (server, s)
    }

    /// A cursor of today (Pacific time) with `quota_used` units and `search_calls` searches
    /// spent, whose channel listing was read up to the newest comment of the first poll.
    fn read_to_the_newest_comment(quota_used: u32, search_calls: u32) -> YoutubeCursor {
        YoutubeCursor {
            quota_day: pacific_day(Utc::now()).to_string(),
            quota_used,
            search_calls,
            channel: Some(Listing {
                seen_until: Some(at("2026-11-25T10:05:00Z")),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn first_poll_finds_videos_reads_their_comments_and_the_channel() {
        let server = fake::start("youtube").await;
        let s = setup(
            &server.uri(),
            serde_json::json!({ "query": "fjordlink", "channel_id": CHANNEL }),
        );
        // ctx's backfill starts at 2026-11-20 to the second; round it for the matcher.
        let mut c = ctx(None);
        c.backfill = Duration::from_secs(c.backfill.as_secs());
        let batch = s.source.poll(&c).await.unwrap();
        assert_eq!(
            ids(&batch),
            vec![
                "fJ0rdVid0A1",
                "fJ0rdVid0B2",
                "fJ0rdVid0B2",
                "fJ0rdVid0C3",
                "UgzA1fjordlinkcomment0001",
                "UgzA1fjordlinkcomment0001.AbC0987zyx",
                "UgzA2fjordlinkcomment0002",
                "UgyCh1fjordlinkthread0003",
                "UgyCh2fjordlinkthread0002",
                "UgyCh2fjordlinkthread0002",
                "UgyCh3fjordlinkthread0001",
            ]
        );
        assert!(!batch.more);
        assert_eq!(batch.next_poll_in, None);
        // Each call once: two search pages, three videos' threads, two channel pages; the
        // search reaches back to the backfill's start.
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 7);
        assert!(
            requests[0]
                .url
                .query_pairs()
                .any(|(k, v)| k == "publishedAfter" && v == "2026-11-20T00:00:00Z")
        );

        let video = &batch.mentions[0];
        assert_eq!(
            video.title.as_deref(),
            Some("Fjordlink glasvezel installatie: wat ze je NIET vertellen")
        );
        assert!(
            video.text.contains("monteur & de FjordBox"),
            "{}",
            video.text
        );
        assert_eq!(
            video.url.as_deref(),
            Some("https://www.youtube.com/watch?v=fJ0rdVid0A1")
        );
        assert_eq!(video.author_name.as_deref(), Some("Glasvezel Gert"));
        // A video without description is described by its title.
        assert_eq!(
            batch.mentions[1].text,
            "Fjordlink TV \"FjordBox\" review 📺"
        );

        let comment = &batch.mentions[4];
        assert_eq!(comment.author_handle.as_deref(), Some("marleen_utrecht"));
        assert_eq!(comment.author_name.as_deref(), Some("@marleen_utrecht"));
        assert_eq!(
            comment.url.as_deref(),
            Some("https://www.youtube.com/watch?v=fJ0rdVid0A1&lc=UgzA1fjordlinkcomment0001")
        );
        assert_eq!(comment.in_reply_to.as_deref(), Some("fJ0rdVid0A1"));
        assert_eq!(comment.engagement.likes, Some(4));
        assert_eq!(comment.engagement.replies, Some(1));
        assert!(comment.text.contains("opdagen 😤\nWie"), "{}", comment.text);
        assert_eq!(comment.raw["id"], "UgzA1fjordlinkcomment0001");
        let reply = &batch.mentions[5];
        assert_eq!(
            reply.in_reply_to.as_deref(),
            Some("UgzA1fjordlinkcomment0001")
        );
        let html = &batch.mentions[6];
        assert_eq!(
            html.text,
            "<script>alert(1)</script> Fjordlink echt top, zie status.fjordlink.nl (https://www.youtube.com/redirect?q=https://status.fjordlink.nl)"
        );
        assert!(batch.mentions[7].text.contains("Получил ошибку 502"));

        let c = cursor_of(&batch);
        // Two search pages from the search bucket; five comment pages from the units.
        assert_eq!(c.search_calls, 2);
        assert_eq!(c.quota_used, 3 + 2);
        assert_eq!(c.quota_day, pacific_day(Utc::now()).to_string());
        assert_eq!(c.newest_video_at, Some(at("2026-11-25T07:00:12Z")));
        let watched: Vec<&str> = c.videos.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(
            watched,
            vec!["fJ0rdVid0A1", "fJ0rdVid0C3"],
            "comments disabled: unwatched"
        );
        assert_eq!(
            c.videos[0].comments.seen_until,
            Some(at("2026-11-25T09:12:44Z"))
        );
        let ch = c.channel.unwrap();
        assert_eq!(ch.seen_until, Some(at("2026-11-25T10:05:00Z")));
        assert_eq!(ch.page_token, None);
        assert!(c.last_search_at.is_some());
        // The key went out as a parameter but is nowhere in what gets stored.
        assert!(!batch.cursor.as_deref().unwrap().contains(KEY));
        assert!(
            !serde_json::to_string(&batch.mentions)
                .unwrap()
                .contains(KEY)
        );
    }

    #[tokio::test]
    async fn incremental_poll_reads_only_new_comments_and_waits_to_search_again() {
        let server = testing::serving([
            at_path("/youtube/v3/search", json(200, "search-page1.json")).expect(0),
            Mock::given(method("GET"))
                .and(path("/youtube/v3/commentThreads"))
                .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
                .respond_with(json(200, "threads-channel-incremental.json"))
                .expect(1),
        ])
        .await;
        let s = setup(
            &server.uri(),
            serde_json::json!({ "query": "fjordlink", "channel_id": CHANNEL }),
        );
        let before = YoutubeCursor {
            last_search_at: Some(Utc::now().timestamp() - 60),
            newest_video_at: Some(at("2026-11-25T07:00:12Z")),
            ..read_to_the_newest_comment(205, 2)
        };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert_eq!(ids(&batch), vec!["UgyCh6fjordlinkthread0004"]);
        let c = cursor_of(&batch);
        assert_eq!(c.quota_used, 206);
        assert_eq!(
            c.channel.unwrap().seen_until,
            Some(at("2026-11-25T11:30:00Z"))
        );
    }

    #[tokio::test]
    async fn paging_stops_at_max_pages_and_resumes_with_the_page_token() {
        let server = MockServer::start().await;
        fake::mount(&server, "youtube", "main").await;
        let s = setup(
            &server.uri(),
            serde_json::json!({ "channel_id": CHANNEL, "max_pages": 1 }),
        );
        let first = s.source.poll(&ctx(None)).await.unwrap();
        assert!(first.more);
        assert_eq!(
            ids(&first),
            vec!["UgyCh1fjordlinkthread0003", "UgyCh2fjordlinkthread0002"]
        );
        let c = cursor_of(&first);
        let ch = c.channel.clone().unwrap();
        assert_eq!(ch.page_token.as_deref(), Some("QURTSl9pMkhPV2Z"));
        assert_eq!(ch.run_newest, Some(at("2026-11-25T10:05:00Z")));
        // The watermark stays at the backfill start until the run completes.
        assert!(ch.seen_until.unwrap() < at("2026-11-20T00:00:01Z"));

        let second = s.source.poll(&ctx(Some(&c))).await.unwrap();
        assert!(!second.more);
        assert_eq!(
            ids(&second),
            vec!["UgyCh2fjordlinkthread0002", "UgyCh3fjordlinkthread0001"]
        );
        let ch = cursor_of(&second).channel.unwrap();
        assert_eq!(ch.seen_until, Some(at("2026-11-25T10:05:00Z")));
        assert_eq!(ch.page_token, None);
    }

    #[tokio::test]
    async fn quota_exceeded_waits_until_pacific_midnight() {
        let err =
            channel_poll_error(every_get(json(403, "error-quota-exceeded.json")).expect(1)).await;
        let SourceError::RateLimited {
            retry_after: Some(d),
        } = err
        else {
            panic!("expected RateLimited, got {err:?}");
        };
        let expected = until_pacific_midnight(Utc::now()).as_secs();
        assert!(d.as_secs().abs_diff(expected) < 5, "{d:?} vs {expected}");
    }

    #[tokio::test]
    async fn daily_quota_stops_the_source_before_google_does() {
        let (_server, s) = searching_source(
            json(200, "search-page1.json"),
            0,
            1,
            serde_json::json!({ "daily_quota": 1000 }),
        )
        .await;
        // The search bucket is spent, the comment units are not: no search, one comment page.
        let before = read_to_the_newest_comment(950, 100);
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert_eq!(ids(&batch), vec!["UgyCh6fjordlinkthread0004"]);
        let c = cursor_of(&batch);
        assert_eq!(c.quota_used, 951);
        assert_eq!(c.search_calls, 100);
        assert_eq!(c.last_search_at, None, "the search is still due");
        assert_eq!(batch.next_poll_in, None);

        // All spent: no call at all, and no poll before the quota resets.
        let spent = YoutubeCursor {
            quota_used: 1000,
            ..c
        };
        let batch = s.source.poll(&ctx(Some(&spent))).await.unwrap();
        assert!(batch.mentions.is_empty());
        assert_eq!(cursor_of(&batch).quota_used, 1000);
        let wait = batch.next_poll_in.unwrap().as_secs();
        assert!(wait.abs_diff(until_pacific_midnight(Utc::now()).as_secs()) < 5);
    }

    #[tokio::test]
    async fn invalid_key_is_an_auth_error_that_does_not_show_the_key() {
        let err =
            channel_poll_error(every_get(json(400, "error-key-invalid.json")).expect(1)).await;
        assert_eq!(
            err.to_string(),
            "youtube: API key rejected (400); check credentials api_key"
        );
    }

    #[tokio::test]
    async fn server_error_names_the_url_with_the_key_redacted() {
        let err = channel_poll_error(every_get(ResponseTemplate::new(500))).await;
        let msg = err.to_string();
        assert!(
            matches!(err, SourceError::Status { status: 500, .. }),
            "{err:?}"
        );
        assert!(msg.contains("key=REDACTED"), "{msg}");
        assert!(!msg.contains(KEY), "{msg}");
    }

    #[tokio::test]
    async fn http_429_is_rate_limited_with_retry_after() {
        let err = channel_poll_error(every_get(
            ResponseTemplate::new(429).insert_header("retry-after", "120"),
        ))
        .await;
        assert!(matches!(err, SourceError::RateLimited { .. }), "{err:?}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn quota_resets_at_midnight_in_california() {
        // 20:00 UTC in November is noon in Los Angeles (PST, UTC-8).
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 20, 0, 0).unwrap();
        assert_eq!(until_pacific_midnight(now), Duration::from_secs(12 * 3600));
        assert_eq!(pacific_day(now).to_string(), "2026-11-25");
        // 06:00 UTC is still the previous day there; in July it is PDT, UTC-7.
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap();
        assert_eq!(pacific_day(summer).to_string(), "2026-06-30");
        assert_eq!(until_pacific_midnight(summer), Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn a_search_quota_error_stops_searching_but_not_the_comments() {
        let (_server, s) = searching_source(
            json(403, "error-quota-exceeded.json"),
            1,
            2,
            serde_json::json!({}),
        )
        .await;
        let before = read_to_the_newest_comment(40, 7);
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        assert_eq!(ids(&batch), vec!["UgyCh6fjordlinkthread0004"]);
        assert_eq!(batch.next_poll_in, None, "comments keep their interval");
        let c = cursor_of(&batch);
        assert_eq!(
            c.search_calls, 100,
            "Google's count wins: the bucket is empty"
        );
        assert_eq!(c.quota_used, 41);
        // The next poll does not search again today, and still reads comments.
        let batch = s.source.poll(&ctx(Some(&c))).await.unwrap();
        assert!(batch.next_poll_in.is_none());
    }

    #[test]
    fn the_defaults_stay_inside_both_quota_buckets() {
        let key = testing::secret_file("k");
        let config = SourceConfig {
            interval: Duration::from_secs(300),
            ..test_config(serde_json::json!({
                "query": "fjordlink", "channel_id": CHANNEL,
                "api_key_file": key.path().to_str().unwrap()
            }))
        };
        let src = YoutubeSource::from_config(&config, Client::new("t").unwrap()).unwrap();
        assert_eq!(
            src.describe(),
            vec![
                "projected search calls: up to 48 a day of 100 (24 searches of at most 2 pages), within daily_search_calls",
                "projected comment units: about 6048 a day of 10000 (21 listings a poll, one page each), within daily_quota",
            ]
        );
    }

    #[test]
    fn config_needs_a_query_or_a_channel_and_a_key() {
        assert_eq!(
            testing::problem_keys(&test_config(serde_json::json!({ "daily_quota": 0 }))),
            ["query", "daily_quota", "api_key_env"]
        );
    }
}
