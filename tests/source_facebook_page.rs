//! End to end: the `webcare` binary reads a fake Facebook page on 127.0.0.1 as an owned channel
//! and stores its visitor posts and comments once.

mod common;

use common::fake;
use common::fakes::{self, facebook_page, fixture_reply};
use common::platform::Daemon;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

fn daemon(base_url: &str) -> Daemon {
    Daemon::with_watch(
        "fjordlink -vacature",
        &fakes::source("facebook_page", base_url, "1h"),
    )
    .envs(&fakes::env("facebook_page"))
}

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_visitor_posts_and_comments_exactly_once() {
    let server = fake::start("facebook_page").await;
    let daemon = daemon(&server.uri());
    // Owned channel: the comment that does not name the brand is stored too.
    let ids = fakes::E2e::load("facebook_page").stored.ids;
    daemon.once_stores_ids(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    // The page answered Jan's comment ten minutes after he wrote it.
    daemon.assert_answered(
        "facebook",
        "900000000000001_1200000000000001",
        "2026-11-25T08:10:00Z",
        "Fjordlink",
    );

    // The fake has nothing newer than the first run: the second stores nothing.
    daemon.once_stores_nothing_new();

    daemon.state_ok_storing("facebook", "facebook_page", 6);
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
    daemon.once_fails_saying("facebook_page: token rejected (code 190); renew the access token");
    daemon.assert_failing();
}
