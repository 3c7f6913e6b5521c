//! End to end: the `webcare` binary polls a fake YouTube Data API on 127.0.0.1 and stores the
//! videos and comments once, without the API key ever reaching the database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY_VAR: &str = "WEBCARE_TEST_YOUTUBE_KEY";
const KEY: &str = "AIzaE2eKey-do-not-store";
const CHANNEL: &str = "UCfJ0rdl1nkNLoffici4l0A";

fn fixture(status: u16, name: &str) -> ResponseTemplate {
    let body = std::fs::read_to_string(format!(
        "{}/fixtures/youtube/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

async fn fake_youtube() -> MockServer {
    let server = MockServer::start().await;
    let get = |p: &str| {
        Mock::given(method("GET"))
            .and(path(format!("/youtube/v3/{p}")))
            .and(query_param("key", KEY))
    };
    get("search")
        .and(query_param_is_missing("pageToken"))
        .respond_with(fixture(200, "search-page1.json"))
        .mount(&server)
        .await;
    get("search")
        .and(query_param("pageToken", "CDIQAA"))
        .respond_with(fixture(200, "search-page2.json"))
        .mount(&server)
        .await;
    for (video, file, status) in [
        ("fJ0rdVid0A1", "threads-video-a.json", 200),
        ("fJ0rdVid0B2", "error-comments-disabled.json", 403),
        ("fJ0rdVid0C3", "threads-video-c.json", 200),
    ] {
        get("commentThreads")
            .and(query_param("videoId", video))
            .respond_with(fixture(status, file))
            .mount(&server)
            .await;
    }
    get("commentThreads")
        .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
        .and(query_param_is_missing("pageToken"))
        .respond_with(fixture(200, "threads-channel-page1.json"))
        .mount(&server)
        .await;
    get("commentThreads")
        .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
        .and(query_param("pageToken", "QURTSl9pMkhPV2Z"))
        .respond_with(fixture(200, "threads-channel-page2.json"))
        .mount(&server)
        .await;
    server
}

fn write_config(dir: &Path, base_url: &str) -> PathBuf {
    // Reach back to 2026-11-20, where the fixtures start, whatever today is.
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
query = "fjordlink"

[[sources]]
name = "youtube"
kind = "youtube"
watch = "Fjordlink"
interval = "1h"
backfill = "{backfill}s"
base_url = "{base_url}"
query = "fjordlink"
channel_id = "{CHANNEL}"
api_key_env = "{KEY_VAR}"
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
        .env(KEY_VAR, KEY)
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

const EXPECTED: [&str; 9] = [
    "UgyCh1fjordlinkthread0003",
    "UgyCh2fjordlinkthread0002",
    "UgyCh3fjordlinkthread0001",
    "UgzA1fjordlinkcomment0001",
    "UgzA1fjordlinkcomment0001.AbC0987zyx",
    "UgzA2fjordlinkcomment0002",
    "fJ0rdVid0A1",
    "fJ0rdVid0B2",
    "fJ0rdVid0C3",
];

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_videos_and_comments_exactly_once() {
    let server = fake_youtube().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || {
        let first = webcare(&cfg, &["once"]);
        let stdout = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{first:?}");
        assert!(stdout.contains("stored    9"), "{stdout}");
        assert_eq!(stored_ids(&cfg), EXPECTED);

        // Second run: the search is not due yet, and no comment is newer than what was read.
        let second = webcare(&cfg, &["once"]);
        let stdout = String::from_utf8_lossy(&second.stdout);
        assert!(second.status.success(), "{second:?}");
        assert!(stdout.contains("stored    0"), "{stdout}");
        assert_eq!(stored_ids(&cfg).len(), 9);

        let sources = webcare(&cfg, &["sources", "--json"]);
        let state: serde_json::Value =
            serde_json::from_slice(sources.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(state["kind"], "youtube");
        assert_eq!(state["state"], "ok");
        assert_eq!(state["items_stored"], 9);
        let db = std::fs::read(cfg.with_file_name("webcare.db")).unwrap();
        assert!(
            !String::from_utf8_lossy(&db).contains(KEY),
            "API key stored"
        );
    })
    .await
    .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let searches = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/search"))
        .count();
    assert_eq!(
        searches, 2,
        "two search pages on the first run, none on the second"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_reports_a_server_error_with_the_key_redacted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let out = webcare(&config, &["once"]);
        assert_eq!(out.status.code(), Some(75), "{out:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("key=REDACTED"), "{all}");
        assert!(!all.contains(KEY), "{all}");
        let sources = webcare(&config, &["sources", "--json"]);
        let text = String::from_utf8_lossy(&sources.stdout);
        assert!(text.contains("\"state\":\"failing\""), "{text}");
        assert!(!text.contains(KEY), "{text}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stores_comments_and_stops_cleanly_on_sigterm() {
    let server = fake_youtube().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server.uri());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("webcare"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env(KEY_VAR, KEY)
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
