//! The webhook channel: a team's optional `webhook = { url, format, secret_env }`, the request
//! bodies for generic JSON, Slack and Microsoft Teams incoming webhooks (mention text escaped for
//! each), and the POST itself. Webhook alerts go through the same outbox as emails: rendered at
//! routing time, retried on 408, 429, 5xx and timeouts, dead-lettered on any other 4xx.
//!
//! A Slack or Teams webhook URL is itself a credential, so it is never stored, logged or put in
//! an error: only its host is.

use std::time::Duration;

use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{Value, json};

use super::card::stars;
use super::mail::{AlertView, SendError, header_safe, is_loopback, safe_link};
use crate::config::{ConfigErrors, DurationValue};
use crate::secret::{Secret, SecretRef};
use crate::text::cut;

/// Which message shape the receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// webcare's own JSON object (for scripts, ticketing systems, chat bridges).
    #[default]
    Json,
    /// Slack incoming webhook: `text` plus Block Kit `blocks`.
    Slack,
    /// Microsoft Teams (Workflows) incoming webhook: a message with an Adaptive Card.
    Teams,
}

/// `webhook = { ... }` in a `[[teams]]` entry, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST; `https://`, or `http://` to this machine only.
    pub url: String,
    /// `json` (default), `slack` or `teams`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Environment variable with a secret: the body is signed with HMAC-SHA256 and the signature
    /// sent as `X-Webcare-Signature: sha256=HEX`.
    pub secret_env: Option<String>,
    /// File with that secret (relative: in `$CREDENTIALS_DIRECTORY`).
    pub secret_file: Option<String>,
    /// Longest one POST may take.
    #[serde(default = "default_timeout")]
    pub timeout: DurationValue,
}

fn default_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(10))
}

/// A validated webhook.
#[derive(Clone)]
pub struct Webhook {
    /// The URL (a credential for Slack and Teams: never log it).
    url: url::Url,
    /// Message shape.
    pub format: WebhookFormat,
    secret: Option<Secret>,
    /// Per-POST limit.
    pub timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &self.host())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The URL's host, the only part of it that may be shown.
    pub fn host(&self) -> String {
        self.url.host_str().unwrap_or("?").to_string()
    }
}

impl WebhookConfig {
    /// Checks the URL and reads the secret, recording problems under `path` (`teams[0].webhook`).
    /// The URL is never repeated in a message, since it may carry a token.
    pub fn validate(&self, path: &str, errors: &mut ConfigErrors) -> Option<Webhook> {
        let secret = SecretRef::new("secret", self.secret_env.clone(), self.secret_file.clone())
            .resolve(path, false, errors);
        if self.timeout.0 < Duration::from_secs(1) {
            errors.push(format!("{path}.timeout"), "must be at least 1s");
        }
        let url = match url::Url::parse(self.url.trim()) {
            Ok(u) => u,
            Err(e) => {
                errors.push(
                    format!("{path}.url"),
                    format!("not a URL ({e}); use the full https://… address the chat app gave"),
                );
                return None;
            }
        };
        let host = url.host_str().unwrap_or_default().to_string();
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                errors.push(
                    format!("{path}.url"),
                    format!(
                        "http:// sends alerts in clear text; only allowed for this machine, not {host}. Use https://"
                    ),
                );
                return None;
            }
            other => {
                errors.push(
                    format!("{path}.url"),
                    format!("scheme {other}: is not supported; use https://"),
                );
                return None;
            }
        }
        Some(Webhook {
            url,
            format: self.format,
            secret,
            timeout: self.timeout.0,
        })
    }
}

/// Escapes text for Slack mrkdwn: `&`, `<` and `>` are the characters Slack asks to escape,
/// so mention text cannot make links, mentions (`<!channel>`) or formatting tags.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for an Adaptive Card TextBlock, which reads a subset of Markdown: markup
/// characters are backslash-escaped so mention text shows as written.
pub fn teams_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '`'
                | '>'
                | '<'
                | '~'
                | '|'
                | '-'
                | '+'
                | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const MAX_TEXT: usize = 1500;

fn author(a: &AlertView) -> String {
    match (&a.mention.author_name, &a.mention.author_handle) {
        (Some(n), Some(h)) if n != h => format!("{n} (@{h})"),
        (_, Some(h)) => format!("@{h}"),
        (Some(n), None) => n.clone(),
        (None, None) => "unknown author".into(),
    }
}

fn headline(a: &AlertView) -> String {
    let copies = if a.duplicates.is_empty() {
        String::new()
    } else {
        format!("{}x ", a.duplicates.len() + 1)
    };
    format!(
        "{}{copies}{} on {}",
        if a.urgent { "URGENT " } else { "" },
        a.label,
        header_safe(&a.source, 40)
    )
}

/// A link for Slack's `<url|label>` syntax: only web links, with the characters that would end
/// the link percent-encoded.
fn slack_link(url: Option<&str>) -> Option<String> {
    safe_link(url).map(|u| {
        u.replace('|', "%7C")
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace(' ', "%20")
    })
}

/// The warning shown first when the author asked not to be contacted.
const DO_NOT_CONTACT: &str = "DO NOT CONTACT: this author asked not to be contacted by the brand.";

/// The request body for `format`, rendered once at routing time and stored in the outbox, so
/// every retry posts the same bytes.
pub fn render_payload(format: WebhookFormat, a: &AlertView, message_id: &str) -> String {
    let text = cut(a.mention.text.trim(), MAX_TEXT);
    let v = match format {
        WebhookFormat::Json => json_payload(a, &text, message_id),
        WebhookFormat::Slack => slack_payload(a, &text),
        WebhookFormat::Teams => teams_payload(a, &text),
    };
    v.to_string()
}

/// webcare's own JSON: every field of the alert, for a receiver that does its own layout.
fn json_payload(a: &AlertView, text: &str, message_id: &str) -> Value {
    let m = &a.mention;
    let duplicates: Vec<Value> = a
        .duplicates
        .iter()
        .map(|d| {
            json!({
                "mention_id": d.mention_id, "source": d.source, "author": d.author,
                "url": d.url, "do_not_contact": d.do_not_contact,
            })
        })
        .collect();
    json!({
        "type": "webcare.alert",
        "id": message_id,
        "mention_id": a.mention_id,
        "team": a.team,
        "rule": a.rule,
        "rule_why": a.rule_why,
        "label": a.label,
        "urgent": a.urgent,
        "sentiment": a.sentiment,
        "source": a.source,
        "url": m.url,
        "author_handle": m.author_handle,
        "author_name": m.author_name,
        "reach": m.author_reach,
        "lang": a.lang,
        "title": m.title,
        "text": text,
        "created_at": m.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "rating": m.rating,
        "watches": a.watches,
        "reasons": a.reasons,
        "do_not_contact": a.do_not_contact,
        "copies": a.duplicates.len() + 1,
        "duplicates": duplicates,
    })
}

/// A Slack incoming-webhook message: Block Kit sections in mrkdwn, each within Slack's limit,
/// and a plain fallback for notifications.
fn slack_payload(a: &AlertView, text: &str) -> Value {
    let mut main = String::new();
    if a.do_not_contact {
        main.push_str(&format!(":no_entry: *{DO_NOT_CONTACT}*\n"));
    }
    main.push_str(&format!("*{}*\n", slack_escape(&headline(a))));
    for line in text.lines() {
        main.push_str(&format!("> {}\n", slack_escape(line)));
    }
    let mut facts = format!(
        "{} · {}",
        slack_escape(&author(a)),
        a.mention
            .author_reach
            .map(|r| format!("{r} followers"))
            .unwrap_or_else(|| "reach unknown".into())
    );
    if let Some(stars) = a.mention.rating.and_then(stars) {
        facts.push_str(&format!(" · {stars}"));
    }
    if let Some(u) = slack_link(a.mention.url.as_deref()) {
        facts.push_str(&format!(" · <{u}|answer>"));
    }
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&main, 2900)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&facts, 2900)}}),
    ];
    if let Some(d) = slack_copies(a) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&d, 2900)}}));
    }
    let mut why: Vec<String> = a.reasons.iter().map(|r| slack_escape(r)).collect();
    why.push(format!(
        "rule “{}”, team {}",
        slack_escape(&a.rule),
        slack_escape(&a.team)
    ));
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": cut(&why.join(" · "), 2900)}
    ]}));
    let fallback = format!(
        "{}{}: {}",
        if a.do_not_contact {
            "DO NOT CONTACT · "
        } else {
            ""
        },
        headline(a),
        header_safe(text, 150)
    );
    json!({"text": slack_escape(&fallback), "blocks": blocks})
}

/// The copies of a reposted text, one Slack line each, or `None` when there are none.
fn slack_copies(a: &AlertView) -> Option<String> {
    if a.duplicates.is_empty() {
        return None;
    }
    let mut d = format!(
        "Posted {} times (repost, cross-post or campaign):\n",
        a.duplicates.len() + 1
    );
    for x in &a.duplicates {
        let who = slack_escape(
            &x.author
                .as_deref()
                .map(|h| format!("@{h}"))
                .unwrap_or("unknown author".into()),
        );
        match slack_link(x.url.as_deref()) {
            Some(u) => d.push_str(&format!("• <{u}|{who}>\n")),
            None => d.push_str(&format!("• {who}\n")),
        }
    }
    Some(d)
}

/// A Microsoft Teams message carrying an Adaptive Card.
fn teams_payload(a: &AlertView, text: &str) -> Value {
    let mut body = Vec::new();
    if a.do_not_contact {
        body.push(
            json!({"type": "TextBlock", "text": DO_NOT_CONTACT, "weight": "Bolder",
            "color": "Attention", "wrap": true}),
        );
    }
    body.push(
        json!({"type": "TextBlock", "text": teams_escape(&headline(a)),
        "weight": "Bolder", "size": "Medium", "wrap": true}),
    );
    body.push(json!({"type": "TextBlock", "text": teams_escape(text), "wrap": true}));
    let mut facts = vec![
        json!({"title": "Author", "value": teams_escape(&author(a))}),
        json!({"title": "Reach", "value": a.mention.author_reach.map(|r| r.to_string()).unwrap_or("unknown".into())}),
        json!({"title": "Rule", "value": teams_escape(&format!("{} (team {})", a.rule, a.team))}),
    ];
    if let Some(stars) = a.mention.rating.and_then(stars) {
        facts.insert(1, json!({"title": "Rating", "value": stars}));
    }
    if !a.reasons.is_empty() {
        facts.push(json!({"title": "Why", "value": teams_escape(&a.reasons.join("; "))}));
    }
    if !a.duplicates.is_empty() {
        facts.push(json!({"title": "Copies", "value": (a.duplicates.len() + 1).to_string()}));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    let mut actions = Vec::new();
    if let Some(u) = safe_link(a.mention.url.as_deref()) {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Answer", "url": u}));
    }
    for (i, d) in a.duplicates.iter().enumerate().take(5) {
        if let Some(u) = safe_link(d.url.as_deref()) {
            actions.push(
                json!({"type": "Action.OpenUrl", "title": format!("Copy {}", i + 2), "url": u}),
            );
        }
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// HMAC-SHA256 of `body` under `secret`, as lower-case hex.
fn sign(secret: &Secret, body: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hmac::sign(&key, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Posts webhook bodies. Follows redirects only within the same host, so a compromised or
/// misconfigured receiver cannot bounce alerts elsewhere.
pub struct WebhookClient {
    inner: reqwest::Client,
}

impl WebhookClient {
    /// A client sending `user_agent`.
    pub fn new(user_agent: &str) -> Result<WebhookClient, SendError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt
                .previous()
                .first()
                .is_some_and(|first| first.host_str() == attempt.url().host_str());
            if same_host && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(Duration::from_secs(10))
            .redirect(policy)
            .build()
            .map_err(|e| SendError::Permanent(format!("cannot set up the webhook client: {e}")))?;
        Ok(WebhookClient { inner })
    }

    /// Posts `body` to `hook`. 2xx is success; 408, 429, 5xx, network errors and timeouts are
    /// worth retrying; any other status is permanent. Errors name the host, never the URL.
    pub async fn post(
        &self,
        hook: &Webhook,
        body: &str,
        message_id: &str,
    ) -> Result<String, SendError> {
        let host = hook.host();
        let mut req = self
            .inner
            .post(hook.url.clone())
            .header("content-type", "application/json")
            .header("x-webcare-id", message_id)
            .body(body.to_string());
        if let Some(secret) = &hook.secret {
            req = req.header(
                "x-webcare-signature",
                format!("sha256={}", sign(secret, body)),
            );
        }
        let attempt = async {
            let resp = req.send().await.map_err(|e| {
                // reqwest's message includes the URL; keep only what kind of failure it was.
                let what = if e.is_connect() {
                    "cannot connect"
                } else if e.is_timeout() {
                    "timed out"
                } else {
                    "request failed"
                };
                SendError::Transient(format!("webhook {host}: {what}"))
            })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let answer = header_safe(&text, 200);
            match status {
                200..=299 => Ok(format!("HTTP {status} {answer}").trim().to_string()),
                408 | 429 | 500..=599 => Err(SendError::Transient(format!(
                    "webhook {host}: HTTP {status} {answer}"
                ))),
                300..=399 => Err(SendError::Permanent(format!(
                    "webhook {host}: HTTP {status}, a redirect to another host; put the final address in the config"
                ))),
                _ => Err(SendError::Permanent(format!(
                    "webhook {host}: HTTP {status} {answer}"
                ))),
            }
        };
        match tokio::time::timeout(hook.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Transient(format!(
                "webhook {host}: no answer within {} (it may or may not have arrived)",
                humantime::format_duration(hook.timeout)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Mention;

    fn view(text: &str) -> AlertView {
        AlertView {
            mention_id: 3,
            source: "forum".into(),
            mention: Mention {
                url: Some("https://forum.example/t/1?a=1|2".into()),
                author_handle: Some("klant".into()),
                text: text.into(),
                ..Default::default()
            },
            label: "complaint".into(),
            rule: "default".into(),
            team: "webcare".into(),
            ..Default::default()
        }
    }

    #[test]
    fn slack_text_cannot_ping_the_channel_or_forge_links() {
        let body = render_payload(
            WebhookFormat::Slack,
            &view("<!channel> look <https://evil.example|here> & *bold*"),
            "<id@x>",
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let all = v.to_string();
        assert!(!all.contains("<!channel>"), "{all}");
        assert!(!all.contains("<https://evil"), "{all}");
        assert!(all.contains("&lt;!channel&gt;"), "{all}");
        assert!(
            all.contains("<https://forum.example/t/1?a=1%7C2|answer>"),
            "{all}"
        );
        assert!(v["text"].is_string() && v["blocks"].is_array());
    }

    #[test]
    fn teams_gets_an_adaptive_card_with_markdown_escaped() {
        let body = render_payload(
            WebhookFormat::Teams,
            &view("[click](https://evil.example) **now**"),
            "<id@x>",
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let card = &v["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        let text = card["body"][1]["text"].as_str().unwrap();
        assert!(
            text.starts_with("\\[click\\]\\(https://evil.example\\)"),
            "{text}"
        );
        assert_eq!(card["actions"][0]["url"], "https://forum.example/t/1?a=1|2");
    }

    #[test]
    fn a_review_carries_its_stars_in_every_format() {
        let mut review = view("Inloggen lukt niet meer");
        review.mention.rating = Some(2);
        let json: Value =
            serde_json::from_str(&render_payload(WebhookFormat::Json, &review, "<id@x>")).unwrap();
        assert_eq!(json["rating"], 2);
        let post: Value =
            serde_json::from_str(&render_payload(WebhookFormat::Json, &view("x"), "<id@x>"))
                .unwrap();
        assert_eq!(post["rating"], Value::Null);
        let slack = render_payload(WebhookFormat::Slack, &review, "<id@x>");
        assert!(slack.contains("★★☆☆☆ 2 of 5 stars"), "{slack}");
        let teams: Value =
            serde_json::from_str(&render_payload(WebhookFormat::Teams, &review, "<id@x>")).unwrap();
        let facts = &teams["attachments"][0]["content"]["body"][2]["facts"];
        assert_eq!(facts[1]["title"], "Rating", "{facts}");
        assert_eq!(facts[1]["value"], "★★☆☆☆ 2 of 5 stars");
    }

    #[test]
    fn plain_http_is_refused_for_remote_hosts_and_the_url_is_not_echoed() {
        let cfg = WebhookConfig {
            url: "http://hooks.example.com/T000/SECRET".into(),
            format: WebhookFormat::Slack,
            secret_env: None,
            secret_file: None,
            timeout: default_timeout(),
        };
        let mut errors = ConfigErrors::default();
        assert!(cfg.validate("teams[0].webhook", &mut errors).is_none());
        let text = errors.to_string();
        assert!(text.contains("teams[0].webhook.url"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "Jefe").unwrap();
        let mut errors = ConfigErrors::default();
        let file = file.to_str().map(String::from);
        let s = SecretRef::new("secret", None, file)
            .resolve("t", true, &mut errors)
            .unwrap();
        assert_eq!(
            sign(&s, "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
