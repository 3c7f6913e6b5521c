//! `digest`: renders a period's digest to the terminal or a file, or queues and sends it now.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use super::EXIT_TEMPFAIL;
use crate::cli::DigestArgs;
use crate::config::{EXIT_CONFIG, load::Config};
use crate::notify::Notifier;
use crate::notify::digest::{Digest, DigestJob, DigestSettings, Period, compute};
use crate::notify::outbox::Sender;
use crate::shutdown::Shutdown;
use crate::store::{self, Backend, Writer};
use crate::web::links::LinkSigner;

/// `webcare digest`: renders the digest of a period (text on stdout, or HTML into `--out`), or
/// with `--send` queues it for every recipient list and delivers it now. Once per list and
/// period unless `--force`.
pub(super) async fn digest(config: &Config, args: &DigestArgs) -> anyhow::Result<i32> {
    let job = DigestJob::from_config(config);
    if args.send && job.is_none() {
        eprintln!(
            "error: --send needs a [digest] section with recipients and a [mail] section in {}",
            config.file.display()
        );
        return Ok(EXIT_CONFIG);
    }
    let settings = job.as_ref().map(|j| j.settings.clone()).unwrap_or_default();
    let now = Utc::now();
    let span = match &args.date {
        Some(d) => {
            let day = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .with_context(|| format!("--date {d:?}: use a date such as 2026-11-20"))?;
            settings.period_containing(day)
        }
        None => settings.period_sent_on(settings.last_due(now).1),
    };
    let mut store = store::open_existing(&config.store.path)?;
    let brand: Vec<String> = config.watches.iter().map(|w| w.name.clone()).collect();
    let mut digest = compute(&*store, &settings, span, &brand)?;
    // The links for `--send` come from the job; `--out` and the text show them too with [web].
    let links = match &job {
        Some(j) => j.links.clone(),
        None => LinkSigner::for_config(config),
    };
    if let Some(l) = links {
        digest.add_links(&l, now.timestamp());
    }
    if args.date.is_none() && digest.total.count == 0 {
        explain_empty_period(&*store, &settings, &digest)?;
    }
    let mut out = std::io::stdout().lock();
    match &args.out {
        Some(path) => {
            std::fs::write(path, digest.render_html())
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(
                out,
                "{}\nwrote the HTML digest to {}",
                digest.subject(),
                path.display()
            )?;
        }
        None if !args.send => write!(out, "{}", digest.render_text())?,
        None => {}
    }
    let Some(job) = job.filter(|_| args.send) else {
        return Ok(0);
    };
    let mut queued = 0;
    for list in &job.settings.lists {
        let resend = args.force.then(|| now.timestamp());
        let record = digest.record(list, &job.domain, resend);
        match store.digest_sent(&list.name, record.period_start)? {
            Some(sent) if !args.force => {
                writeln!(
                    out,
                    "{}: the digest of {} was already sent {}; nothing sent (--force sends it again)",
                    list.name,
                    digest.title(),
                    DateTime::<Utc>::from_timestamp(sent.queued_at, 0)
                        .map(|t| t
                            .with_timezone(&settings.tz)
                            .format("%Y-%m-%d %H:%M %Z")
                            .to_string())
                        .unwrap_or_default()
                )?;
                continue;
            }
            _ => {}
        }
        if store.record_digest(&record, args.force, now.timestamp())? {
            queued += record.alerts.len();
            writeln!(out, "{}: queued for {}", list.name, list.emails.join(", "))?;
        }
    }
    drop(store);
    if queued == 0 {
        return Ok(0);
    }
    let mail = config
        .notify
        .mail
        .clone()
        .context("[digest] needs [mail]")?;
    let teams = Notifier::new(config)
        .map(|n| n.router().teams().to_vec())
        .unwrap_or_default();
    let writer = Writer::new(store::open_existing(&config.store.path)?);
    let sender = Sender::new(writer, mail, &teams).context("cannot set up mail")?;
    let (_trigger, shutdown) = Shutdown::new();
    let r = sender.deliver_due(true, &shutdown).await?;
    writeln!(
        out,
        "outbox: sent {}, waiting to retry {}, failed for good {}",
        r.sent, r.retrying, r.dead
    )?;
    Ok(if r.retrying > 0 { EXIT_TEMPFAIL } else { 0 })
}

/// Says on stderr, for a period without mentions in a database that has some (the demo's data
/// is from another week), which date has mentions and how to ask for it.
fn explain_empty_period(
    store: &dyn Backend,
    settings: &DigestSettings,
    digest: &Digest,
) -> anyhow::Result<()> {
    let Some(latest) = store.latest_post()? else {
        return Ok(());
    };
    let Some(day) = DateTime::<Utc>::from_timestamp(latest, 0)
        .map(|t| t.with_timezone(&settings.tz).date_naive())
    else {
        return Ok(());
    };
    let when = if latest < digest.span.start.timestamp() {
        "before"
    } else {
        "after"
    };
    eprintln!(
        "note: no mentions were posted in {} ({}); the newest stored mention is from {} {}, \
         {when} this period. Pass --date {} for the {} that contains it.",
        digest.title(),
        settings.tz.name(),
        day.format("%A"),
        day.format("%-d %B %Y"),
        day.format("%Y-%m-%d"),
        match settings.period {
            Period::Daily => "day",
            Period::Weekly => "week",
        }
    );
    Ok(())
}
