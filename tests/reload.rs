//! SIGHUP reloads the configuration: a bad file is refused and the running one stays; a good
//! one starts added sources, stops removed ones and leaves unchanged ones polling.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{FeedServer, Reply, Setup, atom, fjordlink_entries};

fn config(setup: &Setup, query: &str, sources: &str) -> String {
    format!(
        "[store]\npath = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[watches]]\nname = \"Fjordlink\"\nquery = '{query}'\n\n{sources}",
        setup.db().display()
    )
}

fn hangup(child: &Child) {
    std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_applies_a_good_config_and_refuses_a_bad_one_without_stopping() {
    let server = FeedServer::start();
    let mut a = fjordlink_entries("a", 3);
    a.push((
        "urn:test:fjordbox".into(),
        "Mijn FjordBox doet het niet".into(),
    ));
    server.set("a.xml", Reply::Feed(atom(&a)));
    server.publish_fjordlink(&["b", "c"], 2);
    let setup = Setup::new("");
    std::fs::write(
        &setup.config,
        config(&setup, "fjordlink", &server.rss_sources(&["a", "c"])),
    )
    .unwrap();

    let mut child = common::KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for("the first polls", || {
        setup.db().exists() && setup.count(Some("a")) == 3 && setup.count(Some("c")) == 2
    });

    // A broken config is refused; the daemon keeps polling with the old one.
    std::fs::write(
        &setup.config,
        "[[watches]]\nname = \"Fjordlink\"\nquery = \"(fjordlink\"\n",
    )
    .unwrap();
    hangup(&child);
    let polls = server.hits("a.xml").len();
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = child.try_wait().unwrap() {
        let log = common::stderr_text(&mut child);
        panic!("the daemon must survive a bad reload; it exited {status:?}:\n{log}");
    }
    wait_for("polling to go on after a refused reload", || {
        server.hits("a.xml").len() >= polls + 2
    });

    // A good config: source b added, c removed, a unchanged; the watch now also takes FjordBox.
    std::fs::write(
        &setup.config,
        config(
            &setup,
            "fjordlink OR fjordbox",
            &server.rss_sources(&["a", "b"]),
        ),
    )
    .unwrap();
    hangup(&child);
    wait_for("source b to be added", || setup.count(Some("b")) == 2);
    // The unchanged feed's 304s still count as polls; the new watch applies when the feed
    // changes.
    let mut grown = a.clone();
    grown.push((
        "urn:test:fjordbox-2".into(),
        "FjordBox knippert rood".into(),
    ));
    server.set("a.xml", Reply::Feed(atom(&grown)));
    wait_for("the new query to apply", || setup.count(Some("a")) == 5);
    let c_polls = server.hits("c.xml").len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        server.hits("c.xml").len(),
        c_polls,
        "a removed source stops polling"
    );

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let log = common::stderr_text(&mut child);
    assert!(
        log.contains("reload refused") && log.contains("watches[0].query"),
        "{log}"
    );
    assert!(
        log.contains("configuration reloaded")
            && log.contains("added=[\"b\"]")
            && log.contains("removed=[\"c\"]"),
        "{log}"
    );
    assert_eq!(
        log.matches("source started source=a").count(),
        1,
        "source a was not restarted:\n{log}"
    );
}
