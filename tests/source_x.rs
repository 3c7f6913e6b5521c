//! End to end: the `webcare` binary polls a fake X API on 127.0.0.1 and stores the posts once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_VAR: &str = "WEBCARE_TEST_X_BEARER";

fn fixture(name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(format!("{}/fixtures/x/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// The fake X: two pages for the first run, nothing new after.
async fn fake_x() -> MockServer {
    let server = MockServer::start().await;
    let search = || {
        Mock::given(method("GET"))
            .and(path("/2/tweets/search/recent"))
            .and(header("authorization", "Bearer e2e-token"))
    };
    search()
        .and(query_param_is_missing("since_id"))
        .and(query_param_is_missing("next_token"))
        .respond_with(fixture("search-page1.json"))
        .mount(&server)
        .await;
    search()
        .and(query_param_is_missing("since_id"))
        .and(query_param(
            "next_token",
            "b26v89c19zqg8o3fr5qmh8x6q0ts0dbb2nq8akg7mc8rx",
        ))
        .respond_with(fixture("search-page2.json"))
        .mount(&server)
        .await;
    search()
        .and(query_param("since_id", "1861800000000000005"))
        .respond_with(fixture("search-empty.json"))
        .mount(&server)
        .await;
    server
}

fn write_config(dir: &Path, base_url: &str) -> PathBuf {
    let file = dir.join("webcare.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[store]
path = "{db}"

[[watches]]
name = "Fjordlink"
query = "fjordlink"

[[sources]]
name = "x-fjordlink"
kind = "x"
interval = "1h"
base_url = "{base_url}"
query = "fjordlink OR @fjordlink"
bearer_token_env = "{TOKEN_VAR}"
monthly_read_cap = 5000
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
        .env(TOKEN_VAR, "e2e-token")
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

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_new_posts_exactly_once_and_reports_the_source_state() {
    let server = fake_x().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || {
        let first = webcare(&cfg, &["once"]);
        let stdout = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{first:?}");
        assert!(stdout.contains("stored    5"), "{stdout}");
        assert_eq!(
            stored_ids(&cfg),
            vec![
                "1861700000000000009",
                "1861800000000000001",
                "1861800000000000002",
                "1861800000000000003",
                "1861800000000000005",
            ]
        );

        let second = webcare(&cfg, &["once"]);
        let stdout = String::from_utf8_lossy(&second.stdout);
        assert!(second.status.success(), "{second:?}");
        assert!(stdout.contains("fetched    0  stored    0"), "{stdout}");
        assert_eq!(stored_ids(&cfg).len(), 5);

        let sources = webcare(&cfg, &["sources", "--json"]);
        let state: serde_json::Value =
            serde_json::from_slice(sources.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(state["source"], "x-fjordlink");
        assert_eq!(state["kind"], "x");
        assert_eq!(state["state"], "ok");
        assert_eq!(state["items_stored"], 5);
        // The token never reaches the database or the output.
        let db = std::fs::read(cfg.with_file_name("webcare.db")).unwrap();
        assert!(!String::from_utf8_lossy(&db).contains("e2e-token"));
    })
    .await
    .unwrap();
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3, "two pages, then one incremental request");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_reports_a_rejected_token_and_exits_75() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let out = webcare(&config, &["once"]);
        assert_eq!(out.status.code(), Some(75), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("x: token rejected (401); check credentials bearer_token"),
            "{stdout}"
        );
        let sources = webcare(&config, &["sources", "--json"]);
        let state: serde_json::Value =
            serde_json::from_slice(sources.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(state["state"], "failing");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_posts_and_stops_cleanly_on_sigterm() {
    let server = fake_x().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("webcare"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env(TOKEN_VAR, "e2e-token")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut stored = 0;
        while Instant::now() < deadline {
            if config.with_file_name("webcare.db").exists() {
                stored = stored_ids(&config).len();
                if stored == 5 {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        assert_eq!(stored, 5, "run did not store the posts within 20 s");
        assert!(status.success(), "webcare run exited with {status:?}");
    })
    .await
    .unwrap();
}
