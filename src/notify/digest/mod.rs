//! The digest: once a day (or week), at a local time, the period's picture for the comms
//! manager: volume per source and label against the previous days, net sentiment, the
//! best-reached complaints and whether they were answered, the complaint themes that rose, the
//! praise worth passing on, the period's spikes and the sources that failed. Rendered as text
//! and phone-friendly HTML (every piece of mention text escaped) and queued through the outbox,
//! with a `digests` row in the same transaction, so each recipient list gets one per period.
//!
//! [`schedule`] says when a digest is due, [`report`] works out what it says, [`render`] how it
//! looks; this file is the job that queues it when due.

pub mod render;
pub mod report;
pub mod schedule;

use std::sync::Arc;

use anyhow::Context;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::config::load::Config;
use crate::notify::outbox::Sender;
use crate::shutdown::Shutdown;
use crate::store::{Backend, DigestRecord, Readers, StoreError, Writer};
use crate::web::links::LinkSigner;

pub use report::*;
pub use schedule::*;

/// What [`queue_due`] did for one recipient list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The list.
    pub list: String,
    /// Emails queued.
    pub emails: usize,
    /// Marked late.
    pub late: bool,
}

/// Queues the latest scheduled digest for every list that has not had it, as of `now`. A digest
/// whose time passed while webcare was not running is sent now and marked late; one whose time
/// came before this database saw its first poll is skipped (a fresh install does not mail
/// yesterday's emptiness). Only the latest period is caught up; older ones can be sent by hand.
pub fn queue_due(
    store: &mut dyn Backend,
    s: &DigestSettings,
    brand_words: &[String],
    domain: &str,
    links: Option<&LinkSigner>,
    now: DateTime<Utc>,
) -> Result<Vec<Queued>, StoreError> {
    let due = plan_due(store, s, brand_words, domain, links, now)?;
    record_due(store, &due, now)
}

/// The reading half of [`queue_due`]: the digest of every list that has not had it, computed
/// and rendered without writing anything (the daemon runs it on a reader connection).
pub fn plan_due(
    store: &dyn Backend,
    s: &DigestSettings,
    brand_words: &[String],
    domain: &str,
    links: Option<&LinkSigner>,
    now: DateTime<Utc>,
) -> Result<Vec<DigestRecord>, StoreError> {
    let (due, send_date) = s.last_due(now);
    let span = s.period_sent_on(send_date);
    let pending: Vec<&RecipientList> = s
        .lists
        .iter()
        .map(|l| Ok((l, store.digest_sent(&l.name, span.start.timestamp())?)))
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter()
        .filter(|(_, sent)| sent.is_none())
        .map(|(l, _)| l)
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    match store.first_activity()? {
        Some(first) if first < due.timestamp() => {}
        _ => return Ok(Vec::new()),
    }
    let mut digest = compute(store, s, span, brand_words)?;
    if let Some(l) = links {
        digest.add_links(l, now.timestamp());
    }
    if now - due > LATE_AFTER {
        digest.late_since = Some(due);
    }
    Ok(pending
        .into_iter()
        .map(|list| digest.record(list, domain, None))
        .collect())
}

/// The writing half of [`queue_due`]: records each digest and queues its emails, each in one
/// transaction that leaves a period already recorded for the list alone (so a digest planned
/// twice is still queued once).
pub fn record_due(
    store: &mut dyn Backend,
    due: &[DigestRecord],
    now: DateTime<Utc>,
) -> Result<Vec<Queued>, StoreError> {
    let mut out = Vec::new();
    for record in due {
        if store.record_digest(record, false, now.timestamp())? {
            out.push(Queued {
                list: record.list.clone(),
                emails: record.alerts.len(),
                late: record.late,
            });
        }
    }
    Ok(out)
}

/// Everything the digest needs to be queued: the settings, the watch names (left out of the
/// themes) and the domain of the Message-IDs.
#[derive(Debug, Clone)]
pub struct DigestJob {
    /// `[digest]`.
    pub settings: DigestSettings,
    /// Watch names.
    pub brand_words: Vec<String>,
    /// Domain of `[mail] from`.
    pub domain: String,
    /// Signs the web inbox's one-click links beside each complaint (with `[web]`).
    pub links: Option<LinkSigner>,
}

impl DigestJob {
    /// The digest job of `config`, when it has both `[digest]` and `[mail]`.
    pub fn from_config(config: &Config) -> Option<DigestJob> {
        let settings = config.notify.digest.clone()?;
        let mail = config.notify.mail.as_ref()?;
        Some(DigestJob {
            settings,
            brand_words: config.watches.iter().map(|w| w.name.clone()).collect(),
            domain: mail.from.email.domain().to_string(),
            links: LinkSigner::for_config(config),
        })
    }

    /// Queues what is due as of `now` (see [`queue_due`]) and logs it.
    pub fn queue_due(
        &self,
        store: &mut dyn Backend,
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>, StoreError> {
        let due = self.plan_due(store, now)?;
        self.record_due(store, &due, now)
    }

    /// The reading half of [`DigestJob::queue_due`] (see [`plan_due`]).
    pub fn plan_due(
        &self,
        store: &dyn Backend,
        now: DateTime<Utc>,
    ) -> Result<Vec<DigestRecord>, StoreError> {
        plan_due(
            store,
            &self.settings,
            &self.brand_words,
            &self.domain,
            self.links.as_ref(),
            now,
        )
    }

    /// The writing half of [`DigestJob::queue_due`] (see [`record_due`]), logging each digest
    /// queued.
    pub fn record_due(
        &self,
        store: &mut dyn Backend,
        due: &[DigestRecord],
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>, StoreError> {
        let queued = record_due(store, due, now)?;
        for q in &queued {
            tracing::info!(list = %q.list, emails = q.emails, late = q.late, "digest queued");
        }
        Ok(queued)
    }
}

/// [`DigestJob::queue_due`] with its reads on a reader connection: the writer is held only to
/// record a digest that is due, not while the period is computed.
async fn queue_due_apart(
    job: &Arc<DigestJob>,
    readers: &Readers,
    writer: &Writer,
) -> Result<Vec<Queued>, StoreError> {
    let (j, now) = (job.clone(), Utc::now());
    let due = readers.read(move |s| j.plan_due(s, now)).await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let j = job.clone();
    writer.run(move |s| j.record_due(s, &due, now)).await
}

/// The daemon's digest task: queues a digest missed while webcare was down, then sleeps until
/// each next scheduled time (re-checking at least hourly, so a changed clock or a suspended
/// machine cannot make it miss one) and queues it, until shutdown.
pub async fn run_digests(
    job: Arc<DigestJob>,
    readers: Readers,
    writer: Writer,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    loop {
        let wait = match queue_due_apart(&job, &readers, &writer).await {
            Ok(queued) => {
                if !queued.is_empty() {
                    wake.notify_one();
                }
                (job.settings.next_due(Utc::now()) - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .clamp(
                        std::time::Duration::from_secs(1),
                        std::time::Duration::from_secs(3600),
                    )
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot queue the digest; will retry in a minute");
                std::time::Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => break,
        }
    }
}

/// Starts the digest stage in the daemon when `[digest]` is configured. `sender_wake` wakes the
/// running outbox sender; without one (no `[[teams]]`, so no alert sender), a sender for the
/// digest is started here.
pub fn spawn(
    config: &Config,
    readers: &Readers,
    writer: &Writer,
    sender_wake: Option<Arc<Notify>>,
    stages: &mut crate::supervisor::Stages,
) -> anyhow::Result<()> {
    let Some(job) = DigestJob::from_config(config) else {
        return Ok(());
    };
    let shutdown = stages.shutdown().clone();
    let wake = match sender_wake {
        Some(w) => w,
        None => {
            let mail = config
                .notify
                .mail
                .clone()
                .context("[digest] needs [mail]")?;
            let sender =
                Arc::new(Sender::new(writer.clone(), mail, &[]).context("cannot set up mail")?);
            let wake = Arc::new(Notify::new());
            let (w, s) = (wake.clone(), shutdown.clone());
            stages.spawn("sender", move || sender.clone().run(w.clone(), s.clone()));
            wake
        }
    };
    tracing::info!(
        next = %job.settings.next_due(Utc::now()).with_timezone(&job.settings.tz),
        "digest scheduled"
    );
    let (job, readers, writer) = (Arc::new(job), readers.clone(), writer.clone());
    stages.spawn("digest", move || {
        run_digests(
            job.clone(),
            readers.clone(),
            writer.clone(),
            wake.clone(),
            shutdown.clone(),
        )
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime, Weekday};

    use super::render::*;
    use super::*;
    use crate::store::{FirstResponse, RatingCount, StoredMention};

    fn amsterdam(time: &str) -> DigestSettings {
        DigestSettings {
            time: NaiveTime::parse_from_str(time, "%H:%M").unwrap(),
            tz: "Europe/Amsterdam".parse().unwrap(),
            ..Default::default()
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_local_time_in_the_spring_gap_moves_to_the_end_of_the_gap() {
        // 29 March 2026: Amsterdam jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        let s = amsterdam("02:30");
        assert_eq!(s.due_on(day("2026-03-29")), utc("2026-03-29T01:00:00Z"));
        assert_eq!(s.due_on(day("2026-03-30")), utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn a_local_time_that_happens_twice_in_autumn_is_taken_the_first_time() {
        // 25 October 2026: 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
        let s = amsterdam("02:30");
        assert_eq!(s.due_on(day("2026-10-25")), utc("2026-10-25T00:30:00Z"));
        // After the first 02:30 the next send is the next day, not the second 02:30.
        assert_eq!(
            s.next_due(utc("2026-10-25T00:31:00Z")),
            utc("2026-10-26T01:30:00Z")
        );
        assert_eq!(
            s.last_due(utc("2026-10-25T01:45:00Z")),
            (utc("2026-10-25T00:30:00Z"), day("2026-10-25"))
        );
    }

    #[test]
    fn the_day_before_a_dst_change_is_23_or_25_hours_long() {
        let s = amsterdam("07:30");
        let spring = s.period_sent_on(day("2026-03-30"));
        assert_eq!(spring.first_day, day("2026-03-29"));
        assert_eq!((spring.end - spring.start).num_hours(), 23);
        let autumn = s.period_sent_on(day("2026-10-26"));
        assert_eq!((autumn.end - autumn.start).num_hours(), 25);
        assert_eq!(autumn.start, utc("2026-10-24T22:00:00Z"));
    }

    #[test]
    fn the_next_send_is_today_before_the_time_and_tomorrow_after_it() {
        let s = amsterdam("07:30");
        // 06:00 CET on 20 November is 05:00Z: today at 07:30 CET.
        assert_eq!(
            s.next_due(utc("2026-11-20T05:00:00Z")),
            utc("2026-11-20T06:30:00Z")
        );
        assert_eq!(
            s.next_due(utc("2026-11-20T06:30:00Z")),
            utc("2026-11-21T06:30:00Z")
        );
        // Late in the UTC evening it is already the next day in Amsterdam.
        let (due, d) = s.last_due(utc("2026-11-20T23:30:00Z"));
        assert_eq!((due, d), (utc("2026-11-20T06:30:00Z"), day("2026-11-20")));
        assert_eq!(s.period_sent_on(d).first_day, day("2026-11-19"));
    }

    #[test]
    fn weekly_digests_go_out_on_their_weekday_about_the_seven_days_before() {
        let s = DigestSettings {
            period: Period::Weekly,
            weekday: Weekday::Mon,
            ..amsterdam("08:00")
        };
        // Wednesday 25 November 2026: the next one is Monday 30 November.
        assert_eq!(
            s.next_due(utc("2026-11-25T12:00:00Z")),
            utc("2026-11-30T07:00:00Z")
        );
        let (_, sent) = s.last_due(utc("2026-11-25T12:00:00Z"));
        assert_eq!(sent, day("2026-11-23"));
        let p = s.period_sent_on(sent);
        assert_eq!((p.first_day, p.days), (day("2026-11-16"), 7));
        // --date: the week that contains the day.
        assert_eq!(s.period_containing(day("2026-11-20")), p);
        assert_eq!(s.period_containing(day("2026-11-22")), p);
        assert_eq!(
            s.period_containing(day("2026-11-23")).first_day,
            day("2026-11-23")
        );
    }

    #[test]
    fn a_zone_whose_midnight_is_skipped_starts_the_day_when_the_clock_resumes() {
        // America/Santiago moved from 00:00 to 01:00 on 6 September 2026 (spring, south).
        let s = DigestSettings {
            tz: "America/Santiago".parse().unwrap(),
            ..Default::default()
        };
        let span = s.span(day("2026-09-06"), 1);
        assert_eq!(
            span.start.with_timezone(&s.tz).format("%H:%M").to_string(),
            "01:00"
        );
        assert_eq!((span.end - span.start).num_hours(), 23);
    }

    #[test]
    fn themes_are_the_terms_and_phrases_that_rose_not_the_brand_or_stop_words() {
        let now: Vec<String> = [
            "Fjordlink: weer geen internet in Utrecht sinds vanochtend",
            "Geen internet hier, storing bij Fjordlink",
            "geen internet en de helpdesk neemt niet op",
            "Fjordlink factuur klopt niet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let before: Vec<String> = (0..7)
            .map(|_| "Fjordlink factuur te hoog".to_string())
            .collect();
        let themes = rising_themes(&now, &before, 1.0 / 7.0, &["Fjordlink".into()], 5);
        assert_eq!(themes[0].term, "geen internet", "{themes:?}");
        assert_eq!(themes[0].count, 3);
        // "internet" alone is covered by the phrase; the brand and "de"/"bij" never show.
        assert!(
            themes
                .iter()
                .all(|t| t.term != "internet" && !t.term.contains("fjordlink"))
        );
        // The bill: 1 complaint now against 1 a day before: no rise.
        assert!(themes.iter().all(|t| t.term != "factuur"), "{themes:?}");
    }

    #[test]
    fn first_response_times_are_median_and_nearest_rank_90th_percentile() {
        let row = |team: &str, kind: &str, seconds| FirstResponse {
            team: team.into(),
            kind: kind.into(),
            seconds,
        };
        let rows: Vec<FirstResponse> = [600, 1200, 1800, 7200]
            .into_iter()
            .map(|s| row("webcare", "x", s))
            .chain((1..=10).map(|i| row("webcare", "rss", i * 60)))
            .chain([row("", "rss", 30)])
            .collect();
        let r = response_times(&rows);
        assert_eq!(
            r.iter()
                .map(|r| (
                    r.team.as_str(),
                    r.kind.as_str(),
                    r.answered,
                    r.median,
                    r.p90
                ))
                .collect::<Vec<_>>(),
            [
                ("", "rss", 1, 30, 30),
                ("webcare", "rss", 10, 330, 540),
                ("webcare", "x", 4, 1500, 7200),
            ]
        );
        assert_eq!(duration_words(1500), "25 min");
        assert_eq!(duration_words(7200), "2 h 00 min");
        assert_eq!(duration_words(90_000), "1 d 1 h");
    }

    #[test]
    fn handles_show_only_where_the_platform_has_them() {
        let m = |kind: &str, name: Option<&str>, handle: Option<&str>, reach| StoredMention {
            kind: kind.into(),
            source: "s".into(),
            mention: crate::sources::Mention {
                author_name: name.map(str::to_string),
                author_handle: handle.map(str::to_string),
                author_reach: reach,
                ..Default::default()
            },
            ..Default::default()
        };
        let who = |d: StoredMention| Digest::author(&d);
        assert_eq!(
            who(m("x", Some("Tom Richards"), Some("tomr"), Some(4200))),
            "Tom Richards (@tomr) · 4,200 followers · X (s)"
        );
        assert_eq!(
            who(m("reddit", None, Some("anna"), None)),
            "u/anna · Reddit (s)"
        );
        assert_eq!(
            who(m("rss", None, Some("Tom Richards"), None)),
            "Tom Richards · RSS feed (s)"
        );
        assert_eq!(
            who(m("rss", Some("Tom"), Some("tom@example.com"), None)),
            "Tom · RSS feed (s)"
        );
        assert_eq!(
            who(m("mastodon", Some("bob"), Some("@bob"), None)),
            "bob · Mastodon (s)"
        );
        assert_eq!(
            who(m("app_store", None, None, None)),
            "unknown author · App Store (s)"
        );
    }

    #[test]
    fn no_number_reads_minus_zero() {
        assert_eq!(one_decimal(-0.0), "0.0");
        assert_eq!(one_decimal(-0.04), "0.0");
        assert_eq!(one_decimal(-0.05), "-0.1");
        assert_eq!(one_decimal(2.0 / 7.0), "0.3");
    }

    #[test]
    fn trends_read_naturally() {
        assert_eq!(trend_text(15, 10.0), "+50 %");
        assert_eq!(trend_text(5, 10.0), "−50 %");
        assert_eq!(trend_text(10, 10.0), "±0 %");
        assert_eq!(trend_text(3, 0.0), "new");
        assert_eq!(trend_text(0, 0.0), "–");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn star_ratings_are_counted_per_source_for_both_periods() {
        let row = |source: &str, rating, count| RatingCount {
            source: source.into(),
            kind: "app_store".into(),
            rating,
            count,
        };
        let now = [row("ios", 1, 3), row("ios", 5, 1), row("ios", 7, 9)];
        let before = [row("ios", 4, 2), row("android", 2, 1)];
        let r = report::ratings(&now, &before);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].source, "android");
        assert_eq!(r[0].now.average(), None);
        assert_eq!(r[0].before.average(), Some(2.0));
        // A rating outside 1 to 5 counts nowhere.
        assert_eq!(r[1].now.counts, [3, 0, 0, 0, 1]);
        assert_eq!(r[1].now.average(), Some(2.0));
        assert_eq!(r[1].before.total(), 2);
    }
}
