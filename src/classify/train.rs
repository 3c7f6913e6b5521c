//! `webcare train`: gathers labelled examples (staff corrections from the database and TSV
//! files), trains the learned layer on them and on the bundled examples ([`super::model`]),
//! and prints the report cross-validated on the team's examples: lexicons alone, bundled
//! model and new model on the same folds.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;

use super::lexicon::LANGS;
use super::model::{self, Example, Model, Task};
use super::{Classifier, Label};

/// Folds of the cross-validation in the report.
pub const FOLDS: usize = 5;

/// Mentions staff left as labelled that go into training with each correction. Corrections
/// alone are all cases the lexicons got wrong, and a model trained on them learns to contradict
/// the lexicons everywhere (on a public set of brand tweets: macro-F1 0.71 -> 0.29 with 100
/// corrections alone). Three confirmed mentions a correction scored best there (0.73; one: 0.70;
/// every uncorrected mention: 0.71).
pub const CONFIRMED_PER_CORRECTION: usize = 3;

/// The posts the bundled model was trained on, built in so that every model a team trains
/// learns them too: it keeps what the bundled model reads right and adds what the team taught.
const BUNDLED_TSV: &str = include_str!("../../fixtures/eval/fresh.tsv");

/// The bundled examples and model: what a team's model is trained on top of ([`model::Base`]).
pub struct Bundled {
    examples: Vec<Example>,
    model: Arc<Model>,
}

impl Bundled {
    /// The bundled examples and model; `None` when the bundled model cannot be decoded (logged
    /// by [`Model::bundled`]).
    pub fn load() -> Option<Bundled> {
        let model = Model::bundled()?;
        let examples = (BUNDLED_TSV.lines().skip(1))
            .filter_map(|l| {
                let mut p = l.splitn(3, '\t');
                let (lang, label, text) = (p.next()?, p.next()?, p.next()?);
                Some(Example {
                    lang: LANGS.iter().position(|x| *x == lang)?,
                    task: Task::Label,
                    gold: Task::Label.class_of(label)?,
                    text: text.to_string(),
                })
            })
            .collect();
        Some(Bundled { examples, model })
    }

    /// What to train on besides the team's examples.
    pub fn base(&self) -> model::Base<'_> {
        model::Base {
            examples: &self.examples,
            model: &self.model,
        }
    }

    /// Leaves out of `team` the examples whose text the bundled ones hold (a `train_from` that
    /// names the bundled file): they are learned already, and scored against the bundled model,
    /// which was trained on them, they would make every new model look worse than it is.
    /// Returns how many went.
    pub fn drop_known(&self, team: &mut Vec<Example>) -> usize {
        let known: HashSet<(usize, &str)> = (self.examples.iter())
            .map(|e| (e.lang, e.text.as_str()))
            .collect();
        let before = team.len();
        team.retain(|e| !known.contains(&(e.lang, e.text.as_str())));
        before - team.len()
    }

    /// How many examples it holds.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
}

/// Whether `path` reads as a labelled TSV, for checking `[classifier] train_from` before the
/// daemon starts.
pub fn check_labelled(path: &Path) -> anyhow::Result<()> {
    super::eval::read_tsv(path).map(drop)
}

/// The examples of `[classifier] train_from`, for a model trained with the configured
/// classifier `c`; rows in languages without lexicons are left out.
pub fn configured_examples(c: &Classifier, files: &[PathBuf]) -> anyhow::Result<Vec<Example>> {
    let mut out = Vec::new();
    for file in files {
        read_examples(c, file, &mut out)?;
    }
    Ok(out)
}

/// Reads a labelled TSV (`lang<TAB>label<TAB>text`) into examples. `label` is a label
/// (complaint, question, praise, neutral), a polarity (positive, negative, neutral) or `other`
/// in a one-vs-rest file: "not the file's other label", which takes the lexicon's answer when
/// that is not the file's label, else neutral. Rows in a language without lexicons are skipped
/// and counted.
pub fn read_examples(c: &Classifier, path: &Path, out: &mut Vec<Example>) -> anyhow::Result<usize> {
    let rows = super::eval::read_tsv(path)?;
    let polarity = super::eval::holds_polarities(&rows);
    let task = if polarity {
        Task::Polarity
    } else {
        Task::Label
    };
    let named = super::eval::named_labels(&rows);
    let mut skipped = 0;
    for super::eval::TsvRow {
        line,
        lang,
        label,
        text,
    } in &rows
    {
        let Some(l) = LANGS
            .iter()
            .position(|x| *x == lang.split(['-', '_']).next().unwrap_or_default())
        else {
            skipped += 1;
            continue;
        };
        let gold = if label == "other" {
            let [only] = named[..] else {
                bail!(
                    "{}:{line}: label \"other\" needs a one-vs-rest file with exactly one other label, found {named:?}",
                    path.display()
                );
            };
            let v = c.classify_lexicon(text, l);
            let lex = match task {
                Task::Label => v.label.as_str(),
                Task::Polarity => v.polarity.as_str(),
            };
            // Both tasks call their last class "neutral".
            let pick = if lex == only { "neutral" } else { lex };
            task.class_of(pick).unwrap_or(task.classes() - 1)
        } else {
            let Some(g) = task.class_of(label) else {
                bail!(
                    "{}:{line}: label {label:?} is not one of {} (a file holds either labels or polarities, not both; \"other\" for one-vs-rest)",
                    path.display(),
                    if polarity {
                        "positive, negative, neutral"
                    } else {
                        "complaint, question, praise, neutral"
                    }
                );
            };
            g
        };
        out.push(Example {
            lang: l,
            task,
            gold,
            text: text.clone(),
        });
    }
    Ok(skipped)
}

/// What the database gives to train on: staff corrections, and in each language as many as
/// [`CONFIRMED_PER_CORRECTION`] times its corrections of mentions staff left as labelled;
/// each `(lang, label, text)`. A language without corrections gets none, so its head is not
/// trained to copy the lexicons (which would only cost the model its cross-validated score).
pub struct StoreRows {
    /// The latest staff label of every corrected mention.
    pub corrections: Vec<(String, String, String)>,
    /// Mentions staff left as the classifier labelled them.
    pub confirmed: Vec<(String, String, String)>,
}

impl StoreRows {
    /// Reads the corrections and the confirmed mentions that go with them.
    pub fn read(store: &dyn crate::store::Backend) -> Result<StoreRows, crate::store::StoreError> {
        let corrections = store.corrections()?;
        let mut per_lang: std::collections::BTreeMap<&str, usize> = Default::default();
        for (lang, _, _) in &corrections {
            if !lang.is_empty() {
                *per_lang.entry(lang.as_str()).or_default() += 1;
            }
        }
        let mut confirmed = Vec::new();
        for (lang, n) in per_lang {
            confirmed.extend(store.confirmed(lang, CONFIRMED_PER_CORRECTION * n)?);
        }
        Ok(StoreRows {
            corrections,
            confirmed,
        })
    }

    /// Both kinds of row as examples; returns the rows skipped for their language.
    pub fn to_examples(self, c: &Classifier, out: &mut Vec<Example>) -> usize {
        corrections_to_examples(c, self.corrections, out)
            + corrections_to_examples(c, self.confirmed, out)
    }
}

/// Labelled rows `(lang, label, text)` from the store as examples. A mention stored without
/// a language gets the detected one; rows in other languages are skipped and counted.
pub fn corrections_to_examples(
    c: &Classifier,
    rows: Vec<(String, String, String)>,
    out: &mut Vec<Example>,
) -> usize {
    let mut skipped = 0;
    for (lang, label, text) in rows {
        let lang = if lang.is_empty() {
            c.classify(&super::Input::new(&text)).lang
        } else {
            lang
        };
        let l = LANGS.iter().position(|x| *x == lang);
        let g = Label::ALL.iter().position(|x| x.as_str() == label);
        match (l, g) {
            (Some(lang), Some(gold)) => out.push(Example {
                lang,
                task: Task::Label,
                gold,
                text,
            }),
            _ => skipped += 1,
        }
    }
    skipped
}

/// Trains on `examples` (after the `base`'s, when given) and writes the report to `out`.
/// `progress` is shown on a terminal.
pub fn train_and_report(
    c: &Classifier,
    examples: &[Example],
    base: Option<&model::Base>,
    mut out: impl Write,
    show_progress: bool,
) -> anyhow::Result<Model> {
    if examples.is_empty() {
        let besides = if base.is_some() {
            " besides the bundled examples"
        } else {
            ""
        };
        bail!(
            "nothing to train on{besides}: no corrections in the database (`webcare label ID LABEL`) and no rows from --from FILE.tsv{}",
            if base.is_some() {
                " that they lack (--no-bundled trains on the files alone)"
            } else {
                ""
            }
        );
    }
    let started = Instant::now();
    let bar = if show_progress {
        let b = indicatif::ProgressBar::new(1);
        b.set_style(
            indicatif::ProgressStyle::with_template("training {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let lexicon = |text: &str, lang: usize| c.classify_lexicon(text, lang);
    let m = model::train_on(examples, base, &lexicon, FOLDS, &progress);
    bar.finish_and_clear();
    for h in m
        .info
        .heads
        .iter()
        .filter(|h| h.examples >= model::MIN_EXAMPLES && !h.active)
    {
        eprintln!(
            "warning: {}: the lexicons give under {:.0} % of these {} examples their label, as in corrections alone; \
             a model trained on them would contradict the lexicons everywhere, so the lexicons decide alone. \
             Add posts they got right (with --config, train adds mentions staff left as labelled)",
            h.lang,
            model::AGREEMENT_FLOOR * 100.0,
            h.examples
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let heads: Vec<String> = m
        .info
        .heads
        .iter()
        .map(|h| {
            let task = match h.task {
                Task::Label => "label",
                Task::Polarity => "polarity",
            };
            let unused = if h.active {
                String::new()
            } else if h.examples < model::MIN_EXAMPLES {
                format!(" (below {}: not used)", model::MIN_EXAMPLES)
            } else {
                " (contradicts the lexicons: not used)".to_string()
            };
            format!("{} {task} {}{unused}", h.lang, h.examples)
        })
        .collect();
    let bundled = base.map_or(String::new(), |b| {
        format!(" ({} of them the bundled model's)", b.examples.len())
    });
    writeln!(
        out,
        "trained on {} examples{bundled} in {secs:.1} s: {}",
        examples.len() + base.map_or(0, |b| b.examples.len()),
        heads.join(", ")
    )?;
    write_cv(&m.info, base.is_some(), out)?;
    Ok(m)
}

/// The cross-validation table of `info`; with `base`, the bundled model's column too, and the
/// change is the model's over the bundled one (what it must beat to be put in use).
fn write_cv(info: &model::ModelInfo, base: bool, mut out: impl Write) -> anyhow::Result<()> {
    if base {
        writeln!(
            out,
            "cross-validated macro-F1 on the examples besides the bundled ones ({FOLDS} folds, one left out at a time below {FOLDS} examples; each fold also learns every bundled example):"
        )?;
    } else {
        writeln!(
            out,
            "cross-validated macro-F1 ({FOLDS} folds, same folds for both):"
        )?;
    }
    let bundled = if base {
        format!(" {:>8}", "bundled")
    } else {
        String::new()
    };
    writeln!(
        out,
        "  {:<24} {:>8}{bundled} {:>8} {:>7}",
        "", "lexicon", "+ model", "change"
    )?;
    for s in &info.cv {
        let task = match s.task {
            Task::Label => "label",
            Task::Polarity => "polarity",
        };
        let name = if s.class == "macro" {
            format!("{} {task}", s.lang)
        } else {
            format!("    {}", s.class)
        };
        let (bundled, before) = match (base, s.base) {
            (true, Some(b)) => (format!(" {b:>8.3}"), b),
            (true, None) => (format!(" {:>8}", "-"), s.lexicon),
            (false, _) => (String::new(), s.lexicon),
        };
        writeln!(
            out,
            "  {name:<24} {:>8.3}{bundled} {:>8.3} {:>+7.3}",
            s.lexicon,
            s.model,
            s.model - before
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_examples_are_the_posts_the_bundled_model_was_trained_on() {
        let b = Bundled::load().expect("the bundled model decodes");
        for head in b.model.info.heads.iter().filter(|h| h.task == Task::Label) {
            let lang = LANGS.iter().position(|l| *l == head.lang).unwrap();
            let n = b.examples.iter().filter(|e| e.lang == lang).count();
            assert_eq!(n, head.examples, "{}", head.lang);
        }
        // A labelled file that repeats them adds nothing to learn and is not scored.
        let mut team = b.examples[..3].to_vec();
        team.push(Example {
            text: "A post the bundled examples do not hold".into(),
            ..b.examples[0].clone()
        });
        assert_eq!(b.drop_known(&mut team), 3);
        assert_eq!(team.len(), 1);
    }
}
