//! End to end: the `webcare` binary reads a fake Instagram professional account on 127.0.0.1
//! as an owned channel and stores comments and tags once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_VAR: &str = "WEBCARE_TEST_IG_TOKEN";
const TOKEN: &str = "IGQ-e2e-access-token";
const IG: &str = "17841400000000001";

fn fixture(status: u16, name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(format!(
        "{}/fixtures/instagram/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

async fn fake_instagram() -> MockServer {
    let server = MockServer::start().await;
    let get = |p: String| {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
    };
    let pages = [
        (format!("/v24.0/{IG}/media"), None, "media-page1.json"),
        (
            format!("/v24.0/{IG}/media"),
            Some("QVFIUm1lZAGlh"),
            "media-page2.json",
        ),
        (
            "/v24.0/17900000000000001/comments".to_string(),
            None,
            "comments-m1-page1.json",
        ),
        (
            "/v24.0/17900000000000001/comments".to_string(),
            Some("QVFIUmNvbW1lbnQy"),
            "comments-m1-page2.json",
        ),
        (
            "/v24.0/17900000000000003/comments".to_string(),
            None,
            "comments-m3.json",
        ),
        (format!("/v24.0/{IG}/tags"), None, "tags-page1.json"),
        (
            format!("/v24.0/{IG}/tags"),
            Some("QVFIUnRhZ3MxY"),
            "tags-page2.json",
        ),
    ];
    for (p, after, file) in pages {
        let m = get(p);
        let m = match after {
            Some(a) => m.and(query_param("after", a)),
            None => m.and(query_param_is_missing("after")),
        };
        m.respond_with(fixture(200, file)).mount(&server).await;
    }
    server
}

fn write_config(dir: &Path, base_url: &str) -> PathBuf {
    let since = |t: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
    };
    let backfill = since("2026-11-20T00:00:00Z");
    let window = since("2026-11-15T00:00:00Z");
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
name = "instagram"
kind = "instagram"
watch = "Fjordlink"
interval = "1h"
backfill = "{backfill}s"
comment_window = "{window}s"
base_url = "{base_url}"
ig_user_id = "{IG}"
access_token_env = "{TOKEN_VAR}"
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

const EXPECTED: [&str; 6] = [
    "17850000000000011",
    "17850000000000013",
    "17850000000000015",
    "17850000000000021",
    "17910000000000001",
    "17910000000000003",
];

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_comments_and_tags_exactly_once() {
    let server = fake_instagram().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let first = webcare(&config, &["once"]);
        let stdout = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{first:?}");
        assert!(stdout.contains("stored    6"), "{stdout}");
        assert_eq!(stored_ids(&config), EXPECTED);

        let second = webcare(&config, &["once"]);
        let stdout = String::from_utf8_lossy(&second.stdout);
        assert!(second.status.success(), "{second:?}");
        assert!(stdout.contains("stored    0"), "{stdout}");

        let sources = webcare(&config, &["sources", "--json"]);
        let state: serde_json::Value =
            serde_json::from_slice(sources.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(state["kind"], "instagram");
        assert_eq!(state["state"], "ok");
        assert_eq!(state["items_stored"], 6);
        let db = std::fs::read(config.with_file_name("webcare.db")).unwrap();
        assert!(!String::from_utf8_lossy(&db).contains(TOKEN));
    })
    .await
    .unwrap();
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
            stdout.contains("instagram: token rejected (code 190); renew the access token"),
            "{stdout}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_comments_and_stops_cleanly_on_sigterm() {
    let server = fake_instagram().await;
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
