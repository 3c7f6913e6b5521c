//! The platforms the end-to-end tests fake. What each fake serves is its table,
//! `fixtures/<platform>/routes.toml`, which [`super::fake`] (shared with the sources' unit tests)
//! mounts on a wiremock server: `fake::start("x")` for one platform, `fake::mount(&server, "x",
//! "main")` to add one to a server that plays several. How the tests use it is
//! `fixtures/<platform>/e2e.toml`, read by [`E2e`]: the `[[sources]]` table that reads the fake,
//! the secrets the daemon gets as environment variables, what a first poll stores and the tokens
//! the fake hands out. A first poll pages through the fixtures; a poll from the stored cursor
//! finds nothing new. The modules below hold the values single tests assert on.

use std::collections::BTreeMap;

use serde::Deserialize;
use wiremock::MockServer;

// Not every test binary that includes `common` uses them.
#[allow(unused_imports)]
pub use super::fake::{fixture_reply, fixture_text};

/// A platform's `fixtures/<platform>/e2e.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E2e {
    /// The platform (its fixtures folder, and the source kind).
    #[serde(skip)]
    pub kind: String,
    /// The `[[sources]]` table, with `{base_url}`, `{interval}`, `{fixtures}` and
    /// `{since:<RFC 3339 time>}` still to fill in.
    source: String,
    /// Environment variables holding the source's secrets, with their values.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// What the source's first poll stores.
    pub stored: Stored,
    /// Tokens the fake hands out for the secrets.
    #[serde(default)]
    pub handed_out: Vec<String>,
    /// A Google service-account token endpoint the fake also plays.
    google_token: Option<GoogleToken>,
}

/// What a source's first poll stores: how many mentions, and some of their external ids.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// The external ids of the mentions stored, sorted.
    pub ids: Vec<String>,
}

/// See [`super::fake::mount_google_token`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoogleToken {
    scope: String,
    access: String,
}

impl E2e {
    /// Reads `fixtures/<kind>/e2e.toml`; panics naming the file and the key when it is wrong.
    pub fn load(kind: &str) -> E2e {
        let file = format!("{}/fixtures/{kind}/e2e.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        let mut e2e: E2e = toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        e2e.kind = kind.to_string();
        e2e
    }

    /// Every platform with an `e2e.toml`, by name.
    pub fn all() -> Vec<E2e> {
        let fixtures = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut kinds: Vec<String> = std::fs::read_dir(&fixtures)
            .unwrap_or_else(|e| panic!("reading {fixtures}: {e}"))
            .map(|d| d.unwrap().path())
            .filter(|p| p.join("e2e.toml").is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        kinds.sort();
        kinds.iter().map(|k| E2e::load(k)).collect()
    }

    /// The `[[sources]]` table reading the fake at `base_url`, polling every `interval`.
    pub fn source(&self, base_url: &str, interval: &str) -> String {
        let mut s = self
            .source
            .replace("{base_url}", base_url)
            .replace("{interval}", interval)
            .replace(
                "{fixtures}",
                &format!("{}/fixtures", env!("CARGO_MANIFEST_DIR")),
            );
        while let Some(start) = s.find("{since:") {
            let end = start + s[start..].find('}').expect("{since:…} is closed");
            let seconds = seconds_since(&s[start + "{since:".len()..end]);
            s.replace_range(start..=end, &format!("{seconds}s"));
        }
        format!("\n{}", s.trim_start())
    }

    /// The source's name, from its table.
    pub fn name(&self) -> String {
        let table: toml::Table = toml::from_str(&self.source("http://127.0.0.1:9", "1h")).unwrap();
        table["sources"][0]["name"].as_str().unwrap().to_string()
    }

    /// The environment variables holding the source's secrets, with their values.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The secrets' values and the tokens the fake hands out: none may reach the database.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.env
            .values()
            .chain(&self.handed_out)
            .map(String::as_str)
    }

    /// Mounts the platform's `main` routes on `server`, and its token endpoint if it has one.
    pub async fn mount(&self, server: &MockServer) {
        if let Some(t) = &self.google_token {
            super::fake::mount_google_token(server, &t.scope, &t.access, None).await;
        }
        super::fake::mount(server, &self.kind, "main").await;
    }

    /// A fake on 127.0.0.1 serving only this platform.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        self.mount(&server).await;
        server
    }
}

/// How many mentions a first poll of `kind`'s fake stores (`[stored]` in its `e2e.toml`).
pub fn stored_first(kind: &str) -> usize {
    E2e::load(kind).stored.ids.len()
}

/// The `[[sources]]` table of `fixtures/<kind>/e2e.toml`, reading the fake at `base_url`.
pub fn source(kind: &str, base_url: &str, interval: &str) -> String {
    E2e::load(kind).source(base_url, interval)
}

/// The secrets of `fixtures/<kind>/e2e.toml`, as environment variables with their values.
pub fn env(kind: &str) -> Vec<(String, String)> {
    E2e::load(kind)
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A `backfill`-style duration, in seconds, reaching from now back to `rfc3339`: the fixtures are
/// dated, so the window must reach them whatever day the test runs.
pub fn seconds_since(rfc3339: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
}

/// Mastodon: the newest statuses of the fixtures, where a stored cursor starts.
pub mod mastodon {
    /// The newest status of the tag timeline fixture.
    pub const S5: &str = "117676965888000005";
    /// The newest status of the search fixture.
    pub const S7: &str = "117677205749760009";
}

/// Bluesky: the session the fake hands out.
pub mod bluesky {
    /// The access token `create-session.json` hands out.
    pub const ACCESS1: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access-one.sig";
}

/// YouTube Data API: the key, which must never be stored.
pub mod youtube {
    /// The API key.
    pub const KEY: &str = "AIzaE2eKey-do-not-store";
}

/// Facebook page: the page token, which must never be stored.
pub mod facebook_page {
    /// The page token.
    pub const TOKEN: &str = "EAAB-e2e-page-token";
}

/// Instagram Graph API: the account and its token.
pub mod instagram {
    /// The access token, which must never be stored.
    pub const TOKEN: &str = "IGQ-e2e-access-token";
    /// The brand's professional account.
    pub const IG: &str = "17841400000000001";
    /// The id Instagram gives the hashtag `fjordlink`.
    pub const HASHTAG_ID: &str = "17843857450040591";
}

/// Trustpilot: the API key and the variable that holds it.
pub mod trustpilot {
    /// The environment variable holding the API key.
    pub const KEY_VAR: &str = "WEBCARE_TEST_TRUSTPILOT_KEY";
    /// The API key.
    pub const KEY: &str = "tp-live-key-7Qm2x9Zr";
}

/// Google Play: the app, the service account's key file and the token the fake hands out.
pub mod google_play {
    /// The app whose reviews the fake serves.
    pub const PACKAGE: &str = "nl.fjordlink.mijn";
    /// The access token the fake's token endpoint hands out.
    pub const ACCESS: &str = "ya29.c.fake-play-access-Wq81";

    /// The test-only service account key file.
    pub fn key_file() -> String {
        format!(
            "{}/fixtures/google/test-service-account.json",
            env!("CARGO_MANIFEST_DIR")
        )
    }
}

/// Google Business Profile: the location, the owner's secrets and the token the fake hands out.
pub mod google_business {
    /// The location whose reviews the fake serves.
    pub const LOCATION: &str = "4567890123456789012";
    /// The environment variable holding the OAuth client secret, and the secret.
    pub const SECRET_VAR: &str = "WEBCARE_TEST_GBP_CLIENT_SECRET";
    /// See [`SECRET_VAR`].
    pub const CLIENT_SECRET: &str = "GOCSPX-fake-gbp-client-secret";
    /// The environment variable holding the owner's refresh token.
    pub const REFRESH_VAR: &str = "WEBCARE_TEST_GBP_REFRESH_TOKEN";
    /// The owner's refresh token.
    pub const REFRESH: &str = "1//09fake-gbp-refresh-token";
    /// The access token the fake hands out for them.
    pub const ACCESS: &str = "ya29.a0-fake-gbp-access";
}

/// Threads: the token, which must never be stored.
pub mod threads {
    /// The Threads user access token.
    pub const TOKEN: &str = "THAAfakeThreadsLongLivedToken42";
}
