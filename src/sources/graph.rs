//! Meta's Graph API, as the Facebook and Instagram sources use it: requests with the token in
//! a header (never in a URL), paging by `after` cursor or by the `paging.next` link, usage
//! headers that slow a source down before Meta cuts it off, and Meta's error codes turned into
//! what the poll should do (wait, ask for a new token, or report the status). Threads speaks
//! the same error dialect and reads its codes here too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SourceError;
use super::http::{Client, Fetched};
use crate::config::DurationValue;
use crate::secret::Secret;
use crate::sources::checks::Check;

/// Usage percentage at which a source slows down instead of running into the limit.
const SLOW_DOWN_AT: f64 = 80.0;
/// How long to pause when usage is high and Meta gives no time to regain access.
pub(crate) const SLOW_DOWN_FOR: Duration = Duration::from_secs(15 * 60);

pub(crate) fn default_graph_url() -> String {
    "https://graph.facebook.com".into()
}
pub(crate) fn default_api_version() -> String {
    "v24.0".into()
}
pub(crate) fn default_max_pages() -> u32 {
    5
}
pub(crate) fn default_comment_window() -> DurationValue {
    DurationValue(Duration::from_secs(14 * 24 * 3600))
}

/// Checks the keys every Graph source has.
pub(crate) fn check_graph_settings(
    cx: &mut Check<'_>,
    base_url: &str,
    api_version: &str,
    max_pages: u32,
) {
    cx.http_urls(&[("base_url", Some(base_url))]);
    cx.api_version(api_version, "Graph API version such as \"v24.0\"");
    cx.at_least_one("max_pages", max_pages);
}

/// Records a problem of `key` unless `value` is a numeric Graph id; `hint` says where to find
/// the right one.
pub(crate) fn check_numeric_id(cx: &mut Check<'_>, key: &str, value: &str, hint: &str) {
    if value.trim().is_empty() || !value.chars().all(|c| c.is_ascii_digit()) {
        cx.problem(key, format!("\"{value}\" is not {hint}"));
    }
}

/// A Graph API client for one token: the part Facebook and Instagram sources share.
pub(crate) struct Graph {
    pub client: Client,
    pub base_url: String,
    pub api_version: String,
    pub token: Secret,
    /// Source kind, for error messages.
    pub kind: &'static str,
    /// Config key of the token, for error messages.
    pub token_key: &'static str,
}

/// One page of a Graph edge.
#[derive(Debug, Deserialize)]
pub(crate) struct EdgePage {
    #[serde(default)]
    pub data: Vec<serde_json::Value>,
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    pub cursors: Option<Cursors>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Cursors {
    pub after: Option<String>,
}

impl EdgePage {
    /// The `after` cursor, when Graph says there is a next page.
    pub fn next_after(&self) -> Option<String> {
        let p = self.paging.as_ref()?;
        p.next.as_ref()?;
        p.cursors.as_ref()?.after.clone()
    }
}

impl Graph {
    /// GETs a `paging.next` link as Graph gave it, on the configured host: its path and every
    /// parameter kept exactly, except an `access_token` (the token travels in a header, never
    /// in a URL, and never to a host the operator did not configure).
    pub async fn get_next(&self, next: &str) -> Result<(EdgePage, Option<Duration>), SourceError> {
        let parsed = url::Url::parse(next).map_err(|e| SourceError::Parse {
            url: self.base_url.clone(),
            message: format!("paging.next is not a URL: {e}"),
        })?;
        let query: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let url = format!("{}{}", self.base_url.trim_end_matches('/'), parsed.path());
        let req = self
            .client
            .request(reqwest::Method::GET, &url)
            .query(&query)
            .bearer_auth(self.token.expose());
        self.receive(req).await
    }

    /// The client for a source built from a validated config; `kind` and `token_key` (the
    /// token's config key) name it in error messages.
    pub(crate) fn new(
        client: Client,
        base_url: &str,
        api_version: &str,
        token: Secret,
        kind: &'static str,
        token_key: &'static str,
    ) -> Graph {
        Graph {
            client,
            base_url: base_url.to_string(),
            api_version: api_version.to_string(),
            token,
            kind,
            token_key,
        }
    }

    /// GETs `/{version}/{path}` with `params`. Returns the page and, when Meta's usage headers
    /// say the app is near its limit, how long to wait before the next poll.
    pub async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(EdgePage, Option<Duration>), SourceError> {
        self.receive(self.request(path, params)).await
    }

    /// Like [`Graph::get`], for the page after the cursor `after` (`None`: the first page).
    pub async fn get_after(
        &self,
        path: &str,
        params: &[(&str, String)],
        after: Option<&str>,
    ) -> Result<(EdgePage, Option<Duration>), SourceError> {
        let mut params = params.to_vec();
        params.extend(after.map(|a| ("after", a.to_string())));
        self.get(path, &params).await
    }

    /// GETs the node `/{version}/{path}` with `params` as the JSON object Graph answers (a
    /// node's fields, not an edge's page), with the same pause as [`Graph::get`].
    pub async fn get_node(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(serde_json::Value, Option<Duration>), SourceError> {
        self.receive(self.request(path, params)).await
    }

    fn request(&self, path: &str, params: &[(&str, String)]) -> reqwest::RequestBuilder {
        let url = format!(
            "{}/{}/{}",
            self.base_url.trim_end_matches('/'),
            self.api_version,
            path
        );
        // The token goes in a header, so it never appears in a URL that could be logged.
        self.client
            .request(reqwest::Method::GET, &url)
            .query(params)
            .bearer_auth(self.token.expose())
    }

    async fn receive<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(T, Option<Duration>), SourceError> {
        let resp = self.client.send(req).await?;
        let slow = slow_down(&resp);
        if resp.status == 200 {
            return Ok((resp.json()?, slow));
        }
        Err(self.error(&resp, slow))
    }

    fn error(&self, resp: &Fetched, slow: Option<Duration>) -> SourceError {
        let Some(e) = GraphError::from_body(&resp.body) else {
            return resp.unexpected_status();
        };
        match e.refusal() {
            GraphRefusal::Throttled => SourceError::RateLimited {
                retry_after: Some(slow.unwrap_or(SLOW_DOWN_FOR)),
            },
            // The token expired or was revoked: only a person can fix it, so say so plainly.
            GraphRefusal::TokenRejected => SourceError::Auth(format!(
                "{}: token rejected (code {}); renew the access token and update credentials {}",
                self.kind, e.code, self.token_key
            )),
            GraphRefusal::PermissionMissing => SourceError::Auth(format!(
                "{}: permission missing (code {}): {}; check the token's permissions ({})",
                self.kind, e.code, e.message, self.token_key
            )),
            GraphRefusal::Other => SourceError::Status {
                status: resp.status,
                url: format!("{} (Graph error {}: {})", resp.url, e.code, e.message),
                retry_after: None,
            },
        }
    }
}

/// The `error` object Meta's Graph-style APIs (Facebook, Instagram, Threads) send with a
/// refusal.
#[derive(Debug, Deserialize)]
pub(crate) struct GraphError {
    /// Meta's error code, which says what went wrong better than the HTTP status.
    #[serde(default)]
    pub(crate) code: i64,
    /// Meta's explanation, for the operator.
    #[serde(default)]
    pub(crate) message: String,
}

/// What a Graph error code means for the poll.
pub(crate) enum GraphRefusal {
    /// A rate limit: wait and try again.
    Throttled,
    /// The token expired or was revoked.
    TokenRejected,
    /// The token lacks a permission the request needs.
    PermissionMissing,
    /// Anything else: an HTTP error like any other.
    Other,
}

impl GraphError {
    /// The `error` object of a refusal's body, when it has one.
    pub(crate) fn from_body(body: &[u8]) -> Option<GraphError> {
        #[derive(Deserialize)]
        struct Body {
            error: GraphError,
        }
        serde_json::from_slice::<Body>(body).ok().map(|b| b.error)
    }

    /// What the code means, by Meta's published codes.
    pub(crate) fn refusal(&self) -> GraphRefusal {
        match self.code {
            // Application, user, page and custom rate limits; 80000-80014 are the
            // business-use-case limits that page and Instagram tokens fall under.
            4 | 17 | 32 | 613 | 80_000..=80_014 => GraphRefusal::Throttled,
            190 | 102 => GraphRefusal::TokenRejected,
            10 | 200..=299 => GraphRefusal::PermissionMissing,
            _ => GraphRefusal::Other,
        }
    }
}

/// Reads `X-App-Usage` and `X-Business-Use-Case-Usage`; returns a pause when any percentage
/// is at or above [`SLOW_DOWN_AT`], using Meta's `estimated_time_to_regain_access` (minutes)
/// when it gives one.
fn slow_down(resp: &Fetched) -> Option<Duration> {
    let mut highest = 0.0_f64;
    let mut regain_minutes = 0_u64;
    let mut scan = |v: &serde_json::Value| {
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                if k == "estimated_time_to_regain_access" {
                    regain_minutes = regain_minutes.max(x.as_u64().unwrap_or(0));
                } else if let Some(n) = x.as_f64()
                    && k != "type"
                {
                    highest = highest.max(n);
                }
            }
        }
    };
    if let Some(v) = resp
        .header("x-app-usage")
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
    {
        scan(&v);
    }
    if let Some(v) = resp
        .header("x-business-use-case-usage")
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
    {
        // {"<business id>": [{"type": "pages", "call_count": 12, ...}]}
        for list in v.as_object().into_iter().flat_map(|o| o.values()) {
            for entry in list.as_array().into_iter().flatten() {
                scan(entry);
            }
        }
    }
    if regain_minutes > 0 {
        return Some(Duration::from_secs(regain_minutes * 60));
    }
    (highest >= SLOW_DOWN_AT).then_some(SLOW_DOWN_FOR)
}

/// The longer of two optional pauses.
pub(crate) fn longer(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Parses Graph times: `2026-11-25T08:14:03+0000` (no colon in the offset).
pub(crate) fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::facebook_page::FacebookPageSource;
    use crate::sources::instagram::InstagramSource;
    use crate::sources::{SourceKind, testing};
    use chrono::TimeZone;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const TOKEN: &str = "EAAB-graph-test-token";

    fn graph(server: &MockServer) -> Graph {
        Graph::new(
            Client::new("webcare-test").unwrap(),
            &server.uri(),
            "v24.0",
            Secret::new(TOKEN.into()),
            "facebook_page",
            "page_token",
        )
    }

    /// What `Graph::get` makes of one answer: `status` with `body` and the usage `headers`.
    async fn answer(
        status: u16,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<Option<Duration>, SourceError> {
        let reply = headers.iter().fold(
            ResponseTemplate::new(status).set_body_json(body),
            |r, (name, value)| r.insert_header(*name, *value),
        );
        let server = testing::serving([Mock::given(method("GET")).respond_with(reply)]).await;
        graph(&server)
            .get("104857600000001/feed", &[])
            .await
            .map(|(_, slow)| slow)
    }

    fn refusal(code: i64) -> serde_json::Value {
        serde_json::json!({"error": {"message": format!("(#{code}) refused"), "type": "OAuthException", "code": code, "fbtrace_id": "AzYxWvUtSrQ"}})
    }

    fn usage(business_pct: u32, regain_minutes: u32) -> String {
        format!(
            r#"{{"104857600000001":[{{"type":"pages","call_count":{business_pct},"total_cputime":12,"total_time":20,"estimated_time_to_regain_access":{regain_minutes}}}]}}"#
        )
    }

    const APP_USAGE_LOW: (&str, &str) = (
        "x-app-usage",
        r#"{"call_count":12,"total_time":9,"total_cputime":3}"#,
    );

    #[tokio::test]
    async fn usage_near_the_limit_pauses_the_source_for_as_long_as_meta_says() {
        let page = serde_json::json!({"data": []});
        let high = usage(85, 0);
        let regain = usage(100, 7);
        let business = "x-business-use-case-usage";
        assert_eq!(
            answer(200, page.clone(), &[(business, &high)])
                .await
                .unwrap(),
            Some(SLOW_DOWN_FOR)
        );
        assert_eq!(
            answer(200, page.clone(), &[APP_USAGE_LOW, (business, &regain)])
                .await
                .unwrap(),
            Some(Duration::from_secs(7 * 60))
        );
        assert_eq!(
            answer(200, page.clone(), &[APP_USAGE_LOW]).await.unwrap(),
            None
        );
        let app_high = r#"{"call_count":91,"total_time":9,"total_cputime":3}"#;
        assert_eq!(
            answer(200, page, &[("x-app-usage", app_high)])
                .await
                .unwrap(),
            Some(SLOW_DOWN_FOR)
        );
    }

    /// The pause that a first poll of a source of kind `S` asks for when every Graph answer
    /// is an empty page with the business-use-case header `usage`.
    async fn pause_asked_by<S: SourceKind>(
        settings: serde_json::Value,
        token_key: &str,
        usage: &str,
    ) -> Option<Duration> {
        let empty = ResponseTemplate::new(200)
            .set_body_string(r#"{"data":[]}"#)
            .insert_header("x-business-use-case-usage", usage);
        let server = testing::serving([Mock::given(method("GET")).respond_with(empty)]).await;
        let base = serde_json::json!({ "base_url": server.uri() });
        let config = testing::owned_config(S::KIND, testing::with_settings(base, settings));
        let s = testing::with_secret::<S>(config, token_key, TOKEN);
        s.source
            .poll(&testing::ctx(None))
            .await
            .unwrap()
            .next_poll_in
    }

    #[tokio::test]
    async fn both_graph_sources_pass_the_pause_on_to_their_next_poll() {
        let regain = usage(100, 7);
        let page = serde_json::json!({ "page_id": "104857600000001" });
        let ig = serde_json::json!({ "ig_user_id": "17841400000000001" });
        let seven = Some(Duration::from_secs(7 * 60));
        assert_eq!(
            pause_asked_by::<FacebookPageSource>(page, "page_token", &regain).await,
            seven
        );
        assert_eq!(
            pause_asked_by::<InstagramSource>(ig, "access_token", &regain).await,
            seven
        );
        let calm = usage(20, 0);
        let ig = serde_json::json!({ "ig_user_id": "17841400000000001" });
        assert_eq!(
            pause_asked_by::<InstagramSource>(ig, "access_token", &calm).await,
            None
        );
    }

    #[tokio::test]
    async fn throttling_codes_wait_for_the_regain_time_or_the_default_pause() {
        let regain = usage(100, 12);
        let err = answer(400, refusal(32), &[("x-business-use-case-usage", &regain)])
            .await
            .unwrap_err();
        assert_eq!(
            err.retry_after(),
            Some(Duration::from_secs(12 * 60)),
            "{err:?}"
        );
        // Meta sends throttling as 400 or 403, and the business-use-case codes as 80000 and up.
        for (status, code) in [(400, 4), (403, 17), (400, 613), (400, 80_001)] {
            let err = answer(status, refusal(code), &[]).await.unwrap_err();
            assert!(
                matches!(err, SourceError::RateLimited { .. }),
                "code {code}: {err:?}"
            );
            assert_eq!(err.retry_after(), Some(SLOW_DOWN_FOR), "code {code}");
        }
    }

    #[tokio::test]
    async fn a_rejected_token_names_the_source_and_the_credential_to_renew() {
        let expired =
            serde_json::from_str(&testing::fixture("facebook_page", "error-190.json")).unwrap();
        let err = answer(400, expired, &[]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "facebook_page: token rejected (code 190); renew the access token and update credentials page_token"
        );
        assert!(matches!(err, SourceError::Auth(_)), "{err:?}");
        let err = answer(400, refusal(10), &[]).await.unwrap_err();
        assert!(
            err.to_string().contains("permission missing (code 10)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn other_refusals_report_the_status_and_meta_code() {
        let err = answer(400, refusal(1), &[]).await.unwrap_err();
        assert!(
            err.to_string().contains("Graph error 1: (#1) refused"),
            "{err}"
        );
        let err = answer(502, serde_json::json!({"unexpected": true}), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(err, SourceError::Status { status: 502, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_next_link_is_followed_on_the_configured_host_with_the_token_in_a_header() {
        let server = testing::serving([Mock::given(method("GET"))
            .and(path("/v24.0/104857600000001/feed"))
            .and(query_param("after", "QVFIUm1lZAGlh"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"data":[{"id":"1"}]}"#))
            .expect(1)])
        .await;
        let next = "https://graph.facebook.com/v24.0/104857600000001/feed?access_token=EAAB-from-link&limit=25&after=QVFIUm1lZAGlh";
        let (page, _) = graph(&server).get_next(next).await.unwrap();
        assert_eq!(page.data.len(), 1);
        let sent: Vec<Request> = server.received_requests().await.unwrap();
        assert!(
            !sent[0].url.as_str().contains("access_token"),
            "{}",
            sent[0].url
        );
        assert_eq!(
            sent[0]
                .url
                .query_pairs()
                .find(|(k, _)| k == "limit")
                .unwrap()
                .1,
            "25"
        );
    }

    #[test]
    fn graph_times_without_a_colon_in_the_offset_parse() {
        assert_eq!(
            parse_graph_time("2026-11-25T08:14:03+0000"),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 8, 14, 3).unwrap())
        );
        assert_eq!(parse_graph_time("yesterday"), None);
    }
}
