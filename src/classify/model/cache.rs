//! Summing a text's feature weights, with a per-word cache. A word's own feature and its
//! character 2–5-grams always add the same weights for a given model and language, and they
//! are most of a text's features (about 20 per word), so their sum is computed once per
//! distinct word and kept in a small table per thread. A word seen before then costs one
//! table read per head instead of about 20 weight reads and the n-gram hashing.
//!
//! The table is eight-way set-associative: a word has a set of eight slots, and a new word
//! evicts the one of them used longest ago. Each set's tags (which word is in which slot, most
//! recently used first) fill one cache line, so a lookup reads one line of tags and then the
//! word's slot. It stays the same size however many words a stream brings, and it needs no
//! lock: each thread fills its own. Entries are keyed by model, language and word, so a model
//! swap or a second model on the same thread never reads another's sums.

use std::cell::{Cell, RefCell};

use super::super::Classification;
#[cfg(test)]
use super::Feat;
use super::features::{Found, KIND_WORD, Sink, bucket, char_grams, features, mix, normalize};
use super::{BUCKETS, Head, K};

/// Slots per thread: 8,192 words of 64 bytes in sets of eight, 512 KiB (and 64 KiB of tags),
/// which holds a brand's everyday vocabulary across three languages while staying in a core's
/// second-level cache. Allocated by each thread that classifies with a model, on first use.
const SLOTS: usize = 1 << 13;
/// Slots per set. With two, words that met in a set of two evicted each other on every pass
/// over the development posts (8 % of words missed); with eight, 1 % miss (and a stream of
/// new words evicts fewer of the words it keeps using).
const WAYS: usize = 8;
const SETS: usize = SLOTS / WAYS;
/// The low bits of a tag that hold the slot's number within its set; the rest are the key's.
const WAY_BITS: u64 = WAYS as u64 - 1;

/// The heads a text is scored with: one language's label head and polarity head, either of
/// which may be missing (too few examples), and their weights side by side (see
/// `Model::joined`).
pub(super) struct Heads<'m> {
    pub label: Option<&'m Head>,
    pub polarity: Option<&'m Head>,
    pub joined: &'m [[u16; 2 * K]; BUCKETS],
    /// Per bucket, the label its feature alone leads with, and by how much (see
    /// [`leads`]).
    pub leads: &'m [u8; BUCKETS],
    pub margins: &'m [f32; BUCKETS],
}

/// Per bucket of `joined` (see `Model::joined`), the [`Lead`] of its label weights alone, as
/// labels and margins apart: a feature of its own can be a reason only for its label, so
/// choosing the reasons reads one byte for most such features and a margin for the rest.
pub(super) fn leads(joined: &[[u16; 2 * K]]) -> (Vec<u8>, Vec<f32>) {
    joined
        .iter()
        .map(|w| {
            let mut s = Sum::default();
            s.add_weights(w);
            let lead = Lead::of(&s.label);
            (lead.label, lead.margin)
        })
        .unzip()
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
        // Buckets are below `BUCKETS` already; the mask spares a bounds check.
        self.add_weights(&heads.joined[b as usize & (BUCKETS - 1)]);
    }

    /// Adds a feature whose weights (both heads side by side) are `w`.
    #[inline]
    fn add_weights(&mut self, w: &[u16; 2 * K]) {
        self.n += 1;
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
///
/// [`gather`] lists the groups as it finds them and fills in what they add up to afterwards:
/// a word's lead comes with its cached sum; a feature of its own keeps [`Lead::LATER`] and its
/// bucket in `key`, and its lead is read from the model's table of leads by bucket, only when
/// choosing the reasons and only if it leads with the chosen label (see [`Heads::margin`]).
#[derive(Clone, Copy)]
pub(super) struct Group {
    pub start: u32,
    pub end: u32,
    pub kind: u8,
    /// A word, whose features are summed together through the cache.
    pub word: bool,
    pub lead: Lead,
    /// A word's hash (of its normalised form).
    pub hash: u64,
    /// A word's cache key (model, language and word), or a feature's bucket.
    pub key: u64,
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
    /// Not worked out yet: see [`Group`].
    pub const LATER: Lead = Lead {
        label: K as u8 + 1,
        margin: 0.0,
    };

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

/// One cached word: its key (model, language and word hash), its [`Sum`] and [`Lead`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Entry {
    key: u64,
    sum: Sum,
    lead: Lead,
}

impl Entry {
    /// An empty slot. Its tag holds key bits 0 (see [`Tags`]), so only a key below 8 could
    /// find it, and its own key is none of those.
    const EMPTY: Entry = Entry {
        key: u64::MAX,
        sum: Sum {
            n: 0,
            label: [0.0; K],
            polarity: [0.0; K],
        },
        lead: Lead {
            label: K as u8,
            margin: 0.0,
        },
    };
}

/// One set's tags, most recently used first: each is a key (its low bits cleared) with the
/// number of the slot in the set that holds it, so a hit moves eight-byte tags, not 64-byte
/// entries. A tag only says where to look: the slot's own key confirms a hit.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Tags([u64; WAYS]);

impl Default for Tags {
    /// Every slot empty, the last one first to be filled. Empty slots' tags hold key bits 0,
    /// which a key may have too: [`Entry::EMPTY`]'s key tells it is empty.
    fn default() -> Tags {
        Tags(std::array::from_fn(|w| w as u64))
    }
}

/// A thread's table: arrays of a fixed size, so indexes cut to size need no bounds checks.
struct Table {
    tags: Box<[Tags; SETS]>,
    slots: Box<[Entry; SLOTS]>,
}

impl Table {
    fn new() -> Table {
        Table {
            tags: boxed(Tags::default()),
            slots: boxed(Entry::EMPTY),
        }
    }
}

/// `N` copies of `x` on the heap (an array of `N` on the stack first could overflow it).
fn boxed<T: Copy, const N: usize>(x: T) -> Box<[T; N]> {
    vec![x; N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("a vector of N elements is an array of N"))
}

thread_local! {
    /// This thread's table, allocated on first use.
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
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

    /// How far the feature in bucket `b` alone puts label `c` ahead of every other label,
    /// when it does: the margin of its [`Lead`] if that leads with `c`.
    #[inline]
    pub fn margin(&self, b: u32, c: usize) -> Option<f32> {
        let b = b as usize & (BUCKETS - 1);
        (usize::from(self.leads[b]) == c).then(|| self.margins[b])
    }
}

/// The first pass of [`gather`]: lists what [`features`] finds as groups and prefetches what
/// each will read (a word's set of tags, a feature's weights).
struct Finder<'a, 'm> {
    seed: u64,
    heads: &'a Heads<'m>,
    tags: &'a [Tags; SETS],
    groups: &'a mut Vec<Group>,
}

impl Sink for Finder<'_, '_> {
    /// Inlined where each kind of feature is found: it is a few instructions, and a call per
    /// word and per word pair cost more than them.
    #[inline(always)]
    fn found(&mut self, found: Found) {
        match found {
            Found::Single(f) => {
                self.heads.prefetch(f.bucket);
                self.groups.push(Group {
                    start: f.start,
                    end: f.end,
                    kind: f.kind,
                    word: false,
                    lead: Lead::LATER,
                    hash: 0,
                    key: u64::from(f.bucket),
                });
            }
            Found::Word {
                start, end, hash, ..
            } => {
                let key = mix(self.seed, hash);
                prefetch(&self.tags[set_of(key)]);
                self.groups.push(Group {
                    start,
                    end,
                    kind: KIND_WORD,
                    word: true,
                    lead: Lead::LATER,
                    hash,
                    key,
                });
            }
        }
    }
}

/// The set of a word with cache key `key`.
#[inline]
fn set_of(key: u64) -> usize {
    (key >> 40) as usize & (SETS - 1)
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
    // The sums and counts are the closure's own locals, so they stay in registers.
    let (total, hits, misses) = TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        let Table { tags, slots } = t.get_or_insert_with(Table::new);
        let mut finder = Finder {
            seed,
            heads,
            tags,
            groups,
        };
        features(text, v, buf, &mut finder);
        let mut total = Sum::default();
        let (mut hits, mut misses) = (0u64, 0u64);
        for g in groups.iter_mut() {
            if !g.word {
                total.add(heads, g.key as u32);
                continue;
            }
            let set = set_of(g.key);
            let tags = &mut tags[set].0;
            let slot = |tag: u64| set * WAYS + (tag & WAY_BITS) as usize;
            let want = g.key & !WAY_BITS;
            // The tag's position in the set, if the slot it names holds the word.
            let mut found = None;
            for (j, &tag) in tags.iter().enumerate() {
                if tag & !WAY_BITS == want {
                    if slots[slot(tag)].key == g.key {
                        found = Some(j);
                    }
                    break;
                }
            }
            // The word's tag moves to the front (most recently used): on a hit from where it
            // was, on a miss from the back, taking the slot used longest ago.
            let j = match found {
                Some(j) => {
                    hits += 1;
                    j
                }
                None => {
                    misses += 1;
                    let word = text
                        .get(g.start as usize..g.end as usize)
                        .unwrap_or_default();
                    let (norm, grams) = normalize(word, buf);
                    let sum = word_sum(heads, g.hash, grams.then_some(norm));
                    let j = WAYS - 1;
                    tags[j] = want | (tags[j] & WAY_BITS);
                    slots[slot(tags[j])] = Entry {
                        key: g.key,
                        sum,
                        lead: Lead::of(&sum.label),
                    };
                    j
                }
            };
            let tag = tags[j];
            for i in (1..=j).rev() {
                tags[i] = tags[i - 1];
            }
            tags[0] = tag;
            let e = &slots[slot(tag)];
            total.merge(&e.sum);
            g.lead = e.lead;
        }
        (total, hits, misses)
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
            word: false,
            lead: Lead::of(&s.label),
            hash: 0,
            key: 0,
        });
        i = j;
    }
    total
}
