//! The learned layer: one small linear model per language (and per task: label or polarity),
//! trained on a team's own corrections and stacked on the lexicon verdict. Features are hashed
//! word 1–2-grams, character 2–5-grams of each word (URLs, @handles and numbers normalised),
//! the lexicon's cues, and the lexicon's verdict and scores as dense features. The dense
//! weights start at the lexicon's own answer, so a model trained on few corrections stays close
//! to the lexicon and moves only where the team said it was wrong.
//!
//! Logistic regression (softmax) with class weights, trained by plain SGD written here: the
//! problem is small (a few thousand rows, sparse features), and a hand-written loop over hashed
//! features trains 10,000 rows in well under a second with no extra dependency.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

mod cache;
mod features;

pub use cache::cache_counts;
use cache::{Group, Heads, Lead, Sum};
use features::{Feat, KIND_BIGRAM, KIND_WORD, dense, extract};

use super::lexicon::LANGS;
use super::{Classification, Label, Polarity, Urgency};

/// Examples of a language (and task) a head needs before it is used: below this the lexicon
/// decides alone. A team's first week gives about 100 corrections per language; 60 spread over
/// the classes is where, in the cross-validation of the development sets, the model stopped
/// making things worse.
pub const MIN_EXAMPLES: usize = 60;

/// A head is not used when the lexicons give fewer than this share of its examples their
/// label: such examples are corrections alone (staff correct what the lexicons got wrong), and
/// a head trained on them learns to contradict the lexicons everywhere. Real labelled posts
/// agree far more often (about as often as the lexicons are right), and so do corrections that
/// come with the mentions staff left as labelled.
pub const AGREEMENT_FLOOR: f64 = 0.2;

/// 2^14 buckets: 128 KiB of packed weights per head, which stays in a core's cache next to the
/// lexicons; classifying with a model is bound by reading these weights. On the development
/// sets' cross-validation, 2^14, 2^16 and 2^18 buckets scored the same to three decimals.
const BITS: u32 = 14;
const BUCKETS: usize = 1 << BITS;
/// Classes per head: four labels, or three polarities with the fourth slot unused.
const K: usize = 4;
const DENSE: usize = 16;
/// How strongly the lexicon's own verdict is believed before any correction.
const PRIOR: f32 = 3.0;
const MAGIC: &[u8; 8] = b"WCMODEL\0";
/// Bumped whenever features or layout change: an older file is refused, not misread.
/// 2: character n-grams hashed incrementally from each start; 2^14 buckets instead of 2^18.
pub const FORMAT: u32 = 2;

/// What a model file or training went wrong with. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a webcare model or is damaged ({why}); train a new one with `webcare train`", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error("{} is a model of format {found}, this webcare reads format {FORMAT}; train a new one with `webcare train`", path.display())]
    Incompatible { path: PathBuf, found: u32 },
}

/// Which verdict a head predicts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Label,
    Polarity,
}

impl Task {
    pub(crate) fn classes(self) -> usize {
        match self {
            Task::Label => 4,
            Task::Polarity => 3,
        }
    }

    fn class_name(self, c: usize) -> &'static str {
        match self {
            Task::Label => Label::ALL[c].as_str(),
            Task::Polarity => Polarity::ALL[c].as_str(),
        }
    }

    /// The class index of a verdict word of this task (`praise`, `negative`, ...).
    pub(crate) fn class_of(self, word: &str) -> Option<usize> {
        (0..self.classes()).find(|&c| self.class_name(c) == word)
    }
}

/// One labelled example for training: its language, task, class index and text.
#[derive(Clone, Debug)]
pub struct Example {
    pub lang: usize,
    pub task: Task,
    pub gold: usize,
    pub text: String,
}

/// How many times each of a team's examples (corrections, the mentions confirmed with them,
/// labelled files) counts against one bundled example in a model trained on both. On a public
/// set of brand tweets (complaint or not; the bundled model alone 0.736 macro-F1), labelled
/// files of 100 / 300 / 1,000 / 1,724 tweets gave 0.753 / 0.773 / 0.803 / 0.815 at three times
/// against 0.733 / 0.756 / 0.797 / 0.805 for the files alone; at once, the bundled examples
/// drowned 1,000 tweets (0.780), and five times was no better than three.
pub const TEAM_WEIGHT: u32 = 3;

/// What a team's model is trained on besides the team's own examples, and the model those
/// alone give: the bundled examples and [`Model::bundled`]. The base's examples are in every
/// fold's training and are never scored; the base model's answers on the team's examples are
/// what the new model must beat ([`ModelInfo::base_macro`]).
pub struct Base<'a> {
    pub examples: &'a [Example],
    pub model: &'a Model,
}

/// One language's model for one task.
#[derive(Clone)]
pub(crate) struct Head {
    lang: usize,
    task: Task,
    examples: usize,
    bias: [f32; K],
    dense: Vec<[f32; K]>,
    sparse: Vec<[f32; K]>,
    /// `sparse` as bfloat16 (the high half of each f32), what classifying reads: half the
    /// memory, so the weights a post touches come from the cache more often; the rounding is
    /// far below any weight that changes a verdict. Filled by [`Head::pack`].
    packed: Vec<[u16; K]>,
}

/// Facts about a model, stored with it and printed by `train`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ModelInfo {
    /// When it was trained (RFC 3339).
    pub created: String,
    /// Per language and task: how many examples trained it.
    pub heads: Vec<HeadInfo>,
    /// Cross-validated macro-F1 of the lexicon alone and with the model, on the same folds.
    pub cv: Vec<CvScore>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HeadInfo {
    pub lang: String,
    pub task: Task,
    pub examples: usize,
    /// Used when classifying: at least [`MIN_EXAMPLES`] examples, and the lexicons' label for
    /// at least [`AGREEMENT_FLOOR`] of them.
    pub active: bool,
}

/// Cross-validated scores for one language and task; `class` is "macro" for the average.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CvScore {
    pub lang: String,
    pub task: Task,
    pub class: String,
    pub lexicon: f64,
    pub model: f64,
    /// The base model's score on the same examples, when trained on a [`Base`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<f64>,
}

impl ModelInfo {
    /// The mean over languages of the cross-validated macro-F1 with the model: what
    /// retraining compares, so a worse model is never swapped in.
    pub fn cv_macro(&self) -> f64 {
        self.mean_macro(|c| c.model)
    }

    /// The mean over languages of the lexicons' own cross-validated macro-F1 on the same
    /// folds: what a first model has to beat.
    pub fn lexicon_macro(&self) -> f64 {
        self.mean_macro(|c| c.lexicon)
    }

    /// The mean over languages of the base model's macro-F1 on the same examples, when the
    /// model was trained on a [`Base`]: what a model must beat to replace the bundled one.
    pub fn base_macro(&self) -> Option<f64> {
        let any = self.cv.iter().any(|c| c.class == "macro");
        let all = self
            .cv
            .iter()
            .filter(|c| c.class == "macro")
            .all(|c| c.base.is_some());
        (any && all).then(|| self.mean_macro(|c| c.base.unwrap_or_default()))
    }

    /// The mean of one column of the macro rows; 0 when cross-validation left none.
    fn mean_macro(&self, column: fn(&CvScore) -> f64) -> f64 {
        let m: Vec<f64> = self
            .cv
            .iter()
            .filter(|c| c.class == "macro")
            .map(column)
            .collect();
        if m.is_empty() {
            0.0
        } else {
            m.iter().sum::<f64>() / m.len() as f64
        }
    }

    /// The languages with a head in use, comma-separated ("en,nl"); empty when none has
    /// enough examples.
    pub fn active_langs(&self) -> String {
        let mut langs: Vec<&str> = self
            .heads
            .iter()
            .filter(|h| h.active)
            .map(|h| h.lang.as_str())
            .collect();
        langs.dedup();
        langs.join(",")
    }

    /// Examples the model was trained on, over all heads.
    pub fn examples(&self) -> usize {
        self.heads.iter().map(|h| h.examples).sum()
    }
}

/// A trained model: heads by language and task, plus what is known about them.
#[derive(Clone)]
pub struct Model {
    pub info: ModelInfo,
    heads: Vec<Head>,
    /// Per language table, the packed weights of its active label head and polarity head side
    /// by side, `[label; K]` then `[polarity; K]` (zero where a head is missing): a feature's
    /// weights for both heads are one 16-byte read, within one cache line.
    joined: Vec<Option<Vec<[u16; 2 * K]>>>,
    /// Per language table, [`cache::leads`] of `joined`: labels and margins.
    leads: Vec<Option<(Vec<u8>, Vec<f32>)>>,
    /// Tells this model's entries in the per-word cache from another's; a clone has the same
    /// weights, so it keeps the id.
    id: u64,
}

/// The next [`Model::id`].
static NEXT_MODEL_ID: AtomicU64 = AtomicU64::new(1);

impl Model {
    fn new(info: ModelInfo, heads: Vec<Head>) -> Model {
        let mut model = Model {
            info,
            heads,
            joined: Vec::new(),
            leads: Vec::new(),
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
        };
        let langs = model.heads.iter().map(|h| h.lang + 1).max().unwrap_or(0);
        model.joined = (0..langs)
            .map(|lang| {
                let label = model.head(lang, Task::Label);
                let polarity = model.head(lang, Task::Polarity);
                (label.is_some() || polarity.is_some()).then(|| {
                    (0..BUCKETS)
                        .map(|b| {
                            let mut w = [0u16; 2 * K];
                            if let Some(p) = label.and_then(|h| h.packed.get(b)) {
                                w[..K].copy_from_slice(p);
                            }
                            if let Some(p) = polarity.and_then(|h| h.packed.get(b)) {
                                w[K..].copy_from_slice(p);
                            }
                            w
                        })
                        .collect()
                })
            })
            .collect();
        model.leads = model
            .joined
            .iter()
            .map(|j| j.as_deref().map(cache::leads))
            .collect();
        model
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.info).finish()
    }
}

impl Head {
    fn new(lang: usize, task: Task) -> Head {
        let mut dense = vec![[0f32; K]; DENSE];
        // Start as the lexicon: its label (or polarity) one-hot votes for the same class.
        let offset = match task {
            Task::Label => 0,
            Task::Polarity => 4,
        };
        for c in 0..task.classes() {
            dense[offset + c][c] = PRIOR;
        }
        Head {
            lang,
            task,
            examples: 0,
            bias: [0.0; K],
            dense,
            sparse: vec![[0f32; K]; BUCKETS],
            packed: Vec::new(),
        }
    }

    /// Fills `packed` from the trained weights, rounding to the nearest bfloat16.
    fn pack(&mut self) {
        let bf16 = |x: f32| {
            let b = x.to_bits();
            (b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16) as u16
        };
        self.packed = self.sparse.iter().map(|w| w.map(bf16)).collect();
    }

    /// The packed weights of bucket `b`.
    #[inline]
    fn weights(&self, b: u32) -> [f32; K] {
        self.packed[b as usize].map(|h| f32::from_bits(u32::from(h) << 16))
    }

    /// The scores of a text while training, from the live f32 weights.
    fn scores_live(&self, feats: &[Feat], d: &[f32; DENSE], scale: f32) -> [f32; K] {
        let mut s = self.dense_scores(d);
        for f in feats {
            let w = &self.sparse[f.bucket as usize];
            for c in 0..K {
                s[c] += scale * w[c];
            }
        }
        self.mask(s)
    }

    fn dense_scores(&self, d: &[f32; DENSE]) -> [f32; K] {
        let mut s = self.bias;
        for (j, &x) in d.iter().enumerate() {
            if x != 0.0 {
                for (sc, w) in s.iter_mut().zip(&self.dense[j]) {
                    *sc += x * w;
                }
            }
        }
        s
    }

    fn mask(&self, mut s: [f32; K]) -> [f32; K] {
        for v in s.iter_mut().skip(self.task.classes()) {
            *v = f32::NEG_INFINITY;
        }
        s
    }

    /// The scores of a text whose features' packed weights add up to `sum`: what classifying
    /// sees.
    #[inline]
    fn scores_summed(&self, d: &[f32; DENSE], scale: f32, sum: &[f32; K]) -> [f32; K] {
        let mut s = self.dense_scores(d);
        for c in 0..K {
            s[c] += scale * sum[c];
        }
        self.mask(s)
    }

    /// The scores of a text with the packed weights: what the report's cross-validation sees.
    #[inline]
    fn scores(&self, feats: &[Feat], d: &[f32; DENSE], scale: f32) -> [f32; K] {
        let mut s = self.dense_scores(d);
        for f in feats {
            let w = self.weights(f.bucket);
            for c in 0..K {
                s[c] += scale * w[c];
            }
        }
        self.mask(s)
    }
}

fn softmax(s: &mut [f32; K]) {
    let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in s.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    for v in s.iter_mut() {
        *v /= sum;
    }
}

fn argmax(s: &[f32; K], k: usize) -> usize {
    (0..k).fold(0, |best, c| if s[c] > s[best] { c } else { best })
}

/// Features are scaled so a long post does not outvote the lexicon by length alone.
fn feat_scale(n: usize) -> f32 {
    1.0 / (n.max(1) as f32).sqrt()
}

/// A prepared training row. `lexicon` is the lexicon's own answer and `base` the base
/// model's (team rows trained on a [`Base`]), for the report.
struct Row {
    feats: Vec<u32>,
    dense: [f32; DENSE],
    gold: usize,
    lexicon: usize,
    weight: u32,
    base: Option<usize>,
}

impl Row {
    /// The row's hashed features as `out`, in the form heads score.
    fn features(&self, out: &mut Vec<Feat>) {
        out.clear();
        out.extend(self.feats.iter().map(|&b| Feat {
            bucket: b,
            start: 0,
            end: 0,
            kind: 0,
        }));
    }

    /// Prepares `e`, which the lexicons classified as `v`, to count once; `base` gives the
    /// base model's answer.
    fn new(e: &Example, v: &Classification, base: Option<&Model>, buf: &mut String) -> Row {
        let mut fs = Vec::new();
        extract(&e.text, v, &mut fs, buf);
        let answer = |v: &Classification| match e.task {
            Task::Label => Label::ALL.iter().position(|l| *l == v.label).unwrap_or(3),
            Task::Polarity => Polarity::ALL
                .iter()
                .position(|p| *p == v.polarity)
                .unwrap_or(2),
        };
        let base = base.map(|m| {
            let mut with = v.clone();
            m.apply(&e.text, Some(e.lang), &mut with);
            answer(&with)
        });
        Row {
            feats: fs.iter().map(|f| f.bucket).collect(),
            dense: dense(v),
            gold: e.gold,
            lexicon: answer(v),
            weight: 1,
            base,
        }
    }
}

/// The rows of one language and task: the base's, then the team's.
type Rows = ((usize, Task), Vec<Row>, Vec<Row>);

/// Trains one head on `rows` by SGD with class weights, each row as often as its weight.
fn train_head(lang: usize, task: Task, rows: &[&Row], seed: u64) -> Head {
    let mut head = Head::new(lang, task);
    head.examples = rows.len();
    let k = task.classes();
    let mut counts = [0usize; K];
    for r in rows {
        counts[r.gold] += r.weight as usize;
    }
    let weighted: usize = counts.iter().sum();
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    let cw: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                weighted as f32 / (present * c) as f32
            }
        })
        .collect();
    let prior = head.dense.clone();
    // A row of weight w is seen w times an epoch, as if it were in the data w times.
    let mut order: Vec<usize> = (0..rows.len())
        .flat_map(|i| std::iter::repeat_n(i, rows[i].weight as usize))
        .collect();
    let mut rng = seed | 1;
    let epochs = 12;
    let lambda = 1e-4f32;
    let mut feats: Vec<Feat> = Vec::new();
    for epoch in 0..epochs {
        // Fisher–Yates with xorshift: the same data always gives the same model.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        // A step of 1.0 (halved by the second epoch) beat 0.5, 0.25, 1.5, 2.0 and 4.0 on two
        // public sets of real posts (airline tweets by polarity, brand tweets complaint or not),
        // from 100 corrections to 7,000, and left the development sets as they were.
        let lr = 1.0 / (1.0 + epoch as f32);
        for &i in &order {
            let r = rows[i];
            r.features(&mut feats);
            let scale = feat_scale(feats.len());
            let mut p = head.scores_live(&feats, &r.dense, scale);
            softmax(&mut p);
            let w = cw[r.gold];
            for c in 0..k {
                let g = w * (p[c] - if c == r.gold { 1.0 } else { 0.0 });
                head.bias[c] -= lr * 0.1 * g;
                for (j, &x) in r.dense.iter().enumerate() {
                    if x != 0.0 {
                        let wd = &mut head.dense[j][c];
                        // Pulled back toward the lexicon, not toward zero.
                        *wd -= lr * (g * x + lambda * 10.0 * (*wd - prior[j][c]));
                    }
                }
                for &b in &r.feats {
                    let ws = &mut head.sparse[b as usize][c];
                    *ws -= lr * (g * scale + lambda * *ws);
                }
            }
        }
    }
    head.pack();
    head
}

/// Progress of a long `train`: called with (done, total) after each fold and head.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Trains a model on `examples`, with a `folds`-fold cross-validation report comparing the
/// lexicon alone and lexicon + model on the same folds. `lexicon` classifies a text.
pub fn train(
    examples: &[Example],
    lexicon: &dyn Fn(&str, usize) -> Classification,
    folds: usize,
    progress: Progress,
) -> Model {
    train_on(examples, None, lexicon, folds, progress)
}

/// [`train`] on `examples` and the `base`'s: the base examples are in every fold's training
/// and never scored, so the report (and the score a model is judged by) is the team's
/// examples', and the base model's answers on them are scored beside the lexicons'. Each of
/// `examples` counts [`TEAM_WEIGHT`] times.
pub fn train_on(
    examples: &[Example],
    base: Option<&Base>,
    lexicon: &dyn Fn(&str, usize) -> Classification,
    folds: usize,
    progress: Progress,
) -> Model {
    let mut buf = String::new();
    let mut groups: Vec<Rows> = Vec::new();
    let base_examples = base.map_or(&[][..], |b| b.examples);
    let tagged =
        (base_examples.iter().map(|e| (e, false))).chain(examples.iter().map(|e| (e, true)));
    for (e, team) in tagged {
        let v = lexicon(&e.text, e.lang);
        let row = Row::new(e, &v, base.filter(|_| team).map(|b| b.model), &mut buf);
        let at = match groups.iter().position(|(k, _, _)| *k == (e.lang, e.task)) {
            Some(at) => at,
            None => {
                groups.push(((e.lang, e.task), Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        if team {
            groups[at].2.push(row)
        } else {
            groups[at].1.push(row)
        }
    }
    // Weighed against the base's rows; where there are none (a polarity head), once.
    for (_, _, rows) in groups.iter_mut().filter(|(_, b, _)| !b.is_empty()) {
        rows.iter_mut().for_each(|r| r.weight = TEAM_WEIGHT);
    }
    groups.sort_by_key(|((l, t), _, _)| (*l, *t == Task::Polarity));
    let total = (groups.len() * (folds + 1)) as u64;
    let mut done = 0u64;
    let mut heads = Vec::new();
    let mut info = ModelInfo {
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ..ModelInfo::default()
    };
    for ((lang, task), base_rows, rows) in &groups {
        let all: Vec<&Row> = base_rows.iter().chain(rows).collect();
        let agree = all.iter().filter(|r| r.lexicon == r.gold).count();
        let contradicts = (agree as f64) < AGREEMENT_FLOOR * all.len() as f64;
        // On a base, a team with fewer examples than folds is measured one left out at a time
        // (each fold learns the base's rows anyway), so a model of a few corrections is still
        // judged against the base model before it is put in use.
        let measured_in = if base_rows.is_empty() {
            folds
        } else {
            folds.min(rows.len())
        };
        if measured_in >= 2 && rows.len() >= measured_in {
            let model_pred =
                cross_validate((*lang, *task), base_rows, rows, measured_in, !contradicts);
            info.cv
                .extend(cv_scores(LANGS[*lang], *task, rows, &model_pred));
        }
        done += folds as u64;
        progress(done, total);
        // A contradicting head is not kept at all, so no file or database carries it.
        if !contradicts {
            heads.push(train_head(*lang, *task, &all, 0x5151_5151));
        }
        info.heads.push(HeadInfo {
            lang: LANGS[*lang].to_string(),
            task: *task,
            examples: all.len(),
            active: all.len() >= MIN_EXAMPLES && !contradicts,
        });
        done += 1;
        progress(done, total);
    }
    Model::new(info, heads)
}

/// The model's answer for each of `rows` from `folds` heads, each trained on the base's rows
/// and the other folds' (folds on the machine's cores). `usable`: the group's head may be used
/// at all; where it may not, or a fold has too few rows, the lexicon's answer stands.
fn cross_validate(
    (lang, task): (usize, Task),
    base_rows: &[Row],
    rows: &[Row],
    folds: usize,
    usable: bool,
) -> Vec<usize> {
    let answers = crate::parallel::in_parts((0..folds).collect(), 2, |part: Vec<usize>| {
        part.into_iter()
            .flat_map(|f| {
                let train_rows: Vec<&Row> = (base_rows.iter())
                    .chain(
                        rows.iter()
                            .enumerate()
                            .filter(|(i, _)| i % folds != f)
                            .map(|(_, r)| r),
                    )
                    .collect();
                let head = train_head(lang, task, &train_rows, 0x9E37_79B9 + f as u64);
                let used = usable && train_rows.len() >= MIN_EXAMPLES;
                let mut feats = Vec::new();
                (rows.iter().enumerate().filter(|(i, _)| i % folds == f))
                    .map(|(i, r)| {
                        if !used {
                            return (i, r.lexicon);
                        }
                        r.features(&mut feats);
                        let s = head.scores(&feats, &r.dense, feat_scale(feats.len()));
                        (i, argmax(&s, task.classes()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let mut pred = vec![0; rows.len()];
    for (i, p) in answers {
        pred[i] = p;
    }
    pred
}

/// The cross-validation report of one language and task: macro and per-class F1 of the
/// lexicon, the model (`model_pred`) and, where the rows have them, the base model.
fn cv_scores(lang: &str, task: Task, rows: &[Row], model_pred: &[usize]) -> Vec<CvScore> {
    let k = task.classes();
    let gold: Vec<usize> = rows.iter().map(|r| r.gold).collect();
    let lex_pred: Vec<usize> = rows.iter().map(|r| r.lexicon).collect();
    let base_pred: Option<Vec<usize>> = rows.iter().map(|r| r.base).collect();
    let (lm, lc) = f1s(&gold, &lex_pred, k);
    let (mm, mc) = f1s(&gold, model_pred, k);
    let (bm, bc) = match &base_pred {
        Some(b) => {
            let (m, c) = f1s(&gold, b, k);
            (Some(m), c)
        }
        None => (None, vec![None; k]),
    };
    let mut out = vec![CvScore {
        lang: lang.to_string(),
        task,
        class: "macro".into(),
        lexicon: lm,
        model: mm,
        base: bm,
    }];
    for c in 0..k {
        if let (Some(l), Some(m)) = (lc[c], mc[c]) {
            out.push(CvScore {
                lang: lang.to_string(),
                task,
                class: task.class_name(c).into(),
                lexicon: l,
                model: m,
                base: bc[c],
            });
        }
    }
    out
}

/// Macro-F1 over the classes that occur in `gold`, and each class's F1 (None if absent).
fn f1s(gold: &[usize], pred: &[usize], k: usize) -> (f64, Vec<Option<f64>>) {
    let mut per = vec![None; k];
    for (c, slot) in per.iter_mut().enumerate() {
        let support = gold.iter().filter(|&&g| g == c).count();
        if support == 0 {
            continue;
        }
        let tp = gold
            .iter()
            .zip(pred)
            .filter(|(g, p)| **g == c && **p == c)
            .count() as f64;
        let predicted = pred.iter().filter(|&&p| p == c).count() as f64;
        let prec = if predicted > 0.0 { tp / predicted } else { 0.0 };
        let rec = tp / support as f64;
        *slot = Some(if prec + rec > 0.0 {
            2.0 * prec * rec / (prec + rec)
        } else {
            0.0
        });
    }
    let present: Vec<f64> = per.iter().flatten().copied().collect();
    let m = if present.is_empty() {
        0.0
    } else {
        present.iter().sum::<f64>() / present.len() as f64
    };
    (m, per)
}

impl Model {
    /// The head for a language and task, if it has enough examples to be used.
    fn head(&self, lang: usize, task: Task) -> Option<&Head> {
        self.heads
            .iter()
            .find(|h| h.lang == lang && h.task == task && h.examples >= MIN_EXAMPLES)
    }

    /// Overrides the lexicon verdict `out` (already scored, in language table `lang`) with the
    /// model's where this language has a head, and adds the features that decided it as
    /// reasons of kind "model", with their weights.
    pub(crate) fn apply(&self, text: &str, lang: Option<usize>, out: &mut Classification) {
        let Some((lang, heads)) = self.heads_for(lang) else {
            return;
        };
        SCRATCH.with(|cell| {
            let scratch = &mut *cell.borrow_mut();
            let sum = cache::gather(
                self.id,
                lang,
                &heads,
                text,
                out,
                &mut scratch.groups,
                &mut scratch.buf,
            );
            decide(&heads, &sum, &scratch.groups, text, out);
        });
    }

    /// [`apply`](Self::apply) without the per-word cache: every feature extracted and read on
    /// its own. The reference the cache is tested against.
    #[cfg(test)]
    pub(crate) fn apply_uncached(&self, text: &str, lang: Option<usize>, out: &mut Classification) {
        let Some((_, heads)) = self.heads_for(lang) else {
            return;
        };
        let (mut feats, mut buf, mut groups) = (Vec::new(), String::new(), Vec::new());
        extract(text, out, &mut feats, &mut buf);
        let sum = cache::gather_features(&heads, &feats, &mut groups);
        decide(&heads, &sum, &groups, text, out);
    }

    /// The heads a text in language table `lang` is scored with, if it has any.
    fn heads_for(&self, lang: Option<usize>) -> Option<(usize, Heads<'_>)> {
        let lang = lang?;
        let joined = self.joined.get(lang)?.as_deref()?.try_into().ok()?;
        let (leads, margins) = self.leads.get(lang)?.as_ref()?;
        let heads = Heads {
            label: self.head(lang, Task::Label),
            polarity: self.head(lang, Task::Polarity),
            joined,
            leads: leads.as_slice().try_into().ok()?,
            margins: margins.as_slice().try_into().ok()?,
        };
        Some((lang, heads))
    }

    /// The model webcare ships, used where no other is chosen (see
    /// [`crate::classify::retrain::default_model`]): trained with `webcare train --no-bundled
    /// --from fixtures/eval/fresh.tsv --out config/model/bundled.bin` on the embedded lexicons. On
    /// blind posts it reads about 0.05 macro-F1 better than the lexicons alone (README). Decoded
    /// once per process; `None`, logged once, should it ever fail to decode.
    pub fn bundled() -> Option<Arc<Model>> {
        static BUNDLED: OnceLock<Option<Arc<Model>>> = OnceLock::new();
        BUNDLED
            .get_or_init(|| {
                let bytes = include_bytes!("../../config/model/bundled.bin");
                match Model::decode(bytes, "the bundled model") {
                    Ok(m) => Some(Arc::new(m)),
                    Err(e) => {
                        tracing::error!("{e}; classifying with the lexicons alone");
                        None
                    }
                }
            })
            .clone()
    }

    /// Reads a model file. An unreadable, damaged or older-format file is an error naming it.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Model::from_bytes(&bytes).map_err(|e| match e {
            Decode::Corrupt(why) => ModelError::Corrupt {
                path: path.to_path_buf(),
                why,
            },
            Decode::Format(found) => ModelError::Incompatible {
                path: path.to_path_buf(),
                found,
            },
        })
    }

    /// Reads a model from bytes stored elsewhere (the database); `name` says where in errors.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Model, ModelError> {
        Model::from_bytes(bytes).map_err(|e| match e {
            Decode::Corrupt(why) => ModelError::Corrupt {
                path: PathBuf::from(name),
                why,
            },
            Decode::Format(found) => ModelError::Incompatible {
                path: PathBuf::from(name),
                found,
            },
        })
    }

    /// Writes the model to `path` (through a temporary file, so a crash leaves the old one).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&self.to_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The model as bytes: magic, format, JSON info, then each head with only its non-zero
    /// buckets.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        let info = serde_json::to_vec(&self.info).unwrap_or_default();
        out.extend_from_slice(&(info.len() as u32).to_le_bytes());
        out.extend_from_slice(&info);
        out.extend_from_slice(&(self.heads.len() as u32).to_le_bytes());
        for h in &self.heads {
            out.push(h.lang as u8);
            out.push(u8::from(h.task == Task::Polarity));
            out.extend_from_slice(&(h.examples as u32).to_le_bytes());
            let floats = h.bias.iter().chain(h.dense.iter().flatten());
            for v in floats {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let used: Vec<usize> = (0..BUCKETS)
                .filter(|&b| h.sparse[b].iter().any(|w| *w != 0.0))
                .collect();
            out.extend_from_slice(&(used.len() as u32).to_le_bytes());
            for b in used {
                out.extend_from_slice(&(b as u32).to_le_bytes());
                for v in h.sparse[b] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Model, Decode> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(Decode::Corrupt(
                "it does not start with webcare's model header".into(),
            ));
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(Decode::Format(format));
        }
        let n = r.u32()? as usize;
        let info: ModelInfo = serde_json::from_slice(r.take(n)?)
            .map_err(|e| Decode::Corrupt(format!("its description is not valid: {e}")))?;
        let heads_n = r.u32()? as usize;
        if heads_n > 2 * LANGS.len() {
            return Err(Decode::Corrupt(format!("{heads_n} heads")));
        }
        let mut heads = Vec::new();
        for _ in 0..heads_n {
            let lang = r.take(1)?[0] as usize;
            let task = match r.take(1)?[0] {
                0 => Task::Label,
                1 => Task::Polarity,
                t => return Err(Decode::Corrupt(format!("unknown task {t}"))),
            };
            if lang >= LANGS.len() {
                return Err(Decode::Corrupt(format!("unknown language {lang}")));
            }
            let mut h = Head::new(lang, task);
            h.examples = r.u32()? as usize;
            for v in h.bias.iter_mut() {
                *v = r.f32()?;
            }
            for row in h.dense.iter_mut() {
                for v in row.iter_mut() {
                    *v = r.f32()?;
                }
            }
            let used = r.u32()? as usize;
            if used > BUCKETS {
                return Err(Decode::Corrupt(format!("{used} weights")));
            }
            for _ in 0..used {
                let b = r.u32()? as usize;
                let slot = h
                    .sparse
                    .get_mut(b)
                    .ok_or_else(|| Decode::Corrupt(format!("weight index {b} out of range")))?;
                for v in slot.iter_mut() {
                    *v = r.f32()?;
                }
            }
            h.pack();
            heads.push(h);
        }
        if r.at != bytes.len() {
            return Err(Decode::Corrupt(format!(
                "{} bytes after the end",
                bytes.len() - r.at
            )));
        }
        if heads
            .iter()
            .flat_map(|h| {
                h.bias
                    .iter()
                    .chain(h.dense.iter().flatten())
                    .chain(h.sparse.iter().flatten())
                    .copied()
                    .chain((0..BUCKETS as u32).flat_map(|b| h.weights(b)))
            })
            .any(|v| !v.is_finite())
        {
            return Err(Decode::Corrupt("weights that are not numbers".into()));
        }
        Ok(Model::new(info, heads))
    }
}

enum Decode {
    Corrupt(String),
    Format(u32),
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Decode> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| Decode::Corrupt("it ends too early".into()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, Decode> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn f32(&mut self) -> Result<f32, Decode> {
        Ok(f32::from_bits(self.u32()?))
    }
}

/// Buffers for classifying with a model, kept per thread so a warm thread does not allocate.
#[derive(Default)]
struct Scratch {
    groups: Vec<Group>,
    buf: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Turns the summed feature weights `sum` (and the lexicon verdict already in `out`) into the
/// model's label and polarity, with the groups that pushed hardest as reasons.
fn decide(heads: &Heads<'_>, sum: &Sum, groups: &[Group], text: &str, out: &mut Classification) {
    let d = dense(out);
    let scale = feat_scale(sum.n as usize);
    if let Some(h) = heads.label {
        let s = h.scores_summed(&d, scale, &sum.label);
        let mut c = argmax(&s, 4);
        // The lexicons' readings of the whole post (it reads as an article, it is the brand's
        // own reply) see its shape, which words do not show: a model trained on short posts
        // turned a news report of an outage, headline and all, into a complaint.
        let asks_staff = matches!(Label::ALL[c], Label::Complaint | Label::Question);
        if asks_staff && out.reasons.iter().any(|r| r.kind == "news") {
            c = Label::ALL.iter().position(|l| *l == out.label).unwrap_or(c);
        }
        let label = Label::ALL[c];
        if label != out.label {
            if matches!(label, Label::Praise | Label::Neutral) {
                out.urgency = Urgency::Normal;
                out.urgency_reasons.clear();
            }
            out.label = label;
        }
        push_reasons(heads, h, c, groups, scale, text, out);
    }
    if let Some(h) = heads.polarity {
        let mut s = h.scores_summed(&d, scale, &sum.polarity);
        let c = argmax(&s, 3);
        let pol = Polarity::ALL[c];
        if pol != out.polarity {
            softmax(&mut s);
            // Keep the sentiment's strength, with the model's sign.
            out.sentiment = match pol {
                Polarity::Positive => out.sentiment.abs().max(0.1 + 0.5 * (s[0] - s[1]).max(0.0)),
                Polarity::Negative => -out.sentiment.abs().max(0.1 + 0.5 * (s[1] - s[0]).max(0.0)),
                Polarity::Neutral => 0.0,
            };
            out.polarity = pol;
        }
    }
}

/// The three words, word pairs or cues that pushed hardest toward the chosen class `c`, as
/// reasons with their weights.
fn push_reasons(
    heads: &Heads<'_>,
    h: &Head,
    c: usize,
    groups: &[Group],
    scale: f32,
    text: &str,
    out: &mut Classification,
) {
    let mut top: [(f32, usize); 3] = [(0.0, usize::MAX); 3];
    // The weakest of the three, all a group is compared with until it makes the three: the
    // loop keeps one number, not the three, in registers.
    let mut floor = top[2].0;
    for (i, g) in groups.iter().enumerate() {
        // A group pushes toward `c` only when `c` is the label it leads with.
        let margin = if g.lead.label == Lead::LATER.label {
            match heads.margin(g.key as u32, c) {
                Some(m) => m,
                None => continue,
            }
        } else if usize::from(g.lead.label) == c {
            g.lead.margin
        } else {
            continue;
        };
        let push = scale * margin;
        if push > floor {
            into_top(&mut top, push, i);
            floor = top[2].0;
        }
    }
    for &(push, i) in top.iter().filter(|t| t.1 != usize::MAX && t.0 >= 0.01) {
        let g = groups[i];
        let (s, e) = (g.start as usize, g.end as usize);
        let what = match g.kind {
            KIND_WORD => "word",
            KIND_BIGRAM => "word pair",
            _ => "cue",
        };
        // A spare reason's strings are reused: no allocation once the thread is warm.
        let mut r = super::spare_reason();
        r.kind = Cow::Borrowed("model");
        let mut cue = match std::mem::take(&mut r.cue) {
            Cow::Owned(s) => s,
            Cow::Borrowed(_) => super::spare_cue(),
        };
        cue.clear();
        cue.push_str(what);
        cue.push_str(" → ");
        cue.push_str(h.task.class_name(c));
        cue.push(' ');
        push_weight(&mut cue, push);
        r.cue = Cow::Owned(cue);
        r.text.clear();
        r.text.push_str(text.get(s..e).unwrap_or_default());
        r.start = s;
        r.end = e;
        out.reasons.push(r);
    }
}

/// Puts group `i`, pushing `push` (more than the weakest of `top`), into its place among the
/// three strongest, after any as strong (first found wins a tie). Rare next to the groups
/// that do not make the three, so kept out of their loop.
#[inline(never)]
fn into_top(top: &mut [(f32, usize); 3], push: f32, i: usize) {
    if push > top[1].0 {
        top[2] = top[1];
        if push > top[0].0 {
            top[1] = top[0];
            top[0] = (push, i);
        } else {
            top[1] = (push, i);
        }
    } else {
        top[2] = (push, i);
    }
}

/// The English development set as label examples: what tests train their models on.
#[cfg(test)]
pub(crate) fn english_dev_examples() -> Vec<Example> {
    let dev = include_str!("../../fixtures/eval/en.tsv");
    dev.lines()
        .skip(1)
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            let (_, label, text) = (p.next()?, p.next()?, p.next()?);
            Some(Example {
                lang: 0,
                task: Task::Label,
                gold: Label::ALL.iter().position(|x| x.as_str() == label)?,
                text: text.to_string(),
            })
        })
        .collect()
}

/// Appends the decimal digits of `n` to `out`, as `{n}` formats it.
fn push_digits(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// Appends `x` to `out` exactly as `format!("{x:+.2}")` writes it (sign, two decimals, the
/// exact binary value rounded half to even), without the formatting machinery: a model reason
/// shows three weights per mention, and general float formatting cost more than the rest of
/// the reason.
fn push_weight(out: &mut String, x: f32) {
    let bits = x.to_bits();
    let biased = (bits >> 23) & 0xFF;
    // Infinities, NaN and values of 2^23 or more (never a reason's weight) take the long way.
    if biased >= 150 {
        let _ = write!(out, "{x:+.2}");
        return;
    }
    let frac = u64::from(bits & 0x7F_FFFF);
    // |x| = m * 2^-shift exactly, with m below 2^24 and shift at least 1.
    let (m, shift) = if biased == 0 {
        (frac, 149)
    } else {
        (frac | 0x80_0000, 150 - biased)
    };
    // Below 2^31, so the arithmetic fits 64 bits.
    let scaled = m * 100;
    let cents = if shift >= 33 {
        // Below 2^-2 cents (half is at least 2^32): rounds to zero.
        0
    } else {
        let q = scaled >> shift;
        let rest = scaled - (q << shift);
        let half = 1u64 << (shift - 1);
        if rest > half || (rest == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    out.push(if bits >> 31 == 1 { '-' } else { '+' });
    // Below 2^23 * 100 cents: fits a u32.
    let (whole, part) = ((cents / 100) as u32, (cents % 100) as u8);
    push_digits(out, whole);
    out.push('.');
    out.push(char::from(b'0' + part / 10));
    out.push(char::from(b'0' + part % 10));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, Input};

    #[test]
    fn a_post_the_lexicons_read_as_an_article_stays_news_with_a_model() {
        let lexicons = Classifier::embedded();
        let bundled = lexicons.clone().with_model(Model::bundled().unwrap());
        // Headline and body, joined as a feed item's are.
        let report = Input {
            headline: true,
            ..Input::new(
                "Storing bij Fjordlink in Amsterdam na zes uur verholpen. Duizenden huishoudens \
                 in Amsterdam-West en Nieuw-West zaten donderdag zonder internet en tv door een \
                 storing bij Fjordlink. Volgens de provider was een defecte switch de oorzaak ...",
            )
        };
        let alone = lexicons.classify(&report);
        assert_eq!(alone.label, Label::Neutral, "{:?}", alone.reasons);
        assert!(alone.reasons.iter().any(|r| r.kind == "news"));
        let with = bundled.classify(&report);
        assert_eq!(with.label, Label::Neutral, "{:?}", with.reasons);
        assert_eq!(with.urgency, alone.urgency);
        // The same words told by a customer are still the model's to judge.
        let customer = Input::new("Weer een storing, al zes uur zonder internet en tv @Fjordlink");
        assert_eq!(bundled.classify(&customer).label, Label::Complaint);
    }

    /// `fixtures/eval/blind.tsv` holds two blind rounds (37 and 38, 480 posts) that neither
    /// the lexicons' cues nor the bundled model ever learned from: what it is there for.
    #[test]
    fn the_bundled_model_reads_posts_it_never_saw_better_than_the_lexicons_alone() {
        let blind =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval/blind.tsv");
        let text = |line: &str| line.splitn(3, '\t').nth(2).unwrap_or_default().to_string();
        let trained: std::collections::HashSet<String> =
            include_str!("../../fixtures/eval/fresh.tsv")
                .lines()
                .map(text)
                .collect();
        let seen = std::fs::read_to_string(&blind).unwrap();
        let seen: Vec<String> = seen
            .lines()
            .skip(1)
            .map(text)
            .filter(|t| trained.contains(t))
            .collect();
        assert!(
            seen.is_empty(),
            "blind posts the model was trained on: {seen:?}"
        );

        let lexicons = Classifier::embedded();
        let bundled = lexicons.clone().with_model(Model::bundled().unwrap());
        let alone = crate::classify::run_eval(&lexicons, &blind, Vec::new()).unwrap();
        let with = crate::classify::run_eval(&bundled, &blind, Vec::new()).unwrap();
        for lang in ["en", "nl", "da"] {
            let (a, b) = (alone.lang(lang).unwrap(), with.lang(lang).unwrap());
            assert_eq!(a.n, 160);
            assert!(
                b.macro_f1 >= a.macro_f1 + 0.02,
                "{lang}: lexicons alone {:.3}, with the bundled model {:.3}",
                a.macro_f1,
                b.macro_f1
            );
        }
    }

    #[test]
    fn a_model_trained_on_a_base_learns_the_team_and_is_scored_on_the_team_alone() {
        let (c, base_model) = trained();
        let lex = |t: &str, l: usize| c.classify_lexicon(t, l);
        let dev = examples();
        let complaint = Label::ALL
            .iter()
            .position(|l| *l == Label::Complaint)
            .unwrap();
        let post = |room: &str, when: &str| {
            format!("The box in the {room} shows a blinking orange light since {when}")
        };
        let mut team = Vec::new();
        for room in [
            "kitchen", "attic", "garage", "study", "garden", "office", "loft",
        ] {
            for when in ["noon", "yesterday", "Monday", "this morning", "last night"] {
                team.push(Example {
                    lang: 0,
                    task: Task::Label,
                    gold: complaint,
                    text: post(room, when),
                });
            }
        }
        let base = Base {
            examples: &dev,
            model: &base_model,
        };
        let m = train_on(&team, Some(&base), &lex, 5, &|_, _| {});
        // Trained on both, scored on the team's posts alone, beside the base model.
        assert_eq!(m.info.examples(), dev.len() + team.len());
        let macro_rows: Vec<&CvScore> = m.info.cv.iter().filter(|s| s.class == "macro").collect();
        assert_eq!(macro_rows.len(), 1, "{:?}", m.info.cv);
        assert!(macro_rows[0].base.is_some() && m.info.base_macro().is_some());
        // A post like the team's that the base model misreads, the new model reads as taught.
        let unseen = post("cellar", "Friday");
        let read = |model: &Model| {
            let mut v = c.classify_lexicon(&unseen, 0);
            model.apply(&unseen, Some(0), &mut v);
            v.label
        };
        assert_ne!(read(&base_model), Label::Complaint);
        assert_eq!(read(&m), Label::Complaint);
        // A few corrections are measured too, one left out at a time.
        let few = train_on(&team[..3], Some(&base), &lex, 5, &|_, _| {});
        assert!(few.info.base_macro().is_some(), "{:?}", few.info.cv);
        // Trained without a base, the report has no bundled column.
        let alone = train(&dev, &lex, 5, &|_, _| {});
        assert_eq!(alone.info.base_macro(), None);
    }

    #[test]
    fn the_bundled_model_is_trained_on_every_labelled_post_of_fresh_tsv() {
        let m = Model::bundled().expect("config/model/bundled.bin decodes");
        let mut posts = std::collections::BTreeMap::<String, usize>::new();
        for line in include_str!("../../fixtures/eval/fresh.tsv")
            .lines()
            .skip(1)
        {
            let lang = line.split('\t').next().unwrap_or_default();
            *posts.entry(lang.to_string()).or_default() += 1;
        }
        let heads: std::collections::BTreeMap<String, usize> = m
            .info
            .heads
            .iter()
            .filter(|h| h.task == Task::Label && h.active)
            .map(|h| (h.lang.clone(), h.examples))
            .collect();
        assert_eq!(
            heads, posts,
            "train it again: webcare train --no-bundled --from fixtures/eval/fresh.tsv --out config/model/bundled.bin"
        );
    }

    #[test]
    fn weights_are_written_as_the_standard_formatting_writes_them() {
        let mut values = vec![
            0.0f32,
            -0.0,
            0.005,
            0.015,
            0.125,
            0.375,
            0.625,
            1.125,
            -2.675,
            99.995,
            1e-40,
            8_388_607.5,
            8_388_608.0,
            3.4e38,
            f32::INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
        ];
        // Every tie at two decimals below 20 (odd multiples of 1/8: an f32 holds no other),
        // and a spread of other values.
        values.extend((0..160).map(|i| (2 * i + 1) as f32 / 8.0));
        values.extend((0..8000).map(|i| i as f32 / 400.0 + 1.0 / 800.0));
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let x = f32::from_bits(rng as u32);
            values.push(x);
            values.push(x.fract() * 10.0);
        }
        let mut s = String::new();
        for x in values {
            s.clear();
            push_weight(&mut s, x);
            assert_eq!(s, format!("{x:+.2}"), "{x:e}");
        }
    }

    fn examples() -> Vec<Example> {
        english_dev_examples()
    }

    fn trained() -> (Classifier, Model) {
        let c = Classifier::embedded();
        let lex = |t: &str, l: usize| c.classify_lexicon(t, l);
        let m = train(&examples(), &lex, 0, &|_, _| {});
        (c, m)
    }

    #[test]
    fn a_saved_model_loads_and_predicts_the_same() {
        let (c, m) = trained();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.model");
        m.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.info, m.info);
        assert_eq!(loaded.to_bytes(), m.to_bytes());
        let a = c.clone().with_model(std::sync::Arc::new(m));
        let b = c.with_model(std::sync::Arc::new(loaded));
        for e in examples() {
            let input = Input::new(&e.text);
            assert_eq!(a.classify(&input), b.classify(&input), "{}", e.text);
        }
    }

    /// The development sets of all three languages, each row once for the label head and once
    /// for the polarity head (complaints negative, praise positive, the rest neutral).
    fn all_dev_examples() -> Vec<Example> {
        let sets = [
            include_str!("../../fixtures/eval/en.tsv"),
            include_str!("../../fixtures/eval/nl.tsv"),
            include_str!("../../fixtures/eval/da.tsv"),
        ];
        let mut out = Vec::new();
        for (lang, data) in sets.iter().enumerate() {
            for l in data.lines().skip(1) {
                let mut p = l.splitn(3, '\t');
                let (Some(_), Some(label), Some(text)) = (p.next(), p.next(), p.next()) else {
                    continue;
                };
                let Some(gold) = Label::ALL.iter().position(|x| x.as_str() == label) else {
                    continue;
                };
                let polarity = match Label::ALL[gold] {
                    Label::Complaint => Polarity::Negative,
                    Label::Praise => Polarity::Positive,
                    _ => Polarity::Neutral,
                };
                for (task, gold) in [
                    (Task::Label, gold),
                    (
                        Task::Polarity,
                        Polarity::ALL.iter().position(|p| *p == polarity).unwrap(),
                    ),
                ] {
                    out.push(Example {
                        lang,
                        task,
                        gold,
                        text: text.to_string(),
                    });
                }
            }
        }
        out
    }

    #[test]
    fn the_word_cache_gives_the_verdicts_of_reading_every_feature() {
        let c = Classifier::embedded();
        let lex = |t: &str, l: usize| c.classify_lexicon(t, l);
        let all = all_dev_examples();
        let m = train(&all, &lex, 0, &|_, _| {});
        // A second model on the same thread (English labels only, trained on half the rows)
        // must not read the first one's cached sums, nor the first the second's.
        let half: Vec<Example> = all
            .iter()
            .filter(|e| e.lang == 0 && e.task == Task::Label)
            .step_by(2)
            .cloned()
            .collect();
        let other = train(&half, &lex, 0, &|_, _| {});
        let (hits_before, _) = cache_counts();
        let mut changed = 0;
        // Besides the posts as they are: shouted (upper case, also outside ASCII), and with a
        // word longer than the 60 bytes n-grams are taken of, so every way a word is cut and
        // lower-cased is compared too.
        let variants: Vec<(usize, String)> = all
            .iter()
            .filter(|e| e.task == Task::Label)
            .flat_map(|e| {
                [
                    e.text.clone(),
                    e.text.to_uppercase(),
                    format!("{} Øresundsforbindelsens{}", e.text, "x".repeat(50)),
                ]
                .map(|t| (e.lang, t))
            })
            .collect();
        // The first pass fills the cache, the second reads from it.
        for _ in 0..2 {
            for (lang, text) in &variants {
                let e = Example {
                    lang: *lang,
                    task: Task::Label,
                    gold: 0,
                    text: text.clone(),
                };
                let v = c.classify_lexicon(&e.text, e.lang);
                for model in [&m, &other] {
                    let (mut cached, mut read_all) = (v.clone(), v.clone());
                    model.apply(&e.text, Some(e.lang), &mut cached);
                    model.apply_uncached(&e.text, Some(e.lang), &mut read_all);
                    assert_eq!(cached, read_all, "{}", e.text);
                    changed +=
                        usize::from(cached.label != v.label || cached.polarity != v.polarity);
                }
            }
        }
        // The models do change verdicts, so the comparison above compared something.
        assert!(changed > 20, "{changed}");
        let (hits, _) = cache_counts();
        assert!(
            hits > hits_before,
            "the second pass found no word in the cache"
        );
    }

    #[test]
    fn a_language_below_the_minimum_keeps_the_lexicon_verdict() {
        let c = Classifier::embedded();
        let lex = |t: &str, l: usize| c.classify_lexicon(t, l);
        let few: Vec<Example> = examples().into_iter().take(MIN_EXAMPLES - 1).collect();
        let m = train(&few, &lex, 0, &|_, _| {});
        assert!(!m.info.heads[0].active);
        let with = c.clone().with_model(std::sync::Arc::new(m));
        for e in examples() {
            let input = Input::new(&e.text);
            assert_eq!(with.classify(&input), c.classify(&input), "{}", e.text);
        }
    }

    #[test]
    fn damaged_and_foreign_files_are_refused_with_their_name() {
        let (_, m) = trained();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.model");
        let bytes = m.to_bytes();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("m.model is not a webcare model or is damaged (it ends too early)"),
            "{err}"
        );
        let mut newer = bytes.clone();
        newer[8] = FORMAT as u8 + 1;
        std::fs::write(&path, &newer).unwrap();
        assert!(matches!(
            Model::load(&path),
            Err(ModelError::Incompatible { found, .. }) if found == FORMAT + 1
        ));
        std::fs::write(&path, b"{\"json\": true}").unwrap();
        assert!(matches!(
            Model::load(&path),
            Err(ModelError::Corrupt { .. })
        ));
    }
}
