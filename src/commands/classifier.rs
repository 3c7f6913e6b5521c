//! `classify`, `eval`, `train`, `model` and `label`: the classifier's commands. The first three
//! work without a config file; with one, they use the model its database has in use (and the
//! first two, where none is, the bundled model).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::classify::Classifier;
use crate::cli::ClassifierArgs;
use crate::config::load::Config;
use crate::store;

/// The lexicons a command classifies with: `--lexicons` when given, else those of the config's
/// `[classifier]` section (with its thresholds), as the daemon would; else the built-in ones.
fn load_classifier(lexicons: Option<&Path>, config: Option<&Config>) -> anyhow::Result<Classifier> {
    let Some(config) = config else {
        return Ok(match lexicons {
            Some(dir) => Classifier::from_dir(dir)?,
            None => Classifier::embedded(),
        });
    };
    Ok(Classifier::from_config(&crate::config::ClassifierConfig {
        lexicons: lexicons
            .map(Path::to_path_buf)
            .or(config.classifier.lexicons.clone()),
        // The model is chosen by `load_with_model`, which also knows the database's.
        model: None,
        ..config.classifier.clone()
    })?)
}

/// Which model `classify` and `eval` stack on the lexicons.
#[derive(Clone, Copy)]
enum ModelChoice<'a> {
    /// The config's (its file, else its database's in use), else the bundled one.
    Default,
    /// `--model FILE`.
    File(&'a Path),
    /// `--no-model`: the lexicons alone.
    None,
}

impl<'a> ModelChoice<'a> {
    /// The choice the flags `--model` and `--no-model` make (clap lets only one through).
    fn of(with: &'a ClassifierArgs) -> ModelChoice<'a> {
        match (with.model.as_deref(), with.no_model) {
            (Some(f), _) => ModelChoice::File(f),
            (None, true) => ModelChoice::None,
            (None, false) => ModelChoice::Default,
        }
    }
}

/// The lexicons plus the model chosen: the file given, else the one the config names or has in
/// use in its database, else the bundled one. A model file that cannot be used is reported
/// and the lexicons decide alone: a damaged file must not stop classification.
fn load_with_model(with: &ClassifierArgs, config: Option<&Config>) -> anyhow::Result<Classifier> {
    let c = load_classifier(with.lexicons.as_deref(), config)?;
    let found = match (ModelChoice::of(with), config) {
        (ModelChoice::None, _) => return Ok(c),
        (ModelChoice::Default, Some(config)) => crate::classify::retrain::configured_model(config)?,
        (ModelChoice::Default, None) => crate::classify::Model::bundled(),
        (ModelChoice::File(path), _) => match crate::classify::Model::load(path) {
            Ok(m) => Some(Arc::new(m)),
            Err(e) => {
                eprintln!("error: {e}; classifying with the lexicons alone");
                None
            }
        },
    };
    Ok(match found {
        Some(m) => c.with_model(m),
        None => c,
    })
}

pub(super) fn train(
    config: Option<&Config>,
    from: &[PathBuf],
    out: Option<&Path>,
    lexicons: Option<&Path>,
    no_bundled: bool,
) -> anyhow::Result<i32> {
    if config.is_none() && out.is_none() {
        anyhow::bail!(
            "nowhere to put the model: give --out FILE, or --config FILE to store it in that database"
        );
    }
    let c = load_classifier(lexicons, config)?;
    let mut examples = Vec::new();
    let mut skipped = 0;
    let mut store = None;
    let mut seen = 0;
    if let Some(config) = config {
        let s = store::open_existing(&config.store.path)?;
        // Read before the corrections: one made meanwhile counts as new for the daemon.
        seen = s.last_correction_id()?;
        let rows = crate::classify::train::StoreRows::read(&*s)?;
        let (corrections, confirmed) = (rows.corrections.len(), rows.confirmed.len());
        skipped += rows.to_examples(&c, &mut examples);
        eprintln!(
            "{corrections} corrections and {confirmed} mentions left as labelled from {}",
            config.store.path.display()
        );
        store = Some(s);
    }
    // With a config, its `train_from` files count as if given with --from.
    let configured = config.map_or(&[][..], |c| &c.classifier.train_from[..]);
    for file in configured.iter().chain(from) {
        skipped += crate::classify::train::read_examples(&c, file, &mut examples)?;
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} rows in languages without lexicons (en, nl, da)");
    }
    let wanted = !no_bundled && config.is_none_or(|c| c.classifier.uses_bundled_model());
    let bundled = wanted.then(crate::classify::train::Bundled::load).flatten();
    if let Some(b) = &bundled {
        let known = b.drop_known(&mut examples);
        if known > 0 {
            let rows = if known == 1 { "row" } else { "rows" };
            eprintln!("left out {known} {rows} the bundled examples hold already");
        }
    }
    let model = crate::classify::train::train_and_report(
        &c,
        &examples,
        bundled.as_ref().map(|b| b.base()).as_ref(),
        std::io::stdout().lock(),
        std::io::stderr().is_terminal(),
    )?;
    if let Some(out) = out {
        model.save(out)?;
        println!("model written to {}", out.display());
    }
    if let Some(mut store) = store {
        let (id, decision) =
            crate::classify::retrain::store_model(&mut *store, &model, seen, "train")?;
        match decision {
            crate::store::ModelDecision::Activated { previous } => println!(
                "model #{id} stored in {} and in use{}",
                store.path().display(),
                previous
                    .map(|(p, s)| format!(" (instead of #{p}, which scored {s:.3})"))
                    .unwrap_or_default()
            ),
            crate::store::ModelDecision::Refused { needed, active } => println!(
                "model #{id} stored in {} but not in use: it scores {:.3}, below {needed:.3} of {}; `webcare model use {id}` uses it anyway",
                store.path().display(),
                model.info.cv_macro(),
                active
                    .map(|a| format!("model #{a}"))
                    .unwrap_or_else(|| without_a_model(bundled.is_some()))
            ),
            crate::store::ModelDecision::Headless { active } => println!(
                "model #{id} stored in {} but not in use: no language has a head in use, so it would change no verdict; {} stays in use",
                store.path().display(),
                active.map(|a| format!("model #{a}")).unwrap_or_else(|| {
                    without_a_model(config.is_none_or(|c| c.classifier.uses_bundled_model()))
                })
            ),
        }
    }
    Ok(0)
}

/// What decides while no model of the database is in use.
fn without_a_model(bundled: bool) -> String {
    if bundled {
        "the bundled model"
    } else {
        "the lexicons alone"
    }
    .into()
}

pub(super) fn classify(
    explain: bool,
    with: &ClassifierArgs,
    config: Option<(&Path, &Config)>,
    watch: Option<&str>,
) -> anyhow::Result<i32> {
    let mut c = load_with_model(with, config.map(|(_, c)| c))?;
    if let Some(name) = watch {
        let Some((path, config)) = config else {
            anyhow::bail!("--watch needs a config: give --config FILE with that [[watches]] entry");
        };
        c = for_watch(c, name, config, path)?;
    }
    let stdin = std::io::stdin().lock();
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let skipped = crate::classify::run_classify(&c, stdin, out, explain)?;
    // Every other line was classified; the status still says that some input was not.
    Ok(if skipped > 0 { 1 } else { 0 })
}

/// `c` as the daemon judges the mentions of the watch `name` in `config` (read from `path`).
fn for_watch(
    c: Classifier,
    name: &str,
    config: &Config,
    path: &Path,
) -> anyhow::Result<Classifier> {
    match crate::watch::Watches::classifier_of(&config.watches, name, c) {
        Some(c) => Ok(c),
        None => {
            let names: Vec<&str> = config.watches.iter().map(|w| w.name.as_str()).collect();
            anyhow::bail!(
                "no watch named {name:?} in {}; its watches are: {}",
                path.display(),
                names.join(", ")
            )
        }
    }
}

pub(super) fn eval(
    file: &Path,
    with: &ClassifierArgs,
    config: Option<&Config>,
) -> anyhow::Result<i32> {
    let c = load_with_model(with, config)?;
    // On stderr, so the scores on stdout read as before; a person sees what was measured.
    let bundled = crate::classify::Model::bundled();
    let what = match (c.model(), bundled.as_deref()) {
        (None, _) => "the lexicons alone",
        (Some(m), Some(b)) if std::ptr::eq(m, b) => "the lexicons with the bundled model",
        (Some(_), _) => "the lexicons with a trained model",
    };
    eprintln!("scores of {what}");
    crate::classify::run_eval(&c, file, std::io::stdout().lock())?;
    Ok(0)
}

pub(super) fn model(config: &Config, action: &crate::cli::ModelAction) -> anyhow::Result<i32> {
    use crate::classify::retrain;
    use crate::cli::ModelAction;
    let out = std::io::stdout().lock();
    match action {
        ModelAction::List => retrain::list_command(config, out),
        ModelAction::Use { id } => retrain::use_command(config, Some(*id), out),
        ModelAction::Off => retrain::use_command(config, None, out),
    }
}

pub(super) fn label(
    config: &Config,
    id: Option<i64>,
    label: Option<&str>,
    by: &str,
    export: bool,
) -> anyhow::Result<i32> {
    let mut store = store::open_existing(&config.store.path)?;
    let mut out = std::io::stdout().lock();
    if export {
        writeln!(out, "lang\tlabel\ttext")?;
        for (lang, label, text) in store.corrections()? {
            writeln!(
                out,
                "{lang}\t{label}\t{}",
                text.replace(['\t', '\n', '\r'], " ")
            )?;
        }
        return Ok(0);
    }
    let (Some(id), Some(label)) = (id, label) else {
        anyhow::bail!("give a mention id and a label, or --export");
    };
    let label: crate::classify::Label = label.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let previous = store.correct_label(id, label.as_str(), by)?;
    writeln!(
        out,
        "mention #{id}: {} -> {label} (by {by})",
        previous.as_deref().unwrap_or("unclassified")
    )?;
    Ok(0)
}
