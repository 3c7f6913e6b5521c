//! End to end: the real `webcare` binary polls a fake Hacker News search API on 127.0.0.1
//! and stores what it finds in a real SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGE0: &str = include_str!("../fixtures/hackernews/search-page0.json");
const PAGE1: &str = include_str!("../fixtures/hackernews/search-page1.json");
const UNCHANGED: &str = include_str!("../fixtures/hackernews/search-unchanged.json");

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// A fake Algolia: two pages for the first poll, then only the item already stored.
async fn fake_hn() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .and(query_param("numericFilters", "created_at_i>=1795608000"))
        .respond_with(json(UNCHANGED))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .and(query_param("page", "0"))
        .respond_with(json(PAGE0))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .and(query_param("page", "1"))
        .respond_with(json(PAGE1))
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
name = "hn"
kind = "hackernews"
query = "fjordlink"
base_url = "{base_url}"
hits_per_page = 3
interval = "{interval}"
backfill = "3650d"
"#,
        db = dir.join("webcare.db").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn webcare(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stored_ids(config: &Path) -> Vec<String> {
    let out = webcare(config, &["mentions", "--json", "--limit", "100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["external_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_new_hits_and_a_second_once_stores_nothing() {
    let server = fake_hn().await;
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
        stored_ids(&config),
        ["46010001", "46010002", "46010004", "46010005"]
    );

    let second = webcare(&config, &["once"]);
    assert!(second.status.success());
    let line = String::from_utf8_lossy(&second.stdout);
    assert!(line.contains("stored    0"), "{line}");
    assert_eq!(stored_ids(&config).len(), 4);

    let out = webcare(&config, &["sources", "--json"]);
    let state: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(state["source"], "hn");
    assert_eq!(state["kind"], "hackernews");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 4);
    assert_eq!(state["consecutive_failures"], 0);
    let conn = rusqlite::Connection::open(dir.path().join("webcare.db")).unwrap();
    let cursor: String = conn
        .query_row(
            "SELECT cursor FROM source_state WHERE source = 'hn'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["since"], 1795608000);

    // The stored mention reads as a person would want it.
    let out = webcare(&config, &["mentions", "--json", "--limit", "100"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let story = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["external_id"] == "46010004")
        .unwrap();
    assert_eq!(
        story["url"],
        "https://news.ycombinator.com/item?id=46010004"
    );
    assert_eq!(story["author_handle"], "kasper_dk");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_mentions_and_stops_cleanly_on_sigterm() {
    let server = fake_hn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri(), "1h");
    let mut child = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
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
                    "SELECT count(*) FROM mentions WHERE source = 'hn'",
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
