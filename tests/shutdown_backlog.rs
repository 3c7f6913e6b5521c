//! SIGTERM while the router works through a large backlog: the daemon stops within seconds
//! (well inside systemd's `TimeoutStopSec=30s`), and a restart routes the rest, with every
//! mention routed once and alerted once.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{FeedServer, Reply, Setup, atom, text};

/// A daemon killed when the test ends early, so a failed test leaves no process behind.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BACKLOG: usize = 4000;

fn counts(setup: &Setup) -> (i64, i64, i64, i64) {
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) FROM mentions WHERE routed_at IS NOT NULL),
                (SELECT count(*) FROM outbox),
                (SELECT count(DISTINCT mention_id) FROM outbox),
                (SELECT count(*) FROM mentions)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

#[test]
fn sigterm_during_a_large_routing_backlog_stops_in_bounded_time_and_loses_nothing() {
    let feed = FeedServer::start();
    feed.publish("feed", &[]);
    let mail = tempfile::tempdir().unwrap();
    let setup = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\ninterval = \"2s\"\njitter = 0.0\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\ntransport = \"file\"\ndir = \"{}\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
        feed.url("feed"),
        mail.path().display()
    ));
    // The first poll reads the history, which raises no alerts.
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));

    let entries: Vec<(String, String)> = (0..BACKLOG)
        .map(|i| {
            (
                format!("urn:backlog:{i}"),
                format!(
                    "Fjordlink storing {i}: al {} dagen geen internet in wijk {}",
                    i % 7 + 2,
                    i * 7919 % 10007
                ),
            )
        })
        .collect();
    feed.set("feed", Reply::Feed(atom(&entries)));
    let mut daemon = Daemon(
        setup
            .webcare()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let daemon = &mut daemon.0;
    let started = Instant::now();
    // Wait for the poll to be stored and routing to be under way.
    loop {
        let (routed, _, _, stored) = counts(&setup);
        if stored as usize == BACKLOG && routed > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the backlog was never stored and routed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (routed_at_stop, ..) = counts(&setup);
    let stopping = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(60) {
            let _ = daemon.kill();
            panic!("the daemon did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?} with {routed_at_stop} of {BACKLOG} routed"
    );

    // What was routed before the stop is consistent: each routed mention has its one alert.
    let (routed, alerts, alerted, _) = counts(&setup);
    assert_eq!(alerts, alerted, "an alert was queued twice");
    assert_eq!(routed, alerts, "routed mentions without their alert");

    // A restart routes the rest, once each.
    let out = setup.run(&["once"]);
    assert!(
        out.status.success() || out.status.code() == Some(75),
        "{}",
        text(&out)
    );
    let (routed, alerts, alerted, stored) = counts(&setup);
    assert_eq!(stored as usize, BACKLOG);
    assert_eq!(routed as usize, BACKLOG);
    assert_eq!(alerts as usize, BACKLOG, "an alert was lost or doubled");
    assert_eq!(alerted as usize, BACKLOG);
}
