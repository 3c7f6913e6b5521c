//! A lenient, streaming RSS/Atom reader: RSS 0.90–2.0 (with or without a version), RSS 1.0/RDF,
//! Atom 0.3 and 1.0, CDF, and the dc, dcterms, content, media, itunes, slash and georss
//! extensions, in any encoding `encoding_rs` knows; and JSON Feed.
//!
//! It reads what feedparser reads: one broken entry, an unclosed tag or a stray `&` costs only
//! what it breaks, never the entries around it. It is also safe on hostile XML: external
//! entities are never loaded, internal entity expansion and nesting depth are capped, and each
//! of those is a [`FeedError`] for that feed alone.

mod dates;
mod encoding;
mod json;
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
    /// The entry this one answers (Atom threading, RFC 4685 `thr:in-reply-to ref`): a comment
    /// or forum reply names the post it replies to.
    pub in_reply_to: Option<String>,
    /// A hash of the entry's markup as written: tells apart entries that have no id, link,
    /// title, date or text of their own. Computed only for entries with neither an id nor a
    /// link (the only ones [`markup_id`] is asked about); 0 for the rest.
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
    read_body(body, origin, None)
}

/// [`parse`], handing each entry to `sink` as soon as it is read (the returned feed holds
/// none), so a big document's first entries can be stored while the rest is read. Stops
/// early when `sink` returns false.
pub fn parse_each(
    body: &[u8],
    origin: &Origin<'_>,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<Feed, FeedError> {
    read_body(body, origin, Some(sink))
}

fn read_body(
    body: &[u8],
    origin: &Origin<'_>,
    sink: Option<&mut dyn FnMut(Entry) -> bool>,
) -> Result<Feed, FeedError> {
    let charset = origin.content_type.and_then(charset_of);
    let text = encoding::decode(body, charset.as_deref())?;
    let base = origin
        .content_location
        .and_then(|loc| match url::Url::parse(origin.url) {
            Ok(u) => u.join(loc).ok(),
            Err(_) => url::Url::parse(loc).ok(),
        })
        .or_else(|| url::Url::parse(origin.url).ok());
    if text.trim_start().starts_with('{') {
        let mut feed = json::read(&text, base.as_ref())?;
        if let Some(sink) = sink {
            // A JSON document is read whole anyway; its entries are handed over after.
            for e in std::mem::take(&mut feed.entries) {
                if !sink(e) {
                    break;
                }
            }
        }
        return Ok(feed);
    }
    match sink {
        Some(sink) => parse::read_each(&text, base, sink),
        None => parse::read(&text, base),
    }
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
    format!("hash:{:016x}", crate::text::fnv1a(&key))
}

/// The id for an entry whose guid, id or link (`base`) other entries of the same document
/// share: the base with a hash of the entry's content id, so each post under a shared id is
/// kept, and stays the same one when the document changes around it.
pub fn shared_id(base: &str, e: &Entry) -> String {
    format!("{base}#{:016x}", crate::text::fnv1a(content_id(e)))
}

/// The id for an entry whose content id another entry of the same feed already has (two
/// entries with no title and the same text): the hash of its markup as written.
pub fn markup_id(e: &Entry) -> String {
    format!("markup:{:016x}", e.fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Vec<Entry> {
        parse(
            xml.as_bytes(),
            &Origin {
                url: "http://feeds.example/dir/feed.xml",
                ..Origin::default()
            },
        )
        .unwrap()
        .entries
    }

    #[test]
    fn a_description_only_item_is_kept_with_a_stable_content_id() {
        let xml = r#"<rss version="2.0"><channel><item><description>Fjordlink is late</description>
            <pubDate>Thu, 01 Jan 2004 19:48:21 GMT</pubDate></item></channel></rss>"#;
        let e = read(xml);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "Fjordlink is late");
        assert_eq!(content_id(&e[0]), content_id(&read(xml)[0]));
        assert!(content_id(&e[0]).starts_with("hash:"));
    }

    #[test]
    fn atom03_rss_without_version_rdf_and_cdf_are_read() {
        let atom03 = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title>a03</title>
            <content type="text/html" mode="escaped">&lt;b&gt;bold&lt;/b&gt;</content>
            <issued>2004-01-01T19:48:21Z</issued></entry></feed>"#;
        let e = read(atom03);
        assert_eq!(
            (e[0].title.as_deref(), e[0].text.as_str()),
            (Some("a03"), "bold")
        );
        assert_eq!(
            e[0].published.unwrap().to_rfc3339(),
            "2004-01-01T19:48:21+00:00"
        );
        assert_eq!(
            read("<rss><channel><item><title>nov</title></item></channel></rss>")[0]
                .title
                .as_deref(),
            Some("nov")
        );
        let rdf = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
            xmlns:dc="http://purl.org/dc/elements/1.1/"><item rdf:about="http://e.example/1"><title>r</title>
            <dc:creator>Jan</dc:creator><dc:date>2004-01-01</dc:date></item></rdf:RDF>"#;
        let e = read(rdf);
        assert_eq!(e[0].id.as_deref(), Some("http://e.example/1"));
        assert_eq!(e[0].author_name.as_deref(), Some("Jan"));
        let cdf = r#"<CHANNEL HREF="http://e.example/"><ITEM HREF="http://e.example/i" LASTMOD="2004-01-01T00:00"><TITLE>c</TITLE><ABSTRACT>abs</ABSTRACT></ITEM></CHANNEL>"#;
        let e = read(cdf);
        assert_eq!(
            (e[0].link.as_deref(), e[0].text.as_str()),
            (Some("http://e.example/i"), "abs")
        );
    }

    #[test]
    fn base64_xhtml_and_odd_content_types_are_decoded_not_fatal() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom">
            <entry><id>1</id><content type="application/octet-stream">PGI+RmpvcmRsaW5rPC9iPg==</content></entry>
            <entry><id>2</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">History of the &lt;blink&gt; tag</div></content></entry>
            <entry><id>3</id><content type="">plain</content></entry>
            <entry><id>4</id><content type="application/xhtml+xml"><div>x<b>y</b></div></content></entry>
            </feed>"#;
        let texts: Vec<_> = read(xml).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            ["Fjordlink", "History of the <blink> tag", "plain", "xy"]
        );
    }

    #[test]
    fn rss_author_is_the_person_not_the_word_author() {
        let xml = r#"<rss version="2.0"><channel>
            <item><guid>1</guid><author>jan@example.org (Jan Jansen)</author></item>
            <item><guid>2</guid><author>piet@example.org</author></item></channel></rss>"#;
        let e = read(xml);
        assert_eq!(e[0].author_name.as_deref(), Some("Jan Jansen"));
        assert_eq!(e[0].author_email.as_deref(), Some("jan@example.org"));
        assert_eq!(
            (e[1].author_name.as_deref(), e[1].author_email.as_deref()),
            (None, Some("piet@example.org"))
        );
        // An address alone takes its name from dc:creator or itunes:author.
        let xml = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
            <item><guid>1</guid><author>podcast@example.org</author><dc:creator>TavernCast</dc:creator></item>
            </channel></rss>"#;
        let e = read(xml);
        assert_eq!(e[0].author_name.as_deref(), Some("TavernCast"));
        assert_eq!(e[0].author_email.as_deref(), Some("podcast@example.org"));
    }

    #[test]
    fn a_teaser_gives_way_to_the_whole_text_in_another_summary_element() {
        let xml = r#"<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
            xmlns:media="http://search.yahoo.com/mrss/"><channel>
            <item><guid>1</guid><description>Sanne and guests discuss...</description>
              <itunes:subtitle>Sanne and guests discuss the outage.</itunes:subtitle>
              <itunes:summary>Sanne and guests discuss why Fjordlink was down for a day.</itunes:summary></item>
            <item><guid>2</guid><description>Our weekly show.</description>
              <media:description>Fjordlink sponsors this week.</media:description></item>
            <item><guid>3</guid><media:description>Fjordlink again</media:description></item>
            </channel></rss>"#;
        let texts: Vec<_> = read(xml).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            [
                // The fullest text that holds the teaser's words, whatever the elements' order.
                "Sanne and guests discuss why Fjordlink was down for a day.",
                // Another text altogether: the best-ranked element stays the summary.
                "Our weekly show.",
                "Fjordlink again",
            ]
        );
    }

    #[test]
    fn the_entry_link_is_the_last_html_alternate() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom">
            <entry><id>1</id><link href="https://blog.example/feed/1"/>
              <link rel="alternate" type="text/html" href="https://blog.example/p/1"/>
              <link rel="alternate" type="application/pdf" href="https://blog.example/p/1.pdf"/>
              <link rel="replies" type="text/html" href="https://blog.example/p/1#comments"/></entry>
            <entry><id>2</id><link rel="enclosure" href="https://cdn.example/2.mp3"/>
              <link rel="alternate" type="audio/mpeg" href="https://cdn.example/2.mp3"/></entry>
            </feed>"#;
        let e = read(xml);
        assert_eq!(e[0].link.as_deref(), Some("https://blog.example/p/1"));
        // No HTML alternate: any alternate rather than none.
        assert_eq!(e[1].link.as_deref(), Some("https://cdn.example/2.mp3"));
    }

    #[test]
    fn links_resolve_against_xml_base_and_the_document_and_permalink_guids_are_links() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://base.example/a/">
            <entry><id>1</id><link href="post/1"/></entry></feed>"#;
        assert_eq!(
            read(xml)[0].link.as_deref(),
            Some("http://base.example/a/post/1")
        );
        let xml = r#"<rss version="2.0"><channel><item><link>/x</link></item>
            <item><guid>http://e.example/g</guid></item>
            <item><guid isPermaLink="false">http://e.example/h</guid></item></channel></rss>"#;
        let e = read(xml);
        assert_eq!(e[0].link.as_deref(), Some("http://feeds.example/x"));
        assert_eq!(e[1].link.as_deref(), Some("http://e.example/g"));
        assert_eq!(e[2].link, None);
        // An Atom id that is a web address is the link of an entry without one; a tag: id is not.
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom">
            <entry><id>https://blog.example/2026/storing</id><title>a</title></entry>
            <entry><id>tag:blog.example,2026:1</id><title>b</title></entry>
            <entry><id>https://blog.example/ids/3</id><link href="https://blog.example/p/3"/></entry></feed>"#;
        let e = read(xml);
        assert_eq!(
            e[0].link.as_deref(),
            Some("https://blog.example/2026/storing")
        );
        assert_eq!(e[1].link, None);
        assert_eq!(e[2].link.as_deref(), Some("https://blog.example/p/3"));
    }

    #[test]
    fn internal_entities_expand_and_undefined_ones_and_bad_ampersands_survive() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY brand "Fjordlink">]>
            <rss version="2.0"><channel><item><guid>1</guid><title>&brand; AT&T &eacute; &bogus;</title></item></channel></rss>"#;
        assert_eq!(
            read(xml)[0].title.as_deref(),
            Some("Fjordlink AT&T é &bogus;")
        );
    }

    #[test]
    fn an_unclosed_tag_costs_only_its_own_entry_text() {
        let xml = r#"<rss version="2.0"><channel>
            <item><guid>1</guid><title>one</item>
            <item><guid>2</guid><title>two</title></item></channel></rss>"#;
        let ids: Vec<_> = read(xml).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, [Some("1".into()), Some("2".into())]);
    }

    #[test]
    fn items_that_cannot_be_read_are_an_error_not_an_empty_feed() {
        let err = parse(b"<rss><channel><item guid=\"1", &Origin::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("has 1 <item>/<entry> elements but none could be read"),
            "{err}"
        );
        assert!(
            parse(
                b"<rss><channel><title>empty</title></channel></rss>",
                &Origin::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn json_feed_items_are_entries() {
        let e = read(
            r#"{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","url":"/p/1",
            "content_html":"<p>Fjordlink <b>down</b></p>","date_published":"2026-11-25T10:00:00Z",
            "authors":[{"name":"Jan"}]}, 5]}"#,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "Fjordlink down");
        assert_eq!(e[0].link.as_deref(), Some("http://feeds.example/p/1"));
        assert_eq!(e[0].author_name.as_deref(), Some("Jan"));
    }

    #[test]
    fn a_json_feed_field_of_the_wrong_type_costs_the_field_not_the_item() {
        let e = read(
            r#"{"version":"https://jsonfeed.org/version/1","author":{"name":"Fjordlink Nieuws"},"items":[
            {"id":"a","title":"author as a string","content_text":"one","author":"Jane"},
            {"id":"b","title":"tags as a string","content_text":"two","tags":"storing"},
            {"id":"c","title":1000,"content_text":["not","text"],"summary":"three","date_modified":{}},
            {"id":"d","title":"no author of its own","content_text":"four"}]}"#,
        );
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].author_name.as_deref(), Some("Jane"));
        assert_eq!(e[1].categories, ["storing"]);
        assert_eq!(e[2].title.as_deref(), Some("1000"));
        assert_eq!(e[2].text, "three");
        assert_eq!(e[2].published, None);
        // The feed's author is the author of an item that names none.
        assert_eq!(e[3].author_name.as_deref(), Some("Fjordlink Nieuws"));
    }

    #[test]
    fn legacy_encodings_from_the_http_header_are_decoded() {
        let body = b"<?xml version='1.0'?><rss><channel><item><title>\xd0\xd2\xc9\xd7\xc5\xd4</title></item></channel></rss>";
        let f = parse(
            body,
            &Origin {
                url: "http://e.example/",
                content_type: Some("text/xml; charset=koi8-r"),
                content_location: None,
            },
        )
        .unwrap();
        assert_eq!(f.entries[0].title.as_deref(), Some("привет"));
    }

    #[test]
    fn utf8_text_mislabelled_or_double_encoded_reads_as_written() {
        // Declared Latin-1 by the server, UTF-8 in fact.
        let body = "<rss version=\"2.0\"><channel><item><guid>1</guid><title>Brøndby til fans</title></item></channel></rss>";
        let f = parse(
            body.as_bytes(),
            &Origin {
                url: "http://e.example/",
                content_type: Some("text/xml; charset=ISO-8859-1"),
                content_location: None,
            },
        )
        .unwrap();
        assert_eq!(f.entries[0].title.as_deref(), Some("Brøndby til fans"));
        // UTF-8 encoded twice upstream, field by field; an author's name too.
        let xml = "<rss version=\"2.0\"><channel><item><guid>2</guid>\
            <title>KÃ¸benhavn: itâ€™s down</title><author>x@e.example (SÃ¸ren)</author>\
            <description>&lt;p&gt;Le film Ã&#xa0; voir&lt;/p&gt;</description></item></channel></rss>";
        let e = &read(xml)[0];
        assert_eq!(e.title.as_deref(), Some("København: it’s down"));
        assert_eq!(e.author_name.as_deref(), Some("Søren"));
        assert_eq!(e.text, "Le film à voir");
    }

    #[test]
    fn body_links_are_noted_resolved_and_titles_carry_no_link_notes() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.com/blog/">
            <entry><id>1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><a href="https://example.com">Link</a> to us</div></title>
            <content type="html">&lt;p&gt;See &lt;a href="posts/2"&gt;the next post&lt;/a&gt;&lt;/p&gt;&lt;dl&gt;&lt;dt&gt;Time&lt;/dt&gt;&lt;dd&gt;12:26&lt;/dd&gt;&lt;/dl&gt;</content>
            </entry>
            <entry><id>2</id><content type="html">By &lt;a href="/u/sanne"&gt;/u/sanne&lt;/a&gt; and &lt;a href="https://example.com/u/piet"&gt;example.com/u/piet&lt;/a&gt;</content></entry>
            </feed>"#;
        let e = &read(xml);
        assert_eq!(e[0].title.as_deref(), Some("Link to us"));
        assert_eq!(
            e[0].text,
            "See the next post (https://example.com/blog/posts/2)\nTime\n12:26"
        );
        // A relative address written as the link's text gets the address it stands for; an
        // absolute one written out needs no note.
        assert_eq!(
            e[1].text,
            "By /u/sanne (https://example.com/u/sanne) and example.com/u/piet"
        );
    }
}
