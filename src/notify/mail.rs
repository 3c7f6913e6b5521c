//! Mail: the `[mail]` settings, rendering an alert (and a batch of them, and the hourly cap
//! summary) as multipart text + HTML, and the lettre transport (SMTP with STARTTLS, implicit TLS or plain on localhost; or a folder of `.eml`
//! files). Mention text is hostile input: it is HTML-escaped in the body and stripped of control
//! characters before it goes near a header.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, Message, Tokio1Executor};
use serde::Deserialize;

use askama::Template;

use super::card;
pub use super::card::ActionLink;
use super::smtp::SmtpClient;
use crate::config::{ConfigErrors, DurationValue};
use crate::secret::{Secret, SecretRef};
use crate::sources::Mention;
use crate::text::cut;

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
    pub host: Option<String>,
    /// SMTP port; 587 for STARTTLS, 465 for implicit TLS, 25 without TLS.
    pub port: Option<u16>,
    /// `starttls` (default), `implicit` or `none` (localhost only).
    #[serde(default)]
    pub tls: TlsMode,
    /// Extra PEM certificate to trust (a private CA or a self-signed server).
    pub ca_file: Option<PathBuf>,
    /// SMTP user name; needs a password.
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// File holding the SMTP password (relative: in `$CREDENTIALS_DIRECTORY`).
    pub password_file: Option<String>,
    /// Folder for `transport = "file"`.
    pub dir: Option<PathBuf>,
    /// Longest wait for the connection and for each answer of the dialogue.
    #[serde(default = "default_send_timeout")]
    pub timeout: DurationValue,
    /// Longest wait for the answer to the end of a message (RFC 5321 section 4.5.3.2.6: ten
    /// minutes; the server may be scanning it). Separate from `timeout` so a slow scanner is
    /// not mistaken for a dead server.
    #[serde(default = "default_data_timeout")]
    pub data_timeout: DurationValue,
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
fn default_data_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(600))
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
pub enum MailDestination {
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
    pub destination: MailDestination,
    /// Limit for the connection and each answer.
    pub timeout: Duration,
    /// Limit for the answer to the end of a message.
    pub data_timeout: Duration,
    /// How long to keep retrying.
    pub retry_for: Duration,
    /// How long non-urgent alerts for one recipient are gathered into one email.
    pub batch_window: Duration,
    /// How far back a repeated text counts as a duplicate.
    pub duplicate_window: Duration,
}

/// Whether `host` (a name, an IP address, or an IPv6 address in brackets as a URL writes it)
/// is this machine: the only place mail or a webhook may go without TLS.
pub(super) fn is_loopback(host: &str) -> bool {
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
        if self.data_timeout.0 < Duration::from_secs(1) {
            errors.push(
                "mail.data_timeout",
                "must be at least 1s (RFC 5321 advises 10m)",
            );
        }
        if self.batch_window.0 > Duration::from_secs(3600) {
            errors.push(
                "mail.batch_window",
                "at most \"1h\"; alerts are meant to arrive while they are news",
            );
        }
        let destination = match self.transport {
            TransportKind::File => match &self.dir {
                Some(dir) => Some(MailDestination::File { dir: dir.clone() }),
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
                    Ok(pem) => match super::smtp::certificates_in(&pem) {
                        Ok(_) => Some(pem),
                        Err(why) => {
                            errors.push("mail.ca_file", format!("{} {why}", p.display()));
                            None
                        }
                    },
                    Err(e) => {
                        errors.push("mail.ca_file", format!("cannot read {}: {e}", p.display()));
                        None
                    }
                });
                let password = SecretRef::new(
                    "password",
                    self.password_env.clone(),
                    self.password_file.clone(),
                )
                .resolve("mail", self.username.is_some(), errors);
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
                Some(MailDestination::Smtp {
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
            destination: destination?,
            timeout: self.timeout.0,
            data_timeout: self.data_timeout.0,
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
    /// The mention as shown (see [`shown`]): link, author, text, post time, star rating.
    pub mention: Mention,
    /// Language: the platform's, or the one detected.
    pub lang: Option<String>,
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
    /// The source's platform (its kind: `x`, `rss`, `mastodon`, ...).
    pub platform: String,
    /// The team's time zone, for the post time (UTC when `None`).
    pub tz: Option<chrono_tz::Tz>,
    /// When the alert was rendered (unix seconds), for "12 min ago".
    pub now: i64,
    /// One-click actions shown as buttons beside "Answer" (e.g. from the web inbox).
    pub actions: Vec<ActionLink>,
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

/// True for the bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069): in a post they can make the text, a link or an author's name read
/// differently from what it is ("Trojan Source"), so they are removed wherever a mention is shown.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without bidi controls (see [`is_bidi_control`]).
pub fn strip_bidi(s: &str) -> String {
    s.chars().filter(|c| !is_bidi_control(*c)).collect()
}

/// `m` as an alert shows it: without bidi controls in any text part (the same in mail and
/// webhook) and without the platform's raw payload, which no alert shows.
pub fn shown(m: &Mention) -> Mention {
    let strip = |s: &Option<String>| s.as_deref().map(strip_bidi);
    Mention {
        author_handle: strip(&m.author_handle),
        author_name: strip(&m.author_name),
        title: strip(&m.title),
        text: strip_bidi(&m.text),
        in_reply_to: strip(&m.in_reply_to),
        raw: serde_json::Value::Null,
        ..m.clone()
    }
}

/// Only web links become clickable; anything else (`javascript:`, `data:`) is shown as text.
pub(crate) fn safe_link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        (l.starts_with("https://") || l.starts_with("http://")) && !u.contains(['\r', '\n'])
    })
}

/// Renders one alert. Same input, same bytes.
pub fn render_alert(a: &AlertView) -> Rendered {
    let subject = alert_subject(a);
    let body = cut(a.mention.text.trim(), MAX_TEXT);
    let duplicates = a
        .duplicates
        .iter()
        .map(|d| card::DuplicateLine {
            who: duplicate_who(d),
            url: safe_link(d.url.as_deref()).map(str::to_string),
            line: duplicate_line(d),
        })
        .collect();
    let copies = if a.duplicates.is_empty() {
        String::new()
    } else {
        copies_line(a)
    };
    let (html, text) = card::render(a, &subject, &body, copies, duplicates);
    Rendered {
        subject,
        text,
        html,
    }
}

/// "[webcare] URGENT 3x complaint on forum: …", header-safe.
fn alert_subject(a: &AlertView) -> String {
    let urgency = if a.urgent { "URGENT " } else { "" };
    let m = &a.mention;
    let snippet_source = match &m.title {
        Some(t) if !m.text.starts_with(t.as_str()) => format!("{t}: {}", m.text),
        _ => m.text.clone(),
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
    header_safe(&subject, 160)
}

fn copies_line(a: &AlertView) -> String {
    let n = a.duplicates.len() + 1;
    let mut authors: Vec<String> = a
        .duplicates
        .iter()
        .filter_map(|d| d.author.clone())
        .chain(a.mention.author_handle.clone())
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

/// Renders several alerts for one recipient as one email, in the order given (the outbox puts
/// urgent ones first), each complete with its own link, reasons and rule. One alert renders as
/// itself.
pub fn render_batch(items: &[Rendered]) -> Rendered {
    if items.len() == 1 {
        return items[0].clone();
    }
    let n = items.len();
    let subject = batch_subject(items);
    // Counts by label, from the subjects this module wrote ("[webcare] URGENT 2x complaint on …").
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in items {
        let label = r
            .subject
            .trim_start_matches("[webcare] ")
            .split(' ')
            .find(|w| *w != "URGENT" && !w.ends_with('x'))
            .unwrap_or("alert")
            .to_string();
        match counts.iter_mut().find(|(l, _)| *l == label) {
            Some((_, c)) => *c += 1,
            None => counts.push((label, 1)),
        }
    }
    let counts = counts
        .iter()
        .map(|(l, c)| format!("{c} {l}{}", if *c == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ");
    let lines: Vec<String> = items
        .iter()
        .map(|r| r.subject.trim_start_matches("[webcare] ").to_string())
        .collect();
    let page = BatchPage {
        subject: &subject,
        count: n,
        counts,
        lines,
        cards: items.iter().map(|r| body_of(&r.html)).collect(),
        items,
    };
    // Rendering fails only on a formatter error, which String writing never returns.
    let text = BatchText { page: &page }.render().unwrap_or_default();
    Rendered {
        subject: subject.clone(),
        text,
        html: page.render().unwrap_or_default(),
    }
}

/// The subject of a batch: the count and the most urgent alert, e.g. "[webcare] 3 urgent, 17
/// more: Sparks from FjordBox …" (the first urgent alert's text), or "[webcare] 20 alerts:
/// complaint on forum: …" (the first complaint, else the first alert) when none is urgent. Read
/// from the subjects this module wrote, which are header-safe already; the result is made
/// header-safe again.
fn batch_subject(items: &[Rendered]) -> String {
    let bare = |r: &Rendered| r.subject.trim_start_matches("[webcare] ").to_string();
    let urgent: Vec<String> = items
        .iter()
        .map(bare)
        .filter_map(|s| s.strip_prefix("URGENT ").map(str::to_string))
        .collect();
    let n = items.len();
    let subject = match urgent.first() {
        Some(lead) => {
            // "complaint on forum: Sparks from …" → "Sparks from …"
            let text = lead.split_once(": ").map_or(lead.as_str(), |(_, t)| t);
            let more = match n - urgent.len() {
                0 => String::new(),
                m => format!(", {m} more"),
            };
            format!("[webcare] {} urgent{more}: {text}", urgent.len())
        }
        None => {
            let lead = items
                .iter()
                .map(bare)
                .find(|s| s.starts_with("complaint ") || s.contains(" complaint on "))
                .or_else(|| items.first().map(bare))
                .unwrap_or_default();
            format!("[webcare] {n} alerts: {lead}")
        }
    };
    header_safe(&subject, 160)
}

/// A batch: the summary, then each alert's card. The cards are this module's own escaped HTML.
#[derive(askama::Template)]
#[template(path = "mail/batch.html")]
struct BatchPage<'a> {
    subject: &'a str,
    count: usize,
    counts: String,
    lines: Vec<String>,
    cards: Vec<&'a str>,
    /// The alerts themselves, whose text parts the batch's text part runs one after another.
    items: &'a [Rendered],
}

text_part!(BatchText over BatchPage<'a>, "mail/batch.txt");

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
    let subject = header_safe(&subject, 160);
    let page = CapSummaryPage {
        subject: &subject,
        what: &what,
        cap: &cap,
        held: held_subjects,
    };
    // Rendering fails only on a formatter error, which String writing never returns.
    let text = CapSummaryText { page: &page }.render().unwrap_or_default();
    Rendered {
        html: page.render().unwrap_or_default(),
        subject,
        text,
    }
}

/// The summary of alerts an hourly cap held back.
#[derive(askama::Template)]
#[template(path = "mail/cap_summary.html")]
struct CapSummaryPage<'a> {
    subject: &'a str,
    what: &'a str,
    cap: &'a str,
    held: &'a [String],
}

text_part!(CapSummaryText over CapSummaryPage<'a>, "mail/cap_summary.txt");

/// Why a delivery attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx, refused or dropped connection.
    #[error("{0}")]
    Transient(String),
    /// No answer in time: the server may or may not have the message. Retried like a transient
    /// failure; two in a row pause sending (the server is stalled).
    #[error("{0}")]
    Timeout(String),
    /// Trying this message again will not help: 5xx for its recipient or its content.
    #[error("{0}")]
    Permanent(String),
    /// Nothing can be sent until the operator fixes something (login refused, STARTTLS gone,
    /// certificate not trusted, sender refused): the mail is kept, never given up.
    #[error("{0}")]
    Held(String),
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

impl Outgoing {
    /// The message as it goes out: multipart text + HTML, marked as machine-made so that
    /// auto-responders (vacation replies, Exchange's out-of-office) stay quiet (RFC 3834).
    pub fn message(&self, from: &Mailbox) -> Result<Message, SendError> {
        let to: Mailbox = self
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {}: {e}", self.to)))?;
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(self.rendered.subject.clone())
            .message_id(Some(self.message_id.clone()))
            .date(self.date)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ))
            .multipart(body_parts(&self.rendered.text, &self.rendered.html))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// The start of an image this crate embeds in its own HTML (the digest's charts). Mention text
/// cannot produce it: every `"` from a mention is escaped as `&quot;`.
const DATA_PNG: &str = "src=\"data:image/png;base64,";

/// Moves the PNG data: URIs of `html` into inline parts: the HTML refers to them as
/// `cid:` links (mail apps block or drop data: images) and `--out FILE.html` keeps the
/// data: form. The Content-IDs come from the image bytes, so every retry sends the same
/// message.
pub fn inline_images(html: &str) -> (String, Vec<(String, Vec<u8>)>) {
    use base64::Engine as _;
    let mut out = String::with_capacity(html.len());
    let mut images = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(DATA_PNG) {
        let data_start = i + DATA_PNG.len();
        let Some(len) = rest[data_start..].find('"') else {
            break;
        };
        let data = &rest[data_start..data_start + len];
        match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(bytes) => {
                let cid = format!(
                    "chart{}.{:016x}@webcare",
                    images.len() + 1,
                    crate::text::fnv1a(data)
                );
                out.push_str(&rest[..i]);
                out.push_str(&format!("src=\"cid:{cid}\""));
                images.push((cid, bytes));
            }
            // Not ours after all: left as it is.
            Err(_) => out.push_str(&rest[..data_start + len + 1]),
        }
        rest = &rest[data_start + len + 1..];
    }
    out.push_str(rest);
    (out, images)
}

/// The body: text and HTML as alternatives; with images, the HTML and its images together as
/// multipart/related (RFC 2387) so mail apps show them inline.
fn body_parts(text: &str, html: &str) -> MultiPart {
    let (html, images) = inline_images(html);
    if images.is_empty() {
        return MultiPart::alternative_plain_html(text.to_string(), html);
    }
    let png = ContentType::parse("image/png").unwrap_or(ContentType::TEXT_PLAIN);
    let mut related = MultiPart::related().singlepart(SinglePart::html(html));
    for (cid, bytes) in images {
        related = related.singlepart(Attachment::new_inline(cid).body(bytes, png.clone()));
    }
    MultiPart::alternative()
        .singlepart(SinglePart::plain(text.to_string()))
        .multipart(related)
}

/// How mail leaves, built once from `[mail]`.
pub enum Transport {
    /// SMTP, one explicit session per pass over the outbox (see [`super::smtp`]).
    Smtp(SmtpClient),
    /// `.eml` files.
    File(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    /// Builds the transport; fails only on setup problems (folder, TLS settings).
    pub fn build(mail: &Mail) -> Result<Transport, SendError> {
        match &mail.destination {
            MailDestination::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SendError::Permanent(format!("cannot create {}: {e}", dir.display()))
                })?;
                Ok(Transport::File(AsyncFileTransport::new(dir)))
            }
            MailDestination::Smtp {
                host,
                port,
                tls,
                ca_pem,
                credentials,
            } => Ok(Transport::Smtp(SmtpClient::new(
                host,
                *port,
                *tls,
                ca_pem.as_deref(),
                credentials.as_ref().map(|(u, p)| (u.as_str(), p)),
                mail.timeout,
                mail.data_timeout,
            )?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn view(text: &str) -> AlertView {
        AlertView {
            mention_id: 7,
            source: "forum".into(),
            mention: Mention {
                url: Some("https://forum.example/t/1?a=1&b=2".into()),
                author_handle: Some("klant".into()),
                author_reach: Some(120),
                text: text.into(),
                created_at: Utc::now() - chrono::Duration::minutes(12),
                ..Default::default()
            },
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
    fn bidi_controls_are_removed_and_other_text_is_kept() {
        let hostile = "Fjordlink \u{202E}gnirots\u{202C} \u{2067}x\u{2069} é \u{200F}";
        assert_eq!(strip_bidi(hostile), "Fjordlink gnirots x é \u{200F}");
        assert!(
            (0x202A..=0x202E)
                .chain(0x2066..=0x2069)
                .all(|c| is_bidi_control(char::from_u32(c).unwrap()))
        );
        assert!(!is_bidi_control('\u{2029}'));
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
        v.mention.author_name = Some("<img src=x onerror=alert(2)>".into());
        let r = render_alert(&v);
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(!r.html.contains("<img"), "{}", r.html);
        assert!(
            r.html
                .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#60;b&#62;"),
            "{}",
            r.html
        );
        assert!(
            r.html
                .contains("<a href=\"https://forum.example/t/1?a=1&#38;b=2\""),
            "{}",
            r.html
        );
        v.mention.url = Some("javascript:alert(3)".into());
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

    fn rendered(subject: &str) -> Rendered {
        Rendered {
            subject: subject.into(),
            text: String::new(),
            html: String::new(),
        }
    }

    #[test]
    fn a_batch_subject_names_the_most_urgent_alert_and_the_count() {
        let mut items = vec![rendered(
            "[webcare] question on forum: Werkt het in Zeeland?",
        )];
        items.extend((0..16).map(|i| rendered(&format!("[webcare] praise on forum: mooi {i}"))));
        items.push(rendered(
            "[webcare] URGENT complaint on reviews: Sparks from FjordBox and a burning smell",
        ));
        items.push(rendered(
            "[webcare] URGENT 2x complaint on forum: Kabel hangt los",
        ));
        items.push(rendered(
            "[webcare] URGENT complaint on forum: Rook uit de router",
        ));
        assert_eq!(
            batch_subject(&items),
            "[webcare] 3 urgent, 17 more: Sparks from FjordBox and a burning smell"
        );
        let calm = [
            rendered("[webcare] praise on forum: top"),
            rendered("[webcare] 2x complaint on forum: factuur klopt niet"),
        ];
        assert_eq!(
            batch_subject(&calm),
            "[webcare] 2 alerts: 2x complaint on forum: factuur klopt niet"
        );
        // Header-safe, and cut to the subject's length.
        let long = [
            rendered(&format!(
                "[webcare] URGENT complaint on x: {}",
                "a".repeat(300)
            )),
            rendered("[webcare] URGENT complaint on x: b"),
        ];
        let s = batch_subject(&long);
        assert!(
            s.starts_with("[webcare] 2 urgent: aaa") && s.chars().count() <= 160,
            "{s}"
        );
    }

    #[test]
    fn png_data_uris_become_inline_parts_with_stable_content_ids() {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake");
        let html = format!(
            "<p>a</p><img src=\"data:image/png;base64,{png}\"><p>&quot;data:image/png;base64,x&quot;</p>"
        );
        let (out, images) = inline_images(&html);
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].1, b"\x89PNG fake");
        assert!(
            out.contains(&format!("src=\"cid:{}\"", images[0].0)),
            "{out}"
        );
        assert!(out.contains("&quot;data:image/png;base64,x&quot;"), "{out}");
        assert_eq!(inline_images(&html).1[0].0, images[0].0);
        let msg = Outgoing {
            to: "a@example.com".into(),
            message_id: "<x@example.com>".into(),
            date: SystemTime::UNIX_EPOCH,
            rendered: Rendered {
                subject: "s".into(),
                text: "t".into(),
                html,
            },
        }
        .message(&"w <w@example.com>".parse().unwrap())
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("multipart/related"), "{raw}");
        assert!(
            raw.contains(&format!("Content-ID: <{}>", images[0].0)),
            "{raw}"
        );
    }
}
