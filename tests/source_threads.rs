//! End to end: the `webcare` binary reads a fake Threads API on 127.0.0.1 (keyword search over
//! two cursor pages, and the account's mentions) with its token from the environment, and
//! stores each post once, leaving out reposts and the brand's own posts.

mod common;

use common::fakes::threads;
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_search_results_and_mentions_exactly_once() {
    let server = threads::start().await;
    let daemon = Daemon::new(&threads::source(&server.uri(), "1h")).envs(threads::ENV);
    let stdout = daemon.once();
    assert!(stdout.contains("stored    4"), "{stdout}");
    assert_eq!(
        daemon.ids(),
        [
            "18047781230987655",
            "18063425671234561",
            "18063425671234562",
            "18091234567800011"
        ]
    );
    let stored = daemon.stored();
    let outage = stored
        .iter()
        .find(|m| m["external_id"] == "18063425671234561")
        .unwrap();
    assert_eq!(outage["author_handle"], "sanne.bakt.brood");
    assert_eq!(
        outage["url"],
        "https://www.threads.com/@sanne.bakt.brood/post/DRt4kQ2jFjL"
    );
    assert_eq!(outage["urgency"], "urgent", "{outage}");
    // The brand's own reply to Mette is not a mention: it marks her post answered.
    let replied = chrono::DateTime::parse_from_rfc3339("2026-11-24T18:40:05Z").unwrap();
    assert_eq!(
        daemon.answered("threads"),
        [(
            "18047781230987655".to_string(),
            replied.timestamp(),
            "fjordlink".to_string()
        )]
    );

    let stdout = daemon.once();
    assert!(stdout.contains("stored    0"), "{stdout}");
    let state = daemon.source_state();
    assert_eq!(state["kind"], "threads");
    assert_eq!(state["state"], "ok");
    // Both polls' searches found posts (the fake ignores `since`), so both count.
    assert_eq!(
        state["usage"], "2 of 2000 keyword queries in the last 24 h",
        "{state}"
    );
    assert!(
        !daemon.db_contains(threads::TOKEN),
        "the token reached the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_shown_in_sources_without_the_token() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_raw(
            r#"{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEfGh123"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let daemon = Daemon::new(&threads::source(&server.uri(), "1h")).envs(threads::ENV);
    let out = daemon.webcare(&["once"]);
    let text = common::text(&out);
    assert!(!text.contains(threads::TOKEN), "{text}");
    let sources = common::text(&daemon.webcare(&["sources"]));
    assert!(
        sources.contains("threads: token rejected (code 190)"),
        "{sources}"
    );
    assert!(!sources.contains(threads::TOKEN), "{sources}");
}
