//! A mention the brand already answered raises no alert, end to end through the real `webcare`
//! binary: a fake forum feed on 127.0.0.1 where the brand's own account replies (Atom
//! `thr:in-reply-to`), and an SMTP server on loopback that records what it was sent. A reply
//! seen in the same poll as its post keeps the post from being alerted at all; a reply seen in
//! a later poll drops the alert still waiting in the outbox (state `superseded`, never sent).

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use common::{FeedServer, Reply, Setup, feed_epoch, text};
use smtp::FaultSmtp;

/// The brand's account on its forum.
const BRAND: &str = "Fjordlink Care";

/// A forum post: its id, author, text and the post it answers.
struct Post {
    id: &'static str,
    author: &'static str,
    text: &'static str,
    reply_to: Option<&'static str>,
}

const SANNE: Post = Post {
    id: "urn:forum:sanne",
    author: "Sanne",
    text: "Fjordlink factuur klopt weer niet, twee keer afgeschreven",
    reply_to: None,
};
const PIET: Post = Post {
    id: "urn:forum:piet",
    author: "Piet",
    text: "Fjordlink monteur kwam weer niet opdagen, slechte service",
    reply_to: None,
};
const BRAND_TO_SANNE: Post = Post {
    id: "urn:forum:care-1",
    author: BRAND,
    text: "Sorry Sanne, we zetten de dubbele afschrijving voor je terug. Fjordlink Care",
    reply_to: Some("urn:forum:sanne"),
};

/// Serves `posts` (newest first) as the forum's Atom feed, dated after [`feed_epoch`].
fn publish(feed: &FeedServer, posts: &[&Post]) {
    let stamp = |minutes: usize| {
        (feed_epoch() + TimeDelta::minutes(minutes as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xmlns:thr=\"http://purl.org/syndication/thread/1.0\"><title>Forum</title><id>urn:forum</id>\
         <updated>{}</updated>\n",
        stamp(59)
    );
    for (i, p) in posts.iter().enumerate() {
        let thread = p
            .reply_to
            .map(|r| format!("<thr:in-reply-to ref=\"{r}\"/>"))
            .unwrap_or_default();
        xml.push_str(&format!(
            "<entry><id>{}</id><title>Post {i}</title><link rel=\"alternate\" \
             href=\"https://forum.example/p/{i}\"/><updated>{}</updated><author><name>{}</name>\
             </author>{thread}<content type=\"text\">{}</content></entry>\n",
            p.id,
            stamp(50 - i),
            p.author,
            p.text
        ));
    }
    xml.push_str("</feed>\n");
    feed.set("forum", Reply::Feed(xml.into_bytes()));
}

/// A config with the forum (the brand's account in `own_accounts`) and a webcare team mailed
/// through `smtp`, `team_extra` appended to the team; the first poll (history) is done.
fn setup(feed: &FeedServer, smtp: &FaultSmtp, team_extra: &str) -> Setup {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\n\
         own_accounts = [\"{BRAND}\"]\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = \"none\"\ntimeout = \"5s\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n{team_extra}\n",
        feed.url("forum"),
        smtp.port
    ));
    publish(feed, &[]);
    once(&s);
    s
}

/// Runs `webcare once` and returns its output, asserting that it succeeded.
fn once(s: &Setup) -> String {
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

/// The outbox as `webcare outbox --json` prints it, oldest first.
fn outbox(s: &Setup) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = s.json_lines(&["outbox", "--json"]);
    rows.reverse();
    rows
}

/// The database id of the mention with external id `external`.
fn mention_id(s: &Setup, external: &str) -> i64 {
    rusqlite::Connection::open(s.db())
        .unwrap()
        .query_row(
            "SELECT id FROM mentions WHERE external_id = ?1",
            [external],
            |r| r.get(0),
        )
        .unwrap()
}

/// Quiet hours (UTC) that hold non-urgent alerts from an hour ago until two hours from now.
fn quiet_now() -> String {
    let hm = |t: DateTime<Utc>| t.format("%H:%M").to_string();
    let now = Utc::now();
    format!(
        "time_zone = \"UTC\"\nquiet_hours = \"{}-{}\"",
        hm(now - TimeDelta::hours(1)),
        hm(now + TimeDelta::hours(2))
    )
}

#[test]
fn a_post_the_brand_answered_in_the_same_poll_raises_no_alert() {
    let feed = FeedServer::start();
    let smtp = FaultSmtp::start();
    smtp.faults(false);
    let s = setup(&feed, &smtp, "");
    publish(&feed, &[&BRAND_TO_SANNE, &PIET, &SANNE]);
    once(&s);

    // Only Piet, whom nobody answered, is alerted and mailed.
    let sanne = mention_id(&s, SANNE.id);
    let piet = mention_id(&s, PIET.id);
    let rows = outbox(&s);
    let alerted: Vec<i64> = rows
        .iter()
        .map(|r| r["mention_id"].as_i64().unwrap())
        .collect();
    assert_eq!(alerted, [piet], "{rows:#?}");
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        mails[0].raw.contains("monteur kwam weer niet"),
        "{mails:#?}"
    );
    assert!(!mails.iter().any(|m| m.raw.contains("dubbele afschrijving")));

    // Sanne's post is stored, routed and shown as answered by the brand.
    let listed = text(&s.run(&["mentions", "--source", "forum"]));
    assert!(
        listed.contains(&format!("answered by {BRAND} at ")),
        "{listed}"
    );
    let route = text(&s.run(&["route", &sanne.to_string()]));
    assert!(
        route.contains(&format!("(answered by {BRAND} ")) && route.contains("no alert is sent"),
        "{route}"
    );
    assert!(route.contains("was routed"), "{route}");
}

#[test]
fn an_alert_waiting_when_the_brand_answers_in_a_later_poll_is_never_sent() {
    let feed = FeedServer::start();
    let smtp = FaultSmtp::start();
    smtp.faults(false);
    // Quiet hours hold both alerts in the outbox, so the reply finds them waiting.
    let s = setup(&feed, &smtp, &quiet_now());
    publish(&feed, &[&PIET, &SANNE]);
    once(&s);
    let sanne = mention_id(&s, SANNE.id);
    let piet = mention_id(&s, PIET.id);
    // Each mention's alert state, by mention.
    let states = |s: &Setup| -> BTreeMap<i64, String> {
        outbox(s)
            .iter()
            .map(|r| {
                (
                    r["mention_id"].as_i64().unwrap(),
                    r["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let expect = |a: &str, b: &str| BTreeMap::from([(sanne, a.to_string()), (piet, b.to_string())]);
    assert_eq!(states(&s), expect("pending", "pending"));

    // The brand answers Sanne; the next poll sees it and the sender drops her alert.
    publish(&feed, &[&BRAND_TO_SANNE, &PIET, &SANNE]);
    let report = once(&s);
    assert!(
        report.contains("not sent as answered meanwhile 1"),
        "{report}"
    );
    assert_eq!(states(&s), expect("superseded", "pending"));
    let rows = outbox(&s);
    let dropped = rows.iter().find(|r| r["mention_id"] == sanne).unwrap();
    assert!(
        dropped["last_error"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "not sent: the mention was answered by {BRAND} at "
            )),
        "{dropped}"
    );
    let listing = text(&s.run(&["outbox"]));
    assert!(listing.contains("1 not sent (answered first)"), "{listing}");
    assert!(listing.contains("not sent (answered)"), "{listing}");
    // Nothing was mailed (Piet's alert waits for the end of the quiet hours), and another
    // pass does not bring Sanne's alert back.
    once(&s);
    assert_eq!(smtp.accepted().len(), 0, "{:#?}", smtp.accepted());
    assert_eq!(states(&s), expect("superseded", "pending"));
    let retried = s.run(&["outbox", "retry", &dropped["id"].to_string()]);
    assert!(!retried.status.success(), "{}", text(&retried));
}
