//! Apple App Store customer reviews of the brand's app, from Apple's public per-country
//! review feed (`/{country}/rss/customerreviews/page=N/id=APP/sortby=mostrecent/json`). No
//! account or key is needed.
//!
//! The feed is Atom turned into JSON: every value sits in a `label`, `entry` is a list, or a
//! single object when there is one review, and some countries still lead with an entry that
//! describes the app (it has no `im:rating`). Reviews come newest first; the cursor keeps, per
//! country, the time of the newest review read (and the ids read at that time), and a poll reads
//! pages until it reaches it, going on at the next page on the next poll when `max_pages` stops
//! it first (`Walk`).

use crate::sources::checks::Check;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::http::Client;
use super::newest_first::Walk;
use super::{Batch, Engagement, Mention, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;

/// Apple serves at most ten pages of 50 reviews per country.
const MAX_FEED_PAGES: u32 = 10;

/// Keys of an `app_store` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStoreSettings {
    /// The app's numeric App Store id (the digits after `id` in its App Store link).
    pub app_id: String,
    /// Storefronts to read, as two-letter country codes (`nl`, `dk`, `us`).
    #[serde(default = "default_countries")]
    pub countries: Vec<String>,
    /// Feed host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Pages (of up to 50 reviews) read per country per poll, 1 to 10.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

fn default_countries() -> Vec<String> {
    vec!["us".into()]
}
fn default_base_url() -> String {
    "https://itunes.apple.com".into()
}
fn default_max_pages() -> u32 {
    2
}

/// What the source remembers between polls: per country, how far reviews were read and where
/// an unfinished read goes on (a page number).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct AppStoreCursor {
    #[serde(default)]
    countries: BTreeMap<String, Walk<u32>>,
    /// The cursor of earlier versions (the newest review time per country), read once so an
    /// upgrade neither re-reads nor skips reviews.
    #[serde(default, skip_serializing)]
    newest: BTreeMap<String, DateTime<Utc>>,
}

/// Reviews of one app in one or more App Store countries.
pub struct AppStoreSource {
    settings: AppStoreSettings,
    client: Client,
}

#[derive(Debug, Deserialize)]
struct FeedBody {
    feed: Feed,
}

#[derive(Debug, Deserialize)]
struct Feed {
    entry: Option<Entries>,
}

/// `entry` is a list, or a bare object when the feed holds one review.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Entries {
    Many(Vec<serde_json::Value>),
    One(serde_json::Value),
}

#[derive(Debug, Deserialize)]
struct Label {
    #[serde(default)]
    label: String,
}

#[derive(Debug, Deserialize)]
struct Review {
    id: Label,
    updated: Label,
    #[serde(rename = "im:rating")]
    rating: Label,
    title: Option<Label>,
    content: Option<Label>,
    author: Option<ReviewAuthor>,
    #[serde(rename = "im:voteSum", default)]
    vote_sum: Option<Label>,
}

#[derive(Debug, Deserialize)]
struct ReviewAuthor {
    name: Option<Label>,
}

impl SourceKind for AppStoreSource {
    const KIND: &'static str = "app_store";
    const RATED: bool = true;
    type Settings = AppStoreSettings;
    type Checked = ();

    fn check(s: &AppStoreSettings, cx: &mut Check<'_>) -> Option<()> {
        if s.app_id.is_empty() || !s.app_id.bytes().all(|b| b.is_ascii_digit()) {
            cx.problem("app_id", format!(
                    "\"{}\" is not an App Store id; use the digits after \"id\" in the app's link (apps.apple.com/nl/app/…/id1488000111)",
                    s.app_id
                ),
            );
        }
        if s.countries.is_empty() {
            cx.problem("countries", "name at least one country, e.g. [\"nl\"]");
        }
        cx.two_letter_codes("countries", &s.countries, "country");
        if !(1..=MAX_FEED_PAGES).contains(&s.max_pages) {
            cx.problem(
                "max_pages",
                format!(
                    "{} is out of range; Apple serves 1 to 10 pages",
                    s.max_pages
                ),
            );
        }
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        Some(())
    }

    fn build(
        settings: AppStoreSettings,
        _checked: (),
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<AppStoreSource> {
        Ok(AppStoreSource { settings, client })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, _secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "app_id": "1488000111", "countries": ["nl"], "base_url": base })
    }
}

impl AppStoreSource {
    /// One page of a country's feed, as raw entries.
    async fn page(&self, country: &str, page: u32) -> Result<Vec<serde_json::Value>, SourceError> {
        let url = format!(
            "{}/{country}/rss/customerreviews/page={page}/id={}/sortby=mostrecent/json",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.app_id
        );
        let req = self.client.request(reqwest::Method::GET, &url);
        let resp = self.client.send(req).await?;
        match resp.status {
            200 => {}
            // Apple answers an unknown app or an empty storefront with 404 or 400.
            400 | 404 if page == 1 => {
                return Err(SourceError::Auth(format!(
                    "app_store: no review feed for app {} in country {country} ({}); check app_id and countries",
                    self.settings.app_id, resp.status
                )));
            }
            400 | 404 => return Ok(Vec::new()),
            _ => return Err(resp.unexpected_status()),
        }
        let body: FeedBody = resp.json()?;
        Ok(match body.feed.entry {
            Some(Entries::Many(v)) => v,
            Some(Entries::One(v)) => vec![v],
            None => Vec::new(),
        })
    }
}

#[async_trait]
impl Source for AppStoreSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let mut cur: AppStoreCursor = ctx.stored_cursor();
        let backfill_start = ctx.backfill_start(Utc::now());
        let mut batch = Batch::default();
        for (country, newest) in std::mem::take(&mut cur.newest) {
            let walk = cur.countries.entry(country).or_default();
            if walk.done.newest.is_none() {
                walk.done.newest = Some(newest);
            }
        }
        for country in &self.settings.countries {
            let country = country.to_ascii_lowercase();
            let mut walk = cur.countries.remove(&country).unwrap_or_default();
            // A read cut short by max_pages goes on where it stopped: new reviews on top only
            // push the unread ones further down, so nothing is skipped (some are read twice,
            // and the store keeps them once).
            let mut read = walk.read(backfill_start);
            while read.wants_page(self.settings.max_pages) {
                let n = read.next().copied().unwrap_or(1);
                // Apple serves no page past the tenth: the read is as complete as it gets.
                let entries = match n {
                    n if n > MAX_FEED_PAGES => Vec::new(),
                    n => self.page(&country, n).await?,
                };
                let next = (!entries.is_empty()).then_some(n + 1);
                // The entry describing the app itself has no rating: not a review.
                let dated = entries.into_iter().filter_map(|raw| {
                    let r = serde_json::from_value::<Review>(raw.clone()).ok()?;
                    let at = DateTime::parse_from_rfc3339(&r.updated.label).ok()?;
                    let at = at.with_timezone(&Utc);
                    Some((at, r.id.label.clone(), (r, at, raw)))
                });
                read.add(dated, next);
            }
            let (reviews, more) = read.finish(&mut walk);
            batch.more |= more;
            let app_id = &self.settings.app_id;
            batch.mentions.extend(
                reviews
                    .into_iter()
                    .filter_map(|(r, at, raw)| review_mention(r, at, &country, app_id, raw)),
            );
            cur.countries.insert(country, walk);
        }
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }
}

/// A review as a mention: its title as the title, its stars as the rating.
fn review_mention(
    r: Review,
    at: DateTime<Utc>,
    country: &str,
    app_id: &str,
    raw: serde_json::Value,
) -> Option<Mention> {
    Mention {
        external_id: format!("{country}:{}", r.id.label),
        // Apple has no link to a single review; the app's review page is where it shows.
        url: Some(format!(
            "https://apps.apple.com/{country}/app/id{app_id}?see-all=reviews"
        )),
        title: r.title.map(|t| t.label),
        text: r.content.map(|c| c.label).unwrap_or_default(),
        author_name: r.author.and_then(|a| a.name).map(|n| n.label),
        // A storefront is a country, not a language: leave it to language detection.
        lang: None,
        engagement: Engagement {
            likes: r.vote_sum.and_then(|v| v.label.parse().ok()),
            ..Default::default()
        },
        created_at: at,
        raw,
        ..Default::default()
    }
    .into_review(r.rating.label.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{self, ctx, ids, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    const APP: &str = "1488000111";

    fn source(base: &str, extra: serde_json::Value) -> AppStoreSource {
        let settings = testing::with_settings(
            serde_json::json!({ "app_id": APP, "countries": ["nl"], "base_url": base }),
            extra,
        );
        let config = testing::source_config("appstore", "app_store", settings);
        testing::built(&config)
    }

    fn page_path(country: &str, n: u32) -> String {
        format!("/{country}/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json")
    }

    /// A mock answering the request for page `n` of `country`'s reviews with `reply`.
    fn page(country: &str, n: u32, reply: ResponseTemplate) -> Mock {
        Mock::given(method("GET"))
            .and(path(page_path(country, n)))
            .respond_with(reply)
    }

    /// A fixture of `fixtures/app_store/` as a `200 OK` page.
    fn fixture_page(name: &str) -> ResponseTemplate {
        json(&testing::fixture("app_store", name))
    }

    #[tokio::test]
    async fn reviews_become_mentions_with_their_stars_and_a_second_poll_reads_nothing() {
        let server = crate::sources::fake::start("app_store").await;
        let src = source(&server.uri(), serde_json::json!({}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            ["nl:12648830011", "nl:12648801277", "nl:12631907744"]
        );
        let first = &batch.mentions[0];
        assert_eq!(first.rating, Some(1));
        assert_eq!(first.title.as_deref(), Some("Inloggen lukt niet meer"));
        assert_eq!(first.author_name.as_deref(), Some("Sanne_U"));
        assert_eq!(
            first.created_at,
            DateTime::parse_from_rfc3339("2026-11-25T16:41:12Z").unwrap()
        );
        assert_eq!(
            first.url.as_deref(),
            Some("https://apps.apple.com/nl/app/id1488000111?see-all=reviews")
        );
        assert_eq!(batch.mentions[1].rating, Some(4));
        assert!(
            batch.mentions[1].text.contains("<b>soms</b>"),
            "kept as typed"
        );
        let again = src.poll(&ctx(batch.cursor.as_deref())).await.unwrap();
        assert!(again.mentions.is_empty());
        // Page 2, empty as Apple answers past the end, ended the first read; the second poll
        // stopped on page 1 at the review it had.
        let pages: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_string())
            .collect();
        assert_eq!(
            pages,
            [page_path("nl", 1), page_path("nl", 2), page_path("nl", 1)]
        );
    }

    #[tokio::test]
    async fn a_backlog_beyond_max_pages_is_read_on_later_polls_without_a_gap() {
        let older = serde_json::json!({ "feed": { "entry": {
            "author": { "name": { "label": "Kees" }, "label": "" },
            "updated": { "label": "2026-11-10T09:30:00-07:00" },
            "im:rating": { "label": "1" },
            "id": { "label": "12600000001" },
            "title": { "label": "Geen verbinding" },
            "content": { "label": "De app zegt al een week dat er geen verbinding is.", "attributes": { "type": "text" } }
        } } });
        let server = testing::serving([
            page("nl", 1, fixture_page("reviews-nl.json")),
            page("nl", 2, json(&older.to_string())),
            page("nl", 3, ResponseTemplate::new(404)),
        ])
        .await;
        let src = source(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        let first = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(first.mentions.len(), 3);
        assert!(first.more, "page 2 is still unread");
        // The next poll goes on at page 2 instead of starting at the top again.
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert_eq!(ids(&second), ["nl:12600000001"]);
        let third = src.poll(&ctx(second.cursor.as_deref())).await.unwrap();
        assert!(third.mentions.is_empty() && !third.more);
        // The read is complete: the newest review of page 1 is the boundary now.
        let fourth = src.poll(&ctx(third.cursor.as_deref())).await.unwrap();
        assert!(fourth.mentions.is_empty() && !fourth.more);
    }

    #[tokio::test]
    async fn an_older_cursor_keeps_its_boundary() {
        let server = testing::serving([page("nl", 1, fixture_page("reviews-nl.json"))]).await;
        let src = source(&server.uri(), serde_json::json!({}));
        // Written before the cursor kept a walk: only the review newer than it is read.
        let old = r#"{"newest":{"nl":"2026-11-22T00:00:00Z"}}"#;
        let batch = src.poll(&ctx(Some(old))).await.unwrap();
        assert_eq!(ids(&batch), ["nl:12648830011", "nl:12648801277"]);
        let saved = batch.cursor.unwrap();
        assert!(
            saved.contains("\"countries\"") && !saved.contains("\"newest\":{"),
            "{saved}"
        );
    }

    #[tokio::test]
    async fn a_feed_with_one_review_holds_an_object_not_a_list() {
        let server = testing::serving([
            page("dk", 1, fixture_page("reviews-single.json")),
            page("dk", 2, ResponseTemplate::new(404)),
        ])
        .await;
        let src = source(&server.uri(), serde_json::json!({ "countries": ["dk"] }));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(ids(&batch), ["dk:12648899901"]);
        assert_eq!(batch.mentions[0].rating, Some(5));
    }

    #[tokio::test]
    async fn an_unknown_app_names_the_keys_to_check() {
        let server = testing::answering(ResponseTemplate::new(404)).await;
        let err = source(&server.uri(), serde_json::json!({}))
            .poll(&ctx(None))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("app 1488000111 in country nl") && m.contains("check app_id")),
            "{err:?}"
        );
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys_of(
                "app_store",
                serde_json::json!({ "app_id": "id14880", "countries": ["nld"], "max_pages": 11 })
            ),
            ["app_id", "countries", "max_pages"]
        );
    }
}
