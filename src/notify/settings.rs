//! The notifier's sections of the config: `[mail]`, `[[teams]]`, `[[routes]]`, `[topics]`,
//! `[digest]` and `[spikes]`, read and checked together since they refer to each other. Apart
//! from the notifier, which takes the whole config, so that reading the config does not depend
//! on it; this file and the parts it reads import only config building blocks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::digest::schedule::{DigestConfig, DigestSettings};
use super::mail::{Mail, MailConfig};
use super::route::{RouteConfig, Router, TeamConfig};
use super::spike_settings::SpikeConfig;
use crate::config::{ConfigErrors, parse_at, parse_list};

/// The notifier's part of the config: `[mail]`, `[[teams]]`, `[[routes]]`, `[topics]`.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// How mail is sent; `None` when no `[mail]` section.
    pub mail: Option<Mail>,
    /// Who gets alerts.
    pub teams: Vec<TeamConfig>,
    /// Ordered routing rules.
    pub routes: Vec<RouteConfig>,
    /// Named keyword lists rules can refer to.
    pub topics: BTreeMap<String, Vec<String>>,
    /// `[digest]`: who gets the daily or weekly digest, and when.
    pub digest: Option<DigestSettings>,
    /// `[spikes]`: spike and drop alerts (on by default when teams are configured).
    pub spikes: SpikeConfig,
}

/// Takes the notifier's sections out of the config tree and validates them. `watches` and
/// `sources` are the configured names, for checking the rules' references.
pub fn parse_config(
    root: &mut serde_json::Map<String, Value>,
    watches: &[String],
    sources: &[String],
    errors: &mut ConfigErrors,
) -> NotifyConfig {
    let had_mail = root.contains_key("mail");
    let mail = root
        .remove("mail")
        .and_then(|v| parse_at::<MailConfig>(v, "mail", errors))
        .and_then(|m| m.validate(errors));
    let teams = parse_list::<TeamConfig>(root.remove("teams"), "teams", errors);
    let routes = parse_list::<RouteConfig>(root.remove("routes"), "routes", errors);
    let topics = root
        .remove("topics")
        .and_then(|v| parse_at::<BTreeMap<String, Vec<String>>>(v, "topics", errors))
        .unwrap_or_default();
    Router::compile(&teams, &routes, &topics, watches, sources, errors);
    check_team_slas(&teams, errors);
    let had_digest = root.contains_key("digest");
    let digest = root
        .remove("digest")
        .and_then(|v| parse_at::<DigestConfig>(v, "digest", errors))
        .and_then(|d| d.validate(&teams, errors));
    let spikes = root
        .remove("spikes")
        .and_then(|v| parse_at::<SpikeConfig>(v, "spikes", errors))
        .unwrap_or_default();
    spikes.validate(errors);
    if had_digest && !had_mail {
        errors.push(
            "mail",
            "[digest] is sent by email: add a [mail] section (transport = \"file\" with dir = \"FOLDER\" to try it out)",
        );
    }
    if !teams.is_empty() && !had_mail {
        errors.push(
            "mail",
            "[[teams]] get their alerts by email: add a [mail] section (transport = \"file\" with dir = \"FOLDER\" to try it out)",
        );
    }
    NotifyConfig {
        mail,
        teams,
        routes,
        topics,
        digest,
        spikes,
    }
}

/// Checks `sla` and `escalate_to` of every team, recording problems under `teams[i].*`.
fn check_team_slas(teams: &[TeamConfig], errors: &mut ConfigErrors) {
    for (i, t) in teams.iter().enumerate() {
        if let Some(sla) = t.sla
            && sla.0 < Duration::from_secs(1)
        {
            errors.push(format!("teams[{i}].sla"), "must be at least 1s");
        }
        if !t.escalate_to.is_empty() && t.sla.is_none() {
            errors.push(
                format!("teams[{i}].escalate_to"),
                "escalation needs a target: add sla = \"1h\" (or another duration) to the team",
            );
        }
        for (j, a) in t.escalate_to.iter().enumerate() {
            if a.parse::<lettre::Address>().is_err() {
                errors.push(
                    format!("teams[{i}].escalate_to[{j}]"),
                    format!("\"{a}\" is not an email address"),
                );
            }
        }
    }
}
