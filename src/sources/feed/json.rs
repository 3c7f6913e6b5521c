//! JSON Feed (1.0 and 1.1, jsonfeed.org): the same [`Entry`] from `items`, so a site that
//! publishes only JSON Feed is read like any RSS or Atom feed.

use serde::Deserialize;

use super::{Entry, Feed, FeedError, parse_date};
use crate::sources::text::html_to_text;

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Item {
    id: Option<serde_json::Value>,
    url: Option<String>,
    external_url: Option<String>,
    title: Option<String>,
    content_html: Option<String>,
    content_text: Option<String>,
    summary: Option<String>,
    date_published: Option<String>,
    date_modified: Option<String>,
    author: Option<Author>,
    authors: Vec<Author>,
    language: Option<String>,
    tags: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Author {
    name: Option<String>,
}

/// Reads a JSON Feed document. One malformed item is skipped, not fatal.
pub fn read(text: &str, base: Option<&url::Url>) -> Result<Feed, FeedError> {
    let doc: Doc = serde_json::from_str(text).map_err(|e| FeedError::NotAFeed {
        start: format!("JSON that is not a JSON Feed ({e})"),
    })?;
    let mut feed = Feed::default();
    for v in doc.items {
        let Ok(item) = serde_json::from_value::<Item>(v) else {
            feed.recovered
                .push("a JSON Feed item of the wrong shape was skipped".into());
            continue;
        };
        let link = item.url.or(item.external_url).map(|u| match base {
            Some(b) => b.join(&u).map(String::from).unwrap_or(u),
            None => u,
        });
        let text = match (&item.content_html, &item.content_text) {
            (Some(h), _) => html_to_text(h),
            (None, Some(t)) => t.trim().to_string(),
            (None, None) => item
                .summary
                .as_deref()
                .map(html_to_text)
                .unwrap_or_default(),
        };
        let author = item.authors.first().cloned().or(item.author);
        let updated = item.date_modified.as_deref().and_then(parse_date);
        feed.entries.push(Entry {
            id: item.id.map(|id| match id {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            link,
            title: item
                .title
                .map(|t| html_to_text(&t))
                .filter(|t| !t.is_empty()),
            text,
            author_name: author.and_then(|a| a.name).filter(|n| !n.trim().is_empty()),
            author_email: None,
            published: item
                .date_published
                .as_deref()
                .and_then(parse_date)
                .or(updated),
            updated,
            lang: item.language,
            comments: None,
            categories: item.tags,
            in_reply_to: None,
            fingerprint: 0,
        });
    }
    Ok(feed)
}
