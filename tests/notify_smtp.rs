//! Alerts end to end: a fake feed on 127.0.0.1, the real `webcare` binary, and a real SMTP
//! server (mailin-embedded, in this test process) that lettre talks to over TCP. Each test reads
//! what arrived in the server's inbox.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::inbox::{Inbox, unqp};
use common::{FeedServer, Setup, assert_said, free_port, text};

/// A config with one feed and a webcare team whose mail goes to 127.0.0.1:`port`.
fn setup(feed: &FeedServer, port: u16) -> Setup {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\ninterval = \"1s\"\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         tls = \"none\"\ntimeout = \"3s\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
        feed.url("feed")
    ));
    // The first poll is history (backfill) and raises no alerts.
    feed.publish("feed", &[("urn:old", "Fjordlink opent een nieuwe winkel")]);
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "alerts: queued 0, sent 0");
    s
}

/// A feed, an SMTP inbox on a free port of 127.0.0.1, and a [`setup`] that mails it.
fn mailing_an_inbox() -> (FeedServer, Inbox, Setup) {
    let feed = FeedServer::start();
    let inbox = Inbox::default();
    let s = setup(&feed, inbox.serve());
    (feed, inbox, s)
}

/// Publishes a complaint; the `text` is put in the feed's HTML content as it is.
fn publish(feed: &FeedServer, html_escaped_text: &str) {
    feed.publish(
        "feed",
        &[
            ("urn:new", html_escaped_text),
            ("urn:old", "Fjordlink opent een nieuwe winkel"),
        ],
    );
}

fn headers(raw: &str) -> &str {
    raw.split("\r\n\r\n").next().unwrap()
}

fn outbox(s: &Setup) -> String {
    let out = s.run(&["outbox"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails unless exactly one mail arrived and the outbox says it was sent, with nothing left
/// pending or dead.
fn assert_sent_once(inbox: &Inbox, s: &Setup) {
    assert_eq!(inbox.mails().len(), 1);
    let listed = outbox(s);
    assert!(listed.starts_with("0 pending, 1 sent, 0 dead"), "{listed}");
}

#[test]
fn a_complaint_reaches_the_team_once_escaped_and_with_a_link_to_answer() {
    let (feed, inbox, s) = mailing_an_inbox();

    // In the feed's HTML: a script tag as text, and a line break before a fake header.
    publish(
        &feed,
        "Fjordlink kapot, al 3 dagen geen internet!! &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; &amp;lt;br&amp;gt;Bcc: victim@evil.example",
    );
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "alerts: queued 1, sent 1");

    let mails = inbox.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.to, ["agent@fjordlink.example"]);
    let head = headers(&mail.raw);
    let subject_line = head
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("");
    assert!(
        subject_line.starts_with("Subject: [webcare] complaint on forum: Post 0"),
        "{subject_line}"
    );
    assert!(
        !head.to_lowercase().contains("\r\nbcc:"),
        "a header was injected: {head}"
    );
    assert!(!head.contains("<script"), "{head}");
    assert!(
        head.contains("Message-ID: <webcare.alert."),
        "deterministic Message-ID: {head}"
    );

    let body = unqp(&mail.raw);
    let html = body.split("Content-Type: text/html").nth(1).unwrap();
    assert!(!html.contains("<script>"), "raw script in the HTML: {html}");
    assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
    assert!(
        html.contains("<a href=\"https://forum.example/t/0\" "),
        "link to answer: {html}"
    );
    let plain = body.split("Content-Type: text/html").next().unwrap();
    assert!(plain.contains("al 3 dagen geen internet"), "{plain}");
    assert!(
        plain.contains("Answer on RSS feed: https://forum.example/t/0"),
        "{plain}"
    );
    assert!(
        plain.contains("by rule \"default (complaints and questions to the first team)\""),
        "{plain}"
    );

    // Polling again sends nothing again.
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_sent_once(&inbox, &s);
}

#[test]
fn an_alert_waits_while_the_mail_server_is_down_and_goes_out_once_it_is_back() {
    let feed = FeedServer::start();
    let port = free_port();
    let s = setup(&feed, port);
    publish(&feed, "Fjordlink storing, al 3 dagen geen internet");

    // Nothing listens on the port: connection refused, the alert waits.
    let out = s.run(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_said(&out, "alerts: queued 1, sent 0, waiting to retry 1");
    let listing = outbox(&s);
    assert!(
        listing.starts_with("1 pending, 0 sent, 0 dead"),
        "{listing}"
    );
    assert!(listing.contains("refused"), "{listing}");

    // The server comes back on the same port: the alert arrives, once.
    let inbox = Inbox::default();
    inbox.serve_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), None);
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "alerts: queued 0, sent 1");
    s.run(&["once"]);
    assert_sent_once(&inbox, &s);
}

#[test]
fn a_temporary_rejection_is_retried_and_a_permanent_one_is_a_dead_letter() {
    let (feed, inbox, s) = mailing_an_inbox();
    publish(&feed, "Fjordlink storing, al 3 dagen geen internet");

    inbox.reject_rcpt(Some(451));
    let out = s.run(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(outbox(&s).contains("451"), "{}", outbox(&s));

    inbox.reject_rcpt(Some(550));
    let out = s.run(&["once"]);
    assert_said(&out, "failed for good 1");
    let dead = s.run(&["outbox", "--state", "dead"]);
    let dead = String::from_utf8_lossy(&dead.stdout);
    assert!(dead.starts_with("0 pending, 0 sent, 1 dead"), "{dead}");
    assert!(dead.contains("550"), "{dead}");

    // A dead letter is not retried.
    inbox.reject_rcpt(None);
    s.run(&["once"]);
    assert!(inbox.mails().is_empty());
}

#[test]
fn a_server_that_stops_answering_does_not_hang_the_sender() {
    let feed = FeedServer::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and never says a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let s = setup(&feed, port);
    publish(&feed, "Fjordlink storing, al 3 dagen geen internet");
    let started = Instant::now();
    let out = s.run(&["once"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_said(&out, "waiting to retry 1");
}

#[test]
fn route_explains_which_rule_matches_and_why() {
    let feed = FeedServer::start();
    let s = setup(&feed, free_port());
    let mut cfg = std::fs::read_to_string(&s.config).unwrap();
    cfg.push_str(
        "\n[topics]\npricing = [\"prijs*\", \"te duur\"]\n\n\
         [[routes]]\nname = \"pricing\"\ntopic = \"pricing\"\nlabel = \"complaint\"\nteam = \"webcare\"\n",
    );
    std::fs::write(&s.config, cfg).unwrap();
    let out = s.run(&[
        "route",
        "--text",
        "Fjordlink is veel te duur, belachelijke prijsverhoging",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("MATCH  pricing: alert team webcare"),
        "{shown}"
    );
    assert!(shown.contains("mentions topic pricing"), "{shown}");
    assert!(shown.contains("=> alert webcare"), "{shown}");

    let out = s.run(&["route", "1"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("backfill"), "{shown}");
    assert!(shown.contains("=> no rule matched: no alert"), "{shown}");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_alerts_within_seconds_and_a_restart_sends_nothing_twice() {
    let (feed, inbox, s) = mailing_an_inbox();
    publish(&feed, "Fjordlink storing, al 3 dagen geen internet");

    let mut daemon = s.start_silent();
    wait_for("the alert", Duration::from_secs(15), || {
        !inbox.mails().is_empty()
    });
    // kill -9, then start again: the sent alert stays sent.
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let mut daemon = s.start_silent();
    std::thread::sleep(Duration::from_secs(3));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_sent_once(&inbox, &s);
}

#[test]
fn a_bad_notifier_config_names_each_key_and_exits_78() {
    let s = Setup::new(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/feed\"\n\n\
         [mail]\nfrom = \"webcare\"\nhost = \"smtp.example.com\"\ntls = \"none\"\nusername = \"w\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@x.example\"]\ntime_zone = \"Europe/Amstelveen\"\n\n\
         [[routes]]\nlabel = \"angry\"\nteam = \"sales\"\n",
    );
    let out = s.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let shown = text(&out);
    for line in [
        "mail.from: \"webcare\" is not an address",
        "mail.tls: tls = \"none\" sends mail and password in clear text",
        "mail.password_env: a secret is required",
        "teams[0].time_zone: unknown time zone \"Europe/Amstelveen\"",
        "routes[0].label: unknown label \"angry\"",
        "routes[0].team: no team is named \"sales\"",
    ] {
        assert!(shown.contains(line), "missing {line:?} in:\n{shown}");
    }
}
