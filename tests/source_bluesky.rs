//! End to end: the real `webcare` binary logs in to a fake Bluesky PDS on 127.0.0.1 with an
//! app password from an environment variable, searches posts, and stores them.

mod common;

use common::fake;
use common::fakes::{self, bluesky};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_logs_in_stores_posts_and_a_second_once_stores_nothing() {
    let (_server, daemon) = Daemon::first_poll("bluesky").await;
    daemon.once_stores_nothing_new();

    let sanne = daemon.stored_where("author_handle", "sanne.bsky.social");
    assert_eq!(
        sanne["url"],
        "https://bsky.app/profile/sanne.bsky.social/post/3mb4xk2vjws2c"
    );
    assert_eq!(sanne["lang"], "nl");

    daemon.state_ok_storing("bsky", "bluesky", 4);

    // Neither the password nor the session tokens reach the database.
    let conn = rusqlite::Connection::open(daemon.db()).unwrap();
    let leaks: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM mentions WHERE raw LIKE '%e2e-app-password%' OR raw LIKE '%access-one%')
                  + (SELECT count(*) FROM source_state WHERE cursor LIKE '%e2e-app-password%' OR cursor LIKE '%access-one%')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leaks, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_refuses_a_search_without_login_and_names_the_account_when_given() {
    let anonymous =
        Daemon::new("[[sources]]\nname = \"bsky\"\nkind = \"bluesky\"\nquery = \"fjordlink\"\n");
    let out = anonymous.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains("sources[0].identifier: Bluesky search requires a login"),
        "{text}"
    );

    let server = fake::start("bluesky").await;
    let out = Daemon::of("bluesky", &server.uri(), "5m").webcare(&["check-config"]);
    assert!(out.status.success(), "{out:?}");
    let text = common::text(&out);
    assert!(
        text.contains(&format!(
            "searches as webcare.fjordlink.nl via {}",
            server.uri()
        )),
        "{text}"
    );
    // check-config only describes: it does not log in.
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_html_page_is_reported_as_login_required_and_backs_off_fully() {
    let server = wiremock::MockServer::start().await;
    fake::mount(&server, "bluesky", "forbidden").await;
    let daemon = Daemon::new(&format!(
        "[[sources]]\nname = \"bsky\"\nkind = \"bluesky\"\nquery = \"fjordlink\"\n\
         base_url = \"{}\"\ninterval = \"5m\"\nmax_backoff = \"6h\"\n",
        server.uri()
    ));
    daemon.webcare(&["once"]);
    let state = daemon.source_state();
    let error = state["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("bluesky: login required"), "{state}");
    assert_eq!(daemon.count("bsky"), 0);
    // Not a passing outage: the next poll waits the whole max_backoff, not one interval.
    let wait = state["next_poll_at"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!(wait > 5 * 3600, "{state}");
}

/// Logged in as the brand, the source also reads its reply, mention and quote notifications:
/// a reply under the brand's post that never says "fjordlink" is found, likes are not, and the
/// brand's own reply (read from its own feed, where its reposts are skipped) marks the mention
/// it answers.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_bring_replies_quotes_and_mentions_and_the_brands_reply_answers() {
    use common::fakes::fixture_reply;
    use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer};

    let server = MockServer::start().await;
    let json = |name: &str| fixture_reply(200, "bluesky", name);
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(json("create-session.json"))
        .mount(&server)
        .await;
    let get = |p: &str| {
        Mock::given(method("GET")).and(path(p)).and(header(
            "authorization",
            format!("Bearer {}", bluesky::ACCESS1).as_str(),
        ))
    };
    get("/xrpc/app.bsky.feed.searchPosts")
        .respond_with(json("search-empty.json"))
        .mount(&server)
        .await;
    get("/xrpc/app.bsky.feed.getAuthorFeed")
        .and(query_param("actor", "fjordlink.nl"))
        .and(query_param("filter", "posts_with_replies"))
        .respond_with(json("author-feed-own.json"))
        .mount(&server)
        .await;
    let notes = "/xrpc/app.bsky.notification.listNotifications";
    get(notes)
        .and(query_param("reasons", "reply"))
        .and(query_param("reasons", "quote"))
        .and(query_param_is_missing("cursor"))
        .respond_with(json("notifications-page1.json"))
        .mount(&server)
        .await;
    get(notes)
        .and(query_param("cursor", "2026-11-25T14:40:12.877Z"))
        .respond_with(json("notifications-page2.json"))
        .mount(&server)
        .await;

    let source = format!(
        r#"
[[sources]]
name = "bsky"
kind = "bluesky"
watch = "Fjordlink"
query = "fjordlink"
base_url = "{}"
identifier = "fjordlink.nl"
password_env = "WEBCARE_TEST_BSKY_PASSWORD"
notifications = true
own_accounts = ["fjordlink.nl"]
interval = "5m"
backfill = "3650d"
"#,
        server.uri()
    );
    let daemon = Daemon::new(&source).envs(&fakes::env("bluesky"));
    let ruben = "at://did:plc:rubenrotterdam00000000001/app.bsky.feed.post/3mbaw7rubn1";
    daemon.once_stores_ids(&[
        "at://did:plc:evaamsterdam000000000001/app.bsky.feed.post/3mbaz5evaq1",
        "at://did:plc:pieterleiden0000000000001/app.bsky.feed.post/3mbb3pieter2",
        ruben,
    ]);
    daemon.assert_answered("bsky", ruben, "2026-11-25T14:31:07Z", "fjordlink.nl");

    // The next poll reads notifications only down to the newest one it has.
    daemon.once_stores_nothing_new();
    let reqs = server.received_requests().await.unwrap();
    let note_reads = reqs.iter().filter(|r| r.url.path() == notes).count();
    assert_eq!(
        note_reads, 3,
        "two pages, then one page down to the last read"
    );
    assert!(!daemon.db_contains("e2e-app-password"));
}

/// `check-config` says what `notifications` needs: without it, that replies lacking the search
/// words are missed; with it, that the login must be the brand's account, and when that login
/// is not among `own_accounts`, that its notifications may not be the brand's. Offline.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_says_what_notifications_need_from_the_login() {
    let server = fake::start("bluesky").await;
    let describe = |extra: &str| {
        let daemon = Daemon::new(&format!(
            "{}{extra}",
            fakes::source("bluesky", &server.uri(), "5m")
        ))
        .envs(&fakes::env("bluesky"));
        let out = daemon.webcare(&["check-config"]);
        assert!(out.status.success(), "{out:?}");
        common::text(&out)
    };

    let off = describe("");
    assert!(
        off.contains("notifications off: replies under the brand's posts are read only when they contain the search words"),
        "{off}"
    );
    assert!(!off.contains("reads the notifications"), "{off}");

    let brand = describe("notifications = true\nown_accounts = [\"@Webcare.Fjordlink.nl\"]\n");
    assert!(
        brand.contains("reads the notifications of webcare.fjordlink.nl (replies under its posts, @mentions, quotes): needs this login to be the brand's own account"),
        "{brand}"
    );
    assert!(!brand.contains("is not in own_accounts"), "{brand}");

    let stranger = describe("notifications = true\nown_accounts = [\"fjordlink.nl\"]\n");
    assert!(
        stranger.contains("note: webcare.fjordlink.nl is not in own_accounts"),
        "{stranger}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
