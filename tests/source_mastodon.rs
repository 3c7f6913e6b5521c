//! End to end: the real `webcare` binary reads a hashtag timeline and the status search of a
//! fake Mastodon server on 127.0.0.1, with the token passed through an environment variable.

mod common;

use common::fake;
use common::fakes::{
    self,
    mastodon::{S5, S7},
};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_tag_and_search_results_once() {
    let (_server, daemon) = Daemon::first_poll("mastodon").await;
    daemon.once_stores_nothing_new();

    let boosted = daemon.stored_where("author_handle", "amy@hachyderm.io");
    assert_eq!(boosted["author_reach"], 9021);
    assert_eq!(
        boosted["text"],
        "Heads up: #Fjordlink mobile data is down in Aarhus too."
    );

    daemon.state_ok_storing("fosstodon", "mastodon", 5);
    let cursor = daemon.cursor("fosstodon");
    assert!(!cursor.contains("e2e-token"));
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["streams"]["tag:fjordlink"]["min_id"], S5);
    assert_eq!(cursor["streams"]["search"]["min_id"], S7);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_variable_is_a_config_error() {
    let daemon = Daemon::new(&fakes::source("mastodon", "http://127.0.0.1:9", "5m"));
    let out = daemon
        .command()
        .arg("check-config")
        .env_remove("WEBCARE_TEST_MASTODON_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "sources[0].token_env: environment variable WEBCARE_TEST_MASTODON_TOKEN is not set"
        ),
        "{err}"
    );
}

/// Mentions of the brand's account from every server come through the token's mention
/// notifications; the brand's own replies (read from its own account's posts) are no mentions
/// and mark the posts they answer, also a post that only arrives with the next poll.
#[tokio::test(flavor = "multi_thread")]
async fn mention_notifications_are_stored_and_the_brands_replies_answer_them() {
    // What the fake serves: fixtures/mastodon/routes.toml, group `mentions`.
    let server = wiremock::MockServer::start().await;
    fake::mount(&server, "mastodon", "mentions").await;

    let source = format!(
        r#"
[[sources]]
name = "social"
kind = "mastodon"
base_url = "{}"
hashtags = ["fjordlink"]
mentions = true
own_accounts = ["fjordlink"]
token_env = "WEBCARE_TEST_MASTODON_TOKEN"
interval = "5m"
backfill = "3650d"
"#,
        server.uri()
    );
    let daemon = Daemon::new(&source).envs(&fakes::env("mastodon"));
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    let mette = "https://fosstodon.org/users/mette/statuses/113561900112233001";
    let joost = "https://mastodon.nl/users/joost/statuses/113561800000000077";
    let lars = "https://norden.social/users/lars/statuses/113562050000000001";

    // Mentions from two other servers, by their uri; none of the brand's posts.
    daemon.once_stores_ids(&[mette, joost]);
    assert_eq!(
        daemon.stored_by_id(mette)["author_handle"],
        "mette@fosstodon.org"
    );
    daemon.assert_answered("social", mette, "2026-11-25T13:30:45Z", "fjordlink");

    daemon.once_stores(1);
    assert_eq!(daemon.ids(), [mette, joost, lars]);
    assert_eq!(
        daemon.answered("social"),
        [
            (
                mette.to_string(),
                at("2026-11-25T13:30:45Z"),
                "fjordlink".to_string()
            ),
            (
                lars.to_string(),
                at("2026-11-25T14:02:11Z"),
                "fjordlink".to_string()
            ),
        ]
    );
    assert!(!daemon.db_contains("e2e-token"));
}
