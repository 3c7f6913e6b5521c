//! Running as a service: readiness for systemd, and online backups while the daemon writes.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{FeedServer, Setup, assert_said, text};

#[test]
fn the_daemon_tells_systemd_it_is_ready_and_when_it_stops() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a"], 3);
    let setup = Setup::new(&server.rss_sources(&["a"]));
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut child = common::KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "400000")
            .env("WATCHDOG_PID", "")
            .spawn()
            .unwrap(),
    );
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) {
        let n = socket.recv(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(
        seen.contains("READY=1") && seen.contains("STATUS=polling 1 sources for 1 watches"),
        "{seen}"
    );
    assert!(seen.contains("WATCHDOG=1"), "{seen}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    loop {
        let n = socket.recv(&mut buf).unwrap();
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_backup_taken_while_the_daemon_writes_is_consistent() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["a", "b"], 2000);
    let setup = Setup::new(&server.rss_sources(&["a", "b"]));
    let mut child = setup.start_daemon();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !setup.db().exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Keep the feeds growing so the daemon is writing while the backups run.
    let mut backups = Vec::new();
    for round in 0..4 {
        server.publish_fjordlink(&["a", "b"], 2000 + 300 * (round + 1));
        let dest = setup.dir.path().join(format!("backup-{round}.db"));
        let out = setup.run(&["backup", dest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert_said(&out, "integrity ok");
        backups.push(dest);
        std::thread::sleep(Duration::from_millis(300));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for b in &backups {
        let conn = rusqlite::Connection::open(b).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        // Mentions and their full-text rows were copied as one state.
        let (m, f): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'utrecht')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(m, f);
    }
    let again = setup.run(&["backup", backups[0].to_str().unwrap()]);
    assert!(
        !again.status.success() && text(&again).contains("already exists"),
        "{}",
        text(&again)
    );
}
