//! End to end: the real `webcare` binary reads a hashtag timeline and the status search of a
//! fake Mastodon server on 127.0.0.1, with the token passed through an environment variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TAG1: &str = include_str!("../fixtures/mastodon/tag-page1.json");
const SEARCH1: &str = include_str!("../fixtures/mastodon/search-page1.json");
const SEARCH_EMPTY: &str = include_str!("../fixtures/mastodon/search-empty.json");

const S5: &str = "117676965888000005";
const S7: &str = "117677205749760009";

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body.as_bytes().to_vec(), "application/json")
        .insert_header("X-RateLimit-Limit", "300")
        .insert_header("X-RateLimit-Remaining", "290")
}

/// First requests get the fixtures; requests from the stored cursor get nothing new.
async fn fake_mastodon() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/fjordlink"))
        .and(query_param_is_missing("min_id"))
        .respond_with(json(TAG1))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/fjordlink"))
        .and(query_param("min_id", S5))
        .respond_with(json("[]"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(header("authorization", "Bearer e2e-token"))
        .and(query_param("type", "statuses"))
        .and(query_param_is_missing("min_id"))
        .respond_with(json(SEARCH1))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(header("authorization", "Bearer e2e-token"))
        .and(query_param("min_id", S7))
        .respond_with(json(SEARCH_EMPTY))
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
name = "fosstodon"
kind = "mastodon"
base_url = "{base_url}"
hashtags = ["fjordlink"]
query = "fjordlink"
token_env = "WEBCARE_TEST_MASTODON_TOKEN"
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
        .env("WEBCARE_TEST_MASTODON_TOKEN", "e2e-token");
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

fn stored_ids(config: &Path) -> Vec<String> {
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
async fn once_stores_tag_and_search_results_once() {
    let server = fake_mastodon().await;
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
        [
            "117676494028800003",
            "117676729958400011",
            S5,
            "117677201817600006",
            S7
        ]
    );
    let second = webcare(&config, &["once"]);
    assert!(second.status.success());
    let line = String::from_utf8_lossy(&second.stdout);
    assert!(line.contains("stored    0"), "{line}");
    assert_eq!(stored_ids(&config).len(), 5);

    let boosted = stored(&config)
        .into_iter()
        .find(|m| m["author_handle"] == "amy@hachyderm.io")
        .unwrap();
    assert_eq!(boosted["author_reach"], 9021);
    assert_eq!(
        boosted["text"],
        "Heads up: #Fjordlink mobile data is down in Aarhus too."
    );

    let out = webcare(&config, &["sources", "--json"]);
    let state: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(state["source"], "fosstodon");
    assert_eq!(state["kind"], "mastodon");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 5);
    let conn = rusqlite::Connection::open(dir.path().join("webcare.db")).unwrap();
    let cursor: String = conn
        .query_row(
            "SELECT cursor FROM source_state WHERE source = 'fosstodon'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!cursor.contains("e2e-token"));
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["streams"]["tag:fjordlink"]["min_id"], S5);
    assert_eq!(cursor["streams"]["search"]["min_id"], S7);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_variable_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "5m");
    let out = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .env_remove("WEBCARE_TEST_MASTODON_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "sources[0].token_env: environment variable WEBCARE_TEST_MASTODON_TOKEN is not set"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_mentions_and_stops_cleanly_on_sigterm() {
    let server = fake_mastodon().await;
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
                    "SELECT count(*) FROM mentions WHERE source = 'fosstodon'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0);
        }
        if count >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 5, "the daemon did not store the mentions in time");
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
