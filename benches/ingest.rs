//! Ingest throughput: a 100,000-entry Atom feed parsed, matched against 10 watches and
//! committed to SQLite in one poll's transaction. Run with `cargo bench --bench ingest`.
//! Prints mentions per second for each stage and overall, by wall clock (the figure the target
//! is set in: matching and classifying use every core, as in the daemon) and by the CPU time
//! the process used (the figure to compare on a machine shared with other work), and the
//! process's peak RSS. The WAL checkpoint that follows a commit is timed apart: the daemon runs
//! it on a connection of its own beside the writer (see `store::wal`), not inside the commit.
//! The process runs on the daemon's allocator (`webcare::alloc`). The pipeline runs three times
//! (`INGEST_RUNS`), each into a fresh database, and the fastest run is reported with every
//! run's time beside it: other work on a shared machine only ever slows a run down.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use webcare::store::WalStore;

use chrono::Utc;
use webcare::classify::Classifier;
use webcare::metrics::Metrics;
use webcare::scheduler::Matching;
use webcare::sources::rss::{parse_feed, unread_feed};
use webcare::store::wal::Checkpointer;
use webcare::store::{PollCommit, Store};
use webcare::watch::WatchConfig;
use webcare::watch::Watches;

webcare::daemon_allocator!();

/// Feed size; `INGEST_ENTRIES` overrides it (e.g. a small run under a profiler).
fn entries() -> usize {
    std::env::var("INGEST_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn feed() -> Vec<u8> {
    let texts = [
        "Al drie dagen geen internet bij Fjordlink, en de klantenservice neemt niet op. #fjordlinkfail",
        "Thanks @Fjordlink for the quick fix, the technician was great!",
        "Hvordan opsiger jeg mit abonnement hos Fjordlink? Har ventet 40 min i telefonen.",
        "Nieuwe glasvezelwijk in Zwolle: Fjordlink en twee concurrenten strijden om klanten",
        "Win a free FjordBox!!! Click here http://spam.example/win now",
        "Mijn FjordBox valt elke avond uit tijdens het voetbal, iemand een idee?",
        "Ik zoek een vacature bij een telecombedrijf in Utrecht",
        "Café de Zwaan heeft eindelijk snel internet dankzij Fjordlink Fiber",
    ];
    let mut s = String::with_capacity(entries() * 600);
    s.push_str(r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>bench</title><id>urn:bench</id><updated>2026-11-25T10:00:00Z</updated>"#);
    for i in 0..entries() {
        let t = texts[i % texts.len()];
        s.push_str(&format!(
            "<entry><id>urn:bench:{i}</id><title>Post {i}</title><link href=\"https://forum.example/t/{i}\"/><published>2026-11-25T09:{:02}:{:02}Z</published><author><name>user{}</name></author><content type=\"html\">&lt;p&gt;{t} &lt;a href=\"https://forum.example/u/{i}\"&gt;more&lt;/a&gt;&lt;/p&gt;</content></entry>",
            (i / 60) % 60,
            i % 60,
            i % 5000
        ));
    }
    s.push_str("</feed>");
    s.into_bytes()
}

fn watches() -> Vec<WatchConfig> {
    let q = [
        ("Fjordlink", "fjordlink -vacature"),
        ("FjordBox", "fjordbox OR \"fjordlink tv\""),
        ("Fiber", "\"fjordlink fiber\" OR glasvezel"),
        ("Opsigelse", "opsige* OR opzeggen OR cancel"),
        ("Outage", "(storing OR nedbrud OR outage) AND fjordlink"),
        (
            "Support",
            "klantenservice OR kundeservice OR \"customer service\"",
        ),
        ("Competitors", "kpn OR ziggo OR telia OR yousee"),
        ("Praise", "fjordlink AND (thanks OR bedankt OR tak)"),
        ("Spam", "win AND free"),
        ("Cafe", "café OR koffie"),
    ];
    q.iter()
        .map(|(n, q)| WatchConfig {
            name: n.to_string(),
            query: q.to_string(),
            languages: vec![],
            daily_cap: None,
            terms: Default::default(),
        })
        .collect()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time the whole process has used, every thread counted (matching and classifying run
/// on all cores), from `getrusage`; `None` where it fails.
fn process_cpu() -> Option<Duration> {
    // SAFETY: `getrusage` only writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0).then_some(u)?
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

/// CPU time of the calling thread: in the overall stage, the SQLite writer's (the producer
/// that reads, matches and classifies runs on a thread of its own).
fn thread_cpu() -> Option<Duration> {
    // SAFETY: `clock_gettime` only writes into the zeroed struct it is given.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        (libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) == 0).then_some(t)?
    };
    Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// A stage's start: wall clock and process CPU time.
struct Mark(Instant, Option<Duration>);

impl Mark {
    fn now() -> Mark {
        Mark(Instant::now(), process_cpu())
    }

    /// Wall and CPU time since the mark (CPU falls back to wall where getrusage fails).
    fn since(&self) -> (Duration, Duration) {
        let wall = self.0.elapsed();
        let cpu = match (self.1, process_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall,
        };
        (wall, cpu)
    }
}

/// How many times the pipeline runs, each into a fresh database: `INGEST_RUNS`, 3 unless set
/// (1 with `INGEST_DB`). Other work on the machine only ever slows a run down, so the fastest
/// run is the figure to compare; every run is printed beside it.
fn runs() -> usize {
    if std::env::var_os("INGEST_DB").is_some() {
        return 1;
    }
    std::env::var("INGEST_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

/// What one run of the whole pipeline took and stored.
struct Run {
    /// Read, match, classify and commit: wall and process CPU time.
    total: (Duration, Duration),
    /// CPU time of the SQLite writer's thread during `total`.
    writer: Option<Duration>,
    /// The checkpoint after the commit, on a connection of its own.
    checkpoint: (Duration, Duration),
    /// Entries that matched a watch.
    kept: usize,
    /// Mentions stored.
    stored: usize,
}

/// Reads the bench feed as one poll of a fresh database, as the daemon does with a big feed.
fn run(watches: &Watches) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    // `INGEST_DB=path` keeps the database for a look afterwards (the file must not exist).
    let db = std::env::var_os("INGEST_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    let mut store = Store::open(&db).expect("open store");
    // As in the daemon: the writer's commits leave the log to a checkpointer of its own.
    store
        .leave_checkpoints_to_background()
        .expect("checkpoints off the writer");
    let none = HashMap::new();

    // As in the daemon's poll of a big feed: the body is handed to the commit unread, and a
    // producer thread reads, matches, classifies and prepares it part by part while the
    // writer stores the part before (`Matching::commit_unread`).
    let unread = unread_feed(feed(), "bench", Some("nl"));
    let t0 = Mark::now();
    let writer0 = thread_cpu();
    let metrics = Metrics::default();
    let (summary, kept, fetched) = Matching {
        watches,
        owned: None,
        max_text_chars: 0,
        metrics: &metrics,
        source: "bench",
    }
    .commit_unread(
        &mut store,
        &unread,
        PollCommit {
            source: "bench",
            kind: "rss",
            mentions: Vec::new(),
            cursor: Some("{}".into()),
            next_poll_at: Utc::now(),
            started_at: Utc::now(),
            fetched: 0,
            backfill: false,
            source_cap: None,
            watch_caps: &none,
            raw_max_bytes: 16 * 1024,
            signals: Some(watches.classifier()),
            own_replies: Vec::new(),
        },
    )
    .expect("the bench feed streams to the end");
    let summary = summary.expect("commit");
    assert_eq!(fetched, entries(), "every entry read");
    let total = t0.since();
    let writer = writer0.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a));
    drop(unread);

    // What the daemon's checkpoint stage then does beside the next poll.
    let t3 = Mark::now();
    Checkpointer::open(&db)
        .and_then(|c| c.passive())
        .expect("checkpoint");
    let checkpoint = t3.since();
    Run {
        total,
        writer,
        checkpoint,
        kept,
        stored: summary.new_ids.len(),
    }
}

fn main() {
    let watches =
        Watches::compile(&watches(), Classifier::embedded()).expect("bench watches parse");
    // Each run makes the feed afresh, so only one copy is ever held (peak RSS).
    let mut all: Vec<Run> = (0..runs()).map(|_| run(&watches)).collect();
    // Before the reference parse below, which holds the whole feed's mentions at once.
    let peak_rss = peak_rss_mib();
    all.sort_by_key(|r| r.total.0);
    let best = &all[0];
    let median = &all[all.len() / 2];

    // For reference, not part of the total: the feed read whole on its own (what a small
    // feed's poll does before its commit).
    let body = feed();
    let body_mib = body.len() as f64 / 1048576.0;
    let t4 = Mark::now();
    let whole = parse_feed(&body, "bench", Some("nl")).expect("bench feed parses");
    let parsed = t4.since();
    drop(whole);

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "ingest benchmark: {} Atom entries ({:.1} MiB), 10 watches, one SQLite transaction; \
         the fastest of {} runs, each into a fresh database",
        entries(),
        body_mib,
        all.len()
    );
    println!(
        "  stage                                    wall: mentions/s (ms)   CPU time: mentions/s (ms)"
    );
    let stages = [
        (
            "overall: read, match, classify, commit",
            entries(),
            best.total,
        ),
        (
            "then: checkpoint, own connection",
            best.kept,
            best.checkpoint,
        ),
        ("for reference: the feed read whole", entries(), parsed),
    ];
    for (name, n, (wall, cpu)) in stages {
        println!(
            "  {name:<40} {:>9.0} ({:>5.0})     {:>9.0} ({:>5.0})",
            rate(n, wall),
            wall.as_secs_f64() * 1e3,
            rate(n, cpu),
            cpu.as_secs_f64() * 1e3
        );
    }
    if let Some(writer) = best.writer {
        // Whichever side is busy for nearly the whole wall time is the one that limits it.
        let (wall, cpu) = best.total;
        println!(
            "  overall, busy: the writer {:.0} ms, the reader, matcher and classifier {:.0} ms, of {:.0} ms wall",
            writer.as_secs_f64() * 1e3,
            cpu.saturating_sub(writer).as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3
        );
    }
    let walls: Vec<String> = all
        .iter()
        .map(|r| format!("{:.0}", r.total.0.as_secs_f64() * 1e3))
        .collect();
    println!(
        "  every run, fastest first, overall wall (ms): {}; the median run {:.0} mentions/s",
        walls.join(", "),
        rate(entries(), median.total.0)
    );
    println!(
        "  {} of {} entries matched a watch, {} stored (the commit includes FTS5)",
        best.kept,
        entries(),
        best.stored
    );
    println!("  peak RSS (read to commit)                {peak_rss:>9.1} MiB");
}
