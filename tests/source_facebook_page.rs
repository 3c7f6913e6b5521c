//! End to end: the `webcare` binary reads a fake Facebook page on 127.0.0.1 as an owned channel
//! and stores its visitor posts and comments once.

mod common;

use common::fakes::{facebook_page, fixture_reply};
use common::platform::Daemon;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

fn daemon(base_url: &str) -> Daemon {
    Daemon::with_watch(
        "fjordlink -vacature",
        &facebook_page::source(base_url, "1h"),
    )
    .envs(facebook_page::ENV)
}

/// Owned channel: the comment that does not name the brand is stored too.
const EXPECTED: [&str; 6] = [
    "104857600000001_900000000000002",
    "104857600000001_900000000000004",
    "900000000000001_1200000000000001",
    "900000000000001_1200000000000002",
    "900000000000001_1200000000000003",
    "900000000000001_1200000000000004",
];

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_visitor_posts_and_comments_exactly_once() {
    let server = facebook_page::start().await;
    let daemon = daemon(&server.uri());
    let stdout = daemon.once();
    assert!(stdout.contains("stored    6"), "{stdout}");
    assert_eq!(daemon.ids(), EXPECTED);
    // The page answered Jan's comment ten minutes after he wrote it.
    let replied = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:10:00Z").unwrap();
    assert_eq!(
        daemon.answered("facebook"),
        [(
            "900000000000001_1200000000000001".to_string(),
            replied.timestamp(),
            "Fjordlink".to_string()
        )]
    );

    // The fake has nothing newer than the first run: the second stores nothing.
    let stdout = daemon.once();
    assert!(stdout.contains("stored    0"), "{stdout}");
    assert_eq!(daemon.ids().len(), 6);

    let state = daemon.source_state();
    assert_eq!(state["kind"], "facebook_page");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 6);
    assert!(!daemon.db_contains(facebook_page::TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn once_tells_the_operator_to_renew_an_expired_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fixture_reply(400, "facebook_page", "error-190.json"))
        .expect(1)
        .mount(&server)
        .await;
    let daemon = daemon(&server.uri());
    let out = daemon.webcare(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("facebook_page: token rejected (code 190); renew the access token"),
        "{stdout}"
    );
    let sources = daemon.webcare(&["sources", "--json"]);
    let text = String::from_utf8_lossy(&sources.stdout);
    assert!(text.contains("\"state\":\"failing\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_comments_and_stops_cleanly_on_sigterm() {
    let server = facebook_page::start().await;
    let daemon = daemon(&server.uri());
    let run = daemon.run_until(|| daemon.count("facebook") == EXPECTED.len() as i64);
    let status = run.stop();
    assert_eq!(
        daemon.ids().len(),
        EXPECTED.len(),
        "run did not store within 20 s"
    );
    assert!(status.success(), "webcare run exited with {status:?}");
}
