//! End to end: the real `webcare` binary reads a hashtag timeline and the status search of a
//! fake Mastodon server on 127.0.0.1, with the token passed through an environment variable.

mod common;

use common::fakes::mastodon::{self, S5, S7};
use common::platform::{Daemon, last_segment};

fn daemon(base_url: &str, interval: &str) -> Daemon {
    Daemon::new(&mastodon::source(base_url, interval)).envs(mastodon::ENV)
}

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_tag_and_search_results_once() {
    let server = mastodon::start().await;
    let daemon = daemon(&server.uri(), "5m");

    daemon.once();
    assert_eq!(
        daemon.ids_by(last_segment),
        [
            "117676494028800003",
            "117676729958400011",
            S5,
            "117677201817600006",
            S7
        ]
    );
    let line = daemon.once();
    assert!(line.contains("stored    0"), "{line}");
    assert_eq!(daemon.ids_by(last_segment).len(), 5);

    let boosted = daemon
        .stored()
        .into_iter()
        .find(|m| m["author_handle"] == "amy@hachyderm.io")
        .unwrap();
    assert_eq!(boosted["author_reach"], 9021);
    assert_eq!(
        boosted["text"],
        "Heads up: #Fjordlink mobile data is down in Aarhus too."
    );

    let state = daemon.source_state();
    assert_eq!(state["source"], "fosstodon");
    assert_eq!(state["kind"], "mastodon");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 5);
    let cursor = daemon.cursor("fosstodon");
    assert!(!cursor.contains("e2e-token"));
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["streams"]["tag:fjordlink"]["min_id"], S5);
    assert_eq!(cursor["streams"]["search"]["min_id"], S7);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_variable_is_a_config_error() {
    let daemon = Daemon::new(&mastodon::source("http://127.0.0.1:9", "5m"));
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

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_mentions_and_stops_cleanly_on_sigterm() {
    let server = mastodon::start().await;
    let daemon = daemon(&server.uri(), "1h");
    let run = daemon.run_until(|| daemon.count("fosstodon") >= 5);
    assert_eq!(
        daemon.count("fosstodon"),
        5,
        "the daemon did not store the mentions in time"
    );
    let status = run.stop();
    assert!(status.success(), "exit status {status}");
}
