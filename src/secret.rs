//! Where a secret comes from: every secret in the config is named by a pair of keys,
//! `<key>_env = "VAR"` or `<key>_file = "PATH"` (a relative path is a systemd credential).
//!
//! [`SecretRef`] is that pair, parsed once; [`SecretRef::resolve`] reads it through the one
//! resolver into a [`Secret`], whose `Debug` never shows the
//! value. [`Secrets`] takes the pairs a source kind declares out of its settings, so a kind's
//! settings struct holds no secret keys and no kind reads a secret by hand.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::ConfigErrors;

/// A secret value (API token, password). Its `Debug` never shows the value, and it has
/// no `Display`, so it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a secret a source obtained at run time (an OAuth access token), so it is
    /// handled like one read from the config.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret named in the config by `<key>_env` and/or `<key>_file`. The names are not secret
/// (a variable name, a path); the value is read only by [`SecretRef::resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's key without its suffix, e.g. `api_key`.
    pub key: String,
    /// The environment variable named by `<key>_env`.
    pub env: Option<String>,
    /// The file (or systemd credential) named by `<key>_file`.
    pub file: Option<String>,
    /// True when a key was given but was not a string (already recorded as a problem), so
    /// the secret is not also reported missing.
    pub malformed: bool,
}

impl SecretRef {
    /// The pair as a section's own struct holds it (`password_env`, `password_file`).
    pub fn new(key: &str, env: Option<String>, file: Option<String>) -> SecretRef {
        SecretRef {
            key: key.to_string(),
            env,
            file,
            malformed: false,
        }
    }

    /// Takes `<key>_env` and `<key>_file` out of `settings`. A value that is not a string is
    /// recorded under its key path (`path.<key>_env`) and treated as not set.
    pub fn take(
        settings: &mut Map<String, Value>,
        path: &str,
        key: &str,
        errors: &mut ConfigErrors,
    ) -> SecretRef {
        let given = [format!("{key}_env"), format!("{key}_file")]
            .iter()
            .filter(|k| settings.contains_key(k.as_str()))
            .count();
        let mut one = |suffix: &str| {
            let name = format!("{key}_{suffix}");
            match settings.remove(&name)? {
                Value::String(s) => Some(s),
                other => {
                    let what = match suffix {
                        "env" => "an environment variable name",
                        _ => "a file path",
                    };
                    // Name the type, never the value: a secret pasted in by mistake stays out
                    // of the message.
                    let got = match other {
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "true or false",
                        Value::Array(_) => "a list",
                        Value::Object(_) => "a table",
                        _ => "nothing",
                    };
                    errors.push(
                        format!("{path}.{name}"),
                        format!("expected {what} in quotes, got {got}"),
                    );
                    None
                }
            }
        };
        let env = one("env");
        let file = one("file");
        let malformed = given > usize::from(env.is_some()) + usize::from(file.is_some());
        SecretRef {
            key: key.to_string(),
            env,
            file,
            malformed,
        }
    }

    /// True when either key names the secret.
    pub fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// The config key that names the secret (`<key>_env` or `<key>_file`), for messages about
    /// the value read from it.
    pub fn config_key(&self) -> String {
        let suffix = if self.env.is_some() { "env" } else { "file" };
        format!("{}_{suffix}", self.key)
    }

    /// Reads the secret. Problems (unset when `required`, both keys set, an empty or missing
    /// variable or file) are recorded under `path.<key>_env` / `path.<key>_file`; the value never
    /// appears in them.
    pub fn resolve(&self, path: &str, required: bool, errors: &mut ConfigErrors) -> Option<Secret> {
        read(
            path,
            &self.key,
            self.env.as_deref(),
            self.file.as_deref(),
            required && !self.malformed,
            errors,
        )
    }
}

/// Reads the secret named by `env` or `file` (`<key>_env` / `<key>_file` at `path`). A relative
/// file is looked up in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`) when set.
fn read(
    path: &str,
    key: &str,
    env: Option<&str>,
    file: Option<&str>,
    required: bool,
    errors: &mut ConfigErrors,
) -> Option<Secret> {
    match (env, file) {
        (Some(_), Some(_)) => {
            errors.push(
                format!("{path}.{key}_env"),
                format!("set either {key}_env or {key}_file, not both"),
            );
            None
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(Secret(v.trim().to_string())),
            Ok(_) => {
                errors.push(
                    format!("{path}.{key}_env"),
                    format!("environment variable {var} is empty"),
                );
                None
            }
            Err(_) => {
                errors.push(
                    format!("{path}.{key}_env"),
                    format!("environment variable {var} is not set"),
                );
                None
            }
        },
        (None, Some(name)) => {
            let mut p = PathBuf::from(name);
            if p.is_relative()
                && let Ok(dir) = std::env::var("CREDENTIALS_DIRECTORY")
            {
                p = Path::new(&dir).join(p);
            }
            match std::fs::read_to_string(&p) {
                Ok(v) if !v.trim().is_empty() => Some(Secret(v.trim().to_string())),
                Ok(_) => {
                    errors.push(
                        format!("{path}.{key}_file"),
                        format!("{} is empty", p.display()),
                    );
                    None
                }
                Err(e) => {
                    errors.push(
                        format!("{path}.{key}_file"),
                        format!("cannot read {}: {e}", p.display()),
                    );
                    None
                }
            }
        }
        (None, None) => {
            if required {
                errors.push(
                    format!("{path}.{key}_env"),
                    format!(
                        "a secret is required: set {key}_env = \"VAR\" or {key}_file = \"PATH\""
                    ),
                );
            }
            None
        }
    }
}

/// The secrets of one configured source, taken out of its settings by the names its kind
/// declares (see [`crate::sources::SourceKind::SECRETS`]), with the source's config path.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    path: String,
    refs: Vec<SecretRef>,
}

impl Secrets {
    /// Takes the `<key>_env` / `<key>_file` pair of every key in `keys` out of `settings`.
    pub fn take(
        settings: &mut Map<String, Value>,
        path: &str,
        keys: &[&str],
        errors: &mut ConfigErrors,
    ) -> Secrets {
        Secrets {
            path: path.to_string(),
            refs: keys
                .iter()
                .map(|k| SecretRef::take(settings, path, k, errors))
                .collect(),
        }
    }

    /// The reference named `key`; an empty one for a key the kind did not declare, which reads
    /// as not set.
    pub fn get(&self, key: &str) -> SecretRef {
        self.refs
            .iter()
            .find(|r| r.key == key)
            .cloned()
            .unwrap_or_else(|| SecretRef {
                key: key.to_string(),
                ..SecretRef::default()
            })
    }

    /// True when the config names the secret `key`.
    pub fn is_set(&self, key: &str) -> bool {
        self.get(key).is_set()
    }

    /// Reads the secret `key`, recording problems under the source's path (see
    /// [`SecretRef::resolve`]).
    pub fn resolve(&self, key: &str, required: bool, errors: &mut ConfigErrors) -> Option<Secret> {
        self.get(key).resolve(&self.path, required, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_pair_is_taken_out_of_the_settings_and_read_from_its_file() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "s3cret\n").unwrap();
        let mut settings = map(serde_json::json!({
            "query": "fjordlink",
            "token_file": file.path().to_str().unwrap(),
        }));
        let mut errors = ConfigErrors::default();
        let secrets = Secrets::take(&mut settings, "sources[0]", &["token"], &mut errors);
        assert_eq!(settings.keys().collect::<Vec<_>>(), ["query"]);
        assert!(secrets.is_set("token"));
        assert_eq!(secrets.get("token").config_key(), "token_file");
        let secret = secrets.resolve("token", true, &mut errors).unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn a_missing_required_secret_names_both_keys() {
        let mut errors = ConfigErrors::default();
        let secrets = Secrets::take(&mut Map::new(), "sources[3]", &["api_key"], &mut errors);
        assert_eq!(secrets.resolve("api_key", true, &mut errors), None);
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].0, "sources[3].api_key_env");
        assert!(errors.problems[0].1.contains("api_key_file"), "{errors}");
    }

    #[test]
    fn a_key_that_is_not_a_string_is_named_once_and_not_called_missing() {
        let mut settings = map(serde_json::json!({ "api_key_env": 4711 }));
        let mut errors = ConfigErrors::default();
        let secrets = Secrets::take(&mut settings, "sources[3]", &["api_key"], &mut errors);
        assert!(settings.is_empty());
        assert_eq!(secrets.resolve("api_key", true, &mut errors), None);
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].0, "sources[3].api_key_env");
        assert_eq!(
            errors.problems[0].1,
            "expected an environment variable name in quotes, got a number"
        );
    }

    #[test]
    fn an_optional_secret_left_out_is_no_problem() {
        let mut errors = ConfigErrors::default();
        let secrets = Secrets::take(&mut Map::new(), "s", &["token"], &mut errors);
        assert!(!secrets.is_set("token"));
        assert_eq!(secrets.resolve("token", false, &mut errors), None);
        assert!(errors.is_empty());
    }
}
