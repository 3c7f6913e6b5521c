//! End to end: the `webcare` binary renews the owner's Google token at a fake token endpoint,
//! reads a fake Business Profile review list over two pages on 127.0.0.1 and stores each
//! review once, with its star word turned into a rating.

mod common;

use common::fakes::{self, google_business};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_location_reviews_with_their_stars_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("google_business").await;
    let by_id = |id: &str| daemon.stored_by_id(id);
    let sent_away = by_id("AbFvOqnB3kP0fjordlinkRev01");
    assert_eq!(sent_away["rating"], 1);
    assert_eq!(sent_away["label"], "complaint", "{sent_away}");
    assert_eq!(by_id("AbFvOqkX8mQ2fjordlinkRev02")["rating"], 5);
    assert_eq!(by_id("AbFvOqm7tW5rfjordlinkRev03")["rating"], 2);
    // The owner answered Tom's review (`reviewReply`); the API names only the location.
    daemon.assert_answered(
        "gbp",
        "AbFvOqm7tW5rfjordlinkRev03",
        "2026-11-23T08:03:12Z",
        &format!("owner of location {}", google_business::LOCATION),
    );

    daemon.once_stores(0);
    daemon.state_ok("google_business");
    for secret in [
        google_business::CLIENT_SECRET,
        google_business::REFRESH,
        google_business::ACCESS,
    ] {
        assert!(!daemon.db_contains(secret), "{secret} reached the database");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_needs_both_owner_secrets() {
    let daemon = Daemon::new(&fakes::source(
        "google_business",
        "http://127.0.0.1:9",
        "1h",
    ))
    .envs(&[(google_business::SECRET_VAR, google_business::CLIENT_SECRET)]);
    let out = daemon.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("refresh_token_env") && text.contains(google_business::REFRESH_VAR),
        "{text}"
    );
    assert!(!text.contains(google_business::CLIENT_SECRET), "{text}");
}
