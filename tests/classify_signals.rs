//! End to end: the store signals reach the stored verdicts through the real binary. The same
//! giveaway text from four authors is stored as spam, every copy; a complaint in a thread that
//! got many replies in the last hour is stored as urgent.

mod common;

use std::process::Command;

use common::run_with_input;
use common::{FeedServer, Reply, Setup, atom, text};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A crypto giveaway that one author alone does not give away as spam.
const GIVEAWAY: &str =
    "Fjordlink deelt vandaag bitcoin uit aan iedereen die dit bericht doorstuurt";

/// `webcare mentions --json`, one value per stored mention.
fn mentions(setup: &Setup) -> Vec<serde_json::Value> {
    setup.json_lines(&["mentions", "--json", "--limit", "100"])
}

/// What `webcare classify` says about `line` on its own.
fn classify_alone(line: &str) -> serde_json::Value {
    let out = run_with_input(
        Command::new(env!("CARGO_BIN_EXE_webcare")).arg("classify"),
        format!("{line}\n").as_bytes(),
    );
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_same_giveaway_from_four_authors_is_stored_as_spam_every_copy() {
    // On its own the text is not spam, so only the campaign can make it so.
    assert_eq!(classify_alone(GIVEAWAY)["spam"], false);

    let server = FeedServer::start();
    let mut entries: Vec<(String, String)> = (0..4)
        .map(|i| (format!("urn:test:give-{i}"), GIVEAWAY.to_string()))
        .collect();
    entries.push((
        "urn:test:other".into(),
        "Fjordlink storing in Utrecht, al twee uur geen internet".into(),
    ));
    server.set("forum.xml", Reply::Feed(atom(&entries)));
    let setup = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n",
        server.url("forum.xml")
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));

    let stored = mentions(&setup);
    assert_eq!(stored.len(), 5, "{stored:?}");
    for m in &stored {
        let copy = m["text"].as_str().unwrap() == GIVEAWAY;
        assert_eq!(m["spam"], copy, "{m}");
        if copy {
            assert_eq!(m["label"], "neutral", "{m}");
            let reasons = m["verdict"]["reasons"].to_string();
            assert!(reasons.contains("same text from several authors"), "{m}");
        }
    }
}

/// One Hacker News search hit for a comment.
fn comment(id: u64, parent: u64, author: &str, body: &str, at: i64) -> serde_json::Value {
    serde_json::json!({
        "_tags": ["comment", format!("author_{author}"), "story_46020001"],
        "author": author,
        "comment_text": format!("<p>{body}</p>"),
        "created_at_i": at,
        "objectID": id.to_string(),
        "parent_id": parent,
        "story_id": 46020001,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complaint_in_a_thread_with_many_recent_replies_is_stored_as_urgent() {
    let now = chrono::Utc::now().timestamp();
    const BUSY: u64 = 46020001;
    const QUIET: u64 = 46020900;
    let complaint = "Fjordlink internet ligt er al twee dagen uit, ik ben het zat";
    // The complaint comes first, its thread's replies after it: order must not matter.
    let mut hits = vec![
        comment(46020002, BUSY, "ann", complaint, now - 600),
        comment(46020901, QUIET, "dirk", complaint, now - 600),
    ];
    for i in 0..6u64 {
        hits.push(comment(
            46020100 + i,
            BUSY,
            &format!("user{i}"),
            &format!("Fjordlink ook bij mij weg in wijk {i}"),
            now - 60 * i as i64,
        ));
    }
    let page = serde_json::json!({
        "hits": hits, "page": 0, "nbPages": 1, "nbHits": hits.len(), "hitsPerPage": 100,
    });
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/search_by_date"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(page.to_string().into_bytes(), "application/json"),
        )
        .mount(&server)
        .await;

    let setup = Setup::new(&format!(
        "[classifier]\nfast_thread = 5\n\n[[sources]]\nname = \"hn\"\nkind = \"hackernews\"\nquery = \"fjordlink\"\nbase_url = \"{}\"\nhits_per_page = 100\nbackfill = \"1d\"\n",
        server.uri()
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));

    let stored = mentions(&setup);
    assert_eq!(stored.len(), 8, "{stored:?}");
    let find = |id: &str| {
        stored
            .iter()
            .find(|m| m["external_id"] == id)
            .unwrap_or_else(|| panic!("{id} not stored: {stored:?}"))
    };
    let busy = find("46020002");
    assert_eq!(busy["label"], "complaint", "{busy}");
    assert_eq!(busy["urgency"], "urgent", "{busy}");
    let why = busy["verdict"]["urgency_reasons"].to_string();
    assert!(
        why.contains("fast-growing thread: 6 replies in the last hour"),
        "{busy}"
    );
    let quiet = find("46020901");
    assert_eq!(
        (&quiet["label"], &quiet["urgency"]),
        (&"complaint".into(), &"normal".into()),
        "{quiet}"
    );
}
