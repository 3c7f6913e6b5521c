//! Scaffolding the platform sources' unit tests share (a [`SourceConfig`] with test defaults,
//! fixture files, wiremock JSON replies, a raw TCP server that cuts a body short), and the
//! conformance suite every registered kind runs.
//!
//! The suite: the failures any platform can produce (401, 429 with rate-limit reset headers,
//! 5xx, a malformed body, a body cut short, a body over the source's `max_body_bytes`, a reply
//! slower than its `timeout`) must come back as the documented [`SourceError`]
//! (which decides the scheduler's backoff and makes it keep the stored cursor), with no secret
//! in the message and no partial batch. A kind takes part by implementing
//! [`SourceKind::conformance_settings`](super::SourceKind::conformance_settings), which the
//! compiler asks of every kind; its own tests keep only what is particular to the platform.
//!
//! Compiled only for tests; each platform keeps its own fixtures, mocks and assertions.

use std::time::Duration;

use chrono::{DateTime, Utc};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Batch, Kind, PollContext, Source, SourceError, SourceKind, build, http};
use crate::config::{ConfigErrors, SourceConfig};

/// A source config as the unit tests build it: no jitter, a 5 s timeout, a 1 MiB body limit,
/// a day of backfill, no watch, and `settings` (a JSON object) as the platform's own keys.
/// Tests that need another interval or an owning watch override those fields.
pub(crate) fn source_config(name: &str, kind: &str, settings: serde_json::Value) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        kind: kind.into(),
        enabled: true,
        interval: Duration::from_secs(300),
        jitter: 0.0,
        timeout: Duration::from_secs(5),
        max_body_bytes: 1 << 20,
        backfill: Duration::from_secs(86400),
        daily_cap: None,
        watch: None,
        max_backoff: Duration::from_secs(3600),
        settings: settings.as_object().cloned().unwrap_or_default(),
    }
}

/// The text of `fixtures/<platform>/<name>`.
pub(crate) fn fixture(platform: &str, name: &str) -> String {
    let path = format!("{}/fixtures/{platform}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A `200 OK` wiremock reply with `body` as `application/json`.
pub(crate) fn json(body: &str) -> ResponseTemplate {
    json_status(200, body)
}

/// A wiremock reply with `status` and `body` as `application/json`.
pub(crate) fn json_status(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// A wiremock server on 127.0.0.1 with `mocks` mounted in order; what each one expects is
/// checked when the server is dropped.
pub(crate) async fn serving(mocks: impl IntoIterator<Item = Mock>) -> MockServer {
    let server = MockServer::start().await;
    mount_all(&server, mocks).await;
    server
}

/// Drops what `server` served and the requests it recorded, then mounts `mocks` in order: a
/// test's next poll against other answers on the same address.
pub(crate) async fn serve_instead(server: &MockServer, mocks: impl IntoIterator<Item = Mock>) {
    server.reset().await;
    mount_all(server, mocks).await;
}

/// Mounts `mocks` on `server` in order, after what it already serves.
pub(crate) async fn mount_all(server: &MockServer, mocks: impl IntoIterator<Item = Mock>) {
    for mock in mocks {
        mock.mount(server).await;
    }
}

pub(crate) use super::fake::answering;

/// Starts a raw HTTP server on 127.0.0.1 and returns its base URL (`http://127.0.0.1:PORT`).
///
/// Each connection gets one response and is then closed: the bodies in `complete` in order,
/// whole, and after them, on every later connection, `cut`, whose `Content-Length` promises
/// all of it while only its first `sent` bytes are written before the server hangs up.
pub(crate) async fn truncating_server(complete: &[&str], cut: &str, sent: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut replies: Vec<(String, usize)> =
        complete.iter().map(|b| (b.to_string(), b.len())).collect();
    let cut = (cut.to_string(), sent);
    tokio::spawn(async move {
        replies.reverse();
        while let Ok((mut sock, _)) = listener.accept().await {
            let (body, sent) = replies.pop().unwrap_or_else(|| cut.clone());
            let mut buf = [0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body.as_bytes()[..sent]).await;
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}")
}

/// `base` with every key of `extra` (both JSON objects) set over it.
pub(crate) fn with_settings(
    base: serde_json::Value,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut settings = base;
    if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    settings
}

/// A temporary file holding `secret`, for the `*_file` keys; it is deleted when dropped.
pub(crate) fn secret_file(secret: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), secret).unwrap();
    file
}

/// A poll context with `cursor` whose backfill reaches ten years back, so that a first poll
/// reads every fixture whatever today is.
pub(crate) fn ctx(cursor: Option<&str>) -> PollContext {
    PollContext {
        cursor: cursor.map(str::to_string),
        backfill: Duration::from_secs(3650 * 86400),
    }
}

/// A poll context with `cursor` stored as JSON, whose backfill reaches back to `cutoff` (where
/// a platform's fixtures start) whatever today is.
pub(crate) fn ctx_back_to<C: serde::Serialize>(
    cursor: Option<&C>,
    cutoff: DateTime<Utc>,
) -> PollContext {
    PollContext {
        cursor: cursor.map(|c| serde_json::to_string(c).unwrap()),
        backfill: (Utc::now() - cutoff).to_std().unwrap(),
    }
}

/// A poll context with `cursor` stored as JSON whose backfill reaches back to 2026-11-20, where
/// the dated fixtures of the Meta and YouTube sources start, whatever today is.
pub(crate) fn ctx_from_fixtures<C: serde::Serialize>(cursor: Option<&C>) -> PollContext {
    use chrono::TimeZone;
    ctx_back_to(cursor, Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap())
}

/// The cursor a poll returned, read back as the source's cursor type.
pub(crate) fn cursor_of<C: serde::de::DeserializeOwned>(batch: &Batch) -> C {
    serde_json::from_str(batch.cursor.as_deref().expect("the poll returned a cursor")).unwrap()
}

/// A source config of `kind` ([`source_config`]'s defaults) polled every minute, with
/// `settings` as its own keys.
pub(crate) fn minutely_config(kind: &str, settings: serde_json::Value) -> SourceConfig {
    SourceConfig {
        interval: Duration::from_secs(60),
        ..source_config(&format!("{kind}-test"), kind, settings)
    }
}

/// [`minutely_config`] of a source the watch "Fjordlink" owns (the brand's own page or account,
/// as the Meta sources are).
pub(crate) fn owned_config(kind: &str, settings: serde_json::Value) -> SourceConfig {
    SourceConfig {
        watch: Some("Fjordlink".into()),
        ..minutely_config(kind, settings)
    }
}

/// A source of kind `S` built from `config`, whose secrets (if any) the settings name.
pub(crate) fn built<S: SourceKind>(config: &SourceConfig) -> S {
    let client = http::Client::new("webcare-test").unwrap();
    S::from_config(config, client).unwrap_or_else(|e| panic!("{e}"))
}

/// A `status` wiremock reply with the JSON of `fixtures/<platform>/<name>`.
pub(crate) fn fixture_reply(platform: &str, status: u16, name: &str) -> ResponseTemplate {
    json_status(status, &fixture(platform, name))
}

/// A source a unit test built, with the temporary file its secret is read from; the file is
/// deleted when this is dropped.
pub(crate) struct WithSecret<S> {
    /// The source under test.
    pub(crate) source: S,
    _secret: tempfile::NamedTempFile,
}

/// Builds a source of kind `S` from `config`, with `secret` written to a temporary file that
/// the settings key `<secret_key>_file` names.
pub(crate) fn with_secret<S: SourceKind>(
    mut config: SourceConfig,
    secret_key: &str,
    secret: &str,
) -> WithSecret<S> {
    let file = secret_file(secret);
    let file_path = file.path().to_str().unwrap().to_string();
    config
        .settings
        .insert(format!("{secret_key}_file"), file_path.into());
    WithSecret {
        source: built(&config),
        _secret: file,
    }
}

/// The keys that checking `config` as a source of its kind finds a problem with, in the order
/// found, each without the `sources[0].` every one of them must start with.
pub(crate) fn problem_keys(config: &SourceConfig) -> Vec<String> {
    let mut errors = ConfigErrors::default();
    super::validate(config, "sources[0]", &mut errors);
    errors
        .problems
        .into_iter()
        .map(|(key, _)| match key.strip_prefix("sources[0].") {
            Some(bare) => bare.to_string(),
            None => panic!("the problem key {key} does not name the source's path"),
        })
        .collect()
}

/// [`problem_keys`] of a source of `kind` with `settings` and the test defaults of
/// [`source_config`].
pub(crate) fn problem_keys_of(kind: &str, settings: serde_json::Value) -> Vec<String> {
    problem_keys(&source_config(&format!("{kind}-test"), kind, settings))
}

/// The external ids of a batch's mentions, in the order the source returned them.
pub(crate) fn ids(batch: &Batch) -> Vec<&str> {
    batch
        .mentions
        .iter()
        .map(|m| m.external_id.as_str())
        .collect()
}

/// Checks that a read cut short by `max_pages` goes on where it stopped: from a fresh start,
/// `src` brings `first` mentions and says there is more; the next poll brings the mentions
/// `rest` and ends the read; and the one after, the read being complete, finds nothing new.
/// Returns the cursor after the read.
pub(crate) async fn goes_on_where_it_stopped(
    src: &impl Source,
    first: usize,
    rest: &[&str],
) -> Option<String> {
    let one = src.poll(&ctx(None)).await.unwrap();
    assert_eq!(one.mentions.len(), first, "{:?}", ids(&one));
    assert!(one.more, "the first poll stopped at max_pages");
    let two = src.poll(&ctx(one.cursor.as_deref())).await.unwrap();
    assert_eq!(ids(&two), rest);
    assert!(!two.more, "the second poll finished the read");
    let three = src.poll(&ctx(two.cursor.as_deref())).await.unwrap();
    assert!(three.mentions.is_empty(), "{:?}", ids(&three));
    two.cursor
}

/// The secret every conformance source is given; it must never appear in an error.
const CONFORMANCE_SECRET: &str = "conformance-secret-4711";

/// Polls a fresh source of every registered kind, pointed at `base` and with its common keys
/// changed by `adjust`, once, and checks that the poll fails with an error `expected` accepts
/// (`what` names the failure in the message) and without the secret in it.
async fn every_kind_fails(
    base: &str,
    adjust: impl Fn(&mut SourceConfig),
    what: &str,
    expected: impl Fn(&SourceError) -> bool,
) {
    for kind in super::KINDS {
        let e = poll_error(kind, base, &adjust).await;
        assert!(expected(&e), "{}: {what} gave {e:?}", kind.name);
    }
}

/// Polls a fresh source of `kind`, pointed at `base` and with its common keys changed by
/// `adjust`, once and returns the error it must give; fails the test when the poll succeeds or
/// the error shows the secret.
async fn poll_error(kind: &Kind, base: &str, adjust: impl Fn(&mut SourceConfig)) -> SourceError {
    let file = secret_file(CONFORMANCE_SECRET);
    let settings = (kind.conformance_settings)(base, file.path().to_str().unwrap());
    let mut config = source_config(&format!("conformance-{}", kind.name), kind.name, settings);
    adjust(&mut config);
    let client = http::Client::new("webcare-conformance").unwrap();
    let source = build(&config, &client).unwrap_or_else(|e| panic!("{}: {e}", kind.name));
    let ctx = PollContext {
        cursor: None,
        backfill: Duration::from_secs(86400),
    };
    match source.poll(&ctx).await {
        Ok(batch) => panic!(
            "{}: the poll succeeded with {} mentions instead of failing",
            kind.name,
            batch.mentions.len()
        ),
        Err(e) => {
            assert!(
                !e.to_string().contains(CONFORMANCE_SECRET),
                "{}: the error shows the secret: {e}",
                kind.name
            );
            e
        }
    }
}

/// The conformance suite: every registered kind against each failure.
mod conformance {
    use std::time::Duration;

    use wiremock::ResponseTemplate;

    use super::{answering, every_kind_fails, truncating_server};
    use crate::sources::SourceError;

    /// A source's common keys as the test defaults have them.
    fn as_is(_: &mut crate::config::SourceConfig) {}

    #[tokio::test]
    async fn a_401_is_an_auth_error_or_names_the_status() {
        let server = answering(ResponseTemplate::new(401).set_body_raw(
            r#"{"error":"unauthorized","message":"Unauthorized"}"#,
            "application/json",
        ))
        .await;
        every_kind_fails(&server.uri(), as_is, "a 401", |e| {
            matches!(
                e,
                SourceError::Auth(_) | SourceError::Status { status: 401, .. }
            )
        })
        .await;
    }

    #[tokio::test]
    async fn a_429_waits_until_the_reset_headers_say() {
        let reset = chrono::Utc::now().timestamp() + 600;
        let server = answering(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-rate-limit-reset", reset.to_string().as_str())
                .set_body_raw(r#"{"error":"rate limited"}"#, "application/json"),
        )
        .await;
        every_kind_fails(&server.uri(), as_is, "a 429 with a reset in 600 s", |e| {
            let wait = e.retry_after().map(|d| d.as_secs());
            matches!(e, SourceError::RateLimited { .. })
                && wait.is_some_and(|w| (590..=601).contains(&w))
        })
        .await;
    }

    #[tokio::test]
    async fn a_5xx_is_a_status_error() {
        let server =
            answering(ResponseTemplate::new(503).set_body_string("upstream overloaded")).await;
        every_kind_fails(&server.uri(), as_is, "a 503", |e| {
            matches!(e, SourceError::Status { status: 503, .. })
        })
        .await;
    }

    #[tokio::test]
    async fn a_malformed_body_is_a_parse_error() {
        let server = answering(ResponseTemplate::new(200).set_body_raw(
            r#"{"data": [{"id": "1", "text": "fjordlink"#,
            "application/json",
        ))
        .await;
        // The message names the address that sent the body, so the operator knows which
        // endpoint of the platform broke.
        let base = server.uri();
        every_kind_fails(
            &base,
            as_is,
            "a malformed body",
            |e| matches!(e, SourceError::Parse { url, .. } if url.starts_with(&base)),
        )
        .await;
    }

    #[tokio::test]
    async fn a_body_over_the_sources_max_body_bytes_is_too_large() {
        let big = format!(r#"{{"data": [], "padding": "{}"}}"#, "x".repeat(4096));
        let server =
            answering(ResponseTemplate::new(200).set_body_raw(big, "application/json")).await;
        let small = |c: &mut crate::config::SourceConfig| c.max_body_bytes = 1000;
        every_kind_fails(&server.uri(), small, "a body of 4 KiB, 1000 allowed", |e| {
            matches!(e, SourceError::TooLarge { limit: 1000, .. })
        })
        .await;
    }

    #[tokio::test]
    async fn a_server_slower_than_the_sources_timeout_is_a_timeout() {
        let server = answering(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"data": []}"#, "application/json")
                .set_delay(Duration::from_secs(5)),
        )
        .await;
        let limit = Duration::from_millis(150);
        let quick = |c: &mut crate::config::SourceConfig| c.timeout = limit;
        every_kind_fails(
            &server.uri(),
            quick,
            "a reply after 5 s, 150 ms allowed",
            |e| matches!(e, SourceError::Timeout { after, .. } if *after == limit),
        )
        .await;
    }

    #[tokio::test]
    async fn a_body_cut_short_is_a_network_error() {
        let body = r#"{"data": [{"id": "1", "text": "fjordlink is down again"}], "meta": {}}"#;
        let base = truncating_server(&[], body, 20).await;
        every_kind_fails(&base, as_is, "a truncated body", |e| {
            matches!(e, SourceError::Network { .. } | SourceError::Timeout { .. })
        })
        .await;
    }
}
