//! Credentials in a feed URL never reach any text webcare shows or stores (`once`, logs,
//! `sources --json`, `last_error`, `poll_log`, `/healthz`), and a feed's redirects are followed
//! only on its own host unless `[http] follow_cross_host = true`, never to `file://`.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::http::get;
use common::{FeedServer, Reply, Setup, TermOnDrop, atom, fjordlink_entries, free_port, text};

const PASSWORD: &str = "Pw0rdS3cret";
const TOKEN: &str = "T0kenS3cret";
const KEY: &str = "K3yS3cret";

fn assert_no_secret(what: &str, s: &str) {
    for secret in [PASSWORD, TOKEN, KEY] {
        assert!(!s.contains(secret), "{secret} leaked into {what}: {s}");
    }
}

/// A feed URL carrying a password before the host and two secret query parameters.
fn secret_url(server: &FeedServer, name: &str) -> String {
    let base = server.base.replace("http://", "");
    format!("http://reader:{PASSWORD}@{base}/{name}?q=fjordlink&token={TOKEN}&api_key={KEY}")
}

fn all_rows(setup: &Setup, sql: &str) -> String {
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_token_in_a_feed_url_never_appears_in_any_error_text() {
    let server = FeedServer::start();
    // Not a feed: the parse error names the URL it came from.
    server.set(
        "broken.xml",
        Reply::Status(200, vec![], "<html>not a feed".into()),
    );
    server.set("down.xml", Reply::Status(503, vec![], "maintenance".into()));
    let port = free_port();
    let setup = Setup::with_admin(
        &format!(
            "[[sources]]\nname = \"broken\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\n\n\
             [[sources]]\nname = \"down\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\n",
            secret_url(&server, "broken.xml"),
            secret_url(&server, "down.xml"),
        ),
        &format!("listen = \"127.0.0.1:{port}\"\nsource_failing_after = \"1s\""),
    );

    let out = setup.run(&["once"]);
    let once = text(&out);
    assert_eq!(out.status.code(), Some(75), "{once}");
    assert!(
        once.contains("broken") && once.contains("cannot parse"),
        "{once}"
    );
    assert!(once.contains("token=REDACTED"), "{once}");
    assert!(once.contains("HTTP 503"), "{once}");
    assert_no_secret("once output and logs", &once);

    let json = serde_json::to_string(&setup.sources_json()).unwrap();
    assert!(json.contains("cannot parse"), "{json}");
    assert_no_secret("sources --json", &json);
    let plain = text(&setup.run(&["sources"]));
    assert_no_secret("sources", &plain);
    assert_no_secret(
        "source_state.last_error",
        &all_rows(&setup, "SELECT last_error FROM source_state"),
    );
    let log = all_rows(&setup, "SELECT error FROM poll_log");
    assert!(log.contains("cannot parse"), "{log}");
    assert_no_secret("poll_log.error", &log);

    let daemon = TermOnDrop(
        setup
            .webcare()
            .arg("run")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    // `once` logged one failed poll per source; wait for the daemon's own.
    let polls = |setup: &Setup| -> i64 {
        rusqlite::Connection::open(setup.db())
            .and_then(|c| c.query_row("SELECT count(*) FROM poll_log", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    while polls(&setup) < 4 {
        assert!(Instant::now() < deadline, "the daemon never polled");
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = loop {
        match get(port, "/healthz?format=json").map(|a| a.raw) {
            Some(h) if h.contains("degraded") && h.contains("broken") && h.contains("down") => {
                break h;
            }
            _ => {
                assert!(Instant::now() < deadline, "no degraded /healthz");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_no_secret("/healthz", &health);
    assert_no_secret(
        "/healthz text",
        &get(port, "/healthz").map(|a| a.raw).unwrap_or_default(),
    );
    let mut daemon = daemon;
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status()
        .unwrap();
    let mut logs = String::new();
    daemon
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    daemon
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("poll failed"), "{logs}");
    assert_no_secret("daemon logs", &logs);
}

fn redirecting_source(url: &str) -> String {
    format!(
        "[[sources]]\nname = \"moved\"\nkind = \"rss\"\nurl = \"{url}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n"
    )
}

#[test]
fn a_redirect_to_another_host_is_refused_unless_configured() {
    let feed_host = FeedServer::start();
    let other_host = FeedServer::start();
    other_host.set("feed.xml", Reply::Feed(atom(&fjordlink_entries("x", 2))));
    // Another host name and port: "localhost" is not the 127.0.0.1 the feed was configured on.
    let target =
        other_host.url("feed.xml").replace("127.0.0.1", "localhost") + &format!("?token={TOKEN}");
    feed_host.set(
        "moved.xml",
        Reply::Status(
            302,
            vec![("location".into(), target.clone())],
            String::new(),
        ),
    );

    let setup = Setup::new(&redirecting_source(&feed_host.url("moved.xml")));
    let out = setup.run(&["once"]);
    let once = text(&out);
    assert_eq!(out.status.code(), Some(75), "{once}");
    assert!(
        once.contains("refused redirect to http://localhost:"),
        "{once}"
    );
    assert!(once.contains("follow_cross_host"), "{once}");
    assert_no_secret("refused redirect", &once);
    assert!(
        other_host.hits("feed.xml").is_empty(),
        "the other host was read"
    );
    assert_eq!(setup.count(None), 0);

    let followed = Setup::new(&format!(
        "[http]\nfollow_cross_host = true\n\n{}",
        redirecting_source(&feed_host.url("moved.xml"))
    ));
    let out = followed.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(followed.count(None), 2);
    assert_eq!(other_host.hits("feed.xml"), vec![200]);
}

#[test]
fn a_redirect_on_the_same_host_is_followed_and_to_file_never() {
    let server = FeedServer::start();
    server.set("feed.xml", Reply::Feed(atom(&fjordlink_entries("s", 3))));
    server.set(
        "old.xml",
        Reply::Status(
            301,
            vec![("location".into(), server.url("feed.xml"))],
            String::new(),
        ),
    );
    server.set(
        "sneaky.xml",
        Reply::Status(
            302,
            vec![("location".into(), "file:///etc/passwd".into())],
            String::new(),
        ),
    );
    let setup = Setup::new(&redirecting_source(&server.url("old.xml")));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(setup.count(None), 3);

    let sneaky = Setup::new(&format!(
        "[http]\nfollow_cross_host = true\n\n{}",
        redirecting_source(&server.url("sneaky.xml"))
    ));
    let out = sneaky.run(&["once"]);
    let once = text(&out);
    assert_eq!(out.status.code(), Some(75), "{once}");
    assert!(
        once.contains("refused redirect to file:///etc/passwd"),
        "{once}"
    );
    assert_eq!(sneaky.count(None), 0);
}

#[test]
fn a_bad_follow_cross_host_value_names_the_key() {
    let setup = Setup::new("[http]\nfollow_cross_host = \"sometimes\"\n");
    let out = setup.run(&["check-config"]);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(78), "{msg}");
    assert!(msg.contains("http.follow_cross_host"), "{msg}");
}
