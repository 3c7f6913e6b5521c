//! The bundled demo configuration works offline from a fresh checkout, as the README promises.

mod common;

use common::{assert_said, sql_count, text};

fn demo(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_webcare"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config", "config/demo.toml"])
        .args(args)
        .env("WEBCARE__STORE__PATH", db)
        .env("WEBCARE__MAIL__DIR", db.with_file_name("mail"))
        .output()
        .unwrap()
}

#[test]
fn the_demo_stores_every_brand_mention_once_and_no_job_ads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = demo(&db, &["check-config"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = demo(&db, &["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let per_feed = [
        ("nieuws-nl", 17),
        ("forum-en", 16),
        ("google-alerts-da", 15),
        ("reviews", 16),
        ("community-nl", 7),
    ];
    for (feed, n) in per_feed {
        let line = text(&out)
            .lines()
            .find(|l| l.starts_with(feed))
            .map(str::to_string)
            .unwrap_or_default();
        assert!(line.contains(&format!("stored {n:>4}")), "{feed}: {line}");
    }

    // Exclusions keep job ads out; word boundaries keep "Fjordlinks" and "Fjordlinjen" out.
    let out = demo(
        &db,
        &[
            "mentions",
            "--query",
            "vacature OR job OR stilling OR fjordlinjen",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        0,
        "{}",
        text(&out)
    );

    // Searching and filtering the stored mentions.
    let out = demo(
        &db,
        &["mentions", "--query", "storing", "--source", "nieuws-nl"],
    );
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        shown.contains("storing") || shown.contains("Storing"),
        "{shown}"
    );
    let out = demo(
        &db,
        &[
            "mentions", "--watch", "FjordBox", "--json", "--limit", "500",
        ],
    );
    let fjordbox = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        fjordbox > 0 && fjordbox < 64,
        "FjordBox is a narrower watch: {fjordbox}"
    );
    // A quarter of the demo's mentions: read from the id range of the day that stored them,
    // and every one is there.
    assert_eq!(
        fjordbox as i64,
        sql_count(
            &db,
            "SELECT count(*) FROM mentions WHERE ',' || watches || ',' LIKE '%,FjordBox,%'"
        )
    );

    // Polling again finds nothing new.
    let out = demo(&db, &["once"]);
    assert_said(&out, "stored    0");
    assert_eq!(sql_count(&db, "SELECT count(*) FROM mentions"), 71);
    let conn = rusqlite::Connection::open(&db).unwrap();

    // On the brand's own forum its staff replied to four posts: those are answered, by the
    // account that replied, and the brand's own posts are no mentions.
    let answered: Vec<(String, String)> = conn
        .prepare(
            "SELECT external_id, answered_by FROM mentions
             WHERE answered_at IS NOT NULL ORDER BY external_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let post = |n: &str, by: &str| {
        (
            format!("tag:community.fjordlink.example,2026:post-{n}"),
            by.to_string(),
        )
    };
    assert_eq!(
        answered,
        [
            post("5101", "Fjordlink_Care"),
            post("5120", "FjordlinkSupport"),
            post("5140", "Fjordlink_Care"),
            post("5150", "Fjordlink_Care"),
        ]
    );
    let own = sql_count(
        &db,
        "SELECT count(*) FROM mentions WHERE author_handle LIKE 'fjordlink%'",
    );
    assert_eq!(own, 0);
}

#[test]
fn json_logs_are_one_object_per_line_with_the_source_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        &dir.path().join("demo.db"),
        &["--log-format", "json", "once"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let polls: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|v| v["message"] == "poll ok")
        .collect();
    assert_eq!(polls.len(), 5, "{stderr}");
    assert!(
        polls
            .iter()
            .any(|p| p["source"] == "community-nl" && p["answered"] == 4),
        "{stderr}"
    );
    assert!(
        polls
            .iter()
            .any(|p| p["source"] == "forum-en" && p["stored"] == 16),
        "{stderr}"
    );
    assert!(polls.iter().all(|p| p["level"] == "INFO"));
}

#[test]
fn journald_logging_without_a_journal_falls_back_to_stderr_and_says_so() {
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        eprintln!("a systemd journal is present here; the fallback cannot be observed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        &dir.path().join("demo.db"),
        &["--log-format", "journald", "once"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("no systemd journal to log to; logging to stderr instead"),
        "{stderr}"
    );
    assert!(stderr.contains("poll ok"), "{stderr}");
}
