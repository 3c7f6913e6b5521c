//! Google Play reviews of the brand's Android app, through the Play Developer API
//! (`GET /androidpublisher/v3/applications/{packageName}/reviews`) with a service account.
//!
//! Play serves only reviews created or changed in the last seven days, most recently changed
//! first, `maxResults` at a time with `tokenPagination.nextPageToken` for the next page. The
//! cursor keeps the `lastModified` time of the newest review read (and the ids read at that
//! time); a poll reads pages until it reaches it, and goes on with the stored page token on the
//! next poll when `max_pages` stops it first. The developer's reply (`developerComment`)
//! marks the review answered, by the package name: Play names neither the app nor who wrote it.

use crate::sources::checks::Check;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::google_oauth::{GoogleAuth, Grant, ServiceAccount, api_error_message};
use super::http::{Client, Fetched};
use super::newest_first::Walk;
use super::{Batch, Engagement, Mention, OwnReply, PollContext, Source, SourceError, SourceKind};
use crate::config::SourceConfig;

/// The OAuth scope the Play Developer API needs.
const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
/// Play's quota for review reads: GET requests per hour per app.
const HOURLY_QUOTA: u64 = 200;
/// The credential keys, for error messages.
const KEYS: &str = "service_account_env/service_account_file";

/// Keys of a `google_play` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GooglePlaySettings {
    /// The app's package name, e.g. `nl.fjordlink.mijn`.
    pub package_name: String,
    /// API host; the real one unless testing.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Token endpoint; the key file's `token_uri` (Google's) unless testing.
    pub token_url: Option<String>,
    /// Reviews per page, 1 to 100.
    #[serde(default = "default_max_results")]
    pub max_results: u32,
    /// Pages read per poll.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Ask Play to translate reviews into this language (e.g. `nl`); the original is kept
    /// in the raw payload.
    pub translation_language: Option<String>,
}

fn default_base_url() -> String {
    "https://androidpublisher.googleapis.com".into()
}
fn default_max_results() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    3
}

/// What the source remembers between polls.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct PlayCursor {
    /// How far reviews were read, by `lastModified`, and where an unfinished read goes on.
    #[serde(flatten)]
    walk: Walk<String>,
    /// When the last poll read the list, to tell when an outage outlasted Play's 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_read: Option<DateTime<Utc>>,
}

/// Reviews of one Android app on Google Play.
pub struct GooglePlaySource {
    settings: GooglePlaySettings,
    auth: GoogleAuth,
    interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewsListResponse {
    #[serde(default)]
    reviews: Vec<serde_json::Value>,
    token_pagination: Option<TokenPagination>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPagination {
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    review_id: String,
    author_name: Option<String>,
    #[serde(default)]
    comments: Vec<Comment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    user_comment: Option<UserComment>,
    developer_comment: Option<DeveloperComment>,
}

/// The developer's public reply to a review.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeveloperComment {
    last_modified: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserComment {
    #[serde(default)]
    text: String,
    last_modified: Timestamp,
    star_rating: Option<u8>,
    reviewer_language: Option<String>,
    thumbs_up_count: Option<i64>,
}

/// Protobuf `Timestamp` as JSON: `seconds` is an int64, which Google sends as a string.
#[derive(Debug, Deserialize)]
struct Timestamp {
    seconds: serde_json::Value,
}

impl Timestamp {
    fn time(&self) -> Option<DateTime<Utc>> {
        let secs = match &self.seconds {
            serde_json::Value::String(s) => s.parse::<i64>().ok()?,
            v => v.as_i64()?,
        };
        DateTime::from_timestamp(secs, 0)
    }
}

impl SourceKind for GooglePlaySource {
    const KIND: &'static str = "google_play";
    const RATED: bool = true;
    /// The service account's JSON key: `service_account_env` or `service_account_file`.
    const SECRETS: &'static [&'static str] = &["service_account"];
    type Settings = GooglePlaySettings;
    type Checked = ServiceAccount;

    fn check(s: &GooglePlaySettings, cx: &mut Check<'_>) -> Option<ServiceAccount> {
        let package_ok = s.package_name.split('.').count() >= 2
            && s.package_name.split('.').all(|part| {
                part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !package_ok {
            cx.problem("package_name", format!(
                    "\"{}\" is not an Android package name; use the id after \"?id=\" in the app's Play Store link (play.google.com/store/apps/details?id=nl.fjordlink.mijn)",
                    s.package_name
                ),
            );
        }
        cx.in_range("max_results", s.max_results, 1..=100, "Play serves");
        cx.at_least_one("max_pages", s.max_pages);
        cx.http_urls(&[
            ("base_url", Some(&s.base_url)),
            ("token_url", s.token_url.as_deref()),
        ]);
        let key = cx.secret("service_account", true)?;
        let key_name = cx.secret_key("service_account");
        let path = cx.path;
        ServiceAccount::parse(&key, path, &key_name, cx.errors())
    }

    fn build(
        settings: GooglePlaySettings,
        account: ServiceAccount,
        source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<GooglePlaySource> {
        Ok(GooglePlaySource {
            auth: GoogleAuth::new(
                Grant::ServiceAccount {
                    account,
                    scope: SCOPE,
                },
                settings.token_url.as_deref(),
                client,
                "google_play",
                KEYS,
            ),
            settings,
            interval: source.interval,
        })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, _secret_file: &str) -> serde_json::Value {
        // The token endpoint is the conformance server too, so every failure reaches the
        // sign-in first.
        serde_json::json!({
            "package_name": "nl.fjordlink.mijn", "base_url": base,
            "token_url": format!("{base}/token"),
            "service_account_file": format!(
                "{}/fixtures/google/test-service-account.json",
                env!("CARGO_MANIFEST_DIR")
            )
        })
    }
}

impl GooglePlaySource {
    /// One page of reviews; a token refused with 401 is renewed once.
    async fn page(&self, token: Option<&str>) -> Result<ReviewsListResponse, SourceError> {
        let url = format!(
            "{}/androidpublisher/v3/applications/{}/reviews",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.package_name
        );
        let mut query = vec![("maxResults", self.settings.max_results.to_string())];
        if let Some(t) = token {
            query.push(("token", t.to_string()));
        }
        if let Some(l) = &self.settings.translation_language {
            query.push(("translationLanguage", l.clone()));
        }
        let resp = self.auth.get(&url, &query).await?;
        match resp.status {
            200 => resp.json(),
            _ => Err(self.refused(&resp)),
        }
    }

    fn refused(&self, resp: &Fetched) -> SourceError {
        let why = api_error_message(&resp.body);
        match resp.status {
            401 | 403 => SourceError::Auth(format!(
                "google_play: access to the reviews of {} refused ({}{why}); invite the service account in Play Console (Users and permissions) with \"Reply to reviews\" and check {KEYS}",
                self.settings.package_name, resp.status
            )),
            404 => SourceError::Auth(format!(
                "google_play: no app {} in this developer account (404{why}); check package_name",
                self.settings.package_name
            )),
            _ => resp.unexpected_status(),
        }
    }

    /// Review reads per hour at the configured interval.
    fn calls_per_hour(&self) -> u64 {
        let per_poll = u64::from(self.settings.max_pages);
        let polls = 3600 / self.interval.as_secs().max(1);
        per_poll * polls.max(1)
    }
}

#[async_trait]
impl Source for GooglePlaySource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let now = Utc::now();
        let mut cur: PlayCursor = ctx.stored_cursor();
        // Play serves only the last seven days: after a longer outage, reviews changed between
        // the last poll and a week ago cannot be read any more; tell the operator.
        let play_window = now - chrono::Duration::days(7);
        if let Some(last) = cur.last_read.filter(|l| *l < play_window) {
            tracing::warn!(
                package = %self.settings.package_name,
                from = %last.to_rfc3339(),
                to = %play_window.to_rfc3339(),
                "google_play: reviews changed in this window are past Play's 7-day API window and were not read"
            );
        }
        let mut read = cur.walk.read(ctx.backfill_start(now));
        while read.wants_page(self.settings.max_pages) {
            let token = read.next().cloned();
            let page = match self.page(token.as_deref()).await {
                Ok(p) => p,
                Err(e) if read.restart_after(&e) => {
                    tracing::warn!(
                        package = %self.settings.package_name,
                        "google_play: the stored page token was refused; reading from the first page"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            let dated = page.reviews.into_iter().filter_map(|raw| {
                let r = serde_json::from_value::<Review>(raw.clone()).ok()?;
                let user = r.comments.iter().find_map(|c| c.user_comment.as_ref())?;
                let at = user.last_modified.time()?;
                Some((at, r.review_id.clone(), (r, at, raw)))
            });
            let next = page
                .token_pagination
                .and_then(|p| p.next_page_token)
                .filter(|t| !t.is_empty());
            read.add(dated, next);
        }
        let (reviews, more) = read.finish(&mut cur.walk);
        cur.last_read = Some(now);
        let mut batch = Batch {
            more,
            cursor: Some(serde_json::to_string(&cur).unwrap_or_default()),
            ..Batch::default()
        };
        for (r, at, raw) in reviews {
            // The newest developer reply counts: Play keeps one, `lastModified` when edited.
            let replied = r
                .comments
                .iter()
                .filter_map(|c| c.developer_comment.as_ref()?.last_modified.as_ref()?.time())
                .max();
            batch.own_replies.extend(replied.map(|at| OwnReply {
                parent: r.review_id.clone(),
                account: self.settings.package_name.clone(),
                at,
            }));
            batch
                .mentions
                .extend(review_mention(&r, at, &self.settings.package_name, raw));
        }
        Ok(batch)
    }

    fn describe(&self) -> Vec<String> {
        let calls = self.calls_per_hour();
        let mut lines = vec![
            self.auth.describe(),
            format!(
                "reads reviews of {} created or changed in the last 7 days (all Play keeps): up to {} pages of {} per poll, at most {calls} calls per hour of Play's {HOURLY_QUOTA}",
                self.settings.package_name, self.settings.max_pages, self.settings.max_results
            ),
        ];
        if calls > HOURLY_QUOTA {
            lines.push(format!(
                "warning: {calls} calls per hour would exceed Play's quota of {HOURLY_QUOTA}; raise interval or lower max_pages"
            ));
        }
        lines
    }
}

/// A review as a mention. Play joins a title and a body with a tab; they are split again.
fn review_mention(
    r: &Review,
    at: DateTime<Utc>,
    package: &str,
    raw: serde_json::Value,
) -> Option<Mention> {
    let user = r.comments.iter().find_map(|c| c.user_comment.as_ref())?;
    let (title, text) = match user.text.split_once('\t') {
        Some((t, b)) => (Some(t.to_string()), b),
        None => (None, user.text.as_str()),
    };
    Mention {
        external_id: r.review_id.clone(),
        url: Some(format!(
            "https://play.google.com/store/apps/details?id={package}&reviewId={}",
            r.review_id
        )),
        title,
        text: text.to_string(),
        author_name: r.author_name.clone(),
        // Play reports languages as `nl`, `nl_NL` or `nl-NL`.
        lang: user
            .reviewer_language
            .as_deref()
            .and_then(|l| l.split(['_', '-']).next())
            .filter(|l| l.len() == 2)
            .map(str::to_ascii_lowercase),
        engagement: Engagement {
            likes: user.thumbs_up_count,
            ..Default::default()
        },
        created_at: at,
        raw,
        ..Default::default()
    }
    .into_review(user.star_rating)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake;
    use crate::sources::google_oauth::tests::key_file_text;
    use crate::sources::testing::{self, ctx, ids, json_status};
    use wiremock::matchers::{method, query_param};
    use wiremock::{Mock, MockServer};

    const PACKAGE: &str = "nl.fjordlink.mijn";
    /// The access token the fake's table (`fixtures/google_play/routes.toml`) requires.
    const ACCESS: &str = "ya29.c.fake-play-access-Wq81";

    fn source(base: &str, extra: serde_json::Value) -> (GooglePlaySource, tempfile::NamedTempFile) {
        let file = testing::secret_file(&key_file_text());
        let settings = testing::with_settings(
            serde_json::json!({
                "package_name": PACKAGE, "base_url": base, "token_url": format!("{base}/token"),
                "max_results": 2, "service_account_file": file.path().to_str().unwrap()
            }),
            extra,
        );
        let config = testing::source_config("play", "google_play", settings);
        let src = testing::built(&config);
        (src, file)
    }

    #[tokio::test]
    async fn reviews_over_two_pages_become_mentions_and_a_second_poll_reads_nothing() {
        let server = MockServer::start().await;
        fake::mount_google_token(&server, SCOPE, ACCESS, Some(1)).await;
        fake::mount(&server, "google_play", "main").await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let batch = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(
            ids(&batch),
            [
                "gp:AOqpTOE4hX0nZsK1cOSPz2vJ8w_fjordlink01",
                "gp:AOqpTOGm3vQ7tLkYpR8sW2dF1n_fjordlink02",
                "gp:AOqpTOHb5cT9uMjXqN6rV4eG2o_fjordlink03"
            ]
        );
        let first = &batch.mentions[0];
        assert_eq!(first.rating, Some(1));
        assert_eq!(first.title.as_deref(), Some("Storing melden crasht"));
        assert!(first.text.starts_with("Elke keer als ik"), "{}", first.text);
        assert_eq!(first.lang.as_deref(), Some("nl"));
        assert_eq!(first.author_name.as_deref(), Some("Pieter Jansen"));
        assert_eq!(first.created_at.timestamp(), 1_795_601_422);
        assert_eq!(
            first.url.as_deref(),
            Some(
                "https://play.google.com/store/apps/details?id=nl.fjordlink.mijn&reviewId=gp:AOqpTOE4hX0nZsK1cOSPz2vJ8w_fjordlink01"
            )
        );
        let second = &batch.mentions[1];
        assert_eq!(second.rating, Some(4));
        assert_eq!(second.title, None);
        assert_eq!(second.engagement.likes, Some(3));
        // The developer's reply is kept with the review.
        assert!(batch.mentions[2].raw["comments"][1]["developerComment"]["text"].is_string());
        let again = src.poll(&ctx(batch.cursor.as_deref())).await.unwrap();
        assert!(again.mentions.is_empty(), "{:?}", ids(&again));
    }

    #[tokio::test]
    async fn a_read_cut_short_goes_on_with_the_page_token_and_a_refused_token_restarts() {
        let server = MockServer::start().await;
        fake::mount_google_token(&server, SCOPE, ACCESS, Some(1)).await;
        fake::mount(&server, "google_play", "main").await;
        let (src, _key) = source(&server.uri(), serde_json::json!({ "max_pages": 1 }));
        let first = src.poll(&ctx(None)).await.unwrap();
        assert_eq!(first.mentions.len(), 2);
        assert!(first.more);
        let second = src.poll(&ctx(first.cursor.as_deref())).await.unwrap();
        assert_eq!(ids(&second), ["gp:AOqpTOHb5cT9uMjXqN6rV4eG2o_fjordlink03"]);
        assert!(!second.more);

        // A token Play no longer accepts: the poll reads from the first page instead.
        let stale = serde_json::json!({ "run": { "next": "Cg0IARIJstale" } }).to_string();
        Mock::given(method("GET"))
            .and(query_param("token", "Cg0IARIJstale"))
            .respond_with(json_status(
                400,
                r#"{"error":{"code":400,"message":"Invalid pagination token.","status":"INVALID_ARGUMENT"}}"#,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let third = src.poll(&ctx(Some(&stale))).await.unwrap();
        assert_eq!(third.mentions.len(), 2, "{:?}", ids(&third));
    }

    #[tokio::test]
    async fn an_expired_token_is_renewed_once() {
        let server = MockServer::start().await;
        fake::mount_google_token(&server, SCOPE, ACCESS, Some(2)).await;
        Mock::given(method("GET"))
            .respond_with(json_status(
                401,
                r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
            ))
            .expect(2)
            .mount(&server)
            .await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("UNAUTHENTICATED") && m.contains(KEYS)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_service_account_without_access_is_told_where_to_grant_it() {
        let server = MockServer::start().await;
        fake::mount_google_token(&server, SCOPE, ACCESS, Some(1)).await;
        Mock::given(method("GET"))
            .respond_with(json_status(
                403,
                r#"{"error":{"code":403,"message":"The current user has insufficient permissions to perform the requested operation.","errors":[{"message":"The current user has insufficient permissions to perform the requested operation.","domain":"androidpublisher","reason":"permissionDenied"}],"status":"PERMISSION_DENIED"}}"#,
            ))
            .mount(&server)
            .await;
        let (src, _key) = source(&server.uri(), serde_json::json!({}));
        let err = src.poll(&ctx(None)).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("PERMISSION_DENIED") && m.contains("Play Console")),
            "{err:?}"
        );
    }

    #[test]
    fn check_config_warns_when_the_interval_would_spend_more_than_the_hourly_quota() {
        let (mut src, _key) = source("http://127.0.0.1:9", serde_json::json!({"max_pages": 5}));
        src.interval = Duration::from_secs(60);
        let lines = src.describe();
        assert!(
            lines[0].contains("webcare-reviews@fjordlink-webcare-test.iam.gserviceaccount.com"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("300 calls per hour would exceed")),
            "{lines:?}"
        );
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(
            testing::problem_keys_of(
                "google_play",
                serde_json::json!({ "package_name": "Mijn Fjordlink", "max_results": 500 })
            ),
            ["package_name", "max_results", "service_account_env"]
        );
    }
}
