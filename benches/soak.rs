//! Memory under a steady alert rate: the daemon polls a feed that gains `SOAK_RATE` new,
//! different complaints a second (default 10) and mails each to a real SMTP server on
//! 127.0.0.1, for `SOAK_SECONDS` (default 600). Prints the daemon's resident memory every
//! 30 s and its growth from the end of the first minute (warm-up) to the end; the bar is
//! ±20 %. Not part of `cargo test`: run with `cargo bench --bench soak`
//! (`SOAK_SECONDS=120 cargo bench --bench soak` for a quick look).

mod common;

use std::time::{Duration, Instant};

use common::inbox::Inbox;
use common::{env_or, replace_file, start_alerting_daemon, stop};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The 200 newest complaints up to `upto`, each different enough not to be a near-duplicate.
fn write_feed(path: &std::path::Path, upto: u64) {
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>soak</title>");
    for i in upto.saturating_sub(200)..upto {
        s.push_str(&format!(
            "<item><guid>s{i}</guid><title>Storing</title><description>Fjordlink storing {i} in wijk {} sinds {} uur, modem {} knippert</description></item>",
            i * 7919 % 10007,
            i % 24,
            i % 13
        ));
    }
    s.push_str("</channel></rss>");
    replace_file(path, &s);
}

fn main() {
    let seconds = env_or("SOAK_SECONDS", 600);
    let rate = env_or("SOAK_RATE", 10);
    let dir = tempfile::tempdir().unwrap();
    // Counts accepted messages and keeps none, so the bench itself does not grow.
    let sent = Inbox::counting();
    let port = sent.serve();

    let feed = dir.path().join("feed.rss");
    write_feed(&feed, 0); // the first poll is history and raises no alert
    let child = start_alerting_daemon(dir.path(), port, &feed);
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));

    let start = Instant::now();
    let mut published = 0;
    let mut warm = None;
    let mut last_report = Instant::now();
    println!("soak: {rate} complaints/s for {seconds} s");
    while start.elapsed() < Duration::from_secs(seconds) {
        published += rate;
        write_feed(&feed, published);
        std::thread::sleep(Duration::from_secs(1));
        if warm.is_none() && start.elapsed() >= Duration::from_secs(60.min(seconds / 2)) {
            warm = Some(rss_kib(pid));
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "{:>5} s  rss {:>7} KiB  published {published:>6}  mailed {:>6}",
                start.elapsed().as_secs(),
                rss_kib(pid),
                sent.count()
            );
        }
    }
    let end = rss_kib(pid);
    let warm = warm.unwrap_or(end).max(1);
    println!(
        "rss after warm-up {warm} KiB, at the end {end} KiB: {:+.1} %; published {published}, mailed {}",
        (end as f64 - warm as f64) * 100.0 / warm as f64,
        sent.count()
    );
    stop(child);
}
