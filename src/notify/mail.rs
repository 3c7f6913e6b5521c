//! Mail: the `[mail]` settings, rendering an alert (and a batch of them, and the hourly cap
//! summary) as multipart text + HTML, and the lettre transport (SMTP with STARTTLS, implicit TLS or plain on localhost; or a folder of `.eml`
//! files). Mention text is hostile input: it is HTML-escaped in the body and stripped of control
//! characters before it goes near a header.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use crate::config::{ConfigErrors, DurationValue, Secret, resolve_secret};

/// How mail leaves the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// An SMTP server.
    #[default]
    Smtp,
    /// `.eml` files in a folder (demo, dry runs).
    File,
}

/// Transport security for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a server on this machine.
    None,
}

/// `[mail]` as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Sender, e.g. `"webcare <webcare@example.com>"`.
    pub from: String,
    /// `smtp` (default) or `file`.
    #[serde(default)]
    pub transport: TransportKind,
    /// SMTP server host name.
    #[serde(default)]
    pub host: Option<String>,
    /// SMTP port; 587 for STARTTLS, 465 for implicit TLS, 25 without TLS.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `implicit` or `none` (localhost only).
    #[serde(default)]
    pub tls: TlsMode,
    /// Extra PEM certificate to trust (a private CA or a self-signed server).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// SMTP user name; needs a password.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the SMTP password (relative: in `$CREDENTIALS_DIRECTORY`).
    #[serde(default)]
    pub password_file: Option<String>,
    /// Folder for `transport = "file"`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Longest one delivery attempt may take, dialogue included.
    #[serde(default = "default_send_timeout")]
    pub timeout: DurationValue,
    /// Keep retrying a temporarily failing alert this long, then give up (dead letter).
    #[serde(default = "default_retry_for")]
    pub retry_for: DurationValue,
    /// Non-urgent alerts for one recipient within this long go out in one email ("0s": each
    /// alone).
    #[serde(default = "default_batch_window")]
    pub batch_window: DurationValue,
    /// A mention that repeats an alerted one within this long is folded into its alert.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window: DurationValue,
}

fn default_send_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(30))
}
fn default_retry_for() -> DurationValue {
    DurationValue(Duration::from_secs(24 * 3600))
}
fn default_batch_window() -> DurationValue {
    DurationValue(Duration::from_secs(60))
}
fn default_duplicate_window() -> DurationValue {
    DurationValue(Duration::from_secs(3600))
}

/// Where a validated `[mail]` sends.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// An SMTP server.
    Smtp {
        host: String,
        port: u16,
        tls: TlsMode,
        ca_pem: Option<Vec<u8>>,
        credentials: Option<(String, Secret)>,
    },
    /// A folder of `.eml` files.
    File { dir: PathBuf },
}

/// `[mail]`, validated.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The sender.
    pub from: Mailbox,
    /// Where mail goes.
    pub delivery: Delivery,
    /// Per-attempt limit.
    pub timeout: Duration,
    /// How long to keep retrying.
    pub retry_for: Duration,
    /// How long non-urgent alerts for one recipient are gathered into one email.
    pub batch_window: Duration,
    /// How far back a repeated text counts as a duplicate.
    pub duplicate_window: Duration,
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl MailConfig {
    /// Checks the settings and reads the password, recording problems under `mail.*`.
    pub fn validate(&self, errors: &mut ConfigErrors) -> Option<Mail> {
        let from = match self.from.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(_) => {
                errors.push(
                    "mail.from",
                    format!(
                        "\"{}\" is not an address; use e.g. \"webcare <webcare@example.com>\"",
                        self.from
                    ),
                );
                None
            }
        };
        if self.timeout.0 < Duration::from_secs(1) {
            errors.push("mail.timeout", "must be at least 1s");
        }
        if self.batch_window.0 > Duration::from_secs(3600) {
            errors.push(
                "mail.batch_window",
                "at most \"1h\"; alerts are meant to arrive while they are news",
            );
        }
        let delivery = match self.transport {
            TransportKind::File => match &self.dir {
                Some(dir) => Some(Delivery::File { dir: dir.clone() }),
                None => {
                    errors.push(
                        "mail.dir",
                        "transport = \"file\" needs dir = \"FOLDER\" for the .eml files",
                    );
                    None
                }
            },
            TransportKind::Smtp => {
                let host = self.host.clone().unwrap_or_default();
                if host.trim().is_empty() {
                    errors.push(
                        "mail.host",
                        "transport = \"smtp\" needs host = \"smtp.example.com\"",
                    );
                }
                if self.tls == TlsMode::None && !host.is_empty() && !is_loopback(&host) {
                    errors.push(
                        "mail.tls",
                        format!(
                            "tls = \"none\" sends mail and password in clear text; it is only allowed for localhost, not \"{host}\". Use \"starttls\" or \"implicit\""
                        ),
                    );
                }
                let ca_pem = self.ca_file.as_ref().and_then(|p| match std::fs::read(p) {
                    Ok(pem) if Certificate::from_pem(&pem).is_ok() => Some(pem),
                    Ok(_) => {
                        errors.push(
                            "mail.ca_file",
                            format!("{} is not a PEM certificate", p.display()),
                        );
                        None
                    }
                    Err(e) => {
                        errors.push("mail.ca_file", format!("cannot read {}: {e}", p.display()));
                        None
                    }
                });
                let password = resolve_secret(
                    "mail",
                    "password",
                    self.password_env.as_deref(),
                    self.password_file.as_deref(),
                    self.username.is_some(),
                    errors,
                );
                if self.username.is_none() && password.is_some() {
                    errors.push(
                        "mail.username",
                        "a password is set but no username; set username = \"...\"",
                    );
                }
                let port = self.port.unwrap_or(match self.tls {
                    TlsMode::Starttls => 587,
                    TlsMode::Implicit => 465,
                    TlsMode::None => 25,
                });
                Some(Delivery::Smtp {
                    host,
                    port,
                    tls: self.tls,
                    ca_pem,
                    credentials: self.username.clone().zip(password),
                })
            }
        };
        Some(Mail {
            from: from?,
            delivery: delivery?,
            timeout: self.timeout.0,
            retry_for: self.retry_for.0,
            batch_window: self.batch_window.0,
            duplicate_window: self.duplicate_window.0,
        })
    }
}

/// The parts of an alert email, rendered once and stored in the outbox so every retry sends the
/// same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Header-safe subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body; everything from the mention in it is escaped.
    pub html: String,
}

/// Everything an alert shows about one mention.
#[derive(Debug, Clone, Default)]
pub struct AlertView {
    /// Mention id in the database.
    pub mention_id: i64,
    /// Source name.
    pub source: String,
    /// Link to read and answer it.
    pub url: Option<String>,
    /// Author handle.
    pub author_handle: Option<String>,
    /// Author display name.
    pub author_name: Option<String>,
    /// Followers.
    pub reach: Option<i64>,
    /// Language.
    pub lang: Option<String>,
    /// Title, if any.
    pub title: Option<String>,
    /// The text.
    pub text: String,
    /// What it replies to.
    pub in_reply_to: Option<String>,
    /// When it was posted (RFC 3339).
    pub created_at: String,
    /// Watches it matched.
    pub watches: Vec<String>,
    /// Classifier label.
    pub label: String,
    /// Sentiment in [-1, 1].
    pub sentiment: f64,
    /// Urgent or not.
    pub urgent: bool,
    /// Why the classifier decided so, one line each.
    pub reasons: Vec<String>,
    /// The rule that routed it.
    pub rule: String,
    /// Why the rule matched.
    pub rule_why: Vec<String>,
    /// The team alerted.
    pub team: String,
    /// The author asked not to be contacted.
    pub do_not_contact: bool,
    /// Later mentions with the same or nearly the same text (reposts, cross-posts, a copy-paste
    /// campaign), folded into this alert.
    pub duplicates: Vec<DuplicateView>,
}

/// One mention folded into another's alert.
#[derive(Debug, Clone, Default)]
pub struct DuplicateView {
    /// Mention id.
    pub mention_id: i64,
    /// Source name.
    pub source: String,
    /// Author handle.
    pub author: Option<String>,
    /// Link.
    pub url: Option<String>,
    /// The author asked not to be contacted.
    pub do_not_contact: bool,
}

/// Longest text shown in an alert, in characters; the link leads to the rest.
const MAX_TEXT: usize = 2000;
/// Longest snippet in a subject, in characters.
const MAX_SNIPPET: usize = 60;

/// Makes `s` safe for a mail header: control characters (CR and LF included), line and
/// paragraph separators and bidi overrides become spaces, runs of space collapse, and the
/// result is cut to `max` characters with an ellipsis.
pub fn header_safe(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s.chars() {
        let bad = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        if bad || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    cut(&out, max)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Only web links become clickable; anything else (`javascript:`, `data:`) is shown as text.
pub(crate) fn safe_link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        (l.starts_with("https://") || l.starts_with("http://")) && !u.contains(['\r', '\n'])
    })
}

fn esc(s: &str) -> String {
    html_escape::encode_safe(s).into_owned()
}

/// Renders one alert. Same input, same bytes.
pub fn render_alert(a: &AlertView) -> Rendered {
    let urgency = if a.urgent { "URGENT " } else { "" };
    let snippet_source = match &a.title {
        Some(t) if !a.text.starts_with(t.as_str()) => format!("{t}: {}", a.text),
        _ => a.text.clone(),
    };
    let copies = if a.duplicates.is_empty() {
        String::new()
    } else {
        format!("{}x ", a.duplicates.len() + 1)
    };
    let subject = format!(
        "[webcare] {urgency}{copies}{} on {}: {}",
        a.label,
        header_safe(&a.source, 40),
        header_safe(&snippet_source, MAX_SNIPPET)
    );
    let subject = header_safe(&subject, 160);
    let author = match (&a.author_name, &a.author_handle) {
        (Some(n), Some(h)) if n != h => format!("{n} (@{h})"),
        (_, Some(h)) if !h.contains(char::is_whitespace) => format!("@{h}"),
        (_, Some(h)) => h.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => "unknown author".into(),
    };
    let reach = a
        .reach
        .map(|r| format!("{r} followers"))
        .unwrap_or_else(|| "reach unknown".into());
    let body = cut(a.text.trim(), MAX_TEXT);
    let link = safe_link(a.url.as_deref());

    let mut t = String::new();
    if a.do_not_contact {
        t.push_str("DO NOT CONTACT: this author asked not to be contacted by the brand.\n\n");
    }
    t.push_str(&format!(
        "{}{} on {} about {}\n\n",
        urgency,
        a.label,
        a.source,
        a.watches.join(", ")
    ));
    if let Some(title) = &a.title {
        t.push_str(&format!("{title}\n\n"));
    }
    for line in body.lines() {
        t.push_str(&format!("> {line}\n"));
    }
    t.push('\n');
    t.push_str(&format!("Author:    {author}, {reach}\n"));
    t.push_str(&format!("Posted:    {}\n", a.created_at));
    if let Some(l) = &a.lang {
        t.push_str(&format!("Language:  {l}\n"));
    }
    t.push_str(&format!("Sentiment: {:+.2}\n", a.sentiment));
    match (link, &a.url) {
        (Some(u), _) => t.push_str(&format!("Answer:    {u}\n")),
        (None, Some(u)) => t.push_str(&format!("Link (not a web address): {u}\n")),
        (None, None) => t.push_str("Answer:    no link; the platform did not give one\n"),
    }
    if let Some(r) = &a.in_reply_to {
        t.push_str(&format!("In reply to: {r}\n"));
    }
    if !a.duplicates.is_empty() {
        t.push_str(&format!("\n{}\n", copies_line(a)));
        for d in &a.duplicates {
            t.push_str(&format!("  - {}\n", duplicate_line(d)));
        }
    }
    if !a.reasons.is_empty() {
        t.push_str("\nWhy the classifier thinks so:\n");
        for r in &a.reasons {
            t.push_str(&format!("  - {r}\n"));
        }
    }
    t.push_str(&format!(
        "\nRouted to team {} by rule \"{}\": {}\n",
        a.team,
        a.rule,
        a.rule_why.join("; ")
    ));
    t.push_str(&format!(
        "Mention #{} · `webcare route {}` explains the routing.\n",
        a.mention_id, a.mention_id
    ));

    let mut h = String::from(HTML_HEAD);
    if a.do_not_contact {
        h.push_str("<p style=\"background:#b00;color:#fff;padding:.5em;font-weight:bold\">DO NOT CONTACT: this author asked not to be contacted by the brand.</p>");
    }
    h.push_str(&format!(
        "<p><strong>{}{}</strong> on {} about {}</p>",
        esc(urgency),
        esc(&a.label),
        esc(&a.source),
        esc(&a.watches.join(", "))
    ));
    if let Some(title) = &a.title {
        h.push_str(&format!("<h3>{}</h3>", esc(title)));
    }
    h.push_str("<blockquote style=\"border-left:3px solid #ccc;margin:0;padding-left:1em;white-space:pre-wrap\">");
    h.push_str(&esc(&body));
    h.push_str("</blockquote><table>");
    let mut row = |k: &str, v: String| {
        h.push_str(&format!("<tr><td><b>{k}</b></td><td>{v}</td></tr>"));
    };
    row("Author", format!("{}, {}", esc(&author), esc(&reach)));
    row("Posted", esc(&a.created_at));
    if let Some(l) = &a.lang {
        row("Language", esc(l));
    }
    row("Sentiment", format!("{:+.2}", a.sentiment));
    match (link, &a.url) {
        (Some(u), _) => row(
            "Answer",
            format!(
                "<a href=\"{}\">{}</a>",
                html_escape::encode_double_quoted_attribute(u),
                esc(u)
            ),
        ),
        (None, Some(u)) => row("Link", esc(u)),
        (None, None) => row("Answer", "no link; the platform did not give one".into()),
    }
    if let Some(r) = &a.in_reply_to {
        row("In reply to", esc(r));
    }
    h.push_str("</table>");
    if !a.duplicates.is_empty() {
        h.push_str(&format!("<p><b>{}</b></p><ul>", esc(&copies_line(a))));
        for d in &a.duplicates {
            let who = esc(&duplicate_who(d));
            match safe_link(d.url.as_deref()) {
                Some(u) => h.push_str(&format!(
                    "<li><a href=\"{}\">{who}</a></li>",
                    html_escape::encode_double_quoted_attribute(u)
                )),
                None => h.push_str(&format!("<li>{who}</li>")),
            }
        }
        h.push_str("</ul>");
    }
    if !a.reasons.is_empty() {
        h.push_str("<p>Why the classifier thinks so:</p><ul>");
        for r in &a.reasons {
            h.push_str(&format!("<li>{}</li>", esc(r)));
        }
        h.push_str("</ul>");
    }
    h.push_str(&format!(
        "<p style=\"color:#666\">Routed to team {} by rule “{}”: {}<br>Mention #{}</p></body></html>",
        esc(&a.team),
        esc(&a.rule),
        esc(&a.rule_why.join("; ")),
        a.mention_id
    ));
    Rendered {
        subject,
        text: t,
        html: h,
    }
}

/// Adds the web inbox's one-click links (words, signed link) to a rendered alert or digest
/// item: a list at the end of the text, and one before the end of the HTML body. The links
/// only open the mention page; nothing changes until someone confirms there.
pub fn add_action_links(r: &mut Rendered, links: &[(String, String)]) {
    if links.is_empty() {
        return;
    }
    r.text
        .push_str("\nIn the web inbox (opens the mention; nothing changes until you confirm):\n");
    let mut h = String::from(
        "<p style=\"margin-top:1em\"><b>In the web inbox</b> (nothing changes until you confirm):<br>",
    );
    for (i, (words, link)) in links.iter().enumerate() {
        r.text.push_str(&format!("  {words}: {link}\n"));
        if i > 0 {
            h.push_str(" · ");
        }
        h.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            html_escape::encode_double_quoted_attribute(link),
            esc(words)
        ));
    }
    h.push_str("</p>");
    match r.html.rfind("</body>") {
        Some(i) => r.html.insert_str(i, &h),
        None => r.html.push_str(&h),
    }
}

fn copies_line(a: &AlertView) -> String {
    let n = a.duplicates.len() + 1;
    let mut authors: Vec<String> = a
        .duplicates
        .iter()
        .filter_map(|d| d.author.clone())
        .chain(a.author_handle.clone())
        .map(|h| h.to_lowercase())
        .collect();
    authors.sort();
    authors.dedup();
    format!(
        "The same text was posted {n} times by {} author{} (repost, cross-post or copy-paste campaign); the others:",
        authors.len().max(1),
        if authors.len() == 1 { "" } else { "s" }
    )
}

fn duplicate_who(d: &DuplicateView) -> String {
    let author = d
        .author
        .as_deref()
        .map(|h| format!("@{}", header_safe(h, 60)))
        .unwrap_or_else(|| "unknown author".into());
    let dnc = if d.do_not_contact {
        " (DO NOT CONTACT)"
    } else {
        ""
    };
    format!(
        "{author} on {} (mention #{}){dnc}",
        header_safe(&d.source, 40),
        d.mention_id
    )
}

fn duplicate_line(d: &DuplicateView) -> String {
    match (safe_link(d.url.as_deref()), &d.url) {
        (Some(u), _) => format!("{}: {u}", duplicate_who(d)),
        (None, Some(u)) => format!(
            "{}: {} (not a web address)",
            duplicate_who(d),
            header_safe(u, 200)
        ),
        (None, None) => format!("{}: no link", duplicate_who(d)),
    }
}

/// The inside of a rendered alert's `<body>`; alerts are rendered by this module, and mention
/// text in them is escaped, so the markers cannot come from a mention.
fn body_of(html: &str) -> &str {
    let start = html
        .find("<body")
        .and_then(|i| html[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = html.rfind("</body>").unwrap_or(html.len());
    html.get(start..end).unwrap_or(html)
}

const HTML_HEAD: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;max-width:40em\">";

/// Renders several alerts for one recipient as one email, oldest first, each complete with its
/// own link, reasons and rule. One alert renders as itself.
pub fn render_batch(items: &[Rendered]) -> Rendered {
    if items.len() == 1 {
        return items[0].clone();
    }
    let n = items.len();
    let first = items
        .first()
        .map(|r| r.subject.trim_start_matches("[webcare] ").to_string())
        .unwrap_or_default();
    let subject = header_safe(
        &format!("[webcare] {n} alerts: {first} (+{} more)", n - 1),
        160,
    );
    let mut t = format!("{n} alerts, oldest first.\n");
    let mut h = format!("{HTML_HEAD}<p><strong>{n} alerts</strong>, oldest first.</p>");
    for (i, r) in items.iter().enumerate() {
        t.push_str(&format!(
            "\n=== {} of {n}: {} ===\n\n{}",
            i + 1,
            r.subject,
            r.text
        ));
        h.push_str(&format!(
            "<hr><h3>{} of {n}: {}</h3>{}",
            i + 1,
            esc(&r.subject),
            body_of(&r.html)
        ));
    }
    h.push_str("</body></html>");
    Rendered {
        subject,
        text: t,
        html: h,
    }
}

/// Renders the summary that tells a recipient how many alerts their hourly cap held back,
/// listing their subjects.
pub fn render_cap_summary(cap: Option<u32>, held_subjects: &[String]) -> Rendered {
    let n = held_subjects.len();
    let cap = cap
        .map(|c| format!("the limit of {c} alerts per hour"))
        .unwrap_or_else(|| "the hourly limit".into());
    let what = if n == 1 {
        "1 alert was".to_string()
    } else {
        format!("{n} alerts were")
    };
    let subject = format!("[webcare] {what} held back: {cap} was reached");
    let mut t = format!(
        "{what} held back because {cap} was reached. They were not sent; \
         `webcare outbox --state held` lists them all.\n\n"
    );
    let mut h = format!(
        "{HTML_HEAD}<p><strong>{}</strong> held back because {} was reached. They were not sent; <code>webcare outbox --state held</code> lists them all.</p><ul>",
        esc(&what),
        esc(&cap)
    );
    for s in held_subjects {
        t.push_str(&format!("  - {s}\n"));
        h.push_str(&format!("<li>{}</li>", esc(s)));
    }
    h.push_str("</ul></body></html>");
    Rendered {
        subject: header_safe(&subject, 160),
        text: t,
        html: h,
    }
}

/// Why a delivery attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx, refused or dropped connection, timeout.
    #[error("{0}")]
    Transient(String),
    /// Trying again will not help: 5xx, bad address, configuration.
    #[error("{0}")]
    Permanent(String),
}

/// An email ready for the transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Recipient address.
    pub to: String,
    /// `<...@...>` Message-ID, the same on every attempt.
    pub message_id: String,
    /// When the alert was created; used as the Date header so retries are identical.
    pub date: SystemTime,
    /// The rendered parts.
    pub rendered: Rendered,
}

/// A lettre transport, built once from `[mail]`.
pub enum Transport {
    /// SMTP, pooled.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files.
    File(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    /// Builds the transport; fails only on TLS setup problems.
    pub fn build(mail: &Mail) -> Result<Transport, SendError> {
        match &mail.delivery {
            Delivery::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SendError::Permanent(format!("cannot create {}: {e}", dir.display()))
                })?;
                Ok(Transport::File(AsyncFileTransport::new(dir)))
            }
            Delivery::Smtp {
                host,
                port,
                tls,
                ca_pem,
                credentials,
            } => {
                let perm = |e: lettre::transport::smtp::Error| {
                    SendError::Permanent(format!("mail.host {host}: {e}"))
                };
                let params = || -> Result<TlsParameters, SendError> {
                    let mut b = TlsParameters::builder(host.clone());
                    if let Some(pem) = ca_pem {
                        b = b.add_root_certificate(Certificate::from_pem(pem).map_err(perm)?);
                    }
                    b.build_rustls().map_err(perm)
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                    .port(*port)
                    .timeout(Some(mail.timeout));
                b = match tls {
                    TlsMode::Starttls => b.tls(Tls::Required(params()?)),
                    TlsMode::Implicit => b.tls(Tls::Wrapper(params()?)),
                    TlsMode::None => b.tls(Tls::None),
                };
                if let Some((user, pass)) = credentials {
                    b = b.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
                }
                Ok(Transport::Smtp(b.build()))
            }
        }
    }

    /// Sends one email, giving up after `limit` whatever stage the dialogue is in (lettre's own
    /// timeout covers only the connect). Returns the server's answer.
    pub async fn send(
        &self,
        from: &Mailbox,
        out: &Outgoing,
        limit: Duration,
    ) -> Result<String, SendError> {
        let to: Mailbox = out
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {}: {e}", out.to)))?;
        let msg = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(out.rendered.subject.clone())
            .message_id(Some(out.message_id.clone()))
            .date(out.date)
            .multipart(MultiPart::alternative_plain_html(
                out.rendered.text.clone(),
                out.rendered.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        let attempt = async {
            match self {
                Transport::Smtp(t) => t
                    .send(msg)
                    .await
                    .map(|r| format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" ")))
                    .map_err(|e| {
                        if e.is_permanent() || e.is_client() {
                            SendError::Permanent(e.to_string())
                        } else {
                            SendError::Transient(e.to_string())
                        }
                    }),
                Transport::File(t) => t
                    .send(msg)
                    .await
                    .map(|id| format!("written as {id}.eml"))
                    .map_err(|e| SendError::Transient(e.to_string())),
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Transient(format!(
                "no answer within {} (the server may or may not have accepted it)",
                humantime::format_duration(limit)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> AlertView {
        AlertView {
            mention_id: 7,
            source: "forum".into(),
            url: Some("https://forum.example/t/1?a=1&b=2".into()),
            author_handle: Some("klant".into()),
            reach: Some(120),
            text: text.into(),
            created_at: "2026-11-25T09:00:00Z".into(),
            watches: vec!["Fjordlink".into()],
            label: "complaint".into(),
            sentiment: -0.5,
            rule: "default".into(),
            team: "webcare".into(),
            ..Default::default()
        }
    }

    #[test]
    fn subject_never_carries_line_breaks_or_control_characters() {
        let r = render_alert(&view(
            "Bcc: victim@example.com\r\nSubject: hacked\u{0}\u{202E}evil\nmore",
        ));
        assert!(
            !r.subject.contains(['\r', '\n', '\0', '\u{202E}']),
            "{:?}",
            r.subject
        );
        assert!(
            r.subject
                .starts_with("[webcare] complaint on forum: Bcc: victim@example.com Subject:"),
            "{}",
            r.subject
        );
        assert!(r.subject.chars().count() <= 160);
    }

    #[test]
    fn long_text_is_cut_in_the_subject_and_the_body() {
        let r = render_alert(&view(&"storing ".repeat(1000)));
        assert!(r.subject.ends_with('…'));
        assert!(r.text.len() < 4000, "{}", r.text.len());
    }

    #[test]
    fn html_from_the_mention_is_escaped_and_only_web_links_are_clickable() {
        let mut v = view("<script>alert(1)</script> & <b>bold</b>");
        v.author_name = Some("<img src=x onerror=alert(2)>".into());
        let r = render_alert(&v);
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(!r.html.contains("<img"), "{}", r.html);
        assert!(
            r.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; &lt;b&gt;")
        );
        assert!(
            r.html
                .contains("<a href=\"https://forum.example/t/1?a=1&amp;b=2\">"),
            "{}",
            r.html
        );
        v.url = Some("javascript:alert(3)".into());
        let r = render_alert(&v);
        assert!(!r.html.contains("href=\"javascript"), "{}", r.html);
    }

    #[test]
    fn an_opted_out_author_is_flagged_in_both_parts() {
        let mut v = view("slecht");
        v.do_not_contact = true;
        let r = render_alert(&v);
        assert!(r.text.starts_with("DO NOT CONTACT"));
        assert!(r.html.contains("DO NOT CONTACT"));
    }

    #[test]
    fn plain_smtp_is_refused_for_remote_hosts() {
        let cfg: MailConfig = serde_json::from_value(serde_json::json!({
            "from": "webcare <w@example.com>", "host": "smtp.example.com", "tls": "none"
        }))
        .unwrap();
        let mut errors = ConfigErrors::default();
        assert!(cfg.validate(&mut errors).is_some());
        assert!(errors.to_string().contains("mail.tls"), "{errors}");
        let cfg: MailConfig = serde_json::from_value(serde_json::json!({
            "from": "w@example.com", "host": "127.0.0.1", "port": 2525, "tls": "none"
        }))
        .unwrap();
        let mut errors = ConfigErrors::default();
        cfg.validate(&mut errors);
        assert!(errors.is_empty(), "{errors}");
    }
}
