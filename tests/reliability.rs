//! An operator's worst week, against the real `webcare` binary: a second instance on one
//! database, a daemon killed with SIGKILL, processes racing to create a new database, a CLI
//! write during a busy daemon, a routing pass that fails, a full disk and a locked database
//! while alerts go out, a read-only database file and a corrupt page.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::inbox::Inbox;
use common::{
    FeedServer, KillOnDrop, Reply, Setup, assert_said, atom, fjordlink_entries, free_port, text,
    wait_for,
};

/// `GET path` on the admin listener as `(status, body)`, or `None` while nothing listens there.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    common::http::get(port, path).map(|a| (a.status, a.body))
}

/// Where [`run_logged`] keeps the daemon's log: beside the test folder, not in it, so a full
/// disk mounted on the folder does not cut the log short.
fn log_path(setup: &Setup) -> PathBuf {
    setup.dir.path().with_extension("log")
}

/// Starts `webcare run` with its log in [`log_path`].
fn run_logged(setup: &Setup) -> KillOnDrop {
    let log = std::fs::File::create(log_path(setup)).unwrap();
    KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn daemon_log(setup: &Setup) -> String {
    std::fs::read_to_string(log_path(setup)).unwrap_or_default()
}

/// Stored mentions; 0 while the database is not there or not migrated yet.
fn stored(setup: &Setup) -> i64 {
    rusqlite::Connection::open_with_flags(setup.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM mentions", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn lock_file(setup: &Setup) -> PathBuf {
    setup.dir.path().join("webcare.db.lock")
}

/// Waits until the daemon holds the instance lock (its pid is in the lock file).
fn wait_for_lock(setup: &Setup, pid: u32) {
    wait_for(
        "the daemon to take the lock",
        Duration::from_secs(20),
        || {
            // The pid is the first line; the daemon publishes its health after it.
            std::fs::read_to_string(lock_file(setup))
                .ok()
                .filter(|t| t.lines().next().map(str::trim) == Some(pid.to_string().as_str()))
        },
    );
}

#[test]
fn a_second_instance_is_refused_naming_the_running_pid() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a"], 3);
    let setup = Setup::new(&server.rss_sources(&["a"]));
    let daemon = run_logged(&setup);
    wait_for_lock(&setup, daemon.id());
    wait_for("the first poll", Duration::from_secs(20), || {
        (stored(&setup) == 3).then_some(())
    });

    for command in ["run", "once"] {
        let started = Instant::now();
        let out = setup.run(&[command]);
        assert_eq!(out.status.code(), Some(75), "{command}: {}", text(&out));
        let message = text(&out);
        assert!(
            message.contains(&format!(
                "another webcare (pid {}) is already polling and sending",
                daemon.id()
            )),
            "{command}: {message}"
        );
        assert!(message.contains("webcare.db"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{command} waited"
        );
    }
    // Reads and single writes keep working beside the daemon.
    let out = setup.run(&["mentions"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = setup.run(&["optout", "add", "rss:user0"]);
    assert!(out.status.success(), "{}", text(&out));
    // The integrity check at start said how long it took.
    let log = daemon_log(&setup);
    assert!(
        log.contains("database integrity check (quick_check) passed") && log.contains("took_ms"),
        "{log}"
    );
}

#[test]
fn a_daemon_killed_with_sigkill_leaves_no_stale_lock() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a"], 3);
    let setup = Setup::new(&server.rss_sources(&["a"]));
    let mut daemon = run_logged(&setup);
    wait_for_lock(&setup, daemon.id());
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    assert!(lock_file(&setup).exists());
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(setup.count(None), 3);
}

#[test]
fn processes_opening_a_new_database_at_once_migrate_it_once() {
    let unused = "[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/a.xml\"\n";
    let reference = Setup::new(unused);
    let out = reference.run(&["optout", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let version = |db: &Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let expected = version(&reference.db());
    assert!(expected > 0);
    for _ in 0..5 {
        let setup = Setup::new(unused);
        let children: Vec<KillOnDrop> = (0..6)
            .map(|_| {
                KillOnDrop(
                    setup
                        .webcare()
                        .args(["optout", "list"])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap(),
                )
            })
            .collect();
        for mut child in children {
            let err = common::stderr_text(&mut child);
            let status = child.wait().unwrap();
            assert!(status.success(), "a racing process failed: {err}");
        }
        assert_eq!(version(&setup.db()), expected);
    }
}

#[test]
fn a_label_during_a_busy_daemon_waits_for_its_turn() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a", "b"], 2000);
    let setup = Setup::new(&server.rss_sources(&["a", "b"]));
    let mut daemon = setup.start_daemon();
    wait_for("the first mentions", Duration::from_secs(30), || {
        (stored(&setup) > 0).then_some(())
    });
    let id: i64 = rusqlite::Connection::open(setup.db())
        .unwrap()
        .query_row("SELECT min(id) FROM mentions", [], |r| r.get(0))
        .unwrap();
    let mut failures = Vec::new();
    for round in 0..12 {
        // Keep the feeds growing, so the daemon commits big polls while the labels run.
        server.publish_fjordlink(&["a", "b"], 2000 + 200 * (round + 1));
        for label in ["praise", "complaint"] {
            let out = setup.run(&["label", &id.to_string(), label, "--by", "test"]);
            if !out.status.success() {
                failures.push(text(&out));
            }
        }
    }
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon stopped");
    assert!(
        failures.is_empty(),
        "{} labels failed: {failures:#?}",
        failures.len()
    );
    let corrections: i64 = rusqlite::Connection::open(setup.db())
        .unwrap()
        .query_row("SELECT count(*) FROM label_corrections", [], |r| r.get(0))
        .unwrap();
    assert_eq!(corrections, 24);
}

/// A webhook receiver on 127.0.0.1 that keeps every `X-Webcare-Id` it was sent; `on_post` runs
/// before it answers 200.
fn webhook(on_post: Arc<dyn Fn() + Send + Sync>) -> (Arc<Mutex<Vec<String>>>, String) {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let shared = posts.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let (posts, on_post) = (shared.clone(), on_post.clone());
            async move {
                let id = headers
                    .get("x-webcare-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                tokio::task::spawn_blocking(move || on_post())
                    .await
                    .unwrap();
                posts.lock().unwrap().push(id);
                "ok"
            }
        }),
    );
    let addr = common::serve_in_background(app);
    (posts, format!("http://{addr}/hook"))
}

const OUTAGE: &str = "Fjordlink storing, al 3 dagen geen internet in Utrecht";

/// A daemon with one feed, a team with an email address and a webhook, and an admin port.
/// The feed's first poll (history, no alerts) is done by `once` before it starts.
fn alerting_setup(feed: &FeedServer, smtp_port: u16, hook: &str, admin: u16) -> Setup {
    let setup = Setup::with_admin(
        &format!(
            "{}\n[mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {smtp_port}\n\
             tls = \"none\"\ntimeout = \"3s\"\nbatch_window = \"0s\"\n\n\
             [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\nwebhook = {{ url = \"{hook}\" }}\n",
            feed.rss_sources(&["forum"])
        ),
        &format!("listen = \"127.0.0.1:{admin}\""),
    );
    feed.publish("forum.xml", &[("urn:old", "Fjordlink opent een winkel")]);
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    setup
}

fn outbox_states(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT state FROM outbox WHERE kind = 'alert' ORDER BY id")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Starts a daemon, publishes one outage report, and makes the database unwritable (`break_it`)
/// the moment the first alert for it arrives, before the daemon can record it as sent. Checks
/// that health says so while it lasts (`reason` in /healthz), that nothing is sent twice, and
/// that once `mend` ran the outcomes are recorded and health is ok again.
fn alerts_survive(
    setup_dir: impl FnOnce(&Setup),
    break_it: Arc<dyn Fn() + Send + Sync>,
    reason: &str,
    trouble: Duration,
    mend: impl FnOnce(),
) {
    let feed = FeedServer::start();
    let broken = Arc::new(std::sync::Once::new());
    let on_alert: Arc<dyn Fn() + Send + Sync> = {
        let broken = broken.clone();
        Arc::new(move || broken.call_once(|| break_it()))
    };
    let mails = Inbox::with_hook(on_alert.clone());
    let smtp_port = mails.serve();
    let (posts, hook) = webhook(on_alert);
    let admin = free_port();
    let setup = alerting_setup(&feed, smtp_port, &hook, admin);
    setup_dir(&setup);
    let _daemon = run_logged(&setup);
    wait_for("/readyz", Duration::from_secs(20), || {
        get(admin, "/readyz").filter(|(s, _)| *s == 200)
    });
    feed.publish(
        "forum.xml",
        &[
            ("urn:outage", OUTAGE),
            ("urn:old", "Fjordlink opent een winkel"),
        ],
    );
    wait_for("the alert", Duration::from_secs(30), || {
        (mails.count() + posts.lock().unwrap().len() > 0).then_some(())
    });
    let (status, body) = wait_for("/healthz to report it", Duration::from_secs(30), || {
        get(admin, "/healthz").filter(|(s, b)| *s == 503 && b.contains(reason))
    });
    assert!(body.contains("database: writes failing since"), "{body}");
    let (ready, why) = get(admin, "/readyz").unwrap();
    assert_eq!(ready, 503, "{why}");
    assert!(why.contains("the database cannot be written"), "{why}");
    assert_eq!(status, 503);
    std::thread::sleep(trouble);
    // The first message went out; its outcome could not be recorded, so nothing else did.
    let sent = mails.count() + posts.lock().unwrap().len();
    assert_eq!(sent, 1, "messages sent during the trouble");
    mend();
    wait_for(
        "both alerts recorded as sent",
        Duration::from_secs(60),
        || (outbox_states(&setup.db()) == ["sent", "sent"]).then_some(()),
    );
    let mut last = None;
    let healthy = Instant::now() + Duration::from_secs(30);
    while Instant::now() < healthy {
        last = get(admin, "/healthz");
        if last.as_ref().is_some_and(|(s, _)| *s == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        last.as_ref().map(|(s, _)| *s),
        Some(200),
        "{last:?}\n{}\n{}",
        daemon_log(&setup),
        text(&setup.run(&["sources"]))
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mails.count(), 1, "{}", daemon_log(&setup));
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
}

/// Holds the database's write lock from this process for `hold`, on a thread of its own.
fn hold_write_lock(db: PathBuf, hold: Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    rx.recv().unwrap();
}

#[test]
fn a_database_locked_past_the_busy_timeout_sends_no_alert_twice() {
    // The daemon waits 10 s for a lock; this one is held for 25 s from the moment the first
    // alert arrives, before the daemon can record it.
    let db = Arc::new(Mutex::new(PathBuf::new()));
    let path = db.clone();
    alerts_survive(
        |s| *db.lock().unwrap() = s.db(),
        Arc::new(move || hold_write_lock(path.lock().unwrap().clone(), Duration::from_secs(25))),
        "database is locked",
        Duration::from_secs(5),
        || {},
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A mount made by a test, lazily unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until it has no space left.
fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    for size in [4096usize, 512, 1] {
        while f.write_all(&vec![0u8; size]).is_ok() {}
    }
}

#[test]
fn a_full_disk_sends_no_alert_twice_and_health_says_so() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small tmpfs as the full disk needs root");
        return;
    }
    let mount: Arc<Mutex<Option<Mounted>>> = Arc::default();
    let dir = Arc::new(Mutex::new(PathBuf::new()));
    let (m, d, d2) = (mount.clone(), dir.clone(), dir.clone());
    alerts_survive(
        move |s| {
            // Move the test folder onto a 16 MiB tmpfs of its own.
            let saved: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(s.dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
                .collect();
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
                .arg(s.dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "mount -t tmpfs failed");
            *m.lock().unwrap() = Some(Mounted(s.dir.path().to_path_buf()));
            for (p, bytes) in saved {
                std::fs::write(p, bytes).unwrap();
            }
            *d.lock().unwrap() = s.dir.path().to_path_buf();
        },
        Arc::new(move || fill(&d2.lock().unwrap())),
        "database or disk is full",
        Duration::from_secs(8),
        move || std::fs::remove_file(dir.lock().unwrap().join("filler")).unwrap(),
    );
    drop(mount);
}

#[test]
fn routing_resumes_after_a_failed_pass_without_new_mentions() {
    let feed = FeedServer::start();
    let mails = Inbox::default();
    let smtp_port = mails.serve();
    let (posts, hook) = webhook(Arc::new(|| {}));
    let setup = alerting_setup(&feed, smtp_port, &hook, free_port());
    // Routing reads the opt-out list; without it every routing pass fails, while polls (which
    // never read it) keep storing.
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    conn.execute_batch("ALTER TABLE optouts RENAME TO optouts_away")
        .unwrap();
    let _daemon = run_logged(&setup);
    feed.publish(
        "forum.xml",
        &[
            ("urn:outage", OUTAGE),
            ("urn:old", "Fjordlink opent een winkel"),
        ],
    );
    wait_for("the outage to be stored", Duration::from_secs(20), || {
        (setup.count(None) == 2).then_some(())
    });
    wait_for("a failed routing pass", Duration::from_secs(20), || {
        daemon_log(&setup)
            .contains("cannot route new mentions")
            .then_some(())
    });
    assert_eq!(mails.count(), 0);
    conn.execute_batch("ALTER TABLE optouts_away RENAME TO optouts")
        .unwrap();
    // The feed stays the same: no poll stores anything new to wake the router.
    wait_for(
        "the alert after the failed pass",
        Duration::from_secs(60),
        || (mails.count() == 1 && posts.lock().unwrap().len() == 1).then_some(()),
    );
}

/// Makes `file` read-only for this process's children: a read-only bind mount when running as
/// root (root ignores file modes), its mode otherwise.
fn make_read_only(file: &Path) -> Option<Mounted> {
    if is_root() {
        let bind = Command::new("mount")
            .arg("--bind")
            .arg(file)
            .arg(file)
            .status()
            .unwrap();
        assert!(bind.success());
        let guard = Mounted(file.to_path_buf());
        let ro = Command::new("mount")
            .args(["-o", "remount,ro,bind"])
            .arg(file)
            .status()
            .unwrap();
        assert!(ro.success());
        Some(guard)
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).unwrap();
        None
    }
}

/// A feed `a` of `n` entries, read by one `webcare once` into the database of a setup whose
/// admin server will listen on the returned port.
fn polled_once(n: usize) -> (FeedServer, Setup, u16) {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a"], n);
    let admin = free_port();
    let setup = Setup::with_admin(
        &server.rss_sources(&["a"]),
        &format!("listen = \"127.0.0.1:{admin}\""),
    );
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    (server, setup, admin)
}

#[test]
fn a_read_only_database_is_never_reported_ready() {
    let (server, setup, admin) = polled_once(3);
    let _ro = make_read_only(&setup.db());
    let _daemon = run_logged(&setup);
    // "starting" comes first, until every stage is up; the write failure follows the first poll.
    let (status, body) = wait_for("/readyz", Duration::from_secs(20), || {
        get(admin, "/readyz").filter(|(_, b)| b != "starting\n")
    });
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: the database cannot be written:")
            && body.contains("readonly database"),
        "{body}"
    );
    // Polls keep failing to store, and it stays that way.
    server.publish_fjordlink(&["a"], 5);
    std::thread::sleep(Duration::from_secs(3));
    let (status, _) = get(admin, "/readyz").unwrap();
    assert_eq!(status, 503);
    let (status, health) = get(admin, "/healthz").unwrap();
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("database: writes failing"), "{health}");
    assert!(
        health.contains("source \"a\" cannot store its polls"),
        "{health}"
    );
    // `webcare sources` reads the database, which could not record the failures: the daemon
    // publishes them beside it.
    let listed = setup.sources_json();
    assert_eq!(listed[0]["state"], "failing", "{listed:?}");
    let error = listed[0]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("not recorded in the database: ") && error.contains("readonly"),
        "{listed:?}"
    );
    let out = setup.run(&["sources"]);
    assert_said(&out, "database: writes failing since");
    let (_, metrics) = get(admin, "/metrics").unwrap();
    assert!(
        metrics.contains("webcare_source_up{source=\"a\"} 0"),
        "{metrics}"
    );
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("webcare_poll_errors_total{source=\"a\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "{metrics}");
}

#[test]
fn a_corrupt_page_is_found_at_start_and_health_degrades() {
    let (_server, setup, admin) = polled_once(300);
    // Overwrite the first page of the mentions_created index with junk.
    let (page_size, root): (i64, i64) = {
        let conn = rusqlite::Connection::open(setup.db()).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        (
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap(),
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'mentions_created'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(setup.db())
        .unwrap();
    f.seek(SeekFrom::Start(((root - 1) * page_size) as u64))
        .unwrap();
    f.write_all(&vec![0xA5; page_size as usize]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let _daemon = run_logged(&setup);
    let (_, body) = wait_for("/healthz to degrade", Duration::from_secs(20), || {
        get(admin, "/healthz").filter(|(s, b)| *s == 503 && b.contains("integrity"))
    });
    assert!(
        body.contains("database: integrity check failed: "),
        "{body}"
    );
    let log = daemon_log(&setup);
    assert!(
        log.contains("database integrity check (quick_check) failed"),
        "{log}"
    );
}

/// A daemon whose own log cannot be written (stderr on a full disk; `/dev/full` answers every
/// write with ENOSPC, as a full disk does) keeps polling every source and stays healthy. The
/// log layer used to report its failed write with `eprintln!`, which panics when stderr is
/// full, so the first log line of a poll ended that source's task for good.
#[test]
fn a_log_on_a_full_disk_never_stops_a_source() {
    let feed = FeedServer::start();
    feed.set(
        "forum.xml",
        Reply::Feed(atom(&fjordlink_entries("full-log", 2))),
    );
    let admin = free_port();
    let setup = Setup::with_admin(
        &feed.rss_sources(&["forum"]),
        &format!("listen = \"127.0.0.1:{admin}\""),
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let _daemon = KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(full)
            .spawn()
            .unwrap(),
    );
    wait_for("the mentions to be stored", Duration::from_secs(20), || {
        (stored(&setup) == 2).then_some(())
    });
    // Polls every second: several more polls after the first logged ones show the source's
    // task is still alive.
    let first = feed.hits("forum.xml").len();
    wait_for(
        "the source to keep polling",
        Duration::from_secs(30),
        || (feed.hits("forum.xml").len() >= first + 4).then_some(()),
    );
    let (status, body) = get(admin, "/healthz").expect("the admin server answers");
    assert_eq!(status, 200, "{body}");
}
