//! The checks many source kinds make of their settings, written once: addresses that must be
//! http(s), page sizes within what the platform serves, page counts of at least one, keys that
//! must not be blank. Each records its problem under `path.key`, the same way for every kind.

use std::ops::RangeInclusive;

use crate::config::ConfigErrors;

/// Records a problem for every `(key, value)` whose value is set and is not an http(s) URL with
/// a host: the API hosts a kind lets tests and proxies replace.
pub(crate) fn http_urls(path: &str, urls: &[(&str, Option<&str>)], errors: &mut ConfigErrors) {
    for (key, value) in urls {
        let Some(value) = value else { continue };
        match url::Url::parse(value) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {}
            _ => errors.push(
                format!("{path}.{key}"),
                format!("\"{value}\" is not an http(s) URL"),
            ),
        }
    }
}

/// Records a problem when `value` of `key` is outside `range`; `rule` says whose limit it is
/// (`"use"`, `"X accepts"`), so the message reads "500 is out of range; X accepts 10 to 100".
pub(crate) fn in_range(
    path: &str,
    key: &str,
    value: u32,
    range: RangeInclusive<u32>,
    rule: &str,
    errors: &mut ConfigErrors,
) {
    if !range.contains(&value) {
        errors.push(
            format!("{path}.{key}"),
            format!(
                "{value} is out of range; {rule} {} to {}",
                range.start(),
                range.end()
            ),
        );
    }
}

/// Records a problem when a page count (`max_pages` and the like) is zero: a poll that may read
/// no page reads nothing.
pub(crate) fn at_least_one(path: &str, key: &str, value: u32, errors: &mut ConfigErrors) {
    if value == 0 {
        errors.push(format!("{path}.{key}"), "must be at least 1");
    }
}

/// Records a problem when `value` of `key` is blank; `why` says what the key is for.
pub(crate) fn not_blank(path: &str, key: &str, value: &str, why: &str, errors: &mut ConfigErrors) {
    if value.trim().is_empty() {
        let message = if why.is_empty() {
            "must not be empty".to_string()
        } else {
            format!("must not be empty: {why}")
        };
        errors.push(format!("{path}.{key}"), message);
    }
}

/// Records a problem for every entry of `key` that is not a hashtag (letters, digits and `_`,
/// with or without the leading `#`).
pub(crate) fn hashtags(path: &str, key: &str, tags: &[String], errors: &mut ConfigErrors) {
    for tag in tags {
        let t = tag.trim_start_matches('#');
        if t.is_empty() || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
            errors.push(
                format!("{path}.{key}"),
                format!("\"{tag}\" is not a hashtag: use letters, digits and _ only"),
            );
        }
    }
}

/// Records a problem under `path.api_version` unless `value` is a Meta API version such as
/// `v24.0`; `example` is the version the message suggests (`"Graph API version such as
/// \"v24.0\""`).
pub(crate) fn api_version(path: &str, value: &str, example: &str, errors: &mut ConfigErrors) {
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
        errors.push(
            format!("{path}.api_version"),
            format!("\"{value}\" is not a {example}"),
        );
    }
}

/// Records a problem for every entry of `key` that is not a two-letter code; `what` names the
/// code (`"language"`, `"country"`).
pub(crate) fn two_letter_codes(
    path: &str,
    key: &str,
    codes: &[String],
    what: &str,
    errors: &mut ConfigErrors,
) {
    for c in codes {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            errors.push(
                format!("{path}.{key}"),
                format!("\"{c}\" is not a two-letter {what} code"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_its_key_and_passes_good_values() {
        let mut errors = ConfigErrors::default();
        http_urls(
            "sources[1]",
            &[
                ("base_url", Some("ftp://example.org")),
                ("token_url", None),
                ("auth_url", Some("https://www.reddit.com")),
            ],
            &mut errors,
        );
        in_range(
            "sources[1]",
            "limit",
            500,
            10..=100,
            "X accepts",
            &mut errors,
        );
        in_range("sources[1]", "limit", 50, 10..=100, "use", &mut errors);
        at_least_one("sources[1]", "max_pages", 0, &mut errors);
        not_blank(
            "sources[1]",
            "query",
            "  ",
            "it is what is searched for",
            &mut errors,
        );
        hashtags(
            "sources[1]",
            "hashtags",
            &["#fjordlink".into(), "fjord link".into()],
            &mut errors,
        );
        two_letter_codes(
            "sources[1]",
            "countries",
            &["nl".into(), "nld".into()],
            "country",
            &mut errors,
        );
        api_version("sources[1]", "v21.0", "Graph API version", &mut errors);
        api_version("sources[1]", "21", "Graph API version", &mut errors);
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
