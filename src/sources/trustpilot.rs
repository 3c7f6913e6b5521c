//! Trustpilot service reviews of the brand's business unit, through the Business API
//! (`GET /v1/business-units/{businessUnitId}/reviews`) with an API key.
//!
//! Reviews are read newest first (`orderBy=createdat.desc`), `perPage` at a time; a page whose
//! `links` hold a `next-page` relation has a successor. The cursor keeps the creation time of
//! the newest review read (and the ids read at that very time), and a poll reads pages until
//! it reaches it, going on at the next page on the next poll when `max_pages` stops it first
//! (`Walk`). The business's public answer (`companyReply`) marks the review answered, by the
//! business unit's display name: the API names the business, not a person of the brand.

use crate::sources::checks::Check;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::http::Client;
use super::newest_first::Walk;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

/// Trustpilot serves at most 100 reviews per page.
const MAX_PER_PAGE: u32 = 100;

/// Keys of a `trustpilot` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustpilotSettings {
    /// The business unit's id (24 hexadecimal characters), as Trustpilot Business shows it
    /// or `GET /v1/business-units/find?name=DOMAIN` returns it.
    pub business_unit_id: String,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Reviews per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: u32,
    /// Pages read per poll; older reviews wait for the next poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Only reviews in these languages (ISO 639-1), or every language when empty.
    #[serde(default)]
    pub languages: Vec<String>,
}

fn default_base_url() -> String {
    "https://api.trustpilot.com".into()
}
fn default_per_page() -> u32 {
    MAX_PER_PAGE
}
fn default_max_pages() -> u32 {
    5
}

/// Service reviews of one Trustpilot business unit.
pub struct TrustpilotSource {
    settings: TrustpilotSettings,
    api_key: Secret,
    client: Client,
}

/// One page of `/business-units/{id}/reviews`.
#[derive(Debug, Deserialize)]
struct ReviewPage {
    #[serde(default)]
    links: Vec<Link>,
    reviews: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Link {
    #[serde(default)]
    rel: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    id: String,
    stars: u8,
    title: Option<String>,
    text: Option<String>,
    language: Option<String>,
    created_at: String,
    number_of_likes: Option<i64>,
    consumer: Option<Consumer>,
    business_unit: Option<BusinessUnit>,
    company_reply: Option<CompanyReply>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BusinessUnit {
    display_name: Option<String>,
}

/// The business's public answer under a review.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyReply {
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consumer {
    display_name: Option<String>,
}

/// Trustpilot's error body: `{"message": "...", "errorCode": ...}` or `{"fault": ...}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

impl SourceKind for TrustpilotSource {
    const KIND: &'static str = "trustpilot";
    const RATED: bool = true;
    /// The API key: `api_key_env` or `api_key_file`.
    const SECRETS: &'static [&'static str] = &["api_key"];
    type Settings = TrustpilotSettings;
    type Checked = Secret;

    fn check(s: &TrustpilotSettings, cx: &mut Check<'_>) -> Option<Secret> {
        if s.business_unit_id.len() != 24
            || !s.business_unit_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            cx.problem("business_unit_id", format!(
                    "\"{}\" is not a Trustpilot business unit id (24 hexadecimal characters, e.g. 507f191e810c19729de860ea); find it in Trustpilot Business under Integrations, or with GET /v1/business-units/find?name=your-domain",
                    s.business_unit_id
                ),
            );
        }
        cx.in_range(
            "per_page",
            s.per_page,
            1..=MAX_PER_PAGE,
            "Trustpilot serves",
        );
        cx.at_least_one("max_pages", s.max_pages);
        cx.two_letter_codes("languages", &s.languages, "language");
        cx.http_urls(&[("base_url", Some(&s.base_url))]);
        cx.secret("api_key", true)
    }

    fn build(
        settings: TrustpilotSettings,
        api_key: Secret,
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<TrustpilotSource> {
        Ok(TrustpilotSource {
            settings,
            api_key,
            client,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "business_unit_id": "5f3a1c2b9d8e7f6a5b4c3d2e", "base_url": base,
            "api_key_file": secret_file
        })
    }
}

impl TrustpilotSource {
    /// One page of reviews, newest first.
    async fn page(&self, page: u32) -> Result<ReviewPage, SourceError> {
        let url = format!(
            "{}/v1/business-units/{}/reviews",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.business_unit_id
        );
        let mut query = vec![
            ("orderBy", "createdat.desc".to_string()),
            ("perPage", self.settings.per_page.to_string()),
            ("page", page.to_string()),
        ];
        if !self.settings.languages.is_empty() {
            query.push(("language", self.settings.languages.join(",")));
        }
        // The key travels in the `apikey` header, so it never appears in a URL that is logged.
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(&query)
            .header("apikey", self.api_key.expose());
        let resp = self.client.send(req).await?;
        match resp.status {
            200 => resp.json(),
            401 | 403 => Err(SourceError::Auth(format!(
                "trustpilot: API key refused ({}{}); check credentials api_key_env/api_key_file and that the key belongs to an application with access to business unit {}",
                resp.status,
                error_message(&resp.body),
                self.settings.business_unit_id
            ))),
            404 => Err(SourceError::Auth(format!(
                "trustpilot: business unit {} not found (404{}); check business_unit_id",
                self.settings.business_unit_id,
                error_message(&resp.body)
            ))),
            _ => Err(resp.unexpected_status()),
        }
    }
}

/// `": message"` from a Trustpilot error body, or nothing.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
        .unwrap_or_default()
}

/// Parses Trustpilot times, which come with a zone (`2026-11-25T09:41:12Z`) or, in older
/// answers, without one (`2013-09-07T13:37:00`, UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[async_trait]
impl Source for TrustpilotSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let mut walk: Walk<u32> = ctx.stored_cursor();
        // A read cut short by max_pages goes on where it stopped: new reviews on top only push
        // the unread ones further down, so nothing is skipped (some are read twice, and the
        // store keeps them once).
        let mut read = walk.read(ctx.backfill_start(Utc::now()));
        while read.wants_page(self.settings.max_pages) {
            let n = read.next().copied().unwrap_or(1);
            let page = self.page(n).await?;
            let has_next = page.links.iter().any(|l| l.rel == "next-page");
            let dated = page.reviews.into_iter().filter_map(|raw| {
                let r = serde_json::from_value::<Review>(raw.clone()).ok()?;
                let at = parse_time(&r.created_at)?;
                Some((at, r.id.clone(), (r, at, raw)))
            });
            read.add(dated, has_next.then_some(n + 1));
        }
        let (reviews, more) = read.finish(&mut walk);
        let mut batch = Batch {
            more,
            cursor: Some(serde_json::to_string(&walk).unwrap_or_default()),
            ..Batch::default()
        };
        for (r, at, raw) in reviews {
            batch
                .own_replies
                .extend(company_reply(&r, &self.settings.business_unit_id));
            batch.mentions.extend(review_mention(r, at, raw));
        }
        Ok(batch)
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "reads up to {} reviews of business unit {} per poll, newest first, with the API key",
            self.settings.per_page * self.settings.max_pages,
            self.settings.business_unit_id
        )]
    }
}

/// The business's answer to review `r` as an [`OwnReply`], named by the business unit's
/// display name (or `unit_id` when the review does not carry it); none without a dated reply.
fn company_reply(r: &Review, unit_id: &str) -> Option<OwnReply> {
    let at = parse_time(r.company_reply.as_ref()?.created_at.as_deref()?)?;
    let account = r
        .business_unit
        .as_ref()
        .and_then(|b| b.display_name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(unit_id)
        .to_string();
    Some(OwnReply {
        parent: r.id.clone(),
        account,
        at,
    })
}

/// A review as a mention: its title as the title, its stars as the rating.
fn review_mention(r: Review, at: DateTime<Utc>, raw: serde_json::Value) -> Option<Mention> {
    Mention {
        url: Some(format!("https://www.trustpilot.com/reviews/{}", r.id)),
        external_id: r.id,
        title: r.title,
        text: r.text.unwrap_or_default(),
        author_name: r.consumer.and_then(|c| c.display_name),
        lang: r.language.filter(|l| !l.is_empty()),
        engagement: Engagement {
            likes: r.number_of_likes,
            ..Default::default()
        },
        created_at: at,
        raw,
        ..Default::default()
    }
    .into_review(Some(r.stars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, ctx, ids, json_status};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};

    const UNIT: &str = "5f3a1c2b9d8e7f6a5b4c3d2e";
    /// The key the fake's table (`fixtures/trustpilot/routes.toml`) requires.
    const KEY: &str = "tp-live-key-7Qm2x9Zr";

    fn source(base: &str, extra: serde_json::Value) -> (TrustpilotSource, tempfile::NamedTempFile) {
        let file = testing::secret_file(KEY);
        let settings = testing::with_settings(
            serde_json::json!({
                "business_unit_id": UNIT, "base_url": base, "per_page": 3,
                "api_key_file": file.path().to_str().unwrap()
            }),
            extra,
        );
        let config = testing::source_config("trustpilot", "trustpilot", settings);
        let src = testing::built(&config);
        (src, file)
    }

    #[test]
    fn a_company_reply_answers_its_review_by_the_business_name_or_its_id() {
        let review = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "id": "6742c9e10b5e3c0f9a7d0b17", "stars": 2, "text": "Wacht al uren",
                "createdAt": "2026-11-23T21:40:02Z"
            });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<Review>(v).unwrap()
        };
        let named = review(serde_json::json!({
            "businessUnit": { "displayName": "Fjordlink" },
            "companyReply": { "text": "Sorry!", "createdAt": "2026-11-24T09:15:31Z" }
        }));
        let reply = company_reply(&named, UNIT).unwrap();
        assert_eq!(reply.parent, "6742c9e10b5e3c0f9a7d0b17");
        assert_eq!(reply.account, "Fjordlink");
        assert_eq!(reply.at, parse_time("2026-11-24T09:15:31Z").unwrap());
        // Without the business unit's name the id stands in; older answers carry no zone.
        let bare = review(serde_json::json!({
            "companyReply": { "text": "Sorry!", "createdAt": "2026-11-24T09:15:31" }
        }));
        assert_eq!(company_reply(&bare, UNIT).unwrap().account, UNIT);
        assert!(
            company_reply(&review(serde_json::json!({ "companyReply": null })), UNIT).is_none()
        );
        assert!(company_reply(&review(serde_json::json!({})), UNIT).is_none());
    }

    /// How many requests for page `page` the fake received.
    async fn page_requests(server: &MockServer, page: &str) -> usize {
        let requests = server.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.url.query_pairs().any(|(k, v)| k == "page" && v == page))
            .count()
    }

    #[tokio::test]
    async fn pages_of_reviews_become_mentions_with_stars_and_a_second_poll_reads_nothing() {
        let server = MockServer::start().await;
        fake::mount(&server, "trustpilot", "main").await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            [
                "6744a1f20b5e3c0f9a7d2e01",
                "6743f0aa0b5e3c0f9a7d1c55",
                "6742c9e10b5e3c0f9a7d0b17",
                "673fd2280b5e3c0f9a7cf9e2"
            ]
        );
        let first = &batch.mentions[0];
        assert_eq!(first.rating, Some(1));
        assert_eq!(first.title.as_deref(), Some("Al drie dagen geen internet"));
        assert_eq!(first.author_name.as_deref(), Some("Jeroen V."));
        assert_eq!(first.lang.as_deref(), Some("nl"));
        assert_eq!(
            first.url.as_deref(),
            Some("https://www.trustpilot.com/reviews/6744a1f20b5e3c0f9a7d2e01")
        );
        assert_eq!(
            first.created_at,
            DateTime::parse_from_rfc3339("2026-11-25T08:12:44Z").unwrap()
        );
        assert_eq!(batch.mentions[1].rating, Some(5));
        assert_eq!(batch.mentions[1].engagement.likes, Some(2));
        // The business's answer is kept with the review.
        assert!(batch.mentions[2].raw["companyReply"]["text"].is_string());
        let again = src.poll(&ctx(batch.cursor.as_deref())).await.unwrap();
        assert!(again.mentions.is_empty(), "{:?}", ids(&again));
        // Newest first: the second poll stops on page 1 at the review it already has.
        assert_eq!(page_requests(&server, "1").await, 2);
        assert_eq!(page_requests(&server, "2").await, 1);
    }

    #[tokio::test]
    async fn a_review_in_the_same_second_as_the_newest_read_is_still_read() {
        let server = MockServer::start().await;
        fake::mount(&server, "trustpilot", "main").await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let cursor = serde_json::json!({
            "newest": "2026-11-24T19:03:10Z",
            "at_newest": ["6743f0aa0b5e3c0f9a7d1c55"]
        })
        .to_string();
        let batch = src.poll(&ctx(Some(&cursor))).await.unwrap();
        assert_eq!(ids(&batch), ["6744a1f20b5e3c0f9a7d2e01"]);
        assert_eq!(page_requests(&server, "2").await, 0);
    }

    #[tokio::test]
    async fn a_read_cut_short_by_max_pages_goes_on_where_it_stopped() {
        let server = MockServer::start().await;
        fake::mount(&server, "trustpilot", "main").await;
        let (src, _key) = source(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        testing::goes_on_where_it_stopped(&src, 3, &["673fd2280b5e3c0f9a7cf9e2"]).await;
    }

    #[tokio::test]
    async fn a_refused_key_names_the_credential_keys() {
        let server = testing::serving([
            Mock::given(method("GET"))
                .respond_with(json_status(
                    401,
                    r#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
                )),
        ]).await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("api_key_env/api_key_file") && !m.contains(KEY)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_unknown_business_unit_names_the_key_to_check() {
        let server = testing::serving([Mock::given(method("GET")).respond_with(json_status(
            404,
            r#"{"message":"Business unit not found","errorCode":0}"#,
        ))])
        .await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("check business_unit_id") && m.contains("Business unit not found")),
            "{err:?}"
        );
    }

    #[test]
    fn config_problems_name_their_keys() {
        let cfg = testing::source_config(
            "trustpilot",
            "trustpilot",
            serde_json::json!({
                "business_unit_id": "fjordlink.nl", "per_page": 101, "languages": ["dut"]
            }),
        );
        assert_eq!(
            testing::problem_keys(&cfg),
            ["business_unit_id", "per_page", "languages", "api_key_env"]
        );
    }
}
