//! Turning the HTML that feeds and platforms send into the plain text webcare stores:
//! tags dropped, scripts and styles removed with their content, entities decoded, block
//! elements turned into line breaks (table cells into spaces), and links kept as
//! `label (url)` so staff can follow them.

use url::Url;

/// What [`html_to_text_with`] does with a link's target.
#[derive(Debug, Clone, Copy, Default)]
pub enum LinkNotes<'a> {
    /// `label (href)`, the href as written (absolute everywhere but in feeds).
    #[default]
    AsWritten,
    /// `label (url)` with a relative href resolved against this base (a feed's `xml:base` or
    /// address): a note reading `(/about)` leads nowhere.
    ResolvedAgainst(&'a Url),
    /// The label alone: a title reads as a line of text, not as a page.
    Omitted,
}

/// Converts an HTML fragment to plain text. Never fails: broken markup yields its readable parts.
pub fn html_to_text(html: &str) -> String {
    html_to_text_with(html, LinkNotes::AsWritten)
}

/// [`html_to_text`] with a choice of what becomes of each link's target.
pub fn html_to_text_with(html: &str, notes: LinkNotes<'_>) -> String {
    if !html.contains('<') && !html.contains('&') {
        return html.trim().to_string();
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // The open `<a>`: its target (borrowed from `html` unless it had entities to decode) and
    // where its label starts in `out`.
    let mut link: Option<(std::borrow::Cow<'_, str>, usize)> = None;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        let after = &rest[lt + 1..];
        // A '<' that does not start a tag (e.g. "a < b") is text.
        // Nor does `<!` other than a comment, CDATA or doctype (`<!' …` is text).
        let markup_decl = after.starts_with("!--")
            || after.starts_with("![CDATA[")
            || after
                .get(..8)
                .is_some_and(|d| d.eq_ignore_ascii_case("!doctype"));
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/') && !markup_decl {
            out.push('<');
            rest = after;
            continue;
        }
        let Some(gt) = find_tag_end(after) else {
            // Unclosed tag at the end: drop it.
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let (closing, name) = tag_name(tag);
        match name.as_str() {
            "script" | "style" | "template" if !closing => {
                let end = format!("</{}", name.as_str());
                match find_ci(rest, &end) {
                    Some(i) => {
                        rest = &rest[i..];
                        if let Some(g) = rest.find('>') {
                            rest = &rest[g + 1..];
                        }
                    }
                    None => rest = "",
                }
            }
            "!--" if !tag.ends_with("--") => match rest.find("-->") {
                Some(i) => rest = &rest[i + 3..],
                None => rest = "",
            },
            "br" | "hr" => out.push('\n'),
            name if is_block(name) && !out.is_empty() && !out.ends_with('\n') => {
                out.push('\n');
            }
            // Cells of a row stay on its line, one space apart, never run together.
            "td" | "th" if !out.is_empty() && !out.ends_with(char::is_whitespace) => {
                out.push(' ');
            }
            "a" if !closing => {
                link = attr(tag, "href").map(|h| (html_escape::decode_html_entities(h), out.len()));
            }
            "a" if closing => {
                if let Some((href, start)) = link.take() {
                    let label = out[start..].trim();
                    if !href.is_empty()
                        && !href.starts_with('#')
                        && !runs_script(&href)
                        && let Some(target) = note_target(&href, notes)
                        && !same_link(label, &target)
                    {
                        out.push_str(" (");
                        out.push_str(&target);
                        out.push(')');
                    }
                }
            }
            _ => {}
        }
    }
    push_text(&mut out, rest);
    // A closing block (`…</p>`) leaves a line break at the end, which `tidy` would drop; drop
    // it here, so that most fragments are one tidy run of text and need no second copy.
    out.truncate(out.trim_end().len());
    if is_tidy(&out) {
        return out;
    }
    tidy(&out)
}

/// Elements that start a line of their own: a word before one never runs into a word inside.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "li"
            | "tr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "table"
            | "caption"
            | "figure"
            | "figcaption"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "aside"
            | "nav"
            | "main"
            | "address"
            | "details"
            | "summary"
            | "center"
            | "fieldset"
            | "legend"
            | "form"
            | "hgroup"
            | "menu"
    )
}

/// What a link note shows for `href`, or `None` for no note.
fn note_target<'h>(href: &'h str, notes: LinkNotes<'_>) -> Option<std::borrow::Cow<'h, str>> {
    match notes {
        LinkNotes::AsWritten => Some(href.into()),
        LinkNotes::Omitted => None,
        // Only a relative href is joined: an absolute one is kept exactly as written.
        LinkNotes::ResolvedAgainst(base) => match Url::parse(href) {
            Err(url::ParseError::RelativeUrlWithoutBase) => Some(
                base.join(href)
                    .map_or(href.into(), |u| String::from(u).into()),
            ),
            _ => Some(href.into()),
        },
    }
}

/// Text that was UTF-8, read as windows-1252 (or Latin-1) somewhere upstream and encoded to
/// UTF-8 again ("KÃ¸benhavn", "itâ€™s"), put back as it was written ("København", "it’s").
/// Text stays as it is unless every character has a windows-1252 byte and those bytes are
/// valid UTF-8: real Latin-1 text ("café", "São", "Köln") never is, as its accented letters
/// are not followed by the continuation bytes UTF-8 needs. feedparser does the same per field.
pub fn repair_mojibake(text: &str) -> std::borrow::Cow<'_, str> {
    // A double-encoded lead byte (U+00C2..U+00F4) is 0xC3 0x82..=0xB4 in UTF-8; ASCII and
    // most accented text are passed over by this one scan.
    let bytes = text.as_bytes();
    let suspect = memchr::memchr_iter(0xC3, bytes)
        .any(|i| bytes.get(i + 1).is_some_and(|b| (0x82..=0xB4).contains(b)));
    if !suspect {
        return text.into();
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    if unmappable {
        return text.into();
    }
    match String::from_utf8(bytes.into_owned()) {
        Ok(repaired) => repaired.into(),
        Err(_) => text.into(),
    }
}

fn push_text(out: &mut String, text: &str) {
    if text.contains('&') {
        out.push_str(&html_escape::decode_html_entities(text));
    } else {
        out.push_str(text);
    }
}

fn find_tag_end(s: &str) -> Option<usize> {
    if s.starts_with("!--") {
        return s.find("-->").map(|i| i + 2);
    }
    // Bytes, not chars: the delimiters are ASCII, and no byte of a multi-byte character is.
    let mut quote: Option<u8> = None;
    for (i, c) in s.bytes().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A tag name in lower case, kept on the stack: every tag of every entry passes through here,
/// and only names of up to [`TagName::MAX`] bytes mean anything to [`html_to_text`].
struct TagName {
    buf: [u8; TagName::MAX],
    len: usize,
}

impl TagName {
    const MAX: usize = 12;

    /// The name, or "" for one too long to be any tag the converter acts on.
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

fn tag_name(tag: &str) -> (bool, TagName) {
    let mut name = TagName {
        buf: [0; TagName::MAX],
        len: 0,
    };
    if tag.starts_with("!--") {
        name.buf[..3].copy_from_slice(b"!--");
        name.len = 3;
        return (false, name);
    }
    let (closing, t) = match tag.strip_prefix('/') {
        Some(t) => (true, t),
        None => (false, tag),
    };
    for b in t
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'!')
    {
        if name.len == TagName::MAX {
            name.len = 0;
            break;
        }
        name.buf[name.len] = b.to_ascii_lowercase();
        name.len += 1;
    }
    (closing, name)
}

/// The value of attribute `name` (lower case) in a tag, as written. The name is matched
/// in any case without a lower-cased copy of the tag: ASCII case changes no byte offset.
fn attr<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let mut from = 0;
    while let Some(i) = find_ci(&tag[from..], name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && tag.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let offset = tag.len() - rest.len() + 1;
        let value = tag[offset..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        });
    }
    None
}

/// A link a browser would run rather than open (`javascript:`, `vbscript:`, `data:`), with
/// the blanks and control characters browsers ignore inside a scheme removed first.
fn runs_script(href: &str) -> bool {
    const SCHEMES: [&[u8]; 3] = [b"javascript:", b"vbscript:", b"data:"];
    // The characters read so far, ASCII lower-cased, on the stack; a non-ASCII character
    // becomes a byte no scheme has, so it ends a match just as its UTF-8 bytes would.
    let mut scheme = [0u8; 12];
    let chars = href
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control());
    for (i, c) in chars.take(scheme.len()).enumerate() {
        scheme[i] = if c.is_ascii() {
            (c as u8).to_ascii_lowercase()
        } else {
            0xff
        };
        let read = &scheme[..=i];
        if SCHEMES.iter().any(|s| read.starts_with(s)) {
            return true;
        }
        // Decided as soon as no scheme can follow (for `https://…`, at the first letter).
        if !SCHEMES.iter().any(|s| s.starts_with(read)) {
            return false;
        }
    }
    false
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

fn same_link(label: &str, href: &str) -> bool {
    label.is_empty()
        || label.starts_with('@')
        || label.starts_with('#')
        || strip_link(href).starts_with(strip_link(label))
}

/// A link or label without its scheme, `www.`, trailing slashes and ellipsis, for comparing
/// the two. Prefixes are stripped with `strip_prefix` loops rather than `trim_start_matches`,
/// which builds a substring searcher on every call; every `<a>` of every entry comes here.
fn strip_link(s: &str) -> &str {
    let mut s = s;
    for prefix in ["https://", "http://", "www."] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    s.trim_end_matches('/').trim_end_matches('…')
}

/// Whether [`tidy`] would give `s` back unchanged: no white space at either end, and every
/// run of it a single space, a single line break or one blank line (`\n\n`).
fn is_tidy(s: &str) -> bool {
    // What the last characters were: a word, a space, a line break, a blank line.
    enum After {
        Start,
        Word,
        Space,
        Break,
        BlankLine,
    }
    let mut after = After::Start;
    for (i, b) in s.bytes().enumerate() {
        // Judged byte by byte: ASCII white space is ' ', '\n' and the four below; a character
        // beyond ASCII by its first byte (its other bytes, 0x80..=0xBF, are part of a word).
        match b {
            b' ' | b'\n' => {}
            b'\t' | 0x0b | 0x0c | b'\r' => return false,
            0xc0.. if s[i..].chars().next().is_some_and(char::is_whitespace) => return false,
            _ => {
                after = After::Word;
                continue;
            }
        }
        after = match (after, b) {
            (After::Word, b' ') => After::Space,
            (After::Word, b'\n') => After::Break,
            (After::Break, b'\n') => After::BlankLine,
            _ => return false,
        };
    }
    matches!(after, After::Start | After::Word)
}

/// Collapses runs of spaces and blank lines the markup left behind.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_lines = 0;
    for line in s.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            blank_lines += 1;
            continue;
        };
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(first);
        for w in words {
            out.push(' ');
            out.push_str(w);
        }
    }
    out
}

/// Cuts `text` to its first `max_chars` characters (on a character boundary, never inside a
/// multi-byte character) and marks the cut, so a 9 MB post cannot fill the database or the
/// memory of every stage after the store. Returns whether it cut. `max_chars = 0` keeps all.
pub fn cap_text(text: &mut String, max_chars: usize) -> bool {
    if max_chars == 0 || text.len() <= max_chars {
        // A string of n bytes has at most n characters.
        return false;
    }
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return false;
    };
    let total = max_chars + text[cut..].chars().count();
    text.truncate(cut);
    text.push_str(&format!(
        "\n[… cut by webcare: {max_chars} of {total} characters kept]"
    ));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_styles_vanish_with_their_content() {
        let t = html_to_text(
            "<p>Hello</p><script>alert('x')</script><style>p{color:red}</style><p>world</p>",
        );
        assert_eq!(t, "Hello\nworld");
    }

    #[test]
    fn entities_are_decoded_and_tags_dropped() {
        assert_eq!(
            html_to_text("Caf&#233; &amp; <b>bar</b> &lt;b&gt;"),
            "Café & bar <b>"
        );
    }

    #[test]
    fn links_keep_their_target() {
        assert_eq!(
            html_to_text(r#"see <a href="https://example.org/x?a=1&amp;b=2">the forum</a>"#),
            "see the forum (https://example.org/x?a=1&b=2)"
        );
    }

    #[test]
    fn mastodon_mentions_and_shortened_links_are_not_doubled() {
        let html = r#"<p><span class="h-card"><a href="https://social.example/@fjordlink" class="u-url mention">@<span>fjordlink</span></a></span> down again? <a href="https://status.fjordlink.nl/incident/42" rel="nofollow"><span class="invisible">https://</span><span class="ellipsis">status.fjordlink.nl/incident/4</span><span class="invisible">2</span></a></p>"#;
        assert_eq!(
            html_to_text(html),
            "@fjordlink down again? https://status.fjordlink.nl/incident/42"
        );
    }

    #[test]
    fn definition_lists_cells_and_sections_keep_words_apart() {
        assert_eq!(
            html_to_text("<dl><dt>Time</dt><dd>12:26 UTC</dd><dt>Depth</dt><dd>29 km</dd></dl>"),
            "Time\n12:26 UTC\nDepth\n29 km"
        );
        assert_eq!(
            html_to_text(
                "<table><tr><th>Item</th><th>Year</th></tr><tr><td>memcached</td><td>2003</td></tr></table>"
            ),
            "Item Year\nmemcached 2003"
        );
        assert_eq!(
            html_to_text(
                "<section>breach dataset</section><figure><img src=x><figcaption>Example query</figcaption></figure>after<hr>next"
            ),
            "breach dataset\nExample query\nafter\nnext"
        );
    }

    #[test]
    fn relative_link_notes_are_resolved_or_left_out() {
        let base = Url::parse("https://example.com/blog/").unwrap();
        let html = r#"See <a href="posts/2">the next post</a>, <a href="/about">about</a> and <a href="https://other.example/x">this</a>."#;
        assert_eq!(
            html_to_text_with(html, LinkNotes::ResolvedAgainst(&base)),
            "See the next post (https://example.com/blog/posts/2), about (https://example.com/about) and this (https://other.example/x)."
        );
        assert_eq!(
            html_to_text_with(html, LinkNotes::Omitted),
            "See the next post, about and this."
        );
        // A label that is the link itself, once resolved, gets no note.
        assert_eq!(
            html_to_text_with(
                r#"<a href="/r/fjordlink">https://example.com/r/fjordlink</a>"#,
                LinkNotes::ResolvedAgainst(&base)
            ),
            "https://example.com/r/fjordlink"
        );
    }

    #[test]
    fn utf8_read_as_latin1_is_put_back() {
        let fixed = |s: &str| repair_mojibake(s).into_owned();
        assert_eq!(fixed("BrÃ¸ndby til fans"), "Brøndby til fans");
        assert_eq!(
            fixed("Polizeieinsatz in KÃ¶lner Silvesternacht"),
            "Polizeieinsatz in Kölner Silvesternacht"
        );
        assert_eq!(fixed("itâ€™s Â«downÂ»"), "it’s «down»");
        // "à" is 0xC3 0xA0: its second byte reads as a no-break space.
        assert_eq!(fixed("Le film \u{c3}\u{a0} voir"), "Le film à voir");
        // Real accented text, and text that only looks odd, stays as written.
        for kept in ["café São Köln æøå", "Ã alone", "naïve €5 😡", "plain"] {
            assert_eq!(fixed(kept), kept);
        }
    }

    #[test]
    fn broken_markup_keeps_the_readable_text() {
        assert_eq!(html_to_text("a < b and <b>bold"), "a < b and bold");
        assert_eq!(html_to_text("text <unclosed"), "text");
    }

    #[test]
    fn script_links_are_never_kept() {
        assert_eq!(
            html_to_text(
                r#"<a href="javascript:alert(1)">click</a> <a href=" JavaScript:x()">me</a>"#
            ),
            "click me"
        );
    }

    #[test]
    fn script_schemes_are_found_behind_blanks_and_in_any_case() {
        for href in [
            "javascript:x",
            " JavaScript:x",
            "java\nscript:x",
            "jav\u{a0}ascript:x",
            "DATA:text/html,x",
            "\tvbscript:x",
        ] {
            assert!(runs_script(href), "{href:?}");
        }
        for href in [
            "https://e.example/javascript:",
            "dat",
            "javascrip",
            "data",
            "jävascript:x",
            "",
        ] {
            assert!(!runs_script(href), "{href:?}");
        }
    }

    #[test]
    fn text_that_is_already_tidy_is_recognised_exactly() {
        for s in [
            "",
            "a",
            "a b",
            "a\nb",
            "a\n\nb",
            " a",
            "a ",
            "a  b",
            "a\n\n\nb",
            "a \nb",
            "a\tb",
            "a\rb",
            "a\u{a0}b",
            "é b\n\nc",
            "a\n",
            "\n",
        ] {
            assert_eq!(is_tidy(s), tidy(s) == s, "{s:?}");
        }
    }

    #[test]
    fn attributes_are_found_in_any_case_and_quoting() {
        assert_eq!(
            attr(r#"a class="x" HREF="https://e.example/""#, "href"),
            Some("https://e.example/")
        );
        assert_eq!(attr("a href=/p/1 rel=x", "href"), Some("/p/1"));
        assert_eq!(attr(r#"a data-href="x" href='y'"#, "href"), Some("y"));
        assert_eq!(attr(r#"a title="no link""#, "href"), None);
    }

    #[test]
    fn line_breaks_become_newlines() {
        assert_eq!(html_to_text("one<br>two<br/>three"), "one\ntwo\nthree");
    }

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary_and_marked() {
        let mut t = "é".repeat(30);
        assert!(cap_text(&mut t, 25));
        assert_eq!(
            t,
            format!(
                "{}\n[… cut by webcare: 25 of 30 characters kept]",
                "é".repeat(25)
            )
        );
        let mut short = "kort".to_string();
        assert!(!cap_text(&mut short, 4));
        assert_eq!(short, "kort");
        let mut unlimited = "x".repeat(100);
        assert!(!cap_text(&mut unlimited, 0));
        assert_eq!(unlimited.len(), 100);
    }
}
