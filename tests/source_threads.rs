//! End to end: the `webcare` binary reads a fake Threads API on 127.0.0.1 (keyword search over
//! two cursor pages, and the account's mentions) with its token from the environment, and
//! stores each post once, leaving out reposts and the brand's own posts.

mod common;

use common::fake;
use common::fakes::{self, threads};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_search_results_and_mentions_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("threads").await;
    let outage = daemon.stored_by_id("18063425671234561");
    assert_eq!(outage["author_handle"], "sanne.bakt.brood");
    assert_eq!(
        outage["url"],
        "https://www.threads.com/@sanne.bakt.brood/post/DRt4kQ2jFjL"
    );
    assert_eq!(outage["urgency"], "urgent", "{outage}");
    // The brand's own reply to Mette is not a mention: it marks her post answered.
    daemon.assert_answered(
        "threads",
        "18047781230987655",
        "2026-11-24T18:40:05Z",
        "fjordlink",
    );

    daemon.once_stores(0);
    let state = daemon.state_ok("threads");
    // Both polls' searches found posts (the fake ignores `since`), so both count.
    assert_eq!(
        state["usage"], "2 of 2000 keyword queries in the last 24 h",
        "{state}"
    );
    assert!(
        !daemon.db_contains(threads::TOKEN),
        "the token reached the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_shown_in_sources_without_the_token() {
    let server = fake::answering(wiremock::ResponseTemplate::new(400).set_body_raw(
        r#"{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEfGh123"}}"#,
        "application/json",
    ))
    .await;
    let daemon = Daemon::of("threads", &server.uri(), "1h");
    let out = daemon.webcare(&["once"]);
    let text = common::text(&out);
    assert!(!text.contains(threads::TOKEN), "{text}");
    let sources = common::text(&daemon.webcare(&["sources"]));
    assert!(
        sources.contains("threads: token rejected (code 190)"),
        "{sources}"
    );
    assert!(!sources.contains(threads::TOKEN), "{sources}");
}

/// With `replies = true` the source reads the conversations under the brand's own posts: the
/// customers' replies (two conversation pages) are mentions, a post without replies is not
/// read, and the brand's reply to Lotte marks her reply answered.
#[tokio::test(flavor = "multi_thread")]
async fn replies_under_the_brands_posts_are_mentions_and_its_answers_mark_them() {
    // What the fake serves: fixtures/threads/routes.toml, groups `main` and `replies`.
    let server = fake::start("threads").await;
    fake::mount(&server, "threads", "replies").await;
    let daemon = Daemon::new(&format!(
        "{}replies = true\n",
        fakes::source("threads", &server.uri(), "1h")
    ))
    .envs(&fakes::env("threads"));

    let out = daemon.webcare(&["check-config"]);
    assert!(
        common::text(&out).contains("reads the replies under its own posts of the last 3days"),
        "{out:?}"
    );
    daemon.once_stores(6);
    let ids = daemon.ids();
    assert!(ids.contains(&"18092000000000001".to_string()), "{ids:?}");
    assert!(ids.contains(&"18092000000000003".to_string()), "{ids:?}");
    assert!(!ids.contains(&"18092000000000002".to_string()), "{ids:?}");
    let replied = chrono::DateTime::parse_from_rfc3339("2026-11-26T09:05:12Z").unwrap();
    assert!(
        daemon.answered("threads").contains(&(
            "18092000000000001".to_string(),
            replied.timestamp(),
            "fjordlink".to_string()
        )),
        "{:?}",
        daemon.answered("threads")
    );
    let reqs = server.received_requests().await.unwrap();
    assert!(
        !reqs
            .iter()
            .any(|r| r.url.path() == "/v1.0/18090000000000003/conversation"),
        "a post without replies was read"
    );
}
