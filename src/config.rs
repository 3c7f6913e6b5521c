//! The configuration's building blocks, below every module that has a config section:
//! [`ConfigErrors`] (every problem at once, each with its key path), `parse_at`, durations,
//! and the sections that belong to no one module (`[store]`, `[http]`,
//! `[classifier]`, the common keys of `[[sources]]`). It imports nothing of the domain, so each
//! module can own its section's type and parser; [`load`] puts the sections together.
//! Secrets are read by [`crate::secret`].

pub mod load;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Exit code for a configuration error (`EX_CONFIG` from sysexits).
pub const EXIT_CONFIG: i32 = 78;

/// `[classifier]`: where the lexicons are and when a mention counts as urgent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Folder with edited lexicons (a copy of config/lexicons); the built-in ones when unset.
    pub lexicons: Option<PathBuf>,
    /// Followers at or above which a complaint or question is urgent (default 10000).
    pub high_reach: Option<i64>,
    /// Replies to a thread within an hour at or above which its complaints and questions are
    /// urgent (default 20).
    pub fast_thread: Option<u32>,
    /// Distinct authors posting the same text within a day at or above which it is spam
    /// (default 3).
    pub duplicate_authors: Option<u32>,
    /// A model written by `webcare train --out FILE`, stacked on the lexicons; unset, the
    /// database's model in use, else the bundled one.
    pub model: Option<PathBuf>,
    /// Whether the bundled model decides with the lexicons when no other model is in use
    /// (default true); false leaves the lexicons alone until a model is trained.
    pub bundled_model: Option<bool>,
    /// The daemon retrains the model after this many new corrections (default 50); 0 turns
    /// retraining off.
    pub retrain_after: Option<u32>,
    /// Labelled TSV files (`lang`, `label`, `text`) every model is trained on besides the
    /// corrections, by the daemon and by `webcare train`: a model keeps what they teach.
    #[serde(default)]
    pub train_from: Vec<PathBuf>,
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Path of the database file; created with its folder when missing.
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// Raw platform payloads are cut to this many bytes before storing.
    #[serde(default = "default_raw_max")]
    pub raw_max_bytes: usize,
    /// Mention texts (and titles) longer than this many characters are cut, and the cut is
    /// marked in the text; 0 keeps every text whole.
    #[serde(default = "default_max_text_chars")]
    pub max_text_chars: usize,
}

impl ClassifierConfig {
    /// `bundled_model`, true unless set to false.
    pub fn uses_bundled_model(&self) -> bool {
        self.bundled_model.unwrap_or(true)
    }
}

fn default_db_path() -> PathBuf {
    PathBuf::from("webcare.db")
}
fn default_raw_max() -> usize {
    16 * 1024
}
fn default_max_text_chars() -> usize {
    20_000
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_db_path(),
            raw_max_bytes: default_raw_max(),
            max_text_chars: default_max_text_chars(),
        }
    }
}

/// `[http]`: defaults for every source's HTTP client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Sent on every request; platforms such as Reddit require a descriptive one.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Give up on a request after this long.
    #[serde(default = "default_timeout")]
    pub timeout: DurationValue,
    /// Responses larger than this are refused, so a broken server cannot fill memory.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Follow a redirect to another host (default false), so a feed cannot point the daemon at
    /// an internal address. Redirects to anything but http(s) are never followed.
    #[serde(default)]
    pub follow_cross_host: bool,
}

fn default_user_agent() -> String {
    format!(
        "webcare/{} (+https://github.com/webcare/webcare)",
        env!("CARGO_PKG_VERSION")
    )
}
fn default_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(30))
}
fn default_max_body() -> usize {
    10 * 1024 * 1024
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: default_user_agent(),
            timeout: default_timeout(),
            max_body_bytes: default_max_body(),
            follow_cross_host: false,
        }
    }
}

/// `[[sources]]`: one platform account or feed. Keys other than the common ones belong to the
/// source kind and are checked by its own file in `src/sources/`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Unique name, used in logs, the database and `webcare sources`.
    pub name: String,
    /// Platform kind, e.g. `rss`.
    pub kind: String,
    /// Whether to poll it; a disabled source keeps its stored state.
    pub enabled: bool,
    /// Time between polls.
    pub interval: Duration,
    /// Random spread added to each interval, as a fraction of it (0.1 = up to 10 %).
    pub jitter: f64,
    /// Request timeout for this source.
    pub timeout: Duration,
    /// Response size cap for this source.
    pub max_body_bytes: usize,
    /// How far back to read on first start.
    pub backfill: Duration,
    /// Stop storing from this source after this many mentions per UTC day.
    pub daily_cap: Option<u64>,
    /// Owned channel: every item read belongs to this watch (subject to its exclusions).
    pub watch: Option<String>,
    /// Longest wait between attempts while the source keeps failing.
    pub max_backoff: Duration,
    /// The kind-specific keys, checked by the source kind.
    pub settings: serde_json::Map<String, Value>,
}

impl SourceConfig {
    /// Deserializes the kind-specific keys into the kind's own struct, recording errors with
    /// their key path under `path`.
    pub fn settings<T: DeserializeOwned>(
        &self,
        path: &str,
        errors: &mut ConfigErrors,
    ) -> Option<T> {
        parse_at(Value::Object(self.settings.clone()), path, errors)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceCommon {
    name: String,
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_interval")]
    interval: DurationValue,
    #[serde(default = "default_jitter")]
    jitter: f64,
    timeout: Option<DurationValue>,
    max_body_bytes: Option<usize>,
    #[serde(default = "default_backfill")]
    backfill: DurationValue,
    daily_cap: Option<u64>,
    watch: Option<String>,
    #[serde(default = "default_max_backoff")]
    max_backoff: DurationValue,
}

const SOURCE_COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "enabled",
    "interval",
    "jitter",
    "timeout",
    "max_body_bytes",
    "backfill",
    "daily_cap",
    "watch",
    "max_backoff",
];

fn yes() -> bool {
    true
}
fn default_interval() -> DurationValue {
    DurationValue(Duration::from_secs(300))
}
fn default_jitter() -> f64 {
    0.1
}
fn default_backfill() -> DurationValue {
    DurationValue(Duration::from_secs(24 * 3600))
}
fn default_max_backoff() -> DurationValue {
    DurationValue(Duration::from_secs(3600))
}

/// A duration written as `"90s"`, `"5m"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = match &v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let parsed = match &v {
            Value::String(s) => humantime::parse_duration(s.trim()).ok(),
            _ => None,
        };
        parsed.map(DurationValue).ok_or_else(|| {
            serde::de::Error::custom(format!("\"{text}\" is not a duration; use e.g. \"5m\""))
        })
    }
}

/// Every problem found in a config, each with its key path.
#[derive(Debug, Default, Clone)]
pub struct ConfigErrors {
    /// `(key path, why)` pairs in the order found.
    pub problems: Vec<(String, String)>,
    /// The file the problems are in.
    pub file: String,
}

impl ConfigErrors {
    /// Records one problem at `key`. The text goes through [`crate::redact::redact_text`]: a
    /// problem may quote a configured URL (a source's `base_url`), and a URL may carry
    /// `user:password@` or a token in its query.
    pub fn push(&mut self, key: impl Into<String>, why: impl Into<String>) {
        let why = crate::redact::redact_text(&why.into());
        self.problems.push((key.into(), why));
    }
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} in {}:",
            if n == 1 {
                "1 problem".to_string()
            } else {
                format!("{n} problems")
            },
            self.file
        )?;
        for (key, why) in &self.problems {
            if key.is_empty() {
                writeln!(f, "  {why}")?;
            } else {
                writeln!(f, "  {key}: {why}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Deserializes `value` as `T`, recording a failure under `path` plus the inner key path.
pub(crate) fn parse_at<T: DeserializeOwned>(
    value: Value,
    path: &str,
    errors: &mut ConfigErrors,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let key = match (path.is_empty(), inner == ".") {
                (true, _) => inner,
                (false, true) => path.to_string(),
                (false, false) => format!("{path}.{inner}"),
            };
            errors.push(key, e.into_inner().to_string());
            None
        }
    }
}

/// Deserializes a list of tables at `key` (`[[teams]]`), recording each bad entry under
/// `key[i]`; a value that is not a list is one problem at `key`.
pub(crate) fn parse_list<T: DeserializeOwned>(
    v: Option<Value>,
    key: &str,
    errors: &mut ConfigErrors,
) -> Vec<T> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| parse_at(item, &format!("{key}[{i}]"), errors))
            .collect(),
        Some(_) => {
            errors.push(key, format!("must be a list of [[{key}]] tables"));
            Vec::new()
        }
    }
}

/// Reads one `[[sources]]` entry: the common keys checked here, the rest kept as the kind's
/// settings for the kind to check.
pub(crate) fn parse_source(
    item: Value,
    path: &str,
    http: &HttpConfig,
    errors: &mut ConfigErrors,
) -> Option<SourceConfig> {
    let Value::Object(map) = item else {
        errors.push(path, "must be a table");
        return None;
    };
    let (common, settings): (
        serde_json::Map<String, Value>,
        serde_json::Map<String, Value>,
    ) = map
        .into_iter()
        .partition(|(k, _)| SOURCE_COMMON_KEYS.contains(&k.as_str()));
    let c: SourceCommon = parse_at(Value::Object(common), path, errors)?;
    if c.name.trim().is_empty() {
        errors.push(format!("{path}.name"), "must not be empty");
    }
    if !(0.0..=1.0).contains(&c.jitter) {
        errors.push(
            format!("{path}.jitter"),
            format!(
                "{} is out of range; use a fraction between 0 and 1",
                c.jitter
            ),
        );
    }
    if c.interval.0 < Duration::from_secs(1) {
        errors.push(format!("{path}.interval"), "must be at least 1s");
    }
    Some(SourceConfig {
        name: c.name,
        kind: c.kind,
        enabled: c.enabled,
        interval: c.interval.0,
        jitter: c.jitter,
        timeout: c.timeout.map(|d| d.0).unwrap_or(http.timeout.0),
        max_body_bytes: c.max_body_bytes.unwrap_or(http.max_body_bytes),
        backfill: c.backfill.0,
        daily_cap: c.daily_cap,
        watch: c.watch,
        max_backoff: c.max_backoff.0,
        settings,
    })
}
