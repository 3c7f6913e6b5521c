//! The platforms the end-to-end tests fake, one module each: the `[[sources]]` table that reads
//! the fake, the secrets the child gets as environment variables, and the values tests assert
//! on. What each fake serves is its table, `fixtures/<platform>/routes.toml`, which
//! [`super::fake`] (shared with the sources' unit tests) mounts on a wiremock server:
//! `fake::start("x")` for one platform, `fake::mount(&server, "x", "main")` to add one to a
//! server that plays several. A first poll pages through the fixtures; a poll from the stored
//! cursor finds nothing new.

// Not every test binary that includes `common` uses them.
#[allow(unused_imports)]
pub use super::fake::{fixture_reply, fixture_text};

/// A `backfill`-style duration, in seconds, reaching from now back to `rfc3339`: the fixtures are
/// dated, so the window must reach them whatever day the test runs.
pub fn seconds_since(rfc3339: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
}

/// Hacker News: Algolia search by date, two pages, no auth.
pub mod hackernews {

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
}

/// Mastodon: a hashtag timeline (public) and the status search (bearer token).
pub mod mastodon {

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
}

/// Bluesky: an app-password session, then `searchPosts` with the session's access token.
pub mod bluesky {

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
}

/// Reddit: an app-only token (client credentials), then a subreddit's search and comments.
pub mod reddit {

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
}

/// X: API v2 recent search with a bearer token.
pub mod x {

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
}

/// YouTube Data API: video search, comment threads on the videos found and on the channel.
pub mod youtube {

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
}

/// Facebook page: the page's feed and the comments on its posts, with a page access token.
pub mod facebook_page {

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
}

/// Instagram Graph API: the account's media and their comments, and media that tag it.
pub mod instagram {

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
}

/// Apple App Store: the public per-country customer review feed of one app, no credentials.
pub mod app_store {

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
}

/// Trustpilot: a business unit's service reviews over two pages, with the API key checked.
pub mod trustpilot {

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
}

/// Google Play: the Play Developer API's review list over two pages, behind a token endpoint
/// that accepts only a JWT signed with the test service account's key.
pub mod google_play {
    use wiremock::MockServer;

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

    /// A fake server on 127.0.0.1 serving only this platform.
    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        mount(&server).await;
        server
    }

    /// The token endpoint, which hands out [`ACCESS`] only for a valid signed assertion (code:
    /// a table cannot check a signature), and the reviews of the platform's table.
    pub async fn mount(server: &MockServer) {
        super::super::fake::mount_google_token(server, SCOPE, ACCESS, None).await;
        super::super::fake::mount(server, "google_play", "main").await;
    }
}

/// Google Business Profile: one location's reviews over two pages, behind a token endpoint
/// that accepts only the owner's refresh token with the OAuth client's secret.
pub mod google_business {

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
}

/// Threads: keyword search over two pages (cursors without `next` links) and the account's
/// mentions, with the token checked as the `access_token` parameter.
pub mod threads {

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
}
