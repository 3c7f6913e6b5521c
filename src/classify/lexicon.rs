//! Lexicon files: parsing the plain-text format staff edit (see config/lexicons/README.md) and
//! compiling every language into one word table plus per-language phrase tables, so a mention
//! is looked up once per token whatever its language.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::ClassifyError;
use super::tokenize::{self, Kind};
use super::words::{MAX_KEY, WordTable};

/// Languages with their own lexicon folder, in table order. `COMMON` holds emoji, emoticons,
/// spam patterns and custom brand terms, which apply whatever the language.
pub(crate) const LANGS: [&str; 3] = ["en", "nl", "da"];
pub(crate) const COMMON: usize = 3;
pub(crate) const TABLES: usize = 4;
pub(crate) const NONE: u32 = u32::MAX;
/// In [`Table::next`]: the pattern has one token, or its second is `<num>` or `...`.
pub(crate) const ANY_NEXT: u32 = u32::MAX - 1;

/// The default lexicons, compiled into the binary.
pub(crate) const EMBEDDED: &[(&str, &str, &str)] = &[
    (
        "en",
        "sentiment.txt",
        include_str!("../../config/lexicons/en/sentiment.txt"),
    ),
    (
        "en",
        "cues.txt",
        include_str!("../../config/lexicons/en/cues.txt"),
    ),
    (
        "en",
        "grammar.txt",
        include_str!("../../config/lexicons/en/grammar.txt"),
    ),
    // Generated from a published lexicon by config/lexicons/convert.py.
    (
        "en",
        "published.txt",
        include_str!("../../config/lexicons/en/published.txt"),
    ),
    (
        "nl",
        "sentiment.txt",
        include_str!("../../config/lexicons/nl/sentiment.txt"),
    ),
    (
        "nl",
        "cues.txt",
        include_str!("../../config/lexicons/nl/cues.txt"),
    ),
    (
        "nl",
        "grammar.txt",
        include_str!("../../config/lexicons/nl/grammar.txt"),
    ),
    // Generated from a published lexicon by config/lexicons/convert.py.
    (
        "nl",
        "published.txt",
        include_str!("../../config/lexicons/nl/published.txt"),
    ),
    (
        "da",
        "sentiment.txt",
        include_str!("../../config/lexicons/da/sentiment.txt"),
    ),
    (
        "da",
        "cues.txt",
        include_str!("../../config/lexicons/da/cues.txt"),
    ),
    (
        "da",
        "grammar.txt",
        include_str!("../../config/lexicons/da/grammar.txt"),
    ),
    // Generated from a published lexicon by config/lexicons/convert.py.
    (
        "da",
        "published.txt",
        include_str!("../../config/lexicons/da/published.txt"),
    ),
    (
        "common",
        "emoji.txt",
        include_str!("../../config/lexicons/common/emoji.txt"),
    ),
    (
        "common",
        "spam.txt",
        include_str!("../../config/lexicons/common/spam.txt"),
    ),
    (
        "common",
        "emoji-published.txt",
        include_str!("../../config/lexicons/common/emoji-published.txt"),
    ),
];

/// FxHash: a multiply-rotate hash that is several times faster than SipHash on short keys.
/// Lexicon keys come from staff-edited files, not from attackers, so DoS resistance is moot.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            self.add(u64::from_le_bytes(
                bytes[..8].try_into().unwrap_or_default(),
            ));
            bytes = &bytes[8..];
        }
        if bytes.len() >= 4 {
            self.add(u64::from(u32::from_le_bytes(
                bytes[..4].try_into().unwrap_or_default(),
            )));
            bytes = &bytes[4..];
        }
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// `word*` / `*word` entries: four bytes of the key to (affix, word id).
pub(crate) type AffixIndex = FxMap<u32, Vec<(Box<[u8]>, u32)>>;

/// What a matched phrase does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Effect {
    Sentiment(f32),
    Cue {
        kind: CueKind,
        cue: u16,
        weight: f32,
    },
    /// Turns the next words. `after`: it also says that the verb just before it failed
    /// ("print niet", "virker ikke"), as an adverb does and "without" or "no" do not.
    Negation {
        after: bool,
    },
    /// Multiplies the next sentiment word: above 1 intensifies, below 1 tones down.
    Intensifier(f32),
    Contrast,
    /// Opens a clause that grants something ("although", "selvom"): it counts half.
    Concession,
    /// Matches and consumes the words, doing nothing: shadows shorter entries.
    Ignore,
    /// A word the writer uses about themselves ("I", "mijn", "jeg"): a post without any that
    /// reads as an article is news, not a customer speaking.
    FirstPerson,
    /// A word that opens a letter ("Dear", "Beste", "Kære"): at the start of a post, before a
    /// name and a comma, it is manners, and its other effects do not count.
    Salutation,
    /// A word that reports what someone else said or announced ("union confirms", "aldus de
    /// woordvoerder", "varsler strejke"): a calm post with one that never speaks of the
    /// writer is news.
    Report,
    /// A subject the writer may feel strongly about that is not the brand's service: sport
    /// ("the referee", "de scheids"), a series' ending, the government. In a post whose cues
    /// make no complaint of their own, the strong words beside one judge that, not the brand.
    Elsewhere,
    /// Laughter ("haha", "😂"): matched and otherwise ignored, as `Ignore` is. Time told with a
    /// laugh and nothing wrong beside it is a story, not a wait.
    Laughter,
    /// A wish or greeting ("have a great weekend", "fijne feestdagen"): manners, matched and
    /// otherwise ignored. The emoji beside one decorate the wish, not praise.
    Wish,
    /// A word that supposes ("if", "als", "hvis"): a fault named after it, in a sentence that
    /// ends in a question mark, is asked about, not suffered ("What happens if I lose my
    /// card?").
    Condition,
    /// A word that tells what the writer expected ("expecting", "verwachtte", "havde forventet"):
    /// what its clause tells after it, or before it when it ends the clause ("Had uren in de
    /// wacht verwacht,"), is not what happened ("Rang expecting an hour on hold, through in 3
    /// minutes"). With `after` (`[expectation after]`: Dutch "verwacht", which is also "I
    /// expect"), it only looks back over the clause it ends.
    Expectation {
        after: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CueKind {
    Complaint,
    Question,
    Praise,
    Urgent,
    Spam,
    Sarcasm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PatTok {
    Word(u32),
    /// Digits or a word from the `[number]` section.
    Num,
    /// `...`: up to three words in between.
    Gap,
}

#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub toks: Box<[PatTok]>,
    /// Only matches at the start of a sentence (`^` in the file).
    pub anchored: bool,
    /// Written as `#word`: only matches a hashtag.
    pub hashtag: bool,
    /// The phrase opens with a negation word of its own ("no call back", "geen reactie"), so
    /// a negation before it does not turn it again ("no decision and no call back").
    pub own_negation: bool,
    pub effects: Box<[Effect]>,
}

/// One entry as read from a file, before compiling.
#[derive(Clone, Debug)]
pub(crate) struct RawEntry {
    pub table: usize,
    pub phrase: String,
    pub effect: RawEffect,
}

/// What an entry does, as read: a cue still named by its string, an effect that needs no
/// compiling, or a word that only feeds a word list.
#[derive(Clone, Debug)]
pub(crate) enum RawEffect {
    Cue(CueKind, String, f32),
    Plain(Effect),
    Stopword,
    Number,
    /// `[spelling]`: the phrase is another way to write this word ("isnt" for "isn't").
    Spelling(String),
}

/// Per-language phrase table.
#[derive(Default, Clone)]
pub(crate) struct Table {
    /// Pattern ids by first word id, longest first.
    /// Indexed by word id: a range into `ids` (a plain array beats a hash lookup per word).
    pub by_first: Vec<(u32, u32)>,
    pub ids: Vec<u32>,
    /// Beside each of `ids`: the word id the pattern's second token must be, so most
    /// attempts fail on one compare; [`ANY_NEXT`] when that needs the full match.
    pub next: Vec<u32>,
    /// Indexed by word id: a 64-bit filter over the second tokens its patterns need (bit
    /// `id % 64`; all bits when one of them takes any second token), so a word followed by
    /// none of them skips its patterns in one test.
    pub next_filter: Vec<u64>,
    /// Patterns that start with `<num>`, longest first.
    pub num_first: Box<[u32]>,
}

/// Everything compiled: the one word table shared by all languages and the per-language tables.
#[derive(Clone)]
pub(crate) struct Lexicon {
    pub words: WordTable,
    /// Bit `t` set: table `t` has a pattern starting with this word. Bit `4 + t`: stopword.
    pub word_bits: Vec<u8>,
    /// Bit `t` set: word is a number word in table `t`.
    pub number_bits: Vec<u8>,
    /// Language votes a word casts: one for each language with a phrase starting with it, one
    /// more where it alone is a sentiment or cue entry there, two for each language it is a
    /// stopword of. A word that is an entry of its own says more of the language than one
    /// that only opens a phrase there ("fremragende" against "service").
    pub votes: Vec<[u8; 3]>,
    /// Bit `t` set: the word may start a phrase of table `t` (a pattern or `<num>`): the
    /// phrase bits of `word_bits` and `number_bits` together.
    pub starts: Vec<u8>,
    /// `word*` entries keyed by their first four bytes, `*word` entries by their last four.
    pub prefixes: AffixIndex,
    pub suffixes: AffixIndex,
    /// Bit filter over the four-byte keys of `prefixes` and `suffixes`: most words are in
    /// neither, and a bit test is cheaper than two hash lookups.
    pub affix_filter: Box<[u64; 64]>,
    pub patterns: Vec<Pattern>,
    pub tables: [Table; TABLES],
    /// Interned (see [`intern`]), so reasons can borrow them.
    pub cue_names: Vec<&'static str>,
    /// Beside each of `cue_names`: what the scorer makes of a cue of that name.
    pub cue_roles: Vec<CueRole>,
}

/// What a cue means to the scorer beyond its kind, from its section's name
/// (`[complaint waiting]`: `Waiting`). A section with a name not listed here, such as a team's
/// own `[complaint billing]`, is `Plain`: a complaint there names a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CueRole {
    Plain,
    /// How long something has lasted: not a fault by itself ("for 2 weeks").
    Duration,
    /// Something happening again: a fault when strong ("yet again"), not when mild ("as usual").
    Repeat,
    /// Waiting for the brand ("47 people ahead of me"): a fault, so praise beside it is sarcasm.
    Waiting,
    /// "Still": waiting, unless the next word that says something is good ("still the best").
    Still,
    /// A rhetorical complaint says how the writer feels, not what broke.
    Rhetorical,
    /// Something broken or late: a negation cancels it ("geen vertraging").
    Failure,
    /// What a product or a service does ("load", "print", "laadt", "virker"): a fault only
    /// when negated, before ("won't print") or just after ("print niet", "virker ikke").
    Function,
    Delay,
    /// Praise that can be the whole of a sarcastic sentence ("Well done."), and that a fault
    /// right after it mocks ("great job losing my bag").
    Compliment,
    /// Thanks, which a fault right after it mocks ("thanks for losing my bag").
    Thanks,
    /// What the brand says of itself ("delivered", "escalated", "klantenservice"): nothing
    /// said plainly, a complaint quoted back in scare quotes ("Pakken er 'leveret'").
    Quoted,
    /// Praise for a fixed problem.
    Resolved,
    /// Praise hardly ever said in mockery ("would recommend", "so grateful", "aanrader"): a
    /// fault told beside it is a problem put right, not sarcasm.
    Heartfelt,
    /// A prospect asking which provider to pick.
    Advice,
    /// A question put to the crowd about something besides the brand's service ("anyone else
    /// watching the match?", "iemand tips voor een weekendje Gent?"): on its own it asks the
    /// brand nothing.
    Crowd,
    /// A customer leaving: a whole complaint, not half.
    Leave,
    /// A writer in a hurry, who may only be asking.
    Pressing,
    Anger,
    /// The press or a lawyer.
    Threat,
}

impl CueRole {
    pub(crate) fn of(name: &str) -> CueRole {
        match name {
            "duration" => CueRole::Duration,
            "repeat" => CueRole::Repeat,
            "waiting" => CueRole::Waiting,
            "still" => CueRole::Still,
            "thanks" => CueRole::Thanks,
            "quoted" => CueRole::Quoted,
            "rhetorical" => CueRole::Rhetorical,
            "failure" => CueRole::Failure,
            "function" => CueRole::Function,
            "delay" => CueRole::Delay,
            "compliment" => CueRole::Compliment,
            "resolved" => CueRole::Resolved,
            "heartfelt" => CueRole::Heartfelt,
            "advice" => CueRole::Advice,
            "crowd" => CueRole::Crowd,
            "leave" => CueRole::Leave,
            "pressing" => CueRole::Pressing,
            "anger" => CueRole::Anger,
            "press" | "lawyer" => CueRole::Threat,
            _ => CueRole::Plain,
        }
    }
}

/// The one `'static` copy of a cue name. Names are few (one per lexicon section, the same
/// across reloads), so keeping each for the life of the process costs a few hundred bytes and
/// saves copying two strings into every reason of every mention.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.into());
    names.push(n);
    n
}

fn table_index(dir: &str) -> Option<usize> {
    match dir {
        "common" => Some(COMMON),
        _ => LANGS.iter().position(|l| *l == dir),
    }
}

/// A section header without its `[`: (name, cue kind for cue sections, cue name), or what is
/// wrong with it.
fn parse_section(head: &str, line: &str) -> Result<(String, Option<CueKind>, String), String> {
    let head = head
        .strip_suffix(']')
        .ok_or_else(|| format!("section header {line:?} is missing its closing ']'"))?
        .trim();
    let mut parts = head.split_whitespace();
    let name = parts.next().unwrap_or_default().to_ascii_lowercase();
    let cue = parts.collect::<Vec<_>>().join(" ");
    let kind = match name.as_str() {
        "complaint" => Some(CueKind::Complaint),
        "question" => Some(CueKind::Question),
        "praise" => Some(CueKind::Praise),
        "urgent" => Some(CueKind::Urgent),
        "spam" => Some(CueKind::Spam),
        "sarcasm" => Some(CueKind::Sarcasm),
        "sentiment" | "negation" | "intensifier" | "downtoner" | "contrast" | "concession"
        | "ignore" | "salutation" | "report" | "elsewhere" | "laughter" | "wish" | "condition"
        | "expectation" | "stopword" | "number" | "spelling" => None,
        "first" if cue == "person" => None,
        _ => {
            return Err(format!(
                "unknown section [{head}]; expected one of sentiment, negation, intensifier, downtoner, \
                 contrast, concession, ignore, salutation, report, elsewhere, laughter, wish, condition, \
                 expectation, first person, stopword, number, spelling, or complaint/question/praise/urgent/spam/sarcasm followed by a cue name"
            ));
        }
    };
    if kind.is_some() && cue.is_empty() {
        return Err(format!(
            "section [{name}] needs a cue name, e.g. [{name} delay]"
        ));
    }
    Ok((name, kind, cue))
}

/// Parses one lexicon file. `origin` is the path shown in errors.
pub(crate) fn parse(
    table: usize,
    origin: &Path,
    text: &str,
    out: &mut Vec<RawEntry>,
) -> Result<(), ClassifyError> {
    let err = |line: usize, msg: String| ClassifyError::Lexicon {
        file: origin.to_path_buf(),
        line,
        msg,
    };
    let mut section: Option<(String, Option<CueKind>, String)> = None;
    // Where each (section, phrase) was first given: a second entry would leave one of two
    // scores unused, depending on the order the matcher tries them.
    let mut first_at: HashMap<(String, String), usize> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        // "# " starts a comment; "#fail" (no space) is a hashtag entry.
        let line = raw.split_once(" # ").map_or(raw, |(a, _)| a).trim();
        if line.is_empty() || line == "#" || line.starts_with("# ") || line.starts_with("#\t") {
            continue;
        }
        if let Some(head) = line.strip_prefix('[') {
            section = Some(parse_section(head, line).map_err(|msg| err(line_no, msg))?);
            continue;
        }
        let Some((name, kind, cue)) = &section else {
            return Err(err(
                line_no,
                "entry before the first [section] header".into(),
            ));
        };
        let (phrase, value) = match line.rsplit_once('=') {
            Some((p, v)) if name == "spelling" => {
                let (p, v) = (p.trim(), v.trim());
                if p.contains(char::is_whitespace)
                    || v.is_empty()
                    || v.contains(char::is_whitespace)
                {
                    return Err(err(
                        line_no,
                        format!(
                            "a spelling is one word = the word it stands for, e.g. isnt = isn't; got {line:?}"
                        ),
                    ));
                }
                let key = (name.clone(), p.to_lowercase());
                if let Some(first) = first_at.insert(key, line_no) {
                    return Err(err(
                        line_no,
                        format!(
                            "{p:?} is already in this section at line {first}; keep one of the two"
                        ),
                    ));
                }
                out.push(RawEntry {
                    table,
                    phrase: p.to_string(),
                    effect: RawEffect::Spelling(v.to_lowercase()),
                });
                continue;
            }
            None if name == "spelling" => {
                return Err(err(
                    line_no,
                    format!("a spelling needs the word it stands for, e.g. {line} = …"),
                ));
            }
            Some((p, v)) => {
                let v: f32 = v.trim().parse().map_err(|_| {
                    err(
                        line_no,
                        format!("expected a number after '=', got {:?}", v.trim()),
                    )
                })?;
                (p.trim(), Some(v))
            }
            None => (line, None),
        };
        if phrase.is_empty() {
            return Err(err(line_no, "empty phrase before '='".into()));
        }
        let key = (format!("{name} {cue}"), phrase.to_lowercase());
        if let Some(first) = first_at.insert(key, line_no) {
            return Err(err(
                line_no,
                format!(
                    "{phrase:?} is already in this section at line {first}; keep one of the two"
                ),
            ));
        }
        let effect =
            entry_effect((name, *kind, cue), phrase, value).map_err(|m| err(line_no, m))?;
        out.push(RawEntry {
            table,
            phrase: phrase.to_string(),
            effect,
        });
    }
    Ok(())
}

/// What an entry of section `(name, kind, cue)` does, given its `phrase` and the number after
/// its '=', if any.
fn entry_effect(
    (name, kind, cue): (&str, Option<CueKind>, &str),
    phrase: &str,
    value: Option<f32>,
) -> Result<RawEffect, String> {
    Ok(match (name, kind) {
        (_, Some(k)) => RawEffect::Cue(k, cue.to_string(), value.unwrap_or(1.0)),
        ("sentiment", _) => RawEffect::Plain(Effect::Sentiment(value.ok_or_else(|| {
            format!("sentiment entry {phrase:?} needs a score, e.g. {phrase} = -2")
        })?)),
        ("negation", _) => RawEffect::Plain(Effect::Negation {
            after: cue == "after",
        }),
        ("intensifier", _) => RawEffect::Plain(Effect::Intensifier(value.unwrap_or(1.4))),
        ("downtoner", _) => RawEffect::Plain(Effect::Intensifier(value.unwrap_or(0.6))),
        ("contrast", _) => RawEffect::Plain(Effect::Contrast),
        ("concession", _) => RawEffect::Plain(Effect::Concession),
        ("ignore", _) => RawEffect::Plain(Effect::Ignore),
        ("first", _) => RawEffect::Plain(Effect::FirstPerson),
        ("salutation", _) => RawEffect::Plain(Effect::Salutation),
        ("report", _) => RawEffect::Plain(Effect::Report),
        ("elsewhere", _) => RawEffect::Plain(Effect::Elsewhere),
        ("laughter", _) => RawEffect::Plain(Effect::Laughter),
        ("wish", _) => RawEffect::Plain(Effect::Wish),
        ("condition", _) => RawEffect::Plain(Effect::Condition),
        ("expectation", _) => RawEffect::Plain(Effect::Expectation {
            after: cue == "after",
        }),
        ("stopword", _) => RawEffect::Stopword,
        _ => RawEffect::Number,
    })
}

pub(crate) fn parse_embedded() -> Vec<RawEntry> {
    let mut out = Vec::new();
    for (dir, file, text) in EMBEDDED {
        let origin = PathBuf::from("config/lexicons").join(dir).join(file);
        let table = table_index(dir).unwrap_or(COMMON);
        // The embedded files are tested to parse; a failure here is a build defect.
        parse(table, &origin, text, &mut out).expect("embedded lexicon parses");
    }
    out
}

pub(crate) fn parse_dir(dir: &Path) -> Result<Vec<RawEntry>, ClassifyError> {
    let mut out = Vec::new();
    let mut found = false;
    for sub in ["en", "nl", "da", "common"] {
        let path = dir.join(sub);
        if !path.is_dir() {
            continue;
        }
        found = true;
        let table = table_index(sub).unwrap_or(COMMON);
        let rd = std::fs::read_dir(&path).map_err(|e| ClassifyError::Io {
            path: path.clone(),
            source: e,
        })?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| ClassifyError::Io {
                path: file.clone(),
                source: e,
            })?;
            parse(table, &file, &text, &mut out)?;
        }
    }
    if !found {
        return Err(ClassifyError::NoLexicons {
            dir: dir.to_path_buf(),
        });
    }
    Ok(out)
}

fn filter_bit(k4: u32) -> usize {
    (k4.wrapping_mul(0x9E37_79B1) >> 20) as usize
}

fn key4(k: &[u8]) -> u32 {
    u32::from_le_bytes([k[0], k[1], k[2], k[3]])
}

impl Table {
    /// One table's index over `pats` (with `words` word ids): each first word's patterns,
    /// longest first, with their second words and a filter of them, and the patterns that
    /// start with a number.
    fn build(
        pats: &[Pattern],
        words: usize,
        by_first: FxMap<u32, Vec<u32>>,
        mut num_first: Vec<u32>,
    ) -> Table {
        // Longest first; at equal length a hashtag-only entry before the plain word, and an
        // anchored one (`^does anyone`, which only matches at a sentence start) before its
        // unanchored twin, so the more specific entry wins where both match.
        let longest_first = |v: &mut Vec<u32>| {
            v.sort_by_key(|&p| {
                let pat = &pats[p as usize];
                (
                    std::cmp::Reverse(pat.toks.len()),
                    !pat.hashtag,
                    !pat.anchored,
                )
            })
        };
        let mut ranges = vec![(0u32, 0u32); words];
        let mut ids = Vec::new();
        for (w, mut v) in by_first {
            longest_first(&mut v);
            ranges[w as usize] = (ids.len() as u32, (ids.len() + v.len()) as u32);
            ids.extend(v);
        }
        let next: Vec<u32> = ids
            .iter()
            .map(|&p| match pats[p as usize].toks.get(1) {
                Some(PatTok::Word(w)) => *w,
                _ => ANY_NEXT,
            })
            .collect();
        let next_filter = ranges
            .iter()
            .map(|&(s, e)| {
                next[s as usize..e as usize].iter().fold(0u64, |f, &n| {
                    if n == ANY_NEXT {
                        u64::MAX
                    } else {
                        f | 1 << (n % 64)
                    }
                })
            })
            .collect();
        longest_first(&mut num_first);
        Table {
            by_first: ranges,
            ids,
            next,
            next_filter,
            num_first: num_first.into(),
        }
    }
}

/// A phrase as compiled: its table, tokens, whether it is anchored at a sentence start and
/// whether it only matches a hashtag.
type PhraseKey = (usize, Vec<PatTok>, bool, bool);

impl Lexicon {
    /// Compiles the entries of every table into one lexicon: the shared word table, the
    /// phrases with their merged effects, and per table the index from first word to phrases.
    pub(crate) fn compile(entries: &[RawEntry]) -> Lexicon {
        let mut lex = Lexicon {
            words: WordTable::default(),
            word_bits: Vec::new(),
            number_bits: Vec::new(),
            votes: Vec::new(),
            starts: Vec::new(),
            prefixes: FxMap::default(),
            suffixes: FxMap::default(),
            affix_filter: Box::new([0; 64]),
            patterns: Vec::new(),
            tables: Default::default(),
            cue_names: Vec::new(),
            cue_roles: Vec::new(),
        };
        let phrases = lex.merge_phrases(entries);
        let (mut by_first, mut num_first, whole) = lex.add_patterns(phrases);
        for t in 0..TABLES {
            lex.tables[t] = Table::build(
                &lex.patterns,
                lex.word_bits.len(),
                std::mem::take(&mut by_first[t]),
                std::mem::take(&mut num_first[t]),
            );
        }
        lex.votes = lex
            .word_bits
            .iter()
            .zip(&whole)
            .map(|(&bits, &whole)| {
                std::array::from_fn(|l| {
                    (bits >> l & 1) + (whole >> l & 1) + 2 * (bits >> (4 + l) & 1)
                })
            })
            .collect();
        lex.starts = lex
            .word_bits
            .iter()
            .zip(&lex.number_bits)
            .map(|(w, n)| (w | n) & 0xF)
            .collect();
        lex
    }

    /// The phrases of `entries` with their effects, in the order first seen. Stopwords and
    /// number words only mark their word. A later entry for the same phrase and effect kind
    /// replaces the earlier one, so a custom term or an edited file can override a default.
    fn merge_phrases(&mut self, entries: &[RawEntry]) -> Vec<(PhraseKey, Vec<Effect>)> {
        let mut ids: FxMap<PhraseKey, usize> = FxMap::default();
        let mut phrases: Vec<(PhraseKey, Vec<Effect>)> = Vec::new();
        // Spellings first, so every phrase that uses one ("isnt working") is compiled to the
        // word it stands for.
        for e in entries {
            if let RawEffect::Spelling(word) = &e.effect {
                self.add_spelling(&e.phrase, word);
            }
        }
        for e in entries {
            let Some((toks, anchored)) = self.phrase_tokens(&e.phrase) else {
                continue;
            };
            let hashtag = e.phrase.starts_with('#') && toks.len() == 1;
            match (&e.effect, &toks[..]) {
                (RawEffect::Stopword, [PatTok::Word(w)]) => {
                    self.word_bits[*w as usize] |= 1 << (4 + e.table);
                    continue;
                }
                (RawEffect::Number, [PatTok::Word(w)]) => {
                    self.number_bits[*w as usize] |= 1 << e.table;
                    continue;
                }
                _ => {}
            }
            let Some(effect) = self.effect(&e.effect) else {
                continue;
            };
            let k = (e.table, toks, anchored, hashtag);
            let id = *ids.entry(k.clone()).or_insert_with(|| {
                phrases.push((k, Vec::new()));
                phrases.len() - 1
            });
            let list = &mut phrases[id].1;
            if let Some(slot) = list.iter_mut().find(|x| {
                std::mem::discriminant(*x) == std::mem::discriminant(&effect)
                    && same_cue(x, &effect)
            }) {
                *slot = effect;
            } else {
                list.push(effect);
            }
        }
        phrases
    }

    /// The compiled effect of an entry (cue names interned), or `None` for a stopword or
    /// number word, which has none.
    fn effect(&mut self, raw: &RawEffect) -> Option<Effect> {
        Some(match raw {
            RawEffect::Plain(effect) => *effect,
            RawEffect::Cue(kind, cue, w) => {
                let id = match self.cue_names.iter().position(|c| c == cue) {
                    Some(i) => i,
                    None => {
                        self.cue_names.push(intern(cue));
                        self.cue_roles.push(CueRole::of(cue));
                        self.cue_names.len() - 1
                    }
                };
                Effect::Cue {
                    kind: *kind,
                    cue: id as u16,
                    weight: *w,
                }
            }
            RawEffect::Stopword | RawEffect::Number | RawEffect::Spelling(_) => return None,
        })
    }

    /// Stores the merged phrases as patterns (their index is their id), and returns per table
    /// the patterns by first word and those that start with a number; and per word, bit `t`
    /// set where the word alone is a sentiment or cue entry of table `t`.
    #[allow(clippy::type_complexity)]
    fn add_patterns(
        &mut self,
        phrases: Vec<(PhraseKey, Vec<Effect>)>,
    ) -> ([FxMap<u32, Vec<u32>>; TABLES], [Vec<u32>; TABLES], Vec<u8>) {
        let mut by_first: [FxMap<u32, Vec<u32>>; TABLES] = Default::default();
        let mut num_first: [Vec<u32>; TABLES] = Default::default();
        let mut whole = vec![0u8; self.word_bits.len()];
        for (id, ((table, toks, anchored, hashtag), effs)) in phrases.into_iter().enumerate() {
            match toks[0] {
                PatTok::Word(w) => {
                    by_first[table].entry(w).or_default().push(id as u32);
                    self.word_bits[w as usize] |= 1 << table;
                    // Grammar words (I, at, er) are shared between the languages; only a
                    // word that carries meaning of its own tells them apart.
                    let meaning = effs
                        .iter()
                        .any(|e| matches!(e, Effect::Sentiment(_) | Effect::Cue { .. }));
                    if toks.len() == 1 && meaning {
                        whole[w as usize] |= 1 << table;
                    }
                }
                PatTok::Num => num_first[table].push(id as u32),
                PatTok::Gap => {} // never first: phrase_tokens drops a leading gap
            }
            self.patterns.push(Pattern {
                toks: toks.into(),
                anchored,
                hashtag,
                own_negation: false,
                effects: effs.into(),
            });
        }
        let mut negation = vec![false; self.word_bits.len()];
        for p in self.patterns.iter() {
            if let [PatTok::Word(w)] = p.toks[..]
                && p.effects
                    .iter()
                    .any(|e| matches!(e, Effect::Negation { .. }))
            {
                negation[w as usize] = true;
            }
        }
        for p in self.patterns.iter_mut() {
            p.own_negation =
                p.toks.len() > 1 && matches!(p.toks[0], PatTok::Word(w) if negation[w as usize]);
        }
        (by_first, num_first, whole)
    }

    /// Makes `variant` look up as `word`. Words are shared by every language, so a spelling
    /// holds in all of them. Spellings come before every other entry, so a variant is new here
    /// unless another spelling claimed it first, which then stands.
    fn add_spelling(&mut self, variant: &str, word: &str) {
        let Some((toks, _)) = self.phrase_tokens(word) else {
            return;
        };
        let [PatTok::Word(id)] = toks[..] else {
            return;
        };
        let mut key = None;
        tokenize::tokenize(variant, |t| {
            let mut buf = [0u8; 64];
            if key.is_none() {
                key = tokenize::key(variant, &t, &mut buf).map(<[u8]>::to_vec);
            }
        });
        if let Some(key) = key
            && self.words.get(&key).is_none()
        {
            self.words.insert(&key, id);
        }
    }

    fn word_id(&mut self, key: &[u8]) -> u32 {
        if let Some(id) = self.words.get(key) {
            return id;
        }
        let id = self.word_bits.len() as u32;
        // A key too long for the table can never match a token either; it still gets an id.
        self.words.insert(key, id);
        self.word_bits.push(0);
        self.number_bits.push(0);
        id
    }

    /// Turns a phrase from a file into pattern tokens, normalising each piece exactly as the
    /// tokenizer and `tokenize::key` do for mentions.
    fn phrase_tokens(&mut self, phrase: &str) -> Option<(Vec<PatTok>, bool)> {
        let (phrase, anchored) = match phrase.strip_prefix('^') {
            Some(p) => (p.trim_start(), true),
            None => (phrase, false),
        };
        let mut out = Vec::new();
        for piece in phrase.split_whitespace() {
            if piece == "<num>" {
                out.push(PatTok::Num);
                continue;
            }
            if piece == "..." {
                if !out.is_empty() {
                    out.push(PatTok::Gap);
                }
                continue;
            }
            let (body, prefix, suffix) = if let Some(b) = piece.strip_suffix('*') {
                (b, true, false)
            } else if let Some(b) = piece.strip_prefix('*') {
                (b, false, true)
            } else {
                (piece, false, false)
            };
            let mut toks = Vec::new();
            tokenize::tokenize(body, |t| {
                if !matches!(t.kind(), Kind::Stop) || body.len() == 1 {
                    toks.push(t)
                }
            });
            // Punctuation-only pieces ("?" or ".") are not lexicon material.
            for t in toks {
                let mut buf = [0u8; 64];
                let key = match t.kind() {
                    Kind::Question | Kind::Exclaim | Kind::Stop => continue,
                    _ => tokenize::key(body, &t, &mut buf)?.to_vec(),
                };
                if (prefix || suffix) && key.len() >= 4 {
                    let mut name = key.clone();
                    if prefix {
                        name.push(b'*');
                    } else {
                        name.insert(0, b'*');
                    }
                    let id = self.word_id(&name);
                    let (index, k4) = if prefix {
                        (&mut self.prefixes, key4(&key))
                    } else {
                        (&mut self.suffixes, key4(&key[key.len() - 4..]))
                    };
                    let bit = filter_bit(k4);
                    self.affix_filter[bit / 64] |= 1 << (bit % 64);
                    let list = index.entry(k4).or_default();
                    if !list.iter().any(|(_, i)| *i == id) {
                        list.push((key.into(), id));
                    }
                    out.push(PatTok::Word(id));
                } else {
                    out.push(PatTok::Word(self.word_id(&key)));
                }
            }
        }
        if out.is_empty() {
            None
        } else {
            Some((out, anchored))
        }
    }

    /// Looks a normalised token key up: exact, then with elongations collapsed, then as a
    /// compound via `word*` / `*word` entries, then as Danish typed without æ, ø and å.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8; MAX_KEY], len: usize, elongated: bool) -> u32 {
        let id = self.words.get_in(key, len).unwrap_or(NONE);
        if id != NONE {
            return id;
        }
        // Most missed tokens are neither stretched nor possible compounds.
        let affix = (len >= 5)
            & (self.affix_may_hold(key4(key))
                | self.affix_may_hold(key4(&key[len.clamp(4, MAX_KEY) - 4..])));
        let id = if elongated | affix {
            self.lookup_slow(key, len, elongated)
        } else {
            NONE
        };
        if id != NONE {
            return id;
        }
        self.lookup_without_danish_letters(key, len)
    }

    /// A word typed on a keyboard without æ, ø and å, as Danes write them then: "ae", "oe"
    /// and "aa" ("paa", "proevet", "haevet"). Only a word the lexicons know that way counts, and
    /// each letter pair takes as many bytes as the letter, so the key keeps its length.
    #[inline(never)]
    fn lookup_without_danish_letters(&self, key: &[u8; MAX_KEY], len: usize) -> u32 {
        let mut tmp = *key;
        let mut changed = false;
        let mut i = 0;
        while i + 1 < len {
            let letter = match (tmp[i], tmp[i + 1]) {
                (b'a', b'e') => 0xA6,
                (b'o', b'e') => 0xB8,
                (b'a', b'a') => 0xA5,
                _ => {
                    i += 1;
                    continue;
                }
            };
            tmp[i] = 0xC3;
            tmp[i + 1] = letter;
            changed = true;
            i += 2;
        }
        if !changed {
            return NONE;
        }
        self.words.get_in(&tmp, len).unwrap_or(NONE)
    }

    #[inline(always)]
    fn affix_may_hold(&self, k4: u32) -> bool {
        let bit = filter_bit(k4);
        self.affix_filter[bit / 64] >> (bit % 64) & 1 != 0
    }

    #[inline(never)]
    fn lookup_slow(&self, key: &[u8; MAX_KEY], len: usize, elongated: bool) -> u32 {
        if elongated {
            for keep in [2, 1] {
                let mut tmp = *key;
                let n = tokenize::collapse_runs(&mut tmp, len, keep);
                if let Some(id) = self.words.get_in(&tmp, n) {
                    return id;
                }
            }
            let mut tmp = *key;
            let n = tokenize::collapse_runs(&mut tmp, len, 2);
            return self.lookup_affix(&tmp[..n]);
        }
        self.lookup_affix(&key[..len])
    }

    #[inline]
    fn lookup_affix(&self, key: &[u8]) -> u32 {
        if key.len() < 5 {
            return NONE;
        }
        let (head, tail) = (key4(key), key4(&key[key.len() - 4..]));
        let has = |k: u32| {
            let bit = filter_bit(k);
            self.affix_filter[bit / 64] >> (bit % 64) & 1 != 0
        };
        if !has(head) && !has(tail) {
            return NONE;
        }
        if let Some(list) = self.prefixes.get(&head) {
            let mut best: (usize, u32) = (0, NONE);
            for (p, id) in list {
                if key.starts_with(p) && p.len() > best.0 {
                    best = (p.len(), *id);
                }
            }
            if best.1 != NONE {
                return best.1;
            }
        }
        if let Some(list) = self.suffixes.get(&tail) {
            let mut best: (usize, u32) = (0, NONE);
            for (s, id) in list {
                if key.ends_with(s) && s.len() > best.0 {
                    best = (s.len(), *id);
                }
            }
            return best.1;
        }
        NONE
    }
}

fn same_cue(a: &Effect, b: &Effect) -> bool {
    match (a, b) {
        (
            Effect::Cue {
                kind: k1, cue: c1, ..
            },
            Effect::Cue {
                kind: k2, cue: c2, ..
            },
        ) => k1 == k2 && c1 == c2,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<RawEntry>, ClassifyError> {
        let mut out = Vec::new();
        parse(0, Path::new("en/test.txt"), text, &mut out)?;
        Ok(out)
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = entries("# comment\n[sentiment]\ngood = 2\nbad = minus two\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "en/test.txt:4: expected a number after '=', got \"minus two\""
        );
        let err = entries("[complant delay]\nlate\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("en/test.txt:1: unknown section [complant delay]"),
            "{err}"
        );
        let err = entries("late\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "en/test.txt:1: entry before the first [section] header"
        );
    }

    #[test]
    fn every_lexicon_file_on_disk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lexicons");
        for dir in ["en", "nl", "da", "common"] {
            for f in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = f.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".txt") {
                    assert!(
                        EMBEDDED.iter().any(|(d, n, _)| *d == dir && *n == name),
                        "{dir}/{name} is not in EMBEDDED"
                    );
                }
            }
        }
    }

    /// The score an embedded file gives a phrase in its `[sentiment]` section.
    fn embedded_score(dir: &str, file: &str, phrase: &str) -> Option<f32> {
        let (_, _, text) = EMBEDDED.iter().find(|(d, n, _)| *d == dir && *n == file)?;
        let mut out = Vec::new();
        parse(0, Path::new(file), text, &mut out).ok()?;
        out.iter().find_map(|e| match e.effect {
            RawEffect::Plain(Effect::Sentiment(v)) if e.phrase == phrase => Some(v),
            _ => None,
        })
    }

    #[test]
    fn vader_scores_are_converted_to_our_scale() {
        // VADER: fraud -2.8, masterpiece 3.1, catastrophic -2.2; × 0.75 onto -3 … +3.
        assert_eq!(embedded_score("en", "published.txt", "fraud"), Some(-2.1));
        assert_eq!(
            embedded_score("en", "published.txt", "masterpiece"),
            Some(2.33)
        );
        assert_eq!(
            embedded_score("en", "published.txt", "catastrophic"),
            Some(-1.65)
        );
        // The team's own entry wins: "terrible" is ours, so the generated file leaves it out.
        assert_eq!(embedded_score("en", "published.txt", "terrible"), None);
        assert!(embedded_score("en", "sentiment.txt", "terrible").is_some());
        // Emoji are scored by the words of their VADER name: 🎁 "wrapped gift".
        assert_eq!(
            embedded_score("common", "emoji-published.txt", "🎁"),
            Some(1.42)
        );
    }

    #[test]
    fn pattern_dutch_adjectives_come_with_their_inflected_form() {
        // pattern: afschuwelijk -1.0 → -3; boos has two senses (-0.6, -0.8), averaged → -2.1.
        assert_eq!(
            embedded_score("nl", "published.txt", "afschuwelijk"),
            Some(-3.0)
        );
        assert_eq!(
            embedded_score("nl", "published.txt", "afschuwelijke"),
            Some(-3.0)
        );
        assert_eq!(embedded_score("nl", "published.txt", "boze"), Some(-2.1));
        assert_eq!(
            embedded_score("nl", "published.txt", "belabberd"),
            Some(-1.8)
        );
    }

    #[test]
    fn afinn_danish_scores_are_converted_to_our_scale() {
        // AFINN-da: afsky -3, advare -2, afklaring 2; × 0.6 onto -3 … +3. Words scored ±1
        // in AFINN are below the floor and left out.
        assert_eq!(embedded_score("da", "published.txt", "afsky"), Some(-1.8));
        assert_eq!(embedded_score("da", "published.txt", "advare"), Some(-1.2));
        assert_eq!(
            embedded_score("da", "published.txt", "afklaring"),
            Some(1.2)
        );
        assert_eq!(embedded_score("da", "published.txt", "absorberet"), None);
    }

    #[test]
    fn a_phrase_given_twice_in_one_section_is_an_error_naming_both_lines() {
        let err = entries("[sentiment]\ngreat = 2\nawful = -3\nGreat = 2.5\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "en/test.txt:4: \"Great\" is already in this section at line 2; keep one of the two"
        );
        // The same phrase in two sections is two meanings, not a mistake.
        entries("[sentiment]\nunstable = -1.6\n[complaint failure]\nunstable = 1\n").unwrap();
    }

    #[test]
    fn generated_files_define_nothing_the_team_files_do() {
        for (dir, file, text) in EMBEDDED {
            if !file.contains("published") {
                continue;
            }
            let mut generated = Vec::new();
            parse(0, Path::new(file), text, &mut generated).unwrap();
            let mut own = Vec::new();
            for (_, n, t) in EMBEDDED
                .iter()
                .filter(|(d, n, _)| d == dir && !n.contains("published"))
            {
                parse(0, Path::new(n), t, &mut own).unwrap();
            }
            for e in &generated {
                assert!(
                    !own.iter().any(|o| o.phrase.eq_ignore_ascii_case(&e.phrase)),
                    "{dir}/{file} redefines {:?}",
                    e.phrase
                );
            }
        }
    }

    #[test]
    fn prefix_and_suffix_entries_match_compounds() {
        let lex =
            Lexicon::compile(&entries("[complaint delay]\n*vertraging\nteleurstell*\n").unwrap());
        let look = |w: &str| {
            let mut buf = [0u8; 64];
            buf[..w.len()].copy_from_slice(w.as_bytes());
            lex.lookup(&buf, w.len(), false)
        };
        assert_ne!(look("treinvertraging"), NONE);
        assert_ne!(look("teleurstellend"), NONE);
        assert_eq!(look("vertrek"), NONE);
    }

    #[test]
    fn a_spelling_looks_up_as_its_word_and_danish_without_its_letters_too() {
        let lex = Lexicon::compile(
            &entries("[spelling]\nisnt = isn't\n[complaint failure]\nisn't working\nhævet\n")
                .unwrap(),
        );
        let look = |w: &str| {
            let mut buf = [0u8; 64];
            buf[..w.len()].copy_from_slice(w.as_bytes());
            lex.lookup(&buf, w.len(), false)
        };
        assert_ne!(look("isn't"), NONE);
        assert_eq!(look("isnt"), look("isn't"));
        assert_eq!(look("haevet"), look("hævet"));
        assert_ne!(look("hævet"), NONE);
        assert_eq!(look("haeve"), NONE);
        assert!(entries("[spelling]\nisnt\n").is_err());
        assert!(entries("[spelling]\nis nt = isn't\n").is_err());
    }

    #[test]
    fn no_spelling_is_a_word_of_its_own_elsewhere() {
        // A variant looks up as its word everywhere, so an entry that uses it would give that
        // word its meaning ("ff", Dutch for "even", is a VADER entry).
        let all = parse_embedded();
        let variants: Vec<&str> = all
            .iter()
            .filter(|e| matches!(e.effect, RawEffect::Spelling(_)))
            .map(|e| e.phrase.as_str())
            .collect();
        assert!(variants.contains(&"isnt"));
        for e in all
            .iter()
            .filter(|e| !matches!(e.effect, RawEffect::Spelling(_)))
        {
            for piece in e.phrase.split_whitespace() {
                let word = piece
                    .trim_start_matches(['^', '*', '#'])
                    .trim_end_matches('*');
                assert!(
                    !variants.contains(&word.to_lowercase().as_str()),
                    "{:?} (table {}) uses {word:?}, which [spelling] makes another word",
                    e.phrase,
                    e.table
                );
            }
        }
    }
}
