//! RSS and Atom feeds: news sites, blogs, forums, review portals and Google Alerts.
//!
//! Polls with conditional GET (`ETag` / `Last-Modified`) so an unchanged feed costs one 304.
//! Entries are identified by `guid`/`id`, falling back to their link; the store ignores ones it
//! already has. `file://` URLs read a local file, so the demo runs without a network. A body of
//! 1 MiB or more is handed to the commit unread (`FeedRead`), which reads it part by part
//! while the writer stores the part before.

use crate::sources::checks::Check;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use super::feed::{self, Origin};
use super::http::Client;
use super::own_reply::own_name;
use super::{Batch, Mention, OwnReply, PollContext, Source, SourceError, SourceKind, Unread};
use crate::config::SourceConfig;

/// Keys of an `rss` source besides the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RssSettings {
    /// Feed address: `https://…`, or `file://PATH` (a relative PATH is taken from the working directory).
    pub url: String,
    /// Language of every entry that does not declare its own; unset, it is detected from the text.
    pub lang: Option<String>,
    /// `"news"` for a news site's feed: its items report complaints and outages in the third
    /// person and are never read as customer complaints unless they quote one. Unset, each
    /// item is judged from its text.
    pub voice: Option<crate::classify::Voice>,
    /// Authors who are the brand itself (a forum's staff account, the brand's blog): their
    /// entries are no mentions, and an entry of theirs that answers another (Atom threading,
    /// `thr:in-reply-to`) marks that one answered.
    #[serde(default)]
    pub own_accounts: Vec<String>,
}

/// A fetched body and what the response said about it.
struct Body {
    bytes: Vec<u8>,
    content_type: Option<String>,
    content_location: Option<String>,
}

/// What the source remembers between polls.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FeedCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// A polled RSS/Atom feed.
pub struct RssSource {
    settings: RssSettings,
    client: Client,
}

impl SourceKind for RssSource {
    const KIND: &'static str = "rss";
    type Settings = RssSettings;
    type Checked = ();

    fn check(s: &RssSettings, cx: &mut Check<'_>) -> Option<()> {
        if let Some(p) = s.url.strip_prefix("file://") {
            if p.is_empty() {
                cx.problem(
                    "url",
                    "file:// needs a path, e.g. file://fixtures/demo/news.rss",
                );
            }
        } else {
            match url::Url::parse(&s.url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                Ok(u) => cx.problem(
                    "url",
                    format!(
                        "scheme \"{}\" is not supported; use https://, http:// or file://",
                        u.scheme()
                    ),
                ),
                Err(e) => cx.problem(
                    "url",
                    format!(
                        "\"{}\" is not a URL: {e}",
                        crate::redact::redact_text(&s.url)
                    ),
                ),
            }
        }
        Some(())
    }

    fn build(
        settings: RssSettings,
        _checked: (),
        _source: &SourceConfig,
        client: Client,
    ) -> anyhow::Result<RssSource> {
        Ok(RssSource { settings, client })
    }

    #[cfg(test)]
    fn conformance_settings(base: &str, _secret_file: &str) -> serde_json::Value {
        serde_json::json!({ "url": format!("{base}/feed.xml") })
    }
}

impl RssSource {
    async fn fetch_file(
        &self,
        path: &str,
        cursor: &FeedCursor,
    ) -> Result<Option<(Body, FeedCursor)>, SourceError> {
        let err = |e: std::io::Error| SourceError::Network {
            url: format!("file://{path}"),
            message: e.to_string(),
        };
        let meta = tokio::fs::metadata(path).await.map_err(err)?;
        if meta.len() as usize > self.client.max_body() {
            return Err(SourceError::TooLarge {
                url: format!("file://{path}"),
                limit: self.client.max_body(),
            });
        }
        // The file's size and modification time play the part of an ETag.
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tag = format!("{}-{}", meta.len(), mtime);
        if cursor.etag.as_deref() == Some(tag.as_str()) {
            return Ok(None);
        }
        let body = tokio::fs::read(path).await.map_err(err)?;
        Ok(Some((
            Body {
                bytes: body,
                content_type: None,
                content_location: None,
            },
            FeedCursor {
                etag: Some(tag),
                last_modified: None,
            },
        )))
    }

    async fn fetch_http(
        &self,
        cursor: &FeedCursor,
    ) -> Result<Option<(Body, FeedCursor)>, SourceError> {
        let mut req = self
            .client
            .request(reqwest::Method::GET, &self.settings.url)
            .header(reqwest::header::ACCEPT, "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5");
        if let Some(etag) = &cursor.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &cursor.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let resp = self.client.send(req).await?;
        match resp.status {
            304 => Ok(None),
            200..=299 => {
                let next = FeedCursor {
                    etag: resp.header(ETAG.as_str()).map(str::to_string),
                    last_modified: resp.header(LAST_MODIFIED.as_str()).map(str::to_string),
                };
                let body = Body {
                    content_type: resp.header("content-type").map(str::to_string),
                    content_location: resp.header("content-location").map(str::to_string),
                    bytes: resp.body,
                };
                Ok(Some((body, next)))
            }
            401 | 403 => Err(SourceError::Auth(format!(
                "feed {} refused access (HTTP {})",
                resp.url, resp.status
            ))),
            s => Err(SourceError::Status {
                status: s,
                url: resp.url,
                retry_after: None,
            }),
        }
    }
}

#[async_trait]
impl Source for RssSource {
    async fn poll(&self, ctx: &PollContext) -> Result<Batch, SourceError> {
        let cursor: FeedCursor = ctx
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let fetched = match self.settings.url.strip_prefix("file://") {
            Some(path) => self.fetch_file(path, &cursor).await?,
            None => self.fetch_http(&cursor).await?,
        };
        let Some((body, next)) = fetched else {
            return Ok(Batch::default());
        };
        let cursor = Some(serde_json::to_string(&next).unwrap_or_default());
        let read = FeedRead {
            body,
            url: self.settings.url.clone(),
            lang: self.settings.lang.clone(),
            voice: self.settings.voice,
            // First start: read the backfill window, not the feed's whole history.
            cutoff: ctx.cursor.is_none().then(|| {
                Utc::now()
                    - chrono::Duration::from_std(ctx.backfill).unwrap_or(chrono::Duration::days(1))
            }),
            own_accounts: self.settings.own_accounts.clone(),
        };
        if read.body.bytes.len() >= STREAM_BYTES {
            return Ok(Batch {
                cursor,
                unread: Some(Box::new(read)),
                ..Batch::default()
            });
        }
        let (mentions, own_replies) = read.read_all()?;
        Ok(Batch {
            mentions,
            own_replies,
            cursor,
            next_poll_in: None,
            more: false,
            unread: None,
        })
    }
}

/// A body at least this big is handed to the commit unread ([`FeedRead`]): about 3,000 entries
/// of a typical feed, below which reading it whole first costs the commit a few milliseconds.
const STREAM_BYTES: usize = 1 << 20;

/// A fetched feed body with what its poll needs to make mentions of it.
struct FeedRead {
    body: Body,
    url: String,
    lang: Option<String>,
    voice: Option<crate::classify::Voice>,
    /// On a first read, entries older than this are left out.
    cutoff: Option<chrono::DateTime<Utc>>,
    own_accounts: Vec<String>,
}

impl FeedRead {
    fn origin(&self) -> Origin<'_> {
        Origin {
            url: &self.url,
            content_type: self.body.content_type.as_deref(),
            content_location: self.body.content_location.as_deref(),
        }
    }

    /// The poll's own steps after the reading, on mentions in document order: the configured
    /// voice, the backfill window, the brand's own entries taken out.
    fn finish(&self, mut mentions: Vec<Mention>) -> (Vec<Mention>, Vec<OwnReply>) {
        if let Some(voice) = self.voice {
            // The classifier reads the voice from the raw payload (see `Watches::classify`),
            // so a source-level setting needs no field on every platform's Mention.
            for m in &mut mentions {
                m.raw["voice"] = serde_json::json!(voice);
            }
        }
        if let Some(cutoff) = self.cutoff {
            mentions.retain(|m| m.created_at >= cutoff);
        }
        split_own(mentions, &self.own_accounts)
    }
}

impl Unread for FeedRead {
    fn stream(
        &self,
        part: usize,
        take: &mut dyn FnMut(Vec<Mention>) -> bool,
    ) -> Result<Vec<OwnReply>, super::Restart> {
        let now = Utc::now();
        let lang = self.lang.as_deref();
        let mut ids = StreamIds::default();
        let mut entries: Vec<(feed::Entry, String)> = Vec::with_capacity(part);
        let mut own = Vec::new();
        let mut stopped = false;
        let mut this_part = (part / 8).max(1);
        // Makes mentions of the entries read so far and hands them over.
        let mut hand = |entries: &mut Vec<(feed::Entry, String)>, own: &mut Vec<OwnReply>| {
            let mentions = entries
                .drain(..)
                .map(|(e, id)| entry_mention(e, id, lang, now))
                .collect();
            let (kept, replies) = self.finish(mentions);
            own.extend(replies);
            take(kept)
        };
        let read = feed::parse_each(&self.body.bytes, &self.origin(), &mut |e| {
            match ids.next(&e) {
                StreamId::New(id) => entries.push((e, id)),
                StreamId::Repeat => {}
                StreamId::Shared => {
                    stopped = true;
                    return false;
                }
            }
            if entries.len() >= this_part {
                // The first part is small, so the writer starts early.
                this_part = part;
                if !hand(&mut entries, &mut own) {
                    stopped = true;
                    return false;
                }
            }
            true
        });
        match read {
            Ok(feed) if !stopped => {
                if !feed.recovered.is_empty() {
                    tracing::debug!(url = %crate::redact::redact_url_str(&self.url), errors = ?feed.recovered, "feed is not well-formed; read what it holds");
                }
                if !entries.is_empty() && !hand(&mut entries, &mut own) {
                    return Err(super::Restart);
                }
                Ok(own)
            }
            // The whole read gives the error, or settles the shared ids.
            _ => Err(super::Restart),
        }
    }

    fn read_all(&self) -> Result<(Vec<Mention>, Vec<OwnReply>), SourceError> {
        let mentions = parse_feed_from(&self.body.bytes, &self.origin(), self.lang.as_deref())?;
        Ok(self.finish(mentions))
    }
}

/// The external ids of a feed's entries as they are read one by one: what [`entry_ids`] gives
/// for as long as no two entries share a guid, id or link.
#[derive(Default)]
struct StreamIds {
    /// FNV-1a hashes of the ids given and the guids, ids and links seen: a hash shared by two
    /// different ids only sends the read back to a whole read, which tells them apart.
    seen: HashSet<u64>,
}

/// The id [`StreamIds::next`] gives an entry.
enum StreamId {
    New(String),
    /// The same post listed again: left out.
    Repeat,
    /// A guid, id or link an earlier entry has: only the whole document tells how the two are
    /// told apart.
    Shared,
}

impl StreamIds {
    fn next(&mut self, e: &feed::Entry) -> StreamId {
        if let Some(base) = e.id.as_deref().or(e.link.as_deref()) {
            return if self.seen.insert(crate::text::fnv1a(base)) {
                StreamId::New(base.to_string())
            } else {
                StreamId::Shared
            };
        }
        let mut id = feed::content_id(e);
        if self.seen.contains(&crate::text::fnv1a(&id)) {
            id = feed::markup_id(e);
        }
        if self.seen.insert(crate::text::fnv1a(&id)) {
            StreamId::New(id)
        } else {
            StreamId::Repeat
        }
    }
}

/// Takes the brand's own entries out of `mentions`: those that answer another entry become
/// [`OwnReply`]s, the rest (the brand's own posts) are dropped.
fn split_own(mentions: Vec<Mention>, own_accounts: &[String]) -> (Vec<Mention>, Vec<OwnReply>) {
    if own_accounts.is_empty() {
        return (mentions, Vec::new());
    }
    let mut kept = Vec::with_capacity(mentions.len());
    let mut replies = Vec::new();
    for m in mentions {
        let own = [m.author_name.as_deref(), m.author_handle.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|a| own_name(a, own_accounts));
        match own {
            None => kept.push(m),
            Some(account) => {
                if let Some(parent) = m.in_reply_to {
                    replies.push(OwnReply {
                        parent,
                        account,
                        at: m.created_at,
                    });
                }
            }
        }
    }
    (kept, replies)
}

/// A fetched feed body handed over unread, as a poll hands over a big one: no configured
/// voice or own accounts, not a first read. Public for the ingest benchmark.
pub fn unread_feed(body: Vec<u8>, url: &str, default_lang: Option<&str>) -> impl Unread {
    FeedRead {
        body: Body {
            bytes: body,
            content_type: None,
            content_location: None,
        },
        url: url.to_string(),
        lang: default_lang.map(str::to_string),
        voice: None,
        cutoff: None,
        own_accounts: Vec::new(),
    }
}

/// Parses a feed body into mentions. Public for the ingest benchmark.
pub fn parse_feed(
    body: &[u8],
    url: &str,
    default_lang: Option<&str>,
) -> Result<Vec<Mention>, SourceError> {
    parse_feed_from(
        body,
        &Origin {
            url,
            ..Origin::default()
        },
        default_lang,
    )
}

/// Parses a feed body with what the fetch said about it (charset, base address).
pub fn parse_feed_from(
    body: &[u8],
    origin: &Origin<'_>,
    default_lang: Option<&str>,
) -> Result<Vec<Mention>, SourceError> {
    let feed = feed::parse(body, origin).map_err(|e| SourceError::Parse {
        url: crate::redact::redact_url_str(origin.url),
        message: e.to_string(),
    })?;
    if !feed.recovered.is_empty() {
        tracing::debug!(url = %crate::redact::redact_url_str(origin.url), errors = ?feed.recovered, "feed is not well-formed; read what it holds");
    }
    let now = Utc::now();
    let ids = entry_ids(&feed.entries);
    let entries: Vec<(feed::Entry, String)> = feed
        .entries
        .into_iter()
        .zip(ids)
        .filter_map(|(e, id)| Some((e, id?)))
        .collect();
    // Each entry becomes a mention on its own, so a big feed's are made on all cores.
    Ok(crate::parallel::in_parts(
        entries,
        crate::parallel::MENTIONS_TO_SPLIT,
        |part| {
            part.into_iter()
                .map(|(e, id)| entry_mention(e, id, default_lang, now))
                .collect()
        },
    ))
}

/// The mention of a feed entry whose external id is `id`; `default_lang` is the source's
/// configured language.
fn entry_mention(
    mut e: feed::Entry,
    id: String,
    default_lang: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Mention {
    let link = e.link.as_deref().map(unwrap_redirect);
    let title = e.title.clone().filter(|t| !t.is_empty());
    // Moved, not copied: the body is most of an entry's bytes.
    let text = if e.text.is_empty() {
        title.clone().unwrap_or_default()
    } else {
        std::mem::take(&mut e.text)
    };
    // RSS 2.0 <author> is an e-mail address, optionally with a name: the address is the
    // handle (it tells two people of the same name apart), the name is the name.
    let handle = e.author_email.clone().or_else(|| e.author_name.clone());
    let created_at = e.published.unwrap_or(now);
    let raw = raw_payload(&mut e);
    Mention {
        rating: None,
        external_id: id,
        url: link,
        author_handle: handle,
        author_name: e.author_name,
        author_reach: None,
        // A feed-level <language> is often wrong for aggregators and review sites that carry
        // posts in several languages, so only an entry's own language or the configured one
        // counts; otherwise the classifier detects it.
        lang: e
            .lang
            .as_deref()
            .map(short_lang)
            .or_else(|| default_lang.map(str::to_string)),
        title,
        text,
        created_at,
        in_reply_to: e.in_reply_to,
        engagement: super::Engagement {
            replies: e.comments,
            ..Default::default()
        },
        raw,
    }
}

/// The entry as the mention's raw payload: what `serde_json::json!` would make of its id,
/// title, link, dates, authors, e-mail address and categories, built by moving the strings
/// the mention does not keep (id, title, link, e-mail address, categories) out of `e`
/// instead of copying them.
fn raw_payload(e: &mut feed::Entry) -> serde_json::Value {
    use serde_json::Value;
    let string = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let date = |d: Option<chrono::DateTime<Utc>>| d.map_or(Value::Null, json_date);
    // Inserted in reverse key order: each new key then sorts first in the map's node, found
    // with one comparison.
    let mut raw = serde_json::Map::new();
    raw.insert("updated".into(), date(e.updated));
    raw.insert("title".into(), string(e.title.take()));
    raw.insert("published".into(), date(e.published));
    raw.insert("link".into(), string(e.link.take()));
    raw.insert("id".into(), string(e.id.take()));
    raw.insert(
        "categories".into(),
        Value::Array(
            std::mem::take(&mut e.categories)
                .into_iter()
                .map(Value::String)
                .collect(),
        ),
    );
    raw.insert(
        "authors".into(),
        Value::Array(e.author_name.iter().cloned().map(Value::String).collect()),
    );
    raw.insert("author_email".into(), string(e.author_email.take()));
    Value::Object(raw)
}

/// A date as chrono's `Serialize` writes it (RFC 3339, `Z`, fractional seconds only when
/// there are any). The common case, a four-digit year and whole seconds, is written
/// directly: chrono's formatter goes through `fmt` one character at a time.
fn json_date(d: chrono::DateTime<Utc>) -> serde_json::Value {
    use chrono::{Datelike, Timelike};
    // Read from the naive value: `DateTime`'s own accessors apply the (zero) offset each time.
    let naive = d.naive_utc();
    let year = naive.year();
    if !(0..=9999).contains(&year) || naive.nanosecond() != 0 {
        return serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
    }
    let mut s = String::with_capacity(20);
    let mut two = |n: u32, sep: Option<char>| {
        s.push(char::from(b'0' + (n / 10 % 10) as u8));
        s.push(char::from(b'0' + (n % 10) as u8));
        if let Some(sep) = sep {
            s.push(sep);
        }
    };
    two(year as u32 / 100, None);
    two(year as u32 % 100, Some('-'));
    two(naive.month(), Some('-'));
    two(naive.day(), Some('T'));
    two(naive.hour(), Some(':'));
    two(naive.minute(), Some(':'));
    two(naive.second(), Some('Z'));
    serde_json::Value::String(s)
}

/// The external id of each entry, `None` for an entry that repeats an earlier one.
///
/// Entries without guid/id are identified by their link, which stays stable when the
/// publisher edits the title; entries without either by their content. An id that several
/// entries of one document share identifies none of them: feeds that give every item the
/// channel's link or one fixed guid exist, and keeping only the first such entry would lose
/// every later post for good (the id is then stored). So when entries under one id differ
/// in content, each is told apart by its content ([`feed::shared_id`]); a repeat with the
/// same content is the same post listed twice, and is left out.
fn entry_ids(entries: &[feed::Entry]) -> Vec<Option<String>> {
    let bases: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.id.as_deref().or(e.link.as_deref()))
        .collect();
    let mut uses: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    let mut shared = false;
    for b in bases.iter().flatten() {
        let n = uses.entry(b).or_default();
        *n += 1;
        shared |= *n > 1;
    }
    if !shared && bases.iter().all(Option::is_some) {
        // The common case: every entry has its own id or link, so each is its id and none
        // repeats another.
        return bases.into_iter().map(|b| b.map(str::to_string)).collect();
    }
    // The distinct contents under each shared id: one means the same post listed again.
    let mut contents: HashMap<&str, HashSet<String>> = HashMap::new();
    for (e, b) in entries.iter().zip(&bases) {
        if let Some(b) = b.filter(|b| uses[b] > 1) {
            contents.entry(b).or_default().insert(feed::content_id(e));
        }
    }
    // Ids taken as they are borrow from the entries; only made ones are owned here.
    let mut seen: HashSet<Cow<'_, str>> = HashSet::with_capacity(entries.len());
    entries
        .iter()
        .zip(&bases)
        .map(|(e, base)| {
            let id: Cow<'_, str> = match base {
                Some(b) if contents.get(b).is_some_and(|c| c.len() > 1) => {
                    Cow::Owned(feed::shared_id(b, e))
                }
                Some(b) => Cow::Borrowed(b),
                None => {
                    let id = feed::content_id(e);
                    if seen.contains(id.as_str()) {
                        Cow::Owned(feed::markup_id(e))
                    } else {
                        Cow::Owned(id)
                    }
                }
            };
            let out = id.to_string();
            seen.insert(id).then_some(out)
        })
        .collect()
}

fn short_lang(l: &str) -> String {
    l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase()
}

/// Google Alerts and some aggregators wrap the article link in a redirect; staff want the article.
fn unwrap_redirect(href: &str) -> String {
    // Parsing every link costs more than the rest of the mention. A URL parser lower-cases
    // the host, decodes percent escapes in it, maps non-ASCII letters and drops tabs and line
    // breaks; a plain ASCII link with none of those that does not spell "google" in any case
    // cannot have a Google host, and is kept as it is without parsing.
    let plain = href.is_ascii()
        && !href
            .bytes()
            .any(|b| matches!(b, b'%' | b'\t' | b'\n' | b'\r'));
    if plain
        && !href
            .as_bytes()
            .windows(6)
            .any(|w| w.eq_ignore_ascii_case(b"google"))
    {
        return href.to_string();
    }
    if let Ok(u) = url::Url::parse(href) {
        let host = u.host_str().unwrap_or("");
        if (host.ends_with("google.com") || host.starts_with("news.google."))
            && u.path() == "/url"
            && let Some((_, target)) = u.query_pairs().find(|(k, _)| k == "url" || k == "q")
            && target.starts_with("http")
        {
            return target.into_owned();
        }
    }
    href.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_payload_dates_are_written_as_chrono_serializes_them() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for naive in [
            day(2026, 11, 25).and_hms_opt(9, 5, 7).unwrap(),
            day(999, 1, 2).and_hms_opt(0, 0, 0).unwrap(),
            day(2026, 11, 25).and_hms_milli_opt(9, 5, 7, 120).unwrap(),
            day(2026, 11, 25).and_hms_nano_opt(9, 5, 7, 1_000).unwrap(),
            // A leap second, and a year past 9999: chrono's own formatter writes both.
            day(2016, 12, 31)
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap(),
            day(12026, 11, 25).and_hms_opt(9, 5, 7).unwrap(),
        ] {
            let d = naive.and_utc();
            assert_eq!(json_date(d), serde_json::to_value(d).unwrap(), "{d:?}");
        }
    }

    #[test]
    fn google_alert_links_point_at_the_article() {
        assert_eq!(
            unwrap_redirect(
                "https://www.google.com/url?rct=j&sa=t&url=https://www.dr.dk/nyheder/fjordlink-nedbrud&ct=ga&cd=CAE"
            ),
            "https://www.dr.dk/nyheder/fjordlink-nedbrud"
        );
        assert_eq!(
            unwrap_redirect("https://example.org/a"),
            "https://example.org/a"
        );
    }

    #[test]
    fn the_brands_threaded_replies_answer_the_entry_they_name() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
            <id>forum</id><title>Community</title><updated>2026-11-25T09:00:00Z</updated>
            <entry><id>tag:forum,2026:post-1</id><title>Fjordlink storing</title>
              <published>2026-11-25T08:00:00Z</published><author><name>Sanne</name></author>
              <content type="text">Fjordlink ligt er weer uit</content></entry>
            <entry><id>tag:forum,2026:post-2</id><title>Re: Fjordlink storing</title>
              <published>2026-11-25T08:30:00Z</published><author><name>Fjordlink_Care</name></author>
              <thr:in-reply-to ref="tag:forum,2026:post-1" href="https://forum.example/t/1#p1"/>
              <content type="text">Sorry Sanne, we kijken mee.</content></entry>
            <entry><id>tag:forum,2026:post-3</id><title>Re: Fjordlink storing</title>
              <published>2026-11-25T08:40:00Z</published><author><name>Piet</name></author>
              <thr:in-reply-to ref="tag:forum,2026:post-1"/>
              <content type="text">Hier ook, Fjordlink</content></entry>
            <entry><id>tag:forum,2026:post-4</id><title>Fjordlink nieuws</title>
              <published>2026-11-25T08:50:00Z</published><author><name>fjordlink_care</name></author>
              <content type="text">Onderhoud vannacht</content></entry>
            </feed>"#;
        let parsed = parse_feed(xml, "test", None).unwrap();
        assert_eq!(
            parsed[2].in_reply_to.as_deref(),
            Some("tag:forum,2026:post-1")
        );
        let own = vec!["@Fjordlink_Care".to_string()];
        let (kept, replies) = split_own(parsed.clone(), &own);
        let ids: Vec<&str> = kept.iter().map(|m| m.external_id.as_str()).collect();
        assert_eq!(ids, ["tag:forum,2026:post-1", "tag:forum,2026:post-3"]);
        assert_eq!(
            replies,
            [OwnReply {
                parent: "tag:forum,2026:post-1".into(),
                account: "Fjordlink_Care".into(),
                at: "2026-11-25T08:30:00Z".parse().unwrap(),
            }]
        );
        // Without own accounts every entry is a mention.
        assert_eq!(split_own(parsed, &[]).0.len(), 4);
    }

    #[test]
    fn an_author_without_a_name_is_no_author() {
        // Google Alerts writes <author><name></name></author>.
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>Google Alert - fjordlink</title>
            <updated>2026-11-25T06:14:22Z</updated>
            <entry><id>a</id><title>Fjordlink</title><updated>2026-11-25T06:14:22Z</updated>
              <content type="html">Fjordlink nedbrud</content><author><name></name></author></entry>
            <entry><id>b</id><title>Fjordlink</title><updated>2026-11-25T06:14:22Z</updated>
              <content type="html">Fjordlink igen</content></entry>
            <entry><id>c</id><title>Fjordlink</title><updated>2026-11-25T06:14:22Z</updated>
              <content type="html">Fjordlink</content><author><name>Jens Hansen</name></author></entry>
            </feed>"#;
        let m = parse_feed(xml, "test", None).unwrap();
        let authors: Vec<_> = m.iter().map(|m| m.author_handle.as_deref()).collect();
        assert_eq!(authors, [None, None, Some("Jens Hansen")]);
    }

    #[test]
    fn a_post_listed_twice_is_one_mention_but_posts_sharing_an_id_are_all_kept() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><guid>a</guid><title>one</title><description>&lt;p&gt;Fjordlink &lt;b&gt;down&lt;/b&gt;&lt;/p&gt;</description></item>
            <item><guid>a</guid><title>one</title><description>&lt;p&gt;Fjordlink &lt;b&gt;down&lt;/b&gt;&lt;/p&gt;</description></item>
            <item><link>https://example.org/b</link><title>two</title></item>
            </channel></rss>"#;
        let m = parse_feed(xml, "test", Some("nl")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].external_id, "a",
            "a post listed twice keeps its own id"
        );
        assert_eq!(m[0].text, "Fjordlink down");
        assert_eq!(m[0].lang.as_deref(), Some("nl"));
        assert_eq!(m[1].external_id, "https://example.org/b");

        // A feed that gives every item the site's link: each post is its own mention, with
        // the same id whatever comes before or after it in the next poll.
        let item =
            |t: &str| format!("<item><link>https://example.org/</link><title>{t}</title></item>");
        let feed = |items: &[&str]| {
            let body: String = items.iter().map(|t| item(t)).collect();
            format!("<rss version=\"2.0\"><channel>{body}</channel></rss>")
        };
        let ids = |items: &[&str]| -> Vec<String> {
            parse_feed(feed(items).as_bytes(), "test", None)
                .unwrap()
                .into_iter()
                .map(|m| m.external_id)
                .collect()
        };
        let first = ids(&["Fjordlink down", "Fjordlink up"]);
        assert_eq!(first.len(), 2);
        assert!(first[0].starts_with("https://example.org/#") && first[0] != first[1]);
        let next = ids(&["Fjordlink news", "Fjordlink down", "Fjordlink up"]);
        assert_eq!(&next[1..], &first[..]);
    }

    #[test]
    fn a_feed_big_enough_to_be_read_on_all_cores_keeps_its_order_and_each_entrys_own_fields() {
        let n = crate::parallel::MENTIONS_TO_SPLIT * 2 + 1;
        let mut body = String::from("<rss version=\"2.0\"><channel><title>t</title>");
        for i in 0..n {
            let lang = if i % 3 == 0 {
                "<dc:language>da</dc:language>"
            } else {
                ""
            };
            body.push_str(&format!(
                "<item xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><guid>g{i}</guid><title>Post {i}</title>\
                 <link>https://forum.example/t/{i}</link>{lang}<description>&lt;p&gt;Tekst {i}&lt;/p&gt;</description></item>"
            ));
        }
        body.push_str("</channel></rss>");
        let m = parse_feed(body.as_bytes(), "https://feeds.example/x", Some("nl")).unwrap();
        assert_eq!(m.len(), n);
        for (i, m) in m.iter().enumerate() {
            assert_eq!(m.external_id, format!("g{i}"));
            assert_eq!(m.text, format!("Tekst {i}"));
            assert_eq!(
                m.url.as_deref(),
                Some(format!("https://forum.example/t/{i}").as_str())
            );
            let lang = if i % 3 == 0 { "da" } else { "nl" };
            assert_eq!(m.lang.as_deref(), Some(lang), "entry {i}");
        }
    }

    /// A big feed's body as a poll hands it over: the brand's care account, the news voice and
    /// (with `first`) a first read's backfill window of ten years.
    fn unread(body: &[u8], first: bool) -> FeedRead {
        FeedRead {
            body: Body {
                bytes: body.to_vec(),
                content_type: None,
                content_location: None,
            },
            url: "https://forum.example/feed.xml".into(),
            lang: Some("nl".into()),
            voice: Some(crate::classify::Voice::News),
            cutoff: first.then(|| Utc::now() - chrono::Duration::days(3650)),
            own_accounts: vec!["Fjordlink_Care".into()],
        }
    }

    /// The mentions and own replies of a streamed read in parts of `part`, or `None` when it
    /// sends the document back to be read whole.
    fn streamed(read: &FeedRead, part: usize) -> Option<(Vec<Mention>, Vec<OwnReply>)> {
        let mut got = Vec::new();
        let own = read
            .stream(part, &mut |p| {
                assert!(p.len() <= part, "a part of {} for {part}", p.len());
                got.extend(p);
                true
            })
            .ok()?;
        Some((got, own))
    }

    /// `m` with the date a read gives an undated entry (the time of the read) taken out, so
    /// that two reads moments apart compare equal.
    fn undated(mut m: Vec<Mention>, read_from: chrono::DateTime<Utc>) -> Vec<Mention> {
        for m in &mut m {
            if m.created_at >= read_from {
                m.created_at = chrono::DateTime::UNIX_EPOCH;
            }
        }
        m
    }

    #[test]
    fn every_fixture_feed_read_part_by_part_gives_what_the_whole_read_gives() {
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures"
        ))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .extension()
                    .is_some_and(|x| ["xml", "rss", "rdf", "atom"].contains(&&*x.to_string_lossy()))
                {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 500, "{} feed fixtures", files.len());
        let (mut same, mut whole) = (0, 0);
        let read_from = Utc::now() - chrono::Duration::seconds(1);
        for path in &files {
            let body = std::fs::read(path).unwrap();
            for first in [false, true] {
                let read = unread(&body, first);
                let all = read.read_all();
                match streamed(&read, 2) {
                    Some((mentions, own)) => {
                        let (all, all_own) = all.unwrap_or_else(|e| {
                            panic!(
                                "{}: streamed, but the whole read fails: {e}",
                                path.display()
                            )
                        });
                        assert_eq!(
                            undated(mentions, read_from),
                            undated(all, read_from),
                            "{}",
                            path.display()
                        );
                        assert_eq!(own, all_own, "{}", path.display());
                        same += 1;
                    }
                    None => whole += 1,
                }
            }
        }
        // Only feeds that repeat an id or cannot be read at all go back to a whole read.
        assert!(same > whole * 4, "{same} streamed, {whole} read whole");
    }

    #[test]
    fn entries_sharing_an_id_send_a_streamed_read_back_to_the_whole_read() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><guid>x</guid><title>Fjordlink first</title></item>
            <item><guid>a</guid><title>Fjordlink one</title></item>
            <item><guid>a</guid><title>Fjordlink two</title></item>
            </channel></rss>"#;
        let read = unread(xml, false);
        let mut handed = 0;
        let r = read.stream(1, &mut |p| {
            handed += p.len();
            true
        });
        assert!(r.is_err(), "the streamed read stops at the shared id");
        assert_eq!(handed, 2, "after handing over what came before it");
        let (all, _) = read.read_all().unwrap();
        let ids: Vec<&str> = all.iter().map(|m| m.external_id.as_str()).collect();
        assert_eq!(ids[0], "x");
        assert!(ids[1].starts_with("a#") && ids[2].starts_with("a#") && ids[1] != ids[2]);
        // A reader that wants no more stops the read too.
        assert!(read.stream(1, &mut |_| false).is_err());
    }

    #[test]
    fn a_truncated_feed_keeps_its_complete_entries() {
        let m = parse_feed(
            b"<rss><channel><item><title>first</title></item><item><title>cut",
            "https://feeds.example/x",
            None,
        )
        .unwrap();
        let titles: Vec<_> = m.iter().map(|m| m.title.as_deref()).collect();
        // The cut-off entry is left out: stored half, it would never be stored whole.
        assert_eq!(titles, [Some("first")]);
    }

    #[test]
    fn a_page_that_is_no_feed_is_a_parse_error_naming_the_feed() {
        let err = parse_feed(
            b"<!DOCTYPE html><html><body>Sorry</body></html>",
            "https://feeds.example/x",
            None,
        )
        .unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("https://feeds.example/x") && err.contains("<html>"),
            "{err}"
        );
    }
}
