//! `webcare eval`: scores the classifier against a labelled TSV (`lang`, `label`, `text`) and
//! prints, per language and overall, a confusion matrix, per-class precision/recall/F1 and
//! macro-F1. A file whose labels are positive/negative/neutral is scored on polarity instead, and
//! a one-vs-rest file (one label, the rest `other`) on that label against the rest.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;

use super::{Classifier, Input, Label, Polarity};

/// Precision, recall and F1 for one class.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Scores {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Results for one language (or "all").
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct LangScores {
    pub lang: String,
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// How often the detected language matched the `lang` column.
    pub lang_detection: f64,
    pub classes: Vec<Scores>,
    /// `confusion[gold][predicted]`, in the order of `classes`.
    pub confusion: Vec<Vec<usize>>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct EvalSummary {
    /// "label", "polarity", or "complaint vs other" (say) for a one-vs-rest file.
    pub task: String,
    pub per_lang: Vec<LangScores>,
    pub overall: LangScores,
}

impl EvalSummary {
    pub fn lang(&self, lang: &str) -> Option<&LangScores> {
        self.per_lang.iter().find(|l| l.lang == lang)
    }
}

struct Row {
    lang: String,
    gold: usize,
    text: String,
}

/// One row of a labelled TSV file: its line number, the language and label (trimmed and
/// lower-cased) and the text.
pub(super) struct TsvRow {
    pub line: usize,
    pub lang: String,
    pub label: String,
    pub text: String,
}

/// Reads a labelled TSV file: the header `lang<TAB>label<TAB>text`, then one row a line
/// (blank lines skipped). A missing header or a row without text is an error naming the line.
pub(super) fn read_tsv(path: &Path) -> anyhow::Result<Vec<TsvRow>> {
    let data =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = data
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!(
            "{}: empty file; expected a header line lang<TAB>label<TAB>text",
            path.display()
        )
    };
    let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
    if cols != ["lang", "label", "text"] {
        bail!(
            "{}:1: expected the header lang<TAB>label<TAB>text, got {header:?}",
            path.display()
        );
    }
    lines
        .map(|(n, l)| {
            let mut p = l.splitn(3, '\t');
            let row = TsvRow {
                line: n + 1,
                lang: p.next().unwrap_or_default().trim().to_ascii_lowercase(),
                label: p.next().unwrap_or_default().trim().to_ascii_lowercase(),
                text: p.next().unwrap_or_default().to_string(),
            };
            if row.text.trim().is_empty() {
                bail!(
                    "{}:{}: expected three tab-separated columns lang, label, text",
                    path.display(),
                    row.line
                );
            }
            Ok(row)
        })
        .collect()
}

/// Whether a file holds polarities (positive, negative, neutral) rather than labels.
pub(super) fn holds_polarities(rows: &[TsvRow]) -> bool {
    rows.iter()
        .any(|r| matches!(r.label.as_str(), "positive" | "negative"))
}

/// The labels a file names besides `other`, sorted, each once: in a one-vs-rest file, the one.
pub(super) fn named_labels(rows: &[TsvRow]) -> Vec<&str> {
    let mut named: Vec<&str> = rows
        .iter()
        .map(|r| r.label.as_str())
        .filter(|l| *l != "other")
        .collect();
    named.sort();
    named.dedup();
    named
}

/// Reads `tsv`, classifies each text with its language left to detection, and writes the
/// report to `out`.
pub fn run_eval(c: &Classifier, tsv: &Path, mut out: impl Write) -> anyhow::Result<EvalSummary> {
    let raw = read_tsv(tsv)?;
    let polarity = holds_polarities(&raw);
    let all_classes: Vec<&str> = if polarity {
        Polarity::ALL.iter().map(|p| p.as_str()).collect()
    } else {
        Label::ALL.iter().map(|l| l.as_str()).collect()
    };
    let classes = file_classes(tsv, &raw, &all_classes)?;
    let mut rows = Vec::with_capacity(raw.len());
    for TsvRow {
        line,
        lang,
        label,
        text,
    } in raw
    {
        let Some(gold) = classes.iter().position(|c| *c == label) else {
            bail!(
                "{}:{line}: label {label:?} is not one of {} (a file holds either labels or polarities, not both; \"other\" for one-vs-rest)",
                tsv.display(),
                all_classes.join(", ")
            );
        };
        rows.push(Row { lang, gold, text });
    }

    // Drawn on a terminal only; a big file (or a slow model) is not a silent wait.
    let progress = crate::progress::Progress::bar("classifying", rows.len() as u64, "rows");
    let predictions: Vec<(usize, bool)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i % 64 == 0 {
                progress.set(i as u64);
            }
            let v = c.classify(&Input::new(&r.text));
            let said = if polarity {
                v.polarity.as_str()
            } else {
                v.label.as_str()
            };
            // In a one-vs-rest file every other answer is "other", the last class.
            let pred = classes
                .iter()
                .position(|c| c == said)
                .unwrap_or(classes.len() - 1);
            (pred, v.lang == r.lang)
        })
        .collect();
    progress.finish();

    let mut langs: Vec<&str> = rows.iter().map(|r| r.lang.as_str()).collect();
    langs.sort();
    langs.dedup();
    let classes: Vec<&str> = classes.iter().map(String::as_str).collect();
    let task = match (polarity, classes.len()) {
        (_, 2) => format!("{} vs other", classes[0]),
        (true, _) => "polarity".to_string(),
        (false, _) => "label".to_string(),
    };
    let mut per_lang = Vec::new();
    for lang in &langs {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].lang == *lang).collect();
        let s = scores(lang, &classes, &rows, &predictions, &idx);
        write_scores(&mut out, &task, &s)?;
        per_lang.push(s);
    }
    let all: Vec<usize> = (0..rows.len()).collect();
    let overall = scores("all", &classes, &rows, &predictions, &all);
    if langs.len() > 1 {
        write_scores(&mut out, &task, &overall)?;
    }
    Ok(EvalSummary {
        task,
        per_lang,
        overall,
    })
}

/// The classes a file is scored on: every label (or polarity), or, in a one-vs-rest file that
/// names one of them and calls the rest `other`, that one and "other".
fn file_classes(tsv: &Path, raw: &[TsvRow], all: &[&str]) -> anyhow::Result<Vec<String>> {
    if !raw.iter().any(|r| r.label == "other") {
        return Ok(all.iter().map(|c| c.to_string()).collect());
    }
    let named = named_labels(raw);
    match named[..] {
        [one] if all.contains(&one) => Ok(vec![one.to_string(), "other".to_string()]),
        _ => bail!(
            "{}: label \"other\" needs a one-vs-rest file with exactly one other label (one of {}), found {named:?}",
            tsv.display(),
            all.join(", ")
        ),
    }
}

fn scores(
    lang: &str,
    classes: &[&str],
    rows: &[Row],
    preds: &[(usize, bool)],
    idx: &[usize],
) -> LangScores {
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut lang_ok = 0;
    for &i in idx {
        confusion[rows[i].gold][preds[i].0] += 1;
        lang_ok += usize::from(preds[i].1);
    }
    let n = idx.len();
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let mut class_scores = Vec::new();
    for (ci, name) in classes.iter().enumerate() {
        let tp = confusion[ci][ci] as f64;
        let predicted: usize = (0..k).map(|g| confusion[g][ci]).sum();
        let support: usize = confusion[ci].iter().sum();
        let precision = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let recall = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        class_scores.push(Scores {
            class: name.to_string(),
            precision,
            recall,
            f1,
            support,
        });
    }
    // Macro-F1 over the classes that occur, so a set without (say) neutral posts is not
    // punished for a class it never asked about.
    let present: Vec<&Scores> = class_scores.iter().filter(|s| s.support > 0).collect();
    let macro_f1 = if present.is_empty() {
        0.0
    } else {
        present.iter().map(|s| s.f1).sum::<f64>() / present.len() as f64
    };
    let ratio = |a: usize| if n > 0 { a as f64 / n as f64 } else { 0.0 };
    LangScores {
        lang: lang.to_string(),
        n,
        accuracy: ratio(correct),
        macro_f1,
        lang_detection: ratio(lang_ok),
        classes: class_scores,
        confusion,
    }
}

fn write_scores(out: &mut impl Write, task: &str, s: &LangScores) -> std::io::Result<()> {
    writeln!(
        out,
        "== {} ({} mentions, {task}) accuracy {:.3}  macro-F1 {:.3}  language detected {:.3}",
        s.lang, s.n, s.accuracy, s.macro_f1, s.lang_detection
    )?;
    let names: Vec<&str> = s.classes.iter().map(|c| c.class.as_str()).collect();
    write!(out, "{:>12} |", "gold \\ pred")?;
    for n in &names {
        write!(out, " {n:>9}")?;
    }
    writeln!(out)?;
    for (gi, row) in s.confusion.iter().enumerate() {
        write!(out, "{:>12} |", names[gi])?;
        for v in row {
            write!(out, " {v:>9}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{:>12}   {:>9} {:>9} {:>9} {:>9}",
        "class", "precision", "recall", "F1", "support"
    )?;
    for c in &s.classes {
        writeln!(
            out,
            "{:>12}   {:>9.3} {:>9.3} {:>9.3} {:>9}",
            c.class, c.precision, c.recall, c.f1, c.support
        )?;
    }
    writeln!(out)
}
