//! Secret redaction for every text that leaves the process: log lines, `last_error`,
//! `poll_log`, `/healthz`, `webcare sources` and `webcare once`. HTTP libraries print full URLs
//! in their errors, and feed URLs carry API keys in their query or `user:password@` in front of
//! the host, so error text is passed through [`redact_text`] where it is made, and URLs through
//! [`redact_url`]. One rule for what counts as a secret lives here: [`is_secret_name`].

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a redacted value is replaced by.
pub const REDACTED: &str = "REDACTED";

/// Query parameter names whose values are credentials, compared without case.
const SECRET_NAMES: &[&str] = &[
    "key",
    "apikey",
    "api_key",
    "token",
    "access_token",
    "refresh_token",
    "secret",
    "client_secret",
    "signature",
    "sig",
    "password",
    "passwd",
    "auth",
];

/// Name endings that mark a credential however the platform spells the rest
/// (`x-api-key`, `oauth_token`, `app_secret`, `api_sig`, `db_password`).
const SECRET_SUFFIXES: &[&str] = &[
    "key",
    "token",
    "secret",
    "signature",
    "_sig",
    "-sig",
    "password",
];

/// True when a query parameter (or form field) called `name` holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&lower.as_str()) || SECRET_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// `scheme://userinfo@`: everything between the scheme and the `@` is a credential.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@<>]+@")
        .expect("the userinfo pattern is valid")
});

/// `name=value`, after `?`, `&`, `;` or a word boundary: checked against [`is_secret_name`].
static PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z0-9_.\-]+)=([^&\s"'<>#;,)]*)"#).expect("the parameter pattern is valid")
});

/// `text` with every URL credential replaced by [`REDACTED`]: userinfo in front of a host and
/// the values of secret-named parameters, wherever they appear (in a URL, in a form body quoted
/// by a server, in a library's error chain). The rest of the text is kept as it was, so the
/// error still says which host and path failed.
pub fn redact_text(text: &str) -> String {
    let text = USERINFO.replace_all(text, |c: &Captures| format!("{}{REDACTED}@", &c[1]));
    PARAM
        .replace_all(&text, |c: &Captures| {
            if is_secret_name(&c[1]) && !c[2].is_empty() {
                format!("{}={REDACTED}", &c[1])
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// The URL as it may appear in logs and the database: no userinfo, and secret-named query
/// parameters' values replaced; the host, path and other parameters stay readable.
pub fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Neither can fail on a URL that already has userinfo (it has a host).
        let _ = u.set_username(REDACTED);
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// A URL given as text (from config), redacted; text that is not a URL is redacted as text.
pub fn redact_url_str(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => redact_url(&u),
        Err(_) => redact_text(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &["S3cr3tA", "S3cr3tB", "S3cr3tC", "S3cr3tD", "S3cr3tE"];

    fn assert_clean(s: &str) {
        for secret in SECRETS {
            assert!(!s.contains(secret), "{secret} leaked in {s}");
        }
    }

    #[test]
    fn userinfo_and_secret_parameters_vanish_from_error_text() {
        let e = "error sending request for url (https://bob:S3cr3tA@feeds.example.com/a.rss?q=fjordlink&api_key=S3cr3tB&Access_Token=S3cr3tC): connection refused";
        let r = redact_text(e);
        assert_clean(&r);
        assert!(r.contains("feeds.example.com/a.rss"), "{r}");
        assert!(r.contains("q=fjordlink"), "{r}");
        assert!(r.contains("connection refused"), "{r}");
    }

    #[test]
    fn every_named_kind_of_secret_parameter_is_redacted() {
        for name in [
            "key",
            "token",
            "apikey",
            "api_key",
            "access_token",
            "secret",
            "signature",
            "password",
            "client_secret",
            "sig",
            "X-Api-Key",
            "oauth_token",
        ] {
            let r = redact_text(&format!("http://h/p?a=1&{name}=S3cr3tD&b=2"));
            assert_clean(&r);
            assert!(r.contains(&format!("{name}=REDACTED")), "{r}");
            assert!(r.contains("a=1") && r.contains("b=2"), "{r}");
        }
    }

    #[test]
    fn a_token_alone_before_the_host_is_redacted() {
        let r = redact_text("cannot reach https://S3cr3tE@git.example.com/feed: refused");
        assert_clean(&r);
        assert!(r.contains("https://REDACTED@git.example.com/feed"), "{r}");
    }

    #[test]
    fn ordinary_text_and_mastodon_handles_are_left_alone() {
        let t = "HTTP 500 from https://mastodon.social/@fjordlink/statuses?limit=40&page=2";
        assert_eq!(redact_text(t), t);
    }

    #[test]
    fn parsed_urls_lose_userinfo_and_secret_values() {
        let u = url::Url::parse("https://bob:S3cr3tA@api.example.com/search?q=x&token=S3cr3tB")
            .unwrap();
        let r = redact_url(&u);
        assert_clean(&r);
        assert!(
            r.contains("api.example.com/search?q=x&token=REDACTED"),
            "{r}"
        );
        assert_eq!(
            redact_url_str("not a url ?token=S3cr3tC"),
            "not a url ?token=REDACTED"
        );
    }
}
