//! Nothing from outside grows without bound: a 9 MB mention is stored cut to
//! `[store] max_text_chars`, and a thousand idle connections to the admin server neither use up
//! the daemon's file descriptors (polls keep succeeding) nor stay open for ever.

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{FeedServer, Reply, Setup, TermOnDrop, atom, fjordlink_entries, free_port};

#[test]
fn a_nine_megabyte_mention_is_stored_cut_and_marked() {
    let server = FeedServer::start();
    let huge = format!("Fjordlink {}", "storing ".repeat(9 * 1024 * 1024 / 8));
    let mut entries = fjordlink_entries("n", 1);
    entries.push(("urn:test:huge".into(), huge.clone()));
    server.set("feed.xml", Reply::Feed(atom(&entries)));
    let setup = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n",
        server.url("feed.xml")
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(setup.count(None), 2);

    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let text: String = conn
        .query_row(
            "SELECT text FROM mentions WHERE external_id = 'urn:test:huge'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let total = huge.trim().chars().count();
    let marker = format!("\n[… cut by webcare: 20000 of {total} characters kept]");
    assert!(text.ends_with(&marker), "{}", &text[text.len() - 200..]);
    assert_eq!(text.chars().count(), 20_000 + marker.chars().count());
    assert!(text.starts_with("Fjordlink storing storing"));
    let small: String = conn
        .query_row(
            "SELECT text FROM mentions WHERE external_id = 'urn:test:n-0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(small, "Fjordlink storing nummer 0 in Utrecht");
    drop(conn);
    let size = std::fs::metadata(setup.db()).unwrap().len()
        + std::fs::metadata(setup.db().with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    assert!(size < 4 * 1024 * 1024, "database grew to {size} bytes");
}

fn polls(setup: &Setup) -> (i64, i64) {
    let Ok(conn) = rusqlite::Connection::open(setup.db()) else {
        return (0, 0);
    };
    conn.query_row(
        "SELECT count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER (WHERE outcome != 'ok') FROM poll_log",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap_or((0, 0))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.starts_with("HTTP/1.1 200")
}

#[test]
fn a_thousand_idle_admin_connections_do_not_stop_the_polls() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["forum"], 2);
    let port = free_port();
    let setup = Setup::with_admin(
        &server.rss_sources(&["forum"]),
        &format!(
            "listen = \"127.0.0.1:{port}\"\nheader_read_timeout = \"2s\"\nidle_timeout = \"3s\""
        ),
    );
    // A descriptor limit well under the thousand connections: unbounded, the daemon would run
    // out of descriptors and its polls (sockets, the database) would fail.
    let daemon = TermOnDrop(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 512 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_webcare"))
            .arg("--config")
            .arg(&setup.config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .env_remove("WEBCARE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(port) {
        assert!(Instant::now() < deadline, "the admin server never answered");
        std::thread::sleep(Duration::from_millis(100));
    }

    let connecting = Instant::now();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let connected_in = connecting.elapsed();
    let (ok_before, failed_before) = polls(&setup);
    let flood_started = Instant::now();
    // Keep the connections idle through several poll intervals and the admin timeouts.
    let mut most_fds = 0;
    while flood_started.elapsed() < Duration::from_secs(6) {
        most_fds = most_fds.max(open_fds(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok_after, failed_after) = polls(&setup);
    assert!(
        ok_after >= ok_before + 3,
        "polls stalled under the flood: {ok_before} -> {ok_after} ok (clients connected in {connected_in:?})"
    );
    assert_eq!(failed_after, failed_before, "polls failed under the flood");
    assert!(
        most_fds < 256 + 64,
        "the daemon held {most_fds} descriptors for 1000 idle clients"
    );
    // The timeouts free the slots: the admin server answers again while the idle clients are
    // still connected.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(port) {
        assert!(
            Instant::now() < deadline,
            "the admin server stayed unreachable behind idle connections"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(idle);
}
