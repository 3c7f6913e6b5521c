//! Google Business Profile reviews of the brand's own locations, through the My Business API
//! (`GET /v4/accounts/{accountId}/locations/{locationId}/reviews`) with the owner's OAuth
//! refresh token.
//!
//! Reviews are read most recently updated first (`orderBy=updateTime desc`), `pageSize` at a
//! time with `nextPageToken` for the next page. The cursor keeps, per location, the
//! `updateTime` of the newest review read (and the ids read at that time); a poll reads pages
//! until it reaches it, and goes on with the stored page token on the next poll when
//! `max_pages` stops it first. Stars come as words (`ONE` … `FIVE`); the owner's answer
//! (`reviewReply`) marks the review answered, by "owner of location {id}": the reviews API
//! names neither the business nor the manager who wrote it.

use crate::sources::checks::Check;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::google_oauth::{GoogleAuth, Grant, api_error_message};
use super::http::{Client, Fetched};
use super::newest_first::Walk;
use super::{Batch, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;
use crate::secret::Secret;

/// The credential keys, for error messages.
const KEYS: &str =
    "client_id, client_secret_env/client_secret_file and refresh_token_env/refresh_token_file";

/// Keys of a `google_business` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleBusinessSettings {
    /// The Business Profile account's numeric id (`accounts/{id}`).
    pub account_id: String,
    /// Numeric ids of the locations whose reviews to read (`locations/{id}`).
    pub location_ids: Vec<String>,
    /// The OAuth client's id (Google Cloud console → Credentials).
    pub client_id: String,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Token endpoint; Google's unless testing.
    pub token_url: Option<String>,
    /// Reviews per page, 1 to 50.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Pages read per location per poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

fn default_base_url() -> String {
    "https://mybusiness.googleapis.com".into()
}
fn default_page_size() -> u32 {
    50
}
fn default_max_pages() -> u32 {
    3
}

/// What the source remembers between polls: per location id, how far its reviews were read
/// (by `updateTime`) and where an unfinished read goes on.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct BusinessCursor {
    #[serde(default)]
    locations: BTreeMap<String, Walk<String>>,
}

/// Reviews of one or more Business Profile locations.
pub struct GoogleBusinessSource {
    settings: GoogleBusinessSettings,
    auth: GoogleAuth,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListReviewsResponse {
    #[serde(default)]
    reviews: Vec<serde_json::Value>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    review_id: String,
    reviewer: Option<Reviewer>,
    star_rating: Option<String>,
    comment: Option<String>,
    create_time: String,
    update_time: String,
    review_reply: Option<ReviewReply>,
}

/// The owner's public answer to a review.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewReply {
    update_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    display_name: Option<String>,
    #[serde(default)]
    is_anonymous: bool,
}

/// The star rating enum's words as numbers; `STAR_RATING_UNSPECIFIED` has none.
fn stars(word: &str) -> Option<u8> {
    match word {
        "ONE" => Some(1),
        "TWO" => Some(2),
        "THREE" => Some(3),
        "FOUR" => Some(4),
        "FIVE" => Some(5),
        _ => None,
    }
}

fn is_numeric_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl SourceKind for GoogleBusinessSource {
    const KIND: &'static str = "google_business";
    const RATED: bool = true;
    /// The OAuth client's secret and the owner's refresh token, each `<key>_env` or `<key>_file`.
    const SECRETS: &'static [&'static str] = &["client_secret", "refresh_token"];
    type Settings = GoogleBusinessSettings;
    type Checked = (Secret, Secret);

    fn check(s: &GoogleBusinessSettings, cx: &mut Check<'_>) -> Option<(Secret, Secret)> {
        if !is_numeric_id(&s.account_id) {
            cx.problem("account_id", format!(
                    "\"{}\" is not a Business Profile account id; use the digits of accounts/{{id}} (GET https://mybusinessaccountmanagement.googleapis.com/v1/accounts)",
                    s.account_id
                ),
            );
        }
        if s.location_ids.is_empty() {
            cx.problem(
                "location_ids",
                "name at least one location id, e.g. [\"1234567890123456789\"]",
            );
        }
        for l in &s.location_ids {
            if !is_numeric_id(l) {
                cx.problem("location_ids", format!(
                        "\"{l}\" is not a location id; use the digits of locations/{{id}} (GET https://mybusinessbusinessinformation.googleapis.com/v1/accounts/{{account}}/locations?readMask=name,title)"
                    ),
                );
            }
        }
        if s.client_id.trim().is_empty() {
            cx.problem("client_id", "the OAuth client id is required (Google Cloud console → APIs & Services → Credentials)",
            );
        }
        cx.in_range("page_size", s.page_size, 1..=50, "Google serves");
        cx.at_least_one("max_pages", s.max_pages);
        cx.http_urls(&[
            ("base_url", Some(&s.base_url)),
            ("token_url", s.token_url.as_deref()),
        ]);
        let secret = cx.secret("client_secret", true);
        let refresh = cx.secret("refresh_token", true);
        secret.zip(refresh)
    }

    fn build(
        settings: GoogleBusinessSettings,
        (client_secret, refresh_token): (Secret, Secret),
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<GoogleBusinessSource> {
        Ok(GoogleBusinessSource {
            auth: GoogleAuth::new(
                Grant::RefreshToken {
                    client_id: settings.client_id.clone(),
                    client_secret,
                    refresh_token,
                },
                settings.token_url.as_deref(),
                client,
                "google_business",
                KEYS,
            ),
            settings,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, secret_file: &str) -> serde_json::Value {
        serde_json::json!({
            "account_id": "109876543210987654321", "location_ids": ["4567890123456789012"],
            "base_url": base, "token_url": format!("{base}/token"),
            "client_id": "123456789012-webcare.apps.googleusercontent.com",
            "client_secret_file": secret_file, "refresh_token_file": secret_file
        })
    }
}

impl GoogleBusinessSource {
    /// One page of a location's reviews; a token refused with 401 is renewed once.
    async fn page(
        &self,
        location: &str,
        token: Option<&str>,
    ) -> Result<ListReviewsResponse, SourceError> {
        let url = format!(
            "{}/v4/accounts/{}/locations/{location}/reviews",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.account_id
        );
        let mut query = vec![
            ("pageSize", self.settings.page_size.to_string()),
            ("orderBy", "updateTime desc".to_string()),
        ];
        if let Some(t) = token {
            query.push(("pageToken", t.to_string()));
        }
        let resp = self.auth.get(&url, &query).await?;
        match resp.status {
            200 => resp.json(),
            _ => Err(self.refused(&resp, location)),
        }
    }

    fn refused(&self, resp: &Fetched, location: &str) -> SourceError {
        let why = api_error_message(&resp.body);
        match resp.status {
            401 | 403 => SourceError::Auth(format!(
                "google_business: access to the reviews of location {location} refused ({}{why}); the refresh token must belong to an owner or manager of the profile and the project needs Business Profile API access; check {KEYS}",
                resp.status
            )),
            404 => SourceError::Auth(format!(
                "google_business: no location {location} in account {} (404{why}); check account_id and location_ids",
                self.settings.account_id
            )),
            _ => resp.unexpected_status(),
        }
    }
}

/// Parses the API's RFC 3339 times (`2026-11-25T09:12:44.512Z`).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[async_trait]
impl Source for GoogleBusinessSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let mut cur: BusinessCursor = ctx.stored_cursor();
        let backfill_start = ctx.backfill_start(Utc::now());
        let mut batch = Batch::default();
        for location in &self.settings.location_ids {
            let mut walk = cur.locations.remove(location).unwrap_or_default();
            let mut read = walk.read(backfill_start);
            while read.wants_page(self.settings.max_pages) {
                let token = read.next().cloned();
                let page = match self.page(location, token.as_deref()).await {
                    Ok(p) => p,
                    Err(e) if read.restart_after(&e) => {
                        tracing::warn!(
                            location = %location,
                            "google_business: the stored page token was refused; reading from the first page"
                        );
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let dated = page.reviews.into_iter().filter_map(|raw| {
                    let r = serde_json::from_value::<Review>(raw.clone()).ok()?;
                    let updated = parse_time(&r.update_time)?;
                    Some((updated, r.review_id.clone(), (r, raw)))
                });
                read.add(dated, page.next_page_token.filter(|t| !t.is_empty()));
            }
            let (reviews, more) = read.finish(&mut walk);
            batch.more |= more;
            cur.locations.insert(location.clone(), walk);
            for (r, raw) in reviews {
                let replied = r
                    .review_reply
                    .as_ref()
                    .and_then(|reply| parse_time(reply.update_time.as_deref()?));
                batch.own_replies.extend(replied.map(|at| OwnReply {
                    parent: r.review_id.clone(),
                    account: format!("owner of location {location}"),
                    at,
                }));
                batch.mentions.extend(review_mention(r, location, raw));
            }
        }
        // Locations no longer configured are forgotten.
        cur.locations
            .retain(|l, _| self.settings.location_ids.contains(l));
        batch.cursor = Some(serde_json::to_string(&cur).unwrap_or_default());
        Ok(batch)
    }

    fn describe(&self) -> Vec<String> {
        vec![
            self.auth.describe(),
            format!(
                "reads reviews of {} location(s) of account {}: up to {} pages of {} per location per poll",
                self.settings.location_ids.len(),
                self.settings.account_id,
                self.settings.max_pages,
                self.settings.page_size
            ),
        ]
    }
}

/// A review as a mention, its star word as the rating. A rating without words has nothing to
/// read or answer in an alert, so it is left out, as the other review sources do.
fn review_mention(r: Review, location: &str, raw: serde_json::Value) -> Option<Mention> {
    let stars = r.star_rating.as_deref().and_then(stars);
    let created_at = parse_time(&r.create_time)?;
    let text = r.comment.unwrap_or_default();
    // Google appends "(Translated by Google)" and "(Original)" blocks to non-English reviews
    // for some callers; the original comes last and is what the reviewer wrote.
    let text = match text.split_once("(Original)") {
        Some((_, original)) => original.to_string(),
        None => text,
    };
    let mut raw = raw;
    if let Some(o) = raw.as_object_mut() {
        o.insert("locationId".into(), location.into());
    }
    Mention {
        external_id: r.review_id,
        // The API gives no link to a single review; answers are written in the profile.
        url: None,
        author_name: r
            .reviewer
            .filter(|p| !p.is_anonymous)
            .and_then(|p| p.display_name),
        text,
        created_at,
        raw,
        ..Default::default()
    }
    .into_review(stars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::testing::{self, ctx, ids, json, json_status};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};

    const ACCOUNT: &str = "109876543210987654321";
    const LOCATION: &str = "4567890123456789012";
    // The credentials the fake's table (`fixtures/google_business/routes.toml`) accepts.
    const ACCESS: &str = "ya29.a0-fake-gbp-access";
    const REFRESH: &str = "1//09fake-gbp-refresh-token";
    const CLIENT_SECRET: &str = "GOCSPX-fake-gbp-client-secret";

    fn source(
        base: &str,
        extra: serde_json::Value,
    ) -> (GoogleBusinessSource, [tempfile::NamedTempFile; 2]) {
        let secret = testing::secret_file(CLIENT_SECRET);
        let refresh = testing::secret_file(REFRESH);
        let settings = testing::with_settings(
            serde_json::json!({
                "account_id": ACCOUNT, "location_ids": [LOCATION], "base_url": base,
                "token_url": format!("{base}/token"), "page_size": 2,
                "client_id": "123456789012-webcare.apps.googleusercontent.com",
                "client_secret_file": secret.path().to_str().unwrap(),
                "refresh_token_file": refresh.path().to_str().unwrap()
            }),
            extra,
        );
        let config = testing::source_config("gbp", "google_business", settings);
        let src = testing::built(&config);
        (src, [secret, refresh])
    }

    #[tokio::test]
    async fn reviews_over_two_pages_become_mentions_with_star_words_as_numbers() {
        let server = MockServer::start().await;
        fake::mount(&server, "google_business", "main").await;
        let (src, _files) = source(&server.uri(), serde_json::json!({}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            [
                "AbFvOqnB3kP0fjordlinkRev01",
                "AbFvOqkX8mQ2fjordlinkRev02",
                "AbFvOqm7tW5rfjordlinkRev03"
            ]
        );
        let ratings: Vec<Option<u8>> = batch.mentions.iter().map(|m| m.rating).collect();
        assert_eq!(ratings, [Some(1), Some(5), Some(2)]);
        let first = &batch.mentions[0];
        assert_eq!(first.author_name.as_deref(), Some("Karin de Wit"));
        assert!(first.text.starts_with("Winkel in Zwolle"), "{}", first.text);
        assert_eq!(
            first.created_at,
            DateTime::parse_from_rfc3339("2026-11-25T07:58:31.402Z").unwrap()
        );
        // An anonymous reviewer has no name; Google's translation is dropped for the original.
        assert_eq!(batch.mentions[1].author_name, None);
        assert_eq!(
            batch.mentions[1].text,
            "Venligt personale, den nye router var sat op på ti minutter."
        );
        // The owner's reply is kept with the review.
        assert!(batch.mentions[2].raw["reviewReply"]["comment"].is_string());
        let again = src.poll(&ctx(batch.cursor.as_deref())).await.unwrap();
        assert!(again.mentions.is_empty(), "{:?}", ids(&again));
        // The access token outlives both polls: it was asked for once.
        let requests = server.received_requests().await.unwrap();
        assert_eq!(
            requests.iter().filter(|r| r.url.path() == "/token").count(),
            1
        );
    }

    #[tokio::test]
    async fn a_read_cut_short_goes_on_with_the_page_token() {
        let server = MockServer::start().await;
        fake::mount(&server, "google_business", "main").await;
        let (src, _files) = source(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        testing::goes_on_where_it_stopped(&src, 2, &["AbFvOqm7tW5rfjordlinkRev03"]).await;
    }

    #[tokio::test]
    async fn a_revoked_refresh_token_names_the_credential_keys_without_showing_them() {
        let server = testing::serving([Mock::given(method("POST")).respond_with(json_status(
            400,
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        ))])
        .await;
        let (src, _files) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, SourceError::Auth(_))
                && text.contains("Token has been expired or revoked.")
                && text.contains("refresh_token_env/refresh_token_file"),
            "{err:?}"
        );
        assert!(
            !text.contains(REFRESH) && !text.contains(CLIENT_SECRET),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unknown_location_names_the_keys_to_check() {
        let server = testing::serving([
            Mock::given(method("POST"))
                .respond_with(json(&format!(
                    r#"{{"access_token":"{ACCESS}","expires_in":3599}}"#
                ))),
            Mock::given(method("GET"))
                .respond_with(json_status(
                    404,
                    r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#,
                )),
        ]).await;
        let (src, _files) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("NOT_FOUND") && m.contains("check account_id and location_ids")),
            "{err:?}"
        );
    }

    #[test]
    fn star_words_map_to_numbers_and_unspecified_to_none() {
        assert_eq!(stars("ONE"), Some(1));
        assert_eq!(stars("FIVE"), Some(5));
        assert_eq!(stars("STAR_RATING_UNSPECIFIED"), None);
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys_of(
                "google_business",
                serde_json::json!({
                    "account_id": "accounts/1098", "location_ids": ["locations/45"],
                    "client_id": "", "page_size": 100
                })
            ),
            [
                "account_id",
                "location_ids",
                "client_id",
                "page_size",
                "client_secret_env",
                "refresh_token_env"
            ]
        );
    }
}
