//! The whole configuration: loading (TOML file + `WEBCARE__SECTION__KEY` environment
//! overrides) and handing each section to the module that owns its type and parser, so that
//! every problem in the file is reported at once with its key path. This sits above the
//! sections' owners; the building blocks they share are in [`crate::config`].

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{
    ClassifierConfig, ConfigErrors, HttpConfig, SourceConfig, StoreConfig, parse_at, parse_source,
};
use crate::watch::WatchConfig;

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config was read from, for messages.
    pub file: std::path::PathBuf,
    /// Database settings.
    pub store: StoreConfig,
    /// HTTP client defaults shared by all sources.
    pub http: HttpConfig,
    /// What to listen for.
    pub watches: Vec<WatchConfig>,
    /// Where to listen.
    pub sources: Vec<SourceConfig>,
    /// Who hears about what: `[mail]`, `[[teams]]`, `[[routes]]`, `[topics]`.
    pub notify: crate::notify::settings::NotifyConfig,
    /// Classifier settings.
    pub classifier: ClassifierConfig,
    /// How long mention texts, authors and raw payloads are kept: `[retention]`.
    pub retention: crate::privacy::RetentionConfig,
    /// Admin endpoints (`[admin]`): health, readiness, metrics.
    pub admin: crate::admin::settings::AdminConfig,
    /// The web inbox (`[web]`), when configured.
    pub web: Option<crate::web::settings::WebConfig>,
}

const TOP_KEYS: &[&str] = &[
    "store",
    "http",
    "classifier",
    "retention",
    "admin",
    "watches",
    "sources",
    // notify:
    "mail",
    "teams",
    "routes",
    "topics",
    "digest",
    "spikes",
    "web",
];

impl Config {
    /// Loads `file`, applies `WEBCARE__SECTION__KEY` environment overrides, reads secrets and
    /// validates everything. Touches neither the network nor the database.
    pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
        let mut errors = ConfigErrors {
            file: file.display().to_string(),
            ..Default::default()
        };
        if !file.exists() {
            errors.push("", format!("config file {} does not exist", file.display()));
            return Err(errors);
        }
        let built = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("WEBCARE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build();
        let root: Value = match built.and_then(|c| c.try_deserialize::<Value>()) {
            Ok(v) => v,
            Err(e) => {
                errors.push("", format!("cannot read config: {e}"));
                return Err(errors);
            }
        };
        Self::from_value(file, root, errors)
    }

    /// Validates an already-parsed config tree (used by [`Config::load`] and tests).
    pub fn from_value(
        file: &Path,
        root: Value,
        mut errors: ConfigErrors,
    ) -> Result<Config, ConfigErrors> {
        let Value::Object(mut root) = root else {
            errors.push("", "the config must be a TOML table");
            return Err(errors);
        };
        check_top_keys(&root, &mut errors);
        let store: StoreConfig = section(root.remove("store"), "store", &mut errors);
        let http: HttpConfig = section(root.remove("http"), "http", &mut errors);
        let classifier = parse_classifier(root.remove("classifier"), &mut errors);
        let retention = crate::privacy::parse_retention(root.remove("retention"), &mut errors);
        let admin = crate::admin::settings::parse_config(root.remove("admin"), &mut errors);
        let web = crate::web::settings::parse_config(root.remove("web"), &mut errors);
        let watches = crate::watch::parse_watches(root.remove("watches"), &mut errors);
        let watch_names: Vec<String> = watches.iter().map(|w| w.name.clone()).collect();
        let sources = parse_sources(root.remove("sources"), &http, &watch_names, &mut errors);
        let notify = crate::notify::settings::parse_config(
            &mut root,
            &watch_names,
            &sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            &mut errors,
        );
        if sources.is_empty() && errors.is_empty() {
            errors.push("sources", "at least one [[sources]] entry is needed");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            file: file.to_path_buf(),
            store,
            http,
            watches,
            sources,
            classifier,
            notify,
            retention,
            admin,
            web,
        })
    }
}

/// Records every top-level key that no section owns.
fn check_top_keys(root: &Map<String, Value>, errors: &mut ConfigErrors) {
    for key in root.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            errors.push(
                key.clone(),
                format!("unknown key; known top-level keys: {}", TOP_KEYS.join(", ")),
            );
        }
    }
}

/// A section that may be left out: its defaults when missing or wrong (the problem recorded).
fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    key: &str,
    errors: &mut ConfigErrors,
) -> T {
    value
        .and_then(|v| parse_at(v, key, errors))
        .unwrap_or_default()
}

/// `[classifier]`, with its lexicon folder loaded once to find mistakes in it now rather than
/// at the daemon's start.
fn parse_classifier(value: Option<Value>, errors: &mut ConfigErrors) -> ClassifierConfig {
    let classifier: ClassifierConfig = section(value, "classifier", errors);
    if let Some(dir) = &classifier.lexicons
        && let Err(e) = crate::classify::Classifier::from_dir(dir)
    {
        errors.push("classifier.lexicons", e.to_string());
    }
    for file in &classifier.train_from {
        if let Err(e) = crate::classify::train::check_labelled(file) {
            errors.push("classifier.train_from", format!("{e:#}"));
        }
    }
    if classifier.high_reach.is_some_and(|n| n < 0) {
        errors.push("classifier.high_reach", "must not be negative");
    }
    if classifier.fast_thread == Some(0) {
        errors.push("classifier.fast_thread", "must be at least 1");
    }
    if classifier.duplicate_authors.is_some_and(|n| n < 2) {
        errors.push(
            "classifier.duplicate_authors",
            "must be at least 2: one author posting a text is not a campaign",
        );
    }
    classifier
}

/// `[[sources]]`: each entry's common keys, its name unique, its `watch` one of `watches`, and
/// its kind's own keys checked by the kind.
fn parse_sources(
    value: Option<Value>,
    http: &HttpConfig,
    watches: &[String],
    errors: &mut ConfigErrors,
) -> Vec<SourceConfig> {
    let mut sources = Vec::new();
    let items = match value {
        None => return sources,
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push("sources", "must be a list of [[sources]] tables");
            return sources;
        }
    };
    let mut names = BTreeSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("sources[{i}]");
        let Some(s) = parse_source(item, &path, http, errors) else {
            continue;
        };
        if !names.insert(s.name.clone()) {
            errors.push(
                format!("{path}.name"),
                format!("source \"{}\" is defined twice", s.name),
            );
        }
        if let Some(w) = &s.watch
            && !watches.contains(w)
        {
            errors.push(
                format!("{path}.watch"),
                format!("no watch is named \"{w}\""),
            );
        }
        crate::sources::validate(&s, &path, errors);
        sources.push(s);
    }
    sources
}
