//! First-response targets per team (`[[teams]] sla = "1h"`, `escalate_to`): the clock starts
//! when webcare finds a complaint or question routed to the team and stops when someone marks
//! it answered. A mention past its target is escalated once, by a mail through the outbox to
//! `escalate_to` (the team's own addresses when empty); the `escalations` table, written with
//! the mails in one transaction, makes it once across restarts.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use chrono::Utc;
use tokio::sync::Notify;

use super::mail::header_safe;
use crate::config::load::Config;
use crate::shutdown::Shutdown;
use crate::store::{
    Backend, EscalationMail, MentionOrder, MentionQuery, Readers, StoreError, StoredMention, Writer,
};

/// Mentions found longer ago than this are never escalated: turning an SLA on must not mail
/// about the whole history.
pub const LOOKBACK: Duration = Duration::from_secs(7 * 86_400);

/// One team's target and who hears when it is missed.
#[derive(Debug, Clone)]
pub struct TeamSla {
    /// Team name.
    pub team: String,
    /// First-response target.
    pub sla: Duration,
    /// Recipients of the escalation.
    pub escalate_to: Vec<String>,
}

/// Every team's target, for the escalation task and the inbox.
pub fn team_slas(config: &Config) -> Vec<TeamSla> {
    config
        .notify
        .teams
        .iter()
        .filter_map(|t| {
            Some(TeamSla {
                team: t.name.clone(),
                sla: t.sla?.0,
                escalate_to: if t.escalate_to.is_empty() {
                    t.emails.clone()
                } else {
                    t.escalate_to.clone()
                },
            })
        })
        .collect()
}

/// What the escalation task needs.
#[derive(Debug, Clone)]
pub struct SlaJob {
    teams: Vec<TeamSla>,
    base_url: Option<String>,
    domain: String,
}

impl SlaJob {
    /// The job for `config`, or `None` when no team has a target or mail is not configured.
    pub fn from_config(config: &Config) -> Option<SlaJob> {
        let teams = team_slas(config);
        let mail = config.notify.mail.as_ref()?;
        (!teams.is_empty()).then(|| SlaJob {
            teams,
            base_url: config.web.as_ref().map(|w| w.base_url.clone()),
            domain: mail.from.email.domain().to_string(),
        })
    }

    /// How often to look: often enough that a short target is escalated soon after it passes.
    fn every(&self) -> Duration {
        let shortest = self.teams.iter().map(|t| t.sla).min().unwrap_or_default();
        (shortest / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Queues the escalations due at `now`; returns how many mentions were escalated.
    pub fn escalate_due(&self, store: &mut dyn Backend, now: i64) -> Result<usize, StoreError> {
        let due = self.plan_escalations(store, now)?;
        record_escalations(store, &due, now)
    }

    /// The reading half of [`SlaJob::escalate_due`]: every mention past its team's target as
    /// of `now`, with its mails rendered, without writing anything (the daemon runs it on a
    /// reader connection).
    pub fn plan_escalations(
        &self,
        store: &dyn Backend,
        now: i64,
    ) -> Result<Vec<Escalation>, StoreError> {
        let mut out = Vec::new();
        for t in &self.teams {
            let sla = t.sla.as_secs() as i64;
            let since = now - LOOKBACK.as_secs() as i64 - sla;
            // Open complaints and questions routed to the team, found before the target
            // would have been met and not escalated yet; the longest waiting first.
            let overdue = MentionQuery::new()
                .team(&t.team)
                .stored(since, now - sla)
                .open()
                .not_escalated_to(&t.team)
                .order(MentionOrder::Stored)
                .limit(200);
            for m in store.mentions(&overdue)? {
                out.push(Escalation {
                    mails: self.render(t, &m, now),
                    mention: m.id,
                    team: t.team.clone(),
                    due_at: m.fetched_at + sla,
                });
            }
        }
        Ok(out)
    }

    fn render(&self, t: &TeamSla, m: &StoredMention, now: i64) -> Vec<EscalationMail> {
        let waited =
            humantime::format_duration(Duration::from_secs((now - m.fetched_at).max(0) as u64))
                .to_string();
        let target = humantime::format_duration(t.sla).to_string();
        let snippet: String = m.mention.text.chars().take(300).collect();
        let label = m.verdict.label_word();
        let author = m
            .mention
            .author_handle
            .as_ref()
            .or(m.mention.author_name.as_ref());
        let subject = header_safe(
            &format!(
                "[webcare] SLA missed ({target}): {label} on {} waiting {waited}",
                m.source
            ),
            160,
        );
        let link = self.base_url.as_ref().map(|b| format!("{b}/m/{}", m.id));
        let page = EscalationPage {
            subject: &subject,
            label,
            team: &t.team,
            waited: &waited,
            target: &target,
            title: m.mention.title.as_deref(),
            snippet: &snippet,
            author: author.map_or("unknown", String::as_str),
            id: m.id,
            link: link.as_deref(),
        };
        // Rendering fails only on a formatter error, which String writing never returns.
        let html = page.render().unwrap_or_default();
        let text = EscalationText { page: &page }.render().unwrap_or_default();
        t.escalate_to
            .iter()
            .map(|to| EscalationMail {
                recipient: to.clone(),
                message_id: format!(
                    "<webcare.escalation.{}.{:016x}@{}>",
                    m.id,
                    crate::text::fnv1a(format!("{}\n{}", t.team, to.to_lowercase())),
                    self.domain
                ),
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
            })
            .collect()
    }
}

/// One missed target, ready to be recorded: the mention, its team, when its answer was due and
/// the mails that say so.
#[derive(Debug)]
pub struct Escalation {
    mention: i64,
    team: String,
    due_at: i64,
    mails: Vec<EscalationMail>,
}

/// The writing half of [`SlaJob::escalate_due`]: records each escalation with its mails in one
/// transaction, skipping a mention escalated meanwhile. Returns how many were new.
pub fn record_escalations(
    store: &mut dyn Backend,
    due: &[Escalation],
    now: i64,
) -> Result<usize, StoreError> {
    let mut escalated = 0;
    for e in due {
        if store.record_escalation(e.mention, &e.team, e.due_at, &e.mails, now)? {
            tracing::info!(mention = e.mention, team = %e.team, "escalated: first-response target missed");
            escalated += 1;
        }
    }
    Ok(escalated)
}

/// [`SlaJob::escalate_due`] with its reads on a reader connection: the writer is held only
/// when a target was missed.
async fn escalate_apart(
    job: &Arc<SlaJob>,
    readers: &Readers,
    writer: &Writer,
) -> Result<usize, StoreError> {
    let (j, now) = (job.clone(), Utc::now().timestamp());
    let due = readers.read(move |s| j.plan_escalations(s, now)).await?;
    if due.is_empty() {
        return Ok(0);
    }
    writer.run(move |s| record_escalations(s, &due, now)).await
}

/// The daemon's escalation task: looks for missed targets every little while, queues their
/// mails and wakes the sender.
pub async fn run_escalations(
    job: Arc<SlaJob>,
    readers: Readers,
    writer: Writer,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    let every = job.every();
    loop {
        match escalate_apart(&job, &readers, &writer).await {
            Ok(0) => {}
            Ok(_) => wake.notify_one(),
            Err(e) => {
                tracing::error!(error = %e, "cannot check first-response targets; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => break,
        }
    }
}

/// The escalation mail's HTML part; askama escapes every field.
#[derive(askama::Template)]
#[template(path = "mail/escalation.html")]
struct EscalationPage<'a> {
    subject: &'a str,
    label: &'a str,
    team: &'a str,
    waited: &'a str,
    target: &'a str,
    title: Option<&'a str>,
    snippet: &'a str,
    author: &'a str,
    id: i64,
    link: Option<&'a str>,
}

text_part!(EscalationText over EscalationPage<'a>, "mail/escalation.txt");
