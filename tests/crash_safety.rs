//! `kill -9` at any moment loses no mention and stores none twice: a poll's mentions and its
//! cursor commit together, so a killed poll is simply fetched again.

mod common;

use std::time::Duration;

use common::{FeedServer, Reply, Setup, atom, fjordlink_entries};

#[test]
fn sigkill_during_polling_loses_nothing_and_duplicates_nothing() {
    let server = FeedServer::start();
    let feeds = ["a", "b", "c"];
    let mut sizes = [1500usize, 1000, 500];
    for (f, n) in feeds.iter().zip(sizes) {
        server.set(
            &format!("{f}.xml"),
            Reply::Feed(atom(&fjordlink_entries(f, n))),
        );
    }
    let sources: String = feeds
        .iter()
        .map(|f| {
            format!(
                "[[sources]]\nname = \"{f}\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n",
                server.url(&format!("{f}.xml"))
            )
        })
        .collect();
    let setup = Setup::new(&sources);

    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..12 {
        let mut child = setup.start_daemon();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(80 + rng % 700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The feeds grow while the daemon is down or mid-poll.
        for (i, f) in feeds.iter().enumerate() {
            sizes[i] += 37 + round;
            server.set(
                &format!("{f}.xml"),
                Reply::Feed(atom(&fjordlink_entries(f, sizes[i]))),
            );
        }
    }
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", common::text(&out));

    for (f, n) in feeds.iter().zip(sizes) {
        assert_eq!(
            setup.count(Some(f)),
            n as i64,
            "source {f}: every entry stored exactly once"
        );
    }
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let fts: i64 = conn
        .query_row(
            "SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'utrecht'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        fts,
        sizes.iter().sum::<usize>() as i64,
        "the full-text index matches the table"
    );
    let linked: i64 = conn
        .query_row(
            "SELECT count(*) FROM mentions INDEXED BY mentions_watch_ids WHERE watches != ''",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(linked, sizes.iter().sum::<usize>() as i64);
}
