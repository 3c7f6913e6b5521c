//! `webcare classify`: reads mentions from a stream (plain lines, or JSON lines with `text` and
//! optional `lang`, `author_reach`, ...) and writes one verdict per line, as JSON or, with
//! `--explain`, as a short report for people.

use std::io::{BufRead, Write};

use anyhow::Context;
use serde::Deserialize;

use super::{Classification, Classifier, Input, Urgency, Voice};

#[derive(Deserialize)]
struct JsonMention {
    text: String,
    lang: Option<String>,
    author_reach: Option<i64>,
    author_age_days: Option<i64>,
    has_link: Option<bool>,
    /// "news" or "customer", as a source's `voice` setting.
    voice: Option<Voice>,
    /// A headline given apart from the text; it is read as "Headline. Text".
    title: Option<String>,
}

/// Classifies every non-empty line of `input`. A line starting with `{` must be a JSON object
/// with at least `text`; anything else is taken as the text itself. A line that is not valid
/// UTF-8 is skipped with an error line on stderr naming it, so one bad byte in a large export
/// does not end the stream; returns how many lines were skipped.
pub fn run_classify(
    c: &Classifier,
    mut input: impl BufRead,
    mut out: impl Write,
    explain: bool,
) -> anyhow::Result<usize> {
    let mut skipped = 0;
    let mut raw = Vec::new();
    for n in 0.. {
        raw.clear();
        let read = input
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading line {}", n + 1))?;
        if read == 0 {
            break;
        }
        let line = match std::str::from_utf8(&raw) {
            Ok(line) => line,
            Err(e) => {
                skipped += 1;
                // Said on stderr so stdout stays one verdict per classified line.
                out.flush()?;
                eprintln!(
                    "error: line {}: not valid UTF-8 (bad byte at offset {}); line skipped",
                    n + 1,
                    e.valid_up_to()
                );
                continue;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let (verdict, text) = if trimmed.starts_with('{') {
            let mut m: JsonMention = serde_json::from_str(trimmed).with_context(|| {
                format!(
                    "line {}: expected a JSON object with a \"text\" field",
                    n + 1
                )
            })?;
            let headline = m.title.is_some();
            if let Some(t) = m.title.take() {
                m.text = format!("{t}. {}", m.text);
            }
            let input = Input {
                voice: m.voice,
                headline,
                text: &m.text,
                lang: m.lang.as_deref(),
                author_reach: m.author_reach,
                author_age_days: m.author_age_days,
                has_link: m.has_link,
                ..Input::default()
            };
            (c.classify(&input), m.text.clone())
        } else {
            (c.classify(&Input::new(trimmed)), trimmed.to_string())
        };
        if explain {
            write_explanation(&mut out, &text, &verdict)?;
        } else {
            serde_json::to_writer(&mut out, &verdict)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(skipped)
}

fn write_explanation(out: &mut impl Write, text: &str, v: &Classification) -> std::io::Result<()> {
    writeln!(out, "{text}")?;
    let urgency = if v.urgency == Urgency::Urgent {
        " URGENT"
    } else {
        ""
    };
    let spam = if v.spam { " SPAM" } else { "" };
    writeln!(
        out,
        "  {}{urgency}{spam} · sentiment {:+.2} ({}) · lang {}",
        v.label, v.sentiment, v.polarity, v.lang
    )?;
    for r in &v.urgency_reasons {
        writeln!(out, "  urgent because {r}")?;
    }
    for r in &v.reasons {
        if r.text.is_empty() {
            writeln!(out, "  - {}: {}", r.kind, r.cue)?;
        } else {
            writeln!(
                out,
                "  - {}: {:?} ({}) at {}..{}",
                r.kind, r.text, r.cue, r.start, r.end
            )?;
        }
    }
    writeln!(out)
}
