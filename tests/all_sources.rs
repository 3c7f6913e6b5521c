//! End to end: the whole daemon with every source kind configured at once. One fake server on
//! 127.0.0.1 plays all thirteen platforms and an RSS feed from the fixtures, checking each
//! platform's credentials; `webcare once` and `webcare run` store exactly the expected mentions,
//! once each, and no secret reaches the database.

mod common;

use std::collections::BTreeMap;

use common::fake;
use common::fakes::{
    self, app_store, bluesky, facebook_page, google_business, google_play, hackernews, instagram,
    mastodon, reddit, threads, trustpilot, x, youtube,
};
use common::platform::Daemon;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What one source must have stored after its first poll: how many mentions, and some of their
/// external ids.
struct Expected {
    source: &'static str,
    kind: &'static str,
    count: usize,
    some_ids: &'static [&'static str],
}

const EXPECTED: &[Expected] = &[
    Expected {
        source: "hn",
        kind: "hackernews",
        count: 4,
        some_ids: &["46010001", "46010005"],
    },
    Expected {
        source: "fosstodon",
        kind: "mastodon",
        count: 5,
        some_ids: &[
            "https://hachyderm.io/users/amy/statuses/117676729958400011",
            "https://social.example/users/pieter/statuses/117677205749760009",
        ],
    },
    Expected {
        source: "bsky",
        kind: "bluesky",
        count: 4,
        some_ids: &["at://did:plc:4sq2yvfmxo6ts7hyqwlv5ccj/app.bsky.feed.post/3mb4xk2vjws2c"],
    },
    Expected {
        source: "reddit",
        kind: "reddit",
        count: 5,
        some_ids: &["t1_m1x7zzb", "t3_1h2k9xa"],
    },
    Expected {
        source: "x-fjordlink",
        kind: "x",
        count: 5,
        some_ids: &["1861700000000000009", "1861800000000000005"],
    },
    Expected {
        source: "youtube",
        kind: "youtube",
        count: 9,
        some_ids: &[
            "UgzA1fjordlinkcomment0001.AbC0987zyx",
            "UgyCh3fjordlinkthread0001",
            "fJ0rdVid0B2",
        ],
    },
    Expected {
        source: "facebook",
        kind: "facebook_page",
        count: 6,
        some_ids: &[
            "104857600000001_900000000000004",
            "900000000000001_1200000000000004",
        ],
    },
    Expected {
        source: "instagram",
        kind: "instagram",
        count: 6,
        some_ids: &["17850000000000021", "17910000000000003"],
    },
    Expected {
        source: "appstore",
        kind: "app_store",
        count: 3,
        some_ids: &["nl:12648830011", "nl:12631907744"],
    },
    Expected {
        source: "trustpilot",
        kind: "trustpilot",
        count: 4,
        some_ids: &["6744a1f20b5e3c0f9a7d2e01", "673fd2280b5e3c0f9a7cf9e2"],
    },
    Expected {
        source: "play",
        kind: "google_play",
        count: 3,
        some_ids: &[
            "gp:AOqpTOE4hX0nZsK1cOSPz2vJ8w_fjordlink01",
            "gp:AOqpTOHb5cT9uMjXqN6rV4eG2o_fjordlink03",
        ],
    },
    Expected {
        source: "gbp",
        kind: "google_business",
        count: 3,
        some_ids: &["AbFvOqnB3kP0fjordlinkRev01", "AbFvOqm7tW5rfjordlinkRev03"],
    },
    Expected {
        source: "threads",
        kind: "threads",
        count: 4,
        some_ids: &["18063425671234561", "18091234567800011"],
    },
    Expected {
        source: "forum",
        kind: "rss",
        count: 5,
        some_ids: &[
            "fl-rss2-0001",
            "fl-rss2-0006",
            "https://forum.example.org/t/2003",
        ],
    },
];

/// The environment variables holding the platforms' secrets, with their values.
const SECRET_ENV: [&[(&str, &str)]; 10] = [
    mastodon::ENV,
    bluesky::ENV,
    reddit::ENV,
    x::ENV,
    youtube::ENV,
    facebook_page::ENV,
    instagram::ENV,
    trustpilot::ENV,
    google_business::ENV,
    threads::ENV,
];

/// Every secret the child is given, and the tokens the fake platforms hand out for them.
fn secrets() -> Vec<&'static str> {
    let mut all: Vec<&str> = SECRET_ENV
        .iter()
        .flat_map(|vars| vars.iter().map(|(_, v)| *v))
        .collect();
    all.extend([
        bluesky::ACCESS1,
        "refresh-one",
        reddit::BEARER.trim_start_matches("Bearer "),
        reddit::BASIC.trim_start_matches("Basic "),
        google_play::ACCESS,
        google_business::ACCESS,
    ]);
    all
}

/// One server playing every platform, plus an RSS feed at `/rss/rss2.xml`.
async fn fake_everything() -> MockServer {
    let server = MockServer::start().await;
    for platform in [
        "hackernews",
        "mastodon",
        "bluesky",
        "reddit",
        "x",
        "youtube",
        "facebook_page",
        "instagram",
        "app_store",
        "trustpilot",
        "google_business",
        "threads",
    ] {
        fake::mount(&server, platform, "main").await;
    }
    // Its token endpoint checks a signed JWT, which is code rather than a table row.
    google_play::mount(&server).await;
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

/// A daemon with all fourteen sources reading `server`, every secret in its environment.
fn daemon_with_every_source(server: &MockServer) -> Daemon {
    let base = server.uri();
    let interval = "1h";
    let sources = [
        hackernews::source(&base, interval),
        mastodon::source(&base, interval),
        bluesky::source(&base, interval),
        reddit::source(&base, interval),
        x::source(&base, interval),
        youtube::source(&base, interval),
        facebook_page::source(&base, interval),
        instagram::source(&base, interval),
        app_store::source(&base, interval),
        trustpilot::source(&base, interval),
        google_play::source(&base, interval),
        google_business::source(&base, interval),
        threads::source(&base, interval),
        format!(
            "\n[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{base}/rss/rss2.xml\"\ninterval = \"{interval}\"\nbackfill = \"3650d\"\n"
        ),
    ];
    SECRET_ENV
        .iter()
        .fold(Daemon::new(&sources.concat()), |d, vars| d.envs(vars))
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
    for e in EXPECTED {
        let ids = daemon.ids_of(e.source);
        assert_eq!(ids.len(), e.count, "{}: {ids:?}", e.source);
        for id in e.some_ids {
            assert!(
                ids.iter().any(|i| i == id),
                "{}: {id} missing from {ids:?}",
                e.source
            );
        }
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique, ids, "{}: an id is stored twice", e.source);
    }
    let total: usize = EXPECTED.iter().map(|e| e.count).sum();
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
        assert!(!daemon.db_contains(secret), "{secret} is in the database");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_with_every_source_stores_the_expected_set_exactly_once() {
    let server = fake_everything().await;
    let daemon = daemon_with_every_source(&server);

    let expected: BTreeMap<String, usize> = EXPECTED
        .iter()
        .map(|e| (e.source.to_string(), e.count))
        .collect();
    let first = stored_per_source(&daemon.once());
    assert_eq!(first, expected, "first once, stored per source");
    assert_expected_set(&daemon);

    let second = stored_per_source(&daemon.once());
    assert_eq!(second.len(), EXPECTED.len(), "{second:?}");
    assert!(
        second.values().all(|n| *n == 0),
        "second once stored: {second:?}"
    );
    assert_expected_set(&daemon);

    let states = daemon.sources_json();
    assert_eq!(states.len(), EXPECTED.len(), "{states:?}");
    for e in EXPECTED {
        let state = states
            .iter()
            .find(|s| s["source"] == e.source)
            .unwrap_or_else(|| panic!("{} missing from sources --json", e.source));
        assert_eq!(state["kind"], e.kind, "{state}");
        assert_eq!(state["state"], "ok", "{state}");
        assert_eq!(state["items_stored"], e.count, "{state}");
        assert_eq!(state["consecutive_failures"], 0, "{state}");
    }

    assert_no_secret_stored(&daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_every_source_stores_the_same_set_and_stops_on_sigterm() {
    let server = fake_everything().await;
    let daemon = daemon_with_every_source(&server);
    let complete = || {
        EXPECTED
            .iter()
            .all(|e| daemon.count(e.source) >= e.count as i64)
    };
    let run = daemon.run_until(complete);
    let status = run.stop();
    assert!(status.success(), "webcare run exited with {status:?}");
    assert_expected_set(&daemon);
    assert_no_secret_stored(&daemon);
}
