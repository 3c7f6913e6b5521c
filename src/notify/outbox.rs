//! Delivering the outbox: every pending alert whose time has come is sent, one email per
//! recipient, and the server's answer is recorded at once. Transient failures (refused or
//! dropped connection, timeout, 4xx) are retried with a doubling delay for `retry_for`;
//! permanent ones (5xx, bad configuration) go straight to the dead letters that `webcare outbox`
//! lists.
//!
//! Exactly once, and the one window where it is not: an alert is marked sent right after the
//! server says 250. If the process dies between that 250 and the database write (a few
//! milliseconds), or the server accepts but its answer never arrives (a timeout), the alert is
//! still pending and is sent again on the next attempt. Its Message-ID is the same both times,
//! so most mail clients show it once. SMTP offers no way to close this window; the
//! alternative, marking before sending, would lose alerts instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use tokio::sync::Notify;

use super::mail::{Mail, Outgoing, Rendered, SendError, Transport};
use super::route::Team;
use crate::shutdown::Shutdown;
use crate::store::{OutboxEntry, StoreError, Writer};

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Accepted by the server.
    pub sent: usize,
    /// Failed for now; will be tried again.
    pub retrying: usize,
    /// Failed for good (dead letter).
    pub dead: usize,
    /// Held back by a recipient's hourly cap.
    pub held: usize,
}

/// Delivers the outbox through one transport.
pub struct Sender {
    writer: Writer,
    transport: Transport,
    mail: Mail,
    /// Hourly cap per recipient (the smallest of the teams they are in).
    caps: HashMap<String, u32>,
}

/// Delay before attempt `attempts + 1`: 30 s, doubling, at most 30 minutes.
pub fn retry_delay(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 6) as u32;
    Duration::from_secs(30 * (1u64 << exp)).min(Duration::from_secs(1800))
}

impl Sender {
    /// A sender for `mail`, with the hourly caps of `teams`.
    pub fn new(writer: Writer, mail: Mail, teams: &[Team]) -> Result<Sender, SendError> {
        let transport = Transport::build(&mail)?;
        let mut caps: HashMap<String, u32> = HashMap::new();
        for t in teams {
            if let Some(cap) = t.max_alerts_per_hour {
                for e in &t.emails {
                    let c = caps.entry(e.to_lowercase()).or_insert(cap);
                    *c = (*c).min(cap);
                }
            }
        }
        Ok(Sender {
            writer,
            transport,
            mail,
            caps,
        })
    }

    /// Sends every alert that is due. `ignore_backoff` also tries alerts waiting for a retry
    /// (used by `webcare once`, which is itself the retry). Stops early on shutdown, between
    /// alerts.
    pub async fn deliver_due(
        &self,
        ignore_backoff: bool,
        shutdown: &Shutdown,
    ) -> Result<DeliveryReport, StoreError> {
        let now = Utc::now().timestamp();
        let due = self
            .writer
            .run(move |s| s.due_alerts(now, ignore_backoff, 500))
            .await?;
        let mut report = DeliveryReport::default();
        for entry in due {
            if shutdown.is_stopping() {
                break;
            }
            if !entry.urgent
                && let Some(until) = self.over_cap(&entry).await?
            {
                let (id, to) = (entry.id, entry.recipient.clone());
                self.writer
                    .run(move |s| {
                        s.hold_alert(
                            id,
                            until,
                            &format!("hourly cap for {to} reached; held until the hour is over"),
                        )
                    })
                    .await?;
                report.held += 1;
                continue;
            }
            self.deliver(&entry, &mut report).await?;
        }
        Ok(report)
    }

    /// When `entry` may go out if its recipient reached the hourly cap.
    async fn over_cap(&self, entry: &OutboxEntry) -> Result<Option<i64>, StoreError> {
        let Some(&cap) = self.caps.get(&entry.recipient.to_lowercase()) else {
            return Ok(None);
        };
        let to = entry.recipient.clone();
        let since = Utc::now().timestamp() - 3600;
        let (count, first) = self
            .writer
            .run(move |s| s.alerts_sent_since(&to, since))
            .await?;
        Ok((count >= i64::from(cap)).then(|| first.unwrap_or(since) + 3600))
    }

    async fn deliver(
        &self,
        entry: &OutboxEntry,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let out = Outgoing {
            to: entry.recipient.clone(),
            message_id: entry.message_id.clone(),
            date: UNIX_EPOCH + Duration::from_secs(entry.created_at.max(0) as u64),
            rendered: Rendered {
                subject: entry.subject.clone(),
                text: entry.text.clone(),
                html: entry.html.clone(),
            },
        };
        let result = self
            .transport
            .send(&self.mail.from, &out, self.mail.timeout)
            .await;
        let now = Utc::now().timestamp();
        let id = entry.id;
        match result {
            Ok(reply) => {
                tracing::info!(alert = id, mention = ?entry.mention_id, to = %entry.recipient, %reply, "alert sent");
                report.sent += 1;
                self.writer
                    .run(move |s| s.record_sent(id, &reply, now))
                    .await
            }
            Err(e) => {
                let delay = retry_delay(entry.attempts);
                let give_up_at = entry.created_at + self.mail.retry_for.as_secs() as i64;
                let retry_at = match &e {
                    SendError::Transient(_) if now + delay.as_secs() as i64 <= give_up_at => {
                        Some(now + delay.as_secs() as i64)
                    }
                    _ => None,
                };
                let message = match (&e, retry_at) {
                    (SendError::Transient(m), None) => format!(
                        "{m} (gave up after {} of retrying)",
                        humantime::format_duration(self.mail.retry_for)
                    ),
                    (e, _) => e.to_string(),
                };
                match retry_at {
                    Some(_) => {
                        report.retrying += 1;
                        tracing::warn!(alert = id, to = %entry.recipient, error = %message, retry_in_s = delay.as_secs(), "alert not sent; will retry");
                    }
                    None => {
                        report.dead += 1;
                        tracing::error!(alert = id, to = %entry.recipient, error = %message, "alert not sent; moved to the dead letters (`webcare outbox --state dead`)");
                    }
                }
                self.writer
                    .run(move |s| s.record_send_failure(id, &message, retry_at))
                    .await
            }
        }
    }

    /// The daemon's sender task: delivers what is due, then sleeps until the next alert is due
    /// or the router queues new ones, until shutdown.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: Shutdown) {
        loop {
            if let Err(e) = self.deliver_due(false, &shutdown).await {
                tracing::error!(error = %e, "cannot read the outbox; will retry");
            }
            if shutdown.is_stopping() {
                break;
            }
            let next = self.writer.run(|s| s.next_alert_due()).await.ok().flatten();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64;
            let wait = match next {
                Some(t) => Duration::from_secs((t - now).clamp(0, 60) as u64),
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
}
