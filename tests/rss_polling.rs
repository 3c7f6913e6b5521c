//! The RSS/Atom source through the real binary: conditional GET, only new entries stored,
//! failing feeds isolated from healthy ones.

mod common;

use std::time::Duration;

use common::{FeedServer, KillOnDrop, Reply, Setup, assert_said, atom, fjordlink_entries, text};

fn rss_source(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"rss\"\nurl = \"{url}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\n{extra}\n"
    )
}

#[test]
fn first_poll_stores_everything_then_304_then_only_new_entries() {
    let server = FeedServer::start();
    let mut entries = fjordlink_entries("a", 5);
    entries.push((
        "urn:test:noise".into(),
        "Nothing about the brand here".into(),
    ));
    server.set("forum.xml", Reply::Feed(atom(&entries)));
    let setup = Setup::new(&rss_source("forum", &server.url("forum.xml"), ""));

    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "stored    5");
    assert_eq!(
        setup.count(None),
        5,
        "the entry without the brand is not stored"
    );

    // Unchanged feed: the server answers 304 and nothing new is stored.
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.hits("forum.xml"), vec![200, 304]);
    assert_eq!(setup.count(None), 5);

    // Three new entries on top of the old ones: only those are stored.
    let mut changed = fjordlink_entries("b", 3);
    changed.extend(fjordlink_entries("a", 5));
    server.set("forum.xml", Reply::Feed(atom(&changed)));
    let out = setup.run(&["once"]);
    assert_said(&out, "stored    3  already stored    5");
    assert_eq!(setup.count(None), 8);
    let ids = setup.external_ids();
    assert!(ids.contains(&"urn:test:b-0".to_string()) && ids.contains(&"urn:test:a-4".to_string()));
}

#[test]
fn the_bundled_rss_fixtures_parse_with_their_documented_counts() {
    let server = FeedServer::start();
    server.set("v1.xml", Reply::Feed(common::fixture("rss/atom-v1.xml")));
    server.set("rss2.xml", Reply::Feed(common::fixture("rss/rss2.xml")));
    server.set("latin1.xml", Reply::Feed(common::fixture("rss/latin1.xml")));
    let setup = Setup::new(&format!(
        "{}{}{}",
        rss_source("atom", &server.url("v1.xml"), ""),
        rss_source("rss2", &server.url("rss2.xml"), ""),
        rss_source("latin1", &server.url("latin1.xml"), "")
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(setup.count(Some("atom")), 5);
    assert_eq!(
        setup.count(Some("rss2")),
        5,
        "a duplicate guid is stored once"
    );
    assert_eq!(setup.count(Some("latin1")), 3);

    // The ISO-8859-1 feed arrives as proper UTF-8 text.
    let out = setup.run(&["mentions", "--source", "latin1", "--json"]);
    let all = String::from_utf8(out.stdout).unwrap();
    assert!(
        all.chars().any(|c| matches!(c, 'é' | 'ë' | 'ø' | 'å')),
        "{all}"
    );
    // Script content in entries never reaches the stored text.
    let out = setup.run(&["mentions", "--source", "rss2", "--json"]);
    let all = String::from_utf8(out.stdout).unwrap();
    assert!(
        !all.contains("alert(1)") && !all.contains("<script"),
        "{all}"
    );

    // A newer version of the Atom feed adds exactly three.
    server.set("v1.xml", Reply::Feed(common::fixture("rss/atom-v2.xml")));
    setup.run(&["once"]);
    assert_eq!(setup.count(Some("atom")), 8);
}

#[test]
fn failing_feeds_are_logged_backed_off_and_do_not_stop_the_healthy_one() {
    let server = FeedServer::start();
    server.set("good.xml", Reply::Feed(atom(&fjordlink_entries("g", 4))));
    server.set(
        "e500.xml",
        Reply::Status(500, vec![], "internal error".into()),
    );
    server.set(
        "e429.xml",
        Reply::Status(
            429,
            vec![("retry-after".into(), "900".into())],
            "slow down".into(),
        ),
    );
    server.set(
        "stall.xml",
        Reply::Stall(Duration::from_secs(10), atom(&fjordlink_entries("s", 1))),
    );
    server.set("huge.xml", Reply::Huge(50 * 1024 * 1024));
    server.set(
        "invalid.xml",
        Reply::Feed(common::fixture("rss/invalid.xml")),
    );
    let setup = Setup::new(&format!(
        "{}{}{}{}{}{}",
        rss_source("good", &server.url("good.xml"), ""),
        rss_source("e500", &server.url("e500.xml"), ""),
        rss_source("e429", &server.url("e429.xml"), ""),
        rss_source("stall", &server.url("stall.xml"), "timeout = \"2s\""),
        rss_source("huge", &server.url("huge.xml"), "max_body_bytes = 5000000"),
        rss_source("invalid", &server.url("invalid.xml"), ""),
    ));
    let started = std::time::Instant::now();
    let out = setup.run(&["once"]);
    let log = text(&out);
    assert_eq!(
        out.status.code(),
        Some(75),
        "a failed source makes `once` exit 75:\n{log}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the stalled feed was not cut off: {:?}",
        started.elapsed()
    );
    assert_eq!(setup.count(Some("good")), 4, "{log}");
    // The feed cut off mid-entry keeps its complete entry and leaves out the cut one.
    assert_eq!(setup.count(Some("invalid")), 1, "{log}");
    assert_eq!(setup.count(None), 5);
    for (name, needle) in [
        ("e500", "HTTP 500"),
        ("e429", "rate limited; retry after 900s"),
        ("stall", "timed out after 2s"),
        ("huge", "larger than the 5000000 byte limit"),
    ] {
        assert!(
            log.contains(&format!("{name:<20} FAILED")) && log.contains(needle),
            "{name}: {needle}\n{log}"
        );
    }

    let now = chrono::Utc::now().timestamp();
    for s in setup.sources_json() {
        let name = s["source"].as_str().unwrap();
        if name == "good" || name == "invalid" {
            assert_eq!(s["state"], "ok", "{s}");
            continue;
        }
        assert_eq!(s["state"], "failing", "{s}");
        assert_eq!(s["consecutive_failures"], 1, "{s}");
        let next = s["next_poll_at"].as_i64().unwrap();
        if name == "e429" {
            assert!(
                next >= now + 890,
                "Retry-After 900 must delay the next poll: {s}"
            );
        } else {
            assert!(next >= now + 25, "a failure backs off: {s}");
        }
    }

    // A second failure doubles the wait; the cursor of the healthy feed is untouched.
    let out = setup.run(&["once"]);
    assert_eq!(out.status.code(), Some(75));
    let e500 = setup
        .sources_json()
        .into_iter()
        .find(|s| s["source"] == "e500")
        .unwrap();
    assert_eq!(e500["consecutive_failures"], 2);
    assert!(
        e500["next_poll_at"].as_i64().unwrap() >= now + 100,
        "{e500}"
    );
    assert_eq!(server.hits("good.xml"), vec![200, 304]);
}

#[test]
fn the_daemon_keeps_polling_healthy_sources_while_others_fail_and_stops_on_sigterm() {
    let server = FeedServer::start();
    server.set("good.xml", Reply::Feed(atom(&fjordlink_entries("g", 2))));
    server.set("bad.xml", Reply::Status(503, vec![], "down".into()));
    let setup = Setup::new(&format!(
        "{}{}",
        rss_source(
            "good",
            &server.url("good.xml"),
            "interval = \"1s\"\njitter = 0.0"
        )
        .replace("interval = \"1m\"\n", ""),
        rss_source(
            "bad",
            &server.url("bad.xml"),
            "interval = \"1s\"\nmax_backoff = \"2s\""
        )
        .replace("interval = \"1m\"\n", ""),
    ));
    let mut child = KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && (server.hits("good.xml").len() < 3 || server.hits("bad.xml").len() < 2)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    // A new entry appears while the daemon runs.
    let mut more = fjordlink_entries("n", 1);
    more.extend(fjordlink_entries("g", 2));
    server.set("good.xml", Reply::Feed(atom(&more)));
    while std::time::Instant::now() < deadline && setup.count(None) < 3 {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(setup.count(Some("good")), 3);
    assert!(
        server.hits("bad.xml").len() >= 2,
        "the failing source is retried"
    );
    let stopped_at = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("SIGTERM received") && log.contains("webcare stopped"),
        "{log}"
    );
    assert!(
        log.contains("source=bad") && log.contains("HTTP 503"),
        "{log}"
    );
}

/// An Atom feed whose entries all carry one id (a CMS bug seen in the wild) and plain-text
/// content with brackets in it, newest entry first.
fn shared_id_feed(titles: &[&str]) -> Vec<u8> {
    let epoch = common::feed_epoch();
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>"#,
    );
    for (i, t) in titles.iter().enumerate() {
        let at = (epoch + chrono::TimeDelta::minutes(59 - i as i64)).format("%Y-%m-%dT%H:%M:%SZ");
        s.push_str(&format!(
            "<entry><id>urn:forum:post</id><title type=\"text\">{t}</title><updated>{at}</updated>\
             <content type=\"text\">Fjordlink: History of the &lt;blink&gt; tag, {t}</content></entry>"
        ));
    }
    s.push_str("</feed>");
    s.into_bytes()
}

#[test]
fn posts_sharing_one_id_are_each_stored_once_and_plain_text_keeps_its_brackets() {
    let server = FeedServer::start();
    server.set(
        "shared.xml",
        Reply::Feed(shared_id_feed(&["Fjordlink down", "Fjordlink slow"])),
    );
    let setup = Setup::new(&rss_source("shared", &server.url("shared.xml"), ""));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(setup.count(None), 2, "{}", text(&out));

    // A new post on top: only it is new, the two before keep their ids.
    server.set(
        "shared.xml",
        Reply::Feed(shared_id_feed(&[
            "Fjordlink back",
            "Fjordlink down",
            "Fjordlink slow",
        ])),
    );
    let out = setup.run(&["once"]);
    assert_said(&out, "stored    1  already stored    2");
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let texts: Vec<String> = conn
        .prepare("SELECT text FROM mentions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        texts,
        [
            "Fjordlink: History of the <blink> tag, Fjordlink down",
            "Fjordlink: History of the <blink> tag, Fjordlink slow",
            "Fjordlink: History of the <blink> tag, Fjordlink back",
        ]
    );
}

#[test]
fn a_big_feed_is_stored_as_it_is_read_and_read_whole_where_only_the_whole_tells() {
    let server = FeedServer::start();
    let n = 5_000;
    let big = atom(&fjordlink_entries("big", n));
    assert!(
        big.len() > 1 << 20,
        "a feed is read part by part from 1 MiB on"
    );
    server.set("big.xml", Reply::Feed(big));
    // Two entries at the very end share one id: only the whole document tells them apart.
    let mut shared = fjordlink_entries("late", n);
    shared.push(("urn:test:late-dup".into(), "Fjordlink one".into()));
    shared.push(("urn:test:late-dup".into(), "Fjordlink two".into()));
    server.set("shared.xml", Reply::Feed(atom(&shared)));
    // A document that turns out to be hostile at its very end fails whole, as when read whole:
    // none of the entries before it is kept.
    let mut deep = String::from_utf8(atom(&fjordlink_entries("deep", n))).unwrap();
    deep.truncate(deep.rfind("</feed>").unwrap());
    deep.push_str(&format!(
        "<entry><id>urn:test:deep</id><content type=\"xhtml\">{}</content></entry></feed>",
        "<div>".repeat(1_000)
    ));
    server.set("deep.xml", Reply::Feed(deep.into_bytes()));
    let setup = Setup::new(&format!(
        "{}{}{}",
        rss_source("big", &server.url("big.xml"), ""),
        rss_source("shared", &server.url("shared.xml"), ""),
        rss_source("deep", &server.url("deep.xml"), "")
    ));

    let out = setup.run(&["once"]);
    let said = text(&out);
    assert_eq!(setup.count(Some("big")), n as i64, "{said}");
    let ids = setup.external_ids_of(Some("shared"));
    assert_eq!(ids.len(), n + 2, "{said}");
    let dups: Vec<_> = ids
        .iter()
        .filter(|i| i.starts_with("urn:test:late-dup#"))
        .collect();
    assert_eq!(
        dups.len(),
        2,
        "each post under the shared id is kept: {dups:?}"
    );
    assert_eq!(setup.count(Some("deep")), 0, "{said}");
    assert!(said.contains("nest deeper"), "{said}");

    // The stored feeds come back unchanged (304); the failed one kept no cursor and is
    // fetched whole again.
    let out = setup.run(&["once"]);
    assert_eq!(server.hits("big.xml"), vec![200, 304], "{}", text(&out));
    assert_eq!(server.hits("deep.xml"), vec![200, 200]);
    assert_eq!(setup.count(Some("big")), n as i64);
}
