//! The conformance suite every source kind must pass: the failures any platform can produce
//! (401, 429 with rate-limit reset headers, 5xx, a malformed body, a body cut short) must come
//! back as the right [`SourceError`], with no secret in the message and nothing half-read.
//!
//! [`setup_for`] knows how to point each kind at a local server; a kind added to
//! [`super::KINDS`] without an entry there fails `every_kind_has_a_conformance_setup`, and
//! then gets every check below for free.

use std::time::Duration;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::testing::{secret_file, source_config, truncating_server};
use super::{KINDS, PollContext, SourceError, build, http};

/// The secret every conformance source is given; it must never appear in an error.
const SECRET: &str = "conformance-secret-4711";

/// A source of `kind` reading from `base`, and the temporary file holding its secret.
pub(crate) fn setup_for(
    kind: &str,
    base: &str,
) -> Option<(serde_json::Value, tempfile::NamedTempFile)> {
    let file = secret_file(SECRET);
    let f = file.path().to_str()?.to_string();
    let settings = match kind {
        "rss" => serde_json::json!({ "url": format!("{base}/feed.xml") }),
        "hackernews" => serde_json::json!({ "query": "fjordlink", "base_url": base }),
        "mastodon" => serde_json::json!({
            "base_url": base, "hashtags": ["fjordlink"], "query": "fjordlink", "token_file": f
        }),
        "bluesky" => serde_json::json!({
            "query": "fjordlink", "base_url": base,
            "identifier": "webcare.fjordlink.nl", "password_file": f
        }),
        "x" => {
            serde_json::json!({ "query": "fjordlink", "base_url": base, "bearer_token_file": f })
        }
        "youtube" => serde_json::json!({
            "query": "fjordlink", "base_url": base, "api_key_file": f
        }),
        "facebook_page" => serde_json::json!({
            "page_id": "104857600000001", "base_url": base, "page_token_file": f
        }),
        "instagram" => serde_json::json!({
            "ig_user_id": "17841400000000001", "base_url": base, "access_token_file": f
        }),
        "reddit" => serde_json::json!({
            "query": "fjordlink", "client_id": "conformance-client", "client_secret_file": f,
            "base_url": base, "auth_url": base
        }),
        "app_store" => {
            serde_json::json!({ "app_id": "1488000111", "countries": ["nl"], "base_url": base })
        }
        "trustpilot" => serde_json::json!({
            "business_unit_id": "5f3a1c2b9d8e7f6a5b4c3d2e", "base_url": base, "api_key_file": f
        }),
        "google_play" => serde_json::json!({
            "package_name": "nl.fjordlink.mijn", "base_url": base,
            "token_url": format!("{base}/token"), "service_account_file": google_key_file()
        }),
        "google_business" => serde_json::json!({
            "account_id": "109876543210987654321", "location_ids": ["4567890123456789012"],
            "base_url": base, "token_url": format!("{base}/token"),
            "client_id": "123456789012-webcare.apps.googleusercontent.com",
            "client_secret_file": f, "refresh_token_file": f
        }),
        "threads" => serde_json::json!({
            "query": "fjordlink", "base_url": base, "access_token_file": f
        }),
        _ => return None,
    };
    Some((settings, file))
}

/// The test-only service account key the Google sources sign in with; the token endpoint is
/// the conformance server too, so every failure reaches the sign-in first.
fn google_key_file() -> String {
    format!(
        "{}/fixtures/google/test-service-account.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Polls a fresh source of `kind` against `base` once and returns the error it must give.
async fn poll_error(kind: &str, base: &str) -> SourceError {
    let (settings, _file) =
        setup_for(kind, base).unwrap_or_else(|| panic!("no conformance setup for {kind}"));
    let config = source_config(&format!("conformance-{kind}"), kind, settings);
    let client = http::Client::new("webcare-conformance").unwrap();
    let source = build(&config, &client).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let ctx = PollContext {
        cursor: None,
        backfill: Duration::from_secs(86400),
    };
    match source.poll(&ctx).await {
        Ok(batch) => panic!(
            "{kind}: the poll succeeded with {} mentions instead of failing",
            batch.mentions.len()
        ),
        Err(e) => {
            assert!(
                !e.to_string().contains(SECRET),
                "{kind}: the error shows the secret: {e}"
            );
            e
        }
    }
}

/// A server answering every request with `reply`.
async fn answering(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(reply).mount(&server).await;
    server
}

#[tokio::test]
async fn every_kind_has_a_conformance_setup() {
    for kind in KINDS {
        assert!(
            setup_for(kind, "http://127.0.0.1:9").is_some(),
            "source kind {kind} has no entry in conformance::setup_for"
        );
    }
}

#[tokio::test]
async fn a_401_is_an_auth_error_or_names_the_status() {
    let server = answering(ResponseTemplate::new(401).set_body_raw(
        r#"{"error":"unauthorized","message":"Unauthorized"}"#,
        "application/json",
    ))
    .await;
    for kind in KINDS {
        let e = poll_error(kind, &server.uri()).await;
        assert!(
            matches!(
                e,
                SourceError::Auth(_) | SourceError::Status { status: 401, .. }
            ),
            "{kind}: a 401 gave {e:?}"
        );
    }
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
    for kind in KINDS {
        let e = poll_error(kind, &server.uri()).await;
        let wait = e.retry_after().map(|d| d.as_secs());
        assert!(
            matches!(e, SourceError::RateLimited { .. })
                && wait.is_some_and(|w| (590..=601).contains(&w)),
            "{kind}: a 429 with a reset in 600 s gave {e:?}"
        );
    }
}

#[tokio::test]
async fn a_5xx_is_a_status_error() {
    let server = answering(ResponseTemplate::new(503).set_body_string("upstream overloaded")).await;
    for kind in KINDS {
        let e = poll_error(kind, &server.uri()).await;
        assert!(
            matches!(e, SourceError::Status { status: 503, .. }),
            "{kind}: a 503 gave {e:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_body_is_a_parse_error() {
    let server = answering(ResponseTemplate::new(200).set_body_raw(
        r#"{"data": [{"id": "1", "text": "fjordlink"#,
        "application/json",
    ))
    .await;
    for kind in KINDS {
        let e = poll_error(kind, &server.uri()).await;
        assert!(
            matches!(e, SourceError::Parse { .. }),
            "{kind}: a malformed body gave {e:?}"
        );
    }
}

#[tokio::test]
async fn a_body_cut_short_is_a_network_error() {
    let body = r#"{"data": [{"id": "1", "text": "fjordlink is down again"}], "meta": {}}"#;
    let base = truncating_server(&[], body, 20).await;
    for kind in KINDS {
        let e = poll_error(kind, &base).await;
        assert!(
            matches!(e, SourceError::Network { .. } | SourceError::Timeout { .. }),
            "{kind}: a truncated body gave {e:?}"
        );
    }
}
