//! End to end: the real `webcare` binary polls a fake Hacker News search API on 127.0.0.1
//! and stores what it finds in a real SQLite file.

mod common;

use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_new_hits_and_a_second_once_stores_nothing() {
    let (_server, daemon) = Daemon::first_poll("hackernews").await;
    daemon.once_stores_nothing_new();

    let state = daemon.state_ok_storing("hn", "hackernews", 4);
    assert_eq!(state["consecutive_failures"], 0);
    let cursor: serde_json::Value = serde_json::from_str(&daemon.cursor("hn")).unwrap();
    assert_eq!(cursor["since"], 1795608000);

    // The stored mention reads as a person would want it.
    let story = daemon.stored_by_id("46010004");
    assert_eq!(
        story["url"],
        "https://news.ycombinator.com/item?id=46010004"
    );
    assert_eq!(story["author_handle"], "kasper_dk");
}
