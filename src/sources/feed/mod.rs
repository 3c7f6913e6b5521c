//! A lenient, streaming RSS/Atom reader: RSS 0.90–2.0 (with or without a version), RSS 1.0/RDF,
//! Atom 0.3 and 1.0, CDF, and the dc, dcterms, content, media, itunes, slash and georss
//! extensions, in any encoding `encoding_rs` knows.
//!
//! It reads what feedparser reads: one broken entry, an unclosed tag or a stray `&` costs only
//! what it breaks, never the entries around it. It is also safe on hostile XML: external
//! entities are never loaded, internal entity expansion and nesting depth are capped, and each
//! of those is a [`FeedError`] for that feed alone.

mod dates;
mod encoding;
mod parse;

use chrono::{DateTime, Utc};

pub use dates::parse_date;
pub use encoding::charset_of;

/// How deep elements may nest before the document is refused (real feeds stay under 30).
pub const MAX_DEPTH: usize = 512;
/// How many bytes internal entity references may expand to in one document, in total.
pub const MAX_ENTITY_EXPANSION: usize = 1 << 20;

/// What the fetch said about the body, besides the bytes.
#[derive(Debug, Default, Clone)]
pub struct Origin<'a> {
    /// The address the body came from: the base for relative links.
    pub url: &'a str,
    /// The response's `Content-Type`, if any (for its `charset`).
    pub content_type: Option<&'a str>,
    /// The response's `Content-Location`, if any (overrides `url` as the base).
    pub content_location: Option<&'a str>,
}

/// One item or entry, with its fields as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// guid, id or `rdf:about`, as written; `None` when the entry has none.
    pub id: Option<String>,
    /// The entry's link, resolved against `xml:base` and the document address.
    pub link: Option<String>,
    /// Title as plain text.
    pub title: Option<String>,
    /// Body as plain text: the full content, followed by the summary when that adds text.
    pub text: String,
    /// Author as a person would name them (the name part of `email (Name)`).
    pub author_name: Option<String>,
    /// The author's e-mail address, when the feed gives one.
    pub author_email: Option<String>,
    /// When the entry was published, else last updated, else created.
    pub published: Option<DateTime<Utc>>,
    /// When the entry was last updated, if the feed says.
    pub updated: Option<DateTime<Utc>>,
    /// The entry's own language (`xml:lang` on the entry, `dc:language`), if any.
    pub lang: Option<String>,
    /// Comment count (`slash:comments`, `thr:total`).
    pub comments: Option<i64>,
    /// Category terms.
    pub categories: Vec<String>,
    /// A hash of the entry's markup as written: tells apart entries that have no id, link,
    /// title, date or text of their own.
    pub fingerprint: u64,
}

/// A parsed feed.
#[derive(Debug, Default)]
pub struct Feed {
    /// The entries in document order.
    pub entries: Vec<Entry>,
    /// Local errors the reader recovered from (ill-formed markup); the first few, for the log.
    pub recovered: Vec<String>,
}

/// Why a feed could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// None of the declared encodings fits the bytes.
    #[error("cannot decode the feed: {message}")]
    Encoding { message: String },
    /// The document references an external entity, which webcare never loads.
    #[error(
        "the feed references the external entity &{name}; ({target}); webcare never loads external entities"
    )]
    ExternalEntity { name: String, target: String },
    /// Internal entity expansion went past [`MAX_ENTITY_EXPANSION`] (an entity bomb).
    #[error("entity expansion exceeds {limit} bytes (an entity bomb?); the feed was not read")]
    EntityBomb { limit: usize },
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("elements nest deeper than {limit} levels; the feed was not read")]
    TooDeep { limit: usize },
    /// The document has items or entries but none could be read.
    #[error("the document has {found} <item>/<entry> elements but none could be read{}", .cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    NoEntriesRead { found: usize, cause: Option<String> },
    /// The body is not a feed at all (an HTML page, an error document).
    #[error("not an RSS or Atom feed (the document starts with {start})")]
    NotAFeed { start: String },
}

/// Reads a feed body. Never panics on any input; see [`FeedError`] for when it gives up.
pub fn parse(body: &[u8], origin: &Origin<'_>) -> Result<Feed, FeedError> {
    let charset = origin.content_type.and_then(charset_of);
    let text = encoding::decode(body, charset.as_deref())?;
    let base = origin
        .content_location
        .and_then(|loc| match url::Url::parse(origin.url) {
            Ok(u) => u.join(loc).ok(),
            Err(_) => url::Url::parse(loc).ok(),
        })
        .or_else(|| url::Url::parse(origin.url).ok());
    parse::read(&text, base)
}

/// A stable id for an entry that has no guid, id or link: its title when it has one (so an
/// edited body is not a new entry), else a hash of its date and text. FNV-1a, because the
/// id is stored and must never change between releases.
pub fn content_id(e: &Entry) -> String {
    if let Some(t) = e.title.as_deref().filter(|t| !t.is_empty()) {
        return format!("title:{t}");
    }
    let date = e
        .published
        .map(|d| d.timestamp().to_string())
        .unwrap_or_default();
    let mut key = Vec::with_capacity(date.len() + 1 + e.text.len());
    key.extend_from_slice(date.as_bytes());
    key.push(0);
    key.extend_from_slice(e.text.as_bytes());
    format!("hash:{:016x}", parse::fnv1a(&key))
}

/// The id for an entry whose content id another entry of the same feed already has (two
/// entries with no title and the same text): the hash of its markup as written.
pub fn markup_id(e: &Entry) -> String {
    format!("markup:{:016x}", e.fingerprint)
}
