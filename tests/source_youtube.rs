//! End to end: the `webcare` binary polls a fake YouTube Data API on 127.0.0.1 and stores the
//! videos and comments once, without the API key ever reaching the database.

mod common;

use common::fake;
use common::fakes::youtube::KEY;
use common::platform::Daemon;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_videos_and_comments_exactly_once() {
    let (server, daemon) = Daemon::first_poll("youtube").await;

    // Second run: the search is not due yet, and no comment is newer than what was read.
    daemon.once_stores_nothing_new();

    daemon.state_ok_storing("youtube", "youtube", 9);
    assert!(!daemon.db_contains(KEY), "API key stored");

    let reqs = server.received_requests().await.unwrap();
    let searches = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/search"))
        .count();
    assert_eq!(
        searches, 2,
        "two search pages on the first run, none on the second"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_reports_a_server_error_with_the_key_redacted() {
    let server = fake::answering(ResponseTemplate::new(500)).await;
    let daemon = Daemon::of("youtube", &server.uri(), "1h");
    let out = daemon.webcare(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("key=REDACTED"), "{all}");
    assert!(!all.contains(KEY), "{all}");
    let text = daemon.assert_failing();
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_quota_error_leaves_comment_polling_running() {
    let server = MockServer::start().await;
    // Google's separate search bucket is empty; the comment units are not.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/youtube/v3/search"))
        .respond_with(common::fakes::fixture_reply(
            403,
            "youtube",
            "error-quota-exceeded.json",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    fake::mount(&server, "youtube", "main").await;
    let daemon = Daemon::of("youtube", &server.uri(), "1h");
    let stdout = daemon.once();
    // No video found, so only the channel's comments are read: all three of its threads.
    assert!(stdout.contains("stored    3"), "{stdout}");
    assert_eq!(
        daemon.ids(),
        [
            "UgyCh1fjordlinkthread0003",
            "UgyCh2fjordlinkthread0002",
            "UgyCh3fjordlinkthread0001"
        ]
    );
    let state = daemon.source_state();
    assert_eq!(state["state"], "ok", "{state}");

    let out = daemon.webcare(&["check-config"]);
    let text = common::text(&out);
    assert!(
        text.contains("projected search calls: up to 48 a day of 100")
            && text.contains("projected comment units: about 504 a day of 10000")
            && text.contains("within daily_quota"),
        "{text}"
    );
}
