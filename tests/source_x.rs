//! End to end: the `webcare` binary polls a fake X API on 127.0.0.1 and stores the posts once.

mod common;

use common::fake;
use common::fakes;
use common::platform::Daemon;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A daemon with an hourly `x` source named `x-fjordlink` reading the fake at `base`, searching
/// for `query` (a TOML string), with the bearer token of [`&fakes::env("x")`] and the TOML lines `extra`.
fn brand_daemon(base: &str, query: &str, extra: &str) -> Daemon {
    let source = format!(
        "[[sources]]\nname = \"x-fjordlink\"\nkind = \"x\"\ninterval = \"1h\"\nbase_url = \"{base}\"\n\
         query = {query}\nbearer_token_env = \"WEBCARE_TEST_X_BEARER\"\n{extra}\n"
    );
    Daemon::new(&source).envs(&fakes::env("x"))
}

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_new_posts_exactly_once_and_reports_the_source_state() {
    let (server, daemon) = Daemon::first_poll("x").await;

    let stdout = daemon.once();
    assert!(stdout.contains("fetched    0  stored    0"), "{stdout}");
    assert_eq!(daemon.ids().len(), 5);

    daemon.state_ok_storing("x-fjordlink", "x", 5);
    // The token never reaches the database or the output.
    assert!(!daemon.db_contains("e2e-token"));

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3, "two pages, then one incremental request");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_reports_a_rejected_token_and_exits_75() {
    let server = fake::answering(ResponseTemplate::new(401)).await;
    let daemon = Daemon::of("x", &server.uri(), "1h");
    daemon.once_fails_saying("x: token rejected (401); check credentials bearer_token");
    assert_eq!(daemon.source_state()["state"], "failing");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_week_down_an_old_since_id_falls_back_to_start_time_and_logs_the_gap() {
    let server = MockServer::start().await;
    fake::mount(&server, "x", "stale-since-id").await;
    fake::mount(&server, "x", "main").await;
    let daemon = Daemon::of("x", &server.uri(), "1h");
    daemon.once();
    assert_eq!(daemon.ids().len(), 5);

    // The stored since_id is now "too old": X answers 400 and the source reads from start_time.
    let out = daemon.webcare(&["once"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("since_id is older than the seven days recent search covers")
            && stderr.contains("were not read"),
        "{stderr}"
    );
    assert_eq!(daemon.ids().len(), 5, "nothing is stored twice");
    let state = daemon.source_state();
    assert_eq!(state["state"], "ok", "{state}");
    let reqs = server.received_requests().await.unwrap();
    let start_times = reqs
        .iter()
        .filter(|r| r.url.query_pairs().any(|(k, _)| k == "start_time"))
        .filter(|r| r.url.query_pairs().all(|(k, _)| k != "next_token"))
        .count();
    assert_eq!(
        start_times, 2,
        "the backfill run, then the fallback run after the 400"
    );

    // What was read is counted and priced for the operator.
    let usage = state["usage"].as_str().unwrap();
    assert!(usage.contains("posts read today"), "{usage}");
    assert!(usage.contains("at $0.005 per post"), "{usage}");
    let out = daemon.webcare(&["check-config"]);
    let text = common::text(&out);
    assert!(
        text.contains("reads at most no cap posts a day, 5000 a month (≤ $25.00 a month"),
        "{text}"
    );
}

/// The brand's replies come through the same search (`from:Fjordlink is:reply`): they are no
/// mentions, and mark what they answer as answered, also when the answered post comes only on
/// a later page, read by a later poll.
#[tokio::test(flavor = "multi_thread")]
async fn the_brands_replies_mark_the_posts_they_answer_answered() {
    use common::fakes::fixture_reply;
    use wiremock::matchers::{path, query_param, query_param_is_missing};

    let server = MockServer::start().await;
    let search = || {
        Mock::given(method("GET"))
            .and(path("/2/tweets/search/recent"))
            .and(query_param(
                "query",
                "((fjordlink) OR ((from:Fjordlink) is:reply) OR (is:quote (url:\"x.com/Fjordlink/status\" OR url:\"twitter.com/Fjordlink/status\"))) -is:retweet",
            ))
    };
    search()
        .and(query_param_is_missing("next_token"))
        .and(query_param_is_missing("since_id"))
        .respond_with(fixture_reply(200, "x", "own-replies-page1.json"))
        .mount(&server)
        .await;
    search()
        .and(query_param(
            "next_token",
            "b26v89c19zqg8o3fr5qmh8x6q0ts0dbb2nq8akownrep2",
        ))
        .respond_with(fixture_reply(200, "x", "own-replies-page2.json"))
        .mount(&server)
        .await;
    search()
        .and(query_param("since_id", "1861900000000000004"))
        .respond_with(fixture_reply(200, "x", "search-empty.json"))
        .mount(&server)
        .await;
    let daemon = brand_daemon(
        &server.uri(),
        "\"fjordlink\"",
        "own_accounts = [\"@Fjordlink\"]\nmax_pages = 1",
    );
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();

    // Page 1: Bram's post and both brand replies, one to Sanne's post that is not here yet.
    daemon.once();
    assert_eq!(daemon.ids(), ["1861900000000000002"]);
    assert_eq!(
        daemon.answered("x-fjordlink"),
        [(
            "1861900000000000002".to_string(),
            at("2026-11-25T09:20:02Z"),
            "Fjordlink".to_string()
        )]
    );

    // Page 2, on the next poll: Sanne's post arrives already answered.
    daemon.once();
    assert_eq!(daemon.ids(), ["1861900000000000001", "1861900000000000002"]);
    assert_eq!(
        daemon.answered("x-fjordlink"),
        [
            (
                "1861900000000000001".to_string(),
                at("2026-11-25T09:25:41Z"),
                "Fjordlink".to_string()
            ),
            (
                "1861900000000000002".to_string(),
                at("2026-11-25T09:20:02Z"),
                "Fjordlink".to_string()
            ),
        ]
    );
}

/// A quote post of the brand's post is a mention even when it never names the brand: the
/// search asks for quotes by the quoted post's address, which the expanded link carries.
#[tokio::test(flavor = "multi_thread")]
async fn quote_posts_of_the_brands_posts_are_mentions() {
    use common::fakes::fixture_reply;
    use wiremock::matchers::{path, query_param};

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param(
            "query",
            "((\"fjordlink tv\") OR ((from:Fjordlink) is:reply) OR (is:quote (url:\"x.com/Fjordlink/status\" OR url:\"twitter.com/Fjordlink/status\"))) -is:retweet",
        ))
        .respond_with(fixture_reply(200, "x", "quotes.json"))
        .expect(1)
        .mount(&server)
        .await;
    let daemon = brand_daemon(
        &server.uri(),
        "'\"fjordlink tv\"'",
        "own_accounts = [\"Fjordlink\"]",
    );
    daemon.once();
    let stored = daemon.stored();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["external_id"], "1861950000000000007");
    assert_eq!(stored[0]["author_handle"], "kim_denhaag");
    assert_eq!(
        stored[0]["text"],
        "Prijsverhoging van 12% en dan dit durven posten 🙄 https://x.com/Fjordlink/status/1861950000000000001"
    );
}
