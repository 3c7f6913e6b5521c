//! `prune`, `forget` and `export`: retention applied now, a person's data erased, and
//! everything stored about a person printed (an access request).

use std::io::Write;

use chrono::Utc;

use crate::config::load::Config;
use crate::privacy::Author;
use crate::store::{self, PruneReport, Reclaimed};

/// `webcare prune [--dry-run]`: applies `[retention]` now and prints what went.
pub(super) fn prune(config: &Config, dry_run: bool) -> anyhow::Result<i32> {
    let mut store = store::open_existing(&config.store.path)?;
    let rc = &config.retention;
    let cutoffs = rc.cutoffs(Utc::now().timestamp());
    let (r, space) = if dry_run {
        (store.prune_preview(&cutoffs)?, None)
    } else {
        // Batch by batch, so a terminal shows how far it got.
        let progress = crate::progress::Progress::spinner("pruning", "rows");
        let mut total = PruneReport::default();
        loop {
            let r = store.prune_batch(&cutoffs, 2000)?;
            if r.is_empty() {
                break;
            }
            progress.add(
                (r.raw_cleared + r.stripped + r.deleted + r.alerts_blanked + r.alerts_deleted)
                    as u64,
            );
            total.add(&r);
        }
        progress.finish();
        (total, Some(store.reclaim_space()?))
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "retention: raw payloads after {}, text and author after {}, whole mentions after {}",
        rc.raw_after, rc.strip_after, rc.delete_after
    )?;
    writeln!(
        out,
        "{}",
        if dry_run {
            "would remove (dry run, nothing changed):"
        } else {
            "removed:"
        }
    )?;
    for (what, n) in [
        ("raw payloads cleared", r.raw_cleared),
        ("mentions stripped of text and author", r.stripped),
        ("mentions deleted", r.deleted),
        ("alert bodies blanked", r.alerts_blanked),
        ("alerts deleted", r.alerts_deleted),
    ] {
        writeln!(out, "  {what:<38} {n:>8}")?;
    }
    if let Some(space) = space {
        print_space(&mut out, &space)?;
    }
    Ok(0)
}

fn print_space(out: &mut impl Write, space: &Reclaimed) -> std::io::Result<()> {
    writeln!(
        out,
        "database: {} free pages returned; {}",
        space.pages_freed,
        if space.wal_truncated {
            "WAL truncated"
        } else {
            "WAL not truncated (a reader was busy); the daemon's next checkpoint overwrites it, or run this again"
        }
    )
}

/// `webcare forget --author P:H [--dry-run] [--all]`: erases a person's data and prints the
/// counts. Refuses a name that several people share unless `all` is set.
pub(super) fn forget(
    config: &Config,
    author: &str,
    dry_run: bool,
    all: bool,
) -> anyhow::Result<i32> {
    let author = Author::parse(author)?;
    let mut store = store::open_existing(&config.store.path)?;
    let people = store.author_people(&author.kind, &author.handle)?;
    if people.len() > 1 && !all {
        anyhow::bail!(
            "--author {author} matches {} different people ({}); name one of them as {}:<handle>, or add --all to forget every one",
            people.len(),
            people.join(", "),
            author.kind
        );
    }
    // One transaction of unknown length: a spinner on a terminal says it is still working.
    let progress = crate::progress::Progress::spinner(&format!("forgetting {author}"), "");
    let r = store.forget_author(&author.kind, &author.handle, dry_run)?;
    progress.finish();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {author}{}",
        if dry_run {
            "would forget (dry run, nothing changed)"
        } else {
            "forgot"
        },
        if r.mentions == 0 {
            ": no mentions by this author are stored"
        } else {
            ":"
        }
    )?;
    if r.mentions > 0 {
        for (what, n) in [
            ("mentions", r.mentions),
            ("label corrections", r.label_corrections),
            ("alerts in the outbox", r.alerts),
        ] {
            writeln!(out, "  {what:<24} {n:>6}")?;
        }
    }
    if dry_run {
        return Ok(0);
    }
    writeln!(
        out,
        "{}",
        if r.already_erased {
            "this author was already on the erased list; their new posts are not stored"
        } else {
            "their new posts will not be stored from now on"
        }
    )?;
    print_space(&mut out, &store.reclaim_space()?)?;
    Ok(0)
}

/// `webcare export --author P:H`: prints everything stored about a person as one JSON
/// document (an access request).
pub(super) fn export(config: &Config, author: &str) -> anyhow::Result<i32> {
    let author = Author::parse(author)?;
    let store = store::open_existing(&config.store.path)?;
    let mentions = store.export_author(&author.kind, &author.handle)?;
    let doc = serde_json::json!({
        "author": author.to_string(),
        "platform": author.kind,
        "handle": author.handle,
        "exported_at": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "database": config.store.path.display().to_string(),
        "mentions": mentions,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)?;
    Ok(0)
}
