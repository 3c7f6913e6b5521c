//! Fake platform APIs for the end-to-end tests, one module per platform: what the fake serves
//! from `fixtures/<platform>/` (checking auth and paging parameters as the platform would), the
//! `[[sources]]` table that reads it, and the secrets the child gets as environment variables.
//!
//! Each `mount` adds its platform's mocks to a wiremock server, so one server can play a single
//! platform or all of them at once. A first poll pages through the fixtures; a poll from the
//! stored cursor finds nothing new.

use wiremock::ResponseTemplate;

/// The text of `fixtures/<platform>/<name>`.
pub fn fixture_text(platform: &str, name: &str) -> String {
    let path = format!("{}/fixtures/{platform}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A reply with `status` and `fixtures/<platform>/<name>` as `application/json`.
pub fn fixture_reply(status: u16, platform: &str, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture_text(platform, name), "application/json")
}

/// A `backfill`-style duration, in seconds, reaching from now back to `rfc3339`: the fixtures are
/// dated, so the window must reach them whatever day the test runs.
pub fn seconds_since(rfc3339: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
}

/// Hacker News: Algolia search by date, two pages, no auth.
pub mod hackernews {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer};

    /// No secrets.
    pub const ENV: &[(&str, &str)] = &[];

    /// A source named `hn` reading the fake at `base_url`.
    pub fn source(base_url: &str, interval: &str) -> String {
        format!(
            r#"
[[sources]]
name = "hn"
kind = "hackernews"
query = "fjordlink"
base_url = "{base_url}"
hits_per_page = 3
interval = "{interval}"
backfill = "3650d"
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two pages for the first poll, then only the item already stored.
    pub async fn mount(server: &MockServer) {
        let json = |name| super::fixture_reply(200, "hackernews", name);
        Mock::given(method("GET"))
            .and(path("/api/v1/search_by_date"))
            .and(query_param("numericFilters", "created_at_i>=1795608000"))
            .respond_with(json("search-unchanged.json"))
            .with_priority(1)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/search_by_date"))
            .and(query_param("page", "0"))
            .respond_with(json("search-page0.json"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/search_by_date"))
            .and(query_param("page", "1"))
            .respond_with(json("search-page1.json"))
            .mount(server)
            .await;
    }
}

/// Mastodon: a hashtag timeline (public) and the status search (bearer token).
pub mod mastodon {
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The token variable and its value.
    pub const ENV: &[(&str, &str)] = &[("WEBCARE_TEST_MASTODON_TOKEN", "e2e-token")];
    /// The newest status of the tag timeline fixture.
    pub const S5: &str = "117676965888000005";
    /// The newest status of the search fixture.
    pub const S7: &str = "117677205749760009";

    /// A source named `fosstodon` reading the fake at `base_url`.
    pub fn source(base_url: &str, interval: &str) -> String {
        format!(
            r#"
[[sources]]
name = "fosstodon"
kind = "mastodon"
base_url = "{base_url}"
hashtags = ["fjordlink"]
query = "fjordlink"
token_env = "WEBCARE_TEST_MASTODON_TOKEN"
interval = "{interval}"
backfill = "3650d"
"#
        )
    }

    fn json(name: &str) -> ResponseTemplate {
        super::fixture_reply(200, "mastodon", name)
            .insert_header("X-RateLimit-Limit", "300")
            .insert_header("X-RateLimit-Remaining", "290")
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// First requests get the fixtures; requests from the stored cursor get nothing new.
    pub async fn mount(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/api/v1/timelines/tag/fjordlink"))
            .and(query_param_is_missing("min_id"))
            .respond_with(json("tag-page1.json"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/timelines/tag/fjordlink"))
            .and(query_param("min_id", S5))
            .respond_with(json("empty.json"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v2/search"))
            .and(header("authorization", "Bearer e2e-token"))
            .and(query_param("type", "statuses"))
            .and(query_param_is_missing("min_id"))
            .respond_with(json("search-page1.json"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v2/search"))
            .and(header("authorization", "Bearer e2e-token"))
            .and(query_param("min_id", S7))
            .respond_with(json("search-empty.json"))
            .mount(server)
            .await;
    }
}

/// Bluesky: an app-password session, then `searchPosts` with the session's access token.
pub mod bluesky {
    use wiremock::matchers::{
        body_json, header, method, path, query_param, query_param_is_missing,
    };
    use wiremock::{Mock, MockServer};

    /// The app password variable and its value.
    pub const ENV: &[(&str, &str)] = &[("WEBCARE_TEST_BSKY_PASSWORD", "e2e-app-password")];
    /// The access token `create-session.json` hands out.
    pub const ACCESS1: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access-one.sig";

    /// A source named `bsky` reading the fake at `base_url`.
    pub fn source(base_url: &str, interval: &str) -> String {
        format!(
            r#"
[[sources]]
name = "bsky"
kind = "bluesky"
query = "fjordlink"
base_url = "{base_url}"
identifier = "webcare.fjordlink.nl"
password_env = "WEBCARE_TEST_BSKY_PASSWORD"
limit = 3
interval = "{interval}"
backfill = "3650d"
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Bluesky's public AppView since 2025: every search without a login gets a 403 HTML page.
    pub async fn mount_forbidden(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/xrpc/app.bsky.feed.searchPosts"))
            .respond_with(wiremock::ResponseTemplate::new(403).set_body_raw(
                super::fixture_text("bluesky", "search-forbidden.html"),
                "text/html",
            ))
            .mount(server)
            .await;
    }

    /// Two pages for the backfill; from the stored cursor on, nothing new.
    pub async fn mount(server: &MockServer) {
        let json = |name| super::fixture_reply(200, "bluesky", name);
        Mock::given(method("POST"))
            .and(path("/xrpc/com.atproto.server.createSession"))
            .and(body_json(serde_json::json!({
                "identifier": "webcare.fjordlink.nl", "password": "e2e-app-password"
            })))
            .respond_with(json("create-session.json"))
            .mount(server)
            .await;
        let search = || {
            Mock::given(method("GET"))
                .and(path("/xrpc/app.bsky.feed.searchPosts"))
                .and(header(
                    "authorization",
                    format!("Bearer {ACCESS1}").as_str(),
                ))
        };
        search()
            .and(query_param("since", "2026-11-25T12:00:00.123Z"))
            .respond_with(json("search-empty.json"))
            .with_priority(1)
            .mount(server)
            .await;
        search()
            .and(query_param_is_missing("cursor"))
            .respond_with(json("search-page1.json"))
            .mount(server)
            .await;
        search()
            .and(query_param("cursor", "3"))
            .respond_with(json("search-page2.json"))
            .mount(server)
            .await;
    }
}

/// Reddit: an app-only token (client credentials), then a subreddit's search and comments.
pub mod reddit {
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The client secret variable and its value.
    pub const ENV: &[(&str, &str)] = &[("WEBCARE_TEST_REDDIT_SECRET", "e2e-secret")];
    /// base64("fjord-client-id:e2e-secret")
    pub const BASIC: &str = "Basic ZmpvcmQtY2xpZW50LWlkOmUyZS1zZWNyZXQ=";
    /// The header carrying the app token `token.json` hands out.
    pub const BEARER: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0.app-token-one.sig";
    /// The User-Agent the source is configured with, which Reddit requires.
    pub const AGENT: &str = "linux:webcare-fjordlink-e2e:1.0 (by /u/fjordlink_webcare)";

    /// A source named `reddit` reading the fake at `base_url` (API and token endpoint both).
    pub fn source(base_url: &str, interval: &str) -> String {
        format!(
            r#"
[[sources]]
name = "reddit"
kind = "reddit"
query = "fjordlink"
subreddits = ["Fjordlink"]
client_id = "fjord-client-id"
client_secret_env = "WEBCARE_TEST_REDDIT_SECRET"
user_agent = "{AGENT}"
base_url = "{base_url}"
auth_url = "{base_url}"
limit = 3
interval = "{interval}"
backfill = "3650d"
"#
        )
    }

    fn json(name: &str) -> ResponseTemplate {
        super::fixture_reply(200, "reddit", name)
            .insert_header("X-Ratelimit-Used", "4")
            .insert_header("X-Ratelimit-Remaining", "596.0")
            .insert_header("X-Ratelimit-Reset", "331")
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// The token endpoint, two search pages and one page of comments.
    pub async fn mount(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/api/v1/access_token"))
            .and(header("authorization", BASIC))
            .and(header("user-agent", AGENT))
            .respond_with(json("token.json"))
            .mount(server)
            .await;
        let api = |p: &str| {
            Mock::given(method("GET"))
                .and(path(p.to_string()))
                .and(header("authorization", BEARER))
                .and(header("user-agent", AGENT))
        };
        api("/r/Fjordlink/search")
            .and(query_param("restrict_sr", "1"))
            .and(query_param_is_missing("after"))
            .respond_with(json("search-page1.json"))
            .mount(server)
            .await;
        api("/r/Fjordlink/search")
            .and(query_param("after", "t3_1h2i3zz"))
            .respond_with(json("search-page2.json"))
            .mount(server)
            .await;
        api("/r/Fjordlink/comments")
            .respond_with(json("comments-page1.json"))
            .mount(server)
            .await;
    }
}

/// X: API v2 recent search with a bearer token.
pub mod x {
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    /// The bearer token variable and its value.
    pub const ENV: &[(&str, &str)] = &[("WEBCARE_TEST_X_BEARER", "e2e-token")];

    /// A source named `x-fjordlink` reading the fake at `base_url`.
    pub fn source(base_url: &str, interval: &str) -> String {
        format!(
            r#"
[[sources]]
name = "x-fjordlink"
kind = "x"
interval = "{interval}"
base_url = "{base_url}"
query = "fjordlink OR @fjordlink"
bearer_token_env = "WEBCARE_TEST_X_BEARER"
monthly_read_cap = 5000
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two pages for the first run, nothing new after.
    pub async fn mount(server: &MockServer) {
        let json = |name| super::fixture_reply(200, "x", name);
        let search = || {
            Mock::given(method("GET"))
                .and(path("/2/tweets/search/recent"))
                .and(header("authorization", "Bearer e2e-token"))
        };
        search()
            .and(query_param_is_missing("since_id"))
            .and(query_param_is_missing("next_token"))
            .respond_with(json("search-page1.json"))
            .mount(server)
            .await;
        search()
            .and(query_param_is_missing("since_id"))
            .and(query_param(
                "next_token",
                "b26v89c19zqg8o3fr5qmh8x6q0ts0dbb2nq8akg7mc8rx",
            ))
            .respond_with(json("search-page2.json"))
            .mount(server)
            .await;
        search()
            .and(query_param("since_id", "1861800000000000005"))
            .respond_with(json("search-empty.json"))
            .mount(server)
            .await;
    }

    /// X's 400 for a `since_id` older than the seven-day window, given for the `since_id` the
    /// first run stores (mount before [`mount`]): a second poll must fall back to `start_time`.
    pub async fn mount_stale_since_id(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/2/tweets/search/recent"))
            .and(query_param("since_id", "1861800000000000005"))
            .respond_with(super::fixture_reply(
                400,
                "x",
                "error-since-id-too-old.json",
            ))
            .with_priority(1)
            .mount(server)
            .await;
    }
}

/// YouTube Data API: video search, comment threads on the videos found and on the channel.
pub mod youtube {
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    /// The API key variable.
    pub const KEY_VAR: &str = "WEBCARE_TEST_YOUTUBE_KEY";
    /// The API key, which must never be stored.
    pub const KEY: &str = "AIzaE2eKey-do-not-store";
    /// The API key variable and its value.
    pub const ENV: &[(&str, &str)] = &[(KEY_VAR, KEY)];
    /// The brand's own channel.
    pub const CHANNEL: &str = "UCfJ0rdl1nkNLoffici4l0A";

    /// A source named `youtube` reading the fake at `base_url`, with a backfill reaching back to
    /// 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "youtube"
kind = "youtube"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
query = "fjordlink"
channel_id = "{CHANNEL}"
api_key_env = "{KEY_VAR}"
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two search pages, the threads of the three videos (one with comments disabled) and two
    /// pages of the channel's threads.
    pub async fn mount(server: &MockServer) {
        let reply = |status, name| super::fixture_reply(status, "youtube", name);
        let get = |p: &str| {
            Mock::given(method("GET"))
                .and(path(format!("/youtube/v3/{p}")))
                .and(query_param("key", KEY))
        };
        get("search")
            .and(query_param_is_missing("pageToken"))
            .respond_with(reply(200, "search-page1.json"))
            .mount(server)
            .await;
        get("search")
            .and(query_param("pageToken", "CDIQAA"))
            .respond_with(reply(200, "search-page2.json"))
            .mount(server)
            .await;
        for (video, file, status) in [
            ("fJ0rdVid0A1", "threads-video-a.json", 200),
            ("fJ0rdVid0B2", "error-comments-disabled.json", 403),
            ("fJ0rdVid0C3", "threads-video-c.json", 200),
        ] {
            get("commentThreads")
                .and(query_param("videoId", video))
                .respond_with(reply(status, file))
                .mount(server)
                .await;
        }
        get("commentThreads")
            .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
            .and(query_param_is_missing("pageToken"))
            .respond_with(reply(200, "threads-channel-page1.json"))
            .mount(server)
            .await;
        get("commentThreads")
            .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
            .and(query_param("pageToken", "QURTSl9pMkhPV2Z"))
            .respond_with(reply(200, "threads-channel-page2.json"))
            .mount(server)
            .await;
    }
}

/// Facebook page: the page's feed and the comments on its posts, with a page access token.
pub mod facebook_page {
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    /// The page token variable.
    pub const TOKEN_VAR: &str = "WEBCARE_TEST_FB_PAGE_TOKEN";
    /// The page token, which must never be stored.
    pub const TOKEN: &str = "EAAB-e2e-page-token";
    /// The page token variable and its value.
    pub const ENV: &[(&str, &str)] = &[(TOKEN_VAR, TOKEN)];
    /// The brand's page.
    pub const PAGE: &str = "104857600000001";
    /// The visitor post with two pages of comments.
    pub const POST: &str = "104857600000001_900000000000001";

    /// A source named `facebook` reading the fake at `base_url` for the Fjordlink watch, with a
    /// backfill reaching back to 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "facebook"
kind = "facebook_page"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
comment_window = "3650d"
base_url = "{base_url}"
page_id = "{PAGE}"
page_token_env = "{TOKEN_VAR}"
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two feed pages (time-based paging), two comment pages on one post and none on another.
    pub async fn mount(server: &MockServer) {
        let json = |name| super::fixture_reply(200, "facebook_page", name);
        let get = |p: String| {
            Mock::given(method("GET"))
                .and(path(p))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        };
        get(format!("/v24.0/{PAGE}/feed"))
            .and(query_param_is_missing("__paging_token"))
            .respond_with(json("feed-page1.json"))
            .mount(server)
            .await;
        // The feed is read with `since`, so Graph pages it by time: only `paging.next` (with
        // `until` and `__paging_token`) reaches the second page.
        get(format!("/v24.0/{PAGE}/feed"))
            .and(query_param("until", "1732518610"))
            .and(query_param("__paging_token", "enc_AdDq6jZCFfeedpage1ZDZD"))
            .and(query_param_is_missing("access_token"))
            .respond_with(json("feed-page2.json"))
            .mount(server)
            .await;
        get(format!("/v24.0/{POST}/comments"))
            .and(query_param_is_missing("after"))
            .respond_with(json("comments-post1-page1.json"))
            .mount(server)
            .await;
        get(format!("/v24.0/{POST}/comments"))
            .and(query_param("after", "WTI5dGJXVnVkRjlqb3VyZAXNvcgZD"))
            .respond_with(json("comments-post1-page2.json"))
            .mount(server)
            .await;
        get(format!("/v24.0/{PAGE}_900000000000004/comments"))
            .respond_with(json("comments-empty.json"))
            .mount(server)
            .await;
    }
}

/// Instagram Graph API: the account's media and their comments, and media that tag it.
pub mod instagram {
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    /// The access token variable.
    pub const TOKEN_VAR: &str = "WEBCARE_TEST_IG_TOKEN";
    /// The access token, which must never be stored.
    pub const TOKEN: &str = "IGQ-e2e-access-token";
    /// The access token variable and its value.
    pub const ENV: &[(&str, &str)] = &[(TOKEN_VAR, TOKEN)];
    /// The brand's professional account.
    pub const IG: &str = "17841400000000001";

    /// A source named `instagram` reading the fake at `base_url` for the Fjordlink watch: the
    /// backfill reaches back to 2026-11-20 and the comment window to 2026-11-15.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        let window = super::seconds_since("2026-11-15T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "instagram"
kind = "instagram"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
comment_window = "{window}s"
base_url = "{base_url}"
ig_user_id = "{IG}"
access_token_env = "{TOKEN_VAR}"
own_accounts = ["fjordlink_klantenservice"]
"#
        )
    }

    /// The id Instagram gives the hashtag `fjordlink`.
    pub const HASHTAG_ID: &str = "17843857450040591";

    /// `ig_hashtag_search` for `fjordlink` and one page of its recent media (the page reaches
    /// past the backfill, so no second page is asked for).
    pub async fn mount_hashtags(server: &MockServer) {
        let get = |p: String| {
            Mock::given(method("GET"))
                .and(path(p))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
                .and(query_param("user_id", IG))
        };
        get("/v24.0/ig_hashtag_search".into())
            .and(query_param("q", "fjordlink"))
            .respond_with(super::fixture_reply(
                200,
                "instagram",
                "hashtag-search-fjordlink.json",
            ))
            .mount(server)
            .await;
        get(format!("/v24.0/{HASHTAG_ID}/recent_media"))
            .and(query_param_is_missing("after"))
            .respond_with(super::fixture_reply(
                200,
                "instagram",
                "hashtag-recent-media.json",
            ))
            .mount(server)
            .await;
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two media pages, comments on two media (one paged) and two pages of tags.
    pub async fn mount(server: &MockServer) {
        let get = |p: String| {
            Mock::given(method("GET"))
                .and(path(p))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        };
        let pages = [
            (format!("/v24.0/{IG}/media"), None, "media-page1.json"),
            (
                format!("/v24.0/{IG}/media"),
                Some("QVFIUm1lZAGlh"),
                "media-page2.json",
            ),
            (
                "/v24.0/17900000000000001/comments".to_string(),
                None,
                "comments-m1-page1.json",
            ),
            (
                "/v24.0/17900000000000001/comments".to_string(),
                Some("QVFIUmNvbW1lbnQy"),
                "comments-m1-page2.json",
            ),
            (
                "/v24.0/17900000000000003/comments".to_string(),
                None,
                "comments-m3.json",
            ),
            (format!("/v24.0/{IG}/tags"), None, "tags-page1.json"),
            (
                format!("/v24.0/{IG}/tags"),
                Some("QVFIUnRhZ3MxY"),
                "tags-page2.json",
            ),
        ];
        for (p, after, file) in pages {
            let m = get(p);
            let m = match after {
                Some(a) => m.and(query_param("after", a)),
                None => m.and(query_param_is_missing("after")),
            };
            m.respond_with(super::fixture_reply(200, "instagram", file))
                .mount(server)
                .await;
        }
    }
}

/// Apple App Store: the public per-country customer review feed of one app, no credentials.
pub mod app_store {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The app whose reviews the fake serves.
    pub const APP: &str = "1488000111";

    /// A source named `appstore` reading the Dutch storefront of the fake at `base_url`, with a
    /// backfill reaching back to 2026-11-20, where the fixture starts.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "appstore"
kind = "app_store"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
app_id = "{APP}"
countries = ["nl"]
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Page 1 of the Dutch feed holds three reviews; page 2 is empty, as Apple answers past
    /// the last page.
    pub async fn mount(server: &MockServer) {
        let page =
            |n: u32| format!("/nl/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json");
        Mock::given(method("GET"))
            .and(path(page(1)))
            .respond_with(super::fixture_reply(200, "app_store", "reviews-nl.json"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(page(2)))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"feed":{"author":{"name":{"label":"iTunes Store"}}}}"#,
                "application/json",
            ))
            .mount(server)
            .await;
    }
}

/// Trustpilot: a business unit's service reviews over two pages, with the API key checked.
pub mod trustpilot {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer};

    /// The business unit whose reviews the fake serves.
    pub const UNIT: &str = "5f3a1c2b9d8e7f6a5b4c3d2e";
    /// The environment variable holding the API key, and the key the fake accepts.
    pub const KEY_VAR: &str = "WEBCARE_TEST_TRUSTPILOT_KEY";
    /// The API key.
    pub const KEY: &str = "tp-live-key-7Qm2x9Zr";
    /// The secret the child gets.
    pub const ENV: &[(&str, &str)] = &[(KEY_VAR, KEY)];

    /// A source named `trustpilot` reading the fake at `base_url`, three reviews a page, with a
    /// backfill reaching back to 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "trustpilot"
kind = "trustpilot"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
business_unit_id = "{UNIT}"
api_key_env = "{KEY_VAR}"
per_page = 3
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Page 1 holds three reviews and a `next-page` link; page 2 holds the last one.
    pub async fn mount(server: &MockServer) {
        for (page, file) in [("1", "reviews-page1.json"), ("2", "reviews-page2.json")] {
            Mock::given(method("GET"))
                .and(path(format!("/v1/business-units/{UNIT}/reviews")))
                .and(header("apikey", KEY))
                .and(query_param("orderBy", "createdat.desc"))
                .and(query_param("perPage", "3"))
                .and(query_param("page", page))
                .respond_with(super::fixture_reply(200, "trustpilot", file))
                .mount(server)
                .await;
        }
    }
}

/// Google Play: the Play Developer API's review list over two pages, behind a token endpoint
/// that accepts only a JWT signed with the test service account's key.
pub mod google_play {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, Request};

    /// The app whose reviews the fake serves.
    pub const PACKAGE: &str = "nl.fjordlink.mijn";
    /// The access token the fake's token endpoint hands out.
    pub const ACCESS: &str = "ya29.c.fake-play-access-Wq81";
    /// The scope the assertion must ask for.
    pub const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

    /// The test-only service account key file.
    pub fn key_file() -> String {
        format!(
            "{}/fixtures/google/test-service-account.json",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    /// A source named `play` reading the fake at `base_url`, two reviews a page, with a
    /// backfill reaching back to 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        let key = key_file();
        format!(
            r#"
[[sources]]
name = "play"
kind = "google_play"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
token_url = "{base_url}/token"
package_name = "{PACKAGE}"
service_account_file = "{key}"
max_results = 2
"#
        )
    }

    /// True when `assertion` is an RS256 JWT signed with the test key, from its service
    /// account, asking `aud` for [`SCOPE`], and not expired.
    pub fn assertion_is_valid(assertion: &str, aud: &str) -> bool {
        use aws_lc_rs::signature::{self, KeyPair};
        use rustls_pki_types::PrivatePkcs8KeyDer;
        use rustls_pki_types::pem::PemObject;
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(key_file()).unwrap()).unwrap();
        let der =
            PrivatePkcs8KeyDer::from_pem_slice(file["private_key"].as_str().unwrap().as_bytes())
                .unwrap();
        let key = signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key().as_ref().to_vec(),
        );
        let parts: Vec<&str> = assertion.split('.').collect();
        let [h, c, s] = parts[..] else {
            return false;
        };
        let signed = URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|sig| public.verify(format!("{h}.{c}").as_bytes(), &sig).is_ok());
        let Some(claims) = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        else {
            return false;
        };
        signed
            && claims["iss"] == file["client_email"]
            && claims["scope"] == SCOPE
            && claims["aud"] == aud
            && claims["exp"]
                .as_i64()
                .is_some_and(|t| t > chrono::Utc::now().timestamp())
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// The token endpoint, and two pages of reviews for its token.
    pub async fn mount(server: &MockServer) {
        let aud = format!("{}/token", server.uri());
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(move |r: &Request| {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&r.body).into_owned().collect();
                form.get("grant_type").map(String::as_str)
                    == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    && form
                        .get("assertion")
                        .is_some_and(|a| assertion_is_valid(a, &aud))
            })
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"access_token":"{ACCESS}","expires_in":3599,"token_type":"Bearer"}}"#),
                "application/json",
            ))
            .mount(server)
            .await;
        let reviews = format!("/androidpublisher/v3/applications/{PACKAGE}/reviews");
        let get = || {
            Mock::given(method("GET"))
                .and(path(reviews.clone()))
                .and(header("authorization", format!("Bearer {ACCESS}").as_str()))
                .and(query_param("maxResults", "2"))
        };
        get()
            .and(query_param_is_missing("token"))
            .respond_with(super::fixture_reply(
                200,
                "google_play",
                "reviews-page1.json",
            ))
            .mount(server)
            .await;
        get()
            .and(query_param("token", "Cg0IARIJCMLF3fEFEAA"))
            .respond_with(super::fixture_reply(
                200,
                "google_play",
                "reviews-page2.json",
            ))
            .mount(server)
            .await;
    }
}

/// Google Business Profile: one location's reviews over two pages, behind a token endpoint
/// that accepts only the owner's refresh token with the OAuth client's secret.
pub mod google_business {
    use wiremock::matchers::{
        body_string_contains, header, method, path, query_param, query_param_is_missing,
    };
    use wiremock::{Mock, MockServer};

    /// The Business Profile account and location whose reviews the fake serves.
    pub const ACCOUNT: &str = "109876543210987654321";
    /// The location.
    pub const LOCATION: &str = "4567890123456789012";
    /// The environment variables holding the client secret and the refresh token.
    pub const SECRET_VAR: &str = "WEBCARE_TEST_GBP_CLIENT_SECRET";
    /// See [`SECRET_VAR`].
    pub const REFRESH_VAR: &str = "WEBCARE_TEST_GBP_REFRESH_TOKEN";
    /// The OAuth client secret.
    pub const CLIENT_SECRET: &str = "GOCSPX-fake-gbp-client-secret";
    /// The owner's refresh token.
    pub const REFRESH: &str = "1//09fake-gbp-refresh-token";
    /// The access token the fake hands out for them.
    pub const ACCESS: &str = "ya29.a0-fake-gbp-access";
    /// The secrets the child gets.
    pub const ENV: &[(&str, &str)] = &[(SECRET_VAR, CLIENT_SECRET), (REFRESH_VAR, REFRESH)];

    /// A source named `gbp` reading the fake at `base_url`, two reviews a page, with a backfill
    /// reaching back to 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "gbp"
kind = "google_business"
watch = "Fjordlink"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
token_url = "{base_url}/token"
account_id = "{ACCOUNT}"
location_ids = ["{LOCATION}"]
client_id = "123456789012-webcare.apps.googleusercontent.com"
client_secret_env = "{SECRET_VAR}"
refresh_token_env = "{REFRESH_VAR}"
page_size = 2
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// The token endpoint, and two pages of the location's reviews for its token.
    pub async fn mount(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(
                "client_id=123456789012-webcare.apps.googleusercontent.com",
            ))
            .and(body_string_contains("client_secret=GOCSPX-fake-gbp-client-secret"))
            .and(body_string_contains("refresh_token=1%2F%2F09fake-gbp-refresh-token"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
                format!(
                    r#"{{"access_token":"{ACCESS}","expires_in":3599,"scope":"https://www.googleapis.com/auth/business.manage","token_type":"Bearer"}}"#
                ),
                "application/json",
            ))
            .mount(server)
            .await;
        let reviews = format!("/v4/accounts/{ACCOUNT}/locations/{LOCATION}/reviews");
        let get = || {
            Mock::given(method("GET"))
                .and(path(reviews.clone()))
                .and(header("authorization", format!("Bearer {ACCESS}").as_str()))
                .and(query_param("orderBy", "updateTime desc"))
                .and(query_param("pageSize", "2"))
        };
        get()
            .and(query_param_is_missing("pageToken"))
            .respond_with(super::fixture_reply(
                200,
                "google_business",
                "reviews-page1.json",
            ))
            .mount(server)
            .await;
        get()
            .and(query_param(
                "pageToken",
                "CiAKHAoUCPLsnN3-5pADEMSFt8gDGgIIARAAGAAiAA",
            ))
            .respond_with(super::fixture_reply(
                200,
                "google_business",
                "reviews-page2.json",
            ))
            .mount(server)
            .await;
    }
}

/// Threads: keyword search over two pages (cursors without `next` links) and the account's
/// mentions, with the token checked as the `access_token` parameter.
pub mod threads {
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    /// The environment variable holding the token.
    pub const TOKEN_VAR: &str = "WEBCARE_TEST_THREADS_TOKEN";
    /// The Threads user access token.
    pub const TOKEN: &str = "THAAfakeThreadsLongLivedToken42";
    /// The secret the child gets.
    pub const ENV: &[(&str, &str)] = &[(TOKEN_VAR, TOKEN)];

    /// A source named `threads` searching the fake at `base_url` for `fjordlink`, two posts a
    /// page, with a backfill reaching back to 2026-11-20, where the fixtures start.
    pub fn source(base_url: &str, interval: &str) -> String {
        let backfill = super::seconds_since("2026-11-20T00:00:00Z");
        format!(
            r#"
[[sources]]
name = "threads"
kind = "threads"
interval = "{interval}"
backfill = "{backfill}s"
base_url = "{base_url}"
query = "fjordlink"
limit = 2
own_accounts = ["fjordlink"]
access_token_env = "{TOKEN_VAR}"
"#
        )
    }

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// Two pages of search results and one page of mentions.
    pub async fn mount(server: &MockServer) {
        let get = |p: &str| {
            Mock::given(method("GET"))
                .and(path(p.to_string()))
                .and(query_param("access_token", TOKEN))
                .and(query_param("limit", "2"))
        };
        get("/v1.0/keyword_search")
            .and(query_param("q", "fjordlink"))
            .and(query_param("search_type", "RECENT"))
            .and(query_param_is_missing("after"))
            .respond_with(super::fixture_reply(200, "threads", "search-page1.json"))
            .mount(server)
            .await;
        get("/v1.0/keyword_search")
            .and(query_param("q", "fjordlink"))
            .and(query_param("after", "QVFIUlN4aEJYbVBQZA2l"))
            .respond_with(super::fixture_reply(200, "threads", "search-page2.json"))
            .mount(server)
            .await;
        get("/v1.0/me/mentions")
            .respond_with(super::fixture_reply(200, "threads", "mentions.json"))
            .mount(server)
            .await;
    }
}
