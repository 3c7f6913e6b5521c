//! Summing a text's feature weights, with a per-word cache. A word's own feature and its
//! character 2–5-grams always add the same weights for a given model and language, and they
//! are most of a text's features (about 20 per word), so their sum is computed once per
//! distinct word and kept in a small table per thread. A word seen before then costs one
//! table read per head instead of about 20 weight reads and the n-gram hashing.
//!
//! The table is two-way set-associative (a word has two slots; a new word evicts the one of
//! them used longer ago), so it stays the same size however many words a stream brings, and
//! it needs no lock: each thread fills its own. Entries are keyed by model, language and word, so a model swap or a second model
//! on the same thread never reads another's sums.

use std::cell::{Cell, RefCell};

use super::super::Classification;
#[cfg(test)]
use super::Feat;
use super::features::{Found, KIND_WORD, Sink, bucket, char_grams, features, mix, normalize};
use super::{BUCKETS, Head, K};

/// Slots per thread: 8,192 words of 64 bytes in sets of two, 512 KiB, which holds a brand's
/// everyday vocabulary across three languages while staying in a core's second-level cache.
/// Allocated by each thread that classifies with a model, on first use.
const SLOTS: usize = 1 << 13;

/// The heads a text is scored with: one language's label head and polarity head, either of
/// which may be missing (too few examples), and their weights side by side (see
/// `Model::joined`).
pub(super) struct Heads<'m> {
    pub label: Option<&'m Head>,
    pub polarity: Option<&'m Head>,
    pub joined: &'m [[u16; 2 * K]; BUCKETS],
}

/// What some features add to the scores: how many they are and the summed weights under the
/// label and the polarity head.
#[derive(Clone, Copy, Default)]
pub(super) struct Sum {
    pub n: u32,
    pub label: [f32; K],
    pub polarity: [f32; K],
}

impl Sum {
    /// Adds the feature in bucket `b`: one read of both heads' weights and eight additions
    /// (a missing head's weights are zero), so a word's n-grams on a cache miss and the word
    /// pairs of every text cost little.
    #[inline]
    fn add(&mut self, heads: &Heads<'_>, b: u32) {
        self.n += 1;
        // Buckets are below `BUCKETS` already; the mask spares a bounds check.
        let w = &heads.joined[b as usize & (BUCKETS - 1)];
        let f = |h: u16| f32::from_bits(u32::from(h) << 16);
        for c in 0..K {
            self.label[c] += f(w[c]);
            self.polarity[c] += f(w[K + c]);
        }
    }

    #[inline]
    fn merge(&mut self, o: &Sum) {
        self.n += o.n;
        for c in 0..K {
            self.label[c] += o.label[c];
            self.polarity[c] += o.polarity[c];
        }
    }
}

/// Features that count as one reason: a word with its character n-grams, a word pair, a '?'
/// or '!', or a lexicon cue, with the one label they argue for, if any (see [`Lead`]).
#[derive(Clone, Copy)]
pub(super) struct Group {
    pub start: u32,
    pub end: u32,
    pub kind: u8,
    pub lead: Lead,
}

/// The label some features argue for over every other under the label head, and by how much
/// (their weight for it less the strongest other weight). Only that label can make them a
/// reason: for any other label they push the wrong way. Worked out once, when the features
/// are summed (and kept with a cached word), so choosing the reasons reads one number a group.
#[derive(Clone, Copy, Default)]
pub(super) struct Lead {
    /// The label's index, or `K` when no label comes out ahead of all the others.
    pub label: u8,
    pub margin: f32,
}

impl Lead {
    /// The lead of features whose weights add up to `label`.
    #[inline]
    pub fn of(label: &[f32; K]) -> Lead {
        // Plain comparisons, not `f32::max`: sums of finite weights are never NaN. The margin
        // is the leader's weight less the largest of the others, exactly as worked out for
        // one label at a time before.
        let (mut best, mut top, mut second) = (0usize, label[0], f32::NEG_INFINITY);
        for (c, &w) in label.iter().enumerate().skip(1) {
            if w > top {
                second = top;
                top = w;
                best = c;
            } else if w > second {
                second = w;
            }
        }
        let margin = top - second;
        if margin > 0.0 {
            Lead {
                label: best as u8,
                margin,
            }
        } else {
            Lead {
                label: K as u8,
                margin: 0.0,
            }
        }
    }
}

/// One cached word: its key (model, language and word hash) and its [`Sum`]. `sum.n == 0`
/// marks an empty slot: every word has at least its own feature.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Entry {
    key: u64,
    sum: Sum,
    lead: Lead,
}

/// This thread's table, allocated on first use, and the features of the text being scored.
struct Table {
    slots: Vec<Entry>,
    pending: Vec<Pending>,
}

/// A feature or word the first pass of [`gather`] found, waiting for its weights.
#[derive(Clone, Copy)]
struct Pending {
    start: u32,
    end: u32,
    kind: u8,
    /// A word (with `hash`, its cache `key` and `slot`), not a feature of its own (`key` is
    /// then its bucket).
    word: bool,
    hash: u64,
    key: u64,
    slot: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table {
            slots: Vec::new(),
            pending: Vec::new(),
        })
    };
    static HITS: Cell<u64> = const { Cell::new(0) };
    static MISSES: Cell<u64> = const { Cell::new(0) };
}

/// Asks the processor to bring `p` into its cache now, so a read of it later does not wait:
/// [`gather`] asks for every word's slot and weights before it reads any, and the slow reads
/// from memory then overlap instead of coming one after another.
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing the program sees, changes no state
    // the program sees, and cannot fault; `p` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Heads<'_> {
    /// Prefetches (see [`prefetch`]) the weights of bucket `b` in both heads.
    #[inline]
    fn prefetch(&self, b: u32) {
        prefetch(&self.joined[b as usize & (BUCKETS - 1)]);
    }
}

/// The first pass of [`gather`]: lists what [`features`] finds and prefetches what each will
/// read (a word's cache slots, a feature's weights).
struct Finder<'a, 'm> {
    seed: u64,
    heads: &'a Heads<'m>,
    slots: &'a [Entry],
    pending: &'a mut Vec<Pending>,
}

impl Sink for Finder<'_, '_> {
    /// Inlined where each kind of feature is found: it is a few instructions, and a call per
    /// word and per word pair cost more than them.
    #[inline(always)]
    fn found(&mut self, found: Found) {
        match found {
            Found::Single(f) => {
                self.heads.prefetch(f.bucket);
                self.pending.push(Pending {
                    start: f.start,
                    end: f.end,
                    kind: f.kind,
                    word: false,
                    hash: 0,
                    key: u64::from(f.bucket),
                    slot: 0,
                });
            }
            Found::Word {
                start, end, hash, ..
            } => {
                let key = mix(self.seed, hash);
                // The first of the two slots of the word's set.
                let slot = ((key >> 40) as usize & (SLOTS / 2 - 1)) * 2;
                prefetch(&self.slots[slot]);
                prefetch(&self.slots[slot + 1]);
                self.pending.push(Pending {
                    start,
                    end,
                    kind: KIND_WORD,
                    word: true,
                    hash,
                    key,
                    slot: slot as u32,
                });
            }
        }
    }
}

/// Words found in this thread's cache and words that had to be summed, since the thread
/// started: the benchmark prints the hit rate from these.
pub fn cache_counts() -> (u64, u64) {
    (HITS.with(Cell::get), MISSES.with(Cell::get))
}

/// The summed weights of a word with hash `hash` (normalised form `grams`, when it has
/// character n-grams) under `heads`, computed the way [`gather_features`] adds them up.
fn word_sum(heads: &Heads<'_>, hash: u64, grams: Option<&str>) -> Sum {
    let mut s = Sum::default();
    s.add(heads, bucket(hash));
    if let Some(norm) = grams {
        // All the n-grams' weights are asked for before any is added, so their reads from
        // memory overlap; they are added in the same order as one by one. A word is cut at 60
        // bytes, which gives at most 4 n-grams for each of its 61 starts.
        let mut buckets = [0u32; 4 * 61];
        let mut n = 0;
        char_grams(norm, |b| {
            if let Some(slot) = buckets.get_mut(n) {
                *slot = b;
                n += 1;
                heads.prefetch(b);
            } else {
                // Cannot happen (see above); were it to, the n-gram would still count.
                s.add(heads, b);
            }
        });
        for &b in &buckets[..n] {
            s.add(heads, b);
        }
    }
    s
}

/// Sums the weights of `text`'s features (and of the lexicon verdict `v`'s cues) under
/// `heads` of model `model` and language `lang`, and lists them as reason groups in `groups`.
/// Gives exactly what [`gather_features`] gives on the extracted features.
///
/// Two passes: the first finds the features and words and prefetches what each will read (a
/// word's cache slot, a feature's weights), the second adds them up, summing a word on a miss.
pub(super) fn gather(
    model: u64,
    lang: usize,
    heads: &Heads<'_>,
    text: &str,
    v: &Classification,
    groups: &mut Vec<Group>,
    buf: &mut String,
) -> Sum {
    groups.clear();
    let seed = mix(model, lang as u64 + 1);
    let mut total = Sum::default();
    let (mut hits, mut misses) = (0u64, 0u64);
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        if t.slots.is_empty() {
            t.slots = vec![Entry::default(); SLOTS];
        }
        let (slots, pending) = (&mut t.slots, &mut t.pending);
        pending.clear();
        let mut finder = Finder {
            seed,
            heads,
            slots,
            pending,
        };
        features(text, v, buf, &mut finder);
        for p in pending.iter() {
            let s = if p.word {
                let set = p.slot as usize;
                if slots[set].key == p.key && slots[set].sum.n != 0 {
                    hits += 1;
                } else if slots[set + 1].key == p.key && slots[set + 1].sum.n != 0 {
                    // The most recently used word of a set stays first, so a miss evicts
                    // the one used longer ago.
                    hits += 1;
                    slots.swap(set, set + 1);
                } else {
                    misses += 1;
                    let word = text
                        .get(p.start as usize..p.end as usize)
                        .unwrap_or_default();
                    let (norm, grams) = normalize(word, buf);
                    slots[set + 1] = slots[set];
                    let sum = word_sum(heads, p.hash, grams.then_some(norm));
                    slots[set] = Entry {
                        key: p.key,
                        sum,
                        lead: Lead::of(&sum.label),
                    };
                }
                (slots[set].sum, slots[set].lead)
            } else {
                let mut s = Sum::default();
                s.add(heads, p.key as u32);
                (s, Lead::of(&s.label))
            };
            total.merge(&s.0);
            groups.push(Group {
                start: p.start,
                end: p.end,
                kind: p.kind,
                lead: s.1,
            });
        }
    });
    HITS.with(|h| h.set(h.get() + hits));
    MISSES.with(|m| m.set(m.get() + misses));
    total
}

/// The uncached reference: sums extracted features `feats` under `heads`, a word and the
/// character n-grams that follow it with the same span as one group. What [`gather`] must
/// match.
#[cfg(test)]
pub(super) fn gather_features(heads: &Heads<'_>, feats: &[Feat], groups: &mut Vec<Group>) -> Sum {
    groups.clear();
    let mut total = Sum::default();
    let mut i = 0;
    while i < feats.len() {
        let f = feats[i];
        let mut s = Sum::default();
        let mut j = i;
        while j < feats.len()
            && feats[j].start == f.start
            && feats[j].end == f.end
            && (j == i || feats[j].kind == super::features::KIND_CHARS)
        {
            s.add(heads, feats[j].bucket);
            j += 1;
        }
        total.merge(&s);
        groups.push(Group {
            start: f.start,
            end: f.end,
            kind: f.kind,
            lead: Lead::of(&s.label),
        });
        i = j;
    }
    total
}
