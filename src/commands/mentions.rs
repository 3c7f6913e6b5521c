//! `mentions` and `answered`: reading the stored mentions and marking them answered.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};

use super::shorten;
use crate::classify::Label;
use crate::cli::MentionsArgs;
use crate::config::load::Config;
use crate::store::{self, MentionQuery};

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
    let store = store::open_existing(&config.store.path)?;
    let mut query = MentionQuery::new().limit(args.limit);
    if let Some(w) = &args.watch {
        query = query.watch(w);
    }
    if let Some(s) = &args.source {
        query = query.source(s);
    }
    if let Some(s) = &args.since {
        query = query.since(parse_since(s, Utc::now())?);
    }
    if let Some(q) = &args.query {
        query = query.search(q);
    }
    if let Some(stars) = args.stars {
        query = query.stars(stars);
    }
    let found = match args.label.as_deref().map(str::parse::<Label>) {
        // No mention carries a label webcare does not know.
        Some(Err(_)) => Vec::new(),
        Some(Ok(label)) => store.mentions(&query.label(label))?,
        None => store.mentions(&query)?,
    };
    let mut out = std::io::stdout().lock();
    for m in &found {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(m)?)?;
            continue;
        }
        let created = m.created_rfc3339();
        let author = match (&m.mention.author_handle, m.mention.author_reach) {
            (Some(h), Some(r)) => format!("{h} ({r})"),
            (Some(h), None) => h.clone(),
            _ => "unknown author".into(),
        };
        let mut label = m.verdict.label_word().to_string();
        if m.label_corrected() {
            label.push_str(" (corrected)");
        }
        if m.verdict.is_urgent() {
            label.push_str(" URGENT");
        }
        if m.verdict.is_spam() {
            label.push_str(" spam");
        }
        if let Some(stars) = m.mention.rating.and_then(crate::notify::card::stars) {
            label.push_str(&format!(" {stars}"));
        }
        writeln!(
            out,
            "#{} {} {} {} [{}] {}{}",
            m.id,
            created.get(..16).unwrap_or(&created).replace('T', " "),
            m.source,
            author,
            m.watches.join(", "),
            label,
            m.mention
                .lang
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default()
        )?;
        let text = m
            .mention
            .title
            .as_ref()
            .map(|t| format!("{t}: {}", m.mention.text))
            .unwrap_or_else(|| m.mention.text.clone());
        let text = crate::notify::mail::strip_bidi(&text);
        writeln!(out, "    {}", shorten(&text.replace('\n', " "), 200))?;
        if let Some(u) = &m.mention.url {
            writeln!(out, "    {u}")?;
        }
        if let Some(why) = m.verdict.reasons.as_ref().and_then(explain_verdict) {
            writeln!(out, "    why: {}", shorten(&why, 300))?;
        }
        if let (Some(by), Some(at)) = (&m.handling.answered_by, m.handling.answered_at) {
            writeln!(out, "    answered by {by} at {}", crate::store::rfc3339(at))?;
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
    let store = store::open_existing(&config.store.path)?;
    store.mark_answered(id, !undo, by, Utc::now().timestamp())?;
    if undo {
        println!("mention #{id}: no longer marked answered");
    } else {
        println!("mention #{id}: marked answered by {by}");
    }
    Ok(0)
}
