//! Alert latency and throughput through the whole daemon: a mention appears in a feed the
//! daemon polls every second, and the clock stops when a real SMTP server on 127.0.0.1 has
//! accepted the alert. Prints p50/p99 latency and sustained alerts per second. Run with
//! `cargo bench --bench alert_latency` (`LATENCY_SAMPLES`, `BURST` change the sizes).

mod common;

use std::time::{Duration, Instant};

use common::inbox::Inbox;
use common::{env_or, replace_file, start_alerting_daemon, stop};

/// An RSS feed of complaints `0..n`, each with a code the test finds again in the mail.
fn write_feed(path: &std::path::Path, n: usize) {
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>bench</title>");
    for i in 0..n {
        s.push_str(&format!(
            "<item><guid>c{i}</guid><title>Storing</title><description>Fjordlink internet kapot, storingscode Q{i}Z</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    replace_file(path, &s);
}

fn received(inbox: &Inbox, code: usize) -> Option<Instant> {
    let needle = format!("Q{code}Z");
    inbox
        .mails()
        .iter()
        .find(|m| m.raw.contains(&needle))
        .map(|m| m.at)
}

fn main() {
    let samples = env_or("LATENCY_SAMPLES", 40);
    let burst = env_or("BURST", 1000);
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::default();
    let port = inbox.serve();

    let feed = dir.path().join("feed.rss");
    write_feed(&feed, 1); // the first poll is history and raises no alert
    let child = start_alerting_daemon(dir.path(), port, &feed);
    std::thread::sleep(Duration::from_secs(3));

    // Latency: one new complaint at a time, at a spacing that is not a multiple of the interval.
    let mut latencies = Vec::new();
    for i in 1..=samples {
        write_feed(&feed, i + 1);
        let written = Instant::now();
        let deadline = written + Duration::from_secs(30);
        let at = loop {
            if let Some(t) = received(&inbox, i) {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "alert {i} did not arrive within 30 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        latencies.push(at.duration_since(written));
        std::thread::sleep(Duration::from_millis(fastrand::u64(100..700)));
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];

    // Throughput: a burst of complaints in one poll, until the last alert is accepted.
    let before = inbox.count();
    let first = samples + 1;
    write_feed(&feed, first + burst);
    let written = Instant::now();
    let deadline = written + Duration::from_secs(600);
    while inbox.count() < before + burst {
        assert!(
            Instant::now() < deadline,
            "the burst did not arrive within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = written.elapsed();
    stop(child);

    println!("alert latency: feed polled every 1 s, batching off, SMTP on 127.0.0.1");
    println!(
        "  samples {samples}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "  burst of {burst}: all accepted after {:.1} s = {:.0} alerts/s sustained",
        took.as_secs_f64(),
        burst as f64 / took.as_secs_f64()
    );
}
