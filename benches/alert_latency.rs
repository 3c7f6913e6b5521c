//! Alert latency and throughput through the whole daemon: a mention appears in a feed the
//! daemon polls every second, and the clock stops when a real SMTP server on 127.0.0.1 has
//! accepted the alert. Prints p50/p99 latency and sustained alerts per second. Run with
//! `cargo bench --bench alert_latency` (`LATENCY_SAMPLES`, `BURST` change the sizes).

use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, response};

/// Every accepted message with the moment the server accepted it.
#[derive(Clone, Default)]
struct Inbox {
    mails: Arc<Mutex<Vec<(Instant, String)>>>,
    data: Vec<u8>,
}

impl Handler for Inbox {
    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> Response {
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
        self.mails.lock().unwrap().push((Instant::now(), raw));
        response::OK
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    // Write then rename, so the daemon never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn received(inbox: &Inbox, code: usize) -> Option<Instant> {
    let needle = format!("Q{code}Z");
    inbox
        .mails
        .lock()
        .unwrap()
        .iter()
        .find(|(_, raw)| raw.contains(&needle))
        .map(|(t, _)| *t)
}

fn main() {
    let samples = env_or("LATENCY_SAMPLES", 40);
    let burst = env_or("BURST", 1000);
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::default();
    let mut server = Server::new(inbox.clone());
    server
        .with_name("localhost")
        .with_tcp_listener(listener)
        .with_num_threads(4);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    let feed = dir.path().join("feed.rss");
    write_feed(&feed, 1); // the first poll is history and raises no alert
    let config = dir.path().join("webcare.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nbatch_window = \"0s\"\n\n\
             [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n\n\
             [[watches]]\nname = \"Fjordlink\"\nquery = \"fjordlink\"\n\n\
             [[sources]]\nname = \"feed\"\nkind = \"rss\"\nurl = \"file://{}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n",
            dir.path().join("webcare.db").display(),
            feed.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start webcare");
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
    let before = inbox.mails.lock().unwrap().len();
    let first = samples + 1;
    write_feed(&feed, first + burst);
    let written = Instant::now();
    let deadline = written + Duration::from_secs(600);
    while inbox.mails.lock().unwrap().len() < before + burst {
        assert!(
            Instant::now() < deadline,
            "the burst did not arrive within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = written.elapsed();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

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
