//! The notifier: the stage after the store. It routes every newly stored mention through the
//! rules in [`route`], folds repeats of an alerted mention into its alert ([`similar`]), flags
//! authors on the opt-out list, writes the decision and the alerts it implies to the outbox in
//! one transaction, and [`outbox`] delivers them by [`mail`] (batched per recipient) and
//! [`webhook`] exactly once as far as SMTP and HTTP allow.
//!
//! The database connects the stages: a mention is stored (and classified) before it is routed,
//! an alert is in the outbox before it is sent. Killing the daemon anywhere loses nothing; the
//! only duplicate possible is an alert the server accepted just before the kill (see
//! [`outbox`]).
//!
//! The notifier's config sections are read in [`settings`] (and [`spike_settings`]), apart
//! from the code here that takes the whole config, so the config does not depend on it.

/// Declares a mail's plain-text part: a struct `$name` that renders the `.txt` template at
/// `$path` (not escaped: it is text) over a reference to `$page`, the HTML part's values, so the
/// two parts show the same things in the same order.
macro_rules! text_part {
    ($vis:vis $name:ident over $page:ty, $path:tt) => {
        #[doc = concat!("The plain-text part, from `templates/", $path, "` over the HTML part's values.")]
        #[derive(askama::Template)]
        #[template(path = $path)]
        $vis struct $name<'a> {
            page: &'a $page,
        }

        impl<'a> std::ops::Deref for $name<'a> {
            type Target = $page;

            fn deref(&self) -> &$page {
                self.page
            }
        }
    };
}

pub mod backtest;
pub mod card;
pub mod chart;
pub mod digest;
pub mod mail;
pub mod outbox;
pub mod route;
pub mod settings;
pub mod similar;
pub mod sla;
pub mod smtp;
pub mod spike;
pub mod spike_settings;
pub mod stopwords;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::classify::live::LiveClassifier;
use crate::classify::{Input, Urgency};
use crate::config::{ConfigErrors, load::Config};
use crate::shutdown::Shutdown;
use crate::store::{
    AlertUpdate, Backend, MentionOrder, MentionQuery, NewAlert, Readers, RoutingRecord, StoreError,
    StoredMention, Writer, optout_key,
};
use crate::text::fnv1a;
use mail::{AlertView, DuplicateView, Mail, render_alert};
use route::{Decision, Router, Subject};
pub use settings::{NotifyConfig, parse_config};
use similar::{Fingerprint, LeadIndex, fingerprint};

/// Authors who asked not to be contacted, as `(platform, handle)` keys from [`optout_key`].
pub type OptOuts = HashSet<(String, String)>;

/// An alerted mention that later mentions may repeat.
struct Lead {
    mention: StoredMention,
    fp: Fingerprint,
    duplicates: Vec<StoredMention>,
    /// Already in the outbox (from an earlier routing pass).
    stored: bool,
    /// Gained a duplicate in this pass.
    changed: bool,
}

/// Routes mentions and renders their alerts. Cheap to share between tasks.
pub struct Notifier {
    router: Router,
    mail: Mail,
    /// Follows the model in use in the database (see [`Notifier::route_batch`]).
    classifier: LiveClassifier,
    domain: String,
    /// Recently alerted mentions, for the near-duplicate check; kept between routing passes.
    leads: Mutex<LeadIndex>,
    /// Signs the web inbox's one-click links, when `[web]` is configured.
    links: Option<crate::web::links::LinkSigner>,
}

/// The classifier's reasons, one readable line each, from the stored JSON.
fn reason_lines(stored: Option<&Value>) -> Vec<String> {
    let Some(v) = stored else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for u in v["urgency_reasons"].as_array().into_iter().flatten() {
        if let Some(u) = u.as_str() {
            out.push(format!("urgent: {u}"));
        }
    }
    for r in v["reasons"].as_array().into_iter().flatten() {
        let (kind, cue, text) = (
            r["kind"].as_str().unwrap_or_default(),
            r["cue"].as_str().unwrap_or_default(),
            r["text"].as_str().unwrap_or_default(),
        );
        if text.is_empty() {
            out.push(format!("{kind}: {cue}"));
        } else {
            out.push(format!("{kind}: \"{text}\" ({cue})"));
        }
    }
    out
}

/// Each reason once; a cue that made the mention urgent is already in the urgency lines.
fn dedup_reasons(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let urgent_cues: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("urgent: "))
        .filter(|l| !l.starts_with('"'))
        .map(str::to_string)
        .collect();
    for l in lines {
        let repeats_urgency = l.starts_with("urgent: \"")
            && urgent_cues.iter().any(|u| {
                l.split('"')
                    .nth(1)
                    .is_some_and(|cue| u.contains(&format!("\"{cue}\"")))
            });
        if !repeats_urgency && !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

impl Notifier {
    /// A notifier for `config`, or `None` when no team is configured.
    pub fn new(config: &Config) -> Option<Notifier> {
        let n = &config.notify;
        let mail = n.mail.clone()?;
        if n.teams.is_empty() {
            return None;
        }
        let watches: Vec<String> = config.watches.iter().map(|w| w.name.clone()).collect();
        let sources: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
        // The config was validated on load; compiling again cannot find new problems.
        let mut ignored = ConfigErrors::default();
        let router = Router::compile(
            &n.teams,
            &n.routes,
            &n.topics,
            &watches,
            &sources,
            &mut ignored,
        );
        let domain = mail.from.email.domain().to_string();
        Some(Notifier {
            router,
            mail,
            // The daemon's own classifier: edited lexicons, thresholds and the model in use.
            classifier: LiveClassifier::configured(config),
            domain,
            leads: Mutex::default(),
            links: crate::web::links::LinkSigner::for_config(config),
        })
    }

    /// The mail settings.
    pub fn mail(&self) -> &Mail {
        &self.mail
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// What routing sees of `m`, and the classifier's reasons. A mention stored before the
    /// classifier ran is classified here.
    pub fn subject(&self, m: &StoredMention) -> (Subject, Vec<String>) {
        let text = m.full_text("\n");
        let mut s = Subject {
            source: m.source.clone(),
            watches: m.watches.clone(),
            lang: m.mention.lang.clone(),
            author: m.mention.author_handle.clone(),
            url: m.mention.url.clone(),
            reach: m.mention.author_reach,
            backfill: m.backfill,
            rating: m.mention.rating,
            ..Default::default()
        };
        let reasons;
        let v = &m.verdict;
        match v.label {
            Some(label) => {
                s.label = label;
                s.sentiment = v.sentiment.unwrap_or(0.0);
                s.urgent = v.is_urgent();
                s.spam = v.is_spam();
                reasons = reason_lines(v.reasons.as_ref());
            }
            None => {
                let v = self.classifier.current().classify(&Input {
                    text: &text,
                    lang: m.mention.lang.as_deref(),
                    author_reach: m.mention.author_reach,
                    rating: m.mention.rating,
                    ..Input::default()
                });
                s.label = v.label;
                s.sentiment = f64::from(v.sentiment);
                s.urgent = v.urgency == Urgency::Urgent;
                s.spam = v.spam;
                if s.lang.is_none() && v.lang != "other" {
                    s.lang = Some(v.lang.clone());
                }
                let mut lines: Vec<String> = v
                    .urgency_reasons
                    .iter()
                    .map(|u| format!("urgent: {u}"))
                    .collect();
                lines.extend(v.reasons.iter().map(|r| {
                    if r.text.is_empty() {
                        format!("{}: {}", r.kind, r.cue)
                    } else {
                        format!("{}: \"{}\" ({})", r.kind, r.text, r.cue)
                    }
                }));
                reasons = lines;
            }
        }
        s.text = text;
        (s, dedup_reasons(reasons))
    }

    /// Whether the author of `m` asked not to be contacted.
    fn opted_out(optouts: &OptOuts, m: &StoredMention) -> bool {
        let handle = m.mention.author_handle.as_deref();
        handle.is_some_and(|h| optouts.contains(&optout_key(&m.kind, h)))
    }

    /// Routes `m`, without looking for duplicates: the decision and, for alerts, one rendered
    /// email per recipient and one post per team webhook. For `webcare route`.
    pub fn plan(
        &self,
        m: &StoredMention,
        optouts: &OptOuts,
        now: DateTime<Utc>,
    ) -> (Decision, RoutingRecord) {
        let (subject, reasons) = self.subject(m);
        let decision = self.router.decide(&subject);
        let alerts = self.alerts_for(m, &subject, &reasons, &decision, &[], optouts, now);
        let route = serde_json::to_string(&decision.matched).unwrap_or_default();
        (
            decision,
            RoutingRecord {
                mention_id: m.id,
                route,
                alerts,
                duplicate_of: None,
            },
        )
    }

    /// True when a mention stored at `fetched_at` is too old to alert about: stored while alerts
    /// were not configured, or long ago.
    fn stale(&self, fetched_at: i64, now: DateTime<Utc>) -> bool {
        now.timestamp() - fetched_at > self.mail.retry_for.as_secs() as i64
    }

    /// The signed one-click links of an alert about mention `id`; none without a web inbox.
    fn action_links(&self, id: i64, now: DateTime<Utc>) -> Vec<mail::ActionLink> {
        self.links
            .as_ref()
            .map(|l| {
                l.links(id, now.timestamp())
                    .into_iter()
                    .map(|(label, url)| mail::ActionLink { label, url })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How an alert lists `d`, a near-duplicate of its mention.
    fn duplicate_view(d: &StoredMention, optouts: &OptOuts) -> DuplicateView {
        DuplicateView {
            mention_id: d.id,
            source: d.source.clone(),
            author: d.mention.author_handle.as_deref().map(mail::strip_bidi),
            url: d.mention.url.clone(),
            do_not_contact: Self::opted_out(optouts, d),
        }
    }

    /// The alerts `decision` implies for `m`, with `duplicates` folded in.
    #[allow(clippy::too_many_arguments)]
    fn alerts_for(
        &self,
        m: &StoredMention,
        subject: &Subject,
        reasons: &[String],
        decision: &Decision,
        duplicates: &[StoredMention],
        optouts: &OptOuts,
        now: DateTime<Utc>,
    ) -> Vec<NewAlert> {
        let mut alerts = Vec::new();
        // An answered mention needs nobody's attention: the brand (or staff) already replied.
        if self.stale(m.fetched_at, now) || m.handling.answered_at.is_some() {
            return alerts;
        }
        let duplicates: Vec<DuplicateView> = duplicates
            .iter()
            .map(|d| Self::duplicate_view(d, optouts))
            .collect();
        for (team_name, matched) in decision.alerts() {
            let Some(team) = self.router.team(team_name) else {
                continue;
            };
            let view = AlertView {
                mention_id: m.id,
                source: m.source.clone(),
                mention: mail::shown(&m.mention),
                lang: subject.lang.clone(),
                watches: m.watches.clone(),
                label: subject.label.as_str().to_string(),
                sentiment: subject.sentiment,
                urgent: subject.urgent,
                reasons: reasons.to_vec(),
                rule: matched.rule.clone(),
                rule_why: matched.why.clone(),
                team: team.name.clone(),
                do_not_contact: Self::opted_out(optouts, m),
                duplicates: duplicates.clone(),
                platform: m.kind.clone(),
                tz: Some(team.tz),
                now: now.timestamp(),
                actions: self.action_links(m.id, now),
            };
            let rendered = render_alert(&view);
            let not_before = if subject.urgent {
                now
            } else {
                team.release_at(now)
            };
            for to in &team.emails {
                alerts.push(NewAlert {
                    channel: "email",
                    team: team.name.clone(),
                    rule: matched.rule.clone(),
                    recipient: to.clone(),
                    message_id: format!(
                        "<webcare.alert.{}.{:016x}@{}>",
                        m.id,
                        fnv1a(format!("{}\n{}", team.name, to.to_lowercase())),
                        self.domain
                    ),
                    subject: rendered.subject.clone(),
                    text: rendered.text.clone(),
                    html: rendered.html.clone(),
                    urgent: subject.urgent,
                    not_before: not_before.timestamp(),
                    payload: None,
                });
            }
            if let Some(hook) = &team.webhook {
                let message_id = format!(
                    "<webcare.hook.{}.{:016x}@{}>",
                    m.id,
                    fnv1a(&team.name),
                    self.domain
                );
                alerts.push(NewAlert {
                    channel: "webhook",
                    team: team.name.clone(),
                    rule: matched.rule.clone(),
                    recipient: format!("webhook:{}", team.name),
                    payload: Some(webhook::render_payload(hook.format, &view, &message_id)),
                    message_id,
                    subject: rendered.subject.clone(),
                    text: rendered.text.clone(),
                    html: String::new(),
                    urgent: subject.urgent,
                    not_before: not_before.timestamp(),
                });
            }
        }
        alerts
    }

    /// Routes the unrouted mentions among `ids` (all unrouted ones when `None`) and queues
    /// their alerts, one transaction per batch of [`ROUTE_BATCH`] mentions. A mention that
    /// repeats one alerted within `[mail] duplicate_window` raises no alert of its own: it is
    /// recorded as a duplicate, and the earlier alert, if it has not been tried yet, is
    /// rewritten to count and link it. Returns the number of alerts queued.
    pub fn route_pending(
        &self,
        store: &mut dyn Backend,
        ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut queued = 0;
        loop {
            match self.route_batch(store, ids, now)? {
                Some(routed) => queued += routed.queued,
                None => return Ok(queued),
            }
            if ids.is_some() {
                return Ok(queued);
            }
        }
    }

    /// Routes one batch of at most [`ROUTE_BATCH`] unrouted mentions among `ids` (any when
    /// `None`) in one transaction, or returns `None` when nothing is left to route. The daemon
    /// routes batch by batch, so a stop request or a poll waits for one batch, never for the
    /// whole backlog.
    pub fn route_batch(
        &self,
        store: &mut dyn Backend,
        ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> Result<Option<Routed>, StoreError> {
        match self.plan_batch(store, ids, now)? {
            Some(plan) => plan.record(store).map(Some),
            None => Ok(None),
        }
    }

    /// The reading half of [`Notifier::route_batch`]: decides the routes and renders the alerts
    /// of the next batch without writing anything, so the daemon runs it on a reader
    /// connection. `None` when nothing is left to route.
    pub fn plan_batch(
        &self,
        store: &dyn Backend,
        ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> Result<Option<RoutingPlan>, StoreError> {
        let query = match ids {
            Some(ids) => MentionQuery::new().ids(ids),
            None => MentionQuery::new().limit(ROUTE_BATCH),
        };
        let batch = store.mentions(&query.unrouted().order(MentionOrder::Stored))?;
        if batch.is_empty() {
            return Ok(None);
        }
        // `webcare model use` or a retrained model applies from the next batch on.
        self.classifier.follow(store);
        let optouts: OptOuts = store
            .optouts()?
            .into_iter()
            .map(|o| (o.platform, o.handle))
            .collect();
        let window = self.mail.duplicate_window.as_secs() as i64;
        let mut index = self.leads.lock().unwrap_or_else(|p| p.into_inner());
        if window > 0 {
            refresh_leads(&mut index, store, now.timestamp() - window)?;
        }
        // Earlier alerts this batch repeats (loaded when first repeated), then the batch's own.
        let mut leads: Vec<Lead> = Vec::new();
        let mut loaded: HashMap<i64, usize> = HashMap::new();
        let mut records = Vec::new();
        // For each record that starts a new alert: its lead's index.
        let mut new_leads = Vec::new();
        for m in &batch {
            let (subject, _) = self.subject(m);
            let decision = self.router.decide(&subject);
            let route = serde_json::to_string(&decision.matched).unwrap_or_default();
            let fp = fingerprint(&m.mention.text);
            // A mention the brand answered before it was routed (its reply came in the same
            // poll or an earlier one) raises no alert; it is still routed and counted.
            let alerting = !decision.alerts().is_empty()
                && !self.stale(m.fetched_at, now)
                && m.handling.answered_at.is_none();
            let mut record = RoutingRecord {
                mention_id: m.id,
                route,
                alerts: Vec::new(),
                duplicate_of: None,
            };
            if alerting {
                let earlier = if window > 0 {
                    earlier_lead(&mut index, store, &mut leads, &mut loaded, &fp)?
                } else {
                    None
                };
                let found = earlier.or_else(|| {
                    leads
                        .iter()
                        .position(|l| !l.stored && window > 0 && l.fp.matches(&fp))
                });
                match found.map(|i| &mut leads[i]) {
                    Some(lead) => {
                        record.duplicate_of = Some(lead.mention.id);
                        lead.duplicates.push(m.clone());
                        lead.changed = true;
                    }
                    None => {
                        new_leads.push((records.len(), leads.len()));
                        leads.push(Lead {
                            mention: m.clone(),
                            fp,
                            duplicates: Vec::new(),
                            stored: false,
                            changed: true,
                        });
                    }
                }
            }
            records.push(record);
        }
        let render = |lead: &Lead| {
            let (subject, reasons) = self.subject(&lead.mention);
            let decision = self.router.decide(&subject);
            self.alerts_for(
                &lead.mention,
                &subject,
                &reasons,
                &decision,
                &lead.duplicates,
                &optouts,
                now,
            )
        };
        for (record, lead) in new_leads {
            records[record].alerts = render(&leads[lead]);
        }
        let updates: Vec<AlertUpdate> = leads
            .iter()
            .filter(|l| l.stored && l.changed)
            .map(|l| AlertUpdate { alerts: render(l) })
            .collect();
        Ok(Some(RoutingPlan {
            records,
            updates,
            now: now.timestamp(),
        }))
    }
}

/// One batch's routing, decided and rendered but not yet written: the writing half of
/// [`Notifier::route_batch`].
#[derive(Debug)]
pub struct RoutingPlan {
    records: Vec<RoutingRecord>,
    updates: Vec<AlertUpdate>,
    now: i64,
}

impl RoutingPlan {
    /// Writes the plan in one transaction. Safe when the database moved on since the plan was
    /// read: a mention routed or erased meanwhile is skipped, and an alert tried meanwhile is
    /// not rewritten (see [`crate::store::OutboxStore::record_routing`]).
    pub fn record(&self, store: &mut dyn Backend) -> Result<Routed, StoreError> {
        let queued = store.record_routing(&self.records, &self.updates, self.now)?;
        Ok(Routed {
            mentions: self.records.len(),
            queued,
        })
    }
}

/// Reads the alerts queued since the index last looked into `index`, and drops those older
/// than `since`.
fn refresh_leads(index: &mut LeadIndex, store: &dyn Backend, since: i64) -> Result<(), StoreError> {
    const PAGE: usize = 5000;
    index.expire(since);
    loop {
        let rows = store.alerted_texts(index.seen_outbox_id, since, PAGE)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        index.seen_outbox_id = last.outbox_id;
        for r in &rows {
            index.insert(r.mention_id, r.alerted_at, fingerprint(&r.text));
        }
        if rows.len() < PAGE {
            return Ok(());
        }
    }
}

/// The earlier alert `fp` repeats, as an index into `leads` (loading it and its duplicates on
/// first use; `loaded` maps mention ids to their place in `leads`). A lead whose mention was
/// erased or answered since is dropped from the index.
fn earlier_lead(
    index: &mut LeadIndex,
    store: &dyn Backend,
    leads: &mut Vec<Lead>,
    loaded: &mut HashMap<i64, usize>,
    fp: &Fingerprint,
) -> Result<Option<usize>, StoreError> {
    while let Some(id) = index.find(fp) {
        if let Some(&i) = loaded.get(&id) {
            return Ok(Some(i));
        }
        // An answered lead's alert is dropped by the sender, so a repeat must alert anew.
        let Some(mention) = store
            .mention(id)?
            .filter(|m| m.handling.answered_at.is_none())
        else {
            index.remove(id);
            continue;
        };
        leads.push(Lead {
            fp: fingerprint(&mention.mention.text),
            duplicates: store.mentions(
                &MentionQuery::new()
                    .duplicates_of(id)
                    .order(MentionOrder::Stored),
            )?,
            mention,
            stored: true,
            changed: false,
        });
        loaded.insert(id, leads.len() - 1);
        return Ok(Some(leads.len() - 1));
    }
    Ok(None)
}

/// Mentions routed in one transaction.
pub const ROUTE_BATCH: usize = 500;

/// What one [`Notifier::route_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// Mentions routed.
    pub mentions: usize,
    /// Alerts queued for them.
    pub queued: usize,
}

/// Plans the next batch on a reader and records it with the writer.
async fn route_next(
    notifier: &Arc<Notifier>,
    readers: &Readers,
    writer: &Writer,
) -> Result<Option<Routed>, StoreError> {
    let n = notifier.clone();
    let plan = readers
        .read(move |s| n.plan_batch(s, None, Utc::now()))
        .await?;
    match plan {
        Some(plan) => writer.run(move |s| plan.record(s)).await.map(Some),
        None => Ok(None),
    }
}

/// First retry after a failed routing pass.
const ROUTE_RETRY_FIRST: Duration = Duration::from_secs(2);
/// Longest wait between retries of a failing routing pass.
const ROUTE_RETRY_MAX: Duration = Duration::from_secs(30);

/// The routing stage of the daemon: routes whatever a previous run stored but did not route,
/// then again whenever the scheduler reports new mentions, waking the sender after each. The
/// ids are only a signal: the database says what is unrouted, so a failed attempt is simply
/// repeated on the next signal, or on a timer
/// (within 30 s) when no signal comes.
pub async fn run_router(
    notifier: Arc<Notifier>,
    readers: Readers,
    writer: Writer,
    stored: Arc<tokio::sync::Mutex<UnboundedReceiver<Vec<i64>>>>,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    // Shared so that a router restarted after a panic takes over the same channel.
    let mut stored = stored.lock().await;
    // After a failed pass the router tries again on its own, 2 s after the first failure and
    // doubling up to 30 s: waiting for the next poll to store something would leave everything
    // already stored unrouted for as long as the sources stay quiet.
    let mut retry: Option<Duration> = None;
    loop {
        // One batch per turn at the writer: polls get their turn in between, and a stop
        // request waits for one batch (a second or so), never for the whole backlog. The batch
        // is read and rendered on a reader, so the writer is held only to record it; the next
        // batch is read after that write returned, so it never routes a mention twice.
        while !shutdown.is_stopping() {
            match route_next(&notifier, &readers, &writer).await {
                Ok(None) => {
                    if retry.take().is_some() {
                        tracing::info!("routing works again");
                    }
                    break;
                }
                Ok(Some(routed)) => {
                    if retry.take().is_some() {
                        tracing::info!("routing works again");
                    }
                    if routed.queued > 0 {
                        tracing::info!(alerts = routed.queued, "alerts queued");
                        wake.notify_one();
                    }
                }
                Err(e) => {
                    let next = retry.map_or(ROUTE_RETRY_FIRST, |d| (d * 2).min(ROUTE_RETRY_MAX));
                    retry = Some(next);
                    tracing::error!(error = %e, retry_in_s = next.as_secs(), "cannot route new mentions; will retry");
                    break;
                }
            }
        }
        let again = async {
            match retry {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = again => {}
            next = stored.recv() => if next.is_none() { break },
            _ = shutdown.wait() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Mention;
    use crate::store::{NewMention, PollCommit};

    /// A config with one watch and one team, its database in `dir`.
    fn config(dir: &std::path::Path) -> Config {
        let file = dir.join("webcare.toml");
        std::fs::write(
            &file,
            format!(
                "[store]\npath = \"{}\"\n\n\
                 [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/feed\"\n\n\
                 [[watches]]\nname = \"Fjordlink\"\nquery = 'fjordlink'\n\n\
                 [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\n\
                 port = 2525\ntls = \"none\"\n\n\
                 [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
                dir.join("webcare.db").display()
            ),
        )
        .unwrap();
        Config::load(&file).unwrap()
    }

    fn store_mention(store: &mut dyn Backend, id: &str) {
        let mention = Mention {
            external_id: id.into(),
            text: "Fjordlink internet is al twee dagen kapot, help!".into(),
            created_at: Utc::now(),
            ..Default::default()
        };
        let new = NewMention {
            mention,
            watches: vec!["Fjordlink".into()],
            verdict: None,
        };
        store
            .commit_poll(PollCommit::news("forum", vec![new]))
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn routing_reads_while_the_writer_is_busy_and_never_routes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let notifier = Arc::new(Notifier::new(&config).unwrap());
        let mut store = crate::store::open(&config.store.path).unwrap();
        store_mention(&mut *store, "a");
        let writer = Writer::new(store);
        let readers = Readers::new(&config.store.path);
        // The writer is busy with a long job (a big poll's commit, a retention batch) until
        // the test lets it go.
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(move |_| {
                        started_tx.send(()).unwrap();
                        released.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        started.recv().unwrap();
        let n = notifier.clone();
        let plan = tokio::time::timeout(
            Duration::from_secs(5),
            readers.read(move |s| n.plan_batch(s, None, Utc::now())),
        )
        .await
        .expect("the routing read waited for the writer")
        .unwrap()
        .expect("one mention to route");
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let routed = writer.run(move |s| plan.record(s)).await.unwrap();
        assert_eq!(routed.mentions, 1);
        // The next read begins after that write returned, so it finds the mention routed.
        assert_eq!(
            route_next(&notifier, &readers, &writer).await.unwrap(),
            None
        );
    }
}
