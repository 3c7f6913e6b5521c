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
use crate::store::{EscalationMail, OverdueMention, Store, StoreError, Writer};

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
    pub fn escalate_due(&self, store: &mut Store, now: i64) -> Result<usize, StoreError> {
        let mut escalated = 0;
        for t in &self.teams {
            let sla = t.sla.as_secs() as i64;
            let since = now - LOOKBACK.as_secs() as i64 - sla;
            for m in store.overdue_mentions(&t.team, since, now - sla, 200)? {
                let mails = self.render(t, &m, now);
                if store.record_escalation(m.id, &t.team, m.fetched_at + sla, &mails, now)? {
                    tracing::info!(mention = m.id, team = %t.team, "escalated: first-response target missed");
                    escalated += 1;
                }
            }
        }
        Ok(escalated)
    }

    fn render(&self, t: &TeamSla, m: &OverdueMention, now: i64) -> Vec<EscalationMail> {
        let waited =
            humantime::format_duration(Duration::from_secs((now - m.fetched_at).max(0) as u64))
                .to_string();
        let target = humantime::format_duration(t.sla).to_string();
        let snippet: String = m.text.chars().take(300).collect();
        let subject = header_safe(
            &format!(
                "[webcare] SLA missed ({target}): {} on {} waiting {waited}",
                m.label, m.source
            ),
            160,
        );
        let link = self.base_url.as_ref().map(|b| format!("{b}/m/{}", m.id));
        let mut text = format!(
            "A {} for team {} has waited {waited} without an answer; the target is {target}.\n\n",
            m.label, t.team
        );
        if let Some(title) = &m.title {
            text.push_str(&format!("{title}\n"));
        }
        for line in snippet.lines() {
            text.push_str(&format!("> {line}\n"));
        }
        text.push_str(&format!(
            "\nAuthor: {}\nMention #{}\n",
            m.author.as_deref().unwrap_or("unknown"),
            m.id
        ));
        if let Some(l) = &link {
            text.push_str(&format!("Open it in the inbox: {l}\n"));
        }
        let page = EscalationPage {
            subject: &subject,
            label: &m.label,
            team: &t.team,
            waited: &waited,
            target: &target,
            title: m.title.as_deref(),
            snippet: &snippet,
            author: m.author.as_deref().unwrap_or("unknown"),
            id: m.id,
            link: link.as_deref(),
        };
        // Rendering fails only on a formatter error, which String writing never returns.
        let html = page.render().unwrap_or_default();
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

/// The daemon's escalation task: looks for missed targets every little while, queues their
/// mails and wakes the sender.
pub async fn run_escalations(
    job: Arc<SlaJob>,
    writer: Writer,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    let every = job.every();
    loop {
        let j = job.clone();
        match writer
            .run(move |s| j.escalate_due(s, Utc::now().timestamp()))
            .await
        {
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
