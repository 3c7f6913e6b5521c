//! End to end: the whole daemon with every source kind configured at once. One fake server on
//! 127.0.0.1 plays every platform with a `fixtures/<kind>/e2e.toml` and an RSS feed from the
//! fixtures, checking each platform's credentials; `webcare once` and `webcare run` store exactly
//! the expected mentions, once each, and no secret reaches the database. Every registered kind
//! must have its `e2e.toml`.

mod common;

use std::collections::BTreeMap;

use common::fakes::{self, E2e};
use common::platform::Daemon;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What one source must have stored after its first poll: the external ids, sorted.
struct Expected {
    source: String,
    kind: String,
    ids: Vec<String>,
}

/// Every platform with an `e2e.toml` in `fixtures/`, and the RSS feed.
fn expected() -> Vec<Expected> {
    let mut all: Vec<Expected> = E2e::all()
        .into_iter()
        .map(|e| Expected {
            source: e.name(),
            kind: e.kind.clone(),
            ids: e.stored.ids,
        })
        .collect();
    all.push(Expected {
        source: "forum".into(),
        kind: "rss".into(),
        ids: [
            "fl-rss2-0001",
            "fl-rss2-0006",
            "https://forum.example.org/t/2002",
            "https://forum.example.org/t/2003",
            "https://forum.example.org/t/2004",
        ]
        .map(String::from)
        .to_vec(),
    });
    all
}

#[test]
fn every_source_kind_has_an_end_to_end_fake() {
    let faked: Vec<String> = expected().into_iter().map(|e| e.kind).collect();
    for kind in webcare::sources::kind_names() {
        assert!(
            faked.iter().any(|k| k == kind),
            "source kind {kind} has no fixtures/{kind}/e2e.toml"
        );
    }
}

/// Every secret the child is given, and the tokens the fake platforms hand out for them.
fn secrets() -> Vec<String> {
    E2e::all()
        .iter()
        .flat_map(|e| e.secrets().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// One server playing every platform, plus an RSS feed at `/rss/rss2.xml`.
async fn fake_everything() -> MockServer {
    let server = MockServer::start().await;
    for platform in E2e::all() {
        platform.mount(&server).await;
    }
    Mock::given(method("GET"))
        .and(path("/rss/rss2.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fakes::fixture_text("rss", "rss2.xml"),
            "application/rss+xml",
        ))
        .mount(&server)
        .await;
    server
}

/// A daemon with every source reading `server`, every secret in its environment.
fn daemon_with_every_source(server: &MockServer) -> Daemon {
    let base = server.uri();
    let interval = "1h";
    let platforms = E2e::all();
    let mut sources: Vec<String> = platforms
        .iter()
        .map(|e| e.source(&base, interval))
        .collect();
    sources.push(format!(
        "\n[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{base}/rss/rss2.xml\"\ninterval = \"{interval}\"\nbackfill = \"3650d\"\n"
    ));
    platforms
        .iter()
        .fold(Daemon::new(&sources.concat()), |d, e| d.envs(&e.env()))
}

/// `source -> stored` from the per-source lines `webcare once` prints.
fn stored_per_source(once_stdout: &str) -> BTreeMap<String, usize> {
    once_stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [name, "fetched", _, "stored", n, ..] => Some((name.to_string(), n.parse().ok()?)),
                _ => None,
            }
        })
        .collect()
}

/// Asserts that the database holds exactly the expected mentions, each once.
fn assert_expected_set(daemon: &Daemon) {
    let expected = expected();
    for e in &expected {
        // One row each: an id stored twice shows up twice.
        assert_eq!(daemon.ids_of(&e.source), e.ids, "{}", e.source);
    }
    let total: usize = expected.iter().map(|e| e.ids.len()).sum();
    let conn = rusqlite::Connection::open(daemon.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM mentions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, total as i64, "mentions from a source not expected");
}

/// Asserts that no secret appears in the database's bytes, after checking that a stored id does:
/// the scan sees what the daemon wrote.
fn assert_no_secret_stored(daemon: &Daemon) {
    assert!(daemon.db_contains("UgzA1fjordlinkcomment0001.AbC0987zyx"));
    for secret in secrets() {
        assert!(!daemon.db_contains(&secret), "{secret} is in the database");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_with_every_source_stores_the_expected_set_exactly_once() {
    let server = fake_everything().await;
    let daemon = daemon_with_every_source(&server);

    let all = expected();
    let expected: BTreeMap<String, usize> = all
        .iter()
        .map(|e| (e.source.clone(), e.ids.len()))
        .collect();
    let first = stored_per_source(&daemon.once());
    assert_eq!(first, expected, "first once, stored per source");
    assert_expected_set(&daemon);

    let second = stored_per_source(&daemon.once());
    assert_eq!(second.len(), all.len(), "{second:?}");
    assert!(
        second.values().all(|n| *n == 0),
        "second once stored: {second:?}"
    );
    assert_expected_set(&daemon);

    let states = daemon.sources_json();
    assert_eq!(states.len(), all.len(), "{states:?}");
    for e in &all {
        let state = states
            .iter()
            .find(|s| s["source"] == e.source)
            .unwrap_or_else(|| panic!("{} missing from sources --json", e.source));
        assert_eq!(state["kind"], e.kind, "{state}");
        assert_eq!(state["state"], "ok", "{state}");
        assert_eq!(state["items_stored"], e.ids.len(), "{state}");
        assert_eq!(state["consecutive_failures"], 0, "{state}");
    }

    assert_no_secret_stored(&daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_every_source_stores_the_same_set_and_stops_on_sigterm() {
    let server = fake_everything().await;
    let daemon = daemon_with_every_source(&server);
    let expected = expected();
    let complete = || {
        expected
            .iter()
            .all(|e| daemon.count(&e.source) >= e.ids.len() as i64)
    };
    let run = daemon.run_until(complete);
    let status = run.stop();
    assert!(status.success(), "webcare run exited with {status:?}");
    assert_expected_set(&daemon);
    assert_no_secret_stored(&daemon);
}
