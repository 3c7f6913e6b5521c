//! Retention and data-subject requests: the `[retention]` config, the daily retention pass
//! the daemon runs, and the `prune`, `forget` and `export` commands. The SQL lives in
//! `store/privacy.rs`; this module decides ages, batches work between polls and prints.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::{ConfigErrors, parse_at};
use crate::shutdown::Shutdown;
use crate::store::{Cutoffs, PruneReport, Readers, Reclaimed, Writer, author_key};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// An age after which data goes, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub Option<Duration>);

impl Age {
    /// The cutoff this age gives at `now` (unix seconds): data older than it goes.
    pub fn cutoff(&self, now: i64) -> Option<i64> {
        self.0
            .map(|d| now.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // Whole days as written in the config; humantime would say "11months 30days 3h…".
            Some(d) if d.as_secs() % 86_400 == 0 => write!(f, "{}d", d.as_secs() / 86_400),
            Some(d) => write!(f, "{}", humantime::format_duration(d)),
            None => f.write_str("never"),
        }
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = match &v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        if text == "never" {
            return Ok(Age(None));
        }
        let Some(age) = humantime::parse_duration(&text)
            .ok()
            .filter(|_| v.is_string())
        else {
            return Err(serde::de::Error::custom(format!(
                "\"{text}\" is not an age; use e.g. \"30d\", \"52w\" or \"never\""
            )));
        };
        // A typo such as "30s" for "30d" would wipe everything just stored.
        if age < Duration::from_secs(3600) {
            return Err(serde::de::Error::custom(format!(
                "\"{text}\" is shorter than an hour; ages are meant in days, e.g. \"30d\""
            )));
        }
        Ok(Age(Some(age)))
    }
}

/// `[retention]`: how long the parts of a mention are kept, counted from when it was posted
/// (or stored, if that is earlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The platform's raw payload is cleared after this (default 30 days).
    #[serde(default = "default_raw_after")]
    pub raw_after: Age,
    /// Text, title, author, link and reasons are cleared after this (default 365 days);
    /// source, times, label, sentiment, language and watches stay for counts and trends.
    #[serde(default = "default_strip_after")]
    pub strip_after: Age,
    /// The whole mention is deleted after this (default never).
    #[serde(default = "default_delete_after")]
    pub delete_after: Age,
}

fn default_raw_after() -> Age {
    Age(Some(30 * DAY))
}
fn default_strip_after() -> Age {
    Age(Some(365 * DAY))
}
fn default_delete_after() -> Age {
    Age(None)
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_after: default_raw_after(),
            strip_after: default_strip_after(),
            delete_after: default_delete_after(),
        }
    }
}

impl RetentionConfig {
    /// The cutoffs at `now` (unix seconds).
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        Cutoffs {
            raw: self.raw_after.cutoff(now),
            strip: self.strip_after.cutoff(now),
            delete: self.delete_after.cutoff(now),
        }
    }

    /// True when every age is `never`.
    pub fn keeps_everything(&self) -> bool {
        self.raw_after.0.is_none() && self.strip_after.0.is_none() && self.delete_after.0.is_none()
    }
}

/// Reads `[retention]`, recording problems under `retention.*`.
pub fn parse_retention(v: Option<Value>, errors: &mut ConfigErrors) -> RetentionConfig {
    match v {
        Some(v) => parse_at(v, "retention", errors).unwrap_or_default(),
        None => RetentionConfig::default(),
    }
}

/// How soon a failed retention pass is tried again.
pub const RETENTION_RETRY: Duration = Duration::from_secs(15 * 60);

/// How long the retention task waits after a pass that `failed` or not.
fn next_retention_in(failed: bool) -> Duration {
    if failed { RETENTION_RETRY } else { DAY }
}

/// The daemon's retention task: one pass at start, then one a day, until shutdown; a failed
/// pass is tried again after [`RETENTION_RETRY`]. Work is done in small batches so polls keep
/// their turn at the writer, and only when a reader found something to remove.
pub async fn run_retention(
    readers: Readers,
    writer: Writer,
    config: RetentionConfig,
    mut shutdown: Shutdown,
) {
    if config.keeps_everything() {
        return;
    }
    let mut failed = false;
    loop {
        match retention_pass(&readers, &writer, &config, &shutdown).await {
            Ok((r, _)) if r.is_empty() => tracing::debug!("retention: nothing to remove"),
            Ok((r, space)) => tracing::info!(
                raw_cleared = r.raw_cleared,
                stripped = r.stripped,
                deleted = r.deleted,
                alerts_blanked = r.alerts_blanked,
                alerts_deleted = r.alerts_deleted,
                pages_freed = space.pages_freed,
                wal_truncated = space.wal_truncated,
                "retention pass done"
            ),
            Err(e) => {
                tracing::error!(error = %e, "retention pass failed; retrying in {} minutes", RETENTION_RETRY.as_secs() / 60);
                failed = true;
            }
        }
        // A failed pass (locked or full database) is tried again within the hour, not a day
        // later: expired data must not outlive its retention by a day per failure.
        let wait = next_retention_in(failed);
        failed = false;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => return,
        }
    }
}

async fn retention_pass(
    readers: &Readers,
    writer: &Writer,
    config: &RetentionConfig,
    shutdown: &Shutdown,
) -> Result<(PruneReport, Reclaimed), crate::store::StoreError> {
    let cutoffs = config.cutoffs(Utc::now().timestamp());
    // Most days nothing has come of age since the last pass: counting that on a reader keeps
    // the writer free for polls instead of holding it through the scans of an empty batch.
    if readers
        .read(move |s| s.prune_preview(&cutoffs))
        .await?
        .is_empty()
    {
        return Ok((PruneReport::default(), Reclaimed::default()));
    }
    let mut total = PruneReport::default();
    while !shutdown.is_stopping() {
        let r = writer.run(move |s| s.prune_batch(&cutoffs, 1000)).await?;
        if r.is_empty() {
            break;
        }
        total.add(&r);
    }
    let space = if total.is_empty() {
        Reclaimed::default()
    } else {
        writer.run(|s| s.reclaim_space()).await?
    };
    // The pass read much of the table through the page cache; the daemon is idle now.
    writer
        .run(|s| {
            s.release_memory();
            Ok(())
        })
        .await?;
    Ok((total, space))
}

/// A person as `--author <platform>:<handle>` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The source kind, e.g. `mastodon`.
    pub kind: String,
    /// The handle as given (compared without case and leading `@`).
    pub handle: String,
}

impl Author {
    /// Parses `mastodon:jan@social.example`, `rss:Jan de Vries`, `x:@jan`.
    pub fn parse(s: &str) -> anyhow::Result<Author> {
        let kinds = crate::sources::kind_names().join(", ");
        let Some((kind, handle)) = s.split_once(':') else {
            anyhow::bail!(
                "--author {s:?}: write it as <platform>:<handle>, e.g. mastodon:jan@social.example; platforms: {kinds}"
            );
        };
        let kind = kind.trim().to_lowercase();
        if !crate::sources::kind_names().contains(&kind.as_str()) {
            anyhow::bail!("--author {s:?}: unknown platform {kind:?}; platforms: {kinds}");
        }
        if author_key(handle).is_empty() {
            anyhow::bail!("--author {s:?}: the handle after {kind}: is empty");
        }
        Ok(Author {
            kind,
            handle: handle.trim().to_string(),
        })
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_retention_pass_is_retried_within_the_hour() {
        assert!(next_retention_in(true) <= Duration::from_secs(3600));
        assert_eq!(next_retention_in(false), DAY);
    }

    fn parse(toml_text: &str) -> Result<RetentionConfig, ConfigErrors> {
        let v: Value = toml::from_str(toml_text).unwrap();
        let mut errors = ConfigErrors::default();
        let c = parse_retention(Some(v), &mut errors);
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn defaults_keep_raw_a_month_and_text_a_year_and_rows_forever() {
        let c = RetentionConfig::default();
        assert_eq!(c.raw_after, Age(Some(30 * DAY)));
        assert_eq!(c.strip_after, Age(Some(365 * DAY)));
        assert_eq!(c.delete_after, Age(None));
        assert_eq!(c.strip_after.to_string(), "365d");
        assert_eq!(c.delete_after.to_string(), "never");
        let cut = c.cutoffs(1_000_000_000);
        assert_eq!(cut.raw, Some(1_000_000_000 - 30 * 86_400));
        assert_eq!(cut.delete, None);
    }

    #[test]
    fn ages_accept_never_and_refuse_seconds_and_numbers() {
        let c = parse("strip_after = \"never\"\ndelete_after = \"2y\"").unwrap();
        assert_eq!(c.strip_after, Age(None));
        assert!(c.delete_after.0.is_some());
        let e = parse("raw_after = \"30s\"").unwrap_err();
        assert_eq!(e.problems[0].0, "retention.raw_after");
        assert!(e.problems[0].1.contains("shorter than an hour"), "{e}");
        let e = parse("strip_after = 365").unwrap_err();
        assert_eq!(e.problems[0].0, "retention.strip_after");
        assert!(e.problems[0].1.contains("\"365\" is not an age"), "{e}");
        let e = parse("keep = \"1d\"").unwrap_err();
        assert!(e.problems[0].1.contains("unknown field"), "{e}");
    }

    #[test]
    fn authors_are_platform_colon_handle() {
        let a = Author::parse("mastodon:@Jan@Social.example").unwrap();
        assert_eq!(
            (a.kind.as_str(), a.handle.as_str()),
            ("mastodon", "@Jan@Social.example")
        );
        assert_eq!(author_key(&a.handle), "jan@social.example");
        let a = Author::parse("rss:Jan de Vries").unwrap();
        assert_eq!(a.handle, "Jan de Vries");
        let e = Author::parse("jan").unwrap_err().to_string();
        assert!(e.contains("<platform>:<handle>"), "{e}");
        let e = Author::parse("myspace:jan").unwrap_err().to_string();
        assert!(e.contains("unknown platform \"myspace\""), "{e}");
        assert!(Author::parse("x:@").is_err());
    }
}
