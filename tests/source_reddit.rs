//! End to end: the real `webcare` binary gets an app-only token from a fake Reddit on
//! 127.0.0.1 (secret from an environment variable), reads a subreddit's search and comment
//! stream, and stores the mentions once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGE1: &str = include_str!("../fixtures/reddit/search-page1.json");
const PAGE2: &str = include_str!("../fixtures/reddit/search-page2.json");
const COMMENTS: &str = include_str!("../fixtures/reddit/comments-page1.json");
const TOKEN: &str = include_str!("../fixtures/reddit/token.json");
/// base64("fjord-client-id:e2e-secret")
const BASIC: &str = "Basic ZmpvcmQtY2xpZW50LWlkOmUyZS1zZWNyZXQ=";
const BEARER: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0.app-token-one.sig";
const AGENT: &str = "linux:webcare-fjordlink-e2e:1.0 (by /u/fjordlink_webcare)";

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body.as_bytes().to_vec(), "application/json")
        .insert_header("X-Ratelimit-Used", "4")
        .insert_header("X-Ratelimit-Remaining", "596.0")
        .insert_header("X-Ratelimit-Reset", "331")
}

async fn fake_reddit() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header("authorization", BASIC))
        .and(header("user-agent", AGENT))
        .respond_with(json(TOKEN))
        .mount(&server)
        .await;
    let api = |p: &str| {
        Mock::given(method("GET"))
            .and(path(p.to_string()))
            .and(header("authorization", BEARER))
            .and(header("user-agent", AGENT))
    };
    api("/r/Fjordlink/search")
        .and(query_param("restrict_sr", "1"))
        .and(query_param_is_missing("after"))
        .respond_with(json(PAGE1))
        .mount(&server)
        .await;
    api("/r/Fjordlink/search")
        .and(query_param("after", "t3_1h2i3zz"))
        .respond_with(json(PAGE2))
        .mount(&server)
        .await;
    api("/r/Fjordlink/comments")
        .respond_with(json(COMMENTS))
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
name = "reddit"
kind = "reddit"
query = "fjordlink"
subreddits = ["Fjordlink"]
client_id = "fjord-client-id"
client_secret_env = "WEBCARE_TEST_REDDIT_SECRET"
user_agent = "{AGENT}"
base_url = "{base_url}"
auth_url = "{base_url}"
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
        .env("WEBCARE_TEST_REDDIT_SECRET", "e2e-secret");
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
        .map(|m| m["external_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_posts_and_comments_and_a_second_once_stores_nothing() {
    let server = fake_reddit().await;
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
            "t1_m1x7zzb",
            "t1_m1x9k2a",
            "t3_1h2gk1b",
            "t3_1h2j7qm",
            "t3_1h2k9xa"
        ]
    );
    let second = webcare(&config, &["once"]);
    assert!(second.status.success());
    let line = String::from_utf8_lossy(&second.stdout);
    assert!(line.contains("stored    0"), "{line}");
    assert_eq!(stored_ids(&config).len(), 5);

    let post = stored(&config)
        .into_iter()
        .find(|m| m["external_id"] == "t3_1h2k9xa")
        .unwrap();
    assert_eq!(
        post["title"],
        "Fjordlink storing in Utrecht - al 4 uur geen internet"
    );
    assert_eq!(post["author_handle"], "Pieter_Utrecht");

    let out = webcare(&config, &["sources", "--json"]);
    let state: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(state["source"], "reddit");
    assert_eq!(state["kind"], "reddit");
    assert_eq!(state["state"], "ok");
    assert_eq!(state["items_stored"], 5);
    let conn = rusqlite::Connection::open(dir.path().join("webcare.db")).unwrap();
    let cursor: String = conn
        .query_row(
            "SELECT cursor FROM source_state WHERE source = 'reddit'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!cursor.contains("e2e-secret") && !cursor.contains("app-token"));
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    assert_eq!(cursor["streams"]["posts"]["since"], 1795608000);
    assert_eq!(cursor["streams"]["comments"]["since"], 1795608900);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_secret_fails_once_with_the_key_to_fix() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(r#"{"message": "Unauthorized", "error": 401}"#),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri(), "5m");
    let out = webcare(&config, &["once"]);
    assert_eq!(out.status.code(), Some(75));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("client_secret_env/client_secret_file of source reddit"),
        "{stdout}"
    );
    assert!(!stdout.contains("e2e-secret"));
    let out = webcare(&config, &["sources", "--json"]);
    let state: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(state["state"], "failing");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_mentions_and_stops_cleanly_on_sigterm() {
    let server = fake_reddit().await;
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
                    "SELECT count(*) FROM mentions WHERE source = 'reddit'",
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
