//! Scoring: walks the resolved tokens once, matches the phrases of one language (longest
//! first), applies negation scope, intensifiers, contrast, caps and elongation, and turns the
//! evidence into a label, sentiment, urgency and spam verdict with reasons.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::lexicon::{ANY_NEXT, COMMON, CueKind, CueRole, Effect, Lexicon, NONE, PatTok, Pattern};
use super::tokenize::{CAPS, ELONGATED, HAS_UPPER, Kind, Token};
use super::{Classification, Classifier, Input, Label, Polarity, Reason, Tok, Urgency, Voice};

/// How many words after "not"/"niet"/"ikke" are negated.
const NEGATION_SCOPE: u8 = 3;

/// How much of a negative word's weight a negation turns into praise. Little: "no reason for
/// the cancellation", "none for incompetence" and "don't control your stupidity" are no
/// praise; the praise that is meant ("not bad", "no complaints") stands in the lexicons as
/// phrases.
const NEGATED_FAULT: f32 = 0.3;
/// How many words after "very"/"heel"/"meget" are intensified.
const INTENSIFIER_SCOPE: u8 = 2;
/// How far a negation and a `function` verb may stand apart and still say it failed: next to
/// each other or one word between ("won't even load", "werkt de app niet"), not further
/// ("can't wait to receive it" is no fault).
const FUNCTION_REACH: u8 = 1;

#[derive(Default)]
struct Evidence {
    pos: f32,
    neg: f32,
    complaint: f32,
    praise: f32,
    question: f32,
    spam: f32,
    sarcasm: f32,
    /// Complaint cues from the lexicon (not from negative words): delays, failures, waiting.
    factual: f32,
    /// Of those, how long something has gone on ("for 2 weeks").
    duration: f32,
    /// Of those, the ones that tell only of time: how long, again, still.
    timely: f32,
    /// Of those, the ones that name a fault (a failure, a delay, no answer), not just time or
    /// tone: sarcasm needs one to mock.
    fault: f32,
    /// The first laugh ("haha", "😂").
    laugh: Option<(u32, u32)>,
    /// A wish or greeting ("god weekend"), and the positive valence of the emoji in the
    /// post, which decorate it.
    wish: bool,
    pos_emoji: f32,
    /// Negation words: with a duration they say something has not happened for that long.
    negations: u32,
    /// Of the complaint cues, the negated `function` verbs ("won't load"): a symptom, which
    /// a question about it ("Is there an outage? Nothing loads") only explains.
    symptom: f32,
    first_pos: Option<(u32, u32)>,
    pos_after_contrast: bool,
    /// Praise came before a "but", or the post grants something with "although": an honest
    /// mixed post ("Nice speeds but the router keeps disconnecting"), not sarcasm.
    mixed: bool,
    resolved: bool,
    /// Praise that is hardly ever mockery, or a high star rating: see [`CueRole::Heartfelt`].
    heartfelt: bool,
    question_marks: u32,
    /// Question marks that end a sentence of three words or more: one that asks something,
    /// not an exasperated "Movia??" or "Seriously?".
    asked: u32,
    exclaims: u32,
    words: u32,
    links: u32,
    anger: bool,
    urgent: [(u16, u32, u32); 4],
    n_urgent: usize,
    /// Words the writer uses about themselves ("I", "mijn", "jeg").
    first_person: u32,
    /// The star emoji that rate the post, found once before the walk (see [`emoji_stars`]):
    /// the walk keeps their valence out, [`weigh_rating`] counts their rating.
    stars: Option<(f32, u32, u32)>,
    /// Words that report what someone else said ("confirms", "aldus", "oplyser").
    reports: u32,
    /// The first subject that is not the brand's service ("the referee", "de scheids").
    elsewhere: Option<(u32, u32)>,
    /// Complaint evidence that came from "leave" cues, taken back when the writer is a
    /// prospect asking for advice ("Moving to Vesterbro, best ISP?").
    leave: f32,
    /// Of `leave`, what was said after the last question mark: a customer who asks and then
    /// says they are leaving ("How is that service? Never buying again.") is not asking how
    /// to leave.
    leave_after_asking: f32,
    /// A question asking for advice or experiences.
    advice: bool,
    /// A question put to the crowd ([`CueRole::Crowd`]): with no other question cue beside
    /// it, its question marks ask the brand nothing.
    crowd: bool,
    /// Of the complaint cues, the "why" that opens a rhetorical question ("Waarom duurt het
    /// zo lang?"): with any other grievance beside it, the question is the complaint.
    rhetorical: f32,
    /// The strongest press, regulator or lawyer cue: a threat is always a complaint and
    /// always urgent.
    threat: f32,
    /// Positive valence said as a sentence of its own ("Brilliant.", "Just great!") next to a
    /// negative sentence, and the first such word: in a post with nothing else good in it,
    /// it is sarcasm.
    lone_pos: f32,
    lone_span: Option<(u32, u32)>,
    /// Praise told in a sentence of its own before any question mark ("Meget imponeret. Kan
    /// man sende ros videre?"): a question after it is an aside to the praise.
    praise_first: bool,
}

/// Hands out the items of a list one by one, growing it when needed, so the buffers of the
/// last verdict are written over rather than dropped and allocated again. `finish` cuts the
/// list to what was handed out.
struct Reused<'o, T> {
    list: &'o mut Vec<T>,
    used: usize,
}

impl<'o, T: Default> Reused<'o, T> {
    fn new(list: &'o mut Vec<T>) -> Self {
        Reused { list, used: 0 }
    }

    fn next(&mut self) -> &mut T {
        if self.used == self.list.len() {
            self.list.push(T::default());
        }
        self.used += 1;
        &mut self.list[self.used - 1]
    }

    fn finish(self) {
        self.list.truncate(self.used);
    }
}

/// The reasons of the verdict being made.
type Reasons<'o> = Reused<'o, Reason>;

impl Reasons<'_> {
    fn push(&mut self, text: &str, kind: &'static str, cue: &'static str, start: u32, end: u32) {
        let (s, e) = (start as usize, end as usize);
        // One phrase can count twice ("not recommend": a negated word and a negated praise
        // cue), one effect after the other; a person reads the reason once.
        let same = |r: &Reason| r.start == s && r.end == e && r.kind == kind && r.cue == cue;
        if self.used > 0 && same(&self.list[self.used - 1]) {
            return;
        }
        if self.used == self.list.len() {
            self.list.push(super::spare_reason());
        }
        let r = self.next();
        r.kind = Cow::Borrowed(kind);
        // A model reason's formatted cue is kept for the next model reason, not freed.
        if let Cow::Owned(s) = std::mem::replace(&mut r.cue, Cow::Borrowed(cue)) {
            super::keep_spare_cue(s);
        }
        r.text.clear();
        r.text.push_str(&text[s..e]);
        r.start = s;
        r.end = e;
    }
}

/// A cleared string from the list.
fn next_string<'a>(list: &'a mut Reused<'_, String>) -> &'a mut String {
    let s = list.next();
    s.clear();
    s
}

/// Scores the resolved tokens `toks` of `input` with language table `table` into `out`:
/// label, sentiment, polarity, urgency, spam and reasons.
pub(crate) fn score(
    c: &Classifier,
    toks: &[Tok],
    input: &Input,
    table: usize,
    shouting: bool,
    out: &mut Classification,
) {
    let lex = c.lex();
    let text = input.text;
    let mut ev = Evidence::default();
    let mut list = std::mem::take(&mut out.reasons);
    let mut reasons = Reasons::new(&mut list);
    let mut walk = Walk::new();
    ev.stars = emoji_stars(text);
    let mut i = 0;
    while i < toks.len() {
        let tk = toks[i].t;
        let w = toks[i].word;
        // The commonest token by far: a word that starts no phrase. One compare and one bit
        // test, ahead of the dispatch on the kind.
        if tk.kind() == Kind::Word
            && lex
                .starts
                .get(w as usize)
                .is_none_or(|&b| b & (1 << table | 1 << COMMON) == 0)
        {
            ev.words += 1;
            walk.sentence.words += 1;
            walk.sentence_start = false;
            walk.passed(lex, toks[i], table, text, &mut ev, &mut reasons);
            walk.step();
            i += 1;
            continue;
        }
        if walk.skip_token(tk, text, &mut ev, &mut reasons) {
            i += 1;
            continue;
        }
        let found = walk.find_phrase(lex, toks, i, table);
        walk.sentence_start = false;
        let opening = found.is_some_and(|(pid, end)| {
            end == i + 1
                && lex.patterns[pid as usize]
                    .effects
                    .contains(&Effect::Salutation)
                && opens_letter(toks, i, text)
        });
        let (Some((pid, end_idx)), false) = (found, opening) else {
            walk.passed(lex, toks[i], table, text, &mut ev, &mut reasons);
            walk.step();
            i += 1;
            continue;
        };
        let phrase = Phrase {
            text,
            kind: tk.kind(),
            start: tk.start,
            end: toks[end_idx - 1].t.end,
            emph: emphasis(&toks[i..end_idx], shouting),
            negated: walk.neg_left > 0 && !lex.patterns[pid as usize].own_negation,
            boost: if walk.contrast { 1.5 } else { 1.0 },
            granted: walk.conceding,
            ends_clause: toks
                .get(end_idx)
                .is_none_or(|t| matches!(t.t.kind(), Kind::Stop | Kind::Question | Kind::Exclaim)),
        };
        walk.apply_effects(
            lex,
            &lex.patterns[pid as usize],
            &phrase,
            &mut ev,
            &mut reasons,
        );
        // The phrase's first word was counted above; its others are words of the post too.
        let more = toks[i + 1..end_idx]
            .iter()
            .filter(|t| t.t.kind() == Kind::Word)
            .count() as u32;
        ev.words += more;
        walk.sentence.words += more;
        i = end_idx;
    }

    let expected = walk.expecting.take();
    walk.not_as_expected(expected, text, &mut ev, &mut reasons);
    walk.settle(text, 0, 0, &mut ev, &mut reasons);
    walk.end_sentence(&mut ev);
    decide(c, input, &mut ev, shouting, &mut reasons, out);
    // The reasons of the previous verdict beyond this one's go back to the spare pool with
    // their strings, instead of being freed.
    let used = reasons.used;
    super::keep_spare_reasons(&mut list, used);
    out.reasons = list;
}

/// Where the walk over a post's tokens is: the open scopes of a negation and an intensifier,
/// and whether a "but" came.
struct Walk {
    sentence_start: bool,
    sentence: Sentence,
    prev: PrevSentence,
    neg_left: u8,
    neg_start: u32,
    /// The last `function` verb said without a negation before it, for one that follows it
    /// ("print niet"), while `function_left` words are left: (start, cue name, weight).
    function: (u32, &'static str, f32),
    function_left: u8,
    int_factor: f32,
    int_left: u8,
    contrast: bool,
    /// The evidence as it stood when the current clause began.
    clause: Mark,
    /// Inside a clause that "although" opens. What the writer grants there counts half ("Hoewel
    /// de monteur aardig was, …"); a grievance there counts in full ("… selvom jeg var hjemme
    /// hele dagen").
    conceding: bool,
    /// A cue whose meaning waits on the next word that says something (see [`Pending`]).
    pending: Pending,
    /// The phrase being applied settled a "still" as a wait: a status after it ("still in
    /// transit", "nog steeds onderweg") is the wait going on, quoted or not.
    after_still: bool,
    /// The sentence supposes ("if", "als", "hvis"): the grievance as it stood before the word,
    /// restored if the sentence ends in a question mark.
    supposing: Option<Supposed>,
    /// The clause tells what the writer expected ("expecting a fight"): the evidence as it
    /// stood before the word, restored when the clause ends.
    expecting: Option<Supposed>,
    /// Words left in which what is told is what the writer expected: in "expected the parcel
    /// yesterday and it still hasn't come" the wait is told, not expected.
    expect_left: u8,
    /// Between '(' and ')': a question mark there is an aside ("(Mohammed, I think?)"), not
    /// something asked of the brand.
    aside: bool,
    /// A fix told in the current clause ("sorted", "opgelost"), taken back if the clause ends
    /// in a question mark: "when is it fixed?" asks for one.
    fix: Option<Fix>,
}

/// A fix counted as praise in the open clause: its weight and span.
#[derive(Clone, Copy)]
struct Fix {
    weight: f32,
    span: (u32, u32),
}

/// Where a supposition began: the grievance summed before it, and the word's span.
#[derive(Clone, Copy)]
struct Supposed {
    mark: Mark,
    span: (u32, u32),
}

/// A cue that the next word saying something (stopwords skipped) decides.
#[derive(Clone, Copy)]
enum Pending {
    None,
    /// Thanks or a compliment that the next word may mock: "thanks for losing my bag",
    /// "great job losing it". A fault there makes the thanks sarcasm; anything good or
    /// neutral ("thanks for fixing it", "thanks for the update") leaves it sincere. Holds the
    /// start of the thanks, and whether the fault must come right after it: a compliment
    /// mocks only what it runs into ("great job losing it"), since "goed geholpen met mijn
    /// kapotte router" is sincere.
    Mock(u32, bool),
    /// "Still", "nog steeds", "stadig": a complaint unless what follows is good ("still the
    /// best"). Holds the cue's (start, end, name, weight), counted once the next word is known.
    Still(u32, u32, &'static str, f32),
}

/// Quote marks, straight and curly: what is held in them is quoted back, not meant.
const QUOTES: [char; 8] = ['"', '\'', '“', '”', '‘', '’', '«', '»'];

/// The bytes a mark of [`QUOTES`] can start with: '"', '\'', and the lead bytes of the curly
/// marks (0xE2) and the guillemets (0xC2). Only there can a quote open, so a search for these
/// bytes spares most posts the walk by characters.
const QUOTE_BYTES: [u8; 4] = [b'"', b'\'', 0xE2, 0xC2];

/// A phrase the walk matched: its span, the kind of its first token, and how it is said.
struct Phrase<'t> {
    text: &'t str,
    kind: Kind,
    start: u32,
    end: u32,
    /// Capitals, stretched words and hashtags (see [`emphasis`]).
    emph: f32,
    /// Inside the scope of a negation.
    negated: bool,
    /// After a "but": counts more.
    boost: f32,
    /// In a clause that "although" opens: praise there counts half.
    granted: bool,
    /// Last word of its clause: a "though" here looks back ("…, the app is rubbish though").
    ends_clause: bool,
}

impl Phrase<'_> {
    /// The words matched.
    fn words(&self) -> &str {
        &self.text[self.start as usize..self.end as usize]
    }

    /// Held in quotes on both sides (`"quick"`, `'gratis'`): a word quoted back at the brand
    /// and not meant.
    /// The quote may also open inside a phrase: "thanks for the 'quick' fix".
    fn scare_quoted(&self) -> bool {
        let quote = |c: Option<char>| c.is_some_and(|c| QUOTES.contains(&c));
        let span = &self.text[self.start as usize..self.end as usize];
        let opens_inside = span
            .char_indices()
            .any(|(i, c)| QUOTES.contains(&c) && span[..i].ends_with(char::is_whitespace));
        let before = self.text[..self.start as usize].chars().next_back();
        let after = self.text[self.end as usize..].chars().next();
        (quote(before) || opens_inside) && quote(after)
            || in_short_quote(self.text, self.start as usize, self.end as usize)
    }
}

/// Inside a short quote with other words: `"fremragende 5G"`, 'super fast broadband'. The
/// mark opens at most [`QUOTE_WORDS`] words before `start` (after a blank, or at the start) and
/// closes as many after `end` (before anything but a letter), within the sentence. An
/// apostrophe inside a word ("don't") opens and closes nothing.
fn in_short_quote(text: &str, start: usize, end: usize) -> bool {
    // Ok(blanks passed) goes on; Err(found) stops at a quote mark or the quote's limit.
    let step = |blanks: u32, c: char| match c {
        '.' | '!' | '?' | '\n' => Err(false),
        c if c.is_whitespace() && blanks >= QUOTE_WORDS => Err(false),
        c if c.is_whitespace() => Ok(blanks + 1),
        _ => Ok(blanks),
    };
    let opens = text[..start]
        .char_indices()
        .rev()
        .try_fold(0, |blanks, (i, c)| {
            if QUOTES.contains(&c) {
                return Err(text[..i]
                    .chars()
                    .next_back()
                    .is_none_or(char::is_whitespace));
            }
            step(blanks, c)
        });
    let closes = || {
        text[end..].char_indices().try_fold(0, |blanks, (i, c)| {
            if QUOTES.contains(&c) {
                let after = &text[end + i + c.len_utf8()..];
                return Err(!after.chars().next().is_some_and(char::is_alphanumeric));
            }
            step(blanks, c)
        })
    };
    opens == Err(true) && closes() == Err(true)
}

/// How many words a short quote may hold beside the one it quotes back.
const QUOTE_WORDS: u32 = 3;

/// What the sentence being walked has said so far, to find praise said on its own next to a
/// negative sentence.
#[derive(Default)]
struct Sentence {
    words: u32,
    pos: f32,
    span: Option<(u32, u32)>,
    /// Anything but positive words and modifiers: a cue, a negative or negated word, "I".
    other: bool,
    /// Negative valence and urgent cues.
    bad: f32,
    /// Negative valence and complaint cues: an outage reported calmly is not grim ("Outage
    /// here, engineers already on it. 👍").
    grim: f32,
    /// A repeat cue ("again", "igen", "alweer"): said as a sentence of a word or two ("Again.")
    /// it is exasperation, as negative as a negative word.
    repeat: bool,
}

/// What the walk keeps of the sentence before: whether it was negative, and its praise if it
/// was said on its own and not yet counted.
#[derive(Default)]
struct PrevSentence {
    bad: bool,
    grim: bool,
    lone: Option<Lone>,
}

/// Praise said on its own in a sentence: its valence, span, and whether it was only emoji.
#[derive(Clone, Copy)]
struct Lone {
    pos: f32,
    span: Option<(u32, u32)>,
    emoji: bool,
}

impl Lone {
    /// Whether a neighbour sentence makes this praise sarcastic: a praise word next to any
    /// negative sentence, an emoji only next to a complaint (a thumbs-up after an outage report
    /// may well be sincere).
    fn mocks(&self, bad: bool, grim: bool) -> bool {
        if self.emoji { grim } else { bad }
    }
}

/// The evidence summed up to a point of the walk: a clause start or a "but", for a contrast
/// to weigh what came before it against what came after ([`Mark::reweigh`]); an "if", for a
/// supposition to take back what it supposed ([`Mark::restore`]).
#[derive(Clone, Copy, Default)]
struct Mark {
    pos: f32,
    neg: f32,
    complaint: f32,
    praise: f32,
    factual: f32,
    fault: f32,
    symptom: f32,
    duration: f32,
    timely: f32,
    leave: f32,
}

impl Mark {
    fn of(ev: &Evidence) -> Mark {
        Mark {
            pos: ev.pos,
            neg: ev.neg,
            complaint: ev.complaint,
            praise: ev.praise,
            factual: ev.factual,
            fault: ev.fault,
            symptom: ev.symptom,
            duration: ev.duration,
            timely: ev.timely,
            leave: ev.leave,
        }
    }

    /// Halves what came before this mark and counts what came after it 1.5x.
    fn reweigh(self, ev: &mut Evidence) {
        let weigh = |before: f32, now: &mut f32| *now = 0.5 * before + 1.5 * (*now - before);
        weigh(self.pos, &mut ev.pos);
        weigh(self.neg, &mut ev.neg);
        weigh(self.complaint, &mut ev.complaint);
        weigh(self.praise, &mut ev.praise);
        weigh(self.factual, &mut ev.factual);
    }

    /// Takes back the grievance added since the mark; true if there was any.
    fn restore(self, ev: &mut Evidence) -> bool {
        let added = ev.complaint > self.complaint || ev.neg > self.neg;
        ev.complaint = ev.complaint.min(self.complaint);
        ev.neg = ev.neg.min(self.neg);
        ev.factual = ev.factual.min(self.factual);
        ev.fault = ev.fault.min(self.fault);
        ev.symptom = ev.symptom.min(self.symptom);
        ev.duration = ev.duration.min(self.duration);
        ev.timely = ev.timely.min(self.timely);
        ev.leave = ev.leave.min(self.leave);
        ev.leave_after_asking = ev.leave_after_asking.min(ev.leave);
        added
    }
}

/// How many words after "expecting" a cue may start and still be what was expected.
const EXPECT_SCOPE: u8 = 8;

/// The longest sentence that counts as praise said on its own ("Well done Fjordlink.").
const LONE_WORDS: u32 = 3;

impl Walk {
    fn new() -> Walk {
        Walk {
            sentence_start: true,
            sentence: Sentence::default(),
            prev: PrevSentence::default(),
            neg_left: 0,
            neg_start: 0,
            function: (0, "", 0.0),
            function_left: 0,
            int_factor: 1.0,
            int_left: 0,
            contrast: false,
            clause: Mark::default(),
            conceding: false,
            pending: Pending::None,
            after_still: false,
            supposing: None,
            expecting: None,
            expect_left: 0,
            aside: false,
            fix: None,
        }
    }

    /// Settles the pending cue with the next word that says something: `tone` is how that word
    /// reads (+1 good, -1 a fault, 0 neither). A fault after thanks is sarcasm; "still" counts
    /// unless something good follows it.
    fn settle(&mut self, text: &str, tone: i8, end: u32, ev: &mut Evidence, reasons: &mut Reasons) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Mock(start, _) => {
                if tone < 0 {
                    ev.sarcasm += 1.0;
                    reasons.push(text, "sarcasm", "thanks for a fault", start, end);
                }
            }
            Pending::Still(start, s_end, name, w) => {
                self.after_still = tone <= 0;
                if tone <= 0 {
                    // A status quoted after it, or after the one word that says where
                    // (stadig "pakken er undervejs", still says 'preparing your order'), is
                    // read back from the tracking page: the wait is plain.
                    let rest = text[s_end as usize..].trim_start();
                    let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    let quoted =
                        rest.starts_with(QUOTES) || rest[word..].trim_start().starts_with(QUOTES);
                    let w = if quoted { w + 1.0 } else { w };
                    let ph = (text, start, s_end);
                    self.count_complaint(CueRole::Still, ph, name, w, ev, reasons);
                }
            }
        }
    }

    /// One word further: the negation and intensifier scopes shrink.
    #[inline]
    fn step(&mut self) {
        self.neg_left = self.neg_left.saturating_sub(1);
        self.int_left = self.int_left.saturating_sub(1);
        self.function_left = self.function_left.saturating_sub(1);
        self.expect_left = self.expect_left.saturating_sub(1);
    }

    /// A token that matched no phrase: the first one that is not a stopword settles a pending
    /// cue as neither good nor a fault ("thanks for the update").
    #[inline]
    fn passed(
        &mut self,
        lex: &Lexicon,
        tok: Tok,
        table: usize,
        text: &str,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        if matches!(self.pending, Pending::None) {
            return;
        }
        let stop = !matches!(self.pending, Pending::Mock(_, true))
            && tok.word != NONE
            && lex
                .word_bits
                .get(tok.word as usize)
                .is_some_and(|b| b >> (4 + table) & 1 != 0);
        if !stop {
            self.settle(text, 0, tok.t.end, ev, reasons);
        }
    }

    /// Counts a token that cannot start a phrase (punctuation, a link, a handle) and says
    /// true; false for one that may.
    #[inline]
    fn skip_token(
        &mut self,
        tk: Token,
        text: &str,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) -> bool {
        match tk.kind() {
            Kind::Stop | Kind::Question | Kind::Exclaim => {
                let byte = text.as_bytes().get(tk.start as usize);
                match byte {
                    Some(b'(') => self.aside = true,
                    Some(b')' | b'\n') => self.aside = false,
                    _ => {}
                }
                let expected = self.expecting.take();
                self.not_as_expected(expected, text, ev, reasons);
                // A question mark in brackets closes a clause, like a comma, and asks nothing.
                let asks = tk.kind() == Kind::Question && !self.aside;
                if asks
                    && let Some(s) = self.supposing.take()
                    && s.mark.restore(ev)
                {
                    // "What happens if I lose my card?": the fault is supposed, not suffered.
                    reasons.push(text, "question", "supposing", s.span.0, s.span.1);
                }
                // The fix still tells what the post is about: thanks beside it ("Dank je. Laat je
                // het weten als het opgelost is?") are sincere, so `ev.resolved` stays.
                if asks && let Some(fix) = self.fix {
                    ev.praise -= fix.weight;
                    reasons.push(text, "question", "asked for", fix.span.0, fix.span.1);
                }
                if asks {
                    ev.question_marks += 1;
                    ev.leave_after_asking = 0.0;
                    // "Down again??": a doubled mark is exasperation, however long the
                    // sentence before it.
                    ev.asked += u32::from(self.sentence.words >= 3 && tk.end - tk.start == 1);
                    if ev.question_marks == 1 {
                        reasons.push(text, "question", "question mark", tk.start, tk.end);
                    }
                }
                if tk.kind() == Kind::Exclaim {
                    ev.exclaims += u32::from(tk.count());
                }
                // A comma or colon ends a clause; praise "on its own" must be a sentence.
                let clause = tk.kind() == Kind::Stop && matches!(byte, Some(b',' | b':'))
                    || tk.kind() == Kind::Question && self.aside;
                self.settle(text, 0, tk.start, ev, reasons);
                if !clause {
                    // A supposition ends with its sentence: "If it breaks again I'm leaving."
                    self.supposing = None;
                    ev.praise_first |= ev.question_marks == 0
                        && tk.kind() != Kind::Question
                        && self.sentence.pos > 0.0
                        && self.sentence.bad == 0.0;
                    self.end_sentence(ev);
                }
                self.conceding = false;
                self.fix = None;
                self.clause = Mark::of(ev);
                self.sentence_start = true;
                self.neg_left = 0;
                self.int_left = 0;
                self.function_left = 0;
                true
            }
            Kind::Link => {
                ev.links += 1;
                true
            }
            Kind::Handle => true,
            Kind::Word => {
                ev.words += 1;
                self.sentence.words += 1;
                false
            }
            _ => false,
        }
    }

    /// A word that tells what the writer expected, at `ph`: what the next words of its clause
    /// tell (unless it looks only back, `after`), or the clause it ends, is not what happened.
    fn expect(&mut self, ph: &Phrase, after: bool, ev: &mut Evidence, reasons: &mut Reasons) {
        self.sentence.other = true;
        // "Had uren in de wacht verwacht,": what it expected came first.
        if ph.ends_clause {
            let expected = Supposed {
                mark: self.clause,
                span: (ph.start, ph.end),
            };
            self.not_as_expected(Some(expected), ph.text, ev, reasons);
        } else if !after {
            self.expecting.get_or_insert(Supposed {
                mark: Mark::of(ev),
                span: (ph.start, ph.end),
            });
            // +1 because the counter steps down once for this word too.
            self.expect_left = EXPECT_SCOPE + 1;
        }
    }

    /// Takes back what was told since `expected`'s mark: the writer expected it, which says it
    /// is not what happened. A fault feared ("expecting a fight", "havde forventet bøvl") did
    /// not come; a refund counted on ("rekende op mijn borg binnen 14 dagen") did not either.
    fn not_as_expected(
        &mut self,
        expected: Option<Supposed>,
        text: &str,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        let Some(x) = expected else {
            return;
        };
        let hoped = ev.praise > x.mark.praise || ev.pos > x.mark.pos;
        ev.praise = ev.praise.min(x.mark.praise);
        ev.pos = ev.pos.min(x.mark.pos);
        if hoped {
            self.fix = None;
            self.sentence.pos = 0.0;
        }
        if x.mark.restore(ev) {
            self.sentence.bad = 0.0;
            self.sentence.grim = 0.0;
        } else if !hoped {
            return;
        }
        reasons.push(text, "negation", "expected", x.span.0, x.span.1);
    }

    /// Keeps a fix told in the open clause, so that a question mark closing it can take the
    /// fix back as asked for.
    fn count_fix(&mut self, weight: f32, span: (u32, u32), ev: &mut Evidence) {
        let fix = self.fix.get_or_insert(Fix { weight: 0.0, span });
        fix.weight += weight;
        ev.resolved = true;
    }

    /// Closes the sentence. Praise said on its own, in a few words, right before or after a
    /// negative sentence ("Wow. Cancelled my train. Amazing.") is kept apart for
    /// [`weigh_sarcasm`]; next to a neutral one ("Sick at home. Films on the new fibre.
    /// Perfect.") it is sincere.
    fn end_sentence(&mut self, ev: &mut Evidence) {
        let s = std::mem::take(&mut self.sentence);
        if s.words == 0 && !s.other && s.pos <= 0.0 {
            // "?!" after "?": no sentence. One made of an emoji ("Cancelled again. 👍") is.
            return;
        }
        let mut keep = |pos: f32, span: Option<(u32, u32)>| {
            ev.lone_pos += pos;
            if ev.lone_span.is_none() {
                ev.lone_span = span;
            }
        };
        let exasperated = s.repeat && s.words <= 2;
        let (bad, grim) = (s.bad >= 1.0 || exasperated, s.grim >= 1.0 || exasperated);
        if let Some(prev) = self.prev.lone
            && prev.mocks(bad, grim)
        {
            keep(prev.pos, prev.span);
        }
        let lone = (s.pos > 0.0 && !s.other && s.words <= LONE_WORDS).then_some(Lone {
            pos: s.pos,
            span: s.span,
            emoji: s.words == 0,
        });
        let counted = lone.is_some_and(|l| l.mocks(self.prev.bad, self.prev.grim));
        if let Some(l) = lone
            && counted
        {
            keep(l.pos, l.span);
        }
        self.prev = PrevSentence {
            bad,
            grim,
            lone: lone.filter(|_| !counted),
        };
    }

    /// The phrase that starts at token `i`, in the language's table or else the common one,
    /// as (pattern id, end token index). Most tokens start no phrase: one bit test skips both
    /// table lookups.
    #[inline]
    fn find_phrase(
        &self,
        lex: &Lexicon,
        toks: &[Tok],
        i: usize,
        table: usize,
    ) -> Option<(u32, usize)> {
        let number = toks[i].t.kind() == Kind::Number;
        let word = toks[i].word as usize;
        let bits = lex.starts.get(word).copied().unwrap_or(0);
        let at_start = self.sentence_start;
        let found = if number || bits >> table & 1 != 0 {
            find_match(lex, toks, i, table, at_start)
        } else {
            None
        };
        // The longer phrase wins across tables too: "free shipping" (common) over "free".
        let common = if number || bits >> COMMON & 1 != 0 {
            find_match(lex, toks, i, COMMON, at_start)
        } else {
            None
        };
        match (found, common) {
            (Some(own), Some(shared)) if shared.1 > own.1 => Some(shared),
            (own, shared) => own.or(shared),
        }
    }

    /// Applies the effects of the phrase `pat`, matched as `ph`, and moves the scopes on.
    fn apply_effects(
        &mut self,
        lex: &Lexicon,
        pat: &Pattern,
        ph: &Phrase,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        self.after_still = false;
        if self.expect_left == 0 {
            let expected = self.expecting.take();
            self.not_as_expected(expected, ph.text, ev, reasons);
        }
        if !matches!(self.pending, Pending::None) {
            let tone = tone_of(lex, pat, ph.negated);
            if tone.is_some() || matches!(self.pending, Pending::Mock(_, true)) {
                self.settle(ph.text, tone.unwrap_or(0), ph.end, ev, reasons);
            }
        }
        let mut modifier_only = true;
        for eff in pat.effects.iter() {
            match *eff {
                Effect::Sentiment(v) => {
                    modifier_only = false;
                    self.apply_sentiment(v, ph, ev, reasons);
                }
                Effect::Cue { kind, cue, weight } => {
                    modifier_only = false;
                    let cue = (
                        cue,
                        lex.cue_names[cue as usize],
                        lex.cue_roles[cue as usize],
                    );
                    self.apply_cue(kind, cue, weight, ph, ev, reasons);
                }
                Effect::Negation { after } => {
                    ev.negations += 1;
                    self.sentence.other = true;
                    if after && self.function_left > 0 {
                        // "Print niet", "virker appen ikke": the verb came first.
                        self.function_left = 0;
                        let (start, name, w) = self.function;
                        self.failed_function(ph.text, (start, ph.end), name, w, ev, reasons);
                    } else {
                        // +1 because the scope counter steps down once for this word too.
                        self.neg_left = NEGATION_SCOPE + 1;
                        self.neg_start = ph.start;
                    }
                }
                Effect::Intensifier(f) => {
                    // "sooo bad" and "SO bad" are worse than "so bad".
                    self.int_factor = if f > 1.0 { f * ph.emph } else { f };
                    self.int_left = INTENSIFIER_SCOPE + 1;
                }
                Effect::Ignore => {
                    modifier_only = false;
                    self.sentence.other = true;
                }
                Effect::Laughter => {
                    modifier_only = false;
                    self.sentence.other = true;
                    ev.laugh.get_or_insert((ph.start, ph.end));
                }
                Effect::Wish => {
                    modifier_only = false;
                    self.sentence.other = true;
                    ev.wish = true;
                }
                // Said anywhere but at the opening of a letter, the word is just a word.
                Effect::Salutation => modifier_only = false,
                Effect::FirstPerson => {
                    modifier_only = false;
                    self.sentence.other = true;
                    ev.first_person += 1;
                }
                Effect::Report => {
                    modifier_only = false;
                    ev.reports += 1;
                }
                Effect::Elsewhere => {
                    modifier_only = false;
                    ev.elsewhere.get_or_insert((ph.start, ph.end));
                }
                Effect::Condition => {
                    modifier_only = false;
                    self.supposing.get_or_insert(Supposed {
                        mark: Mark::of(ev),
                        span: (ph.start, ph.end),
                    });
                }
                Effect::Expectation { after } => {
                    modifier_only = false;
                    self.expect(ph, after, ev, reasons);
                }
                Effect::Contrast => self.contrast(ph, ev, reasons),
                Effect::Concession => {
                    // "The install failed, although the staff were lovely": an honest mixed
                    // post, whichever side is granted.
                    ev.mixed = true;
                    self.conceding = true;
                    self.neg_left = 0;
                    reasons.push(ph.text, "contrast", "concession", ph.start, ph.end);
                }
            }
        }
        if !modifier_only {
            self.step();
        } else if !pat
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Negation { .. }))
        {
            self.neg_left = self.neg_left.saturating_sub(1);
        }
    }

    /// A "but" (or a "though" that ends its clause) said at `ph`.
    fn contrast(&mut self, ph: &Phrase, ev: &mut Evidence, reasons: &mut Reasons) {
        // "Expected a quick fix but it's been 3 weeks": what was expected ends at the turn.
        let expected = self.expecting.take();
        self.not_as_expected(expected, ph.text, ev, reasons);
        // What follows "but" counts more than what came before it: all so far counts half, and
        // the rest of the post 1.5x. A "though" that ends its clause looks back instead ("Great
        // speeds, the app is rubbish though"): that clause counts 1.5x against what came before.
        let before = if ph.ends_clause {
            self.clause
        } else {
            self.contrast = true;
            self.neg_left = 0;
            Mark::of(ev)
        };
        ev.mixed |= before.pos + before.praise > 0.0;
        ev.pos_after_contrast |= ev.pos + ev.praise > before.pos + before.praise;
        before.reweigh(ev);
        reasons.push(ph.text, "contrast", "contrast", ph.start, ph.end);
    }

    /// A sentiment word or emoji of valence `v`, intensified or negated by the open scopes.
    fn apply_sentiment(&mut self, v: f32, ph: &Phrase, ev: &mut Evidence, reasons: &mut Reasons) {
        // A word the lexicons set to 0 ("præcis", "precies") takes a published valence away:
        // it is a plain word, with no reason and no say in the sentence. A star that rates
        // ("⭐ Waited 2 hours") says what the rating says, not what the emoji does.
        if v == 0.0
            || ev
                .stars
                .is_some_and(|(_, s, e)| ph.start >= s && ph.end <= e)
        {
            return;
        }
        let mut v = v * ph.emph * ph.boost;
        if self.int_left > 0 {
            v *= self.int_factor;
        }
        // An emoji says how the writer feels, which no "not" before it turns round ("no
        // rental reimbursement 😡").
        let negated = ph.negated && !matches!(ph.kind, Kind::Emoji | Kind::Emoticon);
        if negated {
            // "niet blij" is not as bad as "boos", "not bad" not as good as "good".
            v = -v * if v < 0.0 { NEGATED_FAULT } else { 0.75 };
            if v < 0.0 {
                // "Not happy with", "niet echt tevreden": said plainly, dissatisfaction.
                ev.complaint += 0.25 * -v;
            }
            let cue = if v < 0.0 {
                "negated praise"
            } else {
                "negated complaint"
            };
            reasons.push(ph.text, "negation", cue, self.neg_start, ph.end);
        } else {
            let cue = match ph.kind {
                Kind::Emoji => "emoji",
                Kind::Emoticon => "emoticon",
                Kind::Hashtag => "hashtag",
                _ => "word",
            };
            let kind = if v > 0.0 { "positive" } else { "negative" };
            reasons.push(ph.text, kind, cue, ph.start, ph.end);
        }
        if ph.granted && v > 0.0 {
            v *= 0.5;
        }
        if v > 0.0 && !negated && ph.scare_quoted() {
            // "Your 'free' delivery costs 4.95", "the "quick" repair": sarcasm.
            ev.sarcasm += 1.0;
            reasons.push(ph.text, "sarcasm", "scare quotes", ph.start, ph.end);
        }
        if v > 0.0 {
            ev.pos += v;
            if matches!(ph.kind, Kind::Emoji | Kind::Emoticon) {
                ev.pos_emoji += v;
            }
            ev.first_pos.get_or_insert((ph.start, ph.end));
            ev.pos_after_contrast |= self.contrast;
        } else {
            ev.neg -= v;
        }
        if v > 0.0 && !negated {
            self.sentence.pos += v;
            self.sentence.span.get_or_insert((ph.start, ph.end));
        } else {
            self.sentence.other = true;
            self.sentence.bad += (-v).max(0.0);
            self.sentence.grim += (-v).max(0.0);
        }
    }

    /// A lexicon cue of `kind`, (id, name, role) `cue` and `weight`.
    fn apply_cue(
        &mut self,
        kind: CueKind,
        (cue, name, role): (u16, &'static str, CueRole),
        weight: f32,
        ph: &Phrase,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        let mut w = weight * ph.boost * ph.emph.min(1.5);
        if ph.granted && kind == CueKind::Praise && !ph.negated {
            w *= 0.5;
        }
        // "Soms blijft de chat hangen", "a bit slow": a complaint said as minor is weaker.
        if kind == CueKind::Complaint && self.int_left > 0 && self.int_factor < 1.0 {
            w *= self.int_factor;
        }
        let (text, start, end) = (ph.text, ph.start, ph.end);
        // A compliment can be the whole of a sarcastic sentence ("Well done."); thanks and
        // every other cue say more than that.
        if kind == CueKind::Praise && role == CueRole::Compliment && !ph.negated {
            self.sentence.pos += w;
            self.sentence.span.get_or_insert((start, end));
        } else {
            self.sentence.other = true;
        }
        match kind {
            // The scope counter is NEGATION_SCOPE + 1 on the word right after the negation.
            CueKind::Complaint if role == CueRole::Function => {
                if ph.negated && self.neg_left > NEGATION_SCOPE - FUNCTION_REACH {
                    self.failed_function(text, (self.neg_start, end), name, w, ev, reasons);
                } else if !ph.negated {
                    // +1 because the counter steps down once for this word too.
                    self.function = (start, name, w);
                    self.function_left = FUNCTION_REACH + 2;
                }
            }
            // "geen vertraging" and "ingen ventetid" cancel the delay and the wait, but "not had
            // hot water for two weeks" makes the duration worse, not better. A wait said with a
            // negation of its own ("still don't") is not turned again by one before it.
            CueKind::Complaint
                if ph.negated
                    && (matches!(role, CueRole::Failure | CueRole::Delay)
                        || role == CueRole::Waiting && !ph.words().contains(' ')) =>
            {
                reasons.push(text, "negation", "negated complaint", self.neg_start, end);
            }
            CueKind::Complaint if role == CueRole::Quoted => {
                if ph.scare_quoted() || self.after_still {
                    let quoted = (text, start, end);
                    self.count_complaint(CueRole::Failure, quoted, name, w, ev, reasons);
                }
            }
            CueKind::Complaint if role == CueRole::Still && !ph.negated => {
                self.pending = Pending::Still(start, end, name, w);
            }
            CueKind::Complaint => {
                self.count_complaint(role, (text, start, end), name, w, ev, reasons)
            }
            CueKind::Praise if ph.negated => {
                ev.complaint += w;
                reasons.push(text, "negation", "negated praise", self.neg_start, end);
            }
            CueKind::Praise => {
                if ph.scare_quoted() {
                    ev.sarcasm += 1.0;
                    reasons.push(text, "sarcasm", "scare quotes", start, end);
                } else if matches!(role, CueRole::Thanks | CueRole::Compliment) {
                    self.pending = Pending::Mock(start, role == CueRole::Compliment);
                }
                ev.praise += w;
                ev.first_pos.get_or_insert((start, end));
                ev.pos_after_contrast |= self.contrast;
                if role == CueRole::Resolved {
                    self.count_fix(w, (start, end), ev);
                }
                ev.heartfelt |= role == CueRole::Heartfelt;
                reasons.push(text, "praise", name, start, end);
            }
            CueKind::Question => {
                // "Anyone else watching the match?" asks the crowd, not the brand.
                ev.crowd |= role == CueRole::Crowd;
                ev.question += if role == CueRole::Crowd { 0.0 } else { w };
                ev.advice |= role == CueRole::Advice;
                reasons.push(text, "question", name, start, end);
            }
            CueKind::Urgent if ph.negated => {}
            CueKind::Urgent => {
                // Threats, hazards and outages are half a complaint, a customer leaving
                // ("cancelling my contract") a whole one; a writer in a hurry ("pressing")
                // may only be asking.
                let share = if role == CueRole::Leave { 1.0 } else { 0.5 };
                if role != CueRole::Pressing {
                    self.sentence.bad += 1.0;
                    ev.complaint += share * w;
                }
                ev.anger |= role == CueRole::Anger;
                if role == CueRole::Threat {
                    ev.threat = ev.threat.max(weight);
                }
                if role == CueRole::Leave {
                    ev.leave += w;
                    ev.leave_after_asking += w;
                }
                if ev.n_urgent < ev.urgent.len() {
                    ev.urgent[ev.n_urgent] = (cue, start, end);
                    ev.n_urgent += 1;
                }
                reasons.push(text, "urgent", name, start, end);
            }
            CueKind::Spam => {
                ev.spam += w;
                reasons.push(text, "spam", name, start, end);
            }
            CueKind::Sarcasm => {
                ev.sarcasm += w;
                reasons.push(text, "sarcasm", name, start, end);
            }
        }
    }

    /// A complaint cue of `role` said at `(text, start, end)`, counted in full.
    fn count_complaint(
        &mut self,
        role: CueRole,
        (text, start, end): (&str, u32, u32),
        name: &'static str,
        w: f32,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        // Waiting for the brand ("on hold", "in de wachtrij") is a fault, however it is told.
        if matches!(role, CueRole::Duration | CueRole::Repeat | CueRole::Still) {
            ev.timely += w;
        }
        match role {
            CueRole::Duration => ev.duration += w,
            // A strong repeat says a fault came back ("another outage", "yet
            // again"); "as usual" or "every week" may be said of good things too.
            CueRole::Repeat if w >= 1.2 => ev.fault += w,
            CueRole::Repeat => {}
            CueRole::Rhetorical => ev.rhetorical += w,
            _ => ev.fault += w,
        }
        self.sentence.repeat |= role == CueRole::Repeat;
        self.sentence.grim += w;
        ev.complaint += w;
        ev.factual += w;
        reasons.push(text, "complaint", name, start, end);
    }

    /// Something that should work and did not ("won't print", "laadt niet"): a fault, spanning
    /// the verb and its negation.
    fn failed_function(
        &mut self,
        text: &str,
        (start, end): (u32, u32),
        name: &'static str,
        w: f32,
        ev: &mut Evidence,
        reasons: &mut Reasons,
    ) {
        // "won't load since the update", "laadt niet sinds de update": the negation is spent
        // on the verb.
        self.neg_left = 0;
        self.sentence.grim += w;
        ev.fault += w;
        ev.complaint += w;
        ev.factual += w;
        ev.symptom += w;
        reasons.push(text, "complaint", name, start, end);
    }
}

/// How loud the tokens of a phrase are said: a word in capitals (when the whole post is not
/// shouting), a stretched word or a hashtag says it louder.
#[inline]
fn emphasis(toks: &[Tok], shouting: bool) -> f32 {
    let mut emph = 1.0f32;
    for t in toks {
        if t.t.flags() & CAPS != 0 && !shouting {
            emph *= 1.5;
        }
        if t.t.flags() & ELONGATED != 0 {
            emph *= 1.3;
        }
        if t.t.kind() == Kind::Hashtag {
            emph *= 1.2;
        }
    }
    emph.min(2.0)
}

/// Whether the word at `i` opens a letter: the post's first word (handles may come before it),
/// then at most three words or handles of a name, then a comma, colon, "!" or line break, or a
/// full stop after a name that is capitalised: "Beste Arriva,", "Dear @Tesco:", "Kære
/// kundeservice!", "Kære Tryg.". "Beste service ooit." is praise.
fn opens_letter(toks: &[Tok], i: usize, text: &str) -> bool {
    if !toks[..i].iter().all(|t| t.t.kind() == Kind::Handle) {
        return false;
    }
    let mut named = true;
    for t in toks[i + 1..].iter().take(4) {
        match t.t.kind() {
            Kind::Handle => {}
            Kind::Word => named &= t.t.flags() & HAS_UPPER != 0,
            Kind::Exclaim => return true,
            Kind::Stop => {
                return match text.as_bytes().get(t.t.start as usize) {
                    Some(b',' | b':' | b'\n') => true,
                    Some(b'.') => named && t.t.start > toks[i + 1].t.start,
                    _ => false,
                };
            }
            _ => return false,
        }
    }
    false
}

/// How a phrase reads to a cue waiting on it ([`Pending`]): +1 good, -1 a fault, 0 neither;
/// `None` for one that says nothing by itself (a negation, an intensifier, "I"), which the
/// cue waits past.
fn tone_of(lex: &Lexicon, pat: &Pattern, negated: bool) -> Option<i8> {
    let mut said = false;
    let mut tone = 0i8;
    for eff in pat.effects.iter() {
        let t = match *eff {
            // A word the lexicons set to 0 is a plain word, neither good nor a fault.
            Effect::Sentiment(v) => {
                if v > 0.0 {
                    1
                } else if v < 0.0 {
                    -1
                } else {
                    0
                }
            }
            Effect::Cue { kind, cue, .. } => match (kind, lex.cue_roles[cue as usize]) {
                // "Thanks for the update" is no fault; "for not updating" is (flipped below).
                (CueKind::Complaint, CueRole::Function) => i8::from(negated),
                (CueKind::Praise, _) => 1,
                (
                    CueKind::Complaint,
                    CueRole::Duration
                    | CueRole::Repeat
                    | CueRole::Rhetorical
                    | CueRole::Still
                    | CueRole::Quoted,
                )
                | (CueKind::Urgent, CueRole::Pressing)
                | (CueKind::Question | CueKind::Spam, _) => 0,
                (CueKind::Complaint | CueKind::Urgent | CueKind::Sarcasm, _) => -1,
            },
            Effect::Ignore | Effect::Laughter | Effect::Wish => 0,
            _ => continue,
        };
        said = true;
        if tone == 0 {
            tone = t;
        }
    }
    said.then_some(if negated { -tone } else { tone })
}

/// The longest phrase of `table` that starts at token `i`, as (pattern id, end token index).
#[inline]
fn find_match(
    lex: &Lexicon,
    toks: &[Tok],
    i: usize,
    table: usize,
    sentence_start: bool,
) -> Option<(u32, usize)> {
    let tok = toks[i];
    let tab = &lex.tables[table];
    let mut best: Option<(u32, usize)> = None;
    if tok.word != NONE && lex.word_bits[tok.word as usize] >> table & 1 != 0 {
        let (s, e) = tab.by_first[tok.word as usize];
        let (s, e) = (s as usize, e as usize);
        // The word after this one, as the quick check against each pattern's second token.
        let after = match toks.get(i + 1) {
            Some(t) if is_wordlike(t.t.kind()) => t.word,
            _ => NONE,
        };
        let filter = tab.next_filter[tok.word as usize];
        let skip = after == NONE && filter != u64::MAX || filter >> (after % 64) & 1 == 0;
        let (s, e) = if skip { (s, s) } else { (s, e) };
        for (&pid, &next) in tab.ids[s..e].iter().zip(&tab.next[s..e]) {
            if next != ANY_NEXT && next != after {
                continue;
            }
            let pat = &lex.patterns[pid as usize];
            // Patterns come longest first, but a gap may match no word at all: "kan ... niet"
            // matches two words of "kan niet eens", so a later pattern as long as the gap's
            // may still match more.
            if best.is_some_and(|(_, e)| pat.toks.len() <= e - i) {
                break;
            }
            if (pat.anchored && !sentence_start) || (pat.hashtag && tok.t.kind() != Kind::Hashtag) {
                continue;
            }
            if let Some(end) = match_at(lex, toks, i, &pat.toks, table)
                && best.is_none_or(|(_, e)| end > e)
            {
                best = Some((pid, end));
            }
        }
    }
    let is_num = tok.t.kind() == Kind::Number
        || (tok.word != NONE && lex.number_bits[tok.word as usize] >> table & 1 != 0);
    if is_num && !tab.num_first.is_empty() {
        for &pid in tab.num_first.iter() {
            let pat = &lex.patterns[pid as usize];
            if (pat.anchored && !sentence_start) || (pat.hashtag && tok.t.kind() != Kind::Hashtag) {
                continue;
            }
            if let Some(end) = match_at(lex, toks, i, &pat.toks, table) {
                if best.is_none_or(|(_, e)| end > e) {
                    best = Some((pid, end));
                }
                break;
            }
        }
    }
    best
}

/// Matches pattern tokens from token `i`; returns the index after the match.
fn match_at(lex: &Lexicon, toks: &[Tok], i: usize, pat: &[PatTok], table: usize) -> Option<usize> {
    // Word by word; only a gap needs to try several continuations.
    let mut i = i;
    for (n, p) in pat.iter().enumerate() {
        match *p {
            PatTok::Gap => {
                // Up to three words in between ("werkt de app niet", "never flying with
                // @united again"), never across punctuation.
                let rest = &pat[n + 1..];
                let between = |t: &Tok| is_wordlike(t.t.kind()) || t.t.kind() == Kind::Handle;
                for skip in 0..=3 {
                    let j = i + skip;
                    if skip > 0 && (j > toks.len() || !between(&toks[j - 1])) {
                        break;
                    }
                    if let Some(end) = match_at(lex, toks, j, rest, table) {
                        return Some(end);
                    }
                }
                return None;
            }
            PatTok::Word(w) => {
                let t = toks.get(i)?;
                if t.word != w || !is_wordlike(t.t.kind()) {
                    return None;
                }
            }
            PatTok::Num => {
                let t = toks.get(i)?;
                let ok = t.t.kind() == Kind::Number
                    || (t.word != NONE && lex.number_bits[t.word as usize] >> table & 1 != 0);
                if !ok {
                    return None;
                }
            }
        }
        i += 1;
    }
    Some(i)
}

fn is_wordlike(k: Kind) -> bool {
    matches!(
        k,
        Kind::Word | Kind::Number | Kind::Hashtag | Kind::Emoji | Kind::Emoticon
    )
}

/// The evidence summed into the three labels' scores.
struct Scores {
    complaint: f32,
    praise: f32,
    question: f32,
}

impl Scores {
    /// The scores of `ev`, its sentiment words weighed by `(neg_weight, pos_weight)`;
    /// `rhetoric`: its question marks ask nothing.
    fn of(ev: &Evidence, (neg_weight, pos_weight): (f32, f32), rhetoric: bool) -> Scores {
        // "Anyone else watching the match?": asked of the crowd, and of nobody else.
        let to_crowd = ev.crowd && ev.question < 1.0 && ev.question_marks > 0;
        // Sarcasm may have taken all the positive valence already.
        let pos = if to_crowd {
            // "Iemand tips voor een gezellig restaurant?": the good words of a question to the
            // crowd say what the writer is after.
            0.0
        } else if ev.wish {
            // "God weekend til jer også 😊": the emoji beside a wish decorate it.
            (ev.pos - ev.pos_emoji).max(0.0)
        } else {
            ev.pos
        };
        Scores {
            complaint: ev.complaint + neg_weight * ev.neg,
            // A contest post ("Winactie! Volg ons en like 🎉") is cheerful without praising
            // anyone.
            praise: ev.praise
                + if ev.spam >= 1.0 {
                    0.0
                } else {
                    pos_weight * pos
                },
            // "Interesse? Solliciteer via de website": an ad's question asks nobody anything.
            question: ev.question
                + if ev.question_marks > 0 && ev.spam < 1.0 && !rhetoric && !to_crowd {
                    1.0
                } else {
                    0.0
                },
        }
    }
}

/// Turns the evidence of a walk into the verdict in `out`: sentiment and polarity, spam, the
/// label and the urgency.
fn decide(
    c: &Classifier,
    input: &Input,
    ev: &mut Evidence,
    shouting: bool,
    reasons: &mut Reasons,
    out: &mut Classification,
) {
    let text = input.text;
    weigh_rating(text, ev, reasons);
    weigh_quote(text, ev, reasons);
    if ev.first_person > 0
        && let Some((s, e)) = money_span(text)
    {
        ev.complaint += MONEY_OF_MINE;
        ev.factual += MONEY_OF_MINE;
        reasons.push(text, "complaint", "money", s, e);
    }
    // A prospect asking which provider to pick is not a customer leaving.
    let prospect = ev.advice && ev.leave > 0.0;
    if prospect {
        ev.complaint -= ev.leave;
    } else if ev.question_marks > 0 {
        // Asking how to leave ("Hoe kan ik opzeggen?") is a question first; saying so, after
        // the last question, is a complaint.
        ev.complaint -= 0.5 * (ev.leave - ev.leave_after_asking);
    }
    weigh_laughter(text, ev, reasons);
    // "Going on holiday for 2 weeks": how long, with nothing wrong or undone beside it, is
    // half a complaint at most ("hasn't worked for 2 weeks" is a whole one).
    if ev.duration > 0.0 && ev.complaint - ev.duration < 0.5 && ev.neg < 1.0 && ev.negations == 0 {
        ev.complaint -= 0.5 * ev.duration;
        ev.factual -= 0.5 * ev.duration;
    }
    // "That referee was a disgrace", "Worst ending ever": strong words beside a subject that is
    // not the brand's service judge that subject. Cues that make a complaint (or praise) of
    // their own still speak of the service, and the words beside them count.
    let (mut neg_weight, mut pos_weight) = (0.85, 0.6);
    // "How is that NOT a penalty??": a question asked in anger at that subject asks the brand
    // nothing. Its question marks count for nothing; a question cue ("can I watch …") still does.
    let mut rhetoric = false;
    if let Some((s, e)) = ev.elsewhere {
        let (blame, credit) = (ev.complaint < 1.0, ev.praise < 1.0);
        if blame && ev.neg > 0.0 || credit && ev.pos > 0.0 {
            reasons.push(text, "elsewhere", "another subject", s, e);
        }
        if blame {
            neg_weight = 0.0;
            rhetoric = ev.neg > 0.0;
        }
        if credit {
            pos_weight = 0.0;
        }
    }
    let sarcastic = weigh_sarcasm(text, ev, reasons);
    let scores = Scores::of(ev, (neg_weight, pos_weight), rhetoric);
    let sentiment = sentiment_of(ev);
    out.sentiment = sentiment;
    out.polarity = if sentiment >= 0.1 {
        Polarity::Positive
    } else if sentiment <= -0.1 {
        Polarity::Negative
    } else {
        Polarity::Neutral
    };
    let spam = is_spam(input, ev, &scores, reasons);
    out.spam = spam;
    let article = reads_as_article(input, ev, sarcastic, sentiment);
    // "Sorry to hear that, Mark. Can you DM us your tracking number? ^JT": the brand's own
    // reply, in its words and signed as webcare teams sign, asks nobody for an answer.
    let reply = if ev.reports > 0 {
        signature(text)
    } else {
        None
    };
    let label = if spam {
        Label::Neutral
    } else if let Some((s, e)) = reply {
        reasons.push(text, "news", "the brand's own reply", s, e);
        Label::Neutral
    } else if article
        && (scores.complaint >= 1.0
            || scores.question >= 1.0
            // "… will open its new wing, the trust said today": a report, not praise.
            || ev.reports > 0 && scores.praise >= 1.0)
    {
        reasons.push(text, "news", "reads as an article", 0, 0);
        Label::Neutral
    } else {
        choose_label(ev, &scores)
    };
    out.label = label;
    let urgent = !spam && matches!(label, Label::Complaint | Label::Question);
    urgency(
        c,
        input,
        ev,
        urgent.then_some(label),
        (sentiment, shouting, prospect),
        out,
    );
}

/// "Mijn kat zit al de hele ochtend in de doos 😂", "Every time someone mentions the bank my
/// nan starts on her garden 😂": time told with a laugh, and nothing wrong or bad beside it, is
/// a story, not a wait. Its time cues are taken back. A laugh beside a fault or a bad word
/// stays what it was ("3 hours on hold 😂 unreal").
fn weigh_laughter(text: &str, ev: &mut Evidence, reasons: &mut Reasons) {
    let Some((s, e)) = ev.laugh else {
        return;
    };
    if ev.timely == 0.0 || ev.neg > 0.0 || ev.complaint - ev.timely >= 0.5 {
        return;
    }
    ev.complaint -= ev.timely;
    ev.factual -= ev.timely;
    ev.fault = (ev.fault - ev.timely).max(0.0);
    ev.duration = 0.0;
    reasons.push(text, "joke", "time told with a laugh", s, e);
}

/// A star rating says outright what the writer thinks; a low one next to praise words is the
/// sarcasm of [`weigh_sarcasm`] ("Great, another outage. Well done! (2/5)").
fn weigh_rating(text: &str, ev: &mut Evidence, reasons: &mut Reasons) {
    if let Some((share, s, e)) = ev.stars.or_else(|| rating(text)) {
        if share <= 0.4 {
            ev.complaint += 2.0;
            ev.factual += 2.0;
            ev.neg += 1.0;
            reasons.push(text, "complaint", "rating", s, e);
        } else if share >= 0.8 {
            ev.heartfelt = true;
            ev.praise += 2.0;
            ev.pos += 1.0;
            ev.first_pos.get_or_insert((s, e));
            reasons.push(text, "praise", "rating", s, e);
        }
    }
}

/// How much a phrase quoted back at the brand weighs: not quite a complaint on its own, as
/// titles and speech are quoted too ("Outlast 2, chapter \"Genesis\""), enough with any
/// other grievance beside it.
const QUOTED_BACK: f32 = 0.8;

/// How much an amount of money weighs when the writer speaks of themselves ("charged me
/// €280", "har opkrævet 150 kr"): the money is theirs, and mostly a grievance.
const MONEY_OF_MINE: f32 = 0.5;

/// The brand's own words quoted back ("'service fee'", "tracking says 'delivered'", "'Vi er
/// der, når du har brug for os' siger Tryg"): customers quote a promise, a status or a fee to
/// show it did not hold. The first two count, so two quotes ("£14.20 'service fee' + £3.75
/// 'order processing fee'") make a complaint.
fn weigh_quote(text: &str, ev: &mut Evidence, reasons: &mut Reasons) {
    // Most posts hold no quote mark at all.
    let b = text.as_bytes();
    let [q0, q1, q2, q3] = QUOTE_BYTES;
    if memchr::memchr3(q0, q1, q2, b).is_none() && memchr::memchr(q3, b).is_none() {
        return;
    }
    let mut from = 0;
    for _ in 0..2 {
        let Some((s, e)) = quoted_span(text, from) else {
            break;
        };
        ev.complaint += QUOTED_BACK;
        ev.factual += QUOTED_BACK;
        reasons.push(text, "complaint", "quoted back", s, e);
        from = e as usize;
    }
}

/// The first span from byte `from` of one to eight words held in quotes that open after a
/// space (or at the start) and close before a space, punctuation or the end, so an apostrophe
/// inside or at the end of a word ("don't", "drivers' union") opens nothing.
fn quoted_span(text: &str, from: usize) -> Option<(u32, u32)> {
    let marks = text.as_bytes()[from..]
        .iter()
        .enumerate()
        .filter(|&(_, b)| QUOTE_BYTES.contains(b));
    for (i, _) in marks {
        let i = from + i;
        let c = text[i..].chars().next()?;
        // Where the search starts counts as after a space.
        let prev = text[from..i].chars().next_back().unwrap_or(' ');
        if !QUOTES.contains(&c) || !(prev.is_whitespace() || matches!(prev, '(' | '-')) {
            continue;
        }
        let body_start = i + c.len_utf8();
        let rest = &text[body_start..];
        // An apostrophe inside a word ("'we're aware'") closes nothing.
        let close = rest
            .char_indices()
            .find(|&(k, q)| QUOTES.contains(&q) && !inside_word(rest, k, q))?
            .0;
        let body = &rest[..close];
        let after = rest[close..].chars().nth(1);
        let words = body.split_whitespace().count();
        if (1..=8).contains(&words)
            && !body.starts_with(char::is_whitespace)
            // "“@JetBlue: Our fleet's on fleek”": a post quoted whole, as old retweets were.
            && !body.starts_with('@')
            && after.is_none_or(|a| !a.is_alphanumeric())
            && !names_before(&text[..i])
        {
            let end = body_start + close + rest[close..].chars().next().map_or(1, char::len_utf8);
            return Some((i as u32, end as u32));
        }
    }
    None
}

/// Whether the mark `q` at byte `k` of `s` stands between two letters or digits, as an
/// apostrophe in "we're" or "don't" does.
fn inside_word(s: &str, k: usize, q: char) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    alnum(s[..k].chars().next_back()) && alnum(s[k + q.len_utf8()..].chars().next())
}

/// The first amount of money: a currency sign before digits ("£16", "€ 54,99") or a currency
/// word after them ("150 kr", "25 euro"), or Dutch "99,-".
fn money_span(text: &str) -> Option<(u32, u32)> {
    const SIGNS: [char; 4] = ['£', '€', '$', '¥'];
    const WORDS: [&str; 6] = ["kr", "euro", "eur", "dkk", "pounds", "dollars"];
    let b = text.as_bytes();
    if !has_digit(b) {
        return None;
    }
    // The end of a number from `i`: digits, with '.' or ',' between digits ("4.500", "54,99").
    let number_end = |mut i: usize| {
        while i < b.len()
            && (b[i].is_ascii_digit()
                || matches!(b[i], b'.' | b',') && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
        }
        i
    };
    // Only a digit, '$' or a lead byte of '£', '¥' (0xC2) or '€' (0xE2) can start an amount.
    let start = |b: &u8| b.is_ascii_digit() || matches!(b, b'$' | 0xC2 | 0xE2);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(start) {
        i += off;
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        if SIGNS.contains(&c) {
            let digits = i + c.len_utf8() + usize::from(b.get(i + c.len_utf8()) == Some(&b' '));
            if b.get(digits).is_some_and(u8::is_ascii_digit) {
                return Some((i as u32, number_end(digits) as u32));
            }
        } else if c.is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let end = number_end(i);
            if text[end..].starts_with(",-") {
                return Some((i as u32, end as u32 + 2));
            }
            let rest = text[end..].trim_start_matches(' ');
            let word = rest
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("");
            if WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) {
                let stop = text.len() - rest.len() + word.len();
                return Some((i as u32, stop as u32));
            }
            i = end;
            continue;
        }
        i += c.len_utf8();
    }
    None
}

/// Whether one of the last five words before a quote names something ("my dad calls every
/// router 'the Fjordlink box'", "noemt elke dienst 'de Netflix'", "kalder alle apps for
/// 'MobilePay'"): a name quoted, not the brand's words quoted back.
fn names_before(before: &str) -> bool {
    const NAMING: [&str; 14] = [
        "call",
        "calls",
        "called",
        "calling",
        "named",
        "nicknamed",
        "noem",
        "noemt",
        "noemen",
        "noemde",
        "heten",
        "kalder",
        "kaldte",
        "kalde",
    ];
    before.split_whitespace().rev().take(5).any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        NAMING.iter().any(|n| w.eq_ignore_ascii_case(n))
    })
}

/// How much praise, at twice the weight of the grievance beside it, makes a post sincere: mockery
/// praises once ("Well done!"), a reviewer piles it up ("Simple, fast, never lets me down …
/// does exactly what it says").
const PRAISE_OUTWEIGHS: f32 = 2.5;

/// Sarcasm: praise words next to a plain complaint ("lekker dan, weer vertraging"), or an
/// explicit marker ("ja hoor", 🙄), turn the praise into complaint. Praise after "but" and
/// thanks for a fix are sincere. True when the post is sarcastic.
fn weigh_sarcasm(text: &str, ev: &mut Evidence, reasons: &mut Reasons) -> bool {
    let has_positive = ev.pos > 0.0 || ev.praise > 0.0;
    let sincere = ev.pos_after_contrast
        || ev.mixed
        || ev.resolved
        || ev.heartfelt
        || (ev.praise >= PRAISE_OUTWEIGHS && ev.praise >= 2.0 * ev.factual);
    // Praise next to mere time or tone ("Top notch service as usual", "Best app, seriously")
    // is sincere: sarcasm mocks a fault.
    let next_to_complaint = ev.sarcasm >= 1.0 || (ev.factual >= 1.0 && ev.fault > 0.0 && !sincere);
    // "Wow. Cancelled my train. Amazing.": praise said on its own next to a negative sentence,
    // in a post with nothing else good in it.
    let lone = ev.lone_pos > 0.0 && ev.pos + ev.praise - ev.lone_pos <= 0.05 && !sincere;
    let sarcastic = has_positive && (next_to_complaint || lone);
    if sarcastic {
        let (span, why) = if next_to_complaint {
            (ev.first_pos, "praise next to a complaint")
        } else {
            (ev.lone_span, "praise on its own next to a complaint")
        };
        if let Some((s, e)) = span {
            reasons.push(text, "sarcasm", why, s, e);
        }
        ev.complaint += ev.praise + 0.5 * ev.pos;
        ev.neg += ev.pos;
        ev.pos = 0.0;
        ev.praise = 0.0;
    } else if ev.sarcasm >= 1.0 {
        // "tak for ingenting": the phrase itself is the complaint.
        ev.complaint += ev.sarcasm;
    }
    sarcastic
}

/// Sentiment: lexicon valences plus the cues, squashed into [-1, 1] as VADER does.
fn sentiment_of(ev: &Evidence) -> f32 {
    let mut raw = ev.pos - ev.neg + 0.8 * (ev.praise - ev.complaint);
    raw *= 1.0 + 0.1 * ev.exclaims.min(3) as f32;
    (raw / (raw * raw + 15.0).sqrt()).clamp(-1.0, 1.0)
}

/// Spam: spam cues, or a link with the marks of a throwaway account or no text to speak of.
fn is_spam(input: &Input, ev: &Evidence, scores: &Scores, reasons: &mut Reasons) -> bool {
    let has_link = input.has_link.unwrap_or(ev.links > 0);
    let mut spam = ev.spam >= 2.0 || (has_link && ev.spam >= 1.0);
    // Whole-mention signals carry an empty span (0..0): no single cue in the text decided them.
    let checks = [
        (
            has_link && ev.words <= 3 && scores.complaint < 1.0 && scores.question < 1.0,
            "link with almost no text",
        ),
        (
            has_link && input.author_reach == Some(0),
            "account without followers posting a link",
        ),
        (
            has_link && input.author_age_days.is_some_and(|d| d < 2),
            "brand-new account posting a link",
        ),
    ];
    for (hit, why) in checks {
        if hit {
            spam = true;
            reasons.push(input.text, "spam", why, 0, 0);
        }
    }
    spam
}

/// The span of a webcare signature that ends the post: a caret or a slash before a capital and
/// a name or initials ("^JT", "^Sanne", "/Louise"), with at most the brand's name after it
/// ("^Mark - Kroonbank", "/Louise, Wolt Danmark"). Customers who mock the habit sign too ("…
/// insulting. ^HA"), so it counts only beside the brand's own phrases.
fn signature(text: &str) -> Option<(u32, u32)> {
    let at = text.rfind(['^', '/'])?;
    let before = text[..at].chars().next_back();
    let rest = &text[at + 1..];
    let name_len = rest
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(rest.len());
    let tail = &rest[name_len..];
    let signed = before.is_none_or(char::is_whitespace)
        && rest.chars().next().is_some_and(char::is_uppercase)
        && (2..=16).contains(&name_len)
        && tail.split_whitespace().count() <= 3
        && !tail.contains(['.', '!', '?', '"', '“', '”']);
    signed.then_some((at as u32, (at + 1 + name_len) as u32))
}

/// News: an item that reads as an article reports complaints, outages and price rises in the
/// third person; it is not a customer complaining unless it quotes one (a quote brings an "I"
/// or "my" along).
fn reads_as_article(input: &Input, ev: &Evidence, sarcastic: bool, sentiment: f32) -> bool {
    ev.first_person == 0
        && match input.voice {
            Some(Voice::News) => true,
            Some(Voice::Customer) => false,
            // Judged from the text alone, only a calm post without sarcasm that is long and
            // headlined or reports what someone said ("…, union confirms"): customers drop
            // their "I" too ("70 minutes on hold, this is a joke"). Calm is in the words: a
            // report of an outage piles up failure cues without one angry word.
            None => {
                let shaped =
                    (input.headline && ev.words >= 20) || (ev.reports > 0 && ev.words >= 8);
                // "… Tjek din rejse på dsb.dk. God påske!": a notice may close with a wish.
                let calm = ev.exclaims == 0 || ev.wish && ev.exclaims == 1;
                shaped
                    && ev.question_marks == 0
                    && calm
                    && ev.sarcasm == 0.0
                    && !sarcastic
                    && !ev.anger
                    && (sentiment > -0.6 || ev.neg < 1.0)
            }
        }
}

/// The label of a post that is neither spam nor news.
fn choose_label(ev: &Evidence, s: &Scores) -> Label {
    if ev.threat >= 2.0 || (ev.threat > 0.0 && ev.first_person > 0) {
        // "Going to the press", "my lawyer", "complaint to the ombudsman": whatever else the
        // post says, someone has to answer it today. A regulator or paper named by a post that
        // never speaks of the writer ("Ofcom opens investigation into …") is news, unless the
        // cue is a strong one (a lawyer, "legal action").
        if s.question >= 1.0 && s.complaint < 1.0 {
            Label::Question
        } else {
            Label::Complaint
        }
    } else if ev.advice && ev.question_marks > 0 && s.question >= 1.0 && ev.factual < 1.0 {
        // Asking for advice with hearsay in it ("read some horror stories") stays a question;
        // advice words that ask nothing ("Aanrader!!") are a verdict.
        Label::Question
    } else if s.complaint >= 1.0 && s.complaint > s.praise {
        // A question that carries a complaint ("waarom duurt het zo lang?") is a complaint; a
        // mild one that asks for help stays a question, and so does one that a symptom only
        // explains ("Is there an outage? Nothing loads"). A "why" beside any other grievance
        // asks nothing ("Waarom is de melk altijd op?").
        let beside = s.complaint - ev.symptom;
        let rhetorical = ev.rhetorical > 0.0 && s.complaint - ev.rhetorical >= 0.3;
        // Question marks after a fault, with no word that asks and no sentence before them
        // ("5A kom ikke. Movia??"), are exasperation.
        let exasperated = ev.question == 0.0 && ev.asked == 0 && ev.fault > 0.0;
        if s.question >= 1.0
            && !rhetorical
            && !exasperated
            && (beside < 1.5 || s.question >= 2.0 * beside)
            && ev.neg < 2.0
        {
            Label::Question
        } else {
            Label::Complaint
        }
    } else if s.question >= 1.0 && !(ev.praise_first && s.praise >= PRAISE_BEFORE_ASKING) {
        Label::Question
    } else if s.praise >= 1.0 && s.praise > s.complaint {
        Label::Praise
    } else {
        Label::Neutral
    }
}

/// How much praise, told before a question, makes the post praise with a question as an aside.
const PRAISE_BEFORE_ASKING: f32 = 1.0;

/// Urgency, only for mentions someone should answer (`answer`: their label): urgent cues
/// (a prospect's "leave" aside), anger and high reach. `(sentiment, shouting, prospect)` as
/// found by [`decide`].
fn urgency(
    c: &Classifier,
    input: &Input,
    ev: &Evidence,
    answer: Option<Label>,
    (sentiment, shouting, prospect): (f32, bool, bool),
    out: &mut Classification,
) {
    let (text, lex) = (input.text, c.lex());
    let mut urgent = Reused::new(&mut out.urgency_reasons);
    if let Some(label) = answer {
        for &(cue, s, e) in &ev.urgent[..ev.n_urgent] {
            if prospect && lex.cue_roles[cue as usize] == CueRole::Leave {
                continue;
            }
            let _ = write!(
                next_string(&mut urgent),
                "{}: {:?}",
                lex.cue_names[cue as usize],
                &text[s as usize..e as usize]
            );
        }
        if label == Label::Complaint
            && !ev.anger
            && (sentiment <= -0.9 || shouting || ev.exclaims >= 3)
        {
            let why = next_string(&mut urgent);
            if shouting {
                why.push_str("anger: written in capitals");
            } else if ev.exclaims >= 3 {
                why.push_str("anger: repeated exclamation marks");
            } else {
                let _ = write!(why, "anger: sentiment {sentiment:.2}");
            }
        }
        if let Some(reach) = input.author_reach.filter(|&r| r >= c.high_reach) {
            let _ = write!(next_string(&mut urgent), "high reach: {reach} followers");
        }
    }
    urgent.finish();
    out.urgency = if out.urgency_reasons.is_empty() {
        Urgency::Normal
    } else {
        Urgency::Urgent
    };
}

/// A star rating in the text other than star emoji (those are [`emoji_stars`]), as (share of
/// the top score, byte span): "2/5", "4.5/5", "7/10", five stars written ★★☆☆☆, or a count of
/// stars in words ("1 star", "3 stjerner", "2 sterren", "one star"). A date ("2/5/2026") or a
/// unit ("Mbit/s") is not one.
fn rating(text: &str) -> Option<(f32, u32, u32)> {
    slashed_or_drawn(text).or_else(|| written_stars(text))
}

/// "1 star", "5-star", "3 stjerner", "2 sterren", "one star", "vijf sterren", "to stjerner": a
/// count from zero to five before a word for stars, as [`rating`] gives it. A number word that
/// is also an article ("en stjerne", "een ster": "a star", said of a helpful person) is not a
/// count, and Danish counts that are English words ("to", "fire") count only before a Danish
/// word for stars, so "remember to star the repo" rates nothing.
fn written_stars<'a>(text: &'a str) -> Option<(f32, u32, u32)> {
    const STARS: [&str; 6] = ["star", "stars", "stjerne", "stjerner", "ster", "sterren"];
    // (word, count, Danish only): "to" and "fire" are English words too, so they count only
    // before the Danish word for stars ("to stjerner", not "went to stars").
    const COUNTS: [(&str, u8, bool); 23] = [
        ("0", 0, false),
        ("1", 1, false),
        ("2", 2, false),
        ("3", 3, false),
        ("4", 4, false),
        ("5", 5, false),
        ("zero", 0, false),
        ("one", 1, false),
        ("two", 2, false),
        ("three", 3, false),
        ("four", 4, false),
        ("five", 5, false),
        ("nul", 0, false),
        ("één", 1, false),
        ("twee", 2, false),
        ("drie", 3, false),
        ("vier", 4, false),
        ("vijf", 5, false),
        ("to", 2, true),
        ("tre", 3, false),
        ("fire", 4, true),
        ("fem", 5, false),
        ("ingen", 0, false),
    ];
    // Every word for stars starts "st" before "a", "e" or "j": a search for the 't' finds the
    // few places to look, and the word before is read only there.
    let b = text.as_bytes();
    let parted = |c: char| c.is_whitespace() || c == '-';
    let trimmed = |w: &'a str| w.trim_end_matches(|c: char| c.is_ascii_punctuation());
    for t in memchr::memchr2_iter(b't', b'T', b) {
        let s = t.wrapping_sub(1);
        if t == 0
            || b[s] | 0x20 != b's'
            || !b
                .get(t + 1)
                .is_some_and(|n| matches!(n | 0x20, b'a' | b'e' | b'j'))
            || text[..s].chars().next_back().is_some_and(|c| !parted(c))
        {
            continue;
        }
        let word = trimmed(&text[s..text[s..].find(parted).map_or(text.len(), |e| s + e)]);
        if !STARS.iter().any(|w| word.eq_ignore_ascii_case(w)) {
            continue;
        }
        let before = text[..s].trim_end_matches(parted);
        let from = before.rfind(parted).map_or(0, |p| {
            p + before[p..].chars().next().map_or(1, char::len_utf8)
        });
        let count = trimmed(&before[from..]);
        let danish = word.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("stj"));
        if let Some(&(_, n, _)) = COUNTS
            .iter()
            .find(|&&(c, _, danish_only)| count.eq_ignore_ascii_case(c) && (danish || !danish_only))
        {
            return Some((f32::from(n) / 5.0, from as u32, (s + word.len()) as u32));
        }
    }
    None
}

/// Star emoji as a review gives them: one to five "⭐" opening the post ("⭐ Bestilte en sofa
/// …", "⭐⭐⭐⭐⭐ Bedste smørrebrød"), or five anywhere ("… kommer helt sikkert igen
/// ⭐⭐⭐⭐⭐"). Fewer than five later in a post are decoration ("You're a star ⭐").
fn emoji_stars(text: &str) -> Option<(f32, u32, u32)> {
    const STAR: char = '⭐';
    // Every mention is searched, and hardly any holds one: the SIMD search for the star's
    // last byte (0x90, rare in text) skips the rest.
    let find = |from: usize| {
        memchr::memchr_iter(0x90, &text.as_bytes()[from..])
            .map(|i| from + i)
            .find(|&i| i >= 2 && text.as_bytes()[i - 2..i] == [0xE2, 0xAD])
            .map(|i| i - 2)
    };
    let at = find(0)?;
    let opens = text[..at].trim().is_empty();
    let mut from = at;
    loop {
        let (mut count, mut end) = (0u32, from);
        for ch in text[from..].chars() {
            match ch {
                STAR => count += 1,
                // The emoji presentation selector some keyboards add after each star.
                '\u{fe0f}' => {}
                _ => break,
            }
            end += ch.len_utf8();
        }
        if (opens && from == at && count <= 5) || count == 5 {
            return Some((count as f32 / 5.0, from as u32, end as u32));
        }
        from = find(end)?;
    }
}

/// Whether `b` holds an ASCII digit, as every amount and every "2/5" does. Each run of 16
/// bytes is folded without an early exit, so the compiler compares them together; only between
/// runs does the search stop at the first digit.
fn has_digit(b: &[u8]) -> bool {
    b.chunks(16).any(|c| {
        c.iter()
            .fold(0u8, |m, &x| m | u8::from(x.wrapping_sub(b'0') < 10))
            != 0
    })
}

/// "2/5", "4.5/5", "7/10" or ★★☆☆☆, as [`rating`] gives it.
fn slashed_or_drawn(text: &str) -> Option<(f32, u32, u32)> {
    let b = text.as_bytes();
    if let Some(start) = text.find('★') {
        let (mut full, mut all, mut end) = (0u32, 0u32, start);
        for ch in text[start..].chars() {
            match ch {
                '★' => full += 1,
                '☆' => {}
                _ => break,
            }
            all += 1;
            end += ch.len_utf8();
        }
        if all == 5 {
            return Some((full as f32 / 5.0, start as u32, end as u32));
        }
    }
    if !has_digit(b) {
        return None;
    }
    for i in memchr::memchr_iter(b'/', b) {
        let mut s = i;
        while s > 0
            && (b[s - 1].is_ascii_digit()
                || (matches!(b[s - 1], b'.' | b',')
                    && s >= 2
                    && b[s - 2].is_ascii_digit()
                    && s < i))
        {
            s -= 1;
        }
        let mut e = i + 1;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        let bounded_left = s == 0 || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'/');
        let bounded_right = e == b.len() || !(b[e].is_ascii_alphanumeric() || b[e] == b'/');
        if s == i || e == i + 1 || !bounded_left || !bounded_right {
            continue;
        }
        let num: f32 = match text[s..i].replace(',', ".").parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        let den: f32 = match &text[i + 1..e] {
            "5" => 5.0,
            "10" => 10.0,
            _ => continue,
        };
        if num <= den {
            return Some((num / den, s as u32, e as u32));
        }
    }
    None
}
