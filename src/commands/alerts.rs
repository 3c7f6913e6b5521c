//! `route`, `outbox`, `optout` and `backtest`: looking into and steering the alerts.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{ago, shorten};
use crate::cli::{OptoutAction, OutboxArgs, RouteArgs};
use crate::config::{EXIT_CONFIG, load::Config};
use crate::notify::Notifier;
use crate::notify::backtest::replay_with_progress;
use crate::store::{self, OptOut, StoredMention, Verdict};

/// The notifier of `config`; without a team, `None` after telling the user on stderr, with
/// what that means for their command (`consequence`) and how to fix it.
fn notifier_or_say(config: &Config, consequence: &str) -> Option<Notifier> {
    let notifier = Notifier::new(config);
    if notifier.is_none() {
        eprintln!(
            "error: no [[teams]] configured in {}, so {consequence}; add a team and [mail]",
            config.file.display()
        );
    }
    notifier
}

pub(super) fn route(config: &Config, args: &RouteArgs) -> anyhow::Result<i32> {
    let Some(notifier) = notifier_or_say(config, "nothing is routed") else {
        return Ok(EXIT_CONFIG);
    };
    let m = match (args.id, &args.text) {
        (Some(id), _) => {
            let store = store::open_existing(&config.store.path)?;
            match store.mention(id)? {
                Some(m) => m,
                None => anyhow::bail!("no mention with id {id}; `webcare mentions` shows ids"),
            }
        }
        (None, Some(text)) => {
            let watches = super::daemon::compile_watches(config)?;
            let mention = crate::sources::Mention {
                text: text.clone(),
                lang: args.lang.clone(),
                author_reach: args.reach,
                rating: args.stars,
                ..Default::default()
            };
            let source = args.source.clone().unwrap_or_else(|| "(text)".into());
            let owned = config
                .sources
                .iter()
                .find(|s| s.name == source)
                .and_then(|s| s.watch.clone());
            let matched = watches.matching(&mention, owned.as_deref());
            let v = watches.classify(&mention, &matched);
            StoredMention {
                source,
                mention,
                watches: matched,
                verdict: Verdict {
                    label: Some(v.label),
                    sentiment: Some(f64::from(v.sentiment)),
                    urgency: Some(v.urgency),
                    spam: Some(v.spam),
                    reasons: Some(
                        serde_json::json!({ "urgency_reasons": v.urgency_reasons, "reasons": v.reasons }),
                    ),
                },
                fetched_at: Utc::now().timestamp(),
                ..Default::default()
            }
        }
        (None, None) => anyhow::bail!("give a mention id or --text"),
    };
    let optouts: crate::notify::OptOuts = match store::open_existing(&config.store.path) {
        Ok(s) => s
            .optouts()?
            .into_iter()
            .map(|o| (o.platform, o.handle))
            .collect(),
        Err(_) => Default::default(),
    };
    let (subject, reasons) = notifier.subject(&m);
    let (decision, record) = notifier.plan(&m, &optouts, Utc::now());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}{} · sentiment {:+.2} · {}{}{} · source {} · watches {}",
        if m.id > 0 {
            format!("mention #{} · ", m.id)
        } else {
            String::new()
        },
        subject.label,
        subject.sentiment,
        if subject.urgent { "urgent" } else { "normal" },
        if subject.spam { " · spam" } else { "" },
        if subject.backfill { " · backfill" } else { "" },
        subject.source,
        if subject.watches.is_empty() {
            "none".to_string()
        } else {
            subject.watches.join(", ")
        },
    )?;
    for r in &reasons {
        writeln!(out, "  {r}")?;
    }
    write!(out, "{}", decision.explain())?;
    for a in &record.alerts {
        writeln!(out, "   to {} ({}): {}", a.recipient, a.team, a.subject)?;
    }
    if let Some(lead) = m.handling.duplicate_of {
        writeln!(
            out,
            "(a repeat of mention #{lead}: counted and linked in its alert, no alert of its own)"
        )?;
    }
    if let (Some(by), Some(at)) = (&m.handling.answered_by, m.handling.answered_at) {
        writeln!(
            out,
            "(answered by {by} {}: no alert is sent)",
            ago(Some(at), Utc::now().timestamp())
        )?;
    }
    if let Some(t) = m.handling.routed_at {
        writeln!(
            out,
            "(this mention was routed {}; nothing is sent again)",
            ago(Some(t), Utc::now().timestamp())
        )?;
    }
    Ok(0)
}

pub(super) fn outbox(config: &Config, args: &OutboxArgs) -> anyhow::Result<i32> {
    let mut store = store::open_existing(&config.store.path)?;
    if let Some(crate::cli::OutboxAction::Retry { id, .. }) = &args.action {
        let n = store.retry_outbox(*id, Utc::now().timestamp())?;
        return match (id, n) {
            (Some(id), 0) => {
                eprintln!(
                    "error: no dead or pending alert #{id} in the outbox; `webcare outbox --state dead` lists them"
                );
                Ok(1)
            }
            _ => {
                println!(
                    "{n} alert{} back in the queue, due now; the daemon sends {} within a minute, or run `webcare once`",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                );
                Ok(0)
            }
        };
    }
    // One more than asked, to know whether the list stopped at the limit.
    let mut entries = store.outbox_entries(args.state.as_deref(), args.limit.saturating_add(1))?;
    let truncated = entries.len() > args.limit;
    entries.truncate(args.limit);
    let mut out = std::io::stdout().lock();
    if args.json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        if truncated {
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "truncated": true,
                    "limit": args.limit,
                    "note": "more rows exist; raise --limit or filter with --state",
                })
            )?;
        }
        return Ok(0);
    }
    let now = Utc::now().timestamp();
    let (pending, sent, dead) = store.outbox_counts()?;
    let held = store.held_count()?;
    let superseded = store.superseded_count()?;
    writeln!(
        out,
        "{pending} pending, {sent} sent, {dead} dead{}{}",
        if held > 0 {
            format!(", {held} held by hourly cap")
        } else {
            String::new()
        },
        if superseded > 0 {
            format!(", {superseded} not sent (answered first)")
        } else {
            String::new()
        }
    )?;
    for e in &entries {
        let when = match e.state.as_str() {
            "sent" => format!("sent {}", ago(e.sent_at, now)),
            "pending" if e.attempts > 0 => format!(
                "attempt {} {}",
                e.attempts + 1,
                ago(Some(e.next_attempt_at.max(e.not_before)), now)
            ),
            "pending" => format!("due {}", ago(Some(e.not_before), now)),
            "held" => "not sent (hourly cap)".to_string(),
            "superseded" => "not sent (answered)".to_string(),
            _ => format!("after {} attempts", e.attempts),
        };
        writeln!(
            out,
            "#{:<5} {:<7} {:<24} {:<28} mention #{} · {}",
            e.id,
            e.state,
            when,
            e.recipient,
            e.mention_id.map(|i| i.to_string()).unwrap_or("-".into()),
            shorten(&e.subject, 80)
        )?;
        if let Some(err) = &e.last_error
            && e.state != "sent"
        {
            writeln!(out, "        {}", shorten(err, 160))?;
        }
    }
    Ok(0)
}

pub(super) fn optout(config: &Config, action: &OptoutAction) -> anyhow::Result<i32> {
    let store = store::open(&config.store.path)?;
    let split = |author: &str| -> anyhow::Result<(String, String)> {
        match author.split_once(':') {
            Some((p, h))
                if !p.trim().is_empty() && !h.trim().trim_start_matches('@').is_empty() =>
            {
                Ok(crate::store::optout_key(p, h))
            }
            _ => anyhow::bail!(
                "{author:?}: write PLATFORM:HANDLE, e.g. x:@klant123 or mastodon:klant@social.example (the platform is the source kind)"
            ),
        }
    };
    let mut out = std::io::stdout().lock();
    match action {
        OptoutAction::Add { author, by } => {
            let (p, h) = split(author)?;
            if store.add_optout(&OptOut::new(&p, &h, by, Utc::now().timestamp()))? {
                writeln!(out, "{p}:{h} added: their alerts now say DO NOT CONTACT")?;
            } else {
                writeln!(out, "{p}:{h} was already on the list")?;
            }
        }
        OptoutAction::Remove { author } => {
            let (p, h) = split(author)?;
            if store.remove_optout(&p, &h)? {
                writeln!(out, "{p}:{h} removed")?;
            } else {
                writeln!(out, "{p}:{h} was not on the list")?;
                return Ok(1);
            }
        }
        OptoutAction::List => {
            let list = store.optouts()?;
            let now = Utc::now().timestamp();
            for o in &list {
                writeln!(
                    out,
                    "{}:{}  added {}{}",
                    o.platform,
                    o.handle,
                    ago(Some(o.added_at), now),
                    o.added_by
                        .as_deref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default()
                )?;
            }
            writeln!(
                out,
                "{} author{} on the opt-out list",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(0)
}

/// `webcare backtest --since WHEN`: replays and prints; days are the first team's local days.
pub(super) fn backtest(config: &Config, since: &str) -> anyhow::Result<i32> {
    let Some(notifier) = notifier_or_say(config, "no rule can send an alert") else {
        return Ok(EXIT_CONFIG);
    };
    let now = Utc::now();
    let since = super::parse_since(since, now)?;
    let tz = notifier
        .router()
        .teams()
        .first()
        .map(|t| t.tz)
        .unwrap_or(Tz::UTC);
    let store = store::open_existing(&config.store.path)?;
    // The replay reads batch by batch; a spinner counts the mentions on a terminal.
    let progress = crate::progress::Progress::spinner("replaying", "mentions");
    let result = replay_with_progress(&*store, &notifier, since, tz, |n| progress.set(n))?;
    progress.finish();
    let from = DateTime::<Utc>::from_timestamp(since, 0).unwrap_or(now);
    result.print(&mut std::io::stdout().lock(), from, tz)?;
    Ok(0)
}
