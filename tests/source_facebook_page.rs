//! End to end: the `webcare` binary reads a fake Facebook page on 127.0.0.1 as an owned channel
//! and stores its visitor posts and comments once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_VAR: &str = "WEBCARE_TEST_FB_PAGE_TOKEN";
const TOKEN: &str = "EAAB-e2e-page-token";
const PAGE: &str = "104857600000001";
const POST: &str = "104857600000001_900000000000001";

fn fixture(status: u16, name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(format!(
        "{}/fixtures/facebook_page/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

async fn fake_graph() -> MockServer {
    let server = MockServer::start().await;
    let get = |p: String| {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
    };
    get(format!("/v24.0/{PAGE}/feed"))
        .and(query_param_is_missing("after"))
        .respond_with(fixture(200, "feed-page1.json"))
        .mount(&server)
        .await;
    get(format!("/v24.0/{PAGE}/feed"))
        .and(query_param("after", "QVFIUkZAfeedpage1"))
        .respond_with(fixture(200, "feed-page2.json"))
        .mount(&server)
        .await;
    get(format!("/v24.0/{POST}/comments"))
        .and(query_param_is_missing("after"))
        .respond_with(fixture(200, "comments-post1-page1.json"))
        .mount(&server)
        .await;
    get(format!("/v24.0/{POST}/comments"))
        .and(query_param("after", "WTI5dGJXVnVkRjlqb3VyZAXNvcgZD"))
        .respond_with(fixture(200, "comments-post1-page2.json"))
        .mount(&server)
        .await;
    get(format!("/v24.0/{PAGE}_900000000000004/comments"))
        .respond_with(fixture(200, "comments-empty.json"))
        .mount(&server)
        .await;
    server
}

fn write_config(dir: &Path, base_url: &str) -> PathBuf {
    let cutoff = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap();
    let backfill = (chrono::Utc::now() - cutoff.with_timezone(&chrono::Utc)).num_seconds();
    let file = dir.join("webcare.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[store]
path = "{db}"

[[watches]]
name = "Fjordlink"
query = "fjordlink -vacature"

[[sources]]
name = "facebook"
kind = "facebook_page"
watch = "Fjordlink"
interval = "1h"
backfill = "{backfill}s"
comment_window = "3650d"
base_url = "{base_url}"
page_id = "{PAGE}"
page_token_env = "{TOKEN_VAR}"
"#,
            db = dir.join("webcare.db").display()
        ),
    )
    .unwrap();
    file
}

fn webcare(config: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("webcare"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env(TOKEN_VAR, TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stored_ids(config: &Path) -> Vec<String> {
    let out = webcare(config, &["mentions", "--json", "--limit", "100"]);
    assert!(out.status.success(), "{out:?}");
    let mut ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["external_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

/// Owned channel: the comment that does not name the brand is stored too.
const EXPECTED: [&str; 6] = [
    "104857600000001_900000000000002",
    "104857600000001_900000000000004",
    "900000000000001_1200000000000001",
    "900000000000001_1200000000000002",
    "900000000000001_1200000000000003",
    "900000000000001_1200000000000004",
];

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_visitor_posts_and_comments_exactly_once() {
    let server = fake_graph().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let first = webcare(&config, &["once"]);
        let stdout = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{first:?}");
        assert!(stdout.contains("stored    6"), "{stdout}");
        assert_eq!(stored_ids(&config), EXPECTED);

        // The fake has nothing newer than the first run: the second stores nothing.
        let second = webcare(&config, &["once"]);
        let stdout = String::from_utf8_lossy(&second.stdout);
        assert!(second.status.success(), "{second:?}");
        assert!(stdout.contains("stored    0"), "{stdout}");
        assert_eq!(stored_ids(&config).len(), 6);

        let sources = webcare(&config, &["sources", "--json"]);
        let state: serde_json::Value =
            serde_json::from_slice(sources.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(state["kind"], "facebook_page");
        assert_eq!(state["state"], "ok");
        assert_eq!(state["items_stored"], 6);
        let db = std::fs::read(config.with_file_name("webcare.db")).unwrap();
        assert!(!String::from_utf8_lossy(&db).contains(TOKEN));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn once_tells_the_operator_to_renew_an_expired_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fixture(400, "error-190.json"))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let out = webcare(&config, &["once"]);
        assert_eq!(out.status.code(), Some(75), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("facebook_page: token rejected (code 190); renew the access token"),
            "{stdout}"
        );
        let sources = webcare(&config, &["sources", "--json"]);
        let text = String::from_utf8_lossy(&sources.stdout);
        assert!(text.contains("\"state\":\"failing\""), "{text}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_comments_and_stops_cleanly_on_sigterm() {
    let server = fake_graph().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("webcare"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env(TOKEN_VAR, TOKEN)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut stored = 0;
        while Instant::now() < deadline {
            if config.with_file_name("webcare.db").exists() {
                stored = stored_ids(&config).len();
                if stored == EXPECTED.len() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        assert_eq!(stored, EXPECTED.len(), "run did not store within 20 s");
        assert!(status.success(), "webcare run exited with {status:?}");
    })
    .await
    .unwrap();
}
