//! What the model sees of a text: the text scanned into words (URLs, @handles and numbers
//! normalised), '?'/'!' marks and sentence breaks, and from those the hashed features: word
//! 1–2-grams, character 2–5-grams of each word, and the lexicon's cues and verdict.
//!
//! Training and the cached classifying path (see `cache`) both start from [`scan`], so they
//! hash the same words the same way.

use std::borrow::Cow;
use std::cell::RefCell;

use super::super::{Classification, Label, Polarity, Reason, Urgency};
use super::{BUCKETS, DENSE};
use crate::text::{HIGH, LANES, lanes_in, load8};

/// One feature of a text: hash bucket and where it came from. Training reads only the
/// bucket; the spans group features into reasons in the uncached reference path of the tests.
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) struct Feat {
    pub bucket: u32,
    pub start: u32,
    pub end: u32,
    pub kind: u8,
}

pub(super) const KIND_WORD: u8 = 0;
pub(super) const KIND_BIGRAM: u8 = 1;
pub(super) const KIND_CHARS: u8 = 2;
pub(super) const KIND_CUE: u8 = 3;

#[inline]
pub(super) const fn mix(h: u64, b: u64) -> u64 {
    (h.rotate_left(5) ^ b).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

pub(super) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    for &b in chunks.remainder() {
        h = mix(h, u64::from(b));
    }
    h
}

#[inline]
pub(super) fn bucket(h: u64) -> u32 {
    ((h ^ (h >> 29)) as u32) & (BUCKETS as u32 - 1)
}

/// What [`scan`] found at one place in a text.
enum Piece {
    /// '?' or '!' at byte `at`: a feature of its own, and the end of a sentence.
    Mark { at: u32, hash: u64 },
    /// Other punctuation that ends a sentence: word pairs do not cross it.
    Break,
    /// A word, URL, handle or number: its span, the hash of its normalised form, and whether
    /// character n-grams are taken of it (not of `<url>`, `<user>` or `<num>`).
    Word {
        start: u32,
        end: u32,
        hash: u64,
        grams: bool,
    },
}

/// Bytes that continue a word: letters, digits, the apostrophe and every byte of a
/// multi-byte character. A table, as the scan asks for every byte of every text.
const WORD_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut x = 0;
    while x < 256 {
        let b = x as u8;
        t[x] = b.is_ascii_alphanumeric() || b >= 0x80 || b == b'\'';
        x += 1;
    }
    t
};

fn is_word_byte(x: u8) -> bool {
    WORD_BYTES[x as usize]
}

/// Walks `text` once and hands each word, mark and sentence break to `f`, in order. `buf` is
/// scratch space for lower-casing.
fn scan(text: &str, buf: &mut String, f: &mut impl Pieces) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        // Most words are plain ASCII (perhaps after a '#'): scanned and hashed eight bytes at
        // a time. Handles, links and words with other bytes take the general way below.
        let body = start + usize::from(c == b'#');
        if c != b'@'
            && let Some(&first) = b.get(body)
            && first < 0x80
            && is_word_byte(first)
            && !starts_url(&b[body..])
            && let Some((end, hash, num)) = ascii_word(b, body)
        {
            let (hash, grams) = if num && c != b'#' {
                (NUM_HASH, false)
            } else {
                (hash, true)
            };
            f.piece(Piece::Word {
                start: start as u32,
                end: end as u32,
                hash,
                grams,
            });
            i = end;
            continue;
        }
        // A run of word characters, or a URL / handle taken whole.
        if c == b'@' || c == b'#' {
            i += 1;
        }
        let url = starts_url(&b[i..]);
        if url {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
        } else {
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
        }
        if i == start || (i == start + 1 && (c == b'@' || c == b'#')) {
            if c == b'?' || c == b'!' {
                f.piece(Piece::Mark {
                    at: start as u32,
                    hash: if c == b'?' {
                        QUESTION_HASH
                    } else {
                        EXCLAIM_HASH
                    },
                });
            } else if matches!(c, b'.' | b',' | b';' | b':' | b'\n') {
                f.piece(Piece::Break);
            }
            // Every byte of a multi-byte character is a word byte, so a byte skipped here is
            // ASCII and `i` stays on a character boundary.
            i = i.max(start + 1);
            continue;
        }
        let (hash, grams) = word_hash(&text[start..i], url, buf);
        f.piece(Piece::Word {
            start: start as u32,
            end: i as u32,
            hash,
            grams,
        });
    }
}

/// The scan takes a word starting with one of these whole, up to the next white space, as a
/// link.
#[inline]
fn starts_url(b: &[u8]) -> bool {
    matches!(b.first(), Some(b'h' | b'w'))
        && (b.starts_with(b"http://") || b.starts_with(b"https://") || b.starts_with(b"www."))
}

/// The word at `at` (see [`WORD_BYTES`]) when all its bytes are ASCII, scanned eight bytes at
/// a time: where it ends, [`hash_bytes`] of it lower-cased (what [`normalize`] makes of it),
/// and whether it has only digits and apostrophes. `None` for a word with other bytes.
#[inline(always)]
fn ascii_word(b: &[u8], at: usize) -> Option<(usize, u64, bool)> {
    let mut h = 1u64;
    let mut i = at;
    // Bytes of the word that are neither digits nor apostrophes.
    let mut other = 0u64;
    loop {
        let x = load8(b, i);
        let low7 = x & !HIGH;
        let ascii = !x & HIGH;
        let letter = lanes_in(low7 | (LANES * 0x20), b'a', b'z') & ascii;
        let digit = lanes_in(low7, b'0', b'9') & ascii;
        let apostrophe = lanes_in(low7, b'\'', b'\'') & ascii;
        // Word bytes: ASCII letters, digits, apostrophes, and every non-ASCII byte.
        let stop = !(letter | digit | apostrophe | (x & HIGH)) & HIGH;
        // Letters with bit 5 clear are upper case; setting it lower-cases them.
        let lower = x | ((letter & !(x << 2)) >> 2);
        if stop == 0 {
            if x & HIGH != 0 {
                return None;
            }
            other |= letter;
            h = mix(h, lower);
            i += 8;
            continue;
        }
        let len = stop.trailing_zeros() / 8;
        let within = u64::MAX.checked_shr(64 - 8 * len).unwrap_or(0);
        if x & HIGH & within != 0 {
            return None;
        }
        other |= letter & within;
        let lower = lower & within;
        for k in 0..len {
            h = mix(h, (lower >> (8 * k)) & 0xFF);
        }
        return Some((i + len as usize, h, other == 0));
    }
}

/// The normalised form of a word as [`scan`] cut it: `<url>`, `<user>` or `<num>`, or the word
/// lower-cased without its '#' (in `buf`); and whether character n-grams are taken of it (not
/// of the first three).
pub(super) fn normalize<'b>(word: &str, buf: &'b mut String) -> (&'b str, bool) {
    if let Some(placeholder) = placeholder(word) {
        return (placeholder, false);
    }
    buf.clear();
    let w = word.trim_start_matches('#');
    if w.is_ascii() {
        // A copy lower-cased in place: no per-character push.
        buf.push_str(w);
        buf.make_ascii_lowercase();
    } else {
        // Most characters of a non-ASCII word are still ASCII, and most others Latin-1 (æ, ø,
        // å, é): only the rest go through the full Unicode mapping.
        for ch in w.chars() {
            if ch <= '\u{FF}' {
                buf.push(latin1_lowercase(ch));
            } else {
                buf.extend(ch.to_lowercase());
            }
        }
    }
    (buf.as_str(), true)
}

/// The lower case of a character up to U+00FF, as `char::to_lowercase` gives it (a single
/// character for all of them): ASCII letters, and À–Þ but × to à–þ.
#[inline]
fn latin1_lowercase(ch: char) -> char {
    match ch {
        'A'..='Z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{DE}' => {
            char::from_u32(u32::from(ch) + 0x20).unwrap_or(ch)
        }
        _ => ch,
    }
}

/// `<url>`, `<user>` or `<num>` for a word that stands for one of those: such words count as
/// the same feature whatever they say.
fn placeholder(word: &str) -> Option<&'static str> {
    let body = word.strip_prefix(['@', '#']).unwrap_or(word);
    if body.starts_with("http://") || body.starts_with("https://") || body.starts_with("www.") {
        return Some("<url>");
    }
    if word.starts_with('@') {
        return Some("<user>");
    }
    if word.bytes().all(|x| x.is_ascii_digit() || x == b'\'') {
        return Some("<num>");
    }
    None
}

/// [`hash_bytes`] with seed 1 of a placeholder shorter than eight bytes, worked out at
/// compile time.
const fn placeholder_hash(p: &[u8]) -> u64 {
    short_hash(1, p)
}

/// [`hash_bytes`] of fewer than eight bytes, at compile time.
const fn short_hash(seed: u64, p: &[u8]) -> u64 {
    let mut h = seed;
    let mut i = 0;
    while i < p.len() {
        h = mix(h, p[i] as u64);
        i += 1;
    }
    h
}

const URL_HASH: u64 = placeholder_hash(b"<url>");
const USER_HASH: u64 = placeholder_hash(b"<user>");
const NUM_HASH: u64 = placeholder_hash(b"<num>");
/// The hashes of the marks '?' and '!'.
const QUESTION_HASH: u64 = short_hash(7, b"?");
const EXCLAIM_HASH: u64 = short_hash(7, b"!");

/// The hash of `word`'s normalised form (see [`normalize`]) and whether character n-grams are
/// taken of it; `url` says the scan took it whole as a URL. The way of the words
/// [`ascii_word`] leaves (handles, links, words with non-ASCII letters): a plain ASCII word is
/// hashed as it is scanned, without a copy.
fn word_hash(word: &str, url: bool, buf: &mut String) -> (u64, bool) {
    let b = word.as_bytes();
    if url {
        return (URL_HASH, false);
    }
    if b.first() == Some(&b'@') {
        return (USER_HASH, false);
    }
    if b.iter().all(|x| x.is_ascii_digit() || *x == b'\'') {
        return (NUM_HASH, false);
    }
    let (norm, grams) = normalize(word, buf);
    (hash_bytes(1, norm.as_bytes()), grams)
}

/// The bucket of the word pair whose words hash to `prev` and `next`.
#[inline]
fn bigram_bucket(prev: u64, next: u64) -> u32 {
    bucket(mix(prev, next))
}

/// Character 2–5-grams of `norm` with boundary marks, as buckets handed to `f`: they carry a
/// word's stem and endings to its other forms ("storing", "storingen", "treinstoring").
pub(super) fn char_grams(norm: &str, mut f: impl FnMut(u32)) {
    // "<" + word + ">" on the stack (a word is cut at 60 bytes): no allocation per word.
    let mut marked = [0u8; 64];
    let mut body = norm.len().min(60);
    while !norm.is_char_boundary(body) {
        body -= 1;
    }
    marked[0] = b'<';
    marked[1..=body].copy_from_slice(&norm.as_bytes()[..body]);
    marked[body + 1] = b'>';
    let m = &marked[..body + 2];
    if norm.is_ascii() {
        // Most words: every character is one byte, so the general loop below reduces to
        // this one, without the table of character offsets.
        for s in 0..m.len() - 1 {
            let mut h = mix(2, u64::from(m[s]));
            for &x in &m[s + 1..m.len().min(s + 5)] {
                h = mix(h, u64::from(x));
                f(bucket(h));
            }
        }
        return;
    }
    // Byte offset of every character, and of the end.
    let mut cs = [0u8; 65];
    let mut n = 0;
    for (k, &x) in m.iter().enumerate() {
        if x & 0xC0 != 0x80 {
            cs[n] = k as u8;
            n += 1;
        }
    }
    cs[n] = m.len() as u8;
    // One running hash per starting character, extended a character at a time, gives the 2-,
    // 3-, 4- and 5-gram from that start for the cost of hashing five characters once instead
    // of each gram on its own.
    for s in 0..n.saturating_sub(1) {
        let mut h = 2u64;
        for len in 1..=5usize.min(n - s) {
            for &x in &m[cs[s + len - 1] as usize..cs[s + len] as usize] {
                h = mix(h, u64::from(x));
            }
            if len >= 2 {
                f(bucket(h));
            }
        }
    }
}

/// The bucket of one of the lexicon's cues, so a team can teach the model which of them
/// mislead on its mentions.
#[inline]
fn cue_bucket(r: &Reason) -> u32 {
    bucket(hash_bytes(
        hash_bytes(11, r.kind.as_bytes()),
        r.cue.as_bytes(),
    ))
}

/// One remembered [`cue_bucket`]: the addresses and lengths of a reason's kind and cue names,
/// and their bucket.
#[derive(Clone, Copy, Default)]
struct CueSlot {
    kind: usize,
    cue: usize,
    lens: u64,
    bucket: u32,
}

thread_local! {
    /// The buckets of the cues this thread saw last, by where their names are: the lexicon
    /// names its cues with strings that live as long as the program (interned, never freed),
    /// so a name's address stands for its text, and a cue seen before costs a table read
    /// instead of hashing both names again.
    static CUE_BUCKETS: RefCell<[CueSlot; 64]> = const {
        RefCell::new(
            [CueSlot {
                kind: 0,
                cue: 0,
                lens: 0,
                bucket: 0,
            }; 64],
        )
    };
}

/// [`cue_bucket`], remembered for reasons whose names are borrowed `'static` strings.
#[inline]
fn cue_bucket_remembered(r: &Reason) -> u32 {
    let (Cow::Borrowed(kind), Cow::Borrowed(cue)) = (&r.kind, &r.cue) else {
        return cue_bucket(r);
    };
    let (k, c) = (kind.as_ptr() as usize, cue.as_ptr() as usize);
    let lens = (kind.len() as u64) << 32 | cue.len() as u64;
    let at = ((c >> 3) ^ (k >> 4) ^ cue.len()) & 63;
    CUE_BUCKETS.with(|t| {
        let slot = &mut t.borrow_mut()[at];
        if slot.kind != k || slot.cue != c || slot.lens != lens {
            *slot = CueSlot {
                kind: k,
                cue: c,
                lens,
                bucket: cue_bucket(r),
            };
        }
        slot.bucket
    })
}

/// What [`features`] hands on: a feature that is a reason of its own ('?' or '!', a word
/// pair, a lexicon cue), or a word, whose own feature and character n-grams (see
/// [`char_grams`]) count together.
pub(super) enum Found {
    Single(Feat),
    Word {
        start: u32,
        end: u32,
        hash: u64,
        grams: bool,
    },
}

/// Where [`features`] hands what it finds. A trait rather than a closure so the classifying
/// path can have its handler inlined at every place a feature is found (see `cache::gather`).
pub(super) trait Sink {
    fn found(&mut self, found: Found);
}

/// The features of `text` and of the lexicon's verdict `v`, in order: marks, word pairs and
/// words as they come (a pair right before its second word), then the cues. `buf` is scratch
/// space for lower-casing.
pub(super) fn features(text: &str, v: &Classification, buf: &mut String, sink: &mut impl Sink) {
    let mut pairs = Pairs { sink, prev: None };
    scan(text, buf, &mut pairs);
    for r in &v.reasons {
        pairs.sink.found(Found::Single(Feat {
            bucket: cue_bucket_remembered(r),
            start: r.start as u32,
            end: r.end as u32,
            kind: KIND_CUE,
        }));
    }
}

/// Where [`scan`] hands each piece: a trait, as [`Sink`], so the handler is inlined where
/// each kind of piece is found.
trait Pieces {
    fn piece(&mut self, piece: Piece);
}

/// Turns the pieces of a scan into features for `sink`: a mark on its own, and each word with
/// the pair it makes with the word before it (`prev`: its hash and start), if no mark or
/// sentence break came between.
struct Pairs<'s, S> {
    sink: &'s mut S,
    prev: Option<(u64, u32)>,
}

impl<S: Sink> Pieces for Pairs<'_, S> {
    #[inline(always)]
    fn piece(&mut self, piece: Piece) {
        match piece {
            Piece::Mark { at, hash } => {
                self.sink.found(Found::Single(Feat {
                    bucket: bucket(hash),
                    start: at,
                    end: at + 1,
                    kind: KIND_WORD,
                }));
                self.prev = None;
            }
            Piece::Break => self.prev = None,
            Piece::Word {
                start,
                end,
                hash,
                grams,
            } => {
                if let Some((p, p_start)) = self.prev {
                    self.sink.found(Found::Single(Feat {
                        bucket: bigram_bucket(p, hash),
                        start: p_start,
                        end,
                        kind: KIND_BIGRAM,
                    }));
                }
                self.prev = Some((hash, start));
                self.sink.found(Found::Word {
                    start,
                    end,
                    hash,
                    grams,
                });
            }
        }
    }
}

/// The features of `text` (and the lexicon's verdict `v`), one by one in `out`. A word's
/// character n-grams follow it with the same span, so a word and its parts can be shown
/// together as one reason.
pub(super) fn extract(text: &str, v: &Classification, out: &mut Vec<Feat>, buf: &mut String) {
    out.clear();
    // The scan lower-cases into `buf`; a word's n-grams are taken from a second buffer.
    let mut sink = Extracted {
        text,
        out,
        word_buf: String::new(),
    };
    features(text, v, buf, &mut sink);
}

/// What [`extract`] collects the features in.
struct Extracted<'a> {
    text: &'a str,
    out: &'a mut Vec<Feat>,
    word_buf: String,
}

impl Sink for Extracted<'_> {
    fn found(&mut self, found: Found) {
        match found {
            Found::Single(feat) => self.out.push(feat),
            Found::Word {
                start,
                end,
                hash,
                grams,
            } => {
                self.out.push(Feat {
                    bucket: bucket(hash),
                    start,
                    end,
                    kind: KIND_WORD,
                });
                if grams {
                    let word = self
                        .text
                        .get(start as usize..end as usize)
                        .unwrap_or_default();
                    let (norm, _) = normalize(word, &mut self.word_buf);
                    char_grams(norm, |b| {
                        self.out.push(Feat {
                            bucket: b,
                            start,
                            end,
                            kind: KIND_CHARS,
                        })
                    });
                }
            }
        }
    }
}

/// The lexicon's verdict and scores as dense features.
pub(super) fn dense(v: &Classification) -> [f32; DENSE] {
    let mut d = [0f32; DENSE];
    d[Label::ALL.iter().position(|l| *l == v.label).unwrap_or(3)] = 1.0;
    d[4 + Polarity::ALL
        .iter()
        .position(|p| *p == v.polarity)
        .unwrap_or(2)] = 1.0;
    d[7] = v.sentiment;
    d[8] = f32::from(u8::from(v.urgency == Urgency::Urgent));
    d[9] = f32::from(u8::from(v.spam));
    // One pass over the reasons, counting the kinds that are features.
    const KINDS: [&str; 7] = [
        "complaint",
        "praise",
        "question",
        "sarcasm",
        "negation",
        "negative",
        "positive",
    ];
    let mut counts = [0usize; KINDS.len()];
    for r in &v.reasons {
        // `KINDS` by position, as one match on the string.
        let i = match r.kind.as_ref() {
            "complaint" => 0,
            "praise" => 1,
            "question" => 2,
            "sarcasm" => 3,
            "negation" => 4,
            "negative" => 5,
            "positive" => 6,
            _ => continue,
        };
        debug_assert_eq!(KINDS[i], r.kind);
        counts[i] += 1;
    }
    let count = |i: usize| counts[i].min(3) as f32 / 3.0;
    d[10] = count(0);
    d[11] = count(1);
    d[12] = count(2);
    d[13] = count(3);
    d[14] = count(4);
    d[15] = count(5) - count(6);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closure as the receiver of a scan's pieces.
    struct Each<F>(F);

    impl<F: FnMut(Piece)> Pieces for Each<F> {
        fn piece(&mut self, piece: Piece) {
            (self.0)(piece)
        }
    }

    #[test]
    fn remembered_cue_buckets_are_the_hashed_ones() {
        let c = crate::classify::Classifier::embedded();
        let mut reasons = 0;
        // Twice, so the second pass reads what the first remembered.
        for _ in 0..2 {
            for text in include_str!("../../../fixtures/eval/en.tsv").lines() {
                for r in &c.classify_lexicon(text, 0).reasons {
                    assert_eq!(cue_bucket_remembered(r), cue_bucket(r), "{r:?}");
                    reasons += 1;
                }
            }
        }
        assert!(reasons > 500, "only {reasons} reasons checked");
    }

    #[test]
    fn latin1_characters_lower_case_as_unicode_says() {
        for ch in '\0'..='\u{FF}' {
            let mut unicode = ch.to_lowercase();
            assert_eq!(unicode.next(), Some(latin1_lowercase(ch)), "{ch:?}");
            assert_eq!(unicode.next(), None, "{ch:?}");
        }
    }

    /// Trained models name features by these hashes: the fast path must hash every word
    /// exactly as its normalised form hashes, or a saved model would read the wrong weights.
    #[test]
    fn words_hash_as_their_normalised_form() {
        let sets = [
            include_str!("../../../fixtures/eval/en.tsv"),
            include_str!("../../../fixtures/eval/nl.tsv"),
            include_str!("../../../fixtures/eval/da.tsv"),
        ];
        let extra = "HTTPS://Example.org/x @Fjordlink #Storing ##double 2026 '24 ÆØÅ Straße \
                     MixedCASEwordLongerThanEightBytes www.fjordlink.dk #https://x.y @#odd \
                     Exactly8 SIXTEENBYTESWORD #123 #Ab rock'n'roll It's 12'34 ' wi-fi Zz@x \
                     wordwithæinside8 ABCDEFGHé";
        let (mut buf, mut norm_buf) = (String::new(), String::new());
        let mut words = 0;
        for text in sets.iter().flat_map(|s| s.lines()).chain([extra]) {
            scan(
                text,
                &mut buf,
                &mut Each(|piece| {
                    if let Piece::Word {
                        start,
                        end,
                        hash,
                        grams,
                    } = piece
                    {
                        let word = &text[start as usize..end as usize];
                        let (norm, norm_grams) = normalize(word, &mut norm_buf);
                        assert_eq!(hash, hash_bytes(1, norm.as_bytes()), "{word:?} as {norm:?}");
                        assert_eq!(grams, norm_grams, "{word:?}");
                        words += 1;
                    }
                }),
            );
        }
        assert!(words > 10_000, "only {words} words checked");
        assert_eq!(QUESTION_HASH, hash_bytes(7, b"?"));
        assert_eq!(EXCLAIM_HASH, hash_bytes(7, b"!"));
    }
}
