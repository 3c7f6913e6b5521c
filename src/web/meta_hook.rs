//! Meta's `mentions` webhook for Instagram, on the web listener at `/hooks/instagram`.
//!
//! Instagram tells an app about captions and comments that @mention a professional account
//! only by webhook, with the ids needed to read them. `GET` answers Meta's subscription check
//! (`hub.mode=subscribe`, the configured verify token, echo `hub.challenge`); `POST` takes a
//! delivery whose `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under one of the
//! configured app secrets (checked in constant time; anything else is refused with 403), and
//! keeps each announced id in the database for the next poll of its source. Nothing is fetched
//! here: the answer must come fast, and the source owns the token and the rate limits.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::{constant_time, hmac};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::config::load::Config;
use crate::sources::instagram::{WebhookKeys, webhook_keys};
use crate::store;

/// Where Meta delivers the Instagram webhook.
pub const PATH: &str = "/hooks/instagram";

/// The `instagram` sources that receive the webhook, and the database the deliveries go to.
struct HookState {
    db: PathBuf,
    accounts: Vec<WebhookKeys>,
}

/// The webhook's routes, when some `instagram` source configures its keys; otherwise none
/// (the path is then an ordinary 404).
pub fn router(config: &Config) -> axum::Router {
    let accounts: Vec<WebhookKeys> = config
        .sources
        .iter()
        .filter(|s| s.enabled && s.kind == "instagram")
        .filter_map(webhook_keys)
        .collect();
    if accounts.is_empty() {
        return axum::Router::new();
    }
    let state = Arc::new(HookState {
        db: config.store.path.clone(),
        accounts,
    });
    axum::Router::new()
        .route(PATH, get(verify).post(receive))
        .with_state(state)
}

/// The query of Meta's subscription check.
#[derive(Deserialize)]
struct Verification {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Answers Meta's subscription check with its challenge when the verify token is one of ours.
async fn verify(State(state): State<Arc<HookState>>, Query(q): Query<Verification>) -> Response {
    let token = q.verify_token.unwrap_or_default();
    let known = state.accounts.iter().any(|a| {
        constant_time::verify_slices_are_equal(a.verify_token.expose().as_bytes(), token.as_bytes())
            .is_ok()
    });
    if q.mode.as_deref() != Some("subscribe") || !known {
        tracing::warn!(
            "instagram webhook: a subscription check with a wrong mode or verify token was refused"
        );
        return plain(StatusCode::FORBIDDEN, "forbidden".into());
    }
    // Meta sends a number; anything else is not echoed back.
    match q.challenge {
        Some(c)
            if !c.is_empty()
                && c.len() <= 128
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            tracing::info!("instagram webhook: subscription verified");
            plain(StatusCode::OK, c)
        }
        _ => plain(StatusCode::BAD_REQUEST, "hub.challenge missing".into()),
    }
}

/// One webhook delivery: `{"object": "instagram", "entry": [{"id", "time", "changes"}]}`.
#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    /// The professional account the changes concern.
    id: serde_json::Value,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// Checks the signature, then keeps every `mentions` change for the source of its account.
async fn receive(State(state): State<Arc<HookState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(decode_hex)
    else {
        tracing::warn!("instagram webhook: a delivery without an X-Hub-Signature-256 was refused");
        return plain(StatusCode::FORBIDDEN, "signature missing".into());
    };
    let signed: Vec<&WebhookKeys> = state
        .accounts
        .iter()
        .filter(|a| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, a.app_secret.expose().as_bytes());
            hmac::verify(&key, &body, &signature).is_ok()
        })
        .collect();
    if signed.is_empty() {
        tracing::warn!(
            "instagram webhook: a delivery whose signature matches no configured app secret was refused"
        );
        return plain(StatusCode::FORBIDDEN, "bad signature".into());
    }
    let delivery: Delivery = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "instagram webhook: a signed delivery is not the JSON Meta documents; ignored");
            return plain(StatusCode::BAD_REQUEST, "not a webhook delivery".into());
        }
    };
    let items = announcements(&delivery, &signed);
    if items.is_empty() {
        return plain(StatusCode::OK, "ok".into());
    }
    let db = state.db.clone();
    let now = chrono::Utc::now().timestamp();
    let count = items.len();
    let stored = tokio::task::spawn_blocking(move || store::open(&db)?.announce(&items, now)).await;
    match stored {
        Ok(Ok(added)) => {
            tracing::info!(
                announced = count,
                new = added,
                "instagram webhook: @mentions announced"
            );
            plain(StatusCode::OK, "ok".into())
        }
        // Meta retries a delivery that was not answered with 200, so nothing is lost.
        Ok(Err(e)) => {
            tracing::error!(error = %e, "instagram webhook: cannot keep the announced @mentions; Meta will deliver again");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "try again".into())
        }
        Err(e) => {
            tracing::error!(error = %e, "instagram webhook: the worker stopped; Meta will deliver again");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "try again".into())
        }
    }
}

/// `(source, media_id, comment_id)` of every `mentions` change in `delivery` for an account
/// whose app secret signed it.
fn announcements(
    delivery: &Delivery,
    signed: &[&WebhookKeys],
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for entry in &delivery.entry {
        let account = id_text(&entry.id).unwrap_or_default();
        let sources: Vec<&&WebhookKeys> =
            signed.iter().filter(|a| a.ig_user_id == account).collect();
        if sources.is_empty() {
            tracing::warn!(account = %account, "instagram webhook: a delivery for an account no instagram source reads; ignored");
            continue;
        }
        for change in entry.changes.iter().filter(|c| c.field == "mentions") {
            let Some(media) = change.value.get("media_id").and_then(id_text) else {
                tracing::warn!(account = %account, "instagram webhook: a mentions change without media_id; ignored");
                continue;
            };
            let comment = change.value.get("comment_id").and_then(id_text);
            for s in &sources {
                out.push((s.source.clone(), media.clone(), comment.clone()));
            }
        }
    }
    out
}

/// A Graph id, which Meta sends as a string of digits (or, in older payloads, a number).
fn id_text(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_digit()))
        .then_some(text)
}

/// The bytes of a lower- or upper-case hex string.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn plain(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(source: &str, account: &str) -> WebhookKeys {
        WebhookKeys {
            source: source.into(),
            ig_user_id: account.into(),
            app_secret: crate::secret::Secret::new("s3cret".into()),
            verify_token: crate::secret::Secret::new("tok".into()),
        }
    }

    #[test]
    fn mentions_changes_go_to_the_source_of_their_account_only() {
        let body = r#"{"object":"instagram","entry":[
            {"id":"17841405726653026","time":1520622968,"changes":[
                {"field":"mentions","value":{"comment_id":"17894227972186120","media_id":"17918195224117851"}},
                {"field":"mentions","value":{"media_id":17918195224117852}},
                {"field":"comments","value":{"id":"1","text":"not a mention"}},
                {"field":"mentions","value":{"media_id":"../../etc"}}]},
            {"id":"99","changes":[{"field":"mentions","value":{"media_id":"1"}}]}]}"#;
        let d: Delivery = serde_json::from_str(body).unwrap();
        let ig = keys("ig", "17841405726653026");
        let other = keys("other", "1");
        assert_eq!(
            announcements(&d, &[&ig, &other]),
            [
                (
                    "ig".to_string(),
                    "17918195224117851".to_string(),
                    Some("17894227972186120".to_string())
                ),
                ("ig".to_string(), "17918195224117852".to_string(), None),
            ]
        );
    }

    #[test]
    fn hex_signatures_decode_and_junk_does_not() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0, 255, 0x7a]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é1"), None);
    }
}
