//! End to end: the real `webcare` binary logs in to a fake Bluesky PDS on 127.0.0.1 with an
//! app password from an environment variable, searches posts, and stores them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGE1: &str = include_str!("../fixtures/bluesky/search-page1.json");
const PAGE2: &str = include_str!("../fixtures/bluesky/search-page2.json");
const EMPTY: &str = include_str!("../fixtures/bluesky/search-empty.json");
const CREATE: &str = include_str!("../fixtures/bluesky/create-session.json");
const ACCESS1: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access-one.sig";

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// Two pages for the backfill; from the stored cursor on, nothing new.
async fn fake_bluesky() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .and(body_json(serde_json::json!({
            "identifier": "webcare.fjordlink.nl", "password": "e2e-app-password"
        })))
        .respond_with(json(CREATE))
        .mount(&server)
        .await;
    let search = || {
        Mock::given(method("GET"))
            .and(path("/xrpc/app.bsky.feed.searchPosts"))
            .and(header(
                "authorization",
                format!("Bearer {ACCESS1}").as_str(),
            ))
    };
    search()
        .and(query_param("since", "2026-11-25T12:00:00.123Z"))
        .respond_with(json(EMPTY))
        .with_priority(1)
        .mount(&server)
        .await;
    search()
        .and(query_param_is_missing("cursor"))
        .respond_with(json(PAGE1))
        .mount(&server)
        .await;
    search()
        .and(query_param("cursor", "3"))
        .respond_with(json(PAGE2))
        .mount(&server)
        .await;
    server
}

fn write_config(dir: &Path, base_url: &str, interval: &str) -> PathBuf {
    let config = dir.join("webcare.toml");
    let text = format!(
        r#"
[store]
path = "{db}"

[[watches]]
name = "Fjordlink"
query = "fjordlink"

[[sources]]
name = "bsky"
kind = "bluesky"
query = "fjordlink"
base_url = "{base_url}"
identifier = "webcare.fjordlink.nl"
password_env = "WEBCARE_TEST_BSKY_PASSWORD"
limit = 3
interval = "{interval}"
backfill = "3650d"
"#,
        db = dir.join("webcare.db").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn command(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_webcare"));
    c.arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("WEBCARE_TEST_BSKY_PASSWORD", "e2e-app-password");
    c
}

fn webcare(config: &Path, args: &[&str]) -> Output {
    command(config).args(args).output().unwrap()
}

fn stored(config: &Path) -> Vec<serde_json::Value> {
    let out = webcare(config, &["mentions", "--json", "--limit", "100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stored_rkeys(config: &Path) -> Vec<String> {
    let mut ids: Vec<String> = stored(config)
        .iter()
        .map(|m| {
            let id = m["external_id"].as_str().unwrap();
            id.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn once_logs_in_stores_posts_and_a_second_once_stores_nothing() {
    let server = fake_bluesky().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri(), "5m");

    let first = webcare(&config, &["once"]);
    assert!(
        first.status.success(),
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        stored_rkeys(&config),
        [
            "3mb4kz6mgw22f",
            "3mb4pa3kqjc2d",
            "3mb4tq7ahcs2y",
            "3mb4xk2vjws2c"
        ]
    );
    let second = webcare(&config, &["once"]);
    assert!(second.status.success());
    let line = String::from_utf8_lossy(&second.stdout);
    assert!(line.contains("stored    0"), "{line}");
    assert_eq!(stored_rkeys(&config).len(), 4);

    let sanne = stored(&config)
        .into_iter()
        .find(|m| m["author_handle"] == "sanne.bsky.social")
        .unwrap();
    assert_eq!(
        sanne["url"],
        "https://bsky.app/profile/sanne.bsky.social/post/3mb4xk2vjws2c"
    );
    assert_eq!(sanne["lang"], "nl");

    let out = webcare(&config, &["sources", "--json"]);
    let state: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(state["source"], "bsky");
    assert_eq!(state["kind"], "bluesky");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 4);

    // Neither the password nor the session tokens reach the database.
    let conn = rusqlite::Connection::open(dir.path().join("webcare.db")).unwrap();
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
async fn run_stores_mentions_and_stops_cleanly_on_sigterm() {
    let server = fake_bluesky().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri(), "1h");
    let mut child = command(&config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = dir.path().join("webcare.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut count = 0;
    while Instant::now() < deadline {
        if db.exists()
            && let Ok(conn) = rusqlite::Connection::open(&db)
        {
            count = conn
                .query_row(
                    "SELECT count(*) FROM mentions WHERE source = 'bsky'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0);
        }
        if count >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 4, "the daemon did not store the mentions in time");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("webcare did not stop within 10s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
