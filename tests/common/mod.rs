//! Shared parts of the end-to-end tests: a fake feed server on 127.0.0.1 and helpers to run the
//! real `webcare` binary against a config in a temporary folder.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

#[path = "../../src/sources/fake.rs"]
pub mod fake;
pub mod fakes;
pub mod http;
pub mod inbox;
pub mod platform;

/// Serves `app` on a free port of 127.0.0.1 from a thread of its own (with its own tokio
/// runtime, so sync tests can use it) for the rest of the process; returns the address.
pub fn serve_in_background(app: axum::Router) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// What a path on the fake server answers.
#[derive(Clone)]
pub enum Reply {
    /// A feed body, served with an ETag and answered with 304 when the client has it.
    Feed(Vec<u8>),
    /// A status with headers and a body.
    Status(u16, Vec<(String, String)>, String),
    /// Waits this long before answering with the feed.
    Stall(Duration, Vec<u8>),
    /// A body of this many bytes, streamed in chunks.
    Huge(usize),
}

#[derive(Default)]
struct ServerState {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, Vec<u16>>,
}

/// A fake feed server on 127.0.0.1 that runs on its own thread for the test's lifetime.
pub struct FeedServer {
    pub base: String,
    state: Arc<Mutex<ServerState>>,
}

impl FeedServer {
    pub fn start() -> FeedServer {
        let state = Arc::new(Mutex::new(ServerState::default()));
        let app = axum::Router::new()
            .route("/{name}", get(serve))
            .with_state(state.clone());
        let addr = serve_in_background(app);
        FeedServer {
            base: format!("http://{addr}"),
            state,
        }
    }

    /// Sets what `/name` answers from now on.
    pub fn set(&self, name: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .replies
            .insert(name.to_string(), reply);
    }

    /// The statuses `/name` answered so far, in order.
    pub fn hits(&self, name: &str) -> Vec<u16> {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// Serves at `/name` an Atom feed (see [`atom`]) with one entry per `(id, text)`.
    pub fn publish(&self, name: &str, entries: &[(&str, &str)]) {
        let entries: Vec<(String, String)> = entries
            .iter()
            .map(|(id, text)| (id.to_string(), text.to_string()))
            .collect();
        self.set(name, Reply::Feed(atom(&entries)));
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Serves at `/<name>.xml`, for each of `names`, an Atom feed of the `n` entries
    /// [`fjordlink_entries`] makes with `name` as the prefix, in place of what was there.
    pub fn publish_fjordlink(&self, names: &[&str], n: usize) {
        for name in names {
            let entries = fjordlink_entries(name, n);
            self.set(&format!("{name}.xml"), Reply::Feed(atom(&entries)));
        }
    }

    /// `[[sources]]` tables of kind `rss`, one for each of `names`, named after the feed
    /// `/<name>.xml` it reads here: polled every second without jitter, with a ten-year
    /// backfill so the dated entries are all read.
    pub fn rss_sources(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| {
                format!(
                    "[[sources]]\nname = \"{name}\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n",
                    self.url(&format!("{name}.xml"))
                )
            })
            .collect()
    }
}

fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:x}\"", h.finish())
}

async fn serve(
    State(state): State<Arc<Mutex<ServerState>>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let reply = state.lock().unwrap().replies.get(&name).cloned();
    let record = |status: u16| {
        state
            .lock()
            .unwrap()
            .hits
            .entry(name.clone())
            .or_default()
            .push(status);
    };
    let feed = |body: Vec<u8>| {
        let tag = etag(&body);
        if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
            return (
                304,
                Response::builder()
                    .status(304)
                    .header("etag", tag)
                    .body(Body::empty())
                    .unwrap(),
            );
        }
        (
            200,
            Response::builder()
                .status(200)
                .header("content-type", "application/xml")
                .header("etag", tag)
                .body(Body::from(body))
                .unwrap(),
        )
    };
    let (status, resp) = match reply {
        None => (
            404,
            Response::builder()
                .status(404)
                .body(Body::from("no such feed"))
                .unwrap(),
        ),
        Some(Reply::Feed(body)) => feed(body),
        Some(Reply::Status(code, hdrs, body)) => {
            let mut b = Response::builder().status(StatusCode::from_u16(code).unwrap());
            for (k, v) in hdrs {
                b = b.header(k, v);
            }
            (code, b.body(Body::from(body)).unwrap())
        }
        Some(Reply::Stall(d, body)) => {
            tokio::time::sleep(d).await;
            feed(body)
        }
        Some(Reply::Huge(n)) => {
            let chunk = vec![b'x'; 64 * 1024];
            let chunks = n / chunk.len();
            let stream = futures_util::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            (
                200,
                Response::builder()
                    .status(200)
                    .header("content-type", "application/xml")
                    .body(Body::from_stream(stream))
                    .unwrap(),
            )
        }
    };
    record(status);
    resp
}

/// The hour the test process's feeds are dated from: two hours before the process started,
/// truncated to the hour. Fixed for the process, so a feed served twice is byte-for-byte the same
/// (its ETag holds), and recent, so every backfill window keeps it whatever day the suite runs.
pub fn feed_epoch() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta, Utc};
    static EPOCH: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        (Utc::now() - TimeDelta::hours(2))
            .duration_trunc(TimeDelta::hours(1))
            .unwrap()
    })
}

/// An Atom feed with one entry per `(id, text)`, dated within the hour after [`feed_epoch`].
pub fn atom(entries: &[(String, String)]) -> Vec<u8> {
    let epoch = feed_epoch();
    let stamp = |minutes: usize| {
        (epoch + chrono::TimeDelta::minutes(minutes as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut s = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Test forum</title><id>urn:test:feed</id><updated>{}</updated>
"#,
        stamp(60)
    );
    for (i, (id, text)) in entries.iter().enumerate() {
        s.push_str(&format!(
            "<entry><id>{id}</id><title>Post {i}</title><link rel=\"alternate\" href=\"https://forum.example/t/{i}\"/><updated>{}</updated><author><name>user{i}</name></author><content type=\"html\">&lt;p&gt;{text}&lt;/p&gt;</content></entry>\n",
            stamp(i % 60)
        ));
    }
    s.push_str("</feed>\n");
    s.into_bytes()
}

/// `n` entries mentioning Fjordlink, ids `prefix-0` .. `prefix-(n-1)`.
pub fn fjordlink_entries(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("urn:test:{prefix}-{i}"),
                format!("Fjordlink storing nummer {i} in Utrecht"),
            )
        })
        .collect()
}

/// A temporary folder with a config file in it, and the environment `webcare` runs with.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    env: Vec<(String, String)>,
}

impl Setup {
    /// Writes a config with the Fjordlink watch (`fjordlink -vacature`), the database in the temp
    /// folder, and `sources` (TOML `[[sources]]` tables) appended. The admin server listens on a
    /// free port, so daemons started by tests running in parallel do not collide.
    pub fn new(sources: &str) -> Setup {
        Setup::build("fjordlink -vacature", sources, "listen = \"127.0.0.1:0\"")
    }

    /// Like [`Setup::new`], with `query` as the Fjordlink watch's query.
    pub fn with_watch(query: &str, sources: &str) -> Setup {
        Setup::build(query, sources, "listen = \"127.0.0.1:0\"")
    }

    /// Like [`Setup::new`], with `admin` as the body of the `[admin]` section.
    pub fn with_admin(sources: &str, admin: &str) -> Setup {
        Setup::build("fjordlink -vacature", sources, admin)
    }

    fn build(query: &str, sources: &str, admin: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("webcare.toml");
        let db = dir.path().join("webcare.db");
        std::fs::write(
            &config,
            format!(
                "[store]\npath = \"{}\"\n\n[admin]\n{admin}\n\n[[watches]]\nname = \"Fjordlink\"\nquery = '{query}'\n\n{sources}",
                db.display()
            ),
        )
        .unwrap();
        Setup {
            dir,
            config,
            env: Vec::new(),
        }
    }

    /// Sets the environment variable `name` to `value` for every `webcare` this setup runs.
    pub fn env(mut self, name: &str, value: &str) -> Setup {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("webcare.db")
    }

    /// A `webcare --config <this config>` command.
    pub fn webcare(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_webcare"));
        c.arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .env_remove("WEBCARE_CONFIG");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `webcare <args>` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.webcare().args(args).output().unwrap()
    }

    /// Number of stored mentions, read straight from the database file; 0 while the file is
    /// missing or a starting daemon has not finished creating its tables (they appear in one
    /// transaction).
    pub fn count(&self, source: Option<&str>) -> i64 {
        let Ok(conn) = rusqlite::Connection::open(self.db()) else {
            return 0;
        };
        conn.query_row(
            "SELECT count(*) FROM mentions WHERE ?1 IS NULL OR source = ?1",
            [source],
            |r| r.get(0),
        )
        .unwrap_or(0)
    }

    /// The external ids stored, sorted.
    pub fn external_ids(&self) -> Vec<String> {
        self.external_ids_of(None)
    }

    /// The external ids stored for `source` (every source when `None`), one row each, sorted.
    pub fn external_ids_of(&self, source: Option<&str>) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let mut st = conn
            .prepare(
                "SELECT external_id FROM mentions WHERE ?1 IS NULL OR source = ?1 ORDER BY external_id",
            )
            .unwrap();
        st.query_map([source], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Two columns of every stored mention, ordered by external id: `cols` is the select
    /// list, e.g. `"title, text"`.
    pub fn mention_pairs<A, B>(&self, cols: &str) -> Vec<(A, B)>
    where
        A: rusqlite::types::FromSql,
        B: rusqlite::types::FromSql,
    {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let mut st = conn
            .prepare(&format!("SELECT {cols} FROM mentions ORDER BY external_id"))
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// `webcare sources --json`, one value per source.
    pub fn sources_json(&self) -> Vec<serde_json::Value> {
        self.json_lines(&["sources", "--json"])
    }

    /// Runs `webcare <args>`, asserts that it succeeded, and parses each line of its stdout
    /// as JSON.
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.run(args);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout)
            .expect("webcare writes UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The one number `sql` reads from the database file `db`, e.g. a `count(*)`.
pub fn sql_count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `webcare` wrote `needle` to stdout or stderr, showing all it wrote otherwise.
#[track_caller]
pub fn assert_said(out: &Output, needle: &str) {
    let said = text(out);
    assert!(said.contains(needle), "expected {needle:?} in:\n{said}");
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(path),
    )
    .unwrap()
}

/// A `webcare` child process that is killed and reaped when dropped, so a test that fails (or
/// panics) half-way never leaves a daemon running. Derefs to the [`std::process::Child`].
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Setup {
    /// A `webcare run` command with warnings-only logs, for a test to add to and spawn.
    pub fn daemon(&self) -> Command {
        let mut c = self.webcare();
        c.arg("run").env("RUST_LOG", "warn");
        c
    }

    /// Starts `webcare run` (warnings-only logs), killed when the guard is dropped.
    pub fn start_daemon(&self) -> KillOnDrop {
        KillOnDrop(self.daemon().spawn().unwrap())
    }

    /// Starts `webcare run` with its log thrown away, killed when the guard is dropped.
    pub fn start_silent(&self) -> KillOnDrop {
        let mut run = self.webcare();
        run.arg("run").stderr(std::process::Stdio::null());
        KillOnDrop(run.spawn().unwrap())
    }

    /// Starts `webcare <args>` in the background, killed when the guard is dropped.
    pub fn spawn(&self, args: &[&str]) -> KillOnDrop {
        KillOnDrop(self.webcare().args(args).spawn().unwrap())
    }
}

/// Everything `child` writes to its piped stderr, read until it closes (so the child has exited
/// or is about to).
pub fn stderr_text(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    child
        .stderr
        .take()
        .expect("the child's stderr is piped")
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// A `webcare run` child that gets SIGTERM when dropped (and is then reaped), so a test that
/// fails half-way still lets the daemon shut down the way an operator would stop it.
pub struct TermOnDrop(pub std::process::Child);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (for a listener a test starts later, or never).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `probe` every 100 ms until it gives a value; panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `command` to completion with `input` on its stdin, capturing stdout and stderr.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Dropping stdin after the write closes it, so the child sees the end of its input.
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
