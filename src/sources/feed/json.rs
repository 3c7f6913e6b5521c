//! JSON Feed (1.0 and 1.1, jsonfeed.org): the same [`Entry`] from `items`, so a site that
//! publishes only JSON Feed is read like any RSS or Atom feed.
//!
//! Fields are read one by one from each item's JSON object, so a field of the wrong type costs
//! that field, not the item: generators write `"author": "Jane"` (a common 1.0 mistake),
//! `"tags": "a,b"` or a numeric title, and the rest of such an item is still a mention.

use serde_json::{Map, Value};

use super::{Entry, Feed, FeedError, parse_date};
use crate::sources::text::html_to_text;

/// Reads a JSON Feed document. An item that is not a JSON object is skipped, not fatal.
pub fn read(text: &str, base: Option<&url::Url>) -> Result<Feed, FeedError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| FeedError::NotAFeed {
        start: format!("JSON that is not a JSON Feed ({e})"),
    })?;
    let Some(doc) = doc.as_object() else {
        return Err(FeedError::NotAFeed {
            start: "JSON that is not a JSON Feed (not an object)".into(),
        });
    };
    // The spec: an item without an author has the feed's.
    let feed_author = author_of(doc);
    let mut feed = Feed::default();
    for v in doc
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(item) = v.as_object() else {
            feed.recovered
                .push("a JSON Feed item that is not an object was skipped".into());
            continue;
        };
        feed.entries.push(entry(item, base, feed_author.as_deref()));
    }
    Ok(feed)
}

fn entry(item: &Map<String, Value>, base: Option<&url::Url>, feed_author: Option<&str>) -> Entry {
    let link = string(item, "url")
        .or_else(|| string(item, "external_url"))
        .map(|u| match base {
            Some(b) => b.join(&u).map(String::from).unwrap_or(u),
            None => u,
        });
    let text = match (string(item, "content_html"), string(item, "content_text")) {
        (Some(h), _) => html_to_text(&h),
        (None, Some(t)) => t.trim().to_string(),
        (None, None) => string(item, "summary")
            .map(|s| html_to_text(&s))
            .unwrap_or_default(),
    };
    let updated = string(item, "date_modified").and_then(|d| parse_date(&d));
    let tags = match item.get("tags") {
        Some(Value::Array(tags)) => tags.iter().filter_map(scalar).collect(),
        Some(tag) => scalar(tag).into_iter().collect(),
        None => Vec::new(),
    };
    Entry {
        id: item.get("id").and_then(scalar),
        link,
        title: string(item, "title")
            .map(|t| html_to_text(&t))
            .filter(|t| !t.is_empty()),
        text,
        author_name: author_of(item).or_else(|| feed_author.map(str::to_string)),
        author_email: None,
        published: string(item, "date_published")
            .and_then(|d| parse_date(&d))
            .or(updated),
        updated,
        lang: string(item, "language"),
        comments: None,
        categories: tags,
        in_reply_to: None,
        fingerprint: 0,
    }
}

/// A string or number as text (a numeric title or id is still one); nothing else.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(scalar)
        .filter(|s| !s.trim().is_empty())
}

/// The first named author of a feed or an item: 1.1's `authors`, else 1.0's `author`, each
/// an object with a `name` or, as some generators write it, the name itself.
fn author_of(obj: &Map<String, Value>) -> Option<String> {
    let name = |v: &Value| match v {
        Value::Object(a) => string(a, "name"),
        other => scalar(other).filter(|s| !s.trim().is_empty()),
    };
    let listed = match obj.get("authors") {
        Some(Value::Array(all)) => all.iter().find_map(name),
        Some(one) => name(one),
        None => None,
    };
    listed
        .or_else(|| obj.get("author").and_then(name))
        .map(|n| n.trim().to_string())
}
