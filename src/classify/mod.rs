//! The classifier: decides for every mention whether it is a complaint, a question, praise or
//! neutral, how negative or positive it is, whether it is urgent or spam, and which language it
//! is in, and keeps the cues that decided it (with byte spans) so staff can see why.
//!
//! It is lexicon- and rule-based. The lexicons are plain text files under `config/lexicons/`
//! (documented in `config/lexicons/README.md`), compiled into the binary as defaults and
//! replaceable at start-up with [`Classifier::from_dir`]. One pass tokenizes and looks every
//! token up in a single hash table shared by all languages; a second pass over the tokens (not
//! the text) applies the phrases of the detected language.

mod eval;
mod lexicon;
pub mod live;
pub mod model;
mod rating;
pub mod retrain;
mod score;
pub(crate) mod signals;
mod stream;
mod tokenize;
pub mod train;
mod words;

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub use eval::{EvalSummary, LangScores, Scores, run_eval};
pub use model::{Model, ModelError};
pub use stream::run_classify;

use lexicon::{COMMON, LANGS, Lexicon, NONE, RawEffect, RawEntry};
use tokenize::{Kind, Token};

/// Errors from loading lexicons. Every variant names the file, and lexicon errors the line.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{}:{line}: {msg}", file.display())]
    Lexicon {
        file: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no lexicon folders (en/, nl/, da/ or common/) in {}; point --lexicons at a copy of config/lexicons", dir.display())]
    NoLexicons { dir: PathBuf },
}

/// The four things a mention can be for a webcare team.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Complaint,
    Question,
    Praise,
    #[default]
    Neutral,
}

impl Label {
    pub const ALL: [Label; 4] = [
        Label::Complaint,
        Label::Question,
        Label::Praise,
        Label::Neutral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Complaint => "complaint",
            Label::Question => "question",
            Label::Praise => "praise",
            Label::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a label that is not one of complaint, question, praise, neutral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label {0:?}; expected complaint, question, praise or neutral")]
pub struct UnknownLabel(pub String);

impl FromStr for Label {
    type Err = UnknownLabel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_word(&Label::ALL, Label::as_str, s).ok_or_else(|| UnknownLabel(s.to_string()))
    }
}

/// The value among `all` whose word is `s`, in any case and with spaces around it ignored:
/// config files and command lines write `Complaint` as readily as `complaint`.
fn by_word<T: Copy>(all: &[T], word: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter()
        .copied()
        .find(|v| word(*v).eq_ignore_ascii_case(s.trim()))
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Positive,
    Negative,
    #[default]
    Neutral,
}

impl Polarity {
    pub const ALL: [Polarity; 3] = [Polarity::Positive, Polarity::Negative, Polarity::Neutral];

    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Positive => "positive",
            Polarity::Negative => "negative",
            Polarity::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Polarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a polarity that is not positive, negative or neutral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown polarity {0:?}; expected positive, negative or neutral")]
pub struct UnknownPolarity(pub String);

impl FromStr for Polarity {
    type Err = UnknownPolarity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_word(&Polarity::ALL, Polarity::as_str, s).ok_or_else(|| UnknownPolarity(s.to_string()))
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
}

impl Urgency {
    /// The word stored in the database and shown in JSON: `normal` or `urgent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
        }
    }
}

/// Error for an urgency that is not `normal` or `urgent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown urgency {0:?}; expected normal or urgent")]
pub struct UnknownUrgency(pub String);

impl FromStr for Urgency {
    type Err = UnknownUrgency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_word(&[Urgency::Normal, Urgency::Urgent], Urgency::as_str, s)
            .ok_or_else(|| UnknownUrgency(s.to_string()))
    }
}

/// One cue that contributed to the decision. `start..end` is a byte span of the input text and
/// `text` is that slice, so `&input.text[r.start..r.end] == r.text` always holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Reason {
    /// What the cue argues for: "complaint", "question", "praise", "negative", "positive",
    /// "negation", "sarcasm", "urgent", "spam". Borrowed when the classifier made it, so a
    /// reason costs no allocation or copy beyond its `text`.
    pub kind: Cow<'static, str>,
    /// Which kind of cue, from the lexicon section name: "duration", "unanswered", "leave", ...
    pub cue: Cow<'static, str>,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// The classifier's verdict on one mention.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Classification {
    pub label: Label,
    /// In [-1, 1]; below -0.1 is negative, above 0.1 positive.
    pub sentiment: f32,
    pub polarity: Polarity,
    pub urgency: Urgency,
    /// Human-readable, e.g. `leave: "ik zeg mijn abonnement op"` or `high reach: 25000 followers`.
    pub urgency_reasons: Vec<String>,
    /// Likely bot, promotion or manipulation: keep it out of alerts and digests.
    pub spam: bool,
    /// "en", "nl", "da" or "other".
    pub lang: String,
    pub reasons: Vec<Reason>,
}

/// What the classifier knows about one mention. Build it with [`Input::new`] and set what the
/// platform gives; every `None` means "unknown".
#[derive(Clone, Copy, Debug, Default)]
pub struct Input<'a> {
    pub text: &'a str,
    /// Platform language tag ("nl", "en-GB", "da"); `None` means detect from the text.
    pub lang: Option<&'a str>,
    /// Followers of the author.
    pub author_reach: Option<i64>,
    pub author_age_days: Option<i64>,
    /// Whether the mention carries a link; `None` means detect from the text.
    pub has_link: Option<bool>,
    /// Store signal: how many distinct authors posted the same normalised text recently. At or
    /// above [`Classifier::duplicate_authors`] marks it as spam.
    pub duplicate_authors: Option<u32>,
    /// Store signal: replies or quotes the thread gained in the last hour. At or above
    /// [`Classifier::fast_thread`] makes a complaint or question urgent.
    pub thread_replies_last_hour: Option<u32>,
    /// A review's star rating (1 to 5) from a review site or app store; see `rating.rs`.
    pub rating: Option<u8>,
    /// How the source writes (`voice = "news"` on a source); `None` means judge from the text.
    pub voice: Option<Voice>,
    /// The text starts with a headline joined to a body ("Headline. Body"), as a feed item
    /// with a title gives it: one of the signs of an article.
    pub headline: bool,
}

/// Who is speaking in a source's items.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Voice {
    /// A news site or press feed: it reports on complaints, outages and prices in the third
    /// person, so its items are never customer complaints unless they quote one.
    News,
    /// Customers speaking for themselves (forums, reviews, social media).
    Customer,
}

impl<'a> Input<'a> {
    pub fn new(text: &'a str) -> Input<'a> {
        Input {
            text,
            ..Input::default()
        }
    }
}

/// Brand-specific terms for one watch, from the config. They apply in every language.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CustomTerms {
    /// Phrases that mark a complaint, e.g. a product's known failure ("error 0x42").
    pub complaint: Vec<String>,
    pub praise: Vec<String>,
    /// Phrases that make a complaint or question urgent, e.g. "recall".
    pub urgent: Vec<String>,
    /// Phrases that mark spam, e.g. a counterfeit shop's name.
    pub spam: Vec<String>,
}

/// Every "leave" cue followed by the brand's own `name`, as an ignored phrase in the cue's
/// own table: directly, after the language's "to", or after a few words and that "to" (a
/// competitor's name: "van KPN naar"). The longest phrase wins the walk, so these outweigh
/// the cue they start with.
fn arrival_phrases(entries: &[RawEntry], name: &str) -> Vec<RawEntry> {
    const TO: [&str; 3] = ["to", "naar", "til"];
    let name = name.trim().to_lowercase();
    if name.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in entries {
        let is_leave = matches!(&e.effect, RawEffect::Cue(lexicon::CueKind::Urgent, cue, _)
            if lexicon::CueRole::of(cue) == lexicon::CueRole::Leave);
        if !is_leave || e.table >= TO.len() || e.phrase.contains("...") {
            continue;
        }
        let to = TO[e.table];
        let mut phrases = vec![format!("{} {name}", e.phrase)];
        if !e.phrase.ends_with(&format!(" {to}")) {
            phrases.push(format!("{} {to} {name}", e.phrase));
            phrases.push(format!("{} ... {to} {name}", e.phrase));
        }
        out.extend(phrases.into_iter().map(|phrase| RawEntry {
            table: e.table,
            phrase,
            effect: RawEffect::Plain(lexicon::Effect::Ignore),
        }));
    }
    out
}

/// The compiled lexicons plus the thresholds. Cheap to clone (the tables are shared), and
/// `Send + Sync` so one instance can serve every pipeline task.
///
/// The tables compile on first use (or on [`compiled`](Self::compiled)), not when the entries
/// are read: the daemon extends the configured lexicons with its watch names before it
/// classifies anything, and compiling the unextended ones too would double the cost of every
/// start, reload and model swap.
#[derive(Clone)]
pub struct Classifier {
    lex: Arc<OnceLock<Lexicon>>,
    entries: Arc<Vec<RawEntry>>,
    /// Followers at or above which a complaint or question is urgent. Default 10,000.
    pub high_reach: i64,
    /// Replies in the last hour at or above which a thread is fast-growing. Default 20.
    pub fast_thread: u32,
    /// Distinct authors of the same text at or above which it is a spam campaign. Default 3.
    pub duplicate_authors: u32,
    /// The team's trained model, stacked on the lexicon verdict where it has enough examples.
    model: Option<Arc<Model>>,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("words", &self.lex().words.len())
            .field("patterns", &self.lex().patterns.len())
            .field("high_reach", &self.high_reach)
            .field("fast_thread", &self.fast_thread)
            .field("duplicate_authors", &self.duplicate_authors)
            .finish()
    }
}

/// A token plus its word id in the shared table.
#[derive(Clone, Copy)]
pub(crate) struct Tok {
    pub t: Token,
    pub word: u32,
}

thread_local! {
    static SCRATCH: RefCell<Vec<Tok>> = const { RefCell::new(Vec::new()) };
    /// Reasons a verdict no longer needs, kept with their strings for the next verdict on this
    /// thread: a model's reasons carry formatted weights, and reusing their buffers keeps a
    /// warm classifier from allocating per mention.
    static SPARE_REASONS: RefCell<Vec<Reason>> = const { RefCell::new(Vec::new()) };
    /// The formatted cues of a model's reasons whose slot the next verdict's lexicon reasons
    /// took over (their cue is a borrowed name), kept for the next model reasons.
    static SPARE_CUES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Spare reasons kept per thread; more are dropped.
const MAX_SPARE_REASONS: usize = 32;

/// A reason to fill in: a spare one with its buffers when there is one.
pub(crate) fn spare_reason() -> Reason {
    SPARE_REASONS
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_default()
}

/// A cleared string for a reason's formatted cue: a spare one when there is one.
pub(crate) fn spare_cue() -> String {
    let mut s = SPARE_CUES
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_default();
    s.clear();
    s
}

/// Keeps a formatted cue's string for reuse by [`spare_cue`].
pub(crate) fn keep_spare_cue(cue: String) {
    SPARE_CUES.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_SPARE_REASONS {
            s.push(cue);
        }
    });
}

/// Keeps the reasons of `list` from index `from` on for reuse by [`spare_reason`], and cuts
/// `list` there. They are moved in one piece (as many as there is room for).
pub(crate) fn keep_spare_reasons(list: &mut Vec<Reason>, from: usize) {
    if from >= list.len() {
        return;
    }
    SPARE_REASONS.with(|s| {
        let mut s = s.borrow_mut();
        let room = MAX_SPARE_REASONS.saturating_sub(s.len());
        let end = list.len().min(from + room);
        s.extend(list.drain(from..end));
    });
    list.truncate(from);
}

impl Classifier {
    /// The default lexicons compiled into the binary.
    pub fn embedded() -> Classifier {
        Classifier::from_entries(lexicon::parse_embedded())
    }

    /// Loads lexicons from `dir/{en,nl,da,common}/*.txt` (a copy of `config/lexicons`).
    pub fn from_dir(dir: &Path) -> Result<Classifier, ClassifyError> {
        Ok(Classifier::from_entries(lexicon::parse_dir(dir)?))
    }

    /// The classifier the daemon runs with: the lexicons and thresholds of `[classifier]`.
    ///
    /// This is also the whole of a reload (SIGHUP): build a new one (edited lexicons are read
    /// again), compile the watches with it ([`crate::watch::Watches::compile`]) and swap them
    /// in with `Pipeline::set_watches`. A `Classifier` is immutable and shares its tables
    /// through `Arc`s, so mentions being classified with the old one finish undisturbed; a
    /// reload that fails leaves the old one in place.
    pub fn from_config(cfg: &crate::config::ClassifierConfig) -> Result<Classifier, ClassifyError> {
        let mut c = match &cfg.lexicons {
            Some(dir) => Classifier::from_dir(dir)?,
            None => Classifier::embedded(),
        };
        if let Some(r) = cfg.high_reach {
            c.high_reach = r;
        }
        if let Some(n) = cfg.fast_thread {
            c.fast_thread = n;
        }
        if let Some(n) = cfg.duplicate_authors {
            c.duplicate_authors = n;
        }
        if let Some(path) = &cfg.model {
            // A damaged model must not stop the daemon: say so, and let the lexicons decide.
            match Model::load(path) {
                Ok(m) => c = c.with_model(Arc::new(m)),
                Err(e) => {
                    tracing::error!("classifier.model: {e}; classifying with the lexicons alone")
                }
            }
        }
        Ok(c)
    }

    fn from_entries(entries: Vec<RawEntry>) -> Classifier {
        Classifier {
            lex: Arc::default(),
            entries: Arc::new(entries),
            high_reach: 10_000,
            fast_thread: 20,
            duplicate_authors: 3,
            model: None,
        }
    }

    /// This classifier with its tables compiled now, so the first mention does not wait for
    /// them.
    pub fn compiled(self) -> Classifier {
        self.lex();
        self
    }

    /// The compiled tables, compiled here on first use.
    fn lex(&self) -> &Lexicon {
        self.lex.get_or_init(|| Lexicon::compile(&self.entries))
    }

    /// This classifier with a trained model on top (see [`model`]).
    pub fn with_model(mut self, model: Arc<Model>) -> Classifier {
        self.model = Some(model);
        self
    }

    /// The model in use, if any.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_deref()
    }

    /// The lexicon verdict alone, in a given language table: what training stacks on.
    /// `lang` indexes `en`, `nl`, `da`.
    pub fn classify_lexicon(&self, text: &str, lang: usize) -> Classification {
        let c = Classifier {
            model: None,
            ..self.clone()
        };
        c.classify(&Input {
            lang: Some(LANGS[lang]),
            ..Input::new(text)
        })
    }

    /// A classifier that also knows the team's own brand names (every watch's name), so a
    /// customer who moves *to* one of them ("switching to FjordLink", "overstappen van KPN
    /// naar FjordLink") is not read as one leaving.
    pub fn with_own_names(self, names: &[&str]) -> Classifier {
        let arrivals: Vec<RawEntry> = names
            .iter()
            .flat_map(|name| arrival_phrases(&self.entries, name))
            .collect();
        if arrivals.is_empty() {
            return self;
        }
        let mut entries = (*self.entries).clone();
        entries.extend(arrivals);
        self.rebuilt(entries)
    }

    /// The same thresholds and model over other lexicon entries.
    fn rebuilt(self, entries: Vec<RawEntry>) -> Classifier {
        Classifier {
            high_reach: self.high_reach,
            fast_thread: self.fast_thread,
            duplicate_authors: self.duplicate_authors,
            model: self.model.clone(),
            ..Classifier::from_entries(entries)
        }
    }

    /// A classifier that also knows one watch's brand terms. Custom terms weigh double a
    /// default cue and override a default entry for the same phrase.
    pub fn with_custom_terms(self, terms: &CustomTerms) -> Classifier {
        let mut entries = (*self.entries).clone();
        let groups = [
            (&terms.complaint, lexicon::CueKind::Complaint),
            (&terms.praise, lexicon::CueKind::Praise),
            (&terms.urgent, lexicon::CueKind::Urgent),
            (&terms.spam, lexicon::CueKind::Spam),
        ];
        for (list, kind) in groups {
            for phrase in list.iter().filter(|p| !p.trim().is_empty()) {
                entries.push(RawEntry {
                    table: COMMON,
                    phrase: phrase.clone(),
                    effect: RawEffect::Cue(kind, "custom".into(), 2.0),
                });
            }
        }
        self.rebuilt(entries)
    }

    pub fn classify(&self, input: &Input) -> Classification {
        let mut out = Classification::default();
        self.classify_into(input, &mut out);
        out
    }

    /// Like [`classify`](Self::classify) but reuses the buffers of `out`, so a loop over
    /// many mentions does not allocate once `out` has grown to size.
    pub fn classify_into(&self, input: &Input, out: &mut Classification) {
        SCRATCH.with(|s| {
            let mut toks = s.borrow_mut();
            toks.clear();
            let prep = self.resolve(input.text, &mut toks);
            let table = choose_language(input.lang, &prep.votes);
            out.lang.clear();
            out.lang.push_str(match table {
                Some(t) => LANGS[t],
                None => "other",
            });
            // Text in another language is scored with the English lexicon: brand talk in
            // other languages borrows English words ("top service", "fail") more than ours.
            score::score(self, &toks, input, table.unwrap_or(0), prep.shouting, out);
            if let Some(m) = &self.model {
                m.apply(input.text, table, out);
            }
        });
        // The store signals go last, through the same code the store uses to add them later.
        self.apply_signals(out, input);
        rating::apply_rating(input.rating, out);
    }

    /// Tokenizes and looks every token up once. Also counts language votes and capitals.
    fn resolve(&self, text: &str, toks: &mut Vec<Tok>) -> Prep {
        let lex = self.lex();
        let mut votes = [0u32; 3];
        let mut words = 0u32;
        let mut caps = 0u32;
        let mut buf = [0u8; 64];
        let mut look_up = |t: Token, fast_key: Option<&[u8; 64]>| {
            let mut word = NONE;
            if matches!(
                t.kind(),
                Kind::Word | Kind::Number | Kind::Hashtag | Kind::Emoji | Kind::Emoticon
            ) {
                let key = match fast_key {
                    Some(k) => Some((
                        k,
                        (t.end - t.start) as usize - usize::from(t.kind() == Kind::Hashtag),
                        true,
                    )),
                    None => tokenize::key(text, &t, &mut buf)
                        .map(|k| (k.len(), k.is_ascii()))
                        .map(|(len, ascii)| (&buf, len, ascii)),
                };
                if let Some((k, len, ascii)) = key {
                    if t.kind() == Kind::Word {
                        words += 1;
                        caps += u32::from(t.flags() & tokenize::CAPS != 0);
                        // æ, ø and å are Danish (and Norwegian); no Dutch or English word has them.
                        if !ascii
                            && k[..len]
                                .windows(2)
                                .any(|w| w[0] == 0xC3 && matches!(w[1], 0xA6 | 0xB8 | 0xA5))
                        {
                            votes[2] += 2;
                        }
                    }
                    word = lex.lookup(k, len, t.flags() & tokenize::ELONGATED != 0);
                    let add = lex.votes.get(word as usize).copied().unwrap_or_default();
                    for (v, a) in votes.iter_mut().zip(add) {
                        *v += u32::from(a);
                    }
                }
            }
            word
        };
        tokenize::tokenize_keyed(text, |t, fast_key| {
            let word = look_up(t, fast_key);
            // A hashtag the lexicons do not know may be words joined in CamelCase: read those.
            if word == NONE
                && t.kind() == Kind::Hashtag
                && tokenize::camel_words(text, &t, |part, key| {
                    let word = look_up(part, key);
                    toks.push(Tok { t: part, word });
                })
            {
                return;
            }
            toks.push(Tok { t, word });
        });
        Prep {
            votes,
            shouting: words >= 3 && caps * 2 >= words,
        }
    }
}

struct Prep {
    votes: [u32; 3],
    shouting: bool,
}

/// The language table to score with: the platform's tag when it is one of ours, otherwise the
/// language with the most stopword and lexicon hits. `None` means "other".
fn choose_language(given: Option<&str>, votes: &[u32; 3]) -> Option<usize> {
    if let Some(tag) = given {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        if let Some(i) = LANGS.iter().position(|l| l.eq_ignore_ascii_case(primary)) {
            return Some(i);
        }
        if !primary.is_empty() && !primary.eq_ignore_ascii_case("und") {
            return None;
        }
    }
    let (best, &score) = votes
        .iter()
        .enumerate()
        .max_by_key(|&(i, v)| (*v, std::cmp::Reverse(i)))?;
    if score >= 1 { Some(best) } else { None }
}

#[cfg(test)]
mod tests;
