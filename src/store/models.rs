//! The classifier's trained models in the database: each one kept with its cross-validated
//! score, at most one active. Storing a model and deciding whether it replaces the active one
//! happen in one transaction, so two trainers finishing together never both win.

use chrono::Utc;
use rusqlite::{OptionalExtension, params};

use super::row::row_struct;
use super::{Store, StoreError};

/// Models kept besides the active one; older ones are deleted when a new one is stored.
pub const KEEP_MODELS: usize = 5;

row_struct! {
    /// A stored model's description (without its weights).
    #[derive(Debug, Clone, PartialEq)]
    pub struct StoredModel {
        /// Row id, as `webcare model use ID` takes it.
        pub id: i64,
        /// When it was stored (epoch seconds).
        pub created_at: i64,
        /// Languages with a head in use, comma-separated ("en,nl").
        pub langs: String,
        /// Examples it was trained on.
        pub examples: i64,
        /// Cross-validated macro-F1 with the model (mean over languages and tasks).
        pub cv_score: f64,
        /// The same folds scored by the lexicons alone.
        pub lexicon_score: f64,
        /// The last `label_corrections` row it was trained with.
        pub corrections_seen: i64,
        /// `train` (the command) or `daemon` (retrained by itself).
        pub trained_by: String,
        /// Why it is not in use, when it was refused.
        pub note: String,
        /// In use now.
        pub active: bool,
    }
}

/// A model to store: its description and its bytes ([`crate::classify::Model::to_bytes`]).
pub struct NewModel<'a> {
    pub langs: &'a str,
    pub examples: i64,
    pub cv_score: f64,
    pub lexicon_score: f64,
    /// The bundled model's score on the same examples, when the model was trained on top of
    /// it: what it must reach when no model of the database is in use.
    pub base_score: Option<f64>,
    pub corrections_seen: i64,
    pub trained_by: &'a str,
    pub bytes: &'a [u8],
}

/// What became of a stored model.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelDecision {
    /// Now in use; `previous` is the model it replaced, with its score.
    Activated { previous: Option<(i64, f64)> },
    /// Stored but not used: the score it had to reach (the active model's, or with no model
    /// active the bundled model's or the lexicons' own on the same folds), and the active model
    /// if any.
    Refused { needed: f64, active: Option<i64> },
    /// Stored but not used: no language has a head in use (too few examples, or examples that
    /// contradict the lexicons), so it would change no verdict. The model in use stays.
    Headless { active: Option<i64> },
}

/// The classifier models trained on a team's corrections, and which one is in use.
pub trait ModelStore {
    /// The id of the newest staff correction (0 when there is none).
    fn last_correction_id(&self) -> Result<i64, StoreError>;

    /// Corrections made after correction row `after`.
    fn corrections_after(&self, after: i64) -> Result<i64, StoreError>;

    /// The newest correction any stored model (used or refused) was trained with, so a refused
    /// model is not trained again on the same corrections.
    fn corrections_trained(&self) -> Result<i64, StoreError>;

    /// Every stored model, newest first.
    fn models(&self) -> Result<Vec<StoredModel>, StoreError>;

    /// The id of the model in use, if any.
    fn active_model_id(&self) -> Result<Option<i64>, StoreError>;

    /// The bytes of model `id`.
    fn model_bytes(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a model and puts it in use unless it scored worse than the model in use (or,
    /// with none in use, worse than the lexicons alone on its own folds), or has no head in use
    /// in any language. A refused model is kept with a note saying why. Old inactive models
    /// beyond [`KEEP_MODELS`] are deleted.
    fn add_model(&mut self, m: &NewModel<'_>) -> Result<(i64, ModelDecision), StoreError>;

    /// Puts model `id` in use (`None`: no model, the lexicons decide alone). Returns false
    /// when there is no model `id`.
    fn use_model(&mut self, id: Option<i64>) -> Result<bool, StoreError>;
}

impl ModelStore for Store {
    fn last_correction_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(id), 0) FROM label_corrections",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn corrections_after(&self, after: i64) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM label_corrections WHERE id > ?1",
                [after],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn corrections_trained(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(corrections_seen), 0) FROM models",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    fn models(&self) -> Result<Vec<StoredModel>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {} FROM models ORDER BY id DESC",
                StoredModel::COLUMNS
            ),
            [],
            StoredModel::from_row,
        )
    }

    fn active_model_id(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT id FROM models WHERE active = 1", [], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    fn model_bytes(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT model FROM models WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    fn add_model(&mut self, m: &NewModel<'_>) -> Result<(i64, ModelDecision), StoreError> {
        self.write(|tx| {
            let active: Option<(i64, f64)> = tx
                .query_row(
                    "SELECT id, cv_score FROM models WHERE active = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let needed = active.map_or(m.base_score.unwrap_or(m.lexicon_score), |(_, s)| s);
            // Scores are rounded to the report's three decimals: a difference nobody can see is
            // no reason to refuse.
            let headless = m.langs.is_empty();
            let worse = headless || (m.cv_score * 1000.0).round() < (needed * 1000.0).round();
            let note = if headless {
                "not used: no language has a head in use, so it would change no verdict".to_string()
            } else if worse {
                match active {
                    Some((id, s)) => format!(
                        "refused: cross-validated {:.3} is below {s:.3} of model #{id}",
                        m.cv_score
                    ),
                    None => format!(
                        "refused: cross-validated {:.3} is below {needed:.3} of {}",
                        m.cv_score,
                        if m.base_score.is_some() {
                            "the bundled model"
                        } else {
                            "the lexicons alone"
                        }
                    ),
                }
            } else {
                String::new()
            };
            if !worse {
                tx.execute("UPDATE models SET active = 0 WHERE active = 1", [])?;
            }
            tx.execute(
                "INSERT INTO models (created_at, langs, examples, cv_score, lexicon_score,
                                 corrections_seen, trained_by, note, active, model)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    Utc::now().timestamp(),
                    m.langs,
                    m.examples,
                    m.cv_score,
                    m.lexicon_score,
                    m.corrections_seen,
                    m.trained_by,
                    note,
                    !worse,
                    m.bytes
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM models WHERE active = 0 AND id NOT IN
                (SELECT id FROM models WHERE active = 0 ORDER BY id DESC LIMIT ?1)",
                [KEEP_MODELS as i64],
            )?;
            Ok((
                id,
                if headless {
                    ModelDecision::Headless {
                        active: active.map(|(id, _)| id),
                    }
                } else if worse {
                    ModelDecision::Refused {
                        needed,
                        active: active.map(|(id, _)| id),
                    }
                } else {
                    ModelDecision::Activated { previous: active }
                },
            ))
        })
    }

    fn use_model(&mut self, id: Option<i64>) -> Result<bool, StoreError> {
        self.write(|tx| {
            if let Some(id) = id {
                let found: Option<i64> = tx
                    .query_row("SELECT id FROM models WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                if found.is_none() {
                    return Ok(false);
                }
            }
            tx.execute("UPDATE models SET active = 0 WHERE active = 1", [])?;
            if let Some(id) = id {
                tx.execute(
                    "UPDATE models SET active = 1, note = '' WHERE id = ?1",
                    [id],
                )?;
            }
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(score: f64, lexicon: f64) -> NewModel<'static> {
        NewModel {
            langs: "en",
            examples: 100,
            cv_score: score,
            lexicon_score: lexicon,
            base_score: None,
            corrections_seen: 0,
            trained_by: "train",
            bytes: b"weights",
        }
    }

    #[test]
    fn a_worse_model_is_kept_but_not_used_and_the_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("m.db")).unwrap();
        // Worse than the lexicons alone: refused even with nothing in use.
        let (first, d) = s.add_model(&model(0.70, 0.75)).unwrap();
        assert!(matches!(d, ModelDecision::Refused { active: None, .. }));
        assert_eq!(s.active_model_id().unwrap(), None);
        let (good, d) = s.add_model(&model(0.85, 0.75)).unwrap();
        assert_eq!(d, ModelDecision::Activated { previous: None });
        let (worse, d) = s.add_model(&model(0.80, 0.70)).unwrap();
        assert_eq!(
            d,
            ModelDecision::Refused {
                needed: 0.85,
                active: Some(good)
            }
        );
        assert_eq!(s.active_model_id().unwrap(), Some(good));
        let listed = s.models().unwrap();
        assert!(
            listed[0].note.contains("below 0.850 of model #"),
            "{listed:?}"
        );
        // Rolling back to a refused one is the operator's call.
        assert!(s.use_model(Some(worse)).unwrap());
        assert_eq!(s.active_model_id().unwrap(), Some(worse));
        assert!(!s.use_model(Some(999)).unwrap());
        assert_eq!(s.active_model_id().unwrap(), Some(worse));
        for _ in 0..KEEP_MODELS + 2 {
            s.add_model(&model(0.10, 0.0)).unwrap();
        }
        let ids: Vec<i64> = s.models().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), KEEP_MODELS + 1, "{ids:?}");
        assert!(ids.contains(&worse) && !ids.contains(&first));
        assert!(s.use_model(None).unwrap());
        assert_eq!(s.active_model_id().unwrap(), None);
    }

    #[test]
    fn a_model_trained_on_the_bundled_examples_must_beat_the_bundled_model_to_replace_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("m.db")).unwrap();
        let on_bundled = |score| NewModel {
            base_score: Some(0.80),
            ..model(score, 0.70)
        };
        // Better than the lexicons, worse than the bundled model that decides meanwhile.
        let (_, d) = s.add_model(&on_bundled(0.78)).unwrap();
        assert_eq!(
            d,
            ModelDecision::Refused {
                needed: 0.80,
                active: None
            }
        );
        assert!(
            s.models().unwrap()[0]
                .note
                .contains("below 0.800 of the bundled model")
        );
        let (better, d) = s.add_model(&on_bundled(0.82)).unwrap();
        assert_eq!(d, ModelDecision::Activated { previous: None });
        assert_eq!(s.active_model_id().unwrap(), Some(better));
    }

    #[test]
    fn a_model_without_a_head_in_use_is_kept_but_not_used_even_on_a_tie() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("m.db")).unwrap();
        let headless = NewModel {
            langs: "",
            ..model(0.75, 0.75)
        };
        let (_, d) = s.add_model(&headless).unwrap();
        assert_eq!(d, ModelDecision::Headless { active: None });
        assert_eq!(s.active_model_id().unwrap(), None);
        let (good, _) = s.add_model(&model(0.80, 0.75)).unwrap();
        let (_, d) = s
            .add_model(&NewModel {
                langs: "",
                ..model(0.90, 0.75)
            })
            .unwrap();
        assert_eq!(d, ModelDecision::Headless { active: Some(good) });
        assert_eq!(s.active_model_id().unwrap(), Some(good));
        assert!(
            s.models().unwrap()[0]
                .note
                .contains("no language has a head in use")
        );
    }
}
