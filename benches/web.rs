//! How long the web inbox takes to render a page of 50 mentions with (by default) 1,000,000
//! stored: a quarter of them complaints and questions, most of those answered, a few urgent.
//! Each render opens the database and renders the template as a request does; the HTTP layer
//! is left out, and the process runs on the daemon's allocator. Run with `cargo bench --bench
//! web` (`WEB_MENTIONS` changes the size).

use std::time::{Duration, Instant};

use webcare::config::{ConfigErrors, load::Config};
use webcare::store::Store;

webcare::daemon_allocator!();

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fills the database with `n` classified, routed mentions spread over the last 90 days.
fn fill(db: &std::path::Path, n: u64) {
    drop(Store::open(db).unwrap());
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO mentions (source, kind, external_id, url, author_handle, author_name, lang,
                    title, text, created_at, fetched_at, watches, label, label_source, sentiment, urgency,
                    spam, reasons, routed_at, route, answered_at, answered_by)
                 VALUES (?1, 'rss', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 'Fjordlink', ?10, 'classifier',
                    ?11, ?12, 0, '{\"reasons\":[]}', ?9, ?13, ?14, ?15)",
            )
            .unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..n {
            let label = match rng.u32(0..100) {
                0..15 => "complaint",
                15..25 => "question",
                25..45 => "praise",
                _ => "neutral",
            };
            let open_kind = matches!(label, "complaint" | "question");
            let created = now - rng.i64(0..90 * 86_400);
            let urgent = open_kind && rng.u32(0..100) < 3;
            let answered = open_kind && rng.u32(0..100) < 95;
            let route = if open_kind {
                Some(
                    "[{\"rule\":\"complaints\",\"action\":\"alert\",\"team\":\"webcare\",\"why\":[\"label is complaint\"]}]",
                )
            } else {
                None
            };
            st.execute(rusqlite::params![
                ["forum", "news", "reviews", "alerts"][(i % 4) as usize],
                format!("urn:bench:{i}"),
                format!("https://forum.example/t/{i}"),
                format!("user{}", rng.u32(0..50_000)),
                format!("User {}", rng.u32(0..50_000)),
                ["nl", "en", "da"][(i % 3) as usize],
                format!("Post {i} about Fjordlink"),
                format!(
                    "Fjordlink {label} number {i}: al drie dagen geen internet in Utrecht, de helpdesk \
                     belt niet terug en de monteur kwam niet opdagen. Wat moet ik nu doen? #fjordlink"
                ),
                created,
                label,
                if label == "praise" { 0.6 } else { -0.4 },
                if urgent { "urgent" } else { "normal" },
                route,
                answered.then_some(created + 3600),
                answered.then_some("anna"),
            ])
            .unwrap();
        }
    }
    // Every mention matched the brand's watch; one in 100,000 also matched a rare one (a
    // product name), so the watch filter is timed at both ends. The per-day counters are kept
    // as the commit keeps them.
    tx.execute_batch(
        "UPDATE mentions SET watches = 'Fjordlink,Fjordbox' WHERE id % 100000 = 7;
         INSERT INTO daily_counts (day, scope, name, stored, first_id, last_id)
             SELECT fetched_at / 86400 * 86400, 'source', source, count(*), min(id), max(id)
             FROM mentions GROUP BY 1, 3;
         INSERT INTO daily_counts (day, scope, name, stored, first_id, last_id)
             SELECT fetched_at / 86400 * 86400, 'watch', 'Fjordlink', count(*), min(id), max(id)
             FROM mentions GROUP BY 1;
         INSERT INTO daily_counts (day, scope, name, stored, first_id, last_id)
             SELECT fetched_at / 86400 * 86400, 'watch', 'Fjordbox', count(*), min(id), max(id)
             FROM mentions WHERE id % 100000 = 7 GROUP BY 1;",
    )
    .unwrap();
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE;").unwrap();
}

fn config(db: &std::path::Path) -> Config {
    let hash = webcare::web::auth::hash_password("bench").unwrap();
    let text = format!(
        "[store]\npath = \"{}\"\n[[watches]]\nname = \"Fjordlink\"\nquery = \"fjordlink\"\n\
         [[watches]]\nname = \"Fjordbox\"\nquery = \"fjordbox\"\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"https://forum.example/feed\"\n\
         [web.users]\nbench = \"{hash}\"\n",
        db.display()
    );
    let value: serde_json::Value = toml::from_str(&text).unwrap();
    Config::from_value(
        std::path::Path::new("bench.toml"),
        value,
        ConfigErrors::default(),
    )
    .unwrap()
}

fn measure(config: &Config, query: &str, rounds: usize) {
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    let mut rows = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let page = webcare::web::pages::render_inbox_for(config, "bench", query).unwrap();
        times.push(t.elapsed());
        rows = page.matches("<li class=\"row").count();
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{:<40} {rows:>3} rows  median {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms",
        if query.is_empty() {
            "(default: open, page 1)"
        } else {
            query
        },
        p(0.5).as_secs_f64() * 1e3,
        p(0.9).as_secs_f64() * 1e3,
        p(1.0).as_secs_f64() * 1e3,
    );
}

fn main() {
    let n = env_or("WEB_MENTIONS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("web.db");
    let t = Instant::now();
    fill(&db, n);
    println!("stored {n} mentions in {:.1} s", t.elapsed().as_secs_f64());
    let config = config(&db);
    let rounds = env_or("WEB_ROUNDS", 50) as usize;
    for query in [
        "",
        "page=5",
        "label=question",
        "source=reviews&lang=nl",
        "team=webcare",
        "watch=Fjordlink",
        "watch=Fjordbox",
        "status=all&watch=Fjordbox",
    ] {
        measure(&config, query, rounds);
    }
}
