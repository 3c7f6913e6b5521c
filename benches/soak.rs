//! Memory under a steady alert rate: the daemon polls a feed that gains `SOAK_RATE` new,
//! different complaints a second (default 10) and mails each to a real SMTP server on
//! 127.0.0.1, for `SOAK_SECONDS` (default 600). Prints the daemon's resident memory every
//! 30 s and its growth from the end of the first minute (warm-up) to the end; the bar is
//! ±20 %. Not part of `cargo test`: run with `cargo bench --bench soak`
//! (`SOAK_SECONDS=120 cargo bench --bench soak` for a quick look).

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, response};

/// Counts accepted messages; keeps none, so the bench itself does not grow.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Handler for Counter {
    fn data_end(&mut self) -> Response {
        self.0.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    // Write then rename, so the daemon never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn main() {
    let seconds = env_or("SOAK_SECONDS", 600);
    let rate = env_or("SOAK_RATE", 10);
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Counter::default();
    let mut server = Server::new(sent.clone());
    server
        .with_name("localhost")
        .with_tcp_listener(listener)
        .with_num_threads(4);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    let feed = dir.path().join("feed.rss");
    write_feed(&feed, 0); // the first poll is history and raises no alert
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
                sent.0.load(Ordering::Relaxed)
            );
        }
    }
    let end = rss_kib(pid);
    let warm = warm.unwrap_or(end).max(1);
    println!(
        "rss after warm-up {warm} KiB, at the end {end} KiB: {:+.1} %; published {published}, mailed {}",
        (end as f64 - warm as f64) * 100.0 / warm as f64,
        sent.0.load(Ordering::Relaxed)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}
