//! End to end: the `webcare` binary reads a fake Instagram professional account on 127.0.0.1
//! as an owned channel and stores comments, tags and hashtag media once.

mod common;

use common::fake;
use common::fakes::{self, fixture_reply, instagram};
use common::platform::Daemon;
use wiremock::Request;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_comments_and_tags_exactly_once() {
    let (server, daemon) = Daemon::first_poll("instagram").await;

    // The brand's reply under Lotte's comment is no mention: it marks her comment answered.
    daemon.assert_answered(
        "instagram",
        "17850000000000011",
        "2026-11-25T08:20:00Z",
        "fjordlink",
    );

    daemon.once_stores_nothing_new();

    daemon.state_ok_storing("instagram", "instagram", 6);
    assert!(!daemon.db_contains(instagram::TOKEN));

    // The second run read no comments: no comment count had changed.
    let reqs = server.received_requests().await.unwrap();
    let comment_reads = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/comments"))
        .count();
    assert_eq!(comment_reads, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn once_tells_the_operator_to_renew_a_revoked_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fixture_reply(400, "instagram", "error-190.json"))
        .expect(1)
        .mount(&server)
        .await;
    let daemon = Daemon::of("instagram", &server.uri(), "1h");
    daemon.once_fails_saying("instagram: token rejected (code 190); renew the access token");
}

/// The number of requests whose path ends with `tail`.
fn requests_to(reqs: &[Request], tail: &str) -> usize {
    reqs.iter().filter(|r| r.url.path().ends_with(tail)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_support_accounts_tag_is_not_a_mention_and_tags_can_be_switched_off() {
    let server = fake::start("instagram").await;
    // The fake's config lists `fjordlink_klantenservice` in `own_accounts`; its tagged post is
    // on the first page of tags and must not be stored.
    let daemon = Daemon::of("instagram", &server.uri(), "1h");
    daemon.once();
    assert!(!daemon.ids().contains(&"17910000000000004".to_string()));

    let off = Daemon::new(&format!(
        "{}tags = false\n",
        fakes::source("instagram", &server.uri(), "1h")
    ))
    .envs(&fakes::env("instagram"));
    let before = requests_to(&server.received_requests().await.unwrap(), "/tags");
    let stdout = off.once();
    assert!(stdout.contains("stored    4"), "{stdout}");
    assert!(off.ids().iter().all(|id| !id.starts_with("1791")));
    let after = requests_to(&server.received_requests().await.unwrap(), "/tags");
    assert_eq!(before, after, "tags = false must not read /tags");
}

#[tokio::test(flavor = "multi_thread")]
async fn hashtag_media_are_read_and_the_hashtag_looked_up_once() {
    let server = fake::start("instagram").await;
    fake::mount(&server, "instagram", "hashtags").await;
    let daemon = Daemon::new(&format!(
        "{}hashtags = [\"#FjordLink\"]\n",
        fakes::source("instagram", &server.uri(), "1h")
    ))
    .envs(&fakes::env("instagram"));

    daemon.once_stores(7);
    let ids = daemon.ids();
    // The captionless reel says nothing, the post of 18 November is before the backfill, and
    // the brand's own post under its hashtag is no mention.
    assert!(ids.contains(&"18040000000000003".to_string()), "{ids:?}");
    assert!(!ids.contains(&"18040000000000002".to_string()), "{ids:?}");
    assert!(!ids.contains(&"18040000000000001".to_string()), "{ids:?}");
    assert!(!ids.contains(&"17900000000000001".to_string()), "{ids:?}");
    let hashtag_post = daemon.stored_by_id("18040000000000003");
    assert_eq!(
        hashtag_post["url"], "https://www.instagram.com/p/DHash3xyz/",
        "{hashtag_post}"
    );

    daemon.once_stores(0);
    assert!(daemon.cursor("instagram").contains(instagram::HASHTAG_ID));

    // The id is kept in the cursor: one lookup for two runs, two reads of the recent media.
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&reqs, "/ig_hashtag_search"), 1);
    assert_eq!(requests_to(&reqs, "/recent_media"), 2);
    assert!(!daemon.db_contains(instagram::TOKEN));
}

#[test]
fn check_config_refuses_a_hashtag_past_the_thirty_a_week() {
    let tags = |n: usize| {
        (0..n)
            .map(|i| format!("\"fjord{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = |hashtags: String| {
        Daemon::new(&format!(
            "{}hashtags = [{hashtags}]\n",
            fakes::source("instagram", "http://127.0.0.1:9", "1h")
        ))
        .envs(&fakes::env("instagram"))
    };

    // Thirty distinct hashtags, one of them written twice, fit the budget.
    let thirty = config(format!("{}, \"#Fjord0\"", tags(30)));
    let out = thirty.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let thirty_one = config(tags(31));
    let out = thirty_one.webcare(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".hashtags"), "{stderr}");
    assert!(
        stderr.contains("31 distinct hashtags")
            && stderr.contains("30 distinct hashtags per 7 days: remove 1"),
        "{stderr}"
    );
}

/// What a `[web]` listener on `port` needs, and the mentions webhook's keys for the source.
const HOOK_SECRET_VAR: &str = "WEBCARE_TEST_IG_APP_SECRET";
const HOOK_SECRET: &str = "e2e-app-secret-0123456789abcdef";
const HOOK_TOKEN_VAR: &str = "WEBCARE_TEST_IG_VERIFY_TOKEN";
const HOOK_TOKEN: &str = "fjordlink-verify-7f3a";

/// `X-Hub-Signature-256` for `body` under `secret`, as Meta computes it.
fn meta_signature(secret: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The ids the webhook announced, still waiting for a poll.
fn waiting_announcements(daemon: &Daemon) -> i64 {
    rusqlite::Connection::open(daemon.db())
        .unwrap()
        .query_row("SELECT count(*) FROM announced_mentions", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_mentions_webhooks_bring_caption_and_comment_mentions_exactly_once() {
    let server = fake::start("instagram").await;
    let ig = instagram::IG;
    for (field, file) in [
        (
            "mentioned_media.media_id(17918195224117851){id,caption,timestamp,permalink,username,media_type,comments_count,like_count}",
            "mentioned-media.json",
        ),
        (
            "mentioned_comment.comment_id(17894227972186120){id,text,timestamp,like_count,username,media{id,permalink}}",
            "mentioned-comment.json",
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v24.0/{ig}")))
            .and(query_param("fields", field))
            .respond_with(fixture_reply(200, "instagram", file))
            .mount(&server)
            .await;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let daemon = Daemon::new(&format!(
        "{}webhook_app_secret_env = \"{HOOK_SECRET_VAR}\"\nwebhook_verify_token_env = \"{HOOK_TOKEN_VAR}\"\n\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\ntrusted_header = \"X-Remote-User\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
        fakes::source("instagram", &server.uri(), "1s")
    ))
    .envs(&fakes::env("instagram"))
    .envs(&[(HOOK_SECRET_VAR, HOOK_SECRET), (HOOK_TOKEN_VAR, HOOK_TOKEN)]);
    let described = common::text(&daemon.webcare(&["check-config"]));
    assert!(
        described.contains(
            "caption and comment @mentions arrive by Meta's mentions webhook at /hooks/instagram"
        ),
        "{described}"
    );
    let run = daemon.run_until(|| {
        daemon.count("instagram") == fakes::stored_first("instagram") as i64
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let hook = format!("http://127.0.0.1:{port}/hooks/instagram");
    let http = reqwest::Client::new();

    // Meta's subscription check: the challenge comes back only for our verify token.
    let check = |token: &str| {
        http.get(&hook)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = check(HOOK_TOKEN).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(check("guess").await.unwrap().status(), 403);

    // A delivery signed with another secret, or not at all, is refused and kept nowhere.
    let body = common::fakes::fixture_text("instagram", "webhook-mentions.json");
    let post = |signature: Option<String>| {
        let mut req = http
            .post(&hook)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        req.send()
    };
    let forged = post(Some(meta_signature("not-the-secret", body.as_bytes())));
    assert_eq!(forged.await.unwrap().status(), 403);
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(waiting_announcements(&daemon), 0);

    // The real delivery, and Meta's retry of it: both mentions are read and stored once.
    let signature = meta_signature(HOOK_SECRET, body.as_bytes());
    assert_eq!(post(Some(signature.clone())).await.unwrap().status(), 200);
    assert_eq!(post(Some(signature)).await.unwrap().status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while daemon.count("instagram") < fakes::stored_first("instagram") as i64 + 2
        || waiting_announcements(&daemon) > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the announced mentions were not stored: {:?}",
            daemon.ids()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = run.stop();
    assert!(status.success(), "webcare run exited with {status:?}");

    let stored = daemon.stored();
    let find = |id: &str| {
        stored
            .iter()
            .filter(|m| m["external_id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let caption = find("17918195224117851");
    assert_eq!(caption.len(), 1, "{stored:#?}");
    assert_eq!(caption[0]["author_handle"], "jeroen.vd.berg");
    assert_eq!(caption[0]["url"], "https://www.instagram.com/p/DUmnt1abc/");
    let comment = find("17894227972186120");
    assert_eq!(comment.len(), 1, "{stored:#?}");
    assert_eq!(comment[0]["author_handle"], "sofie_maes");
    assert_eq!(comment[0]["in_reply_to"], "17918195224117999");
    assert!(
        comment[0]["text"]
            .as_str()
            .unwrap()
            .contains("app logt me steeds uit")
    );
    assert_eq!(
        daemon.count("instagram"),
        fakes::stored_first("instagram") as i64 + 2
    );
    assert!(!daemon.db_contains(HOOK_SECRET));
    assert!(!daemon.db_contains(HOOK_TOKEN));
}
