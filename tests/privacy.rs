//! Retention and data-subject requests through the real binary: `forget` leaves no trace of a
//! person in the database file, its WAL or the full-text index; `export` returns exactly their
//! mentions; `prune` strips old mentions of text and author but keeps them counted.

mod common;

use std::path::Path;

use common::{FeedServer, KillOnDrop, Reply, Setup, assert_said, sql_count, text};

/// A made-up sentence nobody else writes, so finding any of its words means it leaked.
const SECRET: &str = "Fjordlink storing al drie dagen, mijn kwartelvlinder zoemt paarsgroen boven Zwammerdamsestraat";
const SECRET_WORDS: &[&str] = &["kwartelvlinder", "paarsgroen", "zwammerdamsestraat"];

struct Post<'a> {
    id: &'a str,
    author: &'a str,
    text: &'a str,
}

fn feed(posts: &[Post<'_>]) -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Forum</title><id>urn:forum</id><updated>{now}</updated>\n"
    );
    for (i, p) in posts.iter().enumerate() {
        s.push_str(&format!(
            "<entry><id>urn:forum:{}</id><title>Topic {i}</title><link rel=\"alternate\" href=\"https://forum.example/t/{}\"/><updated>{now}</updated><author><name>{}</name></author><content type=\"text\">{}</content></entry>\n",
            p.id, p.id, p.author, p.text
        ));
    }
    s.push_str("</feed>\n");
    s.into_bytes()
}

/// A config with one feed and alerts written to files in the temp folder, so the outbox fills.
fn setup(server: &FeedServer, extra: &str) -> Setup {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n",
        server.url("forum.xml")
    ));
    let mut cfg = std::fs::read_to_string(&s.config).unwrap();
    cfg.push_str(&format!(
        "\n[mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\ntransport = \"file\"\ndir = \"{}\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n\n{extra}",
        s.dir.path().join("mail").display()
    ));
    std::fs::write(&s.config, cfg).unwrap();
    s
}

fn run_ok(s: &Setup, args: &[&str]) -> String {
    let out = s.run(args);
    assert!(out.status.success(), "webcare {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The database file and its WAL (if any), as bytes.
fn file_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let wal = db.with_extension("db-wal");
    if let Ok(w) = std::fs::read(&wal) {
        bytes.extend(w);
    }
    bytes
}

fn contains(hay: &[u8], needle: &str) -> bool {
    let lower: Vec<u8> = hay.iter().map(u8::to_ascii_lowercase).collect();
    lower
        .windows(needle.len())
        .any(|w| w == needle.to_lowercase().as_bytes())
}

fn fts_hits(db: &Path, word: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH ?1",
        [word],
        |r| r.get(0),
    )
    .unwrap()
}

/// Fails unless none of Jan's words (his secrets, his name, his job) is left anywhere in the
/// database file `db` or in its full-text index.
fn assert_no_trace_of_jan(db: &Path) {
    let after = file_bytes(db);
    for w in SECRET_WORDS.iter().chain(&["jan de vries", "monteur"]) {
        assert!(!contains(&after, w), "{w:?} is still in the database file");
        assert_eq!(fts_hits(db, &format!("\"{w}\"")), 0, "{w} is still indexed");
    }
}

/// A config without extras whose database holds [`store_posts`]'s posts, and the feed server
/// it reads, which must live as long as the setup is used.
fn with_posts_stored() -> (FeedServer, Setup) {
    let server = FeedServer::start();
    let s = setup(&server, "");
    store_posts(&server, &s);
    (server, s)
}

/// Stores Piet's post on the first (backfill) poll, then Jan's two posts and Anna's on the
/// second, so Jan's complaints raise alerts.
fn store_posts(server: &FeedServer, s: &Setup) {
    let piet = Post {
        id: "1",
        author: "Piet Bakker",
        text: "Fjordlink heeft eindelijk glasvezel in onze straat",
    };
    server.set("forum.xml", Reply::Feed(feed(&[piet])));
    run_ok(s, &["once"]);
    server.set(
        "forum.xml",
        Reply::Feed(feed(&[
            Post {
                id: "1",
                author: "Piet Bakker",
                text: "Fjordlink heeft eindelijk glasvezel in onze straat",
            },
            Post {
                id: "2",
                author: "Jan de Vries",
                text: SECRET,
            },
            Post {
                id: "3",
                author: "jan de vries",
                text: "Waarom reageert Fjordlink niet? Ik wacht al een week op een monteur",
            },
            Post {
                id: "4",
                author: "Anna Jansen",
                text: "Fjordlink storing in Utrecht, al twee uur geen internet",
            },
        ])),
    );
    run_ok(s, &["once"]);
    assert_eq!(s.count(None), 4);
}

#[test]
fn forget_leaves_no_trace_of_the_author_in_the_file_the_wal_or_the_index() {
    let (_server, s) = with_posts_stored();
    let db = s.db();
    // The checks below can fail: before forgetting, the words are in the file, the index and
    // the outbox.
    let before = file_bytes(&db);
    for w in SECRET_WORDS {
        assert!(contains(&before, w), "{w} should be stored before forget");
        assert_eq!(fts_hits(&db, w), 1, "{w}");
    }
    assert!(
        sql_count(
            &db,
            "SELECT count(*) FROM outbox WHERE body_text LIKE '%kwartelvlinder%'"
        ) > 0,
        "Jan's complaint should have raised an alert"
    );
    let alerts_before = sql_count(&db, "SELECT count(*) FROM outbox");

    let dry = run_ok(&s, &["forget", "--author", "rss:JAN DE VRIES", "--dry-run"]);
    assert!(dry.contains("would forget"), "{dry}");
    assert_eq!(s.count(None), 4, "a dry run changes nothing");

    let out = run_ok(&s, &["forget", "--author", "rss:@Jan de Vries"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["mentions", "2"])),
        "{out}"
    );
    assert!(out.contains("WAL truncated"), "{out}");
    let jan_alerts = alerts_before - sql_count(&db, "SELECT count(*) FROM outbox");
    assert!(jan_alerts >= 1);
    assert!(
        out.lines().any(|l| l.split_whitespace().eq([
            "alerts",
            "in",
            "the",
            "outbox",
            &jan_alerts.to_string()
        ])),
        "{out}"
    );

    assert_no_trace_of_jan(&db);
    let wal = db.with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "the WAL is truncated"
    );
    // The others are untouched and still searchable.
    assert_eq!(s.count(None), 2);
    assert_eq!(fts_hits(&db, "glasvezel"), 1);
    assert_eq!(fts_hits(&db, "utrecht"), 1);
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "INSERT INTO mentions_fts (mentions_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap();
    drop(c);
    let listed = run_ok(&s, &["mentions", "--query", "kwartelvlinder"]);
    assert!(listed.contains("0 mentions"), "{listed}");

    // The feed still lists Jan's posts: the next poll must not store them again.
    let out = run_ok(&s, &["once"]);
    assert_eq!(s.count(None), 2, "{out}");
    assert!(!contains(&file_bytes(&db), "kwartelvlinder"));
}

#[test]
fn export_returns_exactly_that_authors_mentions_with_their_alerts() {
    let (_server, s) = with_posts_stored();
    let out = run_ok(&s, &["export", "--author", "rss:jan de vries"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mentions = doc["mentions"].as_array().unwrap();
    let mut ids: Vec<&str> = mentions
        .iter()
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["urn:forum:2", "urn:forum:3"]);
    let secret = mentions
        .iter()
        .find(|m| m["external_id"] == "urn:forum:2")
        .unwrap();
    assert_eq!(secret["text"], SECRET);
    assert_eq!(secret["author_name"], "Jan de Vries");
    assert_eq!(secret["url"], "https://forum.example/t/2");
    assert_eq!(secret["raw"]["authors"][0], "Jan de Vries", "{secret}");
    assert!(secret["label"].is_string() && secret["sentiment"].is_number());
    assert!(secret["created_at"].as_str().unwrap().ends_with('Z'));
    let alerts = secret["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty(), "{secret}");
    assert_eq!(alerts[0]["recipient"], "agent@fjordlink.example");
    assert!(
        alerts[0]["body_text"]
            .as_str()
            .unwrap()
            .contains("kwartelvlinder")
    );
    assert!(!out.contains("Piet") && !out.contains("Anna"), "{out}");

    let none = run_ok(&s, &["export", "--author", "mastodon:jan"]);
    let doc: serde_json::Value = serde_json::from_str(&none).unwrap();
    assert_eq!(doc["mentions"].as_array().unwrap().len(), 0);

    let bad = s.run(&["export", "--author", "jan"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_said(&bad, "write it as <platform>:<handle>");
}

/// Makes every mention look `days` old, or only those whose external id is in `ids`.
fn backdate(db: &Path, days: i64, ids: &[&str]) {
    let c = rusqlite::Connection::open(db).unwrap();
    let then = chrono::Utc::now().timestamp() - days * 86_400;
    for id in ids {
        let n = c
            .execute(
                "UPDATE mentions SET created_at = ?1, fetched_at = ?1 WHERE external_id = ?2",
                rusqlite::params![then, id],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    c.execute("UPDATE outbox SET created_at = ?1", [then])
        .unwrap();
}

#[test]
fn prune_strips_old_text_and_authors_but_keeps_the_counts() {
    let (_server, s) = with_posts_stored();
    let db = s.db();
    assert_eq!(
        sql_count(&db, "PRAGMA auto_vacuum"),
        2,
        "new databases vacuum incrementally"
    );
    backdate(&db, 400, &["urn:forum:2", "urn:forum:3"]);
    backdate(&db, 40, &["urn:forum:4"]);
    let labels_before = sql_count(&db, "SELECT count(label) FROM mentions");

    let dry = run_ok(&s, &["prune", "--dry-run"]);
    let line = |out: &str, what: &str| -> String {
        out.lines()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no line {what:?} in {out}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert!(dry.contains("dry run"), "{dry}");
    assert_eq!(line(&dry, "mentions stripped"), "2", "{dry}");
    assert_eq!(line(&dry, "raw payloads cleared"), "1", "{dry}");
    assert_eq!(line(&dry, "mentions deleted"), "0", "{dry}");
    assert!(contains(&file_bytes(&db), "kwartelvlinder"), "dry run");

    let out = run_ok(&s, &["prune"]);
    assert_eq!(line(&out, "mentions stripped"), "2", "{out}");
    assert_eq!(line(&out, "raw payloads cleared"), "1", "{out}");
    assert_eq!(
        line(&out, "alert bodies blanked"),
        line(&dry, "alert bodies blanked")
    );
    assert_ne!(line(&out, "alert bodies blanked"), "0", "{out}");

    // Counts, labels and watches survive; the text and author do not.
    assert_eq!(s.count(None), 4);
    assert_eq!(
        sql_count(&db, "SELECT count(label) FROM mentions"),
        labels_before
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM mentions WHERE watches != ''"),
        4
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM mentions WHERE stripped = 1 AND text = '' AND author_handle IS NULL
             AND author_name IS NULL AND url IS NULL AND raw IS NULL AND reasons IS NULL"
        ),
        2
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM mentions WHERE raw IS NULL"),
        3
    );
    assert_no_trace_of_jan(&db);
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "INSERT INTO mentions_fts (mentions_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap();
    drop(c);
    // A second pass finds nothing more.
    let again = run_ok(&s, &["prune"]);
    assert_eq!(line(&again, "mentions stripped"), "0", "{again}");

    // With a delete age, the old rows go entirely.
    let mut cfg = std::fs::read_to_string(&s.config).unwrap();
    cfg.push_str("\n[retention]\ndelete_after = \"300d\"\n");
    std::fs::write(&s.config, cfg).unwrap();
    let out = run_ok(&s, &["prune"]);
    assert_eq!(line(&out, "mentions deleted"), "2", "{out}");
    assert_ne!(line(&out, "alerts deleted"), "0", "{out}");
    assert_eq!(s.count(None), 2);
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM outbox WHERE mention_id IS NULL"),
        0,
        "alerts about deleted mentions go with them"
    );
}

#[test]
fn a_retention_age_in_seconds_is_refused_with_its_key() {
    let server = FeedServer::start();
    let s = setup(&server, "[retention]\nstrip_after = \"30s\"\n");
    let out = s.run(&["prune"]);
    assert_eq!(out.status.code(), Some(78));
    assert_said(
        &out,
        "retention.strip_after: \"30s\" is shorter than an hour",
    );
}

#[test]
fn the_daemon_applies_retention_when_it_starts() {
    let (_server, s) = with_posts_stored();
    let db = s.db();
    backdate(&db, 400, &["urn:forum:2", "urn:forum:3"]);
    let mut child = KillOnDrop(
        s.webcare()
            .arg("run")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let stripped = || sql_count(&db, "SELECT count(*) FROM mentions WHERE stripped = 1");
    while stripped() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let log = common::stderr_text(&mut child);
    assert_eq!(stripped(), 2, "{log}");
    assert!(status.success(), "{log}");
    assert!(log.contains("retention pass done"), "{log}");
    assert_eq!(fts_hits(&db, "kwartelvlinder"), 0);
}
