//! Alerts as people receive them, end to end through the real `webcare` binary: a fake feed on
//! 127.0.0.1, a real SMTP server (mailin-embedded, in this process) and a fake chat webhook.
//! Batching per recipient with urgent alerts alone, the hourly cap summary, copy-paste campaigns
//! collapsed into one alert, the opt-out flag, and webhook delivery exactly once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::inbox::{plain, smtp, subject};
use common::{FeedServer, Reply, Setup, assert_said, atom, text};

const OLD: &str = "Fjordlink opent een nieuwe winkel";

/// A config with one feed, `extra` appended to `[mail]`, and a webcare team (`team_extra`
/// appended); the feed's first poll (history, no alerts) is done.
fn setup(feed: &FeedServer, port: u16, mail_extra: &str, team_extra: &str) -> Setup {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\ninterval = \"1s\"\njitter = 0.0\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         tls = \"none\"\ntimeout = \"3s\"\n{mail_extra}\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n{team_extra}\n",
        feed.url("feed")
    ));
    publish(feed, &[]);
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    s
}

/// Puts `posts` (newest first) in the feed, above the old entry. Entry `i` gets author `useri`
/// and link `https://forum.example/t/i`.
fn publish(feed: &FeedServer, posts: &[(&str, &str)]) {
    let mut entries: Vec<(String, String)> = posts
        .iter()
        .map(|(id, t)| (format!("urn:{id}"), t.to_string()))
        .collect();
    entries.push(("urn:old".into(), OLD.into()));
    feed.set("feed", Reply::Feed(atom(&entries)));
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stdout(s: &Setup, args: &[&str]) -> String {
    let out = s.run(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const BILL: &str = "Fjordlink factuur klopt weer niet, twee keer afgeschreven";
const TV: &str = "Fjordlink tv doet het niet, zender zwart sinds gisteren";
const ENGINEER: &str = "Fjordlink monteur kwam weer niet opdagen, slechte service";
const OUTAGE: &str = "Fjordlink storing, al 3 dagen geen internet";

#[test]
fn complaints_within_the_batch_window_arrive_as_one_mail_and_an_urgent_one_alone_at_once() {
    let feed = FeedServer::start();
    let (inbox, port) = smtp();
    let s = setup(&feed, port, "batch_window = \"6s\"", "");
    publish(&feed, &[("c", ENGINEER), ("b", TV), ("a", BILL)]);
    let mut daemon = s.start_silent();
    // The three complaints are queued; now an outage report comes in.
    std::thread::sleep(Duration::from_millis(1500));
    publish(
        &feed,
        &[("u", OUTAGE), ("c", ENGINEER), ("b", TV), ("a", BILL)],
    );
    wait_for("two mails", Duration::from_secs(25), || {
        inbox.decoded().len() >= 2
    });
    std::thread::sleep(Duration::from_secs(2));
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mails = inbox.decoded();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    // The urgent one did not wait for the batch.
    let urgent = &mails[0];
    assert!(
        subject(urgent).contains("URGENT complaint on forum"),
        "{}",
        subject(urgent)
    );
    assert!(!subject(urgent).contains("alerts:"), "{}", subject(urgent));
    assert!(plain(urgent).contains("al 3 dagen geen internet"));

    let batch = &mails[1];
    assert!(
        subject(batch).starts_with("Subject: [webcare] 3 alerts: complaint on forum"),
        "{}",
        subject(batch)
    );
    assert!(batch.contains("Message-ID: <webcare.batch."), "{batch}");
    let text = plain(batch);
    for (i, what) in [BILL, TV, ENGINEER].iter().enumerate() {
        assert!(
            text.contains(&format!("=== {} of 3:", i + 1)),
            "item {i}: {text}"
        );
        assert!(text.contains(&what[10..40]), "{what} missing: {text}");
    }
    // Each item keeps its own link to answer, reasons and rule.
    assert_eq!(
        text.matches("Answer on RSS feed: https://forum.example/t/")
            .count(),
        3
    );
    assert_eq!(text.matches("\nWhy:       ").count(), 3);
    assert_eq!(text.matches("by rule \"default").count(), 3);
    let html = batch.split("Content-Type: text/html").nth(1).unwrap();
    assert_eq!(
        html.matches("<a href=\"https://forum.example/t/").count(),
        3
    );
    assert!(
        stdout(&s, &["outbox"]).starts_with("0 pending, 4 sent, 0 dead"),
        "{}",
        stdout(&s, &["outbox"])
    );
}

#[test]
fn past_the_hourly_cap_one_summary_says_how_many_were_held_back() {
    let feed = FeedServer::start();
    let (inbox, port) = smtp();
    let s = setup(&feed, port, "", "max_alerts_per_hour = 2");
    // Two alerts went to the agent 59m50s ago: the cap is full for ten more seconds.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let earlier = now - 3600 + 10;
    let db = rusqlite::Connection::open(s.db()).unwrap();
    for i in 0..2 {
        db.execute(
            "INSERT INTO outbox (team, rule, recipient, message_id, subject, body_text, body_html,
                created_at, not_before, next_attempt_at, state, sent_at)
             VALUES ('webcare', 'default', 'agent@fjordlink.example', ?1, 'earlier alert', '', '',
                ?2, ?2, ?2, 'sent', ?2)",
            rusqlite::params![format!("<earlier{i}@test>"), earlier],
        )
        .unwrap();
    }
    drop(db);

    publish(&feed, &[("c", ENGINEER), ("b", TV), ("a", BILL)]);
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(
        &out,
        "sent 0, waiting to retry 0, failed for good 0, held by hourly cap 3",
    );
    assert!(inbox.decoded().is_empty());
    let listing = stdout(&s, &["outbox"]);
    assert!(
        listing.starts_with("1 pending, 2 sent, 0 dead, 3 held by hourly cap"),
        "{listing}"
    );
    let held = stdout(&s, &["outbox", "--state", "held"]);
    let rows: Vec<&str> = held.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(rows.len(), 3, "{held}");
    assert!(
        rows.iter()
            .all(|r| r.contains("held    not sent (hourly cap)")),
        "{held}"
    );

    // When the hour is over, the summary goes out, once.
    std::thread::sleep(Duration::from_secs(11));
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    s.run(&["once"]);
    let mails = inbox.decoded();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        subject(&mails[0])
            .contains("3 alerts were held back: the limit of 2 alerts per hour was reached"),
        "{}",
        subject(&mails[0])
    );
    let body = plain(&mails[0]);
    assert!(body.contains("webcare outbox --state held"), "{body}");
    assert_eq!(
        body.matches("  - [webcare] complaint on forum").count(),
        3,
        "{body}"
    );
}

#[test]
fn a_copy_paste_campaign_from_five_authors_is_one_alert_that_says_five() {
    let feed = FeedServer::start();
    let (inbox, port) = smtp();
    let s = setup(&feed, port, "", "");
    let campaign = "Fjordlink verhoogt de prijzen weer terwijl het netwerk elke week plat ligt. Schandalig, deel dit bericht!";
    let variant = "FJORDLINK verhoogt de prijzen weer, terwijl het netwerk elke week plat ligt... schandalig, deel dit bericht";
    publish(
        &feed,
        &[
            ("p5", campaign),
            ("p4", variant),
            ("p3", campaign),
            ("p2", campaign),
            ("p1", campaign),
            ("other", TV),
        ],
    );
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "alerts: queued 2, sent 2");
    let mails = inbox.decoded();
    // The campaign and the unrelated complaint share one batched email.
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let body = plain(&mails[0]);
    assert_eq!(
        body.matches("The same text was posted 5 times by 5 authors")
            .count(),
        1,
        "{body}"
    );
    assert!(body.contains("5x complaint on forum"), "{body}");
    for i in 0..5 {
        assert!(
            body.contains(&format!("https://forum.example/t/{i}")),
            "link {i} missing: {body}"
        );
    }
    // The repeats are stored and counted, and say where they went.
    assert_eq!(s.count(Some("forum")), 7);
    let mentions = stdout(&s, &["mentions", "--json"]);
    let repeat = mentions
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["external_id"] == "urn:p2")
        .unwrap();
    let shown = stdout(&s, &["route", &repeat["id"].to_string()]);
    assert!(shown.contains("a repeat of mention #"), "{shown}");
}

#[test]
fn an_opted_out_authors_alert_says_do_not_contact_and_still_counts() {
    let feed = FeedServer::start();
    let (inbox, port) = smtp();
    let s = setup(&feed, port, "batch_window = \"0s\"", "");
    let out = s.run(&["optout", "add", "rss:@User0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "rss:user0 added");
    let list = stdout(&s, &["optout", "list"]);
    assert!(list.contains("rss:user0"), "{list}");
    assert!(list.contains("1 author on the opt-out list"), "{list}");

    // Entry 0 is by user0, entry 1 by user1.
    publish(&feed, &[("x", BILL), ("y", TV)]);
    let out = s.run(&["once"]);
    assert_said(&out, "alerts: queued 2, sent 2");
    let mails = inbox.decoded();
    assert_eq!(mails.len(), 2);
    let flagged: Vec<&String> = mails
        .iter()
        .filter(|m| plain(m).contains("DO NOT CONTACT"))
        .collect();
    assert_eq!(flagged.len(), 1, "{mails:#?}");
    // An RSS author has a name, not a handle: no "@" before it.
    assert!(plain(flagged[0]).contains("\nuser0\r\n"), "{}", flagged[0]);
    assert!(flagged[0].contains(">DO NOT CONTACT"), "HTML banner");
    assert_eq!(s.count(Some("forum")), 3);

    let out = s.run(&["optout", "remove", "rss:user0"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.run(&["optout", "add", "nocolon"]);
    assert!(!out.status.success());
    assert_said(&out, "PLATFORM:HANDLE");
}

/// One request the webhook received: the status it answered, the body, the signature header.
type HookRequest = (u16, String, Option<String>);

/// A fake chat webhook on 127.0.0.1: answers with the scripted statuses in turn (then 200) and
/// keeps every request body.
#[derive(Clone, Default)]
struct Hook {
    bodies: Arc<Mutex<Vec<HookRequest>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Hook {
    fn start(script: &[u16]) -> (Hook, String) {
        let hook = Hook {
            script: Arc::new(Mutex::new(script.to_vec())),
            ..Default::default()
        };
        let shared = hook.clone();
        let app = axum::Router::new().route(
            "/services/T0/B0/s3cr3t",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let h = shared.clone();
                async move {
                    let status = {
                        let mut s = h.script.lock().unwrap();
                        if s.is_empty() { 200 } else { s.remove(0) }
                    };
                    let sig = headers
                        .get("x-webcare-signature")
                        .map(|v| v.to_str().unwrap().to_string());
                    h.bodies.lock().unwrap().push((status, body, sig));
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        if status == 200 { "ok" } else { "nope" },
                    )
                }
            }),
        );
        let addr = common::serve_in_background(app);
        (hook, format!("http://{addr}/services/T0/B0/s3cr3t"))
    }

    fn requests(&self) -> Vec<HookRequest> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn a_slack_webhook_gets_one_escaped_message_even_after_a_server_error() {
    let feed = FeedServer::start();
    let (inbox, port) = smtp();
    let (hook, url) = Hook::start(&[500]);
    let s = setup(
        &feed,
        port,
        "",
        &format!("webhook = {{ url = \"{url}\", format = \"slack\" }}"),
    );
    // In the feed's HTML: `<!channel>` as text, which Slack would turn into a ping.
    publish(
        &feed,
        &[(
            "x",
            "Fjordlink factuur klopt weer niet &amp;lt;!channel&amp;gt; twee keer afgeschreven",
        )],
    );
    let out = s.run(&["once"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_said(&out, "alerts: queued 2, sent 1, waiting to retry 1");
    let listing = stdout(&s, &["outbox"]);
    assert!(listing.contains("webhook 127.0.0.1: HTTP 500"), "{listing}");
    assert!(
        !listing.contains("s3cr3t"),
        "the URL is a credential: {listing}"
    );

    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    s.run(&["once"]);

    let reqs = hook.requests();
    assert_eq!(
        reqs.iter().map(|r| r.0).collect::<Vec<_>>(),
        [500, 200],
        "{reqs:#?}"
    );
    assert_eq!(reqs[0].1, reqs[1].1, "a retry posts the same body");
    let v: serde_json::Value = serde_json::from_str(&reqs[1].1).unwrap();
    let fallback = v["text"].as_str().unwrap();
    assert!(fallback.contains("complaint on forum"), "{fallback}");
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let all = v.to_string();
    assert!(!all.contains("<!channel>"), "{all}");
    assert!(all.contains("&lt;!channel&gt;"), "{all}");
    assert!(all.contains("<https://forum.example/t/0|answer>"), "{all}");
    assert_eq!(inbox.decoded().len(), 1);
    assert!(stdout(&s, &["outbox"]).starts_with("0 pending, 2 sent, 0 dead"));
}

#[test]
fn a_webhook_that_answers_not_found_is_a_dead_letter_and_json_bodies_are_signed() {
    let feed = FeedServer::start();
    let (_inbox, port) = smtp();
    let (hook, url) = Hook::start(&[404]);
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("hook-secret");
    std::fs::write(&secret, "k\n").unwrap();
    let s = setup(
        &feed,
        port,
        "",
        &format!(
            "webhook = {{ url = \"{url}\", secret_file = \"{}\" }}",
            secret.display()
        ),
    );
    publish(&feed, &[("x", BILL)]);
    let out = s.run(&["once"]);
    assert_said(&out, "failed for good 1");
    let dead = stdout(&s, &["outbox", "--state", "dead"]);
    assert!(dead.contains("HTTP 404"), "{dead}");
    s.run(&["once"]);
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "a dead letter is not retried");
    let v: serde_json::Value = serde_json::from_str(&reqs[0].1).unwrap();
    assert_eq!(v["type"], "webcare.alert");
    assert_eq!(v["label"], "complaint");
    assert!(
        reqs[0]
            .2
            .as_deref()
            .is_some_and(|s| s.starts_with("sha256=") && s.len() == 71),
        "{:?}",
        reqs[0].2
    );
}
