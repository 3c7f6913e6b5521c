//! The event loop of the feed reader: quick-xml pull events over the decoded text, a stack of
//! open elements kept by the reader itself (so an unclosed or stray tag closes what it must and
//! nothing more), namespace prefixes mapped to the extensions webcare reads, and one collector
//! at a time gathering an entry field's text or inline markup.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};
// Markup written back for the HTML-to-text pass: `&`, `<`, `>` and `"` as entities.
use html_escape::encode_double_quoted_attribute;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use url::Url;

use super::{Entry, Feed, FeedError, MAX_DEPTH, MAX_ENTITY_EXPANSION, parse_date};
use crate::sources::text::{LinkNotes, html_to_text, html_to_text_with, repair_mojibake};

/// Namespaces webcare reads, whatever prefix a feed binds them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    /// RSS (any version), Atom 0.3 and 1.0, CDF, and elements in no or an unknown default namespace.
    Core,
    Dc,
    Dcterms,
    Content,
    Media,
    Itunes,
    Slash,
    Thr,
    Xhtml,
    Rdf,
    Other,
}

fn ns_of_uri(uri: &str) -> Ns {
    let u = uri.trim().trim_end_matches(['/', '#']).to_ascii_lowercase();
    match u.as_str() {
        "http://purl.org/dc/elements/1.1" | "http://purl.org/dc/elements/1.0" => Ns::Dc,
        "http://purl.org/dc/terms" => Ns::Dcterms,
        "http://purl.org/rss/1.0/modules/content" => Ns::Content,
        "http://search.yahoo.com/mrss" | "http://tools.search.yahoo.com/mrss" => Ns::Media,
        "http://www.itunes.com/dtds/podcast-1.0.dtd" => Ns::Itunes,
        "http://purl.org/rss/1.0/modules/slash" => Ns::Slash,
        "http://purl.org/syndication/thread/1.0" => Ns::Thr,
        "http://www.w3.org/1999/xhtml" => Ns::Xhtml,
        "http://www.w3.org/1999/02/22-rdf-syntax-ns" => Ns::Rdf,
        "http://www.w3.org/2005/atom"
        | "http://purl.org/atom/ns"
        | "http://purl.org/rss/1.0"
        | "http://my.netscape.com/rdf/simple/0.9"
        | "http://backend.userland.com/rss2"
        | "http://backend.userland.com/rss"
        | "http://blogs.law.harvard.edu/tech/rss"
        | "http://purl.org/net/rss1.1" => Ns::Core,
        _ => Ns::Other,
    }
}

/// A prefix with no declaration in scope: feeds write `dc:creator` without declaring `dc`.
fn ns_of_bare_prefix(prefix: &str) -> Ns {
    match prefix.to_ascii_lowercase().as_str() {
        "dc" => Ns::Dc,
        "dcterms" => Ns::Dcterms,
        "content" => Ns::Content,
        "media" => Ns::Media,
        "itunes" => Ns::Itunes,
        "slash" => Ns::Slash,
        "thr" => Ns::Thr,
        "xhtml" => Ns::Xhtml,
        "rdf" => Ns::Rdf,
        "atom" | "atom03" | "rss" => Ns::Core,
        _ => Ns::Other,
    }
}

/// Which entry field an element feeds, and how strongly (lower wins; equal: first wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id(u8),
    Link,
    Title(u8),
    Content(u8),
    Summary(u8),
    Author(u8),
    AuthorName,
    AuthorEmail,
    Published(u8),
    Updated(u8),
    Created(u8),
    Lang,
    Comments,
    Category,
}

/// How a field's text is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain text (Atom `type="text"`).
    Text,
    /// Escaped HTML (RSS descriptions, Atom `type="html"`).
    Html,
    /// Inline markup (Atom `type="xhtml"`, `xhtml:body`): child elements are the content.
    Markup,
    /// Base64 of text (Atom 0.3 `mode="base64"`, Atom 1.0 non-text types).
    Base64 { html: bool },
}

struct Collector {
    field: Field,
    /// Stack depth of the element that started the collector.
    depth: usize,
    mode: Mode,
    buf: String,
    saw_children: bool,
}

/// A start tag's attributes, read once: what webcare looks at, and what the element adds to
/// the namespace scope and the base address.
struct StartTag {
    /// Other attributes, names lower-cased, values unescaped.
    attrs: Attrs,
    /// Namespace declarations the element pushed.
    ns_pushed: usize,
    /// The element's own `xml:base`, resolved.
    base: Option<Url>,
}

/// The attributes of the start tag being read. Their strings are kept from tag to tag and
/// overwritten, so a tag allocates only where a name or value is longer than any before it.
#[derive(Default)]
struct Attrs {
    pairs: Vec<(String, String)>,
    /// How many of `pairs` belong to the current tag.
    len: usize,
}

impl Attrs {
    /// An empty (name, value) slot at the end.
    fn push(&mut self) -> &mut (String, String) {
        if self.len == self.pairs.len() {
            self.pairs.push(Default::default());
        }
        let slot = &mut self.pairs[self.len];
        self.len += 1;
        slot.0.clear();
        slot.1.clear();
        slot
    }

    /// Drops the last slot (an attribute that turned out to be a declaration).
    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    fn as_slice(&self) -> &[(String, String)] {
        &self.pairs[..self.len]
    }
}

/// The value of attribute `name` (a local name, without `:`), with or without a namespace
/// prefix.
fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| {
            // `k` is `name`, or ends in `:name`: its part after the last colon is `name`.
            k.strip_suffix(name)
                .is_some_and(|prefix| prefix.is_empty() || prefix.ends_with(':'))
        })
        .map(|(_, v)| v.as_str())
}

/// Copies a child element's start tag into inline markup being collected.
fn copy_start_tag(buf: &mut String, qname: &str, attrs: &[(String, String)], empty: bool) {
    let local = qname.rsplit(':').next().unwrap_or(qname);
    buf.push('<');
    buf.push_str(local);
    for (k, v) in attrs {
        buf.push(' ');
        buf.push_str(k);
        buf.push_str("=\"");
        buf.push_str(&encode_double_quoted_attribute(v));
        buf.push('"');
    }
    buf.push_str(if empty { "/>" } else { ">" });
}

struct Frame<'a> {
    /// The element's name as written; borrowed from the document, as every name is when
    /// the reader hands out slices of it.
    qname: Cow<'a, str>,
    ns_pushed: usize,
    base: Option<Url>,
}

#[derive(Default)]
struct AuthorState {
    depth: usize,
    prio: u8,
    name: Option<String>,
    email: Option<String>,
    text: String,
}

/// An entry being read.
#[derive(Default)]
struct Builder {
    depth: usize,
    start: usize,
    atom: bool,
    id: Option<(u8, String)>,
    guid_is_link: bool,
    rss_link: Option<String>,
    /// Atom links, already resolved.
    links: Vec<AtomLink>,
    title: Option<(u8, String)>,
    content: Option<(u8, String)>,
    /// Every summary-like element read (`description`, `itunes:summary`, `media:description`,
    /// …) with its rank: which one is the summary is decided when the entry ends.
    summaries: Vec<(u8, String)>,
    author: Option<(u8, Option<String>, Option<String>)>,
    /// Dates are parsed as they are read, so their text need not be kept.
    published: Option<(u8, Option<DateTime<Utc>>)>,
    updated: Option<(u8, Option<DateTime<Utc>>)>,
    created: Option<(u8, Option<DateTime<Utc>>)>,
    lang: Option<String>,
    comments: Option<i64>,
    categories: Vec<String>,
    in_reply_to: Option<String>,
}

/// An Atom `<link>` of an entry, with what choosing the entry's link needs of its `rel` and
/// `type` worked out when it is read (so neither is copied).
struct AtomLink {
    /// `rel="alternate"`, or no `rel`.
    alternate: bool,
    /// A relation that never names the entry's page: the feed itself, an enclosure, a reply
    /// thread, an edit address or a licence.
    not_the_page: bool,
    /// No `type`, or an HTML one.
    html: bool,
    href: String,
}

enum EntityDef {
    Internal(String),
    External(String),
}

/// The reader's state between events.
struct DocReader<'a> {
    stack: Vec<Frame<'a>>,
    /// Prefixes in scope with what their namespace is to webcare, classified once where they
    /// are declared rather than on every element that uses them.
    namespaces: Vec<(String, Ns)>,
    entities: HashMap<String, EntityDef>,
    expanded: usize,
    entry: Option<Builder>,
    collector: Option<Collector>,
    /// The buffer the next collector collects into: one buffer serves every field in turn.
    spare: String,
    /// The attributes of the start tag being read, their strings reused (see [`Attrs`]).
    attrs: Attrs,
    author: Option<AuthorState>,
    skip_depth: Option<usize>,
    root: Option<String>,
    feed: Feed,
    doc_base: Option<Url>,
    text: &'a str,
    /// Byte offsets before and after the event being handled, for entry fingerprints.
    pos_before: usize,
    pos_after: usize,
    /// True once the input has ended, while open elements are closed.
    at_end: bool,
}

/// Reads the decoded document. `base` is the document's address, for relative links.
pub fn read(text: &str, base: Option<Url>) -> Result<Feed, FeedError> {
    read_document(text, base, true, None)
}

/// [`read`], handing each entry to `sink` as soon as it is read instead of keeping it: the
/// returned feed holds no entries. Reading stops early, with what was read so far, when `sink`
/// returns false.
pub fn read_each(
    text: &str,
    base: Option<Url>,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<Feed, FeedError> {
    read_document(text, base, true, Some(sink))
}

/// [`read`], with the reading of field text runs straight from the document
/// ([`DocReader::collect_run`]) on or off: off, every character goes through quick-xml's
/// events, which the tests compare the runs against.
fn read_document(
    text: &str,
    base: Option<Url>,
    read_runs: bool,
    mut sink: Option<&mut dyn FnMut(Entry) -> bool>,
) -> Result<Feed, FeedError> {
    let mut xml = Reader::from_str(text);
    let cfg = xml.config_mut();
    cfg.allow_dangling_amp = true;
    cfg.allow_unmatched_ends = true;
    cfg.check_end_names = false;
    cfg.check_comments = false;
    cfg.expand_empty_elements = false;
    cfg.trim_markup_names_in_closing_tags = true;
    let mut r = DocReader::new(text, base);
    let mut errors = 0usize;
    // Entries handed to `sink` so far.
    let mut handed = 0usize;
    // Bytes `collect_run` moved the reader on by, which its own position does not count:
    // added to it, every position below is the offset in `text`, as if quick-xml read them.
    let mut skipped = 0usize;
    loop {
        let before = xml.buffer_position() as usize + skipped;
        r.pos_before = before;
        let event = xml.read_event();
        r.pos_after = xml.buffer_position() as usize + skipped;
        // After these events quick-xml is between markup and text (in its `InsideText`
        // state), where the text run that follows can be read without it. After a text event
        // it may stand inside a reference already, and is left alone.
        let before_text = matches!(
            event,
            Ok(Event::Start(_)
                | Event::Empty(_)
                | Event::End(_)
                | Event::CData(_)
                | Event::GeneralRef(_)
                | Event::Comment(_))
        );
        match event {
            Ok(Event::Start(e)) => r.start(&e, false)?,
            Ok(Event::Empty(e)) => r.start(&e, true)?,
            Ok(Event::End(e)) => {
                let name = e.name();
                r.end(name.as_ref());
            }
            Ok(Event::Text(t)) => r.text(&t, false),
            Ok(Event::CData(t)) => r.text(&t, true),
            Ok(Event::GeneralRef(g)) => r.reference(&g)?,
            Ok(Event::DocType(d)) => r.doctype(&d),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                if r.feed.recovered.len() < 5 {
                    r.feed.recovered.push(format!("at byte {before}: {e}"));
                }
                // A reader that cannot move past the error, or a document that is mostly
                // errors, has given what it can.
                if (xml.buffer_position() as usize + skipped) <= before || errors > 10_000 {
                    break;
                }
            }
        }
        // Most markup is followed by more markup, or by text: only text is worth the call.
        if read_runs && before_text && xml.get_ref().first().is_some_and(|b| *b != b'<') {
            skipped += r.collect_run(xml.get_mut());
        }
        if let Some(sink) = sink.as_mut()
            && !r.feed.entries.is_empty()
            && !hand_over(&mut r.feed.entries, &mut **sink, &mut handed)
        {
            return Ok(r.feed);
        }
    }
    // End of input closes whatever is still open. An entry still open there was cut off: it
    // is left out, since stored half it would never be stored whole once the feed is fixed.
    r.pos_after = text.len();
    r.at_end = true;
    while !r.stack.is_empty() {
        r.pop();
    }
    if let Some(sink) = sink.as_mut() {
        hand_over(&mut r.feed.entries, &mut **sink, &mut handed);
    }
    if r.feed.entries.is_empty() && handed == 0 {
        nothing_read(text, &r)?;
    }
    Ok(r.feed)
}

/// Why a document that gave no entry is an error, if it is one: it has items that could not
/// be read, or it is no feed at all. A feed with no items is just empty.
fn nothing_read(text: &str, r: &DocReader<'_>) -> Result<(), FeedError> {
    let found = count_items(text);
    if found > 0 {
        return Err(FeedError::NoEntriesRead {
            found,
            cause: r.feed.recovered.first().cloned(),
        });
    }
    let root = r.root.clone().unwrap_or_default();
    let local = root.rsplit(':').next().unwrap_or("").to_ascii_lowercase();
    if !matches!(local.as_str(), "rss" | "feed" | "rdf" | "channel") {
        let start: String = text.trim_start().chars().take(40).collect();
        return Err(FeedError::NotAFeed {
            start: if root.is_empty() {
                format!("{start:?}")
            } else {
                format!("<{root}>")
            },
        });
    }
    Ok(())
}

/// Hands `entries` to `sink` in order, counting them in `handed`; false once `sink` wants no
/// more (the rest are dropped).
fn hand_over(
    entries: &mut Vec<Entry>,
    sink: &mut dyn FnMut(Entry) -> bool,
    handed: &mut usize,
) -> bool {
    for e in entries.drain(..) {
        *handed += 1;
        if !sink(e) {
            return false;
        }
    }
    true
}

/// `<item`/`<entry` start tags in the raw text, for telling an empty feed from an unread one.
fn count_items(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = memchr_lt(&b[i..]) {
        let at = i + p + 1;
        let rest = &b[at..];
        let name_end = rest
            .iter()
            .position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let local = name.rsplit(|c| *c == b':').next().unwrap_or(name);
        if local.eq_ignore_ascii_case(b"item") || local.eq_ignore_ascii_case(b"entry") {
            n += 1;
        }
        i = at;
    }
    n
}

fn memchr_lt(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'<')
}

impl<'a> DocReader<'a> {
    /// A reader at the start of `text`, whose relative links resolve against `base`.
    fn new(text: &'a str, base: Option<Url>) -> DocReader<'a> {
        DocReader {
            stack: Vec::with_capacity(16),
            namespaces: Vec::new(),
            entities: HashMap::new(),
            expanded: 0,
            entry: None,
            collector: None,
            spare: String::new(),
            attrs: Attrs::default(),
            author: None,
            skip_depth: None,
            root: None,
            feed: Feed::default(),
            doc_base: base,
            text,
            pos_before: 0,
            pos_after: 0,
            at_end: false,
        }
    }

    /// The base for relative links here: the innermost `xml:base`, else the document's.
    fn base(&self) -> Option<&Url> {
        base_of(&self.stack, self.doc_base.as_ref())
    }

    fn resolve(&self, href: &str) -> String {
        let href = href.trim();
        match self.base() {
            Some(b) if !href.is_empty() => b
                .join(href)
                .map(String::from)
                .unwrap_or_else(|_| href.to_string()),
            _ => href.to_string(),
        }
    }

    fn lookup_ns(&self, prefix: &str) -> Option<Ns> {
        self.namespaces
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, ns)| *ns)
    }

    /// The namespace and lower-case local name of an element; the name is copied only when
    /// it has capitals (CDF), since every element of every entry comes through here.
    fn classify<'q>(&self, qname: &'q str) -> (Ns, Cow<'q, str>) {
        let (prefix, local) = match qname.bytes().position(|b| b == b':') {
            Some(colon) => (&qname[..colon], &qname[colon + 1..]),
            None => ("", qname),
        };
        let local = if local.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(local.to_ascii_lowercase())
        } else {
            Cow::Borrowed(local)
        };
        let ns = match self.lookup_ns(prefix) {
            Some(ns) => match ns {
                // An unknown default namespace is still the feed's own vocabulary.
                Ns::Other if prefix.is_empty() => Ns::Core,
                Ns::Other => ns_of_bare_prefix(prefix),
                ns => ns,
            },
            None if prefix.is_empty() => Ns::Core,
            None => ns_of_bare_prefix(prefix),
        };
        (ns, local)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), FeedError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(FeedError::TooDeep { limit: MAX_DEPTH });
        }
        let name: &str = e.name().0;
        let qname = match self.in_text(name) {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(name.to_string()),
        };
        if self.root.is_none() {
            self.root = Some(name.to_string());
        }
        let tag = self.read_attributes(e)?;
        // Inside a collector, child elements are content (inline XHTML) or ignored.
        if let Some(c) = self.collector.as_mut() {
            c.saw_children = true;
            if matches!(c.mode, Mode::Markup | Mode::Text | Mode::Html) {
                copy_start_tag(&mut c.buf, &qname, tag.attrs.as_slice(), empty);
            }
            self.push_frame(qname, tag.ns_pushed, tag.base, empty);
            self.attrs = tag.attrs;
            return Ok(());
        }
        let (ns, local) = self.classify(name);
        self.stack.push(Frame {
            qname,
            ns_pushed: tag.ns_pushed,
            base: tag.base,
        });
        let depth = self.stack.len();
        let attrs = tag.attrs.as_slice();
        if self.skip_depth.is_some() {
        } else if self.entry.is_none() {
            if ns == Ns::Core && (local == "item" || local == "entry") {
                self.open_entry(local == "entry", attrs, depth);
            }
        } else if self.author.is_some() {
            let field = match (ns, &*local) {
                (Ns::Core, "name") => Some(Field::AuthorName),
                (Ns::Core, "email") => Some(Field::AuthorEmail),
                _ => None,
            };
            if let Some(field) = field {
                self.open_collector(field, depth, Mode::Text);
            }
        } else if self.entry.as_ref().is_some_and(|b| depth != b.depth + 1) && ns != Ns::Media {
            // A field is a direct child of its entry: an <id> inside an <image> is the image's.
        } else if let Some((field, mode)) = self.entry_field(ns, &local, attrs, depth) {
            self.open_collector(field, depth, mode);
        }
        self.attrs = tag.attrs;
        if empty {
            self.pop();
        }
        Ok(())
    }

    /// `s` as a slice of the document, when it is one: quick-xml's events over a `&str` are
    /// slices of it, so an element's name can be kept without a copy for as long as the
    /// reader runs. Safe whatever `s` is: its address is only compared, and the slice found
    /// must hold the same text.
    fn in_text(&self, s: &str) -> Option<&'a str> {
        let offset = (s.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        self.text
            .get(offset..offset.checked_add(s.len())?)
            .filter(|t| *t == s)
    }

    /// A start tag's attributes: namespace declarations are pushed onto the scope (and
    /// counted, to be dropped with the element), `xml:base` resolved, the rest kept by name.
    fn read_attributes(&mut self, e: &BytesStart<'_>) -> Result<StartTag, FeedError> {
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.len = 0;
        let mut ns_pushed = 0;
        let mut xml_base = None;
        for a in e.html_attributes().with_checks(false) {
            let Ok(a) = a else { break };
            let key: &str = a.key.as_ref();
            let slot = attrs.push();
            self.unescape_attr(&a.value, &mut slot.1)?;
            if key == "xmlns" {
                self.namespaces.push((String::new(), ns_of_uri(&slot.1)));
                ns_pushed += 1;
                attrs.pop();
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                self.namespaces.push((p.to_string(), ns_of_uri(&slot.1)));
                ns_pushed += 1;
                attrs.pop();
            } else if key == "xml:base" {
                xml_base = Some(slot.1.clone());
                attrs.pop();
            } else {
                slot.0.push_str(key);
                slot.0.make_ascii_lowercase();
            }
        }
        let base = match xml_base {
            Some(b) => match self.base() {
                Some(parent) => parent.join(b.trim()).ok(),
                None => Url::parse(b.trim()).ok(),
            },
            // Only an element with its own xml:base carries one; the rest look up the stack.
            None => None,
        };
        Ok(StartTag {
            attrs,
            ns_pushed,
            base,
        })
    }

    /// Starts reading an `<item>` or `<entry>`, with what its own attributes say.
    fn open_entry(&mut self, atom: bool, attrs: &[(String, String)], depth: usize) {
        let mut b = Builder {
            depth,
            start: self.pos_before,
            atom,
            ..Builder::default()
        };
        if let Some(about) =
            attr(attrs, "about").filter(|_| attrs.iter().any(|(k, _)| k.starts_with("rdf:")))
        {
            b.id = Some((1, about.to_string()));
        }
        // CDF items carry their link and date as attributes.
        if let Some(href) = attr(attrs, "href") {
            b.rss_link = Some(self.resolve(href));
        }
        if let Some(d) = attr(attrs, "lastmod") {
            b.updated = Some((1, parse_date(d)));
        }
        b.lang = attrs
            .iter()
            .find(|(k, _)| k == "xml:lang")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        self.entry = Some(b);
    }

    /// The entry field a direct child of the entry feeds, and how its text is read; elements
    /// whose attributes are the whole value (Atom links, categories, threading) are taken here.
    fn entry_field(
        &mut self,
        ns: Ns,
        local: &str,
        attrs: &[(String, String)],
        depth: usize,
    ) -> Option<(Field, Mode)> {
        let atom = self.entry.as_ref().is_some_and(|b| b.atom);
        let text_default = if atom { Mode::Text } else { Mode::Html };
        let mode = |default| content_mode(&|n: &str| attr(attrs, n), default);
        match (ns, local) {
            (Ns::Core, "source") => {
                // An Atom <source> describes another feed; its title and author are not the entry's.
                if atom {
                    self.skip_depth = Some(depth);
                }
                None
            }
            (Ns::Core, "author") => {
                self.author = Some(AuthorState {
                    depth,
                    prio: 0,
                    ..AuthorState::default()
                });
                None
            }
            (Ns::Dc, "creator") | (Ns::Dc, "author") => Some((Field::Author(1), Mode::Text)),
            (Ns::Itunes, "author") => Some((Field::Author(2), Mode::Text)),
            (Ns::Core, "guid") => {
                self.note_guid(attrs);
                Some((Field::Id(0), Mode::Text))
            }
            (Ns::Core, "id") => {
                // An Atom id that is a web address is the entry's link when it has no other,
                // as feedparser has it: staff get a page to answer on.
                if let Some(b) = self.entry.as_mut() {
                    b.guid_is_link = true;
                }
                Some((Field::Id(0), Mode::Text))
            }
            (Ns::Core, "link") => self.link_field(attrs),
            (Ns::Core, "title") => Some((Field::Title(0), mode(text_default))),
            (Ns::Dc, "title") => Some((Field::Title(1), Mode::Html)),
            (Ns::Media, "title") => Some((Field::Title(2), Mode::Html)),
            (Ns::Core, "content") => Some((Field::Content(0), mode(text_default))),
            (Ns::Content, "encoded") | (Ns::Core, "fullitem") => {
                Some((Field::Content(0), Mode::Html))
            }
            (Ns::Xhtml, "body") | (Ns::Core, "body") => Some((Field::Content(0), Mode::Markup)),
            (Ns::Core, "description") | (Ns::Core, "abstract") => {
                Some((Field::Summary(0), mode(Mode::Html)))
            }
            (Ns::Core, "summary") => Some((Field::Summary(0), mode(text_default))),
            (Ns::Dc, "description") => Some((Field::Summary(1), Mode::Html)),
            (Ns::Itunes, "summary") => Some((Field::Summary(2), Mode::Html)),
            (Ns::Media, "description") => Some((Field::Summary(3), Mode::Html)),
            (Ns::Itunes, "subtitle") => Some((Field::Summary(4), Mode::Html)),
            (Ns::Core, "pubdate" | "published" | "issued") => {
                Some((Field::Published(0), Mode::Text))
            }
            (Ns::Dcterms, "issued") => Some((Field::Published(1), Mode::Text)),
            (Ns::Core, "updated" | "modified") => Some((Field::Updated(0), Mode::Text)),
            (Ns::Dc, "date") | (Ns::Dcterms, "modified") => Some((Field::Updated(1), Mode::Text)),
            (Ns::Core, "created") => Some((Field::Created(0), Mode::Text)),
            (Ns::Dcterms, "created" | "date") => Some((Field::Created(1), Mode::Text)),
            (Ns::Dc, "language") => Some((Field::Lang, Mode::Text)),
            (Ns::Slash, "comments") | (Ns::Thr, "total") => Some((Field::Comments, Mode::Text)),
            (Ns::Thr, "in-reply-to") => {
                self.note_reply_to(attrs);
                None
            }
            (Ns::Core, "category") => self.category_field(attrs),
            (Ns::Dc, "subject") => Some((Field::Category, Mode::Text)),
            _ => None,
        }
    }

    /// A `<guid>` is the entry's link too unless it says `isPermaLink="false"`.
    fn note_guid(&mut self, attrs: &[(String, String)]) {
        let permalink =
            attr(attrs, "ispermalink").is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        if let Some(b) = self.entry.as_mut()
            && b.id.as_ref().is_none_or(|(p, _)| *p > 0)
        {
            b.guid_is_link = permalink;
        }
    }

    /// An Atom link (`href`) is kept with its relation; a link written as text (RSS, and Atom
    /// 0.3 feeds that put the address in the element) is read as text when it is the
    /// alternate one. `<link rel="enclosure">…</link>` is no link to the entry.
    fn link_field(&mut self, attrs: &[(String, String)]) -> Option<(Field, Mode)> {
        if let Some(href) = attr(attrs, "href") {
            let rel = attr(attrs, "rel").unwrap_or("alternate").trim();
            let ty = attr(attrs, "type").unwrap_or("").trim();
            let link = AtomLink {
                alternate: rel.eq_ignore_ascii_case("alternate"),
                not_the_page: ["self", "enclosure", "replies", "edit", "license"]
                    .iter()
                    .any(|r| rel.eq_ignore_ascii_case(r)),
                html: ty.is_empty()
                    || ty
                        .as_bytes()
                        .windows(4)
                        .any(|w| w.eq_ignore_ascii_case(b"html")),
                href: self.resolve(href),
            };
            if let Some(b) = self.entry.as_mut() {
                b.links.push(link);
            }
            None
        } else if attr(attrs, "rel").is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate")) {
            Some((Field::Link, Mode::Text))
        } else {
            None
        }
    }

    /// The first `thr:in-reply-to` is the post answered; `ref` is its id, as the entry that is
    /// answered writes it in its own `<id>`.
    fn note_reply_to(&mut self, attrs: &[(String, String)]) {
        if let Some(r) = attr(attrs, "ref").map(str::trim).filter(|r| !r.is_empty())
            && let Some(b) = self.entry.as_mut()
            && b.in_reply_to.is_none()
        {
            b.in_reply_to = Some(r.to_string());
        }
    }

    /// An Atom category's `term`, or an RSS category's text.
    fn category_field(&mut self, attrs: &[(String, String)]) -> Option<(Field, Mode)> {
        match attr(attrs, "term").filter(|t| !t.trim().is_empty()) {
            Some(term) => {
                let term = term.trim().to_string();
                if let Some(b) = self.entry.as_mut() {
                    b.categories.push(term);
                }
                None
            }
            None => Some((Field::Category, Mode::Text)),
        }
    }

    fn push_frame(
        &mut self,
        qname: Cow<'a, str>,
        ns_pushed: usize,
        base: Option<Url>,
        empty: bool,
    ) {
        self.stack.push(Frame {
            qname,
            ns_pushed,
            base,
        });
        if empty {
            // Already serialised as `<x/>`: pop without a closing tag.
            if let Some(f) = self.stack.pop() {
                self.drop_ns(f.ns_pushed);
            }
        }
    }

    fn open_collector(&mut self, field: Field, depth: usize, mode: Mode) {
        self.collector = Some(Collector {
            field,
            depth,
            mode,
            buf: std::mem::take(&mut self.spare),
            saw_children: false,
        });
    }

    fn drop_ns(&mut self, n: usize) {
        let keep = self.namespaces.len().saturating_sub(n);
        self.namespaces.truncate(keep);
    }

    fn end(&mut self, name: &str) {
        let at = self
            .stack
            .iter()
            .rposition(|f| f.qname == name)
            .or_else(|| {
                self.stack
                    .iter()
                    .rposition(|f| f.qname.eq_ignore_ascii_case(name))
            });
        match at {
            Some(i) => {
                while self.stack.len() > i {
                    self.pop();
                }
            }
            None => {
                if self.feed.recovered.len() < 5 {
                    self.feed
                        .recovered
                        .push(format!("stray closing tag </{name}> ignored"));
                }
            }
        }
    }

    /// Closes the innermost open element.
    fn pop(&mut self) {
        let depth = self.stack.len();
        let Some(frame) = self.stack.pop() else {
            return;
        };
        self.drop_ns(frame.ns_pushed);
        if let Some(c) = self.collector.as_mut() {
            if c.depth < depth {
                let local = frame.qname.rsplit(':').next().unwrap_or(&*frame.qname);
                c.buf.push_str("</");
                c.buf.push_str(local);
                c.buf.push('>');
                return;
            }
            if let Some(c) = self.collector.take() {
                self.finish_collector(c);
            }
        }
        if self.skip_depth == Some(depth) {
            self.skip_depth = None;
        }
        if self.author.as_ref().is_some_and(|a| a.depth == depth)
            && let Some(a) = self.author.take()
        {
            let (name, email) = if a.name.is_some() || a.email.is_some() {
                (a.name, a.email)
            } else {
                split_author(&a.text)
            };
            if let Some(b) = self.entry.as_mut() {
                merge_author(&mut b.author, a.prio, name, email);
            }
        }
        if self.entry.as_ref().is_some_and(|b| b.depth == depth)
            && let Some(b) = self.entry.take()
        {
            self.collector = None;
            self.author = None;
            self.skip_depth = None;
            if self.at_end {
                self.feed
                    .recovered
                    .push("the last entry is cut off by the end of the document; left out".into());
                return;
            }
            let start = b.start;
            let mut e = b.finish();
            // Only an entry with neither id nor link is ever told apart by its markup
            // (`markup_id`); hashing every entry's bytes would cost more than the rest of it.
            if e.id.is_none() && e.link.is_none() {
                let markup = self.text.get(start..self.pos_after).unwrap_or("");
                e.fingerprint = crate::text::fnv1a(markup);
            }
            self.feed.entries.push(e);
        }
    }

    fn finish_collector(&mut self, c: Collector) {
        let mut buf = c.buf;
        self.take_field(c.field, c.mode, c.saw_children, &buf);
        // Kept for the next field, so most fields allocate only their result.
        buf.clear();
        self.spare = buf;
    }

    /// Sets the entry field a collector was gathering from its text `raw`.
    fn take_field(&mut self, field: Field, mode: Mode, saw_children: bool, raw: &str) {
        let Some(b) = self.entry.as_mut() else { return };
        // A link in a body is noted with its target resolved; a title shows the words alone.
        let base = base_of(&self.stack, self.doc_base.as_ref());
        let body_links = base.map_or(LinkNotes::AsWritten, LinkNotes::ResolvedAgainst);
        match field {
            Field::Id(p) => {
                let v = raw.trim().to_string();
                if !v.is_empty() {
                    set_by_priority(&mut b.id, p, v);
                }
            }
            Field::Link => {
                let v = raw.trim();
                if !v.is_empty() && b.rss_link.is_none() {
                    let resolved = match base {
                        Some(base) => base
                            .join(v)
                            .map(String::from)
                            .unwrap_or_else(|_| v.to_string()),
                        None => v.to_string(),
                    };
                    b.rss_link = Some(resolved);
                }
            }
            Field::Title(p) => {
                let t = to_text(raw, mode, saw_children, LinkNotes::Omitted);
                if !t.is_empty() {
                    set_by_priority(&mut b.title, p, t);
                }
            }
            Field::Content(p) => {
                let t = to_text(raw, mode, saw_children, body_links);
                if !t.is_empty() {
                    set_by_priority(&mut b.content, p, t);
                }
            }
            Field::Summary(p) => {
                let t = to_text(raw, mode, saw_children, body_links);
                if !t.is_empty() {
                    b.summaries.push((p, t));
                }
            }
            Field::Author(p) => {
                let (name, email) = split_author(&html_to_text(raw));
                merge_author(&mut b.author, p, name, email);
            }
            Field::AuthorName => {
                if let Some(a) = self.author.as_mut() {
                    a.name = Some(html_to_text(raw)).filter(|n| !n.is_empty());
                }
            }
            Field::AuthorEmail => {
                if let Some(a) = self.author.as_mut() {
                    a.email = Some(raw.trim().trim_start_matches("mailto:").to_string())
                        .filter(|n| !n.is_empty());
                }
            }
            Field::Published(p) => set_by_priority(&mut b.published, p, parse_date(raw)),
            Field::Updated(p) => set_by_priority(&mut b.updated, p, parse_date(raw)),
            Field::Created(p) => set_by_priority(&mut b.created, p, parse_date(raw)),
            Field::Lang => {
                if b.lang.is_none() && !raw.trim().is_empty() {
                    b.lang = Some(raw.trim().to_string());
                }
            }
            Field::Comments => b.comments = raw.trim().parse().ok(),
            Field::Category => {
                let t = raw.trim();
                if !t.is_empty() {
                    b.categories.push(t.to_string());
                }
            }
        }
    }

    /// Reads the character data ahead of the reader (`rest`, the part of the document it has
    /// not read) up to the next `<` into wherever [`Self::text`] puts text (the field being
    /// collected, an author's text, or nowhere), and moves the reader past it; returns how
    /// many bytes that was. Escaped HTML is text cut by `&lt;`/`&gt;` every few characters,
    /// and a pretty-printed feed has white space between every two tags: quick-xml hands each
    /// piece and each reference over as an event of its own; here the run costs one scan.
    /// What lands in the field is what [`Self::text`] and [`Self::reference`] make of those
    /// events. Only predefined and character references are
    /// read here: at any other `&` (an entity the document declares, whose expansion is
    /// counted against [`MAX_ENTITY_EXPANSION`]; an HTML entity; an `&` that is no reference)
    /// the run stops before it and quick-xml reads on from there as it would have.
    fn collect_run(&mut self, rest: &mut &'a [u8]) -> usize {
        let depth = self.stack.len();
        // Where `text` and `reference` would put the run, and whether it is inline markup.
        let (mut sink, markup) = match (self.collector.as_mut(), self.author.as_mut()) {
            (Some(c), _) => (Some(&mut c.buf), c.mode == Mode::Markup),
            (None, Some(a)) if a.depth == depth => (Some(&mut a.text), false),
            _ => (None, false),
        };
        let text = self.text;
        let bytes = text.as_bytes();
        // The reader reads `text` itself: what it has left is the end of it.
        let start = text.len().saturating_sub(rest.len());
        let mut at = start;
        while let Some(i) = find_lt_or_amp(&bytes[at..]) {
            let amp = at + i;
            if amp > at
                && let Some(buf) = sink.as_deref_mut()
            {
                let Some(chars) = text.get(at..amp) else {
                    break;
                };
                buf.push_str(chars);
            }
            at = amp;
            if bytes[amp] == b'<' {
                break;
            }
            let Some((ch, len)) = simple_reference(&text[amp + 1..]) else {
                break;
            };
            match sink.as_deref_mut() {
                // Markup stays markup, as in `reference`: written back as it was.
                Some(buf) if markup => buf.push_str(&text[amp..amp + len]),
                Some(buf) => buf.push(ch),
                None => {}
            }
            at = amp + len;
        }
        let read = at - start;
        *rest = rest.get(read..).unwrap_or_default();
        read
    }

    fn text(&mut self, t: &str, cdata: bool) {
        if let Some(c) = self.collector.as_mut() {
            if cdata && matches!(c.mode, Mode::Markup) {
                c.buf.push_str(&encode_double_quoted_attribute(t));
            } else {
                c.buf.push_str(t);
            }
        } else if let Some(a) = self.author.as_mut()
            && a.depth == self.stack.len()
        {
            a.text.push_str(t);
        }
    }

    fn reference(&mut self, g: &str) -> Result<(), FeedError> {
        if self.collector.is_none() && self.author.is_none() {
            // Outside anything webcare reads; still expand, so a bomb anywhere is caught.
            if self.entities.contains_key(g) {
                let _ = self.expand(g, 0)?;
            }
            return Ok(());
        }
        let markup = self
            .collector
            .as_ref()
            .is_some_and(|c| c.mode == Mode::Markup);
        let (text, predefined) = self.expand(g, 0)?;
        let depth = self.stack.len();
        let buf = match (self.collector.as_mut(), self.author.as_mut()) {
            (Some(c), _) => &mut c.buf,
            (None, Some(a)) if a.depth == depth => &mut a.text,
            _ => return Ok(()),
        };
        if markup && predefined {
            // Markup stays markup: `&lt;` is written back as it was.
            buf.push('&');
            buf.push_str(g);
            buf.push(';');
        } else if markup {
            buf.push_str(&encode_double_quoted_attribute(&text));
        } else {
            buf.push_str(&text);
        }
        Ok(())
    }

    /// The text an entity reference stands for, and whether it was a predefined or character
    /// reference. Internal entities expand recursively within [`MAX_ENTITY_EXPANSION`] bytes
    /// per document; external ones are an error, never a read.
    fn expand(&mut self, name: &str, level: usize) -> Result<(Cow<'static, str>, bool), FeedError> {
        if let Some(num) = name.strip_prefix('#') {
            return Ok((Cow::Owned(char_ref(num).to_string()), true));
        }
        if let Some(p) = predefined_entity(name) {
            // Escaped markup is mostly these: no allocation for them.
            return Ok((Cow::Borrowed(p), true));
        }
        match self.entities.get(name) {
            Some(EntityDef::External(target)) => Err(FeedError::ExternalEntity {
                name: name.to_string(),
                target: target.clone(),
            }),
            Some(EntityDef::Internal(value)) => {
                if level > 16 {
                    return Err(FeedError::EntityBomb {
                        limit: MAX_ENTITY_EXPANSION,
                    });
                }
                let value = value.clone();
                let mut out = String::new();
                let mut rest = value.as_str();
                while let Some(amp) = rest.find('&') {
                    out.push_str(&rest[..amp]);
                    let after = &rest[amp + 1..];
                    match after.find(';') {
                        Some(semi) if semi > 0 && !after[..semi].contains(char::is_whitespace) => {
                            let (t, _) = self.expand(&after[..semi], level + 1)?;
                            out.push_str(&t);
                            rest = &after[semi + 1..];
                        }
                        _ => {
                            out.push('&');
                            rest = after;
                        }
                    }
                    if out.len() > MAX_ENTITY_EXPANSION {
                        return Err(FeedError::EntityBomb {
                            limit: MAX_ENTITY_EXPANSION,
                        });
                    }
                }
                out.push_str(rest);
                self.expanded += out.len();
                if self.expanded > MAX_ENTITY_EXPANSION {
                    return Err(FeedError::EntityBomb {
                        limit: MAX_ENTITY_EXPANSION,
                    });
                }
                Ok((Cow::Owned(out), false))
            }
            None => {
                // Not declared: an HTML entity (feeds use &nbsp; and &eacute; freely), else kept as written.
                let written = format!("&{name};");
                let decoded = html_escape::decode_html_entities(&written);
                Ok((Cow::Owned(decoded.into_owned()), false))
            }
        }
    }

    /// Records the `<!ENTITY …>` declarations of the internal subset. Parameter entities are
    /// skipped; external ones are remembered only so that a reference to one is refused.
    fn doctype(&mut self, d: &str) {
        let mut rest = d;
        while let Some(i) = rest.find("<!ENTITY") {
            rest = rest[i + 8..].trim_start();
            if rest.starts_with('%') {
                continue;
            }
            let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let name = rest[..name_end].to_string();
            rest = rest[name_end..].trim_start();
            let def = if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &rest[1..];
                let end = body.find(q).unwrap_or(body.len());
                let value = body[..end].to_string();
                rest = &body[end.saturating_add(1).min(body.len())..];
                EntityDef::Internal(value)
            } else {
                let end = rest.find('>').unwrap_or(rest.len());
                let target = rest[..end].trim().to_string();
                rest = &rest[end..];
                EntityDef::External(target)
            };
            if !name.is_empty() {
                self.entities.entry(name).or_insert(def);
            }
        }
    }

    /// Appends attribute value `raw` to `out` with its references expanded.
    fn unescape_attr(&mut self, raw: &str, out: &mut String) -> Result<(), FeedError> {
        if !raw.contains('&') {
            out.push_str(raw);
            return Ok(());
        }
        out.reserve(raw.len());
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            match after.find(';') {
                Some(semi)
                    if semi > 0 && semi < 32 && !after[..semi].contains(char::is_whitespace) =>
                {
                    let (t, _) = self.expand(&after[..semi], 0)?;
                    out.push_str(&t);
                    rest = &after[semi + 1..];
                }
                _ => {
                    out.push('&');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// The predefined or character reference at the start of `after` (the text after an `&`):
/// the character it stands for, and its length with the `&` and `;`. `None` for any other
/// reference, or an `&` that is none. A reference ends where quick-xml ends it: at the first
/// `;`, unless `&` or `<` comes first.
fn simple_reference(after: &str) -> Option<(char, usize)> {
    let b = after.as_bytes();
    if b.first() == Some(&b'#') {
        let semi = memchr::memchr3(b';', b'&', b'<', b).filter(|&j| b[j] == b';')?;
        return Some((char_ref(&after[1..semi]), semi + 2));
    }
    // A predefined name is followed by its `;` directly; anything longer is another name.
    let (name, ch) = match b.first()? {
        b'l' => ("lt;", '<'),
        b'g' => ("gt;", '>'),
        b'a' if b.get(1) == Some(&b'm') => ("amp;", '&'),
        b'a' => ("apos;", '\''),
        b'q' => ("quot;", '"'),
        _ => return None,
    };
    b.starts_with(name.as_bytes())
        .then_some((ch, name.len() + 1))
}

/// The offset of the first `<` or `&` in `b`. Most pieces of escaped markup are a few bytes
/// (the `p` of `&lt;p&gt;`), too short to pay for the call into a vectorised search: the
/// first 32 bytes are read a word at a time, and only a longer run goes to `memchr2`.
fn find_lt_or_amp(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The bytes of `w` equal to `c`, marked by their high bit. Only the lowest mark is sure
    // (a borrow can mark a byte above a match), and only the lowest is wanted.
    let marks = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut i = 0;
    while i < 32 {
        let Some(chunk) = b.get(i..i + 8) else { break };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let m = marks(w, b'<') | marks(w, b'&');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr2(b'<', b'&', &b[i..]).map(|p| i + p)
}

/// The character a character reference (`&#…;`, given without the `#`) stands for; U+FFFD
/// where the number is no character.
fn char_ref(num: &str) -> char {
    let code = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => num.parse().ok(),
    };
    code.and_then(char::from_u32).unwrap_or('\u{fffd}')
}

/// The text of one of XML's five predefined entities; a DTD cannot redefine them.
fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "quot" => Some("\""),
        "apos" => Some("'"),
        _ => None,
    }
}

/// The mode an Atom `type` (1.0) or `mode` (0.3) attribute asks for.
fn content_mode<'a>(attr: &impl Fn(&str) -> Option<&'a str>, default: Mode) -> Mode {
    // The media type without parameters, lower-cased; copied only when it has capitals.
    let ty = attr("type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    let ty: Cow<'_, str> = if ty.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(ty.to_ascii_lowercase())
    } else {
        Cow::Borrowed(ty)
    };
    let html_type = ty == "html" || ty == "text/html";
    let mode = attr("mode").map(str::trim);
    let mode_is = |m: &str| mode.is_some_and(|mode| mode.eq_ignore_ascii_case(m));
    if mode_is("base64") {
        return Mode::Base64 {
            html: html_type || ty.contains("xml") || ty.is_empty(),
        };
    }
    if mode_is("escaped") {
        return if ty == "text/plain" || ty == "text" {
            Mode::Text
        } else {
            Mode::Html
        };
    }
    if mode_is("xml") {
        return Mode::Markup;
    }
    match &*ty {
        "" => default,
        "text" | "text/plain" => Mode::Text,
        "html" | "text/html" => Mode::Html,
        "xhtml" | "application/xhtml+xml" => Mode::Markup,
        t if t.ends_with("+xml") || t.ends_with("/xml") => Mode::Markup,
        t if t.starts_with("text/") => Mode::Text,
        _ => Mode::Base64 { html: true },
    }
}

/// The entry's author, the best-ranked one that names anybody (lower `prio` ranks higher);
/// a name or address it lacks is taken from another kind of author element: an RSS
/// `<author>` with an address alone gets its name from `dc:creator` or `itunes:author`.
fn merge_author(
    slot: &mut Option<(u8, Option<String>, Option<String>)>,
    prio: u8,
    name: Option<String>,
    email: Option<String>,
) {
    if name.is_none() && email.is_none() {
        return;
    }
    match slot {
        None => *slot = Some((prio, name, email)),
        Some((p, n, e)) if *p > prio => {
            let (old_name, old_email) = (n.take(), e.take());
            *slot = Some((prio, name.or(old_name), email.or(old_email)));
        }
        // A second author of the same kind is another person: nothing of theirs is mixed in.
        Some((p, n, e)) if *p != prio => {
            if n.is_none() {
                *n = name;
            }
            if e.is_none() {
                *e = email;
            }
        }
        Some(_) => {}
    }
}

/// An `http:` or `https:` address, in any case: an id in that form is a page.
fn is_web_address(id: &str) -> bool {
    let scheme = id.split_once("://").map_or("", |(s, _)| s);
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// The base for relative links inside the element on top of `stack`: the innermost
/// `xml:base`, else the document's.
fn base_of<'u>(stack: &'u [Frame<'_>], doc_base: Option<&'u Url>) -> Option<&'u Url> {
    stack
        .iter()
        .rev()
        .find_map(|f| f.base.as_ref())
        .or(doc_base)
}

/// A field's collected text as the plain text webcare stores, links noted as `notes` says,
/// and UTF-8 that was read as Latin-1 upstream put back ([`repair_mojibake`]).
fn to_text(raw: &str, mode: Mode, saw_children: bool, notes: LinkNotes<'_>) -> String {
    // Repaired before the markup goes: "Ã " ("à" read as Latin-1) ends in a no-break space,
    // which the conversion would fold into a plain one.
    field_text(&repair_mojibake(raw), mode, saw_children, notes)
}

fn field_text(raw: &str, mode: Mode, saw_children: bool, notes: LinkNotes<'_>) -> String {
    let html_to_text = |s: &str| html_to_text_with(s, notes);
    match mode {
        Mode::Html | Mode::Markup => html_to_text(raw),
        Mode::Text if saw_children => html_to_text(raw),
        Mode::Text => plain(raw),
        Mode::Base64 { html } => {
            let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            let engine = base64::engine::general_purpose::STANDARD;
            let lenient = base64::engine::general_purpose::STANDARD_NO_PAD;
            match engine
                .decode(compact.as_bytes())
                .or_else(|_| lenient.decode(compact.trim_end_matches('=').as_bytes()))
            {
                Ok(bytes) => {
                    let s = String::from_utf8_lossy(&bytes);
                    if html { html_to_text(&s) } else { plain(&s) }
                }
                // Not base64 after all: read it as the text it is.
                Err(_) => html_to_text(raw),
            }
        }
    }
}

/// Plain text kept as written, except that anything a browser would run goes through the
/// HTML sanitiser: a stored mention never carries a script, a handler or a `javascript:` URL.
fn plain(s: &str) -> String {
    // Every pattern below holds a `<`, `:` or `=`: text with none of them (most titles) is
    // safe without the lower-cased copy and the scans.
    let risky = s.bytes().any(|b| matches!(b, b'<' | b':' | b'=')) && {
        let lower = s.to_ascii_lowercase();
        [
            "<script",
            "<style",
            "javascript:",
            "vbscript:",
            "<iframe",
            "<object",
            "<embed",
        ]
        .iter()
        .any(|p| lower.contains(p))
            || has_event_handler(&lower)
    };
    if risky {
        squash_whitespace(&html_to_text(s)).into_owned()
    } else {
        squash_whitespace(s).into_owned()
    }
}

/// `s` with each run of white space made one space and none at either end; `s` itself,
/// uncopied, when it is that already.
fn squash_whitespace(s: &str) -> Cow<'_, str> {
    let mut after_word = false;
    let mut squashed = true;
    for c in s.chars() {
        if !c.is_whitespace() {
            after_word = true;
        } else if c == ' ' && after_word {
            after_word = false;
        } else {
            squashed = false;
            break;
        }
    }
    if squashed && (after_word || s.is_empty()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn has_event_handler(lower: &str) -> bool {
    let b = lower.as_bytes();
    let mut i = 0;
    while let Some(p) = lower[i..].find(" on") {
        let mut j = i + p + 3;
        let start = j;
        while j < b.len() && b[j].is_ascii_lowercase() {
            j += 1;
        }
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j > start && j < b.len() && b[j] == b'=' {
            return true;
        }
        i = i + p + 3;
    }
    false
}

/// The summary of an entry from its summary-like elements: the best-ranked one (lower rank
/// first; on a tie the first read), replaced by a lower-ranked one that holds all of its words and
/// more. Podcast and video feeds often put a teaser in `description` ("Melvyn Bragg and guests
/// discuss...") and the whole text in `itunes:summary` or `media:description`; a watch must
/// see the words of the whole text.
fn fullest_summary(mut summaries: Vec<(u8, String)>) -> Option<String> {
    summaries.sort_by_key(|(rank, _)| *rank);
    let mut candidates = summaries.into_iter().map(|(_, t)| t);
    let mut best = candidates.next()?;
    for other in candidates {
        if other.len() > best.len() && squash(&other).contains(&squash(cut_mark_off(&best))) {
            best = other;
        }
    }
    Some(best)
}

/// `text` without white space, to compare texts whatever their line breaks and indentation.
fn squash(text: &str) -> String {
    text.split_whitespace().collect()
}

/// `text` without the ellipsis that marks a teaser cut short ("discuss...", "[…]").
fn cut_mark_off(text: &str) -> &str {
    let t = text.trim_end();
    ["[...]", "[\u{2026}]", "...", "\u{2026}"]
        .iter()
        .find_map(|mark| t.strip_suffix(mark))
        .unwrap_or(t)
}

/// Puts `value` in `slot` unless what is there came from a stronger source (a lower
/// priority number; on a tie the first one read stays).
fn set_by_priority<T>(slot: &mut Option<(u8, T)>, prio: u8, value: T) {
    if slot.as_ref().is_none_or(|(p, _)| *p > prio) {
        *slot = Some((prio, value));
    }
}

/// `jan@example.org (Jan Jansen)`, `Jan Jansen <jan@example.org>`, a bare name or address:
/// the name and the e-mail address, as feedparser splits them.
pub fn split_author(s: &str) -> (Option<String>, Option<String>) {
    let s = s.trim();
    let email = s
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '"' | ','))
        .map(|w| w.trim_start_matches("mailto:"))
        .find(|w| {
            w.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
        })
        .map(str::to_string);
    let mut name = s.to_string();
    if let Some(e) = &email {
        name = name
            .replace(&format!("mailto:{e}"), "")
            .replace(e.as_str(), "")
            .replace("()", "")
            .replace("<>", "");
        let trimmed = name.trim();
        let trimmed = trimmed.strip_prefix('(').unwrap_or(trimmed);
        let trimmed = trimmed.strip_suffix(')').unwrap_or(trimmed);
        name = trimmed.trim().to_string();
    }
    let name =
        Some(name.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|n| !n.is_empty());
    (name, email)
}

impl Builder {
    fn finish(self) -> Entry {
        let id = self.id.map(|(_, v)| v);
        // The last alternate link of type HTML (or of no type), as feedparser has it: where a
        // rel-less link precedes an explicit `rel="alternate" type="text/html"`, the explicit one;
        // else any alternate; else whatever is not the feed itself, an enclosure or a reply thread.
        let mut links = self.links;
        let atom_link = links
            .iter()
            .rposition(|l| l.alternate && l.html)
            .or_else(|| links.iter().position(|l| l.alternate))
            .or_else(|| links.iter().position(|l| !l.not_the_page))
            .map(|i| links.swap_remove(i).href);
        let mut link = self.rss_link.or(atom_link).filter(|l| !l.is_empty());
        if link.is_none()
            && self.guid_is_link
            && let Some(g) = id.as_deref().filter(|g| is_web_address(g))
        {
            link = Some(g.to_string());
        }
        let content = self.content.map(|(_, t)| t);
        let summary = fullest_summary(self.summaries);
        let text = match (content, summary) {
            (Some(c), Some(s)) => {
                // Keep the summary too when it says something the content does not.
                if squash(&c).contains(&squash(&s)) {
                    c
                } else {
                    format!("{c}\n\n{s}")
                }
            }
            (Some(c), None) => c,
            (None, Some(s)) => s,
            (None, None) => String::new(),
        };
        let date = |d: Option<(u8, Option<DateTime<Utc>>)>| d.and_then(|(_, d)| d);
        let published = date(self.published);
        let updated = date(self.updated);
        let created = date(self.created);
        let (author_name, author_email) = match self.author {
            Some((_, n, e)) => (n.map(|n| repair_mojibake(&n).into_owned()), e),
            None => (None, None),
        };
        Entry {
            id,
            link,
            title: self.title.map(|(_, t)| t),
            text,
            author_name,
            author_email,
            published: published.or(updated).or(created),
            updated,
            lang: self.lang,
            comments: self.comments,
            categories: self.categories,
            in_reply_to: self.in_reply_to,
            fingerprint: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squashing_white_space_is_splitting_and_joining_without_the_copy() {
        for s in [
            "", "a", "a b", " a", "a ", "a  b", "a\tb", "a\nb", "a\u{a0}b", "é b", " ", "Re: x",
        ] {
            let want = s.split_whitespace().collect::<Vec<_>>().join(" ");
            let got = squash_whitespace(s);
            assert_eq!(got, want, "{s:?}");
            assert_eq!(matches!(got, Cow::Borrowed(_)), want == s, "{s:?}");
        }
    }

    #[test]
    fn attributes_are_found_by_local_name_only() {
        let attrs: Vec<(String, String)> = vec![
            ("xabout".into(), "not this".into()),
            ("rdf:about".into(), "http://e.example/1".into()),
            ("type".into(), "html".into()),
        ];
        assert_eq!(attr(&attrs, "about"), Some("http://e.example/1"));
        assert_eq!(attr(&attrs, "type"), Some("html"));
        assert_eq!(attr(&attrs, "ype"), None);
    }

    #[test]
    fn plain_text_that_could_run_goes_through_the_sanitiser() {
        assert_eq!(plain("  Post   1 "), "Post 1");
        assert_eq!(plain("a <script>alert(1)</script> b"), "a b");
        assert_eq!(plain("see <a href=\"javascript:x()\">this</a>"), "see this");
    }

    /// `doc` read with the text runs read straight from the document, after checking that
    /// this gives what quick-xml's events give, to the byte (positions and fingerprints too).
    fn read_both_ways(doc: &str) -> Result<Feed, FeedError> {
        let runs = read_document(doc, None, true, None);
        let events = read_document(doc, None, false, None);
        assert_eq!(format!("{runs:?}"), format!("{events:?}"), "{doc}");
        runs
    }

    fn rss_item(fields: &str) -> String {
        format!("<rss><channel><item>{fields}</item></channel></rss>")
    }

    #[test]
    fn text_runs_read_from_the_document_give_what_the_events_give() {
        // Escaped markup with predefined and character references.
        let feed = read_both_ways(&rss_item(
            "<guid>1</guid><description>&lt;p&gt;Caf&#233; &amp; caf&#xE9; &quot;x&quot; \
             &apos;y&apos; &lt;a href=\"https://e.example/a?b=1&amp;amp;c=2\"&gt;more&lt;/a&gt;\
             &lt;/p&gt;</description>",
        ))
        .unwrap();
        assert_eq!(
            feed.entries[0].text,
            "Café & café \"x\" 'y' more (https://e.example/a?b=1&c=2)"
        );
        // A character reference to no character, and an empty one.
        let feed = read_both_ways(&rss_item(
            "<guid>1</guid><title>a&#1114112;b&#;c&#xZZ;d&#xd800;e</title>",
        ))
        .unwrap();
        assert_eq!(
            feed.entries[0].title.as_deref(),
            Some("a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e")
        );
        // An `&` that is no reference (bare, unterminated, before `<`), an HTML entity.
        let feed = read_both_ways(&rss_item(
            "<guid>1</guid><description>AT&T &lt;b&gt;&amp &nbsp;x &ltb; &lt</description>",
        ))
        .unwrap();
        // quick-xml hands a bare `&amp` or `&lt` over as text; the HTML pass keeps it as written.
        assert_eq!(feed.entries[0].text, "AT&T &amp x &ltb; &lt");
        // Text split across CDATA and comments.
        let feed = read_both_ways(&rss_item(
            "<guid>1</guid><description>&lt;p&gt;one <![CDATA[<b>two</b> &amp;]]> \
             &lt;i&gt;three&lt;/i&gt;<!-- x -->&lt;/p&gt;</description>",
        ))
        .unwrap();
        assert_eq!(feed.entries[0].text, "one two & three");
    }

    #[test]
    fn declared_entities_inside_a_text_run_are_still_expanded_and_counted() {
        let doc = "<!DOCTYPE rss [<!ENTITY co \"Fjord&amp;link\">]>".to_string()
            + &rss_item("<guid>1</guid><description>&lt;b&gt;&co;&lt;/b&gt; &co;!</description>");
        let feed = read_both_ways(&doc).unwrap();
        assert_eq!(feed.entries[0].text, "Fjord&link Fjord&link!");
        let bomb = "<!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\
             <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\
             <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\
             <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
            .to_string()
            + &rss_item(&format!(
                "<guid>1</guid><description>&lt;p&gt;{}&lt;/p&gt;</description>",
                "&d;".repeat(20)
            ));
        assert!(matches!(
            read_both_ways(&bomb),
            Err(FeedError::EntityBomb { .. })
        ));
        let external = "<!DOCTYPE rss [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>".to_string()
            + &rss_item("<guid>1</guid><description>&lt;p&gt;&x;&lt;/p&gt;</description>");
        assert!(matches!(
            read_both_ways(&external),
            Err(FeedError::ExternalEntity { .. })
        ));
    }

    #[test]
    fn text_between_tags_and_an_authors_own_text_read_as_runs_too() {
        let doc = "<!DOCTYPE rss [<!ENTITY co \"Co &#38; Zn\">]>\n<rss>\n  <channel>\n    \
             <title>a &amp; b &co;</title>\n    <item>\n      <guid>1</guid>\n      \
             <author>jan@example.org (Jan &amp; &co; &#x263A;)</author>\n      \
             &lt;stray&gt; &co; text\n    </item>\n  </channel>\n</rss>\n";
        let feed = read_both_ways(doc).unwrap();
        assert_eq!(
            feed.entries[0].author_name.as_deref(),
            Some("Jan & Co & Zn \u{263a}")
        );
        assert_eq!(
            feed.entries[0].author_email.as_deref(),
            Some("jan@example.org")
        );
    }

    #[test]
    fn inline_markup_keeps_its_references_as_written() {
        let doc = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>1</id>\
             <content type=\"xhtml\"><div>a &lt; b &#38; c &amp;amp; <b>bold</b> &#x41;&nbsp;\
             <![CDATA[<i>]]></div></content></entry></feed>";
        let feed = read_both_ways(doc).unwrap();
        assert_eq!(feed.entries[0].text, "a < b & c &amp; bold A <i>");
    }

    #[test]
    fn positions_after_a_text_run_are_those_of_the_document() {
        // An entry with neither id nor link is told apart by a hash of its markup, whose end
        // is a position; a recovered error names one.
        let doc = rss_item(
            "<title>&lt;b&gt;x&lt;/b&gt;</title><description>&lt;p&gt;y&lt;/p&gt;</description>",
        )
        .replace(
            "</channel>",
            "<item><title>&lt;b&gt;z</title><x a=\"1></item></channel>",
        );
        let feed = read_both_ways(&doc).unwrap();
        let first = &feed.entries[0];
        let markup = &doc[doc.find("<item>").unwrap()..doc.find("</item>").unwrap() + 7];
        assert_eq!(first.fingerprint, crate::text::fnv1a(markup));
        assert!(
            feed.recovered.iter().any(|r| r.starts_with("at byte ")),
            "{:?}",
            feed.recovered
        );
    }
}
