//! Signed one-click links for alerts and digests: each opens a mention's page in the inbox with
//! one action pre-selected. The link is signed (HMAC) and expires, so a link that was changed
//! or is too old pre-selects nothing; it never acts by itself, because a GET changes nothing:
//! the change is the POST the person makes from that page (mail scanners that follow links
//! cannot act).

use std::time::Duration;

use super::auth::Key;
use crate::config::load::Config;

/// The actions a link can pre-select, with the words a mail shows for them.
pub const ACTIONS: &[(&str, &str)] = &[
    ("claim", "Claim"),
    ("answered", "Mark answered"),
    ("label", "Correct the label"),
    ("optout", "Do not contact"),
    ("spam", "Spam"),
];

/// What a link's signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    /// Signed by us and not expired.
    Valid,
    /// Signed by us but too old.
    Expired,
    /// Changed, or not made by us.
    Invalid,
}

/// Makes and checks one-click links.
#[derive(Debug, Clone)]
pub struct LinkSigner {
    base_url: String,
    key: Key,
    ttl: Duration,
}

impl LinkSigner {
    /// A signer for `base_url` whose links last `ttl`.
    pub fn new(base_url: &str, key: Key, ttl: Duration) -> LinkSigner {
        LinkSigner {
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            ttl,
        }
    }

    /// The signer for a config with `[web]`, or `None` without one (then mails carry no
    /// links). A key that cannot be loaded is logged and leaves the links out.
    pub fn for_config(config: &Config) -> Option<LinkSigner> {
        let web = config.web.as_ref()?;
        match super::auth::load_key(config) {
            Ok(key) => Some(LinkSigner::new(&web.base_url, key, web.link_ttl)),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "alerts go out without one-click links: cannot load the web key");
                None
            }
        }
    }

    fn message(id: i64, action: &str, expires: i64) -> String {
        format!("link\n{id}\n{action}\n{expires}")
    }

    /// The link that opens mention `id` with `action` pre-selected, valid until `now` + ttl.
    pub fn link(&self, id: i64, action: &str, now: i64) -> String {
        let expires = now + self.ttl.as_secs() as i64;
        let sig = self.key.sign(&Self::message(id, action, expires));
        format!(
            "{}/m/{id}?do={action}&exp={expires}&sig={sig}",
            self.base_url
        )
    }

    /// One link per action for mention `id`, as (words, link).
    pub fn links(&self, id: i64, now: i64) -> Vec<(String, String)> {
        ACTIONS
            .iter()
            .map(|(action, words)| (words.to_string(), self.link(id, action, now)))
            .collect()
    }

    /// Checks a link's parts as they came back in the query string.
    pub fn check(&self, id: i64, action: &str, expires: i64, sig: &str, now: i64) -> LinkCheck {
        if !self.key.verify(&Self::message(id, action, expires), sig) {
            LinkCheck::Invalid
        } else if expires < now {
            LinkCheck::Expired
        } else {
            LinkCheck::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(
            "https://inbox.example/",
            Key::new(b"0123456789abcdef0123456789abcdef"),
            Duration::from_secs(3600),
        )
    }

    fn parts(link: &str) -> (i64, String, i64, String) {
        let url = url::Url::parse(link).unwrap();
        let id = url.path().trim_start_matches("/m/").parse().unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (
            id,
            q["do"].clone(),
            q["exp"].parse().unwrap(),
            q["sig"].clone(),
        )
    }

    #[test]
    fn a_link_checks_until_it_expires() {
        let s = signer();
        let link = s.link(42, "answered", 1000);
        assert!(link.starts_with("https://inbox.example/m/42?do=answered&exp=4600&sig="));
        let (id, action, exp, sig) = parts(&link);
        assert_eq!(s.check(id, &action, exp, &sig, 4600), LinkCheck::Valid);
        assert_eq!(s.check(id, &action, exp, &sig, 4601), LinkCheck::Expired);
    }

    #[test]
    fn a_changed_link_is_invalid() {
        let s = signer();
        let (id, action, exp, sig) = parts(&s.link(42, "claim", 1000));
        assert_eq!(s.check(43, &action, exp, &sig, 1000), LinkCheck::Invalid);
        assert_eq!(s.check(id, "spam", exp, &sig, 1000), LinkCheck::Invalid);
        assert_eq!(
            s.check(id, &action, exp + 86_400, &sig, 1000),
            LinkCheck::Invalid
        );
        assert_eq!(s.check(id, &action, exp, "zz", 1000), LinkCheck::Invalid);
    }
}
