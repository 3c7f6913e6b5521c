//! The classifier of a stage that runs as long as the daemon: it follows the model in use in
//! the database, so `webcare model use`, `model off` and a retrained model swapped in apply to
//! that stage too, not only after a restart. The stage asks [`LiveClassifier::follow`] once per
//! batch (one indexed read); the model is loaded only when the one in use changed.

use std::sync::{Arc, RwLock};

use super::Classifier;
use super::retrain::active_model;
use crate::config::load::Config;
use crate::store::{self, Backend};

/// A classifier that can change its model while it is shared: readers take the one in use
/// with [`current`](Self::current), and [`follow`](Self::follow) swaps in the database's.
pub struct LiveClassifier {
    /// The lexicons and thresholds, without a model: what every model is stacked on.
    lexicons: Classifier,
    /// What classifies while the database has no model in use: the lexicons with the bundled
    /// model, or alone with `[classifier] bundled_model = false`.
    fallback: Classifier,
    /// False when `[classifier] model` names a file: that file stays in use.
    follows: bool,
    now: RwLock<InUse>,
}

/// The model in use and the classifier with it.
struct InUse {
    /// The database's model id this classifier was built for (`None`: no model in use). A
    /// model that could not be read keeps its id here, so it is not read again every batch.
    id: Option<i64>,
    classifier: Classifier,
}

impl LiveClassifier {
    /// The classifier `config` describes (see [`super::retrain::configured_classifier`]),
    /// following the database's model in use unless `[classifier] model` names a file.
    pub fn configured(config: &Config) -> LiveClassifier {
        let follows = config.classifier.model.is_none();
        // Read before the model: should the model in use change in between, the id is the
        // older one and the first batch loads the newer model again, never the other way.
        let id = if follows && config.store.path.exists() {
            store::open_existing(&config.store.path)
                .ok()
                .and_then(|s| s.active_model_id().ok().flatten())
        } else {
            None
        };
        let classifier = super::retrain::configured_classifier(config);
        let lexicons = Classifier {
            model: None,
            ..classifier.clone()
        };
        let fallback = match super::retrain::default_model(&config.classifier) {
            Some(m) => lexicons.clone().with_model(m),
            None => lexicons.clone(),
        };
        LiveClassifier {
            lexicons,
            fallback,
            follows,
            now: RwLock::new(InUse { id, classifier }),
        }
    }

    /// `lexicons` (any model on it is dropped) following the database's model in use, which
    /// the first [`follow`](Self::follow) loads; alone while none is in use.
    pub fn following(lexicons: Classifier) -> LiveClassifier {
        let lexicons = Classifier {
            model: None,
            ..lexicons
        };
        LiveClassifier {
            lexicons: lexicons.clone(),
            fallback: lexicons.clone(),
            follows: true,
            now: RwLock::new(InUse {
                id: None,
                classifier: lexicons,
            }),
        }
    }

    /// The classifier to use now. Cheap: its tables and model are shared.
    pub fn current(&self) -> Classifier {
        self.now
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .classifier
            .clone()
    }

    /// The database id of the model in use (`None`: none in use, or a model file).
    pub fn model_id(&self) -> Option<i64> {
        self.now.read().unwrap_or_else(|p| p.into_inner()).id
    }

    /// Puts the database's model in use into this classifier when it changed since the last
    /// call. A database that cannot be read now keeps the model in use (logged); none in use,
    /// or a stored model that cannot be decoded (logged once), gives the fallback.
    pub fn follow(&self, store: &dyn Backend) {
        if !self.follows {
            return;
        }
        let active = match store.active_model_id() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which model is in use; keeping this one");
                return;
            }
        };
        if active == self.model_id() {
            return;
        }
        let (id, classifier) = match active.map(|_| active_model(store)).transpose() {
            Ok(found) => match found.flatten() {
                Some((id, m)) => (Some(id), self.lexicons.clone().with_model(Arc::new(m))),
                // None in use any more, or one that cannot be read (logged).
                None => (active, self.fallback.clone()),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the model put in use; keeping this one");
                return;
            }
        };
        let mut now = self.now.write().unwrap_or_else(|p| p.into_inner());
        *now = InUse { id, classifier };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::model::{english_dev_examples, train};
    use crate::classify::{Input, Label};

    /// Posts in a team's own words that the lexicons alone read as neutral.
    const TEAM_POSTS: [&str; 3] = [
        "My box shows a blinking orange light again",
        "The box in the hall shows a blinking orange light",
        "Blinking orange light on the box since this morning",
    ];

    /// A model trained on the English development set and a team's corrections of posts like
    /// [`TEAM_POSTS`], labels only.
    fn trained(c: &Classifier) -> crate::classify::Model {
        let lex = |t: &str, l: usize| c.classify_lexicon(t, l);
        let mut examples = english_dev_examples();
        for room in [
            "kitchen", "attic", "garage", "study", "garden", "office", "loft",
        ] {
            for when in ["noon", "yesterday", "Monday", "this morning", "last night"] {
                examples.push(crate::classify::model::Example {
                    lang: 0,
                    task: crate::classify::model::Task::Label,
                    gold: Label::ALL
                        .iter()
                        .position(|l| *l == Label::Complaint)
                        .unwrap(),
                    text: format!(
                        "The box in the {room} shows a blinking orange light since {when}"
                    ),
                });
            }
        }
        train(&examples, &lex, 0, &|_, _| {})
    }

    #[test]
    fn a_model_put_in_use_or_taken_off_in_the_database_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store::open(&dir.path().join("m.db")).unwrap();
        let lexicons = Classifier::embedded();
        let model = trained(&lexicons);
        let with_model = lexicons.clone().with_model(Arc::new(model.clone()));
        // Texts whose verdict the model changes: what shows which classifier is in use.
        let changed: Vec<&str> = include_str!("../../fixtures/eval/en.tsv")
            .lines()
            .skip(1)
            .filter_map(|l| l.splitn(3, '\t').nth(2))
            .chain(TEAM_POSTS)
            .filter(|t| {
                let input = Input::new(t);
                with_model.classify(&input).label != lexicons.classify(&input).label
            })
            .collect();
        assert!(changed.len() >= TEAM_POSTS.len(), "{changed:?}");
        let labels = |c: &Classifier| -> Vec<Label> {
            changed
                .iter()
                .map(|t| c.classify(&Input::new(t)).label)
                .collect()
        };

        let live = LiveClassifier::following(lexicons.clone());
        live.follow(&*store);
        assert_eq!(live.model_id(), None);
        assert_eq!(labels(&live.current()), labels(&lexicons));

        let (id, _) =
            crate::classify::retrain::store_model(&mut *store, &model, 0, "train").unwrap();
        assert_eq!(store.active_model_id().unwrap(), Some(id));
        live.follow(&*store);
        assert_eq!(live.model_id(), Some(id));
        assert_eq!(labels(&live.current()), labels(&with_model));

        // `webcare model off`, then `model use` again.
        assert!(store.use_model(None).unwrap());
        live.follow(&*store);
        assert_eq!(live.model_id(), None);
        assert_eq!(labels(&live.current()), labels(&lexicons));
        assert!(store.use_model(Some(id)).unwrap());
        live.follow(&*store);
        assert_eq!(labels(&live.current()), labels(&with_model));
    }
}
