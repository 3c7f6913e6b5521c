//! Text helpers that several stages share, so that a mention is normalised, split into words,
//! shortened and hashed the same way wherever it is matched, compared or shown. The classifier
//! keeps its own tokeniser (`classify::tokenize`), tuned for scoring.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// FNV-1a (64 bit) of `bytes`. Stored ids, Message-IDs and duplicate fingerprints need a hash
/// that is the same on every machine and every Rust release, which the standard hasher is not.
pub fn fnv1a(bytes: impl AsRef<[u8]>) -> u64 {
    let mut h = Fnv1a::new();
    h.write(bytes.as_ref());
    h.finish()
}

/// FNV-1a fed piece by piece, for a hash of text that is never put together in one buffer.
/// Gives what [`fnv1a`] gives for the pieces joined.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Fnv1a {
    /// The hash of nothing yet (the FNV offset basis).
    pub fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    /// Adds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash of everything written so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a::new()
    }
}

/// `s` with at most `max` characters: a longer text keeps its first `max - 1` and ends in `…`,
/// so a reader can tell it was shortened.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `s` on one line (each run of white space, line breaks included, becomes one space), then
/// [`cut`] to `max` characters: for lists where one entry must stay one line.
pub fn one_line(s: &str, max: usize) -> String {
    cut(&s.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

/// Lower-case, diacritic-free form used for matching: compatibility decomposition (NFKD) with
/// combining marks dropped, then `ø`→`o`, `æ`→`ae`, `œ`→`oe`, `ß`→`ss`, `ł`→`l`, `đ`→`d`,
/// `ı`→`i`. ASCII input is only lower-cased. Punctuation is kept; splitting is separate
/// ([`word_ranges`]).
pub fn normalize(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            // Dropping every combining mark makes the canonical reordering of full NFKD
            // irrelevant, so decomposing char by char gives the same result, faster.
            decompose_compatible(c, |part| push_folded(part, &mut out));
        }
    }
    out
}

fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        match lower {
            'ø' => out.push('o'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'ł' => out.push('l'),
            'đ' => out.push('d'),
            'ı' => out.push('i'),
            // Accents split off by the decomposition, and the dot that `İ` lower-cases to.
            c if is_combining_mark(c) => {}
            c => out.push(c),
        }
    }
}

/// Chinese, Japanese and Thai, which do not put spaces between words.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F      // Thai
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width Katakana
    )
}

/// Byte ranges of the words of already [`normalize`]d text: maximal runs of letters and digits,
/// and each character of a script written without spaces on its own (so "fjordlinkの光" holds
/// the word "fjordlink"). What the watch query language matches whole words against.
pub fn word_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::with_capacity(text.len() / 5 + 1);
    let mut start = None;
    if text.is_ascii() {
        for (i, b) in text.bytes().enumerate() {
            match (b.is_ascii_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    ranges.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
    } else {
        for (i, c) in text.char_indices() {
            if is_unspaced_script(c) {
                if let Some(s) = start.take() {
                    ranges.push((s, i));
                }
                ranges.push((i, i + c.len_utf8()));
                continue;
            }
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    ranges.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
    }
    if let Some(s) = start {
        ranges.push((s, text.len()));
    }
    ranges
}

/// The runs of letters and digits of `text`, in order; everything else separates. For
/// fingerprints that must not change between releases (stored duplicate hashes), so unlike
/// [`word_ranges`] it does not split unspaced scripts per character.
pub fn alphanumeric_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The lower-case words of `text` as a reader sees them: apostrophes inside a word stay ("don't",
/// "klm's"), so stop-word lists written that way apply; quotes around a word go.
pub fn reader_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// One byte of 1 in each of a word's eight lanes, for eight-bytes-at-a-time (SWAR) scans.
pub(crate) const LANES: u64 = 0x0101_0101_0101_0101;
/// The top bit of each of a word's eight lanes.
pub(crate) const HIGH: u64 = LANES * 0x80;

/// Eight bytes of `b` from `at` as a little-endian word, zero past its end (a zero byte
/// continues no word, so the scans stop there).
#[inline(always)]
pub(crate) fn load8(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(s) => u64::from_le_bytes(s.try_into().unwrap_or_default()),
        None => {
            let mut t = [0u8; 8];
            let rest = b.get(at..).unwrap_or_default();
            t[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(t)
        }
    }
}

/// The top bit of each lane of the seven-bit bytes `low7` set where the byte is in `lo..=hi`
/// (with seven-bit bytes the sums never carry into the next lane).
#[inline(always)]
pub(crate) fn lanes_in(low7: u64, lo: u8, hi: u8) -> u64 {
    (low7 + LANES * u64::from(0x80 - lo)) & !(low7 + LANES * u64::from(0x7F - hi)) & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(text: &str) -> Vec<&str> {
        word_ranges(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference test suite: the empty string is the offset basis.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a(b"foobar"), fnv1a(String::from("foobar")));
        let mut h = Fnv1a::new();
        h.write(b"foo");
        h.write(b"bar");
        assert_eq!(h.finish(), fnv1a("foobar"));
    }

    #[test]
    fn cut_keeps_short_text_and_marks_what_it_shortens() {
        assert_eq!(cut("kort", 4), "kort");
        assert_eq!(cut("langer", 4), "lan…");
        assert_eq!(cut("ææææ", 3), "ææ…");
        assert_eq!(cut("x", 0), "…");
    }

    #[test]
    fn one_line_joins_lines_before_cutting() {
        assert_eq!(one_line("  a\n\tb  c ", 10), "a b c");
        assert_eq!(one_line("one\ntwo three", 8), "one two…");
    }

    #[test]
    fn normalize_folds_case_diacritics_and_special_letters() {
        assert_eq!(
            normalize("Ærø Straße CAFÉ ﬁne Łódź İstanbul"),
            "aero strasse cafe fine lodz istanbul"
        );
        assert_eq!(
            normalize("Blåbærgrød ØRESUND Œuvre"),
            "blabaergrod oresund oeuvre"
        );
    }

    #[test]
    fn normalize_only_lowercases_ascii_and_keeps_punctuation() {
        assert_eq!(
            normalize("KLM's #1 (Flight) @Fjord"),
            "klm's #1 (flight) @fjord"
        );
    }

    #[test]
    fn word_ranges_split_unspaced_scripts_per_character() {
        assert_eq!(words_of("klm's #1 (flight)"), ["klm", "s", "1", "flight"]);
        assert_eq!(
            words_of("fjordlinkの光 ok"),
            ["fjordlink", "の", "光", "ok"]
        );
    }

    #[test]
    fn alphanumeric_runs_keep_unspaced_scripts_together() {
        let runs: Vec<&str> = alphanumeric_runs("fjordlinkの光, ok!").collect();
        assert_eq!(runs, ["fjordlinkの光", "ok"]);
    }

    #[test]
    fn reader_words_keep_inner_apostrophes() {
        assert_eq!(
            reader_words("'Don't' KLM's app—crashes"),
            ["don't", "klm's", "app", "crashes"]
        );
    }
}
