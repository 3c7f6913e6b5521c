//! When each source polls: its own interval with jitter, exponential backoff on failure,
//! `Retry-After` honoured, every source in its own task so one failing source never holds up
//! another. The scheduler knows nothing about platforms: it calls [`Source::poll`], hands the
//! batch to the watches and the store, and decides when to call again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{SourceConfig, load::Config};
use crate::redact::redact_text;
use crate::shutdown::{Shutdown, ShutdownTrigger};
use crate::sources::announced::Announcement;
use crate::sources::{self, PollContext, Source};
use crate::store::{
    Backend, FailedPoll, NewMention, PollCommit, PollPart, PollSummary, PollTail, Readers,
    ReadyPart, StoreError, Writer,
};
use crate::supervisor::{MAX_RESTART_DELAY, STAGE_SETTLED_AFTER, Task, supervise};
use crate::watch::Watches;

/// A configured source and the code that polls it.
pub struct SourceHandle {
    /// Its config (common keys and kind-specific settings).
    pub config: SourceConfig,
    /// The platform implementation.
    pub source: Box<dyn Source>,
}

/// What the pipeline needs to turn a poll into stored mentions.
#[derive(Clone)]
pub struct Pipeline {
    /// The single database writer.
    pub writer: Writer,
    /// Read-only connections for what the stages read before they write (a source's cursor
    /// here; routing, spikes, SLA, digest and retention in the daemon).
    pub readers: Readers,
    /// Compiled watches; replaced as a whole on reload, so a poll sees one consistent set.
    watches: Arc<RwLock<Arc<Watches>>>,
    /// Bound on stored raw payloads.
    pub raw_max_bytes: usize,
    /// Bound on mention texts and titles, in characters (`[store] max_text_chars`; 0: none).
    pub max_text_chars: usize,
    /// In-process counters for `/metrics` (classifier time).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Pipeline {
    /// A pipeline writing through `writer` and matching against `watches`.
    pub fn new(writer: Writer, watches: Watches, raw_max_bytes: usize) -> Pipeline {
        Pipeline {
            watches: Arc::new(RwLock::new(Arc::new(watches))),
            metrics: Arc::new(crate::metrics::Metrics::with_store(writer.health())),
            readers: writer.readers(),
            writer,
            raw_max_bytes,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
        }
    }

    /// The watches in force now.
    pub fn watches(&self) -> Arc<Watches> {
        self.watches
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts new watches in force for every poll that starts from now on.
    pub fn set_watches(&self, watches: Watches) {
        *self.watches.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(watches);
    }
}

/// Mention texts are cut at this many characters unless `[store] max_text_chars` says otherwise.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 20_000;

/// The result of one poll, for `webcare once` and the logs.
#[derive(Debug, Clone)]
pub struct PollReport {
    /// Source name.
    pub source: String,
    /// Items the source returned.
    pub fetched: usize,
    /// Items no watch matched (or excluded).
    pub unmatched: usize,
    /// Newly stored mentions.
    pub stored: usize,
    /// Items already stored.
    pub duplicates: usize,
    /// Items dropped by a daily cap.
    pub capped: usize,
    /// The error, when the poll failed.
    pub error: Option<String>,
    /// When the next poll is due.
    pub next_poll_at: DateTime<Utc>,
    /// Ids of the new mentions, for the stages after the store.
    pub new_ids: Vec<i64>,
}

/// Builds every enabled source in `config`.
pub fn build_sources(config: &Config) -> anyhow::Result<Vec<SourceHandle>> {
    let client = sources::http::Client::with_redirects(
        &config.http.user_agent,
        config.http.follow_cross_host,
    )?;
    config
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            Ok(SourceHandle {
                config: s.clone(),
                // The error may quote a configured URL; it goes out redacted.
                source: sources::build(s, &client).map_err(|e| {
                    anyhow::anyhow!("source {:?}: {}", s.name, redact_text(&format!("{e:#}")))
                })?,
            })
        })
        .collect()
}

/// Waits `interval` spread by up to `jitter` (a fraction) either way, so sources started
/// together drift apart instead of hitting the network in lockstep.
pub fn jittered(interval: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return interval;
    }
    let factor = 1.0 + jitter * (fastrand::f64() * 2.0 - 1.0);
    interval.mul_f64(factor.max(0.05))
}

/// Delay after the `failures`-th consecutive failure: the interval doubled per failure, capped
/// at `max_backoff`, and never shorter than what the platform asked for.
pub fn backoff(
    interval: Duration,
    failures: u32,
    retry_after: Option<Duration>,
    max_backoff: Duration,
) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let delay = interval
        .saturating_mul(1u32 << exp)
        .min(max_backoff.max(interval));
    match retry_after {
        Some(r) => delay.max(r),
        None => delay,
    }
}

/// Polls `handle` once, stores what it found, records the outcome, and says when to poll next.
/// Cancelled fetches (shutdown) store nothing; a commit that has started always finishes.
pub async fn poll_once(
    handle: &SourceHandle,
    pipeline: &Pipeline,
    shutdown: &mut Shutdown,
) -> Option<PollReport> {
    let cfg = &handle.config;
    let state = {
        let name = cfg.name.clone();
        // On a reader: a poll needs no turn at the writer until it has something to commit.
        // The source's previous commit returned before this poll began, so its cursor is here.
        pipeline
            .readers
            .read(move |s| Ok((s.source_state(&name)?, s.announced(&name)?)))
            .await
    };
    let (state, announced) = match state {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(source = %cfg.name, error = %e, "cannot read source state");
            return None;
        }
    };
    let first_poll = state.as_ref().is_none_or(|s| s.last_success_at.is_none());
    let ctx = PollContext {
        cursor: state.as_ref().and_then(|s| s.cursor.clone()),
        backfill: cfg.backfill,
    };
    let started_at = Utc::now();
    // A whole poll may take several requests; bound it so a dribbling server cannot hold a
    // source for ever.
    let limit = cfg.timeout.saturating_mul(4).max(Duration::from_secs(5));
    let result = tokio::select! {
        r = tokio::time::timeout(limit, handle.source.poll_announced(&ctx, &announced)) => match r {
            Ok(r) => r,
            Err(_) => Err(sources::SourceError::Timeout { url: cfg.name.clone(), after: limit }),
        },
        _ = shutdown.wait() => return None,
    };
    let failures = state.as_ref().map(|s| s.consecutive_failures).unwrap_or(0) as u32 + 1;
    Some(match result {
        Ok(batch) => {
            store_batch(
                pipeline, cfg, batch, &announced, started_at, first_poll, failures,
            )
            .await
        }
        Err(e) => poll_failed(pipeline, cfg, &e, failures, started_at).await,
    })
}

/// How a poll's batch is matched against the watches and classified.
pub struct Matching<'a> {
    /// The watches in force.
    pub watches: &'a Watches,
    /// The watch the source belongs to (`[[sources]] watch`), if any.
    pub owned: Option<&'a str>,
    /// Bound on texts and titles, in characters (0: none).
    pub max_text_chars: usize,
    /// Where the classifier's time is counted.
    pub metrics: &'a crate::metrics::Metrics,
    /// The source's name, for the log.
    pub source: &'a str,
}

impl Matching<'_> {
    /// The mentions of a batch that some watch keeps, cut to `max_text_chars` and classified,
    /// in the batch's order; a mention without a language gets the detected one before the
    /// watches' language filters decide. A big batch is split over the machine's cores
    /// ([`crate::parallel::in_parts`]).
    pub fn run(&self, mentions: Vec<sources::Mention>) -> Vec<NewMention> {
        crate::parallel::in_parts(mentions, crate::parallel::MENTIONS_TO_SPLIT, |part| {
            self.run_here(part)
        })
    }

    /// [`Matching::run`] on the calling thread.
    fn run_here(&self, mentions: Vec<sources::Mention>) -> Vec<NewMention> {
        let mut matched = Vec::with_capacity(mentions.len());
        for mut m in mentions {
            // Cut before matching and classifying: a huge text costs every stage after it.
            let cut = sources::text::cap_text(&mut m.text, self.max_text_chars);
            if let Some(title) = &mut m.title {
                sources::text::cap_text(title, self.max_text_chars);
            }
            if cut {
                tracing::warn!(source = %self.source, id = %m.external_id, limit = self.max_text_chars, "mention text cut to [store] max_text_chars");
            }
            let mut watches = self.watches.matching(&m, self.owned);
            if watches.is_empty() {
                continue;
            }
            let classify_started = std::time::Instant::now();
            let verdict = self.watches.classify(&m, &watches);
            self.metrics
                .record_classification(classify_started.elapsed());
            if m.lang.is_none() && verdict.lang != "other" {
                // The platform gave no language: take the detected one, and let the
                // watches' language filters see it.
                m.lang = Some(verdict.lang.clone());
                watches = self.watches.matching(&m, self.owned);
                if watches.is_empty() {
                    continue;
                }
            }
            matched.push(NewMention {
                mention: m,
                watches,
                verdict: Some(verdict),
            });
        }
        matched
    }
}

/// Mentions per part when a big batch is matched beside its commit: big enough that a part's
/// fixed costs (a lookup statement, a full-text insert) stay small, small enough that the
/// writer starts early and waits little for the last part.
const PART: usize = 4_096;

impl Matching<'_> {
    /// Matches `mentions`, then commits them as the poll `p` (whose own `mentions` are not
    /// read) into `store`. A big batch is matched and prepared part by part on a thread of its
    /// own while the writer stores the part before, so the two run on two cores instead of
    /// one after the other. Returns the commit's outcome and how many mentions a watch kept.
    pub fn commit(
        &self,
        store: &mut dyn Backend,
        mentions: Vec<sources::Mention>,
        p: PollCommit<'_>,
    ) -> (Result<PollSummary, StoreError>, usize) {
        if mentions.len() <= PART {
            let matched = self.run(mentions);
            let kept = matched.len();
            return (
                store.commit_poll(PollCommit {
                    mentions: matched,
                    ..p
                }),
                kept,
            );
        }
        let (committed, kept, ()) = self.commit_in_parts(store, p, |take| {
            let mut rest = mentions.into_iter();
            loop {
                let part: Vec<_> = rest.by_ref().take(PART).collect();
                // The writer has gone when `take` says so: it stores nothing then anyway.
                if part.is_empty() || !take(part) {
                    break;
                }
            }
            (Some(PollTail::default()), ())
        });
        (committed, kept)
    }

    /// [`Matching::commit`] for a batch whose source hands its mentions over unread
    /// ([`sources::Unread`]): the document is read part by part on the producer's thread while
    /// the writer stores the parts before, so a big document is read, matched and stored at
    /// once instead of read whole first. Returns the commit's outcome, how many mentions a
    /// watch kept and how many the source gave; `None` when the streamed read had to stop
    /// (nothing is stored then, and the caller reads the document whole).
    pub fn commit_unread(
        &self,
        store: &mut dyn Backend,
        unread: &dyn sources::Unread,
        p: PollCommit<'_>,
    ) -> Option<(Result<PollSummary, StoreError>, usize, usize)> {
        let (committed, kept, streamed) = self.commit_in_parts(store, p, |take| {
            let mut streamed = 0;
            let read = unread.stream(PART, &mut |part| {
                streamed += part.len();
                take(part)
            });
            match read {
                Ok(own_replies) => (
                    Some(PollTail {
                        fetched: streamed,
                        own_replies,
                    }),
                    Some(streamed),
                ),
                Err(sources::Restart) => (None, None),
            }
        });
        streamed.map(|streamed| (committed, kept, streamed))
    }

    /// Commits the poll `p` from parts that `feed` hands to its `take` (which matches and
    /// prepares each part and sends it to the writer, false once the writer has gone), on a
    /// thread of its own while the writer stores the part before. `feed` returns the poll's
    /// tail, or `None` to have the commit store nothing, and a value passed back. Returns the
    /// commit's outcome, how many mentions a watch kept and `feed`'s value (`R::default()` if
    /// it panicked).
    fn commit_in_parts<R: Default + Send>(
        &self,
        store: &mut dyn Backend,
        p: PollCommit<'_>,
        feed: impl FnOnce(&mut dyn FnMut(Vec<sources::Mention>) -> bool) -> (Option<PollTail>, R) + Send,
    ) -> (Result<PollSummary, StoreError>, usize, R) {
        let raw_max = p.raw_max_bytes;
        std::thread::scope(|scope| {
            let (parts, arriving) = std::sync::mpsc::sync_channel(2);
            let (spent, returned) = std::sync::mpsc::channel();
            let producer = scope.spawn(move || self.run_into(feed, raw_max, parts, returned));
            let committed = store.commit_poll_parts(p, &mut arriving.into_iter(), &mut |part| {
                // Gone only when the producer is: then this thread frees the part.
                let _ = spent.send(part);
            });
            drop(spent);
            match producer.join() {
                Ok((kept, r)) => (committed, kept, r),
                Err(_) => {
                    // The commit saw the parts stop before their end and stored nothing.
                    tracing::error!(source = %self.source, "matching a poll's mentions failed");
                    (committed, 0, R::default())
                }
            }
        })
    }

    /// Runs `feed` on the calling thread: matches, classifies and prepares each part it hands
    /// over and sends it on, then [`PollPart::End`] with the tail `feed` returns (nothing when
    /// it returns none, so the commit stores nothing). Frees the parts the writer has stored
    /// as they come back on `spent`. Returns how many mentions a watch kept, and `feed`'s value.
    fn run_into<R>(
        &self,
        feed: impl FnOnce(&mut dyn FnMut(Vec<sources::Mention>) -> bool) -> (Option<PollTail>, R),
        raw_max_bytes: usize,
        parts: std::sync::mpsc::SyncSender<PollPart>,
        spent: std::sync::mpsc::Receiver<ReadyPart>,
    ) -> (usize, R) {
        let mut kept = 0;
        let (tail, r) = feed(&mut |part| {
            let matched = self.run_here(part);
            kept += matched.len();
            let ready = ReadyPart::new(matched, raw_max_bytes);
            let sent = parts.send(PollPart::Mentions(ready)).is_ok();
            spent.try_iter().for_each(drop);
            sent
        });
        if let Some(tail) = tail {
            // The writer may have gone after the last part: then it stored nothing anyway.
            let _ = parts.send(PollPart::End(tail));
        }
        drop(parts);
        // Until the writer is done with the last parts.
        spent.iter().for_each(drop);
        (kept, r)
    }
}

/// Commits a fetched batch with the source's new cursor in one transaction and reports it; a
/// commit that fails is recorded as a failed poll, and the batch is fetched again next time.
async fn store_batch(
    pipeline: &Pipeline,
    cfg: &SourceConfig,
    batch: sources::Batch,
    announced: &[Announcement],
    started_at: DateTime<Utc>,
    first_poll: bool,
    failures: u32,
) -> PollReport {
    let next = if batch.more {
        Duration::from_secs(1)
    } else {
        batch
            .next_poll_in
            .unwrap_or_else(|| jittered(cfg.interval, cfg.jitter))
    };
    let next_poll_at = Utc::now() + chrono::Duration::from_std(next).unwrap_or_default();
    let (source, kind) = (cfg.name.clone(), cfg.kind.clone());
    let watch_set = pipeline.watches();
    let (raw_max, cap) = (pipeline.raw_max_bytes, cfg.daily_cap);
    let (owned, max_text_chars) = (cfg.watch.clone(), pipeline.max_text_chars);
    let metrics = pipeline.metrics.clone();
    let (cursor, own_replies, mentions) = (batch.cursor, batch.own_replies, batch.mentions);
    let unread = batch.unread;
    // Matching runs with the commit, on the writer's blocking thread: a big batch takes a
    // few hundred milliseconds of it, which must not hold up the async runtime.
    let committed = pipeline
        .writer
        .run(move |s| {
            let caps = watch_set.caps();
            let matching = Matching {
                watches: &watch_set,
                owned: owned.as_deref(),
                max_text_chars,
                metrics: &metrics,
                source: &source,
            };
            let poll = |fetched, own_replies| PollCommit {
                source: &source,
                kind: &kind,
                mentions: Vec::new(),
                cursor: cursor.clone(),
                next_poll_at,
                started_at,
                fetched,
                backfill: first_poll,
                source_cap: cap,
                watch_caps: &caps,
                raw_max_bytes: raw_max,
                signals: Some(watch_set.classifier()),
                own_replies,
            };
            let mut mentions = mentions;
            let mut own_replies = own_replies;
            if let Some(unread) = unread {
                let streamed = if mentions.is_empty() {
                    matching.commit_unread(s, &*unread, poll(0, own_replies.clone()))
                } else {
                    None
                };
                if let Some((committed, kept, fetched)) = streamed {
                    s.release_memory();
                    return committed.map(|summary| Ok((summary, kept, fetched)));
                }
                // The streamed read stopped and stored nothing: read the document whole, as
                // a source that hands everything over at once does.
                tracing::debug!(source = %source, "reading the fetched document whole");
                match unread.read_all() {
                    Ok((more, own)) => {
                        mentions.extend(more);
                        own_replies.extend(own);
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            let fetched = mentions.len();
            let (committed, kept) = matching.commit(s, mentions, poll(fetched, own_replies));
            // Sources poll minutes apart: between polls the page cache is dead weight.
            s.release_memory();
            committed.map(|summary| Ok((summary, kept, fetched)))
        })
        .await;
    let (committed, fetched) = match committed {
        Ok(Ok((summary, kept, fetched))) => (Ok((summary, fetched - kept)), fetched),
        Ok(Err(e)) => return poll_failed(pipeline, cfg, &e, failures, started_at).await,
        Err(e) => (Err(e), 0),
    };
    poll_stored(
        pipeline,
        cfg,
        committed,
        fetched,
        announced,
        started_at,
        next_poll_at,
    )
    .await
}

/// Reports a fetched batch's commit: `committed` holds the summary and how many of the
/// `fetched` mentions no watch kept, or why the batch could not be stored (the cursor then
/// stays, and the source fetches again after its interval).
async fn poll_stored(
    pipeline: &Pipeline,
    cfg: &SourceConfig,
    committed: Result<(PollSummary, usize), StoreError>,
    fetched: usize,
    announced: &[Announcement],
    started_at: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) -> PollReport {
    match committed {
        Ok((summary, unmatched)) => {
            pipeline.writer.health().source_stored(&cfg.name);
            forget_announced(pipeline, &cfg.name, announced).await;
            for w in &summary.cap_warnings {
                tracing::warn!(source = %cfg.name, "{w}");
            }
            tracing::info!(
                source = %cfg.name, fetched, stored = summary.new_ids.len(), duplicates = summary.duplicates,
                unmatched, capped = summary.capped, answered = summary.answered, "poll ok"
            );
            PollReport {
                source: cfg.name.clone(),
                fetched,
                unmatched,
                stored: summary.new_ids.len(),
                duplicates: summary.duplicates,
                capped: summary.capped,
                error: None,
                next_poll_at,
                new_ids: summary.new_ids,
            }
        }
        Err(e) => {
            let message = redact_text(&e.to_string());
            tracing::error!(source = %cfg.name, error = %message, "cannot store poll; will fetch again");
            let next_poll_at =
                Utc::now() + chrono::Duration::from_std(cfg.interval).unwrap_or_default();
            record_failure(pipeline, cfg, &message, started_at, next_poll_at).await;
            pipeline.writer.health().source_failed(&cfg.name, &message);
            failed(cfg.name.clone(), message, next_poll_at)
        }
    }
}

/// Records a failed fetch (the `failures`-th in a row) and backs off; the cursor stays.
async fn poll_failed(
    pipeline: &Pipeline,
    cfg: &SourceConfig,
    e: &sources::SourceError,
    failures: u32,
    started_at: DateTime<Utc>,
) -> PollReport {
    // The one place a poll error becomes text: logs, `last_error`, `poll_log`,
    // `/healthz`, `sources` and `once` all get this redacted copy.
    let message = redact_text(&e.to_string());
    // Refused or missing credentials do not heal by retrying: wait the longest backoff
    // at once, so a revoked login is not hammered while a person fixes it.
    let steps = if matches!(e, sources::SourceError::Auth(_)) {
        u32::MAX
    } else {
        failures
    };
    let delay = jittered(
        backoff(cfg.interval, steps, e.retry_after(), cfg.max_backoff),
        cfg.jitter / 2.0,
    );
    let delay = delay.max(e.retry_after().unwrap_or_default());
    let next_poll_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    tracing::warn!(
        source = %cfg.name, kind = %cfg.kind, error = %message, failures, retry_in_s = delay.as_secs(),
        "poll failed; keeping the cursor and backing off"
    );
    record_failure(pipeline, cfg, &message, started_at, next_poll_at).await;
    failed(cfg.name.clone(), message, next_poll_at)
}

/// Forgets the webhook announcements a committed poll fetched. Should this fail (or the
/// process die first), the next poll fetches them again and the store keeps each mention once.
async fn forget_announced(pipeline: &Pipeline, source: &str, announced: &[Announcement]) {
    if announced.is_empty() {
        return;
    }
    let ids: Vec<i64> = announced.iter().map(|a| a.id).collect();
    if let Err(e) = pipeline.writer.run(move |s| s.forget_announced(&ids)).await {
        tracing::warn!(source = %source, error = %e, "cannot forget fetched webhook announcements; the next poll fetches them again");
    }
}

/// Records a failed poll in the database, or, when the database cannot take it, in the
/// in-memory health that `/healthz` and `/metrics` read.
async fn record_failure(
    pipeline: &Pipeline,
    cfg: &SourceConfig,
    message: &str,
    started_at: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) {
    let failure = FailedPoll {
        source: cfg.name.clone(),
        kind: cfg.kind.clone(),
        error: message.to_string(),
        started_at,
        next_poll_at,
    };
    if let Err(db) = pipeline
        .writer
        .run(move |s| s.record_failure(&failure))
        .await
    {
        tracing::error!(source = %cfg.name, error = %db, "cannot record poll failure");
        pipeline
            .writer
            .health()
            .source_unrecorded(&cfg.name, &format!("{message} (not recorded: {db})"));
    }
}

fn failed(source: String, error: String, next_poll_at: DateTime<Utc>) -> PollReport {
    PollReport {
        source,
        fetched: 0,
        unmatched: 0,
        stored: 0,
        duplicates: 0,
        capped: 0,
        error: Some(error),
        next_poll_at,
        new_ids: Vec::new(),
    }
}

/// Polls every source once, concurrently, and returns their reports in config order.
pub async fn poll_all_once(
    handles: Vec<SourceHandle>,
    pipeline: &Pipeline,
    shutdown: &Shutdown,
) -> Vec<PollReport> {
    let mut set = JoinSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (p, mut s) = (pipeline.clone(), shutdown.clone());
        set.spawn(async move { (i, poll_once(&h, &p, &mut s).await) });
    }
    let mut reports = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok((i, Some(report))) = r {
            reports.push((i, report));
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Runs every source on its schedule until `shutdown`. `on_stored` receives the ids of newly
/// stored mentions for the stages that follow the store.
pub async fn run(
    handles: Vec<SourceHandle>,
    pipeline: Pipeline,
    mut shutdown: Shutdown,
    on_stored: Option<UnboundedSender<Vec<i64>>>,
) {
    let mut scheduler = Scheduler::new(pipeline, on_stored);
    for h in handles {
        scheduler.start(h);
    }
    shutdown.wait().await;
    scheduler.stop_all().await;
}

/// The running source tasks. Each source has its own stop signal, so a reload stops and starts
/// only the sources whose configuration changed and leaves the others polling.
pub struct Scheduler {
    pipeline: Pipeline,
    on_stored: Option<UnboundedSender<Vec<i64>>>,
    tasks: HashMap<String, Running>,
}

struct Running {
    config: SourceConfig,
    stop: ShutdownTrigger,
    task: JoinHandle<()>,
}

/// What [`Scheduler::apply`] changed, by source name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Sources that were not running before.
    pub added: Vec<String>,
    /// Sources that are no longer configured (or were disabled).
    pub removed: Vec<String>,
    /// Sources restarted because their configuration changed.
    pub changed: Vec<String>,
    /// Sources left running untouched.
    pub unchanged: Vec<String>,
}

impl Scheduler {
    /// A scheduler with no sources running yet.
    pub fn new(pipeline: Pipeline, on_stored: Option<UnboundedSender<Vec<i64>>>) -> Scheduler {
        Scheduler {
            pipeline,
            on_stored,
            tasks: HashMap::new(),
        }
    }

    /// The pipeline the sources feed, e.g. to swap its watches.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Starts polling one source.
    pub fn start(&mut self, handle: SourceHandle) {
        let (stop, shutdown) = Shutdown::new();
        let config = handle.config.clone();
        tracing::info!(source = %config.name, kind = %config.kind, "source started");
        let handle = Arc::new(handle);
        let (pipeline, on_stored) = (self.pipeline.clone(), self.on_stored.clone());
        let health = self.pipeline.writer.health();
        let task = tokio::spawn(supervise(
            Task::Source(config.name.clone()),
            health,
            shutdown.clone(),
            (
                config.max_backoff.min(MAX_RESTART_DELAY),
                STAGE_SETTLED_AFTER,
            ),
            move || {
                source_task(
                    handle.clone(),
                    pipeline.clone(),
                    shutdown.clone(),
                    on_stored.clone(),
                )
            },
        ));
        self.tasks
            .insert(config.name.clone(), Running { config, stop, task });
    }

    /// Stops one source, letting a commit in flight finish.
    pub async fn stop(&mut self, name: &str) {
        if let Some(r) = self.tasks.remove(name) {
            r.stop.stop();
            let _ = r.task.await;
            tracing::info!(source = %name, "source stopped");
        }
    }

    /// Makes the running sources match `handles`: new ones start, missing ones stop, changed
    /// ones restart, and unchanged ones keep running without interruption.
    pub async fn apply(&mut self, handles: Vec<SourceHandle>) -> Applied {
        let mut applied = Applied::default();
        let wanted: Vec<String> = handles.iter().map(|h| h.config.name.clone()).collect();
        let gone: Vec<String> = self
            .tasks
            .keys()
            .filter(|n| !wanted.contains(n))
            .cloned()
            .collect();
        for name in gone {
            self.stop(&name).await;
            applied.removed.push(name);
        }
        for h in handles {
            let name = h.config.name.clone();
            match self.tasks.get(&name) {
                Some(r) if r.config == h.config => applied.unchanged.push(name),
                Some(_) => {
                    self.stop(&name).await;
                    self.start(h);
                    applied.changed.push(name);
                }
                None => {
                    self.start(h);
                    applied.added.push(name);
                }
            }
        }
        applied
    }

    /// Stops every source and waits for them.
    pub async fn stop_all(&mut self) {
        for r in self.tasks.values() {
            r.stop.stop();
        }
        for (_, r) in self.tasks.drain() {
            let _ = r.task.await;
        }
    }
}

async fn source_task(
    h: Arc<SourceHandle>,
    pipeline: Pipeline,
    mut shutdown: Shutdown,
    on_stored: Option<UnboundedSender<Vec<i64>>>,
) {
    let name = h.config.name.clone();
    let stored_next = {
        let name = name.clone();
        pipeline
            .readers
            .read(move |s| s.source_state(&name))
            .await
            .ok()
            .flatten()
            .and_then(|s| s.next_poll_at)
    };
    // Respect a backoff that was running before a restart; otherwise start soon, spread over a
    // second so sources do not all start at once.
    let mut next = stored_next
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
        .filter(|t| *t > Utc::now())
        .unwrap_or_else(|| Utc::now() + chrono::Duration::milliseconds(fastrand::i64(0..1000)));
    loop {
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => break,
        }
        match poll_once(&h, &pipeline, &mut shutdown).await {
            Some(report) => {
                if let (Some(tx), false) = (&on_stored, report.new_ids.is_empty()) {
                    let _ = tx.send(report.new_ids.clone());
                }
                next = report.next_poll_at;
            }
            None if shutdown.is_stopping() => break,
            None => {
                next =
                    Utc::now() + chrono::Duration::from_std(h.config.interval).unwrap_or_default()
            }
        }
    }
    tracing::debug!(source = %name, "source task stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts in three languages, three of every four naming the brand.
    const TEXTS: [&str; 4] = [
        "Fjordlink is down again, third time this week and nobody answers",
        "Tak Fjordlink, teknikeren var super hurtig!",
        "Nothing about the brand here",
        "Hoe zeg ik mijn Fjordlink abonnement op?",
    ];

    /// One watch on the brand's name.
    fn brand_watch() -> Watches {
        let watch = crate::watch::WatchConfig {
            name: "Brand".into(),
            query: "fjordlink".into(),
            languages: vec![],
            daily_cap: None,
            terms: Default::default(),
        };
        Watches::compile(&[watch], crate::classify::Classifier::embedded()).unwrap()
    }

    /// Matching for `watches` as the daemon sets it up, counting into `metrics`.
    fn matching<'a>(watches: &'a Watches, metrics: &'a crate::metrics::Metrics) -> Matching<'a> {
        Matching {
            watches,
            owned: None,
            max_text_chars: 0,
            metrics,
            source: "forum",
        }
    }

    #[test]
    fn a_big_batch_is_matched_on_all_cores_in_feed_order_with_the_same_verdicts() {
        let watches = brand_watch();
        let batch: Vec<sources::Mention> = (0..crate::parallel::MENTIONS_TO_SPLIT * 2 + 3)
            .map(|i| sources::Mention {
                external_id: i.to_string(),
                text: TEXTS[i % TEXTS.len()].to_string(),
                ..Default::default()
            })
            .collect();
        let metrics = crate::metrics::Metrics::default();
        let matching = matching(&watches, &metrics);
        let on_all_cores = matching.run(batch.clone());
        let on_one = matching.run_here(batch);
        let seen = |matched: &[NewMention]| -> Vec<String> {
            matched
                .iter()
                .map(|n| format!("{} {:?} {:?}", n.mention.external_id, n.watches, n.verdict))
                .collect()
        };
        assert_eq!(
            on_all_cores.len(),
            3002,
            "three of every four texts name the brand"
        );
        assert_eq!(seen(&on_all_cores), seen(&on_one));
        assert_eq!(metrics.classifications().0, 2 * on_one.len() as u64);
    }

    #[test]
    fn a_big_batch_matched_beside_its_commit_is_stored_as_matching_it_first_would_store_it() {
        let watches = brand_watch();
        let campaign = "Boycott Fjordlink now, they sell our data to advertisers";
        // Three parts and a bit; one campaign copy in every 700 posts, each from its own
        // author, so the campaign is only seen whole across parts.
        let batch: Vec<sources::Mention> = (0..PART * 3 + 5)
            .map(|i| sources::Mention {
                external_id: i.to_string(),
                text: if i % 700 == 0 {
                    campaign.to_string()
                } else {
                    format!("{} #{i}", TEXTS[i % TEXTS.len()])
                },
                author_handle: Some(format!("user{i}")),
                created_at: Utc::now(),
                ..Default::default()
            })
            .collect();
        let metrics = crate::metrics::Metrics::default();
        let matching = matching(&watches, &metrics);
        let none = HashMap::new();
        let poll = || PollCommit {
            signals: Some(watches.classifier()),
            watch_caps: &none,
            ..PollCommit::news("forum", Vec::new())
        };
        let dir = tempfile::tempdir().unwrap();
        let mut beside = crate::store::open(&dir.path().join("beside.db")).unwrap();
        let mut first = crate::store::open(&dir.path().join("first.db")).unwrap();

        let (summary, kept) = matching.commit(&mut *beside, batch.clone(), poll());
        let summary = summary.unwrap();
        let matched = matching.run(batch);
        assert_eq!(kept, matched.len());
        let expected = first
            .commit_poll(PollCommit {
                mentions: matched,
                ..poll()
            })
            .unwrap();

        assert_eq!(summary.new_ids.len(), kept);
        assert_eq!(summary.new_ids, expected.new_ids);
        let stored = |s: &dyn Backend, id: i64| {
            let m = s.mention(id).unwrap().unwrap();
            format!(
                "{} {} {:?} {:?} {:?}",
                m.mention.external_id,
                m.mention.text,
                m.watches,
                m.verdict,
                m.handling.label_source
            )
        };
        for id in &summary.new_ids {
            assert_eq!(stored(&*beside, *id), stored(&*first, *id));
        }
        let spam = summary
            .new_ids
            .iter()
            .filter(|id| beside.mention(**id).unwrap().unwrap().verdict.is_spam())
            .count();
        assert_eq!(spam, (PART * 3 + 5).div_ceil(700), "every campaign copy");
    }

    #[tokio::test]
    async fn a_panicked_source_task_is_reported_and_started_again() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let health = Arc::new(crate::store::StoreHealth::default());
        let (stop, shutdown) = Shutdown::new();
        let runs = Arc::new(AtomicU32::new(0));
        let (counted, waiting) = (runs.clone(), shutdown.clone());
        let supervisor = tokio::spawn(supervise(
            Task::Source("forum".to_string()),
            health.clone(),
            shutdown,
            (Duration::from_secs(1), Duration::from_secs(1)),
            move || {
                let run = counted.fetch_add(1, Ordering::SeqCst);
                let mut waiting = waiting.clone();
                async move {
                    if run < 2 {
                        panic!("poll went wrong at https://u:hunter2@example.org/feed");
                    }
                    waiting.wait().await;
                }
            },
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(std::time::Instant::now() < deadline, "never restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let fault = health.sources()["forum"].clone();
        assert_eq!(fault.restarts, 2);
        let why = fault.task_ended.unwrap();
        assert!(why.contains("its task panicked: poll went wrong"), "{why}");
        assert!(!why.contains("hunter2"), "{why}");
        let reasons = health.reasons().join("\n");
        assert!(
            reasons
                .contains("\"forum\" stopped polling and is being restarted (2 restarts so far)"),
            "{reasons}"
        );
        let published = health.published().failing;
        assert!(
            published["forum"].starts_with("stopped polling and is being restarted: "),
            "{published:?}"
        );
        // A stored poll clears the fault; asking it to stop ends the supervisor for good.
        health.source_stored("forum");
        assert!(health.reasons().is_empty());
        stop.stop();
        tokio::time::timeout(Duration::from_secs(5), supervisor)
            .await
            .expect("the supervisor stops when asked")
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        let i = Duration::from_secs(60);
        let cap = Duration::from_secs(600);
        assert_eq!(backoff(i, 1, None, cap), Duration::from_secs(60));
        assert_eq!(backoff(i, 2, None, cap), Duration::from_secs(120));
        assert_eq!(backoff(i, 3, None, cap), Duration::from_secs(240));
        assert_eq!(backoff(i, 9, None, cap), cap);
    }

    #[test]
    fn retry_after_delays_the_next_poll() {
        let d = backoff(
            Duration::from_secs(60),
            1,
            Some(Duration::from_secs(900)),
            Duration::from_secs(600),
        );
        assert_eq!(d, Duration::from_secs(900));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(100), 0.1);
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }
}
