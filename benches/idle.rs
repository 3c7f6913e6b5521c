//! The daemon at rest: start-up time to READY=1, then resident memory and CPU while idle with
//! 10 sources and (by default) 1,000,000 stored mentions. Run with `cargo bench --bench idle`;
//! `IDLE_MENTIONS` and `IDLE_SECONDS` change the database size and the measuring window.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};
use webcare::store::PollStore;

use chrono::Utc;
use webcare::sources::Mention;
use webcare::store::{NewMention, PollCommit, Store};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn main() {
    let mentions = env_or("IDLE_MENTIONS", 1_000_000);
    let window = env_or("IDLE_SECONDS", 30);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("webcare.db");

    let t = Instant::now();
    let mut store = Store::open(&db).expect("open store");
    let texts = [
        "Al drie dagen geen internet bij Fjordlink en niemand belt terug",
        "Thanks Fjordlink, the technician fixed my router in ten minutes",
        "Hvordan opsiger jeg mit abonnement hos Fjordlink?",
        "Fjordlink breidt glasvezel uit naar twaalf nieuwe wijken in Zwolle",
    ];
    let none = HashMap::new();
    let batch = 50_000;
    let mut n = 0;
    while n < mentions {
        let take = batch.min(mentions - n);
        let rows = (n..n + take)
            .map(|i| NewMention {
                mention: Mention {
                    external_id: format!("seed-{i}"),
                    url: Some(format!("https://forum.example/t/{i}")),
                    author_handle: Some(format!("user{}", i % 20_000)),
                    text: texts[(i % 4) as usize].to_string(),
                    created_at: Utc::now(),
                    ..Default::default()
                },
                watches: vec!["Fjordlink".into()],
                verdict: None,
            })
            .collect();
        store
            .commit_poll(PollCommit {
                source: &format!("feed-{}", n / batch % 10),
                kind: "rss",
                mentions: rows,
                cursor: None,
                next_poll_at: Utc::now(),
                started_at: Utc::now(),
                fetched: take as usize,
                backfill: true,
                source_cap: None,
                watch_caps: &none,
                raw_max_bytes: 0,
                signals: None,
                own_replies: Vec::new(),
            })
            .expect("seed commit");
        n += take;
    }
    drop(store);
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "seeded {mentions} mentions in {:.1} s ({:.0} MiB database)",
        t.elapsed().as_secs_f64(),
        size as f64 / 1048576.0
    );

    let mut sources = String::new();
    for i in 0..10 {
        let feed = dir.path().join(format!("feed-{i}.xml"));
        std::fs::write(&feed, format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>f{i}</title><item><guid>x{i}</guid><title>Fjordlink {i}</title><description>Fjordlink storing {i}</description></item></channel></rss>")).unwrap();
        sources.push_str(&format!("[[sources]]\nname = \"feed-{i}\"\nkind = \"rss\"\nurl = \"file://{}\"\ninterval = \"10m\"\n\n", feed.display()));
    }
    let config = dir.path().join("webcare.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[watches]]\nname = \"Fjordlink\"\nquery = \"fjordlink\"\n\n{sources}", db.display()),
    )
    .unwrap();

    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .env("NOTIFY_SOCKET", &socket_path)
        .spawn()
        .expect("start webcare");
    let mut buf = [0u8; 4096];
    loop {
        let got = socket.recv(&mut buf).expect("READY=1 within two minutes");
        if String::from_utf8_lossy(&buf[..got]).contains("READY=1") {
            break;
        }
    }
    let ready = started.elapsed();
    // Let the first polls and the start-up retention pass finish before measuring rest.
    std::thread::sleep(Duration::from_secs(10));
    let pid = child.id();
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let (c0, t0) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(window));
    let (c1, elapsed) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    println!("idle benchmark: 10 sources, {mentions} stored mentions");
    println!(
        "  start-up to READY=1     {:>8.0} ms",
        ready.as_secs_f64() * 1e3
    );
    println!(
        "  idle RSS                {:>8.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  idle CPU                {:>8.3} % of one core over {window} s",
        (c1 - c0) as f64 / ticks_per_s / elapsed * 100.0
    );
}
