//! Hacker News, through the Algolia search API (`/api/v1/search_by_date`): stories and comments
//! that mention the query, newest first, no credentials.
//!
//! The cursor is a time window on `created_at_i`. A poll reads everything at or after `since`;
//! when it runs out of pages before reaching `since`, it keeps the window open with an `until`
//! bound and asks to be polled again, so a burst is read completely over several polls.

use crate::sources::checks::Check;
use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::http::Client;
use super::text::html_to_text;
use super::{Batch, Engagement, Mention, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;

const DEFAULT_BASE_URL: &str = "https://hn.algolia.com";
const ITEM_URL: &str = "https://news.ycombinator.com/item?id=";

/// Keys of a `hackernews` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HackerNewsSettings {
    /// Search words, as typed into hn.algolia.com.
    pub query: String,
    /// API host; change only for tests or a mirror.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Item types to read: `story`, `comment`, `poll`, `show_hn`, `ask_hn`.
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// Results per request (Algolia allows up to 1000).
    #[serde(default = "default_hits_per_page")]
    pub hits_per_page: u32,
    /// Requests per poll before the rest is left for the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_tags() -> Vec<String> {
    vec!["story".into(), "comment".into()]
}
fn default_hits_per_page() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    5
}

const KNOWN_TAGS: &[&str] = &["story", "comment", "poll", "pollopt", "show_hn", "ask_hn"];

/// What the source remembers between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct HnCursor {
    /// Read items created at or after this time (epoch seconds).
    since: i64,
    /// Ids created exactly at `since` that are already stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
    /// An unfinished window: items newer than this were read already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
    /// Newest item of the unfinished window, and the ids at that time; becomes `since`/`seen`
    /// once the window is read to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    newest_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SearchPage {
    #[serde(default)]
    hits: Vec<serde_json::Value>,
    #[serde(default)]
    page: u32,
    #[serde(default, rename = "nbPages")]
    nb_pages: u32,
    #[serde(default, rename = "nbHits")]
    nb_hits: u64,
}

#[derive(Debug, Deserialize)]
struct Hit {
    #[serde(rename = "objectID")]
    object_id: String,
    created_at_i: i64,
    author: Option<String>,
    title: Option<String>,
    url: Option<String>,
    story_text: Option<String>,
    comment_text: Option<String>,
    parent_id: Option<i64>,
    points: Option<i64>,
    num_comments: Option<i64>,
    #[serde(default, rename = "_tags")]
    tags: Vec<String>,
}

/// A Hacker News search.
pub struct HackerNewsSource {
    settings: HackerNewsSettings,
    client: Client,
}

impl SourceKind for HackerNewsSource {
    const KIND: &'static str = "hackernews";
    type Settings = HackerNewsSettings;
    type Checked = ();

    fn check(s: &HackerNewsSettings, cx: &mut Check<'_>) -> Option<()> {
        cx.not_blank("query", &s.query, "it is what Hacker News is searched for");
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        if s.tags.is_empty() {
            cx.problem("tags", "list at least one of story, comment");
        }
        for t in &s.tags {
            if !KNOWN_TAGS.contains(&t.as_str()) {
                cx.problem(
                    "tags",
                    format!("unknown tag \"{t}\"; known: {}", KNOWN_TAGS.join(", ")),
                );
            }
        }
        cx.in_range("hits_per_page", s.hits_per_page, 1..=1000, "use");
        cx.at_least_one("max_pages", s.max_pages);
        Some(())
    }

    fn build(
        settings: HackerNewsSettings,
        _checked: (),
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<HackerNewsSource> {
        Ok(HackerNewsSource { settings, client })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, _secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "query": "fjordlink", "base_url": base })
    }
}

impl HackerNewsSource {
    async fn fetch_page(&self, filters: &str, page: u32) -> Result<SearchPage, SourceError> {
        let url = format!(
            "{}/api/v1/search_by_date",
            self.settings.base_url.trim_end_matches('/')
        );
        let tags = format!("({})", self.settings.tags.join(","));
        let req = self.client.request(reqwest::Method::GET, &url).query(&[
            ("query", self.settings.query.as_str()),
            ("tags", tags.as_str()),
            ("numericFilters", filters),
            ("hitsPerPage", &self.settings.hits_per_page.to_string()),
            ("page", &page.to_string()),
        ]);
        let resp = self.client.send(req).await?;
        match resp.status {
            200..=299 => resp.json(),
            _ => Err(resp.unexpected_status()),
        }
    }
}

/// Records a problem when `url` is not an http(s) URL.
#[async_trait]
impl Source for HackerNewsSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let cursor = ctx
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<HnCursor>(c).ok())
            .unwrap_or_else(|| HnCursor {
                since: (Utc::now()
                    - chrono::Duration::from_std(ctx.backfill)
                        .unwrap_or(chrono::Duration::days(1)))
                .timestamp(),
                ..Default::default()
            });
        let mut filters = format!("created_at_i>={}", cursor.since);
        if let Some(until) = cursor.until {
            filters.push_str(&format!(",created_at_i<={until}"));
        }
        let seen: HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
        let mut ids = HashSet::new();
        let mut mentions = Vec::new();
        let (mut newest, mut newest_ids) = (cursor.newest, cursor.newest_ids.clone());
        let mut oldest: Option<i64> = None;
        let mut finished = false;
        let mut read = 0u64;
        for page in 0..self.settings.max_pages {
            let result = self.fetch_page(&filters, page).await?;
            read += result.hits.len() as u64;
            for raw in result.hits.iter() {
                let Ok(hit) = serde_json::from_value::<Hit>(raw.clone()) else {
                    continue;
                };
                oldest = Some(oldest.map_or(hit.created_at_i, |o| o.min(hit.created_at_i)));
                match newest {
                    Some(n) if n > hit.created_at_i => {}
                    Some(n) if n == hit.created_at_i => {
                        if !newest_ids.contains(&hit.object_id) {
                            newest_ids.push(hit.object_id.clone());
                        }
                    }
                    _ => {
                        newest = Some(hit.created_at_i);
                        newest_ids = vec![hit.object_id.clone()];
                    }
                }
                if seen.contains(hit.object_id.as_str()) || !ids.insert(hit.object_id.clone()) {
                    continue;
                }
                if let Some(m) = to_mention(hit, raw) {
                    mentions.push(m);
                }
            }
            // Algolia stops paging at 1000 hits; nbHits tells whether the window holds more.
            let last = result.hits.is_empty() || result.page + 1 >= result.nb_pages;
            if last {
                finished = read >= result.nb_hits || result.hits.is_empty();
                break;
            }
        }
        let next = if finished {
            match newest {
                // Nothing new: keep the window start so late-indexed items are still found.
                None => HnCursor {
                    since: cursor.since,
                    seen: cursor.seen.clone(),
                    ..Default::default()
                },
                Some(n) if n == cursor.since => {
                    let mut ids = cursor.seen.clone();
                    for id in newest_ids {
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    HnCursor {
                        since: n,
                        seen: ids,
                        ..Default::default()
                    }
                }
                Some(n) => HnCursor {
                    since: n,
                    seen: newest_ids,
                    ..Default::default()
                },
            }
        } else {
            HnCursor {
                since: cursor.since,
                seen: cursor.seen.clone(),
                until: oldest.or(cursor.until),
                newest,
                newest_ids,
            }
        };
        Ok(Batch {
            mentions,
            cursor: Some(serde_json::to_string(&next).unwrap_or_default()),
            next_poll_in: None,
            more: !finished,
            ..Batch::default()
        })
    }
}

/// Turns one search hit into a mention; `None` for deleted or empty items.
fn to_mention(hit: Hit, raw: &serde_json::Value) -> Option<Mention> {
    let author = hit.author.filter(|a| !a.trim().is_empty())?;
    let is_comment = hit.tags.iter().any(|t| t == "comment") || hit.comment_text.is_some();
    let html = if is_comment {
        hit.comment_text.as_deref()
    } else {
        hit.story_text.as_deref()
    };
    let mut text = html.map(html_to_text).unwrap_or_default();
    if matches!(text.as_str(), "[deleted]" | "[dead]" | "[flagged]") {
        return None;
    }
    let title = if is_comment {
        None
    } else {
        hit.title.filter(|t| !t.trim().is_empty())
    };
    if text.is_empty() {
        // A link story: its text is where it points.
        text = hit.url.clone().unwrap_or_default();
    }
    if text.is_empty() && title.is_none() {
        return None;
    }
    let created_at = DateTime::<Utc>::from_timestamp(hit.created_at_i, 0)?;
    let mut raw = raw.clone();
    if let Some(obj) = raw.as_object_mut() {
        // Highlighting repeats the text with markup; it adds nothing worth storing.
        obj.remove("_highlightResult");
    }
    Some(Mention {
        url: Some(format!("{ITEM_URL}{}", hit.object_id)),
        external_id: hit.object_id,
        author_handle: Some(author.clone()),
        author_name: Some(author),
        title,
        text,
        created_at,
        in_reply_to: if is_comment {
            hit.parent_id.map(|p| p.to_string())
        } else {
            None
        },
        engagement: Engagement {
            likes: hit.points,
            replies: hit.num_comments,
            ..Default::default()
        },
        raw,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, ctx, json};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PAGE0: &str = include_str!("../../fixtures/hackernews/search-page0.json");
    const INCREMENTAL: &str = include_str!("../../fixtures/hackernews/search-incremental.json");
    const WINDOW_REST: &str = include_str!("../../fixtures/hackernews/search-window-rest.json");

    fn source(base: &str, extra: serde_json::Value) -> HackerNewsSource {
        let base = serde_json::json!({"query": "fjordlink", "base_url": base, "hits_per_page": 3});
        let settings = testing::with_settings(base, extra);
        let cfg = testing::source_config("hn", "hackernews", settings);
        testing::built(&cfg)
    }

    /// A mock answering, once, the request for page 0 of the search with `numericFilters`
    /// set to `filter`, with `reply`.
    fn first_page(filter: &str, reply: &str) -> Mock {
        Mock::given(method("GET"))
            .and(path("/api/v1/search_by_date"))
            .and(query_param("numericFilters", filter))
            .and(query_param("page", "0"))
            .respond_with(json(reply))
            .expect(1)
    }

    /// The end-to-end tests' fake (fixtures/hackernews/routes.toml: page 0 for the search as
    /// configured, page 1 after it), and the first poll of a source reading it.
    async fn first_poll_of_the_fake() -> (MockServer, Batch) {
        let server = fake::start("hackernews").await;
        let batch = source(&server.uri(), serde_json::json!({}))
            .poll(&ctx(None))
            .await
            .unwrap();
        (server, batch)
    }

    /// Fails unless `batch` ends a complete read of the fixtures: its cursor starts the next
    /// poll at the newest hit (46010005), counts that hit as seen and keeps no window open.
    fn assert_read_to_the_newest_hit(batch: &Batch) {
        let cursor: HnCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor.since, 1795608000);
        assert_eq!(cursor.seen, ["46010005"]);
        assert_eq!(cursor.until, None);
    }

    /// The `page` parameter of every request the fake received, in order.
    async fn pages_asked(server: &MockServer) -> Vec<String> {
        let requests = server.received_requests().await.unwrap();
        requests
            .iter()
            .filter_map(|r| r.url.query_pairs().find(|(k, _)| k == "page"))
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    #[tokio::test]
    async fn first_poll_reads_every_page_of_the_backfill_window() {
        let (server, batch) = first_poll_of_the_fake().await;
        // 46010003 is deleted (no author, no text) and appears on both pages.
        assert_eq!(
            testing::ids(&batch),
            ["46010005", "46010004", "46010001", "46010002"]
        );
        assert!(!batch.more);
        assert_eq!(pages_asked(&server).await, ["0", "1"], "each page once");
        let requests = server.received_requests().await.unwrap();
        let filter = requests[0]
            .url
            .query_pairs()
            .find(|(k, _)| k == "numericFilters")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let since: i64 = filter.trim_start_matches("created_at_i>=").parse().unwrap();
        let expected = Utc::now().timestamp() - 3650 * 86400;
        assert!((since - expected).abs() < 60, "{filter}");
        assert_read_to_the_newest_hit(&batch);
    }

    #[tokio::test]
    async fn hits_become_mentions_with_links_text_and_counts() {
        let (server, batch) = first_poll_of_the_fake().await;
        assert_eq!(pages_asked(&server).await, ["0", "1"], "each page once");
        let c = &batch.mentions[0];
        assert_eq!(
            c.url.as_deref(),
            Some("https://news.ycombinator.com/item?id=46010005")
        );
        assert_eq!(c.author_handle.as_deref(), Some("pietjansen"));
        assert_eq!(c.in_reply_to.as_deref(), Some("46010003"));
        assert_eq!(c.title, None);
        assert_eq!(
            c.text,
            "Fjordlink storing in Utrecht sinds vanochtend, modem knippert oranje. Zie https://status.fjordlink.nl/storingen/2026-11-25\nIemand anders ook? <b>niet vet</b>"
        );
        assert!(c.raw.get("_highlightResult").is_none());
        let s = &batch.mentions[1];
        assert_eq!(
            s.title.as_deref(),
            Some("Ask HN: Fjordlink fibre down across Copenhagen?")
        );
        assert!(
            s.text
                .starts_with("Vores Fjordlink-forbindelse i København")
        );
        assert!(s.text.contains("😤"));
        assert_eq!(s.engagement.likes, Some(12));
        assert_eq!(s.engagement.replies, Some(4));
        assert_eq!(s.in_reply_to, None);
        assert_eq!(s.created_at.timestamp(), 1795600000);
        // A link story without text and without num_comments.
        let l = &batch.mentions[2];
        assert_eq!(
            l.text,
            "https://www.tweakers.net/nieuws/fjordlink-prijsverhoging-glasvezel"
        );
        assert_eq!(l.engagement.replies, None);
        let long = &batch.mentions[3];
        assert!(long.text.chars().count() > 1500);
        assert!(long.text.contains("Ελληνικά"));
    }

    #[tokio::test]
    async fn incremental_poll_returns_only_items_after_the_cursor() {
        let server = testing::serving([first_page("created_at_i>=1795608000", INCREMENTAL)]).await;
        let cursor = r#"{"since":1795608000,"seen":["46010005"]}"#;
        let batch = source(&server.uri(), serde_json::json!({}))
            .poll(&ctx(Some(cursor)))
            .await
            .unwrap();
        assert_eq!(testing::ids(&batch), ["46010010"]);
        assert_eq!(
            batch.mentions[0].text,
            "Update: Fjordlink says the Utrecht outage is fixed & credits will follow."
        );
        let next: HnCursor = serde_json::from_str(batch.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.since, 1795612000);
        assert_eq!(next.seen, ["46010010"]);
    }

    #[tokio::test]
    async fn a_poll_that_runs_out_of_pages_resumes_where_it_stopped() {
        let server = testing::serving([
            first_page("created_at_i>=1795500000", PAGE0),
            first_page(
                "created_at_i>=1795500000,created_at_i<=1795597000",
                WINDOW_REST,
            ),
        ])
        .await;
        let src = source(&server.uri(), serde_json::json!({"max_pages": 1}));
        let first = src
            .poll(&ctx(Some(r#"{"since":1795500000}"#)))
            .await
            .unwrap();
        assert!(first.more);
        assert_eq!(first.mentions.len(), 2);
        let c: HnCursor = serde_json::from_str(first.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(c.since, 1795500000);
        assert_eq!(c.until, Some(1795597000));
        assert_eq!(c.newest, Some(1795608000));
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert_eq!(testing::ids(&second), ["46010001", "46010002"]);
        assert!(!second.more);
        assert_read_to_the_newest_hit(&second);
    }

    #[tokio::test]
    async fn rate_limit_carries_retry_after() {
        let server =
            testing::answering(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
                .await;
        let err = source(&server.uri(), serde_json::json!({}))
            .poll(&ctx(None))
            .await
            .unwrap_err();
        match err {
            SourceError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(std::time::Duration::from_secs(120)))
            }
            other => panic!("expected RateLimited, got {other}"),
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        assert_eq!(
            testing::problem_keys_of(
                "hackernews",
                serde_json::json!({"query": " ", "tags": ["job"], "hits_per_page": 5000})
            ),
            ["query", "tags", "hits_per_page"]
        );
    }
}
