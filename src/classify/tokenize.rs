//! One-pass tokenizer for mentions: words, hashtags, @handles, links, numbers, emoji, emoticons
//! and the punctuation that bounds clauses. It walks the bytes once and never allocates; the
//! lexicon loader runs the same code over lexicon phrases so both sides agree on what a token is.

use crate::text::{HIGH, LANES, lanes_in, load8};

/// What a token is. Punctuation that matters for scope (clause and sentence ends) is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Number,
    Hashtag,
    Handle,
    Link,
    Emoji,
    Emoticon,
    /// A run of `?` (possibly mixed with `!`).
    Question,
    /// A run of `!`; `flags` holds how many.
    Exclaim,
    /// `.`, `,`, `;`, `:` or a line break: ends negation scope.
    Stop,
}

/// Every letter of the word is upper case and it has at least two letters.
pub(crate) const CAPS: u8 = 1;
/// The word repeats a letter three or more times ("sooo", "neeeee").
pub(crate) const ELONGATED: u8 = 2;
/// The word contains at least one upper-case letter.
pub(crate) const HAS_UPPER: u8 = 4;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub start: u32,
    pub end: u32,
    kind: Kind,
    flags: u8,
    count: u16,
}

impl Token {
    #[inline(always)]
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }
    #[inline(always)]
    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }
    /// Number of letters (words) or `!` characters (exclamations).
    #[inline(always)]
    pub(crate) fn count(&self) -> u16 {
        self.count
    }
}

/// ASCII emoticons, longest first so `:-(` wins over `:-`.
const EMOTICONS: &[&str] = &[
    ":'-(", ":'(", ":-((", ":((", ":-))", ":))", ":-)", ":-(", ":-d", ":-p", ":-/", ":-|", ":-o",
    ":-s", ":-@", ";-)", "</3", "<3", ":)", ":(", ":d", ":p", ":/", ":|", ":o", ":s", ":@", ";)",
    "=)", "=(", "^^", "-_-",
];

/// Top-level domains that mark `word.tld` as a link even without `http`.
const TLDS: &[&str] = &[
    "com", "nl", "dk", "net", "org", "ly", "io", "co", "be", "eu", "info", "shop", "xyz", "me",
    "uk", "de", "app", "store", "online", "site", "gl", "gg", "to",
];

/// Splits `text` into tokens and hands them to `emit` in order.
pub(crate) fn tokenize(text: &str, mut emit: impl FnMut(Token)) {
    tokenize_keyed(text, |t, _| emit(t));
}

/// Like [`tokenize`], and hands each plain-ASCII word, number and hashtag its lookup key as a
/// by-product of the scan (the same bytes [`key`] would write), so the caller need not walk
/// the word a second time. `None` means "not computed here": call [`key`].
pub(crate) fn tokenize_keyed(text: &str, mut emit: impl FnMut(Token, Option<&[u8; 64]>)) {
    let b = text.as_bytes();
    let n = b.len();
    let mut key = [0u8; 64];
    let mut i = 0;
    // One call site for `emit`, so the compiler inlines it into this loop.
    while i < n {
        let c = b[i];
        if c == b' ' {
            i += 1;
            continue;
        }
        let (end, t, keyed) = if c == b'W' && consumer_body(b, i) {
            (i + 6, tok(i, i + 6, Kind::Handle, 0, 0), false)
        } else if c.is_ascii_alphanumeric() {
            word(text, i, i, Kind::Word, &mut key)
        } else {
            match other(text, i, &mut key) {
                (end, Some((t, keyed))) => (end, t, keyed),
                (end, None) => {
                    i = end;
                    continue;
                }
            }
        };
        emit(t, keyed.then_some(&key));
        i = end;
    }
}

/// "Which? says 9 in 10 deals …": the British consumer body, whose name ends in a question
/// mark, named as a handle is: it asks nothing, and its "Which" is no question word. Only the
/// capitalised name with a lower-case word after it ("Which? Which one, then?" asks).
fn consumer_body(b: &[u8], i: usize) -> bool {
    b[i..].starts_with(b"Which? ")
        && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        && b.get(i + 7).is_some_and(u8::is_ascii_lowercase)
}

/// A hyphen with a blank on both sides ("quick one - can I …") is a dash typed on a keyboard
/// without one, and ends a clause as '–' does.
fn spaced_dash(b: &[u8], i: usize) -> bool {
    b[i] == b'-'
        && i > 0
        && b[i - 1].is_ascii_whitespace()
        && b.get(i + 1).is_some_and(u8::is_ascii_whitespace)
}

/// The words of a hashtag written in CamelCase ("#WorstCustomerService": Worst, Customer,
/// Service; "#HPSupport": HP, Support), handed to `emit` as word tokens over the same text, as
/// [`tokenize_keyed`] hands them. Returns false, and emits nothing, for any other hashtag:
/// one in a single case, or with letters beyond ASCII. People join words in hashtags, and a
/// phrase such as "customer service" should still be found in them.
pub(crate) fn camel_words(
    text: &str,
    t: &Token,
    mut emit: impl FnMut(Token, Option<&[u8; 64]>),
) -> bool {
    let (start, end) = (t.start as usize + 1, t.end as usize);
    let b = &text.as_bytes()[start..end];
    if t.kind != Kind::Hashtag || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (up, low) = (
        |c: u8| c.is_ascii_uppercase(),
        |c: u8| c.is_ascii_lowercase(),
    );
    let cuts = (1..b.len()).filter(|&i| {
        let word_starts = up(b[i]) && b.get(i + 1).is_some_and(|&c| low(c));
        (low(b[i - 1]) && up(b[i])) || (!low(b[i - 1]) && word_starts)
    });
    let mut cuts = cuts.peekable();
    if cuts.peek().is_none() {
        return false;
    }
    let mut from = start;
    for to in cuts.map(|i| start + i).chain(std::iter::once(end)) {
        tokenize_keyed(&text[from..to], |mut part, key| {
            part.start += from as u32;
            part.end += from as u32;
            emit(part, key);
        });
        from = to;
    }
    true
}

/// Any token that does not start with an ASCII letter or digit, from `i`: the index after it,
/// and the token (`None` for bytes that make none) with whether `key` holds its key.
#[inline(never)]
fn other(text: &str, i: usize, key: &mut [u8; 64]) -> (usize, Option<(Token, bool)>) {
    let b = text.as_bytes();
    let n = b.len();
    let c = b[i];
    let some = |end: usize, t: Token| (end, Some((t, false)));
    if c < 0x80 {
        match c {
            b'#' if i + 1 < n && starts_word(text, i + 1) => {
                let (end, t, keyed) = word(text, i, i + 1, Kind::Hashtag, key);
                (end, Some((t, keyed)))
            }
            b'@' if i + 1 < n && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'_') => {
                let mut j = i + 1;
                while j < n && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                some(j, tok(i, j, Kind::Handle, 0, 0))
            }
            b'?' | b'!' => {
                let mut j = i;
                let mut q = false;
                let mut bangs = 0u16;
                while j < n && (b[j] == b'?' || b[j] == b'!') {
                    q |= b[j] == b'?';
                    bangs = bangs.saturating_add(u16::from(b[j] == b'!'));
                    j += 1;
                }
                let kind = if q { Kind::Question } else { Kind::Exclaim };
                some(j, tok(i, j, kind, 0, bangs))
            }
            b':' | b';' | b'=' | b'<' | b'^' | b'-' => {
                if let Some(len) = emoticon(b, i) {
                    some(i + len, tok(i, i + len, Kind::Emoticon, 0, 0))
                } else if c == b':' || c == b';' || spaced_dash(b, i) {
                    some(i + 1, tok(i, i + 1, Kind::Stop, 0, 0))
                } else {
                    (i + 1, None)
                }
            }
            b'.' if ordinal_dot(b, i) || abbreviation_dot(b, i) || emphatic_dot(b, i) => {
                (i + 1, None)
            }
            b'.' | b',' | b'\n' | b'(' | b')' | b'"' => {
                let mut j = i + 1;
                while j < n && b[j] == c {
                    j += 1;
                }
                some(j, tok(i, j, Kind::Stop, 0, 0))
            }
            b'/' if b.get(i + 1) == Some(&b's')
                && b.get(i + 2).is_none_or(|x| !x.is_ascii_alphanumeric())
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) =>
            {
                // "/s" marks sarcasm; the lexicon lists it as an emoticon-like cue. Attached
                // to a word it is a unit ("940 Mbit/s", "MB/s"), not a marker.
                some(i + 2, tok(i, i + 2, Kind::Emoticon, 0, 0))
            }
            _ => (i + 1, None),
        }
    } else {
        let ch = decode(text, i);
        let len = ch.len_utf8();
        if is_letter(ch) {
            let (end, t, keyed) = word(text, i, i, Kind::Word, key);
            (end, Some((t, keyed)))
        } else if is_emoji(ch) {
            let mut j = i + len;
            // Swallow variation selectors, skin tones and zero-width-joined parts: the
            // first code point carries the meaning.
            while j < n {
                let next = decode(text, j);
                if next == '\u{FE0F}' || ('\u{1F3FB}'..='\u{1F3FF}').contains(&next) {
                    j += next.len_utf8();
                } else if next == '\u{200D}' {
                    j += next.len_utf8();
                    if j < n {
                        j += decode(text, j).len_utf8();
                    }
                } else {
                    break;
                }
            }
            some(j, tok(i, j, Kind::Emoji, 0, 0))
        } else {
            // Typographic quotes, dashes and ellipses end a clause like their ASCII kin.
            if matches!(ch, '…' | '–' | '—' | '“' | '”') {
                some(i + len, tok(i, i + len, Kind::Stop, 0, 0))
            } else {
                (i + len, None)
            }
        }
    }
}

/// Abbreviations whose full stop never ends a sentence: "bl.a. prisen", "kl. 8", "pga. Corona".
/// Lower case, without the final stop: English, then Dutch, then Danish.
#[rustfmt::skip]
const ABBREVIATIONS: &[&[u8]] = &[
    b"e.g", b"i.e", b"vs", b"approx", b"incl", b"excl", b"mr", b"mrs", b"ms", b"dr", b"nr",
    b"bijv", b"bv", b"o.a", b"pga", b"p.g.a", b"i.p.v", b"d.w.z", b"m.b.t", b"t.a.v", b"m.a.w",
    b"z.s.m", b"ca", b"evt", b"dhr", b"mevr", b"t.o.v", b"i.v.m",
    b"bl.a", b"f.eks", b"kl", b"dvs", b"d.v.s", b"mht", b"m.h.t", b"iflg", b"ifm", b"i.f.m",
    b"ift", b"jf", b"inkl", b"ekskl", b"vedr",
];

/// Abbreviations that may also close a sentence ("… vouchers, etc. Never again.", "waited an
/// hr. Then …"): their stop ends one only before a capital letter.
const ABBREVIATIONS_AT_END: &[&[u8]] = &[
    b"etc", b"enz", b"e.d", b"osv", b"m.m", b"mv", b"o.l", b"min", b"max", b"hr", b"hrs",
];

/// Whether the '.' at `i` makes a Danish ordinal of the number before it ("for 3. gang", "på
/// 4. sal", "inden 1. juni"): one or two digits, then one space and a small letter.
fn ordinal_dot(b: &[u8], i: usize) -> bool {
    let digits = b[..i]
        .iter()
        .rev()
        .take(3)
        .take_while(|c| c.is_ascii_digit())
        .count();
    let lower = match b.get(i + 2) {
        Some(&c) if c < 0x80 => c.is_ascii_lowercase(),
        // æ, ø, å and the other Latin-1 small letters are 0xC3 0xA0..=0xBF.
        Some(0xC3) => b.get(i + 3).is_some_and(|&c| c >= 0xA0),
        _ => false,
    };
    (1..=2).contains(&digits)
        && (i == digits || matches!(b[i - digits - 1], b' ' | b'('))
        && b.get(i + 1) == Some(&b' ')
        && lower
}

/// Whether the '.' at `i` sits inside a run of three or more one-word sentences written for
/// emphasis ("Every. Single. Time.", "The. Worst. Ever."): the words are one phrase, so the
/// dots between them end no sentence and the last one does. Two such words are left apart:
/// "Telia nede. Igen. Fantastisk." mocks in its last word.
fn emphatic_dot(b: &[u8], i: usize) -> bool {
    let Some(mut start) = lone_word_before(b, i) else {
        return false;
    };
    let mut run = 1;
    let mut end = i;
    while run < 3 {
        match lone_word_after(b, end) {
            Some(next) => (run, end) = (run + 1, next),
            None => break,
        }
    }
    if end == i {
        return false;
    }
    while run < 3 && start >= 2 {
        match lone_word_before(b, start - 2) {
            Some(s) => (run, start) = (run + 1, s),
            None => break,
        }
    }
    run >= 3
}

/// Bytes of multi-byte characters count as letters: "Én. Gang. Til." is such a run too.
fn letter(c: &u8) -> bool {
    c.is_ascii_alphabetic() || *c >= 0x80
}

/// Where the word that ends at the '.' at `i` starts, when it is a sentence of its own: the
/// post starts with it, or a sentence mark and a space come before it.
fn lone_word_before(b: &[u8], i: usize) -> Option<usize> {
    let start = i - b[..i].iter().rev().take_while(|c| letter(c)).count();
    let alone = start == 0
        || start >= 2 && b[start - 1] == b' ' && matches!(b[start - 2], b'.' | b'!' | b'?');
    (start < i && alone).then_some(start)
}

/// Where the one-word sentence after the '.' at `i` ends (at its '.' or '!'), if one follows.
fn lone_word_after(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i + 1) != Some(&b' ') {
        return None;
    }
    let end = i + 2 + b.get(i + 2..)?.iter().take_while(|c| letter(c)).count();
    (end > i + 2 && matches!(b.get(end), Some(b'.' | b'!'))).then_some(end)
}

/// Whether the '.' at `i` belongs to an abbreviation ("e.g.", "bl.a.", "kl. 8") rather than
/// ending a sentence, so that "Strømmen er gået siden kl. 17" stays one sentence and a
/// supposition or a negation after "pga." is not cut off. The dots inside one ("e.g") count
/// too. Runs only at a '.', and reads at most a few bytes either side.
fn abbreviation_dot(b: &[u8], i: usize) -> bool {
    const LONGEST: usize = 7;
    let part = |c: &u8| c.is_ascii_alphabetic() || *c == b'.';
    if b.get(i + 1) == Some(&b'.') {
        return false;
    }
    let start = i - b[..i]
        .iter()
        .rev()
        .take(LONGEST + 1)
        .take_while(|c| part(c))
        .count();
    let end = i
        + 1
        + b[i + 1..]
            .iter()
            .take(LONGEST)
            .take_while(|c| part(c))
            .count();
    if start == i || end - start > LONGEST + 1 || b[end - 1] != b'.' {
        return false;
    }
    // Part of a longer word ("sommeren.kl", "allé."): not one of ours. A digit may touch it
    // ("20min.").
    let joined = |c: Option<&u8>| c.is_some_and(|&c| part(&c) || c >= 0x80);
    if start > 0 && joined(b.get(start - 1)) || joined(b.get(end)) {
        return false;
    }
    let word = &b[start..end - 1];
    let is = |list: &[&[u8]]| list.iter().any(|a| a.eq_ignore_ascii_case(word));
    if is(ABBREVIATIONS) {
        return true;
    }
    if !is(ABBREVIATIONS_AT_END) {
        return false;
    }
    // Before a capital letter a new sentence may start; before anything else it does not.
    let next = (end..b.len()).find(|&at| b[at] != b' ');
    let capital = |at: usize| match b[at] {
        c if c < 0x80 => c.is_ascii_uppercase(),
        // Æ, Ø, Å, É and the other Latin-1 capitals (U+00C0..U+00DE) are 0xC3 0x80..=0x9E.
        0xC3 => b.get(at + 1).is_some_and(|&c| (0x80..=0x9E).contains(&c)),
        _ => false,
    };
    next.is_some_and(|at| !capital(at))
}

fn tok(start: usize, end: usize, kind: Kind, flags: u8, count: u16) -> Token {
    Token {
        start: start as u32,
        end: end as u32,
        kind,
        flags,
        count,
    }
}

/// `char::is_alphabetic`, answered from the code point for the Latin letters our languages
/// use (æ, ø, å, é, ë, ...) instead of from the Unicode tables.
#[inline]
fn is_letter(ch: char) -> bool {
    match ch as u32 {
        0..=0x7F => ch.is_ascii_alphabetic(),
        // Latin-1: letters except × and ÷; ª, µ and º count as letters too.
        0xC0..=0xFF => !matches!(ch, '×' | '÷'),
        // Latin Extended-A and -B are letters throughout.
        0x100..=0x24F => true,
        _ => ch.is_alphabetic(),
    }
}

/// `char::is_uppercase` with the same shortcut as [`is_letter`].
#[inline]
fn is_upper(ch: char) -> bool {
    match ch as u32 {
        0..=0x7F => ch.is_ascii_uppercase(),
        0xC0..=0xDE => ch != '×',
        0xDF..=0xFF => false,
        _ => ch.is_uppercase(),
    }
}

/// Lower case of `ch`, with Latin-1 upper-case letters done by arithmetic.
#[inline]
fn push_lower(ch: char, buf: &mut [u8; 64], len: &mut usize) -> bool {
    if matches!(ch as u32, 0xC0..=0xDE) && ch != '×' {
        let lower = char::from_u32(ch as u32 + 0x20).unwrap_or(ch);
        return push_char(lower, buf, len);
    }
    if (ch as u32) < 0xC0 || matches!(ch as u32, 0xDF..=0xFF) {
        return push_char(ch.to_ascii_lowercase(), buf, len);
    }
    ch.to_lowercase().all(|lower| push_char(lower, buf, len))
}

fn push_char(ch: char, buf: &mut [u8; 64], len: &mut usize) -> bool {
    let l = ch.len_utf8();
    if *len + l > buf.len() {
        return false;
    }
    ch.encode_utf8(&mut buf[*len..]);
    *len += l;
    true
}

#[inline]
fn decode(text: &str, i: usize) -> char {
    // `i` is always on a char boundary: we only step by whole characters.
    text[i..].chars().next().unwrap_or(' ')
}

fn starts_word(text: &str, i: usize) -> bool {
    let c = text.as_bytes()[i];
    if c < 0x80 {
        c.is_ascii_alphanumeric()
    } else {
        is_letter(decode(text, i))
    }
}

fn is_emoji(ch: char) -> bool {
    matches!(ch as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0x2190..=0x21FF | 0x3030 | 0x303D)
}

fn emoticon(b: &[u8], i: usize) -> Option<usize> {
    for e in EMOTICONS {
        let e = e.as_bytes();
        if b.len() - i >= e.len() && b[i..i + e.len()].eq_ignore_ascii_case(e) {
            // ":p" must not eat the start of ":pakket"; letters after the face end it.
            let next = b.get(i + e.len());
            if e.last().is_some_and(u8::is_ascii_alphabetic)
                && next.is_some_and(u8::is_ascii_alphanumeric)
            {
                continue;
            }
            return Some(e.len());
        }
    }
    None
}

/// Scans a word starting at `body` (the token span starts at `start`, which differs for
/// hashtags) and returns the index after it, the token, and whether `key` now holds the
/// token's lookup key (it does for words of ASCII letters, digits, `'` and `-`).
#[inline(always)]
fn word(
    text: &str,
    start: usize,
    body: usize,
    kind: Kind,
    key: &mut [u8; 64],
) -> (usize, Token, bool) {
    let b = text.as_bytes();
    // Both scans hand back a small value in registers; the token is built once, after them.
    let w = match ascii_word(b, body, key) {
        Some(w) => w,
        None => general_word(text, body, key),
    };
    finish_word(
        b,
        start,
        body,
        body + w.len as usize,
        kind,
        w.letters,
        w.upper,
        w.elongated,
        w.keyed,
    )
}

/// The scan of [`word`] for anything [`ascii_word`] leaves: non-ASCII letters, `'`, `-`,
/// very long words.
#[inline(never)]
fn general_word(text: &str, body: usize, key: &mut [u8; 64]) -> Scanned {
    let b = text.as_bytes();
    let n = b.len();
    let mut j = body;
    let mut letters = 0u16;
    let mut upper = 0u16;
    let mut prev = 0u32;
    let mut run = 0u8;
    let mut elongated = false;
    // Otherwise a run of ASCII letters and digits, counted without branches and lower-cased
    // into `key` on the way.
    while j < n && b[j].is_ascii_alphanumeric() {
        let c = b[j];
        let alpha = c > b'9';
        let up = c.wrapping_sub(b'A') < 26;
        letters = letters.saturating_add(u16::from(alpha));
        upper = upper.saturating_add(u16::from(up));
        if let Some(k) = key.get_mut(j - body) {
            *k = c | (u8::from(up) << 5);
        }
        let same = u32::from(c) == prev;
        run = if same { run.saturating_add(1) } else { 0 };
        elongated |= run >= 2 && alpha;
        prev = u32::from(c);
        j += 1;
    }
    let mut keyed = true;
    // Then whatever else can continue a word: non-ASCII letters, apostrophes, hyphens.
    while j < n {
        let c = b[j];
        let (ch, alpha, up, len) = if c.is_ascii_alphanumeric() {
            (u32::from(c), c > b'9', c.is_ascii_uppercase(), 1)
        } else if c < 0x80 {
            if (c == b'\'' || c == b'-') && j + 1 < n && j > body && starts_word(text, j + 1) {
                if let Some(k) = key.get_mut(j - body) {
                    *k = c;
                }
                prev = 0;
                j += 1;
                continue;
            }
            break;
        } else {
            keyed = false;
            let d = decode(text, j);
            if is_letter(d) {
                (d as u32, true, is_upper(d), d.len_utf8())
            } else if d == '’' && j + 3 < n && starts_word(text, j + 3) {
                j += 3;
                prev = 0;
                continue;
            } else {
                break;
            }
        };
        if let Some(k) = key.get_mut(j - body) {
            *k = (ch as u8).to_ascii_lowercase();
        }
        letters = letters.saturating_add(u16::from(alpha));
        upper = upper.saturating_add(u16::from(up));
        if ch == prev {
            run = run.saturating_add(1);
            elongated |= run >= 2 && alpha;
        } else {
            run = 0;
            prev = ch;
        }
        j += len;
    }
    Scanned {
        len: (j - body) as u32,
        letters,
        upper,
        elongated,
        keyed,
    }
}

/// The token for a scanned word: a link if it starts one, a number if it has no letters or
/// starts with a digit.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish_word(
    b: &[u8],
    start: usize,
    body: usize,
    j: usize,
    kind: Kind,
    letters: u16,
    upper: u16,
    elongated: bool,
    keyed: bool,
) -> (usize, Token, bool) {
    if kind == Kind::Word
        && matches!(b.get(j), Some(b':' | b'.'))
        && let Some(end) = link_end(b, body, j)
    {
        return (end, tok(start, end, Kind::Link, 0, 0), false);
    }
    let mut flags = 0;
    if upper > 0 {
        flags |= HAS_UPPER;
    }
    if letters >= 2 && upper == letters {
        flags |= CAPS;
    }
    if elongated {
        flags |= ELONGATED;
    }
    // "500Mb", "40GB", "3pm": an amount with its unit counts as a number for `<num>`.
    let kind = if kind == Kind::Word && (letters == 0 || b[body].is_ascii_digit()) {
        Kind::Number
    } else {
        kind
    };
    // A key longer than the buffer is left to `key`, which refuses it.
    let keyed = keyed && j - body <= 64;
    (j, tok(start, j, kind, flags, letters), keyed)
}

/// Per-byte classes of eight bytes, each as a mask with the byte's high bit set.
struct Classes {
    alnum: u64,
    alpha: u64,
    upper: u64,
}

#[inline(always)]
fn ascii_classes(x: u64) -> Classes {
    let ascii = !x & HIGH;
    let low7 = x & !HIGH;
    // Setting bit 5 folds exactly the upper-case letters onto the lower-case ones.
    let alpha = lanes_in(low7 | (LANES * 0x20), b'a', b'z') & ascii;
    let digit = lanes_in(low7, b'0', b'9') & ascii;
    Classes {
        alnum: alpha | digit,
        alpha,
        // Upper case: a letter with bit 5 clear (shifted up to the byte's high bit).
        upper: alpha & !(x << 2),
    }
}

/// High bit set in every byte of `v` that is zero.
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    !(((v & !HIGH) + !HIGH) | v) & HIGH
}

/// What a word scan found. Small enough to come back in registers.
struct Scanned {
    len: u32,
    letters: u16,
    upper: u16,
    elongated: bool,
    /// `key` holds the word's lookup key.
    keyed: bool,
}

/// A word of up to 63 ASCII letters and digits at `at`, ended by something that cannot
/// continue a word, scanned eight bytes at a time: counted, checked for elongation and
/// lower-cased into `key`. `None` sends the word down [`general_word`].
#[inline(always)]
fn ascii_word(b: &[u8], at: usize, key: &mut [u8; 64]) -> Option<Scanned> {
    let mut w = Scanned {
        len: 0,
        letters: 0,
        upper: 0,
        elongated: false,
        keyed: true,
    };
    let mut prev = 0u64;
    for block in 0..8 {
        let x = load8(b, at + block * 8);
        let class = ascii_classes(x);
        let stop = !class.alnum & HIGH;
        let len = (stop.trailing_zeros() / 8) as usize;
        let within = u64::MAX.checked_shr(64 - 8 * len as u32).unwrap_or(0);
        let x = x & within;
        w.letters += (class.alpha & within).count_ones() as u16;
        w.upper += (class.upper & within).count_ones() as u16;
        // Three equal letters in a row ("sooo"), within this block ...
        let same = zero_bytes(x ^ (x >> 8));
        w.elongated |= same & (same >> 8) & class.alpha & (within >> 16) != 0;
        // ... or across its start: bytes 6 and 7 of the block before, then 0 and 1 of this.
        if block > 0 {
            let y = (prev >> 48) | (x << 16);
            let same = zero_bytes(y ^ (y >> 8));
            w.elongated |= same & (same >> 8) & ascii_classes(y).alpha & within & 0x8080 != 0;
        }
        key[block * 8..block * 8 + 8]
            .copy_from_slice(&((x | (class.upper >> 2)) & within).to_le_bytes());
        if len < 8 {
            w.len = (block * 8 + len) as u32;
            return match b.get(at + w.len as usize) {
                _ if w.len == 0 => None,
                Some(b'\'' | b'-') | Some(0x80..) => None,
                _ => Some(w),
            };
        }
        prev = x;
    }
    None
}

/// If the word at `start..end` begins a link (`https://…`, `www.…`, `shop.example.com/x`),
/// returns where the link ends.
fn link_end(b: &[u8], start: usize, end: usize) -> Option<usize> {
    // Every link form below needs ':' or '.' right after the first word.
    if !matches!(b.get(end), Some(b':' | b'.')) {
        return None;
    }
    let n = b.len();
    let w = &b[start..end];
    let to_space = |from: usize| {
        let mut k = from;
        while k < n && !b[k].is_ascii_whitespace() {
            k += 1;
        }
        k
    };
    if (w.eq_ignore_ascii_case(b"http") || w.eq_ignore_ascii_case(b"https"))
        && b[end..].starts_with(b"://")
    {
        return Some(to_space(end));
    }
    if w.eq_ignore_ascii_case(b"www") && b.get(end) == Some(&b'.') {
        return Some(to_space(end));
    }
    if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_alphabetic) {
        let stop = to_space(end);
        let seg = &b[end + 1..stop];
        // The domain part ends at the first '/', or at trailing punctuation.
        let dom_end = seg.iter().position(|&x| x == b'/').unwrap_or(seg.len());
        let mut dom = &seg[..dom_end];
        while let [rest @ .., last] = dom {
            if last.is_ascii_alphanumeric() {
                break;
            }
            dom = rest;
        }
        let tld = dom.rsplit(|&x| x == b'.').next().unwrap_or(dom);
        if TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t.as_bytes())) {
            let trimmed = if dom_end == seg.len() {
                end + 1 + dom.len()
            } else {
                stop
            };
            return Some(trimmed);
        }
    }
    None
}

/// Writes the lookup key of a token (lower case, `’` as `'`, no leading `#`, emoji reduced to
/// their first code point) into `buf`. Returns `None` when the key does not fit.
pub(crate) fn key<'b>(text: &str, t: &Token, buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let s = &text[t.start as usize..t.end as usize];
    let s = match t.kind() {
        Kind::Hashtag => &s[1..],
        Kind::Emoji => {
            let ch = s.chars().next()?;
            &s[..ch.len_utf8()]
        }
        _ => s,
    };
    let mut len = 0;
    let bytes = s.as_bytes();
    if bytes.len() <= buf.len() {
        let mut ascii = true;
        for (i, &c) in bytes.iter().enumerate() {
            ascii &= c < 0x80;
            buf[i] = c.to_ascii_lowercase();
        }
        if ascii {
            return Some(&buf[..bytes.len()]);
        }
    }
    for ch in s.chars() {
        let ch = if ch == '’' { '\'' } else { ch };
        if !push_lower(ch, buf, &mut len) {
            return None;
        }
    }
    Some(&buf[..len])
}

/// Collapses runs of three or more equal letters to `keep` letters ("goooood" → "good" with
/// keep = 2, "sooo" → "so" with keep = 1). Returns the new length.
pub(crate) fn collapse_runs(key: &mut [u8], len: usize, keep: usize) -> usize {
    let mut out = 0;
    let mut i = 0;
    while i < len {
        let c = key[i];
        let mut j = i;
        while j < len && key[j] == c {
            j += 1;
        }
        let run = j - i;
        let take = if run >= 3 && c.is_ascii_alphabetic() {
            keep
        } else {
            run
        };
        for _ in 0..take {
            key[out] = c;
            out += 1;
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        let mut v = Vec::new();
        tokenize(text, |t| {
            v.push((t.kind(), &text[t.start as usize..t.end as usize]))
        });
        v
    }

    #[test]
    fn splits_words_hashtags_handles_and_punctuation() {
        assert_eq!(
            kinds("@NS waarom?? #fail, niet-werkende app!"),
            vec![
                (Kind::Handle, "@NS"),
                (Kind::Word, "waarom"),
                (Kind::Question, "??"),
                (Kind::Hashtag, "#fail"),
                (Kind::Stop, ","),
                (Kind::Word, "niet-werkende"),
                (Kind::Word, "app"),
                (Kind::Exclaim, "!"),
            ]
        );
    }

    #[test]
    fn the_consumer_body_named_which_is_a_name_not_a_question() {
        // (text, its first two tokens)
        let cases = [
            (
                "Which? says prices rose",
                [(Kind::Handle, "Which?"), (Kind::Word, "says")],
            ),
            (
                "Which? Which one",
                [(Kind::Word, "Which"), (Kind::Question, "?")],
            ),
            (
                "which? says",
                [(Kind::Word, "which"), (Kind::Question, "?")],
            ),
        ];
        for (text, first) in cases {
            assert_eq!(kinds(text)[..2], first, "{text}");
        }
    }

    /// How many sentence stops `text` holds.
    fn stops(text: &str) -> usize {
        kinds(text)
            .into_iter()
            .filter(|(k, _)| *k == Kind::Stop)
            .count()
    }

    #[test]
    fn the_full_stop_of_an_abbreviation_ends_no_sentence() {
        assert_eq!(stops("Strømmen er gået siden kl. 17 i Vanløse"), 0);
        assert_eq!(stops("Lukket bl.a. pga. sporarbejde, f.eks. i Køge"), 1);
        assert_eq!(stops("Apps, e.g. Netflix and i.e. the TV box"), 1);
        assert_eq!(
            stops("Dhr. Jansen en mevr. De Vries bijv. bellen i.p.v. mailen"),
            0
        );
        assert_eq!(stops("Waited 20min. then gave up"), 0);
        // A Danish ordinal: "for 3. gang", "på 4. sal".
        assert_eq!(stops("For 3. gang i år, og på 4. sal i øvrigt"), 1);
        assert_eq!(stops("Order 1234. still nothing. Betalt 12. Øv"), 3);
        // Those that may close a sentence close one before a capital letter.
        assert_eq!(stops("Vouchers, refunds, etc. Never again."), 4);
        assert_eq!(stops("Vouchers, refunds etc. and never an answer"), 1);
        assert_eq!(stops("ventet 5 min. Ærgerligt"), 1);
        // Ordinary words and longer runs keep their stop.
        assert_eq!(stops("It was slow. kl. It works."), 2);
        assert_eq!(stops("Not again... ok"), 1);
        assert_eq!(stops("Kapot.ca. 20 euro"), 2);
        assert_eq!(stops("Fine, thanks etc."), 2);
    }

    #[test]
    fn one_word_sentences_in_a_row_of_three_are_one_phrase() {
        assert_eq!(stops("Every. Single. Time."), 1);
        assert_eq!(stops("App logs me out. Every. Single. Time."), 2);
        assert_eq!(stops("Hver. Eneste. Gang! Én. Gang. Til."), 1);
        assert_eq!(stops("READY. SET. GO!"), 0);
        // Two are left apart: the last may mock the one before.
        assert_eq!(stops("Telia nede. Igen. Fantastisk."), 3);
        assert_eq!(stops("Elke. Keer."), 2);
        // A sentence of more words is no part of a run.
        assert_eq!(stops("Down again. Every time. Great."), 3);
    }

    #[test]
    fn camel_case_hashtags_split_into_their_words() {
        fn words(text: &str) -> Vec<(Kind, &str)> {
            let mut out = Vec::new();
            tokenize(text, |t| {
                camel_words(text, &t, |w, _| {
                    out.push((w.kind(), &text[w.start as usize..w.end as usize]))
                });
            });
            out
        }
        assert_eq!(
            words("@united #WorstCustomerService ever"),
            vec![
                (Kind::Word, "Worst"),
                (Kind::Word, "Customer"),
                (Kind::Word, "Service")
            ]
        );
        assert_eq!(
            words("#HPSupport #KLM2024Fail"),
            vec![
                (Kind::Word, "HP"),
                (Kind::Word, "Support"),
                (Kind::Word, "KLM2024"),
                (Kind::Word, "Fail")
            ]
        );
        // One case, or letters beyond ASCII: nothing to split on with confidence.
        assert!(words("#fail #FAIL #usairwaysfail #Fail #VirkerIkkeÆ").is_empty());
    }

    #[test]
    fn links_with_and_without_scheme_are_one_token() {
        assert_eq!(
            kinds("win nu https://x.co/abc en bol.com/deal. www.foo.nl"),
            vec![
                (Kind::Word, "win"),
                (Kind::Word, "nu"),
                (Kind::Link, "https://x.co/abc"),
                (Kind::Word, "en"),
                (Kind::Link, "bol.com/deal."),
                (Kind::Link, "www.foo.nl"),
            ]
        );
        assert_eq!(kinds("werkt.niet")[0], (Kind::Word, "werkt"));
    }

    #[test]
    fn a_hyphen_between_blanks_is_a_dash_and_one_in_a_word_is_not() {
        let k = kinds("quick one - can I go mid-contract -5 :-)");
        let stops: Vec<_> = k.iter().filter(|(kind, _)| *kind == Kind::Stop).collect();
        assert_eq!(stops, [&(Kind::Stop, "-")], "{k:?}");
        assert_eq!(k[2], (Kind::Stop, "-"), "{k:?}");
        assert!(k.contains(&(Kind::Word, "mid-contract")), "{k:?}");
        assert!(k.contains(&(Kind::Emoticon, ":-)")), "{k:?}");
    }

    #[test]
    fn emoji_with_skin_tone_and_emoticons_are_single_tokens() {
        assert_eq!(
            kinds("top 👍🏻 :-( ❤️ :pakket"),
            vec![
                (Kind::Word, "top"),
                (Kind::Emoji, "👍🏻"),
                (Kind::Emoticon, ":-("),
                (Kind::Emoji, "❤️"),
                (Kind::Stop, ":"),
                (Kind::Word, "pakket"),
            ]
        );
    }

    #[test]
    fn caps_and_elongation_are_flagged() {
        let mut v = Vec::new();
        tokenize("NOOOO sooo Ærgerligt", |t| v.push(t.flags()));
        assert_eq!(v[0] & (CAPS | ELONGATED), CAPS | ELONGATED);
        assert_eq!(v[1] & (CAPS | ELONGATED), ELONGATED);
        assert_eq!(v[2] & CAPS, 0);
    }

    #[test]
    fn keys_are_lower_case_with_straight_apostrophes() {
        let text = "Don’t ÆRGERLIG #Fail";
        let mut out = Vec::new();
        tokenize(text, |t| {
            let mut buf = [0u8; 64];
            out.push(String::from_utf8(key(text, &t, &mut buf).unwrap().to_vec()).unwrap());
        });
        assert_eq!(out, ["don't", "ærgerlig", "fail"]);
    }

    #[test]
    fn keys_from_the_scan_equal_the_general_key() {
        let texts = [
            "Waarom DUURT het zooo lang?? #fail @NS_online",
            "don't can't niet-werkende e-mail x-y 12:30 4days a1b2c3d4e5 ABCDEFGH abcdefg",
            "Ærgerligt, tak for INGENTING!!! café Über naïve 👍🏻 :-( <3",
            "www.example.nl shop.example.com/x. https://t.co/Ab12 werkt.niet",
            "aaa AAA aaB 111 ooo Yeees noooooooooooooooooooooooo x",
            "ends with a word",
            "#Hashtag #ÆØÅ #123 #a-b",
        ];
        for text in texts {
            tokenize_keyed(text, |t, fast| {
                let mut buf = [0u8; 64];
                let general = key(text, &t, &mut buf).map(<[u8]>::to_vec);
                if let Some(k) = fast {
                    let general = general.expect("a keyed token has a general key too");
                    assert_eq!(&k[..general.len()], &general[..], "{text:?}: {t:?}");
                }
            });
        }
    }

    #[test]
    fn short_words_get_the_same_flags_as_long_ones() {
        // "sooo" is scanned with eight-byte arithmetic, "soooooooo" byte by byte.
        let flags = |text: &str| {
            let mut v = Vec::new();
            tokenize(text, |t| v.push((t.kind(), t.flags(), t.count())));
            v
        };
        assert_eq!(flags("sooo"), flags("sooo'"));
        assert_eq!(flags("SOOO")[0].1 & (CAPS | ELONGATED), CAPS | ELONGATED);
        assert_eq!(flags("sooooooooo")[0].1 & ELONGATED, ELONGATED);
        assert_eq!(flags("soo")[0].1 & ELONGATED, 0);
        assert_eq!(flags("111")[0], (Kind::Number, 0, 0));
        assert_eq!(flags("500mb")[0].0, Kind::Number);
        assert_eq!(flags("4G")[0].0, Kind::Number);
        assert_eq!(flags("g4")[0].0, Kind::Word);
        assert_eq!(flags("Ab")[0], (Kind::Word, HAS_UPPER, 2));
    }

    #[test]
    fn hostile_runs_do_not_overflow_the_counters() {
        // Counters saturate: a post of one endless word or exclamation is just very loud.
        let word = "é".repeat(70_000);
        let bangs = "!".repeat(70_000);
        let mut v = Vec::new();
        tokenize(&format!("{word} {bangs}"), |t| {
            v.push((t.kind(), t.count()))
        });
        assert_eq!(v, [(Kind::Word, u16::MAX), (Kind::Exclaim, u16::MAX)]);
    }

    #[test]
    fn collapse_runs_keeps_double_letters() {
        let mut k = *b"goooood";
        let n = collapse_runs(&mut k, 7, 2);
        assert_eq!(&k[..n], b"good");
        let mut k = *b"sooo";
        let n = collapse_runs(&mut k, 4, 1);
        assert_eq!(&k[..n], b"so");
    }

    #[test]
    fn latin_shortcuts_agree_with_the_unicode_tables() {
        for cp in 0..0x3000u32 {
            let Some(ch) = char::from_u32(cp) else {
                continue;
            };
            assert_eq!(is_letter(ch), ch.is_alphabetic(), "{ch:?}");
            assert_eq!(is_upper(ch), ch.is_uppercase(), "{ch:?}");
            let mut buf = [0u8; 64];
            let mut len = 0;
            assert!(push_lower(ch, &mut buf, &mut len));
            assert_eq!(
                std::str::from_utf8(&buf[..len]).unwrap(),
                ch.to_lowercase().to_string(),
                "{ch:?}"
            );
        }
    }
}
