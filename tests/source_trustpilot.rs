//! End to end: the `webcare` binary reads a fake Trustpilot Business API on 127.0.0.1 with its
//! API key from the environment and stores each review once, with its star rating.

mod common;

use common::fakes::{self, trustpilot};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_reviews_over_two_pages_with_their_stars_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("trustpilot").await;
    let outage = daemon.stored_by_id("6744a1f20b5e3c0f9a7d2e01");
    assert_eq!(outage["rating"], 1);
    assert_eq!(outage["title"], "Al drie dagen geen internet");
    assert_eq!(outage["label"], "complaint", "{outage}");
    assert_eq!(
        outage["url"],
        "https://www.trustpilot.com/reviews/6744a1f20b5e3c0f9a7d2e01"
    );
    // Fjordlink answered Anouk's review publicly (`companyReply`) the next morning.
    daemon.assert_answered(
        "trustpilot",
        "6742c9e10b5e3c0f9a7d0b17",
        "2026-11-24T09:15:31Z",
        "Fjordlink",
    );
    let praise = daemon.stored_by_id("6743f0aa0b5e3c0f9a7d1c55");
    assert_eq!(praise["rating"], 5);
    assert_ne!(praise["label"], "complaint", "{praise}");

    daemon.once_stores(0);
    daemon.state_ok("trustpilot");
    assert!(
        !daemon.db_contains(trustpilot::KEY),
        "the API key reached the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_names_a_missing_api_key_and_lists_the_kind() {
    let daemon = Daemon::new(&fakes::source("trustpilot", "http://127.0.0.1:9", "1h"));
    let out = daemon.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("api_key_env") && text.contains(trustpilot::KEY_VAR),
        "{text}"
    );

    let daemon = daemon.envs(&fakes::env("trustpilot"));
    let out = daemon.webcare(&["check-config"]);
    assert!(out.status.success(), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("business unit 5f3a1c2b9d8e7f6a5b4c3d2e"),
        "{text}"
    );
    assert!(!text.contains(trustpilot::KEY), "{text}");
}
