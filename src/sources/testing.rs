//! Scaffolding the platform sources' unit tests share: a [`SourceConfig`] with test defaults,
//! fixture files, wiremock JSON replies, and a raw TCP server that cuts a body short.
//!
//! Compiled only for tests; each platform keeps its own fixtures, mocks and assertions.

use std::time::Duration;

use wiremock::ResponseTemplate;

use super::Batch;
use crate::config::SourceConfig;

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

/// The external ids of a batch's mentions, in the order the source returned them.
pub(crate) fn ids(batch: &Batch) -> Vec<&str> {
    batch
        .mentions
        .iter()
        .map(|m| m.external_id.as_str())
        .collect()
}
