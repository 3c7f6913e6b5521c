//! Delivering the outbox. Every pending alert whose time has come goes out: urgent emails
//! alone and at once; other emails for one recipient gathered into one message once the oldest
//! has waited `[mail] batch_window`; webhook posts one by one. A recipient past their hourly cap
//! gets no more alerts that hour: the rest are held (kept in the outbox) and one summary email
//! at the end of the hour says how many. The answer is recorded at once. Transient failures
//! (refused or dropped connection, timeout, 4xx SMTP, 408/429/5xx HTTP) are retried with a
//! doubling delay for `retry_for`; permanent ones (a 5xx for the recipient or the message,
//! other 4xx HTTP) go straight to the dead letters that `webcare outbox` lists, for that
//! recipient only, until `webcare outbox retry` puts them back. Failures on our side (login
//! refused, STARTTLS gone, certificate untrusted, sender refused) hold all mail instead: it stays
//! pending, however long, and sending pauses with the cause in `/healthz`. So do a server that
//! cannot be reached and two timeouts in a row (the circuit breaker), so that a stalled server
//! costs two timeouts, not one per mail.
//!
//! Exactly once, and the one window where it is not: the rows of a batch are fixed in the
//! database before its first attempt, so every retry sends the same message with the same
//! Message-ID, and all its rows are marked sent in one transaction right after the server says
//! 250. If the process dies between that 250 and the database write (a few milliseconds), or
//! the server accepts but its answer never arrives (a timeout), the message is still pending
//! and is sent again on the next attempt, with the same Message-ID, so most mail clients show it
//! once. SMTP offers no way to close this window; the alternative, marking before sending, would
//! lose alerts instead. Webhooks have the same window, and send the same `X-Webcare-Id`.
//!
//! When the server accepted a message but the database refuses the write that marks it sent
//! (full disk, read-only file, a lock held too long), the outcome is kept in memory and nothing
//! more is sent until it is written: the rows still look pending, and sending on would send
//! them again and again. The sender retries that write with a doubling delay (1 s to 30 s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::AsyncTransport;
use tokio::sync::Notify;

use super::mail::{
    Mail, Outgoing, Rendered, SendError, Transport, render_batch, render_cap_summary,
};
use super::route::Team;
use super::smtp::Session;
use super::webhook::{Webhook, WebhookClient};
use crate::shutdown::Shutdown;
use crate::store::{Backend, CapHold, MailHealth, OutboxEntry, StoreError, Writer};
use crate::text::fnv1a;

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Alerts accepted by the server (a batch counts each alert in it).
    pub sent: usize,
    /// Alerts that failed for now; will be tried again.
    pub retrying: usize,
    /// Alerts that failed for good (dead letter).
    pub dead: usize,
    /// Alerts held back by a recipient's hourly cap.
    pub held: usize,
    /// Emails that carried more than one alert.
    pub batches: usize,
    /// Cap summaries sent.
    pub summaries: usize,
    /// Alerts not tried because mail is paused.
    pub waiting: usize,
    /// Alerts dropped unsent because their mention was answered after they were queued.
    pub superseded: usize,
    /// Why mail was paused during this pass (a stalled server, a refused login), if it was.
    pub paused: Option<String>,
}

/// Most alerts in one batched email; more wait for the next one.
const MAX_BATCH: usize = 25;

/// One message the outbox sends (an email, a webhook post or a cap summary) and the rows it
/// carries.
#[derive(Debug, Clone)]
pub enum OutboxMessage {
    /// An email with one alert, or several for one recipient.
    Mail(Vec<OutboxEntry>),
    /// A post to a team's webhook.
    Webhook(OutboxEntry),
    /// The summary of alerts an hourly cap held back.
    CapSummary(OutboxEntry),
}

/// Groups due rows into the messages to send now. Rows already fixed in a batch stay together. Urgent emails go
/// alone, and so does every email when `window` is 0 (batching off). Other emails are grouped per recipient, and only once the oldest has waited
/// `window` seconds (or at once when `flush`, for `webcare once`).
pub fn plan_messages(
    due: Vec<OutboxEntry>,
    now: i64,
    window: i64,
    flush: bool,
) -> Vec<OutboxMessage> {
    let mut out = Vec::new();
    let mut fixed: Vec<(i64, Vec<OutboxEntry>)> = Vec::new();
    let mut open: Vec<(String, Vec<OutboxEntry>)> = Vec::new();
    for e in due {
        if e.channel == "webhook" {
            out.push(OutboxMessage::Webhook(e));
        } else if e.kind == "cap_summary" {
            out.push(OutboxMessage::CapSummary(e));
        } else if e.kind != "alert" {
            // Digests and spike warnings are mails of their own: never batched with alerts.
            out.push(OutboxMessage::Mail(vec![e]));
        } else if let Some(b) = e.batch_id {
            match fixed.iter_mut().find(|(id, _)| *id == b) {
                Some((_, rows)) => rows.push(e),
                None => fixed.push((b, vec![e])),
            }
        } else if e.urgent || window == 0 || e.attempts > 0 {
            // Urgent alerts, and every alert when batching is off, go alone. So does one that
            // was tried alone before: the server may have it, and a repeat must carry the same
            // Message-ID.
            out.push(OutboxMessage::Mail(vec![e]));
        } else {
            let to = e.recipient.to_lowercase();
            match open.iter_mut().find(|(r, _)| *r == to) {
                Some((_, rows)) => rows.push(e),
                None => open.push((to, vec![e])),
            }
        }
    }
    out.extend(fixed.into_iter().map(|(_, rows)| OutboxMessage::Mail(rows)));
    for (_, rows) in open {
        let oldest = rows.iter().map(|r| r.created_at).min().unwrap_or(now);
        if !flush && oldest + window > now {
            continue;
        }
        let mut rows = rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(MAX_BATCH));
            out.push(OutboxMessage::Mail(rows));
            rows = rest;
        }
    }
    out
}

/// Delivers the outbox through one mail transport and the teams' webhooks.
pub struct Sender {
    writer: Writer,
    transport: Transport,
    mail: Mail,
    /// Hourly cap per recipient (the smallest of the teams they are in).
    caps: HashMap<String, u32>,
    /// Webhook per team name.
    webhooks: HashMap<String, Webhook>,
    http: Option<WebhookClient>,
    domain: String,
    /// Outcomes of messages already sent (or tried) whose database write failed. Until they
    /// are written, nothing else is sent: the rows still look pending, and sending them again
    /// is exactly the loop this prevents.
    unrecorded: std::sync::Mutex<Vec<Outcome>>,
    /// The circuit breaker.
    state: Mutex<SenderState>,
}

/// The outcome of one message, for all the rows it carried.
#[derive(Debug, Clone)]
enum Outcome {
    /// The server accepted it with this reply.
    Sent {
        ids: Vec<i64>,
        reply: String,
        at: i64,
    },
    /// It failed: retry at this time, or never.
    Failed {
        ids: Vec<i64>,
        message: String,
        retry_at: Option<i64>,
    },
}

impl Outcome {
    /// Writes this outcome to the store.
    fn record(self, s: &mut dyn Backend) -> Result<(), StoreError> {
        match self {
            Outcome::Sent { ids, reply, at } => s.record_sent(&ids, &reply, at),
            Outcome::Failed {
                ids,
                message,
                retry_at,
            } => s.record_send_failure(&ids, &message, retry_at),
        }
    }
}

/// First wait after the database refused to record an outcome; doubles up to [`HOLD_MAX`].
const HOLD_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between tries to record a held outcome.
const HOLD_MAX: Duration = Duration::from_secs(30);

/// What the sender remembers between messages and passes.
#[derive(Debug, Default)]
struct SenderState {
    /// Timeouts in a row; two open the circuit breaker.
    timeouts: u32,
    /// Pauses in a row (breaker, held, cannot connect); the next pause doubles.
    pauses: u32,
    /// No mail is tried before this (unix seconds).
    paused_until: i64,
    /// Why, for `/healthz` and `once`; cleared by the next accepted message.
    cause: Option<String>,
    /// When the current trouble began.
    since: i64,
    /// Whether `/healthz`'s record was cleared since this process started.
    cleared: bool,
}

/// Timeouts in a row that open the circuit breaker.
const BREAKER_TIMEOUTS: u32 = 2;

/// Delay before attempt `attempts + 1`: 30 s, doubling, at most 30 minutes.
pub fn retry_delay(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 6) as u32;
    Duration::from_secs(30 * (1u64 << exp)).min(Duration::from_secs(1800))
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

/// The SMTP session of one pass over the outbox: opened on the first message, reused for the
/// next, dropped after any failure.
type Link = Option<Session>;

impl Sender {
    /// A sender for `mail`, with the hourly caps and webhooks of `teams`.
    pub fn new(writer: Writer, mail: Mail, teams: &[Team]) -> Result<Sender, SendError> {
        let transport = Transport::build(&mail)?;
        let mut caps: HashMap<String, u32> = HashMap::new();
        let mut webhooks = HashMap::new();
        for t in teams {
            if let Some(cap) = t.max_alerts_per_hour {
                for e in &t.emails {
                    let c = caps.entry(e.to_lowercase()).or_insert(cap);
                    *c = (*c).min(cap);
                }
            }
            if let Some(h) = &t.webhook {
                webhooks.insert(t.name.clone(), h.clone());
            }
        }
        let http = if webhooks.is_empty() {
            None
        } else {
            Some(WebhookClient::new(&format!(
                "webcare/{}",
                env!("CARGO_PKG_VERSION")
            ))?)
        };
        let domain = mail.from.email.domain().to_string();
        Ok(Sender {
            writer,
            transport,
            mail,
            caps,
            webhooks,
            http,
            domain,
            unrecorded: std::sync::Mutex::default(),
            state: Mutex::new(SenderState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SenderState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends every alert that is due. `flush` also tries alerts waiting for a retry and sends
    /// batches without waiting for the batch window (used by `webcare once`, which is itself
    /// the retry and cannot wait). Stops early on shutdown, between messages. Mail waits while
    /// sending is paused (a stalled server, a refused login); webhooks go on.
    pub async fn deliver_due(
        &self,
        flush: bool,
        shutdown: &Shutdown,
    ) -> Result<DeliveryReport, StoreError> {
        self.record_held().await?;
        let mut report = DeliveryReport {
            superseded: self.writer.run(|s| s.supersede_answered()).await?,
            ..DeliveryReport::default()
        };
        if report.superseded > 0 {
            tracing::info!(
                alerts = report.superseded,
                "alerts not sent: their mentions were answered meanwhile"
            );
        }
        let now = now_s();
        let due = self
            .writer
            .run(move |s| s.due_alerts(now, flush, 500))
            .await?;
        let window = self.mail.batch_window.as_secs() as i64;
        let mut link: Link = None;
        for d in plan_messages(due, now, window, flush) {
            if shutdown.is_stopping() {
                break;
            }
            let paused = (!flush && self.state().paused_until > now_s()) || report.paused.is_some();
            match d {
                OutboxMessage::Webhook(e) => self.post(&e, &mut report).await?,
                OutboxMessage::CapSummary(_) if paused => report.waiting += 1,
                OutboxMessage::Mail(rows) if paused => report.waiting += rows.len(),
                OutboxMessage::CapSummary(e) => {
                    self.send_summary(&mut link, &e, &mut report).await?
                }
                OutboxMessage::Mail(rows) => {
                    // Only alerts count against the hourly cap; a digest always goes out.
                    let fresh =
                        rows[0].batch_id.is_none() && !rows[0].urgent && rows[0].kind == "alert";
                    let rows = if fresh {
                        self.apply_cap(rows, &mut report).await?
                    } else {
                        rows
                    };
                    if !rows.is_empty() {
                        self.send_mail(&mut link, rows, &mut report).await?;
                    }
                }
            }
        }
        if let Some(session) = link {
            session.quit().await;
        }
        Ok(report)
    }

    /// Holds back what the recipient's hourly cap does not allow, and returns the rest.
    async fn apply_cap(
        &self,
        mut rows: Vec<OutboxEntry>,
        report: &mut DeliveryReport,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let to = rows[0].recipient.clone();
        let Some(&cap) = self.caps.get(&to.to_lowercase()) else {
            return Ok(rows);
        };
        let now = now_s();
        let since = now - 3600;
        let who = to.clone();
        let (count, first) = self
            .writer
            .run(move |s| s.alerts_sent_since(&who, since))
            .await?;
        let allowance = (i64::from(cap) - count).max(0) as usize;
        if rows.len() <= allowance {
            return Ok(rows);
        }
        let held = rows.split_off(allowance);
        let until = first.unwrap_or(now) + 3600;
        let message_id = format!(
            "<webcare.cap.{until}.{:016x}@{}>",
            fnv1a(to.to_lowercase()),
            self.domain
        );
        let hold = CapHold {
            ids: held.iter().map(|r| r.id).collect(),
            team: held[0].team.clone(),
            recipient: to,
            until,
            message_id,
        };
        report.held += hold.ids.len();
        tracing::warn!(to = %hold.recipient, held = hold.ids.len(), cap, "hourly cap reached; alerts held back, a summary follows when the hour is over");
        self.writer.run(move |s| s.hold_for_cap(&hold, now)).await?;
        Ok(rows)
    }

    /// Sends one email carrying `rows`: the alert itself, or a batch fixed in the database
    /// before the first attempt.
    async fn send_mail(
        &self,
        link: &mut Link,
        mut rows: Vec<OutboxEntry>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        rows.sort_by_key(|r| r.id);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let (message_id, rendered) = if rows.len() == 1 {
            let r = &rows[0];
            (
                r.message_id.clone(),
                Rendered {
                    subject: r.subject.clone(),
                    text: r.text.clone(),
                    html: r.html.clone(),
                },
            )
        } else {
            let batch = match rows[0].batch_id {
                Some(b) => b,
                None => {
                    let fix = ids.clone();
                    self.writer.run(move |s| s.assign_batch(&fix)).await?
                }
            };
            let key: Vec<String> = ids.iter().map(i64::to_string).collect();
            // Urgent alerts lead the mail; within each group, the order they were queued in.
            let mut order: Vec<&OutboxEntry> = rows.iter().collect();
            order.sort_by_key(|r| (!r.urgent, r.mention_id.unwrap_or(i64::MAX), r.id));
            let items: Vec<Rendered> = order
                .into_iter()
                .map(|r| Rendered {
                    subject: r.subject.clone(),
                    text: r.text.clone(),
                    html: r.html.clone(),
                })
                .collect();
            (
                format!(
                    "<webcare.batch.{batch}.{:016x}@{}>",
                    fnv1a(key.join(",")),
                    self.domain
                ),
                render_batch(&items),
            )
        };
        let created = rows.iter().map(|r| r.created_at).min().unwrap_or_default();
        let out = Outgoing {
            to: rows[0].recipient.clone(),
            message_id,
            date: UNIX_EPOCH + Duration::from_secs(created.max(0) as u64),
            rendered,
        };
        let result = self.transmit(link, &out).await;
        if result.is_ok() && rows.len() > 1 {
            report.batches += 1;
        }
        self.record(&rows, result, report).await
    }

    /// Sends `out` over the pass's session, opening one when there is none. Any failure drops
    /// the session, so no later message can read this one's late answers.
    async fn transmit(&self, link: &mut Link, out: &Outgoing) -> Result<String, (SendError, bool)> {
        let msg = out.message(&self.mail.from).map_err(|e| (e, false))?;
        match &self.transport {
            Transport::File(t) => t
                .send(msg)
                .await
                .map(|id| format!("written as {id}.eml"))
                .map_err(|e| (SendError::Transient(e.to_string()), false)),
            Transport::Smtp(client) => {
                let session = match link {
                    Some(s) => s,
                    None => link.insert(client.connect().await.map_err(|e| (e, true))?),
                };
                let sent = client.send(session, msg.envelope(), &msg.formatted()).await;
                if sent.is_err() {
                    *link = None;
                }
                sent.map_err(|e| (e, false))
            }
        }
    }

    /// Sends a cap summary, counting the alerts held under it.
    async fn send_summary(
        &self,
        link: &mut Link,
        e: &OutboxEntry,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let id = e.id;
        let held = self.writer.run(move |s| s.held_by(id)).await?;
        let subjects: Vec<String> = held.iter().map(|h| h.subject.clone()).collect();
        let cap = self.caps.get(&e.recipient.to_lowercase()).copied();
        let out = Outgoing {
            to: e.recipient.clone(),
            message_id: e.message_id.clone(),
            date: UNIX_EPOCH + Duration::from_secs(e.not_before.max(0) as u64),
            rendered: render_cap_summary(cap, &subjects),
        };
        let result = self.transmit(link, &out).await;
        let ok = result.is_ok();
        self.record(std::slice::from_ref(e), result, report).await?;
        if ok {
            // A summary is not an alert.
            report.summaries += 1;
            report.sent -= 1;
        }
        Ok(())
    }

    /// Posts one webhook alert.
    async fn post(&self, e: &OutboxEntry, report: &mut DeliveryReport) -> Result<(), StoreError> {
        let result = match (self.webhooks.get(&e.team), &self.http, e.payload.as_deref()) {
            (Some(hook), Some(http), Some(body)) => http.post(hook, body, &e.message_id).await,
            _ => Err(SendError::Permanent(format!(
                "team {} has no webhook configured any more",
                e.team
            ))),
        };
        self.record(
            std::slice::from_ref(e),
            result.map_err(|e| (e, false)),
            report,
        )
        .await
    }

    /// Sending works again: forget the trouble and clear `/healthz`.
    async fn recovered(&self) -> Result<(), StoreError> {
        let was = {
            let mut st = self.state();
            st.timeouts = 0;
            st.pauses = 0;
            st.paused_until = 0;
            // The first success of a process also clears what an earlier process recorded.
            let first = !std::mem::replace(&mut st.cleared, true);
            (st.cause.take().is_some(), first)
        };
        if was.0 {
            tracing::info!("mail flows again");
        }
        if was.0 || was.1 {
            self.writer.run(|s| s.set_mail_health(None)).await?;
        }
        Ok(())
    }

    /// Pauses all mail: nothing is tried before the pause is over, and `/healthz` says why.
    async fn pause(&self, cause: String, report: &mut DeliveryReport) -> Result<(), StoreError> {
        let now = now_s();
        let health = {
            let mut st = self.state();
            let wait = retry_delay(i64::from(st.pauses));
            st.pauses += 1;
            st.paused_until = now + wait.as_secs() as i64;
            if st.cause.is_none() {
                st.since = now;
            }
            st.cause = Some(cause.clone());
            MailHealth {
                cause: cause.clone(),
                since: st.since,
                paused_until: st.paused_until,
            }
        };
        tracing::error!(cause = %cause, retry_in_s = health.paused_until - now, "mail paused; alerts wait in the outbox");
        report.paused = Some(cause);
        self.writer
            .run(move |s| s.set_mail_health(Some(&health)))
            .await
    }

    /// Records the outcome of one message for all the rows it carried, at once: the rows of an
    /// accepted message are marked sent in one transaction right after the 250. (Committing
    /// several messages' marks together was measured: no faster over one reused connection,
    /// and a kill -9 mid-burst then repeated 13 mails on average instead of at most one.)
    async fn record(
        &self,
        rows: &[OutboxEntry],
        result: Result<String, (SendError, bool)>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let now = now_s();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let first = &rows[0];
        let is_mail = first.channel != "webhook";
        let (e, session_failed) = match result {
            Ok(reply) => {
                tracing::info!(alerts = ?ids, channel = %first.channel, to = %first.recipient, %reply, "alert sent");
                report.sent += ids.len();
                self.write_outcome(Outcome::Sent {
                    ids,
                    reply,
                    at: now,
                })
                .await?;
                if is_mail {
                    self.recovered().await?;
                }
                return Ok(());
            }
            Err(failed) => failed,
        };
        let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0);
        let created = rows
            .iter()
            .map(|r| r.retried_at.unwrap_or(r.created_at).max(r.created_at))
            .min()
            .unwrap_or(now);
        let delay = retry_delay(attempts);
        let give_up_at = created + self.mail.retry_for.as_secs() as i64;
        let retry_at = match &e {
            // Our side is wrong (login, TLS, sender): keep the mail however long it takes.
            SendError::Held(_) => Some(now + delay.as_secs() as i64),
            SendError::Transient(_) | SendError::Timeout(_)
                if now + delay.as_secs() as i64 <= give_up_at =>
            {
                Some(now + delay.as_secs() as i64)
            }
            _ => None,
        };
        let message = match (&e, retry_at) {
            (SendError::Transient(m) | SendError::Timeout(m), None) => format!(
                "{m} (gave up after {} of retrying)",
                humantime::format_duration(self.mail.retry_for)
            ),
            (SendError::Timeout(m), Some(_)) => {
                format!("{m} (the server may or may not have accepted it)")
            }
            (e, _) => e.to_string(),
        };
        match retry_at {
            Some(_) => {
                report.retrying += ids.len();
                tracing::warn!(alerts = ?ids, channel = %first.channel, to = %first.recipient, error = %message, retry_in_s = delay.as_secs(), "alert not sent; will retry");
            }
            None => {
                report.dead += ids.len();
                tracing::error!(alerts = ?ids, channel = %first.channel, to = %first.recipient, error = %message, "alert not sent; moved to the dead letters (`webcare outbox --state dead`)");
            }
        }
        self.write_outcome(Outcome::Failed {
            ids,
            message: message.clone(),
            retry_at,
        })
        .await?;
        if !is_mail {
            return Ok(());
        }
        // What the failure says about the server, for the messages behind this one.
        let timeouts = {
            let mut st = self.state();
            if matches!(e, SendError::Timeout(_)) {
                st.timeouts += 1;
            } else {
                st.timeouts = 0;
            }
            st.timeouts
        };
        if let SendError::Held(m) = &e {
            self.pause(format!("mail held: {m}"), report).await?;
        } else if timeouts >= BREAKER_TIMEOUTS {
            self.pause(
                format!("circuit breaker open after {timeouts} timeouts in a row: {message}"),
                report,
            )
            .await?;
        } else if session_failed {
            self.pause(format!("mail server unreachable: {message}"), report)
                .await?;
        }
        Ok(())
    }

    /// Writes one outcome; when the database refuses, keeps it to write later, and stops
    /// this pass (the error) so nothing more is sent meanwhile.
    async fn write_outcome(&self, outcome: Outcome) -> Result<(), StoreError> {
        let kept = outcome.clone();
        let written = self.writer.run(move |s| outcome.record(s)).await;
        if let Err(e) = &written {
            tracing::error!(error = %e, outcome = ?kept, "cannot record what happened to an alert; sending nothing more until the database takes the record");
            self.held().push(kept);
        }
        written
    }

    /// Messages sent (or tried) whose outcome the database has not taken yet.
    pub fn unrecorded(&self) -> usize {
        self.held().len()
    }

    /// Tries to write the held outcomes until it works or `limit` has passed (for `webcare
    /// once`, which cannot keep them past its exit).
    pub async fn record_held_within(&self, limit: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut wait = HOLD_FIRST;
        loop {
            match self.record_held().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() + wait > deadline => return Err(e),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(HOLD_MAX);
                }
            }
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Outcome>> {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the outcomes the database refused before, oldest first; fails (and sends
    /// nothing) while it still refuses.
    async fn record_held(&self) -> Result<(), StoreError> {
        loop {
            let Some(next) = self.held().first().cloned() else {
                return Ok(());
            };
            self.writer.run(move |s| next.record(s)).await?;
            let mut held = self.held();
            held.remove(0);
            if held.is_empty() {
                tracing::info!(
                    "recorded the alert outcomes the database refused before; sending again"
                );
            }
        }
    }

    /// The daemon's sender task: delivers what is due, then sleeps until the next alert is due
    /// (or the pause is over) or the router queues new ones, until shutdown.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut shutdown: Shutdown) {
        let window = self.mail.batch_window.as_secs() as i64;
        let mut hold: Option<Duration> = None;
        loop {
            match self.deliver_due(false, &shutdown).await {
                Ok(_) => hold = None,
                Err(e) => {
                    // Back off while the database fails: no new message goes out before the
                    // outcomes of the last ones are written.
                    let wait = hold.map_or(HOLD_FIRST, |d| (d * 2).min(HOLD_MAX));
                    hold = Some(wait);
                    tracing::error!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot work through the outbox; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait() => break,
                    }
                    continue;
                }
            }
            if shutdown.is_stopping() {
                break;
            }
            let next = self
                .writer
                .run(move |s| s.next_alert_due(window))
                .await
                .ok()
                .flatten();
            let paused_until = self.state().paused_until;
            let wait = match next {
                Some(t) => Duration::from_secs((t.max(paused_until) - now_s()).clamp(0, 60) as u64),
                None => Duration::from_secs(60),
            }
            .max(Duration::from_millis(200));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
                _ = shutdown.wait() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_to_half_an_hour() {
        assert_eq!(retry_delay(0), Duration::from_secs(30));
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(3), Duration::from_secs(240));
        assert_eq!(retry_delay(40), Duration::from_secs(1800));
    }

    fn row(id: i64, to: &str, created_at: i64, urgent: bool) -> OutboxEntry {
        OutboxEntry {
            id,
            mention_id: Some(id),
            team: "webcare".into(),
            rule: "default".into(),
            recipient: to.into(),
            message_id: format!("<{id}@x>"),
            subject: format!("s{id}"),
            text: String::new(),
            html: String::new(),
            urgent,
            state: "pending".into(),
            created_at,
            not_before: created_at,
            next_attempt_at: created_at,
            attempts: 0,
            last_error: None,
            sent_at: None,
            reply: None,
            channel: "email".into(),
            kind: "alert".into(),
            payload: None,
            batch_id: None,
            summary_id: None,
            retried_at: None,
        }
    }

    fn ids(d: &OutboxMessage) -> Vec<i64> {
        match d {
            OutboxMessage::Mail(rows) => rows.iter().map(|r| r.id).collect(),
            OutboxMessage::Webhook(e) | OutboxMessage::CapSummary(e) => vec![e.id],
        }
    }

    #[test]
    fn alerts_for_one_recipient_wait_for_the_window_then_go_together() {
        let due = vec![
            row(1, "a@x", 100, false),
            row(2, "b@x", 130, false),
            row(3, "A@x", 140, false),
        ];
        // At 150 nobody's oldest alert has waited 60 s.
        assert!(plan_messages(due.clone(), 150, 60, false).is_empty());
        // At 165 a@x's has; b@x must still wait.
        let plan = plan_messages(due.clone(), 165, 60, false);
        assert_eq!(plan.iter().map(ids).collect::<Vec<_>>(), [vec![1, 3]]);
        // `once` flushes everything.
        assert_eq!(plan_messages(due, 150, 60, true).len(), 2);
    }

    #[test]
    fn an_urgent_alert_goes_alone_and_at_once() {
        let due = vec![row(9, "a@x", 100, true), row(1, "a@x", 100, false)];
        let plan = plan_messages(due, 101, 60, false);
        assert_eq!(plan.iter().map(ids).collect::<Vec<_>>(), [vec![9]]);
    }

    #[test]
    fn a_fixed_batch_is_retried_whole_whatever_arrived_since() {
        let mut a = row(1, "a@x", 100, false);
        let mut b = row(2, "a@x", 100, false);
        a.batch_id = Some(1);
        b.batch_id = Some(1);
        let c = row(3, "a@x", 500, false);
        let plan = plan_messages(vec![a, b, c], 510, 60, false);
        assert_eq!(plan.iter().map(ids).collect::<Vec<_>>(), [vec![1, 2]]);
        // An alert tried alone is retried alone, not folded into a newer batch.
        let mut tried = row(4, "a@x", 100, false);
        tried.attempts = 1;
        let plan = plan_messages(vec![tried, row(5, "a@x", 100, false)], 500, 60, false);
        assert_eq!(plan.iter().map(ids).collect::<Vec<_>>(), [vec![4], vec![5]]);
    }
}
