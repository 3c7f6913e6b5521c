//! Instagram (Graph API, professional account): comments on the brand's own recent media,
//! media in which others tag the brand account, and recent media of configured hashtags.
//!
//! Instagram offers no text search of other people's posts, so this is an owned channel. Each
//! run lists the account's media of the last `comment_window` and reads the comments (with their
//! replies) of media whose `comments_count` changed since the last run; it also reads
//! `/{ig-user-id}/tags` newest first down to the last run, and `/{hashtag-id}/recent_media` of
//! each hashtag. Caption and comment @mentions (`mentioned_media`, `mentioned_comment`) can
//! only be read by an id that Meta's `mentions` webhook delivers: the web listener keeps those
//! (`web/meta_hook.rs`) and the next poll reads each one ([`Source::poll_announced`]).
//! Requests, throttling and Graph error codes are shared with the Facebook page source
//! (`Graph`).

use crate::sources::checks::Check;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::announced::Announcement;
use super::graph::{
    Graph, check_graph_settings, check_numeric_id, default_api_version, default_comment_window,
    default_graph_url, default_max_pages, longer, parse_graph_time,
};
use super::http::Client;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::{ConfigErrors, DurationValue, SourceConfig};
use crate::secret::Secret;

const RUN_OVERLAP: i64 = 60;
const MEDIA_FIELDS: &str = "id,caption,timestamp,permalink,comments_count,like_count,media_type";
const COMMENT_FIELDS: &str = "id,text,timestamp,username,like_count,hidden,from{id,username},replies{id,text,timestamp,username,like_count,hidden,from{id,username},parent_id}";
const MENTIONED_MEDIA_FIELDS: &str =
    "id,caption,timestamp,permalink,username,media_type,comments_count,like_count";
const MENTIONED_COMMENT_FIELDS: &str = "id,text,timestamp,like_count,username,media{id,permalink}";
const TAG_FIELDS: &str =
    "id,caption,media_type,media_url,permalink,timestamp,username,comments_count,like_count";

/// Keys of an `instagram` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramSettings {
    /// The Instagram professional account's id (not its @username).
    pub ig_user_id: String,
    /// Graph API host; the real one unless testing.
    #[serde(default = "default_graph_url")]
    pub base_url: String,
    /// Graph API version, e.g. `v24.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Media older than this are no longer checked for new comments.
    #[serde(default = "default_comment_window")]
    pub comment_window: DurationValue,
    /// Also read media in which others tag the account.
    #[serde(default = "yes")]
    pub tags: bool,
    /// Pages read per listing per poll before continuing on the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Usernames whose comments are the brand's own answers, besides the account that owns
    /// the media (which is recognised by itself), e.g. a separate support account. Their
    /// posts that tag the account are not mentions either.
    #[serde(default)]
    pub own_accounts: Vec<String>,
    /// Hashtags (without `#`) whose recent public media to read (`ig_hashtag_search` and
    /// `/{hashtag-id}/recent_media`). Instagram allows an account 30 distinct hashtags per 7
    /// days; a hashtag's id is looked up once and kept.
    #[serde(default)]
    pub hashtags: Vec<String>,
}

/// What the web listener needs to receive one `instagram` source's `mentions` webhook.
#[derive(Debug, Clone)]
pub struct WebhookKeys {
    /// The source the announced mentions belong to.
    pub source: String,
    /// The account Meta names in each delivery's `entry[].id`.
    pub ig_user_id: String,
    /// Signs every delivery (`X-Hub-Signature-256`).
    pub app_secret: Secret,
    /// Meta sends it back when the subscription is verified.
    pub verify_token: Secret,
}

/// The webhook keys of an `instagram` source, when it has them (and its config is valid).
pub fn webhook_keys(source: &SourceConfig) -> Option<WebhookKeys> {
    let mut errors = ConfigErrors::default();
    let (settings, checked) =
        super::parse_kind::<InstagramSource>(source, &source.name, &mut errors)?;
    let (app_secret, verify_token) = checked.webhook?;
    Some(WebhookKeys {
        source: source.name.clone(),
        ig_user_id: settings.ig_user_id,
        app_secret,
        verify_token,
    })
}

/// Reads the webhook's app secret and verify token; one without the other is an error.
fn webhook_secrets(cx: &mut Check<'_>) -> Option<(Secret, Secret)> {
    let secret = cx.secret("webhook_app_secret", false);
    let token = cx.secret("webhook_verify_token", false);
    if cx.secret_is_set("webhook_app_secret") != cx.secret_is_set("webhook_verify_token") {
        cx.problem("webhook_verify_token_env", "the mentions webhook needs both webhook_app_secret_env (or _file) and webhook_verify_token_env (or _file)",
        );
    }
    Some((secret?, token?))
}

/// The secrets an `instagram` source reads.
pub struct InstagramSecrets {
    token: Secret,
    /// The mentions webhook's app secret and verify token, when both are configured.
    webhook: Option<(Secret, Secret)>,
}

/// Distinct hashtags an Instagram account may look up per rolling seven days.
const HASHTAGS_PER_WEEK: usize = 30;
const WEEK: i64 = 7 * 24 * 3600;
const HASHTAG_MEDIA_FIELDS: &str =
    "id,caption,timestamp,permalink,comments_count,like_count,media_type";

fn yes() -> bool {
    true
}

/// Comment reading state of one of the account's media.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct MediaState {
    /// `comments_count` when its comments were last read to the end.
    count: i64,
    /// Where an unfinished read stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct InstagramCursor {
    /// Unix seconds: comments and tags created after this are new. Advances when a run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// Start of the current run (minus the overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_started: Option<i64>,
    /// Own media within the comment window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    media: BTreeMap<String, MediaState>,
    /// Where an unfinished read of the tags stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags_after: Option<String>,
    /// Hashtag name → its Graph id, looked up once (each lookup counts against the 30 a week).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    hashtag_ids: BTreeMap<String, String>,
    /// Hashtag name → unix seconds of its lookup, kept for seven days to count the limit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    hashtag_lookups: BTreeMap<String, i64>,
}

/// Comments and tags on one Instagram professional account.
pub struct InstagramSource {
    settings: InstagramSettings,
    graph: Graph,
    /// True when the mentions webhook is configured (its deliveries reach the web listener).
    webhook: bool,
}

impl SourceKind for InstagramSource {
    const KIND: &'static str = "instagram";
    /// The access token, and for Meta's `mentions` webhook (which announces captions and
    /// comments that @mention the account) the app secret that signs deliveries and the verify
    /// token chosen when subscribing. Deliveries are received on the `[web]` listener at
    /// `/hooks/instagram`; without the webhook keys @mentions are not read.
    const SECRETS: &'static [&'static str] =
        &["access_token", "webhook_app_secret", "webhook_verify_token"];
    type Settings = InstagramSettings;
    type Checked = InstagramSecrets;

    fn check(s: &InstagramSettings, cx: &mut Check<'_>) -> Option<InstagramSecrets> {
        check_numeric_id(
            cx,
            "ig_user_id",
            &s.ig_user_id,
            "an Instagram account id; use the numeric id (GET /{page-id}?fields=instagram_business_account)",
        );
        check_graph_settings(cx, &s.base_url, &s.api_version, s.max_pages);
        cx.hashtags("hashtags", &s.hashtags);
        // `#FjordLink` and `fjordlink` are one hashtag to Instagram, and one lookup.
        let distinct: std::collections::BTreeSet<String> = s
            .hashtags
            .iter()
            .map(|t| t.trim_start_matches('#').to_lowercase())
            .collect();
        if distinct.len() > HASHTAGS_PER_WEEK {
            cx.problem("hashtags", format!(
                    "{} distinct hashtags; Instagram allows an account {HASHTAGS_PER_WEEK} distinct hashtags per 7 days: remove {}",
                    distinct.len(),
                    distinct.len() - HASHTAGS_PER_WEEK
                ),
            );
        }
        let webhook = webhook_secrets(cx);
        let token = cx.secret("access_token", true)?;
        Some(InstagramSecrets { token, webhook })
    }

    fn build(
        settings: InstagramSettings,
        checked: InstagramSecrets,
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<InstagramSource> {
        Ok(InstagramSource {
            graph: Graph::new(
                client,
                &settings.base_url,
                &settings.api_version,
                checked.token,
                "instagram",
                "access_token",
            ),
            settings,
            webhook: checked.webhook.is_some(),
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "ig_user_id": "17841400000000001", "base_url": base, "access_token_file": secret_file
        })
    }
}

impl InstagramSource {
    /// Reads the recent media of every configured hashtag, newest first down to `since`,
    /// leaving out the account's own media (`own_media`, ids).
    /// Each hashtag's id is looked up once; a lookup that would pass Instagram's 30 distinct
    /// hashtags per 7 days waits (with a warning) until an older lookup is a week old.
    async fn read_hashtags(
        &self,
        cur: &mut InstagramCursor,
        own_media: &std::collections::BTreeSet<&str>,
        since: i64,
        now: i64,
        batch: &mut Batch,
    ) -> Result<Option<std::time::Duration>, SourceError> {
        let user = self.settings.ig_user_id.as_str();
        let mut slow = None;
        cur.hashtag_lookups.retain(|_, at| now - *at < WEEK);
        for tag in &self.settings.hashtags {
            let tag = tag.trim_start_matches('#').to_lowercase();
            let id = match cur.hashtag_ids.get(&tag) {
                Some(id) => id.clone(),
                None => {
                    if cur.hashtag_lookups.len() >= HASHTAGS_PER_WEEK {
                        tracing::warn!(hashtag = %tag, limit = HASHTAGS_PER_WEEK, "instagram: the 30 hashtags a week are used up; this one is looked up when an older lookup is a week old");
                        continue;
                    }
                    let params = [("user_id", user.to_string()), ("q", tag.clone())];
                    let (page, s) = self.graph.get("ig_hashtag_search", &params).await?;
                    slow = longer(slow, s);
                    cur.hashtag_lookups.insert(tag.clone(), now);
                    let Some(id) = page
                        .data
                        .first()
                        .and_then(|h| h.get("id"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                    else {
                        tracing::warn!(hashtag = %tag, "instagram: no such hashtag");
                        continue;
                    };
                    cur.hashtag_ids.insert(tag.clone(), id.clone());
                    id
                }
            };
            let params = [
                ("user_id", user.to_string()),
                ("fields", HASHTAG_MEDIA_FIELDS.to_string()),
                ("limit", "50".into()),
            ];
            // Hashtag media come without a username; the brand's own posts under its hashtag
            // are known by id from the account's media list (the list spans the comment window,
            // recent_media only the last 24 hours). Each poll reads a hashtag from the top.
            let edge = format!("{id}/recent_media");
            let brands = |m: &Mention| own_media.contains(m.external_id.as_str());
            let (_, s) = self
                .read_media(&edge, &params, None, since, brands, batch)
                .await?;
            slow = longer(slow, s);
        }
        // Hashtags no longer configured keep their lookups (they still count) but not ids.
        cur.hashtag_ids.retain(|t, _| {
            self.settings
                .hashtags
                .iter()
                .any(|h| h.trim_start_matches('#').eq_ignore_ascii_case(t))
        });
        Ok(slow)
    }
}

impl InstagramSource {
    /// Reads the captions and comments the `mentions` webhook announced, one Graph request
    /// each, into `batch`. A post Instagram no longer serves (deleted, made private, comments
    /// turned off) is skipped with a warning; any other failure fails the poll, so every
    /// announcement is read again next time.
    async fn read_announced(
        &self,
        announced: &[Announcement],
        batch: &mut Batch,
    ) -> Result<Option<std::time::Duration>, SourceError> {
        let mut slow = None;
        for a in announced {
            let field = match &a.comment_id {
                Some(c) => {
                    format!("mentioned_comment.comment_id({c}){{{MENTIONED_COMMENT_FIELDS}}}")
                }
                None => format!(
                    "mentioned_media.media_id({}){{{MENTIONED_MEDIA_FIELDS}}}",
                    a.media_id
                ),
            };
            let node = match self
                .graph
                .get_node(&self.settings.ig_user_id, &[("fields", field)])
                .await
            {
                Ok((node, s)) => {
                    slow = longer(slow, s);
                    node
                }
                Err(SourceError::Status { status, url, .. })
                    if (400..500).contains(&status) && status != 429 =>
                {
                    tracing::warn!(media = %a.media_id, comment = a.comment_id.as_deref().unwrap_or("-"), status, error = %url, "instagram: an announced @mention cannot be read (deleted, private, or comments turned off); skipped");
                    continue;
                }
                Err(e) => return Err(e),
            };
            match announced_mention(node, a) {
                Some(m) if !is_own(&m, &self.settings.own_accounts) => batch.mentions.push(m),
                Some(_) => {}
                None => {
                    tracing::warn!(media = %a.media_id, "instagram: an announced @mention came back without text or time; skipped");
                }
            }
        }
        Ok(slow)
    }
}

/// The mention in Graph's answer to a `mentioned_media` or `mentioned_comment` lookup for `a`.
fn announced_mention(mut node: serde_json::Value, a: &Announcement) -> Option<Mention> {
    match &a.comment_id {
        None => match tag_mention(node.get_mut("mentioned_media")?.take(), i64::MIN) {
            Tagged::New(m) => Some(*m),
            Tagged::Old | Tagged::Unusable => None,
        },
        Some(_) => {
            let raw = node.get_mut("mentioned_comment")?.take();
            let comment = serde_json::from_value::<Comment>(raw.clone()).ok()?;
            // The comment names its media when asked; the webhook named it in any case.
            let media = raw
                .get("media")
                .and_then(|m| serde_json::from_value::<Media>(m.clone()).ok())
                .unwrap_or(Media {
                    id: a.media_id.clone(),
                    username: None,
                    timestamp: None,
                    permalink: None,
                    comments_count: None,
                });
            comment_mention(comment, raw, &media, i64::MIN, None)
        }
    }
}

#[async_trait]
impl Source for InstagramSource {
    fn describe(&self) -> Vec<String> {
        vec![if self.webhook {
            "caption and comment @mentions arrive by Meta's mentions webhook at /hooks/instagram on the [web] listener (which must be configured and reachable over HTTPS)".to_string()
        } else {
            "caption and comment @mentions are not read: they need Meta's mentions webhook (webhook_app_secret_env and webhook_verify_token_env, and [web])".to_string()
        }]
    }

    async fn poll_announced(
        &self,
        ctx: &PollContext,
        announced: &[Announcement],
    ) -> Result<Batch, SourceError> {
        let mut batch = self.poll(ctx).await?;
        if !announced.is_empty() {
            let slow = self.read_announced(announced, &mut batch).await?;
            batch.next_poll_in = longer(batch.next_poll_in, slow);
        }
        Ok(batch)
    }

    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now();
        let mut cur: InstagramCursor = ctx.stored_cursor();
        let since = cur
            .since
            .unwrap_or_else(|| ctx.backfill_start(now).timestamp());
        let run_open = cur.tags_after.is_some() || cur.media.values().any(|m| m.after.is_some());
        if !run_open {
            cur.run_started = Some(now.timestamp() - RUN_OVERLAP);
        }
        let window = (now
            - chrono::Duration::from_std(self.settings.comment_window.0).unwrap_or_default())
        .timestamp();
        let mut batch = Batch::default();

        let (media, mut slow) = self.list_media(window).await?;
        let mut unfinished = false;
        // Media that left the window are forgotten.
        let comments = self
            .read_comments(&media, &cur.media, since, &mut batch)
            .await?;
        cur.media = comments.states;
        unfinished |= comments.unfinished;
        slow = longer(slow, comments.slow);
        if self.settings.tags {
            let (after, s) = self
                .read_tags(cur.tags_after.take(), since, &mut batch)
                .await?;
            unfinished |= after.is_some();
            cur.tags_after = after;
            slow = longer(slow, s);
        }
        if !self.settings.hashtags.is_empty() {
            let own_media = media.iter().map(|m| m.id.as_str()).collect();
            slow = longer(
                slow,
                self.read_hashtags(&mut cur, &own_media, since, now.timestamp(), &mut batch)
                    .await?,
            );
        }

        if !unfinished {
            cur.since = cur.run_started.take().or(cur.since);
        }
        batch.more = unfinished && slow.is_none();
        batch.next_poll_in = slow;
        if let Some(s) = slow {
            tracing::warn!(
                wait_s = s.as_secs(),
                "instagram: Graph API usage is high; slowing down"
            );
        }
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }
}

/// What reading the comments of the account's media did.
struct CommentsRead {
    /// Each media's reading state, for the cursor.
    states: BTreeMap<String, MediaState>,
    /// Some media's comments were cut short by `max_pages`.
    unfinished: bool,
    /// How long Meta's usage headers ask to wait.
    slow: Option<std::time::Duration>,
}

impl InstagramSource {
    /// The account's own media posted since `window` (unix seconds), newest first, and how
    /// long Meta asks to wait.
    async fn list_media(
        &self,
        window: i64,
    ) -> Result<(Vec<Media>, Option<std::time::Duration>), SourceError> {
        let user = self.settings.ig_user_id.as_str();
        let mut media: Vec<Media> = Vec::new();
        let mut slow = None;
        let mut after: Option<String> = None;
        'pages: for _ in 0..self.settings.max_pages {
            let params = [("fields", MEDIA_FIELDS.to_string()), ("limit", "25".into())];
            let (page, s) = self
                .graph
                .get_after(&format!("{user}/media"), &params, after.as_deref())
                .await?;
            slow = longer(slow, s);
            after = page.next_after();
            for item in page.data {
                let Ok(m) = serde_json::from_value::<Media>(item) else {
                    continue;
                };
                if m.timestamp
                    .as_deref()
                    .and_then(parse_graph_time)
                    .is_some_and(|t| t.timestamp() < window)
                {
                    break 'pages;
                }
                // A post that moves between pages while we read must be read once.
                if !media.iter().any(|x| x.id == m.id) {
                    media.push(m);
                }
            }
            if after.is_none() {
                break;
            }
        }
        Ok((media, slow))
    }

    /// Reads the comments (and replies) newer than `since` of every media in `media` whose
    /// comment count changed since `previous` recorded it, or whose read was cut short.
    async fn read_comments(
        &self,
        media: &[Media],
        previous: &BTreeMap<String, MediaState>,
        since: i64,
        batch: &mut Batch,
    ) -> Result<CommentsRead, SourceError> {
        let user = self.settings.ig_user_id.as_str();
        let mut read = CommentsRead {
            states: BTreeMap::new(),
            unfinished: false,
            slow: None,
        };
        for m in media {
            let count = m.comments_count.unwrap_or(0);
            let mut state = previous.get(&m.id).cloned().unwrap_or_default();
            if state.after.is_none() && state.count == count {
                read.states.insert(m.id.clone(), state);
                continue;
            }
            let mut after = state.after.take();
            let mut done = false;
            for _ in 0..self.settings.max_pages {
                let params = [
                    ("fields", COMMENT_FIELDS.to_string()),
                    ("limit", "50".into()),
                ];
                let (page, s) = self
                    .graph
                    .get_after(&format!("{}/comments", m.id), &params, after.as_deref())
                    .await?;
                read.slow = longer(read.slow, s);
                after = page.next_after();
                for item in &page.data {
                    let (mentions, replies) =
                        comment_mentions(item, m, user, &self.settings.own_accounts, since);
                    batch.mentions.extend(mentions);
                    batch.own_replies.extend(replies);
                }
                if after.is_none() {
                    done = true;
                    break;
                }
            }
            if done {
                state.count = count;
            } else {
                state.after = after;
                read.unfinished = true;
            }
            read.states.insert(m.id.clone(), state);
        }
        Ok(read)
    }

    /// Reads the media that tag the account, newest first down to `since`, continuing after
    /// `after`. Returns where a read cut short by `max_pages` stopped, and how long Meta asks
    /// to wait.
    async fn read_tags(
        &self,
        after: Option<String>,
        since: i64,
        batch: &mut Batch,
    ) -> Result<(Option<String>, Option<std::time::Duration>), SourceError> {
        let params = [("fields", TAG_FIELDS.to_string()), ("limit", "25".into())];
        let edge = format!("{}/tags", self.settings.ig_user_id);
        // The brand's other accounts tagging it (a support account sharing a post) are the
        // brand talking, not a mention.
        let brands = |m: &Mention| is_own(m, &self.settings.own_accounts);
        self.read_media(&edge, &params, after, since, brands, batch)
            .await
    }

    /// Reads the media of the Graph `edge` down to `since` into `batch`, continuing after
    /// `after`, leaving out those `brands` says are the brand's own. Every page is read whole:
    /// Instagram does not promise these lists in time order. Returns where a read cut short by
    /// `max_pages` stopped, and how long Meta asks to wait.
    async fn read_media(
        &self,
        edge: &str,
        params: &[(&str, String)],
        mut after: Option<String>,
        since: i64,
        brands: impl Fn(&Mention) -> bool,
        batch: &mut Batch,
    ) -> Result<(Option<String>, Option<std::time::Duration>), SourceError> {
        let mut slow = None;
        for _ in 0..self.settings.max_pages {
            let (page, s) = self.graph.get_after(edge, params, after.as_deref()).await?;
            slow = longer(slow, s);
            after = page.next_after();
            let mut reached = false;
            for item in page.data {
                match tag_mention(item, since) {
                    Tagged::New(m) if brands(&m) => {}
                    Tagged::New(m) => batch.mentions.push(*m),
                    Tagged::Old => reached = true,
                    Tagged::Unusable => {}
                }
            }
            if reached || after.is_none() {
                return Ok((None, slow));
            }
        }
        Ok((after, slow))
    }
}

#[derive(Debug, Deserialize)]
struct Media {
    id: String,
    /// The owner's username: the brand's, on its own media.
    username: Option<String>,
    timestamp: Option<String>,
    permalink: Option<String>,
    comments_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: String,
    text: Option<String>,
    timestamp: Option<String>,
    username: Option<String>,
    like_count: Option<i64>,
    #[serde(default)]
    hidden: bool,
    from: Option<From>,
    parent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct From {
    id: Option<String>,
    username: Option<String>,
}

/// A comment and the replies that came with it, newer than `since`, and the brand's own
/// replies among them (each answers the comment it sits under).
fn comment_mentions(
    raw: &serde_json::Value,
    media: &Media,
    account: &str,
    own_accounts: &[String],
    since: i64,
) -> (Vec<Mention>, Vec<OwnReply>) {
    let mut out = Vec::new();
    let mut answers = Vec::new();
    let Ok(c) = serde_json::from_value::<Comment>(raw.clone()) else {
        return (out, answers);
    };
    let replies: Vec<&serde_json::Value> = raw
        .pointer("/replies/data")
        .and_then(|d| d.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let reply_count = replies.len() as i64;
    let mut raw_top = raw.clone();
    if let Some(o) = raw_top.as_object_mut() {
        // Replies are stored as mentions of their own.
        o.remove("replies");
    }
    // A comment's `from.id` is an Instagram-scoped id (IGSID), never the business account's
    // id, so the brand's own answers are recognised by username: the media owner's, or one
    // of `own_accounts`.
    let own = |name: &str| {
        let name = name.trim_start_matches('@');
        media
            .username
            .iter()
            .chain(own_accounts)
            .any(|o| o.trim_start_matches('@').eq_ignore_ascii_case(name))
    };
    let from_account = |c: &Comment| {
        let by_name = c
            .username
            .as_deref()
            .or_else(|| c.from.as_ref().and_then(|f| f.username.as_deref()))
            .is_some_and(own);
        by_name
            || c.from
                .as_ref()
                .and_then(|f| f.id.as_deref())
                .is_some_and(|id| id == account)
    };
    let top_id = c.id.clone();
    let top_is_own = from_account(&c);
    if !top_is_own {
        out.extend(comment_mention(c, raw_top, media, since, Some(reply_count)));
    }
    for r in replies {
        if let Ok(reply) = serde_json::from_value::<Comment>(r.clone()) {
            // The brand's own answers are not mentions: they answer the comment they sit under.
            if from_account(&reply) {
                let at = reply.timestamp.as_deref().and_then(parse_graph_time);
                let name = reply
                    .username
                    .clone()
                    .or_else(|| reply.from.as_ref().and_then(|f| f.username.clone()))
                    .or_else(|| media.username.clone());
                if let (Some(at), Some(name), false) = (at, name, top_is_own) {
                    answers.push(OwnReply {
                        parent: reply.parent_id.clone().unwrap_or_else(|| top_id.clone()),
                        account: name.trim_start_matches('@').to_string(),
                        at,
                    });
                }
            } else {
                out.extend(comment_mention(reply, r.clone(), media, since, None));
            }
        }
    }
    (out, answers)
}

fn comment_mention(
    c: Comment,
    raw: serde_json::Value,
    media: &Media,
    since: i64,
    replies: Option<i64>,
) -> Option<Mention> {
    let created = c.timestamp.as_deref().and_then(parse_graph_time)?;
    let text = c.text.as_deref().unwrap_or("").trim().to_string();
    // Comments the brand hid itself, and ones without words, need no answer.
    if created.timestamp() <= since || text.is_empty() || c.hidden {
        return None;
    }
    let handle = c
        .username
        .or_else(|| c.from.and_then(|f| f.username))
        .map(|u| u.trim_start_matches('@').to_string());
    Some(Mention {
        external_id: c.id,
        // Instagram has no links to single comments; the post is where staff answer.
        url: media.permalink.clone(),
        author_name: handle.clone(),
        author_handle: handle,
        text,
        created_at: created,
        in_reply_to: Some(c.parent_id.unwrap_or_else(|| media.id.clone())),
        engagement: Engagement {
            likes: c.like_count,
            replies,
            ..Default::default()
        },
        raw,
        ..Default::default()
    })
}

enum Tagged {
    New(Box<Mention>),
    /// At or before the last run: the listing is read down to here.
    Old,
    Unusable,
}

/// Whether a tagged media's author is one of `own_accounts` (compared without `@`, ignoring case).
fn is_own(m: &Mention, own_accounts: &[String]) -> bool {
    m.author_handle.as_deref().is_some_and(|name| {
        let name = name.trim_start_matches('@');
        own_accounts
            .iter()
            .any(|o| o.trim_start_matches('@').eq_ignore_ascii_case(name))
    })
}

fn tag_mention(raw: serde_json::Value, since: i64) -> Tagged {
    #[derive(Deserialize)]
    struct TaggedMedia {
        id: String,
        caption: Option<String>,
        timestamp: Option<String>,
        permalink: Option<String>,
        username: Option<String>,
        like_count: Option<i64>,
        comments_count: Option<i64>,
    }
    let Ok(t) = serde_json::from_value::<TaggedMedia>(raw.clone()) else {
        return Tagged::Unusable;
    };
    let Some(created) = t.timestamp.as_deref().and_then(parse_graph_time) else {
        return Tagged::Unusable;
    };
    if created.timestamp() <= since {
        return Tagged::Old;
    }
    let text = t.caption.as_deref().unwrap_or("").trim().to_string();
    if text.is_empty() {
        return Tagged::Unusable;
    }
    Tagged::New(Box::new(Mention {
        external_id: t.id,
        url: t.permalink,
        author_name: t.username.clone(),
        author_handle: t.username,
        text,
        created_at: created,
        engagement: Engagement {
            likes: t.like_count,
            replies: t.comments_count,
            ..Default::default()
        },
        raw,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{self, WithSecret, ids};
    use chrono::{DateTime, TimeZone};
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const IG: &str = "17841400000000001";
    const TOKEN: &str = "IGQ-test-access-token";

    fn json(status: u16, name: &str) -> ResponseTemplate {
        testing::fixture_reply("instagram", status, name)
    }

    fn secs_since(t: DateTime<Utc>) -> u64 {
        (Utc::now() - t).num_seconds() as u64
    }

    /// The comment window reaches back to 2026-11-15, so media from October drop out whatever
    /// today is.
    fn setup(base: &str, extra: serde_json::Value) -> WithSecret<InstagramSource> {
        let window = secs_since(Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap());
        let base = serde_json::json!({
            "ig_user_id": IG,
            "base_url": base,
            "comment_window": format!("{window}s"),
            "own_accounts": ["fjordlink_klantenservice"],
        });
        let config = test_config(testing::with_settings(base, extra));
        testing::with_secret(config, "access_token", TOKEN)
    }

    /// A source reading only the media under `hashtag` from `server`.
    fn hashtags_only(server: &MockServer, hashtag: &str) -> WithSecret<InstagramSource> {
        setup(
            &server.uri(),
            serde_json::json!({ "tags": false, "hashtags": [hashtag] }),
        )
    }

    #[tokio::test]
    async fn hashtags_are_looked_up_once_and_their_recent_media_read() {
        let server = testing::serving([
            // The brand's own post, which also carries the hashtag, with no comments to read.
            get_as_app(format!("/v24.0/{IG}/media")).respond_with(
                ResponseTemplate::new(200).set_body_string(
                    r#"{"data":[{"id":"17900000000000001","timestamp":"2026-11-24T12:00:00+0000","comments_count":0}]}"#,
                ),
            ),
            get_as_app("/v24.0/ig_hashtag_search")
                .and(query_param("user_id", IG))
                .and(query_param("q", "fjordlink"))
                .respond_with(json(200, "hashtag-search-fjordlink.json"))
                .expect(1),
            get_as_app("/v24.0/17843857450040591/recent_media")
                .and(query_param("user_id", IG))
                .and(query_param("fields", HASHTAG_MEDIA_FIELDS))
                .respond_with(json(200, "hashtag-recent-media.json"))
                .expect(2),
        ])
        .await;
        let s = hashtags_only(&server, "#FjordLink");
        let batch = s.source.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            ["18040000000000003"],
            "the brand's own post, the captionless reel and the media before the backfill are left out"
        );
        let m = &batch.mentions[0];
        assert_eq!(
            m.url.as_deref(),
            Some("https://www.instagram.com/p/DHash3xyz/")
        );
        assert_eq!(m.engagement.likes, Some(31));
        let c = cursor_of(&batch);
        assert_eq!(c.hashtag_ids["fjordlink"], "17843857450040591");
        assert_eq!(c.hashtag_lookups.len(), 1);
        // The next poll reuses the id: no second lookup (the mock expects one).
        s.source.poll(&ctx(Some(&c))).await.unwrap();
    }

    #[tokio::test]
    async fn a_hashtag_past_the_thirty_a_week_is_not_looked_up() {
        let server = testing::serving([
            get(format!("/v24.0/{IG}/media")).respond_with(no_data()),
            get("/v24.0/ig_hashtag_search")
                .respond_with(json(200, "hashtag-search-fjordlink.json"))
                .expect(0),
        ])
        .await;
        let s = hashtags_only(&server, "fjordlink");
        let now = Utc::now().timestamp();
        let full = InstagramCursor {
            since: Some(now - 3600),
            hashtag_lookups: (0..30).map(|i| (format!("tag{i}"), now - 3600)).collect(),
            ..Default::default()
        };
        let batch = s.source.poll(&ctx(Some(&full))).await.unwrap();
        assert!(batch.mentions.is_empty());
        assert!(cursor_of(&batch).hashtag_ids.is_empty());
        // A week later the old lookups no longer count.
        let aged = InstagramCursor {
            hashtag_lookups: (0..30)
                .map(|i| (format!("tag{i}"), now - WEEK - 1))
                .collect(),
            ..full
        };
        testing::serve_instead(
            &server,
            [
                get(format!("/v24.0/{IG}/media")).respond_with(no_data()),
                get("/v24.0/ig_hashtag_search")
                    .respond_with(json(200, "hashtag-search-fjordlink.json"))
                    .expect(1),
                get("/v24.0/17843857450040591/recent_media").respond_with(no_data()),
            ],
        )
        .await;
        let batch = s.source.poll(&ctx(Some(&aged))).await.unwrap();
        assert_eq!(cursor_of(&batch).hashtag_lookups.len(), 1);
    }

    fn ctx(cursor: Option<&InstagramCursor>) -> PollContext {
        testing::ctx_from_fixtures(cursor)
    }

    fn cursor_of(batch: &Batch) -> InstagramCursor {
        testing::cursor_of(batch)
    }

    fn test_config(settings: serde_json::Value) -> SourceConfig {
        testing::owned_config("instagram", settings)
    }

    /// A mock for a GET of `p`.
    fn get(p: impl Into<String>) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path(p))
    }

    /// A mock for a GET of `p` carrying the source's access token.
    fn get_as_app(p: impl Into<String>) -> wiremock::MockBuilder {
        get(p).and(header("authorization", format!("Bearer {TOKEN}").as_str()))
    }

    /// A Graph page with nothing in it.
    fn no_data() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string(r#"{"data":[]}"#)
    }

    /// A first run over two pages of media, their comments and two pages of tags, each page
    /// expected once.
    async fn first_run() -> MockServer {
        let page = |m: wiremock::MockBuilder, after: Option<&str>, fixture: &str| {
            let m = match after {
                Some(a) => m.and(query_param("after", a)),
                None => m.and(query_param_is_missing("after")),
            };
            m.respond_with(json(200, fixture)).expect(1)
        };
        let media = || get_as_app(format!("/v24.0/{IG}/media"));
        let comments = |id: &str| get_as_app(format!("/v24.0/{id}/comments"));
        let tags = || get_as_app(format!("/v24.0/{IG}/tags"));
        testing::serving([
            page(
                media().and(query_param("fields", MEDIA_FIELDS)),
                None,
                "media-page1.json",
            ),
            page(media(), Some("QVFIUm1lZAGlh"), "media-page2.json"),
            page(
                comments("17900000000000001").and(query_param("fields", COMMENT_FIELDS)),
                None,
                "comments-m1-page1.json",
            ),
            page(
                comments("17900000000000001"),
                Some("QVFIUmNvbW1lbnQy"),
                "comments-m1-page2.json",
            ),
            comments("17900000000000003")
                .respond_with(json(200, "comments-m3.json"))
                .expect(1),
            page(
                tags().and(query_param("fields", TAG_FIELDS)),
                None,
                "tags-page1.json",
            ),
            page(tags(), Some("QVFIUnRhZ3MxY"), "tags-page2.json"),
        ])
        .await
    }

    #[test]
    fn the_brands_answers_are_known_by_username_not_by_the_scoped_id() {
        let media = Media {
            id: "17900000000000001".into(),
            username: Some("fjordlink".into()),
            timestamp: None,
            permalink: None,
            comments_count: None,
        };
        let comment = serde_json::json!({
            "id": "17850000000000011",
            "text": "@fjordlink wanneer komt de FjordBox 2?",
            "timestamp": "2026-11-25T08:10:00+0000",
            "username": "lotte.janssens",
            "from": {"id": "5304851277430102", "username": "lotte.janssens"},
            "replies": {"data": [
                {"id": "17850000000000012", "text": "Vanaf 1 december!", "timestamp": "2026-11-25T08:20:00+0000",
                 "username": "FjordLink", "from": {"id": "8251470043214592", "username": "FjordLink"},
                 "parent_id": "17850000000000011"},
                {"id": "17850000000000014", "text": "Stuur ons een DM", "timestamp": "2026-11-25T08:21:00+0000",
                 "from": {"id": "7093315562011874", "username": "fjordlink_help"},
                 "parent_id": "17850000000000011"}
            ]}
        });
        let kept = |own: &[String]| -> Vec<String> {
            comment_mentions(&comment, &media, IG, own, 0)
                .0
                .into_iter()
                .map(|m| m.external_id)
                .collect()
        };
        assert_eq!(kept(&[]), ["17850000000000011", "17850000000000014"]);
        assert_eq!(
            kept(&["@fjordlink_help".to_string()]),
            ["17850000000000011"]
        );
        // Both brand replies answer the customer's comment; the first one counts.
        let (_, answers) =
            comment_mentions(&comment, &media, IG, &["fjordlink_help".to_string()], 0);
        let answers: Vec<(&str, &str, String)> = answers
            .iter()
            .map(|a| (a.parent.as_str(), a.account.as_str(), a.at.to_rfc3339()))
            .collect();
        assert_eq!(
            answers,
            [
                (
                    "17850000000000011",
                    "FjordLink",
                    "2026-11-25T08:20:00+00:00".to_string()
                ),
                (
                    "17850000000000011",
                    "fjordlink_help",
                    "2026-11-25T08:21:00+00:00".to_string()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn first_poll_reads_comments_on_own_media_and_tags() {
        let server = first_run().await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let batch = s.source.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            vec![
                "17850000000000011",
                "17850000000000013",
                "17850000000000015",
                "17850000000000021",
                "17910000000000003",
                "17910000000000001",
            ],
            "the brand's reply, the hidden spam, the wordless comment, old comments and the captionless tag are left out"
        );
        assert!(!batch.more);
        let top = &batch.mentions[0];
        assert_eq!(top.author_handle.as_deref(), Some("lotte.janssens"));
        assert_eq!(
            top.url.as_deref(),
            Some("https://www.instagram.com/p/DFj0rdBox2a/")
        );
        assert_eq!(top.in_reply_to.as_deref(), Some("17900000000000001"));
        assert_eq!(top.engagement.replies, Some(2));
        assert!(top.raw.get("replies").is_none());
        let reply = &batch.mentions[1];
        assert_eq!(reply.in_reply_to.as_deref(), Some("17850000000000011"));
        assert!(reply.text.contains("и у меня тоже 👍"));
        assert_eq!(batch.mentions[2].text, "<b>4K</b> & HDR? Eindelijk 😍");
        let tag = &batch.mentions[4];
        assert_eq!(tag.author_handle.as_deref(), Some("anouk_werkt"));
        assert_eq!(tag.engagement.likes, Some(14));
        assert_eq!(
            tag.url.as_deref(),
            Some("https://www.instagram.com/p/DTag3abc/")
        );

        let c = cursor_of(&batch);
        assert!(c.since.is_some());
        assert_eq!(c.tags_after, None);
        let media: Vec<(&str, i64)> = c.media.iter().map(|(k, v)| (k.as_str(), v.count)).collect();
        assert_eq!(
            media,
            vec![
                ("17900000000000001", 3),
                ("17900000000000002", 0),
                ("17900000000000003", 2)
            ],
            "the October post is outside the comment window"
        );
    }

    #[tokio::test]
    async fn tags_by_own_accounts_are_mentions_only_when_not_listed() {
        let server = first_run().await;
        let listed = setup(&server.uri(), serde_json::json!({}));
        let batch = listed.source.poll(&ctx(None)).await.unwrap();
        assert!(!ids(&batch).contains(&"17910000000000004"));

        // The first-run mocks expect one request each: a fresh server for the second source.
        let server = first_run().await;
        let unlisted = setup(&server.uri(), serde_json::json!({ "own_accounts": [] }));
        let batch = unlisted.source.poll(&ctx(None)).await.unwrap();
        assert!(ids(&batch).contains(&"17910000000000004"));
    }

    #[tokio::test]
    async fn incremental_poll_reads_comments_only_where_the_count_changed() {
        let server = testing::serving([
            get(format!("/v24.0/{IG}/media"))
                .and(query_param_is_missing("after"))
                .respond_with(json(200, "media-page1.json")),
            get(format!("/v24.0/{IG}/media"))
                .and(query_param("after", "QVFIUm1lZAGlh"))
                .respond_with(json(200, "media-page2.json")),
            get("/v24.0/17900000000000001/comments")
                .respond_with(json(200, "comments-m1-incremental.json"))
                .expect(1),
            get("/v24.0/17900000000000003/comments")
                .respond_with(json(200, "comments-m3.json"))
                .expect(0),
            get(format!("/v24.0/{IG}/tags"))
                .respond_with(json(200, "tags-page1.json"))
                .expect(1),
        ])
        .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let since = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap()
            .timestamp();
        let before = InstagramCursor {
            since: Some(since),
            media: BTreeMap::from([
                (
                    "17900000000000001".into(),
                    MediaState {
                        count: 2,
                        after: None,
                    },
                ),
                (
                    "17900000000000003".into(),
                    MediaState {
                        count: 2,
                        after: None,
                    },
                ),
            ]),
            ..Default::default()
        };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        // Only the comment after `since`; the first tag page already reaches `since`.
        assert_eq!(ids(&batch), vec!["17850000000000017"]);
        let c = cursor_of(&batch);
        assert_eq!(c.media["17900000000000001"].count, 3);
        assert!(c.since.unwrap() > since);
    }

    #[tokio::test]
    async fn a_run_cut_short_by_max_pages_resumes_where_it_stopped() {
        let server = first_run().await;
        let s = setup(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        let first = s.source.poll(&ctx(None)).await.unwrap();
        assert!(first.more);
        let c = cursor_of(&first);
        assert_eq!(c.since, None);
        assert_eq!(
            c.media["17900000000000001"].after.as_deref(),
            Some("QVFIUmNvbW1lbnQy")
        );
        assert_eq!(c.tags_after.as_deref(), Some("QVFIUnRhZ3MxY"));
        // One page of media only: the media listing is read afresh each run, which the
        // expectations above allow exactly once per page; serve page 1 again on resume.
        testing::serve_instead(
            &server,
            [
                get(format!("/v24.0/{IG}/media")).respond_with(json(200, "media-page1.json")),
                get("/v24.0/17900000000000001/comments")
                    .and(query_param("after", "QVFIUmNvbW1lbnQy"))
                    .respond_with(json(200, "comments-m1-page2.json"))
                    .expect(1),
                get(format!("/v24.0/{IG}/tags"))
                    .and(query_param("after", "QVFIUnRhZ3MxY"))
                    .respond_with(json(200, "tags-page2.json"))
                    .expect(1),
            ],
        )
        .await;
        let second = s.source.poll(&ctx(Some(&c))).await.unwrap();
        assert!(!second.more);
        assert_eq!(ids(&second), vec!["17850000000000015", "17910000000000001"]);
        let c2 = cursor_of(&second);
        assert_eq!(c2.since, c.run_started);
        assert_eq!(c2.media["17900000000000001"].count, 3);
        assert_eq!(c2.tags_after, None);
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys(&test_config(
                serde_json::json!({ "ig_user_id": "@fjordlink", "max_pages": 0 })
            )),
            ["ig_user_id", "max_pages", "access_token_env"]
        );
    }

    #[test]
    fn the_webhook_needs_both_its_secret_and_its_verify_token() {
        let secret = testing::secret_file("app-secret");
        let token = testing::secret_file(TOKEN);
        let config = |extra: serde_json::Value| {
            let mut settings = serde_json::json!({
                "ig_user_id": IG,
                "access_token_file": token.path().to_str().unwrap(),
            });
            for (k, v) in extra.as_object().unwrap() {
                settings[k] = v.clone();
            }
            test_config(settings)
        };
        let half = config(serde_json::json!({
            "webhook_app_secret_file": secret.path().to_str().unwrap(),
        }));
        let mut errors = ConfigErrors::default();
        InstagramSource::validate(&half, "sources[0]", &mut errors);
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].0, "sources[0].webhook_verify_token_env");
        assert!(webhook_keys(&half).is_none());

        let whole = config(serde_json::json!({
            "webhook_app_secret_file": secret.path().to_str().unwrap(),
            "webhook_verify_token_file": secret.path().to_str().unwrap(),
        }));
        let mut errors = ConfigErrors::default();
        InstagramSource::validate(&whole, "sources[0]", &mut errors);
        assert!(errors.is_empty(), "{errors}");
        let keys = webhook_keys(&whole).unwrap();
        assert_eq!(keys.ig_user_id, IG);
        assert_eq!(keys.app_secret.expose(), "app-secret");
        assert!(webhook_keys(&config(serde_json::json!({}))).is_none());
    }
}
