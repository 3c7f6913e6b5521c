//! The real `webcare` daemon against fake platform servers: a config in a temporary folder with
//! the Fjordlink watch and the sources under test, secrets handed to the child as environment
//! variables, `once`, `run` until a condition holds and then SIGTERM, and reads of what was stored.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::Setup;

/// How long [`Daemon::run_until`] waits for its condition.
const RUN_PATIENCE: Duration = Duration::from_secs(20);
/// How long [`Running::stop`] gives the daemon to exit after SIGTERM.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// A `webcare` config in a temporary folder, with the database beside it, run with quiet logs.
pub struct Daemon {
    setup: Setup,
}

impl Daemon {
    /// A config with the Fjordlink watch (query `fjordlink`) and `sources` (TOML `[[sources]]`
    /// tables) after it.
    pub fn new(sources: &str) -> Daemon {
        Daemon::with_watch("fjordlink", sources)
    }

    /// A daemon reading the fake of platform `kind` at `base_url` every `interval`, with the
    /// source and secrets of `fixtures/<kind>/e2e.toml`.
    pub fn of(kind: &str, base_url: &str, interval: &str) -> Daemon {
        let e2e = super::fakes::E2e::load(kind);
        Daemon::new(&e2e.source(base_url, interval)).envs(&e2e.env())
    }

    /// Starts the fake of platform `kind`, runs `webcare once` on a daemon reading it hourly
    /// ([`Daemon::of`]) and asserts that it stores exactly the external ids its `e2e.toml`
    /// lists under `[stored]`, one row each. Returns both for what the platform's own test
    /// checks next.
    pub async fn first_poll(kind: &str) -> (wiremock::MockServer, Daemon) {
        let e2e = super::fakes::E2e::load(kind);
        let server = e2e.start().await;
        let daemon = Daemon::of(kind, &server.uri(), "1h");
        let ids: Vec<&str> = e2e.stored.ids.iter().map(String::as_str).collect();
        daemon.once_stores_ids(&ids);
        (server, daemon)
    }

    /// Like [`Daemon::new`], with `query` as the Fjordlink watch's query.
    pub fn with_watch(query: &str, sources: &str) -> Daemon {
        Daemon {
            setup: Setup::with_watch(query, sources),
        }
    }

    /// Sets every `(name, value)` pair as an environment variable for every `webcare` run.
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(self, vars: &[(K, V)]) -> Daemon {
        Daemon {
            setup: vars
                .iter()
                .fold(self.setup, |s, (k, v)| s.env(k.as_ref(), v.as_ref())),
        }
    }

    /// The SQLite database file.
    pub fn db(&self) -> PathBuf {
        self.setup.db()
    }

    /// A `webcare --config <config>` command with the daemon's environment.
    pub fn command(&self) -> Command {
        let mut c = self.setup.webcare();
        c.env("RUST_LOG", "warn");
        c
    }

    /// Runs `webcare <args>` to completion.
    pub fn webcare(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs `webcare once`, asserts that it succeeded, and returns its stdout.
    pub fn once(&self) -> String {
        let out = self.webcare(&["once"]);
        assert!(out.status.success(), "webcare once: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every stored mention, as `webcare mentions --json --limit 100` prints it.
    pub fn stored(&self) -> Vec<serde_json::Value> {
        self.setup
            .json_lines(&["mentions", "--json", "--limit", "100"])
    }

    /// The external ids of [`Daemon::stored`], sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .stored()
            .iter()
            .map(|m| m["external_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The external ids stored for `source`, one row each, sorted, read from the database file.
    pub fn ids_of(&self, source: &str) -> Vec<String> {
        self.setup.external_ids_of(Some(source))
    }

    /// How many mentions `source` has stored; 0 while the database cannot be read yet.
    pub fn count(&self, source: &str) -> i64 {
        self.setup.count(Some(source))
    }

    /// True when `secret` appears anywhere in the bytes of the database file or its WAL.
    pub fn db_contains(&self, secret: &str) -> bool {
        ["webcare.db", "webcare.db-wal"].iter().any(|name| {
            std::fs::read(self.setup.dir.path().join(name))
                .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(secret))
        })
    }

    /// The cursor `source` stored, as the text in the database.
    pub fn cursor(&self, source: &str) -> String {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row(
            "SELECT cursor FROM source_state WHERE source = ?1",
            [source],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// `(external_id, answered_at, answered_by)` of every mention `source` stored that is
    /// marked answered, sorted by external id.
    pub fn answered(&self, source: &str) -> Vec<(String, i64, String)> {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let mut q = conn
            .prepare(
                "SELECT external_id, answered_at, answered_by FROM mentions
                 WHERE source = ?1 AND answered_at IS NOT NULL ORDER BY external_id",
            )
            .unwrap();
        q.query_map([source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// `webcare sources --json`, one value per configured source.
    pub fn sources_json(&self) -> Vec<serde_json::Value> {
        self.setup.sources_json()
    }

    /// The state `webcare sources --json` shows for a config with a single source.
    pub fn source_state(&self) -> serde_json::Value {
        let mut states = self.sources_json();
        assert_eq!(states.len(), 1, "expected one source: {states:?}");
        states.remove(0)
    }

    /// Starts `webcare run` and waits until `done` holds (checked every 100 ms, for up to 20 s).
    /// The caller asserts what it waited for; the daemon keeps running until [`Running::stop`].
    pub fn run_until(&self, mut done: impl FnMut() -> bool) -> Running {
        let child = self
            .command()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = Running { child: Some(child) };
        let deadline = Instant::now() + RUN_PATIENCE;
        while Instant::now() < deadline && !done() {
            std::thread::sleep(Duration::from_millis(100));
        }
        running
    }
}

impl Daemon {
    /// Runs `webcare once`, asserts that it reports storing `n` mentions, and returns its stdout.
    pub fn once_stores(&self, n: usize) -> String {
        let stdout = self.once();
        let want = format!("stored {n:>4}");
        assert!(stdout.contains(&want), "expected {want:?} in:\n{stdout}");
        stdout
    }

    /// Runs `webcare once` on a database without these mentions, asserts that it reports
    /// storing one per id and that the stored external ids, sorted, are `ids`.
    pub fn once_stores_ids(&self, ids: &[&str]) {
        self.once_stores(ids.len());
        assert_eq!(self.ids(), ids);
    }

    /// Runs `webcare once` against a fake with nothing newer than what is stored, and asserts
    /// that it reports storing nothing and leaves the stored mentions as they were.
    pub fn once_stores_nothing_new(&self) {
        let before = self.ids();
        self.once_stores(0);
        assert_eq!(self.ids(), before, "a second once changed what is stored");
    }

    /// The single source's state from `webcare sources --json`, asserted to be of `kind` and ok.
    pub fn state_ok(&self, kind: &str) -> serde_json::Value {
        let state = self.source_state();
        assert_eq!(state["kind"], kind, "{state}");
        assert_eq!(state["state"], "ok", "{state}");
        state
    }

    /// [`Daemon::state_ok`], also asserted to be the source named `name`, with `stored`
    /// mentions stored in all.
    pub fn state_ok_storing(&self, name: &str, kind: &str, stored: usize) -> serde_json::Value {
        let state = self.state_ok(kind);
        assert_eq!(state["source"], name, "{state}");
        assert_eq!(state["items_stored"], stored, "{state}");
        state
    }

    /// The stored mention with `external_id`, as `webcare mentions --json` prints it.
    pub fn stored_by_id(&self, external_id: &str) -> serde_json::Value {
        self.stored_where("external_id", external_id)
    }

    /// The first stored mention whose `field` is `value`, as `webcare mentions --json` prints it.
    pub fn stored_where(&self, field: &str, value: &str) -> serde_json::Value {
        self.stored()
            .into_iter()
            .find(|m| m[field] == value)
            .unwrap_or_else(|| panic!("no stored mention with {field} {value}"))
    }

    /// Runs `webcare once`, asserts that it exits 75 (temporary failure) and that its stdout
    /// says `needle`, and returns the stdout.
    pub fn once_fails_saying(&self, needle: &str) -> String {
        let out = self.webcare(&["once"]);
        assert_eq!(out.status.code(), Some(75), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(stdout.contains(needle), "expected {needle:?} in:\n{stdout}");
        stdout
    }

    /// Asserts that the only mention of `source` marked answered is `external_id`, answered at
    /// `at` (RFC 3339) by `by`.
    pub fn assert_answered(&self, source: &str, external_id: &str, at: &str, by: &str) {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        assert_eq!(
            self.answered(source),
            [(external_id.to_string(), at.timestamp(), by.to_string())]
        );
    }

    /// Asserts that `webcare sources --json` shows the source as failing; returns what it printed.
    pub fn assert_failing(&self) -> String {
        let sources = self.webcare(&["sources", "--json"]);
        let text = String::from_utf8_lossy(&sources.stdout).into_owned();
        assert!(text.contains("\"state\":\"failing\""), "{text}");
        text
    }
}

/// A `webcare run` child; killed outright if the test ends without [`Running::stop`].
pub struct Running {
    child: Option<Child>,
}

impl Running {
    /// Sends SIGTERM and returns the exit status; panics if the daemon has not stopped 10 s later.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("webcare did not stop within 10s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
