//! End to end: the `webcare` binary reads a fake Instagram professional account on 127.0.0.1
//! as an owned channel and stores comments and tags once.

mod common;

use common::fakes::{fixture_reply, instagram};
use common::platform::Daemon;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

fn daemon(base_url: &str) -> Daemon {
    Daemon::new(&instagram::source(base_url, "1h")).envs(instagram::ENV)
}

const EXPECTED: [&str; 6] = [
    "17850000000000011",
    "17850000000000013",
    "17850000000000015",
    "17850000000000021",
    "17910000000000001",
    "17910000000000003",
];

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_comments_and_tags_exactly_once() {
    let server = instagram::start().await;
    let daemon = daemon(&server.uri());
    let stdout = daemon.once();
    assert!(stdout.contains("stored    6"), "{stdout}");
    assert_eq!(daemon.ids(), EXPECTED);

    // The brand's reply under Lotte's comment is no mention: it marks her comment answered.
    let replied = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:20:00Z").unwrap();
    assert_eq!(
        daemon.answered("instagram"),
        [(
            "17850000000000011".to_string(),
            replied.timestamp(),
            "fjordlink".to_string()
        )]
    );

    let stdout = daemon.once();
    assert!(stdout.contains("stored    0"), "{stdout}");

    let state = daemon.source_state();
    assert_eq!(state["kind"], "instagram");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 6);
    assert!(!daemon.db_contains(instagram::TOKEN));

    // The second run read no comments: no comment count had changed.
    let reqs = server.received_requests().await.unwrap();
    let comment_reads = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/comments"))
        .count();
    assert_eq!(comment_reads, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn once_tells_the_operator_to_renew_a_revoked_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fixture_reply(400, "instagram", "error-190.json"))
        .expect(1)
        .mount(&server)
        .await;
    let daemon = daemon(&server.uri());
    let out = daemon.webcare(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("instagram: token rejected (code 190); renew the access token"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_comments_and_stops_cleanly_on_sigterm() {
    let server = instagram::start().await;
    let daemon = daemon(&server.uri());
    let run = daemon.run_until(|| daemon.count("instagram") == EXPECTED.len() as i64);
    let status = run.stop();
    assert_eq!(
        daemon.ids().len(),
        EXPECTED.len(),
        "run did not store within 20 s"
    );
    assert!(status.success(), "webcare run exited with {status:?}");
}
