//! `mentions` and `answered`: reading the stored mentions and marking them answered.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};

use super::shorten;
use crate::cli::MentionsArgs;
use crate::config::load::Config;
use crate::store::{MentionFilter, Store};

/// Parses `--since`: a duration back from now (`7d`, `12h`) or a date / RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> anyhow::Result<i64> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.timestamp() - d.as_secs() as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default());
    }
    anyhow::bail!("--since {s:?}: use a duration such as 7d or 12h, or a date such as 2026-11-20")
}

pub(super) fn mentions(config: &Config, args: &MentionsArgs) -> anyhow::Result<i32> {
    let store = Store::open_existing(&config.store.path)?;
    let filter = MentionFilter {
        watch: args.watch.clone(),
        source: args.source.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_since(s, Utc::now()))
            .transpose()?,
        label: args.label.clone(),
        query: args.query.clone(),
        limit: args.limit,
    };
    let found = store.mentions(&filter)?;
    let mut out = std::io::stdout().lock();
    for m in &found {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(m)?)?;
            continue;
        }
        let author = match (&m.author_handle, m.author_reach) {
            (Some(h), Some(r)) => format!("{h} ({r})"),
            (Some(h), None) => h.clone(),
            _ => "unknown author".into(),
        };
        let mut label = m.label.clone().unwrap_or_else(|| "unclassified".into());
        if m.label_source.as_deref() == Some("staff") {
            label.push_str(" (corrected)");
        }
        if m.urgency.as_deref() == Some("urgent") {
            label.push_str(" URGENT");
        }
        if m.spam == Some(true) {
            label.push_str(" spam");
        }
        writeln!(
            out,
            "#{} {} {} {} [{}] {}{}",
            m.id,
            &m.created_at[..16.min(m.created_at.len())].replace('T', " "),
            m.source,
            author,
            m.watches.join(", "),
            label,
            m.lang
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default()
        )?;
        let text = m
            .title
            .as_ref()
            .map(|t| format!("{t}: {}", m.text))
            .unwrap_or_else(|| m.text.clone());
        let text = crate::notify::mail::strip_bidi(&text);
        writeln!(out, "    {}", shorten(&text.replace('\n', " "), 200))?;
        if let Some(u) = &m.url {
            writeln!(out, "    {u}")?;
        }
        if let Some(why) = m.verdict.as_ref().and_then(explain_verdict) {
            writeln!(out, "    why: {}", shorten(&why, 300))?;
        }
        if let (Some(by), Some(at)) = (&m.answered_by, &m.answered_at) {
            writeln!(out, "    answered by {by} at {at}")?;
        }
    }
    if !args.json {
        writeln!(
            out,
            "{} mention{}",
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        )?;
    }
    Ok(0)
}

/// The classifier's reasons as one line: `complaint "al drie dagen" (duration), ...`.
fn explain_verdict(v: &serde_json::Value) -> Option<String> {
    let mut parts: Vec<String> = v["urgency_reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(|r| format!("urgent: {r}")))
        .collect();
    parts.dedup();
    for r in v["reasons"].as_array().into_iter().flatten() {
        let (kind, cue, text) = (r["kind"].as_str()?, r["cue"].as_str()?, r["text"].as_str()?);
        let part = if text.is_empty() {
            format!("{kind} ({cue})")
        } else {
            format!("{kind} \"{text}\" ({cue})")
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `webcare answered ID`: marks a mention answered by `by` (or removes the mark).
pub(super) fn answered(config: &Config, id: i64, undo: bool, by: &str) -> anyhow::Result<i32> {
    let store = Store::open_existing(&config.store.path)?;
    store.mark_answered(id, !undo, by, Utc::now().timestamp())?;
    if undo {
        println!("mention #{id}: no longer marked answered");
    } else {
        println!("mention #{id}: marked answered by {by}");
    }
    Ok(0)
}
