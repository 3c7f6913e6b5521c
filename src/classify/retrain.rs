//! Trained models in the database: storing what training produced, loading the one in use,
//! the daemon's own retraining after `[classifier] retrain_after` new corrections, and
//! `webcare model list|use|off`. A model is put in use only when its cross-validated score is
//! no worse than the one in use, so retraining on bad corrections cannot make things worse.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::model::{Example, Model};
use super::{Classifier, train};
use crate::config::{ClassifierConfig, load::Config};
use crate::shutdown::Shutdown;
use crate::store::{self, Backend, ModelDecision, NewModel, StoreError, Writer};

/// Corrections after which the daemon retrains when `[classifier] retrain_after` is unset.
pub const DEFAULT_RETRAIN_AFTER: u32 = 50;

/// How often the daemon looks for new corrections and for a model put in use by hand. A
/// count on an indexed table: cheap enough to ask often, so a rollback applies within seconds.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// A change of the model in use, for the daemon to compile into its watches: the model's id
/// and the model, or `None` when none is in use (then [`default_model`] decides).
pub type ModelChange = Option<(i64, Arc<Model>)>;

/// Stores `model` and puts it in use unless it scored worse than the one in use (see
/// [`crate::store::ModelStore::add_model`]). `corrections_seen` is the last correction it was
/// trained with.
pub fn store_model(
    store: &mut dyn Backend,
    model: &Model,
    corrections_seen: i64,
    trained_by: &str,
) -> Result<(i64, ModelDecision), StoreError> {
    let bytes = model.to_bytes();
    store.add_model(&NewModel {
        langs: &model.info.active_langs(),
        examples: model.info.examples() as i64,
        cv_score: model.info.cv_macro(),
        lexicon_score: model.info.lexicon_macro(),
        base_score: model.info.base_macro(),
        corrections_seen,
        trained_by,
        bytes: &bytes,
    })
}

/// The model in use in the database. A stored model that cannot be read is logged and left
/// out (as if none were in use), as a damaged model file is.
pub fn active_model(store: &dyn Backend) -> Result<Option<(i64, Model)>, StoreError> {
    let Some(id) = store.active_model_id()? else {
        return Ok(None);
    };
    let Some(bytes) = store.model_bytes(id)? else {
        return Ok(None);
    };
    match Model::decode(
        &bytes,
        &format!("model #{id} in {}", store.path().display()),
    ) {
        Ok(m) => Ok(Some((id, m))),
        Err(e) => {
            tracing::error!("{e}; classifying without it");
            Ok(None)
        }
    }
}

/// The model used where none is chosen (no model file, none in use in the database): the
/// bundled one ([`Model::bundled`]), unless `[classifier] bundled_model = false`.
pub fn default_model(config: &ClassifierConfig) -> Option<Arc<Model>> {
    if config.uses_bundled_model() {
        Model::bundled()
    } else {
        None
    }
}

/// What classifies for `config`, in words for the start-up log: the lexicons with a model
/// file, the database's model in use, the bundled model, or alone.
pub fn in_use_words(config: &Config) -> String {
    if let Some(path) = &config.classifier.model {
        return format!("lexicons + model file {}", path.display());
    }
    let id = store::open_existing(&config.store.path)
        .ok()
        .and_then(|s| s.active_model_id().ok().flatten());
    match id {
        Some(id) => format!("lexicons + model #{id}"),
        None if default_model(&config.classifier).is_some() => "lexicons + bundled model".into(),
        None => "lexicons alone".into(),
    }
}

/// The model `config` asks for: `[classifier] model = FILE` when set (a damaged file is
/// logged and skipped), else the one in use in the database, else [`default_model`].
pub fn configured_model(config: &Config) -> anyhow::Result<Option<Arc<Model>>> {
    if let Some(path) = &config.classifier.model {
        return Ok(match Model::load(path) {
            Ok(m) => Some(Arc::new(m)),
            Err(e) => {
                tracing::error!("classifier.model: {e}; classifying with the lexicons alone");
                None
            }
        });
    }
    if config.store.path.exists() {
        let store = store::open_existing(&config.store.path)?;
        if let Some((_, m)) = active_model(&*store)? {
            return Ok(Some(Arc::new(m)));
        }
    }
    Ok(default_model(&config.classifier))
}

/// The classifier the daemon starts with: the lexicons and thresholds of `[classifier]` and
/// the model of [`configured_model`]. What cannot be loaded is logged and left out (edited
/// lexicons that fail to load give the embedded ones), since classifying must go on.
pub fn configured_classifier(config: &Config) -> Classifier {
    let lexicons = Classifier::from_config(&ClassifierConfig {
        model: None,
        ..config.classifier.clone()
    });
    let mut c = lexicons.unwrap_or_else(|e| {
        tracing::error!(error = %e, "classifier.lexicons: cannot load; classifying with the embedded lexicons");
        Classifier::embedded()
    });
    match configured_model(config) {
        Ok(Some(m)) => c = c.with_model(m),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot read the model in use; classifying with the lexicons alone")
        }
    }
    c
}

/// Trains on the corrections and the mentions confirmed with them, after the examples of
/// `[classifier] train_from` (`base`), on top of the `bundled` examples when given; `None`
/// when no correction is in a language with lexicons, unless this is the `first` model, which
/// the files alone may teach, or when all there is to learn the bundled examples hold.
fn train_on_corrections(
    lexicons: &Classifier,
    base: &[Example],
    rows: train::StoreRows,
    first: bool,
    bundled: Option<&train::Bundled>,
) -> Option<Model> {
    let mut examples = base.to_vec();
    rows.to_examples(lexicons, &mut examples);
    if examples.len() == base.len() && !first {
        return None;
    }
    if let Some(b) = bundled {
        b.drop_known(&mut examples);
    }
    if examples.is_empty() {
        return None;
    }
    let lexicon = |text: &str, lang: usize| lexicons.classify_lexicon(text, lang);
    Some(super::model::train_on(
        &examples,
        bundled.map(|b| b.base()).as_ref(),
        &lexicon,
        train::FOLDS,
        &|_, _| {},
    ))
}

/// The daemon's retraining stage. Every few seconds it counts the corrections made since the
/// newest stored model; at `retrain_after` of them it trains on a blocking thread (polling and
/// alerting go on), stores the model, and sends it on `changes` when it was put in use. It also
/// notices a model put in use by hand (`webcare model use`, `webcare train`) and sends that.
/// Given `train_from` files and a database that never stored a model, it trains the first one
/// on the files at once. `in_use` is the database model the daemon started with.
pub async fn run_retraining(
    cfg: ClassifierConfig,
    writer: Writer,
    mut in_use: Option<i64>,
    changes: tokio::sync::mpsc::UnboundedSender<ModelChange>,
    mut shutdown: Shutdown,
) {
    let retrain_after = i64::from(cfg.retrain_after.unwrap_or(DEFAULT_RETRAIN_AFTER));
    let lexicons = match Classifier::from_config(&ClassifierConfig {
        model: None,
        ..cfg.clone()
    }) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the lexicons; the classifier is not retrained");
            return;
        }
    };
    // Read once: the files were checked with the config, and a model trained without them
    // would forget what they teach.
    let base = match train::configured_examples(&lexicons, &cfg.train_from) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "classifier.train_from: cannot read; retraining on the corrections alone");
            Arc::default()
        }
    };
    // Every model is trained on the bundled examples as well, so it keeps what the bundled
    // model (which decides until then) reads right.
    let bundled = if cfg.uses_bundled_model() && retrain_after != 0 {
        train::Bundled::load().map(Arc::new)
    } else {
        None
    };
    // A team that names labelled files starts with a model trained on them, without waiting
    // for corrections: once, when the database has never stored a model.
    let mut first = retrain_after != 0 && !base.is_empty() && never_trained(&writer).await;
    // Corrections already looked at without a model to show for it.
    let mut looked_at = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.wait() => break,
        }
        let Some((active, new)) = count_new_corrections(&writer, looked_at).await else {
            continue;
        };
        if active != in_use {
            in_use = active;
            send_active(&writer, active, &changes).await;
        }
        if !first && (retrain_after == 0 || new < retrain_after) {
            continue;
        }
        let trained = retrain(
            &lexicons,
            &base,
            &bundled,
            &writer,
            new,
            &mut looked_at,
            first,
        )
        .await;
        first = false;
        let Some(r) = trained else {
            continue;
        };
        log_retrained(&r);
        if let ModelDecision::Activated { .. } = r.decision {
            in_use = Some(r.id);
            let _ = changes.send(Some((r.id, r.model)));
        }
    }
}

/// Whether the database holds no model at all (none trained, none put away by `model off`);
/// false when it cannot say, so a first model is never trained twice.
async fn never_trained(writer: &Writer) -> bool {
    writer
        .run(|s| Ok(s.models()?.is_empty()))
        .await
        .unwrap_or(false)
}

/// The model in use in the database and how many corrections came after the newest model's
/// (or after `looked_at`, when later); `None` when the database cannot say now.
async fn count_new_corrections(writer: &Writer, looked_at: i64) -> Option<(Option<i64>, i64)> {
    let state = writer
        .run(move |s| {
            let active = s.active_model_id()?;
            let trained = s.corrections_trained()?.max(looked_at);
            Ok((active, s.corrections_after(trained)?))
        })
        .await;
    match state {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot count corrections; trying again later");
            None
        }
    }
}

/// A model the daemon trained and stored, what became of it, and how long training took.
struct Retrained {
    id: i64,
    decision: ModelDecision,
    model: Arc<Model>,
    secs: f64,
}

/// Trains on every correction on a blocking thread (polling and alerting go on) and stores
/// the model, which is put in use unless it scores worse. `None` when there was nothing to
/// train on (then `looked_at` moves past these corrections) or something failed (logged).
async fn retrain(
    lexicons: &Classifier,
    base: &Arc<Vec<Example>>,
    bundled: &Option<Arc<train::Bundled>>,
    writer: &Writer,
    new: i64,
    looked_at: &mut i64,
    first: bool,
) -> Option<Retrained> {
    let read = writer
        .run(|s| Ok((s.last_correction_id()?, train::StoreRows::read(s)?)))
        .await;
    let (seen, rows) = match read {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read corrections; trying again later");
            return None;
        }
    };
    let what = if rows.corrections.is_empty() {
        "training the first model on the labelled files of classifier.train_from"
    } else {
        "retraining the classifier on the team's corrections"
    };
    tracing::info!(
        new,
        corrections = rows.corrections.len(),
        confirmed = rows.confirmed.len(),
        labelled = base.len(),
        bundled = bundled.as_ref().map_or(0, |b| b.len()),
        "{what}"
    );
    let started = Instant::now();
    let (c, base, bundled) = (lexicons.clone(), base.clone(), bundled.clone());
    let model = match tokio::task::spawn_blocking(move || {
        train_on_corrections(&c, &base, rows, first, bundled.as_deref())
    })
    .await
    {
        Ok(Some(m)) => Arc::new(m),
        Ok(None) => {
            // Nothing usable (every correction in a language without lexicons, or only
            // posts the bundled examples hold): wait for corrections after these.
            tracing::info!(
                "nothing new to learn: no correction in a language with lexicons, and no labelled row the bundled examples lack"
            );
            *looked_at = seen;
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "retraining failed; the model in use stays");
            return None;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let m = model.clone();
    match writer
        .run(move |s| store_model(s, &m, seen, "daemon"))
        .await
    {
        Ok((id, decision)) => Some(Retrained {
            id,
            decision,
            model,
            secs,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot store the retrained model; the model in use stays");
            None
        }
    }
}

/// Logs a retrained model's scores and whether it is in use.
fn log_retrained(r: &Retrained) {
    let (id, model) = (r.id, &r.model);
    let score = model.info.cv_macro();
    let seconds = (r.secs * 10.0).round() / 10.0;
    match r.decision {
        ModelDecision::Activated { previous } => {
            tracing::info!(
                model = id,
                score = r3(score),
                previous = previous.map(|(id, _)| id),
                previous_score = previous.map(|(_, s)| r3(s)),
                lexicon_score = r3(model.info.lexicon_macro()),
                examples = model.info.examples(),
                seconds,
                "retrained model is in use"
            );
        }
        ModelDecision::Refused { needed, active } => {
            tracing::warn!(
                model = id,
                score = r3(score),
                needed = r3(needed),
                active,
                examples = model.info.examples(),
                seconds,
                "retrained model scores worse than the one in use; kept, not used (`webcare model list`)"
            );
        }
        ModelDecision::Headless { active } => {
            tracing::info!(
                model = id,
                active,
                examples = model.info.examples(),
                seconds,
                "retrained model has no head in use in any language (too few examples, or ones that contradict the lexicons); kept, not used"
            );
        }
    }
}

/// A score rounded to the report's three decimals, for the log.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Loads the database's model `active` (or none) and sends it as the one to use.
async fn send_active(
    writer: &Writer,
    active: Option<i64>,
    changes: &tokio::sync::mpsc::UnboundedSender<ModelChange>,
) {
    let Some(id) = active else {
        tracing::info!("no model in use any more; the lexicons decide alone");
        let _ = changes.send(None);
        return;
    };
    match writer.run(|s| active_model(s)).await {
        Ok(Some((id, m))) => {
            tracing::info!(model = id, "model put in use");
            let _ = changes.send(Some((id, Arc::new(m))));
        }
        Ok(None) => {
            let _ = changes.send(None);
        }
        Err(e) => tracing::warn!(error = %e, model = id, "cannot read the model put in use"),
    }
}

/// `webcare model list`: every stored model, the one in use marked.
pub fn list_command(config: &Config, mut out: impl Write) -> anyhow::Result<i32> {
    let store = store::open_existing(&config.store.path)?;
    let models = store.models()?;
    if models.is_empty() {
        writeln!(
            out,
            "no models stored; `webcare train` trains one on the team's corrections"
        )?;
        writeln!(out, "none in use: {}", without_a_model(config))?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:>4}  {:<6} {:<20} {:<8} {:>8} {:>8} {:>8}  {:<6} note",
        "id", "in use", "created", "langs", "examples", "lexicon", "+ model", "by"
    )?;
    for m in models {
        let created = chrono::DateTime::from_timestamp(m.created_at, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        writeln!(
            out,
            "{:>4}  {:<6} {:<20} {:<8} {:>8} {:>8.3} {:>8.3}  {:<6} {}",
            m.id,
            if m.active { "*" } else { "" },
            created,
            if m.langs.is_empty() { "-" } else { &m.langs },
            m.examples,
            m.lexicon_score,
            m.cv_score,
            m.trained_by,
            m.note
        )?;
    }
    if config.classifier.model.is_some() {
        writeln!(
            out,
            "note: [classifier] model is set in {}, so that file is used instead",
            config.file.display()
        )?;
    } else if store.active_model_id()?.is_none() {
        writeln!(out, "none in use: {}", without_a_model(config))?;
    }
    Ok(0)
}

/// What classifies while no model of the database is in use.
fn without_a_model(config: &Config) -> &'static str {
    if default_model(&config.classifier).is_some() {
        "the bundled model decides with the lexicons"
    } else {
        "the lexicons decide alone"
    }
}

/// `webcare model use ID` / `webcare model off`: what the daemon (within seconds) and
/// `classify`/`eval` with this config use from now on.
pub fn use_command(config: &Config, id: Option<i64>, mut out: impl Write) -> anyhow::Result<i32> {
    let mut store = store::open_existing(&config.store.path)?;
    if let Some(id) = id {
        let Some(bytes) = store.model_bytes(id)? else {
            anyhow::bail!("no model #{id}; `webcare model list` shows the stored ones");
        };
        // A model this webcare cannot read is not put in use.
        Model::decode(
            &bytes,
            &format!("model #{id} in {}", config.store.path.display()),
        )?;
    }
    if !store.use_model(id)? {
        anyhow::bail!("no model #{id:?}; `webcare model list` shows the stored ones");
    }
    match id {
        Some(id) => writeln!(out, "model #{id} is in use")?,
        None => writeln!(out, "no model in use; {}", without_a_model(config))?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrained_model_learns_the_configured_files_with_the_corrections() {
        let lexicons = Classifier::embedded();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ours.tsv");
        std::fs::write(
            &file,
            "lang\tlabel\ttext\n\
             en\tcomplaint\tThe box shows a blinking orange light again\n\
             en\tpraise\tThe engineer fixed it in ten minutes, brilliant\n\
             xx\tneutral\tA row in a language without lexicons\n",
        )
        .unwrap();
        let base = train::configured_examples(&lexicons, &[file]).unwrap();
        assert_eq!(base.len(), 2);
        let rows = |corrections: Vec<(String, String, String)>| train::StoreRows {
            corrections,
            confirmed: Vec::new(),
        };
        let one = vec![(
            "en".to_string(),
            "question".to_string(),
            "Does the box blink orange while it updates?".to_string(),
        )];
        let m = train_on_corrections(&lexicons, &base, rows(one), false, None).unwrap();
        assert_eq!(m.info.examples(), 3);
        // Without a new correction there is nothing to retrain, however much the files hold,
        // unless it is the first model: the files alone teach that one.
        assert!(train_on_corrections(&lexicons, &base, rows(Vec::new()), false, None).is_none());
        let first = train_on_corrections(&lexicons, &base, rows(Vec::new()), true, None).unwrap();
        assert_eq!(first.info.examples(), 2);
        assert!(train_on_corrections(&lexicons, &[], rows(Vec::new()), true, None).is_none());
    }
}
