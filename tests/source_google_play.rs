//! End to end: the `webcare` binary signs in to a fake Google token endpoint with a service
//! account's JWT, reads a fake Play Developer API review list over two pages on 127.0.0.1 and
//! stores each review once, with its star rating.

mod common;

use common::fakes::{self, google_play};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_signs_in_and_stores_reviews_with_their_stars_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("google_play").await;
    let crash = daemon.stored_by_id("gp:AOqpTOE4hX0nZsK1cOSPz2vJ8w_fjordlink01");
    assert_eq!(crash["rating"], 1);
    assert_eq!(crash["title"], "Storing melden crasht");
    assert_eq!(crash["label"], "complaint", "{crash}");
    let liked = daemon.stored_by_id("gp:AOqpTOGm3vQ7tLkYpR8sW2dF1n_fjordlink02");
    assert_eq!(liked["rating"], 4);
    // The developer answered Sanne's review (`developerComment`); Play names only the package.
    daemon.assert_answered(
        "play",
        "gp:AOqpTOHb5cT9uMjXqN6rV4eG2o_fjordlink03",
        "2026-11-23T02:46:40Z",
        google_play::PACKAGE,
    );

    daemon.once_stores(0);
    daemon.state_ok("google_play");
    assert!(
        !daemon.db_contains(google_play::ACCESS),
        "the access token reached the database"
    );
    assert!(
        !daemon.db_contains("BEGIN PRIVATE KEY"),
        "the service account key reached the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_names_the_service_account_and_a_bad_key_file() {
    let daemon = Daemon::new(&fakes::source("google_play", "http://127.0.0.1:9", "1h"));
    let out = daemon.webcare(&["check-config"]);
    assert!(out.status.success(), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("webcare-reviews@fjordlink-webcare-test.iam.gserviceaccount.com"),
        "{text}"
    );
    assert!(text.contains("calls per hour of Play's 200"), "{text}");

    let not_a_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_a_key.path(), "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC").unwrap();
    let config = fakes::source("google_play", "http://127.0.0.1:9", "1h")
        .replace(&google_play::key_file(), not_a_key.path().to_str().unwrap());
    let daemon = Daemon::new(&config);
    let out = daemon.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("service_account_file") && text.contains("not a service account key file"),
        "{text}"
    );
    assert!(!text.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{text}");
}
