//! Facebook Pages (Meta Graph API): visitor posts on the brand's own page and comments on the
//! page's posts, where customers ask and complain.
//!
//! Each run reads the page feed of the last `comment_window`, keeps posts by visitors created
//! since the last run, and reads the comments (`filter=stream`, replies included, newest first,
//! `since` the last run) of every post that had activity since then. Paging follows
//! `paging.next` as Graph gives it: a feed read with `since` pages by time (`until` and
//! `__paging_token`), not by `cursors.after`, so only the link reaches the older posts. Page
//! links are never kept past a poll (they expire); a run cut short by `max_pages` is read again
//! from the start by the next poll, whose `since` has not moved. The Graph client itself, which
//! the Instagram source shares, is in `sources::graph`.

use crate::sources::checks::Check;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::graph::{
    Graph, check_graph_settings, check_numeric_id, default_api_version, default_comment_window,
    default_graph_url, default_max_pages, longer, parse_graph_time,
};
use super::http::Client;
use super::own_reply::is_own;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::{DurationValue, SourceConfig};
use crate::secret::Secret;

/// Runs overlap by this much, so an item created during a run is seen by the next.
const RUN_OVERLAP: i64 = 60;

/// Keys of a `facebook_page` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookPageSettings {
    /// The page's numeric id.
    pub page_id: String,
    /// Graph API host; the real one unless testing.
    #[serde(default = "default_graph_url")]
    pub base_url: String,
    /// Graph API version, e.g. `v24.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Posts older than this are no longer checked for new comments.
    #[serde(default = "default_comment_window")]
    pub comment_window: DurationValue,
    /// Pages read per listing per poll before continuing on the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Ids or names of more accounts whose comments are the brand's own answers, besides the
    /// page itself (which is recognised by its id), e.g. a second page of the brand.
    #[serde(default)]
    pub own_accounts: Vec<String>,
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct PageCursor {
    /// Unix seconds: items created after this are new. Advances when a run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
}

/// Visitor posts and comments on one Facebook page.
pub struct FacebookPageSource {
    settings: FacebookPageSettings,
    graph: Graph,
}

const FEED_FIELDS: &str = "id,message,story,created_time,updated_time,permalink_url,from,shares,comments.limit(0).summary(true),reactions.limit(0).summary(true)";
const COMMENT_FIELDS: &str =
    "id,message,created_time,from,permalink_url,like_count,comment_count,parent{id}";

impl SourceKind for FacebookPageSource {
    const KIND: &'static str = "facebook_page";
    /// The page access token: `page_token_env` or `page_token_file`.
    const SECRETS: &'static [&'static str] = &["page_token"];
    type Settings = FacebookPageSettings;
    type Checked = Secret;

    fn check(s: &FacebookPageSettings, cx: &mut Check<'_>) -> Option<Secret> {
        check_numeric_id(
            cx,
            "page_id",
            &s.page_id,
            "a page id; use the page's numeric id (Page settings → About → Page ID)",
        );
        check_graph_settings(cx, &s.base_url, &s.api_version, s.max_pages);
        cx.secret("page_token", true)
    }

    fn build(
        settings: FacebookPageSettings,
        token: Secret,
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<FacebookPageSource> {
        Ok(FacebookPageSource {
            graph: Graph::new(
                client,
                &settings.base_url,
                &settings.api_version,
                token,
                "facebook_page",
                "page_token",
            ),
            settings,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "page_id": "104857600000001", "base_url": base, "page_token_file": secret_file
        })
    }
}

impl FacebookPageSource {
    /// True when `from` is the page itself or one of `own_accounts` (by id or name).
    fn is_own(&self, from: &From, page_id: &str) -> bool {
        let own = &self.settings.own_accounts;
        from.id == page_id
            || is_own(&from.id, own)
            || from.name.as_deref().is_some_and(|n| is_own(n, own))
    }

    /// Reads one listing (the feed or a post's comments), following `paging.next` for up to
    /// `max_pages` pages. Returns the items, whether the listing was read to its end, and any
    /// slow-down.
    async fn read_listing(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Vec<serde_json::Value>, bool, Option<Duration>), SourceError> {
        let (page, mut slow) = self.graph.get(path, params).await?;
        let mut next = page.paging.as_ref().and_then(|p| p.next.clone());
        let mut items = page.data;
        for _ in 1..self.settings.max_pages {
            let Some(link) = next.take() else {
                break;
            };
            let (page, s) = self.graph.get_next(&link).await?;
            slow = longer(slow, s);
            next = page.paging.as_ref().and_then(|p| p.next.clone());
            items.extend(page.data);
        }
        Ok((items, next.is_none(), slow))
    }
}

#[async_trait]
impl Source for FacebookPageSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now();
        let mut cur: PageCursor = ctx.stored_cursor();
        let since = cur
            .since
            .unwrap_or_else(|| ctx.backfill_start(now).timestamp());
        let run_started = now.timestamp() - RUN_OVERLAP;
        let mut batch = Batch::default();
        let mut run = Run::default();
        let feed = self.read_feed(now, since, &mut batch, &mut run).await?;
        for post_id in &feed.active {
            self.read_comments(post_id, since, &feed.page_posts, &mut batch, &mut run)
                .await?;
        }
        if run.cut_short.is_empty() {
            cur.since = Some(run_started);
        } else {
            // Keep `since` where it was: the next poll reads the same window again from its
            // first page (the store drops what it already has), so nothing is skipped.
            tracing::warn!(
                listings = %run.cut_short.join(", "),
                max_pages = self.settings.max_pages,
                "facebook_page: more pages than max_pages; the next poll reads this window again, raise max_pages if this repeats"
            );
        }
        batch.next_poll_in = run.slow;
        if let Some(s) = run.slow {
            tracing::warn!(
                wait_s = s.as_secs(),
                "facebook_page: Graph API usage is high; slowing down"
            );
        }
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }
}

/// What the listings of one poll said beyond their items: the longest slow-down Graph asked
/// for, and the listings `max_pages` cut short.
#[derive(Default)]
struct Run {
    slow: Option<Duration>,
    cut_short: Vec<String>,
}

impl Run {
    /// Records one listing read: its slow-down, and its name when it was not read to the end.
    fn listing(&mut self, name: &str, complete: bool, slow: Option<Duration>) {
        self.slow = longer(self.slow, slow);
        if !complete {
            self.cut_short.push(name.to_string());
        }
    }
}

/// What the page's feed says about where to read comments.
struct Feed {
    /// Posts with activity since the last run, whose comments to read.
    active: Vec<String>,
    /// The page's own posts: a page comment on one of them answers nobody.
    page_posts: std::collections::HashSet<String>,
}

impl FacebookPageSource {
    /// Reads the page's feed within `comment_window`: visitors' posts since `since` become
    /// mentions, and the posts with new activity are the ones whose comments are read.
    async fn read_feed(
        &self,
        now: DateTime<Utc>,
        since: i64,
        batch: &mut Batch,
        run: &mut Run,
    ) -> Result<Feed, SourceError> {
        let page_id = self.settings.page_id.as_str();
        let window =
            now - chrono::Duration::from_std(self.settings.comment_window.0).unwrap_or_default();
        let params = [
            ("fields", FEED_FIELDS.to_string()),
            ("since", window.timestamp().to_string()),
            ("limit", "25".into()),
        ];
        let (items, complete, slow) = self
            .read_listing(&format!("{page_id}/feed"), &params)
            .await?;
        run.listing("feed", complete, slow);
        let mut feed = Feed {
            active: Vec::new(),
            page_posts: std::collections::HashSet::new(),
        };
        for item in items {
            let Ok(post) = serde_json::from_value::<Post>(item.clone()) else {
                continue;
            };
            let created = post.created_time.as_deref().and_then(parse_graph_time);
            let updated = post
                .updated_time
                .as_deref()
                .and_then(parse_graph_time)
                .or(created);
            let by_page = post.from.as_ref().is_some_and(|f| self.is_own(f, page_id));
            if by_page {
                feed.page_posts.insert(post.id.clone());
            } else if created.is_some_and(|c| c.timestamp() > since) {
                batch.mentions.extend(post_mention(&post, item));
            }
            if updated.is_some_and(|u| u.timestamp() > since)
                && post
                    .comments
                    .as_ref()
                    .is_none_or(|c| c.summary.total_count > 0)
                && !feed.active.contains(&post.id)
            {
                feed.active.push(post.id);
            }
        }
        Ok(feed)
    }

    /// Reads the comments on one post since `since`: visitors' comments become mentions, the
    /// page's own become the answers they are.
    async fn read_comments(
        &self,
        post_id: &str,
        since: i64,
        page_posts: &std::collections::HashSet<String>,
        batch: &mut Batch,
        run: &mut Run,
    ) -> Result<(), SourceError> {
        let page_id = self.settings.page_id.as_str();
        let params = [
            ("fields", COMMENT_FIELDS.to_string()),
            ("filter", "stream".into()),
            ("order", "reverse_chronological".into()),
            ("since", since.to_string()),
            ("limit", "100".into()),
        ];
        let (items, complete, slow) = self
            .read_listing(&format!("{post_id}/comments"), &params)
            .await?;
        run.listing(post_id, complete, slow);
        for item in items {
            let Ok(c) = serde_json::from_value::<Comment>(item.clone()) else {
                continue;
            };
            match c.from.as_ref().filter(|f| self.is_own(f, page_id)) {
                // The page's own answers are not mentions: they answer the comment they
                // reply to, or a visitor's post.
                Some(f) => {
                    let parent =
                        c.parent.as_ref().map(|p| p.id.clone()).or_else(|| {
                            (!page_posts.contains(post_id)).then(|| post_id.to_string())
                        });
                    let at = c.created_time.as_deref().and_then(parse_graph_time);
                    if let (Some(parent), Some(at)) = (parent, at) {
                        batch.own_replies.push(OwnReply {
                            parent,
                            account: f.name.clone().unwrap_or_else(|| f.id.clone()),
                            at,
                        });
                    }
                }
                None => batch
                    .mentions
                    .extend(comment_mention(c, &item, post_id, since)),
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct Post {
    id: String,
    message: Option<String>,
    created_time: Option<String>,
    updated_time: Option<String>,
    permalink_url: Option<String>,
    from: Option<From>,
    shares: Option<Count>,
    comments: Option<Summarised>,
    reactions: Option<Summarised>,
}

#[derive(Debug, Deserialize)]
struct From {
    id: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Count {
    count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Summarised {
    summary: Summary,
}

#[derive(Debug, Deserialize)]
struct Summary {
    #[serde(default)]
    total_count: i64,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: String,
    message: Option<String>,
    created_time: Option<String>,
    from: Option<From>,
    permalink_url: Option<String>,
    like_count: Option<i64>,
    comment_count: Option<i64>,
    parent: Option<Parent>,
}

#[derive(Debug, Deserialize)]
struct Parent {
    id: String,
}

fn post_mention(post: &Post, raw: serde_json::Value) -> Option<Mention> {
    let text = post.message.as_deref().unwrap_or("").trim().to_string();
    if text.is_empty() {
        // A share or photo without words: nothing to read or answer.
        return None;
    }
    Some(Mention {
        external_id: post.id.clone(),
        url: Some(
            post.permalink_url
                .clone()
                .unwrap_or_else(|| format!("https://www.facebook.com/{}", post.id)),
        ),
        author_handle: post.from.as_ref().map(|f| f.id.clone()),
        author_name: post.from.as_ref().and_then(|f| f.name.clone()),
        text,
        created_at: post.created_time.as_deref().and_then(parse_graph_time)?,
        engagement: Engagement {
            likes: post.reactions.as_ref().map(|r| r.summary.total_count),
            replies: post.comments.as_ref().map(|c| c.summary.total_count),
            reposts: post.shares.as_ref().and_then(|s| s.count),
        },
        raw,
        ..Default::default()
    })
}

fn comment_mention(
    c: Comment,
    raw: &serde_json::Value,
    post_id: &str,
    since: i64,
) -> Option<Mention> {
    let created = c.created_time.as_deref().and_then(parse_graph_time)?;
    let text = c.message.as_deref().unwrap_or("").trim().to_string();
    // `since` is honoured by Graph, but not by every proxy in between.
    if created.timestamp() <= since || text.is_empty() {
        return None;
    }
    Some(Mention {
        url: Some(c.permalink_url.clone().unwrap_or_else(|| {
            format!(
                "https://www.facebook.com/{post_id}?comment_id={}",
                c.id.rsplit('_').next().unwrap_or(&c.id)
            )
        })),
        external_id: c.id,
        author_handle: c.from.as_ref().map(|f| f.id.clone()),
        author_name: c.from.as_ref().and_then(|f| f.name.clone()),
        text,
        created_at: created,
        in_reply_to: Some(
            c.parent
                .map(|p| p.id)
                .unwrap_or_else(|| post_id.to_string()),
        ),
        engagement: Engagement {
            likes: c.like_count,
            replies: c.comment_count,
            ..Default::default()
        },
        raw: raw.clone(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, WithSecret, ids};
    use chrono::TimeZone;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PAGE: &str = "104857600000001";
    const POST: &str = "104857600000001_900000000000001";
    /// The page token the fake's table (`fixtures/facebook_page/routes.toml`) requires.
    const TOKEN: &str = "EAAB-e2e-page-token";

    fn json(status: u16, name: &str) -> ResponseTemplate {
        testing::fixture_reply("facebook_page", status, name)
    }

    fn setup(base: &str, extra: serde_json::Value) -> WithSecret<FacebookPageSource> {
        let base = serde_json::json!({ "page_id": PAGE, "base_url": base });
        let config = test_config(testing::with_settings(base, extra));
        testing::with_secret(config, "page_token", TOKEN)
    }

    fn ctx(cursor: Option<&PageCursor>) -> PollContext {
        testing::ctx_from_fixtures(cursor)
    }

    fn cursor_of(batch: &Batch) -> PageCursor {
        testing::cursor_of(batch)
    }

    fn test_config(settings: serde_json::Value) -> SourceConfig {
        testing::owned_config("facebook_page", settings)
    }

    #[tokio::test]
    async fn first_poll_reads_visitor_posts_and_comments_to_the_end() {
        let server = fake::start("facebook_page").await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let before = Utc::now().timestamp();
        let batch = s.source.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            vec![
                "104857600000001_900000000000002",
                "104857600000001_900000000000002",
                "104857600000001_900000000000004",
                "900000000000001_1200000000000004",
                "900000000000001_1200000000000003",
                "900000000000001_1200000000000002",
                "900000000000001_1200000000000002",
                "900000000000001_1200000000000001",
            ],
            "page's own posts, the photo without words, the sticker comment and the old post's comments are left out"
        );
        assert!(!batch.more);
        assert_eq!(batch.next_poll_in, None);
        // Each page once: the feed's two, the post's two comment pages, the other post's none.
        assert_eq!(server.received_requests().await.unwrap().len(), 5);
        // The page's reply to Jan is no mention: it answers his comment.
        assert_eq!(
            batch.own_replies,
            [OwnReply {
                parent: "900000000000001_1200000000000001".into(),
                account: "Fjordlink".into(),
                at: Utc.with_ymd_and_hms(2026, 11, 25, 8, 10, 0).unwrap(),
            }]
        );
        let visitor = &batch.mentions[0];
        assert_eq!(visitor.author_name.as_deref(), Some("Sanne de Vries"));
        assert_eq!(visitor.engagement.likes, Some(2));
        assert_eq!(
            visitor.created_at,
            Utc.with_ymd_and_hms(2026, 11, 25, 8, 30, 12).unwrap()
        );
        assert!(visitor.text.contains("📺❌"));
        let reply = &batch.mentions[4];
        assert_eq!(
            reply.in_reply_to.as_deref(),
            Some("900000000000001_1200000000000002")
        );
        let top = &batch.mentions[3];
        assert_eq!(top.in_reply_to.as_deref(), Some(POST));
        assert_eq!(top.engagement.replies, Some(1));
        // Graph sends plain text: markup is what the person typed, kept as text.
        let odd = &batch.mentions[5];
        assert_eq!(
            odd.text,
            "<script>alert('fjordlink')</script> <b>grappig</b> hoor Fjordlink"
        );
        assert_eq!(odd.author_name, None);
        let long = &batch.mentions[7];
        assert!(long.text.len() > 2000);
        assert_eq!(
            long.url.as_deref(),
            Some(
                "https://www.facebook.com/104857600000001_900000000000001?comment_id=1200000000000001"
            )
        );
        let c = cursor_of(&batch);
        let since = c.since.unwrap();
        assert!((before - RUN_OVERLAP - 2..=before - RUN_OVERLAP + 2).contains(&since));
        // The token rode in a header; the next links are followed without theirs, and no link
        // is kept in the cursor.
        assert!(!batch.cursor.unwrap().contains("EAAB"));
    }

    #[tokio::test]
    async fn incremental_poll_asks_for_comments_since_the_last_run() {
        let server = MockServer::start().await;
        let since = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap()
            .timestamp();
        Mock::given(method("GET"))
            .and(path(format!("/v24.0/{PAGE}/feed")))
            .respond_with(json(200, "feed-incremental.json"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v24.0/{POST}/comments")))
            .and(query_param("since", since.to_string().as_str()))
            .respond_with(json(200, "comments-post1-incremental.json"))
            .expect(1)
            .mount(&server)
            .await;
        let s = setup(&server.uri(), serde_json::json!({}));
        let before = PageCursor { since: Some(since) };
        let batch = s.source.poll(&ctx(Some(&before))).await.unwrap();
        // The visitor post is older than `since`: not again.
        assert_eq!(ids(&batch), vec!["900000000000001_1200000000000005"]);
        assert!(cursor_of(&batch).since.unwrap() > since);
    }

    #[tokio::test]
    async fn a_run_cut_short_by_max_pages_keeps_no_link_and_reads_the_window_again() {
        let server = fake::start("facebook_page").await;
        let s = setup(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        let first = s.source.poll(&ctx(None)).await.unwrap();
        assert!(
            !first.more,
            "reading again at once would only repeat the first pages"
        );
        let c = cursor_of(&first);
        assert_eq!(c.since, None, "the window was not read to its end");
        assert_eq!(first.cursor.as_deref(), Some("{}"));
        let s = setup(&server.uri(), serde_json::json!({ "max_pages": 2 }));
        let second = s.source.poll(&ctx(Some(&c))).await.unwrap();
        assert_eq!(ids(&second).len(), 8, "{:?}", ids(&second));
        assert!(cursor_of(&second).since.is_some());
        // The first pages twice, the later ones once.
        assert_eq!(server.received_requests().await.unwrap().len(), 7);
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys(&test_config(
                serde_json::json!({ "page_id": "fjordlink", "api_version": "24" })
            )),
            ["page_id", "api_version", "page_token_env"]
        );
    }
}
