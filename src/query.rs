//! The watch query language: the boolean syntax social-listening people already know
//! (`fjordlink OR "fjord link" -vacature site:fjordlink.nl`), parsed once into a small tree and
//! matched against many mentions. Matching works on whole words and ignores case and diacritics.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! query   = or
//! or      = and ( "OR" and )*
//! and     = unary ( ["AND"] unary )*          adjacent operands are ANDed
//! unary   = "NOT" unary | "-" unary | primary
//! primary = term | term* | "phrase" | author:x | site:x | lang:x | "(" or ")"
//! ```
//!
//! Only the uppercase words `AND`, `OR` and `NOT` are operators; `and`, `or` and `not` are terms.

use crate::text::{normalize, word_ranges};

/// A query that could not be parsed. Displays as `column 14: expected ')' ...`; the column counts
/// characters from 1, so a user can find the spot in the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    /// 1-based character column of the problem in the query text.
    pub column: usize,
    /// What was wrong and, where there is one, what to write instead.
    pub message: String,
}

impl QueryError {
    fn new(column: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            column,
            message: message.into(),
        }
    }
}

/// A parsed watch query. Parse once at config load, then call [`Query::matches`] per mention.
#[derive(Debug, Clone)]
pub struct Query {
    source: String,
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    /// One or more consecutive tokens: a term, a multi-token term such as `t-mobile`, or a phrase.
    Words(Box<[Word]>),
    /// Normalised handle without `@`.
    Author(Box<str>),
    /// Lower-case host without `www.`; matches itself and its subdomains.
    Site(Box<str>),
    /// Lower-case language code, `-` as separator.
    Lang(Box<str>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// One normalised token of a term or phrase.
#[derive(Debug, Clone)]
struct Word {
    text: Box<str>,
    /// `fjord*`: the mention's token only has to start with `text`.
    prefix: bool,
}

/// A 256-bit summary of a mention's tokens: a clear bit proves a word is absent, so most
/// terms of most watches are rejected without scanning the tokens.
#[derive(Debug, Clone, Default)]
struct Filter([u64; 4]);

impl Filter {
    fn bit(bytes: &[u8]) -> usize {
        // FNV-1a: cheap for short tokens, and good enough to spread them over 256 bits.
        let mut h: u32 = 0x811c_9dc5;
        for &b in bytes {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
        (h >> 24) as usize
    }
    fn insert(&mut self, bytes: &[u8]) {
        let b = Self::bit(bytes);
        self.0[b / 64] |= 1 << (b % 64);
    }
    fn may_contain(&self, bytes: &[u8]) -> bool {
        let b = Self::bit(bytes);
        self.0[b / 64] & (1 << (b % 64)) != 0
    }
}

/// Prefix words are checked against the first bytes of each token.
const PREFIX_KEY: usize = 3;

impl Word {
    /// False only when the word certainly occurs in no token of the doc.
    fn may_occur_in(&self, doc: &Doc) -> bool {
        let w = self.text.as_bytes();
        if !self.prefix {
            doc.exact.may_contain(w)
        } else if w.len() >= PREFIX_KEY {
            doc.starts.may_contain(&w[..PREFIX_KEY])
        } else {
            true
        }
    }

    fn matches(&self, token: &[u8]) -> bool {
        if self.prefix {
            token.starts_with(self.text.as_bytes())
        } else {
            token == self.text.as_bytes()
        }
    }
}

impl Query {
    /// Parses `input`. The error names the column and what was expected there.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        if input.trim().is_empty() {
            return Err(QueryError::new(1, "empty query"));
        }
        let tokens = lex(input)?;
        let end_column = input.trim_end().chars().count() + 1;
        let mut parser = Parser {
            tokens: tokens.into_iter().peekable(),
            end_column,
        };
        let root = parser.or(Context::Start)?;
        if let Some(tok) = parser.tokens.next() {
            // `or` only stops early at a ')' that no '(' opened.
            return Err(QueryError::new(
                tok.column,
                "unexpected ')' without a '(' before it",
            ));
        }
        Ok(Query {
            source: input.to_owned(),
            root,
        })
    }

    /// Whether the mention satisfies the whole query.
    pub fn matches(&self, doc: &Doc) -> bool {
        self.root.matches(doc)
    }

    /// True when one of the query's top-level exclusions (`NOT x`, `-term`, `-"phrase"`,
    /// `-author:`, `-site:`, `-lang:`, `-(...)`, ANDed at the top level) hits the doc. Positive
    /// terms are ignored, so owned channels can keep every item except the excluded ones.
    pub fn excluded(&self, doc: &Doc) -> bool {
        match &self.root {
            Node::Not(inner) => inner.matches(doc),
            Node::And(items) => items
                .iter()
                .any(|item| matches!(item, Node::Not(inner) if inner.matches(doc))),
            _ => false,
        }
    }

    /// The query text exactly as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Node {
    fn matches(&self, doc: &Doc) -> bool {
        match self {
            Node::Words(words) => doc.contains(words),
            Node::Author(handle) => doc.author.as_deref() == Some(&**handle),
            Node::Site(domain) => doc
                .host
                .as_deref()
                .is_some_and(|host| host_within(host, domain)),
            Node::Lang(code) => doc
                .lang
                .as_deref()
                .is_some_and(|lang| lang_matches(lang, code)),
            Node::Not(inner) => !inner.matches(doc),
            Node::And(items) => items.iter().all(|item| item.matches(doc)),
            Node::Or(items) => items.iter().any(|item| item.matches(doc)),
        }
    }
}

/// A mention prepared once for matching against many queries: text normalised and split into
/// tokens, author, host and language reduced to the forms the filters compare.
#[derive(Debug, Clone)]
pub struct Doc {
    text: String,
    /// Byte ranges of the tokens in `text`.
    tokens: Vec<(usize, usize)>,
    author: Option<String>,
    host: Option<String>,
    lang: Option<String>,
    /// Summary of the whole tokens.
    exact: Filter,
    /// Summary of the tokens' first [`PREFIX_KEY`] bytes.
    starts: Filter,
}

impl Doc {
    /// Prepares a mention. `url` may lack a scheme; an unparseable URL simply never matches `site:`.
    pub fn new(text: &str, author: Option<&str>, url: Option<&str>, lang: Option<&str>) -> Doc {
        let text = normalize(text);
        let tokens = word_ranges(&text);
        let (mut exact, mut starts) = (Filter::default(), Filter::default());
        for &(start, end) in &tokens {
            let t = &text.as_bytes()[start..end];
            exact.insert(t);
            if t.len() >= PREFIX_KEY {
                starts.insert(&t[..PREFIX_KEY]);
            }
        }
        Doc {
            text,
            tokens,
            exact,
            starts,
            author: author.map(normalize_handle).filter(|a| !a.is_empty()),
            host: url.and_then(host_of),
            lang: lang.map(normalize_lang).filter(|l| !l.is_empty()),
        }
    }

    fn token(&self, i: usize) -> &[u8] {
        let (start, end) = self.tokens[i];
        &self.text.as_bytes()[start..end]
    }

    /// Whether `words` occur as consecutive tokens.
    fn contains(&self, words: &[Word]) -> bool {
        let Some((first, rest)) = words.split_first() else {
            return false;
        };
        if !words.iter().all(|w| w.may_occur_in(self)) {
            return false;
        }
        let Some(last_start) = self.tokens.len().checked_sub(words.len()) else {
            return false;
        };
        (0..=last_start).any(|i| {
            first.matches(self.token(i))
                && rest
                    .iter()
                    .enumerate()
                    .all(|(j, word)| word.matches(self.token(i + 1 + j)))
        })
    }
}

/// The normalised tokens of a query term or phrase.
fn words_of(s: &str) -> Vec<Word> {
    let text = normalize(s);
    word_ranges(&text)
        .into_iter()
        .map(|(start, end)| Word {
            text: text[start..end].into(),
            prefix: false,
        })
        .collect()
}

fn normalize_handle(handle: &str) -> String {
    normalize(handle.trim().trim_start_matches('@'))
}

fn normalize_lang(lang: &str) -> String {
    lang.trim().to_ascii_lowercase().replace('_', "-")
}

/// `nl` matches `nl` and regional forms such as `nl-be`; `nl-be` matches only itself.
fn lang_matches(lang: &str, code: &str) -> bool {
    lang.strip_prefix(code)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Host of a URL, lower-case, without a trailing dot or a leading `www.`. Accepts URLs without a
/// scheme, as some platforms give `example.com/path`.
fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let host = match plain_host(url) {
        Some(host) => host.to_ascii_lowercase(),
        // Userinfo, IPv6, IDNA and the like: let the `url` crate decide.
        None => {
            let parsed = if url.contains("://") {
                url::Url::parse(url).ok()?
            } else {
                url::Url::parse(&format!("https://{url}")).ok()?
            };
            parsed.host_str()?.to_owned()
        }
    };
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// The host of an `http(s)://` URL (or one without a scheme) when it is plain ASCII letters,
/// digits, `-` and `.`, which is nearly every mention URL. Skipping the `url` crate for those
/// saves about 0.2 µs per mention at ingest.
fn plain_host(url: &str) -> Option<&str> {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
        {
            rest
        }
        Some(_) => return None,
        None => url,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = match authority.split_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => authority,
    };
    let last_label = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let plain = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-'])
        && !host.contains("..")
        // A numeric last label may be an IPv4 address in a short form that `url` rewrites.
        && !last_label.bytes().all(|b| b.is_ascii_digit());
    plain.then_some(host)
}

/// Whether `host` is `domain` or one of its subdomains (`m.example.com` is within
/// `example.com`; `notexample.com` is not).
fn host_within(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

// ---- lexing ----

#[derive(Debug)]
enum TokKind {
    Open,
    Close,
    And,
    Or,
    Not,
    Minus,
    Leaf(Node),
}

#[derive(Debug)]
struct Tok {
    kind: TokKind,
    column: usize,
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn lex(input: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let column = i + 1;
        let kind = match chars[i] {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                TokKind::Open
            }
            ')' => {
                i += 1;
                TokKind::Close
            }
            '"' => {
                let (text, next) = read_quoted(&chars, i)?;
                i = next;
                TokKind::Leaf(phrase(&text, column)?)
            }
            '-' => {
                // A '-' inside a word (`t-mobile`) never gets here: words are read whole.
                if chars
                    .get(i + 1)
                    .is_none_or(|&c| c.is_whitespace() || c == ')')
                {
                    return Err(QueryError::new(
                        column,
                        "'-' must be followed directly by a term, phrase or '(' to exclude it, as in -vacature",
                    ));
                }
                i += 1;
                TokKind::Minus
            }
            _ => {
                let start = i;
                while i < chars.len() && !ends_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.as_str() {
                    "AND" => TokKind::And,
                    "OR" => TokKind::Or,
                    "NOT" => TokKind::Not,
                    _ => match word.split_once(':') {
                        None => TokKind::Leaf(term(&word, column)?),
                        Some((name, value)) => {
                            // `author:"Jan de Vries"`: the value is the quoted text that follows.
                            let value = if value.is_empty() && chars.get(i) == Some(&'"') {
                                let (quoted, next) = read_quoted(&chars, i)?;
                                i = next;
                                quoted
                            } else {
                                value.to_owned()
                            };
                            TokKind::Leaf(filter(name, &value, column)?)
                        }
                    },
                }
            }
        };
        tokens.push(Tok { kind, column });
    }
    Ok(tokens)
}

/// Reads the quoted text starting at the '"' at `open`; returns it and the index after the
/// closing quote.
fn read_quoted(chars: &[char], open: usize) -> Result<(String, usize), QueryError> {
    let len = chars[open + 1..]
        .iter()
        .position(|&c| c == '"')
        .ok_or_else(|| QueryError::new(open + 1, "unterminated quote"))?;
    let text = chars[open + 1..open + 1 + len].iter().collect();
    Ok((text, open + len + 2))
}

fn phrase(text: &str, column: usize) -> Result<Node, QueryError> {
    let words = words_of(text);
    if words.is_empty() {
        return Err(QueryError::new(
            column,
            format!("the phrase \"{text}\" has no letters or digits to match"),
        ));
    }
    Ok(Node::Words(words.into()))
}

fn term(word: &str, column: usize) -> Result<Node, QueryError> {
    let (body, prefix) = match word.strip_suffix('*') {
        Some(body) => (body, true),
        None => (word, false),
    };
    if let Some(star) = body.chars().position(|c| c == '*') {
        return Err(QueryError::new(
            column + star,
            format!("'*' only works at the end of a term, as in fjord*; found it inside '{word}'"),
        ));
    }
    if prefix && !body.chars().next_back().is_some_and(char::is_alphanumeric) {
        return Err(QueryError::new(
            column + body.chars().count(),
            "'*' must follow a letter or digit, as in fjord*",
        ));
    }
    let mut words = words_of(body);
    let Some(last) = words.last_mut() else {
        return Err(QueryError::new(
            column,
            format!("'{word}' has no letters or digits to match; put it in quotes or leave it out"),
        ));
    };
    last.prefix = prefix;
    Ok(Node::Words(words.into()))
}

fn filter(name: &str, value: &str, column: usize) -> Result<Node, QueryError> {
    match name {
        "author" => {
            let handle = normalize_handle(value);
            if handle.is_empty() {
                return Err(QueryError::new(
                    column,
                    "'author:' needs a handle after it, as in author:fjordlink",
                ));
            }
            Ok(Node::Author(handle.into()))
        }
        "site" => {
            if value.trim().is_empty() {
                return Err(QueryError::new(
                    column,
                    "'site:' needs a domain after it, as in site:example.com",
                ));
            }
            let domain = host_of(value).ok_or_else(|| {
                QueryError::new(
                    column,
                    format!("'site:{value}' is not a domain; write it as in site:example.com"),
                )
            })?;
            Ok(Node::Site(domain.into()))
        }
        "lang" => {
            let code = normalize_lang(value);
            if code.is_empty() {
                return Err(QueryError::new(
                    column,
                    "'lang:' needs a language code after it, as in lang:nl",
                ));
            }
            if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(QueryError::new(
                    column,
                    format!(
                        "'lang:{value}' is not a language code; write it as in lang:nl or lang:nl-be"
                    ),
                ));
            }
            Ok(Node::Lang(code.into()))
        }
        _ => Err(QueryError::new(
            column,
            format!(
                "unknown filter '{name}:'; the filters are author:, site: and lang: \
                 (to search for text with a colon, put it in quotes)"
            ),
        )),
    }
}

// ---- parsing ----

/// What came just before the operand being parsed, to say what is missing when it is absent.
#[derive(Clone, Copy)]
enum Context {
    Start,
    Open(usize),
    Binary(&'static str, usize),
    Not(usize),
    Minus(usize),
}

struct Parser {
    tokens: std::iter::Peekable<std::vec::IntoIter<Tok>>,
    end_column: usize,
}

impl Parser {
    fn or(&mut self, context: Context) -> Result<Node, QueryError> {
        let mut items = vec![self.and(context)?];
        while let Some(Tok {
            kind: TokKind::Or,
            column,
        }) = self.tokens.peek()
        {
            let context = Context::Binary("OR", *column);
            self.tokens.next();
            items.push(self.and(context)?);
        }
        Ok(any_of(items))
    }

    fn and(&mut self, context: Context) -> Result<Node, QueryError> {
        let mut items = vec![self.unary(context)?];
        loop {
            match self.tokens.peek() {
                Some(Tok {
                    kind: TokKind::And,
                    column,
                }) => {
                    let context = Context::Binary("AND", *column);
                    self.tokens.next();
                    items.push(self.unary(context)?);
                }
                Some(Tok {
                    kind: TokKind::Open | TokKind::Not | TokKind::Minus | TokKind::Leaf(_),
                    ..
                }) => {
                    items.push(self.unary(Context::Start)?);
                }
                _ => break,
            }
        }
        Ok(all_of(items))
    }

    fn unary(&mut self, context: Context) -> Result<Node, QueryError> {
        let Some(tok) = self.tokens.next_if(|t| {
            matches!(
                t.kind,
                TokKind::Open | TokKind::Not | TokKind::Minus | TokKind::Leaf(_)
            )
        }) else {
            return Err(self.missing_operand(context));
        };
        match tok.kind {
            TokKind::Not => Ok(negate(self.unary(Context::Not(tok.column))?)),
            TokKind::Minus => Ok(negate(self.unary(Context::Minus(tok.column))?)),
            TokKind::Open => {
                let inner = self.or(Context::Open(tok.column))?;
                match self.tokens.next() {
                    Some(Tok {
                        kind: TokKind::Close,
                        ..
                    }) => Ok(inner),
                    other => Err(QueryError::new(
                        other.map_or(self.end_column, |t| t.column),
                        format!("expected ')' to close the '(' at column {}", tok.column),
                    )),
                }
            }
            TokKind::Leaf(node) => Ok(node),
            TokKind::Close | TokKind::And | TokKind::Or => unreachable!("filtered by next_if"),
        }
    }

    fn missing_operand(&mut self, context: Context) -> QueryError {
        let next = self.tokens.peek();
        let operator = |column: usize, name: &str| {
            QueryError::new(column, format!("'{name}' needs a term on both sides"))
        };
        match (context, next.map(|t| (&t.kind, t.column))) {
            (Context::Binary(name, column), _) => operator(column, name),
            (Context::Not(column), _) => QueryError::new(column, "'NOT' needs a term after it"),
            (Context::Minus(column), _) => QueryError::new(
                column,
                "'-' must be followed directly by a term, phrase or '(' to exclude it, as in -vacature",
            ),
            (_, Some((TokKind::And, column))) => operator(column, "AND"),
            (_, Some((TokKind::Or, column))) => operator(column, "OR"),
            (Context::Open(open), Some((TokKind::Close, _))) => {
                QueryError::new(open, "empty parentheses; put a term between '(' and ')'")
            }
            (Context::Open(open), _) => QueryError::new(
                self.end_column,
                format!("expected ')' to close the '(' at column {open}"),
            ),
            (Context::Start, Some((_, column))) => {
                QueryError::new(column, "unexpected ')' without a '(' before it")
            }
            (Context::Start, None) => QueryError::new(1, "empty query"),
        }
    }
}

/// ANDs `items`, flattening nested ANDs so that exclusions inside `(a -b) -c` stay top-level
/// for [`Query::excluded`].
fn all_of(items: Vec<Node>) -> Node {
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::And(inner) => flat.extend(inner),
            item => flat.push(item),
        }
    }
    if flat.len() == 1 {
        flat.remove(0)
    } else {
        Node::And(flat)
    }
}

fn any_of(items: Vec<Node>) -> Node {
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::Or(inner) => flat.extend(inner),
            item => flat.push(item),
        }
    }
    if flat.len() == 1 {
        flat.remove(0)
    } else {
        Node::Or(flat)
    }
}

fn negate(node: Node) -> Node {
    match node {
        Node::Not(inner) => *inner,
        node => Node::Not(Box::new(node)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(query: &str) -> Query {
        Query::parse(query).unwrap_or_else(|e| panic!("{query:?} should parse: {e}"))
    }

    fn hits(query: &str, text: &str) -> bool {
        q(query).matches(&Doc::new(text, None, None, None))
    }

    fn error(query: &str) -> String {
        match Query::parse(query) {
            Ok(parsed) => panic!("{query:?} should not parse, got {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn diacritics_are_ignored_in_both_directions() {
        assert!(hits("café", "Lekker koffie bij het cafe"));
        assert!(hits("cafe", "Lekker koffie bij het Café"));
        assert!(hits("cafe", "CAFÉ OPEN"));
        assert!(hits("CAFÉ", "café"));
        assert!(!hits("café", "caffe"));
    }

    #[test]
    fn danish_letters_match_their_ascii_spelling() {
        assert!(hits("blabaergrod", "Mormors blåbærgrød!"));
        assert!(hits("blåbærgrød", "blabaergrod"));
        assert!(hits("Øresund", "over oresund"));
        assert!(hits("strasse", "Große Straße 1"));
        assert!(!hits("strasse", "Hauptstraße 1"), "a compound is one word");
        assert!(!hits("blabargrod", "blåbærgrød"));
    }

    #[test]
    fn hashtags_mentions_and_punctuation_separate_words() {
        for text in [
            "#klm delayed again",
            "@KLM where is my bag",
            "KLM's app",
            "(KLM)",
            "klm.",
            "Thanks,KLM!",
        ] {
            assert!(hits("KLM", text), "KLM should match {text:?}");
        }
    }

    #[test]
    fn term_does_not_match_inside_a_longer_word() {
        assert!(!hits("KLM", "klmx is a different brand"));
        assert!(!hits("KLM", "xklm too"));
        assert!(!hits("KLM", "k l m"));
    }

    #[test]
    fn phrase_matches_consecutive_words_across_punctuation() {
        assert!(hits(
            "\"fjordlink mobiel\"",
            "Ik heb Fjordlink-Mobiel sinds gisteren"
        ));
        assert!(hits("\"fjordlink mobiel\"", "fjordlink, mobiel!"));
        assert!(hits("\"fjordlink mobiel\"", "#fjordlink #mobiel"));
        assert!(!hits("\"fjordlink mobiel\"", "fjordlink is mobiel"));
        assert!(!hits("\"fjordlink mobiel\"", "mobiel fjordlink"));
        assert!(!hits("\"fjordlink mobiel\"", "fjordlink"));
    }

    #[test]
    fn term_with_punctuation_is_matched_as_a_phrase() {
        assert!(hits("t-mobile", "Switching to T-Mobile"));
        assert!(hits("t-mobile", "t mobile has no signal"));
        assert!(hits("t-mobile", "#T_Mobile"));
        assert!(!hits("t-mobile", "tmobile"));
        assert!(!hits("t-mobile", "mobile t"));
        assert!(hits("fjordlink.nl", "see https://www.fjordlink.nl/storing"));
        assert!(!hits("fjordlink.nl", "fjordlink in nl"));
    }

    #[test]
    fn adjacent_terms_are_anded() {
        assert!(hits("fjordlink storing", "Storing bij Fjordlink"));
        assert!(!hits("fjordlink storing", "Fjordlink werkt prima"));
        assert!(!hits("fjordlink storing", "storing bij de buren"));
    }

    #[test]
    fn lowercase_keywords_are_plain_terms() {
        assert!(!hits("fjordlink or storing", "fjordlink werkt"));
        assert!(hits("fjordlink or storing", "fjordlink or storing"));
        assert!(!hits("not fjordlink", "ander merk"));
        assert!(hits("not fjordlink", "not fjordlink again"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // `a OR b c` means `a OR (b AND c)`.
        assert!(hits("a OR b c", "a"));
        assert!(hits("a OR b c", "b c"));
        assert!(!hits("a OR b c", "b"));
        assert!(!hits("a OR b c", "c"));
        assert!(hits("a OR b AND c", "c b"));
        assert!(!hits("a OR b AND c", "c"));
    }

    #[test]
    fn not_binds_tighter_than_and_and_or() {
        // `NOT a b` means `(NOT a) AND b`, `NOT a OR b` means `(NOT a) OR b`.
        assert!(hits("NOT a b", "b"));
        assert!(!hits("NOT a b", "a b"));
        assert!(!hits("NOT a b", "c"));
        assert!(hits("NOT a OR b", "a b"));
        assert!(!hits("NOT a OR b", "a"));
    }

    #[test]
    fn parentheses_override_precedence() {
        assert!(hits("(a OR b) c", "b c"));
        assert!(!hits("(a OR b) c", "a"));
        assert!(hits("((a OR (b)) AND ((c)))", "a c"));
    }

    #[test]
    fn nested_not_inside_groups() {
        let query = "fjordlink NOT (job OR (vacature AND NOT klant))";
        assert!(hits(query, "fjordlink storing"));
        assert!(!hits(query, "fjordlink job"));
        assert!(!hits(query, "fjordlink vacature"));
        assert!(hits(query, "fjordlink vacature klant"));
        assert!(!hits(query, "fjordlink job klant"));
        assert!(!hits(query, "storing"));
    }

    #[test]
    fn minus_excludes_terms_phrases_groups_and_filters() {
        assert!(hits("fjordlink -job", "fjordlink storing"));
        assert!(!hits("fjordlink -job", "fjordlink JOB"));
        assert!(!hits("fjordlink -\"werken bij\"", "werken bij fjordlink"));
        assert!(hits("fjordlink -\"werken bij\"", "bij fjordlink werken"));
        assert!(!hits("fjordlink -(job OR vacature)", "fjordlink vacature"));
        let by_author = q("fjordlink -author:fjordlink_jobs");
        assert!(!by_author.matches(&Doc::new("fjordlink", Some("Fjordlink_Jobs"), None, None)));
        assert!(by_author.matches(&Doc::new("fjordlink", Some("jan"), None, None)));
        let by_site = q("fjordlink -site:werkenbij.nl");
        assert!(!by_site.matches(&Doc::new(
            "fjordlink",
            None,
            Some("https://werkenbij.nl/x"),
            None
        )));
        assert!(by_site.matches(&Doc::new("fjordlink", None, Some("https://nu.nl/x"), None)));
    }

    #[test]
    fn double_negation_is_a_plain_term_not_an_exclusion() {
        assert!(hits("NOT NOT a", "a"));
        assert!(!hits("--a", "b"));
        // If `NOT NOT job` stayed a NOT at the top, every item without "job" would be excluded.
        assert!(!q("NOT NOT job").excluded(&Doc::new("other", None, None, None)));
        assert!(!q("x --job").excluded(&Doc::new("other", None, None, None)));
    }

    #[test]
    fn wildcard_matches_words_starting_with_the_prefix() {
        assert!(hits("fjord*", "Fjordlink is down"));
        assert!(hits("fjord*", "the fjord"));
        assert!(hits("fjord*", "#FjordLinkStoring"));
        assert!(!hits("fjord*", "myfjordlink"));
        assert!(hits("t-mob*", "T-Mobiel"));
        assert!(!hits("t-mob*", "t-shirt mobiel"));
        assert!(
            hits("\"fjord link*\"", "fjord link"),
            "'*' inside quotes is punctuation"
        );
    }

    #[test]
    fn author_filter_ignores_case_and_at_signs() {
        let doc = Doc::new("hoi", Some("@FjordLink"), None, None);
        assert!(q("author:fjordlink").matches(&doc));
        assert!(q("author:@FJORDLINK").matches(&doc));
        assert!(q("author:\"@fjordlink\"").matches(&doc));
        assert!(!q("author:fjord").matches(&doc));
        assert!(!q("author:fjordlink").matches(&Doc::new("fjordlink", None, None, None)));
    }

    #[test]
    fn site_filter_matches_the_domain_and_its_subdomains() {
        let site = |query: &str, url: &str| q(query).matches(&Doc::new("", None, Some(url), None));
        assert!(site("site:example.com", "https://example.com/a"));
        assert!(site("site:example.com", "https://www.example.com/a"));
        assert!(site("site:example.com", "http://m.Example.COM:8080/a?b"));
        assert!(site("site:www.example.com", "https://example.com/"));
        assert!(site("site:https://example.com/path", "example.com/other"));
        assert!(site(
            "site:forum.example.com",
            "https://forum.example.com/t/1"
        ));
        assert!(!site("site:forum.example.com", "https://example.com/t/1"));
        assert!(!site("site:example.com", "https://notexample.com/"));
        assert!(!site("site:example.com", "https://example.com.evil.net/"));
        assert!(!q("site:example.com").matches(&Doc::new("example.com", None, None, None)));
    }

    #[test]
    fn host_is_read_the_same_with_and_without_the_fast_path() {
        for url in [
            "https://www.Example.COM/a",
            "http://m.example.com:8080/x?y#z",
            "example.com/path",
            "HTTPS://forum.example.com.",
            "https://user:pw@www.example.com/",
            "https://bücher.example/",
            "https://[::1]:80/",
            "https://127.1/",
        ] {
            let via_url = url::Url::parse(&if url.contains("://") {
                url.to_owned()
            } else {
                format!("https://{url}")
            })
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    h.trim_end_matches('.')
                        .trim_start_matches("www.")
                        .to_owned()
                })
            });
            assert_eq!(host_of(url), via_url, "{url}");
        }
        assert_eq!(
            host_of("https://www.Example.COM/a").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_of("https://user:pw@www.example.com/").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_of("https://bücher.example/").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(host_of("not a url"), None);
    }

    #[test]
    fn lang_filter_matches_the_language_and_its_regions() {
        let lang =
            |query: &str, code: &str| q(query).matches(&Doc::new("", None, None, Some(code)));
        assert!(lang("lang:nl", "nl"));
        assert!(lang("lang:NL", "nl"));
        assert!(lang("lang:nl", "nl-BE"));
        assert!(lang("lang:nl-be", "nl_BE"));
        assert!(!lang("lang:nl-be", "nl"));
        assert!(!lang("lang:nl", "nn"));
        assert!(!lang("lang:n", "nl"));
        assert!(!q("lang:nl").matches(&Doc::new("nl", None, None, None)));
    }

    #[test]
    fn filters_combine_with_terms() {
        let query = q("(fjordlink OR fjord*) lang:da -site:jobindex.dk");
        assert!(query.matches(&Doc::new(
            "Fjordlink er nede",
            None,
            Some("https://twitter.com/x"),
            Some("da")
        )));
        assert!(!query.matches(&Doc::new(
            "Fjordlink er nede",
            None,
            Some("https://twitter.com/x"),
            Some("nl")
        )));
        assert!(!query.matches(&Doc::new(
            "Fjordlink job",
            None,
            Some("https://www.jobindex.dk/1"),
            Some("da")
        )));
    }

    #[test]
    fn excluded_is_true_only_for_top_level_exclusions_that_hit() {
        let query = q("fjordlink -job NOT author:spambot -site:jobs.example.com");
        let doc =
            |text: &str, author: Option<&str>, url: Option<&str>| Doc::new(text, author, url, None);
        assert!(query.excluded(&doc("a new job", None, None)));
        assert!(query.excluded(&doc("hello", Some("@SpamBot"), None)));
        assert!(query.excluded(&doc("hello", None, Some("https://jobs.example.com/1"))));
        // Positive terms do not matter: an owned-channel item without "fjordlink" is kept.
        assert!(!query.excluded(&doc("hello", Some("jan"), Some("https://example.com/"))));
        assert!(!query.excluded(&doc("fjordlink", None, None)));
    }

    #[test]
    fn excluded_ignores_negations_that_are_not_anded_at_the_top() {
        assert!(!q("a OR -b").excluded(&Doc::new("b", None, None, None)));
        assert!(!q("a (b OR -c)").excluded(&Doc::new("c", None, None, None)));
        assert!(!q("fjordlink").excluded(&Doc::new("anything", None, None, None)));
        assert!(q("NOT (job OR vacature)").excluded(&Doc::new("vacature", None, None, None)));
        assert!(q("(a -b) -c").excluded(&Doc::new("b", None, None, None)));
    }

    #[test]
    fn as_str_returns_the_query_as_written() {
        assert_eq!(q("  fjordlink  -job ").as_str(), "  fjordlink  -job ");
    }

    #[test]
    fn empty_query_is_an_error_at_column_one() {
        assert_eq!(error(""), "column 1: empty query");
        assert_eq!(error("   \t"), "column 1: empty query");
    }

    #[test]
    fn unterminated_quote_points_at_the_opening_quote() {
        assert_eq!(error("fjord OR \"mobiel"), "column 10: unterminated quote");
        assert_eq!(error("author:\"jan"), "column 8: unterminated quote");
    }

    #[test]
    fn unclosed_parenthesis_names_where_it_was_opened() {
        assert_eq!(
            error("a (fjord OR x"),
            "column 14: expected ')' to close the '(' at column 3"
        );
        assert_eq!(
            error("((a) b  "),
            "column 7: expected ')' to close the '(' at column 1"
        );
        assert_eq!(
            error("("),
            "column 2: expected ')' to close the '(' at column 1"
        );
    }

    #[test]
    fn stray_and_empty_parentheses_are_errors() {
        assert_eq!(
            error("a) b"),
            "column 2: unexpected ')' without a '(' before it"
        );
        assert_eq!(
            error(") b"),
            "column 1: unexpected ')' without a '(' before it"
        );
        assert_eq!(
            error("a ()"),
            "column 3: empty parentheses; put a term between '(' and ')'"
        );
    }

    #[test]
    fn binary_operator_without_both_sides_is_an_error_at_the_operator() {
        assert_eq!(error("abc OR"), "column 5: 'OR' needs a term on both sides");
        assert_eq!(error("OR abc"), "column 1: 'OR' needs a term on both sides");
        assert_eq!(
            error("a OR OR b"),
            "column 3: 'OR' needs a term on both sides"
        );
        assert_eq!(
            error("a AND OR b"),
            "column 3: 'AND' needs a term on both sides"
        );
        assert_eq!(
            error("(AND a)"),
            "column 2: 'AND' needs a term on both sides"
        );
        assert_eq!(
            error("(a OR) b"),
            "column 4: 'OR' needs a term on both sides"
        );
    }

    #[test]
    fn not_and_minus_without_an_operand_are_errors() {
        assert_eq!(
            error("fjordlink NOT"),
            "column 11: 'NOT' needs a term after it"
        );
        assert_eq!(error("(a NOT) b"), "column 4: 'NOT' needs a term after it");
        assert!(
            error("fjordlink - job")
                .starts_with("column 11: '-' must be followed directly by a term")
        );
        assert!(error("a -").starts_with("column 3: '-' must be followed directly"));
        assert!(error("a -OR b").starts_with("column 3: '-' must be followed directly"));
    }

    #[test]
    fn unknown_filter_names_the_known_filters() {
        let message = error("fjordlink foo:bar");
        assert!(
            message.starts_with("column 11: unknown filter 'foo:'"),
            "{message}"
        );
        assert!(message.contains("author:, site: and lang:"), "{message}");
        assert!(error("12:30").starts_with("column 1: unknown filter '12:'"));
        assert!(
            hits("\"12:30\"", "om 12:30 uur"),
            "quoting makes a colon plain text"
        );
    }

    #[test]
    fn filters_need_a_usable_value() {
        assert!(error("author:").starts_with("column 1: 'author:' needs a handle"));
        assert!(error("a author:@").starts_with("column 3: 'author:' needs a handle"));
        assert!(error("site:").starts_with("column 1: 'site:' needs a domain"));
        assert!(error("lang:").starts_with("column 1: 'lang:' needs a language code"));
        assert!(error("a site:[x").starts_with("column 3: 'site:[x' is not a domain"));
        assert!(error("lang:n*l").starts_with("column 1: 'lang:n*l' is not a language code"));
    }

    #[test]
    fn misplaced_wildcard_and_empty_terms_are_errors() {
        assert!(error("a f*rd").starts_with("column 4: '*' only works at the end of a term"));
        assert!(error("fjord**").starts_with("column 6: '*' only works at the end of a term"));
        assert!(error("a *").starts_with("column 3: '*' must follow a letter or digit"));
        assert!(error("t-*").starts_with("column 3: '*' must follow a letter or digit"));
        assert!(error("a !!!").starts_with("column 3: '!!!' has no letters or digits"));
        assert!(
            error("a \"!!\"").starts_with("column 3: the phrase \"!!\" has no letters or digits")
        );
    }

    #[test]
    fn error_columns_count_characters_not_bytes() {
        assert_eq!(
            error("café ø (a"),
            "column 10: expected ')' to close the '(' at column 8"
        );
    }

    #[test]
    fn query_and_doc_can_be_shared_across_threads() {
        fn shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}
        shareable::<Query>();
        shareable::<Doc>();
        shareable::<QueryError>();
    }

    #[test]
    fn brand_names_are_found_inside_japanese_and_chinese_text() {
        let q = Query::parse("fjordlink").unwrap();
        let doc = |t: &str| Doc::new(t, None, None, None);
        assert!(q.matches(&doc("Fjordlinkの光ファイバーは最高です！")));
        assert!(q.matches(&doc("我喜欢Fjordlink的服务")));
        assert!(!q.matches(&doc("Fjordlinksの光")));
        assert!(
            Query::parse("\"光ファイバー\"")
                .unwrap()
                .matches(&doc("Fjordlinkの光ファイバーは最高"))
        );
    }
}
