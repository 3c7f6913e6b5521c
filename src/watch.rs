//! Watches compiled for matching: which watches a mention belongs to. An item no watch claims
//! is never stored; owned channels (a source with `watch = "..."`) belong to their watch unless
//! its exclusions or language filter say otherwise. The `[[watches]]` section is read here too.

use std::collections::HashMap;

use serde::Deserialize;

use crate::classify::{Classification, Classifier, CustomTerms, Input};
use crate::config::{ConfigErrors, parse_list};
use crate::query::{Doc, Query, QueryError};
use crate::sources::Mention;

/// `[[watches]]`: one named query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// The brand or product; shown in alerts and digests.
    pub name: String,
    /// Boolean query, see the README's query syntax.
    pub query: String,
    /// Only keep mentions in these languages (ISO 639-1); empty keeps all.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Stop storing for this watch after this many mentions per UTC day.
    pub daily_cap: Option<u64>,
    /// Brand-specific classifier terms (`complaint`, `praise`, `urgent`, `spam` lists).
    #[serde(default)]
    pub terms: CustomTerms,
}

/// `[[watches]]`: at least one, each named once and without a comma, with a query that
/// parses and two-letter language codes.
pub fn parse_watches(
    value: Option<serde_json::Value>,
    errors: &mut ConfigErrors,
) -> Vec<WatchConfig> {
    let watches = parse_list::<WatchConfig>(value, "watches", errors);
    let mut names = std::collections::BTreeSet::new();
    for (i, w) in watches.iter().enumerate() {
        let path = format!("watches[{i}]");
        if w.name.trim().is_empty() {
            errors.push(format!("{path}.name"), "must not be empty");
        }
        // A mention stores its watches as one comma-separated column.
        if w.name.contains(',') {
            errors.push(
                format!("{path}.name"),
                format!(
                    "\"{}\" contains a comma, which cannot be part of a watch's name",
                    w.name
                ),
            );
        }
        if !names.insert(w.name.clone()) {
            errors.push(
                format!("{path}.name"),
                format!("watch \"{}\" is defined twice", w.name),
            );
        }
        if let Err(e) = Query::parse(&w.query) {
            errors.push(format!("{path}.query"), e.to_string());
        }
        for lang in &w.languages {
            if lang.len() != 2 || !lang.chars().all(|c| c.is_ascii_lowercase()) {
                errors.push(
                    format!("{path}.languages"),
                    format!("\"{lang}\" is not a two-letter language code such as \"nl\""),
                );
            }
        }
    }
    if watches.is_empty() {
        errors.push("watches", "at least one [[watches]] entry is needed: webcare stores only mentions that match a watch");
    }
    watches
}

struct CompiledWatch {
    name: String,
    query: Query,
    languages: Vec<String>,
    daily_cap: Option<u64>,
    /// The classifier with this watch's own terms, when it has any.
    classifier: Option<Classifier>,
}

/// Every configured watch, parsed once.
pub struct Watches {
    list: Vec<CompiledWatch>,
    classifier: Classifier,
}

impl Watches {
    /// Parses every watch's query; `classifier` judges the mentions, with every watch's name
    /// read as the team's own brand, and extended per watch with the watch's own terms.
    pub fn compile(
        config: &[WatchConfig],
        classifier: Classifier,
    ) -> Result<Watches, (String, QueryError)> {
        // Compiled here, once, with the names: not when the first mention waits for it.
        let classifier = with_watch_names(config, classifier).compiled();
        let list = config
            .iter()
            .map(|w| {
                Ok(CompiledWatch {
                    name: w.name.clone(),
                    query: Query::parse(&w.query).map_err(|e| (w.name.clone(), e))?,
                    languages: w.languages.clone(),
                    daily_cap: w.daily_cap,
                    classifier: own_classifier(w, &classifier).map(Classifier::compiled),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Watches { list, classifier })
    }

    /// The classifier of the one watch `name`, as [`Watches::compile`] makes it but without
    /// compiling the others' (for `webcare classify --watch`); `None` when no watch is so named.
    pub fn classifier_of(
        config: &[WatchConfig],
        name: &str,
        classifier: Classifier,
    ) -> Option<Classifier> {
        let w = config.iter().find(|w| w.name == name)?;
        let shared = with_watch_names(config, classifier);
        Some(own_classifier(w, &shared).unwrap_or(shared).compiled())
    }

    /// Names of the watches `m` belongs to. `owned` names the watch of an owned channel.
    pub fn matching(&self, m: &Mention, owned: Option<&str>) -> Vec<String> {
        let text = match &m.title {
            Some(t) if !m.text.starts_with(t.as_str()) => format!("{t}\n{}", m.text),
            _ => m.text.clone(),
        };
        let doc = Doc::new(
            &text,
            m.author_handle.as_deref(),
            m.url.as_deref(),
            m.lang.as_deref(),
        );
        let mut out = Vec::new();
        for w in &self.list {
            if let Some(lang) = m.lang.as_deref()
                && !w.languages.is_empty()
                && !w.languages.iter().any(|l| l == lang)
            {
                continue;
            }
            let hit = if owned == Some(w.name.as_str()) {
                !w.query.excluded(&doc)
            } else {
                w.query.matches(&doc)
            };
            if hit {
                out.push(w.name.clone());
            }
        }
        out
    }

    /// Classifies a mention that matched `watches`, with the first watch's own terms if it has
    /// any.
    pub fn classify(&self, m: &Mention, watches: &[String]) -> Classification {
        let classifier = watches
            .first()
            .and_then(|name| self.classifier_for(name))
            .unwrap_or(&self.classifier);
        let (text, headline) = match &m.title {
            Some(t) if !m.text.starts_with(t.as_str()) => (format!("{t}. {}", m.text), true),
            _ => (m.text.clone(), false),
        };
        // A source with `voice = "news"` marks its items' raw payload (see sources/rss.rs).
        let voice = m
            .raw
            .get("voice")
            .and_then(|v| serde_json::from_value::<crate::classify::Voice>(v.clone()).ok());
        classifier.classify(&Input {
            text: &text,
            lang: m.lang.as_deref(),
            author_reach: m.author_reach,
            rating: m.rating,
            voice,
            headline,
            ..Input::new(&text)
        })
    }

    /// The classifier that judges the mentions of the watch `name`: with its own terms, or the
    /// shared one. `None` when no watch has that name.
    pub fn classifier_for(&self, name: &str) -> Option<&Classifier> {
        let w = self.list.iter().find(|w| w.name == name)?;
        Some(w.classifier.as_ref().unwrap_or(&self.classifier))
    }

    /// The classifier without any watch's own terms; its thresholds apply to every watch.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Daily caps by watch name, for the watches that have one.
    pub fn caps(&self) -> HashMap<String, u64> {
        self.list
            .iter()
            .filter_map(|w| w.daily_cap.map(|c| (w.name.clone(), c)))
            .collect()
    }
}

/// `classifier` knowing every watch's name as one of the brand's own, so "switching to <name>"
/// is no customer leaving.
fn with_watch_names(config: &[WatchConfig], classifier: Classifier) -> Classifier {
    let names: Vec<&str> = config.iter().map(|w| w.name.as_str()).collect();
    classifier.with_own_names(&names)
}

/// The classifier of a watch with terms of its own: `shared` plus those terms. `None` for a
/// watch without, which uses `shared` itself.
fn own_classifier(w: &WatchConfig, shared: &Classifier) -> Option<Classifier> {
    (w.terms != CustomTerms::default()).then(|| shared.clone().with_custom_terms(&w.terms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Urgency;

    fn watch(name: &str, query: &str) -> WatchConfig {
        WatchConfig {
            name: name.into(),
            query: query.into(),
            languages: Vec::new(),
            daily_cap: None,
            terms: CustomTerms::default(),
        }
    }

    #[test]
    fn moving_to_any_watched_name_is_not_leaving_and_custom_terms_keep_that() {
        let mut product = watch("FjordBox", "fjordbox");
        product.terms.complaint = vec!["orange light".into()];
        let watches = Watches::compile(
            &[watch("FjordLink", "fjordlink"), product],
            Classifier::embedded(),
        )
        .unwrap();
        let verdict = |text: &str| {
            let m = Mention {
                text: text.into(),
                ..Default::default()
            };
            let v = watches.classify(&m, &watches.matching(&m, None));
            (v.label, v.urgency)
        };
        assert_eq!(
            verdict("Switching to FjordLink next week").1,
            Urgency::Normal
        );
        assert_eq!(verdict("Ik stap over naar FjordBox").1, Urgency::Normal);
        assert_eq!(
            verdict("Switching to Vodafone, FjordLink let me down").1,
            Urgency::Urgent
        );
        // The FjordBox watch has terms of its own, and still knows both names.
        assert_eq!(
            verdict("My FjordBox shows an orange light").0,
            crate::classify::Label::Complaint
        );
        assert_eq!(verdict("Switching to FjordBox").1, Urgency::Normal);
        assert!(watches.classifier_for("FjordBox").is_some());
        assert!(watches.classifier_for("Vodafone").is_none());
    }

    #[test]
    fn one_watch_classifier_judges_as_the_compiled_set_does() {
        let mut product = watch("FjordBox", "fjordbox");
        product.terms.complaint = vec!["orange light".into()];
        let config = [watch("FjordLink", "fjordlink"), product];
        let watches = Watches::compile(&config, Classifier::embedded()).unwrap();
        for (name, text) in [
            ("FjordBox", "My FjordBox shows an orange light"),
            ("FjordBox", "Switching to FjordLink"),
            ("FjordLink", "My FjordBox shows an orange light"),
            ("FjordLink", "Ik stap over naar FjordBox"),
        ] {
            let alone = Watches::classifier_of(&config, name, Classifier::embedded()).unwrap();
            let input = Input::new(text);
            let whole = watches.classifier_for(name).unwrap().classify(&input);
            let one = alone.classify(&input);
            assert_eq!(
                (one.label, one.urgency),
                (whole.label, whole.urgency),
                "{name}: {text}"
            );
        }
        assert!(Watches::classifier_of(&config, "Vodafone", Classifier::embedded()).is_none());
    }
}
