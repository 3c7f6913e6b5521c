//! End to end: the `webcare` binary reads a fake App Store review feed on 127.0.0.1 and stores
//! each review once, with its star rating.

mod common;

use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_reviews_with_their_stars_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("app_store").await;
    let worst = daemon.stored_by_id("nl:12648830011");
    assert_eq!(worst["rating"], 1);
    assert_eq!(worst["title"], "Inloggen lukt niet meer");
    let good = daemon.stored_by_id("nl:12648801277");
    assert_eq!(good["rating"], 4);
    // One or two stars reach the classifier as complaint evidence.
    assert_eq!(worst["label"], "complaint", "{worst}");
    let slow = daemon.stored_by_id("nl:12631907744");
    assert_eq!(slow["rating"], 2);
    assert_eq!(slow["label"], "complaint", "{slow}");

    daemon.once_stores(0);
    daemon.state_ok("app_store");

    let out = daemon.webcare(&["sources"]);
    assert!(
        common::text(&out).contains("app_store"),
        "{}",
        common::text(&out)
    );
}
