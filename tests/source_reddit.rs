//! End to end: the real `webcare` binary gets an app-only token from a fake Reddit on
//! 127.0.0.1 (secret from an environment variable), reads a subreddit's search and comment
//! stream, and stores the mentions once.

mod common;

use common::fake;
use common::platform::Daemon;
use wiremock::MockServer;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_posts_and_comments_and_a_second_once_stores_nothing() {
    let (_server, daemon) = Daemon::first_poll("reddit").await;
    daemon.once_stores_nothing_new();

    let post = daemon.stored_by_id("t3_1h2k9xa");
    assert_eq!(
        post["title"],
        "Fjordlink storing in Utrecht - al 4 uur geen internet"
    );
    assert_eq!(post["author_handle"], "Pieter_Utrecht");

    daemon.state_ok_storing("reddit", "reddit", 5);
    let cursor = daemon.cursor("reddit");
    assert!(!cursor.contains("e2e-secret") && !cursor.contains("app-token"));
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["streams"]["posts"]["since"], 1795608000);
    assert_eq!(cursor["streams"]["comments"]["since"], 1795608900);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_secret_fails_once_with_the_key_to_fix() {
    let server = MockServer::start().await;
    fake::mount(&server, "reddit", "revoked").await;
    let daemon = Daemon::of("reddit", &server.uri(), "5m");
    let stdout = daemon.once_fails_saying("client_secret_env/client_secret_file of source reddit");
    assert!(!stdout.contains("e2e-secret"));
    assert_eq!(daemon.source_state()["state"], "failing");
}
