//! The checks many source kinds make of their settings, written once: addresses that must be
//! http(s), page sizes within what the platform serves, page counts of at least one, keys that
//! must not be blank. A kind's [`crate::sources::SourceKind::check`] makes them through a
//! [`Check`], which knows the source's config path, its secrets and where problems go, so
//! each records its problem under `path.key`, the same way for every kind.

use std::ops::RangeInclusive;

use crate::config::ConfigErrors;
use crate::secret::Secret;
use crate::secret::Secrets;

/// What a kind's settings check works with: the source's config path (`sources[2]`), the
/// secrets its config names, and the problems found so far.
pub struct Check<'a> {
    /// The source's config path; problems are recorded under `path.key`.
    pub path: &'a str,
    secrets: &'a Secrets,
    errors: &'a mut ConfigErrors,
}

impl<'a> Check<'a> {
    /// A check of the source at `path`, recording into `errors`.
    pub fn new(path: &'a str, secrets: &'a Secrets, errors: &'a mut ConfigErrors) -> Check<'a> {
        Check {
            path,
            secrets,
            errors,
        }
    }

    /// Records `message` as a problem of `key`.
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(format!("{}.{key}", self.path), message);
    }

    /// Reads the secret `key` (see [`Secrets::resolve`]); `None`, with the problem recorded,
    /// when it is required and not set or cannot be read.
    pub fn secret(&mut self, key: &str, required: bool) -> Option<Secret> {
        self.secrets.resolve(key, required, self.errors)
    }

    /// The config key that names the secret `key` (`key_env` or `key_file`), for messages.
    pub fn secret_key(&self, key: &str) -> String {
        self.secrets.get(key).config_key()
    }

    /// True when the config names the secret `key`.
    pub fn secret_is_set(&self, key: &str) -> bool {
        self.secrets.is_set(key)
    }

    /// The problems recorded so far, for a check that hands them to a parser of its own.
    pub fn errors(&mut self) -> &mut ConfigErrors {
        self.errors
    }

    /// Records a problem for every `(key, value)` whose value is set and is not an http(s) URL
    /// with a host: the API hosts a kind lets tests and proxies replace.
    pub fn http_urls(&mut self, urls: &[(&str, Option<&str>)]) {
        for (key, value) in urls {
            let Some(value) = value else { continue };
            match url::Url::parse(value) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {}
                _ => self.problem(key, format!("\"{value}\" is not an http(s) URL")),
            }
        }
    }

    /// Records a problem when `value` of `key` is outside `range`; `rule` says whose limit it
    /// is (`"use"`, `"X accepts"`), so the message reads "500 is out of range; X accepts 10 to
    /// 100".
    pub fn in_range(&mut self, key: &str, value: u32, range: RangeInclusive<u32>, rule: &str) {
        if !range.contains(&value) {
            let (low, high) = (range.start(), range.end());
            self.problem(
                key,
                format!("{value} is out of range; {rule} {low} to {high}"),
            );
        }
    }

    /// Records a problem when a page count (`max_pages` and the like) is zero: a poll that may
    /// read no page reads nothing.
    pub fn at_least_one(&mut self, key: &str, value: u32) {
        if value == 0 {
            self.problem(key, "must be at least 1");
        }
    }

    /// Records a problem when `value` of `key` is blank; `why` says what the key is for.
    pub fn not_blank(&mut self, key: &str, value: &str, why: &str) {
        if value.trim().is_empty() {
            let message = if why.is_empty() {
                "must not be empty".to_string()
            } else {
                format!("must not be empty: {why}")
            };
            self.problem(key, message);
        }
    }

    /// Records a problem for every entry of `key` that is not a hashtag (letters, digits and
    /// `_`, with or without the leading `#`).
    pub fn hashtags(&mut self, key: &str, tags: &[String]) {
        for tag in tags {
            let t = tag.trim_start_matches('#');
            if t.is_empty() || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
                self.problem(
                    key,
                    format!("\"{tag}\" is not a hashtag: use letters, digits and _ only"),
                );
            }
        }
    }

    /// Records a problem under `api_version` unless `value` is a Meta API version such as
    /// `v24.0`; `example` is the version the message suggests (`"Graph API version such as
    /// \"v24.0\""`).
    pub fn api_version(&mut self, value: &str, example: &str) {
        let ok = value
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
        if !ok {
            self.problem("api_version", format!("\"{value}\" is not a {example}"));
        }
    }

    /// Records a problem for every entry of `key` that is not a two-letter code; `what` names
    /// the code (`"language"`, `"country"`).
    pub fn two_letter_codes(&mut self, key: &str, codes: &[String], what: &str) {
        for c in codes {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                self.problem(key, format!("\"{c}\" is not a two-letter {what} code"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_its_key_and_passes_good_values() {
        let mut errors = ConfigErrors::default();
        let secrets = Secrets::default();
        let mut cx = Check::new("sources[1]", &secrets, &mut errors);
        cx.http_urls(&[
            ("base_url", Some("ftp://example.org")),
            ("token_url", None),
            ("auth_url", Some("https://www.reddit.com")),
        ]);
        cx.in_range("limit", 500, 10..=100, "X accepts");
        cx.in_range("limit", 50, 10..=100, "use");
        cx.at_least_one("max_pages", 0);
        cx.not_blank("query", "  ", "it is what is searched for");
        cx.hashtags("hashtags", &["#fjordlink".into(), "fjord link".into()]);
        cx.two_letter_codes("countries", &["nl".into(), "nld".into()], "country");
        cx.api_version("v21.0", "Graph API version");
        cx.api_version("21", "Graph API version");
        let got: Vec<(&str, &str)> = errors
            .problems
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "sources[1].base_url",
                    "\"ftp://example.org\" is not an http(s) URL"
                ),
                (
                    "sources[1].limit",
                    "500 is out of range; X accepts 10 to 100"
                ),
                ("sources[1].max_pages", "must be at least 1"),
                (
                    "sources[1].query",
                    "must not be empty: it is what is searched for"
                ),
                (
                    "sources[1].hashtags",
                    "\"fjord link\" is not a hashtag: use letters, digits and _ only"
                ),
                (
                    "sources[1].countries",
                    "\"nld\" is not a two-letter country code"
                ),
                (
                    "sources[1].api_version",
                    "\"21\" is not a Graph API version"
                ),
            ]
        );
    }
}
